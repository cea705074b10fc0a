/*
 * evac_notice.c: the guest-visible maintenance notice (xenstore-schema/README.md, "Guest
 * side"), over the xenstore seam so that the unit tests run it on the in-memory store.
 *
 * Entry points: migr_evac_notice_post(), migr_evac_notice_poll(), migr_evac_notice_reset().
 * The guest can write ack and defer; both are read as hostile input: length-capped by the
 * seam, checked against the schema's grammar, and only ever compared or parsed strictly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"

static const char *const kind_value[] = {
	[MIGR_NOTICE_NONE] = "NONE",
	[MIGR_NOTICE_MIGRATE] = "MIGRATE_ON_HOST_MAINTENANCE",
	[MIGR_NOTICE_TERMINATE] = "TERMINATE_ON_HOST_MAINTENANCE",
};

#define P(buf, domid, leaf) snprintf(buf, sizeof(buf), "/local/domain/%u/migr%s", domid, leaf)

static int put(struct migr_xs *xs, uint32_t domid, const char *leaf, const char *val,
	       const char *perm_letter)
{
	char path[128], perms[32];
	int rc;

	P(path, domid, leaf);
	snprintf(perms, sizeof(perms), "n0,%s%u", perm_letter, domid);
	rc = migr_xs_write_str(xs, path, val);
	return rc ? rc : xs->ops->set_perms(xs, path, perms);
}

int migr_evac_notice_post(struct migr_xs *xs, uint32_t domid, enum migr_notice_kind kind,
			  const char *event_id, int64_t now, unsigned int notice_s,
			  unsigned int defer_max_s, int64_t hard_deadline, struct migr_notice *n_r)
{
	struct migr_notice n;
	char path[128], num[32];
	int rc;

	if (domid == 0 || domid > 32751 || (unsigned)kind > MIGR_NOTICE_TERMINATE || !event_id ||
	    !event_id[0] || strlen(event_id) >= sizeof(n.event_id) || defer_max_s > 3600 ||
	    notice_s > 86400)
		return -EINVAL;
	memset(&n, 0, sizeof(n));
	n.domid = domid;
	snprintf(n.event_id, sizeof(n.event_id), "%s", event_id);
	n.deadline = now + notice_s;
	if (hard_deadline && n.deadline > hard_deadline)
		n.deadline = hard_deadline > now ? hard_deadline : now;
	n.defer_max_s = defer_max_s;

	/* A clean slate: nothing a guest may have left under it survives. */
	P(path, domid, "");
	if ((rc = xs->ops->rm(xs, path)))
		return rc;
	if ((rc = put(xs, domid, "", "", "r")))
		return rc;
	if ((rc = put(xs, domid, "/event-id", n.event_id, "r")))
		return rc;
	snprintf(num, sizeof(num), "%u", notice_s);
	if ((rc = put(xs, domid, "/notice-seconds", num, "r")))
		return rc;
	snprintf(num, sizeof(num), "%lld", (long long)n.deadline);
	if ((rc = put(xs, domid, "/deadline", num, "r")))
		return rc;
	snprintf(num, sizeof(num), "%u", defer_max_s);
	if ((rc = put(xs, domid, "/defer-max", num, "r")))
		return rc;
	if ((rc = put(xs, domid, "/ack", "", "b")) || (rc = put(xs, domid, "/defer", "", "b")))
		return rc;
	/* Last: the guest's watch fires on this, with everything else in place. */
	if ((rc = put(xs, domid, "/maintenance-event", kind_value[kind], "r")))
		return rc;
	if (n_r)
		*n_r = n;
	return 0;
}

/* Reads a guest-written leaf; "" when absent; -EINVAL when it breaks the grammar. */
static int read_guest(struct migr_xs *xs, const struct migr_schema *schema, uint32_t domid,
		      const char *leaf, char *out, size_t outlen)
{
	char path[128], *v = NULL;
	size_t len = 0;
	int rc;

	P(path, domid, leaf);
	out[0] = 0;
	rc = xs->ops->read(xs, path, &v, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (len >= outlen || memchr(v, 0, len) ||
	    (schema && migr_schema_check_value(schema, path, v, len) != MIGR_SCHEMA_OK)) {
		free(v);
		return -EINVAL;
	}
	memcpy(out, v, len);
	out[len] = 0;
	free(v);
	return 0;
}

int migr_evac_notice_poll(struct migr_xs *xs, const struct migr_schema *schema,
			  struct migr_notice *n, int64_t now, int64_t hard_deadline)
{
	char ack[80], defer[16];
	int rc;

	if (!n->acked) {
		rc = read_guest(xs, schema, n->domid, "/ack", ack, sizeof(ack));
		if (rc == 0 && ack[0] && !strcmp(ack, n->event_id))
			n->acked = true;
		else if (rc && rc != -EINVAL)
			return rc;
	}
	if (n->acked)
		return 1;
	if (!n->deferred) {
		rc = read_guest(xs, schema, n->domid, "/defer", defer, sizeof(defer));
		if (rc == 0 && defer[0]) {
			char *end;
			unsigned long req = strtoul(defer, &end, 10);

			/* The grammar (0..86400, plain decimal) was checked when a schema was
			 * given; without one, insist on digits only here. */
			if (*end == 0 && defer[0] >= '0' && defer[0] <= '9' && req > 0 &&
			    req <= 86400) {
				int64_t nd;
				char path[128], num[32];

				if (req > n->defer_max_s)
					req = n->defer_max_s;
				nd = n->deadline + (int64_t)req;
				if (hard_deadline && nd > hard_deadline)
					nd = hard_deadline > n->deadline ? hard_deadline : n->deadline;
				n->deadline = nd;
				n->deferred = true;
				P(path, n->domid, "/deadline");
				snprintf(num, sizeof(num), "%lld", (long long)nd);
				if ((rc = migr_xs_write_str(xs, path, num)))
					return rc;
			}
		} else if (rc && rc != -EINVAL) {
			return rc;
		}
	}
	return now >= n->deadline ? 1 : 0;
}

int migr_evac_notice_reset(struct migr_xs *xs, uint32_t domid)
{
	int rc;

	if (domid == 0 || domid > 32751)
		return -EINVAL;
	rc = put(xs, domid, "", "", "r");
	rc = rc ?: put(xs, domid, "/ack", "", "b");
	rc = rc ?: put(xs, domid, "/defer", "", "b");
	rc = rc ?: put(xs, domid, "/maintenance-event", kind_value[MIGR_NOTICE_NONE], "r");
	return rc;
}

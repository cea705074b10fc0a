/*
 * fence.c: the decisions of the commit fenced by etcd (docs/etcd.md, "The commit fenced by
 * etcd"), over the etcd seam: the source's read before it touches the guest, its swap at
 * GO (an unknown outcome settled by a second swap on the same revision), the target's
 * check before the unpause, and the key's return after a target gave up.
 *
 * Entry points: migr_fence_read(), migr_fence_swap(), migr_fence_check(),
 * migr_fence_return(), migr_fence_reclaim().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libmigr.h"
#include "migr/etcd.h"
#include "util.h"

/* The key's value names host with migration id (id NULL: any). */
static bool says(const struct migr_etcd_kv *kv, const char *host, const char *id)
{
	struct migr_etcd_location l;

	return kv->key && !migr_etcd_location_parse(kv->value, kv->value_len, &l) &&
	       !strcmp(l.host, host) && (!id || !strcmp(l.migration, id));
}

int migr_fence_read(struct migr_etcd *e, const uint8_t uuid[16], const char *self,
		    struct migr_fence *f_r, struct xentoollog_logger *lg)
{
	struct migr_fence f = { 0 };
	struct migr_etcd_location l;
	struct migr_etcd_kv kv = { 0 };
	int rc;

	if ((rc = migr_etcd_location_key(uuid, f.key, sizeof(f.key))))
		return rc;
	rc = migr_etcd_get(e, f.key, &kv);
	if (rc == -ENOENT) {
		*f_r = f;
		return 0;
	}
	if (rc) {
		migr__log(lg, XTL_ERROR, "fence: cannot read %s (%s): not moving the guest",
			  f.key, migr_strerror(rc));
		return rc;
	}
	if ((rc = migr_etcd_location_parse(kv.value, kv.value_len, &l))) {
		migr__log(lg, XTL_ERROR, "fence: %s holds no location", f.key);
		rc = -EPROTO;
	} else if (strcmp(l.host, self)) {
		migr__log(lg, XTL_ERROR, "fence: %s says the guest belongs to %s, not here: not "
			  "moving it", f.key, l.host);
		rc = -EPERM;
	} else {
		f.rev = kv.mod_revision;
		*f_r = f;
	}
	migr_etcd_kv_clear(&kv);
	return rc;
}

static int location(const char *host, const char *id, char **json_r, size_t *len_r)
{
	struct migr_etcd_location l = { 0 };

	snprintf(l.host, sizeof(l.host), "%s", host);
	snprintf(l.migration, sizeof(l.migration), "%s", id);
	return migr_etcd_location_encode(&l, json_r, len_r);
}

int migr_fence_swap(struct migr_etcd *e, struct migr_fence *f, const char *self,
		    const char *target, const char *id, struct xentoollog_logger *lg)
{
	struct migr_etcd_kv cur = { 0 };
	char *to = NULL, *back = NULL;
	size_t tolen, backlen;
	bool won = false;
	int rc;

	if ((rc = location(target, id, &to, &tolen)) || (rc = location(self, "", &back, &backlen)))
		goto out;
	rc = migr_etcd_cas(e, f->key, f->rev, to, tolen, 0, &won, &cur);
	if (!rc && (won || says(&cur, target, id))) {
		/* won; or lost to an earlier attempt of ours whose answer was lost */
		f->swapped_rev = won ? 0 : cur.mod_revision;
		rc = 0;
		goto out_won;
	}
	if (!rc) {
		migr__log(lg, XTL_ERROR, "fence: %s moved meanwhile: backing out", f->key);
		rc = -MIGR_E_ABORTED;
		goto out;
	}
	if (rc != -ETIMEDOUT) {
		/* -ECONNREFUSED: it reached no etcd; anything else was refused */
		migr__log(lg, XTL_ERROR, "fence: the swap of %s failed (%s): backing out", f->key,
			  migr_strerror(rc));
		rc = -MIGR_E_ABORTED;
		goto out;
	}
	/* Unknown: a swap back to self on the same revision either fences the first off
	 * (it can no longer apply) or loses to it. */
	migr_etcd_kv_clear(&cur);
	rc = migr_etcd_cas(e, f->key, f->rev, back, backlen, 0, &won, &cur);
	if (!rc && won) {
		migr__log(lg, XTL_ERROR, "fence: the swap of %s went unanswered and is fenced off: "
			  "backing out", f->key);
		rc = -MIGR_E_ABORTED;
	} else if (!rc && says(&cur, target, id)) {
		f->swapped_rev = cur.mod_revision;
		rc = 0;
		goto out_won;
	} else if (!rc) {
		migr__log(lg, XTL_ERROR, "fence: %s moved meanwhile: backing out", f->key);
		rc = -MIGR_E_ABORTED;
	} else {
		migr__log(lg, XTL_ERROR, "fence: the swap of %s went unanswered and etcd cannot "
			  "say (%s): the guest stays suspended", f->key, migr_strerror(rc));
		rc = -MIGR_E_UNDECIDED;
	}
	goto out;
out_won:
	/* nothing more in the blackout: a return reads the revision the swap made */
	snprintf(f->target, sizeof(f->target), "%s", target);
	snprintf(f->id, sizeof(f->id), "%s", id);
out:
	migr_etcd_kv_clear(&cur);
	free(to);
	free(back);
	return rc;
}

int migr_fence_check(struct migr_etcd *e, const uint8_t uuid[16], const char *self,
		     const char *id, struct xentoollog_logger *lg)
{
	struct migr_etcd_kv kv = { 0 };
	char key[MIGR_ETCD_KEY_MAX];
	int rc;

	if ((rc = migr_etcd_location_key(uuid, key, sizeof(key))))
		return rc;
	rc = migr_etcd_get(e, key, &kv);
	if (!rc && !says(&kv, self, id)) {
		migr__log(lg, XTL_ERROR, "fence: %s does not give the guest to this host for "
			  "migration %s: not unpausing it", key, id);
		rc = -EPERM;
	} else if (rc) {
		migr__log(lg, XTL_ERROR, "fence: cannot read %s (%s): not unpausing the guest",
			  key, migr_strerror(rc == -ENOENT ? -EPERM : rc));
		if (rc == -ENOENT)
			rc = -EPERM;
	}
	migr_etcd_kv_clear(&kv);
	return rc;
}

int migr_fence_return(struct migr_etcd *e, struct migr_fence *f, const char *self,
		      struct xentoollog_logger *lg)
{
	struct migr_etcd_kv cur = { 0 };
	char *back = NULL;
	size_t len;
	bool won = false;
	int rc;

	if (!f->swapped_rev) {
		/* the revision the swap made: the key's, while it holds what the swap wrote */
		if (!f->target[0] || migr_etcd_get(e, f->key, &cur)) {
			migr_etcd_kv_clear(&cur);
			migr__log(lg, XTL_ERROR, "fence: cannot read %s back: the guest stays "
				  "suspended", f->key);
			return -MIGR_E_UNDECIDED;
		}
		if (says(&cur, self, "")) {
			migr_etcd_kv_clear(&cur);
			return 0;        /* given back already */
		}
		if (!says(&cur, f->target, f->id)) {
			migr_etcd_kv_clear(&cur);
			migr__log(lg, XTL_ERROR, "fence: %s moved on meanwhile: the guest stays "
				  "suspended", f->key);
			return -MIGR_E_UNDECIDED;
		}
		f->swapped_rev = cur.mod_revision;
		migr_etcd_kv_clear(&cur);
	}
	if ((rc = location(self, "", &back, &len)))
		return rc;
	rc = migr_etcd_cas(e, f->key, f->swapped_rev, back, len, 0, &won, &cur);
	if (rc == -ETIMEDOUT || (!rc && !won && says(&cur, self, ""))) {
		/* unanswered: read it back */
		migr_etcd_kv_clear(&cur);
		if (!migr_etcd_get(e, f->key, &cur) && says(&cur, self, "")) {
			rc = 0;
			won = true;
		}
	}
	if (rc || !won) {
		migr__log(lg, XTL_ERROR, "fence: cannot give %s back to this host (%s): the guest "
			  "stays suspended", f->key, rc ? migr_strerror(rc) : "it moved meanwhile");
		rc = -MIGR_E_UNDECIDED;
	}
	migr_etcd_kv_clear(&cur);
	free(back);
	return rc;
}

int migr_fence_reclaim(struct migr_etcd *e, const uint8_t uuid[16], const char *self,
		       const char *id, struct xentoollog_logger *lg)
{
	struct migr_etcd_kv kv = { 0 }, cur = { 0 };
	struct migr_etcd_location l;
	char key[MIGR_ETCD_KEY_MAX], *back = NULL;
	size_t len;
	bool won = false;
	int rc;

	if ((rc = migr_etcd_location_key(uuid, key, sizeof(key))))
		return rc;
	rc = migr_etcd_get(e, key, &kv);
	if (rc == -ENOENT)
		return 0;            /* no swap ever applied: nothing names another host */
	if (rc) {
		migr__log(lg, XTL_ERROR, "fence: cannot read %s (%s): the guest stays suspended",
			  key, migr_strerror(rc));
		return -MIGR_E_UNDECIDED;
	}
	if (migr_etcd_location_parse(kv.value, kv.value_len, &l)) {
		migr__log(lg, XTL_ERROR, "fence: %s holds no location: the guest stays suspended",
			  key);
		rc = -MIGR_E_UNDECIDED;
	} else if (!strcmp(l.host, self)) {
		rc = 0;              /* the swap never applied, or was given back */
	} else if (strcmp(l.migration, id)) {
		migr__log(lg, XTL_ERROR, "fence: %s gives the guest to %s by another migration: "
			  "it stays suspended here", key, l.host);
		rc = -MIGR_E_UNDECIDED;
	} else if ((rc = location(self, "", &back, &len)) == 0) {
		/* this migration moved it and its target will not run the guest: back */
		rc = migr_etcd_cas(e, key, kv.mod_revision, back, len, 0, &won, &cur);
		if (rc || !won) {
			migr__log(lg, XTL_ERROR, "fence: cannot give %s back to this host (%s): the "
				  "guest stays suspended", key, rc ? migr_strerror(rc) :
				  "it moved meanwhile");
			rc = -MIGR_E_UNDECIDED;
		}
	}
	migr_etcd_kv_clear(&kv);
	migr_etcd_kv_clear(&cur);
	free(back);
	return rc;
}

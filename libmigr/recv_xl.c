/*
 * recv_xl.c: the target's dialect for a stock `xl migrate` over a byte pipe
 * (tools/xl/xl_migrate.c, migrate_domain(); the order is in migrate_xl.c's head), for
 * the driver in recv.c.
 *
 * Entry point: migr_receive_xl().
 *
 *   accept   banner out; xl's save-file header and its optional data in (capped, checked:
 *            magic, byte order, flags STREAMv2 and JSON, one NUL-terminated config)
 *   admit    the config through the target's rules; the guest checked as migr's own
 *            dialect checks it. xl has no pre-flight to answer: a refusal closes the pipe
 *   (restore: libxl reads the stream straight from the pipe)
 *   ready    "domain received, ready to unpause"
 *   wait_go  "... cleared to unpause"
 *   done     the report, status 0
 *   abort    before GO nothing: the closed pipe makes the xl sender resume its guest.
 *            After GO a nonzero status, and the go string back (permission to resume)
 *            only once our copy is destroyed.
 * xl's sender keeps no record and asks no RESOLVE; the target still keeps its own
 * records (under an id of its own), so that a restart here settles what it left as for
 * migr's dialect.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recv_int.h"

static int write_all_flush(struct migr_conn *c, const void *a, size_t alen, const void *b,
			   size_t blen)
{
	int rc = migr_conn_write(c, a, alen);

	if (!rc && blen)
		rc = migr_conn_write(c, b, blen);
	return rc ? rc : migr_conn_flush(c);
}

static int xl_accept(struct recv_ctx *x)
{
	uint8_t hdr[MIGR_XL_HDR_LEN], *opt = NULL;
	uint32_t optlen;
	int rc;

	rc = migr_id_new(&x->id);
	if (rc)
		return rc;
	migr_id_to_hex(&x->id, x->res->id);
	rc = write_all_flush(x->c, migr_xl_banner, strlen(migr_xl_banner), NULL, 0);
	if (!rc)
		rc = migr_conn_read(x->c, hdr, sizeof(hdr));
	if (rc) {
		recv__fail(x, "pipe failed: %s", migr_conn_error(x->c));
		return rc;
	}
	rc = migr_xl_header_check(hdr, &optlen);
	if (rc) {
		recv__fail(x, "%s", rc == -MIGR_E_UNSUPPORTED ? "xl stream without a JSON config "
			   "or in the legacy format: not supported" : "not an xl migration stream");
		return rc;
	}
	opt = malloc(optlen);
	if (!opt)
		return -ENOMEM;
	rc = migr_conn_read(x->c, opt, optlen);
	if (rc)
		recv__fail(x, "pipe failed: %s", migr_conn_error(x->c));
	else if ((rc = migr_xl_optdata_config(opt, optlen, &x->cfg.config.json)))
		recv__fail(x, "bad domain config in the xl header");
	else
		x->cfg.config.len = strlen(x->cfg.config.json);
	free(opt);
	return rc;
}

static int xl_admit(struct recv_ctx *x)
{
	struct migr_host_info hi;
	char why[MIGR_TEXT_MAX];
	uint64_t mem_kib = 0;
	int rc;

	/* xl's protocol carries no reason: the log and our result do */
	rc = recv__apply_rules(x, why, sizeof(why));
	if (rc) {
		if (why[0])
			recv__fail(x, "%s", why);
		return rc;
	}
	rc = x->hv->ops->config_info(x->hv, x->cfg.config.json, x->name, &x->type, &mem_kib);
	if (rc) {
		x->name[0] = '\0';
		recv__fail(x, "bad domain config in the xl header");
		return rc;
	}
	migr__text(x->res->name, sizeof(x->res->name), "%s", x->name);
	migr__text(x->incoming, sizeof(x->incoming), "%s" MIGR_SUFFIX_INCOMING, x->name);
	if (x->p->etcd) {
		/* stock xl never moves the guest's location in etcd: the fence would refuse
		 * the unpause after the whole stream */
		recv__fail(x, "refused %s: this host fences the commit through etcd, which a "
			   "stock xl source cannot do", x->name);
		return -MIGR_E_ABORTED;
	}
	rc = x->hv->ops->host_info(x->hv, &hi);
	if (rc) {
		recv__fail(x, "target cannot read its host information");
		return rc;
	}
	if (recv__check_guest(x, &hi, mem_kib, why, sizeof(why))) {
		recv__fail(x, "refused %s: %s", x->name, why);
		return -MIGR_E_ABORTED;
	}
	x->config_ok = true;
	return 0;
}

static int xl_ready(struct recv_ctx *x, uint32_t domid, bool early)
{
	return write_all_flush(x->c, migr_xl_ready, sizeof(migr_xl_ready), NULL, 0);
}

static int xl_wait_go(struct recv_ctx *x)
{
	char go[sizeof(migr_xl_go)];
	int rc = migr_conn_read(x->c, go, sizeof(go));

	return rc ? rc : memcmp(go, migr_xl_go, sizeof(go)) ? -MIGR_E_PROTO : 0;
}

static void report(struct recv_ctx *x, int8_t status, bool grant)
{
	if (write_all_flush(x->c, migr_xl_report, sizeof(migr_xl_report), &status, 1))
		migr__log(x->p->lg, XTL_WARN, "could not deliver the result report to the sender");
	else if (grant && write_all_flush(x->c, migr_xl_go, sizeof(migr_xl_go), NULL, 0))
		migr__log(x->p->lg, XTL_WARN, "could not grant the sender its guest back");
}

static void xl_done(struct recv_ctx *x)
{
	report(x, 0, false);
}

/* xl reports -rc of libxl's error codes: nonzero is a failure */
static void xl_abort(struct recv_ctx *x, bool destroyed)
{
	if (!x->running)
		return;
	report(x, 3, destroyed);
	if (!destroyed)
		migr__text(x->res->state_text, sizeof(x->res->state_text), "could not start %s, "
			   "nor destroy our copy (domain %u): the sender keeps its copy suspended",
			   x->name, x->domid);
}

static const struct migr__recv_dialect xl_dialect = {
	.name = "xl",
	.framed = false,
	.accept = xl_accept,
	.admit = xl_admit,
	.ready = xl_ready,
	.wait_go = xl_wait_go,
	.done = xl_done,
	.abort = xl_abort,
};

int migr_receive_xl(struct migr_hv *hv, struct migr_conn *c, const struct migr_recv_params *p,
		    struct migr_recv_result *res)
{
	return migr__recv_drive(hv, c, p, res, &xl_dialect);
}

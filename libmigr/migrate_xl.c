/*
 * migrate_xl.c: the source's driver toward a stock `xl migrate-receive` over a byte pipe
 * (tools/xl/xl_migrate.c, migrate_receive()).
 *
 * Entry point: migr_migrate_xl().
 *
 * The receiver's order, which this driver follows byte for byte:
 *   receiver: banner (no NUL)
 *   sender:   xl save-file header with the JSON config, then the libxl v2 stream
 *   receiver: "domain received, ready to unpause" (with NUL)      -> WAIT_READY ends
 *   sender:   renames its copy NAME--migratedaway, then "... cleared to unpause" (with
 *             NUL)                                                  -> POINT OF NO RETURN
 *   receiver: "my copy unpause results are as follows" (with NUL) and one status byte;
 *             nonzero: it destroyed its copy and sends the go string back as permission
 *             for the source to resume.
 * Before GO any failure resumes the guest here (a receiver that fails just exits; it
 * destroys what it created). After GO without a report, xl offers no way to ask: the
 * source's copy stays suspended and the result says to check both ends.
 * Same phases as migrate.c; xl gives no restore or unpause times, so those parts of the
 * blackout are folded into handshake_us.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "send_int.h"

static int read_fixed(struct migr_conn *c, const char *want, size_t len)
{
	char buf[128];
	int rc;

	if (len > sizeof(buf))
		return -EINVAL;
	rc = migr_conn_read(c, buf, len);
	if (rc)
		return rc;
	return memcmp(buf, want, len) ? -MIGR_E_PROTO : 0;
}

int migr_migrate_xl(struct migr_hv *hv, uint32_t domid, struct migr_conn *c,
		    const struct migr_send_params *params, struct migr_result *res)
{
	struct migr__send s;
	struct migr_dom_info di;
	struct migr_host_info hi;
	char *json = NULL, away[MIGR_DOMNAME_MAX];
	const char *why = NULL;
	uint8_t *hdr = NULL, status;
	size_t json_len = 0, hdr_len = 0;
	uint64_t t_ready = 0, t_go = 0;
	bool renamed = false;
	int rc;

	memset(res, 0, sizeof(*res));
	migr__send_init(&s, hv, domid, c, params, res);
	res->src_domid = domid;
	migr__text(res->id, sizeof(res->id), "xl");

	/* ---- PREFLIGHT ---- */
	s.phase = MIGR_PHASE_PREFLIGHT;
	migr__send_report(&s);
	rc = hv->ops->domain_info(hv, domid, &di);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "domain %u not found", domid);
		goto out_untouched;
	}
	migr__text(res->name, sizeof(res->name), "%s", di.name);
	res->type = di.type;
	if (!migr_domname_ok(di.name) || di.shutdown || di.dying || di.paused) {
		migr__text(res->state_text, sizeof(res->state_text),
			 "%s is not a running, named guest; not touched", di.name);
		rc = -EINVAL;
		goto out_untouched;
	}
	rc = hv->ops->host_info(hv, &hi);
	if (!rc)
		rc = migr_hv_can_send(&hi, di.type, &why);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "%s (%s guest): %s", di.name,
			 migr_guest_type_name(di.type), why ? why : migr_strerror(rc));
		goto out_untouched;
	}
	rc = hv->ops->domain_config(hv, domid, &json, &json_len);
	if (!rc)
		rc = migr_xl_header_encode(json, json_len, &hdr, &hdr_len);
	if (rc)
		goto out_untouched;

	rc = read_fixed(c, migr_xl_banner, strlen(migr_xl_banner));
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text),
			 "no xl migration receiver banner on the pipe (%s)",
			 rc == -MIGR_E_PROTO ? "unexpected data" : migr_conn_error(c));
		goto out_untouched;
	}
	rc = migr_conn_write(c, hdr, hdr_len);
	if (!rc)
		rc = migr_conn_flush(c);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "sending the config failed: %s",
			 migr_conn_error(c));
		goto out_untouched;
	}

	/* ---- PRECOPY, SUSPEND, FINAL_SEND ---- */
	rc = migr__send_stream(&s, MIGR_STREAM_RAW);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "%s",
			 rc == -MIGR_E_ABORTED ? "pre-copy policy gave up (would not converge in budget)"
			 : s.stream_failed ? "the connection broke during the stream"
			 : s.phase == MIGR_PHASE_SUSPEND ? "the guest did not suspend"
			 : "the stream failed");
		goto out_backout;
	}

	/* ---- WAIT_READY ---- */
	s.phase = MIGR_PHASE_WAIT_READY;
	migr__send_report(&s);
	rc = read_fixed(c, migr_xl_ready, sizeof(migr_xl_ready));
	t_ready = migr__now_us();
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text),
			 "xl receiver did not report the domain received");
		goto out_backout;
	}
	if (s.p.fault == MIGR_FI_AFTER_READY) {
		migr__text(res->state_text, sizeof(res->state_text), "fault injected after READY");
		rc = -EIO;
		goto out_backout;
	}
	migr__text(away, sizeof(away), "%s--migratedaway", di.name);
	rc = hv->ops->rename(hv, domid, di.name, away);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "could not rename the source's copy");
		goto out_backout;
	}
	renamed = true;

	/* ---- GO: POINT OF NO RETURN ---- */
	s.phase = MIGR_PHASE_GO;
	migr__send_report(&s);
	t_go = migr__now_us();
	rc = migr_conn_write(c, migr_xl_go, sizeof(migr_xl_go));
	if (!rc)
		rc = migr_conn_flush(c);
	if (!rc && s.p.fault == MIGR_FI_BEFORE_DONE)
		rc = -ECONNRESET;
	if (!rc)
		rc = read_fixed(c, migr_xl_report, sizeof(migr_xl_report));
	if (!rc)
		rc = migr_conn_read(c, &status, 1);
	if (rc) {
		s.phase = MIGR_PHASE_UNDECIDED;
		migr__text(res->state_text, sizeof(res->state_text),
			 "no report from the xl receiver after GO: the source keeps %s suspended; "
			 "check the target before resuming or destroying it", away);
		migr__log(s.p.lg, XTL_ERROR, "domain %u: %s", domid, res->state_text);
		rc = -MIGR_E_UNDECIDED;
		goto out;
	}
	if (status) {
		/* It destroyed its copy and grants us the guest back with the go string. */
		migr__text(res->state_text, sizeof(res->state_text),
			 "xl receiver failed to start the guest (status %d)", (int8_t)status);
		if (read_fixed(c, migr_xl_go, sizeof(migr_xl_go))) {
			s.phase = MIGR_PHASE_UNDECIDED;
			migr__text(res->state_text, sizeof(res->state_text),
				 "xl receiver failed after GO and did not confirm destroying its copy: "
				 "%s stays suspended here; check the target", away);
			rc = -MIGR_E_UNDECIDED;
			goto out;
		}
		goto out_backout_after_go;
	}
	{
		uint64_t t_end = migr__now_us();
		res->blackout_us = t_end - s.t_suspend_req;
		res->suspend_us = s.t_suspended - s.t_suspend_req;
		res->final_send_us = s.t_stream_end - s.t_suspended;
		res->done_wait_us = t_end - t_go;
		res->handshake_us = res->blackout_us - res->suspend_us - res->final_send_us;
		(void)t_ready;
	}
	s.phase = MIGR_PHASE_DONE;
	if (hv->ops->destroy(hv, domid))
		migr__log(s.p.lg, XTL_WARN, "domain %u: could not destroy the source's copy %s, "
			  "ignoring (destroy it by hand)", domid, away);
	migr__text(res->state_text, sizeof(res->state_text), "%s runs on the target", di.name);
	rc = 0;
	goto out;

out_backout:
	/* Closing our end makes xl's receiver fail and destroy what it created. */
out_backout_after_go:
	s.phase = MIGR_PHASE_BACKOUT;
	migr__send_report(&s);
	if (renamed && hv->ops->rename(hv, domid, away, di.name))
		migr__log(s.p.lg, XTL_WARN, "domain %u: could not rename back to %s, ignoring",
			  domid, di.name);
	if (migr__send_backout(&s)) {
		s.phase = MIGR_PHASE_FAILED;
		rc = -EIO;
		goto out;
	}
	s.phase = MIGR_PHASE_ABORTED;
	rc = -MIGR_E_ABORTED;
	goto out;

out_untouched:
	s.phase = MIGR_PHASE_ABORTED;
	if (!res->state_text[0])
		migr__text(res->state_text, sizeof(res->state_text), "%s", migr_strerror(rc));
	if (rc != -MIGR_E_UNSUPPORTED)
		rc = -MIGR_E_ABORTED;
out:
	{
		struct migr_conn_stats cs;
		migr_conn_stats(c, &cs);
		res->wire_bytes = cs.wire_out;
	}
	res->total_us = migr__now_us() - s.t_start;
	res->phase = s.phase;
	migr__send_report(&s);
	migr__send_fini(&s);
	free(hdr);
	free(json);
	return rc;
}

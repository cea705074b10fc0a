/*
 * recv_xl.c: the target's driver for a stock `xl migrate` over a byte pipe
 * (tools/xl/xl_migrate.c, migrate_domain(); the order is in migrate_xl.c's head).
 *
 * Entry point: migr_receive_xl().
 *
 *   ACCEPT   banner out; xl's save-file header and its optional data in (capped, checked:
 *            magic, byte order, flags STREAMv2 and JSON, one NUL-terminated config)
 *   RESTORE  the libxl stream, read by libxl straight from the pipe, into NAME--incoming
 *   READY    "domain received, ready to unpause"; wait for "... cleared to unpause"
 *   RUNNING  rename, unpause, report status 0. A failure here: destroy our copy, report
 *            a nonzero status and grant the source its guest back with the go string.
 * Before GO any failure just destroys what was created and closes the pipe: the xl
 * sender then resumes the guest at its end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "send_int.h"

static int fault(const struct migr_recv_params *p, struct migr_conn *c, enum migr_fault point)
{
	return migr__fault(p->faults, point, c, p->lg);
}

int migr_receive_xl(struct migr_hv *hv, struct migr_conn *c, const struct migr_recv_params *p,
		    struct migr_recv_result *res)
{
	uint8_t hdr[MIGR_XL_HDR_LEN], *opt = NULL;
	char *json = NULL, name[MIGR_DOMNAME_MAX], incoming[MIGR_DOMNAME_MAX], go[64];
	enum migr_guest_type type;
	struct migr_host_info hi;
	const char *why = NULL;
	uint64_t mem_kib = 0, t0, t_go;
	uint32_t optlen, domid = ~0u, other;
	struct migr_restore_info info;
	uint64_t need_kib = 0, claim = 0;
	int8_t status;
	int rfd, wfd, rc;
	enum migr_phase phase = MIGR_PHASE_ACCEPT;

	memset(res, 0, sizeof(*res));
	migr__text(res->id, sizeof(res->id), "xl");

	/* ---- ACCEPT ---- */
	rc = fault(p, c, MIGR_FI_ACCEPT);
	if (rc == -MIGR_E_CRASHED)
		goto out_crashed;
	if (!rc)
		rc = migr_conn_write(c, migr_xl_banner, strlen(migr_xl_banner));
	if (!rc)
		rc = migr_conn_flush(c);
	if (!rc)
		rc = migr_conn_read(c, hdr, sizeof(hdr));
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "pipe failed: %s",
			 migr_conn_error(c));
		goto out_nothing;
	}
	rc = migr_xl_header_check(hdr, &optlen);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "%s",
			 rc == -MIGR_E_UNSUPPORTED ? "xl stream without a JSON config or in the legacy "
			 "format: not supported" : "not an xl migration stream");
		goto out_nothing;
	}
	opt = malloc(optlen);
	if (!opt) {
		rc = -ENOMEM;
		goto out_nothing;
	}
	rc = migr_conn_read(c, opt, optlen);
	if (!rc) {
		rc = fault(p, c, MIGR_FI_CONFIG_CHECK);
		if (rc == -MIGR_E_CRASHED)
			goto out_crashed;
	}
	if (!rc)
		rc = migr_xl_optdata_config(opt, optlen, &json);
	if (!rc) {
		/* The guest is built from the target's rules: the restore gets their output.
		 * xl's protocol carries no reason: the log and our result do. */
		char *clean = NULL, why[MIGR_TEXT_MAX];

		rc = migr_config_apply_rules(json, p->rules, &clean, why, sizeof(why));
		migr__log(p->lg, rc ? XTL_ERROR : XTL_INFO, "xl config: %s",
			  rc || why[0] ? why : "within the target's rules");
		if (rc) {
			migr__text(res->state_text, sizeof(res->state_text), "%s", why);
			goto out_nothing;
		}
		free(json);
		json = clean;
	}
	if (!rc)
		rc = hv->ops->config_info(hv, json, name, &type, &mem_kib);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "bad domain config in the xl header");
		goto out_nothing;
	}
	migr__text(res->name, sizeof(res->name), "%s", name);
	if (!migr_domname_ok(name)) {
		migr__text(res->state_text, sizeof(res->state_text), "guest name not acceptable");
		rc = -EINVAL;
		goto out_nothing;
	}
	rc = hv->ops->host_info(hv, &hi);
	if (!rc && migr_hv_can_receive(&hi, type, &why))
		rc = -MIGR_E_UNSUPPORTED;
	if (!rc && !migr__admit(p, hi.free_kib, mem_kib, &need_kib, &claim)) {
		why = "not enough free memory (with the reserve and incoming guests)";
		rc = -ENOMEM;
	}
	migr__text(incoming, sizeof(incoming), "%s--incoming", name);
	if (!rc && !hv->ops->domain_find(hv, incoming, &other)) {
		why = "a domain NAME--incoming exists";
		rc = -EEXIST;
	}
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "refused %s: %s", name,
			 why ? why : migr_strerror(rc));
		goto out_nothing;
	}

	/* ---- RESTORE ---- */
	phase = MIGR_PHASE_RESTORE;
	rc = migr_conn_raw_fds(c, &rfd, &wfd);
	if (rc)
		goto out_nothing;
	t0 = migr__now_us();
	rc = fault(p, c, MIGR_FI_RESTORE);
	if (rc == -MIGR_E_CRASHED)
		goto out_crashed;
	if (!rc) {
		struct migr_restore_opts o = { json, incoming, rfd, p->vif_helper };

		rc = hv->ops->restore(hv, &o, &info);
		domid = info.domid;
	}
	res->restore_us = migr__now_us() - t0;
	migr__release_claim(p, &claim);   /* the domain holds its memory now, or gave it back */
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "restore failed: %s",
			 migr_strerror(rc));
		goto out_nothing;
	}
	res->domid = domid;
	res->devices_us = info.devices_us;
	res->fast_vifs = info.fast_vifs;

	/* ---- READY ---- */
	phase = MIGR_PHASE_READY;
	rc = fault(p, c, MIGR_FI_RESTORE_TAIL);
	if (!rc)
		rc = fault(p, c, MIGR_FI_READY);
	if (!rc)
		rc = migr_conn_write(c, migr_xl_ready, sizeof(migr_xl_ready));
	if (!rc)
		rc = migr_conn_flush(c);
	if (!rc)
		rc = fault(p, c, MIGR_FI_WAIT_GO);
	if (rc == -MIGR_E_CRASHED)
		goto out_crashed;
	if (!rc)
		rc = migr_conn_read(c, go, sizeof(migr_xl_go));
	if (!rc && memcmp(go, migr_xl_go, sizeof(migr_xl_go)))
		rc = -MIGR_E_PROTO;
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "no permission to start from the "
			 "sender; destroyed our copy");
		hv->ops->destroy(hv, domid);
		goto out_aborted;
	}

	/* ---- RUNNING: POINT OF NO RETURN ---- */
	phase = MIGR_PHASE_RUNNING;
	t_go = migr__now_us();
	rc = fault(p, c, MIGR_FI_RENAME);
	if (!rc)
		rc = hv->ops->rename(hv, domid, incoming, name);
	if (!rc)
		rc = fault(p, c, MIGR_FI_UNPAUSE);
	if (rc == -MIGR_E_CRASHED)
		goto out_crashed;
	if (!rc && !p->paused)
		rc = hv->ops->unpause(hv, domid);
	res->unpause_us = migr__now_us() - t_go;
	if (!rc && !p->paused)
		migr__announce(hv, domid, 0);
	if (rc) {
		/* xl's receiver keeps no record: the sender may resume only once our copy is
		 * gone; if it cannot be destroyed, the sender is told the start failed but is
		 * not granted the guest back (it keeps its copy suspended and says so) */
		bool destroyed = hv->ops->destroy(hv, domid) == 0;

		status = 3;   /* xl reports -rc of libxl's error codes; nonzero: failure */
		if (migr_conn_write(c, migr_xl_report, sizeof(migr_xl_report)) ||
		    migr_conn_write(c, &status, 1) || migr_conn_flush(c))
			migr__log(p->lg, XTL_WARN, "could not deliver the result report to the "
				  "sender");
		if (!destroyed) {
			migr__text(res->state_text, sizeof(res->state_text), "could not start %s, "
				   "nor destroy our copy (domain %u): the sender keeps its copy "
				   "suspended", name, domid);
			rc = -EIO;
			phase = MIGR_PHASE_FAILED;
			goto out;
		}
		migr__text(res->state_text, sizeof(res->state_text), "could not start %s; destroyed "
			 "our copy and gave the sender its guest back", name);
		if (migr_conn_write(c, migr_xl_go, sizeof(migr_xl_go)) || migr_conn_flush(c))
			migr__log(p->lg, XTL_WARN, "could not grant the sender its guest back");
		goto out_aborted;
	}
	rc = fault(p, c, MIGR_FI_DONE);
	if (rc == -MIGR_E_CRASHED)
		goto out_crashed;
	status = 0;
	if (migr_conn_write(c, migr_xl_report, sizeof(migr_xl_report)) ||
	    migr_conn_write(c, &status, 1) || migr_conn_flush(c))
		migr__log(p->lg, XTL_WARN, "could not deliver the result report to the sender");
	if (!p->paused)
		res->announced = migr__announce(hv, domid, 1);
	migr__settle(hv, domid, p->lg, res);
	migr__text(res->state_text, sizeof(res->state_text), "%s runs here (domain %u)", name, domid);
	phase = MIGR_PHASE_DONE;
	rc = 0;
	goto out;

out_crashed:
	goto out;
out_aborted:
	phase = MIGR_PHASE_ABORTED;
	rc = -MIGR_E_ABORTED;
	goto out;
out_nothing:
	phase = MIGR_PHASE_ABORTED;
	if (!res->state_text[0])
		migr__text(res->state_text, sizeof(res->state_text), "%s", migr_strerror(rc));
	rc = -MIGR_E_ABORTED;
out:
	migr__release_claim(p, &claim);
	res->phase = phase;
	free(opt);
	free(json);
	return rc;
}

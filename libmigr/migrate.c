/*
 * migrate.c: the source's driver over migr's own protocol (migr/proto.h,
 * docs/protocol.md), and migr_resolve().
 *
 * Entry points: migr_migrate(), migr_resolve(), migr_phase_name().
 *
 * migr_migrate() is one straight line; only it changes s.phase (its save callbacks in
 * send.c move PRECOPY -> SUSPEND -> FINAL_SEND on its behalf), and it ends through one
 * exit that fills the result:
 *
 *   PREFLIGHT   guest and host checks, HELLO both ways, PREFLIGHT/REPLY, CONFIG
 *   PRECOPY     live rounds (send.c)                        } any failure: ABORT to the
 *   SUSPEND     guest asked to suspend                      } target (its copy is
 *   FINAL_SEND  guest suspended, last pages + context       } destroyed), guest resumed
 *   WAIT_READY  target restores (paused), answers READY     } here: ABORTED
 *   GO          POINT OF NO RETURN: renamed NAME--migratedaway, GO sent. From here the
 *               source's copy stays suspended until the outcome is known:
 *                 DONE  -> source copy destroyed: DONE
 *                 ABORT -> the target destroyed its copy: rename back, resume: ABORTED
 *                 silence / broken connection -> UNDECIDED: `migr resolve ID`
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "send_int.h"

const char *migr_phase_name(enum migr_phase p)
{
	static const char *const names[] = {
		[MIGR_PHASE_INIT] = "init",
		[MIGR_PHASE_PREFLIGHT] = "preflight",
		[MIGR_PHASE_PRECOPY] = "precopy",
		[MIGR_PHASE_SUSPEND] = "suspend",
		[MIGR_PHASE_FINAL_SEND] = "final-send",
		[MIGR_PHASE_WAIT_READY] = "wait-ready",
		[MIGR_PHASE_GO] = "go",
		[MIGR_PHASE_DONE] = "done",
		[MIGR_PHASE_BACKOUT] = "backout",
		[MIGR_PHASE_ABORTED] = "aborted",
		[MIGR_PHASE_UNDECIDED] = "undecided",
		[MIGR_PHASE_FAILED] = "failed",
		[MIGR_PHASE_ACCEPT] = "accept",
		[MIGR_PHASE_RESTORE] = "restore",
		[MIGR_PHASE_READY] = "ready",
		[MIGR_PHASE_RUNNING] = "running",
	};

	if ((unsigned)p < sizeof(names) / sizeof(names[0]) && names[p])
		return names[p];
	return "unknown";
}

static uint32_t wire_guest_type(enum migr_guest_type t)
{
	switch (t) {
	case MIGR_GUEST_PV:  return MIGR_WIRE_GUEST_PV;
	case MIGR_GUEST_PVH: return MIGR_WIRE_GUEST_PVH;
	default:             return MIGR_WIRE_GUEST_HVM;
	}
}

/* The blackout's parts (see struct migr_result), from the source's marks and what the
 * target reported. */
static void account_blackout(struct migr__send *s, uint64_t t_ready, uint64_t t_go,
			     uint64_t t_end, uint64_t restore_ns, uint64_t unpause_ns)
{
	struct migr_result *r = s->res;
	uint64_t parts;

	if (!s->t_suspend_req)
		return;
	r->blackout_us = t_end - s->t_suspend_req;
	r->suspend_us = s->t_suspended - s->t_suspend_req;
	r->final_send_us = s->t_stream_end - s->t_suspended;
	r->restore_tail_us = restore_ns / 1000;
	r->unpause_us = unpause_ns / 1000;
	r->done_wait_us = t_go ? t_end - t_go : 0;
	parts = r->suspend_us + r->final_send_us + r->restore_tail_us + r->unpause_us;
	r->handshake_us = r->blackout_us > parts ? r->blackout_us - parts : 0;
	(void)t_ready;
}

/* Device set-up is a part of the restore tail: never more than all of it. */
static uint64_t devices_part_us(uint64_t devices_ns, uint64_t restore_ns)
{
	return (devices_ns < restore_ns ? devices_ns : restore_ns) / 1000;
}

int migr_migrate(struct migr_hv *hv, uint32_t domid, struct migr_conn *c,
		 const struct migr_send_params *params, struct migr_result *res)
{
	struct migr__send s;
	struct migr_dom_info di;
	struct migr_host_info hi;
	struct migr_msg m, reply;
	struct migr_id id;
	char *json = NULL, away[MIGR_DOMNAME_MAX], err[MIGR_ERR_MAX];
	const char *why = NULL;
	size_t json_len = 0;
	uint32_t version, acode = MIGR_ABORT_OTHER;
	uint64_t t_ready = 0, t_go = 0, restore_ns = 0, devices_ns = 0;
	bool renamed = false;
	int rc;

	memset(res, 0, sizeof(*res));
	migr_msg_init(&reply, MIGR_MSG_HELLO);
	migr__send_init(&s, hv, domid, c, params, res);
	res->src_domid = domid;

	/* ---- PREFLIGHT: nothing is touched ---- */
	s.phase = MIGR_PHASE_PREFLIGHT;
	migr__send_report(&s);
	rc = hv->ops->domain_info(hv, domid, &di);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "domain %u not found", domid);
		goto out_refused_local;
	}
	migr__text(res->name, sizeof(res->name), "%s", di.name);
	res->type = di.type;
	if (!migr_domname_ok(di.name)) {
		migr__text(res->state_text, sizeof(res->state_text),
			 "domain %u has no name migr can move it under (\"%s\")", domid, di.name);
		rc = -EINVAL;
		goto out_refused_local;
	}
	if (di.shutdown || di.dying || di.paused) {
		migr__text(res->state_text, sizeof(res->state_text),
			 "%s is not running (paused, shut down or dying); not touched", di.name);
		rc = -EINVAL;
		goto out_refused_local;
	}
	rc = hv->ops->host_info(hv, &hi);
	if (rc)
		goto out_refused_local;
	rc = migr_hv_can_send(&hi, di.type, &why);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "%s (%s guest): %s",
			 di.name, migr_guest_type_name(di.type), why);
		goto out_refused_local;
	}
	rc = hv->ops->domain_config(hv, domid, &json, &json_len);
	if (rc)
		goto out_refused_local;
	if (json_len - 1 > MIGR_CONFIG_MAX) {
		rc = -E2BIG;
		goto out_refused_local;
	}

	rc = migr_id_new(&id);
	if (rc)
		goto out_refused_local;
	migr_id_to_hex(&id, res->id);

	migr_msg_init(&m, MIGR_MSG_HELLO);
	m.hello.version = MIGR_PROTO_VERSION;
	m.hello.min_version = MIGR_PROTO_MIN_VERSION;
	m.hello.purpose = MIGR_PURPOSE_MIGRATE;
	m.hello.id = id;
	migr__text(m.hello.software, sizeof(m.hello.software), "migr %s", migr_version());
	rc = migr_msg_send(c, &m);
	if (!rc)
		rc = migr_msg_expect(c, MIGR_MSG_HELLO, &reply);
	if (!rc)
		rc = migr_hello_check(&reply.hello, &id, &version, err, sizeof(err));
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "handshake with the target failed: %s",
			 rc == -MIGR_E_PROTO ? err : migr_conn_error(c));
		goto out_refused;
	}
	migr_msg_release(&reply);

	migr_msg_init(&m, MIGR_MSG_PREFLIGHT);
	migr__text(m.preflight.name, sizeof(m.preflight.name), "%s", di.name);
	m.preflight.memory_kib = di.max_mem_kib > di.mem_kib ? di.max_mem_kib : di.mem_kib;
	m.preflight.vcpus = di.vcpus;
	m.preflight.guest_type = wire_guest_type(di.type);
	migr__text(m.preflight.xen_version, sizeof(m.preflight.xen_version), "%u.%u%s",
		 hi.xen_major, hi.xen_minor, hi.xen_extra);
	rc = migr_msg_send(c, &m);
	if (!rc)
		rc = migr_msg_expect(c, MIGR_MSG_PREFLIGHT_REPLY, &reply);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "pre-flight failed: %s",
			 migr_conn_error(c));
		goto out_refused;
	}
	if (!reply.preflight_reply.accept) {
		migr__text(res->state_text, sizeof(res->state_text),
			 "target refused: %s%s%s", migr_refuse_name(reply.preflight_reply.refuse),
			 reply.preflight_reply.reason[0] ? ": " : "", reply.preflight_reply.reason);
		rc = -MIGR_E_ABORTED;
		goto out_refused;
	}
	/* the part of the blackout the target says its restore takes: the policy's to know */
	migr__send_target_fixed(&s, reply.preflight_reply.restore_hint_ns / 1000);
	migr_msg_release(&reply);

	migr_msg_init(&m, MIGR_MSG_CONFIG);
	m.config.json = json;
	m.config.len = json_len - 1;
	rc = migr_msg_send(c, &m);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "sending the config failed: %s",
			 migr_conn_error(c));
		goto out_refused;
	}

	/* ---- PRECOPY, SUSPEND, FINAL_SEND (send.c moves the phase) ---- */
	rc = migr__send_stream(&s, 0);
	if (rc) {
		acode = rc == -MIGR_E_ABORTED ? MIGR_ABORT_POLICY : MIGR_ABORT_SAVE;
		migr__text(res->state_text, sizeof(res->state_text), "%s",
			 rc == -MIGR_E_ABORTED ? "pre-copy policy gave up (would not converge in budget)"
			 : s.stream_failed ? "the connection broke during the stream"
			 : s.phase == MIGR_PHASE_SUSPEND ? "the guest did not suspend"
			 : "the stream failed");
		goto out_backout_sent;   /* stream_out_end sent ABORT already */
	}

	/* As xl does: the source's copy leaves the name before the target takes it (at GO).
	 * Done now, while the target restores, rather than between READY and GO, which is
	 * inside the blackout's critical path. */
	migr__text(away, sizeof(away), "%s--migratedaway", di.name);
	rc = hv->ops->rename(hv, domid, di.name, away);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "could not rename the source's copy");
		acode = MIGR_ABORT_OTHER;
		goto out_backout;
	}
	renamed = true;

	/* ---- WAIT_READY ---- */
	s.phase = MIGR_PHASE_WAIT_READY;
	migr__send_report(&s);
	rc = migr_msg_expect(c, MIGR_MSG_READY, &reply);
	t_ready = migr__now_us();
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "target did not restore: %s",
			 migr_conn_error(c));
		acode = MIGR_ABORT_RESTORE;
		goto out_backout;
	}
	res->dst_domid = reply.ready.domid;
	restore_ns = reply.ready.restore_ns;
	devices_ns = reply.ready.devices_ns;
	res->devices_us = devices_part_us(devices_ns, restore_ns);
	migr_msg_release(&reply);
	if (s.p.fault == MIGR_FI_AFTER_READY) {
		migr__text(res->state_text, sizeof(res->state_text), "fault injected after READY");
		rc = -EIO;
		acode = MIGR_ABORT_CANCELLED;
		goto out_backout;
	}

	/* ---- GO: POINT OF NO RETURN ---- */
	s.phase = MIGR_PHASE_GO;
	migr__send_report(&s);
	migr_msg_init(&m, MIGR_MSG_GO);
	t_go = migr__now_us();
	rc = migr_msg_send(c, &m);
	if (!rc && s.p.fault == MIGR_FI_BEFORE_DONE)
		rc = -ECONNRESET;
	if (!rc)
		rc = migr_msg_expect(c, MIGR_MSG_DONE, &reply);
	if (rc == -MIGR_E_ABORTED) {
		/* The target reports it destroyed its copy (it never unpaused it). */
		uint32_t code = MIGR_ABORT_OTHER;
		const char *reason = NULL;
		migr_conn_peer_abort(c, &code, &reason);
		migr__text(res->state_text, sizeof(res->state_text), "target failed after GO (%s%s%s)",
			 migr_abort_name(code), reason && *reason ? ": " : "", reason ? reason : "");
		goto out_resume_after_go;
	}
	if (rc) {
		s.phase = MIGR_PHASE_UNDECIDED;
		account_blackout(&s, t_ready, t_go, migr__now_us(), restore_ns, 0);
		migr__text(res->state_text, sizeof(res->state_text),
			 "outcome unknown after GO: the source keeps %s suspended; run "
			 "`migr resolve %s %s HOST`", away, res->id, di.name);
		migr__log(s.p.lg, XTL_ERROR, "domain %u: %s", domid, res->state_text);
		rc = -MIGR_E_UNDECIDED;
		goto out;
	}
	if (reply.done.restore_ns) {
		/* READY went before the restore ended: its figures come with DONE */
		restore_ns = reply.done.restore_ns;
		devices_ns = reply.done.devices_ns;
	}
	res->devices_us = devices_part_us(devices_ns, restore_ns);
	account_blackout(&s, t_ready, t_go, migr__now_us(), restore_ns, reply.done.unpause_ns);
	res->dst_domid = reply.done.domid;
	migr_msg_release(&reply);

	/* ---- DONE ---- */
	s.phase = MIGR_PHASE_DONE;
	rc = hv->ops->destroy(hv, domid);
	if (rc)
		migr__log(s.p.lg, XTL_WARN, "domain %u: could not destroy the source's copy %s, "
			  "ignoring (it stays suspended; destroy it by hand)", domid, away);
	/* The target's last word: when the guest's network came back (it waits for that
	 * at most 10 s after the unpause). A target that sends none just closes; one that
	 * sends nothing and stays is given 20 s. */
	migr_conn_cap_io_timeout(c, 20000);
	if (migr_msg_expect(c, MIGR_MSG_SETTLED, &reply) == 0) {
		res->net_back_us = reply.settled.net_back_ns / 1000;
		res->vifs = reply.settled.vifs;
		res->vifs_connected = reply.settled.vifs_connected;
		res->first_frame_us = reply.settled.first_frame_ns / 1000;
		migr_msg_release(&reply);
	}
	migr__text(res->state_text, sizeof(res->state_text), "%s runs on the target (domain %u)",
		 di.name, res->dst_domid);
	rc = 0;
	goto out;

out_resume_after_go:
	s.phase = MIGR_PHASE_BACKOUT;
	if (renamed && hv->ops->rename(hv, domid, away, di.name))
		migr__log(s.p.lg, XTL_WARN, "domain %u: could not rename back to %s, ignoring",
			  domid, di.name);
	rc = migr__send_backout(&s);
	s.phase = rc ? MIGR_PHASE_FAILED : MIGR_PHASE_ABORTED;
	rc = rc ? rc : -MIGR_E_ABORTED;
	goto out;

out_backout:
	migr_msg_send_abort(c, acode, res->state_text);
out_backout_sent:
	s.phase = MIGR_PHASE_BACKOUT;
	migr__send_report(&s);
	if (renamed && hv->ops->rename(hv, domid, away, di.name))
		migr__log(s.p.lg, XTL_WARN, "domain %u: could not rename back to %s, ignoring",
			  domid, di.name);
	if (migr__send_backout(&s)) {
		s.phase = MIGR_PHASE_FAILED;
		migr__text(res->state_text + strlen(res->state_text),
			 sizeof(res->state_text) - strlen(res->state_text),
			 "; the guest could NOT be resumed on the source");
		rc = -EIO;
		goto out;
	}
	s.phase = MIGR_PHASE_ABORTED;
	rc = -MIGR_E_ABORTED;
	goto out;

out_refused:
	migr_msg_release(&reply);
	if (rc != -MIGR_E_ABORTED)
		migr_msg_send_abort(c, MIGR_ABORT_OTHER, res->state_text);
out_refused_local:
	/* nothing was touched */
	s.phase = MIGR_PHASE_ABORTED;
	if (!res->state_text[0])
		migr__text(res->state_text, sizeof(res->state_text), "%s", migr_strerror(rc));
	if (rc != -MIGR_E_UNSUPPORTED)
		rc = -MIGR_E_ABORTED;
out:
	migr_msg_release(&reply);
	{
		struct migr_conn_stats cs;
		migr_conn_stats(c, &cs);
		res->wire_bytes = cs.wire_out;
	}
	res->total_us = migr__now_us() - s.t_start;
	res->phase = s.phase;
	migr__send_report(&s);
	migr__send_fini(&s);
	free(json);
	return rc;
}

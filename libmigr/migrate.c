/*
 * migrate.c: the source's driver over migr's own protocol (migr/proto.h,
 * docs/protocol.md), and the source's record and unwinding that both source drivers
 * share.
 *
 * Entry points: migr_migrate(), migr_phase_name(); migr__drive() for migrate_xl.c.
 *
 * migr__drive() is a straight line of steps over one context (struct migr__send); the
 * named fault point before each step is checked by the loop, never by the step. The
 * protocol's own steps (hello .. wait_done, settled) come from a dialect (struct
 * migr__dialect): migr's own here, stock xl's in migrate_xl.c; the rest is shared. Only
 * the steps change s->phase (the save callbacks in send.c move PRECOPY -> SUSPEND ->
 * FINAL_SEND on their behalf); one unwind (unwind()) ends every failure:
 *
 *   check_guest    PREFLIGHT: the guest and this host can migrate; nothing touched
 *   say_hello      HELLO both ways
 *   ask_preflight  PREFLIGHT / PREFLIGHT_REPLY (the target's restore hint)
 *   send_config    CONFIG
 *   record_start   the source's record, phase started (fsync'd): from here the guest is
 *                  touched, and a crash leaves a record migrd's recovery settles
 *   send_stream    PRECOPY, SUSPEND, FINAL_SEND (send.c)         } a failure: ABORT to the
 *   rename_away    NAME--migratedaway, while the target restores } target, rename back,
 *   wait_ready     READY within the blackout deadline            } resume here: ABORTED
 *   record_go      the record says go (fsync'd) before GO goes
 *   send_go        POINT OF NO RETURN: GO
 *   wait_done      DONE within the blackout deadline; the target's ABORT means it
 *                  destroyed its copy (rename back, resume: ABORTED); silence or a broken
 *                  connection: UNDECIDED, the copy stays suspended for migr_resolve()
 *                  (the record then says done: the guest runs there)
 *   destroy_source the suspended copy here
 *   read_settled   the target's network-back report (optional)
 *   record_end     the record removed
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "send_int.h"
#include "fwd_mig.h"

static const char *const compress_names[] = {
	[MIGR_COMPRESS_AUTO] = "auto", [MIGR_COMPRESS_OFF] = "off", [MIGR_COMPRESS_ON] = "on",
};

const char *migr_compress_name(enum migr_compress c)
{
	return (unsigned int)c < 3 ? compress_names[c] : "unknown";
}

int migr_compress_parse(const char *s, enum migr_compress *c_r)
{
	for (unsigned int i = 0; i < 3; i++) {
		if (s && !strcmp(s, compress_names[i])) {
			*c_r = (enum migr_compress)i;
			return 0;
		}
	}
	return -EINVAL;
}

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
static void account_blackout(struct migr__send *s, uint64_t t_end)
{
	struct migr_result *r = s->res;
	uint64_t parts;

	if (!s->t_suspend_req)
		return;
	r->blackout_us = t_end - s->t_suspend_req;
	r->suspend_us = s->t_suspended - s->t_suspend_req;
	r->final_send_us = s->t_stream_end > s->t_suspended ? s->t_stream_end - s->t_suspended : 0;
	r->restore_tail_us = s->restore_ns / 1000;
	r->unpause_us = s->unpause_ns / 1000;
	r->done_wait_us = s->t_go ? t_end - s->t_go : 0;
	/* device set-up is a part of the restore tail: never more than all of it */
	r->devices_us = (s->devices_ns < s->restore_ns ? s->devices_ns : s->restore_ns) / 1000;
	parts = r->suspend_us + r->final_send_us + r->restore_tail_us + r->unpause_us;
	r->handshake_us = r->blackout_us > parts ? r->blackout_us - parts : 0;
	r->blackout_error_us = (int64_t)r->blackout_us - (int64_t)r->predicted_blackout_us;
}

static const char *rec_dir(const struct migr__send *s)
{
	return migr__send_rec_dir(s);
}

static int src_record(struct migr__send *s, uint32_t phase)
{
	int rc;

	s->rec.phase = phase;
	rc = migr_src_record_write(rec_dir(s), &s->rec);
	if (rc)
		migr__log(s->p.lg, XTL_ERROR, "domain %u: cannot write the migration record in %s "
			  "(%s): %s", s->domid, rec_dir(s), migr_src_phase_name(phase),
			  migr_strerror(rc));
	return rc;
}

/* Sets the connection's timeout to what is left of the blackout deadline. */
static void blackout_timeout(struct migr__send *s)
{
	uint64_t now = migr__now_us();
	uint64_t left_ms;

	if (!s->deadline_us)
		return;
	left_ms = s->deadline_us > now ? (s->deadline_us - now + 999) / 1000 : 1;
	migr_conn_set_io_timeout(s->c, (unsigned int)left_ms);
}

/* The blackout deadline, from the suspend request: max(8 s, 4 x the predicted blackout),
 * at most the caller's ceiling. */
static void arm_deadline(struct migr__send *s)
{
	uint64_t cap = s->p.blackout_deadline_ms ? s->p.blackout_deadline_ms : 10000;
	uint64_t d = 4 * s->res->predicted_blackout_us / 1000;

	if (d < 8000)
		d = 8000;
	if (d > cap)
		d = cap;
	s->deadline_us = (s->t_suspend_req ? s->t_suspend_req : migr__now_us()) + d * 1000;
}

/* ---- the steps -------------------------------------------------------------------------- */

static int check_guest(struct migr__send *s)
{
	struct migr_result *res = s->res;
	const char *why = NULL;
	int rc;

	s->phase = MIGR_PHASE_PREFLIGHT;
	migr__send_report(s);
	rc = s->hv->ops->domain_info(s->hv, s->domid, &s->di);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "domain %u not found", s->domid);
		return rc;
	}
	migr__text(res->name, sizeof(res->name), "%s", s->di.name);
	res->type = s->di.type;
	if (migr_domname_reserved(s->di.name)) {
		migr__text(res->state_text, sizeof(res->state_text),
			   "%s is a copy an unfinished migration left (its name ends in a suffix migr "
			   "reserves); settle it with `migr status` and `migr resolve`", s->di.name);
		return -EINVAL;
	}
	if (!migr_domname_ok(s->di.name)) {
		migr__text(res->state_text, sizeof(res->state_text),
			   "domain %u has no name migr can move it under (\"%s\")", s->domid, s->di.name);
		return -EINVAL;
	}
	if (s->di.shutdown || s->di.dying || s->di.paused) {
		migr__text(res->state_text, sizeof(res->state_text),
			   "%s is not running (paused, shut down or dying); not touched", s->di.name);
		return -EINVAL;
	}
	rc = s->hv->ops->host_info(s->hv, &s->hi);
	if (rc)
		return rc;
	rc = migr_hv_can_send(&s->hi, s->di.type, &why);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "%s (%s guest): %s",
			   s->di.name, migr_guest_type_name(s->di.type), why);
		return rc;
	}
	rc = s->hv->ops->domain_config(s->hv, s->domid, &s->json, &s->json_len);
	if (rc)
		return rc;
	if (s->json_len - 1 > MIGR_CONFIG_MAX)
		return -E2BIG;
	rc = migr_id_new(&s->id);
	if (rc)
		return rc;
	migr_id_to_hex(&s->id, res->id);
	migr__text(s->away, sizeof(s->away), "%s" MIGR_SUFFIX_AWAY, s->di.name);
	return 0;
}

static int migr_hello(struct migr__send *s)
{
	struct migr_msg m, reply;
	char err[MIGR_ERR_MAX];
	uint32_t version;
	int rc;

	migr_msg_hello(&m, MIGR_PURPOSE_MIGRATE, &s->id);
	migr_msg_init(&reply, MIGR_MSG_HELLO);
	rc = migr_msg_send(s->c, &m);
	if (!rc)
		rc = migr_msg_expect(s->c, MIGR_MSG_HELLO, &reply);
	if (!rc)
		rc = migr_hello_check(&reply.hello, &s->id, &version, err, sizeof(err));
	s->version = version;
	if (rc)
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "handshake with the target failed: %s",
			   rc == -MIGR_E_PROTO ? err : migr_conn_error(s->c));
	migr_msg_release(&reply);
	return rc;
}

static int config(struct migr__send *s);

static int migr_preflight(struct migr__send *s)
{
	struct migr_result *res = s->res;
	struct migr_msg m, reply;
	int rc;

	migr_msg_init(&m, MIGR_MSG_PREFLIGHT);
	migr_msg_init(&reply, MIGR_MSG_PREFLIGHT_REPLY);
	migr__text(m.preflight.name, sizeof(m.preflight.name), "%s", s->di.name);
	m.preflight.memory_kib = s->di.max_mem_kib > s->di.mem_kib ? s->di.max_mem_kib
								    : s->di.mem_kib;
	m.preflight.vcpus = s->di.vcpus;
	m.preflight.guest_type = wire_guest_type(s->di.type);
	migr__text(m.preflight.xen_version, sizeof(m.preflight.xen_version), "%u.%u%s",
		   s->hi.xen_major, s->hi.xen_minor, s->hi.xen_extra);
	if (s->p.etcd)
		migr__text(m.preflight.fence_source, sizeof(m.preflight.fence_source), "%s",
			   s->p.fence_self);
	rc = migr_msg_send(s->c, &m);
	if (!rc && s->version >= 2) {
		/* the target checks the config against its rules before it answers */
		rc = config(s);
		if (rc)
			return rc;
	}
	if (!rc)
		rc = migr_msg_expect(s->c, MIGR_MSG_PREFLIGHT_REPLY, &reply);
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "pre-flight failed: %s",
			   migr_conn_error(s->c));
		return rc;
	}
	if (!reply.preflight_reply.accept) {
		migr__text(res->state_text, sizeof(res->state_text), "target refused: %s%s%s",
			   migr_refuse_name(reply.preflight_reply.refuse),
			   reply.preflight_reply.reason[0] ? ": " : "", reply.preflight_reply.reason);
		s->abort_sent = true;   /* nothing to tell a target that refused */
		res->refused = reply.preflight_reply.refuse ? reply.preflight_reply.refuse :
			       MIGR_REFUSE_OTHER;
		migr_msg_release(&reply);
		return -MIGR_E_ABORTED;
	}
	/* the part of the blackout the target says its restore takes: the policy's to know */
	migr__send_target_fixed(s, reply.preflight_reply.restore_hint_ns / 1000,
				reply.preflight_reply.restore_estimate_ns / 1000);
	migr__send_peer_fixed(s, reply.preflight_reply.suspend_hint_ns / 1000,
			      reply.preflight_reply.final_hint_ns / 1000,
			      reply.preflight_reply.handshake_hint_ns / 1000);
	migr__text(s->fence_target, sizeof(s->fence_target), "%s",
		   reply.preflight_reply.fence_host);
	if (s->p.etcd && !s->fence_target[0]) {
		migr__text(res->state_text, sizeof(res->state_text),
			   "the target does not fence the commit through etcd (no etcd configured "
			   "there); with etcd, both hosts fence or neither moves a guest");
		migr_msg_release(&reply);
		return -EPERM;
	}
	migr_msg_release(&reply);
	return 0;
}

static int migr_config(struct migr__send *s)
{
	struct migr_msg m;
	int rc;


	migr_msg_init(&m, MIGR_MSG_CONFIG);
	m.config.json = s->json;
	m.config.len = s->json_len - 1;
	rc = migr_msg_send(s->c, &m);
	if (rc)
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "sending the config failed: %s", migr_conn_error(s->c));
	return rc;
}

static int record_start(struct migr__send *s)
{
	int rc;

	s->rec_lock = migr_src_record_lock(rec_dir(s), &s->id);
	if (s->rec_lock < 0) {
		rc = s->rec_lock;
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "cannot lock the migration record in %s: %s", rec_dir(s),
			   migr_strerror(rc));
		return rc;
	}
	s->rec.id = s->id;
	s->rec.domid = s->domid;
	migr__text(s->rec.name, sizeof(s->rec.name), "%s", s->di.name);
	migr__text(s->rec.target, sizeof(s->rec.target), "%s", s->p.target ? s->p.target : "");
	migr__text(s->rec.peer, sizeof(s->rec.peer), "%s", migr_conn_peer_identity(s->c));
	rc = src_record(s, MIGR_SRC_STARTED);
	if (rc)
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "cannot write the migration record in %s: %s", rec_dir(s),
			   migr_strerror(rc));
	else
		s->recorded = true;
	return rc;
}

/* The stream's flags: from version 3 the target takes zero runs as ZERO frames, from 4
 * compressed chunks as CDATA frames. */
static unsigned int stream_flags(const struct migr__send *s)
{
	unsigned int f = s->d->stream_flags;

	if (f & MIGR_STREAM_RAW)
		return f;
	if (s->version >= 3)
		f |= MIGR_STREAM_ZERO;
	if (s->version >= 4 && s->p.compress == MIGR_COMPRESS_AUTO)
		f |= MIGR_STREAM_COMPRESS;
	else if (s->version >= 4 && s->p.compress == MIGR_COMPRESS_ON)
		f |= MIGR_STREAM_COMPRESS_ALWAYS;
	else if (s->version < 4 && s->p.compress == MIGR_COMPRESS_ON)
		migr__log(s->p.lg, XTL_WARN, "domain %u: the target speaks protocol version %u, "
			  "which has no compression: sending uncompressed", s->domid, s->version);
	return f;
}

static int send_stream(struct migr__send *s)
{
	struct migr_result *res = s->res;
	int rc;

	/* Forwarding needs migr on the target (its end of the tunnel): not toward stock xl.
	 * Its set-up starts at the suspend (send.c), on a thread of its own. */
	if (s->d->settled)
		s->fwd = migr__fwdm_source_prepare(res->id, s->hv, s->domid, s->c, &s->p, &res->fwd);
	else
		snprintf(res->fwd.why, sizeof(res->fwd.why), "the target is stock xl");
	rc = migr__send_stream(s, stream_flags(s));

	if (s->crashed)
		return -MIGR_E_CRASHED;
	if (rc) {
		s->abort_sent = true;   /* the stream's end sent ABORT already */
		s->acode = rc == -MIGR_E_ABORTED ? MIGR_ABORT_POLICY : MIGR_ABORT_SAVE;
		migr__text(res->state_text, sizeof(res->state_text), "%s",
			   rc == -MIGR_E_ABORTED ? "pre-copy policy gave up (would not converge in budget)"
			   : s->stream_failed ? "the connection broke during the stream"
			   : s->phase == MIGR_PHASE_SUSPEND ? "the guest did not suspend"
			   : "the stream failed");
		return rc;
	}
	arm_deadline(s);
	return 0;
}

/* As xl does: the source's copy leaves the name before the target takes it (at GO). Done
 * while the target restores, rather than between READY and GO, inside the blackout. */
static int rename_away(struct migr__send *s)
{
	int rc = s->hv->ops->rename(s->hv, s->domid, s->di.name, s->away);

	if (rc) {
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "could not rename the source's copy");
		return rc;
	}
	s->renamed = true;
	return 0;
}

static int migr_wait_ready(struct migr__send *s)
{
	struct migr_msg reply;
	int rc;

	migr_msg_init(&reply, MIGR_MSG_READY);
	rc = migr_msg_expect(s->c, MIGR_MSG_READY, &reply);
	if (rc) {
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "target did not restore: %s", migr_conn_error(s->c));
		s->acode = rc == -ETIMEDOUT ? MIGR_ABORT_TIMEOUT : MIGR_ABORT_RESTORE;
		s->abort_sent = rc == -MIGR_E_ABORTED;
		return rc;
	}
	s->res->dst_domid = reply.ready.domid;
	s->restore_ns = reply.ready.restore_ns;
	s->devices_ns = reply.ready.devices_ns;
	s->rec.target_host = reply.ready.host_id;
	migr_msg_release(&reply);
	return 0;
}

/*
 * The commit fenced by etcd, before anything is touched and before the target is asked
 * anything: the guest's location key must name this host (or not exist yet). etcd not
 * reached, or the key naming another host: refused, the guest untouched. (That the
 * target fences too is checked on its PREFLIGHT_REPLY.)
 */
static int fence_read(struct migr__send *s)
{
	int rc;

	if (!s->p.etcd)
		return 0;
	if (migr_uuid_is_nil(s->di.uuid)) {
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "%s has no UUID: its location in etcd has no key", s->di.name);
		return -EINVAL;
	}
	rc = migr_fence_read(s->p.etcd, s->di.uuid, s->p.fence_self, &s->fence, s->p.lg);
	if (rc == -EPERM)
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "etcd says %s belongs to another host, not %s: not moving it",
			   s->di.name, s->p.fence_self);
	else if (rc)
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "etcd: cannot read %s (%s): not moving the guest", s->fence.key[0] ?
			   s->fence.key : "the guest's location", migr_strerror(rc));
	return rc;
}

static int record_go(struct migr__send *s)
{
	int rc = src_record(s, MIGR_SRC_GO);

	if (rc) {
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "cannot record the decision to go");
		return rc;
	}
	s->go_recorded = true;
	return 0;
}

/*
 * The point of no return with etcd: the key from this host to the target, carrying the
 * migration id, on the revision read before anything was touched. Lost, or not applied:
 * the key did not move, so this is still a back-out (go_recorded cleared). Unknown even
 * after fencing the swap off: the copy stays suspended (undecided).
 */
static int fence_swap(struct migr__send *s)
{
	int rc;

	if (!s->p.etcd)
		return 0;
	rc = migr_fence_swap(s->p.etcd, &s->fence, s->p.fence_self, s->fence_target, s->res->id,
			     s->p.lg);
	if (!rc) {
		s->fenced = true;
		return 0;
	}
	if (rc == -MIGR_E_ABORTED) {
		s->go_recorded = false;
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "etcd: the guest's location did not move to %s (lost, or etcd not "
			   "reached): backing out", s->fence_target);
	} else {
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "etcd: whether the guest's location moved to %s is unknown",
			   s->fence_target);
	}
	return rc;
}

static int migr_go(struct migr__send *s)
{
	struct migr_msg m;

	migr_msg_init(&m, MIGR_MSG_GO);
	return migr_msg_send(s->c, &m);
}

static int migr_wait_done(struct migr__send *s)
{
	struct migr_msg reply;
	int rc;

	migr_msg_init(&reply, MIGR_MSG_DONE);
	rc = migr_msg_expect(s->c, MIGR_MSG_DONE, &reply);
	if (rc == -MIGR_E_ABORTED) {
		uint32_t code = MIGR_ABORT_OTHER;
		const char *reason = NULL;

		migr_conn_peer_abort(s->c, &code, &reason);
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "target failed after GO (%s%s%s)", migr_abort_name(code),
			   reason && *reason ? ": " : "", reason ? reason : "");
		s->abort_sent = true;
		return rc;
	}
	if (rc) {
		migr__text(s->res->state_text, sizeof(s->res->state_text), "no DONE after GO: %s",
			   migr_conn_error(s->c));
		return rc;
	}
	if (reply.done.restore_ns) {
		/* READY went before the restore ended: its figures come with DONE */
		s->restore_ns = reply.done.restore_ns;
		s->devices_ns = reply.done.devices_ns;
	}
	s->unpause_ns = reply.done.unpause_ns;
	s->res->dst_domid = reply.done.domid;
	migr_msg_release(&reply);
	return 0;
}

/* From here on the guest runs on the target: a failure is a warning, never a back-out;
 * what it leaves (a suspended copy, a record) is what recovery finishes. */
static int destroy_source(struct migr__send *s)
{
	int rc = s->hv->ops->destroy(s->hv, s->domid);

	s->source_left = rc != 0;   /* set since DONE: a failure before this step keeps it */
	if (rc)
		migr__log(s->p.lg, XTL_WARN, "domain %u: could not destroy the source's copy %s, "
			  "ignoring (it stays suspended; migrd's recovery or `migr resolve %s` "
			  "destroys it)", s->domid, s->away, s->res->id);
	return rc;
}

/* The target's last word: when the guest's network came back (it waits for that at most
 * 10 s after the unpause). A target that sends none just closes; one that sends nothing
 * and stays is given 20 s. */
static int migr_settled(struct migr__send *s)
{
	struct migr_msg reply;

	migr_msg_init(&reply, MIGR_MSG_SETTLED);
	migr_conn_cap_io_timeout(s->c, 20000);
	if (migr_msg_expect(s->c, MIGR_MSG_SETTLED, &reply) == 0) {
		s->res->net_back_us = reply.settled.net_back_ns / 1000;
		s->res->vifs = reply.settled.vifs;
		s->res->vifs_connected = reply.settled.vifs_connected;
		s->res->first_frame_us = reply.settled.first_frame_ns / 1000;
		migr_msg_release(&reply);
	}
	return 0;
}

static int record_end(struct migr__send *s)
{
	int rc;

	if (s->source_left)
		return 0;   /* the record stays, for recovery to destroy the copy */
	rc = migr_record_remove(rec_dir(s), &s->id);

	if (rc)
		migr__log(s->p.lg, XTL_WARN, "domain %u: cannot remove the migration record %s: %s, "
			  "ignoring", s->domid, s->res->id, migr_strerror(rc));
	else
		s->recorded = false;
	return rc;
}

static const struct migr__dialect dialect_migr = {
	.name = "migr",
	.can_abort = true,
	.hello = migr_hello,
	.preflight = migr_preflight,
	.config = migr_config,
	.wait_ready = migr_wait_ready,
	.go = migr_go,
	.wait_done = migr_wait_done,
	.settled = migr_settled,
};

/* ---- the shared steps around the dialect's ---------------------------------------------- */

static int hello(struct migr__send *s)
{
	return s->d->hello ? s->d->hello(s) : 0;
}

static int preflight(struct migr__send *s)
{
	int rc = s->d->preflight ? s->d->preflight(s) : 0;

	if (!rc)
		migr__send_fixed(s);
	return rc;
}

/* Once: with PREFLIGHT from version 2 on (the target answers after checking it), else
 * after the reply. */
static int config(struct migr__send *s)
{
	int rc;

	if (s->config_sent)
		return 0;
	rc = migr__fault(s->p.faults, MIGR_FI_CONFIG, s->c, s->p.lg);
	if (!rc)
		rc = s->d->config(s);
	s->config_sent = rc == 0;
	return rc;
}

static int wait_ready(struct migr__send *s)
{
	int rc;

	s->phase = MIGR_PHASE_WAIT_READY;
	migr__send_report(s);
	blackout_timeout(s);
	rc = s->d->wait_ready(s);
	s->t_ready = migr__now_us();
	return rc;
}

static int send_go(struct migr__send *s)
{
	int rc;

	s->phase = MIGR_PHASE_GO;
	migr__send_report(s);
	s->t_go = migr__now_us();
	rc = s->d->go(s);
	if (rc)
		migr__text(s->res->state_text, sizeof(s->res->state_text), "GO not sent: %s",
			   migr_conn_error(s->c));
	return rc;
}

/* The operator's hook, once the target said the guest runs (not waited for). */
static void switchover_hook(struct migr__send *s)
{
	struct sockaddr_storage l, p;
	char src[64] = "", dst[64] = "";
	struct migr__switchover sw = { .id = s->res->id, .guest = s->di.name };

	if (migr_conn_addrs(s->c, &l, &p) == 0) {
		migr__sockaddr_text(&l, src, sizeof(src));
		migr__sockaddr_text(&p, dst, sizeof(dst));
	}
	sw.source = src;
	sw.target = dst[0] ? dst : (s->p.target ? s->p.target : "");
	migr__fwdm_switchover_info(s->fwd, s->hv, s->domid, &sw);
	migr__switchover_hooks(s->p.on_switchover, NULL, &sw, s->p.lg);
}

static int wait_done(struct migr__send *s)
{
	int rc;

	blackout_timeout(s);
	rc = s->d->wait_done(s);
	if (rc)
		return rc;
	account_blackout(s, migr__now_us());
	if (s->res->blackout_us > s->res->final_send_us)
		migr__history_add(rec_dir(s), MIGR__SRC_HISTORY,
				  s->res->blackout_us - s->res->final_send_us, s->p.lg);
	migr__history_add(rec_dir(s), MIGR__SRC_SUSPEND_HISTORY, s->res->suspend_us, s->p.lg);
	if (s->res->handshake_us)
		migr__history_add(rec_dir(s), MIGR__SRC_HANDSHAKE_HISTORY, s->res->handshake_us,
				  s->p.lg);
	if (s->res->predicted_blackout_us >= s->res->fixed_us) {
		/* the final send beyond what the policy gave its pages (the prediction less
		 * its fixed part) */
		uint64_t pages = s->res->predicted_blackout_us - s->res->fixed_us;

		if (s->res->final_send_us > pages)
			migr__history_add(rec_dir(s), MIGR__SRC_FINAL_HISTORY,
					  s->res->final_send_us - pages, s->p.lg);
	}
	s->done = true;
	s->source_left = true;      /* until destroy_source says otherwise */
	s->phase = MIGR_PHASE_DONE;
	migr__send_report(s);       /* the blackout is over: progress says so at once */
	migr_conn_set_io_timeout(s->c, s->io_timeout_ms);
	/* after the blackout: a crash from here on leaves a record that needs no target to
	 * settle it */
	src_record(s, MIGR_SRC_DONE);
	if (s->p.on_switchover && *s->p.on_switchover)
		switchover_hook(s);
	return 0;
}

/* The target's last word; the guest's vifs are connected there now (or will not be):
 * the hold lets out what it kept, and the process's other streams, held since the
 * suspend request, go on (migr_conn_blackout(): held past DONE, so that a next stream
 * does not slow the guest's network coming back through the target's dom0). Read before
 * the source's copy is destroyed: a destroy takes seconds in the nested lab, and the
 * other streams need not wait for it. */
static int settled(struct migr__send *s)
{
	int rc = s->d->settled ? s->d->settled(s) : 0;

	migr_conn_blackout(s->c, false);
	migr__fwdm_release(s->fwd);
	return rc;
}

static const struct {
	enum migr_fault point;
	int (*run)(struct migr__send *s);
	const char *name;   /* in the debug log's step timings */
} steps[] = {
	{ MIGR_FI_PREFLIGHT,       check_guest,     "check_guest" },
	{ MIGR_FI_FENCE_READ,      fence_read,      "fence_read" },
	{ MIGR_FI_HELLO,           hello,           "hello" },
	{ MIGR_FI_PREFLIGHT_ASK,   preflight,       "preflight" },
	{ MIGR_FI_NONE,            config,          "config" }, /* config point inside */
	{ MIGR_FI_RECORD_START,    record_start,    "record_start" },
	{ MIGR_FI_NONE,            send_stream,     "send_stream" }, /* its points are in send.c */
	{ MIGR_FI_STREAM_END,      NULL,            NULL },
	{ MIGR_FI_RENAME_AWAY,     rename_away,     "rename_away" },
	{ MIGR_FI_WAIT_READY,      wait_ready,      "wait_ready" },
	{ MIGR_FI_AFTER_READY,     NULL,            NULL },
	{ MIGR_FI_RECORD_GO,       record_go,       "record_go" },
	{ MIGR_FI_FENCE_SWAP,      fence_swap,      "fence_swap" },
	{ MIGR_FI_GO,              send_go,         "send_go" },
	{ MIGR_FI_WAIT_DONE,       wait_done,       "wait_done" },
	{ MIGR_FI_SETTLED,         settled,         "settled" }, /* first: the gate (above) is let go */
	{ MIGR_FI_DESTROY_SOURCE,  destroy_source,  "destroy_source" },
	{ MIGR_FI_RECORD_END,      record_end,      "record_end" },
};

/* ---- the end of a migration that did not reach DONE ------------------------------------ */

/* Puts our copy back under its name and resumes it; removes the record once it runs. */
static int resume_here(struct migr__send *s)
{
	int rc;

	s->phase = MIGR_PHASE_BACKOUT;
	migr__send_report(s);
	/* nothing of forwarding may stay once the guest runs here again */
	migr__fwdm_abandon(s->fwd);
	s->fwd = NULL;
	if (s->renamed && s->hv->ops->rename(s->hv, s->domid, s->away, s->di.name))
		migr__log(s->p.lg, XTL_WARN, "domain %u: could not rename back to %s, ignoring",
			  s->domid, s->di.name);
	else
		s->renamed = false;
	rc = migr__send_backout(s);
	if (rc) {
		/* the record stays: migrd's recovery tries again */
		s->phase = MIGR_PHASE_FAILED;
		migr__text(s->res->state_text + strlen(s->res->state_text),
			   sizeof(s->res->state_text) - strlen(s->res->state_text),
			   "; the guest could NOT be resumed on the source");
		return -EIO;
	}
	if (s->recorded && !migr_record_remove(rec_dir(s), &s->id))
		s->recorded = false;
	s->phase = MIGR_PHASE_ABORTED;
	return -MIGR_E_ABORTED;
}

/*
 * The end of a migration that did not reach DONE: before the record says go, back out
 * (rename back, resume, record removed); after it, resume only when the target said it
 * destroyed its copy, else UNDECIDED (the copy stays suspended, the record says go).
 */
static int unwind(struct migr__send *s, int rc)
{
	struct migr_result *res = s->res;
	const char *why = NULL;

	if (!res->state_text[0])
		migr__text(res->state_text, sizeof(res->state_text), "%s", migr_strerror(rc));
	if (!s->recorded) {
		/* nothing was touched */
		if (!s->abort_sent && s->d->can_abort && rc != -MIGR_E_UNSUPPORTED)
			migr_msg_send_abort(s->c, MIGR_ABORT_OTHER, res->state_text);
		s->phase = MIGR_PHASE_ABORTED;
		return rc == -MIGR_E_UNSUPPORTED ? rc : -MIGR_E_ABORTED;
	}
	if (!s->go_recorded) {
		/* before the point of no return: the target's copy is destroyed on ABORT (or
		 * by its GO deadline), ours resumes */
		if (!s->abort_sent && s->d->can_abort)
			migr_msg_send_abort(s->c, s->acode, res->state_text);
		return resume_here(s);
	}
	if (rc == -MIGR_E_ABORTED && s->abort_sent) {
		/* after GO, the target said it destroyed its copy (it does so before it says
		 * it): the guest is ours to run again, once etcd says so too */
		if (!s->fenced || !migr_fence_return(s->p.etcd, &s->fence, s->p.fence_self, s->p.lg))
			return resume_here(s);
		why = "the target destroyed its copy, but etcd could not be told the guest is "
		      "back here";
	} else if (s->p.etcd && !s->fenced) {
		why = "whether the guest's location in etcd moved is unknown";
	}
	s->phase = MIGR_PHASE_UNDECIDED;
	account_blackout(s, migr__now_us());
	migr__text(res->state_text, sizeof(res->state_text),
		   "outcome unknown after GO (%s): the source keeps %s suspended until "
		   "`migr resolve %s %s HOST` (or migrd's recovery) settles it",
		   why ? why : migr_strerror(rc), s->away, res->id, s->di.name);
	migr__log(s->p.lg, XTL_ERROR, "domain %u: %s", s->domid, res->state_text);
	return -MIGR_E_UNDECIDED;
}

int migr__drive(struct migr_hv *hv, uint32_t domid, struct migr_conn *c,
		const struct migr_send_params *params, struct migr_result *res,
		const struct migr__dialect *d)
{
	struct migr__send s;
	struct migr_conn_stats cs;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	migr__send_init(&s, hv, domid, c, params, res);
	s.d = d;
	s.rec_lock = -1;
	s.acode = MIGR_ABORT_OTHER;
	s.io_timeout_ms = migr_conn_set_io_timeout(c, 0);
	migr_conn_set_io_timeout(c, s.io_timeout_ms);
	res->src_domid = domid;

	for (unsigned int i = 0; i < sizeof(steps) / sizeof(steps[0]) && !rc; i++) {
		rc = migr__fault(s.p.faults, steps[i].point, c, s.p.lg);
		if (!rc && steps[i].run) {
			uint64_t t0 = migr__now_us();

			rc = steps[i].run(&s);
			migr__log(s.p.lg, XTL_DETAIL, "domain %u: step %s: %.1f ms%s", domid,
				  steps[i].name, (double)(migr__now_us() - t0) / 1000.0,
				  rc ? " (failed)" : "");
		}
		if (rc && rc != -MIGR_E_CRASHED && s.done)
			rc = 0;   /* the guest runs on the target: the rest is bookkeeping */
	}
	if (rc == -MIGR_E_CRASHED) {
		s.crashed = true;
	} else if (rc) {
		rc = unwind(&s, rc);
	}
	migr_conn_blackout(c, false);   /* resumed here, or left undecided: no longer held */
	if (!rc && s.done) {
		migr__fwdm_adopt(s.fwd);    /* goes on until the fabric has rerouted */
	} else {
		migr__fwdm_abandon(s.fwd);
		if (s.done && res->fwd.state == MIGR_FWDS_ENDED)
			snprintf(res->fwd.why, sizeof(res->fwd.why), "removed at the driver's end");
	}
	s.fwd = NULL;
	if (!rc)
		migr__text(res->state_text, sizeof(res->state_text),
			   "%s runs on the target (domain %u)", s.di.name, res->dst_domid);
	migr_conn_stats(c, &cs);
	res->wire_bytes = cs.wire_out;
	res->zero_bytes = cs.stream_zero_out;
	res->compressed_bytes = cs.stream_cz_out;
	res->compress_saved_bytes = cs.stream_cz_out - cs.stream_cz_wire_out;
	res->compress = s.p.compress;
	res->compress_windows = cs.cz_windows;
	res->compress_on_windows = cs.cz_on_windows;
	res->cpu_paced_us = cs.cpu_paced_ns / 1000;
	res->total_us = migr__now_us() - s.t_start;
	res->phase = s.phase;
	if (!s.crashed)
		migr__send_report(&s);
	migr__send_fini(&s);
	if (s.rec_lock >= 0)
		close(s.rec_lock);
	free(s.json);
	return rc;
}

int migr_migrate(struct migr_hv *hv, uint32_t domid, struct migr_conn *c,
		 const struct migr_send_params *params, struct migr_result *res)
{
	return migr__drive(hv, domid, c, params, res, &dialect_migr);
}

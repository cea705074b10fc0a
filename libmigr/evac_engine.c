/*
 * evac_engine.c: the evacuation's production glue over the engine's public API: local
 * guests from the hypervisor seam and xenstore, target figures from the target's migr
 * receiver, and the migrate function that runs one migration with migr_migrate().
 *
 * Entry points: migr_evac_list_guests(), migr_evac_probe_target(),
 * migr_evac_engine_migrate(). No Xen headers: hv.h, transport.h and proto.h only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "libmigr.h"
#include "util.h"


/* Reads dom0's policy/NAME/LEAF into out ("" if absent or outside the grammar). */
static void read_policy(struct migr_xs *xs, const struct migr_schema *schema, const char *name,
			const char *leaf, char *out, size_t outlen, bool *present_r)
{
	char path[256], *v = NULL;
	size_t len = 0;

	out[0] = 0;
	if (present_r)
		*present_r = false;
	snprintf(path, sizeof(path), "/local/domain/0/migr/policy/%s/%s", name, leaf);
	if (xs->ops->read(xs, path, &v, &len))
		return;
	if (present_r)
		*present_r = true;
	if (len < outlen && !memchr(v, 0, len) &&
	    (!schema || migr_schema_check_value(schema, path, v, len) == MIGR_SCHEMA_OK)) {
		memcpy(out, v, len);
		out[len] = 0;
	}
	free(v);
}

int migr_evac_list_guests(struct migr_hv *hv, struct migr_xs *xs,
			  const struct migr_schema *schema,
			  struct migr_plan_guest **guests_r, unsigned int *n_r)
{
	struct migr_plan_guest *g = NULL;
	struct migr_host_info hi;
	char **names = NULL;
	unsigned n = 0, k = 0;
	int rc;

	rc = hv->ops->host_info(hv, &hi);
	if (rc)
		return rc;
	rc = xs->ops->directory(xs, "/local/domain", &names, &n);
	if (rc)
		return rc;
	g = calloc(n ? n : 1, sizeof(*g));
	if (!g) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < n && k < MIGR_PLAN_MAX_GUESTS; i++) {
		struct migr_dom_info di;
		struct migr_plan_guest *e = &g[k];
		unsigned long id;
		char *end;
		const char *why = NULL;
		bool pinned;

		errno = 0;
		id = strtoul(names[i], &end, 10);
		if (errno || *end || id == 0 || id > 32751 || names[i][0] == '0')
			continue;
		if (hv->ops->domain_info(hv, id, &di))
			continue;               /* gone meanwhile */
		if (di.dying || !di.name[0] || migr__ends_with(di.name, MIGR_SUFFIX_INCOMING))
			continue;
		memset(e, 0, sizeof(*e));
		if (migr__ends_with(di.name, MIGR_SUFFIX_AWAY)) {
			/* the only copy of a guest whose migration is not decided yet: the host
			 * is not empty while it is here */
			snprintf(e->name, sizeof(e->name), "%s", di.name);
			e->domid = id;
			e->mem_kib = di.max_mem_kib > di.mem_kib ? di.max_mem_kib : di.mem_kib;
			e->vcpus = di.vcpus;
			snprintf(e->why_not, sizeof(e->why_not), "suspended copy of a migration not "
				 "decided yet: settle it first (migr status, migr resolve)");
			k++;
			continue;
		}
		snprintf(e->name, sizeof(e->name), "%s", di.name);
		e->domid = id;
		e->mem_kib = di.max_mem_kib > di.mem_kib ? di.max_mem_kib : di.mem_kib;
		e->vcpus = di.vcpus;
		read_policy(xs, schema, di.name, "group", e->group, sizeof(e->group), NULL);
		read_policy(xs, schema, di.name, "pin", e->why_not, sizeof(e->why_not), &pinned);
		e->migratable = true;
		if (pinned) {
			e->migratable = false;
			if (!e->why_not[0])
				snprintf(e->why_not, sizeof(e->why_not), "pinned by policy");
		} else if (migr_hv_can_send(&hi, di.type, &why)) {
			e->migratable = false;
			snprintf(e->why_not, sizeof(e->why_not), "%s", why ? why : "unsupported");
		} else if (di.shutdown || di.paused) {
			e->migratable = false;
			snprintf(e->why_not, sizeof(e->why_not), "%s",
				 di.shutdown ? "shut down (not running)" : "paused");
		}
		k++;
	}
	*guests_r = g;
	*n_r = k;
	g = NULL;
	rc = 0;
out:
	free(g);
	free(names);
	return rc;
}

int migr_evac_probe_target(const char *host, const struct migr_transport_opts *topts,
			   const char *xen_version, const char *fence_self,
			   struct migr_plan_target *t)
{
	struct migr_conn *c = NULL;
	struct migr_msg m, r;
	struct migr_id id;
	char err[MIGR_ERR_MAX];
	bool accepted;
	int rc;

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", host);
	migr_msg_init(&r, MIGR_MSG_HELLO);
	rc = migr_connect(host, topts, &c, err, sizeof(err));
	if (rc) {
		snprintf(t->why_unreachable, sizeof(t->why_unreachable), "%.150s", err);
		return 0;
	}
	/* Version 1: PREFLIGHT alone is answered (from version 2 the target waits for CONFIG
	 * before it answers, and a probe has none to send). */
	rc = migr_id_new(&id);
	migr_msg_hello(&m, MIGR_PURPOSE_MIGRATE, &id);
	m.hello.version = 1;
	snprintf(m.hello.software, sizeof(m.hello.software), "migr %s probe", migr_version());
	rc = rc ?: migr_msg_send(c, &m);
	rc = rc ?: migr_msg_expect(c, MIGR_MSG_HELLO, &r);
	migr_msg_release(&r);
	if (rc)
		goto fail;
	migr_msg_init(&m, MIGR_MSG_PREFLIGHT);
	snprintf(m.preflight.name, sizeof(m.preflight.name), "migr-probe");
	/* More than any host has: always refused (NOMEM), with the target's figures. */
	m.preflight.memory_kib = 1ull << 40;
	m.preflight.vcpus = 1;
	m.preflight.guest_type = MIGR_WIRE_GUEST_PVH;
	snprintf(m.preflight.xen_version, sizeof(m.preflight.xen_version), "%s",
		 xen_version && xen_version[0] ? xen_version : "0.0");
	if (fence_self)
		snprintf(m.preflight.fence_source, sizeof(m.preflight.fence_source), "%s",
			 fence_self);
	rc = migr_msg_send(c, &m);
	migr_msg_init(&r, MIGR_MSG_PREFLIGHT_REPLY);
	rc = rc ?: migr_msg_expect(c, MIGR_MSG_PREFLIGHT_REPLY, &r);
	if (rc)
		goto fail;
	/* Read the reply before releasing it (release clears it). */
	t->free_kib = r.preflight_reply.free_kib;
	accepted = r.preflight_reply.accept;
	if (!accepted) {
		/* Any refusal but for memory means it cannot take this host's guests at all. */
		t->reachable = r.preflight_reply.refuse == MIGR_REFUSE_NOMEM;
		if (!t->reachable)
			snprintf(t->why_unreachable, sizeof(t->why_unreachable), "target refuses: "
				 "%.60s%s%.80s", migr_refuse_name(r.preflight_reply.refuse),
				 r.preflight_reply.reason[0] ? ": " : "", r.preflight_reply.reason);
	}
	migr_msg_release(&r);
	if (!accepted)
		goto out;
	t->reachable = true;
	/* A receiver that accepted a probe: tell it we are not coming. */
	migr_msg_send_abort(c, MIGR_ABORT_CANCELLED, "capacity probe");
	goto out;
fail:
	snprintf(t->why_unreachable, sizeof(t->why_unreachable), "%.150s",
		 migr_conn_error(c) ? migr_conn_error(c) : migr_strerror(rc));
out:
	migr_conn_close(c);
	return 0;
}

struct engine_attempt {
	struct migr_evac_attempt *a;
	uint64_t guest_pages;
	uint64_t precopy_start_us;          /* first report of pre-copy (since the start) */
	struct migr_roundlog *log;          /* NULL: none kept */
};

static void engine_progress(const struct migr_progress *p, void *arg)
{
	struct engine_attempt *ea = arg;
	struct migr_evac_progress ep;

	if (ea->log)
		migr_roundlog_progress(ea->log, p);
	if (p->phase == MIGR_PHASE_PRECOPY && !ea->precopy_start_us)
		ea->precopy_start_us = p->elapsed_us ? p->elapsed_us : 1;
	memset(&ep, 0, sizeof(ep));
	ep.phase = p->phase;
	ep.round = p->round;
	ep.elapsed_us = p->elapsed_us;
	ep.sent_bytes = p->sent_bytes;
	ep.wire_bytes = p->wire_bytes;
	ep.held_us = p->held_us;
	ep.remaining_bytes = p->remaining_pages * 4096u;
	ep.dirty_rate_pps = p->dirty_rate_pps;
	ep.bandwidth_Bps = p->bandwidth_Bps;
	ep.predicted_blackout_us = p->predicted_blackout_us;
	migr_evac_report_progress(ea->a, &ep);
}

int migr_evac_engine_migrate(void *arg, struct migr_evac_attempt *a,
			     struct migr_evac_outcome *out)
{
	struct migr_evac_engine *eng = arg;
	struct migr_hv *hv = NULL;
	struct migr_conn *c = NULL;
	struct migr_send_params sp;
	struct migr_result res;
	struct engine_attempt ea = { a, 0, 0, NULL };
	struct migr_dom_info di;
	char err[MIGR_ERR_MAX];
	int rc;

	memset(&res, 0, sizeof(res));
	rc = eng->hv_open ? eng->hv_open(eng->hv_open_arg, &hv) : migr_hv_xen_open(eng->lg, &hv);
	if (rc) {
		snprintf(out->reason, sizeof(out->reason), "cannot open the hypervisor: %s; "
			 "guest untouched", migr_strerror(rc));
		return rc == -ENOENT ? -EIO : rc;
	}
	/* The guest must still be the one planned (a domid can be reused). */
	rc = hv->ops->domain_info(hv, a->guest->domid, &di);
	if (rc || strcmp(di.name, a->guest->name)) {
		snprintf(out->reason, sizeof(out->reason), "guest %s (domid %u) no longer exists",
			 a->guest->name, a->guest->domid);
		rc = -ENOENT;
		goto out;
	}
	if (*a->cancel) {
		snprintf(out->reason, sizeof(out->reason), "cancelled; guest untouched");
		rc = -MIGR_E_ABORTED;
		goto out;
	}
	rc = migr_connect(a->target->name, eng->topts, &c, err, sizeof(err));
	if (rc) {
		snprintf(out->reason, sizeof(out->reason), "cannot reach %.50s: %.70s; guest untouched",
			 a->target->name, err);
		goto out;
	}
	if (eng->report_dir && (ea.log = malloc(sizeof(*ea.log))))
		migr_roundlog_init(ea.log);
	migr_send_params_init(&sp);
	if (a->downtime_ms)
		sp.policy.downtime_ms = a->downtime_ms;
	if (eng->suspend_timeout_ms)
		sp.suspend_timeout_ms = eng->suspend_timeout_ms;
	if (eng->throttle_max_pct) {
		sp.policy.allow_throttle = 1;
		sp.policy.max_throttle_pct = eng->throttle_max_pct;
	}
	sp.progress = engine_progress;
	sp.progress_arg = &ea;
	sp.lg = eng->lg;
	sp.target = a->target->name;
	sp.record_dir = eng->record_dir;
	sp.no_forward = eng->no_forward;
	sp.compress = eng->compress;
	sp.no_cpu_guard = eng->no_cpu_guard;
	sp.forward_quiet_ms = eng->forward_quiet_ms;
	sp.forward_max_ms = eng->forward_max_ms;
	sp.etcd = eng->etcd;
	sp.fence_self = eng->fence_self;
	rc = migr_migrate(hv, a->guest->domid, c, &sp, &res);
	if (rc == -MIGR_E_UNDECIDED && res.id[0]) {
		/* the target decides: ask it now, as `migr migrate` does, rather than leave the
		 * guest suspended here until someone runs `migr resolve` */
		struct migr_resolve_params rp = { .record_dir = eng->record_dir, .lg = eng->lg,
						  .etcd = eng->etcd, .fence_self = eng->fence_self };
		uint32_t outcome = MIGR_OUTCOME_UNKNOWN;
		char state[200] = "";
		int rrc;

		migr_conn_close(c);
		c = NULL;
		rrc = migr_resolve_ask(hv, a->target->name, eng->topts, res.id, a->guest->name,
				       &rp, 5, &outcome, state, sizeof(state), NULL, NULL);
		migr__log(eng->lg, rrc ? XTL_ERROR : XTL_NOTICE, "migration %s of %s: undecided "
			  "after GO; the target asked: %s", res.id, a->guest->name, state);
		if (rrc == 0 && outcome == MIGR_OUTCOME_RUNNING)
			rc = 0;
		else if (rrc == 0) {
			rc = -MIGR_E_ABORTED;
			snprintf(res.state_text, sizeof(res.state_text), "undecided after GO, then "
				 "settled: %.200s", state);
		} else
			snprintf(res.state_text, sizeof(res.state_text), "undecided after GO, the "
				 "target asked 5 times: %.200s", state);
	}
	snprintf(out->migration_id, sizeof(out->migration_id), "%s", res.id);
	out->target_domid = res.dst_domid;
	out->rounds = res.rounds;
	out->bytes = res.wire_bytes ? res.wire_bytes : res.stream_bytes;
	out->total_us = res.total_us;
	out->blackout_us = res.blackout_us;
	out->predicted_blackout_us = res.predicted_blackout_us;
	out->fixed_us = res.fixed_us;
	out->fixed_restore_from = res.fixed_restore_from;
	out->suspend_us = res.suspend_us;
	out->final_send_us = res.final_send_us;
	out->restore_tail_us = res.restore_tail_us;
	out->devices_us = res.devices_us;
	out->handshake_us = res.handshake_us;
	out->unpause_us = res.unpause_us;
	out->net_back_us = res.net_back_us;
	out->net_back_known = res.vifs && res.vifs_connected == res.vifs;
	out->first_frame_us = out->net_back_known ? res.first_frame_us : 0;
	/* what was forwarded by the migration's end (forwarding goes on after it) */
	out->fwd_known = res.fwd.state == MIGR_FWDS_RUNNING || res.fwd.state == MIGR_FWDS_ENDED;
	out->fwd_packets = res.fwd.packets;
	out->throttle_max_pct = res.throttle_max_pct;
	out->cpu_share_min_pct = res.cpu_share_min_pct;
	out->guest_cpu_before_pct = res.guest_cpu_before_pct;
	out->guest_cpu_precopy_pct = res.guest_cpu_precopy_pct;
	out->precopy_us = res.precopy_us;
	out->preflight_us = ea.precopy_start_us;
	out->refused = res.refused;
	if (ea.log) {
		int wrc;

		migr_roundlog_result(ea.log, &res, rc, a->target->name);
		wrc = res.id[0] ? migr_roundlog_write(eng->report_dir, ea.log) : 0;
		if (wrc)
			migr__log(eng->lg, XTL_WARN, "migration %s: cannot keep its round log in "
				  "%s: %s, ignoring", res.id, eng->report_dir, migr_strerror(wrc));
	}
	if (rc)
		snprintf(out->reason, sizeof(out->reason), "%.150s",
			 res.state_text[0] ? res.state_text : migr_strerror(rc));
out:
	free(ea.log);
	migr_conn_close(c);
	migr_hv_close(hv);
	return rc;
}

static int prod_list(void *arg, struct migr_plan_guest **g_r, unsigned int *n_r)
{
	struct migr_evac_prod *p = arg;

	return migr_evac_list_guests(p->hv, p->xs, p->schema, g_r, n_r);
}

static int prod_probe(void *arg, const char *host, struct migr_plan_target *t)
{
	struct migr_evac_prod *p = arg;
	struct migr_host_info hi;
	char ver[64] = "";

	if (p->hv && p->hv->ops->host_info(p->hv, &hi) == 0)
		snprintf(ver, sizeof(ver), "%u.%u%s", hi.xen_major, hi.xen_minor, hi.xen_extra);
	return migr_evac_probe_target(host, p->engine.topts, ver,
				      p->engine.etcd ? p->engine.fence_self : NULL, t);
}

void migr_evac_prod_hooks(struct migr_evac_prod *p, struct migr_evacd_config *cfg)
{
	cfg->list_guests = prod_list;
	cfg->probe = prod_probe;
	cfg->hook_arg = p;
	cfg->migrate = migr_evac_engine_migrate;
	cfg->migrate_arg = &p->engine;
}

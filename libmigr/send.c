/*
 * send.c: the source's core, shared by both source drivers: stream one live guest into
 * a connection with migr's pre-copy policy, its PEEK sampler, and the guest's suspend.
 *
 * Entry points (send_int.h): migr__send_init(), migr__send_stream(), migr__send_backout(),
 * migr__send_report(), migr__send_fini(); migr_send_params_init() (migr/migrate.h).
 *
 * The stream (see send_stream.c for the bytes): libxl header, LIBXC_CONTEXT, the libxc
 * stream written by ops->save() (xc_domain_save() on Xen), END. All of it goes into the
 * connection's stream face, whose pump carries it and counts its bytes.
 *
 * Pre-copy: ops->save() calls on_precopy() at libxenguest's two decision points per round
 * (FACTS.md, migr/policy.h). Each call is turned into a struct migr_policy_stats with the
 * measured time and bytes of the round and the PEEK samples taken during it, fed to
 * migr_policy_decide(), reported to the progress callback and returned as it is.
 *
 * Sampler: a thread that, while a round's live send runs, reads the dirty count with
 * ops->peek_dirty() (PEEK, NULL bitmap) every peek_interval_ms at the round's start, less
 * often as the round ages (sampler_wait_ms()). Each PEEK briefly pauses the guest, so the
 * rate stays modest; one more PEEK is taken at call B, so the last
 * sample is the blackout set if the policy stops there. The same thread reports progress
 * once a second inside a round (a round 0 of a large guest lasts minutes on a slow link,
 * and whoever watches it learnt nothing meanwhile), PEEK or not; reports never overlap
 * (progress_mu).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "send_int.h"
#include "fwd_mig.h"

void migr_send_params_init(struct migr_send_params *p)
{
	memset(p, 0, sizeof(*p));
	migr_policy_params_init(&p->policy);
	p->suspend_timeout_ms = 60000;
	p->peek_interval_ms = 50;
}

static void guard_begin(struct migr__send *s);

void migr__send_init(struct migr__send *s, struct migr_hv *hv, uint32_t domid,
		     struct migr_conn *c, const struct migr_send_params *p,
		     struct migr_result *res)
{
	memset(s, 0, sizeof(*s));
	s->hv = hv;
	s->domid = domid;
	s->c = c;
	if (p)
		s->p = *p;
	else
		migr_send_params_init(&s->p);
	s->res = res;
	s->phase = MIGR_PHASE_INIT;
	s->t_start = migr__now_us();
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_mutex_init(&s->progress_mu, NULL);
	migr_policy_init(&s->pol, &s->p.policy);
	guard_begin(s);
}

/* A figure the target sent, at most 10 s. */
static uint64_t target_figure(uint64_t us)
{
	return us > 10000000 ? 10000000 : us;
}

void migr__send_target_fixed(struct migr__send *s, uint64_t history_us, uint64_t estimate_us)
{
	s->target_history_us = target_figure(history_us);
	s->target_estimate_us = target_figure(estimate_us);
}

void migr__send_peer_fixed(struct migr__send *s, uint64_t suspend_us, uint64_t final_us,
			   uint64_t handshake_us)
{
	s->peer_suspend_us = target_figure(suspend_us);
	s->peer_final_us = target_figure(final_us);
	s->peer_handshake_us = target_figure(handshake_us);
}

/*
 * Before the first round: the part of the blackout no round shortens (suspend, handshake,
 * the target's restore tail and unpause), from the target's restore history, else this
 * host's own last blackouts, else the target's estimate from the guest's devices, else
 * this host's own estimate from the guest's configuration; the suspend, the final send's
 * fixed part and the handshake from this host's own last migrations, else the target's
 * own migrations out, else the lab's figures (migr_fixed_estimate()). Without it a first
 * migration between fresh hosts predicted the policy's 50 ms default for a blackout of
 * a second.
 */
void migr__send_fixed(struct migr__send *s)
{
	const char *dir = migr__send_rec_dir(s);
	struct migr_fixed_inputs in = {
		.target_history_us = s->target_history_us,
		.target_estimate_us = s->target_estimate_us,
		.own_suspend_us = migr__history_median(dir, MIGR__SRC_SUSPEND_HISTORY),
		.own_blackouts_us = migr__history_median(dir, MIGR__SRC_HISTORY),
		.own_final_us = migr__history_median(dir, MIGR__SRC_FINAL_HISTORY),
		.own_handshake_us = migr__history_median(dir, MIGR__SRC_HANDSHAKE_HISTORY),
		.peer_suspend_us = s->peer_suspend_us,
		.peer_final_us = s->peer_final_us,
		.peer_handshake_us = s->peer_handshake_us,
	};
	struct migr_restore_devices d;
	struct migr_fixed_estimate e;
	struct migr_result *r = s->res;

	if (s->json && !migr_config_devices(s->json, &d))
		in.own_estimate_us = migr_restore_estimate_us(&d);
	migr_fixed_estimate(&in, &e);
	if (e.fixed_us > s->p.policy.blackout_fixed_us)
		s->p.policy.blackout_fixed_us = e.fixed_us > UINT32_MAX ? UINT32_MAX :
						(uint32_t)e.fixed_us;
	r->fixed_us = s->p.policy.blackout_fixed_us;
	/* the guest runs (unthrottled) through its suspend: what it dirties then is sent */
	s->p.policy.suspend_us = e.suspend_us > UINT32_MAX ? UINT32_MAX : (uint32_t)e.suspend_us;
	r->fixed_suspend_us = e.suspend_us;
	r->fixed_restore_us = e.restore_us;
	r->fixed_final_us = e.final_us;
	r->fixed_handshake_us = e.handshake_us;
	r->fixed_suspend_from = e.suspend_from;
	r->fixed_final_from = e.final_from;
	r->fixed_handshake_from = e.handshake_from;
	r->fixed_restore_from = e.restore_from;
	r->restore_hint_us = e.restore_from == MIGR_FIXED_HISTORY ? in.target_history_us : 0;
	r->own_hint_us = e.restore_from == MIGR_FIXED_OWN_BLACKOUTS ? in.own_blackouts_us : 0;
	r->restore_estimate_us = e.restore_from == MIGR_FIXED_TARGET_ESTIMATE ?
				 in.target_estimate_us :
				 e.restore_from == MIGR_FIXED_OWN_ESTIMATE ? in.own_estimate_us : 0;
	migr_policy_init(&s->pol, &s->p.policy);
	migr__log(s->p.lg, XTL_DETAIL, "domain %u: the blackout's fixed part is taken as %.1f ms: "
		  "suspend %.1f (%s), final send beyond its pages %.1f (%s), handshake %.1f (%s), "
		  "restore tail and unpause %.1f (%s)",
		  s->domid, r->fixed_us / 1000.0, e.suspend_us / 1000.0,
		  migr_fixed_from_name(e.suspend_from), e.final_us / 1000.0,
		  migr_fixed_from_name(e.final_from), e.handshake_us / 1000.0,
		  migr_fixed_from_name(e.handshake_from),
		  e.restore_us / 1000.0, migr_fixed_from_name(e.restore_from));
}

void migr__send_fini(struct migr__send *s)
{
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->progress_mu);
}

/* The stream's bytes so far, zero runs included: the policy's bandwidth is the rate at
 * which pages go, whatever part of them crossed as ZERO frames (a rate of the bytes that
 * crossed would price every page of the last round at 4 KiB over the link, and keep a
 * guest whose dirty pages are often zero in pre-copy round after round). */
static uint64_t stream_bytes(struct migr__send *s)
{
	struct migr_conn_stats st;

	migr_conn_stats(s->c, &st);
	return st.stream_out;
}

/* The time the sending pump has waited to keep to its CPU share, in us. */
static uint64_t paced_us(struct migr__send *s)
{
	struct migr_conn_stats st;

	if (!s->c)
		return 0;
	migr_conn_stats(s->c, &st);
	return st.cpu_paced_ns / 1000;
}

static uint64_t wire_bytes(struct migr__send *s)
{
	struct migr_conn_stats st;

	if (!s->c)
		return 0;
	migr_conn_stats(s->c, &st);
	return st.wire_out;
}

const char *migr__send_rec_dir(const struct migr__send *s)
{
	return s->p.record_dir ? s->p.record_dir : MIGR_SRC_STATE_DIR;
}

/* ---- the throttle: the policy's slow-down as the guest's CPU cap ---- */

/* The cap for a slow-down of pct: the guest keeps (100 - pct)% of each vCPU. */
static unsigned int cap_for(const struct migr__send *s, unsigned int pct)
{
	unsigned int vcpus = s->di.vcpus ? s->di.vcpus : 1, keep = 100 - (pct > 99 ? 99 : pct);

	return keep * vcpus;
}

/*
 * Applies the policy's slow-down. The first time, the cap the guest had goes into the
 * record before any cap is set, so that a source that dies here leaves what migrd's
 * recovery puts back (migr_recover_source()).
 */
static void throttle_set(struct migr__send *s, unsigned int pct)
{
	unsigned int cap, before;
	int rc;

	if (pct == s->throttle_pct || !s->hv->ops->cpu_cap || !s->recorded)
		return;
	if (!pct) {
		migr__throttle_off(s);
		return;
	}
	if (!s->rec.throttled) {
		rc = s->hv->ops->cpu_cap(s->hv, s->domid, NULL, &before);
		if (!rc) {
			s->rec.throttled = 1;
			s->rec.cap_before = before;
			rc = migr_src_record_write(migr__send_rec_dir(s), &s->rec);
		}
		if (rc) {
			s->rec.throttled = 0;
			migr__log(s->p.lg, XTL_WARN, "domain %u: not throttled (%s)", s->domid,
				  migr_strerror(rc));
			return;
		}
	}
	cap = cap_for(s, pct);
	/* a cap of its own the guest had stays the tighter one */
	if (s->rec.cap_before && s->rec.cap_before < cap)
		cap = (unsigned int)s->rec.cap_before;
	rc = s->hv->ops->cpu_cap(s->hv, s->domid, &cap, &before);
	if (rc) {
		migr__log(s->p.lg, XTL_WARN, "domain %u: throttle to %u%% not applied (%s)",
			  s->domid, pct, migr_strerror(rc));
		return;
	}
	s->throttle_pct = pct;
	atomic_store(&s->capped, true);
	if (pct > s->res->throttle_max_pct)
		s->res->throttle_max_pct = pct;
	migr__log(s->p.lg, XTL_INFO, "domain %u: throttled %u%% (CPU cap %u)", s->domid, pct, cap);
}

void migr__throttle_off(struct migr__send *s)
{
	unsigned int cap, now;
	int rc;

	if (!s->rec.throttled || !s->hv->ops->cpu_cap)
		return;
	cap = (unsigned int)s->rec.cap_before;
	rc = s->hv->ops->cpu_cap(s->hv, s->domid, &cap, &now);
	if (rc) {
		migr__log(s->p.lg, XTL_ERROR, "domain %u: could not take the throttle off (%s); "
			  "the record keeps the cap to put back", s->domid, migr_strerror(rc));
		return;
	}
	s->throttle_pct = 0;
	atomic_store(&s->capped, false);
	s->rec.throttled = 0;
	s->rec.cap_before = 0;
	if (s->recorded && migr_src_record_write(migr__send_rec_dir(s), &s->rec))
		migr__log(s->p.lg, XTL_WARN, "domain %u: throttle off, but the record still says "
			  "on (recovery puts the same cap back)", s->domid);
}

/* The figures of now: the time, the guest's size, the bytes so far, the time held. */
static void progress_now(struct migr__send *s, struct migr_progress *pr)
{
	pr->elapsed_us = migr__now_us() - s->t_start;
	pr->guest_pages = s->guest_pages;
	pr->sent_bytes = s->c ? stream_bytes(s) : 0;
	pr->wire_bytes = wire_bytes(s);
	pr->held_us = migr_conn_gate_held_us(s->c);
}

void migr__send_report(struct migr__send *s)
{
	struct migr_progress pr;

	if (!s->p.progress)
		return;
	memset(&pr, 0, sizeof(pr));
	pr.phase = s->phase;
	pr.round = s->res->rounds;
	pr.sent_pages = s->res->pages_live;
	progress_now(s, &pr);
	pthread_mutex_lock(&s->progress_mu);
	s->p.progress(&pr, s->p.progress_arg);
	pthread_mutex_unlock(&s->progress_mu);
}

/* ---- the PEEK sampler ------------------------------------------------------------------ */

/* Called with s->lock held. */
static void take_sample(struct migr__send *s)
{
	uint64_t dirty;

	if (s->hv->ops->peek_dirty(s->hv, s->domid, &dirty))
		return;
	if (s->n_samples == MIGR__MAX_SAMPLES) {
		/* keep every other sample: the span stays covered at half the resolution */
		for (size_t i = 0; i < MIGR__MAX_SAMPLES / 2; i++)
			s->samples[i] = s->samples[2 * i + 1];
		s->n_samples = MIGR__MAX_SAMPLES / 2;
	}
	s->samples[s->n_samples].time_us = migr__now_us() - s->t_precopy0;
	s->samples[s->n_samples].dirty_pages = dirty;
	s->n_samples++;
}

/* Called with s->lock held, drops it meanwhile: a report inside round `round`. */
static void tick_report(struct migr__send *s, unsigned int round)
{
	struct migr_progress pr;

	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&s->progress_mu);
	pr = s->last_pr;
	pr.phase = MIGR_PHASE_PRECOPY;
	pr.round = round;
	pr.round_end = false;
	pr.in_round = true;
	pr.round_pages = pr.round_bytes = pr.round_us = 0;
	pr.decision = 0;
	progress_now(s, &pr);
	s->p.progress(&pr, s->p.progress_arg);
	pthread_mutex_unlock(&s->progress_mu);
	pthread_mutex_lock(&s->lock);
}

/*
 * The sampler's next wait, with s->lock held: peek_interval_ms at a round's start, then
 * 1/SAMPLE_SPREAD of the round's age, at most a second (the progress ticks). The samples of
 * a round are spaced evenly in the logarithm of time: dense where W (pages dirtied since
 * the CLEAN) bends, sparse where a long round has long since flattened it. A round 0 of
 * 30 s takes some 80 samples rather than 600: each PEEK pauses the guest and wakes a dom0
 * vCPU that the guest shares its CPU with.
 */
#define SAMPLE_SPREAD 16
static unsigned int sampler_wait_ms(const struct migr__send *s)
{
	uint64_t age_ms;
	unsigned int every;

	if (!s->peek)
		return 1000;
	every = s->p.peek_interval_ms;
	age_ms = s->in_round ? (migr__now_us() - s->sample_t0_us) / 1000 : 0;
	if (age_ms / SAMPLE_SPREAD > every)
		every = (unsigned int)(age_ms / SAMPLE_SPREAD < 1000 ? age_ms / SAMPLE_SPREAD : 1000);
	return every;
}

/* ---- the CPU guard (cpu_guard.h) --------------------------------------------------------- */

static const char *share_text(unsigned int pct, char *buf, size_t n)
{
	if (!pct)
		return "none";
	snprintf(buf, n, "%u%%", pct);
	return buf;
}

/* Called with s->lock held: one look at the guest's vCPUs, and the share it decides. */
static void guard_look(struct migr__send *s)
{
	struct migr__guard_window w;
	struct timespec ts;
	unsigned int online;
	uint64_t run;
	char a[16], b[16];

	if (atomic_load(&s->capped)) {
		/* a capped guest loses its CPU to its cap, not to the sender */
		migr__guard_restart(&s->cg);
		return;
	}
	if (s->hv->ops->vcpu_run(s->hv, s->domid, &run, &online) ||
	    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts))
		return;
	s->guard_looks++;
	if (!migr__guard_look(&s->cg, migr__now_ns(),
			      (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec, run, &w))
		return;
	migr_conn_set_cpu_share(s->c, s->cg.share);
	migr__log(s->p.lg, XTL_INFO, "domain %u: CPU guard: the guest ran %u%% of a CPU (%.0f%% "
		  "of its rate before lost), the sender took %u%%: its share %s -> %s%s",
		  s->domid, w.guest_pct, w.lost * 100, w.own_pct,
		  share_text(w.from, a, sizeof(a)), share_text(w.to, b, sizeof(b)),
		  w.no_help ? " (the last lowerings did not help: the floor from now on)" : "");
}

/*
 * The guard's rate before (the driver's start: migr__send_init): two readings of the
 * guest's CPU MIGR__GUARD_BASE_NS apart, before the sender does anything, when the guard is
 * to decide. The migration's own start (the hello, the preflight, libxl's configuration) loads a
 * dom0 that shares the guest's CPUs: over it, the lab's guest ran 20-26% of a CPU against
 * 58-62% over the 12 s before (make bench-lab), and a guard that took that for the rate
 * before saw no loss in a pre-copy that cut the guest to a third. Only watching (a fixed
 * share, or none): the first reading here, the second when the pre-copy starts, no wait.
 */
static void guard_begin(struct migr__send *s)
{
	struct timespec ts = { 0, (long)MIGR__GUARD_BASE_NS };
	unsigned int online;
	uint64_t run;

	s->guard_t0_ns = s->guard_t1_ns = 0;
	if (!s->hv->ops->vcpu_run ||
	    s->hv->ops->vcpu_run(s->hv, s->domid, &s->guard_run0_ns, &online))
		return;
	s->guard_t0_ns = migr__now_ns();
	if (s->p.no_cpu_guard || !s->c)
		return;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	if (s->hv->ops->vcpu_run(s->hv, s->domid, &run, &online)) {
		s->guard_t0_ns = 0;
		return;
	}
	s->guard_t1_ns = migr__now_ns();
	s->guard_run1_ns = run;
}

/* The guest's CPU rate before the pre-copy, from guard_begin()'s readings (watching only:
 * from its first reading to now). false: no readings (the guard off, or only watching:
 * s->cg.watch_only). */
static bool guard_baseline(struct migr__send *s)
{
	unsigned int online;
	uint64_t run, now;

	if (!s->guard_t0_ns || !s->c)
		return false;
	s->cg.watch_only = s->p.no_cpu_guard;
	if (s->guard_t1_ns) {
		now = s->guard_t1_ns;
		run = s->guard_run1_ns;
	} else {
		if (s->hv->ops->vcpu_run(s->hv, s->domid, &run, &online))
			return false;
		now = migr__now_ns();
	}
	migr__guard_baseline(&s->cg, now - s->guard_t0_ns,
			     run >= s->guard_run0_ns ? run - s->guard_run0_ns : 0);
	s->res->guest_cpu_before_pct = (unsigned int)(s->cg.base * 100 + 0.5);
	migr__log(s->p.lg, XTL_DETAIL, "domain %u: CPU guard: the guest ran %u%% of a CPU over "
		  "the %.0f ms %s", s->domid, s->res->guest_cpu_before_pct,
		  (now - s->guard_t0_ns) / 1e6, s->guard_t1_ns ? "before the migration's start" :
		  "before the pre-copy");
	return true;
}

static void *sampler_main(void *arg)
{
	struct migr__send *s = arg;
	unsigned int every, wait;
	struct timespec ts;
	uint64_t now;

	pthread_mutex_lock(&s->lock);
	while (!s->stop_sampler) {
		every = sampler_wait_ms(s);
		wait = s->guard && every > MIGR__GUARD_LOOK_MS ? MIGR__GUARD_LOOK_MS : every;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)wait * 1000000;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		if (s->sampler_kick) {
			s->sampler_kick = false;
			s->peek_next_us = s->sample_t0_us + (uint64_t)s->p.peek_interval_ms * 1000;
			continue;
		}
		if (s->stop_sampler || !s->in_round)
			continue;
		now = migr__now_us();
		if (s->guard)
			guard_look(s);
		/* a PEEK when due (2 ms early is on time: the wait ends late, never early) */
		if (s->peek && now + 2000 >= s->peek_next_us) {
			take_sample(s);
			s->peek_next_us = now + (uint64_t)sampler_wait_ms(s) * 1000;
		}
		if (s->p.progress && now - s->tick_us >= 1000000) {
			s->tick_us = now;
			tick_report(s, s->iteration);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void sampler_start(struct migr__send *s)
{
	s->peek = s->p.peek_interval_ms && s->hv->ops->peek_dirty;
	migr__guard_init(&s->cg);
	s->guard = guard_baseline(s);
	if (!s->peek && !s->p.progress && !s->guard)
		return;
	s->stop_sampler = false;
	if (pthread_create(&s->sampler, NULL, sampler_main, s) == 0)
		s->sampler_running = true;
	else
		migr__log(s->p.lg, XTL_WARN, "domain %u: no PEEK sampler thread, ignoring "
			  "(no samples, no progress inside a round)", s->domid);
}

static void sampler_stop(struct migr__send *s)
{
	if (!s->sampler_running)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop_sampler = true;
	s->in_round = false;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->sampler, NULL);
	s->sampler_running = false;
	if (s->guard) {
		/* the final send is never paced; neither is anything after the pre-copy */
		if (s->cg.changes)
			migr_conn_set_cpu_share(s->c, 0);
		s->res->cpu_share_min_pct = s->cg.min_share;
		s->res->guest_cpu_precopy_pct = migr__guard_guest_pct(&s->cg);
		s->res->guard_looks = s->guard_looks;
	}
}

/* ---- save callbacks ---------------------------------------------------------------------- */

/*
 * A fault point inside the save: an injected crash must look like the process's death to
 * the target (the connection just ends, no ABORT), so the connection is cut here and the
 * driver told through s->crashed.
 */
static int fault(struct migr__send *s, enum migr_fault point, unsigned int round)
{
	int rc = point == MIGR_FI_PRECOPY_ROUND
		 ? migr__fault_round(s->p.faults, round, s->c, s->p.lg)
		 : migr__fault(s->p.faults, point, s->c, s->p.lg);

	if (rc == -MIGR_E_CRASHED) {
		s->crashed = true;
		migr_conn_cut(s->c);
	}
	if (rc && (point == MIGR_FI_PRECOPY_ROUND || s->crashed))
		s->stream_failed = rc;
	return rc;
}

static int on_precopy(const struct migr_precopy_stats *st, void *arg)
{
	struct migr__send *s = arg;
	struct migr_policy_stats ps;
	struct migr_policy_verdict v;
	struct migr_progress pr;
	struct migr_policy_sample samples[MIGR__MAX_SAMPLES];
	uint64_t now = migr__now_us(), bytes = stream_bytes(s);
	bool call_a = st->dirty_count >= 0;
	int action, e;

	/* The pump discards what we write once the connection broke: stop at once rather
	 * than finish pre-copy and suspend the guest for nothing. */
	e = migr_conn_stream_error(s->c);
	if (e) {
		s->stream_failed = e;
		migr__log(s->p.lg, XTL_ERROR, "domain %u: the connection broke during pre-copy: %s",
			  s->domid, migr_strerror(e));
		return MIGR_PRECOPY_ABORT;
	}

	if (!s->started) {
		uint64_t n = call_a ? (uint64_t)st->dirty_count : 0, mem = s->di.mem_kib / 4;

		s->started = true;
		s->t_precopy0 = now;
		/* libxenguest's first N is the p2m's size, which for a PVH or HVM guest spans
		 * the holes below 4 GiB (1,044,480 for a 128 MiB PVH guest); only populated
		 * pages carry data, and their count (the domain's allocation) is what round 0
		 * sends and what the policy must take as the guest's size. */
		s->guest_pages = mem && mem < n ? mem : n;
		s->res->guest_pages = s->guest_pages;
	}
	memset(&ps, 0, sizeof(ps));
	memset(&pr, 0, sizeof(pr));
	ps.iteration = st->iteration;
	ps.total_written = st->total_written;
	ps.dirty_count = st->dirty_count;
	if (call_a && s->guest_pages && (uint64_t)st->dirty_count > s->guest_pages)
		ps.dirty_count = (long)s->guest_pages;     /* round 0: pages, not p2m entries */
	ps.elapsed_us = now - s->t_precopy0;
	ps.page_size = 4096;
	ps.guest_pages = s->guest_pages;
	ps.throttle_pct = s->throttle_pct;

	if (call_a) {
		s->round_start_us = now;
		s->round_n = (uint64_t)ps.dirty_count;
		s->round_bytes0 = bytes;
		s->round_paced0_us = paced_us(s);
		pthread_mutex_lock(&s->lock);
		s->n_samples = 0;
		s->in_round = true;
		s->iteration = st->iteration;
		s->tick_us = now;
		s->sample_t0_us = now;
		s->sampler_kick = true;   /* a wait of the last round's pace would miss the start */
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
	} else {
		pthread_mutex_lock(&s->lock);
		s->in_round = false;
		if (s->sampler_running && s->peek)
			take_sample(s);
		memcpy(samples, s->samples, s->n_samples * sizeof(samples[0]));
		ps.n_samples = s->n_samples;
		pthread_mutex_unlock(&s->lock);
		ps.samples = samples;
		ps.round_pages = s->round_n;
		ps.round_bytes = bytes - s->round_bytes0;
		ps.round_us = now - s->round_start_us;
		ps.round_paced_us = paced_us(s);
		ps.round_paced_us = ps.round_paced_us > s->round_paced0_us ?
				    ps.round_paced_us - s->round_paced0_us : 0;
		s->res->rounds++;
		s->res->pages_live += s->round_n;
		pr.round_end = true;
		pr.round_pages = ps.round_pages;
		pr.round_bytes = ps.round_bytes;
		pr.round_us = ps.round_us;
	}

	if (!call_a && fault(s, MIGR_FI_PRECOPY_ROUND, st->iteration))
		return MIGR_PRECOPY_ABORT;
	action = migr_policy_decide(&s->pol, &ps, &v);
	s->last_action = action;
	s->res->policy_reason = v.reason;
	if (action == MIGR_POLICY_STOP)
		s->res->predicted_blackout_us = v.predicted_blackout_us;
	if (action == MIGR_POLICY_ABORT)
		s->policy_aborted = true;
	if (action == MIGR_POLICY_CONTINUE && s->p.policy.allow_throttle)
		throttle_set(s, v.throttle_pct);

	migr__log(s->p.lg, XTL_DETAIL,
		  "domain %u: round %u %s: N=%ld pages %llu bytes %llu us %llu, bw %llu B/s, "
		  "dirty %llu p/s, remaining %llu, blackout %llu us -> %s (%s)",
		  s->domid, st->iteration, call_a ? "A" : "B", (long)st->dirty_count,
		  (unsigned long long)ps.round_pages, (unsigned long long)ps.round_bytes,
		  (unsigned long long)ps.round_us, (unsigned long long)v.bandwidth_Bps,
		  (unsigned long long)v.dirty_rate_pps, (unsigned long long)v.remaining_pages,
		  (unsigned long long)v.predicted_blackout_us, migr_policy_action_name(action),
		  migr_policy_reason_name(v.reason));

	if (s->p.progress) {
		pr.phase = s->phase;
		pr.round = st->iteration;
		pr.elapsed_us = now - s->t_start;
		pr.guest_pages = s->guest_pages;
		pr.sent_pages = s->res->pages_live;
		pr.sent_bytes = bytes;
		pr.wire_bytes = wire_bytes(s);
		pr.held_us = migr_conn_gate_held_us(s->c);
		pr.remaining_pages = v.remaining_pages;
		pr.dirty_rate_pps = v.dirty_rate_pps;
		pr.bandwidth_Bps = v.bandwidth_Bps;
		pr.predicted_blackout_us = v.predicted_blackout_us;
		pr.decision = action;
		pr.reason = v.reason;
		pr.throttle_pct = s->throttle_pct;
		pthread_mutex_lock(&s->progress_mu);
		s->last_pr = pr;
		s->p.progress(&pr, s->p.progress_arg);
		pthread_mutex_unlock(&s->progress_mu);
	}
	switch (action) {
	case MIGR_POLICY_STOP:     return MIGR_PRECOPY_STOP;
	case MIGR_POLICY_CONTINUE: return MIGR_PRECOPY_CONTINUE;
	default:                   return MIGR_PRECOPY_ABORT;
	}
}

static int on_suspend(void *arg)
{
	struct migr__send *s = arg;
	int rc;

	sampler_stop(s);
	migr__throttle_off(s);   /* the guest stops now; back here or there, it runs uncapped */
	rc = migr_conn_stream_error(s->c);
	if (rc) {
		s->stream_failed = rc;
		migr__log(s->p.lg, XTL_ERROR, "domain %u: the connection broke; not suspending",
			  s->domid);
		return rc;
	}
	/* Reported before the request: the progress callback may be slow (a terminal, a
	 * file), and from the request on the guest is being stopped. */
	s->phase = MIGR_PHASE_SUSPEND;
	migr__send_report(s);
	/* from now on what reaches this host for the guest goes to the target (held there
	 * until the guest's vifs are connected), not to a guest being stopped: set up while
	 * the pre-copy ran, only the filters are added here */
	migr__fwdm_source_begin(s->fwd);
	migr_conn_blackout(s->c, true);   /* the process's other streams hold their sends */
	s->t_suspend_req = migr__now_us();
	s->res->blackout_start_unix_us = migr__realtime_us();
	rc = fault(s, MIGR_FI_SUSPEND, 0);
	if (rc)
		return rc == -EIO ? -ETIMEDOUT : rc;   /* as a guest that does not suspend */
	rc = s->hv->ops->suspend(s->hv, s->domid, s->p.suspend_timeout_ms);
	s->t_suspended = migr__now_us();
	if (rc)
		return rc;
	rc = fault(s, MIGR_FI_SUSPENDED, 0);
	if (rc)
		return rc;
	/* Not reported now: the guest is stopped and the final send goes first. Its report
	 * comes when it has ended (migr__send_stream). */
	s->phase = MIGR_PHASE_FINAL_SEND;
	return 0;
}

/* The compression decision's figures, once per stream (docs/protocol.md, "Compression"). */
static void log_compression(struct migr__send *s, unsigned int stream_flags)
{
	struct migr_conn_stats st;

	if (!(stream_flags & (MIGR_STREAM_COMPRESS | MIGR_STREAM_COMPRESS_ALWAYS)))
		return;
	migr_conn_stats(s->c, &st);
	migr__log(s->p.lg, XTL_INFO, "domain %u: compression %s: %llu of %llu stream bytes sent "
		  "compressed, %llu saved; compressed in %u of %u windows (%u changes); last "
		  "estimates: compressor %.1f MiB/s, ratio %.2f, link %.1f MiB/s", s->domid,
		  stream_flags & MIGR_STREAM_COMPRESS_ALWAYS ? "on" : "auto",
		  (unsigned long long)st.stream_cz_out, (unsigned long long)st.stream_out,
		  (unsigned long long)(st.stream_cz_out - st.stream_cz_wire_out),
		  st.cz_on_windows, st.cz_windows, st.cz_switches, st.cz_c_Bps / 1048576.0,
		  st.cz_ratio_milli / 1000.0, st.cz_link_Bps / 1048576.0);
}

int migr__send_stream(struct migr__send *s, unsigned int stream_flags)
{
	struct migr_save_callbacks cbs = { .precopy = on_precopy, .suspend = on_suspend, .arg = s };
	uint64_t bytes = 0;
	int fd = -1, rc, rc2;
	uint32_t code;
	char why[160];

	rc = migr_conn_stream_out(s->c, stream_flags, &fd);
	if (rc) {
		migr__log(s->p.lg, XTL_ERROR, "domain %u: cannot open the stream: %s",
			  s->domid, migr_conn_error(s->c));
		return rc;
	}
	s->phase = MIGR_PHASE_PRECOPY;
	migr__send_report(s);

	rc = migr_libxl_stream_begin(fd);
	if (!rc) {
		sampler_start(s);
		rc = s->hv->ops->save(s->hv, s->domid, fd, &cbs);
		sampler_stop(s);
		if (!s->crashed)         /* a dead sender leaves it to recovery */
			migr__throttle_off(s);   /* a save that ended before the suspend */
		if (s->stream_failed)
			rc = s->stream_failed;
		else if (rc == -MIGR_E_ABORTED || s->policy_aborted)
			rc = -MIGR_E_ABORTED;
	}
	if (!rc)
		rc = migr_libxl_stream_end(fd);

	code = rc == -MIGR_E_ABORTED ? MIGR_ABORT_POLICY : MIGR_ABORT_SAVE;
	if (rc == -MIGR_E_ABORTED)
		snprintf(why, sizeof(why), "pre-copy policy gave up");
	else if (rc && s->phase == MIGR_PHASE_SUSPEND)
		snprintf(why, sizeof(why), "the guest did not suspend (%s)", migr_strerror(rc));
	else if (rc)
		snprintf(why, sizeof(why), "%s", migr_strerror(rc));
	rc2 = migr_conn_stream_out_end(s->c, rc == 0, code, rc ? why : NULL, &bytes);
	s->t_stream_end = migr__now_us();
	log_compression(s, stream_flags);
	/* a stream that broke has no end's count: what went out before the break */
	s->res->stream_bytes = bytes ? bytes : stream_bytes(s);
	if (s->phase == MIGR_PHASE_FINAL_SEND)
		migr__send_report(s);
	if (!s->t_suspend_req)
		s->res->precopy_us = s->t_stream_end - s->t_precopy0;
	else
		s->res->precopy_us = s->t_suspend_req - s->t_precopy0;
	if (rc)
		return rc;
	if (rc2) {
		migr__log(s->p.lg, XTL_ERROR, "domain %u: stream did not reach the target: %s",
			  s->domid, migr_conn_error(s->c));
		return rc2;
	}
	return 0;
}

int migr__send_backout(struct migr__send *s)
{
	struct migr_dom_info di;
	int rc;

	rc = s->hv->ops->domain_info(s->hv, s->domid, &di);
	if (rc) {
		migr__log(s->p.lg, XTL_ERROR, "domain %u: gone during back-out", s->domid);
		return rc;
	}
	if (di.shutdown && di.shutdown_reason == MIGR_SHUTDOWN_SUSPEND) {
		rc = s->hv->ops->resume(s->hv, s->domid);
		if (rc) {
			migr__log(s->p.lg, XTL_ERROR, "domain %u: could not resume the guest: %s",
				  s->domid, migr_strerror(rc));
			return rc;
		}
		migr__log(s->p.lg, XTL_INFO, "domain %u: resumed on the source", s->domid);
	}
	return 0;
}

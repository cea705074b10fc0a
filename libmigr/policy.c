/*
 * policy.c: the adaptive stop-and-copy policy (migr/policy.h, docs/policy.md).
 *
 * Entry points: migr_policy_params_init(), migr_policy_init(), migr_policy_decide(),
 * migr_policy_reason_name(), migr_policy_action_name().
 *
 * The model. Let W(t) be the number of distinct pages the guest dirties in the t
 * microseconds after a log-dirty CLEAN (concave, at most the guest size). If the policy
 * stops at call B after a live send of T us, the blackout carries D = W(T) pages and
 * costs blackout_fixed_us + D * page_time. Going on costs one more live round of about
 * D * page_time, after which the blackout set is W(D * page_time). The policy learns W
 * from the PEEK samples of the last round (and, without samples, from the CLEAN-to-CLEAN
 * counts) and goes on only while a round shrinks the predicted blackout enough to pay for
 * its time. Guest time is wall time scaled by the throttle, so W learnt under one
 * throttle predicts under another.
 *
 * Arithmetic is in double (pages * page size * 10^6 overflows 64 bits for huge guests);
 * results are clamped before they leave. No allocation, no I/O, no clocks.
 */
#include <string.h>
#include "libmigr.h"

#define DEFAULT_DOWNTIME_MS   300
#define DEFAULT_FIXED_US      50000
#define DEFAULT_MAX_THROTTLE  99
#define DEFAULT_PAGE_SIZE     4096

/*
 * A round pays if it cuts the predicted blackout by MIN_GAIN_FRAC of it, or by
 * MIN_GAIN_ABS_US (blackouts far over budget), or by HALVES_PAGES of its page part but
 * at least MIN_GAIN_FLOOR_US and MIN_GAIN_FLOOR_FRAC of the blackout (a round has costs
 * of its own, bytes among them: halving a page part that is a sliver of a blackout made
 * of fixed costs is not worth a round); and if it saves 1 us of blackout per
 * LIVE_PER_BLACKOUT us of live time, its own measured cost included.
 */
#define MIN_GAIN_FRAC         0.10
#define MIN_GAIN_ABS_US       50000.0
#define HALVES_PAGES          0.5
#define MIN_GAIN_FLOOR_US     1000.0
#define MIN_GAIN_FLOOR_FRAC   0.01
#define LIVE_PER_BLACKOUT     50.0
/* Over budget, a blackout set this many times the best seen is a burst worth waiting out,
 * as long as the time spent then stays within WAIT_FRAC more than it was when the best
 * was seen: past that, stopping at what a calm phase would give is not worth the wait. */
#define BURST_FACTOR          1.5
#define WAIT_FRAC             0.5
/*
 * The horizon: when no single round pays, the rounds that fit in HORIZON_FRAC more of the
 * time spent so far (projected with W, each leaving W(its own send) pages) may still cut
 * the blackout by HORIZON_GAIN or more: a guest that dirties nearly as fast as the link
 * carries converges slowly, by a few percent a round, but steadily. The threshold is
 * relative to the time spent, so it holds at any link rate, where a fixed exchange of
 * live time for blackout (LIVE_PER_BLACKOUT) does not: at 100 Mbit/s a round is ten
 * times longer than at 1 Gbit/s, and so is the page part of the blackout it saves.
 */
#define HORIZON_FRAC          0.25
#define HORIZON_GAIN          1.25
#define HORIZON_ROUNDS        512
/* A round that costs at most PROBE_FRAC of the time so far and is predicted to gain a
 * little (PROBE_MIN_GAIN) may be tried even if it is not predicted to pay (at most PROBES
 * of them): bursty guests often dirty much less in the next round than the last one did. */
#define PROBE_FRAC            0.10
#define PROBES                2
#define PROBE_MIN_GAIN        0.01   /* a flat W (saturated working set) is not probed */
/* With throttling allowed, a round that leaves more than this fraction of the blackout,
 * while the next is still over twice the budget, converges too slowly: throttle. */
#define SLOW_SHRINK           0.6
/* Hard cap on rounds, whatever the predictions say. */
#define MAX_ROUNDS            256
/* Throttle steps (percent). */
#define THROTTLE_FIRST        20
#define THROTTLE_STEP         10
/* A send of fewer bytes than this gives a noisy bandwidth: blend it with the last. */
#define BW_TRUSTED_BYTES      (4.0 * 1024 * 1024)

static const char *const reason_names[MIGR_POLICY_R_COUNT] = {
	[MIGR_POLICY_R_NONE]          = "none",
	[MIGR_POLICY_R_SEND]          = "send",
	[MIGR_POLICY_R_CONVERGING]    = "converging",
	[MIGR_POLICY_R_BUDGET_MET]    = "budget-met",
	[MIGR_POLICY_R_NO_GAIN]       = "no-gain",
	[MIGR_POLICY_R_THROTTLE]      = "throttle",
	[MIGR_POLICY_R_OVER_BUDGET]   = "over-budget",
	[MIGR_POLICY_R_TIMEOUT_STOP]  = "timeout-stop",
	[MIGR_POLICY_R_TIMEOUT_ABORT] = "timeout-abort",
	[MIGR_POLICY_R_NO_BANDWIDTH]  = "no-bandwidth",
	[MIGR_POLICY_R_NOTHING_DIRTY] = "nothing-dirty",
	[MIGR_POLICY_R_WAIT]          = "wait-burst",
	[MIGR_POLICY_R_MAX_ROUNDS]    = "max-rounds",
	[MIGR_POLICY_R_LEARNING]      = "learning",
	[MIGR_POLICY_R_PROBE]         = "probe",
	[MIGR_POLICY_R_HORIZON]       = "horizon",
};

const char *migr_policy_reason_name(enum migr_policy_reason r)
{
	if ((unsigned int)r >= MIGR_POLICY_R_COUNT || !reason_names[r])
		return "unknown";
	return reason_names[r];
}

const char *migr_policy_action_name(int action)
{
	switch (action) {
	case MIGR_POLICY_ABORT:    return "abort";
	case MIGR_POLICY_CONTINUE: return "continue";
	case MIGR_POLICY_STOP:     return "stop";
	}
	return "unknown";
}

void migr_policy_params_init(struct migr_policy_params *p)
{
	memset(p, 0, sizeof(*p));
	p->downtime_ms = DEFAULT_DOWNTIME_MS;
	p->max_total_ms = 0;
	p->on_timeout = MIGR_POLICY_TIMEOUT_ABORT;
	p->allow_throttle = 0;
	p->abort_over_budget = 0;
	p->blackout_fixed_us = DEFAULT_FIXED_US;
	p->max_throttle_pct = DEFAULT_MAX_THROTTLE;
}

void migr_policy_init(struct migr_policy_state *st, const struct migr_policy_params *p)
{
	memset(st, 0, sizeof(*st));
	if (p)
		st->p = *p;
	else
		migr_policy_params_init(&st->p);
	if (!st->p.downtime_ms)
		st->p.downtime_ms = DEFAULT_DOWNTIME_MS;
	if (st->p.max_throttle_pct > 99)
		st->p.max_throttle_pct = 99;
	if (st->p.on_timeout != MIGR_POLICY_TIMEOUT_STOP)
		st->p.on_timeout = MIGR_POLICY_TIMEOUT_ABORT;
	st->page_size = DEFAULT_PAGE_SIZE;
	st->best_dirty = UINT64_MAX;
}

static uint64_t clamp_u64(double x)
{
	if (!(x > 0))           /* also NaN */
		return 0;
	if (x >= 18446744073709551615.0)
		return UINT64_MAX;
	return (uint64_t)x;
}

static double guest_cap(const struct migr_policy_state *st, double w)
{
	if (st->guest_pages && w > (double)st->guest_pages)
		return (double)st->guest_pages;
	return w < 0 ? 0 : w;
}

/* Guest time for t us of wall time under throttle pct. */
static double guest_time(double t, uint32_t pct)
{
	if (pct > 99)
		pct = 99;
	return t * (double)(100 - pct) / 100.0;
}

/*
 * W(tg): pages dirtied tg us of guest time after a CLEAN, or -1 if nothing is known.
 * Linear between known points (and the origin), extended past the last one with the
 * slope of the last quarter of the curve.
 */
static double curve_eval(const double *ct, const double *cw, unsigned int n, double tg)
{
	double t0 = 0, w0 = 0;
	unsigned int i, k;

	if (!n)
		return -1;
	if (tg <= 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (tg <= ct[i]) {
			if (ct[i] <= t0)
				return cw[i];
			return w0 + (cw[i] - w0) * (tg - t0) / (ct[i] - t0);
		}
		t0 = ct[i];
		w0 = cw[i];
	}
	/* Past the last point: slope over its last quarter. */
	k = n - 1;
	while (k > 0 && ct[k - 1] > ct[n - 1] * 0.75)
		k--;
	if (k > 0) {
		t0 = ct[k - 1];
		w0 = cw[k - 1];
	} else {
		t0 = 0;
		w0 = 0;
	}
	if (ct[n - 1] <= t0)
		return cw[n - 1];
	return cw[n - 1] + (cw[n - 1] - w0) / (ct[n - 1] - t0) * (tg - ct[n - 1]);
}

/* W(tg) from the CLEAN-to-CLEAN points of the last rounds, or -1 if there are none. */
static double w_rounds(const struct migr_policy_state *st, double tg)
{
	double rt[MIGR_POLICY_ROUND_POINTS], rw[MIGR_POLICY_ROUND_POINTS], w;
	unsigned int i, j, n = 0;

	/* sorted by time (newest wins a tie) */
	for (i = 0; i < st->n_rpts; i++) {
		for (j = n; j > 0 && rt[j - 1] > st->rpt_t[i]; j--) {
			rt[j] = rt[j - 1];
			rw[j] = rw[j - 1];
		}
		rt[j] = st->rpt_t[i];
		rw[j] = st->rpt_w[i];
		n++;
	}
	/* W is non-decreasing: a later phase may contradict; keep the running max. */
	for (i = 1; i < n; i++)
		if (rw[i] < rw[i - 1])
			rw[i] = rw[i - 1];
	w = curve_eval(rt, rw, n, tg);
	return w < 0 ? -1 : guest_cap(st, w);
}

static double w_est(const struct migr_policy_state *st, double tg)
{
	double w = curve_eval(st->curve_t, st->curve_w, st->n_curve, tg);

	if (w >= 0)
		return guest_cap(st, w);
	/* No samples: the CLEAN-to-CLEAN points. */
	return w_rounds(st, tg);
}

/*
 * The blackout set d (dirtied in tg us of guest time since the CLEAN) once the guest has
 * also run through its suspend (params.suspend_us, unthrottled: the cap comes off at the
 * request): W(tg + suspend), never less than d. A throttled guest's rounds see little guest
 * time; its suspend sees all of it, which the throttle cannot shorten.
 */
static double with_suspend(const struct migr_policy_state *st, double d, double tg)
{
	double t = tg + (double)st->p.suspend_us, w, r;

	if (!st->p.suspend_us)
		return d;
	w = w_est(st, t);
	/* A round's samples span its own guest time only: a throttled round's a few ms,
	 * over which a guest may dirty nothing at all. Further out than twice that span,
	 * the rounds' own points (which span whole rounds, the unthrottled ones too) are a
	 * floor: a flat curve of a short round must not promise a suspend with nothing
	 * dirty. */
	if (st->n_curve && t > 2 * st->curve_t[st->n_curve - 1]) {
		r = w_rounds(st, t);
		if (r > w)
			w = r;
	}
	return w > d ? w : d;
}

static void add_round_point(struct migr_policy_state *st, double tg, double w)
{
	if (!(tg > 0))
		return;
	if (st->n_rpts == MIGR_POLICY_ROUND_POINTS) {
		memmove(st->rpt_t, st->rpt_t + 1, sizeof(st->rpt_t[0]) * (MIGR_POLICY_ROUND_POINTS - 1));
		memmove(st->rpt_w, st->rpt_w + 1, sizeof(st->rpt_w[0]) * (MIGR_POLICY_ROUND_POINTS - 1));
		st->n_rpts--;
	}
	st->rpt_t[st->n_rpts] = tg;
	st->rpt_w[st->n_rpts] = w;
	st->n_rpts++;
}

/*
 * Learns W from the samples of the round that just ended. Samples out of order (clock
 * going backwards) or before the round are dropped; counts are made non-decreasing.
 * Round 0 has no CLEAN before it: its counts are taken as they are (a stale offset from an
 * earlier log-dirty session can only make the policy over-estimate, i.e. go on a round).
 * Returns the number of points kept.
 */
static unsigned int learn_curve(struct migr_policy_state *st, const struct migr_policy_stats *s)
{
	double t[MIGR_POLICY_CURVE_POINTS], w[MIGR_POLICY_CURVE_POINTS];
	double last_t = -1, last_w = 0;
	size_t i, n = s->samples ? s->n_samples : 0, used = 0;
	unsigned int k = 0;

	if (!n)
		return 0;
	/* Keep at most MIGR_POLICY_CURVE_POINTS points, evenly over the samples, and the last. */
	for (i = 0; i < n; i++) {
		const struct migr_policy_sample *sm = &s->samples[i];
		double ti, wi;
		size_t want;

		if (sm->time_us < st->round_start_us)
			continue;
		ti = guest_time((double)(sm->time_us - st->round_start_us), st->round_throttle);
		wi = (double)sm->dirty_pages;
		if (ti <= last_t)
			continue;
		if (wi < last_w)
			wi = last_w;
		wi = guest_cap(st, wi);
		last_t = ti;
		last_w = wi;
		used++;
		want = (size_t)k * n / MIGR_POLICY_CURVE_POINTS;
		if (i + 1 < n && i < want)
			continue;
		if (k == MIGR_POLICY_CURVE_POINTS)
			k--;     /* the last sample replaces the last slot */
		t[k] = ti;
		w[k] = wi;
		k++;
	}
	if (!k)
		return 0;
	memcpy(st->curve_t, t, sizeof(t[0]) * k);
	memcpy(st->curve_w, w, sizeof(w[0]) * k);
	st->n_curve = k;
	return k;
}

static void update_bandwidth(struct migr_policy_state *st, const struct migr_policy_stats *s,
			     double round_us)
{
	double bytes = (double)s->round_bytes, meas;

	if (!(bytes > 0))
		bytes = (double)s->round_pages * st->page_size;
	if (!(bytes > 0) || !(round_us > 0))
		return;
	meas = bytes * 1e6 / round_us;
	if (!(st->bw_Bps > 0) || bytes >= BW_TRUSTED_BYTES)
		st->bw_Bps = meas;
	else
		st->bw_Bps = (st->bw_Bps * (BW_TRUSTED_BYTES - bytes) + meas * bytes) / BW_TRUSTED_BYTES;
}

/* Page time in us at the current bandwidth, or -1 if unknown. */
static double page_us(const struct migr_policy_state *st)
{
	if (!(st->bw_Bps > 0))
		return -1;
	return (double)st->page_size * 1e6 / st->bw_Bps;
}

static int verdict(struct migr_policy_verdict *v, int action, enum migr_policy_reason why)
{
	v->action = action;
	v->reason = why;
	return action;
}

/* Call A: N pages are about to be sent live. */
static int decide_send(struct migr_policy_state *st, const struct migr_policy_stats *s,
		       struct migr_policy_verdict *v)
{
	uint64_t n = (uint64_t)s->dirty_count;
	double pt = page_us(st), max_us = (double)st->p.max_total_ms * 1000.0;
	double fixed = st->p.blackout_fixed_us, tg_n = 0;

	if (!st->started || s->iteration == 0) {
		if (n > st->guest_pages)
			st->guest_pages = n;
		st->round_start_us = st->now_us;
	} else {
		/* CLEAN-to-CLEAN: exactly N pages dirtied since the last call A. */
		uint64_t dt = st->now_us - st->round_start_us;

		if (st->guest_pages && n > st->guest_pages)
			n = st->guest_pages;
		tg_n = guest_time((double)dt, st->round_throttle);
		add_round_point(st, tg_n, (double)n);
		/* What a round costs beyond its pages: from call B to this call A. */
		if (st->last_b_us && st->now_us >= st->last_b_us) {
			double ov = (double)(st->now_us - st->last_b_us);

			st->overhead_us = st->overhead_us > 0 ? (st->overhead_us + ov) / 2 : ov;
		}
		st->last_dirty = n;
		if (n < st->best_dirty) {
			st->best_dirty = n;
			st->best_us = st->now_us;
		}
	}
	st->started = 1;
	st->in_round = 1;
	st->round = s->iteration;
	st->round_n = n;
	st->round_start_us = st->now_us;
	st->round_throttle = s->throttle_pct;

	v->remaining_pages = n;
	if (pt > 0) {
		double send = (double)n * pt;
		double w = w_est(st, guest_time(send, s->throttle_pct));

		v->predicted_next_round_us = clamp_u64(send);
		if (w >= 0)
			v->predicted_next_blackout_us = clamp_u64(fixed + w * pt);
		/* stopped now: these pages, and what the guest dirties through its suspend (a
		 * guest throttled to a standstill stops here with nothing dirty) */
		v->predicted_blackout_us = clamp_u64(fixed + with_suspend(st, (double)n, tg_n) * pt);
	}
	if (n == 0)
		return verdict(v, MIGR_POLICY_STOP, MIGR_POLICY_R_NOTHING_DIRTY);
	if (max_us > 0 && (double)st->now_us >= max_us)
		return st->p.on_timeout == MIGR_POLICY_TIMEOUT_STOP ?
			verdict(v, MIGR_POLICY_STOP, MIGR_POLICY_R_TIMEOUT_STOP) :
			verdict(v, MIGR_POLICY_ABORT, MIGR_POLICY_R_TIMEOUT_ABORT);
	/*
	 * Stopping here and stopping at the call B after this send give the same blackout
	 * (the set dirtied during the send), and call B knows more: always send. But if even
	 * that cannot end in time, abort now, before the send, when the operator said so.
	 */
	if (max_us > 0 && pt > 0 && st->p.on_timeout == MIGR_POLICY_TIMEOUT_ABORT &&
	    (double)st->now_us + (double)n * pt + fixed > max_us)
		return verdict(v, MIGR_POLICY_ABORT, MIGR_POLICY_R_TIMEOUT_ABORT);
	return verdict(v, MIGR_POLICY_CONTINUE, MIGR_POLICY_R_SEND);
}

/*
 * Throttle for the next round (in steps above the current one): the smallest predicted
 * to bring the next blackout within budget, else the smallest that at least halves it,
 * else the maximum.
 */
static uint32_t pick_throttle(const struct migr_policy_state *st, double d, double pt,
			      double budget, uint32_t cur)
{
	uint32_t pct = cur < THROTTLE_FIRST ? THROTTLE_FIRST : cur + THROTTLE_STEP;
	uint32_t halves = 0, max = st->p.max_throttle_pct;
	double send = d * pt, now_b = st->p.blackout_fixed_us + d * pt;

	for (; pct < max; pct += THROTTLE_STEP) {
		double w = w_est(st, guest_time(send, pct));
		double b = st->p.blackout_fixed_us + w * pt;

		if (w < 0)
			break;
		if (b <= budget)
			return pct;
		if (!halves && b <= now_b / 2)
			halves = pct;
	}
	return halves ? halves : max;
}

/*
 * The smallest blackout predicted within horizon_us of live time from now, going on from
 * a blackout set of d pages: each round sends the set and leaves what the guest dirties
 * during that send, W(send), and costs its send plus the measured overhead.
 */
static double horizon_best(const struct migr_policy_state *st, double d, double pt,
			   uint32_t thr, double horizon_us)
{
	double fixed = st->p.blackout_fixed_us, best = fixed + d * pt, spent = 0;

	/* what the guest dirties between call B and the CLEAN joins the next send */
	double lag = st->overhead_us > 0 ? w_est(st, guest_time(st->overhead_us, thr)) : 0;

	if (lag < 0)
		lag = 0;
	for (unsigned int k = 0; k < HORIZON_ROUNDS && d > 0; k++) {
		double send = (d + lag) * pt, w;

		spent += send + st->overhead_us;
		if (spent > horizon_us)
			break;
		w = w_est(st, guest_time(send, thr));
		if (w < 0 || w >= d)
			break;          /* unknown, or no longer shrinking */
		d = w;
		if (fixed + d * pt < best)
			best = fixed + d * pt;
	}
	return best;
}

/* Call B: the live send of this round is over. */
static int decide_after(struct migr_policy_state *st, const struct migr_policy_stats *s,
			struct migr_policy_verdict *v)
{
	double round_us, d, pt, fixed = st->p.blackout_fixed_us;
	double budget = (double)st->p.downtime_ms * 1000.0;
	/* What a throttle aims at: the budget, or when the fixed part alone exceeds it (the
	 * target's restore is slow), a blackout within MIN_GAIN_FRAC of that fixed part:
	 * slowing the guest cannot shorten what does not depend on its pages. */
	double thr_budget = budget > fixed * (1 + MIN_GAIN_FRAC) ? budget : fixed * (1 + MIN_GAIN_FRAC);
	double max_us = (double)st->p.max_total_ms * 1000.0;
	double now_b, next_round, w_next, next_b, gain;
	uint32_t thr = s->throttle_pct;
	int pays, horizon_pays = 0, can_wait, d_known = 1;

	if (!st->in_round) {
		/* Call B without its call A (or twice): treat the time since as the round. */
		st->round_throttle = s->throttle_pct;
		if (!st->started) {
			st->started = 1;
			st->round_start_us = 0;
		}
	}
	st->in_round = 0;
	st->last_b_us = st->now_us;
	round_us = (double)s->round_us;
	if (!(round_us > 0))
		round_us = (double)(st->now_us - st->round_start_us);
	/* the link's rate, not the pace the CPU share held the sender to: the blackout's
	 * send is never paced (a round at most nine tenths paced: the rest is the link's) */
	update_bandwidth(st, s, round_us - (double)(s->round_paced_us < round_us * 0.9 ?
						    s->round_paced_us : round_us * 0.9));
	pt = page_us(st);

	/* The blackout set if we stop now: the last sample, extended to now. */
	if (learn_curve(st, s)) {
		double tg = guest_time(round_us, st->round_throttle);

		d = st->curve_w[st->n_curve - 1];
		if (tg > st->curve_t[st->n_curve - 1])
			d = w_est(st, tg);
	} else {
		d = w_est(st, guest_time(round_us, st->round_throttle));
		if (d < 0) {
			/* nothing known: assume no shrink (a round is needed to learn) */
			d = (double)st->round_n;
			d_known = 0;
		}
	}
	d = guest_cap(st, d);
	if (round_us > 0)
		v->dirty_rate_pps = clamp_u64(d * 1e6 / round_us);
	v->wws_pages = st->n_curve ? clamp_u64(st->curve_w[st->n_curve - 1]) : clamp_u64(d);
	v->remaining_pages = clamp_u64(d);
	st->last_dirty = clamp_u64(d);
	if (st->last_dirty < st->best_dirty) {
		st->best_dirty = st->last_dirty;
		st->best_us = st->now_us;
	}

	if (!(pt > 0)) {
		if (max_us > 0 && (double)st->now_us >= max_us)
			return st->p.on_timeout == MIGR_POLICY_TIMEOUT_STOP ?
				verdict(v, MIGR_POLICY_STOP, MIGR_POLICY_R_TIMEOUT_STOP) :
				verdict(v, MIGR_POLICY_ABORT, MIGR_POLICY_R_TIMEOUT_ABORT);
		if (d == 0 && d_known)
			return verdict(v, MIGR_POLICY_STOP, MIGR_POLICY_R_NOTHING_DIRTY);
		return verdict(v, MIGR_POLICY_CONTINUE, MIGR_POLICY_R_NO_BANDWIDTH);
	}
	if (!d_known)
		return verdict(v, MIGR_POLICY_CONTINUE, MIGR_POLICY_R_LEARNING);

	next_round = d * pt + st->overhead_us;
	if (st->throttle_pct > thr)
		thr = st->throttle_pct;
	/* the next blackout set is what the guest dirties during the send itself */
	w_next = w_est(st, guest_time(d * pt, thr));
	if (w_next < 0)
		w_next = d;
	/* ... and either set grows while the guest suspends, at its unthrottled pace */
	now_b = fixed + with_suspend(st, d, guest_time(round_us, st->round_throttle)) * pt;
	next_b = fixed + with_suspend(st, w_next, guest_time(d * pt, thr)) * pt;
	gain = now_b - next_b;
	v->predicted_blackout_us = clamp_u64(now_b);
	v->predicted_next_blackout_us = clamp_u64(next_b);
	v->predicted_next_round_us = clamp_u64(next_round);

	if (d == 0)
		return verdict(v, MIGR_POLICY_STOP, MIGR_POLICY_R_NOTHING_DIRTY);

	/* No time for another round: stop if that is acceptable, else as the operator said. */
	if (max_us > 0 && (double)st->now_us + next_round + next_b > max_us) {
		if (now_b <= budget)
			return verdict(v, MIGR_POLICY_STOP, MIGR_POLICY_R_BUDGET_MET);
		return st->p.on_timeout == MIGR_POLICY_TIMEOUT_STOP ?
			verdict(v, MIGR_POLICY_STOP, MIGR_POLICY_R_TIMEOUT_STOP) :
			verdict(v, MIGR_POLICY_ABORT, MIGR_POLICY_R_TIMEOUT_ABORT);
	}
	if (s->iteration >= MAX_ROUNDS) {
		if (now_b > budget && st->p.abort_over_budget)
			return verdict(v, MIGR_POLICY_ABORT, MIGR_POLICY_R_MAX_ROUNDS);
		return verdict(v, MIGR_POLICY_STOP, MIGR_POLICY_R_MAX_ROUNDS);
	}

	pays = (gain >= MIN_GAIN_FRAC * now_b || gain >= MIN_GAIN_ABS_US ||
		(gain >= HALVES_PAGES * (now_b - fixed) && gain >= MIN_GAIN_FLOOR_US &&
		 gain >= MIN_GAIN_FLOOR_FRAC * now_b)) &&
	       gain * LIVE_PER_BLACKOUT >= next_round;
	if (!pays && gain > 0) {
		double horizon = HORIZON_FRAC * (double)st->now_us;

		if (max_us > 0 && max_us - (double)st->now_us < horizon)
			horizon = max_us - (double)st->now_us;
		horizon_pays = horizon_best(st, d, pt, thr, horizon) * HORIZON_GAIN <= now_b;
	}
	/* Converging, but slowly and far over budget: slow the guest now if allowed, rather
	 * than after many long rounds. */
	if ((pays || horizon_pays) && st->p.allow_throttle && thr < st->p.max_throttle_pct &&
	    next_b > SLOW_SHRINK * now_b && next_b > 2 * thr_budget) {
		st->throttle_pct = pick_throttle(st, d, pt, thr_budget, thr);
		v->throttle_pct = st->throttle_pct;
		return verdict(v, MIGR_POLICY_CONTINUE, MIGR_POLICY_R_THROTTLE);
	}
	if (pays)
		return verdict(v, MIGR_POLICY_CONTINUE, MIGR_POLICY_R_CONVERGING);
	if (horizon_pays)
		return verdict(v, MIGR_POLICY_CONTINUE, MIGR_POLICY_R_HORIZON);
	if (st->probes < PROBES && gain > PROBE_MIN_GAIN * now_b && d * pt >= MIN_GAIN_FRAC * now_b &&
	    next_round <= PROBE_FRAC * (double)st->now_us) {
		st->probes++;
		return verdict(v, MIGR_POLICY_CONTINUE, MIGR_POLICY_R_PROBE);
	}
	if (now_b <= budget)
		return verdict(v, MIGR_POLICY_STOP, MIGR_POLICY_R_BUDGET_MET);

	/* Over budget and rounds no longer pay. */
	if (st->p.allow_throttle && thr < st->p.max_throttle_pct && now_b > thr_budget) {
		st->throttle_pct = pick_throttle(st, d, pt, thr_budget, thr);
		v->throttle_pct = st->throttle_pct;
		return verdict(v, MIGR_POLICY_CONTINUE, MIGR_POLICY_R_THROTTLE);
	}
	can_wait = d > BURST_FACTOR * (double)st->best_dirty &&
		   (double)st->now_us + next_round <= (1 + WAIT_FRAC) * (double)st->best_us;
	if (can_wait) {
		st->stalls++;
		return verdict(v, MIGR_POLICY_CONTINUE, MIGR_POLICY_R_WAIT);
	}
	if (st->p.abort_over_budget)
		return verdict(v, MIGR_POLICY_ABORT, MIGR_POLICY_R_OVER_BUDGET);
	return verdict(v, MIGR_POLICY_STOP, MIGR_POLICY_R_NO_GAIN);
}

int migr_policy_decide(struct migr_policy_state *st, const struct migr_policy_stats *s,
		       struct migr_policy_verdict *v_r)
{
	struct migr_policy_verdict v;
	int action;

	memset(&v, 0, sizeof(v));
	/* Time never goes backwards for the policy. */
	if (s->elapsed_us > st->now_us)
		st->now_us = s->elapsed_us;
	if (s->page_size)
		st->page_size = s->page_size;
	if (s->guest_pages > st->guest_pages)
		st->guest_pages = s->guest_pages;

	if (s->dirty_count >= 0)
		action = decide_send(st, s, &v);
	else
		action = decide_after(st, s, &v);

	v.bandwidth_Bps = clamp_u64(st->bw_Bps);
	v.throttle_pct = st->throttle_pct;
	if (v_r)
		*v_r = v;
	return action;
}

/* ---- the fixed part before anything was measured --------------------------------------
 *
 * Constants from the nested lab (docs/phases.md, "In the nested lab: where the network gap
 * goes" and "Device set-up: the fast vif hotplug path"; one PVH guest, one vif, migrd at
 * -vvv, which stretches the restore tail by about half: the dom0 parts are divided by 1.5):
 *   EST_SUSPEND_US     the guest's own freeze: 0.3-1.0 s measured; the low end (a suspend
 *                      is the guest's work, not stretched by dom0's logging)
 *   EST_FINAL_US       the final send beyond its pages (libxc's last records, the vCPUs'
 *                      context, the stream's end): 0.2-0.25 s in the lab for a final send
 *                      of a few dozen pages, / 1.5
 *   EST_HANDSHAKE_US   half of "handshake and unpause, 0.1-0.2 s": READY, GO, DONE in flight
 *                      and what the target does between them (its fence and records);
 *                      0.2-0.7 s measured in the lab since, hence this host's own history
 *   EST_BASE_US        restore tail without devices plus the unpause: libxc's last records
 *                      and the save helper 0.1 s, domain build and console 0.3 s, libxl's
 *                      completion 0.15 s, unpause 0.05 s = 0.6 s, / 1.5
 *   EST_VIF_FAST_US    a vif with migr's helper: its xenstore nodes 0.15 s, netback's probe
 *                      0.15 s, the helper 0.1 s = 0.4 s, / 1.5 (device set-up measured
 *                      0.3-0.7 s with the helper)
 *   EST_VIF_STOCK_US   the same with Debian's vif-bridge script: 1.0-1.4 s measured for
 *                      the script (1.2 s) + 0.3 s / 1.5
 *   EST_DISK_US        not measured in the lab (its guests boot from a ramdisk): taken as
 *                      a stock vif, a backend probe and a bash hotplug script (`block`)
 */
#define EST_SUSPEND_US     300000
#define EST_FINAL_US       150000
#define EST_HANDSHAKE_US    50000
#define EST_BASE_US        400000
#define EST_VIF_FAST_US    270000
#define EST_VIF_STOCK_US  1400000
#define EST_DISK_US       1400000
#define EST_MAX_US    60000000ull

uint64_t migr_restore_estimate_us(const struct migr_restore_devices *d)
{
	uint64_t us = EST_BASE_US;

	us += (uint64_t)(d->vifs_fast > 64 ? 64 : d->vifs_fast) * EST_VIF_FAST_US;
	us += (uint64_t)(d->vifs_stock > 64 ? 64 : d->vifs_stock) * EST_VIF_STOCK_US;
	us += (uint64_t)(d->disks > 64 ? 64 : d->disks) * EST_DISK_US;
	return us > EST_MAX_US ? EST_MAX_US : us;
}

const char *migr_fixed_from_name(enum migr_fixed_from f)
{
	switch (f) {
	case MIGR_FIXED_DEFAULT:         return "default";
	case MIGR_FIXED_HISTORY:         return "history";
	case MIGR_FIXED_TARGET_ESTIMATE: return "target-estimate";
	case MIGR_FIXED_OWN_ESTIMATE:    return "own-estimate";
	case MIGR_FIXED_OWN_BLACKOUTS:   return "own-blackouts";
	case MIGR_FIXED_PEER_HISTORY:    return "peer-history";
	}
	return "?";
}

static uint64_t cap_est(uint64_t us)
{
	return us > EST_MAX_US ? EST_MAX_US : us;
}

static void pick(uint64_t *us, enum migr_fixed_from *from, uint64_t own, uint64_t peer)
{
	if (own) {
		*us = cap_est(own);
		*from = MIGR_FIXED_HISTORY;
	} else if (peer) {
		*us = cap_est(peer);
		*from = MIGR_FIXED_PEER_HISTORY;
	}
}

void migr_fixed_estimate(const struct migr_fixed_inputs *in, struct migr_fixed_estimate *e_r)
{
	struct migr_fixed_estimate e = {
		.suspend_us = EST_SUSPEND_US, .suspend_from = MIGR_FIXED_DEFAULT,
		.final_us = EST_FINAL_US, .final_from = MIGR_FIXED_DEFAULT,
		.handshake_us = EST_HANDSHAKE_US, .handshake_from = MIGR_FIXED_DEFAULT,
		.restore_us = EST_BASE_US, .restore_from = MIGR_FIXED_DEFAULT,
	};

	/* this host's own figures, else the target's of its own migrations out (a host of the
	 * same pool, often the one the guest last left), else the lab's */
	pick(&e.suspend_us, &e.suspend_from, in->own_suspend_us, in->peer_suspend_us);
	pick(&e.final_us, &e.final_from, in->own_final_us, in->peer_final_us);
	pick(&e.handshake_us, &e.handshake_from, in->own_handshake_us, in->peer_handshake_us);
	if (in->target_history_us) {
		e.restore_us = cap_est(in->target_history_us);
		e.restore_from = MIGR_FIXED_HISTORY;
	} else if (in->own_blackouts_us) {
		/* a whole fixed part as measured here: suspend and handshake included */
		uint64_t own = cap_est(in->own_blackouts_us), rest = e.suspend_us + e.handshake_us;

		e.restore_us = own > rest ? own - rest : 0;
		e.restore_from = MIGR_FIXED_OWN_BLACKOUTS;
	} else if (in->target_estimate_us) {
		e.restore_us = cap_est(in->target_estimate_us);
		e.restore_from = MIGR_FIXED_TARGET_ESTIMATE;
	} else if (in->own_estimate_us) {
		e.restore_us = cap_est(in->own_estimate_us);
		e.restore_from = MIGR_FIXED_OWN_ESTIMATE;
	}
	e.fixed_us = e.suspend_us + e.final_us + e.handshake_us + e.restore_us;
	*e_r = e;
}

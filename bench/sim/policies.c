/*
 * policies.c: migr's policy and the baselines, behind the simulator's sim_policy.
 * Every baseline sees the same statistics migr's policy sees (struct migr_policy_stats)
 * and uses only what its original had.
 */
#include <stdlib.h>
#include <string.h>
#include "policies.h"

struct pol {
	struct sim_policy sp;
	const struct sim_cfg *cfg;
	const struct trace *t;
	/* migr */
	struct migr_policy_params params;
	struct migr_policy_state st;
	struct migr_log *log;
	size_t n_log, cap_log;
	/* qemu */
	double downtime_ms;
	int autoconverge;
	double bw_Bps;
	int high_cnt;
	double period_us, period_dirty, period_sent;
	/* clark */
	double rate_Bps;
	uint64_t sent_last;
};

static struct pol *pol_new(const char *name)
{
	struct pol *p = calloc(1, sizeof(*p));

	if (!p)
		abort();
	p->sp.name = name;
	p->sp.self = p;
	return p;
}

void pol_free(struct sim_policy *sp)
{
	struct pol *p;

	if (!sp)
		return;
	p = sp->self;
	free(p->log);
	free(p);
}

static uint64_t last_sample(const struct migr_policy_stats *s)
{
	return s->n_samples ? s->samples[s->n_samples - 1].dirty_pages : 0;
}

/* ---- migr ------------------------------------------------------------------ */

static void migr_reset(void *self, const struct sim_cfg *cfg, const struct trace *t)
{
	struct pol *p = self;
	struct migr_policy_params prm = p->params;

	prm.blackout_fixed_us = (uint32_t)cfg->fixed_us;
	migr_policy_init(&p->st, &prm);
	p->n_log = 0;
}

static int migr_decide(void *self, const struct migr_policy_stats *s, struct sim_ctl *ctl)
{
	struct pol *p = self;
	struct migr_policy_verdict v;
	int act = migr_policy_decide(&p->st, s, &v);

	ctl->throttle_pct = v.throttle_pct;
	if (p->n_log == p->cap_log) {
		size_t cap = p->cap_log ? p->cap_log * 2 : 64;
		struct migr_log *l = realloc(p->log, cap * sizeof(*l));

		if (!l)
			abort();
		p->log = l;
		p->cap_log = cap;
	}
	p->log[p->n_log].s = *s;
	p->log[p->n_log].s.samples = NULL;
	p->log[p->n_log].v = v;
	p->n_log++;
	return act;
}

struct sim_policy *pol_migr(const char *name, const struct migr_policy_params *prm)
{
	struct pol *p = pol_new(name);

	p->params = *prm;
	p->sp.reset = migr_reset;
	p->sp.decide = migr_decide;
	return &p->sp;
}

const struct migr_log *pol_migr_log(const struct sim_policy *sp, size_t *n_r)
{
	const struct pol *p = sp->self;

	*n_r = p->n_log;
	return p->log;
}

/* ---- libxl / libxenguest default ------------------------------------------------ */

static int libxl_decide(void *self, const struct migr_policy_stats *s, struct sim_ctl *ctl)
{
	/* simple_precopy_policy(): SPP_TARGET_DIRTY_COUNT 50, SPP_MAX_ITERATIONS 5 */
	return ((s->dirty_count >= 0 && s->dirty_count < 50) || s->iteration >= 5) ?
		MIGR_POLICY_STOP : MIGR_POLICY_CONTINUE;
}

struct sim_policy *pol_libxl(void)
{
	struct pol *p = pol_new("libxl");

	p->sp.decide = libxl_decide;
	return &p->sp;
}

/* ---- QEMU --------------------------------------------------------------------- */

static void qemu_reset(void *self, const struct sim_cfg *cfg, const struct trace *t)
{
	struct pol *p = self;

	p->t = t;
	p->bw_Bps = 0;
	p->high_cnt = 0;
	p->period_us = p->period_dirty = p->period_sent = 0;
	p->rate_Bps = 0;
}

/*
 * migration_iteration_run(): complete when pending bytes < bandwidth (bytes/ms) x
 * downtime limit. QEMU checks after every pass and every >= 100 ms; libxenguest's loop
 * can only stop at its two decision points, so the rule is applied there: N at call A,
 * the PEEK count at call B (QEMU syncs the bitmap before it completes).
 * Auto-converge (migration_trigger_throttle()): over a period of >= 1 s, if the bytes
 * dirtied exceed 50% of the bytes sent, twice, throttle 20%, then +10% each time, at most
 * 99%.
 */
static int qemu_decide(void *self, const struct migr_policy_stats *s, struct sim_ctl *ctl)
{
	struct pol *p = self;
	double ps = s->page_size ? s->page_size : 4096, pending;

	if (s->dirty_count >= 0) {
		pending = (double)s->dirty_count * ps;
	} else {
		if (s->round_us)
			p->bw_Bps = (double)s->round_bytes * 1e6 / (double)s->round_us;
		pending = (double)last_sample(s) * ps;
		if (p->autoconverge && s->iteration >= 2) {
			p->period_us += (double)s->round_us;
			p->period_dirty += (double)last_sample(s) * ps;
			p->period_sent += (double)s->round_bytes;
			if (p->period_us >= 1e6) {
				if (p->period_dirty > 0.5 * p->period_sent && ++p->high_cnt >= 2) {
					p->high_cnt = 0;
					ctl->throttle_pct = ctl->throttle_pct ? ctl->throttle_pct + 10 : 20;
					if (ctl->throttle_pct > 99)
						ctl->throttle_pct = 99;
				}
				p->period_us = p->period_dirty = p->period_sent = 0;
			}
		}
	}
	if (p->bw_Bps > 0 && pending < p->bw_Bps / 1000.0 * p->downtime_ms)
		return MIGR_POLICY_STOP;
	return MIGR_POLICY_CONTINUE;
}

struct sim_policy *pol_qemu(const char *name, double downtime_ms, int autoconverge)
{
	struct pol *p = pol_new(name);

	p->downtime_ms = downtime_ms;
	p->autoconverge = autoconverge;
	p->sp.reset = qemu_reset;
	p->sp.decide = qemu_decide;
	return &p->sp;
}

/* ---- Xen 3.0 / Clark et al. ---------------------------------------------------- */

/*
 * xc_linux_save.c of Xen 3.0 with ADAPTIVE_SAVE, as in Clark et al. (NSDI 2005, 5.5):
 * the first round goes at START (100 Mbit/s); after each round, if the dirty rate of the
 * round exceeds the current rate, the rate becomes dirty rate + 50 Mbit/s, at most MAX
 * (500 Mbit/s). Pre-copy ends when a round sent more than the previous one at the
 * maximum rate, after 29 rounds, when a round sent fewer than 50 pages, or when more than
 * 3x the guest has been sent; the last round goes at full speed. Scaled to the link: START
 * = 10%, step = 5%, MAX = 100% of the link (the administrator's maximum).
 */
static void clark_reset(void *self, const struct sim_cfg *cfg, const struct trace *t)
{
	struct pol *p = self;

	p->cfg = cfg;
	p->t = t;
	p->rate_Bps = 0.10 * cfg->bw_Bps;
	p->sent_last = 1ull << 20;
}

static int clark_decide(void *self, const struct migr_policy_stats *s, struct sim_ctl *ctl)
{
	struct pol *p = self;
	double ps = s->page_size ? s->page_size : 4096, max = p->cfg->bw_Bps;
	uint64_t sent_this;
	int stop;

	if (s->dirty_count >= 0) {
		ctl->rate_Bps = p->rate_Bps;
		return MIGR_POLICY_CONTINUE;
	}
	sent_this = s->round_pages;
	if (s->round_us) {
		double dirty_Bps = (double)last_sample(s) * ps * 1e6 / (double)s->round_us;

		if (dirty_Bps > p->rate_Bps) {
			p->rate_Bps = dirty_Bps + 0.05 * max;
			if (p->rate_Bps > max)
				p->rate_Bps = max;
		}
	}
	stop = (sent_this > p->sent_last && p->rate_Bps >= max) ||
	       s->iteration >= 29 || sent_this < 50 ||
	       s->total_written > 3 * s->guest_pages;
	p->sent_last = sent_this;
	ctl->rate_Bps = p->rate_Bps;
	return stop ? MIGR_POLICY_STOP : MIGR_POLICY_CONTINUE;
}

struct sim_policy *pol_clark(void)
{
	struct pol *p = pol_new("clark");

	p->sp.reset = clark_reset;
	p->sp.decide = clark_decide;
	return &p->sp;
}

/* ---- never stops --------------------------------------------------------------- */

static int never_decide(void *self, const struct migr_policy_stats *s, struct sim_ctl *ctl)
{
	const struct pol *p = self;

	ctl->throttle_pct = (uint32_t)p->high_cnt;
	return MIGR_POLICY_CONTINUE;
}

struct sim_policy *pol_never(uint32_t throttle_pct)
{
	struct pol *p = pol_new("never");

	p->high_cnt = (int)throttle_pct;
	p->sp.decide = never_decide;
	return &p->sp;
}

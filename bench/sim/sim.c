/*
 * sim.c: the pre-copy simulator (sim.h). One run replays a trace against one policy.
 *
 * The guest side keeps the hypervisor's log-dirty bitmap and its dirty count (pages
 * dirtied since the last CLEAN, which is what PEEK returns); the save side follows
 * send_memory_live(): call A, live send, break on STOP, call B, break on STOP, CLEAN.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sim.h"

struct guest {
	const struct trace *t;
	uint64_t *bits;
	uint64_t count;          /* pages dirtied since the last CLEAN */
	uint64_t *epoch_pages;
	uint64_t epoch_abs;      /* current epoch, counting loops of the trace */
	uint64_t done;           /* pages of the current epoch applied */
	size_t run;              /* cursor in the current epoch: run index... */
	uint64_t run_off;        /* ...and offset in it */
	double tau;              /* guest time applied so far, us */
};

static int guest_init(struct guest *g, const struct trace *t)
{
	uint32_t e;

	memset(g, 0, sizeof(*g));
	g->t = t;
	g->bits = calloc((t->n_pages + 63) / 64, sizeof(uint64_t));
	g->epoch_pages = calloc(t->n_epochs + 1, sizeof(uint64_t));
	if (!g->bits || !g->epoch_pages)
		return -ENOMEM;
	for (e = 0; e < t->n_epochs; e++)
		g->epoch_pages[e] = trace_pages_in_epoch(t, e);
	return 0;
}

static void guest_free(struct guest *g)
{
	free(g->bits);
	free(g->epoch_pages);
}

static void dirty(struct guest *g, uint64_t p)
{
	uint64_t m = 1ull << (p & 63);

	if (!(g->bits[p >> 6] & m)) {
		g->bits[p >> 6] |= m;
		g->count++;
	}
}

/* Applies the next k pages of the current epoch. */
static void apply(struct guest *g, uint32_t e, uint64_t k)
{
	const struct trace *t = g->t;

	while (k) {
		const struct trace_run *r = &t->runs[t->epoch_off[e] + g->run];
		uint64_t n = r->len - g->run_off, i;

		if (n > k)
			n = k;
		for (i = 0; i < n; i++)
			dirty(g, r->start + g->run_off + i);
		g->run_off += n;
		g->done += n;
		k -= n;
		if (g->run_off == r->len) {
			g->run++;
			g->run_off = 0;
		}
	}
}

/* Runs the guest up to guest time tau. */
static void guest_advance(struct guest *g, double tau)
{
	const struct trace *t = g->t;
	double ep = t->epoch_us;

	if (tau <= g->tau)
		return;
	g->tau = tau;
	if (!t->n_epochs)
		return;
	for (;;) {
		uint32_t e = (uint32_t)(g->epoch_abs % t->n_epochs);
		uint64_t m = g->epoch_pages[e];
		double start = (double)g->epoch_abs * ep;

		if (tau >= start + ep) {
			apply(g, e, m - g->done);
			g->epoch_abs++;
			g->done = 0;
			g->run = 0;
			g->run_off = 0;
			continue;
		}
		{
			uint64_t want = (uint64_t)((double)m * (tau - start) / ep);

			if (want > m)
				want = m;
			if (want > g->done)
				apply(g, e, want - g->done);
		}
		break;
	}
}

static uint64_t guest_clean(struct guest *g)
{
	uint64_t n = g->count;

	memset(g->bits, 0, (g->t->n_pages + 63) / 64 * sizeof(uint64_t));
	g->count = 0;
	return n;
}

struct clock {
	double t;        /* wall time, us */
	double tau;      /* guest time, us */
	uint32_t thr;
};

static void clock_to(struct clock *c, struct guest *g, double t)
{
	if (t <= c->t)
		return;
	c->tau += (t - c->t) * (100 - (c->thr > 99 ? 99 : c->thr)) / 100.0;
	c->t = t;
	guest_advance(g, c->tau);
}

struct samples {
	struct migr_policy_sample *s;
	size_t n, cap;
};

static int sample(struct samples *sm, const struct clock *c, const struct guest *g)
{
	if (sm->n == sm->cap) {
		size_t cap = sm->cap ? sm->cap * 2 : 256;
		struct migr_policy_sample *s = realloc(sm->s, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		sm->s = s;
		sm->cap = cap;
	}
	sm->s[sm->n].time_us = (uint64_t)llround(c->t);
	sm->s[sm->n].dirty_pages = g->count;
	sm->n++;
	return 0;
}

static double page_us(const struct sim_cfg *cfg, const struct trace *t, double rate)
{
	if (!(rate > 0) || rate > cfg->bw_Bps)
		rate = cfg->bw_Bps;
	return (double)t->page_size * 1e6 / rate + cfg->per_page_us;
}

static double send_us(const struct sim_cfg *cfg, const struct trace *t, double rate, uint64_t n)
{
	uint64_t batches = (n + SIM_BATCH - 1) / SIM_BATCH;

	return (double)n * page_us(cfg, t, rate) + (double)batches * cfg->per_batch_us;
}

double sim_point_blackout(const struct sim_cfg *cfg, const struct trace *t,
			  const struct sim_point *pt)
{
	return cfg->fixed_us + send_us(cfg, t, 0, pt->dirty);
}

/* Sends n pages live in batches, sampling every cfg->sample_us from the round start. */
static int live_send(const struct sim_cfg *cfg, struct clock *c, struct guest *g,
		     const struct trace *t, double rate, uint64_t n, struct samples *sm)
{
	double start = c->t, next_sample = cfg->sample_us > 0 ? start + cfg->sample_us : INFINITY;
	double pu = page_us(cfg, t, rate);

	while (n) {
		uint64_t b = n < SIM_BATCH ? n : SIM_BATCH;
		double end = c->t + (double)b * pu + cfg->per_batch_us;

		while (next_sample <= end) {
			clock_to(c, g, next_sample);
			if (sample(sm, c, g))
				return -ENOMEM;
			next_sample += cfg->sample_us;
		}
		clock_to(c, g, end);
		n -= b;
	}
	return 0;
}

static int add_point(struct sim_result *res, unsigned int round, double t, uint64_t dirty,
		     uint64_t live_pages)
{
	if (res->n_points == res->cap_points) {
		size_t cap = res->cap_points ? res->cap_points * 2 : 64;
		struct sim_point *p = realloc(res->points, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		res->points = p;
		res->cap_points = cap;
	}
	res->points[res->n_points++] = (struct sim_point){ round, t, dirty, live_pages };
	return 0;
}

void sim_result_free(struct sim_result *res)
{
	free(res->points);
	res->points = NULL;
	res->n_points = res->cap_points = 0;
}

int sim_run(const struct trace *t, const struct sim_cfg *cfg, struct sim_policy *p,
	    struct sim_result *res, int record_points)
{
	struct guest g;
	struct clock c = { 0, 0, 0 };
	struct samples sm = { NULL, 0, 0 };
	struct sim_ctl ctl = { 0, 0 };
	struct migr_policy_stats s;
	uint64_t n = t->n_pages, total_written = 0;
	unsigned int r = 0;
	int rc, act;

	memset(res, 0, sizeof(*res));
	rc = guest_init(&g, t);
	if (rc)
		goto out;
	if (p->reset)
		p->reset(p->self, cfg, t);

	/* Log-dirty is enabled at time 0; round 0 sends every page (dirty_count = p2m size). */
	for (;;) {
		double round_start = c.t;

		memset(&s, 0, sizeof(s));
		s.iteration = r;
		s.total_written = total_written;
		s.dirty_count = (long)n;
		s.elapsed_us = (uint64_t)llround(c.t);
		s.page_size = t->page_size;
		s.guest_pages = t->n_pages;
		s.throttle_pct = ctl.throttle_pct;
		act = p->decide(p->self, &s, &ctl);
		c.thr = ctl.throttle_pct;
		if (ctl.throttle_pct > res->max_throttle)
			res->max_throttle = ctl.throttle_pct;
		if (act == MIGR_POLICY_ABORT) {
			res->aborted = 1;
			break;
		}
		sm.n = 0;
		if (n) {
			rc = live_send(cfg, &c, &g, t, ctl.rate_Bps, n, &sm);
			if (rc)
				goto out;
			res->live_pages += n;
			res->rounds++;
		}
		total_written += n;
		if (act == MIGR_POLICY_STOP)
			break;

		/* call B, with a PEEK as it comes in */
		rc = sample(&sm, &c, &g);
		if (rc)
			goto out;
		if (record_points) {
			rc = add_point(res, r, c.t, g.count, res->live_pages);
			if (rc)
				goto out;
		}
		if (c.t >= cfg->limit_us || r >= 1000000) {
			res->forced = 1;
			break;
		}
		memset(&s, 0, sizeof(s));
		s.iteration = r + 1;
		s.total_written = total_written;
		s.dirty_count = -1;
		s.elapsed_us = (uint64_t)llround(c.t);
		s.round_bytes = n * t->page_size;
		s.round_pages = n;
		s.round_us = (uint64_t)llround(c.t - round_start);
		s.page_size = t->page_size;
		s.guest_pages = t->n_pages;
		s.throttle_pct = ctl.throttle_pct;
		s.samples = sm.s;
		s.n_samples = sm.n;
		act = p->decide(p->self, &s, &ctl);
		c.thr = ctl.throttle_pct;
		if (ctl.throttle_pct > res->max_throttle)
			res->max_throttle = ctl.throttle_pct;
		if (act == MIGR_POLICY_ABORT) {
			res->aborted = 1;
			break;
		}
		if (act == MIGR_POLICY_STOP)
			break;
		clock_to(&c, &g, c.t + cfg->clean_us);
		n = guest_clean(&g);
		r++;
	}
	res->live_us = c.t;
	if (!res->aborted) {
		/* Suspend, final CLEAN, send at the full link rate. */
		res->final_pages = g.count;
		res->blackout_us = cfg->fixed_us + send_us(cfg, t, 0, g.count);
	}
	res->total_us = res->live_us + res->blackout_us;
	rc = 0;
out:
	free(sm.s);
	guest_free(&g);
	if (rc)
		sim_result_free(res);
	return rc;
}

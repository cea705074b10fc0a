/*
 * fleet_sim.c: a rolling drain of a whole fleet, simulated over libmigr's own drain
 * scheduler (migr_fleet_decide(), fleet.c) and evacuation planner (migr_plan_make(),
 * plan.c): the decisions are the ones migrd would be given, the migrations are a model.
 * No Xen, no etcd. docs/fleet.md describes the model and the figures.
 *
 * The fleet: NHOSTS hosts of HOST_GIB each in failure domains of DOMAIN_SIZE hosts, each
 * running GUESTS_PER_HOST guests whose sizes vary (log-uniform weights, fixed seed) and
 * fill the host to 90..100% (pairs of hosts drawn symmetric about 95%: 5% of the fleet's
 * memory is spare). Guest anti-affinity groups of ten guests, never two on one host.
 * Every host is queued, in name order; each is drained, patched for PATCH_S seconds, and
 * comes back empty as a target for the drains after it.
 *
 * The migrations: each host's outbound link carries LINK_GBIT, shared evenly by the
 * migrations sending at the time; a host runs at most `window` migrations at once
 * (migr_plan_auto_parallel(), as the evacuation engine does); each migration first spends
 * SETUP_S seconds in set-up (preflight, domain creation) without sending. A guest sends
 * its memory once (a guest that dirties pages would send more, in the bound as well).
 *
 * The lower bound (docs/fleet.md has the derivation): a host, from the start of its drain
 * until it is back, takes its whole memory M_h out of the room the fleet can give (its
 * own free memory, as it receives nothing, plus its guests' places claimed on the
 * others), for at least U_h/L (its guests' bytes over its link) + P (the patch). The room
 * is the fleet's free memory F, which migrations only move around. Hence
 *     T >= sum_h M_h (U_h/L + P) / F                                  (capacity, link)
 * and also T >= sum_h (U_h/L) / W (window), T >= max over failure domains of
 * sum_h (U_h/L + P) (one host of a domain out at a time), T >= max_h (U_h/L + P).
 * U_h is the host's guests at the start: guests only ever leave a host when it drains.
 *
 * Prints the run's figures (with --spread-too first the same fleet with the planner's
 * evacuation fit, spread, for comparison; --profile adds the fleet's state over time)
 * and ends with
 *     bench-fleet: hosts=N guests=G makespan_ratio=R
 * R = the simulated makespan of the default over the lower bound.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "libmigr.h"

struct cfg {
	unsigned nhosts, per_host, domain_size, max_draining, dom0_cpus;
	double host_gib, spare, link_gbit, setup_s, patch_s;
	uint64_t seed;
};

enum mstate { M_NONE = 0, M_PENDING, M_SETUP, M_SEND, M_DONE };

struct mig {
	enum mstate st;
	double t_setup_end;
	double left;                   /* bytes */
	int to;
};

struct hstate {
	double maint_end;
	unsigned nactive, nsend;
	unsigned *pend;                /* guests planned, not started, in order */
	unsigned npend, pend_at;
	unsigned resident;             /* guests on it */
	unsigned inbound;              /* guests planned or on their way to it */
	bool queued;
	double out_since;
};

struct sim {
	struct cfg cfg;
	struct migr_fleet_params fp;
	struct migr_fleet_host *h;
	struct migr_fleet_guest *g;
	struct hstate *hs;
	struct mig *m;
	unsigned *host_of;             /* guest -> host index */
	const char **queue;
	unsigned nqueue, nh, ng, window;
	double link_bps, t;
	/* figures */
	unsigned decisions, plans, migrations, done_hosts;
	unsigned waits[MIGR_FLEET_WAIT_COUNT];   /* what the queue's head waited on */
	double out_mem_time;           /* integral of sum over hosts out of M_h, KiB s */
	double draining_time, maint_time;
	uint64_t bytes_sent;
	/* a profile over time: buckets of PROFILE_S seconds */
	double prof_out[64], prof_drain[64], prof_free[64], prof_len[64];
	bool profile;
};
#define PROFILE_S 2000.0

static uint64_t rng_state;

static double rnd(void)
{
	/* xorshift64*: a fixed seed gives the same fleet on every machine */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static unsigned host_index(const struct sim *s, const char *name)
{
	/* names are "hNNNNN" */
	return (unsigned)strtoul(name + 1, NULL, 10);
}

static int build(struct sim *s)
{
	const struct cfg *c = &s->cfg;
	const uint64_t ovh = s->fp.plan.overhead_kib;
	uint64_t total = (uint64_t)(c->host_gib * 1024 * 1024);
	double fill_prev = 0;

	s->nh = c->nhosts;
	s->ng = c->nhosts * c->per_host;
	s->h = calloc(s->nh, sizeof(*s->h));
	s->hs = calloc(s->nh, sizeof(*s->hs));
	s->g = calloc(s->ng, sizeof(*s->g));
	s->m = calloc(s->ng, sizeof(*s->m));
	s->host_of = calloc(s->ng, sizeof(*s->host_of));
	s->queue = calloc(s->nh, sizeof(*s->queue));
	if (!s->h || !s->hs || !s->g || !s->m || !s->host_of || !s->queue)
		return -ENOMEM;
	rng_state = c->seed;
	for (unsigned h = 0; h < s->nh; h++) {
		struct migr_fleet_host *hh = &s->h[h];
		double w[256], sum = 0, fill;
		uint64_t used = 0;

		snprintf(hh->name, sizeof(hh->name), "h%05u", h);
		snprintf(hh->group, sizeof(hh->group), "rack%03u", h / c->domain_size);
		hh->total_kib = total;
		hh->state = MIGR_FLEET_IN_SERVICE;
		/* fill in pairs symmetric about 1 - spare: the fleet's spare is exact */
		if (h % 2 == 0)
			fill = fill_prev = (1 - c->spare) + c->spare * (2 * rnd() - 1);
		else
			fill = 2 * (1 - c->spare) - fill_prev;
		for (unsigned i = 0; i < c->per_host; i++)
			sum += (w[i] = exp2(3 * rnd()));
		s->hs[h].pend = calloc(c->per_host * 4 + 4, sizeof(unsigned));
		if (!s->hs[h].pend)
			return -ENOMEM;
		for (unsigned i = 0; i < c->per_host; i++) {
			unsigned gi = h * c->per_host + i;
			struct migr_fleet_guest *g = &s->g[gi];
			uint64_t kib = (uint64_t)(fill * (double)total * w[i] / sum);

			kib = kib > ovh + 1024 ? ((kib - ovh) & ~1023ull) : 1024;
			snprintf(g->name, sizeof(g->name), "vm%06u", gi);
			snprintf(g->host, sizeof(g->host), "%s", hh->name);
			/* ten guests a group, on ten hosts of ten different domains */
			snprintf(g->group, sizeof(g->group), "app%05u",
				 i * (s->nh / 10) + h % (s->nh / 10));
			g->mem_kib = kib;
			used += kib + ovh;
			s->host_of[gi] = h;
		}
		hh->free_kib = total - used;
		s->hs[h].resident = c->per_host;
		s->hs[h].queued = true;
		s->queue[h] = hh->name;
	}
	s->nqueue = s->nh;
	return 0;
}

struct bound { double cap, window, domain, host, lb; const char *which; };

static void lower_bound(const struct sim *s, struct bound *b)
{
	const struct cfg *c = &s->cfg;
	double sum_mt = 0, sum_d = 0, free_kib = 0, *dom;
	unsigned ndom = (s->nh + c->domain_size - 1) / c->domain_size;

	memset(b, 0, sizeof(*b));
	dom = calloc(ndom, sizeof(*dom));
	for (unsigned h = 0; h < s->nh; h++) {
		double u = 0, d;

		for (unsigned i = 0; i < c->per_host; i++)
			u += (double)s->g[h * c->per_host + i].mem_kib * 1024;
		d = u / s->link_bps;
		sum_mt += (double)s->h[h].total_kib * (d + c->patch_s);
		sum_d += d;
		free_kib += (double)s->h[h].free_kib;
		dom[h / c->domain_size] += d + c->patch_s;
		if (d + c->patch_s > b->host)
			b->host = d + c->patch_s;
	}
	for (unsigned k = 0; k < ndom; k++)
		if (dom[k] > b->domain)
			b->domain = dom[k];
	free(dom);
	b->cap = sum_mt / free_kib;
	b->window = sum_d / c->max_draining;
	b->lb = b->cap;
	b->which = "capacity";
	if (b->window > b->lb) { b->lb = b->window; b->which = "window"; }
	if (b->domain > b->lb) { b->lb = b->domain; b->which = "domain"; }
	if (b->host > b->lb) { b->lb = b->host; b->which = "host"; }
}

/* Whether guest gi's migration state is host h's: a guest that has left h and moves again
 * from its new host stays in h's list of what it sent. */
static bool mine(const struct sim *s, unsigned h, unsigned gi)
{
	return s->host_of[gi] == h;
}

/* Starts migrations on host h up to the window. */
static void fill_window(struct sim *s, unsigned h)
{
	struct hstate *hs = &s->hs[h];

	while (hs->nactive < s->window && hs->pend_at < hs->npend) {
		unsigned gi = hs->pend[hs->pend_at++];

		s->m[gi].st = M_SETUP;
		s->m[gi].t_setup_end = s->t + s->cfg.setup_s;
		s->m[gi].left = (double)s->g[gi].mem_kib * 1024;
		hs->nactive++;
	}
}

static void begin_out(struct sim *s, unsigned h)
{
	s->hs[h].out_since = s->t;
}

static int decide(struct sim *s)
{
	struct migr_fleet_decision *d = NULL;
	char err[MIGR_FLEET_ERR_MAX];
	unsigned k = 0;
	int rc;

	rc = migr_fleet_decide(s->h, s->nh, s->g, s->ng, s->queue, s->nqueue, &s->fp, &d, err,
			       sizeof(err));
	if (rc) {
		fprintf(stderr, "bench-fleet: migr_fleet_decide: %s (%s)\n", strerror(-rc), err);
		return rc;
	}
	s->decisions++;
	s->plans += d->plans;
	if (d->nheld && !d->nstart)
		s->waits[d->held[0].why]++;
	if (d->nstuck) {
		fprintf(stderr, "bench-fleet: guest %s stuck: %s\n", s->g[d->stuck[0].guest].name,
			d->stuck[0].reason);
		migr_fleet_decision_free(d);
		return -EDEADLK;
	}
	for (unsigned i = 0; i < d->nstart; i++) {
		unsigned h = d->start[i];

		s->h[h].state = MIGR_FLEET_DRAINING;
		s->hs[h].queued = false;
		begin_out(s, h);
	}
	for (unsigned i = 0; i < d->nmoves; i++) {
		const struct migr_fleet_move *mv = &d->moves[i];
		struct hstate *hs = &s->hs[mv->from];

		snprintf(s->g[mv->guest].to, sizeof(s->g[mv->guest].to), "%s", s->h[mv->to].name);
		s->h[mv->to].free_kib -= s->g[mv->guest].mem_kib + s->fp.plan.overhead_kib;
		s->m[mv->guest].st = M_PENDING;
		s->m[mv->guest].to = (int)mv->to;
		s->hs[mv->to].inbound++;
		hs->pend[hs->npend++] = mv->guest;
	}
	for (unsigned i = 0; i < d->nstart; i++)
		fill_window(s, d->start[i]);
	/* the queue keeps the hosts not started, in order */
	for (unsigned q = 0; q < s->nqueue; q++)
		if (s->h[host_index(s, s->queue[q])].state == MIGR_FLEET_IN_SERVICE)
			s->queue[k++] = s->queue[q];
	s->nqueue = k;
	migr_fleet_decision_free(d);
	return 0;
}

/* Runs the rolling drain to its end; the makespan in *t_r. */
static int run(struct sim *s, double *t_r)
{
	const double eps = 1e-9;
	bool again = true;
	int rc;

	while (s->done_hosts < s->nh) {
		double next = INFINITY, dt;
		unsigned out_kib_hosts = 0;
		double out_kib = 0;

		if (again) {
			if ((rc = decide(s)))
				return rc;
			again = false;
			/* hosts started empty go straight to maintenance */
			for (unsigned h = 0; h < s->nh; h++)
				if (s->h[h].state == MIGR_FLEET_DRAINING && !s->hs[h].resident) {
					s->h[h].state = MIGR_FLEET_MAINTENANCE;
					s->hs[h].maint_end = s->t + s->cfg.patch_s;
				}
		}
		/* the next event: a set-up ending, a send ending, a patch ending */
		for (unsigned h = 0; h < s->nh; h++) {
			struct hstate *hs = &s->hs[h];

			if (s->h[h].state == MIGR_FLEET_MAINTENANCE) {
				if (hs->maint_end < next)
					next = hs->maint_end;
				out_kib += (double)s->h[h].total_kib;
				out_kib_hosts++;
				continue;
			}
			if (s->h[h].state != MIGR_FLEET_DRAINING)
				continue;
			out_kib += (double)s->h[h].total_kib;
			out_kib_hosts++;
			hs->nsend = 0;
			for (unsigned p = 0; p < hs->pend_at; p++)
				if (s->m[hs->pend[p]].st == M_SEND && mine(s, h, hs->pend[p]))
					hs->nsend++;
			for (unsigned p = 0; p < hs->pend_at; p++) {
				const struct mig *m = &s->m[hs->pend[p]];

				if (!mine(s, h, hs->pend[p]))
					continue;
				if (m->st == M_SETUP && m->t_setup_end < next)
					next = m->t_setup_end;
				if (m->st == M_SEND) {
					double te = s->t + m->left * hs->nsend / s->link_bps;

					if (te < next)
						next = te;
				}
			}
		}
		if (next == INFINITY) {
			fprintf(stderr, "bench-fleet: stuck at t=%.0f s with %u hosts queued and "
				"nothing under way\n", s->t, s->nqueue);
			return -EDEADLK;
		}
		dt = next - s->t;
		s->out_mem_time += out_kib * dt;
		if (s->profile) {
			double fk = 0, t0 = s->t;
			unsigned nd = 0;

			for (unsigned h = 0; h < s->nh; h++) {
				if (s->h[h].state == MIGR_FLEET_IN_SERVICE)
					fk += (double)s->h[h].free_kib;
				nd += s->h[h].state == MIGR_FLEET_DRAINING;
			}
			/* the interval, split at the buckets' edges */
			while (t0 < next) {
				unsigned b = (unsigned)(t0 / PROFILE_S);
				double t1 = fmin(next, (b + 1) * PROFILE_S);

				if (b >= 64)
					break;
				s->prof_out[b] += out_kib_hosts * (t1 - t0);
				s->prof_drain[b] += nd * (t1 - t0);
				s->prof_free[b] += fk / 1048576 * (t1 - t0);
				s->prof_len[b] += t1 - t0;
				t0 = t1;
			}
		}
		for (unsigned h = 0; h < s->nh; h++) {
			struct hstate *hs = &s->hs[h];

			if (s->h[h].state == MIGR_FLEET_MAINTENANCE) {
				s->maint_time += dt;
				continue;
			}
			if (s->h[h].state != MIGR_FLEET_DRAINING)
				continue;
			s->draining_time += dt;
			for (unsigned p = 0; p < hs->pend_at; p++) {
				struct mig *m = &s->m[hs->pend[p]];

				if (m->st == M_SEND && mine(s, h, hs->pend[p])) {
					double sent = s->link_bps / hs->nsend * dt;

					m->left -= sent;
					s->bytes_sent += (uint64_t)sent;
				}
			}
		}
		s->t = next;
		/* what ended */
		for (unsigned h = 0; h < s->nh; h++) {
			struct hstate *hs = &s->hs[h];

			if (s->h[h].state == MIGR_FLEET_MAINTENANCE) {
				if (hs->maint_end <= s->t + eps) {
					s->h[h].state = MIGR_FLEET_IN_SERVICE;
					s->h[h].free_kib = s->h[h].total_kib;
					s->done_hosts++;
					again = true;
				}
				continue;
			}
			if (s->h[h].state != MIGR_FLEET_DRAINING)
				continue;
			for (unsigned p = 0; p < hs->pend_at; p++) {
				unsigned gi = hs->pend[p];
				struct mig *m = &s->m[gi];

				if (!mine(s, h, gi))
					continue;       /* moved on: its migration now is its new host's */
				if (m->st == M_SETUP && m->t_setup_end <= s->t + eps) {
					m->st = M_SEND;
				} else if (m->st == M_SEND && m->left <= 1.0) {
					unsigned to = (unsigned)m->to;

					m->st = M_DONE;
					hs->nactive--;
					hs->resident--;
					s->migrations++;
					s->h[h].free_kib += s->g[gi].mem_kib + s->fp.plan.overhead_kib;
					snprintf(s->g[gi].host, sizeof(s->g[gi].host), "%s",
						 s->h[to].name);
					s->g[gi].to[0] = 0;
					s->host_of[gi] = to;
					s->hs[to].resident++;
					/* a queued host that has received all it was sent may drain */
					if (!--s->hs[to].inbound && s->hs[to].queued)
						again = true;
				}
			}
			fill_window(s, h);
			if (!hs->resident) {
				s->h[h].state = MIGR_FLEET_MAINTENANCE;
				s->hs[h].maint_end = s->t + s->cfg.patch_s;
				again = true;
			}
		}
	}
	*t_r = s->t;
	return 0;
}

static void sim_free(struct sim *s)
{
	if (s->hs)
		for (unsigned h = 0; h < s->nh; h++)
			free(s->hs[h].pend);
	free(s->h);
	free(s->hs);
	free(s->g);
	free(s->m);
	free(s->host_of);
	free(s->queue);
}

static bool profile, queue_order;

static int one_run(const struct cfg *c, enum migr_plan_fit fit, double *ratio_r)
{
	struct sim s;
	struct bound b;
	double t = 0;
	clock_t c0 = clock();
	int rc;

	memset(&s, 0, sizeof(s));
	s.cfg = *c;
	s.profile = profile;
	migr_fleet_params_init(&s.fp);
	s.fp.max_draining = c->max_draining;
	s.fp.plan.threshold_pct = 100;
	s.fp.plan.fit = fit;
	if (queue_order)
		s.fp.order = MIGR_FLEET_ORDER_QUEUE;
	s.link_bps = c->link_gbit * 1e9 / 8;
	if ((rc = build(&s)))
		goto out;
	s.window = migr_plan_auto_parallel((uint64_t)(c->link_gbit * 1e9), c->dom0_cpus,
					   c->per_host);
	lower_bound(&s, &b);
	{
		uint64_t lo = UINT64_MAX, hi = 0;

		for (unsigned gi = 0; gi < s.ng; gi++) {
			lo = s.g[gi].mem_kib < lo ? s.g[gi].mem_kib : lo;
			hi = s.g[gi].mem_kib > hi ? s.g[gi].mem_kib : hi;
		}
		printf("bench-fleet:   guests of %.1f to %.1f GiB, %u migrations at once per host\n",
		       lo / 1048576.0, hi / 1048576.0, s.window);
	}
	if ((rc = run(&s, &t)))
		goto out;
	printf("bench-fleet: fit=%s makespan_s=%.0f bound_s=%.0f (%s; capacity %.0f, window %.0f, "
	       "domain %.0f, host %.0f) ratio=%.3f\n",
	       fit == MIGR_PLAN_FIT_PACK ? "pack" : "spread", t, b.lb, b.which, b.cap, b.window,
	       b.domain, b.host, t / b.lb);
	printf("bench-fleet:   migrations=%u (guests %u) decisions=%u plans=%u "
	       "mean_draining=%.1f mean_in_maintenance=%.1f capacity_used=%.3f "
	       "head_waited_on window=%u group=%u inbound=%u pinned=%u room=%u cpu_s=%.1f\n",
	       s.migrations, s.ng, s.decisions, s.plans, s.draining_time / t, s.maint_time / t,
	       s.out_mem_time / (t * (double)(s.nh * s.h[0].total_kib) * c->spare),
	       s.waits[MIGR_FLEET_WAIT_WINDOW], s.waits[MIGR_FLEET_WAIT_GROUP],
	       s.waits[MIGR_FLEET_WAIT_INBOUND], s.waits[MIGR_FLEET_WAIT_PINNED],
	       s.waits[MIGR_FLEET_WAIT_ROOM], (double)(clock() - c0) / CLOCKS_PER_SEC);
	for (unsigned k = 0; s.profile && k < 64 && s.prof_len[k] > 0; k++)
		printf("bench-fleet:   profile t=%5.0f..  out=%.1f draining=%.1f free_in_service_gib=%.0f\n",
		       k * PROFILE_S, s.prof_out[k] / s.prof_len[k], s.prof_drain[k] / s.prof_len[k],
		       s.prof_free[k] / s.prof_len[k]);
	fflush(stdout);
	*ratio_r = t / b.lb;
out:
	sim_free(&s);
	return rc;
}

int main(int argc, char **argv)
{
	struct cfg c = {
		.nhosts = 1000, .per_host = 20, .domain_size = 10, .max_draining = 16,
		.dom0_cpus = 4, .host_gib = 256, .spare = 0.05, .link_gbit = 10,
		.setup_s = 2, .patch_s = 600, .seed = 20261205,
	};
	double r_spread = 0, r_pack = 0;
	bool baseline = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--spread-too"))
			baseline = true;
		else if (!strcmp(argv[i], "--profile"))
			profile = true;
		else if (!strcmp(argv[i], "--queue-order"))
			queue_order = true;
		else if (!strncmp(argv[i], "--max-draining=", 15))
			c.max_draining = (unsigned)atoi(argv[i] + 15);
		else if (!strncmp(argv[i], "--hosts=", 8))
			c.nhosts = (unsigned)atoi(argv[i] + 8);
		else if (!strncmp(argv[i], "--patch-s=", 10))
			c.patch_s = atof(argv[i] + 10);
		else {
			fprintf(stderr, "usage: %s [--spread-too] [--profile] [--queue-order] [--max-draining=W] [--hosts=N] "
				"[--patch-s=P]\n", argv[0]);
			return 2;
		}
	}
	if (c.nhosts < 20 || c.nhosts % 20 || c.nhosts > MIGR_FLEET_MAX_HOSTS ||
	    !c.max_draining) {
		fprintf(stderr, "bench-fleet: hosts a multiple of 20 up to %u, max-draining > 0\n",
			MIGR_FLEET_MAX_HOSTS);
		return 2;
	}
	printf("bench-fleet: %u hosts of %.0f GiB in domains of %u, %u guests each, %.0f%% "
	       "spare; link %.0f Gbit/s, set-up %.0f s, patch %.0f s, max_draining %u\n",
	       c.nhosts, c.host_gib, c.domain_size, c.per_host, c.spare * 100, c.link_gbit,
	       c.setup_s, c.patch_s, c.max_draining);
	fflush(stdout);
	if (baseline && one_run(&c, MIGR_PLAN_FIT_SPREAD, &r_spread))
		return 1;
	if (one_run(&c, MIGR_PLAN_FIT_PACK, &r_pack))
		return 1;
	printf("bench-fleet: hosts=%u guests=%u makespan_ratio=%.3f\n", c.nhosts,
	       c.nhosts * c.per_host, r_pack);
	return 0;
}

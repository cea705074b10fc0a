/*
 * gen.c: synthetic dirty-page traces (gen.h) and the synthetic part of the bench suite.
 * Each generator draws a given number of writes per 10 ms epoch from a seeded PRNG
 * (splitmix64), so a name always gives the same trace.
 */
#include <stdlib.h>
#include <string.h>
#include "gen.h"

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

/* Writes this epoch for a rate, carrying the fraction over. */
static uint64_t take(double rate, double *carry)
{
	double want = rate * GEN_EPOCH_US / 1e6 + *carry;
	uint64_t n = want > 0 ? (uint64_t)want : 0;

	*carry = want - (double)n;
	return n;
}

static uint32_t epochs(double secs)
{
	return (uint32_t)(secs * 1e6 / GEN_EPOCH_US + 0.5);
}

static struct trace *fail(struct trace *t)
{
	trace_free(t);
	return NULL;
}

struct trace *gen_uniform(const char *name, uint64_t n_pages, double rate, double secs,
			  uint64_t seed)
{
	struct trace *t = trace_new(name, 4096, GEN_EPOCH_US, n_pages);
	double carry = 0;
	uint32_t e, ne = epochs(secs);

	if (!t)
		return NULL;
	for (e = 0; e < ne; e++) {
		uint64_t i, n = take(rate, &carry);

		for (i = 0; i < n; i++)
			if (trace_add_run(t, below(&seed, n_pages), 1))
				return fail(t);
		if (trace_end_epoch(t))
			return fail(t);
	}
	return t;
}

struct trace *gen_hotcold(const char *name, uint64_t n_pages, uint64_t hot, double hot_rate,
			  double cold_rate, double secs, uint64_t seed)
{
	struct trace *t = trace_new(name, 4096, GEN_EPOCH_US, n_pages);
	double hc = 0, cc = 0;
	uint64_t base;
	uint32_t e, ne = epochs(secs);

	if (!t || hot > n_pages)
		return fail(t);
	base = below(&seed, n_pages - hot + 1);
	for (e = 0; e < ne; e++) {
		uint64_t i, nh = take(hot_rate, &hc), nc = take(cold_rate, &cc);

		for (i = 0; i < nh; i++)
			if (trace_add_run(t, base + below(&seed, hot), 1))
				return fail(t);
		for (i = 0; i < nc; i++) {
			uint64_t p = below(&seed, n_pages - hot);

			if (trace_add_run(t, p < base ? p : p + hot, 1))
				return fail(t);
		}
		if (trace_end_epoch(t))
			return fail(t);
	}
	return t;
}

struct trace *gen_scanner(const char *name, uint64_t n_pages, uint64_t region, double rate,
			  double secs, uint64_t seed)
{
	struct trace *t = trace_new(name, 4096, GEN_EPOCH_US, n_pages);
	double carry = 0;
	uint64_t base, pos = 0;
	uint32_t e, ne = epochs(secs);

	if (!t || !region || region > n_pages)
		return fail(t);
	base = below(&seed, n_pages - region + 1);
	for (e = 0; e < ne; e++) {
		uint64_t n = take(rate, &carry);

		while (n) {
			uint64_t k = region - pos < n ? region - pos : n;

			if (trace_add_run(t, base + pos, k))
				return fail(t);
			pos = (pos + k) % region;
			n -= k;
		}
		if (trace_end_epoch(t))
			return fail(t);
	}
	return t;
}

struct trace *gen_bursty(const char *name, uint64_t n_pages, double calm_secs,
			 double burst_secs, uint64_t calm_set, double calm_rate,
			 uint64_t burst_set, double burst_rate, double secs, uint64_t seed)
{
	struct trace *t = trace_new(name, 4096, GEN_EPOCH_US, n_pages);
	double carry = 0, period = calm_secs + burst_secs;
	uint64_t cbase, bbase;
	uint32_t e, ne = epochs(secs);

	if (!t || calm_set > n_pages || burst_set > n_pages || !(period > 0))
		return fail(t);
	cbase = below(&seed, n_pages - calm_set + 1);
	bbase = below(&seed, n_pages - burst_set + 1);
	for (e = 0; e < ne; e++) {
		double at = e * (GEN_EPOCH_US / 1e6);
		int burst = at - period * (uint64_t)(at / period) >= calm_secs;
		uint64_t i, n = take(burst ? burst_rate : calm_rate, &carry);

		for (i = 0; i < n; i++) {
			uint64_t p = burst ? bbase + below(&seed, burst_set) :
					     cbase + below(&seed, calm_set);

			if (trace_add_run(t, p, 1))
				return fail(t);
		}
		if (trace_end_epoch(t))
			return fail(t);
	}
	return t;
}

/*
 * The synthetic suite: a 1 GiB guest (262144 pages of 4 KiB). At the bench's 1 Gbit/s a
 * page takes ~33 us, i.e. ~30500 pages/s.
 */
#define GIB_PAGES 262144ull

static struct trace *s_idle(const char *n)
{ return gen_uniform(n, GIB_PAGES, 200, 30, 1); }
static struct trace *s_uniform_light(const char *n)
{ return gen_uniform(n, GIB_PAGES, 3000, 30, 2); }
static struct trace *s_uniform_heavy(const char *n)
{ return gen_uniform(n, GIB_PAGES, 15000, 30, 3); }
static struct trace *s_uniform_0_8(const char *n)
{ return gen_uniform(n, GIB_PAGES, 25000, 30, 4); }
static struct trace *s_hotcold(const char *n)
{ return gen_hotcold(n, GIB_PAGES, 8192, 20000, 300, 30, 5); }
static struct trace *s_hotcold_big(const char *n)
{ return gen_hotcold(n, GIB_PAGES, 65536, 60000, 500, 30, 6); }
static struct trace *s_scanner(const char *n)
{ return gen_scanner(n, GIB_PAGES, 131072, 12000, 30, 7); }
static struct trace *s_scanner_fast(const char *n)
{ return gen_scanner(n, GIB_PAGES, 24576, 45000, 30, 8); }
static struct trace *s_bursty(const char *n)
{ return gen_bursty(n, GIB_PAGES, 3.0, 1.0, 4096, 3000, 98304, 50000, 30, 9); }

const struct gen_spec gen_suite[] = {
	{ "syn-idle", "uniform random, 200 pages/s", s_idle },
	{ "syn-uniform-light", "uniform random, 3000 pages/s", s_uniform_light },
	{ "syn-uniform-heavy", "uniform random, 15000 pages/s (~half the link)", s_uniform_heavy },
	{ "syn-uniform-0.8", "uniform random, 25000 pages/s (~0.8 of the link)", s_uniform_0_8 },
	{ "syn-hotcold", "32 MiB hot set at 20000 pages/s, cold tail 300 pages/s", s_hotcold },
	{ "syn-hotcold-big", "256 MiB hot set at 60000 pages/s: more than the link keeps up with",
	  s_hotcold_big },
	{ "syn-scanner", "sequential writes over 512 MiB at 12000 pages/s", s_scanner },
	{ "syn-scanner-fast", "sequential writes over 96 MiB at 45000 pages/s", s_scanner_fast },
	{ "syn-bursty", "3 s calm (16 MiB, 3000 pages/s), 1 s burst (384 MiB, 50000 pages/s)",
	  s_bursty },
	{ NULL, NULL, NULL }
};

const struct gen_spec *gen_find(const char *name)
{
	for (const struct gen_spec *g = gen_suite; g->name; g++)
		if (!strcmp(g->name, name))
			return g;
	return NULL;
}

/*
 * test_policy_sim.c: the simulator's model of libxenguest's pre-copy loop and the trace
 * format (bench/sim/), pinned on tiny crafted traces whose outcome is worked out by hand.
 *
 * The set-up: 2048 pages of 4096 bytes, a link carrying 1000 pages/s (1 ms a page), no
 * per-batch or CLEAN cost, a fixed blackout cost of 10 ms, no PEEK samples unless said.
 * A "scanner" trace writes one page per 1 ms epoch, pages 0, 1, ... R-1, 0, 1, ...; an
 * epoch's page is written half-way through it.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include "libmigr.h"
#include "unit.h"
#include "../../bench/sim/trace.c"
#include "../../bench/sim/sim.c"
#include "../../bench/sim/policies.c"

static struct trace *scanner(uint64_t region, uint32_t epochs)
{
	struct trace *t = trace_new("scan", 4096, 1000, 2048);

	for (uint32_t e = 0; t && e < epochs; e++)
		if (trace_add_run(t, e % region, 1) || trace_end_epoch(t))
			return NULL;
	return t;
}

static const struct sim_cfg cfg = {
	.bw_Bps = 4096.0 * 1000, .per_page_us = 0, .per_batch_us = 0, .fixed_us = 10000,
	.clean_us = 0, .sample_us = 0, .limit_us = 60e6,
};

static int near(double a, double b)
{
	return a > b - 1 && a < b + 1;
}

/* libxl's rule, five live rounds: 2048 pages, then 4 rounds of the 100 scanned pages. */
static void test_libxl_five_rounds(void)
{
	struct trace *t = scanner(100, 5000);
	struct sim_policy *p = pol_libxl();
	struct sim_result r;

	CHECK(t != NULL);
	CHECK_EQ(sim_run(t, &cfg, p, &r, 0), 0);
	CHECK_EQ(r.rounds, 5);
	CHECK_EQ(r.live_pages, 2048 + 4 * 100);
	CHECK_EQ(r.final_pages, 100);
	CHECK(near(r.live_us, 2448000));
	CHECK(near(r.blackout_us, 10000 + 100000));
	CHECK(near(r.total_us, 2558000));
	CHECK(!r.aborted && !r.forced);
	sim_result_free(&r);
	pol_free(p);
	trace_free(t);
}

/* Stopping at call A (N < 50) still sends those N pages live; the blackout is what was
 * dirtied during that send. */
static void test_stop_at_call_a(void)
{
	struct trace *t = scanner(40, 5000);
	struct sim_policy *p = pol_libxl();
	struct sim_result r;

	CHECK_EQ(sim_run(t, &cfg, p, &r, 0), 0);
	CHECK_EQ(r.rounds, 2);
	CHECK_EQ(r.live_pages, 2048 + 40);
	CHECK_EQ(r.final_pages, 40);
	CHECK(near(r.live_us, 2088000));
	CHECK(near(r.blackout_us, 50000));
	sim_result_free(&r);
	pol_free(p);
	trace_free(t);
}

/* QEMU's rule stops at the first call B whose pending pages fit in 300 ms (300 pages). */
static void test_qemu_rule(void)
{
	struct trace *t = scanner(100, 5000);
	struct sim_policy *p = pol_qemu("qemu", 300, 0);
	struct sim_result r;

	CHECK_EQ(sim_run(t, &cfg, p, &r, 0), 0);
	CHECK_EQ(r.rounds, 1);
	CHECK_EQ(r.final_pages, 100);
	CHECK(near(r.blackout_us, 110000));
	sim_result_free(&r);
	pol_free(p);
	trace_free(t);
}

/* The never-stopping run records every call B: the oracle's stop points. */
static void test_stop_points(void)
{
	struct trace *t = scanner(100, 5000);
	struct sim_cfg c = cfg;
	struct sim_policy *p = pol_never(0);
	struct sim_result r;

	c.limit_us = 2400000;
	CHECK_EQ(sim_run(t, &c, p, &r, 1), 0);
	CHECK(r.forced);
	CHECK_EQ(r.n_points, 5);     /* B after 2048 ms, 2148, 2248, 2348, 2448 */
	CHECK(r.n_points >= 2 && near(r.points[0].live_end_us, 2048000) &&
	      r.points[0].dirty == 100 && r.points[0].live_pages == 2048);
	CHECK(r.n_points >= 2 && near(r.points[1].live_end_us, 2148000) &&
	      r.points[1].live_pages == 2148);
	CHECK(near(sim_point_blackout(&c, t, &r.points[0]), 110000));
	sim_result_free(&r);
	pol_free(p);
	trace_free(t);
}

/* A throttled guest runs slower: at 50%, a 100 ms round sees 50 pages written. */
static int half_decide(void *self, const struct migr_policy_stats *s, struct sim_ctl *ctl)
{
	ctl->throttle_pct = 50;
	return s->dirty_count < 0 && s->iteration >= 2 ? MIGR_POLICY_STOP : MIGR_POLICY_CONTINUE;
}

static void test_throttle_slows_guest(void)
{
	struct trace *t = scanner(1000, 5000);
	struct sim_policy p = { "half", NULL, NULL, half_decide };
	struct sim_result r;

	CHECK_EQ(sim_run(t, &cfg, &p, &r, 0), 0);
	/* round 0: 2048 ms at half speed -> 1024 writes over 1000 pages: all 1000 dirty;
	 * round 1: 1000 ms -> 500 pages dirty, the blackout set */
	CHECK_EQ(r.rounds, 2);
	CHECK_EQ(r.final_pages, 500);
	CHECK_EQ(r.max_throttle, 50);
	sim_result_free(&r);
	trace_free(t);
}

/* PEEK samples inside a round, plus one at call B, reach the policy with the right counts. */
static uint64_t seen_n, seen_last, seen_first_t;

static int spy_decide(void *self, const struct migr_policy_stats *s, struct sim_ctl *ctl)
{
	if (s->dirty_count < 0 && s->iteration == 2) {
		seen_n = s->n_samples;
		seen_last = s->n_samples ? s->samples[s->n_samples - 1].dirty_pages : 0;
		seen_first_t = s->n_samples ? s->samples[0].time_us : 0;
		return MIGR_POLICY_STOP;
	}
	return MIGR_POLICY_CONTINUE;
}

static void test_samples(void)
{
	struct trace *t = scanner(1000, 5000);
	struct sim_cfg c = cfg;
	struct sim_policy p = { "spy", NULL, NULL, spy_decide };
	struct sim_result r;

	c.sample_us = 100000;
	CHECK_EQ(sim_run(t, &c, &p, &r, 0), 0);
	/* round 1 sends 1000 pages in 1 s from t = 2.048 s: samples at +0.1 .. +1.0 s and one
	 * at call B; the last count is the 1000 pages of the scanner's lap */
	CHECK_EQ(seen_n, 11);
	CHECK_EQ(seen_last, 1000);
	CHECK_EQ(seen_first_t, 2148000);
	sim_result_free(&r);
	trace_free(t);
}

/* Save and load give the same trace; malformed files are refused. */
static void test_format(void)
{
	char path[] = "/tmp/test_policy_sim-XXXXXX";
	int fd = mkstemp(path);
	struct trace *t = trace_new("x", 4096, 500, 1000), *u = NULL;
	const char *why = NULL;
	FILE *f;

	CHECK(fd >= 0 && t);
	close(fd);
	trace_set_note(t, "crafted");
	/* epoch 0: overlapping and adjacent runs merge; epoch 1: empty; epoch 2: page 0 and 999 */
	trace_add_run(t, 10, 5);
	trace_add_run(t, 12, 10);
	trace_add_run(t, 22, 1);
	trace_add_run(t, 100, 1);
	trace_end_epoch(t);
	trace_end_epoch(t);
	trace_add_run(t, 999, 1);
	trace_add_run(t, 0, 1);
	trace_end_epoch(t);
	CHECK_EQ(trace_add_run(t, 1000, 1), -ERANGE);
	CHECK_EQ(trace_add_run(t, 990, 11), -ERANGE);
	CHECK_EQ(t->epoch_off[1] - t->epoch_off[0], 2);
	CHECK_EQ(trace_pages_in_epoch(t, 0), 14);
	CHECK_EQ(trace_save(t, path), 0);
	CHECK_EQ(trace_load(path, &u, &why), 0);
	CHECK(u && u->n_epochs == 3 && u->n_pages == 1000 && u->epoch_us == 500 &&
	      u->n_runs == t->n_runs && !memcmp(u->runs, t->runs, t->n_runs * sizeof(*t->runs)));
	CHECK_STR(u ? u->note : NULL, "crafted");
	trace_free(u);
	u = NULL;

	/* Malformed: each must be refused with a reason. */
	{
		static const struct { const char *bytes; size_t len; } bad[] = {
			{ "MIGRTRC2", 8 },
			/* header ok, 1 epoch, a run past the guest (gap 1000) */
			{ "MIGRTRC1\x00\x10\x00\x00\xf4\x01\x00\x00\xe8\x03\x00\x00\x00\x00\x00\x00"
			  "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\xe8\x07\x00", 40 },
			/* two runs, the second adjacent to the first (gap 0) */
			{ "MIGRTRC1\x00\x10\x00\x00\xf4\x01\x00\x00\xe8\x03\x00\x00\x00\x00\x00\x00"
			  "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00", 41 },
			/* truncated in the varint */
			{ "MIGRTRC1\x00\x10\x00\x00\xf4\x01\x00\x00\xe8\x03\x00\x00\x00\x00\x00\x00"
			  "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x80", 38 },
			/* trailing bytes after the last epoch */
			{ "MIGRTRC1\x00\x10\x00\x00\xf4\x01\x00\x00\xe8\x03\x00\x00\x00\x00\x00\x00"
			  "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 38 },
			/* page size not a power of two */
			{ "MIGRTRC1\x00\x11\x00\x00\xf4\x01\x00\x00\xe8\x03\x00\x00\x00\x00\x00\x00"
			  "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 36 },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			f = fopen(path, "wb");
			CHECK(f != NULL);
			if (!f)
				break;
			fwrite(bad[i].bytes, 1, bad[i].len, f);
			fclose(f);
			why = NULL;
			CHECK_EQ(trace_load(path, &u, &why), -EINVAL);
			CHECK(why != NULL);
		}
	}
	/* the one good variant of the above: one run of one page at 0, 1 epoch */
	f = fopen(path, "wb");
	if (f) {
		fwrite("MIGRTRC1\x00\x10\x00\x00\xf4\x01\x00\x00\xe8\x03\x00\x00\x00\x00\x00\x00"
		       "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00", 1, 39, f);
		fclose(f);
	}
	CHECK_EQ(trace_load(path, &u, &why), 0);
	CHECK(u && u->n_runs == 1 && u->runs[0].start == 0 && u->runs[0].len == 1);
	trace_free(u);
	trace_free(t);
	unlink(path);
}

int main(void)
{
	test_libxl_five_rounds();
	test_stop_at_call_a();
	test_qemu_rule();
	test_stop_points();
	test_throttle_slows_guest();
	test_samples();
	test_format();
	return unit_done("test_policy_sim");
}

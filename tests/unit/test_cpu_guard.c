/* test_cpu_guard: the sender's CPU share from what the guest loses (libmigr/cpu_guard.c). */
#include "unit.h"
#include "cpu_guard.h"

#define MS 1000000ull

/*
 * One window of looks every 100 ms for a second: the guest, which ran at 80% of a CPU
 * before (init()), runs at guest_pct; the process takes own_pct of one CPU. Returns
 * whether the share changed; the clocks move on.
 */
struct clocks {
	uint64_t t, cpu, run;
};

static void init(struct migr__cpu_guard *g, struct clocks *c)
{
	migr__guard_init(g);
	migr__guard_baseline(g, 1000 * MS, 800 * MS);
	c->t = 5000 * MS;
	c->cpu = c->run = 0;
}

static bool window(struct migr__cpu_guard *g, struct clocks *c, unsigned int guest_pct,
		   unsigned int own_pct, struct migr__guard_window *w)
{
	bool changed = false;

	if (!g->w_start_ns)
		CHECK(!migr__guard_look(g, c->t, c->cpu, c->run, w));   /* opens the first window */
	for (unsigned int i = 0; i < 10; i++) {
		c->t += 100 * MS;
		c->cpu += own_pct * MS;     /* own_pct % of 100 ms */
		c->run += guest_pct * MS;
		changed |= migr__guard_look(g, c->t, c->cpu, c->run, w);
	}
	return changed;
}

/* the guest's rate for a loss of `lost` tenths of its 80% */
#define LOSING(tenths) (80 - 8 * (tenths))

/* A guest that keeps its rate (a dom0 with CPUs of its own): never paced; nor is one
 * that was idle before, whatever it does later. */
static void test_no_loss_no_pacing(void)
{
	struct migr__cpu_guard g;
	struct migr__guard_window w;
	struct clocks c;

	init(&g, &c);
	for (int i = 0; i < 30; i++)
		CHECK(!window(&g, &c, 80, 95, &w));
	CHECK_EQ(g.share, 0);
	CHECK_EQ(g.min_share, 0);
	CHECK_EQ(migr__guard_guest_pct(&g), 80);

	init(&g, &c);
	migr__guard_baseline(&g, 1000 * MS, 20 * MS);   /* 2% of a CPU */
	for (int i = 0; i < 5; i++)
		CHECK(!window(&g, &c, 0, 95, &w));
	CHECK_EQ(g.share, 0);
}

/* A guest that loses its CPU: the share goes to 6/10 of what the sender took, then lower
 * while each lowering helps, and back up step by step once the guest has its CPU back. */
static void test_loss_lowers_then_recovers(void)
{
	struct migr__cpu_guard g;
	struct migr__guard_window w;
	struct clocks c;

	init(&g, &c);
	CHECK(window(&g, &c, LOSING(9), 90, &w));
	CHECK_EQ(w.from, 0);
	CHECK_EQ(g.share, 54);           /* 90 * 6 / 10 */
	CHECK(w.lost > 0.89 && w.lost < 0.91);
	CHECK_EQ(w.guest_pct, 8);
	CHECK_EQ(w.own_pct, 90);
	/* it helped (loss 0.9 -> 0.6) but the guest still loses: lower again */
	CHECK(window(&g, &c, LOSING(6), 54, &w));
	CHECK_EQ(w.from, 54);
	CHECK_EQ(g.share, 32);           /* min(54, 54) * 6 / 10 */
	CHECK(!w.no_help);
	/* it helped: between the thresholds nothing changes */
	CHECK(!window(&g, &c, LOSING(3), 32, &w));
	CHECK_EQ(g.share, 32);
	/* the guest has its CPU back: +10 a window, free again past 99 */
	CHECK(window(&g, &c, LOSING(1), 32, &w));
	CHECK_EQ(g.share, 42);
	for (int i = 0; i < 5; i++)
		window(&g, &c, 85, 40, &w);
	CHECK_EQ(g.share, 92);
	CHECK(window(&g, &c, 80, 90, &w));
	CHECK_EQ(g.share, 0);
	CHECK_EQ(g.min_share, 32);
	CHECK(g.changes >= 8);
}

/* Lowerings that do not help (the guest loses its CPU to someone else): two in a row are
 * taken back and the share before them kept as the floor; with no share before, the
 * sender is never paced again. */
static void test_no_help_taken_back(void)
{
	struct migr__cpu_guard g;
	struct migr__guard_window w;
	struct clocks c;

	init(&g, &c);
	CHECK(window(&g, &c, LOSING(9), 50, &w));
	CHECK_EQ(g.share, 30);
	/* still losing as much: one more try, lower */
	CHECK(window(&g, &c, LOSING(9), 30, &w));
	CHECK(!w.no_help);
	CHECK_EQ(g.share, 18);
	/* and again no better: both are taken back */
	CHECK(window(&g, &c, LOSING(9), 18, &w));
	CHECK(w.no_help);
	CHECK_EQ(w.from, 18);
	CHECK_EQ(g.share, 0);
	/* the guest goes on losing: no lowering again */
	for (int i = 0; i < 10; i++)
		CHECK(!window(&g, &c, LOSING(10), 95, &w));
	CHECK_EQ(g.share, 0);
	CHECK_EQ(g.min_share, 18);
}

/* The floor after a useful lowering followed by two useless ones; a useless one followed
 * by a useful one is no strike. */
static void test_floor_after_partial_help(void)
{
	struct migr__cpu_guard g;
	struct migr__guard_window w;
	struct clocks c;

	init(&g, &c);
	CHECK(window(&g, &c, LOSING(10), 100, &w));
	CHECK_EQ(g.share, 60);
	CHECK(window(&g, &c, LOSING(7), 60, &w));   /* helped: 1.0 -> 0.7, still high */
	CHECK_EQ(g.share, 36);
	CHECK(window(&g, &c, LOSING(7), 36, &w));   /* 0.7 -> 0.7: a strike, lower still */
	CHECK_EQ(g.share, 21);
	CHECK(window(&g, &c, LOSING(7), 21, &w));   /* the second: back to 60 */
	CHECK(w.no_help);
	CHECK_EQ(g.share, 60);
	CHECK_EQ(g.floor, 60);
	CHECK(!window(&g, &c, LOSING(8), 60, &w));  /* high, but not below the floor */
	CHECK_EQ(g.share, 60);

	init(&g, &c);
	CHECK(window(&g, &c, LOSING(10), 100, &w)); /* 60 */
	CHECK(window(&g, &c, LOSING(10), 60, &w));  /* a strike: 36 */
	CHECK_EQ(g.share, 36);
	CHECK(window(&g, &c, LOSING(6), 36, &w));   /* 1.0 -> 0.6 against the run's start */
	CHECK(!w.no_help);
	CHECK_EQ(g.strikes, 0);
	CHECK_EQ(g.share, 21);
	CHECK_EQ(g.floor, 0);
}

/* Never below the minimum, whatever little the sender took; no help at the bottom is
 * taken back at once; a window needs a second and three looks; a restart forgets the
 * window; a clock going back opens a new one; no rate before: no pacing. */
static void test_edges(void)
{
	struct migr__cpu_guard g;
	struct migr__guard_window w;
	struct clocks c;

	init(&g, &c);
	CHECK(window(&g, &c, 0, 5, &w));
	CHECK_EQ(g.share, MIGR__GUARD_MIN);
	CHECK(window(&g, &c, 0, 5, &w));
	CHECK(w.no_help);
	CHECK_EQ(g.share, 0);
	CHECK(!window(&g, &c, 0, 5, &w));

	init(&g, &c);
	/* two looks, the second a second after the first, are not a window: it needs 3 */
	CHECK(!migr__guard_look(&g, 1000 * MS, 0, 0, &w));
	CHECK(!migr__guard_look(&g, 2100 * MS, 900 * MS, 0, &w));
	CHECK_EQ(g.looks, 1);
	CHECK_EQ(g.share, 0);
	migr__guard_restart(&g);
	CHECK_EQ(g.looks, 0);
	CHECK_EQ(g.w_start_ns, 0);
	/* a clock going back opens a new window */
	migr__guard_look(&g, 3000 * MS, 0, 500 * MS, &w);
	migr__guard_look(&g, 3100 * MS, 0, 400 * MS, &w);
	CHECK_EQ(g.looks, 0);
	CHECK_EQ(g.w_run0_ns, 400 * MS);
	migr__guard_look(&g, 100 * MS, 0, 400 * MS, &w);
	CHECK_EQ(g.looks, 0);
	CHECK_EQ(g.w_start_ns, 100 * MS);
	CHECK_EQ(migr__guard_guest_pct(&g), 0);       /* no window ended */

	migr__guard_init(&g);                          /* no baseline */
	c.t = 5000 * MS;
	for (int i = 0; i < 3; i++)
		CHECK(!window(&g, &c, 0, 95, &w));
	CHECK_EQ(g.share, 0);
	CHECK_EQ(migr__guard_guest_pct(&g), 0);
}

int main(void)
{
	test_no_loss_no_pacing();
	test_loss_lowers_then_recovers();
	test_no_help_taken_back();
	test_floor_after_partial_help();
	test_edges();
	return unit_done("test_cpu_guard");
}

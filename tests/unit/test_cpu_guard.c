/* test_cpu_guard: the sender's CPU share from the guest's waiting (libmigr/cpu_guard.c). */
#include "unit.h"
#include "cpu_guard.h"

#define MS 1000000ull

/*
 * One window of looks every 100 ms for a second: the guest's one vCPU waits in
 * `waiting` of 10 looks, the process takes own_pct of one CPU. Returns whether the
 * share changed; *t and *cpu move on.
 */
static bool window(struct migr__cpu_guard *g, uint64_t *t, uint64_t *cpu, unsigned int waiting,
		   unsigned int own_pct, struct migr__guard_window *w)
{
	bool changed = false;

	if (!g->w_start_ns)
		CHECK(!migr__guard_look(g, *t, *cpu, 1, 1, w));   /* opens the first window */

	for (unsigned int i = 0; i < 10; i++) {
		*t += 100 * MS;
		*cpu += own_pct * MS;     /* own_pct % of 100 ms */
		changed |= migr__guard_look(g, *t, *cpu, i < waiting, 1, w);
	}
	return changed;
}

/* A guest that never waits (a dom0 with CPUs of its own): never paced. */
static void test_no_waiting_no_pacing(void)
{
	struct migr__cpu_guard g;
	struct migr__guard_window w;
	uint64_t t = 5000 * MS, cpu = 0;

	migr__guard_init(&g);
	for (int i = 0; i < 30; i++)
		CHECK(!window(&g, &t, &cpu, 0, 95, &w));
	CHECK_EQ(g.share, 0);
	CHECK_EQ(g.min_share, 0);
	CHECK_EQ(migr__guard_wait_pct(&g), 0);
}

/* A guest that waits: the share goes to 6/10 of what the sender took, then lower while
 * each lowering helps, and back up step by step once the guest stops waiting. */
static void test_waiting_lowers_then_recovers(void)
{
	struct migr__cpu_guard g;
	struct migr__guard_window w;
	uint64_t t = 5000 * MS, cpu = 0;

	migr__guard_init(&g);
	CHECK(window(&g, &t, &cpu, 9, 90, &w));
	CHECK_EQ(w.from, 0);
	CHECK_EQ(g.share, 54);           /* 90 * 6 / 10 */
	CHECK(w.waiting > 0.8);
	CHECK_EQ(w.own_pct, 90);
	/* it helped (waiting 0.9 -> 0.6) but the guest still waits: lower again */
	CHECK(window(&g, &t, &cpu, 6, 54, &w));
	CHECK_EQ(w.from, 54);
	CHECK_EQ(g.share, 32);           /* min(54, 54) * 6 / 10 */
	CHECK(!w.no_help);
	/* it helped: between the thresholds nothing changes */
	CHECK(!window(&g, &t, &cpu, 3, 32, &w));
	CHECK_EQ(g.share, 32);
	/* the guest stops waiting: +10 a window, free again past 99 */
	CHECK(window(&g, &t, &cpu, 1, 32, &w));
	CHECK_EQ(g.share, 42);
	for (int i = 0; i < 5; i++)
		window(&g, &t, &cpu, 0, 40, &w);
	CHECK_EQ(g.share, 92);
	CHECK(window(&g, &t, &cpu, 0, 90, &w));
	CHECK_EQ(g.share, 0);
	CHECK_EQ(g.min_share, 32);
	CHECK(g.changes >= 8);
}

/* Lowering that does not help (the guest waits for someone else's CPU): taken back and
 * kept as the floor; with no share before, the sender is never paced again. */
static void test_no_help_taken_back(void)
{
	struct migr__cpu_guard g;
	struct migr__guard_window w;
	uint64_t t = 5000 * MS, cpu = 0;

	migr__guard_init(&g);
	CHECK(window(&g, &t, &cpu, 9, 50, &w));
	CHECK_EQ(g.share, 30);
	/* still waiting as much: the lowering is taken back */
	CHECK(window(&g, &t, &cpu, 9, 30, &w));
	CHECK(w.no_help);
	CHECK_EQ(w.from, 30);
	CHECK_EQ(g.share, 0);
	/* the guest goes on waiting: no lowering again */
	for (int i = 0; i < 10; i++)
		CHECK(!window(&g, &t, &cpu, 10, 95, &w));
	CHECK_EQ(g.share, 0);
	CHECK_EQ(g.min_share, 30);
}

/* The floor after a useful lowering followed by a useless one. */
static void test_floor_after_partial_help(void)
{
	struct migr__cpu_guard g;
	struct migr__guard_window w;
	uint64_t t = 5000 * MS, cpu = 0;

	migr__guard_init(&g);
	CHECK(window(&g, &t, &cpu, 10, 100, &w));
	CHECK_EQ(g.share, 60);
	CHECK(window(&g, &t, &cpu, 7, 60, &w));     /* helped: 1.0 -> 0.7, still high */
	CHECK_EQ(g.share, 36);
	CHECK(window(&g, &t, &cpu, 7, 36, &w));     /* 0.7 -> 0.7: no help */
	CHECK(w.no_help);
	CHECK_EQ(g.share, 60);
	CHECK_EQ(g.floor, 60);
	CHECK(!window(&g, &t, &cpu, 8, 60, &w));    /* high, but not below the floor */
	CHECK_EQ(g.share, 60);
}

/* Never below the minimum, whatever little the sender took; a window needs its second
 * and three looks; a restart forgets the window; bad input is clamped. */
static void test_edges(void)
{
	struct migr__cpu_guard g;
	struct migr__guard_window w;
	uint64_t t = 5000 * MS, cpu = 0;

	migr__guard_init(&g);
	CHECK(window(&g, &t, &cpu, 10, 5, &w));
	CHECK_EQ(g.share, MIGR__GUARD_MIN);

	migr__guard_init(&g);
	/* two looks, the second a second after the first, are not a window: it needs 3 */
	CHECK(!migr__guard_look(&g, 1000 * MS, 0, 1, 1, &w));
	CHECK(!migr__guard_look(&g, 2100 * MS, 900 * MS, 1, 1, &w));
	CHECK_EQ(g.looks, 1);
	CHECK_EQ(g.share, 0);
	migr__guard_restart(&g);
	CHECK_EQ(g.looks, 0);
	CHECK_EQ(g.w_start_ns, 0);
	/* no online vCPU: no look; waiting above online counts as online */
	CHECK(!migr__guard_look(&g, 3000 * MS, 0, 1, 0, &w));
	CHECK_EQ(g.w_start_ns, 0);
	migr__guard_look(&g, 3000 * MS, 0, 9, 2, &w);      /* opens */
	migr__guard_look(&g, 3100 * MS, 0, 9, 2, &w);
	CHECK_EQ(g.waiting, 2);
	/* a clock going back opens a new window */
	migr__guard_look(&g, 100 * MS, 0, 0, 2, &w);
	CHECK_EQ(g.looks, 0);
	CHECK_EQ(g.w_start_ns, 100 * MS);
	migr__guard_look(&g, 200 * MS, 0, 0, 2, &w);
	CHECK_EQ(migr__guard_wait_pct(&g), 60);   /* counted looks: 1 of 1, 2 of 2, 0 of 2 */
}

int main(void)
{
	test_no_waiting_no_pacing();
	test_waiting_lowers_then_recovers();
	test_no_help_taken_back();
	test_floor_after_partial_help();
	test_edges();
	return unit_done("test_cpu_guard");
}

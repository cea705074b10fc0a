/* test_plan.c: the evacuation planner. */
#include <errno.h>
#include <stdio.h>
#include "libmigr.h"
#include "unit.h"

static struct migr_plan_guest G(const char *name, uint32_t domid, uint64_t mib,
				const char *group)
{
	struct migr_plan_guest g;

	memset(&g, 0, sizeof(g));
	snprintf(g.name, sizeof(g.name), "%s", name);
	g.domid = domid;
	g.mem_kib = mib * 1024;
	g.vcpus = 1;
	snprintf(g.group, sizeof(g.group), "%s", group ? group : "");
	g.migratable = true;
	return g;
}

static struct migr_plan_target T(const char *name, uint64_t free_mib, uint64_t total_mib)
{
	struct migr_plan_target t;

	memset(&t, 0, sizeof(t));
	snprintf(t.name, sizeof(t.name), "%s", name);
	t.reachable = true;
	t.free_kib = free_mib * 1024;
	t.total_kib = total_mib * 1024;
	return t;
}

static const struct migr_plan_entry *entry_of(const struct migr_plan *p, unsigned guest)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->entries[i].guest == guest)
			return &p->entries[i];
	return NULL;
}

static struct migr_plan_params params(void)
{
	struct migr_plan_params pp;

	migr_plan_params_init(&pp);
	pp.overhead_kib = 0;
	pp.threshold_pct = 100;
	return pp;
}

/* A guest that fits nowhere stays with a reason; the others are placed. */
static void test_fits_nowhere(void)
{
	struct migr_plan_guest g[3] = { G("small", 1, 128, NULL), G("huge", 2, 4096, NULL),
					G("mid", 3, 256, NULL) };
	struct migr_plan_target t[2] = { T("b", 1024, 2048), T("c", 512, 2048) };
	struct migr_plan_params pp = params();
	struct migr_plan *p = NULL;

	CHECK_EQ(migr_plan_make(g, 3, t, 2, &pp, &p), 0);
	if (!p)
		return;
	CHECK_EQ(p->placed, 2);
	CHECK_EQ(p->unplaceable, 1);
	CHECK_EQ(entry_of(p, 1)->verdict, MIGR_PLAN_UNPLACEABLE);
	CHECK_EQ(entry_of(p, 1)->target, -1);
	CHECK(strstr(entry_of(p, 1)->reason, "4096 MiB") != NULL);
	CHECK(strstr(entry_of(p, 1)->reason, "1024 MiB") != NULL);
	CHECK_EQ(entry_of(p, 0)->verdict, MIGR_PLAN_PLACED);
	CHECK_EQ(entry_of(p, 2)->verdict, MIGR_PLAN_PLACED);
	/* Execution order: smallest first. */
	CHECK_EQ(p->entries[0].guest, 0);
	CHECK_EQ(p->entries[1].guest, 2);
	CHECK_EQ(p->entries[2].guest, 1);
	/* Largest first onto the emptiest target: mid (256) -> b (1024), then small (128)
	 * -> b again (768 left beats c's 512). */
	CHECK_EQ(entry_of(p, 2)->target, 0);
	CHECK_EQ(entry_of(p, 0)->target, 0);
	CHECK_EQ(p->assigned_kib[0], 384 * 1024);
	CHECK(strstr(p->order_why, "smallest first") != NULL);
	migr_plan_free(p);
	/* Largest first (streams side by side): the same placement, the order reversed. */
	pp.order = MIGR_PLAN_ORDER_LARGEST;
	p = NULL;
	CHECK_EQ(migr_plan_make(g, 3, t, 2, &pp, &p), 0);
	if (!p)
		return;
	CHECK_EQ(p->entries[0].guest, 1);
	CHECK_EQ(p->entries[1].guest, 2);
	CHECK_EQ(p->entries[2].guest, 0);
	CHECK_EQ(entry_of(p, 2)->target, 0);
	CHECK_EQ(entry_of(p, 0)->target, 0);
	CHECK(strstr(p->order_why, "largest first") != NULL);
	migr_plan_free(p);
}

/* Capacity is consumed: the sum placed on a target never exceeds its free memory. */
static void test_capacity(void)
{
	struct migr_plan_guest g[5];
	struct migr_plan_target t[2] = { T("b", 600, 0), T("c", 300, 0) };
	struct migr_plan_params pp = params();
	struct migr_plan *p = NULL;

	for (unsigned i = 0; i < 5; i++) {
		char n[8];

		snprintf(n, sizeof(n), "g%u", i);
		g[i] = G(n, 10 + i, 200, NULL);
	}
	CHECK_EQ(migr_plan_make(g, 5, t, 2, &pp, &p), 0);
	if (!p)
		return;
	CHECK_EQ(p->placed, 4);            /* 3 on b, 1 on c */
	CHECK_EQ(p->unplaceable, 1);
	CHECK(p->assigned_kib[0] <= 600 * 1024);
	CHECK(p->assigned_kib[1] <= 300 * 1024);
	CHECK_EQ(p->assigned_kib[0] + p->assigned_kib[1], 800 * 1024);
	migr_plan_free(p);
}

/* Anti-affinity: two guests of one group never share a target. */
static void test_anti_affinity(void)
{
	struct migr_plan_guest g[4] = { G("web1", 1, 100, "web"), G("web2", 2, 100, "web"),
					G("web3", 3, 100, "web"), G("db", 4, 100, "db") };
	struct migr_plan_target t[2] = { T("b", 4096, 0), T("c", 4096, 0) };
	struct migr_plan_params pp = params();
	struct migr_plan *p = NULL;

	CHECK_EQ(migr_plan_make(g, 4, t, 2, &pp, &p), 0);
	if (!p)
		return;
	CHECK_EQ(p->placed, 3);
	CHECK_EQ(p->unplaceable, 1);
	CHECK(entry_of(p, 0)->target != entry_of(p, 1)->target ||
	      entry_of(p, 0)->target == -1 || entry_of(p, 1)->target == -1);
	{
		unsigned on[2] = { 0, 0 }, left = 0;

		for (unsigned i = 0; i < 3; i++) {
			const struct migr_plan_entry *e = entry_of(p, i);

			if (e->target >= 0)
				on[e->target]++;
			else {
				left++;
				CHECK(strstr(e->reason, "anti-affinity") != NULL);
				CHECK(strstr(e->reason, "'web'") != NULL);
			}
		}
		CHECK_EQ(on[0], 1);
		CHECK_EQ(on[1], 1);
		CHECK_EQ(left, 1);
	}
	CHECK_EQ(entry_of(p, 3)->verdict, MIGR_PLAN_PLACED);
	migr_plan_free(p);
}

/* Pinned guests, unreachable targets, thresholds. */
static void test_pinned_threshold_unreachable(void)
{
	struct migr_plan_guest g[3] = { G("pin", 1, 100, NULL), G("a", 2, 500, NULL),
					G("b", 3, 100, NULL) };
	struct migr_plan_target t[3] = { T("down", 8192, 8192), T("busy", 8192, 8192),
					 T("ok", 1000, 2000) };
	struct migr_plan_params pp = params();
	struct migr_plan *p = NULL;

	g[0].migratable = false;
	snprintf(g[0].why_not, sizeof(g[0].why_not), "pinned by operator");
	t[0].reachable = false;
	t[1].cpu_util_pct = 95;
	t[1].threshold_pct = 80;
	pp.threshold_pct = 80;
	/* "ok" has 2000 MiB, 1000 used: placing a (500) makes 75%, then b (100) 80%. */
	CHECK_EQ(migr_plan_make(g, 3, t, 3, &pp, &p), 0);
	if (!p)
		return;
	CHECK_EQ(entry_of(p, 0)->verdict, MIGR_PLAN_PINNED);
	CHECK(strstr(entry_of(p, 0)->reason, "pinned by operator") != NULL);
	CHECK_EQ(entry_of(p, 1)->target, 2);
	CHECK_EQ(entry_of(p, 2)->target, 2);
	migr_plan_free(p);

	/* Tighter threshold: b no longer fits under 78%. */
	pp.threshold_pct = 78;
	t[2].threshold_pct = 78;
	p = NULL;
	CHECK_EQ(migr_plan_make(g, 3, t, 3, &pp, &p), 0);
	if (!p)
		return;
	CHECK_EQ(entry_of(p, 1)->target, 2);
	CHECK_EQ(entry_of(p, 2)->verdict, MIGR_PLAN_UNPLACEABLE);
	CHECK(strstr(entry_of(p, 2)->reason, "threshold") != NULL);
	migr_plan_free(p);

	/* No usable target at all. */
	t[2].reachable = false;
	p = NULL;
	CHECK_EQ(migr_plan_make(g, 3, t, 3, &pp, &p), 0);
	if (!p)
		return;
	CHECK_EQ(p->placed, 0);
	CHECK_EQ(p->pinned, 1);
	CHECK_EQ(p->unplaceable, 2);
	CHECK(strstr(entry_of(p, 1)->reason, "no target usable") != NULL);
	migr_plan_free(p);
}

static void test_bad_input_and_parallel(void)
{
	struct migr_plan_guest g[2] = { G("a", 1, 1, NULL), G("b", 1, 1, NULL) };
	struct migr_plan *p = NULL;

	CHECK_EQ(migr_plan_make(g, 2, NULL, 0, NULL, &p), -EINVAL);   /* duplicate domid */
	g[1].domid = 2;
	CHECK_EQ(migr_plan_make(g, 2, NULL, 0, NULL, &p), 0);
	if (p) {
		CHECK_EQ(p->unplaceable, 2);
		CHECK(strstr(p->entries[0].reason, "no target") != NULL);
		migr_plan_free(p);
	}
	/* Overflowing memory sizes never fit. */
	{
		struct migr_plan_guest h = G("h", 9, 0, NULL);
		struct migr_plan_target t = T("b", 1, 0);

		h.mem_kib = UINT64_MAX - 10;
		t.free_kib = UINT64_MAX;
		p = NULL;
		CHECK_EQ(migr_plan_make(&h, 1, &t, 1, NULL, &p), 0);
		if (p) {
			CHECK_EQ(p->unplaceable, 1);
			migr_plan_free(p);
		}
	}
	CHECK_EQ(migr_plan_auto_parallel(0, 8, 100), 4);
	CHECK_EQ(migr_plan_auto_parallel(100000000ull, 8, 100), 2);
	CHECK_EQ(migr_plan_auto_parallel(10000000000ull, 16, 100), 8);
	CHECK_EQ(migr_plan_auto_parallel(10000000000ull, 1, 100), 1);
	CHECK_EQ(migr_plan_auto_parallel(10000000000ull, 16, 3), 3);
	CHECK_EQ(migr_plan_auto_parallel(10000000000ull, 16, 0), 8);
}

/* Groups a target holds already count for anti-affinity; three guests of one group on
 * three targets, one of which holds that group: the one left over stays. */
static void test_held_groups(void)
{
	static const char held[2][MIGR_PLAN_NAME_MAX] = { "db", "web" };
	struct migr_plan_guest g[3] = { G("w1", 1, 100, "web"), G("w2", 2, 100, "web"),
					G("x", 3, 100, NULL) };
	struct migr_plan_target t[2] = { T("b", 1000, 0), T("c", 1000, 0) };
	struct migr_plan_params pp = params();
	struct migr_plan *p = NULL;

	t[0].held_groups = held;
	t[0].nheld_groups = 2;
	CHECK_EQ(migr_plan_make(g, 3, t, 2, &pp, &p), 0);
	if (p) {
		const struct migr_plan_entry *e1 = entry_of(p, 0), *e2 = entry_of(p, 1);

		/* one web guest goes to c, the other has nowhere: b holds "web" */
		CHECK_EQ(p->placed, 2);
		CHECK_EQ(p->unplaceable, 1);
		CHECK((e1->target == 1) != (e2->target == 1));
		CHECK(e1->target != 0 && e2->target != 0);
		CHECK(strstr((e1->target < 0 ? e1 : e2)->reason, "anti-affinity") != NULL);
		CHECK_EQ(entry_of(p, 2)->target, 0);    /* no group: b has the room */
		migr_plan_free(p);
	}
	/* a count without its array is refused */
	t[0].held_groups = NULL;
	CHECK_EQ(migr_plan_make(g, 3, t, 2, &pp, &p), -EINVAL);
}

/* Spread takes the target with the most left, pack the one with the least. */
static void test_fit(void)
{
	struct migr_plan_guest g[2] = { G("a", 1, 300, NULL), G("b", 2, 100, NULL) };
	struct migr_plan_target t[3] = { T("big", 1000, 0), T("mid", 450, 0), T("small", 120, 0) };
	struct migr_plan_params pp = params();
	struct migr_plan *p = NULL;

	CHECK_EQ(migr_plan_make(g, 2, t, 3, &pp, &p), 0);
	if (p) {
		CHECK_EQ(entry_of(p, 0)->target, 0);
		CHECK_EQ(entry_of(p, 1)->target, 0);
		migr_plan_free(p);
	}
	pp.fit = MIGR_PLAN_FIT_PACK;
	CHECK_EQ(migr_plan_make(g, 2, t, 3, &pp, &p), 0);
	if (p) {
		CHECK_EQ(entry_of(p, 0)->target, 1);    /* 300 into 450: 150 left */
		CHECK_EQ(entry_of(p, 1)->target, 2);    /* 100 into 120: 20 left */
		CHECK_EQ(p->assigned_kib[1], 300 * 1024);
		migr_plan_free(p);
	}
}

int main(void)
{
	test_held_groups();
	test_fit();
	test_fits_nowhere();
	test_capacity();
	test_anti_affinity();
	test_pinned_threshold_unreachable();
	test_bad_input_and_parallel();
	return unit_done("test_plan");
}

/* test_fleet.c: the scheduling core of a rolling drain (migr/fleet.h), table-driven. */
#include <errno.h>
#include <stdio.h>
#include "libmigr.h"
#include "unit.h"

#define IN  MIGR_FLEET_IN_SERVICE
#define DR  MIGR_FLEET_DRAINING
#define MT  MIGR_FLEET_MAINTENANCE

struct hspec { const char *name, *group; unsigned total, free; int state; };
struct gspec { const char *name, *host, *to; unsigned mib; const char *group; bool pinned; };

struct tcase {
	const char *what;
	struct hspec h[6];
	struct gspec g[8];
	const char *queue[5];
	unsigned w;                /* max_draining */
	int rc;
	const char *err;           /* substring of the error, when rc != 0 */
	const char *start;         /* "a,b" */
	const char *held;          /* "b:window,c:room" */
	const char *moves;         /* "g1>b g2>c", in the decision's order */
	const char *stuck;         /* "g3" */
	const char *reason;        /* substring of the first held host's reason */
};

#define ERR(s) s, NULL, NULL, NULL, NULL, NULL

static const struct tcase cases[] = {
	{ "one host drains onto the others",
	  { { "a", "r1", 1000, 100, IN }, { "b", "r2", 1000, 500, IN }, { "c", "r3", 1000, 400, IN } },
	  { { "g1", "a", "", 400, "", 0 }, { "g2", "a", "", 300, "", 0 },
	    { "x", "b", "", 500, "", 0 }, { "y", "c", "", 600, "", 0 } },
	  { "a" }, 1, 0, NULL, "a", "", "g1>c g2>b", "", NULL },
	{ "the window: one at a time",
	  { { "a", "r1", 1000, 900, IN }, { "b", "r2", 1000, 900, IN }, { "c", "r3", 1000, 1000, IN } },
	  { { "g1", "a", "", 100, "", 0 }, { "g2", "b", "", 100, "", 0 } },
	  { "a", "b" }, 1, 0, NULL, "a", "b:window", "g1>c", "", "1 hosts draining" },
	{ "hosts draining already fill the window",
	  { { "a", "r1", 1000, 1000, DR }, { "b", "r2", 1000, 900, IN }, { "c", "r3", 1000, 1000, IN } },
	  { { "g2", "b", "", 100, "", 0 } },
	  { "b" }, 1, 0, NULL, "", "b:window", "", "", NULL },
	{ "never two hosts of one failure domain",
	  { { "a", "r1", 1000, 900, IN }, { "b", "r1", 1000, 900, IN }, { "c", "r2", 1000, 900, IN },
	    { "d", "r3", 1000, 1000, IN } },
	  { { "g1", "a", "", 100, "", 0 }, { "g2", "b", "", 100, "", 0 }, { "g3", "c", "", 100, "", 0 } },
	  { "a", "b", "c" }, 3, 0, NULL, "a,c", "b:group", "g1>d g3>d", "", "r1" },
	{ "a host in maintenance keeps its domain busy",
	  { { "a", "r1", 1000, 1000, MT }, { "b", "r1", 1000, 900, IN }, { "c", "r2", 1000, 1000, IN } },
	  { { "g2", "b", "", 100, "", 0 } },
	  { "b" }, 4, 0, NULL, "", "b:group", "", "", NULL },
	{ "no room in all: the cheap check",
	  { { "a", "r1", 1000, 0, IN }, { "b", "r2", 1000, 100, IN }, { "c", "r3", 1000, 100, IN } },
	  { { "g1", "a", "", 500, "", 0 }, { "g2", "a", "", 500, "", 0 },
	    { "x", "b", "", 900, "", 0 }, { "y", "c", "", 900, "", 0 } },
	  { "a" }, 1, 0, NULL, "", "a:room", "", "", "200 MiB free in all" },
	{ "room in all but no host holds the big guest",
	  { { "a", "r1", 1000, 400, IN }, { "b", "r2", 1000, 400, IN }, { "c", "r3", 1000, 400, IN } },
	  { { "g1", "a", "", 600, "", 0 }, { "x", "b", "", 600, "", 0 }, { "y", "c", "", 600, "", 0 } },
	  { "a" }, 1, 0, NULL, "", "a:room", "", "", "guest g1: needs 600 MiB" },
	{ "a blocked host does not stop the next",
	  { { "a", "r1", 1000, 400, IN }, { "b", "r2", 1000, 300, IN }, { "c", "r3", 1000, 400, IN } },
	  { { "g1", "a", "", 600, "", 0 }, { "x", "b", "", 200, "", 0 }, { "y", "c", "", 600, "", 0 } },
	  { "a", "b" }, 2, 0, NULL, "b", "a:room", "x>c", "", NULL },
	{ "anti-affinity counts the groups already on a target",
	  { { "a", "r1", 1000, 900, IN }, { "b", "r2", 1000, 600, IN }, { "c", "r3", 1000, 800, IN } },
	  { { "g1", "a", "", 100, "web", 0 }, { "w2", "b", "", 200, "web", 0 },
	    { "z", "c", "", 200, "", 0 } },
	  { "a" }, 1, 0, NULL, "a", "", "g1>c", "", NULL },
	{ "anti-affinity leaves no target",
	  { { "a", "r1", 1000, 900, IN }, { "b", "r2", 1000, 800, IN } },
	  { { "g1", "a", "", 100, "web", 0 }, { "w2", "b", "", 200, "web", 0 } },
	  { "a" }, 1, 0, NULL, "", "a:room", "", "", "anti-affinity" },
	{ "groups coming to a target count too",
	  { { "a", "r1", 1000, 900, IN }, { "b", "r2", 1000, 600, IN }, { "c", "r3", 1000, 700, IN },
	    { "d", "r4", 1000, 800, DR } },
	  { { "g1", "a", "", 100, "web", 0 }, { "w2", "d", "b", 200, "web", 0 },
	    { "z", "c", "", 300, "", 0 } },
	  { "a" }, 2, 0, NULL, "a", "", "g1>c", "", NULL },
	{ "a pinned guest keeps its host",
	  { { "a", "r1", 1000, 800, IN }, { "b", "r2", 1000, 1000, IN } },
	  { { "g1", "a", "", 100, "", 0 }, { "p", "a", "", 100, "", 1 } },
	  { "a" }, 1, 0, NULL, "", "a:pinned", "", "", "guest p is pinned" },
	{ "a host still receiving waits",
	  { { "a", "r1", 1000, 700, IN }, { "b", "r2", 1000, 1000, IN }, { "c", "r3", 1000, 900, DR } },
	  { { "g1", "a", "", 100, "", 0 }, { "x", "c", "a", 100, "", 0 } },
	  { "a" }, 2, 0, NULL, "", "a:inbound", "", "", "1 guests still coming" },
	{ "hosts not queued are targets first",
	  { { "a", "r1", 1000, 900, IN }, { "b", "r2", 1000, 1000, IN }, { "c", "r3", 1000, 500, IN } },
	  { { "g1", "a", "", 100, "", 0 }, { "x", "c", "", 500, "", 0 } },
	  { "a", "b" }, 1, 0, NULL, "a", "b:window", "g1>c", "", NULL },
	{ "queued hosts take what the others cannot, and then wait for it",
	  { { "a", "r1", 1000, 700, IN }, { "b", "r2", 1000, 1000, IN }, { "c", "r3", 1000, 100, IN } },
	  { { "g1", "a", "", 300, "", 0 }, { "x", "c", "", 900, "", 0 } },
	  { "a", "b" }, 2, 0, NULL, "a", "b:inbound", "g1>b", "", NULL },
	{ "two hosts starting together do not share one room",
	  { { "a", "r1", 1000, 400, IN }, { "b", "r2", 1000, 400, IN }, { "c", "r3", 1000, 800, IN } },
	  { { "g1", "a", "", 600, "", 0 }, { "g2", "b", "", 600, "", 0 }, { "x", "c", "", 200, "", 0 } },
	  { "a", "b" }, 2, 0, NULL, "a", "b:room", "g1>c", "", NULL },
	{ "nothing goes to a host in maintenance or draining",
	  { { "a", "r1", 1000, 900, IN }, { "b", "r2", 1000, 1000, MT }, { "c", "r3", 1000, 1000, DR } },
	  { { "g1", "a", "", 100, "", 0 } },
	  { "a" }, 2, 0, NULL, "", "a:room", "", "", NULL },
	{ "an unplaced guest of a draining host is placed",
	  { { "a", "r1", 1000, 700, DR }, { "b", "r2", 1000, 800, IN } },
	  { { "g1", "a", "", 100, "", 0 }, { "g2", "a", "b", 200, "", 0 } },
	  { NULL }, 1, 0, NULL, "", "", "g1>b", "", NULL },
	{ "an unplaceable guest of a draining host is stuck",
	  { { "a", "r1", 1000, 300, DR }, { "b", "r2", 1000, 100, IN } },
	  { { "g1", "a", "", 700, "", 0 }, { "x", "b", "", 900, "", 0 } },
	  { NULL }, 1, 0, NULL, "", "", "", "g1", NULL },
	{ "an empty host drains at once",
	  { { "a", "r1", 1000, 1000, IN }, { "b", "r2", 1000, 1000, IN } },
	  { { NULL } },
	  { "a", "b" }, 2, 0, NULL, "a,b", "", "", "", NULL },

	/* hostile or inconsistent input */
	{ "duplicate host", { { "a", "", 1000, 1000, IN }, { "a", "", 1000, 1000, IN } },
	  { { NULL } }, { NULL }, 1, -EINVAL, ERR("host a given twice") },
	{ "duplicate guest", { { "a", "", 1000, 800, IN }, { "b", "", 1000, 900, IN } },
	  { { "g", "a", "", 100, "", 0 }, { "g", "b", "", 100, "", 0 } }, { NULL }, 1, -EINVAL,
	  ERR("guest g given twice") },
	{ "guest on an unknown host", { { "a", "", 1000, 1000, IN } },
	  { { "g", "zz", "", 100, "", 0 } }, { NULL }, 1, -EINVAL, ERR("unknown host zz") },
	{ "guest going to an unknown host", { { "a", "", 1000, 900, DR } },
	  { { "g", "a", "zz", 100, "", 0 } }, { NULL }, 1, -EINVAL, ERR("unknown target host zz") },
	{ "guest going to its own host", { { "a", "", 1000, 900, DR } },
	  { { "g", "a", "a", 100, "", 0 } }, { NULL }, 1, -EINVAL, ERR("its own host") },
	{ "guest going to a host in maintenance",
	  { { "a", "", 1000, 900, DR }, { "b", "", 1000, 1000, MT } },
	  { { "g", "a", "b", 100, "", 0 } }, { NULL }, 1, -EINVAL, ERR("which is maintenance") },
	{ "guest on a host in maintenance", { { "a", "", 1000, 900, MT } },
	  { { "g", "a", "", 100, "", 0 } }, { NULL }, 1, -EINVAL, ERR("in maintenance") },
	{ "guest of size 0", { { "a", "", 1000, 1000, IN } },
	  { { "g", "a", "", 0, "", 0 } }, { NULL }, 1, -EINVAL, ERR("does not fit") },
	{ "guests beyond their host", { { "a", "", 1000, 0, IN } },
	  { { "g", "a", "", 600, "", 0 }, { "h", "a", "", 600, "", 0 } }, { NULL }, 1, -EINVAL,
	  ERR("guest h: 614400 KiB does not fit") },
	{ "free and guests beyond the host", { { "a", "", 1000, 500, IN } },
	  { { "g", "a", "", 600, "", 0 } }, { NULL }, 1, -EINVAL, ERR("exceed") },
	{ "free beyond total", { { "a", "", 1000, 2000, IN } },
	  { { NULL } }, { NULL }, 1, -EINVAL, ERR("free 2048000 KiB of total") },
	{ "queue names an unknown host", { { "a", "", 1000, 1000, IN } },
	  { { NULL } }, { "zz" }, 1, -EINVAL, ERR("unknown host zz") },
	{ "queue names a host twice", { { "a", "", 1000, 1000, IN }, { "b", "", 1000, 1000, IN } },
	  { { NULL } }, { "a", "b", "a" }, 1, -EINVAL, ERR("queued twice") },
	{ "queue names a draining host", { { "a", "", 1000, 1000, DR } },
	  { { NULL } }, { "a" }, 1, -EINVAL, ERR("queued but draining") },
	{ "window of 0", { { "a", "", 1000, 1000, IN } },
	  { { NULL } }, { "a" }, 0, -EINVAL, ERR("max_draining 0") },
};

static void join(char *out, size_t size, const char *sep, const char *s)
{
	size_t n = strlen(out);

	snprintf(out + n, size - n, "%s%s", n ? sep : "", s);
}

static void run(const struct tcase *tc)
{
	struct migr_fleet_host h[6];
	struct migr_fleet_guest g[8];
	struct migr_fleet_params pp;
	struct migr_fleet_decision *d = NULL;
	unsigned nh = 0, ng = 0, nq = 0;
	char err[MIGR_FLEET_ERR_MAX], buf[512];
	int rc;

	memset(h, 0, sizeof(h));
	memset(g, 0, sizeof(g));
	for (; nh < 6 && tc->h[nh].name; nh++) {
		snprintf(h[nh].name, sizeof(h[nh].name), "%s", tc->h[nh].name);
		snprintf(h[nh].group, sizeof(h[nh].group), "%s", tc->h[nh].group);
		h[nh].total_kib = (uint64_t)tc->h[nh].total << 10;
		h[nh].free_kib = (uint64_t)tc->h[nh].free << 10;
		h[nh].state = tc->h[nh].state;
	}
	for (; ng < 8 && tc->g[ng].name; ng++) {
		snprintf(g[ng].name, sizeof(g[ng].name), "%s", tc->g[ng].name);
		snprintf(g[ng].host, sizeof(g[ng].host), "%s", tc->g[ng].host);
		snprintf(g[ng].to, sizeof(g[ng].to), "%s", tc->g[ng].to);
		snprintf(g[ng].group, sizeof(g[ng].group), "%s", tc->g[ng].group);
		g[ng].mem_kib = (uint64_t)tc->g[ng].mib << 10;
		g[ng].pinned = tc->g[ng].pinned;
		if (g[ng].pinned)
			snprintf(g[ng].why_pinned, sizeof(g[ng].why_pinned), "PCI passthrough");
	}
	while (nq < 5 && tc->queue[nq])
		nq++;
	migr_fleet_params_init(&pp);
	pp.max_draining = tc->w;
	pp.plan.overhead_kib = 0;
	pp.plan.threshold_pct = 100;

	rc = migr_fleet_decide(h, nh, g, ng, tc->queue, nq, &pp, &d, err, sizeof(err));
	CHECK_EQ(rc, tc->rc);
	if (rc != tc->rc)
		fprintf(stderr, "  case: %s (err: %s)\n", tc->what, err);
	if (rc) {
		CHECK(d == NULL);
		CHECK(tc->err && strstr(err, tc->err) != NULL);
		if (!tc->err || !strstr(err, tc->err))
			fprintf(stderr, "  case: %s: error \"%s\"\n", tc->what, err);
		return;
	}
	if (!d)
		return;
	buf[0] = 0;
	for (unsigned i = 0; i < d->nstart; i++)
		join(buf, sizeof(buf), ",", h[d->start[i]].name);
	CHECK_STR(buf, tc->start);
	buf[0] = 0;
	for (unsigned i = 0; i < d->nheld; i++) {
		char one[128];

		snprintf(one, sizeof(one), "%s:%s", h[d->held[i].host].name,
			 migr_fleet_wait_name(d->held[i].why));
		join(buf, sizeof(buf), ",", one);
	}
	CHECK_STR(buf, tc->held);
	buf[0] = 0;
	for (unsigned i = 0; i < d->nmoves; i++) {
		char one[160];

		CHECK_STR(h[d->moves[i].from].name, g[d->moves[i].guest].host);
		snprintf(one, sizeof(one), "%s>%s", g[d->moves[i].guest].name,
			 h[d->moves[i].to].name);
		join(buf, sizeof(buf), " ", one);
	}
	CHECK_STR(buf, tc->moves);
	buf[0] = 0;
	for (unsigned i = 0; i < d->nstuck; i++) {
		join(buf, sizeof(buf), ",", g[d->stuck[i].guest].name);
		CHECK(d->stuck[i].reason[0] != 0);
	}
	CHECK_STR(buf, tc->stuck);
	if (tc->reason) {
		CHECK(d->nheld > 0 && strstr(d->held[0].reason, tc->reason) != NULL);
		if (d->nheld)
			fprintf(stderr, "%s", strstr(d->held[0].reason, tc->reason) ? "" :
				d->held[0].reason);
	}
	for (unsigned i = 0; i < d->nheld; i++)
		CHECK(d->held[i].reason[0] != 0);
	if (unit_failures)
		fprintf(stderr, "  (after case: %s)\n", tc->what);
	migr_fleet_decision_free(d);
}

/* Fields that are not NUL-terminated and a total that overflows are refused. */
static void test_unterminated_and_overflow(void)
{
	struct migr_fleet_host h[2];
	struct migr_fleet_guest g[2];
	struct migr_fleet_params pp;
	struct migr_fleet_decision *d = NULL;
	char err[MIGR_FLEET_ERR_MAX];

	migr_fleet_params_init(&pp);
	memset(h, 0, sizeof(h));
	memset(g, 0, sizeof(g));
	memset(h[0].name, 'x', sizeof(h[0].name));
	h[0].total_kib = h[0].free_kib = 1024;
	CHECK_EQ(migr_fleet_decide(h, 1, NULL, 0, NULL, 0, &pp, &d, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "not terminated") != NULL);

	snprintf(h[0].name, sizeof(h[0].name), "a");
	h[0].total_kib = UINT64_MAX;
	h[0].free_kib = 0;
	snprintf(g[0].name, sizeof(g[0].name), "g");
	snprintf(g[0].host, sizeof(g[0].host), "a");
	g[0].mem_kib = UINT64_MAX - 1;         /* + overhead wraps */
	CHECK_EQ(migr_fleet_decide(h, 1, g, 1, NULL, 0, &pp, &d, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "does not fit") != NULL);
	g[0].mem_kib = UINT64_MAX / 2;
	g[1] = g[0];
	snprintf(g[1].name, sizeof(g[1].name), "h");
	CHECK_EQ(migr_fleet_decide(h, 1, g, 2, NULL, 0, &pp, &d, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "guest h") != NULL);
	CHECK(d == NULL);

	/* the same fleet within limits is accepted */
	g[0].mem_kib = g[1].mem_kib = 1 << 20;
	CHECK_EQ(migr_fleet_decide(h, 1, g, 2, NULL, 0, &pp, &d, err, sizeof(err)), 0);
	CHECK(d != NULL && d->nstart == 0 && d->nmoves == 0);
	migr_fleet_decision_free(d);
}

/* The packing fit fills the tightest hole, the spreading fit the emptiest host. */
static void test_fit(void)
{
	struct migr_fleet_host h[3];
	struct migr_fleet_guest g[1];
	struct migr_fleet_params pp;
	struct migr_fleet_decision *d = NULL;
	const char *q[] = { "a" };
	char err[MIGR_FLEET_ERR_MAX];

	memset(h, 0, sizeof(h));
	memset(g, 0, sizeof(g));
	for (int i = 0; i < 3; i++) {
		snprintf(h[i].name, sizeof(h[i].name), "%c", 'a' + i);
		h[i].total_kib = 1000 << 10;
	}
	h[0].free_kib = 900 << 10;
	h[1].free_kib = 1000 << 10;
	h[2].free_kib = 150 << 10;
	snprintf(g[0].name, sizeof(g[0].name), "g");
	snprintf(g[0].host, sizeof(g[0].host), "a");
	g[0].mem_kib = 100 << 10;
	migr_fleet_params_init(&pp);
	pp.plan.overhead_kib = 0;
	pp.plan.threshold_pct = 100;
	CHECK_EQ(pp.plan.fit, MIGR_PLAN_FIT_PACK);
	CHECK_EQ(migr_fleet_decide(h, 3, g, 1, q, 1, &pp, &d, err, sizeof(err)), 0);
	CHECK(d && d->nmoves == 1 && d->moves[0].to == 2);
	migr_fleet_decision_free(d);
	pp.plan.fit = MIGR_PLAN_FIT_SPREAD;
	CHECK_EQ(migr_fleet_decide(h, 3, g, 1, q, 1, &pp, &d, err, sizeof(err)), 0);
	CHECK(d && d->nmoves == 1 && d->moves[0].to == 1);
	migr_fleet_decision_free(d);
}

/*
 * Random fleets (fixed seed): whatever the input, a decision keeps the rules. Checked on
 * the output: started hosts were queued, in service, not receiving, without pinned guests,
 * within the window, one per failure domain; every guest of a started host has exactly
 * one place, on a host in service that is not starting, within that host's free memory,
 * never beside a guest of its group (there before or placed now); every queued host is
 * started or held.
 */
static uint64_t seed = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return (unsigned)(seed % n);
}

static void test_random_fleets(void)
{
	enum { NH = 12, NG = 48 };
	unsigned decided = 0, started = 0, moved = 0;

	for (int round = 0; round < 400; round++) {
		struct migr_fleet_host h[NH];
		struct migr_fleet_guest g[NG];
		struct migr_fleet_params pp;
		struct migr_fleet_decision *d = NULL;
		const char *q[NH];
		uint64_t used[NH] = { 0 }, inbound_kib[NH] = { 0 };
		unsigned nh = 3 + rnd(NH - 2), ng = rnd(NG), nq = 0, inb[NH] = { 0 };
		uint64_t ovh = rnd(2) ? 0 : 2048;
		bool starting[NH] = { false }, queued[NH] = { false };
		int out_dom[NH];
		char err[MIGR_FLEET_ERR_MAX];
		int rc;

		memset(h, 0, sizeof(h));
		memset(g, 0, sizeof(g));
		for (unsigned i = 0; i < nh; i++) {
			snprintf(h[i].name, sizeof(h[i].name), "h%u", i);
			snprintf(h[i].group, sizeof(h[i].group), "d%u", rnd(4));
			h[i].total_kib = (uint64_t)(1000 + rnd(1000)) << 10;
			h[i].state = rnd(5) == 0 ? MIGR_FLEET_DRAINING :
				     rnd(6) == 0 ? MIGR_FLEET_MAINTENANCE : MIGR_FLEET_IN_SERVICE;
		}
		for (unsigned k = 0; k < ng; k++) {
			unsigned on = rnd(nh);
			uint64_t mem = (uint64_t)(20 + rnd(300)) << 10;

			if (h[on].state == MIGR_FLEET_MAINTENANCE ||
			    used[on] + mem + ovh > h[on].total_kib) {
				ng = k;
				break;
			}
			snprintf(g[k].name, sizeof(g[k].name), "g%u", k);
			snprintf(g[k].host, sizeof(g[k].host), "%s", h[on].name);
			snprintf(g[k].group, sizeof(g[k].group), rnd(2) ? "a%u" : "", rnd(5));
			g[k].mem_kib = mem;
			g[k].pinned = rnd(15) == 0;
			used[on] += mem + ovh;
			/* some guests of draining hosts already have a place */
			if (h[on].state == MIGR_FLEET_DRAINING && !g[k].pinned && rnd(2)) {
				unsigned t = rnd(nh);

				if (t != on && h[t].state == MIGR_FLEET_IN_SERVICE) {
					snprintf(g[k].to, sizeof(g[k].to), "%s", h[t].name);
					inbound_kib[t] += mem + ovh;
					inb[t]++;
				}
			}
		}
		for (unsigned i = 0; i < nh; i++) {
			uint64_t left = h[i].total_kib - used[i];

			left = left > inbound_kib[i] ? left - inbound_kib[i] : 0;
			h[i].free_kib = rnd(3) ? left : left / 2;
			if (h[i].state == MIGR_FLEET_IN_SERVICE && rnd(3)) {
				q[nq++] = h[i].name;
				queued[i] = true;
			}
		}
		migr_fleet_params_init(&pp);
		pp.max_draining = 1 + rnd(4);
		pp.plan.overhead_kib = ovh;
		pp.plan.threshold_pct = 100;
		pp.order = rnd(2) ? MIGR_FLEET_ORDER_QUEUE : MIGR_FLEET_ORDER_DOMAINS;
		rc = migr_fleet_decide(h, nh, g, ng, q, nq, &pp, &d, err, sizeof(err));
		CHECK_EQ(rc, 0);
		if (rc) {
			fprintf(stderr, "  round %d: %s\n", round, err);
			continue;
		}
		decided++;
		CHECK_EQ(d->nstart + d->nheld, nq);

		/* the window and the failure domains after the decision */
		{
			unsigned draining = 0;

			for (unsigned k = 0; k < NH; k++)
				out_dom[k] = 0;
			for (unsigned s = 0; s < d->nstart; s++)
				starting[d->start[s]] = true;
			for (unsigned i = 0; i < nh; i++) {
				bool out = h[i].state != MIGR_FLEET_IN_SERVICE || starting[i];

				draining += h[i].state == MIGR_FLEET_DRAINING || starting[i];
				if (out)
					out_dom[h[i].group[1] - '0']++;
			}
			/* the input may break the rules itself; a start never does */
			if (d->nstart)
				CHECK(draining <= pp.max_draining);
			for (unsigned s = 0; s < d->nstart; s++)
				CHECK_EQ(out_dom[h[d->start[s]].group[1] - '0'], 1);
		}
		for (unsigned s = 0; s < d->nstart; s++) {
			unsigned i = d->start[s], n = 0, placed = 0;

			started++;
			CHECK(queued[i]);
			CHECK_EQ(h[i].state, MIGR_FLEET_IN_SERVICE);
			CHECK_EQ(inb[i], 0);
			for (unsigned k = 0; k < ng; k++) {
				if (strcmp(g[k].host, h[i].name) || g[k].to[0])
					continue;
				CHECK(!g[k].pinned);
				n++;
				for (unsigned m = 0; m < d->nmoves; m++)
					placed += d->moves[m].guest == k;
			}
			CHECK_EQ(placed, n);
		}
		/* each target: in service, not starting, room kept, groups apart */
		for (unsigned t = 0; t < nh; t++) {
			uint64_t took = 0;

			for (unsigned m = 0; m < d->nmoves; m++) {
				const struct migr_fleet_move *mv = &d->moves[m];

				if (mv->to != t)
					continue;
				moved++;
				CHECK_EQ(h[t].state, MIGR_FLEET_IN_SERVICE);
				CHECK(!starting[t]);
				CHECK(mv->from != t);
				took += g[mv->guest].mem_kib + pp.plan.overhead_kib;
				if (!g[mv->guest].group[0])
					continue;
				for (unsigned k = 0; k < ng; k++) {
					bool there = !strcmp(g[k].host, h[t].name) ||
						     !strcmp(g[k].to, h[t].name);

					if (k != mv->guest && !strcmp(g[k].group, g[mv->guest].group))
						CHECK(!there);
				}
				for (unsigned m2 = 0; m2 < d->nmoves; m2++)
					if (m2 != m && d->moves[m2].to == t)
						CHECK(strcmp(g[d->moves[m2].guest].group,
							     g[mv->guest].group));
			}
			CHECK(took <= h[t].free_kib);
		}
		migr_fleet_decision_free(d);
	}
	/* the rounds must have exercised something */
	CHECK(decided == 400);
	CHECK(started > 50);
	CHECK(moved > 100);
}

int main(void)
{
	test_random_fleets();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);
	test_unterminated_and_overflow();
	test_fit();
	return unit_done("test_fleet");
}

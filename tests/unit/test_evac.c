/*
 * test_evac.c: the evacuation executor with a fake engine, the maintenance request parser,
 * and the guest notice on the in-memory xenstore (checked against the schema).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "libmigr.h"
#include "unit.h"

/* ---- a fake engine ------------------------------------------------------------------ */

#define NG 8

struct fake {
	pthread_mutex_t mu;
	int script[NG][4];        /* rc of attempt 1..4 per domid index; 0 = success */
	unsigned busy_first[NG];  /* the first N calls: the target refuses as busy */
	unsigned sleep_ms;
	unsigned running, max_running;
	unsigned grp_running, grp_max;   /* guests of group "web" */
	unsigned calls[NG];
	unsigned started_after_cancel;
	volatile int cancelled;
	unsigned progress_reports;
	bool wait_for_peer;       /* a "web" guest waits (up to 5 s) until another one runs */
};

static int fake_migrate(void *arg, struct migr_evac_attempt *a, struct migr_evac_outcome *out)
{
	struct fake *f = arg;
	unsigned d = a->guest->domid % NG;
	bool web = !strcmp(a->guest->group, "web");
	int rc;

	pthread_mutex_lock(&f->mu);
	if (f->cancelled)
		f->started_after_cancel++;
	f->running++;
	if (f->running > f->max_running)
		f->max_running = f->running;
	if (web && ++f->grp_running > f->grp_max)
		f->grp_max = f->grp_running;
	rc = f->script[d][a->attempt <= 4 ? a->attempt - 1 : 3];
	if (f->calls[d] < f->busy_first[d]) {
		rc = -MIGR_E_ABORTED;
		out->refused = MIGR_REFUSE_BUSY;
	}
	f->calls[d]++;
	pthread_mutex_unlock(&f->mu);

	for (unsigned t = 0; web && f->wait_for_peer && t < 1000; t++) {
		unsigned n;

		pthread_mutex_lock(&f->mu);
		n = f->grp_max;
		pthread_mutex_unlock(&f->mu);
		if (n >= 2)
			break;
		usleep(5000);
	}
	for (unsigned r = 0; r < 3; r++) {
		struct migr_evac_progress p = { .phase = 2, .round = r, .sent_bytes = 1000 * (r + 1),
						.remaining_bytes = 300 - 100 * r };

		migr_evac_report_progress(a, &p);
		usleep(f->sleep_ms * 1000 / 3);
	}
	snprintf(out->migration_id, sizeof(out->migration_id), "id-%u-%u", a->guest->domid,
		 a->attempt);
	out->rounds = 3;
	out->bytes = 3000;
	out->blackout_us = 42000;
	if (rc)
		snprintf(out->reason, sizeof(out->reason), "fake failure %d", rc);

	pthread_mutex_lock(&f->mu);
	f->running--;
	if (web)
		f->grp_running--;
	pthread_mutex_unlock(&f->mu);
	return rc;
}

struct rep {
	struct fake *f;
	struct migr_evac *cancel_this;
	unsigned cancel_after_moved;
	unsigned moved_seen;
	unsigned events;
	unsigned global_events;
};

static void report(void *arg, struct migr_evac *ev, int entry)
{
	struct rep *r = arg;
	const struct migr_evac_guest_result *g;

	if (entry < 0) {
		r->global_events++;
		return;
	}
	r->events++;
	g = migr_evac_guest_result(ev, entry);
	if (g->state == MIGR_EVAC_MIGRATING && g->progress.round)
		r->f->progress_reports++;
	if (g->state == MIGR_EVAC_MOVED && ++r->moved_seen == r->cancel_after_moved &&
	    r->cancel_this) {
		r->f->cancelled = 1;
		migr_evac_cancel(r->cancel_this);
	}
}

static struct migr_plan_guest guests[NG];
static struct migr_plan_target targets[2];

static void setup(unsigned n, const char *group)
{
	memset(guests, 0, sizeof(guests));
	for (unsigned i = 0; i < n; i++) {
		snprintf(guests[i].name, sizeof(guests[i].name), "g%u", i);
		guests[i].domid = i + 1;           /* script index = domid % NG */
		guests[i].mem_kib = (i + 1) * 1024;
		guests[i].migratable = true;
		if (group)
			snprintf(guests[i].group, sizeof(guests[i].group), "%s", group);
	}
	memset(targets, 0, sizeof(targets));
	for (unsigned t = 0; t < 2; t++) {
		snprintf(targets[t].name, sizeof(targets[t].name), "t%u", t);
		targets[t].reachable = true;
		targets[t].free_kib = 1ull << 30;
	}
}

static void fake_init(struct fake *f, unsigned sleep_ms)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	f->sleep_ms = sleep_ms;
}

static const struct migr_evac_guest_result *by_domid(struct migr_evac *ev, uint32_t domid)
{
	for (unsigned i = 0; i < migr_evac_count(ev); i++) {
		const struct migr_evac_guest_result *r = migr_evac_guest_result(ev, i);

		if (guests[r->guest].domid == domid)
			return r;
	}
	return NULL;
}

static int run(unsigned n, unsigned ntargets, struct migr_evac_params *ep, struct rep *rep,
	       struct migr_evac **ev_r, struct migr_plan **plan_r)
{
	struct migr_plan *plan = NULL;
	struct migr_evac *ev = NULL;
	int rc;

	CHECK_EQ(migr_plan_make(guests, n, targets, ntargets, NULL, &plan), 0);
	if (!plan)
		return -1;
	ep->report = report;
	ep->report_arg = rep;
	CHECK_EQ(migr_evac_new(plan, guests, targets, ep, &ev), 0);
	if (!ev)
		return -1;
	rep->cancel_this = rep->cancel_after_moved ? ev : NULL;
	rc = migr_evac_run(ev);
	*ev_r = ev;
	*plan_r = plan;
	return rc;
}

static void params(struct migr_evac_params *ep, struct fake *f, unsigned parallel)
{
	migr_evac_params_init(ep);
	ep->parallel = parallel;
	ep->retry_delay_ms = 10;
	ep->migrate = fake_migrate;
	ep->migrate_arg = f;
}

/* Everything moves; parallelism is honoured; progress gets through. */
static void test_all_move(void)
{
	struct fake f;
	struct rep rep = { .f = &f };
	struct migr_evac_params ep;
	struct migr_evac *ev = NULL;
	struct migr_plan *plan = NULL;
	struct migr_evac_summary s;

	setup(6, NULL);
	fake_init(&f, 30);
	params(&ep, &f, 2);
	CHECK_EQ(run(6, 2, &ep, &rep, &ev, &plan), 0);
	migr_evac_summary(ev, &s);
	CHECK_EQ(s.total, 6);
	CHECK_EQ(s.moved, 6);
	CHECK_EQ(s.failed + s.cancelled + s.queued + s.running, 0);
	CHECK_EQ(f.max_running, 2);
	CHECK(f.progress_reports >= 6);
	CHECK_EQ(rep.global_events, 2);
	for (unsigned i = 0; i < 6; i++) {
		const struct migr_evac_guest_result *r = migr_evac_guest_result(ev, i);

		CHECK_EQ(r->attempts, 1);
		CHECK_EQ(r->outcome.blackout_us, 42000);
		CHECK(r->finished_us >= r->started_us);
	}
	migr_evac_free(ev);
	migr_plan_free(plan);
}

/* A migration that fails then succeeds on retry; one that never can; one undecided;
 * one whose guest vanished; a retryable one that runs out of attempts. */
static void test_failures_and_retries(void)
{
	struct fake f;
	struct rep rep = { .f = &f };
	struct migr_evac_params ep;
	struct migr_evac *ev = NULL;
	struct migr_plan *plan = NULL;
	const struct migr_evac_guest_result *r;
	struct migr_evac_summary s;

	setup(6, NULL);
	fake_init(&f, 5);
	f.script[1][0] = -MIGR_E_ABORTED;                   /* g0: fails once, then moves */
	f.script[2][0] = -MIGR_E_UNSUPPORTED;               /* g1: no retry */
	f.script[3][0] = -MIGR_E_UNDECIDED;                 /* g2: no retry, resolve */
	f.script[4][0] = -ENOENT;                           /* g3: gone */
	for (unsigned k = 0; k < 4; k++)
		f.script[5][k] = -ECONNRESET;               /* g4: exhausts its attempts */
	f.busy_first[6] = 3;                                /* g5: busy thrice, then moves */
	params(&ep, &f, 3);
	ep.max_attempts = 3;
	CHECK_EQ(run(6, 2, &ep, &rep, &ev, &plan), 0);

	r = by_domid(ev, 1);
	CHECK_EQ(r->state, MIGR_EVAC_MOVED);
	CHECK_EQ(r->attempts, 2);
	CHECK_STR(r->outcome.migration_id, "id-1-2");
	r = by_domid(ev, 2);
	CHECK_EQ(r->state, MIGR_EVAC_FAILED);
	CHECK_EQ(r->attempts, 1);
	CHECK(strstr(r->reason, "fake failure") != NULL);
	r = by_domid(ev, 3);
	CHECK_EQ(r->state, MIGR_EVAC_UNDECIDED);
	CHECK(strstr(r->reason, "migr resolve id-3-1") != NULL);
	r = by_domid(ev, 4);
	CHECK_EQ(r->state, MIGR_EVAC_GONE);
	r = by_domid(ev, 5);
	CHECK_EQ(r->state, MIGR_EVAC_FAILED);
	CHECK_EQ(r->attempts, 3);
	CHECK_EQ(f.calls[5], 3);
	CHECK(strstr(r->reason, "3 attempt(s) failed") != NULL);
	r = by_domid(ev, 6);
	CHECK_EQ(r->state, MIGR_EVAC_MOVED);
	CHECK_EQ(r->attempts, 1);                           /* a busy target spends none */
	CHECK_EQ(f.calls[6], 4);
	migr_evac_summary(ev, &s);
	CHECK_EQ(s.moved, 2);
	CHECK_EQ(s.failed, 2);
	CHECK_EQ(s.undecided, 1);
	CHECK_EQ(s.gone, 1);
	migr_evac_free(ev);
	migr_plan_free(plan);
}

/* A target that stays busy: 24 refusals spend no attempt, then each refusal is one, so
 * the guest fails after its three (and runs on the source). */
static void test_busy_target(void)
{
	struct fake f;
	struct rep rep = { .f = &f };
	struct migr_evac_params ep;
	struct migr_evac *ev = NULL;
	struct migr_plan *plan = NULL;
	const struct migr_evac_guest_result *r;

	setup(1, NULL);
	fake_init(&f, 1);
	f.busy_first[1] = 1000;
	params(&ep, &f, 1);
	ep.max_attempts = 3;
	CHECK_EQ(run(1, 1, &ep, &rep, &ev, &plan), 0);
	r = by_domid(ev, 1);
	CHECK_EQ(r->state, MIGR_EVAC_FAILED);
	CHECK_EQ(r->attempts, 3);
	CHECK_EQ(f.calls[1], 24 + 3);
	migr_evac_free(ev);
	migr_plan_free(plan);
}

/* Cancel mid-way: the running migration finishes, nothing queued starts. */
static void test_cancel(void)
{
	struct fake f;
	struct rep rep = { .f = &f, .cancel_after_moved = 2 };
	struct migr_evac_params ep;
	struct migr_evac *ev = NULL;
	struct migr_plan *plan = NULL;
	struct migr_evac_summary s;

	setup(6, NULL);
	fake_init(&f, 20);
	params(&ep, &f, 2);
	CHECK_EQ(run(6, 2, &ep, &rep, &ev, &plan), -ECANCELED);
	migr_evac_summary(ev, &s);
	CHECK(s.cancel_requested);
	CHECK_EQ(f.started_after_cancel, 0);
	/* Two moved when the cancel came; with 2 in parallel, at most one more was running
	 * and finished. */
	CHECK(s.moved >= 2 && s.moved <= 3);
	CHECK_EQ(s.moved + s.cancelled, 6);
	CHECK_EQ(s.queued + s.running, 0);
	for (unsigned i = 0; i < 6; i++) {
		const struct migr_evac_guest_result *r = migr_evac_guest_result(ev, i);

		CHECK(migr_evac_state_final(r->state));
		if (r->state == MIGR_EVAC_CANCELLED) {
			CHECK_EQ(r->attempts, 0);
			CHECK(strstr(r->reason, "runs on the source") != NULL);
		}
	}
	migr_evac_free(ev);
	migr_plan_free(plan);
}

/* Group cap: at most one guest of group "web" in flight, though 4 slots are free. */
static void test_group_cap(void)
{
	struct fake f;
	struct rep rep = { .f = &f };
	struct migr_evac_params ep;
	struct migr_evac *ev = NULL;
	struct migr_plan *plan = NULL;
	struct migr_evac_summary s;

	setup(4, "web");
	fake_init(&f, 15);
	params(&ep, &f, 4);
	ep.group_cap = 1;
	/* Anti-affinity would leave two of four unplaced on two targets: give four targets'
	 * worth by clearing the group for placement only... not possible, so use 2 guests per
	 * target check instead: 2 targets, 4 web guests -> 2 placed. */
	CHECK_EQ(run(4, 2, &ep, &rep, &ev, &plan), 0);
	migr_evac_summary(ev, &s);
	CHECK_EQ(s.moved, 2);
	CHECK_EQ(s.unplaceable, 2);
	CHECK_EQ(f.grp_max, 1);
	CHECK_EQ(f.max_running, 1);
	migr_evac_free(ev);
	migr_plan_free(plan);

	/* Same with the cap off: both placed web guests run at once. */
	setup(4, "web");
	fake_init(&f, 10);
	f.wait_for_peer = true;
	rep = (struct rep){ .f = &f };
	params(&ep, &f, 4);
	CHECK_EQ(run(4, 2, &ep, &rep, &ev, &plan), 0);
	CHECK_EQ(f.grp_max, 2);
	migr_evac_free(ev);
	migr_plan_free(plan);
}

/* ---- notice through the executor ----------------------------------------------------- */

struct nfake {
	unsigned begun, waited, ended;
	enum migr_evac_state ends[NG];
	unsigned wait_ms;
};

static int n_begin(void *arg, const struct migr_plan_guest *g, unsigned notice_s)
{
	__atomic_add_fetch(&((struct nfake *)arg)->begun, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static int n_wait(void *arg, const struct migr_plan_guest *g, const volatile int *cancel)
{
	struct nfake *n = arg;

	__atomic_add_fetch(&n->waited, 1, __ATOMIC_SEQ_CST);
	for (unsigned t = 0; t < n->wait_ms; t += 5) {
		if (*cancel)
			return -ECANCELED;
		usleep(5000);
	}
	return 0;
}

static void n_end(void *arg, const struct migr_plan_guest *g, enum migr_evac_state st)
{
	struct nfake *n = arg;

	n->ends[g->domid % NG] = st;
	__atomic_add_fetch(&n->ended, 1, __ATOMIC_SEQ_CST);
}

static const struct migr_evac_notice_ops nops = { n_begin, n_wait, n_end };

static void *run_thread(void *ev)
{
	migr_evac_run(ev);
	return NULL;
}

static void test_notice_and_unplaceable(void)
{
	struct fake f;
	struct rep rep = { .f = &f };
	struct nfake nf = { .wait_ms = 20 };
	struct migr_evac_params ep;
	struct migr_evac *ev = NULL;
	struct migr_plan *plan = NULL;

	setup(3, NULL);
	guests[2].mem_kib = 1ull << 40;          /* fits nowhere */
	fake_init(&f, 5);
	params(&ep, &f, 2);
	ep.notice = &nops;
	ep.notice_arg = &nf;
	CHECK_EQ(run(3, 2, &ep, &rep, &ev, &plan), 0);
	CHECK_EQ(nf.begun, 2);
	CHECK_EQ(nf.waited, 2);
	CHECK_EQ(nf.ended, 2);
	CHECK_EQ(nf.ends[1], MIGR_EVAC_MOVED);
	CHECK_EQ(nf.ends[2], MIGR_EVAC_MOVED);
	CHECK_EQ(by_domid(ev, 3)->state, MIGR_EVAC_UNPLACEABLE);
	CHECK_EQ(f.calls[3], 0);
	migr_evac_free(ev);
	migr_plan_free(plan);

	/* A cancel while guests wait out their notice: nothing migrates at all. */
	setup(3, NULL);
	fake_init(&f, 5);
	memset(&nf, 0, sizeof(nf));
	nf.wait_ms = 2000;
	params(&ep, &f, 3);
	ep.notice = &nops;
	ep.notice_arg = &nf;
	{
		struct migr_evac_summary s;
		pthread_t th;

		CHECK_EQ(migr_plan_make(guests, 3, targets, 2, NULL, &plan), 0);
		CHECK_EQ(migr_evac_new(plan, guests, targets, &ep, &ev), 0);
		if (ev && pthread_create(&th, NULL, run_thread, ev) == 0) {
			/* Cancel once the guests wait out their notice. */
			for (unsigned t = 0; t < 400 && __atomic_load_n(&nf.waited, __ATOMIC_SEQ_CST) < 3; t++)
				usleep(5000);
			CHECK_EQ(__atomic_load_n(&nf.waited, __ATOMIC_SEQ_CST), 3);
			migr_evac_cancel(ev);
			pthread_join(th, NULL);
			migr_evac_summary(ev, &s);
			CHECK_EQ(s.cancelled, 3);
			CHECK_EQ(f.calls[1] + f.calls[2] + f.calls[3], 0);
			CHECK_EQ(nf.ended, 3);
			CHECK_EQ(nf.ends[1], MIGR_EVAC_CANCELLED);
		}
		migr_evac_free(ev);
		migr_plan_free(plan);
	}
}

/* ---- the request --------------------------------------------------------------------- */

static void test_request(void)
{
	struct migr_evac_request q;
	char why[160];
	const char *ok = "{\"action\":\"evacuate\",\"id\":\"m-1\",\"to\":[\"hostb\",\"10.0.0.2:7000\"],"
			 "\"deadline\":1764380000,\"reason\":\"DIMM swap\",\"parallel\":2,"
			 "\"notice\":30,\"downtime\":250}";
	const char *bad[] = {
		"", "{}", "[]", "{\"action\":\"reboot\"}", "{\"action\":1}",
		"{\"action\":\"evacuate\",\"x\":1}",
		"{\"action\":\"evacuate\",\"to\":\"hostb\"}",
		"{\"action\":\"evacuate\",\"to\":[\"host b\"]}",
		"{\"action\":\"evacuate\",\"to\":[1]}",
		"{\"action\":\"evacuate\",\"parallel\":65}",
		"{\"action\":\"evacuate\",\"parallel\":1.5}",
		"{\"action\":\"evacuate\",\"notice\":-1}",
		"{\"action\":\"evacuate\",\"reason\":\"a\\nb\"}",
		"{\"action\":\"evacuate\",\"id\":\"a/b\"}",
		"{\"action\":\"evacuate\",\"action\":\"cancel\"}",
		"{\"action\":\"evacuate\",\"to\":[[[[[\"a\"]]]]]}",
		"{\"action\":\"evacuate\"",
	};

	CHECK_EQ(migr_evac_request_parse(ok, strlen(ok), &q, why, sizeof(why)), 0);
	CHECK_EQ(q.action, MIGR_EVAC_ACTION_EVACUATE);
	CHECK_STR(q.id, "m-1");
	CHECK_EQ(q.nto, 2);
	CHECK_STR(q.to[1], "10.0.0.2:7000");
	CHECK_EQ(q.deadline, 1764380000);
	CHECK_STR(q.reason, "DIMM swap");
	CHECK_EQ(q.parallel, 2);
	CHECK_EQ(q.notice_s, 30);
	CHECK_EQ(q.downtime_ms, 250);
	CHECK_EQ(migr_evac_request_parse("{\"action\":\"cancel\"}", 19, &q, why, sizeof(why)), 0);
	CHECK_EQ(q.action, MIGR_EVAC_ACTION_CANCEL);
	CHECK_EQ(q.notice_s, -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = 0;
		CHECK_EQ(migr_evac_request_parse(bad[i], strlen(bad[i]), &q, why, sizeof(why)),
			 -EINVAL);
		CHECK(why[0] != 0);
	}
}

/* ---- the notice on the in-memory xenstore ----------------------------------------- */

struct walk_ctx {
	const struct migr_schema *s;
	unsigned checked, bad;
};

static int check_node(const char *path, const char *v, size_t vlen, const char *perms,
		      void *arg)
{
	struct walk_ctx *w = arg;
	char why[256];
	int r = migr_schema_check(w->s, path, v, vlen, perms, why, sizeof(why), NULL);

	if (r == MIGR_SCHEMA_OUT_OF_SCOPE)
		return 0;
	w->checked++;
	if (r != MIGR_SCHEMA_OK) {
		w->bad++;
		fprintf(stderr, "schema: %s: %s: %s\n", path, migr_schema_result_name(r), why);
	}
	return 0;
}

static char *rd(struct migr_xs *xs, const char *path)
{
	static char buf[256];
	char *v = NULL;
	size_t n;

	buf[0] = 0;
	if (xs->ops->read(xs, path, &v, &n) == 0) {
		snprintf(buf, sizeof(buf), "%s", v);
		free(v);
	}
	return buf;
}

static void test_notice_xenstore(void)
{
	struct migr_xs *xs = NULL;
	struct migr_schema *s = NULL;
	struct migr_notice n;
	struct walk_ctx w;

	CHECK_EQ(migr_xs_mem_new(&xs), 0);
	CHECK_EQ(migr_schema_load_builtin(&s), 0);
	if (!xs || !s)
		return;
	/* libxl's guest home: dom0-owned, guest read-only. */
	CHECK_EQ(migr_xs_write_str(xs, "/local/domain/7", ""), 0);
	CHECK_EQ(xs->ops->set_perms(xs, "/local/domain/7", "n0,r7"), 0);
	/* A guest cannot plant its own migr/ tree. */
	CHECK_EQ(migr_xs_mem_write_as(xs, 7, "/local/domain/7/migr", ""), -EACCES);

	CHECK_EQ(migr_evac_notice_post(xs, 7, MIGR_NOTICE_MIGRATE, "ev-1", 1000, 60, 30, 0, &n), 0);
	CHECK_STR(rd(xs, "/local/domain/7/migr/maintenance-event"), "MIGRATE_ON_HOST_MAINTENANCE");
	CHECK_STR(rd(xs, "/local/domain/7/migr/deadline"), "1060");
	w = (struct walk_ctx){ .s = s };
	CHECK_EQ(migr_xs_walk(xs, "/", check_node, &w), 0);
	CHECK_EQ(w.checked, 8);
	CHECK_EQ(w.bad, 0);

	/* The guest may write ack and defer, nothing else. */
	CHECK_EQ(migr_xs_mem_write_as(xs, 7, "/local/domain/7/migr/maintenance-event", "NONE"),
		 -EACCES);
	CHECK_EQ(migr_xs_mem_write_as(xs, 7, "/local/domain/7/migr/deadline", "99999"), -EACCES);
	CHECK_EQ(migr_xs_mem_write_as(xs, 7, "/local/domain/7/migr/evil", "1"), -EACCES);
	CHECK_EQ(migr_xs_mem_write_as(xs, 8, "/local/domain/7/migr/ack", "ev-1"), -EACCES);

	CHECK_EQ(migr_evac_notice_poll(xs, s, &n, 1001, 0), 0);
	/* Garbage and a stale ack are ignored. */
	CHECK_EQ(migr_xs_mem_write_as(xs, 7, "/local/domain/7/migr/ack", "ev 1;rm -rf"), 0);
	CHECK_EQ(migr_evac_notice_poll(xs, s, &n, 1002, 0), 0);
	CHECK_EQ(migr_xs_mem_write_as(xs, 7, "/local/domain/7/migr/ack", "ev-0"), 0);
	CHECK_EQ(migr_evac_notice_poll(xs, s, &n, 1002, 0), 0);
	/* A huge or malformed deferral is bounded or ignored; granted once. */
	CHECK_EQ(migr_xs_mem_write_as(xs, 7, "/local/domain/7/migr/defer", "-5"), 0);
	CHECK_EQ(migr_evac_notice_poll(xs, s, &n, 1003, 0), 0);
	CHECK_EQ(n.deadline, 1060);
	CHECK_EQ(migr_xs_mem_write_as(xs, 7, "/local/domain/7/migr/defer", "86400"), 0);
	CHECK_EQ(migr_evac_notice_poll(xs, s, &n, 1003, 0), 0);
	CHECK_EQ(n.deadline, 1090);
	CHECK_STR(rd(xs, "/local/domain/7/migr/deadline"), "1090");
	CHECK_EQ(migr_xs_mem_write_as(xs, 7, "/local/domain/7/migr/defer", "600"), 0);
	CHECK_EQ(migr_evac_notice_poll(xs, s, &n, 1003, 0), 0);
	CHECK_EQ(n.deadline, 1090);
	CHECK_EQ(migr_evac_notice_poll(xs, s, &n, 1089, 0), 0);
	CHECK_EQ(migr_evac_notice_poll(xs, s, &n, 1090, 0), 1);

	/* The right ack ends the wait early. */
	CHECK_EQ(migr_evac_notice_post(xs, 7, MIGR_NOTICE_MIGRATE, "ev-2", 2000, 60, 30, 0, &n), 0);
	CHECK_STR(rd(xs, "/local/domain/7/migr/ack"), "");
	CHECK_EQ(migr_evac_notice_poll(xs, s, &n, 2001, 0), 0);
	CHECK_EQ(migr_xs_mem_write_as(xs, 7, "/local/domain/7/migr/ack", "ev-2"), 0);
	CHECK_EQ(migr_evac_notice_poll(xs, s, &n, 2002, 0), 1);

	/* The request's deadline bounds both the notice and the deferral. */
	CHECK_EQ(migr_evac_notice_post(xs, 7, MIGR_NOTICE_MIGRATE, "ev-3", 3000, 60, 30, 3040, &n), 0);
	CHECK_EQ(n.deadline, 3040);
	CHECK_EQ(migr_xs_mem_write_as(xs, 7, "/local/domain/7/migr/defer", "30"), 0);
	CHECK_EQ(migr_evac_notice_poll(xs, s, &n, 3001, 3040), 0);
	CHECK_EQ(n.deadline, 3040);

	CHECK_EQ(migr_evac_notice_reset(xs, 7), 0);
	CHECK_STR(rd(xs, "/local/domain/7/migr/maintenance-event"), "NONE");
	w = (struct walk_ctx){ .s = s };
	CHECK_EQ(migr_xs_walk(xs, "/", check_node, &w), 0);
	CHECK_EQ(w.bad, 0);
	CHECK_EQ(migr_evac_notice_post(xs, 0, MIGR_NOTICE_MIGRATE, "x", 0, 1, 1, 0, NULL), -EINVAL);
	migr_schema_free(s);
	migr_xs_close(xs);
}

/* ---- the stream window ---------------------------------------------------------------- */

/*
 * A fluid link: every tick (2 ms asked; its real length is measured, so a loaded machine
 * that oversleeps does not change the rates) each stream moves its share of the link's
 * rate over the time since its last tick. A link that
 * "shares" splits rate_Bps among the streams at once; one that "adds" gives each stream
 * rate_Bps (the bottleneck is per stream, as a single TCP flow on a long fat pipe). A
 * stream of bytes_each ends with the WAIT_READY report; then the blackout's end (10 ms,
 * or blackout_ms; DONE), then the tail (tail_ms: network back, settle). With gate, a
 * blackout and the tail after it hold the other streams as migr_conn_blackout() does
 * (from the suspend request to SETTLED): they move nothing and report the time as held_us.
 */
struct link {
	pthread_mutex_t mu;
	bool adds;
	unsigned share_pct;                    /* a link that shares: what it carries in all
	                                          with more than one stream at once, % of
	                                          rate_Bps (0: 100) */
	uint64_t rate_Bps, bytes_each;
	unsigned tail_ms;
	bool gate;
	unsigned blackout_ms;                  /* 0: 10 */
	bool pair;                             /* the second and third migrations start
	                                          moving together */
	uint64_t second_bytes;                 /* the second migration's stream; 0: bytes_each */
	unsigned started, arrived;
	unsigned streams, max_streams, migrations, max_migrations;
	unsigned blackouts, blackout_shared;   /* in their blackout now; a stream moved then */
};

static uint64_t link_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int link_migrate(void *arg, struct migr_evac_attempt *a, struct migr_evac_outcome *out)
{
	struct link *l = arg;
	uint64_t sent = 0, held = 0, bytes = l->bytes_each, last;
	unsigned nth;

	pthread_mutex_lock(&l->mu);
	nth = ++l->started;
	if (nth == 2 && l->second_bytes)
		bytes = l->second_bytes;
	if (l->pair && nth > 1)
		l->arrived++;
	pthread_mutex_unlock(&l->mu);
	for (unsigned t = 0; l->pair && nth > 1 && t < 2500; t++) {
		unsigned n;

		pthread_mutex_lock(&l->mu);
		n = l->arrived;
		pthread_mutex_unlock(&l->mu);
		if (n >= 2)
			break;
		usleep(2000);
	}
	last = link_now_us();
	pthread_mutex_lock(&l->mu);
	if (++l->streams > l->max_streams)
		l->max_streams = l->streams;
	if (++l->migrations > l->max_migrations)
		l->max_migrations = l->migrations;
	pthread_mutex_unlock(&l->mu);
	while (sent < bytes) {
		struct migr_evac_progress p = { .phase = MIGR_PHASE_PRECOPY };
		uint64_t now, dt;
		unsigned k;
		bool hold;

		usleep(2000);
		now = link_now_us();
		dt = now - last;
		last = now;
		pthread_mutex_lock(&l->mu);
		k = l->streams;
		hold = l->gate && l->blackouts;
		if (l->blackouts && !hold)
			l->blackout_shared++;
		pthread_mutex_unlock(&l->mu);
		if (hold)
			held += dt;
		else
			sent += l->rate_Bps * dt / 1000000 / (l->adds ? 1 : k) *
				(k > 1 && !l->adds && l->share_pct ? l->share_pct : 100) / 100;
		/* the link carries a third of the stream (zero pages and compression) */
		p.sent_bytes = 3 * sent;
		p.wire_bytes = sent;
		p.held_us = held;
		migr_evac_report_progress(a, &p);
	}
	pthread_mutex_lock(&l->mu);
	l->streams--;
	l->blackouts++;
	pthread_mutex_unlock(&l->mu);
	{
		struct migr_evac_progress p = { .phase = MIGR_PHASE_WAIT_READY,
						.sent_bytes = 3 * sent, .wire_bytes = sent,
						.held_us = held };

		migr_evac_report_progress(a, &p);
		usleep((l->blackout_ms ? l->blackout_ms : 10) * 1000);
		p.phase = MIGR_PHASE_DONE;
		migr_evac_report_progress(a, &p);
	}
	usleep(l->tail_ms * 1000);
	pthread_mutex_lock(&l->mu);
	l->blackouts--;
	l->migrations--;
	pthread_mutex_unlock(&l->mu);
	snprintf(out->migration_id, sizeof(out->migration_id), "id-%u", a->guest->domid);
	out->bytes = sent;
	return 0;
}

/* Runs n guests over link l; *held_r (may be NULL) gets the result of the guest whose
 * stream was held longest. */
static void window_run(struct link *l, enum migr_evac_window w, unsigned parallel, unsigned n,
		       struct migr_evac_summary *s, struct migr_evac_guest_result *held_r)
{
	struct rep rep = { 0 };
	struct fake f;
	struct migr_evac_params ep;
	struct migr_evac *ev = NULL;
	struct migr_plan *plan = NULL;

	setup(n, NULL);
	fake_init(&f, 0);
	rep.f = &f;
	migr_evac_params_init(&ep);
	ep.parallel = parallel;
	ep.window = w;
	ep.migrate = link_migrate;
	ep.migrate_arg = l;
	memset(s, 0, sizeof(*s));
	if (run(n, 1, &ep, &rep, &ev, &plan) == 0)
		migr_evac_summary(ev, s);
	CHECK_EQ(s->moved, n);
	if (held_r) {
		memset(held_r, 0, sizeof(*held_r));
		for (unsigned i = 0; ev && i < migr_evac_count(ev); i++) {
			const struct migr_evac_guest_result *r = migr_evac_guest_result(ev, i);

			if (r->stream_held_us >= held_r->stream_held_us)
				*held_r = *r;
		}
	}
	migr_evac_free(ev);
	migr_plan_free(plan);
}

static void link_init(struct link *l, bool adds, unsigned tail_ms)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->mu, NULL);
	l->adds = adds;
	l->rate_Bps = 100u << 20;         /* 100 MiB/s: 200 KiB per 2 ms tick */
	l->bytes_each = 8u << 20;         /* 80 ms alone */
	l->tail_ms = tail_ms;
}

/* One slot: one stream at a time. A slot is given back at DONE, so the next migration
 * begins during the tail of the one before (two migrations at once),
 * and its stream, held by the gate until that guest's network is back, never moves
 * during another's blackout or tail; the time it was held is reported. */
static void test_window_one(void)
{
	struct migr_evac_summary s;
	struct migr_evac_guest_result r;
	struct link l;

	link_init(&l, false, 50);
	l.gate = true;
	window_run(&l, MIGR_EVAC_WINDOW_FIXED, 1, 4, &s, &r);
	CHECK_EQ(l.max_streams, 1);
	CHECK_EQ(l.max_migrations, 2);
	CHECK_EQ(l.blackout_shared, 0);
	CHECK_EQ(s.window_max, 1);
	CHECK(r.stream_held_us > 0);
	printf("window of one: makespan %.0f ms, a stream held %.0f ms by the tail before it\n",
	       s.makespan_us / 1000.0, r.stream_held_us / 1000.0);
}

/* Measured on a link that only shares (two streams carry 5% more than one): one stream,
 * a try with two, back to one. */
static void test_window_shares(void)
{
	struct migr_evac_summary s;
	struct link l;

	link_init(&l, false, 20);
	l.share_pct = 105;
	window_run(&l, MIGR_EVAC_WINDOW_MEASURED, 4, 6, &s, NULL);
	/* the link's rate and the bytes in what it carried, not in stream bytes (3x) */
	CHECK(s.stream_Bps > (50u << 20) && s.stream_Bps < (150u << 20));
	CHECK_EQ(s.window_max, 2);
	CHECK_EQ(s.window, 1);
	CHECK(strstr(s.window_why, "only share") != NULL);
	CHECK(l.max_streams <= 2);
	CHECK(s.bytes >= 6 * l.bytes_each && s.bytes < 2 * 6 * l.bytes_each);
	CHECK(s.bound_us > 0 && s.makespan_us >= s.bound_us / 2);
	/* the bound's rate: every stream that ran alone, pooled (the first, and those after
	 * the window fell back to one) */
	CHECK(s.bound_streams >= 2);
	CHECK(s.bound_Bps > (50u << 20) && s.bound_Bps < (150u << 20));
	CHECK(s.bound_us == s.bytes * 1000000u / s.bound_Bps);
	CHECK(s.bound_link_us > 0 && s.bound_link_us <= s.bound_us);
	printf("window (sharing link): makespan %.0f ms, bound %.0f ms, %s\n",
	       s.makespan_us / 1000.0, s.bound_us / 1000.0, s.window_why);
}

/* Measured on a link where streams add: the window grows to the ceiling, not past it. */
static void test_window_adds(void)
{
	struct migr_evac_summary s;
	struct link l;

	link_init(&l, true, 20);
	window_run(&l, MIGR_EVAC_WINDOW_MEASURED, 3, 8, &s, NULL);
	CHECK_EQ(s.window_max, 3);
	CHECK(l.max_streams <= 3);
	CHECK(strstr(s.window_why, "they add") != NULL);
	/* streams add: the link carried more than one stream's rate, so the stricter bound
	 * is shorter */
	CHECK(s.link_Bps > s.bound_Bps);
	CHECK(s.bound_link_us > 0 && s.bound_link_us < s.bound_us);
	printf("window (adding link): bound over the link %.0f ms; makespan %.0f ms, bound %.0f ms, %s\n",
	       s.bound_link_us / 1000.0, s.makespan_us / 1000.0, s.bound_us / 1000.0, s.window_why);
}

/*
 * Measured on a link where streams add, with the gate: the first stream alone measures
 * one stream's rate; the next two start together, the shorter (70 ms) ends and its
 * blackout (50 ms) holds the other, which then ends alone. The held stream took 130 ms
 * for 80 ms of moving, and beside 1.4 streams on average: with the hold counted, 1.4
 * streams moved 88 MiB/s together against 100 alone, "they only share the link", and the
 * window would fall to one for good. Left out, it moved at one stream's rate beside 1.8
 * streams: they add, and the window stays at two.
 */
static void test_window_held(void)
{
	struct migr_evac_summary s;
	struct migr_evac_guest_result r;
	struct link l;

	link_init(&l, true, 0);
	l.gate = true;
	l.blackout_ms = 50;
	l.pair = true;
	l.second_bytes = 7u << 20;
	window_run(&l, MIGR_EVAC_WINDOW_MEASURED, 2, 3, &s, &r);
	CHECK_EQ(l.max_streams, 2);
	CHECK_EQ(l.blackout_shared, 0);
	CHECK(r.stream_held_us >= 40000 && r.stream_held_us < r.stream_us);
	CHECK(r.streams_beside_x100 >= 150);
	CHECK_EQ(s.window_max, 2);
	CHECK_EQ(s.window, 2);
	CHECK(strstr(s.window_why, "they add") != NULL);
	printf("window (held by a blackout): stream %.0f ms, held %.0f ms, %.2f streams at "
	       "once; %s\n", r.stream_us / 1000.0, r.stream_held_us / 1000.0,
	       r.streams_beside_x100 / 100.0, s.window_why);
}

int main(void)
{
	test_all_move();
	test_failures_and_retries();
	test_busy_target();
	test_cancel();
	test_group_cap();
	test_notice_and_unplaceable();
	test_request();
	test_notice_xenstore();
	test_window_one();
	test_window_shares();
	test_window_adds();
	test_window_held();
	return unit_done("test_evac");
}

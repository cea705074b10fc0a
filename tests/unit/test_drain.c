/*
 * test_drain.c: drains across the fleet over the in-memory etcd (libmigr/drain.c): the
 * /migr/drain/ records (encoded, parsed back, refused when hostile), the queue's state
 * transitions, the turn taken by compare-and-swap of the drain state (the window, failure
 * domains, two deciders racing: one forced interleaving and threads), hostile records in
 * etcd, and the agent a host's migrd runs (a turn won, progress, done, failed, a drain
 * picked up after a restart).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "unit.h"

#define GIB (UINT64_C(1) << 20)   /* in KiB */

static void put_host(struct migr_etcd *e, const char *name, const char *group,
		     uint64_t total_gib, unsigned int nguests, uint64_t guest_gib,
		     enum migr_guest_type type)
{
	struct migr_etcd_guest g[8];
	struct migr_etcd_host h = { .xen = "4.17.7", .xen_major = 4, .xen_minor = 17,
		.total_kib = total_gib * GIB, .n_guests = nguests, .guests = g };
	char key[MIGR_ETCD_KEY_MAX], *json = NULL;
	size_t len = 0;

	memset(g, 0, sizeof(g));
	for (unsigned int i = 0; i < nguests; i++) {
		snprintf(g[i].name, sizeof(g[i].name), "%s-vm%u", name, i);
		g[i].uuid[0] = (uint8_t)(name[strlen(name) - 1]);
		g[i].uuid[1] = (uint8_t)(i + 1);
		g[i].type = type;
		g[i].mem_kib = g[i].max_mem_kib = guest_gib * GIB;
	}
	h.free_kib = h.total_kib - nguests * guest_gib * GIB - GIB;
	snprintf(h.name, sizeof(h.name), "%s", name);
	snprintf(h.group, sizeof(h.group), "%s", group);
	snprintf(h.address, sizeof(h.address), "%s:8002", name);
	CHECK_EQ(migr_etcd_host_key(name, key, sizeof(key)), 0);
	CHECK_EQ(migr_etcd_host_encode(&h, &json, &len), 0);
	CHECK_EQ(migr_etcd_put(e, key, json, len, 0), 0);
	free(json);
}

static struct migr_drain_entry entry_of(struct migr_etcd *e, const char *host)
{
	struct migr_drain_view v;
	struct migr_drain_entry en = { 0 };
	const struct migr_drain_view_host *h;

	if (migr_drain_read(e, &v, NULL)) {
		CHECK(!"migr_drain_read() failed");
		return en;
	}
	if ((h = migr_drain_view_find(&v, host)))
		en = h->entry;
	migr_drain_view_clear(&v);
	return en;
}

/* "host:d" / "host:m" for every host out, in the state's order. */
static void out_list(struct migr_etcd *e, char *buf, size_t len)
{
	struct migr_drain_state s;
	size_t k = 0;

	buf[0] = '\0';
	CHECK_EQ(migr_drain_state_read(e, &s, NULL), 0);
	for (unsigned int i = 0; i < s.nout && k < len; i++)
		k += (size_t)snprintf(buf + k, len - k, "%s%s:%c", i ? "," : "", s.out[i].host,
				      s.out[i].done ? 'm' : 'd');
	migr_drain_state_clear(&s);
}

static int try_start(struct migr_etcd *e, const char *self, char *why, size_t wl)
{
	struct migr_fleet_params p;
	char targets[2048];

	migr_fleet_params_init(&p);
	return migr_drain_try_start(e, self, 1000, &p, targets, sizeof(targets), why, wl, NULL);
}

static void enqueue(struct migr_etcd *e, const char *host, int want)
{
	char msg[256];

	CHECK_EQ(migr_drain_enqueue(e, host, "op@console", 900, msg, sizeof(msg), NULL), want);
}

/* ---- records ---------------------------------------------------------------------- */

static void test_records(void)
{
	struct migr_drain_out out[2] = {
		{ .host = "a", .group = "rack1", .done = false, .since_unix = 1700000000 },
		{ .host = "b.example", .group = "", .done = true, .since_unix = 1 },
	};
	struct migr_drain_state s = { .window = 3, .nout = 2, .out = out }, s2;
	struct migr_drain_entry en = { .host = "a", .status = MIGR_DRAIN_FAILED,
		.reason = "2 of 3 guests not moved", .requester = "root@ops", .queued_unix = 5,
		.started_unix = 6, .ended_unix = 7 }, en2;
	struct migr_drain_progress p = { .total = 3, .moved = 1, .failed = 0, .left = 2,
		.nflight = 1, .flight = { { "web1", "c:8002" } }, .updated_unix = 9 }, p2;
	char *json = NULL;
	size_t len;

	CHECK_EQ(migr_drain_state_encode(&s, &json, &len), 0);
	CHECK_EQ(migr_drain_state_parse(json, len, &s2), 0);
	CHECK_EQ(s2.window, 3);
	CHECK_EQ(s2.nout, 2);
	CHECK_STR(s2.out[0].group, "rack1");
	CHECK(!s2.out[0].done && s2.out[1].done);
	CHECK_EQ(s2.out[1].since_unix, 1);
	migr_drain_state_clear(&s2);
	free(json);
	CHECK_EQ(migr_drain_entry_encode(&en, &json, &len), 0);
	CHECK_EQ(migr_drain_entry_parse(json, len, "a", &en2), 0);
	CHECK_EQ(en2.status, MIGR_DRAIN_FAILED);
	CHECK_STR(en2.reason, "2 of 3 guests not moved");
	CHECK_STR(en2.requester, "root@ops");
	CHECK_EQ(en2.ended_unix, 7);
	CHECK_EQ(migr_drain_entry_parse(json, len, "b", &en2), -EPROTO);   /* not its key's */
	free(json);
	CHECK_EQ(migr_drain_progress_encode(&p, &json, &len), 0);
	CHECK_EQ(migr_drain_progress_parse(json, len, &p2), 0);
	CHECK_EQ(p2.left, 2);
	CHECK_EQ(p2.nflight, 1);
	CHECK_STR(p2.flight[0].to, "c:8002");
	free(json);
	/* what the encoders refuse to write */
	s.window = 0;
	CHECK_EQ(migr_drain_state_encode(&s, &json, &len), -EINVAL);
	s.window = 1;
	snprintf(out[0].host, sizeof(out[0].host), "a/b");
	CHECK_EQ(migr_drain_state_encode(&s, &json, &len), -EINVAL);
	snprintf(en.reason, sizeof(en.reason), "a\nb");
	CHECK_EQ(migr_drain_entry_encode(&en, &json, &len), -EINVAL);
	p.moved = 4;
	CHECK_EQ(migr_drain_progress_encode(&p, &json, &len), -EINVAL);

	/* hostile values */
	static const char *const bad_states[] = {
		"{\"schema\":1,\"window\":0,\"out\":[]}",
		"{\"schema\":1,\"window\":257,\"out\":[]}",
		"{\"schema\":1,\"window\":-1,\"out\":[]}",
		"{\"schema\":1,\"window\":1.5,\"out\":[]}",
		"{\"schema\":1,\"window\":\"2\",\"out\":[]}",
		"{\"schema\":1,\"window\":2}",
		"{\"schema\":1,\"window\":2,\"out\":{}}",
		"{\"schema\":1,\"window\":2,\"out\":[{\"host\":\"a\",\"group\":\"\",\"state\":"
			"\"draining\",\"since\":1},{\"host\":\"a\",\"group\":\"\",\"state\":\"done\","
			"\"since\":1}]}",                                  /* a host out twice */
		"{\"schema\":1,\"window\":2,\"out\":[{\"host\":\"../x\",\"group\":\"\",\"state\":"
			"\"draining\",\"since\":1}]}",
		"{\"schema\":1,\"window\":2,\"out\":[{\"host\":\"a\",\"group\":\"r 1\",\"state\":"
			"\"draining\",\"since\":1}]}",
		"{\"schema\":1,\"window\":2,\"out\":[{\"host\":\"a\",\"group\":\"\",\"state\":"
			"\"resting\",\"since\":1}]}",
		"{\"schema\":1,\"window\":2,\"out\":[{\"host\":\"a\",\"group\":\"\",\"state\":"
			"\"draining\"}]}",
		"{\"schema\":1,\"window\":2,\"out\":[[[[[]]]]]}",
		"{\"schema\":1,\"window\":2,\"out\":[]} x",
		"[1,2]",
		"",
	};
	const char *s2_text = "{\"schema\":2,\"window\":1,\"out\":[]}";
	for (unsigned int i = 0; i < sizeof(bad_states) / sizeof(bad_states[0]); i++) {
		int rc = migr_drain_state_parse(bad_states[i], strlen(bad_states[i]), &s2);

		CHECK_EQ(rc, -EPROTO);
		if (rc != -EPROTO)
			fprintf(stderr, "  state %u parsed: %s\n", i, bad_states[i]);
	}
	CHECK_EQ(migr_drain_state_parse(s2_text, strlen(s2_text), &s2),
		 -ENOTSUP);
	CHECK_EQ(migr_drain_state_parse("{\"schema\":1,\"window\":1,\"out\":[]}\0", 35, &s2),
		 -EPROTO);
	static const char *const bad_entries[] = {
		"{\"schema\":1,\"host\":\"a\",\"state\":\"paused\",\"reason\":\"\",\"requester\":\"\","
			"\"queued\":1,\"started\":0,\"ended\":0}",
		"{\"schema\":1,\"host\":\"a\",\"state\":\"queued\",\"reason\":\"\x01\",\"requester\":"
			"\"\",\"queued\":1,\"started\":0,\"ended\":0}",
		"{\"schema\":1,\"host\":\"a\",\"state\":\"queued\",\"reason\":\"\",\"requester\":\"\","
			"\"queued\":99999999999999999,\"started\":0,\"ended\":0}",
		"{\"schema\":1,\"host\":\"a\",\"state\":\"queued\",\"reason\":\"\",\"requester\":\"\","
			"\"queued\":1,\"started\":0}",
		"{\"schema\":1,\"host\":\"b\",\"state\":\"queued\",\"reason\":\"\",\"requester\":\"\","
			"\"queued\":1,\"started\":0,\"ended\":0}",
	};
	for (unsigned int i = 0; i < sizeof(bad_entries) / sizeof(bad_entries[0]); i++)
		CHECK_EQ(migr_drain_entry_parse(bad_entries[i], strlen(bad_entries[i]), "a", &en2),
			 -EPROTO);
	char longreason[600];
	snprintf(longreason, sizeof(longreason), "{\"schema\":1,\"host\":\"a\",\"state\":\"failed\","
		 "\"reason\":\"%0300d\",\"requester\":\"\",\"queued\":1,\"started\":0,\"ended\":0}", 7);
	CHECK_EQ(migr_drain_entry_parse(longreason, strlen(longreason), "a", &en2), -EPROTO);
	static const char *const bad_progress[] = {
		"{\"schema\":1,\"total\":2,\"moved\":3,\"failed\":0,\"left\":0,\"in_flight\":[],"
			"\"updated\":1}",
		"{\"schema\":1,\"total\":2,\"moved\":1,\"failed\":0,\"left\":2,\"in_flight\":[],"
			"\"updated\":1}",
		"{\"schema\":1,\"total\":2,\"moved\":0,\"failed\":0,\"left\":2,\"in_flight\":"
			"[{\"guest\":\"\",\"to\":\"x\"}],\"updated\":1}",
		"{\"schema\":1,\"total\":2,\"moved\":0,\"failed\":0,\"left\":2,\"in_flight\":"
			"[{\"guest\":3,\"to\":\"x\"}],\"updated\":1}",
		"{\"schema\":1,\"total\":4294967296,\"moved\":0,\"failed\":0,\"left\":0,"
			"\"in_flight\":[],\"updated\":1}",
	};
	for (unsigned int i = 0; i < sizeof(bad_progress) / sizeof(bad_progress[0]); i++)
		CHECK_EQ(migr_drain_progress_parse(bad_progress[i], strlen(bad_progress[i]), &p2),
			 -EPROTO);
	/* 65 guests in flight: more than a record holds */
	char big[8192];
	size_t k = (size_t)snprintf(big, sizeof(big), "{\"schema\":1,\"total\":100,\"moved\":0,"
				    "\"failed\":0,\"left\":100,\"updated\":1,\"in_flight\":[");
	for (int i = 0; i < 65; i++)
		k += (size_t)snprintf(big + k, sizeof(big) - k, "%s{\"guest\":\"g%d\",\"to\":\"t\"}",
				      i ? "," : "", i);
	k += (size_t)snprintf(big + k, sizeof(big) - k, "]}");
	CHECK_EQ(migr_drain_progress_parse(big, k, &p2), -EPROTO);
}

/* ---- the queue's transitions ------------------------------------------------------ */

static void test_transitions(void)
{
	struct migr_etcd_fake *f = NULL;
	struct migr_etcd *e;
	struct migr_drain_entry en;
	char why[512], msg[256], outs[256];
	int64_t pos;

	CHECK_EQ(migr_etcd_fake_new(&f), 0);
	e = &f->e;
	put_host(e, "h1", "r1", 64, 2, 4, MIGR_GUEST_PVH);
	put_host(e, "h2", "r2", 64, 2, 4, MIGR_GUEST_PVH);
	put_host(e, "h3", "r3", 64, 0, 0, MIGR_GUEST_PVH);
	CHECK_EQ(try_start(e, "h1", why, sizeof(why)), 0);           /* not queued */
	CHECK(strstr(why, "not queued") != NULL);
	enqueue(e, "h1", 0);
	enqueue(e, "h1", -EEXIST);
	enqueue(e, "bad/name", -EINVAL);
	en = entry_of(e, "h1");
	CHECK_EQ(en.status, MIGR_DRAIN_QUEUED);
	CHECK_STR(en.requester, "op@console");
	pos = en.position;
	CHECK_EQ(try_start(e, "h1", why, sizeof(why)), 1);
	CHECK_EQ(entry_of(e, "h1").status, MIGR_DRAIN_DRAINING);
	out_list(e, outs, sizeof(outs));
	CHECK_STR(outs, "h1:d");
	CHECK_EQ(try_start(e, "h1", why, sizeof(why)), 0);           /* draining, not queued */
	CHECK_EQ(migr_drain_cancel(e, "h1", false, msg, sizeof(msg), NULL), -EBUSY);
	CHECK(strstr(msg, "--force") != NULL);
	/* done: in maintenance, its slot taken by nobody, its group busy */
	CHECK_EQ(migr_drain_finish(e, "h1", true, NULL, 1100, NULL), 0);
	en = entry_of(e, "h1");
	CHECK_EQ(en.status, MIGR_DRAIN_DONE);
	CHECK_EQ(en.ended_unix, 1100);
	out_list(e, outs, sizeof(outs));
	CHECK_STR(outs, "h1:m");
	enqueue(e, "h1", -EEXIST);
	/* failed: the slot is freed, the reason kept; queued again it keeps its place */
	enqueue(e, "h2", 0);
	CHECK_EQ(try_start(e, "h2", why, sizeof(why)), 1);
	CHECK_EQ(migr_drain_finish(e, "h2", false, "1 of 2 guests not moved", 1200, NULL), 0);
	en = entry_of(e, "h2");
	CHECK_EQ(en.status, MIGR_DRAIN_FAILED);
	CHECK_STR(en.reason, "1 of 2 guests not moved");
	out_list(e, outs, sizeof(outs));
	CHECK_STR(outs, "h1:m");
	int64_t pos2 = en.position;
	enqueue(e, "h2", 0);
	en = entry_of(e, "h2");
	CHECK_EQ(en.status, MIGR_DRAIN_QUEUED);
	CHECK_EQ(en.position, pos2);
	CHECK(en.position > pos);
	/* cancel: a queued host leaves the queue; a drained one is back in service */
	CHECK_EQ(migr_drain_cancel(e, "h2", false, msg, sizeof(msg), NULL), 0);
	CHECK_STR(msg, "h2 is out of the drain queue");
	CHECK_EQ(entry_of(e, "h2").status, 0);
	CHECK_EQ(migr_drain_cancel(e, "h2", false, msg, sizeof(msg), NULL), -ENOENT);
	CHECK_EQ(migr_drain_cancel(e, "h1", false, msg, sizeof(msg), NULL), 0);
	CHECK_STR(msg, "h1 is back in service");
	out_list(e, outs, sizeof(outs));
	CHECK_STR(outs, "");
	/* the window, set by the operator */
	CHECK_EQ(migr_drain_set_window(e, 0, NULL), -EINVAL);
	CHECK_EQ(migr_drain_set_window(e, 257, NULL), -EINVAL);
	CHECK_EQ(migr_drain_set_window(e, 4, NULL), 0);
	struct migr_drain_state s;
	CHECK_EQ(migr_drain_state_read(e, &s, NULL), 0);
	CHECK_EQ(s.window, 4);
	migr_drain_state_clear(&s);
	/* etcd down: every operation says so */
	migr_etcd_fake_set_down(f, true);
	enqueue(e, "h3", -ECONNREFUSED);
	CHECK_EQ(try_start(e, "h3", why, sizeof(why)), -ECONNREFUSED);
	migr_etcd_fake_set_down(f, false);
	migr_etcd_close(e);
}

/* ---- the window and failure domains ---------------------------------------------- */

static void test_window_and_groups(void)
{
	struct migr_etcd_fake *f = NULL;
	struct migr_etcd *e;
	char why[512], msg[256], outs[256];
	const char *groups[6] = { "r1", "r1", "r2", "r3", "r4", "" };
	char name[16];

	CHECK_EQ(migr_etcd_fake_new(&f), 0);
	e = &f->e;
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "h%d", i + 1);
		put_host(e, name, groups[i], 64, 1, 4, MIGR_GUEST_PVH);
		enqueue(e, name, 0);
	}
	put_host(e, "spare", "r9", 256, 0, 0, MIGR_GUEST_PVH);
	CHECK_EQ(migr_drain_set_window(e, 2, NULL), 0);
	CHECK_EQ(try_start(e, "h1", why, sizeof(why)), 1);
	CHECK_EQ(try_start(e, "h2", why, sizeof(why)), 0);      /* h1 of r1 is out */
	CHECK(!strncmp(why, "group:", 6));
	CHECK_EQ(try_start(e, "h3", why, sizeof(why)), 1);
	CHECK_EQ(try_start(e, "h4", why, sizeof(why)), 0);      /* two drain: W = 2 */
	CHECK(!strncmp(why, "window:", 7));
	out_list(e, outs, sizeof(outs));
	CHECK_STR(outs, "h1:d,h3:d");
	/* h3 fails: its slot is free; h1 is done: its domain stays busy (maintenance) */
	CHECK_EQ(migr_drain_finish(e, "h3", false, "x", 2000, NULL), 0);
	CHECK_EQ(migr_drain_finish(e, "h1", true, NULL, 2000, NULL), 0);
	CHECK_EQ(try_start(e, "h2", why, sizeof(why)), 0);
	CHECK(!strncmp(why, "group:", 6));
	CHECK_EQ(try_start(e, "h4", why, sizeof(why)), 1);
	/* one slot left: the walk gives it to h5 (r4) before h6 (no domain) */
	CHECK_EQ(try_start(e, "h6", why, sizeof(why)), 0);
	CHECK(!strncmp(why, "window:", 7));
	CHECK_EQ(try_start(e, "h5", why, sizeof(why)), 1);
	CHECK_EQ(try_start(e, "h6", why, sizeof(why)), 0);
	CHECK(!strncmp(why, "window:", 7));
	/* h1 back in service and h5 done: r1 is free for h2 */
	CHECK_EQ(migr_drain_cancel(e, "h1", false, msg, sizeof(msg), NULL), 0);
	CHECK_EQ(migr_drain_finish(e, "h5", true, NULL, 2100, NULL), 0);
	CHECK_EQ(try_start(e, "h2", why, sizeof(why)), 1);
	out_list(e, outs, sizeof(outs));
	CHECK_STR(outs, "h4:d,h5:m,h2:d");
	CHECK_EQ(try_start(e, "h6", why, sizeof(why)), 0);
	CHECK(!strncmp(why, "window:", 7));
	migr_etcd_close(e);
}

/* A host out whose migrd is gone (no record) still holds its slot and its domain; the
 * rules are checked on the state key itself; a pinned guest and no room hold a host. */
static void test_rules_on_state(void)
{
	struct migr_etcd_fake *f = NULL;
	struct migr_etcd *e;
	char why[512], *json = NULL;
	size_t len;
	struct migr_drain_out out = { .host = "ghost", .group = "r1", .since_unix = 1 };
	struct migr_drain_state s = { .window = 1, .nout = 1, .out = &out };

	CHECK_EQ(migr_etcd_fake_new(&f), 0);
	e = &f->e;
	CHECK_EQ(migr_drain_state_encode(&s, &json, &len), 0);
	CHECK_EQ(migr_etcd_put(e, MIGR_DRAIN_STATE_KEY, json, len, 0), 0);
	free(json);
	put_host(e, "a", "r2", 64, 1, 4, MIGR_GUEST_PVH);
	put_host(e, "b", "r1", 64, 1, 4, MIGR_GUEST_PVH);
	put_host(e, "c", "r3", 64, 1, 4, MIGR_GUEST_HVM);
	put_host(e, "big", "r4", 64, 1, 60, MIGR_GUEST_PVH);
	put_host(e, "spare", "r9", 64, 0, 0, MIGR_GUEST_PVH);
	enqueue(e, "a", 0);
	enqueue(e, "b", 0);
	enqueue(e, "c", 0);
	enqueue(e, "big", 0);
	CHECK_EQ(try_start(e, "a", why, sizeof(why)), 0);
	CHECK(!strncmp(why, "window:", 7));
	CHECK_EQ(migr_drain_set_window(e, 3, NULL), 0);
	CHECK_EQ(try_start(e, "b", why, sizeof(why)), 0);
	CHECK(!strncmp(why, "group:", 6));
	CHECK_EQ(try_start(e, "c", why, sizeof(why)), 0);
	CHECK(!strncmp(why, "pinned:", 7));
	CHECK_EQ(try_start(e, "big", why, sizeof(why)), 0);
	CHECK(!strncmp(why, "room:", 5));
	CHECK_EQ(try_start(e, "a", why, sizeof(why)), 1);
	/* the ghost's migrd is gone for good: the operator forces it out, and its domain is
	 * free for b */
	char msg[256], outs[256];
	CHECK_EQ(migr_drain_cancel(e, "ghost", false, msg, sizeof(msg), NULL), -EBUSY);
	CHECK_EQ(migr_drain_cancel(e, "ghost", true, msg, sizeof(msg), NULL), 0);
	out_list(e, outs, sizeof(outs));
	CHECK_STR(outs, "a:d");
	CHECK_EQ(try_start(e, "b", why, sizeof(why)), 1);
	migr_etcd_close(e);
}

/* ---- two deciders racing ---------------------------------------------------------- */

/*
 * An etcd that runs another host's whole turn just before the first swap of the state
 * key goes through: both deciders read the same state, the other writes first.
 */
struct racing {
	struct migr_etcd e;
	struct migr_etcd *real;
	const char *other, *other_group;
	int other_rc;
	bool fired;
};
#define R(x) ((struct racing *)(x))
static int r_get(struct migr_etcd *e, const char *k, struct migr_etcd_kv *kv)
{
	return migr_etcd_get(R(e)->real, k, kv);
}
static int r_list(struct migr_etcd *e, const char *p, unsigned int m, struct migr_etcd_kv **v,
		  unsigned int *n)
{
	return migr_etcd_list(R(e)->real, p, m, v, n);
}
static int r_put(struct migr_etcd *e, const char *k, const char *v, size_t l, int64_t le)
{
	return migr_etcd_put(R(e)->real, k, v, l, le);
}
static int r_del(struct migr_etcd *e, const char *k)
{
	return migr_etcd_del(R(e)->real, k);
}
static int r_cas(struct migr_etcd *e, const char *k, int64_t rev, const char *v, size_t l,
		 int64_t le, bool *won, struct migr_etcd_kv *cur)
{
	struct racing *r = R(e);

	if (!r->fired && !strcmp(k, MIGR_DRAIN_STATE_KEY)) {
		char why[512];

		/* b's migrd registers (b was queued first, so its turn comes first) and
		 * takes its turn, between a's reading and a's swap */
		r->fired = true;
		put_host(r->real, r->other, r->other_group, 64, 1, 4, MIGR_GUEST_PVH);
		r->other_rc = try_start(r->real, r->other, why, sizeof(why));
	}
	return migr_etcd_cas(r->real, k, rev, v, l, le, won, cur);
}
static const struct migr_etcd_ops racing_ops = {
	.get = r_get, .list = r_list, .put = r_put, .del = r_del, .cas = r_cas,
};

static void race_once(const char *group_a, const char *group_b, unsigned int window,
		      int want_a, const char *want_out)
{
	struct migr_etcd_fake *f = NULL;
	struct racing r = { .e.ops = &racing_ops, .other = "b", .other_group = group_b };
	char why[512], outs[256];

	CHECK_EQ(migr_etcd_fake_new(&f), 0);
	r.real = &f->e;
	put_host(r.real, "a", group_a, 64, 1, 4, MIGR_GUEST_PVH);
	put_host(r.real, "spare", "r9", 256, 0, 0, MIGR_GUEST_PVH);
	CHECK_EQ(migr_drain_set_window(r.real, window, NULL), 0);
	enqueue(r.real, "b", 0);      /* no host record yet: not a candidate when a decides */
	enqueue(r.real, "a", 0);
	CHECK_EQ(try_start(&r.e, "a", why, sizeof(why)), want_a);
	CHECK(r.fired);
	CHECK_EQ(r.other_rc, 1);                     /* b decided second and swapped first */
	out_list(r.real, outs, sizeof(outs));
	CHECK_STR(outs, want_out);
	CHECK_EQ(entry_of(r.real, "a").status, want_a ? MIGR_DRAIN_DRAINING : MIGR_DRAIN_QUEUED);
	migr_etcd_close(r.real);
}

static void test_race(void)
{
	race_once("r1", "r1", 2, 0, "b:d");          /* one failure domain: a lost, waits */
	race_once("r1", "r2", 1, 0, "b:d");          /* W = 1: a lost, waits */
	race_once("r1", "r2", 2, 1, "b:d,a:d");      /* room for both: a decides again, starts */
}

/* Many migrds deciding at once on one etcd: never more than W, never two of a domain. */
struct racer {
	struct migr_etcd *e;
	char name[16];
	int rc;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	char why[512];

	/* as the agent does, look again and again: a host that waits now may start later */
	for (int i = 0; i < 20; i++) {
		r->rc = try_start(r->e, r->name, why, sizeof(why));
		if (r->rc == 1 || (r->rc < 0 && r->rc != -EAGAIN))
			break;
		sched_yield();
	}
	return NULL;
}

static void test_race_threads(void)
{
	for (int round = 0; round < 8; round++) {
		struct migr_etcd_fake *f = NULL;
		struct racer rs[10];
		pthread_t th[10];
		struct migr_drain_state s;
		int started = 0;

		CHECK_EQ(migr_etcd_fake_new(&f), 0);
		for (int i = 0; i < 10; i++) {
			char group[16];

			snprintf(rs[i].name, sizeof(rs[i].name), "h%d", i);
			snprintf(group, sizeof(group), "r%u", (unsigned int)i % 4);   /* 4 domains */
			put_host(&f->e, rs[i].name, group, 64, 1, 2, MIGR_GUEST_PVH);
			enqueue(&f->e, rs[i].name, 0);
			rs[i].e = &f->e;
		}
		CHECK_EQ(migr_drain_set_window(&f->e, 3, NULL), 0);
		for (int i = 0; i < 10; i++)
			CHECK_EQ(pthread_create(&th[i], NULL, racer_main, &rs[i]), 0);
		for (int i = 0; i < 10; i++) {
			pthread_join(th[i], NULL);
			CHECK(rs[i].rc == 0 || rs[i].rc == 1);
			started += rs[i].rc == 1;
		}
		CHECK_EQ(started, 3);
		CHECK_EQ(migr_drain_state_read(&f->e, &s, NULL), 0);
		CHECK_EQ(s.nout, 3);
		for (unsigned int i = 0; i < s.nout; i++)
			for (unsigned int j = i + 1; j < s.nout; j++)
				CHECK(strcmp(s.out[i].group, s.out[j].group));
		for (int i = 0; i < 10; i++)
			CHECK_EQ(migr_drain_state_find(&s, rs[i].name) >= 0, rs[i].rc == 1);
		migr_drain_state_clear(&s);
		migr_etcd_close(&f->e);
	}
}

/* ---- hostile records in etcd ------------------------------------------------------ */

static void test_hostile_etcd(void)
{
	struct migr_etcd_fake *f = NULL;
	struct migr_etcd *e;
	struct migr_drain_view v;
	char why[512], msg[256];

	CHECK_EQ(migr_etcd_fake_new(&f), 0);
	e = &f->e;
	put_host(e, "a", "r1", 64, 1, 4, MIGR_GUEST_PVH);
	put_host(e, "spare", "r2", 64, 0, 0, MIGR_GUEST_PVH);
	enqueue(e, "a", 0);
	/* junk everywhere around: skipped, counted, never believed */
	CHECK_EQ(migr_etcd_put(e, MIGR_ETCD_PREFIX "hosts/junk", "{\"schema\":1}", 12, 0), 0);
	CHECK_EQ(migr_etcd_put(e, MIGR_DRAIN_HOSTS_PREFIX "x", "not json", 8, 0), 0);
	CHECK_EQ(migr_etcd_put(e, MIGR_DRAIN_HOSTS_PREFIX "..", "{}", 2, 0), 0);
	CHECK_EQ(migr_etcd_put(e, MIGR_DRAIN_PROGRESS_PREFIX "a", "{\"schema\":1,\"total\":1}",
			       22, 0), 0);
	CHECK_EQ(migr_drain_read(e, &v, NULL), 0);
	CHECK_EQ(v.nhosts, 1);
	CHECK_EQ(v.skipped, 3);
	CHECK(!v.hosts[0].has_progress);
	migr_drain_view_clear(&v);
	enqueue(e, "x", -EPROTO);                   /* its entry is junk: cancel first */
	CHECK_EQ(migr_drain_cancel(e, "x", false, msg, sizeof(msg), NULL), 0);
	enqueue(e, "x", 0);
	/* a state nobody reads stops every start */
	const char *bad_state = "{\"schema\":1,\"window\":99999,\"out\":[]}";
	CHECK_EQ(migr_etcd_put(e, MIGR_DRAIN_STATE_KEY, bad_state, strlen(bad_state), 0), 0);
	CHECK_EQ(try_start(e, "a", why, sizeof(why)), -EPROTO);
	CHECK_EQ(migr_drain_read(e, &v, NULL), 0);
	CHECK_EQ(v.state_broken, -EPROTO);
	CHECK_EQ(v.nhosts, 2);
	CHECK_EQ(v.hosts[0].entry.status, MIGR_DRAIN_QUEUED);
	migr_drain_view_clear(&v);
	CHECK_EQ(migr_etcd_put(e, MIGR_DRAIN_STATE_KEY, "{\"schema\":3}", 12, 0), 0);
	CHECK_EQ(try_start(e, "a", why, sizeof(why)), -ENOTSUP);
	CHECK_EQ(migr_etcd_del(e, MIGR_DRAIN_STATE_KEY), 0);
	/* a host record whose guests exceed its memory is left out (not a target) */
	struct migr_etcd_guest g = { .name = "huge", .type = MIGR_GUEST_PVH,
				     .mem_kib = 100 * GIB, .max_mem_kib = 100 * GIB };
	struct migr_etcd_host h = { .name = "liar", .address = "liar:1", .total_kib = 64 * GIB,
				    .free_kib = 63 * GIB, .n_guests = 1, .guests = &g };
	char *json = NULL;
	size_t len;
	CHECK_EQ(migr_etcd_host_encode(&h, &json, &len), 0);
	CHECK_EQ(migr_etcd_put(e, MIGR_ETCD_PREFIX "hosts/liar", json, len, 0), 0);
	free(json);
	/* one whose free memory and guests add up to more than its total: its free memory
	 * is taken as what its guests leave (the decision would refuse the whole fleet) */
	g.mem_kib = g.max_mem_kib = 4 * GIB;
	snprintf(h.name, sizeof(h.name), "full");
	h.free_kib = h.total_kib;
	CHECK_EQ(migr_etcd_host_encode(&h, &json, &len), 0);
	CHECK_EQ(migr_etcd_put(e, MIGR_ETCD_PREFIX "hosts/full", json, len, 0), 0);
	free(json);
	/* two hosts listing one guest (a copy in flight): counted once */
	put_host(e, "m1", "r5", 64, 1, 4, MIGR_GUEST_PVH);
	put_host(e, "n1", "r6", 64, 1, 4, MIGR_GUEST_PVH);
	struct migr_drain_fleet fl;
	CHECK_EQ(migr_drain_fleet_read(e, &fl, NULL), 0);
	CHECK_EQ(fl.nhosts, 5);                     /* a, full, spare, m1, n1 */
	CHECK_EQ(fl.nguests, 3);                    /* a's, full's, one of m1's and n1's */
	CHECK_EQ(fl.nqueue, 1);                     /* x has no host record */
	for (unsigned int i = 0; i < fl.nhosts; i++)
		if (!strcmp(fl.hosts[i].name, "full"))
			CHECK_EQ(fl.hosts[i].free_kib, 60 * GIB - 2048);
	migr_drain_fleet_clear(&fl);
	CHECK_EQ(try_start(e, "a", why, sizeof(why)), 1);
	migr_etcd_close(e);
}

/* ---- the agent -------------------------------------------------------------------- */

struct host_sim {
	unsigned int guests;            /* on this host now */
	unsigned int evacuations;
	char targets[2048];
	int evacuate_rc;
	bool running;
	unsigned int moved, failed, total;
	bool restarted;                 /* poll knows nothing (-ENOENT) */
};

static int sim_evacuate(void *arg, const char *targets, char *why, size_t wl)
{
	struct host_sim *h = arg;

	if (h->evacuate_rc) {
		snprintf(why, wl, "simulated refusal");
		return h->evacuate_rc;
	}
	h->evacuations++;
	snprintf(h->targets, sizeof(h->targets), "%s", targets);
	h->running = true;
	h->total = h->guests;
	h->moved = h->failed = 0;
	return 0;
}

static int sim_poll(void *arg, bool *running_r, struct migr_drain_progress *p)
{
	struct host_sim *h = arg;

	if (h->restarted)
		return -ENOENT;
	*running_r = h->running;
	p->total = h->total;
	p->moved = h->moved;
	p->failed = h->failed;
	p->left = h->total - h->moved;
	if (h->running && h->moved < h->total) {
		p->nflight = 1;
		snprintf(p->flight[0].guest, sizeof(p->flight[0].guest), "vm%u", h->moved);
		snprintf(p->flight[0].to, sizeof(p->flight[0].to), "spare:8002");
	}
	return 0;
}

static int sim_left(void *arg, unsigned int *n_r)
{
	*n_r = ((struct host_sim *)arg)->guests;
	return 0;
}

static const struct migr_drain_agent_ops sim_ops = {
	.evacuate = sim_evacuate, .poll = sim_poll, .guests_left = sim_left,
};

static int64_t fixed_now(void)
{
	return 4242;
}

static struct migr_drain_agent *agent(struct migr_etcd *e, const char *self,
				      struct host_sim *h)
{
	struct migr_drain_agent_opts o = { .etcd = e, .self = self, .ops = &sim_ops, .arg = h,
					   .now = fixed_now };
	struct migr_drain_agent *a = NULL;

	migr_fleet_params_init(&o.params);
	CHECK_EQ(migr_drain_agent_new(&o, &a), 0);
	return a;
}

static void test_agent(void)
{
	struct migr_etcd_fake *f = NULL;
	struct migr_etcd *e;
	struct host_sim ha = { .guests = 2 }, hb = { .guests = 1 };
	struct migr_drain_agent *a, *b;
	struct migr_drain_view v;
	const struct migr_drain_view_host *vh;
	char outs[256];

	CHECK_EQ(migr_etcd_fake_new(&f), 0);
	e = &f->e;
	put_host(e, "a", "r1", 64, 2, 4, MIGR_GUEST_PVH);
	put_host(e, "b", "r1", 64, 1, 4, MIGR_GUEST_PVH);
	put_host(e, "spare", "r2", 256, 0, 0, MIGR_GUEST_PVH);
	a = agent(e, "a", &ha);
	b = agent(e, "b", &hb);
	CHECK_EQ(migr_drain_agent_tick(a), 0);      /* nothing queued: nothing done */
	CHECK_EQ(ha.evacuations, 0);
	CHECK_EQ(migr_drain_set_window(e, 2, NULL), 0);
	enqueue(e, "a", 0);
	enqueue(e, "b", 0);
	CHECK_EQ(migr_drain_agent_tick(a), 0);      /* a's turn: its evacuation starts */
	CHECK_EQ(ha.evacuations, 1);
	CHECK_STR(ha.targets, "spare:8002");
	CHECK_EQ(migr_drain_agent_tick(b), 0);      /* b: same failure domain, waits */
	CHECK_EQ(hb.evacuations, 0);
	/* progress as guests move */
	ha.moved = 1;
	ha.guests = 1;
	CHECK_EQ(migr_drain_agent_tick(a), 0);
	CHECK_EQ(migr_drain_read(e, &v, NULL), 0);
	vh = migr_drain_view_find(&v, "a");
	CHECK(vh && vh->has_progress);
	CHECK(vh && vh->progress.moved == 1 && vh->progress.left == 1 && vh->progress.nflight == 1);
	CHECK(vh && vh->entry.status == MIGR_DRAIN_DRAINING && vh->out && !vh->out_done);
	migr_drain_view_clear(&v);
	/* migrd restarts mid-drain: a new agent picks the drain up, for the guest left */
	migr_drain_agent_free(a);
	ha.running = false;
	a = agent(e, "a", &ha);
	CHECK_EQ(migr_drain_agent_tick(a), 0);
	CHECK_EQ(ha.evacuations, 2);
	CHECK_EQ(ha.total, 1);
	ha.moved = 1;
	ha.guests = 0;
	ha.running = false;
	CHECK_EQ(migr_drain_agent_tick(a), 0);      /* ended, nothing left: done */
	CHECK_EQ(entry_of(e, "a").status, MIGR_DRAIN_DONE);
	out_list(e, outs, sizeof(outs));
	CHECK_STR(outs, "a:m");
	CHECK_EQ(migr_drain_agent_tick(b), 0);      /* a in maintenance: r1 still busy */
	CHECK_EQ(hb.evacuations, 0);
	char msg[256];
	CHECK_EQ(migr_drain_cancel(e, "a", false, msg, sizeof(msg), NULL), 0);
	CHECK_EQ(migr_drain_agent_tick(b), 0);
	CHECK_EQ(hb.evacuations, 1);
	/* b's evacuation ends with its guest still there: failed, slot freed */
	hb.running = false;
	hb.failed = 1;
	CHECK_EQ(migr_drain_agent_tick(b), 0);
	struct migr_drain_entry en = entry_of(e, "b");
	CHECK_EQ(en.status, MIGR_DRAIN_FAILED);
	CHECK(strstr(en.reason, "1 of 1 guests not moved") != NULL);
	out_list(e, outs, sizeof(outs));
	CHECK_STR(outs, "");
	/* queued again, and the evacuation refuses to start: failed at once, slot freed */
	enqueue(e, "b", 0);
	hb.evacuate_rc = -EINVAL;
	CHECK_EQ(migr_drain_agent_tick(b), 0);
	en = entry_of(e, "b");
	CHECK_EQ(en.status, MIGR_DRAIN_FAILED);
	CHECK(strstr(en.reason, "simulated refusal") != NULL);
	out_list(e, outs, sizeof(outs));
	CHECK_STR(outs, "");
	/* an evacuation already running here (-EBUSY): the drain waits for it */
	enqueue(e, "b", 0);
	hb.evacuate_rc = -EBUSY;
	CHECK_EQ(migr_drain_agent_tick(b), 0);
	CHECK_EQ(entry_of(e, "b").status, MIGR_DRAIN_DRAINING);
	hb.evacuate_rc = 0;
	unsigned int before = hb.evacuations;
	CHECK_EQ(migr_drain_agent_tick(b), 0);      /* picked up on the next look */
	CHECK_EQ(hb.evacuations, before + 1);
	/* a migrd restarted with nothing to poll, its host empty: done */
	migr_drain_agent_free(b);
	hb.restarted = true;
	hb.guests = 0;
	b = agent(e, "b", &hb);
	CHECK_EQ(migr_drain_agent_tick(b), 0);
	CHECK_EQ(entry_of(e, "b").status, MIGR_DRAIN_DONE);
	/* an entry says draining, the state does not (a crash between the two writes of a
	 * failure): the state wins */
	CHECK_EQ(migr_drain_cancel(e, "b", false, msg, sizeof(msg), NULL), 0);
	struct migr_drain_entry stale = { .host = "b", .status = MIGR_DRAIN_DRAINING };
	char *json = NULL;
	size_t len;
	CHECK_EQ(migr_drain_entry_encode(&stale, &json, &len), 0);
	CHECK_EQ(migr_etcd_put(e, MIGR_DRAIN_HOSTS_PREFIX "b", json, len, 0), 0);
	CHECK_EQ(migr_drain_cancel(e, "b", false, msg, sizeof(msg), NULL), 0);   /* stale */
	CHECK_EQ(migr_etcd_put(e, MIGR_DRAIN_HOSTS_PREFIX "b", json, len, 0), 0);
	free(json);
	CHECK_EQ(migr_drain_agent_tick(b), 0);
	en = entry_of(e, "b");
	CHECK_EQ(en.status, MIGR_DRAIN_FAILED);
	CHECK_STR(en.reason, "its slot in the drain state is gone");
	/* an evacuation that ends before it ran (its plan failed), its figures empty, the
	 * guest still here: failed, not done */
	migr_drain_agent_free(b);
	memset(&hb, 0, sizeof(hb));
	hb.guests = 1;
	b = agent(e, "b", &hb);
	enqueue(e, "b", 0);
	CHECK_EQ(migr_drain_agent_tick(b), 0);
	CHECK_EQ(hb.evacuations, 1);
	hb.running = false;
	hb.total = 0;
	CHECK_EQ(migr_drain_agent_tick(b), 0);
	en = entry_of(e, "b");
	CHECK_EQ(en.status, MIGR_DRAIN_FAILED);
	CHECK(strstr(en.reason, "1 of 1 guests not moved") != NULL);
	migr_drain_agent_free(a);
	migr_drain_agent_free(b);
	migr_etcd_close(e);
}

/* A cancel that lands between a migrd's decision and its swap: the swap wins, the entry's
 * does not, and the turn is given back. */
static int cancel_cas(struct migr_etcd *e, const char *k, int64_t rev, const char *v, size_t l,
		      int64_t le, bool *won, struct migr_etcd_kv *cur)
{
	struct racing *r = R(e);

	if (!r->fired && !strcmp(k, MIGR_DRAIN_STATE_KEY)) {
		char msg[256];

		r->fired = true;
		r->other_rc = migr_drain_cancel(r->real, r->other, false, msg, sizeof(msg), NULL);
	}
	return migr_etcd_cas(r->real, k, rev, v, l, le, won, cur);
}
static const struct migr_etcd_ops cancel_ops = {
	.get = r_get, .list = r_list, .put = r_put, .del = r_del, .cas = cancel_cas,
};

static void test_cancel_race(void)
{
	struct migr_etcd_fake *f = NULL;
	struct racing r = { .e.ops = &cancel_ops, .other = "a" };
	char why[512], outs[256];

	CHECK_EQ(migr_etcd_fake_new(&f), 0);
	r.real = &f->e;
	put_host(r.real, "a", "r1", 64, 1, 4, MIGR_GUEST_PVH);
	put_host(r.real, "spare", "r9", 256, 0, 0, MIGR_GUEST_PVH);
	enqueue(r.real, "a", 0);
	CHECK_EQ(try_start(&r.e, "a", why, sizeof(why)), 0);
	CHECK(r.fired);
	CHECK_EQ(r.other_rc, 0);
	CHECK(strstr(why, "cancelled") != NULL);
	out_list(r.real, outs, sizeof(outs));
	CHECK_STR(outs, "");
	CHECK_EQ(entry_of(r.real, "a").status, 0);
	migr_etcd_close(r.real);
}

/* The entry's swap after a won turn gets no answer: the turn stands (the state is the
 * truth) and the agent's next look writes the entry. */
static int lost_cas(struct migr_etcd *e, const char *k, int64_t rev, const char *v, size_t l,
		    int64_t le, bool *won, struct migr_etcd_kv *cur)
{
	struct racing *r = R(e);

	if (!r->fired && !strncmp(k, MIGR_DRAIN_HOSTS_PREFIX, strlen(MIGR_DRAIN_HOSTS_PREFIX))) {
		r->fired = true;
		return -ETIMEDOUT;
	}
	return migr_etcd_cas(r->real, k, rev, v, l, le, won, cur);
}
static const struct migr_etcd_ops lost_ops = {
	.get = r_get, .list = r_list, .put = r_put, .del = r_del, .cas = lost_cas,
};

static void test_entry_unanswered(void)
{
	struct migr_etcd_fake *f = NULL;
	struct racing r = { .e.ops = &lost_ops };
	struct host_sim ha = { .guests = 1 };
	struct migr_drain_agent *a;
	char why[512], outs[256];

	CHECK_EQ(migr_etcd_fake_new(&f), 0);
	r.real = &f->e;
	put_host(r.real, "a", "r1", 64, 1, 4, MIGR_GUEST_PVH);
	put_host(r.real, "spare", "r9", 256, 0, 0, MIGR_GUEST_PVH);
	enqueue(r.real, "a", 0);
	CHECK_EQ(try_start(&r.e, "a", why, sizeof(why)), 1);
	CHECK(r.fired);
	out_list(r.real, outs, sizeof(outs));
	CHECK_STR(outs, "a:d");
	CHECK_EQ(entry_of(r.real, "a").status, MIGR_DRAIN_QUEUED);
	a = agent(r.real, "a", &ha);
	CHECK_EQ(migr_drain_agent_tick(a), 0);
	CHECK_EQ(entry_of(r.real, "a").status, MIGR_DRAIN_DRAINING);
	CHECK_EQ(ha.evacuations, 1);
	migr_drain_agent_free(a);
	migr_etcd_close(r.real);
}

int main(void)
{
	test_records();
	test_transitions();
	test_window_and_groups();
	test_rules_on_state();
	test_race();
	test_race_threads();
	test_hostile_etcd();
	test_agent();
	test_cancel_race();
	test_entry_unanswered();
	return unit_done("test_drain");
}

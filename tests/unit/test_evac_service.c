/*
 * test_evac_service.c: the evacuation service end to end without Xen: the in-memory
 * xenstore, a fake guest list, fake targets and a fake engine. A maintenance request
 * written to xenstore evacuates the host; guests see and ack their notice; the event log
 * gets one record per guest; every node migr wrote passes the schema.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "libmigr.h"
#include "unit.h"

static struct migr_xs *xs;
static struct migr_schema *schema;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned migrate_calls, migrate_ms = 20;
static char events[64 * 1024];

static int list_guests(void *arg, struct migr_plan_guest **g_r, unsigned *n_r)
{
	static const char *names[] = { "web1", "web2", "big" };
	struct migr_plan_guest *g = calloc(3, sizeof(*g));

	if (!g)
		return -ENOMEM;
	for (unsigned i = 0; i < 3; i++) {
		snprintf(g[i].name, sizeof(g[i].name), "%s", names[i]);
		g[i].domid = i + 1;
		g[i].mem_kib = i == 2 ? 64ull << 20 : 128 * 1024;
		g[i].vcpus = 1;
		g[i].migratable = true;
	}
	*g_r = g;
	*n_r = 3;
	return 0;
}

static int probe(void *arg, const char *host, struct migr_plan_target *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", host);
	t->reachable = !strcmp(host, "hostb");
	t->free_kib = 1024 * 1024;
	if (!t->reachable)
		snprintf(t->why_unreachable, sizeof(t->why_unreachable), "connection refused");
	return 0;
}

static int fake_migrate(void *arg, struct migr_evac_attempt *a, struct migr_evac_outcome *out)
{
	struct migr_evac_progress p = { .phase = MIGR_PHASE_PRECOPY, .round = 1,
					.sent_bytes = 1 << 20 };
	char path[64];

	pthread_mutex_lock(&mu);
	migrate_calls++;
	pthread_mutex_unlock(&mu);
	migr_evac_report_progress(a, &p);
	for (unsigned t = 0; t < migrate_ms && !*a->cancel; t += 5)
		usleep(5000);
	snprintf(out->migration_id, sizeof(out->migration_id), "%032x", a->guest->domid);
	out->rounds = 4;
	out->bytes = 150000000;
	out->blackout_us = 123456;
	out->suspend_us = 20000;
	out->restore_tail_us = 90500;
	out->devices_us = 40000;
	out->net_back_us = 1500000;
	out->net_back_known = true;
	out->first_frame_us = 1750000;
	out->total_us = 2000000;
	out->target_domid = 40 + a->guest->domid;
	/* The guest leaves this host: its tree goes with it. */
	snprintf(path, sizeof(path), "/local/domain/%u", a->guest->domid);
	xs->ops->rm(xs, path);
	return 0;
}

static void on_event(void *arg, const char *json)
{
	size_t n = strlen(events);

	if (n + strlen(json) + 2 < sizeof(events)) {
		strcat(events, json);
		strcat(events, "\n");
	}
}

static char *rd(const char *path)
{
	static char buf[512];
	char *v = NULL;
	size_t n;

	buf[0] = 0;
	if (xs->ops->read(xs, path, &v, &n) == 0) {
		snprintf(buf, sizeof(buf), "%s", v);
		free(v);
	}
	return buf;
}

/* One pass of a guest-side watcher for each guest: ack a notice when it appears. */
static unsigned guests_ack(void)
{
	unsigned acked = 0;

	for (unsigned d = 1; d <= 3; d++) {
		char p[96], id[80];

		snprintf(p, sizeof(p), "/local/domain/%u/migr/maintenance-event", d);
		if (strcmp(rd(p), "MIGRATE_ON_HOST_MAINTENANCE"))
			continue;
		snprintf(p, sizeof(p), "/local/domain/%u/migr/event-id", d);
		snprintf(id, sizeof(id), "%s", rd(p));
		snprintf(p, sizeof(p), "/local/domain/%u/migr/ack", d);
		if (strcmp(rd(p), id) && migr_xs_mem_write_as(xs, d, p, id) == 0)
			acked++;
	}
	return acked;
}

static void pump(struct migr_evacd *d)
{
	char *path, *tok;

	while (xs->ops->read_watch(xs, &path, &tok) == 0) {
		migr_evacd_watch_event(d, path, tok);
		free(path);
		free(tok);
	}
}

struct walk_ctx {
	unsigned checked, bad;
};

static int check_node(const char *path, const char *v, size_t vlen, const char *perms, void *arg)
{
	struct walk_ctx *w = arg;
	char why[256];
	int r = migr_schema_check(schema, path, v, vlen, perms, why, sizeof(why), NULL);

	if (r == MIGR_SCHEMA_OUT_OF_SCOPE)
		return 0;
	w->checked++;
	if (r != MIGR_SCHEMA_OK) {
		w->bad++;
		fprintf(stderr, "schema: %s = '%s' (%s): %s: %s\n", path, v ? v : "", perms,
			migr_schema_result_name(r), why);
	}
	return 0;
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static int running_calls, running_now;

static void on_running(void *arg, bool running)
{
	running_calls++;
	running_now = running;
}

static struct migr_evacd *make(const char *log)
{
	struct migr_evacd_config c;
	struct migr_evacd *d = NULL;

	migr_evacd_config_init(&c);
	c.host = "hosta";
	c.event_log = log;
	c.daemon = true;
	c.notice_s = 30;
	c.parallel = 2;
	c.retry_delay_ms = 10;
	c.list_guests = list_guests;
	c.probe = probe;
	c.migrate = fake_migrate;
	c.event = on_event;
	c.running = on_running;
	CHECK_EQ(migr_evacd_new(xs, schema, &c, &d), 0);
	return d;
}

static void homes(void)
{
	for (unsigned d = 1; d <= 3; d++) {
		char p[64], perms[32];

		snprintf(p, sizeof(p), "/local/domain/%u", d);
		snprintf(perms, sizeof(perms), "n0,r%u", d);
		migr_xs_write_str(xs, p, "");
		xs->ops->set_perms(xs, p, perms);
	}
}

static void test_request_through_xenstore(void)
{
	char dir[] = "/tmp/test_evac_service.XXXXXX", log[64], path[128], cmd[400];
	struct migr_evac_report *rep = calloc(1, sizeof(*rep));
	struct migr_evacd *d;
	struct walk_ctx w = { 0 };
	unsigned acks = 0;
	time_t t0 = time(NULL);
	FILE *f;
	char line[4096];
	unsigned records = 0, moved_records = 0, evac_records = 0;

	CHECK(mkdtemp(dir) != NULL && rep != NULL);
	snprintf(log, sizeof(log), "%s/events.jsonl", dir);
	homes();
	d = make(log);
	if (!d)
		return;
	pump(d);
	CHECK_STR(rd("/local/domain/0/migr/daemon/state"), "ready");
	CHECK_STR(rd("/local/domain/0/migr/evacuation/state"), "idle");

	/* A monitor asks for maintenance. */
	CHECK_EQ(migr_xs_write_str(xs, "/local/domain/0/migr/request",
		 "{\"action\":\"evacuate\",\"id\":\"maint-1\",\"to\":[\"hostb\",\"hostc\"],"
		 "\"reason\":\"BIOS update\"}"), 0);
	pump(d);
	CHECK(migr_evacd_busy(d));
	/* The request node is a mailbox: consumed. */
	CHECK_STR(rd("/local/domain/0/migr/request"), "");
	/* Guests ack (the notice is 30 s: without the acks this would take that long). */
	while (migr_evacd_busy(d) && time(NULL) - t0 < 20) {
		acks += guests_ack();
		pump(d);
		usleep(10000);
	}
	CHECK_EQ(migr_evacd_wait(d, NULL), 0);
	CHECK(time(NULL) - t0 < 20);
	CHECK_EQ(acks, 2);
	CHECK_EQ(migrate_calls, 2);
	CHECK_STR(rd("/local/domain/0/migr/evacuation/state"), "incomplete");
	CHECK_STR(rd("/local/domain/0/migr/evacuation/id"), "maint-1");
	CHECK_STR(rd("/local/domain/0/migr/evacuation/moved"), "2");
	CHECK_STR(rd("/local/domain/0/migr/evacuation/unplaceable"), "1");
	CHECK_STR(rd("/local/domain/0/migr/evacuation/guest/3/state"), "unplaceable");
	CHECK(strstr(rd("/local/domain/0/migr/evacuation/guest/3/reason"), "MiB") != NULL);
	CHECK_STR(rd("/local/domain/0/migr/evacuation/guest/1/state"), "moved");
	CHECK_STR(rd("/local/domain/0/migr/evacuation/guest/1/target"), "hostb");
	CHECK_STR(rd("/local/domain/0/migr/evacuation/guest/1/blackout-ms"), "123");
	/* The guest that stayed has no pending notice. */
	CHECK_STR(rd("/local/domain/3/migr/maintenance-event"), "");
	CHECK_EQ(count(events, "\"event\":\"plan\""), 1);
	CHECK_EQ(count(events, "\"event\":\"end\""), 1);
	CHECK(strstr(events, "\"state\":\"incomplete\"") != NULL);
	CHECK(strstr(events, "\"host_empty\":false") != NULL);
	CHECK(strstr(events, "\"why_unreachable\":\"connection refused\"") != NULL);

	f = fopen(log, "r");
	CHECK(f != NULL);
	while (f && fgets(line, sizeof(line), f)) {
		CHECK_EQ(migr_json_check(line, strlen(line), 8), 0);
		if (strstr(line, "\"record\":\"evacuation\"")) {
			/* the evacuation's own line, last, naming its picture */
			evac_records++;
			CHECK(strstr(line, "\"id\":\"maint-1\"") != NULL);
			CHECK(strstr(line, "\"state\":\"incomplete\"") != NULL);
			CHECK(strstr(line, "/evacuation-maint-1.svg\"") != NULL);
			continue;
		}
		CHECK_EQ(evac_records, 0);
		records++;
		CHECK(strstr(line, "\"timeline_ms\":{\"start\":") != NULL);
		CHECK(strstr(line, "\"stream_ms\":") != NULL);
		CHECK(strstr(line, "\"stream_held_ms\":0,") != NULL);
		CHECK(strstr(line, "\"record\":\"migration\"") != NULL);
		CHECK(strstr(line, "\"evacuation\":\"maint-1\"") != NULL);
		if (strstr(line, "\"outcome\":\"moved\"")) {
			moved_records++;
			CHECK(strstr(line, "\"rounds\":4") != NULL);
			CHECK(strstr(line, "\"bytes\":150000000") != NULL);
			CHECK(strstr(line, "\"blackout_ms\":123.456") != NULL);
			CHECK(strstr(line, "\"blackout_phases_ms\":{\"suspend\":20.0,\"final_send\":0.0,"
				  "\"restore_tail\":90.5,\"devices\":40.0,\"handshake\":0.0,"
				  "\"unpause\":0.0}") != NULL);
			CHECK(strstr(line, "\"net_back_ms\":1500.0") != NULL);
			CHECK(strstr(line, "\"first_frame_ms\":1750.0") != NULL);
			CHECK(strstr(line, "\"acked\":true") != NULL);
			CHECK(strstr(line, "\"source\":\"hosta\"") != NULL);
			CHECK(strstr(line, "\"target\":\"hostb\"") != NULL);
		}
	}
	if (f)
		fclose(f);
	CHECK_EQ(records, 3);
	CHECK_EQ(moved_records, 2);
	CHECK_EQ(evac_records, 1);
	/* the pictures beside the log, and the running hook around the executor */
	CHECK(strstr(events, "\"report\":\"") != NULL);
	CHECK(strstr(events, "/index.html\"") != NULL);
	snprintf(path, sizeof(path), "%s/evacuation-maint-1.svg", dir);
	snprintf(cmd, sizeof(cmd), "xmllint --noout '%s' '%s/index.html'", path, dir);
	CHECK_EQ(system(cmd), 0);
	CHECK_EQ(running_calls, 2);
	CHECK_EQ(running_now, 0);
	/* and the evacuation read back from the log, as migr report --evacuation does */
	if (rep) {
		CHECK_EQ(migr_report_evac_from_log(log, "maint-1", rep), 0);
		CHECK_EQ(rep->n, 3);
		CHECK_STR(rep->state, "incomplete");
		for (unsigned i = 0; i < rep->n; i++)
			if (!strcmp(rep->lanes[i].state, "moved")) {
				CHECK(rep->lanes[i].timeline);
				CHECK_EQ(rep->lanes[i].blackout_us, 123456);
				CHECK(rep->lanes[i].end_us >= rep->lanes[i].attempt_us);
				CHECK(rep->lanes[i].notice_end_us >= rep->lanes[i].start_us);
			}
		free(rep);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);

	CHECK_EQ(migr_xs_walk(xs, "/", check_node, &w), 0);
	CHECK(w.checked > 20);
	CHECK_EQ(w.bad, 0);
	migr_evacd_free(d);
	CHECK_STR(rd("/local/domain/0/migr/daemon/state"), "");
}

static void test_dry_run_and_refusals(void)
{
	struct migr_evacd *d;
	struct migr_evac_request q;
	char why[256];
	unsigned before = migrate_calls;

	events[0] = 0;
	homes();
	d = make(NULL);
	if (!d)
		return;
	pump(d);
	memset(&q, 0, sizeof(q));
	q.action = MIGR_EVAC_ACTION_EVACUATE;
	q.notice_s = -1;
	CHECK_EQ(migr_evacd_start(d, &q, true, why, sizeof(why)), -EINVAL);   /* no target */
	CHECK(strstr(why, "target") != NULL);
	q.nto = 1;
	snprintf(q.to[0], sizeof(q.to[0]), "hostb");
	CHECK_EQ(migr_evacd_start(d, &q, true, why, sizeof(why)), 0);
	CHECK_EQ(migr_evacd_wait(d, NULL), 0);
	CHECK_EQ(migrate_calls, before);
	CHECK(strstr(events, "\"event\":\"plan\"") != NULL);
	CHECK(strstr(events, "\"state\":\"planned\"") != NULL);
	CHECK(strstr(events, "\"verdict\":\"unplaceable\"") != NULL);
	CHECK_STR(rd("/local/domain/1/migr/maintenance-event"), "");

	/* A malformed request is refused and said so. */
	CHECK_EQ(migr_xs_write_str(xs, "/local/domain/0/migr/request",
				   "{\"action\":\"evacuate\",\"to\":\"hostb\"}"), 0);
	pump(d);
	CHECK_STR(rd("/local/domain/0/migr/evacuation/state"), "failed");
	CHECK(strstr(rd("/local/domain/0/migr/evacuation/reason"), "wrong type") != NULL);
	CHECK_EQ(migr_xs_write_str(xs, "/local/domain/0/migr/request", "{\"action\":"), 0);
	pump(d);
	CHECK_STR(rd("/local/domain/0/migr/evacuation/state"), "failed");
	CHECK_EQ(migrate_calls, before);
	migr_evacd_free(d);
}

/* A request that names no target gets the fleet's (migrd with etcd): the hook's list;
 * when the hook has none, the configured targets; with neither, a refusal saying why. */
static const char *fleet_list;

static int fleet(void *arg, char *list, size_t len, char *why, size_t wl)
{
	(void)arg;
	if (!fleet_list) {
		snprintf(why, wl, "no other host in service is recorded there");
		return -ENOENT;
	}
	snprintf(list, len, "%s", fleet_list);
	return 0;
}

static void test_fleet_targets(void)
{
	struct migr_evacd_config c;
	struct migr_evacd *d = NULL;
	struct migr_evac_request q;
	char why[256];

	for (int round = 0; round < 3; round++) {
		migr_evacd_config_init(&c);
		c.host = "hosta";
		c.list_guests = list_guests;
		c.probe = probe;
		c.migrate = fake_migrate;
		c.event = on_event;
		c.fleet_targets = fleet;
		c.default_targets = round == 2 ? "hostb" : NULL;
		fleet_list = round == 1 ? "hostc,hostb" : NULL;
		CHECK_EQ(migr_evacd_new(xs, schema, &c, &d), 0);
		if (!d)
			return;
		memset(&q, 0, sizeof(q));
		q.action = MIGR_EVAC_ACTION_EVACUATE;
		q.notice_s = -1;
		events[0] = 0;
		why[0] = 0;
		if (round == 0) {
			CHECK_EQ(migr_evacd_start(d, &q, true, why, sizeof(why)), -ENOENT);
			CHECK(strstr(why, "fleet's etcd") != NULL);
			CHECK(strstr(why, "no other host in service") != NULL);
		} else {
			CHECK_EQ(migr_evacd_start(d, &q, true, why, sizeof(why)), 0);
			CHECK_EQ(migr_evacd_wait(d, NULL), 0);
			/* the plan probed the fleet's hosts (hostb answers, hostc does not) */
			CHECK(strstr(events, "hostb") != NULL);
			CHECK((strstr(events, "hostc") != NULL) == (round == 1));
		}
		migr_evacd_free(d);
		d = NULL;
	}
}

static void test_cancel_through_xenstore(void)
{
	struct migr_evacd *d;
	struct migr_evac_summary s;
	time_t t0 = time(NULL);

	events[0] = 0;
	homes();
	d = make(NULL);
	if (!d)
		return;
	pump(d);
	/* Nobody acks: the 30 s notice runs; cancel meanwhile. */
	CHECK_EQ(migr_xs_write_str(xs, "/local/domain/0/migr/request",
		 "{\"action\":\"evacuate\",\"to\":[\"hostb\"]}"), 0);
	pump(d);
	for (unsigned i = 0; i < 200 && strcmp(rd("/local/domain/1/migr/maintenance-event"),
						"MIGRATE_ON_HOST_MAINTENANCE"); i++)
		usleep(10000);
	CHECK_STR(rd("/local/domain/1/migr/maintenance-event"), "MIGRATE_ON_HOST_MAINTENANCE");
	CHECK_EQ(migr_xs_write_str(xs, "/local/domain/0/migr/request", "{\"action\":\"cancel\"}"), 0);
	pump(d);
	CHECK_EQ(migr_evacd_wait(d, &s), 0);
	CHECK(time(NULL) - t0 < 10);
	CHECK_EQ(s.cancelled, 2);
	CHECK_EQ(s.moved, 0);
	CHECK_STR(rd("/local/domain/0/migr/evacuation/state"), "cancelled");
	/* The notice is withdrawn. */
	CHECK_STR(rd("/local/domain/1/migr/maintenance-event"), "NONE");
	CHECK_STR(rd("/local/domain/2/migr/maintenance-event"), "NONE");
	migr_evacd_free(d);
}

/*
 * A guest flooding its ack node: its events past a few a second wake nobody, nodes it
 * creates under ack are removed, paths of other domains are ignored; its real ack (and the
 * other guest's) still end the notice at once.
 */
static void test_ack_flood(void)
{
	struct migr_evacd *d;
	struct migr_evac_summary s;
	unsigned woke = 0, ignored = 0, acks = 0;
	time_t t0 = time(NULL);
	char *v = NULL;
	size_t n;

	events[0] = 0;
	homes();
	d = make(NULL);
	if (!d)
		return;
	pump(d);
	CHECK_EQ(migr_xs_write_str(xs, "/local/domain/0/migr/request",
		 "{\"action\":\"evacuate\",\"to\":[\"hostb\"]}"), 0);
	pump(d);
	for (unsigned i = 0; i < 200 && strcmp(rd("/local/domain/1/migr/maintenance-event"),
						"MIGRATE_ON_HOST_MAINTENANCE"); i++)
		usleep(10000);
	CHECK_STR(rd("/local/domain/1/migr/maintenance-event"), "MIGRATE_ON_HOST_MAINTENANCE");
	for (unsigned i = 0; i < 1000; i++) {
		CHECK_EQ(migr_xs_mem_write_as(xs, 1, "/local/domain/1/migr/ack", "not-the-id"), 0);
		if (migr_evacd_watch_event(d, "/local/domain/1/migr/ack", "migr-ack") == 1)
			woke++;
		else
			ignored++;
	}
	fprintf(stderr, "ack flood: 1000 writes, %u woke the waiters, %u ignored\n", woke, ignored);
	CHECK(woke >= 1 && woke <= 12);
	CHECK(ignored >= 988);
	/* A node under ack: ignored and removed. */
	if (migr_xs_mem_write_as(xs, 1, "/local/domain/1/migr/ack/x", "y") == 0) {
		CHECK_EQ(migr_evacd_watch_event(d, "/local/domain/1/migr/ack/x", "migr-ack"), 2);
		CHECK_EQ(xs->ops->read(xs, "/local/domain/1/migr/ack/x", &v, &n), -ENOENT);
		free(v);
		v = NULL;
	}
	/* Not a guest with a notice, or not its ack. */
	CHECK_EQ(migr_evacd_watch_event(d, "/local/domain/7/migr/ack", "migr-ack"), 2);
	CHECK_EQ(migr_evacd_watch_event(d, "/local/domain/1/migr/ackx", "migr-ack"), 2);
	CHECK_EQ(migr_evacd_watch_event(d, "/local/domain/1/migr/defer", "migr-ack"), 2);
	/* The real acks still end the notice (within a second of polling, not 30 s). */
	while (migr_evacd_busy(d) && time(NULL) - t0 < 20) {
		acks += guests_ack();
		pump(d);
		usleep(10000);
	}
	CHECK_EQ(migr_evacd_wait(d, &s), 0);
	CHECK(time(NULL) - t0 < 10);
	CHECK_EQ(acks, 2);
	CHECK_EQ(s.moved, 2);
	CHECK(strstr(events, "writes its ack node") == NULL);   /* logged, not an event */
	migr_evacd_free(d);
}

int main(void)
{
	CHECK_EQ(migr_xs_mem_new(&xs), 0);
	CHECK_EQ(migr_schema_load_builtin(&schema), 0);
	if (!xs || !schema)
		return unit_done("test_evac_service");
	test_request_through_xenstore();
	test_dry_run_and_refusals();
	test_fleet_targets();
	test_cancel_through_xenstore();
	test_ack_flood();
	migr_schema_free(schema);
	migr_xs_close(xs);
	return unit_done("test_evac_service");
}

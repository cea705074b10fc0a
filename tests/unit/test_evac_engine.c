/*
 * test_evac_engine.c: the evacuation's production glue with the real engine: the service
 * lists guests from a (fake) hypervisor and an in-memory xenstore, probes a real migr
 * receiver on loopback (migr_receive() on a second fake hypervisor) for its free memory,
 * plans, and moves the guests that fit with migr_migrate() over TCP; the one that does not
 * fit stays. Only the hypervisors are fakes (libmigr/hv_fake.c): transport, protocol,
 * drivers, planner, executor and service are the production code.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libmigr.h"
#include "unit.h"

static char record_dir[] = "/tmp/test_evac_engine.XXXXXX";
static char src_dir[64];
static struct migr_hv_fake *src, *dst;
static struct migr_listener *lis;
static volatile int stop;
static unsigned served;
static struct migr_etcd *volatile recv_etcd;   /* set: the receiver fences through it */
static const struct migr_fault_set *volatile recv_faults;
static char events[1 << 16];

static void *receiver(void *arg)
{
	struct migr_recv_params p;

	memset(&p, 0, sizeof(p));
	p.record_dir = record_dir;
	while (!stop) {
		struct migr_conn *c = NULL;
		struct migr_recv_result res;
		char peer[128], err[MIGR_ERR_MAX];

		if (migr_accept(lis, &c, peer, err, sizeof(err)))
			continue;
		p.etcd = recv_etcd;
		p.fence_self = "dst";
		p.faults = recv_faults;
		migr_receive(&dst->hv, c, &p, &res);
		migr_conn_close(c);
		served++;
	}
	return NULL;
}

/* The engine closes the hypervisor after each migration: hand it one whose close does
 * nothing, so the test keeps the fake. */
static struct migr_hv_ops src_ops;
static void no_close(struct migr_hv *hv)
{
}

static int open_src(void *arg, struct migr_hv **hv_r)
{
	*hv_r = &src->hv;
	return 0;
}

static void on_event(void *arg, const char *json)
{
	if (strlen(events) + strlen(json) + 2 < sizeof(events)) {
		strcat(events, json);
		strcat(events, "\n");
	}
}

static char rep_dir[128], pic_dir[128];

/* A round log the real driver's progress filled: rounds, then the blackout after them. */
static int check_roundlog(const struct migr_roundlog *l, void *arg)
{
	(*(unsigned int *)arg)++;
	CHECK_EQ(l->outcome, MIGR_REPORT_DONE);
	CHECK(l->n_rounds >= 1);
	CHECK(l->blackout_us > 0);
	CHECK(l->total_us >= l->blackout_us);
	CHECK(l->precopy_start_us > 0);
	CHECK(l->suspend_at_us >= l->precopy_start_us);
	CHECK(l->n_rounds && l->rounds[0].pages > 0);
	CHECK(!strcmp(l->name, "g1") || !strcmp(l->name, "g2"));
	return 0;
}

int main(void)
{
	struct migr_transport_opts topts;
	struct migr_xs *xs = NULL;
	struct migr_schema *schema = NULL;
	struct migr_evac_prod prod;
	struct migr_evacd_config cfg;
	struct migr_evacd *d = NULL;
	struct migr_evac_request q;
	struct migr_evac_summary s;
	const struct migr_hv_ops *real_ops;
	char err[MIGR_ERR_MAX], why[256], target[64];
	uint32_t g1, g2, big, id;
	pthread_t th;

	if (!mkdtemp(record_dir))
		return 1;
	snprintf(src_dir, sizeof(src_dir), "%s/sent", record_dir);
	migr_transport_opts_init(&topts);
	topts.insecure = true;
	topts.timeout_ms = 5000;
	CHECK_EQ(migr_hv_fake_new(64 * 1024, &src), 0);      /* the source's own free memory */
	CHECK_EQ(migr_hv_fake_new(40 * 1024, &dst), 0);      /* the target: 40 MiB free */
	if (!src || !dst)
		return unit_done("test_evac_engine");
	g1 = migr_hv_fake_add(src, "g1", MIGR_GUEST_PVH, 2048, 64);    /* 8 MiB */
	g2 = migr_hv_fake_add(src, "g2", MIGR_GUEST_PVH, 2048, 0);     /* 8 MiB */
	big = migr_hv_fake_add(src, "big", MIGR_GUEST_PVH, 16384, 0);  /* 64 MiB: fits nowhere */
	real_ops = src->hv.ops;
	src_ops = *real_ops;
	src_ops.close = no_close;
	src->hv.ops = &src_ops;

	CHECK_EQ(migr_listen("127.0.0.1:0", &topts, &lis, err, sizeof(err)), 0);
	if (!lis)
		return unit_done("test_evac_engine");
	snprintf(target, sizeof(target), "127.0.0.1:%d", migr_listener_port(lis));
	CHECK_EQ(pthread_create(&th, NULL, receiver, NULL), 0);

	/* The source's xenstore: the guests' homes. */
	CHECK_EQ(migr_xs_mem_new(&xs), 0);
	CHECK_EQ(migr_schema_load_builtin(&schema), 0);
	{
		uint32_t ids[3] = { g1, g2, big };

		for (unsigned i = 0; i < 3; i++) {
			char p[64];

			snprintf(p, sizeof(p), "/local/domain/%u", ids[i]);
			migr_xs_write_str(xs, p, "");
		}
	}
	memset(&prod, 0, sizeof(prod));
	prod.hv = &src->hv;
	prod.xs = xs;
	prod.schema = schema;
	prod.engine.topts = &topts;
	prod.engine.hv_open = open_src;
	prod.engine.record_dir = src_dir;
	snprintf(rep_dir, sizeof(rep_dir), "%s/reports", record_dir);
	snprintf(pic_dir, sizeof(pic_dir), "%s/pictures", record_dir);
	CHECK_EQ(mkdir(pic_dir, 0755), 0);
	prod.engine.report_dir = rep_dir;
	migr_evacd_config_init(&cfg);
	migr_evac_prod_hooks(&prod, &cfg);
	cfg.roundlog_dir = rep_dir;
	cfg.report_dir = pic_dir;
	cfg.host = "source";
	cfg.parallel = 1;
	cfg.retry_delay_ms = 10;
	cfg.event = on_event;
	CHECK_EQ(migr_evacd_new(xs, schema, &cfg, &d), 0);
	if (!d)
		return unit_done("test_evac_engine");

	memset(&q, 0, sizeof(q));
	q.action = MIGR_EVAC_ACTION_EVACUATE;
	q.notice_s = 0;
	q.nto = 1;
	snprintf(q.to[0], sizeof(q.to[0]), "%s", target);
	snprintf(q.id, sizeof(q.id), "engine-1");
	CHECK_EQ(migr_evacd_start(d, &q, false, why, sizeof(why)), 0);
	CHECK_EQ(migr_evacd_wait(d, &s), 0);

	CHECK_EQ(s.total, 3);
	CHECK_EQ(s.moved, 2);
	CHECK_EQ(s.unplaceable, 1);
	/* The probe saw the target's free memory: 40 MiB. */
	CHECK(strstr(events, "\"free_mib\":40") != NULL);
	CHECK(strstr(events, "\"reachable\":true") != NULL);
	/* g1 and g2 run on the target, big stays on the source. */
	CHECK_EQ(dst->hv.ops->domain_find(&dst->hv, "g1", &id), 0);
	CHECK_EQ(dst->hv.ops->domain_find(&dst->hv, "g2", &id), 0);
	CHECK(dst->hv.ops->domain_find(&dst->hv, "big", &id) != 0);
	CHECK(migr_hv_fake_dom(src, big) != NULL);
	CHECK(migr_hv_fake_dom(src, g1) == NULL);
	CHECK(strstr(events, "\"guest\":\"big\"") != NULL &&
	      strstr(events, "\"outcome\":\"unplaceable\"") != NULL);
	/* Records of the moves carry the engine's figures. */
	{
		const char *p = strstr(events, "\"guest\":\"g1\",\"source_domid\"");
		const char *rec = p;

		while (rec && rec > events && rec[-1] != '\n')
			rec--;
		CHECK(p != NULL);
		if (rec) {
			char line[2048];
			const char *e = strchr(rec, '\n');

			snprintf(line, sizeof(line), "%.*s", (int)(e ? e - rec : 0), rec);
			CHECK(strstr(line, "\"outcome\":\"moved\"") != NULL);
			CHECK(strstr(line, "\"rounds\":0") == NULL);
			CHECK(strstr(line, "\"bytes\":0,") == NULL);
			CHECK(strstr(line, "\"migration_id\":\"\"") == NULL);
			CHECK_EQ(migr_json_check(line, strlen(line), 8), 0);
		}
	}
	/* Each move kept its round log, drawn beside the evacuation's picture. */
	{
		unsigned int n = 0;
		char cmd[1024];

		CHECK_EQ(migr_roundlog_list(rep_dir, check_roundlog, &n), 0);
		CHECK_EQ(n, 2);
		CHECK(strstr(events, "/pictures/evacuation-engine-1.svg\"") != NULL);
		snprintf(cmd, sizeof(cmd), "xmllint --noout %s/evacuation-engine-1.svg "
			 "%s/migration-*.svg %s/index.html && test $(ls %s/migration-*.svg | wc -l) = 2",
			 pic_dir, pic_dir, pic_dir, pic_dir);
		CHECK_EQ(system(cmd), 0);
	}
	/* The unreachable case: nobody listens there. */
	{
		struct migr_plan_target t;

		CHECK_EQ(migr_evac_probe_target("127.0.0.1:1", &topts, "4.17", NULL, &t), 0);
		CHECK(!t.reachable);
		CHECK(t.why_unreachable[0] != 0);
	}
	/* A target that fences the commit through etcd: a probe from a host that does not is
	 * refused (no migration from it could be), one that names its fence is answered with
	 * the target's figures, as its migrations will be. */
	{
		struct migr_etcd_fake *ef = NULL;
		struct migr_plan_target t;

		CHECK_EQ(migr_etcd_fake_new(&ef), 0);
		recv_etcd = &ef->e;
		CHECK_EQ(migr_evac_probe_target(target, &topts, "4.17", NULL, &t), 0);
		CHECK(!t.reachable);
		CHECK(strstr(t.why_unreachable, "fences the commit through etcd") != NULL);
		CHECK_EQ(migr_evac_probe_target(target, &topts, "4.17", "src", &t), 0);
		CHECK(t.reachable);
		CHECK(t.free_kib > 0);
		recv_etcd = NULL;
		/* the other way round: a fencing source, a target without etcd */
		CHECK_EQ(migr_evac_probe_target(target, &topts, "4.17", "src", &t), 0);
		CHECK(!t.reachable);
		CHECK(strstr(t.why_unreachable, "the source fences the commit") != NULL);
		CHECK_EQ(migr_evac_probe_target(target, &topts, "4.17", NULL, &t), 0);
		CHECK(t.reachable);
		migr_etcd_close(&ef->e);
	}
	/* A target slower than the source's blackout deadline after GO (it hangs 9 s before
	 * DONE, the deadline is 8 s): the migration ends undecided, and the engine asks the
	 * target at once, as `migr migrate` does: the guest runs there, so the suspended copy
	 * here is destroyed and the guest counts as moved, nothing left for `migr resolve`. */
	{
		static struct migr_fault_set fs;   /* the receiver may still read it after the block */
		uint32_t g3, id3;

		memset(&fs, 0, sizeof(fs));
		CHECK_EQ(migr_fault_parse("done:hang=9000", &fs, err, sizeof(err)), 0);
		recv_faults = &fs;
		g3 = migr_hv_fake_add(src, "g3", MIGR_GUEST_PVH, 2048, 0);
		{
			char p[64];

			snprintf(p, sizeof(p), "/local/domain/%u", g3);
			migr_xs_write_str(xs, p, "");
		}
		snprintf(q.id, sizeof(q.id), "engine-undecided");
		CHECK_EQ(migr_evacd_start(d, &q, false, why, sizeof(why)), 0);
		CHECK_EQ(migr_evacd_wait(d, &s), 0);
		recv_faults = NULL;
		CHECK_EQ(s.moved, 1);
		CHECK_EQ(s.undecided, 0);
		CHECK_EQ(dst->hv.ops->domain_find(&dst->hv, "g3", &id3), 0);
		CHECK(migr_hv_fake_dom(src, g3) == NULL);
		CHECK(src->hv.ops->domain_find(&src->hv, "g3--migratedaway", &id3) != 0);
	}
	if (unit_failures)
		fprintf(stderr, "events:\n%s", events);

	migr_evacd_free(d);
	stop = 1;
	/* Wake the receiver's accept with one last connection. */
	{
		struct migr_conn *c = NULL;

		if (migr_connect(target, &topts, &c, err, sizeof(err)) == 0)
			migr_conn_close(c);
	}
	pthread_join(th, NULL);
	migr_listener_close(lis);
	src->hv.ops = real_ops;
	migr_hv_close(&src->hv);
	migr_hv_close(&dst->hv);
	migr_schema_free(schema);
	migr_xs_close(xs);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", record_dir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", record_dir);
	}
	return unit_done("test_evac_engine");
}

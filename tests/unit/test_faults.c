/*
 * test_faults.c: the fault matrix. Every named fault point of migr's own dialect, on the
 * side it belongs to, with every kind (error, crash, hang, cut), on two fake hypervisors
 * over a socketpair; then what a host does afterwards: the side that crashed is
 * restarted over the same record directory and hypervisor (a target's migrd recovers
 * from its records), and the source's undecided migrations are resolved as migrd does.
 * The invariant, after each case: the guest exists on exactly one host, runs, under its
 * own name; no NAME--incoming or NAME--migratedaway is left; no source record is left
 * and no target record is left undecided (restored-paused).
 *
 * Every point of migr's dialect runs a third time with the commit fenced through the
 * in-memory etcd, whose key must then name the host the guest runs on. Cases run side by
 * side (TEST_FAULTS_JOBS workers, default 4), each on hosts, records and a socketpair of
 * its own: they share the process, as migrations of one evacuation do.
 *
 * Prints `faults: points=P kinds=K cases=N survived=S lost=L twice=T` and fails unless
 * every case survived.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "libmigr.h"
#include "../fakes/fakes.h"
#include "unit.h"

static char base[64];

struct target {
	bool xl;
	struct migr_hv_fake *hv;
	struct migr_conn *c;
	struct migr_recv_params p;
	struct migr_recv_result res;
	int rc;
};

static void *target_main(void *arg)
{
	struct target *t = arg;

	t->rc = t->xl ? migr_receive_xl(&t->hv->hv, t->c, &t->p, &t->res)
		      : migr_receive(&t->hv->hv, t->c, &t->p, &t->res);
	migr_conn_close(t->c);
	t->c = NULL;
	return NULL;
}

struct world {
	struct migr_hv_fake *src, *dst;
	char src_dir[96], dst_dir[96];
	uint32_t domid;
	bool xl;                        /* stock xl's dialect: no RESOLVE to ask */
	struct target resolver;         /* the restarted target answering a resolve */
	pthread_t resolver_th;
	bool resolver_running;
	char recovery[256];             /* what recovery said last */
};

static void on_report(const struct migr_recover_report *r, void *arg)
{
	struct world *w = arg;

	snprintf(w->recovery, sizeof(w->recovery), "%s", r->text);
}

static int conn_pair(struct migr_conn **a, struct migr_conn **b, unsigned int timeout_ms)
{
	struct migr_transport_opts o;
	int sv[2];

	migr_transport_opts_init(&o);
	o.io_timeout_ms = timeout_ms;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -errno;
	if (migr_conn_from_fds(sv[0], sv[0], &o, a) || migr_conn_from_fds(sv[1], sv[1], &o, b))
		return -ENOMEM;
	return 0;
}

/* The recovery's connection to the target: a fresh receiver on the target's hypervisor
 * and records, with no faults (a restarted daemon). */
static struct migr_conn *resolver_connect(const struct migr_src_record *r, void *arg)
{
	struct world *w = arg;
	struct migr_conn *c = NULL;

	if (w->xl)
		return NULL;
	if (w->resolver_running) {
		pthread_join(w->resolver_th, NULL);
		w->resolver_running = false;
	}
	memset(&w->resolver, 0, sizeof(w->resolver));
	w->resolver.hv = w->dst;
	w->resolver.p.record_dir = w->dst_dir;
	w->resolver.p.peer = "pair";
	if (conn_pair(&c, &w->resolver.c, 2000))
		return NULL;
	if (pthread_create(&w->resolver_th, NULL, target_main, &w->resolver)) {
		migr_conn_close(c);
		migr_conn_close(w->resolver.c);
		return NULL;
	}
	w->resolver_running = true;
	return c;
}

/* Counts the guest's copies: where, and whether one runs under its own name. */
struct census {
	unsigned int copies, running, leftovers;
};

static void count(struct migr_hv_fake *f, struct census *c)
{
	uint32_t ids[16];
	unsigned int n = 0;

	f->hv.ops->domain_list(&f->hv, ids, 16, &n);
	for (unsigned int i = 0; i < n; i++) {
		struct migr_dom_info di;

		if (ids[i] == 0 || f->hv.ops->domain_info(&f->hv, ids[i], &di))
			continue;
		if (strncmp(di.name, "guest1", 6))
			continue;
		c->copies++;
		if (!strcmp(di.name, "guest1") && !di.paused && !di.shutdown)
			c->running++;
		else
			c->leftovers++;
	}
}

static int count_src_record(const struct migr_src_record *r, void *opaque)
{
	(*(unsigned int *)opaque)++;
	return 0;
}

static int count_undecided(const struct migr_record *r, void *opaque)
{
	if (r->outcome == MIGR_OUTCOME_RESTORED_PAUSED)
		(*(unsigned int *)opaque)++;
	return 0;
}

/* the tally, shared by the workers running cases side by side */
static pthread_mutex_t tally = PTHREAD_MUTEX_INITIALIZER;
static unsigned int n_points, n_cases, survived, lost, twice, waits;

/*
 * Stock xl's dialect has no RESOLVE, so after GO nothing the source can ask proves
 * where the guest runs: the source keeps its suspended copy (its record says go)
 * and says so, for the operator (docs/phases.md). That end is accepted for xl only, and
 * only with the guest's memory intact: at most one copy runs, the source holds it
 * suspended under NAME--migratedaway, and the source's record is there.
 */
static bool operator_waits(bool xl, const struct census *src, const struct census *dst,
			   unsigned int src_records)
{
	return xl && src->copies == 1 && src->running == 0 && src_records == 1 &&
	       src->running + dst->running <= 1;
}

/* The fenced commit's key for the case's guest: where it says the guest belongs ("" no
 * key), read after everything settled; the third party both hosts fence through. */
static unsigned int fenced_cases, key_stale;

static void key_host(struct migr_etcd_fake *f, const char *key, char *host, size_t len)
{
	struct migr_etcd_location l = { 0 };
	char *v = migr_etcd_fake_value(f, key);

	host[0] = '\0';
	if (v && !migr_etcd_location_parse(v, strlen(v), &l))
		snprintf(host, len, "%s", l.host);
	free(v);
}

static void one_case(enum migr_fault point, char side, enum migr_fault_kind kind, bool xl,
		     bool fenced)
{
	struct migr_etcd_fake *etcd = NULL;
	char key[MIGR_ETCD_KEY_MAX] = "", where[256] = "";
	static atomic_uint serial;
	unsigned int my_serial;
	struct migr_fault_set fs;
	struct migr_send_params sp;
	struct migr_result res;
	struct migr_resolve_params rsp;
	struct migr_conn *sc = NULL;
	struct target t;
	struct world w;
	struct census cs = { 0, 0, 0 }, cs_src = { 0, 0, 0 }, cs_dst = { 0, 0, 0 };
	unsigned int src_records = 0, undecided = 0;
	pthread_t th;
	int rc;

	struct timespec ts0, ts1;

	clock_gettime(CLOCK_MONOTONIC, &ts0);
	memset(&w, 0, sizeof(w));
	memset(&t, 0, sizeof(t));
	w.xl = t.xl = xl;
	memset(&fs, 0, sizeof(fs));
	my_serial = atomic_fetch_add(&serial, 1) + 1;
	snprintf(w.src_dir, sizeof(w.src_dir), "%s/%u/sent", base, my_serial);
	snprintf(w.dst_dir, sizeof(w.dst_dir), "%s/%u/migrations", base, my_serial);
	migr_fault_add(&fs, point, kind, 900);
	fs.crash_returns = true;
	if (migr_hv_fake_new(1 << 30, &w.src) || migr_hv_fake_new(1 << 30, &w.dst))
		return;
	w.domid = migr_hv_fake_add(w.src, "guest1", MIGR_GUEST_PVH, 2048, 64);
	migr_send_params_init(&sp);
	sp.peek_interval_ms = 1;
	sp.record_dir = w.src_dir;
	sp.target = "pair";
	sp.blackout_deadline_ms = 300;
	t.hv = w.dst;
	t.p.record_dir = w.dst_dir;
	t.p.peer = "pair";
	t.p.go_deadline_ms = 300;
	if (fenced) {
		struct migr_fake_dom *d = migr_hv_fake_dom(w.src, w.domid);

		if (migr_etcd_fake_new(&etcd) || !d ||
		    migr_etcd_location_key(d->info.uuid, key, sizeof(key))) {
			CHECK(!"etcd set-up");
			return;
		}
		sp.etcd = t.p.etcd = &etcd->e;
		sp.fence_self = "host-a";
		t.p.fence_self = "host-b";
	}
	if (side == 's')
		sp.faults = &fs;
	else
		t.p.faults = &fs;
	if (conn_pair(&sc, &t.c, 600) || pthread_create(&th, NULL, target_main, &t)) {
		CHECK(!"set-up");
		return;
	}
	rc = xl ? migr_migrate_xl(&w.src->hv, w.domid, sc, &sp, &res)
		: migr_migrate(&w.src->hv, w.domid, sc, &sp, &res);
	migr_conn_close(sc);
	pthread_join(th, NULL);

	/* afterwards: a crashed target's migrd starts again, then the source's migrd (or
	 * the crashed source's) resolves what its records hold */
	if (t.rc == -MIGR_E_CRASHED)
		migr_recover_target(&w.dst->hv, w.dst_dir, NULL, NULL, NULL);
	memset(&rsp, 0, sizeof(rsp));
	rsp.record_dir = w.src_dir;
	if (fenced) {
		rsp.etcd = &etcd->e;
		rsp.fence_self = "host-a";
	}
	migr_recover_source(&w.src->hv, &rsp, resolver_connect, &w, on_report);
	if (w.resolver_running)
		pthread_join(w.resolver_th, NULL);

	count(w.src, &cs_src);
	count(w.dst, &cs_dst);
	cs.copies = cs_src.copies + cs_dst.copies;
	cs.running = cs_src.running + cs_dst.running;
	cs.leftovers = cs_src.leftovers + cs_dst.leftovers;
	migr_src_record_list(w.src_dir, count_src_record, &src_records);
	migr_record_list(w.dst_dir, count_undecided, &undecided);
	pthread_mutex_lock(&tally);
	n_cases++;
	if (fenced) {
		/* where the key says the guest belongs, against where it runs */
		fenced_cases++;
		key_host(etcd, key, where, sizeof(where));
		if (cs.running == 1 && strcmp(where, cs_dst.running ? "host-b" : "host-a") &&
		    !(!cs_dst.running && !where[0])) {
			key_stale++;
			if (getenv("TEST_FAULTS_KEYS"))
				fprintf(stderr, "faults: etcd %c %s:%s: the guest runs on %s, its key "
					"says \"%s\"\n", side, migr_fault_point_name(point),
					migr_fault_kind_name(kind), cs_dst.running ? "b" : "a", where);
		}
		migr_etcd_close(&etcd->e);
	}
	if (cs.copies == 1 && cs.running == 1 && !cs.leftovers && !src_records && !undecided) {
		survived++;
	} else if (operator_waits(xl, &cs_src, &cs_dst, src_records) &&
		   strstr(w.recovery, "stays suspended")) {
		survived++;
		waits++;
	} else {
		if (cs.running == 0)
			lost++;
		if (cs.running > 1)
			twice++;
		fprintf(stderr, "faults: %s %c %s:%s: source rc %d (%s), target rc %d (%s): copies %u "
			"running %u leftovers %u source records %u undecided %u\n", xl ? "xl" : fenced ? "etcd" : "migr",
			side,
			migr_fault_point_name(point), migr_fault_kind_name(kind), rc,
			res.state_text, t.rc, t.res.state_text, cs.copies, cs.running,
			cs.leftovers, src_records, undecided);
	}
	pthread_mutex_unlock(&tally);
	migr_hv_close(&w.src->hv);
	migr_hv_close(&w.dst->hv);
	clock_gettime(CLOCK_MONOTONIC, &ts1);
	if (getenv("TEST_FAULTS_TIMES"))
		fprintf(stderr, "%s %c %s:%s %.2f s\n", xl ? "xl" : fenced ? "etcd" : "migr", side,
			migr_fault_point_name(point), migr_fault_kind_name(kind),
			(ts1.tv_sec - ts0.tv_sec) + (ts1.tv_nsec - ts0.tv_nsec) / 1e9);
}

/* Cases run side by side (TEST_FAULTS_JOBS workers, default 4): each has its own fake
 * hosts, records and socketpair, and mostly waits (hangs, deadlines). */
struct fcase {
	enum migr_fault point;
	char side;
	enum migr_fault_kind kind;
	bool xl, fenced;
};
static struct fcase cases[4 * MIGR_FI_COUNT * MIGR_FK_COUNT];
static unsigned int n_todo, next_case;

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		unsigned int i;

		pthread_mutex_lock(&tally);
		i = next_case < n_todo ? next_case++ : n_todo;
		pthread_mutex_unlock(&tally);
		if (i == n_todo)
			return NULL;
		one_case(cases[i].point, cases[i].side, cases[i].kind, cases[i].xl, cases[i].fenced);
	}
}

int main(void)
{
	const char *env = getenv("TEST_FAULTS_JOBS");
	unsigned int jobs = env ? (unsigned int)atoi(env) : 4;
	pthread_t th[16];
	char cmd[128];

	if (jobs < 1 || jobs > 16)
		jobs = 4;
	snprintf(base, sizeof(base), "/tmp/migr-test-faults.%d", (int)getpid());
	for (unsigned int p = 1; p < MIGR_FI_COUNT; p++) {
		char side;
		bool in_xl;

		if (!migr_fault_point_info((enum migr_fault)p, &side, &in_xl))
			continue;
		n_points++;
		for (unsigned int k = MIGR_FK_ERROR; k < MIGR_FK_COUNT; k++) {
			struct fcase c = { (enum migr_fault)p, side, (enum migr_fault_kind)k, false, false };

			cases[n_todo++] = c;
			if (in_xl) {
				c.xl = true;
				cases[n_todo++] = c;
				c.xl = false;
			}
			/* the commit fenced by etcd, with the fake etcd as the third party */
			c.fenced = true;
			cases[n_todo++] = c;
		}
	}
	for (unsigned int j = 0; j < jobs; j++)
		if (pthread_create(&th[j], NULL, worker, NULL))
			jobs = j;
	for (unsigned int j = 0; j < jobs; j++)
		pthread_join(th[j], NULL);
	CHECK(jobs >= 1);
	printf("faults: points=%u kinds=%u cases=%u survived=%u lost=%u twice=%u\n", n_points,
	       MIGR_FK_COUNT - 1, n_cases, survived, lost, twice);
	printf("faults: of them, %u stock-xl cases after GO end with the guest suspended on the "
	       "source for the operator (xl answers no RESOLVE)\n", waits);
	printf("faults: of them, %u fenced by etcd; in %u of those the guest's key in etcd does "
	       "not name the host it runs on\n", fenced_cases, key_stale);
	CHECK_EQ(survived, n_cases);
	CHECK_EQ(n_cases, n_todo);
	CHECK_EQ(key_stale, 0);
	CHECK(n_cases >= 4 * 30);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", base);
	return unit_done("test_faults");
}

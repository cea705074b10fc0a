/*
 * test_drain_etcd.c: drains across the fleet against a real etcd on loopback
 * (etcd_real.c): `migr fleet drain` queues six hosts of three failure domains with W = 2;
 * six agents (libmigr's, as migrd runs them, each on a thread of its own with its own
 * etcd client, evacuations simulated) take their turns at once while the test, as the
 * operator, checks after every look that the drain state never lists more than W hosts
 * draining nor two hosts of one domain out, and puts each drained host back in service;
 * then `migr fleet status` (text and JSON) and `migr fleet wait` (drained: 0; a failed
 * drain, a host not queued, a timeout: 1). Skips (77) when etcd is not installed.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libmigr.h"
#include "unit.h"
#include "etcd_real.h"

#define GIB (UINT64_C(1) << 20)
#define NHOSTS 7

static struct etcd_real etcd;
static char migr_bin[PATH_MAX];
static atomic_bool bad_targets;           /* an evacuation to none, or to itself */

static struct migr_etcd *client(void)
{
	struct migr_etcd_opts o = { .endpoints = etcd.endpoint, .timeout_ms = 5000 };
	struct migr_etcd *e = NULL;

	CHECK_EQ(migr_etcd_open(&o, &e), 0);
	return e;
}

static void put_host(struct migr_etcd *e, const char *name, const char *group,
		     uint64_t total_gib, unsigned int nguests)
{
	struct migr_etcd_guest g[4];
	struct migr_etcd_host h = { .xen = "4.17.7", .xen_major = 4, .xen_minor = 17,
		.total_kib = total_gib * GIB, .n_guests = nguests, .guests = g };
	char key[MIGR_ETCD_KEY_MAX], *json = NULL;
	size_t len = 0;

	memset(g, 0, sizeof(g));
	for (unsigned int i = 0; i < nguests; i++) {
		snprintf(g[i].name, sizeof(g[i].name), "%s-vm%u", name, i);
		g[i].type = MIGR_GUEST_PVH;
		g[i].mem_kib = g[i].max_mem_kib = 2 * GIB;
	}
	h.free_kib = h.total_kib - nguests * 2 * GIB - GIB;
	snprintf(h.name, sizeof(h.name), "%s", name);
	snprintf(h.group, sizeof(h.group), "%s", group);
	snprintf(h.address, sizeof(h.address), "%s:8002", name);
	CHECK_EQ(migr_etcd_host_key(name, key, sizeof(key)), 0);
	CHECK_EQ(migr_etcd_host_encode(&h, &json, &len), 0);
	CHECK_EQ(migr_etcd_put(e, key, json, len, 0), 0);
	free(json);
}

/* Runs the built migr with args; its standard output in out. The exit status, or -1. */
static int run_migr(char *out, size_t outlen, const char *const *args)
{
	const char *argv[16] = { migr_bin };
	int fd[2], status;
	size_t k = 0;
	ssize_t n;
	pid_t pid;

	for (int i = 0; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	if (pipe(fd))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execv(migr_bin, (char *const *)argv);
		_exit(127);
	}
	close(fd[1]);
	while (k + 1 < outlen && (n = read(fd[0], out + k, outlen - k - 1)) > 0)
		k += (size_t)n;
	out[k] = '\0';
	close(fd[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* ---- simulated hosts: the agent's evacuation hooks -------------------------------- */

struct sim {
	char name[16], group[16];
	struct migr_etcd *e;              /* the host's own client (its thread's) */
	unsigned int guests, total, looks_left;
	bool running, refuse;
	struct migr_drain_agent *agent;
	atomic_bool quit;
};

static int sim_evacuate(void *arg, const char *targets, char *why, size_t wl)
{
	struct sim *s = arg;

	if (s->refuse) {
		snprintf(why, wl, "no target will take its guests (simulated)");
		return -EINVAL;
	}
	/* checked by the main thread: CHECK counts are not thread-safe */
	if (!targets[0] || strstr(targets, s->name))
		atomic_store(&bad_targets, true);
	s->running = true;
	s->total = s->guests;
	s->looks_left = 2;
	return 0;
}

static int sim_poll(void *arg, bool *running_r, struct migr_drain_progress *p)
{
	struct sim *s = arg;

	if (s->running && --s->looks_left == 0) {
		s->running = false;
		s->guests = 0;
		put_host(s->e, s->name, s->group, 64, 0);   /* its record says empty */
	}
	*running_r = s->running;
	p->total = s->total;
	p->moved = s->total - s->guests;
	p->left = s->guests;
	if (s->running) {
		p->nflight = 1;
		snprintf(p->flight[0].guest, sizeof(p->flight[0].guest), "%s-vm0", s->name);
		snprintf(p->flight[0].to, sizeof(p->flight[0].to), "spare:8002");
	}
	return 0;
}

static int sim_left(void *arg, unsigned int *n_r)
{
	*n_r = ((struct sim *)arg)->guests;
	return 0;
}

static const struct migr_drain_agent_ops sim_ops = {
	.evacuate = sim_evacuate, .poll = sim_poll, .guests_left = sim_left,
};

static void *sim_main(void *arg)
{
	struct sim *s = arg;

	while (!atomic_load(&s->quit)) {
		migr_drain_agent_tick(s->agent);
		usleep(20000);
	}
	return NULL;
}

/* The invariant, read from the state key as one value: at most w draining, no two hosts
 * of one domain out. */
static void check_rules(struct migr_etcd *e, unsigned int w, unsigned int *max_draining)
{
	struct migr_drain_state st;
	unsigned int draining = 0;

	if (migr_drain_state_read(e, &st, NULL)) {
		CHECK(!"the drain state cannot be read");
		return;
	}
	for (unsigned int i = 0; i < st.nout; i++) {
		draining += !st.out[i].done;
		for (unsigned int j = i + 1; j < st.nout; j++)
			if (st.out[i].group[0] && !strcmp(st.out[i].group, st.out[j].group)) {
				CHECK(!"two hosts of one failure domain out");
				fprintf(stderr, "  %s and %s of %s\n", st.out[i].host, st.out[j].host,
					st.out[i].group);
			}
	}
	CHECK(draining <= w);
	if (draining > *max_draining)
		*max_draining = draining;
	migr_drain_state_clear(&st);
}

static void test_rolling_drain(void)
{
	static const char *const names[NHOSTS] = { "h1", "h2", "h3", "h4", "h5", "h6", "hf" };
	static const char *const groups[NHOSTS] = { "r1", "r1", "r2", "r2", "r3", "", "r3" };
	struct sim sims[NHOSTS];
	pthread_t th[NHOSTS];
	struct migr_etcd *op = client();
	char out[16384], msg[256];
	bool seen_done[NHOSTS] = { false };
	unsigned int ndone = 0, max_draining = 0, looks = 0;
	int rc;

	if (!op)
		return;
	for (int i = 0; i < NHOSTS; i++)
		put_host(op, names[i], groups[i], 64, 2);
	put_host(op, "spare", "r9", 256, 0);

	const char *drain[] = { "fleet", "drain", "h1", "h2", "h3", "h4", "h5", "h6", "hf",
				"--window", "2", "--etcd", etcd.endpoint, NULL };
	CHECK_EQ(run_migr(out, sizeof(out), drain), 0);
	CHECK(strstr(out, "window: at most 2 hosts drain at once") != NULL);
	CHECK(strstr(out, "h1 queued") != NULL && strstr(out, "hf queued") != NULL);
	CHECK_EQ(run_migr(out, sizeof(out), drain), 0);       /* again: already queued */
	CHECK(strstr(out, "h3 is queued already") != NULL);
	const char *status[] = { "fleet", "status", "--etcd", etcd.endpoint, NULL };
	CHECK_EQ(run_migr(out, sizeof(out), status), 0);
	CHECK(strstr(out, "window 2: 0 draining, 0 drained (in maintenance), 7 in the queue"));

	for (int i = 0; i < NHOSTS; i++) {
		struct migr_drain_agent_opts o = { .self = names[i], .ops = &sim_ops,
						   .arg = &sims[i] };

		memset(&sims[i], 0, sizeof(sims[i]));
		snprintf(sims[i].name, sizeof(sims[i].name), "%s", names[i]);
		snprintf(sims[i].group, sizeof(sims[i].group), "%s", groups[i]);
		sims[i].guests = 2;
		sims[i].refuse = !strcmp(names[i], "hf");
		sims[i].e = o.etcd = client();
		migr_fleet_params_init(&o.params);
		CHECK_EQ(migr_drain_agent_new(&o, &sims[i].agent), 0);
	}
	for (int i = 0; i < NHOSTS; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, sim_main, &sims[i]), 0);
	/* The operator: watch the rules hold, put each drained host back in service (h6 of
	 * no domain stays drained, for `wait`), until every host is done or failed. */
	for (looks = 0; ndone < NHOSTS && looks < 1500; looks++) {
		struct migr_drain_view v;

		check_rules(op, 2, &max_draining);
		if (migr_drain_read(op, &v, NULL)) {
			CHECK(!"the drains cannot be read");
			break;
		}
		for (int i = 0; i < NHOSTS; i++) {
			const struct migr_drain_view_host *h = migr_drain_view_find(&v, names[i]);
			bool end = h && ((h->out_done && h->entry.status == MIGR_DRAIN_DONE) ||
					 h->entry.status == MIGR_DRAIN_FAILED);

			if (seen_done[i] || !end)
				continue;
			seen_done[i] = true;
			ndone++;
			if (h->entry.status == MIGR_DRAIN_DONE && strcmp(names[i], "h6"))
				CHECK_EQ(migr_drain_cancel(op, names[i], false, msg, sizeof(msg), NULL), 0);
		}
		migr_drain_view_clear(&v);
		usleep(10000);
	}
	for (int i = 0; i < NHOSTS; i++) {
		atomic_store(&sims[i].quit, true);
		pthread_join(th[i], NULL);
	}
	CHECK_EQ(ndone, NHOSTS);
	CHECK(!atomic_load(&bad_targets));
	CHECK_EQ(max_draining, 2);    /* the window was used, and never passed */
	printf("test_drain_etcd: 7 hosts drained or failed in %u looks of the operator, at most "
	       "%u draining at once\n", looks, max_draining);

	CHECK_EQ(run_migr(out, sizeof(out), status), 0);
	CHECK(strstr(out, "h6") && strstr(out, "done"));
	CHECK(strstr(out, "the evacuation did not start: no target will take its guests"));
	const char *json[] = { "fleet", "status", "--json", "--etcd", etcd.endpoint, NULL };
	CHECK_EQ(run_migr(out, sizeof(out), json), 0);
	CHECK(strstr(out, "{\"window\":2,") == out);
	CHECK(strstr(out, "\"host\":\"h6\",\"position\":") != NULL);
	CHECK(strstr(out, "\"state\":\"failed\"") != NULL);

	const char *wait_ok[] = { "fleet", "wait", "h6", "--timeout", "5", "--etcd",
				  etcd.endpoint, NULL };
	CHECK_EQ(run_migr(out, sizeof(out), wait_ok), 0);
	CHECK(strstr(out, "h6 is drained: its maintenance may start") != NULL);
	const char *wait_failed[] = { "fleet", "wait", "hf", "--etcd", etcd.endpoint, NULL };
	CHECK_EQ(run_migr(out, sizeof(out), wait_failed), 1);
	const char *wait_none[] = { "fleet", "wait", "h1", "--etcd", etcd.endpoint, NULL };
	CHECK_EQ(run_migr(out, sizeof(out), wait_none), 1);    /* back in service: not queued */
	/* a host queued whose migrd never looks: the wait times out */
	const char *drain_h1[] = { "fleet", "drain", "h1", "--etcd", etcd.endpoint, NULL };
	CHECK_EQ(run_migr(out, sizeof(out), drain_h1), 0);
	const char *wait_to[] = { "fleet", "wait", "h1", "--timeout", "1", "--etcd",
				  etcd.endpoint, NULL };
	CHECK_EQ(run_migr(out, sizeof(out), wait_to), 1);
	const char *cancel[] = { "fleet", "cancel", "h1", "h6", "--etcd", etcd.endpoint, NULL };
	CHECK_EQ(run_migr(out, sizeof(out), cancel), 0);
	CHECK(strstr(out, "h1 is out of the drain queue") && strstr(out, "h6 is back in service"));
	rc = run_migr(out, sizeof(out), cancel);
	CHECK_EQ(rc, 1);

	for (int i = 0; i < NHOSTS; i++) {
		migr_drain_agent_free(sims[i].agent);
		migr_etcd_close(sims[i].e);
	}
	migr_etcd_close(op);
}

int main(void)
{
	ssize_t n;
	char *slash;

	if (!etcd_real_binary()) {
		printf("test_drain_etcd: no etcd installed (etcd-server): skipped\n");
		return 77;
	}
	/* BUILD/tests/unit/test_drain_etcd -> BUILD/bin/migr */
	n = readlink("/proc/self/exe", migr_bin, sizeof(migr_bin) - 16);
	if (n <= 0)
		return 77;
	migr_bin[n] = '\0';
	for (int up = 0; up < 3 && (slash = strrchr(migr_bin, '/')); up++)
		*slash = '\0';
	strcat(migr_bin, "/bin/migr");
	if (access(migr_bin, X_OK)) {
		printf("test_drain_etcd: %s is not built (make all): skipped\n", migr_bin);
		return 77;
	}
	if (etcd_real_start(&etcd, NULL, NULL, NULL)) {
		CHECK(!"etcd did not start");
		return unit_done("test_drain_etcd");
	}
	test_rolling_drain();
	etcd_real_stop(&etcd);
	return unit_done("test_drain_etcd");
}

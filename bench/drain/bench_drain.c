/*
 * bench_drain.c: what a look at the drain queue costs a migrd (libmigr/drain.c), against a
 * real etcd on loopback. For fleets of 50, 200 and 1000 hosts of 10 guests each (host
 * records as migrd writes them, 10 failure domains, every host queued, W = 4), the median
 * of 15 runs of:
 *   baseline  reading /migr/hosts/ alone: the least a look that decides must read
 *   look      migr_drain_try_start() of a host that waits (the queue's last: the window is
 *             full): the drain state, the host records and the queue read, parsed, decided
 *   turn      migr_drain_try_start() of the host whose turn comes (three drain already):
 *             the same and the two swaps (drain state, entry); given back between runs
 * and the ratios to the baseline. The look of a host not queued (what every migrd does
 * every 3 s) is two single-key reads and is not shown. Exits 77 without etcd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libmigr.h"
#include "etcd_real.h"

#define RUNS 15
#define GIB (UINT64_C(1) << 20)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v)
{
	qsort(v, RUNS, sizeof(*v), cmp);
	return v[RUNS / 2];
}

static int put_host(struct migr_etcd *e, unsigned int i)
{
	struct migr_etcd_guest g[10];
	struct migr_etcd_host h = { .xen = "4.17.7", .xen_major = 4, .xen_minor = 17,
		.cap_pv = true, .cap_hap = true, .total_kib = 256 * GIB, .n_guests = 10,
		.guests = g };
	char key[MIGR_ETCD_KEY_MAX], *json = NULL;
	size_t len;
	int rc;

	memset(g, 0, sizeof(g));
	for (unsigned int k = 0; k < 10; k++) {
		snprintf(g[k].name, sizeof(g[k].name), "vm%05u-%u", i, k);
		g[k].uuid[0] = (uint8_t)(i >> 8);
		g[k].uuid[1] = (uint8_t)i;
		g[k].uuid[2] = (uint8_t)(k + 1);
		g[k].type = MIGR_GUEST_PVH;
		g[k].mem_kib = g[k].max_mem_kib = 8 * GIB;
		g[k].vcpus = 2;
	}
	h.free_kib = h.total_kib - 10 * 8 * GIB - 8 * GIB;
	snprintf(h.name, sizeof(h.name), "host%05u", i);
	snprintf(h.group, sizeof(h.group), "rack%02u", i % 10);
	snprintf(h.address, sizeof(h.address), "host%05u:8002", i);
	if ((rc = migr_etcd_host_key(h.name, key, sizeof(key))) ||
	    (rc = migr_etcd_host_encode(&h, &json, &len)))
		return rc;
	rc = migr_etcd_put(e, key, json, len, 0);
	free(json);
	return rc;
}

/* The turn given back: the drain fails (its slot freed), and the host is queued again in
 * its old place. */
static int give_back(struct migr_etcd *e, const char *host)
{
	char msg[256];
	int rc;

	if ((rc = migr_drain_finish(e, host, false, "bench", 1, NULL)))
		return rc;
	return migr_drain_enqueue(e, host, "bench", 1, msg, sizeof(msg), NULL);
}

static int run(struct migr_etcd *e, unsigned int n, double *look_ratio, double *turn_ratio)
{
	struct migr_fleet_params p;
	double base[RUNS], look[RUNS], turn[RUNS];
	char targets[4096], why[512], msg[256], name[16], last[16];
	int rc;

	migr_fleet_params_init(&p);
	for (unsigned int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "host%05u", i);
		if ((rc = put_host(e, i)) ||
		    (rc = migr_drain_enqueue(e, name, "bench", 1, msg, sizeof(msg), NULL)))
			return rc;
	}
	if ((rc = migr_drain_set_window(e, 4, NULL)))
		return rc;
	/* Three turns taken in the decision's order, then the fourth host's is the one
	 * timed: taken and given back at every run. */
	char turn_host[16] = "";
	unsigned int started = 0;
	for (unsigned int i = 0; i < n && started < 4; i++) {
		snprintf(name, sizeof(name), "host%05u", i);
		rc = migr_drain_try_start(e, name, 1, &p, targets, sizeof(targets), why,
					  sizeof(why), NULL);
		if (rc < 0)
			return rc;
		if (rc == 1 && ++started == 4)
			snprintf(turn_host, sizeof(turn_host), "%s", name);
	}
	if (!turn_host[0] || (rc = give_back(e, turn_host))) {
		fprintf(stderr, "bench-drain: no fourth turn (%s)\n", turn_host);
		return rc ? rc : -EPROTO;
	}
	snprintf(last, sizeof(last), "host%05u", n - 1);
	for (int r = 0; r < RUNS; r++) {
		struct migr_etcd_kv *v = NULL;
		unsigned int nv = 0;
		double t0 = now_ms();

		if ((rc = migr_etcd_list(e, MIGR_ETCD_PREFIX "hosts/", MIGR_ETCD_LIST_MAX, &v, &nv)))
			return rc;
		base[r] = now_ms() - t0;
		migr_etcd_list_free(v, nv);

		t0 = now_ms();
		rc = migr_drain_try_start(e, turn_host, 1, &p, targets, sizeof(targets), why,
					  sizeof(why), NULL);
		turn[r] = now_ms() - t0;
		if (rc != 1) {
			fprintf(stderr, "bench-drain: %s did not start: %s\n", turn_host, why);
			return rc < 0 ? rc : -EPROTO;
		}
		t0 = now_ms();
		rc = migr_drain_try_start(e, last, 1, &p, targets, sizeof(targets), why,
					  sizeof(why), NULL);
		look[r] = now_ms() - t0;
		if (rc != 0) {
			fprintf(stderr, "bench-drain: %s did not wait\n", last);
			return rc < 0 ? rc : -EPROTO;
		}
		if ((rc = give_back(e, turn_host)))
			return rc;
	}
	double b = median(base), l = median(look), t = median(turn);
	*look_ratio = l / b;
	*turn_ratio = t / b;
	printf("bench-drain: hosts=%u guests=%u baseline_ms=%.2f look_ms=%.2f turn_ms=%.2f "
	       "look_ratio=%.2f turn_ratio=%.2f\n", n, n * 10, b, l, t, *look_ratio, *turn_ratio);
	/* clean for the next size */
	for (unsigned int i = 0; i < n; i++) {
		char key[MIGR_ETCD_KEY_MAX];

		snprintf(name, sizeof(name), "host%05u", i);
		migr_etcd_host_key(name, key, sizeof(key));
		migr_etcd_del(e, key);
		snprintf(key, sizeof(key), MIGR_DRAIN_HOSTS_PREFIX "%s", name);
		migr_etcd_del(e, key);
	}
	return migr_etcd_del(e, MIGR_DRAIN_STATE_KEY);
}

int main(void)
{
	static const unsigned int sizes[] = { 50, 200, 1000 };
	struct etcd_real etcd;
	struct migr_etcd *e = NULL;
	double lr = 0, tr = 0;
	unsigned int last = 0;
	int rc = 0;

	if (!etcd_real_binary()) {
		printf("bench-drain: no etcd installed (etcd-server): skipped\n");
		return 77;
	}
	if (etcd_real_start(&etcd, NULL, NULL, NULL)) {
		fprintf(stderr, "bench-drain: etcd did not start\n");
		return 1;
	}
	struct migr_etcd_opts o = { .endpoints = etcd.endpoint, .timeout_ms = 30000 };
	if ((rc = migr_etcd_open(&o, &e)))
		goto out;
	printf("bench-drain: etcd on loopback; 10 guests per host, 10 failure domains, W = 4, "
	       "median of %d runs\n", RUNS);
	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && !rc; i++)
		if (!(rc = run(e, sizes[i], &lr, &tr)))
			last = sizes[i];
	if (!rc)
		printf("bench-drain: hosts=%u look_ratio=%.2f turn_ratio=%.2f\n", last, lr, tr);
out:
	if (rc)
		fprintf(stderr, "bench-drain: %s\n", migr_strerror(rc));
	migr_etcd_close(e);
	etcd_real_stop(&etcd);
	return rc ? 1 : 0;
}

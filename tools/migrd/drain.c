/*
 * drain.c: migrd's part in drains across the fleet (docs/fleet.md, migr/drain.h): with
 * etcd configured and the evacuation service up, a thread runs libmigr's drain agent every
 * few seconds: when this host is queued it takes its turn (a compare-and-swap of the drain
 * state), evacuates itself through the evacuation service to the hosts the decision placed
 * its guests on, writes the progress as guests move, and marks the drain done or failed.
 * At start-up, a host the drain state lists as draining picks its drain up again.
 *
 *   migrd_drain_start()   after migrd_evac_init() and migrd_etcd_start()
 *   migrd_drain_stop()    before migrd_evac_fini(): the thread is gone first
 *
 * The evacuation service is started from migrd's main loop only (as the control socket
 * and the xenstore request node start it): the thread posts its request through an
 * eventfd and waits for the answer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "evacd.h"

#define TICK_S 3

static struct {
	xentoollog_logger *lg;
	struct migr_etcd *etcd;
	struct migr_hv *hv;              /* the thread's: guests still here */
	struct migr_drain_agent *agent;
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	/* a start request to the main loop */
	int efd;
	bool req_pending, req_done;
	struct migr_evac_request req;
	int req_rc;
	char req_why[256];
} dr = { .efd = -1, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* Main loop: a start request is pending. */
static int on_request(void *arg)
{
	struct migr_evac_request req;
	uint64_t v;
	char why[256] = "";
	int rc;

	(void)arg;
	if (read(dr.efd, &v, sizeof(v)) < 0)
		return 0;
	pthread_mutex_lock(&dr.mu);
	if (!dr.req_pending) {
		pthread_mutex_unlock(&dr.mu);
		return 0;
	}
	req = dr.req;
	pthread_mutex_unlock(&dr.mu);
	rc = migrd_evac.svc ? migr_evacd_start(migrd_evac.svc, &req, false, why, sizeof(why))
			    : -ENOTCONN;
	pthread_mutex_lock(&dr.mu);
	dr.req_rc = rc;
	snprintf(dr.req_why, sizeof(dr.req_why), "%s", why);
	dr.req_pending = false;
	dr.req_done = true;
	pthread_cond_broadcast(&dr.cv);
	pthread_mutex_unlock(&dr.mu);
	return 0;
}

static int op_evacuate(void *arg, const char *targets, char *why, size_t wl)
{
	struct migr_evac_request req;
	const char *p = targets;
	uint64_t one = 1;
	int rc;

	(void)arg;
	memset(&req, 0, sizeof(req));
	req.action = MIGR_EVAC_ACTION_EVACUATE;
	snprintf(req.id, sizeof(req.id), "drain-%lld", (long long)time(NULL));
	snprintf(req.reason, sizeof(req.reason), "drain across the fleet");
	req.notice_s = -1;
	while (*p && req.nto < MIGR_EVAC_MAX_TARGETS) {
		size_t n = strcspn(p, ",");

		if (n && n < sizeof(req.to[0]))
			snprintf(req.to[req.nto++], sizeof(req.to[0]), "%.*s", (int)n, p);
		p += n + (p[n] == ',');
	}
	pthread_mutex_lock(&dr.mu);
	dr.req = req;
	dr.req_pending = true;
	dr.req_done = false;
	if (write(dr.efd, &one, sizeof(one)) < 0) {
		dr.req_pending = false;
		pthread_mutex_unlock(&dr.mu);
		snprintf(why, wl, "cannot wake the main loop");
		return -EIO;
	}
	while (!dr.req_done && !dr.stop)
		pthread_cond_wait(&dr.cv, &dr.mu);
	if (!dr.req_done) {
		dr.req_pending = false;
		pthread_mutex_unlock(&dr.mu);
		snprintf(why, wl, "migrd is stopping");
		return -ECANCELED;
	}
	rc = dr.req_rc;
	snprintf(why, wl, "%s", dr.req_why);
	pthread_mutex_unlock(&dr.mu);
	return rc;
}

static void on_flight(void *arg, const char *guest, const char *target)
{
	struct migr_drain_progress *p = arg;

	if (p->nflight == MIGR_DRAIN_FLIGHT_MAX)
		return;
	snprintf(p->flight[p->nflight].guest, sizeof(p->flight[0].guest), "%s", guest);
	snprintf(p->flight[p->nflight].to, sizeof(p->flight[0].to), "%s", target);
	p->nflight++;
}

static int op_poll(void *arg, bool *running_r, struct migr_drain_progress *p)
{
	struct migr_evac_summary s;
	unsigned int gone;
	int rc;

	(void)arg;
	if (!migrd_evac.svc)
		return -ENOENT;
	rc = migr_evacd_progress(migrd_evac.svc, &s, on_flight, p);
	if (rc < 0)
		return rc;
	*running_r = rc == 0;
	p->total = s.total;
	p->moved = s.moved <= s.total ? s.moved : s.total;
	p->failed = s.failed + s.unplaceable + s.pinned + s.cancelled + s.undecided;
	gone = s.gone <= s.total - p->moved ? s.gone : s.total - p->moved;
	p->left = s.total - p->moved - gone;
	return 0;
}

static int op_guests_left(void *arg, unsigned int *n_r)
{
	struct migr_etcd_host h;
	unsigned int n = 0;
	int rc;

	(void)arg;
	memset(&h, 0, sizeof(h));
	if ((rc = migr_etcd_host_collect(dr.hv, &h)))
		return rc;
	for (unsigned int i = 0; i < h.n_guests; i++)
		n += !h.guests[i].moving;   /* a copy in flight leaves or comes back by itself */
	migr_etcd_host_clear(&h);
	*n_r = n;
	return 0;
}

static const struct migr_drain_agent_ops ops = {
	.evacuate = op_evacuate, .poll = op_poll, .guests_left = op_guests_left,
};

static void *drain_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&dr.mu);
	while (!dr.stop) {
		struct timespec until;

		pthread_mutex_unlock(&dr.mu);
		migr_drain_agent_tick(dr.agent);   /* errors are logged; the next look retries */
		pthread_mutex_lock(&dr.mu);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += TICK_S;
		while (!dr.stop && pthread_cond_timedwait(&dr.cv, &dr.mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&dr.mu);
	return NULL;
}

int migrd_drain_start(xentoollog_logger *lg, const struct migrd_conf *conf)
{
	struct migr_etcd_opts eo = { .endpoints = conf->etcd, .ca_file = conf->etcd_ca,
				     .cert_file = conf->etcd_cert, .key_file = conf->etcd_key,
				     .lg = lg };
	struct migr_drain_agent_opts ao = { .self = conf->host, .ops = &ops, .lg = lg };
	int rc;

	if (!conf->etcd || !conf->etcd[0])
		return 0;
	if (!migrd_evac.svc) {
		fprintf(stderr, "migrd: drain: the evacuation service is off: this host takes no "
			"part in drains across the fleet\n");
		return -ENOTCONN;
	}
	dr.lg = lg;
	migr_fleet_params_init(&ao.params);
	ao.params.plan.threshold_pct = (unsigned int)conf->threshold;
	ao.params.plan.reserve_kib = (uint64_t)conf->target_reserve_mib * 1024;
	if ((rc = migr_hv_xen_open(lg, &dr.hv)) || (rc = migr_etcd_open(&eo, &dr.etcd))) {
		fprintf(stderr, "migrd: drain: cannot start (%s): this host takes no part in drains "
			"across the fleet\n", migr_strerror(rc));
		goto out_fail;
	}
	ao.etcd = dr.etcd;
	if ((rc = migr_drain_agent_new(&ao, &dr.agent)))
		goto out_fail;
	dr.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dr.efd < 0 || migrd_add_source(dr.efd, on_request, NULL)) {
		rc = -EMFILE;
		goto out_fail;
	}
	if ((rc = -pthread_create(&dr.th, NULL, drain_main, NULL)))
		goto out_fail;
	dr.started = true;
	fprintf(stderr, "migrd: drain: looking at the fleet's drain queue every %d s as %s%s%s\n",
		TICK_S, conf->host, conf->failure_domain && conf->failure_domain[0] ?
		", failure domain " : "", conf->failure_domain ? conf->failure_domain : "");
	return 0;
out_fail:
	fprintf(stderr, "migrd: drain: %s\n", migr_strerror(rc));
	migr_drain_agent_free(dr.agent);
	dr.agent = NULL;
	migr_etcd_close(dr.etcd);
	dr.etcd = NULL;
	migr_hv_close(dr.hv);
	dr.hv = NULL;
	/* an eventfd already in the main loop's sources stays open until exit */
	return rc;
}

void migrd_drain_stop(void)
{
	if (dr.started) {
		pthread_mutex_lock(&dr.mu);
		dr.stop = true;
		pthread_cond_broadcast(&dr.cv);
		pthread_mutex_unlock(&dr.mu);
		pthread_join(dr.th, NULL);
		dr.started = false;
	}
	migr_drain_agent_free(dr.agent);
	dr.agent = NULL;
	migr_etcd_close(dr.etcd);
	dr.etcd = NULL;
	migr_hv_close(dr.hv);
	dr.hv = NULL;
	if (dr.efd >= 0)
		close(dr.efd);
	dr.efd = -1;
}

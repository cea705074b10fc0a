/*
 * admit.c: admission of incoming connections (migr/admit.h): a queue of accepted,
 * unauthenticated connections, a pool of handshake threads, per-address limits and
 * rate-limited refusal reports.
 *
 * Entry points: migr_admit_start(), migr_admit_accept(), migr_admit_stop().
 *
 * One table of addresses serves both the per-address limit (connections held now) and the
 * report limit (when this address was last reported, how many refusals since); an address
 * holding nothing is forgotten least recently used first. The queue and the pool are
 * small, so the table never fills with addresses that hold something.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libmigr.h"
#include "transport_int.h"

#define ADDRS 256

struct job {
	struct migr_pending *p;
	uint64_t deadline_ns;
	char addr[64];
};

struct addr {
	char addr[64];             /* "" unused */
	unsigned int held;         /* queued or in a handshake */
	uint64_t used_ns;
	uint64_t reported_ns;      /* 0: never */
	unsigned int suppressed;
};

struct migr_admit {
	struct migr_listener *l;
	struct migr_admit_opts o;
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct job *queue;
	unsigned int qhead, qlen;
	pthread_t *th;
	unsigned int nth;
	bool stopping;
	struct addr addrs[ADDRS];
};

/* "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "[::1]". */
static void addr_of(const char *peer, char *addr, size_t len)
{
	const char *colon = strrchr(peer, ':');
	size_t n = colon ? (size_t)(colon - peer) : strlen(peer);

	snprintf(addr, len, "%.*s", (int)n, peer);
}

/* The table entry of addr, made if needed. Under the lock. */
static struct addr *addr_get(struct migr_admit *a, const char *addr, uint64_t now)
{
	struct addr *free_slot = NULL;

	for (unsigned int i = 0; i < ADDRS; i++) {
		struct addr *e = &a->addrs[i];

		if (!strcmp(e->addr, addr)) {
			e->used_ns = now;
			return e;
		}
		if (!e->held && (!free_slot || e->used_ns < free_slot->used_ns))
			free_slot = e;
	}
	if (!free_slot)
		return NULL;   /* cannot happen: fewer connections are held than entries */
	memset(free_slot, 0, sizeof(*free_slot));
	snprintf(free_slot->addr, sizeof(free_slot->addr), "%s", addr);
	free_slot->used_ns = now;
	return free_slot;
}

/* Reports a refusal, or counts it if this address was reported within the interval. */
static void refuse(struct migr_admit *a, const char *peer, int rc, const char *why)
{
	uint64_t now = migr__now_ns(), every = (uint64_t)a->o.log_interval_s * 1000000000ull;
	char addr[64];
	struct addr *e;
	unsigned int suppressed = 0;
	bool report = true;

	addr_of(peer, addr, sizeof(addr));
	pthread_mutex_lock(&a->lock);
	e = addr_get(a, addr, now);
	if (e) {
		if (e->reported_ns && now - e->reported_ns < every) {
			e->suppressed++;
			report = false;
		} else {
			suppressed = e->suppressed;
			e->suppressed = 0;
			e->reported_ns = now;
		}
	}
	pthread_mutex_unlock(&a->lock);
	if (report && a->o.refused)
		a->o.refused(peer, rc, why, suppressed, a->o.arg);
}

static void release(struct migr_admit *a, const char *addr)
{
	struct addr *e;

	pthread_mutex_lock(&a->lock);
	e = addr_get(a, addr, migr__now_ns());
	if (e && e->held)
		e->held--;
	pthread_mutex_unlock(&a->lock);
}

static void *worker_main(void *arg)
{
	struct migr_admit *a = arg;

	for (;;) {
		struct migr_conn *c = NULL;
		char err[MIGR_ERR_MAX] = "", peer[64];
		const char *why = err;
		struct job j;
		uint64_t now;
		int rc;

		pthread_mutex_lock(&a->lock);
		while (!a->qlen && !a->stopping)
			pthread_cond_wait(&a->work, &a->lock);
		if (a->stopping) {
			pthread_mutex_unlock(&a->lock);
			return NULL;
		}
		j = a->queue[a->qhead];
		a->qhead = (a->qhead + 1) % a->o.queue;
		a->qlen--;
		pthread_mutex_unlock(&a->lock);

		snprintf(peer, sizeof(peer), "%s", j.p->peer);
		now = migr__now_ns();
		if (now >= j.deadline_ns) {
			migr_pending_free(j.p);
			release(a, j.addr);
			refuse(a, peer, -ETIMEDOUT, "TLS handshake timed out (waited for a free "
			       "handshake thread)");
			continue;
		}
		j.p->opts.timeout_ms = (unsigned int)((j.deadline_ns - now) / 1000000) + 1;
		rc = migr_pending_handshake(j.p, &c, err, sizeof(err));
		release(a, j.addr);
		if (rc) {
			/* migr_pending_handshake() puts the address first; the report has it. */
			if (!strncmp(err, peer, strlen(peer)) && !strncmp(err + strlen(peer), ": ", 2))
				why = err + strlen(peer) + 2;
			refuse(a, peer, rc, why);
			continue;
		}
		a->o.admitted(c, peer, a->o.arg);
	}
}

int migr_admit_start(struct migr_listener *l, const struct migr_admit_opts *opts,
                     struct migr_admit **a_r)
{
	struct migr_admit *a;
	int rc;

	if (!opts->admitted)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->l = l;
	a->o = *opts;
	if (!a->o.threads)
		a->o.threads = 4;
	if (!a->o.per_addr)
		a->o.per_addr = 2;
	if (!a->o.queue)
		a->o.queue = 32;
	if (!a->o.handshake_ms)
		a->o.handshake_ms = 5000;
	if (!a->o.log_interval_s)
		a->o.log_interval_s = 60;
	if (a->o.threads > 64 || a->o.queue > 1024 ||
	    a->o.threads + a->o.queue >= ADDRS) {
		free(a);
		return -EINVAL;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->work, NULL);
	a->queue = calloc(a->o.queue, sizeof(*a->queue));
	a->th = calloc(a->o.threads, sizeof(*a->th));
	if (!a->queue || !a->th) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (a->nth = 0; a->nth < a->o.threads; a->nth++) {
		rc = -pthread_create(&a->th[a->nth], NULL, worker_main, a);
		if (rc)
			goto out_free;
	}
	*a_r = a;
	return 0;

out_free:
	migr_admit_stop(a);
	return rc;
}

int migr_admit_accept(struct migr_admit *a)
{
	struct migr_pending *p = NULL;
	char peer[64] = "", err[MIGR_ERR_MAX], why[128];
	struct addr *e;
	uint64_t now;
	int rc;

	rc = migr_accept_pending(a->l, &p, peer, err, sizeof(err));
	if (rc)
		return rc;
	now = migr__now_ns();
	pthread_mutex_lock(&a->lock);
	{
		struct job j = { .p = p, .deadline_ns = now + (uint64_t)a->o.handshake_ms * 1000000 };

		addr_of(peer, j.addr, sizeof(j.addr));
		e = addr_get(a, j.addr, now);
		if (!e || e->held >= a->o.per_addr) {
			snprintf(why, sizeof(why), "%u connections from this address are already "
			         "waiting for authentication", a->o.per_addr);
		} else if (a->qlen == a->o.queue) {
			snprintf(why, sizeof(why), "%u connections are already waiting for a "
			         "handshake thread", a->o.queue);
		} else {
			e->held++;
			a->queue[(a->qhead + a->qlen) % a->o.queue] = j;
			a->qlen++;
			pthread_cond_signal(&a->work);
			p = NULL;
		}
	}
	pthread_mutex_unlock(&a->lock);
	if (p) {
		migr_pending_free(p);
		refuse(a, peer, -EBUSY, why);
	}
	return 0;
}

void migr_admit_stop(struct migr_admit *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	while (a->qlen) {
		migr_pending_free(a->queue[a->qhead].p);
		a->qhead = (a->qhead + 1) % a->o.queue;
		a->qlen--;
	}
	pthread_cond_broadcast(&a->work);
	pthread_mutex_unlock(&a->lock);
	for (unsigned int i = 0; i < a->nth; i++)
		pthread_join(a->th[i], NULL);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->work);
	free(a->queue);
	free(a->th);
	free(a);
}

/*
 * migr/admit.h: admission of incoming connections that cannot be starved.
 *
 * A target accepts connections from anyone who can reach its port; only the TLS handshake
 * tells a peer from a stranger. So handshakes run in a small pool of threads of their own,
 * each bounded by a short deadline counted from the accept (a queued connection's wait
 * counts too), with a limit on connections held at once per address (queued or in a
 * handshake): idle or trickling connections from one address hold at most that many
 * handshake threads for at most the deadline, and never a reception slot, which the
 * caller takes in its admitted() callback, i.e. after authentication. A connection over a
 * limit is closed at once. Refusals (over a limit, handshake failed or timed out) are
 * reported through refused(), at most once per address and interval, with the count of
 * those not reported since: a flood does not flood the log.
 *
 * Entry points: migr_admit_start(), migr_admit_accept() (the listener is readable),
 * migr_admit_stop(). Library code: nothing is printed, the callbacks report.
 */
#ifndef MIGR_ADMIT_H
#define MIGR_ADMIT_H

struct migr_conn;
struct migr_listener;
struct migr_admit;

struct migr_admit_opts {
	unsigned int threads;        /* handshakes at once (0: 4) */
	unsigned int per_addr;       /* connections one address may hold, queued or in a
	                                handshake (0: 2) */
	unsigned int queue;          /* accepted connections waiting for a thread (0: 32) */
	unsigned int handshake_ms;   /* accept to authenticated (0: 5000) */
	unsigned int log_interval_s; /* refused() at most once per address per interval (0: 60) */
	/* A pool thread with an authenticated connection, which the callee now owns; peer is
	 * its address as text. */
	void (*admitted)(struct migr_conn *c, const char *peer, void *arg);
	/* A refused connection (any thread): rc and why say what happened; suppressed counts
	 * the refusals of this address not reported since its last report. May be NULL. */
	void (*refused)(const char *peer, int rc, const char *why, unsigned int suppressed,
	                void *arg);
	void *arg;
};

/* Starts the pool over listener l (which must outlive it). */
int migr_admit_start(struct migr_listener *l, const struct migr_admit_opts *opts,
                     struct migr_admit **a_r);
/* Accepts one pending connection and queues it for a handshake (or refuses it). For a
 * poll loop: call it when the listener's fd is readable. 0 or -errno of accept(). */
int migr_admit_accept(struct migr_admit *a);
/* Closes the queued connections, waits for the handshakes under way (each ends by its
 * deadline) and frees a; accepts NULL. */
void migr_admit_stop(struct migr_admit *a);

#endif /* MIGR_ADMIT_H */

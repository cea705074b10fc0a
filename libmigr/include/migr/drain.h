/*
 * migr/drain.h: drains across the fleet, kept in etcd under /migr/drain/ (docs/etcd.md,
 * docs/fleet.md): the queue of hosts to drain, the drain state that says which hosts are
 * out (the turns), each host's progress, and the agent a host's migrd runs to take its
 * turn, evacuate itself and say how it went.
 *
 * Keys (the grammar is in docs/etcd.md):
 *   /migr/drain/state            which hosts are out (draining, or drained and in
 *                                maintenance) and the window W; changed only by
 *                                compare-and-swap on its revision, so that every change
 *                                proves the window and failure-domain rules against the
 *                                value it replaces
 *   /migr/drain/hosts/NAME       a host's queue entry: queued, draining, done, failed
 *                                (with a reason); its place in the queue is the key's
 *                                create_revision
 *   /migr/drain/progress/NAME    the drain's progress, written by NAME's migrd
 *
 * Entry points:
 *   migr_drain_state_encode/parse(), migr_drain_entry_encode/parse(),
 *   migr_drain_progress_encode/parse()       the records (values from etcd are hostile)
 *   migr_drain_read()                        the whole picture (status, wait)
 *   migr_drain_enqueue(), migr_drain_set_window(), migr_drain_cancel()   the operator's
 *   migr_drain_fleet_read(), migr_drain_try_start()   a host's turn (the CAS)
 *   migr_drain_finish()                      a drain's end: done, or failed
 *   migr_drain_agent_new/tick/free()         what migrd runs every few seconds
 *
 * Errors as migr/etcd.h's; -EAGAIN: a compare-and-swap lost to another writer too many
 * times in a row (try again later).
 */
#ifndef MIGR_DRAIN_H
#define MIGR_DRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migr/etcd.h"
#include "migr/fleet.h"

#define MIGR_DRAIN_STATE_KEY      MIGR_ETCD_PREFIX "drain/state"
#define MIGR_DRAIN_HOSTS_PREFIX   MIGR_ETCD_PREFIX "drain/hosts/"
#define MIGR_DRAIN_PROGRESS_PREFIX MIGR_ETCD_PREFIX "drain/progress/"
#define MIGR_DRAIN_WINDOW_MAX     256    /* W at most */
#define MIGR_DRAIN_OUT_MAX        1024   /* hosts out at once (draining + maintenance) */
#define MIGR_DRAIN_QUEUE_MAX      MIGR_ETCD_LIST_MAX
#define MIGR_DRAIN_FLIGHT_MAX     64     /* guests in flight listed in a progress record */
#define MIGR_DRAIN_TEXT_MAX       256    /* reason, requester (with the NUL) */

enum migr_drain_status {
	MIGR_DRAIN_QUEUED = 1,            /* waits for its turn */
	MIGR_DRAIN_DRAINING,              /* its migrd evacuates it */
	MIGR_DRAIN_DONE,                  /* empty: the operator's maintenance may start */
	MIGR_DRAIN_FAILED,                /* stopped with guests left; reason says why */
};
const char *migr_drain_status_name(enum migr_drain_status s);

/* /migr/drain/hosts/NAME */
struct migr_drain_entry {
	char host[256];
	enum migr_drain_status status;
	char reason[MIGR_DRAIN_TEXT_MAX];     /* FAILED: why; else "" */
	char requester[MIGR_DRAIN_TEXT_MAX];  /* who queued it (user@host) */
	int64_t queued_unix, started_unix, ended_unix;   /* 0: not yet */
	/* From etcd, not from the value: */
	int64_t position;                     /* the key's create_revision: queue order */
	int64_t rev;                          /* the key's mod_revision */
};

/* One host out, in /migr/drain/state. */
struct migr_drain_out {
	char host[256];
	char group[MIGR_PLAN_NAME_MAX];       /* its failure domain when it went out; "" none */
	bool done;                            /* false: draining; true: drained, in maintenance */
	int64_t since_unix;
};

/* /migr/drain/state; a key that does not exist reads as window 1, nobody out, rev 0. */
struct migr_drain_state {
	unsigned int window;                  /* 1..MIGR_DRAIN_WINDOW_MAX */
	unsigned int nout;
	struct migr_drain_out *out;           /* malloc'd (migr_drain_state_clear()) */
	int64_t rev;                          /* the key's mod_revision; 0: absent */
};
void migr_drain_state_clear(struct migr_drain_state *s);
/* The host's place in s->out, or -1. */
int migr_drain_state_find(const struct migr_drain_state *s, const char *host);

struct migr_drain_flight {
	char guest[MIGR_PLAN_NAME_MAX];
	char to[MIGR_PLAN_HOST_MAX];
};

/* /migr/drain/progress/NAME */
struct migr_drain_progress {
	unsigned int total, moved, failed, left;  /* guests; moved + left <= total */
	unsigned int nflight;
	struct migr_drain_flight flight[MIGR_DRAIN_FLIGHT_MAX];
	int64_t updated_unix;
};

/* The records: encode gives malloc'd JSON; parse takes hostile text (-EPROTO when it is
 * not one, -ENOTSUP for another schema). The entry's host must be name (its key's). */
int migr_drain_state_encode(const struct migr_drain_state *s, char **json_r, size_t *len_r);
int migr_drain_state_parse(const char *json, size_t len, struct migr_drain_state *s_r);
int migr_drain_entry_encode(const struct migr_drain_entry *en, char **json_r, size_t *len_r);
int migr_drain_entry_parse(const char *json, size_t len, const char *name,
			   struct migr_drain_entry *en_r);
int migr_drain_progress_encode(const struct migr_drain_progress *p, char **json_r,
			       size_t *len_r);
int migr_drain_progress_parse(const char *json, size_t len, struct migr_drain_progress *p_r);

/* Reads the state key (absent: the defaults above). A value that does not parse is an
 * error (-EPROTO, logged): nobody may start a drain over a state nobody can read. */
int migr_drain_state_read(struct migr_etcd *e, struct migr_drain_state *s_r,
			  struct xentoollog_logger *lg);

/* ---- the whole picture: status and wait ------------------------------------------- */

struct migr_drain_view_host {
	struct migr_drain_entry entry;
	bool has_progress;
	struct migr_drain_progress progress;
	bool out, out_done;                   /* what the state key says of it */
};
struct migr_drain_view {
	struct migr_drain_state state;
	unsigned int nhosts;
	struct migr_drain_view_host *hosts;   /* in queue order (position) */
	unsigned int skipped;                 /* records that did not parse (logged) */
	int state_broken;                     /* the state key does not parse (-EPROTO,
	                                         -ENOTSUP): state reads as the defaults */
};
/* The state key, every entry and progress record; a state key that does not parse is
 * reported in state_broken (no drain starts until it is repaired), not an error. */
int migr_drain_read(struct migr_etcd *e, struct migr_drain_view *v_r,
		    struct xentoollog_logger *lg);
void migr_drain_view_clear(struct migr_drain_view *v);
/* The host's entry in v, or NULL. */
const struct migr_drain_view_host *migr_drain_view_find(const struct migr_drain_view *v,
							 const char *host);

/* ---- the operator's side ---------------------------------------------------------- */

/*
 * Queues host (requester: who asks; now: the time). 0: queued (a new entry, or a failed
 * one queued again, keeping its place); -EEXIST: it is already queued, draining or done
 * (nothing changed; msg says which).
 */
int migr_drain_enqueue(struct migr_etcd *e, const char *host, const char *requester,
		       int64_t now, char *msg, size_t msglen, struct xentoollog_logger *lg);
/* W for every drain from now on (by CAS on the state key). -EINVAL out of 1..256. */
int migr_drain_set_window(struct migr_etcd *e, unsigned int window,
			  struct xentoollog_logger *lg);
/*
 * Takes host out of the drains: a queued or failed entry is deleted; a done host is back
 * in service (its place in the state key freed, then its entry deleted). -EBUSY when it is
 * draining (its evacuation must end first: `migr cancel` on it), unless force (its migrd
 * is gone for good: its slot and failure domain are freed, its guests stay where they
 * are); -ENOENT when it has no entry. msg says what was done.
 */
int migr_drain_cancel(struct migr_etcd *e, const char *host, bool force, char *msg,
		      size_t msglen, struct xentoollog_logger *lg);

/* ---- a host's turn ---------------------------------------------------------------- */

/*
 * The fleet as migr_fleet_decide() takes it, read from etcd: every host record (alive
 * under its lease) and its guests, the state key's hosts out (a host out without a record
 * is kept, empty, so that its failure domain stays busy), the queued entries in queue
 * order. Hosts out are DRAINING or MAINTENANCE; a host evacuating outside the drains is
 * DRAINING too (it receives nothing). Records that do not parse are skipped and logged.
 */
struct migr_drain_fleet {
	struct migr_drain_state state;
	unsigned int nhosts, nguests, nqueue;
	struct migr_fleet_host *hosts;
	char (*address)[300];                 /* per host: where its migrd receives ("" none) */
	struct migr_fleet_guest *guests;
	const char **queue;                   /* host names (pointing into hosts) */
	unsigned int nentries;
	struct migr_drain_entry *entries;     /* every entry, in queue order */
};
int migr_drain_fleet_read(struct migr_etcd *e, struct migr_drain_fleet *f_r,
			  struct xentoollog_logger *lg);
void migr_drain_fleet_clear(struct migr_drain_fleet *f);

/*
 * Host self's turn. Reads the fleet, asks migr_fleet_decide() (params: its window is the
 * state key's), and when the decision starts self, swaps the state key on the revision
 * read, adding self as draining, after checking on that very value that fewer than W
 * hosts drain and that no host of self's group is out; then moves self's entry from
 * queued to draining (by CAS on the entry: an entry cancelled meanwhile gives the turn
 * back). A lost swap is decided again on what won, up to a few times.
 * Returns 1 when self now drains (targets: the addresses of the hosts its guests were
 * placed on, comma-separated, at most MIGR_EVAC_MAX_TARGETS), 0 when it must wait (why
 * says for what), -EAGAIN, etcd's errors.
 */
int migr_drain_try_start(struct migr_etcd *e, const char *self, int64_t now,
			 const struct migr_fleet_params *params, char *targets, size_t tlen,
			 char *why, size_t whylen, struct xentoollog_logger *lg);
/* The targets for self's guests when it drains already (a drain picked up again): the
 * same decision, self's unplaced guests placed. 0 with targets, -ENOENT none found. */
int migr_drain_targets(struct migr_etcd *e, const char *self,
		       const struct migr_fleet_params *params, char *targets, size_t tlen,
		       char *why, size_t whylen, struct xentoollog_logger *lg);

/*
 * The end of self's drain: ok: the state key marks it done (in maintenance: its failure
 * domain stays busy until `migr fleet cancel`), then the entry says done; else self leaves
 * the state key (its slot is free) and the entry says failed with reason.
 */
int migr_drain_finish(struct migr_etcd *e, const char *self, bool ok, const char *reason,
		      int64_t now, struct xentoollog_logger *lg);
int migr_drain_progress_put(struct migr_etcd *e, const char *self,
			    const struct migr_drain_progress *p);

/* ---- the agent: a host's migrd ---------------------------------------------------- */

struct migr_drain_agent_ops {
	/* Starts this host's evacuation to targets (addresses, comma-separated). 0, or
	 * -EBUSY when an evacuation runs already (the agent waits), or -errno with why. */
	int (*evacuate)(void *arg, const char *targets, char *why, size_t wl);
	/* The evacuation started by evacuate(): *running_r whether it still runs; p its
	 * figures (while running: so far; after: at its end). -ENOENT: none is known (a
	 * migrd that restarted). */
	int (*poll)(void *arg, bool *running_r, struct migr_drain_progress *p);
	/* Guests still on this host (a drain picked up: none left means done). */
	int (*guests_left)(void *arg, unsigned int *n_r);
};

struct migr_drain_agent_opts {
	struct migr_etcd *etcd;               /* the agent's own handle, until free */
	const char *self;                     /* this host's name in etcd */
	struct migr_fleet_params params;      /* placement (max_draining: the state key's) */
	const struct migr_drain_agent_ops *ops;
	void *arg;
	int64_t (*now)(void);                 /* NULL: time() */
	struct xentoollog_logger *lg;
};

struct migr_drain_agent;
int migr_drain_agent_new(const struct migr_drain_agent_opts *o, struct migr_drain_agent **a_r);
/*
 * One look at the queue; call every few seconds (and after an evacuation ends):
 *  - self's evacuation runs: its progress is written;
 *  - it ended: done when no guest is left, else failed with the count and the first
 *    reason known; the slot is freed either way;
 *  - the state key says self drains but no evacuation runs here (migrd restarted, or
 *    the turn was just won): the evacuation of the guests still here starts (none left:
 *    done);
 *  - self is queued: migr_drain_try_start().
 * Returns 0 or the error that stopped this look (logged); the next look tries again.
 */
int migr_drain_agent_tick(struct migr_drain_agent *a);
void migr_drain_agent_free(struct migr_drain_agent *a);

#endif /* MIGR_DRAIN_H */

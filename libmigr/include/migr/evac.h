/*
 * migr/evac.h: the evacuation executor and the maintenance request.
 *
 * The executor runs a plan (migr/plan.h): up to `parallel` migrations at once, at most
 * `group_cap` guests of one anti-affinity group at once, bounded retries with a reason per
 * guest, and a cancel that stops cleanly (nothing queued starts, a guest waiting out its
 * notice stays, running migrations finish or back out inside the engine). It never
 * touches Xen itself: the migration is a function pointer (the engine's migr_migrate()
 * over a connection in production, a fake in the unit tests), and so is the guest notice
 * (xenstore in migrd, see migr_evac_notice_* below).
 *
 * Entry points:
 *   migr_evac_params_init(), migr_evac_new(), migr_evac_run(), migr_evac_cancel(),
 *   migr_evac_guest_result(), migr_evac_summary(), migr_evac_free()
 *   migr_evac_request_parse()           the JSON maintenance request (xenstore-schema/)
 *   migr_evac_notice_*()                the guest notice over the xenstore seam
 *   migr_evac_state_name(), migr_evac_retryable()
 * Callbacks run on the executor's worker threads, one at a time (the executor serialises
 * them). The library never prints.
 */
#ifndef MIGR_EVAC_H
#define MIGR_EVAC_H

#include <stdbool.h>
#include <stdint.h>
#include "migr/plan.h"

struct migr_xs;
struct migr_schema;

enum migr_evac_state {
	MIGR_EVAC_QUEUED = 0,
	MIGR_EVAC_NOTICE,          /* waiting out the guest's notice period */
	MIGR_EVAC_MIGRATING,
	MIGR_EVAC_RETRYING,        /* an attempt failed cleanly; another comes */
	MIGR_EVAC_MOVED,           /* runs on the target */
	MIGR_EVAC_FAILED,          /* every attempt failed; runs on the source */
	MIGR_EVAC_UNPLACEABLE,     /* the planner found no target; runs on the source */
	MIGR_EVAC_PINNED,          /* not migratable; runs on the source */
	MIGR_EVAC_CANCELLED,       /* never started because of a cancel; runs on the source */
	MIGR_EVAC_UNDECIDED,       /* the engine could not tell where it runs: resolve */
	MIGR_EVAC_GONE,            /* the guest disappeared (shut down) before it moved */
	MIGR_EVAC_STATE_COUNT
};

const char *migr_evac_state_name(enum migr_evac_state s);
/* Is this a final state? */
bool migr_evac_state_final(enum migr_evac_state s);

/* What a running attempt reports (numbers, copied from the engine's progress). */
struct migr_evac_progress {
	int phase;                     /* the engine's enum migr_phase */
	unsigned int round;
	uint64_t elapsed_us;
	uint64_t sent_bytes;
	uint64_t wire_bytes;           /* what the link carried so far (0: not known) */
	uint64_t held_us;              /* time its stream waited for another guest's blackout
	                                  (the gate, migr/transport.h); left out of the link's
	                                  figures */
	uint64_t remaining_bytes;
	uint64_t dirty_rate_pps;
	uint64_t bandwidth_Bps;
	uint64_t predicted_blackout_us;
};

/* One attempt at moving one guest, as the migrate function sees it. */
struct migr_evac_attempt {
	const struct migr_plan_guest *guest;
	const struct migr_plan_target *target;
	unsigned int attempt;          /* 1, 2, ... */
	uint32_t downtime_ms;          /* operator's blackout budget; 0: engine default */
	const volatile int *cancel;    /* becomes non-zero on cancel; an engine that can
	                                  abort before its point of no return may */
	void *priv;                    /* the executor's */
};

/* What an attempt produced. */
struct migr_evac_outcome {
	char migration_id[64];
	uint32_t target_domid;
	unsigned int rounds;
	uint64_t bytes;
	uint64_t total_us;
	uint64_t blackout_us;
	/* what the policy predicted at its stop, and the fixed part it was given with where
	 * its restore part came from (enum migr_fixed_from; migr_result has the same) */
	uint64_t predicted_blackout_us, fixed_us;
	int fixed_restore_from;
	/* its parts as migr_result has them (0 when not measured), and network back */
	uint64_t suspend_us, final_send_us, restore_tail_us, devices_us, handshake_us, unpause_us;
	uint64_t net_back_us;
	bool net_back_known;           /* every vif of the guest connected again, reported */
	uint64_t first_frame_us;       /* then a frame from the guest on each; 0: not seen */
	uint64_t fwd_packets;          /* forwarded during post-migration brownout */
	bool fwd_known;                /* fwd_packets was reported by the engine */
	unsigned int throttle_max_pct; /* the most the guest was slowed (0: never) */
	unsigned int cpu_share_min_pct;  /* the CPU guard's lowest share (0: never paced) */
	unsigned int guest_cpu_before_pct, guest_cpu_precopy_pct;   /* the guard's readings */
	uint64_t preflight_us;         /* the attempt's start to pre-copy (0: unknown) */
	uint64_t precopy_us;           /* pre-copy to the suspend request (0: unknown) */
	uint32_t refused;              /* the target's refusal (MIGR_REFUSE_*, 0: none) */
	char source_host[MIGR_PLAN_HOST_MAX]; /* as the engine names this host ("" unknown) */
	char reason[MIGR_PLAN_REASON_MAX]; /* for a failure: where the guest is and why */
};

/*
 * The migration. Returns 0 when the guest runs on the target; -MIGR_E_ABORTED when it
 * backed out (guest on the source); -MIGR_E_UNDECIDED when the outcome is unknown; -ENOENT
 * when the guest no longer exists; any other -errno for a failure (the guest on the
 * source, as the engine guarantees before its point of no return). It may call
 * migr_evac_report_progress(a, ...) as often as it likes.
 */
typedef int migr_evac_migrate_fn(void *arg, struct migr_evac_attempt *a,
				 struct migr_evac_outcome *out);

void migr_evac_report_progress(struct migr_evac_attempt *a, const struct migr_evac_progress *p);

/*
 * The guest notice. begin() runs for every placed guest before the first migration
 * starts (non-blocking: it posts the notice with its deadline); wait() runs before each
 * guest's first attempt and returns when the guest may go (deadline reached or acked;
 * 0), or -ECANCELED as soon as *cancel becomes non-zero; end() runs once per begun guest
 * when it reached its final state (moved: the guest's tree on this host is gone with it;
 * otherwise the notice is withdrawn). Any of them may be NULL.
 */
struct migr_evac_notice_ops {
	int (*begin)(void *arg, const struct migr_plan_guest *g, unsigned int notice_s);
	int (*wait)(void *arg, const struct migr_plan_guest *g, const volatile int *cancel);
	void (*end)(void *arg, const struct migr_plan_guest *g, enum migr_evac_state final);
};

/* Per-guest result, readable while running (under the report callback) and after. */
struct migr_evac_guest_result {
	unsigned int guest;            /* index into the guests given */
	int target;                    /* index into the targets given; -1 none */
	enum migr_evac_state state;
	unsigned int attempts;
	int last_rc;
	struct migr_evac_progress progress;   /* last reported */
	struct migr_evac_outcome outcome;     /* of the last attempt */
	char reason[MIGR_PLAN_REASON_MAX];    /* why it is not moved (or last retry's cause) */
	uint64_t started_us, finished_us;     /* since the run began */
	uint64_t stream_us, stream_bytes;     /* its last stream: start to the end of the
	                                         final send, and the bytes the link carried
	                                         for it (stream bytes where not known) */
	uint64_t stream_held_us;              /* of stream_us, the time it held its sends for
	                                         another guest's blackout */
	unsigned int streams_beside_x100;     /* mean streams at once while it moved (the
	                                         held time left out), x 100 */
	uint64_t notice_end_us;               /* its notice period ended (0: none waited) */
	uint64_t attempt_started_us;          /* its last attempt started (0: none) */
};

struct migr_evac_summary {
	unsigned int total, moved, failed, unplaceable, pinned, cancelled, undecided, gone;
	unsigned int running, queued;
	bool cancel_requested;
	uint64_t elapsed_us;
	/* The stream window (migr_evac_params.window): streams at once now and at most,
	 * the link's rate for one stream as measured (0: not yet), and why the window is
	 * what it is. */
	unsigned int window, window_max;
	uint64_t stream_Bps;
	char window_why[MIGR_PLAN_REASON_MAX];
	/* The makespan (first start to last end) and its bound: the bytes the streams moved
	 * over the rate of one stream (0: nothing measured), that rate pooled over every
	 * stream that ran alone (bound_Bps, from bound_streams of them) */
	uint64_t makespan_us, bound_us, bytes;
	uint64_t bound_Bps;
	unsigned int bound_streams;
	/* The same bytes over the most the link was seen to carry: one stream's rate or,
	 * when streams added to it, what they moved together (pooled); at most bound_us */
	uint64_t link_Bps, bound_link_us;
};

struct migr_evac;

/*
 * Report: called at every state change and every progress report, with the guest's
 * index into the plan's entries (or -1 for an evacuation-wide event: start, end). The
 * executor's results may be read from inside it.
 */
typedef void migr_evac_report_fn(void *arg, struct migr_evac *ev, int entry);

/*
 * How many migrations run at once. A migration holds one of the window's slots from its
 * start to its end (its tail does not overlap the next stream: see libmigr/evac.c); its
 * stream, from the pre-copy's start to the end of its final send (its progress report
 * leaving FINAL_SEND), is what the link's rate is measured on, less the time it held its
 * sends for another guest's blackout (migr_evac_progress.held_us): then it was not moving.
 *   FIXED     `parallel` slots from the start.
 *   MEASURED  one slot first: the first stream, alone, measures the link for one stream.
 *             Then a second is let in; each stream that ran beside others tells whether
 *             they added to the link (its rate times the mean number of streams at once
 *             is at least 1.2 times one stream's rate): then the window grows by one, up
 *             to `parallel`, else it goes back down. `parallel` is the ceiling.
 */
enum migr_evac_window { MIGR_EVAC_WINDOW_FIXED = 0, MIGR_EVAC_WINDOW_MEASURED };

struct migr_evac_params {
	unsigned int parallel;         /* streams at once (the ceiling, MEASURED); 0: 1 */
	enum migr_evac_window window;  /* default FIXED */
	unsigned int group_cap;        /* guests of one group at once; 0: no cap */
	unsigned int max_attempts;     /* per guest; 0: 3 */
	unsigned int retry_delay_ms;   /* before a retry; doubled each time; default 2000 */
	unsigned int notice_s;         /* notice period handed to notice->begin() */
	uint32_t downtime_ms;
	migr_evac_migrate_fn *migrate;
	void *migrate_arg;
	const struct migr_evac_notice_ops *notice;
	void *notice_arg;
	migr_evac_report_fn *report;
	void *report_arg;
};

void migr_evac_params_init(struct migr_evac_params *p);

/*
 * migr_evac_new: an executor for plan over guests/targets (all three must outlive it).
 * -EINVAL without a migrate function.
 */
int migr_evac_new(const struct migr_plan *plan, const struct migr_plan_guest *guests,
		  const struct migr_plan_target *targets, const struct migr_evac_params *params,
		  struct migr_evac **ev_r);

/*
 * migr_evac_run: runs to the end (every guest in a final state) and returns 0, or
 * -ECANCELED if a cancel stopped it (then every guest is in a final state too), or
 * -errno if threads could not be started (nothing moved then).
 */
int migr_evac_run(struct migr_evac *ev);

/* migr_evac_cancel: thread-safe, async-signal-safe (sets a flag). */
void migr_evac_cancel(struct migr_evac *ev);

unsigned int migr_evac_count(const struct migr_evac *ev);
/* Result for the plan's entry i (execution order); NULL if out of range. */
const struct migr_evac_guest_result *migr_evac_guest_result(const struct migr_evac *ev,
							    unsigned int i);
void migr_evac_summary(const struct migr_evac *ev, struct migr_evac_summary *s);
void migr_evac_free(struct migr_evac *ev);

/* Is a failed attempt worth another try (clean back-outs and transient errors)? */
bool migr_evac_retryable(int rc);

/* ---- the maintenance request (xenstore-schema/README.md, node request) -------------- */

enum migr_evac_action { MIGR_EVAC_ACTION_EVACUATE = 1, MIGR_EVAC_ACTION_CANCEL = 2 };

#define MIGR_EVAC_MAX_TARGETS 32

struct migr_evac_request {
	enum migr_evac_action action;
	char id[65];                           /* "" when the request gave none */
	unsigned int nto;
	char to[MIGR_EVAC_MAX_TARGETS][MIGR_PLAN_HOST_MAX];
	int64_t deadline;                      /* 0: none */
	char reason[257];
	unsigned int parallel;                 /* 0: auto */
	int notice_s;                          /* -1: default */
	uint32_t downtime_ms;                  /* 0: default */
};

/*
 * migr_evac_request_parse: parses the JSON request (untrusted: length-capped, every
 * field type- and range-checked, unknown keys refused). -EINVAL with a one-line reason in
 * why on any error.
 */
int migr_evac_request_parse(const char *json, size_t len, struct migr_evac_request *req_r,
			    char *why, size_t whylen);

/* ---- the guest notice over xenstore (xenstore-schema/README.md, guest side) ---------- */

enum migr_notice_kind {
	MIGR_NOTICE_NONE = 0,
	MIGR_NOTICE_MIGRATE,       /* MIGRATE_ON_HOST_MAINTENANCE */
	MIGR_NOTICE_TERMINATE,     /* TERMINATE_ON_HOST_MAINTENANCE */
};

struct migr_notice {
	uint32_t domid;
	char event_id[64];
	int64_t deadline;          /* dom0 realtime seconds */
	unsigned int defer_max_s;
	bool deferred;             /* a deferral was granted already */
	bool acked;
};

/*
 * migr_evac_notice_post: creates the guest's migr/ directory with the schema's
 * permissions and posts a notice of kind with its deadline = now + notice_s (capped by
 * hard_deadline when non-zero). event_id names it.
 */
int migr_evac_notice_post(struct migr_xs *xs, uint32_t domid, enum migr_notice_kind kind,
			  const char *event_id, int64_t now, unsigned int notice_s,
			  unsigned int defer_max_s, int64_t hard_deadline, struct migr_notice *n_r);

/*
 * migr_evac_notice_poll: reads the guest's ack and defer (untrusted: checked against the
 * schema when one is given, else by the same grammar inline), grants one deferral up to
 * defer_max_s (never past hard_deadline when non-zero), updates the deadline node, and
 * says whether the guest may go now: returns 1 (go: acked or deadline reached), 0 (wait),
 * or -errno.
 */
int migr_evac_notice_poll(struct migr_xs *xs, const struct migr_schema *schema,
			  struct migr_notice *n, int64_t now, int64_t hard_deadline);

/* migr_evac_notice_reset: maintenance-event = NONE, ack and defer emptied. */
int migr_evac_notice_reset(struct migr_xs *xs, uint32_t domid);

/* ---- production glue: the real hypervisor, xenstore and engine (evac_engine.c) ------- */

struct migr_hv;
struct migr_transport_opts;
struct xentoollog_logger;

/*
 * migr_evac_list_guests: every guest domain of this host (domid != 0) as planner input:
 * name, memory (maximum), vCPUs, group (policy/NAME/group) and whether it can move
 * (migr_hv_can_send(), policy/NAME/pin, a migration already in flight: names ending in
 * --incoming or --migratedaway are left out). Policy nodes are checked against the schema
 * when one is given. *guests_r is malloc'd.
 */
int migr_evac_list_guests(struct migr_hv *hv, struct migr_xs *xs,
			  const struct migr_schema *schema,
			  struct migr_plan_guest **guests_r, unsigned int *n_r);

/*
 * migr_evac_probe_target: asks the migr receiver at host (HOST[:PORT]) for its free memory
 * the protocol's HELLO and a PREFLIGHT for no memory (with this host's Xen version, e.g.
 * "4.17.7"), which the target answers with its figures and refuses, touching nothing.
 * fence_self: this host's name in etcd when its migrations are fenced there (the
 * PREFLIGHT's fence_source, as the migrations will send it: a target that fences refuses
 * a source that does not, and the other way round), NULL or "" when they are not.
 * Fills *t (name, reachable, free_kib, or why_unreachable). Returns 0 whether or not the
 * target answered.
 */
int migr_evac_probe_target(const char *host, const struct migr_transport_opts *topts,
			   const char *xen_version, const char *fence_self,
			   struct migr_plan_target *t);

/* What migr_evac_engine_migrate() needs; the caller owns everything in it. */
struct migr_evac_engine {
	const struct migr_transport_opts *topts;
	struct xentoollog_logger *lg;        /* may be NULL */
	unsigned int suspend_timeout_ms;     /* 0: engine default */
	/* Filled per attempt when set: a fresh hypervisor handle per migration (the engine
	 * runs one migration per handle); the default opens migr_hv_xen_open(). */
	int (*hv_open)(void *arg, struct migr_hv **hv_r);
	void *hv_open_arg;
	const char *record_dir;              /* the source's records; NULL: MIGR_SRC_STATE_DIR */
	unsigned int throttle_max_pct;       /* the policy may slow a guest that much (its CPU
	                                        cap; migr migrate --throttle); 0: never */
	const char *report_dir;              /* round logs kept here (migr/report.h); NULL:
	                                        none */
	bool no_forward;                     /* migr_send_params.no_forward for each */
	enum migr_compress compress;         /* migr_send_params.compress for each */
	bool no_cpu_guard;                   /* migr_send_params.no_cpu_guard for each */
	unsigned int forward_quiet_ms, forward_max_ms;
	struct migr_etcd *etcd;              /* migr_send_params.etcd, fence_self for each */
	const char *fence_self;
};

/* migr_evac_engine_migrate: a migr_evac_migrate_fn over migr_connect() + migr_migrate();
 * arg is a struct migr_evac_engine. */
int migr_evac_engine_migrate(void *arg, struct migr_evac_attempt *a,
			     struct migr_evac_outcome *out);

/*
 * migr_evac_prod: the production hooks of the evacuation service in one place. Fill hv
 * (for listing guests), xs, schema (may be NULL), engine (topts, lg), then
 * migr_evac_prod_hooks() points the config's list_guests/probe/migrate at them.
 */
struct migr_evacd_config;
struct migr_evac_prod {
	struct migr_hv *hv;
	struct migr_xs *xs;
	const struct migr_schema *schema;
	struct migr_evac_engine engine;
};
void migr_evac_prod_hooks(struct migr_evac_prod *p, struct migr_evacd_config *cfg);

/* Where migrd's control socket lives (root only); $MIGR_CONTROL_SOCKET overrides. */
#define MIGR_CONTROL_SOCKET "/run/migr/migrd.sock"
/* Where migrd appends its JSON-lines event log by default. */
#define MIGR_EVENT_LOG "/var/log/migr/events.jsonl"

/* ---- the evacuation service (evac_service.c): migrd's and `migr evacuate`'s core ----- */

/*
 * The service turns requests (from the xenstore request node, migrd's control socket or
 * the CLI) into evacuations: it lists the guests, probes the targets, plans, posts the
 * notices, runs the executor on its own thread, publishes state under
 * /local/domain/0/migr/evacuation (xenstore-schema/), appends one JSON record per guest
 * to the event log, and hands every event to the caller as one JSON object. The caller
 * owns the main loop: it passes xenstore watch events in (migr_evacd_watch_event()).
 */
struct migr_evacd_config {
	const char *host;                 /* this host's name in records */
	const char *event_log;            /* JSON-lines file to append to; NULL: none */
	const char *default_targets;      /* comma-separated, when a request names none */
	/* The fleet's targets when a request names none (migrd with etcd: every host in
	 * etcd but this one and those in maintenance, migr_etcd_fleet_targets()): 0 with
	 * list filled (comma-separated), else -errno with *why; then default_targets, if
	 * any, are used. NULL: none. */
	int (*fleet_targets)(void *arg, char *list, size_t len, char *why, size_t wl);
	void *fleet_arg;
	bool daemon;                      /* publish daemon/ and watch the request node */
	unsigned int notice_s;            /* default notice period */
	unsigned int defer_max_s;         /* most deferral granted per notice */
	unsigned int parallel;            /* 0: migr_plan_auto_parallel() */
	uint64_t link_bps;                /* for the automatic parallelism; 0 unknown */
	unsigned int dom0_cpus;
	unsigned int group_cap, max_attempts, retry_delay_ms;
	uint32_t downtime_ms;
	struct migr_plan_params plan;
	/* Where guests and target figures come from (production: migr_evac_list_guests()
	 * and migr_evac_probe_target(), see tools/migrd/evac.c). */
	int (*list_guests)(void *arg, struct migr_plan_guest **guests_r, unsigned int *n_r);
	int (*probe)(void *arg, const char *host, struct migr_plan_target *t);
	void *hook_arg;
	migr_evac_migrate_fn *migrate;
	void *migrate_arg;
	/* Every event, one JSON object without newline; called from any thread, one at a
	 * time. May be NULL. */
	void (*event)(void *arg, const char *json);
	void *event_arg;
	/* The pictures of an evacuation that ends (migr/report.h): evacuation-ID.svg, a
	 * migration-MID.svg per guest moved whose round log is in roundlog_dir, index.html.
	 * NULL: the event log's directory; "": none. */
	const char *report_dir;
	const char *roundlog_dir;         /* the engine's round logs; NULL: no migration SVG */
	/* An evacuation (not a dry run) starts moving guests (true) or has ended (false);
	 * from the service's thread. May be NULL. */
	void (*running)(void *arg, bool running);
	void *running_arg;
	struct xentoollog_logger *lg;
};

struct migr_evacd;

void migr_evacd_config_init(struct migr_evacd_config *c);
int migr_evacd_new(struct migr_xs *xs, const struct migr_schema *schema,
		   const struct migr_evacd_config *cfg, struct migr_evacd **d_r);
/* A xenstore watch event from the caller's loop: 1 if it was the service's, else 0. */
int migr_evacd_watch_event(struct migr_evacd *d, const char *path, const char *token);
/* Starts an evacuation (or only plans it: dry_run) on the service's thread. -EBUSY when
 * one runs; -EINVAL for a request it cannot serve (why says so). */
int migr_evacd_start(struct migr_evacd *d, const struct migr_evac_request *req, bool dry_run,
		     char *why, size_t whylen);
/* Cancels the running evacuation (if any). */
void migr_evacd_cancel(struct migr_evacd *d);
bool migr_evacd_busy(struct migr_evacd *d);
/* Waits for the running evacuation (if any) to end; *s_r (may be NULL) gets its summary.
 * Returns 0, or -ENOENT if there was none. */
int migr_evacd_wait(struct migr_evacd *d, struct migr_evac_summary *s_r);
/* 0: an evacuation runs (or plans): its figures so far (zero while it plans), and
 * flight() (may be NULL) called for each guest in its notice or migrating, with its
 * target, under the service's lock (flight must not call the service). 1: none runs;
 * s_r gets the last one's summary (zero when none ran). */
int migr_evacd_progress(struct migr_evacd *d, struct migr_evac_summary *s_r,
			void (*flight)(void *arg, const char *guest, const char *target),
			void *arg);
/* The last "end" or current state as one JSON object (malloc'd). */
int migr_evacd_status_json(struct migr_evacd *d, char **json_r);
/* Cancels, waits, withdraws the notices, marks the daemon stopped; accepts NULL. */
void migr_evacd_free(struct migr_evacd *d);

#endif /* MIGR_EVAC_H */

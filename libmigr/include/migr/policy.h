/*
 * migr/policy.h: the adaptive stop-and-copy policy.
 *
 * A pure, deterministic function of measured statistics that decides, at each of
 * libxenguest's two pre-copy decision points, whether to go on with another live round,
 * stop and copy, or abort (see docs/policy.md for the model and the evidence). The same
 * function runs in dom0 (from the engine's precopy_policy callback), in the unit tests and
 * in the trace-driven simulator (bench/sim/).
 *
 * Entry points:
 *   migr_policy_params_init()  operator parameters with their defaults
 *   migr_policy_init()         reset a caller-allocated state before a migration
 *   migr_policy_decide()       one decision; returns the action, fills a verdict
 *   migr_policy_reason_name(), migr_policy_action_name()  short names for logs
 *
 * The two decision points (tools/libs/guest/xg_sr_save.c, send_memory_live()):
 *   call A: iteration r, dirty_count N >= 0: the N pages dirty at the last CLEAN (every
 *           page at r = 0) are about to be sent live. Whatever the answer except ABORT,
 *           they are sent; STOP_AND_COPY then breaks after that send.
 *   call B: iteration r + 1, dirty_count -1: that send is over. STOP_AND_COPY breaks now;
 *           CONTINUE does a CLEAN whose count is the next call A's N.
 * After the break the guest is suspended and a final CLEAN collects what it dirtied since
 * the last CLEAN, i.e. during the last live send: that set goes during the blackout.
 *
 * No allocation, no I/O, no Xen headers, no clocks: every time is passed in.
 */
#ifndef MIGR_POLICY_H
#define MIGR_POLICY_H

#include <stdint.h>
#include <stddef.h>

/* Actions: the values of libxenguest's XGS_POLICY_*, so they can be returned as they are. */
#define MIGR_POLICY_ABORT     (-1)  /* XGS_POLICY_ABORT: guest keeps running on the source */
#define MIGR_POLICY_CONTINUE    0   /* XGS_POLICY_CONTINUE_PRECOPY */
#define MIGR_POLICY_STOP        1   /* XGS_POLICY_STOP_AND_COPY */

enum migr_policy_on_timeout {
	MIGR_POLICY_TIMEOUT_ABORT = 0,  /* max_total_ms reached: abort, the guest stays put */
	MIGR_POLICY_TIMEOUT_STOP  = 1,  /* max_total_ms reached: stop and copy whatever it costs */
};

/* Operator parameters. Start from migr_policy_params_init(). */
struct migr_policy_params {
	uint32_t downtime_ms;          /* blackout budget; default 300; 0 means the default */
	uint32_t max_total_ms;         /* whole migration (live + blackout); 0 = no limit */
	enum migr_policy_on_timeout on_timeout;  /* default MIGR_POLICY_TIMEOUT_ABORT */
	/* When rounds no longer pay and the blackout is over budget (the guest dirties
	 * about as fast as the link carries), or they converge too slowly far over budget:
	 * nonzero lets the policy ask for the guest to be slowed (verdict.throttle_pct);
	 * zero means it either stops at the best blackout it can reach or, when that is over
	 * the budget and abort_over_budget is set, aborts. Default 0. */
	int allow_throttle;
	int abort_over_budget;         /* default 0: stop at the best reachable blackout */
	uint32_t blackout_fixed_us;    /* suspend + context + resume, not pages; default 50000 */
	uint32_t max_throttle_pct;     /* upper bound for throttle_pct; default 99, max 99 */
	/* The part of blackout_fixed_us from the suspend request until the guest has stopped:
	 * the guest still runs then, unthrottled (the cap comes off at the request), and what
	 * it dirties goes in the final send. Default 0: not counted. */
	uint32_t suspend_us;
};

/*
 * A log-dirty PEEK sample (NULL bitmap): time_us on the clock of elapsed_us, and the
 * dirty_count the hypervisor returned, i.e. pages dirtied since the last CLEAN.
 */
struct migr_policy_sample {
	uint64_t time_us;
	uint64_t dirty_pages;
};

/*
 * Statistics for one call. The first three fields are libxenguest's struct
 * precopy_stats as received; the rest are migr's own measurements.
 *
 * elapsed_us: microseconds since log-dirty was enabled (the start of pre-copy), on a
 *   monotonic clock. Call A of round r >= 1 comes right after libxenguest's CLEAN, so
 *   its elapsed_us is taken as the time of that CLEAN.
 * round_*: at call B, the live send that just ended (pages and bytes written, wall-clock
 *   time from call A to call B); ignored at call A (pass 0).
 * samples: at call B, the PEEK samples taken during that send, oldest first; ideally
 *   the last one is taken when call B comes in (one PEEK with a NULL bitmap is cheap), as
 *   its count is then the blackout set if the policy stops now. At call A: ignored.
 *   Samples of round 0 carry any count left by an earlier log-dirty session (the count
 *   is reset only by CLEAN): the policy takes them as they are, which can only make it
 *   over-estimate and go on a round. A CLEAN with a NULL bitmap at round 0's call A
 *   (round 0 sends every page whatever the bitmap says) removes the stale count.
 * throttle_pct: the slow-down currently applied to the guest (0 = none), which may
 *   differ from what the policy asked for if the engine could not apply it.
 * Any field may be nonsense (zero bandwidth, clocks going backwards, counts above
 * guest_pages, dirty_count -1 where N was expected): the policy clamps and carries on.
 */
struct migr_policy_stats {
	unsigned int iteration;        /* precopy_stats.iteration */
	unsigned long total_written;   /* precopy_stats.total_written (pages) */
	long dirty_count;              /* precopy_stats.dirty_count: N at call A, -1 at call B */

	uint64_t elapsed_us;
	uint64_t round_bytes;
	uint64_t round_pages;
	uint64_t round_us;
	uint64_t round_paced_us;       /* of round_us, the time the sender waited to keep to its
	                                  CPU share: the link's rate is taken over the rest, for
	                                  the final send is never paced */
	uint32_t page_size;            /* 0 means 4096 */
	uint64_t guest_pages;          /* the guest's populated pages (its allocation; the first
	                                  call A's N, the p2m's size, is larger for PVH/HVM) */
	uint32_t throttle_pct;
	const struct migr_policy_sample *samples;
	size_t n_samples;
};

enum migr_policy_reason {
	MIGR_POLICY_R_NONE = 0,
	MIGR_POLICY_R_SEND,            /* call A: send this round, decide after it */
	MIGR_POLICY_R_CONVERGING,      /* another round shrinks the blackout enough to pay */
	MIGR_POLICY_R_BUDGET_MET,      /* stop: predicted blackout within budget and more
	                                  rounds would not shrink it enough */
	MIGR_POLICY_R_NO_GAIN,         /* stop: over budget but further rounds no longer pay */
	MIGR_POLICY_R_THROTTLE,        /* continue with the guest slowed down */
	MIGR_POLICY_R_OVER_BUDGET,     /* abort: best reachable blackout over budget */
	MIGR_POLICY_R_TIMEOUT_STOP,    /* stop: max_total_ms reached (on_timeout = stop) */
	MIGR_POLICY_R_TIMEOUT_ABORT,   /* abort: max_total_ms reached (on_timeout = abort) */
	MIGR_POLICY_R_NO_BANDWIDTH,    /* no usable bandwidth measured yet: keep going */
	MIGR_POLICY_R_NOTHING_DIRTY,   /* stop: nothing left to send */
	MIGR_POLICY_R_WAIT,            /* over budget in a burst well above the best blackout
	                                  seen: one more round, hoping for a calmer phase */
	MIGR_POLICY_R_MAX_ROUNDS,      /* stop (or abort, if over budget and so chosen):
	                                  round cap reached */
	MIGR_POLICY_R_LEARNING,        /* continue: no dirty count known yet */
	MIGR_POLICY_R_PROBE,           /* continue: a cheap round not predicted to pay, tried
	                                  because rounds often dirty less than predicted */
	MIGR_POLICY_R_HORIZON,         /* continue: no single round pays, but the rounds that
	                                  fit in a quarter more of the time spent are predicted
	                                  to cut the blackout by a fifth or more */
	MIGR_POLICY_R_COUNT
};

/* The decision with the estimates behind it, for the per-round log and progress. */
struct migr_policy_verdict {
	int action;                    /* MIGR_POLICY_{ABORT,CONTINUE,STOP} */
	enum migr_policy_reason reason;
	uint32_t throttle_pct;         /* slow-down requested from now on (0 = none) */
	uint64_t bandwidth_Bps;        /* estimated link throughput, bytes/s (0 = unknown) */
	uint64_t dirty_rate_pps;       /* estimated dirty rate, pages/s, current round */
	uint64_t wws_pages;            /* estimated writable working set, pages */
	uint64_t remaining_pages;      /* pages the blackout would carry if stopped now */
	uint64_t predicted_blackout_us;      /* if stopped now (incl. blackout_fixed_us) */
	uint64_t predicted_next_blackout_us; /* after one more round (0 = not estimated) */
	uint64_t predicted_next_round_us;    /* duration of that round (0 = not estimated) */
};

/*
 * State carried between calls of one migration. Caller-allocated (stack, struct
 * member); reset with migr_policy_init(). Its fields are private to policy.c and may
 * change between versions: use only sizeof.
 */
#define MIGR_POLICY_CURVE_POINTS 32
#define MIGR_POLICY_ROUND_POINTS 8
struct migr_policy_state {
	struct migr_policy_params p;
	uint32_t page_size;
	uint32_t throttle_pct;         /* last requested */
	uint64_t guest_pages;
	double bw_Bps;                 /* smoothed bandwidth, 0 = unknown */
	uint64_t now_us;               /* latest elapsed_us seen (never goes backwards) */
	uint64_t round_start_us;       /* elapsed_us at the last call A */
	uint64_t round_n;              /* N of the current round */
	unsigned int round;            /* iteration of the last call A */
	int in_round;                  /* a call A came and its call B has not */
	int started;
	unsigned int stalls;           /* rounds spent waiting for a calmer phase */
	unsigned int probes;           /* cheap rounds tried without a predicted gain */
	uint64_t last_b_us;            /* elapsed_us at the last call B */
	double overhead_us;            /* call B to the next call A: the CLEAN and the loop */
	uint32_t round_throttle;       /* throttle applied during the current round */
	uint64_t best_dirty;           /* smallest blackout set seen (pages) */
	uint64_t best_us;              /* elapsed_us when it was seen */
	uint64_t last_dirty;           /* blackout set at the last decision (pages) */
	/* W(t): pages dirtied t us (guest time) after a CLEAN, from the last round's PEEK
	 * samples; and CLEAN-to-CLEAN points (t, N) of the last rounds, newest last. */
	unsigned int n_curve;
	double curve_t[MIGR_POLICY_CURVE_POINTS];
	double curve_w[MIGR_POLICY_CURVE_POINTS];
	unsigned int n_rpts;
	double rpt_t[MIGR_POLICY_ROUND_POINTS];
	double rpt_w[MIGR_POLICY_ROUND_POINTS];
};

void migr_policy_params_init(struct migr_policy_params *p);

/* Resets st for a new migration with parameters p (copied; NULL means the defaults). */
void migr_policy_init(struct migr_policy_state *st, const struct migr_policy_params *p);

/*
 * One decision. Returns MIGR_POLICY_CONTINUE, MIGR_POLICY_STOP or MIGR_POLICY_ABORT and,
 * if v_r is not NULL, fills *v_r. Deterministic: the same sequence of calls on a freshly
 * initialised state gives the same answers.
 */
int migr_policy_decide(struct migr_policy_state *st, const struct migr_policy_stats *s,
		       struct migr_policy_verdict *v_r);

/* Short stable names ("budget-met", "stop", ...) for logs; never NULL. */
const char *migr_policy_reason_name(enum migr_policy_reason r);
const char *migr_policy_action_name(int action);

/*
 * The blackout's fixed part before anything was measured (docs/policy.md, "The fixed part
 * of the blackout"). A target that never received a guest estimates its restore tail and
 * unpause from the guest's devices (migr_restore_estimate_us()); the source composes the
 * fixed part from what it knows, measured figures first (migr_fixed_estimate()). Pure.
 */
struct migr_restore_devices {
	unsigned int vifs_fast;          /* vifs the fast hotplug helper brings up */
	unsigned int vifs_stock;         /* vifs the stock vif-bridge script brings up */
	unsigned int disks;
};

/* Restore tail + unpause for a guest with these devices, in us (at most 60 s). */
uint64_t migr_restore_estimate_us(const struct migr_restore_devices *d);

/* Where each part of the fixed estimate came from. */
enum migr_fixed_from {
	MIGR_FIXED_DEFAULT = 0,          /* the lab's constant */
	MIGR_FIXED_HISTORY,              /* a measured history (the target's, or this host's) */
	MIGR_FIXED_TARGET_ESTIMATE,      /* the target's device estimate (PREFLIGHT_REPLY) */
	MIGR_FIXED_OWN_ESTIMATE,         /* this host's device estimate from the config */
	MIGR_FIXED_OWN_BLACKOUTS,        /* this host's last blackouts less their final send */
	MIGR_FIXED_PEER_HISTORY,         /* the target's own history as a source (PREFLIGHT_REPLY) */
};
const char *migr_fixed_from_name(enum migr_fixed_from f);

struct migr_fixed_inputs {
	uint64_t target_history_us;      /* the target's restore history median (0: none) */
	uint64_t target_estimate_us;     /* the target's device estimate (0: none) */
	uint64_t own_estimate_us;        /* this host's device estimate (0: no config) */
	uint64_t own_suspend_us;         /* median of this host's last suspends (0: none) */
	uint64_t own_blackouts_us;       /* median of this host's last blackouts less their
	                                    final sends (0: none) */
	uint64_t own_final_us;           /* median of this host's last final sends less what
	                                    their pages took (0: none) */
	uint64_t own_handshake_us;       /* median of this host's last handshakes: the
	                                    blackout less its measured parts (0: none) */
	/* the same three medians as the target measured them on its own migrations out
	 * (PREFLIGHT_REPLY; 0: none): after this host's own, before the lab's constants */
	uint64_t peer_suspend_us, peer_final_us, peer_handshake_us;
};

struct migr_fixed_estimate {
	uint64_t fixed_us;               /* suspend + the final send's fixed part + handshake
	                                    + restore tail and unpause */
	uint64_t suspend_us, final_us, handshake_us, restore_us;
	enum migr_fixed_from suspend_from, final_from, handshake_from, restore_from;
};

/* Measured figures before estimates: the target's restore history, then this host's own
 * last blackouts (another target's restore in them, but measured), then the target's
 * device estimate, then this host's own from the configuration, then the lab's base. The
 * suspend and the final send's fixed part (the stream's last records, the vCPUs'
 * context: what the final send takes beyond its pages) are this host's own history, else
 * the lab's constants. */
void migr_fixed_estimate(const struct migr_fixed_inputs *in, struct migr_fixed_estimate *e_r);

#endif /* MIGR_POLICY_H */

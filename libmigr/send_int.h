/*
 * send_int.h: the source side's shared core (send.c), used by both source drivers
 * (migrate.c toward migr, migrate_xl.c toward stock xl). Internal to libmigr.
 */
#ifndef MIGR_SEND_INT_H
#define MIGR_SEND_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <xentoollog.h>
#include "libmigr.h"
#include "migr/etcd.h"
#include "util.h"
#include "cpu_guard.h"

#define MIGR__MAX_SAMPLES 256

struct migr__send;

/*
 * A protocol dialect of the source driver (migrate.c): migr's own, or stock xl's
 * (migrate_xl.c). Each op is one step of the driver, called once in this order, on the
 * driver's thread; 0 or a negative errno, with the reason in s->res->state_text. NULL:
 * the dialect has no such step. wait_ready and wait_done fill s's time marks and the
 * target's figures; wait_done returns -MIGR_E_ABORTED with s->abort_sent set when the
 * target says it destroyed its copy after GO.
 */
struct migr__dialect {
	const char *name;
	bool can_abort;                 /* the peer understands migr's ABORT */
	unsigned int stream_flags;      /* MIGR_STREAM_* for the stream */
	int (*hello)(struct migr__send *s);
	int (*preflight)(struct migr__send *s);
	int (*config)(struct migr__send *s);
	int (*wait_ready)(struct migr__send *s);
	int (*go)(struct migr__send *s);
	int (*wait_done)(struct migr__send *s);
	int (*settled)(struct migr__send *s);
};

/* The source driver (migrate.c) over a dialect. */
int migr__drive(struct migr_hv *hv, uint32_t domid, struct migr_conn *c,
		const struct migr_send_params *params, struct migr_result *res,
		const struct migr__dialect *d);

struct migr__send {
	const struct migr__dialect *d;  /* set by the driver */
	/* set by the driver */
	struct migr_hv *hv;
	uint32_t domid;
	struct migr_conn *c;
	struct migr_send_params p;
	struct migr_result *res;
	enum migr_phase phase;          /* only the driver (and its save callbacks) set it */

	/* clock marks, monotonic us */
	uint64_t t_start, t_precopy0, t_suspend_req, t_suspended, t_stream_end;
	uint64_t target_history_us, target_estimate_us;   /* PREFLIGHT_REPLY's (0: none) */
	uint64_t peer_suspend_us, peer_final_us, peer_handshake_us;   /* the same: the target's
	                                   own migrations out (0: none) */

	/* pre-copy state */
	struct migr_policy_state pol;
	bool started;
	bool policy_aborted;
	int stream_failed;              /* the connection broke under the stream */
	uint64_t guest_pages;
	uint64_t round_start_us, round_n, round_bytes0, round_paced0_us;
	int last_action;

	/* PEEK sampler */
	pthread_t sampler;
	bool sampler_running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop_sampler, in_round;
	struct migr_policy_sample samples[MIGR__MAX_SAMPLES];
	size_t n_samples;
	bool peek;                      /* the thread samples (else it only reports) */
	unsigned int iteration;         /* libxenguest's round now (under lock) */
	uint64_t tick_us;               /* the last report inside a round (under lock) */
	uint64_t sample_t0_us;          /* the round's start, as the sampler sees it (under lock) */
	uint64_t peek_next_us;          /* the next PEEK's time (under lock) */
	bool sampler_kick;              /* a round began: the sampler's wait starts again */
	pthread_mutex_t progress_mu;    /* one progress report at a time: the save's thread
	                                   and the sampler's both report */
	struct migr_progress last_pr;   /* the last decision's report (under progress_mu):
	                                   a report inside a round repeats its estimates */
	bool guard;                     /* the CPU guard looks at the guest (cpu_guard.h) */
	struct migr__cpu_guard cg;      /* its state (the sampler's thread, under lock) */
	unsigned int guard_looks;
	uint64_t guard_t0_ns, guard_run0_ns;   /* the first reading, for the rate before
	                                          (guard_t0_ns 0: none) */
	uint64_t guard_t1_ns, guard_run1_ns;   /* the second, MIGR__GUARD_BASE_NS later, when
	                                          the guard decides (guard_t1_ns 0: none) */
	_Atomic bool capped;            /* the throttle's cap is on (the guard does not look) */

	/* the driver's steps (migrate.c, migrate_xl.c): what each found and what it did */
	struct migr_dom_info di;
	struct migr_host_info hi;
	struct migr_id id;
	uint32_t version;               /* agreed in HELLO (migr's dialect) */
	bool config_sent;
	char *json;                     /* the guest's config (freed at the end) */
	size_t json_len;
	char away[MIGR_DOMNAME_MAX];    /* NAME--migratedaway */
	struct migr_src_record rec;     /* the source's durable record */
	unsigned int throttle_pct;      /* the slow-down applied to the guest now */
	bool recorded;                  /* rec is on disk: the guest may be touched */
	int rec_lock;                   /* its lock, held while the driver runs (-1: none) */
	bool go_recorded;               /* rec says go: GO may have reached the target */
	bool renamed;                   /* our copy is NAME--migratedaway */
	bool done;                      /* the target reported the guest running */
	bool source_left;               /* after DONE, our copy could not be destroyed */
	bool abort_sent;                /* the target was told (ABORT) already */
	bool crashed;                   /* an injected crash: clean nothing up */
	uint32_t acode;                 /* ABORT code for a back-out */
	uint64_t t_ready, t_go, restore_ns, devices_ns, unpause_ns;
	uint64_t deadline_us;           /* blackout deadline (monotonic us); 0 = none yet */
	unsigned int io_timeout_ms;     /* the connection's own, restored after the blackout */
	struct migr__fwdm *fwd;         /* forwarding from here (fwd_mig.c); NULL: none */
	/* the commit fenced by etcd (p.etcd set): the key as read before anything was
	 * touched, the target's name there, and whether the key has moved to it */
	struct migr_fence fence;
	char fence_target[MIGR_FENCE_NAME_MAX];
	bool fenced;                    /* the swap won: the key names the target */
};


/* Announces a guest restored here on its bridges (recv.c): round 0 only, or with `more`
 * the remaining rounds, spaced as QEMU's announce-self. Returns the frames sent. */
unsigned int migr__announce(struct migr_hv *hv, uint32_t domid, bool more);
/* hv->ops->settle() for a restored guest that runs (after DONE and the announcements,
 * off the blackout): network back into res; a failure is logged, never fatal. */
void migr__settle(struct migr_hv *hv, uint32_t domid, struct xentoollog_logger *lg,
                  struct migr_recv_result *res);

/* Admission of a reception (recv.c, for both dialects): admits a guest of mem_kib if
 * free memory covers it, the reserve and what concurrent receptions have claimed, and
 * claims it (*claim_r) until migr__release_claim(), which the receiver calls once the
 * restore has returned (the domain then holds its memory, or gave it back). */
bool migr__admit(const struct migr_recv_params *p, uint64_t free_kib, uint64_t mem_kib,
                 uint64_t *need_r, uint64_t *claim_r);
void migr__release_claim(const struct migr_recv_params *p, uint64_t *claim);

/* Sets up s (fills params defaults when p is NULL). */
void migr__send_init(struct migr__send *s, struct migr_hv *hv, uint32_t domid,
		     struct migr_conn *c, const struct migr_send_params *p,
		     struct migr_result *res);

/* Report progress in the current phase (no round data). */
void migr__send_report(struct migr__send *s);
/* The source's record directory (migr_send_params.record_dir, else the default). */
const char *migr__send_rec_dir(const struct migr__send *s);
/* Takes the source's throttle off the guest (its CPU cap put back) if one is on; at the
 * suspend, and on every way out of the stream. */
void migr__throttle_off(struct migr__send *s);

/*
 * Streams the guest: opens the connection's stream face (flags MIGR_STREAM_*), writes
 * the libxl framing around a live xc_domain_save() with migr's policy and suspend, and
 * closes the face (DATA_END, or ABORT on failure). Moves s->phase through PRECOPY,
 * SUSPEND and FINAL_SEND. On failure the guest may be suspended: the driver resumes it.
 */
int migr__send_stream(struct migr__send *s, unsigned int stream_flags);

/* Back-out on the source before the point of no return: if the guest is suspended
 * (by us), resume it. Returns 0 when the guest runs (or was never touched). */
int migr__send_backout(struct migr__send *s);


void migr__send_fini(struct migr__send *s);
/* The target's figures (PREFLIGHT_REPLY): its restore history's median and its device
 * estimate (0: none), kept for migr__send_fixed(), at most 10 s each. */
void migr__send_target_fixed(struct migr__send *s, uint64_t history_us, uint64_t estimate_us);
/* The target's medians of its own migrations out (PREFLIGHT_REPLY; 0: none), at most 10 s
 * each: what migr__send_fixed() takes where this host has no figure of its own. */
void migr__send_peer_fixed(struct migr__send *s, uint64_t suspend_us, uint64_t final_us,
			   uint64_t handshake_us);
/* The policy's fixed blackout cost, composed from what is known (migr_fixed_estimate(),
 * docs/policy.md) before the first round; the result says where each part came from. */
void migr__send_fixed(struct migr__send *s);


/* The fault hook between steps (fault.c, migr/fault.h): 0 go on, -EIO an injected error,
 * -MIGR_E_CRASHED an injected crash (the caller returns at once, cleaning up nothing but
 * its memory). */
int migr__fault(const struct migr_fault_set *fs, enum migr_fault point, struct migr_conn *c,
                struct xentoollog_logger *lg);
int migr__fault_round(const struct migr_fault_set *fs, unsigned int round, struct migr_conn *c,
                      struct xentoollog_logger *lg);
int migr__fault_fire(const struct migr_fault_set *fs, unsigned int i, struct migr_conn *c,
                     struct xentoollog_logger *lg);

#endif

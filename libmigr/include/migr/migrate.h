/*
 * migr/migrate.h: moving one running guest between two hosts.
 *
 * Two drivers, one per side, each a straight line of steps over the hypervisor seam
 * (migr/hv.h) and a connection (migr/transport.h, migr/proto.h). docs/phases.md names
 * their phases and points of no return.
 *
 * Entry points:
 *   migr_send_params_init()   defaults (downtime 300 ms, ...)
 *   migr_migrate()            source, migr's own protocol (TLS or plain TCP, or a pipe to
 *                             `migr receive`)
 *   migr_migrate_xl()         source, toward a stock `xl migrate-receive` over a byte pipe
 *   migr_receive()            target, migr's own protocol, one migration on a connection
 *                             already accepted (migrd, `migr receive`)
 *   migr_receive_xl()         target, from a stock `xl migrate` over a byte pipe
 *   migr_resolve()            source, after an undecided end: ask the target
 *   migr_phase_name()
 *
 * Outcome (both sides): 0 the guest runs on the target; -MIGR_E_ABORTED backed out, the
 * guest runs on the source (nothing left on the target); -MIGR_E_UNDECIDED the final
 * handshake broke after GO and the source keeps its suspended copy (resolve with
 * migr_resolve()); any other error: see the log and result->state_text.
 * The library never prints; progress comes through params->progress.
 */
#ifndef MIGR_MIGRATE_H
#define MIGR_MIGRATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include "migr/fault.h"
#include "migr/config_rules.h"
#include "migr/hv.h"
#include "migr/policy.h"
#include "migr/proto.h"
#include "migr/transport.h"

/*
 * Phases. Only the driver of a side changes its ctx->phase. Points of no return are
 * marked; before them every failure backs out with the guest running on the source.
 */
enum migr_phase {
	MIGR_PHASE_INIT = 0,
	/* source */
	MIGR_PHASE_PREFLIGHT,      /* HELLO, checks on both ends; guest untouched */
	MIGR_PHASE_PRECOPY,        /* log-dirty rounds, guest running */
	MIGR_PHASE_SUSPEND,        /* guest asked to suspend */
	MIGR_PHASE_FINAL_SEND,     /* guest suspended, last pages and context going */
	MIGR_PHASE_WAIT_READY,     /* stream sent, target restoring */
	MIGR_PHASE_GO,             /* POINT OF NO RETURN (source): source renamed away, GO
	                              sent or being sent; the source's copy stays suspended */
	MIGR_PHASE_DONE,           /* target reported the guest running; source destroyed */
	MIGR_PHASE_BACKOUT,        /* resuming the guest on the source */
	MIGR_PHASE_ABORTED,        /* backed out: guest runs on the source */
	MIGR_PHASE_UNDECIDED,      /* after GO, outcome unknown: resolve */
	MIGR_PHASE_FAILED,         /* a failure the driver could not back out of */
	/* target */
	MIGR_PHASE_ACCEPT,         /* HELLO, PREFLIGHT answered */
	MIGR_PHASE_RESTORE,        /* receiving the stream into NAME--incoming (paused) */
	MIGR_PHASE_READY,          /* restored paused, record says so, READY sent */
	MIGR_PHASE_RUNNING,        /* POINT OF NO RETURN (target): GO taken, record says
	                              running; renamed and unpaused */
	MIGR_PHASE_PHASE_COUNT
};

const char *migr_phase_name(enum migr_phase p);

/* What a progress callback receives; all numbers. */
struct migr_progress {
	enum migr_phase phase;
	unsigned int round;            /* pre-copy round (libxenguest's iteration) */
	bool round_end;                /* this report closes a round (decision point B) */
	bool in_round;                 /* a report from inside a round (once a second while
	                                  one lasts): the bytes are now, the estimates are the
	                                  last decision's */
	uint64_t elapsed_us;           /* since the migration started */
	uint64_t guest_pages;          /* populated pages (the allocation), not the p2m size */
	uint64_t sent_pages;           /* pages sent live so far */
	uint64_t sent_bytes;           /* stream bytes so far */
	uint64_t wire_bytes;           /* bytes on the connection so far (what the link carried:
	                                  zero pages and compression left out, TLS counted) */
	uint64_t held_us;              /* time this migration's stream waited for another
	                                  guest's blackout so far (migr_conn_blackout()) */
	uint64_t round_pages;          /* pages of this round */
	uint64_t round_bytes;
	uint64_t round_us;
	uint64_t remaining_pages;      /* dirty now: what stopping now would send */
	uint64_t dirty_rate_pps;
	uint64_t bandwidth_Bps;
	uint64_t predicted_blackout_us;
	int decision;                  /* MIGR_POLICY_* at a decision point, else 0 */
	int reason;                    /* enum migr_policy_reason */
	unsigned int throttle_pct;     /* the guest's slow-down from now on (0: none) */
};

typedef void migr_progress_fn(const struct migr_progress *p, void *arg);

/*
 * Forwarding during the brownout in a migration (docs/forwarding.md, "In every
 * migration"): what it did, in migr_result and migr_recv_result. When the driver
 * returns, forwarding usually goes on (state RUNNING) until the fabric has rerouted;
 * migr_fwd_wait() gives the final figures.
 */
enum migr_fwd_state {
	MIGR_FWDS_OFF = 0,                 /* not asked for (no_forward), or no NIC */
	MIGR_FWDS_FAILED,                  /* could not be set up: why says why */
	MIGR_FWDS_RUNNING,                 /* started, goes on after the driver returned */
	MIGR_FWDS_ENDED,                   /* over: end says why */
};
struct migr_fwd_summary {
	enum migr_fwd_state state;
	char why[120];
	unsigned int nics;
	uint64_t packets;                  /* forwarded (source) / delivered (target) */
	int hold;                          /* MIGR_FWD_HOLD_* (migr/fwd.h), source */
	uint64_t held_packets, hold_dropped;
	int end;                           /* enum migr_fwd_end, when ENDED */
	uint32_t elapsed_ms;
};
const char *migr_fwd_state_name(enum migr_fwd_state s);
/*
 * Waits until the forwarding a migration left running (id, the source's end or the
 * target's) is over, at most timeout_ms (0: no limit); *final_r gets its last figures.
 * -ENOENT: none known by that id (never started, or already waited for); -ETIMEDOUT.
 */
int migr_fwd_wait(const char *id, bool target, unsigned int timeout_ms,
		  struct migr_fwd_summary *final_r);
/* Waits until no forwarding of this process runs any more (a program about to exit);
 * -ETIMEDOUT after timeout_ms (0: no limit). */
int migr_fwd_wait_all(unsigned int timeout_ms);

/* Compression of the stream (docs/protocol.md, "Compression"); toward targets of protocol
 * version 4 on, never toward stock xl. */
enum migr_compress {
	MIGR_COMPRESS_AUTO = 0,            /* when measurements say it makes the stream faster */
	MIGR_COMPRESS_OFF,
	MIGR_COMPRESS_ON,                  /* every chunk, sent compressed when it shrinks */
};
const char *migr_compress_name(enum migr_compress c);        /* "auto", "off", "on" */
/* "auto", "off", "on" into *c_r; -EINVAL otherwise. */
int migr_compress_parse(const char *s, enum migr_compress *c_r);

struct migr_send_params {
	struct migr_policy_params policy;  /* downtime, max time, on-timeout */
	enum migr_compress compress;       /* default AUTO */
	unsigned int suspend_timeout_ms;   /* default 60000, as libxl */
	unsigned int peek_interval_ms;     /* PEEK sampling inside a round; default 50, 0 = off */
	/* The sender's CPU guard (docs/phases.md): while the guest runs uncapped in pre-copy,
	 * the connection's CPU share is set from how much of its CPU rate before the guest
	 * loses. Off when set (the operator's --cpu-share, fixed or none, stands): the
	 * guest's CPU is then only read, for the result. */
	bool no_cpu_guard;
	/* Once the guest is suspended, READY and DONE must come within the blackout deadline:
	 * max(8 s, 4 x the predicted blackout), at most this (default 10000). Before GO its
	 * expiry backs out (the guest resumes here); after GO it makes the end undecided. */
	unsigned int blackout_deadline_ms;
	const char *record_dir;            /* the source's records; NULL: MIGR_SRC_STATE_DIR */
	const char *target;                /* HOST[:PORT] for the record ("" for a pipe) */
	const struct migr_fault_set *faults;  /* named fault points (migr/fault.h); NULL: none */
	migr_progress_fn *progress;
	void *progress_arg;
	struct xentoollog_logger *lg;      /* may be NULL */
	/* Forwarding (migr/fwd.h): from the suspend on, what reaches this host for the guest
	 * goes to the target, held until its vifs are connected there, until the fabric has
	 * rerouted (quiet for forward_quiet_ms, at most forward_max_ms; 0: 2 s and 60 s). */
	bool no_forward;
	unsigned int forward_quiet_ms, forward_max_ms;
	/* Run with `sh -c` once the target reports the guest running (not waited for); its
	 * environment: MIGR_ID MIGR_GUEST MIGR_MACS MIGR_ADDRS MIGR_SOURCE MIGR_TARGET. */
	const char *on_switchover;
	/* The commit fenced by etcd (docs/etcd.md): with etcd set, the guest's location key
	 * must name fence_self before anything is touched, it moves to the target (whose
	 * etcd name PREFLIGHT_REPLY carries) by a compare-and-swap before GO, and the target
	 * unpauses only once it has read that. Both hosts fence or neither: a target that
	 * does not is refused. NULL: the two-host commit. */
	struct migr_etcd *etcd;
	const char *fence_self;            /* this host's name in etcd (migr_etcd_name_ok) */
};

void migr_send_params_init(struct migr_send_params *p);

/* Where the blackout went and what moved; filled by both source drivers. */
struct migr_result {
	char id[MIGR_ID_HEX];
	char name[MIGR_DOMNAME_MAX];
	enum migr_guest_type type;
	uint32_t src_domid, dst_domid;
	enum migr_phase phase;             /* where the driver ended */
	unsigned int rounds;               /* live rounds sent */
	uint64_t guest_pages;
	uint64_t pages_live;               /* pages sent while the guest ran */
	uint64_t stream_bytes;             /* libxl stream bytes */
	uint64_t wire_bytes;               /* bytes on the connection (framing, TLS) */
	uint64_t zero_bytes;               /* of stream_bytes, zero runs sent as their length */
	uint64_t compressed_bytes;         /* of stream_bytes, bytes sent compressed */
	uint64_t compress_saved_bytes;     /* what compression kept off the wire */
	enum migr_compress compress;       /* as asked */
	unsigned int compress_windows;     /* 250 ms windows of the stream measured, and of */
	unsigned int compress_on_windows;  /* them those that compressed */
	unsigned int throttle_max_pct;     /* the most the guest was slowed (0: never) */
	uint64_t cpu_paced_us;             /* the sender waited so long for its CPU share */
	/* The guest's CPU before the pre-copy and during it (% of one CPU, its vCPUs
	 * together), the lowest share the sender's CPU guard set (0: it never paced), how
	 * many readings were taken (0: none, e.g. no hypervisor figures). */
	unsigned int guest_cpu_before_pct, guest_cpu_precopy_pct;
	unsigned int cpu_share_min_pct;
	unsigned int guard_looks;
	uint64_t total_us;                 /* start to end */
	uint64_t precopy_us;               /* log-dirty on to suspend request */
	/* The blackout: from the suspend request on the source to the guest unpaused on the
	 * target. Parts on the source's clock, except restore_tail/devices/unpause which
	 * the target measures (0 when it does not report them: stock xl). */
	uint64_t blackout_us;
	uint64_t blackout_start_unix_us;   /* the wall clock (CLOCK_REALTIME) at the suspend request,
	                                    * to line the blackout up with other logs; 0: none */
	uint64_t suspend_us;               /* request to guest suspended */
	uint64_t final_send_us;            /* suspended to stream end written */
	uint64_t restore_tail_us;          /* target: stream end to restored (incl. devices) */
	uint64_t devices_us;               /* target: part of restore_tail for device set-up
	                                      (0 when not measured) */
	uint64_t handshake_us;             /* rest: READY, GO and DONE in flight */
	uint64_t unpause_us;               /* target: GO received to unpaused */
	uint64_t done_wait_us;             /* GO sent to DONE (or report) received */
	/* After the blackout, the target's SETTLED (0/0 when it sent none): from the
	 * unpause to every vif of the guest connected again (netfront reconnected). */
	uint64_t net_back_us;              /* 0: not all vifs reconnected, or not reported */
	uint64_t first_frame_us;           /* then a frame from the guest on every vif; 0: not
	                                      seen on all, or not reported */
	unsigned int vifs, vifs_connected;
	int policy_reason;                 /* last decision's enum migr_policy_reason */
	uint64_t predicted_blackout_us;    /* what the policy predicted at its stop */
	uint64_t restore_hint_us;          /* of it, the target's recent restore tail and
	                                      unpause (0: the target knew none) */
	uint64_t own_hint_us;              /* with no figure from the target: the fixed part
	                                      taken from this host's own last migrations
	                                      (blackout less final send; 0: none used) */
	/* The fixed part the policy was given before the first round (docs/policy.md, "The
	 * fixed part of the blackout"), its four estimated parts and where each came from
	 * (enum migr_fixed_from), and the device estimate used (0: none). */
	uint64_t fixed_us, fixed_suspend_us, fixed_final_us, fixed_handshake_us, fixed_restore_us;
	int fixed_suspend_from, fixed_final_from, fixed_handshake_from, fixed_restore_from;
	uint64_t restore_estimate_us;
	int64_t blackout_error_us;         /* measured blackout less the predicted one */
	struct migr_fwd_summary fwd;       /* forwarding from this host */
	uint32_t refused;                  /* the target's refusal (MIGR_REFUSE_*, 0: none) */
	char state_text[320];              /* where the guest is, one line */
};

/*
 * migr_migrate: source side over migr's own protocol. c is connected (and authenticated);
 * the driver owns nothing else and closes nothing. params may be NULL (defaults).
 */
int migr_migrate(struct migr_hv *hv, uint32_t domid, struct migr_conn *c,
		 const struct migr_send_params *params, struct migr_result *res);

/* Toward stock `xl migrate-receive` over a byte-pipe connection (migr_conn_from_fds). */
int migr_migrate_xl(struct migr_hv *hv, uint32_t domid, struct migr_conn *c,
		    const struct migr_send_params *params, struct migr_result *res);

/*
 * Memory promised to receptions running at the same time (migrd): a reception that passes
 * the pre-flight claims its guest's memory until its restore has returned (by then the
 * domain holds the memory, or gave it back), so two concurrent receptions are never both
 * admitted into memory that fits one. Initialise with MIGR_RECV_CLAIMS_INIT.
 */
struct migr_recv_claims {
	pthread_mutex_t lock;
	uint64_t claimed_kib;
};
#define MIGR_RECV_CLAIMS_INIT { PTHREAD_MUTEX_INITIALIZER, 0 }

struct migr_recv_params {
	const char *record_dir;            /* NULL: MIGR_STATE_DIR */
	const char *src_record_dir;        /* this host's records of its own migrations out,
	                                      whose histories PREFLIGHT_REPLY gives the source;
	                                      NULL: MIGR_SRC_STATE_DIR */
	const char *peer;                  /* for the record: the source's address */
	const char *peer_identity;         /* the source's authenticated identity ("" none);
	                                      NULL: taken from the connection */
	uint64_t reserve_kib;              /* free memory to keep beyond the guest's */
	unsigned int go_deadline_ms;       /* READY sent, GO must come within it (default
	                                      10000); then our copy is destroyed */
	const struct migr_fault_set *faults;  /* named fault points (migr/fault.h); NULL: none */
	bool paused;                       /* leave the guest paused after GO (xl -p) */
	const char *vif_helper;            /* the fast vif hotplug helper (migr/vif.h) for the
	                                      restore; NULL: the stock scripts */
	bool late_devices;                 /* the guest's disks and vifs added after the
	                                      stream, in the blackout, as libxl does; by
	                                      default they are added while the stream comes
	                                      (docs/phases.md) */
	struct xentoollog_logger *lg;
	struct migr_recv_claims *claims;   /* shared by concurrent receivers; NULL: none */
	/* Each control phase must be over within this, however the peer trickles: HELLO to
	 * CONFIG (or a RESOLVE answered), and from the stream's end to the last message. The
	 * stream itself is bounded by the I/O timeout and MIGR_OPTIONAL_RUN_MAX. 0: 60 s. */
	unsigned int phase_timeout_ms;
	const struct migr_target_rules *rules; /* what a received guest may use here
	                                      (migr/config_rules.h); NULL: the defaults */
	/* Forwarding (migr/fwd.h): the tunnel from the source delivers to the guest's vifs
	 * from before the unpause, and the guest is announced, until the fabric has
	 * rerouted. Defaults as migr_send_params. */
	bool no_forward;
	unsigned int forward_quiet_ms, forward_max_ms;
	/* Switch-over hooks, run once the guest runs here (not waited for), with the
	 * environment of migr_send_params.on_switchover: a command (sh -c) and/or every
	 * executable file of a directory. NULL: none. */
	const char *on_switchover;
	const char *switchover_hook_dir;
	/* The commit fenced by etcd, as migr_send_params: with etcd set, the guest is
	 * unpaused only once the guest's location key names fence_self with this migration,
	 * and a source that does not fence is refused. NULL: the two-host commit. */
	struct migr_etcd *etcd;
	const char *fence_self;
};

struct migr_recv_result {
	char id[MIGR_ID_HEX];
	char name[MIGR_DOMNAME_MAX];
	uint32_t domid;
	enum migr_phase phase;
	uint64_t stream_bytes;
	uint64_t wire_bytes;               /* of the connection, received (framing, TLS) */
	uint64_t zero_bytes;               /* of stream_bytes, zero runs received as their
	                                      length */
	uint64_t compressed_bytes;         /* of stream_bytes, received compressed */
	uint64_t compress_saved_bytes;     /* what compression kept off the wire */
	uint64_t stream_us, restore_us, devices_us, unpause_us;
	unsigned int fast_vifs;            /* vifs brought up by the fast hotplug helper */
	unsigned int early_vifs;           /* vifs added while the stream came */
	unsigned int early_disks;          /* disks added while the stream came */
	unsigned int late_devices;         /* devices meant to come early, added after the
	                                      stream */
	uint64_t early_devices_us;         /* the early devices' adds and hotplug (not in the
	                                      blackout) */
	uint64_t early_before_end_us;      /* how long before the restore's end they were done */
	unsigned int announced;            /* announcement frames sent after DONE */
	uint64_t net_back_us;              /* unpause to every vif connected; 0: not all were */
	uint64_t first_frame_us;           /* unpause to a frame from the guest on every vif */
	unsigned int vifs, vifs_connected; /* the guest's vifs, and those connected again */
	struct migr_fwd_summary fwd;       /* delivery of what the source forwards */
	char state_text[320];
};

/* migr_receive: target side of one migration on an accepted connection. */
int migr_receive(struct migr_hv *hv, struct migr_conn *c, const struct migr_recv_params *p,
		 struct migr_recv_result *res);

/* migr_receive_xl: target side of a stock `xl migrate` on a byte-pipe connection. */
int migr_receive_xl(struct migr_hv *hv, struct migr_conn *c, const struct migr_recv_params *p,
		    struct migr_recv_result *res);

/*
 * Settling a migration that did not end (docs/phases.md, "Recovery"): the source's record
 * says how far it went; only the target's record, answered under the host id READY
 * carried, proves where the guest runs. "Cannot tell" never resumes the copy here.
 */
struct migr_resolve_params {
	const char *record_dir;            /* the source's records; NULL: MIGR_SRC_STATE_DIR */
	bool force_resume;                 /* the operator's word: resume the copy here even
	                                      though nothing proves the target will not run it */
	struct xentoollog_logger *lg;
	/* The commit fenced by etcd: a copy here resumes only once the guest's location key
	 * names fence_self again (migr_fence_reclaim()); NULL: the two-host rules alone. */
	struct migr_etcd *etcd;
	const char *fence_self;
};

/*
 * migr_resolve: settles migration id_hex of the guest named domain (its copy here may be
 * NAME--migratedaway). c is a connection to the target, or NULL when it cannot be
 * reached. Target runs the guest -> the suspended copy here is destroyed; the target's
 * record proves it never will -> renamed back and resumed here; GO never went (the
 * source's record says so) -> resumed here; anything else -> nothing done,
 * -MIGR_E_UNDECIDED, the reason in state. On a settled end the source's record is
 * removed. *outcome_r: what the target answered (MIGR_OUTCOME_*; UNKNOWN without one).
 */
int migr_resolve(struct migr_hv *hv, struct migr_conn *c, const char *id_hex,
		 const char *domain, const struct migr_resolve_params *rp, uint32_t *outcome_r,
		 char *state, size_t statelen);

/*
 * migr_resolve_ask: right after a migration ended undecided, asks its target (host, over
 * fresh connections with topts, each opened within 5 s) up to tries times, 4, 6, 8 ... s
 * apart, with migr_resolve(), until one settles it. each (may be NULL) gets every try's
 * state text. Returns 0 once settled (*outcome_r: MIGR_OUTCOME_RUNNING, the guest runs on
 * the target, or what the target answered when the copy here resumed), else
 * -MIGR_E_UNDECIDED with the last state.
 */
int migr_resolve_ask(struct migr_hv *hv, const char *host,
		     const struct migr_transport_opts *topts, const char *id_hex,
		     const char *domain, const struct migr_resolve_params *rp,
		     unsigned int tries, uint32_t *outcome_r, char *state, size_t statelen,
		     void (*each)(void *arg, const char *state), void *arg);

/*
 * migr_recover_source: for a daemon's start (and now and then after): every migration the
 * source's records hold is settled as migr_resolve() does; connect() opens a connection to
 * the record's target (return NULL when it cannot). Each settled or still open one is
 * reported through report(). Returns how many remain undecided.
 */
struct migr_recover_report {
	char id[MIGR_ID_HEX];
	char name[MIGR_DOMNAME_MAX];
	int rc;                            /* 0 settled, -MIGR_E_UNDECIDED open, other: failed */
	uint32_t outcome;
	char text[256];
};
int migr_recover_source(struct migr_hv *hv, const struct migr_resolve_params *rp,
			struct migr_conn *(*connect)(const struct migr_src_record *r, void *arg),
			void *arg,
			void (*report)(const struct migr_recover_report *r, void *arg));

/*
 * migr_recover_target: for a daemon's start, when no reception of its own is in flight:
 * a record that says running finishes its commit (renamed to NAME, unpaused); one that
 * says restored-paused is recorded destroyed and its copy destroyed (GO can come only on
 * the connection that died with the restarted process, so the copy can never run, and
 * the source's resolve gets its proof); one that says destroyed has its copy destroyed;
 * a paused NAME--incoming no record speaks for is destroyed. Reported through report(); returns 0 or -errno (records unreadable).
 */
int migr_recover_target(struct migr_hv *hv, const char *record_dir,
			struct xentoollog_logger *lg,
			void (*report)(const struct migr_recover_report *r, void *arg), void *arg);

/* ---- the libxl stream framing and xl's pipe protocol (send_stream.c, recv_xl.c) ----- */

#define MIGR_LIBXL_REC_END           0u
#define MIGR_LIBXL_REC_LIBXC_CONTEXT 1u

/* Writes the libxl v2 header (docs/specs/libxl-migration-stream.pandoc in Xen) and a
 * LIBXC_CONTEXT record; then the libxc stream follows on the same fd. */
int migr_libxl_stream_begin(int fd);
/* Writes the END record. */
int migr_libxl_stream_end(int fd);

/* xl's save-file header (tools/xl/xl.h, struct save_file_header) with the JSON config,
 * as `xl migrate` sends it before the stream. */
int migr_xl_header_encode(const char *json, size_t json_len_with_nul, uint8_t **buf_r,
			  size_t *len_r);
#define MIGR_XL_HDR_LEN 48
/* Checks a received fixed header; *optlen_r gets the optional data length (capped). */
int migr_xl_header_check(const uint8_t hdr[MIGR_XL_HDR_LEN], uint32_t *optlen_r);
/* Extracts the JSON config from the optional data (malloc'd, NUL-terminated). */
int migr_xl_optdata_config(const uint8_t *opt, uint32_t optlen, char **json_r);

/* xl's handshake strings (tools/xl/xl.h), sent without their NUL except where noted. */
extern const char migr_xl_banner[55];     /* receiver -> sender, first, without NUL */
extern const char migr_xl_ready[34];      /* "domain received, ready to unpause", with NUL */
extern const char migr_xl_go[44];         /* "... cleared to unpause", with NUL */
extern const char migr_xl_report[39];     /* "... results are as follows", with NUL; then a
					   status byte */

/* Checks that a received name is one migr will create a domain under: printable, bounded,
 * not Domain-0, and not ending in a suffix migr reserves for itself (--incoming,
 * --migratedaway). */
bool migr_domname_ok(const char *name);
/* The name ends in a suffix migr reserves ("--incoming", "--migratedaway"). */
bool migr_domname_reserved(const char *name);

#endif /* MIGR_MIGRATE_H */

/*
 * migr/fwd.h: forwarding during the post-migration brownout.
 *
 * After switch-over the fabric still delivers some of the guest's frames to the old host.
 * The source dom0 steers every frame addressed to the guest's MACs (and ARP requests and
 * IPv6 neighbour solicitations for its addresses) into a VXLAN tunnel to the target dom0,
 * in the kernel: a tc u32 filter on the ingress of each port of the guest's old bridge,
 * with a mirred redirect into a VXLAN device. The target receives on its own VXLAN device
 * and redirects, again with tc, into the guest's vif; it also announces the guest (RARP and
 * gratuitous ARP / unsolicited NA, rounds with back-off as QEMU's announce-self). All of it
 * is set up over rtnetlink; no packet ever reaches user space. docs/forwarding.md has the
 * design, the names, and the operator's view.
 *
 * Entry points:
 *   migr_fwd_params_init()   defaults for struct migr_fwd_params
 *   migr_fwd_source_start()  source dom0, at switch-over: start forwarding to the peer
 *                            (with MIGR_FWD_DIVERT_LATER: set it up ahead, and
 *                            migr_fwd_source_divert() takes the guest's frames at the
 *                            switch-over)
 *   migr_fwd_target_start()  target dom0, before the guest is unpaused: accept, deliver,
 *                            announce (with MIGR_FWD_LIVE_LATER: set it up ahead, and
 *                            migr_fwd_target_live() starts the announcements)
 *   migr_fwd_release()       source, with MIGR_FWD_HOLD: let out what the hold kept (the
 *                            guest's vifs are connected on the target)
 *   migr_fwd_poll()          counters, due announcements, and whether forwarding is over
 *                            (quiet period, stop signal, maximum duration); never blocks
 *   migr_fwd_run()           migr_fwd_poll() in a loop until forwarding is over (blocks)
 *   migr_fwd_finish()        tear down what start made and free; accepts NULL
 *   migr_fwd_request_stop()  the explicit end signal, from any process (CLI, daemon)
 *   migr_fwd_cleanup()       remove what a migration id left (killed process), or all
 *   migr_fwd_ifname(), migr_fwd_vni()  the names derived from a migration id
 *   migr_fwd_parse_mac(), migr_fwd_parse_addr()  text to the structures below
 *
 * Everything acts on the network namespace of the calling thread when the handle is
 * started (a handle keeps to it afterwards, whatever thread polls it). Root (CAP_NET_ADMIN,
 * and CAP_NET_RAW for announcements) is required. Every object created carries the
 * migration id: the VXLAN device is named migr_fwd_ifname(id) and its alias holds the
 * id; each tc action carries a cookie with a tag of the id. That is how a later run, or
 * `migr cleanup`, finds and removes leftovers after a crash.
 *
 * Functions return 0 or a negative errno (-MIGR_E_* where said), log their failures once
 * through the logger in the params (may be NULL), and write out-parameters (_r) only on
 * success. Not thread-safe per handle; distinct handles are independent.
 */
#ifndef MIGR_FWD_H
#define MIGR_FWD_H

#include <stdint.h>
#include <netinet/in.h>

struct xentoollog_logger;

#define MIGR_FWD_ID_MAX        64     /* migration id: 1..64 of [A-Za-z0-9._:-] */
#define MIGR_FWD_DEFAULT_PORT  4789   /* IANA VXLAN port */
#define MIGR_FWD_IFNAME_LEN    16     /* buffer for migr_fwd_ifname(), with the NUL */
#define MIGR_FWD_MAX_NICS      16
#define MIGR_FWD_MAX_ADDRS     32     /* per NIC, IPv4 and IPv6 each */

/* An IPv4 or IPv6 address; family AF_UNSPEC means "none / let the kernel choose". */
struct migr_fwd_addr {
	int family;                       /* AF_UNSPEC, AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

/* One guest NIC (one vif). */
struct migr_fwd_nic {
	uint8_t mac[6];
	/*
	 * Source: the bridge the guest's vif was a port of; filters go on the ingress of
	 * every port it has at start (uplinks and other guests' vifs). A device that is not a
	 * bridge gets the filters itself.
	 * Target: the guest's vif, which receives what comes out of the tunnel; its bridge
	 * (master) is where announcements are sent unless announce_dev says otherwise.
	 */
	const char *dev;
	const struct in_addr *ipv4;       /* addresses whose ARP requests follow the guest */
	unsigned int n_ipv4;
	const struct in6_addr *ipv6;      /* addresses whose neighbour solicitations follow */
	unsigned int n_ipv6;
};

/* Flags of struct migr_fwd_params. */
#define MIGR_FWD_NO_ARP       0x1u    /* forward only frames to the MACs, not ARP/ND */
#define MIGR_FWD_NO_ANNOUNCE  0x2u    /* target: do not announce the guest */
/*
 * Source: hold what goes into the tunnel (in order, up to hold_bytes; more is dropped and
 * counted) until migr_fwd_release(): frames for the guest that reach the source while it
 * is stopped, and until its vifs are connected on the target, wait instead of being lost
 * there. Needs sch_plug (a module in Debian's kernels); without it forwarding starts
 * without the hold (status.hold says so).
 */
#define MIGR_FWD_HOLD         0x4u
/*
 * Source: migr_fwd_source_start() makes everything (the tunnel, the hold, the ingress
 * qdiscs) but the filters that take the guest's frames, so that it can run ahead, while
 * the guest still runs; migr_fwd_source_divert() adds those at the switch-over, a few
 * netlink messages. Without it, start does both.
 */
#define MIGR_FWD_DIVERT_LATER 0x8u
/*
 * Target: migr_fwd_target_start() makes everything while the guest is still paused and
 * the pre-copy still runs (its vifs exist early); the announcement rounds, the quiet
 * period and the maximum wait for migr_fwd_target_live(), called as the guest is
 * unpaused. Without it, start is live at once.
 */
#define MIGR_FWD_LIVE_LATER   0x10u

/* Start parameters, shared by both ends. Start from migr_fwd_params_init(). */
struct migr_fwd_params {
	const char *id;                   /* migration id (required); names everything made */
	struct migr_fwd_addr local;       /* this dom0's tunnel address; AF_UNSPEC: routing */
	struct migr_fwd_addr peer;        /* the other dom0's tunnel address (required) */
	uint16_t port;                    /* UDP port, same at both ends; default 4789 */
	uint32_t vni;                     /* 1..2^24-1, same at both ends; 0: migr_fwd_vni(id) */
	const char *underlay_dev;         /* optional: bind the tunnel to this device */
	const struct migr_fwd_nic *nics;  /* 1..MIGR_FWD_MAX_NICS */
	unsigned int n_nics;
	unsigned int flags;               /* MIGR_FWD_* above */
	/* End of forwarding: no forwarded packet for quiet_ms (default 2000), or
	 * max_ms after start (default 60000), or migr_fwd_request_stop(). */
	uint32_t quiet_ms;
	uint32_t max_ms;
	uint32_t poll_ms;                 /* counter sampling period; default 100 */
	uint32_t hold_bytes;              /* source, MIGR_FWD_HOLD: the hold's cap; default 4 MiB */
	/* Target: announcements (QEMU announce-self defaults: 50 ms, 5 rounds, +100 ms). */
	const char *announce_dev;         /* NULL: each vif's master (its bridge) */
	uint32_t announce_initial_ms;     /* delay before the first round; default 50 */
	uint32_t announce_rounds;         /* default 5 */
	uint32_t announce_step_ms;        /* each gap grows by this; default 100 */
	struct xentoollog_logger *lg;     /* may be NULL */
};

void migr_fwd_params_init(struct migr_fwd_params *p);

struct migr_fwd;  /* one end of one migration's forwarding */

/*
 * Source side, at switch-over (the guest is suspended). Removes leftovers of the same id
 * first (migr_fwd_cleanup(id)), then creates the VXLAN device and the filters. On failure
 * nothing is left behind. -EEXIST: another migration uses the same VNI and port.
 * With MIGR_FWD_DIVERT_LATER the filters wait for migr_fwd_source_divert().
 */
int migr_fwd_source_start(const struct migr_fwd_params *p, struct migr_fwd **f_r);

/*
 * Source side, a handle started with MIGR_FWD_DIVERT_LATER: from now on the guest's frames
 * go into the tunnel (held, with MIGR_FWD_HOLD). The quiet period and the maximum count
 * from here. 0 if done already; on failure the filters added are left to
 * migr_fwd_finish(), which removes everything.
 */
int migr_fwd_source_divert(struct migr_fwd *f);

/*
 * Target side, once the guest's vifs exist and before it is unpaused: VXLAN device,
 * filters redirecting the guest's MACs (and ARP/ND for its addresses) to its vifs. The
 * first announcement round is due announce_initial_ms after this returns (with
 * MIGR_FWD_LIVE_LATER: after migr_fwd_target_live()); migr_fwd_poll() sends the rounds
 * when due, so keep polling.
 */
int migr_fwd_target_start(const struct migr_fwd_params *p, struct migr_fwd **f_r);

/*
 * Target side, a handle started with MIGR_FWD_LIVE_LATER: the guest runs from now. The
 * first announcement round is due announce_initial_ms after this returns, and the quiet
 * period and the maximum count from here. 0 if live already.
 */
int migr_fwd_target_live(struct migr_fwd *f);

enum migr_fwd_end {
	MIGR_FWD_RUNNING = 0,             /* not over yet */
	MIGR_FWD_END_QUIET,               /* nothing forwarded for quiet_ms */
	MIGR_FWD_END_MAX,                 /* max_ms reached */
	MIGR_FWD_END_STOP,                /* migr_fwd_request_stop() was called */
	MIGR_FWD_END_GONE,                /* our device vanished (e.g. `migr cleanup`) */
};

const char *migr_fwd_end_name(enum migr_fwd_end e);

struct migr_fwd_status {
	enum migr_fwd_end end;
	uint64_t packets;                 /* forwarded (source) / delivered (target) so far */
	uint64_t bytes;
	uint64_t arp_packets;             /* of which ARP requests / neighbour solicitations */
	uint32_t elapsed_ms;              /* since start */
	uint32_t idle_ms;                 /* since the counters last moved (or since start) */
	uint32_t announce_rounds_done;    /* target */
	uint32_t next_poll_ms;            /* call migr_fwd_poll() again after this long */
	unsigned int n_filters;           /* filters in place */
	/* Source, MIGR_FWD_HOLD: the hold. */
	int hold;                         /* MIGR_FWD_HOLD_* below */
	uint64_t held_packets;            /* in the hold now, or let out at the release */
	uint64_t held_bytes;
	uint64_t hold_dropped;            /* dropped over the cap */
};

#define MIGR_FWD_HOLD_NONE        0   /* not asked for */
#define MIGR_FWD_HOLD_HOLDING     1
#define MIGR_FWD_HOLD_RELEASED    2
#define MIGR_FWD_HOLD_UNAVAILABLE 3   /* asked for; the kernel has no sch_plug */

/*
 * Reads the counters, sends a due announcement round, checks for a stop signal and
 * decides whether forwarding is over (st_r->end). Never blocks beyond netlink round
 * trips. Once end is set it stays set; the caller then calls migr_fwd_finish().
 */
int migr_fwd_poll(struct migr_fwd *f, struct migr_fwd_status *st_r);

/*
 * Source, MIGR_FWD_HOLD: lets out, in order, what the hold kept, and lets everything pass
 * from then on. The counts of what was held are kept for the status. 0 when there is no
 * hold (or it was released already).
 */
int migr_fwd_release(struct migr_fwd *f);

/* Polls every st.next_poll_ms until forwarding is over; st_r gets the last status. */
int migr_fwd_run(struct migr_fwd *f, struct migr_fwd_status *st_r);

/*
 * Removes every filter, qdisc and device start made and frees f (NULL is fine). When
 * final_r is not NULL it gets the last counters (read just before the teardown). Returns
 * the first teardown error; f is freed whatever happens, and whatever could not be removed
 * is left for migr_fwd_cleanup(id).
 */
int migr_fwd_finish(struct migr_fwd *f, struct migr_fwd_status *final_r);

/*
 * The explicit end signal: marks id's forwarding (in this network namespace) as asked to
 * stop; the owner's next migr_fwd_poll() reports MIGR_FWD_END_STOP. -ENOENT: no
 * forwarding with that id here.
 */
int migr_fwd_request_stop(const char *id, struct xentoollog_logger *lg);

struct migr_fwd_cleanup_stats {
	unsigned int devices;             /* VXLAN devices removed (or found, with DRY_RUN) */
	unsigned int filters;             /* tc filters removed */
	unsigned int qdiscs;              /* ingress qdiscs migr had added, removed */
	unsigned int spared;              /* ORPHANS: devices a live process owns, kept */
};

#define MIGR_FWD_CLEANUP_DRY_RUN 0x1u   /* only count what would be removed */
/* With id NULL: only what no live process owns. A handle holds an owner token (an
 * abstract unix socket named after its id and side, in its network namespace) from
 * before start makes anything until finish removed it all; the kernel drops the token
 * when the process dies. What a killed process left is removed, what a running migration
 * (or `migr forward`) in another process forwards is not. For a daemon's start-up. */
#define MIGR_FWD_CLEANUP_ORPHANS 0x2u

/*
 * Removes every forwarding object of migration id from this network namespace, or of
 * every migration when id is NULL (with MIGR_FWD_CLEANUP_ORPHANS, of every migration no
 * live process owns). Safe while nothing of it exists (all counts 0).
 */
int migr_fwd_cleanup(const char *id, unsigned int flags, struct xentoollog_logger *lg,
		     struct migr_fwd_cleanup_stats *st_r);

/*
 * The addresses this host's neighbour tables (ARP and IPv6 ND, of the calling thread's
 * network namespace) resolve to mac, skipping entries that are incomplete or failed and
 * multicast addresses: at most max into v, *n_r how many (0 is not an error). For a
 * guest NIC whose vif has no ip= setting: the source dom0 has talked to it, or has seen
 * it answer on the bridge, more often than not.
 */
int migr_fwd_neigh_find(const uint8_t mac[6], struct migr_fwd_addr *v, unsigned int max,
			unsigned int *n_r);

/* Derived names. Both return -EINVAL for an invalid id. */
int migr_fwd_ifname(const char *id, char name_r[MIGR_FWD_IFNAME_LEN]);  /* "mfw" + 12 hex */
int migr_fwd_vni(const char *id, uint32_t *vni_r);                       /* 1..2^24-1 */
int migr_fwd_id_valid(const char *id);                                   /* 1 or 0 */

/* "00:16:3e:01:02:03" -> mac; "169.254.0.1" or "fe80::1" -> addr. -EINVAL otherwise. */
int migr_fwd_parse_mac(const char *s, uint8_t mac_r[6]);
int migr_fwd_parse_addr(const char *s, struct migr_fwd_addr *addr_r);

#endif /* MIGR_FWD_H */

/*
 * fwd_int.h: internals of the brownout forwarding (libmigr/fwd*.c, libmigr/nl_mnl.c).
 *
 *   nl_mnl.c       a small rtnetlink client over libmnl: request/ACK and dumps
 *   fwd_msg.c      pure builders and parsers of the messages (no I/O; unit-tested)
 *   fwd_announce.c RARP / gratuitous ARP / unsolicited NA frames and their sending
 *   fwd.c          the two ends, polling, teardown and cleanup by migration id
 */
#ifndef MIGR_FWD_INT_H
#define MIGR_FWD_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <linux/netlink.h>
#include "migr/fwd.h"

struct xentoollog_logger;

/* ---- nl_mnl.c ---------------------------------------------------------------- */

struct migr__nl;

int migr__nl_open(struct migr__nl **nl_r);
void migr__nl_close(struct migr__nl *nl);
/* A request buffer large enough for any message fwd builds. */
#define MIGR__NL_BUFSZ 8192
/*
 * Sends nlh (seq and portid are filled in) and reads replies until the ACK or, for a dump,
 * NLMSG_DONE. cb (may be NULL) sees each data message; a negative return stops and is
 * returned. Returns 0 or -errno (the kernel's error for the request).
 */
typedef int (*migr__nl_cb)(const struct nlmsghdr *nlh, void *data);
int migr__nl_talk(struct migr__nl *nl, struct nlmsghdr *nlh, migr__nl_cb cb, void *data);

/* ---- fwd_msg.c: names and tags -------------------------------------------------- */

/* 48-bit tag of an id (FNV-1a 64, folded); the ifname is "mfw" + 12 hex digits of it. */
uint64_t migr__fwd_tag(const char *id);

#define MIGR__FWD_ALIAS_PREFIX "migr-fwd "
#define MIGR__FWD_ALIAS_STOP   " stop"
#define MIGR__FWD_IFPREFIX     "mfw"

/* tc priorities of our filters: one per protocol (a u32 instance per prio+protocol). */
#define MIGR__FWD_PRIO_MAC  1101   /* protocol all: destination MAC */
#define MIGR__FWD_PRIO_ARP  1102   /* protocol ARP: target protocol address */
#define MIGR__FWD_PRIO_ND   1103   /* protocol IPv6: neighbour solicitation target */
#define MIGR__FWD_PRIO_BYPASS 1104 /* protocol IPv4, on the egress of the bridge the tunnel
                                      leaves by: its packets, to the bridge's port toward
                                      the peer (fwd.c, "Past the bridge") */

/*
 * The cookie of each mirred action: "mF", version, flags, the 48-bit tag, the NIC index
 * and the kind. It is how teardown and cleanup find our filters among others.
 */
#define MIGR__FWD_COOKIE_LEN 12
#define MIGR__FWD_CK_QDISC   0x01  /* the qdisc it sits on (ingress; clsact for a bypass)
                                      was added by migr */
#define MIGR__FWD_CK_TARGET  0x02  /* target side (delivery) */

enum migr__fwd_kind { MIGR__FWD_K_MAC = 1, MIGR__FWD_K_ARP = 2, MIGR__FWD_K_ND = 3,
		      MIGR__FWD_K_BYPASS = 4 };

struct migr__fwd_cookie {
	uint8_t flags;
	uint64_t tag;                 /* 48 bits */
	uint8_t nic;
	uint8_t kind;                 /* enum migr__fwd_kind */
};

void migr__fwd_cookie_encode(const struct migr__fwd_cookie *c, uint8_t out[MIGR__FWD_COOKIE_LEN]);
int migr__fwd_cookie_decode(const void *buf, size_t len, struct migr__fwd_cookie *c_r);

/* ---- fwd_msg.c: builders (into a MIGR__NL_BUFSZ buffer; return the header) -------- */

struct migr__fwd_vxlan {
	const char *ifname;
	const char *alias;
	uint32_t vni;
	uint16_t port;
	struct migr_fwd_addr local, peer;
	uint32_t underlay_ifindex;   /* 0: none */
};

struct nlmsghdr *migr__fwd_msg_newvxlan(void *buf, const struct migr__fwd_vxlan *v);
/* Sets or clears IFF_UP and the IPv6 address generation mode (none) of ifindex. */
struct nlmsghdr *migr__fwd_msg_setlink(void *buf, uint32_t ifindex, bool up, bool no_ipv6ll);
struct nlmsghdr *migr__fwd_msg_setalias(void *buf, uint32_t ifindex, const char *alias);
struct nlmsghdr *migr__fwd_msg_dellink(void *buf, uint32_t ifindex);
struct nlmsghdr *migr__fwd_msg_getlink(void *buf, uint32_t ifindex);  /* 0: dump all */

struct nlmsghdr *migr__fwd_msg_newingress(void *buf, uint32_t ifindex);
struct nlmsghdr *migr__fwd_msg_delingress(void *buf, uint32_t ifindex);

/* One filter: what it matches, where it redirects, its cookie. */
struct migr__fwd_filter {
	enum migr__fwd_kind kind;
	uint8_t mac[6];               /* K_MAC */
	struct in_addr ip4;           /* K_ARP */
	struct in6_addr ip6;          /* K_ND */
	struct in_addr peer4;         /* K_BYPASS: the tunnel's peer, UDP port and VNI */
	uint16_t port;
	uint32_t vni;
	uint32_t to_ifindex;          /* mirred egress redirect target */
	struct migr__fwd_cookie cookie;
};

struct nlmsghdr *migr__fwd_msg_newfilter(void *buf, uint32_t ifindex,
					 const struct migr__fwd_filter *flt);
struct nlmsghdr *migr__fwd_msg_delfilter(void *buf, uint32_t ifindex, uint16_t prio,
					 uint16_t proto, uint32_t handle);
struct nlmsghdr *migr__fwd_msg_dumpfilters(void *buf, uint32_t ifindex);
/* K_BYPASS filters sit on the egress of a clsact qdisc (delfilter knows them by prio). */
struct nlmsghdr *migr__fwd_msg_dumpfilters_egress(void *buf, uint32_t ifindex);
struct nlmsghdr *migr__fwd_msg_newclsact(void *buf, uint32_t ifindex);
struct nlmsghdr *migr__fwd_msg_delclsact(void *buf, uint32_t ifindex);

/*
 * The hold (source): a plug qdisc (sch_plug, made for Remus's output buffering) at the
 * root of the tunnel device. Created holding: what the filters send into the tunnel waits
 * there, up to limit bytes (more is dropped and counted), until RELEASE_INDEFINITE lets it
 * all out in order and makes it pass straight through from then on.
 */
#define MIGR__FWD_HOLD_HANDLE 0x4d460000u     /* "MF": */
struct nlmsghdr *migr__fwd_msg_newplug(void *buf, uint32_t ifindex, uint32_t limit);
struct nlmsghdr *migr__fwd_msg_releaseplug(void *buf, uint32_t ifindex);
/* The root qdisc of ifindex (RTM_GETQDISC, no dump, echoed: see fwd_msg.c). */
struct nlmsghdr *migr__fwd_msg_getroot(void *buf, uint32_t ifindex);

/* ---- fwd_msg.c: parsers of the kernel's answers ----------------------------------- */

struct migr__fwd_qdisc {
	uint32_t ifindex;
	uint32_t handle, parent;
	char kind[16];
	uint64_t packets, bytes;      /* dequeued (sent on) */
	uint32_t qlen, backlog, drops;
};

/* RTM_NEWQDISC -> its kind and counters; -ENOMSG if the message is not a usable qdisc. */
int migr__fwd_parse_qdisc(const struct nlmsghdr *nlh, struct migr__fwd_qdisc *q_r);

struct migr__fwd_link {
	uint32_t ifindex;
	uint32_t master;              /* 0: none */
	char name[16];
	char kind[16];                /* IFLA_INFO_KIND, "" if none */
	char alias[256];
	bool up;
	bool vlan_filtering;          /* a bridge that tags and untags on its ports */
};

/* RTM_NEWLINK -> link; -ENOMSG if the message is not a usable link. */
int migr__fwd_parse_link(const struct nlmsghdr *nlh, struct migr__fwd_link *l_r);

struct migr__fwd_filter_info {
	uint32_t ifindex;
	uint32_t handle;
	uint16_t prio;
	uint16_t proto;               /* host order (ETH_P_*) */
	bool has_cookie;              /* a valid migr cookie was found */
	struct migr__fwd_cookie cookie;
	uint64_t packets, bytes;      /* the action's counters */
};

/* One neighbour table entry (RTM_NEWNEIGH): an address and the MAC it resolves to. */
struct migr__fwd_neigh {
	uint32_t ifindex;
	uint16_t state;               /* NUD_* */
	struct migr_fwd_addr addr;
	uint8_t mac[6];
};

/* RTM_GETNEIGH dump of one family (AF_INET, AF_INET6). */
struct nlmsghdr *migr__fwd_msg_getneigh(void *buf, int family);
/* RTM_NEWNEIGH -> entry; -ENOMSG if it is not an IPv4/IPv6 entry with a 6-byte MAC. */
int migr__fwd_parse_neigh(const struct nlmsghdr *nlh, struct migr__fwd_neigh *n_r);

/* One bridge forwarding database entry (RTM_NEWNEIGH, AF_BRIDGE): a MAC behind a port. */
struct migr__fwd_fdb {
	uint32_t port;                /* the port's ifindex */
	uint32_t master;              /* its bridge (NDA_MASTER; 0: not given) */
	uint8_t mac[6];
};
int migr__fwd_parse_fdb(const struct nlmsghdr *nlh, struct migr__fwd_fdb *e_r);

/* RTM_NEWTFILTER -> info; -ENOMSG for anything that is not a u32 filter with an action. */
int migr__fwd_parse_filter(const struct nlmsghdr *nlh, struct migr__fwd_filter_info *f_r);

/* ---- fwd_announce.c -------------------------------------------------------------- */

#define MIGR__FWD_FRAME_MAX 128
/* Frames into buf (>= MIGR__FWD_FRAME_MAX); return the length. */
size_t migr__fwd_frame_rarp(uint8_t *buf, const uint8_t mac[6]);
size_t migr__fwd_frame_garp(uint8_t *buf, const uint8_t mac[6], struct in_addr ip);
size_t migr__fwd_frame_una(uint8_t *buf, const uint8_t mac[6], const struct in6_addr *ip);
/* Sends one frame on ifindex through the AF_PACKET socket fd. */
int migr__fwd_send_frame(int fd, uint32_t ifindex, const uint8_t *frame, size_t len);

/* Delay before announcement round r (0-based), measured from the previous round or, for
 * r = 0, from start: initial, initial + step, initial + 2 step, ... (QEMU announce-self). */
uint32_t migr__fwd_announce_gap(uint32_t initial_ms, uint32_t step_ms, uint32_t r);

/* ---- xen_vif.c: a net device's numeric attribute ------------------------------------ */

/* /sys/class/net/IFNAME/ATTR as a number (ATTR may name a subdirectory's file, as
 * "statistics/rx_packets"). 0, or -errno (-EINVAL: IFNAME has a '/' or the file no number). */
int migr__netdev_attr(const char *ifname, const char *attr, uint64_t *v_r);

/* ---- fwd.c: the end-of-forwarding decision, a pure function ------------------------ */

enum migr_fwd_end migr__fwd_decide(uint32_t elapsed_ms, uint32_t idle_ms, uint32_t quiet_ms,
				   uint32_t max_ms, bool stop_requested, bool gone,
				   bool announcing);

#endif

/*
 * fwd_msg.c: the rtnetlink messages of the brownout forwarding, built and parsed without
 * any I/O (so the unit tests check them byte for byte), and the names derived from a
 * migration id.
 *
 * Builders write into a caller's MIGR__NL_BUFSZ buffer and return the header; parsers take
 * the kernel's answers, which are checked attribute by attribute (libmnl validates each
 * length before it is read). The u32 selectors are those of iproute2's `match ether dst`
 * (aligned keys at -16 and -12 from the network header, i.e. inside the Ethernet header,
 * which the ingress hook still has in front of skb->data).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <linux/gen_stats.h>
#include <libmnl/libmnl.h>
#include "fwd_int.h"
#include "util.h"

/* ---- names ------------------------------------------------------------------------ */

int migr_fwd_id_valid(const char *id)
{
	size_t n;

	if (!id)
		return 0;
	n = strlen(id);
	if (n < 1 || n > MIGR_FWD_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

uint64_t migr__fwd_tag(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return (h ^ (h >> 48)) & 0xffffffffffffull;
}

int migr_fwd_ifname(const char *id, char name_r[MIGR_FWD_IFNAME_LEN])
{
	if (!migr_fwd_id_valid(id))
		return -EINVAL;
	snprintf(name_r, MIGR_FWD_IFNAME_LEN, MIGR__FWD_IFPREFIX "%012llx",
		 (unsigned long long)migr__fwd_tag(id));
	return 0;
}

int migr_fwd_vni(const char *id, uint32_t *vni_r)
{
	uint32_t v;

	if (!migr_fwd_id_valid(id))
		return -EINVAL;
	v = (uint32_t)(migr__fwd_tag(id) % 0xfffffeu) + 1;   /* 1 .. 2^24-2 */
	*vni_r = v;
	return 0;
}

int migr_fwd_parse_mac(const char *s, uint8_t mac_r[6])
{
	unsigned int b[6];
	char tail;

	if (!s || strlen(s) != 17)
		return -EINVAL;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (s[i * 3] == ' ' || s[i * 3] == '+' || s[i * 3] == '-' ||
		    (i < 5 && s[i * 3 + 2] != ':'))
			return -EINVAL;
	}
	for (int i = 0; i < 6; i++)
		mac_r[i] = (uint8_t)b[i];
	return 0;
}

int migr_fwd_parse_addr(const char *s, struct migr_fwd_addr *addr_r)
{
	struct migr_fwd_addr a;

	if (!s)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, s, &a.v4) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, &a.v6) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	*addr_r = a;
	return 0;
}

/* ---- cookies ---------------------------------------------------------------------- */

void migr__fwd_cookie_encode(const struct migr__fwd_cookie *c, uint8_t out[MIGR__FWD_COOKIE_LEN])
{
	out[0] = 'm';
	out[1] = 'F';
	out[2] = 1;                        /* version */
	out[3] = c->flags;
	for (int i = 0; i < 6; i++)
		out[4 + i] = (uint8_t)(c->tag >> (8 * (5 - i)));
	out[10] = c->nic;
	out[11] = c->kind;
}

int migr__fwd_cookie_decode(const void *buf, size_t len, struct migr__fwd_cookie *c_r)
{
	const uint8_t *b = buf;
	struct migr__fwd_cookie c;

	if (len != MIGR__FWD_COOKIE_LEN || b[0] != 'm' || b[1] != 'F' || b[2] != 1)
		return -ENOMSG;
	if (b[11] < MIGR__FWD_K_MAC || b[11] > MIGR__FWD_K_BYPASS)
		return -ENOMSG;
	c.flags = b[3];
	c.tag = 0;
	for (int i = 0; i < 6; i++)
		c.tag = (c.tag << 8) | b[4 + i];
	c.nic = b[10];
	c.kind = b[11];
	*c_r = c;
	return 0;
}

/* ---- links -------------------------------------------------------------------------- */

static struct nlmsghdr *put_link_header(void *buf, uint16_t type, uint16_t flags,
					uint32_t ifindex, struct ifinfomsg **ifi_r)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	if (ifi_r)
		*ifi_r = ifi;
	return nlh;
}

struct nlmsghdr *migr__fwd_msg_newvxlan(void *buf, const struct migr__fwd_vxlan *v)
{
	struct nlmsghdr *nlh = put_link_header(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, NULL);
	struct nlattr *info, *data;

	mnl_attr_put_strz(nlh, IFLA_IFNAME, v->ifname);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "vxlan");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u32(nlh, IFLA_VXLAN_ID, v->vni);
	if (v->peer.family == AF_INET)
		mnl_attr_put(nlh, IFLA_VXLAN_GROUP, sizeof(v->peer.v4), &v->peer.v4);
	else if (v->peer.family == AF_INET6)
		mnl_attr_put(nlh, IFLA_VXLAN_GROUP6, sizeof(v->peer.v6), &v->peer.v6);
	if (v->local.family == AF_INET)
		mnl_attr_put(nlh, IFLA_VXLAN_LOCAL, sizeof(v->local.v4), &v->local.v4);
	else if (v->local.family == AF_INET6)
		mnl_attr_put(nlh, IFLA_VXLAN_LOCAL6, sizeof(v->local.v6), &v->local.v6);
	mnl_attr_put_u16(nlh, IFLA_VXLAN_PORT, htons(v->port));
	mnl_attr_put_u8(nlh, IFLA_VXLAN_LEARNING, 0);
	/* IPv4: zero outer UDP checksum, as RFC 7348 recommends (the inner frame carries its
	 * own); computing it costs the forwarded path dearly. IPv6 requires one. */
	if (v->peer.family == AF_INET)
		mnl_attr_put_u8(nlh, IFLA_VXLAN_UDP_CSUM, 0);
	if (v->underlay_ifindex)
		mnl_attr_put_u32(nlh, IFLA_VXLAN_LINK, v->underlay_ifindex);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nlh;
}

struct nlmsghdr *migr__fwd_msg_setlink(void *buf, uint32_t ifindex, bool up, bool no_ipv6ll)
{
	struct ifinfomsg *ifi;
	struct nlmsghdr *nlh = put_link_header(buf, RTM_NEWLINK, 0, ifindex, &ifi);

	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	if (no_ipv6ll) {
		struct nlattr *af = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
		struct nlattr *in6 = mnl_attr_nest_start(nlh, AF_INET6);
		mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
		mnl_attr_nest_end(nlh, in6);
		mnl_attr_nest_end(nlh, af);
	}
	return nlh;
}

struct nlmsghdr *migr__fwd_msg_setalias(void *buf, uint32_t ifindex, const char *alias)
{
	struct nlmsghdr *nlh = put_link_header(buf, RTM_NEWLINK, 0, ifindex, NULL);

	mnl_attr_put_strz(nlh, IFLA_IFALIAS, alias);
	return nlh;
}

struct nlmsghdr *migr__fwd_msg_dellink(void *buf, uint32_t ifindex)
{
	return put_link_header(buf, RTM_DELLINK, 0, ifindex, NULL);
}

struct nlmsghdr *migr__fwd_msg_getlink(void *buf, uint32_t ifindex)
{
	return put_link_header(buf, RTM_GETLINK, ifindex ? 0 : NLM_F_DUMP, ifindex, NULL);
}

/* ---- neighbours -------------------------------------------------------------------- */

struct nlmsghdr *migr__fwd_msg_getneigh(void *buf, int family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ndmsg *ndm;

	nlh->nlmsg_type = RTM_GETNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = (uint8_t)family;
	return nlh;
}

/* ---- tc --------------------------------------------------------------------------- */

#define INGRESS_PARENT TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)
#define EGRESS_PARENT  TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)

static struct nlmsghdr *put_tc_header(void *buf, uint16_t type, uint16_t flags,
				      uint32_t ifindex, uint32_t parent, uint32_t handle,
				      uint32_t info)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct tcmsg *tcm;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = (int)ifindex;
	tcm->tcm_parent = parent;
	tcm->tcm_handle = handle;
	tcm->tcm_info = info;
	return nlh;
}

struct nlmsghdr *migr__fwd_msg_newingress(void *buf, uint32_t ifindex)
{
	struct nlmsghdr *nlh = put_tc_header(buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL,
					     ifindex, TC_H_INGRESS, TC_H_MAKE(TC_H_INGRESS, 0), 0);

	mnl_attr_put_strz(nlh, TCA_KIND, "ingress");
	return nlh;
}

struct nlmsghdr *migr__fwd_msg_newclsact(void *buf, uint32_t ifindex)
{
	struct nlmsghdr *nlh = put_tc_header(buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL,
					     ifindex, TC_H_CLSACT, TC_H_MAKE(TC_H_CLSACT, 0), 0);

	mnl_attr_put_strz(nlh, TCA_KIND, "clsact");
	return nlh;
}

struct nlmsghdr *migr__fwd_msg_delclsact(void *buf, uint32_t ifindex)
{
	return put_tc_header(buf, RTM_DELQDISC, 0, ifindex, TC_H_CLSACT,
			     TC_H_MAKE(TC_H_CLSACT, 0), 0);
}

struct nlmsghdr *migr__fwd_msg_newplug(void *buf, uint32_t ifindex, uint32_t limit)
{
	struct tc_plug_qopt q = { .action = TCQ_PLUG_BUFFER, .limit = limit };
	struct nlmsghdr *nlh = put_tc_header(buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL,
					     ifindex, TC_H_ROOT, MIGR__FWD_HOLD_HANDLE, 0);

	mnl_attr_put_strz(nlh, TCA_KIND, "plug");
	mnl_attr_put(nlh, TCA_OPTIONS, sizeof(q), &q);
	return nlh;
}

struct nlmsghdr *migr__fwd_msg_releaseplug(void *buf, uint32_t ifindex)
{
	struct tc_plug_qopt q = { .action = TCQ_PLUG_RELEASE_INDEFINITE };
	struct nlmsghdr *nlh = put_tc_header(buf, RTM_NEWQDISC, 0, ifindex, TC_H_ROOT,
					     MIGR__FWD_HOLD_HANDLE, 0);

	mnl_attr_put_strz(nlh, TCA_KIND, "plug");
	mnl_attr_put(nlh, TCA_OPTIONS, sizeof(q), &q);
	return nlh;
}

/* NLM_F_ECHO: the kernel answers a qdisc GET through qdisc_notify(), which sends it to the
 * TC multicast group and to the asker only when asked to echo; without it the asker gets
 * the ACK alone, and the hold's counters were never read. */
struct nlmsghdr *migr__fwd_msg_getroot(void *buf, uint32_t ifindex)
{
	return put_tc_header(buf, RTM_GETQDISC, NLM_F_ECHO, ifindex, TC_H_ROOT, 0, 0);
}

struct nlmsghdr *migr__fwd_msg_delingress(void *buf, uint32_t ifindex)
{
	return put_tc_header(buf, RTM_DELQDISC, 0, ifindex, TC_H_INGRESS,
			     TC_H_MAKE(TC_H_INGRESS, 0), 0);
}

static void filter_prio_proto(enum migr__fwd_kind kind, uint16_t *prio, uint16_t *proto)
{
	switch (kind) {
	case MIGR__FWD_K_ARP:
		*prio = MIGR__FWD_PRIO_ARP;
		*proto = ETH_P_ARP;
		break;
	case MIGR__FWD_K_ND:
		*prio = MIGR__FWD_PRIO_ND;
		*proto = ETH_P_IPV6;
		break;
	case MIGR__FWD_K_BYPASS:
		*prio = MIGR__FWD_PRIO_BYPASS;
		*proto = ETH_P_IP;
		break;
	default:
		*prio = MIGR__FWD_PRIO_MAC;
		*proto = ETH_P_ALL;
		break;
	}
}

static void add_key(struct tc_u32_sel *sel, int off, uint32_t mask, uint32_t val)
{
	struct tc_u32_key *k = &sel->keys[sel->nkeys++];

	k->off = off;
	k->mask = htonl(mask);
	k->val = htonl(val) & k->mask;
	k->offmask = 0;
}


struct nlmsghdr *migr__fwd_msg_newfilter(void *buf, uint32_t ifindex,
					 const struct migr__fwd_filter *flt)
{
	struct {
		struct tc_u32_sel sel;
		struct tc_u32_key keys[8];
	} s;
	struct tc_mirred mirred;
	uint8_t cookie[MIGR__FWD_COOKIE_LEN];
	struct nlattr *opts, *acts, *act, *aopts;
	struct nlmsghdr *nlh;
	uint16_t prio, proto;

	filter_prio_proto(flt->kind, &prio, &proto);
	nlh = put_tc_header(buf, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, ifindex,
			    flt->kind == MIGR__FWD_K_BYPASS ? EGRESS_PARENT : INGRESS_PARENT, 0,
			    TC_H_MAKE((uint32_t)prio << 16, htons(proto)));

	memset(&s, 0, sizeof(s));
	s.sel.flags = TC_U32_TERMINAL;
	switch (flt->kind) {
	case MIGR__FWD_K_ARP:
		/* ARP requests (op 1 at 6) for the address (target protocol address at 24).
		 * Announcements are replies, so the target's own never bounce back. */
		add_key(&s.sel, 4, 0x0000ffff, 1);
		add_key(&s.sel, 24, 0xffffffff, ntohl(flt->ip4.s_addr));
		break;
	case MIGR__FWD_K_ND:
		/* IPv6 next header ICMPv6 (58), type neighbour solicitation (135), target. */
		add_key(&s.sel, 4, 0x0000ff00, 58 << 8);
		add_key(&s.sel, 40, 0xff000000, 135u << 24);
		for (int i = 0; i < 4; i++)
			add_key(&s.sel, 48 + 4 * i, 0xffffffff, migr__get_be32(flt->ip6.s6_addr + 4 * i));
		break;
	case MIGR__FWD_K_BYPASS:
		/* IPv4 without options (the tunnel's own: 5 words), UDP, to the peer, to the
		 * tunnel's port, with the tunnel's VNI (bytes 4-6 of the VXLAN header): another
		 * overlay's packets to the same host stay on the bridge */
		add_key(&s.sel, 0, 0x0f000000, 5u << 24);
		add_key(&s.sel, 8, 0x00ff0000, 17u << 16);
		add_key(&s.sel, 16, 0xffffffff, ntohl(flt->peer4.s_addr));
		add_key(&s.sel, 20, 0x0000ffff, flt->port);
		add_key(&s.sel, 32, 0xffffff00, (flt->vni & 0xffffff) << 8);
		break;
	default:
		/* Destination MAC: bytes -14..-9 from the network header. */
		add_key(&s.sel, -16, 0x0000ffff, (uint32_t)flt->mac[0] << 8 | flt->mac[1]);
		add_key(&s.sel, -12, 0xffffffff, migr__get_be32(flt->mac + 2));
		break;
	}

	memset(&mirred, 0, sizeof(mirred));
	mirred.action = TC_ACT_STOLEN;
	mirred.eaction = TCA_EGRESS_REDIR;
	mirred.ifindex = flt->to_ifindex;
	migr__fwd_cookie_encode(&flt->cookie, cookie);

	mnl_attr_put_strz(nlh, TCA_KIND, "u32");
	opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	mnl_attr_put(nlh, TCA_U32_SEL, sizeof(s.sel) + s.sel.nkeys * sizeof(s.keys[0]), &s);
	acts = mnl_attr_nest_start(nlh, TCA_U32_ACT);
	act = mnl_attr_nest_start(nlh, 1);
	mnl_attr_put_strz(nlh, TCA_ACT_KIND, "mirred");
	mnl_attr_put(nlh, TCA_ACT_COOKIE, sizeof(cookie), cookie);
	aopts = mnl_attr_nest_start(nlh, TCA_ACT_OPTIONS);
	mnl_attr_put(nlh, TCA_MIRRED_PARMS, sizeof(mirred), &mirred);
	mnl_attr_nest_end(nlh, aopts);
	mnl_attr_nest_end(nlh, act);
	mnl_attr_nest_end(nlh, acts);
	mnl_attr_nest_end(nlh, opts);
	return nlh;
}

struct nlmsghdr *migr__fwd_msg_delfilter(void *buf, uint32_t ifindex, uint16_t prio,
					 uint16_t proto, uint32_t handle)
{
	struct nlmsghdr *nlh = put_tc_header(buf, RTM_DELTFILTER, 0, ifindex,
					     prio == MIGR__FWD_PRIO_BYPASS ? EGRESS_PARENT :
					     INGRESS_PARENT, handle,
					     TC_H_MAKE((uint32_t)prio << 16, htons(proto)));

	mnl_attr_put_strz(nlh, TCA_KIND, "u32");
	return nlh;
}

struct nlmsghdr *migr__fwd_msg_dumpfilters(void *buf, uint32_t ifindex)
{
	return put_tc_header(buf, RTM_GETTFILTER, NLM_F_DUMP, ifindex, INGRESS_PARENT, 0, 0);
}

struct nlmsghdr *migr__fwd_msg_dumpfilters_egress(void *buf, uint32_t ifindex)
{
	return put_tc_header(buf, RTM_GETTFILTER, NLM_F_DUMP, ifindex, EGRESS_PARENT, 0, 0);
}

/* ---- parsers ---------------------------------------------------------------------- */

struct attrs {
	const struct nlattr *tb[64];
	int max;
};

static int collect_attr(const struct nlattr *a, void *data)
{
	struct attrs *at = data;
	int type = mnl_attr_get_type(a);

	if (type >= 0 && type <= at->max && type < 64)
		at->tb[type] = a;
	return MNL_CB_OK;
}

static int parse_nested(const struct nlattr *nest, struct attrs *at, int max)
{
	memset(at, 0, sizeof(*at));
	at->max = max;
	if (mnl_attr_validate(nest, MNL_TYPE_NESTED) < 0)
		return -EINVAL;
	return mnl_attr_parse_nested(nest, collect_attr, at) < 0 ? -EINVAL : 0;
}

/* A NUL-terminated string attribute into buf (truncated to fit); -EINVAL if malformed. */
static int get_str(const struct nlattr *a, char *buf, size_t size)
{
	size_t len;
	const char *s;

	if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
		return -EINVAL;
	s = mnl_attr_get_str(a);
	len = strnlen(s, mnl_attr_get_payload_len(a));
	if (len >= size)
		len = size - 1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

int migr__fwd_parse_link(const struct nlmsghdr *nlh, struct migr__fwd_link *l_r)
{
	struct migr__fwd_link l;
	const struct ifinfomsg *ifi;
	struct attrs at;

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return -ENOMSG;
	ifi = mnl_nlmsg_get_payload(nlh);
	memset(&l, 0, sizeof(l));
	memset(&at, 0, sizeof(at));
	at.max = IFLA_MAX;
	if (mnl_attr_parse(nlh, sizeof(*ifi), collect_attr, &at) < 0)
		return -ENOMSG;
	if (ifi->ifi_index <= 0 || !at.tb[IFLA_IFNAME])
		return -ENOMSG;
	l.ifindex = (uint32_t)ifi->ifi_index;
	l.up = !!(ifi->ifi_flags & IFF_UP);
	if (get_str(at.tb[IFLA_IFNAME], l.name, sizeof(l.name)))
		return -ENOMSG;
	if (at.tb[IFLA_MASTER]) {
		if (mnl_attr_validate(at.tb[IFLA_MASTER], MNL_TYPE_U32) < 0)
			return -ENOMSG;
		l.master = mnl_attr_get_u32(at.tb[IFLA_MASTER]);
	}
	if (at.tb[IFLA_IFALIAS] && get_str(at.tb[IFLA_IFALIAS], l.alias, sizeof(l.alias)))
		return -ENOMSG;
	if (at.tb[IFLA_LINKINFO]) {
		struct attrs li;
		if (parse_nested(at.tb[IFLA_LINKINFO], &li, IFLA_INFO_MAX))
			return -ENOMSG;
		if (li.tb[IFLA_INFO_KIND] && get_str(li.tb[IFLA_INFO_KIND], l.kind, sizeof(l.kind)))
			return -ENOMSG;
		if (!strcmp(l.kind, "bridge") && li.tb[IFLA_INFO_DATA]) {
			struct attrs br;

			if (parse_nested(li.tb[IFLA_INFO_DATA], &br, IFLA_BR_MAX))
				return -ENOMSG;
			if (br.tb[IFLA_BR_VLAN_FILTERING] &&
			    mnl_attr_validate(br.tb[IFLA_BR_VLAN_FILTERING], MNL_TYPE_U8) == 0)
				l.vlan_filtering = mnl_attr_get_u8(br.tb[IFLA_BR_VLAN_FILTERING]) != 0;
		}
	}
	*l_r = l;
	return 0;
}

int migr__fwd_parse_neigh(const struct nlmsghdr *nlh, struct migr__fwd_neigh *n_r)
{
	struct migr__fwd_neigh n;
	const struct ndmsg *ndm;
	struct attrs at;
	size_t alen;

	if (nlh->nlmsg_type != RTM_NEWNEIGH || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ndm)))
		return -ENOMSG;
	ndm = mnl_nlmsg_get_payload(nlh);
	if (ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6)
		return -ENOMSG;
	memset(&n, 0, sizeof(n));
	memset(&at, 0, sizeof(at));
	at.max = NDA_MAX;
	if (mnl_attr_parse(nlh, sizeof(*ndm), collect_attr, &at) < 0)
		return -ENOMSG;
	if (!at.tb[NDA_DST] || !at.tb[NDA_LLADDR] ||
	    mnl_attr_get_payload_len(at.tb[NDA_LLADDR]) != 6)
		return -ENOMSG;
	alen = ndm->ndm_family == AF_INET ? 4 : 16;
	if (mnl_attr_get_payload_len(at.tb[NDA_DST]) != alen)
		return -ENOMSG;
	n.ifindex = ndm->ndm_ifindex > 0 ? (uint32_t)ndm->ndm_ifindex : 0;
	n.state = ndm->ndm_state;
	n.addr.family = ndm->ndm_family;
	if (ndm->ndm_family == AF_INET)
		memcpy(&n.addr.v4, mnl_attr_get_payload(at.tb[NDA_DST]), 4);
	else
		memcpy(&n.addr.v6, mnl_attr_get_payload(at.tb[NDA_DST]), 16);
	memcpy(n.mac, mnl_attr_get_payload(at.tb[NDA_LLADDR]), 6);
	*n_r = n;
	return 0;
}

int migr__fwd_parse_fdb(const struct nlmsghdr *nlh, struct migr__fwd_fdb *e_r)
{
	struct migr__fwd_fdb e;
	const struct ndmsg *ndm;
	struct attrs at;

	if (nlh->nlmsg_type != RTM_NEWNEIGH || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ndm)))
		return -ENOMSG;
	ndm = mnl_nlmsg_get_payload(nlh);
	if (ndm->ndm_family != AF_BRIDGE || ndm->ndm_ifindex <= 0)
		return -ENOMSG;
	memset(&e, 0, sizeof(e));
	memset(&at, 0, sizeof(at));
	at.max = NDA_MAX;
	if (mnl_attr_parse(nlh, sizeof(*ndm), collect_attr, &at) < 0)
		return -ENOMSG;
	if (!at.tb[NDA_LLADDR] || mnl_attr_get_payload_len(at.tb[NDA_LLADDR]) != 6)
		return -ENOMSG;
	if (at.tb[NDA_MASTER]) {
		if (mnl_attr_validate(at.tb[NDA_MASTER], MNL_TYPE_U32) < 0)
			return -ENOMSG;
		e.master = mnl_attr_get_u32(at.tb[NDA_MASTER]);
	}
	e.port = (uint32_t)ndm->ndm_ifindex;
	memcpy(e.mac, mnl_attr_get_payload(at.tb[NDA_LLADDR]), 6);
	*e_r = e;
	return 0;
}

int migr__fwd_parse_qdisc(const struct nlmsghdr *nlh, struct migr__fwd_qdisc *q_r)
{
	struct migr__fwd_qdisc q;
	const struct tcmsg *tcm;
	struct attrs at, st;

	if (nlh->nlmsg_type != RTM_NEWQDISC || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*tcm)))
		return -ENOMSG;
	tcm = mnl_nlmsg_get_payload(nlh);
	memset(&q, 0, sizeof(q));
	memset(&at, 0, sizeof(at));
	at.max = TCA_MAX;
	if (mnl_attr_parse(nlh, sizeof(*tcm), collect_attr, &at) < 0 || !at.tb[TCA_KIND] ||
	    tcm->tcm_ifindex <= 0)
		return -ENOMSG;
	if (get_str(at.tb[TCA_KIND], q.kind, sizeof(q.kind)))
		return -ENOMSG;
	q.ifindex = (uint32_t)tcm->tcm_ifindex;
	q.handle = tcm->tcm_handle;
	q.parent = tcm->tcm_parent;
	if (at.tb[TCA_STATS2] && !parse_nested(at.tb[TCA_STATS2], &st, TCA_STATS_MAX)) {
		const struct nlattr *b = st.tb[TCA_STATS_BASIC], *qu = st.tb[TCA_STATS_QUEUE];
		if (b && mnl_attr_get_payload_len(b) >= 12) {
			uint32_t pkts;
			memcpy(&q.bytes, mnl_attr_get_payload(b), 8);
			memcpy(&pkts, (const uint8_t *)mnl_attr_get_payload(b) + 8, 4);
			q.packets = pkts;
		}
		if (st.tb[TCA_STATS_PKT64] &&
		    mnl_attr_validate(st.tb[TCA_STATS_PKT64], MNL_TYPE_U64) == 0)
			q.packets = mnl_attr_get_u64(st.tb[TCA_STATS_PKT64]);
		if (qu && mnl_attr_get_payload_len(qu) >= sizeof(struct gnet_stats_queue)) {
			struct gnet_stats_queue gq;
			memcpy(&gq, mnl_attr_get_payload(qu), sizeof(gq));
			q.qlen = gq.qlen;
			q.backlog = gq.backlog;
			q.drops = gq.drops;
		}
	}
	*q_r = q;
	return 0;
}

/* The first action of a u32 filter: its cookie and counters. */
static int parse_action(const struct nlattr *act, struct migr__fwd_filter_info *f)
{
	struct attrs at, st;

	if (parse_nested(act, &at, TCA_ACT_MAX))
		return -ENOMSG;
	if (at.tb[TCA_ACT_COOKIE]) {
		f->has_cookie = !migr__fwd_cookie_decode(mnl_attr_get_payload(at.tb[TCA_ACT_COOKIE]),
							 mnl_attr_get_payload_len(at.tb[TCA_ACT_COOKIE]),
							 &f->cookie);
	}
	if (at.tb[TCA_ACT_STATS] && !parse_nested(at.tb[TCA_ACT_STATS], &st, TCA_STATS_MAX)) {
		const struct nlattr *b = st.tb[TCA_STATS_BASIC];
		if (b && mnl_attr_get_payload_len(b) >= 12) {
			uint64_t bytes;
			uint32_t pkts;
			memcpy(&bytes, mnl_attr_get_payload(b), 8);
			memcpy(&pkts, (const uint8_t *)mnl_attr_get_payload(b) + 8, 4);
			f->bytes = bytes;
			f->packets = pkts;
		}
		if (st.tb[TCA_STATS_PKT64] &&
		    mnl_attr_validate(st.tb[TCA_STATS_PKT64], MNL_TYPE_U64) == 0)
			f->packets = mnl_attr_get_u64(st.tb[TCA_STATS_PKT64]);
	}
	return 0;
}

static int first_nested(const struct nlattr *a, void *data)
{
	const struct nlattr **first = data;

	if (!*first)
		*first = a;
	return MNL_CB_OK;
}

int migr__fwd_parse_filter(const struct nlmsghdr *nlh, struct migr__fwd_filter_info *f_r)
{
	struct migr__fwd_filter_info f;
	const struct tcmsg *tcm;
	const struct nlattr *act = NULL;
	struct attrs at, u32;
	char kind[16];

	if (nlh->nlmsg_type != RTM_NEWTFILTER || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*tcm)))
		return -ENOMSG;
	tcm = mnl_nlmsg_get_payload(nlh);
	memset(&at, 0, sizeof(at));
	at.max = TCA_MAX;
	if (mnl_attr_parse(nlh, sizeof(*tcm), collect_attr, &at) < 0)
		return -ENOMSG;
	if (!at.tb[TCA_KIND] || get_str(at.tb[TCA_KIND], kind, sizeof(kind)) || strcmp(kind, "u32"))
		return -ENOMSG;
	if (!at.tb[TCA_OPTIONS] || parse_nested(at.tb[TCA_OPTIONS], &u32, TCA_U32_MAX))
		return -ENOMSG;
	/* Hash-table nodes (no selector) carry no action. */
	if (!u32.tb[TCA_U32_SEL] || !u32.tb[TCA_U32_ACT])
		return -ENOMSG;
	if (mnl_attr_validate(u32.tb[TCA_U32_ACT], MNL_TYPE_NESTED) < 0 ||
	    mnl_attr_parse_nested(u32.tb[TCA_U32_ACT], first_nested, &act) < 0 || !act)
		return -ENOMSG;

	memset(&f, 0, sizeof(f));
	f.ifindex = (uint32_t)tcm->tcm_ifindex;
	f.handle = tcm->tcm_handle;
	f.prio = (uint16_t)(TC_H_MAJ(tcm->tcm_info) >> 16);
	f.proto = ntohs((uint16_t)TC_H_MIN(tcm->tcm_info));
	if (parse_action(act, &f))
		return -ENOMSG;
	*f_r = f;
	return 0;
}

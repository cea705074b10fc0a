/*
 * test_fwd.c: the brownout forwarding's pure parts: names derived from the migration id,
 * parsers, cookies, the rtnetlink messages (built, then read back by the parsers that read
 * the kernel's answers, including every truncation of them), announcement frames, the
 * back-off schedule and the end-of-forwarding decision. The kernel side is tests/net/.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/gen_stats.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>
#include "libmigr.h"
#include "../../libmigr/fwd_int.h"
#include "unit.h"

static void test_names(void)
{
	char a[MIGR_FWD_IFNAME_LEN], b[MIGR_FWD_IFNAME_LEN];
	uint32_t v1 = 0, v2 = 0;

	CHECK(migr_fwd_id_valid("mig-42"));
	CHECK(migr_fwd_id_valid("a"));
	CHECK(migr_fwd_id_valid("host1:dom7.2024_01"));
	CHECK(!migr_fwd_id_valid(""));
	CHECK(!migr_fwd_id_valid(NULL));
	CHECK(!migr_fwd_id_valid("has space"));
	CHECK(!migr_fwd_id_valid("slash/no"));
	CHECK(!migr_fwd_id_valid("quote\"no"));
	{
		char long_id[MIGR_FWD_ID_MAX + 2];
		memset(long_id, 'x', sizeof(long_id) - 1);
		long_id[sizeof(long_id) - 1] = '\0';
		CHECK(!migr_fwd_id_valid(long_id));
		long_id[MIGR_FWD_ID_MAX] = '\0';
		CHECK(migr_fwd_id_valid(long_id));
	}

	CHECK_EQ(migr_fwd_ifname("mig-42", a), 0);
	CHECK_EQ(migr_fwd_ifname("mig-42", b), 0);
	CHECK_STR(a, b);                             /* deterministic: cleanup finds it again */
	CHECK_EQ(strlen(a), 15);                     /* fits IFNAMSIZ */
	CHECK(!strncmp(a, "mfw", 3));
	CHECK_EQ(migr_fwd_ifname("mig-43", b), 0);
	CHECK(strcmp(a, b) != 0);
	CHECK_EQ(migr_fwd_ifname("bad id", a), -EINVAL);

	CHECK_EQ(migr_fwd_vni("mig-42", &v1), 0);
	CHECK_EQ(migr_fwd_vni("mig-43", &v2), 0);
	CHECK(v1 >= 1 && v1 < (1u << 24));
	CHECK(v2 >= 1 && v2 < (1u << 24));
	CHECK(v1 != v2);
	CHECK_EQ(migr_fwd_vni("", &v1), -EINVAL);
}

static void test_parsers(void)
{
	uint8_t mac[6] = { 0 };
	struct migr_fwd_addr a;

	CHECK_EQ(migr_fwd_parse_mac("00:16:3e:0A:bc:ff", mac), 0);
	CHECK_EQ(mac[0], 0x00);
	CHECK_EQ(mac[2], 0x3e);
	CHECK_EQ(mac[3], 0x0a);
	CHECK_EQ(mac[5], 0xff);
	CHECK_EQ(migr_fwd_parse_mac("00:16:3e:0a:bc", mac), -EINVAL);
	CHECK_EQ(migr_fwd_parse_mac("00:16:3e:0a:bc:ff:", mac), -EINVAL);
	CHECK_EQ(migr_fwd_parse_mac("00-16-3e-0a-bc-ff", mac), -EINVAL);
	CHECK_EQ(migr_fwd_parse_mac("0g:16:3e:0a:bc:ff", mac), -EINVAL);
	CHECK_EQ(migr_fwd_parse_mac(" 0:16:3e:0a:bc:ff", mac), -EINVAL);
	CHECK_EQ(migr_fwd_parse_mac(NULL, mac), -EINVAL);

	CHECK_EQ(migr_fwd_parse_addr("169.254.1.2", &a), 0);
	CHECK_EQ(a.family, AF_INET);
	CHECK_EQ(ntohl(a.v4.s_addr), 0xa9fe0102);
	CHECK_EQ(migr_fwd_parse_addr("fe80::1", &a), 0);
	CHECK_EQ(a.family, AF_INET6);
	CHECK_EQ(a.v6.s6_addr[15], 1);
	CHECK_EQ(migr_fwd_parse_addr("169.254.1", &a), -EINVAL);
	CHECK_EQ(migr_fwd_parse_addr("host", &a), -EINVAL);
}

static void test_cookie(void)
{
	struct migr__fwd_cookie c = { .flags = MIGR__FWD_CK_QDISC, .tag = 0x123456789abcull,
				      .nic = 3, .kind = MIGR__FWD_K_ND }, d;
	uint8_t buf[MIGR__FWD_COOKIE_LEN];

	migr__fwd_cookie_encode(&c, buf);
	CHECK_EQ(migr__fwd_cookie_decode(buf, sizeof(buf), &d), 0);
	CHECK_EQ(d.flags, c.flags);
	CHECK_EQ(d.tag, c.tag);
	CHECK_EQ(d.nic, 3);
	CHECK_EQ(d.kind, MIGR__FWD_K_ND);
	CHECK_EQ(migr__fwd_cookie_decode(buf, sizeof(buf) - 1, &d), -ENOMSG);
	buf[0] = 'x';
	CHECK_EQ(migr__fwd_cookie_decode(buf, sizeof(buf), &d), -ENOMSG);
	buf[0] = 'm';
	buf[11] = 9;                                 /* unknown kind */
	CHECK_EQ(migr__fwd_cookie_decode(buf, sizeof(buf), &d), -ENOMSG);
	CHECK(migr__fwd_tag("a") != migr__fwd_tag("b"));
	CHECK(migr__fwd_tag("mig-42") < (1ull << 48));
}

/* The u32 keys of a built filter message. */
static const struct tc_u32_sel *find_sel(const struct nlmsghdr *nlh)
{
	const struct nlattr *a, *b;

	mnl_attr_for_each(a, nlh, sizeof(struct tcmsg)) {
		if (mnl_attr_get_type(a) != TCA_OPTIONS)
			continue;
		mnl_attr_for_each_nested(b, a)
			if (mnl_attr_get_type(b) == TCA_U32_SEL)
				return mnl_attr_get_payload(b);
	}
	return NULL;
}

static void test_filter_messages(void)
{
	static uint8_t buf[MIGR__NL_BUFSZ], copy[MIGR__NL_BUFSZ];
	struct migr__fwd_filter flt;
	struct migr__fwd_filter_info info;
	const struct tc_u32_sel *sel;
	struct nlmsghdr *nlh;
	const struct tcmsg *tcm;
	int rejected = 0;

	memset(&flt, 0, sizeof(flt));
	flt.kind = MIGR__FWD_K_MAC;
	memcpy(flt.mac, "\x00\x16\x3e\x01\x02\x03", 6);
	flt.to_ifindex = 42;
	flt.cookie.tag = migr__fwd_tag("mig-42");
	flt.cookie.kind = MIGR__FWD_K_MAC;
	flt.cookie.flags = MIGR__FWD_CK_QDISC;
	nlh = migr__fwd_msg_newfilter(buf, 7, &flt);
	CHECK_EQ(nlh->nlmsg_type, RTM_NEWTFILTER);
	tcm = mnl_nlmsg_get_payload(nlh);
	CHECK_EQ(tcm->tcm_ifindex, 7);
	CHECK_EQ(tcm->tcm_parent, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS));
	CHECK_EQ(TC_H_MAJ(tcm->tcm_info) >> 16, MIGR__FWD_PRIO_MAC);
	CHECK_EQ(ntohs(TC_H_MIN(tcm->tcm_info)), ETH_P_ALL);
	sel = find_sel(nlh);
	CHECK(sel != NULL);
	if (sel) {
		CHECK_EQ(sel->nkeys, 2);
		CHECK_EQ(sel->flags, TC_U32_TERMINAL);
		CHECK_EQ(sel->keys[0].off, -16);
		CHECK_EQ(ntohl(sel->keys[0].mask), 0x0000ffff);
		CHECK_EQ(ntohl(sel->keys[0].val), 0x00000016);
		CHECK_EQ(sel->keys[1].off, -12);
		CHECK_EQ(ntohl(sel->keys[1].val), 0x3e010203);
	}
	/* What we send has the shape of what the kernel dumps: read it back. */
	CHECK_EQ(migr__fwd_parse_filter(nlh, &info), 0);
	CHECK(info.has_cookie);
	CHECK_EQ(info.cookie.tag, flt.cookie.tag);
	CHECK_EQ(info.cookie.flags, MIGR__FWD_CK_QDISC);
	CHECK_EQ(info.prio, MIGR__FWD_PRIO_MAC);
	CHECK_EQ(info.proto, ETH_P_ALL);
	CHECK_EQ(info.ifindex, 7);

	/* Every truncation of it is either rejected or read within bounds (ASan watches). */
	for (uint32_t len = 0; len < nlh->nlmsg_len; len++) {
		memcpy(copy, nlh, nlh->nlmsg_len);
		((struct nlmsghdr *)copy)->nlmsg_len = len;
		if (migr__fwd_parse_filter((struct nlmsghdr *)copy, &info) != 0)
			rejected++;
	}
	CHECK(rejected > 0);

	flt.kind = MIGR__FWD_K_ARP;
	inet_pton(AF_INET, "169.254.3.1", &flt.ip4);
	nlh = migr__fwd_msg_newfilter(buf, 7, &flt);
	tcm = mnl_nlmsg_get_payload(nlh);
	CHECK_EQ(TC_H_MAJ(tcm->tcm_info) >> 16, MIGR__FWD_PRIO_ARP);
	CHECK_EQ(ntohs(TC_H_MIN(tcm->tcm_info)), ETH_P_ARP);
	sel = find_sel(nlh);
	CHECK(sel != NULL);
	if (sel) {
		CHECK_EQ(sel->nkeys, 2);
		CHECK_EQ(sel->keys[0].off, 4);               /* op = request */
		CHECK_EQ(ntohl(sel->keys[0].val), 1);
		CHECK_EQ(sel->keys[1].off, 24);              /* target protocol address */
		CHECK_EQ(ntohl(sel->keys[1].val), 0xa9fe0301);
	}

	flt.kind = MIGR__FWD_K_ND;
	inet_pton(AF_INET6, "fe80::216:3eff:fe01:203", &flt.ip6);
	nlh = migr__fwd_msg_newfilter(buf, 7, &flt);
	tcm = mnl_nlmsg_get_payload(nlh);
	CHECK_EQ(TC_H_MAJ(tcm->tcm_info) >> 16, MIGR__FWD_PRIO_ND);
	CHECK_EQ(ntohs(TC_H_MIN(tcm->tcm_info)), ETH_P_IPV6);
	sel = find_sel(nlh);
	CHECK(sel != NULL);
	if (sel) {
		CHECK_EQ(sel->nkeys, 6);
		CHECK_EQ(ntohl(sel->keys[1].val), 135u << 24);   /* neighbour solicitation */
		CHECK_EQ(sel->keys[5].off, 60);
		CHECK_EQ(ntohl(sel->keys[5].val), 0xfe010203);
	}

	/* A filter without our cookie is read, but not claimed. */
	nlh = migr__fwd_msg_delfilter(buf, 7, MIGR__FWD_PRIO_MAC, ETH_P_ALL, 0x800);
	CHECK_EQ(nlh->nlmsg_type, RTM_DELTFILTER);
	CHECK_EQ(migr__fwd_parse_filter(nlh, &info), -ENOMSG);   /* no selector: not a filter */
}

static void test_link_messages(void)
{
	static uint8_t buf[MIGR__NL_BUFSZ], copy[MIGR__NL_BUFSZ];
	struct migr__fwd_vxlan v;
	struct migr__fwd_link l;
	struct nlmsghdr *nlh;
	struct nlattr *nest;

	memset(&v, 0, sizeof(v));
	v.ifname = "mfw0123456789ab";
	v.vni = 77;
	v.port = 4789;
	migr_fwd_parse_addr("169.254.1.2", &v.peer);
	nlh = migr__fwd_msg_newvxlan(buf, &v);
	CHECK_EQ(nlh->nlmsg_type, RTM_NEWLINK);
	CHECK(nlh->nlmsg_flags & NLM_F_CREATE);
	CHECK(nlh->nlmsg_flags & NLM_F_EXCL);
	CHECK_EQ(migr__fwd_parse_link(nlh, &l), -ENOMSG);      /* ifindex 0: not a real link */

	/* A link as the kernel reports one. */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	{
		struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
		ifi->ifi_index = 9;
		ifi->ifi_flags = IFF_UP;
	}
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "vif3.0");
	mnl_attr_put_u32(nlh, IFLA_MASTER, 4);
	mnl_attr_put_strz(nlh, IFLA_IFALIAS, "migr-fwd mig-42 stop");
	nest = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "vif");
	mnl_attr_nest_end(nlh, nest);
	CHECK_EQ(migr__fwd_parse_link(nlh, &l), 0);
	CHECK_EQ(l.ifindex, 9);
	CHECK_EQ(l.master, 4);
	CHECK(l.up);
	CHECK_STR(l.name, "vif3.0");
	CHECK_STR(l.kind, "vif");
	CHECK_STR(l.alias, "migr-fwd mig-42 stop");
	for (uint32_t len = 0; len < nlh->nlmsg_len; len++) {
		memcpy(copy, nlh, nlh->nlmsg_len);
		((struct nlmsghdr *)copy)->nlmsg_len = len;
		(void)migr__fwd_parse_link((struct nlmsghdr *)copy, &l);
	}
	/* A name without its NUL is refused, not read past. */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	{
		struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
		ifi->ifi_index = 9;
	}
	mnl_attr_put(nlh, IFLA_IFNAME, 4, "abcd");
	CHECK_EQ(migr__fwd_parse_link(nlh, &l), -ENOMSG);
}

/* The hold's messages, and a qdisc with its counters as the kernel reports one. */
static void test_hold_messages(void)
{
	static uint8_t buf[MIGR__NL_BUFSZ], copy[MIGR__NL_BUFSZ];
	const struct tc_plug_qopt *qo;
	const struct tcmsg *tcm;
	struct migr__fwd_qdisc q;
	struct nlmsghdr *nlh;
	struct nlattr *nest, *a;

	nlh = migr__fwd_msg_newplug(buf, 5, 1 << 20);
	CHECK_EQ(nlh->nlmsg_type, RTM_NEWQDISC);
	CHECK(nlh->nlmsg_flags & NLM_F_CREATE);
	CHECK(nlh->nlmsg_flags & NLM_F_EXCL);
	tcm = mnl_nlmsg_get_payload(nlh);
	CHECK_EQ(tcm->tcm_ifindex, 5);
	CHECK_EQ(tcm->tcm_parent, TC_H_ROOT);
	CHECK_EQ(tcm->tcm_handle, MIGR__FWD_HOLD_HANDLE);
	qo = NULL;
	mnl_attr_for_each(a, nlh, sizeof(*tcm))
		if (mnl_attr_get_type(a) == TCA_OPTIONS)
			qo = mnl_attr_get_payload(a);
	CHECK(qo != NULL);
	if (qo) {
		CHECK_EQ(qo->action, TCQ_PLUG_BUFFER);
		CHECK_EQ(qo->limit, 1u << 20);
	}
	/* The release changes the same qdisc: no create flags. */
	nlh = migr__fwd_msg_releaseplug(buf, 5);
	CHECK_EQ(nlh->nlmsg_type, RTM_NEWQDISC);
	CHECK_EQ(nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL | NLM_F_REPLACE), 0);
	qo = NULL;
	mnl_attr_for_each(a, nlh, sizeof(*tcm))
		if (mnl_attr_get_type(a) == TCA_OPTIONS)
			qo = mnl_attr_get_payload(a);
	CHECK(qo != NULL && qo->action == TCQ_PLUG_RELEASE_INDEFINITE);

	/* A plug qdisc holding 3 frames (300 bytes), 2 dropped, 10 let out before. */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWQDISC;
	{
		struct tcmsg *t = mnl_nlmsg_put_extra_header(nlh, sizeof(*t));
		t->tcm_ifindex = 5;
		t->tcm_parent = TC_H_ROOT;
		t->tcm_handle = MIGR__FWD_HOLD_HANDLE;
	}
	mnl_attr_put_strz(nlh, TCA_KIND, "plug");
	nest = mnl_attr_nest_start(nlh, TCA_STATS2);
	{
		struct gnet_stats_basic b = { .bytes = 1000, .packets = 10 };
		struct gnet_stats_queue gq = { .qlen = 3, .backlog = 300, .drops = 2 };
		mnl_attr_put(nlh, TCA_STATS_BASIC, sizeof(b), &b);
		mnl_attr_put(nlh, TCA_STATS_QUEUE, sizeof(gq), &gq);
	}
	mnl_attr_nest_end(nlh, nest);
	CHECK_EQ(migr__fwd_parse_qdisc(nlh, &q), 0);
	CHECK_STR(q.kind, "plug");
	CHECK_EQ(q.ifindex, 5);
	CHECK_EQ(q.handle, MIGR__FWD_HOLD_HANDLE);
	CHECK_EQ(q.packets, 10);
	CHECK_EQ(q.bytes, 1000);
	CHECK_EQ(q.qlen, 3);
	CHECK_EQ(q.backlog, 300);
	CHECK_EQ(q.drops, 2);
	/* Every truncation is rejected or read within bounds (ASan watches). */
	for (uint32_t len = 0; len < nlh->nlmsg_len; len++) {
		memcpy(copy, nlh, nlh->nlmsg_len);
		((struct nlmsghdr *)copy)->nlmsg_len = len;
		(void)migr__fwd_parse_qdisc((struct nlmsghdr *)copy, &q);
	}
	/* Not a qdisc message. */
	CHECK_EQ(migr__fwd_parse_qdisc(migr__fwd_msg_getlink(buf, 0), &q), -ENOMSG);
}

static uint16_t csum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void test_frames(void)
{
	static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0x01, 0x02, 0x03 };
	uint8_t f[MIGR__FWD_FRAME_MAX];
	struct in_addr ip4;
	struct in6_addr ip6;
	size_t n;

	n = migr__fwd_frame_rarp(f, mac);
	CHECK_EQ(n, 60);
	CHECK(!memcmp(f, "\xff\xff\xff\xff\xff\xff", 6));
	CHECK(!memcmp(f + 6, mac, 6));
	CHECK_EQ(f[12] << 8 | f[13], ETH_P_RARP);
	CHECK_EQ(f[20] << 8 | f[21], 3);
	CHECK(!memcmp(f + 22, mac, 6));                      /* sender hardware address */
	CHECK(!memcmp(f + 32, mac, 6));                      /* target hardware address */

	inet_pton(AF_INET, "169.254.3.1", &ip4);
	n = migr__fwd_frame_garp(f, mac, ip4);
	CHECK_EQ(n, 60);
	CHECK_EQ(f[12] << 8 | f[13], ETH_P_ARP);
	CHECK_EQ(f[20] << 8 | f[21], 2);
	CHECK(!memcmp(f + 28, &ip4, 4));
	CHECK(!memcmp(f + 38, &ip4, 4));

	inet_pton(AF_INET6, "fe80::216:3eff:fe01:203", &ip6);
	n = migr__fwd_frame_una(f, mac, &ip6);
	CHECK_EQ(n, 14 + 40 + 32);
	CHECK_EQ(f[12] << 8 | f[13], ETH_P_IPV6);
	CHECK(!memcmp(f, "\x33\x33\x00\x00\x00\x01", 6));
	CHECK_EQ(f[14 + 7], 255);                            /* hop limit */
	CHECK_EQ(f[14 + 40], 136);
	CHECK_EQ(f[14 + 44] & 0x20, 0x20);                   /* override */
	/* The checksum over pseudo-header and message folds to all ones. */
	{
		uint32_t sum = csum(f + 14 + 8, 32, 0);
		sum += 32 + 58;
		CHECK_EQ(csum(f + 14 + 40, 32, sum), 0xffff);
	}
}

static void test_schedule_and_decision(void)
{
	static const uint32_t want[5] = { 50, 150, 250, 350, 450 };

	for (uint32_t r = 0; r < 5; r++)
		CHECK_EQ(migr__fwd_announce_gap(50, 100, r), want[r]);
	CHECK_EQ(migr__fwd_announce_gap(UINT32_MAX, UINT32_MAX, 3), UINT32_MAX);

	CHECK_EQ(migr__fwd_decide(100, 100, 2000, 60000, false, false, false), MIGR_FWD_RUNNING);
	CHECK_EQ(migr__fwd_decide(2500, 2000, 2000, 60000, false, false, false), MIGR_FWD_END_QUIET);
	CHECK_EQ(migr__fwd_decide(2500, 2000, 2000, 60000, false, false, true), MIGR_FWD_RUNNING);
	CHECK_EQ(migr__fwd_decide(60000, 0, 2000, 60000, false, false, false), MIGR_FWD_END_MAX);
	CHECK_EQ(migr__fwd_decide(10, 0, 2000, 60000, true, false, false), MIGR_FWD_END_STOP);
	CHECK_EQ(migr__fwd_decide(10, 0, 2000, 60000, true, true, false), MIGR_FWD_END_GONE);
	CHECK_STR(migr_fwd_end_name(MIGR_FWD_END_QUIET), "quiet");
	CHECK_STR(migr_fwd_end_name((enum migr_fwd_end)99), "unknown");
}

static void test_bad_params(void)
{
	struct migr_fwd_params p;
	struct migr_fwd_nic nic;
	struct migr_fwd *f = (struct migr_fwd *)0x1;

	migr_fwd_params_init(&p);
	CHECK_EQ(p.port, MIGR_FWD_DEFAULT_PORT);
	CHECK_EQ(p.announce_rounds, 5);
	CHECK_EQ(p.announce_initial_ms, 50);
	CHECK_EQ(p.announce_step_ms, 100);
	memset(&nic, 0, sizeof(nic));
	memcpy(nic.mac, "\x00\x16\x3e\x01\x02\x03", 6);
	nic.dev = "br0";
	p.nics = &nic;
	p.n_nics = 1;
	p.id = "mig-42";
	/* Rejected before any netlink: no peer, bad id, multicast MAC, too many NICs. */
	CHECK_EQ(migr_fwd_source_start(&p, &f), -EINVAL);
	migr_fwd_parse_addr("169.254.1.2", &p.peer);
	p.id = "bad id";
	CHECK_EQ(migr_fwd_source_start(&p, &f), -EINVAL);
	p.id = "mig-42";
	nic.mac[0] = 0x01;
	CHECK_EQ(migr_fwd_target_start(&p, &f), -EINVAL);
	nic.mac[0] = 0x00;
	p.n_nics = MIGR_FWD_MAX_NICS + 1;
	CHECK_EQ(migr_fwd_source_start(&p, &f), -EINVAL);
	p.n_nics = 1;
	p.vni = 1u << 24;
	CHECK_EQ(migr_fwd_source_start(&p, &f), -EINVAL);
	CHECK(f == (struct migr_fwd *)0x1);                 /* untouched on failure */
	CHECK_EQ(migr_fwd_finish(NULL, NULL), 0);
	CHECK_EQ(migr_fwd_cleanup("bad id", 0, NULL, NULL), -EINVAL);
}

/* RTM_GETNEIGH, and neighbour entries as the kernel reports them (hostile lengths too). */
static void test_neigh_messages(void)
{
	static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0x01, 0x02, 0x03 };
	uint8_t buf[MIGR__NL_BUFSZ], copy[MIGR__NL_BUFSZ];
	struct migr__fwd_neigh n;
	struct nlmsghdr *nlh;
	struct ndmsg *ndm;
	struct in_addr a4 = { htonl(0xc0000207) };
	struct in6_addr a6 = IN6ADDR_LOOPBACK_INIT;

	nlh = migr__fwd_msg_getneigh(buf, AF_INET6);
	CHECK_EQ(nlh->nlmsg_type, RTM_GETNEIGH);
	CHECK(nlh->nlmsg_flags & NLM_F_DUMP);
	CHECK_EQ(((struct ndmsg *)mnl_nlmsg_get_payload(nlh))->ndm_family, AF_INET6);
	CHECK_EQ(migr__fwd_parse_neigh(nlh, &n), -ENOMSG);    /* a request, not an entry */

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWNEIGH;
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = AF_INET;
	ndm->ndm_ifindex = 5;
	ndm->ndm_state = NUD_STALE;
	mnl_attr_put(nlh, NDA_DST, 4, &a4);
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	CHECK_EQ(migr__fwd_parse_neigh(nlh, &n), 0);
	CHECK_EQ(n.ifindex, 5);
	CHECK_EQ(n.state, NUD_STALE);
	CHECK_EQ(n.addr.family, AF_INET);
	CHECK_EQ(n.addr.v4.s_addr, a4.s_addr);
	CHECK(!memcmp(n.mac, mac, 6));
	for (uint32_t len = 0; len < nlh->nlmsg_len; len++) {
		memcpy(copy, nlh, nlh->nlmsg_len);
		((struct nlmsghdr *)copy)->nlmsg_len = len;
		(void)migr__fwd_parse_neigh((struct nlmsghdr *)copy, &n);
	}

	/* An IPv6 entry; an address of the wrong length, no MAC, a 20-byte MAC: refused. */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWNEIGH;
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = AF_INET6;
	mnl_attr_put(nlh, NDA_DST, 16, &a6);
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	CHECK_EQ(migr__fwd_parse_neigh(nlh, &n), 0);
	CHECK_EQ(n.addr.family, AF_INET6);
	CHECK(!memcmp(&n.addr.v6, &a6, 16));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWNEIGH;
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = AF_INET6;
	mnl_attr_put(nlh, NDA_DST, 4, &a4);
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	CHECK_EQ(migr__fwd_parse_neigh(nlh, &n), -ENOMSG);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWNEIGH;
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = AF_INET;
	mnl_attr_put(nlh, NDA_DST, 4, &a4);
	CHECK_EQ(migr__fwd_parse_neigh(nlh, &n), -ENOMSG);
	mnl_attr_put(nlh, NDA_LLADDR, 20, copy);
	CHECK_EQ(migr__fwd_parse_neigh(nlh, &n), -ENOMSG);
}

int main(void)
{
	test_names();
	test_parsers();
	test_cookie();
	test_filter_messages();
	test_link_messages();
	test_neigh_messages();
	test_hold_messages();
	test_frames();
	test_schedule_and_decision();
	test_bad_params();
	return unit_done("test_fwd");
}

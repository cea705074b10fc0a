/*
 * fwdswitch.c: the switch-over of the forwarding test, driven in one process the way the
 * engine drives it: libmigr's migr_fwd_* calls at the moments the engine makes them, the
 * vif moved from host A to host B over rtnetlink, and the fabric's late move, all on one
 * clock, so the blackout window is what the test asks for and not what starting programs
 * under load costs.
 *
 *   fwdswitch MODE ID BLACKOUT_MS DELAY_MS QUIET_MS NS_A NS_B NS_FAB MAC IP IP_A IP_B
 *
 * MODE is "with" or "without" forwarding. Names as in tests/net/lib.sh: the vif is "vif1"
 * in bridge "br0"; the fabric's port toward host B is "pb". Steps:
 *   T_B0  (blackout starts) source: migr_fwd_source_start(); vif1 leaves A
 *   +BLACKOUT_MS           vif1 joins B's br0; target: migr_fwd_target_start() (live later),
 *                          polled once not live yet, then migr_fwd_target_live()
 *   T_B1  (blackout ends)
 *   T_B0 + DELAY_MS        the fabric's entry for MAC moves to pb (T_FAB)
 *   then both ends are polled until they end, and finished.
 * Prints "T_B0=ns T_B1=ns T_FAB=ns" (CLOCK_REALTIME) and one line per end with its figures.
 *
 *   fwdswitch share NS_A MAC1 MAC2 IP_A IP_B GONE_PORT
 *
 * Two migrations from host A at once, as an evacuation runs them, sharing br0's ports:
 * the first forwards (its filters made the ports' ingress qdiscs), the second is set up
 * ahead (MIGR_FWD_DIVERT_LATER, so it found those qdiscs and added none); the first ends
 * and removes the qdiscs it made, now empty, and GONE_PORT (a port of br0: the first
 * guest's vif) is removed; then the second diverts at its own switch-over. Prints
 * "divert=RC" and each end's teardown.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>
#include <xentoollog.h>
#include "libmigr.h"

static uint64_t rt_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void fail(const char *what, int err)
{
	fprintf(stderr, "fwdswitch: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static int ns_fd(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail(path, errno);
	return fd;
}

static void enter(int fd)
{
	if (setns(fd, CLONE_NEWNET))
		fail("setns", errno);
}

/* One rtnetlink request in the current namespace, waiting for its ACK. */
static int rtnl(struct nlmsghdr *nlh)
{
	char buf[8192];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	uint32_t seq = (uint32_t)time(NULL);
	ssize_t n;
	int rc = -EIO;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		fail("netlink", errno);
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		fail("netlink send", errno);
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n > 0) {
		rc = mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), NULL, NULL);
		rc = rc < 0 ? -errno : 0;
	}
	mnl_socket_close(nl);
	return rc;
}

/* An RTM_NEWLINK or RTM_DELLINK request for ifindex, in buf. */
static struct nlmsghdr *link_req(char *buf, uint16_t type, unsigned int ifindex,
				 struct ifinfomsg **ifi_r)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = type;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	*ifi_r = ifi;
	return nlh;
}

static void link_set(unsigned int ifindex, int netns_fd, unsigned int master, int up)
{
	char buf[1024];
	struct ifinfomsg *ifi;
	struct nlmsghdr *nlh = link_req(buf, RTM_NEWLINK, ifindex, &ifi);
	int rc;

	if (up) {
		ifi->ifi_change = IFF_UP;
		ifi->ifi_flags = IFF_UP;
	}
	if (netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)netns_fd);
	if (master)
		mnl_attr_put_u32(nlh, IFLA_MASTER, master);
	rc = rtnl(nlh);
	if (rc)
		fail("link change", rc);
}

/* bridge fdb replace MAC dev PORT master static */
static void fdb_move(const uint8_t mac[6], unsigned int port)
{
	char buf[1024];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ndmsg *nd;
	int rc;

	nlh->nlmsg_type = RTM_NEWNEIGH;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = PF_BRIDGE;
	nd->ndm_ifindex = (int)port;
	nd->ndm_state = NUD_NOARP;
	nd->ndm_flags = NTF_MASTER;
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	rc = rtnl(nlh);
	if (rc)
		fail("fdb replace", rc);
}

static unsigned int ifindex_of(const char *name)
{
	unsigned int i = if_nametoindex(name);

	if (!i)
		fail(name, errno);
	return i;
}

static void report(const char *side, int rc, const struct migr_fwd_status *st)
{
	printf("%s ended (%s) after %u ms: packets=%llu bytes=%llu arp=%llu announce_rounds=%u "
	       "teardown=%s\n", side, migr_fwd_end_name(st->end), st->elapsed_ms,
	       (unsigned long long)st->packets, (unsigned long long)st->bytes,
	       (unsigned long long)st->arp_packets, st->announce_rounds_done, rc ? "failed" : "ok");
}

static void link_del(unsigned int ifindex)
{
	char buf[1024];
	struct ifinfomsg *ifi;
	int rc = rtnl(link_req(buf, RTM_DELLINK, ifindex, &ifi));

	if (rc)
		fail("link delete", rc);
}

static int share_main(int argc, char **argv)
{
	struct migr_fwd_params p1, p2;
	struct migr_fwd_nic n1, n2;
	struct migr_fwd *f1 = NULL, *f2 = NULL;
	struct migr_fwd_status st;
	struct migr_fwd_addr ip_a, ip_b;
	xentoollog_logger_stdiostream *lg;
	int rc;

	if (argc != 8) {
		fprintf(stderr, "usage: fwdswitch share NS_A MAC1 MAC2 IP_A IP_B GONE_PORT\n");
		return 2;
	}
	memset(&n1, 0, sizeof(n1));
	memset(&n2, 0, sizeof(n2));
	if (migr_fwd_parse_mac(argv[3], n1.mac) || migr_fwd_parse_mac(argv[4], n2.mac) ||
	    migr_fwd_parse_addr(argv[5], &ip_a) || migr_fwd_parse_addr(argv[6], &ip_b)) {
		fprintf(stderr, "fwdswitch: bad MAC or address\n");
		return 2;
	}
	n1.dev = n2.dev = "br0";
	lg = xtl_createlogger_stdiostream(stderr, XTL_DETAIL, 0);
	migr_fwd_params_init(&p1);
	p1.local = ip_a;
	p1.peer = ip_b;
	p1.n_nics = 1;
	p1.flags = MIGR_FWD_NO_ARP;
	p1.lg = (xentoollog_logger *)lg;
	p2 = p1;
	p1.id = "share-1";
	p1.nics = &n1;
	p2.id = "share-2";
	p2.nics = &n2;
	p2.flags |= MIGR_FWD_DIVERT_LATER;

	enter(ns_fd(argv[2]));
	if ((rc = migr_fwd_source_start(&p1, &f1)))
		fail("first start", rc);
	if ((rc = migr_fwd_source_start(&p2, &f2)))
		fail("second start (divert later)", rc);
	rc = migr_fwd_finish(f1, &st);
	printf("first teardown=%s\n", rc ? "failed" : "ok");
	link_del(ifindex_of(argv[7]));
	rc = migr_fwd_source_divert(f2);
	printf("divert=%d%s%s\n", rc, rc ? " " : "", rc ? strerror(-rc) : "");
	rc = migr_fwd_finish(f2, &st);
	printf("second teardown=%s\n", rc ? "failed" : "ok");
	xtl_logger_destroy((xentoollog_logger *)lg);
	return 0;
}

int main(int argc, char **argv)
{
	struct migr_fwd_params ps, pt;
	struct migr_fwd_nic ns_nic, nt_nic;
	struct migr_fwd *src = NULL, *dst = NULL;
	struct migr_fwd_status ss, st;
	struct migr_fwd_addr ip, ip_a, ip_b;
	xentoollog_logger_stdiostream *lg;
	uint8_t mac[6];
	uint64_t t_b0, t_b1, t_fab = 0, blackout, delay, quiet;
	int with, fd_a, fd_b, fd_fab, rc;
	unsigned int vif;

	if (argc > 1 && !strcmp(argv[1], "share"))
		return share_main(argc, argv);
	if (argc != 13) {
		fprintf(stderr, "usage: fwdswitch MODE ID BLACKOUT_MS DELAY_MS QUIET_MS NS_A NS_B "
			"NS_FAB MAC IP IP_A IP_B\n");
		return 2;
	}
	with = !strcmp(argv[1], "with");
	blackout = strtoull(argv[3], NULL, 10);
	delay = strtoull(argv[4], NULL, 10);
	quiet = strtoull(argv[5], NULL, 10);
	fd_a = ns_fd(argv[6]);
	fd_b = ns_fd(argv[7]);
	fd_fab = ns_fd(argv[8]);
	if (migr_fwd_parse_mac(argv[9], mac) || migr_fwd_parse_addr(argv[10], &ip) ||
	    migr_fwd_parse_addr(argv[11], &ip_a) || migr_fwd_parse_addr(argv[12], &ip_b) ||
	    ip.family != AF_INET) {
		fprintf(stderr, "fwdswitch: bad MAC or address\n");
		return 2;
	}
	lg = xtl_createlogger_stdiostream(stderr, XTL_NOTICE, 0);

	memset(&ns_nic, 0, sizeof(ns_nic));
	memcpy(ns_nic.mac, mac, 6);
	ns_nic.ipv4 = &ip.v4;
	ns_nic.n_ipv4 = 1;
	nt_nic = ns_nic;
	ns_nic.dev = "br0";
	nt_nic.dev = "vif1";
	migr_fwd_params_init(&ps);
	ps.id = argv[2];
	ps.local = ip_a;
	ps.peer = ip_b;
	ps.nics = &ns_nic;
	ps.n_nics = 1;
	ps.quiet_ms = (uint32_t)quiet;
	ps.max_ms = 30000;
	ps.lg = (xentoollog_logger *)lg;
	pt = ps;
	pt.local = ip_b;
	pt.peer = ip_a;
	pt.nics = &nt_nic;

	/* Blackout: the guest is suspended on A; the source starts forwarding. */
	enter(fd_a);
	vif = ifindex_of("vif1");
	t_b0 = rt_ns();
	if (with && (rc = migr_fwd_source_start(&ps, &src)))
		fail("source start", rc);
	link_set(vif, fd_b, 0, 0);                         /* the vif leaves A */
	sleep_ms(blackout);
	enter(fd_b);
	link_set(ifindex_of("vif1"), -1, ifindex_of("br0"), 1);   /* and appears on B */
	/* As in a migration whose vifs came early: set up first, live at the unpause. Not
	 * live, it neither announces nor ends, however long it waits. */
	pt.flags |= MIGR_FWD_LIVE_LATER;
	if (with && (rc = migr_fwd_target_start(&pt, &dst)))
		fail("target start", rc);
	if (with) {
		sleep_ms(pt.announce_initial_ms + 30);
		if ((rc = migr_fwd_poll(dst, &st)))
			fail("target poll before live", rc);
		if (st.end || st.announce_rounds_done || st.elapsed_ms)
			fail("target before live: announced or ended", -EPROTO);
		if ((rc = migr_fwd_target_live(dst)))
			fail("target live", rc);
	}
	t_b1 = rt_ns();                                    /* the guest runs on B */

	enter(fd_fab);
	for (;;) {
		uint64_t now = rt_ns(), next = 100;
		if (!t_fab && now >= t_b0 + delay * 1000000ull) {
			fdb_move(mac, ifindex_of("pb"));
			t_fab = rt_ns();
		}
		if (src) {
			if ((rc = migr_fwd_poll(src, &ss)))
				fail("source poll", rc);
			if (ss.next_poll_ms < next)
				next = ss.next_poll_ms;
		}
		if (dst) {
			if ((rc = migr_fwd_poll(dst, &st)))
				fail("target poll", rc);
			if (st.next_poll_ms < next)
				next = st.next_poll_ms;
		}
		if (t_fab && (!src || ss.end) && (!dst || st.end))
			break;
		if (!t_fab && t_b0 + delay * 1000000ull > now &&
		    (t_b0 + delay * 1000000ull - now) / 1000000ull < next)
			next = (t_b0 + delay * 1000000ull - now) / 1000000ull;
		sleep_ms(next);
	}
	printf("T_B0=%llu T_B1=%llu T_FAB=%llu\n", (unsigned long long)t_b0,
	       (unsigned long long)t_b1, (unsigned long long)t_fab);
	if (src) {
		rc = migr_fwd_finish(src, &ss);
		report("source", rc, &ss);
	}
	if (dst) {
		rc = migr_fwd_finish(dst, &st);
		report("target", rc, &st);
	}
	xtl_logger_destroy((xentoollog_logger *)lg);
	return 0;
}

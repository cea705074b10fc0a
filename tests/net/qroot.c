/*
 * qroot.c: reads the root qdisc of a device the way the forwarding's hold reads its plug
 * (migr__fwd_msg_getroot() answered by the kernel, parsed by migr__fwd_parse_qdisc()),
 * so that the read is tested on a kernel without sch_plug too.
 *
 *   qroot IFNAME    prints "kind=K packets=N qlen=N backlog=N drops=N"; exit 1 if the
 *                   kernel reported no root qdisc for it
 */
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <libmnl/libmnl.h>
#include "fwd_int.h"

static int collect(const struct nlmsghdr *nlh, void *data)
{
	struct migr__fwd_qdisc *q = data, got;

	if (migr__fwd_parse_qdisc(nlh, &got) == 0 && got.ifindex == q->ifindex)
		*q = got;
	return MNL_CB_OK;
}

int main(int argc, char **argv)
{
	static char buf[8192];
	struct migr__fwd_qdisc q = { 0 };
	struct migr__nl *nl;
	int rc;

	if (argc != 2 || !(q.ifindex = if_nametoindex(argv[1]))) {
		fprintf(stderr, "usage: qroot IFNAME (an existing device)\n");
		return 2;
	}
	if ((rc = migr__nl_open(&nl))) {
		fprintf(stderr, "qroot: rtnetlink: %s\n", strerror(-rc));
		return 2;
	}
	rc = migr__nl_talk(nl, migr__fwd_msg_getroot(buf, q.ifindex), collect, &q);
	migr__nl_close(nl);
	if (rc) {
		fprintf(stderr, "qroot: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	if (!q.kind[0]) {
		printf("kind=none\n");
		return 1;
	}
	printf("kind=%s packets=%llu qlen=%u backlog=%u drops=%u\n", q.kind,
	       (unsigned long long)q.packets, q.qlen, q.backlog, q.drops);
	return 0;
}

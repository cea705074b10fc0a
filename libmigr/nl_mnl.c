/*
 * nl_mnl.c: the small rtnetlink client the forwarding code talks through (libmnl).
 *
 * Entry points: migr__nl_open(), migr__nl_talk() (one request, its replies up to the ACK
 * or the end of a dump), migr__nl_close(). Replies are checked against our port id and
 * sequence number; anything else on the socket is skipped.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include "fwd_int.h"

struct migr__nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	char buf[32768];               /* a dump message never exceeds 32 KiB */
};

int migr__nl_open(struct migr__nl **nl_r)
{
	struct migr__nl *nl;
	int one = 1, rc;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock) {
		rc = -errno;
		goto out_free;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto out_close;
	}
	/* Extended ACKs carry the kernel's reason; harmless where unsupported. */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	/* Do not echo the whole request back in error messages. */
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
	*nl_r = nl;
	return 0;

out_close:
	mnl_socket_close(nl->sock);
out_free:
	free(nl);
	return rc;
}

void migr__nl_close(struct migr__nl *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl);
}

struct talk_state {
	migr__nl_cb cb;
	void *data;
	int cb_rc;
};

static int talk_data(const struct nlmsghdr *nlh, void *data)
{
	struct talk_state *ts = data;
	int rc;

	if (!ts->cb)
		return MNL_CB_OK;
	rc = ts->cb(nlh, ts->data);
	if (rc < 0) {
		ts->cb_rc = rc;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

int migr__nl_talk(struct migr__nl *nl, struct nlmsghdr *nlh, migr__nl_cb cb, void *data)
{
	struct talk_state ts = { .cb = cb, .data = data, .cb_rc = 0 };
	uint32_t seq;
	ssize_t n;
	int rc;

	seq = ++nl->seq;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = 0;
	/* NLM_F_DUMP is two bits, one of which is NLM_F_EXCL on new-object requests. */
	if ((nlh->nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP)
		nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;

	for (;;) {
		n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* A stale reply to an earlier, abandoned request is skipped. */
		if ((size_t)n >= sizeof(struct nlmsghdr) &&
		    ((struct nlmsghdr *)nl->buf)->nlmsg_seq != seq)
			continue;
		errno = 0;
		/* mnl_cb_run checks every header's length, the port id and the sequence. */
		rc = mnl_cb_run(nl->buf, (size_t)n, seq, nl->portid, talk_data, &ts);
		if (rc == MNL_CB_STOP)
			return 0;              /* ACK (error 0) or NLMSG_DONE */
		if (rc == MNL_CB_ERROR) {
			if (ts.cb_rc)
				return ts.cb_rc;
			return errno ? -errno : -EPROTO;
		}
	}
}

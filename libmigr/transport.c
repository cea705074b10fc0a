/*
 * transport.c: the connection between source and target (migr/transport.h).
 *
 * Entry points: migr_connect(), migr_listen()/migr_accept(), migr_conn_from_socket(),
 * migr_conn_from_fds(), migr_conn_read()/write()/flush(), migr_conn_stats(),
 * migr_conn_close(), migr_hostport_check() and migr_transport_check() (a configuration's
 * check). The stream pumps live in transport_stream.c, the credentials and the
 * TLS handshake in transport_tls.c.
 *
 * I/O is done in MIGR_IO_BUF pieces: the socket is read ahead into a 1 MiB buffer (which
 * GnuTLS's pull function drains record by record without further syscalls) except in
 * byte-pipe mode, where reads are exact so the fd can be handed to another reader; writes
 * collect in a 1 MiB buffer sent by migr_conn_flush(), and TLS records are batched so a
 * buffer's worth of them leaves in one write (transport_tls.c). The bandwidth cap is a token bucket in
 * front of every piece sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "libmigr.h"
#include "transport_int.h"

void migr_transport_opts_init(struct migr_transport_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
}

static void copy_err(char *err, size_t errlen, const char *text)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", text);
}

/* migr__set_err: formats an error text into ERR (of ERRLEN bytes), if the caller gave one. */
void migr__set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int migr__conn_fail(struct migr_conn *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return err;
}

const char *migr_conn_error(const struct migr_conn *c)
{
	return c ? c->err : "";
}

const char *migr_conn_security(const struct migr_conn *c)
{
	switch (c->mode) {
	case MIGR__MODE_TLS:
		return c->creds && c->creds->kind == MIGR__CRED_PSK ? "TLS1.3 PSK" : "TLS1.3 X.509";
	case MIGR__MODE_TCP:
		return "insecure TCP";
	case MIGR__MODE_PIPE:
		return "pipe";
	}
	return "?";
}

const char *migr_conn_peer_identity(const struct migr_conn *c)
{
	return c->peer_id;
}

const char *migr_conn_peer_name(const struct migr_conn *c)
{
	return c->peer_name;
}

int migr_conn_addrs(const struct migr_conn *c, struct sockaddr_storage *local_r,
		    struct sockaddr_storage *peer_r)
{
	struct sockaddr_storage l, p;
	socklen_t ll = sizeof(l), pl = sizeof(p);

	if (!c->is_socket)
		return -ENOTSOCK;
	if (getsockname(c->wfd, (struct sockaddr *)&l, &ll) < 0 ||
	    getpeername(c->wfd, (struct sockaddr *)&p, &pl) < 0)
		return -errno;
	*local_r = l;
	*peer_r = p;
	return 0;
}

void migr__conn_set_peer_abort(struct migr_conn *c, uint32_t code, const char *reason)
{
	c->peer_aborted = true;
	c->abort_code = code;
	snprintf(c->abort_reason, sizeof(c->abort_reason), "%s", reason ? reason : "");
}

bool migr_conn_peer_abort(const struct migr_conn *c, uint32_t *code_r, const char **reason_r)
{
	if (!c->peer_aborted)
		return false;
	if (code_r)
		*code_r = c->abort_code;
	if (reason_r)
		*reason_r = c->abort_reason;
	return true;
}

void migr_conn_stats(const struct migr_conn *c, struct migr_conn_stats *s_r)
{
	uint64_t now = migr__now_ns(), s0, s1;

	memset(s_r, 0, sizeof(*s_r));
	s_r->bytes_out = atomic_load(&c->bytes_out);
	s_r->bytes_in = atomic_load(&c->bytes_in);
	s_r->wire_out = atomic_load(&c->wire_out);
	s_r->wire_in = atomic_load(&c->wire_in);
	s_r->stream_out = atomic_load(&c->stream_out);
	s_r->stream_in = atomic_load(&c->stream_in);
	s_r->stream_zero_out = atomic_load(&c->stream_zero_out);
	s_r->stream_zero_in = atomic_load(&c->stream_zero_in);
	s_r->stream_cz_out = atomic_load(&c->stream_cz_out);
	s_r->stream_cz_wire_out = atomic_load(&c->stream_cz_wire_out);
	s_r->stream_cz_in = atomic_load(&c->stream_cz_in);
	s_r->stream_cz_wire_in = atomic_load(&c->stream_cz_wire_in);
	s_r->cz_c_Bps = atomic_load(&c->cz_c_Bps);
	s_r->cz_link_Bps = atomic_load(&c->cz_link_Bps);
	s_r->cz_ratio_milli = atomic_load(&c->cz_ratio_milli);
	s_r->cz_windows = atomic_load(&c->cz_windows);
	s_r->cz_on_windows = atomic_load(&c->cz_on_windows);
	s_r->cz_switches = atomic_load(&c->cz_switches);
	s_r->elapsed_ns = now - c->start_ns;
	s_r->handshake_ns = c->handshake_ns;
	s_r->throttled_ns = atomic_load(&c->throttled_ns);
	s_r->cpu_paced_ns = atomic_load(&c->cpu_paced_ns);
	s0 = atomic_load(&c->stream_start_ns);
	s1 = atomic_load(&c->stream_end_ns);
	if (s0)
		s_r->stream_ns = (s1 ? s1 : now) - s0;
	s_r->stream_end_ns = s1;
}

void migr_conn_set_bandwidth(struct migr_conn *c, uint64_t bytes_per_s)
{
	atomic_store(&c->bandwidth, bytes_per_s);
}

void migr_conn_set_deadline(struct migr_conn *c, unsigned int ms)
{
	atomic_store(&c->phase_deadline_ns, ms ? migr__now_ns() + (uint64_t)ms * 1000000 : 0);
}

void migr_conn_cap_io_timeout(struct migr_conn *c, unsigned int ms)
{
	if (ms && (!c->io_timeout_ms || c->io_timeout_ms > ms))
		c->io_timeout_ms = ms;
}

unsigned int migr_conn_set_io_timeout(struct migr_conn *c, unsigned int ms)
{
	unsigned int old = c->io_timeout_ms;

	c->io_timeout_ms = ms;
	return old;
}

void migr_conn_cut(struct migr_conn *c)
{
	int fds[2] = { c->rfd, c->wfd }, null = -1;

	for (unsigned int i = 0; i < 2; i++) {
		if (fds[i] < 0 || (i == 1 && fds[1] == fds[0]))
			continue;
		if (shutdown(fds[i], SHUT_RDWR) == 0 || errno != ENOTSOCK)
			continue;
		/* a pipe: the peer sees its end close, and we read end-of-file from now on */
		if (null < 0)
			null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0)
			dup2(null, fds[i]);
	}
	if (null >= 0)
		close(null);
}

/* ---- the socket or pipe ------------------------------------------------------------- */

/* Waits until fd is ready for events, up to timeout_ms (0 = for ever). */
static int wait_fd(int fd, short events, unsigned int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&p, 1, timeout_ms ? (int)timeout_ms : -1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

/*
 * The timeout in force: while the handshake runs, what is left of its deadline (a peer
 * trickling bytes cannot stretch it), else the I/O timeout.
 */
static unsigned int cur_timeout(const struct migr_conn *c)
{
	uint64_t now, dl = atomic_load(&c->phase_deadline_ns);
	unsigned int left;

	if (!c->in_handshake && !dl)
		return c->io_timeout_ms;
	if (c->in_handshake)
		dl = c->handshake_deadline_ns;
	now = migr__now_ns();
	left = now >= dl ? 1 : (unsigned int)((dl - now) / 1000000) + 1;
	return c->in_handshake || !c->io_timeout_ms || left < c->io_timeout_ms ? left
	                                                                       : c->io_timeout_ms;
}

/* A deadline (the handshake's or the phase's) has passed: no more I/O, even with bytes
 * ready, so trickling cannot stretch it. */
static bool past_deadline(const struct migr_conn *c)
{
	uint64_t dl = c->in_handshake ? c->handshake_deadline_ns
	                              : atomic_load(&c->phase_deadline_ns);

	return dl && migr__now_ns() >= dl;
}

/* One read of up to len bytes from the fd: > 0, 0 at end of stream, or -errno. */
ssize_t migr__fd_read_some(struct migr_conn *c, void *buf, size_t len)
{
	ssize_t n;
	int rc;

	for (;;) {
		if (past_deadline(c))
			return -ETIMEDOUT;
		rc = wait_fd(c->rfd, POLLIN, cur_timeout(c));
		if (rc)
			return rc;
		n = read(c->rfd, buf, len);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return -ETIMEDOUT;
		return -errno;
	}
	atomic_fetch_add(&c->wire_in, (uint64_t)n);
	return n;
}

/*
 * Writes all of an iovec array to the fd; 0 or -errno. Consumes iov. No call blocks past
 * the I/O timeout: poll() only says that some room is free, and a blocking send of more
 * than that waits for the rest without limit (a dead link held a sender for good). So
 * sockets are written with MSG_DONTWAIT, and other fds (pipes, where POLLOUT means at
 * least PIPE_BUF bytes are free) at most PIPE_BUF bytes at a time.
 */
int migr__fd_writev_all(struct migr_conn *c, struct iovec *iov, int iovcnt)
{
	ssize_t n;
	int rc;

	while (iovcnt > 0) {
		if (!iov->iov_len) {
			iov++, iovcnt--;
			continue;
		}
		if (past_deadline(c))
			return -ETIMEDOUT;
		rc = wait_fd(c->wfd, POLLOUT, cur_timeout(c));
		if (rc)
			return rc;
		if (c->is_socket) {
			struct msghdr mh = { .msg_iov = iov, .msg_iovlen = iovcnt };

			n = sendmsg(c->wfd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		} else {
			n = write(c->wfd, iov->iov_base,
			          iov->iov_len < PIPE_BUF ? iov->iov_len : PIPE_BUF);
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;   /* back to poll(), which holds the timeout */
			return -errno;
		}
		atomic_fetch_add(&c->wire_out, (uint64_t)n);
		while (n > 0 && iovcnt > 0) {
			if ((size_t)n >= iov->iov_len) {
				n -= iov->iov_len;
				iov++, iovcnt--;
			} else {
				iov->iov_base = (char *)iov->iov_base + n;
				iov->iov_len -= n;
				n = 0;
			}
		}
	}
	return 0;
}

static int fd_write_all(struct migr_conn *c, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return migr__fd_writev_all(c, &iov, 1);
}

/* ---- bandwidth cap ------------------------------------------------------------------ */

/* The piece size under a cap: about 1/16 s of traffic, between 16 KiB and 1 MiB. */
static size_t cap_piece(uint64_t rate)
{
	uint64_t p = rate / 16;

	if (p < 16384)
		p = 16384;
	if (p > MIGR_IO_BUF)
		p = MIGR_IO_BUF;
	return (size_t)p;
}

/*
 * Token bucket: takes len bytes of credit, sleeping while the bucket is in debt. The
 * bucket holds at most one piece, so a long idle period does not buy a burst.
 */
static void throttle(struct migr_conn *c, size_t len)
{
	uint64_t rate = atomic_load(&c->bandwidth);
	uint64_t now, t0;
	double burst;

	if (!rate) {
		c->tb_last_ns = 0;
		return;
	}
	now = migr__now_ns();
	burst = (double)cap_piece(rate);
	if (!c->tb_last_ns) {
		c->tb_tokens = burst;
	} else {
		c->tb_tokens += (double)(now - c->tb_last_ns) * (double)rate / 1e9;
		if (c->tb_tokens > burst)
			c->tb_tokens = burst;
	}
	c->tb_last_ns = now;
	c->tb_tokens -= (double)len;
	if (c->tb_tokens >= 0)
		return;
	t0 = now;
	{
		double wait_ns = -c->tb_tokens * 1e9 / (double)rate;
		struct timespec ts = {
			.tv_sec = (time_t)(wait_ns / 1e9),
			.tv_nsec = (long)(wait_ns - (double)(time_t)(wait_ns / 1e9) * 1e9),
		};

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	now = migr__now_ns();
	c->tb_tokens += (double)(now - c->tb_last_ns) * (double)rate / 1e9;
	c->tb_last_ns = now;
	atomic_fetch_add(&c->throttled_ns, now - t0);
}

/* ---- sending ------------------------------------------------------------------------ */

/* Sends buf now (past the write buffer), in pieces under the cap. */
static int send_direct(struct migr_conn *c, const uint8_t *buf, size_t len)
{
	while (len) {
		uint64_t rate = atomic_load(&c->bandwidth);
		size_t n = rate ? cap_piece(rate) : MIGR_IO_BUF;
		int rc;

		if (n > len)
			n = len;
		throttle(c, n);
		if (c->mode == MIGR__MODE_TLS)
			rc = migr__tls_send(c, buf, n);
		else
			rc = fd_write_all(c, buf, n);
		if (rc)
			return rc;
		buf += n;
		len -= n;
	}
	return 0;
}

static int conn_broken(struct migr_conn *c)
{
	if (c->broken)
		return migr__conn_fail(c, c->broken, "connection unusable after an earlier error: %s",
		                       migr_strerror(c->broken));
	return 0;
}

static int fail_io(struct migr_conn *c, int rc, const char *what)
{
	c->broken = rc;
	if (c->err[0] && c->err_fresh) {
		c->err_fresh = false;
		return rc;
	}
	if (rc == -ETIMEDOUT)
		return migr__conn_fail(c, rc, "%s: no progress for %u ms", what, c->io_timeout_ms);
	return migr__conn_fail(c, rc, "%s: %s", what, migr_strerror(rc));
}

int migr_conn_flush(struct migr_conn *c)
{
	int rc;

	if (!c->wlen)
		return 0;
	rc = conn_broken(c);
	if (rc)
		return rc;
	rc = send_direct(c, c->wbuf, c->wlen);
	c->wlen = 0;
	if (rc)
		return fail_io(c, rc, "sending to the peer");
	return 0;
}

int migr_conn_write(struct migr_conn *c, const void *buf, size_t len)
{
	int rc = conn_broken(c);

	if (rc)
		return rc;
	atomic_fetch_add(&c->bytes_out, len);
	if (c->wlen + len <= MIGR_IO_BUF) {
		memcpy(c->wbuf + c->wlen, buf, len);
		c->wlen += len;
		return 0;
	}
	rc = migr_conn_flush(c);
	if (rc)
		return rc;
	if (len < MIGR_IO_BUF / 2) {
		memcpy(c->wbuf, buf, len);
		c->wlen = len;
		return 0;
	}
	rc = send_direct(c, buf, len);
	if (rc)
		return fail_io(c, rc, "sending to the peer");
	return 0;
}

/* ---- receiving ---------------------------------------------------------------------- */

/* Plain TCP: serve from the read-ahead buffer; big reads go straight to the caller. */
static ssize_t tcp_read_some(struct migr_conn *c, uint8_t *buf, size_t len)
{
	ssize_t n;

	if (c->rpos == c->rlen) {
		if (len >= MIGR_IO_BUF / 4)
			return migr__fd_read_some(c, buf, len);
		n = migr__fd_read_some(c, c->rbuf, MIGR_IO_BUF);
		if (n <= 0)
			return n;
		c->rpos = 0;
		c->rlen = (size_t)n;
	}
	n = (ssize_t)(c->rlen - c->rpos < len ? c->rlen - c->rpos : len);
	memcpy(buf, c->rbuf + c->rpos, (size_t)n);
	c->rpos += (size_t)n;
	return n;
}

int migr_conn_read(struct migr_conn *c, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t want = len;
	uint64_t in0 = atomic_load(&c->bytes_in);
	int rc;

	rc = migr_conn_flush(c);
	if (rc)
		return rc;
	rc = conn_broken(c);
	if (rc)
		return rc;
	if (c->rx_broken)
		return migr__conn_fail(c, c->rx_broken, "cannot read: the connection is out of step "
		                       "after an unfinished stream");
	while (len) {
		ssize_t n;

		switch (c->mode) {
		case MIGR__MODE_TLS:
			n = migr__tls_recv(c, p, len);
			break;
		case MIGR__MODE_TCP:
			n = tcp_read_some(c, p, len);
			break;
		default:
			n = migr__fd_read_some(c, p, len);
			break;
		}
		if (n < 0)
			return fail_io(c, (int)n, "receiving from the peer");
		if (n == 0 && c->mode == MIGR__MODE_TCP && in0 == 0) {
			/* Nothing, or only a TLS alert (type 21, version 3.x), before the close. */
			const uint8_t *b = buf;
			bool alert = p - b >= 2 && b[0] == 0x15 && b[1] == 0x03;

			if (p == b || alert) {
				c->broken = -ECONNRESET;
				return migr__conn_fail(c, -ECONNRESET, "the peer closed the connection %s "
				                       "(does it require TLS? this end runs in insecure mode)",
				                       alert ? "with a TLS alert" : "before sending anything");
			}
		}
		if (n == 0) {
			c->broken = -ECONNRESET;
			return migr__conn_fail(c, -ECONNRESET,
			                       "the peer closed the connection (%zu of %zu bytes missing)",
			                       len, want);
		}
		atomic_fetch_add(&c->bytes_in, (uint64_t)n);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int migr_conn_raw_fds(struct migr_conn *c, int *rfd_r, int *wfd_r)
{
	int rc;

	if (c->mode != MIGR__MODE_PIPE)
		return migr__conn_fail(c, -EINVAL, "raw fds exist only in byte-pipe mode");
	rc = migr_conn_flush(c);
	if (rc)
		return rc;
	*rfd_r = c->rfd;
	*wfd_r = c->wfd;
	return 0;
}

/* ---- set-up and tear-down ----------------------------------------------------------- */

static struct migr_conn *conn_new(int rfd, int wfd, const struct migr_transport_opts *opts)
{
	struct migr_conn *c = calloc(1, sizeof(*c));
	struct stat st;

	if (!c)
		return NULL;
	c->rfd = rfd;
	c->wfd = wfd;
	c->user_fd = -1;
	c->pump_fd = -1;
	c->pump_done_fd = -1;
	c->start_ns = migr__now_ns();
	c->wbuf = malloc(MIGR_IO_BUF);
	if (!c->wbuf) {
		free(c);
		return NULL;
	}
	c->is_socket = fstat(wfd, &st) == 0 && S_ISSOCK(st.st_mode);
	if (opts) {
		atomic_store(&c->bandwidth, opts->bandwidth);
		migr_conn_set_cpu_share(c, opts->cpu_share_pct);
		c->io_timeout_ms = opts->io_timeout_ms;
		c->handshake_timeout_ms = opts->timeout_ms ? opts->timeout_ms : 30000;
	} else {
		c->handshake_timeout_ms = 30000;
	}
	return c;
}

void migr_conn_close(struct migr_conn *c)
{
	if (!c)
		return;
	migr_conn_blackout(c, false);   /* a holder that closes lets the others go */
	migr__stream_abandon(c);
	migr__stream_free(c);
	if (!c->broken)
		migr_conn_flush(c);
	migr__tls_close(c);
	if (c->rfd >= 0)
		close(c->rfd);
	if (c->wfd >= 0 && c->wfd != c->rfd)
		close(c->wfd);
	free(c->wbuf);
	free(c->rbuf);
	free(c);
}

int migr_conn_from_fds(int rfd, int wfd, const struct migr_transport_opts *opts,
                       struct migr_conn **conn_r)
{
	struct migr_conn *c = conn_new(rfd, wfd, opts);

	if (!c)
		return -ENOMEM;
	c->mode = MIGR__MODE_PIPE;
	*conn_r = c;
	return 0;
}

static void tune_socket(int fd)
{
	int one = 1;

	/* Control messages are small and latency matters in the blackout; bulk data is
	 * already sent in 1 MiB pieces. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Sets up a connection over a connected socket; consumes fd (and creds' reference). */
static int conn_over_socket(int fd, bool is_server, const struct migr_transport_opts *opts,
                            struct migr__creds *creds, const char *peer_name,
                            struct migr_conn **conn_r, char *err, size_t errlen)
{
	struct migr_conn *c;
	int rc;

	c = conn_new(fd, fd, opts);
	/* TCP and TLS read ahead (byte-pipe mode never does). */
	if (c && !(c->rbuf = malloc(MIGR_IO_BUF))) {
		free(c->wbuf);
		free(c);
		c = NULL;
	}
	if (!c) {
		close(fd);
		migr__creds_put(creds);
		migr__set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	tune_socket(fd);
	if (opts->insecure) {
		migr__creds_put(creds);
		c->mode = MIGR__MODE_TCP;
		*conn_r = c;
		return 0;
	}
	c->mode = MIGR__MODE_TLS;
	c->creds = creds;
	rc = migr__tls_handshake(c, is_server, peer_name);
	if (rc) {
		copy_err(err, errlen, c->err);
		c->broken = rc;
		migr_conn_close(c);
		return rc;
	}
	*conn_r = c;
	return 0;
}

int migr_conn_from_socket(int fd, bool is_server, const struct migr_transport_opts *opts,
                          struct migr_conn **conn_r, char *err, size_t errlen)
{
	struct migr__creds *creds = NULL;
	int rc;

	if (!opts->insecure) {
		rc = migr__creds_load(opts, is_server, &creds, err, errlen);
		if (rc) {
			close(fd);
			return rc;
		}
	}
	return conn_over_socket(fd, is_server, opts, creds,
	                        opts->peer_name ? opts->peer_name : "", conn_r, err, errlen);
}

/*
 * Splits HOST[:PORT]: "[v6]:p", "[v6]", "name:p", "v4:p", a bare v6 literal (two or more
 * colons), "name". host_r gets "" for an empty host.
 */
static int split_hostport(const char *hp, char *host_r, size_t hostlen, char *port_r,
                          size_t portlen, char *err, size_t errlen)
{
	const char *colon, *h = hp ? hp : "";
	size_t hl;
	const char *port = NULL;

	if (h[0] == '[') {
		const char *close_br = strchr(h, ']');

		if (!close_br) {
			migr__set_err(err, errlen, "bad address \"%s\": missing ]", h);
			return -EINVAL;
		}
		hl = (size_t)(close_br - h - 1);
		h++;
		if (close_br[1] == ':')
			port = close_br + 2;
		else if (close_br[1]) {
			migr__set_err(err, errlen, "bad address \"%s\"", hp);
			return -EINVAL;
		}
	} else {
		colon = strchr(h, ':');
		if (colon && !strchr(colon + 1, ':')) {
			hl = (size_t)(colon - h);
			port = colon + 1;
		} else {
			hl = strlen(h);
		}
	}
	if (hl >= hostlen) {
		migr__set_err(err, errlen, "host name too long");
		return -EINVAL;
	}
	memcpy(host_r, h, hl);
	host_r[hl] = '\0';
	if (port) {
		char *end;
		unsigned long p = strtoul(port, &end, 10);

		if (!*port || *end || p > 65535) {
			migr__set_err(err, errlen, "bad port in \"%s\"", hp);
			return -EINVAL;
		}
		snprintf(port_r, portlen, "%lu", p);
	} else {
		snprintf(port_r, portlen, "%d", MIGR_DEFAULT_PORT);
	}
	return 0;
}

int migr_hostport_check(const char *hostport, char *err, size_t errlen)
{
	char host[256], port[8];

	return split_hostport(hostport, host, sizeof(host), port, sizeof(port), err, errlen);
}

int migr_transport_check(const struct migr_transport_opts *opts, bool is_server,
                         char *err, size_t errlen)
{
	struct migr__creds *creds = NULL;
	int rc;

	if (opts->insecure)
		return 0;
	rc = migr__creds_load(opts, is_server, &creds, err, errlen);
	migr__creds_put(creds);
	return rc;
}

/* Non-blocking connect bounded by timeout_ms; 0 or -errno. */
static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len,
                           unsigned int timeout_ms)
{
	int fl = fcntl(fd, F_GETFL), rc = 0, soerr = 0;
	socklen_t sl = sizeof(soerr);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
			goto out;
		}
		rc = wait_fd(fd, POLLOUT, timeout_ms);
		if (rc)
			goto out;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			rc = -errno;
		else if (soerr)
			rc = -soerr;
	}
out:
	fcntl(fd, F_SETFL, fl);
	return rc;
}

int migr_connect(const char *hostport, const struct migr_transport_opts *opts,
                 struct migr_conn **conn_r, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = 0 };
	struct addrinfo *res = NULL, *ai;
	struct migr__creds *creds = NULL;
	char host[256], port[8];
	unsigned int tmo = opts->timeout_ms ? opts->timeout_ms : 30000;
	int fd = -1, rc, gai;

	rc = split_hostport(hostport, host, sizeof(host), port, sizeof(port), err, errlen);
	if (rc)
		return rc;
	if (!host[0]) {
		migr__set_err(err, errlen, "no host to connect to");
		return -EINVAL;
	}
	if (!opts->insecure) {
		rc = migr__creds_load(opts, false, &creds, err, errlen);
		if (rc)
			return rc;
	}
	gai = getaddrinfo(host, port, &hints, &res);
	if (gai) {
		migr__set_err(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
		migr__creds_put(creds);
		return gai == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	}
	rc = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		rc = connect_timeout(fd, ai->ai_addr, ai->ai_addrlen, tmo);
		if (!rc)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		migr__set_err(err, errlen, "cannot connect to %s port %s: %s", host, port,
		        rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
		migr__creds_put(creds);
		return rc;
	}
	return conn_over_socket(fd, false, opts, creds,
	                        opts->peer_name ? opts->peer_name : host, conn_r, err, errlen);
}

/* ---- listening ---------------------------------------------------------------------- */

struct migr_listener {
	int fd;
	int port;
	struct migr_transport_opts opts;
	struct migr__creds *creds;
	char *peer_name;
};

int migr_listen(const char *hostport, const struct migr_transport_opts *opts,
                struct migr_listener **l_r, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL, *ai;
	struct migr_listener *l;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[8];
	int rc, gai, one = 1, zero = 0;

	rc = split_hostport(hostport, host, sizeof(host), port, sizeof(port), err, errlen);
	if (rc)
		return rc;
	l = calloc(1, sizeof(*l));
	if (!l) {
		migr__set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	l->fd = -1;
	l->opts = *opts;
	if (opts->peer_name && !(l->peer_name = strdup(opts->peer_name))) {
		rc = -ENOMEM;
		migr__set_err(err, errlen, "out of memory");
		goto out_free;
	}
	l->opts.peer_name = l->peer_name;
	/* File names are read now and not kept. */
	l->opts.ca_file = l->opts.cert_file = l->opts.key_file = NULL;
	l->opts.crl_file = l->opts.psk_file = NULL;
	if (!opts->insecure) {
		rc = migr__creds_load(opts, true, &l->creds, err, errlen);
		if (rc)
			goto out_free;
	}
	if (!host[0]) {
		/* Every address: one dual-stack IPv6 socket, else IPv4. */
		hints.ai_family = AF_INET6;
		gai = getaddrinfo("::", port, &hints, &res);
		if (!gai) {
			l->fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (l->fd >= 0) {
				setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
				setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
				if (bind(l->fd, res->ai_addr, res->ai_addrlen) < 0) {
					close(l->fd);
					l->fd = -1;
				}
			}
			freeaddrinfo(res);
			res = NULL;
		}
		if (l->fd < 0)
			strcpy(host, "0.0.0.0");
		hints.ai_family = AF_UNSPEC;
	}
	if (l->fd < 0) {
		gai = getaddrinfo(host, port, &hints, &res);
		if (gai) {
			migr__set_err(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
			rc = -EADDRNOTAVAIL;
			goto out_free;
		}
		rc = -EADDRNOTAVAIL;
		for (ai = res; ai; ai = ai->ai_next) {
			l->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
			if (l->fd < 0) {
				rc = -errno;
				continue;
			}
			setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(l->fd, ai->ai_addr, ai->ai_addrlen) == 0)
				break;
			rc = -errno;
			close(l->fd);
			l->fd = -1;
		}
		freeaddrinfo(res);
		if (l->fd < 0) {
			migr__set_err(err, errlen, "cannot bind %s port %s: %s", host, port, strerror(-rc));
			goto out_free;
		}
	}
	if (listen(l->fd, 16) < 0 || getsockname(l->fd, (struct sockaddr *)&ss, &sl) < 0) {
		rc = -errno;
		migr__set_err(err, errlen, "cannot listen on port %s: %s", port, strerror(errno));
		goto out_free;
	}
	l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                          : ((struct sockaddr_in *)&ss)->sin_port);
	*l_r = l;
	return 0;

out_free:
	migr_listener_close(l);
	return rc;
}

int migr_listener_fd(const struct migr_listener *l)
{
	return l->fd;
}

int migr_listener_port(const struct migr_listener *l)
{
	return l->port;
}

void migr_listener_close(struct migr_listener *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	migr__creds_put(l->creds);
	free(l->peer_name);
	free(l);
}

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, h, sizeof(h));
		port = ntohs(s->sin_port);
		snprintf(buf, len, "%s:%d", h, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, h, sizeof(h));
		port = ntohs(s->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr))
			snprintf(buf, len, "%s:%d", h + 7, port);
		else
			snprintf(buf, len, "[%s]:%d", h, port);
	} else {
		snprintf(buf, len, "local");
	}
}


int migr_accept_pending(struct migr_listener *l, struct migr_pending **p_r, char *peer_r,
                        char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct migr_pending *p;
	int fd, rc;

	do
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		rc = -errno;
		migr__set_err(err, errlen, "accept: %s", strerror(errno));
		return rc;
	}
	p = calloc(1, sizeof(*p));
	if (p && !(p->peer_name = strdup(l->peer_name ? l->peer_name : ""))) {
		free(p);
		p = NULL;
	}
	if (!p) {
		close(fd);
		migr__set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->fd = fd;
	p->opts = l->opts;
	p->creds = migr__creds_get(l->creds);
	addr_text(&ss, p->peer, sizeof(p->peer));
	if (peer_r)
		snprintf(peer_r, 64, "%s", p->peer);
	*p_r = p;
	return 0;
}

void migr_pending_free(struct migr_pending *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	migr__creds_put(p->creds);
	free(p->peer_name);
	free(p);
}

int migr_pending_handshake(struct migr_pending *p, struct migr_conn **conn_r, char *err,
                           size_t errlen)
{
	int rc;

	/* conn_over_socket owns the socket and the reference from here, whatever happens */
	rc = conn_over_socket(p->fd, true, &p->opts, p->creds, p->peer_name, conn_r, err,
	                      errlen);
	p->fd = -1;
	p->creds = NULL;
	if (rc && err && errlen) {
		char tmp[MIGR_ERR_MAX];

		snprintf(tmp, sizeof(tmp), "%s", err);
		migr__set_err(err, errlen, "%s: %s", p->peer, tmp);
	}
	migr_pending_free(p);
	return rc;
}

int migr_accept(struct migr_listener *l, struct migr_conn **conn_r, char *peer_r,
                char *err, size_t errlen)
{
	struct migr_pending *p;
	int rc;

	rc = migr_accept_pending(l, &p, peer_r, err, errlen);
	return rc ? rc : migr_pending_handshake(p, conn_r, err, errlen);
}

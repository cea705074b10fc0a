/*
 * test_transport_stream.c: the fd faces of a connection, end to end: a producer writes a
 * large pseudo-random stream into migr_conn_stream_out()'s fd, a consumer reads
 * migr_conn_stream_in()'s fd, and the checksums, byte counts and statistics must agree,
 * over TLS (PSK and X.509), insecure TCP and a byte pipe; a control message must follow
 * the stream on the same connection. Then the failures: the source aborts mid-stream,
 * the reader stops early, the connection is cut, the peer sends a wrong DATA_END or a
 * stray message; then raw streams, the bandwidth cap (figure printed, loose bound
 * asserted), the I/O timeout and the blackout gate.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zstd.h>
#include "libmigr.h"
#include "unit.h"

#define CHUNK (4u << 20)

static char data_dir[1024];

static const char *dpath(const char *name)
{
	static char bufs[8][1200];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", data_dir, name);
	return b;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Process CPU time (every thread), seconds. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* ---- producer and consumer ------------------------------------------------------------ */

/* FNV-1a over 64-bit words, bytes for a tail: cheap enough not to hide the transport's
 * own cost. Callers pass chunks whose sizes are multiples of 8 except the last, so the
 * result does not depend on how the stream was cut. */
static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
	}
	for (; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

struct producer {
	int fd;
	uint64_t bytes;          /* to write */
	uint64_t seed;
	unsigned int zero_mod;   /* >0: every zero_mod-th 4 KiB of the stream (shifted by 13
	                            bytes, so not on 8-byte boundaries) is zero */
	bool text;               /* bytes from 16 letters (compressible), not random */
	uint64_t hash;           /* of what was written */
	uint64_t written;
	int err;
	pthread_t th;
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	uint8_t *buf = malloc(CHUNK);
	uint64_t x = p->seed | 1;

	p->hash = 0xcbf29ce484222325ull;
	while (buf && p->written < p->bytes) {
		size_t n = p->bytes - p->written < CHUNK ? (size_t)(p->bytes - p->written) : CHUNK;
		size_t off = 0;

		for (size_t i = 0; i + 8 <= n; i += 8) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			memcpy(buf + i, &x, 8);
			for (size_t j = 0; p->text && j < 8; j++)
				buf[i + j] = (uint8_t)"etaoinshrdlucmfw"[buf[i + j] & 15];
		}
		for (size_t i = 0; p->zero_mod && i < n; i++)
			if (((p->written + i + 13) / 4096) % p->zero_mod == 0)
				buf[i] = 0;
		for (size_t i = n & ~(size_t)7; i < n; i++)
			buf[i] = (uint8_t)i;
		p->hash = fnv(p->hash, buf, n);
		while (off < n) {
			ssize_t w = write(p->fd, buf + off, n - off);

			if (w < 0) {
				p->err = errno;
				goto out;
			}
			off += (size_t)w;
		}
		p->written += n;
	}
out:
	free(buf);
	return NULL;
}

struct consumer {
	int fd;
	uint64_t stop_after;     /* 0 = read to EOF */
	uint64_t hash;
	uint64_t got;
	pthread_t th;
};

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;
	uint8_t *buf = malloc(CHUNK + 8);
	size_t carry = 0;             /* bytes read but not hashed yet (< 8) */
	ssize_t n;

	c->hash = 0xcbf29ce484222325ull;
	while (buf) {
		size_t want = CHUNK, whole;

		if (c->stop_after) {
			if (c->got >= c->stop_after)
				break;
			if (c->stop_after - c->got < want)
				want = (size_t)(c->stop_after - c->got);
		}
		n = read(c->fd, buf + carry, want);
		if (n <= 0)
			break;
		c->got += (size_t)n;
		carry += (size_t)n;
		whole = carry & ~(size_t)7;
		c->hash = fnv(c->hash, buf, whole);
		memmove(buf, buf + whole, carry - whole);
		carry -= whole;
	}
	if (buf)
		c->hash = fnv(c->hash, buf, carry);
	free(buf);
	return NULL;
}

/* ---- connected pairs -------------------------------------------------------------------- */

enum kind { K_PSK, K_X509, K_TCP, K_PIPE };
static const char *const kind_name[] = { "TLS PSK", "TLS X.509", "insecure TCP", "pipe" };

struct side {
	int fd;
	bool server;
	struct migr_transport_opts o;
	struct migr_conn *c;
	int rc;
	char err[MIGR_ERR_MAX];
	pthread_t th;
};

static void *side_main(void *arg)
{
	struct side *s = arg;

	s->rc = migr_conn_from_socket(s->fd, s->server, &s->o, &s->c, s->err, sizeof(s->err));
	return NULL;
}

static void opts_for(enum kind k, bool server, struct migr_transport_opts *o)
{
	migr_transport_opts_init(o);
	o->timeout_ms = 5000;
	switch (k) {
	case K_PSK:
		o->psk_file = dpath("psk.key");
		break;
	case K_X509:
		o->ca_file = dpath("ca.pem");
		o->cert_file = dpath(server ? "server.pem" : "client.pem");
		o->key_file = dpath(server ? "server-key.pem" : "client-key.pem");
		o->peer_name = server ? "" : "localhost";
		break;
	default:
		o->insecure = true;
		break;
	}
}

/* Two connected ends over a socketpair: a (source, client) and b (target, server). */
/* The raw socket under the source side of the last pair made, for tests that cut it. */
static int last_source_fd = -1;

static int make_conns(enum kind k, uint64_t bandwidth, struct migr_conn **a,
                      struct migr_conn **b)
{
	struct side sa = { .server = false }, sb = { .server = true };
	int sv[2];

	*a = *b = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (k == K_PIPE) {
		struct migr_transport_opts o;

		migr_transport_opts_init(&o);
		o.bandwidth = bandwidth;
		migr_conn_from_fds(sv[0], sv[0], &o, a);
		o.bandwidth = 0;
		migr_conn_from_fds(sv[1], sv[1], &o, b);
		return 0;
	}
	last_source_fd = sv[0];
	sa.fd = sv[0];
	sb.fd = sv[1];
	opts_for(k, false, &sa.o);
	opts_for(k, true, &sb.o);
	sa.o.bandwidth = bandwidth;
	pthread_create(&sb.th, NULL, side_main, &sb);
	side_main(&sa);
	pthread_join(sb.th, NULL);
	if (sa.rc || sb.rc) {
		fprintf(stderr, "pair (%s): %s / %s\n", kind_name[k], sa.err, sb.err);
		migr_conn_close(sa.c);
		migr_conn_close(sb.c);
		return sa.rc ? sa.rc : sb.rc;
	}
	*a = sa.c;
	*b = sb.c;
	return 0;
}

/* ---- the tests ---------------------------------------------------------------------------- */

/* A whole stream of `bytes` from a to b, then READY back on the same connection. */
/* One whole stream from a to b with flags: every byte arrives, in order, counted. */
static void stream_once(struct migr_conn *a, struct migr_conn *b, unsigned int flags,
			struct producer *p, struct consumer *q)
{
	uint64_t sent = 0, recvd = 0;

	CHECK_EQ(migr_conn_stream_out(a, flags, &p->fd), 0);
	CHECK_EQ(migr_conn_stream_in(b, &q->fd), 0);
	pthread_create(&p->th, NULL, producer_main, p);
	pthread_create(&q->th, NULL, consumer_main, q);
	pthread_join(p->th, NULL);
	CHECK_EQ(p->err, 0);
	CHECK_EQ(migr_conn_stream_out_end(a, true, 0, NULL, &sent), 0);
	pthread_join(q->th, NULL);
	CHECK_EQ(migr_conn_stream_in_end(b, &recvd), 0);
	CHECK_EQ(sent, p->bytes);
	CHECK_EQ(recvd, p->bytes);
	CHECK_EQ(q->got, p->bytes);
	CHECK(q->hash == p->hash);
}

static void test_stream(enum kind k, uint64_t bytes)
{
	struct migr_conn *a, *b;
	struct producer p = { .bytes = bytes, .seed = 0x9e3779b97f4a7c15ull ^ k };
	struct consumer q = { 0 };
	struct migr_conn_stats sa, sb;
	struct migr_msg m;
	uint64_t sent = 0, recvd = 0;
	double t0, dt, cpu;

	fprintf(stderr, "stream of %llu MiB over %s\n", (unsigned long long)(bytes >> 20),
	        kind_name[k]);
	CHECK_EQ(make_conns(k, 0, &a, &b), 0);
	if (!a)
		return;
	t0 = now_s();
	cpu = cpu_s();
	CHECK_EQ(migr_conn_stream_out(a, 0, &p.fd), 0);
	CHECK_EQ(migr_conn_stream_in(b, &q.fd), 0);
	pthread_create(&p.th, NULL, producer_main, &p);
	pthread_create(&q.th, NULL, consumer_main, &q);
	pthread_join(p.th, NULL);
	CHECK_EQ(p.err, 0);
	CHECK_EQ(migr_conn_stream_error(a), 0);
	CHECK_EQ(migr_conn_stream_out_end(a, true, 0, NULL, &sent), 0);
	pthread_join(q.th, NULL);
	CHECK_EQ(migr_conn_stream_in_end(b, &recvd), 0);
	dt = now_s() - t0;
	CHECK_EQ(sent, bytes);
	CHECK_EQ(recvd, bytes);
	CHECK_EQ(q.got, bytes);
	CHECK(q.hash == p.hash);
	migr_conn_stats(a, &sa);
	migr_conn_stats(b, &sb);
	CHECK_EQ(sa.stream_out, bytes);
	CHECK_EQ(sb.stream_in, bytes);
	CHECK(sa.stream_ns > 0 && sb.stream_ns > 0);
	CHECK(sa.bytes_out > bytes);                  /* frames */
	CHECK(k == K_TCP || k == K_PIPE ? sa.wire_out == sa.bytes_out : sa.wire_out > sa.bytes_out);
	cpu = cpu_s() - cpu;
	fprintf(stderr, "  %.1f MiB/s (%.3f s); source wire_out %llu, target wire_in %llu\n",
	        bytes / 1048576.0 / dt, dt, (unsigned long long)sa.wire_out,
	        (unsigned long long)sb.wire_in);
	printf("stream %s: %llu MiB at %.1f MiB/s, %.2f CPU-s per GiB (both ends, producer and "
	       "consumer included)\n", kind_name[k], (unsigned long long)(bytes >> 20),
	       bytes / 1048576.0 / dt, cpu / (bytes / 1073741824.0));

	/* The connection is in step: a control message follows the stream. */
	migr_msg_init(&m, MIGR_MSG_READY);
	m.ready.domid = 7;
	m.ready.bytes_in = recvd;
	CHECK_EQ(migr_msg_send(b, &m), 0);
	CHECK_EQ(migr_msg_expect(a, MIGR_MSG_READY, &m), 0);
	CHECK_EQ(m.ready.domid, 7);
	CHECK_EQ(m.ready.bytes_in, bytes);

	/* A second stream on the same connection works too. */
	p.bytes = 3 * 1048576 + 5;
	p.written = 0;
	q.got = 0;
	stream_once(a, b, 0, &p, &q);
	migr_conn_close(a);
	migr_conn_close(b);
}

static void test_abort_midway(void)
{
	struct migr_conn *a, *b;
	struct producer p = { .bytes = 3 << 20, .seed = 1 };
	struct consumer q = { 0 };
	const char *reason = NULL;
	uint32_t code = 0;

	fprintf(stderr, "source aborts mid-stream\n");
	CHECK_EQ(make_conns(K_PSK, 0, &a, &b), 0);
	if (!a)
		return;
	CHECK_EQ(migr_conn_stream_out(a, 0, &p.fd), 0);
	CHECK_EQ(migr_conn_stream_in(b, &q.fd), 0);
	pthread_create(&p.th, NULL, producer_main, &p);
	pthread_create(&q.th, NULL, consumer_main, &q);
	pthread_join(p.th, NULL);
	CHECK_EQ(migr_conn_stream_out_end(a, false, MIGR_ABORT_SAVE, "guest did not suspend", NULL), 0);
	pthread_join(q.th, NULL);
	CHECK_EQ(q.got, 3 << 20);                     /* what came, then EOF */
	CHECK_EQ(migr_conn_stream_in_end(b, NULL), -MIGR_E_ABORTED);
	CHECK(strstr(migr_conn_error(b), "guest did not suspend") != NULL);
	CHECK(migr_conn_peer_abort(b, &code, &reason));
	CHECK_EQ(code, MIGR_ABORT_SAVE);
	CHECK_STR(reason, "guest did not suspend");
	fprintf(stderr, "  target: %s\n", migr_conn_error(b));
	migr_conn_close(a);
	migr_conn_close(b);
}

static void test_reader_stops(void)
{
	struct migr_conn *a, *b;
	struct producer p = { .bytes = 64 << 20, .seed = 2 };
	struct consumer q = { .stop_after = 1 << 20 };
	int rc;

	fprintf(stderr, "reader stops early; the target aborts and hangs up\n");
	CHECK_EQ(make_conns(K_TCP, 0, &a, &b), 0);
	if (!a)
		return;
	CHECK_EQ(migr_conn_stream_out(a, 0, &p.fd), 0);
	CHECK_EQ(migr_conn_stream_in(b, &q.fd), 0);
	pthread_create(&p.th, NULL, producer_main, &p);
	pthread_create(&q.th, NULL, consumer_main, &q);
	pthread_join(q.th, NULL);
	CHECK_EQ(q.got, 1 << 20);
	CHECK_EQ(migr_conn_stream_in_end(b, NULL), -EPIPE);
	fprintf(stderr, "  target: %s\n", migr_conn_error(b));
	/* Out of step now: reading refuses, sending ABORT still works. */
	{
		uint8_t x;

		CHECK_EQ(migr_conn_read(b, &x, 1), -EPIPE);
	}
	CHECK_EQ(migr_msg_send_abort(b, MIGR_ABORT_RESTORE, "restore failed"), 0);
	migr_conn_close(b);
	/* The producer is never left blocked: the pump drains it after the error. */
	pthread_join(p.th, NULL);
	CHECK_EQ(p.err, 0);
	CHECK_EQ(p.written, 64 << 20);
	CHECK(migr_conn_stream_error(a) != 0);
	rc = migr_conn_stream_out_end(a, true, 0, NULL, NULL);
	CHECK(rc == -EPIPE || rc == -ECONNRESET);
	fprintf(stderr, "  source: %s\n", migr_conn_error(a));
	migr_conn_close(a);
}

static void test_cut(void)
{
	struct migr_conn *a, *b;
	struct producer p = { .bytes = 2 << 20, .seed = 3 };
	struct consumer q = { 0 };
	int rc;

	fprintf(stderr, "connection cut during the stream\n");
	CHECK_EQ(make_conns(K_PSK, 0, &a, &b), 0);
	if (!a)
		return;
	CHECK_EQ(migr_conn_stream_out(a, 0, &p.fd), 0);
	CHECK_EQ(migr_conn_stream_in(b, &q.fd), 0);
	pthread_create(&p.th, NULL, producer_main, &p);
	pthread_create(&q.th, NULL, consumer_main, &q);
	pthread_join(p.th, NULL);
	migr_conn_close(a);           /* the source vanishes without ending the stream */
	pthread_join(q.th, NULL);
	CHECK(q.got <= 2 << 20);          /* what made it before the cut, then EOF */
	rc = migr_conn_stream_in_end(b, NULL);
	CHECK(rc == -ECONNRESET || rc == -EPIPE);
	CHECK(strstr(migr_conn_error(b), "closed the connection") != NULL);
	fprintf(stderr, "  target: %s\n", migr_conn_error(b));
	migr_conn_close(b);
}

/* The source dies half-way through writing a TLS record: the target sees a record cut
 * short by end of file, which is a closed connection (not a peer without TLS). */
static void test_cut_mid_record(void)
{
	static const uint8_t head[5] = { 0x17, 0x03, 0x03, 0x40, 0x00 }; /* 16 KiB record */
	uint8_t part[100] = { 0 };
	struct migr_conn *a, *b;
	struct consumer q = { 0 };
	int rc;

	fprintf(stderr, "connection cut inside a TLS record\n");
	CHECK_EQ(make_conns(K_PSK, 0, &a, &b), 0);
	if (!a)
		return;
	CHECK_EQ(migr_conn_stream_in(b, &q.fd), 0);
	pthread_create(&q.th, NULL, consumer_main, &q);
	CHECK_EQ(write(last_source_fd, head, sizeof(head)), (ssize_t)sizeof(head));
	CHECK_EQ(write(last_source_fd, part, sizeof(part)), (ssize_t)sizeof(part));
	shutdown(last_source_fd, SHUT_WR);
	pthread_join(q.th, NULL);
	CHECK_EQ(q.got, 0);
	rc = migr_conn_stream_in_end(b, NULL);
	CHECK(rc == -ECONNRESET || rc == -EPIPE);
	CHECK(strstr(migr_conn_error(b), "closed the connection") != NULL);
	fprintf(stderr, "  target: %s\n", migr_conn_error(b));
	migr_conn_close(b);
	migr_conn_close(a);
}

/* Writes raw frames into a byte-pipe connection's peer and runs stream_in over them. */
static int stream_in_raw_bytes(const uint8_t *bytes, size_t len, uint64_t *got_r, char *err,
                               size_t errlen)
{
	struct migr_conn *b = NULL;
	struct consumer q = { 0 };
	int sv[2], rc;

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	migr_conn_from_fds(sv[1], sv[1], NULL, &b);
	CHECK_EQ(write(sv[0], bytes, len), (ssize_t)len);
	shutdown(sv[0], SHUT_WR);
	CHECK_EQ(migr_conn_stream_in(b, &q.fd), 0);
	pthread_create(&q.th, NULL, consumer_main, &q);
	pthread_join(q.th, NULL);
	rc = migr_conn_stream_in_end(b, NULL);
	snprintf(err, errlen, "%s", migr_conn_error(b));
	*got_r = q.got;
	migr_conn_close(b);
	close(sv[0]);
	return rc;
}

static void test_bad_frames(void)
{
	/* DATA "hello", then DATA_END claiming 6 bytes. */
	static const uint8_t wrong_count[] = {
		0, 0, 0, 5, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o',
		0, 0, 0, 6, 0, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 6,
	};
	/* DATA "hi", an unknown optional frame, DATA "!", DATA_END 3. */
	static const uint8_t optional_inside[] = {
		0, 0, 0, 5, 0, 0, 0, 2, 'h', 'i',
		0x80, 0, 0, 0x42, 0, 0, 0, 3, 1, 2, 3,
		0, 0, 0, 5, 0, 0, 0, 1, '!',
		0, 0, 0, 6, 0, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 3,
	};
	/* DATA "x", then GO inside the stream. */
	static const uint8_t stray[] = {
		0, 0, 0, 5, 0, 0, 0, 1, 'x',
		0, 0, 0, 8, 0, 0, 0, 0,
	};
	/* A DATA frame claiming more than MIGR_DATA_MAX. */
	static const uint8_t huge[] = { 0, 0, 0, 5, 0x10, 0, 0, 0 };
	/* Truncated: DATA of 100 bytes with 3 present. */
	static const uint8_t truncated[] = { 0, 0, 0, 5, 0, 0, 0, 100, 1, 2, 3 };
	char err[MIGR_ERR_MAX];
	uint64_t got;

	fprintf(stderr, "bad frames inside a stream\n");
	CHECK_EQ(stream_in_raw_bytes(wrong_count, sizeof(wrong_count), &got, err, sizeof(err)),
	         -MIGR_E_PROTO);
	CHECK(strstr(err, "DATA_END says 6 bytes, 5 arrived") != NULL);
	CHECK_EQ(stream_in_raw_bytes(optional_inside, sizeof(optional_inside), &got, err,
	                             sizeof(err)), 0);
	CHECK_EQ(got, 3);
	CHECK_EQ(stream_in_raw_bytes(stray, sizeof(stray), &got, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "unexpected GO inside the stream") != NULL);
	CHECK_EQ(stream_in_raw_bytes(huge, sizeof(huge), &got, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "more than its cap") != NULL);
	CHECK_EQ(got, 0);
	CHECK_EQ(stream_in_raw_bytes(truncated, sizeof(truncated), &got, err, sizeof(err)),
	         -ECONNRESET);
	CHECK(strstr(err, "97 of 100 bytes missing") != NULL);
	fprintf(stderr, "  %s\n", err);
}

/* Zero runs cross as ZERO frames: the reader gets every byte, the link carries less. */
static void test_zero(void)
{
	struct migr_conn *a, *b;
	struct producer p = { .bytes = 24u << 20, .seed = 77, .zero_mod = 3 };
	struct consumer q = { 0 };
	struct migr_conn_stats sa, sb;
	/* DATA "ab", ZERO 10, DATA "c", DATA_END 13 */
	static const uint8_t good[] = {
		0, 0, 0, 5, 0, 0, 0, 2, 'a', 'b',
		0, 0, 0, 14, 0, 0, 0, 4, 0, 0, 0, 10,
		0, 0, 0, 5, 0, 0, 0, 1, 'c',
		0, 0, 0, 6, 0, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 13,
	};
	static const uint8_t bad_len[] = { 0, 0, 0, 14, 0, 0, 0, 5, 0, 0, 0, 10, 0 };
	static const uint8_t short_len[] = { 0, 0, 0, 14, 0, 0, 0, 3, 0, 0, 10 };
	static const uint8_t empty[] = { 0, 0, 0, 14, 0, 0, 0, 4, 0, 0, 0, 0 };
	static const uint8_t huge[] = { 0, 0, 0, 14, 0, 0, 0, 4, 0, 0x40, 0, 1 };
	char err[MIGR_ERR_MAX];
	uint64_t got;

	fprintf(stderr, "zero runs as ZERO frames\n");
	CHECK_EQ(make_conns(K_TCP, 0, &a, &b), 0);
	if (!a)
		return;
	stream_once(a, b, MIGR_STREAM_ZERO, &p, &q);
	migr_conn_stats(a, &sa);
	migr_conn_stats(b, &sb);
	CHECK_EQ(sa.stream_out, p.bytes);
	CHECK_EQ(sb.stream_zero_in, sa.stream_zero_out);
	/* a third of the pages are zero; each loses at most 16 bytes to the 8-byte grid */
	CHECK(sa.stream_zero_out >= p.bytes / 3 - p.bytes / 4096 * 16 - 8192);
	CHECK(sa.bytes_out < p.bytes - sa.stream_zero_out + p.bytes / 100);
	printf("zero runs: %llu MiB stream, %.1f MiB of zero runs sent as their length, %.1f MiB "
	       "on the connection\n", (unsigned long long)(p.bytes >> 20),
	       sa.stream_zero_out / 1048576.0, sa.bytes_out / 1048576.0);
	migr_conn_close(a);
	migr_conn_close(b);

	CHECK_EQ(stream_in_raw_bytes(good, sizeof(good), &got, err, sizeof(err)), 0);
	CHECK_EQ(got, 13);
	CHECK_EQ(stream_in_raw_bytes(bad_len, sizeof(bad_len), &got, err, sizeof(err)),
		 -MIGR_E_PROTO);
	CHECK(strstr(err, "ZERO of 5 bytes, more than its cap 4") != NULL);
	CHECK_EQ(stream_in_raw_bytes(short_len, sizeof(short_len), &got, err, sizeof(err)),
		 -MIGR_E_PROTO);
	CHECK(strstr(err, "ZERO frame of 3 bytes, not 4") != NULL);
	CHECK_EQ(stream_in_raw_bytes(empty, sizeof(empty), &got, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "ZERO frame of 0 bytes") != NULL);
	CHECK_EQ(stream_in_raw_bytes(huge, sizeof(huge), &got, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "(1 to") != NULL);
}

/* Appends a CDATA frame standing for raw bytes, whose compressed part is z (zn bytes). */
static size_t put_cdata(uint8_t *out, uint32_t raw, const void *z, size_t zn)
{
	static const uint8_t type[4] = { 0, 0, 0, 15 };

	memcpy(out, type, 4);
	out[4] = (uint8_t)((zn + 4) >> 24), out[5] = (uint8_t)((zn + 4) >> 16);
	out[6] = (uint8_t)((zn + 4) >> 8), out[7] = (uint8_t)(zn + 4);
	out[8] = (uint8_t)(raw >> 24), out[9] = (uint8_t)(raw >> 16);
	out[10] = (uint8_t)(raw >> 8), out[11] = (uint8_t)raw;
	memcpy(out + 12, z, zn);
	return 12 + zn;
}

/* DATA_END of n bytes. */
static size_t put_data_end(uint8_t *out, uint64_t n)
{
	static const uint8_t hdr[] = { 0, 0, 0, 6, 0, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 8 };

	memcpy(out, hdr, sizeof(hdr));
	for (int i = 0; i < 8; i++)
		out[16 + i] = (uint8_t)(n >> (56 - 8 * i));
	return 24;
}

/* One stream of p's data with flags from a to b: byte-identical, counted on both ends. */
static void compress_once(enum kind k, uint64_t bandwidth, unsigned int flags,
			  struct producer *p, struct migr_conn_stats *sa_r)
{
	struct migr_conn *a, *b;
	struct consumer q = { 0 };
	struct migr_conn_stats sa, sb;
	double t0;

	CHECK_EQ(make_conns(k, bandwidth, &a, &b), 0);
	if (!a)
		return;
	t0 = now_s();
	stream_once(a, b, flags, p, &q);
	migr_conn_stats(a, &sa);
	migr_conn_stats(b, &sb);
	CHECK_EQ(sa.stream_out, p->bytes);
	CHECK_EQ(sb.stream_in, p->bytes);
	CHECK_EQ(sb.stream_cz_in, sa.stream_cz_out);
	CHECK_EQ(sb.stream_cz_wire_in, sa.stream_cz_wire_out);
	CHECK(sa.stream_cz_wire_out <= sa.stream_cz_out);
	printf("compression %s%s over %s: %.1f MiB stream (%s%s), %.1f MiB sent compressed into "
	       "%.1f MiB, %.1f MiB of zero runs, %.1f MiB on the connection, %.2f s; "
	       "compressed %u of %u windows\n",
	       flags & MIGR_STREAM_COMPRESS_ALWAYS ? "always" : "auto",
	       bandwidth ? " with a cap" : "", kind_name[k], p->bytes / 1048576.0,
	       p->text ? "letters" : "random", p->zero_mod ? ", zero pages" : "",
	       sa.stream_cz_out / 1048576.0, sa.stream_cz_wire_out / 1048576.0,
	       sa.stream_zero_out / 1048576.0, sa.bytes_out / 1048576.0, now_s() - t0,
	       sa.cz_on_windows, sa.cz_windows);
	*sa_r = sa;
	migr_conn_close(a);
	migr_conn_close(b);
}

/* Compressed DATA: the reader gets exactly the producer's bytes whatever the data, and
 * what does not shrink goes uncompressed; then frames that lie about their sizes or do
 * not decompress are refused without a byte too many reaching the reader. */
static void test_compress(void)
{
	struct producer p = { .bytes = (16u << 20) + 5, .seed = 99, .text = true, .zero_mod = 4 };
	struct migr_conn_stats sa;
	uint8_t *raw = malloc(1u << 20), *z = malloc(ZSTD_compressBound(1u << 20) + 64);
	uint8_t *f = malloc(3u << 20);
	char err[MIGR_ERR_MAX];
	size_t zn, n;
	uint64_t got;

	fprintf(stderr, "compressed DATA (CDATA frames)\n");
	if (!raw || !z || !f)
		abort();
	/* letters and zero pages, always compressed, over TLS: a quarter of the pages are
	 * zero runs, the rest shrinks by more than a third */
	compress_once(K_PSK, 0, MIGR_STREAM_ZERO | MIGR_STREAM_COMPRESS_ALWAYS, &p, &sa);
	CHECK(sa.stream_zero_out > p.bytes / 5);
	CHECK(sa.stream_cz_out > p.bytes / 2);
	CHECK(sa.stream_cz_wire_out < sa.stream_cz_out * 2 / 3);
	CHECK(sa.bytes_out < (p.bytes - sa.stream_zero_out) * 2 / 3);
	/* random bytes do not shrink: nothing goes compressed, all arrives */
	p = (struct producer){ .bytes = (8u << 20) + 3, .seed = 5 };
	compress_once(K_TCP, 0, MIGR_STREAM_COMPRESS_ALWAYS, &p, &sa);
	CHECK_EQ(sa.stream_cz_out, 0);
	CHECK(sa.bytes_out > p.bytes);
	/* decided from measurements, on a link capped at 8 MiB/s that zstd outruns many
	 * times over on letters: compression comes on */
	p = (struct producer){ .bytes = 24u << 20, .seed = 6, .text = true };
	compress_once(K_PIPE, 8u << 20, MIGR_STREAM_ZERO | MIGR_STREAM_COMPRESS, &p, &sa);
	CHECK(sa.cz_windows > 0);
	CHECK(sa.cz_on_windows > 0);
	CHECK(sa.stream_cz_out > p.bytes / 4);
	CHECK(sa.cz_link_Bps > 0 && sa.cz_c_Bps > 0 && sa.cz_ratio_milli > 1000);
	/* and without MIGR_STREAM_COMPRESS*, none */
	p = (struct producer){ .bytes = 4u << 20, .seed = 7, .text = true };
	compress_once(K_TCP, 0, MIGR_STREAM_ZERO, &p, &sa);
	CHECK_EQ(sa.stream_cz_out, 0);
	CHECK_EQ(sa.cz_windows, 0);

	/* Hand-made frames: DATA "ab", CDATA of 5000 letters, DATA_END 5002. */
	for (size_t i = 0; i < (1u << 20); i++)
		raw[i] = (uint8_t)"abcab"[i % 5];
	zn = ZSTD_compress(z, ZSTD_compressBound(1u << 20), raw, 5000, 1);
	CHECK(!ZSTD_isError(zn) && zn < 5000);
	memcpy(f, "\0\0\0\5\0\0\0\2ab", 10);
	n = 10 + put_cdata(f + 10, 5000, z, zn);
	n += put_data_end(f + n, 5002);
	CHECK_EQ(stream_in_raw_bytes(f, n, &got, err, sizeof(err)), 0);
	CHECK_EQ(got, 5002);
	/* the frame claims more bytes than its zstd frame holds */
	n = put_cdata(f, 5001, z, zn);
	n += put_data_end(f + n, 5001);
	CHECK_EQ(stream_in_raw_bytes(f, n, &got, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "does not decompress into its 5001 bytes") != NULL);
	CHECK_EQ(got, 0);
	/* ... fewer: zstd is given no room for the rest */
	n = put_cdata(f, 4999, z, zn);
	CHECK_EQ(stream_in_raw_bytes(f, n, &got, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "does not decompress into its 4999 bytes") != NULL);
	CHECK_EQ(got, 0);
	/* a whole MiB compressed, claimed as the most a frame may stand for, decompresses;
	 * one byte more is refused before the compressed bytes are read */
	zn = ZSTD_compress(z, ZSTD_compressBound(1u << 20), raw, 1u << 20, 1);
	n = put_cdata(f, 1u << 20, z, zn);
	n += put_data_end(f + n, 1u << 20);
	CHECK_EQ(stream_in_raw_bytes(f, n, &got, err, sizeof(err)), 0);
	CHECK_EQ(got, 1u << 20);
	n = put_cdata(f, (1u << 20) + 1, z, zn);
	CHECK_EQ(stream_in_raw_bytes(f, n, &got, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "CDATA frame of") != NULL && strstr(err, "(1 to 1048576") != NULL);
	/* a raw length of 0, and compressed bytes not fewer than the raw ones */
	n = put_cdata(f, 0, z, 1);
	CHECK_EQ(stream_in_raw_bytes(f, n, &got, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "for 0 (1 to") != NULL);
	n = put_cdata(f, 8, "12345678", 8);
	CHECK_EQ(stream_in_raw_bytes(f, n, &got, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "8 compressed bytes for 8") != NULL);
	/* garbage where the zstd frame should be */
	memset(z, 0xa5, 64);
	n = put_cdata(f, 4096, z, 64);
	CHECK_EQ(stream_in_raw_bytes(f, n, &got, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "does not decompress") != NULL);
	CHECK_EQ(got, 0);
	/* a frame too short for its raw length, and one over its cap */
	memcpy(f, "\0\0\0\x0f\0\0\0\4\0\0\0\1", 12);
	CHECK_EQ(stream_in_raw_bytes(f, 12, &got, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "CDATA frame of 4 bytes, less than 5") != NULL);
	memcpy(f, "\0\0\0\x0f\0\x10\0\5", 8);
	CHECK_EQ(stream_in_raw_bytes(f, 8, &got, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "more than its cap") != NULL);
	/* truncated inside the compressed bytes */
	zn = ZSTD_compress(z, ZSTD_compressBound(1u << 20), raw, 5000, 1);
	n = put_cdata(f, 5000, z, zn);
	CHECK_EQ(stream_in_raw_bytes(f, n - 3, &got, err, sizeof(err)), -ECONNRESET);
	free(raw);
	free(z);
	free(f);
}

static void test_raw(void)
{
	struct migr_conn *a, *b;
	struct producer p = { .bytes = (5 << 20) + 3, .seed = 4 };
	struct consumer q = { 0 };
	int rfd, wfd, fd;

	fprintf(stderr, "raw stream in byte-pipe mode\n");
	CHECK_EQ(make_conns(K_PIPE, 0, &a, &b), 0);
	CHECK_EQ(migr_conn_stream_out(a, MIGR_STREAM_RAW, &p.fd), 0);
	/* The target side reads the raw fd itself, as libxl would for stock xl. */
	CHECK_EQ(migr_conn_raw_fds(b, &rfd, &wfd), 0);
	q.fd = rfd;
	q.stop_after = p.bytes;
	pthread_create(&p.th, NULL, producer_main, &p);
	pthread_create(&q.th, NULL, consumer_main, &q);
	pthread_join(p.th, NULL);
	CHECK_EQ(migr_conn_stream_out_end(a, true, 0, NULL, NULL), 0);
	pthread_join(q.th, NULL);
	CHECK_EQ(q.got, p.bytes);
	CHECK(q.hash == p.hash);
	migr_conn_close(a);
	migr_conn_close(b);

	CHECK_EQ(make_conns(K_TCP, 0, &a, &b), 0);
	CHECK_EQ(migr_conn_stream_out(a, MIGR_STREAM_RAW, &fd), -EINVAL);
	CHECK_EQ(migr_conn_raw_fds(b, &rfd, &wfd), -EINVAL);
	migr_conn_close(a);
	migr_conn_close(b);
}

static void test_bandwidth(void)
{
	const uint64_t cap = 32ull << 20, bytes = 24ull << 20;
	struct migr_conn *a, *b;
	struct producer p = { .bytes = bytes, .seed = 5 };
	struct consumer q = { 0 };
	struct migr_conn_stats st;
	double t0, dt, rate;

	fprintf(stderr, "bandwidth cap\n");
	CHECK_EQ(make_conns(K_PSK, cap, &a, &b), 0);
	if (!a)
		return;
	t0 = now_s();
	CHECK_EQ(migr_conn_stream_out(a, 0, &p.fd), 0);
	CHECK_EQ(migr_conn_stream_in(b, &q.fd), 0);
	pthread_create(&p.th, NULL, producer_main, &p);
	pthread_create(&q.th, NULL, consumer_main, &q);
	pthread_join(p.th, NULL);
	CHECK_EQ(migr_conn_stream_out_end(a, true, 0, NULL, NULL), 0);
	pthread_join(q.th, NULL);
	CHECK_EQ(migr_conn_stream_in_end(b, NULL), 0);
	dt = now_s() - t0;
	rate = bytes / dt;
	migr_conn_stats(a, &st);
	printf("bandwidth cap %.1f MiB/s: measured %.2f MiB/s over %.2f s (%.3f of the cap), "
	       "throttled %.2f s\n", cap / 1048576.0, rate / 1048576.0, dt, rate / cap,
	       st.throttled_ns / 1e9);
	/* Loose: the cap must hold within half again (the first piece is a burst). */
	CHECK(rate < 1.5 * cap);
	CHECK(st.throttled_ns > 0);
	CHECK(q.hash == p.hash);
	migr_conn_close(a);
	migr_conn_close(b);
}

/* The sender's CPU share: a stream sent under 25% of one CPU waits (cpu_paced_ns) and the
 * process uses well under the whole of a CPU while it runs; the bytes arrive intact. Both
 * ends run in this process, so both count: the share is the process's. */
static void process_cpu(double *cpu_s)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	*cpu_s = (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_cpu_share(void)
{
	struct migr_conn *a = NULL, *b = NULL;
	struct migr_transport_opts o;
	struct producer p = { .bytes = 48ull << 20, .seed = 7 };
	struct consumer q = { 0 };
	struct migr_conn_stats st;
	double t0, c0, dt, dc;
	int sv[2];

	fprintf(stderr, "CPU share\n");
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	migr_transport_opts_init(&o);
	o.cpu_share_pct = 25;
	migr_conn_from_fds(sv[0], sv[0], &o, &a);
	o.cpu_share_pct = 0;
	migr_conn_from_fds(sv[1], sv[1], &o, &b);
	if (!a || !b)
		return;
	t0 = now_s();
	process_cpu(&c0);
	stream_once(a, b, 0, &p, &q);
	dt = now_s() - t0;
	process_cpu(&dc);
	dc -= c0;
	migr_conn_stats(a, &st);
	printf("CPU share 25%%: the process used %.2f s of CPU in %.2f s (%.2f of one CPU); "
	       "the pump waited %.2f s\n", dc, dt, dc / dt, st.cpu_paced_ns / 1e9);
	CHECK(st.cpu_paced_ns > 0);
	CHECK(dc / dt < 0.6);
	migr_conn_close(a);
	migr_conn_close(b);

	/* no share: never waits */
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	migr_transport_opts_init(&o);
	migr_conn_from_fds(sv[0], sv[0], &o, &a);
	migr_conn_from_fds(sv[1], sv[1], &o, &b);
	if (!a || !b)
		return;
	p = (struct producer){ .bytes = 8ull << 20, .seed = 8 };
	memset(&q, 0, sizeof(q));
	stream_once(a, b, 0, &p, &q);
	migr_conn_stats(a, &st);
	CHECK_EQ(st.cpu_paced_ns, 0);
	migr_conn_close(a);
	migr_conn_close(b);
}

static void test_timeout(void)
{
	struct migr_transport_opts o;
	struct migr_conn *c;
	uint8_t x;
	int sv[2];

	fprintf(stderr, "I/O timeout\n");
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	migr_transport_opts_init(&o);
	o.io_timeout_ms = 200;
	CHECK_EQ(migr_conn_from_fds(sv[0], sv[0], &o, &c), 0);
	CHECK_EQ(migr_conn_read(c, &x, 1), -ETIMEDOUT);
	CHECK(strstr(migr_conn_error(c), "no progress for 200 ms") != NULL);
	migr_conn_close(c);
	close(sv[1]);
}

/* A peer that stops reading (a dead link) must not hold a writer past the I/O timeout,
 * on a socket or on a pipe, even when one write is larger than the room left. */
static void on_alarm(int sig)
{
	(void)sig;
	static const char m[] = "a write blocked past its I/O timeout (watchdog fired)\n";
	if (write(2, m, sizeof(m) - 1) < 0)
		_exit(1);
	_exit(1);
}

static void test_write_timeout(bool socket)
{
	struct migr_transport_opts o;
	struct migr_conn *c;
	static uint8_t big[4 << 20];
	int fds[2], rc = 0, i;

	fprintf(stderr, "write timeout, peer not reading (%s)\n", socket ? "socket" : "pipe");
	if (socket)
		CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	else
		CHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
	migr_transport_opts_init(&o);
	o.io_timeout_ms = 300;
	/* the pipe's write end is fds[1]; the socket's reader, fds[1], never reads */
	CHECK_EQ(migr_conn_from_fds(fds[0], socket ? fds[0] : fds[1], &o, &c), 0);
	signal(SIGALRM, on_alarm);
	alarm(20);
	for (i = 0; i < 64 && !rc; i++) {
		rc = migr_conn_write(c, big, sizeof(big));
		if (!rc)
			rc = migr_conn_flush(c);
	}
	alarm(0);
	CHECK_EQ(rc, -ETIMEDOUT);
	fprintf(stderr, "  %s\n", migr_conn_error(c));
	migr_conn_close(c);       /* closes its own fds: both of the pipe's */
	if (socket)
		close(fds[1]);
}

/*
 * The blackout gate: while connection h's guest is in its blackout, the stream of another
 * connection (a) holds its sends: its consumer gets nothing in the first 400 ms, then the
 * whole stream once h lets go. h's own stream is never held, nor is that of a second
 * connection in its blackout at the same time, and a hold is counted, for the process and
 * for a alone.
 */
static void test_blackout_gate(void)
{
	struct migr_conn *a, *b, *h, *hb;
	struct producer p = { .bytes = 4u << 20, .seed = 77 }, hp = { .bytes = 1u << 20, .seed = 78 };
	struct consumer q = { 0 }, hq = { 0 };
	uint64_t holds0, held0, holds, held, sent, recvd, a_held;
	double t_hold;

	if (make_conns(K_PIPE, 0, &a, &b) || make_conns(K_PIPE, 0, &h, &hb)) {
		CHECK(0 && "pairs for the gate");
		return;
	}
	migr_conn_gate_stats(&holds0, &held0);
	CHECK_EQ(migr_conn_gate_held_us(a), 0);
	CHECK_EQ(migr_conn_gate_held_us(NULL), 0);
	migr_conn_blackout(h, true);
	/* the holder's own stream goes through at once */
	stream_once(h, hb, 0, &hp, &hq);
	/* and so does a second holder's, while h holds too: two blackouts at once (an
	 * evacuation's window) never hold each other up */
	{
		struct migr_conn *h2, *h2b;
		struct producer p2 = { .bytes = 1u << 20, .seed = 79 };
		struct consumer q2 = { 0 };

		if (make_conns(K_PIPE, 0, &h2, &h2b) == 0) {
			migr_conn_blackout(h2, true);
			stream_once(h2, h2b, 0, &p2, &q2);
			CHECK_EQ(migr_conn_gate_held_us(h2), 0);
			migr_conn_blackout(h2, false);
			migr_conn_close(h2);
			migr_conn_close(h2b);
		} else {
			CHECK(0 && "a second holder");
		}
	}
	/* another connection's stream is held */
	CHECK_EQ(migr_conn_stream_out(a, 0, &p.fd), 0);
	CHECK_EQ(migr_conn_stream_in(b, &q.fd), 0);
	pthread_create(&p.th, NULL, producer_main, &p);
	pthread_create(&q.th, NULL, consumer_main, &q);
	t_hold = now_s();
	usleep(400000);
	CHECK_EQ(q.got, 0);
	migr_conn_blackout(h, false);
	t_hold = now_s() - t_hold;
	pthread_join(p.th, NULL);
	CHECK_EQ(p.err, 0);
	CHECK_EQ(migr_conn_stream_out_end(a, true, 0, NULL, &sent), 0);
	pthread_join(q.th, NULL);
	CHECK_EQ(migr_conn_stream_in_end(b, &recvd), 0);
	CHECK_EQ(recvd, p.bytes);
	CHECK(q.hash == p.hash);
	migr_conn_gate_stats(&holds, &held);
	CHECK(holds > holds0);
	CHECK(held > held0);
	/* the held connection counts every hold of the process since, and about as long as the
	 * hold (less the producer's start: it makes its first 4 MiB before it writes); the
	 * holder counts nothing */
	a_held = migr_conn_gate_held_us(a);
	CHECK_EQ(a_held, held - held0);
	CHECK(a_held >= 150000 && a_held <= (uint64_t)(t_hold * 1e6) + 100000);
	CHECK_EQ(migr_conn_gate_held_us(h), 0);
	CHECK_EQ(migr_conn_gate_held_us(b), 0);
	printf("blackout gate: the other stream held %.0f ms (its connection counts %.0f ms, the "
	       "hold lasted %.0f ms)\n", (double)(held - held0) / 1000.0, a_held / 1000.0,
	       t_hold * 1000.0);
	/* closing a holder lets the others go too */
	migr_conn_blackout(h, true);
	migr_conn_close(h);
	p.written = 0;
	q.got = 0;
	stream_once(a, b, 0, &p, &q);
	migr_conn_close(hb);
	migr_conn_close(a);
	migr_conn_close(b);
}

int main(int argc, char **argv)
{
	const char *d = getenv("MIGR_TEST_DATA");
	uint64_t big = (argc > 1 ? strtoull(argv[1], NULL, 0) : 32) << 20;

	signal(SIGPIPE, SIG_IGN);
	snprintf(data_dir, sizeof(data_dir), "%s", d ? d : "tests/data");
	/* migr refuses keys others can read; git does not keep the mode */
	chmod(dpath("psk.key"), 0600);
	chmod(dpath("server-key.pem"), 0600);
	chmod(dpath("client-key.pem"), 0600);
	test_stream(K_PSK, big);
	test_stream(K_X509, big);
	test_stream(K_TCP, big);
	test_stream(K_PIPE, big);
	test_abort_midway();
	test_reader_stops();
	test_cut();
	test_cut_mid_record();
	test_bad_frames();
	test_zero();
	test_compress();
	test_raw();
	test_bandwidth();
	test_cpu_share();
	test_timeout();
	test_write_timeout(true);
	test_write_timeout(false);
	test_blackout_gate();
	return unit_done("test_transport_stream");
}

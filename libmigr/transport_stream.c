/*
 * transport_stream.c: the "fd faces" of a connection (migr/transport.h).
 *
 * libxenguest's xc_domain_save() writes the migration stream to a plain fd and libxl's
 * restore reads it from one. These pumps put a pipe between such code and the connection:
 *
 *   migr_conn_stream_out()/_end()   producer -> pipe -> pump -> DATA (and ZERO) frames ->
 *                                   DATA_END
 *   migr_conn_stream_in()/_end()    DATA frames -> pump -> pipe -> consumer; stops exactly
 *                                   after DATA_END, so control messages can follow
 *
 * With MIGR_STREAM_COMPRESS (AUTO) or _ALWAYS, what is not zero may cross compressed: a
 * CDATA frame holds one zstd frame (level 1) and the length it stands for, and the
 * receiving pump decompresses it into exactly those bytes, so the consumer still reads the
 * producer's stream byte for byte. Under AUTO the pump measures, in windows of 250 ms, how
 * fast the compressor runs on the chunks it compressed, how much they shrank and how fast
 * the connection took what it wrote, and stream_cz.c decides whether the next window
 * compresses (only when that moves the stream faster than the link alone would). A chunk
 * that does not shrink goes as DATA.
 *
 * With MIGR_STREAM_ZERO, a run of at least ZERO_RUN_MIN zero bytes (a zero page, and the
 * free memory of a guest is mostly that) crosses as a ZERO frame that carries only its
 * length; the receiving pump writes the zeros back, so the consumer reads exactly the
 * bytes the producer wrote. Runs are found on 8-byte boundaries of the stream (libxc and
 * libxl records are 8-byte aligned, so every page of the stream starts on one).
 * docs/protocol.md ("Stream") has the frames. Pipes are sized to MIGR_IO_BUF and frames
 * carry up to that much. A pump owns the connection until the matching _end(). The pump
 * threads block SIGPIPE, so a consumer that goes away shows as EPIPE, not a signal.
 *
 * When the connection fails under stream_out, the pump keeps reading and discarding what
 * the producer writes (so the producer is never stuck on a full pipe) and reports the
 * error through migr_conn_stream_error() at once and migr_conn_stream_out_end() at the
 * end; a pre-copy policy can poll the former and abort early.
 */
#include <errno.h>
#include <time.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zstd.h>

#include "libmigr.h"
#include "transport_int.h"

#define CZ_LEVEL   1           /* zstd's level: docs/protocol.md says why */
#define CZ_MIN_SEG 4096        /* shorter pieces between zero runs go as DATA */
_Static_assert(MIGR_IO_BUF <= MIGR_CDATA_RAW_MAX, "a chunk must fit one CDATA frame");


static void block_sigpipe(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static int make_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	/* Best effort: beyond /proc/sys/fs/pipe-max-size an unprivileged caller gets EPERM. */
	fcntl(fds[1], F_SETPIPE_SZ, MIGR_IO_BUF);
	return 0;
}

static void pump_fail(struct migr_conn *c, int rc)
{
	int zero = 0;

	if (atomic_compare_exchange_strong(&c->pump_rc, &zero, rc))
		snprintf(c->pump_err, sizeof(c->pump_err), "%s", c->err);
}

int migr_conn_stream_error(const struct migr_conn *c)
{
	return atomic_load(&((struct migr_conn *)c)->pump_rc);
}

/* ---- out ---------------------------------------------------------------------------- */

static void signal_done(struct migr_conn *c);

#define ZERO_RUN_MIN 512

/* migr_conn_write() and migr_conn_flush() for the pump: the time they take (blocked on
 * the link or the bandwidth cap) and the bytes go into the compression window. */
static int pump_write(struct migr_conn *c, const void *p, size_t n)
{
	uint64_t t0 = migr__now_ns();
	int rc = migr_conn_write(c, p, n);

	c->cz_win.write_ns += migr__now_ns() - t0;
	c->cz_win.wire_bytes += n;
	return rc;
}

static int pump_flush(struct migr_conn *c)
{
	uint64_t t0 = migr__now_ns();
	int rc = migr_conn_flush(c);

	c->cz_win.write_ns += migr__now_ns() - t0;
	return rc;
}

/*
 * Sends the n stream bytes at buf as one CDATA frame if zstd makes them smaller; *sent_r
 * says whether it did (else the caller sends DATA). The compressor's time and what it
 * made go into the window, a chunk that did not shrink at its full size.
 */
static int send_cdata(struct migr_conn *c, const uint8_t *buf, size_t n, bool *sent_r)
{
	uint8_t *out;
	uint64_t t0;
	size_t cn;
	int rc;

	*sent_r = false;
	if (!c->cz_cctx) {
		c->cz_cctx = ZSTD_createCCtx();
		if (!c->cz_cctx ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(c->cz_cctx, ZSTD_c_compressionLevel, CZ_LEVEL)))
			return migr__conn_fail(c, -ENOMEM, "stream: cannot set up the compressor");
	}
	if (!c->cz_buf && !(c->cz_buf = malloc(MIGR_FRAME_HDR + 4 + MIGR_CDATA_RAW_MAX)))
		return migr__conn_fail(c, -ENOMEM, "stream: out of memory");
	out = c->cz_buf + MIGR_FRAME_HDR + 4;
	t0 = migr__now_ns();
	/* room for less than n: what does not shrink fails here, and goes as DATA */
	cn = ZSTD_compress2(c->cz_cctx, out, n - 1, buf, n);
	c->cz_win.cz_ns += migr__now_ns() - t0;
	c->cz_win.cz_in += n;
	if (ZSTD_isError(cn) || cn == 0) {
		c->cz_win.cz_out += n;
		return 0;
	}
	c->cz_win.cz_out += cn;
	migr__put_be32(c->cz_buf, MIGR_MSG_CDATA);
	migr__put_be32(c->cz_buf + 4, (uint32_t)(4 + cn));
	migr__put_be32(c->cz_buf + 8, (uint32_t)n);
	rc = pump_write(c, c->cz_buf, MIGR_FRAME_HDR + 4 + cn);
	if (rc)
		return rc;
	atomic_fetch_add(&c->stream_cz_out, n);
	atomic_fetch_add(&c->stream_cz_wire_out, cn);
	*sent_r = true;
	return 0;
}

/* Sends n stream bytes at buf (which has MIGR_FRAME_HDR bytes of room before it) as one
 * DATA frame (CDATA when this chunk is compressed and they shrink), or raw. */
static int send_data(struct migr_conn *c, uint8_t *buf, size_t n)
{
	bool sent;
	int rc;

	if (c->pump_raw)
		return pump_write(c, buf, n);
	if (c->cz_chunk && n >= CZ_MIN_SEG) {
		rc = send_cdata(c, buf, n, &sent);
		if (rc || sent)
			return rc;
	}
	migr__put_be32(buf - MIGR_FRAME_HDR, MIGR_MSG_DATA);
	migr__put_be32(buf - MIGR_FRAME_HDR + 4, (uint32_t)n);
	return pump_write(c, buf - MIGR_FRAME_HDR, n + MIGR_FRAME_HDR);
}

/* Closes the compression window once it is MIGR__CZ_WINDOW_NS long: the decision for the
 * next one, and the estimates published for migr_conn_stats(). */
static void cz_tick(struct migr_conn *c, bool last)
{
	uint64_t now = migr__now_ns();

	if (c->cz.mode == MIGR__CZ_OFF || !c->cz_win_start_ns ||
	    (now - c->cz_win_start_ns < MIGR__CZ_WINDOW_NS && !last))
		return;
	c->cz_win.wall_ns = now - c->cz_win_start_ns;
	migr__cz_window(&c->cz, &c->cz_win);
	memset(&c->cz_win, 0, sizeof(c->cz_win));
	c->cz_win_start_ns = now;
	atomic_store(&c->cz_c_Bps, (uint64_t)c->cz.c_Bps);
	atomic_store(&c->cz_link_Bps, (uint64_t)c->cz.link_Bps);
	atomic_store(&c->cz_ratio_milli, (uint64_t)(c->cz.ratio * 1000));
	atomic_store(&c->cz_windows, c->cz.windows);
	atomic_store(&c->cz_on_windows, c->cz.on_windows);
	atomic_store(&c->cz_switches, c->cz.switches);
}

void migr__stream_free(struct migr_conn *c)
{
	ZSTD_freeCCtx(c->cz_cctx);
	c->cz_cctx = NULL;
	free(c->cz_buf);
	c->cz_buf = NULL;
}

/* The end of the run of zero bytes that starts at p (8-byte aligned), up to end. */
static const uint8_t *zero_run(const uint8_t *p, const uint8_t *end)
{
	uint64_t w;

	while (p + 8 <= end) {
		memcpy(&w, p, 8);
		if (w)
			break;
		p += 8;
	}
	return p;
}

/*
 * Sends the chunk at buf+MIGR_FRAME_HDR (n bytes, at stream offset off): DATA frames for
 * what is not zero, ZERO frames for the runs. The frame header of each DATA frame goes
 * into the bytes just before it, which the previous part (already sent) or the buffer's
 * head room leaves free. Returns 0 or -errno; *zero_r gets the zero bytes not sent.
 */
static int send_chunk_zero(struct migr_conn *c, uint8_t *buf, size_t n, uint64_t off,
			   uint64_t *zero_r)
{
	uint8_t *data = buf + MIGR_FRAME_HDR, *end = data + n, *p, *start = data;
	uint8_t zhdr[MIGR_FRAME_HDR + 4];
	int rc;

	*zero_r = 0;
	/* the first 8-byte boundary of the stream in this chunk */
	p = data + ((8 - off % 8) % 8);
	while (p + ZERO_RUN_MIN <= end) {
		const uint8_t *z = zero_run(p, end);

		if ((size_t)(z - p) < ZERO_RUN_MIN) {
			p = (uint8_t *)z + 8;   /* past the non-zero word (or the run too short) */
			continue;
		}
		if (p > start && (rc = send_data(c, start, (size_t)(p - start))))
			return rc;
		migr__put_be32(zhdr, MIGR_MSG_ZERO);
		migr__put_be32(zhdr + 4, 4);
		migr__put_be32(zhdr + 8, (uint32_t)(z - p));
		if ((rc = pump_write(c, zhdr, sizeof(zhdr))))
			return rc;
		*zero_r += (uint64_t)(z - p);
		start = p = (uint8_t *)z;
	}
	return end > start ? send_data(c, start, (size_t)(end - start)) : 0;
}

/* ---- the blackout gate (migr_conn_blackout) ------------------------------------------- */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv;          /* on the monotonic clock (gate_init) */
static pthread_once_t gate_once = PTHREAD_ONCE_INIT;
static atomic_uint gate_holders;
static uint64_t gate_holds, gate_held_us;

static void gate_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&gate_cv, &a);
	pthread_condattr_destroy(&a);
}

void migr_conn_blackout(struct migr_conn *c, bool on)
{
	if (!c)
		return;
	pthread_once(&gate_once, gate_init);
	pthread_mutex_lock(&gate_mu);
	if (on && !c->gate_held) {
		c->gate_held = true;
		atomic_fetch_add(&gate_holders, 1);
	} else if (!on && c->gate_held) {
		c->gate_held = false;
		atomic_fetch_sub(&gate_holders, 1);
		pthread_cond_broadcast(&gate_cv);
	}
	pthread_mutex_unlock(&gate_mu);
}

void migr_conn_gate_stats(uint64_t *holds_r, uint64_t *held_us_r)
{
	pthread_mutex_lock(&gate_mu);
	*holds_r = gate_holds;
	*held_us_r = gate_held_us;
	pthread_mutex_unlock(&gate_mu);
}

uint64_t migr_conn_gate_held_us(const struct migr_conn *c)
{
	uint64_t us;

	if (!c)
		return 0;
	pthread_mutex_lock(&gate_mu);
	us = c->gate_held_us;
	pthread_mutex_unlock(&gate_mu);
	return us;
}

/* Before a pump sends: waits while another connection's guest is in its blackout, at most
 * MIGR_BLACKOUT_GATE_MS. A connection whose own guest is in its blackout never waits:
 * two blackouts at once (an evacuation's window) must not hold each other up. */
static void gate_wait(struct migr_conn *c)
{
	struct timespec until;
	uint64_t t0;
	bool held = false;

	if (atomic_load(&gate_holders) == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += MIGR_BLACKOUT_GATE_MS / 1000;
	until.tv_nsec += (long)(MIGR_BLACKOUT_GATE_MS % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	t0 = migr__now_us();
	pthread_mutex_lock(&gate_mu);
	while (!c->gate_held && atomic_load(&gate_holders) > 0) {
		held = true;
		if (pthread_cond_timedwait(&gate_cv, &gate_mu, &until) == ETIMEDOUT)
			break;
	}
	if (held) {
		uint64_t us = migr__now_us() - t0;

		gate_holds++;
		gate_held_us += us;
		c->gate_held_us += us;
	}
	pthread_mutex_unlock(&gate_mu);
}

/*
 * The sender's CPU share (transport opts cpu_share_pct): after each chunk, the pump waits
 * until the process's CPU time since the window's start is within the share of the wall
 * time, a window being a second (no credit saved up for later). Every thread of the
 * process counts (the producer's save, the sampler, the pump): the pump's wait stops the
 * producer too once the pipe is full, and the dom0 CPU is left to the guests.
 */
#define PACE_WINDOW_NS  1000000000ull
#define PACE_MAX_WAIT_NS 200000000ull
void migr_conn_set_cpu_share(struct migr_conn *c, unsigned int pct)
{
	atomic_store(&c->cpu_share_pct, pct < 100 ? pct : 0);
}

static void cpu_pace(struct migr_conn *c)
{
	struct timespec ts;
	uint64_t cpu, wall, may;
	unsigned int share = atomic_load(&c->cpu_share_pct);

	if (!share || clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts))
		return;
	cpu = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	wall = migr__now_ns();
	if (!c->pace_wall0_ns || wall - c->pace_wall0_ns >= PACE_WINDOW_NS ||
	    cpu < c->pace_cpu0_ns) {
		c->pace_wall0_ns = wall;
		c->pace_cpu0_ns = cpu;
		return;
	}
	/* the wall time the CPU used so far needs at this share */
	may = (cpu - c->pace_cpu0_ns) * 100 / share;
	if (may > wall - c->pace_wall0_ns) {
		uint64_t wait = may - (wall - c->pace_wall0_ns);

		if (wait > PACE_MAX_WAIT_NS)
			wait = PACE_MAX_WAIT_NS;
		ts.tv_sec = (time_t)(wait / 1000000000ull);
		ts.tv_nsec = (long)(wait % 1000000000ull);
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		atomic_fetch_add(&c->cpu_paced_ns, migr__now_ns() - wall);
	}
}

static void *pump_out_main(void *arg)
{
	struct migr_conn *c = arg;
	uint8_t *buf = malloc(MIGR_FRAME_HDR + MIGR_IO_BUF);
	uint64_t zero;
	ssize_t n;
	int rc, avail;

	block_sigpipe();
	if (!buf) {
		migr__conn_fail(c, -ENOMEM, "stream: out of memory");
		pump_fail(c, -ENOMEM);
	}
	for (;;) {
		n = read(c->pump_fd, buf ? buf + MIGR_FRAME_HDR : (uint8_t *)&avail,
		         buf ? MIGR_IO_BUF : sizeof(avail));
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			migr__conn_fail(c, rc, "stream: reading the producer's pipe: %s", strerror(errno));
			pump_fail(c, rc);
			break;
		}
		if (atomic_load(&c->pump_rc))
			continue;           /* draining after an error */
		if (!atomic_load(&c->stream_start_ns))
			atomic_store(&c->stream_start_ns, migr__now_ns());
		gate_wait(c);
		if (!c->cz_win_start_ns)
			c->cz_win_start_ns = migr__now_ns();
		c->cz_chunk = !c->pump_raw && migr__cz_sample_due(&c->cz);
		zero = 0;
		if (c->pump_zero && !c->pump_raw)
			rc = send_chunk_zero(c, buf, (size_t)n, c->pump_bytes, &zero);
		else
			rc = send_data(c, buf + MIGR_FRAME_HDR, (size_t)n);
		/* Send now when the producer has nothing more at hand. */
		if (!rc && (ioctl(c->pump_fd, FIONREAD, &avail) < 0 || avail == 0))
			rc = pump_flush(c);
		if (rc) {
			pump_fail(c, rc);
			continue;
		}
		cz_tick(c, false);
		c->pump_bytes += (uint64_t)n;
		atomic_fetch_add(&c->stream_out, (uint64_t)n);
		atomic_fetch_add(&c->stream_zero_out, zero);
		if (!c->gate_held)   /* never in its own guest's blackout */
			cpu_pace(c);
	}
	if (!atomic_load(&c->pump_rc)) {
		rc = pump_flush(c);
		if (rc)
			pump_fail(c, rc);
	}
	cz_tick(c, true);
	free(buf);
	signal_done(c);
	return NULL;
}

static void *pump_in_main(void *arg);

static void close_done_fd(struct migr_conn *c)
{
	if (c->pump_done_fd >= 0)
		close(c->pump_done_fd);
	c->pump_done_fd = -1;
}

/* The pump's last act: tell a caller waiting on migr_conn_stream_in_done_fd(). */
static void signal_done(struct migr_conn *c)
{
	uint64_t one = 1;

	atomic_store(&c->pump_done, true);
	if (write(c->pump_done_fd, &one, sizeof(one)) < 0) {
		/* an eventfd write fails only on overflow, impossible here */
	}
}

/*
 * pump_launch: the pipe between the caller and a pump thread, and the thread. OUT: the
 * caller writes the pipe and the pump sends it; else the pump receives into the pipe and
 * the caller reads it. The fd the caller uses goes to *fd_r.
 */
static int pump_launch(struct migr_conn *c, bool out, bool raw, int *fd_r)
{
	int fds[2], rc;

	rc = make_pipe(fds);
	if (rc)
		return migr__conn_fail(c, rc, "stream: pipe: %s", strerror(-rc));
	c->pump_done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->pump_done_fd < 0) {
		rc = -errno;
		close(fds[0]);
		close(fds[1]);
		return migr__conn_fail(c, rc, "stream: eventfd: %s", strerror(-rc));
	}
	c->pump_out = out;
	c->pump_raw = raw;
	c->pump_bytes = 0;
	atomic_store(&c->pump_rc, 0);
	atomic_store(&c->pump_done, false);
	c->pump_err[0] = '\0';
	atomic_store(&c->stream_start_ns, 0);
	atomic_store(&c->stream_end_ns, 0);
	c->user_fd = out ? fds[1] : fds[0];
	c->pump_fd = out ? fds[0] : fds[1];
	rc = pthread_create(&c->pump, NULL, out ? pump_out_main : pump_in_main, c);
	if (rc) {
		close(fds[0]);
		close(fds[1]);
		close_done_fd(c);
		c->user_fd = c->pump_fd = -1;
		return migr__conn_fail(c, -rc, "stream: cannot start the pump: %s", strerror(rc));
	}
	c->pump_running = true;
	*fd_r = c->user_fd;
	return 0;
}

static int pump_start(struct migr_conn *c, bool raw, bool zero, enum migr__cz_mode cz,
		      int *fd_r)
{
	int rc;

	if (c->pump_running)
		return migr__conn_fail(c, -EBUSY, "a stream is already running on this connection");
	if (raw && c->mode != MIGR__MODE_PIPE)
		return migr__conn_fail(c, -EINVAL, "raw streams exist only in byte-pipe mode");
	rc = c->broken ? c->broken : 0;
	if (rc)
		return migr__conn_fail(c, rc, "connection unusable after an earlier error");
	c->pump_zero = zero;
	migr__cz_init(&c->cz, raw ? MIGR__CZ_OFF : cz);
	memset(&c->cz_win, 0, sizeof(c->cz_win));
	c->cz_win_start_ns = 0;
	c->cz_chunk = false;
	return pump_launch(c, true, raw, fd_r);
}

int migr_conn_stream_out(struct migr_conn *c, unsigned int flags, int *fd_r)
{
	enum migr__cz_mode cz = flags & MIGR_STREAM_COMPRESS_ALWAYS ? MIGR__CZ_ON :
	                        flags & MIGR_STREAM_COMPRESS ? MIGR__CZ_AUTO : MIGR__CZ_OFF;

	return pump_start(c, flags & MIGR_STREAM_RAW, flags & MIGR_STREAM_ZERO, cz, fd_r);
}

/* Waits for the pump and closes both ends of its pipe. */
static void pump_join(struct migr_conn *c)
{
	pthread_join(c->pump, NULL);
	close_done_fd(c);
	c->pump_running = false;
	if (c->pump_fd >= 0)
		close(c->pump_fd);
	c->pump_fd = -1;
}

int migr_conn_stream_out_end(struct migr_conn *c, bool ok, uint32_t abort_code,
                             const char *reason, uint64_t *bytes_r)
{
	struct migr_msg m;
	int rc;

	if (!c->pump_running || !c->pump_out)
		return migr__conn_fail(c, -EINVAL, "no outgoing stream to end");
	close(c->user_fd);
	c->user_fd = -1;
	pump_join(c);
	atomic_store(&c->stream_end_ns, migr__now_ns());
	rc = atomic_load(&c->pump_rc);
	if (rc) {
		snprintf(c->err, sizeof(c->err), "%s", c->pump_err);
		return rc;
	}
	if (!c->pump_raw) {
		if (ok) {
			migr_msg_init(&m, MIGR_MSG_DATA_END);
			m.data_end.bytes = c->pump_bytes;
			rc = migr_msg_send(c, &m);
		} else {
			rc = migr_msg_send_abort(c, abort_code, reason);
		}
		if (rc)
			return rc;
	} else {
		rc = migr_conn_flush(c);
		if (rc)
			return rc;
	}
	if (bytes_r)
		*bytes_r = c->pump_bytes;
	return 0;
}

/* ---- in ----------------------------------------------------------------------------- */


/* Reads a non-DATA frame's payload (len <= MIGR_MSG_MAX by migr_frame_check) and decodes
 * it. */
static int read_msg(struct migr_conn *c, uint32_t type, uint32_t len, uint8_t *buf,
                    struct migr_msg *m)
{
	char err[MIGR_ERR_MAX];
	int rc;

	rc = migr_conn_read(c, buf, len);
	if (rc)
		return rc;
	rc = migr_msg_decode(type, buf, len, m, err, sizeof(err));
	if (rc)
		return migr__conn_fail(c, rc, "stream: %s", err);
	return 0;
}

/* Hands n bytes to the consumer; once it went away (EPIPE), only counts them. */
static int deliver(struct migr_conn *c, const uint8_t *buf, size_t n, bool *gone)
{
	int rc;

	if (*gone)
		return 0;
	rc = migr__write_all(c->pump_fd, buf, n);
	if (rc == -EPIPE) {
		*gone = true;
		return 0;
	}
	if (rc)
		return migr__conn_fail(c, rc, "stream: writing to the consumer's pipe: %s",
		                       strerror(-rc));
	return 0;
}

/* The consumer stopped reading: stop at a frame boundary; what follows is not read. */
static int reader_stopped(struct migr_conn *c)
{
	c->rx_broken = -EPIPE;
	return migr__conn_fail(c, -EPIPE, "stream: the reader stopped before the end of the "
	                       "stream (%llu bytes delivered)", (unsigned long long)c->pump_bytes);
}

/* What the receiving pump decompresses with, made at the first CDATA frame. */
struct unz {
	ZSTD_DCtx *dctx;
	uint8_t *zbuf;             /* one frame's compressed bytes */
};

/*
 * A CDATA frame of len bytes (5 .. MIGR_CDATA_MAX by migr_frame_check): its raw length
 * (1 .. MIGR_CDATA_RAW_MAX, and more than the compressed bytes that follow) is checked
 * before anything else is read, and the zstd frame must decompress into exactly that many
 * bytes of buf (MIGR_IO_BUF), never more: zstd is given no more room than that.
 */
static int read_cdata(struct migr_conn *c, uint32_t len, uint8_t *buf, struct unz *u,
		      uint32_t *raw_r)
{
	uint32_t raw, clen = len - 4;
	size_t got;
	int rc;

	rc = migr_conn_read(c, buf, 4);
	if (rc)
		return rc;
	raw = migr__get_be32(buf);
	if (raw == 0 || raw > MIGR_CDATA_RAW_MAX || clen >= raw) {
		c->rx_broken = -MIGR_E_PROTO;
		return migr__conn_fail(c, -MIGR_E_PROTO, "stream: CDATA frame of %u compressed "
		                       "bytes for %u (1 to %u, and more than the compressed bytes)",
		                       clen, raw, MIGR_CDATA_RAW_MAX);
	}
	if (!u->zbuf && !(u->zbuf = malloc(MIGR_CDATA_RAW_MAX)))
		return migr__conn_fail(c, -ENOMEM, "stream: out of memory");
	if (!u->dctx && !(u->dctx = ZSTD_createDCtx()))
		return migr__conn_fail(c, -ENOMEM, "stream: cannot set up the decompressor");
	rc = migr_conn_read(c, u->zbuf, clen);
	if (rc)
		return rc;
	got = ZSTD_decompressDCtx(u->dctx, buf, raw, u->zbuf, clen);
	if (ZSTD_isError(got) || got != raw) {
		c->rx_broken = -MIGR_E_PROTO;
		return migr__conn_fail(c, -MIGR_E_PROTO, "stream: CDATA frame does not decompress "
		                       "into its %u bytes (%s)", raw, ZSTD_isError(got) ?
		                       ZSTD_getErrorName(got) : "short");
	}
	atomic_fetch_add(&c->stream_cz_in, raw);
	atomic_fetch_add(&c->stream_cz_wire_in, clen);
	*raw_r = raw;
	return 0;
}

static int pump_in_run(struct migr_conn *c, uint8_t *buf, struct unz *u)
{
	uint8_t hdr[MIGR_FRAME_HDR];
	char err[MIGR_ERR_MAX];
	struct migr_msg m;
	uint32_t type, len;
	bool consumer_gone = false;
	unsigned int skipped = 0;   /* optional frames since the last DATA */
	int rc;

	for (;;) {
		rc = migr_conn_read(c, hdr, sizeof(hdr));
		if (rc)
			return rc;
		rc = migr_frame_check(hdr, &type, &len, err, sizeof(err));
		if (rc)
			return migr__conn_fail(c, rc, "stream: %s", err);
		switch (type) {
		case MIGR_MSG_DATA:
			skipped = 0;
			if (!atomic_load(&c->stream_start_ns))
				atomic_store(&c->stream_start_ns, migr__now_ns());
			while (len) {
				uint32_t n = len > MIGR_IO_BUF ? MIGR_IO_BUF : len;

				rc = migr_conn_read(c, buf, n);
				if (rc)
					return rc;
				len -= n;
				c->pump_bytes += n;
				atomic_fetch_add(&c->stream_in, n);
				rc = deliver(c, buf, n, &consumer_gone);
				if (rc)
					return rc;
			}
			if (consumer_gone)
				return reader_stopped(c);
			break;
		case MIGR_MSG_CDATA: {
			uint32_t raw = 0;

			skipped = 0;
			if (!atomic_load(&c->stream_start_ns))
				atomic_store(&c->stream_start_ns, migr__now_ns());
			rc = read_cdata(c, len, buf, u, &raw);
			if (rc)
				return rc;
			c->pump_bytes += raw;
			atomic_fetch_add(&c->stream_in, raw);
			rc = deliver(c, buf, raw, &consumer_gone);
			if (rc)
				return rc;
			if (consumer_gone)
				return reader_stopped(c);
			break;
		}
		case MIGR_MSG_ZERO: {
			uint32_t run;

			skipped = 0;
			rc = migr_conn_read(c, buf, 4);
			if (rc)
				return rc;
			run = migr__get_be32(buf);
			if (run == 0 || run > MIGR_ZERO_MAX) {
				c->rx_broken = -MIGR_E_PROTO;
				return migr__conn_fail(c, -MIGR_E_PROTO, "stream: ZERO frame of %u bytes "
				                       "(1 to %u)", run, MIGR_ZERO_MAX);
			}
			if (!atomic_load(&c->stream_start_ns))
				atomic_store(&c->stream_start_ns, migr__now_ns());
			c->pump_bytes += run;
			atomic_fetch_add(&c->stream_in, run);
			atomic_fetch_add(&c->stream_zero_in, run);
			memset(buf, 0, run < MIGR_IO_BUF ? run : MIGR_IO_BUF);
			while (run) {
				uint32_t k = run > MIGR_IO_BUF ? MIGR_IO_BUF : run;

				rc = deliver(c, buf, k, &consumer_gone);
				if (rc)
					return rc;
				run -= k;
			}
			if (consumer_gone)
				return reader_stopped(c);
			break;
		}
		case MIGR_MSG_DATA_END:
			rc = read_msg(c, type, len, buf, &m);
			if (rc)
				return rc;
			if (m.data_end.bytes != c->pump_bytes)
				return migr__conn_fail(c, -MIGR_E_PROTO, "stream: DATA_END says %llu bytes, "
				                       "%llu arrived",
				                       (unsigned long long)m.data_end.bytes,
				                       (unsigned long long)c->pump_bytes);
			return 0;
		case MIGR_MSG_ABORT:
			rc = read_msg(c, type, len, buf, &m);
			if (rc)
				return rc;
			migr__conn_set_peer_abort(c, m.abort.code, m.abort.reason);
			return migr__conn_fail(c, -MIGR_E_ABORTED, "the peer aborted the stream (%s)%s%s",
			                       migr_abort_name(m.abort.code),
			                       m.abort.reason[0] ? ": " : "", m.abort.reason);
		default:
			if ((type & MIGR_MSG_OPTIONAL) && ++skipped > MIGR_OPTIONAL_RUN_MAX) {
				c->rx_broken = -MIGR_E_PROTO;
				return migr__conn_fail(c, -MIGR_E_PROTO, "stream: more than %d unknown "
				                       "optional messages in a row", MIGR_OPTIONAL_RUN_MAX);
			}
			if (type & MIGR_MSG_OPTIONAL) {
				while (len) {
					uint32_t n = len > MIGR_IO_BUF ? MIGR_IO_BUF : len;

					rc = migr_conn_read(c, buf, n);
					if (rc)
						return rc;
					len -= n;
				}
				break;
			}
			c->rx_broken = -MIGR_E_PROTO;
			return migr__conn_fail(c, -MIGR_E_PROTO, "stream: unexpected %s inside the stream",
			                       migr_msg_type_name(type));
		}
	}
}

static void *pump_in_main(void *arg)
{
	struct migr_conn *c = arg;
	uint8_t *buf = malloc(MIGR_IO_BUF);
	struct unz u = { NULL, NULL };
	int rc;

	block_sigpipe();
	if (!buf)
		rc = migr__conn_fail(c, -ENOMEM, "stream: out of memory");
	else
		rc = pump_in_run(c, buf, &u);
	ZSTD_freeDCtx(u.dctx);
	free(u.zbuf);
	if (rc)
		pump_fail(c, rc);
	atomic_store(&c->stream_end_ns, migr__now_ns());
	/* The consumer sees end of file, whether the stream ended well or not. */
	close(c->pump_fd);
	c->pump_fd = -1;
	free(buf);
	signal_done(c);
	return NULL;
}

int migr_conn_stream_in_started(struct migr_conn *c, unsigned int timeout_ms)
{
	struct pollfd pf = { .fd = c->user_fd, .events = POLLIN };
	int rc;

	/* Blocks, without a timer of its own (a polling loop costs an emulated dom0 dearly):
	 * the pipe becomes readable with the first bytes, or at the pump's end (its write
	 * end closed). */
	do
		rc = poll(&pf, 1, (int)timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return -ETIMEDOUT;
	if (rc < 0)
		return -errno;
	if (atomic_load(&c->stream_start_ns))
		return 0;
	/* readable without a stream begun: the pump ended; wait until it says how */
	while (!atomic_load(&c->stream_end_ns)) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	rc = migr_conn_stream_error(c);
	return rc ? rc : -EPIPE;
}

int migr_conn_stream_in(struct migr_conn *c, int *fd_r)
{
	int rc;

	if (c->pump_running)
		return migr__conn_fail(c, -EBUSY, "a stream is already running on this connection");
	rc = c->broken ? c->broken : c->rx_broken;
	if (rc)
		return migr__conn_fail(c, rc, "connection unusable after an earlier error");
	c->pump_zero = false;
	return pump_launch(c, false, false, fd_r);
}

int migr_conn_stream_in_end(struct migr_conn *c, uint64_t *bytes_r)
{
	int unread = 0, rc;

	if (!c->pump_running || c->pump_out)
		return migr__conn_fail(c, -EINVAL, "no incoming stream to end");
	/* Bytes still in the pipe were never taken by the reader. */
	if (ioctl(c->user_fd, FIONREAD, &unread) < 0)
		unread = 0;
	close(c->user_fd);
	c->user_fd = -1;
	pthread_join(c->pump, NULL);
	close_done_fd(c);
	c->pump_running = false;
	rc = atomic_load(&c->pump_rc);
	if (rc) {
		snprintf(c->err, sizeof(c->err), "%s", c->pump_err);
		return rc;
	}
	if (unread > 0)
		return migr__conn_fail(c, -EPIPE, "stream: the reader left %d bytes of the stream "
		                       "unread", unread);
	if (bytes_r)
		*bytes_r = c->pump_bytes;
	return 0;
}

int migr_conn_stream_in_done_fd(const struct migr_conn *c)
{
	return c->pump_running && !c->pump_out ? c->pump_done_fd : -1;
}

bool migr_conn_stream_in_complete(const struct migr_conn *c)
{
	return c->pump_running && !c->pump_out && atomic_load(&c->pump_done) &&
	       atomic_load(&c->pump_rc) == 0;
}

void migr__stream_abandon(struct migr_conn *c)
{
	if (!c->pump_running)
		return;
	if (c->user_fd >= 0)
		close(c->user_fd);
	c->user_fd = -1;
	/* Unblock a pump waiting on the network. */
	if (c->is_socket)
		shutdown(c->rfd, SHUT_RDWR);
	else if (!atomic_load(&c->pump_done))
		pthread_cancel(c->pump);
	c->broken = -ECONNABORTED;
	pthread_join(c->pump, NULL);
	close_done_fd(c);
	c->pump_running = false;
	if (c->pump_fd >= 0)
		close(c->pump_fd);
	c->pump_fd = -1;
}

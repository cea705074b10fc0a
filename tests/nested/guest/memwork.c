/*
 * memwork: the memory workload of the lab's guests.
 *
 * It keeps a working set of pages filled with a verifiable pattern, rewrites pages at a chosen
 * rate, timestamps its own progress to measure pauses (a realtime gap seen from inside the
 * guest is a blackout measure), verifies every page on demand and after every pause, and
 * reports over its console (stdout) and the guest's own xenstore tree (data/memwork/).
 * It talks to xenstore itself over /dev/xen/xenbus: the guest has no Xen libraries.
 *
 * Options, console lines, xenstore nodes and commands are documented in
 * tests/nested/guest/README.md; the lab parses them, so keep the two in step.
 *
 * Threads: the writer (main) thread owns the working set. It alone writes pages and runs
 * verifications, so a verification never races a write. The command sources (xenstore
 * polling, stdin, SIGUSR1) ask it for verifications through `struct shared`.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE_ 4096u
#define PAGE_MAGIC 0x314b524f574d454dull /* "MEMWORK1" in memory order */
#define MAX_BAD_LISTED 32                /* "bad" console lines per verification */
#define MAX_BAD_NODE 16                  /* page indexes in the data/memwork/bad node */
#define CMD_MAX 128                      /* longest command accepted */
#define RESULT_MAX 192

/* Header at the start of every working-set page; the rest is the body. */
struct page_hdr {
	uint64_t magic;
	uint32_t index;
	uint32_t zero;
	uint64_t seq;
	uint64_t csum; /* over magic, index, zero, seq and the body */
};
#define BODY_WORDS ((PAGE_SIZE_ - sizeof(struct page_hdr)) / sizeof(uint64_t))

/* ---- options ------------------------------------------------------------------------------ */

struct opts {
	unsigned wss_mib;
	unsigned long rate;   /* pages/s; 0 = idle */
	bool sequential;
	unsigned tick_ms;
	unsigned gap_ms;      /* a tick gap above this is a pause: verify */
	unsigned stats_s;     /* console stats line period; 0 = off */
	unsigned duration_s;  /* 0 = run until SIGTERM/SIGINT */
	uint64_t seed;
	bool seed_set;
	bool use_xenstore;
	const char *xenbus;
	bool stdin_cmds;
	bool ptraceable;
	bool selftest;
};

/* ---- state shared between the writer and the command threads ------------------------------ */

struct vresult {
	uint64_t gen;
	bool ok;
	uint64_t bad;
	uint64_t first;       /* first bad page index */
	uint64_t listed[MAX_BAD_NODE];
	unsigned nlisted;
	uint64_t ms;
};

struct shared {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* verification requests from command threads */
	uint64_t req;         /* requests made */
	uint64_t served;      /* requests answered */
	struct vresult last;  /* last verification, whatever asked for it */
	uint64_t verified;    /* verifications completed */
	uint64_t errors;      /* verifications that failed */
	/* gaps, in ms */
	uint64_t max_gap_rt, max_gap_mono;
	uint64_t last_gap_rt, last_gap_mono, ngaps;
	struct timespec last_gap_at;
	/* progress */
	uint64_t writes;
	uint64_t rate_now;    /* pages written in the last full second */
	/* set by the writer when the xenstore nodes must all be rewritten */
	bool republish;
	/* set by the writer when a node changed that readers wait for (publish it now) */
	bool changed;
	/* CLOCK_MONOTONIC ns until which memwork stays off xenstore (after a pause) */
	int64_t quiet_until;
};

static struct shared sh = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static struct opts opt;
static uint8_t *ws;           /* working set */
static uint64_t *seqs;        /* seq[] per page */
static uint64_t npages;
static unsigned long rate_req; /* current rate; commands change it */
static volatile sig_atomic_t sig_usr1, sig_stop;

/* ---- output ------------------------------------------------------------------------------- */

/* One console line, "memwork: ...", written whole. */
static void __attribute__((format(printf, 1, 2))) say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof(line), "memwork: ");

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	flockfile(stdout);
	fputs(line, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	funlockfile(stdout);
}

/* ---- time --------------------------------------------------------------------------------- */

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int64_t now_ns(clockid_t clk)
{
	struct timespec t;

	clock_gettime(clk, &t);
	return ts_ns(&t);
}

/* ---- the page pattern --------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t body_seed(uint64_t index, uint64_t seq)
{
	uint64_t s = index * 0xd1b54a32d192ed03ull ^ seq * 0x8cb92ba72f3d8dd7ull;

	return splitmix64(&s);
}

static uint64_t csum_step(uint64_t h, uint64_t w)
{
	h ^= w;
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 32);
}

static uint64_t csum_head(const struct page_hdr *h)
{
	uint64_t c = 0x6a09e667f3bcc908ull;

	c = csum_step(c, h->magic);
	c = csum_step(c, ((uint64_t)h->zero << 32) | h->index);
	return csum_step(c, h->seq);
}

/* The checksum a page claims to have, computed from its own contents. */
static uint64_t page_csum(const uint8_t *p)
{
	const struct page_hdr *h = (const void *)p;
	const uint64_t *body = (const void *)(p + sizeof(*h));
	uint64_t c = csum_head(h);

	for (size_t i = 0; i < BODY_WORDS; i++)
		c = csum_step(c, body[i]);
	return c;
}

/* Writes the page's content for (index, seq): a pure function of the two. */
static void fill_page(uint8_t *p, uint64_t index, uint64_t seq)
{
	struct page_hdr *h = (void *)p;
	uint64_t *body = (void *)(p + sizeof(*h));
	uint64_t s = body_seed(index, seq);
	uint64_t c;

	h->magic = PAGE_MAGIC;
	h->index = (uint32_t)index;
	h->zero = 0;
	h->seq = seq;
	c = csum_head(h);
	for (size_t i = 0; i < BODY_WORDS; i++) {
		body[i] = splitmix64(&s);
		c = csum_step(c, body[i]);
	}
	h->csum = c;
}

/* Fast check: is page p exactly the content of (index, seq)? */
static bool page_ok(const uint8_t *p, uint64_t index, uint64_t seq)
{
	const struct page_hdr *h = (const void *)p;
	const uint64_t *body = (const void *)(p + sizeof(*h));
	uint64_t s, c;

	if (h->magic != PAGE_MAGIC || h->index != (uint32_t)index || h->zero || h->seq != seq)
		return false;
	s = body_seed(index, seq);
	c = csum_head(h);
	for (size_t i = 0; i < BODY_WORDS; i++) {
		uint64_t w = splitmix64(&s);

		if (body[i] != w)
			return false;
		c = csum_step(c, w);
	}
	return h->csum == c;
}

/*
 * What is wrong with a page that failed page_ok(), against its expected content:
 * kind (see README), first differing byte offset, number of differing bytes.
 */
static const char *diagnose(const uint8_t *p, uint64_t index, uint64_t seq,
			    unsigned *off_r, unsigned *nbytes_r)
{
	static uint8_t expect[PAGE_SIZE_];
	const struct page_hdr *h = (const void *)p;
	unsigned off = PAGE_SIZE_, n = 0;
	bool zero = true;

	fill_page(expect, index, seq);
	for (unsigned i = 0; i < PAGE_SIZE_; i++) {
		if (p[i])
			zero = false;
		if (p[i] != expect[i]) {
			if (off == PAGE_SIZE_)
				off = i;
			n++;
		}
	}
	*off_r = off;
	*nbytes_r = n;
	if (zero)
		return "zero";
	if (h->magic != PAGE_MAGIC)
		return "magic";
	if (h->index != (uint32_t)index || h->zero)
		return "index";
	if (h->seq != seq) {
		if (page_csum(p) != h->csum)
			return "seq";
		return h->seq < seq ? "stale" : "future"; /* a whole, older or newer version */
	}
	if (off >= offsetof(struct page_hdr, csum) && off + n <= sizeof(struct page_hdr) &&
	    !memcmp(p + sizeof(struct page_hdr), expect + sizeof(struct page_hdr),
		    PAGE_SIZE_ - sizeof(struct page_hdr)))
		return "checksum"; /* only the checksum field differs */
	return "body";
}

static uint8_t *page_at(uint64_t i)
{
	return ws + i * PAGE_SIZE_;
}

static void write_page(uint64_t i)
{
	fill_page(page_at(i), i, ++seqs[i]);
}

/*
 * Verifies every page, prints the result, records it in sh. Writer thread only.
 * reason says who asked: start, cmd, signal, gap, exit.
 */
static bool verify(const char *reason)
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	struct vresult r = { .ok = true };
	/* The harness's check, not the workload: it runs at the lowest priority so that it does
	 * not hold up the guest's own work (after a migration: its drivers reconnecting). */
	pid_t tid = gettid();
	int nice0;

	errno = 0;
	nice0 = getpriority(PRIO_PROCESS, (id_t)tid);
	if (errno)
		nice0 = 0;
	setpriority(PRIO_PROCESS, (id_t)tid, 19);

	pthread_mutex_lock(&sh.lock);
	r.gen = sh.verified + 1; /* only this thread counts verifications */
	pthread_mutex_unlock(&sh.lock);

	for (uint64_t i = 0; i < npages; i++) {
		unsigned off, nbytes;
		const struct page_hdr *h;
		const char *kind;

		if (page_ok(page_at(i), i, seqs[i]))
			continue;
		if (r.bad == 0)
			r.first = i;
		if (r.nlisted < MAX_BAD_NODE)
			r.listed[r.nlisted++] = i;
		r.bad++;
		r.ok = false;
		if (r.bad > MAX_BAD_LISTED)
			continue;
		h = (const void *)page_at(i);
		kind = diagnose(page_at(i), i, seqs[i], &off, &nbytes);
		say("bad page=%" PRIu64 " gen=%" PRIu64 " kind=%s off=%u nbytes=%u found_seq=%" PRIu64
		    " expected_seq=%" PRIu64 " found_index=%" PRIu32,
		    i, r.gen, kind, off, nbytes, h->seq, seqs[i], h->index);
	}
	r.ms = (uint64_t)(now_ns(CLOCK_MONOTONIC) - t0) / 1000000;
	setpriority(PRIO_PROCESS, (id_t)tid, nice0); /* needs root to go back up; else stays */

	pthread_mutex_lock(&sh.lock);
	r.gen = ++sh.verified;
	if (!r.ok)
		sh.errors++;
	sh.last = r;
	sh.changed = true;
	pthread_mutex_unlock(&sh.lock);

	if (r.ok)
		say("verify ok pages=%" PRIu64 " gen=%" PRIu64 " reason=%s ms=%" PRIu64,
		    npages, r.gen, reason, r.ms);
	else
		say("verify FAIL pages=%" PRIu64 " gen=%" PRIu64 " bad=%" PRIu64 " first=%" PRIu64
		    " listed=%u reason=%s ms=%" PRIu64, npages, r.gen, r.bad, r.first,
		    r.bad < MAX_BAD_LISTED ? (unsigned)r.bad : MAX_BAD_LISTED, reason, r.ms);
	return r.ok;
}

/* ---- commands ----------------------------------------------------------------------------- */

/* Strict decimal: digits only, no sign, no leading blanks, at most max. */
static int parse_u64(const char *s, uint64_t max, uint64_t *v_r)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*v_r = v;
	return 0;
}

/* Asks the writer thread for a verification and waits for its result. */
static struct vresult request_verify(void)
{
	struct vresult r;
	uint64_t mine;

	pthread_mutex_lock(&sh.lock);
	mine = ++sh.req;
	while (sh.served < mine && !sig_stop)
		pthread_cond_wait(&sh.cond, &sh.lock);
	r = sh.last;
	pthread_mutex_unlock(&sh.lock);
	return r;
}

/* The guest frame number of working-set page i, from /proc/self/pagemap. */
static int page_pfn(uint64_t i, uint64_t *pfn_r)
{
	uintptr_t va = (uintptr_t)page_at(i);
	uint64_t ent;
	ssize_t n;
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, &ent, sizeof(ent), (off_t)(va / PAGE_SIZE_ * sizeof(ent)));
	close(fd);
	if (n != sizeof(ent))
		return n < 0 ? -errno : -EIO;
	if (!(ent >> 63))
		return -ENODATA;                 /* not present: cannot happen while mlocked */
	ent &= (1ull << 55) - 1;
	if (!ent)
		return -EPERM;                   /* PFNs are hidden without CAP_SYS_ADMIN */
	*pfn_r = ent;
	return 0;
}

/*
 * The guest kernel's memory, from /proc/meminfo: what a leak across migrations shows in
 * (free memory falling hop after hop while the working set stays the same).
 */
static void meminfo(char *res, size_t cap)
{
	static const char *const keys[] = { "MemTotal", "MemAvailable", "MemFree", "Slab",
					    "SUnreclaim", "Percpu" };
	static const char *const names[] = { "total_kib", "avail_kib", "free_kib", "slab_kib",
					     "unreclaim_kib", "percpu_kib" };
	unsigned long long val[6] = { 0 };
	bool seen[6] = { false };
	char line[128];
	size_t used;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f) {
		snprintf(res, cap, "error meminfo %s", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f))
		for (size_t i = 0; i < 6; i++) {
			size_t kl = strlen(keys[i]);

			if (!strncmp(line, keys[i], kl) && line[kl] == ':' &&
			    sscanf(line + kl + 1, "%llu", &val[i]) == 1)
				seen[i] = true;
		}
	fclose(f);
	if (!seen[0] || !seen[2]) {
		snprintf(res, cap, "error meminfo unreadable");
		return;
	}
	used = (size_t)snprintf(res, cap, "ok");
	for (size_t i = 0; i < 6 && used < cap; i++)
		if (seen[i])
			used += (size_t)snprintf(res + used, cap - used, " %s=%llu", names[i], val[i]);
}

struct xs;
static int xs_write(struct xs *xs, const char *path, const char *val);
static int ackflood_command(uint64_t seconds, char *res, size_t cap);

/*
 * Runs one command (the text after its ID) and writes its result text: "ok ...",
 * "FAIL ..." or "error ...". xs, if not NULL, receives the command's extra nodes.
 */
static void run_command(const char *cmd, struct xs *xs, char *res, size_t cap)
{
	char verb[16], arg[32], extra[2];
	uint64_t v;
	int n, rc;

	for (const char *c = cmd; *c; c++)
		if (*c < 0x20 || *c > 0x7e) {
			snprintf(res, cap, "error bad-characters");
			return;
		}
	n = sscanf(cmd, "%15s %31s %1s", verb, arg, extra);
	if (n < 1 || n > 2) {
		snprintf(res, cap, "error bad-command");
		return;
	}
	if (!strcmp(verb, "verify") && n == 1) {
		struct vresult r = request_verify();

		if (sig_stop)
			snprintf(res, cap, "error stopping");
		else if (r.ok)
			snprintf(res, cap, "ok pages=%" PRIu64 " gen=%" PRIu64, npages, r.gen);
		else
			snprintf(res, cap, "FAIL pages=%" PRIu64 " gen=%" PRIu64 " bad=%" PRIu64
				 " first=%" PRIu64, npages, r.gen, r.bad, r.first);
	} else if ((!strcmp(verb, "pfn") || !strcmp(verb, "addr")) && n == 2) {
		if (parse_u64(arg, npages - 1, &v)) {
			snprintf(res, cap, "error bad-page");
			return;
		}
		if (verb[0] == 'a') {
			snprintf(res, cap, "ok page=%" PRIu64 " addr=0x%" PRIxPTR, v,
				 (uintptr_t)page_at(v));
			return;
		}
		uint64_t pfn = 0;

		rc = page_pfn(v, &pfn);
		if (rc) {
			snprintf(res, cap, "error pagemap %s", strerror(-rc));
			return;
		}
		if (xs) {
			char path[64], val[24];

			snprintf(path, sizeof(path), "data/memwork/pfn-of-page-%" PRIu64, v);
			snprintf(val, sizeof(val), "%" PRIu64, pfn);
			xs_write(xs, path, val);
		}
		snprintf(res, cap, "ok page=%" PRIu64 " pfn=%" PRIu64, v, pfn);
	} else if (!strcmp(verb, "rate") && n == 2) {
		if (parse_u64(arg, 10000000, &v)) {
			snprintf(res, cap, "error bad-rate");
			return;
		}
		__atomic_store_n(&rate_req, (unsigned long)v, __ATOMIC_RELAXED);
		snprintf(res, cap, "ok rate=%" PRIu64, v);
	} else if (!strcmp(verb, "meminfo") && n == 1) {
		meminfo(res, cap);
	} else if (!strcmp(verb, "ackflood") && n == 2) {
		if (parse_u64(arg, 86400, &v)) {
			snprintf(res, cap, "error bad-seconds");
			return;
		}
		rc = ackflood_command(v, res, cap);
		if (rc)
			snprintf(res, cap, "error ackflood %s", strerror(-rc));
	} else if (!strcmp(verb, "stats") && n == 1) {
		pthread_mutex_lock(&sh.lock);
		snprintf(res, cap, "ok writes=%" PRIu64 " rate=%" PRIu64 " verified=%" PRIu64
			 " errors=%" PRIu64 " max_gap_rt_ms=%" PRIu64 " max_gap_mono_ms=%" PRIu64,
			 sh.writes, sh.rate_now, sh.verified, sh.errors, sh.max_gap_rt,
			 sh.max_gap_mono);
		pthread_mutex_unlock(&sh.lock);
	} else {
		snprintf(res, cap, "error unknown-command");
	}
}

/* Splits "ID REST": ID decimal (chosen by the sender), then one space. */
static int split_id(const char *line, uint64_t *id_r, const char **rest_r)
{
	const char *sp = strchr(line, ' ');
	char idtxt[24];

	if (!sp || (size_t)(sp - line) >= sizeof(idtxt))
		return -EINVAL;
	memcpy(idtxt, line, (size_t)(sp - line));
	idtxt[sp - line] = 0;
	if (parse_u64(idtxt, INT64_MAX, id_r))
		return -EINVAL;
	*rest_r = sp + 1;
	return 0;
}

/*
 * One command line "ID VERB [ARG]". Prints the result line and writes "ID <result>" into
 * res; a line without a valid ID is answered under ID 0.
 */
static void handle_line(const char *line, struct xs *xs, char *res, size_t cap)
{
	char out[RESULT_MAX];
	const char *rest;
	uint64_t id = 0;

	if (split_id(line, &id, &rest))
		snprintf(out, sizeof(out), "error bad-id");
	else
		run_command(rest, xs, out, sizeof(out));
	say("result id=%" PRIu64 " %s", id, out);
	snprintf(res, cap, "%" PRIu64 " %s", id, out);
}

/* ---- a minimal xenstore client over the guest kernel's xenbus device ---------------------- */
/* Wire format: Xen's xen/include/public/io/xs_wire.h. */

enum {
	XS_DIRECTORY = 1,
	XS_READ = 2,
	XS_WRITE = 11,
	XS_RM = 13,
	XS_ERROR = 16,
};
#define XS_PAYLOAD_MAX 4096
#define XS_TIMEOUT_MS 10000

struct xs_hdr {
	uint32_t type, req_id, tx_id, len;
};

struct xs {
	int fd;
	uint32_t req_id;
};

static int xs_read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int rc = poll(&pfd, 1, XS_TIMEOUT_MS);

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			return -ETIMEDOUT;
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int xs_errno(const char *s, size_t len)
{
	static const struct { const char *name; int err; } map[] = {
		{ "EINVAL", EINVAL }, { "EACCES", EACCES }, { "EEXIST", EEXIST },
		{ "EISDIR", EISDIR }, { "ENOENT", ENOENT }, { "ENOMEM", ENOMEM },
		{ "ENOSPC", ENOSPC }, { "EIO", EIO }, { "ENOTEMPTY", ENOTEMPTY },
		{ "ENOSYS", ENOSYS }, { "EROFS", EROFS }, { "EBUSY", EBUSY },
		{ "EAGAIN", EAGAIN }, { "EISCONN", EISCONN }, { "E2BIG", E2BIG },
		{ "EPERM", EPERM },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strnlen(s, len) == strlen(map[i].name) && !strncmp(s, map[i].name, len))
			return -map[i].err;
	return -EIO;
}

/*
 * One request, one reply. reply (cap bytes) receives the payload, NUL-terminated;
 * a longer payload is -E2BIG. Returns 0, -errno from xenstore, or -EPROTO/-ETIMEDOUT/...
 * for a broken channel (the caller then reopens it).
 */
static int xs_request(struct xs *xs, uint32_t type, const char *a, size_t alen, const char *b,
		      size_t blen, char *reply, size_t cap)
{
	uint8_t msg[sizeof(struct xs_hdr) + XS_PAYLOAD_MAX];
	static _Thread_local char in[XS_PAYLOAD_MAX + 1];   /* the flood has a thread and a channel of its own */
	struct xs_hdr h = { .type = type, .req_id = ++xs->req_id, .len = (uint32_t)(alen + blen) };
	ssize_t n;
	int rc;

	if (xs->fd < 0)
		return -ENOTCONN;
	if (alen + blen > XS_PAYLOAD_MAX)
		return -E2BIG;
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), a, alen);
	if (blen)
		memcpy(msg + sizeof(h) + alen, b, blen);
	do
		n = write(xs->fd, msg, sizeof(h) + alen + blen);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)(sizeof(h) + alen + blen))
		return n < 0 ? -errno : -EIO;

	/* Replies come in order; anything else (a stray watch event) is skipped, a few times. */
	for (int tries = 0; tries < 16; tries++) {
		struct xs_hdr r;

		rc = xs_read_full(xs->fd, &r, sizeof(r));
		if (rc)
			return rc;
		if (r.len > XS_PAYLOAD_MAX)
			return -EPROTO;
		rc = xs_read_full(xs->fd, in, r.len);
		if (rc)
			return rc;
		in[r.len] = 0;
		if (r.req_id != h.req_id)
			continue;
		if (r.type == XS_ERROR)
			return xs_errno(in, r.len);
		if (r.type != type)
			return -EPROTO;
		if (reply) {
			if (r.len >= cap)
				return -E2BIG;
			memcpy(reply, in, r.len);
			reply[r.len] = 0;
		}
		return 0;
	}
	return -EPROTO;
}

static int xs_read(struct xs *xs, const char *path, char *buf, size_t cap)
{
	return xs_request(xs, XS_READ, path, strlen(path) + 1, NULL, 0, buf, cap);
}

static int xs_write(struct xs *xs, const char *path, const char *val)
{
	return xs_request(xs, XS_WRITE, path, strlen(path) + 1, val, strlen(val), NULL, 0);
}

static int xs_rm(struct xs *xs, const char *path)
{
	return xs_request(xs, XS_RM, path, strlen(path) + 1, NULL, 0, NULL, 0);
}

static void xs_close(struct xs *xs)
{
	if (xs->fd >= 0)
		close(xs->fd);
	xs->fd = -1;
}

static int xs_open(struct xs *xs)
{
	xs->fd = open(opt.xenbus, O_RDWR | O_CLOEXEC);
	return xs->fd < 0 ? -errno : 0;
}

/* ---- ackflood: the guest as a hostile writer of its maintenance ack node ------------------ */
/*
 * A thread with a xenbus channel of its own writes migr/ack (the node the guest may write
 * to end a maintenance notice early) as fast as xenstored answers, with values that are
 * never an event id, and every 64th time also creates a child under it (migr/ack/flood),
 * until its deadline. What dom0 then sees is a guest flooding the daemon's watch.
 */
static uint64_t flood_deadline_ns;             /* monotonic; 0: stop */
static uint64_t flood_writes, flood_refused;
static bool flood_running;
static pthread_mutex_t flood_lock = PTHREAD_MUTEX_INITIALIZER;

static void *ackflood_thread(void *arg)
{
	struct xs xs = { .fd = -1 };
	uint64_t n = 0;
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	char val[32];

	(void)arg;
	if (xs_open(&xs) == 0) {
		while ((uint64_t)now_ns(CLOCK_MONOTONIC) < __atomic_load_n(&flood_deadline_ns, __ATOMIC_RELAXED)
		       && !sig_stop) {
			snprintf(val, sizeof(val), "flood-%" PRIu64, n);
			int rc = (++n % 64) ? xs_write(&xs, "migr/ack", val)
					    : xs_write(&xs, "migr/ack/flood", val);

			__atomic_add_fetch(rc ? &flood_refused : &flood_writes, 1, __ATOMIC_RELAXED);
			if (rc && rc != -EACCES && rc != -ENOENT && rc != -EPERM) {
				xs_close(&xs);     /* a broken channel: a new one */
				if (xs_open(&xs))
					break;
			}
		}
		xs_close(&xs);
	}
	say("ackflood: %" PRIu64 " writes, %" PRIu64 " refused in %.1f s",
	    __atomic_load_n(&flood_writes, __ATOMIC_RELAXED),
	    __atomic_load_n(&flood_refused, __ATOMIC_RELAXED),
	    (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9);
	pthread_mutex_lock(&flood_lock);
	flood_running = false;
	pthread_mutex_unlock(&flood_lock);
	return NULL;
}

/* "ackflood S": flood for S seconds from now (0: stop); the result counts the writes so far. */
static int ackflood_command(uint64_t seconds, char *res, size_t cap)
{
	pthread_t tid;
	int rc = 0;

	pthread_mutex_lock(&flood_lock);
	__atomic_store_n(&flood_deadline_ns, seconds ?
			 (uint64_t)now_ns(CLOCK_MONOTONIC) + seconds * 1000000000ull : 0,
			 __ATOMIC_RELAXED);
	if (seconds && !flood_running) {
		rc = -pthread_create(&tid, NULL, ackflood_thread, NULL);
		if (!rc) {
			flood_running = true;
			pthread_detach(tid);
		}
	}
	pthread_mutex_unlock(&flood_lock);
	if (!rc)
		snprintf(res, cap, "ok ackflood=%" PRIu64 " writes=%" PRIu64 " refused=%" PRIu64,
			 seconds, __atomic_load_n(&flood_writes, __ATOMIC_RELAXED),
			 __atomic_load_n(&flood_refused, __ATOMIC_RELAXED));
	return rc;
}

/* ---- the xenstore thread: publishes state, polls data/memwork/cmd ------------------------- */

#define XS_DIR "data/memwork/"

static int xs_put(struct xs *xs, const char *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int xs_put(struct xs *xs, const char *node, const char *fmt, ...)
{
	char path[64], val[256];
	va_list ap;

	snprintf(path, sizeof(path), XS_DIR "%s", node);
	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	return xs_write(xs, path, val);
}

/*
 * memwork keeps its own xenstore traffic small. Under emulation every request costs 10-70 ms
 * of the guest's one xenbus connection and of dom0's xenstored, which the guest's own
 * drivers share: after a migration netfront reconnects through them, and a harness that
 * rewrote its 13 nodes every second would slow down the very blackout it is there to see.
 * So: a node is written only when its value changed; the counters that always change
 * (writes, rate) at most every PUB_COUNTERS_NS; one read of status per period tells whether
 * the tree was wiped (then all are written); cmd is polled every CMD_POLL_NS; and after
 * a pause of QUIET_MIN_GAP_NS or more (a migration, a save and restore: not the short
 * stalls of a busy host) memwork writes nothing for QUIET_AFTER_GAP_NS and polls cmd only
 * every CMD_POLL_QUIET_NS, before it writes its (possibly fresh) tree again.
 */
#define PUB_PERIOD_NS       1000000000LL
#define PUB_COUNTERS_NS     5000000000LL
#define CMD_POLL_NS         250000000LL
#define CMD_POLL_QUIET_NS   1000000000LL
#define QUIET_MIN_GAP_NS    1000000000LL
#define QUIET_AFTER_GAP_NS  3000000000LL

enum { N_PAGES, N_PID, N_VERIFIED, N_ERRORS, N_BAD, N_GAPS, N_LAST_GAP, N_LAST_GAP_MONO,
       N_LAST_GAP_AT, N_MAX_GAP, N_MAX_GAP_MONO, N_WRITES, N_RATE, N_STATUS, N_COUNT };
static const char *const node_names[N_COUNT] = {
	"pages", "pid", "verified", "errors", "bad", "gaps", "last-gap-ms", "last-gap-mono-ms",
	"last-gap-at", "max-gap-ms", "max-gap-mono-ms", "writes", "rate", "status",
};
/* the value each node was last written with ("" with written false: unknown) */
#define NODE_VAL_MAX (MAX_BAD_NODE * 21 + 1)
static char node_val[N_COUNT][NODE_VAL_MAX];
static bool node_written[N_COUNT];

/* Writes node I if its value differs from the last one written, or always with force. */
static int put_node(struct xs *xs, int i, bool force, const char *val)
{
	int rc;

	if (!force && node_written[i] && !strcmp(node_val[i], val))
		return 0;
	rc = xs_put(xs, node_names[i], "%s", val);
	node_written[i] = rc == 0;
	if (!rc) {
		size_t n = strnlen(val, NODE_VAL_MAX - 1);

		memcpy(node_val[i], val, n);
		node_val[i][n] = '\0';
	}
	return rc;
}

/* Writes the state nodes that changed (all = every one, the static ones too; counters =
 * writes and rate as well). First error returned; then the next call rewrites all. */
static int publish(struct xs *xs, bool all, bool counters)
{
	struct shared s;
	char v[N_COUNT][NODE_VAL_MAX];
	size_t off = 0;
	int rc = 0, i;

	pthread_mutex_lock(&sh.lock);
	s = sh;
	sh.republish = false;
	sh.changed = false;
	pthread_mutex_unlock(&sh.lock);

	if (s.verified == 0)
		snprintf(v[N_STATUS], sizeof(v[N_STATUS]), "running");
	else if (s.last.ok)
		snprintf(v[N_STATUS], sizeof(v[N_STATUS]), "ok gen=%" PRIu64, s.last.gen);
	else
		snprintf(v[N_STATUS], sizeof(v[N_STATUS]), "FAIL gen=%" PRIu64 " bad=%" PRIu64
			 " first=%" PRIu64, s.last.gen, s.last.bad, s.last.first);
	v[N_BAD][0] = 0;
	for (unsigned k = 0; k < s.last.nlisted; k++)
		off += (size_t)snprintf(v[N_BAD] + off, sizeof(v[N_BAD]) - off, "%s%" PRIu64,
					k ? " " : "", s.last.listed[k]);
	snprintf(v[N_PAGES], sizeof(v[N_PAGES]), "%" PRIu64, npages);
	snprintf(v[N_PID], sizeof(v[N_PID]), "%ld", (long)getpid());
	snprintf(v[N_VERIFIED], sizeof(v[N_VERIFIED]), "%" PRIu64, s.verified);
	snprintf(v[N_ERRORS], sizeof(v[N_ERRORS]), "%" PRIu64, s.errors);
	snprintf(v[N_GAPS], sizeof(v[N_GAPS]), "%" PRIu64, s.ngaps);
	snprintf(v[N_LAST_GAP], sizeof(v[N_LAST_GAP]), "%" PRIu64, s.last_gap_rt);
	snprintf(v[N_LAST_GAP_MONO], sizeof(v[N_LAST_GAP_MONO]), "%" PRIu64, s.last_gap_mono);
	snprintf(v[N_LAST_GAP_AT], sizeof(v[N_LAST_GAP_AT]), "%lld.%03ld",
		 (long long)s.last_gap_at.tv_sec, s.last_gap_at.tv_nsec / 1000000);
	snprintf(v[N_MAX_GAP], sizeof(v[N_MAX_GAP]), "%" PRIu64, s.max_gap_rt);
	snprintf(v[N_MAX_GAP_MONO], sizeof(v[N_MAX_GAP_MONO]), "%" PRIu64, s.max_gap_mono);
	snprintf(v[N_WRITES], sizeof(v[N_WRITES]), "%" PRIu64, s.writes);
	snprintf(v[N_RATE], sizeof(v[N_RATE]), "%" PRIu64, s.rate_now);

	/* a tree wiped without a pause seen (a fast migration): one read tells, then all */
	if (!all && node_written[N_STATUS]) {
		char cur[NODE_VAL_MAX];

		rc = xs_read(xs, XS_DIR "status", cur, sizeof(cur));
		if (rc == -ENOENT)
			all = true;
		rc = rc == -ENOENT ? 0 : rc;
	}
	/* status last: once it is there, the rest is too */
	for (i = 0; i < N_COUNT && !rc; i++) {
		if ((i == N_WRITES || i == N_RATE) && !counters && !all)
			continue;
		rc = put_node(xs, i, all, v[i]);
	}
	if (rc) {
		pthread_mutex_lock(&sh.lock);
		sh.republish = true;
		pthread_mutex_unlock(&sh.lock);
	}
	return rc;
}

/*
 * Reads data/memwork/cmd and runs it if it is new: its ID differs from the last one taken,
 * or the node was absent in between (after a migration the target's tree starts empty).
 * A malformed command is answered once (ID 0), until its text changes.
 */
static int poll_cmd(struct xs *xs, int64_t *last_id)
{
	static char last_bad[CMD_MAX + 1], res[RESULT_MAX + 32];
	static uint64_t id;
	static bool unsent; /* res is a result not yet written (xenstore failed) */
	char line[CMD_MAX + 1];
	const char *rest;
	int rc;

	if (unsent)
		goto send;
	rc = xs_read(xs, XS_DIR "cmd", line, sizeof(line));
	if (rc == -ENOENT) {
		*last_id = -1;
		last_bad[0] = 0;
		return 0;
	}
	if (rc == -E2BIG) {
		rc = 0;
		snprintf(line, sizeof(line), "(too long)");
	}
	if (rc)
		return rc;
	if (!line[0])
		return 0;
	if (split_id(line, &id, &rest) || !strcmp(line, "(too long)")) {
		if (!strcmp(line, last_bad))
			return 0;
		snprintf(last_bad, sizeof(last_bad), "%s", line);
		id = 0;
	} else {
		if ((int64_t)id == *last_id)
			return 0;
		*last_id = (int64_t)id;
		last_bad[0] = 0;
	}
	if (!strcmp(line, "(too long)")) {
		say("result id=0 error too-long");
		snprintf(res, sizeof(res), "0 error too-long");
	} else {
		handle_line(line, xs, res, sizeof(res));
	}
send:
	rc = xs_put(xs, "result", "%s", res);
	rc = rc ?: xs_put(xs, "cmd-done", "%" PRIu64, id);
	unsent = rc != 0; /* taken already: write the result again, do not run it again */
	return rc;
}

static void *xs_thread(void *arg)
{
	struct xs *xs = arg;
	int64_t last_id = -1, last_pub = 0, last_counters = 0, last_poll = 0;
	int64_t prev_mono = now_ns(CLOCK_MONOTONIC), prev_rt = now_ns(CLOCK_REALTIME);
	const int64_t gap = (int64_t)opt.gap_ms * 1000000;
	bool reported = false;

	for (;;) {
		struct timespec d = { 0, 50 * 1000000 };
		int64_t now, rt, quiet;
		bool again, changed;
		int rc = 0;

		if (sig_stop)
			break;
		/* a pause seen by this thread itself: quiet from now (the writer may be later) */
		now = now_ns(CLOCK_MONOTONIC);
		rt = now_ns(CLOCK_REALTIME);
		pthread_mutex_lock(&sh.lock);
		if ((now - prev_mono > gap || rt - prev_rt > gap) &&
		    (now - prev_mono >= QUIET_MIN_GAP_NS || rt - prev_rt >= QUIET_MIN_GAP_NS))
			sh.quiet_until = now + QUIET_AFTER_GAP_NS;
		quiet = sh.quiet_until;
		again = sh.republish;
		changed = sh.changed;
		pthread_mutex_unlock(&sh.lock);
		prev_mono = now;
		prev_rt = rt;
		if (xs->fd < 0 && xs_open(xs))
			goto sleep;
		if (now < quiet) {
			/* commands still answered, if more slowly; nothing published */
			if (now - last_poll >= CMD_POLL_QUIET_NS) {
				rc = poll_cmd(xs, &last_id);
				last_poll = now;
			}
			goto check;
		}
		if (again || changed || !last_pub || now - last_pub >= PUB_PERIOD_NS) {
			bool counters = now - last_counters >= PUB_COUNTERS_NS;

			rc = publish(xs, again || !last_pub, counters || again || !last_pub);
			last_pub = now;
			if (counters || again)
				last_counters = now;
		}
		if (!rc && now - last_poll >= CMD_POLL_NS) {
			rc = poll_cmd(xs, &last_id);
			last_poll = now;
		}
check:
		if (rc) {
			if (!reported)
				say("warning xenstore: %s, retrying", strerror(-rc));
			reported = true;
			xs_close(xs);
			pthread_mutex_lock(&sh.lock);
			sh.republish = true;
			pthread_mutex_unlock(&sh.lock);
		} else {
			reported = false;
		}
sleep:
		nanosleep(&d, NULL);
	}
	return NULL;
}

/* Sets up the xenstore side. Returns false (console only) when there is no xenstore. */
static bool xs_start(struct xs *xs)
{
	char domid[16];
	int rc;

	rc = xs_open(xs);
	if (rc) {
		say("xenstore absent (%s: %s), console only", opt.xenbus, strerror(-rc));
		return false;
	}
	rc = xs_read(xs, "domid", domid, sizeof(domid));
	if (rc == -ENOENT) {
		snprintf(domid, sizeof(domid), "unknown");
		rc = 0;
	}
	rc = rc ?: xs_rm(xs, "data/memwork");
	if (rc == -ENOENT)
		rc = 0;
	rc = rc ?: publish(xs, true, true);
	if (rc) {
		say("xenstore unusable (%s), console only", strerror(-rc));
		xs_close(xs);
		return false;
	}
	say("xenstore domid=%s dir=%s", domid, XS_DIR);
	return true;
}

/* ---- stdin commands ----------------------------------------------------------------------- */

static void *stdin_thread(void *arg)
{
	char line[CMD_MAX + 2], res[RESULT_MAX + 32];

	while (fgets(line, sizeof(line), stdin)) {
		size_t n = strlen(line);

		if (n && line[n - 1] == '\n')
			line[--n] = 0;
		else if (!feof(stdin)) { /* too long: drop the rest of the line */
			int c;

			while ((c = getchar()) != EOF && c != '\n')
				;
			say("result id=0 error too-long");
			continue;
		}
		if (n)
			handle_line(line, NULL, res, sizeof(res));
	}
	return NULL;
}

/* ---- the writer --------------------------------------------------------------------------- */

static void on_usr1(int sig)
{
	sig_usr1 = 1;
}

static void on_stop(int sig)
{
	sig_stop = 1;
}

static uint64_t rng_state;

static uint64_t pick_page(void)
{
	static uint64_t next;

	if (opt.sequential) {
		uint64_t i = next;

		next = (next + 1) % npages;
		return i;
	}
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint64_t)(((unsigned __int128)rng_state * npages) >> 64);
}

/* Answers waiting verification requests (one verification serves them all). */
static void serve_requests(void)
{
	uint64_t req;

	pthread_mutex_lock(&sh.lock);
	req = sh.req;
	pthread_mutex_unlock(&sh.lock);
	if (req == __atomic_load_n(&sh.served, __ATOMIC_RELAXED))
		return;
	verify("cmd");
	pthread_mutex_lock(&sh.lock);
	sh.served = req;
	pthread_cond_broadcast(&sh.cond);
	pthread_mutex_unlock(&sh.lock);
}

static int writer(void)
{
	const int64_t tick = (int64_t)opt.tick_ms * 1000000, gap = (int64_t)opt.gap_ms * 1000000;
	int64_t mono, rt, prev_mono, prev_rt, next, t_end = 0, t_sec, t_stats;
	uint64_t writes = 0, writes_sec = 0, writes_stats = 0;
	double credit = 0;

	prev_mono = now_ns(CLOCK_MONOTONIC);
	prev_rt = now_ns(CLOCK_REALTIME);
	next = prev_mono + tick;
	t_sec = t_stats = prev_mono;
	if (opt.duration_s)
		t_end = prev_mono + (int64_t)opt.duration_s * 1000000000;

	while (!sig_stop) {
		struct timespec rts, ts;
		int64_t dmono, drt;
		unsigned long rate;
		bool own = false;

		clock_gettime(CLOCK_REALTIME, &rts);
		rt = ts_ns(&rts);
		mono = now_ns(CLOCK_MONOTONIC);
		dmono = mono - prev_mono;
		drt = rt - prev_rt;

		pthread_mutex_lock(&sh.lock);
		if (drt > 0 && (uint64_t)drt / 1000000 > sh.max_gap_rt)
			sh.max_gap_rt = (uint64_t)drt / 1000000;
		if ((uint64_t)dmono / 1000000 > sh.max_gap_mono)
			sh.max_gap_mono = (uint64_t)dmono / 1000000;
		if (drt > gap || dmono > gap) {
			sh.ngaps++;
			sh.last_gap_rt = drt > 0 ? (uint64_t)drt / 1000000 : 0;
			sh.last_gap_mono = (uint64_t)dmono / 1000000;
			sh.last_gap_at = rts;
			sh.changed = true;   /* a wiped tree (a migration) shows at the next publish */
			if ((drt >= QUIET_MIN_GAP_NS || dmono >= QUIET_MIN_GAP_NS) &&
			    sh.quiet_until < mono + QUIET_AFTER_GAP_NS)
				sh.quiet_until = mono + QUIET_AFTER_GAP_NS;
		}
		pthread_mutex_unlock(&sh.lock);
		if (drt > gap || dmono > gap) {
			say("gap realtime_ms=%lld monotonic_ms=%lld at=%lld.%03ld",
			    (long long)(drt / 1000000), (long long)(dmono / 1000000),
			    (long long)rts.tv_sec, rts.tv_nsec / 1000000);
			verify("gap");
			own = true;
		}
		if (sig_usr1) {
			sig_usr1 = 0;
			verify("signal");
			own = true;
		}
		if (__atomic_load_n(&sh.req, __ATOMIC_RELAXED) !=
		    __atomic_load_n(&sh.served, __ATOMIC_RELAXED)) {
			serve_requests();
			own = true;
		}
		if (t_end && mono >= t_end)
			break;

		/* the writes due since the last tick, at most 100 ms worth after a stall */
		rate = __atomic_load_n(&rate_req, __ATOMIC_RELAXED);
		credit += (double)rate * (double)dmono / 1e9;
		if (credit > rate / 10.0 + 1)
			credit = rate / 10.0 + 1;
		while (credit >= 1) {
			write_page(pick_page());
			writes++;
			credit -= 1;
		}
		if (mono - t_sec >= 1000000000) {
			pthread_mutex_lock(&sh.lock);
			sh.writes = writes;
			sh.rate_now = (uint64_t)((double)(writes - writes_sec) * 1e9 / (double)(mono - t_sec));
			pthread_mutex_unlock(&sh.lock);
			writes_sec = writes;
			t_sec = mono;
		}
		if (opt.stats_s && mono - t_stats >= (int64_t)opt.stats_s * 1000000000) {
			struct shared s;

			pthread_mutex_lock(&sh.lock);
			s = sh;
			pthread_mutex_unlock(&sh.lock);
			/* at: the realtime these writes were counted at (a rate from two lines
			 * read from the console log however late, over the guest's clock) */
			say("stats writes=%" PRIu64 " rate=%" PRIu64 " max_gap_rt_ms=%" PRIu64
			    " max_gap_mono_ms=%" PRIu64 " verified=%" PRIu64 " errors=%" PRIu64
			    " at=%lld.%03lld", writes,
			    (uint64_t)((double)(writes - writes_stats) * 1e9 / (double)(mono - t_stats)),
			    s.max_gap_rt, s.max_gap_mono, s.verified, s.errors,
			    (long long)(rts.tv_sec), (long long)(rts.tv_nsec / 1000000));
			writes_stats = writes;
			t_stats = mono;
		}

		if (own) { /* time spent verifying is not a pause */
			mono = now_ns(CLOCK_MONOTONIC);
			rt = now_ns(CLOCK_REALTIME);
			next = mono;
		}
		prev_mono = mono;
		prev_rt = rt;
		next += tick;
		if (next < mono)
			next = mono + tick;
		ts.tv_sec = next / 1000000000;
		ts.tv_nsec = next % 1000000000;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}

	pthread_mutex_lock(&sh.lock);
	sh.writes = writes;
	pthread_mutex_unlock(&sh.lock);
	verify("exit");
	/* wake command threads still waiting for a verification */
	pthread_mutex_lock(&sh.lock);
	sig_stop = 1;
	pthread_cond_broadcast(&sh.cond);
	pthread_mutex_unlock(&sh.lock);
	return 0;
}

/* ---- self-test: the checker catches what it must, in-process ------------------------------ */

static int selftest_expect(const char *what, bool cond, int *fails)
{
	say("selftest %s %s", cond ? "ok" : "FAIL", what);
	if (!cond)
		(*fails)++;
	return cond;
}

/* Runs verify() and checks the outcome: bad pages expected (0 = clean) and the first one. */
static void selftest_verify(const char *what, uint64_t nbad, uint64_t first, int *fails)
{
	struct vresult r;

	verify("selftest");
	pthread_mutex_lock(&sh.lock);
	r = sh.last;
	pthread_mutex_unlock(&sh.lock);
	selftest_expect(what, nbad ? (!r.ok && r.bad == nbad && r.first == first) : r.ok, fails);
}

static int selftest(void)
{
	static uint8_t save[PAGE_SIZE_];
	unsigned off, nb;
	int fails = 0;
	uint64_t p = npages / 3, q = npages - 1;

	for (uint64_t i = 0; i < 5 * npages; i++)
		write_page(pick_page());
	selftest_verify("clean", 0, 0, &fails);

	page_at(p)[1000] ^= 0x01;
	selftest_expect("one flipped bit is kind=body at its offset",
			!strcmp(diagnose(page_at(p), p, seqs[p], &off, &nb), "body") &&
			off == 1000 && nb == 1, &fails);
	selftest_verify("one flipped bit is exactly one bad page", 1, p, &fails);
	page_at(p)[1000] ^= 0x01;
	selftest_verify("repaired", 0, 0, &fails);

	memcpy(save, page_at(q), PAGE_SIZE_);
	write_page(q);
	memcpy(page_at(q), save, PAGE_SIZE_); /* the previous version: a lost write */
	selftest_expect("an old version is kind=stale",
			!strcmp(diagnose(page_at(q), q, seqs[q], &off, &nb), "stale"), &fails);
	selftest_verify("an old version is exactly one bad page", 1, q, &fails);

	memset(page_at(p), 0, PAGE_SIZE_);
	selftest_expect("a zeroed page is kind=zero",
			!strcmp(diagnose(page_at(p), p, seqs[p], &off, &nb), "zero") && off == 0,
			&fails);
	selftest_verify("two bad pages", 2, p, &fails);
	write_page(p);
	write_page(q);

	memcpy(page_at(p), page_at(q), PAGE_SIZE_); /* another page's content */
	selftest_expect("another page's content is kind=index",
			!strcmp(diagnose(page_at(p), p, seqs[p], &off, &nb), "index"), &fails);
	write_page(p);
	((struct page_hdr *)page_at(p))->csum ^= 1;
	selftest_expect("a wrong checksum field is kind=checksum",
			!strcmp(diagnose(page_at(p), p, seqs[p], &off, &nb), "checksum") &&
			off == offsetof(struct page_hdr, csum), &fails);
	write_page(p);
	selftest_verify("clean again", 0, 0, &fails);

	say("selftest %s checks_failed=%d", fails ? "FAIL" : "ok", fails);
	return fails ? 1 : 0;
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: memwork [options]\n"
		"  -w, --wss-mib W  working set in MiB (default 16)\n"
		"  -r, --rate R     page writes per second, 0 = idle (default 1000)\n"
		"  -m, --mode M     random | seq: which page to write next (default random)\n"
		"  --tick-ms T      progress tick (default 1)\n"
		"  -g, --gap-ms G   a tick gap above G ms is a pause: report and verify (default 100)\n"
		"  --stats-s S      console stats line every S s, 0 = off (default 10)\n"
		"  -d, --duration S run S seconds, verify, exit; 0 = until SIGTERM (default 0)\n"
		"  --seed N         seed of the random page choice (default: from the clock)\n"
		"  --no-xenstore    console only\n"
		"  --xenbus PATH    xenbus device (default /dev/xen/xenbus)\n"
		"  --stdin-cmds     also take commands \"ID VERB [ARG]\" from stdin\n"
		"  --ptraceable     let any process of the same user attach (outside tests)\n"
		"  --selftest       check the checker in-process and exit\n"
		"SIGUSR1: verify now. SIGTERM/SIGINT: verify, exit (status 1 if any verification failed).\n");
}

static int opt_u64(const char *name, const char *val, uint64_t max, uint64_t *v_r)
{
	if (!val || parse_u64(val, max, v_r)) {
		fprintf(stderr, "memwork: %s wants a number up to %" PRIu64 "\n", name, max);
		return -EINVAL;
	}
	return 0;
}

static int parse_opts(int argc, char **argv)
{
	opt = (struct opts){ .wss_mib = 16, .rate = 1000, .tick_ms = 1, .gap_ms = 100,
			     .stats_s = 10, .use_xenstore = true, .xenbus = "/dev/xen/xenbus" };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n;

		if (!strcmp(a, "--wss-mib") || !strcmp(a, "-w")) {
			if (opt_u64(a, v, 4096, &n) || !n)
				return -EINVAL;
			opt.wss_mib = (unsigned)n, i++;
		} else if (!strcmp(a, "--rate") || !strcmp(a, "-r")) {
			if (opt_u64(a, v, 10000000, &n))
				return -EINVAL;
			opt.rate = (unsigned long)n, i++;
		} else if (!strcmp(a, "--mode") || !strcmp(a, "-m")) {
			if (!v || (strcmp(v, "random") && strcmp(v, "seq"))) {
				fprintf(stderr, "memwork: --mode is random or seq\n");
				return -EINVAL;
			}
			opt.sequential = !strcmp(v, "seq"), i++;
		} else if (!strcmp(a, "--tick-ms")) {
			if (opt_u64(a, v, 1000, &n) || !n)
				return -EINVAL;
			opt.tick_ms = (unsigned)n, i++;
		} else if (!strcmp(a, "--gap-ms") || !strcmp(a, "-g")) {
			if (opt_u64(a, v, 3600000, &n) || !n)
				return -EINVAL;
			opt.gap_ms = (unsigned)n, i++;
		} else if (!strcmp(a, "--stats-s")) {
			if (opt_u64(a, v, 86400, &n))
				return -EINVAL;
			opt.stats_s = (unsigned)n, i++;
		} else if (!strcmp(a, "--duration") || !strcmp(a, "-d")) {
			if (opt_u64(a, v, 86400 * 365, &n))
				return -EINVAL;
			opt.duration_s = (unsigned)n, i++;
		} else if (!strcmp(a, "--seed")) {
			if (opt_u64(a, v, UINT64_MAX, &n))
				return -EINVAL;
			opt.seed = n, opt.seed_set = true, i++;
		} else if (!strcmp(a, "--no-xenstore")) {
			opt.use_xenstore = false;
		} else if (!strcmp(a, "--xenbus")) {
			if (!v)
				return -EINVAL;
			opt.xenbus = v, i++;
		} else if (!strcmp(a, "--stdin-cmds")) {
			opt.stdin_cmds = true;
		} else if (!strcmp(a, "--ptraceable")) {
			opt.ptraceable = true;
		} else if (!strcmp(a, "--selftest")) {
			opt.selftest = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else {
			fprintf(stderr, "memwork: unknown option %s\n", a);
			return -EINVAL;
		}
	}
	if (opt.tick_ms >= opt.gap_ms) {
		fprintf(stderr, "memwork: --tick-ms must be below --gap-ms\n");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct xs xs = { .fd = -1 };
	struct sigaction sa = { 0 };
	sigset_t all, old;
	pthread_t xs_tid, in_tid;
	bool have_xs = false;
	size_t wss;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (parse_opts(argc, argv)) {
		usage(stderr);
		return 2;
	}
	if (opt.ptraceable)
		prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0); /* fails without Yama: fine */

	npages = (uint64_t)opt.wss_mib * (1024 * 1024 / PAGE_SIZE_);
	wss = (size_t)npages * PAGE_SIZE_;
	ws = mmap(NULL, wss, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		  -1, 0);
	seqs = calloc(npages, sizeof(*seqs));
	if (ws == MAP_FAILED || !seqs) {
		say("error cannot allocate %u MiB: %s", opt.wss_mib, strerror(errno));
		return 2;
	}
	/* one frame per page, and frames that stay put: pfn N must keep meaning page N */
	madvise(ws, wss, MADV_NOHUGEPAGE);
	if (mlock(ws, wss) || mlock(seqs, npages * sizeof(*seqs)))
		say("warning mlock: %s, continuing", strerror(errno));
	rng_state = opt.seed_set ? opt.seed : (uint64_t)now_ns(CLOCK_REALTIME) ^ (uint64_t)getpid();
	if (!rng_state)
		rng_state = 1;
	rate_req = opt.rate;
	for (uint64_t i = 0; i < npages; i++)
		fill_page(page_at(i), i, 0);

	say("start pages=%" PRIu64 " wss_mib=%u rate=%lu mode=%s tick_ms=%u gap_ms=%u seed=%" PRIu64
	    " pid=%ld addr=0x%" PRIxPTR, npages, opt.wss_mib, opt.rate,
	    opt.sequential ? "seq" : "random", opt.tick_ms, opt.gap_ms, rng_state, (long)getpid(),
	    (uintptr_t)ws);

	if (opt.selftest)
		return selftest();

	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	verify("start");
	/* signals go to the writer: the other threads start with them blocked */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (opt.use_xenstore && xs_start(&xs)) {
		rc = pthread_create(&xs_tid, NULL, xs_thread, &xs);
		if (rc)
			say("warning xenstore thread: %s, console only", strerror(rc));
		have_xs = !rc;
	} else if (!opt.use_xenstore) {
		say("xenstore off, console only");
	}
	if (opt.stdin_cmds) {
		rc = pthread_create(&in_tid, NULL, stdin_thread, NULL);
		if (rc)
			say("warning stdin thread: %s", strerror(rc));
		else
			pthread_detach(in_tid);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	writer();

	if (have_xs) {
		pthread_join(xs_tid, NULL);
		publish(&xs, false, true);
		xs_close(&xs);
	}
	say("exit verified=%" PRIu64 " errors=%" PRIu64 " writes=%" PRIu64 " max_gap_rt_ms=%" PRIu64
	    " max_gap_mono_ms=%" PRIu64 " gaps=%" PRIu64, sh.verified, sh.errors, sh.writes,
	    sh.max_gap_rt, sh.max_gap_mono, sh.ngaps);
	return sh.errors ? 1 : 0;
}

/*
 * record.c: libmigr-trace-rec.so, a recorder of dirty-page traces from ordinary Linux
 * programs (bench/traces/README.md).
 *
 *   MIGR_TRACE_OUT=out.trc [MIGR_TRACE_EPOCH_MS=10] [MIGR_TRACE_MAX_S=60] \
 *   LD_PRELOAD=build/bench/libmigr-trace-rec.so PROGRAM ARGS...
 *
 * Loaded into the program, it write-protects the program's private writable memory with
 * userfaultfd in asynchronous write-protect mode (UFFD_FEATURE_WP_ASYNC: the kernel
 * resolves write faults itself and only marks the page written) and, from a thread of
 * its own, every epoch asks PAGEMAP_SCAN for the pages written since the last scan while
 * write-protecting them again in the same call. That is log-dirty's CLEAN, per process:
 * the trace holds, per epoch, the pages the program wrote. Mappings that appear later
 * (heap growth, new mmaps) are registered when /proc/self/maps is re-read, every 10
 * epochs. Pages are numbered in the order their mappings are first seen; a virtual
 * page keeps its number if its mapping goes and another comes at the same address.
 *
 * Soft-dirty bits would do the same from outside, but CONFIG_MEM_SOFT_DIRTY is not set on
 * these machines. PAGEMAP_SCAN appeared in Linux 6.7; the uapi definitions are supplied
 * below because Debian 12's headers predate it.
 *
 * The recorder's own memory (its thread stack, buffers, the event log) is mmap'd before
 * anything is registered and left out; nothing on the recording path calls malloc or
 * stdio, so it does not write into the program's heap. The trace is built and saved at
 * exit (atexit), in the process that loaded the recorder only (a forked child keeps
 * quiet); "%p" in MIGR_TRACE_OUT becomes the pid, for programs that exec others.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "trace.h"

/* ---- uapi (linux/fs.h, linux/userfaultfd.h of Linux >= 6.7) --------------------- */
#ifndef PAGEMAP_SCAN
struct page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

struct pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};
#define PAGEMAP_SCAN          _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING   (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#define PAGE_IS_WPALLOWED     (1 << 0)
#define PAGE_IS_WRITTEN       (1 << 1)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

#define MAX_RANGES   4096
#define MAX_EVENTS   (64u << 20)    /* 64 Mi (epoch, run) entries, 1.5 GiB reserved */
#define VEC_LEN      4096
#define MAPS_BUF     (1u << 20)
#define STACK_SIZE   (256u << 10)

struct range {
	uint64_t start, end;     /* virtual addresses */
	uint64_t base;           /* trace page index of start */
};

struct event {
	uint32_t epoch;
	uint32_t len;
	uint64_t page;
};

static struct rec {
	int uffd, pagemap;
	pid_t pid;
	long page;
	uint32_t epoch_us;
	uint32_t max_epochs;
	char out[4096];
	/* our own memory, never registered */
	uintptr_t own_lo[3], own_hi[3];
	struct range *ranges;
	unsigned int n_ranges;
	uint64_t n_pages;
	struct event *ev;
	size_t n_ev;
	struct page_region *vec;
	char *maps;
	void *stack;
	uint32_t epoch;
	int overflow;
	atomic_int stop;
	pthread_t thread;
	int running;
} R = { .uffd = -1, .pagemap = -1 };

static int is_own(uint64_t lo, uint64_t hi)
{
	for (int i = 0; i < 3; i++)
		if (lo < R.own_hi[i] && hi > R.own_lo[i])
			return 1;
	return 0;
}

static uint64_t hex(const char **p)
{
	uint64_t v = 0;

	for (;; (*p)++) {
		char c = **p;

		if (c >= '0' && c <= '9')
			v = v * 16 + (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (uint64_t)(c - 'a' + 10);
		else
			return v;
	}
}

/* Gives [lo, hi) page numbers: a virtual page keeps its number once it has one. */
static void number(uint64_t lo, uint64_t hi)
{
	uint64_t cur = lo;

	while (cur < hi && R.n_ranges < MAX_RANGES) {
		uint64_t next = hi;
		int inside = 0;

		for (unsigned int i = 0; i < R.n_ranges; i++) {
			if (cur >= R.ranges[i].start && cur < R.ranges[i].end) {
				cur = R.ranges[i].end;
				inside = 1;
				break;
			}
			if (R.ranges[i].start > cur && R.ranges[i].start < next)
				next = R.ranges[i].start;
		}
		if (inside)
			continue;
		R.ranges[R.n_ranges].start = cur;
		R.ranges[R.n_ranges].end = next;
		R.ranges[R.n_ranges].base = R.n_pages;
		R.n_pages += (next - cur) / (uint64_t)R.page;
		R.n_ranges++;
		cur = next;
	}
}

/* Registers [lo, hi) for asynchronous write-protect, protects it and numbers it. */
static void track(uint64_t lo, uint64_t hi)
{
	struct uffdio_register reg;
	struct uffdio_writeprotect wp;

	if (hi <= lo)
		return;
	memset(&reg, 0, sizeof(reg));
	reg.range.start = lo;
	reg.range.len = hi - lo;
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	if (ioctl(R.uffd, UFFDIO_REGISTER, &reg))
		return;
	memset(&wp, 0, sizeof(wp));
	wp.range.start = lo;
	wp.range.len = hi - lo;
	wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	if (ioctl(R.uffd, UFFDIO_WRITEPROTECT, &wp))
		return;
	number(lo, hi);
}

/* Tracks the parts of [lo, hi) that are not registered yet (new or re-created mappings). */
static void track_new(uint64_t lo, uint64_t hi)
{
	struct pm_scan_arg a;
	long n;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.start = lo;
	a.end = hi;
	a.vec = (uintptr_t)R.vec;
	a.vec_len = VEC_LEN;
	a.category_inverted = PAGE_IS_WPALLOWED;
	a.category_mask = PAGE_IS_WPALLOWED;
	a.return_mask = PAGE_IS_WPALLOWED;
	n = ioctl(R.pagemap, PAGEMAP_SCAN, &a);
	if (n < 0)
		return;
	for (long k = 0; k < n; k++)
		track(R.vec[k].start, R.vec[k].end);
}

/* Reads /proc/self/maps with raw syscalls and tracks new private writable mappings. */
static void scan_maps(void)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;
	const char *p, *end;

	if (fd < 0)
		return;
	while (len < MAPS_BUF - 1 && (n = read(fd, R.maps + len, MAPS_BUF - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	R.maps[len] = 0;
	for (p = R.maps, end = R.maps + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		uint64_t lo, hi;
		char perm[4];

		if (!nl)
			nl = end;
		lo = hex(&p);
		if (*p++ != '-')
			goto next;
		hi = hex(&p);
		if (*p++ != ' ' || nl - p < 4)
			goto next;
		memcpy(perm, p, 4);
		/* rw-p: private writable; skip [vvar], [vdso], [vsyscall] and our own. */
		if (perm[0] != 'r' || perm[1] != 'w' || perm[3] != 'p' || is_own(lo, hi) ||
		    memmem(p, (size_t)(nl - p), "[v", 2))
			goto next;
		track_new(lo, hi);
next:
		p = nl + 1;
	}
}

static void log_run(uint64_t page, uint64_t len)
{
	while (len) {
		uint32_t l = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;

		if (R.n_ev == MAX_EVENTS) {
			R.overflow = 1;
			return;
		}
		R.ev[R.n_ev].epoch = R.epoch;
		R.ev[R.n_ev].len = l;
		R.ev[R.n_ev].page = page;
		R.n_ev++;
		page += l;
		len -= l;
	}
}

/* One CLEAN: the pages written since the last one, write-protected again. */
static void scan_written(void)
{
	for (unsigned int i = 0; i < R.n_ranges; i++) {
		struct range *rg = &R.ranges[i];
		uint64_t at = rg->start;

		while (at < rg->end) {
			struct pm_scan_arg a;
			long n;

			memset(&a, 0, sizeof(a));
			a.size = sizeof(a);
			a.flags = PM_SCAN_WP_MATCHING;
			a.start = at;
			a.end = rg->end;
			a.vec = (uintptr_t)R.vec;
			a.vec_len = VEC_LEN;
			a.category_mask = PAGE_IS_WRITTEN;
			a.return_mask = PAGE_IS_WRITTEN;
			n = ioctl(R.pagemap, PAGEMAP_SCAN, &a);
			if (n < 0)
				break;      /* mapping gone: its pages just stop being written */
			for (long k = 0; k < n; k++)
				log_run(rg->base + (R.vec[k].start - rg->start) / (uint64_t)R.page,
					(R.vec[k].end - R.vec[k].start) / (uint64_t)R.page);
			if (a.walk_end <= at || a.walk_end >= rg->end)
				break;
			at = a.walk_end;
		}
	}
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void *recorder(void *arg)
{
	uint64_t t0 = now_us();

	while (!atomic_load(&R.stop) && R.epoch < R.max_epochs) {
		uint64_t next = t0 + (uint64_t)(R.epoch + 1) * R.epoch_us, t = now_us();

		if (next > t) {
			struct timespec ts = { (time_t)((next - t) / 1000000u),
					       (long)((next - t) % 1000000u) * 1000 };

			nanosleep(&ts, NULL);
		}
		scan_written();
		R.epoch++;
		if (R.epoch % 10 == 0)
			scan_maps();
	}
	return NULL;
}

static void save_trace(void)
{
	struct trace *t;
	struct utsname u;
	char note[1024], cmd[512];
	size_t i = 0, e;
	ssize_t n;
	int fd, rc;

	if (getpid() != R.pid || !R.running)
		return;
	atomic_store(&R.stop, 1);
	pthread_join(R.thread, NULL);
	R.running = 0;

	fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, cmd, sizeof(cmd) - 1) : 0;
	if (fd >= 0)
		close(fd);
	if (n < 0)
		n = 0;
	cmd[n] = 0;
	for (ssize_t k = 0; k + 1 < n; k++)
		if (!cmd[k])
			cmd[k] = ' ';
	uname(&u);
	snprintf(note, sizeof(note), "recorded by libmigr-trace-rec.so (userfaultfd async"
		 " write-protect + PAGEMAP_SCAN, one scan per %u us) from: %s; Linux %s %s%s",
		 R.epoch_us, cmd, u.release, u.machine,
		 R.overflow ? "; event log full, trace cut short" : "");

	t = trace_new("rec", (uint32_t)R.page, R.epoch_us, R.n_pages ? R.n_pages : 1);
	if (!t || trace_set_note(t, note))
		goto fail;
	for (e = 0; e < R.epoch; e++) {
		for (; i < R.n_ev && R.ev[i].epoch == e; i++)
			if (trace_add_run(t, R.ev[i].page, R.ev[i].len))
				goto fail;
		if (trace_end_epoch(t))
			goto fail;
	}
	rc = trace_save(t, R.out);
	if (rc) {
		fprintf(stderr, "libmigr-trace-rec: %s: %s\n", R.out, strerror(-rc));
	} else {
		fprintf(stderr, "libmigr-trace-rec: %s: %u epochs, %llu pages in %u mappings\n",
			R.out, R.epoch, (unsigned long long)R.n_pages, R.n_ranges);
	}
	trace_free(t);
	return;
fail:
	fprintf(stderr, "libmigr-trace-rec: cannot build the trace\n");
	trace_free(t);
}

static void *own_map(size_t len, int i)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
		       MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	R.own_lo[i] = (uintptr_t)p;
	R.own_hi[i] = (uintptr_t)p + len;
	return p;
}

__attribute__((constructor)) static void rec_start(void)
{
	const char *out = getenv("MIGR_TRACE_OUT"), *s;
	struct uffdio_api api;
	pthread_attr_t attr;
	size_t own0, o = 0;
	char *area;

	if (!out || !*out)
		return;
	/* Do not follow into programs this one executes, unless asked (%p in the name). */
	if (!strstr(out, "%p"))
		unsetenv("LD_PRELOAD");
	R.pid = getpid();
	R.page = sysconf(_SC_PAGESIZE);
	s = getenv("MIGR_TRACE_EPOCH_MS");
	R.epoch_us = (uint32_t)((s ? atof(s) : 10.0) * 1000);
	if (R.epoch_us < 1000)
		R.epoch_us = 1000;
	s = getenv("MIGR_TRACE_MAX_S");
	R.max_epochs = (uint32_t)((s ? atof(s) : 60.0) * 1e6 / R.epoch_us);
	for (const char *p = out; *p && o < sizeof(R.out) - 16; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			o += (size_t)snprintf(R.out + o, sizeof(R.out) - o, "%d", (int)R.pid);
			p++;
		} else {
			R.out[o++] = *p;
		}
	}
	R.out[o] = 0;

	own0 = sizeof(struct range) * MAX_RANGES + sizeof(struct page_region) * VEC_LEN +
	       MAPS_BUF + STACK_SIZE;
	area = own_map(own0, 0);
	R.ev = own_map(sizeof(struct event) * MAX_EVENTS, 1);
	if (!area || !R.ev)
		goto fail;
	R.ranges = (struct range *)area;
	R.vec = (struct page_region *)(area + sizeof(struct range) * MAX_RANGES);
	R.maps = (char *)R.vec + sizeof(struct page_region) * VEC_LEN;
	R.stack = R.maps + MAPS_BUF;

	R.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (R.uffd < 0)
		goto fail;
	memset(&api, 0, sizeof(api));
	api.api = UFFD_API;
	api.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
	if (ioctl(R.uffd, UFFDIO_API, &api))
		goto fail;
	R.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (R.pagemap < 0)
		goto fail;
	scan_maps();
	if (!R.n_ranges)
		goto fail;
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, R.stack, STACK_SIZE);
	if (pthread_create(&R.thread, &attr, recorder, NULL))
		goto fail;
	pthread_attr_destroy(&attr);
	R.running = 1;
	atexit(save_trace);
	return;
fail:
	fprintf(stderr, "libmigr-trace-rec: cannot record (%s); the program runs untraced\n",
		strerror(errno));
}

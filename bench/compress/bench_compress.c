/*
 * bench_compress.c: what compressing the stream buys, in figures (make bench-compress).
 *
 *   bench_compress codecs [MiB]
 *       zstd at a few levels and LZ4 on guest-memory-like pages (below): ratio, compress
 *       and decompress rates, one 1 MiB chunk at a time as the pump does. The choice of
 *       zstd level 1 in libmigr/transport_stream.c rests on this table.
 *   bench_compress stream --rate BYTES/S [--netns A,B --addr IP] [--mib N] [--modes LIST]
 *       One stream per mode (off, auto, on) through the real pumps, source to target
 *       over TCP: with --netns, between two network namespaces whose link the caller
 *       has rate-limited with tc (bench.sh; --rate then only names it, 0: no limit, the
 *       link faster than the compressor); without, over loopback with migr's own
 *       bandwidth cap at --rate. Per mode: the stream's rate, bytes on the wire, bytes
 *       saved, CPU seconds, and the rate against off's, side by side; every stream is
 *       checked byte for byte at the target (a hash of what the reader got).
 *
 * The pages (BENCH_INPUT=FILE takes a file's instead, e.g. a saved libxl stream): a
 * guest's memory is not at hand here, so they are made of what a Debian guest holds: 30%
 * zero pages (free memory, sent as ZERO frames whatever compression does), and of the
 * rest 35% pages of shared libraries (/usr/lib/x86_64-linux-gnu), 20% of text
 * (/usr/share/doc, /usr/share/perl5...), 25% kernel-like structures (mostly zero words,
 * some pointers and counters), 20% random (encrypted or compressed data). Deterministic
 * for a given machine's files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <lz4.h>
#include <zstd.h>
#include "libmigr.h"

#define PAGE 4096
#define CHUNK (1u << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return rng;
}

/* ---- the pages ------------------------------------------------------------------------- */

struct pool {
	uint8_t *p;
	size_t n, cap;           /* pages */
};

static struct pool *walk_pool;
static const char *walk_want;   /* a part of the file name, or NULL: any but .gz */

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct pool *pl = walk_pool;
	int fd;

	(void)ftw;
	if (type != FTW_F || !S_ISREG(st->st_mode) || st->st_size < PAGE)
		return 0;
	if (walk_want ? !strstr(path, walk_want) : strstr(path, ".gz") != NULL)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (pl->n < pl->cap && read(fd, pl->p + pl->n * PAGE, PAGE) == PAGE)
		pl->n++;
	close(fd);
	return pl->n >= pl->cap;    /* full: stop the walk */
}

static void fill_pool(struct pool *pl, size_t cap, const char *const *dirs, const char *want)
{
	pl->p = malloc(cap * PAGE);
	pl->cap = cap;
	pl->n = 0;
	walk_pool = pl;
	walk_want = want;
	for (; *dirs && pl->n < cap; dirs++)
		nftw(*dirs, walk_one, 16, FTW_PHYS);
}

/* n bytes of pages: with zero pages (zero_pct) or without. */
static uint8_t *make_pages(size_t n, unsigned int zero_pct)
{
	static const char *const lib_dirs[] = { "/usr/lib/x86_64-linux-gnu", "/usr/lib", NULL };
	static const char *const text_dirs[] = { "/usr/share/doc", "/usr/share/perl5",
						 "/usr/share/perl", "/usr/include", NULL };
	const char *input = getenv("BENCH_INPUT");
	size_t pages = n / PAGE;
	struct pool lib, text;
	uint8_t *buf = calloc(pages, PAGE);

	if (!buf)
		abort();
	if (input) {
		FILE *f = fopen(input, "rb");
		size_t got = f ? fread(buf, 1, pages * PAGE, f) : 0;

		if (f)
			fclose(f);
		if (!got) {
			fprintf(stderr, "bench_compress: cannot read %s\n", input);
			exit(1);
		}
		for (size_t off = got; off < pages * PAGE; off += got)   /* repeat it */
			memcpy(buf + off, buf, off + got > pages * PAGE ? pages * PAGE - off : got);
		return buf;
	}
	fill_pool(&lib, pages, lib_dirs, ".so");
	fill_pool(&text, pages, text_dirs, NULL);
	for (size_t i = 0; i < pages; i++) {
		uint8_t *pg = buf + i * PAGE;
		unsigned int r = (unsigned int)(next_rand() % 100);

		if (r < zero_pct)
			continue;
		r = (unsigned int)(next_rand() % 100);
		if (r < 35 && lib.n) {
			memcpy(pg, lib.p + (i % lib.n) * PAGE, PAGE);
		} else if (r < 55 && text.n) {
			memcpy(pg, text.p + (i % text.n) * PAGE, PAGE);
		} else if (r < 80) {
			unsigned int k = 8 + (unsigned int)(next_rand() % 112);

			for (unsigned int j = 0; j < k; j++) {
				uint64_t v = next_rand() % 10 < 6 ?
					0xffff888000000000ull + (next_rand() % (1u << 30)) * 8 :
					next_rand() % 65536;

				memcpy(pg + (next_rand() % (PAGE / 8)) * 8, &v, 8);
			}
		} else {
			for (unsigned int j = 0; j < PAGE; j += 8) {
				uint64_t v = next_rand();

				memcpy(pg + j, &v, 8);
			}
		}
	}
	free(lib.p);
	free(text.p);
	return buf;
}

/* ---- codecs ---------------------------------------------------------------------------- */

static int cmd_codecs(size_t mib)
{
	size_t n = mib << 20;
	uint8_t *in = make_pages(n, 0), *back = malloc(CHUNK);
	size_t cap = ZSTD_compressBound(CHUNK) + (size_t)LZ4_compressBound(CHUNK);
	uint8_t *out = malloc(cap);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	static const struct { const char *name; int lz4, level; } c[] = {
		{ "lz4 (default)", 1, 1 }, { "lz4 accel 4", 1, 4 }, { "zstd --fast=3", 0, -3 },
		{ "zstd -1", 0, 1 }, { "zstd -3", 0, 3 },
	};

	if (!back || !out || !cc || !dc)
		abort();
	printf("codecs on %zu MiB of guest-memory-like pages (no zero pages), 1 MiB at a time:\n",
	       mib);
	printf("  %-14s %6s %14s %16s\n", "codec", "ratio", "compress MB/s", "decompress MB/s");
	for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		double tc = 0, td = 0;
		size_t tot = 0, ctot = 0;

		for (size_t off = 0; off + CHUNK <= n; off += CHUNK) {
			double t0 = now_s(), t1;
			long z, d;

			if (c[k].lz4) {
				z = LZ4_compress_fast((char *)in + off, (char *)out, CHUNK, (int)cap,
						      c[k].level);
			} else {
				ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, c[k].level);
				z = (long)ZSTD_compress2(cc, out, cap, in + off, CHUNK);
			}
			t1 = now_s();
			if (c[k].lz4)
				d = LZ4_decompress_safe((char *)out, (char *)back, (int)z, CHUNK);
			else
				d = (long)ZSTD_decompressDCtx(dc, back, CHUNK, out, (size_t)z);
			td += now_s() - t1;
			tc += t1 - t0;
			if (d != (long)CHUNK || memcmp(back, in + off, CHUNK)) {
				fprintf(stderr, "bench_compress: %s did not round-trip\n", c[k].name);
				return 1;
			}
			tot += CHUNK;
			ctot += (size_t)z;
		}
		printf("  %-14s %6.2f %14.0f %16.0f\n", c[k].name, (double)tot / (double)ctot,
		       tot / tc / 1e6, tot / td / 1e6);
	}
	ZSTD_freeCCtx(cc);
	ZSTD_freeDCtx(dc);
	free(in);
	free(out);
	free(back);
	return 0;
}

/* ---- streams --------------------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

struct target {
	const char *netns, *addr;
	struct migr_listener *l;
	int port;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool ready;
	uint64_t hash, got;
	struct migr_conn_stats st;
	int rc;
	char err[MIGR_ERR_MAX];
	pthread_t th;
};

static int enter_netns(const char *name)
{
	char path[256];
	int fd, rc;

	if (!name)
		return 0;
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = setns(fd, CLONE_NEWNET) ? -errno : 0;
	close(fd);
	return rc;
}

static void *target_main(void *arg)
{
	struct target *t = arg;
	struct migr_transport_opts o;
	struct migr_conn *c = NULL;
	char hp[128];
	uint8_t *buf = malloc(CHUNK);
	int fd, rc;
	ssize_t n;

	migr_transport_opts_init(&o);
	o.insecure = true;
	o.io_timeout_ms = 60000;
	rc = enter_netns(t->netns);
	snprintf(hp, sizeof(hp), "%s:0", t->addr);
	if (!rc)
		rc = migr_listen(hp, &o, &t->l, t->err, sizeof(t->err));
	pthread_mutex_lock(&t->mu);
	t->port = rc ? -1 : migr_listener_port(t->l);
	t->ready = true;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	if (!rc)
		rc = migr_accept(t->l, &c, NULL, t->err, sizeof(t->err));
	if (!rc)
		rc = migr_conn_stream_in(c, &fd);
	t->hash = 0xcbf29ce484222325ull;
	while (!rc && (n = read(fd, buf, CHUNK)) > 0) {
		t->hash = fnv(t->hash, buf, (size_t)n);
		t->got += (uint64_t)n;
	}
	if (!rc)
		rc = migr_conn_stream_in_end(c, NULL);
	if (c) {
		migr_conn_stats(c, &t->st);
		if (rc)
			snprintf(t->err, sizeof(t->err), "%s", migr_conn_error(c));
	}
	t->rc = rc;
	migr_conn_close(c);
	migr_listener_close(t->l);
	free(buf);
	return NULL;
}

struct result {
	const char *mode;
	double secs, cpu, rate;
	struct migr_conn_stats st;
};

/* One stream of bytes of pages (repeated) in mode; 0 or an error. */
static int one_stream(const char *netns_a, const char *netns_b, const char *addr,
		      uint64_t cap, const uint8_t *pages, size_t npages_bytes, uint64_t bytes,
		      unsigned int flags, struct result *r)
{
	struct target t = { .netns = netns_b, .addr = addr };
	struct migr_transport_opts o;
	struct migr_conn *c = NULL;
	char hp[128], err[MIGR_ERR_MAX] = "";
	uint64_t hash = 0xcbf29ce484222325ull, sent = 0;
	double t0, c0;
	int fd, rc;

	pthread_mutex_init(&t.mu, NULL);
	pthread_cond_init(&t.cv, NULL);
	pthread_create(&t.th, NULL, target_main, &t);
	pthread_mutex_lock(&t.mu);
	while (!t.ready)
		pthread_cond_wait(&t.cv, &t.mu);
	pthread_mutex_unlock(&t.mu);
	if (t.port < 0) {
		pthread_join(t.th, NULL);
		fprintf(stderr, "bench_compress: target: %s\n", t.err);
		return -1;
	}
	migr_transport_opts_init(&o);
	o.insecure = true;
	o.bandwidth = cap;
	o.io_timeout_ms = 60000;
	snprintf(hp, sizeof(hp), "%s:%d", addr, t.port);
	rc = enter_netns(netns_a);
	if (!rc)
		rc = migr_connect(hp, &o, &c, err, sizeof(err));
	if (rc && !c)   /* the target waits in accept: wake it */
		shutdown(migr_listener_fd(t.l), SHUT_RDWR);
	if (!rc)
		rc = migr_conn_stream_out(c, flags, &fd);
	t0 = now_s();
	c0 = cpu_s();
	while (!rc && sent < bytes) {
		size_t off = (size_t)(sent % npages_bytes), n = npages_bytes - off;

		if (n > CHUNK)
			n = CHUNK;
		if (n > bytes - sent)
			n = (size_t)(bytes - sent);
		for (size_t w = 0; w < n;) {
			ssize_t k = write(fd, pages + off + w, n - w);

			if (k < 0) {
				rc = -errno;
				break;
			}
			w += (size_t)k;
		}
		hash = fnv(hash, pages + off, n);
		sent += n;
	}
	if (c && !rc)
		rc = migr_conn_stream_out_end(c, true, 0, NULL, NULL);
	if (c) {
		migr_conn_stats(c, &r->st);
		if (rc)
			snprintf(err, sizeof(err), "%s", migr_conn_error(c));
	}
	pthread_join(t.th, NULL);
	r->secs = now_s() - t0;
	r->cpu = cpu_s() - c0;
	migr_conn_close(c);
	if (rc || t.rc) {
		fprintf(stderr, "bench_compress: stream failed: %s%s%s\n", err, t.err[0] ? " / " : "",
			t.err);
		return -1;
	}
	if (t.got != bytes || t.hash != hash) {
		fprintf(stderr, "bench_compress: the target read %llu bytes, not the %llu sent, or "
			"other bytes\n", (unsigned long long)t.got, (unsigned long long)bytes);
		return -1;
	}
	r->rate = bytes / r->secs;
	return 0;
}

static int cmd_stream(int argc, char **argv)
{
	const char *netns = NULL, *addr = "127.0.0.1", *modes = "off,auto,on", *label = NULL;
	char nsa[64] = "", *nsb = NULL, mlist[64];
	uint64_t rate = 0, mib = 64;
	struct result res[3];
	unsigned int nres = 0;
	uint8_t *pages;
	size_t pbytes = 64u << 20;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--rate") && i + 1 < argc)
			rate = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--netns") && i + 1 < argc)
			netns = argv[++i];
		else if (!strcmp(argv[i], "--addr") && i + 1 < argc)
			addr = argv[++i];
		else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
			mib = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--modes") && i + 1 < argc)
			modes = argv[++i];
		else if (!strcmp(argv[i], "--label") && i + 1 < argc)
			label = argv[++i];
		else {
			fprintf(stderr, "bench_compress stream: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (!rate && !netns) {
		fprintf(stderr, "bench_compress stream: --rate BYTES/S (0: the link as it is, with "
			"--netns only)\n");
		return 2;
	}
	if (netns) {
		snprintf(nsa, sizeof(nsa), "%s", netns);
		nsb = strchr(nsa, ',');
		if (!nsb) {
			fprintf(stderr, "bench_compress stream: --netns A,B\n");
			return 2;
		}
		*nsb++ = '\0';
	}
	pages = make_pages(pbytes, 30);
	if (rate)
		printf("stream of %llu MiB (30%% zero pages) at %.0f Mbit/s (%s)%s%s:\n",
		       (unsigned long long)mib, rate * 8 / 1e6, netns ? "tc tbf between two network "
		       "namespaces" : "migr's bandwidth cap on loopback", label ? ", " : "",
		       label ? label : "");
	else
		printf("stream of %llu MiB (30%% zero pages) over a veth pair without a limit%s%s:\n",
		       (unsigned long long)mib, label ? ", " : "", label ? label : "");
	printf("  %-5s %9s %8s %9s %10s %10s %7s %8s %9s\n", "mode", "MiB/s", "s", "wire MiB",
	       "zero MiB", "saved MiB", "ratio", "CPU s", "vs off");
	snprintf(mlist, sizeof(mlist), "%s", modes);
	for (char *m = strtok(mlist, ","); m && nres < 3; m = strtok(NULL, ",")) {
		unsigned int flags = MIGR_STREAM_ZERO;
		struct result *r = &res[nres];
		double cz_ratio;

		if (!strcmp(m, "auto"))
			flags |= MIGR_STREAM_COMPRESS;
		else if (!strcmp(m, "on"))
			flags |= MIGR_STREAM_COMPRESS_ALWAYS;
		else if (strcmp(m, "off"))
			continue;
		r->mode = m;
		if (one_stream(netns ? nsa : NULL, nsb, addr, netns ? 0 : rate, pages, pbytes,
			       mib << 20, flags, r))
			return 1;
		nres++;
		cz_ratio = r->st.stream_cz_wire_out ?
			   (double)r->st.stream_cz_out / (double)r->st.stream_cz_wire_out : 0;
		printf("  %-5s %9.1f %8.2f %9.1f %10.1f %10.1f %7.2f %8.2f %8.2fx   "
		       "(compressed %u of %u windows; estimates: compressor %.0f MB/s, ratio %.2f, "
		       "link %.1f MB/s)\n", m, r->rate / 1048576.0, r->secs,
		       r->st.wire_out / 1048576.0, r->st.stream_zero_out / 1048576.0,
		       (r->st.stream_cz_out - r->st.stream_cz_wire_out) / 1048576.0, cz_ratio,
		       r->cpu, res[0].rate > 0 ? r->rate / res[0].rate : 0, r->st.cz_on_windows,
		       r->st.cz_windows, r->st.cz_c_Bps / 1e6, r->st.cz_ratio_milli / 1000.0,
		       r->st.cz_link_Bps / 1e6);
		fflush(stdout);
	}
	printf("bench-compress %s:", label ? label : "stream");
	for (unsigned int i = 0; i < nres; i++)
		printf(" %s=%.1fMiB/s", res[i].mode, res[i].rate / 1048576.0);
	for (unsigned int i = 1; i < nres; i++)
		printf(" %s/off=%.2f", res[i].mode, res[0].rate > 0 ? res[i].rate / res[0].rate : 0);
	printf("\n");
	free(pages);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "codecs"))
		return cmd_codecs(argc > 2 ? strtoull(argv[2], NULL, 0) : 128);
	if (argc >= 2 && !strcmp(argv[1], "stream"))
		return cmd_stream(argc - 2, argv + 2);
	fprintf(stderr, "usage: bench_compress codecs [MiB] | stream --rate BYTES/S [--netns A,B "
		"--addr IP] [--mib N] [--modes off,auto,on] [--label TEXT]\n");
	return 2;
}

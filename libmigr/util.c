/*
 * util.c: the small helpers every part of libmigr shares (util.h): clocks, writes,
 * big-endian fields, texts and logging.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

uint64_t migr__now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t migr__realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void migr__log(struct xentoollog_logger *lg, xentoollog_level level, const char *fmt, ...)
{
	va_list ap;

	if (!lg)
		return;
	va_start(ap, fmt);
	xtl_logv(lg, level, -1, "migr", fmt, ap);
	va_end(ap);
}

void migr__text(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

uint64_t migr__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int migr__write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

uint16_t migr__get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t migr__get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t migr__get_be64(const uint8_t *p)
{
	return (uint64_t)migr__get_be32(p) << 32 | migr__get_be32(p + 4);
}

void migr__put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

void migr__put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

void migr__put_be64(uint8_t *p, uint64_t v)
{
	migr__put_be32(p, v >> 32);
	migr__put_be32(p + 4, (uint32_t)v);
}

bool migr__ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

/* ---- histories: the last few figures of a kind, one per line in DIR/NAME ------------- */

#define HISTORY_MAX 5
#define HISTORY_FIGURE_MAX_US 60000000ull   /* a minute: anything longer is not a figure */

/* The last HISTORY_MAX figures in DIR/NAME, oldest first. The file is ours (0600, under a
 * state directory), but it is read like any input: bad lines are skipped. */
static unsigned int history_read(const char *dir, const char *name, uint64_t v[HISTORY_MAX])
{
	char path[512], buf[256], *line, *save = NULL;
	unsigned int n = 0;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *end;
		unsigned long long x;

		errno = 0;
		x = strtoull(line, &end, 10);
		if (errno || *end || end == line || x == 0 || x > HISTORY_FIGURE_MAX_US)
			continue;
		if (n == HISTORY_MAX) {   /* keep the last ones */
			memmove(v, v + 1, (HISTORY_MAX - 1) * sizeof(*v));
			n--;
		}
		v[n++] = x;
	}
	return n;
}

uint64_t migr__history_median(const char *dir, const char *name)
{
	uint64_t v[HISTORY_MAX];
	unsigned int n = history_read(dir, name, v);

	for (unsigned int i = 1; i < n; i++)
		for (unsigned int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

void migr__history_add(const char *dir, const char *name, uint64_t us,
		       struct xentoollog_logger *lg)
{
	uint64_t v[HISTORY_MAX + 1];
	char path[512], tmp[520];
	unsigned int n, first;
	FILE *f;
	int fd;

	if (!us || us > HISTORY_FIGURE_MAX_US)
		return;
	n = history_read(dir, name, v);
	v[n++] = us;
	first = n > HISTORY_MAX ? n - HISTORY_MAX : 0;   /* the last HISTORY_MAX are kept */
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		migr__log(lg, XTL_DETAIL, "cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	for (unsigned int i = first; i < n; i++)
		fprintf(f, "%llu\n", (unsigned long long)v[i]);
	if (fclose(f) || rename(tmp, path)) {
		migr__log(lg, XTL_DETAIL, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	}
}

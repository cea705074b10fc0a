/*
 * util.c: the small helpers every part of libmigr shares (util.h): clocks, writes,
 * big-endian fields, texts and logging.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
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

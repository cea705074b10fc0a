/*
 * buf.c: the growable text buffer, its escapes, and whole-file replace and read (buf.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"

void migr__buf_add(struct migr__buf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->max && b->len + n > b->max) {
		b->err = -EFBIG;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 1024) + n;
		char *p = realloc(b->p, cap);

		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void migr__buf_str(struct migr__buf *b, const char *s)
{
	migr__buf_add(b, s, strlen(s));
}

void migr__buf_printf(struct migr__buf *b, const char *fmt, ...)
{
	char tmp[512], *big = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = b->err ? b->err : -EINVAL;
		return;
	}
	if ((size_t)n < sizeof(tmp)) {
		migr__buf_add(b, tmp, (size_t)n);
		return;
	}
	va_start(ap, fmt);
	n = vasprintf(&big, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = b->err ? b->err : -ENOMEM;
		return;
	}
	migr__buf_add(b, big, (size_t)n);
	free(big);
}

/* Length of the valid UTF-8 sequence at s that XML 1.0 allows (0: none). */
static size_t utf8_ok(const unsigned char *s)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c < 0x80)
		return c >= 0x20 || c == '\t' || c == '\n' ? 1 : 0;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;              /* overlong */
	else if (c == 0xed)
		hi = 0x9f;              /* surrogates */
	else if (c == 0xf0)
		lo = 0x90;              /* overlong */
	else if (c == 0xf4)
		hi = 0x8f;              /* above U+10FFFF */
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	if (n == 3 && c == 0xef && s[1] == 0xbf && (s[2] == 0xbe || s[2] == 0xbf))
		return 0;               /* U+FFFE, U+FFFF */
	return n;
}

void migr__buf_json(struct migr__buf *b, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");

	while (*s) {
		size_t n;

		if (*s == '"' || *s == '\\') {
			char e[2] = { '\\', (char)*s++ };

			migr__buf_add(b, e, 2);
		} else if (*s < 0x20 || *s == 0x7f) {
			migr__buf_printf(b, "\\u%04x", *s++);
		} else if ((n = utf8_ok(s))) {
			migr__buf_add(b, (const char *)s, n);
			s += n;
		} else {
			migr__buf_str(b, "\\ufffd");
			s++;
		}
	}
}

void migr__text_clean(char *str)
{
	unsigned char *s = (unsigned char *)str;

	while (*s) {
		size_t n = *s < 0x20 || *s == 0x7f ? 0 : utf8_ok(s);

		if (!n) {
			*s++ = '?';
			continue;
		}
		s += n;
	}
}

void migr__buf_xml(struct migr__buf *b, const char *str, size_t max_chars)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t chars = 0;

	while (*s) {
		size_t n;

		if (max_chars && chars == max_chars) {
			migr__buf_str(b, "\xe2\x80\xa6");       /* U+2026 */
			return;
		}
		chars++;
		switch (*s) {
		case '&':  migr__buf_str(b, "&amp;");  s++; continue;
		case '<':  migr__buf_str(b, "&lt;");   s++; continue;
		case '>':  migr__buf_str(b, "&gt;");   s++; continue;
		case '"':  migr__buf_str(b, "&quot;"); s++; continue;
		case '\'': migr__buf_str(b, "&#39;");  s++; continue;
		}
		n = utf8_ok(s);
		if (n) {
			migr__buf_add(b, (const char *)s, n);
			s += n;
		} else {
			migr__buf_str(b, "\xef\xbf\xbd");       /* U+FFFD */
			s++;
		}
	}
}

void migr__buf_url(struct migr__buf *b, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			migr__buf_add(b, (const char *)&c, 1);
		else
			migr__buf_printf(b, "%%%02X", c);
	}
}

int migr__buf_error(const struct migr__buf *b)
{
	return b->err;
}

void migr__buf_free(struct migr__buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int migr__mkdir_p(const char *dir, unsigned int mode)
{
	char path[4096];
	size_t i, n = strlen(dir);

	if (!n || n >= sizeof(path))
		return -EINVAL;
	memcpy(path, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, mode) < 0 && errno != EEXIST)
			return -errno;
		path[i] = i < n ? '/' : '\0';
	}
	return 0;
}

int migr__file_replace(const char *path, const void *data, size_t len, unsigned int mode,
		       bool durable)
{
	char tmp[4200], dir[4200];
	const char *slash = strrchr(path, '/');
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		rc = -errno;
	if (!rc)
		rc = migr__write_all(fd, data, len);
	if (!rc && durable && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	if (!durable)
		return 0;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int migr__file_read(const char *path, size_t max, char **text_r, size_t *len_r)
{
	struct stat st;
	char *text = NULL;
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = -EFBIG;
		goto out;
	}
	text = malloc(max + 2);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	/* read up to one byte past max: the file may have grown since fstat() */
	while (got < max + 1) {
		ssize_t n = read(fd, text + got, max + 1 - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > max) {
		rc = -EFBIG;
		goto out;
	}
	if (memchr(text, '\0', got)) {
		rc = -EBADMSG;
		goto out;
	}
	text[got] = '\0';
	*text_r = text;
	*len_r = got;
	text = NULL;
out:
	free(text);
	close(fd);
	return rc;
}

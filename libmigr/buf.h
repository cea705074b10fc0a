/*
 * buf.h: a growable text buffer with the escapes the report writers need (buf.c), and a
 * whole file replaced atomically. Internal to libmigr.
 *
 * A buffer starts zeroed ({ 0 }); every append is a no-op once one failed (out of memory
 * or past max, when max is set), and migr__buf_error() says so at the end: writers build
 * a whole document and check once.
 */
#ifndef MIGR_BUF_H
#define MIGR_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct migr__buf {
	char *p;                  /* NUL-terminated while len > 0 */
	size_t len, cap;
	size_t max;               /* 0: no limit */
	int err;                  /* first failure: -ENOMEM or -EFBIG */
};

void migr__buf_add(struct migr__buf *b, const char *s, size_t n);
void migr__buf_str(struct migr__buf *b, const char *s);
void migr__buf_printf(struct migr__buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* s as the body of a JSON string (no quotes): " \ and control bytes escaped, valid UTF-8
 * kept, a byte that is not part of it as \ufffd. */
void migr__buf_json(struct migr__buf *b, const char *s);
/* Replaces, in place, each control byte and each byte that is not part of valid UTF-8
 * (or of U+FFFE, U+FFFF) by '?': a name fit for a record, a terminal and XML. */
void migr__text_clean(char *s);
/* s as XML character data or an attribute value: & < > " ' escaped; valid UTF-8 kept;
 * a byte that is not part of valid UTF-8, and any character XML 1.0 forbids (control
 * characters but tab and newline, U+FFFE, U+FFFF), becomes U+FFFD. At most max_chars
 * characters (0: all), then an ellipsis. */
void migr__buf_xml(struct migr__buf *b, const char *s, size_t max_chars);
/* s percent-encoded for a relative URL path segment (unreserved characters kept). */
void migr__buf_url(struct migr__buf *b, const char *s);
int migr__buf_error(const struct migr__buf *b);
void migr__buf_free(struct migr__buf *b);

/*
 * Replaces path with data: a temporary file beside it (mode, fsync'd when durable), renamed
 * over path (then the directory fsync'd when durable). Readers see the old file or the new
 * one, never a part. 0 or -errno.
 */
int migr__file_replace(const char *path, const void *data, size_t len, unsigned int mode,
		       bool durable);

/* Creates dir and its missing parents with mode; 0 or -errno. */
int migr__mkdir_p(const char *dir, unsigned int mode);

/*
 * Reads a whole regular file (not through a symbolic link) of at most max bytes into a
 * malloc'd NUL-terminated buffer. -EFBIG when it is longer, -EBADMSG when it holds a NUL.
 */
int migr__file_read(const char *path, size_t max, char **text_r, size_t *len_r);

#endif /* MIGR_BUF_H */

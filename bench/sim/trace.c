/*
 * trace.c: building, loading and saving dirty-page traces (trace.h; the format is
 * documented in bench/traces/README.md). Files are untrusted input: every length and
 * page index is checked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "trace.h"

#define MAX_PAGES   (1ull << 40)
#define MAX_EPOCHS  10000000u
#define MAX_NOTE    65536u

struct trace *trace_new(const char *name, uint32_t page_size, uint32_t epoch_us, uint64_t n_pages)
{
	struct trace *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	snprintf(t->name, sizeof(t->name), "%s", name ? name : "trace");
	t->page_size = page_size;
	t->epoch_us = epoch_us;
	t->n_pages = n_pages;
	t->cap_epochs = 1024;
	t->epoch_off = calloc(t->cap_epochs + 1, sizeof(*t->epoch_off));
	if (!t->epoch_off) {
		free(t);
		return NULL;
	}
	return t;
}

void trace_free(struct trace *t)
{
	if (!t)
		return;
	free(t->note);
	free(t->epoch_off);
	free(t->runs);
	free(t);
}

int trace_set_note(struct trace *t, const char *note)
{
	char *n = strdup(note ? note : "");

	if (!n)
		return -ENOMEM;
	free(t->note);
	t->note = n;
	return 0;
}

int trace_add_run(struct trace *t, uint64_t start, uint64_t len)
{
	if (!len)
		return 0;
	if (start >= t->n_pages || len > t->n_pages - start)
		return -ERANGE;
	if (t->n_runs == t->cap_runs) {
		size_t cap = t->cap_runs ? t->cap_runs * 2 : 4096;
		struct trace_run *r = realloc(t->runs, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		t->runs = r;
		t->cap_runs = cap;
	}
	t->runs[t->n_runs].start = start;
	t->runs[t->n_runs].len = len;
	t->n_runs++;
	return 0;
}

static int run_cmp(const void *a, const void *b)
{
	const struct trace_run *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int trace_end_epoch(struct trace *t)
{
	size_t first = t->epoch_off[t->n_epochs], i, out;

	if (t->n_epochs >= MAX_EPOCHS)
		return -E2BIG;
	if (t->n_epochs + 1 > t->cap_epochs) {
		size_t cap = t->cap_epochs * 2;
		size_t *o = realloc(t->epoch_off, (cap + 1) * sizeof(*o));

		if (!o)
			return -ENOMEM;
		t->epoch_off = o;
		t->cap_epochs = cap;
	}
	/* Sort and merge overlapping or adjacent runs of this epoch. */
	if (t->n_runs > first) {
		qsort(t->runs + first, t->n_runs - first, sizeof(*t->runs), run_cmp);
		out = first;
		for (i = first + 1; i < t->n_runs; i++) {
			struct trace_run *o = &t->runs[out], *r = &t->runs[i];

			if (r->start <= o->start + o->len) {
				uint64_t end = r->start + r->len;

				if (end > o->start + o->len)
					o->len = end - o->start;
			} else {
				t->runs[++out] = *r;
			}
		}
		t->n_runs = out + 1;
	}
	t->n_epochs++;
	t->epoch_off[t->n_epochs] = t->n_runs;
	return 0;
}

uint64_t trace_pages_in_epoch(const struct trace *t, uint32_t e)
{
	uint64_t n = 0;
	size_t i;

	for (i = t->epoch_off[e]; i < t->epoch_off[e + 1]; i++)
		n += t->runs[i].len;
	return n;
}

uint64_t trace_total_writes(const struct trace *t)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < t->n_runs; i++)
		n += t->runs[i].len;
	return n;
}

/* ---- file format ---------------------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static int put_varint(FILE *f, uint64_t v)
{
	do {
		unsigned char b = v & 0x7f;

		v >>= 7;
		if (v)
			b |= 0x80;
		if (fputc(b, f) == EOF)
			return -EIO;
	} while (v);
	return 0;
}

int trace_save(const struct trace *t, const char *path)
{
	unsigned char h[36];
	size_t note_len = t->note ? strlen(t->note) : 0;
	FILE *f = NULL;
	int rc = 0;
	uint32_t e;

	if (note_len > MAX_NOTE)
		note_len = MAX_NOTE;
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	memcpy(h, TRACE_MAGIC, 8);
	put_u32(h + 8, t->page_size);
	put_u32(h + 12, t->epoch_us);
	put_u64(h + 16, t->n_pages);
	put_u32(h + 24, t->n_epochs);
	put_u32(h + 28, (uint32_t)note_len);
	put_u32(h + 32, 0);     /* flags */
	if (fwrite(h, sizeof(h), 1, f) != 1 || (note_len && fwrite(t->note, note_len, 1, f) != 1)) {
		rc = -EIO;
		goto out;
	}
	for (e = 0; e < t->n_epochs && !rc; e++) {
		uint64_t prev_end = 0;
		size_t i;

		rc = put_varint(f, t->epoch_off[e + 1] - t->epoch_off[e]);
		for (i = t->epoch_off[e]; i < t->epoch_off[e + 1] && !rc; i++) {
			rc = put_varint(f, t->runs[i].start - prev_end);
			if (!rc)
				rc = put_varint(f, t->runs[i].len - 1);
			prev_end = t->runs[i].start + t->runs[i].len;
		}
	}
out:
	if (fclose(f) && !rc)
		rc = -EIO;
	return rc;
}

struct reader {
	const unsigned char *p, *end;
};

static int get_varint(struct reader *r, uint64_t *v_r)
{
	uint64_t v = 0;
	unsigned int shift = 0;

	for (;;) {
		unsigned char b;

		if (r->p == r->end || shift > 63)
			return -EINVAL;
		b = *r->p++;
		if (shift == 63 && (b & 0x7e))
			return -EINVAL;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
		shift += 7;
	}
	*v_r = v;
	return 0;
}

static int read_all(const char *path, unsigned char **buf_r, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int rc = 0;

	if (!f)
		return -errno;
	do {
		if (len == cap) {
			unsigned char *b;

			cap = cap ? cap * 2 : 1 << 16;
			if (cap > (1u << 30)) {
				rc = -EFBIG;
				goto out;
			}
			b = realloc(buf, cap);
			if (!b) {
				rc = -ENOMEM;
				goto out;
			}
			buf = b;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n);
	if (ferror(f))
		rc = -EIO;
out:
	fclose(f);
	if (rc) {
		free(buf);
		return rc;
	}
	*buf_r = buf;
	*len_r = len;
	return 0;
}

int trace_load(const char *path, struct trace **t_r, const char **why_r)
{
	unsigned char *buf = NULL;
	struct trace *t = NULL;
	struct reader r;
	const char *why = "malformed";
	const char *base;
	char name[64];
	size_t len = 0, note_len;
	uint32_t e, n_epochs;
	int rc;

	rc = read_all(path, &buf, &len);
	if (rc)
		return rc;
	rc = -EINVAL;
	if (len < 36 || memcmp(buf, TRACE_MAGIC, 8)) {
		why = "not a MIGRTRC1 trace";
		goto out;
	}
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	snprintf(name, sizeof(name), "%s", base);
	if (strchr(name, '.'))
		*strchr(name, '.') = 0;
	t = trace_new(name, get_u32(buf + 8), get_u32(buf + 12), get_u64(buf + 16));
	if (!t) {
		rc = -ENOMEM;
		goto out;
	}
	n_epochs = get_u32(buf + 24);
	note_len = get_u32(buf + 28);
	if (t->page_size < 512 || t->page_size > (1u << 30) || (t->page_size & (t->page_size - 1))) {
		why = "bad page size";
		goto out;
	}
	if (!t->epoch_us || !t->n_pages || t->n_pages > MAX_PAGES || n_epochs > MAX_EPOCHS) {
		why = "bad epoch, guest size or epoch count";
		goto out;
	}
	if (get_u32(buf + 32)) {
		why = "unknown flags";
		goto out;
	}
	if (note_len > MAX_NOTE || note_len > len - 36) {
		why = "bad note length";
		goto out;
	}
	t->note = calloc(1, note_len + 1);
	if (!t->note) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(t->note, buf + 36, note_len);
	r.p = buf + 36 + note_len;
	r.end = buf + len;
	for (e = 0; e < n_epochs; e++) {
		uint64_t n_runs, i, pos = 0;

		if (get_varint(&r, &n_runs) || n_runs > t->n_pages)
			goto out;
		for (i = 0; i < n_runs; i++) {
			uint64_t gap, lm1;

			if (get_varint(&r, &gap) || get_varint(&r, &lm1))
				goto out;
			/* runs are disjoint and not adjacent, except the first may start at 0 */
			if ((i && !gap) || gap > t->n_pages - pos || lm1 >= t->n_pages - pos - gap) {
				why = "run out of range";
				goto out;
			}
			rc = trace_add_run(t, pos + gap, lm1 + 1);
			if (rc)
				goto out;
			rc = -EINVAL;
			pos += gap + lm1 + 1;
		}
		rc = trace_end_epoch(t);
		if (rc)
			goto out;
		rc = -EINVAL;
	}
	if (r.p != r.end) {
		why = "trailing bytes";
		goto out;
	}
	rc = 0;
	*t_r = t;
	t = NULL;
out:
	if (rc && why_r)
		*why_r = why;
	trace_free(t);
	free(buf);
	return rc;
}

/*
 * trace.h: dirty-page traces for the pre-copy simulator (format: bench/traces/README.md).
 *
 * A trace says which pages of a guest were written in each epoch of epoch_us
 * microseconds: the set log-dirty CLEAN would report if it ran at every epoch boundary.
 * In memory, each epoch is a sorted list of disjoint runs [start, start + len).
 *
 * Entry points: trace_new(), trace_add_run(), trace_end_epoch(), trace_free(),
 * trace_load(), trace_save(), trace_pages_in_epoch().
 */
#ifndef MIGR_SIM_TRACE_H
#define MIGR_SIM_TRACE_H

#include <stdint.h>
#include <stddef.h>

#define TRACE_MAGIC "MIGRTRC1"

struct trace_run {
	uint64_t start;
	uint64_t len;
};

struct trace {
	char name[64];
	char *note;              /* provenance, free text (may be NULL) */
	uint32_t page_size;
	uint32_t epoch_us;
	uint64_t n_pages;
	uint32_t n_epochs;
	/* epoch e holds runs[epoch_off[e] .. epoch_off[e + 1]) */
	size_t *epoch_off;       /* n_epochs + 1 entries */
	struct trace_run *runs;
	size_t n_runs, cap_runs, cap_epochs;
};

/* Empty trace; NULL on allocation failure. */
struct trace *trace_new(const char *name, uint32_t page_size, uint32_t epoch_us, uint64_t n_pages);
void trace_free(struct trace *t);
int trace_set_note(struct trace *t, const char *note);

/* Adds pages [start, start + len) to the epoch being built (any order, overlaps fine). */
int trace_add_run(struct trace *t, uint64_t start, uint64_t len);
/* Closes the epoch being built (sorting and merging its runs). */
int trace_end_epoch(struct trace *t);

/* 0 or -errno; on a malformed file -EINVAL (and *why_r, if not NULL, says what). */
int trace_load(const char *path, struct trace **t_r, const char **why_r);
int trace_save(const struct trace *t, const char *path);

uint64_t trace_pages_in_epoch(const struct trace *t, uint32_t e);
uint64_t trace_total_writes(const struct trace *t);

#endif

/*
 * migr/xs.h: the xenstore seam of the evacuation code (migrd, `migr evacuate`,
 * `migr schema-check`).
 *
 * struct migr_xs_ops is what the evacuation and notice logic asks of xenstore; the real
 * one (libmigr/xen_xs.c, the only file here that includes xenstore.h) sits on
 * libxenstore, and the unit tests give a table over an in-memory tree. Values are raw
 * bytes (NUL-terminated for convenience, but vlen counts); permissions travel as text in
 * xenstore-ls's notation ("n0,r5": owner first), the form the schema uses.
 *
 * Entry points: migr_xs_open() (the real xenstore), migr_xs_close(), migr_xs_walk().
 * Every op returns 0 or -errno; out-parameters (_r) are written only on success.
 */
#ifndef MIGR_XS_H
#define MIGR_XS_H

#include <stddef.h>

struct migr_xs;

struct migr_xs_ops {
	/* Value of path (malloc'd, NUL-terminated, *len_r bytes). -ENOENT if absent. */
	int (*read)(struct migr_xs *xs, const char *path, char **val_r, size_t *len_r);
	/* Create or overwrite path (and missing parents, as xenstore does). */
	int (*write)(struct migr_xs *xs, const char *path, const char *val, size_t len);
	/* Remove path and everything below it; absent is not an error. */
	int (*rm)(struct migr_xs *xs, const char *path);
	/* Set permissions from text ("n0,r5"). */
	int (*set_perms)(struct migr_xs *xs, const char *path, const char *perms);
	/* Permissions as text (malloc'd). */
	int (*get_perms)(struct migr_xs *xs, const char *path, char **perms_r);
	/* Children of path: *names_r is one malloc'd block (free it once), *n_r entries. */
	int (*directory)(struct migr_xs *xs, const char *path, char ***names_r, unsigned *n_r);
	/* Watch path and everything below; token comes back with each event. */
	int (*watch)(struct migr_xs *xs, const char *path, const char *token);
	int (*unwatch)(struct migr_xs *xs, const char *path, const char *token);
	/* A descriptor that becomes readable when a watch fired (-1 if none). */
	int (*fileno)(struct migr_xs *xs);
	/* Next pending watch event without blocking: -EAGAIN if none. Both strings
	 * malloc'd. */
	int (*read_watch)(struct migr_xs *xs, char **path_r, char **token_r);
	void (*close)(struct migr_xs *xs);
};

struct migr_xs {
	const struct migr_xs_ops *ops;
};

/* The real xenstore (xenstored's socket or /dev/xen/xenbus). */
int migr_xs_open(struct migr_xs **xs_r);

void migr_xs_close(struct migr_xs *xs);

/*
 * migr_xs_walk: visits path and every node below it, parents first, calling fn with the
 * node's raw value (NULL when unreadable) and permission text (NULL when unreadable).
 * A node removed while walking is skipped. Stops with fn's non-zero return. Depth is
 * capped at 64 levels.
 */
typedef int migr_xs_walk_fn(const char *path, const char *value, size_t vlen,
			    const char *perms, void *arg);
int migr_xs_walk(struct migr_xs *xs, const char *path, migr_xs_walk_fn *fn, void *arg);

/* Convenience: write a NUL-terminated string / a printf-formatted value. */
int migr_xs_write_str(struct migr_xs *xs, const char *path, const char *val);
int migr_xs_printf(struct migr_xs *xs, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* MIGR_XS_H */


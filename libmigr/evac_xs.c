/*
 * evac_xs.c: helpers over the xenstore seam (migr/xs.h) that need no Xen header:
 * migr_xs_close(), migr_xs_walk(), migr_xs_write_str(), migr_xs_printf().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"

void migr_xs_close(struct migr_xs *xs)
{
	if (xs)
		xs->ops->close(xs);
}

int migr_xs_write_str(struct migr_xs *xs, const char *path, const char *val)
{
	return xs->ops->write(xs, path, val, strlen(val));
}

int migr_xs_printf(struct migr_xs *xs, const char *path, const char *fmt, ...)
{
	char buf[MIGR_SCHEMA_MAX_VALUE + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -E2BIG;
	return xs->ops->write(xs, path, buf, n);
}

static int walk(struct migr_xs *xs, const char *path, unsigned depth, migr_xs_walk_fn *fn,
		void *arg)
{
	char *val = NULL, *perms = NULL, **names = NULL;
	size_t vlen = 0;
	unsigned n = 0;
	int rc;

	if (depth > 64)
		return -ELOOP;
	rc = xs->ops->read(xs, path, &val, &vlen);
	if (rc == -ENOENT)
		return 0;               /* removed while walking */
	if (rc)
		val = NULL;
	if (xs->ops->get_perms(xs, path, &perms))
		perms = NULL;
	rc = fn(path, val, val ? vlen : 0, perms, arg);
	if (rc)
		goto out;
	if (xs->ops->directory(xs, path, &names, &n)) {
		names = NULL;
		n = 0;
	}
	for (unsigned i = 0; i < n; i++) {
		char child[MIGR_SCHEMA_MAX_PATH + 1];
		int k = snprintf(child, sizeof(child), "%s%s%s", path,
				 strcmp(path, "/") ? "/" : "", names[i]);

		if (k < 0 || (size_t)k >= sizeof(child))
			continue;
		rc = walk(xs, child, depth + 1, fn, arg);
		if (rc)
			goto out;
	}
	rc = 0;
out:
	free(names);
	free(perms);
	free(val);
	return rc;
}

int migr_xs_walk(struct migr_xs *xs, const char *path, migr_xs_walk_fn *fn, void *arg)
{
	return walk(xs, path, 0, fn, arg);
}

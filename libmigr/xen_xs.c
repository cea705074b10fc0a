/*
 * xen_xs.c: struct migr_xs_ops on libxenstore (the only evacuation file that includes
 * xenstore.h). libxenstore's false/NULL-plus-errno is turned into -errno here, once.
 *
 * Entry point: migr_xs_open(). The watch helpers read events without blocking
 * (xs_check_watch), so migrd can poll the descriptor together with its sockets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>
#include "libmigr.h"

struct xen_xs {
	struct migr_xs xs;
	struct xs_handle *h;
};

#define H(x) (((struct xen_xs *)(x))->h)

static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

static int x_read(struct migr_xs *xs, const char *path, char **val_r, size_t *len_r)
{
	unsigned int len;
	char *v;

	errno = 0;
	v = xs_read(H(xs), XBT_NULL, path, &len);
	if (!v)
		return neg_errno();
	*val_r = v;          /* libxenstore NUL-terminates */
	*len_r = len;
	return 0;
}

static int x_write(struct migr_xs *xs, const char *path, const char *val, size_t len)
{
	errno = 0;
	if (len > MIGR_SCHEMA_MAX_VALUE)
		return -E2BIG;
	return xs_write(H(xs), XBT_NULL, path, val, len) ? 0 : neg_errno();
}

static int x_rm(struct migr_xs *xs, const char *path)
{
	errno = 0;
	if (xs_rm(H(xs), XBT_NULL, path) || errno == ENOENT)
		return 0;
	return neg_errno();
}

/* "n0,r5" -> struct xs_permissions[]. */
static int perms_from_text(const char *t, struct xs_permissions *p, unsigned *n_r)
{
	unsigned n = 0;

	while (*t) {
		char *end;
		unsigned long id;

		if (n == MIGR_SCHEMA_MAX_PERMS)
			return -EINVAL;
		switch (*t) {
		case 'n': p[n].perms = XS_PERM_NONE; break;
		case 'r': p[n].perms = XS_PERM_READ; break;
		case 'w': p[n].perms = XS_PERM_WRITE; break;
		case 'b': p[n].perms = XS_PERM_READ | XS_PERM_WRITE; break;
		default: return -EINVAL;
		}
		if (t[1] < '0' || t[1] > '9')
			return -EINVAL;
		errno = 0;
		id = strtoul(t + 1, &end, 10);
		if (errno || id > 65535 || (*end && *end != ','))
			return -EINVAL;
		p[n++].id = id;
		t = *end ? end + 1 : end;
	}
	*n_r = n;
	return n ? 0 : -EINVAL;
}

static int x_set_perms(struct migr_xs *xs, const char *path, const char *perms)
{
	struct xs_permissions p[MIGR_SCHEMA_MAX_PERMS];
	unsigned n;
	int rc = perms_from_text(perms, p, &n);

	if (rc)
		return rc;
	errno = 0;
	return xs_set_permissions(H(xs), XBT_NULL, path, p, n) ? 0 : neg_errno();
}

static int x_get_perms(struct migr_xs *xs, const char *path, char **perms_r)
{
	struct xs_permissions *p;
	unsigned n, i;
	char *t;
	size_t off = 0;

	errno = 0;
	p = xs_get_permissions(H(xs), XBT_NULL, path, &n);
	if (!p)
		return neg_errno();
	t = malloc(n * 8 + 1);
	if (!t) {
		free(p);
		return -ENOMEM;
	}
	t[0] = 0;
	for (i = 0; i < n; i++) {
		char c = 'n';

		if ((p[i].perms & XS_PERM_READ) && (p[i].perms & XS_PERM_WRITE))
			c = 'b';
		else if (p[i].perms & XS_PERM_READ)
			c = 'r';
		else if (p[i].perms & XS_PERM_WRITE)
			c = 'w';
		off += snprintf(t + off, 8, "%s%c%u", i ? "," : "", c, p[i].id & 0xffff);
	}
	free(p);
	*perms_r = t;
	return 0;
}

static int x_directory(struct migr_xs *xs, const char *path, char ***names_r, unsigned *n_r)
{
	unsigned n;
	char **d;

	errno = 0;
	d = xs_directory(H(xs), XBT_NULL, path, &n);
	if (!d)
		return neg_errno();
	*names_r = d;        /* one block, as libxenstore allocates it */
	*n_r = n;
	return 0;
}

static int x_watch(struct migr_xs *xs, const char *path, const char *token)
{
	errno = 0;
	return xs_watch(H(xs), path, token) ? 0 : neg_errno();
}

static int x_unwatch(struct migr_xs *xs, const char *path, const char *token)
{
	errno = 0;
	return xs_unwatch(H(xs), path, token) ? 0 : neg_errno();
}

static int x_fileno(struct migr_xs *xs)
{
	return xs_fileno(H(xs));
}

static int x_read_watch(struct migr_xs *xs, char **path_r, char **token_r)
{
	char **v;
	unsigned n = 0;
	char *p = NULL, *t = NULL;

	errno = 0;
	v = xs_check_watch(H(xs));
	if (!v)
		return errno == EAGAIN || errno == 0 ? -EAGAIN : neg_errno();
	(void)n;
	p = strdup(v[XS_WATCH_PATH]);
	t = strdup(v[XS_WATCH_TOKEN]);
	free(v);
	if (!p || !t) {
		free(p);
		free(t);
		return -ENOMEM;
	}
	*path_r = p;
	*token_r = t;
	return 0;
}

static void x_close(struct migr_xs *xs)
{
	if (!xs)
		return;
	if (H(xs))
		xs_close(H(xs));
	free(xs);
}

static const struct migr_xs_ops xen_xs_ops = {
	.read = x_read, .write = x_write, .rm = x_rm, .set_perms = x_set_perms,
	.get_perms = x_get_perms, .directory = x_directory, .watch = x_watch,
	.unwatch = x_unwatch, .fileno = x_fileno, .read_watch = x_read_watch,
	.close = x_close,
};

int migr_xs_open(struct migr_xs **xs_r)
{
	struct xen_xs *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	errno = 0;
	x->h = xs_open(0);
	if (!x->h) {
		int rc = neg_errno();

		free(x);
		return rc;
	}
	x->xs.ops = &xen_xs_ops;
	*xs_r = &x->xs;
	return 0;
}

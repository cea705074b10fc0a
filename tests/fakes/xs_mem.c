/*
 * evac_xsmem.c: an in-memory xenstore behind struct migr_xs_ops, for unit tests and for
 * exercising migrd's logic without Xen. Linear search: it holds tens of nodes.
 *
 * Entry points: migr_xs_mem_new(), migr_xs_mem_write_as(), migr_xs_mem_pending().
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"
#include "fakes.h"

#define MEM_MAX_NODES   1024
#define MEM_MAX_WATCHES 32
#define MEM_MAX_EVENTS  4096

struct mnode {
	char *path;
	char *val;
	size_t vlen;
	char *perms;
};

struct mwatch {
	char *path, *token;
};

struct mev {
	char *path, *token;
};

struct mem_xs {
	struct migr_xs xs;
	pthread_mutex_t mu;       /* the store is used from several threads in tests */
	unsigned n;
	struct mnode nodes[MEM_MAX_NODES];
	unsigned nw;
	struct mwatch w[MEM_MAX_WATCHES];
	unsigned ev_head, ev_count;
	struct mev ev[MEM_MAX_EVENTS];
};

#define M(x) ((struct mem_xs *)(x))

static struct mnode *find(struct mem_xs *m, const char *path)
{
	for (unsigned i = 0; i < m->n; i++)
		if (!strcmp(m->nodes[i].path, path))
			return &m->nodes[i];
	return NULL;
}

/* Is a equal to b or below it? */
static int under(const char *a, const char *b)
{
	size_t n = strlen(b);

	if (!strcmp(b, "/"))
		return 1;
	return !strncmp(a, b, n) && (a[n] == 0 || a[n] == '/');
}

static void fire(struct mem_xs *m, const char *path)
{
	for (unsigned i = 0; i < m->nw; i++) {
		struct mev *e;

		if (!under(path, m->w[i].path) || m->ev_count == MEM_MAX_EVENTS)
			continue;
		e = &m->ev[(m->ev_head + m->ev_count) % MEM_MAX_EVENTS];
		e->path = strdup(path);
		e->token = strdup(m->w[i].token);
		if (!e->path || !e->token) {
			free(e->path);
			free(e->token);
			continue;
		}
		m->ev_count++;
	}
}

static int parent_of(const char *path, char *buf, size_t len)
{
	const char *s = strrchr(path, '/');
	size_t n;

	if (!s)
		return -EINVAL;
	n = s == path ? 1 : (size_t)(s - path);
	if (n >= len)
		return -E2BIG;
	memcpy(buf, path, n);
	buf[n] = 0;
	return 0;
}

static int valid_path(const char *p)
{
	size_t n = strlen(p);

	return n >= 1 && n <= MIGR_SCHEMA_MAX_PATH && p[0] == '/' &&
	       (n == 1 || p[n - 1] != '/') && !strstr(p, "//");
}

static struct mnode *create(struct mem_xs *m, const char *path)
{
	struct mnode *nd = find(m, path), *par;
	char pp[MIGR_SCHEMA_MAX_PATH + 1];

	if (nd)
		return nd;
	if (strcmp(path, "/")) {
		if (parent_of(path, pp, sizeof(pp)))
			return NULL;
		if (!(par = create(m, pp)))
			return NULL;
	} else {
		par = NULL;
	}
	if (m->n == MEM_MAX_NODES)
		return NULL;
	nd = &m->nodes[m->n];
	nd->path = strdup(path);
	nd->val = strdup("");
	nd->vlen = 0;
	nd->perms = strdup(par ? par->perms : "n0");
	if (!nd->path || !nd->val || !nd->perms) {
		free(nd->path);
		free(nd->val);
		free(nd->perms);
		return NULL;
	}
	m->n++;
	return nd;
}

static int m_read_locked(struct migr_xs *xs, const char *path, char **val_r, size_t *len_r)
{
	struct mnode *nd = find(M(xs), path);
	char *v;

	if (!nd)
		return -ENOENT;
	if (!(v = malloc(nd->vlen + 1)))
		return -ENOMEM;
	memcpy(v, nd->val, nd->vlen);
	v[nd->vlen] = 0;
	*val_r = v;
	*len_r = nd->vlen;
	return 0;
}

static int m_write_locked(struct migr_xs *xs, const char *path, const char *val, size_t len)
{
	struct mem_xs *m = M(xs);
	struct mnode *nd;
	char *v;

	if (!valid_path(path))
		return -EINVAL;
	if (len > MIGR_SCHEMA_MAX_VALUE)
		return -E2BIG;
	if (!(nd = create(m, path)))
		return -ENOSPC;
	if (!(v = malloc(len + 1)))
		return -ENOMEM;
	memcpy(v, val, len);
	v[len] = 0;
	free(nd->val);
	nd->val = v;
	nd->vlen = len;
	fire(m, path);
	return 0;
}

static int m_rm_locked(struct migr_xs *xs, const char *path)
{
	struct mem_xs *m = M(xs);
	unsigned i = 0, removed = 0;

	while (i < m->n) {
		if (under(m->nodes[i].path, path)) {
			free(m->nodes[i].path);
			free(m->nodes[i].val);
			free(m->nodes[i].perms);
			m->nodes[i] = m->nodes[--m->n];
			removed++;
		} else {
			i++;
		}
	}
	if (removed)
		fire(m, path);
	return 0;
}

static int m_set_perms_locked(struct migr_xs *xs, const char *path, const char *perms)
{
	struct mnode *nd = find(M(xs), path);
	char *p;

	if (!nd)
		return -ENOENT;
	if (!perms[0] || !(p = strdup(perms)))
		return perms[0] ? -ENOMEM : -EINVAL;
	free(nd->perms);
	nd->perms = p;
	fire(M(xs), path);
	return 0;
}

static int m_get_perms_locked(struct migr_xs *xs, const char *path, char **perms_r)
{
	struct mnode *nd = find(M(xs), path);
	char *p;

	if (!nd)
		return -ENOENT;
	if (!(p = strdup(nd->perms)))
		return -ENOMEM;
	*perms_r = p;
	return 0;
}

static int m_directory_locked(struct migr_xs *xs, const char *path, char ***names_r, unsigned *n_r)
{
	struct mem_xs *m = M(xs);
	size_t plen = strcmp(path, "/") ? strlen(path) : 0, bytes = 0;
	unsigned cnt = 0, k = 0;
	char **v, *s;

	if (!find(m, path))
		return -ENOENT;
	for (unsigned i = 0; i < m->n; i++) {
		const char *p = m->nodes[i].path;

		if (strlen(p) > plen + 1 && !strncmp(p, path, plen) && p[plen] == '/' &&
		    !strchr(p + plen + 1, '/')) {
			cnt++;
			bytes += strlen(p + plen + 1) + 1;
		}
	}
	v = malloc((cnt + 1) * sizeof(char *) + bytes);
	if (!v)
		return -ENOMEM;
	s = (char *)(v + cnt + 1);
	for (unsigned i = 0; i < m->n; i++) {
		const char *p = m->nodes[i].path;

		if (strlen(p) > plen + 1 && !strncmp(p, path, plen) && p[plen] == '/' &&
		    !strchr(p + plen + 1, '/')) {
			strcpy(s, p + plen + 1);
			v[k++] = s;
			s += strlen(s) + 1;
		}
	}
	v[k] = NULL;
	*names_r = v;
	*n_r = cnt;
	return 0;
}

static int m_watch_locked(struct migr_xs *xs, const char *path, const char *token)
{
	struct mem_xs *m = M(xs);

	if (m->nw == MEM_MAX_WATCHES)
		return -ENOSPC;
	m->w[m->nw].path = strdup(path);
	m->w[m->nw].token = strdup(token);
	if (!m->w[m->nw].path || !m->w[m->nw].token) {
		free(m->w[m->nw].path);
		free(m->w[m->nw].token);
		return -ENOMEM;
	}
	m->nw++;
	/* xenstored fires a new watch once at once. */
	fire(m, path);
	return 0;
}

static int m_unwatch_locked(struct migr_xs *xs, const char *path, const char *token)
{
	struct mem_xs *m = M(xs);

	for (unsigned i = 0; i < m->nw; i++)
		if (!strcmp(m->w[i].path, path) && !strcmp(m->w[i].token, token)) {
			free(m->w[i].path);
			free(m->w[i].token);
			m->w[i] = m->w[--m->nw];
			return 0;
		}
	return -ENOENT;
}

static int m_fileno(struct migr_xs *xs)
{
	return -1;
}

static int m_read_watch_locked(struct migr_xs *xs, char **path_r, char **token_r)
{
	struct mem_xs *m = M(xs);
	struct mev *e;

	if (!m->ev_count)
		return -EAGAIN;
	e = &m->ev[m->ev_head];
	m->ev_head = (m->ev_head + 1) % MEM_MAX_EVENTS;
	m->ev_count--;
	*path_r = e->path;
	*token_r = e->token;
	return 0;
}

static int m_read(struct migr_xs *xs, const char *path, char **val_r, size_t *len_r)
{
	int rc;

	pthread_mutex_lock(&M(xs)->mu);
	rc = m_read_locked(xs, path, val_r, len_r);
	pthread_mutex_unlock(&M(xs)->mu);
	return rc;
}

static int m_write(struct migr_xs *xs, const char *path, const char *val, size_t len)
{
	int rc;

	pthread_mutex_lock(&M(xs)->mu);
	rc = m_write_locked(xs, path, val, len);
	pthread_mutex_unlock(&M(xs)->mu);
	return rc;
}

static int m_rm(struct migr_xs *xs, const char *path)
{
	int rc;

	pthread_mutex_lock(&M(xs)->mu);
	rc = m_rm_locked(xs, path);
	pthread_mutex_unlock(&M(xs)->mu);
	return rc;
}

static int m_set_perms(struct migr_xs *xs, const char *path, const char *perms)
{
	int rc;

	pthread_mutex_lock(&M(xs)->mu);
	rc = m_set_perms_locked(xs, path, perms);
	pthread_mutex_unlock(&M(xs)->mu);
	return rc;
}

static int m_get_perms(struct migr_xs *xs, const char *path, char **perms_r)
{
	int rc;

	pthread_mutex_lock(&M(xs)->mu);
	rc = m_get_perms_locked(xs, path, perms_r);
	pthread_mutex_unlock(&M(xs)->mu);
	return rc;
}

static int m_directory(struct migr_xs *xs, const char *path, char ***names_r, unsigned *n_r)
{
	int rc;

	pthread_mutex_lock(&M(xs)->mu);
	rc = m_directory_locked(xs, path, names_r, n_r);
	pthread_mutex_unlock(&M(xs)->mu);
	return rc;
}

static int m_watch(struct migr_xs *xs, const char *path, const char *token)
{
	int rc;

	pthread_mutex_lock(&M(xs)->mu);
	rc = m_watch_locked(xs, path, token);
	pthread_mutex_unlock(&M(xs)->mu);
	return rc;
}

static int m_unwatch(struct migr_xs *xs, const char *path, const char *token)
{
	int rc;

	pthread_mutex_lock(&M(xs)->mu);
	rc = m_unwatch_locked(xs, path, token);
	pthread_mutex_unlock(&M(xs)->mu);
	return rc;
}

static int m_read_watch(struct migr_xs *xs, char **path_r, char **token_r)
{
	int rc;

	pthread_mutex_lock(&M(xs)->mu);
	rc = m_read_watch_locked(xs, path_r, token_r);
	pthread_mutex_unlock(&M(xs)->mu);
	return rc;
}

static void m_close(struct migr_xs *xs)
{
	struct mem_xs *m = M(xs);

	if (!m)
		return;
	for (unsigned i = 0; i < m->n; i++) {
		free(m->nodes[i].path);
		free(m->nodes[i].val);
		free(m->nodes[i].perms);
	}
	for (unsigned i = 0; i < m->nw; i++) {
		free(m->w[i].path);
		free(m->w[i].token);
	}
	while (m->ev_count) {
		free(m->ev[m->ev_head].path);
		free(m->ev[m->ev_head].token);
		m->ev_head = (m->ev_head + 1) % MEM_MAX_EVENTS;
		m->ev_count--;
	}
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static const struct migr_xs_ops mem_ops = {
	.read = m_read, .write = m_write, .rm = m_rm, .set_perms = m_set_perms,
	.get_perms = m_get_perms, .directory = m_directory, .watch = m_watch,
	.unwatch = m_unwatch, .fileno = m_fileno, .read_watch = m_read_watch,
	.close = m_close,
};

int migr_xs_mem_new(struct migr_xs **xs_r)
{
	struct mem_xs *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->xs.ops = &mem_ops;
	pthread_mutex_init(&m->mu, NULL);
	if (!create(m, "/")) {
		free(m);
		return -ENOMEM;
	}
	*xs_r = &m->xs;
	return 0;
}

/* May domain domid write node nd (xenstored's rule: owner, or an entry granting w)? */
static int may_write(const struct mnode *nd, unsigned domid)
{
	const char *p = nd->perms;
	int first = 1;

	if (domid == 0)
		return 1;
	while (*p) {
		char c = *p;
		unsigned long id = strtoul(p + 1, (char **)&p, 10);

		if (first && id == domid)
			return 1;                       /* owner */
		if (first && (c == 'w' || c == 'b'))
			return 1;                       /* default for everybody */
		if (!first && id == domid)
			return c == 'w' || c == 'b';
		first = 0;
		if (*p == ',')
			p++;
		else if (*p)
			return 0;
	}
	return 0;
}

int migr_xs_mem_write_as(struct migr_xs *xs, unsigned domid, const char *path,
			 const char *val)
{
	struct mem_xs *m = M(xs);
	struct mnode *nd;
	char pp[MIGR_SCHEMA_MAX_PATH + 1];
	int rc;

	pthread_mutex_lock(&m->mu);
	nd = find(m, path);
	if (!nd) {
		struct mnode *par;

		if (parent_of(path, pp, sizeof(pp)) || !(par = find(m, pp))) {
			rc = -ENOENT;
			goto out;
		}
		if (!may_write(par, domid)) {
			rc = -EACCES;
			goto out;
		}
	} else if (!may_write(nd, domid)) {
		rc = -EACCES;
		goto out;
	}
	rc = m_write_locked(xs, path, val, strlen(val));
out:
	pthread_mutex_unlock(&m->mu);
	return rc;
}

unsigned migr_xs_mem_pending(struct migr_xs *xs)
{
	unsigned n;

	pthread_mutex_lock(&M(xs)->mu);
	n = M(xs)->ev_count;
	pthread_mutex_unlock(&M(xs)->mu);
	return n;
}

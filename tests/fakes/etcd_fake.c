/*
 * etcd_fake.c: an in-memory etcd behind struct migr_etcd_ops, for the unit tests of its
 * callers (fakes.h). The real client is tested against a real etcd (test_etcd.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fakes.h"

#define F(e) ((struct migr_etcd_fake *)(e))

static int find(struct migr_etcd_fake *f, const char *key)
{
	for (int i = 0; i < MIGR_ETCD_FAKE_KEYS; i++)
		if (f->keys[i].used && !strcmp(f->keys[i].kv.key, key))
			return i;
	return -1;
}

static int kv_copy(const struct migr_etcd_kv *in, struct migr_etcd_kv *out)
{
	*out = *in;
	out->key = strdup(in->key);
	out->value = malloc(in->value_len + 1);
	if (!out->key || !out->value) {
		free(out->key);
		free(out->value);
		return -ENOMEM;
	}
	memcpy(out->value, in->value, in->value_len + 1);
	return 0;
}

static bool lease_alive(struct migr_etcd_fake *f, int64_t id)
{
	for (int i = 0; i < 16; i++)
		if (id && f->leases[i].id == id)
			return true;
	return false;
}

/* Entry: -ECONNREFUSED when down. */
static int enter(struct migr_etcd_fake *f)
{
	pthread_mutex_lock(&f->lock);
	if (f->down) {
		f->refused++;
		pthread_mutex_unlock(&f->lock);
		return -ECONNREFUSED;
	}
	if (f->timeouts) {
		f->timeouts--;
		pthread_mutex_unlock(&f->lock);
		return -ETIMEDOUT;
	}
	return 0;
}

/* Exit of a write that was applied: its answer may be lost. */
static int written(struct migr_etcd_fake *f)
{
	int rc = 0;

	if (f->lost_answers) {
		f->lost_answers--;
		rc = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int fk_get(struct migr_etcd *e, const char *key, struct migr_etcd_kv *kv_r)
{
	struct migr_etcd_fake *f = F(e);
	int i, rc;

	if ((rc = enter(f)))
		return rc;
	f->gets++;
	i = find(f, key);
	rc = i < 0 ? -ENOENT : kv_copy(&f->keys[i].kv, kv_r);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int fk_list(struct migr_etcd *e, const char *prefix, unsigned int max,
		   struct migr_etcd_kv **v_r, unsigned int *n_r)
{
	struct migr_etcd_fake *f = F(e);
	struct migr_etcd_kv *v;
	unsigned int n = 0;
	int rc;

	if ((rc = enter(f)))
		return rc;
	v = calloc(MIGR_ETCD_FAKE_KEYS, sizeof(*v));
	rc = v ? 0 : -ENOMEM;
	for (int i = 0; !rc && i < MIGR_ETCD_FAKE_KEYS; i++)
		if (f->keys[i].used && !strncmp(f->keys[i].kv.key, prefix, strlen(prefix)))
			rc = n == max ? -E2BIG : kv_copy(&f->keys[i].kv, &v[n++]);
	pthread_mutex_unlock(&f->lock);
	if (rc) {
		migr_etcd_list_free(v, n);
		return rc;
	}
	*v_r = v;
	*n_r = n;
	return 0;
}

/* f->lock held */
static int store(struct migr_etcd_fake *f, const char *key, const char *value, size_t len,
		 int64_t lease)
{
	int i = find(f, key);
	char *v;

	if (lease && !lease_alive(f, lease))
		return -ENOENT;
	if (!(v = malloc(len + 1)))
		return -ENOMEM;
	memcpy(v, value, len);
	v[len] = '\0';
	if (i < 0) {
		for (i = 0; i < MIGR_ETCD_FAKE_KEYS && f->keys[i].used; i++)
			;
		if (i == MIGR_ETCD_FAKE_KEYS || !(f->keys[i].kv.key = strdup(key))) {
			free(v);
			return -ENOSPC;
		}
		f->keys[i].used = true;
		f->keys[i].kv.create_revision = f->revision + 1;
		f->keys[i].kv.version = 0;
	}
	free(f->keys[i].kv.value);
	f->keys[i].kv.value = v;
	f->keys[i].kv.value_len = len;
	f->keys[i].kv.mod_revision = ++f->revision;
	f->keys[i].kv.version++;
	f->keys[i].kv.lease = lease;
	return 0;
}

static int fk_put(struct migr_etcd *e, const char *key, const char *value, size_t len,
		  int64_t lease)
{
	struct migr_etcd_fake *f = F(e);
	int rc;

	if ((rc = enter(f)))
		return rc;
	f->puts++;
	if ((rc = store(f, key, value, len, lease))) {
		pthread_mutex_unlock(&f->lock);
		return rc;
	}
	return written(f);
}

static void drop(struct migr_etcd_fake *f, int i)
{
	migr_etcd_kv_clear(&f->keys[i].kv);
	f->keys[i].used = false;
	f->revision++;
}

static int fk_del(struct migr_etcd *e, const char *key)
{
	struct migr_etcd_fake *f = F(e);
	int i, rc;

	if ((rc = enter(f)))
		return rc;
	if ((i = find(f, key)) >= 0)
		drop(f, i);
	return written(f);
}

static int fk_cas(struct migr_etcd *e, const char *key, int64_t rev, const char *value,
		  size_t len, int64_t lease, bool *won_r, struct migr_etcd_kv *cur_r)
{
	struct migr_etcd_fake *f = F(e);
	int i, rc;

	if ((rc = enter(f)))
		return rc;
	f->cas_calls++;
	i = find(f, key);
	if ((rev == 0 && i < 0) || (i >= 0 && f->keys[i].kv.mod_revision == rev)) {
		if ((rc = store(f, key, value, len, lease))) {
			pthread_mutex_unlock(&f->lock);
			return rc;
		}
		*won_r = true;
		return written(f);
	}
	*won_r = false;
	rc = 0;
	if (cur_r) {
		memset(cur_r, 0, sizeof(*cur_r));
		if (i >= 0)
			rc = kv_copy(&f->keys[i].kv, cur_r);
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int fk_grant(struct migr_etcd *e, int64_t ttl, int64_t *id_r, int64_t *ttl_r)
{
	struct migr_etcd_fake *f = F(e);
	int rc;

	if ((rc = enter(f)))
		return rc;
	f->grants++;
	for (int i = 0; i < 16; i++)
		if (!f->leases[i].id) {
			f->leases[i].id = ++f->next_lease;
			f->leases[i].ttl = ttl;
			*id_r = f->leases[i].id;
			*ttl_r = ttl;
			pthread_mutex_unlock(&f->lock);
			return 0;
		}
	pthread_mutex_unlock(&f->lock);
	return -ENOSPC;
}

static int fk_keepalive(struct migr_etcd *e, int64_t id, int64_t *ttl_r)
{
	struct migr_etcd_fake *f = F(e);
	int rc;

	if ((rc = enter(f)))
		return rc;
	f->keepalives++;
	rc = -ENOENT;
	for (int i = 0; i < 16; i++)
		if (id && f->leases[i].id == id) {
			*ttl_r = f->leases[i].ttl;
			rc = 0;
		}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* f->lock held */
static void lease_end(struct migr_etcd_fake *f, int64_t id)
{
	for (int i = 0; i < 16; i++)
		if (id && f->leases[i].id == id)
			f->leases[i].id = 0;
	for (int i = 0; i < MIGR_ETCD_FAKE_KEYS; i++)
		if (f->keys[i].used && f->keys[i].kv.lease == id)
			drop(f, i);
}

static int fk_revoke(struct migr_etcd *e, int64_t id)
{
	struct migr_etcd_fake *f = F(e);
	int rc;

	if ((rc = enter(f)))
		return rc;
	f->revokes++;
	lease_end(f, id);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void fk_close(struct migr_etcd *e)
{
	struct migr_etcd_fake *f = F(e);

	for (int i = 0; i < MIGR_ETCD_FAKE_KEYS; i++)
		migr_etcd_kv_clear(&f->keys[i].kv);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static const struct migr_etcd_ops fake_ops = {
	.get = fk_get, .list = fk_list, .put = fk_put, .del = fk_del, .cas = fk_cas,
	.lease_grant = fk_grant, .lease_keepalive = fk_keepalive, .lease_revoke = fk_revoke,
	.close = fk_close,
};

int migr_etcd_fake_new(struct migr_etcd_fake **f_r)
{
	struct migr_etcd_fake *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->e.ops = &fake_ops;
	pthread_mutex_init(&f->lock, NULL);
	f->revision = 1;
	f->next_lease = 7000;
	*f_r = f;
	return 0;
}

void migr_etcd_fake_expire(struct migr_etcd_fake *f, int64_t id)
{
	pthread_mutex_lock(&f->lock);
	lease_end(f, id);
	pthread_mutex_unlock(&f->lock);
}

char *migr_etcd_fake_value(struct migr_etcd_fake *f, const char *key)
{
	char *v = NULL;
	int i;

	pthread_mutex_lock(&f->lock);
	if ((i = find(f, key)) >= 0)
		v = strdup(f->keys[i].kv.value);
	pthread_mutex_unlock(&f->lock);
	return v;
}

void migr_etcd_fake_set_down(struct migr_etcd_fake *f, bool down)
{
	pthread_mutex_lock(&f->lock);
	f->down = down;
	pthread_mutex_unlock(&f->lock);
}

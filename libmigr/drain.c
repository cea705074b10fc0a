/*
 * drain.c: drains across the fleet in etcd (migr/drain.h; keys in docs/etcd.md, the
 * turn-taking in docs/fleet.md).
 *
 * Entry points: the records (migr_drain_{state,entry,progress}_{encode,parse}()), the
 * operator's side (migr_drain_read(), migr_drain_enqueue(), migr_drain_set_window(),
 * migr_drain_cancel()), a host's turn (migr_drain_fleet_read(), migr_drain_try_start(),
 * migr_drain_targets(), migr_drain_finish(), migr_drain_progress_put()) and the agent
 * (migr_drain_agent_new(), migr_drain_agent_tick(), migr_drain_agent_free()).
 *
 * The one invariant: the state key /migr/drain/state lists every host out, and it is
 * only ever replaced by a compare-and-swap on the revision its writer read, the new value
 * computed from that very value. A host joins it as draining only if, in the value it
 * replaces, fewer than W hosts drain and no host of its failure domain is out, so that
 * two migrds deciding at once cannot both start past the rules: one swap wins, the other
 * finds the revision moved and decides again on what won. The queue entries and the
 * progress records are for people and for the queue's order; they never prove a turn.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "libmigr.h"
#include "migr/drain.h"
#include "report_int.h"   /* migr__json_member(), migr__json_depth_ok() */
#include "util.h"

#define TIME_MAX   (INT64_C(1) << 40)        /* seconds since 1970: far enough */
#define COUNT_MAX  MIGR_FLEET_MAX_GUESTS
#define CAS_TRIES  8

static const char *const status_names[] = {
	[MIGR_DRAIN_QUEUED] = "queued", [MIGR_DRAIN_DRAINING] = "draining",
	[MIGR_DRAIN_DONE] = "done", [MIGR_DRAIN_FAILED] = "failed",
};

const char *migr_drain_status_name(enum migr_drain_status s)
{
	return s >= MIGR_DRAIN_QUEUED && s <= MIGR_DRAIN_FAILED ? status_names[s] : "?";
}

/* ---- JSON out -------------------------------------------------------------------- */

static void g_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void g_kstr(yajl_gen g, const char *k, const char *v)
{
	g_str(g, k);
	g_str(g, v);
}

static void g_knum(yajl_gen g, const char *k, int64_t v)
{
	char n[24];

	g_str(g, k);
	snprintf(n, sizeof(n), "%lld", (long long)v);
	yajl_gen_number(g, n, strlen(n));
}

static int g_take(yajl_gen g, char **json_r, size_t *len_r)
{
	const unsigned char *buf;
	size_t len;
	char *s = NULL;

	if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok && (s = malloc(len + 1))) {
		memcpy(s, buf, len);
		s[len] = '\0';
	}
	yajl_gen_free(g);
	if (!s)
		return -ENOMEM;
	*json_r = s;
	*len_r = len;
	return 0;
}

/* ---- JSON in (hostile) ----------------------------------------------------------- */

static bool text_ok(const char *s, size_t max, bool empty_ok)
{
	size_t n = strnlen(s, max);

	if (n >= max || (!n && !empty_ok))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static int get_str(yajl_val obj, const char *name, char *out, size_t max, bool empty_ok)
{
	yajl_val v = migr__json_member(obj, name);
	const char *s;

	if (!v || !YAJL_IS_STRING(v) || !(s = YAJL_GET_STRING(v)) || !text_ok(s, max, empty_ok))
		return -EPROTO;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* A name of the key layout (migr_etcd_name_ok()), or "" when empty_ok. */
static int get_name(yajl_val obj, const char *name, char *out, size_t max, bool empty_ok)
{
	if (get_str(obj, name, out, max, empty_ok) || (out[0] && !migr_etcd_name_ok(out)))
		return -EPROTO;
	return 0;
}

static int get_int(yajl_val obj, const char *name, int64_t max, int64_t *out)
{
	yajl_val v = migr__json_member(obj, name);

	if (!v || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 || YAJL_GET_INTEGER(v) > max)
		return -EPROTO;
	*out = YAJL_GET_INTEGER(v);
	return 0;
}

static int get_uint(yajl_val obj, const char *name, unsigned int max, unsigned int *out)
{
	int64_t v;

	if (get_int(obj, name, max, &v))
		return -EPROTO;
	*out = (unsigned int)v;
	return 0;
}

/* ---- the state key --------------------------------------------------------------- */

void migr_drain_state_clear(struct migr_drain_state *s)
{
	if (!s)
		return;
	free(s->out);
	memset(s, 0, sizeof(*s));
}

int migr_drain_state_find(const struct migr_drain_state *s, const char *host)
{
	for (unsigned int i = 0; i < s->nout; i++)
		if (!strcmp(s->out[i].host, host))
			return (int)i;
	return -1;
}

int migr_drain_state_encode(const struct migr_drain_state *s, char **json_r, size_t *len_r)
{
	yajl_gen g;

	if (s->window < 1 || s->window > MIGR_DRAIN_WINDOW_MAX || s->nout > MIGR_DRAIN_OUT_MAX)
		return -EINVAL;
	for (unsigned int i = 0; i < s->nout; i++)
		if (!migr_etcd_name_ok(s->out[i].host) ||
		    (s->out[i].group[0] && !migr_etcd_name_ok(s->out[i].group)))
			return -EINVAL;
	if (!(g = yajl_gen_alloc(NULL)))
		return -ENOMEM;
	yajl_gen_map_open(g);
	g_knum(g, "schema", MIGR_ETCD_SCHEMA);
	g_knum(g, "window", s->window);
	g_str(g, "out");
	yajl_gen_array_open(g);
	for (unsigned int i = 0; i < s->nout; i++) {
		yajl_gen_map_open(g);
		g_kstr(g, "host", s->out[i].host);
		g_kstr(g, "group", s->out[i].group);
		g_kstr(g, "state", s->out[i].done ? "done" : "draining");
		g_knum(g, "since", s->out[i].since_unix);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	return g_take(g, json_r, len_r);
}

int migr_drain_state_parse(const char *json, size_t len, struct migr_drain_state *s_r)
{
	struct migr_drain_state s = { 0 };
	yajl_val root = NULL, out;
	char st[16];
	int rc;

	if ((rc = migr__etcd_record_root(json, len, &root)))
		return rc;
	rc = -EPROTO;
	out = migr__json_member(root, "out");
	if (get_uint(root, "window", MIGR_DRAIN_WINDOW_MAX, &s.window) || s.window < 1 ||
	    !out || !YAJL_IS_ARRAY(out) || out->u.array.len > MIGR_DRAIN_OUT_MAX)
		goto out;
	if (out->u.array.len && !(s.out = calloc(out->u.array.len, sizeof(*s.out)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < out->u.array.len; i++) {
		struct migr_drain_out *o = &s.out[i];
		yajl_val v = out->u.array.values[i];

		if (!YAJL_IS_OBJECT(v) || get_name(v, "host", o->host, sizeof(o->host), false) ||
		    get_name(v, "group", o->group, sizeof(o->group), true) ||
		    get_str(v, "state", st, sizeof(st), false) ||
		    get_int(v, "since", TIME_MAX, &o->since_unix))
			goto out;
		if (!strcmp(st, "done"))
			o->done = true;
		else if (strcmp(st, "draining"))
			goto out;
		if (migr_drain_state_find(&s, o->host) >= 0)   /* a host out twice */
			goto out;
		s.nout++;
	}
	*s_r = s;
	s.out = NULL;
	rc = 0;
out:
	free(s.out);
	yajl_tree_free(root);
	return rc;
}

int migr_drain_state_read(struct migr_etcd *e, struct migr_drain_state *s_r,
			  struct xentoollog_logger *lg)
{
	struct migr_etcd_kv kv = { 0 };
	struct migr_drain_state s = { .window = 1 };
	int rc = migr_etcd_get(e, MIGR_DRAIN_STATE_KEY, &kv);

	if (rc == -ENOENT) {
		*s_r = s;
		return 0;
	}
	if (rc)
		return rc;
	rc = migr_drain_state_parse(kv.value, kv.value_len, &s);
	if (rc) {
		migr__log(lg, XTL_ERROR, "etcd: %s is not a drain state migr reads (%s): no drain "
			  "starts until it is repaired", MIGR_DRAIN_STATE_KEY, migr_strerror(rc));
		rc = rc == -ENOTSUP ? -ENOTSUP : -EPROTO;
	} else {
		s.rev = kv.mod_revision;
		*s_r = s;
	}
	migr_etcd_kv_clear(&kv);
	return rc;
}

/*
 * Read-modify-swap of the state key: change(s, arg) edits the value read and returns 0
 * (write it), 1 (nothing to write) or -errno; retried on a lost swap.
 */
static int state_update(struct migr_etcd *e, int (*change)(struct migr_drain_state *, void *),
			void *arg, struct xentoollog_logger *lg)
{
	for (int tries = 0; tries < CAS_TRIES; tries++) {
		struct migr_drain_state s;
		char *json = NULL;
		size_t len;
		bool won = false;
		int rc;

		if ((rc = migr_drain_state_read(e, &s, lg)))
			return rc;
		rc = change(&s, arg);
		if (rc == 0 && !(rc = migr_drain_state_encode(&s, &json, &len)))
			rc = migr_etcd_cas(e, MIGR_DRAIN_STATE_KEY, s.rev, json, len, 0, &won, NULL);
		free(json);
		migr_drain_state_clear(&s);
		if (rc)
			return rc == 1 ? 0 : rc;
		if (won)
			return 0;
	}
	migr__log(lg, XTL_WARN, "etcd: %s changed under every one of %d swaps", MIGR_DRAIN_STATE_KEY,
		  CAS_TRIES);
	return -EAGAIN;
}

/* Adds room for one more host out. */
static int state_grow(struct migr_drain_state *s)
{
	struct migr_drain_out *o;

	if (s->nout >= MIGR_DRAIN_OUT_MAX)
		return -ENOSPC;
	if (!(o = realloc(s->out, (s->nout + 1) * sizeof(*o))))
		return -ENOMEM;
	s->out = o;
	memset(&o[s->nout], 0, sizeof(*o));
	return 0;
}

static void state_remove(struct migr_drain_state *s, int i)
{
	memmove(&s->out[i], &s->out[i + 1], (s->nout - (unsigned)i - 1) * sizeof(*s->out));
	s->nout--;
}

/* ---- a host's queue entry -------------------------------------------------------- */

int migr_drain_entry_encode(const struct migr_drain_entry *en, char **json_r, size_t *len_r)
{
	yajl_gen g;

	if (!migr_etcd_name_ok(en->host) || !text_ok(en->reason, sizeof(en->reason), true) ||
	    !text_ok(en->requester, sizeof(en->requester), true) ||
	    !strcmp(migr_drain_status_name(en->status), "?"))
		return -EINVAL;
	if (!(g = yajl_gen_alloc(NULL)))
		return -ENOMEM;
	yajl_gen_map_open(g);
	g_knum(g, "schema", MIGR_ETCD_SCHEMA);
	g_kstr(g, "host", en->host);
	g_kstr(g, "state", migr_drain_status_name(en->status));
	g_kstr(g, "reason", en->reason);
	g_kstr(g, "requester", en->requester);
	g_knum(g, "queued", en->queued_unix);
	g_knum(g, "started", en->started_unix);
	g_knum(g, "ended", en->ended_unix);
	yajl_gen_map_close(g);
	return g_take(g, json_r, len_r);
}

int migr_drain_entry_parse(const char *json, size_t len, const char *name,
			   struct migr_drain_entry *en_r)
{
	struct migr_drain_entry en;
	yajl_val root = NULL;
	char st[16];
	int rc;

	memset(&en, 0, sizeof(en));
	if ((rc = migr__etcd_record_root(json, len, &root)))
		return rc;
	rc = -EPROTO;
	if (get_name(root, "host", en.host, sizeof(en.host), false) || strcmp(en.host, name) ||
	    get_str(root, "state", st, sizeof(st), false) ||
	    get_str(root, "reason", en.reason, sizeof(en.reason), true) ||
	    get_str(root, "requester", en.requester, sizeof(en.requester), true) ||
	    get_int(root, "queued", TIME_MAX, &en.queued_unix) ||
	    get_int(root, "started", TIME_MAX, &en.started_unix) ||
	    get_int(root, "ended", TIME_MAX, &en.ended_unix))
		goto out;
	for (int s = MIGR_DRAIN_QUEUED; s <= MIGR_DRAIN_FAILED; s++)
		if (!strcmp(st, status_names[s]))
			en.status = (enum migr_drain_status)s;
	if (!en.status)
		goto out;
	*en_r = en;
	rc = 0;
out:
	yajl_tree_free(root);
	return rc;
}

static int entry_key(const char *host, char *key, size_t len)
{
	if (!migr_etcd_name_ok(host))
		return -EINVAL;
	if ((size_t)snprintf(key, len, MIGR_DRAIN_HOSTS_PREFIX "%s", host) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* The entry of host: 0, -ENOENT (none), -EPROTO (logged: not one), etcd's errors. */
static int entry_read(struct migr_etcd *e, const char *host, struct migr_drain_entry *en_r,
		      struct xentoollog_logger *lg)
{
	struct migr_etcd_kv kv = { 0 };
	char key[MIGR_ETCD_KEY_MAX];
	int rc;

	if ((rc = entry_key(host, key, sizeof(key))) || (rc = migr_etcd_get(e, key, &kv)))
		return rc;
	rc = migr_drain_entry_parse(kv.value, kv.value_len, host, en_r);
	if (rc) {
		migr__log(lg, XTL_WARN, "etcd: %s is not a drain entry migr reads (%s)", key,
			  migr_strerror(rc));
		rc = -EPROTO;
	} else {
		en_r->position = kv.create_revision;
		en_r->rev = kv.mod_revision;
	}
	migr_etcd_kv_clear(&kv);
	return rc;
}

/* Writes en by CAS on rev (0: create). 0 with *won_r, or -errno. */
static int entry_cas(struct migr_etcd *e, const struct migr_drain_entry *en, int64_t rev,
		     bool *won_r)
{
	char key[MIGR_ETCD_KEY_MAX], *json = NULL;
	size_t len;
	int rc;

	if ((rc = entry_key(en->host, key, sizeof(key))) ||
	    (rc = migr_drain_entry_encode(en, &json, &len)))
		return rc;
	rc = migr_etcd_cas(e, key, rev, json, len, 0, won_r, NULL);
	free(json);
	return rc;
}

static int entry_put(struct migr_etcd *e, const struct migr_drain_entry *en)
{
	char key[MIGR_ETCD_KEY_MAX], *json = NULL;
	size_t len;
	int rc;

	if ((rc = entry_key(en->host, key, sizeof(key))) ||
	    (rc = migr_drain_entry_encode(en, &json, &len)))
		return rc;
	rc = migr_etcd_put(e, key, json, len, 0);
	free(json);
	return rc;
}

/* ---- progress -------------------------------------------------------------------- */

int migr_drain_progress_encode(const struct migr_drain_progress *p, char **json_r,
			       size_t *len_r)
{
	yajl_gen g;

	if (p->nflight > MIGR_DRAIN_FLIGHT_MAX || p->moved > p->total || p->left > p->total)
		return -EINVAL;
	for (unsigned int i = 0; i < p->nflight; i++)
		if (!text_ok(p->flight[i].guest, sizeof(p->flight[i].guest), false) ||
		    !text_ok(p->flight[i].to, sizeof(p->flight[i].to), true))
			return -EINVAL;
	if (!(g = yajl_gen_alloc(NULL)))
		return -ENOMEM;
	yajl_gen_map_open(g);
	g_knum(g, "schema", MIGR_ETCD_SCHEMA);
	g_knum(g, "total", p->total);
	g_knum(g, "moved", p->moved);
	g_knum(g, "failed", p->failed);
	g_knum(g, "left", p->left);
	g_str(g, "in_flight");
	yajl_gen_array_open(g);
	for (unsigned int i = 0; i < p->nflight; i++) {
		yajl_gen_map_open(g);
		g_kstr(g, "guest", p->flight[i].guest);
		g_kstr(g, "to", p->flight[i].to);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	g_knum(g, "updated", p->updated_unix);
	yajl_gen_map_close(g);
	return g_take(g, json_r, len_r);
}

int migr_drain_progress_parse(const char *json, size_t len, struct migr_drain_progress *p_r)
{
	struct migr_drain_progress *p = calloc(1, sizeof(*p));
	yajl_val root = NULL, fl;
	int rc;

	if (!p)
		return -ENOMEM;
	if ((rc = migr__etcd_record_root(json, len, &root)))
		goto out;
	rc = -EPROTO;
	fl = migr__json_member(root, "in_flight");
	if (get_uint(root, "total", COUNT_MAX, &p->total) ||
	    get_uint(root, "moved", p->total, &p->moved) ||
	    get_uint(root, "failed", p->total, &p->failed) ||
	    get_uint(root, "left", p->total, &p->left) ||
	    get_int(root, "updated", TIME_MAX, &p->updated_unix) ||
	    p->moved + p->left > p->total ||
	    !fl || !YAJL_IS_ARRAY(fl) || fl->u.array.len > MIGR_DRAIN_FLIGHT_MAX)
		goto out;
	for (size_t i = 0; i < fl->u.array.len; i++) {
		struct migr_drain_flight *x = &p->flight[i];
		yajl_val v = fl->u.array.values[i];

		if (!YAJL_IS_OBJECT(v) || get_str(v, "guest", x->guest, sizeof(x->guest), false) ||
		    get_str(v, "to", x->to, sizeof(x->to), true))
			goto out;
		p->nflight++;
	}
	*p_r = *p;
	rc = 0;
out:
	free(p);
	yajl_tree_free(root);
	return rc;
}

int migr_drain_progress_put(struct migr_etcd *e, const char *self,
			    const struct migr_drain_progress *p)
{
	char key[MIGR_ETCD_KEY_MAX], *json = NULL;
	size_t len;
	int rc;

	if (!migr_etcd_name_ok(self))
		return -EINVAL;
	snprintf(key, sizeof(key), MIGR_DRAIN_PROGRESS_PREFIX "%s", self);
	if ((rc = migr_drain_progress_encode(p, &json, &len)))
		return rc;
	rc = migr_etcd_put(e, key, json, len, 0);
	free(json);
	return rc;
}

/* ---- reading everything ---------------------------------------------------------- */

static int by_position(const void *a, const void *b)
{
	const struct migr_drain_entry *x = a, *y = b;

	return x->position < y->position ? -1 : x->position > y->position;
}

/* Every entry that parses, in queue order; *skipped_r counts the others (logged). */
static int entries_read(struct migr_etcd *e, struct migr_drain_entry **v_r, unsigned int *n_r,
			unsigned int *skipped_r, struct xentoollog_logger *lg)
{
	struct migr_etcd_kv *kv = NULL;
	struct migr_drain_entry *v = NULL;
	unsigned int n = 0, k = 0;
	int rc;

	*skipped_r = 0;
	rc = migr_etcd_list(e, MIGR_DRAIN_HOSTS_PREFIX, MIGR_DRAIN_QUEUE_MAX, &kv, &n);
	if (rc)
		return rc;
	if (n && !(v = calloc(n, sizeof(*v)))) {
		migr_etcd_list_free(kv, n);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < n; i++) {
		const char *name = kv[i].key + strlen(MIGR_DRAIN_HOSTS_PREFIX);

		rc = migr_etcd_name_ok(name) ? migr_drain_entry_parse(kv[i].value, kv[i].value_len,
								     name, &v[k]) : -EPROTO;
		if (rc) {
			migr__log(lg, XTL_WARN, "etcd: %s is not a drain entry migr reads (%s): "
				  "skipped", kv[i].key, migr_strerror(rc));
			(*skipped_r)++;
			continue;
		}
		v[k].position = kv[i].create_revision;
		v[k].rev = kv[i].mod_revision;
		k++;
	}
	migr_etcd_list_free(kv, n);
	if (k)
		qsort(v, k, sizeof(*v), by_position);
	*v_r = v;
	*n_r = k;
	return 0;
}

void migr_drain_view_clear(struct migr_drain_view *v)
{
	if (!v)
		return;
	migr_drain_state_clear(&v->state);
	free(v->hosts);
	memset(v, 0, sizeof(*v));
}

const struct migr_drain_view_host *migr_drain_view_find(const struct migr_drain_view *v,
							 const char *host)
{
	for (unsigned int i = 0; i < v->nhosts; i++)
		if (!strcmp(v->hosts[i].entry.host, host))
			return &v->hosts[i];
	return NULL;
}

int migr_drain_read(struct migr_etcd *e, struct migr_drain_view *v_r,
		    struct xentoollog_logger *lg)
{
	struct migr_drain_view v = { 0 };
	struct migr_drain_entry *en = NULL;
	struct migr_etcd_kv *kv = NULL;
	unsigned int n = 0, nkv = 0;
	int rc;

	rc = migr_drain_state_read(e, &v.state, lg);
	if (rc == -EPROTO || rc == -ENOTSUP) {
		/* The queue is still worth showing; nobody starts a drain meanwhile. */
		v.state_broken = rc;
		v.state.window = 1;
		rc = 0;
	}
	if (rc || (rc = entries_read(e, &en, &n, &v.skipped, lg)))
		goto out;
	rc = -ENOMEM;
	if (n && !(v.hosts = calloc(n, sizeof(*v.hosts))))
		goto out;
	for (unsigned int i = 0; i < n; i++) {
		int o = migr_drain_state_find(&v.state, en[i].host);

		v.hosts[i].entry = en[i];
		v.hosts[i].out = o >= 0;
		v.hosts[i].out_done = o >= 0 && v.state.out[o].done;
	}
	v.nhosts = n;
	if ((rc = migr_etcd_list(e, MIGR_DRAIN_PROGRESS_PREFIX, MIGR_DRAIN_QUEUE_MAX, &kv, &nkv)))
		goto out;
	for (unsigned int i = 0; i < nkv; i++) {
		const char *name = kv[i].key + strlen(MIGR_DRAIN_PROGRESS_PREFIX);
		struct migr_drain_view_host *h = (void *)migr_drain_view_find(&v, name);

		if (!h)
			continue;   /* progress of a host no longer queued */
		if ((rc = migr_drain_progress_parse(kv[i].value, kv[i].value_len, &h->progress))) {
			migr__log(lg, XTL_WARN, "etcd: %s is not a drain progress record migr "
				  "reads (%s): skipped", kv[i].key, migr_strerror(rc));
			v.skipped++;
			continue;
		}
		h->has_progress = true;
	}
	*v_r = v;
	memset(&v, 0, sizeof(v));
	rc = 0;
out:
	migr_etcd_list_free(kv, nkv);
	free(en);
	migr_drain_view_clear(&v);
	return rc;
}

/* ---- the operator's side --------------------------------------------------------- */

int migr_drain_enqueue(struct migr_etcd *e, const char *host, const char *requester,
		       int64_t now, char *msg, size_t msglen, struct xentoollog_logger *lg)
{
	if (!migr_etcd_name_ok(host)) {
		migr__text(msg, msglen, "\"%s\" is not a host name (letters, digits, '.', '_', "
			   "'-'; at most 255)", host);
		return -EINVAL;
	}
	for (int tries = 0; tries < CAS_TRIES; tries++) {
		struct migr_drain_entry en = { 0 }, old;
		int64_t rev = 0;
		bool won = false;
		int rc = entry_read(e, host, &old, lg);

		if (rc == -EPROTO) {
			migr__text(msg, msglen, "%s: its drain entry is not one migr reads; `migr "
				   "fleet cancel %s` removes it", host, host);
			return rc;
		}
		if (rc && rc != -ENOENT)
			return rc;
		if (!rc) {
			if (old.status != MIGR_DRAIN_FAILED) {
				migr__text(msg, msglen, "%s is %s already", host,
					   old.status == MIGR_DRAIN_DONE ? "drained" :
					   migr_drain_status_name(old.status));
				return -EEXIST;
			}
			rev = old.rev;
		}
		snprintf(en.host, sizeof(en.host), "%s", host);
		en.status = MIGR_DRAIN_QUEUED;
		snprintf(en.requester, sizeof(en.requester), "%s", requester ? requester : "");
		en.queued_unix = now;
		if ((rc = entry_cas(e, &en, rev, &won)))
			return rc;
		if (won) {
			migr__text(msg, msglen, "%s queued%s", host, rev ? " again" : "");
			return 0;
		}
	}
	return -EAGAIN;
}

static int set_window(struct migr_drain_state *s, void *arg)
{
	unsigned int w = *(unsigned int *)arg;

	if (s->window == w && s->rev)
		return 1;
	s->window = w;
	return 0;
}

int migr_drain_set_window(struct migr_etcd *e, unsigned int window,
			  struct xentoollog_logger *lg)
{
	if (window < 1 || window > MIGR_DRAIN_WINDOW_MAX)
		return -EINVAL;
	return state_update(e, set_window, &window, lg);
}

/* Removes host from the state key when it is done there; -EBUSY when it drains. */
static int release_done(struct migr_drain_state *s, void *arg)
{
	int i = migr_drain_state_find(s, arg);

	if (i < 0)
		return 1;
	if (!s->out[i].done)
		return -EBUSY;
	state_remove(s, i);
	return 0;
}

static int delete_host_keys(struct migr_etcd *e, const char *host)
{
	char key[MIGR_ETCD_KEY_MAX];
	int rc;

	snprintf(key, sizeof(key), MIGR_DRAIN_PROGRESS_PREFIX "%s", host);
	if ((rc = migr_etcd_del(e, key)))
		return rc;
	snprintf(key, sizeof(key), MIGR_DRAIN_HOSTS_PREFIX "%s", host);
	return migr_etcd_del(e, key);
}

/* Where the state key has host: -1 not out, 0 draining, 1 done. */
static int out_as(struct migr_etcd *e, const char *host, struct xentoollog_logger *lg, int *as_r)
{
	struct migr_drain_state s;
	int rc, i;

	if ((rc = migr_drain_state_read(e, &s, lg)))
		return rc;
	i = migr_drain_state_find(&s, host);
	*as_r = i < 0 ? -1 : s.out[i].done;
	migr_drain_state_clear(&s);
	return 0;
}

static int release_any(struct migr_drain_state *s, void *arg)
{
	int i = migr_drain_state_find(s, arg);

	if (i < 0)
		return 1;
	state_remove(s, i);
	return 0;
}

int migr_drain_cancel(struct migr_etcd *e, const char *host, bool force, char *msg,
		      size_t msglen, struct xentoollog_logger *lg)
{
	struct migr_drain_entry en;
	bool won = false, out_done = false;
	int rc, as;

	if (!migr_etcd_name_ok(host)) {
		migr__text(msg, msglen, "\"%s\" is not a host name", host);
		return -EINVAL;
	}
	if ((rc = out_as(e, host, lg, &as)))
		return rc;
	if (as == 0 && force) {
		/* The operator says its migrd is gone for good: its slot and domain are freed. */
		if ((rc = state_update(e, release_any, (void *)host, lg)) ||
		    (rc = delete_host_keys(e, host)))
			return rc;
		migr__log(lg, XTL_WARN, "drain: %s taken out of the drains while draining (forced)",
			  host);
		migr__text(msg, msglen, "%s is out of the drains (forced while draining: its "
			   "guests stay where they are)", host);
		return 0;
	}
	if (as == 0) {
		migr__text(msg, msglen, "%s is draining: `migr cancel` on %s stops its evacuation "
			   "(the drain then fails and frees its slot); --force if its migrd is gone "
			   "for good", host, host);
		return -EBUSY;
	}
	out_done = as == 1;
	rc = entry_read(e, host, &en, lg);
	if (rc == -ENOENT && !out_done) {
		migr__text(msg, msglen, "%s is not in the drain queue", host);
		return -ENOENT;
	}
	if (rc == -EPROTO || rc == -ENOENT)
		goto out_delete;   /* an entry nobody reads, or none: nothing to fence */
	if (rc)
		return rc;
	if (en.status == MIGR_DRAIN_QUEUED) {
		/* The turn may be being taken right now: a swap on the entry's revision makes the
		 * migrd's own swap (queued -> draining) lose, and it gives the turn back. */
		en.status = MIGR_DRAIN_FAILED;
		snprintf(en.reason, sizeof(en.reason), "cancelled");
		if ((rc = entry_cas(e, &en, en.rev, &won)))
			return rc;
		if (!won) {
			migr__text(msg, msglen, "%s's entry changed meanwhile (its turn came?): "
				   "see `migr fleet status`", host);
			return -EAGAIN;
		}
	} else if (en.status == MIGR_DRAIN_DRAINING && !out_done) {
		/* The state key does not list it: a stale entry, unless its turn was taken
		 * between the two reads. */
		if ((rc = out_as(e, host, lg, &as)))
			return rc;
		if (as == 0) {
			migr__text(msg, msglen, "%s started draining meanwhile", host);
			return -EBUSY;
		}
	}
out_delete:
	if (out_done && (rc = state_update(e, release_done, (void *)host, lg))) {
		if (rc == -EBUSY)
			migr__text(msg, msglen, "%s is draining again", host);
		return rc;
	}
	if ((rc = delete_host_keys(e, host)))
		return rc;
	migr__text(msg, msglen, out_done ? "%s is back in service" : "%s is out of the drain "
		   "queue", host);
	return 0;
}

/* ---- the fleet, as migr_fleet_decide() takes it ----------------------------------- */

void migr_drain_fleet_clear(struct migr_drain_fleet *f)
{
	if (!f)
		return;
	migr_drain_state_clear(&f->state);
	free(f->hosts);
	free(f->address);
	free(f->guests);
	free(f->queue);
	free(f->entries);
	memset(f, 0, sizeof(*f));
}

static int fleet_host_index(const struct migr_drain_fleet *f, const char *name)
{
	for (unsigned int i = 0; i < f->nhosts; i++)
		if (!strcmp(f->hosts[i].name, name))
			return (int)i;
	return -1;
}

static int by_guest_name(const void *a, const void *b, void *arg)
{
	const struct migr_fleet_guest *g = arg;
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;
	int c = strcmp(g[x].name, g[y].name);

	return c ? c : x < y ? -1 : x > y;
}

/* Two records naming one guest (a copy in flight, listed by both hosts): the first host's
 * is kept. Sorted, not compared pairwise: a fleet has 10^4 guests and more. */
static int drop_duplicates(struct migr_drain_fleet *f)
{
	unsigned int *ix, k = 0;
	bool *drop;

	if (f->nguests < 2)
		return 0;
	ix = calloc(f->nguests, sizeof(*ix));
	drop = calloc(f->nguests, sizeof(*drop));
	if (!ix || !drop) {
		free(ix);
		free(drop);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < f->nguests; i++)
		ix[i] = i;
	qsort_r(ix, f->nguests, sizeof(*ix), by_guest_name, f->guests);
	for (unsigned int i = 1; i < f->nguests; i++)
		if (!strcmp(f->guests[ix[i]].name, f->guests[ix[i - 1]].name))
			drop[ix[i]] = true;
	for (unsigned int i = 0; i < f->nguests; i++)
		if (!drop[i])
			f->guests[k++] = f->guests[i];
	f->nguests = k;
	free(ix);
	free(drop);
	return 0;
}

int migr_drain_fleet_read(struct migr_etcd *e, struct migr_drain_fleet *f_r,
			  struct xentoollog_logger *lg)
{
	struct migr_drain_fleet f = { 0 };
	struct migr_etcd_kv *kv = NULL;
	struct migr_etcd_host *rec = NULL;
	struct migr_fleet_params defaults;
	unsigned int nkv = 0, nrec = 0, skipped, gmax = 0, serial = 0;
	int rc;

	migr_fleet_params_init(&defaults);
	if ((rc = migr_drain_state_read(e, &f.state, lg)) ||
	    (rc = migr_etcd_list(e, MIGR_ETCD_PREFIX "hosts/", MIGR_ETCD_LIST_MAX, &kv, &nkv)) ||
	    (rc = entries_read(e, &f.entries, &f.nentries, &skipped, lg)))
		goto out;
	rc = -ENOMEM;
	if (nkv && !(rec = calloc(nkv, sizeof(*rec))))
		goto out;
	for (unsigned int i = 0; i < nkv; i++) {
		const char *name = kv[i].key + strlen(MIGR_ETCD_PREFIX "hosts/");
		struct migr_etcd_host *h = &rec[nrec];
		uint64_t used = 0;
		bool fits = true;

		if (migr_etcd_host_parse(kv[i].value, kv[i].value_len, h) || strcmp(h->name, name) ||
		    !h->total_kib) {
			migr__log(lg, XTL_WARN, "etcd: %s is not a host record migr reads: skipped",
				  kv[i].key);
			migr_etcd_host_clear(h);
			continue;
		}
		for (unsigned int g = 0; g < h->n_guests && fits; g++) {
			used += h->guests[g].mem_kib + defaults.plan.overhead_kib;
			fits = used <= h->total_kib;
		}
		if (!fits) {
			migr__log(lg, XTL_WARN, "etcd: %s: its guests take more than its %llu KiB: "
				  "skipped", kv[i].key, (unsigned long long)h->total_kib);
			migr_etcd_host_clear(h);
			continue;
		}
		/* Memory in flight (a copy arriving) or a record taken between two changes can
		 * make guests plus free exceed the total, which the decision refuses whole:
		 * the free memory is what the guests leave. */
		if (h->free_kib > h->total_kib - used)
			h->free_kib = h->total_kib - used;
		gmax += h->n_guests;
		nrec++;
	}
	f.hosts = calloc(nrec + f.state.nout + 1, sizeof(*f.hosts));
	f.address = calloc(nrec + f.state.nout + 1, sizeof(*f.address));
	f.guests = calloc(gmax + 1, sizeof(*f.guests));
	f.queue = calloc(f.nentries + 1, sizeof(*f.queue));
	if (!f.hosts || !f.address || !f.guests || !f.queue)
		goto out;
	for (unsigned int i = 0; i < nrec; i++) {
		struct migr_fleet_host *fh = &f.hosts[f.nhosts];
		const struct migr_etcd_host *h = &rec[i];
		int o = migr_drain_state_find(&f.state, h->name);

		snprintf(fh->name, sizeof(fh->name), "%s", h->name);
		snprintf(fh->group, sizeof(fh->group), "%s", o >= 0 ? f.state.out[o].group : h->group);
		fh->total_kib = h->total_kib;
		fh->free_kib = h->free_kib;
		fh->state = o >= 0 ? (f.state.out[o].done ? MIGR_FLEET_MAINTENANCE
							   : MIGR_FLEET_DRAINING)
			: h->maintenance != MIGR_ETCD_MAINT_NONE ? MIGR_FLEET_DRAINING
			: MIGR_FLEET_IN_SERVICE;
		snprintf(f.address[f.nhosts], sizeof(f.address[0]), "%s", h->address);
		for (unsigned int g = 0; g < h->n_guests; g++) {
			const struct migr_etcd_guest *x = &h->guests[g];
			struct migr_fleet_guest *fg = &f.guests[f.nguests];
			char u[37];

			if (fh->state == MIGR_FLEET_MAINTENANCE || !x->mem_kib)
				continue;   /* a drained host's late guest is the operator's */
			if (!migr_uuid_is_nil(x->uuid)) {
				migr_uuid_format(x->uuid, u);
				snprintf(fg->name, sizeof(fg->name), "%s", u);
			} else {
				snprintf(fg->name, sizeof(fg->name), "%.40s#%u", x->name, serial++);
			}
			snprintf(fg->host, sizeof(fg->host), "%s", h->name);
			fg->mem_kib = x->mem_kib;
			if (x->type == MIGR_GUEST_HVM) {
				fg->pinned = true;
				snprintf(fg->why_pinned, sizeof(fg->why_pinned), "guest %s is HVM, "
					 "which migr does not move", x->name);
			}
			f.nguests++;
		}
		f.nhosts++;
	}
	if ((rc = drop_duplicates(&f)))
		goto out;
	/* A host out without a record (its migrd is down): its failure domain stays busy. */
	for (unsigned int o = 0; o < f.state.nout; o++) {
		struct migr_fleet_host *fh = &f.hosts[f.nhosts];

		if (fleet_host_index(&f, f.state.out[o].host) >= 0)
			continue;
		snprintf(fh->name, sizeof(fh->name), "%s", f.state.out[o].host);
		snprintf(fh->group, sizeof(fh->group), "%s", f.state.out[o].group);
		fh->total_kib = 1;
		fh->state = f.state.out[o].done ? MIGR_FLEET_MAINTENANCE : MIGR_FLEET_DRAINING;
		f.nhosts++;
	}
	for (unsigned int i = 0; i < f.nentries; i++) {
		int h = fleet_host_index(&f, f.entries[i].host);

		if (f.entries[i].status == MIGR_DRAIN_QUEUED && h >= 0 &&
		    f.hosts[h].state == MIGR_FLEET_IN_SERVICE)
			f.queue[f.nqueue++] = f.hosts[h].name;
	}
	*f_r = f;
	memset(&f, 0, sizeof(f));
	rc = 0;
out:
	for (unsigned int i = 0; i < nrec; i++)
		migr_etcd_host_clear(&rec[i]);
	free(rec);
	migr_etcd_list_free(kv, nkv);
	migr_drain_fleet_clear(&f);
	return rc;
}

/* ---- a host's turn --------------------------------------------------------------- */

/* The addresses of the hosts self's guests are placed on, comma-separated. */
static void targets_of(const struct migr_drain_fleet *f, const struct migr_fleet_decision *d,
		       unsigned int self, char *targets, size_t tlen)
{
	bool *used = calloc(f->nhosts, sizeof(*used));
	unsigned int n = 0;
	size_t k = 0;

	targets[0] = '\0';
	if (!used)
		return;
	for (unsigned int m = 0; m < d->nmoves; m++) {
		unsigned int t = d->moves[m].to;
		int w;

		if (d->moves[m].from != self || used[t] || !f->address[t][0] ||
		    n == MIGR_EVAC_MAX_TARGETS)
			continue;
		w = snprintf(targets + k, tlen - k, "%s%s", n ? "," : "", f->address[t]);
		if (w < 0 || (size_t)w >= tlen - k) {
			targets[k] = '\0';
			break;
		}
		k += (size_t)w;
		used[t] = true;
		n++;
	}
	free(used);
}

/*
 * Decides on f for self: 1 starts (or, when it drains already, its guests are placed),
 * 0 waits (why), -errno. *d_r the decision on 0 and 1.
 */
static int decide(const struct migr_drain_fleet *f, unsigned int self,
		  const struct migr_fleet_params *params, struct migr_fleet_decision **d_r,
		  char *why, size_t whylen, struct xentoollog_logger *lg)
{
	struct migr_fleet_params p = *params;
	struct migr_fleet_decision *d = NULL;
	char err[MIGR_FLEET_ERR_MAX];
	int rc;

	p.max_draining = f->state.window;
	rc = migr_fleet_decide(f->hosts, f->nhosts, f->guests, f->nguests, f->queue, f->nqueue,
			       &p, &d, err, sizeof(err));
	if (rc) {
		migr__log(lg, XTL_ERROR, "drain: the fleet in etcd cannot be decided on: %s",
			  rc == -EINVAL ? err : migr_strerror(rc));
		migr__text(why, whylen, "the fleet in etcd cannot be decided on: %s",
			   rc == -EINVAL ? err : migr_strerror(rc));
		return rc == -EINVAL ? -EPROTO : rc;
	}
	*d_r = d;
	for (unsigned int i = 0; i < d->nstart; i++)
		if (d->start[i] == self)
			return 1;
	for (unsigned int i = 0; i < d->nheld; i++)
		if (d->held[i].host == self) {
			migr__text(why, whylen, "%s: %s", migr_fleet_wait_name(d->held[i].why),
				   d->held[i].reason);
			return 0;
		}
	for (unsigned int i = 0; i < d->nstuck; i++)
		if (!strcmp(f->guests[d->stuck[i].guest].host, f->hosts[self].name)) {
			migr__text(why, whylen, "stuck: %s", d->stuck[i].reason);
			return 0;
		}
	if (f->hosts[self].state == MIGR_FLEET_DRAINING)
		return 1;
	migr__text(why, whylen, "not in the queue of hosts in service");
	return 0;
}

/* The rules, proven on the value the swap replaces. "" when they hold. */
static void rules_hold(const struct migr_drain_state *s, const char *self, const char *group,
		       char *why, size_t whylen)
{
	unsigned int draining = 0;

	why[0] = '\0';
	for (unsigned int i = 0; i < s->nout; i++) {
		if (!strcmp(s->out[i].host, self)) {
			migr__text(why, whylen, "%s is out already", self);
			return;
		}
		if (group[0] && !strcmp(s->out[i].group, group)) {
			migr__text(why, whylen, "group: %s of failure domain %s is out",
				   s->out[i].host, group);
			return;
		}
		draining += !s->out[i].done;
	}
	if (draining >= s->window)
		migr__text(why, whylen, "window: %u hosts drain already (W = %u)", draining,
			   s->window);
}

/* Takes self out of the state key (a turn given back, a failed drain). */
static int leave(struct migr_drain_state *s, void *arg)
{
	int i = migr_drain_state_find(s, arg);

	if (i < 0)
		return 1;
	state_remove(s, i);
	return 0;
}

int migr_drain_try_start(struct migr_etcd *e, const char *self, int64_t now,
			 const struct migr_fleet_params *params, char *targets, size_t tlen,
			 char *why, size_t whylen, struct xentoollog_logger *lg)
{
	targets[0] = why[0] = '\0';
	for (int tries = 0; tries < CAS_TRIES / 2; tries++) {
		struct migr_drain_fleet f;
		struct migr_fleet_decision *d = NULL;
		struct migr_drain_entry en = { 0 };
		char *json = NULL, group[MIGR_PLAN_NAME_MAX];
		bool won = false;
		size_t len;
		int rc, h;

		if ((rc = migr_drain_fleet_read(e, &f, lg)))
			return rc;
		h = fleet_host_index(&f, self);
		for (unsigned int i = 0; i < f.nentries; i++)
			if (!strcmp(f.entries[i].host, self))
				en = f.entries[i];
		if (h < 0 || en.status != MIGR_DRAIN_QUEUED) {
			migr__text(why, whylen, h < 0 ? "%s has no host record in etcd (is its migrd "
				   "registered?)" : "%s is not queued", self);
			migr_drain_fleet_clear(&f);
			return 0;
		}
		rc = decide(&f, (unsigned int)h, params, &d, why, whylen, lg);
		if (rc == 1) {
			snprintf(group, sizeof(group), "%s", f.hosts[h].group);
			rules_hold(&f.state, self, group, why, whylen);
			if (why[0]) {
				migr__log(lg, XTL_ERROR, "drain: the decision started %s, which the "
					  "drain state refuses: %s", self, why);
				rc = 0;
			}
		}
		if (rc == 1) {
			targets_of(&f, d, (unsigned int)h, targets, tlen);
			if (!(rc = state_grow(&f.state)))
				rc = 1;
		}
		migr_fleet_decision_free(d);
		if (rc != 1) {
			migr_drain_fleet_clear(&f);
			return rc;
		}
		{
			struct migr_drain_out *o = &f.state.out[f.state.nout++];

			snprintf(o->host, sizeof(o->host), "%s", self);
			snprintf(o->group, sizeof(o->group), "%s", group);
			o->done = false;
			o->since_unix = now;
		}
		rc = migr_drain_state_encode(&f.state, &json, &len);
		if (!rc)
			rc = migr_etcd_cas(e, MIGR_DRAIN_STATE_KEY, f.state.rev, json, len, 0, &won,
					   NULL);
		free(json);
		migr_drain_fleet_clear(&f);
		if (rc)
			return rc;
		if (!won)
			continue;   /* another host's turn won: decide again on it */
		migr__log(lg, XTL_INFO, "drain: %s drains now (targets %s)", self,
			  targets[0] ? targets : "none needed");
		en.status = MIGR_DRAIN_DRAINING;
		en.started_unix = now;
		rc = entry_cas(e, &en, en.rev, &won);
		if (!rc && won)
			return 1;
		if (rc) {
			/* Not known whether the entry was written: the turn is won in the state,
			 * which is the truth; the agent's next look writes the entry again. */
			migr__log(lg, XTL_WARN, "drain: %s: its entry could not be written (%s), "
				  "ignoring", self, migr_strerror(rc));
			return 1;
		}
		/* The entry changed since it was read (cancelled): the turn goes back. */
		migr__text(why, whylen, "its entry changed as its turn came (cancelled?)");
		migr__log(lg, XTL_WARN, "drain: %s: %s: giving the turn back", self, why);
		rc = state_update(e, leave, (void *)self, lg);
		return rc ? rc : 0;
	}
	migr__text(why, whylen, "the drain state changed under every try");
	return -EAGAIN;
}

int migr_drain_targets(struct migr_etcd *e, const char *self,
		       const struct migr_fleet_params *params, char *targets, size_t tlen,
		       char *why, size_t whylen, struct xentoollog_logger *lg)
{
	struct migr_drain_fleet f;
	struct migr_fleet_decision *d = NULL;
	int rc, h;

	targets[0] = why[0] = '\0';
	if ((rc = migr_drain_fleet_read(e, &f, lg)))
		return rc;
	h = fleet_host_index(&f, self);
	if (h < 0) {
		migr__text(why, whylen, "%s has no host record in etcd", self);
		rc = -ENOENT;
	} else if ((rc = decide(&f, (unsigned int)h, params, &d, why, whylen, lg)) >= 0) {
		targets_of(&f, d, (unsigned int)h, targets, tlen);
		rc = targets[0] ? 0 : -ENOENT;
		if (rc && !why[0])
			migr__text(why, whylen, "no host in service has room for its guests");
	}
	migr_fleet_decision_free(d);
	migr_drain_fleet_clear(&f);
	return rc;
}

static int mark_done(struct migr_drain_state *s, void *arg)
{
	int i = migr_drain_state_find(s, arg);

	if (i < 0)
		return -ENOENT;
	if (s->out[i].done)
		return 1;
	s->out[i].done = true;
	return 0;
}

int migr_drain_finish(struct migr_etcd *e, const char *self, bool ok, const char *reason,
		      int64_t now, struct xentoollog_logger *lg)
{
	struct migr_drain_entry en;
	int rc;

	rc = state_update(e, ok ? mark_done : leave, (void *)self, lg);
	if (rc == -ENOENT) {
		ok = false;
		reason = "drained, but the drain state no longer lists it as draining (edited?)";
	} else if (rc) {
		return rc;
	}
	rc = entry_read(e, self, &en, lg);
	if (rc == -ENOENT || rc == -EPROTO) {
		memset(&en, 0, sizeof(en));
		snprintf(en.host, sizeof(en.host), "%s", self);
	} else if (rc) {
		return rc;
	}
	en.status = ok ? MIGR_DRAIN_DONE : MIGR_DRAIN_FAILED;
	snprintf(en.reason, sizeof(en.reason), "%s", ok ? "" : reason ? reason : "failed");
	for (char *c = en.reason; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	en.ended_unix = now;
	migr__log(lg, ok ? XTL_INFO : XTL_ERROR, "drain: %s %s%s%s", self,
		  ok ? "drained: its maintenance may start" : "failed: ", ok ? "" : en.reason,
		  ok ? "" : "; its slot is free");
	return entry_put(e, &en);
}

/* ---- the agent ------------------------------------------------------------------- */

struct migr_drain_agent {
	struct migr_drain_agent_opts o;
	char self[256];
	bool running;                 /* an evacuation this agent started runs */
	bool picked_up;               /* the drain was found under way (logged once) */
	char last_why[256];           /* the last reason to wait, logged once */
};

static int64_t now_default(void)
{
	return (int64_t)time(NULL);
}

int migr_drain_agent_new(const struct migr_drain_agent_opts *o, struct migr_drain_agent **a_r)
{
	struct migr_drain_agent *a;

	if (!o->etcd || !o->ops || !o->ops->evacuate || !o->ops->poll || !o->ops->guests_left ||
	    !migr_etcd_name_ok(o->self))
		return -EINVAL;
	if (!(a = calloc(1, sizeof(*a))))
		return -ENOMEM;
	a->o = *o;
	snprintf(a->self, sizeof(a->self), "%s", o->self);
	a->o.self = a->self;
	if (!a->o.now)
		a->o.now = now_default;
	*a_r = a;
	return 0;
}

void migr_drain_agent_free(struct migr_drain_agent *a)
{
	free(a);
}

static void wait_why(struct migr_drain_agent *a, const char *why)
{
	if (strcmp(a->last_why, why)) {
		migr__log(a->o.lg, XTL_INFO, "drain: %s waits: %s", a->self, why);
		snprintf(a->last_why, sizeof(a->last_why), "%s", why);
	}
}

/* Starts the evacuation of self (its turn won, or a drain picked up). */
static int agent_evacuate(struct migr_drain_agent *a, const char *targets)
{
	char why[256] = "";
	unsigned int left = 0;
	int rc;

	if (!a->o.ops->guests_left(a->o.arg, &left) && left == 0)
		return migr_drain_finish(a->o.etcd, a->self, true, NULL, a->o.now(), a->o.lg);
	rc = a->o.ops->evacuate(a->o.arg, targets, why, sizeof(why));
	if (rc == -EBUSY) {
		wait_why(a, "an evacuation runs here already");
		return 0;
	}
	if (rc == -ECANCELED)
		return 0;   /* migrd is stopping: the drain is picked up at its next start */
	if (rc) {
		char reason[MIGR_DRAIN_TEXT_MAX];

		migr__text(reason, sizeof(reason), "the evacuation did not start: %s",
			   why[0] ? why : migr_strerror(rc));
		return migr_drain_finish(a->o.etcd, a->self, false, reason, a->o.now(), a->o.lg);
	}
	a->running = true;
	a->last_why[0] = '\0';
	return 0;
}

static int agent_poll(struct migr_drain_agent *a)
{
	struct migr_drain_progress *p = calloc(1, sizeof(*p));
	char reason[MIGR_DRAIN_TEXT_MAX];
	bool running = false;
	unsigned int left;
	int rc;

	if (!p)
		return -ENOMEM;
	rc = a->o.ops->poll(a->o.arg, &running, p);
	if (rc && rc != -ENOENT)
		goto out;
	p->updated_unix = a->o.now();
	if (!rc && running) {
		rc = migr_drain_progress_put(a->o.etcd, a->self, p);
		goto out;
	}
	/* It ended: what is left here decides. */
	a->running = false;
	if (!a->o.ops->guests_left(a->o.arg, &left)) {
		/* What is on the host decides, not the figures: an evacuation that ended before
		 * it ran (its plan failed) reports none, or the last one's. */
		p->left = left;
		if (p->moved > UINT32_MAX - left || p->moved + left > p->total)
			p->total = p->moved > UINT32_MAX - left ? left : p->moved + left;
		if (p->moved > p->total)
			p->moved = p->total - left;
	}
	p->nflight = 0;
	migr_drain_progress_put(a->o.etcd, a->self, p);   /* for people: its failure is not the drain's */
	if (p->left == 0) {
		rc = migr_drain_finish(a->o.etcd, a->self, true, NULL, p->updated_unix, a->o.lg);
	} else {
		migr__text(reason, sizeof(reason), "%u of %u guests not moved (%u failed); see "
			   "`migr status` on %s", p->left, p->total, p->failed, a->self);
		rc = migr_drain_finish(a->o.etcd, a->self, false, reason, p->updated_unix, a->o.lg);
	}
out:
	free(p);
	return rc;
}

int migr_drain_agent_tick(struct migr_drain_agent *a)
{
	struct migr_drain_state s;
	struct migr_drain_entry en;
	char targets[MIGR_EVAC_MAX_TARGETS * 64], why[512];
	bool has_entry;
	int rc, i;

	if (a->running)
		return agent_poll(a);
	if ((rc = migr_drain_state_read(a->o.etcd, &s, a->o.lg)))
		return rc;
	i = migr_drain_state_find(&s, a->self);
	bool out = i >= 0, done = out && s.out[i].done;
	migr_drain_state_clear(&s);
	rc = entry_read(a->o.etcd, a->self, &en, a->o.lg);
	if (rc && rc != -ENOENT && rc != -EPROTO)
		return rc;
	has_entry = !rc;
	if (!out || done)
		a->picked_up = false;
	if (out && done) {
		if (has_entry && en.status != MIGR_DRAIN_DONE) {
			en.status = MIGR_DRAIN_DONE;
			en.reason[0] = '\0';
			return entry_put(a->o.etcd, &en);
		}
		return 0;
	}
	if (out) {
		/* Draining, and no evacuation of ours runs: the turn was just won, or migrd
		 * restarted mid-drain. The guests still here go. */
		if (has_entry && en.status != MIGR_DRAIN_DRAINING) {
			en.status = MIGR_DRAIN_DRAINING;
			en.reason[0] = '\0';
			if (!en.started_unix)
				en.started_unix = a->o.now();
			if ((rc = entry_put(a->o.etcd, &en)))
				return rc;
		}
		if (!a->picked_up)
			migr__log(a->o.lg, XTL_INFO, "drain: %s drains (per etcd) and no evacuation "
				  "of the drain runs here: evacuating the guests still here", a->self);
		a->picked_up = true;
		rc = migr_drain_targets(a->o.etcd, a->self, &a->o.params, targets, sizeof(targets),
					why, sizeof(why), a->o.lg);
		if (rc == -ENOENT) {
			unsigned int left = 1;

			if (!a->o.ops->guests_left(a->o.arg, &left) && left == 0)
				return migr_drain_finish(a->o.etcd, a->self, true, NULL, a->o.now(),
							 a->o.lg);
			wait_why(a, why);
			return 0;
		}
		return rc ? rc : agent_evacuate(a, targets);
	}
	if (!has_entry)
		return 0;
	if (en.status == MIGR_DRAIN_DRAINING) {
		/* A failed drain's slot was freed but its entry not written (a crash between the
		 * two), or the state key was edited: the state key wins. */
		en.status = MIGR_DRAIN_FAILED;
		snprintf(en.reason, sizeof(en.reason), "its slot in the drain state is gone");
		en.ended_unix = a->o.now();
		return entry_put(a->o.etcd, &en);
	}
	if (en.status != MIGR_DRAIN_QUEUED)
		return 0;
	rc = migr_drain_try_start(a->o.etcd, a->self, a->o.now(), &a->o.params, targets,
				  sizeof(targets), why, sizeof(why), a->o.lg);
	if (rc == 0)
		wait_why(a, why);
	if (rc != 1)
		return rc == -EAGAIN ? 0 : rc;
	return agent_evacuate(a, targets);
}

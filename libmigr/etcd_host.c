/*
 * etcd_host.c: what migr keeps in etcd (docs/etcd.md): the key layout, a host's record and
 * a guest's location (JSON, written with yajl_gen, read back as untrusted text), the
 * host's state from the hypervisor, and the registration thread that keeps the record
 * under a lease (migr/etcd.h).
 *
 * Entry points: migr_etcd_name_ok(), migr_etcd_host_key(), migr_etcd_location_key(),
 * migr_uuid_format(), migr_uuid_parse(), migr_etcd_host_encode(), migr_etcd_host_parse(),
 * migr_etcd_host_collect(), migr_etcd_fleet_targets(), migr_etcd_location_encode(),
 * migr_etcd_location_parse(),
 * migr_etcd_reg_start(), migr_etcd_reg_poke(), migr_etcd_reg_stats(), migr_etcd_reg_stop().
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "libmigr.h"
#include "migr/etcd.h"
#include "report_int.h"   /* migr__json_depth_ok() */
#include "util.h"

#define RECORD_DEPTH_MAX 4

/* ---- names and keys -------------------------------------------------------------- */

bool migr_etcd_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (!n || n > 255 || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

int migr_etcd_host_key(const char *host, char *buf, size_t len)
{
	if (!migr_etcd_name_ok(host))
		return -EINVAL;
	if ((size_t)snprintf(buf, len, MIGR_ETCD_PREFIX "hosts/%s", host) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int migr_etcd_fleet_targets(struct migr_etcd *e, const char *self, unsigned int max,
			    char *list, size_t len, struct xentoollog_logger *lg)
{
	struct migr_etcd_kv *v = NULL;
	struct migr_etcd_host h;
	struct migr_drain_state out;
	unsigned int n = 0, used = 0;
	size_t k = 0;
	int rc;

	list[0] = '\0';
	rc = migr_etcd_list(e, MIGR_ETCD_PREFIX "hosts/", 4096, &v, &n);
	if (rc)
		return rc;
	/* Hosts out for a drain (draining, or drained and in maintenance) receive nothing. */
	if ((rc = migr_drain_state_read(e, &out, lg))) {
		migr__log(lg, XTL_WARN, "etcd: the drain state cannot be read (%s): hosts out for a "
			  "drain are not known, ignoring", migr_strerror(rc));
		memset(&out, 0, sizeof(out));
	}
	for (unsigned int i = 0; i < n; i++) {
		const char *name = v[i].key + strlen(MIGR_ETCD_PREFIX "hosts/");
		int w;

		memset(&h, 0, sizeof(h));
		if (migr_etcd_host_parse(v[i].value, v[i].value_len, &h) || strcmp(h.name, name) ||
		    !h.address[0] || strchr(h.address, ',')) {
			migr__log(lg, XTL_WARN, "etcd: %s is not a host record migr reads: skipped",
				  v[i].key);
		} else if (strcmp(h.name, self) && h.maintenance == MIGR_ETCD_MAINT_NONE &&
			   migr_drain_state_find(&out, h.name) < 0 && used < max) {
			w = snprintf(list + k, len - k, "%s%s", used ? "," : "", h.address);
			if (w < 0 || (size_t)w >= len - k) {
				list[k] = '\0';   /* no room for it: the list stops before it */
				used = max;
			} else {
				k += (size_t)w;
				used++;
			}
		}
		migr_etcd_host_clear(&h);
		migr_etcd_kv_clear(&v[i]);
	}
	free(v);
	migr_drain_state_clear(&out);
	return used ? 0 : -ENOENT;
}

void migr_uuid_format(const uint8_t u[16], char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

int migr_uuid_parse(const char *s, uint8_t uuid_r[16])
{
	uint8_t u[16];
	unsigned int k = 0;

	if (!s || strlen(s) != 36)
		return -EINVAL;
	for (unsigned int i = 0; i < 36; ) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -EINVAL;
			continue;
		}
		if (!isxdigit((unsigned char)s[i]) || !isxdigit((unsigned char)s[i + 1]) ||
		    isupper((unsigned char)s[i]) || isupper((unsigned char)s[i + 1]))
			return -EINVAL;
		sscanf(s + i, "%2hhx", &u[k++]);
		i += 2;
	}
	memcpy(uuid_r, u, 16);
	return 0;
}

bool migr_uuid_is_nil(const uint8_t uuid[16])
{
	for (unsigned int i = 0; i < 16; i++)
		if (uuid[i])
			return false;
	return true;
}

int migr_etcd_location_key(const uint8_t uuid[16], char *buf, size_t len)
{
	char u[37];

	if (migr_uuid_is_nil(uuid))
		return -EINVAL;
	migr_uuid_format(uuid, u);
	if ((size_t)snprintf(buf, len, MIGR_ETCD_PREFIX "guests/%s/location", u) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static const char *const maint_names[MIGR_ETCD_MAINT_COUNT] = {
	[MIGR_ETCD_MAINT_NONE] = "none", [MIGR_ETCD_MAINT_EVACUATING] = "evacuating",
};

const char *migr_etcd_maint_name(enum migr_etcd_maint m)
{
	return (unsigned)m < MIGR_ETCD_MAINT_COUNT ? maint_names[m] : "?";
}

/* ---- writing JSON ---------------------------------------------------------------- */

static void g_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void g_kstr(yajl_gen g, const char *k, const char *v)
{
	g_str(g, k);
	g_str(g, v);
}

static void g_knum(yajl_gen g, const char *k, uint64_t v)
{
	char n[24];

	g_str(g, k);
	snprintf(n, sizeof(n), "%llu", (unsigned long long)v);
	yajl_gen_number(g, n, strlen(n));
}

static void g_kbool(yajl_gen g, const char *k, bool v)
{
	g_str(g, k);
	yajl_gen_bool(g, v);
}

/* The generator's text, malloc'd; -ENOMEM. */
static int g_take(yajl_gen g, char **json_r, size_t *len_r)
{
	const unsigned char *buf;
	size_t len;
	char *s;

	if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok || !(s = malloc(len + 1)))
		return -ENOMEM;
	memcpy(s, buf, len);
	s[len] = '\0';
	*json_r = s;
	*len_r = len;
	return 0;
}

int migr_etcd_host_encode(const struct migr_etcd_host *h, char **json_r, size_t *len_r)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	char u[37];
	int rc;

	if (!g)
		return -ENOMEM;
	yajl_gen_map_open(g);
	g_knum(g, "schema", MIGR_ETCD_SCHEMA);
	g_kstr(g, "name", h->name);
	g_kstr(g, "group", h->group);
	g_kstr(g, "address", h->address);
	g_kstr(g, "xen", h->xen);
	g_knum(g, "xen_major", h->xen_major);
	g_knum(g, "xen_minor", h->xen_minor);
	g_str(g, "caps");
	yajl_gen_map_open(g);
	g_kbool(g, "pv", h->cap_pv);
	g_kbool(g, "hvm", h->cap_hvm);
	g_kbool(g, "hap", h->cap_hap);
	g_kbool(g, "shadow", h->cap_shadow);
	yajl_gen_map_close(g);
	g_str(g, "memory");
	yajl_gen_map_open(g);
	g_knum(g, "total_kib", h->total_kib);
	g_knum(g, "free_kib", h->free_kib);
	yajl_gen_map_close(g);
	g_kstr(g, "maintenance", migr_etcd_maint_name(h->maintenance));
	g_str(g, "guests");
	yajl_gen_array_open(g);
	for (unsigned int i = 0; i < h->n_guests; i++) {
		const struct migr_etcd_guest *x = &h->guests[i];

		yajl_gen_map_open(g);
		g_kstr(g, "name", x->name);
		migr_uuid_format(x->uuid, u);
		g_kstr(g, "uuid", migr_uuid_is_nil(x->uuid) ? "" : u);
		g_kstr(g, "type", migr_guest_type_name(x->type));
		g_knum(g, "mem_kib", x->mem_kib);
		g_knum(g, "max_mem_kib", x->max_mem_kib);
		g_knum(g, "vcpus", x->vcpus);
		g_kbool(g, "moving", x->moving);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	rc = g_take(g, json_r, len_r);
	yajl_gen_free(g);
	return rc;
}

/* ---- reading JSON (untrusted) ---------------------------------------------------- */

static yajl_val get(yajl_val obj, const char *name)
{
	return migr__json_member(obj, name);
}

/* A string field of at most max - 1 bytes, printable ASCII, into out. */
static int get_str(yajl_val obj, const char *name, char *out, size_t max, bool empty_ok)
{
	yajl_val v = get(obj, name);
	const char *s;
	size_t n;

	if (!v || !YAJL_IS_STRING(v) || !(s = YAJL_GET_STRING(v)))
		return -EPROTO;
	n = strlen(s);
	if (n >= max || (!n && !empty_ok))
		return -EPROTO;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return -EPROTO;
	memcpy(out, s, n + 1);
	return 0;
}

static int get_u64(yajl_val obj, const char *name, uint64_t max, uint64_t *out)
{
	yajl_val v = get(obj, name);

	if (!v || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 ||
	    (uint64_t)YAJL_GET_INTEGER(v) > max)
		return -EPROTO;
	*out = (uint64_t)YAJL_GET_INTEGER(v);
	return 0;
}

static int get_flag(yajl_val obj, const char *name, bool *out)
{
	yajl_val v = get(obj, name);

	if (!v || !(YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)))
		return -EPROTO;
	*out = YAJL_IS_TRUE(v);
	return 0;
}

/* The tree of an untrusted etcd record (migr's keys), its schema checked: -EPROTO for
 * anything but a bounded object with a schema, -ENOTSUP for another version. */
int migr__etcd_record_root(const char *json, size_t len, yajl_val *root_r)
{
	char buf_err[64], *text;
	yajl_val root;
	uint64_t schema;

	if (!json || len > MIGR_ETCD_VALUE_MAX || memchr(json, '\0', len) ||
	    !migr__json_depth_ok(json, len, RECORD_DEPTH_MAX))
		return -EPROTO;
	if (!(text = strndup(json, len)))
		return -ENOMEM;
	root = yajl_tree_parse(text, buf_err, sizeof(buf_err));
	free(text);
	if (!root)
		return -EPROTO;
	if (!YAJL_IS_OBJECT(root) || get_u64(root, "schema", UINT32_MAX, &schema)) {
		yajl_tree_free(root);
		return -EPROTO;
	}
	if (schema != MIGR_ETCD_SCHEMA) {
		yajl_tree_free(root);
		return -ENOTSUP;
	}
	*root_r = root;
	return 0;
}

static int type_of(const char *s, enum migr_guest_type *t_r)
{
	static const enum migr_guest_type types[] = { MIGR_GUEST_PV, MIGR_GUEST_PVH,
						      MIGR_GUEST_HVM, MIGR_GUEST_UNKNOWN };

	for (unsigned int i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(s, migr_guest_type_name(types[i]))) {
			*t_r = types[i];
			return 0;
		}
	return -EPROTO;
}

void migr_etcd_host_clear(struct migr_etcd_host *h)
{
	if (!h)
		return;
	free(h->guests);
	memset(h, 0, sizeof(*h));
}

#define MEM_MAX (UINT64_C(1) << 50)     /* KiB: an exabyte */

int migr_etcd_host_parse(const char *json, size_t len, struct migr_etcd_host *h_r)
{
	struct migr_etcd_host h;
	yajl_val root = NULL, caps, mem, guests;
	char maint[32], type[16], uuid[40];
	uint64_t n;
	int rc;

	memset(&h, 0, sizeof(h));
	if ((rc = migr__etcd_record_root(json, len, &root)))
		return rc;
	rc = -EPROTO;
	caps = get(root, "caps");
	mem = get(root, "memory");
	guests = get(root, "guests");
	if (get_str(root, "name", h.name, sizeof(h.name), false) || !migr_etcd_name_ok(h.name) ||
	    (get(root, "group") && (get_str(root, "group", h.group, sizeof(h.group), true) ||
				    (h.group[0] && !migr_etcd_name_ok(h.group)))) ||
	    get_str(root, "address", h.address, sizeof(h.address), false) ||
	    migr_hostport_check(h.address, NULL, 0) ||
	    get_str(root, "xen", h.xen, sizeof(h.xen), true) ||
	    get_u64(root, "xen_major", 255, &n) || ((h.xen_major = (unsigned)n), 0) ||
	    get_u64(root, "xen_minor", 255, &n) || ((h.xen_minor = (unsigned)n), 0) ||
	    get_flag(caps, "pv", &h.cap_pv) || get_flag(caps, "hvm", &h.cap_hvm) ||
	    get_flag(caps, "hap", &h.cap_hap) || get_flag(caps, "shadow", &h.cap_shadow) ||
	    get_u64(mem, "total_kib", MEM_MAX, &h.total_kib) ||
	    get_u64(mem, "free_kib", h.total_kib, &h.free_kib) ||
	    get_str(root, "maintenance", maint, sizeof(maint), false) ||
	    !guests || !YAJL_IS_ARRAY(guests) || guests->u.array.len > MIGR_ETCD_GUESTS_MAX)
		goto out;
	for (n = 0; n < MIGR_ETCD_MAINT_COUNT && strcmp(maint, maint_names[n]); n++)
		;
	if (n == MIGR_ETCD_MAINT_COUNT)
		goto out;
	h.maintenance = (enum migr_etcd_maint)n;
	rc = -ENOMEM;
	if (guests->u.array.len &&
	    !(h.guests = calloc(guests->u.array.len, sizeof(*h.guests))))
		goto out;
	rc = -EPROTO;
	for (size_t i = 0; i < guests->u.array.len; i++) {
		struct migr_etcd_guest *x = &h.guests[i];
		yajl_val o = guests->u.array.values[i];

		if (!YAJL_IS_OBJECT(o) || get_str(o, "name", x->name, sizeof(x->name), false) ||
		    get_str(o, "uuid", uuid, sizeof(uuid), true) ||
		    (uuid[0] && migr_uuid_parse(uuid, x->uuid)) ||
		    get_str(o, "type", type, sizeof(type), false) || type_of(type, &x->type) ||
		    get_u64(o, "mem_kib", MEM_MAX, &x->mem_kib) ||
		    get_u64(o, "max_mem_kib", MEM_MAX, &x->max_mem_kib) ||
		    get_u64(o, "vcpus", 4096, &n) || get_flag(o, "moving", &x->moving))
			goto out;
		x->vcpus = (unsigned int)n;
		h.n_guests++;
	}
	*h_r = h;
	h.guests = NULL;
	rc = 0;
out:
	free(h.guests);
	yajl_tree_free(root);
	return rc;
}

int migr_etcd_location_encode(const struct migr_etcd_location *l, char **json_r,
			      size_t *len_r)
{
	yajl_gen g;
	int rc;

	if (!migr_etcd_name_ok(l->host))
		return -EINVAL;
	if (!(g = yajl_gen_alloc(NULL)))
		return -ENOMEM;
	yajl_gen_map_open(g);
	g_knum(g, "schema", MIGR_ETCD_SCHEMA);
	g_kstr(g, "host", l->host);
	g_kstr(g, "migration", l->migration);
	yajl_gen_map_close(g);
	rc = g_take(g, json_r, len_r);
	yajl_gen_free(g);
	return rc;
}

int migr_etcd_location_parse(const char *json, size_t len, struct migr_etcd_location *l_r)
{
	struct migr_etcd_location l;
	yajl_val root = NULL;
	int rc;

	memset(&l, 0, sizeof(l));
	if ((rc = migr__etcd_record_root(json, len, &root)))
		return rc;
	rc = -EPROTO;
	if (get_str(root, "host", l.host, sizeof(l.host), false) || !migr_etcd_name_ok(l.host) ||
	    get_str(root, "migration", l.migration, sizeof(l.migration), true))
		goto out;
	for (size_t i = 0; l.migration[i]; i++)
		if (!isxdigit((unsigned char)l.migration[i]))
			goto out;
	*l_r = l;
	rc = 0;
out:
	yajl_tree_free(root);
	return rc;
}

/* ---- the host's state ------------------------------------------------------------ */

#define DOMAINS_MAX 1024

int migr_etcd_host_collect(struct migr_hv *hv, struct migr_etcd_host *h)
{
	struct migr_host_info hi;
	uint32_t *ids = NULL;
	unsigned int n = 0;
	int rc;

	if ((rc = hv->ops->host_info(hv, &hi)))
		return rc;
	if (!(ids = calloc(DOMAINS_MAX, sizeof(*ids))))
		return -ENOMEM;
	if ((rc = hv->ops->domain_list(hv, ids, DOMAINS_MAX, &n)))
		goto out;
	free(h->guests);
	h->n_guests = 0;
	rc = -ENOMEM;
	if (!(h->guests = calloc(n ? n : 1, sizeof(*h->guests))))
		goto out;
	snprintf(h->xen, sizeof(h->xen), "%u.%u%s", hi.xen_major, hi.xen_minor, hi.xen_extra);
	h->xen_major = hi.xen_major;
	h->xen_minor = hi.xen_minor;
	h->cap_pv = hi.cap_pv;
	h->cap_hvm = hi.cap_hvm;
	h->cap_hap = hi.cap_hap;
	h->cap_shadow = hi.cap_shadow;
	h->total_kib = hi.total_kib;
	h->free_kib = hi.free_kib;
	for (unsigned int i = 0; i < n && i < DOMAINS_MAX; i++) {
		struct migr_etcd_guest *x = &h->guests[h->n_guests];
		struct migr_dom_info di;

		if (!ids[i] || hv->ops->domain_info(hv, ids[i], &di) || di.dying)
			continue;              /* dom0, gone meanwhile, or going */
		snprintf(x->name, sizeof(x->name), "%s", di.name);
		memcpy(x->uuid, di.uuid, 16);
		x->type = di.type;
		x->mem_kib = di.mem_kib;
		x->max_mem_kib = di.max_mem_kib;
		x->vcpus = di.vcpus;
		x->moving = migr__ends_with(di.name, MIGR_SUFFIX_INCOMING) ||
			    migr__ends_with(di.name, MIGR_SUFFIX_AWAY);
		h->n_guests++;
	}
	rc = 0;
out:
	free(ids);
	return rc;
}

/* ---- registration ---------------------------------------------------------------- */

struct migr_etcd_reg {
	struct migr_etcd_reg_opts o;
	char host[256], key[MIGR_ETCD_KEY_MAX];
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, revoke, poked;
	struct migr_etcd_reg_stats st;
	char *last;                      /* the record last written under this lease */
	bool failing;                    /* the last step failed (said once) */
};

static void reg_wait(struct migr_etcd_reg *r, uint64_t until_us)
{
	uint64_t now = migr__now_us();
	struct timespec ts;

	if (r->stop || r->poked || now >= until_us)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)((until_us - now) / 1000000);
	ts.tv_nsec += (long)((until_us - now) % 1000000) * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&r->cond, &r->lock, &ts);
}

/* A step failed: said at error level the first time, at detail level while it goes on. */
static void reg_failed(struct migr_etcd_reg *r, const char *what, int rc)
{
	pthread_mutex_lock(&r->lock);
	r->st.failures++;
	pthread_mutex_unlock(&r->lock);
	migr__log(r->o.lg, r->failing ? XTL_DETAIL : XTL_ERROR, "etcd: host %s: %s: %s; trying "
		  "again every second", r->host, what, migr_strerror(rc));
	r->failing = true;
}

static void reg_ok(struct migr_etcd_reg *r)
{
	if (r->failing)
		migr__log(r->o.lg, XTL_INFO, "etcd: host %s registered again", r->host);
	r->failing = false;
}

/* Collects and writes the record if it changed (or force). -ENOENT: the lease is gone. */
static int reg_put(struct migr_etcd_reg *r, int64_t lease, bool force)
{
	struct migr_etcd_host h;
	char *json = NULL;
	size_t len = 0;
	int rc;

	memset(&h, 0, sizeof(h));
	snprintf(h.name, sizeof(h.name), "%s", r->host);
	if ((rc = r->o.collect(r->o.arg, &h))) {
		reg_failed(r, "cannot collect the host's state", rc);
		goto out;
	}
	snprintf(h.name, sizeof(h.name), "%s", r->host);
	if ((rc = migr_etcd_host_encode(&h, &json, &len)))
		goto out;
	if (!force && r->last && !strcmp(r->last, json))
		goto out;
	rc = migr_etcd_put(r->o.etcd, r->key, json, len, lease);
	if (rc) {
		if (rc != -ENOENT)
			reg_failed(r, "cannot write the record", rc);
		goto out;
	}
	free(r->last);
	r->last = json;
	json = NULL;
	pthread_mutex_lock(&r->lock);
	r->st.puts++;
	r->st.registered = true;
	pthread_mutex_unlock(&r->lock);
	reg_ok(r);
out:
	migr_etcd_host_clear(&h);
	free(json);
	return rc;
}

static void *reg_main(void *arg)
{
	struct migr_etcd_reg *r = arg;
	const uint64_t retry_us = 1000000;
	uint64_t keep_at = 0, refresh_at = 0, now;
	int64_t lease = 0, ttl = 0;
	bool put_due = true;
	int rc;

	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		bool poked = r->poked;
		uint64_t next;

		r->poked = false;
		pthread_mutex_unlock(&r->lock);
		now = migr__now_us();
		if (!lease) {
			rc = migr_etcd_lease_grant(r->o.etcd, r->o.ttl_s, &lease, &ttl);
			if (rc) {
				reg_failed(r, "cannot get a lease", rc);
				lease = 0;
				next = now + retry_us;
				goto wait;
			}
			pthread_mutex_lock(&r->lock);
			r->st.grants++;
			r->st.lease = lease;
			pthread_mutex_unlock(&r->lock);
			free(r->last);
			r->last = NULL;
			put_due = true;
			keep_at = now + (uint64_t)ttl * 1000000 / 3;
		}
		if (put_due || poked || now >= refresh_at) {
			rc = reg_put(r, lease, put_due);
			put_due = rc != 0;
			refresh_at = now + (rc ? retry_us : (uint64_t)r->o.refresh_s * 1000000);
			if (rc == -ENOENT)
				goto lease_gone;
		}
		if (now >= keep_at) {
			int64_t left;

			rc = migr_etcd_lease_keepalive(r->o.etcd, lease, &left);
			if (rc == -ENOENT)
				goto lease_gone;
			if (rc) {
				reg_failed(r, "cannot renew the lease", rc);
				keep_at = now + retry_us;
			} else {
				pthread_mutex_lock(&r->lock);
				r->st.keepalives++;
				pthread_mutex_unlock(&r->lock);
				keep_at = now + (uint64_t)ttl * 1000000 / 3;
			}
		}
		next = keep_at < refresh_at ? keep_at : refresh_at;
		goto wait;
lease_gone:
		migr__log(r->o.lg, XTL_ERROR, "etcd: host %s: its lease %lld expired (the record "
			  "was gone meanwhile); registering again", r->host, (long long)lease);
		lease = 0;
		pthread_mutex_lock(&r->lock);
		r->st.lease = 0;
		r->st.registered = false;
		pthread_mutex_unlock(&r->lock);
		next = now;
wait:
		pthread_mutex_lock(&r->lock);
		reg_wait(r, next);
	}
	pthread_mutex_unlock(&r->lock);
	if (lease && r->revoke) {
		rc = migr_etcd_lease_revoke(r->o.etcd, lease);
		if (rc)
			migr__log(r->o.lg, XTL_ERROR, "etcd: host %s: cannot revoke lease %lld (%s): "
				  "its record goes when it expires", r->host, (long long)lease,
				  migr_strerror(rc));
		pthread_mutex_lock(&r->lock);
		r->st.lease = 0;
		r->st.registered = false;
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

int migr_etcd_reg_start(const struct migr_etcd_reg_opts *o, struct migr_etcd_reg **r_r)
{
	struct migr_etcd_reg *r;
	pthread_condattr_t ca;
	int rc;

	if (!o->etcd || !o->collect || !migr_etcd_name_ok(o->host))
		return -EINVAL;
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	r->o = *o;
	r->o.ttl_s = o->ttl_s ? o->ttl_s : 10;
	r->o.refresh_s = o->refresh_s ? o->refresh_s : 30;
	snprintf(r->host, sizeof(r->host), "%s", o->host);
	migr_etcd_host_key(r->host, r->key, sizeof(r->key));
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = -pthread_create(&r->th, NULL, reg_main, r))) {
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return rc;
	}
	*r_r = r;
	return 0;
}

void migr_etcd_reg_poke(struct migr_etcd_reg *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->poked = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

void migr_etcd_reg_stats(struct migr_etcd_reg *r, struct migr_etcd_reg_stats *s_r)
{
	pthread_mutex_lock(&r->lock);
	*s_r = r->st;
	pthread_mutex_unlock(&r->lock);
}

void migr_etcd_reg_stop(struct migr_etcd_reg *r, bool revoke)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	r->revoke = revoke;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->th, NULL);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r->last);
	free(r);
}

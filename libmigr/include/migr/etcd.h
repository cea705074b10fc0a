/*
 * migr/etcd.h: the fleet's state in etcd (docs/etcd.md): a small etcd v3 client over
 * etcd's JSON gateway, the key layout, the host record and a host's registration under a
 * lease.
 *
 * The client (libmigr/etcd.c: libcurl and yajl) speaks POST /v3/kv/range, put,
 * deleterange, txn and /v3/lease/grant, keepalive, revoke to one of several endpoints,
 * each call bounded by a timeout and failing over to the next endpoint when one cannot be
 * reached; TLS with a CA, and a client certificate and key, when they are given. Every
 * answer is untrusted: its size is capped, every field's type is checked, keys and values
 * are strict base64.
 *
 * Callers reach etcd through struct migr_etcd, an ops table (the seam): the real client,
 * or a fake in the unit tests (tests/fakes/etcd_fake.c).
 *
 * Entry points:
 *   migr_etcd_open()             the real client over endpoints (comma-separated URLs)
 *   migr_etcd_close()            either; accepts NULL
 *   migr_etcd_get/put/del/cas()  one key; cas: compare-and-swap on the key's revision
 *   migr_etcd_list()             the keys under a prefix
 *   migr_etcd_lease_grant/keepalive/revoke()
 *   migr_etcd_host_key(), migr_etcd_location_key()      the key layout
 *   migr_etcd_host_encode(), migr_etcd_host_parse()      the host record (JSON)
 *   migr_etcd_location_encode(), migr_etcd_location_parse()  a guest's location
 *   migr_etcd_reg_start(), migr_etcd_reg_poke(), migr_etcd_reg_stop()
 *                                a host's registration: lease, record, keepalive
 *
 * Errors: 0 or -errno. -ENOENT: no such key (get), the lease is gone (keepalive);
 * -ECONNREFUSED: no endpoint could be reached, so the request reached no etcd;
 * -ETIMEDOUT: an endpoint took the request but no answer came in time, so a write may
 * have happened (read the key to know); -EPROTO: an answer that is not what etcd sends;
 * -EIO: etcd refused the request (logged with its message).
 */
#ifndef MIGR_ETCD_H
#define MIGR_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migr/hv.h"

struct xentoollog_logger;

/* The version of the layout and records below; a record of another version is refused. */
#define MIGR_ETCD_SCHEMA 1
#define MIGR_ETCD_PREFIX "/migr/"
#define MIGR_ETCD_KEY_MAX 512            /* a key, bytes */
#define MIGR_ETCD_VALUE_MAX (256u << 10) /* a value, bytes */
#define MIGR_ETCD_LIST_MAX 4096          /* keys one list returns at most */

/* One key as read. value: malloc'd, NUL-terminated beyond value_len (free with
 * migr_etcd_kv_clear()). Revisions as etcd counts them; lease 0: none. */
struct migr_etcd_kv {
	char *key;
	char *value;
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};
void migr_etcd_kv_clear(struct migr_etcd_kv *kv);

struct migr_etcd;

struct migr_etcd_ops {
	/* key's current value. -ENOENT when it does not exist. */
	int (*get)(struct migr_etcd *e, const char *key, struct migr_etcd_kv *kv_r);
	/* The keys starting with prefix, in key order, at most max (-E2BIG if more): *v_r
	 * malloc'd (free each with migr_etcd_kv_clear(), then the array), *n_r how many. */
	int (*list)(struct migr_etcd *e, const char *prefix, unsigned int max,
		    struct migr_etcd_kv **v_r, unsigned int *n_r);
	/* Writes key = value, attached to lease (0: none). */
	int (*put)(struct migr_etcd *e, const char *key, const char *value, size_t len,
		   int64_t lease);
	/* Deletes key (0 also when it did not exist). */
	int (*del)(struct migr_etcd *e, const char *key);
	/* Compare-and-swap: key = value (attached to lease, 0 none) only if the key's
	 * mod_revision is still mod_revision (0: only if the key does not exist). *won_r:
	 * whether it was written; when not, *cur_r (if not NULL) gets what is there (key NULL
	 * in it when there is none). */
	int (*cas)(struct migr_etcd *e, const char *key, int64_t mod_revision, const char *value,
		   size_t len, int64_t lease, bool *won_r, struct migr_etcd_kv *cur_r);
	/* A lease of ttl_s seconds; *id_r its id, *ttl_r what etcd granted. */
	int (*lease_grant)(struct migr_etcd *e, int64_t ttl_s, int64_t *id_r, int64_t *ttl_r);
	/* Renews lease id once; *ttl_r the seconds it has now. -ENOENT: it expired or was
	 * revoked (its keys are gone). */
	int (*lease_keepalive)(struct migr_etcd *e, int64_t id, int64_t *ttl_r);
	/* Revokes lease id: its keys are deleted. 0 also when it was gone. */
	int (*lease_revoke)(struct migr_etcd *e, int64_t id);
	void (*close)(struct migr_etcd *e);
};

struct migr_etcd {
	const struct migr_etcd_ops *ops;
	struct xentoollog_logger *lg;    /* may be NULL */
};

struct migr_etcd_opts {
	/* http://HOST:PORT or https://HOST:PORT (a bare HOST:PORT is https with a CA, else
	 * http), comma-separated; tried in turn, starting with the last that answered. */
	const char *endpoints;
	const char *ca_file;             /* the CA that signed etcd's certificates */
	const char *cert_file, *key_file;   /* this host's client certificate and its key */
	unsigned int timeout_ms;         /* each call, every endpoint tried included; 0: 3000 */
	unsigned int connect_timeout_ms; /* each endpoint; 0: 1000 */
	struct xentoollog_logger *lg;
};

/* Checks the endpoints' syntax (no connection is made); -EINVAL with why in err. */
int migr_etcd_endpoints_check(const char *endpoints, char *err, size_t errlen);
/* The real client. Nothing is sent before the first call. One thread at a time per
 * handle (calls are serialised by a lock). */
int migr_etcd_open(const struct migr_etcd_opts *o, struct migr_etcd **e_r);
void migr_etcd_close(struct migr_etcd *e);

static inline int migr_etcd_get(struct migr_etcd *e, const char *key,
				struct migr_etcd_kv *kv_r)
{
	return e->ops->get(e, key, kv_r);
}
static inline int migr_etcd_list(struct migr_etcd *e, const char *prefix, unsigned int max,
				 struct migr_etcd_kv **v_r, unsigned int *n_r)
{
	return e->ops->list(e, prefix, max, v_r, n_r);
}
static inline int migr_etcd_put(struct migr_etcd *e, const char *key, const char *value,
				size_t len, int64_t lease)
{
	return e->ops->put(e, key, value, len, lease);
}
static inline int migr_etcd_del(struct migr_etcd *e, const char *key)
{
	return e->ops->del(e, key);
}
static inline int migr_etcd_cas(struct migr_etcd *e, const char *key, int64_t mod_revision,
				const char *value, size_t len, int64_t lease, bool *won_r,
				struct migr_etcd_kv *cur_r)
{
	return e->ops->cas(e, key, mod_revision, value, len, lease, won_r, cur_r);
}
static inline int migr_etcd_lease_grant(struct migr_etcd *e, int64_t ttl_s, int64_t *id_r,
					int64_t *ttl_r)
{
	return e->ops->lease_grant(e, ttl_s, id_r, ttl_r);
}
static inline int migr_etcd_lease_keepalive(struct migr_etcd *e, int64_t id, int64_t *ttl_r)
{
	return e->ops->lease_keepalive(e, id, ttl_r);
}
static inline int migr_etcd_lease_revoke(struct migr_etcd *e, int64_t id)
{
	return e->ops->lease_revoke(e, id);
}
void migr_etcd_list_free(struct migr_etcd_kv *v, unsigned int n);

/* Strict base64 (RFC 4648, padded, canonical): encode into out (4 * ceil(len / 3) + 1
 * bytes); decode: -EINVAL on anything else, *out_len_r the bytes written (out holds
 * 3 * inlen / 4 bytes). */
void migr_b64_encode(const void *in, size_t len, char *out);
int migr_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t *out_len_r);

/* ---- the key layout (docs/etcd.md) ---------------------------------------------- */

/* A host's name as a key's part: 1-255 of [A-Za-z0-9._-], not starting with '.'. */
bool migr_etcd_name_ok(const char *name);
/* /migr/hosts/NAME; -EINVAL if the name is not one. */
int migr_etcd_host_key(const char *host, char *buf, size_t len);
/* /migr/guests/UUID/location (UUID in its 36-character text form). */
int migr_etcd_location_key(const uint8_t uuid[16], char *buf, size_t len);
/* UUID text form (37 bytes with the NUL) and back; parse: -EINVAL if not one. */
void migr_uuid_format(const uint8_t uuid[16], char out[37]);
int migr_uuid_parse(const char *s, uint8_t uuid_r[16]);
bool migr_uuid_is_nil(const uint8_t uuid[16]);

/* ---- the host record: /migr/hosts/NAME, under the host's lease ------------------- */

#define MIGR_ETCD_GUESTS_MAX 1024
struct migr_etcd_guest {
	char name[MIGR_DOMNAME_MAX];
	uint8_t uuid[16];                /* nil when not known */
	enum migr_guest_type type;
	uint64_t mem_kib, max_mem_kib;
	unsigned int vcpus;
	bool moving;                     /* a copy in flight (NAME--incoming/--migratedaway) */
};

enum migr_etcd_maint {
	MIGR_ETCD_MAINT_NONE = 0,        /* in service */
	MIGR_ETCD_MAINT_EVACUATING,      /* an evacuation runs */
	MIGR_ETCD_MAINT_COUNT
};
const char *migr_etcd_maint_name(enum migr_etcd_maint m);

struct migr_etcd_host {
	char name[256];
	char group[64];                  /* failure domain (rack, power feed); "" none */
	char address[300];               /* HOST:PORT where its migrd receives */
	char xen[48];                    /* "4.17.7" */
	unsigned int xen_major, xen_minor;
	bool cap_pv, cap_hvm, cap_hap, cap_shadow;
	uint64_t total_kib, free_kib;
	enum migr_etcd_maint maintenance;
	unsigned int n_guests;
	struct migr_etcd_guest *guests;  /* n_guests of them (parse: malloc'd) */
};
/* JSON (malloc'd, NUL-terminated). */
int migr_etcd_host_encode(const struct migr_etcd_host *h, char **json_r, size_t *len_r);
/* Parses a record read from etcd (untrusted): -EPROTO when it is not one, -ENOTSUP for
 * another schema version. h_r->guests malloc'd (migr_etcd_host_clear()). */
int migr_etcd_host_parse(const char *json, size_t len, struct migr_etcd_host *h_r);
void migr_etcd_host_clear(struct migr_etcd_host *h);
/*
 * The fleet's targets for an evacuation of host self: the address of every host recorded
 * under /migr/hosts/ (records alive under their leases) but self and those in
 * maintenance, comma-separated in list (at most max of them, in key order). Records that
 * do not parse are skipped and logged. -ENOENT when no host is left; etcd's errors as
 * they come.
 */
int migr_etcd_fleet_targets(struct migr_etcd *e, const char *self, unsigned int max,
			    char *list, size_t len, struct xentoollog_logger *lg);
/* Fills h from the hypervisor (memory, version, capabilities, guests); name, address
 * and maintenance are the caller's. */
int migr_etcd_host_collect(struct migr_hv *hv, struct migr_etcd_host *h);

/* ---- a guest's location: /migr/guests/UUID/location ------------------------------ */

struct migr_etcd_location {
	char host[256];                  /* the host that may run the guest */
	char migration[33];              /* the migration that put it there ("" none) */
};
int migr_etcd_location_encode(const struct migr_etcd_location *l, char **json_r,
			      size_t *len_r);
int migr_etcd_location_parse(const char *json, size_t len, struct migr_etcd_location *l_r);

/* ---- the commit fenced by etcd: the decisions (docs/etcd.md) ---------------------- */

/*
 * The decision steps of the fenced commit over the seam, called by the drivers
 * (migrate.c, recv.c) and by resolve (recover.c).
 * A fence is the guest's location key as the source read it before touching the guest.
 */
struct migr_fence {
	char key[MIGR_ETCD_KEY_MAX];
	int64_t rev;                     /* the key's mod_revision read (0: it did not exist) */
	int64_t swapped_rev;             /* after a won swap: the key's revision at B when
	                                    known (0: migr_fence_return() reads it) */
	char target[256], id[33];        /* what the swap wrote */
};
/* Source, before anything is touched: 0 when the key is absent or names self; -EPERM
 * when it names another host (the guest is not ours to move); -ECONNREFUSED,
 * -ETIMEDOUT: etcd not reached (refuse: a clean back-out); -EPROTO: a bad value. */
int migr_fence_read(struct migr_etcd *e, const uint8_t uuid[16], const char *self,
		    struct migr_fence *f_r, struct xentoollog_logger *lg);
/* Source, at GO: the swap to {target, id}. 0: won, send GO. -MIGR_E_ABORTED: it did not
 * and never will apply (lost to another writer, etcd not reached, or an unknown outcome
 * fenced off by a swap back to self): back out. -MIGR_E_UNDECIDED: nothing could be
 * known; keep the guest suspended. */
int migr_fence_swap(struct migr_etcd *e, struct migr_fence *f, const char *self,
		    const char *target, const char *id, struct xentoollog_logger *lg);
/* Target, before the unpause: 0 if the key says {self, id}; -EPERM if it says anything
 * else; other -errno: not read (do not unpause). */
int migr_fence_check(struct migr_etcd *e, const uint8_t uuid[16], const char *self,
		     const char *id, struct xentoollog_logger *lg);
/* Source, after a won swap whose target destroyed its copy: the key back to self (CAS on
 * the swapped revision). 0: the guest may resume here; -MIGR_E_UNDECIDED otherwise. */
int migr_fence_return(struct migr_etcd *e, struct migr_fence *f, const char *self,
		      struct xentoollog_logger *lg);
/* Source, resolving migration id whose suspended copy here is to resume (its target will
 * never run the guest): 0 when the key names self or does not exist, or named the target
 * by this migration and was swapped back; -MIGR_E_UNDECIDED otherwise (etcd not reached,
 * another migration's value): the copy stays suspended. */
int migr_fence_reclaim(struct migr_etcd *e, const uint8_t uuid[16], const char *self,
		       const char *id, struct xentoollog_logger *lg);

/* ---- registration: a host's record kept under a lease ---------------------------- */

/*
 * A thread that keeps /migr/hosts/NAME current: grants a lease of ttl_s, writes the
 * record under it, renews the lease every ttl_s / 3, writes the record again when
 * collect() gives another one (it is called after each migr_etcd_reg_poke() and every
 * refresh_s), and starts over with a new lease when the old one is gone. Failures are
 * logged (once until it works again) and retried every second or so, never fatal. Stop
 * revokes the lease (the record is gone at once) unless etcd cannot be reached.
 */
struct migr_etcd_reg_opts {
	struct migr_etcd *etcd;          /* used by the thread only, until stop */
	const char *host;                /* the record's name (migr_etcd_name_ok) */
	unsigned int ttl_s;              /* 0: 10 */
	unsigned int refresh_s;          /* 0: 30 */
	/* Fills h (zeroed, name set) with the host's state now; 0 or -errno (then the
	 * record is not written this time). Runs on the registration thread. */
	int (*collect)(void *arg, struct migr_etcd_host *h);
	void *arg;
	struct xentoollog_logger *lg;
};
/* What the registration has done so far (tests, status). */
struct migr_etcd_reg_stats {
	unsigned int grants, puts, keepalives, failures;
	int64_t lease;                   /* 0: none held */
	bool registered;                 /* the last write of the record succeeded */
};
struct migr_etcd_reg;
int migr_etcd_reg_start(const struct migr_etcd_reg_opts *o, struct migr_etcd_reg **r_r);
/* Something changed: collect again soon. Any thread. */
void migr_etcd_reg_poke(struct migr_etcd_reg *r);
void migr_etcd_reg_stats(struct migr_etcd_reg *r, struct migr_etcd_reg_stats *s_r);
/* Stops the thread; revoke: revoke the lease (a clean exit), else leave it to expire.
 * Accepts NULL. */
void migr_etcd_reg_stop(struct migr_etcd_reg *r, bool revoke);

#endif /* MIGR_ETCD_H */

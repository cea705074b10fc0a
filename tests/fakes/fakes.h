/*
 * fakes.h: the test doubles behind the library's seams, built into the unit tests only
 * (never into libmigr): an in-memory hypervisor (hv_fake.c, struct migr_hv_ops), an
 * in-memory xenstore (xs_mem.c, struct migr_xs_ops) and an in-memory etcd (etcd_fake.c,
 * struct migr_etcd_ops).
 */
#ifndef MIGR_TEST_FAKES_H
#define MIGR_TEST_FAKES_H

#include <stdatomic.h>
#include "libmigr.h"

/* ---- the fake hypervisor (tests) ---------------------------------------------------- */

#define MIGR_FAKE_MAX_DOMS 8

/* Faults a test can inject; each fires when its counter reaches zero (-1: never). */
struct migr_hv_fake_faults {
	int save_fail_at_round;          /* save fails with -EIO in the middle of this round */
	int suspend_fails;               /* 1: suspend returns -ETIMEDOUT */
	int restore_fails;               /* 1: restore returns -ENOMEM after reading the stream */
	int unpause_fails;               /* 1: unpause returns -EIO */
	int rename_fails;                /* 1: rename returns -EIO */
};

struct migr_fake_dom {
	bool used;
	struct migr_dom_info info;
	uint64_t pages;                  /* p2m size the fake save walks */
	uint64_t dirty_per_round;        /* pages the fake guest dirties per live round (under a
	                                    CPU cap, in proportion to the CPU it keeps) */
	unsigned int cap;                /* CPU cap (cpu_cap()), 0: none */
	unsigned int cap_max;            /* the tightest cap it ever had (the lowest nonzero) */
	uint64_t clean_us;               /* time of the last CLEAN: PEEK grows from it */
	uint64_t peek_full_us;           /* PEEK reaches the round's whole set this long after
	                                    a CLEAN (0: 5 s) */
	int console_fd;                  /* the fake xenconsoled's log of this guest (-1) */
	bool suspended_by_us;
	unsigned int resumes;            /* how often resume() brought it back */
	char *config_json;
};

struct migr_hv_fake {
	struct migr_hv hv;
	pthread_mutex_t lock;            /* find and a restore's domain creation: the receiver
	                                    looks its domain up while the restore runs */
	struct migr_host_info host;
	struct migr_fake_dom doms[MIGR_FAKE_MAX_DOMS];
	struct migr_hv_fake_faults faults;
	unsigned int next_domid;
	uint64_t payload_bytes_per_page; /* bytes the fake save writes per page (default 16) */
	unsigned int round0_ms;          /* round 0's pages written in ten batches over this
	                                    long (0: at once) */
	uint64_t stream_bytes_read;      /* bytes the last fake restore consumed */
	unsigned int restores;            /* restores started */
	uint64_t devices_us;             /* device set-up a fake restore reports */
	unsigned int restore_delay_ms;   /* a fake restore's tail, after the stream's end */
	bool early_devices;              /* restore() says its devices were added early
	                                    (devices_added) once the stream has begun */
	unsigned int peeks;              /* peek_dirty() calls */
	/* vcpu_run(): the guest's vCPUs run at run_pct of one CPU, in all, until the save
	 * starts, and at precopy_run_pct from then on; both 0: -ENODATA (no guard) */
	unsigned int run_pct, precopy_run_pct;
	unsigned int vcpu_looks;         /* vcpu_run() calls */
	uint64_t run_ns, run_last_us;    /* vcpu_run()'s clock */
	_Atomic bool saving;             /* a save has started */
	unsigned int announces;          /* announce() calls */
	unsigned int settles;            /* settle() calls */
	uint64_t net_back_us;            /* what a fake settle() reports (one vif) */
	unsigned int announces_at_settle; /* announce() calls before the last settle() */
	bool with_nics;                  /* nics(): one vif per domain (MAC 00:16:3e:00:00:DOMID,
	                                    bridge xenbr0, vifDOMID.0, ip 10.0.0.DOMID);
	                                    false: no nics op at all */
	bool nics_no_ip;                 /* with_nics: the vif has no ip= setting */
	/* a fake xenconsoled, as Xen's io.c logs: with consoled_dir set, a restored domain's
	 * console is logged from its creation as DIR/guest-NAME.log (the name it has then,
	 * O_APPEND); consoled_reopen() reopens every log under the current names unless
	 * consoled_deaf (the signal is ignored) */
	const char *consoled_dir;        /* NULL: no xenconsoled runs */
	bool consoled_guest_logs;        /* --log=guest */
	bool consoled_deaf;
	unsigned int consoled_reopens;
};

/* A fake host with free_kib of free memory, Xen 4.17, HAP and no shadow paging. */
int migr_hv_fake_new(uint64_t free_kib, struct migr_hv_fake **fake_r);
/* Add a running domain; returns its domid. */
uint32_t migr_hv_fake_add(struct migr_hv_fake *f, const char *name, enum migr_guest_type t,
			  uint64_t pages, uint64_t dirty_per_round);
struct migr_fake_dom *migr_hv_fake_dom(struct migr_hv_fake *f, uint32_t domid);
/* The guest writes text on its console (to the fake xenconsoled's log, if it has one). */
int migr_hv_fake_console(struct migr_hv_fake *f, uint32_t domid, const char *text);
/* Number of domains (any state). */
unsigned int migr_hv_fake_count(struct migr_hv_fake *f);

/* ---- an in-memory xenstore (tests, dry runs) ---------------------------------------- */

/*
 * migr_xs_mem_new: an empty in-memory store with xenstore's semantics where the evacuation
 * code relies on them: writes create missing parents (empty value, the parent's
 * permissions), rm removes a subtree, watches fire for the path and below (queued; no
 * descriptor: fileno is -1), a new node inherits its parent's permissions.
 */
int migr_xs_mem_new(struct migr_xs **xs_r);
/* A write done by domain domid, checked as xenstored checks it (write permission on the
 * node, or on its parent to create it). -EACCES if refused. */
int migr_xs_mem_write_as(struct migr_xs *xs, unsigned domid, const char *path,
			 const char *val);
/* Pending watch events. */
unsigned migr_xs_mem_pending(struct migr_xs *xs);

/* ---- an in-memory etcd (etcd_fake.c) ----------------------------------------------- */

/*
 * etcd's semantics where migr relies on them: one revision counter for the store, a
 * key's create/mod revision and version, leases whose keys go when they are revoked or
 * expired (migr_etcd_fake_expire(): time does not pass by itself). Thread-safe.
 * The test's levers: down (every call -ECONNREFUSED: nothing reaches etcd),
 * lost_answers (the next N writes are applied, then -ETIMEDOUT: the answer is lost),
 * timeouts (the next N calls are not applied and give -ETIMEDOUT), and each call counted.
 */
#define MIGR_ETCD_FAKE_KEYS 64
struct migr_etcd_fake {
	struct migr_etcd e;
	pthread_mutex_t lock;
	int64_t revision, next_lease;
	struct {
		bool used;
		struct migr_etcd_kv kv;
	} keys[MIGR_ETCD_FAKE_KEYS];
	struct {
		int64_t id, ttl;
	} leases[16];
	bool down;
	unsigned int lost_answers, timeouts;
	unsigned int gets, puts, cas_calls, grants, keepalives, revokes, refused;
};
int migr_etcd_fake_new(struct migr_etcd_fake **f_r);
/* Lease id expires now (its keys are deleted). */
void migr_etcd_fake_expire(struct migr_etcd_fake *f, int64_t id);
/* The value of key (a copy, NUL-terminated; NULL when absent); free() it. */
char *migr_etcd_fake_value(struct migr_etcd_fake *f, const char *key);
void migr_etcd_fake_set_down(struct migr_etcd_fake *f, bool down);

#endif /* MIGR_TEST_FAKES_H */

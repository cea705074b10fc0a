/*
 * migr/hv.h: the seam between migr's algorithm and the hypervisor.
 *
 * Everything migr asks of Xen goes through one ops table, struct migr_hv_ops. The real
 * implementation (libmigr/xen_hv.c, the only code that includes Xen's headers) sits on
 * libxenctrl, libxenguest, libxenstore and libxl; a fake one (tests/fakes/hv_fake.c, not
 * in the library) lets the drivers run in unit tests with the same calls.
 *
 * Entry points:
 *   migr_hv_xen_open()   the real hypervisor (dom0 only); logs through the caller's logger
 *   migr_hv_close()      either of them; accepts NULL
 *
 * Every op returns 0 or a negative errno (or -MIGR_E_*), logs its own failures once with
 * the domid, and writes its out-parameters (ending in _r) only on success.
 */
#ifndef MIGR_HV_H
#define MIGR_HV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct xentoollog_logger;

enum migr_guest_type {
	MIGR_GUEST_UNKNOWN = 0,
	MIGR_GUEST_PV,
	MIGR_GUEST_PVH,
	MIGR_GUEST_HVM,
};

const char *migr_guest_type_name(enum migr_guest_type t);

#define MIGR_DOMNAME_MAX 64  /* including the NUL; xl's names fit comfortably */

struct migr_dom_info {
	uint32_t domid;
	char name[MIGR_DOMNAME_MAX];     /* "" when the domain has none */
	enum migr_guest_type type;
	uint64_t mem_kib;                /* currently allocated */
	uint64_t max_mem_kib;
	unsigned int vcpus;
	bool paused;
	bool shutdown;                   /* shut down (reason below), e.g. suspended */
	int shutdown_reason;             /* MIGR_SHUTDOWN_* when shutdown */
	bool dying;
	uint8_t uuid[16];                /* the domain's handle (xl's UUID); nil if none */
};

/* Shutdown reasons, the values of Xen's SHUTDOWN_* (public/sched.h). */
#define MIGR_SHUTDOWN_POWEROFF 0
#define MIGR_SHUTDOWN_REBOOT   1
#define MIGR_SHUTDOWN_SUSPEND  2
#define MIGR_SHUTDOWN_CRASH    3

struct migr_host_info {
	unsigned int xen_major, xen_minor;
	char xen_extra[32];              /* e.g. ".7" or "-rc" */
	uint64_t total_kib, free_kib;    /* host memory, free for new guests */
	bool cap_pv, cap_hvm;            /* guest kinds the hypervisor runs */
	bool cap_hap;                    /* log-dirty for PVH/HVM (hardware paging) */
	bool cap_shadow;                 /* shadow paging built in: log-dirty for PV */
};

/*
 * What the pre-copy loop reports at each of its two decision points (see FACTS.md:
 * call A at the start of a round with the dirty count from the last CLEAN, call B after
 * the live send with dirty_count = -1). total_written counts pages.
 */
struct migr_precopy_stats {
	unsigned int iteration;
	uint64_t total_written;
	int64_t dirty_count;
};

enum migr_precopy_decision {
	MIGR_PRECOPY_ABORT = -1,
	MIGR_PRECOPY_CONTINUE = 0,
	MIGR_PRECOPY_STOP = 1,
};

/*
 * Callbacks of a live save. All run on the thread that called ops->save().
 *   precopy: at each decision point; returns enum migr_precopy_decision.
 *   suspend: when pre-copy stops; must leave the guest suspended (shutdown reason
 *            suspend) and return 0, or return a negative errno (the save then fails and
 *            the guest is resumed by the caller).
 */
struct migr_save_callbacks {
	int (*precopy)(const struct migr_precopy_stats *st, void *arg);
	int (*suspend)(void *arg);
	void *arg;
};

struct migr_hv;

/* What restore() is given. */
struct migr_restore_opts {
	const char *config_json;         /* libxl JSON (the target's rules applied) */
	const char *name;                /* the domain's name while restored (NAME--incoming) */
	int fd;                          /* the libxl v2 stream */
	const char *vif_helper;          /* the fast vif hotplug helper (migr/vif.h) to run
	                                    instead of the stock vif-bridge; NULL: stock */
	bool late_devices;               /* disks and vifs added after the stream, as libxl
	                                    does, not to the new domain while the stream
	                                    comes */
	/* Called once every device meant to come early was added to the new domain while
	 * the stream still comes (its vifs exist), from a thread of restore()'s own; NULL:
	 * not told. Not called when any of them is left for after the stream. */
	void (*devices_added)(void *arg, uint32_t domid);
	void *devices_arg;
};

/* What a successful restore() reports. */
struct migr_restore_info {
	uint32_t domid;
	uint64_t devices_us;             /* from the first backend node of the new domain's
	                                    devices (vif, vbd) to the restore's end: device
	                                    set-up and hotplug; 0 when not measured */
	unsigned int fast_vifs;          /* vifs brought up by the fast helper */
	unsigned int early_vifs;         /* vifs added while the stream came (before the
	                                    blackout) */
	unsigned int early_disks;        /* disks added while the stream came */
	unsigned int late_devices;       /* devices meant to come early, added after the
	                                    stream */
	uint64_t early_devices_us;       /* the early devices' adds, hotplug included */
	uint64_t early_before_end_us;    /* how long before the restore's end they were done */
};

/* What settle() saw after the unpause. */
struct migr_settle {
	uint64_t net_back_us;            /* unpause to every vif connected; 0: not all were */
	uint64_t first_frame_us;         /* unpause to a frame from the guest on every vif;
	                                    0: not seen on all (within 2 s of net_back) */
	unsigned int vifs;               /* the guest's vifs */
	unsigned int vifs_connected;     /* of them, connected again in the wait */
	unsigned int scripts_put_back;   /* stock vif scripts named again */
};

/* The console daemon (xenconsoled) as this host runs it: whether it logs guests' consoles
 * and where (its --log and --log-dir, tools/console/daemon/main.c in Xen). */
struct migr_consoled {
	bool guest_logs;                 /* --log=guest or all */
	char log_dir[256];               /* --log-dir, else Xen's default /var/log/xen/console */
};

/* One network interface of a domain, for forwarding (migr/fwd.h). */
#define MIGR_HV_MAX_NICS 16
struct migr_hv_nic {
	uint8_t mac[6];
	char bridge[16];                 /* the bridge its vif is a port of ("" none known) */
	char vif[16];                    /* the backend device in dom0 (vifDOMID.DEVID) */
	char ip[128];                    /* the vif's ip= setting as configured ("" none) */
};

struct migr_hv_ops {
	/* Look a domain up by name or numeric id. -ENOENT if none. */
	int (*domain_find)(struct migr_hv *hv, const char *name_or_id, uint32_t *domid_r);
	/* State of one domain. -ENOENT if it does not exist. */
	int (*domain_info)(struct migr_hv *hv, uint32_t domid, struct migr_dom_info *info_r);
	/* Ids of the domains on this host (dom0 included), up to max; *n_r how many. */
	int (*domain_list)(struct migr_hv *hv, uint32_t *ids, unsigned int max, unsigned int *n_r);
	/* Version, memory and capabilities of this host. */
	int (*host_info)(struct migr_hv *hv, struct migr_host_info *info_r);
	/* The domain's configuration as libxl JSON (malloc'd, NUL-terminated, domid 0),
	 * as xl sends it. */
	int (*domain_config)(struct migr_hv *hv, uint32_t domid, char **json_r, size_t *len_r);
	/* What a libxl JSON config (untrusted: from the peer) says: guest name, type, and
	 * maximum memory. -EINVAL if it does not parse as a libxl domain config. */
	int (*config_info)(struct migr_hv *hv, const char *json, char name_r[MIGR_DOMNAME_MAX],
			   enum migr_guest_type *type_r, uint64_t *max_mem_kib_r);
	/* Live save into fd: log-dirty pre-copy, then cbs->suspend, then the final copy.
	 * Writes only the libxc stream (the caller frames it). On failure the guest is
	 * either still running or suspended: the caller resumes it. An abort returned by
	 * cbs->precopy gives -MIGR_E_ABORTED with the guest never suspended. */
	int (*save)(struct migr_hv *hv, uint32_t domid, int fd, const struct migr_save_callbacks *cbs);
	/* Ask the guest to suspend (suspend event channel if it published one, else
	 * xenstore control/shutdown) and wait until it reached shutdown reason suspend.
	 * -ETIMEDOUT (request cancelled) if it did not within timeout_ms. */
	int (*suspend)(struct migr_hv *hv, uint32_t domid, unsigned int timeout_ms);
	/* Resume a guest suspended by suspend() (a cancelled suspend: it continues). */
	int (*resume)(struct migr_hv *hv, uint32_t domid);
	/* Rename; old_name guards against a concurrent rename (NULL: don't check). */
	int (*rename)(struct migr_hv *hv, uint32_t domid, const char *old_name, const char *new_name);
	/* Create a domain named o->name from the libxl JSON config and restore it from the
	 * libxl v2 stream on o->fd (header through END). Left paused. On failure nothing is
	 * left. *info_r: the new domain and what its device set-up took. */
	int (*restore)(struct migr_hv *hv, const struct migr_restore_opts *o,
		       struct migr_restore_info *info_r);
	int (*unpause)(struct migr_hv *hv, uint32_t domid);
	int (*destroy)(struct migr_hv *hv, uint32_t domid);
	/* Pages dirtied since the last log-dirty CLEAN, read without clearing (PEEK with no
	 * bitmap). Safe to call from another thread while save() runs. -ENODATA when
	 * log-dirty is off. */
	int (*peek_dirty)(struct migr_hv *hv, uint32_t domid, uint64_t *dirty_r);
	/* The CPU time the domain's vCPUs have run, summed (ns; Xen's runstate "running"),
	 * and how many are online. Safe to call from the sampler's thread while save()
	 * runs. May be NULL (the sender's CPU guard is off). */
	int (*vcpu_run)(struct migr_hv *hv, uint32_t domid, uint64_t *run_ns_r,
			unsigned int *online_r);
	/* Tells the network where a guest restored here now is, as QEMU's announce-self
	 * does: a RARP with each vif's MAC as the source, sent on the vif's bridge, so that
	 * switches (and bridges) learn the new port before the guest's own traffic teaches
	 * them. Only for the domain of the last restore(); 0 with the frames sent in
	 * *frames_r (0 when it has no vif), or -errno when none could be sent. May be NULL. */
	int (*announce)(struct migr_hv *hv, uint32_t domid, unsigned int *frames_r);
	/* After the unpause of the last restore()'s domain (called once, after DONE and
	 * the announcements): waits until the guest's vifs are connected again (the
	 * guest's netfront reconnected to the new backends; at most 10 s from the unpause)
	 * and reports it in *s_r, then does the bookkeeping that could wait: the stock vif
	 * scripts go back in place of the fast hotplug helper. 0, or -errno when the scripts
	 * could not all be put back; *s_r is written either way (the network-back figures
	 * stand on their own). May be NULL. */
	int (*settle)(struct migr_hv *hv, uint32_t domid, struct migr_settle *s_r);
	/* The domain's CPU cap, in percent of one physical CPU summed over its vCPUs (0: no
	 * cap), as the scheduler holds it (credit2's or credit's `cap`): *cap_r gets the cap
	 * it had; with set, it then gets *set. The source's throttle. May be NULL. */
	int (*cpu_cap)(struct migr_hv *hv, uint32_t domid, const unsigned int *set,
		       unsigned int *cap_r);
	/* The domain's network interfaces (up to max, *n_r how many): MAC, bridge, backend
	 * vif and the configured ip=. May be NULL (no forwarding then). */
	int (*nics)(struct migr_hv *hv, uint32_t domid, struct migr_hv_nic *v, unsigned int max,
		    unsigned int *n_r);
	/* The guests' console logs (docs/phases.md, "settle"; libmigr/console_log.c). All
	 * three may be NULL (then a guest's log is never renamed).
	 * consoled: the console daemon running here and how it logs; -ENOENT when none runs.
	 * consoled_reopen: ask it to reopen every guest's log under the name the domain has
	 * now (SIGHUP); it does so at its own pace, after the call returns.
	 * consoled_holds: 1 when the daemon still has the file (st_dev, st_ino) open, 0 when
	 * not, -errno when that cannot be told. */
	int (*consoled)(struct migr_hv *hv, struct migr_consoled *c_r);
	int (*consoled_reopen)(struct migr_hv *hv);
	int (*consoled_holds)(struct migr_hv *hv, uint64_t dev, uint64_t ino);
	void (*close)(struct migr_hv *hv);
};

/*
 * One handle is used by one thread at a time, with two exceptions both implementations
 * allow: peek_dirty() from another thread while save() runs (the PEEK sampler), and
 * domain_find() from another thread while restore() runs (the receiver looks its domain
 * up during the restore's tail). migrd opens a handle per reception thread.
 */
struct migr_hv {
	const struct migr_hv_ops *ops;
	struct xentoollog_logger *lg;    /* may be NULL: then nothing is logged */
};

/* The real hypervisor. Needs dom0 privileges (privcmd, xenstore, libxl). */
int migr_hv_xen_open(struct xentoollog_logger *lg, struct migr_hv **hv_r);

void migr_hv_close(struct migr_hv *hv);

/*
 * Can this host migrate a guest of this type out (log-dirty) or in? Returns 0, or
 * -MIGR_E_UNSUPPORTED with a reason (static text) in *why_r.
 */
int migr_hv_can_send(const struct migr_host_info *h, enum migr_guest_type t, const char **why_r);
int migr_hv_can_receive(const struct migr_host_info *h, enum migr_guest_type t, const char **why_r);

#endif /* MIGR_HV_H */

/*
 * xen_hv.c: struct migr_hv_ops on a real Xen host (libxenctrl, libxenguest, libxenstore,
 * libxl). This file and its xen_*.c siblings are the only ones that include Xen headers.
 *
 * Entry point: migr_hv_xen_open(). The ops are described in migr/hv.h.
 *
 * What comes from where, and why:
 *   - save: xc_domain_save() directly (libxl cannot take a pre-copy policy), with migr's
 *     callbacks; the libxl v2 framing around it is the caller's (send.c).
 *   - suspend: as libxl_dom_suspend.c does it: the guest's suspend event channel if it
 *     published one, else xenstore control/shutdown = "suspend"; then wait for shutdown
 *     reason suspend. Both with a timeout; an unacknowledged request is withdrawn.
 *   - restore, rename, unpause, destroy, resume, config: libxl, so that the domain is an
 *     ordinary libxl domain on both ends.
 *   - peek_dirty: a second xc_interface used only by the sampling thread, PEEK with no
 *     bitmap (a PEEK walking the bitmap can be preempted and make libxc's CLEAN fail).
 *     vcpu_run (the sender's CPU guard) is on the same thread and handle.
 *   - host_info.cap_shadow: Xen's physinfo capability XEN_SYSCTL_PHYSCAP_shadow, which Xen
 *     sets exactly when it was built with CONFIG_SHADOW_PAGING (xen/arch/x86/sysctl.c).
 *     Reading it touches no guest.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/if_packet.h>

#include <xenctrl.h>
#include <xenguest.h>
#include <xenstore.h>
#include <xenevtchn.h>
#include <libxl.h>
#include <libxl_utils.h>
#include <xentoollog.h>

#include "libmigr.h"
#include "util.h"
#include "fwd_int.h"      /* the RARP frame of the announcements */

#define MAX_FAST_VIFS 16

struct net_watch;

struct xen_hv {
	struct migr_hv hv;
	uint32_t last_domid;     /* the domain of the last restore(), or INVALID_DOMID */
	/* its vifs, for announce() */
	unsigned int ann_n;
	uint8_t ann_mac[MAX_FAST_VIFS][6];
	char ann_bridge[MAX_FAST_VIFS][IFNAMSIZ];
	/* its stock vif scripts, put back by settle() */
	unsigned int pb_n;
	int pb_devid[MAX_FAST_VIFS];
	char *pb_script[MAX_FAST_VIFS];
	char *pb_helper;                 /* the helper named in their place (the stored
	                                    configuration is compared with it) */
	/* the vifs of the last restored domain (every one with a device id), and the
	 * watcher that notes when they are all connected again after the unpause */
	unsigned int nb_n;
	int nb_devid[MAX_FAST_VIFS];
	struct net_watch *nb;
	/* the restore's device watcher's xenstore connection: closing it (libxenstore ends
	 * its reader thread) took 33-47 ms in the lab, so it is closed in settle(), after
	 * DONE and the guest's network back (or at close()) */
	struct xs_handle *close_later;
	xc_interface *xch;       /* the driver's thread */
	xc_interface *xch_peek;  /* the sampling thread only */
	struct xs_handle *xsh;
	libxl_ctx *ctx;
	pid_t consoled_pid;      /* xenconsoled, as consoled() last found it (0: none) */
};

#define XH(h) ((struct xen_hv *)(h))

#define LOG(h, lvl, domid, fmt, ...) do { \
	if ((h)->lg) xtl_log((h)->lg, (lvl), -1, "migr", "domain %u: " fmt, \
			     (unsigned)(domid), ##__VA_ARGS__); } while (0)
#define LOGE(h, domid, fmt, ...) do { int e_ = errno; \
	LOG(h, XTL_ERROR, domid, fmt ": %s", ##__VA_ARGS__, strerror(e_)); errno = e_; } while (0)

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libxl's ERROR_* to a negative errno, once, here at the seam. */
static int from_libxl(int rc)
{
	switch (rc) {
	case 0: return 0;
	case ERROR_NOMEM: return -ENOMEM;
	case ERROR_INVAL: return -EINVAL;
	case ERROR_DOMAIN_NOTFOUND: return -ENOENT;
	case ERROR_TIMEDOUT: case ERROR_GUEST_TIMEDOUT: return -ETIMEDOUT;
	case ERROR_NOPARAVIRT: return -EOPNOTSUPP;
	default: return -EIO;
	}
}

static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

static int xen_domain_info(struct migr_hv *h, uint32_t domid, struct migr_dom_info *r)
{
	struct xen_hv *x = XH(h);
	xc_dominfo_t di;
	struct migr_dom_info info;
	char *name;

	if (xc_domain_getinfo(x->xch, domid, 1, &di) != 1 || di.domid != domid)
		return -ENOENT;
	memset(&info, 0, sizeof(info));
	info.domid = domid;
	info.mem_kib = (uint64_t)di.nr_pages * (XC_PAGE_SIZE / 1024);
	info.max_mem_kib = di.max_memkb;
	info.vcpus = di.max_vcpu_id + 1;
	info.paused = di.paused;
	info.shutdown = di.shutdown;
	info.shutdown_reason = di.shutdown ? (int)di.shutdown_reason : -1;
	info.dying = di.dying;
	memcpy(info.uuid, di.handle, sizeof(info.uuid));
	info.type = di.hvm ? MIGR_GUEST_HVM : MIGR_GUEST_PV;
	if (di.hvm) {
		/* Xen knows only "HVM container"; libxl records PVH vs HVM in xenstore, as
		 * libxl__domain_type() reads it. */
		char path[64], *t;
		snprintf(path, sizeof(path), "/libxl/%u/type", domid);
		t = xs_read(x->xsh, XBT_NULL, path, NULL);
		if (t && !strcmp(t, "pvh"))
			info.type = MIGR_GUEST_PVH;
		free(t);
	}

	name = libxl_domid_to_name(x->ctx, domid);
	if (name) {
		snprintf(info.name, sizeof(info.name), "%s", name);
		free(name);
	}
	*r = info;
	return 0;
}

static int xen_domain_find(struct migr_hv *h, const char *s, uint32_t *domid_r)
{
	struct xen_hv *x = XH(h);
	uint32_t domid;
	char *end;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*end && !errno && v < 0x7ff0) {
		xc_dominfo_t di;
		if (xc_domain_getinfo(x->xch, v, 1, &di) != 1 || di.domid != v)
			return -ENOENT;
		*domid_r = v;
		return 0;
	}
	if (libxl_name_to_domid(x->ctx, s, &domid))
		return -ENOENT;
	*domid_r = domid;
	return 0;
}

static int xen_domain_list(struct migr_hv *h, uint32_t *ids, unsigned int max, unsigned int *n_r)
{
	struct xen_hv *x = XH(h);
	xc_dominfo_t di[64];
	uint32_t next = 0;
	unsigned int n = 0;
	int got;

	while (n < max) {
		got = xc_domain_getinfo(x->xch, next, 64, di);
		if (got < 0)
			return neg_errno();
		if (got == 0)
			break;
		for (int i = 0; i < got && n < max; i++)
			ids[n++] = di[i].domid;
		next = di[got - 1].domid + 1;
		if (got < 64)
			break;
	}
	*n_r = n;
	return 0;
}

static int xen_host_info(struct migr_hv *h, struct migr_host_info *r)
{
	struct xen_hv *x = XH(h);
	struct migr_host_info info;
	xc_physinfo_t pi;
	xen_extraversion_t extra;
	int v;

	memset(&info, 0, sizeof(info));
	v = xc_version(x->xch, XENVER_version, NULL);
	if (v < 0) {
		LOGE(h, 0, "cannot read the Xen version");
		return neg_errno();
	}
	info.xen_major = (unsigned)v >> 16;
	info.xen_minor = (unsigned)v & 0xffff;
	memset(extra, 0, sizeof(extra));
	if (xc_version(x->xch, XENVER_extraversion, extra) == 0)
		snprintf(info.xen_extra, sizeof(info.xen_extra), "%.*s",
			 (int)sizeof(extra), extra);

	memset(&pi, 0, sizeof(pi));
	if (xc_physinfo(x->xch, &pi)) {
		LOGE(h, 0, "cannot read the host's physinfo");
		return neg_errno();
	}
	info.total_kib = (uint64_t)pi.total_pages * (XC_PAGE_SIZE / 1024);
	info.free_kib = ((uint64_t)pi.free_pages + pi.scrub_pages) * (XC_PAGE_SIZE / 1024);
	info.cap_pv = !!(pi.capabilities & XEN_SYSCTL_PHYSCAP_pv);
	info.cap_hvm = !!(pi.capabilities & XEN_SYSCTL_PHYSCAP_hvm);
	info.cap_hap = !!(pi.capabilities & XEN_SYSCTL_PHYSCAP_hap);
	info.cap_shadow = !!(pi.capabilities & XEN_SYSCTL_PHYSCAP_shadow);
	*r = info;
	return 0;
}

static int xen_domain_config(struct migr_hv *h, uint32_t domid, char **json_r, size_t *len_r)
{
	struct xen_hv *x = XH(h);
	libxl_domain_config cfg;
	char *json = NULL;
	int rc;

	libxl_domain_config_init(&cfg);
	rc = libxl_retrieve_domain_configuration(x->ctx, domid, &cfg, NULL);
	if (rc) {
		LOG(h, XTL_ERROR, domid, "cannot retrieve the domain's libxl configuration (%d)", rc);
		rc = from_libxl(rc);
		goto out;
	}
	cfg.c_info.domid = 0;   /* the target chooses; as xl sends it */
	json = libxl_domain_config_to_json(x->ctx, &cfg);
	if (!json) {
		LOG(h, XTL_ERROR, domid, "cannot convert the domain's configuration to JSON");
		rc = -ENOMEM;
		goto out;
	}
	*len_r = strlen(json) + 1;
	*json_r = json;
	json = NULL;
	rc = 0;
out:
	free(json);
	libxl_domain_config_dispose(&cfg);
	return rc;
}

static int xen_config_info(struct migr_hv *h, const char *json, char name_r[MIGR_DOMNAME_MAX],
			   enum migr_guest_type *type_r, uint64_t *max_mem_kib_r)
{
	struct xen_hv *x = XH(h);
	libxl_domain_config cfg;
	int rc;

	libxl_domain_config_init(&cfg);
	if (libxl_domain_config_from_json(x->ctx, &cfg, json)) {
		LOG(h, XTL_ERROR, 0, "domain configuration is not valid libxl JSON");
		rc = -EINVAL;
		goto out;
	}
	if (!cfg.c_info.name || strlen(cfg.c_info.name) >= MIGR_DOMNAME_MAX) {
		LOG(h, XTL_ERROR, 0, "domain configuration has no usable name");
		rc = -EINVAL;
		goto out;
	}
	switch (cfg.b_info.type) {
	case LIBXL_DOMAIN_TYPE_PV:  *type_r = MIGR_GUEST_PV; break;
	case LIBXL_DOMAIN_TYPE_PVH: *type_r = MIGR_GUEST_PVH; break;
	case LIBXL_DOMAIN_TYPE_HVM: *type_r = MIGR_GUEST_HVM; break;
	default: *type_r = MIGR_GUEST_UNKNOWN; break;
	}
	snprintf(name_r, MIGR_DOMNAME_MAX, "%s", cfg.c_info.name);
	*max_mem_kib_r = cfg.b_info.max_memkb == LIBXL_MEMKB_DEFAULT ? 0 : cfg.b_info.max_memkb;
	rc = 0;
out:
	libxl_domain_config_dispose(&cfg);
	return rc;
}

/* ---- save ---------------------------------------------------------------------------- */

struct save_ctx {
	struct migr_hv *hv;
	uint32_t domid;
	const struct migr_save_callbacks *cbs;
	bool aborted;
	int suspend_rc;
};

static int save_precopy(struct precopy_stats st, void *data)
{
	struct save_ctx *s = data;
	struct migr_precopy_stats m = {
		.iteration = st.iteration,
		.total_written = st.total_written,
		.dirty_count = st.dirty_count,
	};
	int d = s->cbs->precopy ? s->cbs->precopy(&m, s->cbs->arg) : MIGR_PRECOPY_CONTINUE;

	switch (d) {
	case MIGR_PRECOPY_STOP:
		return XGS_POLICY_STOP_AND_COPY;
	case MIGR_PRECOPY_CONTINUE:
		return XGS_POLICY_CONTINUE_PRECOPY;
	default:
		s->aborted = true;
		return XGS_POLICY_ABORT;
	}
}

/* libxc wants nonzero for success here (xg_sr_save.c: "return 1 for success"). */
static int save_suspend(void *data)
{
	struct save_ctx *s = data;

	s->suspend_rc = s->cbs->suspend ? s->cbs->suspend(s->cbs->arg) : -EINVAL;
	return s->suspend_rc == 0;
}

/* PVH is saved as "x86 HVM" and libxc asserts this callback exists; a PVH guest has no
 * device model whose log-dirty would need switching. */
static int save_switch_qemu_logdirty(uint32_t domid, unsigned enable, void *data)
{
	return 0;
}

static int xen_save(struct migr_hv *h, uint32_t domid, int fd, const struct migr_save_callbacks *cbs)
{
	struct xen_hv *x = XH(h);
	struct save_ctx s = { .hv = h, .domid = domid, .cbs = cbs };
	struct save_callbacks xcb;
	unsigned int nr_vnodes = 0, nr_vmemranges = 0, nr_vcpus = 0;
	int ret;

	/* As libxl does: the stream does not carry vNUMA, so a guest with any vNUMA
	 * configuration cannot be saved faithfully. */
	ret = xc_domain_getvnuma(x->xch, domid, &nr_vnodes, &nr_vmemranges, &nr_vcpus,
				 NULL, NULL, NULL);
	if (ret != -1 || errno != EOPNOTSUPP) {
		LOG(h, XTL_ERROR, domid, "cannot migrate a guest with vNUMA configured");
		return -MIGR_E_UNSUPPORTED;
	}

	memset(&xcb, 0, sizeof(xcb));
	xcb.suspend = save_suspend;
	xcb.precopy_policy = save_precopy;
	xcb.switch_qemu_logdirty = save_switch_qemu_logdirty;
	xcb.data = &s;

	errno = 0;
	ret = xc_domain_save(x->xch, fd, domid, XCFLAGS_LIVE, &xcb, XC_STREAM_PLAIN, -1);
	if (ret == 0)
		return 0;
	if (s.aborted)
		return -MIGR_E_ABORTED;
	if (s.suspend_rc)
		return s.suspend_rc;
	ret = errno ? -errno : -EIO;
	LOG(h, XTL_ERROR, domid, "live save failed: %s", strerror(-ret));
	return ret;
}

/* ---- suspend --------------------------------------------------------------------------- */

/* 1: suspended, 0: not (yet), <0: gone or shut down for another reason. */
static int check_suspended(struct xen_hv *x, uint32_t domid)
{
	xc_dominfo_t di;

	if (xc_domain_getinfo(x->xch, domid, 1, &di) != 1 || di.domid != domid) {
		LOG(&x->hv, XTL_ERROR, domid, "guest vanished while suspending");
		return -ESRCH;
	}
	if (!di.shutdown)
		return 0;
	if (di.shutdown_reason != SHUTDOWN_suspend) {
		LOG(&x->hv, XTL_ERROR, domid, "guest shut down with reason %u while suspending",
		    di.shutdown_reason);
		return -ESRCH;
	}
	return 1;
}

/* Wait for a xenstore watch event or the poll interval; returns nonzero on a fired
 * watch (its events are drained). */
static void xs_wait(struct xs_handle *xsh, int ms)
{
	struct pollfd p = { .fd = xs_fileno(xsh), .events = POLLIN };
	char **ev;

	if (poll(&p, 1, ms) > 0)
		while ((ev = xs_check_watch(xsh)) != NULL)
			free(ev);
}

/* Through the suspend event channel: notify, wait for the guest's notification or the
 * shutdown, bounded by deadline. */
static int suspend_evtchn(struct xen_hv *x, uint32_t domid, int port, uint64_t deadline)
{
	xenevtchn_handle *xce;
	int lport, lockfd = -1, rc;

	xce = xenevtchn_open(NULL, 0);
	if (!xce) {
		LOGE(&x->hv, domid, "cannot open the event channel device");
		return neg_errno();
	}
	lport = xc_suspend_evtchn_init_exclusive(x->xch, xce, domid, port, &lockfd);
	if (lport < 0) {
		LOG(&x->hv, XTL_ERROR, domid, "cannot bind the suspend event channel %d", port);
		rc = -EIO;
		goto out_close;
	}
	if (xenevtchn_notify(xce, lport) < 0) {
		LOGE(&x->hv, domid, "cannot notify the suspend event channel");
		rc = neg_errno();
		goto out_release;
	}
	for (;;) {
		rc = check_suspended(x, domid);
		if (rc)
			break;
		uint64_t t = now_ms();
		if (t >= deadline) {
			LOG(&x->hv, XTL_ERROR, domid, "guest did not suspend in time (event channel)");
			rc = -ETIMEDOUT;
			break;
		}
		struct pollfd p = { .fd = xenevtchn_fd(xce), .events = POLLIN };
		if (poll(&p, 1, (int)(deadline - t < 20 ? deadline - t : 20)) > 0) {
			xenevtchn_port_or_error_t pp = xenevtchn_pending(xce);
			if (pp >= 0)
				xenevtchn_unmask(xce, pp);
		}
	}
	rc = rc > 0 ? 0 : rc;
out_release:
	xc_suspend_evtchn_release(x->xch, xce, domid, lport, &lockfd);
out_close:
	xenevtchn_close(xce);
	return rc;
}

static bool pvcontrol_acked(const char *v)
{
	return !v || strcmp(v, "suspend");
}

/* Withdraw an unacknowledged request in a transaction, unless the guest acked at the
 * last moment. Returns 1 if it had acked after all. */
static int pvcontrol_cancel(struct xen_hv *x, const char *path)
{
	for (int tries = 0; tries < 16; tries++) {
		xs_transaction_t t = xs_transaction_start(x->xsh);
		if (t == XBT_NULL)
			return -EIO;
		char *v = xs_read(x->xsh, t, path, NULL);
		bool acked = pvcontrol_acked(v);
		free(v);
		if (acked) {
			xs_transaction_end(x->xsh, t, true);
			return 1;
		}
		if (!xs_write(x->xsh, t, path, "", 0)) {
			xs_transaction_end(x->xsh, t, true);
			return -EIO;
		}
		if (xs_transaction_end(x->xsh, t, false))
			return 0;
		if (errno != EAGAIN)
			return -EIO;
	}
	return -EIO;
}

/*
 * Through xenstore: control/shutdown = "suspend"; the guest acknowledges by clearing it,
 * then shuts down with reason suspend (@releaseDomain fires). Both watches are set on a
 * handle of their own before the request and go with it when it is closed, so that once
 * the guest has suspended no xenstore round trip (an unwatch) stands between it and the
 * final send.
 */
static int suspend_xenstore(struct xen_hv *x, uint32_t domid, uint64_t deadline)
{
	struct xs_handle *sxh;
	char *dompath = NULL, *path = NULL;
	int rc;

	sxh = xs_open(0);
	if (!sxh) {
		LOGE(&x->hv, domid, "cannot connect to xenstore");
		return neg_errno();
	}
	dompath = xs_get_domain_path(sxh, domid);
	if (!dompath || asprintf(&path, "%s/control/shutdown", dompath) < 0) {
		path = NULL;
		rc = -ENOMEM;
		goto out;
	}
	if (!xs_watch(sxh, path, "migr-suspend") ||
	    !xs_watch(sxh, "@releaseDomain", "migr-release")) {
		LOGE(&x->hv, domid, "cannot watch %s and @releaseDomain", path);
		rc = neg_errno();
		goto out;
	}
	if (!xs_write(sxh, XBT_NULL, path, "suspend", strlen("suspend"))) {
		LOGE(&x->hv, domid, "cannot write %s", path);
		rc = neg_errno();
		goto out;
	}
	/* The guest acknowledges by clearing the node. */
	for (;;) {
		char *v = xs_read(sxh, XBT_NULL, path, NULL);
		bool acked = pvcontrol_acked(v);
		free(v);
		if (acked)
			break;
		uint64_t t = now_ms();
		if (t >= deadline) {
			rc = pvcontrol_cancel(x, path);
			if (rc == 1)
				break;
			LOG(&x->hv, XTL_ERROR, domid,
			    "guest did not acknowledge the suspend request, withdrawn");
			rc = -ETIMEDOUT;
			goto out;
		}
		xs_wait(sxh, (int)(deadline - t < 50 ? deadline - t : 50));
	}
	for (;;) {
		rc = check_suspended(x, domid);
		if (rc)
			break;
		uint64_t t = now_ms();
		if (t >= deadline) {
			LOG(&x->hv, XTL_ERROR, domid, "guest acknowledged but did not suspend in time");
			rc = -ETIMEDOUT;
			goto out;
		}
		xs_wait(sxh, (int)(deadline - t < 20 ? deadline - t : 20));
	}
	rc = rc > 0 ? 0 : rc;
out:
	xs_close(sxh);   /* the watches end with the connection */
	free(path);
	free(dompath);
	return rc;
}

static int xen_suspend(struct migr_hv *h, uint32_t domid, unsigned int timeout_ms)
{
	struct xen_hv *x = XH(h);
	uint64_t deadline = now_ms() + timeout_ms;
	struct migr_dom_info di;
	int port, rc;

	rc = xen_domain_info(h, domid, &di);
	if (rc)
		return rc;
	if (di.type == MIGR_GUEST_HVM) {
		LOG(h, XTL_ERROR, domid, "HVM guests are not supported");
		return -MIGR_E_UNSUPPORTED;
	}
	rc = check_suspended(x, domid);
	if (rc)
		return rc > 0 ? 0 : rc;

	port = xs_suspend_evtchn_port(domid);
	if (port >= 0)
		return suspend_evtchn(x, domid, port, deadline);
	return suspend_xenstore(x, domid, deadline);
}

/* ---- the rest of the life cycle ------------------------------------------------------- */

static int xen_resume(struct migr_hv *h, uint32_t domid)
{
	int rc = libxl_domain_resume(XH(h)->ctx, domid, 1, NULL);
	if (rc)
		LOG(h, XTL_ERROR, domid, "resume failed (%d)", rc);
	return from_libxl(rc);
}

static int xen_rename(struct migr_hv *h, uint32_t domid, const char *old, const char *new)
{
	int rc = libxl_domain_rename(XH(h)->ctx, domid, old, new);
	if (rc)
		LOG(h, XTL_ERROR, domid, "rename %s -> %s failed (%d)", old ? old : "?", new, rc);
	return from_libxl(rc);
}

/*
 * Device set-up watcher: while libxl restores, a thread watches the backend directories
 * of vif and vbd devices and notes when the first node of a domain that did not exist
 * before the restore appears. libxl adds devices after the stream, so from that moment to
 * the end of the restore is device set-up (backends, hotplug scripts).
 */
struct dev_watch {
	struct xs_handle *xsh;
	pthread_t th;
	bool running;
	volatile bool stop;
	uint64_t first_us;
	uint32_t before[256];
	unsigned int n_before;
	bool skip;                /* the devices come early: none is the restore's */
	int wake_fd;              /* eventfd: dev_watch_stop() ends the thread's wait at once */
};


static const char *const dev_paths[] = {
	"/local/domain/0/backend/vif", "/local/domain/0/backend/vbd", "/local/domain/0/backend/qdisk",
};

static void dev_event(struct dev_watch *w, const char *path)
{
	for (size_t i = 0; i < sizeof(dev_paths) / sizeof(dev_paths[0]); i++) {
		size_t l = strlen(dev_paths[i]);
		unsigned long d;
		char *end;

		if (strncmp(path, dev_paths[i], l) || path[l] != '/')
			continue;
		if (w->skip)
			return;
		d = strtoul(path + l + 1, &end, 10);
		if (end == path + l + 1)
			return;
		for (unsigned int k = 0; k < w->n_before; k++)
			if (w->before[k] == d)
				return;
		if (!w->first_us)
			w->first_us = migr__now_us();
		return;
	}
}

static void *dev_watch_main(void *arg)
{
	struct dev_watch *w = arg;
	struct pollfd p[2] = {
		{ .fd = xs_fileno(w->xsh), .events = POLLIN },
		{ .fd = w->wake_fd, .events = POLLIN },
	};
	char **ev;

	/* The stop comes at the restore's end, in the blackout: it wakes the poll (the
	 * timeout is only a fallback, for a wake-up that could not be set up). */
	while (!w->stop) {
		if (poll(p, w->wake_fd >= 0 ? 2 : 1, 100) <= 0 || w->stop)
			continue;
		while ((ev = xs_check_watch(w->xsh)) != NULL) {
			dev_event(w, ev[XS_WATCH_PATH]);
			free(ev);
		}
	}
	return NULL;
}

static int xen_domain_list(struct migr_hv *h, uint32_t *ids, unsigned int max, unsigned int *n_r);

static void dev_watch_start(struct xen_hv *x, struct dev_watch *w, bool skip)
{
	memset(w, 0, sizeof(*w));
	w->skip = skip;
	w->wake_fd = -1;
	if (xen_domain_list(&x->hv, w->before, 256, &w->n_before))
		return;
	w->xsh = xs_open(0);
	if (!w->xsh)
		return;
	for (size_t i = 0; i < sizeof(dev_paths) / sizeof(dev_paths[0]); i++)
		xs_watch(w->xsh, dev_paths[i], "migr-dev");
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pthread_create(&w->th, NULL, dev_watch_main, w) == 0)
		w->running = true;
}

static void close_now(struct xen_hv *x)
{
	if (x->close_later)
		xs_close(x->close_later);
	x->close_later = NULL;
}

/* Keeps xsh to be closed by close_now(), closing the one kept before. */
static void close_later(struct xen_hv *x, struct xs_handle *xsh)
{
	close_now(x);
	x->close_later = xsh;
}

/* Ends the watcher; its xenstore connection is left in w->xsh for the caller to close. */
static uint64_t dev_watch_stop(struct dev_watch *w, uint64_t end_us)
{
	uint64_t one = 1;

	if (w->running) {
		w->stop = true;
		if (w->wake_fd >= 0 && write(w->wake_fd, &one, sizeof(one)) < 0) {
			/* cannot fail on a fresh eventfd; the poll's timeout ends the wait */
		}
		pthread_join(w->th, NULL);
	}
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	w->wake_fd = -1;
	return w->first_us && end_us > w->first_us ? end_us - w->first_us : 0;
}

/*
 * Network back: from the unpause, a thread watches the backend state of the restored
 * domain's vifs and notes when every one is XenbusStateConnected (4), i.e. the guest's
 * netfront reconnected to the new host's netback after its resume (bounded by
 * NET_BACK_WAIT_US). It then waits, at most FIRST_FRAME_WAIT_US more, for the guest's first
 * frame on each vif (its backend netdev's rx_packets grows: netfront's own announcement or
 * any reply), which is when the guest is back on the network. settle() collects both; its
 * put-back runs only after, so that dom0's work stays out of the guest's way until then.
 */
#define NET_BACK_WAIT_US    10000000u
#define FIRST_FRAME_WAIT_US  2000000u
#define FIRST_FRAME_POLL_MS 10

struct net_watch {
	struct xs_handle *xsh;
	pthread_t th;
	volatile bool stop;
	uint32_t domid;
	unsigned int n, connected;
	int devid[MAX_FAST_VIFS];
	char ifname[MAX_FAST_VIFS][IFNAMSIZ];
	uint64_t rx0[MAX_FAST_VIFS];           /* rx_packets at the unpause (UINT64_MAX: unread) */
	uint64_t t0_us, back_us, frame_us;
};

static unsigned int vifs_connected(struct net_watch *w)
{
	unsigned int c = 0;
	char path[96];

	for (unsigned int i = 0; i < w->n; i++) {
		unsigned int len = 0;
		char *v;

		snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u/%d/state", w->domid,
			 w->devid[i]);
		v = xs_read(w->xsh, XBT_NULL, path, &len);
		if (v && len == 1 && v[0] == '4')
			c++;
		free(v);
	}
	return c;
}

/* Frames the guest sent on backend netdev NAME (its rx side), UINT64_MAX if unreadable. */
static uint64_t vif_rx_packets(const char *name)
{
	uint64_t v;

	return migr__netdev_attr(name, "statistics/rx_packets", &v) || v == UINT64_MAX ?
		UINT64_MAX : v;
}

/* Every vif has carried a frame from the guest since the unpause. */
static bool vifs_heard(struct net_watch *w)
{
	for (unsigned int i = 0; i < w->n; i++) {
		uint64_t rx = vif_rx_packets(w->ifname[i]);

		if (rx == UINT64_MAX || w->rx0[i] == UINT64_MAX || rx <= w->rx0[i])
			return false;
	}
	return true;
}

static void *net_watch_main(void *arg)
{
	struct net_watch *w = arg;
	struct pollfd p = { .fd = xs_fileno(w->xsh), .events = POLLIN };
	bool look = true;
	char **ev;

	/* the backends' states, read again only when the watch fires */
	while (!w->stop) {
		uint64_t t = migr__now_us();

		if (look) {
			w->connected = vifs_connected(w);
			look = false;
		}
		if (w->connected == w->n) {
			w->back_us = t - w->t0_us;
			break;
		}
		if (t - w->t0_us >= NET_BACK_WAIT_US)
			return NULL;
		if (poll(&p, 1, 100) > 0)
			while ((ev = xs_check_watch(w->xsh)) != NULL) {
				free(ev);
				look = true;
			}
	}
	/* the guest's first frames */
	while (!w->stop && w->back_us) {
		uint64_t t = migr__now_us();

		if (vifs_heard(w)) {
			w->frame_us = t - w->t0_us;
			break;
		}
		if (t - w->t0_us >= w->back_us + FIRST_FRAME_WAIT_US)
			break;
		poll(NULL, 0, FIRST_FRAME_POLL_MS);
	}
	return NULL;
}

static void net_watch_start(struct xen_hv *x, uint32_t domid, uint64_t t0_us)
{
	struct net_watch *w;
	char path[64];

	if (x->nb || !x->nb_n || domid != x->last_domid)
		return;
	w = calloc(1, sizeof(*w));
	if (!w)
		return;
	w->domid = domid;
	w->t0_us = t0_us;
	w->n = x->nb_n;
	memcpy(w->devid, x->nb_devid, sizeof(w->devid));
	w->xsh = xs_open(0);
	for (unsigned int i = 0; i < w->n && w->xsh; i++) {
		/* netback's name for the device, unless the configuration renamed it */
		unsigned int len = 0;
		char *v;

		snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u/%d/vifname", domid,
			 w->devid[i]);
		v = xs_read(w->xsh, XBT_NULL, path, &len);
		if (v && len > 0 && len < IFNAMSIZ && !strchr(v, '/'))
			snprintf(w->ifname[i], IFNAMSIZ, "%s", v);
		else
			snprintf(w->ifname[i], IFNAMSIZ, "vif%u.%d", domid, w->devid[i]);
		free(v);
		w->rx0[i] = vif_rx_packets(w->ifname[i]);
	}
	snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u", domid);
	if (!w->xsh || !xs_watch(w->xsh, path, "migr-netback") ||
	    pthread_create(&w->th, NULL, net_watch_main, w)) {
		if (w->xsh)
			xs_close(w->xsh);
		free(w);
		return;
	}
	x->nb = w;
}

/* Waits for the watcher (it ends by itself: all connected or the wait is over) unless
 * abandon; fills s_r if given. */
static void net_watch_end(struct xen_hv *x, bool abandon, struct migr_settle *s_r)
{
	struct net_watch *w = x->nb;

	if (!w)
		return;
	if (abandon)
		w->stop = true;
	pthread_join(w->th, NULL);
	if (s_r) {
		s_r->vifs = w->n;
		s_r->vifs_connected = w->connected;
		s_r->net_back_us = w->back_us;
		s_r->first_frame_us = w->frame_us;
	}
	xs_close(w->xsh);
	free(w);
	x->nb = NULL;
}

/*
 * The fast vif hotplug path (migr/vif.h). Before the restore, every vif whose script is
 * the stock vif-bridge gets h->vif_helper instead (its original kept in orig[devid slot]).
 * settle(), once the guest runs, puts the original back into the two xenstore nodes libxl
 * reads the script from (the backend's, for detach and destroy; its own, for the
 * configuration it reports) and into the stored configuration, so that nothing of migr is
 * left in the domain. That is bookkeeping: it waits until the guest is back on the network
 * rather than lengthen the blackout. Should it never run, the helper named there hands
 * every action but online (detach, destroy) to the stock script.
 */
static unsigned int vif_helper_substitute(const char *vif_helper, libxl_domain_config *cfg,
                                          char **orig)
{
	unsigned int n = 0;

	if (!vif_helper || access(vif_helper, X_OK))
		return 0;
	for (int i = 0; i < cfg->num_nics && i < MAX_FAST_VIFS; i++) {
		libxl_device_nic *nic = &cfg->nics[i];
		char *helper;

		if (nic->nictype == LIBXL_NIC_TYPE_VIF_IOEMU ||
		    !migr_vif_script_is_stock_bridge(nic->script))
			continue;
		helper = strdup(vif_helper);
		if (!helper)
			break;
		orig[i] = nic->script ? nic->script : strdup(MIGR_VIF_STOCK_SCRIPT);
		nic->script = helper;
		n++;
	}
	return n;
}

static void put_back_clear(struct xen_hv *x)
{
	for (unsigned int i = 0; i < x->pb_n; i++) {
		free(x->pb_script[i]);
		x->pb_script[i] = NULL;
	}
	x->pb_n = 0;
}

/* Keeps what settle() will put back: the original script of each vif given the helper
 * (orig[] is taken over). */
static void put_back_keep(struct xen_hv *x, uint32_t domid, const libxl_domain_config *cfg,
                          char **orig)
{
	put_back_clear(x);
	for (int i = 0; i < cfg->num_nics && i < MAX_FAST_VIFS; i++) {
		if (!orig[i])
			continue;
		if (cfg->nics[i].devid < 0) {
			LOG(&x->hv, XTL_WARN, domid, "vif %d has no device id: its script node is "
			    "left naming migr's helper", i);
			continue;
		}
		x->pb_devid[x->pb_n] = cfg->nics[i].devid;
		x->pb_script[x->pb_n++] = orig[i];
		orig[i] = NULL;
	}
}

/*
 * The console daemon: xenconsoled, found by its command name among root's processes
 * (its pid is remembered for the two calls that follow), its command line read from
 * /proc (migr__consoled_args()). What it does with the logs is in console_log.c.
 */
static bool is_consoled(long pid)
{
	char path[64], comm[32] = "";
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if (!(f = fopen(path, "re")))
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = 0;
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%ld", pid);
	return !strcmp(comm, "xenconsoled\n") && !stat(path, &st) && st.st_uid == 0;
}

static int xen_consoled(struct migr_hv *h, struct migr_consoled *c_r)
{
	struct xen_hv *x = XH(h);
	DIR *d = opendir("/proc");
	struct dirent *e;
	long found = 0;
	char path[64], *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (!*end && pid > 1 && is_consoled(pid)) {
			found = pid;
			break;
		}
	}
	closedir(d);
	x->consoled_pid = (pid_t)found;
	if (!found)
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", found);
	if (!(f = fopen(path, "re")))
		return -errno;
	buf = malloc(4096);
	if (buf)
		len = fread(buf, 1, 4096, f);
	rc = !buf ? -ENOMEM : ferror(f) ? -EIO : len == 4096 ? -E2BIG : 0;
	fclose(f);
	if (!rc)
		rc = migr__consoled_args(buf, len, c_r);
	free(buf);
	return rc;   /* the caller says what it gives up */
}

static int xen_consoled_reopen(struct migr_hv *h)
{
	struct xen_hv *x = XH(h);

	/* the pid again: it must still be the daemon consoled() found */
	if (!x->consoled_pid || !is_consoled(x->consoled_pid))
		return -ESRCH;
	return kill(x->consoled_pid, SIGHUP) ? -errno : 0;
}

static int xen_consoled_holds(struct migr_hv *h, uint64_t dev, uint64_t ino)
{
	struct xen_hv *x = XH(h);
	char path[64];
	struct dirent *e;
	DIR *d;
	int held = 0;

	if (!x->consoled_pid)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)x->consoled_pid);
	if (!(d = opendir(path)))
		return errno == ENOENT ? 0 : -errno;   /* gone: it holds nothing */
	while (!held && (e = readdir(d))) {
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		if (!fstatat(dirfd(d), e->d_name, &st, 0) && (uint64_t)st.st_dev == dev &&
		    (uint64_t)st.st_ino == ino)
			held = 1;
	}
	closedir(d);
	return held;
}

/* Network back (waits for the watcher started at the unpause), then the stock scripts
 * back into the backend's and libxl's xenstore nodes and into the configuration libxl
 * stores for the domain (xl list -l, later migrations). */
static int xen_settle(struct migr_hv *h, uint32_t domid, struct migr_settle *s_r)
{
	struct xen_hv *x = XH(h);
	uint8_t *data = NULL;
	int len = 0, rc, n = 0;
	libxl_domain_config stored;
	char path[128];

	memset(s_r, 0, sizeof(*s_r));
	if (x->nb && x->nb->domid == domid)
		net_watch_end(x, false, s_r);
	close_now(x);   /* after DONE and the guest's network back, out of its way */
	if (domid != x->last_domid || !x->pb_n)
		return 0;
	for (unsigned int i = 0; i < x->pb_n; i++) {
		const char *script = x->pb_script[i];

		snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u/%d/script", domid,
			 x->pb_devid[i]);
		if (!xs_write(x->xsh, XBT_NULL, path, script, strlen(script)))
			LOGE(h, domid, "cannot put back %s", path);
		snprintf(path, sizeof(path), "/libxl/%u/device/vif/%d/script", domid,
			 x->pb_devid[i]);
		if (!xs_write(x->xsh, XBT_NULL, path, script, strlen(script)))
			LOGE(h, domid, "cannot put back %s", path);
	}

	rc = libxl_userdata_retrieve(x->ctx, domid, "libxl-json", &data, &len);
	if (rc || !data || len <= 0) {
		LOG(h, XTL_WARN, domid, "cannot read the stored configuration to put back the "
		    "vif scripts (%d)", rc);
		free(data);
		put_back_clear(x);
		return -EIO;
	}
	libxl_domain_config_init(&stored);
	rc = -EINVAL;
	if (data[len - 1] == 0 &&
	    libxl_domain_config_from_json(x->ctx, &stored, (const char *)data) == 0) {
		char *json;

		for (int i = 0; i < stored.num_nics; i++)
			for (unsigned int k = 0; k < x->pb_n; k++)
				if (stored.nics[i].devid == x->pb_devid[k] && stored.nics[i].script &&
				    !strcmp(stored.nics[i].script, x->pb_helper)) {
					free(stored.nics[i].script);
					stored.nics[i].script = strdup(x->pb_script[k]);
					n++;
				}
		json = libxl_domain_config_to_json(x->ctx, &stored);
		rc = json && !libxl_userdata_store(x->ctx, domid, "libxl-json",
		                                   (const uint8_t *)json, (int)strlen(json) + 1)
		     ? n : -EIO;
		if (rc < 0)
			LOG(h, XTL_WARN, domid, "cannot store the configuration with the stock "
			    "vif scripts put back");
		free(json);
	} else {
		LOG(h, XTL_WARN, domid, "the stored configuration is not valid libxl JSON");
	}
	libxl_domain_config_dispose(&stored);
	free(data);
	s_r->scripts_put_back = rc > 0 ? (unsigned int)rc : 0;
	put_back_clear(x);
	return rc < 0 ? rc : 0;
}

/*
 * Devices before the blackout (docs/phases.md, "Devices early"). libxl builds a restored
 * domain's devices only after the stream's last byte (libxl_create.c, domcreate_rebuild_done
 * and domcreate_attach_devices), so the backends' probes and the hotplug scripts fell inside
 * the blackout. Instead the restore gets a configuration without the disks and vifs, and a
 * thread adds them with libxl's device API (disks first, as libxl does) to the paused
 * NAME--incoming domain as soon as it exists, while pre-copy goes on. libxl_device_nic_add() records the device in the domain's stored
 * configuration and fails without one (libxl_device.c, libxl__device_add_async: "failed to
 * retrieve domain configuration"), and libxl stores it only at the restore's end
 * (domcreate_complete), so the thread stores the configuration without vifs first; at the
 * end libxl writes its own (without them) and restore() stores the whole one, so that the
 * domain is an ordinary libxl domain with its vifs (`xl network-list`, `xl migrate`). A vif
 * the thread did not add (the domain was never seen, or an add failed) is added after the
 * stream, where libxl would have added it (and counted: late_devices).
 */
static int xen_destroy(struct migr_hv *h, uint32_t domid);

struct early_devs {
	struct xen_hv *x;
	const char *name;
	void (*added_fn)(void *arg, uint32_t domid);   /* migr_restore_opts' devices_added */
	void *added_arg;
	const char *json;            /* the configuration without them, to store first */
	libxl_device_disk *disks;    /* the configuration's disks and vifs (taken out of it), */
	int n_disks;                 /* added in that order, as libxl adds them */
	libxl_device_nic *nics;
	int n_nics;
	bool added[2 * MAX_FAST_VIFS];  /* the disks', then the vifs' */
	uint32_t before[256];        /* domains that existed before the restore */
	unsigned int n_before;
	pthread_t th;
	bool running;
	volatile bool stop;
	uint32_t domid;              /* the new domain, once found */
	uint64_t t_found_us, t_done_us;
};

/* Adds device k of e (the disks first, then the vifs) to domid; names it in what. */
static int early_add(struct xen_hv *x, uint32_t domid, struct early_devs *e, int k,
		     char *what, size_t len)
{
	if (k < e->n_disks) {
		snprintf(what, len, "disk %s", e->disks[k].vdev ? e->disks[k].vdev : "?");
		return libxl_device_disk_add(x->ctx, domid, &e->disks[k], NULL);
	}
	k -= e->n_disks;
	snprintf(what, len, "vif %d", e->nics[k].devid);
	return libxl_device_nic_add(x->ctx, domid, &e->nics[k], NULL);
}

static void *early_main(void *arg)
{
	struct early_devs *e = arg;
	struct xen_hv *x = e->x;
	uint32_t domid;
	int rc = 0;

	while (!e->stop) {
		bool old = false;

		if (libxl_name_to_domid(x->ctx, e->name, &domid) == 0) {
			for (unsigned int k = 0; k < e->n_before; k++)
				old |= e->before[k] == domid;
			if (!old)
				break;
		}
		usleep(50000);
	}
	if (e->stop)
		return NULL;
	e->domid = domid;
	e->t_found_us = migr__now_us();
	if (libxl_userdata_store(x->ctx, domid, "libxl-json", (const uint8_t *)e->json,
				 (int)strlen(e->json) + 1)) {
		LOG(&x->hv, XTL_WARN, domid, "cannot store a configuration to add the devices "
		    "to before the blackout; they come after the stream");
		return NULL;
	}
	for (int k = 0; k < e->n_disks + e->n_nics && !e->stop && !rc; k++) {
		char what[48];

		rc = early_add(x, domid, e, k, what, sizeof(what));
		if (rc)
			LOG(&x->hv, XTL_WARN, domid, "%s could not be added before the blackout "
			    "(%d); it comes after the stream", what, rc);
		else
			e->added[k] = true;
	}
	e->t_done_us = migr__now_us();
	if (!rc && !e->stop && e->added_fn)
		e->added_fn(e->added_arg, domid);
	return NULL;
}

static void early_join(struct early_devs *e)
{
	if (!e->running)
		return;
	e->stop = true;
	pthread_join(e->th, NULL);
	e->running = false;
}

/* Gives the devices back to cfg (for what restore() does with them after) and frees e. */
static void early_free(libxl_domain_config *cfg, struct early_devs *e)
{
	early_join(e);
	if (e->nics || e->disks) {
		cfg->nics = e->nics;
		cfg->num_nics = e->n_nics;
		cfg->disks = e->disks;
		cfg->num_disks = e->n_disks;
		e->nics = NULL;
		e->disks = NULL;
	}
	free((char *)e->json);
	e->json = NULL;
}

/* Takes the disks and vifs out of cfg into e and starts the thread; returns how many. */
static int early_start(struct xen_hv *x, libxl_domain_config *cfg,
		       const struct migr_restore_opts *o, const char *name, struct early_devs *e)
{
	memset(e, 0, sizeof(*e));
	e->x = x;
	e->name = name;
	e->added_fn = o->devices_added;
	e->added_arg = o->devices_arg;
	if ((!cfg->num_nics && !cfg->num_disks) || cfg->num_nics > MAX_FAST_VIFS ||
	    cfg->num_disks > MAX_FAST_VIFS)
		return 0;
	if (xen_domain_list(&x->hv, e->before, 256, &e->n_before))
		return 0;
	for (int i = 0; i < cfg->num_nics; i++)
		if (cfg->nics[i].devid < 0)
			cfg->nics[i].devid = i;   /* libxl's own order; the put-back needs it */
	e->nics = cfg->nics;
	e->n_nics = cfg->num_nics;
	e->disks = cfg->disks;
	e->n_disks = cfg->num_disks;
	cfg->nics = NULL;
	cfg->num_nics = 0;
	cfg->disks = NULL;
	cfg->num_disks = 0;
	e->json = libxl_domain_config_to_json(x->ctx, cfg);
	if (!e->json || pthread_create(&e->th, NULL, early_main, e)) {
		early_free(cfg, e);       /* as it was: libxl adds them */
		e->n_nics = e->n_disks = 0;
		return 0;
	}
	e->running = true;
	return e->n_nics + e->n_disks;
}

/*
 * After a restore that succeeded (domain domid): the devices the thread did not add are
 * added now, then libxl's stored configuration is stored again with them. Returns 0 or
 * -errno (a device that cannot be added fails the restore: the guest would come up
 * without it).
 */
static int early_finish(struct xen_hv *x, uint32_t domid, libxl_domain_config *cfg,
			struct early_devs *e, struct migr_restore_info *info_r)
{
	uint8_t *data = NULL;
	int len = 0, rc = 0;
	libxl_domain_config stored;
	char *json = NULL;

	for (int k = 0; k < e->n_disks + e->n_nics; k++) {
		char what[48];

		if (e->added[k] && e->domid == domid) {
			if (k < e->n_disks)
				info_r->early_disks++;
			else
				info_r->early_vifs++;
			continue;
		}
		rc = early_add(x, domid, e, k, what, sizeof(what));
		if (rc) {
			LOG(&x->hv, XTL_ERROR, domid, "%s cannot be added (%d)", what, rc);
			return -EIO;
		}
		info_r->late_devices++;
	}
	/* libxl's stored configuration (its own updates: uuid, defaults) with the devices */
	libxl_domain_config_init(&stored);
	if (libxl_userdata_retrieve(x->ctx, domid, "libxl-json", &data, &len) || !data ||
	    len <= 0 || data[len - 1] != 0 ||
	    libxl_domain_config_from_json(x->ctx, &stored, (const char *)data)) {
		LOG(&x->hv, XTL_WARN, domid, "libxl's stored configuration is unreadable; "
		    "storing the incoming one");
		libxl_domain_config_dispose(&stored);
		libxl_domain_config_init(&stored);
		libxl_domain_config_copy(x->ctx, &stored, cfg);
	}
	free(data);
	for (int i = 0; i < stored.num_nics; i++)
		libxl_device_nic_dispose(&stored.nics[i]);
	free(stored.nics);
	for (int i = 0; i < stored.num_disks; i++)
		libxl_device_disk_dispose(&stored.disks[i]);
	free(stored.disks);
	stored.nics = calloc((size_t)e->n_nics + 1, sizeof(*stored.nics));
	stored.disks = calloc((size_t)e->n_disks + 1, sizeof(*stored.disks));
	stored.num_nics = stored.nics && stored.disks ? e->n_nics : 0;
	stored.num_disks = stored.nics && stored.disks ? e->n_disks : 0;
	for (int i = 0; i < stored.num_nics; i++) {
		libxl_device_nic_init(&stored.nics[i]);
		libxl_device_nic_copy(x->ctx, &stored.nics[i], &e->nics[i]);
	}
	for (int i = 0; i < stored.num_disks; i++) {
		libxl_device_disk_init(&stored.disks[i]);
		libxl_device_disk_copy(x->ctx, &stored.disks[i], &e->disks[i]);
	}
	json = stored.nics && stored.disks ? libxl_domain_config_to_json(x->ctx, &stored) : NULL;
	if (!json || libxl_userdata_store(x->ctx, domid, "libxl-json", (const uint8_t *)json,
					  (int)strlen(json) + 1)) {
		LOG(&x->hv, XTL_ERROR, domid, "cannot store the configuration with its devices");
		rc = -EIO;
	}
	free(json);
	libxl_domain_config_dispose(&stored);
	return rc;
}

static int xen_restore(struct migr_hv *h, const struct migr_restore_opts *o,
		       struct migr_restore_info *info_r)
{
	const char *json = o->config_json, *name = o->name;
	int fd = o->fd;
	uint64_t devices_us, t_end, t_joined, t_stored;
	struct dev_watch dw;
	struct early_devs early = { 0 };
	int n_early;
	struct xen_hv *x = XH(h);
	char *orig_script[MAX_FAST_VIFS] = { NULL };
	unsigned int n_fast = 0;
	libxl_domain_config cfg;
	libxl_domain_restore_params params;
	uint32_t domid = INVALID_DOMID;
	int rc;

	libxl_domain_config_init(&cfg);
	libxl_domain_restore_params_init(&params);

	rc = libxl_domain_config_from_json(x->ctx, &cfg, json);
	if (rc) {
		LOG(h, XTL_ERROR, 0, "incoming domain configuration is not valid libxl JSON");
		rc = -EINVAL;
		goto out;
	}
	if (cfg.b_info.type != LIBXL_DOMAIN_TYPE_PV && cfg.b_info.type != LIBXL_DOMAIN_TYPE_PVH) {
		LOG(h, XTL_ERROR, 0, "incoming guest is of type %s; only PV and PVH are supported",
		    libxl_domain_type_to_string(cfg.b_info.type));
		rc = -MIGR_E_UNSUPPORTED;
		goto out;
	}
	free(cfg.c_info.name);
	cfg.c_info.name = strdup(name);
	if (!cfg.c_info.name) {
		rc = -ENOMEM;
		goto out;
	}
	if (!libxl_domid_valid_guest(cfg.c_info.domid))
		cfg.c_info.domid = INVALID_DOMID;

	n_fast = vif_helper_substitute(o->vif_helper, &cfg, orig_script);

	params.checkpointed_stream = LIBXL_CHECKPOINTED_STREAM_NONE;
	params.stream_version = 2;   /* _init() says 1, the legacy format */

	n_early = o->late_devices ? 0 : early_start(x, &cfg, o, name, &early);
	dev_watch_start(x, &dw, n_early > 0);
	rc = libxl_domain_create_restore(x->ctx, &cfg, &domid, fd, -1, &params, NULL, NULL);
	t_end = migr__now_us();
	devices_us = dev_watch_stop(&dw, t_end);
	close_later(x, dw.xsh);
	early_join(&early);
	t_joined = migr__now_us();
	if (rc) {
		LOG(h, XTL_ERROR, domid, "restore of %s failed (%d)", name, rc);
		rc = rc == ERROR_NOMEM ? -ENOMEM : -EIO;
		goto out;
	}
	if (n_early) {
		rc = early_finish(x, domid, &cfg, &early, info_r);
		if (early.t_found_us && early.t_done_us > early.t_found_us) {
			info_r->early_devices_us = early.t_done_us - early.t_found_us;
			info_r->early_before_end_us = t_end > early.t_done_us ?
						      t_end - early.t_done_us : 0;
		}
		if (info_r->late_devices)
			devices_us += migr__now_us() - t_end;   /* added in the tail after all */
		early_free(&cfg, &early);
		if (rc) {
			xen_destroy(h, domid);   /* in a helper process: see destroy_spawned() */
			goto out;
		}
	}
	t_stored = migr__now_us();
	net_watch_end(x, true, NULL);
	x->last_domid = domid;
	put_back_keep(x, domid, &cfg, orig_script);
	LOG(h, XTL_DETAIL, domid, "restore: after libxl returned: watchers ended in %.1f ms, "
	    "the configuration with the early devices stored in %.1f ms, the rest %.1f ms",
	    (t_joined - t_end) / 1000.0, (t_stored - t_joined) / 1000.0,
	    (migr__now_us() - t_stored) / 1000.0);
	free(x->pb_helper);
	x->pb_helper = n_fast ? strdup(o->vif_helper) : NULL;
	x->ann_n = 0;
	x->nb_n = 0;
	for (int i = 0; i < cfg.num_nics && x->nb_n < MAX_FAST_VIFS; i++)
		if (cfg.nics[i].devid >= 0)
			x->nb_devid[x->nb_n++] = cfg.nics[i].devid;
	for (int i = 0; i < cfg.num_nics && x->ann_n < MAX_FAST_VIFS; i++) {
		const char *br = cfg.nics[i].bridge ? cfg.nics[i].bridge : "xenbr0";

		if (strlen(br) >= IFNAMSIZ)
			continue;
		memcpy(x->ann_mac[x->ann_n], cfg.nics[i].mac, 6);
		strcpy(x->ann_bridge[x->ann_n], br);
		x->ann_n++;
	}
	info_r->domid = domid;
	info_r->devices_us = devices_us;
	info_r->fast_vifs = n_fast;
	rc = 0;
out:
	early_free(&cfg, &early);
	for (int i = 0; i < MAX_FAST_VIFS; i++)
		free(orig_script[i]);
	libxl_domain_restore_params_dispose(&params);
	libxl_domain_config_dispose(&cfg);
	return rc;
}

static int xen_unpause(struct migr_hv *h, uint32_t domid)
{
	int rc = libxl_domain_unpause(XH(h)->ctx, domid, NULL);
	uint64_t t = migr__now_us();

	if (rc)
		LOG(h, XTL_ERROR, domid, "unpause failed (%d)", rc);
	else
		net_watch_start(XH(h), domid, t);
	return from_libxl(rc);
}

/*
 * libxl_domain_destroy() forks a child that calls libxenctrl without exec'ing. Beside
 * other threads making hypercalls (several migrations in one migrd), that child can
 * inherit a libxencall lock one of them held, wait for it for ever, and keep open every
 * pipe of the process (another migration's stream then never ends): seen in the lab with
 * two evacuation streams. So the destroy runs in migr-destroy, a single-threaded program
 * spawned here (posix_spawn: vfork and exec, safe from a thread). Only when the helper is
 * not installed does it run in this process.
 */
static int destroy_spawned(struct migr_hv *h, uint32_t domid, const char *helper)
{
	char arg[16];
	char *argv[] = { (char *)helper, arg, NULL };
	extern char **environ;
	int rc, status;
	pid_t pid;

	snprintf(arg, sizeof(arg), "%u", domid);
	rc = posix_spawn(&pid, helper, NULL, NULL, argv, environ);
	if (rc) {
		LOG(h, XTL_ERROR, domid, "cannot run %s: %s", helper, strerror(rc));
		return -rc;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			LOG(h, XTL_ERROR, domid, "waiting for %s: %s", helper, strerror(errno));
			return -errno;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
		return -ENOENT;
	LOG(h, XTL_ERROR, domid, "destroy failed (%s %s: %s %d)", helper, arg,
	    WIFEXITED(status) ? "exit status" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return -EIO;
}

static int xen_destroy(struct migr_hv *h, uint32_t domid)
{
	char helper[PATH_MAX];
	int rc;

	if (domid == XH(h)->last_domid)
		put_back_clear(XH(h));
	if (XH(h)->nb && XH(h)->nb->domid == domid)
		net_watch_end(XH(h), true, NULL);
	if (migr__helper_path("migr-destroy", helper, sizeof(helper)) == 0)
		return destroy_spawned(h, domid, helper);
	rc = libxl_domain_destroy(XH(h)->ctx, domid, NULL);
	if (rc)
		LOG(h, XTL_ERROR, domid, "destroy failed (%d)", rc);
	return from_libxl(rc);
}

static int xen_peek_dirty(struct migr_hv *h, uint32_t domid, uint64_t *dirty_r)
{
	struct xen_hv *x = XH(h);
	xc_shadow_op_stats_t st = { 0, 0 };
	long long r;

	r = xc_logdirty_control(x->xch_peek, domid, XEN_DOMCTL_SHADOW_OP_PEEK, NULL, 0, 0, &st);
	if (r < 0)
		return errno == EINVAL ? -ENODATA : neg_errno();
	*dirty_r = st.dirty_count;
	return 0;
}

/* XEN_DOMCTL_getvcpuinfo per vCPU (xen/common/domctl.c): cpu_time is the vCPU's runstate
 * time running, online is !VPF_down. On the sampler's handle. */
static int xen_vcpu_run(struct migr_hv *h, uint32_t domid, uint64_t *run_ns_r,
			unsigned int *online_r)
{
	struct xen_hv *x = XH(h);
	xc_dominfo_t di;
	xc_vcpuinfo_t vi;
	unsigned int online = 0;
	uint64_t run = 0;

	if (xc_domain_getinfo(x->xch_peek, domid, 1, &di) != 1 || di.domid != domid)
		return -ENOENT;
	for (unsigned int v = 0; v <= di.max_vcpu_id; v++) {
		if (xc_vcpu_getinfo(x->xch_peek, domid, v, &vi))
			continue;   /* a vCPU not allocated */
		run += vi.cpu_time;
		if (vi.online)
			online++;
	}
	*run_ns_r = run;
	*online_r = online;
	return online ? 0 : -ENODATA;
}

static int xen_announce(struct migr_hv *h, uint32_t domid, unsigned int *frames_r)
{
	struct xen_hv *x = XH(h);
	uint8_t frame[128];
	int fd, rc = 0;
	unsigned int sent = 0;

	if (domid != x->last_domid || !x->ann_n) {
		*frames_r = 0;
		return 0;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return neg_errno();
	for (unsigned int i = 0; i < x->ann_n; i++) {
		unsigned int ifindex = if_nametoindex(x->ann_bridge[i]);
		size_t len = migr__fwd_frame_rarp(frame, x->ann_mac[i]);

		if (!ifindex) {
			rc = -ENODEV;
			continue;
		}
		rc = migr__fwd_send_frame(fd, ifindex, frame, len);
		if (!rc)
			sent++;
	}
	close(fd);
	if (!sent && rc)
		LOG(h, XTL_WARN, domid, "announcing the guest on its bridge failed: %s",
		    strerror(-rc));
	if (!sent && rc)
		return rc;
	*frames_r = sent;
	return 0;
}

static int xen_nics(struct migr_hv *h, uint32_t domid, struct migr_hv_nic *v, unsigned int max,
		    unsigned int *n_r)
{
	struct xen_hv *x = XH(h);
	libxl_device_nic *nics;
	int num = 0;
	unsigned int n = 0;

	nics = libxl_device_nic_list(x->ctx, domid, &num);
	if (!nics && num)
		return -EIO;
	for (int i = 0; i < num && n < max; i++) {
		struct migr_hv_nic *o = &v[n];
		memset(o, 0, sizeof(*o));
		memcpy(o->mac, nics[i].mac, 6);
		if (nics[i].bridge && strlen(nics[i].bridge) < sizeof(o->bridge))
			strcpy(o->bridge, nics[i].bridge);
		if (nics[i].ifname && strlen(nics[i].ifname) < sizeof(o->vif))
			strcpy(o->vif, nics[i].ifname);
		else
			snprintf(o->vif, sizeof(o->vif), "vif%u.%d", domid, nics[i].devid);
		if (nics[i].ip && strlen(nics[i].ip) < sizeof(o->ip))
			strcpy(o->ip, nics[i].ip);
		n++;
	}
	for (int i = 0; i < num; i++)
		libxl_device_nic_dispose(&nics[i]);
	free(nics);
	*n_r = n;
	return 0;
}

static void xen_close(struct migr_hv *h)
{
	struct xen_hv *x = XH(h);

	net_watch_end(x, true, NULL);
	close_now(x);
	put_back_clear(x);
	free(x->pb_helper);
	if (x->ctx)
		libxl_ctx_free(x->ctx);
	if (x->xsh)
		xs_close(x->xsh);
	if (x->xch_peek)
		xc_interface_close(x->xch_peek);
	if (x->xch)
		xc_interface_close(x->xch);
	free(x);
}

static int xen_cpu_cap(struct migr_hv *h, uint32_t domid, const unsigned int *set,
		       unsigned int *cap_r)
{
	struct xen_hv *x = XH(h);
	libxl_domain_sched_params p;
	int rc;

	libxl_domain_sched_params_init(&p);
	rc = libxl_domain_sched_params_get(x->ctx, domid, &p);
	if (!rc) {
		*cap_r = p.cap == LIBXL_DOMAIN_SCHED_PARAM_CAP_DEFAULT || p.cap < 0 ? 0 :
			 (unsigned int)p.cap;
		if (set) {
			p.cap = (int)*set;
			rc = libxl_domain_sched_params_set(x->ctx, domid, &p);
		}
	}
	libxl_domain_sched_params_dispose(&p);
	return rc ? from_libxl(rc) : 0;
}

static const struct migr_hv_ops xen_ops = {
	.domain_find = xen_domain_find,
	.domain_info = xen_domain_info,
	.domain_list = xen_domain_list,
	.host_info = xen_host_info,
	.domain_config = xen_domain_config,
	.config_info = xen_config_info,
	.save = xen_save,
	.suspend = xen_suspend,
	.resume = xen_resume,
	.rename = xen_rename,
	.restore = xen_restore,
	.unpause = xen_unpause,
	.destroy = xen_destroy,
	.peek_dirty = xen_peek_dirty,
	.vcpu_run = xen_vcpu_run,
	.announce = xen_announce,
	.nics = xen_nics,
	.settle = xen_settle,
	.consoled = xen_consoled,
	.consoled_reopen = xen_consoled_reopen,
	.consoled_holds = xen_consoled_holds,
	.cpu_cap = xen_cpu_cap,
	.close = xen_close,
};

static void null_vmessage(struct xentoollog_logger *l, xentoollog_level lvl, int errnoval,
			  const char *context, const char *fmt, va_list al)
{
}

static void null_destroy(struct xentoollog_logger *l)
{
}

/* The Xen libraries need some logger; with none from the caller they get this one. */
static struct xentoollog_logger null_logger = {
	.vmessage = null_vmessage,
	.destroy = null_destroy,
};

/*
 * migrd restores several guests at once, each on its own thread with its own
 * libxl context, and each restore runs hotplug scripts.  In libxl's default
 * child mode every context reaps any child (waitpid(-1)): one restore took
 * the other's vif script exit as "unknown child" and the other then waited
 * for its script for ever.  Every context reaps only its own children; the
 * few children migr starts itself are reaped by pid.
 */
static const libxl_childproc_hooks child_hooks = {
	.chldowner = libxl_sigchld_owner_libxl_always_selective_reap,
};

int migr_hv_xen_open(struct xentoollog_logger *lg, struct migr_hv **hv_r)
{
	struct xen_hv *x = calloc(1, sizeof(*x));
	int rc;

	if (!x)
		return -ENOMEM;
	if (!lg)
		lg = &null_logger;
	x->hv.ops = &xen_ops;
	x->hv.lg = lg;
	x->last_domid = INVALID_DOMID;
	x->xch = xc_interface_open(lg, lg, 0);
	x->xch_peek = x->xch ? xc_interface_open(lg, lg, 0) : NULL;
	if (!x->xch || !x->xch_peek) {
		rc = errno ? -errno : -EACCES;
		goto fail;
	}
	x->xsh = xs_open(0);
	if (!x->xsh) {
		rc = errno ? -errno : -EACCES;
		if (lg)
			xtl_log(lg, XTL_ERROR, -1, "migr", "cannot connect to xenstore: %s",
				strerror(-rc));
		goto fail;
	}
	if (libxl_ctx_alloc(&x->ctx, LIBXL_VERSION, 0, (xentoollog_logger *)lg)) {
		x->ctx = NULL;
		rc = -EIO;
		goto fail;
	}
	libxl_childproc_setmode(x->ctx, &child_hooks, NULL);
	*hv_r = &x->hv;
	return 0;
fail:
	xen_close(&x->hv);
	return rc;
}

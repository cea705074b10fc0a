/*
 * fwd_mig.h: forwarding in every migration and the switch-over hooks (fwd_mig.c), for the
 * drivers (migrate.c, recv.c). Internal to libmigr.
 */
#ifndef MIGR_FWD_MIG_H
#define MIGR_FWD_MIG_H

#include <stdbool.h>
#include <stdint.h>
#include "libmigr.h"

/* The migr_fwd_* calls the drivers make; unit tests replace the table. */
struct migr__fwdm_ops {
	int (*source_start)(const struct migr_fwd_params *p, struct migr_fwd **f_r);
	int (*divert)(struct migr_fwd *f);
	int (*target_start)(const struct migr_fwd_params *p, struct migr_fwd **f_r);
	int (*target_live)(struct migr_fwd *f);
	int (*release)(struct migr_fwd *f);
	int (*poll)(struct migr_fwd *f, struct migr_fwd_status *st_r);
	int (*finish)(struct migr_fwd *f, struct migr_fwd_status *final_r);
	int (*neigh_find)(const uint8_t mac[6], struct migr_fwd_addr *v, unsigned int max,
			  unsigned int *n_r);
};
extern const struct migr__fwdm_ops *migr__fwdm_ops;

struct migr__fwdm;   /* one end of one migration's forwarding */

/* Source. NULL when there is nothing to forward (turned off, no NIC, no address: *sum
 * says why); begin/release/adopt/abandon accept NULL. */
struct migr__fwdm *migr__fwdm_source_prepare(const char *id, struct migr_hv *hv,
					     uint32_t domid, struct migr_conn *c,
					     const struct migr_send_params *p,
					     struct migr_fwd_summary *sum);
void migr__fwdm_source_begin(struct migr__fwdm *m);
void migr__fwdm_release(struct migr__fwdm *m);

/* Target: *m_r NULL when nothing runs (*sum says why). Never fails a migration: 0. */
int migr__fwdm_target_start(struct migr__fwdm **m_r, const char *id, struct migr_hv *hv,
			    uint32_t domid, struct migr_conn *c,
			    const struct migr_recv_params *p, bool later,
			    struct migr_fwd_summary *sum);
void migr__fwdm_target_live(struct migr__fwdm *m);
bool migr__fwdm_running(const struct migr__fwdm *m);

/* The end: handed to the reaper (the guest is on the target), or torn down now. Both
 * free m. */
void migr__fwdm_adopt(struct migr__fwdm *m);
void migr__fwdm_abandon(struct migr__fwdm *m);

/* What a switch-over hook is told (its environment). */
struct migr__switchover {
	const char *id, *guest, *source, *target;
	char macs[MIGR_HV_MAX_NICS * 18 + 1];
	char addrs[256];
};
/* The guest's MACs and ip= addresses, from m or else from hv (domid). */
void migr__fwdm_switchover_info(const struct migr__fwdm *m, struct migr_hv *hv, uint32_t domid,
				struct migr__switchover *sw);
/* Runs cmd (sh -c) and every executable file in dir; not waited for, each reaped by a
 * thread that logs its exit status and time. */
void migr__switchover_hooks(const char *cmd, const char *dir,
			    const struct migr__switchover *sw, struct xentoollog_logger *lg);

/* An IPv4 (also v4-mapped) or IPv6 socket address as text ("" for anything else). */
struct sockaddr_storage;
void migr__sockaddr_text(const struct sockaddr_storage *ss, char *buf, size_t len);

#endif

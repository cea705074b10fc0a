/*
 * etcd.c: migrd's host in the fleet's etcd (docs/etcd.md): with etcd configured, this
 * host's record (/migr/hosts/HOST) kept under a lease by libmigr's registration thread,
 * collected from a hypervisor handle of its own (with its failure domain); written again after each change migrd
 * sees (a migration received or sent, an evacuation starting or ending) and every 10 s.
 * The lease is revoked at a clean exit. A failure is logged and retried, never fatal.
 *
 *   migrd_etcd_start()        once listening (the record carries the port)
 *   migrd_etcd_changed()      something changed: collect again soon (any thread)
 *   migrd_etcd_evacuating()   the maintenance state (the evacuation service's hook)
 *   migrd_etcd_stop()         at exit
 *   migrd_etcd_fence_open()   before the first migration: the handle of the commits
 *   migrd_etcd_fence()        fenced by etcd (NULL without etcd)
 *   migrd_etcd_fleet_targets() an evacuation's targets when its request names none
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "evacd.h"

static struct migr_etcd *etcd;
static struct migr_etcd *fence;          /* the fenced commits' own: a fence never waits
                                            behind the registration's requests */
static char self[256];                   /* this host's name in etcd */
static xentoollog_logger *fence_lg;
static struct migr_etcd_reg *reg;
static struct migr_hv *reg_hv;           /* used by the registration thread only */
static char address[300];
static char group[64];                   /* failure domain; "" none */
static atomic_bool evacuating;

static int collect(void *arg, struct migr_etcd_host *h)
{
	int rc = migr_etcd_host_collect(reg_hv, h);

	if (rc)
		return rc;
	snprintf(h->address, sizeof(h->address), "%s", address);
	snprintf(h->group, sizeof(h->group), "%s", group);
	h->maintenance = atomic_load(&evacuating) ? MIGR_ETCD_MAINT_EVACUATING
						  : MIGR_ETCD_MAINT_NONE;
	return 0;
}

int migrd_etcd_start(xentoollog_logger *lg, const struct migrd_conf *conf, int port)
{
	struct migr_etcd_opts o = { .endpoints = conf->etcd, .ca_file = conf->etcd_ca,
				    .cert_file = conf->etcd_cert, .key_file = conf->etcd_key,
				    .lg = lg };
	struct migr_etcd_reg_opts ro = { .host = conf->host, .ttl_s = (unsigned int)conf->etcd_ttl,
					 .refresh_s = 10, .collect = collect, .lg = lg };
	int rc;

	if (!conf->etcd || !conf->etcd[0])
		return 0;
	snprintf(address, sizeof(address), "%s:%d", conf->host, port);
	snprintf(group, sizeof(group), "%s", conf->failure_domain ? conf->failure_domain : "");
	if ((rc = migr_hv_xen_open(lg, &reg_hv))) {
		fprintf(stderr, "migrd: etcd: cannot open the hypervisor (%s): this host is not "
			"registered\n", migr_strerror(rc));
		return rc;
	}
	if ((rc = migr_etcd_open(&o, &etcd))) {
		fprintf(stderr, "migrd: etcd: %s: %s: this host is not registered\n", conf->etcd,
			migr_strerror(rc));
		goto out_fail;
	}
	ro.etcd = etcd;
	if ((rc = migr_etcd_reg_start(&ro, &reg))) {
		fprintf(stderr, "migrd: etcd: cannot start the registration: %s\n",
			migr_strerror(rc));
		goto out_fail;
	}
	fprintf(stderr, "migrd: etcd: registering %s (%s) at %s under a lease of %ld s\n",
		conf->host, address, conf->etcd, conf->etcd_ttl);
	return 0;
out_fail:
	migr_etcd_close(etcd);
	etcd = NULL;
	migr_hv_close(reg_hv);
	reg_hv = NULL;
	return rc;
}

int migrd_etcd_fence_open(xentoollog_logger *lg, const struct migrd_conf *conf)
{
	struct migr_etcd_opts o = { .endpoints = conf->etcd, .ca_file = conf->etcd_ca,
				    .cert_file = conf->etcd_cert, .key_file = conf->etcd_key,
				    .lg = lg };
	int rc;

	if (!conf->etcd || !conf->etcd[0])
		return 0;
	if ((rc = migr_etcd_open(&o, &fence))) {
		fprintf(stderr, "migrd: etcd: %s: %s: with etcd configured every migration is "
			"fenced through it, and none can be without it\n", conf->etcd,
			migr_strerror(rc));
		return rc;
	}
	snprintf(self, sizeof(self), "%s", conf->host);
	fence_lg = lg;
	fprintf(stderr, "migrd: etcd: migrations to and from this host are fenced through "
		"etcd as %s\n", conf->host);
	return 0;
}

struct migr_etcd *migrd_etcd_fence(void)
{
	return fence;
}

int migrd_etcd_fleet_targets(void *arg, char *list, size_t len, char *why, size_t wl)
{
	int rc;

	(void)arg;
	if (!fence) {
		snprintf(why, wl, "no etcd configured");
		return -ENOENT;
	}
	rc = migr_etcd_fleet_targets(fence, self, MIGR_EVAC_MAX_TARGETS, list, len, fence_lg);
	if (rc == -ENOENT)
		snprintf(why, wl, "no other host in service is recorded there");
	else if (rc)
		snprintf(why, wl, "cannot list the hosts: %s", migr_strerror(rc));
	return rc;
}

void migrd_etcd_changed(void)
{
	migr_etcd_reg_poke(reg);
}

void migrd_etcd_evacuating(bool running)
{
	atomic_store(&evacuating, running);
	migr_etcd_reg_poke(reg);
}

void migrd_etcd_stop(void)
{
	migr_etcd_reg_stop(reg, true);
	reg = NULL;
	migr_etcd_close(etcd);
	etcd = NULL;
	migr_hv_close(reg_hv);
	reg_hv = NULL;
	migr_etcd_close(fence);
	fence = NULL;
}

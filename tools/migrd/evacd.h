/*
 * evacd.h: migrd's evacuation part (evac.c, control.c, watch.c, drain.c), joined to the main loop
 * of main.c through migrd_add_source().
 *
 *   migrd_evac_init()   after the receiver is up, with migrd's settings (conf.h): opens
 *                       xenstore, starts the evacuation service, the xenstore watches and
 *                       the control socket
 *   migrd_evac_fini()   on the way out (SIGTERM): cancels a running evacuation, waits for
 *                       migrations in flight to finish or back out, withdraws the guests'
 *                       notices, removes the control socket; never strands a guest
 */
#ifndef MIGRD_EVACD_H
#define MIGRD_EVACD_H

#include <xentoollog.h>
#include "libmigr.h"
#include "conf.h"

/* main.c */
int migrd_add_source(int fd, int (*handler)(void *arg), void *arg);

/* evac.c; conf must outlive the service (until migrd_evac_fini()). */
int migrd_evac_init(xentoollog_logger *lg, const struct migrd_conf *conf);
void migrd_evac_fini(void);

/* The state the three files share. */
struct migrd_evac {
	xentoollog_logger *lg;
	struct migr_xs *xs;
	struct migr_schema *schema;
	struct migr_hv *hv;
	struct migr_evacd *svc;
	struct migr_evac_prod prod;
	struct migr_transport_opts topts; /* migrd's credentials, as a client */
	char *targets;                    /* the default targets, comma-separated; NULL none */
};
extern struct migrd_evac migrd_evac;

/* control.c: the control socket (root only). */
int migrd_control_start(const char *path);
void migrd_control_stop(void);
/* The service's event sink: forwards events to subscribed clients. */
void migrd_control_event(void *arg, const char *json);

/* metrics.c: the Prometheus textfile (migr/metrics.h). file "": none. */
void migrd_metrics_start(const char *file);
/* An evacuation's migration attempt ended (one the engine gave an id). */
void migrd_metrics_sent(int rc, const struct migr_evac_outcome *o);
/* A reception whose stream began ended. */
void migrd_metrics_received(int rc, const struct migr_recv_result *res);
void migrd_metrics_evacuating(bool running);

/* etcd.c: this host's record in the fleet's etcd (nothing without etcd configured). */
int migrd_etcd_start(xentoollog_logger *lg, const struct migrd_conf *conf, int port);
void migrd_etcd_changed(void);
void migrd_etcd_evacuating(bool running);
void migrd_etcd_stop(void);
/* The commits fenced by etcd: a handle of their own, opened before the first migration
 * (fatal when it cannot be: no migration may go unfenced); NULL without etcd. */
int migrd_etcd_fence_open(xentoollog_logger *lg, const struct migrd_conf *conf);
struct migr_etcd *migrd_etcd_fence(void);
/* migr_evacd_config.fleet_targets: every host in etcd but this one and those in
 * maintenance. */
int migrd_etcd_fleet_targets(void *arg, char *list, size_t len, char *why, size_t wl);

/* drain.c: drains across the fleet (docs/fleet.md): with etcd and the evacuation
 * service, a thread that takes this host's turn, evacuates it and says how it went;
 * start after migrd_etcd_start(), stop before migrd_evac_fini(). */
int migrd_drain_start(xentoollog_logger *lg, const struct migrd_conf *conf);
void migrd_drain_stop(void);

/* watch.c: the xenstore watches (request node, guest acks, new domains). */
int migrd_watch_start(void);

#endif

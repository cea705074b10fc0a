/*
 * evacd.h: migrd's evacuation part (evac.c, control.c, watch.c), joined to the main loop
 * of main.c through migrd_add_source().
 *
 *   migrd_evac_init()   after the receiver is up: reads the evacuation settings
 *                       (/etc/migr/migrd.conf, or $MIGRD_CONF), opens xenstore, starts the
 *                       evacuation service, the xenstore watches and the control socket
 *   migrd_evac_fini()   on the way out (SIGTERM): cancels a running evacuation, waits for
 *                       migrations in flight to finish or back out, withdraws the guests'
 *                       notices, removes the control socket; never strands a guest
 */
#ifndef MIGRD_EVACD_H
#define MIGRD_EVACD_H

#include <xentoollog.h>
#include "libmigr.h"

/* main.c */
int migrd_add_source(int fd, int (*handler)(void *arg), void *arg);
/* A key of the target's rules (migr_target_rules_option()) from migrd.conf: 0, -ENOENT
 * (not one of them) or -EINVAL with the reason in err. */
int migrd_rules_option(const char *key, const char *value, char *err, size_t errlen);

/* evac.c; report_dir: the engine's round logs (NULL: MIGR_REPORT_DIR) */
int migrd_evac_init(xentoollog_logger *lg, const char *src_record_dir, const char *report_dir);
void migrd_evac_fini(void);

/* The state the three files share. */
struct migrd_evac {
	xentoollog_logger *lg;
	struct migr_xs *xs;
	struct migr_schema *schema;
	struct migr_hv *hv;
	struct migr_evacd *svc;
	struct migr_evac_prod prod;
	struct migr_transport_opts topts;
	char host[256];
	char control_path[108];
	char event_log[512];
	char targets[1024];
	char psk[512], cert[512], key[512], ca[512];
	char psk_identity[128];          /* outgoing connections; "": the host name */
	char metrics_file[512];          /* migrd.conf's metrics-file, when given */
	bool metrics_file_set;
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

/* watch.c: the xenstore watches (request node, guest acks, new domains). */
int migrd_watch_start(void);

#endif

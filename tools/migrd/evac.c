/*
 * evac.c: migrd's evacuation part: the evacuation service (libmigr/evac_service.c) with
 * the production hooks, start and orderly stop. Its settings are migrd's (conf.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evacd.h"

struct migrd_evac migrd_evac;

/* The engine's migrate function, counted for the metrics: an attempt the engine gave an
 * id to (one that could not reach its target, or whose guest was gone, has none). */
static int metered_migrate(void *arg, struct migr_evac_attempt *a, struct migr_evac_outcome *out)
{
	int rc = migr_evac_engine_migrate(arg, a, out);

	if (out->migration_id[0]) {
		migrd_metrics_sent(rc, out);
		migrd_etcd_changed();
	}
	return rc;
}

static void on_running(void *arg, bool running)
{
	migrd_metrics_evacuating(running);
	migrd_etcd_evacuating(running);
}

int migrd_evac_init(xentoollog_logger *lg, const struct migrd_conf *conf)
{
	struct migrd_evac *m = &migrd_evac;
	struct migr_evacd_config c;
	int rc;

	memset(m, 0, sizeof(*m));
	m->lg = lg;
	migrd_conf_transport(conf, &m->topts);
	/* sending only: auto (0) is the CPU guard, 100 no limit, 1..99 a fixed share */
	m->topts.cpu_share_pct = conf->cpu_share < 100 ? (unsigned int)conf->cpu_share : 0;
	migr_evacd_config_init(&c);
	c.notice_s = (unsigned int)conf->notice;
	c.defer_max_s = (unsigned int)conf->defer_max;
	c.parallel = (unsigned int)conf->parallel;
	c.group_cap = (unsigned int)conf->group_cap;
	c.max_attempts = (unsigned int)conf->retries;
	c.retry_delay_ms = (unsigned int)conf->retry_delay_ms;
	c.downtime_ms = (uint32_t)conf->downtime;
	c.plan.threshold_pct = (unsigned int)conf->threshold;
	c.plan.reserve_kib = (uint64_t)conf->target_reserve_mib * 1024;
	c.link_bps = (uint64_t)conf->link_mbit * 1000000;
	if (conf->targets.n && !(m->targets = migrd_conf_join(&conf->targets))) {
		fprintf(stderr, "migrd: out of memory\n");
		return -ENOMEM;
	}
	if ((rc = migr_xs_open(&m->xs))) {
		fprintf(stderr, "migrd: cannot open xenstore (%s); evacuation is off\n",
			migr_strerror(rc));
		return rc;
	}
	if ((rc = migr_schema_load_builtin(&m->schema))) {
		fprintf(stderr, "migrd: the built-in xenstore schema does not parse (%s)\n",
			migr_strerror(rc));
		return rc;
	}
	if ((rc = migr_hv_xen_open(lg, &m->hv))) {
		fprintf(stderr, "migrd: cannot open the hypervisor (%s); evacuation is off\n",
			migr_strerror(rc));
		return rc;
	}
	if (conf->event_log[0]) {
		char dir[4096], *slash;

		snprintf(dir, sizeof(dir), "%s", conf->event_log);
		if ((slash = strrchr(dir, '/')) && slash != dir) {
			*slash = 0;
			mkdir(dir, 0750);
		}
	}
	m->prod.hv = m->hv;
	m->prod.xs = m->xs;
	m->prod.schema = m->schema;
	m->prod.engine.topts = &m->topts;
	m->prod.engine.lg = lg;
	m->prod.engine.record_dir = conf->src_record_dir;   /* where migrd's recovery reads them */
	m->prod.engine.throttle_max_pct = (unsigned int)conf->throttle;
	m->prod.engine.no_forward = conf->no_forward;
	m->prod.engine.no_cpu_guard = conf->cpu_share != 0;   /* not auto */
	m->prod.engine.etcd = migrd_etcd_fence();
	m->prod.engine.fence_self = conf->host;
	if (conf->compress)
		migr_compress_parse(conf->compress, &m->prod.engine.compress);   /* checked */
	m->prod.engine.forward_quiet_ms = (unsigned int)conf->forward_quiet_ms;
	m->prod.engine.forward_max_ms = (unsigned int)conf->forward_max_ms;
	m->prod.engine.report_dir = conf->report_dir;
	migr_evac_prod_hooks(&m->prod, &c);
	c.migrate = metered_migrate;
	c.roundlog_dir = m->prod.engine.report_dir;
	c.running = on_running;
	c.host = conf->host;
	c.event_log = conf->event_log[0] ? conf->event_log : NULL;
	c.default_targets = m->targets;
	if (migrd_etcd_fence())
		c.fleet_targets = migrd_etcd_fleet_targets;
	c.daemon = true;
	c.dom0_cpus = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
	c.event = migrd_control_event;
	c.lg = lg;
	/* The control socket first: the service's first events may already have clients. */
	if ((rc = migrd_control_start(conf->control)))
		return rc;
	if ((rc = migr_evacd_new(m->xs, m->schema, &c, &m->svc))) {
		fprintf(stderr, "migrd: cannot start the evacuation service (%s)\n",
			migr_strerror(rc));
		return rc;
	}
	if ((rc = migrd_watch_start()))
		return rc;
	fprintf(stderr, "migrd: evacuation ready on %s: control %s, targets %s, notice %u s, "
		"event log %s\n", conf->host, conf->control, m->targets ? m->targets : "(per request)",
		c.notice_s, conf->event_log[0] ? conf->event_log : "(none)");
	return 0;
}

void migrd_evac_fini(void)
{
	struct migrd_evac *m = &migrd_evac;

	if (m->svc && migr_evacd_busy(m->svc))
		fprintf(stderr, "migrd: stopping: cancelling the evacuation; migrations in flight "
			"finish or back out first\n");
	/* Cancels, waits for the executor (every guest on exactly one host), withdraws the
	 * notices of guests that stayed, marks the daemon stopped. */
	migr_evacd_free(m->svc);
	m->svc = NULL;
	migrd_control_stop();
	migr_hv_close(m->hv);
	m->hv = NULL;
	migr_schema_free(m->schema);
	m->schema = NULL;
	migr_xs_close(m->xs);
	m->xs = NULL;
	free(m->targets);
	m->targets = NULL;
}

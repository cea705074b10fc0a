/*
 * evac.c: migrd's evacuation part: settings, the evacuation service
 * (libmigr/evac_service.c) with the production hooks, start and orderly stop.
 *
 * Settings come from /etc/migr/migrd.conf ($MIGRD_CONF overrides), "key = value" lines,
 * '#' comments; docs/evacuation.md lists the keys. An unknown key or a bad value stops
 * migrd at start with a message naming the line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evacd.h"

#define MIGRD_CONF "/etc/migr/migrd.conf"

struct migrd_evac migrd_evac;

static bool parse_num(const char *v, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(v, &end, 10);
	return !errno && isdigit((unsigned char)v[0]) && !*end && *out <= max;
}

static int set(struct migr_evacd_config *c, const char *k, const char *v, const char *where)
{
	unsigned long n;

#define NUM(max) do { if (!parse_num(v, (max), &n)) goto bad; } while (0)
#define STR(dst) do { if (strlen(v) >= sizeof(dst)) goto bad; strcpy(dst, v); } while (0)
	if (!strcmp(k, "targets")) {
		STR(migrd_evac.targets);
	} else if (!strcmp(k, "host")) {
		STR(migrd_evac.host);
	} else if (!strcmp(k, "notice")) {
		NUM(86400);
		c->notice_s = n;
	} else if (!strcmp(k, "defer-max")) {
		NUM(3600);
		c->defer_max_s = n;
	} else if (!strcmp(k, "parallel")) {
		if (!strcmp(v, "auto"))
			c->parallel = 0;
		else {
			NUM(64);
			c->parallel = n;
		}
	} else if (!strcmp(k, "group-cap")) {
		NUM(64);
		c->group_cap = n;
	} else if (!strcmp(k, "retries")) {
		NUM(20);
		if (!n)
			goto bad;
		c->max_attempts = n;
	} else if (!strcmp(k, "retry-delay-ms")) {
		NUM(600000);
		c->retry_delay_ms = n;
	} else if (!strcmp(k, "downtime")) {
		NUM(600000);
		c->downtime_ms = n;
	} else if (!strcmp(k, "threshold")) {
		NUM(100);
		if (!n)
			goto bad;
		c->plan.threshold_pct = n;
	} else if (!strcmp(k, "reserve-mib")) {
		NUM(1ul << 30);
		c->plan.reserve_kib = (uint64_t)n * 1024;
	} else if (!strcmp(k, "link-mbit")) {
		NUM(1000000);
		c->link_bps = (uint64_t)n * 1000000;
	} else if (!strcmp(k, "event-log")) {
		STR(migrd_evac.event_log);
	} else if (!strcmp(k, "metrics-file")) {
		STR(migrd_evac.metrics_file);
		migrd_evac.metrics_file_set = true;
	} else if (!strcmp(k, "control")) {
		STR(migrd_evac.control_path);
	} else if (!strcmp(k, "psk")) {
		STR(migrd_evac.psk);
	} else if (!strcmp(k, "psk-identity")) {
		STR(migrd_evac.psk_identity);
	} else if (!strcmp(k, "cert")) {
		STR(migrd_evac.cert);
	} else if (!strcmp(k, "key")) {
		STR(migrd_evac.key);
	} else if (!strcmp(k, "ca")) {
		STR(migrd_evac.ca);
	} else if (!strcmp(k, "insecure")) {
		if (strcmp(v, "yes") && strcmp(v, "no"))
			goto bad;
		migrd_evac.topts.insecure = !strcmp(v, "yes");
	} else {
		char err[256] = "";
		int rc = migrd_rules_option(k, v, err, sizeof(err));

		if (rc == -ENOENT)
			fprintf(stderr, "migrd: %s: unknown setting '%s'\n", where, k);
		else if (rc)
			fprintf(stderr, "migrd: %s: %s\n", where, err[0] ? err : strerror(-rc));
		if (rc)
			return -EINVAL;
	}
	return 0;
bad:
	fprintf(stderr, "migrd: %s: bad value for '%s': '%s'\n", where, k, v);
	return -EINVAL;
#undef NUM
#undef STR
}

static int read_conf(struct migr_evacd_config *c)
{
	const char *path = getenv("MIGRD_CONF");
	char line[2048], where[600];
	unsigned lineno = 0;
	FILE *f;
	int rc = 0;

	if (!path || !path[0])
		path = MIGRD_CONF;
	f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return 0;          /* defaults: no targets until a request names them */
		fprintf(stderr, "migrd: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char *k = line, *v, *e;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "migrd: %s: line too long\n", where);
			rc = -EINVAL;
			break;
		}
		while (isspace((unsigned char)*k))
			k++;
		if (!*k || *k == '#')
			continue;
		v = strchr(k, '=');
		if (!v) {
			fprintf(stderr, "migrd: %s: expected KEY = VALUE\n", where);
			rc = -EINVAL;
			break;
		}
		for (e = v; e > k && isspace((unsigned char)e[-1]); e--)
			;
		*e = 0;
		for (v++; isspace((unsigned char)*v); v++)
			;
		for (e = v + strlen(v); e > v && isspace((unsigned char)e[-1]); e--)
			;
		*e = 0;
		if ((rc = set(c, k, v, where)))
			break;
	}
	fclose(f);
	return rc;
}

/* The engine's migrate function, counted for the metrics: an attempt the engine gave an
 * id to (one that could not reach its target, or whose guest was gone, has none). */
static int metered_migrate(void *arg, struct migr_evac_attempt *a, struct migr_evac_outcome *out)
{
	int rc = migr_evac_engine_migrate(arg, a, out);

	if (out->migration_id[0])
		migrd_metrics_sent(rc, out);
	return rc;
}

static void on_running(void *arg, bool running)
{
	migrd_metrics_evacuating(running);
}

int migrd_evac_init(xentoollog_logger *lg, const char *src_record_dir, const char *report_dir)
{
	struct migrd_evac *m = &migrd_evac;
	struct migr_evacd_config c;
	int rc;

	memset(m, 0, sizeof(*m));
	m->lg = lg;
	migr_transport_opts_init(&m->topts);
	m->topts.io_timeout_ms = 300000;
	snprintf(m->event_log, sizeof(m->event_log), "%s", MIGR_EVENT_LOG);
	snprintf(m->control_path, sizeof(m->control_path), "%s",
		 getenv("MIGR_CONTROL_SOCKET") && getenv("MIGR_CONTROL_SOCKET")[0] ?
		 getenv("MIGR_CONTROL_SOCKET") : MIGR_CONTROL_SOCKET);
	gethostname(m->host, sizeof(m->host) - 1);
	migr_evacd_config_init(&c);
	c.notice_s = 60;                  /* as Compute Engine's maintenance-event */
	c.group_cap = 1;
	if ((rc = read_conf(&c)))
		return rc;
	if (m->psk[0])
		m->topts.psk_file = m->psk;
	if (m->psk_identity[0])
		m->topts.psk_identity = m->psk_identity;
	if (m->cert[0])
		m->topts.cert_file = m->cert;
	if (m->key[0])
		m->topts.key_file = m->key;
	if (m->ca[0])
		m->topts.ca_file = m->ca;
	if (!m->topts.insecure && !m->topts.psk_file && !m->topts.cert_file) {
		if (access(MIGR_PSK_FILE, R_OK) == 0) {
			m->topts.psk_file = MIGR_PSK_FILE;
		} else {
			m->topts.ca_file = MIGR_TLS_DIR "/ca.pem";
			m->topts.cert_file = MIGR_TLS_DIR "/cert.pem";
			m->topts.key_file = MIGR_TLS_DIR "/key.pem";
		}
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
	if (m->event_log[0]) {
		char dir[512], *slash;

		snprintf(dir, sizeof(dir), "%s", m->event_log);
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
	m->prod.engine.record_dir = src_record_dir;   /* where migrd's recovery reads them */
	m->prod.engine.report_dir = report_dir ? report_dir : MIGR_REPORT_DIR;
	migr_evac_prod_hooks(&m->prod, &c);
	c.migrate = metered_migrate;
	c.roundlog_dir = m->prod.engine.report_dir;
	c.running = on_running;
	c.host = m->host;
	c.event_log = m->event_log[0] ? m->event_log : NULL;
	c.default_targets = m->targets[0] ? m->targets : NULL;
	c.daemon = true;
	c.dom0_cpus = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
	c.event = migrd_control_event;
	c.lg = lg;
	/* The control socket first: the service's first events may already have clients. */
	if ((rc = migrd_control_start(m->control_path)))
		return rc;
	if ((rc = migr_evacd_new(m->xs, m->schema, &c, &m->svc))) {
		fprintf(stderr, "migrd: cannot start the evacuation service (%s)\n",
			migr_strerror(rc));
		return rc;
	}
	if ((rc = migrd_watch_start()))
		return rc;
	fprintf(stderr, "migrd: evacuation ready on %s: control %s, targets %s, notice %u s, "
		"event log %s\n", m->host, m->control_path, m->targets[0] ? m->targets : "(per request)",
		c.notice_s, m->event_log[0] ? m->event_log : "(none)");
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
}

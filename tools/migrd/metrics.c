/*
 * metrics.c: migrd's Prometheus figures (libmigr's migr/metrics.h) in a file for
 * node_exporter's textfile collector: migrations ended (sent by this host's evacuations,
 * received by its receiver), bytes, blackout and duration histograms, evacuations running.
 *
 *   migrd_metrics_start()        once the file's place is known (options, migrd.conf):
 *                                the previous file's counters are carried on
 *   migrd_metrics_sent(), migrd_metrics_received(), migrd_metrics_evacuating()
 *
 * Any thread may report; one lock keeps the figures and the file in step. The file is
 * rewritten whole after each change (a temporary file renamed over it). Figures reported
 * before migrd_metrics_start() are kept and written with the first file.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "evacd.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct migr_metrics figures;
static bool ready, started, warned;
static char path[512];

static void init_locked(void)
{
	if (!ready) {
		migr_metrics_init(&figures);
		ready = true;
	}
}

/* Writes the file (mu held); the first failure is said once, then again after a success. */
static void flush_locked(void)
{
	int rc;

	if (!started || !path[0])
		return;
	rc = migr_metrics_write(path, &figures);
	if (rc && !warned)
		fprintf(stderr, "migrd: metrics: cannot write %s: %s (is node_exporter's textfile "
			"directory there? metrics_file in migrd.conf, or --metrics-file, names "
			"another place; \"\" none); trying again at each change\n", path,
			migr_strerror(rc));
	warned = rc != 0;
}

void migrd_metrics_start(const char *file)
{
	struct migr_metrics prev;
	int rc;

	pthread_mutex_lock(&mu);
	init_locked();
	snprintf(path, sizeof(path), "%s", file ? file : "");
	started = true;
	if (path[0]) {
		rc = migr_metrics_load(path, &prev);
		if (!rc)
			migr_metrics_add(&figures, &prev);
		else if (rc != -ENOENT)
			fprintf(stderr, "migrd: metrics: %s is not a file migrd wrote (%s): counting "
				"from zero\n", path, migr_strerror(rc));
		flush_locked();
		fprintf(stderr, "migrd: metrics in %s%s\n", path, rc ? "" : " (counters carried on)");
	}
	pthread_mutex_unlock(&mu);
}

void migrd_metrics_sent(int rc, const struct migr_evac_outcome *o)
{
	pthread_mutex_lock(&mu);
	init_locked();
	migr_metrics_migration(&figures, MIGR_METRICS_SENT, rc, o->bytes, o->total_us,
			       o->blackout_us);
	flush_locked();
	pthread_mutex_unlock(&mu);
}

void migrd_metrics_received(int rc, const struct migr_recv_result *res)
{
	pthread_mutex_lock(&mu);
	init_locked();
	migr_metrics_migration(&figures, MIGR_METRICS_RECEIVED, rc, res->stream_bytes, 0, 0);
	flush_locked();
	pthread_mutex_unlock(&mu);
}

void migrd_metrics_evacuating(bool running)
{
	pthread_mutex_lock(&mu);
	init_locked();
	if (running)
		figures.evacuations_running++;
	else if (figures.evacuations_running)
		figures.evacuations_running--;
	flush_locked();
	pthread_mutex_unlock(&mu);
}

/*
 * migr/metrics.h: migrd's figures in Prometheus' text exposition format, kept in a file
 * for node_exporter's textfile collector.
 *
 * What is counted: migrations ended, by direction (sent, received) and outcome; bytes
 * moved, by direction; the blackout and the whole duration of the migrations sent that
 * ended done, as histograms with fixed buckets in seconds; evacuations running now. The
 * file is replaced whole (a temporary file renamed over it), so a scrape never reads a
 * part. migr_metrics_parse() reads back what migr_metrics_format() wrote (and nothing
 * else), so that a restarted migrd can carry its counters on.
 *
 * Entry points: migr_metrics_init(), migr_metrics_migration(), migr_metrics_observe(),
 * migr_metrics_add(), migr_metrics_format(), migr_metrics_parse(), migr_metrics_write(),
 * migr_metrics_load(). No locking: the caller serialises.
 */
#ifndef MIGR_METRICS_H
#define MIGR_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "migr/report.h"

#define MIGR_METRICS_FILE "/var/lib/prometheus/node-exporter/migr.prom"
#define MIGR_METRICS_MAX_BYTES (64 * 1024)   /* a longer file is not read back */
#define MIGR_METRICS_MAX_BUCKETS 16

enum migr_metrics_direction {
	MIGR_METRICS_SENT = 0,
	MIGR_METRICS_RECEIVED,
	MIGR_METRICS_DIRECTIONS
};
const char *migr_metrics_direction_name(enum migr_metrics_direction d);

struct migr_metrics_histogram {
	unsigned int n;                       /* finite buckets */
	const double *le;                     /* their upper bounds (seconds), ascending */
	uint64_t counts[MIGR_METRICS_MAX_BUCKETS + 1];  /* per bucket, not cumulative;
	                                         counts[n]: above the last bound */
	double sum;                           /* seconds */
	uint64_t count;
};

struct migr_metrics {
	uint64_t migrations[MIGR_METRICS_DIRECTIONS][MIGR_REPORT_OUTCOME_COUNT];
	uint64_t bytes[MIGR_METRICS_DIRECTIONS];
	struct migr_metrics_histogram blackout;   /* migr_migration_blackout_seconds */
	struct migr_metrics_histogram duration;   /* migr_migration_duration_seconds */
	uint64_t evacuations_running;             /* a gauge: not read back */
};

/* Zeroes m and sets the fixed buckets. */
void migr_metrics_init(struct migr_metrics *m);
void migr_metrics_observe(struct migr_metrics_histogram *h, double seconds);
/* One migration ended: rc is its driver's return code; the histograms take a sent one
 * that ended done (blackout_us 0: not observed). */
void migr_metrics_migration(struct migr_metrics *m, enum migr_metrics_direction d, int rc,
			    uint64_t bytes, uint64_t total_us, uint64_t blackout_us);
/* Adds from's counters and histograms to to's (the gauge is to's). */
void migr_metrics_add(struct migr_metrics *to, const struct migr_metrics *from);

/* The exposition text (malloc'd): # HELP and # TYPE, then the samples. */
int migr_metrics_format(const struct migr_metrics *m, char **text_r, size_t *len_r);
/* Reads text written by migr_metrics_format() back into *m_r (counters and histograms;
 * the gauge reads as 0). -EBADMSG for anything else: an unknown or missing series, a
 * bucket bound of another version, cumulative counts that decrease, a +Inf bucket that is
 * not the count. */
int migr_metrics_parse(const char *text, size_t len, struct migr_metrics *m_r);
/* The file (mode 0644), replaced whole. */
int migr_metrics_write(const char *path, const struct migr_metrics *m);
/* migr_metrics_parse() of the file; -ENOENT when there is none. */
int migr_metrics_load(const char *path, struct migr_metrics *m_r);

#endif /* MIGR_METRICS_H */

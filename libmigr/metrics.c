/*
 * metrics.c: migrd's figures in Prometheus' text exposition format (migr/metrics.h).
 *
 * Entry points: migr_metrics_init(), migr_metrics_observe(), migr_metrics_migration(),
 * migr_metrics_add(), migr_metrics_format(), migr_metrics_parse(), migr_metrics_write(),
 * migr_metrics_load(), migr_metrics_direction_name().
 *
 * The series are listed once (series()): the writer prints them in that order, the reader
 * accepts exactly them. Histograms are kept per bucket and printed cumulative, as the
 * format wants (_bucket{le=...} counts every observation up to le; +Inf equals _count).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libmigr.h"
#include "buf.h"

/* Seconds. The blackout budget's default is 0.3 s; a migration of a busy large guest
 * takes minutes. */
static const double blackout_le[] = { 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10 };
static const double duration_le[] = { 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800 };

#define N(a) (sizeof(a) / sizeof((a)[0]))

const char *migr_metrics_direction_name(enum migr_metrics_direction d)
{
	return d == MIGR_METRICS_SENT ? "sent" : d == MIGR_METRICS_RECEIVED ? "received" : "?";
}

void migr_metrics_init(struct migr_metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->blackout.n = N(blackout_le);
	m->blackout.le = blackout_le;
	m->duration.n = N(duration_le);
	m->duration.le = duration_le;
}

void migr_metrics_observe(struct migr_metrics_histogram *h, double seconds)
{
	unsigned int i;

	if (!isfinite(seconds) || seconds < 0)
		seconds = 0;
	for (i = 0; i < h->n && seconds > h->le[i]; i++)
		;
	h->counts[i]++;
	h->count++;
	h->sum += seconds;
}

void migr_metrics_migration(struct migr_metrics *m, enum migr_metrics_direction d, int rc,
			    uint64_t bytes, uint64_t total_us, uint64_t blackout_us)
{
	if ((unsigned int)d >= MIGR_METRICS_DIRECTIONS)
		return;
	m->migrations[d][migr_report_outcome_of(rc)]++;
	m->bytes[d] += bytes;
	if (d != MIGR_METRICS_SENT || rc)
		return;
	if (blackout_us)
		migr_metrics_observe(&m->blackout, blackout_us / 1e6);
	migr_metrics_observe(&m->duration, total_us / 1e6);
}

static void hist_add(struct migr_metrics_histogram *to, const struct migr_metrics_histogram *f)
{
	for (unsigned int i = 0; i <= to->n && i <= MIGR_METRICS_MAX_BUCKETS; i++)
		to->counts[i] += f->counts[i];
	to->count += f->count;
	to->sum += f->sum;
}

void migr_metrics_add(struct migr_metrics *to, const struct migr_metrics *from)
{
	for (unsigned int d = 0; d < MIGR_METRICS_DIRECTIONS; d++) {
		for (unsigned int o = 0; o < MIGR_REPORT_OUTCOME_COUNT; o++)
			to->migrations[d][o] += from->migrations[d][o];
		to->bytes[d] += from->bytes[d];
	}
	hist_add(&to->blackout, &from->blackout);
	hist_add(&to->duration, &from->duration);
}

/* ---- the series --------------------------------------------------------------------------- */

enum skind { S_COUNT, S_CUMULATIVE, S_SUM, S_GAUGE };

struct slot {
	char key[112];                 /* name{labels} as printed */
	enum skind kind;
	uint64_t *u;                   /* S_COUNT, S_CUMULATIVE */
	double *d;                     /* S_SUM */
	bool seen;
};

struct family {
	const char *name, *type, *help;
};

static const struct family fam_migrations = { "migr_migrations_total", "counter",
	"Live migrations this host's migrd ended, by direction and outcome (received: those "
	"whose stream began)." };
static const struct family fam_bytes = { "migr_migration_bytes_total", "counter",
	"Bytes of live migrations, by direction (sent: on the wire; received: the stream)." };
static const struct family fam_blackout = { "migr_migration_blackout_seconds", "histogram",
	"Blackout of the migrations this host sent that ended done: from the suspend request "
	"to the guest unpaused on the target." };
static const struct family fam_duration = { "migr_migration_duration_seconds", "histogram",
	"Whole duration of the migrations this host sent that ended done." };
static const struct family fam_evac = { "migr_evacuations_in_progress", "gauge",
	"Evacuations of this host running now." };

/* Cumulative bucket counts, as printed and read. */
struct cum {
	uint64_t blackout[MIGR_METRICS_MAX_BUCKETS + 1], duration[MIGR_METRICS_MAX_BUCKETS + 1];
	uint64_t gauge;
};

/* Calls fn for each family header and each series, in the order of the file. */
static void series(struct migr_metrics *m, struct cum *c,
		   void (*fam)(void *arg, const struct family *f),
		   void (*one)(void *arg, struct slot *s), void *arg)
{
	struct slot s;

	fam(arg, &fam_migrations);
	for (unsigned int d = 0; d < MIGR_METRICS_DIRECTIONS; d++)
		for (unsigned int o = 0; o < MIGR_REPORT_OUTCOME_COUNT; o++) {
			memset(&s, 0, sizeof(s));
			snprintf(s.key, sizeof(s.key), "%s{direction=\"%s\",outcome=\"%s\"}",
				 fam_migrations.name, migr_metrics_direction_name(d),
				 migr_report_outcome_name(o));
			s.kind = S_COUNT;
			s.u = &m->migrations[d][o];
			one(arg, &s);
		}
	fam(arg, &fam_bytes);
	for (unsigned int d = 0; d < MIGR_METRICS_DIRECTIONS; d++) {
		memset(&s, 0, sizeof(s));
		snprintf(s.key, sizeof(s.key), "%s{direction=\"%s\"}", fam_bytes.name,
			 migr_metrics_direction_name(d));
		s.kind = S_COUNT;
		s.u = &m->bytes[d];
		one(arg, &s);
	}
	for (unsigned int k = 0; k < 2; k++) {
		const struct family *f = k ? &fam_duration : &fam_blackout;
		struct migr_metrics_histogram *h = k ? &m->duration : &m->blackout;
		uint64_t *cum = k ? c->duration : c->blackout;

		fam(arg, f);
		for (unsigned int i = 0; i <= h->n; i++) {
			memset(&s, 0, sizeof(s));
			if (i < h->n)
				snprintf(s.key, sizeof(s.key), "%s_bucket{le=\"%g\"}", f->name,
					 h->le[i]);
			else
				snprintf(s.key, sizeof(s.key), "%s_bucket{le=\"+Inf\"}", f->name);
			s.kind = S_CUMULATIVE;
			s.u = &cum[i];
			one(arg, &s);
		}
		memset(&s, 0, sizeof(s));
		snprintf(s.key, sizeof(s.key), "%s_sum", f->name);
		s.kind = S_SUM;
		s.d = &h->sum;
		one(arg, &s);
		memset(&s, 0, sizeof(s));
		snprintf(s.key, sizeof(s.key), "%s_count", f->name);
		s.kind = S_COUNT;
		s.u = &h->count;
		one(arg, &s);
	}
	fam(arg, &fam_evac);
	memset(&s, 0, sizeof(s));
	snprintf(s.key, sizeof(s.key), "%s", fam_evac.name);
	s.kind = S_GAUGE;
	s.u = &c->gauge;
	one(arg, &s);
}

/* ---- writing ---------------------------------------------------------------------------- */

static void w_fam(void *arg, const struct family *f)
{
	migr__buf_printf(arg, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
}

static void w_one(void *arg, struct slot *s)
{
	if (s->kind == S_SUM)
		migr__buf_printf(arg, "%s %.6f\n", s->key, *s->d);
	else
		migr__buf_printf(arg, "%s %llu\n", s->key, (unsigned long long)*s->u);
}

int migr_metrics_format(const struct migr_metrics *m, char **text_r, size_t *len_r)
{
	struct migr__buf b = { 0 };
	struct migr_metrics copy = *m;
	struct cum c;
	int rc;

	memset(&c, 0, sizeof(c));
	for (unsigned int k = 0; k < 2; k++) {
		const struct migr_metrics_histogram *h = k ? &m->duration : &m->blackout;
		uint64_t *cum = k ? c.duration : c.blackout, run = 0;

		for (unsigned int i = 0; i <= h->n && i <= MIGR_METRICS_MAX_BUCKETS; i++) {
			run += h->counts[i];
			cum[i] = run;
		}
	}
	c.gauge = m->evacuations_running;
	series(&copy, &c, w_fam, w_one, &b);
	rc = migr__buf_error(&b);
	if (rc) {
		migr__buf_free(&b);
		return rc;
	}
	*text_r = b.p;
	*len_r = b.len;
	return 0;
}

int migr_metrics_write(const char *path, const struct migr_metrics *m)
{
	char *text = NULL;
	size_t len;
	int rc;

	rc = migr_metrics_format(m, &text, &len);
	if (!rc)
		rc = migr__file_replace(path, text, len, 0644, false);
	free(text);
	return rc;
}

/* ---- reading back -------------------------------------------------------------------------- */

struct table {
	struct slot s[64];
	unsigned int n;
};

static void t_fam(void *arg, const struct family *f)
{
}

static void t_one(void *arg, struct slot *s)
{
	struct table *t = arg;

	if (t->n < N(t->s))
		t->s[t->n++] = *s;
}

static int value_u64(const char *v, uint64_t *u_r)
{
	char *end;
	unsigned long long x;

	if (*v < '0' || *v > '9')
		return -EBADMSG;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end)
		return -EBADMSG;
	*u_r = x;
	return 0;
}

static int value_f(const char *v, double *d_r)
{
	char *end;
	double x;

	if ((*v < '0' || *v > '9') && *v != '.')
		return -EBADMSG;
	errno = 0;
	x = strtod(v, &end);
	if (errno || *end || !isfinite(x) || x < 0)
		return -EBADMSG;
	*d_r = x;
	return 0;
}

static int from_cumulative(struct migr_metrics_histogram *h, const uint64_t *cum)
{
	uint64_t prev = 0;

	for (unsigned int i = 0; i <= h->n; i++) {
		if (cum[i] < prev)
			return -EBADMSG;
		h->counts[i] = cum[i] - prev;
		prev = cum[i];
	}
	return prev == h->count ? 0 : -EBADMSG;
}

int migr_metrics_parse(const char *text, size_t len, struct migr_metrics *m_r)
{
	struct migr_metrics m;
	struct table *t;
	struct cum c;
	char *copy, *line, *save = NULL;
	int rc = 0;

	if (len > MIGR_METRICS_MAX_BYTES || memchr(text, '\0', len))
		return -EBADMSG;
	t = calloc(1, sizeof(*t));
	copy = strndup(text, len);
	if (!t || !copy) {
		free(t);
		free(copy);
		return -ENOMEM;
	}
	migr_metrics_init(&m);
	memset(&c, 0, sizeof(c));
	series(&m, &c, t_fam, t_one, t);
	for (line = strtok_r(copy, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
		char *sp;
		unsigned int i;

		if (line[0] == '#')
			continue;
		sp = strrchr(line, ' ');
		if (!sp) {
			rc = -EBADMSG;
			break;
		}
		*sp++ = '\0';
		for (i = 0; i < t->n && strcmp(t->s[i].key, line); i++)
			;
		if (i == t->n || t->s[i].seen) {
			rc = -EBADMSG;
			break;
		}
		t->s[i].seen = true;
		if (t->s[i].kind == S_SUM)
			rc = value_f(sp, t->s[i].d);
		else
			rc = value_u64(sp, t->s[i].u);
	}
	for (unsigned int i = 0; !rc && i < t->n; i++)
		if (!t->s[i].seen)
			rc = -EBADMSG;
	if (!rc)
		rc = from_cumulative(&m.blackout, c.blackout);
	if (!rc)
		rc = from_cumulative(&m.duration, c.duration);
	free(copy);
	free(t);
	if (rc)
		return rc;
	m.evacuations_running = 0;
	*m_r = m;
	return 0;
}

int migr_metrics_load(const char *path, struct migr_metrics *m_r)
{
	char *text = NULL;
	size_t len;
	int rc;

	rc = migr__file_read(path, MIGR_METRICS_MAX_BYTES, &text, &len);
	if (rc)
		return rc;
	rc = migr_metrics_parse(text, len, m_r);
	free(text);
	return rc;
}

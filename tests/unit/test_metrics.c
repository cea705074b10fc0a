/*
 * test_metrics.c: the Prometheus text exposition of libmigr/metrics.c.
 *
 * The text is checked against the format by a reader written here, not the library's:
 * every sample belongs to a family announced by # HELP and # TYPE before it; names and
 * labels are well formed; a histogram has its _bucket lines in ascending le order ending
 * with +Inf, cumulative counts that never decrease, a +Inf bucket equal to _count, and a
 * _sum; counters are non-negative integers. Then the figures are compared with the
 * observations made, the file is read back (and carries a restart), and damaged files are
 * refused.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "libmigr.h"
#include "unit.h"

#define MAXF 16

struct fam {
	char name[96], type[16];
	bool help;
	/* histograms */
	double last_le;
	unsigned long long last_cum, inf, count;
	bool have_inf, have_sum, have_count;
	unsigned int buckets;
	double sum;
};

struct expo {
	struct fam f[MAXF];
	unsigned int n;
	unsigned int samples;
};

static struct fam *find(struct expo *e, const char *name)
{
	for (unsigned int i = 0; i < e->n; i++)
		if (!strcmp(e->f[i].name, name))
			return &e->f[i];
	return NULL;
}

static bool name_ok(const char *s, size_t n)
{
	if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return false;
	return true;
}

/* Labels {a="x",b="y"}: well formed; le's value into *le (NULL: none). */
static bool labels_ok(const char *s, const char **le_r, size_t *le_len)
{
	*le_r = NULL;
	if (*s != '{')
		return false;
	s++;
	while (*s != '}') {
		const char *k = s, *v;

		while (isalnum((unsigned char)*s) || *s == '_')
			s++;
		if (s == k || s[0] != '=' || s[1] != '"')
			return false;
		v = s + 2;
		s = v;
		while (*s && *s != '"') {
			if (*s == '\\')
				s++;
			if (*s)
				s++;
		}
		if (*s != '"')
			return false;
		if (v - k - 2 == 2 && !strncmp(k, "le", 2)) {
			*le_r = v;
			*le_len = (size_t)(s - v);
		}
		s++;
		if (*s == ',')
			s++;
		else if (*s != '}')
			return false;
	}
	return s[1] == '\0';
}

/* Checks the text; fills e. Returns the number of problems (each printed). */
static int validate(const char *text, struct expo *e)
{
	char *copy = strdup(text), *line, *save = NULL;
	int bad = 0;

	memset(e, 0, sizeof(*e));
	if (!copy)
		return 1;
	if (!*text || text[strlen(text) - 1] != '\n') {
		fprintf(stderr, "expo: does not end with a newline\n");
		bad++;
	}
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128], *sp, *val, *end;
		const char *lbl, *le;
		size_t nl, le_len = 0;
		struct fam *f;
		double v;

		if (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7)) {
			char *n = line + 7, *rest = strchr(n, ' ');

			if (!rest || !name_ok(n, (size_t)(rest - n))) {
				fprintf(stderr, "expo: bad comment line: %s\n", line);
				bad++;
				continue;
			}
			*rest++ = '\0';
			f = find(e, n);
			if (!f) {
				if (e->n == MAXF)
					abort();
				f = &e->f[e->n++];
				snprintf(f->name, sizeof(f->name), "%s", n);
				f->last_le = -INFINITY;
			}
			if (line[2] == 'H') {
				f->help = true;
			} else {
				if (f->type[0] || (strcmp(rest, "counter") && strcmp(rest, "gauge") &&
						   strcmp(rest, "histogram"))) {
					fprintf(stderr, "expo: TYPE of %s given twice or unknown\n", n);
					bad++;
				}
				snprintf(f->type, sizeof(f->type), "%s", rest);
			}
			continue;
		}
		if (line[0] == '#') {
			fprintf(stderr, "expo: unexpected comment: %s\n", line);
			bad++;
			continue;
		}
		e->samples++;
		sp = strrchr(line, ' ');
		if (!sp) {
			fprintf(stderr, "expo: no value: %s\n", line);
			bad++;
			continue;
		}
		*sp = '\0';
		val = sp + 1;
		lbl = strchr(line, '{');
		nl = lbl ? (size_t)(lbl - line) : strlen(line);
		if (!name_ok(line, nl) || nl >= sizeof(name) || (lbl && !labels_ok(lbl, &le, &le_len))) {
			fprintf(stderr, "expo: bad series: %s\n", line);
			bad++;
			continue;
		}
		if (!lbl)
			le = NULL;
		memcpy(name, line, nl);
		name[nl] = '\0';
		errno = 0;
		v = strtod(val, &end);
		if (errno || *end || !isfinite(v) || v < 0) {
			fprintf(stderr, "expo: bad value for %s: %s\n", line, val);
			bad++;
			continue;
		}
		f = find(e, name);
		if (f && !strcmp(f->type, "histogram")) {
			fprintf(stderr, "expo: a histogram's own name as a sample: %s\n", name);
			bad++;
			continue;
		}
		if (!f) {
			/* a histogram's series */
			static const char *const suf[] = { "_bucket", "_sum", "_count" };
			unsigned int k;

			for (k = 0; k < 3; k++) {
				size_t sl = strlen(suf[k]);

				if (nl > sl && !strcmp(name + nl - sl, suf[k])) {
					name[nl - sl] = '\0';
					break;
				}
			}
			f = k < 3 ? find(e, name) : NULL;
			if (!f || strcmp(f->type, "histogram")) {
				fprintf(stderr, "expo: sample of no announced family: %s\n", line);
				bad++;
				continue;
			}
			if (k == 0) {
				char lev[32];
				double l;

				if (!le || le_len >= sizeof(lev) || f->have_inf) {
					fprintf(stderr, "expo: bucket without le, or after +Inf: %s\n",
						line);
					bad++;
					continue;
				}
				memcpy(lev, le, le_len);
				lev[le_len] = '\0';
				l = !strcmp(lev, "+Inf") ? INFINITY : strtod(lev, NULL);
				if (!(l > f->last_le) || v != floor(v) ||
				    (unsigned long long)v < f->last_cum) {
					fprintf(stderr, "expo: %s: le or count out of order\n", line);
					bad++;
				}
				f->last_le = l;
				f->last_cum = (unsigned long long)v;
				f->buckets++;
				if (isinf(l)) {
					f->have_inf = true;
					f->inf = (unsigned long long)v;
				}
			} else if (k == 1) {
				f->have_sum = true;
				f->sum = v;
			} else {
				f->have_count = true;
				f->count = (unsigned long long)v;
				if (v != floor(v)) {
					fprintf(stderr, "expo: %s: a fractional count\n", line);
					bad++;
				}
			}
			continue;
		}
		if (!f->help || !f->type[0]) {
			fprintf(stderr, "expo: %s before its HELP and TYPE\n", name);
			bad++;
		}
		if (!strcmp(f->type, "counter") && v != floor(v)) {
			fprintf(stderr, "expo: counter %s is not a whole number\n", line);
			bad++;
		}
	}
	for (unsigned int i = 0; i < e->n; i++) {
		struct fam *f = &e->f[i];

		if (!f->help || !f->type[0]) {
			fprintf(stderr, "expo: %s lacks HELP or TYPE\n", f->name);
			bad++;
		}
		if (!strcmp(f->type, "histogram") &&
		    (!f->have_inf || !f->have_sum || !f->have_count || f->inf != f->count ||
		     f->buckets < 2)) {
			fprintf(stderr, "expo: histogram %s incomplete or +Inf != count\n", f->name);
			bad++;
		}
	}
	free(copy);
	return bad;
}

static const char *series_value(const char *text, const char *series, char *buf, size_t len)
{
	char key[200];
	const char *p;

	buf[0] = '\0';
	snprintf(key, sizeof(key), "\n%s ", series);
	p = strstr(text, key);
	if (!p)
		return NULL;
	p += strlen(key);
	snprintf(buf, len, "%.*s", (int)strcspn(p, "\n"), p);
	return buf;
}

static void test_format(void)
{
	struct migr_metrics m, back;
	struct expo e;
	char *text = NULL, v[64];
	size_t len;
	double blackouts[] = { 0.05, 0.12, 0.3, 0.31, 9, 11, 0 };
	unsigned int obs = 0;

	migr_metrics_init(&m);
	/* empty: every family, zeros */
	CHECK_EQ(migr_metrics_format(&m, &text, &len), 0);
	CHECK_EQ(validate(text, &e), 0);
	CHECK_EQ(e.n, 5);
	free(text);

	for (unsigned int i = 0; i < sizeof(blackouts) / sizeof(blackouts[0]); i++) {
		migr_metrics_migration(&m, MIGR_METRICS_SENT, 0, 1000 + i, 2000000 * (i + 1),
				       (uint64_t)(blackouts[i] * 1e6));
		obs += blackouts[i] > 0;
	}
	migr_metrics_migration(&m, MIGR_METRICS_SENT, -MIGR_E_ABORTED, 10, 5000000, 100000);
	migr_metrics_migration(&m, MIGR_METRICS_SENT, -MIGR_E_UNDECIDED, 10, 5000000, 100000);
	migr_metrics_migration(&m, MIGR_METRICS_RECEIVED, 0, 1ull << 40, 0, 0);
	migr_metrics_migration(&m, MIGR_METRICS_RECEIVED, -EIO, 7, 0, 0);
	m.evacuations_running = 1;
	CHECK_EQ(migr_metrics_format(&m, &text, &len), 0);
	if (!text)
		return;
	CHECK_EQ(strlen(text), len);
	CHECK_EQ(validate(text, &e), 0);
	{
		struct fam *b = find(&e, "migr_migration_blackout_seconds");
		struct fam *d = find(&e, "migr_migration_duration_seconds");

		CHECK(b != NULL && d != NULL);
		if (b && d) {
			/* only the done ones with a blackout, and every done one's duration */
			CHECK_EQ(b->count, obs);
			CHECK_EQ(d->count, 7);
			CHECK(fabs(b->sum - (0.05 + 0.12 + 0.3 + 0.31 + 9 + 11)) < 1e-6);
			CHECK(fabs(d->sum - 2 * (1 + 2 + 3 + 4 + 5 + 6 + 7)) < 1e-6);
		}
	}
	CHECK_STR(series_value(text, "migr_migrations_total{direction=\"sent\",outcome=\"done\"}",
			       v, sizeof(v)), "7");
	CHECK_STR(series_value(text, "migr_migrations_total{direction=\"sent\",outcome=\"aborted\"}",
			       v, sizeof(v)), "1");
	CHECK_STR(series_value(text, "migr_migrations_total{direction=\"sent\",outcome=\"undecided\"}",
			       v, sizeof(v)), "1");
	CHECK_STR(series_value(text, "migr_migrations_total{direction=\"received\",outcome=\"failed\"}",
			       v, sizeof(v)), "1");
	CHECK_STR(series_value(text, "migr_migration_bytes_total{direction=\"received\"}", v,
			       sizeof(v)), "1099511627783");
	/* le is inclusive: 0.05 goes into the 0.05 bucket, 0.3 into 0.3, 11 only into +Inf */
	CHECK_STR(series_value(text, "migr_migration_blackout_seconds_bucket{le=\"0.05\"}", v,
			       sizeof(v)), "1");
	CHECK_STR(series_value(text, "migr_migration_blackout_seconds_bucket{le=\"0.3\"}", v,
			       sizeof(v)), "3");
	CHECK_STR(series_value(text, "migr_migration_blackout_seconds_bucket{le=\"10\"}", v,
			       sizeof(v)), "5");
	CHECK_STR(series_value(text, "migr_migration_blackout_seconds_bucket{le=\"+Inf\"}", v,
			       sizeof(v)), "6");
	CHECK_STR(series_value(text, "migr_evacuations_in_progress", v, sizeof(v)), "1");
	CHECK(strstr(text, "# TYPE migr_migration_blackout_seconds histogram\n") != NULL);
	CHECK(strstr(text, "# TYPE migr_migrations_total counter\n") != NULL);
	CHECK(strstr(text, "# TYPE migr_evacuations_in_progress gauge\n") != NULL);

	/* read back: the same counters, the gauge not carried */
	CHECK_EQ(migr_metrics_parse(text, len, &back), 0);
	CHECK_EQ(back.migrations[MIGR_METRICS_SENT][MIGR_REPORT_DONE], 7);
	CHECK_EQ(back.bytes[MIGR_METRICS_RECEIVED], (1ull << 40) + 7);
	CHECK_EQ(back.blackout.count, obs);
	for (unsigned int i = 0; i <= back.blackout.n; i++)
		CHECK_EQ(back.blackout.counts[i], m.blackout.counts[i]);
	CHECK(fabs(back.duration.sum - m.duration.sum) < 1e-6);
	CHECK_EQ(back.evacuations_running, 0);
	/* a restart: the previous figures plus what came since */
	migr_metrics_add(&back, &m);
	CHECK_EQ(back.migrations[MIGR_METRICS_SENT][MIGR_REPORT_DONE], 14);
	CHECK_EQ(back.blackout.count, 2 * obs);
	free(text);
	CHECK_EQ(migr_metrics_format(&back, &text, &len), 0);
	if (text)
		CHECK_EQ(validate(text, &e), 0);
	free(text);
}

/* Replaces the first occurrence of from by to in a copy of text; parse must refuse it. */
static void refused(const char *text, const char *from, const char *to)
{
	const char *p = strstr(text, from);
	struct migr_metrics m;
	char *t;

	CHECK(p != NULL);
	if (!p)
		return;
	if (asprintf(&t, "%.*s%s%s", (int)(p - text), text, to, p + strlen(from)) < 0)
		abort();
	if (migr_metrics_parse(t, strlen(t), &m) != -EBADMSG) {
		fprintf(stderr, "metrics with \"%s\" -> \"%s\": read back\n", from, to);
		CHECK(0);
	}
	free(t);
}

static void test_refusals(void)
{
	struct migr_metrics m;
	char *text = NULL, *big;
	size_t len;

	migr_metrics_init(&m);
	migr_metrics_migration(&m, MIGR_METRICS_SENT, 0, 100, 3000000, 200000);
	migr_metrics_migration(&m, MIGR_METRICS_SENT, 0, 100, 3000000, 400000);
	CHECK_EQ(migr_metrics_format(&m, &text, &len), 0);
	if (!text)
		return;
	/* a decreasing bucket, +Inf not the count, a missing series, an unknown one, a series
	 * twice, a negative or fractional counter, another version's buckets, garbage */
	refused(text, "blackout_seconds_bucket{le=\"0.5\"} 2", "blackout_seconds_bucket{le=\"0.5\"} 0");
	refused(text, "blackout_seconds_count 2", "blackout_seconds_count 3");
	refused(text, "migr_migration_duration_seconds_sum", "# migr_migration_duration_seconds_sum");
	refused(text, "migr_evacuations_in_progress 0", "migr_evacuations_in_progress 0\nmigr_other 1");
	refused(text, "migr_evacuations_in_progress 0",
		"migr_evacuations_in_progress 0\nmigr_evacuations_in_progress 0");
	refused(text, "{direction=\"sent\",outcome=\"done\"} 2", "{direction=\"sent\",outcome=\"done\"} -2");
	refused(text, "{direction=\"sent\",outcome=\"done\"} 2", "{direction=\"sent\",outcome=\"done\"} 2.5");
	refused(text, "le=\"0.75\"", "le=\"0.7\"");
	refused(text, "migr_evacuations_in_progress 0", "migr_evacuations_in_progress");
	refused(text, "_sum 0.600000", "_sum nan");
	CHECK_EQ(migr_metrics_parse("", 0, &m), -EBADMSG);
	big = calloc(1, MIGR_METRICS_MAX_BYTES + 2);
	if (big) {
		memset(big, '#', MIGR_METRICS_MAX_BYTES + 1);
		CHECK_EQ(migr_metrics_parse(big, MIGR_METRICS_MAX_BYTES + 1, &m), -EBADMSG);
		free(big);
	}
	free(text);
}

static void test_file(void)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", path[128], cmd[160];
	struct migr_metrics m, back;
	struct stat st;

	if (!mkdtemp(dir)) {
		CHECK(0);
		return;
	}
	snprintf(path, sizeof(path), "%s/migr.prom", dir);
	CHECK_EQ(migr_metrics_load(path, &back), -ENOENT);
	migr_metrics_init(&m);
	migr_metrics_migration(&m, MIGR_METRICS_RECEIVED, 0, 12345, 0, 0);
	CHECK_EQ(migr_metrics_write(path, &m), 0);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0644);
	CHECK_EQ(migr_metrics_load(path, &back), 0);
	CHECK_EQ(back.bytes[MIGR_METRICS_RECEIVED], 12345);
	/* only migr.prom: no temporary file left behind */
	snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) = 1", dir);
	CHECK_EQ(system(cmd), 0);
	CHECK(migr_metrics_write("/nonexistent/dir/migr.prom", &m) < 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	test_format();
	test_refusals();
	test_file();
	return unit_done("test_metrics");
}

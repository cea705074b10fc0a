/*
 * migr_trace.c: the trace tool.
 *
 *   migr-trace info FILE...                 header, note, size and rates of each trace
 *   migr-trace gen NAME OUT                 one trace of the synthetic suite (gen.c)
 *   migr-trace gen-list                     names of the synthetic suite
 *   migr-trace synth KIND OUT PAGES RATE SECS [ARG...]
 *       uniform:  no ARG
 *       hotcold:  HOT_PAGES COLD_RATE
 *       scanner:  REGION_PAGES
 *       bursty:   CALM_S BURST_S CALM_SET BURST_SET BURST_RATE   (RATE is the calm rate)
 *   migr-trace crop IN OUT SECS             the first SECS seconds of a trace
 *
 * Recording real programs: see bench/traces/README.md (libmigr-trace-rec.so).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gen.h"
#include "trace.h"

static int usage(void)
{
	fprintf(stderr, "usage: migr-trace info FILE... | gen NAME OUT | gen-list |"
		" synth KIND OUT PAGES RATE SECS [ARG...] | crop IN OUT SECS\n");
	return 2;
}

static int save(struct trace *t, const char *out, const char *note)
{
	int rc;

	if (!t) {
		fprintf(stderr, "migr-trace: cannot build the trace (bad parameters?)\n");
		return 1;
	}
	if (note && trace_set_note(t, note)) {
		trace_free(t);
		return 1;
	}
	rc = trace_save(t, out);
	if (rc)
		fprintf(stderr, "migr-trace: %s: %s\n", out, strerror(-rc));
	trace_free(t);
	return rc ? 1 : 0;
}

static int info(const char *path)
{
	struct trace *t;
	const char *why = NULL;
	uint64_t total, peak = 0;
	uint32_t e;
	int rc = trace_load(path, &t, &why);

	if (rc) {
		fprintf(stderr, "migr-trace: %s: %s\n", path, rc == -EINVAL && why ? why : strerror(-rc));
		return 1;
	}
	total = trace_total_writes(t);
	for (e = 0; e < t->n_epochs; e++) {
		uint64_t n = trace_pages_in_epoch(t, e);

		if (n > peak)
			peak = n;
	}
	printf("%s: %llu pages x %u B (%.1f MiB), %u epochs of %u us (%.1f s), %zu runs\n",
	       path, (unsigned long long)t->n_pages, t->page_size,
	       (double)t->n_pages * t->page_size / 1048576.0, t->n_epochs, t->epoch_us,
	       (double)t->n_epochs * t->epoch_us / 1e6, t->n_runs);
	printf("  page-epochs written %llu (%.0f pages/s), busiest epoch %llu pages\n",
	       (unsigned long long)total,
	       t->n_epochs ? (double)total / ((double)t->n_epochs * t->epoch_us / 1e6) : 0.0,
	       (unsigned long long)peak);
	if (t->note && *t->note)
		printf("  note: %s\n", t->note);
	trace_free(t);
	return 0;
}

static int crop(const char *in, const char *out, double secs)
{
	struct trace *t, *c;
	const char *why = NULL;
	uint32_t e, ne;
	int rc = trace_load(in, &t, &why);

	if (rc) {
		fprintf(stderr, "migr-trace: %s: %s\n", in, rc == -EINVAL && why ? why : strerror(-rc));
		return 1;
	}
	ne = (uint32_t)(secs * 1e6 / t->epoch_us);
	if (ne > t->n_epochs)
		ne = t->n_epochs;
	c = trace_new(t->name, t->page_size, t->epoch_us, t->n_pages);
	for (e = 0; c && e < ne; e++) {
		for (size_t i = t->epoch_off[e]; i < t->epoch_off[e + 1]; i++)
			if (trace_add_run(c, t->runs[i].start, t->runs[i].len))
				goto fail;
		if (trace_end_epoch(c))
			goto fail;
	}
	rc = save(c, out, t->note);
	trace_free(t);
	return rc;
fail:
	trace_free(c);
	trace_free(t);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "info") && argc >= 3) {
		int rc = 0;

		for (int i = 2; i < argc; i++)
			rc |= info(argv[i]);
		return rc;
	}
	if (!strcmp(argv[1], "gen-list")) {
		for (const struct gen_spec *g = gen_suite; g->name; g++)
			printf("%-20s %s\n", g->name, g->what);
		return 0;
	}
	if (!strcmp(argv[1], "gen") && argc == 4) {
		const struct gen_spec *g = gen_find(argv[2]);
		char note[256];

		if (!g) {
			fprintf(stderr, "migr-trace: no synthetic trace %s (see gen-list)\n", argv[2]);
			return 1;
		}
		snprintf(note, sizeof(note), "synthetic (bench/sim/gen.c %s): %s", g->name, g->what);
		return save(g->make(g->name), argv[3], note);
	}
	if (!strcmp(argv[1], "crop") && argc == 5)
		return crop(argv[2], argv[3], atof(argv[4]));
	if (!strcmp(argv[1], "synth") && argc >= 7) {
		const char *kind = argv[2], *out = argv[3];
		uint64_t pages = strtoull(argv[4], NULL, 0);
		double rate = atof(argv[5]), secs = atof(argv[6]);
		char note[512];
		int na = argc - 7;
		char **a = argv + 7;
		struct trace *t = NULL;

		if (!strcmp(kind, "uniform") && na == 0)
			t = gen_uniform(kind, pages, rate, secs, 1);
		else if (!strcmp(kind, "hotcold") && na == 2)
			t = gen_hotcold(kind, pages, strtoull(a[0], NULL, 0), rate, atof(a[1]), secs, 1);
		else if (!strcmp(kind, "scanner") && na == 1)
			t = gen_scanner(kind, pages, strtoull(a[0], NULL, 0), rate, secs, 1);
		else if (!strcmp(kind, "bursty") && na == 5)
			t = gen_bursty(kind, pages, atof(a[0]), atof(a[1]), strtoull(a[2], NULL, 0),
				       rate, strtoull(a[3], NULL, 0), atof(a[4]), secs, 1);
		else
			return usage();
		snprintf(note, sizeof(note), "synthetic (migr-trace synth %s): %llu pages, rate %g"
			 " pages/s, %g s", kind, (unsigned long long)pages, rate, secs);
		for (int i = 0; i < na; i++) {
			size_t l = strlen(note);

			snprintf(note + l, sizeof(note) - l, " %s", a[i]);
		}
		return save(t, out, note);
	}
	return usage();
}

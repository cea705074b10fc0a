/*
 * bench_policy.c: compares stop-and-copy policies on the same dirty traces
 * (`make bench-policy`; docs/policy.md explains the figures).
 *
 * usage: bench-policy [--check] [--no-synthetic] [--verbose] [--bw-mbit N]
 *                     [--fixed-ms N] [--sample-ms N] [--per-page-us N] [TRACE.trc...]
 *
 * For every trace (the synthetic suite of gen.c, then the files given) it runs migr's
 * policy (as the engine calls it, default parameters; again with throttling allowed; and
 * with abort_over_budget, which aborts when the budget is out of reach), libxl's default, QEMU's rule with and without auto-converge, the Xen 3.0 /
 * Clark et al. rule, and a run that never stops, whose every stop point gives the
 * offline oracle: the smallest blackout reachable within the total time migr took.
 * It prints a table per trace, the ratios, and one closing line:
 *   bench-policy: oracle_median=X oracle_worst=Y libxl_writeheavy=Z qemu_worst=W
 * (migr's blackout over the oracle's, median and worst over the traces; over libxl's,
 * worst over the write-heavy traces; over QEMU's, worst over the traces).
 * With --check it exits 1 if a target is missed (the regression run of `make check`).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gen.h"
#include "policies.h"
#include "sim.h"

/* Targets of the issue this bench answers. */
#define T_ORACLE_MEDIAN   1.15
#define T_ORACLE_WORST    1.50
#define T_ORACLE_BYTES    1.10
#define T_LIBXL_HEAVY     0.30
#define T_QEMU            1.00

/* A trace is write-heavy if the guest dirties, in one second after a CLEAN, at least
 * this fraction of what the link carries in a second (QEMU's auto-converge calls a dirty
 * rate high past 50% of the rate sent). */
#define WRITEHEAVY_FRAC   0.50

enum { P_MIGR, P_MIGR_THR, P_MIGR_ABORT, P_LIBXL, P_QEMU, P_QEMU_AC, P_CLARK, P_NEVER, P_NEVER_T20,
       P_NEVER_T40, P_NEVER_T60, P_NEVER_T80, N_POL };

struct row {
	struct sim_result r;
	double bytes;
};

struct oracle {
	int ok;
	double blackout_us, total_us, bytes;
};

/* migr's ratios (migr: default parameters; thr: throttling allowed) */
struct summary {
	char name[64];
	int writeheavy;
	double oracle, oracle_bytes, libxl, qemu, qemu_total;
	double best;            /* over the best stop point at any time up to the limit */
	double thr_oracle, thr_oracle_bytes, thr_libxl, thr_qemu, thr_qemu_ac, thr_qemu_total;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Mean over 1 s windows (starting every second) of the distinct pages written. */
static double w_one_second(const struct trace *t)
{
	uint32_t per = (uint32_t)(1e6 / t->epoch_us), start, e;
	uint64_t *bits = calloc((t->n_pages + 63) / 64, 8);
	double sum = 0;
	unsigned int n = 0;

	if (!bits || !per || t->n_epochs < per) {
		free(bits);
		return 0;
	}
	for (start = 0; start + per <= t->n_epochs; start += per) {
		uint64_t cnt = 0;

		memset(bits, 0, (t->n_pages + 63) / 64 * 8);
		for (e = start; e < start + per; e++)
			for (size_t i = t->epoch_off[e]; i < t->epoch_off[e + 1]; i++)
				for (uint64_t p = t->runs[i].start; p < t->runs[i].start + t->runs[i].len; p++)
					if (!(bits[p >> 6] & (1ull << (p & 63)))) {
						bits[p >> 6] |= 1ull << (p & 63);
						cnt++;
					}
		sum += (double)cnt;
		n++;
	}
	free(bits);
	return n ? sum / n : 0;
}

/* Best blackout among the stop points whose total time is within T (fewest bytes on a
 * tie); if none is, the earliest point. */
static void oracle_scan(struct oracle *o, const struct sim_cfg *cfg, const struct trace *t,
			const struct sim_result *never, double T)
{
	for (size_t i = 0; i < never->n_points; i++) {
		const struct sim_point *pt = &never->points[i];
		double b = sim_point_blackout(cfg, t, pt), tot = pt->live_end_us + b;
		double bytes = (double)(pt->live_pages + pt->dirty) * t->page_size;

		if (tot > T && (o->ok || i))
			continue;
		if (!o->ok || b < o->blackout_us || (b == o->blackout_us && bytes < o->bytes)) {
			o->ok = 1;
			o->blackout_us = b;
			o->total_us = tot;
			o->bytes = bytes;
		}
	}
}

/* The oracle for migr: the guest unthrottled, as migr's policy runs it by default. */
static struct oracle oracle_at(const struct sim_cfg *cfg, const struct trace *t,
			       const struct sim_result *never, double T)
{
	struct oracle o = { 0, 0, 0, 0 };

	oracle_scan(&o, cfg, t, never, T);
	return o;
}

static void print_frontier(const struct sim_cfg *cfg, const struct trace *t,
			   const struct sim_result *never)
{
	double best = INFINITY;
	int shown = 0;

	printf("  oracle frontier (total s -> best blackout ms):");
	for (size_t i = 0; i < never->n_points && shown < 10; i++) {
		const struct sim_point *pt = &never->points[i];
		double b = sim_point_blackout(cfg, t, pt);

		if (b < best * 0.97) {
			best = b;
			printf(" %.1f->%.0f", (pt->live_end_us + b) / 1e6, b / 1e3);
			shown++;
		}
	}
	printf("\n");
}

static const char *flags(const struct sim_result *r)
{
	if (r->aborted)
		return "aborted";
	if (r->forced)
		return "forced at limit";
	return "";
}

static int run_trace(const struct trace *t, const struct sim_cfg *base, struct sim_policy **pol,
		     int verbose, struct summary *sum)
{
	static const char *const names[N_POL] = {
		"migr", "migr-thr", "migr-abrt", "libxl", "qemu", "qemu-ac", "clark", "never", "never-20",
		"never-40", "never-60", "never-80"
	};
	struct sim_cfg cfg = *base;
	struct row rows[N_POL];
	struct oracle o, ob, ot = { 0, 0, 0, 0 };
	double w1, link_pps = cfg.bw_Bps / t->page_size;
	int i, rc = 0;

	/* The harness gives up at 10x the time of round 0 (at least 60 s). */
	cfg.limit_us = 10.0 * (double)t->n_pages * t->page_size * 1e6 / cfg.bw_Bps;
	if (cfg.limit_us < 60e6)
		cfg.limit_us = 60e6;
	w1 = w_one_second(t);
	memset(sum, 0, sizeof(*sum));
	snprintf(sum->name, sizeof(sum->name), "%s", t->name);
	sum->writeheavy = w1 >= WRITEHEAVY_FRAC * link_pps;

	for (i = 0; i < N_POL; i++) {
		rc = sim_run(t, &cfg, pol[i], &rows[i].r, i >= P_NEVER);
		if (rc) {
			fprintf(stderr, "bench-policy: %s on %s: %s\n", names[i], t->name, strerror(-rc));
			goto out;
		}
		rows[i].bytes = (double)(rows[i].r.live_pages + rows[i].r.final_pages) * t->page_size;
	}
	o = oracle_at(&cfg, t, &rows[P_NEVER].r, rows[P_MIGR].r.total_us);
	ob = oracle_at(&cfg, t, &rows[P_NEVER].r, INFINITY);
	/* With throttling allowed, the oracle may also slow the guest by a constant 20..80%
	 * from the start (80 = migr's default maximum). */
	for (i = P_NEVER; i < N_POL; i++)
		oracle_scan(&ot, &cfg, t, &rows[i].r, rows[P_MIGR_THR].r.total_us);

	printf("\n== %s: %llu pages x %u B, %.1f s of trace; W(1 s) = %.0f pages = %.2f of the link%s\n",
	       t->name, (unsigned long long)t->n_pages, t->page_size,
	       (double)t->n_epochs * t->epoch_us / 1e6, w1, w1 / link_pps,
	       sum->writeheavy ? " (write-heavy)" : "");
	printf("  %-9s %6s %12s %9s %10s %5s  %s\n", "policy", "rounds", "blackout_ms",
	       "total_s", "sent_MiB", "thr%", "");
	for (i = 0; i < N_POL; i++) {
		const struct sim_result *r = &rows[i].r;

		if (i >= P_NEVER)
			continue;
		printf("  %-9s %6u %12.1f %9.2f %10.1f %5u  %s\n", names[i], r->rounds,
		       r->aborted ? NAN : r->blackout_us / 1e3, r->total_us / 1e6,
		       rows[i].bytes / 1048576.0, r->max_throttle, flags(r));
	}
	printf("  %-9s %6s %12.1f %9.2f %10.1f %5s  best stop point within migr's total time\n",
	       "oracle", "-", o.blackout_us / 1e3, o.total_us / 1e6, o.bytes / 1048576.0, "-");
	printf("  %-9s %6s %12.1f %9.2f %10.1f %5s  best stop point at any time (up to %.0f s)\n",
	       "best", "-", ob.blackout_us / 1e3, ob.total_us / 1e6, ob.bytes / 1048576.0, "-",
	       cfg.limit_us / 1e6);
	printf("  %-9s %6s %12.1f %9.2f %10.1f %5s  same, any constant throttle 0-80%%, within"
	       " migr-thr's\n", "oracle-thr", "-", ot.blackout_us / 1e3, ot.total_us / 1e6,
	       ot.bytes / 1048576.0, "-");
	print_frontier(&cfg, t, &rows[P_NEVER].r);

	sum->oracle = rows[P_MIGR].r.blackout_us / o.blackout_us;
	sum->oracle_bytes = rows[P_MIGR].bytes / o.bytes;
	sum->best = rows[P_MIGR].r.blackout_us / ob.blackout_us;
	sum->libxl = rows[P_MIGR].r.blackout_us / rows[P_LIBXL].r.blackout_us;
	sum->qemu = rows[P_MIGR].r.blackout_us / rows[P_QEMU].r.blackout_us;
	sum->qemu_total = rows[P_MIGR].r.total_us / rows[P_QEMU].r.total_us;
	sum->thr_oracle = rows[P_MIGR_THR].r.blackout_us / ot.blackout_us;
	sum->thr_oracle_bytes = rows[P_MIGR_THR].bytes / ot.bytes;
	sum->thr_libxl = rows[P_MIGR_THR].r.blackout_us / rows[P_LIBXL].r.blackout_us;
	sum->thr_qemu = rows[P_MIGR_THR].r.blackout_us / rows[P_QEMU].r.blackout_us;
	sum->thr_qemu_ac = rows[P_MIGR_THR].r.blackout_us / rows[P_QEMU_AC].r.blackout_us;
	sum->thr_qemu_total = rows[P_MIGR_THR].r.total_us / rows[P_QEMU].r.total_us;
	printf("  migr over: oracle blackout %.3f bytes %.3f | best %.3f | libxl %.3f | qemu %.3f"
	       " (total %.3f)\n", sum->oracle, sum->oracle_bytes, sum->best, sum->libxl, sum->qemu,
	       sum->qemu_total);
	printf("  migr-thr over: oracle-thr blackout %.3f bytes %.3f | libxl %.3f | qemu %.3f |"
	       " qemu-ac %.3f\n", sum->thr_oracle, sum->thr_oracle_bytes, sum->thr_libxl,
	       sum->thr_qemu, sum->thr_qemu_ac);

	if (verbose) {
		size_t n;
		const struct migr_log *l = pol_migr_log(pol[P_MIGR], &n);

		for (size_t k = 0; k < n; k++)
			printf("    migr call %c it=%u n=%ld t=%.2fs bw=%.1fMB/s rate=%llu p/s"
			       " remain=%llu blackout=%.1fms next=%.1fms in %.2fs -> %s (%s)\n",
			       l[k].s.dirty_count >= 0 ? 'A' : 'B', l[k].s.iteration,
			       l[k].s.dirty_count, l[k].s.elapsed_us / 1e6,
			       l[k].v.bandwidth_Bps / 1e6,
			       (unsigned long long)l[k].v.dirty_rate_pps,
			       (unsigned long long)l[k].v.remaining_pages,
			       l[k].v.predicted_blackout_us / 1e3,
			       l[k].v.predicted_next_blackout_us / 1e3,
			       l[k].v.predicted_next_round_us / 1e6,
			       migr_policy_action_name(l[k].v.action),
			       migr_policy_reason_name(l[k].v.reason));
	}
out:
	for (i = 0; i < N_POL; i++)
		sim_result_free(&rows[i].r);
	return rc;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct agg {
	int heavy;
	double oracle_med, oracle_worst, bytes_worst, libxl_heavy, qemu_worst;
	int qemu_beaten;        /* traces where QEMU had a lower blackout in no more time */
};

static struct agg aggregate(const struct summary *sums, int n, int thr)
{
	struct agg a;
	double *v = calloc(n, sizeof(*v));
	int i;

	if (!v)
		abort();
	memset(&a, 0, sizeof(a));
	for (i = 0; i < n; i++) {
		double o = thr ? sums[i].thr_oracle : sums[i].oracle;
		double b = thr ? sums[i].thr_oracle_bytes : sums[i].oracle_bytes;
		double l = thr ? sums[i].thr_libxl : sums[i].libxl;
		double q = thr ? sums[i].thr_qemu : sums[i].qemu;

		v[i] = o;
		if (o > a.oracle_worst)
			a.oracle_worst = o;
		if (b > a.bytes_worst)
			a.bytes_worst = b;
		if (q > a.qemu_worst)
			a.qemu_worst = q;
		if (q > 1.0 + 1e-9 && (thr ? sums[i].thr_qemu_total : sums[i].qemu_total) >= 1.0)
			a.qemu_beaten++;
		if (sums[i].writeheavy) {
			a.heavy++;
			if (l > a.libxl_heavy)
				a.libxl_heavy = l;
		}
	}
	a.oracle_med = median(v, n);
	free(v);
	return a;
}

static void print_targets(const char *who, const struct agg *a)
{
	printf("  %s: oracle median %.3f (target <= %.2f), worst %.3f (<= %.2f), bytes worst %.3f"
	       " (<= %.2f); libxl on write-heavy, worst %.3f (<= %.2f); qemu worst %.3f",
	       who, a->oracle_med, T_ORACLE_MEDIAN, a->oracle_worst, T_ORACLE_WORST,
	       a->bytes_worst, T_ORACLE_BYTES, a->heavy ? a->libxl_heavy : NAN, T_LIBXL_HEAVY,
	       a->qemu_worst);
	printf(", %d traces where QEMU's rule did better in no more time\n", a->qemu_beaten);
}

int main(int argc, char **argv)
{
	struct sim_cfg cfg = {
		.bw_Bps = 125e6,        /* 1 Gbit/s */
		.per_page_us = 0,
		.per_batch_us = 100,    /* type query + foreign map of a batch */
		.fixed_us = 50e3,
		.clean_us = 1000,
		.sample_us = 100e3,
	};
	struct migr_policy_params prm, prm_thr, prm_abort;
	struct sim_policy *pol[N_POL];
	struct summary *sums = NULL;
	struct agg a, at;
	int check = 0, synthetic = 1, verbose = 0, n = 0, cap = 0, i, rc = 0, n_gen = 0;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--check"))
			check = 1;
		else if (!strcmp(argv[i], "--no-synthetic"))
			synthetic = 0;
		else if (!strcmp(argv[i], "--verbose"))
			verbose = 1;
		else if (!strcmp(argv[i], "--bw-mbit") && i + 1 < argc)
			cfg.bw_Bps = atof(argv[++i]) * 1e6 / 8;
		else if (!strcmp(argv[i], "--fixed-ms") && i + 1 < argc)
			cfg.fixed_us = atof(argv[++i]) * 1e3;
		else if (!strcmp(argv[i], "--sample-ms") && i + 1 < argc)
			cfg.sample_us = atof(argv[++i]) * 1e3;
		else if (!strcmp(argv[i], "--per-page-us") && i + 1 < argc)
			cfg.per_page_us = atof(argv[++i]);
		else {
			fprintf(stderr, "usage: bench-policy [--check] [--no-synthetic] [--verbose]"
				" [--bw-mbit N] [--fixed-ms N] [--sample-ms N] [--per-page-us N]"
				" [TRACE.trc...]\n");
			return 2;
		}
	}
	if (!(cfg.bw_Bps > 0)) {
		fprintf(stderr, "bench-policy: the bandwidth must be positive\n");
		return 2;
	}
	migr_policy_params_init(&prm);
	prm_thr = prm;
	prm_thr.allow_throttle = 1;
	prm_abort = prm;
	prm_abort.abort_over_budget = 1;
	pol[P_MIGR] = pol_migr("migr", &prm);
	pol[P_MIGR_THR] = pol_migr("migr-thr", &prm_thr);
	pol[P_MIGR_ABORT] = pol_migr("migr-abrt", &prm_abort);
	pol[P_LIBXL] = pol_libxl();
	pol[P_QEMU] = pol_qemu("qemu", 300, 0);
	pol[P_QEMU_AC] = pol_qemu("qemu-ac", 300, 1);
	pol[P_CLARK] = pol_clark();
	pol[P_NEVER] = pol_never(0);
	pol[P_NEVER_T20] = pol_never(20);
	pol[P_NEVER_T40] = pol_never(40);
	pol[P_NEVER_T60] = pol_never(60);
	pol[P_NEVER_T80] = pol_never(80);

	printf("bench-policy: link %.0f Mbit/s, %.1f us per page and %.0f us per batch of %d"
	       " pages, %.1f ms per CLEAN, blackout fixed cost %.0f ms, PEEK every %.0f ms,"
	       " budget %u ms\n", cfg.bw_Bps * 8 / 1e6, cfg.per_page_us, cfg.per_batch_us,
	       SIM_BATCH, cfg.clean_us / 1e3, cfg.fixed_us / 1e3, cfg.sample_us / 1e3,
	       prm.downtime_ms);

	while (gen_suite[n_gen].name)
		n_gen++;
	for (int k = 0;; k++) {
		struct trace *t = NULL;
		const char *why = NULL;

		if (synthetic && k < n_gen) {
			t = gen_suite[k].make(gen_suite[k].name);
			if (!t) {
				fprintf(stderr, "bench-policy: cannot generate %s\n", gen_suite[k].name);
				rc = 1;
				goto out;
			}
		} else {
			int f = k - (synthetic ? n_gen : 0);

			if (i + f >= argc)
				break;
			rc = trace_load(argv[i + f], &t, &why);
			if (rc) {
				fprintf(stderr, "bench-policy: %s: %s\n", argv[i + f],
					rc == -EINVAL && why ? why : strerror(-rc));
				rc = 1;
				goto out;
			}
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			sums = realloc(sums, cap * sizeof(*sums));
			if (!sums)
				abort();
		}
		rc = run_trace(t, &cfg, pol, verbose, &sums[n]);
		trace_free(t);
		if (rc) {
			rc = 1;
			goto out;
		}
		n++;
	}
	if (!n) {
		fprintf(stderr, "bench-policy: no traces\n");
		rc = 1;
		goto out;
	}

	printf("\nsummary over %d traces (write-heavy: W(1 s) >= %.0f%% of the link); migr's"
	       " blackout over each:\n", n, WRITEHEAVY_FRAC * 100);
	printf("  %-20s | %-40s | %-42s\n", "", "migr (default parameters)",
	       "migr-thr (throttling allowed)");
	printf("  %-20s | %7s %6s %6s %7s %7s | %7s %6s %7s %7s %7s\n", "trace", "oracle", "bytes",
	       "best", "libxl", "qemu", "oracle", "bytes", "libxl", "qemu", "qemu-ac");
	for (i = 0; i < n; i++)
		printf("  %-20s | %7.3f %6.3f %6.3f %7.3f %7.3f | %7.3f %6.3f %7.3f %7.3f %7.3f%s\n",
		       sums[i].name, sums[i].oracle, sums[i].oracle_bytes, sums[i].best, sums[i].libxl,
		       sums[i].qemu, sums[i].thr_oracle, sums[i].thr_oracle_bytes,
		       sums[i].thr_libxl, sums[i].thr_qemu, sums[i].thr_qemu_ac,
		       sums[i].writeheavy ? "  write-heavy" : "");
	a = aggregate(sums, n, 0);
	at = aggregate(sums, n, 1);
	print_targets("migr", &a);
	print_targets("migr-thr", &at);
	printf("bench-policy (throttling allowed): oracle_median=%.3f oracle_worst=%.3f"
	       " libxl_writeheavy=%.3f qemu_worst=%.3f\n", at.oracle_med, at.oracle_worst,
	       at.heavy ? at.libxl_heavy : NAN, at.qemu_worst);
	printf("bench-policy: oracle_median=%.3f oracle_worst=%.3f libxl_writeheavy=%.3f"
	       " qemu_worst=%.3f\n", a.oracle_med, a.oracle_worst, a.heavy ? a.libxl_heavy : NAN,
	       a.qemu_worst);

	/* The regression run: migr's stop decisions against the oracle and QEMU; the
	 * write-heavy target with throttling allowed (no stop rule alone can meet it when
	 * the working set outruns the link: see the oracle's frontier). */
	if (check && (a.oracle_med > T_ORACLE_MEDIAN || a.oracle_worst > T_ORACLE_WORST ||
		      a.bytes_worst > T_ORACLE_BYTES || a.qemu_beaten ||
		      (at.heavy && at.libxl_heavy > T_LIBXL_HEAVY) || at.qemu_beaten)) {
		fprintf(stderr, "bench-policy: migr's policy misses a target (see above)\n");
		rc = 1;
	}
out:
	for (i = 0; i < N_POL; i++)
		pol_free(pol[i]);
	free(sums);
	return rc;
}

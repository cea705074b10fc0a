/*
 * bench_policy.c: compares stop-and-copy policies on the same dirty traces
 * (`make bench-policy`; docs/policy.md explains the figures).
 *
 * usage: bench-policy [--check] [--no-synthetic] [--detail] [--verbose] [--bw-mbit N]
 *                     [--fixed-ms N] [--sample-ms N] [--per-page-us N]
 *                     [--max-throttle PCT] [TRACE.trc...]
 *
 * It sweeps regimes: link rates {100 Mbit/s, 1, 10, 25 Gbit/s} x fixed blackout costs
 * {50 ms, 1 s} (--bw-mbit and --fixed-ms pick one of each instead). In every regime, for
 * every trace (the synthetic suite of gen.c, then the files given), it runs migr's policy
 * (as the engine calls it, default parameters; again with throttling allowed; and with
 * abort_over_budget, which aborts when the budget is out of reach), libxl's default,
 * QEMU's rule with and without auto-converge, the Xen 3.0 / Clark et al. rule, and runs
 * that never stop, whose every stop point gives the offline oracles: the smallest
 * blackout reachable within the total time migr took (oracle), within 1.25x that time
 * (oracle125), at any time up to the harness's limit (best).
 * It prints a table per regime (--detail: every rule's figures per trace; --verbose: and
 * migr's every decision), then one line per regime and a last line over all regimes:
 *   bench-policy: oracle_median=A oracle_worst=B oracle125_worst=C libxl_writeheavy=D
 *                 qemu_worst=E
 * A: the largest of the regimes' medians of migr's blackout over the oracle's; B, C: the
 * worst over every regime and trace of migr's blackout over the oracle's, the oracle125's;
 * D: migr with throttling allowed over libxl, worst over the write-heavy traces; E: migr
 * over QEMU's rule, worst over the traces where QEMU's rule took no more total time.
 * With --check it runs only the rules these figures need and exits 1 if a target is
 * missed (the regression run of `make check`).
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
#define T_ORACLE125_WORST 1.50
#define T_LIBXL_HEAVY     0.30
#define T_QEMU            1.00
/* Not a target of the sweep, shown beside it: migr's bytes over the oracle's. */
#define T_ORACLE_BYTES    1.10

/* libxl_writeheavy: a trace whose fixed cost alone is more than 0.3 of libxl's blackout
 * cannot meet the target; there the check asks for a blackout within this factor of the
 * fixed cost over libxl's (the floor). */
#define FLOOR_SLACK       1.05

/* The stronger oracle may take this much more total time than migr did. */
#define ORACLE_SLACK      1.25

/* A trace is write-heavy if the guest dirties, in one second after a CLEAN, at least
 * this fraction of what the link carries in a second (QEMU's auto-converge calls a dirty
 * rate high past 50% of the rate sent). */
#define WRITEHEAVY_FRAC   0.50

/* The regimes of the sweep. */
static const double sweep_mbit[] = { 100, 1000, 10000, 25000 };
static const double sweep_fixed_ms[] = { 50, 1000 };
#define N_RATES  (sizeof(sweep_mbit) / sizeof(sweep_mbit[0]))
#define N_FIXED  (sizeof(sweep_fixed_ms) / sizeof(sweep_fixed_ms[0]))

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
	double oracle, oracle_bytes, oracle125, libxl, qemu;
	int qemu_cmp;           /* QEMU's rule took no more total time than migr */
	double best;            /* over the best stop point at any time up to the limit */
	double thr_oracle, thr_oracle_bytes, thr_libxl, thr_qemu, thr_qemu_ac;
	double libxl_floor;     /* the fixed cost over libxl's blackout: no rule gets below */
	int thr_qemu_cmp;
};

/* The rules --check needs: migr, migr-thr, libxl, QEMU and the unthrottled oracle. */
static int needed(int i, int check)
{
	return !check || i == P_MIGR || i == P_MIGR_THR || i == P_LIBXL || i == P_QEMU ||
	       i == P_NEVER;
}

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

static int run_trace(const struct trace *t, double w1, const struct sim_cfg *base,
		     struct sim_policy **pol, int check, int detail, int verbose,
		     struct summary *sum)
{
	static const char *const names[N_POL] = {
		"migr", "migr-thr", "migr-abrt", "libxl", "qemu", "qemu-ac", "clark", "never", "never-20",
		"never-40", "never-60", "never-80"
	};
	struct sim_cfg cfg = *base;
	struct row rows[N_POL];
	struct oracle o, o125, ob, ot = { 0, 0, 0, 0 };
	double link_pps = cfg.bw_Bps / t->page_size;
	int i, rc = 0;

	/* The harness gives up at 10x the time of round 0 (at least 60 s). */
	cfg.limit_us = 10.0 * (double)t->n_pages * t->page_size * 1e6 / cfg.bw_Bps;
	if (cfg.limit_us < 60e6)
		cfg.limit_us = 60e6;
	memset(rows, 0, sizeof(rows));
	memset(sum, 0, sizeof(*sum));
	snprintf(sum->name, sizeof(sum->name), "%s", t->name);
	sum->writeheavy = w1 >= WRITEHEAVY_FRAC * link_pps;

	for (i = 0; i < N_POL; i++) {
		if (!needed(i, check))
			continue;
		rc = sim_run(t, &cfg, pol[i], &rows[i].r, i >= P_NEVER);
		if (rc) {
			fprintf(stderr, "bench-policy: %s on %s: %s\n", names[i], t->name, strerror(-rc));
			goto out;
		}
		rows[i].bytes = (double)(rows[i].r.live_pages + rows[i].r.final_pages) * t->page_size;
	}
	o = oracle_at(&cfg, t, &rows[P_NEVER].r, rows[P_MIGR].r.total_us);
	o125 = oracle_at(&cfg, t, &rows[P_NEVER].r, ORACLE_SLACK * rows[P_MIGR].r.total_us);
	ob = oracle_at(&cfg, t, &rows[P_NEVER].r, INFINITY);
	/* With throttling allowed, the oracle may also slow the guest by a constant 20..80%
	 * from the start (80 = migr's default maximum). */
	for (i = P_NEVER; i < N_POL; i++)
		if (needed(i, check))
			oracle_scan(&ot, &cfg, t, &rows[i].r, rows[P_MIGR_THR].r.total_us);

	sum->oracle = rows[P_MIGR].r.blackout_us / o.blackout_us;
	sum->oracle_bytes = rows[P_MIGR].bytes / o.bytes;
	sum->oracle125 = rows[P_MIGR].r.blackout_us / o125.blackout_us;
	sum->best = rows[P_MIGR].r.blackout_us / ob.blackout_us;
	sum->libxl = rows[P_MIGR].r.blackout_us / rows[P_LIBXL].r.blackout_us;
	sum->qemu = rows[P_MIGR].r.blackout_us / rows[P_QEMU].r.blackout_us;
	sum->qemu_cmp = rows[P_QEMU].r.total_us <= rows[P_MIGR].r.total_us;
	/* --check does not run the throttled oracles */
	sum->thr_oracle = check ? NAN : rows[P_MIGR_THR].r.blackout_us / ot.blackout_us;
	sum->thr_oracle_bytes = check ? NAN : rows[P_MIGR_THR].bytes / ot.bytes;
	sum->thr_libxl = rows[P_MIGR_THR].r.blackout_us / rows[P_LIBXL].r.blackout_us;
	sum->thr_qemu = rows[P_MIGR_THR].r.blackout_us / rows[P_QEMU].r.blackout_us;
	sum->thr_qemu_ac = needed(P_QEMU_AC, check) ?
		rows[P_MIGR_THR].r.blackout_us / rows[P_QEMU_AC].r.blackout_us : NAN;
	sum->thr_qemu_cmp = rows[P_QEMU].r.total_us <= rows[P_MIGR_THR].r.total_us;
	sum->libxl_floor = cfg.fixed_us / rows[P_LIBXL].r.blackout_us;
	if (!detail)
		goto out;

	printf("\n== %s: %llu pages x %u B, %.1f s of trace; W(1 s) = %.0f pages = %.2f of the link%s\n",
	       t->name, (unsigned long long)t->n_pages, t->page_size,
	       (double)t->n_epochs * t->epoch_us / 1e6, w1, w1 / link_pps,
	       sum->writeheavy ? " (write-heavy)" : "");
	printf("  %-10s %6s %12s %9s %10s %5s  %s\n", "policy", "rounds", "blackout_ms",
	       "total_s", "sent_MiB", "thr%", "");
	for (i = 0; i < P_NEVER; i++) {
		const struct sim_result *r = &rows[i].r;

		if (!needed(i, check))
			continue;
		printf("  %-10s %6u %12.1f %9.2f %10.1f %5u  %s\n", names[i], r->rounds,
		       r->aborted ? NAN : r->blackout_us / 1e3, r->total_us / 1e6,
		       rows[i].bytes / 1048576.0, r->max_throttle, flags(r));
	}
	printf("  %-10s %6s %12.1f %9.2f %10.1f %5s  best stop point within migr's total time\n",
	       "oracle", "-", o.blackout_us / 1e3, o.total_us / 1e6, o.bytes / 1048576.0, "-");
	printf("  %-10s %6s %12.1f %9.2f %10.1f %5s  same, within %.2fx migr's total time\n",
	       "oracle125", "-", o125.blackout_us / 1e3, o125.total_us / 1e6,
	       o125.bytes / 1048576.0, "-", ORACLE_SLACK);
	printf("  %-10s %6s %12.1f %9.2f %10.1f %5s  best stop point at any time (up to %.0f s)\n",
	       "best", "-", ob.blackout_us / 1e3, ob.total_us / 1e6, ob.bytes / 1048576.0, "-",
	       cfg.limit_us / 1e6);
	printf("  %-10s %6s %12.1f %9.2f %10.1f %5s  same, any constant throttle 0-80%%, within"
	       " migr-thr's\n", "oracle-thr", "-", ot.blackout_us / 1e3, ot.total_us / 1e6,
	       ot.bytes / 1048576.0, "-");
	print_frontier(&cfg, t, &rows[P_NEVER].r);
	printf("  migr over: oracle blackout %.3f bytes %.3f | oracle125 %.3f | best %.3f |"
	       " libxl %.3f | qemu %.3f (total %.3f)\n", sum->oracle, sum->oracle_bytes,
	       sum->oracle125, sum->best, sum->libxl, sum->qemu,
	       rows[P_MIGR].r.total_us / rows[P_QEMU].r.total_us);
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

/* A regime's figures (over its traces). */
struct agg {
	int n, heavy, qemu_n, thr_qemu_n;
	int heavy_missed;       /* write-heavy traces over both T_LIBXL_HEAVY and the floor */
	int thr_oracle_n;       /* traces with oracle-thr (not computed by --check) */
	double oracle_med, oracle_worst, oracle125_worst, bytes_worst;
	double libxl_heavy;     /* migr (default) over libxl, write-heavy traces */
	double thr_libxl_heavy; /* migr-thr over libxl, write-heavy traces */
	double libxl_floor;     /* the least thr_libxl_heavy could be: fixed cost / libxl's */
	double qemu_worst;      /* over the traces where QEMU's rule took no more time */
	double thr_oracle_med, thr_oracle_worst, thr_qemu_worst;
};

static struct agg aggregate(const struct summary *sums, int n)
{
	struct agg a;
	double *v = calloc(n, sizeof(*v)), *vt = calloc(n, sizeof(*vt));
	int i;

	if (!v || !vt)
		abort();
	memset(&a, 0, sizeof(a));
	a.n = n;
	for (i = 0; i < n; i++) {
		const struct summary *s = &sums[i];

		v[i] = s->oracle;
		vt[i] = s->thr_oracle;
		a.oracle_worst = fmax(a.oracle_worst, s->oracle);
		a.oracle125_worst = fmax(a.oracle125_worst, s->oracle125);
		a.bytes_worst = fmax(a.bytes_worst, s->oracle_bytes);
		if (!isnan(s->thr_oracle)) {
			a.thr_oracle_n++;
			a.thr_oracle_worst = fmax(a.thr_oracle_worst, s->thr_oracle);
		}
		if (s->qemu_cmp) {
			a.qemu_n++;
			a.qemu_worst = fmax(a.qemu_worst, s->qemu);
		}
		if (s->thr_qemu_cmp) {
			a.thr_qemu_n++;
			a.thr_qemu_worst = fmax(a.thr_qemu_worst, s->thr_qemu);
		}
		if (s->writeheavy) {
			a.heavy++;
			a.libxl_heavy = fmax(a.libxl_heavy, s->libxl);
			a.thr_libxl_heavy = fmax(a.thr_libxl_heavy, s->thr_libxl);
			a.libxl_floor = fmax(a.libxl_floor, s->libxl_floor);
			if (s->thr_libxl > T_LIBXL_HEAVY && s->thr_libxl > FLOOR_SLACK * s->libxl_floor)
				a.heavy_missed++;
		}
	}
	a.oracle_med = median(v, n);
	a.thr_oracle_med = median(vt, n);
	free(v);
	free(vt);
	return a;
}

/* A figure over an empty set (no write-heavy trace, no trace QEMU's rule finished in no
 * more time) is printed as nan and meets its target. */
static double or_nan(double x, int n)
{
	return n ? x : NAN;
}

static void print_table(const char *regime, const struct summary *sums, int n)
{
	printf("\n%s: migr's blackout over each rule's (bytes: over the oracle's; floor: the"
	       " fixed cost over libxl's blackout; qemu*: QEMU's rule took no more total time)\n",
	       regime);
	printf("  %-20s | %-48s | %-50s\n", "", "migr (default parameters)",
	       "migr-thr (throttling allowed)");
	printf("  %-20s | %7s %6s %7s %6s %7s %8s | %7s %6s %7s %7s %8s %7s\n", "trace", "oracle",
	       "bytes", "orc125", "best", "libxl", "qemu", "oracle", "bytes", "libxl", "floor",
	       "qemu", "qemu-ac");
	for (int i = 0; i < n; i++) {
		const struct summary *s = &sums[i];

		printf("  %-20s | %7.3f %6.3f %7.3f %6.3f %7.3f %7.3f%c | %7.3f %6.3f %7.3f %7.3f"
		       " %7.3f%c %7.3f%s\n", s->name, s->oracle, s->oracle_bytes, s->oracle125,
		       s->best, s->libxl, s->qemu, s->qemu_cmp ? '*' : ' ', s->thr_oracle,
		       s->thr_oracle_bytes, s->thr_libxl, s->libxl_floor, s->thr_qemu,
		       s->thr_qemu_cmp ? '*' : ' ', s->thr_qemu_ac,
		       s->writeheavy ? "  write-heavy" : "");
	}
}

static void print_regime_line(const char *regime, const struct agg *a)
{
	printf("%s: oracle_median=%.3f oracle_worst=%.3f oracle125_worst=%.3f"
	       " libxl_writeheavy=%.3f qemu_worst=%.3f (%d traces; %d write-heavy, libxl floor"
	       " %.3f, %d above both %.2f and the floor; %d where QEMU's rule took no more time;"
	       " bytes_worst=%.3f; migr-thr: oracle_thr_worst=%.3f qemu_worst=%.3f)\n", regime,
	       a->oracle_med, a->oracle_worst, a->oracle125_worst,
	       or_nan(a->thr_libxl_heavy, a->heavy), or_nan(a->qemu_worst, a->qemu_n), a->n,
	       a->heavy, or_nan(a->libxl_floor, a->heavy), a->heavy_missed, T_LIBXL_HEAVY,
	       a->qemu_n, a->bytes_worst, or_nan(a->thr_oracle_worst, a->thr_oracle_n),
	       or_nan(a->thr_qemu_worst, a->thr_qemu_n));
}

static void usage(void)
{
	fprintf(stderr, "usage: bench-policy [--check] [--no-synthetic] [--detail] [--verbose]"
		" [--bw-mbit N] [--fixed-ms N] [--sample-ms N] [--per-page-us N] [--max-throttle PCT]"
		" [TRACE.trc...]\n");
}

int main(int argc, char **argv)
{
	struct sim_cfg cfg = {
		.bw_Bps = 0,
		.per_page_us = 0,
		.per_batch_us = 100,    /* type query + foreign map of a batch */
		.fixed_us = 0,
		.clean_us = 1000,
		.sample_us = 100e3,
	};
	double mbit[N_RATES], fixed_ms[N_FIXED];
	size_t n_rates = N_RATES, n_fixed = N_FIXED;
	struct migr_policy_params prm, prm_thr, prm_abort;
	struct sim_policy *pol[N_POL] = { NULL };
	struct trace **traces = NULL;
	double *w1 = NULL;
	struct summary *sums = NULL;
	struct agg *aggs = NULL, all;
	char (*regimes)[80] = NULL;
	int check = 0, synthetic = 1, detail = 0, verbose = 0, n = 0, i, rc = 0, n_gen = 0;
	int n_reg = 0, n_files, heavy = 0, qemu_n = 0, max_throttle = 0, heavy_missed = 0;

	memcpy(mbit, sweep_mbit, sizeof(mbit));
	memcpy(fixed_ms, sweep_fixed_ms, sizeof(fixed_ms));
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--check"))
			check = 1;
		else if (!strcmp(argv[i], "--no-synthetic"))
			synthetic = 0;
		else if (!strcmp(argv[i], "--detail"))
			detail = 1;
		else if (!strcmp(argv[i], "--verbose"))
			detail = verbose = 1;
		else if (!strcmp(argv[i], "--bw-mbit") && i + 1 < argc) {
			mbit[0] = atof(argv[++i]);
			n_rates = 1;
		} else if (!strcmp(argv[i], "--fixed-ms") && i + 1 < argc) {
			fixed_ms[0] = atof(argv[++i]);
			n_fixed = 1;
		} else if (!strcmp(argv[i], "--sample-ms") && i + 1 < argc)
			cfg.sample_us = atof(argv[++i]) * 1e3;
		else if (!strcmp(argv[i], "--per-page-us") && i + 1 < argc)
			cfg.per_page_us = atof(argv[++i]);
		else if (!strcmp(argv[i], "--max-throttle") && i + 1 < argc)
			max_throttle = atoi(argv[++i]);
		else {
			usage();
			return 2;
		}
	}
	if (!(mbit[0] > 0) || !(fixed_ms[0] >= 0)) {
		fprintf(stderr, "bench-policy: the link rate must be positive and the fixed cost"
			" not negative\n");
		return 2;
	}

	/* The traces, loaded once for every regime. */
	while (synthetic && gen_suite[n_gen].name)
		n_gen++;
	n_files = argc - i;
	traces = calloc(n_gen + n_files + 1, sizeof(*traces));
	w1 = calloc(n_gen + n_files + 1, sizeof(*w1));
	if (!traces || !w1)
		abort();
	for (int k = 0; k < n_gen + n_files; k++) {
		const char *why = NULL;

		if (k < n_gen) {
			traces[n] = gen_suite[k].make(gen_suite[k].name);
			if (!traces[n]) {
				fprintf(stderr, "bench-policy: cannot generate %s\n", gen_suite[k].name);
				rc = 1;
				goto out;
			}
		} else {
			rc = trace_load(argv[i + k - n_gen], &traces[n], &why);
			if (rc) {
				fprintf(stderr, "bench-policy: %s: %s\n", argv[i + k - n_gen],
					rc == -EINVAL && why ? why : strerror(-rc));
				rc = 1;
				goto out;
			}
		}
		w1[n] = w_one_second(traces[n]);
		n++;
	}
	if (!n) {
		fprintf(stderr, "bench-policy: no traces\n");
		rc = 1;
		goto out;
	}

	migr_policy_params_init(&prm);
	prm_thr = prm;
	prm_thr.allow_throttle = 1;
	if (max_throttle > 0)
		prm_thr.max_throttle_pct = (uint32_t)max_throttle;
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

	printf("bench-policy: %d traces; %.1f us per page and %.0f us per batch of %d pages,"
	       " %.1f ms per CLEAN, PEEK every %.0f ms, budget %u ms; write-heavy: W(1 s) >= %.0f%%"
	       " of the link\n", n, cfg.per_page_us, cfg.per_batch_us, SIM_BATCH,
	       cfg.clean_us / 1e3, cfg.sample_us / 1e3, prm.downtime_ms, WRITEHEAVY_FRAC * 100);

	sums = calloc(n, sizeof(*sums));
	aggs = calloc(n_rates * n_fixed, sizeof(*aggs));
	regimes = calloc(n_rates * n_fixed, sizeof(*regimes));
	if (!sums || !aggs || !regimes)
		abort();
	for (size_t ri = 0; ri < n_rates; ri++) {
		for (size_t fi = 0; fi < n_fixed; fi++) {
			char *name = regimes[n_reg];

			cfg.bw_Bps = mbit[ri] * 1e6 / 8;
			cfg.fixed_us = fixed_ms[fi] * 1e3;
			if (mbit[ri] >= 1000)
				snprintf(name, sizeof(regimes[0]), "regime %g Gbit/s, fixed %g ms",
					 mbit[ri] / 1000, fixed_ms[fi]);
			else
				snprintf(name, sizeof(regimes[0]), "regime %g Mbit/s, fixed %g ms",
					 mbit[ri], fixed_ms[fi]);
			if (detail)
				printf("\n#### %s\n", name);
			for (int k = 0; k < n; k++) {
				rc = run_trace(traces[k], w1[k], &cfg, pol, check, detail, verbose,
					       &sums[k]);
				if (rc) {
					rc = 1;
					goto out;
				}
			}
			print_table(name, sums, n);
			aggs[n_reg++] = aggregate(sums, n);
			fflush(stdout);
		}
	}

	/* Over all regimes: each regime's median must hold, so A is the largest of them. */
	memset(&all, 0, sizeof(all));
	printf("\n");
	for (i = 0; i < n_reg; i++) {
		const struct agg *a = &aggs[i];

		print_regime_line(regimes[i], a);
		all.oracle_med = fmax(all.oracle_med, a->oracle_med);
		all.oracle_worst = fmax(all.oracle_worst, a->oracle_worst);
		all.oracle125_worst = fmax(all.oracle125_worst, a->oracle125_worst);
		all.bytes_worst = fmax(all.bytes_worst, a->bytes_worst);
		if (a->heavy)
			all.thr_libxl_heavy = fmax(all.thr_libxl_heavy, a->thr_libxl_heavy);
		if (a->qemu_n)
			all.qemu_worst = fmax(all.qemu_worst, a->qemu_worst);
		if (a->thr_qemu_n)
			all.thr_qemu_worst = fmax(all.thr_qemu_worst, a->thr_qemu_worst);
		heavy += a->heavy;
		heavy_missed += a->heavy_missed;
		qemu_n += a->qemu_n;
		all.thr_qemu_n += a->thr_qemu_n;
	}
	printf("bench-policy: oracle_median=%.3f oracle_worst=%.3f oracle125_worst=%.3f"
	       " libxl_writeheavy=%.3f qemu_worst=%.3f\n", all.oracle_med, all.oracle_worst,
	       all.oracle125_worst, or_nan(all.thr_libxl_heavy, heavy),
	       or_nan(all.qemu_worst, qemu_n));

	/*
	 * The regression run: the targets above, in every regime, except libxl_writeheavy
	 * where the fixed cost alone puts it out of reach: there a trace must be within
	 * FLOOR_SLACK of its floor. Also kept from the 1 Gbit/s targets: bytes within
	 * T_ORACLE_BYTES of the oracle's, and migr-thr never beaten by QEMU's rule in no
	 * more time.
	 */
	if (check && (all.oracle_med > T_ORACLE_MEDIAN || all.oracle_worst > T_ORACLE_WORST ||
		      all.oracle125_worst > T_ORACLE125_WORST || heavy_missed ||
		      (qemu_n && all.qemu_worst > T_QEMU + 1e-9) ||
		      all.bytes_worst > T_ORACLE_BYTES ||
		      (all.thr_qemu_n && all.thr_qemu_worst > T_QEMU + 1e-9))) {
		fprintf(stderr, "bench-policy: migr's policy misses a target (targets: oracle_median"
			" <= %.2f, oracle_worst <= %.2f, oracle125_worst <= %.2f, libxl_writeheavy"
			" <= %.2f or within %.2fx the floor, qemu_worst <= %.2f for migr and migr-thr,"
			" bytes_worst <= %.2f)\n", T_ORACLE_MEDIAN, T_ORACLE_WORST, T_ORACLE125_WORST,
			T_LIBXL_HEAVY, FLOOR_SLACK, T_QEMU, T_ORACLE_BYTES);
		rc = 1;
	}
out:
	for (i = 0; i < N_POL; i++)
		pol_free(pol[i]);
	for (i = 0; traces && i < n; i++)
		trace_free(traces[i]);
	free(traces);
	free(w1);
	free(sums);
	free(aggs);
	free(regimes);
	return rc;
}

/*
 * report.c: the pictures of migr/report.h: a migration's SVG from its round log, an
 * evacuation's SVG with one lane per guest, the evacuation read back from the event log,
 * and the index.html beside them (docs/reports.md).
 *
 * Entry points: migr_report_migration_svg(), migr_report_evacuation_svg(),
 * migr_report_evac_from_log(), migr_report_evac_line(), migr_report_index(),
 * migr_report_write_file(), migr_report_name_ok().
 *
 * Drawing goes through svg.c, which escapes every text and bounds every number; the
 * layout here only decides positions. Values are scaled as doubles, so a count of 2^62
 * draws as a full bar, not as an overflow.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "libmigr.h"
#include "buf.h"
#include "report_int.h"
#include "svg.h"

#define LINE_MAX_BYTES (64 * 1024)   /* an event log line longer than this is skipped */
#define INDEX_MAX 1000

static double ms(uint64_t us)
{
	return us / 1000.0;
}

static double mib(uint64_t b)
{
	return b / (1024.0 * 1024.0);
}

/* "2025-11-29 00:00:00 UTC", or "time unknown". */
static void utc(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "time unknown");
}

/* A duration for a label: "850 ms", "12.3 s", "4.1 min". */
static void dur(char *buf, size_t len, double us)
{
	if (us < 1e6)
		snprintf(buf, len, "%.1f ms", us / 1e3);
	else if (us < 600e6)
		snprintf(buf, len, "%.2f s", us / 1e6);
	else
		snprintf(buf, len, "%.1f min", us / 60e6);
}

/* A count for a label: "850", "12.5k", "3.3M", "1.2G", ... */
static void human(char *buf, size_t len, double v)
{
	static const char *const unit[] = { "", "k", "M", "G", "T", "P", "E" };
	unsigned int u = 0;

	while (fabs(v) >= 10000 && u < 6) {
		v /= 1000;
		u++;
	}
	if (u == 0 && v == floor(v))
		snprintf(buf, len, "%.0f", v);
	else if (fabs(v) >= 100)
		snprintf(buf, len, "%.0f%s", v, unit[u]);
	else
		snprintf(buf, len, "%.1f%s", v, unit[u]);
}

/* A time axis from x0 to x0 + w at y for span_us, ticks labelled below. */
static void time_axis(struct migr__svg *s, double x0, double y, double w, double span_us,
		      double grid_top, bool above)
{
	double step = migr__svg_tick_step(span_us, 8);

	migr__svg_line(s, x0, y, x0 + w, y, "axis");
	for (unsigned int i = 0; i <= 40; i++) {
		double t = i * step, x = x0 + w * t / span_us;
		char lbl[32];

		if (t > span_us * 1.0001)
			break;
		if (grid_top != y)
			migr__svg_line(s, x, grid_top, x, y, "grid");
		migr__svg_line(s, x, y, x, y + 4, "axis");
		if (step >= 1e6)
			snprintf(lbl, sizeof(lbl), "%g s", t / 1e6);
		else
			snprintf(lbl, sizeof(lbl), "%g ms", t / 1e3);
		migr__svg_text(s, x, above ? y - 6 : y + 16, "middle", "small", 0, "%s", lbl);
	}
}

/* ---- one migration ---------------------------------------------------------------------- */

#define MW 960.0
#define ML 80.0
#define MR 20.0
#define PW (MW - ML - MR)

struct series {
	const char *title, *cls;
	bool log;                      /* log scale */
	double (*value)(const struct migr_roundlog_round *r);
	const char *unit;
};

static double v_pages(const struct migr_roundlog_round *r) { return (double)r->pages; }
static double v_dirty(const struct migr_roundlog_round *r) { return (double)r->dirty_rate_pps; }
static double v_bw(const struct migr_roundlog_round *r) { return mib(r->bandwidth_Bps); }
static double v_pred(const struct migr_roundlog_round *r) { return ms(r->predicted_blackout_us); }

static const struct series round_series[] = {
	{ "Pages sent in the round (log scale)", "pages", true, v_pages, "pages" },
	{ "Dirty rate at the round's end (pages/s)", "dirty", false, v_dirty, "p/s" },
	{ "Bandwidth (MiB/s)", "bw", false, v_bw, "MiB/s" },
	{ "Predicted blackout if stopped after the round (ms); dashed: the real blackout",
	  "pred", false, v_pred, "ms" },
};

#define CH 80.0        /* chart height */
#define CG 34.0        /* gap above a chart (its title) */
#define BAR (CH - 16)  /* the tallest bar: room for its label inside the chart */

static double scaled(double v, double max, bool log)
{
	if (!(v > 0) || !(max > 0))
		return 0;
	if (log)
		return log10(1 + v) / log10(1 + max);
	return v > max ? 1 : v / max;
}

static void round_tip(char *buf, size_t len, const struct migr_roundlog_round *r)
{
	snprintf(buf, len, "round %u: %llu pages, %.1f MiB in %.0f ms; remaining %llu pages; "
		 "dirty %llu p/s; %.1f MiB/s; blackout if stopped ~%.1f ms -> %s (%s)", r->round,
		 (unsigned long long)r->pages, mib(r->bytes), ms(r->us),
		 (unsigned long long)r->remaining_pages, (unsigned long long)r->dirty_rate_pps,
		 mib(r->bandwidth_Bps), ms(r->predicted_blackout_us),
		 migr_policy_action_name(r->decision), migr_policy_reason_name(r->reason));
}

static double draw_rounds(struct migr__svg *s, const struct migr_roundlog *l, double y)
{
	unsigned int n = l->n_rounds > MIGR_ROUNDLOG_ROUNDS ? MIGR_ROUNDLOG_ROUNDS : l->n_rounds;
	double slot = n ? PW / n : PW, bw = slot * 0.7;
	char tip[400], num[32];

	migr__svg_text(s, ML - 60, y + 18, "start", "title", 0, "Pre-copy rounds");
	y += 28;
	if (!n) {
		migr__svg_text(s, ML, y + 16, "start", "sub", 0,
			       "No pre-copy round was recorded: the migration ended before its "
			       "first round closed.");
		return y + 36;
	}
	for (size_t k = 0; k < sizeof(round_series) / sizeof(round_series[0]); k++) {
		const struct series *se = &round_series[k];
		double max = 0, top = y + CG, base = top + CH;

		for (unsigned int i = 0; i < n; i++)
			if (se->value(&l->rounds[i]) > max)
				max = se->value(&l->rounds[i]);
		if (k == 3 && ms(l->blackout_us) > max)
			max = ms(l->blackout_us);
		if (k == 3 && l->blackout_us)
			migr__svg_text(s, ML, y + CG - 8, "start", NULL, 0, "%s, %.1f ms", se->title,
				       ms(l->blackout_us));
		else
			migr__svg_text(s, ML, y + CG - 8, "start", NULL, 0, "%s", se->title);
		migr__svg_rect(s, ML, top, PW, CH, "panel", NULL);
		human(num, sizeof(num), max);
		migr__svg_text(s, ML - 6, base - BAR + 4, "end", "small", 0, "%s", num);
		migr__svg_text(s, ML - 6, base, "end", "small", 0, "0");
		for (unsigned int i = 0; i < n; i++) {
			const struct migr_roundlog_round *r = &l->rounds[i];
			double v = se->value(r), h = BAR * scaled(v, max, se->log);
			double x = ML + i * slot + (slot - bw) / 2;

			round_tip(tip, sizeof(tip), r);
			migr__svg_rect(s, x, base - h, bw, h, se->cls, tip);
			human(num, sizeof(num), v);
			if (n <= 24)
				migr__svg_text(s, x + bw / 2, base - h - 3, "middle", "small", 0, "%s",
					       num);
		}
		if (k == 3 && l->blackout_us) {
			double yy = base - BAR * scaled(ms(l->blackout_us), max, false);
			double xs[2] = { ML, ML + PW }, ys[2] = { yy, yy };

			migr__svg_polyline(s, xs, ys, 2, "real");
		}
		y = base;
	}
	migr__svg_line(s, ML, y, ML + PW, y, "axis");
	for (unsigned int i = 0; i < n; i++)
		if (n <= 32 || i % (n / 16 + 1) == 0)
			migr__svg_text(s, ML + i * slot + slot / 2, y + 14, "middle", "small", 0, "%u",
				       l->rounds[i].round);
	migr__svg_text(s, ML + PW / 2, y + 30, "middle", "sub", 0, "round");
	if (l->rounds_dropped)
		migr__svg_text(s, ML + PW, y + 30, "end", "sub", 0, "%u later round%s not kept",
			       l->rounds_dropped, l->rounds_dropped == 1 ? "" : "s");
	{
		const struct migr_roundlog_round *last = &l->rounds[n - 1];

		migr__svg_text(s, ML, y + 30, "start", "sub", 0, "last decision: %s (%s)",
			       migr_policy_action_name(last->decision),
			       migr_policy_reason_name(last->reason));
	}
	return y + 44;
}

/* Where the blackout starts, on the migration's clock. */
static uint64_t blackout_start(const struct migr_roundlog *l)
{
	if (l->suspend_at_us)
		return l->suspend_at_us;
	if (l->precopy_start_us && l->precopy_us)
		return l->precopy_start_us + l->precopy_us;
	if (l->n_rounds)
		return l->rounds[l->n_rounds - 1].end_us;
	return l->total_us > l->blackout_us ? l->total_us - l->blackout_us : 0;
}

static double draw_timeline(struct migr__svg *s, const struct migr_roundlog *l, double y)
{
	uint64_t b0 = blackout_start(l), b1 = b0 + l->blackout_us;
	uint64_t net = l->vifs && l->vifs_connected == l->vifs && l->net_back_us ?
		       b1 + l->net_back_us : 0;
	double span = (double)l->total_us, top, x0, x1;
	char tip[200], d[32];

	if ((double)b1 > span)
		span = (double)b1;
	if ((double)net > span)
		span = (double)net;
	if (!(span > 0))
		span = 1;
#define X(t) (ML + PW * ((double)(t) / span))
	migr__svg_text(s, ML - 60, y + 18, "start", "title", 0, "Timeline");
	top = y + 30;
	migr__svg_rect(s, ML, top, PW, 24, "panel", NULL);
	x0 = X(0);
	x1 = l->precopy_start_us ? X(l->precopy_start_us) : x0;
	dur(d, sizeof(d), (double)l->precopy_start_us);
	snprintf(tip, sizeof(tip), "connection and pre-flight: %s", d);
	migr__svg_rect(s, x0, top, x1 - x0, 24, "preflight", tip);
	if (l->precopy_start_us || l->n_rounds) {
		uint64_t p1 = l->blackout_us ? b0 : (l->n_rounds ? l->rounds[l->n_rounds - 1].end_us
								  : l->precopy_start_us);

		dur(d, sizeof(d), (double)(p1 > l->precopy_start_us ? p1 - l->precopy_start_us : 0));
		snprintf(tip, sizeof(tip), "pre-copy: %s, %u round%s", d, l->n_rounds,
			 l->n_rounds == 1 ? "" : "s");
		migr__svg_rect(s, x1, top, X(p1) - x1, 24, "precopy", tip);
		for (unsigned int i = 0; i + 1 < l->n_rounds; i++)
			migr__svg_line(s, X(l->rounds[i].end_us), top, X(l->rounds[i].end_us),
				       top + 24, "tick");
	}
	if (l->blackout_us) {
		double w = X(b1) - X(b0);

		dur(d, sizeof(d), (double)l->blackout_us);
		snprintf(tip, sizeof(tip), "blackout: %s", d);
		migr__svg_rect(s, X(b0), top, w < 2 ? 2 : w, 24, "blackout", tip);
	}
	if (net) {
		dur(d, sizeof(d), (double)l->net_back_us);
		snprintf(tip, sizeof(tip), "network back %s after the unpause", d);
		migr__svg_rect(s, X(b1), top + 8, X(net) - X(b1), 8, "net", tip);
	}
	time_axis(s, ML, top + 24, PW, span, top + 24, false);
#undef X
	return top + 48;
}

struct phase {
	const char *name, *cls;
	uint64_t us;
};

static double draw_blackout(struct migr__svg *s, const struct migr_roundlog *l, double y)
{
	struct phase ph[] = {
		{ "suspend", "suspend", l->suspend_us },
		{ "final send", "final", l->final_send_us },
		{ "restore tail", "restore", l->restore_tail_us },
		{ "handshake", "handshake", l->handshake_us },
		{ "unpause", "unpause", l->unpause_us },
	};
	bool net = l->vifs && l->vifs_connected == l->vifs && l->net_back_us;
	double span, x, top, lx;
	char tip[200], d[32];

	migr__svg_text(s, ML - 60, y + 18, "start", "title", 0, "Blackout");
	top = y + 30;
	if (!l->blackout_us) {
		migr__svg_text(s, ML, top + 14, "start", "sub", 0,
			       "No blackout: the guest was never suspended.");
		return top + 30;
	}
	span = (double)l->blackout_us + (net ? (double)l->net_back_us : 0);
	if (net && (double)l->blackout_us + (double)l->first_frame_us > span)
		span = (double)l->blackout_us + (double)l->first_frame_us;
	if (!(span > 0))
		span = 1;
	migr__svg_rect(s, ML, top, PW, 28, "panel", NULL);
	x = ML;
	for (size_t i = 0; i < sizeof(ph) / sizeof(ph[0]); i++) {
		double w = PW * (double)ph[i].us / span;

		dur(d, sizeof(d), (double)ph[i].us);
		snprintf(tip, sizeof(tip), "%s: %s", ph[i].name, d);
		migr__svg_rect(s, x, top, w, 28, ph[i].cls, tip);
		if (i == 2 && l->devices_us) {
			double dw = PW * (double)(l->devices_us < l->restore_tail_us ?
						  l->devices_us : l->restore_tail_us) / span;

			dur(d, sizeof(d), (double)l->devices_us);
			snprintf(tip, sizeof(tip), "device set-up (part of the restore tail): %s", d);
			migr__svg_rect(s, x + w - dw, top + 18, dw, 10, "devices", tip);
		}
		if (w > 70)
			migr__svg_text(s, x + w / 2, top + 18, "middle", "small", 0, "%s", ph[i].name);
		x += w;
	}
	if (net) {
		double xb = ML + PW * (double)l->blackout_us / span;

		dur(d, sizeof(d), (double)l->net_back_us);
		snprintf(tip, sizeof(tip), "network back %s after the unpause", d);
		migr__svg_rect(s, xb, top + 8, PW * (double)l->net_back_us / span, 12, "net", tip);
		if (l->first_frame_us) {
			double xf = xb + PW * (double)l->first_frame_us / span;

			dur(d, sizeof(d), (double)l->first_frame_us);
			snprintf(tip, sizeof(tip), "first frame from the guest %s after the unpause",
				 d);
			migr__svg_circle(s, xf > ML + PW ? ML + PW : xf, top + 14, 4, "frame", tip);
		}
	}
	time_axis(s, ML, top + 28, PW, span, top + 28, false);
	/* the legend: every phase with its figure, however narrow its bar */
	lx = ML;
	y = top + 64;
	for (size_t i = 0; i < sizeof(ph) / sizeof(ph[0]); i++) {
		dur(d, sizeof(d), (double)ph[i].us);
		migr__svg_rect(s, lx, y - 10, 10, 10, ph[i].cls, NULL);
		migr__svg_text(s, lx + 14, y, "start", "small", 0, "%s %s", ph[i].name, d);
		lx += 150;
	}
	y += 18;
	lx = ML;
	if (l->devices_us) {
		dur(d, sizeof(d), (double)l->devices_us);
		migr__svg_rect(s, lx, y - 10, 10, 10, "devices", NULL);
		migr__svg_text(s, lx + 14, y, "start", "small", 0, "of the restore tail, device "
			       "set-up %s", d);
		lx += 300;
	}
	if (net) {
		dur(d, sizeof(d), (double)l->net_back_us);
		migr__svg_rect(s, lx, y - 10, 10, 10, "net", NULL);
		migr__svg_text(s, lx + 14, y, "start", "small", 0, "network back %s after the "
			       "unpause (%u vif%s)", d, l->vifs, l->vifs == 1 ? "" : "s");
		lx += 300;
		if (l->first_frame_us) {
			dur(d, sizeof(d), (double)l->first_frame_us);
			migr__svg_circle(s, lx + 5, y - 4, 4, "frame", NULL);
			migr__svg_text(s, lx + 14, y, "start", "small", 0, "first frame from the "
				       "guest %s after the unpause", d);
		}
	} else if (l->vifs) {
		migr__svg_text(s, lx, y, "start", "small", 0, "network: %u of %u vifs connected "
			       "again", l->vifs_connected, l->vifs);
	}
	return y + 14;
}

int migr_report_migration_svg(const struct migr_roundlog *l, char **svg_r, size_t *len_r)
{
	struct migr__svg s;
	char title[400], when[64], d1[32], d2[32];
	unsigned int n = l->n_rounds > MIGR_ROUNDLOG_ROUNDS ? MIGR_ROUNDLOG_ROUNDS : l->n_rounds;
	double h = 90 + 80 + (n ? 4 * (CG + CH) + 28 + 44 : 64) + 130;
	double y;

	snprintf(title, sizeof(title), "Migration %s of %s (%s)%s%s: %s", l->id,
		 l->name[0] ? l->name : "?", migr_guest_type_name(l->type),
		 l->target[0] ? " to " : "", l->target, migr_report_outcome_name(l->outcome));
	migr__svg_begin(&s, MW, h, title);
	migr__svg_text(&s, 20, 26, "start", "title", 110, "%s", title);
	utc(when, sizeof(when), l->started);
	dur(d1, sizeof(d1), (double)l->total_us);
	dur(d2, sizeof(d2), (double)l->precopy_us);
	migr__svg_text(&s, 20, 46, "start", "sub", 0, "started %s; total %s, pre-copy %s; %u "
		       "round%s; %.1f MiB of stream, %.1f MiB on the wire (%.1f MiB of zero pages "
		       "and %.1f MiB by compression not sent)", when, d1, d2,
		       l->n_rounds + l->rounds_dropped,
		       l->n_rounds + l->rounds_dropped == 1 ? "" : "s", mib(l->stream_bytes),
		       mib(l->wire_bytes), mib(l->zero_bytes), mib(l->compress_saved_bytes));
	if (l->blackout_us)
		migr__svg_text(&s, 20, 64, "start", "sub", 0, "blackout %.1f ms (the policy "
			       "predicted %.1f ms%s)", ms(l->blackout_us),
			       ms(l->predicted_blackout_us),
			       l->restore_hint_us ? ", with the target's recent restore tail" : "");
	y = draw_timeline(&s, l, 76);
	y = draw_rounds(&s, l, y);
	draw_blackout(&s, l, y);
	return migr__svg_end(&s, svg_r, len_r);
}

/* ---- one evacuation ---------------------------------------------------------------------- */

#define EW 1100.0
#define EL 320.0
#define ER 20.0
#define EPW (EW - EL - ER)
#define LANE 28.0

/* The lane's end, for the axis. */
static uint64_t lane_end(const struct migr_evac_report_lane *ln)
{
	uint64_t e = ln->end_us;
	uint64_t a = ln->attempt_us + ln->preflight_us + ln->precopy_us + ln->blackout_us +
		     (ln->net_back_known ? ln->net_back_us : 0);

	if (!ln->timeline)
		a = ln->total_us + (ln->net_back_known ? ln->net_back_us : 0);
	return a > e ? a : e;
}

static void draw_lane(struct migr__svg *s, const struct migr_evac_report_lane *ln, double y,
		      double span)
{
	bool moved = !strcmp(ln->state, "moved");
	uint64_t a, p0, p1, b0, b1;
	char tip[400], d[32];
	double x;

#define X(t) (EL + EPW * ((double)(t) / span))
#define SEG(t0, t1, cls, minw) \
	migr__svg_rect(s, X(t0), y + 4, fmax(X(t1) - X(t0), (minw)), LANE - 10, cls, tip)
	if (ln->link[0])
		migr__svg_link_begin(s, ln->link);
	migr__svg_text(s, 16, y + 18, "start", NULL, 40, "%s \xe2\x86\x92 %s", ln->guest,
		       ln->target[0] ? ln->target : "-");
	if (ln->link[0])
		migr__svg_link_end(s);
	migr__svg_text(s, EL - 8, y + 18, "end", "small", 24, "%s", ln->state);
	if (ln->timeline) {
		a = ln->attempt_us;
		if (ln->notice_end_us > ln->start_us) {
			dur(d, sizeof(d), (double)(ln->notice_end_us - ln->start_us));
			snprintf(tip, sizeof(tip), "%s: notice period %s", ln->guest, d);
			SEG(ln->start_us, ln->notice_end_us, "notice", 1);
		}
		{
			uint64_t w0 = ln->notice_end_us > ln->start_us ? ln->notice_end_us
								       : ln->start_us;

			if (a > w0) {
				dur(d, sizeof(d), (double)(a - w0));
				snprintf(tip, sizeof(tip), "%s: waiting %s (for a slot, or earlier "
					 "attempts and their retry delay)", ln->guest, d);
				SEG(w0, a, "wait", 0);
			}
		}
	} else {
		/* an older record: only durations, drawn from zero */
		a = 0;
	}
	p0 = a + ln->preflight_us;
	p1 = p0 + ln->precopy_us;
	if (!ln->precopy_us && ln->total_us > ln->blackout_us + ln->preflight_us)
		p1 = a + ln->total_us - ln->blackout_us;
	b0 = p1;
	b1 = b0 + ln->blackout_us;
	if (!moved && !ln->blackout_us) {
		uint64_t e = ln->end_us > a ? ln->end_us : a + ln->total_us;

		snprintf(tip, sizeof(tip), "%s: %s%s%s", ln->guest, ln->state,
			 ln->reason[0] ? ": " : "", ln->reason);
		if (e > a)
			SEG(a, e, "failed", 1);
		else
			migr__svg_text(s, X(a) + 4, y + 18, "start", "small", 60, "%s", ln->reason);
		return;
	}
	if (ln->preflight_us) {
		dur(d, sizeof(d), (double)ln->preflight_us);
		snprintf(tip, sizeof(tip), "%s: connection and pre-flight %s", ln->guest, d);
		SEG(a, p0, "preflight", 0);
	}
	dur(d, sizeof(d), (double)(p1 - p0));
	snprintf(tip, sizeof(tip), "%s: pre-copy %s", ln->guest, d);
	SEG(p0, p1, moved ? "precopy" : "failed", 1);
	if (ln->blackout_us) {
		dur(d, sizeof(d), (double)ln->blackout_us);
		snprintf(tip, sizeof(tip), "%s: blackout %s", ln->guest, d);
		SEG(b0, b1, "blackout", 2);
	}
	x = X(b1) + 3;
	if (ln->net_back_known && moved) {
		dur(d, sizeof(d), (double)ln->net_back_us);
		snprintf(tip, sizeof(tip), "%s: network back %s after the unpause", ln->guest, d);
		migr__svg_rect(s, X(b1), y + 10, X(b1 + ln->net_back_us) - X(b1), LANE - 22, "net",
			       tip);
		x = X(b1 + ln->net_back_us) + 3;
	}
	if (ln->fwd_known) {
		snprintf(tip, sizeof(tip), "%s: %llu packet%s forwarded to the target during the "
			 "brownout", ln->guest, (unsigned long long)ln->fwd_packets,
			 ln->fwd_packets == 1 ? "" : "s");
		migr__svg_circle(s, x + 4, y + LANE / 2 - 1, 4, "fwd", tip);
		x += 10;
		migr__svg_text(s, x, y + 18, "start", "small", 0, "%.0f ms, fwd %llu",
			       ms(ln->blackout_us), (unsigned long long)ln->fwd_packets);
	} else if (ln->blackout_us && x < EW - 60) {
		migr__svg_text(s, x, y + 18, "start", "small", 0, "%.0f ms", ms(ln->blackout_us));
	}
#undef SEG
#undef X
}

static const struct { const char *cls, *what; } evac_legend[] = {
	{ "notice", "notice period" }, { "wait", "waiting (queue, retries)" },
	{ "preflight", "connection, pre-flight" }, { "precopy", "pre-copy" },
	{ "blackout", "blackout" }, { "net", "network coming back" },
	{ "fwd", "brownout forwarding" }, { "failed", "failed attempt" },
};

int migr_report_evacuation_svg(const struct migr_evac_report *r, char **svg_r, size_t *len_r)
{
	struct migr__svg s;
	unsigned int n = r->n > MIGR_REPORT_LANES ? MIGR_REPORT_LANES : r->n;
	double h = 88 + n * LANE + 64, span = (double)r->elapsed_us, top, x;
	char title[400], when[64], d[32];
	unsigned int moved = 0;

	for (unsigned int i = 0; i < n; i++) {
		if ((double)lane_end(&r->lanes[i]) > span)
			span = (double)lane_end(&r->lanes[i]);
		moved += !strcmp(r->lanes[i].state, "moved");
	}
	if (!(span > 0))
		span = 1;
	snprintf(title, sizeof(title), "Evacuation %s of %s: %s", r->id,
		 r->host[0] ? r->host : "this host", r->state[0] ? r->state : "state unknown");
	migr__svg_begin(&s, EW, h, title);
	migr__svg_text(&s, 16, 26, "start", "title", 120, "%s", title);
	utc(when, sizeof(when), r->started);
	dur(d, sizeof(d), (double)r->elapsed_us);
	migr__svg_text(&s, 16, 46, "start", "sub", 0, "started %s; %s; %u of %u guest%s moved%s",
		       when, r->elapsed_us ? d : "duration unknown", moved, n + r->more,
		       n + r->more == 1 ? "" : "s", r->more ? " (not every guest drawn)" : "");
	top = 64;
	time_axis(&s, EL, top + 20, EPW, span, top + 24 + n * LANE, true);
	top += 24;
	for (unsigned int i = 0; i < n; i++) {
		if (i % 2)
			migr__svg_rect(&s, 0, top + i * LANE, EW, LANE, "panel", NULL);
		draw_lane(&s, &r->lanes[i], top + i * LANE, span);
	}
	if (!n)
		migr__svg_text(&s, EL, top + 18, "start", "sub", 0, "No guest was recorded.");
	if (r->more)
		migr__svg_text(&s, 16, top + n * LANE + 18, "start", "sub", 0,
			       "%u more guest%s not drawn", r->more, r->more == 1 ? "" : "s");
	x = 16;
	for (size_t i = 0; i < sizeof(evac_legend) / sizeof(evac_legend[0]); i++) {
		double ly = h - 24;

		migr__svg_rect(&s, x, ly - 10, 12, 12, evac_legend[i].cls, NULL);
		migr__svg_text(&s, x + 16, ly, "start", "small", 0, "%s", evac_legend[i].what);
		x += 28 + 6.2 * strlen(evac_legend[i].what);
	}
	return migr__svg_end(&s, svg_r, len_r);
}

/* ---- the event log ------------------------------------------------------------------------ */

bool migr_report_name_ok(const char *id)
{
	size_t n = strlen(id);

	if (!n || n > 64 || !strcmp(id, ".") || !strcmp(id, ".."))
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._:@+-", *p)))
			return false;
	return true;
}

yajl_val migr__json_member(yajl_val obj, const char *name)
{
	if (!obj || !YAJL_IS_OBJECT(obj))
		return NULL;
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (!strcmp(obj->u.object.keys[i], name))
			return obj->u.object.values[i];
	return NULL;
}

static yajl_val key(yajl_val o, const char *k)
{
	return migr__json_member(o, k);
}

/* A string member into buf: 0, or -EBADMSG (absent counts as ""). */
static int get_str(yajl_val o, const char *k, char *buf, size_t len)
{
	yajl_val v = key(o, k);
	const char *s;

	buf[0] = '\0';
	if (!v || YAJL_IS_NULL(v))
		return 0;
	s = YAJL_GET_STRING(v);
	if (!s)
		return -EBADMSG;
	snprintf(buf, len, "%s", s);     /* cut (a label), cleaned: it may reach a terminal */
	migr__text_clean(buf);
	return 0;
}

/* A number of milliseconds into microseconds: 1 present, 0 absent or null, -EBADMSG. */
static int get_ms(yajl_val o, const char *k, uint64_t *us_r)
{
	yajl_val v = o ? key(o, k) : NULL;
	double x;

	if (!v || YAJL_IS_NULL(v))
		return 0;
	if (!YAJL_IS_NUMBER(v))
		return -EBADMSG;
	x = YAJL_GET_DOUBLE(v);
	if (YAJL_IS_INTEGER(v))
		x = (double)YAJL_GET_INTEGER(v);
	if (!isfinite(x) || x < 0 || x > 1e12)
		return -EBADMSG;
	*us_r = (uint64_t)(x * 1000.0);
	return 1;
}

static int get_uint(yajl_val o, const char *k, uint64_t max, uint64_t *v_r)
{
	yajl_val v = key(o, k);
	long long x;

	if (!v || YAJL_IS_NULL(v))
		return 0;
	if (!YAJL_IS_INTEGER(v))
		return -EBADMSG;
	x = YAJL_GET_INTEGER(v);
	if (x < 0 || (uint64_t)x > max)
		return -EBADMSG;
	*v_r = (uint64_t)x;
	return 1;
}

static int take_migration(struct migr_evac_report *r, yajl_val o)
{
	struct migr_evac_report_lane ln;
	yajl_val tl = key(o, "timeline_ms");
	uint64_t u = 0;
	int rc = 0;

	memset(&ln, 0, sizeof(ln));
	rc |= get_str(o, "guest", ln.guest, sizeof(ln.guest));
	rc |= get_str(o, "target", ln.target, sizeof(ln.target));
	rc |= get_str(o, "outcome", ln.state, sizeof(ln.state));
	rc |= get_str(o, "reason", ln.reason, sizeof(ln.reason));
	{
		char id[64];
		struct migr_id x;

		rc |= get_str(o, "migration_id", id, sizeof(id));
		if (!migr_id_from_hex(id, &x))
			memcpy(ln.migration_id, id, sizeof(ln.migration_id));
	}
	if (get_uint(o, "attempts", 1000, &u) > 0)
		ln.attempts = (unsigned int)u;
	if (get_ms(o, "total_ms", &ln.total_us) < 0 || get_ms(o, "blackout_ms", &ln.blackout_us) < 0)
		rc = -EBADMSG;
	ln.net_back_known = get_ms(o, "net_back_ms", &ln.net_back_us) > 0;
	u = 0;
	rc |= get_uint(o, "forwarded_packets", 1ull << 62, &u) < 0 ? -EBADMSG : 0;
	ln.fwd_known = key(o, "forwarded_packets") && YAJL_IS_INTEGER(key(o, "forwarded_packets"));
	ln.fwd_packets = u;
	if (tl && YAJL_IS_OBJECT(tl)) {
		int t = 0;

		t |= get_ms(tl, "start", &ln.start_us);
		t |= get_ms(tl, "notice_end", &ln.notice_end_us);
		t |= get_ms(tl, "attempt", &ln.attempt_us);
		t |= get_ms(tl, "preflight", &ln.preflight_us);
		t |= get_ms(tl, "precopy", &ln.precopy_us);
		t |= get_ms(tl, "end", &ln.end_us);
		if (t < 0)
			rc = -EBADMSG;
		ln.timeline = true;
	} else if (tl && !YAJL_IS_NULL(tl)) {
		rc = -EBADMSG;
	}
	if (rc || !ln.guest[0])
		return -EBADMSG;
	if (ln.migration_id[0] && !strcmp(ln.state, "moved"))
		snprintf(ln.link, sizeof(ln.link), "migration-%s.svg", ln.migration_id);
	/* a guest's later record (a second run of the same id) replaces its first */
	for (unsigned int i = 0; i < r->n && i < MIGR_REPORT_LANES; i++)
		if (!strcmp(r->lanes[i].guest, ln.guest)) {
			r->lanes[i] = ln;
			return 1;
		}
	if (r->n == MIGR_REPORT_LANES) {
		r->more++;
		return 1;
	}
	r->lanes[r->n++] = ln;
	return 1;
}

static int take_evacuation(struct migr_evac_report *r, yajl_val o)
{
	uint64_t u = 0;
	int rc = 0;

	rc |= get_str(o, "host", r->host, sizeof(r->host));
	rc |= get_str(o, "state", r->state, sizeof(r->state));
	if (get_uint(o, "started", (uint64_t)1 << 40, &u) < 0 || get_ms(o, "elapsed_ms",
									&r->elapsed_us) < 0)
		rc = -EBADMSG;
	r->started = (int64_t)u;
	return rc ? -EBADMSG : 1;
}

int migr_report_evac_line(struct migr_evac_report *r, const char *evid, const char *line,
			  size_t len)
{
	char err[64], *copy;
	const char *kind;
	yajl_val o, k;
	int rc = 0;

	if (len > LINE_MAX_BYTES || memchr(line, '\0', len) || !migr__json_depth_ok(line, len, 4))
		return -EBADMSG;
	/* cheap: most lines of a long log are not this evacuation's */
	if (!memmem(line, len, evid, strlen(evid)))
		return 0;
	copy = strndup(line, len);
	if (!copy)
		return -ENOMEM;
	o = yajl_tree_parse(copy, err, sizeof(err));
	free(copy);
	if (!o || !YAJL_IS_OBJECT(o)) {
		yajl_tree_free(o);
		return -EBADMSG;
	}
	k = key(o, "record");
	kind = k ? YAJL_GET_STRING(k) : NULL;
	if (kind && !strcmp(kind, "migration")) {
		const char *e = (k = key(o, "evacuation")) ? YAJL_GET_STRING(k) : NULL;

		if (e && !strcmp(e, evid))
			rc = take_migration(r, o);
	} else if (kind && !strcmp(kind, "evacuation")) {
		const char *e = (k = key(o, "id")) ? YAJL_GET_STRING(k) : NULL;

		if (e && !strcmp(e, evid))
			rc = take_evacuation(r, o);
	}
	yajl_tree_free(o);
	return rc;
}

int migr_report_evac_from_log(const char *log, const char *evid, struct migr_evac_report *r)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool found = false;
	FILE *f;
	int fd;

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", evid);
	fd = open(log, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			n--;
		if (migr_report_evac_line(r, evid, line, (size_t)n) > 0)
			found = true;
		if (cap > 4 * LINE_MAX_BYTES) {
			/* one huge line: do not keep its buffer for the rest */
			free(line);
			line = NULL;
			cap = 0;
		}
	}
	free(line);
	fclose(f);
	if (!found)
		return -ENOENT;
	if (!r->elapsed_us)
		for (unsigned int i = 0; i < r->n; i++)
			if (lane_end(&r->lanes[i]) > r->elapsed_us)
				r->elapsed_us = lane_end(&r->lanes[i]);
	return 0;
}

/* ---- files ---------------------------------------------------------------------------- */

int migr_report_write_file(const char *path, const char *data, size_t len, unsigned int mode)
{
	return migr__file_replace(path, data, len, mode, false);
}

struct ientry {
	char name[96];
	int64_t mtime;
};

static int inewest(const void *a, const void *b)
{
	const struct ientry *x = a, *y = b;

	if (x->mtime != y->mtime)
		return x->mtime > y->mtime ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* "evacuation-ID.svg" -> ID when ID is a fit name. */
static bool report_file(const char *n, const char *prefix, char *id, size_t idlen)
{
	size_t pl = strlen(prefix), nl = strlen(n);

	if (nl <= pl + 4 || strncmp(n, prefix, pl) || strcmp(n + nl - 4, ".svg") ||
	    nl - pl - 4 >= idlen)
		return false;
	memcpy(id, n + pl, nl - pl - 4);
	id[nl - pl - 4] = '\0';
	return migr_report_name_ok(id);
}

static void index_section(struct migr__buf *b, const char *what, const char *prefix,
			  const struct ientry *e, size_t n)
{
	size_t shown = 0;

	migr__buf_printf(b, "<h2>%s</h2>\n<ul>\n", what);
	for (size_t i = 0; i < n; i++) {
		char id[80], when[64];

		if (!report_file(e[i].name, prefix, id, sizeof(id)))
			continue;
		utc(when, sizeof(when), e[i].mtime);
		migr__buf_str(b, "<li><a href=\"./");
		migr__buf_url(b, e[i].name);
		migr__buf_str(b, "\">");
		migr__buf_xml(b, id, 0);
		migr__buf_printf(b, "</a> <span>%s</span></li>\n", when);
		shown++;
	}
	if (!shown)
		migr__buf_str(b, "<li>none</li>\n");
	migr__buf_str(b, "</ul>\n");
}

int migr_report_index(const char *dir)
{
	struct ientry *e = NULL;
	struct migr__buf b = { 0 };
	size_t n = 0;
	char path[4200];
	struct dirent *d;
	DIR *dh;
	int rc;

	if (snprintf(path, sizeof(path), "%s/index.html", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	dh = opendir(dir);
	if (!dh)
		return -errno;
	e = calloc(INDEX_MAX, sizeof(*e));
	if (!e) {
		closedir(dh);
		return -ENOMEM;
	}
	while ((d = readdir(dh))) {
		char id[80];
		struct stat st;

		if (!report_file(d->d_name, "evacuation-", id, sizeof(id)) &&
		    !report_file(d->d_name, "migration-", id, sizeof(id)))
			continue;
		if (fstatat(dirfd(dh), d->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		if (n == INDEX_MAX) {
			/* keep the newest: replace the oldest held */
			size_t old = 0;

			for (size_t i = 1; i < n; i++)
				if (e[i].mtime < e[old].mtime)
					old = i;
			if (st.st_mtime <= e[old].mtime)
				continue;
			n--;
			e[old] = e[n];
		}
		if (strlen(d->d_name) >= sizeof(e[n].name))
			continue;
		strcpy(e[n].name, d->d_name);
		e[n].mtime = st.st_mtime;
		n++;
	}
	closedir(dh);
	qsort(e, n, sizeof(*e), inewest);
	migr__buf_str(&b, "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" "
		      "lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
		      "<title>migr reports</title>\n<style>body{font-family:sans-serif;"
		      "margin:2em}span{color:#555;font-size:90%}</style>\n</head>\n<body>\n"
		      "<h1>migr reports</h1>\n<p>Pictures of this host's evacuations and "
		      "migrations (migr report), newest first.</p>\n");
	index_section(&b, "Evacuations", "evacuation-", e, n);
	index_section(&b, "Migrations", "migration-", e, n);
	migr__buf_str(&b, "</body>\n</html>\n");
	free(e);
	rc = migr__buf_error(&b);
	if (!rc)
		rc = migr__file_replace(path, b.p, b.len, 0644, false);
	migr__buf_free(&b);
	return rc;
}

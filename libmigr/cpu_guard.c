/*
 * cpu_guard.c: the sender's CPU share from what the guest loses (cpu_guard.h).
 */
#include <string.h>

#include "cpu_guard.h"

#define GUARD_MIN_LOOKS 3

void migr__guard_init(struct migr__cpu_guard *g)
{
	memset(g, 0, sizeof(*g));
}

void migr__guard_baseline(struct migr__cpu_guard *g, uint64_t span_ns, uint64_t run_ns)
{
	g->base = span_ns ? (double)run_ns / (double)span_ns : 0;
}

void migr__guard_restart(struct migr__cpu_guard *g)
{
	g->w_start_ns = 0;
	g->looks = 0;
	g->judging = false;
}

unsigned int migr__guard_guest_pct(const struct migr__cpu_guard *g)
{
	return g->all_wall_ns ? (unsigned int)(g->all_run_ns * 100 / g->all_wall_ns) : 0;
}

/* Takes the lowerings since g->before back: they did not help. */
static unsigned int take_back(struct migr__cpu_guard *g, bool *no_help_r)
{
	*no_help_r = true;
	g->strikes = 0;
	g->floor = g->before ? g->before : 100;
	return g->before;
}

/* The decision at a window's end: the new share (0: none). */
static unsigned int decide(struct migr__cpu_guard *g, double lost, unsigned int own,
			   bool *no_help_r)
{
	unsigned int in_force = g->share ? g->share : 100, to;

	*no_help_r = false;
	if (g->judging) {
		g->judging = false;
		if (lost <= g->lost_before - MIGR__GUARD_HELPED)
			g->strikes = 0;
		else if (++g->strikes >= MIGR__GUARD_STRIKES)
			return take_back(g, no_help_r);
	}
	if (lost > MIGR__GUARD_HIGH) {
		to = (own < in_force ? own : in_force) * 6 / 10;
		if (to < MIGR__GUARD_MIN)
			to = MIGR__GUARD_MIN;
		if (to < g->floor)
			to = g->floor;
		if (to >= in_force)
			/* at the bottom: if the last step down did not help either, undo */
			return g->strikes ? take_back(g, no_help_r) : g->share;
		if (!g->strikes) {
			/* a run of lowerings starts here; it is judged against this */
			g->before = g->share;
			g->lost_before = lost;
		}
		g->judging = true;
		return to;
	}
	g->strikes = 0;
	if (lost < MIGR__GUARD_LOW && g->share) {
		to = g->share + MIGR__GUARD_STEP;
		return to > 99 ? 0 : to;
	}
	return g->share;
}

bool migr__guard_look(struct migr__cpu_guard *g, uint64_t now_ns, uint64_t cpu_ns,
		      uint64_t run_ns, struct migr__guard_window *w_r)
{
	struct migr__guard_window w;
	uint64_t wall, run;
	double rate;

	if (!g->w_start_ns || now_ns < g->w_start_ns || cpu_ns < g->w_cpu0_ns ||
	    run_ns < g->w_run0_ns) {
		/* this look opens a window: those after it, up to its end, count */
		g->w_start_ns = now_ns;
		g->w_cpu0_ns = cpu_ns;
		g->w_run0_ns = run_ns;
		g->looks = 0;
		return false;
	}
	g->looks++;
	wall = now_ns - g->w_start_ns;
	if (wall < MIGR__GUARD_WINDOW_NS || g->looks < GUARD_MIN_LOOKS)
		return false;

	run = run_ns - g->w_run0_ns;
	g->all_wall_ns += wall;
	g->all_run_ns += run;
	rate = (double)run / (double)wall;
	memset(&w, 0, sizeof(w));
	w.lost = g->base > 0 && rate < g->base ? 1 - rate / g->base : 0;
	w.guest_pct = (unsigned int)(rate * 100 + 0.5);
	w.own_pct = (unsigned int)((cpu_ns - g->w_cpu0_ns) * 100 / wall);
	w.from = g->share;
	w.to = !g->watch_only && g->base >= MIGR__GUARD_IDLE ?
	       decide(g, w.lost, w.own_pct, &w.no_help) : g->share;
	g->w_start_ns = now_ns;
	g->w_cpu0_ns = cpu_ns;
	g->w_run0_ns = run_ns;
	g->looks = 0;
	if (w.to == g->share)
		return false;
	g->share = w.to;
	g->changes++;
	if (w.to && (!g->min_share || w.to < g->min_share))
		g->min_share = w.to;
	if (w_r)
		*w_r = w;
	return true;
}

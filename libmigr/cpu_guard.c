/*
 * cpu_guard.c: the sender's CPU share from the guest's waiting (cpu_guard.h).
 */
#include <string.h>

#include "cpu_guard.h"

#define GUARD_MIN_LOOKS 3

void migr__guard_init(struct migr__cpu_guard *g)
{
	memset(g, 0, sizeof(*g));
}

void migr__guard_restart(struct migr__cpu_guard *g)
{
	g->w_start_ns = 0;
	g->looks = 0;
	g->waiting = g->online = 0;
	g->judging = false;
}

unsigned int migr__guard_wait_pct(const struct migr__cpu_guard *g)
{
	return g->all_online ? (unsigned int)(g->all_waiting * 100 / g->all_online) : 0;
}

/* The decision at a window's end: the new share (0: none). */
static unsigned int decide(struct migr__cpu_guard *g, double w, unsigned int own,
			   bool *no_help_r)
{
	unsigned int in_force = g->share ? g->share : 100, to;

	*no_help_r = false;
	if (g->judging) {
		g->judging = false;
		if (w > g->w_before - MIGR__GUARD_HELPED) {
			/* the guest waits as much with less for the sender: the CPU it waits
			 * for is not the sender's to give */
			*no_help_r = true;
			g->floor = g->before ? g->before : 100;
			return g->before;
		}
	}
	if (w > MIGR__GUARD_HIGH) {
		to = (own < in_force ? own : in_force) * 6 / 10;
		if (to < MIGR__GUARD_MIN)
			to = MIGR__GUARD_MIN;
		if (to < g->floor)
			to = g->floor;
		if (to >= in_force)
			return g->share;
		g->judging = true;
		g->before = g->share;
		g->w_before = w;
		return to;
	}
	if (w < MIGR__GUARD_LOW && g->share) {
		to = g->share + MIGR__GUARD_STEP;
		return to > 99 ? 0 : to;
	}
	return g->share;
}

bool migr__guard_look(struct migr__cpu_guard *g, uint64_t now_ns, uint64_t cpu_ns,
		      unsigned int waiting, unsigned int online, struct migr__guard_window *w_r)
{
	struct migr__guard_window w;
	uint64_t wall;

	if (!online)
		return false;
	if (waiting > online)
		waiting = online;
	if (!g->w_start_ns || now_ns < g->w_start_ns || cpu_ns < g->w_cpu0_ns) {
		/* this look opens a window: those after it, up to its end, count */
		g->w_start_ns = now_ns;
		g->w_cpu0_ns = cpu_ns;
		g->looks = 0;
		g->waiting = g->online = 0;
		return false;
	}
	g->looks++;
	g->waiting += waiting;
	g->online += online;
	g->all_waiting += waiting;
	g->all_online += online;
	wall = now_ns - g->w_start_ns;
	if (wall < MIGR__GUARD_WINDOW_NS || g->looks < GUARD_MIN_LOOKS)
		return false;

	memset(&w, 0, sizeof(w));
	w.waiting = (double)g->waiting / (double)g->online;
	w.own_pct = (unsigned int)((cpu_ns - g->w_cpu0_ns) * 100 / wall);
	w.from = g->share;
	w.to = decide(g, w.waiting, w.own_pct, &w.no_help);
	g->w_start_ns = now_ns;
	g->w_cpu0_ns = cpu_ns;
	g->looks = 0;
	g->waiting = g->online = 0;
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

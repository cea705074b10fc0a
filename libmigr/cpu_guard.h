/*
 * cpu_guard.h: the sender's CPU share chosen from what the guest loses (send.c, docs/phases.md
 * "The guest's CPU during pre-copy"). Not installed.
 *
 * A dom0 that shares its CPUs with the guests takes from them every cycle the sender uses:
 * the guest being moved waits for its CPU while the stream is compressed and sent. The
 * guard looks, several times a second, at the guest's vCPUs (ops->vcpu_waiting: how many
 * are runnable but not running) and, once per window of GUARD_WINDOW_NS, decides the
 * sending pump's CPU share (migr_conn_set_cpu_share):
 *   - the guest waited in more than GUARD_HIGH of its looks: the share goes to 6/10 of what
 *     the process took in the window (or of the share in force), no lower than GUARD_MIN;
 *   - it waited in fewer than GUARD_LOW: the share rises by GUARD_STEP, and past 99 the
 *     sender is free again;
 *   - a lowering that did not bring the waiting down by GUARD_HELPED in the next window
 *     was no help (the CPU goes elsewhere: other guests, the dom0 kernel): the share in
 *     force before it comes back and is the floor for the rest of the migration.
 * On a host whose dom0 has CPUs of its own, a runnable vCPU of the guest runs elsewhere:
 * the guard sees no waiting and never paces. A pure decision, no clock, no I/O: the same
 * code runs in the sender and in the unit tests.
 */
#ifndef MIGR_CPU_GUARD_H
#define MIGR_CPU_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#define MIGR__GUARD_WINDOW_NS 1000000000ull
#define MIGR__GUARD_LOOK_MS   100          /* the sampler's looks while the guard is on */
#define MIGR__GUARD_HIGH      0.5
#define MIGR__GUARD_LOW       0.2
#define MIGR__GUARD_HELPED    0.1
#define MIGR__GUARD_MIN       10u
#define MIGR__GUARD_STEP      10u

struct migr__cpu_guard {
	unsigned int share;           /* the share in force, % of one CPU (0: none) */
	unsigned int floor;           /* no lower: a lowering to below it did not help */
	/* the window */
	uint64_t w_start_ns, w_cpu0_ns;
	unsigned int looks;
	uint64_t waiting, online;     /* vCPU looks: runnable-not-running, and all */
	/* the last lowering, judged by the next window */
	bool judging;
	unsigned int before;          /* the share before it */
	double w_before;              /* the waiting fraction that caused it */
	/* for the report */
	unsigned int min_share;       /* the lowest share set (0: never paced) */
	unsigned int changes;
	uint64_t all_waiting, all_online;
};

/* What a window ended with (migr__guard_look's *w_r), for the log. */
struct migr__guard_window {
	double waiting;               /* fraction of vCPU looks that found it waiting */
	unsigned int own_pct;         /* the process's CPU in the window, % of one CPU */
	unsigned int from, to;        /* the share before and after (0: none) */
	bool no_help;                 /* the last lowering was taken back */
};

void migr__guard_init(struct migr__cpu_guard *g);
/* Forget the window (e.g. while the guest is throttled: its waiting is the cap's). */
void migr__guard_restart(struct migr__cpu_guard *g);
/*
 * One look at now_ns (monotonic), cpu_ns the process's CPU time then, and the guest's
 * vCPUs: waiting of online runnable but not running. The first look (and the first after
 * a restart) opens a window; a window ends at the first look GUARD_WINDOW_NS or more after
 * its start, with at least 3 looks in it, and the next one starts there. Returns true when
 * a window ended and the share changed; *w_r then says why. g->share is the share to set.
 */
bool migr__guard_look(struct migr__cpu_guard *g, uint64_t now_ns, uint64_t cpu_ns,
                      unsigned int waiting, unsigned int online,
                      struct migr__guard_window *w_r);
/* The guest's waiting over every look, in % (0 with no look). */
unsigned int migr__guard_wait_pct(const struct migr__cpu_guard *g);

#endif

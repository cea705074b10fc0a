/*
 * cpu_guard.h: the sender's CPU share chosen from what the guest loses (send.c, docs/phases.md
 * "Source"). Not installed.
 *
 * A dom0 that shares its CPUs with the guests takes from them every cycle the sender uses:
 * the guest being moved waits for its CPU while the stream is compressed and sent. The
 * guard knows the guest's CPU rate before the pre-copy (its vCPUs' running time over a
 * stretch before the stream, migr__guard_baseline) and reads it again several times a
 * second during the pre-copy (ops->vcpu_run). Once per window of GUARD_WINDOW_NS it takes
 * the share of its rate before that the guest lost, and decides the sending pump's CPU
 * share (migr_conn_set_cpu_share):
 *   - the guest lost more than GUARD_HIGH of its rate: the share goes to 6/10 of what the
 *     process took in the window (or of the share in force), no lower than GUARD_MIN;
 *   - it lost less than GUARD_LOW: the share rises by GUARD_STEP, and past 99 the sender
 *     is free again;
 *   - lowerings that, GUARD_STRIKES in a row, did not bring the loss down by GUARD_HELPED
 *     below what it was before the first of them were no help (the CPU goes elsewhere:
 *     other guests, the dom0 kernel, or the guest just does less): the share in force
 *     before them comes back and is the floor for the rest of the migration.
 * A guest that ran less than GUARD_IDLE of a CPU before has nothing to lose: no pacing.
 * On a host whose dom0 has CPUs of its own, the guest keeps its rate and the sender is
 * never paced. A pure decision, no clock, no I/O: the same code runs in the sender and in
 * the unit tests.
 */
#ifndef MIGR_CPU_GUARD_H
#define MIGR_CPU_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#define MIGR__GUARD_WINDOW_NS   1000000000ull
#define MIGR__GUARD_BASE_NS     300000000ull   /* the stretch for the rate before */
#define MIGR__GUARD_LOOK_MS     100            /* the sampler's looks while the guard is on */
#define MIGR__GUARD_HIGH        0.5
#define MIGR__GUARD_LOW         0.2
#define MIGR__GUARD_HELPED      0.1
#define MIGR__GUARD_IDLE        0.05           /* of one CPU */
#define MIGR__GUARD_MIN         10u
#define MIGR__GUARD_STEP        10u
#define MIGR__GUARD_STRIKES     2

struct migr__cpu_guard {
	bool watch_only;              /* readings for the report, no decision */
	double base;                  /* the guest's CPU before, in CPUs (0: unknown) */
	unsigned int share;           /* the share in force, % of one CPU (0: none) */
	unsigned int floor;           /* no lower: lowerings below it did not help */
	/* the window */
	uint64_t w_start_ns, w_cpu0_ns, w_run0_ns;
	unsigned int looks;
	/* the last lowering, judged by the next window */
	bool judging;
	unsigned int strikes;         /* lowerings in a row that did not help */
	unsigned int before;          /* the share before the first of them */
	double lost_before;           /* the loss then */
	/* for the report: the windows' time and the guest's running time in them */
	unsigned int min_share;       /* the lowest share set (0: never paced) */
	unsigned int changes;
	uint64_t all_wall_ns, all_run_ns;
};

/* What a window ended with (migr__guard_look's *w_r), for the log. */
struct migr__guard_window {
	double lost;                  /* the share of its rate before the guest lost */
	unsigned int guest_pct;       /* the guest's CPU in the window, % of one CPU */
	unsigned int own_pct;         /* the process's */
	unsigned int from, to;        /* the share before and after (0: none) */
	bool no_help;                 /* the last lowerings were taken back */
};

void migr__guard_init(struct migr__cpu_guard *g);
/* The guest's CPU before the pre-copy: run_ns of running time over span_ns. */
void migr__guard_baseline(struct migr__cpu_guard *g, uint64_t span_ns, uint64_t run_ns);
/* Forget the window (e.g. while the guest is throttled: its loss is the cap's). */
void migr__guard_restart(struct migr__cpu_guard *g);
/*
 * One look at now_ns (monotonic): cpu_ns the process's CPU time then, run_ns the guest's
 * vCPUs' running time. The first look (and the first after a restart) opens a window; a
 * window ends at the first look GUARD_WINDOW_NS or more after its start, with at least 3
 * looks in it, and the next one starts there. Returns true when a window ended and the
 * share changed; *w_r then says why. g->share is the share to set.
 */
bool migr__guard_look(struct migr__cpu_guard *g, uint64_t now_ns, uint64_t cpu_ns,
                      uint64_t run_ns, struct migr__guard_window *w_r);
/* The guest's CPU over the windows, in % of one CPU (0 with none). */
unsigned int migr__guard_guest_pct(const struct migr__cpu_guard *g);

#endif

/*
 * migr/plan.h: the evacuation planner. Every guest gets a target (or a reason why none)
 * before anything moves.
 *
 * Entry points: migr_plan_params_init(), migr_plan_make(), migr_plan_free(),
 * migr_plan_auto_parallel(). Pure: no Xen, no I/O, no printing; the caller gathers the
 * guests (from the hypervisor and the policy nodes of xenstore-schema/) and the targets
 * (from their migrd) and prints the plan.
 *
 * Placement, in order of precedence:
 *  1. a guest marked not migratable (pinned, unsupported type) stays, with its reason;
 *  2. a target must be reachable and below its utilisation threshold to receive anything;
 *  3. a target receives a guest only if its free memory after the placement stays above its
 *     reserve and its memory utilisation stays at or below its threshold;
 *  4. anti-affinity: two guests of one group never go to the same target in one
 *     evacuation, nor to a target that already holds (or receives) a guest of that group
 *     (migr_plan_target.held_groups; a hard rule: a guest that cannot honour it stays,
 *     with its reason);
 *  5. among the targets left, the one with the most free memory after placement wins
 *     (MIGR_PLAN_FIT_SPREAD, the default: spreads load), or the one with the least
 *     (MIGR_PLAN_FIT_PACK: best fit, keeps whole hosts' room together for the next
 *     drain of a fleet, migr/fleet.h); guests are placed largest first (first-fit
 *     decreasing), so a big guest is not crowded out by small ones.
 * Unplaceable guests do not block the others. The execution order (migr_plan_params.order)
 * is smallest first (most guests leave soonest) or largest first (with streams side by
 * side, the longest start first and the rest fill in behind: the shortest makespan);
 * the plan says which and why (order_why).
 */
#ifndef MIGR_PLAN_H
#define MIGR_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#define MIGR_PLAN_NAME_MAX   64    /* guest names and groups, with the NUL */
#define MIGR_PLAN_HOST_MAX   256   /* host names (HOST[:PORT]), with the NUL */
#define MIGR_PLAN_REASON_MAX 160
#define MIGR_PLAN_MAX_GUESTS 4096
#define MIGR_PLAN_MAX_TARGETS 4096  /* a fleet's hosts (migr/fleet.h) */

struct migr_plan_guest {
	char name[MIGR_PLAN_NAME_MAX];
	uint32_t domid;
	uint64_t mem_kib;                  /* what the target must hold */
	unsigned int vcpus;
	char group[MIGR_PLAN_NAME_MAX];    /* anti-affinity group; "" none */
	bool migratable;
	char why_not[MIGR_PLAN_REASON_MAX]; /* when !migratable */
};

struct migr_plan_target {
	char name[MIGR_PLAN_HOST_MAX];
	bool reachable;
	char why_unreachable[MIGR_PLAN_REASON_MAX];
	uint64_t total_kib;                /* host memory; 0: unknown (threshold not applied) */
	uint64_t free_kib;                 /* free for new guests now */
	unsigned int cpu_util_pct;         /* current CPU utilisation, 0..100 */
	unsigned int threshold_pct;        /* max memory/CPU utilisation; 0: params default */
	uint64_t reserve_kib;              /* free memory to keep; 0: params default */
	/* Anti-affinity groups of the guests already on this target or on their way to it
	 * (rule 4); NULL/0: none. Only the groups of the guests being planned matter. */
	const char (*held_groups)[MIGR_PLAN_NAME_MAX];
	unsigned int nheld_groups;
};

enum migr_plan_order { MIGR_PLAN_ORDER_SMALLEST = 0, MIGR_PLAN_ORDER_LARGEST };
enum migr_plan_fit { MIGR_PLAN_FIT_SPREAD = 0, MIGR_PLAN_FIT_PACK };

struct migr_plan_params {
	enum migr_plan_order order;        /* default smallest first */
	unsigned int threshold_pct;        /* default 90 */
	uint64_t reserve_kib;              /* default 0 */
	uint64_t overhead_kib;             /* per guest beyond its memory; default 2048 */
	enum migr_plan_fit fit;            /* rule 5; default spread */
};

void migr_plan_params_init(struct migr_plan_params *p);

enum migr_plan_verdict {
	MIGR_PLAN_PLACED = 0,
	MIGR_PLAN_PINNED,                  /* not migratable */
	MIGR_PLAN_UNPLACEABLE,             /* no target fits */
};

struct migr_plan_entry {
	unsigned int guest;                /* index into the guests given */
	int target;                        /* index into the targets given; -1 none */
	enum migr_plan_verdict verdict;
	char reason[MIGR_PLAN_REASON_MAX]; /* for PINNED and UNPLACEABLE */
};

struct migr_plan {
	unsigned int n;                    /* == number of guests given */
	struct migr_plan_entry *entries;   /* in execution order */
	char order_why[MIGR_PLAN_REASON_MAX];
	unsigned int placed, pinned, unplaceable;
	uint64_t *assigned_kib;            /* per target: memory placed there */
	unsigned int ntargets;
};

/*
 * migr_plan_make: plans guests onto targets. Returns 0 with a plan (even when nothing can
 * be placed: see the counters), -EINVAL for bad input (too many guests or targets,
 * duplicate domids), -ENOMEM.
 */
int migr_plan_make(const struct migr_plan_guest *guests, unsigned int nguests,
		   const struct migr_plan_target *targets, unsigned int ntargets,
		   const struct migr_plan_params *params, struct migr_plan **plan_r);

void migr_plan_free(struct migr_plan *plan);

const char *migr_plan_verdict_name(enum migr_plan_verdict v);

/*
 * migr_plan_auto_parallel: how many migrations to run at once when the operator did not
 * say. Bandwidth: under 1 Gbit/s 2, under 10 Gbit/s 4, else 8 (VMware's per-host limits
 * for 1 and 10 GbE); link_bps 0 (unknown) counts as 1 Gbit/s. CPU: each sender keeps about
 * one dom0 CPU busy (stream copy, TLS), so never more than dom0_cpus. At least 1, at most
 * the number of guests placed.
 */
unsigned int migr_plan_auto_parallel(uint64_t link_bps, unsigned int dom0_cpus,
				     unsigned int placed);

#endif /* MIGR_PLAN_H */

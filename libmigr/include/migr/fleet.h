/*
 * migr/fleet.h: the scheduling core of a rolling drain across a fleet (docs/fleet.md).
 *
 * Entry points: migr_fleet_params_init(), migr_fleet_decide(), migr_fleet_decision_free(),
 * migr_fleet_wait_name(). Pure: plain structs in, decisions out; no etcd, no Xen, no I/O,
 * no clock. The caller gathers the fleet (from etcd, a file, a simulator), applies the
 * decision (starts the drains, runs the migrations) and calls again when something changed.
 *
 * The rules of migr_fleet_decide(), in the order they are checked for each queued host:
 *  1. the queue is walked in order (MIGR_FLEET_ORDER_QUEUE), or, the default
 *     (MIGR_FLEET_ORDER_DOMAINS), the hosts of the failure domains with the most hosts
 *     queued first, queue order breaking ties: rule 3 makes each domain's hosts a chain,
 *     and the longest chains must start first or the last domains finish alone, one host
 *     at a time. A host that cannot start now is skipped with its reason and keeps its
 *     place (hosts behind it may start: one big host waiting for room does not stop the
 *     fleet);
 *  2. at most max_draining hosts drain at once (hosts already draining count);
 *  3. never two hosts of one failure domain (migr_fleet_host.group) out at once: a host
 *     draining or in maintenance keeps its group busy until it is back in service;
 *  4. a host that some migration is still bringing guests to (a guest's `to` names it)
 *     waits until they have landed: a draining host receives nothing;
 *  5. a host with a pinned guest (not migratable) does not start: it could never be
 *     emptied, and the operator must decide for that guest;
 *  6. the host starts only if every one of its guests gets a place now, by the evacuation
 *     planner's own rules (migr_plan_make(): capacity, utilisation threshold, reserve,
 *     anti-affinity groups, including the groups already on each target); the places are
 *     claimed at once (the targets' free memory drops), so a later decision cannot give
 *     the same room away.
 * Targets are the hosts in service (neither draining nor in maintenance) other than the
 * host itself and those starting in the same decision. Hosts not in the queue (those
 * already drained and back, or never queued) are tried first, so that a guest moves once;
 * queued hosts take only what they cannot (their guests will move again when they drain).
 * Guests of a host already draining that have no `to` (a migration that failed, or a
 * drain begun elsewhere) are placed the same way, before any new host starts.
 */
#ifndef MIGR_FLEET_H
#define MIGR_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "migr/plan.h"

#define MIGR_FLEET_MAX_HOSTS  MIGR_PLAN_MAX_TARGETS
#define MIGR_FLEET_MAX_GUESTS (1u << 20)
#define MIGR_FLEET_ERR_MAX    256

enum migr_fleet_state {
	MIGR_FLEET_IN_SERVICE = 0,         /* runs guests, may receive */
	MIGR_FLEET_DRAINING,               /* its guests are leaving; receives nothing */
	MIGR_FLEET_MAINTENANCE,            /* empty, being patched; back in service later */
};

struct migr_fleet_host {
	char name[MIGR_PLAN_HOST_MAX];
	char group[MIGR_PLAN_NAME_MAX];    /* failure domain (rack, power feed); "" none */
	uint64_t total_kib;                /* > 0 */
	uint64_t free_kib;                 /* free for new guests, net of the memory claimed
	                                      by migrations planned or under way to it */
	enum migr_fleet_state state;
	unsigned int threshold_pct;        /* as migr_plan_target; 0: params default */
	uint64_t reserve_kib;              /* as migr_plan_target; 0: params default */
};

struct migr_fleet_guest {
	char name[MIGR_PLAN_NAME_MAX];     /* unique in the fleet */
	char host[MIGR_PLAN_HOST_MAX];     /* where it runs now */
	char to[MIGR_PLAN_HOST_MAX];       /* where it is planned to go or going; "" none */
	uint64_t mem_kib;                  /* > 0 */
	char group[MIGR_PLAN_NAME_MAX];    /* anti-affinity group; "" none */
	bool pinned;                       /* not migratable */
	char why_pinned[MIGR_PLAN_REASON_MAX]; /* read only when pinned */
};

enum migr_fleet_order {
	MIGR_FLEET_ORDER_DOMAINS = 0,      /* longest failure-domain chains first (default) */
	MIGR_FLEET_ORDER_QUEUE,            /* strictly as queued */
};

struct migr_fleet_params {
	unsigned int max_draining;         /* W, hosts draining at once; default 1 */
	enum migr_fleet_order order;       /* rule 1 */
	/* Placement (migr/plan.h). migr_fleet_params_init() takes migr_plan_params_init()'s
	 * defaults but fit = MIGR_PLAN_FIT_PACK: a rolling drain lives on whole hosts' room
	 * (the next drain needs a host's worth); spreading leaves holes no guest fits. */
	struct migr_plan_params plan;
};

void migr_fleet_params_init(struct migr_fleet_params *p);

enum migr_fleet_wait {
	MIGR_FLEET_WAIT_WINDOW = 1,        /* max_draining hosts drain already */
	MIGR_FLEET_WAIT_GROUP,             /* a host of its failure domain is out */
	MIGR_FLEET_WAIT_INBOUND,           /* guests are still coming to it */
	MIGR_FLEET_WAIT_PINNED,            /* it runs a guest that cannot move */
	MIGR_FLEET_WAIT_ROOM,              /* some guest fits nowhere now */
};
#define MIGR_FLEET_WAIT_COUNT (MIGR_FLEET_WAIT_ROOM + 1)

/* A guest's place: guest and from/to are indexes into the arrays given. */
struct migr_fleet_move {
	unsigned int guest;
	unsigned int from;
	unsigned int to;
};

struct migr_fleet_held {
	unsigned int host;                 /* index into the hosts given */
	enum migr_fleet_wait why;
	char reason[MIGR_PLAN_REASON_MAX];
};

/* A guest of a draining host that could not be placed (it stays; the drain is stuck). */
struct migr_fleet_stuck {
	unsigned int guest;
	char reason[MIGR_PLAN_REASON_MAX];
};

struct migr_fleet_decision {
	unsigned int nstart;
	unsigned int *start;               /* hosts to drain now, in queue order */
	unsigned int nmoves;
	struct migr_fleet_move *moves;     /* every guest of the hosts started, and the
	                                      unplaced guests of hosts draining already */
	unsigned int nheld;
	struct migr_fleet_held *held;      /* every queued host not started, in the order
	                                      of the walk (rule 1) */
	unsigned int nstuck;
	struct migr_fleet_stuck *stuck;
	unsigned int plans;                /* migr_plan_make() calls made (cost figures) */
};

/*
 * migr_fleet_decide: which queued hosts start draining now, and where their guests go.
 * queue holds host names in drain order. Returns 0 with a decision (possibly starting
 * nothing: see held), -EINVAL for hostile or inconsistent input with the first problem
 * found written to err (duplicate or unknown names, sizes that overflow or exceed a
 * host, a guest on a host in maintenance, a guest going to its own host or to a host
 * out of service, a queued host not in service, max_draining 0, counts over the
 * limits), -ENOMEM.
 */
int migr_fleet_decide(const struct migr_fleet_host *hosts, unsigned int nhosts,
		      const struct migr_fleet_guest *guests, unsigned int nguests,
		      const char *const *queue, unsigned int nqueue,
		      const struct migr_fleet_params *params,
		      struct migr_fleet_decision **d_r, char *err, size_t errlen);

void migr_fleet_decision_free(struct migr_fleet_decision *d);

const char *migr_fleet_wait_name(enum migr_fleet_wait w);
const char *migr_fleet_state_name(enum migr_fleet_state s);

#endif /* MIGR_FLEET_H */

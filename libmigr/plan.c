/*
 * plan.c: the evacuation planner (rules in migr/plan.h).
 *
 * Entry points: migr_plan_params_init(), migr_plan_make(), migr_plan_free(),
 * migr_plan_auto_parallel(), migr_plan_verdict_name(). Guests x targets x (guests of one
 * group + held groups) at worst, which is nothing next to one migration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"

void migr_plan_params_init(struct migr_plan_params *p)
{
	memset(p, 0, sizeof(*p));
	p->threshold_pct = 90;
	p->reserve_kib = 0;
	p->overhead_kib = 2048;
}

const char *migr_plan_verdict_name(enum migr_plan_verdict v)
{
	switch (v) {
	case MIGR_PLAN_PLACED:      return "placed";
	case MIGR_PLAN_PINNED:      return "pinned";
	case MIGR_PLAN_UNPLACEABLE: return "unplaceable";
	}
	return "?";
}

void migr_plan_free(struct migr_plan *p)
{
	if (!p)
		return;
	free(p->entries);
	free(p->assigned_kib);
	free(p);
}

unsigned int migr_plan_auto_parallel(uint64_t link_bps, unsigned int dom0_cpus,
				     unsigned int placed)
{
	unsigned int n;

	if (link_bps == 0)
		link_bps = 1000000000ull;
	if (link_bps < 1000000000ull)
		n = 2;
	else if (link_bps < 10000000000ull)
		n = 4;
	else
		n = 8;
	if (dom0_cpus && n > dom0_cpus)
		n = dom0_cpus;
	if (placed && n > placed)
		n = placed;
	return n ? n : 1;
}

/* Sorting indexes by guest memory, with name then domid breaking ties (a stable plan). */
static int cmp_mem(const struct migr_plan_guest *guests, unsigned a, unsigned b)
{
	const struct migr_plan_guest *ga = &guests[a], *gb = &guests[b];
	int c;

	if (ga->mem_kib != gb->mem_kib)
		return ga->mem_kib < gb->mem_kib ? -1 : 1;
	if ((c = strcmp(ga->name, gb->name)))
		return c;
	return ga->domid < gb->domid ? -1 : ga->domid > gb->domid;
}

static int cmp_desc(const void *a, const void *b, void *g)
{
	return -cmp_mem(g, *(const unsigned *)a, *(const unsigned *)b);
}

static int cmp_asc_entry(const void *a, const void *b, void *g)
{
	return cmp_mem(g, ((const struct migr_plan_entry *)a)->guest,
		       ((const struct migr_plan_entry *)b)->guest);
}

static int cmp_desc_entry(const void *a, const void *b, void *g)
{
	return -cmp_asc_entry(a, b, g);
}

struct tstate {
	uint64_t free_kib;     /* left after what the plan placed */
	uint64_t reserve_kib;
	unsigned threshold;
	bool usable;
};

/* Whether target t already has a guest of guest i's group: placed by this plan (walking
 * the guests of that group through same_next) or held before it (held_groups). */
static int group_on_target(const struct migr_plan_guest *guests,
			   const struct migr_plan_target *tg, const int *target_of,
			   const int *same_first, const int *same_next, unsigned i, int t)
{
	const char *group = guests[i].group;

	if (!group[0])
		return 0;
	for (int j = same_first[i]; j >= 0; j = same_next[j])
		if (target_of[j] == t)
			return 1;
	for (unsigned k = 0; k < tg->nheld_groups; k++)
		if (!strncmp(tg->held_groups[k], group, MIGR_PLAN_NAME_MAX))
			return 1;
	return 0;
}

int migr_plan_make(const struct migr_plan_guest *guests, unsigned int ng,
		   const struct migr_plan_target *targets, unsigned int nt,
		   const struct migr_plan_params *params, struct migr_plan **plan_r)
{
	struct migr_plan_params defp;
	struct migr_plan *p = NULL;
	struct tstate *ts = NULL;
	unsigned *order = NULL;
	int *target_of = NULL;
	char (*reason)[MIGR_PLAN_REASON_MAX] = NULL;
	enum migr_plan_verdict *verdict = NULL;
	int *same_first = NULL, *same_next = NULL;
	int rc;

	if (ng > MIGR_PLAN_MAX_GUESTS || nt > MIGR_PLAN_MAX_TARGETS || (ng && !guests) ||
	    (nt && !targets))
		return -EINVAL;
	for (unsigned i = 0; i < ng; i++)
		for (unsigned j = i + 1; j < ng; j++)
			if (guests[i].domid == guests[j].domid)
				return -EINVAL;
	for (unsigned t = 0; t < nt; t++)
		if (targets[t].nheld_groups && !targets[t].held_groups)
			return -EINVAL;
	if (!params) {
		migr_plan_params_init(&defp);
		params = &defp;
	}
	p = calloc(1, sizeof(*p));
	ts = calloc(nt ? nt : 1, sizeof(*ts));
	order = calloc(ng ? ng : 1, sizeof(*order));
	target_of = calloc(ng ? ng : 1, sizeof(*target_of));
	reason = calloc(ng ? ng : 1, sizeof(*reason));
	verdict = calloc(ng ? ng : 1, sizeof(*verdict));
	same_first = calloc(ng ? ng : 1, sizeof(*same_first));
	same_next = calloc(ng ? ng : 1, sizeof(*same_next));
	if (!p || !ts || !order || !target_of || !reason || !verdict || !same_first ||
	    !same_next) {
		rc = -ENOMEM;
		goto out;
	}
	p->entries = calloc(ng ? ng : 1, sizeof(*p->entries));
	p->assigned_kib = calloc(nt ? nt : 1, sizeof(*p->assigned_kib));
	if (!p->entries || !p->assigned_kib) {
		rc = -ENOMEM;
		goto out;
	}
	p->n = ng;
	p->ntargets = nt;

	for (unsigned t = 0; t < nt; t++) {
		const struct migr_plan_target *tg = &targets[t];

		ts[t].free_kib = tg->free_kib;
		ts[t].reserve_kib = tg->reserve_kib ? tg->reserve_kib : params->reserve_kib;
		ts[t].threshold = tg->threshold_pct ? tg->threshold_pct : params->threshold_pct;
		if (ts[t].threshold > 100)
			ts[t].threshold = 100;
		ts[t].usable = tg->reachable && tg->cpu_util_pct <= ts[t].threshold;
		if (tg->total_kib && tg->free_kib > tg->total_kib)
			ts[t].free_kib = tg->total_kib;     /* nonsense from the target: cap */
	}

	/* Guests of one group in a list (same_first: its head, same_next: the next one). */
	for (unsigned i = 0; i < ng; i++) {
		order[i] = i;
		target_of[i] = -1;
		same_first[i] = -1;
		same_next[i] = -1;
		if (!guests[i].group[0])
			continue;
		for (unsigned j = 0; j < i; j++) {
			if (same_first[j] >= 0 && !strncmp(guests[j].group, guests[i].group,
							   MIGR_PLAN_NAME_MAX)) {
				int k = same_first[j];

				same_first[i] = k;
				while (same_next[k] >= 0)
					k = same_next[k];
				same_next[k] = (int)i;
				break;
			}
		}
		if (same_first[i] < 0)
			same_first[i] = (int)i;
	}
	qsort_r(order, ng, sizeof(*order), cmp_desc, (void *)guests);

	for (unsigned k = 0; k < ng; k++) {
		unsigned i = order[k];
		const struct migr_plan_guest *g = &guests[i];
		uint64_t need = g->mem_kib + params->overhead_kib;
		int best = -1, any_usable = 0, mem_ok = 0, aa_block = 0;
		uint64_t best_left = 0, largest_free = 0;

		if (!g->migratable) {
			verdict[i] = MIGR_PLAN_PINNED;
			snprintf(reason[i], sizeof(reason[i]), "not migratable: %.140s",
				 g->why_not[0] ? g->why_not : "no reason given");
			p->pinned++;
			continue;
		}
		if (need < g->mem_kib)
			need = UINT64_MAX;            /* overflow: fits nowhere */
		for (unsigned t = 0; t < nt; t++) {
			const struct migr_plan_target *tg = &targets[t];
			uint64_t avail, left;

			if (!ts[t].usable)
				continue;
			any_usable = 1;
			avail = ts[t].free_kib > ts[t].reserve_kib ?
				ts[t].free_kib - ts[t].reserve_kib : 0;
			if (avail > largest_free)
				largest_free = avail;
			if (need > avail || need == UINT64_MAX)
				continue;
			left = ts[t].free_kib - need;
			if (tg->total_kib) {
				/* utilisation after = (total - left) / total <= threshold */
				uint64_t used = tg->total_kib - (left < tg->total_kib ? left : tg->total_kib);

				if (used * 100 > (uint64_t)ts[t].threshold * tg->total_kib)
					continue;
			}
			mem_ok = 1;
			if (group_on_target(guests, tg, target_of, same_first, same_next, i, t)) {
				aa_block = 1;
				continue;
			}
			if (best < 0 || (params->fit == MIGR_PLAN_FIT_PACK ? left < best_left :
					 left > best_left)) {
				best = t;
				best_left = left;
			}
		}
		if (best >= 0) {
			target_of[i] = best;
			ts[best].free_kib -= need;
			p->assigned_kib[best] += need;
			verdict[i] = MIGR_PLAN_PLACED;
			p->placed++;
			continue;
		}
		verdict[i] = MIGR_PLAN_UNPLACEABLE;
		p->unplaceable++;
		if (nt == 0)
			snprintf(reason[i], sizeof(reason[i]), "no target host given");
		else if (!any_usable)
			snprintf(reason[i], sizeof(reason[i]), "no target usable: %.40s: %.90s",
				 targets[0].name, !targets[0].reachable ?
				 (targets[0].why_unreachable[0] ? targets[0].why_unreachable :
				  "unreachable") : "above its utilisation threshold");
		else if (aa_block)
			snprintf(reason[i], sizeof(reason[i]),
				 "anti-affinity: every target with room holds or receives a guest of "
				 "group '%.60s'", g->group);
		else if (!mem_ok && need <= largest_free)
			snprintf(reason[i], sizeof(reason[i]),
				 "needs %llu MiB: every target would exceed its utilisation threshold",
				 (unsigned long long)((g->mem_kib + 1023) / 1024));
		else
			snprintf(reason[i], sizeof(reason[i]),
				 "needs %llu MiB, the most any target has left is %llu MiB",
				 (unsigned long long)((need + 1023) / 1024),
				 (unsigned long long)(largest_free / 1024));
	}

	for (unsigned i = 0; i < ng; i++) {
		struct migr_plan_entry *e = &p->entries[i];

		e->guest = i;
		e->target = target_of[i];
		e->verdict = verdict[i];
		memcpy(e->reason, reason[i], sizeof(e->reason));
	}
	if (params->order == MIGR_PLAN_ORDER_LARGEST) {
		qsort_r(p->entries, ng, sizeof(*p->entries), cmp_desc_entry, (void *)guests);
		snprintf(p->order_why, sizeof(p->order_why), "largest first: streams run side by "
			 "side, the longest start first and the rest fill in behind");
	} else {
		qsort_r(p->entries, ng, sizeof(*p->entries), cmp_asc_entry, (void *)guests);
		snprintf(p->order_why, sizeof(p->order_why), "smallest first: one stream at a "
			 "time, so the order does not change the makespan; most guests leave soonest");
	}
	*plan_r = p;
	p = NULL;
	rc = 0;
out:
	migr_plan_free(p);
	free(ts);
	free(order);
	free(target_of);
	free(reason);
	free(verdict);
	free(same_first);
	free(same_next);
	return rc;
}

/*
 * fleet.c: the scheduling core of a rolling drain (rules in migr/fleet.h, docs/fleet.md).
 *
 * Entry points: migr_fleet_params_init(), migr_fleet_decide(), migr_fleet_decision_free(),
 * migr_fleet_wait_name(), migr_fleet_state_name(). Placement is migr_plan_make()'s (plan.c):
 * this file only chooses which hosts may drain, which hosts are targets, and what each
 * target already holds (its free memory and its guests' groups).
 *
 * One call: check and index the input (hash tables of names), then place the unplaced
 * guests of hosts already draining, then walk the queue. Cost per call: linear in hosts
 * and guests, plus one or two migr_plan_make() calls per queued host that passes the
 * cheap checks (window, failure domain, inbound, pins, total room).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"

void migr_fleet_params_init(struct migr_fleet_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_draining = 1;
	p->order = MIGR_FLEET_ORDER_DOMAINS;
	migr_plan_params_init(&p->plan);
	p->plan.fit = MIGR_PLAN_FIT_PACK;
}

const char *migr_fleet_wait_name(enum migr_fleet_wait w)
{
	switch (w) {
	case MIGR_FLEET_WAIT_WINDOW:  return "window";
	case MIGR_FLEET_WAIT_GROUP:   return "group";
	case MIGR_FLEET_WAIT_INBOUND: return "inbound";
	case MIGR_FLEET_WAIT_PINNED:  return "pinned";
	case MIGR_FLEET_WAIT_ROOM:    return "room";
	}
	return "?";
}

const char *migr_fleet_state_name(enum migr_fleet_state s)
{
	switch (s) {
	case MIGR_FLEET_IN_SERVICE:  return "in-service";
	case MIGR_FLEET_DRAINING:    return "draining";
	case MIGR_FLEET_MAINTENANCE: return "maintenance";
	}
	return "?";
}

void migr_fleet_decision_free(struct migr_fleet_decision *d)
{
	if (!d)
		return;
	free(d->start);
	free(d->moves);
	free(d->held);
	free(d->stuck);
	free(d);
}

/* ---- a table of names (open addressing, FNV-1a); keys point into the caller's input -- */

struct names {
	const char **key;
	unsigned *val;
	unsigned mask;
	unsigned n;
};

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static int names_init(struct names *t, unsigned n)
{
	unsigned size = 16;

	while (size < 2 * n)
		size *= 2;
	t->key = calloc(size, sizeof(*t->key));
	t->val = calloc(size, sizeof(*t->val));
	t->mask = size - 1;
	t->n = 0;
	return t->key && t->val ? 0 : -ENOMEM;
}

static void names_fini(struct names *t)
{
	free(t->key);
	free(t->val);
}

/* The value of s, or -1. */
static int names_get(const struct names *t, const char *s)
{
	for (uint32_t i = name_hash(s) & t->mask; t->key[i]; i = (i + 1) & t->mask)
		if (!strcmp(t->key[i], s))
			return (int)t->val[i];
	return -1;
}

/* Adds s with value v; returns v, or the value s already had. Never full: sized 2n. */
static unsigned names_add(struct names *t, const char *s, unsigned v)
{
	uint32_t i;

	for (i = name_hash(s) & t->mask; t->key[i]; i = (i + 1) & t->mask)
		if (!strcmp(t->key[i], s))
			return t->val[i];
	t->key[i] = s;
	t->val[i] = v;
	t->n++;
	return v;
}

/* ---- the working state of one call ------------------------------------------------ */

struct idlist {
	int *id;
	unsigned n, cap;
};

struct ctx {
	const struct migr_fleet_host *hosts;
	const struct migr_fleet_guest *guests;
	unsigned nh, ng;
	const struct migr_fleet_params *params;
	struct names hostix, guestix, groupix, domainix;
	int *ghost, *gto, *ggroup;         /* per guest: host, target (-1), group id (-1 none,
	                                      -2 not looked up yet: see gid()) */
	unsigned *gnext, *hfirst, *htail;  /* guests of each host: hfirst[h], gnext[g]; ~0u ends */
	enum migr_fleet_state *st;         /* per host, as this decision leaves it */
	uint64_t *freek;                   /* per host, net of this decision's claims */
	unsigned *inbound;                 /* per host: guests on their way to it */
	bool *queued;                      /* in the queue and not started */
	int *domain;                       /* per host: failure domain id (-1 none) */
	bool *domain_busy;                 /* per domain: a host out */
	struct idlist *held;               /* per host: group ids of guests on or coming to it */
	unsigned draining;
	unsigned *cand, ncand;
	bool *iscand;             /* hosts in service with room for the smallest guest
	                                      at the start (room only shrinks in a decision) */
	/* scratch of one placement */
	unsigned *stamp, stamp_now;        /* per group id: marked for the guests placed now */
	char (*heldpool)[MIGR_PLAN_NAME_MAX];
	unsigned heldcap;
	struct migr_plan_target *tg;
	unsigned *tmap;
	struct migr_plan_guest *pg;
	unsigned pgcap;
	unsigned plans;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int bad(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err && c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int idlist_add(struct idlist *l, int id)
{
	if (l->n == l->cap) {
		unsigned cap = l->cap ? 2 * l->cap : 8;
		int *p = realloc(l->id, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->id = p;
		l->cap = cap;
	}
	l->id[l->n++] = id;
	return 0;
}

/* Guest g's group id, looked up the first time it is needed: only the guests on hosts
 * that may receive, coming to them or being placed need one. */
static int gid(struct ctx *c, unsigned g)
{
	if (c->ggroup[g] == -2)
		c->ggroup[g] = (int)names_add(&c->groupix, c->guests[g].group, c->groupix.n);
	return c->ggroup[g];
}

/* A fixed-size name field must hold a NUL; non-empty when required. */
static bool name_ok(const char *s, size_t size, bool required)
{
	return memchr(s, 0, size) && (!required || s[0]);
}

static uint64_t avail_of(const struct ctx *c, unsigned h)
{
	uint64_t res = c->hosts[h].reserve_kib ? c->hosts[h].reserve_kib :
		       c->params->plan.reserve_kib;

	return c->freek[h] > res ? c->freek[h] - res : 0;
}

/* Checks the input and builds the indexes. */
static int load(struct ctx *c)
{
	const uint64_t ovh = c->params->plan.overhead_kib;
	uint64_t *used = NULL;
	int rc;

	if ((rc = names_init(&c->hostix, c->nh)) || (rc = names_init(&c->guestix, c->ng)) ||
	    (rc = names_init(&c->groupix, c->ng)) || (rc = names_init(&c->domainix, c->nh)))
		return rc;
	used = calloc(c->nh ? c->nh : 1, sizeof(*used));
	if (!used)
		return -ENOMEM;
	for (unsigned h = 0; h < c->nh; h++) {
		const struct migr_fleet_host *hh = &c->hosts[h];

		if (!name_ok(hh->name, sizeof(hh->name), true)) {
			rc = bad(c, "host %u: name empty or not terminated", h);
			goto out;
		}
		if (!name_ok(hh->group, sizeof(hh->group), false)) {
			rc = bad(c, "host %s: failure domain not terminated", hh->name);
			goto out;
		}
		if (names_add(&c->hostix, hh->name, h) != h) {
			rc = bad(c, "host %s given twice", hh->name);
			goto out;
		}
		if (!hh->total_kib || hh->free_kib > hh->total_kib) {
			rc = bad(c, "host %s: free %llu KiB of total %llu KiB", hh->name,
				 (unsigned long long)hh->free_kib,
				 (unsigned long long)hh->total_kib);
			goto out;
		}
		if (hh->state != MIGR_FLEET_IN_SERVICE && hh->state != MIGR_FLEET_DRAINING &&
		    hh->state != MIGR_FLEET_MAINTENANCE) {
			rc = bad(c, "host %s: unknown state %d", hh->name, (int)hh->state);
			goto out;
		}
		if (hh->threshold_pct > 100) {
			rc = bad(c, "host %s: threshold %u%% above 100", hh->name,
				 hh->threshold_pct);
			goto out;
		}
		c->st[h] = hh->state;
		c->freek[h] = hh->free_kib;
		c->hfirst[h] = ~0u;
		c->domain[h] = hh->group[0] ? (int)names_add(&c->domainix, hh->group,
							     c->domainix.n) : -1;
		if (hh->state == MIGR_FLEET_DRAINING)
			c->draining++;
		if (hh->state != MIGR_FLEET_IN_SERVICE && c->domain[h] >= 0)
			c->domain_busy[c->domain[h]] = true;
	}
	for (unsigned g = 0; g < c->ng; g++) {
		const struct migr_fleet_guest *gg = &c->guests[g];
		int h, t;

		if (!name_ok(gg->name, sizeof(gg->name), true) ||
		    !name_ok(gg->host, sizeof(gg->host), true) ||
		    !name_ok(gg->to, sizeof(gg->to), false) ||
		    !name_ok(gg->group, sizeof(gg->group), false) ||
		    (gg->pinned && !name_ok(gg->why_pinned, sizeof(gg->why_pinned), false))) {
			rc = bad(c, "guest %u: a name empty or not terminated", g);
			goto out;
		}
		if (names_add(&c->guestix, gg->name, g) != g) {
			rc = bad(c, "guest %s given twice", gg->name);
			goto out;
		}
		h = names_get(&c->hostix, gg->host);
		if (h < 0) {
			rc = bad(c, "guest %s: unknown host %s", gg->name, gg->host);
			goto out;
		}
		if (!gg->mem_kib || gg->mem_kib > UINT64_MAX - ovh ||
		    gg->mem_kib + ovh > c->hosts[h].total_kib - used[h]) {
			rc = bad(c, "guest %s: %llu KiB does not fit on host %s with the others",
				 gg->name, (unsigned long long)gg->mem_kib, gg->host);
			goto out;
		}
		used[h] += gg->mem_kib + ovh;
		if (c->st[h] == MIGR_FLEET_MAINTENANCE) {
			rc = bad(c, "guest %s runs on host %s, which is in maintenance", gg->name,
				 gg->host);
			goto out;
		}
		t = -1;
		if (gg->to[0]) {
			t = names_get(&c->hostix, gg->to);
			if (t < 0) {
				rc = bad(c, "guest %s: unknown target host %s", gg->name, gg->to);
				goto out;
			}
			if (t == h) {
				rc = bad(c, "guest %s: goes to its own host %s", gg->name, gg->to);
				goto out;
			}
			if (c->st[t] != MIGR_FLEET_IN_SERVICE) {
				rc = bad(c, "guest %s: goes to host %s, which is %s", gg->name,
					 gg->to, migr_fleet_state_name(c->st[t]));
				goto out;
			}
			if (gg->pinned) {
				rc = bad(c, "guest %s: pinned, yet going to %s", gg->name, gg->to);
				goto out;
			}
			c->inbound[t]++;
		}
		c->ghost[g] = h;
		c->gto[g] = t;
		c->gnext[g] = ~0u;                 /* appended: each host's guests in input order */
		if (c->hfirst[h] == ~0u)
			c->hfirst[h] = g;
		else
			c->gnext[c->htail[h]] = g;
		c->htail[h] = g;
		c->ggroup[g] = gg->group[0] ? -2 : -1;
	}
	for (unsigned h = 0; h < c->nh; h++)
		if (c->hosts[h].free_kib > c->hosts[h].total_kib - used[h]) {
			rc = bad(c, "host %s: free %llu KiB and its guests' %llu KiB exceed its "
				 "%llu KiB", c->hosts[h].name,
				 (unsigned long long)c->hosts[h].free_kib,
				 (unsigned long long)used[h],
				 (unsigned long long)c->hosts[h].total_kib);
			goto out;
		}
	rc = 0;
out:
	free(used);
	return rc;
}

/*
 * Places the guests idx[0..n) (all of host `self`) on the hosts in service, those not
 * queued first, by migr_plan_make(). to_r[k] gets the target host or -1 (the planner's
 * reason in why[k]); need_r[k] the memory the target must give. Nothing is claimed here:
 * see claim(), which the caller runs only if it takes the places.
 */
static int place(struct ctx *c, unsigned self, const unsigned *idx, unsigned n, int *to_r,
		 char (*why)[MIGR_PLAN_REASON_MAX], uint64_t *need_r)
{
	const uint64_t ovh = c->params->plan.overhead_kib;
	unsigned left = n, nheld, nt;
	uint64_t minneed = UINT64_MAX, most = 0;
	int rc = 0;

	for (unsigned k = 0; k < n; k++) {
		to_r[k] = -1;
		need_r[k] = c->guests[idx[k]].mem_kib + ovh;
		if (need_r[k] < minneed)
			minneed = need_r[k];
		why[k][0] = 0;
	}
	c->stamp_now++;
	for (unsigned k = 0; k < n; k++)
		if (gid(c, idx[k]) >= 0)
			c->stamp[c->ggroup[idx[k]]] = c->stamp_now;

	for (int tier = 0; tier < 2 && left; tier++) {
		struct migr_plan *p = NULL;
		unsigned *sub = c->tmap + c->nh;   /* plan guest -> k */
		unsigned np = 0;

		nt = 0;
		nheld = 0;
		for (unsigned ci = 0; ci < c->ncand; ci++) {
			unsigned h = c->cand[ci];
			struct migr_plan_target *t;
			const struct idlist *l = &c->held[h];
			unsigned first;

			if (h == self || c->st[h] != MIGR_FLEET_IN_SERVICE ||
			    c->queued[h] != (tier == 1))
				continue;
			if (avail_of(c, h) > most)
				most = avail_of(c, h);
			if (avail_of(c, h) < minneed)
				continue;       /* takes none of them: spare the planner the look */
			t = &c->tg[nt];
			memset(t, 0, sizeof(*t));
			memcpy(t->name, c->hosts[h].name, sizeof(t->name));
			t->reachable = true;
			t->total_kib = c->hosts[h].total_kib;
			t->free_kib = c->freek[h];
			t->threshold_pct = c->hosts[h].threshold_pct;
			t->reserve_kib = c->hosts[h].reserve_kib;
			first = nheld;
			for (unsigned j = 0; j < l->n && nheld < c->heldcap; j++) {
				int id = l->id[j];

				if (c->stamp[id] == c->stamp_now) {
					const struct migr_fleet_guest *any = NULL;

					/* the group's name: any guest of that id will do */
					for (unsigned k = 0; k < n && !any; k++)
						if (c->ggroup[idx[k]] == id)
							any = &c->guests[idx[k]];
					memcpy(c->heldpool[nheld++], any->group, MIGR_PLAN_NAME_MAX);
				}
			}
			if (nheld > first) {
				t->held_groups = (const char (*)[MIGR_PLAN_NAME_MAX])c->heldpool[first];
				t->nheld_groups = nheld - first;
			}
			c->tmap[nt++] = h;
		}
		if (!nt)
			continue;
		for (unsigned k = 0; k < n; k++) {
			const struct migr_fleet_guest *gg = &c->guests[idx[k]];
			struct migr_plan_guest *g = &c->pg[np];

			if (to_r[k] >= 0)
				continue;
			memset(g, 0, sizeof(*g));
			memcpy(g->name, gg->name, sizeof(g->name));
			g->domid = np;
			g->mem_kib = gg->mem_kib;
			g->vcpus = 1;
			memcpy(g->group, gg->group, sizeof(g->group));
			g->migratable = !gg->pinned;
			if (gg->pinned)
				snprintf(g->why_not, sizeof(g->why_not), "%.140s", gg->why_pinned);
			sub[np++] = k;
		}
		c->plans++;
		rc = migr_plan_make(c->pg, np, c->tg, nt, &c->params->plan, &p);
		if (rc)
			return rc;
		for (unsigned e = 0; e < p->n; e++) {
			const struct migr_plan_entry *en = &p->entries[e];
			unsigned k = sub[en->guest];

			if (en->verdict == MIGR_PLAN_PLACED) {
				to_r[k] = (int)c->tmap[en->target];
				left--;
			} else {
				memcpy(why[k], en->reason, sizeof(why[k]));
			}
		}
		migr_plan_free(p);
		/* Tier 1 need not see tier 0's places: the sets of targets are disjoint, so
		 * nothing placed in tier 0 changes a tier-1 target's free memory or groups. */
	}
	for (unsigned k = 0; k < n; k++)
		if (to_r[k] < 0 && !why[k][0] && most)
			snprintf(why[k], sizeof(why[k]), "needs %llu MiB, the most a host in "
				 "service has free is %llu MiB",
				 (unsigned long long)((need_r[k] + 1023) >> 10),
				 (unsigned long long)(most >> 10));
		else if (to_r[k] < 0 && !why[k][0])
			snprintf(why[k], sizeof(why[k]), "needs %llu MiB, no host in service has "
				 "room for the smallest guest",
				 (unsigned long long)((need_r[k] + 1023) >> 10));
	return 0;
}

/* Claims the places found: the targets' free memory drops, their groups and inbound grow. */
static int claim(struct ctx *c, const unsigned *idx, unsigned n, const int *to,
		 const uint64_t *need, uint64_t *pool, struct migr_fleet_decision *d)
{
	int rc;

	for (unsigned k = 0; k < n; k++) {
		unsigned g = idx[k], t = (unsigned)to[k];
		struct migr_fleet_move *m = &d->moves[d->nmoves++];
		uint64_t before = avail_of(c, t), drop;

		c->freek[t] = c->freek[t] > need[k] ? c->freek[t] - need[k] : 0;
		drop = before - avail_of(c, t);
		*pool -= drop < *pool ? drop : *pool;
		c->inbound[t]++;
		if (gid(c, g) >= 0 && (rc = idlist_add(&c->held[t], c->ggroup[g])))
			return rc;
		m->guest = g;
		m->from = (unsigned)c->ghost[g];
		m->to = t;
	}
	return 0;
}

struct walk {
	unsigned pos;                      /* in the queue */
	unsigned chain;                    /* hosts of its domain queued */
};

static int cmp_walk(const void *a, const void *b)
{
	const struct walk *x = a, *y = b;

	if (x->chain != y->chain)
		return x->chain > y->chain ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

int migr_fleet_decide(const struct migr_fleet_host *hosts, unsigned int nhosts,
		      const struct migr_fleet_guest *guests, unsigned int nguests,
		      const char *const *queue, unsigned int nqueue,
		      const struct migr_fleet_params *params,
		      struct migr_fleet_decision **d_r, char *err, size_t errlen)
{
	struct ctx c;
	struct migr_fleet_decision *d = NULL;
	unsigned *idx = NULL, *qhost = NULL;
	struct walk *walk = NULL;
	int *to = NULL;
	uint64_t *need = NULL, pool = 0;
	char (*why)[MIGR_PLAN_REASON_MAX] = NULL;
	unsigned maxper = 0, nstuckmax = 0;
	int rc;

	memset(&c, 0, sizeof(c));
	c.hosts = hosts;
	c.guests = guests;
	c.nh = nhosts;
	c.ng = nguests;
	c.params = params;
	c.err = err;
	c.errlen = errlen;
	if (err && errlen)
		err[0] = 0;
	if (!params || !d_r)
		return bad(&c, "no parameters or no place for the decision");
	if (nhosts > MIGR_FLEET_MAX_HOSTS || nguests > MIGR_FLEET_MAX_GUESTS ||
	    nqueue > MIGR_FLEET_MAX_HOSTS)
		return bad(&c, "%u hosts, %u guests, %u queued: over the limits (%u hosts, %u "
			   "guests)", nhosts, nguests, nqueue, MIGR_FLEET_MAX_HOSTS,
			   MIGR_FLEET_MAX_GUESTS);
	if ((nhosts && !hosts) || (nguests && !guests) || (nqueue && !queue))
		return bad(&c, "missing array");
	if (!params->max_draining)
		return bad(&c, "max_draining 0: no host could ever drain");
	if (params->plan.threshold_pct > 100)
		return bad(&c, "threshold %u%% above 100", params->plan.threshold_pct);

#define N1(x) ((x) ? (x) : 1)
	c.ghost = calloc(N1(nguests), sizeof(*c.ghost));
	c.gto = calloc(N1(nguests), sizeof(*c.gto));
	c.ggroup = calloc(N1(nguests), sizeof(*c.ggroup));
	c.gnext = calloc(N1(nguests), sizeof(*c.gnext));
	c.hfirst = calloc(N1(nhosts), sizeof(*c.hfirst));
	c.htail = calloc(N1(nhosts), sizeof(*c.htail));
	c.st = calloc(N1(nhosts), sizeof(*c.st));
	c.freek = calloc(N1(nhosts), sizeof(*c.freek));
	c.inbound = calloc(N1(nhosts), sizeof(*c.inbound));
	c.queued = calloc(N1(nhosts), sizeof(*c.queued));
	c.domain = calloc(N1(nhosts), sizeof(*c.domain));
	c.domain_busy = calloc(N1(nhosts), sizeof(*c.domain_busy));
	c.held = calloc(N1(nhosts), sizeof(*c.held));
	c.stamp = calloc(N1(nguests), sizeof(*c.stamp));
	c.tg = malloc(N1(nhosts) * sizeof(*c.tg));     /* each entry set when used */
	c.cand = calloc(N1(nhosts), sizeof(*c.cand));
	c.iscand = calloc(N1(nhosts), sizeof(*c.iscand));
	c.tmap = calloc(N1(nhosts) + N1(nguests), sizeof(*c.tmap));
	qhost = calloc(N1(nqueue), sizeof(*qhost));
	walk = calloc(N1(nqueue), sizeof(*walk));
	d = calloc(1, sizeof(*d));
	if (!c.ghost || !c.gto || !c.ggroup || !c.gnext || !c.hfirst || !c.htail || !c.st || !c.freek ||
	    !c.inbound || !c.queued || !c.domain || !c.domain_busy || !c.held || !c.stamp ||
	    !c.tg || !c.cand || !c.iscand || !c.tmap || !qhost || !walk || !d) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = load(&c)))
		goto out;

	/* The queue: known hosts, each once, all in service. */
	for (unsigned q = 0; q < nqueue; q++) {
		int h = queue[q] && memchr(queue[q], 0, MIGR_PLAN_HOST_MAX) ?
			names_get(&c.hostix, queue[q]) : -1;

		if (h < 0) {
			rc = bad(&c, "queue entry %u: unknown host %.64s", q,
				 queue[q] && memchr(queue[q], 0, MIGR_PLAN_HOST_MAX) ? queue[q] : "?");
			goto out;
		}
		if (c.queued[h]) {
			rc = bad(&c, "host %s queued twice", queue[q]);
			goto out;
		}
		if (c.st[h] != MIGR_FLEET_IN_SERVICE) {
			rc = bad(&c, "host %s queued but %s", queue[q], migr_fleet_state_name(c.st[h]));
			goto out;
		}
		c.queued[h] = true;
		qhost[q] = (unsigned)h;
	}

	/* Scratch sized for the host with the most guests. */
	for (unsigned h = 0; h < nhosts; h++) {
		unsigned k = 0;

		for (unsigned g = c.hfirst[h]; g != ~0u; g = c.gnext[g]) {
			k++;
			nstuckmax += c.st[h] == MIGR_FLEET_DRAINING && c.gto[g] < 0;
		}
		if (k > maxper)
			maxper = k;
	}
	c.heldcap = 2 * nguests + 1;
	c.heldpool = malloc(c.heldcap * sizeof(*c.heldpool));
	c.pg = calloc(N1(maxper), sizeof(*c.pg));
	idx = calloc(N1(maxper), sizeof(*idx));
	to = calloc(N1(maxper), sizeof(*to));
	need = calloc(N1(maxper), sizeof(*need));
	why = calloc(N1(maxper), sizeof(*why));
	d->start = calloc(N1(nqueue), sizeof(*d->start));
	d->held = calloc(N1(nqueue), sizeof(*d->held));
	d->moves = calloc(N1(nguests), sizeof(*d->moves));
	d->stuck = calloc(N1(nstuckmax), sizeof(*d->stuck));
	if (!c.heldpool || !c.pg || !idx || !to || !need || !why || !d->start || !d->held ||
	    !d->moves || !d->stuck) {
		rc = -ENOMEM;
		goto out;
	}

	/* The room left in service: an upper bound on what any host could place. */
	for (unsigned h = 0; h < nhosts; h++)
		if (c.st[h] == MIGR_FLEET_IN_SERVICE)
			pool += avail_of(&c, h);

	/* The hosts that may take anything at all. */
	{
		uint64_t minneed = UINT64_MAX;

		for (unsigned g = 0; g < nguests; g++)
			if (guests[g].mem_kib + params->plan.overhead_kib < minneed)
				minneed = guests[g].mem_kib + params->plan.overhead_kib;
		for (unsigned h = 0; h < nhosts; h++)
			if (c.st[h] == MIGR_FLEET_IN_SERVICE && avail_of(&c, h) >= minneed) {
				c.cand[c.ncand++] = h;
				c.iscand[h] = true;
			}
		/* what the candidates hold or receive, by group (rule 6's anti-affinity) */
		for (unsigned g = 0; g < nguests; g++) {
			int h = c.ghost[g], t = c.gto[g];

			if (c.ggroup[g] == -1)
				continue;
			if ((c.iscand[h] && (rc = idlist_add(&c.held[h], gid(&c, g)))) ||
			    (t >= 0 && c.iscand[t] && (rc = idlist_add(&c.held[t], gid(&c, g)))))
				goto out;
		}
	}

	/* Guests of hosts draining already that have no place yet. */
	for (unsigned h = 0; h < nhosts; h++) {
		unsigned n = 0, nok = 0;

		if (c.st[h] != MIGR_FLEET_DRAINING)
			continue;
		for (unsigned g = c.hfirst[h]; g != ~0u; g = c.gnext[g])
			if (c.gto[g] < 0)
				idx[n++] = g;
		if (!n)
			continue;
		if ((rc = place(&c, h, idx, n, to, why, need)))
			goto out;
		for (unsigned k = 0; k < n; k++) {
			if (to[k] >= 0) {
				idx[nok] = idx[k];
				to[nok] = to[k];
				need[nok++] = need[k];
			} else {
				struct migr_fleet_stuck *s = &d->stuck[d->nstuck++];

				s->guest = idx[k];
				memcpy(s->reason, why[k], sizeof(s->reason));
			}
		}
		if ((rc = claim(&c, idx, nok, to, need, &pool, d)))
			goto out;
	}

	/* The walk: in queue order, or the hosts of the failure domains with the most hosts
	 * queued first (queue order breaks ties). One host of a domain is out at a time, so
	 * a domain's queued hosts are a chain; starting the longest chains first keeps every
	 * domain busy to the end instead of leaving the last domains to finish alone. */
	if (params->order == MIGR_FLEET_ORDER_DOMAINS) {
		unsigned *left = calloc(N1(nhosts), sizeof(*left));

		if (!left) {
			rc = -ENOMEM;
			goto out;
		}
		for (unsigned q = 0; q < nqueue; q++)
			if (c.domain[qhost[q]] >= 0)
				left[c.domain[qhost[q]]]++;
		for (unsigned q = 0; q < nqueue; q++)
			walk[q] = (struct walk){ q, c.domain[qhost[q]] >= 0 ?
						    left[c.domain[qhost[q]]] : 1 };
		free(left);
		qsort(walk, nqueue, sizeof(*walk), cmp_walk);
	} else {
		for (unsigned q = 0; q < nqueue; q++)
			walk[q] = (struct walk){ q, 0 };
	}

	for (unsigned w = 0; w < nqueue; w++) {
		unsigned q = walk[w].pos, h = qhost[q], n = 0;
		struct migr_fleet_held *hd = &d->held[d->nheld];
		int pinned = -1;
		uint64_t sum = 0, self_avail = avail_of(&c, h);
		bool ok = true;

		hd->host = h;
		if (c.draining >= params->max_draining) {
			hd->why = MIGR_FLEET_WAIT_WINDOW;
			snprintf(hd->reason, sizeof(hd->reason), "%u hosts draining already, the "
				 "most at once", c.draining);
			d->nheld++;
			continue;
		}
		if (c.domain[h] >= 0 && c.domain_busy[c.domain[h]]) {
			hd->why = MIGR_FLEET_WAIT_GROUP;
			snprintf(hd->reason, sizeof(hd->reason), "a host of failure domain %.64s "
				 "is out", hosts[h].group);
			d->nheld++;
			continue;
		}
		if (c.inbound[h]) {
			hd->why = MIGR_FLEET_WAIT_INBOUND;
			snprintf(hd->reason, sizeof(hd->reason), "%u guests still coming to it",
				 c.inbound[h]);
			d->nheld++;
			continue;
		}
		for (unsigned g = c.hfirst[h]; g != ~0u; g = c.gnext[g]) {
			if (c.gto[g] >= 0)
				continue;       /* a migration already placed and under way */
			if (guests[g].pinned && pinned < 0)
				pinned = (int)g;
			sum += guests[g].mem_kib + params->plan.overhead_kib;
			idx[n++] = g;
		}
		if (pinned >= 0) {
			hd->why = MIGR_FLEET_WAIT_PINNED;
			snprintf(hd->reason, sizeof(hd->reason), "guest %.63s is pinned: %.70s",
				 guests[pinned].name, guests[pinned].why_pinned[0] ?
				 guests[pinned].why_pinned : "not migratable");
			d->nheld++;
			continue;
		}
		if (sum > pool - (self_avail < pool ? self_avail : pool)) {
			hd->why = MIGR_FLEET_WAIT_ROOM;
			snprintf(hd->reason, sizeof(hd->reason), "needs %llu MiB, the hosts in "
				 "service have %llu MiB free in all",
				 (unsigned long long)(sum >> 10),
				 (unsigned long long)((pool - (self_avail < pool ? self_avail :
							       pool)) >> 10));
			d->nheld++;
			continue;
		}
		if (n && (rc = place(&c, h, idx, n, to, why, need)))
			goto out;
		for (unsigned k = 0; k < n && ok; k++)
			if (to[k] < 0) {
				ok = false;
				hd->why = MIGR_FLEET_WAIT_ROOM;
				snprintf(hd->reason, sizeof(hd->reason), "guest %.40s: %.110s",
					 guests[idx[k]].name, why[k]);
			}
		if (!ok) {
			d->nheld++;
			continue;
		}
		/* Start: the host leaves service (its own room with it), its places are claimed. */
		pool -= self_avail < pool ? self_avail : pool;
		if ((rc = claim(&c, idx, n, to, need, &pool, d)))
			goto out;
		c.st[h] = MIGR_FLEET_DRAINING;
		c.queued[h] = false;
		c.draining++;
		if (c.domain[h] >= 0)
			c.domain_busy[c.domain[h]] = true;
		d->start[d->nstart++] = h;
	}
#undef N1
	d->plans = c.plans;
	*d_r = d;
	d = NULL;
	rc = 0;
out:
	migr_fleet_decision_free(d);
	names_fini(&c.hostix);
	names_fini(&c.guestix);
	names_fini(&c.groupix);
	names_fini(&c.domainix);
	if (c.held)
		for (unsigned h = 0; h < nhosts; h++)
			free(c.held[h].id);
	free(c.held);
	free(c.ghost);
	free(c.gto);
	free(c.ggroup);
	free(c.gnext);
	free(c.hfirst);
	free(c.htail);
	free(c.st);
	free(c.freek);
	free(c.inbound);
	free(c.queued);
	free(c.domain);
	free(c.domain_busy);
	free(c.stamp);
	free(c.tg);
	free(c.cand);
	free(c.iscand);
	free(c.tmap);
	free(c.heldpool);
	free(c.pg);
	free(qhost);
	free(walk);
	free(idx);
	free(to);
	free(need);
	free(why);
	return rc;
}

/*
 * evac.c: the evacuation executor (migr/evac.h).
 *
 * Entry points: migr_evac_params_init(), migr_evac_new(), migr_evac_run(),
 * migr_evac_cancel(), migr_evac_guest_result(), migr_evac_summary(), migr_evac_free(),
 * migr_evac_report_progress(), migr_evac_retryable(), migr_evac_state_name().
 *
 * migr_evac_run() posts every placed guest's notice, then starts twice `parallel` worker
 * threads. A worker takes the first entry (execution order) that is queued, or retrying
 * and due, and whose group is under its cap; it waits out the guest's notice (first
 * attempt only), takes a slot of the window (below), runs the migration through the
 * migrate function and files the outcome. A migration gives its slot back at DONE (the
 * guest runs on the target), so the next guest's pre-flight and the start of its stream
 * overlap this one's network back and settle. Its sends wait meanwhile: the blackout
 * gate (migr_conn_blackout()) holds every other stream of the process from the suspend
 * request until the guest's network is back on the target (SETTLED), since in the nested
 * lab a pre-copy let in at DONE kept the guest before it from having its network back for
 * seconds (its netfront reconnects through the target dom0 the new stream kept busy).
 * Not earlier than DONE: next migrations' pre-flights let in at the end of the final send
 * stretched that blackout (the target's restore) from 1.5-4.4 s to 8 s in the lab.
 * Workers beyond the slots wait out notices. One mutex
 * guards the results; the report callback runs under it, so it sees a consistent state
 * and reports come one at a time. Cancel is a flag the workers poll (at most every 100 ms
 * while idle): queued and retrying entries become cancelled, a notice wait returns at once,
 * running migrations are left to the engine (it sees the flag through attempt->cancel).
 *
 * A target that answers busy (MIGR_REFUSE_BUSY: too many receptions, or the guest's
 * NAME--incoming copy from a backed-out attempt still being removed there) spends no
 * attempt: the guest is tried again after 2.5 retry delays (5 s by default), up to
 * BUSY_MAX_TRIES times; in
 * the nested lab a retry 2 s after a back-out found the target still destroying the copy,
 * and the guest's three attempts were gone in seconds.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "libmigr.h"

#define BUSY_MAX_TRIES 24           /* a busy target: two minutes at the default delay */

struct entry_state {
	uint64_t next_try_us;     /* RETRYING: not before */
	unsigned int busy_tries;  /* refusals as busy so far (they spend no attempt) */
	bool noticed;             /* notice begin() ran */
	bool notice_waited;
	bool taken;               /* a worker runs it (its notice, a slot, the migration) */
	bool streaming;           /* its stream moves bytes (final send not over) */
	bool slot_held;           /* it holds a slot of the window: until DONE, or its
	                             migration ends before that */
	bool moving;              /* its pre-copy began: the stream's clock runs from there */
	uint64_t stream_t0;
	uint64_t share_us;        /* integral of 1 / (streams at once) over its stream: its
	                             share of the link's time were the streams to share it */
	uint64_t held0_us, held_us; /* its progress's held_us when it began moving, and the
	                               last one (the gate counts per connection, all along) */
};

struct attempt_priv {
	struct migr_evac *ev;
	unsigned int entry;
};

struct migr_evac {
	const struct migr_plan *plan;
	const struct migr_plan_guest *guests;
	const struct migr_plan_target *targets;
	struct migr_evac_params p;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	volatile int cancel_flag;         /* set by migr_evac_cancel(); attempts and notice
	                                     waits see it through their cancel pointer */
	bool cancel_applied;
	unsigned int running;
	/* the stream window */
	unsigned int window, window_max;
	unsigned int slots;       /* held now (at most window) */
	unsigned int streams;     /* of them, moving bytes now: what the link is shared by */
	unsigned int ceiling;     /* the window's ceiling: `parallel`, lowered when more
	                             streams were found only to share the link */
	uint64_t tick_us;         /* when the streams' integrals were last brought up */
	uint64_t alone_bytes, alone_us;  /* every stream that ran alone, pooled: the bound's rate */
	unsigned int alone_n;
	/* every stream that ran beside others, pooled: its bytes times the streams beside it,
	 * the streams beside it times its time, its time (all x100 where said) */
	uint64_t pair_bytes_x100, pair_beside_us, pair_us;
	uint64_t first_stream_us; /* when the first stream began; 0: none yet */
	char window_why[MIGR_PLAN_REASON_MAX];
	struct migr_evac_guest_result *res;
	struct entry_state *st;
	struct timespec t0;
};

static const char *const state_names[MIGR_EVAC_STATE_COUNT] = {
	[MIGR_EVAC_QUEUED] = "queued", [MIGR_EVAC_NOTICE] = "notice",
	[MIGR_EVAC_MIGRATING] = "migrating", [MIGR_EVAC_RETRYING] = "retrying",
	[MIGR_EVAC_MOVED] = "moved", [MIGR_EVAC_FAILED] = "failed",
	[MIGR_EVAC_UNPLACEABLE] = "unplaceable", [MIGR_EVAC_PINNED] = "pinned",
	[MIGR_EVAC_CANCELLED] = "cancelled", [MIGR_EVAC_UNDECIDED] = "undecided",
	[MIGR_EVAC_GONE] = "gone",
};

const char *migr_evac_state_name(enum migr_evac_state s)
{
	return (unsigned)s < MIGR_EVAC_STATE_COUNT ? state_names[s] : "?";
}

bool migr_evac_state_final(enum migr_evac_state s)
{
	return s >= MIGR_EVAC_MOVED && s < MIGR_EVAC_STATE_COUNT;
}

bool migr_evac_retryable(int rc)
{
	switch (-rc) {
	case MIGR_E_ABORTED:
	case ETIMEDOUT:
	case ECONNREFUSED:
	case ECONNRESET:
	case ECONNABORTED:
	case EPIPE:
	case EIO:
	case EAGAIN:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENOMEM:
	case EBUSY:
		return true;
	}
	return false;
}

void migr_evac_params_init(struct migr_evac_params *p)
{
	memset(p, 0, sizeof(*p));
	p->parallel = 1;
	p->max_attempts = 3;
	p->retry_delay_ms = 2000;
}

static uint64_t now_us(const struct migr_evac *ev)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)(t.tv_sec - ev->t0.tv_sec) * 1000000u +
	       (uint64_t)((t.tv_nsec - ev->t0.tv_nsec) / 1000);
}

static void report(struct migr_evac *ev, int entry)
{
	if (ev->p.report)
		ev->p.report(ev->p.report_arg, ev, entry);
}

int migr_evac_new(const struct migr_plan *plan, const struct migr_plan_guest *guests,
		  const struct migr_plan_target *targets, const struct migr_evac_params *params,
		  struct migr_evac **ev_r)
{
	struct migr_evac *ev;

	if (!plan || !params || !params->migrate || (plan->n && !guests))
		return -EINVAL;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->res = calloc(plan->n ? plan->n : 1, sizeof(*ev->res));
	ev->st = calloc(plan->n ? plan->n : 1, sizeof(*ev->st));
	if (!ev->res || !ev->st) {
		free(ev->res);
		free(ev->st);
		free(ev);
		return -ENOMEM;
	}
	ev->plan = plan;
	ev->guests = guests;
	ev->targets = targets;
	ev->p = *params;
	if (!ev->p.parallel)
		ev->p.parallel = 1;
	if (ev->p.parallel > 64)
		ev->p.parallel = 64;
	ev->window = ev->p.window == MIGR_EVAC_WINDOW_MEASURED ? 1 : ev->p.parallel;
	ev->ceiling = ev->p.parallel;
	ev->window_max = ev->window;
	snprintf(ev->window_why, sizeof(ev->window_why), ev->p.window == MIGR_EVAC_WINDOW_MEASURED ?
		 "one stream first: it measures the link" : "fixed");
	if (!ev->p.max_attempts)
		ev->p.max_attempts = 3;
	pthread_mutex_init(&ev->mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&ev->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	for (unsigned i = 0; i < plan->n; i++) {
		const struct migr_plan_entry *e = &plan->entries[i];
		struct migr_evac_guest_result *r = &ev->res[i];

		r->guest = e->guest;
		r->target = e->target;
		r->last_rc = 0;
		switch (e->verdict) {
		case MIGR_PLAN_PLACED:
			r->state = MIGR_EVAC_QUEUED;
			break;
		case MIGR_PLAN_PINNED:
			r->state = MIGR_EVAC_PINNED;
			break;
		case MIGR_PLAN_UNPLACEABLE:
			r->state = MIGR_EVAC_UNPLACEABLE;
			break;
		}
		memcpy(r->reason, e->reason, sizeof(r->reason));
	}
	clock_gettime(CLOCK_MONOTONIC, &ev->t0);
	*ev_r = ev;
	return 0;
}

void migr_evac_free(struct migr_evac *ev)
{
	if (!ev)
		return;
	pthread_mutex_destroy(&ev->mu);
	pthread_cond_destroy(&ev->cv);
	free(ev->res);
	free(ev->st);
	free(ev);
}

void migr_evac_cancel(struct migr_evac *ev)
{
	if (ev)
		ev->cancel_flag = 1;
}

unsigned int migr_evac_count(const struct migr_evac *ev)
{
	return ev ? ev->plan->n : 0;
}

const struct migr_evac_guest_result *migr_evac_guest_result(const struct migr_evac *ev,
							    unsigned int i)
{
	return ev && i < ev->plan->n ? &ev->res[i] : NULL;
}

/* One stream's rate, pooled over every stream that ran alone; 0: none yet. */
static uint64_t alone_rate(const struct migr_evac *ev)
{
	return ev->alone_us ? ev->alone_bytes * 1000000u / ev->alone_us : 0;
}

/* What streams moved together, pooled over every stream that ran beside others; 0: none. */
static uint64_t together_rate(const struct migr_evac *ev)
{
	return ev->pair_us ? ev->pair_bytes_x100 / 100 * 1000000u / ev->pair_us : 0;
}

void migr_evac_summary(const struct migr_evac *ev, struct migr_evac_summary *s)
{
	memset(s, 0, sizeof(*s));
	if (!ev)
		return;
	s->total = ev->plan->n;
	for (unsigned i = 0; i < ev->plan->n; i++) {
		switch (ev->res[i].state) {
		case MIGR_EVAC_QUEUED:
		case MIGR_EVAC_RETRYING:
			s->queued++;
			break;
		case MIGR_EVAC_NOTICE:
		case MIGR_EVAC_MIGRATING:
			s->running++;
			break;
		case MIGR_EVAC_MOVED:       s->moved++; break;
		case MIGR_EVAC_FAILED:      s->failed++; break;
		case MIGR_EVAC_UNPLACEABLE: s->unplaceable++; break;
		case MIGR_EVAC_PINNED:      s->pinned++; break;
		case MIGR_EVAC_CANCELLED:   s->cancelled++; break;
		case MIGR_EVAC_UNDECIDED:   s->undecided++; break;
		case MIGR_EVAC_GONE:        s->gone++; break;
		case MIGR_EVAC_STATE_COUNT: break;
		}
	}
	s->cancel_requested = ev->cancel_flag != 0;
	s->elapsed_us = now_us(ev);
	s->window = ev->window;
	s->window_max = ev->window_max;
	s->stream_Bps = alone_rate(ev);
	memcpy(s->window_why, ev->window_why, sizeof(s->window_why));
	/* from the first stream (notice periods are not the link's) to the last end */
	{
		uint64_t last = 0;

		for (unsigned i = 0; i < ev->plan->n; i++) {
			const struct migr_evac_guest_result *r = &ev->res[i];

			if (r->started_us && r->finished_us > last)
				last = r->finished_us;
			if (r->state == MIGR_EVAC_MOVED)
				s->bytes += r->stream_bytes;
		}
		s->makespan_us = ev->first_stream_us && last > ev->first_stream_us ?
				 last - ev->first_stream_us : 0;
		/* the rate of one stream over all the time streams ran alone, not the last
		 * one's: a first guest unlike the rest, or a link that changed, does not make
		 * the bound */
		s->bound_streams = ev->alone_n;
		s->bound_Bps = alone_rate(ev);
		s->bound_us = s->bound_Bps ? s->bytes * 1000000u / s->bound_Bps : 0;
		/* the stricter bound: over the most the link was seen to carry, alone or
		 * streams together (when one stream does not fill the link, the bytes need
		 * less than bound_us) */
		s->link_Bps = together_rate(ev) > s->bound_Bps ? together_rate(ev) : s->bound_Bps;
		s->bound_link_us = s->link_Bps ? s->bytes * 1000000u / s->link_Bps : 0;
	}
}

/* ---- the stream window (migr_evac_params.window) ---- */

/* Called with mu held: brings every stream's integral of the streams at once up to now. */
static void streams_tick(struct migr_evac *ev)
{
	uint64_t now = now_us(ev), dt = now - ev->tick_us;

	for (unsigned i = 0; i < ev->plan->n; i++)
		if (ev->st[i].streaming)
			ev->st[i].share_us += dt / ev->streams;
	ev->tick_us = now;
}

static void stream_begin(struct migr_evac *ev, unsigned i)
{
	streams_tick(ev);
	ev->streams++;
	ev->slots++;
	ev->st[i].slot_held = true;
	ev->st[i].streaming = true;
	ev->st[i].stream_t0 = ev->tick_us;
	ev->st[i].moving = false;
	if (!ev->first_stream_us)
		ev->first_stream_us = ev->tick_us ? ev->tick_us : 1;
	ev->st[i].share_us = 0;
	ev->st[i].held0_us = ev->st[i].held_us = 0;
}

/*
 * What a finished stream says about the link, MEASURED only. Alone: one stream's rate,
 * pooled over every stream that ran alone (stream_end() added it). Beside others (a
 * quarter more streams than one, harmonic mean): its rate times that mean is what they
 * moved together if they shared the link; pooled over every such stream, set against the
 * pooled one-stream rate, it says whether more streams add to the link (the window grows
 * to the ceiling, `parallel`) or only share it (the window shrinks, and stays there until
 * the pooled figures say otherwise: a single stream's figures in a busy dom0 swing too
 * much to decide alone).
 */
static void window_learn(struct migr_evac *ev, uint64_t bytes, uint64_t us, uint64_t beside_x100)
{
	uint64_t rate = bytes * 1000000u / us, rate1 = alone_rate(ev), together, beside;
	unsigned int w = ev->window;

	if (beside_x100 < 105) {
		if (ev->window == 1 && ev->ceiling > 1) {
			w = 2;
			snprintf(ev->window_why, sizeof(ev->window_why), "one stream moved %.1f MiB/s; "
				 "trying two", rate / 1048576.0);
		}
		goto out;
	}
	if (beside_x100 < 125 || !rate1)
		goto out;   /* too little company to tell, or nothing alone to set it against */
	ev->pair_bytes_x100 += bytes * beside_x100;
	ev->pair_beside_us += beside_x100 * us;
	ev->pair_us += us;
	together = together_rate(ev);
	beside = ev->pair_beside_us / ev->pair_us;
	if (together * 10 >= rate1 * 12) {
		ev->ceiling = ev->p.parallel;
		w = ev->window < ev->ceiling ? ev->window + 1 : ev->window;
		snprintf(ev->window_why, sizeof(ev->window_why), "%.1f streams moved %.1f MiB/s "
			 "together, one alone %.1f MiB/s: they add", beside / 100.0,
			 together / 1048576.0, rate1 / 1048576.0);
	} else {
		w = ev->window > 1 ? ev->window - 1 : 1;
		ev->ceiling = w;
		snprintf(ev->window_why, sizeof(ev->window_why), "%.1f streams moved %.1f MiB/s "
			 "together, one alone %.1f MiB/s: they only share the link", beside / 100.0,
			 together / 1048576.0, rate1 / 1048576.0);
	}
out:
	ev->window = w;
	if (w > ev->window_max)
		ev->window_max = w;
}

/*
 * Called with mu held: entry i's stream ended (measured: its figures are the link's). It
 * keeps its slot until slot_free(). The time it held its sends for another guest's
 * blackout (the gate) is left out: it moved nothing then, and counted in, it made a link
 * whose streams add look like one they only share. It comes out of the share integral
 * too: a held stream mostly waits alone, the holder's stream being over (its final send
 * is the part of its blackout that still streams).
 */
static void stream_end(struct migr_evac *ev, unsigned i, uint64_t bytes, bool measured)
{
	struct entry_state *st = &ev->st[i];
	struct migr_evac_guest_result *r = &ev->res[i];
	uint64_t us, held, share;
	unsigned int beside;

	if (!st->streaming)
		return;
	streams_tick(ev);
	ev->streams--;
	st->streaming = false;
	us = ev->tick_us - st->stream_t0;
	held = st->moving && st->held_us > st->held0_us ? st->held_us - st->held0_us : 0;
	if (held > us)
		held = us;   /* the counter and the executor's clock are not the same */
	share = st->share_us > held ? st->share_us - held : 0;
	r->stream_us = us;
	r->stream_held_us = held;
	r->stream_bytes = bytes;
	us -= held;
	/* the harmonic mean of the streams at once: on a link they share, the stream's rate
	 * times it is the link's rate, whatever the company came and went; at least one
	 * (itself), at most the slots there were */
	beside = share ? (unsigned int)(us * 100 / share) : 100;
	if (beside < 100)
		beside = 100;
	if (beside > ev->p.parallel * 100)
		beside = ev->p.parallel * 100;
	r->streams_beside_x100 = beside;
	if (measured && us >= 1000 && bytes && beside < 105) {
		ev->alone_bytes += bytes;
		ev->alone_us += us;
		ev->alone_n++;
	}
	if (measured && us >= 1000 && bytes && ev->p.window == MIGR_EVAC_WINDOW_MEASURED)
		window_learn(ev, bytes, us, beside);
}

/* Called with mu held: entry i reached DONE, or its migration ended: the slot
 * stream_begin() gave it goes back (once). */
static void slot_free(struct migr_evac *ev, unsigned i)
{
	if (!ev->st[i].slot_held)
		return;
	ev->st[i].slot_held = false;
	ev->slots--;
	pthread_cond_broadcast(&ev->cv);
}

/* Called with mu held: a guest reached a final state. */
static void finish(struct migr_evac *ev, unsigned i, enum migr_evac_state st)
{
	struct migr_evac_guest_result *r = &ev->res[i];

	r->state = st;
	r->finished_us = now_us(ev);
	report(ev, (int)i);
	if (ev->st[i].noticed && ev->p.notice && ev->p.notice->end)
		ev->p.notice->end(ev->p.notice_arg, &ev->guests[r->guest], st);
}

/* Called with mu held: turns everything not started into cancelled, once. */
static void apply_cancel(struct migr_evac *ev)
{
	if (ev->cancel_applied)
		return;
	ev->cancel_applied = true;
	for (unsigned i = 0; i < ev->plan->n; i++) {
		struct migr_evac_guest_result *r = &ev->res[i];

		if (r->state == MIGR_EVAC_QUEUED || r->state == MIGR_EVAC_RETRYING) {
			if (r->state == MIGR_EVAC_RETRYING)
				snprintf(r->reason, sizeof(r->reason),
					 "cancelled after %u failed attempt(s); runs on the source",
					 r->attempts);
			else
				snprintf(r->reason, sizeof(r->reason),
					 "cancelled before it started; runs on the source");
			finish(ev, i, MIGR_EVAC_CANCELLED);
		}
	}
	pthread_cond_broadcast(&ev->cv);
}

static bool group_full(const struct migr_evac *ev, unsigned i)
{
	const char *grp = ev->guests[ev->res[i].guest].group;
	unsigned n = 0;

	if (!ev->p.group_cap || !grp[0])
		return false;
	for (unsigned k = 0; k < ev->plan->n; k++) {
		const struct migr_evac_guest_result *r = &ev->res[k];

		if ((r->state == MIGR_EVAC_NOTICE || r->state == MIGR_EVAC_MIGRATING) &&
		    !strcmp(ev->guests[r->guest].group, grp))
			n++;
	}
	return n >= ev->p.group_cap;
}

/*
 * Called with mu held. Returns the entry to run, or -1 with *wait_us set (0: nothing
 * left at all; the worker exits).
 */
static int pick(struct migr_evac *ev, uint64_t *wait_us)
{
	uint64_t now = now_us(ev), soonest = UINT64_MAX;
	bool pending = false;

	for (unsigned i = 0; i < ev->plan->n; i++) {
		struct migr_evac_guest_result *r = &ev->res[i];

		if (r->state == MIGR_EVAC_NOTICE || r->state == MIGR_EVAC_MIGRATING)
			pending = true;
		if (r->state != MIGR_EVAC_QUEUED && r->state != MIGR_EVAC_RETRYING)
			continue;
		pending = true;
		if (ev->st[i].taken)
			continue;
		if (r->state == MIGR_EVAC_RETRYING && ev->st[i].next_try_us > now) {
			if (ev->st[i].next_try_us < soonest)
				soonest = ev->st[i].next_try_us;
			continue;
		}
		if (group_full(ev, i))
			continue;
		if (ev->slots >= ev->window && !(ev->st[i].noticed && !ev->st[i].notice_waited))
			continue;   /* no slot, and no notice to wait out meanwhile */
		return (int)i;
	}
	if (!pending) {
		*wait_us = 0;
		return -1;
	}
	*wait_us = soonest == UINT64_MAX ? 100000 : soonest - now;
	if (*wait_us > 100000)
		*wait_us = 100000;
	if (*wait_us == 0)
		*wait_us = 1000;
	return -1;
}

void migr_evac_report_progress(struct migr_evac_attempt *a, const struct migr_evac_progress *p)
{
	struct attempt_priv *ap = a->priv;
	struct migr_evac *ev = ap->ev;

	pthread_mutex_lock(&ev->mu);
	ev->res[ap->entry].progress = *p;
	if (ev->st[ap->entry].streaming && !ev->st[ap->entry].moving &&
	    p->phase >= MIGR_PHASE_PRECOPY && p->phase <= MIGR_PHASE_DONE) {
		/* the link's part begins with the pre-copy, not with the pre-flight */
		streams_tick(ev);
		ev->st[ap->entry].moving = true;
		ev->st[ap->entry].stream_t0 = ev->tick_us;
		ev->st[ap->entry].share_us = 0;
		ev->st[ap->entry].held0_us = p->held_us;
	}
	if (ev->st[ap->entry].streaming)
		ev->st[ap->entry].held_us = p->held_us;
	if (p->phase >= MIGR_PHASE_WAIT_READY && p->phase <= MIGR_PHASE_DONE) {
		/* the link's figures in what it carried: stream bytes count zero pages and
		 * what compression saved, which never crossed it */
		stream_end(ev, ap->entry, p->wire_bytes ? p->wire_bytes : p->sent_bytes, true);
		if (p->phase == MIGR_PHASE_DONE)
			slot_free(ev, ap->entry);   /* it runs on the target: the next may begin */
	}
	report(ev, (int)ap->entry);
	pthread_mutex_unlock(&ev->mu);
}

/* Called with mu held; drops it while the notice wait and the migration run. */
static void run_entry(struct migr_evac *ev, unsigned i)
{
	struct migr_evac_guest_result *r = &ev->res[i];
	const struct migr_plan_guest *g = &ev->guests[r->guest];
	struct attempt_priv ap = { ev, i };
	struct migr_evac_attempt a;
	struct migr_evac_outcome out;
	int rc;

	ev->running++;
	ev->st[i].taken = true;
	if (!r->started_us)
		r->started_us = now_us(ev);
	if (!ev->st[i].notice_waited && ev->st[i].noticed && ev->p.notice &&
	    ev->p.notice->wait) {
		ev->st[i].notice_waited = true;
		r->state = MIGR_EVAC_NOTICE;
		report(ev, (int)i);
		pthread_mutex_unlock(&ev->mu);
		rc = ev->p.notice->wait(ev->p.notice_arg, g, &ev->cancel_flag);
		pthread_mutex_lock(&ev->mu);
		if (ev->cancel_flag)
			apply_cancel(ev);
		if (rc == -ECANCELED || ev->cancel_flag) {
			snprintf(r->reason, sizeof(r->reason),
				 "cancelled during its notice period; runs on the source");
			ev->running--;
			ev->st[i].taken = false;
			finish(ev, i, MIGR_EVAC_CANCELLED);
			return;
		}
		/* Any other notice failure: the migration is transparent, it goes ahead. */
		r->notice_end_us = now_us(ev);
	}
	while (ev->slots >= ev->window && !ev->cancel_flag) {
		struct timespec t;

		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_nsec += 100000000;
		if (t.tv_nsec >= 1000000000) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&ev->cv, &ev->mu, &t);
	}
	if (ev->cancel_flag) {
		apply_cancel(ev);   /* finishes it if it was queued */
		ev->running--;
		ev->st[i].taken = false;
		if (!migr_evac_state_final(r->state)) {
			snprintf(r->reason, sizeof(r->reason), "cancelled before it started; runs "
				 "on the source");
			finish(ev, i, MIGR_EVAC_CANCELLED);
		}
		return;
	}
	stream_begin(ev, i);
	r->state = MIGR_EVAC_MIGRATING;
	r->attempt_started_us = now_us(ev);
	r->attempts++;
	memset(&r->progress, 0, sizeof(r->progress));
	report(ev, (int)i);

	memset(&a, 0, sizeof(a));
	memset(&out, 0, sizeof(out));
	a.guest = g;
	a.target = &ev->targets[r->target];
	a.attempt = r->attempts;
	a.downtime_ms = ev->p.downtime_ms;
	a.cancel = &ev->cancel_flag;
	a.priv = &ap;
	pthread_mutex_unlock(&ev->mu);
	rc = ev->p.migrate(ev->p.migrate_arg, &a, &out);
	pthread_mutex_lock(&ev->mu);
	stream_end(ev, i, out.bytes, false);   /* still streaming: it never left its final send */
	slot_free(ev, i);
	ev->running--;
	ev->st[i].taken = false;
	r->last_rc = rc;
	r->outcome = out;
	if (ev->cancel_flag)
		apply_cancel(ev);
	if (rc == 0) {
		r->reason[0] = 0;
		finish(ev, i, MIGR_EVAC_MOVED);
	} else if (rc == -MIGR_E_UNDECIDED) {
		snprintf(r->reason, sizeof(r->reason), "outcome unknown (%.80s); run migr resolve %.40s",
			 out.reason[0] ? out.reason : migr_strerror(rc),
			 out.migration_id[0] ? out.migration_id : "ID");
		finish(ev, i, MIGR_EVAC_UNDECIDED);
	} else if (rc == -ENOENT) {
		snprintf(r->reason, sizeof(r->reason), "the guest no longer exists");
		finish(ev, i, MIGR_EVAC_GONE);
	} else {
		const char *why = out.reason[0] ? out.reason : migr_strerror(rc);

		if (out.refused == MIGR_REFUSE_BUSY && ev->st[i].busy_tries < BUSY_MAX_TRIES &&
		    !ev->cancel_flag) {
			ev->st[i].busy_tries++;
			r->attempts--;   /* nothing was tried: the target could not take it yet */
			ev->st[i].next_try_us = now_us(ev) + (uint64_t)ev->p.retry_delay_ms * 2500u;
			snprintf(r->reason, sizeof(r->reason), "target busy (%u of %u): %.120s",
				 ev->st[i].busy_tries, BUSY_MAX_TRIES, why);
			r->state = MIGR_EVAC_RETRYING;
			report(ev, (int)i);
		} else if (migr_evac_retryable(rc) && r->attempts < ev->p.max_attempts &&
		    !ev->cancel_flag) {
			uint64_t delay = (uint64_t)ev->p.retry_delay_ms * 1000u;

			for (unsigned k = 1; k < r->attempts && delay < 600000000u; k++)
				delay *= 2;
			ev->st[i].next_try_us = now_us(ev) + delay;
			snprintf(r->reason, sizeof(r->reason), "attempt %u failed: %.120s",
				 r->attempts, why);
			r->state = MIGR_EVAC_RETRYING;
			report(ev, (int)i);
		} else if (ev->cancel_flag && migr_evac_retryable(rc)) {
			snprintf(r->reason, sizeof(r->reason),
				 "cancelled after attempt %u failed (%.100s); runs on the source",
				 r->attempts, why);
			finish(ev, i, MIGR_EVAC_CANCELLED);
		} else {
			snprintf(r->reason, sizeof(r->reason), "%u attempt(s) failed, last: %.120s",
				 r->attempts, why);
			finish(ev, i, MIGR_EVAC_FAILED);
		}
	}
	pthread_cond_broadcast(&ev->cv);
}

static void *worker(void *arg)
{
	struct migr_evac *ev = arg;

	pthread_mutex_lock(&ev->mu);
	for (;;) {
		uint64_t wait_us;
		int i;

		if (ev->cancel_flag)
			apply_cancel(ev);
		i = pick(ev, &wait_us);
		if (i >= 0) {
			run_entry(ev, (unsigned)i);
			continue;
		}
		if (wait_us == 0)
			break;
		{
			struct timespec t;

			clock_gettime(CLOCK_MONOTONIC, &t);
			t.tv_sec += wait_us / 1000000u;
			t.tv_nsec += (long)(wait_us % 1000000u) * 1000;
			if (t.tv_nsec >= 1000000000) {
				t.tv_sec++;
				t.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&ev->cv, &ev->mu, &t);
		}
	}
	pthread_cond_broadcast(&ev->cv);
	pthread_mutex_unlock(&ev->mu);
	return NULL;
}

int migr_evac_run(struct migr_evac *ev)
{
	pthread_t th[128];
	unsigned started = 0, nthreads;
	int rc = 0;

	pthread_mutex_lock(&ev->mu);
	report(ev, -1);
	/* Every placed guest gets its notice now, so that the periods overlap. */
	for (unsigned i = 0; i < ev->plan->n && !ev->cancel_flag; i++) {
		struct migr_evac_guest_result *r = &ev->res[i];

		if (r->state != MIGR_EVAC_QUEUED || !ev->p.notice || !ev->p.notice->begin)
			continue;
		if (ev->p.notice->begin(ev->p.notice_arg, &ev->guests[r->guest],
					ev->p.notice_s) == 0)
			ev->st[i].noticed = true;
	}
	pthread_mutex_unlock(&ev->mu);

	nthreads = 2 * ev->p.parallel;   /* the others wait out notices meanwhile */
	if (nthreads > ev->plan->placed)
		nthreads = ev->plan->placed ? ev->plan->placed : 1;
	for (; started < nthreads; started++) {
		rc = -pthread_create(&th[started], NULL, worker, ev);
		if (rc)
			break;
	}
	if (started == 0) {
		/* Nothing can run: withdraw the notices. */
		pthread_mutex_lock(&ev->mu);
		for (unsigned i = 0; i < ev->plan->n; i++)
			if (ev->res[i].state == MIGR_EVAC_QUEUED) {
				snprintf(ev->res[i].reason, sizeof(ev->res[i].reason),
					 "could not start: %s", migr_strerror(rc));
				finish(ev, i, MIGR_EVAC_FAILED);
			}
		pthread_mutex_unlock(&ev->mu);
		return rc;
	}
	for (unsigned k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	pthread_mutex_lock(&ev->mu);
	if (ev->cancel_flag)
		apply_cancel(ev);
	report(ev, -1);
	rc = ev->cancel_flag ? -ECANCELED : 0;
	pthread_mutex_unlock(&ev->mu);
	return rc;
}

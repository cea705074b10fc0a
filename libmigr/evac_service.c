/*
 * evac_service.c: the evacuation service (migr/evac.h, "the evacuation service"), the core
 * that migrd and `migr evacuate` share.
 *
 * Entry points: migr_evacd_config_init(), migr_evacd_new(), migr_evacd_watch_event(),
 * migr_evacd_start(), migr_evacd_cancel(), migr_evacd_busy(), migr_evacd_wait(),
 * migr_evacd_status_json(), migr_evacd_free().
 *
 * One evacuation at a time runs on the service's thread: list guests, probe targets, plan,
 * publish the plan, post notices, run the executor (migr/evac.h), publish the end. The
 * xenstore nodes written here are those of xenstore-schema/migr.schema (host side and
 * guest notice); the request node is a mailbox: the service removes what it read.
 * Events go to cfg.event as JSON objects and, for each guest's end, to the event log.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xentoollog.h>
#include "libmigr.h"
#include "util.h"

#define ROOT      "/local/domain/0/migr"
#define EVAC      ROOT "/evacuation"
#define REQ_PATH  ROOT "/request"
#define TOK_REQ   "migr-request"
#define TOK_ACK   "migr-ack"
#define MAX_NOTICES 256
/* A guest may write its ack as fast as it likes: each write is a watch event. Past this
 * many a second, its events wake nobody (the waiter reads the node once a second anyway,
 * so a genuine ack is seen within a second); nodes it creates under ack are removed. */
#define ACK_EVENTS_PER_S 4

struct notice_slot {
	bool used;
	struct migr_notice n;
	unsigned int notice_s;
	uint64_t ack_window_ns;           /* start of the current one-second window */
	unsigned int ack_events;          /* events in it */
	bool flood_logged, children_logged;
};

struct migr_evacd {
	struct migr_xs *xs;
	const struct migr_schema *schema;
	struct migr_evacd_config cfg;
	pthread_mutex_t mu;               /* guards everything below and event emission */
	pthread_cond_t cv;                /* ack watches and cancel wake notice waits */
	pthread_t th;
	bool th_joinable;
	bool active;                      /* an evacuation (or dry run) is in progress */
	struct migr_evac *ev;             /* while the executor runs */
	volatile int cancel;
	/* the current evacuation */
	struct migr_evac_request req;
	bool dry_run;
	char id[65];
	struct migr_plan_guest *guests;
	unsigned int nguests;
	struct migr_plan_target *targets;
	unsigned int ntargets;
	struct migr_plan *plan;
	unsigned int parallel;
	struct migr_evac_summary last;
	char last_state[16];
	int64_t started;
	struct notice_slot notices[MAX_NOTICES];
	unsigned int seq;
	char *status;                     /* last end/status JSON */
	char report_svg[4200];            /* the current evacuation's pictures ("" none) */
	char report_index[4200];
};

/* ---- small helpers --------------------------------------------------------------- */

struct jb {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void jb_raw(struct jb *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 512) + n;
		char *p = realloc(b->buf, cap);

		if (!p) {
			b->oom = true;
			return;
		}
		b->buf = p;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = 0;
}

static void jb_printf(struct jb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jb_printf(struct jb *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		jb_raw(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A JSON string (escaped; bytes outside printable ASCII as \u00XX). */
static void jb_str(struct jb *b, const char *s)
{
	jb_raw(b, "\"", 1);
	for (; s && *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			jb_raw(b, e, 2);
		} else if (c < 0x20 || c > 0x7e) {
			jb_printf(b, "\\u%04x", c);
		} else {
			jb_raw(b, (const char *)&c, 1);
		}
	}
	jb_raw(b, "\"", 1);
}

static void jb_kstr(struct jb *b, const char *k, const char *v)
{
	jb_printf(b, ",\"%s\":", k);
	jb_str(b, v);
}

static void jb_kint(struct jb *b, const char *k, long long v)
{
	jb_printf(b, ",\"%s\":%lld", k, v);
}

static void logf_(struct migr_evacd *d, xentoollog_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void logf_(struct migr_evacd *d, xentoollog_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (!d->cfg.lg)
		return;
	va_start(ap, fmt);
	xtl_logv(d->cfg.lg, lvl, -1, "migr-evac", fmt, ap);
	va_end(ap);
}

static void xs_put(struct migr_evacd *d, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void xs_put(struct migr_evacd *d, const char *path, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	rc = d->xs->ops->write(d->xs, path, buf, n);
	if (rc)
		logf_(d, XTL_WARN, "writing %s: %s, ignoring", path, migr_strerror(rc));
}

/* Emits one event (mu held). */
static void emit(struct migr_evacd *d, struct jb *b)
{
	if (b->oom || !b->buf)
		return;
	if (d->cfg.event)
		d->cfg.event(d->cfg.event_arg, b->buf);
}

static void append_log(struct migr_evacd *d, const char *line)
{
	int fd;
	size_t n = strlen(line);

	if (!d->cfg.event_log || !d->cfg.event_log[0])
		return;
	fd = open(d->cfg.event_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		logf_(d, XTL_WARN, "event log %s: %s, ignoring", d->cfg.event_log,
		      migr_strerror(-errno));
		return;
	}
	/* One write per record, so that concurrent writers never interleave lines. */
	{
		char *rec = malloc(n + 2);

		if (rec) {
			memcpy(rec, line, n);
			rec[n] = '\n';
			if (write(fd, rec, n + 1) != (ssize_t)(n + 1))
				logf_(d, XTL_WARN, "event log %s: short write, ignoring",
				      d->cfg.event_log);
			free(rec);
		}
	}
	close(fd);
}

void migr_evacd_config_init(struct migr_evacd_config *c)
{
	memset(c, 0, sizeof(*c));
	c->host = "localhost";
	c->notice_s = 0;
	c->defer_max_s = 30;
	c->max_attempts = 3;
	c->retry_delay_ms = 2000;
	migr_plan_params_init(&c->plan);
}

/* ---- the guest notice (executor callbacks) ---------------------------------------- */

static struct notice_slot *slot_of(struct migr_evacd *d, uint32_t domid, bool create)
{
	struct notice_slot *free_slot = NULL;

	for (unsigned i = 0; i < MAX_NOTICES; i++) {
		if (d->notices[i].used && d->notices[i].n.domid == domid)
			return &d->notices[i];
		if (!d->notices[i].used && !free_slot)
			free_slot = &d->notices[i];
	}
	if (create && free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->used = true;
		free_slot->n.domid = domid;
		return free_slot;
	}
	return NULL;
}

static char *ack_path(char *buf, size_t len, uint32_t domid)
{
	snprintf(buf, len, "/local/domain/%u/migr/ack", domid);
	return buf;
}

static int notice_begin(void *arg, const struct migr_plan_guest *g, unsigned int notice_s)
{
	struct migr_evacd *d = arg;
	struct notice_slot *s;
	struct migr_notice n;
	char eid[64], ap[64];
	int rc;

	snprintf(eid, sizeof(eid), "%.40s-%u", d->id, g->domid);
	rc = migr_evac_notice_post(d->xs, g->domid, MIGR_NOTICE_MIGRATE, eid, time(NULL),
				   notice_s, d->cfg.defer_max_s, d->req.deadline, &n);
	if (rc) {
		logf_(d, XTL_WARN, "domain %u: cannot post its maintenance notice: %s; it moves "
		      "without one", g->domid, migr_strerror(rc));
		return rc;
	}
	pthread_mutex_lock(&d->mu);
	s = slot_of(d, g->domid, true);
	if (s) {
		s->n = n;
		s->notice_s = notice_s;
	}
	pthread_mutex_unlock(&d->mu);
	if (d->xs->ops->watch(d->xs, ack_path(ap, sizeof(ap), g->domid), TOK_ACK))
		logf_(d, XTL_DEBUG, "domain %u: no watch on its ack; polling", g->domid);
	return 0;
}

static int notice_wait(void *arg, const struct migr_plan_guest *g, const volatile int *cancel)
{
	struct migr_evacd *d = arg;
	int rc = 0;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		struct notice_slot *s = slot_of(d, g->domid, false);
		struct migr_notice n;
		struct timespec t;

		if (*cancel) {
			rc = -ECANCELED;
			break;
		}
		if (!s)
			break;
		n = s->n;
		pthread_mutex_unlock(&d->mu);
		rc = migr_evac_notice_poll(d->xs, d->schema, &n, time(NULL), d->req.deadline);
		pthread_mutex_lock(&d->mu);
		if ((s = slot_of(d, g->domid, false)))
			s->n = n;
		if (rc != 0)
			break;
		/* An ack watch or a cancel wakes us; else look again in a second. */
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_sec += 1;
		pthread_cond_timedwait(&d->cv, &d->mu, &t);
	}
	pthread_mutex_unlock(&d->mu);
	if (rc == 1)
		return 0;
	if (rc < 0 && rc != -ECANCELED)
		logf_(d, XTL_WARN, "domain %u: notice wait: %s; migrating anyway", g->domid,
		      migr_strerror(rc));
	return rc == -ECANCELED ? rc : 0;
}

static void notice_end(void *arg, const struct migr_plan_guest *g, enum migr_evac_state final)
{
	struct migr_evacd *d = arg;
	struct notice_slot *s;
	char ap[64];

	d->xs->ops->unwatch(d->xs, ack_path(ap, sizeof(ap), g->domid), TOK_ACK);
	/* A guest that moved took its tree with it; one that stayed gets NONE back. */
	if (final != MIGR_EVAC_MOVED && final != MIGR_EVAC_GONE &&
	    migr_evac_notice_reset(d->xs, g->domid))
		logf_(d, XTL_WARN, "domain %u: cannot withdraw its notice, ignoring", g->domid);
	/* Called with the executor's lock, not ours: ours is free to take. */
	pthread_mutex_lock(&d->mu);
	if ((s = slot_of(d, g->domid, false)))
		s->used = false;
	pthread_mutex_unlock(&d->mu);
}

static const struct migr_evac_notice_ops notice_ops = { notice_begin, notice_wait, notice_end };

/* ---- publishing ---------------------------------------------------------------------- */

static const char *target_name(struct migr_evacd *d, int t)
{
	return t >= 0 && (unsigned)t < d->ntargets ? d->targets[t].name : "";
}

static void publish_counts(struct migr_evacd *d, const struct migr_evac_summary *s)
{
	xs_put(d, EVAC "/total", "%u", s->total);
	xs_put(d, EVAC "/moved", "%u", s->moved);
	xs_put(d, EVAC "/failed", "%u", s->failed + s->undecided);
	xs_put(d, EVAC "/unplaceable", "%u", s->unplaceable);
	xs_put(d, EVAC "/running", "%u", s->running);
}

static void guest_event(struct migr_evacd *d, const struct migr_evac_guest_result *r)
{
	const struct migr_plan_guest *g = &d->guests[r->guest];
	const struct migr_evac_progress *p = &r->progress;
	char base[128], path[192];
	struct jb b = { 0 };

	snprintf(base, sizeof(base), EVAC "/guest/%u", g->domid);
#define GP(leaf, ...) do { snprintf(path, sizeof(path), "%s/" leaf, base); \
	xs_put(d, path, __VA_ARGS__); } while (0)
	GP("state", "%s", migr_evac_state_name(r->state));
	GP("attempts", "%u", r->attempts);
	if (r->state == MIGR_EVAC_MIGRATING) {
		GP("phase", "%s", p->phase > 0 && p->phase < MIGR_PHASE_PHASE_COUNT ?
		   migr_phase_name(p->phase) : "start");
		GP("round", "%u", p->round);
		GP("sent-bytes", "%llu", (unsigned long long)p->sent_bytes);
		GP("remaining-bytes", "%llu", (unsigned long long)p->remaining_bytes);
		GP("dirty-rate", "%llu", (unsigned long long)p->dirty_rate_pps);
		GP("bandwidth", "%llu", (unsigned long long)p->bandwidth_Bps);
		GP("predicted-blackout-ms", "%llu",
		   (unsigned long long)(p->predicted_blackout_us / 1000));
	}
	if (r->state == MIGR_EVAC_MOVED)
		GP("blackout-ms", "%llu", (unsigned long long)(r->outcome.blackout_us / 1000));
	if (r->outcome.migration_id[0])
		GP("migration-id", "%s", r->outcome.migration_id);
	{
		char reason[257];
		size_t k = 0;

		/* The schema's text grammar: printable ASCII only. */
		for (const char *q = r->reason; *q && k < sizeof(reason) - 1; q++)
			reason[k++] = (*q >= 0x20 && *q <= 0x7e) ? *q : '?';
		reason[k] = 0;
		GP("reason", "%s", reason);
	}
#undef GP
	jb_printf(&b, "{\"event\":\"guest\"");
	jb_kstr(&b, "id", d->id);
	jb_kstr(&b, "name", g->name);
	jb_kint(&b, "domid", g->domid);
	jb_kstr(&b, "state", migr_evac_state_name(r->state));
	jb_kstr(&b, "target", target_name(d, r->target));
	jb_kint(&b, "attempt", r->attempts);
	if (r->state == MIGR_EVAC_MIGRATING) {
		jb_kstr(&b, "phase", p->phase > 0 && p->phase < MIGR_PHASE_PHASE_COUNT ?
			migr_phase_name(p->phase) : "start");
		jb_kint(&b, "round", p->round);
		jb_kint(&b, "sent_bytes", (long long)p->sent_bytes);
		jb_kint(&b, "remaining_bytes", (long long)p->remaining_bytes);
		jb_kint(&b, "dirty_rate_pps", (long long)p->dirty_rate_pps);
		jb_kint(&b, "bandwidth_Bps", (long long)p->bandwidth_Bps);
		jb_kint(&b, "predicted_blackout_ms", (long long)(p->predicted_blackout_us / 1000));
		jb_kint(&b, "elapsed_ms", (long long)(p->elapsed_us / 1000));
	}
	jb_kstr(&b, "reason", r->reason);
	jb_raw(&b, "}", 1);
	emit(d, &b);
	free(b.buf);
}

/* The per-migration record: the event log's line and a "migration" event. */
static void migration_record(struct migr_evacd *d, const struct migr_evac_guest_result *r)
{
	const struct migr_plan_guest *g = &d->guests[r->guest];
	const struct migr_evac_outcome *o = &r->outcome;
	struct notice_slot *s = slot_of(d, g->domid, false);
	struct jb b = { 0 };

	jb_printf(&b, "{\"record\":\"migration\",\"time\":%lld", (long long)time(NULL));
	jb_kstr(&b, "evacuation", d->id);
	jb_kstr(&b, "migration_id", o->migration_id);
	jb_kstr(&b, "guest", g->name);
	jb_kint(&b, "source_domid", g->domid);
	jb_kint(&b, "target_domid", r->state == MIGR_EVAC_MOVED ? (long long)o->target_domid : -1);
	jb_kstr(&b, "source", d->cfg.host);
	jb_kstr(&b, "target", target_name(d, r->target));
	jb_kstr(&b, "outcome", migr_evac_state_name(r->state));
	jb_kint(&b, "attempts", r->attempts);
	jb_kint(&b, "rounds", o->rounds);
	jb_kint(&b, "bytes", (long long)o->bytes);
	jb_kint(&b, "total_ms", (long long)(o->total_us / 1000));
	jb_kint(&b, "stream_ms", (long long)(r->stream_us / 1000));
	jb_kint(&b, "stream_held_ms", (long long)(r->stream_held_us / 1000));
	jb_kint(&b, "throttle_max_pct", o->throttle_max_pct);
	jb_kint(&b, "cpu_share_min_pct", o->cpu_share_min_pct);
	jb_kint(&b, "guest_cpu_before_pct", o->guest_cpu_before_pct);
	jb_kint(&b, "guest_cpu_precopy_pct", o->guest_cpu_precopy_pct);
	jb_printf(&b, ",\"streams_at_once\":%.2f", r->streams_beside_x100 / 100.0);
	jb_printf(&b, ",\"blackout_ms\":%.3f", o->blackout_us / 1000.0);
	/* predicted against measured, per hop (docs/policy.md) */
	jb_printf(&b, ",\"predicted_blackout_ms\":%.1f,\"blackout_error_ms\":%.1f,\"fixed_ms\":%.1f",
		  o->predicted_blackout_us / 1000.0, o->blackout_us && o->predicted_blackout_us ?
		  ((double)o->blackout_us - (double)o->predicted_blackout_us) / 1000.0 : 0.0,
		  o->fixed_us / 1000.0);
	jb_kstr(&b, "fixed_restore_from", migr_fixed_from_name(o->fixed_restore_from));
	jb_printf(&b, ",\"blackout_phases_ms\":{\"suspend\":%.1f,\"final_send\":%.1f,"
		  "\"restore_tail\":%.1f,\"devices\":%.1f,\"handshake\":%.1f,\"unpause\":%.1f}",
		  o->suspend_us / 1000.0, o->final_send_us / 1000.0, o->restore_tail_us / 1000.0,
		  o->devices_us / 1000.0, o->handshake_us / 1000.0, o->unpause_us / 1000.0);
	if (o->net_back_known)
		jb_printf(&b, ",\"net_back_ms\":%.1f", o->net_back_us / 1000.0);
	else
		jb_raw(&b, ",\"net_back_ms\":null", 19);
	if (o->first_frame_us)
		jb_printf(&b, ",\"first_frame_ms\":%.1f", o->first_frame_us / 1000.0);
	else
		jb_raw(&b, ",\"first_frame_ms\":null", 22);
	if (o->fwd_known)
		jb_kint(&b, "forwarded_packets", (long long)o->fwd_packets);
	else
		jb_raw(&b, ",\"forwarded_packets\":null", 25);
	jb_printf(&b, ",\"timeline_ms\":{\"start\":%.1f,\"notice_end\":%.1f,\"attempt\":%.1f,"
		  "\"preflight\":%.1f,\"precopy\":%.1f,\"end\":%.1f}", r->started_us / 1000.0,
		  r->notice_end_us / 1000.0, r->attempt_started_us / 1000.0,
		  o->preflight_us / 1000.0, o->precopy_us / 1000.0, r->finished_us / 1000.0);
	jb_kint(&b, "mem_kib", (long long)g->mem_kib);
	jb_kint(&b, "notice_s", s ? s->notice_s : 0);
	jb_printf(&b, ",\"acked\":%s,\"deferred\":%s", s && s->n.acked ? "true" : "false",
		  s && s->n.deferred ? "true" : "false");
	jb_kstr(&b, "reason", r->reason);
	jb_raw(&b, "}", 1);
	if (!b.oom && b.buf) {
		append_log(d, b.buf);
		emit(d, &b);
	}
	free(b.buf);
}

/* Executor report (executor lock held; takes ours). */
static void on_report(void *arg, struct migr_evac *ev, int entry)
{
	struct migr_evacd *d = arg;
	struct migr_evac_summary s;
	const struct migr_evac_guest_result *r;

	pthread_mutex_lock(&d->mu);
	migr_evac_summary(ev, &s);
	publish_counts(d, &s);
	if (entry >= 0 && (r = migr_evac_guest_result(ev, entry))) {
		guest_event(d, r);
		if (migr_evac_state_final(r->state))
			migration_record(d, r);
	}
	pthread_mutex_unlock(&d->mu);
}

/* ---- the evacuation thread ----------------------------------------------------------- */

static void set_state(struct migr_evacd *d, const char *state, const char *reason)
{
	xs_put(d, EVAC "/state", "%s", state);
	snprintf(d->last_state, sizeof(d->last_state), "%s", state);
	if (reason)
		xs_put(d, EVAC "/reason", "%.256s", reason);
}

static void end_event(struct migr_evacd *d, const char *state, const char *reason)
{
	struct jb b = { 0 };
	const struct migr_evac_summary *s = &d->last;
	bool empty = s->moved + s->gone == s->total;

	jb_printf(&b, "{\"event\":\"end\"");
	jb_kstr(&b, "id", d->id);
	jb_kstr(&b, "host", d->cfg.host);
	jb_kstr(&b, "state", state);
	jb_printf(&b, ",\"dry_run\":%s,\"host_empty\":%s", d->dry_run ? "true" : "false",
		  empty && !d->dry_run ? "true" : "false");
	jb_kint(&b, "total", s->total);
	jb_kint(&b, "moved", s->moved);
	jb_kint(&b, "failed", s->failed);
	jb_kint(&b, "unplaceable", s->unplaceable);
	jb_kint(&b, "pinned", s->pinned);
	jb_kint(&b, "cancelled", s->cancelled);
	jb_kint(&b, "undecided", s->undecided);
	jb_kint(&b, "gone", s->gone);
	jb_kint(&b, "elapsed_ms", (long long)(s->elapsed_us / 1000));
	jb_kint(&b, "makespan_ms", (long long)(s->makespan_us / 1000));
	jb_kint(&b, "bound_ms", (long long)(s->bound_us / 1000));
	if (s->bound_us)
		jb_printf(&b, ",\"makespan_ratio\":%.2f", (double)s->makespan_us / (double)s->bound_us);
	else
		jb_raw(&b, ",\"makespan_ratio\":null", 22);
	jb_kint(&b, "bytes", (long long)s->bytes);
	jb_kint(&b, "stream_bps", (long long)(s->stream_Bps * 8));
	jb_kint(&b, "bound_bps", (long long)(s->bound_Bps * 8));
	jb_kint(&b, "bound_streams", s->bound_streams);
	jb_kint(&b, "bound_link_ms", (long long)(s->bound_link_us / 1000));
	jb_kint(&b, "link_bps", (long long)(s->link_Bps * 8));
	jb_kint(&b, "window_max", s->window_max);
	jb_kstr(&b, "window", s->window_why);
	jb_kstr(&b, "reason", reason ? reason : "");
	if (d->report_svg[0])
		jb_kstr(&b, "report", d->report_svg);
	if (d->report_index[0])
		jb_kstr(&b, "report_index", d->report_index);
	jb_raw(&b, "}", 1);
	emit(d, &b);
	if (!b.oom && b.buf) {
		free(d->status);
		d->status = b.buf;
		b.buf = NULL;
	}
	free(b.buf);
}

static void plan_event(struct migr_evacd *d)
{
	struct jb b = { 0 };

	jb_printf(&b, "{\"event\":\"plan\"");
	jb_kstr(&b, "id", d->id);
	jb_kstr(&b, "host", d->cfg.host);
	jb_kint(&b, "parallel", d->parallel);
	jb_kstr(&b, "order", d->plan->order_why);
	{
		/* what the guests' memory needs over the configured link speed (a hint:
		 * the executor measures the link): at least one pass over every page */
		uint64_t bps = d->cfg.link_bps ? d->cfg.link_bps : 1000000000ull, kib = 0;

		for (unsigned i = 0; i < d->plan->n; i++)
			if (d->plan->entries[i].verdict == MIGR_PLAN_PLACED)
				kib += d->guests[d->plan->entries[i].guest].mem_kib;
		jb_kint(&b, "bound_estimate_ms", (long long)(kib * 1024 * 8 / (bps / 1000)));
		jb_kint(&b, "link_bps_hint", (long long)bps);
	}
	jb_kint(&b, "notice_s", d->req.notice_s >= 0 ? d->req.notice_s : (int)d->cfg.notice_s);
	jb_printf(&b, ",\"dry_run\":%s,\"targets\":[", d->dry_run ? "true" : "false");
	for (unsigned t = 0; t < d->ntargets; t++) {
		const struct migr_plan_target *tg = &d->targets[t];

		jb_printf(&b, "%s{\"name\":", t ? "," : "");
		jb_str(&b, tg->name);
		jb_printf(&b, ",\"reachable\":%s", tg->reachable ? "true" : "false");
		jb_kint(&b, "free_mib", (long long)(tg->free_kib / 1024));
		jb_kint(&b, "assigned_mib", (long long)(d->plan->assigned_kib[t] / 1024));
		jb_kstr(&b, "why_unreachable", tg->why_unreachable);
		jb_raw(&b, "}", 1);
	}
	jb_printf(&b, "],\"guests\":[");
	for (unsigned i = 0; i < d->plan->n; i++) {
		const struct migr_plan_entry *e = &d->plan->entries[i];
		const struct migr_plan_guest *g = &d->guests[e->guest];

		jb_printf(&b, "%s{\"name\":", i ? "," : "");
		jb_str(&b, g->name);
		jb_kint(&b, "domid", g->domid);
		jb_kint(&b, "mem_mib", (long long)((g->mem_kib + 1023) / 1024));
		jb_kint(&b, "vcpus", g->vcpus);
		jb_kstr(&b, "group", g->group);
		jb_kstr(&b, "verdict", migr_plan_verdict_name(e->verdict));
		jb_kstr(&b, "target", target_name(d, e->target));
		jb_kstr(&b, "reason", e->reason);
		jb_raw(&b, "}", 1);
	}
	jb_raw(&b, "]}", 2);
	emit(d, &b);
	free(b.buf);
}

/* Publishes the plan under evacuation/guest/ (mu held). */
static void publish_plan(struct migr_evacd *d)
{
	char path[192];

	d->xs->ops->rm(d->xs, EVAC "/guest");
	for (unsigned i = 0; i < d->plan->n; i++) {
		const struct migr_plan_entry *e = &d->plan->entries[i];
		const struct migr_plan_guest *g = &d->guests[e->guest];
		const char *st = e->verdict == MIGR_PLAN_PLACED ? "queued" :
				 e->verdict == MIGR_PLAN_PINNED ? "pinned" : "unplaceable";

		snprintf(path, sizeof(path), EVAC "/guest/%u/name", g->domid);
		xs_put(d, path, "%s", g->name);
		snprintf(path, sizeof(path), EVAC "/guest/%u/target", g->domid);
		xs_put(d, path, "%s", target_name(d, e->target));
		snprintf(path, sizeof(path), EVAC "/guest/%u/state", g->domid);
		xs_put(d, path, "%s", st);
		snprintf(path, sizeof(path), EVAC "/guest/%u/attempts", g->domid);
		xs_put(d, path, "0");
		snprintf(path, sizeof(path), EVAC "/guest/%u/reason", g->domid);
		xs_put(d, path, "%.256s", e->reason);
	}
}

static int split_targets(const char *list, struct migr_evac_request *q)
{
	const char *p = list;

	q->nto = 0;
	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == 0 || n >= MIGR_PLAN_HOST_MAX || q->nto == MIGR_EVAC_MAX_TARGETS)
			return -EINVAL;
		memcpy(q->to[q->nto], p, n);
		q->to[q->nto][n] = 0;
		q->nto++;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

/* ---- the pictures (migr/report.h) ------------------------------------------------------ */

/* Where the pictures go ("" none): report_dir, else the event log's directory. */
static void report_dir(struct migr_evacd *d, char *dir, size_t len)
{
	const char *slash;

	dir[0] = '\0';
	if (d->cfg.report_dir) {
		snprintf(dir, len, "%s", d->cfg.report_dir);
		return;
	}
	if (!d->cfg.event_log || !d->cfg.event_log[0])
		return;
	slash = strrchr(d->cfg.event_log, '/');
	if (!slash)
		snprintf(dir, len, ".");
	else if (slash == d->cfg.event_log)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, "%.*s", (int)(slash - d->cfg.event_log), d->cfg.event_log);
}

/* A guest's migration picture from its round log, into dir; the lane links to it. */
static void migration_picture(struct migr_evacd *d, const char *dir,
			      struct migr_evac_report_lane *ln)
{
	struct migr_roundlog *l = malloc(sizeof(*l));
	char path[4200], why[160], *svg = NULL;
	size_t len;
	int rc;

	if (!l)
		return;
	rc = migr_roundlog_read(d->cfg.roundlog_dir, ln->migration_id, l, why, sizeof(why));
	if (!rc)
		rc = migr_report_migration_svg(l, &svg, &len);
	snprintf(path, sizeof(path), "%s/migration-%s.svg", dir, ln->migration_id);
	if (!rc)
		rc = migr_report_write_file(path, svg, len, 0644);
	if (!rc) {
		char id[MIGR_ID_HEX];

		memcpy(id, ln->migration_id, sizeof(id));
		snprintf(ln->link, sizeof(ln->link), "migration-%s.svg", id);
	} else {
		logf_(d, XTL_WARN, "evacuation %s: no picture of migration %s (%s%s%s), ignoring",
		      d->id, ln->migration_id, migr_strerror(rc), why[0] && rc == -EBADMSG ?
		      ": " : "", rc == -EBADMSG ? why : "");
	}
	free(svg);
	free(l);
}

/* The evacuation's pictures and the index, once its executor is over. */
static void write_reports(struct migr_evacd *d, struct migr_evac *ev, const char *state)
{
	struct migr_evac_report *r;
	char dir[4096], *svg = NULL;
	size_t len;
	int rc;

	report_dir(d, dir, sizeof(dir));
	if (!dir[0] || !ev)
		return;
	if (!migr_report_name_ok(d->id)) {
		logf_(d, XTL_WARN, "evacuation %s: its id is not fit for a file name: no "
		      "picture, ignoring", d->id);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return;
	snprintf(r->id, sizeof(r->id), "%s", d->id);
	snprintf(r->host, sizeof(r->host), "%s", d->cfg.host ? d->cfg.host : "");
	snprintf(r->state, sizeof(r->state), "%s", state);
	r->started = d->started;
	r->elapsed_us = d->last.elapsed_us;
	for (unsigned int i = 0; i < migr_evac_count(ev); i++) {
		const struct migr_evac_guest_result *g = migr_evac_guest_result(ev, i);
		const struct migr_evac_outcome *o = &g->outcome;
		struct migr_evac_report_lane *ln;
		struct migr_id id;

		if (r->n == MIGR_REPORT_LANES) {
			r->more++;
			continue;
		}
		ln = &r->lanes[r->n++];
		snprintf(ln->guest, sizeof(ln->guest), "%s", d->guests[g->guest].name);
		snprintf(ln->target, sizeof(ln->target), "%s", target_name(d, g->target));
		snprintf(ln->state, sizeof(ln->state), "%s", migr_evac_state_name(g->state));
		snprintf(ln->reason, sizeof(ln->reason), "%s", g->reason);
		if (!migr_id_from_hex(o->migration_id, &id))
			memcpy(ln->migration_id, o->migration_id, sizeof(ln->migration_id));
		ln->attempts = g->attempts;
		ln->timeline = true;
		ln->start_us = g->started_us;
		ln->notice_end_us = g->notice_end_us;
		ln->attempt_us = g->attempt_started_us;
		ln->end_us = g->finished_us;
		ln->preflight_us = o->preflight_us;
		ln->precopy_us = o->precopy_us;
		ln->blackout_us = o->blackout_us;
		ln->total_us = o->total_us;
		ln->net_back_known = o->net_back_known;
		ln->net_back_us = o->net_back_us;
		ln->fwd_known = o->fwd_known;
		ln->fwd_packets = o->fwd_packets;
		if (d->cfg.roundlog_dir && ln->migration_id[0] && g->state == MIGR_EVAC_MOVED)
			migration_picture(d, dir, ln);
	}
	rc = migr_report_evacuation_svg(r, &svg, &len);
	snprintf(d->report_svg, sizeof(d->report_svg), "%s/evacuation-%s.svg", dir, d->id);
	if (!rc)
		rc = migr_report_write_file(d->report_svg, svg, len, 0644);
	if (rc) {
		logf_(d, XTL_WARN, "evacuation %s: cannot write %s: %s, ignoring", d->id,
		      d->report_svg, migr_strerror(rc));
		d->report_svg[0] = '\0';
	}
	rc = migr_report_index(dir);
	if (rc)
		logf_(d, XTL_WARN, "evacuation %s: cannot write %s/index.html: %s, ignoring", d->id,
		      dir, migr_strerror(rc));
	else
		snprintf(d->report_index, sizeof(d->report_index), "%s/index.html", dir);
	free(svg);
	free(r);
}

/* The evacuation's own line in the event log, after its guests' (mu held). */
static void evacuation_record(struct migr_evacd *d, const char *state)
{
	struct jb b = { 0 };

	jb_printf(&b, "{\"record\":\"evacuation\",\"time\":%lld", (long long)time(NULL));
	jb_kstr(&b, "id", d->id);
	jb_kstr(&b, "host", d->cfg.host);
	jb_kstr(&b, "state", state);
	jb_kint(&b, "started", (long long)d->started);
	jb_printf(&b, ",\"elapsed_ms\":%.1f", d->last.elapsed_us / 1000.0);
	jb_kint(&b, "total", d->last.total);
	jb_kint(&b, "moved", d->last.moved);
	if (d->report_svg[0])
		jb_kstr(&b, "report", d->report_svg);
	else
		jb_raw(&b, ",\"report\":null", 14);
	jb_raw(&b, "}", 1);
	if (!b.oom && b.buf)
		append_log(d, b.buf);
	free(b.buf);
}

static void *evac_thread(void *arg)
{
	struct migr_evacd *d = arg;
	struct migr_evac_params ep;
	struct migr_plan_params pp;
	struct migr_evac *ev = NULL;
	const char *final = "failed";
	char reason[256] = "";
	bool ran = false;
	int rc;

	/* Guests and targets. */
	rc = d->cfg.list_guests(d->cfg.hook_arg, &d->guests, &d->nguests);
	if (rc) {
		snprintf(reason, sizeof(reason), "cannot list this host's guests: %s",
			 migr_strerror(rc));
		goto out;
	}
	d->targets = calloc(d->req.nto ? d->req.nto : 1, sizeof(*d->targets));
	if (!d->targets) {
		snprintf(reason, sizeof(reason), "out of memory");
		goto out;
	}
	d->ntargets = d->req.nto;
	for (unsigned t = 0; t < d->ntargets && !d->cancel; t++) {
		rc = d->cfg.probe(d->cfg.hook_arg, d->req.to[t], &d->targets[t]);
		if (rc) {
			memset(&d->targets[t], 0, sizeof(d->targets[t]));
			snprintf(d->targets[t].name, sizeof(d->targets[t].name), "%s", d->req.to[t]);
			snprintf(d->targets[t].why_unreachable,
				 sizeof(d->targets[t].why_unreachable), "%s", migr_strerror(rc));
		}
	}
	for (unsigned t = 0; t < d->ntargets; t++)
		if (!d->targets[t].reachable)
			logf_(d, XTL_WARN, "evacuation %s: target %s is not usable: %s", d->id,
			      d->targets[t].name, d->targets[t].why_unreachable);
		else
			logf_(d, XTL_INFO, "evacuation %s: target %s has %llu MiB free", d->id,
			      d->targets[t].name,
			      (unsigned long long)(d->targets[t].free_kib / 1024));
	/* The ceiling of streams at once: the operator's, else from the link speed (a hint;
	 * the executor measures the link). With more than one, the largest go first. */
	d->parallel = d->req.parallel ? d->req.parallel : d->cfg.parallel;
	if (!d->parallel)
		d->parallel = migr_plan_auto_parallel(d->cfg.link_bps, d->cfg.dom0_cpus,
						      d->nguests);
	pp = d->cfg.plan;
	pp.order = d->parallel > 1 ? MIGR_PLAN_ORDER_LARGEST : MIGR_PLAN_ORDER_SMALLEST;
	rc = migr_plan_make(d->guests, d->nguests, d->targets, d->ntargets, &pp, &d->plan);
	if (rc) {
		snprintf(reason, sizeof(reason), "planning failed: %s", migr_strerror(rc));
		goto out;
	}
	pthread_mutex_lock(&d->mu);
	plan_event(d);
	if (!d->dry_run)
		publish_plan(d);
	pthread_mutex_unlock(&d->mu);
	if (d->dry_run) {
		memset(&d->last, 0, sizeof(d->last));
		d->last.total = d->plan->n;
		d->last.unplaceable = d->plan->unplaceable;
		d->last.pinned = d->plan->pinned;
		d->last.queued = d->plan->placed;
		final = "planned";
		goto out_quiet;
	}

	migr_evac_params_init(&ep);
	ep.parallel = d->parallel;
	ep.window = MIGR_EVAC_WINDOW_MEASURED;
	ep.group_cap = d->cfg.group_cap;
	ep.max_attempts = d->cfg.max_attempts;
	ep.retry_delay_ms = d->cfg.retry_delay_ms;
	ep.notice_s = d->req.notice_s >= 0 ? (unsigned)d->req.notice_s : d->cfg.notice_s;
	ep.downtime_ms = d->req.downtime_ms ? d->req.downtime_ms : d->cfg.downtime_ms;
	ep.migrate = d->cfg.migrate;
	ep.migrate_arg = d->cfg.migrate_arg;
	ep.notice = &notice_ops;
	ep.notice_arg = d;
	ep.report = on_report;
	ep.report_arg = d;
	rc = migr_evac_new(d->plan, d->guests, d->targets, &ep, &ev);
	if (rc) {
		snprintf(reason, sizeof(reason), "cannot start: %s", migr_strerror(rc));
		goto out;
	}
	pthread_mutex_lock(&d->mu);
	d->ev = ev;
	if (d->cancel)
		migr_evac_cancel(ev);
	set_state(d, "running", NULL);
	pthread_mutex_unlock(&d->mu);
	if (d->cfg.running)
		d->cfg.running(d->cfg.running_arg, true);
	ran = true;

	rc = migr_evac_run(ev);

	pthread_mutex_lock(&d->mu);
	migr_evac_summary(ev, &d->last);
	/* Guests that never ran get their record too (pinned, unplaceable). */
	for (unsigned i = 0; i < migr_evac_count(ev); i++) {
		const struct migr_evac_guest_result *r = migr_evac_guest_result(ev, i);

		if (r->state == MIGR_EVAC_PINNED || r->state == MIGR_EVAC_UNPLACEABLE)
			migration_record(d, r);
	}
	d->ev = NULL;
	pthread_mutex_unlock(&d->mu);
	if (rc == -ECANCELED)
		final = "cancelled";
	else if (rc)
		final = "failed";
	else if (d->last.moved + d->last.gone == d->last.total)
		final = "done";
	else
		final = "incomplete";
	if (rc && rc != -ECANCELED)
		snprintf(reason, sizeof(reason), "%s", migr_strerror(rc));
	else
		snprintf(reason, sizeof(reason), "%u of %u moved%s", d->last.moved, d->last.total,
			 d->req.reason[0] ? "" : "");
	write_reports(d, ev, final);
out:
	pthread_mutex_lock(&d->mu);
	publish_counts(d, &d->last);
	set_state(d, final, reason);
	xs_put(d, EVAC "/finished", "%lld", (long long)time(NULL));
	evacuation_record(d, final);
	end_event(d, final, reason);
	d->active = false;
	pthread_mutex_unlock(&d->mu);
	logf_(d, XTL_NOTICE, "evacuation %s: %s (%s)%s%s", d->id, final, reason,
	      d->report_svg[0] ? "; picture: " : "", d->report_svg);
	if (ran && d->cfg.running)
		d->cfg.running(d->cfg.running_arg, false);
	migr_evac_free(ev);
	return NULL;
out_quiet:
	pthread_mutex_lock(&d->mu);
	end_event(d, final, "dry run: nothing moved");
	d->active = false;
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* ---- public ------------------------------------------------------------------------ */

static void reset_current(struct migr_evacd *d)
{
	migr_plan_free(d->plan);
	d->plan = NULL;
	free(d->guests);
	d->guests = NULL;
	d->nguests = 0;
	free(d->targets);
	d->targets = NULL;
	d->ntargets = 0;
}

static void join(struct migr_evacd *d)
{
	if (d->th_joinable) {
		pthread_join(d->th, NULL);
		d->th_joinable = false;
	}
}

int migr_evacd_start(struct migr_evacd *d, const struct migr_evac_request *req, bool dry_run,
		     char *why, size_t wl)
{
	struct migr_evac_request q = *req;
	int rc;

	if (q.action != MIGR_EVAC_ACTION_EVACUATE) {
		snprintf(why, wl, "not an evacuation request");
		return -EINVAL;
	}
	if (q.nto == 0 && d->cfg.fleet_targets) {
		char list[MIGR_EVAC_MAX_TARGETS * (MIGR_PLAN_HOST_MAX + 1)], fwhy[256] = "";

		rc = d->cfg.fleet_targets(d->cfg.fleet_arg, list, sizeof(list), fwhy, sizeof(fwhy));
		if (!rc && split_targets(list, &q)) {
			q.nto = 0;
			snprintf(fwhy, sizeof(fwhy), "the fleet's host list is not one migr reads");
			rc = -EINVAL;
		}
		if (rc && !d->cfg.default_targets) {
			snprintf(why, wl, "no target host from the fleet's etcd (%s); name one (--to, "
				 "\"to\")", fwhy[0] ? fwhy : migr_strerror(rc));
			return rc;
		}
		if (rc)
			migr__log(d->cfg.lg, XTL_WARN, "evacuation: no target host from the fleet's "
				  "etcd (%s): the configured targets are used",
				  fwhy[0] ? fwhy : migr_strerror(rc));
	}
	if (q.nto == 0 && d->cfg.default_targets && split_targets(d->cfg.default_targets, &q)) {
		snprintf(why, wl, "bad default target list");
		return -EINVAL;
	}
	if (q.nto == 0) {
		snprintf(why, wl, "no target host: name one (--to, \"to\") or start migrd with "
			 "--targets");
		return -EINVAL;
	}
	pthread_mutex_lock(&d->mu);
	if (d->active) {
		pthread_mutex_unlock(&d->mu);
		snprintf(why, wl, "an evacuation (%s) is running; cancel it first", d->id);
		return -EBUSY;
	}
	pthread_mutex_unlock(&d->mu);
	join(d);
	reset_current(d);
	d->req = q;
	d->dry_run = dry_run;
	d->cancel = 0;
	memset(&d->last, 0, sizeof(d->last));
	if (q.id[0])
		snprintf(d->id, sizeof(d->id), "%s", q.id);
	else
		snprintf(d->id, sizeof(d->id), "evac-%lld-%u", (long long)time(NULL), ++d->seq);
	d->started = time(NULL);
	d->report_svg[0] = d->report_index[0] = '\0';
	if (!dry_run) {
		char list[1024];
		size_t k = 0;

		list[0] = 0;
		for (unsigned t = 0; t < q.nto && k < sizeof(list); t++)
			k += snprintf(list + k, sizeof(list) - k, "%s%s", t ? "," : "", q.to[t]);
		pthread_mutex_lock(&d->mu);
		xs_put(d, EVAC "/id", "%s", d->id);
		set_state(d, "planning", q.reason[0] ? q.reason : "");
		xs_put(d, EVAC "/targets", "%s", list);
		xs_put(d, EVAC "/started", "%lld", (long long)d->started);
		d->xs->ops->rm(d->xs, EVAC "/finished");
		pthread_mutex_unlock(&d->mu);
	}
	{
		struct jb b = { 0 };

		jb_printf(&b, "{\"event\":\"start\"");
		jb_kstr(&b, "id", d->id);
		jb_kstr(&b, "host", d->cfg.host);
		jb_printf(&b, ",\"dry_run\":%s,\"targets\":[", dry_run ? "true" : "false");
		for (unsigned t = 0; t < q.nto; t++) {
			if (t)
				jb_raw(&b, ",", 1);
			jb_str(&b, q.to[t]);
		}
		jb_raw(&b, "]", 1);
		jb_kstr(&b, "reason", q.reason);
		jb_kint(&b, "deadline", (long long)q.deadline);
		jb_raw(&b, "}", 1);
		pthread_mutex_lock(&d->mu);
		emit(d, &b);
		pthread_mutex_unlock(&d->mu);
		free(b.buf);
	}
	d->active = true;
	rc = -pthread_create(&d->th, NULL, evac_thread, d);
	if (rc) {
		d->active = false;
		snprintf(why, wl, "cannot start a thread: %s", migr_strerror(rc));
		return rc;
	}
	d->th_joinable = true;
	logf_(d, XTL_NOTICE, "evacuation %s started%s", d->id, dry_run ? " (dry run)" : "");
	return 0;
}

void migr_evacd_cancel(struct migr_evacd *d)
{
	pthread_mutex_lock(&d->mu);
	d->cancel = 1;
	if (d->ev) {
		migr_evac_cancel(d->ev);
		set_state(d, "cancelling", NULL);
	}
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

bool migr_evacd_busy(struct migr_evacd *d)
{
	bool busy;

	pthread_mutex_lock(&d->mu);
	busy = d->active;
	pthread_mutex_unlock(&d->mu);
	return busy;
}

int migr_evacd_wait(struct migr_evacd *d, struct migr_evac_summary *s_r)
{
	if (!d->th_joinable)
		return -ENOENT;
	join(d);
	if (s_r)
		*s_r = d->last;
	return 0;
}

int migr_evacd_progress(struct migr_evacd *d, struct migr_evac_summary *s_r,
			void (*flight)(void *arg, const char *guest, const char *target),
			void *arg)
{
	int rc;

	pthread_mutex_lock(&d->mu);
	if (!d->ev) {
		/* Planning (not running yet), or ended: its summary. */
		if (d->active)
			memset(s_r, 0, sizeof(*s_r));
		else
			*s_r = d->last;
		rc = d->active ? 0 : 1;
	} else {
		migr_evac_summary(d->ev, s_r);
		for (unsigned i = 0; flight && i < migr_evac_count(d->ev); i++) {
			const struct migr_evac_guest_result *r = migr_evac_guest_result(d->ev, i);

			if (r->state == MIGR_EVAC_NOTICE || r->state == MIGR_EVAC_MIGRATING ||
			    r->state == MIGR_EVAC_RETRYING)
				flight(arg, d->guests[r->guest].name, target_name(d, r->target));
		}
		rc = 0;
	}
	pthread_mutex_unlock(&d->mu);
	return rc;
}

int migr_evacd_status_json(struct migr_evacd *d, char **json_r)
{
	struct jb b = { 0 };

	pthread_mutex_lock(&d->mu);
	if (d->ev) {
		struct migr_evac_summary s;

		migr_evac_summary(d->ev, &s);
		jb_printf(&b, "{\"event\":\"status\"");
		jb_kstr(&b, "id", d->id);
		jb_kstr(&b, "host", d->cfg.host);
		jb_kstr(&b, "state", s.cancel_requested ? "cancelling" : "running");
		jb_kint(&b, "total", s.total);
		jb_kint(&b, "moved", s.moved);
		jb_kint(&b, "running", s.running);
		jb_kint(&b, "queued", s.queued);
		jb_kint(&b, "failed", s.failed);
		jb_kint(&b, "unplaceable", s.unplaceable);
		jb_printf(&b, ",\"guests\":[");
		for (unsigned i = 0; i < migr_evac_count(d->ev); i++) {
			const struct migr_evac_guest_result *r = migr_evac_guest_result(d->ev, i);

			jb_printf(&b, "%s{\"name\":", i ? "," : "");
			jb_str(&b, d->guests[r->guest].name);
			jb_kint(&b, "domid", d->guests[r->guest].domid);
			jb_kstr(&b, "state", migr_evac_state_name(r->state));
			jb_kstr(&b, "target", target_name(d, r->target));
			jb_kint(&b, "round", r->progress.round);
			jb_kint(&b, "sent_bytes", (long long)r->progress.sent_bytes);
			jb_kstr(&b, "reason", r->reason);
			jb_raw(&b, "}", 1);
		}
		jb_raw(&b, "]}", 2);
	} else if (d->status) {
		jb_raw(&b, d->status, strlen(d->status));
	} else {
		jb_printf(&b, "{\"event\":\"status\",\"state\":\"idle\"");
		jb_kstr(&b, "host", d->cfg.host);
		jb_raw(&b, "}", 1);
	}
	pthread_mutex_unlock(&d->mu);
	if (b.oom) {
		free(b.buf);
		return -ENOMEM;
	}
	*json_r = b.buf;
	return 0;
}

/* The request node changed: read it, consume it, act on it. */
static void on_request(struct migr_evacd *d)
{
	struct migr_evac_request q;
	char *v = NULL, why[256];
	size_t len = 0;
	int rc;

	rc = d->xs->ops->read(d->xs, REQ_PATH, &v, &len);
	if (rc == -ENOENT)
		return;
	if (rc) {
		logf_(d, XTL_ERROR, "reading %s: %s", REQ_PATH, migr_strerror(rc));
		return;
	}
	/* A mailbox: consumed once read, so that a restart does not replay it. */
	d->xs->ops->rm(d->xs, REQ_PATH);
	if (len == 0) {
		free(v);
		return;
	}
	if ((d->schema && migr_schema_check_value(d->schema, REQ_PATH, v, len) != MIGR_SCHEMA_OK) ||
	    migr_evac_request_parse(v, len, &q, why, sizeof(why))) {
		if (d->schema && migr_schema_check_value(d->schema, REQ_PATH, v, len) != MIGR_SCHEMA_OK)
			snprintf(why, sizeof(why), "request is not well-formed JSON of at most 4096 bytes");
		free(v);
		logf_(d, XTL_ERROR, "maintenance request refused: %s", why);
		if (!migr_evacd_busy(d)) {
			pthread_mutex_lock(&d->mu);
			set_state(d, "failed", why);
			pthread_mutex_unlock(&d->mu);
		}
		return;
	}
	free(v);
	if (q.action == MIGR_EVAC_ACTION_CANCEL) {
		logf_(d, XTL_NOTICE, "cancel requested through xenstore");
		migr_evacd_cancel(d);
		return;
	}
	rc = migr_evacd_start(d, &q, false, why, sizeof(why));
	if (rc) {
		logf_(d, XTL_ERROR, "maintenance request refused: %s", why);
		if (rc != -EBUSY) {
			pthread_mutex_lock(&d->mu);
			set_state(d, "failed", why);
			pthread_mutex_unlock(&d->mu);
		}
	}
}

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/*
 * A guest's ack node (or something under it) changed. Hostile input: a path not of a guest
 * with a notice is ignored; a node under ack is removed (the schema has none there); past
 * ACK_EVENTS_PER_S a second the guest's events wake nobody. Returns 1 when the event woke
 * the notice waiters, 2 when it was ignored.
 */
static int on_ack(struct migr_evacd *d, const char *path)
{
	struct notice_slot *s;
	unsigned int domid;
	char ap[64], extra;
	size_t apl;
	uint64_t now = mono_ns();
	bool child, flood_log = false, child_log = false, woke = false;

	if (sscanf(path, "/local/domain/%u/migr/ack%c", &domid, &extra) < 1)
		return 2;
	apl = strlen(ack_path(ap, sizeof(ap), domid));
	if (strncmp(path, ap, apl) || (path[apl] && path[apl] != '/'))
		return 2;
	child = path[apl] == '/';
	pthread_mutex_lock(&d->mu);
	s = slot_of(d, domid, false);
	if (!s) {
		pthread_mutex_unlock(&d->mu);
		return 2;
	}
	if (child) {
		child_log = !s->children_logged;
		s->children_logged = true;
	} else {
		if (now - s->ack_window_ns >= 1000000000ull) {
			s->ack_window_ns = now;
			s->ack_events = 0;
		}
		if (++s->ack_events > ACK_EVENTS_PER_S) {
			flood_log = !s->flood_logged;
			s->flood_logged = true;
		} else {
			pthread_cond_broadcast(&d->cv);
			woke = true;
		}
	}
	pthread_mutex_unlock(&d->mu);
	if (child) {
		/* Ignored whatever happens; removed so it cannot pile up. */
		d->xs->ops->rm(d->xs, path);
		if (child_log)
			logf_(d, XTL_WARN, "domain %u: created %s under its ack node: removed, "
			      "ignoring", domid, path);
		return 2;
	}
	if (flood_log)
		logf_(d, XTL_WARN, "domain %u: writes its ack node more than %d times a second: "
		      "reading it once a second, ignoring the rest", domid, ACK_EVENTS_PER_S);
	return woke ? 1 : 2;
}

int migr_evacd_watch_event(struct migr_evacd *d, const char *path, const char *token)
{
	if (!strcmp(token, TOK_REQ)) {
		on_request(d);
		return 1;
	}
	if (!strcmp(token, TOK_ACK))
		return on_ack(d, path);
	return 0;
}

int migr_evacd_new(struct migr_xs *xs, const struct migr_schema *schema,
		   const struct migr_evacd_config *cfg, struct migr_evacd **d_r)
{
	struct migr_evacd *d;
	int rc;

	if (!xs || !cfg || !cfg->list_guests || !cfg->probe || !cfg->migrate)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->xs = xs;
	d->schema = schema;
	d->cfg = *cfg;
	pthread_mutex_init(&d->mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&d->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	/* dom0's tree: readable by dom0 only. */
	rc = migr_xs_write_str(xs, ROOT, "");
	rc = rc ?: xs->ops->set_perms(xs, ROOT, "n0");
	if (rc)
		goto fail;
	if (cfg->daemon) {
		char *st = NULL;
		size_t n;

		xs_put(d, ROOT "/daemon", "%s", "");
		xs_put(d, ROOT "/daemon/pid", "%d", (int)getpid());
		xs_put(d, ROOT "/daemon/version", "%s", migr_version());
		xs_put(d, ROOT "/daemon/host", "%s", cfg->host);
		xs_put(d, ROOT "/daemon/state", "starting");
		/* An evacuation a previous migrd left behind cannot be running any more. */
		if (!xs->ops->read(xs, EVAC "/state", &st, &n) &&
		    (!strcmp(st, "planning") || !strcmp(st, "running") ||
		     !strcmp(st, "cancelling")))
			set_state(d, "failed", "migrd stopped during the evacuation");
		else if (!st)
			set_state(d, "idle", NULL);
		free(st);
		rc = xs->ops->watch(xs, REQ_PATH, TOK_REQ);
		if (rc)
			goto fail;
		xs_put(d, ROOT "/daemon/state", "ready");
	}
	*d_r = d;
	return 0;
fail:
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	free(d);
	return rc;
}

void migr_evacd_free(struct migr_evacd *d)
{
	if (!d)
		return;
	if (d->cfg.daemon)
		xs_put(d, ROOT "/daemon/state", "stopping");
	migr_evacd_cancel(d);
	join(d);
	if (d->cfg.daemon) {
		d->xs->ops->unwatch(d->xs, REQ_PATH, TOK_REQ);
		d->xs->ops->rm(d->xs, ROOT "/daemon/state");
	}
	reset_current(d);
	free(d->status);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	free(d);
}

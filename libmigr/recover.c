/*
 * recover.c: settling migrations that did not end, from the durable records of both
 * sides (docs/phases.md, "Recovery"; docs/protocol.md, "RESOLVE").
 *
 * Entry points: migr_resolve() (source, one migration, `migr resolve`),
 * migr_resolve_ask() (source, right after a migration ended undecided: `migr migrate`,
 * the evacuation engine),
 * migr_recover_source() (source, every record: migrd's start and its timer),
 * migr_recover_target() (target, migrd's start).
 *
 * The rule: the source's copy is resumed only when something proves the target will
 * never run the guest: the source's record says GO never went, or the target's record,
 * answered under the host id READY carried, says destroyed. The copy is destroyed only
 * when that host says it runs the guest. Anything else (no answer, no record there, an
 * answer from another host or record directory, a guest the target ran and lost) keeps
 * the copy suspended and says why, for the operator to decide (--force-resume).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "send_int.h"

#define RECOVER_MAX 256

static const char *src_dir(const struct migr_resolve_params *rp)
{
	return rp && rp->record_dir ? rp->record_dir : MIGR_SRC_STATE_DIR;
}


bool migr_domname_reserved(const char *name)
{
	return name && (migr__ends_with(name, MIGR_SUFFIX_INCOMING) || migr__ends_with(name, MIGR_SUFFIX_AWAY));
}

/* Asks the target over c. 0 with the reply, or -errno (no answer). */
static int ask(struct migr_conn *c, const struct migr_id *id, struct migr_msg_resolve_reply *r_r)
{
	struct migr_msg m, r;
	char err[MIGR_ERR_MAX];
	uint32_t version;
	int rc;

	migr_msg_hello(&m, MIGR_PURPOSE_RESOLVE, id);
	migr_msg_init(&r, MIGR_MSG_HELLO);
	rc = migr_msg_send(c, &m);
	if (!rc)
		rc = migr_msg_expect(c, MIGR_MSG_HELLO, &r);
	if (!rc)
		rc = migr_hello_check(&r.hello, id, &version, err, sizeof(err));
	migr_msg_release(&r);
	if (!rc) {
		migr_msg_init(&m, MIGR_MSG_RESOLVE);
		m.resolve.id = *id;
		rc = migr_msg_send(c, &m);
	}
	if (!rc)
		rc = migr_msg_expect(c, MIGR_MSG_RESOLVE_REPLY, &r);
	if (!rc && !migr_id_equal(&r.resolve_reply.id, id))
		rc = -MIGR_E_PROTO;
	if (!rc)
		*r_r = r.resolve_reply;
	migr_msg_release(&r);
	return rc;
}

/* Our copy: the record's domain if it still carries the guest's name (or the away
 * name), else found by those names. */
static bool find_copy(struct migr_hv *hv, const char *name, uint32_t domid_hint,
		      uint32_t *domid_r, struct migr_dom_info *di_r)
{
	char away[MIGR_DOMNAME_MAX];
	uint32_t domid;

	migr__text(away, sizeof(away), "%s" MIGR_SUFFIX_AWAY, name);
	if (domid_hint && !hv->ops->domain_info(hv, domid_hint, di_r) &&
	    (!strcmp(di_r->name, name) || !strcmp(di_r->name, away))) {
		*domid_r = domid_hint;
		return true;
	}
	if ((!hv->ops->domain_find(hv, away, &domid) || !hv->ops->domain_find(hv, name, &domid)) &&
	    !hv->ops->domain_info(hv, domid, di_r)) {
		*domid_r = domid;
		return true;
	}
	return false;
}

static bool suspended(const struct migr_dom_info *di)
{
	return di->shutdown && di->shutdown_reason == MIGR_SHUTDOWN_SUSPEND;
}

/* Renames our copy back and resumes it. */
static int resume_copy(struct migr_hv *hv, const char *name, uint32_t domid,
		       const struct migr_dom_info *di)
{
	int rc = 0;

	if (strcmp(di->name, name))
		rc = hv->ops->rename(hv, domid, di->name, name);
	if (!rc && suspended(di))
		rc = hv->ops->resume(hv, domid);
	return rc;
}

/*
 * A sender that died with its throttle on left the guest capped: the cap it had goes
 * back on the copy here (running, or suspended to be resumed), and the record says so.
 * Returns the cap put back, or -1 when there was none to put back (or it failed: logged).
 */
static long unthrottle(struct migr_hv *hv, const struct migr_resolve_params *rp,
		       struct migr_src_record *r)
{
	struct migr_dom_info di;
	unsigned int cap, now;
	uint32_t domid;

	if (!r->throttled || !hv->ops->cpu_cap || !find_copy(hv, r->name, r->domid, &domid, &di))
		return -1;
	if (r->cap_before > 65535) {
		migr__log(hv->lg, XTL_ERROR, "domain %u: the record's cap %llu is out of range; "
			  "the guest keeps its throttle cap", domid,
			  (unsigned long long)r->cap_before);
		return -1;
	}
	cap = (unsigned int)r->cap_before;
	if (hv->ops->cpu_cap(hv, domid, &cap, &now)) {
		migr__log(hv->lg, XTL_ERROR, "domain %u: could not take the throttle off", domid);
		return -1;
	}
	migr__log(hv->lg, XTL_INFO, "domain %u: throttle taken off (CPU cap %u back)", domid, cap);
	r->throttled = 0;
	r->cap_before = 0;
	migr_src_record_write(src_dir(rp), r);
	return cap;
}

/* Adds the throttle unthrottle() took off to what the outcome's text says. */
static void say_unthrottled(long cap, char *text, size_t len)
{
	size_t n = strnlen(text, len);

	if (cap >= 0 && n + 1 < len)
		snprintf(text + n, len - n, "%sthe throttle was taken off (CPU cap %ld back)",
			 n ? "; " : "", cap);
}

static int resolve_record(struct migr_hv *hv, struct migr_conn *c,
			  const struct migr_src_record *rec, const struct migr_resolve_params *rp,
			  uint32_t *outcome_r, char *state, size_t statelen)
{
	struct migr_msg_resolve_reply reply;
	struct migr_dom_info di;
	const char *why = NULL;
	char hex[MIGR_ID_HEX];
	uint32_t domid = 0;
	bool answered = false, same_host, have, proven_never = false, runs_there = false;
	int rc;

	memset(&reply, 0, sizeof(reply));
	migr_id_to_hex(&rec->id, hex);
	if (rec->phase != MIGR_SRC_DONE && c && ask(c, &rec->id, &reply) == 0)
		answered = true;
	*outcome_r = answered ? reply.outcome : MIGR_OUTCOME_UNKNOWN;
	same_host = answered && !migr_id_is_zero(&rec->target_host) &&
		    migr_id_equal(&reply.host_id, &rec->target_host);
	have = find_copy(hv, rec->name, rec->domid, &domid, &di);

	if (rec->phase == MIGR_SRC_DONE) {
		runs_there = true;   /* the target said DONE */
	} else if (rec->phase == MIGR_SRC_STARTED) {
		/* GO never went: the target cannot run the guest (and, asked, destroyed a
		 * paused copy it held) */
		if (answered && reply.outcome == MIGR_OUTCOME_RUNNING) {
			migr__text(state, statelen, "the target says it runs the guest although GO "
				   "never went; nothing done here: check both hosts");
			return -MIGR_E_UNDECIDED;
		}
		proven_never = true;
	} else if (same_host && reply.outcome == MIGR_OUTCOME_RUNNING) {
		runs_there = true;
	} else if (same_host && reply.outcome == MIGR_OUTCOME_DESTROYED) {
		proven_never = true;
	} else if (!answered) {
		why = "the target did not answer";
	} else if (!same_host) {
		why = "the answer came from another host or record directory than the one that "
		      "sent READY, so it proves nothing";
	} else if (reply.outcome == MIGR_OUTCOME_LOST) {
		why = "the target ran the guest and no longer has it (was it restarted?): the "
		      "copy here is stale against anything the guest wrote there";
	} else {
		why = "the target has no record that proves where the guest runs";
	}

	if (runs_there) {
		if (have && suspended(&di)) {
			rc = hv->ops->destroy(hv, domid);
			if (rc) {
				migr__text(state, statelen, "the target runs the guest; could NOT "
					   "destroy the suspended copy here (domain %u): %s", domid,
					   migr_strerror(rc));
				return rc;
			}
			migr__text(state, statelen, "the target runs the guest; destroyed the "
				   "suspended copy here");
		} else if (have) {
			migr__text(state, statelen, "the target runs the guest, and so does domain "
				   "%u here: check both hosts now", domid);
			return -EEXIST;
		} else {
			migr__text(state, statelen, "the target runs the guest; no copy here");
		}
		migr_record_remove(src_dir(rp), &rec->id);
		return 0;
	}
	if (!proven_never && !(rp && rp->force_resume)) {
		migr__text(state, statelen, "cannot tell: %s. The copy here stays suspended%s; "
			   "`migr resolve --force-resume %s %s HOST` resumes it if you know the "
			   "target will never run it", why, have ? "" : " (none found)", hex, rec->name);
		return -MIGR_E_UNDECIDED;
	}
	if (!have) {
		migr__text(state, statelen, "%s, but there is no copy here either: the guest is "
			   "lost", proven_never ? "the target will not run the guest" :
			   "resuming at the operator's word");
		return -ENOENT;
	}
	if (rp && rp->etcd &&
	    migr_fence_reclaim(rp->etcd, di.uuid, rp->fence_self, hex, rp->lg)) {
		if (!rp->force_resume) {
			migr__text(state, statelen, "%s, but etcd does not give the guest back to "
				   "this host (not reached, or another migration moved it): the copy "
				   "here stays suspended", proven_never ?
				   "the target will not run the guest" : "the operator's word");
			return -MIGR_E_UNDECIDED;
		}
		migr__log(rp->lg, XTL_WARN, "%s: resuming at the operator's word although etcd "
			  "does not give the guest back to this host", rec->name);
	}
	rc = resume_copy(hv, rec->name, domid, &di);
	if (rc) {
		migr__text(state, statelen, "the guest belongs here; could NOT resume it (domain "
			   "%u): %s", domid, migr_strerror(rc));
		return rc;
	}
	migr__text(state, statelen, "%s; the guest runs here again",
		   proven_never ? (rec->phase == MIGR_SRC_STARTED ? "GO never went"
				   : "the target's record says it destroyed its copy")
		   : "resumed at the operator's word (--force-resume)");
	migr_record_remove(src_dir(rp), &rec->id);
	return 0;
}

int migr_resolve(struct migr_hv *hv, struct migr_conn *c, const char *id_hex,
		 const char *domain, const struct migr_resolve_params *rp, uint32_t *outcome_r,
		 char *state, size_t statelen)
{
	struct migr_src_record rec;
	char dummy[8];
	uint32_t outcome = MIGR_OUTCOME_UNKNOWN;
	int rc, lock;
	long cap;

	if (!state) {
		state = dummy;
		statelen = sizeof(dummy);
	}
	memset(&rec, 0, sizeof(rec));
	if (migr_id_from_hex(id_hex, &rec.id)) {
		migr__text(state, statelen, "not a migration id: %s", id_hex);
		return -EINVAL;
	}
	rc = migr_src_record_read(src_dir(rp), &rec.id, &rec);
	if (rc) {
		/* no record here (another source, or its state was lost): GO may have gone,
		 * and no host id is known, so only RUNNING can be taken as proof... by no one:
		 * ask, act only on the operator's word */
		rec.phase = MIGR_SRC_GO;
		rec.domid = 0;
		migr__text(rec.name, sizeof(rec.name), "%s", domain ? domain : "");
		if (rc != -ENOENT)
			migr__log(rp ? rp->lg : NULL, XTL_WARN, "resolve %s: the source's record "
				  "cannot be read (%s)", id_hex, migr_strerror(rc));
	} else if (domain && strcmp(domain, rec.name)) {
		migr__text(state, statelen, "migration %s moved %s, not %s", id_hex, rec.name,
			   domain);
		return -EINVAL;
	}
	lock = migr_src_record_lock(src_dir(rp), &rec.id);
	if (lock == -EBUSY) {
		migr__text(state, statelen, "migration %s is still running here (its record is "
			   "locked); nothing done", id_hex);
		return -MIGR_E_UNDECIDED;
	}
	cap = unthrottle(hv, rp, &rec);
	rc = resolve_record(hv, c, &rec, rp, &outcome, state, statelen);
	say_unthrottled(cap, state, statelen);
	if (lock >= 0)
		close(lock);
	if (outcome_r)
		*outcome_r = outcome;
	return rc;
}

int migr_resolve_ask(struct migr_hv *hv, const char *host,
		     const struct migr_transport_opts *topts, const char *id_hex,
		     const char *domain, const struct migr_resolve_params *rp,
		     unsigned int tries, uint32_t *outcome_r, char *state, size_t statelen,
		     void (*each)(void *arg, const char *state), void *arg)
{
	struct migr_transport_opts o = *topts;
	char err[MIGR_ERR_MAX];
	int rc = -MIGR_E_UNDECIDED;

	o.timeout_ms = 5000;
	o.io_timeout_ms = 10000;
	for (unsigned int i = 0; i < tries && rc == -MIGR_E_UNDECIDED; i++) {
		struct migr_conn *c = NULL;

		if (i)
			sleep(2 + 2 * i);
		if (migr_connect(host, &o, &c, err, sizeof(err)))
			c = NULL;
		rc = migr_resolve(hv, c, id_hex, domain, rp, outcome_r, state, statelen);
		migr_conn_close(c);
		if (each)
			each(arg, state);
	}
	return rc;
}

struct src_list {
	struct migr_src_record r[RECOVER_MAX];
	unsigned int n;
};

static int collect_src(const struct migr_src_record *r, void *opaque)
{
	struct src_list *l = opaque;

	if (l->n < RECOVER_MAX)
		l->r[l->n++] = *r;
	return 0;
}

int migr_recover_source(struct migr_hv *hv, const struct migr_resolve_params *rp,
			struct migr_conn *(*connect)(const struct migr_src_record *r, void *arg),
			void *arg,
			void (*report)(const struct migr_recover_report *r, void *arg))
{
	struct src_list *l = calloc(1, sizeof(*l));
	unsigned int open = 0;
	int rc;

	if (!l)
		return -ENOMEM;
	rc = migr_src_record_list(src_dir(rp), collect_src, l);
	for (unsigned int i = 0; !rc && i < l->n; i++) {
		struct migr_recover_report rep;
		struct migr_conn *c;
		long cap;
		int lock = migr_src_record_lock(src_dir(rp), &l->r[i].id);

		if (lock == -EBUSY)
			continue;   /* its migration is running */
		if (migr_src_record_read(src_dir(rp), &l->r[i].id, &l->r[i])) {
			if (lock >= 0)
				close(lock);
			continue;   /* ended meanwhile */
		}
		cap = unthrottle(hv, rp, &l->r[i]);
		c = connect ? connect(&l->r[i], arg) : NULL;
		memset(&rep, 0, sizeof(rep));
		migr_id_to_hex(&l->r[i].id, rep.id);
		migr__text(rep.name, sizeof(rep.name), "%s", l->r[i].name);
		rep.rc = resolve_record(hv, c, &l->r[i], rp, &rep.outcome, rep.text,
					sizeof(rep.text));
		say_unthrottled(cap, rep.text, sizeof(rep.text));
		migr_conn_close(c);
		if (lock >= 0)
			close(lock);
		if (rep.rc)
			open++;
		if (report)
			report(&rep, arg);
	}
	free(l);
	return rc ? rc : (int)open;
}

/* ---- the target ------------------------------------------------------------------------- */

struct tgt_ctx {
	struct migr_hv *hv;
	const char *dir;
	struct xentoollog_logger *lg;
	void (*report)(const struct migr_recover_report *r, void *arg);
	void *arg;
	uint32_t keep[RECOVER_MAX];     /* domains a record speaks for */
	unsigned int n_keep;
};

static void tgt_report(struct tgt_ctx *t, const struct migr_id *id, const char *name, int rc,
		       uint32_t outcome, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void tgt_report(struct tgt_ctx *t, const struct migr_id *id, const char *name, int rc,
		       uint32_t outcome, const char *fmt, ...)
{
	struct migr_recover_report rep;
	va_list ap;

	memset(&rep, 0, sizeof(rep));
	if (id)
		migr_id_to_hex(id, rep.id);
	migr__text(rep.name, sizeof(rep.name), "%s", name);
	rep.rc = rc;
	rep.outcome = outcome;
	va_start(ap, fmt);
	vsnprintf(rep.text, sizeof(rep.text), fmt, ap);
	va_end(ap);
	migr__log(t->lg, rc ? XTL_ERROR : XTL_INFO, "recovery: %s %s: %s", rep.id, name, rep.text);
	if (t->report)
		t->report(&rep, t->arg);
}

static int recover_one(const struct migr_record *r, void *opaque)
{
	struct tgt_ctx *t = opaque;
	struct migr_dom_info di;
	char incoming[MIGR_DOMNAME_MAX];
	bool here, is_incoming;
	int rc = 0;

	migr__text(incoming, sizeof(incoming), "%s" MIGR_SUFFIX_INCOMING, r->name);
	here = r->domid && !t->hv->ops->domain_info(t->hv, r->domid, &di) &&
	       (!strcmp(di.name, r->name) || !strcmp(di.name, incoming));
	if (!here) {
		if (r->outcome == MIGR_OUTCOME_RESTORED_PAUSED) {
			/* its copy is gone (the host restarted): it will never run */
			struct migr_record d = *r;
			d.outcome = MIGR_OUTCOME_DESTROYED;
			migr_record_transition(t->dir, MIGR_OUTCOME_RESTORED_PAUSED, &d, NULL);
		}
		return 0;
	}
	is_incoming = !strcmp(di.name, incoming);
	switch (r->outcome) {
	case MIGR_OUTCOME_RUNNING:
		if (t->n_keep < RECOVER_MAX)
			t->keep[t->n_keep++] = r->domid;
		if (!is_incoming && !di.paused)
			return 0;   /* an ordinary guest of this host now */
		if (is_incoming)
			rc = t->hv->ops->rename(t->hv, r->domid, incoming, r->name);
		if (!rc && di.paused)
			rc = t->hv->ops->unpause(t->hv, r->domid);
		if (!rc)      /* the console log under the guest's name, as settle does */
			migr__console_log_follow(t->hv, r->domid, incoming, r->name, t->hv->lg);
		tgt_report(t, &r->id, r->name, rc, r->outcome, rc ?
			   "the record says running; could NOT finish the commit (domain %u): %s" :
			   "the record says running: finished the commit (domain %u runs)%s",
			   r->domid, rc ? migr_strerror(rc) : "");
		return 0;
	case MIGR_OUTCOME_RESTORED_PAUSED: {
		/* GO comes only on the connection that carried the stream, and that died with
		 * the process: the copy can never run. Recorded destroyed first, so that the
		 * source's resolve gets its proof. */
		struct migr_record d = *r;

		d.outcome = MIGR_OUTCOME_DESTROYED;
		rc = migr_record_transition(t->dir, MIGR_OUTCOME_RESTORED_PAUSED, &d, NULL);
		if (rc) {
			if (t->n_keep < RECOVER_MAX)
				t->keep[t->n_keep++] = r->domid;
			tgt_report(t, &r->id, r->name, rc, r->outcome, "restored, paused, no GO "
				   "taken; cannot record it destroyed (%s): domain %u stays paused",
				   migr_strerror(rc), r->domid);
			return 0;
		}
		rc = is_incoming && di.paused ? t->hv->ops->destroy(t->hv, r->domid) : 0;
		tgt_report(t, &r->id, r->name, rc, MIGR_OUTCOME_DESTROYED, "restored, paused, no "
			   "GO taken before the restart (none can come now): recorded destroyed, %s "
			   "domain %u", rc ? "could NOT destroy" : "destroyed", r->domid);
		return 0;
	}
	default:
		if (!is_incoming || !di.paused)
			return 0;
		rc = t->hv->ops->destroy(t->hv, r->domid);
		tgt_report(t, &r->id, r->name, rc, r->outcome, "the record says destroyed; %s "
			   "domain %u", rc ? "could NOT destroy" : "destroyed", r->domid);
		return 0;
	}
}

int migr_recover_target(struct migr_hv *hv, const char *record_dir,
			struct xentoollog_logger *lg,
			void (*report)(const struct migr_recover_report *r, void *arg), void *arg)
{
	struct tgt_ctx *t = calloc(1, sizeof(*t));
	uint32_t ids[1024];
	unsigned int n = 0;
	int rc;

	if (!t)
		return -ENOMEM;
	t->hv = hv;
	t->dir = record_dir ? record_dir : MIGR_STATE_DIR;
	t->lg = lg;
	t->report = report;
	t->arg = arg;
	rc = migr_record_list(t->dir, recover_one, t);
	if (!rc)
		rc = hv->ops->domain_list(hv, ids, 1024, &n);
	for (unsigned int i = 0; !rc && i < n; i++) {
		struct migr_dom_info di;
		bool kept = false;

		if (ids[i] == 0 || hv->ops->domain_info(hv, ids[i], &di) ||
		    !migr__ends_with(di.name, MIGR_SUFFIX_INCOMING) || !di.paused || di.shutdown)
			continue;
		for (unsigned int k = 0; k < t->n_keep; k++)
			kept |= t->keep[k] == ids[i];
		if (kept)
			continue;
		/* no record speaks for it: a reception that never sent READY */
		tgt_report(t, NULL, di.name, hv->ops->destroy(hv, ids[i]), MIGR_OUTCOME_UNKNOWN,
			   "domain %u: left by an interrupted reception that never sent READY; "
			   "destroyed", ids[i]);
	}
	free(t);
	return rc;
}

/*
 * recv.c: the target's driver, for one connection: a migration, or a RESOLVE question
 * about an earlier one; and its dialect for migr's own protocol (migr/proto.h,
 * docs/protocol.md). Stock xl's dialect is in recv_xl.c; both run the same steps.
 *
 * Entry points: migr_receive(), migr__recv_drive().
 *
 *   ACCEPT    HELLO both ways; PREFLIGHT checked (name, free memory, guest type, Xen
 *             version, name clash) and answered; CONFIG checked against PREFLIGHT
 *   RESTORE   the stream into NAME--incoming, left paused (libxl), in a thread of its
 *             own: once the whole stream is in, READY goes (below) while libxl finishes
 *   READY     record "restored-paused" (durable), READY sent; wait for GO (during the
 *             restore's tail, or after it if the restore ended first). Any failure or
 *             ABORT until GO, or a restore that fails after it: destroy our copy, record
 *             "destroyed", ABORT
 *   RUNNING   POINT OF NO RETURN (target): record "running" (durable) before anything
 *             else, rename to NAME, unpause, DONE. If rename or unpause fails: destroy,
 *             record "destroyed", ABORT(unpause) so that the source resumes.
 *
 * Everything from the peer is untrusted: the codec caps and checks the messages; here
 * the guest name must be one migr creates domains under, the config must parse as libxl
 * JSON and agree with PREFLIGHT (name, type, memory), and the memory must fit.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "migr/etcd.h"
#include "recv_int.h"
#include "fwd_mig.h"
#include "fwd_int.h"

/* Where the records (and the restore history) live. */
static const char *record_dir(const struct migr_recv_params *p)
{
	return p->record_dir ? p->record_dir : MIGR_STATE_DIR;
}

/* The deadline of a control phase (migr_recv_params.phase_timeout_ms). */
static unsigned int phase_ms(const struct migr_recv_params *p)
{
	return p->phase_timeout_ms ? p->phase_timeout_ms : 60000;
}

static enum migr_guest_type from_wire(uint32_t t)
{
	switch (t) {
	case MIGR_WIRE_GUEST_PV:  return MIGR_GUEST_PV;
	case MIGR_WIRE_GUEST_PVH: return MIGR_GUEST_PVH;
	case MIGR_WIRE_GUEST_HVM: return MIGR_GUEST_HVM;
	default:                  return MIGR_GUEST_UNKNOWN;
	}
}

/*
 * Moves the durable record from `from` to `outcome` (compare-and-set, docs/protocol.md
 * section 5): -ESTALE when a concurrent decider (a resolve answer, or the receiver taking
 * GO) got there first, with the winning outcome in *now_r.
 */
static int record(const struct migr_recv_params *p, const char *source,
		  const struct migr_id *id, uint32_t from, uint32_t outcome, uint32_t domid,
		  const char *name, uint32_t *now_r)
{
	struct migr_record r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.id = *id;
	r.outcome = outcome;
	r.domid = domid;
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.source, sizeof(r.source), "%s", source);
	rc = migr_record_transition(record_dir(p), from, &r, now_r);
	if (rc && rc != -ESTALE)
		migr__log(p->lg, XTL_ERROR, "cannot write the migration record (%s): %s",
			  migr_outcome_name(outcome), migr_strerror(rc));
	return rc;
}

/* Parses "MAJOR.MINOR..." */
static bool parse_version(const char *s, unsigned *maj, unsigned *min)
{
	return sscanf(s, "%u.%u", maj, min) == 2;
}

/*
 * Announces the guest on its bridges (hv->ops->announce): the first round right after the
 * unpause, before DONE; with `more`, the rest after it, as QEMU's announce-self spaces
 * them (50 ms, then 100 ms more each time). Returns the frames sent in all.
 */
#define ANNOUNCE_ROUNDS 5

unsigned int migr__announce(struct migr_hv *hv, uint32_t domid, bool more)
{
	uint32_t first = more ? 1 : 0, end = more ? ANNOUNCE_ROUNDS : 1;
	unsigned int sent = 0, n;

	if (!hv->ops->announce)
		return 0;
	for (uint32_t r = first; r < end; r++) {
		if (r) {
			uint32_t ms = migr__fwd_announce_gap(50, 100, r - 1);
			struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

			nanosleep(&ts, NULL);
		}
		if (hv->ops->announce(hv, domid, &n) == 0)
			sent += n;
	}
	return sent;
}

void migr__settle(struct migr_hv *hv, uint32_t domid, struct xentoollog_logger *lg,
                  struct migr_recv_result *res)
{
	struct migr_settle st;
	int rc;

	if (!hv->ops->settle)
		return;
	rc = hv->ops->settle(hv, domid, &st);
	res->net_back_us = st.net_back_us;
	res->first_frame_us = st.first_frame_us;
	res->vifs = st.vifs;
	res->vifs_connected = st.vifs_connected;
	if (rc < 0)
		migr__log(lg, XTL_WARN, "domain %u: the stock vif scripts could not all be put "
			  "back (%s); the fast hotplug helper stays named, and hands detach and "
			  "destroy to them", domid, migr_strerror(rc));
	if (st.vifs_connected < st.vifs)
		migr__log(lg, XTL_WARN, "domain %u: %u of %u vifs connected again within %u s of "
			  "the unpause (the guest's network driver has not reconnected)", domid,
			  st.vifs_connected, st.vifs, 10);
}

/* Admits a guest of mem_kib if free memory covers it, the reserve and what concurrent
 * receptions have claimed; claims it then (*claim_r). */
/*
 * The restore history: this target's own part of recent blackouts (restore tail and
 * unpause, in us), in DIR/restore-history (migr__history_add()). PREFLIGHT_REPLY carries
 * their median, so that the source's policy knows the part of the blackout that no
 * pre-copy round can shorten.
 */
#define HISTORY_FILE "restore-history"

/* With no history yet: the restore tail and unpause estimated from the guest's devices as
 * the rules let them through (CONFIG came with PREFLIGHT; 0 when it did not), every vif
 * on the stock script when this target does without the fast helper. */
static uint64_t restore_estimate_us(struct recv_ctx *x)
{
	struct migr_restore_devices d;

	if (!x->cfg.config.json || migr_config_devices(x->cfg.config.json, &d))
		return 0;
	if (!x->p->vif_helper) {
		d.vifs_stock += d.vifs_fast;
		d.vifs_fast = 0;
	}
	if (!x->p->late_devices)
		d.vifs_stock = d.vifs_fast = d.disks = 0;   /* added while the stream comes */
	return migr_restore_estimate_us(&d);
}

bool migr__admit(const struct migr_recv_params *p, uint64_t free_kib, uint64_t mem_kib,
                  uint64_t *need_r, uint64_t *claim_r)
{
	bool ok;

	if (!p->claims) {
		*need_r = mem_kib + p->reserve_kib;
		return mem_kib != 0 && *need_r <= free_kib;
	}
	pthread_mutex_lock(&p->claims->lock);
	*need_r = mem_kib + p->reserve_kib + p->claims->claimed_kib;
	ok = mem_kib != 0 && *need_r <= free_kib;
	if (ok) {
		p->claims->claimed_kib += mem_kib;
		*claim_r = mem_kib;
	}
	pthread_mutex_unlock(&p->claims->lock);
	return ok;
}

void migr__release_claim(const struct migr_recv_params *p, uint64_t *claim)
{
	if (!p->claims || !*claim)
		return;
	pthread_mutex_lock(&p->claims->lock);
	p->claims->claimed_kib -= *claim;
	pthread_mutex_unlock(&p->claims->lock);
	*claim = 0;
}

/* ---- the driver -------------------------------------------------------------------------- */

int recv__fault(struct recv_ctx *x, enum migr_fault point)
{
	int rc = migr__fault(x->p->faults, point, x->c, x->p->lg);

	if (rc == -MIGR_E_CRASHED)
		x->crashed = true;
	return rc;
}

static unsigned int go_deadline(const struct recv_ctx *x)
{
	return x->p->go_deadline_ms ? x->p->go_deadline_ms : 10000;
}

void recv__fail(struct recv_ctx *x, const char *fmt, ...)
{
	va_list ap;

	if (x->res->state_text[0])
		return;   /* the first reason is the one */
	va_start(ap, fmt);
	vsnprintf(x->res->state_text, sizeof(x->res->state_text), fmt, ap);
	va_end(ap);
}

/* ---- RESOLVE ---- */

/*
 * Answers a RESOLVE from the record: restored-paused is moved to destroyed first
 * (compare-and-set: a late GO can no longer unpause the copy), then the copy destroyed;
 * running is answered only while the domain exists (else lost). Any read error, or no
 * record, answers unknown: the source cannot take it as proof. Only the migration's
 * source may ask.
 */
static int answer_resolve(struct recv_ctx *x)
{
	struct migr_hv *hv = x->hv;
	struct migr_msg m, q;
	struct migr_record r;
	int rc;

	migr_msg_init(&q, MIGR_MSG_RESOLVE);
	rc = migr_msg_expect(x->c, MIGR_MSG_RESOLVE, &q);
	if (rc)
		return rc;
	migr_msg_init(&m, MIGR_MSG_RESOLVE_REPLY);
	m.resolve_reply.id = q.resolve.id;
	m.resolve_reply.host_id = x->host_id;
	m.resolve_reply.outcome = MIGR_OUTCOME_UNKNOWN;
	rc = migr_record_read(record_dir(x->p), &q.resolve.id, &r);
	if (rc == 0 && strcmp(r.source, x->source)) {
		migr__log(x->p->lg, XTL_ERROR, "RESOLVE of a migration from %s asked by %s: refused",
			  r.source, x->source);
		recv__fail(x, "RESOLVE refused: %s is not the migration's source", x->source);
		migr_msg_release(&q);
		migr_msg_send_abort(x->c, MIGR_ABORT_REFUSED, "not the migration's source");
		return -EPERM;
	}
	if (rc == 0) {
		struct migr_dom_info di;
		char incoming[MIGR_DOMNAME_MAX];
		bool here;

		migr__text(incoming, sizeof(incoming), "%s" MIGR_SUFFIX_INCOMING, r.name);
		here = r.domid && !hv->ops->domain_info(hv, r.domid, &di) &&
		       (!strcmp(di.name, r.name) || !strcmp(di.name, incoming));
		m.resolve_reply.outcome = r.outcome;
		m.resolve_reply.domid = r.domid;
		migr__text(m.resolve_reply.name, sizeof(m.resolve_reply.name), "%s", r.name);
		if (r.outcome == MIGR_OUTCOME_RESTORED_PAUSED) {
			uint32_t now = r.outcome;

			rc = record(x->p, r.source, &q.resolve.id, MIGR_OUTCOME_RESTORED_PAUSED,
				    MIGR_OUTCOME_DESTROYED, r.domid, r.name, &now);
			if (rc == 0) {
				if (here && !strcmp(di.name, incoming) && hv->ops->destroy(hv, r.domid))
					migr__log(x->p->lg, XTL_ERROR, "domain %u: could not destroy "
						  "the copy the record now says destroyed; it stays "
						  "paused and is destroyed at migrd's next start", r.domid);
				m.resolve_reply.outcome = MIGR_OUTCOME_DESTROYED;
			} else {
				m.resolve_reply.outcome = rc == -ESTALE ? now : MIGR_OUTCOME_UNKNOWN;
			}
		}
		if (m.resolve_reply.outcome == MIGR_OUTCOME_RUNNING && !here)
			m.resolve_reply.outcome = MIGR_OUTCOME_LOST;
	} else if (rc != -ENOENT) {
		migr__log(x->p->lg, XTL_ERROR, "cannot read the record of a migration asked about: "
			  "%s; answering unknown", migr_strerror(rc));
	}
	migr_msg_release(&q);
	migr__text(x->res->state_text, sizeof(x->res->state_text),
		   "answered a resolve question: %s", migr_outcome_name(m.resolve_reply.outcome));
	return migr_msg_send(x->c, &m);
}

/* ---- what every dialect checks ---- */

uint32_t recv__check_guest(struct recv_ctx *x, const struct migr_host_info *hi,
			   uint64_t mem_kib, char *why, size_t whylen)
{
	const char *no = NULL;
	uint64_t need_kib;
	uint32_t other;

	if (!migr_domname_ok(x->name)) {
		migr__text(why, whylen, "guest name is not acceptable%s",
			   migr_domname_reserved(x->name) ? " (it ends in a suffix migr reserves: "
			   "--incoming, --migratedaway)" : "");
		return MIGR_REFUSE_OTHER;
	}
	if (migr_hv_can_receive(hi, x->type, &no)) {
		migr__text(why, whylen, "%s", no);
		return MIGR_REFUSE_GUEST_TYPE;
	}
	if (!x->hv->ops->domain_find(x->hv, x->name, &other)) {
		migr__text(why, whylen, "a domain named %s exists on the target", x->name);
		return MIGR_REFUSE_NAME_CLASH;
	}
	/* NAME--incoming alone: a reception of the guest runs here, or the copy a backed-out
	 * one left is being removed (seconds, in a loaded dom0): a state that passes, so the
	 * source may try again (busy), where a domain of the guest's own name is a clash */
	if (!x->hv->ops->domain_find(x->hv, x->incoming, &other)) {
		migr__text(why, whylen, "%s exists on the target: a reception of %s is still "
			   "running or its copy is being removed; try again", x->incoming, x->name);
		return MIGR_REFUSE_BUSY;
	}
	if (!migr__admit(x->p, hi->free_kib, mem_kib, &need_kib, &x->claim)) {
		migr__text(why, whylen, "guest needs %llu KiB (with the reserve and incoming "
			   "guests), target has %llu KiB free", (unsigned long long)need_kib,
			   (unsigned long long)hi->free_kib);
		return MIGR_REFUSE_NOMEM;
	}
	return 0;
}

int recv__apply_rules(struct recv_ctx *x, char *why, size_t whylen)
{
	char *json = NULL;
	int rc;

	why[0] = '\0';
	rc = recv__fault(x, MIGR_FI_CONFIG_CHECK);
	if (rc)
		return rc;
	rc = migr_config_apply_rules(x->cfg.config.json, x->p->rules, &json, why, whylen);
	migr__log(x->p->lg, rc ? XTL_ERROR : XTL_INFO, "%s: %s", x->name[0] ? x->name : "guest",
		  rc || why[0] ? why : "configuration within the target's rules");
	if (rc)
		return -MIGR_E_PROTO;
	free(x->cfg.config.json);
	x->cfg.config.json = json;
	x->cfg.config.len = strlen(json);
	return 0;
}

/* ---- ACCEPT ---- */

static int accept_hello(struct recv_ctx *x)
{
	struct migr_msg m;
	char err[MIGR_ERR_MAX];
	uint32_t version;
	int rc;

	x->phase = MIGR_PHASE_ACCEPT;
	rc = migr_msg_expect(x->c, MIGR_MSG_HELLO, &x->peer);
	if (!rc)
		rc = migr_hello_check(&x->peer.hello, NULL, &version, err, sizeof(err));
	x->version = version;
	if (rc) {
		recv__fail(x, "bad HELLO: %s", rc == -MIGR_E_PROTO ? err : migr_conn_error(x->c));
		return rc;
	}
	x->id = x->peer.hello.id;
	migr_id_to_hex(&x->id, x->res->id);
	migr_msg_hello(&m, x->peer.hello.purpose, &x->id);
	rc = migr_msg_send(x->c, &m);
	if (rc)
		return rc;
	if (x->peer.hello.purpose == MIGR_PURPOSE_RESOLVE) {
		x->resolve = true;
		return answer_resolve(x);
	}
	migr_msg_release(&x->peer);
	return 0;
}

static int refuse(struct recv_ctx *x, struct migr_msg *m, uint32_t why, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int read_config(struct recv_ctx *x, char *why, size_t whylen);

static int refuse(struct recv_ctx *x, struct migr_msg *m, uint32_t why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->preflight_reply.reason, sizeof(m->preflight_reply.reason), fmt, ap);
	va_end(ap);
	m->preflight_reply.accept = false;
	m->preflight_reply.refuse = why;
	recv__fail(x, "refused: %s", m->preflight_reply.reason);
	migr_msg_send(x->c, m);
	x->source_aborted = true;   /* the source was told; nothing more to say */
	return -MIGR_E_ABORTED;
}

static int preflight(struct recv_ctx *x)
{
	struct migr_msg m;
	struct migr_host_info hi;
	const char *src_dir;
	char why[MIGR_TEXT_MAX];
	unsigned smaj, smin;
	uint32_t refusal;
	int rc;

	rc = migr_msg_expect(x->c, MIGR_MSG_PREFLIGHT, &x->peer);
	if (rc)
		return rc;
	if (x->version >= 2) {
		/* CONFIG came with PREFLIGHT: read before any answer (a connection closed with
		 * unread bytes is reset, and the answer with it) */
		rc = migr_msg_expect(x->c, MIGR_MSG_CONFIG, &x->cfg);
		if (rc)
			return rc;
	}
	migr__text(x->name, sizeof(x->name), "%s", x->peer.preflight.name);
	migr__text(x->res->name, sizeof(x->res->name), "%s", x->name);
	migr__text(x->incoming, sizeof(x->incoming), "%s" MIGR_SUFFIX_INCOMING, x->name);
	x->type = from_wire(x->peer.preflight.guest_type);
	migr_msg_init(&m, MIGR_MSG_PREFLIGHT_REPLY);
	rc = x->hv->ops->host_info(x->hv, &hi);
	if (rc)
		return refuse(x, &m, MIGR_REFUSE_OTHER, "target cannot read its host information");
	m.preflight_reply.free_kib = hi.free_kib;
	migr__text(m.preflight_reply.xen_version, sizeof(m.preflight_reply.xen_version), "%u.%u%s",
		   hi.xen_major, hi.xen_minor, hi.xen_extra);
	if (!parse_version(x->peer.preflight.xen_version, &smaj, &smin) ||
	    smaj != hi.xen_major || smin > hi.xen_minor)
		return refuse(x, &m, MIGR_REFUSE_XEN_VERSION, "source runs Xen %s, target %u.%u: "
			      "migration goes to the same or a newer minor version only",
			      x->peer.preflight.xen_version, hi.xen_major, hi.xen_minor);
	if (!x->p->etcd != !x->peer.preflight.fence_source[0])
		return refuse(x, &m, MIGR_REFUSE_OTHER, "%s; with etcd, both hosts fence the "
			      "commit or neither moves a guest", x->p->etcd ?
			      "this host fences the commit through etcd and the source does not" :
			      "the source fences the commit through etcd and this host has none");
	refusal = recv__check_guest(x, &hi, x->peer.preflight.memory_kib, why, sizeof(why));
	if (refusal) {
		m.preflight_reply.name_clash = refusal == MIGR_REFUSE_NAME_CLASH;
		return refuse(x, &m, refusal, "%s", why);
	}
	if (x->version >= 2) {
		/* CONFIG came with PREFLIGHT: a refusal names what the rules refused */
		rc = read_config(x, why, sizeof(why));
		if (rc == -MIGR_E_PROTO && why[0]) {
			migr__release_claim(x->p, &x->claim);
			return refuse(x, &m, MIGR_REFUSE_OTHER, "%s", why);
		}
		if (rc)
			return rc;
	}
	rc = recv__fault(x, MIGR_FI_PREFLIGHT_ANSWER);
	if (rc)
		return rc;
	m.preflight_reply.accept = true;
	if (x->p->etcd)
		migr__text(m.preflight_reply.fence_host, sizeof(m.preflight_reply.fence_host),
			   "%s", x->p->fence_self);
	m.preflight_reply.restore_hint_ns = migr__history_median(record_dir(x->p), HISTORY_FILE) * 1000;
	if (!m.preflight_reply.restore_hint_ns)
		m.preflight_reply.restore_estimate_ns = restore_estimate_us(x) * 1000;
	/* this host's own migrations out: for a source with no figures of its own yet */
	src_dir = x->p->src_record_dir ? x->p->src_record_dir : MIGR_SRC_STATE_DIR;
	m.preflight_reply.suspend_hint_ns =
		migr__history_median(src_dir, MIGR__SRC_SUSPEND_HISTORY) * 1000;
	m.preflight_reply.final_hint_ns = migr__history_median(src_dir, MIGR__SRC_FINAL_HISTORY) * 1000;
	m.preflight_reply.handshake_hint_ns =
		migr__history_median(src_dir, MIGR__SRC_HANDSHAKE_HISTORY) * 1000;
	return migr_msg_send(x->c, &m);
}

/*
 * Reads CONFIG and checks it: the guest is built from the target's rules (the restore
 * gets their output, migr/config_rules.h), and what is left must agree with PREFLIGHT
 * (name, type, memory). On a refusal *why holds the reason (naming each field refused).
 */
static int read_config(struct recv_ctx *x, char *why, size_t whylen)
{
	enum migr_guest_type ctype;
	char cname[MIGR_DOMNAME_MAX];
	uint64_t cmem = 0;
	int rc;

	why[0] = '\0';
	if (!x->cfg.config.json) {
		rc = migr_msg_expect(x->c, MIGR_MSG_CONFIG, &x->cfg);
		if (rc)
			return rc;
	}
	rc = recv__apply_rules(x, why, whylen);
	if (rc)
		return rc;
	rc = x->hv->ops->config_info(x->hv, x->cfg.config.json, cname, &ctype, &cmem);
	if (rc || strcmp(cname, x->name) || ctype != x->type ||
	    cmem > x->peer.preflight.memory_kib) {
		migr__text(why, whylen, "domain config does not match the pre-flight (name, type "
			   "or memory)");
		return -MIGR_E_PROTO;
	}
	x->config_ok = true;
	return 0;
}

/* Version 1: CONFIG comes after PREFLIGHT_REPLY; a refusal is an ABORT. */
static int late_config(struct recv_ctx *x)
{
	char why[MIGR_TEXT_MAX];
	int rc;

	if (x->config_ok)
		return 0;
	rc = read_config(x, why, sizeof(why));
	if (rc == -MIGR_E_PROTO && why[0]) {
		recv__fail(x, "%s", why);
		migr_msg_send_abort(x->c, MIGR_ABORT_CONFIG, why);
		x->source_aborted = true;
	}
	return rc;
}

static int send_ready(struct recv_ctx *x, uint32_t domid, bool early)
{
	struct migr_conn_stats cs;
	struct migr_msg m;

	migr_conn_stats(x->c, &cs);
	migr_msg_init(&m, MIGR_MSG_READY);
	m.ready.domid = domid;
	m.ready.bytes_in = cs.stream_in;
	m.ready.stream_ns = cs.stream_ns;
	m.ready.host_id = x->host_id;
	if (!early) {
		m.ready.restore_ns = x->res->restore_us * 1000;
		m.ready.devices_ns = x->res->devices_us * 1000;
	}
	return migr_msg_send(x->c, &m);
}

static int read_go(struct recv_ctx *x)
{
	struct migr_msg m;
	int rc = migr_msg_expect(x->c, MIGR_MSG_GO, &m);

	if (rc == -MIGR_E_ABORTED)
		x->source_aborted = true;
	return rc;
}

static void send_done(struct recv_ctx *x)
{
	struct migr_msg m;

	migr_msg_init(&m, MIGR_MSG_DONE);
	m.done.domid = x->domid;
	m.done.unpause_ns = x->res->unpause_us * 1000;
	m.done.restore_ns = x->res->restore_us * 1000;
	m.done.devices_ns = x->res->devices_us * 1000;
	if (migr_msg_send(x->c, &m))
		migr__log(x->p->lg, XTL_WARN, "domain %u: DONE not delivered (%s); the guest runs "
			  "here and the record says so, ignoring", x->domid, migr_conn_error(x->c));
}

/* The last message, for the source's summary; it may have gone: no matter. */
static void send_settled(struct recv_ctx *x)
{
	struct migr_msg m;

	migr_msg_init(&m, MIGR_MSG_SETTLED);
	m.settled.domid = x->domid;
	m.settled.net_back_ns = x->res->net_back_us * 1000;
	m.settled.vifs = x->res->vifs;
	m.settled.vifs_connected = x->res->vifs_connected;
	m.settled.first_frame_ns = x->res->first_frame_us * 1000;
	migr_msg_send(x->c, &m);
}

/* ABORT: the source resumes. After GO only once our copy is destroyed: else the source
 * hears nothing and keeps its suspended copy until a resolve. */
static void send_abort(struct recv_ctx *x, bool destroyed)
{
	if (x->running && !destroyed)
		return;
	migr_msg_send_abort(x->c, x->running ? MIGR_ABORT_UNPAUSE : x->phase == MIGR_PHASE_ACCEPT ?
			    MIGR_ABORT_OTHER : MIGR_ABORT_RESTORE, x->res->state_text);
}

static const struct migr__recv_dialect migr_dialect = {
	.name = "migr",
	.framed = true,
	.accept = accept_hello,
	.admit = preflight,
	.config = late_config,
	.ready = send_ready,
	.wait_go = read_go,
	.done = send_done,
	.settled = send_settled,
	.abort = send_abort,
};

/* ---- the driver's steps ---- */

static int greet(struct recv_ctx *x)
{
	return x->d->accept(x);
}

static int admit(struct recv_ctx *x)
{
	return x->d->admit(x);
}

static int config(struct recv_ctx *x)
{
	return x->d->config ? x->d->config(x) : 0;
}

/* ---- RESTORE and READY ---- */

static void *restore_main(void *arg)
{
	struct recv_job *j = arg;
	uint64_t one = 1;

	j->rc = j->hv->ops->restore(j->hv, &j->o, &j->info);
	j->t_end = migr__now_us();
	if (write(j->done_fd, &one, sizeof(one)) < 0) {
		/* an eventfd write fails only on overflow, impossible here */
	}
	return NULL;
}

/* Records restored-paused and sends READY for domain domid; then waits for GO within the
 * GO deadline. Used both while libxl finishes (early) and after the restore. */
static int ready_and_wait_go(struct recv_ctx *x, uint32_t domid, bool early)
{
	unsigned int old;
	int rc;

	rc = recv__fault(x, MIGR_FI_RECORD_PAUSED);
	if (rc)
		return rc;
	rc = record(x->p, x->source, &x->id, MIGR_OUTCOME_UNKNOWN, MIGR_OUTCOME_RESTORED_PAUSED,
		    domid, x->name, NULL);
	if (rc) {
		recv__fail(x, "cannot record the migration");
		return rc;
	}
	x->recorded = true;
	x->phase = MIGR_PHASE_READY;
	rc = recv__fault(x, MIGR_FI_READY);
	if (rc)
		return rc;
	rc = x->d->ready(x, domid, early);
	if (rc)
		return rc;
	x->ready_sent = true;
	rc = recv__fault(x, MIGR_FI_WAIT_GO);
	if (rc)
		return rc;
	old = migr_conn_set_io_timeout(x->c, go_deadline(x));
	rc = x->d->wait_go(x);
	migr_conn_set_io_timeout(x->c, old);
	x->t_go = migr__now_us();
	if (rc) {
		recv__fail(x, "no GO from the source (%s)", rc == -MIGR_E_ABORTED ? "it aborted" :
			  rc == -ETIMEDOUT ? "none within the deadline" : migr_conn_error(x->c));
		return rc;
	}
	x->go = true;
	return 0;
}

/* The whole stream is in while libxl still restores: READY now, GO during the tail.
 * libxl makes the domain before it reads the stream; a stream short enough to be in
 * before that is waited for (or the restore's end, which leaves READY to after). */
static void early_ready(struct recv_ctx *x)
{
	struct recv_job *j = &x->job;
	uint32_t domid;

	while (x->hv->ops->domain_find(x->hv, j->o.name, &domid)) {
		struct pollfd pf = { .fd = j->done_fd, .events = POLLIN };

		if (poll(&pf, 1, 10) != 0)
			return;
	}
	x->domid = domid;
	x->go_rc = ready_and_wait_go(x, domid, true);
}

/* The restore's device thread (xen_hv.c): the early devices exist, vifs included. */
static void devices_added(void *arg, uint32_t domid)
{
	uint64_t v = (uint64_t)domid + 1;

	if (write(*(int *)arg, &v, sizeof(v)) != sizeof(v))
		return;   /* forwarding is then set up before the unpause, as without */
}

/* The guest's vifs exist while the stream still comes: the delivery end of forwarding is
 * set up now, out of the blackout; the unpause only makes it live (forward()). */
static void forward_early(struct recv_ctx *x)
{
	uint64_t v;

	if (read(x->job.devices_fd, &v, sizeof(v)) != sizeof(v) || x->fwd_early)
		return;
	x->fwd_early = true;
	migr__fwdm_target_start(&x->fwd, x->res->id, x->hv, (uint32_t)(v - 1), x->c, x->p, true,
				&x->res->fwd);
}

/*
 * Runs the restore. When the whole stream has arrived before libxl returns (it then
 * builds the domain and its devices: the restore tail), READY goes at once and GO is
 * read during the tail, so that the final handshake costs the blackout no round trip
 * (docs/protocol.md, section 4). Meanwhile, once the devices added early exist, the
 * delivery end of forwarding is set up (forward_early()). Returns the restore's result.
 */
static int restore_run(struct recv_ctx *x)
{
	struct recv_job *j = &x->job;
	struct pollfd pf[3];
	unsigned int n = 2;
	pthread_t th;

	j->done_fd = x->d->framed ? eventfd(0, EFD_CLOEXEC) : -1;
	j->devices_fd = -1;
	if (j->done_fd >= 0 && x->d == &migr_dialect && !x->p->no_forward)
		j->devices_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (j->devices_fd >= 0) {
		j->o.devices_added = devices_added;
		j->o.devices_arg = &j->devices_fd;
		n = 3;
	}
	if (j->done_fd < 0 || pthread_create(&th, NULL, restore_main, j)) {
		j->o.devices_added = NULL;
		if (j->done_fd >= 0)
			close(j->done_fd);
		if (j->devices_fd >= 0)
			close(j->devices_fd);
		j->rc = j->hv->ops->restore(j->hv, &j->o, &j->info);
		j->t_end = migr__now_us();
		return j->rc;
	}
	pf[0].fd = migr_conn_stream_in_done_fd(x->c);
	pf[1].fd = j->done_fd;
	pf[2].fd = j->devices_fd;
	pf[0].events = pf[1].events = pf[2].events = POLLIN;
	for (;;) {
		pf[0].revents = pf[1].revents = pf[2].revents = 0;
		if (poll(pf, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		if (n == 3 && pf[2].revents) {
			forward_early(x);
			n = 2;
			continue;
		}
		if (pf[0].revents) {
			if (migr_conn_stream_in_complete(x->c))
				early_ready(x);
			break;
		}
	}
	pthread_join(th, NULL);
	close(j->done_fd);
	if (j->devices_fd >= 0)
		close(j->devices_fd);
	j->o.devices_added = NULL;
	return j->rc;
}

/*
 * libxl's restore starts only on a stream that has begun: a source that backs out between
 * CONFIG and its first DATA (its own checks, etcd's fence, a crash) would otherwise hand
 * libxl an empty stream, which libxl 4.17 reads as a header of zeros and then crashes the
 * process it runs in (migrd) on the way out, leaving a paused NAME--incoming behind.
 */
static int stream_started(struct recv_ctx *x)
{
	unsigned int io = migr_conn_set_io_timeout(x->c, 0);
	uint64_t bytes = 0;
	int rc, rc2;

	migr_conn_set_io_timeout(x->c, io);
	rc = migr_conn_stream_in_started(x->c, io ? io : 300000);
	if (!rc)
		return 0;
	rc2 = migr_conn_stream_in_end(x->c, &bytes);
	if (rc == -MIGR_E_ABORTED || rc2 == -MIGR_E_ABORTED) {
		uint32_t code = MIGR_ABORT_OTHER;
		const char *reason = NULL;

		x->source_aborted = true;
		migr_conn_peer_abort(x->c, &code, &reason);
		recv__fail(x, "source aborted before its stream (%s%s%s)", migr_abort_name(code),
			   reason && *reason ? ": " : "", reason ? reason : "");
		return -MIGR_E_ABORTED;
	}
	recv__fail(x, "the stream did not start: %s", rc == -ETIMEDOUT ?
		   "nothing within the I/O timeout" : migr_conn_error(x->c));
	return rc;
}

static int restore(struct recv_ctx *x)
{
	struct migr_conn_stats cs;
	uint64_t bytes = 0;
	int fd = -1, rc, rc2;

	x->phase = MIGR_PHASE_RESTORE;
	x->t0 = migr__now_us();
	migr_conn_set_deadline(x->c, 0);   /* the stream: bounded by the I/O timeout only */
	if (x->d->framed) {
		rc = migr_conn_stream_in(x->c, &fd);
		if (!rc)
			rc = stream_started(x);
		if (rc)
			return rc;
	} else {
		int wfd;   /* libxl reads the pipe itself */

		rc = migr_conn_raw_fds(x->c, &fd, &wfd);
	}
	if (rc)
		return rc;
	x->job.hv = x->hv;
	x->job.o.config_json = x->cfg.config.json;
	x->job.o.name = x->incoming;
	x->job.o.fd = fd;
	x->job.o.vif_helper = x->p->vif_helper;
	x->job.o.late_devices = x->p->late_devices;
	rc = restore_run(x);
	x->t_restored = x->job.t_end;
	migr__release_claim(x->p, &x->claim);   /* the domain holds its memory now, or gave it back */
	if (x->crashed)
		return -MIGR_E_CRASHED;
	if (!rc) {
		x->have_copy = true;
		if (x->recorded && x->domid != x->job.info.domid) {
			recv__fail(x, "restored as domain %u, not domain %u as READY said",
				  x->job.info.domid, x->domid);
			rc = -EIO;
		}
		x->domid = x->job.info.domid;
	}
	rc2 = x->d->framed ? migr_conn_stream_in_end(x->c, &bytes) : 0;
	migr_conn_set_deadline(x->c, phase_ms(x->p));
	if (rc2 == -MIGR_E_ABORTED)
		x->source_aborted = true;
	x->res->stream_bytes = bytes;
	migr_conn_stats(x->c, &cs);
	x->res->wire_bytes = cs.wire_in;
	x->res->zero_bytes = cs.stream_zero_in;
	x->res->compressed_bytes = cs.stream_cz_in;
	x->res->compress_saved_bytes = cs.stream_cz_in - cs.stream_cz_wire_in;
	x->res->stream_us = cs.stream_ns / 1000;
	/* the tail: from DATA_END's arrival (the source's start-up before its first DATA is
	 * not the target's) */
	if (!x->d->framed)
		x->res->restore_us = x->t_restored - x->t0;   /* the stream's end is libxl's */
	else if (cs.stream_end_ns && x->t_restored > cs.stream_end_ns / 1000)
		x->res->restore_us = x->t_restored - cs.stream_end_ns / 1000;
	else
		x->res->restore_us = x->t_restored - x->t0 > x->res->stream_us ?
				     x->t_restored - x->t0 - x->res->stream_us : 0;
	if (rc || rc2) {
		if (x->d->framed && (x->source_aborted || x->go_rc == -MIGR_E_ABORTED)) {
			uint32_t code;
			const char *reason = NULL;

			x->source_aborted = true;
			migr_conn_peer_abort(x->c, &code, &reason);
			recv__fail(x, "source aborted (%s%s%s)", migr_abort_name(code),
				  reason ? ": " : "", reason ? reason : "");
		} else {
			recv__fail(x, "restore failed: %s", rc ? migr_strerror(rc) :
				  migr_conn_error(x->c));
		}
		return rc ? rc : rc2;
	}
	x->res->domid = x->domid;
	x->res->devices_us = x->job.info.devices_us;
	x->res->fast_vifs = x->job.info.fast_vifs;
	x->res->early_vifs = x->job.info.early_vifs;
	x->res->early_disks = x->job.info.early_disks;
	x->res->late_devices = x->job.info.late_devices;
	x->res->early_devices_us = x->job.info.early_devices_us;
	x->res->early_before_end_us = x->job.info.early_before_end_us;
	return 0;
}

/* READY after the restore, when it did not go during the tail; or the result of the
 * early wait for GO. */
static int ready(struct recv_ctx *x)
{
	if (x->recorded) {
		x->t_go = x->t_go > x->t_restored ? x->t_go : x->t_restored;
		return x->go_rc;
	}
	return ready_and_wait_go(x, x->domid, false);
}

/*
 * The commit fenced by etcd: GO came, and the guest's location key must say it is ours
 * by this migration before anything makes the copy run. Read again while etcd does not
 * answer, for at most FENCE_CHECK_MS (or the GO deadline if shorter: the source's
 * blackout deadline, 8 s at least, must not run out first), a new read only when one as
 * long as the last still ends within it (a read of an etcd that drops packets takes the
 * client's whole 3 s timeout, so a second one would end past it); anything else, or no answer:
 * the copy is destroyed (unwind), and the source, told so, moves the key back before it
 * resumes the guest.
 */
#define FENCE_CHECK_MS 3000
static int fence_check(struct recv_ctx *x)
{
	struct migr_dom_info di;
	unsigned int ms = go_deadline(x) < FENCE_CHECK_MS ? go_deadline(x) : FENCE_CHECK_MS;
	uint64_t until = migr__now_us() + (uint64_t)ms * 1000;
	int rc;

	if (!x->p->etcd || x->d != &migr_dialect)
		return 0;
	rc = x->hv->ops->domain_info(x->hv, x->domid, &di);
	if (rc || migr_uuid_is_nil(di.uuid)) {
		recv__fail(x, "etcd: the restored guest has no UUID to find its location by");
		return rc ? rc : -EINVAL;
	}
	for (;;) {
		uint64_t t0 = migr__now_us(), took;

		rc = migr_fence_check(x->p->etcd, di.uuid, x->p->fence_self, x->res->id, x->p->lg);
		took = migr__now_us() - t0;
		/* another try only if one as long as this one still ends in time: an etcd that
		 * drops packets takes a whole call's timeout each time, and the source's DONE
		 * deadline does not wait for a second one */
		if (!rc || rc == -EPERM || rc == -EPROTO || migr__now_us() + took + 100000 >= until)
			break;
		usleep(100000);
	}
	if (rc == -EPERM)
		recv__fail(x, "etcd does not give %s to this host for this migration: not "
			   "running it", x->name);
	else if (rc)
		recv__fail(x, "etcd: the guest's location could not be read (%s): not running it",
			   migr_strerror(rc));
	return rc;
}

/* ---- RUNNING: POINT OF NO RETURN ---- */

static int record_running(struct recv_ctx *x)
{
	uint32_t now = 0;
	int rc;

	x->phase = MIGR_PHASE_RUNNING;
	rc = record(x->p, x->source, &x->id, MIGR_OUTCOME_RESTORED_PAUSED, MIGR_OUTCOME_RUNNING,
		    x->domid, x->name, &now);
	if (rc == -ESTALE) {
		/* a resolve answer destroyed our copy first: it is not ours to run */
		recv__fail(x, "GO came after a resolve destroyed our copy");
		x->recorded = false;
		return rc;
	}
	if (rc) {
		recv__fail(x, "cannot record the migration");
		return rc;
	}
	x->running = true;
	return 0;
}

static int rename_in(struct recv_ctx *x)
{
	int rc;

	rc = x->hv->ops->rename(x->hv, x->domid, x->incoming, x->name);
	if (rc)
		recv__fail(x, "could not rename the guest");
	return rc;
}

/* Before the unpause: what the source forwards (and holds) reaches the guest's vifs. Set
 * up while the stream came (forward_early()), it only goes live here: its announcements,
 * quiet period and maximum start; a set-up that failed then is not tried again. */
static int forward(struct recv_ctx *x)
{
	if (x->d != &migr_dialect) {
		snprintf(x->res->fwd.why, sizeof(x->res->fwd.why), "the source is stock xl");
		return 0;
	}
	if (x->fwd_early) {
		migr__fwdm_target_live(x->fwd);
		return 0;
	}
	return migr__fwdm_target_start(&x->fwd, x->res->id, x->hv, x->domid, x->c, x->p, false,
				       &x->res->fwd);
}

static void switchover_hooks(struct recv_ctx *x)
{
	struct sockaddr_storage l, p;
	char src[64] = "", dst[64] = "";
	struct migr__switchover sw = { .id = x->res->id, .guest = x->name };

	if ((!x->p->on_switchover || !*x->p->on_switchover) &&
	    (!x->p->switchover_hook_dir || !*x->p->switchover_hook_dir))
		return;
	if (migr_conn_addrs(x->c, &l, &p) == 0) {
		migr__sockaddr_text(&p, src, sizeof(src));
		migr__sockaddr_text(&l, dst, sizeof(dst));
	}
	sw.source = src;
	sw.target = dst;
	migr__fwdm_switchover_info(x->fwd, x->hv, x->domid, &sw);
	migr__switchover_hooks(x->p->on_switchover, x->p->switchover_hook_dir, &sw, x->p->lg);
}

static int unpause(struct recv_ctx *x)
{
	int rc = 0;

	if (!x->p->paused)
		rc = x->hv->ops->unpause(x->hv, x->domid);
	x->res->unpause_us = migr__now_us() - x->t_go;
	if (rc) {
		recv__fail(x, "could not unpause the guest");
		return rc;
	}
	if (!x->p->paused)
		migr__announce(x->hv, x->domid, 0);
	return 0;
}

/* From here the guest runs here: failures are warnings. */
static int done(struct recv_ctx *x)
{
	x->phase = MIGR_PHASE_DONE;
	x->d->done(x);
	if (!x->p->paused)
		switchover_hooks(x);
	return 0;
}

static int settle(struct recv_ctx *x)
{
	struct migr_recv_result *res = x->res;

	if (!x->p->paused)
		res->announced = migr__announce(x->hv, x->domid, 1);
	migr__settle(x->hv, x->domid, x->p->lg, res);
	if (x->d->settled)
		x->d->settled(x);
	/* after SETTLED, off the source's wait: xenconsoled opened the guest's log under its
	 * temporary name (console_log.c) */
	migr__console_log_follow(x->hv, x->domid, x->incoming, x->name, x->p->lg);
	if (!x->p->paused)
		migr__history_add(record_dir(x->p), HISTORY_FILE, res->restore_us + res->unpause_us, x->p->lg);
	return 0;
}

static const struct {
	enum migr_fault point;
	int (*run)(struct recv_ctx *x);
	const char *name;   /* in the debug log's step timings */
} steps[] = {
	{ MIGR_FI_ACCEPT,          greet,           "greet" },
	{ MIGR_FI_NONE,            admit,           "admit" }, /* preflight-answer, config-check inside */
	{ MIGR_FI_NONE,            config,          "config" }, /* config-check inside */
	{ MIGR_FI_RESTORE,         restore,         "restore" },
	{ MIGR_FI_RESTORE_TAIL,    NULL,            NULL },
	{ MIGR_FI_NONE,            ready,           "ready" }, /* record-paused, ready, wait-go inside */
	{ MIGR_FI_FENCE_CHECK,     fence_check,     "fence_check" },
	{ MIGR_FI_RECORD_RUNNING,  record_running,  "record_running" },
	{ MIGR_FI_RENAME,          rename_in,       "rename_in" },
	{ MIGR_FI_FORWARD,         forward,         "forward" },
	{ MIGR_FI_UNPAUSE,         unpause,         "unpause" },
	{ MIGR_FI_DONE,            done,            "done" },
	{ MIGR_FI_SETTLE,          settle,          "settle" },
};

/*
 * The one unwind. Before the record says running: destroy our copy, record destroyed
 * (the copy will never run), tell the source so that it resumes. After it: destroy our
 * copy, and only once it is destroyed record destroyed and grant the source its guest
 * back; if it cannot be destroyed the record stays running and the source is not
 * granted anything, so that it keeps its suspended copy until a resolve (the copy here
 * is finished by recovery).
 */
static int unwind(struct recv_ctx *x, int rc)
{
	bool destroyed = !x->have_copy;

	migr__fwdm_abandon(x->fwd);
	x->fwd = NULL;
	if (x->resolve) {
		x->phase = rc ? MIGR_PHASE_ABORTED : MIGR_PHASE_DONE;
		return rc ? -MIGR_E_ABORTED : 0;
	}
	recv__fail(x, "%s", rc == -MIGR_E_PROTO || !rc ? migr_conn_error(x->c) : migr_strerror(rc));
	if (x->have_copy) {
		destroyed = x->hv->ops->destroy(x->hv, x->domid) == 0;
		if (!destroyed)
			migr__log(x->p->lg, XTL_ERROR, "domain %u: could not destroy our copy",
				  x->domid);
	}
	if (x->running && destroyed)
		record(x->p, x->source, &x->id, MIGR_OUTCOME_RUNNING, MIGR_OUTCOME_DESTROYED,
		       x->domid, x->name, NULL);
	else if (x->recorded && !x->running)
		record(x->p, x->source, &x->id, MIGR_OUTCOME_RESTORED_PAUSED,
		       MIGR_OUTCOME_DESTROYED, x->domid, x->name, NULL);
	if (!x->source_aborted)
		x->d->abort(x, destroyed);
	if (x->running && !destroyed) {
		x->phase = MIGR_PHASE_FAILED;
		return -EIO;
	}
	x->phase = MIGR_PHASE_ABORTED;
	return -MIGR_E_ABORTED;
}

/* Who the source is, for the record and for RESOLVE: its authenticated identity, else
 * its address without the port. */
static void source_key(struct recv_ctx *x)
{
	const char *ident = x->p->peer_identity ? x->p->peer_identity
						: migr_conn_peer_identity(x->c);
	const char *addr = x->p->peer ? x->p->peer : "";
	const char *colon = strrchr(addr, ':');

	if (ident && ident[0])
		migr__text(x->source, sizeof(x->source), "%s", ident);
	else if (colon && addr[0] != '[' && strchr(addr, ':') == colon)
		migr__text(x->source, sizeof(x->source), "%.*s", (int)(colon - addr), addr);
	else if (addr[0] == '[' && (colon = strstr(addr, "]:")))
		migr__text(x->source, sizeof(x->source), "%.*s", (int)(colon - addr + 1), addr);
	else
		migr__text(x->source, sizeof(x->source), "%s", addr);
}

int migr_receive(struct migr_hv *hv, struct migr_conn *c, const struct migr_recv_params *p,
		 struct migr_recv_result *res)
{
	return migr__recv_drive(hv, c, p, res, &migr_dialect);
}

int migr__recv_drive(struct migr_hv *hv, struct migr_conn *c, const struct migr_recv_params *p,
		     struct migr_recv_result *res, const struct migr__recv_dialect *d)
{
	struct recv_ctx *x = calloc(1, sizeof(*x));
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (!x) {
		migr__text(res->state_text, sizeof(res->state_text), "out of memory");
		res->phase = MIGR_PHASE_ABORTED;
		return -ENOMEM;
	}
	x->d = d;
	x->hv = hv;
	x->c = c;
	x->p = p;
	x->res = res;
	x->phase = MIGR_PHASE_ACCEPT;
	migr_msg_init(&x->peer, MIGR_MSG_HELLO);
	migr_msg_init(&x->cfg, MIGR_MSG_CONFIG);
	source_key(x);
	migr_conn_set_deadline(c, phase_ms(p));   /* HELLO .. CONFIG, or RESOLVE */
	rc = migr_host_id(record_dir(p), &x->host_id);
	if (rc) {
		migr__log(p->lg, XTL_ERROR, "cannot read or make the host id in %s: %s",
			  record_dir(p), migr_strerror(rc));
		migr__text(res->state_text, sizeof(res->state_text), "the target's state directory "
			   "%s is not usable: %s", record_dir(p), migr_strerror(rc));
	}
	for (unsigned int i = 0; !rc && i < sizeof(steps) / sizeof(steps[0]); i++) {
		rc = recv__fault(x, steps[i].point);
		if (!rc && steps[i].run) {
			uint64_t t0 = migr__now_us();

			rc = steps[i].run(x);
			migr__log(p->lg, XTL_DETAIL, "step %s: %.1f ms%s", steps[i].name,
				  (double)(migr__now_us() - t0) / 1000.0, rc ? " (failed)" : "");
		}
		if (x->crashed)
			rc = -MIGR_E_CRASHED;
		if (rc && rc != -MIGR_E_CRASHED && x->phase == MIGR_PHASE_DONE)
			rc = 0;   /* the guest runs here: the rest is bookkeeping */
		if (x->resolve)
			break;   /* answered: the rest is a migration's */
	}
	if (rc == -MIGR_E_CRASHED) {
		/* as a dead process: nothing cleaned up */
	} else if (rc || x->resolve) {
		rc = unwind(x, rc);   /* a host id that cannot be read too: nothing was made */
	} else {
		migr__text(res->state_text, sizeof(res->state_text), "%s runs here (domain %u)",
			   x->name, x->domid);
	}
	if (!rc && x->phase == MIGR_PHASE_DONE)
		migr__fwdm_adopt(x->fwd);   /* goes on until the fabric has rerouted */
	else
		migr__fwdm_abandon(x->fwd);
	x->fwd = NULL;
	migr__release_claim(p, &x->claim);
	res->phase = x->phase;
	migr_msg_release(&x->peer);
	migr_msg_release(&x->cfg);
	free(x);
	return rc;
}

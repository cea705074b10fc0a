/*
 * recv.c: the target's driver over migr's own protocol (migr/proto.h, docs/protocol.md),
 * for one connection: a migration, or a RESOLVE question about an earlier one.
 *
 * Entry point: migr_receive().
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
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "send_int.h"
#include "fwd_int.h"

/* Where the records (and the restore history) live. */
static const char *record_dir(const struct migr_recv_params *p)
{
	return p->record_dir ? p->record_dir : MIGR_STATE_DIR;
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
static int record(const struct migr_recv_params *p, const struct migr_id *id, uint32_t from,
		  uint32_t outcome, uint32_t domid, const char *name, uint32_t *now_r)
{
	struct migr_record r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.id = *id;
	r.outcome = outcome;
	r.domid = domid;
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.source, sizeof(r.source), "%s", p->peer ? p->peer : "");
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

static int answer_resolve(struct migr_hv *hv, struct migr_conn *c,
			  const struct migr_recv_params *p, const struct migr_id *id)
{
	struct migr_msg m, q;
	struct migr_record r;
	int rc;

	migr_msg_init(&q, MIGR_MSG_RESOLVE);
	rc = migr_msg_expect(c, MIGR_MSG_RESOLVE, &q);
	if (rc)
		return rc;
	migr_msg_init(&m, MIGR_MSG_RESOLVE_REPLY);
	m.resolve_reply.id = q.resolve.id;
	rc = migr_record_read(record_dir(p), &q.resolve.id, &r);
	if (rc == 0) {
		m.resolve_reply.outcome = r.outcome;
		m.resolve_reply.domid = r.domid;
		migr__text(m.resolve_reply.name, sizeof(m.resolve_reply.name), "%s", r.name);
		/* A copy still paused after its source asked: the source cannot GO any more
		 * (it is asking instead), so ours is destroyed, unless the receiver took GO
		 * first: the compare-and-set decides, and the answer is what was carried out. */
		if (r.outcome == MIGR_OUTCOME_RESTORED_PAUSED) {
			uint32_t now = r.outcome;
			rc = record(p, &q.resolve.id, MIGR_OUTCOME_RESTORED_PAUSED,
				    MIGR_OUTCOME_DESTROYED, r.domid, r.name, &now);
			if (rc == 0) {
				struct migr_dom_info di;
				char incoming[MIGR_DOMNAME_MAX];
				migr__text(incoming, sizeof(incoming), "%s--incoming", r.name);
				if (!hv->ops->domain_info(hv, r.domid, &di) &&
				    !strcmp(di.name, incoming))
					hv->ops->destroy(hv, r.domid);
				m.resolve_reply.outcome = MIGR_OUTCOME_DESTROYED;
			} else if (rc == -ESTALE) {
				m.resolve_reply.outcome = now;
			} else {
				m.resolve_reply.outcome = MIGR_OUTCOME_RESTORED_PAUSED;
			}
		}
	} else {
		m.resolve_reply.outcome = MIGR_OUTCOME_UNKNOWN;
	}
	migr_msg_release(&q);
	(void)id;
	return migr_msg_send(c, &m);
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
	unsigned int sent = 0;
	int n;

	if (!hv->ops->announce)
		return 0;
	for (uint32_t r = first; r < end; r++) {
		if (r) {
			uint32_t ms = migr__fwd_announce_gap(50, 100, r - 1);
			struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

			nanosleep(&ts, NULL);
		}
		n = hv->ops->announce(hv, domid);
		if (n > 0)
			sent += (unsigned int)n;
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
 * unpause, in us), one figure per line in DIR/restore-history, the last HISTORY_MAX kept.
 * PREFLIGHT_REPLY carries their median, so that the source's policy knows the part of the
 * blackout that no pre-copy round can shorten. The file is ours (0600, under the state
 * directory), but it is read like any input: bad lines are skipped.
 */
#define HISTORY_FILE "restore-history"
#define HISTORY_MAX 5

static unsigned int history_read(const char *dir, uint64_t v[HISTORY_MAX])
{
	char path[512], buf[256], *line, *save = NULL;
	unsigned int n = 0;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/" HISTORY_FILE, dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *end;
		unsigned long long x;

		errno = 0;
		x = strtoull(line, &end, 10);
		if (errno || *end || end == line || x == 0 ||
		    x > MIGR_RESTORE_HINT_MAX_NS / 1000)
			continue;
		if (n == HISTORY_MAX) {   /* keep the last ones */
			memmove(v, v + 1, (HISTORY_MAX - 1) * sizeof(*v));
			n--;
		}
		v[n++] = x;
	}
	return n;
}

/* The median of the history, 0 if there is none. */
static uint64_t history_hint(const char *dir)
{
	uint64_t v[HISTORY_MAX];
	unsigned int n = history_read(dir, v);

	for (unsigned int i = 1; i < n; i++)
		for (unsigned int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

static void history_add(const char *dir, uint64_t us, struct xentoollog_logger *lg)
{
	uint64_t v[HISTORY_MAX + 1];
	char path[512], tmp[520];
	unsigned int n, first;
	FILE *f;
	int fd;

	if (!us || us > MIGR_RESTORE_HINT_MAX_NS / 1000)
		return;
	n = history_read(dir, v);
	v[n++] = us;
	first = n > HISTORY_MAX ? n - HISTORY_MAX : 0;   /* the last HISTORY_MAX are kept */
	snprintf(path, sizeof(path), "%s/" HISTORY_FILE, dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		migr__log(lg, XTL_DETAIL, "cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	for (unsigned int i = first; i < n; i++)
		fprintf(f, "%llu\n", (unsigned long long)v[i]);
	if (fclose(f) || rename(tmp, path)) {
		migr__log(lg, XTL_DETAIL, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	}
}

static bool admit(const struct migr_recv_params *p, uint64_t free_kib, uint64_t mem_kib,
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

static void release_claim(const struct migr_recv_params *p, uint64_t *claim)
{
	if (!p->claims || !*claim)
		return;
	pthread_mutex_lock(&p->claims->lock);
	p->claims->claimed_kib -= *claim;
	pthread_mutex_unlock(&p->claims->lock);
	*claim = 0;
}

/* The restore, in a thread of its own, so that the receiver can talk meanwhile. */
struct restore_job {
	struct migr_hv *hv;
	const char *json, *name;
	int fd;
	int done_fd;          /* eventfd, written when the restore returned */
	uint32_t domid;
	int rc;
	uint64_t t_end;       /* migr__now_us() when it returned */
};

/* What the receiver did while libxl finished. */
struct early_ready {
	bool recorded;        /* the record says restored-paused and READY went */
	uint32_t domid;       /* the domain READY named */
	int go_rc;            /* 0: GO arrived; else why not */
	uint64_t t_go;        /* when GO (or the failure) came */
};

static uint32_t recorded_domid(uint32_t domid, const struct early_ready *e)
{
	return e->recorded ? e->domid : domid;
}

static void *restore_main(void *arg)
{
	struct restore_job *j = arg;
	uint64_t one = 1;

	j->rc = j->hv->ops->restore(j->hv, j->json, j->name, j->fd, &j->domid);
	j->t_end = migr__now_us();
	if (write(j->done_fd, &one, sizeof(one)) < 0) {
		/* an eventfd write fails only on overflow, impossible here */
	}
	return NULL;
}

/* The whole stream is in while libxl still restores: record restored-paused, send READY
 * (its restore figures go in DONE instead) and wait for GO. */
static void early_ready(struct restore_job *j, struct migr_conn *c,
			const struct migr_recv_params *p, const struct migr_id *id,
			const char *name, struct early_ready *e)
{
	struct migr_conn_stats cs;
	struct migr_msg m;

	/* libxl makes the domain before it reads the stream; a stream short enough to be
	 * in before that is waited for (or the restore's end, which leaves READY to after) */
	while (j->hv->ops->domain_find(j->hv, j->name, &e->domid)) {
		struct pollfd pf = { .fd = j->done_fd, .events = POLLIN };

		if (poll(&pf, 1, 10) != 0)
			return;
	}
	if (record(p, id, MIGR_OUTCOME_UNKNOWN, MIGR_OUTCOME_RESTORED_PAUSED, e->domid, name,
		   NULL))
		return;
	e->recorded = true;
	migr_conn_stats(c, &cs);
	migr_msg_init(&m, MIGR_MSG_READY);
	m.ready.domid = e->domid;
	m.ready.bytes_in = cs.stream_in;
	m.ready.stream_ns = cs.stream_ns;
	e->go_rc = migr_msg_send(c, &m);
	if (!e->go_rc)
		e->go_rc = migr_msg_expect(c, MIGR_MSG_GO, &m);
	e->t_go = migr__now_us();
}

/*
 * Runs the restore. When the whole stream has arrived before libxl returns (it then
 * builds the domain and its devices: the restore tail), READY goes at once and GO is
 * read during the tail, so that the final handshake costs the blackout no round trip
 * (docs/protocol.md, section 4). The domain READY names is found under its incoming
 * name. If the restore returns first, the stream failed, or the domain is not found,
 * nothing is sent here and the caller sends READY after the restore. Returns the
 * restore's result; *e says what was sent and received.
 */
static int restore_run(struct restore_job *j, struct migr_conn *c,
		       const struct migr_recv_params *p, const struct migr_id *id,
		       const char *name, struct early_ready *e)
{
	struct pollfd pf[2];
	pthread_t th;

	e->go_rc = -EAGAIN;
	j->done_fd = eventfd(0, EFD_CLOEXEC);
	if (j->done_fd < 0 || pthread_create(&th, NULL, restore_main, j)) {
		if (j->done_fd >= 0)
			close(j->done_fd);
		j->rc = j->hv->ops->restore(j->hv, j->json, j->name, j->fd, &j->domid);
		j->t_end = migr__now_us();
		return j->rc;
	}
	pf[0].fd = migr_conn_stream_in_done_fd(c);
	pf[1].fd = j->done_fd;
	pf[0].events = pf[1].events = POLLIN;
	for (;;) {
		pf[0].revents = pf[1].revents = 0;
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		if (pf[0].revents) {
			if (migr_conn_stream_in_complete(c))
				early_ready(j, c, p, id, name, e);
			break;
		}
	}
	pthread_join(th, NULL);
	close(j->done_fd);
	return j->rc;
}

int migr_receive(struct migr_hv *hv, struct migr_conn *c, const struct migr_recv_params *p,
		 struct migr_recv_result *res)
{
	struct migr_msg m, peer, cfg;
	struct migr_host_info hi;
	struct migr_id id;
	enum migr_guest_type type, ctype;
	enum migr_phase phase = MIGR_PHASE_ACCEPT;
	char err[MIGR_ERR_MAX], incoming[MIGR_DOMNAME_MAX], cname[MIGR_DOMNAME_MAX];
	const char *why = NULL;
	uint32_t version, domid = ~0u, refuse = MIGR_REFUSE_NONE;
	uint64_t cmem = 0, need_kib, t0, t_restored, t_go, bytes = 0, claim = 0;
	struct migr_conn_stats cs;
	struct restore_job job;
	struct early_ready early;
	bool have_copy = false, resolved = false, recorded = false;
	int fd = -1, rc, rc2;

	memset(res, 0, sizeof(*res));
	memset(&job, 0, sizeof(job));
	memset(&early, 0, sizeof(early));
	migr_msg_init(&peer, MIGR_MSG_HELLO);
	migr_msg_init(&cfg, MIGR_MSG_CONFIG);

	/* ---- ACCEPT ---- */
	rc = migr_msg_expect(c, MIGR_MSG_HELLO, &peer);
	if (!rc)
		rc = migr_hello_check(&peer.hello, NULL, &version, err, sizeof(err));
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "bad HELLO: %s",
			 rc == -MIGR_E_PROTO ? err : migr_conn_error(c));
		goto out_nothing;
	}
	id = peer.hello.id;
	migr_id_to_hex(&id, res->id);
	migr_msg_init(&m, MIGR_MSG_HELLO);
	m.hello.version = MIGR_PROTO_VERSION;
	m.hello.min_version = MIGR_PROTO_MIN_VERSION;
	m.hello.purpose = peer.hello.purpose;
	m.hello.id = id;
	migr__text(m.hello.software, sizeof(m.hello.software), "migr %s", migr_version());
	rc = migr_msg_send(c, &m);
	if (rc)
		goto out_nothing;
	if (peer.hello.purpose == MIGR_PURPOSE_RESOLVE) {
		rc = answer_resolve(hv, c, p, &id);
		resolved = rc == 0;
		migr__text(res->state_text, sizeof(res->state_text), "answered a resolve question");
		goto out_nothing;
	}
	migr_msg_release(&peer);

	rc = migr_msg_expect(c, MIGR_MSG_PREFLIGHT, &peer);
	if (rc)
		goto out_nothing;
	migr__text(res->name, sizeof(res->name), "%s", peer.preflight.name);
	type = from_wire(peer.preflight.guest_type);
	migr_msg_init(&m, MIGR_MSG_PREFLIGHT_REPLY);
	rc = hv->ops->host_info(hv, &hi);
	if (rc) {
		refuse = MIGR_REFUSE_OTHER;
		migr__text(m.preflight_reply.reason, sizeof(m.preflight_reply.reason),
			 "target cannot read its host information");
		goto refuse;
	}
	m.preflight_reply.free_kib = hi.free_kib;
	migr__text(m.preflight_reply.xen_version, sizeof(m.preflight_reply.xen_version), "%u.%u%s",
		 hi.xen_major, hi.xen_minor, hi.xen_extra);
	if (!migr_domname_ok(peer.preflight.name)) {
		refuse = MIGR_REFUSE_OTHER;
		migr__text(m.preflight_reply.reason, sizeof(m.preflight_reply.reason),
			 "guest name is not acceptable");
		goto refuse;
	}
	if (migr_hv_can_receive(&hi, type, &why)) {
		refuse = MIGR_REFUSE_GUEST_TYPE;
		migr__text(m.preflight_reply.reason, sizeof(m.preflight_reply.reason), "%s", why);
		goto refuse;
	}
	{
		unsigned smaj, smin;
		if (!parse_version(peer.preflight.xen_version, &smaj, &smin) ||
		    smaj != hi.xen_major || smin > hi.xen_minor) {
			refuse = MIGR_REFUSE_XEN_VERSION;
			migr__text(m.preflight_reply.reason, sizeof(m.preflight_reply.reason),
				 "source runs Xen %s, target %u.%u: migration goes to the same or a "
				 "newer minor version only", peer.preflight.xen_version,
				 hi.xen_major, hi.xen_minor);
			goto refuse;
		}
	}
	if (!admit(p, hi.free_kib, peer.preflight.memory_kib, &need_kib, &claim)) {
		refuse = MIGR_REFUSE_NOMEM;
		migr__text(m.preflight_reply.reason, sizeof(m.preflight_reply.reason),
			 "guest needs %llu KiB (with the reserve and incoming guests), target has "
			 "%llu KiB free", (unsigned long long)need_kib,
			 (unsigned long long)hi.free_kib);
		goto refuse;
	}
	migr__text(incoming, sizeof(incoming), "%s--incoming", peer.preflight.name);
	{
		uint32_t other;
		if (!hv->ops->domain_find(hv, peer.preflight.name, &other) ||
		    !hv->ops->domain_find(hv, incoming, &other)) {
			refuse = MIGR_REFUSE_NAME_CLASH;
			m.preflight_reply.name_clash = true;
			migr__text(m.preflight_reply.reason, sizeof(m.preflight_reply.reason),
				 "a domain named %s (or %s) exists on the target",
				 peer.preflight.name, incoming);
			goto refuse;
		}
	}
	m.preflight_reply.accept = true;
	m.preflight_reply.restore_hint_ns =
		history_hint(record_dir(p)) * 1000;
	rc = migr_msg_send(c, &m);
	if (rc)
		goto out_nothing;

	rc = migr_msg_expect(c, MIGR_MSG_CONFIG, &cfg);
	if (rc)
		goto out_nothing;
	/* The guest is built from the target's rules: the restore gets their output. */
	{
		char *json = NULL, why[MIGR_TEXT_MAX];

		rc = migr_config_apply_rules(cfg.config.json, p->rules, &json, why, sizeof(why));
		migr__log(p->lg, rc ? XTL_ERROR : XTL_INFO, "%s: %s", peer.preflight.name,
			  rc || why[0] ? why : "configuration within the target's rules");
		if (rc) {
			migr__text(res->state_text, sizeof(res->state_text), "%s", why);
			migr_msg_send_abort(c, MIGR_ABORT_CONFIG, why);
			goto out_nothing;
		}
		free(cfg.config.json);
		cfg.config.json = json;
		cfg.config.len = strlen(json);
	}
	rc = hv->ops->config_info(hv, cfg.config.json, cname, &ctype, &cmem);
	if (rc || strcmp(cname, peer.preflight.name) || ctype != type ||
	    cmem > peer.preflight.memory_kib) {
		migr__text(res->state_text, sizeof(res->state_text),
			 "domain config does not match the pre-flight (name, type or memory)");
		migr_msg_send_abort(c, MIGR_ABORT_CONFIG, res->state_text);
		rc = -MIGR_E_PROTO;
		goto out_nothing;
	}

	/* ---- RESTORE ---- */
	phase = MIGR_PHASE_RESTORE;
	t0 = migr__now_us();
	rc = migr_conn_stream_in(c, &fd);
	if (rc)
		goto out_nothing;
	if (p->fault == MIGR_FI_RESTORE) {
		migr__log(p->lg, XTL_ERROR, "fault injected: restore fails");
		rc = -EIO;
		t_restored = migr__now_us();
	} else {
		/* READY goes as soon as the whole stream is in, while libxl finishes (the
		 * restore tail); GO then comes back meanwhile, out of the blackout's way. */
		job.hv = hv;
		job.json = cfg.config.json;
		job.name = incoming;
		job.fd = fd;
		rc = restore_run(&job, c, p, &id, peer.preflight.name, &early);
		domid = job.domid;
		t_restored = job.t_end;
	}
	release_claim(p, &claim);   /* the domain holds its memory now, or gave it back */
	have_copy = rc == 0;
	recorded = early.recorded;
	if (early.recorded)
		phase = MIGR_PHASE_READY;
	rc2 = migr_conn_stream_in_end(c, &bytes);
	res->stream_bytes = bytes;
	migr_conn_stats(c, &cs);
	res->stream_us = cs.stream_ns / 1000;
	/* the tail: from DATA_END's arrival (the source's start-up before its first DATA
	 * is not the target's) */
	if (cs.stream_end_ns && t_restored > cs.stream_end_ns / 1000)
		res->restore_us = t_restored - cs.stream_end_ns / 1000;
	else
		res->restore_us = t_restored - t0 > res->stream_us ? t_restored - t0 - res->stream_us
		                                                    : 0;
	if (!rc && !rc2 && early.recorded && early.domid != domid) {
		migr__text(res->state_text, sizeof(res->state_text), "restored as domain %u, not "
			   "domain %u as READY said", domid, early.domid);
		migr_msg_send_abort(c, MIGR_ABORT_RESTORE, res->state_text);
		goto out_destroy;
	}
	if (rc || rc2) {
		if (rc2 == -MIGR_E_ABORTED || early.go_rc == -MIGR_E_ABORTED) {
			uint32_t code;
			const char *reason = NULL;
			migr_conn_peer_abort(c, &code, &reason);
			migr__text(res->state_text, sizeof(res->state_text), "source aborted (%s%s%s)",
				 migr_abort_name(code), reason ? ": " : "", reason ? reason : "");
		} else {
			migr__text(res->state_text, sizeof(res->state_text), "restore failed: %s",
				 rc ? migr_strerror(rc) : migr_conn_error(c));
			migr_msg_send_abort(c, MIGR_ABORT_RESTORE, res->state_text);
		}
		goto out_destroy;
	}
	res->domid = domid;
	res->devices_us = hv->last_restore_devices_us;
	res->fast_vifs = hv->last_restore_fast_vifs;

	if (early.recorded) {
		/* READY went while libxl finished; GO was read meanwhile */
		rc = early.go_rc;
		t_go = early.t_go > t_restored ? early.t_go : t_restored;
	} else {
		/* ---- READY ---- */
		phase = MIGR_PHASE_READY;
		rc = record(p, &id, MIGR_OUTCOME_UNKNOWN, MIGR_OUTCOME_RESTORED_PAUSED, domid,
			    peer.preflight.name, NULL);
		if (rc) {
			migr__text(res->state_text, sizeof(res->state_text),
				   "cannot record the migration");
			migr_msg_send_abort(c, MIGR_ABORT_RESTORE, res->state_text);
			goto out_destroy;
		}
		recorded = true;
		migr_msg_init(&m, MIGR_MSG_READY);
		m.ready.domid = domid;
		m.ready.bytes_in = bytes;
		m.ready.stream_ns = res->stream_us * 1000;
		m.ready.restore_ns = res->restore_us * 1000;
		m.ready.devices_ns = res->devices_us * 1000;
		rc = migr_msg_send(c, &m);
		if (!rc)
			rc = migr_msg_expect(c, MIGR_MSG_GO, &m);
		t_go = migr__now_us();
	}
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "no GO from the source (%s)",
			 rc == -MIGR_E_ABORTED ? "it aborted" : migr_conn_error(c));
		goto out_destroy;
	}

	/* ---- RUNNING: POINT OF NO RETURN ---- */
	phase = MIGR_PHASE_RUNNING;
	rc = record(p, &id, MIGR_OUTCOME_RESTORED_PAUSED, MIGR_OUTCOME_RUNNING, domid,
		    peer.preflight.name, NULL);
	if (rc == -ESTALE) {
		/* a resolve answer destroyed our copy first: it is not ours to run */
		migr__text(res->state_text, sizeof(res->state_text),
			   "GO came after a resolve destroyed our copy");
		migr_msg_send_abort(c, MIGR_ABORT_UNPAUSE, res->state_text);
		have_copy = false;
		goto out_destroy;
	}
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text), "cannot record the migration");
		migr_msg_send_abort(c, MIGR_ABORT_UNPAUSE, res->state_text);
		goto out_destroy_recorded;
	}
	rc = hv->ops->rename(hv, domid, incoming, peer.preflight.name);
	if (!rc && p->fault == MIGR_FI_UNPAUSE)
		rc = -EIO;
	if (!rc && !p->paused)
		rc = hv->ops->unpause(hv, domid);
	res->unpause_us = migr__now_us() - t_go;
	if (rc) {
		migr__text(res->state_text, sizeof(res->state_text),
			 "could not rename or unpause the guest; destroyed our copy");
		migr_msg_send_abort(c, MIGR_ABORT_UNPAUSE, res->state_text);
		goto out_destroy_recorded;
	}
	if (!p->paused)
		migr__announce(hv, domid, 0);
	migr_msg_init(&m, MIGR_MSG_DONE);
	m.done.domid = domid;
	m.done.unpause_ns = res->unpause_us * 1000;
	if (early.recorded) {   /* READY had none of these */
		m.done.restore_ns = res->restore_us * 1000;
		m.done.devices_ns = res->devices_us * 1000;
	}
	rc = migr_msg_send(c, &m);
	if (rc)
		migr__log(p->lg, XTL_WARN, "domain %u: DONE not delivered (%s); the guest runs "
			  "here and the record says so, ignoring", domid, migr_conn_error(c));
	if (!p->paused)
		res->announced = migr__announce(hv, domid, 1);
	migr__settle(hv, domid, p->lg, res);
	/* The last message, for the source's summary; it may have gone: no matter. */
	migr_msg_init(&m, MIGR_MSG_SETTLED);
	m.settled.domid = domid;
	m.settled.net_back_ns = res->net_back_us * 1000;
	m.settled.vifs = res->vifs;
	m.settled.vifs_connected = res->vifs_connected;
	m.settled.first_frame_ns = res->first_frame_us * 1000;
	migr_msg_send(c, &m);
	if (!p->paused)
		history_add(record_dir(p),
			    res->restore_us + res->unpause_us, p->lg);
	migr__text(res->state_text, sizeof(res->state_text), "%s runs here (domain %u)",
		 peer.preflight.name, domid);
	phase = MIGR_PHASE_DONE;
	rc = 0;
	goto out;

refuse:
	m.preflight_reply.accept = false;
	m.preflight_reply.refuse = refuse;
	migr__text(res->state_text, sizeof(res->state_text), "refused: %s",
		 m.preflight_reply.reason);
	migr_msg_send(c, &m);
	rc = -MIGR_E_ABORTED;
	goto out_nothing;

out_destroy_recorded:
out_destroy:
	if (have_copy && hv->ops->destroy(hv, domid))
		migr__log(p->lg, XTL_ERROR, "domain %u: could not destroy our copy", domid);
	/* A restore that failed after an early READY left no copy, but a record. */
	if (recorded && (have_copy || phase != MIGR_PHASE_RUNNING))
		record(p, &id, phase == MIGR_PHASE_RUNNING ? MIGR_OUTCOME_RUNNING
			  : MIGR_OUTCOME_RESTORED_PAUSED, MIGR_OUTCOME_DESTROYED,
		       recorded_domid(domid, &early), peer.preflight.name, NULL);
	phase = MIGR_PHASE_ABORTED;
	rc = -MIGR_E_ABORTED;
	goto out;

out_nothing:
	phase = MIGR_PHASE_ABORTED;
	if (!res->state_text[0])
		migr__text(res->state_text, sizeof(res->state_text), "%s",
			 rc ? migr_conn_error(c) : "nothing received");
	if (resolved)
		phase = MIGR_PHASE_DONE;
	if (rc)
		rc = -MIGR_E_ABORTED;
out:
	release_claim(p, &claim);
	res->phase = phase;
	migr_msg_release(&peer);
	migr_msg_release(&cfg);
	return rc;
}

int migr_receive_cleanup(struct migr_hv *hv, struct xentoollog_logger *lg, unsigned int *n_r)
{
	uint32_t ids[1024];
	unsigned int n = 0, done = 0;
	static const char suffix[] = "--incoming";
	int rc;

	rc = hv->ops->domain_list(hv, ids, 1024, &n);
	if (rc)
		return rc;
	for (unsigned int i = 0; i < n; i++) {
		struct migr_dom_info di;
		size_t l;

		if (ids[i] == 0 || hv->ops->domain_info(hv, ids[i], &di))
			continue;
		l = strlen(di.name);
		if (l <= sizeof(suffix) - 1 || strcmp(di.name + l - (sizeof(suffix) - 1), suffix) ||
		    !di.paused || di.shutdown)
			continue;
		migr__log(lg, XTL_WARN, "domain %u: %s left by an interrupted receive, destroying",
			  ids[i], di.name);
		if (!hv->ops->destroy(hv, ids[i]))
			done++;
	}
	*n_r = done;
	return 0;
}

/*
 * fwd_mig.c: forwarding during the brownout in every migration (docs/forwarding.md, "In
 * every migration"), and the switch-over hooks.
 *
 * The drivers call, in this order:
 *   source (migrate.c, send.c)
 *     migr__fwdm_source_prepare()  before the stream: the guest's NICs (hv->ops->nics),
 *                                  their ip= addresses, the tunnel's ends (the connection's
 *                                  addresses); a NIC without ip= is looked up in the
 *                                  neighbour tables (the pre-copy has not begun yet); then
 *                                  a thread of its own sets forwarding up but for its
 *                                  filters (MIGR_FWD_DIVERT_LATER) while the pre-copy runs
 *     migr__fwdm_source_begin()    at the suspend request: the filters, a few netlink
 *                                  messages, so that what reaches this host for the guest
 *                                  from then on goes to the hold and not to a guest being
 *                                  stopped
 *     migr__fwdm_release()         the target reported the guest's vifs connected
 *                                  (SETTLED): the hold lets out what it kept
 *   target (recv.c)
 *     migr__fwdm_target_start()    once the guest's vifs exist: while the stream still
 *                                  comes when they are added early (later: the
 *                                  announcements and the end wait for _live()), else
 *                                  before the unpause
 *     migr__fwdm_target_live()     at the unpause: the announcements, the quiet period
 *                                  and the maximum start
 *   both
 *     migr__fwdm_adopt()           the migration ended with the guest on the target:
 *                                  forwarding goes on in the reaper until its end
 *     migr__fwdm_abandon()         any other end: torn down now (a back-out calls it
 *                                  before the guest resumes on the source)
 *   migr__switchover_hooks()       the switch-over hooks, not waited for
 * and programs call migr_fwd_wait() for the final figures.
 *
 * A failure to set forwarding up is logged once and recorded in the summary (FAILED,
 * why); it never fails a migration. The reaper is one thread per process, started with
 * the first adopted handle: it polls every running one, finishes each at its end (quiet,
 * stop, max, gone), logs its figures and keeps them until migr_fwd_wait() takes them
 * (the last MAX_KEPT).
 *
 * Seam: migr__fwdm_ops holds the migr_fwd_* calls; unit tests replace it.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xentoollog.h>
#include "libmigr.h"
#include "fwd_mig.h"
#include "util.h"

static const struct migr__fwdm_ops real_ops = {
	.source_start = migr_fwd_source_start,
	.target_start = migr_fwd_target_start,
	.target_live = migr_fwd_target_live,
	.divert = migr_fwd_source_divert,
	.release = migr_fwd_release,
	.poll = migr_fwd_poll,
	.finish = migr_fwd_finish,
	.neigh_find = migr_fwd_neigh_find,
};
const struct migr__fwdm_ops *migr__fwdm_ops = &real_ops;

#define MAX_ADDRS 8            /* IPv4 addresses taken from one vif's ip= */
#define MAX_KEPT 64

struct migr__fwdm {
	bool target;
	char id[MIGR_ID_HEX];
	struct xentoollog_logger *lg;
	struct migr_fwd_params fp;
	struct migr_fwd_nic nics[MIGR_HV_MAX_NICS];
	struct in_addr ip4[MIGR_HV_MAX_NICS][MAX_ADDRS];
	struct in6_addr ip6[MIGR_HV_MAX_NICS][MAX_ADDRS];
	struct migr_hv_nic hvn[MIGR_HV_MAX_NICS];
	unsigned int n;
	char local[64], peer[64];          /* the tunnel's ends, as text (hooks, log) */
	struct migr_fwd *f;
	pthread_t th;
	bool th_running;
	int start_rc;
	bool released;                     /* the hold was let out (or there is none) */
	bool diverted;                     /* source: the filters take the guest's frames */
	struct migr_fwd_summary *sum;      /* the driver's result */
	/* reaper */
	struct migr_fwd_summary fin;
	bool ended;
	struct migr__fwdm *next;
};

const char *migr_fwd_state_name(enum migr_fwd_state s)
{
	switch (s) {
	case MIGR_FWDS_OFF:     return "off";
	case MIGR_FWDS_FAILED:  return "failed";
	case MIGR_FWDS_RUNNING: return "running";
	case MIGR_FWDS_ENDED:   return "ended";
	}
	return "?";
}

static void fail(struct migr__fwdm *m, int rc, const char *what)
{
	int e = rc < 0 ? -rc : rc;

	m->sum->state = MIGR_FWDS_FAILED;
	snprintf(m->sum->why, sizeof(m->sum->why), "%s: %s", what, strerror(e));
	/* A kind the kernel does not know (its module missing, or no modprobe for the
	 * kernel's autoload): the link kind answers EOPNOTSUPP, a qdisc, classifier or
	 * action kind ENOENT. docs/forwarding.md, "Limits and traps". */
	migr__log(m->lg, XTL_WARN, "%s: no forwarding: %s%s, ignoring", m->id, m->sum->why,
		  e == EOPNOTSUPP || e == ENOENT ? " (are the kernel modules vxlan, sch_ingress, "
		  "cls_u32, act_mirred loaded? modprobe them)" : "");
}

static int to_fwd_addr(const struct sockaddr_storage *ss, struct migr_fwd_addr *a, char *txt,
		       size_t len)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		a->family = AF_INET;
		a->v4 = ((const struct sockaddr_in *)ss)->sin_addr;
		inet_ntop(AF_INET, &a->v4, txt, (socklen_t)len);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *v6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(v6)) {
			a->family = AF_INET;
			memcpy(&a->v4, &v6->s6_addr[12], 4);
			inet_ntop(AF_INET, &a->v4, txt, (socklen_t)len);
			return 0;
		}
		a->family = AF_INET6;
		a->v6 = *v6;
		inet_ntop(AF_INET6, v6, txt, (socklen_t)len);
		return 0;
	}
	return -EAFNOSUPPORT;
}

void migr__sockaddr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	struct migr_fwd_addr a;

	buf[0] = '\0';
	if (to_fwd_addr(ss, &a, buf, len))
		buf[0] = '\0';
}

/* The vif's ip= setting: IPv4 addresses separated by spaces (libxl's form); the rest is
 * not an address forwarding can use and is skipped, with a note. */
static unsigned int parse_ips(struct migr__fwdm *m, unsigned int i)
{
	char buf[sizeof(m->hvn[i].ip)], *save = NULL, *tok;
	unsigned int n = 0;

	snprintf(buf, sizeof(buf), "%s", m->hvn[i].ip);
	for (tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
		char *slash = strchr(tok, '/');
		if (slash)
			*slash = '\0';
		if (n < MAX_ADDRS && inet_pton(AF_INET, tok, &m->ip4[i][n]) == 1)
			n++;
		else
			migr__log(m->lg, XTL_INFO, "%s: vif %s: ip= entry '%.40s' not used for "
				  "forwarding ARP", m->id, m->hvn[i].vif, tok);
	}
	return n;
}

static struct migr__fwdm *fwdm_new(bool target, const char *id, struct migr_hv *hv,
				   uint32_t domid, struct migr_conn *c, unsigned int quiet_ms,
				   unsigned int max_ms, struct xentoollog_logger *lg,
				   struct migr_fwd_summary *sum)
{
	struct sockaddr_storage l, p;
	struct migr__fwdm *m;
	int rc;

	memset(sum, 0, sizeof(*sum));
	if (!hv->ops->nics)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		sum->state = MIGR_FWDS_FAILED;
		snprintf(sum->why, sizeof(sum->why), "out of memory");
		return NULL;
	}
	m->target = target;
	m->lg = lg;
	m->sum = sum;
	snprintf(m->id, sizeof(m->id), "%s", id);
	rc = hv->ops->nics(hv, domid, m->hvn, MIGR_HV_MAX_NICS, &m->n);
	if (rc) {
		fail(m, rc, "cannot list the guest's network interfaces");
		free(m);
		return NULL;
	}
	if (!m->n) {
		snprintf(sum->why, sizeof(sum->why), "the guest has no network interface");
		free(m);
		return NULL;
	}
	migr_fwd_params_init(&m->fp);
	rc = migr_conn_addrs(c, &l, &p);
	if (!rc)
		rc = to_fwd_addr(&l, &m->fp.local, m->local, sizeof(m->local));
	if (!rc)
		rc = to_fwd_addr(&p, &m->fp.peer, m->peer, sizeof(m->peer));
	if (rc) {
		fail(m, rc, "no tunnel address from the connection");
		free(m);
		return NULL;
	}
	m->fp.id = m->id;
	m->fp.lg = lg;
	if (quiet_ms)
		m->fp.quiet_ms = quiet_ms;
	if (max_ms)
		m->fp.max_ms = max_ms;
	for (unsigned int i = 0; i < m->n; i++) {
		struct migr_fwd_nic *n = &m->nics[i];
		memcpy(n->mac, m->hvn[i].mac, 6);
		n->dev = target ? m->hvn[i].vif : (m->hvn[i].bridge[0] ? m->hvn[i].bridge : "xenbr0");
		n->ipv4 = m->ip4[i];
		n->n_ipv4 = parse_ips(m, i);
	}
	m->fp.nics = m->nics;
	m->fp.n_nics = m->n;
	sum->nics = m->n;
	return m;
}

/* ---- source ----------------------------------------------------------------------------- */

/*
 * Where ARP requests and neighbour solicitations for NIC i come from: the vif's ip= when
 * it has one (parse_ips(), in fwdm_new()); else the source dom0's neighbour tables, which
 * know the guest's addresses when dom0 talked to it or routed for it. Logs where each
 * NIC's addresses came from. Runs in migr__fwdm_source_prepare(), before the pre-copy.
 */
static void find_addrs(struct migr__fwdm *m, unsigned int i)
{
	struct migr_fwd_nic *n = &m->nics[i];
	struct migr_fwd_addr a[2 * MAX_ADDRS];
	char list[160] = "", txt[INET6_ADDRSTRLEN];
	unsigned int k = 0;
	size_t len = 0;
	const char *from;
	int rc;

	if (m->hvn[i].ip[0]) {
		for (unsigned int j = 0; j < n->n_ipv4; j++) {
			inet_ntop(AF_INET, &n->ipv4[j], txt, sizeof(txt));
			len += (size_t)snprintf(list + len, len < sizeof(list) ? sizeof(list) - len : 0,
						"%s%s", j ? " " : "", txt);
		}
		from = "its vif's ip=";
		goto out_log;
	}
	rc = migr__fwdm_ops->neigh_find ? migr__fwdm_ops->neigh_find(n->mac, a, 2 * MAX_ADDRS, &k)
					: -ENOSYS;
	if (rc) {
		migr__log(m->lg, XTL_WARN, "%s: vif %s: cannot read the neighbour tables: %s; only "
			  "frames to its MAC are forwarded, ignoring", m->id, m->hvn[i].vif,
			  strerror(-rc));
		return;
	}
	for (unsigned int j = 0; j < k; j++) {
		if (a[j].family == AF_INET && n->n_ipv4 < MAX_ADDRS)
			m->ip4[i][n->n_ipv4++] = a[j].v4;
		else if (a[j].family == AF_INET6 && n->n_ipv6 < MAX_ADDRS)
			m->ip6[i][n->n_ipv6++] = a[j].v6;
		else
			continue;
		inet_ntop(a[j].family, a[j].family == AF_INET ? (const void *)&a[j].v4 :
			  (const void *)&a[j].v6, txt, sizeof(txt));
		len += (size_t)snprintf(list + len, len < sizeof(list) ? sizeof(list) - len : 0,
					"%s%s", len ? " " : "", txt);
	}
	n->ipv6 = m->ip6[i];
	from = "the neighbour tables";
out_log:
	if (n->n_ipv4 + n->n_ipv6)
		migr__log(m->lg, XTL_INFO, "%s: vif %s: ARP/ND forwarded for %s (from %s)", m->id,
			  m->hvn[i].vif, list, from);
	else
		migr__log(m->lg, XTL_INFO, "%s: vif %s: no address known (no ip=, none in the "
			  "neighbour tables): only frames to its MAC are forwarded", m->id,
			  m->hvn[i].vif);
}

static void *source_main(void *arg)
{
	struct migr__fwdm *m = arg;

	m->start_rc = migr__fwdm_ops->source_start(&m->fp, &m->f);
	return NULL;
}

/* The set-up, all but the filters, off the driver's path. */
static void start_thread(struct migr__fwdm *m)
{
	int rc = pthread_create(&m->th, NULL, source_main, m);

	if (rc) {
		fail(m, -rc, "no thread to start forwarding");
		return;
	}
	m->th_running = true;
}

struct migr__fwdm *migr__fwdm_source_prepare(const char *id, struct migr_hv *hv,
					     uint32_t domid, struct migr_conn *c,
					     const struct migr_send_params *p,
					     struct migr_fwd_summary *sum)
{
	struct migr__fwdm *m;

	if (p->no_forward) {
		memset(sum, 0, sizeof(*sum));
		snprintf(sum->why, sizeof(sum->why), "turned off (--no-forward)");
		return NULL;
	}
	m = fwdm_new(false, id, hv, domid, c, p->forward_quiet_ms, p->forward_max_ms, p->lg, sum);
	if (!m)
		return NULL;
	m->fp.flags |= MIGR_FWD_HOLD | MIGR_FWD_DIVERT_LATER;
	for (unsigned int i = 0; i < m->n; i++)
		find_addrs(m, i);
	start_thread(m);
	return m;
}

/* The start thread's end; its outcome into the summary. */
static void join(struct migr__fwdm *m)
{
	if (!m->th_running)
		return;
	pthread_join(m->th, NULL);
	m->th_running = false;
	if (m->start_rc) {
		m->f = NULL;
		fail(m, m->start_rc, "cannot set forwarding up");
	}
}

void migr__fwdm_source_begin(struct migr__fwdm *m)
{
	int rc;

	if (!m || m->diverted)
		return;
	join(m);
	if (!m->f)
		return;
	rc = migr__fwdm_ops->divert(m->f);
	if (rc) {
		migr__fwdm_ops->finish(m->f, NULL);
		m->f = NULL;
		fail(m, rc, "cannot divert the guest's frames into the tunnel");
		return;
	}
	m->diverted = true;
	m->sum->state = MIGR_FWDS_RUNNING;
	migr__log(m->lg, XTL_INFO, "%s: forwarding %u NIC(s) from %s to %s, holding until the "
		  "target has the guest's vifs connected", m->id, m->n, m->local, m->peer);
}

static void snapshot(struct migr__fwdm *m, const struct migr_fwd_status *st)
{
	m->sum->packets = st->packets;
	m->sum->hold = st->hold;
	m->sum->held_packets = st->held_packets;
	m->sum->hold_dropped = st->hold_dropped;
	m->sum->elapsed_ms = st->elapsed_ms;
}

void migr__fwdm_release(struct migr__fwdm *m)
{
	struct migr_fwd_status st;

	if (!m)
		return;
	join(m);
	if (!m->f || m->released)
		return;
	if (migr__fwdm_ops->release(m->f))
		return;
	m->released = true;
	if (migr__fwdm_ops->poll(m->f, &st) == 0)
		snapshot(m, &st);
}

/* ---- target ----------------------------------------------------------------------------- */

int migr__fwdm_target_start(struct migr__fwdm **m_r, const char *id, struct migr_hv *hv,
			    uint32_t domid, struct migr_conn *c,
			    const struct migr_recv_params *p, bool later,
			    struct migr_fwd_summary *sum)
{
	struct migr__fwdm *m;
	int rc;

	*m_r = NULL;
	if (p->no_forward) {
		memset(sum, 0, sizeof(*sum));
		snprintf(sum->why, sizeof(sum->why), "turned off (--no-forward)");
		return 0;
	}
	/* The source decides when the fabric has rerouted; the delivery end waits three
	 * times as long before it takes the quiet for the end, so that it is not gone while
	 * the source still sends (a pause in the guest's traffic). */
	m = fwdm_new(true, id, hv, domid, c, 3 * (p->forward_quiet_ms ? p->forward_quiet_ms : 2000),
		     p->forward_max_ms, p->lg, sum);
	if (!m)
		return 0;
	if (later)
		m->fp.flags |= MIGR_FWD_LIVE_LATER;
	rc = migr__fwdm_ops->target_start(&m->fp, &m->f);
	if (rc) {
		m->f = NULL;
		fail(m, rc, "cannot set delivery up");
		free(m);
		return 0;
	}
	sum->state = MIGR_FWDS_RUNNING;
	if (later)
		migr__log(m->lg, XTL_DETAIL, "%s: ready to deliver what %s forwards to %u "
			  "vif(s), before the blackout", m->id, m->peer, m->n);
	else
		migr__fwdm_target_live(m);
	*m_r = m;
	return 0;
}

void migr__fwdm_target_live(struct migr__fwdm *m)
{
	if (!m || !m->f)
		return;
	migr__fwdm_ops->target_live(m->f);   /* fails only for a handle not a target's */
	migr__log(m->lg, XTL_INFO, "%s: delivering what %s forwards to %u vif(s), announcing "
		  "the guest", m->id, m->peer, m->n);
}

bool migr__fwdm_running(const struct migr__fwdm *m)
{
	return m && m->f;
}

/* ---- the end: abandon now, or adopt into the reaper ------------------------------------- */

static void final_into(struct migr__fwdm *m, struct migr_fwd_summary *out,
		       const struct migr_fwd_status *st)
{
	*out = *m->sum;
	out->packets = st->packets;
	out->elapsed_ms = st->elapsed_ms;
	out->end = st->end;
	if (st->hold) {
		out->hold = st->hold;
		out->held_packets = st->held_packets;
		out->hold_dropped = st->hold_dropped;
	}
	out->state = MIGR_FWDS_ENDED;
}

void migr__fwdm_abandon(struct migr__fwdm *m)
{
	struct migr_fwd_status st;

	if (!m)
		return;
	join(m);
	if (m->f) {
		memset(&st, 0, sizeof(st));
		st.end = MIGR_FWD_END_STOP;
		migr__fwdm_ops->finish(m->f, &st);
		final_into(m, m->sum, &st);
		snprintf(m->sum->why, sizeof(m->sum->why), "removed: the migration did not end "
			 "with the guest on the target");
		migr__log(m->lg, XTL_INFO, "%s: forwarding removed (%s)", m->id, m->sum->why);
	}
	free(m);
}

/* The realtime clock ms from now, for pthread_cond_timedwait(). */
static void deadline_in(unsigned int ms, struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	ts->tv_sec += ts->tv_nsec / 1000000000;
	ts->tv_nsec %= 1000000000;
}

static pthread_mutex_t reap_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reap_cv = PTHREAD_COND_INITIALIZER;
static struct migr__fwdm *reap_list;
static bool reaper_running;

static void *reaper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&reap_mu);
	for (;;) {
		unsigned int kept = 0;
		uint32_t next = 100;

		for (struct migr__fwdm **pp = &reap_list, *m; (m = *pp);) {
			struct migr_fwd_status st;
			if (m->ended) {
				if (++kept > MAX_KEPT) {
					*pp = m->next;
					free(m);
					continue;
				}
				pp = &m->next;
				continue;
			}
			memset(&st, 0, sizeof(st));
			if (migr__fwdm_ops->poll(m->f, &st) != 0 || st.end != MIGR_FWD_RUNNING) {
				migr__fwdm_ops->finish(m->f, &st);
				m->f = NULL;
				final_into(m, &m->fin, &st);
				m->ended = true;
				migr__log(m->lg, XTL_NOTICE, "%s: forwarding over (%s) after %u ms: "
					  "%llu frame(s) %s%s", m->id,
					  migr_fwd_end_name((enum migr_fwd_end)st.end), st.elapsed_ms,
					  (unsigned long long)st.packets,
					  m->target ? "delivered" : "forwarded",
					  m->fin.hold == MIGR_FWD_HOLD_RELEASED ? ", hold released" : "");
				pthread_cond_broadcast(&reap_cv);
			} else if (st.next_poll_ms && st.next_poll_ms < next) {
				next = st.next_poll_ms;
			}
			pp = &m->next;
		}
		{
			struct timespec ts;
			deadline_in(next, &ts);
			pthread_cond_timedwait(&reap_cv, &reap_mu, &ts);
		}
	}
	return NULL;
}

void migr__fwdm_adopt(struct migr__fwdm *m)
{
	struct migr_fwd_status st;
	pthread_t th;

	if (!m)
		return;
	join(m);
	if (!m->f) {
		free(m);
		return;
	}
	/* a hold nobody released (no SETTLED came) would only end dropped at the maximum */
	if (!m->released && !m->target)
		migr__fwdm_ops->release(m->f);
	if (migr__fwdm_ops->poll(m->f, &st) == 0)
		snapshot(m, &st);
	m->fin = *m->sum;
	m->sum = &m->fin;   /* the driver's result is not ours after this */
	pthread_mutex_lock(&reap_mu);
	m->next = reap_list;
	reap_list = m;
	if (!reaper_running && pthread_create(&th, NULL, reaper_main, NULL) == 0) {
		pthread_detach(th);
		reaper_running = true;
	}
	pthread_cond_broadcast(&reap_cv);
	pthread_mutex_unlock(&reap_mu);
	if (!reaper_running) {
		/* no thread: nobody could end it later, so it ends now */
		pthread_mutex_lock(&reap_mu);
		reap_list = m->next;
		pthread_mutex_unlock(&reap_mu);
		migr__fwdm_ops->finish(m->f, &st);
		m->f = NULL;
		free(m);
	}
}

/* One wait for the reaper's news, under reap_mu; true once the deadline passed. */
static bool wait_reaped(unsigned int timeout_ms, const struct timespec *dl)
{
	if (timeout_ms)
		return pthread_cond_timedwait(&reap_cv, &reap_mu, dl) == ETIMEDOUT;
	return pthread_cond_wait(&reap_cv, &reap_mu) != 0;
}

int migr_fwd_wait(const char *id, bool target, unsigned int timeout_ms,
		  struct migr_fwd_summary *final_r)
{
	struct timespec dl;
	int rc = 0;

	deadline_in(timeout_ms, &dl);
	pthread_mutex_lock(&reap_mu);
	for (;;) {
		struct migr__fwdm **pp, *m = NULL;
		for (pp = &reap_list; *pp; pp = &(*pp)->next)
			if ((*pp)->target == target && !strcmp((*pp)->id, id)) {
				m = *pp;
				break;
			}
		if (!m) {
			rc = -ENOENT;
			break;
		}
		if (m->ended) {
			*final_r = m->fin;
			*pp = m->next;
			free(m);
			break;
		}
		if (wait_reaped(timeout_ms, &dl)) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&reap_mu);
	return rc;
}

int migr_fwd_wait_all(unsigned int timeout_ms)
{
	struct timespec dl;
	int rc = 0;

	deadline_in(timeout_ms, &dl);
	pthread_mutex_lock(&reap_mu);
	for (;;) {
		bool running = false;
		for (struct migr__fwdm *m = reap_list; m; m = m->next)
			running |= !m->ended;
		if (!running)
			break;
		if (wait_reaped(timeout_ms, &dl)) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&reap_mu);
	return rc;
}

/* ---- switch-over hooks -------------------------------------------------------------------- */

struct hook_job {
	pid_t pid;
	char what[256];
	char id[MIGR_ID_HEX];
	struct xentoollog_logger *lg;
	uint64_t t0;
};

static void *hook_wait_main(void *arg)
{
	struct hook_job *j = arg;
	int status = 0;

	while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
		;
	migr__log(j->lg, WIFEXITED(status) && !WEXITSTATUS(status) ? XTL_INFO : XTL_WARN,
		  "%s: switch-over hook %s: %s %d after %.1f ms", j->id, j->what,
		  WIFEXITED(status) ? "exit status" : "killed by signal",
		  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
		  (migr__now_us() - j->t0) / 1000.0);
	free(j);
	return NULL;
}

extern char **environ;

/* Starts one hook with the environment given (built before the fork: the child only
 * calls execve) and a thread that reaps it and logs how it ended. */
static void hook_spawn(const char *what, char *const argv[], char *const envp[],
		       const char *id, struct xentoollog_logger *lg)
{
	struct hook_job *j = calloc(1, sizeof(*j));
	pthread_t th;
	pid_t pid;

	if (!j)
		return;
	snprintf(j->what, sizeof(j->what), "%s", what);
	snprintf(j->id, sizeof(j->id), "%s", id);
	j->lg = lg;
	j->t0 = migr__now_us();
	pid = fork();
	if (pid < 0) {
		migr__log(lg, XTL_WARN, "%s: switch-over hook %s: cannot fork: %s, ignoring", id,
			  what, strerror(errno));
		free(j);
		return;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	j->pid = pid;
	if (pthread_create(&th, NULL, hook_wait_main, j)) {
		migr__log(lg, XTL_WARN, "%s: switch-over hook %s started (pid %d), not followed",
			  id, what, (int)pid);
		free(j);
		return;
	}
	pthread_detach(th);
}

void migr__switchover_hooks(const char *cmd, const char *dir,
			    const struct migr__switchover *sw, struct xentoollog_logger *lg)
{
	char e_id[96], e_guest[96], e_macs[MIGR_HV_MAX_NICS * 18 + 16];
	char e_addrs[512], e_src[96], e_dst[96];
	char *add[] = { e_id, e_guest, e_macs, e_addrs, e_src, e_dst };
	char **env;
	size_t n_env = 0, k = 0;

	if ((!cmd || !*cmd) && (!dir || !*dir))
		return;
	while (environ && environ[n_env])
		n_env++;
	env = calloc(n_env + 7, sizeof(*env));
	if (!env)
		return;
	for (size_t i = 0; i < n_env; i++)
		if (strncmp(environ[i], "MIGR_", 5))
			env[k++] = environ[i];
	for (size_t i = 0; i < 6; i++)
		env[k++] = add[i];
	snprintf(e_id, sizeof(e_id), "MIGR_ID=%s", sw->id);
	snprintf(e_guest, sizeof(e_guest), "MIGR_GUEST=%s", sw->guest);
	snprintf(e_macs, sizeof(e_macs), "MIGR_MACS=%s", sw->macs);
	snprintf(e_addrs, sizeof(e_addrs), "MIGR_ADDRS=%s", sw->addrs);
	snprintf(e_src, sizeof(e_src), "MIGR_SOURCE=%s", sw->source);
	snprintf(e_dst, sizeof(e_dst), "MIGR_TARGET=%s", sw->target);
	if (cmd && *cmd) {
		char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
		hook_spawn(cmd, argv, env, sw->id, lg);
	}
	if (dir && *dir) {
		struct dirent **names = NULL;
		int n = scandir(dir, &names, NULL, alphasort);
		if (n < 0 && errno != ENOENT)
			migr__log(lg, XTL_WARN, "%s: switch-over hooks: cannot read %s: %s, ignoring",
				  sw->id, dir, strerror(errno));
		for (int i = 0; i < n; i++) {
			char path[512];
			struct stat stb;
			if (names[i]->d_name[0] != '.' &&
			    snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) < (int)sizeof(path) &&
			    stat(path, &stb) == 0 && S_ISREG(stb.st_mode) && access(path, X_OK) == 0) {
				char *argv[] = { path, NULL };
				hook_spawn(path, argv, env, sw->id, lg);
			}
			free(names[i]);
		}
		free(names);
	}
	free(env);
}

void migr__fwdm_switchover_info(const struct migr__fwdm *m, struct migr_hv *hv, uint32_t domid,
				struct migr__switchover *sw)
{
	struct migr_hv_nic nics[MIGR_HV_MAX_NICS];
	unsigned int n = 0;
	size_t ml = 0, al = 0;

	sw->macs[0] = sw->addrs[0] = '\0';
	if (m) {
		for (unsigned int i = 0; i < m->n; i++)
			nics[i] = m->hvn[i];
		n = m->n;
	} else if (!hv->ops->nics || hv->ops->nics(hv, domid, nics, MIGR_HV_MAX_NICS, &n)) {
		n = 0;
	}
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *a = nics[i].mac;
		if (ml + 18 < sizeof(sw->macs))
			ml += (size_t)snprintf(sw->macs + ml, sizeof(sw->macs) - ml,
					       "%s%02x:%02x:%02x:%02x:%02x:%02x", i ? "," : "",
					       a[0], a[1], a[2], a[3], a[4], a[5]);
		if (nics[i].ip[0] && al + strlen(nics[i].ip) + 2 < sizeof(sw->addrs))
			al += (size_t)snprintf(sw->addrs + al, sizeof(sw->addrs) - al, "%s%s",
					       al ? "," : "", nics[i].ip);
	}
}

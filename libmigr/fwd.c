/*
 * fwd.c: forwarding during the post-migration brownout (see migr/fwd.h for the API and
 * docs/forwarding.md for the design).
 *
 * Source:  VXLAN device "mfw<tag>" to the peer; on the ingress of every port of the guest's
 *          old bridge, u32 filters (destination MAC; ARP target; NS target) whose mirred
 *          action redirects into that device; when the tunnel leaves by a bridge, a u32
 *          filter on that bridge's egress (clsact) that sends its packets to the port
 *          toward the peer ("Past the bridge", below).
 * Target:  VXLAN device "mfw<tag>" from the peer; on its ingress, the same filters
 *          redirecting into the guest's vif; announcement rounds sent from poll.
 * Both:    counters from the mirred actions; the end decided by migr__fwd_decide();
 *          teardown is cleanup by the id's tag, the same code `migr cleanup` runs.
 *
 * Every object is created after the leftovers of the same id are removed, and every
 * failure on the way unwinds through that cleanup, so nothing is left half-made.
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
#include <sys/socket.h>
#include <sys/un.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <linux/neighbour.h>
#include <linux/pkt_sched.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <libmnl/libmnl.h>
#include <xentoollog.h>
#include "fwd_int.h"

#define DEFAULT_QUIET_MS 2000
#define DEFAULT_MAX_MS   60000
#define DEFAULT_POLL_MS  100
#define DEFAULT_HOLD_BYTES (4u << 20)
#define DEFAULT_ANN_INITIAL_MS 50
#define DEFAULT_ANN_ROUNDS 5
#define DEFAULT_ANN_STEP_MS 100
#define MAX_PORTS 1024

struct fwd_nic {
	uint8_t mac[6];
	uint32_t dev_ifindex;            /* target: the vif */
	uint32_t announce_ifindex;       /* target: where announcements go; 0 = none */
	struct in_addr ip4[MIGR_FWD_MAX_ADDRS];
	unsigned int n_ip4;
	struct in6_addr ip6[MIGR_FWD_MAX_ADDRS];
	unsigned int n_ip6;
};

struct fwd_port {
	uint32_t ifindex;
	bool qdisc_ours;
	uint64_t packets, bytes, arp;    /* its filters' counters at the last poll */
};

struct migr_fwd {
	bool target;
	char id[MIGR_FWD_ID_MAX + 1];
	uint64_t tag;
	char ifname[MIGR_FWD_IFNAME_LEN];
	char alias[sizeof(MIGR__FWD_ALIAS_PREFIX) + MIGR_FWD_ID_MAX + 8];
	uint32_t vx_ifindex;
	uint32_t vni;                    /* the tunnel's (make_tunnel()) */
	struct migr__nl *nl;
	xentoollog_logger *lg;
	unsigned int flags;
	uint32_t quiet_ms, max_ms, poll_ms;
	uint32_t ann_initial_ms, ann_rounds, ann_step_ms;
	struct fwd_nic nics[MIGR_FWD_MAX_NICS];
	unsigned int n_nics;
	struct fwd_port *ports;
	unsigned int n_ports;
	int pkt_fd;
	int owner_fd;                    /* the id's owner token (owner_bind()) */
	uint64_t t0_ms, last_change_ms, next_announce_ms;
	uint64_t last_packets;
	/* Counters of ports that went away (a vif destroyed, moved): kept in the totals. */
	uint64_t gone_packets, gone_bytes, gone_arp;
	uint32_t rounds_done;
	int hold;                        /* MIGR_FWD_HOLD_* */
	bool diverted;                   /* source: the filters take the guest's frames */
	bool live;                       /* target: announcing; the quiet and the maximum count */
	uint32_t hold_bytes;
	uint64_t held_packets, held_bytes, hold_dropped;
	enum migr_fwd_end end;
	uint8_t buf[MIGR__NL_BUFSZ];
};

/* ---- small helpers ------------------------------------------------------------------ */

static void flog(xentoollog_logger *lg, xentoollog_level level, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* err: a negative errno to append, or 0. */
static void flog(xentoollog_logger *lg, xentoollog_level level, int err, const char *fmt, ...)
{
	va_list ap;

	if (!lg)
		return;
	va_start(ap, fmt);
	xtl_logv(lg, level, err < 0 ? -err : -1, "migr-fwd", fmt, ap);
	va_end(ap);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t clamp_u32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

const char *migr_fwd_end_name(enum migr_fwd_end e)
{
	switch (e) {
	case MIGR_FWD_RUNNING:   return "running";
	case MIGR_FWD_END_QUIET: return "quiet";
	case MIGR_FWD_END_MAX:   return "max-duration";
	case MIGR_FWD_END_STOP:  return "stop-requested";
	case MIGR_FWD_END_GONE:  return "removed";
	}
	return "unknown";
}

void migr_fwd_params_init(struct migr_fwd_params *p)
{
	memset(p, 0, sizeof(*p));
	p->port = MIGR_FWD_DEFAULT_PORT;
	p->quiet_ms = DEFAULT_QUIET_MS;
	p->max_ms = DEFAULT_MAX_MS;
	p->poll_ms = DEFAULT_POLL_MS;
	p->announce_initial_ms = DEFAULT_ANN_INITIAL_MS;
	p->announce_rounds = DEFAULT_ANN_ROUNDS;
	p->announce_step_ms = DEFAULT_ANN_STEP_MS;
	p->hold_bytes = DEFAULT_HOLD_BYTES;
}

enum migr_fwd_end migr__fwd_decide(uint32_t elapsed_ms, uint32_t idle_ms, uint32_t quiet_ms,
				   uint32_t max_ms, bool stop_requested, bool gone,
				   bool announcing)
{
	if (gone)
		return MIGR_FWD_END_GONE;
	if (stop_requested)
		return MIGR_FWD_END_STOP;
	if (elapsed_ms >= max_ms)
		return MIGR_FWD_END_MAX;
	/* Announcements are part of the job: the fabric learns from them. */
	if (!announcing && idle_ms >= quiet_ms)
		return MIGR_FWD_END_QUIET;
	return MIGR_FWD_RUNNING;
}

/* ---- links ---------------------------------------------------------------------------- */

struct link_list {
	struct migr__fwd_link *v;
	size_t n, cap;
};

static int collect_link(const struct nlmsghdr *nlh, void *data)
{
	struct link_list *ll = data;
	struct migr__fwd_link l;

	if (migr__fwd_parse_link(nlh, &l))
		return 0;
	if (ll->n == ll->cap) {
		size_t cap = ll->cap ? ll->cap * 2 : 64;
		struct migr__fwd_link *v;
		if (cap > 65536)
			return -E2BIG;
		v = realloc(ll->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ll->v = v;
		ll->cap = cap;
	}
	ll->v[ll->n++] = l;
	return 0;
}

static int dump_links(struct migr__nl *nl, void *buf, struct link_list *ll_r)
{
	struct link_list ll = { 0 };
	int rc;

	rc = migr__nl_talk(nl, migr__fwd_msg_getlink(buf, 0), collect_link, &ll);
	if (rc) {
		free(ll.v);
		return rc;
	}
	*ll_r = ll;
	return 0;
}

static const struct migr__fwd_link *find_link(const struct link_list *ll, const char *name)
{
	for (size_t i = 0; i < ll->n; i++)
		if (!strcmp(ll->v[i].name, name))
			return &ll->v[i];
	return NULL;
}

static int get_link(struct migr__nl *nl, void *buf, uint32_t ifindex, struct migr__fwd_link *l_r)
{
	struct link_list ll = { 0 };
	int rc;

	rc = migr__nl_talk(nl, migr__fwd_msg_getlink(buf, ifindex), collect_link, &ll);
	if (!rc && ll.n != 1)
		rc = -ENODEV;
	if (!rc)
		*l_r = ll.v[0];
	free(ll.v);
	return rc;
}

/* ---- filters ---------------------------------------------------------------------------- */

struct filter_list {
	struct migr__fwd_filter_info *v;
	size_t n, cap;
	size_t n_all;                    /* every u32 filter seen, ours or not */
	size_t n_other;                  /* other messages: classifier instances, other kinds */
	/* Our priorities (MAC, ARP, ND, BYPASS): an instance exists / has filters in it. */
	bool prio_seen[4], prio_used[4];
};

static int our_prio(uint16_t prio)
{
	if (prio >= MIGR__FWD_PRIO_MAC && prio <= MIGR__FWD_PRIO_BYPASS)
		return prio - MIGR__FWD_PRIO_MAC;
	return -1;
}

static int collect_filter(const struct nlmsghdr *nlh, void *data)
{
	struct filter_list *fl = data;
	struct migr__fwd_filter_info f;
	int k = -1;

	if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct tcmsg))) {
		const struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);
		k = our_prio((uint16_t)(TC_H_MAJ(tcm->tcm_info) >> 16));
	}
	if (k >= 0)
		fl->prio_seen[k] = true;
	if (migr__fwd_parse_filter(nlh, &f)) {
		fl->n_other++;
		return 0;
	}
	if (k >= 0)
		fl->prio_used[k] = true;
	fl->n_all++;
	if (!f.has_cookie)
		return 0;
	if (fl->n == fl->cap) {
		size_t cap = fl->cap ? fl->cap * 2 : 32;
		struct migr__fwd_filter_info *v;
		if (cap > 1u << 20)
			return -E2BIG;
		v = realloc(fl->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		fl->v = v;
		fl->cap = cap;
	}
	fl->v[fl->n++] = f;
	return 0;
}

/* Our filters (any migr cookie) on ifindex's ingress (its egress: egress_dump). A link
 * without one gives none. */
static int dump_filters_at(struct migr__nl *nl, void *buf, uint32_t ifindex,
			   struct filter_list *fl, bool egress)
{
	int rc;

	memset(fl, 0, sizeof(*fl));
	rc = migr__nl_talk(nl, egress ? migr__fwd_msg_dumpfilters_egress(buf, ifindex) :
			   migr__fwd_msg_dumpfilters(buf, ifindex), collect_filter, fl);
	if (rc == -EINVAL || rc == -ENOENT)
		rc = 0;                      /* no ingress qdisc */
	if (rc) {
		free(fl->v);
		memset(fl, 0, sizeof(*fl));
	}
	return rc;
}

static int dump_filters(struct migr__nl *nl, void *buf, uint32_t ifindex, struct filter_list *fl)
{
	return dump_filters_at(nl, buf, ifindex, fl, false);
}

/* ---- the owner token: which forwarding a live process still owns --------------------- */

/*
 * A handle binds an abstract unix socket named after its tag and side from before it makes
 * anything until after it removed everything; the kernel lets go of it when the process
 * dies, whatever the death. Abstract names belong to the network namespace, as the
 * objects do. migr_fwd_cleanup(NULL, MIGR_FWD_CLEANUP_ORPHANS) spares the tags someone
 * still owns (docs/forwarding.md, "Teardown, crashes and migr cleanup").
 */
static socklen_t owner_name(uint64_t tag, bool target, struct sockaddr_un *sun)
{
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "migr-fwd/%012llx/%c",
		     (unsigned long long)tag, target ? 't' : 's');
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static int owner_bind(uint64_t tag, bool target, int *fd_r)
{
	struct sockaddr_un sun;
	socklen_t len = owner_name(tag, target, &sun);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
		int rc = errno == EADDRINUSE ? -EBUSY : -errno;
		close(fd);
		return rc;
	}
	*fd_r = fd;
	return 0;
}

/* Whether a live process owns either end of tag here (connect() only looks). */
static bool owner_alive(uint64_t tag)
{
	bool alive = false;

	for (int t = 0; t < 2 && !alive; t++) {
		struct sockaddr_un sun;
		socklen_t len = owner_name(tag, t, &sun);
		int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return true;     /* cannot tell: spare it */
		alive = connect(fd, (struct sockaddr *)&sun, len) == 0 || errno != ECONNREFUSED;
		close(fd);
	}
	return alive;
}

/* Tags of the forwarding objects here that a live process owns. */
struct live_tags {
	uint64_t v[256];
	size_t n;
	bool full;                       /* more than fit: spare everything */
};

static bool tag_live(const struct live_tags *lt, uint64_t tag)
{
	if (!lt)
		return false;
	if (lt->full)
		return true;
	for (size_t i = 0; i < lt->n; i++)
		if (lt->v[i] == tag)
			return true;
	return false;
}

static void note_tag(struct live_tags *lt, uint64_t tag)
{
	if (tag_live(lt, tag))
		return;
	if (!owner_alive(tag))
		return;
	if (lt->n == sizeof(lt->v) / sizeof(lt->v[0]))
		lt->full = true;
	else
		lt->v[lt->n++] = tag;
}

/* ---- cleanup: the one teardown path ----------------------------------------------------- */

/*
 * Two migrations from one host at once (an evacuation's window) share the bridge's ports
 * and their ingress qdiscs. A teardown removes a qdisc migr made once no filter is left
 * on it, while the other migration may be about to add its first: its divert then finds
 * the parent gone (EINVAL) and makes the qdisc again. Within a process this lock keeps
 * a teardown's look-and-remove from falling between another's filters being added.
 */
static pthread_mutex_t ports_mu = PTHREAD_MUTEX_INITIALIZER;

static bool is_fwd_ifname(const char *name)
{
	size_t n = strlen(MIGR__FWD_IFPREFIX);

	if (strncmp(name, MIGR__FWD_IFPREFIX, n) || strlen(name) != n + 12)
		return false;
	for (size_t i = n; name[i]; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return true;
}

/*
 * The bypass filters of tag (or all, less spare's) on a link's egress, and the clsact qdisc
 * migr added for them once nothing at all is on it (ingress or egress). Returns 0 or the
 * first error.
 */
static int cleanup_bypass(struct migr__nl *nl, void *buf, const struct migr__fwd_link *l,
			  bool all, uint64_t tag, unsigned int flags, xentoollog_logger *lg,
			  struct migr_fwd_cleanup_stats *st, struct live_tags *spare)
{
	struct filter_list fl, in;
	bool drop_qdisc = false;
	int rc, first_rc = 0;

	rc = dump_filters_at(nl, buf, l->ifindex, &fl, true);
	if (rc)
		return rc == -ENODEV ? 0 : rc;
	for (size_t j = 0; j < fl.n; j++) {
		const struct migr__fwd_filter_info *x = &fl.v[j];

		if (x->cookie.kind != MIGR__FWD_K_BYPASS || (!all && x->cookie.tag != tag))
			continue;
		if (spare) {
			note_tag(spare, x->cookie.tag);
			if (tag_live(spare, x->cookie.tag))
				continue;
		}
		if (x->cookie.flags & MIGR__FWD_CK_QDISC)
			drop_qdisc = true;
		if (!(flags & MIGR_FWD_CLEANUP_DRY_RUN)) {
			rc = migr__nl_talk(nl, migr__fwd_msg_delfilter(buf, x->ifindex, x->prio,
								x->proto, x->handle), NULL, NULL);
			if (rc && rc != -ENOENT) {
				flog(lg, XTL_ERROR, rc, "cannot remove tc filter %x on the egress of "
				     "%s", x->handle, l->name);
				if (!first_rc)
					first_rc = rc;
				drop_qdisc = false;
				continue;
			}
		}
		st->filters++;
	}
	free(fl.v);
	if (!drop_qdisc || (flags & MIGR_FWD_CLEANUP_DRY_RUN))
		return first_rc;
	/* the u32 instance of our priority, once empty; then the qdisc, once bare */
	rc = dump_filters_at(nl, buf, l->ifindex, &fl, true);
	if (rc)
		return first_rc;
	free(fl.v);
	if (fl.prio_seen[3] && !fl.prio_used[3])
		migr__nl_talk(nl, migr__fwd_msg_delfilter(buf, l->ifindex, MIGR__FWD_PRIO_BYPASS,
							  ETH_P_IP, 0), NULL, NULL);
	pthread_mutex_lock(&ports_mu);
	rc = dump_filters_at(nl, buf, l->ifindex, &fl, true);
	if (!rc) {
		free(fl.v);
		rc = dump_filters_at(nl, buf, l->ifindex, &in, false);
		if (!rc) {
			free(in.v);
			rc = fl.n_all || fl.n_other || in.n_all || in.n_other ? 1 :
			     migr__nl_talk(nl, migr__fwd_msg_delclsact(buf, l->ifindex), NULL, NULL);
		}
	}
	pthread_mutex_unlock(&ports_mu);
	if (rc == 0)
		st->qdiscs++;
	else if (rc < 0 && rc != -ENOENT && rc != -EINVAL) {
		flog(lg, XTL_ERROR, rc, "cannot remove the clsact qdisc of %s", l->name);
		if (!first_rc)
			first_rc = rc;
	}
	return first_rc;
}

/* Removes the objects of tag (or of every migration when all, but for those of the tags a
 * live process owns when spare is not NULL). */
static int cleanup_tag(struct migr__nl *nl, void *buf, bool all, uint64_t tag,
		       unsigned int flags, xentoollog_logger *lg,
		       struct migr_fwd_cleanup_stats *st, struct live_tags *spare)
{
	bool dry = flags & MIGR_FWD_CLEANUP_DRY_RUN;
	char want[MIGR_FWD_IFNAME_LEN];
	struct link_list ll;
	int rc, first_rc = 0;

	snprintf(want, sizeof(want), MIGR__FWD_IFPREFIX "%012llx", (unsigned long long)tag);
	rc = dump_links(nl, buf, &ll);
	if (rc) {
		flog(lg, XTL_ERROR, rc, "cannot list network links");
		return rc;
	}

	/* Filters first: they redirect into the devices. */
	for (size_t i = 0; i < ll.n; i++) {
		struct filter_list fl;
		bool drop_qdisc = false;
		unsigned int removed = 0;

		rc = cleanup_bypass(nl, buf, &ll.v[i], all, tag, flags, lg, st, spare);
		if (rc && !first_rc)
			first_rc = rc;

		rc = dump_filters(nl, buf, ll.v[i].ifindex, &fl);
		if (rc) {
			if (rc != -ENODEV) {
				flog(lg, XTL_WARN, rc, "cannot list tc filters of %s, ignoring",
				     ll.v[i].name);
				if (!first_rc)
					first_rc = rc;
			}
			continue;
		}
		for (size_t j = 0; j < fl.n; j++) {
			const struct migr__fwd_filter_info *f = &fl.v[j];
			if (!all && f->cookie.tag != tag)
				continue;
			if (spare) {
				note_tag(spare, f->cookie.tag);
				if (tag_live(spare, f->cookie.tag))
					continue;
			}
			if (f->cookie.flags & MIGR__FWD_CK_QDISC)
				drop_qdisc = true;
			if (!dry) {
				rc = migr__nl_talk(nl, migr__fwd_msg_delfilter(buf, f->ifindex, f->prio,
									f->proto, f->handle),
						   NULL, NULL);
				if (rc && rc != -ENOENT) {
					flog(lg, XTL_ERROR, rc, "cannot remove tc filter %x on %s",
					     f->handle, ll.v[i].name);
					if (!first_rc)
						first_rc = rc;
					drop_qdisc = false;
					continue;
				}
			}
			removed++;
		}
		free(fl.v);
		st->filters += removed;
		if (!drop_qdisc || dry)
			continue;
		/*
		 * u32 instances of all priorities share one table, so deleting the last filter
		 * of one does not delete the instance while another exists: remove our
		 * priorities' instances once they hold no filter at all (anybody's).
		 */
		rc = dump_filters(nl, buf, ll.v[i].ifindex, &fl);
		if (rc)
			continue;
		free(fl.v);
		for (int k = 0; k < 3; k++) {
			static const uint16_t protos[3] = { ETH_P_ALL, ETH_P_ARP, ETH_P_IPV6 };
			if (!fl.prio_seen[k] || fl.prio_used[k])
				continue;
			rc = migr__nl_talk(nl, migr__fwd_msg_delfilter(buf, ll.v[i].ifindex,
								MIGR__FWD_PRIO_MAC + k, protos[k], 0),
					   NULL, NULL);
			if (rc && rc != -ENOENT)
				flog(lg, XTL_WARN, rc, "cannot remove the empty u32 instance %u on %s, "
				     "ignoring", MIGR__FWD_PRIO_MAC + k, ll.v[i].name);
		}
		/* Remove the ingress qdisc migr added, once nothing at all is on it. */
		pthread_mutex_lock(&ports_mu);
		rc = dump_filters(nl, buf, ll.v[i].ifindex, &fl);
		if (rc) {
			pthread_mutex_unlock(&ports_mu);
			continue;
		}
		free(fl.v);
		rc = 1;
		if (fl.n_all == 0 && fl.n_other == 0)
			rc = migr__nl_talk(nl, migr__fwd_msg_delingress(buf, ll.v[i].ifindex),
					   NULL, NULL);
		pthread_mutex_unlock(&ports_mu);
		if (rc <= 0) {
			if (rc == 0)
				st->qdiscs++;
			else if (rc != -ENOENT && rc != -EINVAL) {
				flog(lg, XTL_ERROR, rc, "cannot remove ingress qdisc of %s",
				     ll.v[i].name);
				if (!first_rc)
					first_rc = rc;
			}
		}
	}

	for (size_t i = 0; i < ll.n; i++) {
		const struct migr__fwd_link *l = &ll.v[i];
		if (strcmp(l->kind, "vxlan") || !is_fwd_ifname(l->name))
			continue;
		if (!all && strcmp(l->name, want))
			continue;
		if (spare) {
			uint64_t t = strtoull(l->name + strlen(MIGR__FWD_IFPREFIX), NULL, 16);
			note_tag(spare, t);
			if (tag_live(spare, t)) {
				st->spared++;
				continue;
			}
		}
		if (!dry) {
			rc = migr__nl_talk(nl, migr__fwd_msg_dellink(buf, l->ifindex), NULL, NULL);
			if (rc && rc != -ENODEV) {
				flog(lg, XTL_ERROR, rc, "cannot remove device %s", l->name);
				if (!first_rc)
					first_rc = rc;
				continue;
			}
		}
		st->devices++;
	}
	free(ll.v);
	return first_rc;
}

int migr_fwd_cleanup(const char *id, unsigned int flags, struct xentoollog_logger *lg,
		     struct migr_fwd_cleanup_stats *st_r)
{
	struct migr_fwd_cleanup_stats st = { 0 };
	struct live_tags *spare = NULL;
	struct migr__nl *nl = NULL;
	void *buf = NULL;
	int rc;

	if (id && !migr_fwd_id_valid(id))
		return -EINVAL;
	if (id && (flags & MIGR_FWD_CLEANUP_ORPHANS))
		return -EINVAL;
	if (flags & MIGR_FWD_CLEANUP_ORPHANS) {
		spare = calloc(1, sizeof(*spare));
		if (!spare)
			return -ENOMEM;
	}
	buf = malloc(MIGR__NL_BUFSZ);
	if (!buf)
		return -ENOMEM;
	rc = migr__nl_open(&nl);
	if (rc) {
		flog(lg, XTL_ERROR, rc, "cannot open rtnetlink");
		goto out;
	}
	rc = cleanup_tag(nl, buf, !id, id ? migr__fwd_tag(id) : 0, flags, lg, &st, spare);
	if (rc)
		goto out;
	if (st_r)
		*st_r = st;
out:
	migr__nl_close(nl);
	free(buf);
	free(spare);
	return rc;
}

/* ---- addresses from the neighbour tables ----------------------------------------------- */

struct neigh_find {
	uint8_t mac[6];
	struct migr_fwd_addr *v;
	unsigned int max, n;
};

static int collect_neigh(const struct nlmsghdr *nlh, void *data)
{
	struct neigh_find *nf = data;
	struct migr__fwd_neigh e;

	if (migr__fwd_parse_neigh(nlh, &e) || memcmp(e.mac, nf->mac, 6))
		return 0;
	if (e.state & (NUD_INCOMPLETE | NUD_FAILED | NUD_NOARP))
		return 0;
	if (e.addr.family == AF_INET6 && IN6_IS_ADDR_MULTICAST(&e.addr.v6))
		return 0;
	if (e.addr.family == AF_INET && IN_MULTICAST(ntohl(e.addr.v4.s_addr)))
		return 0;
	for (unsigned int i = 0; i < nf->n; i++)
		if (!memcmp(&nf->v[i], &e.addr, sizeof(e.addr)))
			return 0;            /* the same address seen on two devices */
	if (nf->n < nf->max)
		nf->v[nf->n++] = e.addr;
	return 0;
}

int migr_fwd_neigh_find(const uint8_t mac[6], struct migr_fwd_addr *v, unsigned int max,
			unsigned int *n_r)
{
	struct neigh_find nf = { .v = v, .max = max };
	struct migr__nl *nl = NULL;
	void *buf = NULL;
	int rc;

	memcpy(nf.mac, mac, 6);
	buf = malloc(MIGR__NL_BUFSZ);
	if (!buf)
		return -ENOMEM;
	rc = migr__nl_open(&nl);
	if (rc)
		goto out;
	rc = migr__nl_talk(nl, migr__fwd_msg_getneigh(buf, AF_INET), collect_neigh, &nf);
	if (!rc)
		rc = migr__nl_talk(nl, migr__fwd_msg_getneigh(buf, AF_INET6), collect_neigh, &nf);
	if (rc == -EAFNOSUPPORT)
		rc = 0;                      /* a kernel without IPv6 */
	if (!rc)
		*n_r = nf.n;
out:
	migr__nl_close(nl);
	free(buf);
	return rc;
}

int migr_fwd_request_stop(const char *id, struct xentoollog_logger *lg)
{
	char name[MIGR_FWD_IFNAME_LEN], alias[sizeof(MIGR__FWD_ALIAS_PREFIX) + MIGR_FWD_ID_MAX + 8];
	struct migr__nl *nl = NULL;
	struct link_list ll = { 0 };
	const struct migr__fwd_link *l;
	void *buf = NULL;
	int rc;

	if (migr_fwd_ifname(id, name))
		return -EINVAL;
	snprintf(alias, sizeof(alias), MIGR__FWD_ALIAS_PREFIX "%s" MIGR__FWD_ALIAS_STOP, id);
	buf = malloc(MIGR__NL_BUFSZ);
	if (!buf)
		return -ENOMEM;
	rc = migr__nl_open(&nl);
	if (rc)
		goto out;
	rc = dump_links(nl, buf, &ll);
	if (rc)
		goto out;
	l = find_link(&ll, name);
	if (!l || strcmp(l->kind, "vxlan")) {
		rc = -ENOENT;
		goto out;
	}
	rc = migr__nl_talk(nl, migr__fwd_msg_setalias(buf, l->ifindex, alias), NULL, NULL);
out:
	if (rc && rc != -ENOENT)
		flog(lg, XTL_ERROR, rc, "cannot signal the end of forwarding %s", id);
	free(ll.v);
	migr__nl_close(nl);
	free(buf);
	return rc;
}

/* ---- start ------------------------------------------------------------------------------ */

static void fwd_free(struct migr_fwd *f)
{
	if (!f)
		return;
	if (f->pkt_fd >= 0)
		close(f->pkt_fd);
	if (f->owner_fd >= 0)
		close(f->owner_fd);
	migr__nl_close(f->nl);
	free(f->ports);
	free(f);
}

static int check_params(const struct migr_fwd_params *p, bool target)
{
	if (!p || !migr_fwd_id_valid(p->id))
		return -EINVAL;
	if (p->peer.family != AF_INET && p->peer.family != AF_INET6)
		return -EINVAL;
	if (p->local.family != AF_UNSPEC && p->local.family != p->peer.family)
		return -EINVAL;
	if (!p->nics || p->n_nics < 1 || p->n_nics > MIGR_FWD_MAX_NICS)
		return -EINVAL;
	if (p->vni >= (1u << 24))
		return -EINVAL;
	for (unsigned int i = 0; i < p->n_nics; i++) {
		const struct migr_fwd_nic *n = &p->nics[i];
		if (!n->dev || !n->dev[0] || strlen(n->dev) >= IFNAMSIZ)
			return -EINVAL;
		if (n->n_ipv4 > MIGR_FWD_MAX_ADDRS || n->n_ipv6 > MIGR_FWD_MAX_ADDRS)
			return -EINVAL;
		if ((n->n_ipv4 && !n->ipv4) || (n->n_ipv6 && !n->ipv6))
			return -EINVAL;
		/* A multicast or all-zero MAC would steer traffic that is not the guest's. */
		if ((n->mac[0] & 1) || !(n->mac[0] | n->mac[1] | n->mac[2] | n->mac[3] |
					  n->mac[4] | n->mac[5]))
			return -EINVAL;
	}
	if (target && p->announce_dev && strlen(p->announce_dev) >= IFNAMSIZ)
		return -EINVAL;
	return 0;
}

static int fwd_new(const struct migr_fwd_params *p, bool target, struct migr_fwd **f_r)
{
	struct migr_fwd *f;
	int rc;

	rc = check_params(p, target);
	if (rc) {
		flog(p ? p->lg : NULL, XTL_ERROR, rc, "invalid forwarding parameters");
		return rc;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->pkt_fd = -1;
	f->owner_fd = -1;
	f->target = target;
	f->lg = p->lg;
	snprintf(f->id, sizeof(f->id), "%s", p->id);
	f->tag = migr__fwd_tag(p->id);
	migr_fwd_ifname(p->id, f->ifname);
	snprintf(f->alias, sizeof(f->alias), MIGR__FWD_ALIAS_PREFIX "%s", p->id);
	f->flags = p->flags;
	f->quiet_ms = p->quiet_ms ? p->quiet_ms : DEFAULT_QUIET_MS;
	f->max_ms = p->max_ms ? p->max_ms : DEFAULT_MAX_MS;
	f->poll_ms = p->poll_ms ? p->poll_ms : DEFAULT_POLL_MS;
	f->ann_initial_ms = p->announce_initial_ms ? p->announce_initial_ms : DEFAULT_ANN_INITIAL_MS;
	f->ann_rounds = p->announce_rounds ? p->announce_rounds : DEFAULT_ANN_ROUNDS;
	f->ann_step_ms = p->announce_step_ms ? p->announce_step_ms : DEFAULT_ANN_STEP_MS;
	if (target && (p->flags & MIGR_FWD_NO_ANNOUNCE))
		f->ann_rounds = 0;
	if (!target)
		f->ann_rounds = 0;
	f->hold_bytes = p->hold_bytes ? p->hold_bytes : DEFAULT_HOLD_BYTES;
	f->n_nics = p->n_nics;
	for (unsigned int i = 0; i < p->n_nics; i++) {
		const struct migr_fwd_nic *n = &p->nics[i];
		memcpy(f->nics[i].mac, n->mac, 6);
		if (!(p->flags & MIGR_FWD_NO_ARP)) {
			memcpy(f->nics[i].ip4, n->ipv4, n->n_ipv4 * sizeof(*n->ipv4));
			f->nics[i].n_ip4 = n->n_ipv4;
			memcpy(f->nics[i].ip6, n->ipv6, n->n_ipv6 * sizeof(*n->ipv6));
			f->nics[i].n_ip6 = n->n_ipv6;
		}
	}
	rc = owner_bind(f->tag, target, &f->owner_fd);
	if (rc) {
		flog(f->lg, XTL_ERROR, rc, rc == -EBUSY ? "another process forwards %s here" :
		     "cannot take the owner token of %s", f->id);
		fwd_free(f);
		return rc;
	}
	rc = migr__nl_open(&f->nl);
	if (rc) {
		flog(f->lg, XTL_ERROR, rc, "cannot open rtnetlink");
		fwd_free(f);
		return rc;
	}
	*f_r = f;
	return 0;
}

static int add_port(struct migr_fwd *f, uint32_t ifindex)
{
	struct fwd_port *v;

	for (unsigned int i = 0; i < f->n_ports; i++)
		if (f->ports[i].ifindex == ifindex)
			return 0;
	if (f->n_ports >= MAX_PORTS)
		return -E2BIG;
	v = realloc(f->ports, (f->n_ports + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	f->ports = v;
	f->ports[f->n_ports] = (struct fwd_port){ .ifindex = ifindex };
	f->n_ports++;
	return 0;
}

/* The VXLAN device, named and aliased after the id, up, without IPv6 link-local. */
static int make_tunnel(struct migr_fwd *f, const struct migr_fwd_params *p,
		       const struct link_list *ll)
{
	struct migr__fwd_vxlan v;
	struct link_list after = { 0 };
	const struct migr__fwd_link *l;
	int rc;

	memset(&v, 0, sizeof(v));
	v.ifname = f->ifname;
	v.local = p->local;
	v.peer = p->peer;
	v.port = p->port ? p->port : MIGR_FWD_DEFAULT_PORT;
	if (p->vni)
		v.vni = p->vni;
	else
		migr_fwd_vni(p->id, &v.vni);
	if (p->underlay_dev) {
		l = find_link(ll, p->underlay_dev);
		if (!l) {
			flog(f->lg, XTL_ERROR, -ENODEV, "no underlay device %s", p->underlay_dev);
			return -ENODEV;
		}
		v.underlay_ifindex = l->ifindex;
	}
	f->vni = v.vni;
	rc = migr__nl_talk(f->nl, migr__fwd_msg_newvxlan(f->buf, &v), NULL, NULL);
	if (rc) {
		flog(f->lg, XTL_ERROR, rc, "cannot create VXLAN device %s (vni %u, port %u)%s",
		     f->ifname, v.vni, v.port,
		     rc == -EEXIST ? ": the VNI and port are taken by another device" : "");
		return rc;
	}
	rc = dump_links(f->nl, f->buf, &after);
	if (rc)
		return rc;
	l = find_link(&after, f->ifname);
	if (!l) {
		free(after.v);
		return -ENODEV;
	}
	f->vx_ifindex = l->ifindex;
	free(after.v);

	rc = migr__nl_talk(f->nl, migr__fwd_msg_setalias(f->buf, f->vx_ifindex, f->alias),
			   NULL, NULL);
	if (rc) {
		flog(f->lg, XTL_ERROR, rc, "cannot set the alias of %s", f->ifname);
		return rc;
	}
	rc = migr__nl_talk(f->nl, migr__fwd_msg_setlink(f->buf, f->vx_ifindex, false, true),
			   NULL, NULL);
	if (rc)   /* no IPv6 in this kernel: nothing to switch off */
		flog(f->lg, XTL_DETAIL, rc, "no IPv6 address mode on %s, ignoring", f->ifname);
	rc = migr__nl_talk(f->nl, migr__fwd_msg_setlink(f->buf, f->vx_ifindex, true, false),
			   NULL, NULL);
	if (rc)
		flog(f->lg, XTL_ERROR, rc, "cannot bring %s up", f->ifname);
	return rc;
}

/* Ingress qdisc on a port: ours if we add it, or if migr filters on it say it was. */
static int ensure_ingress(struct migr_fwd *f, struct fwd_port *port, const char *name)
{
	struct filter_list fl;
	int rc;

	rc = migr__nl_talk(f->nl, migr__fwd_msg_newingress(f->buf, port->ifindex), NULL, NULL);
	if (rc == 0) {
		port->qdisc_ours = true;
		return 0;
	}
	if (rc != -EEXIST) {
		flog(f->lg, XTL_ERROR, rc, "cannot add an ingress qdisc to %s", name);
		return rc;
	}
	rc = dump_filters(f->nl, f->buf, port->ifindex, &fl);
	if (rc)
		return rc;
	for (size_t i = 0; i < fl.n; i++)
		if (fl.v[i].cookie.flags & MIGR__FWD_CK_QDISC)
			port->qdisc_ours = true;
	free(fl.v);
	return 0;
}

static int add_filter(struct migr_fwd *f, uint32_t ifindex, unsigned int nic,
		      enum migr__fwd_kind kind, const void *what, uint32_t to, bool qdisc_ours)
{
	struct migr__fwd_filter flt;

	memset(&flt, 0, sizeof(flt));
	flt.kind = kind;
	if (kind == MIGR__FWD_K_MAC)
		memcpy(flt.mac, what, 6);
	else if (kind == MIGR__FWD_K_ARP)
		memcpy(&flt.ip4, what, sizeof(flt.ip4));
	else
		memcpy(&flt.ip6, what, sizeof(flt.ip6));
	flt.to_ifindex = to;
	flt.cookie.tag = f->tag;
	flt.cookie.nic = (uint8_t)nic;
	flt.cookie.kind = (uint8_t)kind;
	flt.cookie.flags = (qdisc_ours ? MIGR__FWD_CK_QDISC : 0) |
			   (f->target ? MIGR__FWD_CK_TARGET : 0);
	return migr__nl_talk(f->nl, migr__fwd_msg_newfilter(f->buf, ifindex, &flt), NULL, NULL);
}

/*
 * The filters of every NIC on one port, redirecting to `to` (0: each NIC's vif); *added
 * (may be NULL) counts those added. A failure is logged, except before the first filter when
 * `gone_ok`: -EINVAL (the port's ingress qdisc is gone, for the caller to make again) and
 * -ENODEV (the port itself is gone), the caller's to deal with.
 */
static int add_nic_filters(struct migr_fwd *f, const struct fwd_port *port, uint32_t to,
			   bool gone_ok, unsigned int *added_r)
{
	unsigned int dummy, *added = added_r ? added_r : &dummy;
	int rc = 0;

	*added = 0;
	for (unsigned int i = 0; i < f->n_nics && !rc; i++) {
		const struct fwd_nic *n = &f->nics[i];
		uint32_t dst = to ? to : n->dev_ifindex;
		unsigned int n_filters = 1 + n->n_ip4 + n->n_ip6;

		for (unsigned int k = 0; k < n_filters && !rc; k++) {
			if (k == 0)
				rc = add_filter(f, port->ifindex, i, MIGR__FWD_K_MAC, n->mac, dst,
						port->qdisc_ours);
			else if (k <= n->n_ip4)
				rc = add_filter(f, port->ifindex, i, MIGR__FWD_K_ARP, &n->ip4[k - 1],
						dst, port->qdisc_ours);
			else
				rc = add_filter(f, port->ifindex, i, MIGR__FWD_K_ND,
						&n->ip6[k - 1 - n->n_ip4], dst, port->qdisc_ours);
			*added += !rc;
		}
	}
	if (rc && !(gone_ok && (rc == -EINVAL || rc == -ENODEV) && !*added))
		flog(f->lg, XTL_ERROR, rc, "cannot add a tc filter on ifindex %u", port->ifindex);
	return rc;
}

/* ---- past the bridge (source) ---------------------------------------------------------- */

/*
 * A dom0's address is usually on the bridge its guests use, so the tunnel's packets leave
 * through the bridge device. The Linux bridge announces no offloads for encapsulated packets
 * (its hw_enc_features are empty), so the stack cuts every large TCP packet the guest's
 * peers send into 1.5 KB VXLAN packets in software at the bridge's transmit, and the
 * target takes them one by one (bench-fwd: 398,096 packets of 1,542 bytes on the underlay
 * for 16,811 of 33,822 bytes into the tunnel; 3.0 Gbit/s forwarded against 21.7 direct).
 * A u32 filter on the bridge's egress (clsact: it runs before the transmit's checks)
 * redirects the tunnel's own packets (UDP to the peer's tunnel port) to the bridge port
 * the peer is behind, whose device (a NIC, a bond, a veth) takes them whole. The port is
 * where the bridge's forwarding database puts the peer's MAC, from the neighbour entry of
 * the peer's address (the migration's own connection made it). Without an IPv4 peer that is
 * a neighbour on a bridge, or if the bridge holds another ingress qdisc, the packets take
 * the bridge as before (logged).
 */
struct peer_neigh {
	struct in_addr peer;
	uint32_t ifindex;
	uint8_t mac[6];
	bool found;
};

static int collect_peer(const struct nlmsghdr *nlh, void *data)
{
	struct peer_neigh *pn = data;
	struct migr__fwd_neigh e;

	if (migr__fwd_parse_neigh(nlh, &e) || e.addr.family != AF_INET ||
	    e.addr.v4.s_addr != pn->peer.s_addr || (e.state & (NUD_INCOMPLETE | NUD_FAILED)))
		return 0;
	pn->ifindex = e.ifindex;
	memcpy(pn->mac, e.mac, 6);
	pn->found = true;
	return 0;
}

struct fdb_port {
	uint8_t mac[6];
	uint32_t bridge, port;
};

static int collect_fdb(const struct nlmsghdr *nlh, void *data)
{
	struct fdb_port *fp = data;
	struct migr__fwd_fdb e;

	if (migr__fwd_parse_fdb(nlh, &e) || memcmp(e.mac, fp->mac, 6) || e.master != fp->bridge)
		return 0;
	fp->port = e.port;
	return 0;
}

/* Best effort: a failure leaves the tunnel's packets on the bridge (and is logged). */
static void bypass_bridge(struct migr_fwd *f, const struct migr_fwd_params *p,
			  const struct link_list *ll)
{
	struct peer_neigh pn = { .peer = p->peer.v4 };
	struct fdb_port fp = { .port = 0 };
	struct migr__fwd_filter flt;
	const char *bridge = NULL, *port = NULL;
	bool ours = false;
	int rc;

	if (p->peer.family != AF_INET)
		return;
	rc = migr__nl_talk(f->nl, migr__fwd_msg_getneigh(f->buf, AF_INET), collect_peer, &pn);
	for (size_t i = 0; !rc && pn.found && i < ll->n; i++)
		if (ll->v[i].ifindex == pn.ifindex && !strcmp(ll->v[i].kind, "bridge")) {
			if (ll->v[i].vlan_filtering) {
				flog(f->lg, XTL_DETAIL, 0, "%s: bridge %s filters VLANs (it tags on its "
				     "ports): the tunnel's packets go through it", f->id,
				     ll->v[i].name);
				return;
			}
			bridge = ll->v[i].name;
		}
	if (rc || !bridge) {
		flog(f->lg, XTL_DETAIL, rc, "%s: the peer is not a neighbour behind a bridge here: "
		     "the tunnel's packets go as the stack sends them", f->id);
		return;
	}
	memcpy(fp.mac, pn.mac, 6);
	fp.bridge = pn.ifindex;
	rc = migr__nl_talk(f->nl, migr__fwd_msg_getneigh(f->buf, AF_BRIDGE), collect_fdb, &fp);
	for (size_t i = 0; !rc && fp.port && i < ll->n; i++)
		if (ll->v[i].ifindex == fp.port && ll->v[i].master == fp.bridge)
			port = ll->v[i].name;
	if (rc || !port) {
		flog(f->lg, XTL_DETAIL, rc, "%s: bridge %s does not know the port toward the peer: "
		     "the tunnel's packets go through the bridge", f->id, bridge);
		return;
	}
	pthread_mutex_lock(&ports_mu);
	rc = migr__nl_talk(f->nl, migr__fwd_msg_newclsact(f->buf, fp.bridge), NULL, NULL);
	ours = rc == 0;
	if (rc == -EEXIST) {
		/* anyone's clsact, or another migration's: then it is ours to remove too,
		 * whichever ends last (as ensure_ingress()) */
		struct filter_list fl;

		rc = dump_filters_at(f->nl, f->buf, fp.bridge, &fl, true);
		for (size_t i = 0; !rc && i < fl.n; i++)
			if (fl.v[i].cookie.kind == MIGR__FWD_K_BYPASS &&
			    (fl.v[i].cookie.flags & MIGR__FWD_CK_QDISC))
				ours = true;
		if (!rc)
			free(fl.v);
	}
	memset(&flt, 0, sizeof(flt));
	flt.kind = MIGR__FWD_K_BYPASS;
	flt.peer4 = p->peer.v4;
	flt.port = p->port ? p->port : MIGR_FWD_DEFAULT_PORT;
	flt.vni = f->vni;
	flt.to_ifindex = fp.port;
	flt.cookie.tag = f->tag;
	flt.cookie.kind = MIGR__FWD_K_BYPASS;
	flt.cookie.flags = ours ? MIGR__FWD_CK_QDISC : 0;
	if (!rc)
		rc = migr__nl_talk(f->nl, migr__fwd_msg_newfilter(f->buf, fp.bridge, &flt),
				   NULL, NULL);
	if (rc && ours)
		migr__nl_talk(f->nl, migr__fwd_msg_delclsact(f->buf, fp.bridge), NULL, NULL);
	pthread_mutex_unlock(&ports_mu);
	if (rc) {
		flog(f->lg, XTL_WARN, rc, "%s: cannot send the tunnel's packets past bridge %s "
		     "(another ingress qdisc on it?): they go through it, cut to 1.5 KB, ignoring",
		     f->id, bridge);
		return;
	}
	flog(f->lg, XTL_DETAIL, 0, "%s: the tunnel's packets leave by %s, past bridge %s", f->id,
	     port, bridge);
}

/* ---- the hold (source) ---------------------------------------------------------------- */

/* A plug qdisc at the root of the tunnel device, before any filter sends into it. */
static void start_hold(struct migr_fwd *f)
{
	int rc = migr__nl_talk(f->nl, migr__fwd_msg_newplug(f->buf, f->vx_ifindex, f->hold_bytes),
			       NULL, NULL);

	if (rc) {
		f->hold = MIGR_FWD_HOLD_UNAVAILABLE;
		flog(f->lg, XTL_WARN, rc, "%s: no hold on %s (sch_plug); frames forwarded before "
		     "the guest's vifs are connected on the target may be lost there, ignoring",
		     f->id, f->ifname);
		return;
	}
	f->hold = MIGR_FWD_HOLD_HOLDING;
}

/* The root qdisc of the device asked for (q->ifindex); any other message is skipped. */
static int collect_qdisc(const struct nlmsghdr *nlh, void *data)
{
	struct migr__fwd_qdisc *q = data, got;

	if (migr__fwd_parse_qdisc(nlh, &got) == 0 && got.ifindex == q->ifindex)
		*q = got;
	return MNL_CB_OK;
}

/* While holding: what is in the hold now. */
static int read_hold(struct migr_fwd *f)
{
	struct migr__fwd_qdisc q = { .ifindex = f->vx_ifindex };
	int rc;

	rc = migr__nl_talk(f->nl, migr__fwd_msg_getroot(f->buf, f->vx_ifindex), collect_qdisc, &q);
	if (rc)
		return rc;
	if (strcmp(q.kind, "plug")) {
		flog(f->lg, XTL_WARN, 0, "%s: the root qdisc of %s is %s%s%s, not the hold's plug",
		     f->id, f->ifname, q.kind[0] ? "\"" : "", q.kind[0] ? q.kind : "not reported",
		     q.kind[0] ? "\"" : "");
		return -ENOENT;
	}
	f->held_packets = q.qlen;
	f->held_bytes = q.backlog;
	f->hold_dropped = q.drops;
	return 0;
}

int migr_fwd_release(struct migr_fwd *f)
{
	int rc;

	if (!f || f->hold != MIGR_FWD_HOLD_HOLDING)
		return 0;
	rc = read_hold(f);
	if (rc)
		flog(f->lg, XTL_WARN, rc, "%s: cannot read the hold's counters, ignoring", f->id);
	rc = migr__nl_talk(f->nl, migr__fwd_msg_releaseplug(f->buf, f->vx_ifindex), NULL, NULL);
	if (rc) {
		flog(f->lg, XTL_ERROR, rc, "%s: cannot release the hold on %s", f->id, f->ifname);
		return rc;
	}
	f->hold = MIGR_FWD_HOLD_RELEASED;
	f->last_change_ms = now_ms();     /* the quiet period counts from here */
	flog(f->lg, XTL_INFO, 0, "%s: hold released: %llu frame(s), %llu bytes let out in order, "
	     "%llu dropped over the %u-byte cap", f->id, (unsigned long long)f->held_packets,
	     (unsigned long long)f->held_bytes, (unsigned long long)f->hold_dropped, f->hold_bytes);
	return 0;
}


/* Removes leftovers of the id, logging what a crashed run left. */
static int clean_before(struct migr_fwd *f)
{
	struct migr_fwd_cleanup_stats st = { 0 };
	int rc;

	rc = cleanup_tag(f->nl, f->buf, false, f->tag, 0, f->lg, &st, NULL);
	if (rc)
		return rc;
	if (st.devices || st.filters || st.qdiscs)
		flog(f->lg, XTL_NOTICE, 0, "%s: removed leftovers of an earlier run: %u devices, "
		     "%u filters, %u qdiscs", f->id, st.devices, st.filters, st.qdiscs);
	return 0;
}

static void start_failed(struct migr_fwd *f)
{
	struct migr_fwd_cleanup_stats st = { 0 };

	cleanup_tag(f->nl, f->buf, false, f->tag, 0, f->lg, &st, NULL);
	fwd_free(f);
}

int migr_fwd_source_start(const struct migr_fwd_params *p, struct migr_fwd **f_r)
{
	struct migr_fwd *f = NULL;
	struct link_list ll = { 0 };
	int rc;

	rc = fwd_new(p, false, &f);
	if (rc)
		return rc;
	rc = clean_before(f);
	if (rc)
		goto out_fail;
	rc = dump_links(f->nl, f->buf, &ll);
	if (rc)
		goto out_fail;

	/* Where the guest's frames can come in: every port of its bridge. */
	for (unsigned int i = 0; i < p->n_nics; i++) {
		const struct migr__fwd_link *dev = find_link(&ll, p->nics[i].dev);
		unsigned int before = f->n_ports;
		if (!dev) {
			rc = -ENODEV;
			flog(f->lg, XTL_ERROR, rc, "%s: no device %s", f->id, p->nics[i].dev);
			goto out_fail;
		}
		if (!strcmp(dev->kind, "bridge")) {
			for (size_t j = 0; j < ll.n && !rc; j++)
				if (ll.v[j].master == dev->ifindex)
					rc = add_port(f, ll.v[j].ifindex);
		} else {
			rc = add_port(f, dev->ifindex);
		}
		if (rc)
			goto out_fail;
		if (f->n_ports == before && !strcmp(dev->kind, "bridge"))
			flog(f->lg, XTL_WARN, 0, "%s: bridge %s has no ports, ignoring", f->id,
			     dev->name);
	}
	if (!f->n_ports) {
		rc = -ENODEV;
		flog(f->lg, XTL_ERROR, rc, "%s: nowhere to attach the filters", f->id);
		goto out_fail;
	}

	rc = make_tunnel(f, p, &ll);
	if (rc)
		goto out_fail;
	bypass_bridge(f, p, &ll);
	if (p->flags & MIGR_FWD_HOLD)
		start_hold(f);
	for (unsigned int i = 0; i < f->n_ports; i++) {
		char name[IF_NAMESIZE] = "?";
		for (size_t j = 0; j < ll.n; j++)
			if (ll.v[j].ifindex == f->ports[i].ifindex)
				snprintf(name, sizeof(name), "%s", ll.v[j].name);
		rc = ensure_ingress(f, &f->ports[i], name);
		if (rc)
			goto out_fail;
	}
	free(ll.v);
	ll.v = NULL;
	f->t0_ms = f->last_change_ms = now_ms();
	if (p->flags & MIGR_FWD_DIVERT_LATER) {
		flog(f->lg, XTL_DETAIL, 0, "%s: ready to forward %u NIC(s) from %u port(s) into "
		     "%s", f->id, f->n_nics, f->n_ports, f->ifname);
	} else {
		rc = migr_fwd_source_divert(f);
		if (rc)
			goto out_fail;
	}
	*f_r = f;
	return 0;

out_fail:
	free(ll.v);
	start_failed(f);
	return rc;
}

int migr_fwd_source_divert(struct migr_fwd *f)
{
	unsigned int gone = 0;
	int rc = 0;

	if (!f || f->target)
		return -EINVAL;
	if (f->diverted)
		return 0;
	pthread_mutex_lock(&ports_mu);
	for (unsigned int i = 0; i < f->n_ports; i++) {
		unsigned int added;

		/* Set up ahead, the port may have changed since: its ingress qdisc may have
		 * been another migration's, removed at its end (made again, once), and the
		 * port may be gone (another guest's vif, that guest moved away: nothing can
		 * come in on it). */
		rc = add_nic_filters(f, &f->ports[i], f->vx_ifindex, true, &added);
		if (rc == -EINVAL && !added) {
			flog(f->lg, XTL_DETAIL, 0, "%s: the ingress qdisc of ifindex %u is gone "
			     "(another migration's, removed at its end): making it again", f->id,
			     f->ports[i].ifindex);
			rc = ensure_ingress(f, &f->ports[i], "a bridge port");
			if (!rc)
				rc = add_nic_filters(f, &f->ports[i], f->vx_ifindex, false, &added);
		}
		if (rc == -ENODEV && !added) {
			flog(f->lg, XTL_DETAIL, 0, "%s: port ifindex %u is gone since the set-up, "
			     "skipped", f->id, f->ports[i].ifindex);
			gone++;
			rc = 0;
			continue;
		}
		if (rc)
			break;
	}
	pthread_mutex_unlock(&ports_mu);
	if (!rc && gone == f->n_ports) {
		rc = -ENODEV;
		flog(f->lg, XTL_ERROR, rc, "%s: every port the set-up found is gone", f->id);
	}
	if (rc)
		return rc;
	f->diverted = true;
	f->t0_ms = f->last_change_ms = now_ms();
	flog(f->lg, XTL_INFO, 0, "%s: forwarding %u NIC(s) from %u port(s) into %s", f->id,
	     f->n_nics, f->n_ports - gone, f->ifname);
	return 0;
}

int migr_fwd_target_start(const struct migr_fwd_params *p, struct migr_fwd **f_r)
{
	struct migr_fwd *f = NULL;
	struct link_list ll = { 0 };
	const struct migr__fwd_link *ann = NULL;
	int rc;

	rc = fwd_new(p, true, &f);
	if (rc)
		return rc;
	rc = clean_before(f);
	if (rc)
		goto out_fail;
	rc = dump_links(f->nl, f->buf, &ll);
	if (rc)
		goto out_fail;
	if (p->announce_dev && f->ann_rounds) {
		ann = find_link(&ll, p->announce_dev);
		if (!ann) {
			rc = -ENODEV;
			flog(f->lg, XTL_ERROR, rc, "%s: no device %s", f->id, p->announce_dev);
			goto out_fail;
		}
	}
	for (unsigned int i = 0; i < p->n_nics; i++) {
		const struct migr__fwd_link *vif = find_link(&ll, p->nics[i].dev);
		if (!vif) {
			rc = -ENODEV;
			flog(f->lg, XTL_ERROR, rc, "%s: no vif %s", f->id, p->nics[i].dev);
			goto out_fail;
		}
		f->nics[i].dev_ifindex = vif->ifindex;
		f->nics[i].announce_ifindex = ann ? ann->ifindex : vif->master;
		if (f->ann_rounds && !f->nics[i].announce_ifindex)
			flog(f->lg, XTL_WARN, 0, "%s: vif %s has no bridge to announce on, ignoring",
			     f->id, vif->name);
	}
	rc = make_tunnel(f, p, &ll);
	if (rc)
		goto out_fail;
	free(ll.v);
	ll.v = NULL;
	rc = add_port(f, f->vx_ifindex);
	if (rc)
		goto out_fail;
	rc = ensure_ingress(f, &f->ports[0], f->ifname);
	if (rc)
		goto out_fail;
	rc = add_nic_filters(f, &f->ports[0], 0, false, NULL);
	if (rc)
		goto out_fail;
	if (f->ann_rounds) {
		f->pkt_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
		if (f->pkt_fd < 0) {
			rc = -errno;
			flog(f->lg, XTL_ERROR, rc, "%s: cannot open a packet socket to announce",
			     f->id);
			goto out_fail;
		}
	}
	f->t0_ms = f->last_change_ms = now_ms();
	if (p->flags & MIGR_FWD_LIVE_LATER) {
		f->next_announce_ms = UINT64_MAX;   /* migr_fwd_target_live() sets it */
		flog(f->lg, XTL_DETAIL, 0, "%s: ready to deliver %u NIC(s) from %s", f->id,
		     f->n_nics, f->ifname);
	} else {
		migr_fwd_target_live(f);
	}
	*f_r = f;
	return 0;

out_fail:
	free(ll.v);
	start_failed(f);
	return rc;
}

int migr_fwd_target_live(struct migr_fwd *f)
{
	if (!f || !f->target)
		return -EINVAL;
	if (f->live)
		return 0;
	f->live = true;
	f->t0_ms = f->last_change_ms = now_ms();
	f->next_announce_ms = f->t0_ms + migr__fwd_announce_gap(f->ann_initial_ms,
								f->ann_step_ms, 0);
	flog(f->lg, XTL_INFO, 0, "%s: delivering %u NIC(s) from %s", f->id, f->n_nics,
	     f->ifname);
	return 0;
}


/* ---- poll, run, finish -------------------------------------------------------------------- */

static void announce_round(struct migr_fwd *f)
{
	uint8_t frame[MIGR__FWD_FRAME_MAX];
	size_t len;
	int rc;

	for (unsigned int i = 0; i < f->n_nics; i++) {
		const struct fwd_nic *n = &f->nics[i];
		if (!n->announce_ifindex)
			continue;
		len = migr__fwd_frame_rarp(frame, n->mac);
		rc = migr__fwd_send_frame(f->pkt_fd, n->announce_ifindex, frame, len);
		for (unsigned int j = 0; !rc && j < n->n_ip4; j++) {
			len = migr__fwd_frame_garp(frame, n->mac, n->ip4[j]);
			rc = migr__fwd_send_frame(f->pkt_fd, n->announce_ifindex, frame, len);
		}
		for (unsigned int j = 0; !rc && j < n->n_ip6; j++) {
			len = migr__fwd_frame_una(frame, n->mac, &n->ip6[j]);
			rc = migr__fwd_send_frame(f->pkt_fd, n->announce_ifindex, frame, len);
		}
		if (rc)
			flog(f->lg, XTL_WARN, rc, "%s: announcement round %u failed, ignoring",
			     f->id, f->rounds_done + 1);
	}
}

/*
 * Counters of our filters on every port. A port whose filters are gone (the device was
 * destroyed or moved to another namespace, which drops its qdiscs) is dropped, and what it
 * had counted stays in the totals.
 */
static int read_counters(struct migr_fwd *f, struct migr_fwd_status *st)
{
	for (unsigned int i = 0; i < f->n_ports; i++) {
		struct fwd_port *port = &f->ports[i];
		uint64_t packets = 0, bytes = 0, arp = 0;
		unsigned int n = 0;
		struct filter_list fl;
		int rc = dump_filters(f->nl, f->buf, port->ifindex, &fl);

		if (rc && rc != -ENODEV) {
			flog(f->lg, XTL_ERROR, rc, "%s: cannot read the filter counters", f->id);
			return rc;
		}
		for (size_t j = 0; !rc && j < fl.n; j++) {
			const struct migr__fwd_filter_info *x = &fl.v[j];
			if (x->cookie.tag != f->tag)
				continue;
			packets += x->packets;
			bytes += x->bytes;
			if (x->cookie.kind != MIGR__FWD_K_MAC)
				arp += x->packets;
			n++;
		}
		if (!rc)
			free(fl.v);
		if (!n) {
			f->gone_packets += port->packets;
			f->gone_bytes += port->bytes;
			f->gone_arp += port->arp;
			f->ports[i--] = f->ports[--f->n_ports];
			continue;
		}
		port->packets = packets;
		port->bytes = bytes;
		port->arp = arp;
		st->packets += packets;
		st->bytes += bytes;
		st->arp_packets += arp;
		st->n_filters += n;
	}
	st->packets += f->gone_packets;
	st->bytes += f->gone_bytes;
	st->arp_packets += f->gone_arp;
	return 0;
}

int migr_fwd_poll(struct migr_fwd *f, struct migr_fwd_status *st_r)
{
	struct migr_fwd_status st;
	struct migr__fwd_link l;
	bool gone = false, stop = false, announcing;
	uint64_t now;
	int rc;

	if (!f)
		return -EINVAL;
	memset(&st, 0, sizeof(st));
	rc = get_link(f->nl, f->buf, f->vx_ifindex, &l);
	if (rc == -ENODEV || (!rc && strcmp(l.name, f->ifname)))
		gone = true;
	else if (rc) {
		flog(f->lg, XTL_ERROR, rc, "%s: cannot read %s", f->id, f->ifname);
		return rc;
	} else {
		char stop_alias[sizeof(f->alias) + 8];
		snprintf(stop_alias, sizeof(stop_alias), "%s" MIGR__FWD_ALIAS_STOP, f->alias);
		stop = !strcmp(l.alias, stop_alias);
	}
	if (!gone) {
		rc = read_counters(f, &st);
		if (rc)
			return rc;
		if (f->hold == MIGR_FWD_HOLD_HOLDING && read_hold(f))
			flog(f->lg, XTL_WARN, 0, "%s: cannot read the hold's counters, ignoring", f->id);
	}
	now = now_ms();
	if (st.packets != f->last_packets) {
		f->last_packets = st.packets;
		f->last_change_ms = now;
	}
	if (!gone && f->end == MIGR_FWD_RUNNING && f->rounds_done < f->ann_rounds &&
	    now >= f->next_announce_ms) {
		announce_round(f);
		f->rounds_done++;
		f->next_announce_ms = now + migr__fwd_announce_gap(f->ann_initial_ms,
								   f->ann_step_ms, f->rounds_done);
	}
	/* a hold not yet released keeps forwarding from ending on a quiet period */
	announcing = f->rounds_done < f->ann_rounds || f->hold == MIGR_FWD_HOLD_HOLDING;
	/* a target not live yet (the guest still paused) neither ends on quiet nor on max */
	st.elapsed_ms = f->target && !f->live ? 0 : clamp_u32(now - f->t0_ms);
	st.idle_ms = f->target && !f->live ? 0 : clamp_u32(now - f->last_change_ms);
	if (f->end == MIGR_FWD_RUNNING)
		f->end = migr__fwd_decide(st.elapsed_ms, st.idle_ms, f->quiet_ms, f->max_ms, stop,
					  gone, announcing);
	st.end = f->end;
	st.announce_rounds_done = f->rounds_done;
	st.hold = f->hold;
	st.held_packets = f->held_packets;
	st.held_bytes = f->held_bytes;
	st.hold_dropped = f->hold_dropped;
	st.next_poll_ms = f->poll_ms;
	if (announcing && f->next_announce_ms > now &&
	    f->next_announce_ms - now < st.next_poll_ms)
		st.next_poll_ms = (uint32_t)(f->next_announce_ms - now);
	if (announcing && f->next_announce_ms <= now)
		st.next_poll_ms = 1;
	if (gone)
		st.packets = f->last_packets;
	*st_r = st;
	return 0;
}

int migr_fwd_run(struct migr_fwd *f, struct migr_fwd_status *st_r)
{
	struct migr_fwd_status st;
	int rc;

	for (;;) {
		rc = migr_fwd_poll(f, &st);
		if (rc)
			return rc;
		if (st.end != MIGR_FWD_RUNNING)
			break;
		struct timespec ts = { .tv_sec = st.next_poll_ms / 1000,
				       .tv_nsec = (long)(st.next_poll_ms % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	flog(f->lg, XTL_INFO, 0, "%s: forwarding over (%s) after %u ms: %llu packets, "
	     "%llu bytes", f->id, migr_fwd_end_name(st.end), st.elapsed_ms,
	     (unsigned long long)st.packets, (unsigned long long)st.bytes);
	if (st_r)
		*st_r = st;
	return 0;
}

int migr_fwd_finish(struct migr_fwd *f, struct migr_fwd_status *final_r)
{
	struct migr_fwd_cleanup_stats cs = { 0 };
	struct migr_fwd_status st;
	int rc = 0;

	if (!f)
		return 0;
	if (final_r) {
		memset(&st, 0, sizeof(st));
		if (migr_fwd_poll(f, &st) == 0)
			*final_r = st;
	}
	rc = cleanup_tag(f->nl, f->buf, false, f->tag, 0, f->lg, &cs, NULL);
	if (rc)
		flog(f->lg, XTL_ERROR, rc, "%s: teardown incomplete; `migr cleanup %s` removes "
		     "the rest", f->id, f->id);
	fwd_free(f);
	return rc;
}

/* A net device's numeric sysfs attribute (fwd_int.h). */
int migr__netdev_attr(const char *ifname, const char *attr, uint64_t *v_r)
{
	char path[160], buf[32], *end;
	unsigned long long v;
	ssize_t n;
	int fd;

	if (strchr(ifname, '/') ||
	    snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr) >= (int)sizeof(path))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EINVAL;
	buf[n] = 0;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n'))
		return -EINVAL;
	*v_r = v;
	return 0;
}

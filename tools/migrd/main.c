/*
 * migrd: migr's dom0 daemon. This file holds its main loop and its receiving side: it
 * listens on TCP (TLS 1.3 by default) and runs the target's driver (migr_receive()) on
 * each incoming migration (or resolve question) in a thread of its own with its own
 * hypervisor handle, up to --max-incoming at once, so that an evacuation can move several
 * guests to this host together and the daemon's other sources (xenstore watches, the
 * control socket) stay served during a reception. Concurrent receptions share a claim on
 * free memory (struct migr_recv_claims). On SIGTERM migrd stops accepting and waits for
 * the receptions under way: one past GO must finish, one before it backs out by itself.
 *
 * The main loop polls a small table of event sources ({fd, handler}); the listener is one
 * of them. Other parts of the daemon (xenstore watches, a control socket) join by adding
 * a source with migrd_add_source().
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xentoollog.h>

#include "libmigr.h"
#include "evacd.h"    /* the evacuation part: evac.c, control.c, watch.c */

#define MAX_SOURCES 16

struct source {
	int fd;
	int (*handler)(void *arg);   /* called when fd is readable; <0 stops the daemon */
	void *arg;
};

static struct source sources[MAX_SOURCES];
static unsigned int n_sources;
static volatile sig_atomic_t stopping;

int migrd_add_source(int fd, int (*handler)(void *arg), void *arg)
{
	if (n_sources == MAX_SOURCES)
		return -ENOSPC;
	sources[n_sources++] = (struct source){ fd, handler, arg };
	return 0;
}

/* What a received guest may use here: options, then migrd.conf (evac.c). */
static struct migr_target_rules rules;

int migrd_rules_option(const char *key, const char *value, char *err, size_t errlen)
{
	return migr_target_rules_option(&rules, key, value, err, errlen);
}

static void on_signal(int sig)
{
	stopping = 1;
}

struct receiver {
	struct migr_listener *l;
	struct migr_hv *hv;              /* the main thread's (clean-up at start) */
	struct migr_recv_params rp;      /* template; each reception copies it */
	struct migr_recv_claims claims;
	xentoollog_logger *lg;
	bool once, stock_hotplug;
	const char *vif_helper;           /* found once at start; NULL: stock scripts */
	unsigned long served;
	unsigned int max_incoming;
	pthread_mutex_t lock;
	pthread_cond_t idle;             /* signalled when a reception ends */
	unsigned int active;             /* receptions under way */
	int wake[2];                     /* a reception that ends writes a byte here */
};

struct reception {
	struct receiver *r;
	struct migr_pending *pending;     /* accepted, not yet authenticated */
	struct migr_conn *c;
	char peer[128];
};

static void stamp(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A reception is over: one slot free again (served: it got past authentication). */
static void reception_end(struct receiver *r, bool served)
{
	pthread_mutex_lock(&r->lock);
	r->active--;
	if (served)
		r->served++;
	pthread_cond_broadcast(&r->idle);
	pthread_mutex_unlock(&r->lock);
	if (write(r->wake[1], "x", 1) < 0) {
		/* the pipe is non-blocking and drained by the main loop; nothing to do */
	}
}

/* One connection: its TLS handshake here, off the main loop (a peer that stalls it holds
 * up only this thread, for at most the handshake timeout), then one migration or one
 * resolve question, on a hypervisor handle of its own (libxl's context is not shared
 * between threads here). */
static void *reception_main(void *arg)
{
	struct reception *x = arg;
	struct receiver *r = x->r;
	struct migr_recv_params rp = r->rp;
	struct migr_recv_result res;
	struct migr_hv *hv = NULL;
	char ts[32], err[MIGR_ERR_MAX] = "";
	int rc;

	rc = migr_pending_handshake(x->pending, &x->c, err, sizeof(err));
	x->pending = NULL;
	stamp(ts, sizeof(ts));
	if (rc) {
		fprintf(stderr, "%s migrd: connection from %s refused: %s%s%s\n", ts, x->peer,
			migr_strerror(rc), err[0] ? ": " : "", err);
		free(x);
		reception_end(r, false);
		return NULL;
	}
	fprintf(stderr, "%s migrd: connection from %s (%s%s%s)\n", ts, x->peer,
		migr_conn_security(x->c), migr_conn_peer_identity(x->c)[0] ? ", " : "",
		migr_conn_peer_identity(x->c));

	rp.peer = x->peer;
	rc = migr_hv_xen_open(r->lg, &hv);
	if (rc) {
		memset(&res, 0, sizeof(res));
		snprintf(res.state_text, sizeof(res.state_text), "cannot open the hypervisor "
			 "interfaces (%s)", migr_strerror(rc));
	} else {
		hv->vif_helper = r->vif_helper;
		migr_receive(hv, x->c, &rp, &res);
	}
	stamp(ts, sizeof(ts));
	fprintf(stderr, "%s migrd: %s %s from %s: %s [%s]", ts, res.id[0] ? res.id : "-",
		res.name[0] ? res.name : "-", x->peer, res.state_text, migr_phase_name(res.phase));
	if (res.stream_bytes)
		fprintf(stderr, " stream %.1f MiB in %.2f s, restore tail %.1f ms (device set-up "
			"%.1f ms, fast vif hotplug %u), unpause %.1f ms, announced %u", res.stream_bytes /
			1048576.0, res.stream_us / 1e6, res.restore_us / 1e3, res.devices_us / 1e3,
			res.fast_vifs, res.unpause_us / 1e3, res.announced);
	if (res.vifs)
		fprintf(stderr, ", network back %u/%u vifs in %.1f ms, first frame in %.1f ms",
			res.vifs_connected, res.vifs, res.net_back_us / 1e3, res.first_frame_us / 1e3);
	fprintf(stderr, "\n");
	migr_conn_close(x->c);
	migr_hv_close(hv);
	free(x);
	reception_end(r, true);
	return NULL;
}

/* The main loop's side of a reception's end: with --once, the daemon's end. */
static int on_reception_end(void *arg)
{
	struct receiver *r = arg;
	char buf[64];
	unsigned long served;

	while (read(r->wake[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&r->lock);
	served = r->served;
	pthread_mutex_unlock(&r->lock);
	return r->once && served ? -1 : 0;
}

static bool receiver_full(struct receiver *r)
{
	bool full;

	pthread_mutex_lock(&r->lock);
	full = r->active >= r->max_incoming || (r->once && (r->active || r->served));
	pthread_mutex_unlock(&r->lock);
	return full;
}

/* Waits for the receptions under way (at shutdown). */
static void receiver_drain(struct receiver *r)
{
	pthread_mutex_lock(&r->lock);
	if (r->active)
		fprintf(stderr, "migrd: waiting for %u incoming migration(s) to finish\n", r->active);
	while (r->active)
		pthread_cond_wait(&r->idle, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

/* A connection: accept it here, hand it to a reception thread, which authenticates it. */
static int on_incoming(void *arg)
{
	struct receiver *r = arg;
	struct migr_pending *pend = NULL;
	struct reception *x;
	pthread_attr_t attr;
	pthread_t th;
	char peer[128] = "", err[MIGR_ERR_MAX] = "", ts[32];
	int rc;

	rc = migr_accept_pending(r->l, &pend, peer, err, sizeof(err));
	stamp(ts, sizeof(ts));
	if (rc) {
		fprintf(stderr, "%s migrd: connection from %s refused: %s%s%s\n", ts,
			peer[0] ? peer : "?", migr_strerror(rc), err[0] ? ": " : "", err);
		return 0;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		fprintf(stderr, "%s migrd: connection from %s dropped: out of memory\n", ts, peer);
		migr_pending_free(pend);
		return 0;
	}
	x->r = r;
	x->pending = pend;
	snprintf(x->peer, sizeof(x->peer), "%s", peer);
	pthread_mutex_lock(&r->lock);
	r->active++;
	pthread_mutex_unlock(&r->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&th, &attr, reception_main, x);
	pthread_attr_destroy(&attr);
	if (rc) {
		fprintf(stderr, "%s migrd: connection from %s dropped: cannot start a thread (%s)\n",
			ts, peer, strerror(rc));
		pthread_mutex_lock(&r->lock);
		r->active--;
		pthread_mutex_unlock(&r->lock);
		migr_pending_free(pend);
		free(x);
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: migrd [OPTIONS]\n"
"\n"
"migr's dom0 daemon: receives live migrations on TCP and runs host evacuations.\n"
"  --listen [HOST:]PORT  where to listen (default every address, port %d)\n"
"  --psk FILE | --cert FILE --key FILE --ca FILE   credentials (TLS 1.3; default %s,\n"
"                        else %s/{cert,key,ca}.pem)\n"
"  --insecure            plain TCP, no authentication: only on a trusted network\n"
"  --record-dir DIR      durable migration records (default %s)\n"
"  --reserve-mib N       free memory to keep beyond an incoming guest's (default 0)\n"
"  --once                exit after one connection\n"
"  --timeout S           a connection making no progress for S seconds fails (default 300)\n"
"  --no-cleanup          at start, keep paused NAME--incoming domains (by default they are\n"
"                        destroyed: an interrupted receive left them)\n"
"  --port-file FILE      write the bound port there once listening\n"
"  --max-incoming N      migrations received at once (default 4; each in its own thread;\n"
"                        they share a claim on free memory)\n"
"  --stock-hotplug       run guests' stock vif-bridge script while restoring them; by\n"
"                        default migr-vif-bridge (installed beside migrd) does its work\n"
"                        in one process when nothing unusual is configured, then the\n"
"                        stock script is named again in the guest's configuration\n"
"  -v                    more log detail (-vv: libxl's detail, -vvv: its debug log)\n"
"\n%s"
"These options are also keys of /etc/migr/migrd.conf (allow-bridge = xenbr0,br1).\n",
		MIGR_DEFAULT_PORT, MIGR_PSK_FILE, MIGR_TLS_DIR, MIGR_STATE_DIR,
		migr_target_rules_help());
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", 1, 0, 'l' }, { "psk", 1, 0, 'P' }, { "cert", 1, 0, 'c' },
		{ "key", 1, 0, 'k' }, { "ca", 1, 0, 'a' }, { "insecure", 0, 0, 'i' },
		{ "record-dir", 1, 0, 'r' }, { "reserve-mib", 1, 0, 'm' }, { "once", 0, 0, 'o' },
		{ "port-file", 1, 0, 'p' }, { "timeout", 1, 0, 'T' }, { "no-cleanup", 0, 0, 'N' },
		{ "stock-hotplug", 0, 0, 'S' }, { "max-incoming", 1, 0, 'M' }, { "help", 0, 0, 'h' },
		MIGR_TARGET_RULES_OPTIONS('R'), { 0 }
	};
	struct migr_transport_opts t;
	struct receiver r;
	struct pollfd pfd[MAX_SOURCES];
	struct sigaction sa;
	const char *listen_on = NULL, *port_file = NULL;
	char err[MIGR_ERR_MAX] = "", def[32];
	int opt, idx = 0, verbose = 0, rc, status = 1;
	unsigned int listener_idx = 0;
	bool no_cleanup = false;
	unsigned int cleaned = 0;

	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.idle, NULL);
	pthread_mutex_init(&r.claims.lock, NULL);
	r.rp.claims = &r.claims;
	r.max_incoming = 4;
	r.wake[0] = r.wake[1] = -1;
	migr_transport_opts_init(&t);
	t.io_timeout_ms = 300000;
	migr_target_rules_init(&rules);
	r.rp.rules = &rules;
	while ((opt = getopt_long(argc, argv, "vh", opts, &idx)) != -1) {
		switch (opt) {
		case 'R':
			if (migr_target_rules_option(&rules, opts[idx].name, optarg, err,
						     sizeof(err))) {
				fprintf(stderr, "migrd: --%s: %s\n", opts[idx].name,
					err[0] ? err : "out of memory");
				return 2;
			}
			break;
		case 'l': listen_on = optarg; break;
		case 'P': t.psk_file = optarg; break;
		case 'c': t.cert_file = optarg; break;
		case 'k': t.key_file = optarg; break;
		case 'a': t.ca_file = optarg; break;
		case 'i': t.insecure = true; break;
		case 'r': r.rp.record_dir = optarg; break;
		case 'm': r.rp.reserve_kib = strtoull(optarg, NULL, 10) * 1024; break;
		case 'o': r.once = true; break;
		case 'p': port_file = optarg; break;
		case 'T': t.io_timeout_ms = strtoul(optarg, NULL, 10) * 1000; break;
		case 'N': no_cleanup = true; break;
		case 'S': r.stock_hotplug = true; break;
		case 'M': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > 64) {
				fprintf(stderr, "migrd: --max-incoming takes 1..64\n");
				return 2;
			}
			r.max_incoming = (unsigned int)v;
			break;
		}
		case 'v': verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!t.insecure && !t.psk_file && !t.cert_file && !t.ca_file) {
		if (access(MIGR_PSK_FILE, R_OK) == 0) {
			t.psk_file = MIGR_PSK_FILE;
		} else {
			t.ca_file = MIGR_TLS_DIR "/ca.pem";
			t.cert_file = MIGR_TLS_DIR "/cert.pem";
			t.key_file = MIGR_TLS_DIR "/key.pem";
		}
	}
	if (!listen_on) {
		snprintf(def, sizeof(def), ":%d", MIGR_DEFAULT_PORT);
		listen_on = def;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	r.lg = (xentoollog_logger *)xtl_createlogger_stdiostream(stderr,
			verbose >= 3 ? XTL_DEBUG : verbose == 2 ? XTL_DETAIL :
			verbose ? XTL_INFO : XTL_ERROR, 0);
	r.rp.lg = r.lg;
	rc = migr_hv_xen_open(r.lg, &r.hv);
	if (rc) {
		fprintf(stderr, "migrd: cannot open the hypervisor interfaces (%s); run as root in "
			"dom0\n", migr_strerror(rc));
		goto out;
	}
	/* Once, here: migr_vif_helper_default() fills a static buffer. */
	r.vif_helper = r.stock_hotplug ? NULL : migr_vif_helper_default();
	if (!no_cleanup && migr_receive_cleanup(r.hv, r.lg, &cleaned) == 0 && cleaned)
		fprintf(stderr, "migrd: destroyed %u paused NAME--incoming domain(s) an interrupted "
			"receive left\n", cleaned);
	rc = migr_listen(listen_on, &t, &r.l, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "migrd: cannot listen on %s: %s%s%s\n", listen_on, migr_strerror(rc),
			err[0] ? ": " : "", err);
		goto out;
	}
	fprintf(stderr, "migrd: listening on %s (port %d, %s; vif hotplug on restore: %s)\n",
		listen_on, migr_listener_port(r.l), t.insecure ? "INSECURE plain TCP" :
		t.psk_file ? "TLS 1.3, pre-shared key" : "TLS 1.3, certificates",
		r.vif_helper ? r.vif_helper : "stock scripts");
	if (port_file) {
		FILE *f = fopen(port_file, "w");
		if (f) {
			fprintf(f, "%d\n", migr_listener_port(r.l));
			fclose(f);
		}
	}
	if (pipe2(r.wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		perror("migrd: pipe");
		goto out;
	}
	listener_idx = n_sources;
	migrd_add_source(migr_listener_fd(r.l), on_incoming, &r);
	migrd_add_source(r.wake[0], on_reception_end, &r);
	if (migrd_evac_init(r.lg))
		goto out;

	while (!stopping) {
		for (unsigned int i = 0; i < n_sources; i++)
			pfd[i] = (struct pollfd){ .fd = sources[i].fd, .events = POLLIN };
		/* At --max-incoming, new connections wait in the listen backlog. */
		if (receiver_full(&r))
			pfd[listener_idx].fd = -1;
		rc = poll(pfd, n_sources, -1);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			perror("migrd: poll");
			goto out;
		}
		for (unsigned int i = 0; i < n_sources && !stopping; i++)
			if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    sources[i].handler(sources[i].arg) < 0)
				stopping = 1;
	}
	status = 0;
out:
	migr_listener_close(r.l);
	r.l = NULL;
	migrd_evac_fini();
	receiver_drain(&r);
	if (r.wake[0] >= 0) {
		close(r.wake[0]);
		close(r.wake[1]);
	}
	migr_hv_close(r.hv);
	xtl_logger_destroy(r.lg);
	migr_target_rules_dispose(&rules);
	return status;
}

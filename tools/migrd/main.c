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
#include <sys/timerfd.h>
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
	struct migr_fault_set faults;     /* MIGR_FAULT, for every reception */
	struct migr_transport_opts copts; /* as a client: resolving its own migrations */
	const char *src_record_dir;
	const char *report_dir;           /* the evacuation engine's round logs */
	const char *vif_helper;           /* found once at start; NULL: stock scripts */
	unsigned long served;
	unsigned int max_incoming;
	pthread_mutex_t lock;
	pthread_cond_t idle;             /* signalled when a reception ends */
	unsigned int active;             /* receptions under way */
	unsigned int waiting;            /* authenticated, waiting for a slot */
	bool closing;                    /* shutting down: waiting ones give up */
	int wake[2];                     /* a reception that ends writes a byte here */
	int recover_timer;               /* timerfd: source recovery every 30 s */
	struct migr_admit *admit;        /* handshakes: a pool with deadlines (migr/admit.h) */
	struct migr_admit_opts ao;
};

struct reception {
	struct receiver *r;
	struct migr_conn *c;              /* authenticated */
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

/* One authenticated connection (the handshake pool admitted it): a reception slot, taken
 * only now, then one migration or one resolve question, on a hypervisor handle of its own
 * (libxl's context is not shared between threads here). */
static void *reception_main(void *arg)
{
	struct reception *x = arg;
	struct receiver *r = x->r;
	struct migr_recv_params rp = r->rp;
	struct migr_recv_result res;
	struct migr_hv *hv = NULL;
	char ts[32];
	int rc;

	pthread_mutex_lock(&r->lock);
	while (r->active >= r->max_incoming && !r->closing)
		pthread_cond_wait(&r->idle, &r->lock);
	r->waiting--;
	if (r->closing) {
		pthread_cond_broadcast(&r->idle);
		pthread_mutex_unlock(&r->lock);
		migr_conn_close(x->c);
		free(x);
		return NULL;
	}
	r->active++;
	pthread_mutex_unlock(&r->lock);
	stamp(ts, sizeof(ts));
	fprintf(stderr, "%s migrd: connection from %s (%s%s%s)\n", ts, x->peer,
		migr_conn_security(x->c), migr_conn_peer_identity(x->c)[0] ? ", " : "",
		migr_conn_peer_identity(x->c));

	rp.peer = x->peer;
	rp.faults = r->faults.n ? &r->faults : NULL;
	rp.vif_helper = r->vif_helper;
	rc = migr_hv_xen_open(r->lg, &hv);
	if (rc) {
		memset(&res, 0, sizeof(res));
		snprintf(res.state_text, sizeof(res.state_text), "cannot open the hypervisor "
			 "interfaces (%s)", migr_strerror(rc));
	} else {
		rc = migr_receive(hv, x->c, &rp, &res);
		/* a migration whose stream began (not a resolve question, nor a pre-flight
		 * refused, as every capacity probe is) */
		if (res.stream_bytes)
			migrd_metrics_received(rc, &res);
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

/* ---- recovery (docs/phases.md, "Recovery") ---- */

static void recovery_report(const struct migr_recover_report *rep, void *arg)
{
	char ts[32];

	stamp(ts, sizeof(ts));
	fprintf(stderr, "%s migrd: recovery: %s %s: %s\n", ts, rep->id[0] ? rep->id : "-",
		rep->name, rep->text);
}

static struct migr_conn *recovery_connect(const struct migr_src_record *rec, void *arg)
{
	struct receiver *r = arg;
	struct migr_transport_opts o = r->copts;
	struct migr_conn *c = NULL;
	char err[MIGR_ERR_MAX] = "";

	if (!rec->target[0])
		return NULL;
	o.timeout_ms = 5000;
	o.io_timeout_ms = 10000;
	if (migr_connect(rec->target, &o, &c, err, sizeof(err))) {
		fprintf(stderr, "migrd: recovery: cannot reach %s for %s: %s\n", rec->target,
			rec->name, err);
		return NULL;
	}
	return c;
}

/* This host's migrations (as a source) that did not end: settled with their targets. */
static int recover_sources(void *arg)
{
	struct receiver *r = arg;
	struct migr_resolve_params rsp = { .record_dir = r->src_record_dir, .lg = r->lg };
	uint64_t ticks;

	if (r->recover_timer >= 0 && read(r->recover_timer, &ticks, sizeof(ticks)) < 0) {
		/* nothing to drain */
	}
	migr_recover_source(r->hv, &rsp, recovery_connect, r, recovery_report);
	return 0;
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

/* Waits for the receptions under way (at shutdown); those waiting for a slot give up. */
static void receiver_drain(struct receiver *r)
{
	pthread_mutex_lock(&r->lock);
	r->closing = true;
	pthread_cond_broadcast(&r->idle);
	if (r->active)
		fprintf(stderr, "migrd: waiting for %u incoming migration(s) to finish\n", r->active);
	while (r->active || r->waiting)
		pthread_cond_wait(&r->idle, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

/* A connection: accepted here and queued for the handshake pool (migr/admit.h), which
 * refuses it at once over a limit. */
static int on_incoming(void *arg)
{
	struct receiver *r = arg;

	migr_admit_accept(r->admit);
	return 0;
}

/* Refusals before authentication, at most one line per address and interval. */
static void on_refused(const char *peer, int rc, const char *why, unsigned int suppressed,
		       void *arg)
{
	char ts[32];

	stamp(ts, sizeof(ts));
	fprintf(stderr, "%s migrd: connection from %s refused: %s%s%s", ts, peer,
		migr_strerror(rc), why[0] ? ": " : "", why);
	if (suppressed)
		fprintf(stderr, " (and %u more from this address since its last report)", suppressed);
	fprintf(stderr, "\n");
}

/* A handshake thread with an authenticated connection: a reception thread of its own,
 * which waits for a slot; at most --max-incoming wait, more are refused. */
static void on_admitted(struct migr_conn *c, const char *peer, void *arg)
{
	struct receiver *r = arg;
	struct reception *x = NULL;
	pthread_attr_t attr;
	pthread_t th;
	const char *why = NULL;
	char ts[32];
	int rc;

	pthread_mutex_lock(&r->lock);
	if (r->closing)
		why = "shutting down";
	else if (r->once && (r->active || r->waiting || r->served))
		why = "--once: already served a connection";
	else if (r->waiting >= r->max_incoming)
		why = "busy: every reception slot taken and as many waiting";
	else if (!(x = calloc(1, sizeof(*x))))
		why = "out of memory";
	else
		r->waiting++;
	pthread_mutex_unlock(&r->lock);
	if (why)
		goto out_refuse;
	x->r = r;
	x->c = c;
	snprintf(x->peer, sizeof(x->peer), "%s", peer);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&th, &attr, reception_main, x);
	pthread_attr_destroy(&attr);
	if (!rc)
		return;
	pthread_mutex_lock(&r->lock);
	r->waiting--;
	pthread_mutex_unlock(&r->lock);
	free(x);
	why = "cannot start a thread";
out_refuse:
	stamp(ts, sizeof(ts));
	fprintf(stderr, "%s migrd: connection from %s (%s) dropped: %s\n", ts, peer,
		migr_conn_peer_identity(c), why);
	migr_conn_close(c);
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
"  --allow-peer NAME[,NAME...]  accept only these sources (repeatable): a certificate's\n"
"                        subject CN or subjectAltName DNS name, or a PSK identity (the\n"
"                        source's host name), must be one of them; others are refused\n"
"                        and the log names what they presented. Default: any peer that\n"
"                        authenticates. Key and PSK files must be mode 0600 (owner only)\n"
"  --record-dir DIR      durable migration records (default %s)\n"
"  --reserve-mib N       free memory to keep beyond an incoming guest's (default 0)\n"
"  --once                exit after one connection\n"
"  --timeout S           a connection making no progress for S seconds fails (default 300)\n"
"  --no-cleanup          at start, leave what interrupted migrations left alone (by\n"
"                        default migrd settles them from its records: an incoming copy\n"
"                        whose record says running is renamed and unpaused, one that\n"
"                        says restored-paused (no GO can come after a restart) or has\n"
"                        no record is destroyed; its own outgoing migrations\n"
"                        not yet decided are resolved with their targets, at start and\n"
"                        every 30 s)\n"
"  --src-record-dir DIR  this host's records as a source (default %s)\n"
"  --report-dir DIR      the round logs of the migrations its evacuations send, drawn\n"
"                        by migr report (default %s)\n"
"  --metrics-file FILE   Prometheus text-format metrics for node_exporter's textfile\n"
"                        collector (default %s; \"\" none)\n"
"  --port-file FILE      write the bound port there once listening\n"
"  --max-incoming N      migrations received at once (default 4; each in its own thread;\n"
"                        they share a claim on free memory); a slot is taken only\n"
"                        after authentication, and as many more may wait for one\n"
"  --handshake-timeout S  a connection must authenticate within S seconds of being\n"
"                        accepted (default 5); handshakes run in a pool of 4 threads\n"
"  --max-per-address N   connections one address may hold before authenticating\n"
"                        (default 2); more are closed at once. Refusals are logged once\n"
"                        per address and minute, with a count of the others\n"
"  --stock-hotplug       run guests' stock vif-bridge script while restoring them; by\n"
"                        default migr-vif-bridge (installed beside migrd) does its work\n"
"                        in one process when nothing unusual is configured, then the\n"
"                        stock script is named again in the guest's configuration\n"
"  -v                    more log detail (-vv: libxl's detail, -vvv: its debug log)\n"
"MIGR_FAULT=POINT:KIND[,...] in the environment injects faults into every reception\n"
"(`migr faults` lists the points).\n"
"\n%s"
"These options are also keys of /etc/migr/migrd.conf (allow-bridge = xenbr0,br1).\n",
		MIGR_DEFAULT_PORT, MIGR_PSK_FILE, MIGR_TLS_DIR, MIGR_STATE_DIR, MIGR_SRC_STATE_DIR,
		MIGR_REPORT_DIR, MIGR_METRICS_FILE, migr_target_rules_help());
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", 1, 0, 'l' }, { "psk", 1, 0, 'P' }, { "cert", 1, 0, 'c' },
		{ "key", 1, 0, 'k' }, { "ca", 1, 0, 'a' }, { "insecure", 0, 0, 'i' },
		{ "record-dir", 1, 0, 'r' }, { "reserve-mib", 1, 0, 'm' }, { "once", 0, 0, 'o' },
		{ "port-file", 1, 0, 'p' }, { "timeout", 1, 0, 'T' }, { "no-cleanup", 0, 0, 'N' },
		{ "stock-hotplug", 0, 0, 'S' }, { "max-incoming", 1, 0, 'M' }, { "help", 0, 0, 'h' },
		{ "allow-peer", 1, 0, 'A' }, { "handshake-timeout", 1, 0, 'H' },
		{ "max-per-address", 1, 0, 'R' }, { "src-record-dir", 1, 0, 'D' },
		{ "report-dir", 1, 0, 'G' }, { "metrics-file", 1, 0, 'F' },
		MIGR_TARGET_RULES_OPTIONS('Z'), { 0 }
	};
	struct migr_transport_opts t;
	struct receiver r;
	struct pollfd pfd[MAX_SOURCES];
	struct sigaction sa;
	const char *listen_on = NULL, *port_file = NULL, *metrics_file = NULL;
	char err[MIGR_ERR_MAX] = "", def[32];
	int opt, idx = 0, verbose = 0, rc, status = 1;
	unsigned int listener_idx = 0;
	bool no_cleanup = false;

	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.idle, NULL);
	pthread_mutex_init(&r.claims.lock, NULL);
	r.rp.claims = &r.claims;
	r.max_incoming = 4;
	r.wake[0] = r.wake[1] = -1;
	r.recover_timer = -1;
	migr_transport_opts_init(&t);
	t.io_timeout_ms = 300000;
	migr_target_rules_init(&rules);
	r.rp.rules = &rules;
	while ((opt = getopt_long(argc, argv, "vh", opts, &idx)) != -1) {
		switch (opt) {
		case 'Z':
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
		case 'A': {   /* repeatable: the lists are joined */
			char *joined = NULL;
			if (asprintf(&joined, "%s%s%s", t.allow_peers ? t.allow_peers : "",
				     t.allow_peers ? "," : "", optarg) < 0)
				return 1;
			t.allow_peers = joined;   /* lives as long as the daemon */
			break;
		}
		case 'r': r.rp.record_dir = optarg; break;
		case 'm': r.rp.reserve_kib = strtoull(optarg, NULL, 10) * 1024; break;
		case 'o': r.once = true; break;
		case 'p': port_file = optarg; break;
		case 'T': t.io_timeout_ms = strtoul(optarg, NULL, 10) * 1000; break;
		case 'N': no_cleanup = true; break;
		case 'D': r.src_record_dir = optarg; break;
		case 'G': r.report_dir = optarg; break;
		case 'F': metrics_file = optarg; break;
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
		case 'H': case 'R': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > (opt == 'H' ? 300 : 64)) {
				fprintf(stderr, "migrd: --%s takes 1..%d\n", opt == 'H' ?
					"handshake-timeout" : "max-per-address", opt == 'H' ? 300 : 64);
				return 2;
			}
			if (opt == 'H')
				r.ao.handshake_ms = (unsigned int)v * 1000;
			else
				r.ao.per_addr = (unsigned int)v;
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
	{
		const char *spec = getenv("MIGR_FAULT");
		char ferr[160];

		if (spec && spec[0] && migr_fault_parse(spec, &r.faults, ferr, sizeof(ferr))) {
			fprintf(stderr, "migrd: MIGR_FAULT: %s\n", ferr);
			return 2;
		}
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
	r.copts = t;
	if (!no_cleanup) {
		rc = migr_recover_target(r.hv, r.rp.record_dir, r.lg, recovery_report, &r);
		if (rc)
			fprintf(stderr, "migrd: recovery: cannot read the records in %s: %s\n",
				r.rp.record_dir ? r.rp.record_dir : MIGR_STATE_DIR, migr_strerror(rc));
		recover_sources(&r);
	}
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
	r.ao.admitted = on_admitted;
	r.ao.refused = on_refused;
	r.ao.arg = &r;
	rc = migr_admit_start(r.l, &r.ao, &r.admit);
	if (rc) {
		fprintf(stderr, "migrd: cannot start the handshake threads: %s\n", migr_strerror(rc));
		goto out;
	}
	listener_idx = n_sources;
	migrd_add_source(migr_listener_fd(r.l), on_incoming, &r);
	migrd_add_source(r.wake[0], on_reception_end, &r);
	if (!no_cleanup) {
		struct itimerspec its = { { 30, 0 }, { 30, 0 } };

		r.recover_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (r.recover_timer >= 0 && timerfd_settime(r.recover_timer, 0, &its, NULL) == 0)
			migrd_add_source(r.recover_timer, recover_sources, &r);
	}
	if (migrd_evac_init(r.lg, r.src_record_dir, r.report_dir))
		goto out;
	/* the option, else migrd.conf's metrics-file, else the textfile collector's place */
	migrd_metrics_start(metrics_file ? metrics_file : migrd_evac.metrics_file_set ?
			    migrd_evac.metrics_file : MIGR_METRICS_FILE);

	while (!stopping) {
		for (unsigned int i = 0; i < n_sources; i++)
			pfd[i] = (struct pollfd){ .fd = sources[i].fd, .events = POLLIN };
		/* --once: after the one connection, the rest wait in the listen backlog. */
		if (r.once && receiver_full(&r))
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
	migr_admit_stop(r.admit);
	migr_listener_close(r.l);
	r.l = NULL;
	migrd_evac_fini();
	receiver_drain(&r);
	if (r.wake[0] >= 0) {
		close(r.wake[0]);
		close(r.wake[1]);
	}
	if (r.recover_timer >= 0)
		close(r.recover_timer);
	migr_hv_close(r.hv);
	xtl_logger_destroy(r.lg);
	migr_target_rules_dispose(&rules);
	return status;
}

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
 *
 * Settings (conf.c): the defaults, then migrd.conf, then the command line; all checked
 * before anything starts. --check-config stops after the check and lists them.
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
#include "conf.h"     /* the settings */
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
		fprintf(stderr, " stream %.1f MiB in %.2f s (%.1f MiB on the wire, %.1f MiB of "
			"zero pages and %.1f MiB by compression not sent), restore tail %.1f ms "
			"(device set-up %.1f ms, fast vif hotplug %u), unpause %.1f ms, announced %u",
			res.stream_bytes / 1048576.0, res.stream_us / 1e6, res.wire_bytes / 1048576.0,
			res.zero_bytes / 1048576.0, res.compress_saved_bytes / 1048576.0,
			res.restore_us / 1e3, res.devices_us / 1e3, res.fast_vifs, res.unpause_us / 1e3,
			res.announced);
	if (res.early_vifs || res.early_disks || res.late_devices)
		fprintf(stderr, ", devices added while the stream came: %u vifs, %u disks in %.1f "
			"ms (done %.1f ms before the restore's end), after it %u", res.early_vifs,
			res.early_disks, res.early_devices_us / 1e3, res.early_before_end_us / 1e3,
			res.late_devices);
	if (res.vifs)
		fprintf(stderr, ", network back %u/%u vifs in %.1f ms, first frame in %.1f ms",
			res.vifs_connected, res.vifs, res.net_back_us / 1e3, res.first_frame_us / 1e3);
	if (res.fwd.state != MIGR_FWDS_OFF || res.fwd.why[0])
		fprintf(stderr, ", forwarding %s%s%s", migr_fwd_state_name(res.fwd.state),
			res.fwd.why[0] ? ": " : "", res.fwd.why);
	fprintf(stderr, "\n");
	if (r->once && res.fwd.state == MIGR_FWDS_RUNNING) {
		/* the process ends after this one: its forwarding must end first */
		struct migr_fwd_summary fin;
		if (migr_fwd_wait(res.id, true, 0, &fin) == 0) {
			stamp(ts, sizeof(ts));
			fprintf(stderr, "%s migrd: %s forwarding over (%s) after %.1f s: %llu frame(s) "
				"delivered\n", ts, res.id, migr_fwd_end_name((enum migr_fwd_end)fin.end),
				fin.elapsed_ms / 1000.0, (unsigned long long)fin.packets);
		}
	}
	migr_conn_close(x->c);
	migr_hv_close(hv);
	free(x);
	migrd_etcd_changed();
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
/* What forwarding a killed migr or migrd left here (docs/forwarding.md, "Teardown,
 * crashes and migr cleanup"): only what no live process owns, so a `migr migrate` or
 * `migr forward` running beside this start-up keeps its own. */
static void cleanup_forwarding(struct receiver *r)
{
	struct migr_fwd_cleanup_stats st;
	int rc;

	rc = migr_fwd_cleanup(NULL, MIGR_FWD_CLEANUP_ORPHANS, r->lg, &st);
	if (rc)
		fprintf(stderr, "migrd: cannot remove forwarding leftovers: %s, ignoring\n",
			migr_strerror(rc));
	else if (st.devices || st.filters || st.qdiscs)
		fprintf(stderr, "migrd: removed forwarding leftovers: %u device(s), %u filter(s), "
			"%u qdisc(s); kept %u still forwarding\n", st.devices, st.filters,
			st.qdiscs, st.spared);
}

static int recover_sources(void *arg)
{
	struct receiver *r = arg;
	struct migr_resolve_params rsp = { .record_dir = r->src_record_dir, .lg = r->lg,
					   .etcd = r->rp.etcd, .fence_self = r->rp.fence_self };
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
"       migrd --check-config [FILE] [OPTIONS]\n"
"\n"
"migr's dom0 daemon: receives live migrations on TCP and runs host evacuations.\n"
"  --listen [HOST:]PORT  where to listen (default every address, port %d)\n"
"  --psk FILE | --cert FILE --key FILE --ca FILE   credentials (TLS 1.3; default %s,\n"
"                        else %s/{cert,key,ca}.pem), for the migrations\n"
"                        received and migrd's own connections (evacuations, recovery)\n"
"  --insecure            plain TCP, no authentication: only on a trusted network\n"
"  --allow-peer NAME[,NAME...]  accept only these sources (repeatable): a certificate's\n"
"                        subject CN or subjectAltName DNS name, or a PSK identity (the\n"
"                        source's host name), must be one of them; others are refused\n"
"                        and the log names what they presented. Default: any peer that\n"
"                        authenticates. Key and PSK files must be mode 0600 (owner only)\n"
"  --record-dir DIR      durable migration records (default %s)\n"
"  --reserve-mib N       free memory to keep beyond an incoming guest's (default 0)\n"
"  --once                exit after one connection\n"
"  --timeout S           a connection making no progress for S seconds fails (default 300;\n"
"                        0: no limit)\n"
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
"  --late-devices        add a received guest's vifs after its stream, in the blackout,\n"
"                        as libxl does; by default they are added to the paused new\n"
"                        domain while the stream comes\n"
"  --no-forward          no forwarding: neither for the guests received here (the end of\n"
"                        the tunnel that delivers what their source still gets) nor\n"
"                        for those this host's evacuations send\n"
"  --forward-quiet-ms MS, --forward-max-ms MS  forwarding ends once nothing came for MS\n"
"                        (default 2000), at the latest after MS (default 60000)\n"
"  --on-switchover CMD   run `sh -c CMD` when a guest received here starts running (not\n"
"                        waited for; its exit status and time are logged), with MIGR_ID,\n"
"                        MIGR_GUEST, MIGR_MACS, MIGR_ADDRS, MIGR_SOURCE, MIGR_TARGET\n"
"  --switchover-hook-dir DIR  the same for every executable file in DIR (default\n"
"                        " MIGRD_SWITCHOVER_DIR "; \"\" none): tell the fabric at once\n"
"  --etcd ENDPOINTS      keep this host's record in the fleet's etcd (comma-separated\n"
"                        [http[s]://]HOST:PORT; docs/etcd.md): address, Xen version,\n"
"                        capabilities, memory, guests and maintenance state, under a\n"
"                        lease that ends when migrd does (TLS and the lease's TTL:\n"
"                        etcd_ca, etcd_cert, etcd_key, etcd_ttl in migrd.conf); and\n"
"                        fence the commit of every migration through it (the guest's\n"
"                        location key moves by compare-and-swap; peers must fence too)\n"
"  -v                    more log detail (-vv: libxl's detail, -vvv: its debug log)\n"
"  --check-config [FILE]  read the settings as migrd would start with them (FILE, else\n"
"                        $MIGRD_CONF, else %s; then the other\n"
"                        options), check them (credential files and their modes too),\n"
"                        print the effective settings and exit 0, or print every error\n"
"                        and exit 1\n"
"MIGR_FAULT=POINT:KIND[,...] in the environment injects faults into every reception\n"
"(`migr faults` lists the points).\n"
"\n%s"
"\n"
"Settings are read at start from %s ($MIGRD_CONF names another\n"
"file), in xl.cfg's syntax. Every option above but --once, --port-file and\n"
"--check-config is also a key there, spelt with '_' for '-' (allow_bridge = [ \"xenbr0\",\n"
"\"br1\" ]; -v is verbose = N); an option given here replaces the file's value of its key.\n"
"migrd.conf(5) lists every key.\n",
		MIGR_DEFAULT_PORT, MIGR_PSK_FILE, MIGR_TLS_DIR, MIGR_STATE_DIR, MIGR_SRC_STATE_DIR,
		MIGR_REPORT_DIR, MIGR_METRICS_FILE, MIGRD_CONF_FILE, migr_target_rules_help(),
		MIGRD_CONF_FILE);
}

#define OPT_SETTING 0x100     /* an option of the settings table (conf.c) */
#define OPT_CHECK   0x101

int main(int argc, char **argv)
{
	struct option opts[MIGRD_SETTINGS_MAX + 3];
	struct given { const char *name, *arg; } *given = NULL;
	struct migrd_conf conf;
	struct migr_transport_opts t;
	struct receiver r;
	struct pollfd pfd[MAX_SOURCES];
	struct sigaction sa;
	const char *path, *check_path = NULL, *port_file;
	char err[MIGR_ERR_MAX] = "";
	int opt, idx = 0, verbose = 0, rc, status = 1;
	unsigned int n, n_given = 0, listener_idx = 0, usage_errors;
	bool check = false, must_exist;

	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.idle, NULL);
	pthread_mutex_init(&r.claims.lock, NULL);
	r.rp.claims = &r.claims;
	r.wake[0] = r.wake[1] = -1;
	r.recover_timer = -1;
	if (migrd_conf_init(&conf, stderr) || !(given = calloc((size_t)argc, sizeof(*given)))) {
		fprintf(stderr, "migrd: out of memory\n");
		goto out_conf;
	}

	/* The options are kept, then applied after the file: they replace its values. */
	n = migrd_conf_options(opts, MIGRD_SETTINGS_MAX, OPT_SETTING);
	opts[n++] = (struct option){ "check-config", optional_argument, NULL, OPT_CHECK };
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[n] = (struct option){ NULL, 0, NULL, 0 };
	while ((opt = getopt_long(argc, argv, "vh", opts, &idx)) != -1) {
		switch (opt) {
		case OPT_SETTING:
			given[n_given++] = (struct given){ opts[idx].name, optarg };
			break;
		case OPT_CHECK:
			check = true;
			check_path = optarg;
			break;
		case 'v': verbose++; break;
		case 'h': usage(stdout); status = 0; goto out_conf;
		default: usage(stderr); status = 2; goto out_conf;
		}
	}
	if (check && !check_path && optind < argc)
		check_path = argv[optind++];
	if (optind != argc) {
		usage(stderr);
		status = 2;
		goto out_conf;
	}
	path = check_path;
	must_exist = true;
	if (!path) {
		path = getenv("MIGRD_CONF");
		must_exist = path && path[0];
		if (!must_exist)
			path = MIGRD_CONF_FILE;
	}
	migrd_conf_read(&conf, path, must_exist);
	usage_errors = conf.errors;
	for (unsigned int i = 0; i < n_given; i++)
		if (migrd_conf_option(&conf, given[i].name, given[i].arg) == -ENOMEM) {
			fprintf(stderr, "migrd: out of memory\n");
			goto out_conf;
		}
	if (verbose) {
		char v[4];

		snprintf(v, sizeof(v), "%d", verbose > 3 ? 3 : verbose);
		migrd_conf_option(&conf, "verbose", v);
	}
	{
		const char *spec = getenv("MIGR_FAULT");
		char ferr[160];

		if (spec && spec[0] && migr_fault_parse(spec, &r.faults, ferr, sizeof(ferr))) {
			fprintf(stderr, "migrd: MIGR_FAULT: %s\n", ferr);
			conf.errors++;
		}
	}
	usage_errors = conf.errors - usage_errors;
	/* The credentials are read only once the settings naming them parse. */
	if (!conf.errors)
		migrd_conf_check(&conf);
	if (check) {
		if (conf.errors) {
			fprintf(stderr, "migrd: %u error(s): migrd would not start with these "
				"settings\n", conf.errors);
		} else {
			migrd_conf_print(&conf, stdout);
			status = 0;
		}
		goto out_conf;
	}
	if (conf.errors) {
		fprintf(stderr, "migrd: not starting: %u error(s) in the settings (migrd "
			"--check-config checks them)\n", conf.errors);
		status = usage_errors ? 2 : 1;
		goto out_conf;
	}
	migrd_conf_transport(&conf, &t);
	r.rp.rules = &conf.rules;
	r.rp.record_dir = conf.record_dir;
	r.rp.src_record_dir = conf.src_record_dir;
	r.rp.reserve_kib = (uint64_t)conf.reserve_mib * 1024;
	r.rp.no_forward = conf.no_forward;
	r.rp.forward_quiet_ms = (unsigned int)conf.forward_quiet_ms;
	r.rp.forward_max_ms = (unsigned int)conf.forward_max_ms;
	r.rp.on_switchover = conf.on_switchover && *conf.on_switchover ? conf.on_switchover : NULL;
	r.rp.switchover_hook_dir = conf.switchover_hook_dir && *conf.switchover_hook_dir ?
				   conf.switchover_hook_dir : NULL;
	r.src_record_dir = conf.src_record_dir;
	r.once = conf.once;
	r.stock_hotplug = conf.stock_hotplug;
	r.rp.late_devices = conf.late_devices;
	r.max_incoming = (unsigned int)conf.max_incoming;
	r.ao.handshake_ms = (unsigned int)conf.handshake_timeout * 1000;
	r.ao.per_addr = (unsigned int)conf.max_per_address;
	port_file = conf.port_file;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	r.lg = (xentoollog_logger *)xtl_createlogger_stdiostream(stderr,
			conf.verbose >= 3 ? XTL_DEBUG : conf.verbose == 2 ? XTL_DETAIL :
			conf.verbose ? XTL_INFO : XTL_ERROR, 0);
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
	/* before recovery: it settles migrations fenced through etcd too */
	if (migrd_etcd_fence_open(r.lg, &conf))
		goto out;
	r.rp.etcd = migrd_etcd_fence();
	r.rp.fence_self = r.rp.etcd ? conf.host : NULL;
	if (!conf.no_cleanup) {
		rc = migr_recover_target(r.hv, r.rp.record_dir, r.lg, recovery_report, &r);
		if (rc)
			fprintf(stderr, "migrd: recovery: cannot read the records in %s: %s\n",
				r.rp.record_dir, migr_strerror(rc));
		recover_sources(&r);
		cleanup_forwarding(&r);
	}
	rc = migr_listen(conf.listen, &t, &r.l, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "migrd: cannot listen on %s: %s%s%s\n", conf.listen,
			migr_strerror(rc), err[0] ? ": " : "", err);
		goto out;
	}
	fprintf(stderr, "migrd: listening on %s (port %d, %s; vif hotplug on restore: %s)\n",
		conf.listen, migr_listener_port(r.l), t.insecure ? "INSECURE plain TCP" :
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
	if (!conf.no_cleanup) {
		struct itimerspec its = { { 30, 0 }, { 30, 0 } };

		r.recover_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (r.recover_timer >= 0 && timerfd_settime(r.recover_timer, 0, &its, NULL) == 0)
			migrd_add_source(r.recover_timer, recover_sources, &r);
	}
	if (migrd_evac_init(r.lg, &conf))
		goto out;
	/* a failure is said and the daemon goes on: the fleet sees this host as gone */
	migrd_etcd_start(r.lg, &conf, migr_listener_port(r.l));
	migrd_drain_start(r.lg, &conf);      /* the same: said, and migrd goes on */
	migrd_metrics_start(conf.metrics_file ? conf.metrics_file : "");   /* "" none */

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
	migrd_drain_stop();       /* a drain under way is picked up again at the next start */
	migrd_evac_fini();
	receiver_drain(&r);
	migrd_etcd_stop();        /* the lease revoked: the fleet sees this host gone at once */
	if (r.wake[0] >= 0) {
		close(r.wake[0]);
		close(r.wake[1]);
	}
	if (r.recover_timer >= 0)
		close(r.recover_timer);
	migr_hv_close(r.hv);
	xtl_logger_destroy(r.lg);
out_conf:
	migrd_conf_dispose(&conf);
	free(given);
	return status;
}

/*
 * cmd_evacuate.c: `migr evacuate`, empty this host by live-migrating every guest away.
 *
 * With migrd running, the request goes to its control socket and the command shows the
 * events migrd streams back; without it, the command runs the same evacuation service
 * (libmigr/evac_service.c) in its own process. Either way the plan comes first, then live
 * progress (a line per guest on a terminal, JSON lines with --json), then a final table;
 * the exit status says whether the host is empty.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xentoollog.h>

#include "commands.h"
#include "evcli.h"
#include "migcli.h"

int cmd_evacuate(int argc, char **argv);

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: migr evacuate [OPTIONS] [HOST]\n"
"\n"
"Live-migrates every guest off this host (HOST, if given, must be this host). Every guest\n"
"gets a target before anything moves (free memory and a utilisation threshold on each\n"
"target, anti-affinity groups from /local/domain/0/migr/policy/NAME/group); the plan is\n"
"printed first. Guests are told through xenstore (migr/maintenance-event) and may ack or\n"
"ask for a bounded deferral. One guest's failure does not stop the others; a failed\n"
"attempt that backed out cleanly is retried. With migrd running the evacuation runs\n"
"inside it (and survives this command); otherwise it runs here.\n"
"\n"
"  --to HOST[,HOST...]   target hosts (HOST[:PORT] of their migr receiver); default,\n"
"                        through a migrd with etcd: every host recorded in the fleet's\n"
"                        etcd but this one and those in maintenance; else the targets\n"
"                        setting of migrd.conf\n"
"  --parallel N|auto     the most streams at once (auto: from link speed and dom0\n"
"                        CPUs); the evacuation starts with one, measures the link and\n"
"                        keeps more only while they add to it\n"
"  --group-cap N         guests of one anti-affinity group moving at once (default 1)\n"
"  --notice SECS         notice period given to the guests (default 0 here, the notice\n"
"                        setting of migrd.conf through migrd)\n"
"  --deadline SECS       everything must have started within SECS (bounds notices and\n"
"                        deferrals)\n"
"  --downtime MS         blackout budget per migration (default 300)\n"
"  --retries N           attempts per guest (default 3)\n"
"  --threshold PCT       target utilisation limit after placement (default 90)\n"
"  --reason TEXT         recorded with the evacuation\n"
"  --id ID               the evacuation's id (default: made up)\n"
"  --dry-run             print the plan, move nothing\n"
"  --json                events as JSON lines on stdout\n"
"  -q, --quiet           no plan, no progress: only the exit status\n"
"  --local               run here even if migrd is running\n"
"  --event-log FILE      (local runs) append per-guest records here (default %s)\n"
"  -v                    more log detail (local runs)\n"
"Connection to the targets (local runs; migrd uses its own): --psk FILE, --cert FILE\n"
"  --key FILE --ca FILE, --peer-name NAME, --psk-identity NAME, --insecure,\n"
"  --bandwidth RATE, --compress auto|on|off, --cpu-share auto|off|PCT (as migr\n"
"                        migrate; the share is of this process, all its streams\n"
"                        together)\n"
"\n"
"Ctrl-C cancels: nothing queued starts, running migrations finish or back out.\n"
"Exit status: 0 the host is empty (dry run: every guest has a target); 1 guests remain\n"
"(see the table); 3 cancelled, every guest on exactly one host; 4 the outcome of some\n"
"migration is unknown (run `migr resolve`).\n", MIGR_EVENT_LOG);
}

struct opts {
	struct migr_evac_request req;
	bool dry_run, json, quiet, local;
	int parallel;                    /* -1 auto */
	unsigned int group_cap, retries, threshold;
	const char *event_log;
	int verbose;
	struct migcli_conn_opts conn;
};

static int split_to(const char *s, struct migr_evac_request *q)
{
	while (*s) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);

		if (n == 0 || n >= MIGR_PLAN_HOST_MAX || q->nto == MIGR_EVAC_MAX_TARGETS)
			return -1;
		memcpy(q->to[q->nto], s, n);
		q->to[q->nto++][n] = 0;
		if (!e)
			break;
		s = e + 1;
	}
	return q->nto ? 0 : -1;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	return !errno && *s >= '0' && *s <= '9' && !*end && *v <= max;
}

/* The request as the JSON of xenstore-schema/README.md. */
static void request_json(const struct migr_evac_request *q, char *out, size_t cap)
{
	size_t o;

	snprintf(out, cap, "{\"action\":\"evacuate\"");
	if (q->id[0]) {
		strncat(out, ",\"id\":", cap - strlen(out) - 1);
		evcli_json_str(out, cap, q->id);
	}
	if (q->nto) {
		strncat(out, ",\"to\":[", cap - strlen(out) - 1);
		for (unsigned t = 0; t < q->nto; t++) {
			if (t)
				strncat(out, ",", cap - strlen(out) - 1);
			evcli_json_str(out, cap, q->to[t]);
		}
		strncat(out, "]", cap - strlen(out) - 1);
	}
	if (q->reason[0]) {
		strncat(out, ",\"reason\":", cap - strlen(out) - 1);
		evcli_json_str(out, cap, q->reason);
	}
	o = strlen(out);
	if (q->deadline)
		o += snprintf(out + o, cap - o, ",\"deadline\":%lld", (long long)q->deadline);
	if (q->parallel)
		o += snprintf(out + o, cap - o, ",\"parallel\":%u", q->parallel);
	if (q->notice_s >= 0)
		o += snprintf(out + o, cap - o, ",\"notice\":%d", q->notice_s);
	if (q->downtime_ms)
		o += snprintf(out + o, cap - o, ",\"downtime\":%u", q->downtime_ms);
	snprintf(out + o, cap - o, "}");
}

/* Through migrd. Returns the exit status, or -1 if migrd is not there. */
static int via_migrd(struct opts *o, struct evcli *e)
{
	char req[8192], cmd[16384], line[65536];
	struct evcli_reader *rd;
	int fd, rc;
	bool cancel_sent = false;

	fd = evcli_connect();
	if (fd < 0)
		return -1;
	rd = calloc(1, sizeof(*rd));
	if (!rd) {
		close(fd);
		return EXIT_FAILED;
	}
	request_json(&o->req, req, sizeof(req));
	snprintf(cmd, sizeof(cmd), "{\"cmd\":\"evacuate\",\"dry_run\":%s,\"request\":",
		 o->dry_run ? "true" : "false");
	evcli_json_str(cmd, sizeof(cmd), req);
	strncat(cmd, "}", sizeof(cmd) - strlen(cmd) - 1);
	if (evcli_send(fd, cmd)) {
		fprintf(stderr, "migr: cannot talk to migrd: %s\n", strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };

		if (interrupted && !cancel_sent) {
			int cfd = evcli_connect();

			if (cfd >= 0) {
				evcli_send(cfd, "{\"cmd\":\"cancel\"}");
				close(cfd);
			}
			cancel_sent = true;
			if (!o->quiet && !o->json)
				fprintf(stderr, "migr: cancelling: running migrations finish or back "
					"out, nothing else starts\n");
		}
		rc = poll(&p, 1, 200);
		if (rc <= 0)
			continue;
		rc = evcli_read_line(fd, rd, line, sizeof(line));
		if (rc == -EINTR)
			continue;
		if (rc <= 0) {
			if (!e->ended)
				fprintf(stderr, "migr: migrd closed the connection before the end; "
					"see `migr status`\n");
			break;
		}
		if (evcli_event(e, line))
			break;
	}
out:
	free(rd);
	close(fd);
	evcli_final(e, stdout);
	return evcli_exit_status(e);
}

static void local_event(void *arg, const char *json)
{
	evcli_event(arg, json);
}

/* The fastest link of this dom0 (bits/s), 0 if none says. */
static uint64_t link_speed(void)
{
	FILE *f = popen("cat /sys/class/net/*/speed 2>/dev/null", "r");
	long best = 0, v;

	if (!f)
		return 0;
	while (fscanf(f, "%ld", &v) == 1)
		if (v > best)
			best = v;
	pclose(f);
	return (uint64_t)best * 1000000ull;
}

static int local_run(struct opts *o, struct evcli *e)
{
	struct migr_evacd_config cfg;
	struct migr_evac_prod prod;
	struct migr_evacd *d = NULL;
	struct migr_xs *xs = NULL;
	struct migr_schema *schema = NULL;
	struct migr_hv *hv = NULL;
	xentoollog_logger *lg = migcli_logger(o->verbose);
	char host[256] = "localhost", why[256];
	int rc, status = EXIT_FAILED;

	gethostname(host, sizeof(host) - 1);
	if ((rc = migr_xs_open(&xs))) {
		fprintf(stderr, "migr: cannot open xenstore: %s (run as root in dom0)\n",
			migr_strerror(rc));
		goto out;
	}
	if ((rc = migr_schema_load_builtin(&schema))) {
		fprintf(stderr, "migr: built-in schema: %s\n", migr_strerror(rc));
		goto out;
	}
	if ((rc = migr_hv_xen_open(lg, &hv))) {
		fprintf(stderr, "migr: cannot open the hypervisor: %s (run as root in dom0)\n",
			migr_strerror(rc));
		goto out;
	}
	migcli_conn_defaults(&o->conn);
	memset(&prod, 0, sizeof(prod));
	prod.hv = hv;
	prod.xs = xs;
	prod.schema = schema;
	prod.engine.topts = &o->conn.t;
	prod.engine.lg = lg;
	prod.engine.compress = o->conn.compress;
	prod.engine.no_cpu_guard = o->conn.fixed_share;
	prod.engine.report_dir = MIGR_REPORT_DIR;
	migr_evacd_config_init(&cfg);
	cfg.roundlog_dir = MIGR_REPORT_DIR;
	migr_evac_prod_hooks(&prod, &cfg);
	cfg.host = host;
	cfg.event_log = o->event_log;
	if (o->event_log) {
		char dir[512], *slash;

		snprintf(dir, sizeof(dir), "%s", o->event_log);
		if ((slash = strrchr(dir, '/')) && slash != dir) {
			*slash = 0;
			mkdir(dir, 0750);
		}
	}
	cfg.daemon = false;
	cfg.parallel = o->parallel > 0 ? (unsigned)o->parallel : 0;
	cfg.link_bps = link_speed();
	cfg.dom0_cpus = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
	cfg.group_cap = o->group_cap;
	cfg.max_attempts = o->retries;
	cfg.plan.threshold_pct = o->threshold;
	cfg.event = local_event;
	cfg.event_arg = e;
	cfg.lg = lg;
	if ((rc = migr_evacd_new(xs, schema, &cfg, &d))) {
		fprintf(stderr, "migr: cannot set up the evacuation: %s\n", migr_strerror(rc));
		goto out;
	}
	/* `migr cancel` without migrd writes a cancel request: listen for it. */
	xs->ops->watch(xs, "/local/domain/0/migr/request", "migr-request");
	if ((rc = migr_evacd_start(d, &o->req, o->dry_run, why, sizeof(why)))) {
		fprintf(stderr, "migr: %s\n", why);
		goto out;
	}
	while (migr_evacd_busy(d)) {
		struct pollfd p = { xs->ops->fileno(xs), POLLIN, 0 };
		char *path, *tok;

		if (interrupted == 1) {
			interrupted = 2;
			if (!o->quiet && !o->json)
				fprintf(stderr, "migr: cancelling: running migrations finish or back "
					"out, nothing else starts\n");
			migr_evacd_cancel(d);
		}
		poll(&p, p.fd >= 0 ? 1 : 0, 200);
		while (xs->ops->read_watch(xs, &path, &tok) == 0) {
			migr_evacd_watch_event(d, path, tok);
			free(path);
			free(tok);
		}
	}
	migr_evacd_wait(d, NULL);
	evcli_final(e, stdout);
	status = evcli_exit_status(e);
	/* the moved guests' forwarding runs in this process: it ends before the process */
	if (migr_fwd_wait_all(65000) == -ETIMEDOUT)
		fprintf(stderr, "migr evacuate: forwarding still running after 65 s; `migr cleanup "
			"--all` removes what is left\n");
out:
	migr_evacd_free(d);
	migr_hv_close(hv);
	migr_schema_free(schema);
	migr_xs_close(xs);
	xtl_logger_destroy(lg);
	return status;
}

int cmd_evacuate(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "to", 1, 0, 't' }, { "parallel", 1, 0, 'P' }, { "group-cap", 1, 0, 'G' },
		{ "notice", 1, 0, 'n' }, { "deadline", 1, 0, 'D' }, { "downtime", 1, 0, 'd' },
		{ "retries", 1, 0, 'r' }, { "threshold", 1, 0, 'T' }, { "reason", 1, 0, 'R' },
		{ "id", 1, 0, 'i' }, { "dry-run", 0, 0, 'N' }, { "json", 0, 0, 'j' },
		{ "quiet", 0, 0, 'q' }, { "local", 0, 0, 'L' }, { "event-log", 1, 0, 'E' },
		{ "help", 0, 0, 'h' },
		{ "psk", 1, 0, 1 }, { "cert", 1, 0, 1 }, { "key", 1, 0, 1 }, { "ca", 1, 0, 1 },
		{ "peer-name", 1, 0, 1 }, { "insecure", 0, 0, 1 }, { "bandwidth", 1, 0, 1 }, { "cpu-share", 1, 0, 1 },
		{ "compress", 1, 0, 1 },
		{ "psk-identity", 1, 0, 1 },
		{ 0, 0, 0, 0 }
	};
	struct opts o;
	struct evcli *e;
	struct sigaction sa;
	unsigned long v;
	int c, idx, status;

	memset(&o, 0, sizeof(o));
	o.req.action = MIGR_EVAC_ACTION_EVACUATE;
	o.req.notice_s = -1;
	o.parallel = -1;
	o.group_cap = 1;
	o.retries = 3;
	o.threshold = 90;
	o.event_log = MIGR_EVENT_LOG;
	migr_transport_opts_init(&o.conn.t);
	while ((c = getopt_long(argc, argv, "hqv", lo, &idx)) != -1) {
		switch (c) {
		case 't':
			if (split_to(optarg, &o.req)) {
				fprintf(stderr, "migr evacuate: --to: a comma-separated list of at most "
					"%d hosts\n", MIGR_EVAC_MAX_TARGETS);
				return EXIT_USAGE;
			}
			break;
		case 'P':
			if (!strcmp(optarg, "auto"))
				o.parallel = -1;
			else if (parse_uint(optarg, 64, &v) && v > 0)
				o.parallel = v;
			else {
				fprintf(stderr, "migr evacuate: --parallel: 1..64 or auto\n");
				return EXIT_USAGE;
			}
			o.req.parallel = o.parallel > 0 ? o.parallel : 0;
			break;
		case 'G':
			if (!parse_uint(optarg, 64, &v)) {
				fprintf(stderr, "migr evacuate: --group-cap: 0..64 (0: no cap)\n");
				return EXIT_USAGE;
			}
			o.group_cap = v;
			break;
		case 'n':
			if (!parse_uint(optarg, 86400, &v)) {
				fprintf(stderr, "migr evacuate: --notice: 0..86400 seconds\n");
				return EXIT_USAGE;
			}
			o.req.notice_s = v;
			break;
		case 'D':
			if (!parse_uint(optarg, 7 * 86400, &v)) {
				fprintf(stderr, "migr evacuate: --deadline: seconds from now\n");
				return EXIT_USAGE;
			}
			o.req.deadline = time(NULL) + v;
			break;
		case 'd':
			if (!parse_uint(optarg, 600000, &v) || v == 0) {
				fprintf(stderr, "migr evacuate: --downtime: 1..600000 ms\n");
				return EXIT_USAGE;
			}
			o.req.downtime_ms = v;
			break;
		case 'r':
			if (!parse_uint(optarg, 20, &v) || v == 0) {
				fprintf(stderr, "migr evacuate: --retries: 1..20 attempts\n");
				return EXIT_USAGE;
			}
			o.retries = v;
			break;
		case 'T':
			if (!parse_uint(optarg, 100, &v) || v == 0) {
				fprintf(stderr, "migr evacuate: --threshold: 1..100 percent\n");
				return EXIT_USAGE;
			}
			o.threshold = v;
			break;
		case 'R':
			if (strlen(optarg) > 256) {
				fprintf(stderr, "migr evacuate: --reason: at most 256 characters\n");
				return EXIT_USAGE;
			}
			for (const char *p = optarg; *p; p++)
				if (*p < 0x20 || *p > 0x7e) {
					fprintf(stderr, "migr evacuate: --reason: printable ASCII only\n");
					return EXIT_USAGE;
				}
			snprintf(o.req.reason, sizeof(o.req.reason), "%s", optarg);
			break;
		case 'i':
			if (strlen(optarg) > 64 || strspn(optarg, "abcdefghijklmnopqrstuvwxyz"
				"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@+-") != strlen(optarg) ||
			    !optarg[0]) {
				fprintf(stderr, "migr evacuate: --id: 1..64 of [A-Za-z0-9._:@+-]\n");
				return EXIT_USAGE;
			}
			snprintf(o.req.id, sizeof(o.req.id), "%s", optarg);
			break;
		case 'N': o.dry_run = true; break;
		case 'j': o.json = true; break;
		case 'q': o.quiet = true; break;
		case 'L': o.local = true; break;
		case 'E': o.event_log = optarg[0] ? optarg : NULL; break;
		case 'v': o.verbose++; break;
		case 'h': usage(stdout); return EXIT_OK;
		case 1:
			if (migcli_conn_opt(&o.conn, lo[idx].name, optarg) < 0)
				return EXIT_USAGE;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		char host[256] = "";

		gethostname(host, sizeof(host) - 1);
		if (optind + 1 < argc || (strcmp(argv[optind], host) &&
					  strcmp(argv[optind], "localhost"))) {
			fprintf(stderr, "migr evacuate: HOST must be this host (%s): run the command "
				"on the host to empty\n", host);
			return EXIT_USAGE;
		}
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return EXIT_FAILED;
	evcli_init(e, o.json, o.quiet);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	status = o.local ? -1 : via_migrd(&o, e);
	if (status < 0)
		status = local_run(&o, e);
	free(e);
	return status;
}

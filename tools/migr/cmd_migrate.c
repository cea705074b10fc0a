/*
 * cmd_migrate.c: `migr migrate DOM HOST[:PORT]`, live migration of one guest.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "migcli.h"

int cmd_migrate(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(f,
"Usage: migr migrate [OPTIONS] DOMAIN HOST[:PORT]\n"
"\n"
"Live-migrates DOMAIN (name or id; PV or PVH) to HOST, where migrd (or `migr receive`)\n"
"receives it. Pre-copy rounds run until migr's policy predicts a blackout within the\n"
"budget (or further rounds stop paying); then the guest is suspended, the rest is sent,\n"
"the target restores it paused and unpauses it on GO. Any failure before GO resumes the\n"
"guest here and leaves nothing on HOST.\n"
"\n"
"Policy:\n"
"  --downtime MS         blackout budget in milliseconds (default 300); the predicted\n"
"                        blackout includes the target's recent restore time, as it\n"
"                        reports it, so a budget below that cannot be met\n"
"  --max-time S          give up or force the stop after S seconds of migration\n"
"  --on-timeout abort|stop  what --max-time does (default abort: guest stays here)\n"
"  --abort-over-budget   abort rather than stop when the budget cannot be met\n"
"  --throttle[=MAX]      let the policy slow the guest (its CPU cap) when rounds no\n"
"                        longer pay: at most MAX%% (default 99); the cap comes off at\n"
"                        the suspend and on every way out, and a sender that dies\n"
"                        leaves it in its record for migrd's recovery to take off\n"
"Forwarding (docs/forwarding.md):\n"
"  --no-forward          do not forward the guest's traffic to the target after the\n"
"                        suspend (by default what reaches this host for the guest goes\n"
"                        through a VXLAN tunnel to the target, held until its vifs are\n"
"                        connected there, until the fabric has rerouted; migr then waits\n"
"                        for that before it exits)\n"
"  --forward-quiet MS    forwarding ends once nothing was forwarded for MS (default 2000)\n"
"  --forward-max MS      and at the latest after MS (default 60000)\n"
"  --on-switchover CMD   run `sh -c CMD` as soon as the target reports the guest running\n"
"                        (not waited for; exit status and time are logged), with\n"
"                        MIGR_ID, MIGR_GUEST, MIGR_MACS, MIGR_ADDRS, MIGR_SOURCE and\n"
"                        MIGR_TARGET in its environment: tell the fabric at once\n"
"The commit fenced by etcd (with migrd's etcd settings on both hosts):\n"
MIGCLI_ETCD_HELP
"Connection (TLS 1.3 by default; credentials from %s or %s/ if none given):\n"
"  --psk FILE            pre-shared key file (IDENTITY:HEXKEY lines, as psktool writes;\n"
"                        mode 0600); the key used is the line of our identity\n"
"  --psk-identity NAME   the PSK identity to present (default this host's name, or the\n"
"                        only line's identity in a one-line file)\n"
"  --cert FILE --key FILE --ca FILE   X.509 certificate, key and CA (PEM)\n"
"  --peer-name NAME      name the target's certificate must carry (default HOST); an\n"
"                        extended key usage in it must allow TLS server authentication\n"
"  --insecure            plain TCP, no authentication, no encryption\n"
"  --bandwidth RATE      cap on what is sent, bytes/s; suffixes K, M, G (x1024)\n"
"  --cpu-share auto|off|PCT  the most of one CPU migr uses while it sends: a dom0\n"
"                        shares its CPUs with the guests, the one moving among them.\n"
"                        auto (default): lowered while the guest has lost more than\n"
"                        half of the CPU rate it had before the migration, raised once\n"
"                        it has it back (never below 10, never in the blackout); off: no\n"
"                        limit; PCT (1..99): fixed. A lower share leaves the guest\n"
"                        more, the live rounds longer\n"
"  --compress auto|on|off  compress the stream (zstd, toward a target that speaks\n"
"                        protocol version 4): auto (default) when measurements of the\n"
"                        link and the compressor say it makes the stream faster\n"
"  -s, --ssh-style CMD   byte pipe instead of TCP: runs `CMD HOST migr receive` (with\n"
"                        --xl: `CMD HOST xl migrate-receive`); -s \"\" runs HOST itself\n"
"  --xl                  the other end is a stock `xl migrate-receive` (needs -s)\n"
"Output:\n"
"  --json                progress and the result as JSON lines on stdout\n"
"  -q, --quiet           no live progress\n"
"  -v                    more log detail (repeat for more)\n"
"Tuning:\n"
"  --suspend-timeout MS  how long the guest may take to suspend (default 60000)\n"
"  --timeout S           a connection making no progress for S seconds fails (default 300)\n"
"  --peek-interval MS    dirty-page sampling inside a round (default 50, 0 = off)\n"
"  --blackout-deadline MS  once the guest is suspended, READY and DONE must come within\n"
"                        max(8 s, 4 x the predicted blackout), at most MS (default 10000):\n"
"                        before GO the guest then resumes here; after GO the outcome is\n"
"                        undecided and migr asks the target (5 tries over about 30 s)\n"
"  --record-dir DIR      the source's migration records (default %s)\n"
"  --report-dir DIR      where the round log is kept, for `migr report ID` (default\n"
"                        %s)\n"
"\n"
"Exit status: 0 migrated; 1 failed (see the message for where the guest is); 3 aborted\n"
"cleanly, the guest runs here untouched; 4 outcome unknown after GO: the guest stays\n"
"suspended here until `migr resolve ID DOMAIN HOST` (or migrd) settles it.\n"
"MIGR_FAULT=POINT:KIND[,...] in the environment injects faults (`migr faults`).\n",
		MIGR_PSK_FILE, MIGR_TLS_DIR, MIGR_SRC_STATE_DIR, MIGR_REPORT_DIR);
}

static void say_resolve(void *arg, const char *state)
{
	fprintf(stderr, "migr migrate: resolve %s: %s\n", (const char *)arg, state);
}

int cmd_migrate(int argc, char **argv)
{
	enum { O_DOWNTIME = 0x100, O_MAXTIME, O_ONTIMEOUT, O_ABORTOVER, O_JSON, O_XL,
	       O_SUSPTO, O_PEEK, O_CONN, O_TIMEOUT, O_DEADLINE, O_RECDIR, O_THROTTLE, O_REPDIR,
	       O_NOFWD, O_FWDQUIET, O_FWDMAX, O_SWITCHOVER, O_ETCD };
	static const struct option opts[] = {
		{ "downtime", 1, 0, O_DOWNTIME }, { "max-time", 1, 0, O_MAXTIME },
		{ "on-timeout", 1, 0, O_ONTIMEOUT }, { "abort-over-budget", 0, 0, O_ABORTOVER },
		{ "throttle", 2, 0, O_THROTTLE },
		{ "json", 0, 0, O_JSON }, { "xl", 0, 0, O_XL },
		{ "suspend-timeout", 1, 0, O_SUSPTO }, { "timeout", 1, 0, O_TIMEOUT }, { "peek-interval", 1, 0, O_PEEK },
		{ "psk", 1, 0, O_CONN }, { "cert", 1, 0, O_CONN }, { "key", 1, 0, O_CONN },
		{ "ca", 1, 0, O_CONN }, { "peer-name", 1, 0, O_CONN }, { "insecure", 0, 0, O_CONN },
		{ "bandwidth", 1, 0, O_CONN }, { "psk-identity", 1, 0, O_CONN },
		{ "compress", 1, 0, O_CONN }, { "cpu-share", 1, 0, O_CONN },
		{ "blackout-deadline", 1, 0, O_DEADLINE }, { "record-dir", 1, 0, O_RECDIR },
		{ "report-dir", 1, 0, O_REPDIR },
		{ "no-forward", 0, 0, O_NOFWD }, { "forward-quiet", 1, 0, O_FWDQUIET },
		{ "forward-max", 1, 0, O_FWDMAX }, { "on-switchover", 1, 0, O_SWITCHOVER },
		{ "etcd", 1, 0, O_ETCD }, { "etcd-name", 1, 0, O_ETCD }, { "etcd-ca", 1, 0, O_ETCD },
		{ "etcd-cert", 1, 0, O_ETCD }, { "etcd-key", 1, 0, O_ETCD },
		{ "ssh-style", 1, 0, 's' }, { "quiet", 0, 0, 'q' }, { "help", 0, 0, 'h' },
		{ 0 }
	};
	struct migcli_conn_opts co;
	struct migcli_etcd eo = { 0 };
	struct migr_send_params sp;
	static struct migr_fault_set faults;
	struct migcli_progress pg;
	struct migr_result res;
	struct migr_hv *hv = NULL;
	struct migr_conn *c = NULL;
	xentoollog_logger *lg = NULL;
	char err[MIGR_ERR_MAX] = "", *rune = NULL;
	const char *dom, *host, *report_dir = MIGR_REPORT_DIR;
	struct migr_roundlog *log = NULL;
	bool xl = false;
	int opt, idx, verbose = 0, rc, status;
	uint32_t domid;
	pid_t child = -1;

	memset(&co, 0, sizeof(co));
	migr_transport_opts_init(&co.t);
	co.t.io_timeout_ms = 300000;
	memset(&pg, 0, sizeof(pg));
	migr_send_params_init(&sp);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:qvh", opts, &idx)) != -1) {
		switch (opt) {
		case O_DOWNTIME: {
			long v = strtol(optarg, NULL, 10);
			if (v <= 0) {
				fprintf(stderr, "migr migrate: --downtime wants milliseconds > 0\n");
				return EXIT_USAGE;
			}
			sp.policy.downtime_ms = v;
			break;
		}
		case O_THROTTLE: {
			long v = optarg ? strtol(optarg, NULL, 10) : 99;

			if (v < 1 || v > 99) {
				fprintf(stderr, "migr migrate: --throttle=MAX wants 1..99 (%%)\n");
				return EXIT_USAGE;
			}
			sp.policy.allow_throttle = 1;
			sp.policy.max_throttle_pct = (uint32_t)v;
			break;
		}
		case O_MAXTIME: {
			long v = strtol(optarg, NULL, 10);
			if (v <= 0) {
				fprintf(stderr, "migr migrate: --max-time wants seconds > 0\n");
				return EXIT_USAGE;
			}
			sp.policy.max_total_ms = v * 1000;
			break;
		}
		case O_ONTIMEOUT:
			if (!strcmp(optarg, "abort"))
				sp.policy.on_timeout = MIGR_POLICY_TIMEOUT_ABORT;
			else if (!strcmp(optarg, "stop"))
				sp.policy.on_timeout = MIGR_POLICY_TIMEOUT_STOP;
			else {
				fprintf(stderr, "migr migrate: --on-timeout abort|stop\n");
				return EXIT_USAGE;
			}
			break;
		case O_ABORTOVER: sp.policy.abort_over_budget = 1; break;
		case O_JSON: pg.json = true; break;
		case O_XL: xl = true; break;
		case O_SUSPTO: sp.suspend_timeout_ms = strtoul(optarg, NULL, 10); break;
		case O_PEEK: sp.peek_interval_ms = strtoul(optarg, NULL, 10); break;
		case O_TIMEOUT: co.t.io_timeout_ms = strtoul(optarg, NULL, 10) * 1000; break;
		case O_DEADLINE: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 100 || v > 600000) {
				fprintf(stderr, "migr migrate: --blackout-deadline takes 100..600000 ms\n");
				return EXIT_USAGE;
			}
			sp.blackout_deadline_ms = (unsigned int)v;
			break;
		}
		case O_RECDIR: sp.record_dir = optarg; break;
		case O_NOFWD: sp.no_forward = true; break;
		case O_FWDQUIET:
		case O_FWDMAX: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 100 || v > 3600000) {
				fprintf(stderr, "migr migrate: --%s takes 100..3600000 ms\n",
					opts[idx].name);
				return EXIT_USAGE;
			}
			if (opt == O_FWDQUIET)
				sp.forward_quiet_ms = (unsigned int)v;
			else
				sp.forward_max_ms = (unsigned int)v;
			break;
		}
		case O_SWITCHOVER: sp.on_switchover = optarg; break;
		case O_REPDIR: report_dir = optarg; break;
		case O_CONN:
			if (migcli_conn_opt(&co, opts[idx].name, optarg) < 0)
				return EXIT_USAGE;
			break;
		case O_ETCD:
			migcli_etcd_opt(&eo, opts[idx].name, optarg);
			break;
		case 's': co.pipe = true; co.pipe_cmd = optarg; break;
		case 'q': pg.quiet = true; break;
		case 'v': verbose++; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (xl && !co.pipe) {
		fprintf(stderr, "migr migrate: --xl needs a byte pipe (-s CMD), as xl migrate-receive "
			"talks over stdin/stdout\n");
		return EXIT_USAGE;
	}
	dom = argv[optind];
	host = argv[optind + 1];
	pg.tty = !pg.json && !pg.quiet && isatty(2);
	log = malloc(sizeof(*log));
	if (log)
		migr_roundlog_init(log);
	pg.log = log;
	sp.progress = migcli_progress_cb;
	sp.progress_arg = &pg;
	if (migcli_faults("migr migrate", &faults))
		return EXIT_USAGE;
	sp.faults = faults.n ? &faults : NULL;
	sp.target = co.pipe ? "" : host;
	sp.compress = co.compress;
	sp.no_cpu_guard = co.fixed_share;
	signal(SIGPIPE, SIG_IGN);

	lg = migcli_logger(verbose);
	sp.lg = lg;
	if (migcli_etcd_open(&eo, lg)) {
		status = EXIT_USAGE;
		goto out;
	}
	sp.etcd = eo.e;
	sp.fence_self = eo.name;
	rc = migr_hv_xen_open(lg, &hv);
	if (rc) {
		fprintf(stderr, "migr migrate: cannot open the hypervisor interfaces (%s); run as "
			"root in dom0\n", migr_strerror(rc));
		status = EXIT_FAILED;
		goto out;
	}
	rc = hv->ops->domain_find(hv, dom, &domid);
	if (rc) {
		fprintf(stderr, "migr migrate: no domain %s\n", dom);
		status = EXIT_FAILED;
		goto out;
	}

	if (co.pipe) {
		int rfd, wfd;
		if (!co.pipe_cmd[0])
			rune = strdup(host);
		else if (asprintf(&rune, "exec %s %s %s", co.pipe_cmd, host,
				  xl ? "xl migrate-receive" : "migr receive") < 0)
			rune = NULL;
		if (!rune) {
			status = EXIT_FAILED;
			goto out;
		}
		child = migcli_spawn(rune, &rfd, &wfd);
		if (child < 0) {
			fprintf(stderr, "migr migrate: cannot run %s: %s\n", rune, strerror(errno));
			status = EXIT_FAILED;
			goto out;
		}
		rc = migr_conn_from_fds(rfd, wfd, &co.t, &c);
	} else {
		migcli_conn_defaults(&co);
		rc = migr_connect(host, &co.t, &c, err, sizeof(err));
	}
	if (rc) {
		fprintf(stderr, "migr migrate: cannot connect to %s: %s%s%s; %s untouched\n", host,
			migr_strerror(rc), err[0] ? ": " : "", err, dom);
		status = EXIT_ABORTED;   /* nothing was touched */
		goto out;
	}

	if (xl)
		rc = migr_migrate_xl(hv, domid, c, &sp, &res);
	else
		rc = migr_migrate(hv, domid, c, &sp, &res);
	status = migcli_exit_status(rc);
	if (pg.json)
		migcli_print_json_result(stdout, &res, rc);
	if (!pg.quiet || rc)
		migcli_print_summary(stderr, &pg, &res, rc);
	migcli_forwarding(res.id, false, &res.fwd, pg.json, pg.quiet);
	if (log && res.id[0]) {
		int wrc;

		migr_roundlog_result(log, &res, rc, co.pipe ? "" : host);
		wrc = migr_roundlog_write(report_dir, log);
		if (wrc)
			fprintf(stderr, "migr migrate: cannot keep the round log in %s: %s\n",
				report_dir, migr_strerror(wrc));
		else if (!pg.quiet)
			fprintf(stderr, "  round log %s/%s.json: `migr report %s` draws it\n",
				report_dir, res.id, res.id);
	}
	if (rc == -MIGR_E_UNDECIDED && !co.pipe) {
		/* the target decides; ask it, a few times, on fresh connections */
		struct migr_resolve_params rsp = { .record_dir = sp.record_dir, .lg = lg,
						   .etcd = eo.e, .fence_self = eo.name };
		char state[256] = "";
		uint32_t outcome = 0;

		rc = migr_resolve_ask(hv, host, &co.t, res.id, res.name, &rsp, 5, &outcome, state,
				      sizeof(state), say_resolve, res.id);
		if (rc == 0)
			status = outcome == MIGR_OUTCOME_RUNNING ? EXIT_OK : EXIT_ABORTED;
	}
	if (rc == -MIGR_E_UNDECIDED)
		fprintf(stderr, "migr migrate: run `migr resolve %s %s %s` (same connection "
			"options) to settle it; `migr status` lists it meanwhile\n", res.id,
			res.name, host);
out:
	migr_conn_close(c);
	if (child > 0)
		migcli_reap(child);
	migr_hv_close(hv);
	migcli_etcd_close(&eo);
	xtl_logger_destroy(lg);
	free(rune);
	free(log);
	return status;
}

/*
 * cmd_receive.c: `migr receive`, the target of one migration over stdin/stdout (the
 * ssh-style byte pipe), and `migr resolve`.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "migcli.h"

int cmd_receive(int argc, char **argv);
int cmd_resolve(int argc, char **argv);

static void receive_usage(FILE *f)
{
	fprintf(f,
"Usage: migr receive [--xl] [-p] [--record-dir DIR] [--stock-hotplug] [--late-devices]\n"
"                    [--timeout S] [RULES] [-v]\n"
"\n"
"Receives one migration on stdin/stdout, as `migr migrate -s CMD` runs it on the\n"
"target (`CMD HOST migr receive`). The guest is restored as NAME--incoming, paused,\n"
"and renamed and unpaused only when the source says GO; any failure before that\n"
"destroys what was created here.\n"
"  --xl                  the source is a stock `xl migrate`: speak xl's protocol. xl runs\n"
"                        `CMD HOST xl migrate-receive`, so give xl a CMD that drops those\n"
"                        words, e.g.  xl migrate -s \"sh -c 'exec migr receive --xl' --\" DOM HOST\n"
"  -p                    leave the guest paused after GO\n"
"  --record-dir DIR      where the durable migration records live (default %s)\n"
"  --stock-hotplug       run the guest's stock vif-bridge script while restoring; by\n"
"                        default migr-vif-bridge (installed beside migr) does its work\n"
"                        in one process when nothing unusual is configured, then the\n"
"                        stock script is named again in the guest's configuration\n"
"  --late-devices        add the guest's vifs after the stream, in the blackout, as libxl\n"
"                        does; by default they are added to the paused new domain while\n"
"                        the stream comes\n"
"  --timeout S           a source making no progress for S seconds fails the reception\n"
"                        (default 300); READY sent, GO must come within 10 s\n"
"  --no-forward          no forwarding end here (over a pipe there is none anyway: the\n"
"                        tunnel's ends are the addresses of a TCP connection)\n"
"  --on-switchover CMD   run `sh -c CMD` once the guest runs here (not waited for), with\n"
"                        MIGR_ID, MIGR_GUEST, MIGR_MACS, MIGR_ADDRS, MIGR_SOURCE, MIGR_TARGET\n"
"The commit fenced by etcd (the guest unpauses only once etcd gives it to this host):\n"
MIGCLI_ETCD_HELP
"  -v                    more log detail on stderr (repeat for more)\n"
"Exit status: 0 received and running; 3 backed out (nothing left here); 1 failed.\n"
"MIGR_FAULT=POINT:KIND[,...] in the environment injects faults (`migr faults`).\n"
"\nRULES (the same for --xl):\n%s",
		MIGR_STATE_DIR, migr_target_rules_help());
}

static void print_recv(const struct migr_recv_result *r, int rc)
{
	fprintf(stderr, "migr receive: %s %s: %s", r->id, r->name[0] ? r->name : "?",
		r->state_text);
	if (r->stream_bytes)
		fprintf(stderr, " (stream %.1f MiB in %.2f s, %.1f MiB on the wire: %.1f MiB of "
			"zero pages and %.1f MiB by compression not sent; restore tail %.1f ms, "
			"device set-up %.1f ms, fast vif hotplug %u, unpause %.1f ms)",
			r->stream_bytes / 1048576.0, r->stream_us / 1e6, r->wire_bytes / 1048576.0,
			r->zero_bytes / 1048576.0, r->compress_saved_bytes / 1048576.0,
			r->restore_us / 1e3, r->devices_us / 1e3, r->fast_vifs, r->unpause_us / 1e3);
	else if (r->restore_us)
		fprintf(stderr, " (restore with the stream %.2f s, device set-up %.1f ms, fast vif "
			"hotplug %u, unpause %.1f ms)", r->restore_us / 1e6, r->devices_us / 1e3,
			r->fast_vifs, r->unpause_us / 1e3);
	if (r->early_vifs || r->early_disks || r->late_devices)
		fprintf(stderr, " (devices added while the stream came: %u vifs, %u disks in %.1f "
			"ms, done %.1f ms before the restore's end; after it: %u)", r->early_vifs,
			r->early_disks, r->early_devices_us / 1e3, r->early_before_end_us / 1e3,
			r->late_devices);
	if (r->vifs)
		fprintf(stderr, " (network back: %u of %u vifs connected again, %.1f ms after the "
			"unpause; first frame from the guest after %.1f ms)", r->vifs_connected,
			r->vifs, r->net_back_us / 1e3, r->first_frame_us / 1e3);
	fprintf(stderr, "\n");
}

int cmd_receive(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "xl", 0, 0, 'x' }, { "record-dir", 1, 0, 'r' }, { "stock-hotplug", 0, 0, 'S' },
		{ "late-devices", 0, 0, 'L' },
		{ "timeout", 1, 0, 'T' }, { "help", 0, 0, 'h' },
		{ "no-forward", 0, 0, 'F' }, { "on-switchover", 1, 0, 'O' },
		{ "etcd", 1, 0, 'E' }, { "etcd-name", 1, 0, 'E' }, { "etcd-ca", 1, 0, 'E' },
		{ "etcd-cert", 1, 0, 'E' }, { "etcd-key", 1, 0, 'E' },
		MIGR_TARGET_RULES_OPTIONS('R'), { 0 }
	};
	struct migcli_etcd eo = { 0 };
	struct migr_target_rules rules;
	struct migr_recv_params rp;
	static struct migr_fault_set faults;
	struct migr_transport_opts t;
	struct migr_recv_result res;
	struct migr_hv *hv = NULL;
	struct migr_conn *c = NULL;
	xentoollog_logger *lg;
	bool xl = false, stock_hotplug = false;
	char err[256];
	int opt, idx = 0, verbose = 0, rc, in, out;

	memset(&rp, 0, sizeof(rp));
	migr_transport_opts_init(&t);
	t.io_timeout_ms = 300000;
	migr_target_rules_init(&rules);
	rp.rules = &rules;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "pvh", opts, &idx)) != -1) {
		switch (opt) {
		case 'R':
			if (migr_target_rules_option(&rules, opts[idx].name, optarg, err,
						     sizeof(err))) {
				fprintf(stderr, "migr receive: --%s: %s\n", opts[idx].name,
					err[0] ? err : "out of memory");
				migr_target_rules_dispose(&rules);
				return EXIT_USAGE;
			}
			break;
		case 'x': xl = true; break;
		case 'r': rp.record_dir = optarg; break;
		case 'p': rp.paused = true; break;
		case 'S': stock_hotplug = true; break;
		case 'L': rp.late_devices = true; break;
		case 'F': rp.no_forward = true; break;
		case 'O': rp.on_switchover = optarg; break;
		case 'E': migcli_etcd_opt(&eo, opts[idx].name, optarg); break;
		case 'T': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > 86400) {
				fprintf(stderr, "migr receive: --timeout takes 1..86400 seconds\n");
				return EXIT_USAGE;
			}
			t.io_timeout_ms = (unsigned int)v * 1000;
			break;
		}
		case 'v': verbose++; break;
		case 'h': receive_usage(stdout); migr_target_rules_dispose(&rules); return EXIT_OK;
		default: receive_usage(stderr); migr_target_rules_dispose(&rules); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		receive_usage(stderr);
		migr_target_rules_dispose(&rules);
		return EXIT_USAGE;
	}
	if (migcli_faults("migr receive", &faults))
		return EXIT_USAGE;
	rp.faults = faults.n ? &faults : NULL;
	signal(SIGPIPE, SIG_IGN);
	rp.peer = "pipe";
	lg = migcli_logger(verbose);
	rp.lg = lg;
	if (migcli_etcd_open(&eo, lg)) {
		rc = EXIT_USAGE;
		goto out;
	}
	rp.etcd = eo.e;
	rp.fence_self = eo.name;

	/* Keep the protocol's fds away from 0/1 so that nothing else writes into them
	 * (libxl's children inherit stdout). */
	in = dup(0);
	out = dup(1);
	if (in < 0 || out < 0 || dup2(2, 1) < 0) {
		fprintf(stderr, "migr receive: %s\n", strerror(errno));
		rc = EXIT_FAILED;
		goto out;
	}

	rc = migr_hv_xen_open(lg, &hv);
	if (rc) {
		fprintf(stderr, "migr receive: cannot open the hypervisor interfaces (%s)\n",
			migr_strerror(rc));
		rc = EXIT_FAILED;
		goto out;
	}
	if (!stock_hotplug)
		rp.vif_helper = migr_vif_helper_default();
	rc = migr_conn_from_fds(in, out, &t, &c);
	if (rc) {
		rc = EXIT_FAILED;
		goto out;
	}
	if (xl)
		rc = migr_receive_xl(hv, c, &rp, &res);
	else
		rc = migr_receive(hv, c, &rp, &res);
	print_recv(&res, rc);
	if (res.id[0])
		migcli_forwarding(res.id, true, &res.fwd, false, false);
	rc = rc == 0 ? EXIT_OK : rc == -MIGR_E_ABORTED ? EXIT_ABORTED : EXIT_FAILED;
out:
	migr_conn_close(c);
	migr_hv_close(hv);
	migcli_etcd_close(&eo);
	xtl_logger_destroy(lg);
	migr_target_rules_dispose(&rules);
	return rc;
}

static void resolve_usage(FILE *f)
{
	fprintf(f,
"Usage: migr resolve [OPTIONS] ID DOMAIN HOST[:PORT]\n"
"\n"
"Settles migration ID of DOMAIN that did not end (exit status 4 of `migr migrate`, or a\n"
"source that died: `migr status` lists them). It asks HOST what its record says and acts\n"
"on the copy here (DOMAIN or DOMAIN--migratedaway) only on proof:\n"
"  the target runs the guest          -> the suspended copy here is destroyed\n"
"  GO never went (this host's record) -> the copy here is resumed\n"
"  the target's record says it destroyed its copy, answered by the host that sent READY\n"
"                                     -> the copy here is renamed back and resumed\n"
"Anything else (no answer, no record there, another host or record directory answering,\n"
"a guest the target ran and lost) keeps the copy here suspended and says why.\n"
"  --force-resume        resume the copy here anyway (only if you know the target will\n"
"                        never run the guest: a stale copy running twice loses data)\n"
"  --record-dir DIR      this host's migration records (default %s)\n"
"With --etcd (a migration fenced through etcd) the copy here is resumed only once the\n"
"guest's location key names this host again (given back if this migration moved it):\n"
MIGCLI_ETCD_HELP
"Connection options as for `migr migrate` (--psk, --cert/--key/--ca, --peer-name,\n"
"--insecure, -s/--ssh-style CMD); -v logs more.\n"
"Exit status: 0 settled; 4 cannot tell yet (nothing done); 1 failed.\n", MIGR_SRC_STATE_DIR);
}

int cmd_resolve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "psk", 1, 0, 'C' }, { "cert", 1, 0, 'C' }, { "key", 1, 0, 'C' },
		{ "ca", 1, 0, 'C' }, { "peer-name", 1, 0, 'C' }, { "insecure", 0, 0, 'C' },
		{ "ssh-style", 1, 0, 's' }, { "force-resume", 0, 0, 'F' }, { "record-dir", 1, 0, 'r' },
		{ "etcd", 1, 0, 'E' }, { "etcd-name", 1, 0, 'E' }, { "etcd-ca", 1, 0, 'E' },
		{ "etcd-cert", 1, 0, 'E' }, { "etcd-key", 1, 0, 'E' },
		{ "help", 0, 0, 'h' }, { 0 }
	};
	struct migcli_etcd eo = { 0 };
	struct migr_resolve_params rsp = { 0 };
	struct migcli_conn_opts co;
	struct migr_hv *hv = NULL;
	struct migr_conn *c = NULL;
	xentoollog_logger *lg;
	char err[MIGR_ERR_MAX] = "", state[256] = "", *rune = NULL;
	uint32_t outcome = 0;
	int opt, idx, verbose = 0, rc, status;
	pid_t child = -1;

	memset(&co, 0, sizeof(co));
	migr_transport_opts_init(&co.t);
	co.t.io_timeout_ms = 60000;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:vh", opts, &idx)) != -1) {
		switch (opt) {
		case 'C':
			if (migcli_conn_opt(&co, opts[idx].name, optarg) < 0)
				return EXIT_USAGE;
			break;
		case 's': co.pipe = true; co.pipe_cmd = optarg; break;
		case 'F': rsp.force_resume = true; break;
		case 'E': migcli_etcd_opt(&eo, opts[idx].name, optarg); break;
		case 'r': rsp.record_dir = optarg; break;
		case 'v': verbose++; break;
		case 'h': resolve_usage(stdout); return EXIT_OK;
		default: resolve_usage(stderr); return EXIT_USAGE;
		}
	}
	if (argc - optind != 3) {
		resolve_usage(stderr);
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	lg = migcli_logger(verbose);
	if (migcli_etcd_open(&eo, lg)) {
		status = EXIT_USAGE;
		goto out;
	}
	rsp.etcd = eo.e;
	rsp.fence_self = eo.name;
	rc = migr_hv_xen_open(lg, &hv);
	if (rc) {
		fprintf(stderr, "migr resolve: cannot open the hypervisor interfaces (%s)\n",
			migr_strerror(rc));
		status = EXIT_FAILED;
		goto out;
	}
	if (co.pipe) {
		int rfd, wfd;
		const char *host = argv[optind + 2];
		if (!co.pipe_cmd[0])
			rune = strdup(host);
		else if (asprintf(&rune, "exec %s %s migr receive", co.pipe_cmd, host) < 0)
			rune = NULL;
		child = rune ? migcli_spawn(rune, &rfd, &wfd) : -1;
		rc = child < 0 ? -errno : migr_conn_from_fds(rfd, wfd, &co.t, &c);
	} else {
		migcli_conn_defaults(&co);
		rc = migr_connect(argv[optind + 2], &co.t, &c, err, sizeof(err));
	}
	if (rc) {
		fprintf(stderr, "migr resolve: cannot reach %s: %s%s%s\n", argv[optind + 2],
			migr_strerror(rc), err[0] ? ": " : "", err);
		c = NULL;
	}
	rsp.lg = lg;
	rc = migr_resolve(hv, c, argv[optind], argv[optind + 1], &rsp, &outcome, state,
			  sizeof(state));
	fprintf(stderr, "migr resolve: %s: target says %s; %s\n", argv[optind],
		c ? migr_outcome_name(outcome) : "nothing (not reached)", state);
	status = rc == 0 ? EXIT_OK : rc == -MIGR_E_UNDECIDED ? EXIT_UNDECIDED : EXIT_FAILED;
out:
	migr_conn_close(c);
	if (child > 0)
		migcli_reap(child);
	migr_hv_close(hv);
	migcli_etcd_close(&eo);
	xtl_logger_destroy(lg);
	free(rune);
	return status;
}

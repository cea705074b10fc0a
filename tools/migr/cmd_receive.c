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
"Usage: migr receive [--xl] [-p] [--record-dir DIR] [--stock-hotplug] [-v]\n"
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
"  -v                    more log detail on stderr (repeat for more)\n"
"Exit status: 0 received and running; 3 backed out (nothing left here); 1 failed.\n",
		MIGR_STATE_DIR);
}

static void print_recv(const struct migr_recv_result *r, int rc)
{
	fprintf(stderr, "migr receive: %s %s: %s", r->id, r->name[0] ? r->name : "?",
		r->state_text);
	if (r->stream_bytes)
		fprintf(stderr, " (stream %.1f MiB in %.2f s, restore tail %.1f ms, device set-up "
			"%.1f ms, fast vif hotplug %u, unpause %.1f ms)", r->stream_bytes / 1048576.0,
			r->stream_us / 1e6, r->restore_us / 1e3, r->devices_us / 1e3, r->fast_vifs,
			r->unpause_us / 1e3);
	else if (r->restore_us)
		fprintf(stderr, " (restore with the stream %.2f s, device set-up %.1f ms, fast vif "
			"hotplug %u, unpause %.1f ms)", r->restore_us / 1e6, r->devices_us / 1e3,
			r->fast_vifs, r->unpause_us / 1e3);
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
		{ "help", 0, 0, 'h' }, { 0 }
	};
	struct migr_recv_params rp;
	struct migr_recv_result res;
	struct migr_hv *hv = NULL;
	struct migr_conn *c = NULL;
	xentoollog_logger *lg;
	bool xl = false, stock_hotplug = false;
	int opt, verbose = 0, rc, in, out;

	memset(&rp, 0, sizeof(rp));
	optind = 1;
	while ((opt = getopt_long(argc, argv, "pvh", opts, NULL)) != -1) {
		switch (opt) {
		case 'x': xl = true; break;
		case 'r': rp.record_dir = optarg; break;
		case 'p': rp.paused = true; break;
		case 'S': stock_hotplug = true; break;
		case 'v': verbose++; break;
		case 'h': receive_usage(stdout); return EXIT_OK;
		default: receive_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		receive_usage(stderr);
		return EXIT_USAGE;
	}
	if (getenv("MIGR_FAULT") && !strcmp(getenv("MIGR_FAULT"), "restore"))
		rp.fault = MIGR_FI_RESTORE;
	if (getenv("MIGR_FAULT") && !strcmp(getenv("MIGR_FAULT"), "unpause"))
		rp.fault = MIGR_FI_UNPAUSE;
	signal(SIGPIPE, SIG_IGN);
	rp.peer = "pipe";
	lg = migcli_logger(verbose);
	rp.lg = lg;

	/* Keep the protocol's fds away from 0/1 so that nothing else writes into them
	 * (libxl's children inherit stdout). */
	in = dup(0);
	out = dup(1);
	if (in < 0 || out < 0) {
		fprintf(stderr, "migr receive: %s\n", strerror(errno));
		return EXIT_FAILED;
	}
	if (dup2(2, 1) < 0) {
		fprintf(stderr, "migr receive: %s\n", strerror(errno));
		return EXIT_FAILED;
	}

	rc = migr_hv_xen_open(lg, &hv);
	if (rc) {
		fprintf(stderr, "migr receive: cannot open the hypervisor interfaces (%s)\n",
			migr_strerror(rc));
		rc = EXIT_FAILED;
		goto out;
	}
	if (!stock_hotplug)
		hv->vif_helper = migr_vif_helper_default();
	rc = migr_conn_from_fds(in, out, NULL, &c);
	if (rc) {
		rc = EXIT_FAILED;
		goto out;
	}
	if (xl)
		rc = migr_receive_xl(hv, c, &rp, &res);
	else
		rc = migr_receive(hv, c, &rp, &res);
	print_recv(&res, rc);
	rc = rc == 0 ? EXIT_OK : rc == -MIGR_E_ABORTED ? EXIT_ABORTED : EXIT_FAILED;
out:
	migr_conn_close(c);
	migr_hv_close(hv);
	xtl_logger_destroy(lg);
	return rc;
}

static void resolve_usage(FILE *f)
{
	fprintf(f,
"Usage: migr resolve [OPTIONS] ID DOMAIN HOST[:PORT]\n"
"\n"
"Settles migration ID of DOMAIN whose final handshake broke (exit status 4 of `migr\n"
"migrate`): asks HOST what it did and acts on the copy here accordingly. The target\n"
"runs the guest: the suspended copy here is destroyed. The target has no running copy:\n"
"the copy here is renamed back and resumed. Connection options as for `migr migrate`\n"
"(--psk, --cert/--key/--ca, --peer-name, --insecure, -s/--ssh-style CMD); -v logs more.\n"
"Exit status: 0 settled; 4 the target could not answer (nothing done); 1 failed.\n");
}

int cmd_resolve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "psk", 1, 0, 'C' }, { "cert", 1, 0, 'C' }, { "key", 1, 0, 'C' },
		{ "ca", 1, 0, 'C' }, { "peer-name", 1, 0, 'C' }, { "insecure", 0, 0, 'C' },
		{ "ssh-style", 1, 0, 's' }, { "help", 0, 0, 'h' }, { 0 }
	};
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
		fprintf(stderr, "migr resolve: cannot reach %s: %s%s%s; nothing done\n",
			argv[optind + 2], migr_strerror(rc), err[0] ? ": " : "", err);
		status = EXIT_UNDECIDED;
		goto out;
	}
	rc = migr_resolve(hv, c, argv[optind], argv[optind + 1], &outcome, state, sizeof(state), lg);
	fprintf(stderr, "migr resolve: %s: target says %s; %s\n", argv[optind],
		migr_outcome_name(outcome), state);
	status = rc == 0 ? EXIT_OK : rc == -MIGR_E_UNDECIDED ? EXIT_UNDECIDED : EXIT_FAILED;
out:
	migr_conn_close(c);
	if (child > 0)
		migcli_reap(child);
	migr_hv_close(hv);
	xtl_logger_destroy(lg);
	free(rune);
	return status;
}

/*
 * cmd_forward.c: `migr forward source|target|stop`: the brownout forwarding on its own,
 * outside a migration (operators, tests, benchmarks). The engine calls the same library
 * functions at switch-over (migr/fwd.h, docs/forwarding.md).
 *
 * `source` and `target` set forwarding up, print one "ready" line, run until the end
 * condition (quiet period, `migr forward stop ID`, maximum duration, or SIGINT/SIGTERM),
 * tear down and print one line with the counters.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <xentoollog.h>
#include "libmigr.h"
#include "commands.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static void forward_usage(FILE *f)
{
	fprintf(f,
		"Usage: migr forward source|target --id ID --peer ADDR --nic MAC,DEV[,ADDR...]...\n"
		"                   [--local ADDR] [--port N] [--vni N] [--underlay DEV]\n"
		"                   [--quiet MS] [--max MS] [--poll MS] [--no-arp]\n"
		"                   [--announce-dev DEV] [--no-announce] [--announce-rounds N]\n"
		"                   [--announce-initial MS] [--announce-step MS] [-v]\n"
		"       migr forward stop ID\n\n"
		"source: steer frames for each MAC (and ARP/ND for the addresses) arriving on the\n"
		"        ports of bridge DEV into a VXLAN tunnel to ADDR.\n"
		"target: deliver what comes out of the tunnel from ADDR to the vif DEV; announce\n"
		"        the guest (RARP, gratuitous ARP, unsolicited NA) on the vif's bridge.\n"
		"stop:   end forwarding ID now (its owner tears it down).\n"
		"Ends after --quiet ms without forwarded traffic (default 2000), on stop, after\n"
		"--max ms (default 60000), or on SIGINT/SIGTERM; nothing is left behind.\n");
}

#define MAX_ADDRS_TOTAL (MIGR_FWD_MAX_NICS * MIGR_FWD_MAX_ADDRS)

struct nic_store {
	struct migr_fwd_nic nics[MIGR_FWD_MAX_NICS];
	char devs[MIGR_FWD_MAX_NICS][32];
	struct in_addr v4[MIGR_FWD_MAX_NICS][MIGR_FWD_MAX_ADDRS];
	struct in6_addr v6[MIGR_FWD_MAX_NICS][MIGR_FWD_MAX_ADDRS];
	unsigned int n;
};

/* MAC,DEV[,ADDR...] */
static int parse_nic(struct nic_store *ns, const char *arg)
{
	char buf[1024], *save = NULL, *tok;
	struct migr_fwd_nic *nic;
	unsigned int i = ns->n;

	if (i >= MIGR_FWD_MAX_NICS || strlen(arg) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, arg);
	nic = &ns->nics[i];
	memset(nic, 0, sizeof(*nic));
	tok = strtok_r(buf, ",", &save);
	if (!tok || migr_fwd_parse_mac(tok, nic->mac))
		return -EINVAL;
	tok = strtok_r(NULL, ",", &save);
	if (!tok || strlen(tok) >= sizeof(ns->devs[i]))
		return -EINVAL;
	strcpy(ns->devs[i], tok);
	nic->dev = ns->devs[i];
	nic->ipv4 = ns->v4[i];
	nic->ipv6 = ns->v6[i];
	while ((tok = strtok_r(NULL, ",", &save))) {
		struct migr_fwd_addr a;
		if (migr_fwd_parse_addr(tok, &a))
			return -EINVAL;
		if (a.family == AF_INET) {
			if (nic->n_ipv4 >= MIGR_FWD_MAX_ADDRS)
				return -EINVAL;
			ns->v4[i][nic->n_ipv4++] = a.v4;
		} else {
			if (nic->n_ipv6 >= MIGR_FWD_MAX_ADDRS)
				return -EINVAL;
			ns->v6[i][nic->n_ipv6++] = a.v6;
		}
	}
	ns->n++;
	return 0;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *v_r)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || v > max || s[0] == '-')
		return -EINVAL;
	*v_r = (uint32_t)v;
	return 0;
}

static int forward_stop(int argc, char **argv)
{
	int rc;

	if (argc != 3 || !migr_fwd_id_valid(argv[2])) {
		forward_usage(stderr);
		return EXIT_USAGE;
	}
	rc = migr_fwd_request_stop(argv[2], NULL);
	if (rc == -ENOENT) {
		fprintf(stderr, "migr forward stop: no forwarding %s on this host\n", argv[2]);
		return EXIT_FAILED;
	}
	if (rc) {
		fprintf(stderr, "migr forward stop: %s\n", migr_strerror(rc));
		return EXIT_FAILED;
	}
	printf("forward %s: stop requested\n", argv[2]);
	return EXIT_OK;
}

int cmd_forward(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "peer", required_argument, NULL, 'p' },
		{ "local", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'P' },
		{ "vni", required_argument, NULL, 'V' },
		{ "underlay", required_argument, NULL, 'u' },
		{ "nic", required_argument, NULL, 'n' },
		{ "quiet", required_argument, NULL, 'q' },
		{ "max", required_argument, NULL, 'm' },
		{ "poll", required_argument, NULL, 'o' },
		{ "no-arp", no_argument, NULL, 'A' },
		{ "announce-dev", required_argument, NULL, 'a' },
		{ "no-announce", no_argument, NULL, 'N' },
		{ "announce-rounds", required_argument, NULL, 'r' },
		{ "announce-initial", required_argument, NULL, 'I' },
		{ "announce-step", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct nic_store ns;
	struct migr_fwd_params p;
	struct migr_fwd_status st;
	struct migr_fwd *f = NULL;
	xentoollog_logger_stdiostream *lg = NULL;
	struct sigaction sa;
	uint32_t v;
	int target, verbose = 0, c, rc, ret = EXIT_FAILED;

	if (argc >= 2 && !strcmp(argv[1], "stop"))
		return forward_stop(argc, argv);
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		forward_usage(stdout);
		return EXIT_OK;
	}
	if (argc < 2 || (strcmp(argv[1], "source") && strcmp(argv[1], "target"))) {
		forward_usage(stderr);
		return EXIT_USAGE;
	}
	target = !strcmp(argv[1], "target");
	migr_fwd_params_init(&p);
	memset(&ns, 0, sizeof(ns));
	optind = 2;
	int idx = -1;
	while ((c = getopt_long(argc, argv, "v", opts, &idx)) != -1) {
		rc = 0;
		switch (c) {
		case 'i': p.id = optarg; break;
		case 'p': rc = migr_fwd_parse_addr(optarg, &p.peer); break;
		case 'l': rc = migr_fwd_parse_addr(optarg, &p.local); break;
		case 'P': rc = parse_u32(optarg, 65535, &v); p.port = (uint16_t)v; break;
		case 'V': rc = parse_u32(optarg, (1u << 24) - 1, &p.vni); break;
		case 'u': p.underlay_dev = optarg; break;
		case 'n': rc = parse_nic(&ns, optarg); break;
		case 'q': rc = parse_u32(optarg, UINT32_MAX, &p.quiet_ms); break;
		case 'm': rc = parse_u32(optarg, UINT32_MAX, &p.max_ms); break;
		case 'o': rc = parse_u32(optarg, 60000, &p.poll_ms); break;
		case 'A': p.flags |= MIGR_FWD_NO_ARP; break;
		case 'a': p.announce_dev = optarg; break;
		case 'N': p.flags |= MIGR_FWD_NO_ANNOUNCE; break;
		case 'r': rc = parse_u32(optarg, 100, &p.announce_rounds); break;
		case 'I': rc = parse_u32(optarg, 60000, &p.announce_initial_ms); break;
		case 's': rc = parse_u32(optarg, 60000, &p.announce_step_ms); break;
		case 'v': verbose = 1; break;
		case 'h': forward_usage(stdout); return EXIT_OK;
		default: forward_usage(stderr); return EXIT_USAGE;
		}
		if (rc) {
			fprintf(stderr, "migr forward: bad value '%s' for --%s\n", optarg,
				idx >= 0 ? opts[idx].name : "?");
			return EXIT_USAGE;
		}
	}
	if (optind != argc || !p.id || !p.peer.family || !ns.n) {
		fprintf(stderr, "migr forward: --id, --peer and at least one --nic are required\n");
		return EXIT_USAGE;
	}
	if (!migr_fwd_id_valid(p.id)) {
		fprintf(stderr, "migr forward: '%s' is not a migration id\n", p.id);
		return EXIT_USAGE;
	}
	p.nics = ns.nics;
	p.n_nics = ns.n;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	lg = xtl_createlogger_stdiostream(stderr, verbose ? XTL_DETAIL : XTL_NOTICE, 0);
	p.lg = (xentoollog_logger *)lg;
	rc = target ? migr_fwd_target_start(&p, &f) : migr_fwd_source_start(&p, &f);
	if (rc) {
		fprintf(stderr, "migr forward: cannot start %s forwarding %s: %s\n", argv[1], p.id,
			migr_strerror(rc));
		goto out;
	}
	{
		char name[MIGR_FWD_IFNAME_LEN];
		migr_fwd_ifname(p.id, name);
		printf("forward %s: %s ready on %s\n", p.id, argv[1], name);
		fflush(stdout);
	}

	for (;;) {
		rc = migr_fwd_poll(f, &st);
		if (rc) {
			fprintf(stderr, "migr forward: %s: %s\n", p.id, migr_strerror(rc));
			goto out;
		}
		if (st.end != MIGR_FWD_RUNNING || interrupted)
			break;
		struct timespec ts = { .tv_sec = st.next_poll_ms / 1000,
				       .tv_nsec = (long)(st.next_poll_ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);  /* a signal cuts it short; the loop checks */
	}
	rc = migr_fwd_finish(f, &st);
	f = NULL;
	printf("forward %s: %s ended (%s) after %u ms: packets=%llu bytes=%llu arp=%llu "
	       "announce_rounds=%u teardown=%s\n", p.id, argv[1],
	       interrupted ? "signal" : migr_fwd_end_name(st.end), st.elapsed_ms,
	       (unsigned long long)st.packets, (unsigned long long)st.bytes,
	       (unsigned long long)st.arp_packets, st.announce_rounds_done, rc ? "incomplete" : "ok");
	if (rc) {
		fprintf(stderr, "migr forward: teardown incomplete (%s); run `migr cleanup %s`\n",
			migr_strerror(rc), p.id);
		goto out;
	}
	ret = EXIT_OK;
out:
	migr_fwd_finish(f, NULL);
	xtl_logger_destroy((xentoollog_logger *)lg);
	return ret;
}

/*
 * cmd_fleet.c: `migr fleet`, drains across the fleet (docs/fleet.md), through the
 * fleet's etcd (libmigr/drain.c):
 *
 *   migr fleet drain HOST... [--window W]   queue hosts; each host's migrd drains it in turn
 *   migr fleet status [--json]              the queue, each host's progress, guests in flight
 *   migr fleet wait HOST... [--timeout S]   until the hosts are drained (exit 0 only then)
 *   migr fleet cancel HOST... [--force]     out of the queue; a drained host back in service
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "libmigr.h"
#include "migcli.h"

int cmd_fleet(int argc, char **argv);

#define ETCD_HELP \
"  --etcd ENDPOINTS      the fleet's etcd (comma-separated [http[s]://]HOST:PORT; required)\n" \
"  --etcd-ca FILE, --etcd-cert FILE, --etcd-key FILE   TLS to etcd\n"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: migr fleet drain HOST... [--window W] [--requester WHO] --etcd ENDPOINTS\n"
"       migr fleet status [--json] --etcd ENDPOINTS\n"
"       migr fleet wait HOST... [--timeout S] --etcd ENDPOINTS\n"
"       migr fleet cancel HOST... [--force] --etcd ENDPOINTS\n"
"\n"
"Drains across the fleet, kept in etcd (docs/fleet.md). `drain` queues hosts; the migrd\n"
"of each (with etcd set) evacuates its host when its turn comes: at most W hosts drain at\n"
"once, never two hosts of one failure domain (migrd's failure_domain) are out at once, and\n"
"a host starts only when every one of its guests has a place. A drained host is in\n"
"maintenance: its failure domain stays busy until `cancel` puts it back in service.\n"
"\n"
"  drain HOST...         queue the hosts (names as in etcd: migrd's host); a host whose\n"
"                        drain failed is queued again in its old place\n"
"  --window W            from now on at most W hosts drain at once (1..256; default:\n"
"                        as set before, else 1)\n"
"  --requester WHO       who asks, shown by status (default: USER@this host)\n"
"  status                the window, the queue in order, each host's state, progress\n"
"                        (guests moved, left) and guests in flight\n"
"  --json                status as one JSON object\n"
"  wait HOST...          until every host named is drained; exit 0 only then: 1 when a\n"
"                        drain failed (with its reason), a host is not queued, or the\n"
"                        timeout passed\n"
"  --timeout S           wait at most S seconds (default: no limit)\n"
"  cancel HOST...        take a queued or failed host out of the queue, or put a drained\n"
"                        host back in service; a draining host is refused (stop its\n"
"                        evacuation with `migr cancel` on it: its drain then fails)\n"
"  --force               cancel a draining host too: its migrd is gone for good; its\n"
"                        slot and failure domain are freed, its guests stay where they are\n"
ETCD_HELP
"  -v, --verbose         log more\n"
"Exit status: 0 done; 1 failed (the message says why); 2 usage.\n");
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static const char *when(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !localtime_r(&tt, &tm))
		return "-";
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

static const char *shown_state(const struct migr_drain_view_host *h)
{
	/* The state key decides who is out; the entry only follows it. */
	if (h->out)
		return h->out_done ? "done" : "draining";
	if (h->entry.status == MIGR_DRAIN_DRAINING || h->entry.status == MIGR_DRAIN_DONE)
		return "stale";   /* the agent repairs it at its next look */
	return migr_drain_status_name(h->entry.status);
}

static void status_json(const struct migr_drain_view *v)
{
	printf("{\"window\":%u,\"state_readable\":%s,\"skipped_records\":%u,\"out\":[",
	       v->state.window, v->state_broken ? "false" : "true", v->skipped);
	for (unsigned int i = 0; i < v->state.nout; i++) {
		printf("%s{\"host\":", i ? "," : "");
		json_str(v->state.out[i].host);
		printf(",\"group\":");
		json_str(v->state.out[i].group);
		printf(",\"state\":\"%s\",\"since\":%lld}", v->state.out[i].done ? "done" : "draining",
		       (long long)v->state.out[i].since_unix);
	}
	printf("],\"hosts\":[");
	for (unsigned int i = 0; i < v->nhosts; i++) {
		const struct migr_drain_view_host *h = &v->hosts[i];

		printf("%s{\"host\":", i ? "," : "");
		json_str(h->entry.host);
		printf(",\"position\":%u,\"state\":\"%s\",\"entry_state\":\"%s\",\"reason\":", i + 1,
		       shown_state(h), migr_drain_status_name(h->entry.status));
		json_str(h->entry.reason);
		printf(",\"requester\":");
		json_str(h->entry.requester);
		printf(",\"queued\":%lld,\"started\":%lld,\"ended\":%lld",
		       (long long)h->entry.queued_unix, (long long)h->entry.started_unix,
		       (long long)h->entry.ended_unix);
		if (h->has_progress) {
			const struct migr_drain_progress *p = &h->progress;

			printf(",\"progress\":{\"total\":%u,\"moved\":%u,\"failed\":%u,\"left\":%u,"
			       "\"updated\":%lld,\"in_flight\":[", p->total, p->moved, p->failed,
			       p->left, (long long)p->updated_unix);
			for (unsigned int k = 0; k < p->nflight; k++) {
				printf("%s{\"guest\":", k ? "," : "");
				json_str(p->flight[k].guest);
				printf(",\"to\":");
				json_str(p->flight[k].to);
				printf("}");
			}
			printf("]}");
		}
		printf("}");
	}
	printf("]}\n");
}

static void status_text(const struct migr_drain_view *v)
{
	unsigned int draining = 0, done = 0;
	char t1[32];

	for (unsigned int i = 0; i < v->state.nout; i++)
		v->state.out[i].done ? done++ : draining++;
	if (v->state_broken)
		printf("warning: the drain state in etcd (%s) is not one migr reads: no drain "
		       "starts until it is repaired\n", MIGR_DRAIN_STATE_KEY);
	printf("window %u: %u draining, %u drained (in maintenance), %u in the queue\n",
	       v->state.window, draining, done, v->nhosts);
	if (v->skipped)
		printf("warning: %u records under /migr/drain/ are not ones migr reads "
		       "(skipped)\n", v->skipped);
	if (!v->nhosts && !v->state.nout)
		return;
	printf("%-3s %-24s %-9s %-19s %-13s %s\n", "#", "HOST", "STATE", "SINCE", "GUESTS",
	       "DETAIL");
	for (unsigned int i = 0; i < v->nhosts; i++) {
		const struct migr_drain_view_host *h = &v->hosts[i];
		const struct migr_drain_entry *en = &h->entry;
		int64_t since = en->status == MIGR_DRAIN_QUEUED ? en->queued_unix :
				en->status == MIGR_DRAIN_DRAINING ? en->started_unix : en->ended_unix;
		char guests[32] = "-";

		if (h->has_progress)
			snprintf(guests, sizeof(guests), "%u/%u moved", h->progress.moved,
				 h->progress.total);
		printf("%-3u %-24s %-9s %-19s %-13s ", i + 1, en->host, shown_state(h),
		       when(since, t1, sizeof(t1)), guests);
		if (en->status == MIGR_DRAIN_FAILED)
			printf("%s", en->reason);
		else if (h->has_progress && h->out && !h->out_done)
			printf("%u left", h->progress.left);
		else if (en->status == MIGR_DRAIN_QUEUED && en->requester[0])
			printf("queued by %s", en->requester);
		printf("\n");
		if (h->has_progress && h->out && !h->out_done)
			for (unsigned int k = 0; k < h->progress.nflight; k++)
				printf("      in flight: %s -> %s\n", h->progress.flight[k].guest,
				       h->progress.flight[k].to);
	}
	/* Hosts out without an entry (deleted by hand): they still hold their slot. */
	for (unsigned int i = 0; i < v->state.nout; i++)
		if (!migr_drain_view_find(v, v->state.out[i].host))
			printf("-   %-24s %-9s %-19s %-13s no queue entry; `migr fleet cancel %s` "
			       "frees it once drained\n", v->state.out[i].host,
			       v->state.out[i].done ? "done" : "draining",
			       when(v->state.out[i].since_unix, t1, sizeof(t1)), "-",
			       v->state.out[i].host);
}

/* 1: drained; 0: not yet; -1: never will be (message printed). */
static int drained(const struct migr_drain_view *v, const char *host)
{
	const struct migr_drain_view_host *h = migr_drain_view_find(v, host);

	if (!h) {
		fprintf(stderr, "migr: %s is not in the drain queue (`migr fleet drain %s`)\n",
			host, host);
		return -1;
	}
	if (h->out_done && h->entry.status == MIGR_DRAIN_DONE)
		return 1;
	if (h->entry.status == MIGR_DRAIN_FAILED && !h->out) {
		fprintf(stderr, "migr: the drain of %s failed: %s\n", host, h->entry.reason);
		return -1;
	}
	return 0;
}

static int do_wait(struct migr_etcd *e, char **hosts, int n, long timeout_s,
		   xentoollog_logger *lg)
{
	struct timespec t0, now;
	bool said_down = false;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct migr_drain_view v;
		int all = 1, rc = migr_drain_read(e, &v, lg);

		if (rc) {
			if (!said_down)
				fprintf(stderr, "migr: etcd: %s; still trying\n", migr_strerror(rc));
			said_down = true;
		} else {
			said_down = false;
			for (int i = 0; i < n && all == 1; i++) {
				int d = drained(&v, hosts[i]);

				if (d < 0) {
					migr_drain_view_clear(&v);
					return EXIT_FAILED;
				}
				all = d;
			}
			if (all) {
				for (int i = 0; i < n; i++)
					printf("%s is drained: its maintenance may start\n", hosts[i]);
				migr_drain_view_clear(&v);
				return EXIT_OK;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (timeout_s >= 0 && now.tv_sec - t0.tv_sec >= timeout_s) {
			fprintf(stderr, "migr: timed out after %ld s:", timeout_s);
			for (int i = 0; !rc && i < n; i++) {
				const struct migr_drain_view_host *h = migr_drain_view_find(&v, hosts[i]);

				fprintf(stderr, " %s %s", hosts[i], h ? shown_state(h) : "?");
				if (h && h->has_progress && !h->out_done)
					fprintf(stderr, " (%u/%u moved)", h->progress.moved,
						h->progress.total);
				fprintf(stderr, "%s", i + 1 < n ? ";" : "");
			}
			fprintf(stderr, "%s\n", rc ? " etcd not reached" : "");
			if (!rc)
				migr_drain_view_clear(&v);
			return EXIT_FAILED;
		}
		if (!rc)
			migr_drain_view_clear(&v);
		sleep(1);
	}
}

int cmd_fleet(int argc, char **argv)
{
	enum { O_ETCD = 256, O_WINDOW, O_REQ, O_JSON, O_TIMEOUT, O_FORCE };
	static const struct option opts[] = {
		{ "etcd", 1, 0, O_ETCD }, { "etcd-ca", 1, 0, O_ETCD },
		{ "etcd-cert", 1, 0, O_ETCD }, { "etcd-key", 1, 0, O_ETCD },
		{ "window", 1, 0, O_WINDOW }, { "requester", 1, 0, O_REQ },
		{ "json", 0, 0, O_JSON }, { "timeout", 1, 0, O_TIMEOUT }, { "force", 0, 0, O_FORCE },
		{ "verbose", 0, 0, 'v' }, { "help", 0, 0, 'h' },
		{ 0 }
	};
	struct migcli_etcd eo = { 0 };
	xentoollog_logger *lg = NULL;
	const char *sub, *requester = NULL;
	char who[600], host[256] = "", msg[512], *end;
	long window = 0, timeout_s = -1;
	bool json = false, force = false;
	int opt, idx, verbose = 0, status = EXIT_FAILED, rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	sub = argv[1];
	if (strcmp(sub, "drain") && strcmp(sub, "status") && strcmp(sub, "wait") &&
	    strcmp(sub, "cancel")) {
		fprintf(stderr, "migr fleet: unknown subcommand '%s' (drain, status, wait, cancel)\n",
			sub);
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "vh", opts, &idx)) != -1) {
		switch (opt) {
		case O_ETCD:
			migcli_etcd_opt(&eo, opts[idx].name, optarg);
			break;
		case O_WINDOW:
			errno = 0;
			window = strtol(optarg, &end, 10);
			if (errno || *end || window < 1 || window > MIGR_DRAIN_WINDOW_MAX) {
				fprintf(stderr, "migr fleet: --window: 1..%d, not %s\n",
					MIGR_DRAIN_WINDOW_MAX, optarg);
				return EXIT_USAGE;
			}
			break;
		case O_REQ:
			requester = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case O_TIMEOUT:
			errno = 0;
			timeout_s = strtol(optarg, &end, 10);
			if (errno || *end || timeout_s < 0) {
				fprintf(stderr, "migr fleet: --timeout: seconds, not %s\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case O_FORCE:
			force = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if ((window && strcmp(sub, "drain")) || (requester && strcmp(sub, "drain")) ||
	    (json && strcmp(sub, "status")) || (timeout_s >= 0 && strcmp(sub, "wait")) ||
	    (force && strcmp(sub, "cancel"))) {
		fprintf(stderr, "migr fleet %s: an option of another subcommand given; see "
			"`migr fleet --help`\n", sub);
		return EXIT_USAGE;
	}
	if (!strcmp(sub, "status") ? optind != argc : optind == argc) {
		fprintf(stderr, "migr fleet %s: %s\n", sub, strcmp(sub, "status") ?
			"name at least one HOST" : "takes no HOST");
		return EXIT_USAGE;
	}
	for (int i = optind; i < argc; i++)
		if (!migr_etcd_name_ok(argv[i])) {
			fprintf(stderr, "migr fleet: \"%s\" is not a host name in etcd (letters, "
				"digits, '.', '_', '-'; at most 255)\n", argv[i]);
			return EXIT_USAGE;
		}
	if (!eo.endpoints) {
		fprintf(stderr, "migr fleet: --etcd ENDPOINTS: the fleet's drains live in etcd\n");
		return EXIT_USAGE;
	}
	lg = migcli_logger(verbose);
	if (migcli_etcd_open(&eo, lg)) {
		status = EXIT_USAGE;
		goto out;
	}
	if (!strcmp(sub, "drain")) {
		if (!requester) {
			const char *u = getenv("USER");

			gethostname(host, sizeof(host) - 1);
			snprintf(who, sizeof(who), "%s@%s", u && u[0] ? u : "?", host);
			requester = who;
		}
		status = EXIT_OK;
		if (window && (rc = migr_drain_set_window(eo.e, (unsigned int)window, lg))) {
			fprintf(stderr, "migr fleet: cannot set the window: %s\n", migr_strerror(rc));
			status = EXIT_FAILED;
			goto out;
		}
		if (window)
			printf("window: at most %ld hosts drain at once\n", window);
		for (int i = optind; i < argc; i++) {
			rc = migr_drain_enqueue(eo.e, argv[i], requester, (int64_t)time(NULL), msg,
						sizeof(msg), lg);
			if (rc == 0 || rc == -EEXIST) {
				printf("%s\n", msg);
			} else {
				fprintf(stderr, "migr fleet: %s: %s\n", argv[i],
					rc == -EPROTO || rc == -EINVAL ? msg : migr_strerror(rc));
				status = EXIT_FAILED;
			}
		}
	} else if (!strcmp(sub, "status")) {
		struct migr_drain_view v;

		if ((rc = migr_drain_read(eo.e, &v, lg))) {
			fprintf(stderr, "migr fleet: cannot read the drains from etcd: %s\n",
				migr_strerror(rc));
			goto out;
		}
		json ? status_json(&v) : status_text(&v);
		migr_drain_view_clear(&v);
		status = EXIT_OK;
	} else if (!strcmp(sub, "wait")) {
		status = do_wait(eo.e, argv + optind, argc - optind, timeout_s, lg);
	} else {
		status = EXIT_OK;
		for (int i = optind; i < argc; i++) {
			rc = migr_drain_cancel(eo.e, argv[i], force, msg, sizeof(msg), lg);
			if (!rc) {
				printf("%s\n", msg);
			} else {
				fprintf(stderr, "migr fleet: %s: %s\n", argv[i],
					rc == -EBUSY || rc == -ENOENT || rc == -EAGAIN || rc == -EINVAL
					? msg : migr_strerror(rc));
				status = EXIT_FAILED;
			}
		}
	}
out:
	migcli_etcd_close(&eo);
	if (lg)
		xtl_logger_destroy(lg);
	return status;
}

/*
 * cmd_status.c: `migr status`, this host's evacuation: from migrd's control socket, or
 * (no migrd) from the nodes under /local/domain/0/migr/evacuation.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "evcli.h"
#include "libmigr.h"

int cmd_status(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(f,
"Usage: migr status [--json]\n"
"\n"
"Shows the migrations this host has not decided yet (as a source: its records in %s;\n"
"as a target: copies restored and paused, records in %s), then its current or last\n"
"evacuation: its state, counts and one line per guest (state, target, round, bytes sent,\n"
"reason).\n"
"  --json   one JSON object (migrd's status event, or the xenstore nodes as JSON)\n"
"Exit status: 0 shown; 1 nothing could be read.\n", MIGR_SRC_STATE_DIR, MIGR_STATE_DIR);
}

static char *rd(struct migr_xs *xs, const char *path, char *buf, size_t len)
{
	char *v = NULL;
	size_t n;

	buf[0] = 0;
	if (xs->ops->read(xs, path, &v, &n) == 0) {
		/* Show only printable bytes of whatever is there. */
		size_t k = 0;

		for (size_t i = 0; i < n && k + 1 < len; i++)
			buf[k++] = (v[i] >= 0x20 && v[i] <= 0x7e) ? v[i] : '?';
		buf[k] = 0;
		free(v);
	}
	return buf;
}

static int from_xenstore(bool json)
{
	struct migr_xs *xs = NULL;
	char **doms = NULL, a[300], b[300];
	unsigned n = 0;
	const char *E = "/local/domain/0/migr/evacuation";
	const char *fields[] = { "id", "state", "reason", "targets", "total", "moved", "failed",
				 "unplaceable", "running", "started", "finished" };
	int rc = migr_xs_open(&xs);

	if (rc) {
		fprintf(stderr, "migr: no migrd and no xenstore (%s)\n", migr_strerror(rc));
		return EXIT_FAILED;
	}
	if (json) {
		printf("{\"source\":\"xenstore\"");
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			char p[128], out[700] = "";

			snprintf(p, sizeof(p), "%s/%s", E, fields[i]);
			evcli_json_str(out, sizeof(out), rd(xs, p, a, sizeof(a)));
			printf(",\"%s\":%s", fields[i], out);
		}
		printf(",\"guests\":[");
	} else {
		char p[128];

		snprintf(p, sizeof(p), "%s/state", E);
		if (!rd(xs, p, a, sizeof(a))[0]) {
			printf("No evacuation recorded on this host.\n");
			migr_xs_close(xs);
			return EXIT_OK;
		}
		snprintf(p, sizeof(p), "%s/id", E);
		printf("evacuation %s: %s", rd(xs, p, b, sizeof(b)), a);
		snprintf(p, sizeof(p), "%s/reason", E);
		if (rd(xs, p, a, sizeof(a))[0])
			printf(" (%s)", a);
		printf("\n");
		for (size_t i = 3; i < 9; i++) {
			snprintf(p, sizeof(p), "%s/%s", E, fields[i]);
			printf("  %-12s %s\n", fields[i], rd(xs, p, a, sizeof(a)));
		}
		printf("%-16s %6s %-22s %-11s %5s %12s  %s\n", "GUEST", "DOMID", "TARGET", "STATE",
		       "ROUND", "SENT(MiB)", "REASON");
	}
	if (xs->ops->directory(xs, "/local/domain/0/migr/evacuation/guest", &doms, &n))
		n = 0;
	for (unsigned i = 0; i < n; i++) {
		char p[160], name[80], tgt[300], st[32], round[32], sent[32], reason[300];

#define F(leaf, buf) (snprintf(p, sizeof(p), "%s/guest/%s/" leaf, E, doms[i]), \
		      rd(xs, p, buf, sizeof(buf)))
		F("name", name);
		F("target", tgt);
		F("state", st);
		F("round", round);
		F("sent-bytes", sent);
		F("reason", reason);
#undef F
		if (json) {
			char o[2048] = "";

			strcat(o, i ? ",{\"domid\":" : "{\"domid\":");
			evcli_json_str(o, sizeof(o), doms[i]);
			strcat(o, ",\"name\":");
			evcli_json_str(o, sizeof(o), name);
			strcat(o, ",\"target\":");
			evcli_json_str(o, sizeof(o), tgt);
			strcat(o, ",\"state\":");
			evcli_json_str(o, sizeof(o), st);
			strcat(o, ",\"reason\":");
			evcli_json_str(o, sizeof(o), reason);
			printf("%s}", o);
		} else {
			printf("%-16.16s %6s %-22.22s %-11s %5s %12.1f  %s\n", name, doms[i],
			       tgt[0] ? tgt : "-", st, round[0] ? round : "-",
			       strtoull(sent, NULL, 10) / 1048576.0, reason);
		}
	}
	if (json)
		printf("]}\n");
	free(doms);
	migr_xs_close(xs);
	return EXIT_OK;
}

static int show_src(const struct migr_src_record *r, void *opaque)
{
	char hex[MIGR_ID_HEX];
	unsigned int *n = opaque;

	if (!(*n)++)
		printf("Migrations not decided yet (settle with `migr resolve ID NAME HOST`; migrd "
		       "retries every 30 s):\n");
	migr_id_to_hex(&r->id, hex);
	printf("  out %s %-20s to %-22s %s%s\n", hex, r->name, r->target[0] ? r->target : "(pipe)",
	       r->phase == MIGR_SRC_GO ? "GO sent: the copy here stays suspended until the "
	       "target's record decides" : "GO never sent: the guest resumes here",
	       "");
	return 0;
}

static int show_tgt(const struct migr_record *r, void *opaque)
{
	char hex[MIGR_ID_HEX];
	unsigned int *n = opaque;

	if (r->outcome != MIGR_OUTCOME_RESTORED_PAUSED)
		return 0;
	if (!(*n)++)
		printf("Migrations not decided yet:\n");
	migr_id_to_hex(&r->id, hex);
	printf("  in  %s %-20s from %-20s restored, paused (domain %u), waiting for GO\n", hex,
	       r->name, r->source, r->domid);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	bool json = false;
	int fd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else {
			bool help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");

			usage(help ? stdout : stderr);
			return help ? EXIT_OK : EXIT_USAGE;
		}
	}
	if (!json) {
		unsigned int n = 0;

		migr_src_record_list(MIGR_SRC_STATE_DIR, show_src, &n);
		migr_record_list(MIGR_STATE_DIR, show_tgt, &n);
		if (n)
			printf("\n");
	}
	fd = evcli_connect();
	if (fd >= 0) {
		struct evcli_reader *r = calloc(1, sizeof(*r));
		static char line[65536];
		struct pollfd p = { fd, POLLIN, 0 };
		int rc = -EIO;

		if (r && !evcli_send(fd, "{\"cmd\":\"status\"}") && poll(&p, 1, 5000) == 1)
			rc = evcli_read_line(fd, r, line, sizeof(line));
		free(r);
		close(fd);
		if (rc == 1) {
			if (json) {
				printf("%s\n", line);
				return EXIT_OK;
			}
			/* migrd's view is the same as the nodes it publishes: show those. */
			return from_xenstore(false);
		}
	}
	return from_xenstore(json);
}

/*
 * cmd_cancel.c: `migr cancel`, stops this host's running evacuation cleanly: nothing
 * queued starts, guests waiting out their notice stay, running migrations finish or back
 * out. Through migrd's control socket, or (no migrd) through the xenstore request node,
 * which a `migr evacuate` running in its own process also watches.
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

int cmd_cancel(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(f,
"Usage: migr cancel\n"
"\n"
"Cancels this host's running evacuation: nothing queued starts, guests waiting out their\n"
"notice stay (their notice is withdrawn), running migrations finish or back out, so\n"
"every guest ends on exactly one host. `migr status` shows the outcome.\n"
"Exit status: 0 the cancel was delivered; 1 it could not be.\n");
}

int cmd_cancel(int argc, char **argv)
{
	struct migr_xs *xs = NULL;
	int fd, rc;

	if (argc > 1) {
		bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");

		usage(help ? stdout : stderr);
		return help ? EXIT_OK : EXIT_USAGE;
	}
	fd = evcli_connect();
	if (fd >= 0) {
		struct evcli_reader *r = calloc(1, sizeof(*r));
		char line[4096] = "";
		struct pollfd p = { fd, POLLIN, 0 };

		rc = evcli_send(fd, "{\"cmd\":\"cancel\"}");
		if (!rc && r && poll(&p, 1, 5000) == 1 && evcli_read_line(fd, r, line, sizeof(line)) == 1)
			printf("migr: %s\n", strstr(line, "\"running\":true") ?
			       "cancel delivered to migrd; the evacuation is winding down" :
			       "cancel delivered to migrd; no evacuation was running");
		free(r);
		close(fd);
		if (!rc)
			return EXIT_OK;
		fprintf(stderr, "migr: cannot talk to migrd: %s\n", strerror(-rc));
	}
	rc = migr_xs_open(&xs);
	if (rc) {
		fprintf(stderr, "migr: no migrd and no xenstore (%s): nothing to cancel here\n",
			migr_strerror(rc));
		return EXIT_FAILED;
	}
	rc = migr_xs_write_str(xs, "/local/domain/0/migr/request", "{\"action\":\"cancel\"}");
	migr_xs_close(xs);
	if (rc) {
		fprintf(stderr, "migr: cannot write the cancel request: %s\n", migr_strerror(rc));
		return EXIT_FAILED;
	}
	printf("migr: cancel written to /local/domain/0/migr/request\n");
	return EXIT_OK;
}

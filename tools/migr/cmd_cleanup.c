/*
 * cmd_cleanup.c: `migr cleanup [--dry-run] ID | --all | --orphans`: removes what a migration left on
 * this host after a crash or a kill: the brownout forwarding's VXLAN device, tc filters and
 * ingress qdiscs, found by the migration id they carry (docs/forwarding.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <xentoollog.h>
#include "libmigr.h"
#include "commands.h"

static void cleanup_usage(FILE *f)
{
	fprintf(f, "Usage: migr cleanup [--dry-run] [-v] ID\n"
		"       migr cleanup [--dry-run] [-v] --all\n"
		"       migr cleanup [--dry-run] [-v] --orphans\n\n"
		"Removes what migration ID (or every migration, with --all) left in this host's\n"
		"network namespace: forwarding devices, tc filters and the ingress qdiscs migr\n"
		"added. --orphans removes those of every migration that no running process\n"
		"forwards any more (what migrd does at its start). --dry-run only counts them.\n"
		"Safe to run when nothing is left.\n");
}

int cmd_cleanup(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "orphans", no_argument, NULL, 'o' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct migr_fwd_cleanup_stats st;
	xentoollog_logger_stdiostream *lg;
	unsigned int flags = 0;
	const char *id = NULL;
	int all = 0, orphans = 0, verbose = 0, c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "aonvh", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 'o': orphans = 1; flags |= MIGR_FWD_CLEANUP_ORPHANS; break;
		case 'n': flags |= MIGR_FWD_CLEANUP_DRY_RUN; break;
		case 'v': verbose = 1; break;
		case 'h': cleanup_usage(stdout); return EXIT_OK;
		default: cleanup_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc)
		id = argv[optind++];
	if (optind != argc || (!!id + all + orphans) != 1) {
		cleanup_usage(stderr);
		return EXIT_USAGE;
	}
	if (id && !migr_fwd_id_valid(id)) {
		fprintf(stderr, "migr cleanup: '%s' is not a migration id (1-%d of A-Z a-z 0-9 . _ : -)\n",
			id, MIGR_FWD_ID_MAX);
		return EXIT_USAGE;
	}

	lg = xtl_createlogger_stdiostream(stderr, verbose ? XTL_DETAIL : XTL_NOTICE, 0);
	rc = migr_fwd_cleanup(id, flags, (xentoollog_logger *)lg, &st);
	xtl_logger_destroy((xentoollog_logger *)lg);
	if (rc) {
		fprintf(stderr, "migr cleanup: %s%s\n", migr_strerror(rc),
			rc == -EPERM ? " (run as root)" : "; some leftovers may remain, run again");
		return EXIT_FAILED;
	}
	printf("cleanup %s: %s %u forwarding device(s), %u filter(s), %u qdisc(s)",
	       id ? id : all ? "--all" : "--orphans",
	       (flags & MIGR_FWD_CLEANUP_DRY_RUN) ? "would remove" : "removed",
	       st.devices, st.filters, st.qdiscs);
	if (orphans)
		printf(", kept %u still forwarding", st.spared);
	printf("\n");
	return EXIT_OK;
}

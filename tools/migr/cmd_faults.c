/*
 * cmd_faults.c: `migr faults`, the named fault points of both migration drivers (for
 * MIGR_FAULT; docs/phases.md says what a failure at each must leave behind).
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "libmigr.h"

int cmd_faults(int argc, char **argv);

int cmd_faults(int argc, char **argv)
{
	if (argc > 1) {
		bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");

		fprintf(help ? stdout : stderr,
			"Usage: migr faults\n\n"
			"Lists the fault points of the migration drivers. MIGR_FAULT=POINT[:KIND[=MS]]"
			"[,...]\nin the environment of `migr migrate`, `migr receive` or migrd makes "
			"that process\nfail there: error (the step fails), crash (the process dies "
			"at once, as kill -9),\nhang[=MS] (it stops for MS ms, default 60000, holding "
			"everything), cut (the\nconnection is closed). precopy-round=N fires at the "
			"end of round N.\n");
		return help ? EXIT_OK : EXIT_USAGE;
	}
	printf("%-18s %-6s %-3s %s\n", "POINT", "SIDE", "XL", "WHERE");
	for (unsigned int p = 1; p < MIGR_FI_COUNT; p++) {
		char side;
		bool xl;
		const char *info = migr_fault_point_info((enum migr_fault)p, &side, &xl);

		if (info)
			printf("%-18s %-6s %-3s %s\n", migr_fault_point_name((enum migr_fault)p),
			       side == 's' ? "source" : "target", xl ? "yes" : "no", info);
	}
	printf("\nKINDS: error, crash, hang[=MS], cut. Example: MIGR_FAULT=wait-done:crash\n");
	return EXIT_OK;
}

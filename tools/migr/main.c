/*
 * migr: the operator's command line (xl-style). main() dispatches to one function per
 * subcommand; each lives in its own cmd_*.c and parses its own options.
 */
#include <stdio.h>
#include <string.h>
#include "libmigr.h"
#include "commands.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);
int cmd_migrate(int argc, char **argv);   /* cmd_migrate.c */
int cmd_receive(int argc, char **argv);   /* cmd_receive.c */
int cmd_resolve(int argc, char **argv);   /* cmd_receive.c */
int cmd_cleanup(int argc, char **argv);   /* cmd_cleanup.c */
int cmd_forward(int argc, char **argv);   /* cmd_forward.c */

int cmd_evacuate(int argc, char **argv);      /* cmd_evacuate.c */
int cmd_cancel(int argc, char **argv);        /* cmd_cancel.c */
int cmd_status(int argc, char **argv);        /* cmd_status.c */
int cmd_schema_check(int argc, char **argv);  /* cmd_schema.c */
int cmd_faults(int argc, char **argv);        /* cmd_faults.c */
int cmd_report(int argc, char **argv);        /* cmd_report.c */
int cmd_fleet(int argc, char **argv);         /* cmd_fleet.c */
static const struct migr_cmd commands[] = {
	{ "help",    cmd_help,    "show this help" },
	{ "version", cmd_version, "print the version" },
	{ "migrate", cmd_migrate, "live-migrate one guest to another host" },
	{ "receive", cmd_receive, "receive one migration on stdin/stdout (ssh-style)" },
	{ "resolve", cmd_resolve, "settle a migration that did not end (see migr status)" },
	{ "cleanup", cmd_cleanup, "remove what a killed migration left (forwarding)" },
	{ "forward", cmd_forward, "brownout forwarding on its own: source, target, stop" },
	{ "evacuate", cmd_evacuate, "empty this host: live-migrate every guest away" },
	{ "cancel",  cmd_cancel,  "cancel this host's running evacuation cleanly" },
	{ "status",  cmd_status,  "show this host's evacuation and undecided migrations" },
	{ "schema-check", cmd_schema_check, "check xenstore (or a dump) against migr's schema" },
	{ "faults",  cmd_faults,  "list the drivers' named fault points (MIGR_FAULT)" },
	{ "report",  cmd_report,  "draw a migration or an evacuation as an SVG picture" },
	{ "fleet",   cmd_fleet,   "drains across the fleet in etcd: drain, status, wait, cancel" },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: migr COMMAND [OPTIONS] [ARGS]\n\n"
		"Live-migrates Xen guests for transparent host maintenance.\n\nCommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n`migr COMMAND --help` describes a command.\n"
		"Exit status: 0 done, 1 failed, 2 usage, 3 aborted cleanly (guests still on the\n"
		"source), 4 outcome unknown (run `migr resolve ID`).\n");
}

static int cmd_help(int argc, char **argv)
{
	usage(stdout);
	return EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
	printf("migr %s\n", migr_version());
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--version"))
		return cmd_version(argc - 1, argv + 1);
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "migr: unknown command '%s'; see 'migr help'\n", argv[1]);
	return EXIT_USAGE;
}

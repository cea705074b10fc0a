/* commands.h: the migr CLI's subcommands; main.c dispatches on this table. */
#ifndef MIGR_COMMANDS_H
#define MIGR_COMMANDS_H

struct migr_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);   /* argv[0] is the subcommand name */
	const char *summary;
};

/* Exit statuses shared by every subcommand (documented in `migr help`). */
#define EXIT_OK        0   /* done */
#define EXIT_FAILED    1   /* failed; see the message for the guest's state */
#define EXIT_USAGE     2   /* bad command line */
#define EXIT_ABORTED   3   /* aborted cleanly: every guest still runs on the source */
#define EXIT_UNDECIDED 4   /* outcome unknown: run `migr resolve ID` */

#endif

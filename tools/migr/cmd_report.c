/*
 * cmd_report.c: `migr report`, the pictures of what a migration or an evacuation did
 * (libmigr/report.c; docs/reports.md).
 *
 *   migr report                      lists the round logs kept
 *   migr report ID                   a migration's SVG from its round log
 *   migr report --evacuation EVID    an evacuation's SVG from the event log, with the
 *                                    pictures of its guests' migrations and index.html
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

int cmd_report(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(f,
"Usage: migr report [OPTIONS] [ID]\n"
"       migr report --evacuation EVID [OPTIONS]\n"
"\n"
"Draws what a migration or an evacuation did as a self-contained SVG picture (no script,\n"
"no external reference: a browser or an image viewer shows it).\n"
"\n"
"  ID                    a migration id, as migr migrate prints it (a unique prefix will\n"
"                        do): its round log is drawn, into DIR/ID.svg beside it unless\n"
"                        -o says otherwise. Without ID the round logs kept are listed\n"
"  --evacuation EVID     an evacuation, from the event log: evacuation-EVID.svg beside\n"
"                        the log, with a migration-ID.svg for each guest moved whose\n"
"                        round log is kept, and index.html there linking every picture\n"
"  -o, --output FILE     write the SVG to FILE instead (\"-\": standard output)\n"
"  --report-dir DIR      where the round logs are kept (default %s)\n"
"  --event-log FILE      the evacuation event log (default %s)\n"
"\n"
"Exit status: 0 written (or listed); 1 no such record, or it is damaged (the message\n"
"says which); 2 usage.\n", MIGR_REPORT_DIR, MIGR_EVENT_LOG);
}

struct listing {
	unsigned int n;
	const char *prefix;             /* when resolving an id */
	char match[MIGR_ID_HEX];
	unsigned int matches;
};

static int list_one(const struct migr_roundlog *l, void *arg)
{
	struct listing *ls = arg;
	char when[32] = "-";
	time_t t = (time_t)l->started;
	struct tm tm;

	if (ls->prefix) {
		if (!strncmp(l->id, ls->prefix, strlen(ls->prefix))) {
			memcpy(ls->match, l->id, sizeof(ls->match));
			ls->matches++;
		}
		return 0;
	}
	if (!ls->n++)
		printf("%-32s  %-19s  %-16s %-9s %6s %12s  %s\n", "ID", "STARTED (UTC)", "GUEST",
		       "OUTCOME", "ROUNDS", "BLACKOUT(ms)", "TARGET");
	if (l->started > 0 && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%-32s  %-19s  %-16.16s %-9s %6u %12.1f  %s\n", l->id, when, l->name,
	       migr_report_outcome_name(l->outcome), l->n_rounds + l->rounds_dropped,
	       l->blackout_us / 1000.0, l->target[0] ? l->target : "-");
	return 0;
}

/* Writes svg to out ("-": stdout) and says where. */
static int put(const char *out, const char *svg, size_t len)
{
	int rc;

	if (!strcmp(out, "-")) {
		if (fwrite(svg, 1, len, stdout) != len || fflush(stdout)) {
			fprintf(stderr, "migr report: writing to standard output failed\n");
			return EXIT_FAILED;
		}
		return EXIT_OK;
	}
	rc = migr_report_write_file(out, svg, len, 0644);
	if (rc) {
		fprintf(stderr, "migr report: cannot write %s: %s\n", out, migr_strerror(rc));
		return EXIT_FAILED;
	}
	printf("%s\n", out);
	return EXIT_OK;
}

static int one_migration(const char *report_dir, const char *arg, const char *out)
{
	struct migr_roundlog *l = NULL;
	struct listing ls = { 0 };
	char why[200], path[4200], *svg = NULL;
	size_t len;
	int rc, status = EXIT_FAILED;

	if (strlen(arg) < 4 || strlen(arg) > MIGR_ID_HEX - 1 ||
	    strspn(arg, "0123456789abcdef") != strlen(arg)) {
		fprintf(stderr, "migr report: %s is not a migration id (32 hex digits, or at least "
			"4 of them that only one id starts with)\n", arg);
		return EXIT_USAGE;
	}
	ls.prefix = arg;
	rc = migr_roundlog_list(report_dir, list_one, &ls);
	if (rc) {
		fprintf(stderr, "migr report: cannot read %s: %s\n", report_dir, migr_strerror(rc));
		return EXIT_FAILED;
	}
	if (ls.matches > 1) {
		fprintf(stderr, "migr report: %u round logs in %s start with %s; give more of the "
			"id\n", ls.matches, report_dir, arg);
		return EXIT_USAGE;
	}
	if (!ls.matches) {
		/* maybe there, but damaged: the reader says why */
		if (strlen(arg) != MIGR_ID_HEX - 1) {
			fprintf(stderr, "migr report: no round log of a migration %s... in %s (`migr "
				"report` lists them)\n", arg, report_dir);
			return EXIT_FAILED;
		}
		memcpy(ls.match, arg, sizeof(ls.match));
	}
	l = malloc(sizeof(*l));
	if (!l)
		return EXIT_FAILED;
	rc = migr_roundlog_read(report_dir, ls.match, l, why, sizeof(why));
	if (rc == -ENOENT) {
		fprintf(stderr, "migr report: no round log of migration %s in %s (`migr report` "
			"lists them)\n", ls.match, report_dir);
		goto out;
	}
	if (rc) {
		fprintf(stderr, "migr report: the round log %s/%s.json is not usable: %s%s%s\n",
			report_dir, ls.match, migr_strerror(rc), why[0] ? ": " : "", why);
		goto out;
	}
	rc = migr_report_migration_svg(l, &svg, &len);
	if (rc) {
		fprintf(stderr, "migr report: cannot draw migration %s: %s\n", ls.match,
			migr_strerror(rc));
		goto out;
	}
	if (!out) {
		snprintf(path, sizeof(path), "%s/%s.svg", report_dir, ls.match);
		out = path;
	}
	status = put(out, svg, len);
out:
	free(svg);
	free(l);
	return status;
}

static int one_evacuation(const char *report_dir, const char *log, const char *evid,
			  const char *out)
{
	struct migr_evac_report *r = NULL;
	char dir[4096], path[4200], *svg = NULL;
	const char *slash;
	size_t len;
	int rc, status = EXIT_FAILED;

	if (!migr_report_name_ok(evid)) {
		fprintf(stderr, "migr report: %s is not an evacuation id (1..64 of "
			"[A-Za-z0-9._:@+-])\n", evid);
		return EXIT_USAGE;
	}
	slash = strrchr(log, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == log ? 1 : (int)(slash - log), log);
	r = calloc(1, sizeof(*r));
	if (!r)
		return EXIT_FAILED;
	rc = migr_report_evac_from_log(log, evid, r);
	if (rc == -ENOENT) {
		fprintf(stderr, "migr report: no record of evacuation %s in %s\n", evid, log);
		goto out;
	}
	if (rc) {
		fprintf(stderr, "migr report: cannot read %s: %s\n", log, migr_strerror(rc));
		goto out;
	}
	/* beside the log, as migrd writes them: each moved guest's migration picture too */
	for (unsigned int i = 0; !out && i < r->n; i++) {
		struct migr_evac_report_lane *ln = &r->lanes[i];
		struct migr_roundlog *l;
		char *msvg = NULL;
		size_t mlen;

		ln->link[0] = '\0';
		if (!ln->migration_id[0] || strcmp(ln->state, "moved") || !(l = malloc(sizeof(*l))))
			continue;
		if (!migr_roundlog_read(report_dir, ln->migration_id, l, NULL, 0) &&
		    !migr_report_migration_svg(l, &msvg, &mlen)) {
			snprintf(path, sizeof(path), "%s/migration-%s.svg", dir, ln->migration_id);
			if (!migr_report_write_file(path, msvg, mlen, 0644))
				snprintf(ln->link, sizeof(ln->link), "migration-%.32s.svg",
					 l->id);
		}
		free(msvg);
		free(l);
	}
	if (out)
		for (unsigned int i = 0; i < r->n; i++)
			r->lanes[i].link[0] = '\0';
	rc = migr_report_evacuation_svg(r, &svg, &len);
	if (rc) {
		fprintf(stderr, "migr report: cannot draw evacuation %s: %s\n", evid,
			migr_strerror(rc));
		goto out;
	}
	if (out) {
		status = put(out, svg, len);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/evacuation-%s.svg", dir, evid);
	status = put(path, svg, len);
	if (status == EXIT_OK) {
		rc = migr_report_index(dir);
		if (rc) {
			fprintf(stderr, "migr report: cannot write %s/index.html: %s\n", dir,
				migr_strerror(rc));
			status = EXIT_FAILED;
		} else {
			printf("%s/index.html\n", dir);
		}
	}
out:
	free(svg);
	free(r);
	return status;
}

int cmd_report(int argc, char **argv)
{
	enum { O_EVAC = 0x100, O_REPDIR, O_LOG };
	static const struct option opts[] = {
		{ "evacuation", 1, 0, O_EVAC }, { "output", 1, 0, 'o' },
		{ "report-dir", 1, 0, O_REPDIR }, { "event-log", 1, 0, O_LOG },
		{ "help", 0, 0, 'h' }, { 0 }
	};
	const char *evid = NULL, *out = NULL, *report_dir = MIGR_REPORT_DIR;
	const char *log = MIGR_EVENT_LOG;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (opt) {
		case O_EVAC: evid = optarg; break;
		case 'o': out = optarg; break;
		case O_REPDIR: report_dir = optarg; break;
		case O_LOG: log = optarg; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (argc - optind > 1 || (evid && argc - optind)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (evid)
		return one_evacuation(report_dir, log, evid, out);
	if (argc - optind == 1)
		return one_migration(report_dir, argv[optind], out);
	if (out) {
		fprintf(stderr, "migr report: -o draws one migration or evacuation: name it\n");
		return EXIT_USAGE;
	}
	{
		struct listing ls = { 0 };
		int rc = migr_roundlog_list(report_dir, list_one, &ls);

		if (rc) {
			fprintf(stderr, "migr report: cannot read %s: %s\n", report_dir,
				migr_strerror(rc));
			return EXIT_FAILED;
		}
		if (!ls.n)
			printf("No round log kept in %s.\n", report_dir);
	}
	return EXIT_OK;
}

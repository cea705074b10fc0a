/*
 * cmd_schema.c: `migr schema-check`, checks a live xenstore or a `xenstore-ls -f -p` dump
 * against migr's xenstore schema (xenstore-schema/).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "libmigr.h"

int cmd_schema_check(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(f,
"Usage: migr schema-check [--dump FILE] [--schema FILE] [--print] [-q]\n"
"\n"
"Checks every xenstore node under the trees migr uses (/local/domain/0/migr,\n"
"/local/domain/DOMID/migr, the lab's data/memwork) against migr's schema: known node,\n"
"value grammar, permissions. Without --dump it walks the live xenstore (dom0, root).\n"
"\n"
"  --dump FILE    check `xenstore-ls -f -p` output instead (- for stdin)\n"
"  --schema FILE  a schema file instead of the one built in\n"
"  --print        print the built-in schema and exit\n"
"  -q, --quiet    print only the summary line\n"
"\n"
"Prints one line per node that breaks the schema, then a summary.\n"
"Exit status: 0 every node conforms; 1 some do not (or the input could not be read).\n");
}

struct ctx {
	const struct migr_schema *s;
	bool quiet;
	unsigned nodes, checked, ok, bad;
};

static void check_one(struct ctx *c, const char *path, const char *v, size_t vlen,
		      const char *perms, bool truncated)
{
	char why[256];
	int r;

	c->nodes++;
	r = migr_schema_check(c->s, path, v, vlen, perms, why, sizeof(why), NULL);
	if (r == MIGR_SCHEMA_OUT_OF_SCOPE)
		return;
	c->checked++;
	if (r == MIGR_SCHEMA_BAD_VALUE && truncated) {
		r = MIGR_SCHEMA_BAD_VALUE;
		snprintf(why, sizeof(why), "value cut by xenstore-ls (redirect it to a file)");
	}
	if (r == MIGR_SCHEMA_OK)
		c->ok++;
	else {
		c->bad++;
		if (!c->quiet)
			printf("%s: %s: %s\n", path, migr_schema_result_name(r), why);
	}
}

static int walk_fn(const char *path, const char *v, size_t vlen, const char *perms, void *arg)
{
	check_one(arg, path, v, vlen, perms, false);
	return 0;
}

static int check_dump(struct ctx *c, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0, bad_lines = 0;
	struct migr_xs_entry prev = { 0 };
	bool have_prev = false;

	while ((n = getline(&line, &cap, f)) >= 0) {
		struct migr_xs_entry e;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		if (n == 0)
			continue;
		/* "PATH:" then "  (PERMS)" on the next line: xenstore-ls's unreadable node. */
		if (have_prev && !prev.value && !prev.perms && !strncmp(line, "  (", 3) &&
		    line[n - 1] == ')') {
			prev.perms = strndup(line + 3, n - 4);
			continue;
		}
		if (have_prev) {
			check_one(c, prev.path, prev.value, prev.vlen, prev.perms, prev.truncated);
			migr_xs_entry_clear(&prev);
			have_prev = false;
		}
		if (migr_xs_dump_parse_line(line, n, &e)) {
			bad_lines++;
			if (!c->quiet)
				printf("line %u: not a xenstore-ls -f -p line\n", lineno);
			continue;
		}
		prev = e;
		have_prev = true;
	}
	if (have_prev) {
		check_one(c, prev.path, prev.value, prev.vlen, prev.perms, prev.truncated);
		migr_xs_entry_clear(&prev);
	}
	free(line);
	c->bad += bad_lines;
	return 0;
}

static char *slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (len + 4096 > cap) {
			char *p = realloc(buf, cap = cap * 2 + 8192);

			if (!p || cap > (1u << 24)) {
				free(p ? p : buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		size_t k = fread(buf + len, 1, cap - len, f);

		len += k;
		if (k == 0)
			break;
	}
	fclose(f);
	*len_r = len;
	return buf;
}

int cmd_schema_check(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dump", 1, 0, 'd' }, { "schema", 1, 0, 's' }, { "print", 0, 0, 'p' },
		{ "quiet", 0, 0, 'q' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 }
	};
	const char *dump = NULL, *schema_file = NULL;
	struct migr_schema *s = NULL;
	struct ctx c = { 0 };
	int ch, rc, status = EXIT_FAILED;

	while ((ch = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		switch (ch) {
		case 'd': dump = optarg; break;
		case 's': schema_file = optarg; break;
		case 'q': c.quiet = true; break;
		case 'p': {
			size_t len;
			const char *t = migr_schema_builtin(&len);

			fwrite(t, 1, len, stdout);
			return EXIT_OK;
		}
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (schema_file) {
		char err[256] = "";
		size_t len = 0;
		char *text = slurp(schema_file, &len);

		if (!text) {
			fprintf(stderr, "migr schema-check: cannot read %s\n", schema_file);
			return EXIT_FAILED;
		}
		rc = migr_schema_parse(text, len, &s, err, sizeof(err));
		free(text);
		if (rc) {
			fprintf(stderr, "migr schema-check: %s: %s\n", schema_file, err);
			return EXIT_FAILED;
		}
	} else if ((rc = migr_schema_load_builtin(&s))) {
		fprintf(stderr, "migr schema-check: built-in schema: %s\n", migr_strerror(rc));
		return EXIT_FAILED;
	}
	c.s = s;
	if (dump) {
		FILE *f = strcmp(dump, "-") ? fopen(dump, "r") : stdin;

		if (!f) {
			fprintf(stderr, "migr schema-check: cannot read %s: %s\n", dump,
				strerror(errno));
			goto out;
		}
		check_dump(&c, f);
		if (f != stdin)
			fclose(f);
	} else {
		struct migr_xs *xs = NULL;

		if ((rc = migr_xs_open(&xs))) {
			fprintf(stderr, "migr schema-check: cannot open xenstore: %s (run as root in "
				"dom0, or use --dump)\n", migr_strerror(rc));
			goto out;
		}
		rc = migr_xs_walk(xs, "/", walk_fn, &c);
		migr_xs_close(xs);
		if (rc) {
			fprintf(stderr, "migr schema-check: walking xenstore: %s\n",
				migr_strerror(rc));
			goto out;
		}
	}
	printf("schema-check: %u nodes read, %u under migr's trees, %u conform, %u problems\n",
	       c.nodes, c.checked, c.ok, c.bad);
	status = c.bad ? EXIT_FAILED : EXIT_OK;
out:
	migr_schema_free(s);
	return status;
}

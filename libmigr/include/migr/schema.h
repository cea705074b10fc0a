/*
 * migr/schema.h: migr's xenstore contract (xenstore-schema/migr.schema) as a checker.
 *
 * Entry points: migr_schema_parse() / migr_schema_load_builtin() build a schema;
 * migr_schema_check() checks one (path, value, perms) tuple against it;
 * migr_schema_check_value() checks a value alone (migrd uses it on every guest-written
 * node before acting on it); migr_xs_dump_parse_line() reads one line of
 * `xenstore-ls -f -p` output. Pure: no Xen headers, no printing; all input is untrusted.
 */
#ifndef MIGR_SCHEMA_H
#define MIGR_SCHEMA_H

#include <stddef.h>

#define MIGR_HAVE_SCHEMA 1

/* Limits (xenstore's own: 3072-byte absolute paths, 4096-byte values by default). */
#define MIGR_SCHEMA_MAX_PATH   3072
#define MIGR_SCHEMA_MAX_VALUE  4096
#define MIGR_SCHEMA_MAX_NODES  512
#define MIGR_SCHEMA_MAX_PERMS  32

struct migr_schema;

/* Who may be trusted to have written a node. */
enum migr_schema_trust {
	MIGR_SCHEMA_TRUST_DOM0 = 0,   /* only dom0 can write it */
	MIGR_SCHEMA_TRUST_GUEST = 1,  /* a guest can write it: untrusted input */
};

/* Outcome of a check (>= 0; a negative value is -errno). */
enum migr_schema_result {
	MIGR_SCHEMA_OK = 0,
	MIGR_SCHEMA_OUT_OF_SCOPE,  /* not under any tree the schema covers: not migr's */
	MIGR_SCHEMA_UNKNOWN,       /* under a covered tree, but no node of the schema matches */
	MIGR_SCHEMA_BAD_VALUE,     /* the value breaks the node's grammar */
	MIGR_SCHEMA_BAD_PERMS,     /* the permissions differ from the node's */
	MIGR_SCHEMA_BAD_PATH,      /* not a well-formed absolute xenstore path */
};

/*
 * migr_schema_parse: parses schema text (the format is in xenstore-schema/README.md).
 * On a syntax error returns -EINVAL and, if errbuf is given, writes "line N: what" there.
 */
int migr_schema_parse(const char *text, size_t len, struct migr_schema **schema_r,
		      char *errbuf, size_t errlen);

/* migr_schema_builtin: the schema text compiled into the library (never NULL). */
const char *migr_schema_builtin(size_t *len_r);

/* migr_schema_load_builtin: migr_schema_parse() of the built-in text. */
int migr_schema_load_builtin(struct migr_schema **schema_r);

void migr_schema_free(struct migr_schema *schema);

/* migr_schema_node_count: how many nodes the schema declares. */
unsigned migr_schema_node_count(const struct migr_schema *schema);

/*
 * migr_schema_check: checks one node. value/vlen is the raw value (may hold any byte);
 * perms is xenstore's permission list as text ("n0,r5": letter n/r/w/b and a domid, the
 * first entry the owner), or NULL to skip the permission check. why (if given) receives a
 * one-line explanation for anything but MIGR_SCHEMA_OK. trust_r (if given) receives the
 * matched node's trust. Returns an enum migr_schema_result.
 */
int migr_schema_check(const struct migr_schema *schema, const char *path,
		      const char *value, size_t vlen, const char *perms,
		      char *why, size_t whylen, enum migr_schema_trust *trust_r);

/* migr_schema_check_value: migr_schema_check() without the permission check. */
int migr_schema_check_value(const struct migr_schema *schema, const char *path,
			    const char *value, size_t vlen);

/* migr_schema_result_name: "ok", "out-of-scope", "unknown-node", ... (never NULL). */
const char *migr_schema_result_name(int result);

/*
 * migr_json_check: 0 if buf/len is one well-formed JSON value (RFC 8259; nesting at most
 * max_depth), -EINVAL otherwise. Used for the `json` grammar.
 */
int migr_json_check(const char *buf, size_t len, unsigned max_depth);

/* One node of a xenstore listing. */
struct migr_xs_entry {
	char *path;
	char *value;      /* NUL-terminated; vlen bytes (may contain NUL); NULL if unreadable */
	size_t vlen;
	char *perms;      /* "n0,r5", or NULL when the listing had none */
	int truncated;    /* the listing cut the value ("\..." at its end) */
};

/*
 * migr_xs_dump_parse_line: parses one line (without its newline) of `xenstore-ls -f -p`
 * (or `-f` alone): `PATH = "VALUE"  (PERMS)` with xenstore's escapes (\t \n \r \\ \xNN
 * \NNN), or `PATH:  (PERMS)` for a node whose value could not be read. Returns 0 and fills
 * *entry_r (free with migr_xs_entry_clear()), or -EINVAL for a malformed line, or -ENOMEM.
 */
int migr_xs_dump_parse_line(const char *line, size_t len, struct migr_xs_entry *entry_r);

void migr_xs_entry_clear(struct migr_xs_entry *entry);

#endif /* MIGR_SCHEMA_H */

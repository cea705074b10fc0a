/*
 * conf.c: migrd's settings: the table, migrd.conf through libxlutil, the command line's
 * overrides, the checks before start and the listing of --check-config (conf.h).
 * man/migrd.conf.5 documents every key, man/migrd.8 every option.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <libxlutil.h>

#include "conf.h"

enum kind {
	NUM,      /* long, min..max */
	AUTO,     /* long, min..max, or "auto" (stored as 0) */
	FLAG,     /* long, 0 or 1; an option without argument */
	STR,      /* char *; NULL: not set */
	LIST,     /* struct migrd_list; the file takes a list or one string */
};

#define KEY   (1u << 0)  /* a key of migrd.conf */
#define OPT   (1u << 1)  /* an option of migrd's command line */
#define RULE  (1u << 2)  /* a rule for received guests (migr_target_rules_option()) */
#define ADDR  (1u << 3)  /* HOST[:PORT], or a comma-separated list of them */
#define EMPTY (1u << 4)  /* "" is a value (none) */
#define ETCD  (1u << 5)  /* etcd endpoints: [http[s]://]HOST:PORT, comma-separated */

struct setting {
	const char *name;           /* the long option; the key is this with '_' for '-' */
	enum kind kind;
	unsigned int flags;
	size_t off;                 /* its field in struct migrd_conf */
	long min, max;              /* NUM, AUTO; STR and list items: max = longest (0: 4095) */
	const char *none;           /* what 0, "" or no value means, for the listing */
	const char *section;        /* a heading in the listing, before this setting */
	const char *cli;            /* a key set by a short option: that option */
	const char *words;          /* STR: the value must be one of these ("a|b|c") */
};

#define F(field) offsetof(struct migrd_conf, field)
#define SET(n, k, fl, field, ...) { .name = (n), .kind = (k), .flags = (fl), .off = F(field), \
				    __VA_ARGS__ }
#define RANGE(lo, hi) .min = (lo), .max = (hi)
#define MIB_MAX (1l << 30)

static const struct setting settings[] = {
	SET("listen", STR, KEY | OPT | ADDR, listen, .section = "receiving migrations"),
	SET("psk", STR, KEY | OPT, psk),
	SET("cert", STR, KEY | OPT, cert),
	SET("key", STR, KEY | OPT, key),
	SET("ca", STR, KEY | OPT, ca),
	SET("psk-identity", STR, KEY, psk_identity, .max = 255, .none = "this host's name"),
	SET("insecure", FLAG, KEY | OPT, insecure, RANGE(0, 1)),
	SET("allow-peer", LIST, KEY | OPT, allow_peer, .none = "any peer that authenticates"),
	SET("record-dir", STR, KEY | OPT, record_dir),
	SET("src-record-dir", STR, KEY | OPT, src_record_dir),
	SET("metrics-file", STR, KEY | OPT | EMPTY, metrics_file, .none = "none"),
	SET("reserve-mib", NUM, KEY | OPT, reserve_mib, RANGE(0, MIB_MAX)),
	SET("timeout", NUM, KEY | OPT, timeout, RANGE(0, 86400), .none = "no limit"),
	SET("no-cleanup", FLAG, KEY | OPT, no_cleanup, RANGE(0, 1)),
	SET("max-incoming", NUM, KEY | OPT, max_incoming, RANGE(1, 64)),
	SET("handshake-timeout", NUM, KEY | OPT, handshake_timeout, RANGE(1, 300)),
	SET("max-per-address", NUM, KEY | OPT, max_per_address, RANGE(1, 64)),
	SET("stock-hotplug", FLAG, KEY | OPT, stock_hotplug, RANGE(0, 1)),
	SET("late-devices", FLAG, KEY | OPT, late_devices, RANGE(0, 1)),
	SET("no-forward", FLAG, KEY | OPT, no_forward, RANGE(0, 1)),
	SET("forward-quiet-ms", NUM, KEY | OPT, forward_quiet_ms, RANGE(0, 3600000),
	    .none = "2000"),
	SET("forward-max-ms", NUM, KEY | OPT, forward_max_ms, RANGE(0, 3600000), .none = "60000"),
	SET("on-switchover", STR, KEY | OPT | EMPTY, on_switchover, .none = "none"),
	SET("switchover-hook-dir", STR, KEY | OPT | EMPTY, switchover_hook_dir, .none = "none"),
	SET("verbose", NUM, KEY, verbose, RANGE(0, 3), .cli = "-v"),
	SET("once", FLAG, OPT, once, RANGE(0, 1)),
	SET("port-file", STR, OPT, port_file),

	SET("allow-bridge", LIST, KEY | OPT | RULE, allow_bridge, .none = "xenbr0 only",
	    .section = "what a received guest may use here"),
	SET("storage", LIST, KEY | OPT | RULE, storage, .none = "no disk"),
	SET("storage-map", LIST, KEY | OPT | RULE, storage_map),
	SET("boot-dir", LIST, KEY | OPT | RULE, boot_dir),
	SET("scripts-dir", STR, KEY | OPT | RULE, scripts_dir),
	SET("allow", LIST, KEY | OPT | RULE, allow),

	SET("targets", LIST, KEY | ADDR, targets, .none = "each request names its own",
	    .section = "evacuating this host"),
	SET("host", STR, KEY, host, .max = 255),
	SET("notice", NUM, KEY, notice, RANGE(0, 86400)),
	SET("defer-max", NUM, KEY, defer_max, RANGE(0, 3600)),
	SET("parallel", AUTO, KEY, parallel, RANGE(1, 64)),
	SET("group-cap", NUM, KEY, group_cap, RANGE(0, 64), .none = "no cap"),
	SET("retries", NUM, KEY, retries, RANGE(1, 20)),
	SET("retry-delay-ms", NUM, KEY, retry_delay_ms, RANGE(0, 600000)),
	SET("downtime", NUM, KEY, downtime, RANGE(0, 600000), .none = "the engine's, 300 ms"),
	SET("throttle", NUM, KEY, throttle, RANGE(0, 99), .none = "never"),
	SET("compress", STR, KEY, compress, .words = "auto|on|off", .none = "auto"),
	SET("cpu-share", AUTO, KEY, cpu_share, RANGE(1, 100)),
	SET("threshold", NUM, KEY, threshold, RANGE(1, 100)),
	SET("target-reserve-mib", NUM, KEY, target_reserve_mib, RANGE(0, MIB_MAX)),
	SET("link-mbit", NUM, KEY, link_mbit, RANGE(0, 1000000),
	    .none = "unknown: 1 Gbit/s assumed"),
	SET("event-log", STR, KEY | EMPTY, event_log, .none = "none"),
	SET("report-dir", STR, KEY | OPT, report_dir),
	SET("control", STR, KEY, control, .max = 107),

	SET("etcd", STR, KEY | OPT | ETCD | EMPTY, etcd, .none = "none: no fleet state",
	    .section = "the fleet's state in etcd"),
	SET("etcd-ca", STR, KEY, etcd_ca, .none = "plain HTTP to etcd, unless an endpoint says https"),
	SET("etcd-cert", STR, KEY, etcd_cert),
	SET("etcd-key", STR, KEY, etcd_key),
	SET("etcd-ttl", NUM, KEY, etcd_ttl, RANGE(2, 3600)),
	SET("failure-domain", STR, KEY, failure_domain, .none = "none"),
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))
_Static_assert(N_SETTINGS <= MIGRD_SETTINGS_MAX, "MIGRD_SETTINGS_MAX is too small");

#define ORIGIN_OPTION (-1)

static long *num_of(struct migrd_conf *c, const struct setting *s)
{
	return (long *)((char *)c + s->off);
}

static char **str_of(struct migrd_conf *c, const struct setting *s)
{
	return (char **)((char *)c + s->off);
}

static struct migrd_list *list_of(struct migrd_conf *c, const struct setting *s)
{
	return (struct migrd_list *)((char *)c + s->off);
}

/* The same, read-only (the listing). */
#define CNUM(c, s)  (*num_of((struct migrd_conf *)(c), (s)))
#define CSTR(c, s)  (*str_of((struct migrd_conf *)(c), (s)))
#define CLIST(c, s) (list_of((struct migrd_conf *)(c), (s)))

static void key_of(const struct setting *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s->name[i] && i + 1 < len; i++)
		buf[i] = s->name[i] == '-' ? '_' : s->name[i];
	buf[i] = '\0';
}

static const struct setting *by_key(const char *key)
{
	for (unsigned int i = 0; i < N_SETTINGS; i++) {
		const char *n = settings[i].name, *k = key;

		while (*n && (*n == *k || (*n == '-' && *k == '_'))) {
			n++;
			k++;
		}
		if (!*n && !*k)
			return &settings[i];
	}
	return NULL;
}

static const struct setting *by_name(const char *name)
{
	for (unsigned int i = 0; i < N_SETTINGS; i++)
		if (!strcmp(settings[i].name, name))
			return &settings[i];
	return NULL;
}

static unsigned int index_of(const struct setting *s)
{
	return (unsigned int)(s - settings);
}

/* ---- messages ------------------------------------------------------------------------ */

static void vsay(struct migrd_conf *c, const char *warning, const struct setting *s,
		 int line, const char *fmt, va_list ap)
{
	char key[64];

	fprintf(c->errf, "migrd: %s", warning);
	if (s) {
		int origin = line ? line : c->origin[index_of(s)];

		key_of(s, key, sizeof(key));
		if (origin == ORIGIN_OPTION && s->cli)
			fprintf(c->errf, "%s: ", s->cli);
		else if (origin == ORIGIN_OPTION)
			fprintf(c->errf, "--%s: ", s->name);
		else if (origin > 0)
			fprintf(c->errf, "%s:%d: %s: ", c->path, origin, key);
		else
			fprintf(c->errf, "%s (default): ", key);
	} else if (line) {
		fprintf(c->errf, "%s:%d: ", c->path, line);
	}
	vfprintf(c->errf, fmt, ap);
	fputc('\n', c->errf);
}

/* An error about setting s (its origin names the file's line or the option), or, with s
 * NULL, about the file's line. */
static void fail(struct migrd_conf *c, const struct setting *s, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(struct migrd_conf *c, const struct setting *s, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(c, "", s, line, fmt, ap);
	va_end(ap);
	c->errors++;
}

static void warn(struct migrd_conf *c, const struct setting *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void warn(struct migrd_conf *c, const struct setting *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(c, "warning: ", s, 0, fmt, ap);
	va_end(ap);
	c->warnings++;
}

/* ---- values -------------------------------------------------------------------------- */

static void list_clear(struct migrd_list *l)
{
	for (unsigned int i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int list_push(struct migrd_list *l, const char *item)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->v = v;
	if (!(v[l->n] = strdup(item)))
		return -ENOMEM;
	l->n++;
	return 0;
}

static int set_str(char **dst, const char *v)
{
	char *d = v ? strdup(v) : NULL;

	if (v && !d)
		return -ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

/* Each comma-separated part of v: HOST[:PORT], with a host (targets) or without (listen). */
static bool addrs_ok(struct migrd_conf *c, const struct setting *s, int line, const char *v)
{
	char err[MIGR_ERR_MAX], part[512];
	const char *p, *e;
	bool host = s->kind == LIST, ok = true;

	for (p = v; ; p = e + 1) {
		e = strchrnul(p, ',');
		snprintf(part, sizeof(part), "%.*s", (int)(e - p), p);
		if (migr_hostport_check(part, err, sizeof(err))) {
			fail(c, s, line, "%s", err);
			ok = false;
		} else if (host && (!part[0] || part[0] == ':')) {
			fail(c, s, line, "\"%s\" names no host", part);
			ok = false;
		}
		if (!*e || !host)
			return ok;
	}
}

/* A string value or list item: its length, "" only where it means none, and what the
 * setting's flags ask (the rules' own parser for a rule, the address parser). */
static bool str_ok(struct migrd_conf *c, const struct setting *s, int line, const char *v)
{
	size_t max = s->max ? (size_t)s->max : 4095;
	struct migr_target_rules scratch;
	char err[MIGR_ERR_MAX];
	int rc;

	if (!v[0] && !(s->flags & EMPTY)) {
		fail(c, s, line, "empty");
		return false;
	}
	if (strlen(v) > max) {
		fail(c, s, line, "longer than %zu characters", max);
		return false;
	}
	if ((s->flags & ADDR) && !addrs_ok(c, s, line, v))
		return false;
	if (s->words) {
		const char *w = s->words, *e;
		size_t n = strlen(v);

		for (; (e = strchrnul(w, '|')); w = e + 1) {
			if ((size_t)(e - w) == n && !strncmp(w, v, n))
				break;
			if (!*e) {
				fail(c, s, line, "\"%s\" is not one of %s", v, s->words);
				return false;
			}
		}
	}
	if ((s->flags & ETCD) && v[0] && migr_etcd_endpoints_check(v, err, sizeof(err))) {
		fail(c, s, line, "%s", err);
		return false;
	}
	if (s->flags & RULE) {
		migr_target_rules_init(&scratch);
		rc = migr_target_rules_option(&scratch, s->name, v, err, sizeof(err));
		migr_target_rules_dispose(&scratch);
		if (rc) {
			fail(c, s, line, "%s", rc == -ENOMEM ? "out of memory" : err);
			return false;
		}
	}
	return true;
}

static bool num_ok(struct migrd_conf *c, const struct setting *s, int line, long v)
{
	if (v < s->min || v > s->max) {
		if (s->kind == AUTO)
			fail(c, s, line, "%ld is not auto or a number from %ld to %ld", v, s->min,
			     s->max);
		else if (s->kind == FLAG)
			fail(c, s, line, "%ld is not 0 or 1", v);
		else
			fail(c, s, line, "%ld is out of range (%ld to %ld)", v, s->min, s->max);
		return false;
	}
	return true;
}

/* A command-line argument as a number: decimal digits only. */
static bool parse_dec(const char *v, long *out)
{
	char *end;

	if (!isdigit((unsigned char)v[0]))
		return false;
	errno = 0;
	*out = strtol(v, &end, 10);
	return !errno && !*end;
}

int migrd_conf_option(struct migrd_conf *c, const char *name, const char *arg)
{
	const struct setting *s = by_name(name);
	unsigned int i;
	long n;

	if (!s)
		return -ENOENT;
	i = index_of(s);
	/* The first option for a setting replaces what the file (or the default) gave. */
	if (c->origin[i] != ORIGIN_OPTION && s->kind == LIST)
		list_clear(list_of(c, s));
	c->origin[i] = ORIGIN_OPTION;
	switch (s->kind) {
	case FLAG:
		*num_of(c, s) = 1;
		return 0;
	case NUM:
	case AUTO:
		if (s->kind == AUTO && !strcmp(arg, "auto")) {
			*num_of(c, s) = 0;
			return 0;
		}
		if (!parse_dec(arg, &n)) {
			fail(c, s, 0, "\"%s\" is not a number%s", arg,
			     s->kind == AUTO ? " or auto" : "");
			return -EINVAL;
		}
		if (!num_ok(c, s, 0, n))
			return -EINVAL;
		*num_of(c, s) = n;
		return 0;
	case STR:
		if (!str_ok(c, s, 0, arg))
			return -EINVAL;
		return set_str(str_of(c, s), arg);
	case LIST:
		if (!str_ok(c, s, 0, arg))
			return -EINVAL;
		return list_push(list_of(c, s), arg);
	}
	return -EINVAL;
}

/* ---- the file ------------------------------------------------------------------------ */

struct seen {
	char key[64];
	int line;
	bool add;                       /* KEY += VALUE */
};

static bool ident_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/*
 * The file's keys and their lines. libxlutil has no call that lists a file's settings, so
 * the text it has just accepted is walked once more: outside strings, comments and
 * brackets, a statement starts at the beginning, after a newline or after a ';', with its
 * key, then '=' or '+='.
 */
static int scan(const char *s, size_t len, struct seen **seen_r, unsigned int *n_r)
{
	struct seen *seen = NULL, *more;
	unsigned int n = 0, depth = 0;
	int line = 1;
	bool start = true;

	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '\n') {
			line++;
			start = start || !depth;
		} else if (ch == '#') {
			while (i + 1 < len && s[i + 1] != '\n')
				i++;
		} else if (ch == '"' || ch == '\'') {
			for (i++; i < len && s[i] != ch && s[i] != '\n'; i++)
				if (s[i] == '\\')
					i++;
			start = false;
		} else if (ch == '[') {
			depth++;
		} else if (ch == ']') {
			depth -= depth > 0;
		} else if (ch == ';' && !depth) {
			start = true;
		} else if (start && ch >= 'a' && ch <= 'z') {
			size_t b = i;

			while (i + 1 < len && ident_char(s[i + 1]))
				i++;
			more = realloc(seen, (n + 1) * sizeof(*seen));
			if (!more) {
				free(seen);
				return -ENOMEM;
			}
			seen = more;
			snprintf(seen[n].key, sizeof(seen[n].key), "%.*s", (int)(i + 1 - b), s + b);
			seen[n].line = line;
			while (i + 1 < len && (s[i + 1] == ' ' || s[i + 1] == '\t'))
				i++;
			seen[n].add = i + 1 < len && s[i + 1] == '+';
			n++;
			start = false;
		} else if (ch != ' ' && ch != '\t') {
			start = false;
		}
	}
	*seen_r = seen;
	*n_r = n;
	return 0;
}

/* libxlutil's report of a file it refused: its lines (file:line: what), without the
 * hint about Python (meant for xl's guest files), then ours. */
static void forward_report(struct migrd_conf *c, const char *rep, const char *path)
{
	const char *p = rep, *e;

	for (; p && *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, '\n');
		if (e == p || (!strncmp(p, "warning:", 8) && memmem(p, (size_t)(e - p), "Python", 6)))
			continue;
		fprintf(c->errf, "migrd: %.*s\n", (int)(e - p), p);
	}
	fprintf(c->errf, "migrd: %s: migrd.conf is in xl.cfg's syntax: key = \"string\", "
		"key = 123, key = [ \"a\", \"b\" ], keys spelt with '_' (migrd.conf(5))\n", path);
}

/* One key's value from libxlutil, by the setting's kind; line: its (last) line. */
static int take(struct migrd_conf *c, const XLU_Config *cfg, const struct setting *s,
		const char *key, int line)
{
	XLU_ConfigList *list;
	const char *v;
	long n;
	int rc, items;

	c->origin[index_of(s)] = line;
	switch (s->kind) {
	case NUM:
	case AUTO:
	case FLAG:
		rc = xlu_cfg_get_long(cfg, key, &n, 1);
		if (rc == EINVAL && s->kind == AUTO &&
		    !xlu_cfg_get_string(cfg, key, &v, 1) && !strcmp(v, "auto")) {
			*num_of(c, s) = 0;
			return 0;
		}
		if (rc == ERANGE) {
			fail(c, s, line, "out of range (%ld to %ld)", s->min, s->max);
			return -EINVAL;
		}
		if (rc) {
			fail(c, s, line, "expected %s", s->kind == FLAG ? "0 or 1" :
			     s->kind == AUTO ? "a number or \"auto\"" : "a number");
			return -EINVAL;
		}
		if (!num_ok(c, s, line, n))
			return -EINVAL;
		*num_of(c, s) = n;
		return 0;
	case STR:
		if (xlu_cfg_get_string(cfg, key, &v, 1)) {
			fail(c, s, line, "expected a string (\"...\"), not a list");
			return -EINVAL;
		}
		if (!str_ok(c, s, line, v))
			return -EINVAL;
		return set_str(str_of(c, s), v);
	case LIST:
		list_clear(list_of(c, s));
		if (!xlu_cfg_get_string(cfg, key, &v, 1))
			return str_ok(c, s, line, v) ? list_push(list_of(c, s), v) : -EINVAL;
		if (xlu_cfg_get_list(cfg, key, &list, &items, 1)) {
			fail(c, s, line, "expected a list of strings or a string");
			return -EINVAL;
		}
		for (int i = 0; i < items; i++) {
			v = xlu_cfg_get_listitem(list, i);
			if (!v) {
				fail(c, s, line, "item %d is a list, not a string", i + 1);
				return -EINVAL;
			}
			if (!str_ok(c, s, line, v))
				return -EINVAL;
			if ((rc = list_push(list_of(c, s), v)))
				return rc;
		}
		return 0;
	}
	return -EINVAL;
}

/* The whole file, at most 1 MiB. */
static int read_all(FILE *f, char **data_r, size_t *len_r)
{
	size_t cap = 0, len = 0, got;
	char *data = NULL, *more;
	int rc = -EIO;

	do {
		if (len == cap) {
			rc = -EFBIG;
			if (cap >= (1u << 20))
				goto out_free;
			cap = cap ? 2 * cap : 4096;
			rc = -ENOMEM;
			if (!(more = realloc(data, cap)))
				goto out_free;
			data = more;
		}
		got = fread(data + len, 1, cap - len, f);
		len += got;
	} while (got);
	rc = -EIO;
	if (ferror(f))
		goto out_free;
	*data_r = data;
	*len_r = len;
	return 0;
out_free:
	free(data);
	return rc;
}

int migrd_conf_read(struct migrd_conf *c, const char *path, bool must_exist)
{
	unsigned int errors = c->errors, n_seen = 0;
	struct seen *seen = NULL;
	XLU_Config *cfg = NULL;
	FILE *f = NULL, *rep = NULL;
	char *data = NULL, *repbuf = NULL;
	size_t len = 0, replen = 0;
	int rc;

	f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		if (rc == -ENOENT && !must_exist)
			return 0;            /* every default */
		fprintf(c->errf, "migrd: %s: %s\n", path, strerror(-rc));
		c->errors++;
		return rc;
	}
	rc = read_all(f, &data, &len);
	fclose(f);
	if (rc || !(c->path = strdup(path))) {
		fprintf(c->errf, "migrd: %s: %s\n", path, rc == -EFBIG ? "larger than 1 MiB" :
			strerror(rc ? -rc : ENOMEM));
		c->errors++;
		goto out;
	}
	rep = open_memstream(&repbuf, &replen);
	if (!rep || !(cfg = xlu_cfg_init(rep, path))) {
		rc = -ENOMEM;
		goto out;
	}
	if (xlu_cfg_readdata(cfg, data, (int)len)) {
		fflush(rep);
		forward_report(c, repbuf, path);
		c->errors++;
		goto out;
	}
	if ((rc = scan(data, len, &seen, &n_seen)))
		goto out;
	for (unsigned int i = 0; i < n_seen; i++) {
		const struct setting *s = by_key(seen[i].key);
		int first = 0;

		if (!s || !(s->flags & KEY)) {
			if (s)
				fail(c, NULL, seen[i].line, "%s: a command-line option only (--%s)",
				     seen[i].key, s->name);
			else
				fail(c, NULL, seen[i].line, "unknown key '%s'", seen[i].key);
			continue;
		}
		for (unsigned int j = 0; j < i && !first; j++)
			if (!strcmp(seen[j].key, seen[i].key))
				first = seen[j].line;
		if (seen[i].add && s->kind != LIST)
			fail(c, NULL, seen[i].line, "%s: += adds to a list; %s is not one",
			     seen[i].key, seen[i].key);
		else if (first && !seen[i].add)
			fail(c, NULL, seen[i].line, "%s: given again (first at line %d); add to a "
			     "list with +=", seen[i].key, first);
		else if (!first && (rc = take(c, cfg, s, seen[i].key, seen[i].line)) == -ENOMEM)
			goto out;   /* the value libxlutil holds, += included: at the first line */
	}
	rc = 0;
out:
	if (rc == -ENOMEM) {
		fprintf(c->errf, "migrd: %s: out of memory\n", path);
		c->errors++;
	}
	if (cfg)
		xlu_cfg_destroy(cfg);
	if (rep)
		fclose(rep);
	free(repbuf);
	free(seen);
	free(data);
	return c->errors > errors ? (rc ? rc : -EINVAL) : 0;
}

/* ---- defaults, checks ---------------------------------------------------------------- */

int migrd_conf_init(struct migrd_conf *c, FILE *errf)
{
	const char *ctl = getenv("MIGR_CONTROL_SOCKET");
	char host[256] = "", listen[16];

	memset(c, 0, sizeof(*c));
	c->errf = errf;
	migr_target_rules_init(&c->rules);
	c->timeout = 300;
	c->max_incoming = 4;
	c->handshake_timeout = 5;
	c->max_per_address = 2;
	c->notice = 60;                  /* as Compute Engine's maintenance-event */
	c->defer_max = 30;
	c->group_cap = 1;
	c->retries = 3;
	c->retry_delay_ms = 2000;
	c->threshold = 90;
	c->etcd_ttl = 10;
	gethostname(host, sizeof(host) - 1);
	snprintf(listen, sizeof(listen), ":%d", MIGR_DEFAULT_PORT);
	if (set_str(&c->listen, listen) ||
	    set_str(&c->record_dir, MIGR_STATE_DIR) ||
	    set_str(&c->src_record_dir, MIGR_SRC_STATE_DIR) ||
	    set_str(&c->scripts_dir, MIGR_DEFAULT_SCRIPTS_DIR) ||
	    set_str(&c->host, host[0] ? host : "localhost") ||
	    set_str(&c->event_log, MIGR_EVENT_LOG) ||
	    set_str(&c->report_dir, MIGR_REPORT_DIR) ||
	    set_str(&c->metrics_file, MIGR_METRICS_FILE) ||
	    set_str(&c->switchover_hook_dir, MIGRD_SWITCHOVER_DIR) ||
	    set_str(&c->control, ctl && ctl[0] ? ctl : MIGR_CONTROL_SOCKET))
		return -ENOMEM;
	return 0;
}

char *migrd_conf_join(const struct migrd_list *l)
{
	size_t len = 1;
	char *s;

	for (unsigned int i = 0; i < l->n; i++)
		len += strlen(l->v[i]) + 1;
	if (!(s = calloc(1, len)))
		return NULL;
	for (unsigned int i = 0; i < l->n; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, l->v[i]);
	}
	return s;
}

/* The credentials as migrd uses them when none is given: /etc/migr/psk.key if it can be
 * read, else the certificates in /etc/migr/tls/. */
static int default_credentials(struct migrd_conf *c)
{
	if (c->insecure || c->psk || c->cert || c->key || c->ca)
		return 0;
	if (access(MIGR_PSK_FILE, R_OK) == 0)
		return set_str(&c->psk, MIGR_PSK_FILE);
	return set_str(&c->ca, MIGR_TLS_DIR "/ca.pem") ?:
	       set_str(&c->cert, MIGR_TLS_DIR "/cert.pem") ?:
	       set_str(&c->key, MIGR_TLS_DIR "/key.pem");
}

/* etcd's credentials: readable files, a certificate with its key; a key file readable
 * by its owner only; the host's name usable as a key. */
static void check_etcd(struct migrd_conf *c)
{
	static const char *const files[] = { "etcd-ca", "etcd-cert", "etcd-key" };
	const struct setting *s;
	bool on = c->etcd && c->etcd[0];
	struct stat st;

	for (unsigned int i = 0; i < 3; i++) {
		const char *f = *str_of(c, s = by_name(files[i]));

		if (!f)
			continue;
		if (!on)
			warn(c, s, "no etcd endpoints given: not used");
		else if (access(f, R_OK))
			fail(c, s, 0, "%s: %s", f, strerror(errno));
		else if (i == 2 && !stat(f, &st) && (st.st_mode & 077))
			fail(c, s, 0, "%s: mode %03o: a key file must be readable by its owner only "
			     "(chmod 600)", f, st.st_mode & 0777);
	}
	if (on && !c->etcd_cert != !c->etcd_key)
		fail(c, by_name(c->etcd_cert ? "etcd-cert" : "etcd-key"), 0,
		     "etcd_cert and etcd_key go together");
	if (on && !migr_etcd_name_ok(c->host))
		fail(c, by_name("host"), 0, "\"%s\" cannot name this host in etcd (letters, digits, "
		     "'.', '_', '-')", c->host);
	if (c->failure_domain && c->failure_domain[0] &&
	    (!migr_etcd_name_ok(c->failure_domain) || strlen(c->failure_domain) > 63))
		fail(c, by_name("failure-domain"), 0, "\"%s\" is not a failure domain's name (1..63 "
		     "of letters, digits, '.', '_', '-')", c->failure_domain);
	else if (!on && c->failure_domain && c->failure_domain[0])
		warn(c, by_name("failure-domain"), "no etcd endpoints given: not used");
}

int migrd_conf_check(struct migrd_conf *c)
{
	unsigned int errors = c->errors;
	struct migr_transport_opts t;
	char err[MIGR_ERR_MAX];
	int rc;

	migr_target_rules_dispose(&c->rules);
	migr_target_rules_init(&c->rules);
	for (unsigned int k = 0; k < N_SETTINGS; k++) {
		const struct setting *s = &settings[k];
		struct migrd_list one = { NULL, 0 }, *l = &one;
		char *v;

		if (s->kind == LIST)
			l = list_of(c, s);
		else if (s->kind == STR && (v = *str_of(c, s)))
			one = (struct migrd_list){ &v, 1 };
		for (unsigned int i = 0; i < l->n && (s->flags & RULE); i++) {
			rc = migr_target_rules_option(&c->rules, s->name, l->v[i], err, sizeof(err));
			if (rc == -ENOMEM)
				goto out_nomem;
			if (rc)
				fail(c, s, 0, "%s", err);
		}
	}
	free(c->allow_peers);
	if (!(c->allow_peers = migrd_conf_join(&c->allow_peer)) || default_credentials(c))
		goto out_nomem;
	migrd_conf_transport(c, &t);
	/* What migr_listen() will load, then what migrd's own connections present. */
	if ((rc = migr_transport_check(&t, true, err, sizeof(err)))) {
		static const char *const creds[] = { "psk", "cert", "key", "ca" };
		const struct setting *s = NULL;

		if (rc == -ENOMEM)
			goto out_nomem;
		for (unsigned int i = 0; i < 4 && !s; i++)
			if (c->origin[index_of(by_name(creds[i]))])
				s = by_name(creds[i]);
		if (s)
			fail(c, s, 0, "credentials: %s", err);
		else
			fail(c, NULL, 0, "credentials: none given%s: %s (give psk, or cert, key "
			     "and ca, or insecure)", c->psk ? "" : ", and " MIGR_PSK_FILE " cannot "
			     "be read, so the certificates in " MIGR_TLS_DIR, err);
	} else if (migr_transport_check(&t, false, err, sizeof(err))) {
		warn(c, NULL, "evacuations from this host cannot authenticate to their "
		     "targets: %s", err);
	}
	check_etcd(c);
	return c->errors > errors ? -EINVAL : 0;
out_nomem:
	fprintf(c->errf, "migrd: out of memory\n");
	c->errors++;
	return -ENOMEM;
}

void migrd_conf_transport(const struct migrd_conf *c, struct migr_transport_opts *t)
{
	migr_transport_opts_init(t);
	t->psk_file = c->psk;
	t->cert_file = c->cert;
	t->key_file = c->key;
	t->ca_file = c->ca;
	t->psk_identity = c->psk_identity;
	t->insecure = c->insecure;
	t->allow_peers = c->allow_peers && c->allow_peers[0] ? c->allow_peers : NULL;
	t->io_timeout_ms = (unsigned int)c->timeout * 1000;
}

/* ---- the listing --------------------------------------------------------------------- */

static void print_quoted(FILE *f, const char *v)
{
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', f);
		fputc(*v, f);
	}
	fputc('"', f);
}

void migrd_conf_print(const struct migrd_conf *c, FILE *f)
{
	fprintf(f, "# migrd's settings: the defaults, %s%s, then the command line\n",
		c->path ? c->path : "no file", c->path ? "" : " read");
	for (unsigned int k = 0; k < N_SETTINGS; k++) {
		const struct setting *s = &settings[k];
		int origin = c->origin[k];
		bool empty = false;
		char key[64], *line = NULL;
		size_t len = 0;
		FILE *m;

		if (s->section)
			fprintf(f, "\n# %s\n", s->section);
		if (!(s->flags & KEY)) {
			if (origin == ORIGIN_OPTION)
				fprintf(f, "# --%s%s%s (a command-line option only)\n", s->name,
					s->kind == STR ? " " : "", s->kind == STR ? CSTR(c, s) : "");
			continue;
		}
		key_of(s, key, sizeof(key));
		if (!(m = open_memstream(&line, &len)))
			continue;
		switch (s->kind) {
		case NUM:
		case FLAG:
			fprintf(m, "%s = %ld", key, CNUM(c, s));
			empty = !CNUM(c, s);
			break;
		case AUTO:
			if (CNUM(c, s))
				fprintf(m, "%s = %ld", key, CNUM(c, s));
			else
				fprintf(m, "%s = \"auto\"", key);
			break;
		case STR:
			if (CSTR(c, s)) {
				fprintf(m, "%s = ", key);
				print_quoted(m, CSTR(c, s));
				empty = !CSTR(c, s)[0];
			} else {
				fprintf(m, "#%s", key);
				empty = true;
			}
			break;
		case LIST:
			fprintf(m, "%s = [", key);
			for (unsigned int i = 0; i < CLIST(c, s)->n; i++) {
				fprintf(m, "%s ", i ? "," : "");
				print_quoted(m, CLIST(c, s)->v[i]);
			}
			fprintf(m, " ]");
			empty = !CLIST(c, s)->n;
			break;
		}
		fclose(m);
		fprintf(f, "%-40s # ", line ? line : key);
		free(line);
		if (origin == ORIGIN_OPTION && s->cli)
			fprintf(f, "%s", s->cli);
		else if (origin == ORIGIN_OPTION)
			fprintf(f, "--%s", s->name);
		else if (origin > 0)
			fprintf(f, "%s:%d", c->path, origin);
		else if (s->kind == STR && !CSTR(c, s))
			fprintf(f, "not set");
		else
			fprintf(f, "default");
		if (empty && s->none)
			fprintf(f, " (%s)", s->none);
		fputc('\n', f);
	}
}

int migrd_conf_origin(const struct migrd_conf *c, const char *name)
{
	const struct setting *s = by_name(name);

	return s ? c->origin[index_of(s)] : -ENOENT;
}

unsigned int migrd_conf_options(struct option *o, unsigned int max, int code)
{
	unsigned int n = 0;

	for (unsigned int k = 0; k < N_SETTINGS && n < max; k++)
		if (settings[k].flags & OPT)
			o[n++] = (struct option){ settings[k].name,
				settings[k].kind == FLAG ? no_argument : required_argument, NULL, code };
	return n;
}

void migrd_conf_dispose(struct migrd_conf *c)
{
	if (!c)
		return;
	for (unsigned int k = 0; k < N_SETTINGS; k++) {
		if (settings[k].kind == STR) {
			free(*str_of(c, &settings[k]));
			*str_of(c, &settings[k]) = NULL;
		} else if (settings[k].kind == LIST) {
			list_clear(list_of(c, &settings[k]));
		}
	}
	free(c->allow_peers);
	c->allow_peers = NULL;
	free(c->path);
	c->path = NULL;
	migr_target_rules_dispose(&c->rules);
}

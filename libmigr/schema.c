/*
 * schema.c: parses migr's xenstore schema (xenstore-schema/migr.schema; its format is in
 * xenstore-schema/README.md) and checks (path, value, perms) tuples against it.
 *
 * Entry points: migr_schema_parse(), migr_schema_load_builtin(), migr_schema_check(),
 * migr_schema_check_value(), migr_json_check(). Everything checked here may come from a
 * guest: lengths are capped before anything is copied, numbers are parsed without strtol's
 * leniency (no sign games, no leading zeros, no overflow), and nothing recurses on input
 * depth except the JSON checker, whose depth is capped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"

#define MAX_SEGS      64
#define MAX_ENUM      32
#define MAX_WORD      128
#define DOMID_MAX     32751   /* DOMID_FIRST_RESERVED - 1 */
#define JSON_DEPTH    16

enum seg_kind { SEG_LIT, SEG_DOMID, SEG_NAME };

struct seg {
	enum seg_kind kind;
	char *lit;          /* SEG_LIT only */
};

struct pattern {
	unsigned nsegs;
	struct seg segs[MAX_SEGS];
};

enum grammar { G_EMPTY, G_ENUM, G_INT, G_TOKEN, G_HOST, G_TEXT, G_LIST, G_JSON };

struct perm_pat {
	char letter;        /* n r w b */
	int is_domid;       /* id is the $DOMID the path matched */
	unsigned id;
};

struct node {
	struct pattern path;
	enum grammar grammar;
	int opt_empty;      /* "opt": the empty value is also accepted */
	long long min, max; /* G_INT */
	size_t maxlen;      /* G_TOKEN, G_HOST, G_TEXT, G_LIST, G_JSON */
	unsigned nenum;
	char *alts[MAX_ENUM];
	int perms_any;      /* "perms -": not checked */
	unsigned nperms;
	struct perm_pat perms[MIGR_SCHEMA_MAX_PERMS];
	enum migr_schema_trust trust;
	unsigned line;
	unsigned seen;      /* bit set of fields given */
};

struct migr_schema {
	unsigned nscopes;
	struct pattern scopes[16];
	unsigned nnodes;
	struct node *nodes;
};

/* ---- small helpers ------------------------------------------------------------------- */

static void say(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Strict unsigned decimal: no sign, no leading zeros, no overflow past max. */
static int parse_udec(const char *s, size_t n, unsigned long long max,
		      unsigned long long *v_r)
{
	unsigned long long v = 0;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		d = s[i] - '0';
		if (v > (max - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*v_r = v;
	return 0;
}

/* Strict signed decimal in [LLONG_MIN+1, LLONG_MAX]; "-0" is refused. */
static int parse_sdec(const char *s, size_t n, long long *v_r)
{
	unsigned long long u;
	int neg = 0, rc;

	if (n && s[0] == '-') {
		neg = 1;
		s++;
		n--;
	}
	rc = parse_udec(s, n, (unsigned long long)INT64_MAX, &u);
	if (rc)
		return rc;
	if (neg && u == 0)
		return -EINVAL;
	*v_r = neg ? -(long long)u : (long long)u;
	return 0;
}

static int is_token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == ':' || c == '@' || c == '+';
}

static int is_host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == ':' || c == '[' || c == ']';
}

/* A path segment a $NAME (or $KEY, $HOST) variable matches: a token of 1..64 chars. */
static int is_name_seg(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_token_char(s[i]))
			return 0;
	return 1;
}

/* ---- JSON well-formedness (RFC 8259) ------------------------------------------------ */

struct jcur {
	const char *p, *end;
};

static void jws(struct jcur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int jhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int jstring(struct jcur *c)
{
	if (c->p >= c->end || *c->p != '"')
		return -EINVAL;
	c->p++;
	while (c->p < c->end) {
		unsigned char ch = *c->p++;

		if (ch == '"')
			return 0;
		if (ch < 0x20)
			return -EINVAL;
		if (ch == '\\') {
			if (c->p >= c->end)
				return -EINVAL;
			ch = *c->p++;
			if (ch == 'u') {
				if (c->end - c->p < 4)
					return -EINVAL;
				for (int i = 0; i < 4; i++)
					if (!jhex(c->p[i]))
						return -EINVAL;
				c->p += 4;
			} else if (!strchr("\"\\/bfnrt", ch) || !ch) {
				return -EINVAL;
			}
		}
		/* Bytes >= 0x80 are let through as they are: UTF-8 is not checked here. */
	}
	return -EINVAL;
}

static int jnumber(struct jcur *c)
{
	const char *s = c->p;

	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p >= c->end)
		return -EINVAL;
	if (*c->p == '0') {
		c->p++;
	} else if (*c->p >= '1' && *c->p <= '9') {
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	} else {
		return -EINVAL;
	}
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (c->p >= c->end || *c->p < '0' || *c->p > '9')
			return -EINVAL;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (c->p >= c->end || *c->p < '0' || *c->p > '9')
			return -EINVAL;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
	return c->p > s ? 0 : -EINVAL;
}

static int jlit(struct jcur *c, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n))
		return -EINVAL;
	c->p += n;
	return 0;
}

static int jvalue(struct jcur *c, unsigned depth)
{
	jws(c);
	if (c->p >= c->end)
		return -EINVAL;
	switch (*c->p) {
	case '"':
		return jstring(c);
	case 't':
		return jlit(c, "true");
	case 'f':
		return jlit(c, "false");
	case 'n':
		return jlit(c, "null");
	case '[':
	case '{': {
		char close = *c->p == '[' ? ']' : '}';
		int obj = close == '}';

		if (depth == 0)
			return -EINVAL;
		c->p++;
		jws(c);
		if (c->p < c->end && *c->p == close) {
			c->p++;
			return 0;
		}
		for (;;) {
			if (obj) {
				jws(c);
				if (jstring(c))
					return -EINVAL;
				jws(c);
				if (c->p >= c->end || *c->p != ':')
					return -EINVAL;
				c->p++;
			}
			if (jvalue(c, depth - 1))
				return -EINVAL;
			jws(c);
			if (c->p >= c->end)
				return -EINVAL;
			if (*c->p == close) {
				c->p++;
				return 0;
			}
			if (*c->p != ',')
				return -EINVAL;
			c->p++;
		}
	}
	default:
		return jnumber(c);
	}
}

int migr_json_check(const char *buf, size_t len, unsigned max_depth)
{
	struct jcur c = { buf, buf + len };

	if (!buf || jvalue(&c, max_depth))
		return -EINVAL;
	jws(&c);
	return c.p == c.end ? 0 : -EINVAL;
}

/* ---- the schema file --------------------------------------------------------------- */

enum field { F_OWNER = 1, F_PERMS = 2, F_VALUE = 4, F_TRUST = 8, F_WRITER = 16,
	     F_WATCHER = 32, F_DOC = 64 };
#define F_ALL (F_OWNER | F_PERMS | F_VALUE | F_TRUST | F_WRITER | F_WATCHER | F_DOC)

static void pattern_clear(struct pattern *p)
{
	for (unsigned i = 0; i < p->nsegs; i++)
		free(p->segs[i].lit);
	p->nsegs = 0;
}

static void node_clear(struct node *n)
{
	pattern_clear(&n->path);
	for (unsigned i = 0; i < n->nenum; i++)
		free(n->alts[i]);
	n->nenum = 0;
}

void migr_schema_free(struct migr_schema *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->nscopes; i++)
		pattern_clear(&s->scopes[i]);
	for (unsigned i = 0; i < s->nnodes; i++)
		node_clear(&s->nodes[i]);
	free(s->nodes);
	free(s);
}

unsigned migr_schema_node_count(const struct migr_schema *s)
{
	return s ? s->nnodes : 0;
}

/* Splits a pattern "/a/$DOMID/b" into segments. */
static int pattern_parse(const char *s, size_t n, struct pattern *p)
{
	size_t i = 0;

	p->nsegs = 0;
	if (n < 2 || n > MIGR_SCHEMA_MAX_PATH || s[0] != '/' || s[n - 1] == '/')
		return -EINVAL;
	while (i < n) {
		size_t j;
		struct seg *g;

		i++;                            /* the '/' */
		for (j = i; j < n && s[j] != '/'; j++)
			;
		if (j == i || p->nsegs == MAX_SEGS)
			return -EINVAL;
		g = &p->segs[p->nsegs];
		g->lit = NULL;
		if (s[i] == '$') {
			if (j - i == 6 && !memcmp(s + i, "$DOMID", 6))
				g->kind = SEG_DOMID;
			else if ((j - i == 5 && !memcmp(s + i, "$NAME", 5)) ||
				 (j - i == 4 && !memcmp(s + i, "$KEY", 4)) ||
				 (j - i == 5 && !memcmp(s + i, "$HOST", 5)))
				g->kind = SEG_NAME;
			else
				return -EINVAL;
		} else {
			if (!is_name_seg(s + i, j - i))
				return -EINVAL;
			g->kind = SEG_LIT;
			if (!(g->lit = strndup(s + i, j - i)))
				return -ENOMEM;
		}
		p->nsegs++;
		i = j;
	}
	return 0;
}

static int perms_pattern_parse(const char *s, size_t n, struct node *nd)
{
	size_t i = 0;

	nd->nperms = 0;
	nd->perms_any = 0;
	if (n == 1 && s[0] == '-') {
		nd->perms_any = 1;
		return 0;
	}
	while (i < n) {
		size_t j;
		struct perm_pat *pp;
		unsigned long long id;

		for (j = i; j < n && s[j] != ','; j++)
			;
		if (j - i < 2 || nd->nperms == MIGR_SCHEMA_MAX_PERMS || !strchr("nrwb", s[i]))
			return -EINVAL;
		pp = &nd->perms[nd->nperms++];
		pp->letter = s[i];
		if (j - i == 7 && !memcmp(s + i + 1, "$DOMID", 6)) {
			pp->is_domid = 1;
			pp->id = 0;
		} else {
			if (parse_udec(s + i + 1, j - i - 1, 65535, &id))
				return -EINVAL;
			pp->is_domid = 0;
			pp->id = id;
		}
		i = j + (j < n);
		if (j < n && i == n)
			return -EINVAL;        /* trailing comma */
	}
	return nd->nperms ? 0 : -EINVAL;
}

/* Next whitespace-separated word of [*p, end) into w[MAX_WORD]; 0 if none, -1 if too long. */
static int word(const char **p, const char *end, char *w)
{
	const char *s = *p;
	size_t n;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	for (n = 0; s + n < end && s[n] != ' ' && s[n] != '\t'; n++)
		;
	if (n >= MAX_WORD)
		return -1;
	memcpy(w, s, n);
	w[n] = 0;
	*p = s + n;
	return n > 0;
}

static int value_parse(const char *s, const char *end, struct node *nd)
{
	char w[MAX_WORD], a[MAX_WORD], b[MAX_WORD];
	unsigned long long u;

	if (word(&s, end, w) <= 0)
		return -EINVAL;
	if (!strcmp(w, "opt")) {
		nd->opt_empty = 1;
		if (word(&s, end, w) <= 0)
			return -EINVAL;
	}
	if (!strcmp(w, "empty")) {
		nd->grammar = G_EMPTY;
	} else if (!strcmp(w, "enum")) {
		const char *q, *qe;

		nd->grammar = G_ENUM;
		if (word(&s, end, a) <= 0)
			return -EINVAL;
		for (q = a; *q; q = qe + (*qe == '|')) {
			qe = strchr(q, '|');
			if (!qe)
				qe = q + strlen(q);
			if (qe == q || nd->nenum == MAX_ENUM || !is_name_seg(q, qe - q))
				return -EINVAL;
			if (!(nd->alts[nd->nenum] = strndup(q, qe - q)))
				return -ENOMEM;
			nd->nenum++;
			if (!*qe)
				break;
			if (!qe[1])
				return -EINVAL;
		}
	} else if (!strcmp(w, "int")) {
		nd->grammar = G_INT;
		if (word(&s, end, a) <= 0 || word(&s, end, b) <= 0 ||
		    parse_sdec(a, strlen(a), &nd->min) || parse_sdec(b, strlen(b), &nd->max) ||
		    nd->min > nd->max)
			return -EINVAL;
	} else {
		if (!strcmp(w, "token"))
			nd->grammar = G_TOKEN;
		else if (!strcmp(w, "host"))
			nd->grammar = G_HOST;
		else if (!strcmp(w, "text"))
			nd->grammar = G_TEXT;
		else if (!strcmp(w, "list"))
			nd->grammar = G_LIST;
		else if (!strcmp(w, "json"))
			nd->grammar = G_JSON;
		else
			return -EINVAL;
		if (word(&s, end, a) <= 0 ||
		    parse_udec(a, strlen(a), MIGR_SCHEMA_MAX_VALUE, &u) || u == 0)
			return -EINVAL;
		nd->maxlen = u;
	}
	return word(&s, end, w) == 0 ? 0 : -EINVAL;
}

/* Does this node's perms pattern let a guest write (or own) it? */
static int perms_guest_writable(const struct node *nd)
{
	if (nd->perms_any)
		return 1;
	for (unsigned i = 0; i < nd->nperms; i++) {
		const struct perm_pat *pp = &nd->perms[i];

		if (i == 0 && (pp->is_domid || pp->id != 0))
			return 1;        /* a guest owns it */
		if (i == 0 && (pp->letter == 'w' || pp->letter == 'b'))
			return 1;        /* everybody may write */
		if (i > 0 && (pp->is_domid || pp->id != 0) &&
		    (pp->letter == 'w' || pp->letter == 'b'))
			return 1;
	}
	return 0;
}

static int pattern_has_domid(const struct pattern *p)
{
	for (unsigned i = 0; i < p->nsegs; i++)
		if (p->segs[i].kind == SEG_DOMID)
			return 1;
	return 0;
}

/* Checks a finished node; 0 or -EINVAL with the reason in err. */
static int node_finish(struct node *nd, char *err, size_t errlen)
{
	if ((nd->seen & F_ALL) != F_ALL) {
		say(err, errlen, "line %u: node lacks one of owner/perms/value/trust/writer/"
		    "watcher/doc", nd->line);
		return -EINVAL;
	}
	for (unsigned i = 0; i < nd->nperms; i++)
		if (nd->perms[i].is_domid && !pattern_has_domid(&nd->path)) {
			say(err, errlen, "line %u: perms name $DOMID but the path has none",
			    nd->line);
			return -EINVAL;
		}
	if (perms_guest_writable(nd) && nd->trust != MIGR_SCHEMA_TRUST_GUEST) {
		say(err, errlen, "line %u: a guest can write this node: its trust must be "
		    "'guest'", nd->line);
		return -EINVAL;
	}
	return 0;
}

int migr_schema_parse(const char *text, size_t len, struct migr_schema **schema_r,
		      char *err, size_t errlen)
{
	struct migr_schema *s = NULL;
	struct node *cur = NULL;
	const char *p = text, *end = text + len;
	unsigned line = 0;
	int rc;

	if (!text && len) {
		rc = -EINVAL;
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->nodes = calloc(MIGR_SCHEMA_MAX_NODES, sizeof(*s->nodes)))) {
		rc = -ENOMEM;
		goto out;
	}
	while (p < end) {
		const char *le = memchr(p, '\n', end - p), *q;
		char kw[MAX_WORD];
		int indented;

		if (!le)
			le = end;
		line++;
		indented = (*p == ' ' || *p == '\t');
		q = p;
		rc = word(&q, le, kw);
		if (rc < 0) {
			say(err, errlen, "line %u: word too long", line);
			rc = -EINVAL;
			goto out;
		}
		if (rc == 0 || kw[0] == '#') {
			p = le + (le < end);
			continue;
		}
		if (memchr(p, 0, le - p)) {
			say(err, errlen, "line %u: NUL byte", line);
			rc = -EINVAL;
			goto out;
		}
		while (q < le && (*q == ' ' || *q == '\t'))
			q++;
		if (!indented) {
			if (cur && (rc = node_finish(cur, err, errlen)))
				goto out;
			cur = NULL;
			if (!strcmp(kw, "scope")) {
				if (s->nscopes == 16 ||
				    pattern_parse(q, le - q, &s->scopes[s->nscopes])) {
					pattern_clear(&s->scopes[s->nscopes]);
					say(err, errlen, "line %u: bad scope", line);
					rc = -EINVAL;
					goto out;
				}
				s->nscopes++;
			} else if (!strcmp(kw, "node")) {
				if (s->nnodes == MIGR_SCHEMA_MAX_NODES) {
					say(err, errlen, "line %u: too many nodes", line);
					rc = -EINVAL;
					goto out;
				}
				cur = &s->nodes[s->nnodes++];
				cur->line = line;
				if (pattern_parse(q, le - q, &cur->path)) {
					say(err, errlen, "line %u: bad node path", line);
					rc = -EINVAL;
					goto out;
				}
			} else {
				say(err, errlen, "line %u: expected 'scope' or 'node'", line);
				rc = -EINVAL;
				goto out;
			}
		} else {
			unsigned f;

			if (!cur) {
				say(err, errlen, "line %u: field outside a node", line);
				rc = -EINVAL;
				goto out;
			}
			if (!strcmp(kw, "owner"))
				f = F_OWNER;
			else if (!strcmp(kw, "perms"))
				f = F_PERMS;
			else if (!strcmp(kw, "value"))
				f = F_VALUE;
			else if (!strcmp(kw, "trust"))
				f = F_TRUST;
			else if (!strcmp(kw, "writer"))
				f = F_WRITER;
			else if (!strcmp(kw, "watcher"))
				f = F_WATCHER;
			else if (!strcmp(kw, "doc"))
				f = F_DOC;
			else {
				say(err, errlen, "line %u: unknown field '%s'", line, kw);
				rc = -EINVAL;
				goto out;
			}
			if (cur->seen & f) {
				say(err, errlen, "line %u: field '%s' given twice", line, kw);
				rc = -EINVAL;
				goto out;
			}
			cur->seen |= f;
			if (q == le) {
				say(err, errlen, "line %u: field '%s' is empty", line, kw);
				rc = -EINVAL;
				goto out;
			}
			rc = 0;
			if (f == F_OWNER) {
				if (!((le - q == 4 && !memcmp(q, "dom0", 4)) ||
				      (le - q == 5 && !memcmp(q, "guest", 5))))
					rc = -EINVAL;
			} else if (f == F_PERMS) {
				const char *pe = le;

				while (pe > q && (pe[-1] == ' ' || pe[-1] == '\t'))
					pe--;
				rc = perms_pattern_parse(q, pe - q, cur);
			} else if (f == F_VALUE) {
				rc = value_parse(q, le, cur);
			} else if (f == F_TRUST) {
				char w[MAX_WORD];
				const char *t = q;

				if (word(&t, le, w) <= 0)
					rc = -EINVAL;
				else if (!strcmp(w, "dom0"))
					cur->trust = MIGR_SCHEMA_TRUST_DOM0;
				else if (!strcmp(w, "guest"))
					cur->trust = MIGR_SCHEMA_TRUST_GUEST;
				else
					rc = -EINVAL;
			}
			if (rc == -ENOMEM)
				goto out;
			if (rc) {
				say(err, errlen, "line %u: bad '%s'", line, kw);
				rc = -EINVAL;
				goto out;
			}
		}
		p = le + (le < end);
	}
	if (cur && (rc = node_finish(cur, err, errlen)))
		goto out;
	if (s->nscopes == 0 || s->nnodes == 0) {
		say(err, errlen, "no scope or no node");
		rc = -EINVAL;
		goto out;
	}
	*schema_r = s;
	s = NULL;
	rc = 0;
out:
	migr_schema_free(s);
	return rc;
}

/* ---- checking ---------------------------------------------------------------------- */

struct path_split {
	unsigned nsegs;
	const char *seg[MAX_SEGS];
	size_t len[MAX_SEGS];
};

static int path_split(const char *path, struct path_split *ps)
{
	size_t n = strnlen(path, MIGR_SCHEMA_MAX_PATH + 1), i = 0;

	ps->nsegs = 0;
	if (n < 1 || n > MIGR_SCHEMA_MAX_PATH || path[0] != '/')
		return -EINVAL;
	if (n == 1)
		return 0;                       /* the root */
	if (path[n - 1] == '/')
		return -EINVAL;
	while (i < n) {
		size_t j;

		i++;
		for (j = i; j < n && path[j] != '/'; j++)
			;
		if (j == i || ps->nsegs == MAX_SEGS)
			return -EINVAL;
		ps->seg[ps->nsegs] = path + i;
		ps->len[ps->nsegs] = j - i;
		ps->nsegs++;
		i = j;
	}
	return 0;
}

/*
 * Matches the first p->nsegs segments of the path; *domid_r gets the $DOMID bound (-1 if
 * none). Returns the number of literal segments matched + 1, or 0 for no match.
 */
static unsigned pattern_match(const struct pattern *p, const struct path_split *ps,
			      int prefix, long *domid_r)
{
	long domid = -1;
	unsigned lits = 0;

	if (ps->nsegs < p->nsegs || (!prefix && ps->nsegs != p->nsegs))
		return 0;
	for (unsigned i = 0; i < p->nsegs; i++) {
		const struct seg *g = &p->segs[i];
		const char *s = ps->seg[i];
		size_t n = ps->len[i];

		switch (g->kind) {
		case SEG_LIT:
			if (strlen(g->lit) != n || memcmp(g->lit, s, n))
				return 0;
			lits++;
			break;
		case SEG_DOMID: {
			unsigned long long v;

			if (parse_udec(s, n, DOMID_MAX, &v) || v == 0)
				return 0;
			if (domid >= 0 && (unsigned long long)domid != v)
				return 0;
			domid = v;
			break;
		}
		case SEG_NAME:
			if (!is_name_seg(s, n))
				return 0;
			break;
		}
	}
	*domid_r = domid;
	return lits + 1;
}

static int check_chars(const char *v, size_t n, size_t maxlen, int (*ok)(unsigned char))
{
	if (n == 0 || n > maxlen)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!ok(v[i]))
			return -EINVAL;
	return 0;
}

static int text_char(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

static int token_char(unsigned char c)
{
	return is_token_char(c);
}

static int host_char(unsigned char c)
{
	return is_host_char(c);
}

/* 0 if the value fits the node's grammar; else -EINVAL with why. */
static int value_ok(const struct node *nd, const char *v, size_t n, char *why, size_t wl)
{
	long long x;

	if (n > MIGR_SCHEMA_MAX_VALUE) {
		say(why, wl, "value of %zu bytes exceeds %d", n, MIGR_SCHEMA_MAX_VALUE);
		return -EINVAL;
	}
	if (n == 0 && (nd->opt_empty || nd->grammar == G_EMPTY || nd->grammar == G_TEXT))
		return 0;
	switch (nd->grammar) {
	case G_EMPTY:
		say(why, wl, "a directory node must have an empty value");
		return -EINVAL;
	case G_ENUM:
		for (unsigned i = 0; i < nd->nenum; i++)
			if (strlen(nd->alts[i]) == n && !memcmp(nd->alts[i], v, n))
				return 0;
		say(why, wl, "not one of the enum's %u values", nd->nenum);
		return -EINVAL;
	case G_INT:
		if (parse_sdec(v, n, &x)) {
			say(why, wl, "not a decimal integer");
			return -EINVAL;
		}
		if (x < nd->min || x > nd->max) {
			say(why, wl, "%lld is outside [%lld, %lld]", x, nd->min, nd->max);
			return -EINVAL;
		}
		return 0;
	case G_TOKEN:
		if (check_chars(v, n, nd->maxlen, token_char)) {
			say(why, wl, "not a token of 1..%zu chars [A-Za-z0-9._:@+-]", nd->maxlen);
			return -EINVAL;
		}
		return 0;
	case G_HOST:
		if (check_chars(v, n, nd->maxlen, host_char)) {
			say(why, wl, "not a host name of 1..%zu chars", nd->maxlen);
			return -EINVAL;
		}
		return 0;
	case G_TEXT:
		if (check_chars(v, n, nd->maxlen, text_char)) {
			say(why, wl, "not printable ASCII text of at most %zu chars", nd->maxlen);
			return -EINVAL;
		}
		return 0;
	case G_LIST: {
		size_t i = 0;

		if (n > nd->maxlen) {
			say(why, wl, "list longer than %zu chars", nd->maxlen);
			return -EINVAL;
		}
		while (i <= n) {
			size_t j;

			for (j = i; j < n && v[j] != ','; j++)
				;
			if (check_chars(v + i, j - i, 255, host_char)) {
				say(why, wl, "not a comma-separated list of host names");
				return -EINVAL;
			}
			i = j + 1;
		}
		return 0;
	}
	case G_JSON:
		if (n > nd->maxlen || migr_json_check(v, n, JSON_DEPTH)) {
			say(why, wl, "not well-formed JSON of at most %zu bytes", nd->maxlen);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

/* Parses an actual perms list and compares it with the node's pattern. */
static int perms_ok(const struct node *nd, long domid, const char *perms,
		    char *why, size_t wl)
{
	size_t n = strnlen(perms, 1024), i = 0;
	unsigned k = 0;

	if (nd->perms_any)
		return 0;
	while (i < n) {
		size_t j;
		unsigned long long id;
		const struct perm_pat *pp;
		unsigned want;

		for (j = i; j < n && perms[j] != ','; j++)
			;
		if (j - i < 2 || !strchr("nrwb", perms[i]) || !perms[i] ||
		    parse_udec(perms + i + 1, j - i - 1, 65535, &id)) {
			say(why, wl, "malformed permissions '%.64s'", perms);
			return -EINVAL;
		}
		if (k >= nd->nperms)
			goto mismatch;
		pp = &nd->perms[k++];
		want = pp->is_domid ? (unsigned)domid : pp->id;
		if (perms[i] != pp->letter || id != want)
			goto mismatch;
		i = j + 1;
		if (j < n && i == n)
			goto malformed;
	}
	if (k != nd->nperms)
		goto mismatch;
	return 0;
malformed:
	say(why, wl, "malformed permissions '%.64s'", perms);
	return -EINVAL;
mismatch:
	{
		char want[256];
		size_t w = 0;

		for (unsigned m = 0; m < nd->nperms && w < sizeof(want) - 16; m++)
			w += snprintf(want + w, sizeof(want) - w, "%s%c%u", m ? "," : "",
				      nd->perms[m].letter,
				      nd->perms[m].is_domid ? (unsigned)domid : nd->perms[m].id);
		say(why, wl, "permissions '%.64s', expected '%s'", perms, want);
	}
	return -EINVAL;
}

int migr_schema_check(const struct migr_schema *s, const char *path,
		      const char *value, size_t vlen, const char *perms,
		      char *why, size_t wl, enum migr_schema_trust *trust_r)
{
	struct path_split ps;
	const struct node *best = NULL;
	unsigned best_score = 0;
	long domid = -1, d;
	int in_scope = 0;

	if (why && wl)
		why[0] = 0;
	if (!s || !path || path_split(path, &ps)) {
		say(why, wl, "not a well-formed xenstore path");
		return MIGR_SCHEMA_BAD_PATH;
	}
	for (unsigned i = 0; i < s->nscopes && !in_scope; i++)
		in_scope = pattern_match(&s->scopes[i], &ps, 1, &d) != 0;
	if (!in_scope) {
		say(why, wl, "outside the trees migr uses");
		return MIGR_SCHEMA_OUT_OF_SCOPE;
	}
	for (unsigned i = 0; i < s->nnodes; i++) {
		unsigned sc = pattern_match(&s->nodes[i].path, &ps, 0, &d);

		if (sc > best_score) {
			best_score = sc;
			best = &s->nodes[i];
			domid = d;
		}
	}
	if (!best) {
		say(why, wl, "no such node in the schema");
		return MIGR_SCHEMA_UNKNOWN;
	}
	if (trust_r)
		*trust_r = best->trust;
	if (!value && vlen) {
		say(why, wl, "no value");
		return MIGR_SCHEMA_BAD_VALUE;
	}
	if (value_ok(best, value ? value : "", vlen, why, wl))
		return MIGR_SCHEMA_BAD_VALUE;
	if (perms && perms_ok(best, domid, perms, why, wl))
		return MIGR_SCHEMA_BAD_PERMS;
	return MIGR_SCHEMA_OK;
}

int migr_schema_check_value(const struct migr_schema *s, const char *path,
			    const char *value, size_t vlen)
{
	return migr_schema_check(s, path, value, vlen, NULL, NULL, 0, NULL);
}

const char *migr_schema_result_name(int r)
{
	switch (r) {
	case MIGR_SCHEMA_OK:           return "ok";
	case MIGR_SCHEMA_OUT_OF_SCOPE: return "out-of-scope";
	case MIGR_SCHEMA_UNKNOWN:      return "unknown-node";
	case MIGR_SCHEMA_BAD_VALUE:    return "bad-value";
	case MIGR_SCHEMA_BAD_PERMS:    return "bad-perms";
	case MIGR_SCHEMA_BAD_PATH:     return "bad-path";
	}
	return "error";
}

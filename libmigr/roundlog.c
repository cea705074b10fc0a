/*
 * roundlog.c: a migration's round log, collected from its progress reports and its
 * result, kept as DIR/ID.json, read back as hostile input (migr/report.h;
 * docs/reports.md, "The round log").
 *
 * Entry points: migr_roundlog_init(), migr_roundlog_progress(), migr_roundlog_result(),
 * migr_roundlog_format(), migr_roundlog_parse(), migr_roundlog_write(),
 * migr_roundlog_read(), migr_roundlog_list(), migr_report_outcome_name(),
 * migr_report_outcome_of().
 *
 * The file is written whole (a temporary file renamed over it). Reading checks its size
 * first (MIGR_ROUNDLOG_MAX_BYTES), its nesting before yajl sees it, then every field
 * against a table: type, range, length, known names. Unknown keys are a later version's
 * and skipped; a key given twice is refused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "libmigr.h"
#include "buf.h"
#include "report_int.h"

#define FORMAT_NAME "migr-round-log"
#define FORMAT_VERSION 1
#define VALUE_MAX (1ull << 62)     /* any count or duration above is nonsense */

static const char *const outcome_names[MIGR_REPORT_OUTCOME_COUNT] = {
	[MIGR_REPORT_DONE] = "done", [MIGR_REPORT_ABORTED] = "aborted",
	[MIGR_REPORT_FAILED] = "failed", [MIGR_REPORT_UNDECIDED] = "undecided",
};

const char *migr_report_outcome_name(enum migr_report_outcome o)
{
	return (unsigned int)o < MIGR_REPORT_OUTCOME_COUNT ? outcome_names[o] : "unknown";
}

enum migr_report_outcome migr_report_outcome_of(int rc)
{
	if (rc == 0)
		return MIGR_REPORT_DONE;
	if (rc == -MIGR_E_ABORTED || rc == -MIGR_E_UNSUPPORTED)
		return MIGR_REPORT_ABORTED;
	if (rc == -MIGR_E_UNDECIDED)
		return MIGR_REPORT_UNDECIDED;
	return MIGR_REPORT_FAILED;
}

/* ---- collecting ------------------------------------------------------------------- */

void migr_roundlog_init(struct migr_roundlog *l)
{
	memset(l, 0, sizeof(*l));
	l->outcome = MIGR_REPORT_FAILED;
}

void migr_roundlog_progress(struct migr_roundlog *l, const struct migr_progress *p)
{
	if (p->phase == MIGR_PHASE_PRECOPY && !l->precopy_start_us)
		l->precopy_start_us = p->elapsed_us ? p->elapsed_us : 1;
	if (p->phase == MIGR_PHASE_SUSPEND && !l->suspend_at_us)
		l->suspend_at_us = p->elapsed_us ? p->elapsed_us : 1;
	if (!p->round_end)
		return;
	if (l->n_rounds == MIGR_ROUNDLOG_ROUNDS) {
		l->rounds_dropped++;
		return;
	}
	l->rounds[l->n_rounds++] = (struct migr_roundlog_round){
		/* a round's end is reported as libxenguest's next iteration */
		.round = p->round ? p->round - 1 : 0,
		.end_us = p->elapsed_us,
		.us = p->round_us,
		.pages = p->round_pages,
		.bytes = p->round_bytes,
		.remaining_pages = p->remaining_pages,
		.dirty_rate_pps = p->dirty_rate_pps,
		.bandwidth_Bps = p->bandwidth_Bps,
		.predicted_blackout_us = p->predicted_blackout_us,
		.decision = p->decision,
		.reason = p->reason,
	};
}

void migr_roundlog_result(struct migr_roundlog *l, const struct migr_result *r, int rc,
			  const char *target)
{
	time_t now = time(NULL);

	snprintf(l->id, sizeof(l->id), "%s", r->id);
	snprintf(l->name, sizeof(l->name), "%s", r->name);
	snprintf(l->target, sizeof(l->target), "%s", target ? target : "");
	migr__text_clean(l->name);
	migr__text_clean(l->target);
	l->type = r->type;
	l->started = (int64_t)now - (int64_t)(r->total_us / 1000000);
	l->outcome = migr_report_outcome_of(rc);
	l->total_us = r->total_us;
	l->precopy_us = r->precopy_us;
	l->guest_pages = r->guest_pages;
	l->pages_live = r->pages_live;
	l->stream_bytes = r->stream_bytes;
	l->wire_bytes = r->wire_bytes;
	l->zero_bytes = r->zero_bytes;
	l->compressed_bytes = r->compressed_bytes;
	l->compress_saved_bytes = r->compress_saved_bytes;
	l->predicted_blackout_us = r->predicted_blackout_us;
	l->restore_hint_us = r->restore_hint_us;
	l->blackout_us = r->blackout_us;
	l->suspend_us = r->suspend_us;
	l->final_send_us = r->final_send_us;
	l->restore_tail_us = r->restore_tail_us;
	l->devices_us = r->devices_us;
	l->handshake_us = r->handshake_us;
	l->unpause_us = r->unpause_us;
	l->vifs = r->vifs;
	l->vifs_connected = r->vifs_connected;
	l->net_back_us = r->net_back_us;
	l->first_frame_us = r->first_frame_us;
}

/* ---- the text ------------------------------------------------------------------------ */

static void kv(struct migr__buf *b, const char *k, unsigned long long v, bool comma)
{
	migr__buf_printf(b, "%s\"%s\":%llu", comma ? "," : "", k, v);
}

static void ks(struct migr__buf *b, const char *k, const char *v)
{
	migr__buf_printf(b, ",\"%s\":\"", k);
	migr__buf_json(b, v);
	migr__buf_str(b, "\"");
}

int migr_roundlog_format(const struct migr_roundlog *l, char **json_r, size_t *len_r)
{
	struct migr__buf b = { 0 };
	int rc;

	b.max = MIGR_ROUNDLOG_MAX_BYTES;
	migr__buf_printf(&b, "{\"format\":\"" FORMAT_NAME "\",\"version\":%d", FORMAT_VERSION);
	ks(&b, "id", l->id);
	ks(&b, "guest", l->name);
	ks(&b, "type", migr_guest_type_name(l->type));
	ks(&b, "target", l->target);
	migr__buf_printf(&b, ",\"started\":%lld", (long long)l->started);
	ks(&b, "outcome", migr_report_outcome_name(l->outcome));
	kv(&b, "total_us", l->total_us, true);
	kv(&b, "precopy_start_us", l->precopy_start_us, true);
	kv(&b, "suspend_at_us", l->suspend_at_us, true);
	kv(&b, "precopy_us", l->precopy_us, true);
	kv(&b, "guest_pages", l->guest_pages, true);
	kv(&b, "pages_live", l->pages_live, true);
	kv(&b, "stream_bytes", l->stream_bytes, true);
	kv(&b, "wire_bytes", l->wire_bytes, true);
	kv(&b, "zero_bytes", l->zero_bytes, true);
	kv(&b, "compressed_bytes", l->compressed_bytes, true);
	kv(&b, "compress_saved_bytes", l->compress_saved_bytes, true);
	kv(&b, "predicted_blackout_us", l->predicted_blackout_us, true);
	kv(&b, "restore_hint_us", l->restore_hint_us, true);
	migr__buf_str(&b, ",\n\"blackout\":{");
	kv(&b, "total_us", l->blackout_us, false);
	kv(&b, "suspend_us", l->suspend_us, true);
	kv(&b, "final_send_us", l->final_send_us, true);
	kv(&b, "restore_tail_us", l->restore_tail_us, true);
	kv(&b, "devices_us", l->devices_us, true);
	kv(&b, "handshake_us", l->handshake_us, true);
	kv(&b, "unpause_us", l->unpause_us, true);
	migr__buf_str(&b, "},\n\"network\":{");
	kv(&b, "vifs", l->vifs, false);
	kv(&b, "vifs_connected", l->vifs_connected, true);
	kv(&b, "net_back_us", l->net_back_us, true);
	kv(&b, "first_frame_us", l->first_frame_us, true);
	migr__buf_str(&b, "},\n");
	kv(&b, "rounds_dropped", l->rounds_dropped, false);
	migr__buf_str(&b, ",\"rounds\":[");
	for (unsigned int i = 0; i < l->n_rounds && i < MIGR_ROUNDLOG_ROUNDS; i++) {
		const struct migr_roundlog_round *r = &l->rounds[i];

		migr__buf_str(&b, i ? ",\n{" : "\n{");
		kv(&b, "round", r->round, false);
		kv(&b, "end_us", r->end_us, true);
		kv(&b, "us", r->us, true);
		kv(&b, "pages", r->pages, true);
		kv(&b, "bytes", r->bytes, true);
		kv(&b, "remaining_pages", r->remaining_pages, true);
		kv(&b, "dirty_rate_pps", r->dirty_rate_pps, true);
		kv(&b, "bandwidth_Bps", r->bandwidth_Bps, true);
		kv(&b, "predicted_blackout_us", r->predicted_blackout_us, true);
		ks(&b, "decision", migr_policy_action_name(r->decision));
		ks(&b, "reason", migr_policy_reason_name(r->reason));
		migr__buf_str(&b, "}");
	}
	migr__buf_str(&b, "]}\n");
	rc = migr__buf_error(&b);
	if (rc) {
		migr__buf_free(&b);
		return rc;
	}
	*json_r = b.p;
	*len_r = b.len;
	return 0;
}

/* ---- parsing ------------------------------------------------------------------------- */

static int bad(char *why, size_t wl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t wl, const char *fmt, ...)
{
	va_list ap;

	if (why && wl) {
		va_start(ap, fmt);
		vsnprintf(why, wl, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

bool migr__json_depth_ok(const char *s, size_t len, unsigned int max)
{
	unsigned int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '{' || c == '[') {
			if (++depth > max)
				return false;
		} else if ((c == '}' || c == ']') && depth) {
			depth--;
		}
	}
	return true;
}

bool migr__text_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

enum kind { F_U64, F_UINT, F_I64, F_STR, F_ID, F_TYPE, F_OUTCOME, F_DECISION, F_REASON,
	    F_FORMAT, F_VERSION, F_BLACKOUT, F_NETWORK, F_ROUNDS };

struct field {
	const char *name;
	enum kind kind;
	size_t off, size;
	bool need;
};

#define FL(st, n, k, m, need) { n, k, offsetof(st, m), sizeof(((st *)0)->m), need }
#define FX(n, k, need) { n, k, 0, 0, need }

static const struct field top_fields[] = {
	FX("format", F_FORMAT, true),
	FX("version", F_VERSION, true),
	FL(struct migr_roundlog, "id", F_ID, id, true),
	FL(struct migr_roundlog, "guest", F_STR, name, false),
	FL(struct migr_roundlog, "type", F_TYPE, type, false),
	FL(struct migr_roundlog, "target", F_STR, target, false),
	FL(struct migr_roundlog, "started", F_I64, started, false),
	FL(struct migr_roundlog, "outcome", F_OUTCOME, outcome, true),
	FL(struct migr_roundlog, "total_us", F_U64, total_us, true),
	FL(struct migr_roundlog, "precopy_start_us", F_U64, precopy_start_us, false),
	FL(struct migr_roundlog, "suspend_at_us", F_U64, suspend_at_us, false),
	FL(struct migr_roundlog, "precopy_us", F_U64, precopy_us, false),
	FL(struct migr_roundlog, "guest_pages", F_U64, guest_pages, false),
	FL(struct migr_roundlog, "pages_live", F_U64, pages_live, false),
	FL(struct migr_roundlog, "stream_bytes", F_U64, stream_bytes, false),
	FL(struct migr_roundlog, "wire_bytes", F_U64, wire_bytes, false),
	FL(struct migr_roundlog, "zero_bytes", F_U64, zero_bytes, false),
	FL(struct migr_roundlog, "compressed_bytes", F_U64, compressed_bytes, false),
	FL(struct migr_roundlog, "compress_saved_bytes", F_U64, compress_saved_bytes, false),
	FL(struct migr_roundlog, "predicted_blackout_us", F_U64, predicted_blackout_us, false),
	FL(struct migr_roundlog, "restore_hint_us", F_U64, restore_hint_us, false),
	FX("blackout", F_BLACKOUT, false),
	FX("network", F_NETWORK, false),
	FL(struct migr_roundlog, "rounds_dropped", F_UINT, rounds_dropped, false),
	FX("rounds", F_ROUNDS, true),
};

static const struct field blackout_fields[] = {
	FL(struct migr_roundlog, "total_us", F_U64, blackout_us, false),
	FL(struct migr_roundlog, "suspend_us", F_U64, suspend_us, false),
	FL(struct migr_roundlog, "final_send_us", F_U64, final_send_us, false),
	FL(struct migr_roundlog, "restore_tail_us", F_U64, restore_tail_us, false),
	FL(struct migr_roundlog, "devices_us", F_U64, devices_us, false),
	FL(struct migr_roundlog, "handshake_us", F_U64, handshake_us, false),
	FL(struct migr_roundlog, "unpause_us", F_U64, unpause_us, false),
};

static const struct field network_fields[] = {
	FL(struct migr_roundlog, "vifs", F_UINT, vifs, false),
	FL(struct migr_roundlog, "vifs_connected", F_UINT, vifs_connected, false),
	FL(struct migr_roundlog, "net_back_us", F_U64, net_back_us, false),
	FL(struct migr_roundlog, "first_frame_us", F_U64, first_frame_us, false),
};

static const struct field round_fields[] = {
	FL(struct migr_roundlog_round, "round", F_UINT, round, true),
	FL(struct migr_roundlog_round, "end_us", F_U64, end_us, false),
	FL(struct migr_roundlog_round, "us", F_U64, us, false),
	FL(struct migr_roundlog_round, "pages", F_U64, pages, false),
	FL(struct migr_roundlog_round, "bytes", F_U64, bytes, false),
	FL(struct migr_roundlog_round, "remaining_pages", F_U64, remaining_pages, false),
	FL(struct migr_roundlog_round, "dirty_rate_pps", F_U64, dirty_rate_pps, false),
	FL(struct migr_roundlog_round, "bandwidth_Bps", F_U64, bandwidth_Bps, false),
	FL(struct migr_roundlog_round, "predicted_blackout_us", F_U64, predicted_blackout_us,
	   false),
	FL(struct migr_roundlog_round, "decision", F_DECISION, decision, false),
	FL(struct migr_roundlog_round, "reason", F_REASON, reason, false),
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int walk(yajl_val obj, const struct field *f, size_t nf, void *dst, const char *where,
		struct migr_roundlog *l, char *why, size_t wl);

static int uint_of(yajl_val v, uint64_t max, uint64_t *v_r)
{
	long long x;

	if (!YAJL_IS_INTEGER(v))
		return -EBADMSG;
	x = YAJL_GET_INTEGER(v);
	if (x < 0 || (uint64_t)x > max)
		return -EBADMSG;
	*v_r = (uint64_t)x;
	return 0;
}

static int one(const struct field *f, yajl_val v, void *dst, const char *where,
	       struct migr_roundlog *l, char *why, size_t wl)
{
	uint8_t *p = (uint8_t *)dst + f->off;
	const char *s = YAJL_GET_STRING(v);
	uint64_t u;
	int e;

	switch (f->kind) {
	case F_U64:
		if (uint_of(v, VALUE_MAX, &u))
			break;
		memcpy(p, &u, sizeof(u));
		return 0;
	case F_UINT: {
		unsigned int x;

		if (uint_of(v, 1u << 30, &u))
			break;
		x = (unsigned int)u;
		memcpy(p, &x, sizeof(x));
		return 0;
	}
	case F_I64: {
		int64_t x;

		if (!YAJL_IS_INTEGER(v))
			break;
		x = YAJL_GET_INTEGER(v);
		if (x < 0 || x > (int64_t)1 << 40)
			break;
		memcpy(p, &x, sizeof(x));
		return 0;
	}
	case F_STR:
		if (!s || strlen(s) >= f->size || !migr__text_ok(s))
			break;
		memcpy(p, s, strlen(s) + 1);
		return 0;
	case F_ID: {
		struct migr_id id;

		if (!s || migr_id_from_hex(s, &id))
			break;
		memcpy(p, s, MIGR_ID_HEX);
		return 0;
	}
	case F_TYPE: {
		enum migr_guest_type t;

		for (t = MIGR_GUEST_UNKNOWN; t <= MIGR_GUEST_HVM; t++)
			if (s && !strcmp(s, migr_guest_type_name(t)))
				break;
		if (t > MIGR_GUEST_HVM)
			break;
		memcpy(p, &t, sizeof(t));
		return 0;
	}
	case F_OUTCOME: {
		enum migr_report_outcome o;

		for (o = 0; o < MIGR_REPORT_OUTCOME_COUNT; o++)
			if (s && !strcmp(s, outcome_names[o]))
				break;
		if (o == MIGR_REPORT_OUTCOME_COUNT)
			break;
		memcpy(p, &o, sizeof(o));
		return 0;
	}
	case F_DECISION:
		for (e = MIGR_POLICY_ABORT; e <= MIGR_POLICY_STOP; e++)
			if (s && !strcmp(s, migr_policy_action_name(e)))
				break;
		if (e > MIGR_POLICY_STOP)
			break;
		memcpy(p, &e, sizeof(e));
		return 0;
	case F_REASON:
		for (e = 0; e < MIGR_POLICY_R_COUNT; e++)
			if (s && !strcmp(s, migr_policy_reason_name(e)))
				break;
		if (e == MIGR_POLICY_R_COUNT)
			break;
		memcpy(p, &e, sizeof(e));
		return 0;
	case F_FORMAT:
		if (!s || strcmp(s, FORMAT_NAME))
			return bad(why, wl, "not a round log (format is not \"" FORMAT_NAME "\")");
		return 0;
	case F_VERSION:
		if (uint_of(v, 1000, &u) || u != FORMAT_VERSION)
			return bad(why, wl, "round log version is not %d", FORMAT_VERSION);
		return 0;
	case F_BLACKOUT:
		return walk(v, blackout_fields, N(blackout_fields), l, "blackout", l, why, wl);
	case F_NETWORK:
		return walk(v, network_fields, N(network_fields), l, "network", l, why, wl);
	case F_ROUNDS:
		if (!YAJL_IS_ARRAY(v))
			break;
		if (v->u.array.len > MIGR_ROUNDLOG_ROUNDS)
			return bad(why, wl, "more than %d rounds", MIGR_ROUNDLOG_ROUNDS);
		for (size_t i = 0; i < v->u.array.len; i++) {
			char w[32];

			snprintf(w, sizeof(w), "rounds[%zu]", i);
			memset(&l->rounds[i], 0, sizeof(l->rounds[i]));
			if (walk(v->u.array.values[i], round_fields, N(round_fields), &l->rounds[i],
				 w, l, why, wl))
				return -EBADMSG;
		}
		l->n_rounds = (unsigned int)v->u.array.len;
		return 0;
	}
	return bad(why, wl, "%s%s%s: bad value", where, where[0] ? "." : "", f->name);
}

static int walk(yajl_val obj, const struct field *f, size_t nf, void *dst, const char *where,
		struct migr_roundlog *l, char *why, size_t wl)
{
	uint32_t seen = 0;

	if (!YAJL_IS_OBJECT(obj))
		return bad(why, wl, "%s: not an object", where[0] ? where : "the file");
	for (size_t i = 0; i < obj->u.object.len; i++) {
		const char *k = obj->u.object.keys[i];
		size_t j;

		for (j = 0; j < nf && strcmp(f[j].name, k); j++)
			;
		if (j == nf)
			continue;               /* a later version's key */
		if (seen & (1u << j))
			return bad(why, wl, "%s%s%s given twice", where, where[0] ? "." : "", k);
		seen |= 1u << j;
		if (one(&f[j], obj->u.object.values[i], dst, where, l, why, wl))
			return -EBADMSG;
	}
	for (size_t j = 0; j < nf; j++)
		if (f[j].need && !(seen & (1u << j)))
			return bad(why, wl, "%s%s%s is missing", where, where[0] ? "." : "",
				   f[j].name);
	return 0;
}

int migr_roundlog_parse(const char *text, size_t len, struct migr_roundlog *l_r,
			char *why, size_t wl)
{
	struct migr_roundlog *l = NULL;
	char err[128], *copy = NULL;
	yajl_val root = NULL;
	int rc;

	if (why && wl)
		why[0] = '\0';
	if (len > MIGR_ROUNDLOG_MAX_BYTES)
		return bad(why, wl, "longer than %d bytes", MIGR_ROUNDLOG_MAX_BYTES);
	if (memchr(text, '\0', len))
		return bad(why, wl, "holds a NUL byte");
	if (!migr__json_depth_ok(text, len, 8))
		return bad(why, wl, "nested too deep");
	copy = malloc(len + 1);
	l = calloc(1, sizeof(*l));
	if (!copy || !l) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	root = yajl_tree_parse(copy, err, sizeof(err));
	if (!root) {
		rc = bad(why, wl, "not JSON");
		goto out;
	}
	rc = walk(root, top_fields, N(top_fields), l, "", l, why, wl);
	if (rc)
		goto out;
	if (l->vifs_connected > l->vifs) {
		rc = bad(why, wl, "network.vifs_connected above network.vifs");
		goto out;
	}
	memcpy(l_r, l, sizeof(*l));
out:
	yajl_tree_free(root);
	free(copy);
	free(l);
	return rc;
}

/* ---- files ---------------------------------------------------------------------------- */

static bool is_roundlog_name(const char *n, char id[MIGR_ID_HEX])
{
	struct migr_id x;

	if (strlen(n) != MIGR_ID_HEX - 1 + 5 || strcmp(n + MIGR_ID_HEX - 1, ".json"))
		return false;
	memcpy(id, n, MIGR_ID_HEX - 1);
	id[MIGR_ID_HEX - 1] = '\0';
	return migr_id_from_hex(id, &x) == 0;
}

struct entry {
	char id[MIGR_ID_HEX];
	int64_t mtime;
};

static int newest_first(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->mtime != y->mtime)
		return x->mtime > y->mtime ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* The round logs of dir, newest first (at most max); *e_r malloc'd. */
static int scan(const char *dir, size_t max, struct entry **e_r, size_t *n_r)
{
	struct entry *e = NULL;
	size_t n = 0, cap = 0;
	struct dirent *d;
	DIR *dh = opendir(dir);

	if (!dh)
		return -errno;
	while ((d = readdir(dh)) && n < max) {
		char id[MIGR_ID_HEX];
		struct stat st;

		if (!is_roundlog_name(d->d_name, id) ||
		    fstatat(dirfd(dh), d->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			struct entry *ne = realloc(e, (cap = cap ? cap * 2 : 64) * sizeof(*e));

			if (!ne) {
				free(e);
				closedir(dh);
				return -ENOMEM;
			}
			e = ne;
		}
		memcpy(e[n].id, id, sizeof(id));
		e[n].mtime = st.st_mtime;
		n++;
	}
	closedir(dh);
	if (n)
		qsort(e, n, sizeof(*e), newest_first);
	*e_r = e;
	*n_r = n;
	return 0;
}

/* Removes the oldest round logs (and their pictures) past MIGR_ROUNDLOG_KEEP. */
static void prune(const char *dir)
{
	struct entry *e = NULL;
	size_t n = 0;

	if (scan(dir, 1u << 16, &e, &n))
		return;
	for (size_t i = MIGR_ROUNDLOG_KEEP; i < n; i++) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/%s.json", dir, e[i].id);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s.svg", dir, e[i].id);
		unlink(path);
	}
	free(e);
}

int migr_roundlog_write(const char *dir, const struct migr_roundlog *l)
{
	struct migr_id x;
	char path[4200], *json = NULL;
	size_t len;
	int rc;

	if (migr_id_from_hex(l->id, &x))
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/%s.json", dir, l->id) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	rc = migr__mkdir_p(dir, 0755);
	if (!rc)
		rc = migr_roundlog_format(l, &json, &len);
	if (!rc)
		rc = migr__file_replace(path, json, len, 0600, true);
	free(json);
	if (!rc)
		prune(dir);
	return rc;
}

int migr_roundlog_read(const char *dir, const char *id, struct migr_roundlog *l_r,
		       char *why, size_t wl)
{
	struct migr_roundlog *l;
	struct migr_id x;
	char path[4200], *text = NULL;
	size_t len;
	int rc;

	if (why && wl)
		why[0] = '\0';
	if (migr_id_from_hex(id, &x)) {
		bad(why, wl, "not a migration id (32 hex digits)");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/%s.json", dir, id);
	rc = migr__file_read(path, MIGR_ROUNDLOG_MAX_BYTES, &text, &len);
	if (rc == -EFBIG)
		bad(why, wl, "longer than %d bytes", MIGR_ROUNDLOG_MAX_BYTES);
	else if (rc == -EBADMSG)
		bad(why, wl, "holds a NUL byte");
	if (rc)
		return rc;
	l = malloc(sizeof(*l));
	if (!l) {
		free(text);
		return -ENOMEM;
	}
	rc = migr_roundlog_parse(text, len, l, why, wl);
	if (!rc && strcmp(l->id, id))
		rc = bad(why, wl, "holds migration %s, not %s", l->id, id);
	if (!rc)
		memcpy(l_r, l, sizeof(*l));
	free(l);
	free(text);
	return rc;
}

int migr_roundlog_list(const char *dir, int (*fn)(const struct migr_roundlog *l, void *arg),
		       void *arg)
{
	struct migr_roundlog *l = malloc(sizeof(*l));
	struct entry *e = NULL;
	size_t n = 0;
	int rc;

	if (!l)
		return -ENOMEM;
	rc = scan(dir, 1u << 16, &e, &n);
	if (rc == -ENOENT)
		rc = 0;
	for (size_t i = 0; !rc && i < n; i++)
		if (!migr_roundlog_read(dir, e[i].id, l, NULL, 0))
			rc = fn(l, arg);
	free(e);
	free(l);
	return rc;
}

/*
 * evac_request.c: parses the host maintenance request (xenstore-schema/README.md, node
 * /local/domain/0/migr/request) with yajl's tree parser, after migr_json_check() has
 * bounded its nesting.
 *
 * Entry point: migr_evac_request_parse(). Untrusted input: length-capped, every key known,
 * every value type- and range-checked, host names and ids by the schema's grammars.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>
#include "libmigr.h"

static int bad(char *why, size_t wl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t wl, const char *fmt, ...)
{
	va_list ap;

	if (why && wl) {
		va_start(ap, fmt);
		vsnprintf(why, wl, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int charset_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(extra, c)))
			return 0;
	}
	return 1;
}

static int text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* An integer JSON number within [lo, hi]. */
static int get_int(yajl_val v, long long lo, long long hi, long long *r)
{
	if (!YAJL_IS_INTEGER(v))
		return -EINVAL;
	if (YAJL_GET_INTEGER(v) < lo || YAJL_GET_INTEGER(v) > hi)
		return -ERANGE;
	*r = YAJL_GET_INTEGER(v);
	return 0;
}

int migr_evac_request_parse(const char *json, size_t len, struct migr_evac_request *req_r,
			    char *why, size_t wl)
{
	struct migr_evac_request q;
	char *buf = NULL, err[128];
	yajl_val root = NULL;
	int rc = -EINVAL;
	bool have_action = false;

	memset(&q, 0, sizeof(q));
	q.notice_s = -1;
	if (!json || len == 0 || len > 4096) {
		rc = bad(why, wl, "request empty or longer than 4096 bytes");
		goto out;
	}
	if (memchr(json, 0, len) || migr_json_check(json, len, 4)) {
		rc = bad(why, wl, "request is not well-formed JSON (nesting at most 4)");
		goto out;
	}
	if (!(buf = strndup(json, len))) {
		rc = -ENOMEM;
		goto out;
	}
	root = yajl_tree_parse(buf, err, sizeof(err));
	if (!root) {
		rc = bad(why, wl, "request is not JSON: %.80s", err);
		goto out;
	}
	if (!YAJL_IS_OBJECT(root)) {
		rc = bad(why, wl, "request is not a JSON object");
		goto out;
	}
	for (size_t i = 0; i < root->u.object.len; i++) {
		const char *k = root->u.object.keys[i];
		yajl_val v = root->u.object.values[i];
		long long x;

		for (size_t j = 0; j < i; j++)
			if (!strcmp(root->u.object.keys[j], k)) {
				rc = bad(why, wl, "key \"%.40s\" given twice", k);
				goto out;
			}

		if (!strcmp(k, "action")) {
			const char *s = YAJL_GET_STRING(v);

			if (!s)
				goto type;
			if (!strcmp(s, "evacuate"))
				q.action = MIGR_EVAC_ACTION_EVACUATE;
			else if (!strcmp(s, "cancel"))
				q.action = MIGR_EVAC_ACTION_CANCEL;
			else {
				rc = bad(why, wl, "action must be \"evacuate\" or \"cancel\"");
				goto out;
			}
			have_action = true;
		} else if (!strcmp(k, "id")) {
			const char *s = YAJL_GET_STRING(v);

			if (!s || !charset_ok(s, 64, "._:@+-")) {
				rc = bad(why, wl, "id must be a token of 1..64 [A-Za-z0-9._:@+-]");
				goto out;
			}
			snprintf(q.id, sizeof(q.id), "%s", s);
		} else if (!strcmp(k, "to")) {
			if (!YAJL_IS_ARRAY(v))
				goto type;
			if (v->u.array.len > MIGR_EVAC_MAX_TARGETS) {
				rc = bad(why, wl, "at most %d targets", MIGR_EVAC_MAX_TARGETS);
				goto out;
			}
			for (size_t j = 0; j < v->u.array.len; j++) {
				const char *s = YAJL_GET_STRING(v->u.array.values[j]);

				if (!s || !charset_ok(s, 255, "._:[]-")) {
					rc = bad(why, wl, "to[%zu] is not a host name", j);
					goto out;
				}
				snprintf(q.to[q.nto++], MIGR_PLAN_HOST_MAX, "%s", s);
			}
		} else if (!strcmp(k, "deadline")) {
			if ((rc = get_int(v, 0, 4102444800ll, &x)))
				goto range;
			q.deadline = x;
		} else if (!strcmp(k, "reason")) {
			const char *s = YAJL_GET_STRING(v);

			if (!s || !text_ok(s, 256)) {
				rc = bad(why, wl, "reason must be printable ASCII of at most 256 chars");
				goto out;
			}
			snprintf(q.reason, sizeof(q.reason), "%s", s);
		} else if (!strcmp(k, "parallel")) {
			if ((rc = get_int(v, 0, 64, &x)))
				goto range;
			q.parallel = x;
		} else if (!strcmp(k, "notice")) {
			if ((rc = get_int(v, 0, 86400, &x)))
				goto range;
			q.notice_s = x;
		} else if (!strcmp(k, "downtime")) {
			if ((rc = get_int(v, 1, 600000, &x)))
				goto range;
			q.downtime_ms = x;
		} else {
			rc = bad(why, wl, "unknown key \"%.40s\"", k);
			goto out;
		}
		continue;
type:
		rc = bad(why, wl, "\"%.40s\" has the wrong type", k);
		goto out;
range:
		rc = bad(why, wl, "\"%.40s\" must be an integer in range", k);
		goto out;
	}
	if (!have_action) {
		rc = bad(why, wl, "request has no action");
		goto out;
	}
	*req_r = q;
	rc = 0;
out:
	yajl_tree_free(root);
	free(buf);
	return rc;
}

/*
 * etcd.c: an etcd v3 client over etcd's JSON gateway (grpc-gateway: POST /v3/<service>/
 * <call> with the protobuf message as JSON, bytes fields in base64, 64-bit integers as
 * strings), with libcurl and yajl. The ops table of migr/etcd.h, the real side.
 *
 * Entry points: migr_etcd_open(), migr_etcd_close(), migr_etcd_endpoints_check(),
 * migr_etcd_kv_clear(), migr_etcd_list_free(), migr_b64_encode(), migr_b64_decode().
 *
 * An answer is read into a buffer capped per call, checked for nesting depth before yajl
 * builds its tree (whose free is recursive), and then read field by field with each
 * field's type checked; fields proto3 leaves out (zero, false, empty) are their zero.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <yajl/yajl_tree.h>

#include "libmigr.h"
#include "migr/etcd.h"
#include "report_int.h"   /* migr__json_depth_ok() */
#include "util.h"

#define ENDPOINTS_MAX 16
#define JSON_DEPTH_MAX 16
#define ANSWER_MAX (1u << 20)           /* one key's answer */
#define LIST_ANSWER_MAX (16u << 20)     /* a list's */

struct etcd_client {
	struct migr_etcd e;                  /* first: the seam's handle */
	pthread_mutex_t lock;
	CURL *curl;
	char *url[ENDPOINTS_MAX];            /* scheme://host:port, no path */
	unsigned int n, current;             /* the endpoint tried first */
	char *ca, *cert, *key;
	unsigned int timeout_ms, connect_timeout_ms;
};

#define EC(e) ((struct etcd_client *)(e))

/* ---- base64 ---------------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void migr_b64_encode(const void *in, size_t len, char *out)
{
	const uint8_t *p = in;
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int migr_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t *out_len_r)
{
	size_t o = 0;

	if (inlen % 4)
		return -EINVAL;
	for (size_t i = 0; i < inlen; i += 4) {
		int v[4], pad = 0;
		bool last = i + 4 == inlen;

		for (int k = 0; k < 4; k++) {
			if (last && k >= 2 && in[i + k] == '=') {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad || (v[k] = b64_val(in[i + k])) < 0)
				return -EINVAL;    /* a character after '=', or not base64 */
		}
		/* canonical: the bits padding leaves over are zero */
		if ((pad == 2 && (v[1] & 15)) || (pad == 1 && (v[2] & 3)))
			return -EINVAL;
		out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (uint8_t)(v[2] << 6 | v[3]);
	}
	*out_len_r = o;
	return 0;
}

/* A base64 string of at most max decoded bytes, malloc'd and NUL-terminated. */
static int b64_dup(const char *in, size_t max, char **out_r, size_t *len_r)
{
	size_t inlen = strlen(in), len;
	char *out;

	if (inlen / 4 * 3 > max + 2)
		return -EPROTO;
	if (!(out = malloc(inlen / 4 * 3 + 1)))
		return -ENOMEM;
	if (migr_b64_decode(in, inlen, (uint8_t *)out, &len) || len > max) {
		free(out);
		return -EPROTO;
	}
	out[len] = '\0';
	*out_r = out;
	*len_r = len;
	return 0;
}

/* ---- endpoints ------------------------------------------------------------------- */

/* One endpoint into url (scheme://host:port): -EINVAL with why in err. */
static int endpoint_url(const char *ep, size_t len, bool tls, char *url, size_t urllen,
			char *err, size_t errlen)
{
	const char *scheme = tls ? "https" : "http", *hp = ep;
	size_t hplen = len, i;
	bool port = false;

	if (len > 7 && !strncmp(ep, "http://", 7)) {
		scheme = "http";
		hp += 7;
		hplen -= 7;
	} else if (len > 8 && !strncmp(ep, "https://", 8)) {
		scheme = "https";
		hp += 8;
		hplen -= 8;
	}
	if (!hplen || hplen > 255) {
		migr__text(err, errlen, "etcd endpoint \"%.*s\": no host, or too long", (int)len, ep);
		return -EINVAL;
	}
	for (i = 0; i < hplen; i++) {
		char c = hp[i];
		if (!isalnum((unsigned char)c) && !strchr(".-:[]", c)) {
			migr__text(err, errlen, "etcd endpoint \"%.*s\": '%c' in HOST:PORT (no path)",
				   (int)len, ep, c);
			return -EINVAL;
		}
	}
	/* HOST:PORT, [V6]:PORT: a port of digits after the last ':' */
	for (i = hplen; i > 0 && isdigit((unsigned char)hp[i - 1]); i--)
		;
	port = i > 1 && hp[i - 1] == ':' && i < hplen && hplen - i <= 5 &&
	       (hp[0] != '[' || hp[i - 2] == ']');
	if (!port || atoi(hp + i) < 1 || atoi(hp + i) > 65535) {
		migr__text(err, errlen, "etcd endpoint \"%.*s\": expected [http[s]://]HOST:PORT",
			   (int)len, ep);
		return -EINVAL;
	}
	if ((size_t)snprintf(url, urllen, "%s://%.*s", scheme, (int)hplen, hp) >= urllen)
		return -EINVAL;
	return 0;
}

/* Calls fn on each endpoint's URL. */
static int endpoints_each(const char *eps, bool tls, char *err, size_t errlen,
			  int (*fn)(const char *url, void *arg), void *arg)
{
	char url[300];
	const char *p, *e;
	unsigned int n = 0;
	int rc;

	if (!eps || !*eps) {
		migr__text(err, errlen, "no etcd endpoint given");
		return -EINVAL;
	}
	for (p = eps; ; p = e + 1) {
		e = strchrnul(p, ',');
		if (++n > ENDPOINTS_MAX) {
			migr__text(err, errlen, "more than %d etcd endpoints", ENDPOINTS_MAX);
			return -EINVAL;
		}
		if ((rc = endpoint_url(p, (size_t)(e - p), tls, url, sizeof(url), err, errlen)))
			return rc;
		if (fn && (rc = fn(url, arg)))
			return rc;
		if (!*e)
			return 0;
	}
}

int migr_etcd_endpoints_check(const char *endpoints, char *err, size_t errlen)
{
	char dummy[8];

	if (!err) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	return endpoints_each(endpoints, false, err, errlen, NULL, NULL);
}

/* ---- one call -------------------------------------------------------------------- */

struct answer {
	char *buf;
	size_t len, cap, max;
	bool over;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t len = size * n;

	if (a->len + len > a->max) {
		a->over = true;
		return 0;                       /* curl stops: CURLE_WRITE_ERROR */
	}
	if (a->len + len + 1 > a->cap) {
		size_t cap = a->cap ? a->cap : 4096;
		char *b;

		while (cap < a->len + len + 1)
			cap *= 2;
		if (!(b = realloc(a->buf, cap)))
			return 0;
		a->buf = b;
		a->cap = cap;
	}
	memcpy(a->buf + a->len, p, len);
	a->len += len;
	a->buf[a->len] = '\0';
	return len;
}

/* An error answer of etcd's: its code (gRPC's; 5 is NOT_FOUND) and message, logged. */
static int etcd_error(struct etcd_client *c, const char *path, long status, yajl_val root)
{
	const char *p_code[] = { "code", NULL }, *p_msg[] = { "message", NULL };
	yajl_val code = root ? yajl_tree_get(root, p_code, yajl_t_number) : NULL;
	yajl_val msg = root ? yajl_tree_get(root, p_msg, yajl_t_string) : NULL;
	long long grpc = code && YAJL_IS_INTEGER(code) ? YAJL_GET_INTEGER(code) : -1;

	if (grpc == 5)
		return -ENOENT;
	migr__log(c->e.lg, XTL_ERROR, "etcd: %s: refused (HTTP %ld, code %lld): %.200s",
		  path, status, grpc, msg ? YAJL_GET_STRING(msg) : "(no message)");
	return -EIO;
}

static bool not_reached(CURLcode cc)
{
	return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
	       cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_SSL_CERTPROBLEM ||
	       cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
	       cc == CURLE_UNSUPPORTED_PROTOCOL;
}

/*
 * POSTs body to path on the endpoints in turn (within the call's timeout) and parses the
 * answer of the first that gives one: *root_r (yajl_tree_free()). -ENOENT: etcd said
 * NOT_FOUND. Logs its failures.
 */
static int call(struct etcd_client *c, const char *path, const char *body, size_t max,
		yajl_val *root_r)
{
	struct answer a = { .max = max };
	struct curl_slist *hdr = NULL;
	uint64_t deadline = migr__now_us() + (uint64_t)c->timeout_ms * 1000;
	char url[400], yerr[128], cerr[CURL_ERROR_SIZE];
	bool sent = false;
	yajl_val root = NULL;
	long status = 0;
	int rc = -ECONNREFUSED;

	hdr = curl_slist_append(NULL, "Content-Type: application/json");
	if (!hdr)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	for (unsigned int k = 0; k < c->n; k++) {
		unsigned int i = (c->current + k) % c->n;
		uint64_t now = migr__now_us();
		long left_ms = now < deadline ? (long)((deadline - now) / 1000) : 0;
		CURLcode cc;

		if (left_ms < 10) {
			rc = sent ? -ETIMEDOUT : rc;
			break;
		}
		a.len = 0;
		a.over = false;
		cerr[0] = '\0';
		snprintf(url, sizeof(url), "%s%s", c->url[i], path);
		curl_easy_setopt(c->curl, CURLOPT_URL, url);
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &a);
		curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, cerr);
		curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, left_ms);
		curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
				 (long)c->connect_timeout_ms < left_ms ? (long)c->connect_timeout_ms
								       : left_ms);
		cc = curl_easy_perform(c->curl);
		if (cc != CURLE_OK) {
			/* a request that never went (no connection, no TLS session, no byte
			 * of it written) reached no etcd; anything else may have */
			long req = 0;

			curl_easy_getinfo(c->curl, CURLINFO_REQUEST_SIZE, &req);
			sent = sent || (!not_reached(cc) && req > 0);
			if (a.over) {
				migr__log(c->e.lg, XTL_ERROR, "etcd: %s: %s answered more than %zu "
					  "bytes", path, c->url[i], max);
				rc = -EPROTO;
				goto out;
			}
			migr__log(c->e.lg, XTL_DETAIL, "etcd: %s: %s: %s%s", path, c->url[i],
				  cerr[0] ? cerr : curl_easy_strerror(cc),
				  k + 1 < c->n ? ", trying the next endpoint" : "");
			rc = sent ? -ETIMEDOUT : -ECONNREFUSED;
			continue;
		}
		c->current = i;
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		if (!a.buf || !migr__json_depth_ok(a.buf, a.len, JSON_DEPTH_MAX) ||
		    !(root = yajl_tree_parse(a.buf, yerr, sizeof(yerr))) || !YAJL_IS_OBJECT(root)) {
			migr__log(c->e.lg, XTL_ERROR, "etcd: %s: %s (HTTP %ld) answered no JSON "
				  "object", path, c->url[i], status);
			rc = -EPROTO;
			goto out;
		}
		if (status != 200) {
			rc = etcd_error(c, path, status, root);
			goto out;
		}
		*root_r = root;
		root = NULL;
		rc = 0;
		goto out;
	}
	if (rc == -ECONNREFUSED)
		migr__log(c->e.lg, XTL_ERROR, "etcd: %s: no endpoint could be reached", path);
	else if (rc == -ETIMEDOUT)
		migr__log(c->e.lg, XTL_ERROR, "etcd: %s: no answer within %u ms", path,
			  c->timeout_ms);
out:
	pthread_mutex_unlock(&c->lock);
	if (root)
		yajl_tree_free(root);
	curl_slist_free_all(hdr);
	free(a.buf);
	return rc;
}

/* ---- fields of an answer --------------------------------------------------------- */

static yajl_val field(yajl_val obj, const char *name)
{
	return migr__json_member(obj, name);
}

/* An int64 field: a string of digits (the gateway's form) or a JSON integer; absent: 0. */
static int get_i64(yajl_val obj, const char *name, int64_t *v_r)
{
	yajl_val v = field(obj, name);
	const char *s;
	char *end;
	long long n;

	if (!v) {
		*v_r = 0;
		return 0;
	}
	if (YAJL_IS_INTEGER(v)) {
		*v_r = YAJL_GET_INTEGER(v);
		return 0;
	}
	if (!YAJL_IS_STRING(v))
		return -EPROTO;
	s = YAJL_GET_STRING(v);
	if (!s || !(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]))) ||
	    strlen(s) > 20)
		return -EPROTO;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || *end)
		return -EPROTO;
	*v_r = n;
	return 0;
}

static int get_bool(yajl_val obj, const char *name, bool *v_r)
{
	yajl_val v = field(obj, name);

	if (!v)
		*v_r = false;
	else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v))
		*v_r = YAJL_IS_TRUE(v);
	else
		return -EPROTO;
	return 0;
}

void migr_etcd_kv_clear(struct migr_etcd_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void migr_etcd_list_free(struct migr_etcd_kv *v, unsigned int n)
{
	for (unsigned int i = 0; v && i < n; i++)
		migr_etcd_kv_clear(&v[i]);
	free(v);
}

/* One mvccpb.KeyValue. */
static int parse_kv(yajl_val o, struct migr_etcd_kv *kv_r)
{
	struct migr_etcd_kv kv = { 0 };
	yajl_val k = field(o, "key"), v = field(o, "value");
	size_t klen;
	int rc = -EPROTO;

	if (!YAJL_IS_OBJECT(o) || !k || !YAJL_IS_STRING(k) || (v && !YAJL_IS_STRING(v)))
		return -EPROTO;
	if ((rc = b64_dup(YAJL_GET_STRING(k), MIGR_ETCD_KEY_MAX, &kv.key, &klen)))
		goto out;
	rc = -EPROTO;
	if (klen != strlen(kv.key))         /* a NUL inside: no key of ours */
		goto out;
	if ((rc = b64_dup(v ? YAJL_GET_STRING(v) : "", MIGR_ETCD_VALUE_MAX, &kv.value,
			  &kv.value_len)))
		goto out;
	if ((rc = get_i64(o, "create_revision", &kv.create_revision)) ||
	    (rc = get_i64(o, "mod_revision", &kv.mod_revision)) ||
	    (rc = get_i64(o, "version", &kv.version)) || (rc = get_i64(o, "lease", &kv.lease)))
		goto out;
	rc = -EPROTO;
	if (kv.create_revision < 0 || kv.mod_revision <= 0 || kv.version < 0 || kv.lease < 0)
		goto out;
	*kv_r = kv;
	return 0;
out:
	migr_etcd_kv_clear(&kv);
	return rc;
}

/* The kvs of a RangeResponse (obj): at most max, each checked to be in [key, end). */
static int parse_kvs(yajl_val obj, const char *key, const char *end, unsigned int max,
		     struct migr_etcd_kv **v_r, unsigned int *n_r)
{
	yajl_val kvs = field(obj, "kvs");
	struct migr_etcd_kv *v = NULL;
	unsigned int n = 0;
	int64_t count;
	int rc;

	if ((rc = get_i64(obj, "count", &count)))
		return rc;
	if (kvs && !YAJL_IS_ARRAY(kvs))
		return -EPROTO;
	if (count > (int64_t)max || (kvs && kvs->u.array.len > max))
		return -E2BIG;
	if (kvs && kvs->u.array.len && !(v = calloc(kvs->u.array.len, sizeof(*v))))
		return -ENOMEM;
	for (; kvs && n < kvs->u.array.len; n++) {
		if ((rc = parse_kv(kvs->u.array.values[n], &v[n])))
			goto out;
		rc = -EPROTO;
		if (end ? strcmp(v[n].key, key) < 0 || (end[0] && strcmp(v[n].key, end) >= 0)
			: strcmp(v[n].key, key))
			goto out;                   /* not what was asked for */
	}
	*v_r = v;
	*n_r = n;
	return 0;
out:
	migr_etcd_list_free(v, n + 1);
	return rc;
}

/* ---- the calls ------------------------------------------------------------------- */

/* "<b64 of s>" into a malloc'd buffer */
static char *b64_of(const char *s, size_t len)
{
	char *o = malloc((len + 2) / 3 * 4 + 1);

	if (o)
		migr_b64_encode(s, len, o);
	return o;
}

static bool key_ok(const char *key)
{
	return key && key[0] && strlen(key) <= MIGR_ETCD_KEY_MAX;
}

static int ec_range(struct etcd_client *c, const char *key, const char *end, unsigned int max,
		    struct migr_etcd_kv **v_r, unsigned int *n_r)
{
	char *k = NULL, *ke = NULL, *body = NULL;
	yajl_val root = NULL;
	int rc = -ENOMEM;

	if (!key_ok(key))
		return -EINVAL;
	if (!(k = b64_of(key, strlen(key))) || (end && !(ke = b64_of(end, strlen(end)))))
		goto out;
	if (asprintf(&body, "{\"key\":\"%s\"%s%s%s,\"limit\":\"%u\"}", k,
		     end ? ",\"range_end\":\"" : "", end ? ke : "", end ? "\"" : "", max + 1) < 0) {
		body = NULL;
		goto out;
	}
	if ((rc = call(c, "/v3/kv/range", body, end ? LIST_ANSWER_MAX : ANSWER_MAX, &root)))
		goto out;
	if ((rc = parse_kvs(root, key, end, max, v_r, n_r)) == -EPROTO)
		migr__log(c->e.lg, XTL_ERROR, "etcd: range %s: the answer is not a range's", key);
out:
	if (root)
		yajl_tree_free(root);
	free(k);
	free(ke);
	free(body);
	return rc;
}

static int ec_get(struct migr_etcd *e, const char *key, struct migr_etcd_kv *kv_r)
{
	struct migr_etcd_kv *v = NULL;
	unsigned int n = 0;
	int rc = ec_range(EC(e), key, NULL, 1, &v, &n);

	if (!rc && !n)
		rc = -ENOENT;
	if (!rc) {
		*kv_r = v[0];
		free(v);
		return 0;
	}
	migr_etcd_list_free(v, n);
	return rc;
}

static int ec_list(struct migr_etcd *e, const char *prefix, unsigned int max,
		   struct migr_etcd_kv **v_r, unsigned int *n_r)
{
	char end[MIGR_ETCD_KEY_MAX + 1];
	size_t len = prefix ? strlen(prefix) : 0;

	/* the range of a prefix: [prefix, prefix with its last byte + 1) */
	if (!len || len > MIGR_ETCD_KEY_MAX || (unsigned char)prefix[len - 1] == 0xff)
		return -EINVAL;
	memcpy(end, prefix, len + 1);
	end[len - 1]++;
	return ec_range(EC(e), prefix, end, max, v_r, n_r);
}

static int ec_put(struct migr_etcd *e, const char *key, const char *value, size_t len,
		  int64_t lease)
{
	char *k = NULL, *v = NULL, *body = NULL;
	yajl_val root = NULL;
	int rc = -ENOMEM;

	if (!key_ok(key) || len > MIGR_ETCD_VALUE_MAX)
		return -EINVAL;
	if (!(k = b64_of(key, strlen(key))) || !(v = b64_of(value, len)))
		goto out;
	if (asprintf(&body, "{\"key\":\"%s\",\"value\":\"%s\",\"lease\":\"%" PRId64 "\"}", k, v,
		     lease) < 0) {
		body = NULL;
		goto out;
	}
	rc = call(EC(e), "/v3/kv/put", body, ANSWER_MAX, &root);   /* -ENOENT: no such lease */
out:
	if (root)
		yajl_tree_free(root);
	free(k);
	free(v);
	free(body);
	return rc;
}

static int ec_del(struct migr_etcd *e, const char *key)
{
	char *k = NULL, *body = NULL;
	yajl_val root = NULL;
	int rc = -ENOMEM;

	if (!key_ok(key))
		return -EINVAL;
	if (!(k = b64_of(key, strlen(key))))
		goto out;
	if (asprintf(&body, "{\"key\":\"%s\"}", k) < 0) {
		body = NULL;
		goto out;
	}
	rc = call(EC(e), "/v3/kv/deleterange", body, ANSWER_MAX, &root);
out:
	if (root)
		yajl_tree_free(root);
	free(k);
	free(body);
	return rc;
}

/*
 * A Txn: if the key's mod_revision is still rev (rev 0: its create_revision is 0, i.e.
 * it does not exist), put; else range it, so that the loser learns what won.
 */
static int ec_cas(struct migr_etcd *e, const char *key, int64_t rev, const char *value,
		  size_t len, int64_t lease, bool *won_r, struct migr_etcd_kv *cur_r)
{
	struct etcd_client *c = EC(e);
	char *k = NULL, *v = NULL, *body = NULL;
	yajl_val root = NULL, resp, rr;
	bool won;
	int rc = -ENOMEM;

	if (!key_ok(key) || len > MIGR_ETCD_VALUE_MAX || rev < 0)
		return -EINVAL;
	if (!(k = b64_of(key, strlen(key))) || !(v = b64_of(value, len)))
		goto out;
	if (asprintf(&body, "{\"compare\":[{\"key\":\"%s\",\"target\":\"%s\",\"result\":\"EQUAL\","
		     "\"%s\":\"%" PRId64 "\"}],\"success\":[{\"request_put\":{\"key\":\"%s\","
		     "\"value\":\"%s\",\"lease\":\"%" PRId64 "\"}}],\"failure\":[{\"request_range\":"
		     "{\"key\":\"%s\"}}]}", k, rev ? "MOD" : "CREATE",
		     rev ? "mod_revision" : "create_revision", rev, k, v, lease, k) < 0) {
		body = NULL;
		goto out;
	}
	if ((rc = call(c, "/v3/kv/txn", body, ANSWER_MAX, &root)))
		goto out;
	rc = -EPROTO;
	if (get_bool(root, "succeeded", &won))
		goto out_proto;
	resp = field(root, "responses");
	if (!resp || !YAJL_IS_ARRAY(resp) || resp->u.array.len != 1)
		goto out_proto;
	if (won) {
		if (!field(resp->u.array.values[0], "response_put"))
			goto out_proto;
	} else {
		struct migr_etcd_kv *kvs = NULL;
		unsigned int n = 0;

		rr = field(resp->u.array.values[0], "response_range");
		if (!rr || !YAJL_IS_OBJECT(rr) || (rc = parse_kvs(rr, key, NULL, 1, &kvs, &n)))
			goto out_proto;
		if (cur_r && n) {
			*cur_r = kvs[0];
			free(kvs);
		} else {
			migr_etcd_list_free(kvs, n);
			if (cur_r)
				memset(cur_r, 0, sizeof(*cur_r));
		}
	}
	*won_r = won;
	rc = 0;
	goto out;
out_proto:
	migr__log(c->e.lg, XTL_ERROR, "etcd: compare-and-swap of %s: the answer is not a txn's",
		  key);
	rc = -EPROTO;
out:
	if (root)
		yajl_tree_free(root);
	free(k);
	free(v);
	free(body);
	return rc;
}

static int ec_lease_grant(struct migr_etcd *e, int64_t ttl_s, int64_t *id_r, int64_t *ttl_r)
{
	char body[64];
	yajl_val root = NULL;
	int64_t id, ttl;
	int rc;

	if (ttl_s <= 0 || ttl_s > 86400)
		return -EINVAL;
	snprintf(body, sizeof(body), "{\"TTL\":\"%" PRId64 "\"}", ttl_s);
	if ((rc = call(EC(e), "/v3/lease/grant", body, ANSWER_MAX, &root)))
		return rc;
	rc = -EPROTO;
	if (get_i64(root, "ID", &id) || get_i64(root, "TTL", &ttl) || id <= 0 || ttl <= 0 ||
	    ttl > 86400)
		migr__log(e->lg, XTL_ERROR, "etcd: lease grant: the answer holds no lease");
	else {
		*id_r = id;
		*ttl_r = ttl;
		rc = 0;
	}
	yajl_tree_free(root);
	return rc;
}

static int ec_lease_keepalive(struct migr_etcd *e, int64_t id, int64_t *ttl_r)
{
	char body[64];
	yajl_val root = NULL, res;
	int64_t rid, ttl;
	int rc;

	snprintf(body, sizeof(body), "{\"ID\":\"%" PRId64 "\"}", id);
	/* a stream in gRPC: the gateway answers one message, as {"result": ...} */
	if ((rc = call(EC(e), "/v3/lease/keepalive", body, ANSWER_MAX, &root)))
		return rc;
	rc = -EPROTO;
	res = field(root, "result");
	if (!res || !YAJL_IS_OBJECT(res) || get_i64(res, "ID", &rid) || get_i64(res, "TTL", &ttl) ||
	    rid != id || ttl < 0 || ttl > 86400) {
		migr__log(e->lg, XTL_ERROR, "etcd: lease keepalive: the answer is not one");
	} else if (!ttl) {
		rc = -ENOENT;                    /* expired, or revoked */
	} else {
		*ttl_r = ttl;
		rc = 0;
	}
	yajl_tree_free(root);
	return rc;
}

static int ec_lease_revoke(struct migr_etcd *e, int64_t id)
{
	char body[64];
	yajl_val root = NULL;
	int rc;

	snprintf(body, sizeof(body), "{\"ID\":\"%" PRId64 "\"}", id);
	rc = call(EC(e), "/v3/lease/revoke", body, ANSWER_MAX, &root);
	if (root)
		yajl_tree_free(root);
	return rc == -ENOENT ? 0 : rc;
}

static void ec_close(struct migr_etcd *e)
{
	struct etcd_client *c = EC(e);

	if (c->curl)
		curl_easy_cleanup(c->curl);
	for (unsigned int i = 0; i < c->n; i++)
		free(c->url[i]);
	free(c->ca);
	free(c->cert);
	free(c->key);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static const struct migr_etcd_ops client_ops = {
	.get = ec_get, .list = ec_list, .put = ec_put, .del = ec_del, .cas = ec_cas,
	.lease_grant = ec_lease_grant, .lease_keepalive = ec_lease_keepalive,
	.lease_revoke = ec_lease_revoke, .close = ec_close,
};

/* ---- open, close ----------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_ALL);
}

static int add_url(const char *url, void *arg)
{
	struct etcd_client *c = arg;

	if (!(c->url[c->n] = strdup(url)))
		return -ENOMEM;
	c->n++;
	return 0;
}

static int dup_opt(const char *s, char **out)
{
	*out = NULL;
	return s && s[0] && !(*out = strdup(s)) ? -ENOMEM : 0;
}

int migr_etcd_open(const struct migr_etcd_opts *o, struct migr_etcd **e_r)
{
	struct etcd_client *c;
	char err[MIGR_ERR_MAX];
	int rc;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return -ENOMEM;
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->e.ops = &client_ops;
	c->e.lg = o->lg;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : 3000;
	c->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 1000;
	if ((rc = endpoints_each(o->endpoints, o->ca_file && o->ca_file[0], err, sizeof(err),
				 add_url, c))) {
		if (rc == -EINVAL)
			migr__log(o->lg, XTL_ERROR, "etcd: %s", err);
		goto out_free;
	}
	rc = -EINVAL;
	if (!o->cert_file != !o->key_file) {
		migr__log(o->lg, XTL_ERROR, "etcd: a client certificate needs its key, and a key "
			  "its certificate");
		goto out_free;
	}
	rc = -ENOMEM;
	if (dup_opt(o->ca_file, &c->ca) || dup_opt(o->cert_file, &c->cert) ||
	    dup_opt(o->key_file, &c->key) || !(c->curl = curl_easy_init()))
		goto out_free;
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);          /* threads */
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->curl, CURLOPT_NOPROXY, "*");          /* etcd is reached directly */
	curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (c->ca)
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca);
	if (c->cert) {
		curl_easy_setopt(c->curl, CURLOPT_SSLCERT, c->cert);
		curl_easy_setopt(c->curl, CURLOPT_SSLKEY, c->key);
	}
	*e_r = &c->e;
	return 0;
out_free:
	ec_close(&c->e);
	return rc;
}

void migr_etcd_close(struct migr_etcd *e)
{
	if (e)
		e->ops->close(e);
}

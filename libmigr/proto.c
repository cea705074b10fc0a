/*
 * proto.c: the messages between source and target (migr/proto.h, docs/protocol.md).
 *
 * Entry points: migr_msg_encode(), migr_frame_check(), migr_msg_decode() (the pure codec),
 * migr_msg_send()/recv()/expect() over a connection, migr_hello_check(), the migration
 * ids and the names of codes.
 *
 * Each message type is described once, by a table of its fields (tag, type, bounds,
 * required or not, where it lives in struct migr_msg); the encoder and the decoder both
 * walk that table, and the encoder checks its own output with the decoder, so nothing
 * leaves that the peer would reject. Bytes from the peer are hostile: the decoder bounds
 * every length before it reads, validates every value, refuses duplicates, missing
 * required fields and unknown mandatory ones, and never reads past the payload.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "libmigr.h"
#include "migr/etcd.h"
#include "transport_int.h"


/* ---- names -------------------------------------------------------------------------- */

static const char *const type_names[] = {
	[MIGR_MSG_HELLO] = "HELLO",
	[MIGR_MSG_PREFLIGHT] = "PREFLIGHT",
	[MIGR_MSG_PREFLIGHT_REPLY] = "PREFLIGHT_REPLY",
	[MIGR_MSG_CONFIG] = "CONFIG",
	[MIGR_MSG_DATA] = "DATA",
	[MIGR_MSG_ZERO] = "ZERO",
	[MIGR_MSG_CDATA] = "CDATA",
	[MIGR_MSG_DATA_END] = "DATA_END",
	[MIGR_MSG_READY] = "READY",
	[MIGR_MSG_GO] = "GO",
	[MIGR_MSG_DONE] = "DONE",
	[MIGR_MSG_ABORT] = "ABORT",
	[MIGR_MSG_RESOLVE] = "RESOLVE",
	[MIGR_MSG_RESOLVE_REPLY] = "RESOLVE_REPLY",
	[MIGR_MSG_SETTLED] = "SETTLED",
};
#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

const char *migr_msg_type_name(uint32_t type)
{
	return type < NTYPES && type_names[type] ? type_names[type] : "unknown";
}

const char *migr_refuse_name(uint32_t code)
{
	static const char *const n[] = { "none", "not enough memory", "incompatible Xen version",
		"name clash", "unsupported guest type", "busy", "other" };

	return code < sizeof(n) / sizeof(n[0]) ? n[code] : "other";
}

const char *migr_abort_name(uint32_t code)
{
	static const char *const n[] = { "other", "cancelled", "policy", "save failed",
		"restore failed", "refused", "protocol error", "timeout", "bad config",
		"unpause failed" };

	return code < sizeof(n) / sizeof(n[0]) ? n[code] : "other";
}

const char *migr_outcome_name(uint32_t outcome)
{
	static const char *const n[] = { "unknown", "restored-paused", "running", "destroyed",
	                                 "lost" };

	return outcome < sizeof(n) / sizeof(n[0]) ? n[outcome] : "invalid";
}

/* ---- ids ---------------------------------------------------------------------------- */

int migr_id_new(struct migr_id *id_r)
{
	struct migr_id id;
	size_t got = 0;

	while (got < sizeof(id.b)) {
		ssize_t n = getrandom(id.b + got, sizeof(id.b) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	*id_r = id;
	return 0;
}

void migr_id_to_hex(const struct migr_id *id, char hex[MIGR_ID_HEX])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < sizeof(id->b); i++) {
		hex[2 * i] = digits[id->b[i] >> 4];
		hex[2 * i + 1] = digits[id->b[i] & 15];
	}
	hex[32] = '\0';
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int migr_id_from_hex(const char *hex, struct migr_id *id_r)
{
	struct migr_id id;
	size_t i;

	if (!hex || strlen(hex) != 32)
		return -EINVAL;
	for (i = 0; i < 16; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		id.b[i] = (uint8_t)(hi << 4 | lo);
	}
	*id_r = id;
	return 0;
}

bool migr_id_equal(const struct migr_id *a, const struct migr_id *b)
{
	return !memcmp(a->b, b->b, sizeof(a->b));
}

bool migr_id_is_zero(const struct migr_id *id)
{
	static const struct migr_id zero;

	return migr_id_equal(id, &zero);
}

/* ---- the tables --------------------------------------------------------------------- */

enum ftype {
	FT_U32,
	FT_U64,
	FT_BOOL,
	FT_ID,
	FT_STR,    /* printable UTF-8 into a char array of `size` (min = least length) */
	FT_JSON,   /* UTF-8 text with tabs and newlines, allocated (CONFIG) */
};

struct fdef {
	uint16_t tag;
	uint8_t type;
	bool required;
	size_t off;              /* in struct migr_msg */
	size_t size;             /* FT_STR: buffer size */
	uint64_t min, max;       /* integers: value bounds; strings: length bounds */
	const char *name;
};

struct mdef {
	const char *name;
	uint32_t cap;            /* payload cap */
	const struct fdef *f;
	size_t nf;
	int (*check)(const struct migr_msg *m, char *err, size_t errlen);
};

#define OFF(member) offsetof(struct migr_msg, member)
#define SZ(member) sizeof(((struct migr_msg *)0)->member)
#define U32(t, req, mem, lo, hi) { t, FT_U32, req, OFF(mem), 0, lo, hi, #mem }
#define U64(t, req, mem, lo, hi) { t, FT_U64, req, OFF(mem), 0, lo, hi, #mem }
#define BOOL(t, req, mem) { t, FT_BOOL, req, OFF(mem), 0, 0, 1, #mem }
#define ID(t, req, mem) { t, FT_ID, req, OFF(mem), 0, 0, 0, #mem }
#define STR(t, req, mem, minlen) { t, FT_STR, req, OFF(mem), SZ(mem), minlen, SZ(mem) - 1, #mem }

#define DOMID_MAX 0x7fefu   /* below Xen's DOMID_FIRST_RESERVED */
#define KIB_MAX (1ull << 44) /* 16 PiB */

static const struct fdef f_hello[] = {
	U32(1, true, hello.version, 1, 0xffff),
	U32(2, true, hello.min_version, 1, 0xffff),
	U32(3, true, hello.purpose, MIGR_PURPOSE_MIGRATE, MIGR_PURPOSE_RESOLVE),
	ID(4, true, hello.id),
	STR(5, false, hello.software, 0),
};
static const struct fdef f_preflight[] = {
	STR(1, true, preflight.name, 1),
	U64(2, true, preflight.memory_kib, 1, KIB_MAX),
	U32(3, true, preflight.vcpus, 1, 16384),
	U32(4, true, preflight.guest_type, MIGR_WIRE_GUEST_PV, MIGR_WIRE_GUEST_HVM),
	STR(5, true, preflight.xen_version, 1),
	STR(MIGR_FIELD_OPTIONAL | 6, false, preflight.fence_source, 0),
};
static const struct fdef f_preflight_reply[] = {
	BOOL(1, true, preflight_reply.accept),
	U32(2, true, preflight_reply.refuse, MIGR_REFUSE_NONE, MIGR_REFUSE_OTHER),
	U64(3, true, preflight_reply.free_kib, 0, KIB_MAX),
	STR(4, true, preflight_reply.xen_version, 1),
	BOOL(5, true, preflight_reply.name_clash),
	STR(6, false, preflight_reply.reason, 0),
	U64(7, false, preflight_reply.restore_hint_ns, 0, MIGR_RESTORE_HINT_MAX_NS),
	STR(MIGR_FIELD_OPTIONAL | 8, false, preflight_reply.fence_host, 0),
	U64(MIGR_FIELD_OPTIONAL | 9, false, preflight_reply.restore_estimate_ns, 0,
	    MIGR_RESTORE_HINT_MAX_NS),
	U64(MIGR_FIELD_OPTIONAL | 10, false, preflight_reply.suspend_hint_ns, 0,
	    MIGR_RESTORE_HINT_MAX_NS),
	U64(MIGR_FIELD_OPTIONAL | 11, false, preflight_reply.final_hint_ns, 0,
	    MIGR_RESTORE_HINT_MAX_NS),
	U64(MIGR_FIELD_OPTIONAL | 12, false, preflight_reply.handshake_hint_ns, 0,
	    MIGR_RESTORE_HINT_MAX_NS),
};
static const struct fdef f_config[] = {
	{ 1, FT_JSON, true, OFF(config.json), 0, 2, MIGR_CONFIG_MAX - 8, "config.json" },
};
static const struct fdef f_data_end[] = {
	U64(1, true, data_end.bytes, 0, UINT64_MAX),
};
static const struct fdef f_ready[] = {
	U32(1, true, ready.domid, 1, DOMID_MAX),
	U64(2, false, ready.bytes_in, 0, UINT64_MAX),
	U64(3, false, ready.stream_ns, 0, UINT64_MAX),
	U64(4, false, ready.restore_ns, 0, UINT64_MAX),
	U64(5, false, ready.devices_ns, 0, UINT64_MAX),
	ID(MIGR_FIELD_OPTIONAL | 6, false, ready.host_id),
};
static const struct fdef f_done[] = {
	U32(1, true, done.domid, 1, DOMID_MAX),
	U64(2, false, done.unpause_ns, 0, UINT64_MAX),
	U64(3, false, done.restore_ns, 0, UINT64_MAX),
	U64(4, false, done.devices_ns, 0, UINT64_MAX),
};
static const struct fdef f_abort[] = {
	U32(1, true, abort.code, 0, UINT32_MAX),
	STR(2, false, abort.reason, 0),
};
static const struct fdef f_resolve[] = {
	ID(1, true, resolve.id),
};
static const struct fdef f_resolve_reply[] = {
	ID(1, true, resolve_reply.id),
	U32(2, true, resolve_reply.outcome, MIGR_OUTCOME_UNKNOWN, MIGR_OUTCOME_LOST),
	U32(3, false, resolve_reply.domid, 0, DOMID_MAX),
	STR(4, false, resolve_reply.name, 0),
	ID(MIGR_FIELD_OPTIONAL | 5, false, resolve_reply.host_id),
};

static const struct fdef f_settled[] = {
	U32(1, true, settled.domid, 1, DOMID_MAX),
	U64(2, false, settled.net_back_ns, 0, UINT64_MAX),
	U32(3, false, settled.vifs, 0, UINT32_MAX),
	U32(4, false, settled.vifs_connected, 0, UINT32_MAX),
	U64(5, false, settled.first_frame_ns, 0, UINT64_MAX),
};

static int check_settled(const struct migr_msg *m, char *err, size_t errlen)
{
	if (m->settled.vifs_connected > m->settled.vifs) {
		migr__set_err(err, errlen, "SETTLED: %u of %u vifs connected",
		        m->settled.vifs_connected, m->settled.vifs);
		return -MIGR_E_PROTO;
	}
	return 0;
}

static int check_hello(const struct migr_msg *m, char *err, size_t errlen)
{
	if (m->hello.min_version > m->hello.version) {
		migr__set_err(err, errlen, "HELLO: min_version %u above version %u",
		        m->hello.min_version, m->hello.version);
		return -MIGR_E_PROTO;
	}
	if (migr_id_is_zero(&m->hello.id)) {
		migr__set_err(err, errlen, "HELLO: zero migration id");
		return -MIGR_E_PROTO;
	}
	return 0;
}

/* A fence name, when one is given, is a name etcd's keys can hold. */
static int check_fence_name(const char *name, const char *what, char *err, size_t errlen)
{
	if (name[0] && !migr_etcd_name_ok(name)) {
		migr__set_err(err, errlen, "%s: not a host name for etcd", what);
		return -MIGR_E_PROTO;
	}
	return 0;
}

static int check_preflight(const struct migr_msg *m, char *err, size_t errlen)
{
	return check_fence_name(m->preflight.fence_source, "PREFLIGHT: fence_source", err, errlen);
}

static int check_preflight_reply(const struct migr_msg *m, char *err, size_t errlen)
{
	const struct migr_msg_preflight_reply *r = &m->preflight_reply;

	if (r->accept != (r->refuse == MIGR_REFUSE_NONE)) {
		migr__set_err(err, errlen, "PREFLIGHT_REPLY: accept=%d with refusal code %u",
		        r->accept, r->refuse);
		return -MIGR_E_PROTO;
	}
	return check_fence_name(r->fence_host, "PREFLIGHT_REPLY: fence_host", err, errlen);
}

static int check_id(const struct migr_id *id, const char *what, char *err, size_t errlen)
{
	if (migr_id_is_zero(id)) {
		migr__set_err(err, errlen, "%s: zero migration id", what);
		return -MIGR_E_PROTO;
	}
	return 0;
}

static int check_resolve(const struct migr_msg *m, char *err, size_t errlen)
{
	return check_id(&m->resolve.id, "RESOLVE", err, errlen);
}

static int check_resolve_reply(const struct migr_msg *m, char *err, size_t errlen)
{
	return check_id(&m->resolve_reply.id, "RESOLVE_REPLY", err, errlen);
}

#define MDEF(t, cap, fields, chk) [t] = { &#t[9], cap, fields, \
	sizeof(fields) / sizeof(fields[0]), chk }

static const struct mdef mdefs[] = {
	MDEF(MIGR_MSG_HELLO, MIGR_MSG_MAX, f_hello, check_hello),
	MDEF(MIGR_MSG_PREFLIGHT, MIGR_MSG_MAX, f_preflight, check_preflight),
	MDEF(MIGR_MSG_PREFLIGHT_REPLY, MIGR_MSG_MAX, f_preflight_reply, check_preflight_reply),
	MDEF(MIGR_MSG_CONFIG, MIGR_CONFIG_MAX, f_config, NULL),
	[MIGR_MSG_DATA] = { "DATA", MIGR_DATA_MAX, NULL, 0, NULL },
	MDEF(MIGR_MSG_DATA_END, MIGR_MSG_MAX, f_data_end, NULL),
	MDEF(MIGR_MSG_READY, MIGR_MSG_MAX, f_ready, NULL),
	[MIGR_MSG_GO] = { "GO", MIGR_MSG_MAX, NULL, 0, NULL },
	MDEF(MIGR_MSG_DONE, MIGR_MSG_MAX, f_done, NULL),
	MDEF(MIGR_MSG_ABORT, MIGR_MSG_MAX, f_abort, NULL),
	MDEF(MIGR_MSG_RESOLVE, MIGR_MSG_MAX, f_resolve, check_resolve),
	MDEF(MIGR_MSG_RESOLVE_REPLY, MIGR_MSG_MAX, f_resolve_reply, check_resolve_reply),
	MDEF(MIGR_MSG_SETTLED, MIGR_MSG_MAX, f_settled, check_settled),
	[MIGR_MSG_ZERO] = { "ZERO", 4, NULL, 0, NULL },
	[MIGR_MSG_CDATA] = { "CDATA", MIGR_CDATA_MAX, NULL, 0, NULL },
};
#define NMDEFS (sizeof(mdefs) / sizeof(mdefs[0]))

static const struct mdef *mdef_of(uint32_t type)
{
	return type < NMDEFS && mdefs[type].name ? &mdefs[type] : NULL;
}

/* ---- decoding ----------------------------------------------------------------------- */

/*
 * Checks that p[0..len) is UTF-8 (shortest forms, no surrogates, <= U+10FFFF) without
 * NUL, C0 controls or DEL; with json, tab, LF and CR are allowed too.
 */
static bool text_valid(const uint8_t *p, size_t len, bool json)
{
	size_t i = 0;

	while (i < len) {
		uint8_t b = p[i];
		uint32_t cp;
		size_t n, k;

		if (b < 0x80) {
			if (b == 0x7f || (b < 0x20 && !(json && (b == '\t' || b == '\n' || b == '\r'))))
				return false;
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf)
			n = 1, cp = b & 0x1f;
		else if (b >= 0xe0 && b <= 0xef)
			n = 2, cp = b & 0x0f;
		else if (b >= 0xf0 && b <= 0xf4)
			n = 3, cp = b & 0x07;
		else
			return false;
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		/* C1 controls. */
		if (cp >= 0x80 && cp <= 0x9f)
			return false;
		i += n + 1;
	}
	return true;
}

static int decode_field(const struct mdef *md, const struct fdef *fd, const uint8_t *v,
                        uint32_t len, struct migr_msg *m, char *err, size_t errlen)
{
	uint8_t *dst = (uint8_t *)m + fd->off;
	uint64_t x = 0;

	switch (fd->type) {
	case FT_U32:
	case FT_U64:
	case FT_BOOL:
		if (len != (fd->type == FT_U32 ? 4u : fd->type == FT_U64 ? 8u : 1u)) {
			migr__set_err(err, errlen, "%s: field %s has length %u", md->name, fd->name, len);
			return -MIGR_E_PROTO;
		}
		x = fd->type == FT_U32 ? migr__get_be32(v) : fd->type == FT_U64 ? migr__get_be64(v) : v[0];
		if (x < fd->min || x > fd->max) {
			migr__set_err(err, errlen, "%s: field %s = %llu out of range [%llu, %llu]", md->name,
			        fd->name, (unsigned long long)x, (unsigned long long)fd->min,
			        (unsigned long long)fd->max);
			return -MIGR_E_PROTO;
		}
		if (fd->type == FT_U32) {
			uint32_t y = (uint32_t)x;

			memcpy(dst, &y, sizeof(y));
		} else if (fd->type == FT_U64) {
			memcpy(dst, &x, sizeof(x));
		} else {
			bool y = x != 0;

			memcpy(dst, &y, sizeof(y));
		}
		return 0;
	case FT_ID:
		if (len != sizeof(struct migr_id)) {
			migr__set_err(err, errlen, "%s: field %s has length %u, not 16", md->name, fd->name, len);
			return -MIGR_E_PROTO;
		}
		memcpy(dst, v, len);
		return 0;
	case FT_STR:
	case FT_JSON:
		if (len < fd->min || len > fd->max) {
			migr__set_err(err, errlen, "%s: field %s has length %u, allowed %llu..%llu", md->name,
			        fd->name, len, (unsigned long long)fd->min, (unsigned long long)fd->max);
			return -MIGR_E_PROTO;
		}
		if (!text_valid(v, len, fd->type == FT_JSON)) {
			migr__set_err(err, errlen, "%s: field %s is not valid text (UTF-8 without control "
			        "characters)", md->name, fd->name);
			return -MIGR_E_PROTO;
		}
		if (fd->type == FT_STR) {
			memcpy(dst, v, len);
			dst[len] = '\0';
		} else {
			char *s = malloc((size_t)len + 1);

			if (!s) {
				migr__set_err(err, errlen, "out of memory");
				return -ENOMEM;
			}
			memcpy(s, v, len);
			s[len] = '\0';
			m->config.json = s;
			m->config.len = len;
		}
		return 0;
	}
	migr__set_err(err, errlen, "%s: bad field table", md->name);
	return -EINVAL;
}

int migr_msg_decode(uint32_t type, const uint8_t *payload, size_t len, struct migr_msg *m_r,
                    char *err, size_t errlen)
{
	const struct mdef *md = mdef_of(type);
	struct migr_msg m;
	uint32_t seen = 0;
	size_t pos = 0, i;
	int rc;

	if (!md || type == MIGR_MSG_DATA || type == MIGR_MSG_ZERO || type == MIGR_MSG_CDATA) {
		migr__set_err(err, errlen, "cannot decode a message of type %s (%u)",
		        migr_msg_type_name(type), type);
		return -MIGR_E_PROTO;
	}
	if (len > md->cap) {
		migr__set_err(err, errlen, "%s: %zu bytes, more than its cap %u", md->name, len, md->cap);
		return -MIGR_E_PROTO;
	}
	migr_msg_init(&m, type);
	while (pos < len) {
		uint16_t tag, resv;
		uint32_t flen;
		const struct fdef *fd = NULL;

		if (len - pos < 8) {
			migr__set_err(err, errlen, "%s: truncated field header at byte %zu", md->name, pos);
			rc = -MIGR_E_PROTO;
			goto out_fail;
		}
		tag = migr__get_be16(payload + pos);
		resv = migr__get_be16(payload + pos + 2);
		flen = migr__get_be32(payload + pos + 4);
		pos += 8;
		if (flen > len - pos) {
			migr__set_err(err, errlen, "%s: field %u claims %u bytes, %zu left", md->name, tag, flen,
			        len - pos);
			rc = -MIGR_E_PROTO;
			goto out_fail;
		}
		if (resv) {
			migr__set_err(err, errlen, "%s: field %u has reserved bits set", md->name, tag);
			rc = -MIGR_E_PROTO;
			goto out_fail;
		}
		for (i = 0; i < md->nf; i++)
			if (md->f[i].tag == tag)
				fd = &md->f[i];
		if (!fd) {
			if (tag & MIGR_FIELD_OPTIONAL) {
				pos += flen;
				continue;
			}
			migr__set_err(err, errlen, "%s: unknown mandatory field %u (a newer peer?)", md->name,
			        tag);
			rc = -MIGR_E_PROTO;
			goto out_fail;
		}
		if (seen & (1u << (fd - md->f))) {
			migr__set_err(err, errlen, "%s: field %s twice", md->name, fd->name);
			rc = -MIGR_E_PROTO;
			goto out_fail;
		}
		seen |= 1u << (fd - md->f);
		rc = decode_field(md, fd, payload + pos, flen, &m, err, errlen);
		if (rc)
			goto out_fail;
		pos += flen;
	}
	for (i = 0; i < md->nf; i++) {
		if (md->f[i].required && !(seen & (1u << i))) {
			migr__set_err(err, errlen, "%s: required field %s missing", md->name, md->f[i].name);
			rc = -MIGR_E_PROTO;
			goto out_fail;
		}
	}
	if (md->check) {
		rc = md->check(&m, err, errlen);
		if (rc)
			goto out_fail;
	}
	if (type == MIGR_MSG_ABORT && m.abort.code > MIGR_ABORT_UNPAUSE)
		m.abort.code = MIGR_ABORT_OTHER;
	*m_r = m;
	return 0;

out_fail:
	migr_msg_release(&m);
	return rc;
}

int migr_frame_check(const uint8_t hdr[MIGR_FRAME_HDR], uint32_t *type_r, uint32_t *len_r,
                     char *err, size_t errlen)
{
	uint32_t type = migr__get_be32(hdr), len = migr__get_be32(hdr + 4);
	const struct mdef *md = mdef_of(type);

	if (hdr[0] == 0x16 && hdr[1] == 0x03) {
		migr__set_err(err, errlen, "the peer speaks TLS but this end runs in insecure mode");
		return -MIGR_E_PROTO;
	}
	if (!memcmp(hdr, "xl migr", 7)) {
		migr__set_err(err, errlen, "the peer is stock `xl migrate-receive`: use the xl-compatible "
		        "mode");
		return -MIGR_E_PROTO;
	}
	if (!md) {
		if (!(type & MIGR_MSG_OPTIONAL)) {
			migr__set_err(err, errlen, "unknown mandatory message type %u (0x%08x): a newer or "
			        "foreign peer?", type, type);
			return -MIGR_E_PROTO;
		}
		if (len > MIGR_MSG_MAX) {
			migr__set_err(err, errlen, "optional message type 0x%08x of %u bytes, more than %u",
			        type, len, MIGR_MSG_MAX);
			return -MIGR_E_PROTO;
		}
	} else if (len > md->cap) {
		migr__set_err(err, errlen, "%s of %u bytes, more than its cap %u", md->name, len, md->cap);
		return -MIGR_E_PROTO;
	} else if (type == MIGR_MSG_DATA && len == 0) {
		migr__set_err(err, errlen, "empty DATA frame");
		return -MIGR_E_PROTO;
	} else if (type == MIGR_MSG_ZERO && len != 4) {
		migr__set_err(err, errlen, "ZERO frame of %u bytes, not 4", len);
		return -MIGR_E_PROTO;
	} else if (type == MIGR_MSG_CDATA && len < 5) {
		migr__set_err(err, errlen, "CDATA frame of %u bytes, less than 5", len);
		return -MIGR_E_PROTO;
	}
	*type_r = type;
	*len_r = len;
	return 0;
}

/* ---- encoding ----------------------------------------------------------------------- */

void migr_msg_hello(struct migr_msg *m, uint32_t purpose, const struct migr_id *id)
{
	migr_msg_init(m, MIGR_MSG_HELLO);
	m->hello.version = MIGR_PROTO_VERSION;
	m->hello.min_version = MIGR_PROTO_MIN_VERSION;
	m->hello.purpose = purpose;
	m->hello.id = *id;
	snprintf(m->hello.software, sizeof(m->hello.software), "migr %s", migr_version());
}

void migr_msg_init(struct migr_msg *m, uint32_t type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
}

void migr_msg_release(struct migr_msg *m)
{
	if (!m)
		return;
	if (m->type == MIGR_MSG_CONFIG)
		free(m->config.json);
	memset(m, 0, sizeof(*m));
}

/* Size of field fd of m on the wire (0 = left out). */
static size_t field_size(const struct fdef *fd, const struct migr_msg *m)
{
	const uint8_t *src = (const uint8_t *)m + fd->off;

	switch (fd->type) {
	case FT_U32:
		return 8 + 4;
	case FT_U64:
		return 8 + 8;
	case FT_BOOL:
		return 8 + 1;
	case FT_ID:
		return 8 + 16;
	case FT_STR: {
		size_t n = strnlen((const char *)src, fd->size);

		return !n && !fd->required ? 0 : 8 + n;
	}
	case FT_JSON:
		return 8 + (m->config.json ? m->config.len : 0);
	}
	return 0;
}

int migr_msg_encode(const struct migr_msg *m, uint8_t **buf_r, size_t *len_r)
{
	const struct mdef *md = mdef_of(m->type);
	struct migr_msg check;
	size_t total = MIGR_FRAME_HDR, pos, i;
	uint8_t *buf;
	int rc;

	if (!md || m->type == MIGR_MSG_DATA || m->type == MIGR_MSG_ZERO || m->type == MIGR_MSG_CDATA)
		return -EINVAL;
	for (i = 0; i < md->nf; i++) {
		size_t n = field_size(&md->f[i], m);

		if (n > md->cap)
			return -EINVAL;
		total += n;
	}
	if (total - MIGR_FRAME_HDR > md->cap)
		return -EINVAL;
	buf = malloc(total);
	if (!buf)
		return -ENOMEM;
	migr__put_be32(buf, m->type);
	migr__put_be32(buf + 4, (uint32_t)(total - MIGR_FRAME_HDR));
	pos = MIGR_FRAME_HDR;
	for (i = 0; i < md->nf; i++) {
		const struct fdef *fd = &md->f[i];
		const uint8_t *src = (const uint8_t *)m + fd->off;
		size_t n = field_size(fd, m);
		uint8_t *v = buf + pos + 8;

		if (!n)
			continue;
		migr__put_be16(buf + pos, fd->tag);
		migr__put_be16(buf + pos + 2, 0);
		migr__put_be32(buf + pos + 4, (uint32_t)(n - 8));
		switch (fd->type) {
		case FT_U32: {
			uint32_t x;

			memcpy(&x, src, sizeof(x));
			migr__put_be32(v, x);
			break;
		}
		case FT_U64: {
			uint64_t x;

			memcpy(&x, src, sizeof(x));
			migr__put_be64(v, x);
			break;
		}
		case FT_BOOL: {
			bool x;

			memcpy(&x, src, sizeof(x));
			v[0] = x ? 1 : 0;
			break;
		}
		case FT_ID:
		case FT_STR:
			memcpy(v, src, n - 8);
			break;
		case FT_JSON:
			if (n > 8)
				memcpy(v, m->config.json, n - 8);
			break;
		}
		pos += n;
	}
	/* Send only what the peer's decoder accepts. */
	rc = migr_msg_decode(m->type, buf + MIGR_FRAME_HDR, total - MIGR_FRAME_HDR, &check,
	                     NULL, 0);
	if (rc) {
		free(buf);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	migr_msg_release(&check);
	*buf_r = buf;
	*len_r = total;
	return 0;
}

/* ---- over a connection -------------------------------------------------------------- */

int migr_msg_send(struct migr_conn *c, const struct migr_msg *m)
{
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	rc = migr_msg_encode(m, &buf, &len);
	if (rc)
		return migr__conn_fail(c, rc, "cannot encode %s: %s", migr_msg_type_name(m->type),
		                       rc == -EINVAL ? "a field is out of range or too long"
		                                     : strerror(-rc));
	rc = migr_conn_write(c, buf, len);
	free(buf);
	if (rc)
		return rc;
	return migr_conn_flush(c);
}

int migr_msg_send_abort(struct migr_conn *c, uint32_t code, const char *reason)
{
	struct migr_msg m;

	migr_msg_init(&m, MIGR_MSG_ABORT);
	m.abort.code = code;
	if (reason) {
		size_t n = strlen(reason), i;

		if (n >= sizeof(m.abort.reason))
			n = sizeof(m.abort.reason) - 1;
		/* Keep the message sendable whatever the caller's text holds. */
		for (i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)reason[i];

			m.abort.reason[i] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
		}
	}
	return migr_msg_send(c, &m);
}

int migr_msg_recv(struct migr_conn *c, struct migr_msg *m_r)
{
	uint8_t hdr[MIGR_FRAME_HDR], *buf;
	char err[MIGR_ERR_MAX];
	uint32_t type, len;
	struct migr_msg m;
	unsigned int skipped = 0;
	int rc;

	for (;;) {
		rc = migr_conn_read(c, hdr, sizeof(hdr));
		if (rc)
			return rc;
		rc = migr_frame_check(hdr, &type, &len, err, sizeof(err));
		if (rc) {
			c->rx_broken = rc;
			return migr__conn_fail(c, rc, "%s", err);
		}
		if (type == MIGR_MSG_DATA || type == MIGR_MSG_DATA_END || type == MIGR_MSG_ZERO ||
		    type == MIGR_MSG_CDATA) {
			c->rx_broken = -MIGR_E_PROTO;
			return migr__conn_fail(c, -MIGR_E_PROTO, "unexpected %s outside a stream",
			                       migr_msg_type_name(type));
		}
		buf = malloc(len ? len : 1);
		if (!buf)
			return migr__conn_fail(c, -ENOMEM, "out of memory for a %u-byte message", len);
		rc = migr_conn_read(c, buf, len);
		if (rc) {
			free(buf);
			return rc;
		}
		if (!mdef_of(type)) {
			free(buf);           /* unknown optional message: skipped, a few */
			if (++skipped > MIGR_OPTIONAL_RUN_MAX) {
				c->rx_broken = -MIGR_E_PROTO;
				return migr__conn_fail(c, -MIGR_E_PROTO, "more than %d unknown optional "
				                       "messages in a row", MIGR_OPTIONAL_RUN_MAX);
			}
			continue;
		}
		rc = migr_msg_decode(type, buf, len, &m, err, sizeof(err));
		free(buf);
		if (rc)
			return migr__conn_fail(c, rc, "%s", err);
		if (type == MIGR_MSG_ABORT)
			migr__conn_set_peer_abort(c, m.abort.code, m.abort.reason);
		*m_r = m;
		return 0;
	}
}

int migr_msg_expect(struct migr_conn *c, uint32_t type, struct migr_msg *m_r)
{
	struct migr_msg m;
	int rc;

	rc = migr_msg_recv(c, &m);
	if (rc)
		return rc;
	if (m.type == type) {
		*m_r = m;
		return 0;
	}
	if (m.type == MIGR_MSG_ABORT) {
		rc = migr__conn_fail(c, -MIGR_E_ABORTED, "the peer aborted (%s)%s%s",
		                     migr_abort_name(m.abort.code), m.abort.reason[0] ? ": " : "",
		                     m.abort.reason);
		migr_msg_release(&m);
		return rc;
	}
	rc = migr__conn_fail(c, -MIGR_E_PROTO, "expected %s, got %s", migr_msg_type_name(type),
	                     migr_msg_type_name(m.type));
	migr_msg_release(&m);
	return rc;
}

int migr_hello_check(const struct migr_msg_hello *peer, const struct migr_id *want_id,
                     uint32_t *version_r, char *err, size_t errlen)
{
	uint32_t v = peer->version < MIGR_PROTO_VERSION ? peer->version : MIGR_PROTO_VERSION;
	uint32_t lo = peer->min_version > MIGR_PROTO_MIN_VERSION ? peer->min_version
	                                                         : MIGR_PROTO_MIN_VERSION;

	if (v < lo) {
		migr__set_err(err, errlen, "no common protocol version: the peer speaks %u..%u, we %u..%u",
		        peer->min_version, peer->version, MIGR_PROTO_MIN_VERSION, MIGR_PROTO_VERSION);
		return -MIGR_E_PROTO;
	}
	if (peer->purpose != MIGR_PURPOSE_MIGRATE && peer->purpose != MIGR_PURPOSE_RESOLVE) {
		migr__set_err(err, errlen, "HELLO with unknown purpose %u", peer->purpose);
		return -MIGR_E_PROTO;
	}
	if (want_id && !migr_id_equal(&peer->id, want_id)) {
		char a[MIGR_ID_HEX], b[MIGR_ID_HEX];

		migr_id_to_hex(&peer->id, a);
		migr_id_to_hex(want_id, b);
		migr__set_err(err, errlen, "HELLO for migration %s, expected %s", a, b);
		return -MIGR_E_PROTO;
	}
	*version_r = v;
	return 0;
}

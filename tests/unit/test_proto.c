/*
 * test_proto.c: the message codec (round trips of every type, byte-exact layout of one
 * frame, and every way a hostile payload is refused), frame headers, HELLO rules,
 * migration ids, messages over a connection (unknown optional skipped, ABORT surfaced,
 * garbage and truncation refused) and the target's durable record.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "libmigr.h"
#include "unit.h"

/* Encodes m, decodes the payload, and returns the decoded copy in *out. */
static int round_trip(const struct migr_msg *m, struct migr_msg *out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	uint32_t type, plen;
	char err[256] = "";
	int rc;

	rc = migr_msg_encode(m, &buf, &len);
	if (rc)
		return rc;
	CHECK_EQ(migr_frame_check(buf, &type, &plen, err, sizeof(err)), 0);
	CHECK_EQ(type, m->type);
	CHECK_EQ(plen, len - MIGR_FRAME_HDR);
	rc = migr_msg_decode(type, buf + MIGR_FRAME_HDR, plen, out, err, sizeof(err));
	if (rc)
		fprintf(stderr, "decode: %s\n", err);
	free(buf);
	return rc;
}

static struct migr_id test_id(void)
{
	struct migr_id id;

	for (int i = 0; i < 16; i++)
		id.b[i] = (uint8_t)(0xa0 + i);
	return id;
}

static void test_round_trips(void)
{
	struct migr_msg m, d;

	migr_msg_init(&m, MIGR_MSG_HELLO);
	m.hello.version = 1;
	m.hello.min_version = 1;
	m.hello.purpose = MIGR_PURPOSE_RESOLVE;
	m.hello.id = test_id();
	strcpy(m.hello.software, "migr 0.1");
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK_EQ(d.hello.purpose, MIGR_PURPOSE_RESOLVE);
	CHECK(migr_id_equal(&d.hello.id, &m.hello.id));
	CHECK_STR(d.hello.software, "migr 0.1");

	migr_msg_init(&m, MIGR_MSG_PREFLIGHT);
	strcpy(m.preflight.name, "web1-\xc3\xa9t\xc3\xa9");     /* UTF-8 is fine */
	m.preflight.memory_kib = 131072;
	m.preflight.vcpus = 2;
	m.preflight.guest_type = MIGR_WIRE_GUEST_PVH;
	strcpy(m.preflight.xen_version, "4.17.7");
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK_STR(d.preflight.name, m.preflight.name);
	CHECK_EQ(d.preflight.memory_kib, 131072);
	CHECK_EQ(d.preflight.vcpus, 2);
	CHECK_EQ(d.preflight.guest_type, MIGR_WIRE_GUEST_PVH);
	CHECK_STR(d.preflight.xen_version, "4.17.7");

	migr_msg_init(&m, MIGR_MSG_PREFLIGHT_REPLY);
	m.preflight_reply.accept = false;
	m.preflight_reply.refuse = MIGR_REFUSE_NOMEM;
	m.preflight_reply.free_kib = 1000;
	strcpy(m.preflight_reply.xen_version, "4.17.7");
	m.preflight_reply.name_clash = true;
	strcpy(m.preflight_reply.reason, "needs 131072 KiB, 1000 KiB free");
	m.preflight_reply.restore_hint_ns = 1400000000;
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK(d.preflight_reply.restore_hint_ns == 1400000000);
	CHECK_EQ(d.preflight_reply.accept, false);
	CHECK_EQ(d.preflight_reply.refuse, MIGR_REFUSE_NOMEM);
	CHECK_EQ(d.preflight_reply.free_kib, 1000);
	CHECK_EQ(d.preflight_reply.name_clash, true);
	CHECK_STR(d.preflight_reply.reason, m.preflight_reply.reason);
	/* a hint above a minute is refused */
	m.preflight_reply.restore_hint_ns = MIGR_RESTORE_HINT_MAX_NS + 1;
	CHECK_EQ(round_trip(&m, &d), -EINVAL);
	m.preflight_reply.restore_hint_ns = 0;
	/* the first-reception estimate: optional, absent reads 0, the same cap */
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK(d.preflight_reply.restore_estimate_ns == 0);
	m.preflight_reply.restore_estimate_ns = 670000000;
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK(d.preflight_reply.restore_estimate_ns == 670000000);
	m.preflight_reply.restore_estimate_ns = MIGR_RESTORE_HINT_MAX_NS;
	CHECK_EQ(round_trip(&m, &d), 0);
	m.preflight_reply.restore_estimate_ns = MIGR_RESTORE_HINT_MAX_NS + 1;
	CHECK_EQ(round_trip(&m, &d), -EINVAL);
	m.preflight_reply.restore_estimate_ns = UINT64_MAX;
	CHECK_EQ(round_trip(&m, &d), -EINVAL);
	m.preflight_reply.restore_estimate_ns = 0;
	/* the target's own migrations out: optional, absent reads 0, the same cap */
	CHECK(d.preflight_reply.suspend_hint_ns == 0 && d.preflight_reply.final_hint_ns == 0 &&
	      d.preflight_reply.handshake_hint_ns == 0);
	m.preflight_reply.suspend_hint_ns = 465000000;
	m.preflight_reply.final_hint_ns = 210000000;
	m.preflight_reply.handshake_hint_ns = 320000000;
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK(d.preflight_reply.suspend_hint_ns == 465000000);
	CHECK(d.preflight_reply.final_hint_ns == 210000000);
	CHECK(d.preflight_reply.handshake_hint_ns == 320000000);
	m.preflight_reply.final_hint_ns = MIGR_RESTORE_HINT_MAX_NS + 1;
	CHECK_EQ(round_trip(&m, &d), -EINVAL);
	m.preflight_reply.final_hint_ns = 0;
	m.preflight_reply.handshake_hint_ns = UINT64_MAX;
	CHECK_EQ(round_trip(&m, &d), -EINVAL);
	m.preflight_reply.suspend_hint_ns = m.preflight_reply.handshake_hint_ns = 0;

	migr_msg_init(&m, MIGR_MSG_CONFIG);
	m.config.json = "{\n\t\"c_info\": { \"name\": \"web1\" }\n}";
	m.config.len = strlen(m.config.json);
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK_STR(d.config.json, m.config.json);
	CHECK_EQ(d.config.len, m.config.len);
	migr_msg_release(&d);
	CHECK(d.config.json == NULL);

	migr_msg_init(&m, MIGR_MSG_READY);
	m.ready.domid = 12;
	m.ready.bytes_in = 150000000;
	m.ready.stream_ns = 1;
	m.ready.restore_ns = UINT64_MAX;
	m.ready.devices_ns = 2112000000;
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK_EQ(d.ready.domid, 12);
	CHECK_EQ(d.ready.bytes_in, 150000000);
	CHECK(d.ready.restore_ns == UINT64_MAX);
	CHECK(d.ready.devices_ns == 2112000000);

	migr_msg_init(&m, MIGR_MSG_GO);
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK_EQ(d.type, MIGR_MSG_GO);

	migr_msg_init(&m, MIGR_MSG_DONE);
	m.done.domid = 12;
	m.done.unpause_ns = 30000000;
	m.done.restore_ns = 812000000;
	m.done.devices_ns = 363000000;
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK_EQ(d.done.unpause_ns, 30000000);
	CHECK(d.done.restore_ns == 812000000);
	CHECK(d.done.devices_ns == 363000000);

	migr_msg_init(&m, MIGR_MSG_ABORT);
	m.abort.code = MIGR_ABORT_CANCELLED;
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK_EQ(d.abort.code, MIGR_ABORT_CANCELLED);
	CHECK_STR(d.abort.reason, "");

	migr_msg_init(&m, MIGR_MSG_DATA_END);
	m.data_end.bytes = 42;
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK_EQ(d.data_end.bytes, 42);

	migr_msg_init(&m, MIGR_MSG_RESOLVE);
	m.resolve.id = test_id();
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK(migr_id_equal(&d.resolve.id, &m.resolve.id));

	migr_msg_init(&m, MIGR_MSG_RESOLVE_REPLY);
	m.resolve_reply.id = test_id();
	m.resolve_reply.outcome = MIGR_OUTCOME_RESTORED_PAUSED;
	m.resolve_reply.domid = 9;
	strcpy(m.resolve_reply.name, "web1--incoming");
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK_EQ(d.resolve_reply.outcome, MIGR_OUTCOME_RESTORED_PAUSED);
	CHECK_EQ(d.resolve_reply.domid, 9);
	CHECK_STR(d.resolve_reply.name, "web1--incoming");

	migr_msg_init(&m, MIGR_MSG_SETTLED);
	m.settled.domid = 12;
	m.settled.net_back_ns = 1200000000;
	m.settled.vifs = 2;
	m.settled.vifs_connected = 2;
	m.settled.first_frame_ns = 1450000000;
	CHECK_EQ(round_trip(&m, &d), 0);
	CHECK_EQ(d.settled.domid, 12);
	CHECK(d.settled.net_back_ns == 1200000000);
	CHECK(d.settled.first_frame_ns == 1450000000);
	CHECK_EQ(d.settled.vifs, 2);
	CHECK_EQ(d.settled.vifs_connected, 2);
	/* more vifs connected than the guest has is refused */
	m.settled.vifs_connected = 3;
	CHECK_EQ(round_trip(&m, &d), -EINVAL);
}

/* The layout docs/protocol.md shows, byte for byte. */
static void test_layout(void)
{
	static const uint8_t want[] = {
		0, 0, 0, 9, 0, 0, 0, 60,                     /* DONE, 60 bytes */
		0, 1, 0, 0, 0, 0, 0, 4, 0, 0, 0, 7,          /* domid 7 */
		0, 2, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x30, 0x39, /* unpause_ns 12345 */
		0, 3, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0x30, 0x66, 0x23, 0x00, /* restore_ns 812e6 */
		0, 4, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, /* devices_ns 0 */
	};
	struct migr_msg m;
	uint8_t *buf = NULL;
	size_t len = 0;

	migr_msg_init(&m, MIGR_MSG_DONE);
	m.done.domid = 7;
	m.done.unpause_ns = 12345;
	m.done.restore_ns = 812000000;
	CHECK_EQ(migr_msg_encode(&m, &buf, &len), 0);
	CHECK_EQ(len, sizeof(want));
	CHECK(buf && len == sizeof(want) && !memcmp(buf, want, len));
	free(buf);
}

static void test_encode_refuses(void)
{
	struct migr_msg m;
	uint8_t *buf = NULL;
	size_t len;

	migr_msg_init(&m, MIGR_MSG_PREFLIGHT);
	strcpy(m.preflight.name, "x");
	m.preflight.memory_kib = 1;
	m.preflight.vcpus = 1;
	m.preflight.guest_type = 9;                 /* no such type */
	strcpy(m.preflight.xen_version, "4.17");
	CHECK_EQ(migr_msg_encode(&m, &buf, &len), -EINVAL);
	m.preflight.guest_type = MIGR_WIRE_GUEST_PV;
	m.preflight.name[0] = '\0';                 /* required, empty */
	CHECK_EQ(migr_msg_encode(&m, &buf, &len), -EINVAL);
	memset(m.preflight.name, 'a', sizeof(m.preflight.name));   /* no NUL */
	CHECK_EQ(migr_msg_encode(&m, &buf, &len), -EINVAL);
	strcpy(m.preflight.name, "tab\there");      /* control character */
	CHECK_EQ(migr_msg_encode(&m, &buf, &len), -EINVAL);

	migr_msg_init(&m, MIGR_MSG_PREFLIGHT_REPLY);
	m.preflight_reply.accept = true;
	m.preflight_reply.refuse = MIGR_REFUSE_BUSY;  /* inconsistent */
	strcpy(m.preflight_reply.xen_version, "4.17");
	CHECK_EQ(migr_msg_encode(&m, &buf, &len), -EINVAL);

	migr_msg_init(&m, MIGR_MSG_HELLO);
	m.hello.version = m.hello.min_version = 1;
	m.hello.purpose = MIGR_PURPOSE_MIGRATE;      /* zero id */
	CHECK_EQ(migr_msg_encode(&m, &buf, &len), -EINVAL);

	migr_msg_init(&m, MIGR_MSG_DATA);
	CHECK_EQ(migr_msg_encode(&m, &buf, &len), -EINVAL);
	migr_msg_init(&m, 77);
	CHECK_EQ(migr_msg_encode(&m, &buf, &len), -EINVAL);
}

/* Decodes a hand-made payload; returns the code, err gets the text. */
static int dec(uint32_t type, const uint8_t *p, size_t n, char *err)
{
	struct migr_msg m;
	int rc = migr_msg_decode(type, p, n, &m, err, 256);

	if (!rc)
		migr_msg_release(&m);
	return rc;
}

static void test_decode_refuses(void)
{
	char err[256];
	/* DONE with domid 7: the base of the variations below. */
	uint8_t ok[] = { 0, 1, 0, 0, 0, 0, 0, 4, 0, 0, 0, 7 };
	uint8_t b[64];

	CHECK_EQ(dec(MIGR_MSG_DONE, ok, sizeof(ok), err), 0);
	/* Truncated anywhere. */
	for (size_t n = 1; n < sizeof(ok); n++) {
		CHECK_EQ(dec(MIGR_MSG_DONE, ok, n, err), -MIGR_E_PROTO);
	}
	CHECK_EQ(dec(MIGR_MSG_DONE, ok, 0, err), -MIGR_E_PROTO);
	CHECK(strstr(err, "required field done.domid missing") != NULL);
	/* Field claims more than there is. */
	memcpy(b, ok, sizeof(ok));
	b[7] = 200;
	CHECK_EQ(dec(MIGR_MSG_DONE, b, sizeof(ok), err), -MIGR_E_PROTO);
	CHECK(strstr(err, "claims 200 bytes") != NULL);
	/* Wrong length for a u32. */
	uint8_t shortlen[] = { 0, 1, 0, 0, 0, 0, 0, 2, 0, 7 };
	CHECK_EQ(dec(MIGR_MSG_DONE, shortlen, sizeof(shortlen), err), -MIGR_E_PROTO);
	CHECK(strstr(err, "has length 2") != NULL);
	/* Out of range: domid 0 and DOMID_SELF. */
	memcpy(b, ok, sizeof(ok));
	b[11] = 0;
	CHECK_EQ(dec(MIGR_MSG_DONE, b, sizeof(ok), err), -MIGR_E_PROTO);
	CHECK(strstr(err, "out of range") != NULL);
	b[8] = 0x7f, b[9] = 0xf0;
	CHECK_EQ(dec(MIGR_MSG_DONE, b, sizeof(ok), err), -MIGR_E_PROTO);
	/* Duplicate field. */
	memcpy(b, ok, sizeof(ok));
	memcpy(b + sizeof(ok), ok, sizeof(ok));
	CHECK_EQ(dec(MIGR_MSG_DONE, b, 2 * sizeof(ok), err), -MIGR_E_PROTO);
	CHECK(strstr(err, "twice") != NULL);
	/* Unknown mandatory field; unknown optional field skipped. */
	uint8_t unk[] = { 0, 1, 0, 0, 0, 0, 0, 4, 0, 0, 0, 7, 0, 9, 0, 0, 0, 0, 0, 1, 0xff };
	CHECK_EQ(dec(MIGR_MSG_DONE, unk, sizeof(unk), err), -MIGR_E_PROTO);
	CHECK(strstr(err, "unknown mandatory field 9") != NULL);
	unk[12] = 0x80;
	CHECK_EQ(dec(MIGR_MSG_DONE, unk, sizeof(unk), err), 0);
	/* Reserved bits. */
	memcpy(b, ok, sizeof(ok));
	b[3] = 1;
	CHECK_EQ(dec(MIGR_MSG_DONE, b, sizeof(ok), err), -MIGR_E_PROTO);
	CHECK(strstr(err, "reserved") != NULL);
	/* Bool must be 0 or 1. */
	uint8_t pr[] = {
		0, 1, 0, 0, 0, 0, 0, 1, 2,                                /* accept = 2 */
		0, 2, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0,
		0, 3, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1,
		0, 4, 0, 0, 0, 0, 0, 1, '4',
		0, 5, 0, 0, 0, 0, 0, 1, 0,
	};
	CHECK_EQ(dec(MIGR_MSG_PREFLIGHT_REPLY, pr, sizeof(pr), err), -MIGR_E_PROTO);
	pr[8] = 1;
	CHECK_EQ(dec(MIGR_MSG_PREFLIGHT_REPLY, pr, sizeof(pr), err), 0);
	pr[8] = 0;                                                   /* refused, code NONE */
	CHECK_EQ(dec(MIGR_MSG_PREFLIGHT_REPLY, pr, sizeof(pr), err), -MIGR_E_PROTO);
	CHECK(strstr(err, "accept=0 with refusal code 0") != NULL);
	/* Text: bad UTF-8, overlong, surrogate, NUL, newline, C1, too long. */
	static const char *const bad_text[] = {
		"a\xff", "\xc0\xaf", "\xed\xa0\x80", "\xe0\x80\xaf", "a\nb", "\xc2\x85", "\xf4\x90\x80\x80",
		"\xe2\x82",
	};
	for (size_t i = 0; i < sizeof(bad_text) / sizeof(bad_text[0]); i++) {
		size_t n = strlen(bad_text[i]);
		uint8_t t[32] = { 0, 2, 0, 0, 0, 0, 0, (uint8_t)n };
		uint8_t ab[] = { 0, 1, 0, 0, 0, 0, 0, 4, 0, 0, 0, 1 };

		memcpy(b, ab, sizeof(ab));
		memcpy(t + 8, bad_text[i], n);
		memcpy(b + sizeof(ab), t, 8 + n);
		CHECK_EQ(dec(MIGR_MSG_ABORT, b, sizeof(ab) + 8 + n, err), -MIGR_E_PROTO);
	}
	CHECK(strstr(err, "not valid text") != NULL);
	{
		uint8_t t[8 + 300] = { 0, 2, 0, 0, 0, 0, 1, 44 };   /* 300 bytes > 255 */
		uint8_t ab[] = { 0, 1, 0, 0, 0, 0, 0, 4, 0, 0, 0, 1 };
		uint8_t big[sizeof(ab) + sizeof(t)];

		memset(t + 8, 'a', 300);
		memcpy(big, ab, sizeof(ab));
		memcpy(big + sizeof(ab), t, sizeof(t));
		CHECK_EQ(dec(MIGR_MSG_ABORT, big, sizeof(big), err), -MIGR_E_PROTO);
		CHECK(strstr(err, "has length 300") != NULL);
	}
	/* An unknown ABORT code reads as OTHER. */
	{
		uint8_t ab[] = { 0, 1, 0, 0, 0, 0, 0, 4, 0, 0, 0x30, 0x39 };
		struct migr_msg m;

		CHECK_EQ(migr_msg_decode(MIGR_MSG_ABORT, ab, sizeof(ab), &m, err, sizeof(err)), 0);
		CHECK_EQ(m.abort.code, MIGR_ABORT_OTHER);
	}
	/* CONFIG: NUL inside and a too-short document. */
	{
		uint8_t cf[] = { 0, 1, 0, 0, 0, 0, 0, 4, '{', 0, ' ', '}' };

		CHECK_EQ(dec(MIGR_MSG_CONFIG, cf, sizeof(cf), err), -MIGR_E_PROTO);
		cf[7] = 1;
		CHECK_EQ(dec(MIGR_MSG_CONFIG, cf, 9, err), -MIGR_E_PROTO);
	}
	/* Type confusion. */
	CHECK_EQ(dec(MIGR_MSG_DATA, ok, sizeof(ok), err), -MIGR_E_PROTO);
	CHECK_EQ(dec(0, ok, sizeof(ok), err), -MIGR_E_PROTO);
	CHECK_EQ(dec(0x80000001u, ok, sizeof(ok), err), -MIGR_E_PROTO);
	/* A zero id in RESOLVE. */
	{
		uint8_t rs[8 + 16] = { 0, 1, 0, 0, 0, 0, 0, 16 };

		CHECK_EQ(dec(MIGR_MSG_RESOLVE, rs, sizeof(rs), err), -MIGR_E_PROTO);
		CHECK(strstr(err, "zero migration id") != NULL);
		rs[8] = 1;
		CHECK_EQ(dec(MIGR_MSG_RESOLVE, rs, sizeof(rs), err), 0);
	}
}

static void test_frames(void)
{
	uint8_t h[8];
	uint32_t type = 0, len = 0;
	char err[256];

	memcpy(h, "\0\0\0\x07\0\0\0\x10", 8);
	CHECK_EQ(migr_frame_check(h, &type, &len, err, sizeof(err)), 0);
	CHECK_EQ(type, MIGR_MSG_READY);
	CHECK_EQ(len, 16);
	memcpy(h, "\0\0\0\x07\0\x01\0\x01", 8);               /* READY over 64 KiB */
	CHECK_EQ(migr_frame_check(h, &type, &len, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "more than its cap") != NULL);
	memcpy(h, "\0\0\0\x04\0\x10\0\0", 8);                 /* CONFIG of 1 MiB: fine */
	CHECK_EQ(migr_frame_check(h, &type, &len, err, sizeof(err)), 0);
	memcpy(h, "\0\0\0\x04\x01\0\0\0", 8);                 /* CONFIG of 16 MiB */
	CHECK_EQ(migr_frame_check(h, &type, &len, err, sizeof(err)), -MIGR_E_PROTO);
	memcpy(h, "\0\0\0\x63\0\0\0\0", 8);                   /* unknown mandatory */
	CHECK_EQ(migr_frame_check(h, &type, &len, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "unknown mandatory message type 99") != NULL);
	memcpy(h, "\x80\0\0\x63\0\0\0\x05", 8);               /* unknown optional */
	CHECK_EQ(migr_frame_check(h, &type, &len, err, sizeof(err)), 0);
	CHECK_EQ(type, 0x80000063u);
	memcpy(h, "\x80\0\0\x63\0\x10\0\0", 8);               /* ...but capped */
	CHECK_EQ(migr_frame_check(h, &type, &len, err, sizeof(err)), -MIGR_E_PROTO);
	memcpy(h, "\0\0\0\x05\0\0\0\0", 8);                   /* empty DATA */
	CHECK_EQ(migr_frame_check(h, &type, &len, err, sizeof(err)), -MIGR_E_PROTO);
	memcpy(h, "\x16\x03\x01\x02\0\x01\0\xfc", 8);         /* a TLS ClientHello */
	CHECK_EQ(migr_frame_check(h, &type, &len, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "speaks TLS") != NULL);
	memcpy(h, "xl migra", 8);                             /* xl's banner */
	CHECK_EQ(migr_frame_check(h, &type, &len, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "stock `xl migrate-receive`") != NULL);
	CHECK_STR(migr_msg_type_name(MIGR_MSG_PREFLIGHT_REPLY), "PREFLIGHT_REPLY");
	CHECK_STR(migr_msg_type_name(1000), "unknown");
	CHECK_STR(migr_outcome_name(MIGR_OUTCOME_RESTORED_PAUSED), "restored-paused");
	CHECK_STR(migr_abort_name(999), "other");
	CHECK_STR(migr_refuse_name(MIGR_REFUSE_NOMEM), "not enough memory");
}

static void test_hello_and_ids(void)
{
	struct migr_msg_hello h = { .version = MIGR_PROTO_VERSION, .min_version = 1, .purpose = 1 };
	struct migr_id a, b;
	char hex[MIGR_ID_HEX], err[256];
	uint32_t v = 0;

	CHECK_EQ(migr_id_new(&a), 0);
	CHECK_EQ(migr_id_new(&b), 0);
	CHECK(!migr_id_equal(&a, &b));
	CHECK(!migr_id_is_zero(&a));
	migr_id_to_hex(&a, hex);
	CHECK_EQ(strlen(hex), 32);
	CHECK_EQ(migr_id_from_hex(hex, &b), 0);
	CHECK(migr_id_equal(&a, &b));
	CHECK_EQ(migr_id_from_hex("00112233445566778899aabbccddeeff", &b), 0);
	CHECK_EQ(b.b[15], 0xff);
	CHECK_EQ(migr_id_from_hex("00112233445566778899aabbccddeef", &b), -EINVAL);
	CHECK_EQ(migr_id_from_hex("00112233445566778899aabbccddeeffa", &b), -EINVAL);
	CHECK_EQ(migr_id_from_hex("0011223344556677889 aabbccddeeff", &b), -EINVAL);
	CHECK_EQ(migr_id_from_hex(NULL, &b), -EINVAL);

	h.id = a;
	CHECK_EQ(migr_hello_check(&h, &a, &v, err, sizeof(err)), 0);
	CHECK_EQ(v, MIGR_PROTO_VERSION);
	CHECK_EQ(migr_hello_check(&h, NULL, &v, err, sizeof(err)), 0);
	h.min_version = h.version = MIGR_PROTO_VERSION + 1;   /* a peer only a later version speaks */
	CHECK_EQ(migr_hello_check(&h, NULL, &v, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "no common protocol version") != NULL);
	h.min_version = 1;                  /* a peer of version 3 (no CDATA): runs at 3 */
	h.version = 3;
	CHECK_EQ(migr_hello_check(&h, NULL, &v, err, sizeof(err)), 0);
	CHECK_EQ(v, 3);
	h.min_version = h.version = 1;      /* an older peer: the conversation runs at 1 */
	CHECK_EQ(migr_hello_check(&h, NULL, &v, err, sizeof(err)), 0);
	CHECK_EQ(v, 1);
	migr_id_new(&b);
	CHECK_EQ(migr_hello_check(&h, &b, &v, err, sizeof(err)), -MIGR_E_PROTO);
	CHECK(strstr(err, "expected") != NULL);
}

/* ---- over a connection ---------------------------------------------------------------- */

static void test_over_conn(void)
{
	struct migr_conn *a, *b;
	struct migr_msg m;
	const char *reason;
	uint32_t code;
	int sv[2];

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	CHECK_EQ(migr_conn_from_fds(sv[0], sv[0], NULL, &a), 0);
	CHECK_EQ(migr_conn_from_fds(sv[1], sv[1], NULL, &b), 0);

	/* An unknown optional message first: skipped. Then GO. */
	CHECK_EQ(migr_conn_write(a, "\x80\0\0\x2a\0\0\0\x03xyz", 11), 0);
	migr_msg_init(&m, MIGR_MSG_GO);
	CHECK_EQ(migr_msg_send(a, &m), 0);
	CHECK_EQ(migr_msg_expect(b, MIGR_MSG_GO, &m), 0);

	/* Expecting READY, getting ABORT. */
	CHECK_EQ(migr_msg_send_abort(a, MIGR_ABORT_POLICY, "dirty rate 900 MiB/s > link\n"), 0);
	CHECK_EQ(migr_msg_expect(b, MIGR_MSG_READY, &m), -MIGR_E_ABORTED);
	CHECK(strstr(migr_conn_error(b), "the peer aborted (policy): dirty rate 900 MiB/s > link?")
	      != NULL);
	CHECK(migr_conn_peer_abort(b, &code, &reason));
	CHECK_EQ(code, MIGR_ABORT_POLICY);

	/* Expecting READY, getting DONE. */
	migr_msg_init(&m, MIGR_MSG_DONE);
	m.done.domid = 3;
	CHECK_EQ(migr_msg_send(a, &m), 0);
	CHECK_EQ(migr_msg_expect(b, MIGR_MSG_READY, &m), -MIGR_E_PROTO);
	CHECK_STR(migr_conn_error(b), "expected READY, got DONE");

	/* DATA outside a stream. */
	CHECK_EQ(migr_conn_write(a, "\0\0\0\x05\0\0\0\x01z", 9), 0);
	CHECK_EQ(migr_conn_flush(a), 0);
	CHECK_EQ(migr_msg_recv(b, &m), -MIGR_E_PROTO);
	CHECK(strstr(migr_conn_error(b), "DATA outside a stream") != NULL);
	migr_conn_close(a);
	migr_conn_close(b);

	/* Garbage, then a truncated message. */
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	CHECK_EQ(migr_conn_from_fds(sv[1], sv[1], NULL, &b), 0);
	CHECK_EQ(write(sv[0], "GET / HTTP/1.0\r\n\r\n", 18), 18);
	CHECK_EQ(migr_msg_recv(b, &m), -MIGR_E_PROTO);
	CHECK(strstr(migr_conn_error(b), "unknown mandatory message type") != NULL);
	migr_conn_close(b);
	close(sv[0]);

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	CHECK_EQ(migr_conn_from_fds(sv[1], sv[1], NULL, &b), 0);
	CHECK_EQ(write(sv[0], "\0\0\0\x09\0\0\0\x0c\0\x01\0\0\0\0", 14), 14);
	close(sv[0]);
	CHECK_EQ(migr_msg_recv(b, &m), -ECONNRESET);
	CHECK(strstr(migr_conn_error(b), "6 of 12 bytes missing") != NULL);
	migr_conn_close(b);

	/* A few unknown optional messages in a row are skipped; a flood of them is cut. */
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	CHECK_EQ(migr_conn_from_fds(sv[1], sv[1], NULL, &b), 0);
	for (int i = 0; i < MIGR_OPTIONAL_RUN_MAX; i++)
		CHECK_EQ(write(sv[0], "\x80\0\0\x2a\0\0\0\0", 8), 8);
	CHECK_EQ(write(sv[0], "\0\0\0\x08\0\0\0\0", 8), 8);     /* GO */
	CHECK_EQ(migr_msg_expect(b, MIGR_MSG_GO, &m), 0);
	for (int i = 0; i <= MIGR_OPTIONAL_RUN_MAX; i++)
		CHECK_EQ(write(sv[0], "\x80\0\0\x2a\0\0\0\0", 8), 8);
	CHECK_EQ(migr_msg_recv(b, &m), -MIGR_E_PROTO);
	CHECK(strstr(migr_conn_error(b), "unknown optional messages in a row") != NULL);
	migr_conn_close(b);
	close(sv[0]);
}

struct trickler {
	int fd;
	atomic_bool stop;
};

/* Sends an optional message a byte every 20 ms, for ever: progress, but never a message. */
static void *trickle_main(void *arg)
{
	struct trickler *t = arg;
	static const char msg[] = "\x80\0\0\x2a\0\0\0\x02xy";

	for (int i = 0; !atomic_load(&t->stop); i = (i + 1) % 10) {
		if (write(t->fd, msg + i, 1) != 1)
			break;
		usleep(20000);
	}
	return NULL;
}

/* A phase deadline cuts a peer that keeps the I/O timeout happy by trickling. */
static void test_phase_deadline(void)
{
	struct migr_transport_opts o;
	struct trickler t = { .fd = -1 };
	struct migr_conn *b;
	struct migr_msg m;
	struct timespec t0, t1;
	pthread_t th;
	int sv[2];
	double s;

	migr_transport_opts_init(&o);
	o.io_timeout_ms = 200;                 /* never hit: a byte every 20 ms */
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	CHECK_EQ(migr_conn_from_fds(sv[1], sv[1], &o, &b), 0);
	t.fd = sv[0];
	pthread_create(&th, NULL, trickle_main, &t);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	migr_conn_set_deadline(b, 500);
	CHECK_EQ(migr_msg_recv(b, &m), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(s >= 0.45 && s < 2.0);
	atomic_store(&t.stop, true);
	pthread_join(th, NULL);
	migr_conn_close(b);
	close(sv[0]);
}

/* ---- the record ------------------------------------------------------------------------- */

static int count_cb(const struct migr_record *r, void *opaque)
{
	(*(int *)opaque)++;
	return r->outcome == MIGR_OUTCOME_DESTROYED ? 7 : 0;
}

struct racer {
	const char *dir;
	struct migr_record r;
	int rc;
	pthread_barrier_t *bar;
};

static void *racer_main(void *arg)
{
	struct racer *x = arg;

	pthread_barrier_wait(x->bar);
	x->rc = migr_record_transition(x->dir, MIGR_OUTCOME_RESTORED_PAUSED, &x->r, NULL);
	return NULL;
}

/* Two threads take one id from restored-paused at once: exactly one wins, every time. */
static void test_record_race(const char *dir)
{
	pthread_barrier_t bar;
	int wins_go = 0, wins_resolve = 0, bad = 0;

	pthread_barrier_init(&bar, NULL, 2);
	for (int i = 0; i < 50; i++) {
		struct racer a = { .dir = dir, .bar = &bar }, b = { .dir = dir, .bar = &bar };
		struct migr_record got;
		pthread_t ta, tb;

		migr_id_new(&a.r.id);
		a.r.outcome = MIGR_OUTCOME_RESTORED_PAUSED;
		migr_record_write(dir, &a.r);
		b.r = a.r;
		a.r.outcome = MIGR_OUTCOME_RUNNING;
		b.r.outcome = MIGR_OUTCOME_DESTROYED;
		pthread_create(&ta, NULL, racer_main, &a);
		pthread_create(&tb, NULL, racer_main, &b);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		if (!a.rc && b.rc == -ESTALE)
			wins_go++;
		else if (!b.rc && a.rc == -ESTALE)
			wins_resolve++;
		else
			bad++;
		if (migr_record_read(dir, &a.r.id, &got) ||
		    got.outcome != (a.rc ? MIGR_OUTCOME_DESTROYED : MIGR_OUTCOME_RUNNING))
			bad++;
		migr_record_remove(dir, &a.r.id);
	}
	pthread_barrier_destroy(&bar);
	CHECK_EQ(bad, 0);
	CHECK_EQ(wins_go + wins_resolve, 50);
	fprintf(stderr, "record race: GO won %d, RESOLVE won %d\n", wins_go, wins_resolve);
}

static void test_record(void)
{
	char dir[] = "/tmp/migr-test-record-XXXXXX", sub[128], path[256], hex[MIGR_ID_HEX];
	struct migr_record r, got;
	struct migr_id other;
	int n = 0, fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/state/migrations", dir);   /* created on demand */
	memset(&r, 0, sizeof(r));
	migr_id_new(&r.id);
	r.outcome = MIGR_OUTCOME_RESTORED_PAUSED;
	r.domid = 5;
	strcpy(r.name, "web1--incoming");
	strcpy(r.source, "[2001:db8::1]:40112");
	CHECK_EQ(migr_record_read(sub, &r.id, &got), -ENOENT);
	CHECK_EQ(migr_record_write(sub, &r), 0);
	CHECK(r.updated > 0);
	CHECK_EQ(migr_record_read(sub, &r.id, &got), 0);
	CHECK_EQ(got.outcome, MIGR_OUTCOME_RESTORED_PAUSED);
	CHECK_EQ(got.domid, 5);
	CHECK_STR(got.name, "web1--incoming");
	CHECK_STR(got.source, "[2001:db8::1]:40112");
	CHECK_EQ(got.updated, r.updated);

	r.outcome = MIGR_OUTCOME_RUNNING;
	strcpy(r.name, "web1");
	CHECK_EQ(migr_record_write(sub, &r), 0);
	CHECK_EQ(migr_record_read(sub, &r.id, &got), 0);
	CHECK_EQ(got.outcome, MIGR_OUTCOME_RUNNING);
	CHECK_STR(got.name, "web1");
	migr_id_to_hex(&r.id, hex);
	snprintf(path, sizeof(path), "%s/%s.tmp", sub, hex);
	CHECK(access(path, F_OK) != 0);             /* no temporary left behind */

	/* Refused values. */
	strcpy(r.name, "two\nlines");
	CHECK_EQ(migr_record_write(sub, &r), -EINVAL);
	strcpy(r.name, "web1");
	r.outcome = 9;
	CHECK_EQ(migr_record_write(sub, &r), -EINVAL);
	r.outcome = MIGR_OUTCOME_RUNNING;

	/* A second record, and one corrupt file the walk skips. */
	memset(&got, 0, sizeof(got));
	migr_id_new(&other);
	got.id = other;
	got.outcome = MIGR_OUTCOME_DESTROYED;
	CHECK_EQ(migr_record_write(sub, &got), 0);
	CHECK_EQ(migr_record_list(sub, count_cb, &n), 7);    /* the callback stopped it */
	migr_id_new(&other);
	migr_id_to_hex(&other, hex);
	snprintf(path, sizeof(path), "%s/%s", sub, hex);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK_EQ(write(fd, "migr-record 1\nid zz\n", 20), 20);
	close(fd);
	CHECK_EQ(migr_record_read(sub, &other, &got), -EBADMSG);
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK_EQ(write(fd, "migr-record 1\noutcome running\n", 30), 30);   /* no id */
	close(fd);
	CHECK_EQ(migr_record_read(sub, &other, &got), -EBADMSG);
	fd = open(path, O_WRONLY | O_TRUNC);
	/* A record filed under another id's name. */
	dprintf(fd, "migr-record 1\nid %s\noutcome running\n", "00112233445566778899aabbccddeeff");
	close(fd);
	CHECK_EQ(migr_record_read(sub, &other, &got), -EBADMSG);

	/* Transitions: only from the outcome the caller saw. */
	{
		struct migr_record t;
		uint32_t now = 99;

		memset(&t, 0, sizeof(t));
		migr_id_new(&t.id);
		t.outcome = MIGR_OUTCOME_RESTORED_PAUSED;
		t.domid = 4;
		CHECK_EQ(migr_record_transition(sub, MIGR_OUTCOME_RUNNING, &t, &now), -ESTALE);
		CHECK_EQ(now, MIGR_OUTCOME_UNKNOWN);
		CHECK_EQ(migr_record_transition(sub, MIGR_OUTCOME_UNKNOWN, &t, &now), 0);
		/* GO and RESOLVE race from restored-paused: the first wins. */
		t.outcome = MIGR_OUTCOME_RUNNING;
		CHECK_EQ(migr_record_transition(sub, MIGR_OUTCOME_RESTORED_PAUSED, &t, &now), 0);
		t.outcome = MIGR_OUTCOME_DESTROYED;
		CHECK_EQ(migr_record_transition(sub, MIGR_OUTCOME_RESTORED_PAUSED, &t, &now), -ESTALE);
		CHECK_EQ(now, MIGR_OUTCOME_RUNNING);
		CHECK_EQ(migr_record_read(sub, &t.id, &got), 0);
		CHECK_EQ(got.outcome, MIGR_OUTCOME_RUNNING);
		CHECK_EQ(migr_record_remove(sub, &t.id), 0);
		migr_id_to_hex(&t.id, hex);
		snprintf(path, sizeof(path), "%s/%s.lock", sub, hex);
		CHECK(access(path, F_OK) != 0);
	}

	CHECK_EQ(migr_record_remove(sub, &r.id), 0);
	CHECK_EQ(migr_record_read(sub, &r.id, &got), -ENOENT);
	CHECK_EQ(migr_record_remove(sub, &r.id), 0);
	CHECK_EQ(migr_record_list("/nonexistent/migr", count_cb, &n), 0);
	test_record_race(sub);

	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CHECK_EQ(system(cmd), 0);
	}
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_round_trips();
	test_layout();
	test_encode_refuses();
	test_decode_refuses();
	test_frames();
	test_hello_and_ids();
	test_over_conn();
	test_phase_deadline();
	test_record();
	return unit_done("test_proto");
}

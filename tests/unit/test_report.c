/*
 * test_report.c: round logs and the SVG reports (libmigr/roundlog.c, report.c, svg.c).
 *
 * Every picture drawn here is checked as XML by xmllint (libxml2-utils, `make deps`):
 * hostile guest names, no round at all, values near 2^62. Round logs are written and read
 * back, then damaged every way a file can be (too long, not JSON, wrong types and ranges,
 * nesting, NUL bytes, a link) and each must be refused; the directory keeps at most
 * MIGR_ROUNDLOG_KEEP of them. The evacuation is read back from an event log holding
 * other evacuations' lines, garbage and an overlong line; the index links what it should.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "libmigr.h"
#include "buf.h"
#include "unit.h"

static char dir[] = "/tmp/test_report.XXXXXX";
static const char hostile[] = "<script>alert('x')</script>&amp;\"\x01\x1b[31m\xff\xc0\xaf"
			      "\xed\xa0\x80\xef\xbf\xbe caf\xc3\xa9";
static const char id1[] = "00112233445566778899aabbccddeeff";

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(write(fd, data, len), (long long)len);
	close(fd);
}

/* xmllint --noout on the text: 0 well-formed. */
static int xml_ok(const char *text, size_t len, const char *what)
{
	char path[256], cmd[400];
	int st;

	snprintf(path, sizeof(path), "%s/check-%s.xml", dir, what);
	write_file(path, text, len);
	snprintf(cmd, sizeof(cmd), "xmllint --noout '%s'", path);
	st = system(cmd);
	if (st != 0)
		fprintf(stderr, "%s: xmllint says it is not well-formed XML (%s kept)%s\n", what,
			path, WIFEXITED(st) && WEXITSTATUS(st) == 127 ?
			"; xmllint is missing: make deps installs libxml2-utils" : "");
	else
		unlink(path);
	return st;
}

static void sample_log(struct migr_roundlog *l, const char *name, unsigned int rounds)
{
	struct migr_result res;
	struct migr_progress p;

	migr_roundlog_init(l);
	memset(&p, 0, sizeof(p));
	p.phase = MIGR_PHASE_PRECOPY;
	p.elapsed_us = 40000;
	migr_roundlog_progress(l, &p);
	for (unsigned int i = 0; i < rounds; i++) {
		memset(&p, 0, sizeof(p));
		p.phase = MIGR_PHASE_PRECOPY;
		p.round = i + 1;
		p.round_end = true;
		p.elapsed_us = 40000 + (i + 1) * 200000;
		p.round_us = 200000;
		p.round_pages = i ? 5000 / i : 32768;
		p.round_bytes = p.round_pages * 4096;
		p.remaining_pages = 3000 / (i + 1);
		p.dirty_rate_pps = 1000 + 10 * i;
		p.bandwidth_Bps = 100 << 20;
		p.predicted_blackout_us = 900000 / (i + 1);
		p.decision = i + 1 == rounds ? MIGR_POLICY_STOP : MIGR_POLICY_CONTINUE;
		p.reason = i + 1 == rounds ? MIGR_POLICY_R_BUDGET_MET : MIGR_POLICY_R_CONVERGING;
		migr_roundlog_progress(l, &p);
	}
	memset(&p, 0, sizeof(p));
	p.phase = MIGR_PHASE_SUSPEND;
	p.elapsed_us = 40000 + rounds * 200000 + 500;
	migr_roundlog_progress(l, &p);
	memset(&res, 0, sizeof(res));
	snprintf(res.id, sizeof(res.id), "%s", id1);
	snprintf(res.name, sizeof(res.name), "%s", name);
	res.type = MIGR_GUEST_PVH;
	res.rounds = rounds;
	res.total_us = 40000 + rounds * 200000 + 400000;
	res.precopy_us = rounds * 200000;
	res.stream_bytes = 150 << 20;
	res.wire_bytes = 151 << 20;
	res.blackout_us = 180000;
	res.suspend_us = 20000;
	res.final_send_us = 60000;
	res.restore_tail_us = 70000;
	res.devices_us = 30000;
	res.handshake_us = 20000;
	res.unpause_us = 10000;
	res.vifs = res.vifs_connected = 1;
	res.net_back_us = 50000;
	res.first_frame_us = 80000;
	res.predicted_blackout_us = 150000;
	migr_roundlog_result(l, &res, 0, "hostb:8002");
}

static void test_escapes(void)
{
	struct migr__buf b = { 0 };
	char clean[] = "a\x01\x1b[1m\xff\xc3\xa9\xc3";

	migr__buf_xml(&b, "a<b>&\"'\tz", 0);
	CHECK_STR(b.p, "a&lt;b&gt;&amp;&quot;&#39;\tz");
	migr__buf_free(&b);
	/* invalid UTF-8, a surrogate, U+FFFE, a control character: U+FFFD each; é stays */
	migr__buf_xml(&b, "\xff|\xc0\xaf|\xed\xa0\x80|\xef\xbf\xbe|\x01|\xc3\xa9", 0);
	CHECK_STR(b.p, "\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd|\xc3\xa9");
	migr__buf_free(&b);
	/* a truncated sequence at the end */
	migr__buf_xml(&b, "x\xe2\x82", 0);
	CHECK_STR(b.p, "x\xef\xbf\xbd\xef\xbf\xbd");
	migr__buf_free(&b);
	migr__buf_xml(&b, "abcdef", 3);
	CHECK_STR(b.p, "abc\xe2\x80\xa6");
	migr__buf_free(&b);
	migr__buf_url(&b, "evacuation-m:1 x.svg");
	CHECK_STR(b.p, "evacuation-m%3A1%20x.svg");
	migr__buf_free(&b);
	migr__buf_json(&b, "a\"\\\n\xc3\xa9\xff");
	CHECK_STR(b.p, "a\\\"\\\\\\u000a\xc3\xa9\\ufffd");
	migr__buf_free(&b);
	migr__text_clean(clean);
	CHECK_STR(clean, "a??[1m?\xc3\xa9?");

	CHECK(migr_report_name_ok("maint-1"));
	CHECK(migr_report_name_ok("evac-1764374400-1"));
	CHECK(migr_report_name_ok("a:b@c+d.e_f"));
	CHECK(!migr_report_name_ok(""));
	CHECK(!migr_report_name_ok(".."));
	CHECK(!migr_report_name_ok("a/b"));
	CHECK(!migr_report_name_ok("a b"));
	CHECK(!migr_report_name_ok("0123456789012345678901234567890123456789012345678901234567890123456789"));
}

/* The picture of l is well-formed XML, holds no hostile text raw, and no NaN. */
static void check_picture(const struct migr_roundlog *l, const char *what)
{
	char *svg = NULL;
	size_t len = 0;

	CHECK_EQ(migr_report_migration_svg(l, &svg, &len), 0);
	if (!svg)
		return;
	CHECK_EQ(strlen(svg), len);
	CHECK_EQ(xml_ok(svg, len, what), 0);
	CHECK(strstr(svg, "<script") == NULL);
	CHECK(strstr(svg, "nan") == NULL && strstr(svg, "inf\"") == NULL);
	CHECK(strstr(svg, "\x1b") == NULL && strstr(svg, "\x01") == NULL);
	CHECK(strncmp(svg, "<?xml", 5) == 0);
	free(svg);
}

static void test_roundtrip_and_picture(void)
{
	struct migr_roundlog *l = malloc(sizeof(*l)), *back = malloc(sizeof(*back));
	char why[200], path[256];
	struct stat st;

	if (!l || !back)
		abort();
	sample_log(l, hostile, 6);
	CHECK_EQ(l->n_rounds, 6);
	CHECK_EQ(l->rounds[0].round, 0);
	CHECK_EQ(l->rounds[5].round, 5);
	CHECK_EQ(l->precopy_start_us, 40000);
	CHECK_EQ(l->suspend_at_us, 40000 + 6 * 200000 + 500);
	CHECK_EQ(l->outcome, MIGR_REPORT_DONE);
	/* control characters and broken UTF-8 are cleaned when collected */
	CHECK(strchr(l->name, '\x01') == NULL && strchr(l->name, '\x1b') == NULL);
	CHECK_EQ(migr_roundlog_write(dir, l), 0);
	CHECK_EQ(migr_roundlog_read(dir, id1, back, why, sizeof(why)), 0);
	CHECK_STR(back->id, id1);
	CHECK_STR(back->name, l->name);
	CHECK_STR(back->target, "hostb:8002");
	CHECK_EQ(back->n_rounds, 6);
	CHECK_EQ(back->rounds[3].pages, l->rounds[3].pages);
	CHECK_EQ(back->rounds[5].decision, MIGR_POLICY_STOP);
	CHECK_EQ(back->rounds[5].reason, MIGR_POLICY_R_BUDGET_MET);
	CHECK_EQ(back->suspend_at_us, l->suspend_at_us);
	CHECK_EQ(back->blackout_us, 180000);
	CHECK_EQ(back->devices_us, 30000);
	CHECK_EQ(back->first_frame_us, 80000);
	CHECK_EQ(back->type, MIGR_GUEST_PVH);
	snprintf(path, sizeof(path), "%s/%s.json", dir, id1);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	check_picture(back, "migration");
	/* the raw hostile name (not cleaned) straight into a picture: still well-formed */
	snprintf(back->name, sizeof(back->name), "%s", hostile);
	snprintf(back->target, sizeof(back->target), "]]><x y='&'>\xfe");
	check_picture(back, "hostile");

	/* no round, no blackout: an abort before the first round closed */
	migr_roundlog_init(l);
	snprintf(l->id, sizeof(l->id), "%s", id1);
	l->outcome = MIGR_REPORT_ABORTED;
	l->total_us = 1500;
	check_picture(l, "empty");
	migr_roundlog_init(l);
	check_picture(l, "zeroed");

	/* everything near 2^62, every round kept and more dropped */
	sample_log(l, "big", MIGR_ROUNDLOG_ROUNDS + 5);
	CHECK_EQ(l->n_rounds, MIGR_ROUNDLOG_ROUNDS);
	CHECK_EQ(l->rounds_dropped, 5);
	l->total_us = l->blackout_us = l->suspend_us = l->final_send_us = 1ull << 62;
	l->restore_tail_us = l->devices_us = l->handshake_us = l->unpause_us = 1ull << 62;
	l->net_back_us = l->first_frame_us = l->suspend_at_us = 1ull << 62;
	l->stream_bytes = l->wire_bytes = UINT64_MAX;
	for (unsigned int i = 0; i < l->n_rounds; i++) {
		l->rounds[i].pages = l->rounds[i].dirty_rate_pps = 1ull << 62;
		l->rounds[i].bandwidth_Bps = l->rounds[i].predicted_blackout_us = UINT64_MAX;
		l->rounds[i].end_us = UINT64_MAX - i;
	}
	check_picture(l, "huge");
	CHECK_EQ(migr_roundlog_write(dir, l), 0);
	CHECK_EQ(migr_roundlog_read(dir, id1, back, why, sizeof(why)), -EBADMSG);
	CHECK(why[0] != '\0');   /* UINT64_MAX is past what a round log may hold */
	free(l);
	free(back);
}

/* Each damaged text must be refused as a round log. */
static void test_refusals(void)
{
	static const char ok_head[] = "{\"format\":\"migr-round-log\",\"version\":1,"
		"\"id\":\"00112233445566778899aabbccddeeff\",\"outcome\":\"done\",\"total_us\":5";
	static const struct { const char *text, *what; } bad[] = {
		{ "", "empty" },
		{ "not json", "not JSON" },
		{ "[1,2]", "an array" },
		{ "{\"format\":\"migr-round-log\",\"version\":1}", "id missing" },
		{ "{\"format\":\"other\",\"version\":1,\"id\":\"00112233445566778899aabbccddeeff\","
		  "\"outcome\":\"done\",\"total_us\":5,\"rounds\":[]}", "another format" },
		{ "{\"format\":\"migr-round-log\",\"version\":2,\"id\":\"00112233445566778899aabbccddeeff\","
		  "\"outcome\":\"done\",\"total_us\":5,\"rounds\":[]}", "version 2" },
		{ "@,\"rounds\":[],\"total_us\":6}", "a key twice" },
		{ "@,\"rounds\":[{\"round\":-1}]}", "a negative number" },
		{ "@,\"rounds\":[{\"round\":1,\"pages\":4611686018427387905}]}", "past 2^62" },
		{ "@,\"rounds\":[{\"round\":1,\"pages\":1.5}]}", "a fraction" },
		{ "@,\"rounds\":[{\"round\":1,\"pages\":\"7\"}]}", "a string for a number" },
		{ "@,\"rounds\":[{\"round\":1,\"decision\":\"jump\"}]}", "an unknown decision" },
		{ "@,\"rounds\":[{\"round\":1,\"reason\":\"\"}]}", "an unknown reason" },
		{ "@,\"rounds\":[{\"pages\":1}]}", "a round without its number" },
		{ "@,\"rounds\":{}}", "rounds not an array" },
		{ "@,\"rounds\":[],\"guest\":\"a\\u0007b\"}", "a control character" },
		{ "@,\"rounds\":[],\"guest\":\"0123456789012345678901234567890123456789012345678901234567890123\"}",
		  "a name too long" },
		{ "@,\"rounds\":[],\"network\":{\"vifs\":1,\"vifs_connected\":2}}", "more vifs back than there are" },
		{ "@,\"rounds\":[],\"type\":\"PVHX\"}", "an unknown guest type" },
		{ "@,\"rounds\":[],\"blackout\":[1]}", "blackout not an object" },
		{ "@,\"rounds\":[],\"x\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}", "nested too deep" },
		{ "@,\"rounds\":[],\"outcome\":\"won\"}", "an unknown outcome" },
		{ "@,\"rounds\":[]", "cut short" },
	};
	struct migr_roundlog *l = malloc(sizeof(*l));
	char text[2048], why[200];

	if (!l)
		abort();
	snprintf(text, sizeof(text), "%s,\"rounds\":[]}", ok_head);
	CHECK_EQ(migr_roundlog_parse(text, strlen(text), l, why, sizeof(why)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		if (bad[i].text[0] == '@')
			snprintf(text, sizeof(text), "%s%s", ok_head, bad[i].text + 1);
		else
			snprintf(text, sizeof(text), "%s", bad[i].text);
		rc = migr_roundlog_parse(text, strlen(text), l, why, sizeof(why));
		if (rc != -EBADMSG)
			fprintf(stderr, "round log with %s: parsed (%d)\n", bad[i].what, rc);
		CHECK_EQ(rc, -EBADMSG);
	}
	/* 65 rounds */
	{
		size_t n = snprintf(text, sizeof(text), "%s,\"rounds\":[", ok_head);
		static char big[8192];

		memcpy(big, text, n);
		for (unsigned int i = 0; i <= MIGR_ROUNDLOG_ROUNDS; i++)
			n += snprintf(big + n, sizeof(big) - n, "%s{\"round\":%u}", i ? "," : "", i);
		n += snprintf(big + n, sizeof(big) - n, "]}");
		CHECK_EQ(migr_roundlog_parse(big, n, l, why, sizeof(why)), -EBADMSG);
	}
	/* a NUL inside */
	snprintf(text, sizeof(text), "%s,\"rounds\":[]}", ok_head);
	text[20] = '\0';
	CHECK_EQ(migr_roundlog_parse(text, strlen(text + 21) + 21, l, why, sizeof(why)), -EBADMSG);

	/* files: too long, another id inside, a link, a directory, not an id */
	{
		char path[256], other[256];
		char *huge = malloc(MIGR_ROUNDLOG_MAX_BYTES + 2);
		size_t n;

		if (!huge)
			abort();
		snprintf(text, sizeof(text), "%s,\"rounds\":[]}", ok_head);
		n = strlen(text);
		memset(huge, ' ', MIGR_ROUNDLOG_MAX_BYTES + 1);
		memcpy(huge, text, n);
		snprintf(path, sizeof(path), "%s/%s.json", dir, id1);
		write_file(path, huge, MIGR_ROUNDLOG_MAX_BYTES + 1);
		CHECK_EQ(migr_roundlog_read(dir, id1, l, why, sizeof(why)), -EFBIG);
		write_file(path, huge, MIGR_ROUNDLOG_MAX_BYTES);    /* at the limit: fine */
		CHECK_EQ(migr_roundlog_read(dir, id1, l, why, sizeof(why)), 0);
		free(huge);
		snprintf(other, sizeof(other), "%s/ffffffffffffffffffffffffffffffff.json", dir);
		write_file(other, text, n);
		CHECK_EQ(migr_roundlog_read(dir, "ffffffffffffffffffffffffffffffff", l, why,
					    sizeof(why)), -EBADMSG);
		CHECK(strstr(why, "holds migration") != NULL);
		unlink(other);
		CHECK_EQ(symlink(path, other), 0);
		CHECK(migr_roundlog_read(dir, "ffffffffffffffffffffffffffffffff", l, why,
					 sizeof(why)) < 0);
		unlink(other);
		CHECK_EQ(mkdir(other, 0700), 0);
		CHECK(migr_roundlog_read(dir, "ffffffffffffffffffffffffffffffff", l, why,
					 sizeof(why)) < 0);
		rmdir(other);
		CHECK_EQ(migr_roundlog_read(dir, "../etc/passwd", l, why, sizeof(why)), -EINVAL);
		CHECK_EQ(migr_roundlog_read(dir, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", l, why,
					    sizeof(why)), -ENOENT);
		unlink(path);
	}
	free(l);
}

static int count_json(const struct migr_roundlog *l, void *arg)
{
	(*(unsigned int *)arg)++;
	return 0;
}

/* The directory keeps the newest MIGR_ROUNDLOG_KEEP; the oldest go with their pictures. */
static void test_bounded(void)
{
	struct migr_roundlog *l = malloc(sizeof(*l));
	char sub[256], path[300];
	unsigned int n = 0;
	struct timespec old[2] = { { 1000000, 0 }, { 1000000, 0 } };

	if (!l)
		abort();
	snprintf(sub, sizeof(sub), "%s/bounded", dir);
	migr_roundlog_init(l);
	for (unsigned int i = 0; i < MIGR_ROUNDLOG_KEEP + 3; i++) {
		snprintf(l->id, sizeof(l->id), "%032x", i + 1);
		CHECK_EQ(migr_roundlog_write(sub, l), 0);
		if (i < 3) {
			/* the first three are the oldest, with their pictures */
			snprintf(path, sizeof(path), "%s/%032x.json", sub, i + 1);
			old[0].tv_sec = old[1].tv_sec = 1000000 + i;
			CHECK_EQ(utimensat(AT_FDCWD, path, old, 0), 0);
			snprintf(path, sizeof(path), "%s/%032x.svg", sub, i + 1);
			write_file(path, "x", 1);
		}
	}
	CHECK_EQ(migr_roundlog_list(sub, count_json, &n), 0);
	CHECK_EQ(n, MIGR_ROUNDLOG_KEEP);
	for (unsigned int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%032x.json", sub, i + 1);
		CHECK(access(path, F_OK) != 0);
		snprintf(path, sizeof(path), "%s/%032x.svg", sub, i + 1);
		CHECK(access(path, F_OK) != 0);
	}
	snprintf(path, sizeof(path), "%s/%032x.json", sub, MIGR_ROUNDLOG_KEEP + 3);
	CHECK_EQ(access(path, F_OK), 0);
	free(l);
}

static void test_evacuation(void)
{
	struct migr_evac_report *r = calloc(1, sizeof(*r)), *back = calloc(1, sizeof(*back));
	char log[256], line[1024], *svg = NULL, *huge;
	size_t len;
	FILE *f;

	if (!r || !back)
		abort();
	snprintf(r->id, sizeof(r->id), "maint:1");
	snprintf(r->host, sizeof(r->host), "%s", hostile);
	snprintf(r->state, sizeof(r->state), "incomplete");
	r->started = 1764374400;
	r->elapsed_us = 30000000;
	r->n = 4;
	snprintf(r->lanes[0].guest, sizeof(r->lanes[0].guest), "%s", hostile);
	snprintf(r->lanes[0].target, sizeof(r->lanes[0].target), "hostb:8002");
	snprintf(r->lanes[0].state, sizeof(r->lanes[0].state), "moved");
	snprintf(r->lanes[0].link, sizeof(r->lanes[0].link), "migration-%s.svg", id1);
	r->lanes[0].timeline = true;
	r->lanes[0].start_us = 100000;
	r->lanes[0].notice_end_us = 5000000;
	r->lanes[0].attempt_us = 5000000;
	r->lanes[0].preflight_us = 30000;
	r->lanes[0].precopy_us = 8000000;
	r->lanes[0].blackout_us = 150000;
	r->lanes[0].net_back_known = true;
	r->lanes[0].net_back_us = 40000;
	r->lanes[0].fwd_known = true;
	r->lanes[0].fwd_packets = 1234;
	r->lanes[0].end_us = 13300000;
	snprintf(r->lanes[1].guest, sizeof(r->lanes[1].guest), "web2");
	snprintf(r->lanes[1].state, sizeof(r->lanes[1].state), "failed");
	snprintf(r->lanes[1].reason, sizeof(r->lanes[1].reason), "target refused: <nomem>");
	r->lanes[1].timeline = true;
	r->lanes[1].attempt_us = 1000000;
	r->lanes[1].end_us = 9000000;
	snprintf(r->lanes[2].guest, sizeof(r->lanes[2].guest), "pinned");
	snprintf(r->lanes[2].state, sizeof(r->lanes[2].state), "pinned");
	snprintf(r->lanes[3].guest, sizeof(r->lanes[3].guest), "old-record");
	snprintf(r->lanes[3].state, sizeof(r->lanes[3].state), "moved");
	r->lanes[3].total_us = UINT64_MAX;
	r->lanes[3].blackout_us = 1ull << 62;
	CHECK_EQ(migr_report_evacuation_svg(r, &svg, &len), 0);
	if (svg) {
		CHECK_EQ(xml_ok(svg, len, "evacuation"), 0);
		CHECK(strstr(svg, "<script") == NULL);
		CHECK(strstr(svg, "xlink:href=\"./migration-00112233445566778899aabbccddeeff.svg\"")
		      != NULL);
		CHECK(strstr(svg, "fwd 1234") != NULL);
		free(svg);
	}
	/* no lane at all */
	memset(r, 0, sizeof(*r));
	CHECK_EQ(migr_report_evacuation_svg(r, &svg, &len), 0);
	if (svg) {
		CHECK_EQ(xml_ok(svg, len, "evacuation-empty"), 0);
		free(svg);
	}

	/* read back from an event log among other lines */
	snprintf(log, sizeof(log), "%s/events.jsonl", dir);
	f = fopen(log, "w");
	if (!f)
		abort();
	fprintf(f, "{\"record\":\"migration\",\"evacuation\":\"other\",\"guest\":\"x\"}\n");
	fprintf(f, "garbage maint-1\n");
	fprintf(f, "{\"record\":\"migration\",\"evacuation\":\"maint-1\",\"guest\":\"g1\","
		"\"migration_id\":\"%s\",\"target\":\"b\",\"outcome\":\"moved\",\"attempts\":1,"
		"\"total_ms\":9000,\"blackout_ms\":150.5,\"net_back_ms\":null,"
		"\"forwarded_packets\":12,\"reason\":\"\",\"timeline_ms\":{\"start\":0.0,"
		"\"notice_end\":5000.0,\"attempt\":5000.0,\"preflight\":20.0,\"precopy\":8000.0,"
		"\"end\":14000.0}}\n", id1);
	fprintf(f, "{\"record\":\"migration\",\"evacuation\":\"maint-1\",\"guest\":\"bad\","
		"\"total_ms\":\"soon\"}\n");
	fprintf(f, "{\"record\":\"migration\",\"evacuation\":\"maint-1\",\"guest\":\"neg\","
		"\"total_ms\":-5}\n");
	fprintf(f, "{\"record\":\"migration\",\"evacuation\":\"maint-1\",\"guest\":\"deep\","
		"\"x\":[[[[[[[[[1]]]]]]]]]}\n");
	fprintf(f, "{\"record\":\"migration\",\"evacuation\":\"maint-1\",\"guest\":\"g\\u001b2\","
		"\"outcome\":\"failed\",\"total_ms\":100,\"reason\":\"no memory\"}\n");
	huge = malloc(70000);
	if (!huge)
		abort();
	memset(huge, 'a', 69999);
	huge[69999] = 0;
	fprintf(f, "{\"record\":\"migration\",\"evacuation\":\"maint-1\",\"guest\":\"%s\"}\n", huge);
	free(huge);
	fprintf(f, "{\"record\":\"evacuation\",\"id\":\"maint-1\",\"host\":\"hosta\","
		"\"state\":\"incomplete\",\"started\":1764374400,\"elapsed_ms\":15000.0,"
		"\"report\":null}\n");
	fclose(f);
	CHECK_EQ(migr_report_evac_from_log(log, "maint-1", back), 0);
	CHECK_EQ(back->n, 2);
	CHECK_STR(back->state, "incomplete");
	CHECK_STR(back->host, "hosta");
	CHECK_EQ(back->started, 1764374400);
	CHECK_EQ(back->elapsed_us, 15000000);
	CHECK_STR(back->lanes[0].guest, "g1");
	CHECK_STR(back->lanes[0].migration_id, id1);
	CHECK(back->lanes[0].timeline);
	CHECK_EQ(back->lanes[0].precopy_us, 8000000);
	CHECK_EQ(back->lanes[0].blackout_us, 150500);
	CHECK(!back->lanes[0].net_back_known);
	CHECK(back->lanes[0].fwd_known);
	CHECK_EQ(back->lanes[0].fwd_packets, 12);
	CHECK_STR(back->lanes[1].guest, "g?2");
	CHECK(!back->lanes[1].timeline);
	CHECK_EQ(migr_report_evac_from_log(log, "maint-2", back), -ENOENT);
	CHECK_EQ(migr_report_evac_from_log("/nonexistent/log", "maint-1", back), -ENOENT);
	snprintf(line, sizeof(line), "{\"record\":\"evacuation\",\"id\":\"maint-1\","
		 "\"elapsed_ms\":1e300}");
	CHECK_EQ(migr_report_evac_line(back, "maint-1", line, strlen(line)), -EBADMSG);
	CHECK_EQ(migr_report_evacuation_svg(back, &svg, &len), 0);
	if (svg) {
		CHECK_EQ(xml_ok(svg, len, "evacuation-log"), 0);
		free(svg);
	}
	free(r);
	free(back);
}

static void test_index(void)
{
	char sub[256], path[400], *html = NULL;
	size_t len;

	snprintf(sub, sizeof(sub), "%s/idx", dir);
	CHECK_EQ(mkdir(sub, 0755), 0);
	snprintf(path, sizeof(path), "%s/evacuation-maint:1.svg", sub);
	write_file(path, "<svg/>", 6);
	snprintf(path, sizeof(path), "%s/migration-%s.svg", sub, id1);
	write_file(path, "<svg/>", 6);
	snprintf(path, sizeof(path), "%s/evacuation-a b.svg", sub);     /* not a fit id */
	write_file(path, "<svg/>", 6);
	snprintf(path, sizeof(path), "%s/evacuation-link.svg", sub);    /* a link: left out */
	CHECK_EQ(symlink("/etc/passwd", path), 0);
	snprintf(path, sizeof(path), "%s/notes.txt", sub);
	write_file(path, "x", 1);
	CHECK_EQ(migr_report_index(sub), 0);
	snprintf(path, sizeof(path), "%s/index.html", sub);
	CHECK_EQ(migr__file_read(path, 1 << 20, &html, &len), 0);
	if (!html)
		return;
	CHECK_EQ(xml_ok(html, len, "index"), 0);
	CHECK(strstr(html, "href=\"./evacuation-maint%3A1.svg\"") != NULL);
	CHECK(strstr(html, "href=\"./migration-00112233445566778899aabbccddeeff.svg\"") != NULL);
	CHECK(strstr(html, "a b") == NULL);
	CHECK(strstr(html, "evacuation-link") == NULL);
	CHECK(strstr(html, "notes") == NULL);
	free(html);
	CHECK_EQ(migr_report_index("/nonexistent/dir"), -ENOENT);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	test_escapes();
	test_roundtrip_and_picture();
	test_refusals();
	test_bounded();
	test_evacuation();
	test_index();
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (!unit_failures && system(cmd))
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return unit_done("test_report");
}

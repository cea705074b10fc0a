/* test_schema.c: the xenstore schema parser, the checker and the xenstore-ls dump reader. */
#include <errno.h>
#include <stdlib.h>
#include "libmigr.h"
#include "unit.h"

static struct migr_schema *S;

static int chk(const char *path, const char *value, const char *perms)
{
	char why[256];

	return migr_schema_check(S, path, value, value ? strlen(value) : 0, perms, why,
				 sizeof(why), NULL);
}

static void test_builtin(void)
{
	CHECK_EQ(migr_schema_load_builtin(&S), 0);
	CHECK(migr_schema_node_count(S) >= 40);
}

static void test_host_nodes(void)
{
	CHECK_EQ(chk("/local/domain/0/migr", "", "n0"), MIGR_SCHEMA_OK);
	CHECK_EQ(chk("/local/domain/0/migr/request",
		     "{\"action\":\"evacuate\",\"to\":[\"b\"],\"reason\":\"dimm\"}", "n0"),
		 MIGR_SCHEMA_OK);
	CHECK_EQ(chk("/local/domain/0/migr/request", "{\"action\":", "n0"), MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/0/migr/request", "{}", "n0,r5"), MIGR_SCHEMA_BAD_PERMS);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/state", "running", "n0"), MIGR_SCHEMA_OK);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/state", "runnin", "n0"), MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/state", "running\n", "n0"), MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/guest/7/sent-bytes", "1234567890123", "n0"),
		 MIGR_SCHEMA_OK);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/guest/7/sent-bytes", "-1", "n0"),
		 MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/guest/7/round", "007", "n0"),
		 MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/guest/7/round",
		     "99999999999999999999999", "n0"), MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/guest/07/round", "1", "n0"),
		 MIGR_SCHEMA_UNKNOWN);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/guest/40000/round", "1", "n0"),
		 MIGR_SCHEMA_UNKNOWN);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/guest/7/target", "", "n0"), MIGR_SCHEMA_OK);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/guest/7/target", "host b", "n0"),
		 MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/targets", "b,c.example:7000", "n0"),
		 MIGR_SCHEMA_OK);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/targets", "b,,c", "n0"), MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/0/migr/evacuation/targets", "b,", "n0"), MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/0/migr/policy/web-1/group", "web", "n0"), MIGR_SCHEMA_OK);
	CHECK_EQ(chk("/local/domain/0/migr/bogus", "x", "n0"), MIGR_SCHEMA_UNKNOWN);
	CHECK_EQ(chk("/local/domain/0/name", "Domain-0", "n0"), MIGR_SCHEMA_OUT_OF_SCOPE);
	CHECK_EQ(chk("local/domain/0/migr", "", "n0"), MIGR_SCHEMA_BAD_PATH);
	CHECK_EQ(chk("/local//domain", "", "n0"), MIGR_SCHEMA_BAD_PATH);
	CHECK_EQ(chk("/local/domain/0/migr/", "", "n0"), MIGR_SCHEMA_BAD_PATH);
}

static void test_guest_nodes(void)
{
	enum migr_schema_trust t = MIGR_SCHEMA_TRUST_DOM0;
	char why[256];

	CHECK_EQ(chk("/local/domain/5/migr/maintenance-event", "MIGRATE_ON_HOST_MAINTENANCE",
		     "n0,r5"), MIGR_SCHEMA_OK);
	CHECK_EQ(chk("/local/domain/5/migr/maintenance-event", "NONE", "n0,r6"),
		 MIGR_SCHEMA_BAD_PERMS);
	CHECK_EQ(chk("/local/domain/5/migr/maintenance-event", "NONE", "n5"), MIGR_SCHEMA_BAD_PERMS);
	CHECK_EQ(chk("/local/domain/5/migr/maintenance-event", "NONE", "n0,r5,b7"),
		 MIGR_SCHEMA_BAD_PERMS);
	CHECK_EQ(chk("/local/domain/5/migr/maintenance-event", "NONE", "n0,r5,"),
		 MIGR_SCHEMA_BAD_PERMS);
	CHECK_EQ(chk("/local/domain/5/migr/maintenance-event", "NONE", "x0"), MIGR_SCHEMA_BAD_PERMS);
	CHECK_EQ(chk("/local/domain/5/migr/maintenance-event", "none", "n0,r5"),
		 MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(migr_schema_check(S, "/local/domain/5/migr/ack", "ev-1", 4, "n0,b5", why,
				   sizeof(why), &t), MIGR_SCHEMA_OK);
	CHECK_EQ(t, MIGR_SCHEMA_TRUST_GUEST);
	CHECK_EQ(chk("/local/domain/5/migr/ack", "", "n0,b5"), MIGR_SCHEMA_OK);
	CHECK_EQ(chk("/local/domain/5/migr/ack", "ev 1", "n0,b5"), MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/5/migr/defer", "30", "n0,b5"), MIGR_SCHEMA_OK);
	CHECK_EQ(chk("/local/domain/5/migr/defer", "86401", "n0,b5"), MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/5/migr/defer", "1e3", "n0,b5"), MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/5/migr/defer", "+3", "n0,b5"), MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/5/migr/defer", " 3", "n0,b5"), MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(chk("/local/domain/5/migr/evil", "1", "n0,b5"), MIGR_SCHEMA_UNKNOWN);
	CHECK_EQ(chk("/local/domain/5/data/memwork/errors", "0", NULL), MIGR_SCHEMA_OK);
	CHECK_EQ(chk("/local/domain/5/data/other", "0", NULL), MIGR_SCHEMA_OUT_OF_SCOPE);
	/* A NUL or control byte inside a value is never accepted. */
	CHECK_EQ(migr_schema_check_value(S, "/local/domain/5/migr/ack", "ev\0x", 4),
		 MIGR_SCHEMA_BAD_VALUE);
	CHECK_EQ(migr_schema_check_value(S, "/local/domain/0/migr/evacuation/reason", "a\tb", 3),
		 MIGR_SCHEMA_BAD_VALUE);
}

static void test_parse_errors(void)
{
	struct migr_schema *s = NULL;
	char err[128];
	const char *ok = "scope /a\nnode /a/$DOMID/x\n\towner dom0\n\tperms n0,r$DOMID\n"
			 "\tvalue enum A|B\n\ttrust dom0\n\twriter w\n\twatcher w\n\tdoc d\n";
	const char *guestw = "scope /a\nnode /a/$DOMID/x\n\towner dom0\n\tperms n0,b$DOMID\n"
			     "\tvalue enum A|B\n\ttrust dom0\n\twriter w\n\twatcher w\n\tdoc d\n";
	const char *bad[] = {
		"",
		"node /a\n",
		"scope /a\nnode /a\n\towner dom0\n",
		"scope /a\n\towner dom0\n",
		"scope /a\nnode /a/$FOO\n",
		"scope /a\nnode /a/b/\n",
		"scope /a\nnode /a\n\tvalue enum A||B\n",
		"scope /a\nnode /a\n\tvalue int 5 1\n",
		"scope /a\nnode /a\n\tvalue text 0\n",
		"scope /a\nnode /a\n\tvalue text 99999\n",
		"scope /a\nnode /a\n\tperms n0,\n",
		"scope /a\nnode /a\n\tperms q0\n",
		"scope /a\nnode /a\n\towner dom0\n\towner dom0\n",
		"bogus\n",
	};

	CHECK_EQ(migr_schema_parse(ok, strlen(ok), &s, err, sizeof(err)), 0);
	if (s) {
		CHECK_EQ(migr_schema_check(s, "/a/3/x", "B", 1, "n0,r3", NULL, 0, NULL),
			 MIGR_SCHEMA_OK);
		CHECK_EQ(migr_schema_check(s, "/a/0/x", "B", 1, "n0,r0", NULL, 0, NULL),
			 MIGR_SCHEMA_UNKNOWN);
	}
	migr_schema_free(s);
	s = NULL;
	/* A node a guest can write must be declared untrusted. */
	CHECK_EQ(migr_schema_parse(guestw, strlen(guestw), &s, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "trust") != NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = NULL;
		err[0] = 0;
		CHECK_EQ(migr_schema_parse(bad[i], strlen(bad[i]), &s, err, sizeof(err)), -EINVAL);
		CHECK(s == NULL);
		CHECK(err[0] != 0);
	}
}

static void test_json(void)
{
	const char *good[] = { "{}", "[]", "0", "-1.5e+3", "\"a\\u00e9\\n\"", "{\"a\":[1,true,null]}",
			       " { \"a\" : { \"b\" : [ ] } } " };
	const char *bad[] = { "", "{", "{\"a\"}", "[1,]", "01", "1.", "\"\\x\"", "\"a", "tru",
			      "{}{}", "{\"a\":1,}", "[\"\x01\"]", "nul", "-", "1e" };
	char deep[64];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_EQ(migr_json_check(good[i], strlen(good[i]), 16), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(migr_json_check(bad[i], strlen(bad[i]), 16), -EINVAL);
	memset(deep, '[', 20);
	memset(deep + 20, ']', 20);
	CHECK_EQ(migr_json_check(deep, 40, 16), -EINVAL);
	CHECK_EQ(migr_json_check(deep, 40, 20), 0);
}

static void test_dump(void)
{
	struct migr_xs_entry e;
	const char *l;

	l = "/local/domain/0/migr/evacuation/state = \"running\"   (n0)";
	CHECK_EQ(migr_xs_dump_parse_line(l, strlen(l), &e), 0);
	CHECK_STR(e.path, "/local/domain/0/migr/evacuation/state");
	CHECK_STR(e.value, "running");
	CHECK_STR(e.perms, "n0");
	CHECK_EQ(e.truncated, 0);
	migr_xs_entry_clear(&e);

	l = "/local/domain/5/migr/ack = \"a\"b\\\\\\n\\x7f\\001\"   (n0,b5)";
	CHECK_EQ(migr_xs_dump_parse_line(l, strlen(l), &e), 0);
	CHECK_EQ(e.vlen, 7);
	CHECK(e.value && !memcmp(e.value, "a\"b\\\n\x7f\001", 7));
	CHECK_STR(e.perms, "n0,b5");
	migr_xs_entry_clear(&e);

	/* A value that itself contains '"  (n0)' ends at the last quote before the perms. */
	l = "/x = \"q\"  (n0)\"   (n0,r1)";
	CHECK_EQ(migr_xs_dump_parse_line(l, strlen(l), &e), 0);
	CHECK_STR(e.value, "q\"  (n0)");
	CHECK_STR(e.perms, "n0,r1");
	migr_xs_entry_clear(&e);

	l = "/local/domain/0/migr = \"\"   (n0)";
	CHECK_EQ(migr_xs_dump_parse_line(l, strlen(l), &e), 0);
	CHECK_EQ(e.vlen, 0);
	migr_xs_entry_clear(&e);

	l = "/tool/xenstored:";
	CHECK_EQ(migr_xs_dump_parse_line(l, strlen(l), &e), 0);
	CHECK(e.value == NULL);
	migr_xs_entry_clear(&e);

	l = "/local/domain/0/name = \"Domain-\\...\"";
	CHECK_EQ(migr_xs_dump_parse_line(l, strlen(l), &e), 0);
	CHECK_EQ(e.truncated, 1);
	CHECK(e.perms == NULL);
	migr_xs_entry_clear(&e);

	const char *bad[] = { "", "x = \"a\"", "/a = \"b", "/a = b", "/a \"b\"", "/a = \"\\q\"",
			      "/a = \"\\x4\"", "/a = \"\\\"", "  (n0)", "/a b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(migr_xs_dump_parse_line(bad[i], strlen(bad[i]), &e), -EINVAL);
}

int main(void)
{
	test_builtin();
	if (S) {
		test_host_nodes();
		test_guest_nodes();
	}
	test_parse_errors();
	test_json();
	test_dump();
	migr_schema_free(S);
	return unit_done("test_schema");
}

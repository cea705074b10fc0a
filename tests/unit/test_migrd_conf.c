/*
 * test_migrd_conf.c: migrd's settings (tools/migrd/conf.c): migrd.conf in xl.cfg's syntax
 * read through libxlutil, each kind of key (number, "auto", flag, string, list, a list as
 * one string, +=), the errors naming file, line and key (unknown, given twice, wrong
 * type, out of range, a rule's own refusal, a syntax error), the command line replacing
 * the file's values, the checks before start (credential files and their modes), the
 * listing of --check-config (never a key's contents) and the option table; the reports'
 * and metrics' settings (report_dir, metrics_file: "" keeps no metrics).
 *
 * tests/pkg/test_migrd_conf.sh runs the built migrd --check-config for its exit statuses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "unit.h"

static char dir[64];
static char psk[128];

#define PSK_SECRET "00112233445566778899aabbccddeeff"

/* Writes text to dir/name; returns the path (static, one at a time). */
static const char *file(const char *name, const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f))
		abort();
	return path;
}

/* One run: a fresh conf whose errors go to *msgs (a memstream), the file read. */
struct run {
	struct migrd_conf c;
	FILE *err;
	char *msgs;
	size_t len;
	int rc;
};

static void run_read(struct run *r, const char *text)
{
	memset(r, 0, sizeof(*r));
	r->err = open_memstream(&r->msgs, &r->len);
	if (!r->err || migrd_conf_init(&r->c, r->err))
		abort();
	r->rc = migrd_conf_read(&r->c, file("migrd.conf", text), true);
	fflush(r->err);
}

static void run_end(struct run *r)
{
	migrd_conf_dispose(&r->c);
	fclose(r->err);
	free(r->msgs);
}

/* The messages hold want. */
#define CHECK_MSG(r, want) do { fflush((r)->err); CHECK(strstr((r)->msgs, (want)) != NULL); \
	if (!strstr((r)->msgs, (want))) fprintf(stderr, "  messages were:\n%s", (r)->msgs); } \
	while (0)

static void test_kinds(void)
{
	struct run r;

	run_read(&r,
		 "# every kind of value\n"
		 "max_incoming = 8\n"
		 "notice = 0x10   # xl.cfg's numbers: hexadecimal too\n"
		 "parallel = \"auto\"; group_cap = 0\n"
		 "insecure = 1\n"
		 "listen = \"127.0.0.1:9000\"\n"
		 "allow_bridge = [ \"xenbr0\",\n"
		 "                 \"br1\", ]\n"
		 "allow_bridge += [ \"br2\" ]\n"
		 "storage = \"/srv/xen\"\n"
		 "targets = [ \"b:8002\", \"c\" ]\n"
		 "event_log = \"\"\n"
		 "host = 'it\\'s'\n"
		 "metrics_file = \"\"\n"
		 "report_dir = \"/srv/reports\"\n");
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.c.errors, 0);
	CHECK_EQ(r.c.max_incoming, 8);
	CHECK_EQ(r.c.notice, 16);
	CHECK_EQ(r.c.parallel, 0);
	CHECK_EQ(r.c.group_cap, 0);
	CHECK_EQ(r.c.insecure, 1);
	CHECK_STR(r.c.listen, "127.0.0.1:9000");
	CHECK_EQ(r.c.allow_bridge.n, 3);
	if (r.c.allow_bridge.n == 3) {
		CHECK_STR(r.c.allow_bridge.v[0], "xenbr0");
		CHECK_STR(r.c.allow_bridge.v[2], "br2");
	}
	CHECK_EQ(r.c.storage.n, 1);
	CHECK_EQ(r.c.targets.n, 2);
	CHECK_STR(r.c.event_log, "");
	CHECK_STR(r.c.host, "it's");
	CHECK_STR(r.c.metrics_file, "");          /* none */
	CHECK_STR(r.c.report_dir, "/srv/reports");
	/* untouched: the defaults */
	CHECK_EQ(r.c.handshake_timeout, 5);
	CHECK_EQ(r.c.retries, 3);
	CHECK_STR(r.c.scripts_dir, "/etc/xen/scripts");
	CHECK_EQ(migrd_conf_origin(&r.c, "listen"), 6);
	CHECK_EQ(migrd_conf_origin(&r.c, "allow-bridge"), 7);   /* its first line */
	CHECK_EQ(migrd_conf_origin(&r.c, "retries"), 0);
	CHECK_EQ(migrd_conf_check(&r.c), 0);
	CHECK_EQ(r.c.rules.n_bridges, 3);
	CHECK_EQ(r.c.rules.n_storage, 1);
	run_end(&r);

	run_read(&r, "parallel = 3\n");
	CHECK_EQ(r.c.parallel, 3);
	CHECK_STR(r.c.metrics_file, "/var/lib/prometheus/node-exporter/migr.prom");
	CHECK_STR(r.c.report_dir, "/var/lib/migr/reports");
	run_end(&r);

	/* A missing default file is every default; a file the operator named must exist. */
	memset(&r, 0, sizeof(r));
	r.err = open_memstream(&r.msgs, &r.len);
	migrd_conf_init(&r.c, r.err);
	CHECK_EQ(migrd_conf_read(&r.c, "/nonexistent/migrd.conf", false), 0);
	CHECK(r.c.path == NULL);
	CHECK_EQ(migrd_conf_read(&r.c, "/nonexistent/migrd.conf", true), -ENOENT);
	CHECK_MSG(&r, "/nonexistent/migrd.conf: No such file");
	run_end(&r);
}

static void test_errors(void)
{
	char want[256];
	struct run r;

	run_read(&r,
		 "max_incoming = 4\n"
		 "bogus = 1\n"                           /* 2: unknown */
		 "notice = 100000\n"                     /* 3: out of range */
		 "retries = \"three\"\n"                 /* 4: not a number */
		 "listen = [ \":1\" ]\n"                 /* 5: a list for a string */
		 "storage = [ \"relative\" ]\n"          /* 6: the rules refuse it */
		 "max_incoming = 5\n"                    /* 7: given twice */
		 "host += \"x\"\n"                       /* 8: += on a string */
		 "once = 1\n"                            /* 9: an option only */
		 "targets = [ \":8002\" ]\n"             /* 10: no host */
		 "insecure = 2\n"                        /* 11: a flag is 0 or 1 */
		 "allow = [ [ \"pci\" ] ]\n"             /* 12: a list in a list */
		 "report_dir = \"\"\n"                   /* 13: "" is not a directory */
		 "compress = \"fast\"\n");               /* 14: not a word it takes */
	CHECK_EQ(r.rc, -EINVAL);
	CHECK_EQ(r.c.errors, 13);
	snprintf(want, sizeof(want), "%s/migrd.conf:2: unknown key 'bogus'", dir);
	CHECK_MSG(&r, want);
	snprintf(want, sizeof(want), "%s/migrd.conf:3: notice: 100000 is out of range (0 to "
		 "86400)", dir);
	CHECK_MSG(&r, want);
	CHECK_MSG(&r, "migrd.conf:4: retries: expected a number");
	CHECK_MSG(&r, "migrd.conf:5: listen: expected a string");
	CHECK_MSG(&r, "migrd.conf:6: storage: --storage takes an absolute path");
	CHECK_MSG(&r, "migrd.conf:7: max_incoming: given again (first at line 1)");
	CHECK_MSG(&r, "migrd.conf:8: host: += adds to a list");
	CHECK_MSG(&r, "migrd.conf:9: once: a command-line option only (--once)");
	CHECK_MSG(&r, "migrd.conf:10: targets: \":8002\" names no host");
	CHECK_MSG(&r, "migrd.conf:11: insecure: 2 is not 0 or 1");
	CHECK_MSG(&r, "migrd.conf:12: allow: item 1 is a list, not a string");
	CHECK_MSG(&r, "migrd.conf:13: report_dir: empty");
	CHECK_MSG(&r, "migrd.conf:14: compress: \"fast\" is not one of auto|on|off");
	run_end(&r);

	/* Syntax: libxlutil names the line (a '-' in a key, an unquoted string). */
	run_read(&r, "notice = 5\nallow-bridge = \"xenbr0\"\n");
	CHECK_EQ(r.rc, -EINVAL);
	CHECK_MSG(&r, "migrd.conf:2: config parsing error");
	CHECK_MSG(&r, "keys spelt with '_'");
	CHECK(strstr(r.msgs, "Python") == NULL);
	run_end(&r);
	run_read(&r, "\n\ntargets = hostb:8002\n");
	CHECK_EQ(r.rc, -EINVAL);
	CHECK_MSG(&r, "migrd.conf:3: config parsing error");
	run_end(&r);
}

static void test_options(void)
{
	struct run r;

	run_read(&r, "max_incoming = 8\nallow_bridge = [ \"xenbr0\", \"br1\" ]\nnotice = 30\n"
		 "metrics_file = \"/srv/m.prom\"\nreport_dir = \"/srv/r\"\n");
	CHECK_EQ(migrd_conf_option(&r.c, "max-incoming", "2"), 0);
	CHECK_EQ(migrd_conf_option(&r.c, "allow-bridge", "br9"), 0);
	CHECK_EQ(migrd_conf_option(&r.c, "allow-bridge", "br10,br11"), 0);
	CHECK_EQ(migrd_conf_option(&r.c, "stock-hotplug", NULL), 0);
	CHECK_EQ(r.c.max_incoming, 2);            /* the option replaces the file's 8 */
	CHECK_EQ(r.c.allow_bridge.n, 2);          /* and the file's whole list */
	if (r.c.allow_bridge.n == 2)
		CHECK_STR(r.c.allow_bridge.v[0], "br9");
	CHECK_EQ(r.c.stock_hotplug, 1);
	CHECK_EQ(r.c.late_devices, 0);
	CHECK_EQ(migrd_conf_option(&r.c, "late-devices", NULL), 0);
	CHECK_EQ(r.c.late_devices, 1);
	CHECK_EQ(migrd_conf_option(&r.c, "metrics-file", ""), 0);     /* "" none */
	CHECK_EQ(migrd_conf_option(&r.c, "report-dir", "/tmp/r"), 0);
	CHECK_STR(r.c.metrics_file, "");
	CHECK_STR(r.c.report_dir, "/tmp/r");
	CHECK_EQ(migrd_conf_origin(&r.c, "metrics-file"), -1);
	CHECK_EQ(r.c.notice, 30);                 /* no option: the file's */
	CHECK_EQ(migrd_conf_origin(&r.c, "max-incoming"), -1);   /* the command line */
	CHECK_EQ(migrd_conf_origin(&r.c, "notice"), 3);
	CHECK_EQ(r.c.errors, 0);

	CHECK_EQ(migrd_conf_option(&r.c, "max-incoming", "0"), -EINVAL);
	CHECK_MSG(&r, "--max-incoming: 0 is out of range (1 to 64)");
	CHECK_EQ(migrd_conf_option(&r.c, "timeout", "5s"), -EINVAL);
	CHECK_MSG(&r, "--timeout: \"5s\" is not a number");
	CHECK_EQ(migrd_conf_option(&r.c, "allow", "everything"), -EINVAL);
	CHECK_MSG(&r, "--allow: --allow takes pci");
	CHECK_EQ(migrd_conf_option(&r.c, "report-dir", ""), -EINVAL);
	CHECK_MSG(&r, "--report-dir: empty");
	CHECK_EQ(migrd_conf_option(&r.c, "no-such-option", "1"), -ENOENT);
	CHECK_EQ(r.c.errors, 4);
	run_end(&r);
}

static void test_check_and_print(void)
{
	char *out = NULL, text[512];
	size_t len = 0;
	struct run r;
	FILE *f;

	/* A pre-shared key file others may read is refused, naming the key's line. */
	snprintf(text, sizeof(text), "psk = \"%s\"\npsk_identity = \"a\"\n", psk);
	chmod(psk, 0644);
	run_read(&r, text);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(migrd_conf_check(&r.c), -EINVAL);
	CHECK_MSG(&r, "migrd.conf:1: psk: credentials: pre-shared key file");
	CHECK_MSG(&r, "mode 0644");
	run_end(&r);

	chmod(psk, 0600);
	run_read(&r, text);
	CHECK_EQ(migrd_conf_option(&r.c, "max-incoming", "3"), 0);
	CHECK_EQ(migrd_conf_check(&r.c), 0);
	CHECK_EQ(r.c.errors, 0);
	CHECK_EQ(r.c.warnings, 0);
	f = open_memstream(&out, &len);
	migrd_conf_print(&r.c, f);
	fclose(f);
	CHECK(strstr(out, "max_incoming = 3 ") != NULL);
	CHECK(strstr(out, "# --max-incoming\n") != NULL);
	CHECK(strstr(out, "psk_identity = \"a\" ") != NULL);
	CHECK(strstr(out, "migrd.conf:2\n") != NULL);
	CHECK(strstr(out, "allow_bridge = [ ]") != NULL);
	CHECK(strstr(out, "parallel = \"auto\"") != NULL);
	CHECK(strstr(out, PSK_SECRET) == NULL);  /* the file's name, never its key */
	free(out);
	out = NULL;
	run_end(&r);

	/* No line for this host's own connections: a warning, not an error. */
	snprintf(text, sizeof(text), "psk = \"%s\"\npsk_identity = \"z\"\n", psk);
	run_read(&r, text);
	CHECK_EQ(migrd_conf_check(&r.c), 0);
	CHECK_EQ(r.c.warnings, 1);
	CHECK_MSG(&r, "warning: evacuations from this host cannot authenticate");
	run_end(&r);

	/* Its listing reads back as the same settings. */
	run_read(&r, "insecure = 1\nstorage_map = [ \"/a=/b\" ]\nhost = \"q\\\"uote\"\n");
	CHECK_EQ(migrd_conf_check(&r.c), 0);
	f = open_memstream(&out, &len);
	migrd_conf_print(&r.c, f);
	fclose(f);
	run_end(&r);
	run_read(&r, out);
	CHECK_EQ(r.rc, 0);
	CHECK_EQ(r.c.insecure, 1);
	CHECK_STR(r.c.host, "q\"uote");
	CHECK_EQ(r.c.storage_map.n, 1);
	run_end(&r);
	free(out);
}

static void test_option_table(void)
{
	struct option o[MIGRD_SETTINGS_MAX];
	unsigned int n = migrd_conf_options(o, MIGRD_SETTINGS_MAX, 7);
	bool once = false, listen = false, notice = false;

	for (unsigned int i = 0; i < n; i++) {
		CHECK_EQ(o[i].val, 7);
		if (!strcmp(o[i].name, "once"))
			once = o[i].has_arg == no_argument;
		if (!strcmp(o[i].name, "listen"))
			listen = o[i].has_arg == required_argument;
		if (!strcmp(o[i].name, "notice"))
			notice = true;                /* a key only: no option */
	}
	CHECK(once);
	CHECK(listen);
	CHECK(!notice);
}

int main(void)
{
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/migrd-conf-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(psk, sizeof(psk), "%s/psk.key", dir);
	f = fopen(psk, "w");
	if (!f)
		return 1;
	fprintf(f, "a:%s\n", PSK_SECRET);
	fclose(f);
	chmod(psk, 0600);
	test_kinds();
	test_errors();
	test_options();
	test_check_and_print();
	test_option_table();
	unlink(psk);
	unlink(file("migrd.conf", ""));
	rmdir(dir);
	return unit_done("test_migrd_conf");
}

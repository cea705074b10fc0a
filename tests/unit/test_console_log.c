/*
 * test_console_log.c: a received guest's console log follows its rename (console_log.c):
 * xenconsoled's command line as the daemon reads it, and the log carried over from
 * guest-NAME--incoming.log to guest-NAME.log by the fake hypervisor's xenconsoled, which
 * opens and reopens logs as Xen's io.c does.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "../../libmigr/util.h"

static char dir[64];

static int args(const char *cmdline, size_t len, struct migr_consoled *c)
{
	memset(c, 0x55, sizeof(*c));
	return migr__consoled_args(cmdline, len, c);
}

#define ARGS(lit, c) args(lit, sizeof(lit) - 1, c)

static void test_args(void)
{
	struct migr_consoled c;

	/* Debian 12's unit: -i --log=${XENCONSOLED_TRACE} --log-dir=${XENCONSOLED_LOG_DIR} */
	CHECK_EQ(ARGS("/usr/sbin/xenconsoled\0-i\0--log=guest\0--log-dir=/var/log/xen/console\0", &c), 0);
	CHECK(c.guest_logs);
	CHECK_STR(c.log_dir, "/var/log/xen/console");
	/* its default: --log=none */
	CHECK_EQ(ARGS("/usr/sbin/xenconsoled\0-i\0--log=none\0--log-dir=/var/log/xen/console\0", &c), 0);
	CHECK(!c.guest_logs);
	/* xencommons' sysv script: no --log-dir, Xen's default; "all" logs guests too */
	CHECK_EQ(ARGS("xenconsoled\0--pid-file=/run/xen/xenconsoled.pid\0--log=all\0", &c), 0);
	CHECK(c.guest_logs);
	CHECK_STR(c.log_dir, "/var/log/xen/console");
	/* separate arguments, a unique prefix, the last --log-dir wins; --log=none after
	 * --log=guest does not turn it off (main.c only ever sets the flags) */
	CHECK_EQ(ARGS("xenconsoled\0--log\0guest\0--log-d\0/a\0--log-dir\0/srv/cons\0--log=none", &c), 0);
	CHECK(c.guest_logs);
	CHECK_STR(c.log_dir, "/srv/cons");
	/* a short option's argument is not an option: -t guest, -o keep */
	CHECK_EQ(ARGS("xenconsoled\0-vit\0--log=guest\0-o\0--log-dir=/x\0", &c), 0);
	CHECK(!c.guest_logs);
	CHECK_STR(c.log_dir, "/var/log/xen/console");
	/* --pid-file's argument neither */
	CHECK_EQ(ARGS("xenconsoled\0--pid-file\0--log=guest\0", &c), 0);
	CHECK(!c.guest_logs);
	/* after "--" nothing is an option */
	CHECK_EQ(ARGS("xenconsoled\0--\0--log=guest\0", &c), 0);
	CHECK(!c.guest_logs);
	/* what xenconsoled would refuse, or where no log could be named */
	CHECK_EQ(ARGS("xenconsoled\0--lo=guest\0", &c), -EINVAL);           /* ambiguous */
	CHECK_EQ(ARGS("xenconsoled\0--bogus\0", &c), -EINVAL);
	CHECK_EQ(ARGS("xenconsoled\0--log-dir=relative\0", &c), -EINVAL);
	CHECK_EQ(ARGS("xenconsoled\0--log-dir=\0", &c), -EINVAL);
	{
		char big[600];
		size_t n = (size_t)snprintf(big, sizeof(big), "xenconsoled%c--log-dir=/", 0);

		memset(big + n, 'a', 300);
		CHECK_EQ(args(big, n + 300, &c), -EINVAL);   /* longer than log_dir holds */
	}
	/* unterminated last argument (cmdline cut short), and nothing at all */
	CHECK_EQ(ARGS("xenconsoled\0--log=guest\0--log-dir=/l", &c), 0);
	CHECK(c.guest_logs);
	CHECK_STR(c.log_dir, "/l");
	CHECK_EQ(args("", 0, &c), 0);
	CHECK(!c.guest_logs);
}

/* The whole text of DIR/guest-NAME.log; "" when absent (and *exists false). */
static const char *log_text(const char *name, bool *exists)
{
	static char buf[4096];
	char path[256];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/guest-%s.log", dir, name);
	buf[0] = '\0';
	f = fopen(path, "r");
	if (exists)
		*exists = f != NULL;
	if (!f)
		return buf;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void put_log(const char *name, const char *text)
{
	char file[128];

	snprintf(file, sizeof(file), "guest-%s.log", name);
	unit_write_file(dir, file, text);
}

static void clean(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -f %s/*", dir);
	CHECK_EQ(system(cmd), 0);
}

/* A fake host whose xenconsoled logs guests into dir; a guest restored as g1--incoming
 * (its log opened under that name), then renamed g1 as the target does. */
static struct migr_hv_fake *host(bool logs, uint32_t *domid_r)
{
	struct migr_hv_fake *f;

	CHECK_EQ(migr_hv_fake_new(1 << 30, &f), 0);
	f->consoled_dir = dir;
	f->consoled_guest_logs = logs;
	*domid_r = migr_hv_fake_add(f, "g1--incoming", MIGR_GUEST_PVH, 256, 0);
	CHECK_EQ(f->hv.ops->rename(&f->hv, *domid_r, "g1--incoming", "g1"), 0);
	return f;
}

/* First life here: the file renamed, nothing written before or after lost. */
static void test_first_log(void)
{
	struct migr_hv_fake *f;
	uint32_t id;
	bool there;

	clean();
	f = host(true, &id);
	CHECK_EQ(migr_hv_fake_console(f, id, "boot after resume\n"), 0);
	CHECK_EQ(migr__console_log_follow(&f->hv, id, "g1--incoming", "g1", NULL), 0);
	CHECK_EQ(f->consoled_reopens, 1);
	CHECK_EQ(migr_hv_fake_console(f, id, "later\n"), 0);
	CHECK_STR(log_text("g1", NULL), "boot after resume\nlater\n");
	log_text("g1--incoming", &there);
	CHECK(!there);
	migr_hv_close(&f->hv);
}

/* An earlier life's guest-g1.log is appended to, in order, never replaced. */
static void test_earlier_life(void)
{
	struct migr_hv_fake *f;
	uint32_t id;
	bool there;

	clean();
	put_log("g1", "first life\n");
	f = host(true, &id);
	CHECK_EQ(migr_hv_fake_console(f, id, "second life\n"), 0);
	CHECK_EQ(migr__console_log_follow(&f->hv, id, "g1--incoming", "g1", NULL), 0);
	CHECK_EQ(migr_hv_fake_console(f, id, "later\n"), 0);
	CHECK_STR(log_text("g1", NULL), "first life\nsecond life\nlater\n");
	log_text("g1--incoming", &there);
	CHECK(!there);
	migr_hv_close(&f->hv);
}

/* The daemon ignores the signal: its file is kept (it still writes there), the guest's
 * log has the text so far, and the call says so. */
static void test_deaf_daemon(void)
{
	struct migr_hv_fake *f;
	uint32_t id;
	bool there;

	clean();
	put_log("g1", "first life\n");
	f = host(true, &id);
	f->consoled_deaf = true;
	CHECK_EQ(migr_hv_fake_console(f, id, "second life\n"), 0);
	CHECK_EQ(migr__console_log_follow(&f->hv, id, "g1--incoming", "g1", NULL), -EBUSY);
	CHECK_STR(log_text("g1", NULL), "first life\nsecond life\n");
	CHECK_STR(log_text("g1--incoming", &there), "second life\n");
	CHECK(there);
	migr_hv_close(&f->hv);
}

/* Guest logging off, no daemon, or no log under the temporary name: nothing touched. */
static void test_nothing_to_do(void)
{
	struct migr_hv_fake *f;
	char path[128];
	uint32_t id;
	bool there;

	clean();
	f = host(false, &id);
	CHECK_EQ(migr__console_log_follow(&f->hv, id, "g1--incoming", "g1", NULL), 0);
	CHECK_EQ(f->consoled_reopens, 0);
	log_text("g1", &there);
	CHECK(!there);
	f->consoled_dir = NULL;              /* no xenconsoled at all */
	CHECK_EQ(migr__console_log_follow(&f->hv, id, "g1--incoming", "g1", NULL), 0);
	migr_hv_close(&f->hv);

	clean();
	put_log("g1", "first life\n");
	f = host(true, &id);
	snprintf(path, sizeof(path), "%s/guest-g1--incoming.log", dir);
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(migr__console_log_follow(&f->hv, id, "g1--incoming", "g1", NULL), 0);
	CHECK_EQ(f->consoled_reopens, 0);
	CHECK_STR(log_text("g1", NULL), "first life\n");
	migr_hv_close(&f->hv);
}

/* A directory where the file should be is not followed into. */
static void test_not_a_file(void)
{
	struct migr_hv_fake *f;
	char path[128];
	uint32_t id;

	clean();
	CHECK_EQ(migr_hv_fake_new(1 << 30, &f), 0);
	f->consoled_dir = dir;
	f->consoled_guest_logs = true;
	id = migr_hv_fake_add(f, "g1", MIGR_GUEST_PVH, 256, 0);
	snprintf(path, sizeof(path), "%s/guest-g1--incoming.log", dir);
	CHECK_EQ(mkdir(path, 0700), 0);
	CHECK_EQ(migr__console_log_follow(&f->hv, id, "g1--incoming", "g1", NULL), -EINVAL);
	CHECK_EQ(f->consoled_reopens, 0);
	CHECK_EQ(rmdir(path), 0);
	migr_hv_close(&f->hv);
}

int main(void)
{
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/migr-test-console.%d", (int)getpid());
	CHECK_EQ(mkdir(dir, 0700), 0);
	test_args();
	test_first_log();
	test_earlier_life();
	test_nothing_to_do();
	test_not_a_file();
	test_deaf_daemon();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
	return unit_done("test_console_log");
}

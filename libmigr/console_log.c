/*
 * console_log.c: a received guest's console log, carried over from its temporary name.
 *
 * xenconsoled (Xen's tools/console/daemon/io.c, create_console_log()) opens a guest's
 * log as LOGDIR/guest-NAME.log (O_APPEND) under the name the domain has in xenstore when
 * its console is first connected. A guest restored here is connected while it is still
 * NAME--incoming, so its console would be logged as guest-NAME--incoming.log for the rest
 * of its life here. xenconsoled never re-reads the name by itself; on SIGHUP
 * (handle_log_reload()) it closes every guest's log and opens it again under the name
 * xenstore holds then. After the rename to NAME, migr__console_log_follow():
 *
 *   - no guest-NAME--incoming.log (guest logging off, no daemon, console not connected):
 *     nothing to do;
 *   - no guest-NAME.log yet: the file is linked under the guest's name and the temporary
 *     name removed (the daemon's descriptor follows the file: nothing written is lost),
 *     then the daemon reopens it by the new name;
 *   - guest-NAME.log from an earlier life of the guest here: the --incoming file's text is
 *     appended to it, the daemon reopens (from then on it appends to guest-NAME.log), and
 *     once it no longer holds the --incoming file, what was written there meanwhile is
 *     appended too and the file removed. Should it keep the file open (it did not act on
 *     the signal within 2 s), the file stays, and the log says so.
 *
 * Entry points: migr__consoled_args() (xenconsoled's command line: guest logging and the
 * log directory), migr__console_log_follow().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libmigr.h"
#include "util.h"

#define CONSOLED_DEFAULT_DIR "/var/log/xen/console"  /* XEN_LOG_DIR "/console" on Debian */
#define REOPEN_WAIT_MS 2000
#define REOPEN_POLL_MS 10

/* xenconsoled's long options (main.c: lopts) and whether each takes an argument. */
static const struct {
	const char *name;
	bool arg;
} lopts[] = {
	{ "help", false }, { "version", false }, { "verbose", false }, { "interactive", false },
	{ "log", true }, { "log-dir", true }, { "pid-file", true }, { "timestamp", true },
	{ "overflow-data", true }, { "replace-escape", false },
};

/* The long option NAME (len chars) stands for, as getopt_long matches it: exact, else a
 * unique prefix; -1 if none or ambiguous. */
static int lopt_match(const char *name, size_t len)
{
	int found = -1;

	for (size_t i = 0; i < sizeof(lopts) / sizeof(lopts[0]); i++) {
		if (strncmp(lopts[i].name, name, len))
			continue;
		if (strlen(lopts[i].name) == len)
			return (int)i;
		if (found >= 0)
			return -1;
		found = (int)i;
	}
	return found;
}

int migr__consoled_args(const char *cmdline, size_t len, struct migr_consoled *c_r)
{
	struct migr_consoled c = { .guest_logs = false };
	const char *dir = CONSOLED_DEFAULT_DIR, *end = cmdline + len, *a, *next;
	size_t dlen = strlen(dir);
	bool first = true, want_arg = false;
	int want = -1;

	/* NUL-separated arguments, the last one possibly unterminated; argv[0] skipped */
	for (a = cmdline; a < end; a = next) {
		const char *nul = memchr(a, '\0', (size_t)(end - a));
		size_t alen = nul ? (size_t)(nul - a) : (size_t)(end - a);
		const char *val = NULL;
		size_t vlen = 0;

		next = a + alen + 1;
		if (first) {
			first = false;
			continue;
		}
		if (want_arg) {               /* the argument of the option before */
			want_arg = false;
			val = a;
			vlen = alen;
		} else if (alen == 2 && !memcmp(a, "--", 2)) {
			break;
		} else if (alen > 2 && !memcmp(a, "--", 2)) {
			const char *eq = memchr(a + 2, '=', alen - 2);
			size_t nlen = eq ? (size_t)(eq - a - 2) : alen - 2;

			want = lopt_match(a + 2, nlen);
			if (want < 0)
				return -EINVAL;   /* xenconsoled would have refused it */
			if (!lopts[want].arg)
				continue;
			if (!eq) {
				want_arg = true;
				continue;
			}
			val = eq + 1;
			vlen = alen - nlen - 3;
		} else if (alen > 1 && a[0] == '-') {
			/* short options: only -t and -o take an argument (the rest of this one,
			 * else the next) */
			for (size_t i = 1; i < alen; i++)
				if (a[i] == 't' || a[i] == 'o') {
					want = -1;
					want_arg = i + 1 == alen;
					break;
				}
			continue;
		} else {
			continue;                 /* an operand: getopt_long permutes them */
		}
		if (want < 0)
			continue;
		if (!strcmp(lopts[want].name, "log")) {
			if ((vlen == 5 && !memcmp(val, "guest", 5)) ||
			    (vlen == 3 && !memcmp(val, "all", 3)))
				c.guest_logs = true;   /* never reset: --log=none after it is no-op */
		} else if (!strcmp(lopts[want].name, "log-dir")) {
			dir = val;
			dlen = vlen;
		}
		want = -1;
	}
	if (dlen == 0 || dlen >= sizeof(c.log_dir) || dir[0] != '/' || memchr(dir, '\0', dlen))
		return -EINVAL;
	memcpy(c.log_dir, dir, dlen);
	c.log_dir[dlen] = '\0';
	*c_r = c;
	return 0;
}

/* Appends from's bytes [*off, end) to to; *off advances with what was copied. */
static int append_from(int from, int to, off_t *off)
{
	char buf[65536];

	for (;;) {
		ssize_t n = pread(from, buf, sizeof(buf), *off), w = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		while (w < n) {
			ssize_t k = write(to, buf + w, (size_t)(n - w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return -errno;
			w += k;
		}
		*off += n;
	}
}

/* Waits (bounded) until the daemon no longer holds the file: 0 once it does not, 1 if it
 * still does after REOPEN_WAIT_MS, -errno if that cannot be told. */
static int wait_released(struct migr_hv *hv, const struct stat *st)
{
	const struct timespec ts = { 0, REOPEN_POLL_MS * 1000000L };

	for (int waited = 0;; waited += REOPEN_POLL_MS) {
		int rc = hv->ops->consoled_holds(hv, (uint64_t)st->st_dev, (uint64_t)st->st_ino);

		if (rc <= 0 || waited >= REOPEN_WAIT_MS)
			return rc;
		nanosleep(&ts, NULL);
	}
}

int migr__console_log_follow(struct migr_hv *hv, uint32_t domid, const char *old_name,
			     const char *new_name, struct xentoollog_logger *lg)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct migr_consoled c;
	struct stat st;
	int in = -1, out = -1, rc;
	off_t off = 0;

	if (!hv->ops->consoled || !hv->ops->consoled_reopen || !hv->ops->consoled_holds)
		return 0;
	rc = hv->ops->consoled(hv, &c);
	if (rc == -ENOENT || (!rc && !c.guest_logs))
		return 0;
	if (rc) {
		migr__log(lg, XTL_WARN, "domain %u: cannot tell how xenconsoled logs consoles "
			  "(%s): the console log keeps the name %s, ignoring", domid,
			  migr_strerror(rc), old_name);
		return rc;
	}
	if ((size_t)snprintf(from, sizeof(from), "%s/guest-%s.log", c.log_dir, old_name) >=
	    sizeof(from) ||
	    (size_t)snprintf(to, sizeof(to), "%s/guest-%s.log", c.log_dir, new_name) >= sizeof(to))
		return -ENAMETOOLONG;
	if (lstat(from, &st) < 0) {
		if (errno == ENOENT)
			return 0;         /* not opened under the temporary name */
		rc = -errno;
		goto out_warn;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out_warn;
	}

	/* first log of the guest here: the same file, under its name */
	if (link(from, to) == 0) {
		if (unlink(from) < 0)
			migr__log(lg, XTL_WARN, "domain %u: cannot remove %s (%s), ignoring", domid,
				  from, strerror(errno));
		rc = hv->ops->consoled_reopen(hv);
		if (rc)
			goto out_warn;
		migr__log(lg, XTL_DETAIL, "domain %u: console log %s renamed %s", domid, from, to);
		return 0;
	}
	if (errno != EEXIST) {
		rc = -errno;
		goto out_warn;
	}

	/* an earlier life's log: appended to, never replaced */
	in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	out = open(to, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0 || out < 0) {
		rc = -errno;
		goto out_warn;
	}
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out_warn;
	}
	rc = append_from(in, out, &off);
	if (!rc)
		rc = hv->ops->consoled_reopen(hv);
	if (rc)
		goto out_warn;
	rc = wait_released(hv, &st);
	/* what the daemon wrote before it reopened (all of it, once it let go) */
	if (append_from(in, out, &off) < 0 || rc < 0) {
		rc = rc < 0 ? rc : -EIO;
		goto out_warn;
	}
	if (rc > 0) {
		migr__log(lg, XTL_WARN, "domain %u: xenconsoled still writes %s %d ms after it "
			  "was asked to reopen the logs: that file is kept (%s has its text so "
			  "far), ignoring", domid, from, REOPEN_WAIT_MS, to);
		rc = -EBUSY;
		goto out;
	}
	if (unlink(from) < 0)
		migr__log(lg, XTL_WARN, "domain %u: cannot remove %s (%s), ignoring", domid, from,
			  strerror(errno));
	migr__log(lg, XTL_DETAIL, "domain %u: console log %s appended to %s", domid, from, to);
	rc = 0;
	goto out;

out_warn:
	migr__log(lg, XTL_WARN, "domain %u: the console log %s could not be carried over to %s "
		  "(%s), ignoring", domid, from, to, migr_strerror(rc));
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

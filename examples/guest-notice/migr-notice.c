/*
 * migr-notice: a guest-side watcher of migr's maintenance notice (see README.md here and
 * xenstore-schema/README.md, "Guest side").
 *
 * It watches the guest's own migr/maintenance-event node and, when a notice comes, prints
 * it, optionally runs a command (the guest's own preparation: flush, drain, checkpoint),
 * optionally asks for a deferral, and acks by writing the event id into migr/ack, which
 * ends migrd's wait early. It talks to xenstore itself over /dev/xen/xenbus (paths relative
 * to the guest's home), so it needs no Xen library: build it statically and drop it into
 * any Linux guest with xenbus.
 *
 *   cc -O2 -static -o migr-notice migr-notice.c
 *   migr-notice [--run CMD] [--defer SECS] [--no-ack] [--xenbus DEV] [--once]
 *
 * Every value read is checked before use: the event id must be a short token (the same
 * grammar migrd checks), numbers must be plain decimals.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* xenstore's wire protocol (xen/include/public/io/xs_wire.h). */
enum { XS_READ = 2, XS_WATCH = 4, XS_WRITE = 11, XS_WATCH_EVENT = 15, XS_ERROR = 16 };
struct xsd_sockmsg {
	uint32_t type, req_id, tx_id, len;
};
#define XS_PAYLOAD_MAX 4096

static int xfd = -1;
static uint32_t next_req = 1;
static int pending_events;      /* watch events seen while waiting for a reply */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	printf("migr-notice: [%lld.%03ld] ", (long long)t.tv_sec, t.tv_nsec / 1000000);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static int read_full(void *buf, size_t n)
{
	char *p = buf;

	while (n) {
		ssize_t k = read(xfd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= k;
	}
	return 0;
}

/* Reads one message; payload (NUL-terminated) into buf. */
static int read_msg(struct xsd_sockmsg *m, char *buf)
{
	if (read_full(m, sizeof(*m)) || m->len > XS_PAYLOAD_MAX || read_full(buf, m->len))
		return -1;
	buf[m->len] = 0;
	return 0;
}

/* One request; the reply's payload goes to out (may be NULL). -1 on error. */
static int request(uint32_t type, const char *a, size_t alen, const char *b, size_t blen,
		   char *out, size_t outlen)
{
	struct xsd_sockmsg m = { type, next_req++, 0, (uint32_t)(alen + blen) };
	char msg[sizeof(m) + 2 * XS_PAYLOAD_MAX], buf[XS_PAYLOAD_MAX + 1];

	if (alen + blen > XS_PAYLOAD_MAX)
		return -1;
	memcpy(msg, &m, sizeof(m));
	memcpy(msg + sizeof(m), a, alen);
	if (blen)
		memcpy(msg + sizeof(m) + alen, b, blen);
	if (write(xfd, msg, sizeof(m) + alen + blen) != (ssize_t)(sizeof(m) + alen + blen))
		return -1;
	for (;;) {
		struct xsd_sockmsg r;

		if (read_msg(&r, buf))
			return -1;
		if (r.type == XS_WATCH_EVENT) {
			pending_events++;
			continue;
		}
		if (r.req_id != m.req_id)
			continue;
		if (r.type == XS_ERROR)
			return -1;
		if (out) {
			snprintf(out, outlen, "%.*s", (int)r.len, buf);
		}
		return 0;
	}
}

static int xs_read_node(const char *path, char *out, size_t len)
{
	return request(XS_READ, path, strlen(path) + 1, NULL, 0, out, len);
}

static int xs_write_node(const char *path, const char *val)
{
	return request(XS_WRITE, path, strlen(path) + 1, val, strlen(val), NULL, 0);
}

static int xs_watch_node(const char *path, const char *token)
{
	char both[512];
	size_t a = strlen(path) + 1, b = strlen(token) + 1;

	if (a + b > sizeof(both))
		return -1;
	memcpy(both, path, a);
	memcpy(both + a, token, b);
	return request(XS_WATCH, both, a + b, NULL, 0, NULL, 0);
}

static int is_token(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._:@+-", *s)))
			return 0;
	return 1;
}

static long decimal(const char *s)
{
	char *end;
	long v;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno || *end ? -1 : v;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: migr-notice [--run CMD] [--defer SECS] [--no-ack] [--xenbus DEV] "
		"[--once]\n"
		"Watches migr/maintenance-event in this guest's xenstore tree; on a notice prints\n"
		"it, runs CMD (with MIGR_EVENT, MIGR_EVENT_ID, MIGR_DEADLINE in its environment),\n"
		"asks for SECS of deferral if given, then acks (unless --no-ack). --once: exit\n"
		"after the first notice has been handled.\n");
}

int main(int argc, char **argv)
{
	const char *run = NULL, *dev = "/dev/xen/xenbus";
	long defer = 0;
	int ack = 1, once = 0;
	char last_id[80] = "", state[80] = "";

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--run") && i + 1 < argc)
			run = argv[++i];
		else if (!strcmp(argv[i], "--defer") && i + 1 < argc &&
			 (defer = decimal(argv[++i])) >= 0)
			;
		else if (!strcmp(argv[i], "--no-ack"))
			ack = 0;
		else if (!strcmp(argv[i], "--once"))
			once = 1;
		else if (!strcmp(argv[i], "--xenbus") && i + 1 < argc)
			dev = argv[++i];
		else {
			usage(strcmp(argv[i], "--help") ? stderr : stdout);
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	xfd = open(dev, O_RDWR | O_CLOEXEC);
	if (xfd < 0) {
		fprintf(stderr, "migr-notice: %s: %s\n", dev, strerror(errno));
		return 1;
	}
	if (xs_watch_node("migr/maintenance-event", "migr-notice")) {
		fprintf(stderr, "migr-notice: cannot watch migr/maintenance-event\n");
		return 1;
	}
	say("watching migr/maintenance-event");
	for (;;) {
		char ev[80] = "", id[80] = "", deadline[32] = "", notice[32] = "";
		struct xsd_sockmsg m;
		char buf[XS_PAYLOAD_MAX + 1];

		/* The watch fires once when set, then on every change (and after a migration,
		 * when the new host's migrd recreates the node). */
		if (pending_events > 0) {
			pending_events--;
		} else {
			if (read_msg(&m, buf)) {
				fprintf(stderr, "migr-notice: xenbus closed\n");
				return 1;
			}
			if (m.type != XS_WATCH_EVENT)
				continue;
		}
		if (xs_read_node("migr/maintenance-event", ev, sizeof(ev)))
			snprintf(ev, sizeof(ev), "NONE");
		if (strcmp(ev, "NONE") && strcmp(ev, "MIGRATE_ON_HOST_MAINTENANCE") &&
		    strcmp(ev, "TERMINATE_ON_HOST_MAINTENANCE"))
			continue;                        /* not a value migrd writes */
		if (!strcmp(ev, "NONE")) {
			if (strcmp(state, "NONE"))
				say("NONE (no maintenance pending)");
			snprintf(state, sizeof(state), "NONE");
			if (once && last_id[0])
				return 0;
			continue;
		}
		if (xs_read_node("migr/event-id", id, sizeof(id)) || !is_token(id))
			continue;
		if (!strcmp(id, last_id))
			continue;                        /* already handled */
		snprintf(last_id, sizeof(last_id), "%s", id);
		snprintf(state, sizeof(state), "%s", ev);
		if (xs_read_node("migr/deadline", deadline, sizeof(deadline)) || decimal(deadline) < 0)
			snprintf(deadline, sizeof(deadline), "0");
		if (xs_read_node("migr/notice-seconds", notice, sizeof(notice)) || decimal(notice) < 0)
			snprintf(notice, sizeof(notice), "0");
		say("%s event=%s notice=%ss deadline=%s", ev, id, notice, deadline);
		if (run) {
			pid_t pid = fork();

			if (pid == 0) {
				setenv("MIGR_EVENT", ev, 1);
				setenv("MIGR_EVENT_ID", id, 1);
				setenv("MIGR_DEADLINE", deadline, 1);
				execl("/bin/sh", "sh", "-c", run, (char *)NULL);
				_exit(127);
			}
			if (pid > 0) {
				int st;

				waitpid(pid, &st, 0);
				say("--run exited %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
			}
		}
		if (defer > 0 && !strcmp(ev, "MIGRATE_ON_HOST_MAINTENANCE")) {
			char d[32];

			snprintf(d, sizeof(d), "%ld", defer);
			say(xs_write_node("migr/defer", d) ? "could not ask for deferral" :
			    "asked for %s s of deferral", d);
		}
		if (ack && !strcmp(ev, "MIGRATE_ON_HOST_MAINTENANCE"))
			say(xs_write_node("migr/ack", id) ? "could not ack %s" : "acked %s", id);
	}
}

/*
 * test_evac_guest_notice.c: the guest-side watcher (examples/guest-notice/migr-notice)
 * against a fake xenstore served on a pseudo-terminal, as /dev/xen/xenbus would be: it
 * sets its watch, sees a notice, runs its command, asks for a deferral, acks with the event
 * id, ignores garbage, and reports NONE when the notice is withdrawn.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include "unit.h"

#ifndef MIGR_NOTICE_BIN
#define MIGR_NOTICE_BIN "build/examples/migr-notice"
#endif

enum { XS_READ = 2, XS_WATCH = 4, XS_WRITE = 11, XS_WATCH_EVENT = 15, XS_ERROR = 16 };
struct msg {
	uint32_t type, req_id, tx_id, len;
};

static int mfd;
static char event[64] = "NONE", event_id[64] = "", ack[64] = "", defer[32] = "";
static char watch_path[128], watch_token[64];

static int rd(void *buf, size_t n, int ms)
{
	char *p = buf;

	while (n) {
		struct pollfd pf = { mfd, POLLIN, 0 };
		ssize_t k;

		if (poll(&pf, 1, ms) != 1)
			return -1;
		k = read(mfd, p, n);
		if (k <= 0)
			return -1;
		p += k;
		n -= k;
	}
	return 0;
}

static void reply(uint32_t type, uint32_t req, const char *payload, size_t len)
{
	struct msg m = { type, req, 0, (uint32_t)len };
	char buf[4096 + sizeof(m)];

	memcpy(buf, &m, sizeof(m));
	memcpy(buf + sizeof(m), payload, len);
	if (write(mfd, buf, sizeof(m) + len) != (ssize_t)(sizeof(m) + len))
		perror("write");
}

static void fire(void)
{
	char p[256];
	size_t a = strlen(watch_path) + 1, b = strlen(watch_token) + 1;

	memcpy(p, watch_path, a);
	memcpy(p + a, watch_token, b);
	reply(XS_WATCH_EVENT, 0, p, a + b);
}

/* Serves requests for up to ms; returns when no request came for that long. */
static void serve(int ms)
{
	for (;;) {
		struct msg m;
		char pl[4097];

		if (rd(&m, sizeof(m), ms) || m.len > 4096 || rd(pl, m.len, 1000))
			return;
		pl[m.len] = 0;
		switch (m.type) {
		case XS_WATCH:
			snprintf(watch_path, sizeof(watch_path), "%.100s", pl);
			snprintf(watch_token, sizeof(watch_token), "%.50s", pl + strlen(pl) + 1);
			reply(XS_WATCH, m.req_id, "OK", 3);
			fire();                               /* as xenstored does */
			break;
		case XS_READ: {
			const char *v = NULL;

			if (!strcmp(pl, "migr/maintenance-event"))
				v = event;
			else if (!strcmp(pl, "migr/event-id"))
				v = event_id;
			else if (!strcmp(pl, "migr/deadline"))
				v = "1764380000";
			else if (!strcmp(pl, "migr/notice-seconds"))
				v = "60";
			if (v)
				reply(XS_READ, m.req_id, v, strlen(v));
			else
				reply(XS_ERROR, m.req_id, "ENOENT", 7);
			break;
		}
		case XS_WRITE: {
			const char *val = pl + strlen(pl) + 1;
			size_t vlen = m.len - strlen(pl) - 1;

			if (!strcmp(pl, "migr/ack"))
				snprintf(ack, sizeof(ack), "%.*s", (int)vlen, val);
			else if (!strcmp(pl, "migr/defer"))
				snprintf(defer, sizeof(defer), "%.*s", (int)vlen, val);
			reply(XS_WRITE, m.req_id, "OK", 3);
			break;
		}
		default:
			reply(XS_ERROR, m.req_id, "EINVAL", 7);
		}
	}
}

int main(void)
{
	char name[128], out[] = "/tmp/test_guest_notice.XXXXXX", log[8192] = "";
	struct termios t;
	int sfd, ofd;
	pid_t pid;

	if (access(MIGR_NOTICE_BIN, X_OK)) {
		printf("SKIP: %s not built\n", MIGR_NOTICE_BIN);
		return 77;
	}
	CHECK_EQ(openpty(&mfd, &sfd, name, NULL, NULL), 0);
	tcgetattr(sfd, &t);
	cfmakeraw(&t);
	tcsetattr(sfd, TCSANOW, &t);
	tcgetattr(mfd, &t);
	cfmakeraw(&t);
	tcsetattr(mfd, TCSANOW, &t);
	ofd = mkstemp(out);
	CHECK(ofd >= 0);
	pid = fork();
	if (pid == 0) {
		dup2(ofd, 1);
		execl(MIGR_NOTICE_BIN, "migr-notice", "--xenbus", name, "--defer", "20", "--run",
		      "echo prepared $MIGR_EVENT_ID", (char *)NULL);
		_exit(127);
	}
	close(sfd);
	serve(2000);                         /* the watch, its first firing, a read */
	CHECK(!strcmp(watch_path, "migr/maintenance-event"));
	CHECK_STR(ack, "");

	/* Garbage in the event node is ignored. */
	snprintf(event, sizeof(event), "REBOOT_NOW");
	fire();
	serve(500);
	CHECK_STR(ack, "");

	/* A notice with a hostile id is ignored too. */
	snprintf(event, sizeof(event), "MIGRATE_ON_HOST_MAINTENANCE");
	snprintf(event_id, sizeof(event_id), "x;rm -rf /");
	fire();
	serve(500);
	CHECK_STR(ack, "");

	/* A real notice: deferral asked, command run, ack with the id. */
	snprintf(event_id, sizeof(event_id), "maint-1-7");
	fire();
	serve(2000);
	CHECK_STR(defer, "20");
	CHECK_STR(ack, "maint-1-7");

	/* Withdrawn. */
	snprintf(event, sizeof(event), "NONE");
	fire();
	serve(500);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	lseek(ofd, 0, SEEK_SET);
	CHECK(read(ofd, log, sizeof(log) - 1) > 0);
	close(ofd);
	unlink(out);
	CHECK(strstr(log, "MIGRATE_ON_HOST_MAINTENANCE event=maint-1-7 notice=60s") != NULL);
	CHECK(strstr(log, "prepared maint-1-7") != NULL);
	CHECK(strstr(log, "acked maint-1-7") != NULL);
	CHECK(strstr(log, "NONE (no maintenance pending)") != NULL);
	CHECK(strstr(log, "x;rm") == NULL);
	if (unit_failures)
		fprintf(stderr, "watcher output:\n%s", log);
	return unit_done("test_evac_guest_notice");
}

/*
 * control.c: migrd's control socket, used by `migr evacuate`, `migr cancel` and
 * `migr status` (protocol in tools/migr/evcli.h and docs/evacuation.md).
 *
 * A Unix stream socket, mode 0600 in a 0700 directory, and every peer's credentials
 * checked (uid 0 only). The listening socket and all clients sit in one epoll set, which is
 * the single source this part adds to migrd's main loop. A client sends one JSON line
 * (at most 16 KiB); "evacuate" subscribes it to the service's events until the "end"
 * event, after which the connection is closed. Events come from the service's thread:
 * writes to clients never block (a client that cannot keep up is dropped).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "evacd.h"

#define MAX_CLIENTS 32
#define LINE_MAX_ 16384

struct client {
	int fd;
	bool subscribed;
	size_t len;
	char buf[LINE_MAX_];
};

static int lfd = -1, efd = -1;
static char sock_path[108];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;   /* guards clients[] */
static struct client *clients[MAX_CLIENTS];

static void drop(struct client *c)
{
	for (unsigned i = 0; i < MAX_CLIENTS; i++)
		if (clients[i] == c)
			clients[i] = NULL;
	epoll_ctl(efd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Writes one line without blocking; false if the client must go. */
static bool say(struct client *c, const char *json)
{
	size_t n = strlen(json);
	char *line = malloc(n + 1);
	ssize_t w;

	if (!line)
		return false;
	memcpy(line, json, n);
	line[n] = '\n';
	w = send(c->fd, line, n + 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	free(line);
	return w == (ssize_t)(n + 1);
}

void migrd_control_event(void *arg, const char *json)
{
	bool end = strstr(json, "\"event\":\"end\"") != NULL;

	pthread_mutex_lock(&mu);
	for (unsigned i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = clients[i];

		if (!c || !c->subscribed)
			continue;
		if (!say(c, json) || end)
			/* The main loop sees the hang-up and frees it. */
			shutdown(c->fd, SHUT_RDWR), c->subscribed = false;
	}
	pthread_mutex_unlock(&mu);
}

static const char *jstr(yajl_val o, const char *k)
{
	const char *path[] = { k, NULL };
	yajl_val v = yajl_tree_get(o, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : NULL;
}

static void reply_error(struct client *c, const char *reason)
{
	char out[600] = "{\"event\":\"error\",\"reason\":";
	size_t o = strlen(out);

	out[o++] = '"';
	for (const char *p = reason; *p && o < sizeof(out) - 4; p++)
		out[o++] = (*p == '"' || *p == '\\' || *p < 0x20) ? '?' : *p;
	out[o++] = '"';
	out[o++] = '}';
	out[o] = 0;
	say(c, out);
}

/*
 * Handles one command line; true if the client stays (subscribed). Called on the main
 * thread without mu: the service takes its own lock and then calls back into
 * migrd_control_event(), which takes mu, so mu is held here only around c->subscribed.
 * Direct replies go to clients that are not subscribed, which no other thread writes to.
 */
static bool command(struct client *c, const char *line)
{
	char err[128], why[256];
	yajl_val o = yajl_tree_parse(line, err, sizeof(err));
	const char *cmd;
	bool stay = false;

	if (!o || !YAJL_IS_OBJECT(o) || !(cmd = jstr(o, "cmd"))) {
		reply_error(c, "expected a JSON object with \"cmd\"");
		goto out;
	}
	if (!migrd_evac.svc) {
		reply_error(c, "evacuation is not running in this migrd");
		goto out;
	}
	if (!strcmp(cmd, "status")) {
		char *s = NULL;

		if (migr_evacd_status_json(migrd_evac.svc, &s) == 0)
			say(c, s);
		free(s);
	} else if (!strcmp(cmd, "cancel")) {
		bool busy = migr_evacd_busy(migrd_evac.svc);

		xtl_log(migrd_evac.lg, XTL_NOTICE, -1, "migrd", "cancel requested on the control "
			"socket");
		migr_evacd_cancel(migrd_evac.svc);
		say(c, busy ? "{\"event\":\"ok\",\"running\":true}" :
			      "{\"event\":\"ok\",\"running\":false}");
	} else if (!strcmp(cmd, "evacuate")) {
		const char *req = jstr(o, "request");
		const char *dp[] = { "dry_run", NULL };
		bool dry = yajl_tree_get(o, dp, yajl_t_true) != NULL;
		struct migr_evac_request q;
		int rc;

		if (!req || migr_evac_request_parse(req, strlen(req), &q, why, sizeof(why))) {
			reply_error(c, req ? why : "no \"request\"");
			goto out;
		}
		/* Subscribe before starting: the first events follow at once. */
		pthread_mutex_lock(&mu);
		c->subscribed = true;
		pthread_mutex_unlock(&mu);
		rc = migr_evacd_start(migrd_evac.svc, &q, dry, why, sizeof(why));
		if (rc) {
			pthread_mutex_lock(&mu);
			c->subscribed = false;
			pthread_mutex_unlock(&mu);
			reply_error(c, why);
			goto out;
		}
		/* Stays until the "end" event hangs it up (which may already be queued). */
		stay = true;
	} else {
		reply_error(c, "unknown command");
	}
out:
	yajl_tree_free(o);
	return stay;
}

static void accept_client(void)
{
	struct epoll_event ev;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *c;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	unsigned i;

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.uid != 0) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&mu);
	for (i = 0; i < MAX_CLIENTS && clients[i]; i++)
		;
	if (i == MAX_CLIENTS || !(c = calloc(1, sizeof(*c)))) {
		pthread_mutex_unlock(&mu);
		close(fd);
		return;
	}
	c->fd = fd;
	clients[i] = c;
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = c;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev))
		drop(c);
	pthread_mutex_unlock(&mu);
}

/* Main thread only: the only one that reads clients and frees them. */
static void client_ready(struct client *c, uint32_t events)
{
	bool subscribed, keep;
	ssize_t k;
	char *nl;

	pthread_mutex_lock(&mu);
	subscribed = c->subscribed;
	pthread_mutex_unlock(&mu);
	if (subscribed) {
		/* A subscribed client has nothing more to say: drain; go on hang-up. */
		char sink[512];

		while ((k = read(c->fd, sink, sizeof(sink))) > 0)
			;
		if (k == 0 || (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))) {
			pthread_mutex_lock(&mu);
			drop(c);
			pthread_mutex_unlock(&mu);
		}
		return;
	}
	k = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (k < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (k <= 0) {
		pthread_mutex_lock(&mu);
		drop(c);
		pthread_mutex_unlock(&mu);
		return;
	}
	c->len += k;
	c->buf[c->len] = 0;
	nl = memchr(c->buf, '\n', c->len);
	if (!nl && c->len < sizeof(c->buf) - 1)
		return;
	if (nl) {
		*nl = 0;
		keep = command(c, c->buf);
	} else {
		reply_error(c, "command line too long");
		keep = false;
	}
	if (!keep) {
		pthread_mutex_lock(&mu);
		drop(c);
		pthread_mutex_unlock(&mu);
	}
}

static int on_control(void *arg)
{
	struct epoll_event evs[16];
	int n = epoll_wait(efd, evs, 16, 0);

	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr == NULL)
			accept_client();
		else
			client_ready(evs[i].data.ptr, evs[i].events);
	}
	return 0;
}

int migrd_control_start(const char *path)
{
	struct sockaddr_un a;
	struct epoll_event ev;
	char dir[108], *slash;
	int rc;

	if (strlen(path) >= sizeof(a.sun_path)) {
		fprintf(stderr, "migrd: control socket path too long: %s\n", path);
		return -ENAMETOOLONG;
	}
	snprintf(sock_path, sizeof(sock_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = 0;
		mkdir(dir, 0700);
	}
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	strcpy(a.sun_path, path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0)
		goto fail;
	unlink(path);
	{
		mode_t old = umask(0077);

		rc = bind(lfd, (struct sockaddr *)&a, sizeof(a));
		umask(old);
	}
	if (rc || chmod(path, 0600) || listen(lfd, 8))
		goto fail;
	efd = epoll_create1(EPOLL_CLOEXEC);
	if (efd < 0)
		goto fail;
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(efd, EPOLL_CTL_ADD, lfd, &ev))
		goto fail;
	rc = migrd_add_source(efd, on_control, NULL);
	if (rc) {
		fprintf(stderr, "migrd: no room for the control socket source\n");
		return rc;
	}
	return 0;
fail:
	rc = -errno;
	fprintf(stderr, "migrd: control socket %s: %s\n", path, strerror(errno));
	return rc;
}

void migrd_control_stop(void)
{
	pthread_mutex_lock(&mu);
	for (unsigned i = 0; i < MAX_CLIENTS; i++)
		if (clients[i])
			drop(clients[i]);
	pthread_mutex_unlock(&mu);
	if (lfd >= 0) {
		close(lfd);
		unlink(sock_path);
		lfd = -1;
	}
	if (efd >= 0) {
		close(efd);
		efd = -1;
	}
}

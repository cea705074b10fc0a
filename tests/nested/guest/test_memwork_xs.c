/*
 * test_memwork_xs: memwork's xenstore side, without Xen. A small in-memory xenstore speaks
 * the wire protocol (xs_wire.h framing) on the master of a pseudo-terminal in raw mode;
 * memwork gets the slave as its --xenbus device. The test then drives memwork the way the
 * lab does from dom0: waits for its nodes, sends commands through data/memwork/cmd, corrupts
 * a page (through /proc/PID/mem at the address memwork reports) and checks that status,
 * errors, bad and result say exactly that page; it also checks that a repeated ID is not run
 * twice, that a wiped tree (as after a migration) is written again and takes the same ID
 * anew, and that a stray reply and an error reply do not derail the client.
 *
 * Usage: test_memwork_xs [MEMWORK]   (default: the build's; exit 0 pass, 1 fail)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define HOME "/local/domain/7/"
#define DIR_ HOME "data/memwork/"
#define MAX_NODES 256

enum { XS_READ = 2, XS_WRITE = 11, XS_RM = 13, XS_ERROR = 16 };
struct hdr { uint32_t type, req_id, tx_id, len; };

static struct { char *path, *val; } nodes[MAX_NODES];
static int master = -1, failures, checks;
static pid_t child;
static unsigned requests, stray_next, fail_result_write;

#define CHECK(c, ...) do { checks++; if (!(c)) { failures++; printf("FAIL %s:%d: ", __FILE__, \
	__LINE__); printf(__VA_ARGS__); printf("\n"); } else { printf("ok   "); printf(__VA_ARGS__); \
	printf("\n"); } } while (0)

static int node_find(const char *path)
{
	for (int i = 0; i < MAX_NODES; i++)
		if (nodes[i].path && !strcmp(nodes[i].path, path))
			return i;
	return -1;
}

static const char *get(const char *path)
{
	int i = node_find(path);

	return i < 0 ? NULL : nodes[i].val;
}

static void set(const char *path, const char *val, size_t len)
{
	int i = node_find(path);

	if (i < 0)
		for (i = 0; i < MAX_NODES && nodes[i].path; i++)
			;
	if (i == MAX_NODES) {
		fprintf(stderr, "too many nodes\n");
		exit(1);
	}
	if (!nodes[i].path)
		nodes[i].path = strdup(path);
	free(nodes[i].val);
	nodes[i].val = strndup(val, len);
}

static void rm_tree(const char *path)
{
	size_t n = strlen(path);

	for (int i = 0; i < MAX_NODES; i++)
		if (nodes[i].path && !strncmp(nodes[i].path, path, n) &&
		    (nodes[i].path[n] == 0 || nodes[i].path[n] == '/')) {
			free(nodes[i].path);
			free(nodes[i].val);
			nodes[i].path = nodes[i].val = NULL;
		}
}

static void reply(uint32_t type, uint32_t req_id, const void *p, size_t len)
{
	struct hdr h = { type, req_id, 0, (uint32_t)len };
	char buf[sizeof(h) + 4096];

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), p, len);
	if (write(master, buf, sizeof(h) + len) != (ssize_t)(sizeof(h) + len)) {
		perror("write pty");
		exit(1);
	}
}

static int read_full(void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = { master, POLLIN, 0 };
		ssize_t n;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		n = read(master, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Serves requests for up to ms milliseconds. */
static void serve(int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { master, POLLIN, 0 };
		char payload[4097], path[4097 + sizeof(HOME)];
		struct hdr h;
		int left;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return;
		if (read_full(&h, sizeof(h), 2000) || h.len > 4096 || read_full(payload, h.len, 2000)) {
			fprintf(stderr, "fake xenstore: broken request\n");
			exit(1);
		}
		payload[h.len] = 0;
		requests++;
		if (stray_next) { /* a message for someone else first: the client must skip it */
			stray_next--;
			reply(XS_READ, h.req_id + 1000, "stray", 5);
		}
		snprintf(path, sizeof(path), "%s%s", payload[0] == '/' ? "" : HOME, payload);
		switch (h.type) {
		case XS_READ: {
			const char *v = get(path);

			if (v)
				reply(XS_READ, h.req_id, v, strlen(v));
			else
				reply(XS_ERROR, h.req_id, "ENOENT", 7);
			break;
		}
		case XS_WRITE: {
			size_t plen = strlen(payload);

			if (fail_result_write && !strcmp(path, DIR_ "result")) {
				fail_result_write--;
				reply(XS_ERROR, h.req_id, "EACCES", 7);
				break;
			}
			set(path, payload + plen + 1, h.len - plen - 1);
			reply(XS_WRITE, h.req_id, "OK", 3);
			break;
		}
		case XS_RM:
			if (node_find(path) < 0 && strcmp(payload, "data/memwork")) {
				reply(XS_ERROR, h.req_id, "ENOENT", 7);
				break;
			}
			rm_tree(path);
			reply(XS_RM, h.req_id, "OK", 3);
			break;
		default:
			reply(XS_ERROR, h.req_id, "ENOSYS", 7);
		}
	}
}

/* Serves until node has a value starting with prefix (or timeout). */
static const char *wait_node(const char *node, const char *prefix, int timeout_ms)
{
	char path[256];

	snprintf(path, sizeof(path), DIR_ "%s", node);
	for (int t = 0; t < timeout_ms; t += 50) {
		const char *v = get(path);

		if (v && !strncmp(v, prefix, strlen(prefix)))
			return v;
		serve(50);
	}
	return get(path);
}

/* Sends "ID TEXT" through cmd, waits for cmd-done = ID; returns result. */
static const char *command(unsigned id, const char *text)
{
	char cmd[160], idtxt[16];

	snprintf(cmd, sizeof(cmd), "%u %s", id, text);
	snprintf(idtxt, sizeof(idtxt), "%u", id);
	set(DIR_ "cmd", cmd, strlen(cmd));
	if (!wait_node("cmd-done", idtxt, 20000) || strcmp(get(DIR_ "cmd-done"), idtxt))
		return "(no answer)";
	return get(DIR_ "result");
}

static int poke_flip(pid_t pid, uintptr_t addr)
{
	char path[64];
	uint8_t b;
	int fd, rc = -1;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return -1;
	if (pread(fd, &b, 1, (off_t)addr) == 1) {
		b ^= 0xff;
		if (pwrite(fd, &b, 1, (off_t)addr) == 1)
			rc = 0;
	}
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	struct termios tio;
	const char *r, *memwork = argc > 1 ? argv[1] : MEMWORK_DEFAULT;
	char slave_path[64], expect[128];
	unsigned long long addr = 0;
	int slave, status = -1;
	unsigned n;

	if (access(memwork, X_OK)) {
		fprintf(stderr, "test_memwork_xs: %s: %s (run make)\n", memwork, strerror(errno));
		return 1;
	}
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master) ||
	    ptsname_r(master, slave_path, sizeof(slave_path))) {
		perror("pty");
		return 1;
	}
	/* raw both ways: the protocol is binary */
	slave = open(slave_path, O_RDWR | O_NOCTTY);
	if (slave < 0 || tcgetattr(slave, &tio)) {
		perror(slave_path);
		return 1;
	}
	cfmakeraw(&tio);
	tcsetattr(slave, TCSANOW, &tio);
	set(HOME "domid", "7", 1);
	set(DIR_ "stale", "from an earlier run", 19);

	child = fork();
	if (child == 0) {
		close(master);
		execl(memwork, memwork, "--xenbus", slave_path, "-w", "1", "-r", "500", "-g", "60000",
		      "--stats-s", "0", "--ptraceable", (char *)NULL);
		perror(memwork);
		_exit(127);
	}
	/* slave stays open here too: the pty must not hang up when memwork reopens it */

	r = wait_node("status", "ok", 20000);
	CHECK(r && !strcmp(r, "ok gen=1"), "status after start: %s", r ? r : "(none)");
	CHECK(!get(DIR_ "stale"), "the stale node of an earlier run is gone");
	CHECK(get(DIR_ "pages") && !strcmp(get(DIR_ "pages"), "256"), "pages = 256");
	CHECK(get(DIR_ "errors") && !strcmp(get(DIR_ "errors"), "0"), "errors = 0");
	CHECK(get(DIR_ "bad") && !strcmp(get(DIR_ "bad"), ""), "bad is empty");

	r = command(1, "verify");
	CHECK(!strcmp(r, "1 ok pages=256 gen=2"), "1 verify -> %s", r);
	/* the same ID again is not a new command */
	set(DIR_ "cmd", "1 verify", 8);
	serve(600);
	r = get(DIR_ "result");
	CHECK(!strcmp(r, "1 ok pages=256 gen=2") && wait_node("verified", "2", 1500) &&
	      !strcmp(get(DIR_ "verified"), "2"), "a repeated ID runs nothing (verified=%s)",
	      get(DIR_ "verified"));

	r = command(2, "rate 0");
	CHECK(!strcmp(r, "2 ok rate=0"), "2 rate 0 -> %s", r);
	r = command(3, "addr 200");
	CHECK(sscanf(r, "3 ok page=200 addr=0x%llx", &addr) == 1, "3 addr 200 -> %s", r);
	r = command(4, "verify; rm -rf /");
	CHECK(!strcmp(r, "4 error bad-command"), "junk after a command -> %s", r);
	r = command(5, "pfn 999999");
	CHECK(!strcmp(r, "5 error bad-page"), "page out of range -> %s", r);
	set(DIR_ "cmd", "verify", 6);
	r = wait_node("result", "0 ", 3000);
	CHECK(r && !strcmp(r, "0 error bad-id"), "no ID -> %s", r ? r : "(none)");

	/* one flipped byte in page 200, from outside */
	CHECK(addr && poke_flip(child, (uintptr_t)addr + 1234) == 0, "flipped byte 1234 of page 200");
	r = command(6, "verify");
	CHECK(!strcmp(r, "6 FAIL pages=256 gen=3 bad=1 first=200"), "6 verify -> %s", r);
	r = wait_node("status", "FAIL", 3000);
	CHECK(r && !strcmp(r, "FAIL gen=3 bad=1 first=200"), "status: %s", r ? r : "(none)");
	CHECK(!strcmp(get(DIR_ "bad"), "200"), "bad = %s", get(DIR_ "bad"));
	CHECK(!strcmp(get(DIR_ "errors"), "1"), "errors = %s", get(DIR_ "errors"));
	poke_flip(child, (uintptr_t)addr + 1234);

	/* a wiped tree, as on a migration's target: the same ID is a new command there */
	rm_tree(HOME "data/memwork");
	r = wait_node("status", "FAIL", 3000);
	CHECK(r && !strcmp(r, "FAIL gen=3 bad=1 first=200"), "status written again after a wipe: %s",
	      r ? r : "(none)");
	serve(300);
	r = command(6, "verify");
	CHECK(!strcmp(r, "6 ok pages=256 gen=4"), "after a wipe, 6 verify again -> %s", r);
	r = wait_node("status", "ok", 3000);
	CHECK(r && !strcmp(r, "ok gen=4"), "status rewritten after a wipe: %s", r ? r : "(none)");

	/*
	 * a stray message before a reply; then the result's write is refused: memwork
	 * reconnects and writes the result again, without running the command twice
	 */
	stray_next = 1;
	fail_result_write = 1;
	r = command(7, "stats");
	snprintf(expect, sizeof(expect), "7 ok writes=");
	CHECK(!strncmp(r, expect, strlen(expect)) && !fail_result_write,
	      "7 stats after a stray reply and a refused result -> %s", r);

	/* the guest kernel's memory figures, the soak's leak check */
	r = command(8, "meminfo");
	CHECK(!strncmp(r, "8 ok total_kib=", 15) && strstr(r, " free_kib="),
	      "8 meminfo -> %s", r);

	n = requests;
	kill(child, SIGTERM);
	for (int i = 0; i < 200 && waitpid(child, &status, WNOHANG) == 0; i++)
		serve(50);
	CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1,
	      "memwork exits 1 (one verification failed), status 0x%x", status);
	CHECK(requests > n, "memwork writes its last state on exit");

	printf("test_memwork_xs: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}

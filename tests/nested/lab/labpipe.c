/*
 * labpipe: a byte pipe between two lab dom0s for ssh-style migration commands.
 *
 *   labpipe listen PORT CMD [ARGS...]    accept one TCP connection, run CMD on it (stdin and
 *                                        stdout are the socket)
 *   labpipe connect PORT HOST [IGNORED...]
 *                                        connect (retrying up to 60 s), then relay stdin ->
 *                                        socket and socket -> stdout with 1 MiB buffers
 *
 * `xl migrate -s "labpipe connect PORT" DOM HOST` runs "labpipe connect PORT HOST xl
 * migrate-receive", so the trailing words are ignored. Every syscall is expensive in a
 * nested dom0: big buffers matter (busybox nc moves a few MiB/s).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (1 << 20)

static int do_listen(const char *port, char **cmd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1, ls, s;

	sa.sin_port = htons(atoi(port));
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 1)) {
		perror("labpipe: listen");
		return 1;
	}
	s = accept(ls, NULL, NULL);
	if (s < 0) {
		perror("labpipe: accept");
		return 1;
	}
	close(ls);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	dup2(s, 0);
	dup2(s, 1);
	close(s);
	execvp(cmd[0], cmd);
	perror("labpipe: exec");
	return 127;
}

/* write_all: 0, or -1 on error. */
static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= w;
	}
	return 0;
}

static int do_connect(const char *port, const char *host)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int s = -1, one = 1, in_open = 1, sock_open = 1;
	char *buf = malloc(BUF);
	time_t t0 = time(NULL);

	if (!buf)
		return 1;
	for (;;) {
		int rc = getaddrinfo(host, port, &hints, &ai);
		if (!rc) {
			s = socket(ai->ai_family, ai->ai_socktype, 0);
			if (s >= 0 && !connect(s, ai->ai_addr, ai->ai_addrlen))
				break;
			if (s >= 0)
				close(s);
			freeaddrinfo(ai);
		}
		if (time(NULL) - t0 > 60) {
			fprintf(stderr, "labpipe: cannot connect to %s:%s\n", host, port);
			return 1;
		}
		usleep(200000);
	}
	freeaddrinfo(ai);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (sock_open) {
		struct pollfd p[2] = { { .fd = in_open ? 0 : -1, .events = POLLIN },
				       { .fd = s, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			ssize_t n = read(0, buf, BUF);
			if (n <= 0) {
				in_open = 0;
				shutdown(s, SHUT_WR);
			} else if (write_all(s, buf, n)) {
				break;
			}
		}
		if (p[1].revents) {
			ssize_t n = read(s, buf, BUF);
			if (n <= 0)
				sock_open = 0;
			else if (write_all(1, buf, n))
				break;
		}
	}
	close(s);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "listen"))
		return do_listen(argv[2], argv + 3);
	if (argc >= 4 && !strcmp(argv[1], "connect"))
		return do_connect(argv[2], argv[3]);
	fprintf(stderr, "usage: labpipe listen PORT CMD [ARGS...]\n"
		"       labpipe connect PORT HOST [IGNORED...]\n");
	return 2;
}

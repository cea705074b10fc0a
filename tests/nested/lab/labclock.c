/*
 * labclock: sets a lab dom0's clock from the machine running the lab, to about a
 * millisecond, so that a guest's realtime clock (which Xen hands over from host to host on
 * migration) measures the blackout across two hosts. The emulated CMOS clock the hosts boot
 * with has a resolution of one second: two hosts would disagree by up to a second.
 *
 *   labclock serve PORT             answer time queries on UDP PORT (runs outside)
 *   labclock sync HOST PORT [--set] query 32 times, take the sample with the shortest round
 *                                   trip, print the offset; --set steps this clock by it
 *                                   (a PV dom0 passes the new time on to Xen's wallclock)
 */
#include <arpa/inet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int serve(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("labclock: bind");
		return 1;
	}
	for (;;) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		uint64_t msg[2];
		ssize_t n = recvfrom(s, msg, sizeof(msg), 0, (struct sockaddr *)&peer, &len);
		if (n != 8)
			continue;
		msg[1] = now_ns();
		sendto(s, msg, sizeof(msg), 0, (struct sockaddr *)&peer, len);
	}
}

static int sync_clock(const char *host, int port, int set)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int s = socket(AF_INET, SOCK_DGRAM, 0), got = 0;
	int64_t best_rtt = INT64_MAX, best_off = 0;

	if (s < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "labclock: cannot reach %s\n", host);
		return 1;
	}
	for (uint64_t i = 1; i <= 32; i++) {
		uint64_t msg[2] = { i, 0 };
		int64_t t0 = now_ns(), t1;
		struct pollfd p = { .fd = s, .events = POLLIN };

		if (send(s, msg, 8, 0) != 8)
			continue;
		while (poll(&p, 1, 200) == 1) {
			if (recv(s, msg, sizeof(msg), 0) != sizeof(msg) || msg[0] != i)
				continue;
			t1 = now_ns();
			if (t1 - t0 < best_rtt) {
				best_rtt = t1 - t0;
				best_off = (int64_t)msg[1] - (t0 + (t1 - t0) / 2);
			}
			got++;
			break;
		}
	}
	if (!got) {
		fprintf(stderr, "labclock: no answer from %s:%d\n", host, port);
		return 1;
	}
	if (set) {
		int64_t t = now_ns() + best_off;
		struct timespec ts = { .tv_sec = t / 1000000000, .tv_nsec = t % 1000000000 };
		if (clock_settime(CLOCK_REALTIME, &ts)) {
			perror("labclock: clock_settime");
			return 1;
		}
	}
	printf("labclock: offset_ms=%.3f rtt_ms=%.3f samples=%d%s\n", best_off / 1e6,
	       best_rtt / 1e6, got, set ? " set" : "");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "serve"))
		return serve(atoi(argv[2]));
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "sync"))
		return sync_clock(argv[2], atoi(argv[3]), argc == 5 && !strcmp(argv[4], "--set"));
	fprintf(stderr, "usage: labclock serve PORT | labclock sync HOST PORT [--set]\n");
	return 2;
}

/*
 * fwdtraf.c: traffic for the forwarding test and benchmark (tests/net/, bench/fwd/).
 *
 *   udp-send DST PORT RATE MS LOG      numbered datagrams at RATE/s for MS; LOG: "seq ns"
 *   udp-sink PORT LOG                  until SIGTERM; LOG: "seq ns" per datagram received
 *   tcp-send DST PORT CHUNK RATE MS    CHUNK bytes RATE times a second for MS
 *   tcp-sink PORT LOG                  one connection; LOG: "ns bytes" per read
 *   tcp-bulk-send DST PORT MS          as fast as possible for MS
 *   tcp-bulk-sink PORT                 one connection; prints "rx_bytes=N rx_ns=T"
 *   udp-echo PORT                      echoes datagrams until SIGTERM; once a second, when
 *                                      they changed, prints its counts and UDP drops
 *   udp-ping DST PORT COUNT GAP_US     prints "rtt_us p50=... p90=... p99=... lost=N"
 *   udp-flow DST PORT RATE MS LOG      numbered datagrams at RATE/s for MS to a udp-echo,
 *                                      whose echoes come back to the same socket; LOG:
 *                                      "seq sent_ns" per datagram sent, "seq sent_ns recv_ns"
 *                                      per echo; prints "udp-flow: sent=N echoed=M"
 *   tcp-echo PORT                      echoes what each connection sends, one connection
 *                                      after another, until SIGTERM
 *   tcp-flow DST PORT RATE MS          a 64-byte message RATE times a second for MS over one
 *                                      connection to a tcp-echo, each echo read back; prints
 *                                      "tcp-flow: sent=N echoed=M max_gap_ms=G" (G: longest
 *                                      time without an echo) and exits 1 if the connection
 *                                      broke or an echo came back wrong
 *   sniff IFNAME MAC LOG               announcements from MAC (RARP, ARP, NA) until SIGTERM;
 *                                      LOG: "ns kind"
 *
 * Times are CLOCK_REALTIME nanoseconds, the clock `date +%s%N` reads, so the shell can
 * put its own events on the same axis. Every received datagram is checked (length, magic)
 * before it is counted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x6d667774u  /* "mfwt" */

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	stop = 1;
}

static void handle_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;     /* no SA_RESTART: blocking calls return EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "fwdtraf: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long arg_long(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max) {
		fprintf(stderr, "fwdtraf: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static struct sockaddr_in addr_of(const char *ip, const char *port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)arg_long(port, 1, 65535));
	if (!ip)
		a.sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "fwdtraf: bad address '%s'\n", ip);
		exit(2);
	}
	return a;
}

static FILE *open_log(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die(path);
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	return f;
}

static void sleep_until(uint64_t mono_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(mono_ns / 1000000000ull),
			       .tv_nsec = (long)(mono_ns % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
		;
}

struct dgram {
	uint32_t magic;
	uint32_t seq;
	uint64_t sent_ns;
};

static int udp_send(char **av)
{
	struct sockaddr_in dst = addr_of(av[0], av[1]);
	long rate = arg_long(av[2], 1, 1000000), ms = arg_long(av[3], 1, 3600000);
	FILE *log = open_log(av[4]);
	uint64_t t0, period = 1000000000ull / (uint64_t)rate;
	uint64_t n = (uint64_t)rate * (uint64_t)ms / 1000;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		die("socket");
	t0 = now_ns(CLOCK_MONOTONIC);
	for (uint64_t i = 0; i < n && !stop; i++) {
		struct dgram d = { .magic = htonl(MAGIC), .seq = htonl((uint32_t)i) };
		sleep_until(t0 + i * period);
		d.sent_ns = now_ns(CLOCK_REALTIME);
		/* Errors (no route, no neighbour yet) lose the datagram: that is counted. */
		sendto(fd, &d, sizeof(d), 0, (struct sockaddr *)&dst, sizeof(dst));
		fprintf(log, "%llu %llu\n", (unsigned long long)i, (unsigned long long)d.sent_ns);
	}
	fclose(log);
	close(fd);
	return 0;
}

static int udp_sink(char **av)
{
	struct sockaddr_in a = addr_of(NULL, av[0]);
	FILE *log = open_log(av[1]);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), sz = 4 << 20;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)))
		die("udp bind");
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	while (!stop) {
		struct dgram d;
		ssize_t r = recv(fd, &d, sizeof(d), 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("recv");
		}
		if (r != sizeof(d) || ntohl(d.magic) != MAGIC)
			continue;
		fprintf(log, "%u %llu\n", ntohl(d.seq), (unsigned long long)now_ns(CLOCK_REALTIME));
	}
	fclose(log);
	return 0;
}

static int tcp_connect(char **av)
{
	struct sockaddr_in dst = addr_of(av[0], av[1]);
	int one = 1, fd;

	for (int tries = 0; tries < 50 && !stop; tries++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			return fd;
		}
		close(fd);
		usleep(100000);
	}
	die("connect");
	return -1;
}

static int tcp_listen_accept(const char *port)
{
	struct sockaddr_in a = addr_of(NULL, port);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0), c;

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1))
		die("tcp listen");
	do
		c = accept(fd, NULL, NULL);
	while (c < 0 && errno == EINTR && !stop);
	close(fd);
	if (c < 0)
		die("accept");
	return c;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n && !stop) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int tcp_send(char **av)
{
	long chunk = arg_long(av[2], 1, 1 << 20), rate = arg_long(av[3], 1, 100000);
	long ms = arg_long(av[4], 1, 3600000);
	uint64_t t0, period = 1000000000ull / (uint64_t)rate, n = (uint64_t)rate * (uint64_t)ms / 1000;
	char *buf = calloc(1, (size_t)chunk);
	int fd = tcp_connect(av);

	if (!buf)
		die("calloc");
	t0 = now_ns(CLOCK_MONOTONIC);
	for (uint64_t i = 0; i < n && !stop; i++) {
		sleep_until(t0 + i * period);
		if (write_all(fd, buf, (size_t)chunk))
			die("write");
	}
	close(fd);
	free(buf);
	return 0;
}

static int tcp_sink(char **av)
{
	FILE *log = open_log(av[1]);
	char buf[65536];
	int fd = tcp_listen_accept(av[0]);

	while (!stop) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		fprintf(log, "%llu %zd\n", (unsigned long long)now_ns(CLOCK_REALTIME), r);
	}
	fclose(log);
	close(fd);
	return 0;
}

static int tcp_bulk_send(char **av)
{
	long ms = arg_long(av[2], 1, 3600000);
	static char buf[1 << 16];
	uint64_t end;
	int fd = tcp_connect(av);

	end = now_ns(CLOCK_MONOTONIC) + (uint64_t)ms * 1000000ull;
	while (!stop && now_ns(CLOCK_MONOTONIC) < end)
		if (write_all(fd, buf, sizeof(buf)))
			die("write");
	close(fd);
	return 0;
}

static int tcp_bulk_sink(char **av)
{
	static char buf[1 << 16];
	uint64_t bytes = 0, t0 = 0, t1 = 0;
	int fd = tcp_listen_accept(av[0]);

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR && !stop)
			continue;
		if (r <= 0)
			break;
		if (!t0)
			t0 = now_ns(CLOCK_MONOTONIC);
		t1 = now_ns(CLOCK_MONOTONIC);
		bytes += (uint64_t)r;
	}
	printf("rx_bytes=%llu rx_ns=%llu\n", (unsigned long long)bytes,
	       (unsigned long long)(t1 - t0));
	close(fd);
	return 0;
}

/* The kernel's UDP counters that say where a datagram was dropped in this host (the
 * "Udp:" lines of /proc/net/snmp): InErrors, and of them RcvbufErrors (the socket's
 * buffer), InCsumErrors (a bad checksum) and MemErrors (the kernel's UDP memory limits,
 * udp_mem); SndbufErrors. */
static void udp_snmp(char *out, size_t len)
{
	char names[512], vals[512], *np, *vp, *n, *v;
	FILE *f = fopen("/proc/net/snmp", "r");

	snprintf(out, len, "snmp=unread");
	if (!f)
		return;
	while (fgets(names, sizeof(names), f) && fgets(vals, sizeof(vals), f)) {
		size_t o = 0;

		if (strncmp(names, "Udp:", 4) || strncmp(vals, "Udp:", 4))
			continue;
		out[0] = 0;
		n = strtok_r(names + 4, " \n", &np);
		v = strtok_r(vals + 4, " \n", &vp);
		while (n && v && o < len) {
			if (!strcmp(n, "InErrors") || !strcmp(n, "RcvbufErrors") ||
			    !strcmp(n, "SndbufErrors") || !strcmp(n, "InCsumErrors") ||
			    !strcmp(n, "MemErrors"))
				o += (size_t)snprintf(out + o, len - o, "%s%s=%s", o ? " " : "", n, v);
			n = strtok_r(NULL, " \n", &np);
			v = strtok_r(NULL, " \n", &vp);
		}
		break;
	}
	fclose(f);
}

/*
 * What one udp-flow (one source port) delivered to this host, by sequence number: which of
 * the numbers up to the highest seen never arrived. Kept across a migration (it is the
 * guest's memory), so the line printed on the target covers the whole flow.
 */
#define FLOW_SEQ_MAX (1u << 20)

struct flow_seen {
	uint16_t port;                /* network order; 0: none yet */
	uint8_t *bits;
	uint32_t highest;
	unsigned long long received;
};

static void flow_note(struct flow_seen *f, const struct sockaddr_in *from, const char *buf,
		      ssize_t r)
{
	const struct dgram *d = (const struct dgram *)buf;
	uint32_t seq;

	if (r < (ssize_t)sizeof(*d) || ntohl(d->magic) != MAGIC)
		return;
	seq = ntohl(d->seq);
	if (seq >= FLOW_SEQ_MAX)
		return;
	if (from->sin_port != f->port) {   /* a new flow: the previous one is over */
		memset(f->bits, 0, FLOW_SEQ_MAX / 8);
		f->port = from->sin_port;
		f->highest = 0;
		f->received = 0;
	}
	if (!(f->bits[seq / 8] & (1u << (seq % 8)))) {
		f->bits[seq / 8] |= (uint8_t)(1u << (seq % 8));
		f->received++;
	}
	if (seq > f->highest)
		f->highest = seq;
}

/* "flow=PORT received=N highest=H missing=M ranges=A-B,C-D" (at most 40 ranges, then
 * "+more"): the numbers up to the highest that never arrived. */
static void flow_line(const struct flow_seen *f, char *out, size_t len)
{
	unsigned long long missing = 0;
	unsigned int nr = 0;
	size_t o;
	uint32_t run = 0;
	bool in_run = false;

	o = (size_t)snprintf(out, len, "flow=%u received=%llu highest=%u", ntohs(f->port),
			     f->received, f->highest);
	for (uint32_t s = 0; s <= f->highest + 1 && o < len; s++) {
		bool have = s > f->highest || (f->bits[s / 8] & (1u << (s % 8)));

		if (!have && !in_run) {
			in_run = true;
			run = s;
		} else if (have && in_run) {
			in_run = false;
			missing += s - run;
			if (nr < 40)
				o += (size_t)snprintf(out + o, len - o, "%s%u-%u", nr ? "," : " ranges=",
						      run, s - 1);
			else if (nr == 40)
				o += (size_t)snprintf(out + o, len - o, ",+more");
			nr++;
		}
	}
	if (o < len)
		snprintf(out + o, len - o, " missing=%llu", missing);
}

/* Echoes each datagram back to its sender. Once a second, when they changed, prints its
 * counts, the kernel's UDP drop counters and what the current flow delivered (a guest's
 * console then shows whether what reached it was echoed, and what never reached it). */
static int udp_echo(char **av)
{
	struct sockaddr_in a = addr_of(NULL, av[0]);
	struct timeval tv = { .tv_sec = 1, .tv_usec = 0 };
	unsigned long long got = 0, sent = 0, failed = 0, shown = ~0ull;
	uint64_t last = now_ns(CLOCK_MONOTONIC);
	struct flow_seen flow = { .bits = calloc(FLOW_SEQ_MAX / 8, 1) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), sz = 8 << 20;
	socklen_t szl = sizeof(sz);

	if (fd < 0 || !flow.bits || bind(fd, (struct sockaddr *)&a, sizeof(a)))
		die("udp bind");
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* Room for a burst: what a switch-over's hold lets out at once (up to its 4 MiB cap)
	 * comes in faster than a slow guest reads; each datagram costs its whole receive
	 * buffer (a page with netfront), not its 64 bytes. FORCE needs CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, &szl) == 0) {
		printf("udp-echo: port %s, receive buffer %d bytes\n", av[0], sz);
		fflush(stdout);
	}
	while (!stop) {
		char buf[2048];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

		if (r >= 0) {
			got++;
			flow_note(&flow, &from, buf, r);
			if (sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&from, fl) == r)
				sent++;
			else
				failed++;
		}
		if (now_ns(CLOCK_MONOTONIC) - last >= 1000000000ull && got + failed != shown) {
			char snmp[160], fline[640];

			udp_snmp(snmp, sizeof(snmp));
			flow_line(&flow, fline, sizeof(fline));
			printf("udp-echo: t=%llu received=%llu echoed=%llu send_failed=%llu %s %s\n",
			       (unsigned long long)(now_ns(CLOCK_REALTIME) / 1000000ull), got, sent,
			       failed, snmp, fline);
			fflush(stdout);
			shown = got + failed;
			last = now_ns(CLOCK_MONOTONIC);
		}
	}
	free(flow.bits);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int udp_ping(char **av)
{
	struct sockaddr_in dst = addr_of(av[0], av[1]);
	long count = arg_long(av[2], 1, 1000000), gap = arg_long(av[3], 0, 1000000);
	uint64_t *rtt = calloc((size_t)count, sizeof(*rtt));
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	long got = 0, lost = 0;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || !rtt)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (long i = 0; i < count && !stop; i++) {
		struct dgram d = { .magic = htonl(MAGIC), .seq = htonl((uint32_t)i) }, e;
		uint64_t t0 = now_ns(CLOCK_MONOTONIC);
		ssize_t r;
		sendto(fd, &d, sizeof(d), 0, (struct sockaddr *)&dst, sizeof(dst));
		for (;;) {
			r = recv(fd, &e, sizeof(e), 0);
			if (r < 0 || (r == sizeof(e) && e.magic == d.magic && e.seq == d.seq))
				break;
		}
		if (r < 0) {
			lost++;
			continue;
		}
		rtt[got++] = (now_ns(CLOCK_MONOTONIC) - t0) / 1000;
		if (gap)
			usleep((useconds_t)gap);
	}
	if (!got) {
		printf("rtt_us p50=0 p90=0 p99=0 lost=%ld\n", lost);
		return 1;
	}
	qsort(rtt, (size_t)got, sizeof(*rtt), cmp_u64);
	printf("rtt_us p50=%llu p90=%llu p99=%llu lost=%ld\n",
	       (unsigned long long)rtt[got / 2], (unsigned long long)rtt[got * 9 / 10],
	       (unsigned long long)rtt[got * 99 / 100], lost);
	free(rtt);
	return 0;
}

/* Sends at a fixed rate on one socket and logs the echoes that come back to it. */
static int udp_flow(char **av)
{
	struct sockaddr_in dst = addr_of(av[0], av[1]);
	long rate = arg_long(av[2], 1, 100000), ms = arg_long(av[3], 1, 3600000);
	FILE *log = open_log(av[4]);
	uint64_t t0, period = 1000000000ull / (uint64_t)rate;
	uint64_t n = (uint64_t)rate * (uint64_t)ms / 1000, i = 0, echoed = 0, end;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), sz = 4 << 20;

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	{
		/* the flow's source port, which the echo's per-flow line names */
		struct sockaddr_in me = { .sin_family = AF_INET };
		socklen_t ml = sizeof(me);

		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) ||
		    getsockname(fd, (struct sockaddr *)&me, &ml))
			die("udp bind");
		printf("udp-flow: from port %u\n", ntohs(me.sin_port));
		fflush(stdout);
	}
	t0 = now_ns(CLOCK_MONOTONIC);
	end = t0 + n * period + 2000000000ull;   /* 2 s for the last echoes */
	while (!stop) {
		uint64_t now = now_ns(CLOCK_MONOTONIC), due = t0 + i * period;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int wait_ms;

		if (i < n && now >= due) {
			struct dgram d = { .magic = htonl(MAGIC), .seq = htonl((uint32_t)i) };
			d.sent_ns = now_ns(CLOCK_REALTIME);
			sendto(fd, &d, sizeof(d), 0, (struct sockaddr *)&dst, sizeof(dst));
			fprintf(log, "%llu %llu\n", (unsigned long long)i, (unsigned long long)d.sent_ns);
			i++;
			continue;
		}
		if (i >= n && now >= end)
			break;
		wait_ms = (int)(((i < n ? due : end) - now) / 1000000ull);
		if (poll(&pfd, 1, wait_ms) > 0) {
			struct dgram e;
			while (recv(fd, &e, sizeof(e), 0) == (ssize_t)sizeof(e)) {
				if (ntohl(e.magic) != MAGIC || ntohl(e.seq) >= n)
					continue;
				fprintf(log, "%u %llu %llu\n", ntohl(e.seq), (unsigned long long)e.sent_ns,
					(unsigned long long)now_ns(CLOCK_REALTIME));
				echoed++;
			}
		}
	}
	fclose(log);
	close(fd);
	printf("udp-flow: sent=%llu echoed=%llu\n", (unsigned long long)i, (unsigned long long)echoed);
	return 0;
}

static int tcp_echo(char **av)
{
	struct sockaddr_in a = addr_of(NULL, av[0]);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4))
		die("tcp listen");
	while (!stop) {
		char buf[4096];
		int c = accept(fd, NULL, NULL);
		if (c < 0)
			continue;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		for (;;) {
			ssize_t r = read(c, buf, sizeof(buf));
			if (r < 0 && errno == EINTR && !stop)
				continue;
			if (r <= 0 || write_all(c, buf, (size_t)r))
				break;
		}
		close(c);
	}
	close(fd);
	return 0;
}

/* One connection; a numbered 64-byte message at a fixed rate, every echo checked. */
static int tcp_flow(char **av)
{
	long rate = arg_long(av[2], 1, 10000), ms = arg_long(av[3], 1, 3600000);
	uint64_t t0, period = 1000000000ull / (uint64_t)rate, n = (uint64_t)rate * (uint64_t)ms / 1000;
	uint64_t sent = 0, echoed = 0, last, max_gap = 0, end;
	unsigned char in[64];
	size_t have = 0;
	int fd = tcp_connect(av), bad = 0, broken = 0, sz = 1 << 20;

	/* room for a few seconds of messages while the peer is away */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	t0 = last = now_ns(CLOCK_MONOTONIC);
	end = t0 + n * period;
	while (!stop) {
		uint64_t now = now_ns(CLOCK_MONOTONIC), due = t0 + sent * period;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (sent < n && now >= due) {
			unsigned char msg[64];
			memset(msg, 0, sizeof(msg));
			memcpy(msg, &sent, sizeof(sent));
			/* the send buffer absorbs a blackout: a short write means it is full */
			if (write(fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg)) {
				broken = 1;
				break;
			}
			sent++;
			continue;
		}
		if (echoed == n || (sent == n && now >= end + 30000000000ull))
			break;
		if (poll(&pfd, 1, sent < n ? (int)((due - now) / 1000000ull) : 100) <= 0)
			continue;
		for (;;) {
			ssize_t r = read(fd, in + have, sizeof(in) - have);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				broken = 1;
				break;
			}
			if (r < 0)
				break;
			have += (size_t)r;
			if (have < sizeof(in))
				continue;
			have = 0;
			{
				uint64_t seq;
				memcpy(&seq, in, sizeof(seq));
				if (seq != echoed)
					bad = 1;
			}
			echoed++;
			now = now_ns(CLOCK_MONOTONIC);
			if (now - last > max_gap)
				max_gap = now - last;
			last = now;
		}
		if (broken || bad)
			break;
	}
	close(fd);
	printf("tcp-flow: sent=%llu echoed=%llu max_gap_ms=%llu%s%s\n", (unsigned long long)sent,
	       (unsigned long long)echoed, (unsigned long long)(max_gap / 1000000ull),
	       broken ? " broken" : "", bad ? " out-of-order" : "");
	return broken || bad || echoed != sent;
}

/* One packet socket per announcement protocol, so the data traffic never crowds them out. */
static int sniff_socket(const char *ifname, uint16_t proto)
{
	struct sockaddr_ll sll;
	int fd = socket(AF_PACKET, SOCK_RAW, htons(proto)), sz = 1 << 20;

	if (fd < 0)
		die("packet socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(proto);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
		die(ifname);
	return fd;
}

static int sniff(char **av)
{
	static const uint16_t protos[3] = { ETH_P_RARP, ETH_P_ARP, ETH_P_IPV6 };
	struct pollfd pfd[3];
	unsigned int m[6];
	uint8_t mac[6];
	FILE *log;

	if (sscanf(av[1], "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) {
		fprintf(stderr, "fwdtraf: bad MAC '%s'\n", av[1]);
		return 2;
	}
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)m[i];
	log = open_log(av[2]);
	for (int i = 0; i < 3; i++) {
		pfd[i].fd = sniff_socket(av[0], protos[i]);
		pfd[i].events = POLLIN;
	}
	while (!stop) {
		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		for (int i = 0; i < 3; i++) {
			uint8_t f[2048];
			const char *kind = NULL;
			ssize_t r;
			uint16_t type;

			if (!(pfd[i].revents & POLLIN))
				continue;
			r = recv(pfd[i].fd, f, sizeof(f), MSG_DONTWAIT);
			if (r < 42 || memcmp(f + 6, mac, 6))
				continue;
			type = (uint16_t)(f[12] << 8 | f[13]);
			if (type == ETH_P_RARP && f[21] == 3)
				kind = "rarp";
			else if (type == ETH_P_ARP && !memcmp(f + 28, f + 38, 4) && f[21] == 2)
				kind = "garp";
			else if (type == ETH_P_IPV6 && r >= 14 + 40 + 24 && f[20] == 58 && f[54] == 136)
				kind = "na";
			if (kind)
				fprintf(log, "%llu %s\n", (unsigned long long)now_ns(CLOCK_REALTIME), kind);
		}
	}
	fclose(log);
	return 0;
}

static const struct {
	const char *name;
	int nargs;
	int (*fn)(char **av);
} modes[] = {
	{ "udp-send", 5, udp_send },   { "udp-sink", 2, udp_sink },
	{ "tcp-send", 5, tcp_send },   { "tcp-sink", 2, tcp_sink },
	{ "tcp-bulk-send", 3, tcp_bulk_send }, { "tcp-bulk-sink", 1, tcp_bulk_sink },
	{ "udp-echo", 1, udp_echo },   { "udp-ping", 4, udp_ping },
	{ "udp-flow", 5, udp_flow },   { "tcp-echo", 1, tcp_echo },
	{ "tcp-flow", 4, tcp_flow },   { "sniff", 3, sniff },
};

int main(int argc, char **argv)
{
	handle_signals();
	for (size_t i = 0; argc > 1 && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(argv[1], modes[i].name)) {
			if (argc - 2 != modes[i].nargs) {
				fprintf(stderr, "fwdtraf %s: %d arguments expected\n", argv[1],
					modes[i].nargs);
				return 2;
			}
			return modes[i].fn(argv + 2);
		}
	fprintf(stderr, "usage: fwdtraf MODE ARGS... (see the head of tests/net/fwdtraf.c)\n");
	return 2;
}

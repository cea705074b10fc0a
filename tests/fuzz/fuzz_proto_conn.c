/*
 * fuzz_proto_conn.c: the receiving side of a connection on hostile bytes, through the
 * real code a target runs: a byte-pipe connection reads the input (after its first byte)
 * from a memfd, and the first byte chooses the path: even, control messages with
 * migr_msg_recv() until an error; odd, a stream through migr_conn_stream_in() drained by a
 * reader, then control messages. Nothing may crash, leak, hang or read out of bounds.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "libmigr.h"

static void drain(int fd)
{
	static uint8_t buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct migr_conn *c = NULL;
	struct migr_msg m;
	int in, out, fd, n;

	if (size < 1)
		return 0;
	signal(SIGPIPE, SIG_IGN);
	in = memfd_create("fuzz_proto_conn", MFD_CLOEXEC);
	out = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (in < 0 || out < 0 ||
	    write(in, data + 1, size - 1) != (ssize_t)(size - 1) || lseek(in, 0, SEEK_SET) != 0)
		abort();
	if (migr_conn_from_fds(in, out, NULL, &c))
		abort();
	if (data[0] & 1) {
		if (migr_conn_stream_in(c, &fd) == 0) {
			drain(fd);
			migr_conn_stream_in_end(c, NULL);
		}
	}
	for (n = 0; n < 64 && migr_msg_recv(c, &m) == 0; n++)
		migr_msg_release(&m);
	migr_conn_close(c);
	return 0;
}

/*
 * fuzz_proto_record.c: the target's durable record (record.c) on hostile file contents.
 * A RESOLVE answer is read from it, so a damaged file must read as -EBADMSG, never as a
 * different outcome. The input is stored as the record of one fixed id and read back with
 * migr_record_read(); whatever reads must write and read back to the same fields.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "libmigr.h"

static char dir[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char hex[] = "00112233445566778899aabbccddeeff";
	struct migr_record r, again;
	struct migr_src_record sr, sagain;
	struct migr_id id;
	char path[128];
	int fd;

	if (!dir[0]) {
		strcpy(dir, "/tmp/migr-fuzz-record-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	migr_id_from_hex(hex, &id);
	snprintf(path, sizeof(path), "%s/%s", dir, hex);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (migr_record_read(dir, &id, &r) == 0) {
		if (!migr_id_equal(&r.id, &id) || r.outcome > MIGR_OUTCOME_DESTROYED)
			abort();
		if (migr_record_write(dir, &r) || migr_record_read(dir, &id, &again))
			abort();
		if (again.outcome != r.outcome || again.domid != r.domid ||
		    strcmp(again.name, r.name) || strcmp(again.source, r.source))
			abort();
	}
	/* the same bytes as a source's record */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (migr_src_record_read(dir, &id, &sr) == 0) {
		if (!migr_id_equal(&sr.id, &id) || sr.phase > MIGR_SRC_DONE || sr.domid > 0x7fef)
			abort();
		if (migr_src_record_write(dir, &sr) || migr_src_record_read(dir, &id, &sagain))
			abort();
		if (sagain.phase != sr.phase || sagain.domid != sr.domid ||
		    strcmp(sagain.name, sr.name) || strcmp(sagain.target, sr.target) ||
		    strcmp(sagain.peer, sr.peer) || !migr_id_equal(&sagain.target_host, &sr.target_host))
			abort();
	}
	unlink(path);
	return 0;
}

/*
 * fuzz_proto.c: the message codec on hostile bytes. The input is read as a run of frames:
 * each header goes through migr_frame_check(), each control payload through
 * migr_msg_decode() (the real decoder). Whatever decodes must encode again, and that
 * encoding must decode and encode to the same bytes: the codec is stable, so no message
 * changes meaning when relayed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"

static void check_stable(const struct migr_msg *m)
{
	uint8_t *b1 = NULL, *b2 = NULL;
	size_t l1 = 0, l2 = 0;
	struct migr_msg m2;

	if (migr_msg_encode(m, &b1, &l1))
		abort();                /* decoded but not encodable */
	if (migr_msg_decode(m->type, b1 + MIGR_FRAME_HDR, l1 - MIGR_FRAME_HDR, &m2, NULL, 0))
		abort();                /* our own encoding refused */
	if (migr_msg_encode(&m2, &b2, &l2))
		abort();
	if (l1 != l2 || memcmp(b1, b2, l1))
		abort();                /* not stable */
	migr_msg_release(&m2);
	free(b1);
	free(b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	while (size >= MIGR_FRAME_HDR) {
		uint32_t type, len;
		char err[MIGR_ERR_MAX];
		struct migr_msg m;

		if (migr_frame_check(data, &type, &len, err, sizeof(err)))
			return 0;
		data += MIGR_FRAME_HDR;
		size -= MIGR_FRAME_HDR;
		if (len > size)
			len = (uint32_t)size;   /* a truncated frame: decode what is there */
		if (type != MIGR_MSG_DATA && !(type & MIGR_MSG_OPTIONAL) &&
		    migr_msg_decode(type, data, len, &m, err, sizeof(err)) == 0) {
			check_stable(&m);
			migr_msg_release(&m);
		}
		data += len;
		size -= len;
	}
	return 0;
}

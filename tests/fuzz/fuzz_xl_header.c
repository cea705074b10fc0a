/*
 * fuzz_xl_header.c: xl's save-file header and its optional data (send_stream.c), as a
 * target reading a stock `xl migrate` gets them (recv_xl.c): the first 48 bytes through
 * migr_xl_header_check(); if accepted, exactly the optional data length it returned is
 * handed to migr_xl_optdata_config() in a buffer of that size (a short input stops there,
 * as a short read would). Whatever is accepted must re-encode with migr_xl_header_encode()
 * and decode back to the same config.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"

static void roundtrip(const char *json)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	uint32_t optlen;
	char *again = NULL;

	if (migr_xl_header_encode(json, strlen(json) + 1, &buf, &len) ||
	    migr_xl_header_check(buf, &optlen) || optlen != len - MIGR_XL_HDR_LEN ||
	    migr_xl_optdata_config(buf + MIGR_XL_HDR_LEN, optlen, &again) || strcmp(json, again))
		abort();
	free(again);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[MIGR_XL_HDR_LEN], *opt;
	uint32_t optlen = 0;
	char *json = NULL;
	int rc;

	if (size < MIGR_XL_HDR_LEN)
		return 0;
	memcpy(hdr, data, sizeof(hdr));
	rc = migr_xl_header_check(hdr, &optlen);
	if (rc)
		return 0;
	if (optlen < 5 || optlen > 4 + MIGR_CONFIG_MAX)
		abort();
	if (size - MIGR_XL_HDR_LEN < optlen)
		return 0;
	opt = malloc(optlen);
	if (!opt)
		abort();
	memcpy(opt, data + MIGR_XL_HDR_LEN, optlen);
	if (migr_xl_optdata_config(opt, optlen, &json) == 0) {
		if (strlen(json) + 1 > optlen - 4)
			abort();
		roundtrip(json);
		free(json);
	}
	free(opt);
	return 0;
}

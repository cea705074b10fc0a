/*
 * fuzz_xl_optdata.c: the optional data of xl's save-file header alone (send_stream.c,
 * migr_xl_optdata_config()), so the fuzzer reaches the config extraction without first
 * having to build a valid fixed header. The whole input is the optional data, in a buffer
 * of exactly its size; an accepted config is one NUL-terminated string that fits in it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *opt;
	char *json = NULL;
	uint32_t cl;

	if (size > 4 + MIGR_CONFIG_MAX)
		return 0;
	opt = malloc(size ? size : 1);
	if (!opt)
		abort();
	memcpy(opt, data, size);
	if (migr_xl_optdata_config(opt, size, &json) == 0) {
		memcpy(&cl, opt, 4);
		if (strlen(json) + 1 != cl || cl + 4 > size || memcmp(json, opt + 4, cl))
			abort();
		free(json);
	}
	free(opt);
	return 0;
}

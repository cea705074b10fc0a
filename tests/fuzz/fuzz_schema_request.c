/*
 * fuzz_schema_request.c: the host maintenance request parser (the JSON a monitor or an
 * operator writes into /local/domain/0/migr/request) on hostile input.
 */
#include <stdint.h>
#include <string.h>
#include "libmigr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct migr_evac_request q;
	char why[160];

	if (migr_evac_request_parse((const char *)data, size, &q, why, sizeof(why)) == 0) {
		/* What the parser accepted must be what the schema accepts. */
		if (migr_json_check((const char *)data, size, 16) != 0 || q.nto > MIGR_EVAC_MAX_TARGETS ||
		    strlen(q.reason) > 256 || strlen(q.id) > 64)
			__builtin_trap();
	}
	return 0;
}

/*
 * fuzz_schema.c: the xenstore schema's parsers and checker on hostile input.
 * The first byte picks the target: 0 the schema text parser; 1 `xenstore-ls -f -p` lines,
 * each parsed and checked against the built-in schema; 2 the JSON checker; 3 one
 * (path NUL value NUL perms) tuple checked against the built-in schema.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"

static struct migr_schema *builtin;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;
	size_t n = size ? size - 1 : 0;
	char why[256];

	if (!builtin && migr_schema_load_builtin(&builtin))
		abort();                /* the shipped schema must always parse */
	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0: {
		struct migr_schema *s = NULL;
		char err[128];

		if (migr_schema_parse(p, n, &s, err, sizeof(err)) == 0) {
			(void)migr_schema_check(s, "/local/domain/1/migr/ack", "x", 1, "n0,b1",
						why, sizeof(why), NULL);
			migr_schema_free(s);
		}
		break;
	}
	case 1: {
		const char *end = p + n;

		while (p < end) {
			const char *le = memchr(p, '\n', end - p);
			struct migr_xs_entry e;

			if (!le)
				le = end;
			if (migr_xs_dump_parse_line(p, le - p, &e) == 0) {
				(void)migr_schema_check(builtin, e.path, e.value, e.vlen, e.perms,
							why, sizeof(why), NULL);
				migr_xs_entry_clear(&e);
			}
			p = le + 1;
		}
		break;
	}
	case 2:
		(void)migr_json_check(p, n, 16);
		break;
	case 3: {
		char *buf = malloc(n + 3), *path, *val, *perms;
		size_t vlen;

		if (!buf)
			return 0;
		memcpy(buf, p, n);
		buf[n] = buf[n + 1] = buf[n + 2] = 0;
		path = buf;
		val = path + strlen(path) + 1;
		perms = val + strlen(val) + 1;
		vlen = strlen(val);
		(void)migr_schema_check(builtin, path, val, vlen, *perms ? perms : NULL,
					why, sizeof(why), NULL);
		free(buf);
		break;
	}
	}
	return 0;
}

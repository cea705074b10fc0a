/*
 * fuzz_drain_records.c: the records of drains across the fleet (libmigr/drain.c), read
 * from etcd where anyone with write access to /migr/drain/ may have put anything. The
 * first byte picks the parser (state, queue entry of host "a", progress); what a parser
 * accepts must encode again and parse back to the same record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data + 1;
	char *again = NULL;
	size_t n = size ? size - 1 : 0, len;

	if (!size)
		return 0;
	switch (data[0] % 3) {
	case 0: {
		struct migr_drain_state s, t;

		if (migr_drain_state_parse(json, n, &s))
			break;
		if (s.window < 1 || s.window > MIGR_DRAIN_WINDOW_MAX || s.nout > MIGR_DRAIN_OUT_MAX ||
		    migr_drain_state_encode(&s, &again, &len) ||
		    migr_drain_state_parse(again, len, &t) || t.nout != s.nout ||
		    t.window != s.window)
			__builtin_trap();
		for (unsigned int i = 0; i < s.nout; i++)
			if (strcmp(s.out[i].host, t.out[i].host) || strcmp(s.out[i].group, t.out[i].group) ||
			    s.out[i].done != t.out[i].done || s.out[i].since_unix != t.out[i].since_unix ||
			    migr_drain_state_find(&s, s.out[i].host) != (int)i)
				__builtin_trap();
		migr_drain_state_clear(&s);
		migr_drain_state_clear(&t);
		break;
	}
	case 1: {
		struct migr_drain_entry e, f;

		if (migr_drain_entry_parse(json, n, "a", &e))
			break;
		if (strcmp(e.host, "a") || migr_drain_entry_encode(&e, &again, &len) ||
		    migr_drain_entry_parse(again, len, "a", &f) || f.status != e.status ||
		    strcmp(f.reason, e.reason) || strcmp(f.requester, e.requester) ||
		    f.queued_unix != e.queued_unix || f.ended_unix != e.ended_unix)
			__builtin_trap();
		break;
	}
	default: {
		struct migr_drain_progress *p = calloc(2, sizeof(*p));

		if (!p)
			break;
		if (!migr_drain_progress_parse(json, n, &p[0]) &&
		    (p[0].moved + p[0].left > p[0].total || p[0].nflight > MIGR_DRAIN_FLIGHT_MAX ||
		     migr_drain_progress_encode(&p[0], &again, &len) ||
		     migr_drain_progress_parse(again, len, &p[1]) || p[1].nflight != p[0].nflight ||
		     p[1].left != p[0].left || p[1].moved != p[0].moved))
			__builtin_trap();
		free(p);
		break;
	}
	}
	free(again);
	return 0;
}

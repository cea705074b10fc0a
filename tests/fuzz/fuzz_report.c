/*
 * fuzz_report.c: the readers of migr report and of migrd's metrics on hostile bytes: a
 * round log (roundlog.c), a line of the event log (report.c) and a metrics file
 * (metrics.c). Whatever parses must draw, write and parse again to the same figures; the
 * pictures must come out whatever the values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"

static struct migr_roundlog l, again;
static struct migr_evac_report r;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct migr_metrics m, m2;
	char *out = NULL, why[160];
	size_t len;

	if (migr_roundlog_parse(text, size, &l, why, sizeof(why)) == 0) {
		if (migr_report_migration_svg(&l, &out, &len))
			abort();
		free(out);
		out = NULL;
		if (migr_roundlog_format(&l, &out, &len) ||
		    migr_roundlog_parse(out, len, &again, why, sizeof(why)))
			abort();
		if (again.n_rounds != l.n_rounds || again.total_us != l.total_us ||
		    strcmp(again.name, l.name) || strcmp(again.id, l.id) ||
		    (l.n_rounds && again.rounds[l.n_rounds - 1].pages != l.rounds[l.n_rounds - 1].pages))
			abort();
		free(out);
		out = NULL;
	}
	memset(&r, 0, sizeof(r));
	if (migr_report_evac_line(&r, "maint-1", text, size) > 0) {
		if (r.n > MIGR_REPORT_LANES || migr_report_evacuation_svg(&r, &out, &len))
			abort();
		free(out);
		out = NULL;
	}
	if (migr_metrics_parse(text, size, &m) == 0) {
		if (migr_metrics_format(&m, &out, &len) || migr_metrics_parse(out, len, &m2))
			abort();
		if (memcmp(m.migrations, m2.migrations, sizeof(m.migrations)) ||
		    m.blackout.count != m2.blackout.count || m.duration.count != m2.duration.count)
			abort();
		free(out);
	}
	return 0;
}

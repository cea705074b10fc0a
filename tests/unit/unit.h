/*
 * unit.h: the tiny assertion kit of the unit tests. A test binary runs its checks, prints
 * one line per failure, and exits 1 if any failed (0 otherwise).
 */
#ifndef MIGR_UNIT_H
#define MIGR_UNIT_H
#include <stdio.h>
#include <string.h>
#include "fakes.h"

static int unit_failures, unit_checks;

#define CHECK(cond) do { unit_checks++; if (!(cond)) { unit_failures++; \
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); unit_checks++; \
	if (_a != _b) { unit_failures++; fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", \
	__FILE__, __LINE__, #a, _a, #b, _b); } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); unit_checks++; \
	if (!_a || !_b || strcmp(_a, _b)) { unit_failures++; fprintf(stderr, \
	"%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, _a ? _a : "(null)", \
	_b ? _b : "(null)"); } } while (0)

/* Writes TEXT into DIR/NAME (replaced), a check that it could. */
static inline void unit_write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static inline int unit_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
	return unit_failures ? 1 : (unit_checks ? 0 : 1);
}
#endif

/*
 * report_int.h: what roundlog.c and report.c share. Internal to libmigr.
 */
#ifndef MIGR_REPORT_INT_H
#define MIGR_REPORT_INT_H

#include <stdbool.h>
#include <stddef.h>

/* No JSON array or object in s nests deeper than max (checked before a tree parser,
 * whose recursion the depth would otherwise decide). */
bool migr__json_depth_ok(const char *s, size_t len, unsigned int max);
/* s holds no control character (a value of a record: printable, no newline). */
bool migr__text_ok(const char *s);

#endif /* MIGR_REPORT_INT_H */

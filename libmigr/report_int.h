/*
 * report_int.h: what roundlog.c, report.c and the etcd records share. Internal to libmigr.
 */
#ifndef MIGR_REPORT_INT_H
#define MIGR_REPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <yajl/yajl_tree.h>

/* No JSON array or object in s nests deeper than max (checked before a tree parser,
 * whose recursion the depth would otherwise decide). */
bool migr__json_depth_ok(const char *s, size_t len, unsigned int max);
/* The member name of a parsed object (NULL when obj is not an object or has none). */
yajl_val migr__json_member(yajl_val obj, const char *name);
/* An etcd record of migr's keys parsed: bounded, an object, its schema checked (etcd_host.c). */
int migr__etcd_record_root(const char *json, size_t len, yajl_val *root_r);
/* s holds no control character (a value of a record: printable, no newline). */
bool migr__text_ok(const char *s);

#endif /* MIGR_REPORT_INT_H */

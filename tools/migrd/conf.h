/*
 * conf.h: migrd's settings. One table (conf.c) names each setting once, by its long
 * option; its key in migrd.conf is the same name with '_' for '-' (the file is in xl.cfg's
 * syntax, read by libxlutil, whose names cannot hold a '-'). A setting is a key, an
 * option or both, with its type and bounds. The defaults come first, then the file, then
 * the command line: an option replaces what the file gave its key, a list included.
 *
 *   migrd_conf_init()       the defaults
 *   migrd_conf_read()       the file; an unknown key or a bad value is an error naming
 *                           the file and the line
 *   migrd_conf_option()     one command-line option, applied after the file
 *   migrd_conf_check()      what migrd checks before it starts: the received-guest rules
 *                           (fills rules), addresses, the credentials (files and modes)
 *   migrd_conf_transport()  the transport options of the listener and of migrd's own
 *                           connections (evacuations, recovery)
 *   migrd_conf_print()      the effective settings in the file's syntax (--check-config)
 *   migrd_conf_options()    the struct option entries of the settings that are options
 *   migrd_conf_origin()     where a setting's value comes from
 *   migrd_conf_join()       a list's items joined with commas
 *   migrd_conf_dispose()    frees; accepts a half-built conf
 *
 * Every error is printed as it is found, one line ("migrd: FILE:LINE: KEY: ..." or
 * "migrd: --OPTION: ..."), and counted; the functions return -EINVAL when they found one.
 * The configuration names files (credentials, records); it never holds a secret.
 */
#ifndef MIGRD_CONF_H
#define MIGRD_CONF_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "libmigr.h"

#define MIGRD_CONF_FILE "/etc/migr/migrd.conf"  /* $MIGRD_CONF names another */
#define MIGRD_SETTINGS_MAX 64
/* Every executable file here runs when a guest received here starts running. */
#define MIGRD_SWITCHOVER_DIR "/etc/migr/switchover.d"

struct migrd_list {
	char **v;
	unsigned int n;
};

struct migrd_conf {
	FILE *errf;                      /* where errors and warnings go */
	unsigned int errors, warnings;
	char *path;                      /* the file read; NULL: none */

	/* The receiving side (main.c). Numbers are in the settings' units (s, MiB). */
	char *listen;
	char *psk, *cert, *key, *ca;     /* also for migrd's own connections */
	char *psk_identity;              /* presented by migrd's own connections; NULL: host name */
	long insecure;
	struct migrd_list allow_peer;
	char *allow_peers;               /* allow_peer joined with commas (migrd_conf_check) */
	char *record_dir, *src_record_dir;
	char *metrics_file;              /* Prometheus textfile; "": none */
	long reserve_mib, timeout, no_cleanup, max_incoming, handshake_timeout;
	long max_per_address, stock_hotplug, late_devices, verbose, once;
	long no_forward, forward_quiet_ms, forward_max_ms;
	char *on_switchover, *switchover_hook_dir;
	char *port_file;

	/* What a received guest may use here, as given; migrd_conf_check() builds rules. */
	struct migrd_list allow_bridge, storage, storage_map, boot_dir, allow;
	char *scripts_dir;
	struct migr_target_rules rules;

	/* The evacuation part (evac.c). */
	struct migrd_list targets;
	char *host, *event_log, *control;
	char *report_dir;                /* the round logs of the migrations it sends */
	long notice, defer_max, parallel, group_cap, retries, retry_delay_ms, downtime;
	long throttle;              /* the most the policy may slow a guest, %; 0: never */
	char *compress;             /* auto, on, off (migr_compress_parse); NULL: auto */
	long cpu_share;             /* the most of one CPU evacuations' sending may use, %; 0: auto
	                               (the CPU guard), 100: no limit */
	long threshold, target_reserve_mib, link_mbit;

	/* The fleet's state in etcd (etcd.c, docs/etcd.md): endpoints ("" or NULL: none),
	 * TLS credentials, the lease's TTL (s), the failure domain (NULL or "": none). */
	char *etcd, *etcd_ca, *etcd_cert, *etcd_key;
	long etcd_ttl;
	char *failure_domain;       /* this host's failure domain in etcd (docs/fleet.md) */

	/* Per setting, where its value comes from: 0 the default, N > 0 line N of the
	 * file, -1 the command line. */
	int origin[MIGRD_SETTINGS_MAX];
};

/* 0 or -ENOMEM. errf: where errors go (stderr in migrd). */
int migrd_conf_init(struct migrd_conf *c, FILE *errf);
/* Reads path. A missing file is every default unless must_exist (a file named by the
 * operator). 0 or -EINVAL (errors printed) or -errno (printed too). */
int migrd_conf_read(struct migrd_conf *c, const char *path, bool must_exist);
/* name: the long option without dashes; arg: NULL for a flag. */
int migrd_conf_option(struct migrd_conf *c, const char *name, const char *arg);
/* After the file and the options. Also prints warnings (migrd starts despite them). */
int migrd_conf_check(struct migrd_conf *c);
/* After migrd_conf_check(); t's strings point into c. */
void migrd_conf_transport(const struct migrd_conf *c, struct migr_transport_opts *t);
void migrd_conf_print(const struct migrd_conf *c, FILE *f);
/* Where setting name's value comes from: 0 the default, N > 0 the file's line N, -1 the
 * command line; -ENOENT: no such setting. */
int migrd_conf_origin(const struct migrd_conf *c, const char *name);
/* The items joined with commas (malloc'd; "" for none), or NULL: out of memory. */
char *migrd_conf_join(const struct migrd_list *l);
/* Writes at most max entries {name, has_arg, NULL, code}; returns how many. */
unsigned int migrd_conf_options(struct option *o, unsigned int max, int code);
void migrd_conf_dispose(struct migrd_conf *c);

#endif

/*
 * migcli.h: what `migr migrate`, `migr receive` and `migr resolve` share: connection
 * options, the pipe child (ssh-style), the logger, live progress and the summary.
 */
#ifndef MIGR_MIGCLI_H
#define MIGR_MIGCLI_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <xentoollog.h>
#include "libmigr.h"

struct migcli_conn_opts {
	struct migr_transport_opts t;
	const char *pipe_cmd;        /* -s CMD: byte pipe through "CMD HOST ..." */
	bool pipe;
	enum migr_compress compress; /* --compress auto|on|off (the sending commands) */
	bool fixed_share;            /* --cpu-share PCT or off: the sender's CPU guard is off */
};

/* Parses one connection option (long name without "--", its argument). 1 if it was one,
 * 0 if not, -1 on a bad value (message printed). */
int migcli_conn_opt(struct migcli_conn_opts *o, const char *name, const char *arg);

/* The commit fenced by etcd (docs/etcd.md): --etcd ENDPOINTS, --etcd-name NAME (default:
 * the host name, as migrd's `host`), --etcd-ca, --etcd-cert, --etcd-key FILE. */
struct migcli_etcd {
	const char *endpoints, *name, *ca, *cert, *key;
	char hostname[256];
	struct migr_etcd *e;         /* open after migcli_etcd_open(); NULL without --etcd */
};
/* One etcd option as migcli_conn_opt(): 1 if it was one, 0 if not. */
int migcli_etcd_opt(struct migcli_etcd *o, const char *name, const char *arg);
/* Opens the client when --etcd was given (nothing otherwise); -1 with a message printed
 * on a bad name or options. */
int migcli_etcd_open(struct migcli_etcd *o, xentoollog_logger *lg);
void migcli_etcd_close(struct migcli_etcd *o);
#define MIGCLI_ETCD_HELP \
"  --etcd ENDPOINTS      fence the commit through the fleet's etcd (comma-separated\n" \
"                        [http[s]://]HOST:PORT; docs/etcd.md): the guest's location key\n" \
"                        moves by compare-and-swap; both hosts must fence\n" \
"  --etcd-name NAME      this host's name in etcd (default: the host name, as migrd's\n" \
"                        host setting)\n" \
"  --etcd-ca FILE, --etcd-cert FILE, --etcd-key FILE   TLS to etcd\n"

/* Fills in the default credential files when none were given (and not --insecure). */
void migcli_conn_defaults(struct migcli_conn_opts *o);

/* "100M" -> bytes/s; -1 if not a rate. */
long long migcli_parse_rate(const char *s);

/* Runs `sh -c RUNE` with its stdin/stdout on a pair of pipes; returns the child's pid
 * and the fds to read from and write to. */
pid_t migcli_spawn(const char *rune, int *rfd_r, int *wfd_r);

/* Waits a little for the pipe child and reports an abnormal exit on stderr. */
void migcli_reap(pid_t child);

/* stderr logger at a level set by -v (count of -v). */
xentoollog_logger *migcli_logger(int verbose);

/* Progress printing. */
struct migcli_progress {
	bool tty;                    /* one updating line on stderr */
	bool json;                   /* JSON lines on stdout */
	bool quiet;
	unsigned int n_rounds;
	struct migr_progress rounds[64];
	int last_len;
	struct migr_roundlog *log;   /* the round log kept (migr/report.h); NULL: none */
};
void migcli_progress_cb(const struct migr_progress *p, void *arg);

/* Summary of a source-side migration: table of rounds, blackout broken down. */
void migcli_print_summary(FILE *f, const struct migcli_progress *pg, const struct migr_result *r,
			  int rc);
void migcli_print_json_result(FILE *f, const struct migr_result *r, int rc);
/* Forwarding after a migration: waits for its end when it still runs, then prints its
 * figures (stderr) and, with json, one "forwarding" event (stdout). */
void migcli_forwarding(const char *id, bool target, const struct migr_fwd_summary *now,
		       bool json, bool quiet);

/* Exit status for a driver's return code (commands.h). */
int migcli_exit_status(int rc);

/* MIGR_FAULT from the environment into *fs (empty when unset); prints and returns -1 on
 * a bad spec. */
int migcli_faults(const char *who, struct migr_fault_set *fs);

#endif

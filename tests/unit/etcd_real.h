/*
 * etcd_real.h: a real etcd for the tests of the etcd client and its callers: Debian's
 * etcd-server started on 127.0.0.1 with random free ports and a data directory of its
 * own, ended by its pid. Tests skip (exit 77) when the etcd binary is absent.
 */
#ifndef MIGR_ETCD_REAL_H
#define MIGR_ETCD_REAL_H

#include <stdbool.h>
#include <sys/types.h>

struct etcd_real {
	pid_t pid;
	char dir[64];                    /* its data directory and log */
	char endpoint[64];               /* http(s)://127.0.0.1:PORT */
	int port;
};

/* The etcd binary's path, or NULL when it is not installed. */
const char *etcd_real_binary(void);
/* Starts etcd (tls: serve https with the certificate files given, clients must present a
 * certificate signed by ca) and waits until it answers, at most 20 s. 0 or -errno. */
int etcd_real_start(struct etcd_real *r, const char *ca, const char *cert, const char *key);
/* SIGSTOP / SIGCONT: an etcd that takes requests and never answers them. */
void etcd_real_freeze(struct etcd_real *r, bool frozen);
/* Ends it (SIGTERM, then SIGKILL after 5 s) and removes its directory. */
void etcd_real_stop(struct etcd_real *r);

#endif

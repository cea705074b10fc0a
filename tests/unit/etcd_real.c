/*
 * etcd_real.c: a real etcd on loopback for the tests (etcd_real.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "libmigr.h"
#include "etcd_real.h"

const char *etcd_real_binary(void)
{
	static const char *const paths[] = { "/usr/bin/etcd", "/usr/local/bin/etcd" };

	for (unsigned int i = 0; i < 2; i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* Two free TCP ports on 127.0.0.1 (bound together so that they differ). */
static int free_ports(int *a, int *b)
{
	int fd[2] = { -1, -1 }, port[2], rc = -EIO;

	for (int i = 0; i < 2; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sa);

		fd[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fd[i] < 0 || bind(fd[i], (struct sockaddr *)&sa, sizeof(sa)) ||
		    getsockname(fd[i], (struct sockaddr *)&sa, &len))
			goto out;
		port[i] = ntohs(sa.sin_port);
	}
	*a = port[0];
	*b = port[1];
	rc = 0;
out:
	for (int i = 0; i < 2; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return rc;
}

static void rm_rf(const char *dir)
{
	char cmd[128];

	if (dir[0] && !strncmp(dir, "/tmp/migr-etcd.", 15)) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd)) {
			/* best effort */
		}
	}
}

int etcd_real_start(struct etcd_real *r, const char *ca, const char *cert, const char *key)
{
	const char *bin = etcd_real_binary();
	char client[64], peer[64], cluster[96], data[96], logf[96];
	struct migr_etcd_opts o = { .timeout_ms = 1000, .connect_timeout_ms = 300 };
	struct migr_etcd *e = NULL;
	int cport, pport, rc;

	memset(r, 0, sizeof(*r));
	r->pid = -1;
	if (!bin)
		return -ENOENT;
	snprintf(r->dir, sizeof(r->dir), "/tmp/migr-etcd.XXXXXX");
	if (!mkdtemp(r->dir))
		return -errno;
	if ((rc = free_ports(&cport, &pport)))
		goto out_rm;
	r->port = cport;
	snprintf(r->endpoint, sizeof(r->endpoint), "%s://127.0.0.1:%d", ca ? "https" : "http",
		 cport);
	snprintf(client, sizeof(client), "%s", r->endpoint);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", pport);
	snprintf(cluster, sizeof(cluster), "default=%s", peer);
	snprintf(data, sizeof(data), "%s/data", r->dir);
	snprintf(logf, sizeof(logf), "%s/log", r->dir);
	r->pid = fork();
	if (r->pid < 0) {
		rc = -errno;
		goto out_rm;
	}
	if (r->pid == 0) {
		const char *argv[32] = { bin, "--name", "default", "--data-dir", data,
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", cluster, "--logger", "zap", "--log-outputs", "stderr" };
		int n = 19, fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (ca) {
			argv[n++] = "--trusted-ca-file";
			argv[n++] = ca;
			argv[n++] = "--cert-file";
			argv[n++] = cert;
			argv[n++] = "--key-file";
			argv[n++] = key;
			argv[n++] = "--client-cert-auth";
		}
		argv[n] = NULL;
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setenv("ETCD_UNSUPPORTED_ARCH", "", 0);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	o.endpoints = r->endpoint;
	o.ca_file = ca;
	o.cert_file = cert;
	o.key_file = key;
	if ((rc = migr_etcd_open(&o, &e)))
		goto out_stop;
	for (int i = 0; i < 200; i++) {
		struct migr_etcd_kv kv;
		struct timespec ts = { 0, 100 * 1000000 };
		int status;

		rc = migr_etcd_get(e, "/migr-test/ready", &kv);
		if (rc == -ENOENT || !rc) {
			if (!rc)
				migr_etcd_kv_clear(&kv);
			migr_etcd_close(e);
			return 0;
		}
		if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
			fprintf(stderr, "etcd exited at start (log in %s/log)\n", r->dir);
			r->pid = -1;
			rc = -ECHILD;
			break;
		}
		nanosleep(&ts, NULL);
	}
	migr_etcd_close(e);
out_stop:
	fprintf(stderr, "etcd did not come up on %s: %s\n", r->endpoint, migr_strerror(rc));
	etcd_real_stop(r);
	return rc ? rc : -ETIMEDOUT;
out_rm:
	rm_rf(r->dir);
	return rc;
}

void etcd_real_freeze(struct etcd_real *r, bool frozen)
{
	if (r->pid > 0)
		kill(r->pid, frozen ? SIGSTOP : SIGCONT);
}

void etcd_real_stop(struct etcd_real *r)
{
	int status;

	if (r->pid > 0) {
		kill(r->pid, SIGCONT);
		kill(r->pid, SIGTERM);
		for (int i = 0; i < 50; i++) {
			struct timespec ts = { 0, 100 * 1000000 };

			if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
				r->pid = -1;
				break;
			}
			nanosleep(&ts, NULL);
		}
		if (r->pid > 0) {
			kill(r->pid, SIGKILL);
			waitpid(r->pid, &status, 0);
		}
		r->pid = -1;
	}
	rm_rf(r->dir);
	r->dir[0] = '\0';
}

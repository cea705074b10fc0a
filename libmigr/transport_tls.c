/*
 * transport_tls.c: credentials and TLS 1.3 sessions of the transport (GnuTLS).
 *
 * Entry points (libmigr-internal, transport_int.h): migr__creds_load/get/put(),
 * migr__tls_handshake(), migr__tls_send(), migr__tls_recv(), migr__tls_close().
 *
 * GnuTLS because one API covers both ways of authenticating a pair of dom0s: X.509 with
 * mutual verification and TLS 1.3 with an external pre-shared key (gnutls_psk_*), with
 * (EC)DHE so a leaked key does not open recorded traffic.
 *
 * Every handshake failure is turned into one sentence that says which of three things
 * happened: no credential is configured here; the peer rejected ours (it sent an alert);
 * or the peer's credential is not trusted here (our verification failed). In TLS 1.3 the
 * server verifies the client's certificate after the client has finished its side, so
 * the server confirms with an 8-byte "MIGR-OK\n" record that the client waits for: a
 * rejection reaches migr_connect() rather than the first message.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "libmigr.h"
#include "transport_int.h"

/*
 * TLS 1.3 only; PSK always with (EC)DHE. AES-GCM first: with the default order GnuTLS
 * 3.7 picks ChaCha20 for PSK sessions, at half the speed where the CPU has AES-NI.
 */
#define CIPHERS   ":-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305"
#define PRIO_X509 "NORMAL:-VERS-ALL:+VERS-TLS1.3" CIPHERS
#define PRIO_PSK  "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:+DHE-PSK" CIPHERS
#define CONFIRM   "MIGR-OK\n"
#define CONFIRM_LEN 8
#define TBUF_SIZE (MIGR_IO_BUF + 64 * 1024)

/* ---- credentials -------------------------------------------------------------------- */

struct migr__creds *migr__creds_get(struct migr__creds *creds)
{
	if (creds)
		atomic_fetch_add(&creds->refs, 1);
	return creds;
}

void migr__creds_put(struct migr__creds *creds)
{
	if (!creds || atomic_fetch_sub(&creds->refs, 1) != 1)
		return;
	if (creds->x509)
		gnutls_certificate_free_credentials(creds->x509);
	if (creds->psk_client)
		gnutls_psk_free_client_credentials(creds->psk_client);
	if (creds->psk_server)
		gnutls_psk_free_server_credentials(creds->psk_server);
	gnutls_memset(creds->psk_key, 0, sizeof(creds->psk_key));
	if (creds->psks)
		gnutls_memset(creds->psks, 0, creds->n_psks * sizeof(*creds->psks));
	free(creds->psks);
	for (size_t i = 0; i < creds->n_allow; i++)
		free(creds->allow[i]);
	free(creds->allow);
	free(creds);
}

static int check_readable(const char *what, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;

		migr__set_err(err, errlen, "cannot read %s %s: %s", what, path, strerror(e));
		return -MIGR_E_AUTH;
	}
	close(fd);
	return 0;
}

/* A private key or a pre-shared key file open as fd: refused when group or others may
 * read or write it, as ssh refuses an unprotected private key. */
static int check_private(const char *what, const char *path, int fd, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		migr__set_err(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
		return -MIGR_E_AUTH;
	}
	if (st.st_mode & 077) {
		migr__set_err(err, errlen, "%s %s is accessible by others (mode %04o): it must be "
		              "readable by its owner only (chmod 600 %s)", what, path,
		              (unsigned int)(st.st_mode & 07777), path);
		return -MIGR_E_AUTH;
	}
	return 0;
}

static int check_private_path(const char *what, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		migr__set_err(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
		return -MIGR_E_AUTH;
	}
	rc = check_private(what, path, fd, err, errlen);
	close(fd);
	return rc;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

#define PSK_FILE_MAX  (64 * 1024)
#define PSK_LINES_MAX 1024

/* One line "IDENTITY:HEXKEY" (psktool's format) into e; no is its number, for errors. */
static int parse_psk_line(char *line, unsigned int no, const char *path,
                          struct migr__psk_entry *e, char *err, size_t errlen)
{
	char *colon = strchr(line, ':');
	size_t hexlen, i;

	if (!colon || colon == line) {
		migr__set_err(err, errlen, "pre-shared key file %s line %u: expected IDENTITY:HEXKEY "
		              "(as `psktool -u IDENTITY -p FILE` writes)", path, no);
		return -MIGR_E_AUTH;
	}
	*colon = '\0';
	if ((size_t)(colon - line) >= sizeof(e->identity)) {
		migr__set_err(err, errlen, "pre-shared key file %s line %u: identity longer than %zu "
		              "bytes", path, no, sizeof(e->identity) - 1);
		return -MIGR_E_AUTH;
	}
	for (i = 0; line[i]; i++) {
		if (!isgraph((unsigned char)line[i]) || line[i] == ',') {
			migr__set_err(err, errlen, "pre-shared key file %s line %u: identity has a "
			              "space, comma or control character (expected IDENTITY:HEXKEY)",
			              path, no);
			return -MIGR_E_AUTH;
		}
	}
	memcpy(e->identity, line, (size_t)(colon - line) + 1);
	hexlen = strlen(colon + 1);
	if (hexlen % 2 || hexlen < 32 || hexlen > 2 * sizeof(e->key)) {
		migr__set_err(err, errlen, "pre-shared key file %s line %u: the key must be 16 to %zu "
		              "bytes in hex (%zu hex digits found)", path, no, sizeof(e->key), hexlen);
		return -MIGR_E_AUTH;
	}
	for (i = 0; i < hexlen / 2; i++) {
		int hi = hexval((unsigned char)colon[1 + 2 * i]);
		int lo = hexval((unsigned char)colon[2 + 2 * i]);

		if (hi < 0 || lo < 0) {
			migr__set_err(err, errlen, "pre-shared key file %s line %u: the key is not hex",
			              path, no);
			return -MIGR_E_AUTH;
		}
		e->key[i] = (uint8_t)(hi << 4 | lo);
	}
	e->key_len = hexlen / 2;
	return 0;
}

/* Reads every "IDENTITY:HEXKEY" line of the file into cr->psks. */
static int load_psk(struct migr__creds *cr, const char *path, char *err, size_t errlen)
{
	char *buf = NULL, *line, *next;
	unsigned int no = 0;
	ssize_t n;
	size_t got = 0, i;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		migr__set_err(err, errlen, "cannot read pre-shared key file %s: %s", path, strerror(errno));
		return -MIGR_E_AUTH;
	}
	rc = check_private("pre-shared key file", path, fd, err, errlen);
	if (rc)
		goto out;
	buf = malloc(PSK_FILE_MAX + 1);
	cr->psks = calloc(PSK_LINES_MAX, sizeof(*cr->psks));
	if (!buf || !cr->psks) {
		migr__set_err(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	while (got < PSK_FILE_MAX && (n = read(fd, buf + got, PSK_FILE_MAX - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			migr__set_err(err, errlen, "cannot read pre-shared key file %s: %s", path,
			              strerror(errno));
			rc = -MIGR_E_AUTH;
			goto out;
		}
		got += (size_t)n;
	}
	if (got == PSK_FILE_MAX) {
		migr__set_err(err, errlen, "pre-shared key file %s is larger than %d bytes", path,
		              PSK_FILE_MAX);
		rc = -MIGR_E_AUTH;
		goto out;
	}
	buf[got] = '\0';
	rc = -MIGR_E_AUTH;
	for (line = buf; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		no++;
		line[strcspn(line, "\r")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		if (cr->n_psks == PSK_LINES_MAX) {
			migr__set_err(err, errlen, "pre-shared key file %s: more than %d keys", path,
			              PSK_LINES_MAX);
			goto out;
		}
		if (parse_psk_line(line, no, path, &cr->psks[cr->n_psks], err, errlen))
			goto out;
		for (i = 0; i < cr->n_psks; i++) {
			if (!strcmp(cr->psks[i].identity, cr->psks[cr->n_psks].identity)) {
				migr__set_err(err, errlen, "pre-shared key file %s line %u: identity \"%s\" "
				              "given twice", path, no, cr->psks[i].identity);
				goto out;
			}
		}
		cr->n_psks++;
	}
	if (!cr->n_psks) {
		migr__set_err(err, errlen, "pre-shared key file %s: expected lines IDENTITY:HEXKEY "
		              "(as `psktool -u IDENTITY -p FILE` writes)", path);
		goto out;
	}
	rc = 0;
out:
	if (buf)
		gnutls_memset(buf, 0, PSK_FILE_MAX + 1);
	free(buf);
	close(fd);
	return rc;
}

static const struct migr__psk_entry *find_psk(const struct migr__creds *cr, const char *id)
{
	for (size_t i = 0; i < cr->n_psks; i++)
		if (!strcmp(cr->psks[i].identity, id))
			return &cr->psks[i];
	return NULL;
}

/* The client's identity and key: see struct migr_transport_opts. */
static int choose_psk(struct migr__creds *cr, const struct migr_transport_opts *opts,
                      char *err, size_t errlen)
{
	const struct migr__psk_entry *e;
	char host[128] = "";

	if (opts->psk_identity) {
		snprintf(host, sizeof(host), "%s", opts->psk_identity);
	} else if (gethostname(host, sizeof(host) - 1) < 0) {
		host[0] = '\0';
	}
	e = host[0] ? find_psk(cr, host) : NULL;
	if (!e && !opts->psk_identity && cr->n_psks == 1)
		e = &cr->psks[0];
	if (!e) {
		migr__set_err(err, errlen, "pre-shared key file %s has no key for our identity \"%s\" "
		              "(add a line %s:HEXKEY, or choose the identity)", opts->psk_file, host,
		              host[0] ? host : "IDENTITY");
		return -MIGR_E_AUTH;
	}
	snprintf(cr->psk_identity, sizeof(cr->psk_identity), "%s", e->identity);
	memcpy(cr->psk_key, e->key, e->key_len);
	cr->psk_key_len = e->key_len;
	return 0;
}

/* Parses a comma-separated allow-list into cr->allow. */
static int load_allow(struct migr__creds *cr, const char *list, char *err, size_t errlen)
{
	const char *p = list;

	if (!list || !list[0])
		return 0;
	while (*p) {
		size_t n;
		char **grown;

		p += strspn(p, " ,");
		n = strcspn(p, ",");
		while (n && p[n - 1] == ' ')
			n--;
		if (!n) {
			p += strcspn(p, ",");
			continue;
		}
		if (n >= 128 || cr->n_allow == 256) {
			migr__set_err(err, errlen, "allowed peers: a name longer than 127 bytes or more "
			              "than 256 names");
			return -EINVAL;
		}
		grown = realloc(cr->allow, (cr->n_allow + 1) * sizeof(*grown));
		if (!grown || !(grown[cr->n_allow] = strndup(p, n))) {
			if (grown)
				cr->allow = grown;
			migr__set_err(err, errlen, "out of memory");
			return -ENOMEM;
		}
		cr->allow = grown;
		cr->n_allow++;
		p += strcspn(p, ",");
	}
	return 0;
}

/* The entry of the allow-list that name is, or NULL. */
static const char *allowed(const struct migr__creds *cr, const char *name)
{
	for (size_t i = 0; i < cr->n_allow; i++)
		if (!strcasecmp(cr->allow[i], name))
			return cr->allow[i];
	return NULL;
}

static int psk_server_cb(gnutls_session_t sess, const char *username, gnutls_datum_t *key)
{
	struct migr_conn *c = gnutls_session_get_ptr(sess);
	struct migr__creds *cr = c->creds;
	const struct migr__psk_entry *e;

	snprintf(c->psk_peer_identity, sizeof(c->psk_peer_identity), "%s", username);
	e = find_psk(cr, username);
	if (!e) {
		c->psk_unknown_identity = true;
		return -1;
	}
	if (cr->n_allow && !allowed(cr, username)) {
		c->peer_not_allowed = true;
		snprintf(c->presented, sizeof(c->presented), "pre-shared key identity \"%s\"",
		         username);
		return -1;
	}
	key->data = gnutls_malloc(e->key_len);
	if (!key->data)
		return -1;
	memcpy(key->data, e->key, e->key_len);
	key->size = (unsigned int)e->key_len;
	return 0;
}

static int verify_cb(gnutls_session_t sess);

int migr__creds_load(const struct migr_transport_opts *opts, bool is_server,
                     struct migr__creds **creds_r, char *err, size_t errlen)
{
	bool x509 = opts->ca_file || opts->cert_file || opts->key_file;
	struct migr__creds *cr;
	int rc, n;

	if (!x509 && !opts->psk_file) {
		migr__set_err(err, errlen, "no credential configured: give a CA file, certificate and key, "
		        "or a pre-shared key file (plain TCP needs the explicit insecure option)");
		return -MIGR_E_AUTH;
	}
	if (x509 && opts->psk_file) {
		migr__set_err(err, errlen, "both certificates and a pre-shared key configured: choose one");
		return -MIGR_E_AUTH;
	}
	if (x509 && (!opts->ca_file || !opts->cert_file || !opts->key_file)) {
		migr__set_err(err, errlen, "certificate authentication needs a CA file, a certificate and "
		        "a key; missing: %s%s%s", opts->ca_file ? "" : "CA file ",
		        opts->cert_file ? "" : "certificate ", opts->key_file ? "" : "key");
		return -MIGR_E_AUTH;
	}
	cr = calloc(1, sizeof(*cr));
	if (!cr) {
		migr__set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	atomic_init(&cr->refs, 1);
	cr->is_server = is_server;
	if (is_server) {
		rc = load_allow(cr, opts->allow_peers, err, errlen);
		if (rc)
			goto out_free;
	}
	if (opts->psk_file) {
		cr->kind = MIGR__CRED_PSK;
		rc = load_psk(cr, opts->psk_file, err, errlen);
		if (!rc && !is_server)
			rc = choose_psk(cr, opts, err, errlen);
		if (rc)
			goto out_free;
		snprintf(cr->what, sizeof(cr->what), "pre-shared key %s", opts->psk_file);
		if (is_server) {
			if (gnutls_psk_allocate_server_credentials(&cr->psk_server) < 0)
				goto out_nomem;
			gnutls_psk_set_server_credentials_function(cr->psk_server, psk_server_cb);
		} else {
			gnutls_datum_t key = { cr->psk_key, (unsigned int)cr->psk_key_len };

			if (gnutls_psk_allocate_client_credentials(&cr->psk_client) < 0)
				goto out_nomem;
			rc = gnutls_psk_set_client_credentials(cr->psk_client, cr->psk_identity, &key,
			                                       GNUTLS_PSK_KEY_RAW);
			if (rc < 0) {
				migr__set_err(err, errlen, "pre-shared key %s: %s", opts->psk_file,
				        gnutls_strerror(rc));
				rc = -MIGR_E_AUTH;
				goto out_free;
			}
		}
		*creds_r = cr;
		return 0;
	}

	cr->kind = MIGR__CRED_X509;
	snprintf(cr->what, sizeof(cr->what), "certificate %s", opts->cert_file);
	if ((rc = check_readable("CA file", opts->ca_file, err, errlen)) ||
	    (rc = check_readable("certificate", opts->cert_file, err, errlen)) ||
	    (rc = check_private_path("key", opts->key_file, err, errlen)) ||
	    (opts->crl_file && (rc = check_readable("CRL file", opts->crl_file, err, errlen))))
		goto out_free;
	if (gnutls_certificate_allocate_credentials(&cr->x509) < 0)
		goto out_nomem;
	n = gnutls_certificate_set_x509_trust_file(cr->x509, opts->ca_file, GNUTLS_X509_FMT_PEM);
	if (n <= 0) {
		migr__set_err(err, errlen, "CA file %s: %s", opts->ca_file,
		        n == 0 ? "no certificate in it" : gnutls_strerror(n));
		rc = -MIGR_E_AUTH;
		goto out_free;
	}
	if (opts->crl_file) {
		n = gnutls_certificate_set_x509_crl_file(cr->x509, opts->crl_file,
		                                         GNUTLS_X509_FMT_PEM);
		if (n < 0) {
			migr__set_err(err, errlen, "CRL file %s: %s", opts->crl_file, gnutls_strerror(n));
			rc = -MIGR_E_AUTH;
			goto out_free;
		}
	}
	n = gnutls_certificate_set_x509_key_file(cr->x509, opts->cert_file, opts->key_file,
	                                         GNUTLS_X509_FMT_PEM);
	if (n < 0) {
		migr__set_err(err, errlen, "certificate %s with key %s: %s", opts->cert_file,
		        opts->key_file, gnutls_strerror(n));
		rc = -MIGR_E_AUTH;
		goto out_free;
	}
	gnutls_certificate_set_verify_function(cr->x509, verify_cb);
	*creds_r = cr;
	return 0;

out_nomem:
	migr__set_err(err, errlen, "out of memory");
	rc = -ENOMEM;
out_free:
	migr__creds_put(cr);
	return rc;
}

/* ---- verification ------------------------------------------------------------------- */

struct verify_ctx {
	struct migr_conn *c;
	const char *name;
};

/*
 * The names a certificate carries for the allow-list: its subject CN and its
 * subjectAltName DNS names, each tried with try(); the first try() that returns non-NULL
 * wins. presented gets them all as text, for the log.
 */
static const char *cert_names(gnutls_x509_crt_t crt, const struct migr__creds *cr,
                              char *presented, size_t plen)
{
	const char *hit = NULL;
	char name[256];
	size_t len, used = 0;
	unsigned int i;
	int ret;

	presented[0] = '\0';
	len = sizeof(name);
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, name, &len) >= 0) {
		hit = allowed(cr, name);
		used += (size_t)snprintf(presented + used, plen - used, "CN \"%s\"", name);
	}
	for (i = 0; used < plen; i++) {
		unsigned int critical;

		len = sizeof(name) - 1;
		ret = gnutls_x509_crt_get_subject_alt_name(crt, i, name, &len, &critical);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (ret != GNUTLS_SAN_DNSNAME)
			continue;
		name[len < sizeof(name) ? len : sizeof(name) - 1] = '\0';
		if (!hit)
			hit = allowed(cr, name);
		used += (size_t)snprintf(presented + used, plen - used, "%sDNS \"%s\"",
		                         used ? ", " : "", name);
	}
	if (!presented[0])
		snprintf(presented, plen, "no CN and no DNS name");
	return hit;
}

/*
 * Called by GnuTLS with the peer's certificate chain: verifies it against our CA, the
 * expected name (when there is one) and the purpose (an extended key usage, when the
 * certificate has one, must allow TLS client authentication for a connecting source, TLS
 * server authentication for a target), then the allow-list; remembers why it failed.
 */
static int verify_cb(gnutls_session_t sess)
{
	struct migr_conn *c = gnutls_session_get_ptr(sess);
	const char *name = c->verify_name && c->verify_name[0] ? c->verify_name : NULL;
	gnutls_typed_vdata_st vd[2];
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t crt;
	const char *hit = NULL;
	unsigned int status = 0, nvd = 0, n = 0;
	int rc;

	vd[nvd++] = (gnutls_typed_vdata_st){ .type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (void *)(c->creds->is_server ? GNUTLS_KP_TLS_WWW_CLIENT
		                                     : GNUTLS_KP_TLS_WWW_SERVER) };
	if (name)
		vd[nvd++] = (gnutls_typed_vdata_st){ .type = GNUTLS_DT_DNS_HOSTNAME,
			.data = (void *)name };
	rc = gnutls_certificate_verify_peers(sess, vd, nvd, &status);
	if (rc < 0 || status) {
		c->verify_failed = true;
		c->verify_status = rc < 0 ? GNUTLS_CERT_INVALID : status;
		return GNUTLS_E_CERTIFICATE_ERROR;
	}
	certs = gnutls_certificate_get_peers(sess, &n);
	if (!certs || !n || gnutls_x509_crt_init(&crt) < 0) {
		c->verify_failed = true;
		c->verify_status = GNUTLS_CERT_INVALID;
		return GNUTLS_E_CERTIFICATE_ERROR;
	}
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0)
		hit = cert_names(crt, c->creds, c->presented, sizeof(c->presented));
	gnutls_x509_crt_deinit(crt);
	if (c->creds->n_allow && !hit) {
		c->peer_not_allowed = true;
		return GNUTLS_E_CERTIFICATE_ERROR;
	}
	if (hit)
		snprintf(c->peer_name, sizeof(c->peer_name), "%s", hit);
	return 0;
}

/* ---- transport callbacks ------------------------------------------------------------ */

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct migr_conn *c = p;
	size_t n;

	if (c->rpos == c->rlen) {
		ssize_t r = migr__fd_read_some(c, c->rbuf, MIGR_IO_BUF);

		if (r < 0) {
			c->io_errno = (int)-r;
			gnutls_transport_set_errno(c->sess, (int)-r == EAGAIN ? EIO : (int)-r);
			return -1;
		}
		if (r == 0) {
			c->pull_eof = true;
			return 0;
		}
		c->rpos = 0;
		c->rlen = (size_t)r;
	}
	n = c->rlen - c->rpos < len ? c->rlen - c->rpos : len;
	memcpy(buf, c->rbuf + c->rpos, n);
	c->rpos += n;
	return (ssize_t)n;
}

static int tls_pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
	struct migr_conn *c = p;
	struct pollfd pfd = { .fd = c->rfd, .events = POLLIN };
	int n;

	if (c->rpos < c->rlen)
		return 1;
	n = poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
	return n < 0 ? -1 : n;
}

/* Writes out the records batched in tbuf. */
static int tls_flush_batch(struct migr_conn *c)
{
	struct iovec v = { c->tbuf, c->tlen };
	int rc;

	if (!c->tlen)
		return 0;
	rc = migr__fd_writev_all(c, &v, 1);
	c->tlen = 0;
	return rc;
}

/*
 * GnuTLS hands over one record (<= 16 KiB + overhead) at a time. Inside migr__tls_send()
 * records are collected in tbuf and written MIGR_IO_BUF at a time: one syscall per MiB
 * rather than per record. Outside it (the handshake, alerts, close_notify) they go at
 * once, since the peer's answer may depend on them.
 */
static ssize_t tls_vec_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	struct migr_conn *c = p;
	struct iovec v[64];
	ssize_t total = 0;
	int i, rc, done = 0;

	if (c->tls_batching && c->tbuf) {
		size_t need = 0;

		for (i = 0; i < iovcnt; i++)
			need += iov[i].iov_len;
		if (c->tlen + need > TBUF_SIZE) {
			rc = tls_flush_batch(c);
			if (rc)
				goto fail;
		}
		if (need <= TBUF_SIZE) {
			for (i = 0; i < iovcnt; i++) {
				memcpy(c->tbuf + c->tlen, iov[i].iov_base, iov[i].iov_len);
				c->tlen += iov[i].iov_len;
			}
			return (ssize_t)need;
		}
	}

	while (done < iovcnt) {
		int n = iovcnt - done > 64 ? 64 : iovcnt - done;

		for (i = 0; i < n; i++) {
			v[i].iov_base = iov[done + i].iov_base;
			v[i].iov_len = iov[done + i].iov_len;
			total += (ssize_t)iov[done + i].iov_len;
		}
		rc = migr__fd_writev_all(c, v, n);
		if (rc)
			goto fail;
		done += n;
	}
	return total;
fail:
	c->io_errno = -rc;
	gnutls_transport_set_errno(c->sess, -rc == EAGAIN ? EIO : -rc);
	return -1;
}

/* ---- errors ------------------------------------------------------------------------- */

static bool alert_about_credential(int alert)
{
	switch (alert) {
	case GNUTLS_A_BAD_CERTIFICATE:
	case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
	case GNUTLS_A_CERTIFICATE_REVOKED:
	case GNUTLS_A_CERTIFICATE_EXPIRED:
	case GNUTLS_A_CERTIFICATE_UNKNOWN:
	case GNUTLS_A_UNKNOWN_CA:
	case GNUTLS_A_ACCESS_DENIED:
	case GNUTLS_A_DECRYPT_ERROR:
	case GNUTLS_A_UNKNOWN_PSK_IDENTITY:
	case GNUTLS_A_CERTIFICATE_REQUIRED:
	case GNUTLS_A_ILLEGAL_PARAMETER:
		return true;
	}
	return false;
}

/* Puts the words on a failed TLS operation ret into c->err; returns the error code. */
static int tls_fail(struct migr_conn *c, int ret, const char *when)
{
	bool psk = c->creds->kind == MIGR__CRED_PSK;
	const char *ours = psk ? "pre-shared key" : "certificate";
	int rc;

	c->err_fresh = true;
	if (c->peer_not_allowed)
		return migr__conn_fail(c, -MIGR_E_AUTH, "the peer is not on the allowed peers list "
		                       "(it presented %s)", c->presented);
	if (c->verify_failed) {
		gnutls_datum_t out = { NULL, 0 };

		gnutls_certificate_verification_status_print(c->verify_status,
		                                             GNUTLS_CRT_X509, &out, 0);
		bool name = c->verify_status & GNUTLS_CERT_UNEXPECTED_OWNER;
		bool signer = c->verify_status & GNUTLS_CERT_SIGNER_NOT_FOUND;
		bool purpose = c->verify_status & GNUTLS_CERT_PURPOSE_MISMATCH;

		rc = migr__conn_fail(c, -MIGR_E_AUTH, "the peer's certificate is not trusted: %s%s%s%s%s",
		                     out.data ? (char *)out.data : "verification failed",
		                     signer ? "(is it signed by the CA in our CA file?)" : "",
		                     purpose ? (c->creds->is_server ?
		                                "(its extended key usage lacks TLS client authentication)" :
		                                "(its extended key usage lacks TLS server authentication)") : "",
		                     name ? "(expected name: " : "",
		                     name && c->verify_name ? c->verify_name : "");
		if (name)
			snprintf(c->err + strlen(c->err), sizeof(c->err) - strlen(c->err), ")");
		gnutls_free(out.data);
		return rc;
	}
	if (c->psk_unknown_identity)
		return migr__conn_fail(c, -MIGR_E_AUTH, "the peer's pre-shared key identity \"%s\" is "
		                       "not in our key file: add its line IDENTITY:HEXKEY to it",
		                       c->psk_peer_identity);
	switch (ret) {
	case GNUTLS_E_FATAL_ALERT_RECEIVED: {
		int alert = (int)gnutls_alert_get(c->sess);
		const char *an = gnutls_alert_get_name((gnutls_alert_description_t)alert);

		if (alert == GNUTLS_A_ACCESS_DENIED)
			return migr__conn_fail(c, -MIGR_E_AUTH, "the peer refused us (TLS alert: %s): is "
			                       "this host's name on its allowed peers list?", an ? an : "?");
		if (alert_about_credential(alert))
			return migr__conn_fail(c, -MIGR_E_AUTH, "the peer rejected our %s (TLS alert: "
			                       "%s)%s", ours, an ? an : "?",
			                       psk ? ": the two ends use different keys"
			                           : ": is ours signed by a CA the peer trusts?");
		return migr__conn_fail(c, -MIGR_E_AUTH, "the peer refused the TLS %s (alert: %s): "
		                       "do both ends use the same kind of credential, certificates "
		                       "or a pre-shared key?", when, an ? an : "?");
	}
	case GNUTLS_E_DECRYPTION_FAILED:
	case GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER:
	case GNUTLS_E_KEY_USAGE_VIOLATION:
		if (psk)
			return migr__conn_fail(c, -MIGR_E_AUTH, "the peer's pre-shared key does not "
			                       "match ours (%s)", gnutls_strerror(ret));
		break;
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
	case GNUTLS_E_CERTIFICATE_REQUIRED:
		return migr__conn_fail(c, -MIGR_E_AUTH, "the peer sent no certificate: %s",
		                       psk ? "it uses certificates and we a pre-shared key"
		                           : "is it configured with certificates?");
	case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
	case GNUTLS_E_NO_CIPHER_SUITES:
	case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
	case GNUTLS_E_NO_COMMON_KEY_SHARE:
		return migr__conn_fail(c, -MIGR_E_AUTH, "no common way to authenticate with the peer "
		                       "(%s): do both ends use the same kind of credential, "
		                       "certificates or a pre-shared key?", gnutls_strerror(ret));
	case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
	case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
	case GNUTLS_E_UNEXPECTED_PACKET:
	case GNUTLS_E_UNEXPECTED_HANDSHAKE_PACKET:
		return migr__conn_fail(c, -EPROTO, "the peer does not speak TLS (%s): does it run in "
		                       "insecure mode?", gnutls_strerror(ret));
	case GNUTLS_E_PREMATURE_TERMINATION:
		return migr__conn_fail(c, -ECONNRESET, "the peer closed the connection during the TLS "
		                       "%s (it may have rejected our %s, or run in insecure mode; "
		                       "see its log)", when, ours);
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		if (c->io_errno == ETIMEDOUT)
			return migr__conn_fail(c, -ETIMEDOUT, "TLS %s timed out", when);
		if (c->io_errno)
			return migr__conn_fail(c, -c->io_errno, "TLS %s: %s", when,
			                       strerror(c->io_errno));
		break;
	}
	return migr__conn_fail(c, -EPROTO, "TLS %s failed: %s", when, gnutls_strerror(ret));
}

/* ---- sessions ----------------------------------------------------------------------- */

static void peer_identity(struct migr_conn *c, bool is_server)
{
	const gnutls_datum_t *certs;
	unsigned int n = 0;
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = { NULL, 0 };

	if (c->creds->kind == MIGR__CRED_PSK) {
		/* A client does not learn the server's name: the key is shared, not its own. */
		snprintf(c->peer_id, sizeof(c->peer_id), "psk:%s",
		         is_server ? c->psk_peer_identity : c->creds->psk_identity);
		if (is_server)
			snprintf(c->peer_name, sizeof(c->peer_name), "%s", c->psk_peer_identity);
		return;
	}
	certs = gnutls_certificate_get_peers(c->sess, &n);
	if (!certs || !n || gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) >= 0 &&
	    gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0)
		snprintf(c->peer_id, sizeof(c->peer_id), "%s", (char *)dn.data);
	if (!c->peer_name[0]) {
		size_t len = sizeof(c->peer_name);

		if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
		                                  c->peer_name, &len) < 0)
			c->peer_name[0] = '\0';
	}
	gnutls_free(dn.data);
	gnutls_x509_crt_deinit(crt);
}

static bool is_ip_literal(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

int migr__tls_handshake(struct migr_conn *c, bool is_server, const char *peer_name)
{
	struct migr__creds *cr = c->creds;
	const char *errpos = NULL;
	uint8_t confirm[CONFIRM_LEN];
	uint64_t t0 = migr__now_ns();
	size_t got;
	int ret, rc;

	/* One connection, one full authentication: no session tickets, no resumption. */
	ret = gnutls_init(&c->sess, (is_server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
	                  GNUTLS_NO_SIGNAL | GNUTLS_NO_TICKETS);
	if (ret < 0) {
		c->sess = NULL;
		return migr__conn_fail(c, -ENOMEM, "TLS: %s", gnutls_strerror(ret));
	}
	gnutls_session_set_ptr(c->sess, c);
	ret = gnutls_priority_set_direct(c->sess, cr->kind == MIGR__CRED_PSK ? PRIO_PSK
	                                                                      : PRIO_X509, &errpos);
	if (ret < 0)
		return migr__conn_fail(c, -EINVAL, "TLS priorities: %s", gnutls_strerror(ret));
	if (cr->kind == MIGR__CRED_PSK) {
		ret = gnutls_credentials_set(c->sess, GNUTLS_CRD_PSK,
		                             is_server ? (void *)cr->psk_server
		                                       : (void *)cr->psk_client);
	} else {
		ret = gnutls_credentials_set(c->sess, GNUTLS_CRD_CERTIFICATE, cr->x509);
		if (is_server) {
			gnutls_certificate_server_set_request(c->sess, GNUTLS_CERT_REQUIRE);
			/* Without the CA names in the request, a client whose certificate comes
			 * from another CA still sends it, and the refusal can say why. */
			gnutls_certificate_send_x509_rdn_sequence(c->sess, 1);
		}
		else if (peer_name && peer_name[0] && !is_ip_literal(peer_name))
			gnutls_server_name_set(c->sess, GNUTLS_NAME_DNS, peer_name, strlen(peer_name));
		c->verify_name = peer_name;
	}
	if (ret < 0)
		return migr__conn_fail(c, -EINVAL, "TLS credentials: %s", gnutls_strerror(ret));
	gnutls_transport_set_ptr(c->sess, c);
	gnutls_transport_set_pull_function(c->sess, tls_pull);
	gnutls_transport_set_pull_timeout_function(c->sess, tls_pull_timeout);
	gnutls_transport_set_vec_push_function(c->sess, tls_vec_push);

	c->handshake_deadline_ns = t0 + (uint64_t)c->handshake_timeout_ms * 1000000;
	c->in_handshake = true;
	do
		ret = gnutls_handshake(c->sess);
	while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret < 0) {
		rc = tls_fail(c, ret, "handshake");
		/* GnuTLS leaves telling the peer to us: without an alert it sees only EOF. */
		if (c->peer_not_allowed)
			gnutls_alert_send(c->sess, GNUTLS_AL_FATAL, GNUTLS_A_ACCESS_DENIED);
		else if (c->psk_unknown_identity)
			gnutls_alert_send(c->sess, GNUTLS_AL_FATAL, GNUTLS_A_UNKNOWN_PSK_IDENTITY);
		else if (ret != GNUTLS_E_FATAL_ALERT_RECEIVED &&
		         ret != GNUTLS_E_PREMATURE_TERMINATION &&
		         ret != GNUTLS_E_PUSH_ERROR && ret != GNUTLS_E_PULL_ERROR)
			gnutls_alert_send_appropriate(c->sess, ret);
		goto out;
	}
	/* The confirmation: see the head of this file. */
	if (is_server) {
		rc = migr__tls_send(c, (const uint8_t *)CONFIRM, CONFIRM_LEN);
	} else {
		for (got = 0, rc = 0; got < CONFIRM_LEN && !rc; ) {
			ssize_t n = migr__tls_recv(c, confirm + got, CONFIRM_LEN - got);

			if (n < 0)
				rc = (int)n;
			else if (n == 0)
				rc = migr__conn_fail(c, -ECONNRESET, "the peer closed the connection "
				                     "right after the TLS handshake (it may have rejected "
				                     "our credential; see its log)");
			else
				got += (size_t)n;
		}
		if (!rc && memcmp(confirm, CONFIRM, CONFIRM_LEN))
			rc = migr__conn_fail(c, -MIGR_E_PROTO, "the peer is not a migr receiver (no "
			                     "confirmation after the TLS handshake)");
	}
	if (rc)
		goto out;
	peer_identity(c, is_server);
	c->handshake_ns = migr__now_ns() - t0;
	c->err[0] = '\0';
	c->err_fresh = false;
out:
	c->in_handshake = false;
	c->verify_name = NULL;
	return rc;
}

int migr__tls_send(struct migr_conn *c, const uint8_t *buf, size_t len)
{
	ssize_t n;
	int rc;

	if (!c->tbuf && !c->in_handshake)
		c->tbuf = malloc(TBUF_SIZE);
	c->tls_batching = !c->in_handshake;
	while (len) {
		n = gnutls_record_send(c->sess, buf, len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0) {
			c->tls_batching = false;
			c->tlen = 0;
			return tls_fail(c, (int)n, "send");
		}
		buf += n;
		len -= (size_t)n;
	}
	c->tls_batching = false;
	rc = tls_flush_batch(c);
	if (rc) {
		c->io_errno = -rc;
		return tls_fail(c, GNUTLS_E_PUSH_ERROR, "send");
	}
	return 0;
}

ssize_t migr__tls_recv(struct migr_conn *c, uint8_t *buf, size_t len)
{
	ssize_t n;

	do
		n = gnutls_record_recv(c->sess, buf, len);
	while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	if (n >= 0)
		return n;
	if (n == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	/* A record cut short by the peer hanging up mid-write (a cut link, a killed
	 * sender) is a closed connection, not a peer that does not speak TLS. */
	if (n == GNUTLS_E_UNEXPECTED_PACKET_LENGTH && c->pull_eof && !c->in_handshake)
		return 0;
	return tls_fail(c, (int)n, c->in_handshake ? "handshake" : "receive");
}

void migr__tls_close(struct migr_conn *c)
{
	if (c->sess) {
		if (!c->broken && !c->in_handshake)
			gnutls_bye(c->sess, GNUTLS_SHUT_WR);
		gnutls_deinit(c->sess);
		c->sess = NULL;
	}
	free(c->tbuf);
	c->tbuf = NULL;
	migr__creds_put(c->creds);
	c->creds = NULL;
}

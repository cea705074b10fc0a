/*
 * test_transport.c: the transport over loopback TCP and socketpairs: TLS 1.3 with
 * certificates and with a pre-shared key, every way a credential can be wrong and the
 * words each end reports, insecure mode and its mismatch with TLS, byte-pipe mode,
 * statistics, the bandwidth cap (figure printed, generous bound asserted) and timeouts;
 * the checks of an address and of credentials without a socket.
 * The stream pumps have their own test (test_transport_stream.c).
 *
 * Credentials come from tests/data (tests/data/make-creds.sh makes them); MIGR_TEST_DATA
 * overrides the folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "libmigr.h"
#include "unit.h"

static char data_dir[1024];

static const char *dpath(const char *name)
{
	static char bufs[32][1200];
	static int next;
	char *b = bufs[next++ % 32];

	snprintf(b, sizeof(bufs[0]), "%s/%s", data_dir, name);
	return b;
}

static void x509_opts(struct migr_transport_opts *o, const char *ca, const char *who)
{
	char cert[64], key[64];

	snprintf(cert, sizeof(cert), "%s.pem", who);
	snprintf(key, sizeof(key), "%s-key.pem", who);
	migr_transport_opts_init(o);
	o->ca_file = dpath(ca);
	o->cert_file = dpath(cert);
	o->key_file = dpath(key);
	o->timeout_ms = 5000;
}

static void psk_opts(struct migr_transport_opts *o, const char *file)
{
	migr_transport_opts_init(o);
	o->psk_file = dpath(file);
	o->timeout_ms = 5000;
}

/* One accepted connection, in a thread; with recv, it then waits for a message. */
struct server {
	struct migr_listener *l;
	pthread_t th;
	struct migr_conn *conn;
	int rc;
	bool recv;
	int recv_rc;
	char peer[64];
	char err[MIGR_ERR_MAX];
	char recv_err[MIGR_ERR_MAX];
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct migr_msg m;

	s->rc = migr_accept(s->l, &s->conn, s->peer, s->err, sizeof(s->err));
	if (!s->rc && s->recv) {
		s->recv_rc = migr_msg_recv(s->conn, &m);
		if (!s->recv_rc)
			migr_msg_release(&m);
		snprintf(s->recv_err, sizeof(s->recv_err), "%s", migr_conn_error(s->conn));
		if (s->recv_rc) {
			/* As a receiver does: drop a peer that broke the protocol. */
			migr_conn_close(s->conn);
			s->conn = NULL;
		}
	}
	return NULL;
}

static int start_server(const char *bind, const struct migr_transport_opts *so,
                        struct server *s, bool recv)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->rc = -1;
	s->recv = recv;
	rc = migr_listen(bind, so, &s->l, s->err, sizeof(s->err));
	if (rc) {
		fprintf(stderr, "listen %s: %s\n", bind, s->err);
		return rc;
	}
	pthread_create(&s->th, NULL, server_main, s);
	return 0;
}

static void finish_server(struct server *s)
{
	pthread_join(s->th, NULL);
	migr_listener_close(s->l);
	s->l = NULL;
}

struct pair {
	struct migr_conn *client, *server;
	int crc, src;
	char cerr[MIGR_ERR_MAX], serr[MIGR_ERR_MAX];
};

/* Connects a client with co to a server with so over loopback (host "127.0.0.1",
 * "[::1]"...); both results land in p. */
static int make_pair(const char *host, const struct migr_transport_opts *co,
                     const struct migr_transport_opts *so, struct pair *p)
{
	struct server s;
	char bind[80], target[80];
	int rc;

	memset(p, 0, sizeof(*p));
	snprintf(bind, sizeof(bind), "%s:0", host);
	rc = start_server(bind, so, &s, false);
	if (rc)
		return rc;
	snprintf(target, sizeof(target), "%s:%d", host, migr_listener_port(s.l));
	p->crc = migr_connect(target, co, &p->client, p->cerr, sizeof(p->cerr));
	if (p->crc)
		fprintf(stderr, "  client: %s\n", p->cerr);
	finish_server(&s);
	p->src = s.rc;
	p->server = s.rc ? NULL : s.conn;
	snprintf(p->serr, sizeof(p->serr), "%s", s.err);
	if (p->src)
		fprintf(stderr, "  server: %s\n", p->serr);
	return 0;
}

static void pair_close(struct pair *p)
{
	migr_conn_close(p->client);
	migr_conn_close(p->server);
	p->client = p->server = NULL;
}

/* Sends a message each way and checks it arrives intact. */
static void exchange(struct migr_conn *a, struct migr_conn *b)
{
	char buf[32] = "";

	CHECK_EQ(migr_conn_write(a, "ping from a", 12), 0);
	CHECK_EQ(migr_conn_flush(a), 0);
	CHECK_EQ(migr_conn_read(b, buf, 12), 0);
	CHECK_STR(buf, "ping from a");
	CHECK_EQ(migr_conn_write(b, "pong from b", 12), 0);
	CHECK_EQ(migr_conn_flush(b), 0);
	CHECK_EQ(migr_conn_read(a, buf, 12), 0);
	CHECK_STR(buf, "pong from b");
}

static void test_x509_ok(void)
{
	struct migr_transport_opts co, so;
	struct migr_conn_stats st;
	struct pair p;

	fprintf(stderr, "x509 ok\n");
	x509_opts(&co, "ca.pem", "client");
	x509_opts(&so, "ca.pem", "server");
	CHECK_EQ(make_pair("127.0.0.1", &co, &so, &p), 0);
	CHECK_EQ(p.crc, 0);
	CHECK_EQ(p.src, 0);
	if (p.crc || p.src)
		goto out;
	CHECK_STR(migr_conn_security(p.client), "TLS1.3 X.509");
	CHECK(strstr(migr_conn_peer_identity(p.client), "migr test target") != NULL);
	CHECK(strstr(migr_conn_peer_identity(p.server), "migr test source") != NULL);
	CHECK_EQ(migr_conn_write(p.client, "hello target", 12), 0);
	CHECK_EQ(migr_conn_flush(p.client), 0);
	{
		char buf[16] = "";

		CHECK_EQ(migr_conn_read(p.server, buf, 12), 0);
		CHECK_STR(buf, "hello target");
		CHECK_EQ(migr_conn_write(p.server, "hello source", 12), 0);
		CHECK_EQ(migr_conn_flush(p.server), 0);
		memset(buf, 0, sizeof(buf));
		CHECK_EQ(migr_conn_read(p.client, buf, 12), 0);
		CHECK_STR(buf, "hello source");
	}
	migr_conn_stats(p.client, &st);
	CHECK_EQ(st.bytes_out, 12);
	CHECK_EQ(st.bytes_in, 12);
	CHECK(st.wire_out > 12);           /* TLS records and the handshake */
	CHECK(st.handshake_ns > 0);
	migr_conn_stats(p.server, &st);
	CHECK_EQ(st.bytes_in, 12);
	CHECK_EQ(st.bytes_out, 12);
out:
	pair_close(&p);
}

static void test_x509_names(void)
{
	struct migr_transport_opts co, so;
	struct pair p;

	fprintf(stderr, "x509 peer names\n");
	x509_opts(&so, "ca.pem", "server");
	/* The expected name defaults to the host connected to: 127.0.0.1 is in the SAN. */
	x509_opts(&co, "ca.pem", "client");
	co.peer_name = "localhost";
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.crc, 0);
	CHECK_EQ(p.src, 0);
	pair_close(&p);

	co.peer_name = "target.example.org";
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.crc, -MIGR_E_AUTH);
	CHECK(strstr(p.cerr, "peer's certificate is not trusted") != NULL);
	CHECK(strstr(p.cerr, "(expected name: target.example.org)") != NULL);
	CHECK(p.src != 0);
	pair_close(&p);

	/* The target can pin the source's name too. */
	co.peer_name = NULL;
	so.peer_name = "source.example.org";
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.src, -MIGR_E_AUTH);
	CHECK(strstr(p.serr, "peer's certificate is not trusted") != NULL);
	CHECK_EQ(p.crc, -MIGR_E_AUTH);
	CHECK(strstr(p.cerr, "the peer rejected our certificate") != NULL);
	pair_close(&p);
}

static void test_x509_wrong_ca(void)
{
	struct migr_transport_opts co, so;
	struct pair p;

	fprintf(stderr, "x509: client certificate from a CA the target does not trust\n");
	x509_opts(&co, "ca.pem", "other-client");
	x509_opts(&so, "ca.pem", "server");
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.src, -MIGR_E_AUTH);
	CHECK(strstr(p.serr, "the peer's certificate is not trusted") != NULL);
	CHECK(strstr(p.serr, "127.0.0.1:") == p.serr);    /* the peer's address first */
	CHECK_EQ(p.crc, -MIGR_E_AUTH);
	CHECK(strstr(p.cerr, "the peer rejected our certificate") != NULL);
	pair_close(&p);

	fprintf(stderr, "x509: source trusts another CA than the target's\n");
	x509_opts(&co, "other-ca.pem", "client");
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.crc, -MIGR_E_AUTH);
	CHECK(strstr(p.cerr, "the peer's certificate is not trusted") != NULL);
	CHECK(strstr(p.cerr, "signed by the CA") != NULL);
	CHECK(p.src != 0);
	CHECK(strstr(p.serr, "rejected our certificate") != NULL);
	pair_close(&p);
}

static void test_psk(void)
{
	struct migr_transport_opts co, so;
	struct pair p;

	fprintf(stderr, "psk ok\n");
	psk_opts(&co, "psk.key");
	psk_opts(&so, "psk.key");
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.crc, 0);
	CHECK_EQ(p.src, 0);
	if (!p.crc && !p.src) {
		CHECK_STR(migr_conn_security(p.client), "TLS1.3 PSK");
		CHECK_STR(migr_conn_peer_identity(p.server), "psk:migr-test");
		exchange(p.client, p.server);
	}
	pair_close(&p);

	fprintf(stderr, "psk: different keys\n");
	psk_opts(&co, "psk-wrong.key");
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.src, -MIGR_E_AUTH);
	CHECK(strstr(p.serr, "pre-shared key does not match ours") != NULL);
	CHECK_EQ(p.crc, -MIGR_E_AUTH);
	CHECK(strstr(p.cerr, "the peer rejected our pre-shared key") != NULL);
	pair_close(&p);

	fprintf(stderr, "psk: different identities\n");
	psk_opts(&co, "psk-otherid.key");
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.src, -MIGR_E_AUTH);
	CHECK(strstr(p.serr, "identity \"someone-else\" is not in our key file") != NULL);
	CHECK_EQ(p.crc, -MIGR_E_AUTH);
	CHECK(strstr(p.cerr, "the peer rejected our pre-shared key") != NULL);
	CHECK(p.client == NULL);
	pair_close(&p);

	fprintf(stderr, "psk client against a certificate target\n");
	psk_opts(&co, "psk.key");
	x509_opts(&so, "ca.pem", "server");
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK(p.crc != 0);
	CHECK(p.src != 0);
	CHECK(strstr(p.serr, "same kind of credential") || strstr(p.cerr, "same kind of credential"));
	pair_close(&p);
}

static void test_credentials_missing(void)
{
	struct migr_transport_opts o;
	struct migr_listener *l = NULL;
	struct migr_conn *c = NULL;
	char err[MIGR_ERR_MAX];

	fprintf(stderr, "credential errors\n");
	migr_transport_opts_init(&o);
	CHECK_EQ(migr_listen("127.0.0.1:0", &o, &l, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "no credential configured") != NULL);
	CHECK(l == NULL);
	CHECK_EQ(migr_connect("127.0.0.1:1", &o, &c, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "no credential configured") != NULL);
	CHECK(c == NULL);

	x509_opts(&o, "ca.pem", "client");
	o.key_file = NULL;
	CHECK_EQ(migr_connect("127.0.0.1:1", &o, &c, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "missing: key") != NULL);

	x509_opts(&o, "no-such-ca.pem", "client");
	CHECK_EQ(migr_connect("127.0.0.1:1", &o, &c, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "cannot read CA file") != NULL);
	CHECK(strstr(err, "No such file") != NULL);

	x509_opts(&o, "ca.pem", "client");
	o.key_file = dpath("server-key.pem");     /* not the certificate's key */
	CHECK_EQ(migr_connect("127.0.0.1:1", &o, &c, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "with key") != NULL);

	psk_opts(&o, "psk-short.key");
	CHECK_EQ(migr_connect("127.0.0.1:1", &o, &c, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "16 to 64 bytes") != NULL);

	psk_opts(&o, "ca-key.pem");               /* not a pre-shared key file at all */
	CHECK_EQ(migr_connect("127.0.0.1:1", &o, &c, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "IDENTITY:HEXKEY") != NULL);

	x509_opts(&o, "ca.pem", "client");
	o.psk_file = dpath("psk.key");
	CHECK_EQ(migr_connect("127.0.0.1:1", &o, &c, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "choose one") != NULL);
}

/* The checks without a socket: what migr_listen() and migr_connect() would say. */
static void test_check(void)
{
	struct migr_transport_opts o;
	char err[MIGR_ERR_MAX];

	CHECK_EQ(migr_hostport_check(":8002", err, sizeof(err)), 0);
	CHECK_EQ(migr_hostport_check("[::1]:9", err, sizeof(err)), 0);
	CHECK_EQ(migr_hostport_check("host:99999", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "bad port") != NULL);
	CHECK_EQ(migr_hostport_check("[::1", err, sizeof(err)), -EINVAL);

	x509_opts(&o, "ca.pem", "server");
	CHECK_EQ(migr_transport_check(&o, true, err, sizeof(err)), 0);
	o.key_file = dpath("no-such-key.pem");
	CHECK_EQ(migr_transport_check(&o, true, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "no-such-key.pem") != NULL);
	o.insecure = true;                       /* nothing to load */
	CHECK_EQ(migr_transport_check(&o, true, err, sizeof(err)), 0);

	psk_opts(&o, "psk.key");
	CHECK_EQ(migr_transport_check(&o, true, err, sizeof(err)), 0);
	CHECK_EQ(migr_transport_check(&o, false, err, sizeof(err)), 0);
	o.psk_identity = "nobody";               /* a client needs its own identity's line */
	CHECK_EQ(migr_transport_check(&o, false, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "nobody") != NULL);
	chmod(dpath("psk.key"), 0640);
	CHECK_EQ(migr_transport_check(&o, true, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "mode 0640") != NULL);
	chmod(dpath("psk.key"), 0600);
}

static void test_insecure(void)
{
	struct migr_transport_opts co, so;
	struct migr_msg m;
	struct server s;
	struct pair p;
	char target[64];

	fprintf(stderr, "insecure\n");
	migr_transport_opts_init(&co);
	co.insecure = true;
	so = co;
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.crc, 0);
	CHECK_EQ(p.src, 0);
	if (!p.crc && !p.src) {
		CHECK_STR(migr_conn_security(p.client), "insecure TCP");
		exchange(p.client, p.server);
	}
	pair_close(&p);

	fprintf(stderr, "insecure target, TLS source\n");
	psk_opts(&co, "psk.key");
	CHECK_EQ(start_server("127.0.0.1:0", &so, &s, true), 0);
	snprintf(target, sizeof(target), "127.0.0.1:%d", migr_listener_port(s.l));
	p.crc = migr_connect(target, &co, &p.client, p.cerr, sizeof(p.cerr));
	finish_server(&s);
	CHECK_EQ(s.rc, 0);
	CHECK_EQ(s.recv_rc, -MIGR_E_PROTO);
	CHECK(strstr(s.recv_err, "speaks TLS but this end runs in insecure mode") != NULL);
	CHECK(p.crc != 0);
	CHECK(strstr(p.cerr, "closed the connection during the TLS handshake") != NULL);
	fprintf(stderr, "  server: %s\n  client: %s\n", s.recv_err, p.cerr);
	migr_conn_close(s.conn);

	fprintf(stderr, "TLS target, insecure source\n");
	psk_opts(&so, "psk.key");
	migr_transport_opts_init(&co);
	co.insecure = true;
	CHECK_EQ(start_server("127.0.0.1:0", &so, &s, false), 0);
	snprintf(target, sizeof(target), "127.0.0.1:%d", migr_listener_port(s.l));
	p.crc = migr_connect(target, &co, &p.client, p.cerr, sizeof(p.cerr));
	CHECK_EQ(p.crc, 0);
	if (!p.crc) {
		struct migr_id id;

		migr_msg_init(&m, MIGR_MSG_HELLO);
		m.hello.version = m.hello.min_version = 1;
		m.hello.purpose = MIGR_PURPOSE_MIGRATE;
		migr_id_new(&id);
		m.hello.id = id;
		CHECK_EQ(migr_msg_send(p.client, &m), 0);
	}
	finish_server(&s);
	CHECK(s.rc != 0);
	CHECK(strstr(s.err, "does not speak TLS") != NULL);
	fprintf(stderr, "  server: %s\n", s.err);
	if (!p.crc) {
		CHECK(migr_msg_recv(p.client, &m) != 0);
		CHECK(strstr(migr_conn_error(p.client), "does it require TLS?") != NULL);
		fprintf(stderr, "  client: %s\n", migr_conn_error(p.client));
	}
	migr_conn_close(p.client);
}

struct trickle {
	int port;
	atomic_bool stop;
	pthread_t th;
};

/* A client that sends its ClientHello a byte every 50 ms, for up to 20 s. */
static void *trickle_main(void *arg)
{
	struct trickle *t = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(t->port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* A TLS record header announcing a 512-byte handshake message, then its body slowly. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, "\x16\x03\x01\x02\x00", 5) == 5) {
		for (int i = 0; i < 400 && !atomic_load(&t->stop); i++) {
			if (write(fd, "\x01", 1) != 1)
				break;
			usleep(50000);
		}
	}
	close(fd);
	return NULL;
}

static void test_slow_handshake(void)
{
	struct migr_transport_opts so;
	struct trickle t = { 0 };
	struct server s;

	fprintf(stderr, "a client trickling its handshake\n");
	x509_opts(&so, "ca.pem", "server");
	so.timeout_ms = 500;
	CHECK_EQ(start_server("127.0.0.1:0", &so, &s, false), 0);
	t.port = migr_listener_port(s.l);
	pthread_create(&t.th, NULL, trickle_main, &t);
	finish_server(&s);
	atomic_store(&t.stop, true);
	pthread_join(t.th, NULL);
	/* The deadline, not the trickle's end (20 s later), ended it. */
	CHECK_EQ(s.rc, -ETIMEDOUT);
	CHECK(strstr(s.err, "TLS handshake timed out") != NULL);
	fprintf(stderr, "  server: %s\n", s.err);
}

struct client {
	pthread_t th;
	char target[80];
	struct migr_transport_opts opts;
	struct migr_conn *conn;
	int rc;
	char err[MIGR_ERR_MAX];
};

static void *client_main(void *arg)
{
	struct client *k = arg;

	k->rc = migr_connect(k->target, &k->opts, &k->conn, k->err, sizeof(k->err));
	return NULL;
}

/*
 * The two halves of migr_accept, as migrd uses them: a peer that connects and then says
 * nothing holds up only its own handshake; the next connection is accepted and
 * authenticated meanwhile, even after the listener is closed; the silent one is dropped.
 */
static void test_pending(void)
{
	struct migr_transport_opts so;
	struct migr_listener *l = NULL;
	struct migr_pending *silent = NULL, *real = NULL;
	struct migr_conn *server = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct client k = { .rc = -1 };
	char err[MIGR_ERR_MAX] = "", peer[64] = "";
	int fd;

	fprintf(stderr, "accept now, authenticate later\n");
	psk_opts(&so, "psk.key");
	so.timeout_ms = 2000;
	CHECK_EQ(migr_listen("127.0.0.1:0", &so, &l, err, sizeof(err)), 0);
	if (!l)
		return;
	sa.sin_port = htons((uint16_t)migr_listener_port(l));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(migr_accept_pending(l, &silent, peer, err, sizeof(err)), 0);
	CHECK(!strncmp(peer, "127.0.0.1:", 10));

	psk_opts(&k.opts, "psk.key");
	snprintf(k.target, sizeof(k.target), "127.0.0.1:%d", migr_listener_port(l));
	pthread_create(&k.th, NULL, client_main, &k);
	CHECK_EQ(migr_accept_pending(l, &real, NULL, err, sizeof(err)), 0);
	migr_listener_close(l);
	CHECK_EQ(migr_pending_handshake(real, &server, err, sizeof(err)), 0);
	pthread_join(k.th, NULL);
	CHECK_EQ(k.rc, 0);
	if (server && !k.rc) {
		CHECK_STR(migr_conn_peer_identity(server), "psk:migr-test");
		exchange(k.conn, server);
	}
	migr_conn_close(server);
	migr_conn_close(k.conn);
	/* the silent peer sees its connection closed */
	migr_pending_free(silent);
	{
		char b;
		CHECK_EQ(read(fd, &b, 1), 0);
	}
	close(fd);
}

static void test_addresses(void)
{
	struct migr_transport_opts co, so;
	struct migr_listener *l = NULL;
	struct migr_conn *c = NULL;
	char err[MIGR_ERR_MAX], target[64];
	struct pair p;
	int rc, fd;

	fprintf(stderr, "addresses\n");
	x509_opts(&co, "ca.pem", "client");
	x509_opts(&so, "ca.pem", "server");
	/* IPv6 loopback: the certificate carries ::1. */
	rc = migr_listen("[::1]:0", &so, &l, err, sizeof(err));
	if (rc) {
		printf("IPv6 loopback not available here (%s): IPv6 not tested\n", err);
	} else {
		migr_listener_close(l);
		make_pair("[::1]", &co, &so, &p);
		CHECK_EQ(p.crc, 0);
		CHECK_EQ(p.src, 0);
		if (!p.crc && !p.src)
			exchange(p.client, p.server);
		pair_close(&p);
	}
	/* Every address (dual stack), reached over IPv4. */
	{
		struct server s;

		CHECK_EQ(start_server(":0", &so, &s, false), 0);
		snprintf(target, sizeof(target), "127.0.0.1:%d", migr_listener_port(s.l));
		CHECK_EQ(migr_connect(target, &co, &c, err, sizeof(err)), 0);
		finish_server(&s);
		CHECK_EQ(s.rc, 0);
		CHECK(strncmp(s.peer, "127.0.0.1:", 10) == 0);
		migr_conn_close(c);
		migr_conn_close(s.conn);
		c = NULL;
	}
	/* Nobody listening. */
	{
		struct migr_listener *l2;

		CHECK_EQ(migr_listen("127.0.0.1:0", &so, &l2, err, sizeof(err)), 0);
		snprintf(target, sizeof(target), "127.0.0.1:%d", migr_listener_port(l2));
		migr_listener_close(l2);
		CHECK_EQ(migr_connect(target, &co, &c, err, sizeof(err)), -ECONNREFUSED);
		CHECK(strstr(err, "cannot connect to 127.0.0.1 port") != NULL);
	}
	/* A listener that never accepts: the handshake times out. */
	{
		struct migr_listener *l2;

		CHECK_EQ(migr_listen("127.0.0.1:0", &so, &l2, err, sizeof(err)), 0);
		snprintf(target, sizeof(target), "127.0.0.1:%d", migr_listener_port(l2));
		co.timeout_ms = 300;
		CHECK_EQ(migr_connect(target, &co, &c, err, sizeof(err)), -ETIMEDOUT);
		CHECK(strstr(err, "timed out") != NULL);
		co.timeout_ms = 5000;
		migr_listener_close(l2);
	}
	/* Address syntax. */
	CHECK_EQ(migr_connect("[::1", &co, &c, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "missing ]") != NULL);
	CHECK_EQ(migr_connect("host:99999", &co, &c, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "bad port") != NULL);
	CHECK_EQ(migr_connect("host:", &co, &c, err, sizeof(err)), -EINVAL);
	CHECK_EQ(migr_connect("", &co, &c, err, sizeof(err)), -EINVAL);
	/* The default port, when none is given. */
	rc = migr_listen("127.0.0.1", &so, &l, err, sizeof(err));
	if (rc == 0) {
		CHECK_EQ(migr_listener_port(l), MIGR_DEFAULT_PORT);
		migr_listener_close(l);
	} else {
		printf("port %d busy here (%s): default port not tested\n", MIGR_DEFAULT_PORT, err);
	}
	/* A connected socket from elsewhere (socket activation), insecure. */
	{
		struct migr_transport_opts o;
		int sv[2];

		migr_transport_opts_init(&o);
		o.insecure = true;
		socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
		CHECK_EQ(migr_conn_from_socket(sv[0], false, &o, &c, err, sizeof(err)), 0);
		CHECK_EQ(migr_conn_from_socket(sv[1], true, &o, &p.server, err, sizeof(err)), 0);
		exchange(c, p.server);
		migr_conn_close(c);
		migr_conn_close(p.server);
		/* Without credentials the socket is closed and nothing leaks. */
		migr_transport_opts_init(&o);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		CHECK_EQ(migr_conn_from_socket(fd, true, &o, &c, err, sizeof(err)), -MIGR_E_AUTH);
		CHECK(fcntl(fd, F_GETFD) < 0);
	}
}

static bool have(const char *name)
{
	return access(dpath(name), R_OK) == 0;
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[4096];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ssize_t n;

	CHECK(in >= 0 && out >= 0);
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		CHECK_EQ(write(out, buf, n), n);
	fchmod(out, mode);
	close(in);
	close(out);
}

/*
 * Pinned peers: the target's allow-list (certificate CN or DNS name, PSK identity), the
 * extended key usage each side needs, key files others can read, one PSK per peer.
 */
static void test_pinning(void)
{
	struct migr_transport_opts co, so;
	struct migr_listener *l = NULL;
	struct migr_conn *c = NULL;
	char err[MIGR_ERR_MAX], loose[1200], one[1200];
	struct pair p;

	fprintf(stderr, "pinned peers: allow-list\n");
	x509_opts(&co, "ca.pem", "client");
	x509_opts(&so, "ca.pem", "server");
	so.allow_peers = "source.example.org, migr test source";
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.crc, 0);
	CHECK_EQ(p.src, 0);
	if (p.server)
		CHECK_STR(migr_conn_peer_name(p.server), "migr test source");
	pair_close(&p);
	so.allow_peers = "LOCALHOST";                     /* a subjectAltName DNS name */
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.src, 0);
	if (p.server)
		CHECK_STR(migr_conn_peer_name(p.server), "LOCALHOST");
	pair_close(&p);
	so.allow_peers = "source.example.org,other";
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.src, -MIGR_E_AUTH);
	CHECK(strstr(p.serr, "not on the allowed peers list") != NULL);
	CHECK(strstr(p.serr, "CN \"migr test source\", DNS \"localhost\"") != NULL);
	CHECK_EQ(p.crc, -MIGR_E_AUTH);
	CHECK(strstr(p.cerr, "is this host's name on its allowed peers list?") != NULL);
	pair_close(&p);
	so.allow_peers = NULL;

	if (have("serveronly-client.pem")) {
		fprintf(stderr, "pinned peers: extended key usage\n");
		x509_opts(&co, "ca.pem", "serveronly-client");
		make_pair("127.0.0.1", &co, &so, &p);
		CHECK_EQ(p.src, -MIGR_E_AUTH);
		CHECK(strstr(p.serr, "lacks TLS client authentication") != NULL);
		CHECK_EQ(p.crc, -MIGR_E_AUTH);
		pair_close(&p);
		x509_opts(&co, "ca.pem", "noeku-client");    /* no extension: any purpose */
		make_pair("127.0.0.1", &co, &so, &p);
		CHECK_EQ(p.crc, 0);
		CHECK_EQ(p.src, 0);
		pair_close(&p);
		x509_opts(&co, "ca.pem", "client");
		x509_opts(&so, "ca.pem", "clientonly-server");
		make_pair("127.0.0.1", &co, &so, &p);
		CHECK_EQ(p.crc, -MIGR_E_AUTH);
		CHECK(strstr(p.cerr, "lacks TLS server authentication") != NULL);
		CHECK(p.src != 0);
		pair_close(&p);
		x509_opts(&so, "ca.pem", "server");
	} else {
		printf("no generated credentials (certtool missing?): extended key usage not tested\n");
	}

	fprintf(stderr, "pinned peers: key files others can read\n");
	snprintf(loose, sizeof(loose), "%s", dpath("loose-key.pem"));
	copy_file(dpath("client-key.pem"), loose, 0644);
	co.key_file = loose;
	CHECK_EQ(migr_connect("127.0.0.1:1", &co, &c, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "mode 0644") != NULL);
	CHECK(strstr(err, "chmod 600") != NULL);
	snprintf(loose, sizeof(loose), "%s", dpath("loose.key"));
	copy_file(dpath("psk.key"), loose, 0640);
	psk_opts(&so, "psk.key");
	so.psk_file = loose;
	CHECK_EQ(migr_listen("127.0.0.1:0", &so, &l, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "mode 0640") != NULL);
	CHECK(l == NULL);

	if (!have("psk-peers.key")) {
		printf("no generated credentials: per-peer pre-shared keys not tested\n");
		return;
	}
	fprintf(stderr, "pinned peers: one pre-shared key per peer\n");
	psk_opts(&so, "psk-peers.key");
	psk_opts(&co, "psk-peers.key");
	co.psk_identity = "source-b";
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.crc, 0);
	CHECK_EQ(p.src, 0);
	if (p.server) {
		CHECK_STR(migr_conn_peer_identity(p.server), "psk:source-b");
		CHECK_STR(migr_conn_peer_name(p.server), "source-b");
		exchange(p.client, p.server);
	}
	pair_close(&p);
	/* A source's own file holds its line only, and it need not name itself. */
	{
		FILE *in = fopen(dpath("psk-peers.key"), "r");
		char line[256] = "";

		CHECK(in && fgets(line, sizeof(line), in));
		if (in)
			fclose(in);
		snprintf(one, sizeof(one), "%s", dpath("psk-a.key"));
		copy_file("/dev/null", one, 0600);
		in = fopen(one, "w");
		CHECK(in != NULL);
		if (in) {
			fprintf(in, "# the key this host shares\n\n%s", line);
			fclose(in);
		}
		psk_opts(&co, "psk.key");
		co.psk_file = one;
		make_pair("127.0.0.1", &co, &so, &p);
		CHECK_EQ(p.crc, 0);
		if (p.server)
			CHECK_STR(migr_conn_peer_name(p.server), "source-a");
		pair_close(&p);
	}
	/* Only source-a allowed: source-b authenticates but is refused. */
	so.allow_peers = "source-a";
	psk_opts(&co, "psk-peers.key");
	co.psk_identity = "source-b";
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.src, -MIGR_E_AUTH);
	CHECK(strstr(p.serr, "not on the allowed peers list (it presented pre-shared key identity "
	             "\"source-b\")") != NULL);
	CHECK_EQ(p.crc, -MIGR_E_AUTH);
	pair_close(&p);
	so.allow_peers = NULL;
	/* An identity with no key in our own file, and one the target does not know. */
	co.psk_identity = "source-c";
	CHECK_EQ(migr_connect("127.0.0.1:1", &co, &c, err, sizeof(err)), -MIGR_E_AUTH);
	CHECK(strstr(err, "no key for our identity \"source-c\"") != NULL);
	psk_opts(&co, "psk.key");
	make_pair("127.0.0.1", &co, &so, &p);
	CHECK_EQ(p.src, -MIGR_E_AUTH);
	CHECK(strstr(p.serr, "identity \"migr-test\" is not in our key file") != NULL);
	pair_close(&p);
}

struct admission {
	struct migr_listener *l;
	struct migr_admit *a;
	atomic_bool stop;
	pthread_t th;
	pthread_mutex_t lock;
	struct migr_conn *admitted;
	uint64_t admitted_ns;
	char admitted_peer[64];
	unsigned int refused, refused_local1, suppressed;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void on_admitted(struct migr_conn *c, const char *peer, void *arg)
{
	struct admission *x = arg;

	pthread_mutex_lock(&x->lock);
	if (x->admitted)
		migr_conn_close(c);
	else {
		x->admitted = c;
		x->admitted_ns = now_ns();
		snprintf(x->admitted_peer, sizeof(x->admitted_peer), "%s", peer);
	}
	pthread_mutex_unlock(&x->lock);
}

static void on_refused(const char *peer, int rc, const char *why, unsigned int suppressed,
                       void *arg)
{
	struct admission *x = arg;

	pthread_mutex_lock(&x->lock);
	x->refused++;
	if (!strncmp(peer, "127.0.0.1:", 10))
		x->refused_local1++;
	x->suppressed += suppressed;
	pthread_mutex_unlock(&x->lock);
	fprintf(stderr, "  refused %s: %s (%s), %u not reported since\n", peer, why,
	        migr_strerror(rc), suppressed);
}

/* The daemon's main loop, reduced to the listener. */
static void *admission_loop(void *arg)
{
	struct admission *x = arg;
	struct pollfd pfd = { .fd = migr_listener_fd(x->l), .events = POLLIN };

	while (!atomic_load(&x->stop))
		if (poll(&pfd, 1, 20) > 0)
			migr_admit_accept(x->a);
	return NULL;
}

/* Connects a TCP socket from address src to 127.0.0.1:port; -1 on failure. */
static int connect_from(const char *src, int port)
{
	struct sockaddr_in from = { .sin_family = AF_INET }, to = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, src, &from.sin_addr);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons((uint16_t)port);
	if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * Admission: 16 idle connections from one address hold at most its per-address share of
 * the handshake pool, and an authenticated connection from elsewhere is admitted at once,
 * well within the handshake deadline; the idle ones are cut at the deadline, and the
 * refusals of one address are reported once per interval.
 */
static void test_admission(void)
{
	struct migr_admit_opts ao = { .threads = 3, .per_addr = 2, .queue = 8,
		.handshake_ms = 1500, .log_interval_s = 60, .admitted = on_admitted,
		.refused = on_refused };
	struct migr_transport_opts so, co;
	struct admission x = { 0 };
	struct migr_conn *c = NULL;
	char err[MIGR_ERR_MAX] = "";
	int idle[16], fd, n_idle = 0;
	uint64_t t0, waited_ms;

	fprintf(stderr, "admission: idle connections do not delay an authenticated one\n");
	psk_opts(&so, "psk.key");
	psk_opts(&co, "psk.key");
	pthread_mutex_init(&x.lock, NULL);
	ao.arg = &x;
	CHECK_EQ(migr_listen("127.0.0.1:0", &so, &x.l, err, sizeof(err)), 0);
	if (!x.l)
		return;
	CHECK_EQ(migr_admit_start(x.l, &ao, &x.a), 0);
	pthread_create(&x.th, NULL, admission_loop, &x);
	for (int i = 0; i < 16; i++) {
		idle[i] = connect_from("127.0.0.1", migr_listener_port(x.l));
		n_idle += idle[i] >= 0;
	}
	CHECK_EQ(n_idle, 16);
	usleep(200000);                       /* all accepted: two held, fourteen refused */
	fd = connect_from("127.0.0.2", migr_listener_port(x.l));
	if (fd < 0) {
		printf("cannot connect from 127.0.0.2 here: admission not tested\n");
		goto out;
	}
	t0 = now_ns();
	CHECK_EQ(migr_conn_from_socket(fd, false, &co, &c, err, sizeof(err)), 0);
	for (int i = 0; i < 100 && !x.admitted; i++)
		usleep(10000);
	pthread_mutex_lock(&x.lock);
	CHECK(x.admitted != NULL);
	waited_ms = x.admitted ? (x.admitted_ns - t0) / 1000000 : 9999;
	CHECK(!strncmp(x.admitted_peer, "127.0.0.2:", 10));
	pthread_mutex_unlock(&x.lock);
	fprintf(stderr, "  admitted after %llu ms (handshake deadline %u ms)\n",
	        (unsigned long long)waited_ms, ao.handshake_ms);
	CHECK(waited_ms < ao.handshake_ms);
	if (x.admitted && c)
		exchange(c, x.admitted);
	/* The two idle ones that got a handshake thread are cut at the deadline. */
	usleep((ao.handshake_ms + 300) * 1000);
	pthread_mutex_lock(&x.lock);
	CHECK_EQ(x.refused_local1, 1);       /* sixteen refusals, one report */
	CHECK_EQ(x.refused, 1);
	pthread_mutex_unlock(&x.lock);
	for (int i = 0; i < 16; i++) {
		char b;

		if (idle[i] >= 0)
			CHECK(read(idle[i], &b, 1) <= 0);   /* every idle one closed */
	}
out:
	atomic_store(&x.stop, true);
	pthread_join(x.th, NULL);
	migr_admit_stop(x.a);
	for (int i = 0; i < 16; i++)
		if (idle[i] >= 0)
			close(idle[i]);
	migr_conn_close(c);
	migr_conn_close(x.admitted);
	migr_listener_close(x.l);
}

/* Makes the credentials into a fresh folder (tests/data/make-creds.sh); without certtool,
 * uses tests/data with its key files made private. */
static void setup_data(void)
{
	static const char *keys[] = { "ca-key.pem", "client-key.pem", "server-key.pem",
		"other-ca-key.pem", "other-client-key.pem", "psk.key", "psk-wrong.key",
		"psk-otherid.key", "psk-short.key" };
	const char *d = getenv("MIGR_TEST_DATA");
	char cmd[1200];

	if (!d) {
		snprintf(data_dir, sizeof(data_dir), "/tmp/migr-test-creds-XXXXXX");
		if (mkdtemp(data_dir)) {
			snprintf(cmd, sizeof(cmd), "sh tests/data/make-creds.sh %s", data_dir);
			if (system(cmd) == 0)
				return;
		}
		printf("cannot make credentials (certtool?): using tests/data\n");
	}
	snprintf(data_dir, sizeof(data_dir), "%s", d ? d : "tests/data");
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		chmod(dpath(keys[i]), 0600);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setup_data();
	test_x509_ok();
	test_x509_names();
	test_x509_wrong_ca();
	test_psk();
	test_credentials_missing();
	test_check();
	test_insecure();
	test_addresses();
	test_slow_handshake();
	test_pending();
	test_pinning();
	test_admission();
	if (!getenv("MIGR_TEST_DATA") && !strncmp(data_dir, "/tmp/migr-test-creds-", 21)) {
		char cmd[1200];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", data_dir);
		if (system(cmd)) {
			/* a leftover temporary folder: harmless */
		}
	}
	return unit_done("test_transport");
}

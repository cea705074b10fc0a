/*
 * test_etcd.c: the etcd client (libmigr/etcd.c) against a real etcd on loopback
 * (etcd_real.c), over plain HTTP and over TLS with client certificates (certtool makes
 * them), with failover between endpoints, an etcd that stops answering (-ETIMEDOUT: the
 * request may have been applied) and none at all (-ECONNREFUSED); against a server of
 * the test's own that answers what etcd never would (every answer is hostile input); and
 * a host's registration under a lease: written, kept, revoked at a clean stop, gone by
 * expiry otherwise; both migration drivers (on fake hypervisors) fencing their commit
 * through it. Skips (77) when etcd is not installed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "libmigr.h"
#include "unit.h"
#include "etcd_real.h"
#include "../fakes/fakes.h"

static struct etcd_real etcd;

static struct migr_etcd *client(const char *endpoints, unsigned int timeout_ms)
{
	struct migr_etcd_opts o = { .endpoints = endpoints, .timeout_ms = timeout_ms,
				    .connect_timeout_ms = 300 };
	struct migr_etcd *e = NULL;

	CHECK_EQ(migr_etcd_open(&o, &e), 0);
	return e;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static void test_kv(void)
{
	char eps[160];
	struct migr_etcd *e;
	struct migr_etcd_kv kv = { 0 }, cur = { 0 }, *v = NULL;
	unsigned int n = 0;
	const char bin[] = "a\0b\xff";
	bool won = false;
	int64_t rev;

	/* the first endpoint refuses: the client goes on to the next */
	snprintf(eps, sizeof(eps), "http://127.0.0.1:1,%s", etcd.endpoint);
	e = client(eps, 3000);
	if (!e)
		return;
	CHECK_EQ(migr_etcd_get(e, "/migr-test/none", &kv), -ENOENT);
	CHECK_EQ(migr_etcd_put(e, "/migr-test/a", bin, sizeof(bin) - 1, 0), 0);
	CHECK_EQ(migr_etcd_get(e, "/migr-test/a", &kv), 0);
	CHECK_EQ(kv.value_len, 4);
	CHECK(!memcmp(kv.value, bin, 4));
	CHECK_STR(kv.key, "/migr-test/a");
	CHECK(kv.mod_revision > 0 && kv.create_revision == kv.mod_revision);
	CHECK_EQ(kv.version, 1);
	migr_etcd_kv_clear(&kv);

	CHECK_EQ(migr_etcd_put(e, "/migr-test/b", "2", 1, 0), 0);
	CHECK_EQ(migr_etcd_put(e, "/migr-testx", "x", 1, 0), 0);
	CHECK_EQ(migr_etcd_list(e, "/migr-test/", 10, &v, &n), 0);
	CHECK_EQ(n, 2);
	if (n == 2) {
		CHECK_STR(v[0].key, "/migr-test/a");
		CHECK_STR(v[1].key, "/migr-test/b");
	}
	migr_etcd_list_free(v, n);
	CHECK_EQ(migr_etcd_list(e, "/migr-test/", 1, &v, &n), -E2BIG);

	/* compare-and-swap: create only if absent, then only from the revision read */
	CHECK_EQ(migr_etcd_cas(e, "/migr-test/loc", 0, "A", 1, 0, &won, &cur), 0);
	CHECK(won);
	CHECK_EQ(migr_etcd_cas(e, "/migr-test/loc", 0, "X", 1, 0, &won, &cur), 0);
	CHECK(!won);
	CHECK_STR(cur.value, "A");
	rev = cur.mod_revision;
	migr_etcd_kv_clear(&cur);
	CHECK_EQ(migr_etcd_cas(e, "/migr-test/loc", rev, "B", 1, 0, &won, &cur), 0);
	CHECK(won);
	CHECK_EQ(migr_etcd_cas(e, "/migr-test/loc", rev, "C", 1, 0, &won, &cur), 0);
	CHECK(!won);
	CHECK_STR(cur.value, "B");
	CHECK(cur.mod_revision > rev);
	migr_etcd_kv_clear(&cur);
	CHECK_EQ(migr_etcd_del(e, "/migr-test/loc"), 0);
	CHECK_EQ(migr_etcd_get(e, "/migr-test/loc", &kv), -ENOENT);
	CHECK_EQ(migr_etcd_cas(e, "/migr-test/loc", rev, "D", 1, 0, &won, &cur), 0);
	CHECK(!won);
	CHECK(cur.key == NULL);
	migr_etcd_kv_clear(&cur);
	migr_etcd_close(e);
}

static void test_lease(void)
{
	struct migr_etcd *e = client(etcd.endpoint, 3000);
	struct migr_etcd_kv kv;
	int64_t id = 0, ttl = 0, left = 0;

	if (!e)
		return;
	CHECK_EQ(migr_etcd_lease_grant(e, 30, &id, &ttl), 0);
	CHECK(id > 0);
	CHECK_EQ(ttl, 30);
	CHECK_EQ(migr_etcd_put(e, "/migr-test/leased", "v", 1, id), 0);
	CHECK_EQ(migr_etcd_get(e, "/migr-test/leased", &kv), 0);
	CHECK_EQ(kv.lease, id);
	migr_etcd_kv_clear(&kv);
	CHECK_EQ(migr_etcd_lease_keepalive(e, id, &left), 0);
	CHECK(left > 0 && left <= 30);
	CHECK_EQ(migr_etcd_lease_revoke(e, id), 0);
	CHECK_EQ(migr_etcd_get(e, "/migr-test/leased", &kv), -ENOENT);
	CHECK_EQ(migr_etcd_lease_keepalive(e, id, &left), -ENOENT);
	CHECK_EQ(migr_etcd_lease_revoke(e, id), 0);        /* gone already: not an error */
	CHECK_EQ(migr_etcd_put(e, "/migr-test/leased", "v", 1, id), -ENOENT);
	migr_etcd_close(e);
}

/* No answer within the timeout: the request may have been applied. Nobody there: it
 * reached no etcd. */
static void test_unreachable(void)
{
	struct migr_etcd *e = client(etcd.endpoint, 600);
	struct migr_etcd_kv kv;
	bool won;

	if (!e)
		return;
	etcd_real_freeze(&etcd, true);
	CHECK_EQ(migr_etcd_cas(e, "/migr-test/frozen", 0, "A", 1, 0, &won, NULL), -ETIMEDOUT);
	etcd_real_freeze(&etcd, false);
	migr_etcd_close(e);
	e = client("http://127.0.0.1:1,127.0.0.1:2", 600);
	if (!e)
		return;
	CHECK_EQ(migr_etcd_get(e, "/migr-test/a", &kv), -ECONNREFUSED);
	CHECK_EQ(migr_etcd_cas(e, "/migr-test/frozen", 0, "A", 1, 0, &won, NULL), -ECONNREFUSED);
	migr_etcd_close(e);
}

/* ---- a server that answers what etcd never would ---- */

struct bad_server {
	int fd, port;
	const char *answer;              /* the whole HTTP answer; NULL: a huge one */
};

static void *serve_one(void *arg)
{
	struct bad_server *s = arg;
	char req[8192];
	int c = accept(s->fd, NULL, NULL);
	ssize_t got;

	if (c < 0)
		return NULL;
	got = read(c, req, sizeof(req));      /* the request: small, one read or two */
	(void)got;
	if (s->answer) {
		if (write(c, s->answer, strlen(s->answer)) < 0) {
			/* the client may have given up */
		}
	} else {
		static char chunk[65536];
		const char *hdr = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"kvs\":\"";

		memset(chunk, 'A', sizeof(chunk));
		if (write(c, hdr, strlen(hdr)) < 0)
			goto out;
		for (int i = 0; i < 40; i++)            /* 2.5 MiB: beyond the cap */
			if (write(c, chunk, sizeof(chunk)) < 0)
				break;
	}
out:
	close(c);
	return NULL;
}

static int bad_call(const char *answer, int (*op)(struct migr_etcd *e))
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct bad_server s = { .answer = answer };
	char ep[64];
	pthread_t th;
	struct migr_etcd *e;
	int rc = -1;

	s.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s.fd < 0 || bind(s.fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(s.fd, 1) ||
	    getsockname(s.fd, (struct sockaddr *)&sa, &len)) {
		CHECK(!"cannot listen on loopback");
		return -1;
	}
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	pthread_create(&th, NULL, serve_one, &s);
	e = client(ep, 3000);
	if (e) {
		rc = op(e);
		migr_etcd_close(e);
	}
	pthread_join(th, NULL);
	close(s.fd);
	return rc;
}

static int op_get(struct migr_etcd *e)
{
	struct migr_etcd_kv kv;
	int rc = migr_etcd_get(e, "/migr/k", &kv);

	if (!rc)
		migr_etcd_kv_clear(&kv);
	return rc;
}

static int op_keepalive(struct migr_etcd *e)
{
	int64_t ttl;
	return migr_etcd_lease_keepalive(e, 5, &ttl);
}

static int op_cas(struct migr_etcd *e)
{
	bool won;
	struct migr_etcd_kv cur = { 0 };
	int rc = migr_etcd_cas(e, "/migr/k", 3, "v", 1, 0, &won, &cur);

	migr_etcd_kv_clear(&cur);
	return rc;
}

static char *http_status(int status, const char *body)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", status, strlen(body),
		 body);
	return buf;
}

static char *http(const char *body)
{
	return http_status(200, body);
}

static void test_hostile(void)
{
	char deep[256] = "";
	/* "/migr/k" is L21pZ3Ivaw== */
	CHECK_EQ(bad_call(http("{\"kvs\":[{\"key\":\"L21pZ3Ivaw==\",\"value\":\"dg==\","
			       "\"mod_revision\":\"4\",\"create_revision\":\"4\"}],\"count\":\"1\"}"),
			  op_get), 0);
	CHECK_EQ(bad_call(http("not json"), op_get), -EPROTO);
	CHECK_EQ(bad_call(http("[1,2]"), op_get), -EPROTO);
	CHECK_EQ(bad_call(NULL, op_get), -EPROTO);                       /* too big */
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	CHECK_EQ(bad_call(http(deep), op_get), -EPROTO);                 /* too deep */
	/* base64: not base64, not canonical, no padding */
	CHECK_EQ(bad_call(http("{\"kvs\":[{\"key\":\"L21pZ3Ivaw==\",\"value\":\"d!==\","
			       "\"mod_revision\":\"4\"}],\"count\":\"1\"}"), op_get), -EPROTO);
	CHECK_EQ(bad_call(http("{\"kvs\":[{\"key\":\"L21pZ3Ivaw==\",\"value\":\"dh==\","
			       "\"mod_revision\":\"4\"}],\"count\":\"1\"}"), op_get), -EPROTO);
	CHECK_EQ(bad_call(http("{\"kvs\":[{\"key\":\"L21pZ3Ivaw\",\"value\":\"dg==\","
			       "\"mod_revision\":\"4\"}],\"count\":\"1\"}"), op_get), -EPROTO);
	/* another key than the one asked for; a number where a string goes; a bad integer */
	CHECK_EQ(bad_call(http("{\"kvs\":[{\"key\":\"L21pZ3IvbA==\",\"value\":\"dg==\","
			       "\"mod_revision\":\"4\"}],\"count\":\"1\"}"), op_get), -EPROTO);
	CHECK_EQ(bad_call(http("{\"kvs\":[{\"key\":7,\"mod_revision\":\"4\"}],\"count\":\"1\"}"),
			  op_get), -EPROTO);
	CHECK_EQ(bad_call(http("{\"kvs\":[{\"key\":\"L21pZ3Ivaw==\",\"mod_revision\":\"4x\"}],"
			       "\"count\":\"1\"}"), op_get), -EPROTO);
	CHECK_EQ(bad_call(http("{\"kvs\":{},\"count\":\"1\"}"), op_get), -EPROTO);
	/* a keepalive for another lease; a txn without its responses */
	CHECK_EQ(bad_call(http("{\"result\":{\"ID\":\"6\",\"TTL\":\"10\"}}"), op_keepalive), -EPROTO);
	CHECK_EQ(bad_call(http("{\"result\":{\"ID\":\"5\",\"TTL\":\"10\"}}"), op_keepalive), 0);
	CHECK_EQ(bad_call(http("{\"result\":{\"ID\":\"5\"}}"), op_keepalive), -ENOENT);
	CHECK_EQ(bad_call(http("{\"succeeded\":true}"), op_cas), -EPROTO);
	CHECK_EQ(bad_call(http("{\"succeeded\":\"yes\",\"responses\":[{\"response_put\":{}}]}"),
			  op_cas), -EPROTO);
	CHECK_EQ(bad_call(http("{\"succeeded\":true,\"responses\":[{\"response_put\":{}}]}"),
			  op_cas), 0);
	/* an error answer: NOT_FOUND is -ENOENT, others -EIO */
	CHECK_EQ(bad_call(http_status(404, "{\"code\":5,\"message\":\"gone\"}"), op_keepalive),
		 -ENOENT);
	CHECK_EQ(bad_call(http_status(400, "{\"code\":3,\"message\":\"bad\"}"), op_get), -EIO);
}

/* ---- registration against the real etcd ---- */

static int collect(void *arg, struct migr_etcd_host *h)
{
	int *free_mib = arg;

	snprintf(h->address, sizeof(h->address), "127.0.0.1:8002");
	snprintf(h->xen, sizeof(h->xen), "4.17.7");
	h->xen_major = 4;
	h->xen_minor = 17;
	h->cap_pv = h->cap_hvm = h->cap_hap = true;
	h->total_kib = 8u << 20;
	h->free_kib = (uint64_t)*free_mib * 1024;
	return 0;
}

static bool wait_for(struct migr_etcd *e, const char *key, bool present, unsigned int ms,
		     struct migr_etcd_host *h)
{
	for (unsigned int t = 0; t < ms; t += 100) {
		struct migr_etcd_kv kv;
		int rc = migr_etcd_get(e, key, &kv);

		if (!rc && present) {
			bool ok = !h || !migr_etcd_host_parse(kv.value, kv.value_len, h);
			migr_etcd_kv_clear(&kv);
			if (ok)
				return true;
		} else if (!rc) {
			migr_etcd_kv_clear(&kv);
		}
		if (rc == -ENOENT && !present)
			return true;
		sleep_ms(100);
	}
	return false;
}

static void test_registration(void)
{
	struct migr_etcd *e = client(etcd.endpoint, 2000), *reader = client(etcd.endpoint, 2000);
	struct migr_etcd_reg *r = NULL;
	struct migr_etcd_reg_stats st;
	struct migr_etcd_host h = { 0 };
	int free_mib = 1000;
	struct migr_etcd_reg_opts o = { .etcd = e, .host = "hosta", .ttl_s = 2, .refresh_s = 60,
					.collect = collect, .arg = &free_mib };

	if (!e || !reader)
		goto out;
	CHECK_EQ(migr_etcd_reg_start(&o, &r), 0);
	CHECK(wait_for(reader, "/migr/hosts/hosta", true, 5000, &h));
	CHECK_STR(h.name, "hosta");
	CHECK_EQ(h.free_kib, 1000 * 1024);
	migr_etcd_host_clear(&h);
	/* a change, poked: written again long before the refresh */
	free_mib = 500;
	migr_etcd_reg_poke(r);
	for (int i = 0; i < 50; i++) {
		if (wait_for(reader, "/migr/hosts/hosta", true, 100, &h) && h.free_kib == 500 * 1024)
			break;
		migr_etcd_host_clear(&h);
		sleep_ms(100);
	}
	CHECK_EQ(h.free_kib, 500 * 1024);
	migr_etcd_host_clear(&h);
	/* kept alive beyond its TTL */
	sleep_ms(3000);
	CHECK(wait_for(reader, "/migr/hosts/hosta", true, 100, NULL));
	migr_etcd_reg_stats(r, &st);
	CHECK(st.keepalives >= 2);
	CHECK_EQ(st.grants, 1);
	CHECK(st.registered);
	/* a clean stop revokes: gone at once */
	migr_etcd_reg_stop(r, true);
	r = NULL;
	CHECK(wait_for(reader, "/migr/hosts/hosta", false, 100, NULL));
	/* a stop without revoking (a crash): gone when the lease expires */
	CHECK_EQ(migr_etcd_reg_start(&o, &r), 0);
	CHECK(wait_for(reader, "/migr/hosts/hosta", true, 5000, NULL));
	migr_etcd_reg_stop(r, false);
	r = NULL;
	CHECK(wait_for(reader, "/migr/hosts/hosta", true, 100, NULL));
	CHECK(wait_for(reader, "/migr/hosts/hosta", false, 6000, NULL));
out:
	migr_etcd_reg_stop(r, true);
	migr_etcd_close(e);
	migr_etcd_close(reader);
}

/* ---- the commit fenced by this etcd: both drivers on fake hypervisors ---- */

struct fenced_target {
	struct migr_hv_fake *hv;
	struct migr_conn *c;
	struct migr_recv_params p;
	struct migr_recv_result res;
	int rc;
};

static void *fenced_target_main(void *arg)
{
	struct fenced_target *t = arg;

	t->rc = migr_receive(&t->hv->hv, t->c, &t->p, &t->res);
	migr_conn_close(t->c);
	return NULL;
}

/* A migration fenced through the real etcd: the key moves to the target with the
 * migration's id. With the target's client pointed at no etcd (cut off), the target
 * never unpauses, and the source gives the key back and resumes the guest. */
static void test_fenced_migration(bool target_cut_off)
{
	char dir[96], src_dir[128], key[MIGR_ETCD_KEY_MAX];
	struct migr_etcd *a = client(etcd.endpoint, 2000), *reader = client(etcd.endpoint, 2000);
	struct migr_etcd *b = client(target_cut_off ? "http://127.0.0.1:9" : etcd.endpoint, 300);
	struct migr_hv_fake *src = NULL, *dst = NULL;
	struct fenced_target t = { 0 };
	struct migr_send_params sp;
	struct migr_result res;
	struct migr_etcd_location l = { 0 };
	struct migr_etcd_kv kv = { 0 };
	struct migr_conn *sc = NULL;
	struct migr_fake_dom *d;
	pthread_t th;
	uint32_t domid;
	int sv[2];

	snprintf(dir, sizeof(dir), "/tmp/migr-test-etcd-fence.%d.%d", (int)getpid(),
		 target_cut_off);
	snprintf(src_dir, sizeof(src_dir), "%s/sent", dir);
	if (!a || !b || !reader || migr_hv_fake_new(1 << 30, &src) ||
	    migr_hv_fake_new(1 << 30, &dst) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		CHECK(!"set-up");
		goto out;
	}
	domid = migr_hv_fake_add(src, "guest1", MIGR_GUEST_PVH, 2048, 16);
	d = migr_hv_fake_dom(src, domid);
	CHECK_EQ(migr_etcd_location_key(d->info.uuid, key, sizeof(key)), 0);
	CHECK_EQ(migr_etcd_del(reader, key), 0);   /* the fake's UUIDs repeat across cases */
	CHECK_EQ(migr_conn_from_fds(sv[0], sv[0], NULL, &sc), 0);
	CHECK_EQ(migr_conn_from_fds(sv[1], sv[1], NULL, &t.c), 0);
	t.hv = dst;
	t.p.record_dir = dir;
	t.p.go_deadline_ms = 1500;
	t.p.etcd = b;
	t.p.fence_self = "hostb";
	migr_send_params_init(&sp);
	sp.peek_interval_ms = 1;
	sp.record_dir = src_dir;
	sp.etcd = a;
	sp.fence_self = "hosta";
	CHECK_EQ(pthread_create(&th, NULL, fenced_target_main, &t), 0);
	CHECK_EQ(migr_migrate(&src->hv, domid, sc, &sp, &res), target_cut_off ? -MIGR_E_ABORTED : 0);
	migr_conn_close(sc);
	pthread_join(th, NULL);
	CHECK_EQ(migr_hv_fake_count(src), target_cut_off ? 1 : 0);
	CHECK_EQ(migr_hv_fake_count(dst), target_cut_off ? 0 : 1);
	CHECK_EQ(migr_etcd_get(reader, key, &kv), 0);
	CHECK_EQ(migr_etcd_location_parse(kv.value, kv.value_len, &l), 0);
	CHECK_STR(l.host, target_cut_off ? "hosta" : "hostb");
	if (strcmp(l.host, target_cut_off ? "hosta" : "hostb"))
		fprintf(stderr, "source: %s\ntarget: %s\n", res.state_text, t.res.state_text);
	CHECK_STR(l.migration, target_cut_off ? "" : res.id);
	migr_etcd_kv_clear(&kv);
out:
	if (src)
		migr_hv_close(&src->hv);
	if (dst)
		migr_hv_close(&dst->hv);
	migr_etcd_close(a);
	migr_etcd_close(b);
	migr_etcd_close(reader);
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", dir);
	}
}

/* ---- TLS with client certificates ---- */

static int sh(const char *cmd)
{
	int rc = system(cmd);
	return rc == 0 ? 0 : -1;
}

static void test_tls(void)
{
	char dir[] = "/tmp/migr-etcd-tls.XXXXXX", cmd[2048], ca[96], cert[96], key[96],
	     srv[96], srvkey[96], eps[96];
	struct etcd_real t;
	struct migr_etcd_opts o = { .timeout_ms = 3000 };
	struct migr_etcd *e = NULL;
	struct migr_etcd_kv kv;

	if (!mkdtemp(dir) || sh("command -v certtool >/dev/null")) {
		fprintf(stderr, "test_etcd: no certtool: TLS not tested\n");
		return;
	}
	snprintf(cmd, sizeof(cmd), "(cd %s && "
		 "printf 'cn = test ca\\nca\\ncert_signing_key\\nexpiration_days = 2\\n' >ca.tmpl && "
		 "printf 'cn = etcd\\nip_address = 127.0.0.1\\ntls_www_server\\ntls_www_client\\nexpiration_days = 2\\n' >srv.tmpl && "
		 "printf 'cn = hosta\\ntls_www_client\\nexpiration_days = 2\\n' >cli.tmpl && "
		 "certtool -p --outfile ca.key --key-type ecdsa && "
		 "certtool -s --load-privkey ca.key --template ca.tmpl --outfile ca.pem && "
		 "certtool -p --outfile srv.key --key-type ecdsa && "
		 "certtool -c --load-privkey srv.key --load-ca-certificate ca.pem --load-ca-privkey ca.key --template srv.tmpl --outfile srv.pem && "
		 "certtool -p --outfile cli.key --key-type ecdsa && "
		 "certtool -c --load-privkey cli.key --load-ca-certificate ca.pem --load-ca-privkey ca.key --template cli.tmpl --outfile cli.pem"
		 ") >/dev/null 2>&1", dir);
	if (sh(cmd)) {
		CHECK(!"certtool could not make the test certificates");
		goto out_rm;
	}
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/cli.pem", dir);
	snprintf(key, sizeof(key), "%s/cli.key", dir);
	snprintf(srv, sizeof(srv), "%s/srv.pem", dir);
	snprintf(srvkey, sizeof(srvkey), "%s/srv.key", dir);
	if (etcd_real_start(&t, ca, srv, srvkey)) {
		CHECK(!"etcd with TLS did not start");
		goto out_rm;
	}
	/* a bare HOST:PORT with a CA given is https */
	snprintf(eps, sizeof(eps), "127.0.0.1:%d", t.port);
	o.endpoints = eps;
	o.ca_file = ca;
	o.cert_file = cert;
	o.key_file = key;
	CHECK_EQ(migr_etcd_open(&o, &e), 0);
	if (e) {
		CHECK_EQ(migr_etcd_put(e, "/migr-test/tls", "t", 1, 0), 0);
		CHECK_EQ(migr_etcd_get(e, "/migr-test/tls", &kv), 0);
		migr_etcd_kv_clear(&kv);
		migr_etcd_close(e);
	}
	/* without a client certificate: refused; plain HTTP to it: no answer of etcd's */
	o.cert_file = o.key_file = NULL;
	CHECK_EQ(migr_etcd_open(&o, &e), 0);
	if (e) {
		CHECK(migr_etcd_get(e, "/migr-test/tls", &kv) < 0);
		migr_etcd_close(e);
	}
	/* a certificate without its key is refused at open */
	o.cert_file = cert;
	CHECK_EQ(migr_etcd_open(&o, &e), -EINVAL);
	etcd_real_stop(&t);
out_rm:
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	sh(cmd);
}

int main(void)
{
	if (!etcd_real_binary()) {
		printf("test_etcd: no etcd installed (etcd-server): skipped\n");
		return 77;
	}
	test_hostile();
	if (etcd_real_start(&etcd, NULL, NULL, NULL)) {
		CHECK(!"etcd did not start");
		return unit_done("test_etcd");
	}
	test_kv();
	test_lease();
	test_unreachable();
	test_registration();
	test_fenced_migration(false);
	test_fenced_migration(true);
	etcd_real_stop(&etcd);
	test_tls();
	return unit_done("test_etcd");
}

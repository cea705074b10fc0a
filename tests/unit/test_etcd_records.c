/*
 * test_etcd_records.c: what migr keeps in etcd, without an etcd: strict base64, the key
 * layout, the host record (its failure domain included) and the guest's location (encoded, parsed back, and refused when
 * hostile), the host's state collected from the fake hypervisor, and the registration
 * thread over the in-memory etcd: written under a lease, kept, written again when poked,
 * registered again after its lease expired, retried while etcd is down, revoked at stop.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "unit.h"

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static void test_b64(void)
{
	const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	const char *enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	const char *bad[] = { "Zg=", "Zh==", "Zm9=", "Z===", "=Zg=", "Zg==Zg==", "Zm9v!", "Zm 9v",
			      "Zg=a" };
	char out[16];
	uint8_t dec[16];
	size_t n;

	for (unsigned int i = 0; i < 7; i++) {
		migr_b64_encode(plain[i], strlen(plain[i]), out);
		CHECK_STR(out, enc[i]);
		CHECK_EQ(migr_b64_decode(enc[i], strlen(enc[i]), dec, &n), 0);
		CHECK_EQ(n, strlen(plain[i]));
		CHECK(!memcmp(dec, plain[i], n));
	}
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(migr_b64_decode(bad[i], strlen(bad[i]), dec, &n), -EINVAL);
}

static void test_keys(void)
{
	uint8_t u[16], nil[16] = { 0 }, back[16];
	char key[128], text[37];
	char err[128];

	for (int i = 0; i < 16; i++)
		u[i] = (uint8_t)(0xa0 + i);
	CHECK_EQ(migr_etcd_host_key("host-a.example", key, sizeof(key)), 0);
	CHECK_STR(key, "/migr/hosts/host-a.example");
	CHECK_EQ(migr_etcd_host_key("a/b", key, sizeof(key)), -EINVAL);
	CHECK_EQ(migr_etcd_host_key("..", key, sizeof(key)), -EINVAL);
	CHECK_EQ(migr_etcd_host_key("", key, sizeof(key)), -EINVAL);
	CHECK_EQ(migr_etcd_location_key(u, key, sizeof(key)), 0);
	CHECK_STR(key, "/migr/guests/a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf/location");
	CHECK_EQ(migr_etcd_location_key(nil, key, sizeof(key)), -EINVAL);
	migr_uuid_format(u, text);
	CHECK_EQ(migr_uuid_parse(text, back), 0);
	CHECK(!memcmp(u, back, 16));
	CHECK_EQ(migr_uuid_parse("a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaF", back), -EINVAL);
	CHECK_EQ(migr_uuid_parse("a0a1a2a3a4a5-a6a7-a8a9-aaabacadaeaf0", back), -EINVAL);
	CHECK_EQ(migr_etcd_endpoints_check("http://a:2379,https://10.0.0.1:2379,b:1,[::1]:2379",
					   err, sizeof(err)), 0);
	CHECK_EQ(migr_etcd_endpoints_check("http://a:2379/v3", err, sizeof(err)), -EINVAL);
	CHECK_EQ(migr_etcd_endpoints_check("a", err, sizeof(err)), -EINVAL);
	CHECK_EQ(migr_etcd_endpoints_check("a:99999", err, sizeof(err)), -EINVAL);
	CHECK_EQ(migr_etcd_endpoints_check("a:1,,b:2", err, sizeof(err)), -EINVAL);
	CHECK_EQ(migr_etcd_endpoints_check("", err, sizeof(err)), -EINVAL);
}

static void test_host_record(void)
{
	struct migr_etcd_guest g[2] = {
		{ .name = "web1", .type = MIGR_GUEST_PVH, .mem_kib = 262144, .max_mem_kib = 262144,
		  .vcpus = 2 },
		{ .name = "db--incoming", .type = MIGR_GUEST_PV, .mem_kib = 1024, .vcpus = 1,
		  .moving = true },
	};
	struct migr_etcd_host h = { .name = "hosta", .group = "rack7", .address = "hosta:8002",
		.xen = "4.17.7",
		.xen_major = 4, .xen_minor = 17, .cap_pv = true, .cap_hap = true,
		.total_kib = 8u << 20, .free_kib = 1u << 20,
		.maintenance = MIGR_ETCD_MAINT_EVACUATING, .n_guests = 2, .guests = g };
	struct migr_etcd_host p;
	char *json = NULL;
	size_t len = 0;
	/* each breaks one rule of the record */
	const char *bad[] = {
		"{\"schema\":1}",
		"{\"schema\":\"1\",\"name\":\"h\"}",
		"[]", "", "{", "nul",
		"{\"schema\":1,\"name\":\"a/b\",\"address\":\"a:1\",\"xen\":\"\",\"xen_major\":4,"
		"\"xen_minor\":17,\"caps\":{\"pv\":true,\"hvm\":true,\"hap\":true,\"shadow\":true},"
		"\"memory\":{\"total_kib\":10,\"free_kib\":5},\"maintenance\":\"none\",\"guests\":[]}",
		/* more free than total */
		"{\"schema\":1,\"name\":\"a\",\"address\":\"a:1\",\"xen\":\"\",\"xen_major\":4,"
		"\"xen_minor\":17,\"caps\":{\"pv\":true,\"hvm\":true,\"hap\":true,\"shadow\":true},"
		"\"memory\":{\"total_kib\":10,\"free_kib\":50},\"maintenance\":\"none\",\"guests\":[]}",
		/* a maintenance state nobody knows */
		"{\"schema\":1,\"name\":\"a\",\"address\":\"a:1\",\"xen\":\"\",\"xen_major\":4,"
		"\"xen_minor\":17,\"caps\":{\"pv\":true,\"hvm\":true,\"hap\":true,\"shadow\":true},"
		"\"memory\":{\"total_kib\":10,\"free_kib\":5},\"maintenance\":\"x\",\"guests\":[]}",
		/* a guest with a bad uuid; a caps flag that is a string; a negative number */
		"{\"schema\":1,\"name\":\"a\",\"address\":\"a:1\",\"xen\":\"\",\"xen_major\":4,"
		"\"xen_minor\":17,\"caps\":{\"pv\":true,\"hvm\":true,\"hap\":true,\"shadow\":true},"
		"\"memory\":{\"total_kib\":10,\"free_kib\":5},\"maintenance\":\"none\",\"guests\":"
		"[{\"name\":\"g\",\"uuid\":\"zz\",\"type\":\"pv\",\"mem_kib\":1,\"max_mem_kib\":1,"
		"\"vcpus\":1,\"moving\":false}]}",
		"{\"schema\":1,\"name\":\"a\",\"address\":\"a:1\",\"xen\":\"\",\"xen_major\":4,"
		"\"xen_minor\":17,\"caps\":{\"pv\":\"yes\",\"hvm\":true,\"hap\":true,\"shadow\":true},"
		"\"memory\":{\"total_kib\":10,\"free_kib\":5},\"maintenance\":\"none\",\"guests\":[]}",
		"{\"schema\":1,\"name\":\"a\",\"address\":\"a:1\",\"xen\":\"\",\"xen_major\":-4,"
		"\"xen_minor\":17,\"caps\":{\"pv\":true,\"hvm\":true,\"hap\":true,\"shadow\":true},"
		"\"memory\":{\"total_kib\":10,\"free_kib\":5},\"maintenance\":\"none\",\"guests\":[]}",
		"{\"schema\":1,\"a\":[[[[[[[[[[[]]]]]]]]]]]}",
		/* a failure domain that is not a name */
		"{\"schema\":1,\"name\":\"a\",\"group\":\"rack 7\",\"address\":\"a:1\",\"xen\":\"\","
		"\"xen_major\":4,\"xen_minor\":17,\"caps\":{\"pv\":true,\"hvm\":true,\"hap\":true,"
		"\"shadow\":true},\"memory\":{\"total_kib\":10,\"free_kib\":5},\"maintenance\":"
		"\"none\",\"guests\":[]}",
		"{\"schema\":1,\"name\":\"a\",\"group\":7,\"address\":\"a:1\",\"xen\":\"\","
		"\"xen_major\":4,\"xen_minor\":17,\"caps\":{\"pv\":true,\"hvm\":true,\"hap\":true,"
		"\"shadow\":true},\"memory\":{\"total_kib\":10,\"free_kib\":5},\"maintenance\":"
		"\"none\",\"guests\":[]}",
	};

	for (int i = 0; i < 16; i++)
		g[0].uuid[i] = (uint8_t)i;
	CHECK_EQ(migr_etcd_host_encode(&h, &json, &len), 0);
	CHECK_EQ(migr_etcd_host_parse(json, len, &p), 0);
	CHECK_STR(p.name, "hosta");
	CHECK_STR(p.group, "rack7");
	CHECK_STR(p.address, "hosta:8002");
	CHECK_STR(p.xen, "4.17.7");
	CHECK(p.cap_pv && !p.cap_hvm && p.cap_hap && !p.cap_shadow);
	CHECK_EQ(p.free_kib, 1u << 20);
	CHECK_EQ(p.maintenance, MIGR_ETCD_MAINT_EVACUATING);
	CHECK_EQ(p.n_guests, 2);
	if (p.n_guests == 2) {
		CHECK_STR(p.guests[0].name, "web1");
		CHECK(!memcmp(p.guests[0].uuid, g[0].uuid, 16));
		CHECK_EQ(p.guests[0].type, MIGR_GUEST_PVH);
		CHECK_EQ(p.guests[0].vcpus, 2);
		CHECK(migr_uuid_is_nil(p.guests[1].uuid));
		CHECK(p.guests[1].moving);
	}
	migr_etcd_host_clear(&p);
	/* another schema version: refused as such */
	json[10] = '9';
	CHECK_EQ(migr_etcd_host_parse(json, len, &p), strncmp(json, "{\"schema\":9", 11) ? -EPROTO
										: -ENOTSUP);
	free(json);
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = migr_etcd_host_parse(bad[i], strlen(bad[i]), &p);
		if (rc != -EPROTO)
			fprintf(stderr, "bad record %u: %d\n", i, rc);
		CHECK_EQ(rc, -EPROTO);
	}
}

static void test_location(void)
{
	struct migr_etcd_location l = { .host = "hostb", .migration = "0123456789abcdef0123456789abcdef" }, p;
	char *json = NULL;
	size_t len = 0;
	const char *bad[] = {
		"{\"schema\":1,\"host\":\"b\"}",
		"{\"schema\":1,\"host\":\"a b\",\"migration\":\"\"}",
		"{\"schema\":1,\"host\":\"b\",\"migration\":\"xyz\"}",
		"{\"schema\":1,\"host\":\"b\",\"migration\":\"0123456789abcdef0123456789abcdef0\"}",
	};

	CHECK_EQ(migr_etcd_location_encode(&l, &json, &len), 0);
	CHECK_EQ(migr_etcd_location_parse(json, len, &p), 0);
	CHECK_STR(p.host, "hostb");
	CHECK_STR(p.migration, l.migration);
	free(json);
	CHECK_EQ(migr_etcd_location_parse("{\"schema\":2,\"host\":\"b\",\"migration\":\"\"}", 38, &p),
		 -ENOTSUP);
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(migr_etcd_location_parse(bad[i], strlen(bad[i]), &p), -EPROTO);
}

static void test_collect(void)
{
	struct migr_hv_fake *f = NULL;
	struct migr_etcd_host h = { 0 };

	CHECK_EQ(migr_hv_fake_new(4u << 20, &f), 0);
	if (!f)
		return;
	migr_hv_fake_add(f, "web1", MIGR_GUEST_PVH, 1024, 0);
	migr_hv_fake_add(f, "web2--incoming", MIGR_GUEST_PV, 2048, 0);
	CHECK_EQ(migr_etcd_host_collect(&f->hv, &h), 0);
	CHECK_EQ(h.free_kib, f->host.free_kib);
	CHECK_EQ(h.xen_major, 4);
	CHECK(!h.cap_shadow && h.cap_hap);
	CHECK_EQ(h.n_guests, 2);
	if (h.n_guests == 2) {
		CHECK_STR(h.guests[0].name, "web1");
		CHECK(!h.guests[0].moving);
		CHECK(h.guests[1].moving);
	}
	migr_etcd_host_clear(&h);
	migr_hv_close(&f->hv);
}

/* ---- registration over the fake ---- */

struct state {
	int free_mib;
	int collects;
};

static int collect(void *arg, struct migr_etcd_host *h)
{
	struct state *s = arg;

	s->collects++;
	snprintf(h->address, sizeof(h->address), "hosta:8002");
	h->total_kib = 8u << 20;
	h->free_kib = (uint64_t)s->free_mib * 1024;
	return 0;
}

static bool until(bool (*cond)(struct migr_etcd_fake *, void *), struct migr_etcd_fake *f,
		  void *arg)
{
	for (int i = 0; i < 300; i++) {
		if (cond(f, arg))
			return true;
		sleep_ms(10);
	}
	return false;
}

static bool has_free(struct migr_etcd_fake *f, void *arg)
{
	char *v = migr_etcd_fake_value(f, "/migr/hosts/hosta");
	struct migr_etcd_host h;
	bool ok = false;

	if (v && !migr_etcd_host_parse(v, strlen(v), &h)) {
		ok = h.free_kib == (uint64_t)*(int *)arg * 1024;
		migr_etcd_host_clear(&h);
	}
	free(v);
	return ok;
}

static bool absent(struct migr_etcd_fake *f, void *arg)
{
	char *v = migr_etcd_fake_value(f, "/migr/hosts/hosta");
	free(v);
	return !v;
}

static void test_registration(void)
{
	struct migr_etcd_fake *f = NULL;
	struct migr_etcd_reg *r = NULL;
	struct migr_etcd_reg_stats st;
	struct state s = { .free_mib = 100 };
	struct migr_etcd_reg_opts o = { .host = "hosta", .ttl_s = 3, .refresh_s = 3600,
					.collect = collect, .arg = &s };
	int want;
	int64_t lease;

	CHECK_EQ(migr_etcd_fake_new(&f), 0);
	if (!f)
		return;
	o.etcd = &f->e;
	/* etcd down at start: retried, never fatal */
	migr_etcd_fake_set_down(f, true);
	CHECK_EQ(migr_etcd_reg_start(&o, &r), 0);
	sleep_ms(1200);
	migr_etcd_reg_stats(r, &st);
	CHECK(st.failures >= 2);
	CHECK(!st.registered);
	migr_etcd_fake_set_down(f, false);
	want = 100;
	CHECK(until(has_free, f, &want));
	migr_etcd_reg_stats(r, &st);
	CHECK(st.registered);
	CHECK_EQ(st.grants, 1);
	lease = st.lease;
	/* poked after a change: written again at once (the refresh is an hour away) */
	s.free_mib = 50;
	migr_etcd_reg_poke(r);
	want = 50;
	CHECK(until(has_free, f, &want));
	/* poked without a change: not written again */
	migr_etcd_reg_stats(r, &st);
	{
		unsigned int puts = f->puts;
		migr_etcd_reg_poke(r);
		sleep_ms(100);
		CHECK_EQ(f->puts, puts);
	}
	/* the lease expires (etcd cut off for longer than the TTL): registered again under
	 * a new one */
	migr_etcd_fake_expire(f, lease);
	CHECK(absent(f, NULL));
	sleep_ms(1100);            /* the next keepalive, ttl / 3 */
	CHECK(until(has_free, f, &want));
	migr_etcd_reg_stats(r, &st);
	CHECK_EQ(st.grants, 2);
	CHECK(st.lease != lease && st.lease);
	/* a clean stop revokes the lease: the record is gone */
	migr_etcd_reg_stop(r, true);
	CHECK(absent(f, NULL));
	CHECK_EQ(f->revokes, 1);
	/* stop while etcd is down: nothing hangs; the lease is left to expire */
	CHECK_EQ(migr_etcd_reg_start(&o, &r), 0);
	CHECK(until(has_free, f, &want));
	migr_etcd_fake_set_down(f, true);
	migr_etcd_reg_stop(r, true);
	migr_etcd_fake_set_down(f, false);
	CHECK(!absent(f, NULL));
	CHECK_EQ(f->revokes, 1);
	migr_etcd_close(&f->e);
}

/* An evacuation's targets from the fleet: every recorded host but self and those in
 * maintenance, in key order; a record that does not parse, or whose name is not its
 * key's, is skipped; nobody left is -ENOENT; etcd down is its error. */
static void put_host(struct migr_etcd_fake *f, const char *key_name, const char *name,
		     const char *addr, enum migr_etcd_maint m)
{
	struct migr_etcd_host h = { .xen = "4.17.7", .xen_major = 4, .xen_minor = 17,
		.total_kib = 1u << 20, .free_kib = 1u << 19, .maintenance = m };
	char key[MIGR_ETCD_KEY_MAX], *json = NULL;
	size_t len = 0;

	snprintf(h.name, sizeof(h.name), "%s", name);
	snprintf(h.address, sizeof(h.address), "%s", addr);
	CHECK_EQ(migr_etcd_host_key(key_name, key, sizeof(key)), 0);
	CHECK_EQ(migr_etcd_host_encode(&h, &json, &len), 0);
	CHECK_EQ(migr_etcd_put(&f->e, key, json, len, 0), 0);
	free(json);
}

static void test_fleet_targets(void)
{
	struct migr_etcd_fake *f = NULL;
	char list[256], key[MIGR_ETCD_KEY_MAX];

	CHECK_EQ(migr_etcd_fake_new(&f), 0);
	CHECK_EQ(migr_etcd_fleet_targets(&f->e, "a", 32, list, sizeof(list), NULL), -ENOENT);
	put_host(f, "a", "a", "a:8002", MIGR_ETCD_MAINT_NONE);
	CHECK_EQ(migr_etcd_fleet_targets(&f->e, "a", 32, list, sizeof(list), NULL), -ENOENT);
	put_host(f, "b", "b", "b:8002", MIGR_ETCD_MAINT_NONE);
	put_host(f, "c", "c", "c:8002", MIGR_ETCD_MAINT_EVACUATING);
	put_host(f, "d", "d", "169.254.0.4:8002", MIGR_ETCD_MAINT_NONE);
	put_host(f, "e", "x", "e:8002", MIGR_ETCD_MAINT_NONE);        /* not its key's name */
	CHECK_EQ(migr_etcd_host_key("f", key, sizeof(key)), 0);
	CHECK_EQ(migr_etcd_put(&f->e, key, "{\"schema\":1}", 12, 0), 0);   /* not a record */
	put_host(f, "g", "g", "g:1,h:2", MIGR_ETCD_MAINT_NONE);       /* would split in two */
	CHECK_EQ(migr_etcd_fleet_targets(&f->e, "a", 32, list, sizeof(list), NULL), 0);
	CHECK_STR(list, "b:8002,169.254.0.4:8002");
	CHECK_EQ(migr_etcd_fleet_targets(&f->e, "b", 32, list, sizeof(list), NULL), 0);
	CHECK_STR(list, "a:8002,169.254.0.4:8002");
	CHECK_EQ(migr_etcd_fleet_targets(&f->e, "a", 1, list, sizeof(list), NULL), 0);
	CHECK_STR(list, "b:8002");
	CHECK_EQ(migr_etcd_fleet_targets(&f->e, "a", 32, list, 10, NULL), 0);   /* no room */
	CHECK_STR(list, "b:8002");
	/* hosts out for a drain (migr/drain.h) receive nothing */
	struct migr_drain_out out = { .host = "b", .since_unix = 1 };
	struct migr_drain_state ds = { .window = 1, .nout = 1, .out = &out };
	char *json = NULL;
	size_t len;
	CHECK_EQ(migr_drain_state_encode(&ds, &json, &len), 0);
	CHECK_EQ(migr_etcd_put(&f->e, MIGR_DRAIN_STATE_KEY, json, len, 0), 0);
	free(json);
	CHECK_EQ(migr_etcd_fleet_targets(&f->e, "a", 32, list, sizeof(list), NULL), 0);
	CHECK_STR(list, "169.254.0.4:8002");
	out.done = true;
	CHECK_EQ(migr_drain_state_encode(&ds, &json, &len), 0);
	CHECK_EQ(migr_etcd_put(&f->e, MIGR_DRAIN_STATE_KEY, json, len, 0), 0);
	free(json);
	CHECK_EQ(migr_etcd_fleet_targets(&f->e, "a", 32, list, sizeof(list), NULL), 0);
	CHECK_STR(list, "169.254.0.4:8002");
	migr_etcd_fake_set_down(f, true);
	CHECK_EQ(migr_etcd_fleet_targets(&f->e, "a", 32, list, sizeof(list), NULL),
		 -ECONNREFUSED);
	migr_etcd_close(&f->e);
}

int main(void)
{
	test_b64();
	test_keys();
	test_host_record();
	test_location();
	test_collect();
	test_registration();
	test_fleet_targets();
	return unit_done("test_etcd_records");
}

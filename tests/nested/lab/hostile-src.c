/*
 * hostile-src: a source that lies. It speaks migr's protocol (version 2) to a target with
 * the real configuration of a guest running here, plus one thing of its own: a dom0 disk
 * (--disk PATH) or a hotplug script of its choosing (--script PATH) on the first vif. It
 * sends HELLO, PREFLIGHT and CONFIG and reads the answer; the guest here is never touched.
 *
 *   hostile-src --psk FILE (--disk PATH | --script PATH) NAME HOST[:PORT]
 *
 * Prints "refused: REASON" and exits 0 when the target refuses, "accepted" and exits 2
 * when it does not (it then aborts at once), 1 on any other failure.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <migr/hv.h>
#include <migr/proto.h>
#include <migr/transport.h>

static int die(const char *what, const char *why)
{
	fprintf(stderr, "hostile-src: %s: %s\n", what, why);
	return 1;
}

/* The config with s inserted at offset at. */
static char *insert(const char *json, size_t at, const char *s)
{
	size_t n = strlen(json), k = strlen(s);
	char *out = malloc(n + k + 1);

	if (!out)
		return NULL;
	memcpy(out, json, at);
	memcpy(out + at, s, k);
	memcpy(out + at + k, json + at, n - at + 1);
	return out;
}

/* A dom0 disk, as the first of the guest's disks (it has none in the lab). */
static char *add_disk(const char *json, const char *path)
{
	const char *open = strchr(json, '{');
	char entry[512];

	if (!open || strstr(json, "\"disks\""))
		return NULL;
	snprintf(entry, sizeof(entry), " \"disks\": [ { \"pdev_path\": \"%s\", \"vdev\": \"xvdb\", "
		 "\"backend\": \"phy\", \"format\": \"raw\", \"readwrite\": 1 } ],", path);
	return insert(json, (size_t)(open - json) + 1, entry);
}

/* The first vif's hotplug script: path (replacing one named already). */
static char *set_script(const char *json, const char *path)
{
	const char *nics = strstr(json, "\"nics\""), *open, *close, *old;
	char entry[512], *tmp, *out;

	if (!nics || !(open = strchr(nics, '{')) || !(close = strchr(open, '}')))
		return NULL;
	old = strstr(open, "\"script\"");
	if (old && old < close) {
		/* drop the old pair: "script": "VALUE", (or without the comma, last) */
		const char *v = strchr(old + 8, '"'), *end = v ? strchr(v + 1, '"') : NULL;
		size_t skip;

		if (!end)
			return NULL;
		end++;
		while (*end == ' ' || *end == '\n' || *end == '\t')
			end++;
		if (*end == ',')
			end++;
		skip = (size_t)(end - old);
		tmp = malloc(strlen(json) + 1);
		if (!tmp)
			return NULL;
		memcpy(tmp, json, (size_t)(old - json));
		strcpy(tmp + (old - json), old + skip);
	} else {
		tmp = strdup(json);
	}
	if (!tmp)
		return NULL;
	open = strchr(strstr(tmp, "\"nics\""), '{');
	snprintf(entry, sizeof(entry), " \"script\": \"%s\",", path);
	out = insert(tmp, (size_t)(open - tmp) + 1, entry);
	free(tmp);
	return out;
}

int main(int argc, char **argv)
{
	const char *psk = NULL, *disk = NULL, *script = NULL;
	struct migr_transport_opts o;
	struct migr_host_info hi;
	struct migr_dom_info di;
	struct migr_msg m, r;
	struct migr_conn *c = NULL;
	struct migr_hv *hv = NULL;
	struct migr_id id;
	char err[256], *json = NULL, *bad;
	size_t len;
	uint32_t domid, version;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", (const struct option[]) {
			{ "psk", 1, 0, 'p' }, { "disk", 1, 0, 'd' }, { "script", 1, 0, 's' },
			{ 0, 0, 0, 0 } }, NULL)) != -1) {
		switch (opt) {
		case 'p': psk = optarg; break;
		case 'd': disk = optarg; break;
		case 's': script = optarg; break;
		default: return 1;
		}
	}
	if (argc - optind != 2 || !psk || !disk == !script) {
		fprintf(stderr, "usage: hostile-src --psk FILE (--disk PATH | --script PATH) NAME "
			"HOST[:PORT]\n");
		return 1;
	}
	if (migr_hv_xen_open(NULL, &hv))
		return die("hypervisor", "cannot open");
	if (hv->ops->domain_find(hv, argv[optind], &domid) || hv->ops->domain_info(hv, domid, &di) ||
	    hv->ops->host_info(hv, &hi) || hv->ops->domain_config(hv, domid, &json, &len))
		return die(argv[optind], "no such guest, or its configuration cannot be read");
	bad = disk ? add_disk(json, disk) : set_script(json, script);
	if (!bad)
		return die(argv[optind], "cannot edit its configuration");

	migr_transport_opts_init(&o);
	o.psk_file = psk;
	o.io_timeout_ms = 60000;
	if (migr_connect(argv[optind + 1], &o, &c, err, sizeof(err)))
		return die(argv[optind + 1], err);
	migr_id_new(&id);
	migr_msg_hello(&m, MIGR_PURPOSE_MIGRATE, &id);
	migr_msg_init(&r, MIGR_MSG_HELLO);
	rc = migr_msg_send(c, &m);
	if (!rc)
		rc = migr_msg_expect(c, MIGR_MSG_HELLO, &r);
	if (!rc)
		rc = migr_hello_check(&r.hello, &id, &version, err, sizeof(err));
	migr_msg_release(&r);
	if (rc || version < 2)
		return die("HELLO", rc ? migr_conn_error(c) : "the target speaks version 1");

	migr_msg_init(&m, MIGR_MSG_PREFLIGHT);
	snprintf(m.preflight.name, sizeof(m.preflight.name), "%s", di.name);
	m.preflight.memory_kib = di.max_mem_kib > di.mem_kib ? di.max_mem_kib : di.mem_kib;
	m.preflight.vcpus = di.vcpus;
	m.preflight.guest_type = di.type == MIGR_GUEST_PV ? MIGR_WIRE_GUEST_PV :
				 di.type == MIGR_GUEST_HVM ? MIGR_WIRE_GUEST_HVM : MIGR_WIRE_GUEST_PVH;
	snprintf(m.preflight.xen_version, sizeof(m.preflight.xen_version), "%u.%u%s",
		 hi.xen_major, hi.xen_minor, hi.xen_extra);
	rc = migr_msg_send(c, &m);
	migr_msg_init(&m, MIGR_MSG_CONFIG);
	m.config.json = bad;
	m.config.len = strlen(bad);
	if (!rc)
		rc = migr_msg_send(c, &m);
	migr_msg_init(&r, MIGR_MSG_PREFLIGHT_REPLY);
	if (!rc)
		rc = migr_msg_expect(c, MIGR_MSG_PREFLIGHT_REPLY, &r);
	if (rc)
		return die("PREFLIGHT", migr_conn_error(c));
	if (r.preflight_reply.accept) {
		printf("accepted\n");
		migr_msg_send_abort(c, MIGR_ABORT_OTHER, "hostile-src stops here");
		migr_conn_close(c);
		return 2;
	}
	printf("refused: %s: %s\n", migr_refuse_name(r.preflight_reply.refuse),
	       r.preflight_reply.reason);
	migr_conn_close(c);
	free(bad);
	free(json);
	migr_hv_close(hv);
	return 0;
}

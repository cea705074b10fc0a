/*
 * test_config_rules.c: the target's rules over a received libxl configuration
 * (migr/config_rules.h, docs/target-rules.md).
 *
 * The ordinary guests are the nested lab's (tests/nested/lib.sh, guest_create), as a
 * source sends them: the xl configuration
 *     name = "g1"  type = "pvh"|"pv"  kernel = ".../vmlinuz"  ramdisk = ".../guest.cpio.gz"
 *     extra = "console=hvc0 ..."  memory = 128  vcpus = 1
 *     vif = [ "mac=00:16:3e:0a:00:65,bridge=xenbr0" ]  on_crash = "preserve"
 * after libxl's defaults, as libxl_retrieve_domain_configuration() and
 * libxl_domain_config_to_json() give it (xl's "extra" is b_info.cmdline; libxl names the
 * vif script by its path in the scripts directory). They must pass unchanged but for
 * c_info.domid where the rules allow their kernel's directory, and without the kernel and
 * ramdisk paths (never read by a restore) under the defaults.
 *
 * Then a table of hostile fields, each added to the ordinary PVH guest: each must be
 * refused, with its name (and value) in the message, and nothing written.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "libmigr.h"
#include "unit.h"

#define LAB_IMG "/src/build/lab/img"

/* Slots: c_info extra, b_info extra, the b_info union, the rest of the top level. */
#define PVH_UNION "\"type.pvh\":{\"pvshim\":\"False\"}"
#define PV_UNION  "\"type.pv\":{\"slack_memkb\":0}"
#define LAB_NICS  "\"nics\":[{\"devid\":0,\"mac\":\"00:16:3e:0a:00:65\",\"bridge\":\"xenbr0\"," \
		  "\"script\":\"/etc/xen/scripts/vif-bridge\",\"nictype\":\"vif\"}]"

static const char CFG_FMT[] =
	"{\"c_info\":{\"type\":\"%s\",%s\"name\":\"g1\",\"domid\":7,"
	"\"uuid\":\"5d3f1a2b-8c4e-4f6a-9b7d-0e1f2a3b4c5d\",\"run_hotplug_scripts\":\"True\","
	"\"passthrough\":\"disabled\",\"xend_suspend_evtchn_compat\":\"False\"%s},"
	"\"b_info\":{\"max_vcpus\":1,\"avail_vcpus\":[0],\"numa_placement\":\"True\","
	"\"max_memkb\":131072,\"target_memkb\":131072,\"video_memkb\":0,\"shadow_memkb\":1536,"
	"\"sched_params\":{\"sched\":\"credit2\",\"weight\":256,\"cap\":0},"
	"\"claim_mode\":\"False\",\"event_channels\":1023,"
	"\"max_grant_frames\":64,\"max_maptrack_frames\":1024,\"max_grant_version\":2,"
	"\"device_model_version\":\"qemu_xen\","
	"\"kernel\":\"" LAB_IMG "/vmlinuz\","
	"\"cmdline\":\"console=hvc0 noxsave loglevel=4 lab.ip=169.254.10.101/24 "
	"lab.memwork=-w,16,-r,1000\","
	"\"ramdisk\":\"" LAB_IMG "/guest.cpio.gz\","
	"\"acpi\":\"True\",\"arch_arm\":{},\"arch_x86\":{\"msr_relaxed\":\"False\"}%s,%s},"
	"%s,"
	"\"on_poweroff\":\"destroy\",\"on_reboot\":\"restart\",\"on_watchdog\":\"destroy\","
	"\"on_crash\":\"preserve\",\"on_soft_reset\":\"soft_reset\"}";

static char *cfg(bool pv, const char *cinfo, const char *binfo, const char *uni,
		 const char *top)
{
	char *s = NULL;

	if (asprintf(&s, CFG_FMT, pv ? "pv" : "pvh", pv ? "" : "\"hap\":\"True\",",
		     cinfo ? cinfo : "", binfo ? binfo : "", uni ? uni : pv ? PV_UNION : PVH_UNION,
		     top ? top : LAB_NICS) < 0)
		abort();
	return s;
}

/* The scripts this "host" has. */
static bool fake_scripts(const char *dir, const char *name, void *arg)
{
	static const char *const have[] = { "vif-bridge", "vif-route", "block", NULL };

	if (strcmp(dir, (const char *)arg))
		return false;
	for (const char *const *h = have; *h; h++)
		if (!strcmp(name, *h))
			return true;
	return false;
}

static void rules_init(struct migr_target_rules *r)
{
	migr_target_rules_init(r);
	r->script_exists = fake_scripts;
	r->script_arg = (void *)MIGR_DEFAULT_SCRIPTS_DIR;
}

static void opt(struct migr_target_rules *r, const char *name, const char *value)
{
	char err[256];
	int rc = migr_target_rules_option(r, name, value, err, sizeof(err));

	CHECK_EQ(rc, 0);
	if (rc)
		fprintf(stderr, "  option %s %s: %s\n", name, value, err);
}

/* ---- comparing configurations by meaning ---------------------------------------------- */

static bool listed(const char *path, const char *const *skip)
{
	for (; skip && *skip; skip++)
		if (!strcmp(path, *skip))
			return true;
	return false;
}

/* Whether b holds what a holds, objects compared as sets of keys, but for the paths in
 * skip: absent from b whatever a had. */
static bool same(yajl_val a, yajl_val b, const char *path, const char *const *skip)
{
	char p[256];

	if (!a || !b || a->type != b->type)
		return false;
	switch (a->type) {
	case yajl_t_string:
		return !strcmp(a->u.string, b->u.string);
	case yajl_t_number:
		return !strcmp(a->u.number.r, b->u.number.r);
	case yajl_t_array:
		if (a->u.array.len != b->u.array.len)
			return false;
		for (size_t i = 0; i < a->u.array.len; i++) {
			snprintf(p, sizeof(p), "%s[%zu]", path, i);
			if (!same(a->u.array.values[i], b->u.array.values[i], p, skip))
				return false;
		}
		return true;
	case yajl_t_object: {
		size_t kept = 0;

		for (size_t i = 0; i < a->u.object.len; i++) {
			const char *k = a->u.object.keys[i];
			const char *key[] = { k, NULL };
			yajl_val bv = yajl_tree_get(b, key, yajl_t_any);

			snprintf(p, sizeof(p), "%s%s%s", path, path[0] ? "." : "", k);
			if (listed(p, skip)) {
				if (bv) {
					fprintf(stderr, "  %s was to be dropped\n", p);
					return false;
				}
				continue;
			}
			if (!same(a->u.object.values[i], bv, p, skip)) {
				fprintf(stderr, "  %s differs\n", p);
				return false;
			}
			kept++;
		}
		return kept == b->u.object.len;
	}
	default:
		return true;
	}
}

static bool same_json(const char *in, const char *out, const char *const *skip)
{
	char err[128];
	yajl_val a = yajl_tree_parse(in, err, sizeof(err));
	yajl_val b = out ? yajl_tree_parse(out, err, sizeof(err)) : NULL;
	bool r = a && b && same(a, b, "", skip);

	yajl_tree_free(a);
	yajl_tree_free(b);
	return r;
}

/* ---- accepted ------------------------------------------------------------------------ */

static void test_lab_guests(void)
{
	static const char *const only_domid[] = { "c_info.domid", NULL };
	static const char *const boot_too[] = { "c_info.domid", "b_info.kernel",
						"b_info.ramdisk", NULL };
	struct migr_target_rules r;
	char msg[512], *out;

	for (int pv = 0; pv < 2; pv++) {
		char *in = cfg(pv, NULL, NULL, NULL, NULL);

		/* where the kernel's directory is allowed: unchanged but for domid */
		rules_init(&r);
		opt(&r, "boot-dir", LAB_IMG);
		out = NULL;
		CHECK_EQ(migr_config_apply_rules(in, &r, &out, msg, sizeof(msg)), 0);
		CHECK(same_json(in, out, only_domid));
		CHECK_STR(msg, "");
		free(out);
		migr_target_rules_dispose(&r);

		/* the defaults: kernel and ramdisk dropped, and said so */
		rules_init(&r);
		out = NULL;
		CHECK_EQ(migr_config_apply_rules(in, &r, &out, msg, sizeof(msg)), 0);
		CHECK(same_json(in, out, boot_too));
		CHECK(strstr(msg, "b_info.kernel") && strstr(msg, "b_info.ramdisk"));
		CHECK(!strstr(msg, "domid"));
		free(out);
		migr_target_rules_dispose(&r);
		free(in);
	}
	{
		/* a path spelt like a defbool is a path: dropped, not kept as "off" */
		char *in = cfg(false, NULL, ",\"device_tree\":\"False\"", NULL, NULL);

		rules_init(&r);
		out = NULL;
		CHECK_EQ(migr_config_apply_rules(in, &r, &out, msg, sizeof(msg)), 0);
		CHECK(strstr(msg, "b_info.device_tree") != NULL);
		CHECK(out && !strstr(out, "device_tree"));
		free(out);
		migr_target_rules_dispose(&r);
		free(in);
	}
}

/* A guest whose last receiver died before it put the stock vif script back still names
 * migr's fast helper: it stands for the stock vif-bridge, and nothing else of that name
 * outside the scripts directory is taken. */
static void test_helper_left_named(void)
{
	static const char nics[] = "\"nics\":[{\"devid\":0,\"mac\":\"00:16:3e:0a:00:65\","
		"\"bridge\":\"xenbr0\",\"script\":\"/src/build/bin/migr-vif-bridge\","
		"\"nictype\":\"vif\"}]";
	static const char disks[] = "\"disks\":[{\"pdev_path\":\"/var/lib/xen/images/a\","
		"\"vdev\":\"xvda\",\"format\":\"raw\",\"script\":\"/tmp/migr-vif-bridge\"}]";
	struct migr_target_rules r;
	char msg[512], *out = NULL, *in = cfg(false, NULL, NULL, NULL, nics);

	rules_init(&r);
	opt(&r, "boot-dir", LAB_IMG);
	CHECK_EQ(migr_config_apply_rules(in, &r, &out, msg, sizeof(msg)), 0);
	CHECK(out && strstr(out, "\"script\":\"" MIGR_DEFAULT_SCRIPTS_DIR "/vif-bridge\""));
	CHECK(out && !strstr(out, "migr-vif-bridge"));
	free(out);
	free(in);
	/* a disk script of that name is no vif helper: refused as any other path */
	out = NULL;
	opt(&r, "storage", "/var/lib/xen/images/");
	in = NULL;
	if (asprintf(&in, "{\"c_info\":{\"type\":\"pvh\",\"name\":\"g1\"},\"b_info\":"
		     "{\"max_memkb\":131072,\"type.pvh\":{}},%s}", disks) > 0) {
		CHECK(migr_config_apply_rules(in, &r, &out, msg, sizeof(msg)) != 0);
		CHECK(strstr(msg, "disks[0].script") != NULL);
		free(in);
	}
	free(out);
	migr_target_rules_dispose(&r);
}

static void test_storage(void)
{
	const char *pdev[] = { "disks", NULL };
	struct migr_target_rules r;
	char msg[512], *out, *in;
	char err[64];
	yajl_val t;

	rules_init(&r);
	opt(&r, "storage", "/var/lib/xen/images/");
	opt(&r, "storage-map", "/srv/guests=/var/lib/xen/images/from-a");
	opt(&r, "boot-dir", LAB_IMG);

	/* rewritten by the map */
	in = cfg(false, NULL, NULL, NULL, LAB_NICS ",\"disks\":[{\"pdev_path\":"
		 "\"/srv/guests/g1.img\",\"vdev\":\"xvda\",\"backend\":\"phy\",\"format\":"
		 "\"raw\",\"readwrite\":1,\"script\":\"block\",\"discard_enable\":\"True\","
		 "\"colo_enable\":\"False\",\"colo_restore_enable\":\"False\","
		 "\"trusted\":\"True\"},{\"pdev_path\":\"/var/lib/xen/images/g1-data.img\","
		 "\"vdev\":\"xvdb\",\"format\":\"raw\"},{\"vdev\":\"xvdc\",\"is_cdrom\":1,"
		 "\"format\":\"empty\"}]");
	out = NULL;
	CHECK_EQ(migr_config_apply_rules(in, &r, &out, msg, sizeof(msg)), 0);
	if (out) {
		t = yajl_tree_parse(out, err, sizeof(err));
		yajl_val d = yajl_tree_get(t, pdev, yajl_t_array);
		const char *p0[] = { "pdev_path", NULL };


		CHECK(d && d->u.array.len == 3);
		if (d && d->u.array.len == 3) {
			CHECK_STR(YAJL_GET_STRING(yajl_tree_get(d->u.array.values[0], p0,
								yajl_t_string)),
				  "/var/lib/xen/images/from-a/g1.img");
			CHECK_STR(YAJL_GET_STRING(yajl_tree_get(d->u.array.values[1], p0,
								yajl_t_string)),
				  "/var/lib/xen/images/g1-data.img");
		}
		yajl_tree_free(t);
	}
	free(out);
	free(in);

	/* prefixes match whole components; ".." never passes */
	static const char *const bad[] = { "/srv/guestsX/g1.img", "/var/lib/xen/imagesX",
		"/var/lib/xen/images/../../../dev/sda", "/srv/guests/../../dev/sda",
		"/dev/sda", "relative/g1.img", NULL };
	for (const char *const *b = bad; *b; b++) {
		char top[512];

		snprintf(top, sizeof(top), LAB_NICS ",\"disks\":[{\"pdev_path\":\"%s\","
			 "\"vdev\":\"xvda\",\"format\":\"raw\"}]", *b);
		in = cfg(false, NULL, NULL, NULL, top);
		out = NULL;
		CHECK_EQ(migr_config_apply_rules(in, &r, &out, msg, sizeof(msg)), -EPERM);
		CHECK(out == NULL);
		CHECK(strstr(msg, "disks[0].pdev_path") && strstr(msg, *b));
		free(in);
	}
	migr_target_rules_dispose(&r);

	/* the example of the documentation */
	rules_init(&r);
	opt(&r, "storage", "/var/lib/xen/images/");
	in = cfg(false, NULL, NULL, NULL, LAB_NICS ",\"disks\":[{\"pdev_path\":\"/dev/sda\","
		 "\"vdev\":\"xvda\",\"format\":\"raw\"}]");
	CHECK_EQ(migr_config_apply_rules(in, &r, &out, msg, sizeof(msg)), -EPERM);
	CHECK_STR(msg, "refused by the target's rules: disks[0].pdev_path \"/dev/sda\" is outside "
		  "the allowed storage (allowed: /var/lib/xen/images/)");
	free(in);
	migr_target_rules_dispose(&r);
}

/* What an allow flag lets through, is written as received. */
static void test_allowed(void)
{
	static const struct {
		const char *opt, *val, *binfo, *top;
	} cases[] = {
		{ "allow", "pci", NULL, LAB_NICS ",\"pcidevs\":[{\"func\":0,\"dev\":2,\"bus\":0,"
		  "\"domain\":0,\"name\":\"0000:00:02.0\"}]" },
		{ "allow", "iomem,irqs,ioports", ",\"iomem\":[{\"start\":4096,\"number\":1}],"
		  "\"irqs\":[5],\"ioports\":[{\"first\":888,\"number\":8}]", NULL },
		{ "allow", "device-model", ",\"device_model\":\"/usr/lib/xen/bin/qemu-dm\","
		  "\"extra\":[\"-S\"]", NULL },
		{ "allow", "backend", NULL, "\"nics\":[{\"backend_domid\":3,\"mac\":"
		  "\"00:16:3e:0a:00:65\",\"bridge\":\"xenbr0\",\"script\":\"vif-bridge\"}]" },
		{ "allow-bridge", "xenbr0,br-lab", NULL, "\"nics\":[{\"mac\":\"00:16:3e:0a:00:65\","
		  "\"bridge\":\"br-lab\"},{\"mac\":\"00:16:3e:0a:00:66\"}]" },
		{ "allow", "bootloader", ",\"bootloader\":\"pygrub\"", NULL },
	};
	static const char *const skip[] = { "c_info.domid", NULL };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct migr_target_rules r;
		char msg[512], *out = NULL, *in;
		int rc;

		rules_init(&r);
		opt(&r, "boot-dir", LAB_IMG);
		opt(&r, cases[i].opt, cases[i].val);
		in = cfg(false, NULL, cases[i].binfo, NULL, cases[i].top);
		rc = migr_config_apply_rules(in, &r, &out, msg, sizeof(msg));
		CHECK_EQ(rc, 0);
		if (rc)
			fprintf(stderr, "  --%s %s: %s\n", cases[i].opt, cases[i].val, msg);
		CHECK(same_json(in, out, skip));
		free(out);
		free(in);
		migr_target_rules_dispose(&r);
	}
}

/* ---- refused ------------------------------------------------------------------------- */

struct hostile {
	const char *what;
	bool pv;
	const char *cinfo, *binfo, *uni, *top;   /* slots of CFG_FMT; NULL: the lab's */
	const char *allow;                        /* an --allow that does not cover it */
	const char *bridges;                      /* an --allow-bridge */
	const char *expect[3];                    /* in the message */
};

#define NIC(extra) "\"nics\":[{\"mac\":\"00:16:3e:0a:00:65\",\"bridge\":\"xenbr0\"" extra "}]"

static const struct hostile hostile[] = {
	{ "a dom0 disk", .top = LAB_NICS ",\"disks\":[{\"pdev_path\":\"/dev/sda\",\"vdev\":"
	  "\"xvda\",\"format\":\"raw\",\"readwrite\":1}]",
	  .expect = { "disks[0].pdev_path \"/dev/sda\"", "outside the allowed storage" } },
	{ "an absolute vif script", .top = NIC(",\"script\":\"/bin/sh\""),
	  .expect = { "nics[0].script \"/bin/sh\"", "not a hotplug script" } },
	{ "a ../ vif script", .top = NIC(",\"script\":\"../../../bin/sh\""),
	  .expect = { "nics[0].script \"../../../bin/sh\"" } },
	{ "a ../ inside the scripts dir", .top = NIC(",\"script\":"
	  "\"/etc/xen/scripts/../../../bin/sh\""),
	  .expect = { "nics[0].script \"/etc/xen/scripts/../../../bin/sh\"" } },
	{ "a script this host lacks", .top = NIC(",\"script\":\"vif-evil\""),
	  .expect = { "nics[0].script \"vif-evil\"" } },
	{ "an absolute disk script", .top = LAB_NICS ",\"disks\":[{\"vdev\":\"xvda\","
	  "\"format\":\"empty\",\"is_cdrom\":1,\"script\":\"/tmp/x\"}]",
	  .expect = { "disks[0].script \"/tmp/x\"" } },
	{ "a bridge not allowed", .top = "\"nics\":[{\"mac\":\"00:16:3e:0a:00:65\","
	  "\"bridge\":\"eth0\"}]",
	  .expect = { "nics[0].bridge \"eth0\"", "not a bridge allowed here" } },
	{ "a vif on the default bridge when only others are allowed", .bridges = "br-lab",
	  .top = "\"nics\":[{\"mac\":\"00:16:3e:0a:00:65\"}]",
	  .expect = { "nics[0].bridge", "xenbr0" } },
	{ "a vif backend in another domain", .top = NIC(",\"backend_domid\":1"),
	  .expect = { "nics[0].backend_domid 1", "--allow backend" } },
	{ "a disk backend by name", .top = LAB_NICS ",\"disks\":[{\"backend_domname\":"
	  "\"storagedom\",\"vdev\":\"xvda\",\"format\":\"empty\"}]",
	  .expect = { "disks[0].backend_domname \"storagedom\"" } },
	{ "a shell in the vif's ip", .top = NIC(",\"ip\":\"10.0.0.1; reboot\""),
	  .expect = { "nics[0].ip \"10.0.0.1; reboot\"" } },
	{ "a gateway device", .top = NIC(",\"gatewaydev\":\"eth0\""),
	  .expect = { "nics[0].gatewaydev \"eth0\"" } },
	{ "a COLO mirror", .top = NIC(",\"colo_sock_mirror_ip\":\"10.9.9.9\""),
	  .expect = { "nics[0].colo_sock_mirror_ip" } },
	{ "a qcow2 image", .top = LAB_NICS ",\"disks\":[{\"vdev\":\"xvda\","
	  "\"format\":\"qcow2\"}]",
	  .expect = { "disks[0].format \"qcow2\"", "--allow disk-format" } },
	{ "a disk whose format libxl would guess", .top = LAB_NICS ",\"disks\":[{\"vdev\":"
	  "\"xvda\",\"pdev_path\":\"\"}]",
	  .expect = { "disks[0].format" } },
	{ "a COLO disk export", .top = LAB_NICS ",\"disks\":[{\"vdev\":\"xvda\",\"format\":"
	  "\"raw\",\"colo_export\":\"/root\",\"hidden_disk\":\"/etc/shadow\"}]",
	  .expect = { "disks[0].colo_export \"/root\"", "disks[0].hidden_disk" } },
	{ "PCI passthrough", .allow = "iomem", .top = LAB_NICS ",\"pcidevs\":[{\"func\":0,"
	  "\"dev\":2,\"bus\":0,\"domain\":0,\"name\":\"0000:00:02.0\"}]",
	  .expect = { "pcidevs[0].name \"0000:00:02.0\"", "--allow pci" } },
	{ "reserved device memory", .top = LAB_NICS ",\"rdms\":[{\"start\":0,\"size\":4096}]",
	  .expect = { "rdms[0]" } },
	{ "host memory", .allow = "pci,ioports,irqs", .binfo = ",\"iomem\":[{\"start\":"
	  "4096,\"number\":1}]", .expect = { "b_info.iomem [1 entry]", "--allow iomem" } },
	{ "host I/O ports", .binfo = ",\"ioports\":[{\"first\":888,\"number\":8}]",
	  .expect = { "b_info.ioports" } },
	{ "host interrupts", .binfo = ",\"irqs\":[5,7]", .expect = { "b_info.irqs [2 entries]" } },
	{ "a device model override", .binfo = ",\"device_model\":\"/tmp/qemu\"",
	  .expect = { "b_info.device_model \"/tmp/qemu\"", "--allow device-model" } },
	{ "qemu arguments", .binfo = ",\"extra\":[\"-drive\",\"file=/dev/sda\"]",
	  .expect = { "b_info.extra" } },
	{ "qemu as root", .binfo = ",\"device_model_user\":\"root\"",
	  .expect = { "b_info.device_model_user \"root\"" } },
	{ "a stub domain kernel", .binfo = ",\"stubdomain_kernel\":\"/etc/shadow\"",
	  .expect = { "b_info.stubdomain_kernel \"/etc/shadow\"" } },
	{ "a bootloader", .binfo = ",\"bootloader\":\"/bin/sh\"",
	  .expect = { "b_info.bootloader \"/bin/sh\"", "--allow bootloader" } },
	{ "a bootloader by path, allowed by name", .allow = "bootloader",
	  .binfo = ",\"bootloader\":\"/bin/sh\"",
	  .expect = { "b_info.bootloader \"/bin/sh\"", "bare program name" } },
	{ "pygrub, the PV way", .pv = true, .uni = "\"type.pv\":{\"bootloader\":\"pygrub\","
	  "\"bootloader_args\":[\"-q\"]}",
	  .expect = { "b_info.type.pv.bootloader \"pygrub\"", "b_info.type.pv.bootloader_args" } },
	{ "the host's memory map", .pv = true, .uni = "\"type.pv\":{\"e820_host\":\"True\"}",
	  .expect = { "b_info.type.pv.e820_host \"True\"" } },
	{ "a shared dom0 directory", .top = LAB_NICS ",\"p9s\":[{\"tag\":\"share\",\"path\":"
	  "\"/\",\"security_model\":\"passthrough\"}]",
	  .expect = { "p9s[0].path \"/\"" } },
	{ "dom0's network stack", .top = LAB_NICS ",\"pvcallsifs\":[{}]",
	  .expect = { "pvcallsifs[0]" } },
	{ "a framebuffer", .top = LAB_NICS ",\"vfbs\":[{\"vnc\":{\"enable\":\"True\","
	  "\"listen\":\"0.0.0.0\"}}],\"vkbs\":[{}]",
	  .expect = { "vfbs[0]", "vkbs[0]" } },
	{ "a channel's socket", .allow = "device-model", .top = LAB_NICS ",\"channels\":[{"
	  "\"name\":\"org.x\",\"connection.socket\":{\"path\":\"/etc/passwd\"}}]",
	  .expect = { "channels[0].connection.socket" } },
	{ "two channel connections", .allow = "device-model", .top = LAB_NICS ",\"channels\":"
	  "[{\"name\":\"org.x\",\"connection.pty\":{},\"connection.unknown\":{}}]",
	  .expect = { "second connection type" } },
	{ "a channel", .top = LAB_NICS ",\"channels\":[{\"name\":\"org.x\","
	  "\"connection.pty\":{}}]", .expect = { "channels[0].name \"org.x\"" } },
	{ "a vTPM", .top = LAB_NICS ",\"vtpms\":[{\"backend_domid\":2}]",
	  .expect = { "vtpms[0]" } },
	{ "host USB", .top = LAB_NICS ",\"usbctrls\":[{\"version\":2}],\"usbdevs\":[{\"ctrl\":0,"
	  "\"type.hostdev\":{\"hostbus\":1,\"hostaddr\":2}}]",
	  .expect = { "usbctrls[0]", "usbdevs[0]" } },
	{ "device tree nodes", .top = LAB_NICS ",\"dtdevs\":[{\"path\":\"/soc/eth\"}]",
	  .expect = { "dtdevs[0].path \"/soc/eth\"" } },
	{ "display and sound", .top = LAB_NICS ",\"vdispls\":[{}],\"vsnds\":[{}]",
	  .expect = { "vdispls[0]", "vsnds[0]" } },
	{ "an HVM guest", .uni = "\"type.hvm\":{\"firmware\":\"/etc/shadow\"}",
	  .expect = { "b_info.type.hvm", "device model" } },
	{ "two guest types", .uni = PVH_UNION ",\"type.pv\":{}",
	  .expect = { "b_info.type.pv", "second guest type" } },
	{ "types that disagree", .pv = true, .uni = PVH_UNION,
	  .expect = { "c_info.type \"pv\"", "pvh" } },
	{ "xenstore nodes", .cinfo = ",\"xsdata\":{\"console/tty\":\"/dev/sda\"}",
	  .expect = { "c_info.xsdata" } },
	{ "an XSM label", .cinfo = ",\"ssid_label\":\"system_u:system_r:dom0_t\"",
	  .expect = { "c_info.ssid_label" } },
	{ "a driver domain", .cinfo = ",\"driver_domain\":\"True\"",
	  .expect = { "c_info.driver_domain \"True\"" } },
	{ "nested virtualisation", .binfo = ",\"nested_hvm\":\"True\"",
	  .expect = { "b_info.nested_hvm" } },
	{ "vPMU and altp2m", .binfo = ",\"vpmu\":\"True\",\"altp2m\":\"mixed\"",
	  .expect = { "b_info.vpmu", "b_info.altp2m \"mixed\"" } },
	{ "host NUMA nodes", .binfo = ",\"vnuma_nodes\":[{\"memkb\":131072,\"pnode\":1}]",
	  .expect = { "b_info.vnuma_nodes" } },
	{ "a shadow pool bigger than the guest", .binfo = ",\"iommu_memkb\":1073741824",
	  .expect = { "b_info.iommu_memkb 1073741824" } },
	{ "qemu arguments for PV, and the host's TEE", .binfo = ",\"vcpu_soft_affinity\":[[1]],"
	  "\"extra_pv\":[\"-x\"],\"tee\":\"optee\"",
	  .expect = { "b_info.extra_pv", "b_info.tee \"optee\"" } },
	{ "processor trace buffers", .binfo = ",\"vmtrace_buf_kb\":65536",
	  .expect = { "b_info.vmtrace_buf_kb 65536" } },
	{ "an XSM label for execution", .cinfo = ",\"oos\":\"True\"", .binfo = ",\"exec_ssidref\":3",
	  .expect = { "b_info.exec_ssidref 3" } },
	{ "a device model named like a defbool", .binfo = ",\"device_model\":\"False\"",
	  .expect = { "b_info.device_model \"False\"" } },
	{ "a control character in a key", .binfo = ",\"irqs\":[1]",
	  .top = LAB_NICS ",\"p9s\\u0001\":[]",
	  .expect = { "b_info.irqs" } },
	{ NULL }
};

/* Separate: they change the lab's own fields. */
static void test_hostile_own_fields(void)
{
	static const struct { const char *from, *to, *expect; } swaps[] = {
		{ "\"max_vcpus\":1", "\"max_vcpus\":100000", "b_info.max_vcpus 100000" },
		{ "\"avail_vcpus\":[0]", "\"avail_vcpus\":[2147483647]", "b_info.avail_vcpus" },
		{ "\"shadow_memkb\":1536", "\"shadow_memkb\":1073741824",
		  "b_info.shadow_memkb 1073741824" },
		{ "5d3f1a2b-8c4e-4f6a-9b7d-0e1f2a3b4c5d", "5d3f1a2b-8c4e-4f6a-9b7d-0e1f2a3b4c5;",
		  "c_info.uuid" },
		{ "\"name\":\"g1\"", "\"name\":17", "c_info.name 17" },
		{ "\"passthrough\":\"disabled\"", "\"passthrough\":\"enabled\"",
		  "c_info.passthrough \"enabled\"" },
	};

	for (size_t i = 0; i < sizeof(swaps) / sizeof(swaps[0]); i++) {
		struct migr_target_rules r;
		char msg[512], *out = NULL, *in = cfg(false, NULL, NULL, NULL, NULL), *at;
		char buf[4096];

		at = strstr(in, swaps[i].from);
		CHECK(at != NULL);
		if (!at) {
			free(in);
			continue;
		}
		snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - in), in, swaps[i].to,
			 at + strlen(swaps[i].from));
		rules_init(&r);
		CHECK_EQ(migr_config_apply_rules(buf, &r, &out, msg, sizeof(msg)), -EPERM);
		CHECK(out == NULL);
		CHECK(strstr(msg, swaps[i].expect) != NULL);
		if (!strstr(msg, swaps[i].expect))
			fprintf(stderr, "  %s: \"%s\"\n", swaps[i].expect, msg);
		free(in);
		migr_target_rules_dispose(&r);
	}
}

static void test_hostile(void)
{
	for (const struct hostile *h = hostile; h->what; h++) {
		struct migr_target_rules r;
		char msg[1024], *out = NULL, *in;
		int rc;

		rules_init(&r);
		opt(&r, "boot-dir", LAB_IMG);
		if (h->allow)
			opt(&r, "allow", h->allow);
		if (h->bridges)
			opt(&r, "allow-bridge", h->bridges);
		in = cfg(h->pv, h->cinfo, h->binfo, h->uni, h->top);
		rc = migr_config_apply_rules(in, &r, &out, msg, sizeof(msg));
		CHECK_EQ(rc, -EPERM);
		CHECK(out == NULL);
		CHECK(!strncmp(msg, "refused by the target's rules: ", 31));
		for (int i = 0; i < 3 && h->expect[i]; i++) {
			CHECK(strstr(msg, h->expect[i]) != NULL);
			if (!strstr(msg, h->expect[i]))
				fprintf(stderr, "  %s: no \"%s\" in \"%s\"\n", h->what, h->expect[i],
					msg);
		}
		free(out);
		free(in);
		migr_target_rules_dispose(&r);
	}
}

/* Every offender is named, as many as fit, then how many more. */
static void test_all_named(void)
{
	struct migr_target_rules r;
	char big[2048], small[160], *out = NULL;
	char *in = cfg(false, NULL, ",\"device_model\":\"/tmp/q\",\"irqs\":[5]",
		       NULL, NIC(",\"script\":\"/bin/sh\"") ",\"disks\":[{\"pdev_path\":"
		       "\"/dev/sda\",\"vdev\":\"xvda\",\"format\":\"raw\"}],\"pcidevs\":[{}]");
	static const char *const names[] = { "b_info.device_model", "b_info.irqs",
		"nics[0].script", "disks[0].pdev_path", "pcidevs[0]", NULL };

	rules_init(&r);
	CHECK_EQ(migr_config_apply_rules(in, &r, &out, big, sizeof(big)), -EPERM);
	for (const char *const *n = names; *n; n++)
		CHECK(strstr(big, *n) != NULL);
	CHECK(!strstr(big, "more)"));
	CHECK_EQ(migr_config_apply_rules(in, &r, &out, small, sizeof(small)), -EPERM);
	CHECK(strlen(small) < sizeof(small));
	CHECK(strstr(small, "b_info.device_model") != NULL);
	CHECK(strstr(small, "more)") != NULL);
	CHECK(out == NULL);
	/* a refusal with no room for a message is still a refusal */
	CHECK_EQ(migr_config_apply_rules(in, &r, &out, NULL, 0), -EPERM);
	free(in);
	migr_target_rules_dispose(&r);
}

/* Not a configuration at all. */
static void test_malformed(void)
{
	static const char *const bad[] = {
		"", "[]", "{}", "{\"c_info\":{}}", "{\"c_info\":{},\"b_info\":[]}", "nul",
		"{\"c_info\":{\"name\":\"a\"},\"b_info\":{},\"b_info\":{}}",
		"{\"c_info\":{\"name\":\"a\",\"name\":\"b\"},\"b_info\":{}}",
		"{\"c_info\":{/* */},\"b_info\":{}}",
		"{\"c_info\":{},\"b_info\":{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}",
		"{\"c_info\":{\"name\":\"\xff\"},\"b_info\":{}}",
		NULL };
	char msg[256], *out = NULL;

	for (const char *const *b = bad; *b; b++) {
		int rc = migr_config_apply_rules(*b, NULL, &out, msg, sizeof(msg));

		CHECK(rc == -EINVAL);
		if (rc != -EINVAL)
			fprintf(stderr, "  %s: %d %s\n", *b, rc, msg);
		CHECK(out == NULL);
		CHECK(msg[0] != '\0');
	}
	CHECK_EQ(migr_config_apply_rules(NULL, NULL, &out, msg, sizeof(msg)), -EINVAL);
}

static void test_options(void)
{
	struct migr_target_rules r;
	char err[256];

	migr_target_rules_init(&r);
	CHECK_EQ(migr_target_rules_option(&r, "allow", "pci,irqs", err, sizeof(err)), 0);
	CHECK_EQ(r.allow, MIGR_ALLOW_PCI | MIGR_ALLOW_IRQS);
	CHECK_EQ(migr_target_rules_option(&r, "allow", "pci,everything", err, sizeof(err)),
		 -EINVAL);
	CHECK(strstr(err, "everything") != NULL);
	CHECK_EQ(migr_target_rules_option(&r, "allow-bridge", "br0,br 1", err, sizeof(err)),
		 -EINVAL);
	CHECK_EQ(migr_target_rules_option(&r, "storage", "images", err, sizeof(err)), -EINVAL);
	CHECK_EQ(migr_target_rules_option(&r, "storage", "/a/../b", err, sizeof(err)), -EINVAL);
	CHECK_EQ(migr_target_rules_option(&r, "storage-map", "/a", err, sizeof(err)), -EINVAL);
	CHECK_EQ(migr_target_rules_option(&r, "storage-map", "/a=b", err, sizeof(err)), -EINVAL);
	CHECK_EQ(migr_target_rules_option(&r, "scripts-dir", "/etc/xen/scripts/", err,
					  sizeof(err)), 0);
	CHECK_STR(r.scripts_dir, "/etc/xen/scripts");
	CHECK_EQ(migr_target_rules_option(&r, "listen", "x", err, sizeof(err)), -ENOENT);
	migr_target_rules_dispose(&r);
	migr_target_rules_dispose(NULL);
	CHECK(strstr(migr_target_rules_help(), "--storage-map") != NULL);
}

int main(void)
{
	test_lab_guests();
	test_helper_left_named();
	test_storage();
	test_allowed();
	test_hostile();
	test_hostile_own_fields();
	test_all_named();
	test_malformed();
	test_options();
	return unit_done("test_config_rules");
}

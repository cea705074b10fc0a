/*
 * hotplug.c: migr-vif-bridge, the fast vif hotplug helper (see migr/vif.h for why). A
 * program of its own, not in libmigr; it uses the library's rtnetlink client.
 *
 * Entry point: migr_vif_hotplug_main(). libxl runs it as it would run vif-bridge:
 * argv = { script, "online"|"offline", "type_if=vif" }, environment XENBUS_PATH
 * (backend/vif/DOMID/DEVID), vif (the backend device) and script.
 *
 * The fast path does what vif-bridge's "online" does when nothing unusual is configured:
 *   ip link set dev VIF down; ip link set dev VIF address fe:ff:ff:ff:ff:ff
 *   ip link set dev VIF mtu MTU (xenstore "mtu", else the bridge's), and the frontend's
 *     device/vif/DEVID/mtu node
 *   ip link set VIF master BRIDGE; ip link set dev VIF up
 *   xenstore-write XENBUS_PATH/hotplug-status connected
 * (vif-bridge also flushes the port's addresses while it is down: a device netback has
 * just created has none.) Everything else, and any step that fails, is handed to the
 * stock script by exec with the same arguments, so the result never differs from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include <xenstore.h>

#include "libmigr.h"
#include "fwd_int.h"      /* the rtnetlink client and link messages of the forwarding code */

static void say(const char *vif, const char *fmt, const char *arg)
{
	fprintf(stderr, "migr-vif-bridge: %s: ", vif ? vif : "?");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
}

static int exec_stock(char **argv, const char *vif, const char *why)
{
	char *args[4] = { (char *)MIGR_VIF_STOCK_SCRIPT, NULL, NULL, NULL };

	if (why)
		say(vif, "running the stock script: %s", why);
	for (int i = 1; i < 3 && argv[i]; i++)
		args[i] = argv[i];
	setenv("script", MIGR_VIF_STOCK_SCRIPT, 1);
	execv(MIGR_VIF_STOCK_SCRIPT, args);
	say(vif, "cannot run " MIGR_VIF_STOCK_SCRIPT ": %s", strerror(errno));
	return 1;
}

static char *xs_get(struct xs_handle *xsh, const char *dir, const char *node)
{
	char path[256];
	unsigned int len;

	if (snprintf(path, sizeof(path), "%s/%s", dir, node) >= (int)sizeof(path))
		return NULL;
	return xs_read(xsh, XBT_NULL, path, &len);
}

static bool xs_put(struct xs_handle *xsh, const char *path, const char *val)
{
	return xs_write(xsh, XBT_NULL, path, val, strlen(val));
}

static bool hooks_installed(void)
{
	glob_t g;
	bool any = false;

	if (glob(MIGR_XEN_SCRIPT_DIR "/vif-post.d/*.hook", 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			any |= access(g.gl_pathv[i], X_OK) == 0;
		globfree(&g);
	}
	return any;
}

static bool program_installed(const char *name)
{
	const char *p = getenv("PATH");
	char dir[4096], path[4200];

	if (!p || !*p)
		p = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	while (*p) {
		size_t n = strcspn(p, ":");

		if (n && n < sizeof(dir)) {
			memcpy(dir, p, n);
			dir[n] = 0;
			snprintf(path, sizeof(path), "%s/%s", dir, name);
			if (access(path, X_OK) == 0)
				return true;
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return false;
}

static bool is_bridge(const char *name)
{
	char path[128];
	struct stat st;

	if (strchr(name, '/') || snprintf(path, sizeof(path), "/sys/class/net/%s/bridge",
	                                  name) >= (int)sizeof(path))
		return false;
	return stat(path, &st) == 0;
}


static unsigned int bridge_mtu(const char *bridge)
{
	uint64_t mtu;

	return migr__netdev_attr(bridge, "mtu", &mtu) || mtu > UINT32_MAX ? 0 : (unsigned int)mtu;
}

/* One RTM_NEWLINK on ifindex (fwd_msg.c's message, with the attributes vif-bridge sets);
 * 0 or -errno from the kernel's answer. */
static int setlink(struct migr__nl *nl, unsigned int ifindex, bool up,
                   const unsigned char *mac, unsigned int mtu, unsigned int master)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = migr__fwd_msg_setlink(buf, ifindex, up, false);

	if (mac)
		mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	if (master)
		mnl_attr_put_u32(nlh, IFLA_MASTER, master);
	return migr__nl_talk(nl, nlh, NULL, NULL);
}

/* The fast path proper: 0, or -errno of the step that failed (named in *step_r). */
static int bring_online(struct xs_handle *xsh, const char *xbpath, const char *vif,
                        const char *bridge, const char **step_r)
{
	static const unsigned char dummy_mac[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };
	unsigned int ifindex = if_nametoindex(vif), br = if_nametoindex(bridge), mtu = 0;
	struct migr__nl *nl;
	char *m;
	int rc;

	*step_r = "finding the devices";
	if (!ifindex || !br)
		return -ENODEV;
	m = xs_get(xsh, xbpath, "mtu");
	if (m)
		mtu = (unsigned int)strtoul(m, NULL, 10);
	free(m);
	if (!mtu)
		mtu = bridge_mtu(bridge);

	*step_r = "opening rtnetlink";
	rc = migr__nl_open(&nl);
	if (rc)
		return rc;
	*step_r = "setting the port's address and MTU";
	rc = setlink(nl, ifindex, false, dummy_mac, mtu, 0);
	if (rc)
		goto out;
	*step_r = "adding the port to the bridge";
	rc = setlink(nl, ifindex, true, NULL, 0, br);
	if (rc)
		goto out;
	if (mtu) {
		unsigned int domid, devid;
		char path[96], val[16];

		/* vif-bridge tells the frontend the MTU too; the device name says where. */
		if (sscanf(vif, "vif%u.%u", &domid, &devid) == 2) {
			snprintf(path, sizeof(path), "/local/domain/%u/device/vif/%u/mtu", domid, devid);
			snprintf(val, sizeof(val), "%u", mtu);
			*step_r = "writing the frontend's mtu node";
			if (!xs_put(xsh, path, val)) {
				rc = -errno;
				goto out;
			}
		}
	}
out:
	migr__nl_close(nl);
	return rc;
}

int migr_vif_hotplug_main(int argc, char **argv)
{
	struct migr_vif_facts f = { .type_if = "vif" };
	const char *xbpath = getenv("XENBUS_PATH"), *why, *step = "";
	char *bridge = NULL, *ip = NULL, *vifname = NULL, status[300];
	struct xs_handle *xsh;
	int rc;

	f.action = argc > 1 ? argv[1] : NULL;
	if (argc > 2 && !strncmp(argv[2], "type_if=", 8))
		f.type_if = argv[2] + 8;
	f.vif = getenv("vif");
	if (!xbpath || strncmp(xbpath, "backend/vif/", 12) || strstr(xbpath, ".."))
		return exec_stock(argv, f.vif, "no backend/vif path in XENBUS_PATH");
	if (!f.action || strcmp(f.action, "online"))
		return exec_stock(argv, f.vif, NULL);  /* offline and the rest: quietly */
	xsh = xs_open(0);
	if (!xsh)
		return exec_stock(argv, f.vif, "cannot reach xenstore");
	bridge = xs_get(xsh, xbpath, "bridge");
	ip = xs_get(xsh, xbpath, "ip");
	vifname = xs_get(xsh, xbpath, "vifname");
	f.bridge = bridge;
	f.bridge_exists = bridge && is_bridge(bridge);
	f.has_ip = ip && *ip;
	f.has_vifname = vifname && *vifname;
	f.hooks = hooks_installed();
	f.iptables = program_installed("iptables");
	why = migr_vif_fast_refusal(&f);
	rc = why ? -1 : bring_online(xsh, xbpath, f.vif, bridge, &step);
	if (rc == 0) {
		snprintf(status, sizeof(status), "%s/hotplug-status", xbpath);
		if (!xs_put(xsh, status, "connected")) {
			rc = -errno;
			step = "writing hotplug-status";
		}
	}
	if (rc && !why) {
		snprintf(status, sizeof(status), "%s failed (%s)", step, strerror(-rc));
		why = status;
	}
	free(bridge);
	free(ip);
	free(vifname);
	xs_close(xsh);
	if (why)
		return exec_stock(argv, f.vif, why);
	return 0;
}

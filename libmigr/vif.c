/*
 * vif.c: when migr's fast vif hotplug path may stand in for the stock vif-bridge script.
 * Pure decisions, no Xen headers; the helper itself is in xen_vif.c. See migr/vif.h.
 * Also where migr's helper programs are found (MIGR_LIBEXECDIR is built into this file).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "migr/vif.h"
#include "util.h"

/* Beside the running program first, so that a build tree (or a copied set of binaries)
 * uses its own helper; then where `make install` puts it. */
int migr__helper_path(const char *name, char *path, size_t len)
{
	ssize_t n;
	char *slash;

	if (!path || len < 2)
		return -ENAMETOOLONG;
	n = readlink("/proc/self/exe", path, len - 1);
	if (n > 0) {
		path[n] = 0;
		slash = strrchr(path, '/');
		if (slash && (size_t)(slash + 1 - path) + strlen(name) < len) {
			strcpy(slash + 1, name);
			if (access(path, X_OK) == 0)
				return 0;
		}
	}
	if ((size_t)snprintf(path, len, "%s/%s", MIGR_LIBEXECDIR, name) >= len)
		return -ENAMETOOLONG;
	return access(path, X_OK) == 0 ? 0 : -ENOENT;
}

const char *migr_vif_helper_default(void)
{
	static char path[PATH_MAX];

	return migr__helper_path("migr-vif-bridge", path, sizeof(path)) ? NULL : path;
}

bool migr_vif_script_is_stock_bridge(const char *script)
{
	return !script || !strcmp(script, "vif-bridge") || !strcmp(script, MIGR_VIF_STOCK_SCRIPT);
}

const char *migr_vif_fast_refusal(const struct migr_vif_facts *f)
{
	if (!f->action || strcmp(f->action, "online"))
		return "only bringing a vif online is done on the fast path";
	if (f->type_if && strcmp(f->type_if, "vif"))
		return "not a PV vif";
	if (!f->vif || !*f->vif || strchr(f->vif, '/'))
		return "no vif device named";
	if (!f->bridge || !*f->bridge)
		return "no bridge named in xenstore (the stock script guesses one)";
	if (!f->bridge_exists)
		return "the named bridge does not exist (the stock script translates xenbrN names)";
	if (f->has_ip)
		return "anti-spoofing rules wanted (ip= in the vif's configuration)";
	if (f->has_vifname)
		return "the device is to be renamed (vifname= in the vif's configuration)";
	if (f->hooks)
		return "vif-post.d hooks are installed";
	if (f->iptables)
		return "iptables is installed (the stock script adds FORWARD rules with it)";
	return NULL;
}

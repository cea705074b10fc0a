/*
 * vif.c: when migr's fast vif hotplug path may stand in for the stock vif-bridge script.
 * Pure decisions, no Xen headers; the helper itself is in xen_vif.c. See migr/vif.h.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "migr/vif.h"

/* Beside the running program first, so that a build tree (or a copied set of binaries)
 * uses its own helper; then where `make install` puts it. */
const char *migr_vif_helper_default(void)
{
	static char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	char *slash;

	if (n > 0) {
		path[n] = 0;
		slash = strrchr(path, '/');
		if (slash) {
			strcpy(slash + 1, "migr-vif-bridge");
			if (access(path, X_OK) == 0)
				return path;
		}
	}
	snprintf(path, sizeof(path), "%s", MIGR_VIF_HELPER_INSTALLED);
	return access(path, X_OK) == 0 ? path : NULL;
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

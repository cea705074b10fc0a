/*
 * migr/vif.h: the fast vif hotplug path used while a migrated guest is restored.
 *
 * On the target, libxl runs each vif's hotplug script after the memory stream has ended,
 * with the guest paused: it is part of the blackout. Debian's /etc/xen/scripts/vif-bridge
 * is a bash script that sources five others and forks a dozen programs; under nested
 * emulation it alone takes 1.0-1.4 s per vif. migr's helper (tools/migr-vif-bridge) does
 * the same work for the common case in one process: the port's dummy MAC address, its
 * MTU (the xenstore "mtu" node, else the bridge's, also written to the frontend), the
 * bridge, link up, then hotplug-status = connected. Anything it does not cover it hands to
 * the stock script by exec, with the same arguments and environment.
 *
 * The receiver substitutes the helper only for vifs whose script is the stock vif-bridge,
 * and puts the stock script back (backend and libxl xenstore nodes, stored libxl config)
 * once the restore is done, so the guest ends as an ordinary libxl domain: its later
 * detach, destroy or migration with stock xl runs the stock script.
 *
 * Entry points:
 *   migr_vif_helper_default()          the helper beside the running program, else the
 *                                      installed one, if any
 *   migr_vif_script_is_stock_bridge()  may this vif's script be replaced?
 *   migr_vif_fast_refusal()            given the facts of one call, why the fast path may
 *                                      not run (NULL: it may)
 *   migr_vif_hotplug_main()            the helper's whole program (tools/migr-vif-bridge,
 *                                      not in the library)
 */
#ifndef MIGR_VIF_H
#define MIGR_VIF_H

#include <stdbool.h>

/* Where Debian's libxl looks for hotplug scripts (libxl__xen_script_dir_path()). */
#define MIGR_XEN_SCRIPT_DIR "/etc/xen/scripts"
#define MIGR_VIF_STOCK_SCRIPT MIGR_XEN_SCRIPT_DIR "/vif-bridge"

/* Where `make install` puts the helper: MIGR_LIBEXECDIR comes from the Makefile
 * (LIBEXECDIR/migr, /usr/libexec/migr in the Debian package). */
#ifndef MIGR_LIBEXECDIR
#define MIGR_LIBEXECDIR "/usr/libexec/migr"
#endif
#define MIGR_VIF_HELPER_INSTALLED MIGR_LIBEXECDIR "/migr-vif-bridge"

/* The helper beside the running program (…/bin/migr-vif-bridge), else the installed one
 * (MIGR_VIF_HELPER_INSTALLED), or NULL if neither is executable. The path is in a static
 * buffer: call once, not from several threads. */
const char *migr_vif_helper_default(void);

/* NULL (libxl's default), "vif-bridge" or MIGR_VIF_STOCK_SCRIPT. */
bool migr_vif_script_is_stock_bridge(const char *script);

/* What the helper found out about one hotplug call. */
struct migr_vif_facts {
	const char *action;   /* argv[1]: "online", "offline", "add", "remove" */
	const char *type_if;  /* from argv[2] "type_if=...", "vif" when absent */
	const char *vif;      /* $vif: the backend network device, e.g. vif5.0 */
	const char *bridge;   /* the backend's xenstore "bridge" node, NULL if absent */
	bool bridge_exists;   /* a bridge device of that name exists */
	bool has_ip;          /* "ip" node present: anti-spoofing rules wanted */
	bool has_vifname;     /* "vifname" node present: the device is to be renamed */
	bool hooks;           /* vif-post.d hooks are installed */
	bool iptables;        /* an iptables program is installed (the stock script adds
	                       * FORWARD rules with it) */
};

/* NULL when the fast path does exactly what the stock script would; else why not. */
const char *migr_vif_fast_refusal(const struct migr_vif_facts *f);

/* The helper: argv as libxl passes it (script, action, type_if=...), environment
 * XENBUS_PATH and vif. Returns the exit status, or does not return (exec of the stock
 * script). */
int migr_vif_hotplug_main(int argc, char **argv);

#endif

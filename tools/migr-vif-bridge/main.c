/*
 * migr-vif-bridge: the fast vif hotplug helper that migr's receiver has libxl run, with
 * the guest paused, in place of /etc/xen/scripts/vif-bridge. Not meant to be run by hand;
 * see migr/vif.h and libmigr/xen_vif.c.
 */
#include <stdio.h>
#include <string.h>

#include "libmigr.h"

int main(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: migr-vif-bridge online|offline [type_if=vif]\n"
		       "The vif hotplug script migr's receiver gives libxl while it restores a\n"
		       "migrated guest. Does vif-bridge's \"online\" work in one process when\n"
		       "nothing unusual is configured (no ip=, no vifname=, no vif-post.d hooks,\n"
		       "no iptables, a named bridge that exists); anything else, and any step\n"
		       "that fails, runs " MIGR_VIF_STOCK_SCRIPT " with the same arguments.\n"
		       "Environment (set by libxl): XENBUS_PATH, vif.\n");
		return 0;
	}
	return migr_vif_hotplug_main(argc, argv);
}

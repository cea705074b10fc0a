/*
 * test_vif.c: when the fast vif hotplug path may stand in for vif-bridge (migr/vif.h).
 */
#include <string.h>
#include "libmigr.h"
#include "unit.h"

static struct migr_vif_facts plain(void)
{
	struct migr_vif_facts f = {
		.action = "online", .type_if = "vif", .vif = "vif3.0", .bridge = "xenbr0",
		.bridge_exists = true,
	};
	return f;
}

static const char *why(const struct migr_vif_facts *f)
{
	const char *w = migr_vif_fast_refusal(f);

	return w ? w : "";
}

int main(void)
{
	struct migr_vif_facts f;

	/* which scripts may be replaced */
	CHECK(migr_vif_script_is_stock_bridge(NULL));
	CHECK(migr_vif_script_is_stock_bridge("vif-bridge"));
	CHECK(migr_vif_script_is_stock_bridge("/etc/xen/scripts/vif-bridge"));
	CHECK(!migr_vif_script_is_stock_bridge("vif-route"));
	CHECK(!migr_vif_script_is_stock_bridge("vif-openvswitch"));
	CHECK(!migr_vif_script_is_stock_bridge("/usr/local/lib/xen/vif-bridge"));
	CHECK(!migr_vif_script_is_stock_bridge(""));

	/* the common case runs fast */
	f = plain();
	CHECK(migr_vif_fast_refusal(&f) == NULL);
	f.type_if = NULL;                /* libxl always passes it; absent means vif */
	CHECK(migr_vif_fast_refusal(&f) == NULL);

	/* everything vif-bridge does beyond it goes to vif-bridge */
	f = plain(); f.action = "offline";
	CHECK(migr_vif_fast_refusal(&f) != NULL);
	f = plain(); f.action = NULL;
	CHECK(migr_vif_fast_refusal(&f) != NULL);
	f = plain(); f.type_if = "tap";
	CHECK(migr_vif_fast_refusal(&f) != NULL);
	f = plain(); f.vif = NULL;
	CHECK(migr_vif_fast_refusal(&f) != NULL);
	f = plain(); f.vif = "../../x";
	CHECK(migr_vif_fast_refusal(&f) != NULL);
	f = plain(); f.bridge = NULL;
	CHECK(strstr(why(&f), "no bridge") != NULL);
	f = plain(); f.bridge = "";
	CHECK(migr_vif_fast_refusal(&f) != NULL);
	f = plain(); f.bridge_exists = false;
	CHECK(strstr(why(&f), "does not exist") != NULL);
	f = plain(); f.has_ip = true;
	CHECK(strstr(why(&f), "anti-spoofing") != NULL);
	f = plain(); f.has_vifname = true;
	CHECK(strstr(why(&f), "renamed") != NULL);
	f = plain(); f.hooks = true;
	CHECK(strstr(why(&f), "hooks") != NULL);
	f = plain(); f.iptables = true;
	CHECK(strstr(why(&f), "iptables") != NULL);
	return unit_done("test_vif");
}

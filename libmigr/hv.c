/*
 * hv.c: what the hypervisor seam offers beyond its ops: names, closing, and the rules on
 * which guest types a host can send or receive live (migr/hv.h).
 */
#include <errno.h>
#include "libmigr.h"

const char *migr_guest_type_name(enum migr_guest_type t)
{
	switch (t) {
	case MIGR_GUEST_PV:  return "PV";
	case MIGR_GUEST_PVH: return "PVH";
	case MIGR_GUEST_HVM: return "HVM";
	default:             return "unknown";
	}
}

void migr_hv_close(struct migr_hv *hv)
{
	if (hv && hv->ops && hv->ops->close)
		hv->ops->close(hv);
}

/*
 * Live migration needs log-dirty on the source: hardware-assisted paging for PVH (and
 * HVM), shadow paging for PV. Debian's current 4.17 hypervisor is built without shadow
 * paging (XSA-495), so PV guests cannot leave it live.
 */
int migr_hv_can_send(const struct migr_host_info *h, enum migr_guest_type t, const char **why_r)
{
	const char *why = NULL;

	switch (t) {
	case MIGR_GUEST_PV:
		if (!h->cap_shadow)
			why = "PV guests need log-dirty through shadow paging, and this "
			      "hypervisor was built without it (CONFIG_SHADOW_PAGING); "
			      "migrate PVH guests, or boot a hypervisor with shadow paging";
		break;
	case MIGR_GUEST_PVH:
		if (!h->cap_hap && !h->cap_shadow)
			why = "PVH guests need log-dirty through hardware-assisted paging (HAP) "
			      "or shadow paging, and this host has neither";
		break;
	case MIGR_GUEST_HVM:
		why = "HVM guests (with a device model) are not supported yet; PV and PVH are";
		break;
	default:
		why = "unknown guest type";
		break;
	}
	if (why) {
		if (why_r)
			*why_r = why;
		return -MIGR_E_UNSUPPORTED;
	}
	return 0;
}

int migr_hv_can_receive(const struct migr_host_info *h, enum migr_guest_type t, const char **why_r)
{
	const char *why = NULL;

	switch (t) {
	case MIGR_GUEST_PV:
		if (!h->cap_pv)
			why = "this hypervisor runs no PV guests";
		break;
	case MIGR_GUEST_PVH:
		if (!h->cap_hvm)
			why = "this hypervisor runs no PVH/HVM guests";
		break;
	case MIGR_GUEST_HVM:
		why = "HVM guests (with a device model) are not supported yet; PV and PVH are";
		break;
	default:
		why = "unknown guest type";
		break;
	}
	if (why) {
		if (why_r)
			*why_r = why;
		return -MIGR_E_UNSUPPORTED;
	}
	return 0;
}

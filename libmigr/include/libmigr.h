/*
 * libmigr: live migration of Xen guests for transparent host maintenance.
 *
 * This header is the whole public API. Components have their own sub-headers under
 * migr/, all included from here; MIGR_HAVE_* macros announce what this build offers.
 *
 * Conventions: a fallible function returns 0 or a negative errno; out-parameters end in
 * _r and are written only on success; destructors accept NULL. The library never prints:
 * it logs through the caller's xentoollog_logger and reports progress through callbacks
 * carrying numbers.
 */
#ifndef LIBMIGR_H
#define LIBMIGR_H

#include <stdint.h>
#include <stddef.h>

#define MIGR_VERSION_MAJOR 0
#define MIGR_VERSION_MINOR 1
#define MIGR_VERSION_STRING "0.1"

const char *migr_version(void);

/* Project error codes, beyond negative errno values. */
#define MIGR_E_BASE        4096
#define MIGR_E_PROTO       (MIGR_E_BASE + 1)  /* peer broke the protocol */
#define MIGR_E_AUTH        (MIGR_E_BASE + 2)  /* authentication failed */
#define MIGR_E_ABORTED     (MIGR_E_BASE + 3)  /* aborted cleanly, guest on source */
#define MIGR_E_UNSUPPORTED (MIGR_E_BASE + 4)  /* guest/host combination cannot migrate */
#define MIGR_E_UNDECIDED   (MIGR_E_BASE + 5)  /* outcome unknown: resolve with the target */
#define MIGR_E_CRASHED     (MIGR_E_BASE + 6)  /* a crash was injected (tests): nothing cleaned up */

/* migr_strerror: text for -errno or -MIGR_E_* values (never NULL). */
const char *migr_strerror(int err);

#define MIGR_HAVE_FORWARDING 1  /* brownout forwarding over VXLAN + tc (migr/fwd.h) */
#include "migr/fwd.h"
#define MIGR_HAVE_TLS 1  /* TLS 1.3 transport (GnuTLS): X.509 or pre-shared key */
#include "migr/transport.h"
#include "migr/admit.h"      /* handshake pool with deadlines and per-address limits */
#include "migr/proto.h"
#define MIGR_HAVE_POLICY 1  /* adaptive stop-and-copy policy (migr/policy.h) */
#include "migr/policy.h"
#define MIGR_HAVE_HV 1  /* hypervisor seam: Xen and a fake (migr/hv.h) */
#include "migr/hv.h"
#include "migr/fault.h"     /* named fault points of the drivers */
#define MIGR_HAVE_MIGRATE 1  /* live migration drivers (migr/migrate.h) */
#include "migr/migrate.h"
#define MIGR_HAVE_COMPRESS 1  /* compressed streams (migr_send_params.compress, CDATA) */
#include "migr/vif.h"       /* the fast vif hotplug path on restore */
#define MIGR_HAVE_CONFIG_RULES 1  /* the target's rules over a received config */
#include "migr/config_rules.h"

#include "migr/xs.h"       /* the evacuation code's xenstore seam */
#include "migr/schema.h"   /* xenstore schema and its checker (MIGR_HAVE_SCHEMA) */
#include "migr/plan.h"     /* the evacuation planner */
#define MIGR_HAVE_FLEET 1  /* rolling drains across a fleet: the scheduling core (migr/fleet.h) */
#include "migr/fleet.h"
#include "migr/evac.h"     /* the evacuation executor, request and guest notice */
#define MIGR_HAVE_REPORT 1  /* round logs and SVG reports (migr/report.h) */
#include "migr/report.h"
#define MIGR_HAVE_METRICS 1  /* Prometheus text-format metrics (migr/metrics.h) */
#include "migr/metrics.h"
#define MIGR_HAVE_ETCD 1  /* the fleet's state in etcd: client, records, fence (migr/etcd.h) */
#include "migr/etcd.h"
#define MIGR_HAVE_DRAIN 1  /* drains across the fleet in etcd: queue, turns, agent (migr/drain.h) */
#include "migr/drain.h"

#endif /* LIBMIGR_H */

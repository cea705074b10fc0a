/*
 * policies.h: the policies the simulator compares (docs/policy.md says where each rule
 * comes from). Each returns a freshly allocated sim_policy; free with pol_free().
 *
 *   pol_migr()   libmigr's migr_policy_decide(), the function the engine calls in dom0
 *   pol_libxl()  libxenguest's simple_precopy_policy: < 50 dirty pages or 5 rounds
 *   pol_qemu()   QEMU: pending < bandwidth x downtime limit; with auto-converge if asked
 *   pol_clark()  Xen 3.0 / Clark et al. 2005: rate-adaptive rounds, stop when the rate
 *                is at its maximum and rounds grow, or < 50 pages, 29 rounds, 3x memory
 *   pol_never()  never stops (the harness stops it), the guest slowed by a constant
 *                throttle: records every stop point for the offline oracle
 */
#ifndef MIGR_SIM_POLICIES_H
#define MIGR_SIM_POLICIES_H
#include "sim.h"

struct sim_policy *pol_migr(const char *name, const struct migr_policy_params *p);
struct sim_policy *pol_libxl(void);
struct sim_policy *pol_qemu(const char *name, double downtime_ms, int autoconverge);
struct sim_policy *pol_clark(void);
struct sim_policy *pol_never(uint32_t throttle_pct);
void pol_free(struct sim_policy *p);

/* The migr policy's verdicts of the last run, for --verbose. */
struct migr_log {
	struct migr_policy_stats s;
	struct migr_policy_verdict v;
};
const struct migr_log *pol_migr_log(const struct sim_policy *p, size_t *n_r);

#endif

#!/usr/bin/env bash
# lab: stock
# Stock `xl save` + `xl restore` of a PVH guest on one host: the workload's memory
# survives (full verification afterwards) and the guest is running again.
set -u
. "$(dirname "$0")/../lib.sh"
lab_attach
guest_create a g1 pvh "-w,16,-r,500,-g,1000" || fail "xl create"
mw_ready a g1 || fail "memwork did not start"
lab_sh a 'time xl save g1 /save/g1.save && ls -l /save/g1.save' || fail "xl save"
[ -z "$(lab_domains a)" ] || fail "g1 still on a after xl save"
lab_sh a 'time xl restore /save/g1.save && rm -f /save/g1.save' || fail "xl restore"
mw_verify a g1 || fail "memory check after restore"
echo "pause seen by the guest: $(mw_node a g1 max-gap-ms) ms (realtime), $(mw_node a g1 max-gap-mono-ms) ms (monotonic)"
lab_sh a 'xl destroy g1'

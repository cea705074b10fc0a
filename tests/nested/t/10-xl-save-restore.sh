#!/usr/bin/env bash
# lab: stock
# Stock `xl save` + `xl restore` of a PVH guest on one host: the workload's memory
# survives (full verification afterwards) and the guest is running again. Then, on the
# same guest, the memory check proves it can fail: one byte of one working-set page is
# flipped from dom0 through a foreign mapping; memwork must report exactly that page, then
# ok once it is flipped back.
set -u
. "$(dirname "$0")/../lib.sh"
lab_attach
guest_create a g1 pvh "-w,16,-r,500,-g,1000" || fail "xl create"
mw_ready a g1 || fail "memwork did not start"
lab_sh a 'time xl save g1 /save/g1.save && ls -l /save/g1.save' || fail "xl save"
[ -z "$(lab_domains a)" ] || fail "g1 still on a after xl save"
lab_sh a 'time xl restore /save/g1.save && rm -f /save/g1.save' || fail "xl restore"
mw_verify a g1 || fail "memory check after restore"
if gap=$(mw_node_wait a g1 max-gap-ms) && gapm=$(mw_node_wait a g1 max-gap-mono-ms); then
	echo "pause seen by the guest: $gap ms (realtime), $gapm ms (monotonic)"
else
	echo "pause seen by the guest: not reported (memwork wrote no max-gap nodes within 15 s)"
fi

echo "== the memory check fails on a corrupted page"
mw_cmd a g1 "rate 0" | grep -q '^ok' || fail "rate 0"
page=1234 off=2500
r=$(mw_cmd a g1 "pfn $page") || fail "pfn query: $r"
pfn=$(echo "$r" | sed -n 's/.*pfn=\([0-9a-fx]*\).*/\1/p')
[ -n "$pfn" ] || fail "no pfn in '$r'"
mw_verify a g1 || fail "verification before corruption"
lab_sh a "memcorrupt \$(xl domid g1) $pfn $off" || fail "memcorrupt"
r=$(mw_verify a g1) && fail "verification passed on a corrupted page: $r"
echo "after corruption: $r"
case $r in *"bad=1 first=$page"*) ;; *) fail "expected exactly page $page reported, got: $r" ;; esac
grep -q "bad page=$page .*kind=body off=$off nbytes=1" "$(guest_console a g1)" ||
	fail "console does not show page $page kind=body off=$off nbytes=1"
lab_sh a "memcorrupt \$(xl domid g1) $pfn $off" || fail "memcorrupt (undo)"
mw_verify a g1 || fail "verification after undoing the corruption"
lab_sh a 'xl destroy g1'

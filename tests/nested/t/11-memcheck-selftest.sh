#!/usr/bin/env bash
# lab: stock
# The memory check can fail: one byte of one working-set page is flipped from dom0 through
# a foreign mapping; memwork must report exactly that page, then ok once it is flipped back.
set -u
. "$(dirname "$0")/../lib.sh"
lab_attach
guest_create a g1 pvh "-w,16,-r,500,-g,1000" || fail "xl create"
mw_ready a g1 || fail "memwork did not start"
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

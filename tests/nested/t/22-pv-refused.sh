#!/usr/bin/env bash
# lab: stock
# 22-pv-refused: on Debian's stock hypervisor (no shadow paging) `migr migrate` of a PV
# guest is refused up front with a reason naming shadow paging, exit status 3, and the
# guest keeps running untouched (memory verified, no log-dirty ever enabled).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/20-lib.inc"

eng_begin a:stock
guest_create a g1 pv "-w,16,-r,1000,-g,1000" || { echo "guest_create failed"; exit 1; }
eng_verify a g1 || eng_end
# The target is a local `migr receive` through a pipe (-s "" runs HOST as the command),
# so the refusal cannot come from a missing target.
out=$(lab_sh a "migr migrate -s '' g1 'migr receive' 2>&1; echo exit=\$?")
echo "$out"
echo "$out" | grep -q '^exit=3$' || eng_fail "exit status is not 3"
echo "$out" | grep -q 'shadow paging' || eng_fail "the reason does not name shadow paging"
echo "$out" | grep -q 'round 0' && eng_fail "pre-copy started"
eng_running a g1
eng_verify a g1
eng_end

#!/usr/bin/env bash
# lab: stock
# 25-interop: over a byte pipe (the lab's labpipe relay standing in for ssh), a stock
# `xl migrate` A -> B into `migr receive --xl`, then `migr migrate --xl` B -> A into a stock
# `xl migrate-receive`; the guest's memory verified after each, on exactly one host.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/20-lib.inc"

eng_begin a:stock b:stock
guest_create a g1 pvh "-w,16,-r,1000,-g,1000" || { echo "guest_create failed"; exit 1; }
eng_verify a g1 || eng_end

echo "== stock xl migrate a -> migr receive --xl on b"
id=$(lab_sh_bg b "labpipe listen 9000 migr receive --xl 2>&1")
sleep 2
out=$(lab_sh a "xl migrate -s 'labpipe connect 9000' g1 $(lab_ip b) 2>&1; echo exit=\$?" 900)
echo "$out"
echo "$out" | grep -q '^exit=0$' || eng_fail "xl migrate exited non-zero"
lab_wait b "$id" 120 || eng_fail "migr receive --xl failed"
eng_running b g1
eng_absent a g1
eng_verify b g1

echo "== migr migrate --xl b -> stock xl migrate-receive on a"
id=$(lab_sh_bg a "labpipe listen 9001 xl migrate-receive 2>&1")
sleep 2
out=$(lab_sh b "migr migrate --xl -s 'labpipe connect 9001' g1 $(lab_ip a) 2>&1; echo exit=\$?" 900)
echo "$out"
echo "$out" | grep -q '^exit=0$' || eng_fail "migr migrate --xl exited non-zero"
lab_wait a "$id" 120 || eng_fail "xl migrate-receive failed"
eng_running a g1
eng_absent b g1
eng_verify a g1
eng_end

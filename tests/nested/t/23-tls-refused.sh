#!/usr/bin/env bash
# lab: stock
# 23-tls-refused: a source with the wrong pre-shared key, and one with no credential at
# all, are refused with a clear message (exit status 3); the guest keeps running on A,
# memory verified, nothing on B.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/20-lib.inc"

eng_begin a:stock b:stock
guest_create a g1 pvh "-w,16,-r,1000,-g,1000" || { echo "guest_create failed"; exit 1; }
eng_verify a g1 || eng_end
lab_sh a "umask 077; echo lab:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') >/etc/migr/wrong.key"

id=$(lab_sh_bg b "migrd --psk $PSK 2>&1 & echo \$! >/tmp/migrd.pid; wait")
eng_listening b "$id" || eng_end
echo "== wrong key"
out=$(lab_sh a "migr migrate --psk /etc/migr/wrong.key g1 $(lab_ip b) 2>&1; echo exit=\$?")
echo "$out"
echo "$out" | grep -q '^exit=3$' || eng_fail "wrong key: exit status is not 3"
echo "$out" | grep -qi 'auth' || eng_fail "wrong key: no authentication message"
echo "== no credential"
out=$(lab_sh a "rm -f /etc/migr/psk.key.off; mv $PSK $PSK.off; migr migrate g1 $(lab_ip b) 2>&1; echo exit=\$?; mv $PSK.off $PSK")
echo "$out"
echo "$out" | grep -q '^exit=3$' || eng_fail "no credential: exit status is not 3"
lab_sh b 'kill $(cat /tmp/migrd.pid)'
lab_wait b "$id" 30
eng_running a g1
eng_absent b g1
eng_verify a g1
eng_end

#!/usr/bin/env bash
# lab: stock
# 24-backout: every back-out before GO leaves the guest running on A with its memory
# verified and nothing on B:
#   1. the target refuses: not enough memory (migrd keeps a reserve larger than its RAM)
#   2. the target's receiver is killed during the stream (migrd restarted afterwards
#      cleans the paused NAME--incoming it left)
#   3. the connection is cut during the stream (B's wire cut at the lab's bridge)
#   4. the guest fails to suspend (fault injected at migr's suspend step: MIGR_FAULT)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/20-lib.inc"

eng_begin a:stock b:stock
guest_create a g1 pvh "-w,16,-r,1000,-g,1000" || { echo "guest_create failed"; exit 1; }
eng_verify a g1 || eng_end

check_backed_out() {
	local what=$1 out=$2
	echo "$out" | grep -q '^exit=3$' || eng_fail "$what: exit status is not 3"
	eng_running a g1
	eng_absent b g1
	eng_verify a g1
}

# waits until the stream runs: libxl on B has created g1--incoming and is reading it
wait_streaming() {
	local t0=$SECONDS
	until lab_sh b "xl domid g1--incoming" >/dev/null 2>&1; do
		[ $((SECONDS - t0)) -ge 180 ] && return 1
		sleep 2
	done
	sleep 5
}

echo "== 1. target lacks memory"
id=$(eng_migrd b --reserve-mib 100000)
eng_listening b "$id"
out=$(eng_migrate a g1 b)
echo "$out"
echo "$out" | grep -qi 'memory' || eng_fail "1: no memory reason"
lab_wait b "$id" 60
check_backed_out "1" "$out"

echo "== 2. receiver killed during the stream"
id=$(lab_sh_bg b "migrd --once --psk $PSK 2>&1 & echo \$! >/tmp/migrd.pid; wait")
eng_listening b "$id"
mid=$(lab_sh_bg a "migr migrate --psk $PSK --timeout 60 g1 $(lab_ip b) 2>&1; echo exit=\$?")
wait_streaming "$mid" || eng_fail "2: the stream did not start"
lab_sh b 'kill -9 $(cat /tmp/migrd.pid); echo "killed migrd"; xl list'
out=$(lab_wait a "$mid" 900)
echo "$out"
lab_wait b "$id" 30
id=$(lab_sh_bg b "migrd --once --insecure --listen :8009 2>&1 & echo \$! >/tmp/migrd.pid; wait")
eng_listening b "$id"
lab_sh b 'kill $(cat /tmp/migrd.pid)'
lab_wait b "$id" 30
check_backed_out "2" "$out"

echo "== 3. connection cut during the stream"
id=$(eng_migrd b --timeout 40)
eng_listening b "$id"
mid=$(lab_sh_bg a "migr migrate --psk $PSK --timeout 20 g1 $(lab_ip b) 2>&1; echo exit=\$?")
wait_streaming "$mid" || eng_fail "3: the stream did not start"
lab_cut b
echo "wire to b cut"
out=$(lab_wait a "$mid" 900)
echo "$out"
lab_mend b
echo "wire to b mended"
lab_linked a b 30 || eng_fail "3: a does not reach b again after the wire is mended"
lab_wait b "$id" 120
check_backed_out "3" "$out"

echo "== 4. the guest fails to suspend (injected)"
id=$(eng_migrd b)
eng_listening b "$id"
out=$(lab_sh a "MIGR_FAULT=suspend migr migrate --psk $PSK g1 $(lab_ip b) 2>&1; echo exit=\$?" 600)
echo "$out"
echo "$out" | grep -q 'did not suspend' || eng_fail "4: no suspend reason"
lab_wait b "$id" 60
check_backed_out "4" "$out"
eng_end

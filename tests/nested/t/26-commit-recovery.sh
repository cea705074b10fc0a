#!/usr/bin/env bash
# lab: stock
# 26-commit-recovery: no failure after the guest is suspended loses it or runs it twice.
#   1. the target stalls before READY (ready:hang): the source's blackout deadline backs
#      out, the guest runs again on A; B destroys its copy when it wakes
#   2. `migr migrate` on A is killed (kill -9, injected after GO): B runs the guest; migrd
#      started on A resolves its record with B and destroys A's suspended copy
#   3. migrd on the target (A now) is killed between its `running` record and the unpause;
#      migrd restarted there finishes the commit; the source's `migr migrate` resolves it
#   4. the target's whole host (B) dies after GO: A keeps its suspended copy and says so;
#      B booted again knows nothing of it: `migr resolve` resumes nothing, `--force-resume`
#      resumes the guest on A
# Every step checks where the guest runs, its memory, and what is left on both hosts.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/20-lib.inc"

eng_begin a:stock b:stock
guest_create a g1 pvh "-w,8,-r,300,-g,1000" || { echo "guest_create failed"; exit 1; }
eng_verify a g1 || eng_end

exit_of() { echo "$1" | awk -F= '/^exit=/{e=$2} END{print e+0}'; }
# mid OUT: the migration id the output names
mid_of() { echo "$1" | grep -o 'migr resolve [0-9a-f]\{32\}' | head -n 1 | awk '{print $3}'; }
# bg_daemon HOST ARGS...: a migrd in the background whose pid is in /tmp/migrd-t26.pid
bg_daemon() {
	local host=$1; shift
	lab_sh_bg "$host" "migrd --psk $PSK $* 2>&1 & echo \$! >/tmp/migrd-t26.pid; wait"
}
stop_daemon() { lab_sh "$1" 'kill $(cat /tmp/migrd-t26.pid) 2>/dev/null; true'; lab_wait "$1" "$2" 60; }

echo "== 1. the target stalls before READY"
id=$(lab_sh_bg b "MIGR_FAULT=ready:hang=40000 migrd --once --psk $PSK 2>&1")
eng_listening b "$id"
t0=$SECONDS
out=$(eng_migrate a g1 b)
echo "$out"
echo "migr migrate returned after $((SECONDS - t0)) s"
[ "$(exit_of "$out")" = 3 ] || eng_fail "1: exit status is not 3 (backed out)"
echo "$out" | grep -q 'target did not restore' || eng_fail "1: no reason given"
eng_running a g1
eng_verify a g1
lab_wait b "$id" 120
eng_absent b g1
# a record is named by its migration's id (32 hex digits); the blackout history beside them stays
lab_sh a 'ls /var/lib/migr/sent 2>/dev/null' | grep -qE '^[0-9a-f]{32}$' && eng_fail "1: a source record is left on a"

echo "== 2. migr migrate on A killed after GO; migrd on A settles it"
id=$(eng_migrd b)
eng_listening b "$id"
out=$(lab_sh a "MIGR_FAULT=wait-done:crash migr migrate --psk $PSK g1 $(lab_ip b) 2>&1; echo exit=\$?" 900)
echo "$out"
[ "$(exit_of "$out")" = 137 ] || eng_fail "2: migr migrate was not killed (exit $(exit_of "$out"))"
lab_wait b "$id" 120
lab_sh a 'xl list'
lab_sh a "xl list g1--migratedaway" >/dev/null 2>&1 || eng_fail "2: no suspended copy on A after the kill"
id=$(bg_daemon b --listen :8002)
eng_listening b "$id"
aid=$(bg_daemon a --listen :8003)
eng_listening a "$aid"
t0=$SECONDS
until ! lab_sh a "xl list g1--migratedaway" >/dev/null 2>&1; do
	[ $((SECONDS - t0)) -ge 120 ] && { eng_fail "2: A's migrd did not settle the migration"; break; }
	sleep 2
done
stop_daemon a "$aid" | grep 'recovery' || eng_fail "2: A's migrd logged no recovery"
stop_daemon b "$id" >/dev/null
eng_running b g1
eng_absent a g1
eng_verify b g1

echo "== 3. migrd on the target killed between its running record and the unpause"
id=$(lab_sh_bg a "MIGR_FAULT=unpause:crash migrd --once --psk $PSK 2>&1")
eng_listening a "$id"
mid=$(lab_sh_bg b "migr migrate --psk $PSK g1 $(lab_ip a) 2>&1; echo exit=\$?")
lab_wait a "$id" 900
echo "(migrd on a died)"
lab_sh a 'xl list'
id=$(bg_daemon a)
eng_listening a "$id"
out=$(lab_wait b "$mid" 900)
echo "$out"
[ "$(exit_of "$out")" = 0 ] || eng_fail "3: migr migrate did not end with the guest on A (exit $(exit_of "$out"))"
echo "$out" | grep -q 'the target runs the guest' || eng_fail "3: no resolve after the target's restart"
stop_daemon a "$id" | grep 'recovery' || eng_fail "3: the restarted migrd logged no recovery"
eng_running a g1
eng_absent b g1
eng_verify a g1

echo "== 4. the target's host dies after GO"
id=$(lab_sh_bg b "MIGR_FAULT=done:hang=300000 migrd --once --psk $PSK 2>&1")
eng_listening b "$id"
mid=$(lab_sh_bg a "migr migrate --psk $PSK g1 $(lab_ip b) 2>&1; echo exit=\$?")
f=$LAB_RUN/b/share/cmd/$id.out
t0=$SECONDS
until grep -q 'fault injected at done' "$f" 2>/dev/null; do
	[ $((SECONDS - t0)) -ge 600 ] && { eng_fail "4: B never reached the fault"; break; }
	sleep 0.5
done
lab_power_cut b && echo "b: power cut"
out=$(lab_wait a "$mid" 900)
echo "$out"
[ "$(exit_of "$out")" = 4 ] || eng_fail "4: exit status is not 4 (undecided)"
lab_sh a "xl list g1--migratedaway" | awk 'NR==2{print $5}' | grep -q s || eng_fail "4: A does not keep a suspended copy"
lab_restart b || { eng_fail "4: B did not boot again"; eng_end; }
key=$(lab_sh a "cat $PSK")
lab_sh b "mkdir -p /etc/migr && umask 077 && echo '$key' >$PSK"
m=$(mid_of "$out")
echo "migration id: $m"
lab_sh a 'migr status' || true
id=$(bg_daemon b)
eng_listening b "$id"
res=$(lab_sh a "migr resolve --psk $PSK $m g1 $(lab_ip b) 2>&1; echo exit=\$?")
echo "$res"
[ "$(exit_of "$res")" = 4 ] || eng_fail "4: resolve without proof did not answer 'cannot tell' (exit 4)"
echo "$res" | grep -q 'cannot tell' || eng_fail "4: resolve does not say why"
lab_sh a "xl list g1--migratedaway" | awk 'NR==2{print $5}' | grep -q s || eng_fail "4: resolve touched A's copy without proof"
res=$(lab_sh a "migr resolve --force-resume --psk $PSK $m g1 $(lab_ip b) 2>&1; echo exit=\$?")
echo "$res"
[ "$(exit_of "$res")" = 0 ] || eng_fail "4: --force-resume did not resume the guest"
stop_daemon b "$id" >/dev/null
eng_running a g1
eng_absent b g1
eng_verify a g1
eng_end

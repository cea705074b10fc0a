#!/usr/bin/env bash
# lab: stock
# 36-throttle: `migr migrate --throttle` slows a guest that dirties memory faster than the
# link drains it, through its credit2 CPU cap, and the cap the guest had (90 here, set
# before) is back on every outcome:
#   1. the target's receiver is killed while the cap is on: backed out, the guest runs on A
#      with cap 90
#   2. `migr migrate` is killed (kill -9) while the cap is on: the guest runs on A, still
#      capped, and its record names cap 90; migrd started on A puts it back and says so
#   3. the migration completes: the guest runs on B with its own cap (90), not the
#      throttle's; the summary names the throttle it applied
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/20-lib.inc"

CAP0=90
eng_begin a:stock b:stock
# The guest rewrites a 16 MiB hot set as fast as it can (about 1000 pages/s, 4 MiB/s, under
# emulation), over a link shaped to 3 MB/s and without compression (memwork's pages compress
# 3x): its rounds no longer pay, and the policy throttles.
lab_shape 24mbit a b || { echo "cannot shape the lab's link"; exit 1; }
trap 'lab_unshape a b; [ -n "${LAB_HOSTS_ENV:-}" ] || lab_down' EXIT
guest_create a g1 pvh "-w,16,-r,8000,-g,1000" || { echo "guest_create failed"; exit 1; }
eng_verify a g1 || eng_end
lab_sh a "xl sched-credit2 -d g1 -c $CAP0" || { eng_fail "cannot set g1's cap"; eng_end; }

# cap_of HOST: g1's credit2 cap on HOST (empty when g1 is not there)
cap_of() { lab_sh "$1" "xl sched-credit2 -d g1 2>/dev/null | awk 'NR==2{print \$4}'"; }
# wait_capped HOST: waits until g1's cap on HOST is below CAP0 (the throttle is on); prints it
wait_capped() {
	local t0=$SECONDS c
	while :; do
		c=$(cap_of "$1")
		case "$c" in [0-9]*) [ "$c" -gt 0 ] && [ "$c" -lt "$CAP0" ] && { echo "$c"; return 0; } ;; esac
		[ $((SECONDS - t0)) -ge 240 ] && return 1
		sleep 1
	done
}
# check_cap HOST WHAT: g1's cap on HOST is CAP0 again
check_cap() {
	local c; c=$(cap_of "$1")
	echo "$1: g1's cap is ${c:-unknown}"
	[ "$c" = "$CAP0" ] || eng_fail "$2: g1's cap on $1 is ${c:-unknown}, not $CAP0"
}
exit_of() { echo "$1" | awk -F= '/^exit=/{e=$2} END{print e+0}'; }
# migrate_bg ARGS: `migr migrate --throttle` A -> B in the background, its pid in
# /tmp/t36-migr.pid; prints the command's id
migrate_bg() {
	lab_sh_bg a "migr migrate --psk $PSK --throttle --compress off $* g1 $(lab_ip b) 2>&1 &
echo \$! >/tmp/t36-migr.pid; wait \$!; echo exit=\$?"
}

# throttled CASE: a throttled migration A -> B in the background (its command's id in MID),
# once the cap is on
throttled() {
	local c
	MID=$(migrate_bg)
	if c=$(wait_capped a); then
		echo "a: g1 throttled (cap $c)"
	else
		eng_fail "$1: g1 was never throttled"
	fi
}

echo "== 1. the receiver is killed while the guest is throttled"
id=$(lab_sh_bg b "migrd --once --psk $PSK 2>&1 & echo \$! >/tmp/migrd-t36.pid; wait")
eng_listening b "$id"
throttled 1
lab_sh b 'kill -9 $(cat /tmp/migrd-t36.pid); echo "killed migrd"'
out=$(lab_wait a "$MID" 600)
echo "$out" | tail -n 12
lab_wait b "$id" 30 >/dev/null
[ "$(exit_of "$out")" = 3 ] || eng_fail "1: exit status is not 3 (backed out)"
# the receiver died with a paused g1--incoming: a migrd started on B removes it
id=$(lab_sh_bg b "migrd --once --insecure --listen :8009 2>&1 & echo \$! >/tmp/migrd-t36.pid; wait")
eng_listening b "$id"
lab_sh b 'kill $(cat /tmp/migrd-t36.pid)'
lab_wait b "$id" 30 >/dev/null
eng_running a g1
eng_absent b g1
check_cap a 1
eng_verify a g1

echo "== 2. migr migrate is killed while the guest is throttled"
id=$(eng_migrd b)
eng_listening b "$id"
throttled 2
lab_sh a 'kill -9 $(cat /tmp/t36-migr.pid); echo "killed migr migrate"'
lab_wait a "$MID" 60 >/dev/null   # the killed command's end
lab_wait b "$id" 120 | tail -n 3
c=$(cap_of a)
echo "a: after the kill g1's cap is $c"
[ -n "$c" ] && [ "$c" -lt "$CAP0" ] || eng_fail "2: the cap was not left on by the killed sender (cap $c)"
lab_sh a 'grep -H "throttled\|cap-before" /var/lib/migr/sent/*[0-9a-f] 2>/dev/null' |
	grep -q "cap-before $CAP0" || eng_fail "2: no record names the cap to put back"
aid=$(lab_sh_bg a "migrd --psk $PSK --listen :8003 2>&1 & echo \$! >/tmp/migrd-t36a.pid; wait")
eng_listening a "$aid"
lab_sh a 'kill $(cat /tmp/migrd-t36a.pid)'
lab_wait a "$aid" 60 | grep 'recovery: .*the throttle was taken off (CPU cap '"$CAP0"' back)' ||
	eng_fail "2: A's migrd did not report the throttle taken off"
eng_running a g1
eng_absent b g1
check_cap a 2
eng_verify a g1

echo "== 3. a throttled migration completes"
id=$(eng_migrd b)
eng_listening b "$id"
out=$(eng_migrate a g1 b --throttle --compress off)
echo "$out" | tail -n 20
lab_wait b "$id" 120 >/dev/null
[ "$(exit_of "$out")" = 0 ] || eng_fail "3: the migration failed"
echo "$out" | grep -q "throttled: the guest was slowed by up to [1-9]" || eng_fail "3: the summary names no throttle applied"
eng_running b g1
eng_absent a g1
# the guest's own cap travels in the configuration libxl retrieves when the migration
# begins, before any throttle; the throttle's never does
check_cap b 3
eng_verify b g1
eng_end

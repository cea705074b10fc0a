#!/usr/bin/env bash
# lab: stock
# 32-evacuate-sigterm: SIGTERM to migrd on a while it evacuates two guests (one at a time)
# to b. migrd must not strand a guest: the migration in flight finishes (or backs out),
# the other guest never starts and keeps running on a, its notice withdrawn; migrd exits;
# every guest runs on exactly one host with its memory verified.
set -u
. "$(dirname "$0")/../lib.sh"
lab_attach
EVAC_NOTICE=0
EVAC_PARALLEL=1
. "$(dirname "$0")/30-lib.inc"

evac_setup || { echo "FAIL: setup"; evac_teardown; exit 1; }
evac_guest a g7 "$EVAC_TYPE" "-w,8,-r,300" 128 "" || evac_fail "create g7"
evac_guest a g8 "$EVAC_TYPE" "-w,8,-r,300" 128 "" || evac_fail "create g8"
for g in g7 g8; do mw_ready a $g >/dev/null || evac_fail "memwork on $g did not start"; done
[ "$EVAC_FAILS" -eq 0 ] || evac_end

lab_sh a "xenstore-write /local/domain/0/migr/request '{\"action\":\"evacuate\",\"id\":\"lab-evac-3\"}'" ||
	evac_fail "writing the request"
# Wait for the first migration to be under way, then stop migrd.
t0=$SECONDS
until lab_sh a "xenstore-ls -f /local/domain/0/migr/evacuation/guest 2>/dev/null | grep -q 'state = \"migrating\"'"; do
	[ $((SECONDS - t0)) -ge 300 ] && { evac_fail "no migration started"; break; }
	sleep 0.5
done
echo "== SIGTERM to migrd on a while a migration runs"
lab_sh a 'kill -TERM $(xenstore-read /local/domain/0/migr/daemon/pid)'
if lab_wait a "${EVAC_MIGRD[a]}" 600 > "$LAB_RUN/a/share/migrd.log" 2>&1; then
	echo "migrd on a exited $((SECONDS - t0)) s after the request"
else
	evac_fail "migrd on a did not exit cleanly"
fi
sed 's/^/    migrd a: /' "$LAB_RUN/a/share/migrd.log" | tail -n 12
EVAC_MIGRD[a]=""
st=$(evac_state a)
echo "evacuation state on a: $st"
case $st in cancelled|done) ;; *) evac_fail "state '$st' after SIGTERM" ;; esac
lab_sh a "xenstore-read /local/domain/0/migr/daemon/state 2>/dev/null" && evac_fail "daemon state still published"

on_a=0; on_b=0
for g in g7 g8; do
	ina=$(lab_sh a "xl list $g >/dev/null 2>&1 && echo yes")
	inb=$(lab_sh b "xl list $g >/dev/null 2>&1 && echo yes")
	if [ "$ina" = yes ] && [ "$inb" = yes ]; then
		evac_fail "$g exists on both hosts"
	elif [ "$ina" = yes ]; then
		on_a=$((on_a + 1)); evac_running a $g && evac_verify a $g
		lab_sh a "xenstore-read /local/domain/\$(xl domid $g)/migr/maintenance-event 2>/dev/null" | grep -qx NONE ||
			evac_fail "$g stayed on a with a pending notice"
	elif [ "$inb" = yes ]; then
		on_b=$((on_b + 1)); evac_running b $g && evac_verify b $g
	else
		evac_fail "$g is on neither host"
	fi
	evac_absent a "$g--migratedaway" >/dev/null; evac_absent b "$g--incoming" >/dev/null
done
echo "after SIGTERM: $on_b guest(s) moved to b, $on_a still on a"
[ $on_b -ge 1 ] || evac_fail "the migration in flight did not finish"
evac_end

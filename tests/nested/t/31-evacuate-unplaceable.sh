#!/usr/bin/env bash
# lab: stock
# 31-evacuate-unplaceable: `migr evacuate` on host a through migrd. b has little free
# memory (a filler guest, built but never run, takes most), so g4 (384 MiB) fits nowhere while g5 does. The
# workloads are light: the hosts have one emulated CPU, shared by dom0 and the guests.
#  - `--dry-run` prints the plan (g4 unplaceable, with its reason), moves nothing and
#    exits 1 (not every guest has a target);
#  - the real run moves g5 (memory verified on b), leaves g4 running on a (memory
#    verified), reports it clearly, exits 1 (the host is not empty), and the event log
#    records the move and the one that stayed; the schema checker passes on both.
set -u
. "$(dirname "$0")/../lib.sh"
lab_attach
EVAC_NOTICE=0
. "$(dirname "$0")/30-lib.inc"

evac_setup || { echo "FAIL: setup"; evac_teardown; exit 1; }
bip=$(lab_ip b)
evac_guest b g9 "$EVAC_TYPE" "" 700 "" paused || evac_fail "create the filler on b"
evac_guest a g4 "$EVAC_TYPE" "-w,4,-r,50" 384 "1" || evac_fail "create g4"
evac_guest a g5 "$EVAC_TYPE" "-w,8,-r,200" 128 "1" || evac_fail "create g5"
for g in g4 g5; do mw_ready a $g >/dev/null || evac_fail "memwork on $g did not start"; done
lab_sh b "xl info | grep -E '^(total|free)_memory'" | sed 's/^/b: /'
[ "$EVAC_FAILS" -eq 0 ] || evac_end

echo "== migr evacuate --dry-run --to $bip:8002"
out=$(lab_sh a "$EVAC_BIN/migr evacuate --dry-run --to $bip:8002; echo exit=\$?" 300)
echo "$out"
echo "$out" | grep -q '^exit=1$' || evac_fail "dry run: exit status, expected 1 (g4 has no target)"
echo "$out" | grep -E '^ +g4 .*needs [0-9]+ MiB' >/dev/null || evac_fail "dry run: g4's reason not shown"
echo "$out" | grep -E '^ +g5 .* '"$bip" >/dev/null || evac_fail "dry run: g5 not planned to b"
for g in g4 g5; do evac_running a $g >/dev/null || true; done
[ -z "$(lab_sh b "xl list | awk 'NR>1{print \$1}' | grep -E '^g[45]'")" ] || evac_fail "dry run moved something"

echo "== migr evacuate --to $bip:8002"
t0=$SECONDS
out=$(lab_sh a "$EVAC_BIN/migr evacuate --to $bip:8002 --id lab-evac-2; echo exit=\$?" 900)
echo "$out"
echo "evacuation wall time: $((SECONDS - t0)) s"
echo "$out" | grep -q '^exit=1$' || evac_fail "exit status, expected 1 (host not empty)"
echo "$out" | grep -q "The host is NOT empty" || evac_fail "final summary does not say the host is not empty"
echo "$out" | grep -E '^g4 +.*unplaceable.*needs [0-9]+ MiB' >/dev/null || evac_fail "g4's reason missing from the table"
for g in g5; do
	evac_absent a $g
	evac_running b $g && evac_verify b $g
done
evac_running a g4 && evac_verify a g4
[ "$(evac_state a)" = incomplete ] || evac_fail "evacuation/state is '$(evac_state a)', expected incomplete"
lab_sh a "xenstore-read /local/domain/\$(xl domid g4)/migr/maintenance-event 2>/dev/null" | grep -qx NONE ||
	evac_fail "g4 (stayed) has a pending notice"
echo "--- migr status on a:"; lab_sh a "$EVAC_BIN/migr status" | sed 's/^/    /'

log=$LAB_RUN/a/share/events.jsonl
echo "--- event log on a:"; sed 's/^/    /' "$log" 2>/dev/null
[ "$(grep -c '"outcome":"moved"' "$log" 2>/dev/null)" = 1 ] || evac_fail "event log: expected 1 move"
grep '"guest":"g4"' "$log" 2>/dev/null | grep -q '"outcome":"unplaceable"' || evac_fail "event log: g4 not recorded as unplaceable"

evac_schema a
evac_schema b
evac_end

#!/usr/bin/env bash
# lab: stock
# 33-evacuate-window: an evacuation of three light PVH guests from a to b with up to two
# streams at once (parallel 2, no notice). The first guest's stream runs alone and measures
# the link; then a second is let in, so the others' pre-copies run side by side. Checks:
# the evacuation ends "done", every guest runs on b only with its memory verified, the
# records show two streams moving at once, and the end event carries the makespan, its
# bound and the window's reason.
set -u
. "$(dirname "$0")/../lib.sh"
lab_attach
EVAC_NOTICE=0
EVAC_PARALLEL=2
. "$(dirname "$0")/30-lib.inc"

evac_setup || { echo "FAIL: setup"; evac_teardown; exit 1; }
for g in g4 g5 g6; do
	evac_guest a $g pvh "-w,4,-r,100" 96 "" || evac_fail "create $g"
done
for g in g4 g5 g6; do mw_ready a $g >/dev/null || evac_fail "memwork on $g did not start"; done
[ "$EVAC_FAILS" -eq 0 ] || evac_end

echo "== migr evacuate --to b --parallel 2"
out=$(lab_sh a "$EVAC_BIN/migr evacuate --to $(lab_ip b):8002 --notice 0 --parallel 2 --id lab-evac-4; echo exit=\$?" 900)
echo "$out"
echo "$out" | grep -q '^exit=0$' || evac_fail "migr evacuate did not empty a"
echo "$out" | grep -q '^makespan [0-9.]* s, bound [0-9.]* s' || evac_fail "no makespan and bound in the summary"
for g in g4 g5 g6; do
	evac_absent a $g
	evac_running b $g && evac_verify b $g
done
log=$LAB_RUN/a/share/events.jsonl
python3 - "$log" <<'PY' || evac_fail "the records do not show two streams at once"
import json, sys
best = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("record") != "migration":
        continue
    print("%s: %s, stream %.1f s (held %.1f s), %.2f streams at once, blackout %.0f ms" % (
        r["guest"], r["outcome"], r.get("stream_ms", 0) / 1000.0,
        r.get("stream_held_ms", 0) / 1000.0, r.get("streams_at_once", 0),
        r.get("blackout_ms", 0)))
    best = max(best, r.get("streams_at_once", 0))
sys.exit(0 if best >= 1.2 else 1)
PY
evac_end

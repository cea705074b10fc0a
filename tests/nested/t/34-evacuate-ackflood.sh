#!/usr/bin/env bash
# lab: stock
# 34-evacuate-ackflood: a guest floods its maintenance ack node while the other guest on its
# host is evacuated. g1 acks its notice at once; g2 never acks. The same evacuation of both
# guests (notice 5 s, one stream at a time, g1 first since it acks) from a to b with g2
# writing its `migr/ack` node in a tight loop through the whole evacuation (memwork's
# `ackflood`: values that are never the event id, and children under the node). Checks: the
# evacuation ends "done", every guest runs on the target only with its memory verified; the
# flood was real (the guest counts its accepted writes) and never taken as an ack (g2 waited
# out its notice); the source's migrd noted the flood and the children once each.
# ACKFLOOD_BASELINE=1 first runs the same evacuation a -> b with g2 quiet and the flooded one
# back from b to a (the two hosts are alike, so the first is the second's baseline), and
# prints g1's migration and the evacuation in both runs with their ratios (flooded over
# quiet): the figure for "no slower beyond the lab's noise", read, not asserted (the lab is
# too noisy for a time limit). `make test` leaves the baseline out: it doubles the test's
# time for a figure no check reads.
set -u
. "$(dirname "$0")/../lib.sh"
lab_attach
EVAC_NOTICE=5
EVAC_PARALLEL=1
. "$(dirname "$0")/20-lib.inc"     # mw: memwork commands
. "$(dirname "$0")/30-lib.inc"

evac_setup || { echo "FAIL: setup"; evac_teardown; exit 1; }
evac_guest a g1 pvh "-w,4,-r,100" 96 "1" || evac_fail "create g1"
evac_guest a g2 pvh "-w,4,-r,100" 96 "--no-ack" || evac_fail "create g2"
for g in g1 g2; do
	mw_ready a $g >/dev/null || evac_fail "memwork on $g did not start"
	guest_wait_console a $g "migr-notice: .*watching" 60 || evac_fail "no notice watcher in $g"
done
[ "$EVAC_FAILS" -eq 0 ] || evac_end

# evacuate FROM TO ID: `migr evacuate` on FROM; both guests must end on TO, verified.
evacuate() {
	local from=$1 to=$2 id=$3 out g
	echo "== migr evacuate on $from --to $to ($id)"
	out=$(lab_sh "$from" "$EVAC_BIN/migr evacuate --to $(lab_ip "$to"):8002 --notice 5 --id $id; echo exit=\$?" 900)
	echo "$out" | tail -n 8 | sed 's/^/    /'
	echo "$out" | grep -q '^exit=0$' || evac_fail "$id: migr evacuate did not empty $from"
	# the evacuation's makespan, from its summary
	echo "$out" | sed -n 's/^ *makespan \([0-9.]*\) s,.*/\1/p' | head -n 1 >"$LAB_RUN/$id.makespan"
	for g in g1 g2; do
		evac_absent "$from" $g
		evac_running "$to" $g && evac_verify "$to" $g
	done
}

if [ "${ACKFLOOD_BASELINE:-0}" = 1 ]; then
	evacuate a b lab-flood-quiet
	src=b dst=a
else
	src=a dst=b
fi

echo "== g2 floods its ack node; the evacuation from $src to $dst"
r=$(mw $src g2 ackflood 900)
echo "g2: $r"
case $r in ok*) ;; *) evac_fail "ackflood did not start: $r" ;; esac
sleep 3
before=$(mw $src g2 ackflood 900 | sed -n 's/.* writes=\([0-9]*\).*/\1/p')
echo "g2 wrote its ack node ${before:-?} times in its first 3 s"
evacuate $src $dst lab-flood-flooded
r=$(mw $dst g2 ackflood 0)
echo "g2 after the evacuation (flood stopped): $r"
writes=$(echo "$r" | sed -n 's/.* writes=\([0-9]*\).*/\1/p')
# A flood is several times what migrd reads (4 events a second): at least 10 a second over
# its first 3 s (the lab's emulated guest and xenstored manage about 50).
[ "${before:-0}" -ge 30 ] || evac_fail "the flood was not one: ${before:-no} writes in its first 3 s"
[ "${writes:-0}" -gt "${before:-0}" ] || evac_fail "the flood stopped early: ${writes:-no} accepted writes in all"
evac_verify $dst g2

f=$LAB_RUN/$src/share/cmd/${EVAC_MIGRD[$src]}.out
grep -m1 "writes its ack node more than" "$f" | sed "s/^/migrd on $src: /" | grep . ||
	evac_fail "migrd on $src did not note the flood"
n=$(grep -c "writes its ack node more than" "$f")
[ "$n" -le 2 ] || evac_fail "migrd on $src noted the flood $n times (once per notice expected)"
grep -m1 "under its ack node: removed" "$f" | sed "s/^/migrd on $src: /" | grep . ||
	evac_fail "migrd on $src did not note the children under the ack node"
# g2 never acked: the flood's values are not the event id (its console followed it to a).
grep -q "acked" "$(guest_console a g2)" "$(guest_console b g2)" && evac_fail "g2 acked although told not to"

[ "${ACKFLOOD_BASELINE:-0}" = 1 ] || evac_end
logs="$LAB_RUN/a/share/events.jsonl $LAB_RUN/b/share/events.jsonl"
q=$(cat "$LAB_RUN/lab-flood-quiet.makespan" 2>/dev/null)
f=$(cat "$LAB_RUN/lab-flood-flooded.makespan" 2>/dev/null)
python3 - "$q" "$f" $logs <<'PY' || evac_fail "the figures of the two runs are incomplete"
import json, sys
mig = {}
evac = {}
for run, mk in (("quiet", sys.argv[1]), ("flooded", sys.argv[2])):
    try:
        evac[run] = {"makespan_ms": float(mk) * 1000.0}
    except ValueError:
        pass
lines = []
for path in sys.argv[3:]:
    try:
        lines += open(path).read().splitlines()
    except OSError:
        pass
for line in lines:
    r = json.loads(line)
    eid = r.get("evacuation") or r.get("id") or ""
    run = "quiet" if "lab-flood-quiet" in eid else "flooded" if "lab-flood-flooded" in eid else None
    if run is None:
        continue
    if r.get("record") == "migration" and r.get("guest") == "g1":
        mig[run] = r
ok = True
for run in ("quiet", "flooded"):
    m, e = mig.get(run), evac.get(run)
    if not m or not e:
        print("no record of g1's migration or no makespan in the %s run" % run)
        ok = False
        continue
    print("%-7s: g1 %s in %.1f s (stream %.1f s), blackout %.0f ms; evacuation makespan %.1f s" % (
        run, m.get("outcome"), m.get("total_ms", 0) / 1000.0, m.get("stream_ms", 0) / 1000.0,
        m.get("blackout_ms", 0), e.get("makespan_ms", 0) / 1000.0))
if ok:
    q, f = mig["quiet"], mig["flooded"]
    ratio = lambda k, a, b: (a.get(k, 0) / b.get(k, 0)) if b.get(k) else float("nan")
    print("ackflood: g1_total_ratio=%.2f g1_blackout_ratio=%.2f makespan_ratio=%.2f (flooded / quiet)" % (
        ratio("total_ms", f, q), ratio("blackout_ms", f, q),
        ratio("makespan_ms", evac["flooded"], evac["quiet"])))
sys.exit(0 if ok else 1)
PY
evac_end

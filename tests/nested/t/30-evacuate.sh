#!/usr/bin/env bash
# lab: shadow
# 30-evacuate: a write of the maintenance request node on host a makes migrd on a evacuate
# three PV guests (shadow-capable hypervisor) running memwork to b. Every guest runs its notice watcher: g1 acks at once,
# g2 asks for a deferral and does not ack (an ack would end the wait at once), g3 never
# acks (both wait out the notice). Checks: the
# request node was consumed; the evacuation ends "done"; every guest runs on b only, with
# its memory verified; each printed the notice on its console before it moved; the event
# log on a holds three records with their figures and the evacuation's own record, whose
# picture (and each migration's, and the index) migrd drew beside it; the schema checker
# passes on both hosts.
# One stream at a time (parallel 1): each guest's network-back and settle overlap the next
# one's pre-copy; the records carry each stream's time (33-evacuate-window has two at once).
set -u
. "$(dirname "$0")/../lib.sh"
lab_attach
EVAC_TYPE=${EVAC_TYPE:-pv}
. "$(dirname "$0")/30-lib.inc"

evac_setup || { echo "FAIL: setup"; evac_teardown; exit 1; }
evac_guest a g1 "$EVAC_TYPE" "-w,8,-r,300,-g,1000" 96 "1" || evac_fail "create g1"
evac_guest a g2 "$EVAC_TYPE" "-w,8,-r,300,-g,1000" 96 "--defer,3,--no-ack" || evac_fail "create g2"
evac_guest a g3 "$EVAC_TYPE" "-w,8,-r,300,-g,1000" 96 "--no-ack" || evac_fail "create g3"
for g in g1 g2 g3; do
	mw_ready a $g >/dev/null || evac_fail "memwork on $g did not start"
	guest_wait_console a $g "migr-notice: .*watching" 60 || evac_fail "no notice watcher in $g"
done
[ "$EVAC_FAILS" -eq 0 ] || evac_end

echo "== request: evacuate a"
t0=$SECONDS
lab_sh a "xenstore-write /local/domain/0/migr/request '{\"action\":\"evacuate\",\"id\":\"lab-evac-1\",\"reason\":\"lab maintenance\"}'" ||
	evac_fail "writing the request"
evac_wait a 900
echo "evacuation wall time: $((SECONDS - t0)) s"
[ "$EVAC_LAST_STATE" = done ] || evac_fail "evacuation ended '$EVAC_LAST_STATE', expected done"
echo "--- migr status on a:"; lab_sh a "$EVAC_BIN/migr status" | sed 's/^/    /'
lab_sh a "xenstore-read /local/domain/0/migr/request 2>/dev/null" && evac_fail "request node not consumed"

for g in g1 g2 g3; do
	evac_absent a $g
	evac_running b $g && evac_verify b $g
	# The console log follows the guest: its notice lines were written on a.
	c=$(guest_console a $g)
	grep -E "migr-notice: .*MIGRATE_ON_HOST_MAINTENANCE event=lab-evac-1-" "$c" | head -n 1 |
		sed "s/^/$g console: /" | grep . || evac_fail "$g never saw its notice"
done
grep -q "acked lab-evac-1-" "$(guest_console a g1)" || evac_fail "g1 did not ack"
grep -q "asked for 3 s of deferral" "$(guest_console a g2)" || evac_fail "g2 did not ask for a deferral"
grep -q "acked" "$(guest_console a g3)" && evac_fail "g3 acked although told not to"
grep -q "acked" "$(guest_console a g2)" && evac_fail "g2 acked although told not to"

echo "--- event log on a:"
log=$LAB_RUN/a/share/events.jsonl
cat "$log" 2>/dev/null | sed 's/^/    /'
n=$(grep -c '"record":"migration"' "$log" 2>/dev/null)
[ "${n:-0}" -eq 3 ] || evac_fail "event log has ${n:-0} migration records, expected 3"
python3 - "$log" "$LAB_RUN/a/share" <<'PY' || evac_fail "event log records incomplete"
import json, os, sys
import xml.etree.ElementTree as ET
ok = True
share = sys.argv[2]
evac = [json.loads(l) for l in open(sys.argv[1]) if '"record":"evacuation"' in l]
# the evacuation's own record names its picture, drawn beside the event log (/host = share)
if len(evac) != 1 or evac[0].get("state") != "done" or evac[0].get("moved") != 3:
    print("evacuation record: %s" % evac); ok = False
else:
    pics = [evac[0].get("report", "")] + ["/host/index.html"]
    for l in open(sys.argv[1]):
        m = json.loads(l)
        if m.get("record") == "migration":
            pics.append("/host/migration-%s.svg" % m.get("migration_id"))
    for pic in pics:
        path = os.path.join(share, pic[len("/host/"):]) if pic.startswith("/host/") else ""
        try:
            if path.endswith(".svg"):
                ET.parse(path)            # well-formed XML, or it raises
            elif os.path.getsize(path) == 0:
                raise ValueError("empty")
            print("picture %s: %d bytes" % (pic, os.path.getsize(path)))
        except Exception as e:
            print("picture %s: %s" % (pic or "(none named)", e)); ok = False
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("record") != "migration":
        continue
    for k in ("evacuation", "migration_id", "guest", "source", "target", "outcome", "rounds",
              "bytes", "blackout_ms", "blackout_phases_ms", "net_back_ms", "total_ms",
              "forwarded_packets", "acked", "deferred"):
        if k not in r:
            print("record of %s lacks %s" % (r.get("guest"), k)); ok = False
    if r.get("outcome") != "moved" or not r.get("rounds") or not r.get("bytes") or not r.get("migration_id"):
        print("record of %s: outcome %s rounds %s bytes %s" % (r.get("guest"), r.get("outcome"), r.get("rounds"), r.get("bytes"))); ok = False
    print("%-4s -> %s: %s in %.1f s, %d rounds, %.1f MiB, blackout %.1f ms, acked %s, deferred %s, forwarded %s" % (
        r["guest"], r["target"], r["outcome"], r["total_ms"] / 1000.0, r["rounds"], r["bytes"] / 1048576.0,
        r["blackout_ms"], r["acked"], r["deferred"], r["forwarded_packets"]))
    ph = r.get("blackout_phases_ms") or {}
    print("     phases (ms): %s; network back %s ms" % (
        ", ".join("%s %.1f" % kv for kv in ph.items()), r.get("net_back_ms")))
    if not ph.get("suspend") or not ph.get("restore_tail"):
        print("record of %s: blackout phases not measured" % r.get("guest")); ok = False
    if r.get("outcome") == "moved" and not isinstance(r.get("net_back_ms"), (int, float)):
        print("record of %s: the guest's vif was not seen connected again" % r.get("guest")); ok = False
    print("     stream %.1f s (held %.1f s), %.2f streams at once" % (r.get("stream_ms", 0) / 1000.0, r.get("stream_held_ms", 0) / 1000.0, r.get("streams_at_once", 0)))
    if r["guest"] == "g1" and not r["acked"]: print("g1: ack not recorded"); ok = False
    if r["guest"] == "g2" and not r["deferred"]: print("g2: deferral not recorded"); ok = False
sys.exit(0 if ok else 1)
PY

evac_schema a
evac_schema b
evac_end

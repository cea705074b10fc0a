#!/usr/bin/env bash
# bench/evac/run.sh (`make bench-evac`): how close an evacuation comes to the time its bytes
# need. Two nested lab hosts (stock hypervisor); each run evacuates four PVH guests of
# different sizes and dirty rates from a to b through migrd (`migr evacuate --notice 0`),
# then verifies every guest's memory on b and removes them. The evacuation measures its
# own bound in the same run: the bytes the link carried for its streams over the rate one
# stream got alone (docs/evacuation.md, "Streams, order, makespan"); the makespan runs from
# the first stream's start to the last guest's end.
#
# Each run prints where its makespan went (bench/evac/timeline.py: per guest, the pre-flight,
# the stream and the time after it; for the whole, the time with 0, 1, 2 streams moving).
# Ends with `bench-evac: guests=N makespan_s=M bound_s=B makespan_ratio=R` (medians over
# the runs), after the same ratio against the stricter bound (the bytes over the most the
# link carried, streams together included). Knobs: BENCH_EVAC_RUNS (default 3), BENCH_EVAC_PARALLEL (the ceiling of
# streams at once, default 2).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
. tests/nested/lib.sh
. tests/nested/t/20-lib.inc

RUNS=${BENCH_EVAC_RUNS:-3}
PAR=${BENCH_EVAC_PARALLEL:-2}
# name, MiB, memwork options (hot set MiB, pages/s rewritten)
GUESTS="g1:96:-w,4,-r,100 g2:112:-w,8,-r,400 g3:128:-w,16,-r,1000 g4:160:-w,8,-r,200"

eng_begin a:stock b:stock
EVAC_NOTICE=0
. tests/nested/t/30-lib.inc
evac_setup || { echo "bench-evac: lab set-up failed"; exit 1; }
results=$(mktemp)
trap 'rm -f "$results"; lab_down' EXIT

for run in $(seq 1 "$RUNS"); do
	for spec in $GUESTS; do
		IFS=: read -r name mem work <<<"$spec"
		evac_guest a "$name" pvh "$work" "$mem" "" || evac_fail "run $run: create $name"
	done
	for spec in $GUESTS; do mw_ready a "${spec%%:*}" >/dev/null || evac_fail "run $run: memwork"; done
	[ "$EVAC_FAILS" -eq 0 ] || break
	out=$(lab_sh a "$EVAC_BIN/migr evacuate --to $(lab_ip b):8002 --notice 0 --parallel $PAR --id bench-evac-$run --json" 1800)
	end=$(echo "$out" | grep '"event":"end"' | tail -n 1)
	line=$(python3 - "$end" <<'PY'
import json, sys
try:
    e = json.loads(sys.argv[1])
except ValueError:
    print("none"); sys.exit(0)
print("%s %d %d %d %.1f %d %d %.1f %s %s" % (e.get("state"), e.get("moved", 0),
      e.get("makespan_ms", 0), e.get("bound_ms", 0), e.get("bound_bps", 0) / 8388608.0,
      e.get("bound_streams", 0), e.get("bound_link_ms", 0), e.get("link_bps", 0) / 8388608.0,
      e.get("window_max", 0), json.dumps(e.get("window", ""))))
PY
)
	read -r state moved mk bd brate bn bl lrate wmax why <<<"$line"
	echo "run $run: $state, $moved moved, makespan $((mk / 1000)).$(( (mk % 1000) / 100 )) s, bound $((bd / 1000)).$(( (bd % 1000) / 100 )) s (one stream's $brate MiB/s over the $bn that ran alone), over the most the link carried $((bl / 1000)).$(( (bl % 1000) / 100 )) s ($lrate MiB/s), up to $wmax stream(s): $why"
	# where the makespan went: the streams' intervals and the fixed costs around them
	echo "$out" | python3 bench/evac/timeline.py | sed 's/^/  /'
	if [ "$state" = done ] && [ "$moved" = 4 ] && [ "$bd" -gt 0 ] && [ "$bl" -gt 0 ]; then
		echo "$mk $bd $bl" >>"$results"
	else
		evac_fail "run $run: evacuation $state, $moved moved"
		echo "$out" | tail -n 20
	fi
	for spec in $GUESTS; do
		name=${spec%%:*}
		evac_running b "$name" >/dev/null && evac_verify b "$name" >/dev/null
		lab_sh b "xl destroy $name" >/dev/null 2>&1
		lab_sh a "xl destroy $name" >/dev/null 2>&1
	done
done
evac_teardown >/dev/null 2>&1
python3 - "$results" "$(echo "$GUESTS" | wc -w)" <<'PY'
import statistics, sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
if not rows:
    print("bench-evac: guests=%s makespan_s=none bound_s=none makespan_ratio=none" % sys.argv[2]); sys.exit(1)
mk = statistics.median(r[0] for r in rows) / 1000.0
bd = statistics.median(r[1] for r in rows) / 1000.0
ratios = sorted(r[0] / r[1] for r in rows)
link = sorted(r[0] / r[2] for r in rows)
print("bench-evac: runs=%d ratios=%s" % (len(rows), ",".join("%.2f" % x for x in ratios)))
# the stricter figure: the same bytes over the most the link carried (one stream, or
# streams together when they added): where one stream does not fill the link, the bound
# above is more than the bytes need and a ratio can come out under 1
print("bench-evac: over the most the link carried: ratios=%s makespan_ratio_link=%.2f" % (
    ",".join("%.2f" % x for x in link), statistics.median(link)))
print("bench-evac: guests=%s makespan_s=%.1f bound_s=%.1f makespan_ratio=%.2f" % (
    sys.argv[2], mk, bd, statistics.median(ratios)))
PY
rc=$?
[ "$EVAC_FAILS" -eq 0 ] && exit $rc
exit 1

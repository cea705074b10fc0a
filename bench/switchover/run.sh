#!/usr/bin/env bash
# bench/switchover/run.sh (`make bench-switchover`): what a client sees of the switch-over,
# with forwarding (the default) and without (`--no-forward`), in the nested lab under a
# fabric that reroutes late (lab test 28's set-up, tests/nested/t/28-lib.inc): a PVH guest
# echoes the client's UDP datagrams (RATE/s) and its TCP stream while it moves between two
# hosts (stock hypervisor), the lab bridge pointing its MAC at the old host until the
# fabric controller moves it, FABRIC_DELAY_MS after the switch-over hook asked.
#
# Each run makes two hops, one with forwarding and one without; the directions alternate
# from run to run, so neither mode always leaves the same host. Per hop (flow.py): lost
# after the blackout window (the fabric had not rerouted and nothing forwarded it), lost
# inside it, lost during pre-copy (the brownout, apart), and the client's longest gap less
# migr's own blackout figure, beside the time from the unpause to the guest's vifs connected
# again (migr's net_back_ms: the guest's own resume, which no frame gets past). Lost means
# never reached the guest, by the guest echo's own count (lab test 28 says why: the
# emulated guest's echo lags seconds after a hop); what was not echoed after the blackout
# window is printed beside (not_echoed).
#
# Ends with
#   bench-switchover: lost_with=N lost_without=M lost_in_blackout_with=K gap_over_blackout_ms=G
# medians over the hops of each mode (G over the hops with forwarding), each printed with
# its spread above it. Knobs: BENCH_SWITCHOVER_RUNS (default 3), FABRIC_DELAY_MS (3000),
# SWITCHOVER_RATE (100 datagrams/s: what a guest of this lab echoes in full).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
. tests/nested/lib.sh
. tests/nested/t/20-lib.inc

RUNS=${BENCH_SWITCHOVER_RUNS:-3}
FABRIC_DELAY_MS=${FABRIC_DELAY_MS:-3000}
RATE=${SWITCHOVER_RATE:-100}
TRAF=$LAB_TOP/$BUILD/tests/net/fwdtraf
[ -x "$TRAF" ] || make -s "$BUILD/tests/net/fwdtraf" || { echo "bench-switchover: no $TRAF"; exit 1; }

eng_begin a:stock b:stock
HOPS=$(mktemp)
trap 'rm -f "$HOPS"; lab_fabric_off; lab_down' EXIT
. tests/nested/t/28-lib.inc
sw_setup || { echo "bench-switchover: set-up failed"; exit 1; }

# hop MODE SRC DST N
hop() {
	local mode=$1 src=$2 dst=$3 label="$1-$4" args=
	[ "$mode" = without ] && args=--no-forward
	sw_hop "$src" "$dst" "$label" $args >"$LAB_RUN/$label.log" 2>&1
	grep -E "^(udp|lost runs|blackout:|FAIL)" "$LAB_RUN/$label.log" | sed "s/^/  $label $src->$dst: /"
	grep -q '^udp-guest: reached=' "$LAB_RUN/$label.udp" 2>/dev/null || return 1
	echo "$mode $(sw_field "$label" not_reached_outside) $(sw_field "$label" not_reached_in_blackout)" \
		"$(sw_field "$label" not_reached_precopy) $(sw_field "$label" gap_over_blackout_ms)" \
		"$(sw_field "$label" lost_outside)" \
		"$(sed -n 's/^blackout: .* net_back_ms=\([0-9.]*\).*/\1/p' "$LAB_RUN/$label.log")" >>"$HOPS"
	for h in a b; do sw_clean "$h" >/dev/null; done
}

echo "bench-switchover: $RUNS runs of two hops, fabric delay $FABRIC_DELAY_MS ms, $RATE datagrams/s"
here=a there=b fail=0
for run in $(seq 1 "$RUNS"); do
	if [ $((run % 2)) = 1 ]; then first=with second=without; else first=without second=with; fi
	hop "$first" "$here" "$there" "$run" || fail=1
	hop "$second" "$there" "$here" "$run" || fail=1
	[ "$ENG_FAILS" -eq 0 ] || { fail=1; break; }
done
lab_sh a "xl destroy g1" >/dev/null 2>&1; lab_sh b "xl destroy g1" >/dev/null 2>&1

# "median [min..max]" of column C over the hops of MODE; med: the median alone
stat() { awk -v m="$1" -v c="$2" '$1==m && $c!=""{print $c}' "$HOPS" | sort -g |
	awk '{v[NR]=$1} END{if (!NR) {print "nan"; exit}
		printf "%g [%g..%g]\n", (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2, v[1], v[NR]}'; }
med() { stat "$@" | cut -d' ' -f1; }
echo
for m in with without; do
	echo "$m forwarding ($(grep -c "^$m " "$HOPS") hops): lost after the blackout $(stat $m 2)," \
		"inside it $(stat $m 3), during pre-copy $(stat $m 4), gap over the blackout $(stat $m 5) ms;" \
		"not echoed after the blackout $(stat $m 6); the guest's vifs connected $(stat $m 7) ms" \
		"after the unpause"
done
echo "(delay x rate = $((FABRIC_DELAY_MS * RATE / 1000)) datagrams: what a fabric this late loses without forwarding)"
echo "bench-switchover: lost_with=$(med with 2) lost_without=$(med without 2) lost_in_blackout_with=$(med with 3) gap_over_blackout_ms=$(med with 5)"
exit $fail

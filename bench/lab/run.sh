#!/usr/bin/env bash
# bench/lab/run.sh: stock `xl migrate` vs `migr migrate` between two nested lab hosts (stock
# hypervisor), on the same PVH guest running the same memwork workload. Each run moves the
# guest A -> B with one tool, then back B -> A with the same tool; every hop is a sample.
#
# Per hop:
#   blackout, guest-seen: the longest gap in replies to a ping every 10 ms from the lab
#     network to the guest (an outside observer: no clock offsets between hosts), and
#     memwork's own last realtime gap (indicative only: after a migration the guest's
#     clock is set from the target's, and the emulated hosts' clocks drift apart);
#   blackout, tool-measured: migr's own figure (suspend request to DONE); xl prints none;
#   network back (migr only): the target's figures, unpause to the guest's vif connected
#     again (its netfront reconnected) and to the guest's first frame on it; the ping gap
#     covers these and the observer's wait;
#   total time: the migrate command's wall time;
#   bytes: bytes the target's dom0 received on its lab NIC during the hop (stream, framing,
#     TLS for migr; xl's pipe is plain TCP through labpipe);
#   brownout: the guest workload's rate while the migration runs and the guest still runs
#     on the source (its pre-copy), over its rate in the 12 s before: memwork's write count
#     with the guest's clock when it was counted (its console stats line, every 2 s),
#     read from the console log the source's xenconsoled keeps in the lab's share, the
#     same for both tools; the rate during runs from the first line after the start to
#     the end of the pre-copy, where the ping observer's largest gap begins (1.0: no
#     slowdown);
#   predict_err (migr only): |predicted - measured| / measured blackout, from migr's result;
#   src_dom0_cpu_s, dst_dom0_cpu_s: CPU seconds the source's and the target's dom0 used
#     during the hop (xl list), which the source's guest competes with for its host's CPU;
#   src_dom0_load0, src_dom0_load: the share of the source's CPU its dom0 used in the 12 s
#     before the hop (the bench's own readings, the ping) and during it;
#   guest_cpu0, guest_cpu: the share of the source's CPU the guest used in the 12 s before
#     the hop and from 5 s to 15 s into it (its pre-copy, with either tool; xl list).
# Ratios are migr / xl of the medians (brownout_ratio: migr's over xl's, higher is better);
# predict_err is the median over migr's hops. Each median is printed with its spread.
#
# Knobs: BENCH_LAB_RUNS (default 3 round trips per tool), BENCH_LAB_WORK (memwork options,
# commas for spaces; default a 32 MiB hot set rewritten at 8000 pages/s, which the lab link
# cannot drain in 5 rounds), BENCH_LAB_DOWNTIME (migr --downtime, default 300),
# BENCH_LAB_MIGR_ARGS (more options for migr migrate, e.g. "--peek-interval 0"; default none),
# BENCH_LAB_TOOLS (default "xl migr"; "migr" alone compares migr's options run to run, and
# leaves the ratios nan).
#
# run.sh --heavy (make bench-lab-heavy): the write-heavy guest over a shaped link. Both hosts'
# taps on the lab bridge send at most BENCH_LAB_LINK (default 16mbit, tc tbf) toward their
# host, so every hop's stream is held to that rate for both tools; the guest (128 MiB) rewrites
# a 16 MiB hot set as fast as it can (8000 pages/s asked; the emulated guest reaches about
# 1000, 4 MiB/s, twice what the link carries uncompressed), so rounds alone do not drain it;
# migr runs with --throttle (BENCH_LAB_MIGR_ARGS replaces it). The last line is
# bench-lab-heavy: with the same figures.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
. tests/nested/lib.sh
. tests/nested/t/20-lib.inc

summary() {   # HOPS_FILE [LINE]
	local HOPS=$1 LINE=${2:-bench-lab} tool
	median() { sort -g | awk '{v[NR]=$1} END{if (!NR) {print "nan"; exit} if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
	col() { awk -v t="$1" -v c="$2" '$1==t && $c!="nan"{print $c}' "$HOPS" | median; }
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0 == 0 || a == "nan" || b == "nan") print "nan"; else printf "%.2f\n", a / b }'; }
	# "median [min..max]"
	spread() { awk -v t="$1" -v c="$2" '$1==t && $c!="nan"{print $c}' "$HOPS" | sort -g |
		awk '{v[NR]=$1} END{if (!NR) {print "nan"; exit}
			m = (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2
			printf "%g [%g..%g]\n", m, v[1], v[NR]}'; }
	echo
	echo "hops: xl $(grep -c '^xl ' "$HOPS"), migr $(grep -c '^migr ' "$HOPS") (median [min..max] over hops)"
	for tool in xl migr; do
		echo "$tool:"
		printf '  %-18s %s\n' ping_gap_ms "$(spread $tool 2)" memwork_gap_ms "$(spread $tool 3)" \
			tool_blackout_ms "$(spread $tool 4)" total_s "$(spread $tool 5)" bytes "$(spread $tool 6)" \
			net_back_ms "$(spread $tool 7)" first_frame_ms "$(spread $tool 8)" brownout "$(spread $tool 9)" \
			predict_err "$(spread $tool 10)" src_dom0_cpu_s "$(spread $tool 11)" dst_dom0_cpu_s "$(spread $tool 12)" \
			src_dom0_load0 "$(spread $tool 13)" src_dom0_load "$(spread $tool 14)" \
			guest_cpu0 "$(spread $tool 15)" guest_cpu "$(spread $tool 16)"
	done
	echo "(blackout ratio from the ping observer, the one measure both tools share)"
	echo "$LINE: blackout_ratio=$(ratio "$(col migr 2)" "$(col xl 2)") total_time_ratio=$(ratio "$(col migr 5)" "$(col xl 5)") bytes_ratio=$(ratio "$(col migr 6)" "$(col xl 6)") brownout_ratio=$(ratio "$(col migr 9)" "$(col xl 9)") predict_err=$(col migr 10)"
}
# run.sh [--heavy] --summary HOPS_FILE: the figures of an earlier (or interrupted) run
HEAVY=0
if [ "${1:-}" = --heavy ]; then HEAVY=1; shift; fi
if [ $HEAVY = 1 ]; then
	LINE=bench-lab-heavy
	WORK=${BENCH_LAB_WORK:--w,16,-r,8000,-g,1000,--stats-s,2}
	MEM=128
	MIGR_ARGS=${BENCH_LAB_MIGR_ARGS---throttle}
	LINK=${BENCH_LAB_LINK:-16mbit}
else
	LINE=bench-lab
	WORK=${BENCH_LAB_WORK:--w,32,-r,8000,-g,1000,--stats-s,2}
	MEM=256
	MIGR_ARGS=${BENCH_LAB_MIGR_ARGS:-}
	LINK=
fi
if [ "${1:-}" = --summary ]; then summary "$2" "$LINE"; exit 0; fi

RUNS=${BENCH_LAB_RUNS:-3}
TOOLS=${BENCH_LAB_TOOLS:-xl migr}
DOWNTIME=${BENCH_LAB_DOWNTIME:-300}
OUT=$LAB_CACHE/$LINE.$$
GIP=169.254.10.101

eng_begin a:stock b:stock
mkdir -p "$OUT"
if [ -n "$LINK" ]; then
	lab_shape "$LINK" a b || { echo "$LINE: cannot shape the lab's link to $LINK"; exit 1; }
	trap 'lab_unshape a b; [ -n "${LAB_HOSTS_ENV:-}" ] || lab_down' EXIT
fi
guest_create a g1 pvh "$WORK" "$MEM" || { echo "$LINE: guest_create failed"; exit 1; }
eng_verify a g1 || exit 1

rx_bytes() { lab_sh "$1" "cat /sys/class/net/eth0/statistics/rx_bytes"; }
# dom0_cpu HOST: the CPU seconds HOST's dom0 has used (xl list); cpu_delta A B: B - A or nan
dom0_cpu() { lab_sh "$1" "xl list 0 | awk 'NR==2{print \$6}'" 2>/dev/null; }
cpu_delta() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "") print "nan"; else printf "%.1f\n", b - a }'; }
# guest_cpu HOST: the CPU seconds guest g1 has used on HOST (xl list; the name it has until
# both tools' suspend)
guest_cpu() { lab_sh "$1" "xl list g1 | awk 'NR==2{print \$6}'" 2>/dev/null; }
# guest_cpu_during HOST FILE: two readings of it in the pre-copy, 5 s and 15 s after its
# start ("T CPU" lines; both tools' pre-copy lasts longer)
guest_cpu_during() {
	sleep 5; echo "$(date +%s.%N) $(guest_cpu "$1")" >>"$2"
	sleep 10; echo "$(date +%s.%N) $(guest_cpu "$1")" >>"$2"
}
# load CPU0 CPU1 T0 T1: the share of its host's CPU a dom0 used from T0 to T1 (its host has one)
load() { awk -v a="$1" -v b="$2" -v t0="$3" -v t1="$4" 'BEGIN{ if (a == "" || b == "" || t1 <= t0) print "nan"; else printf "%.2f\n", (b - a) / (t1 - t0) }'; }

# ping_start FILE / ping_stop: an outside observer on the lab bridge
ping_start() {
	ip netns exec "$LAB_NS" ping -D -i 0.01 -W 1 "$GIP" >"$1" 2>/dev/null &
	PING_PID=$!
}
ping_stop() { kill "$PING_PID" 2>/dev/null; wait "$PING_PID" 2>/dev/null; }
# longest gap (ms) between consecutive replies
ping_gap() {
	awk -F'[][]' '/bytes from/{t=$2; if (p) { g=(t-p)*1000; if (g>m) m=g }; p=t} END{printf "%.0f\n", m}' "$1"
}
# when the longest gap began (the last reply before it, this machine's clock), or nan
ping_gap_at() {
	awk -F'[][]' '/bytes from/{t=$2; if (p && t - p > m) {m = t - p; s = p}; p=t} END{if (s) printf "%.3f\n", s; else print "nan"}' "$1"
}

# rate_start HOST FILE / rate_stop: memwork's stats lines (its write count and the guest's
# clock when it was counted, every 2 s with the bench's --stats-s 2) from the guest's
# console log, which xenconsoled on HOST writes into the lab's share: read here, every
# 0.5 s, at no cost to the host. FILE gets a line "T WRITES GUEST_T" for each new one, T
# this machine's clock when it was first seen. The bench read memwork's count through its
# stats command over xenstore until 2026-12: `xl domid`, a command node polled every
# 100 ms and memwork's answer, back to back, took about half of the source's CPU from the
# guest (make bench-lab-observer).
rate_start() {
	local log
	# the log xenconsoled writes now: the newest of the guest's names (xl leaves a guest
	# it received logging under its temporary name, NAME--incoming)
	log=$(ls -t "$(guest_console "$1" g1)" "$(guest_console "$1" g1--incoming)" 2>/dev/null | head -n 1)
	( start=$(( $(stat -c %s "$log" 2>/dev/null || echo 0) + 1 )) last=
	  while :; do
		new=$(tail -c +"$start" "$log" 2>/dev/null | tr -d '\r' | sed -n \
			's/.*memwork: stats writes=\([0-9][0-9]*\) .* at=\([0-9][0-9]*\.[0-9][0-9][0-9]\)$/\1 \2/p' |
			tail -n 1)
		if [ -n "$new" ] && [ "$new" != "$last" ]; then
			echo "$(date +%s.%N) $new"
			last=$new
		fi
		sleep 0.5
	  done >"$2" ) &
	RATE_PID=$!
}
rate_stop() { kill "$RATE_PID" 2>/dev/null; wait "$RATE_PID" 2>/dev/null; }
# brownout FILE T0 T1: writes/s over the guest's clock from the first line counted at or
# after T0 to T1, the end of the pre-copy (the ping observer's largest gap starts there: the
# guest stops), over writes/s between the lines counted before T0 ("nan" when there are
# fewer than two before, or none in between). A line's moment on this machine's clock is its
# guest time plus the smallest lag seen between the guest's clock and this one (lines are
# seen within the 0.5 s poll of being printed). The count at T1 is the last line's before
# it: memwork prints its line from the loop that writes, so a writer held up by the
# pre-copy prints nothing until it goes on, and the rate must run to T1, not to its last
# line (to that line, a writer stopped for the last 30 s of a pre-copy read as unslowed).
brownout() {
	awk -v t0="$2" -v t1="$3" 'NF < 3 {next}
		{n++; w[n]=$2; g[n]=$3; if (n == 1 || $1 - $3 < off) off = $1 - $3}
		END {
			if (t1 == "" || t1 == "nan") { print "nan"; exit }
			for (i = 1; i <= n; i++) {
				t = g[i] + off
				if (t < t0) {if (!bn) {bt0=g[i]; bw0=w[i]}; bn++; bt1=g[i]; bw1=w[i]}
				else if (t < t1) {if (!dn) {dt0=g[i]; dw0=w[i]}; dn++; dw1=w[i]}
			}
			dt1 = t1 - off
			if (bn < 2 || dn < 1 || bt1 <= bt0 || dt1 <= dt0 || bw1 <= bw0) { print "nan"; exit }
			printf "%.3f\n", ((dw1 - dw0) / (dt1 - dt0)) / ((bw1 - bw0) / (bt1 - bt0))
		}' "$1"
}

# hop TOOL SRC DST N: one migration; appends "tool blackout_ping mw_gap tool_blackout total bytes
# net_back first_frame brownout predict_err src_dom0_cpu dst_dom0_cpu src_dom0_load0
# src_dom0_load guest_cpu0 guest_cpu" to $OUT/hops
hop() {
	local tool=$1 src=$2 dst=$3 n=$4 t0 t1 rx0 rx1 out id mwgap tb="nan" nb="nan" ff="nan" rc
	local bo pe="nan" pb c0s c1s c0d c1d cps tp gp g0 gcpu0 gcpu gd_pid
	rx0=$(rx_bytes "$dst")
	rate_start "$src" "$OUT/rate.$tool.$n"
	ping_start "$OUT/ping.$tool.$n"
	cps=$(dom0_cpu "$src"); gp=$(guest_cpu "$src"); tp=$(date +%s.%N)
	sleep 12    # the rate before: three readings or more
	c0s=$(dom0_cpu "$src"); c0d=$(dom0_cpu "$dst"); g0=$(guest_cpu "$src")
	t0=$(date +%s.%N)
	gcpu0=$(load "$gp" "$g0" "$tp" "$t0")
	guest_cpu_during "$src" "$OUT/gcpu.$tool.$n" &
	gd_pid=$!
	if [ "$tool" = xl ]; then
		id=$(lab_sh_bg "$dst" "labpipe listen 9100 xl migrate-receive 2>&1")
		sleep 1
		out=$(lab_sh "$src" "xl migrate -s 'labpipe connect 9100' g1 $(lab_ip "$dst") 2>&1; echo exit=\$?" 1500)
	else
		id=$(eng_migrd "$dst")
		eng_listening "$dst" "$id"
		out=$(lab_sh "$src" "migr migrate --json -q --psk $PSK --downtime $DOWNTIME $MIGR_ARGS g1 $(lab_ip "$dst") 2>/dev/null; echo exit=\$?" 1500)
		tb=$(echo "$out" | sed -n 's/.*"event":"result".*"blackout_ms":\([0-9.]*\).*/\1/p')
		nb=$(echo "$out" | sed -n 's/.*"event":"result".*"net_back_ms":\([0-9.]*\).*/\1/p')
		ff=$(echo "$out" | sed -n 's/.*"event":"result".*"first_frame_ms":\([0-9.]*\).*/\1/p')
		pb=$(echo "$out" | sed -n 's/.*"event":"result".*"predicted_blackout_ms":\([0-9.]*\).*/\1/p')
		pe=$(awk -v p="${pb:-}" -v m="${tb:-}" 'BEGIN{ if (p == "" || m == "" || m + 0 <= 0) print "nan";
			else { d = (p - m) / m; printf "%.3f\n", d < 0 ? -d : d } }')
	fi
	t1=$(date +%s.%N)
	c1s=$(dom0_cpu "$src"); c1d=$(dom0_cpu "$dst")
	wait "$gd_pid" 2>/dev/null
	gcpu=$(awk 'NR==1{t=$1; c=$2} NR==2 && $2 != "" && c != "" && $1 > t {printf "%.2f\n", ($2 - c) / ($1 - t); ok=1}
		END{if (!ok) print "nan"}' "$OUT/gcpu.$tool.$n" 2>/dev/null)
	sleep 3
	ping_stop
	rate_stop
	bo=$(brownout "$OUT/rate.$tool.$n" "$t0" "$(ping_gap_at "$OUT/ping.$tool.$n")")
	lab_wait "$dst" "$id" 120 >"$OUT/recv.$tool.$n" 2>&1
	rc=$(echo "$out" | sed -n 's/^exit=//p')
	echo "$out" >"$OUT/out.$tool.$n"
	rx1=$(rx_bytes "$dst")
	if [ "$rc" != 0 ]; then
		echo "$LINE: $tool hop $n ($src -> $dst) failed (exit $rc):"; echo "$out" | tail -5
		return 1
	fi
	# (memwork writes its nodes again a few seconds after the pause; the verification
	# waits for them)
	eng_verify "$dst" g1 >/dev/null || { echo "$LINE: memory check failed after $tool hop $n"; return 1; }
	mwgap=$(lab_sh "$dst" "xenstore-read /local/domain/\$(xl domid g1)/data/memwork/last-gap-ms" 2>/dev/null)
	case $mwgap in ''|*[!0-9.]*) mwgap=nan ;; esac   # not written yet: a message, not a figure
	printf '%s %s %s %s %.2f %s %s %s %s %s %s %s %s %s %s %s\n' "$tool" "$(ping_gap "$OUT/ping.$tool.$n")" "${mwgap:-nan}" "${tb:-nan}" \
		"$(echo "$t1 - $t0" | bc)" "$((rx1 - rx0))" "${nb:-nan}" "${ff:-nan}" "${bo:-nan}" "${pe:-nan}" \
		"$(cpu_delta "$c0s" "$c1s")" "$(cpu_delta "$c0d" "$c1d")" \
		"$(load "$cps" "$c0s" "$tp" "$t0")" "$(load "$c0s" "$c1s" "$t0" "$t1")" \
		"${gcpu0:-nan}" "${gcpu:-nan}" | tee -a "$OUT/hops"
}

echo "$LINE: $RUNS round trips per tool, workload memwork ${WORK//,/ } ($MEM MiB PVH guest), migr --downtime $DOWNTIME${MIGR_ARGS:+ $MIGR_ARGS}${LINK:+, link shaped to $LINK}"
echo "tool ping_gap_ms memwork_gap_ms tool_blackout_ms total_s bytes net_back_ms first_frame_ms brownout predict_err src_dom0_cpu_s dst_dom0_cpu_s src_dom0_load0 src_dom0_load guest_cpu0 guest_cpu"
fail=0
for i in $(seq "$RUNS"); do
	for tool in $TOOLS; do
		hop "$tool" a b "$i.1" || fail=1
		hop "$tool" b a "$i.2" || fail=1
	done
done

summary "$OUT/hops" "$LINE"
exit $fail

#!/bin/bash
# bench/lab/observer.sh: what bench-lab's observers cost the host they observe. On one lab
# host with bench-lab's guest (256 MiB PVH, memwork -w 32 -r 8000), six stretches of 20 s:
# nothing, the ping every 10 ms, memwork's stats command back to back (bench-lab's earlier
# rate observer), memwork's progress node read every 2 s by a loop in dom0 (its rate
# observer now), the ping and that (as bench-lab runs), nothing again. Prints, for each, the share of the host's one
# CPU its dom0 and the guest used (xl list) and memwork's writes/s.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
. tests/nested/lib.sh
. tests/nested/t/20-lib.inc
GIP=169.254.10.101

eng_begin a:stock b:stock
guest_create a g1 pvh "-w,32,-r,8000,-g,1000" 256 || { echo "observer: guest_create failed"; exit 1; }
eng_verify a g1 >/dev/null || { echo "observer: the guest does not answer"; exit 1; }

dom0_cpu() { lab_sh a "xl list 0 | awk 'NR==2{print \$6}'" 2>/dev/null; }
guest_cpu() { lab_sh a "xl list g1 | awk 'NR==2{print \$6}'" 2>/dev/null; }
writes() { mw_cmd a g1 stats 5 2>/dev/null | sed -n 's/^ok writes=\([0-9]*\).*/\1/p'; }
# stretch NAME: 20 s; one reading of each at both ends
stretch() {
	local a0 b0 c0 t0 a1 b1 c1 t1
	a0=$(dom0_cpu); b0=$(guest_cpu); c0=$(writes); t0=$(date +%s.%N)
	sleep 20
	a1=$(dom0_cpu); b1=$(guest_cpu); c1=$(writes); t1=$(date +%s.%N)
	awk -v n="$1" -v a0="$a0" -v a1="$a1" -v b0="$b0" -v b1="$b1" -v c0="$c0" -v c1="$c1" \
		-v t0="$t0" -v t1="$t1" 'BEGIN{ d = t1 - t0;
		if (a0 == "" || a1 == "" || b0 == "" || b1 == "" || c0 == "" || c1 == "" || d <= 0) {
			printf "%-18s no reading\n", n; exit }
		printf "%-18s dom0 %.2f  guest %.2f  writes/s %.0f  (%.1f s)\n", n, (a1 - a0) / d,
			(b1 - b0) / d, (c1 - c0) / d, d }'
}
PING_PID= READ_PID=
stop_all() {
	[ -z "$PING_PID" ] || { kill "$PING_PID" 2>/dev/null; wait "$PING_PID" 2>/dev/null; }
	[ -z "$READ_PID" ] || { kill "$READ_PID" 2>/dev/null; wait "$READ_PID" 2>/dev/null; }
	PING_PID= READ_PID=
}
ping_on() { ip netns exec "$LAB_NS" ping -D -i 0.01 -W 1 "$GIP" >/dev/null 2>&1 & PING_PID=$!; }
reads_on() { ( while :; do mw_cmd a g1 stats 5 >/dev/null 2>&1 || break; done ) & READ_PID=$!; }
progress_on() {
	lab_sh a "rm -f /tmp/observer-progress.stop" >/dev/null 2>&1
	PROG_ID=$(lab_sh_bg a "D=\$(xl domid g1) || exit 1
while [ ! -e /tmp/observer-progress.stop ] && xenstore-read /local/domain/\$D/data/memwork/progress >/dev/null 2>&1; do
  cut -d' ' -f1 /proc/uptime >/dev/null; sleep 2; done")
}
progress_off() {
	[ -n "${PROG_ID:-}" ] || return 0
	lab_sh a "touch /tmp/observer-progress.stop" >/dev/null 2>&1
	lab_wait a "$PROG_ID" 60 >/dev/null 2>&1
	PROG_ID=
}

echo "observer: the source's CPU shares and memwork's writes/s, 20 s each"
sleep 10
stretch "nothing"
ping_on; stretch "ping -i 0.01"; stop_all
reads_on; stretch "stats commands"; stop_all
progress_on; stretch "progress readings"
ping_on; stretch "both (bench-lab)"; stop_all; progress_off
stretch "nothing again"
eng_end

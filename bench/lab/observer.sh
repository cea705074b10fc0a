#!/bin/bash
# bench/lab/observer.sh: what bench-lab's observers cost the host they observe. On one lab
# host with bench-lab's guest (256 MiB PVH, memwork -w 32 -r 8000, its stats line on the
# console every 2 s, which bench-lab's rate observer reads from the console log in the lab's
# share), four stretches of 20 s: nothing more, the ping every 10 ms (as bench-lab runs),
# memwork's stats command back to back (bench-lab's rate observer until 2026-12), nothing
# again. Prints, for each, the share of the host's one CPU its dom0 and the guest used
# (xl list) and memwork's writes/s.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
. tests/nested/lib.sh
. tests/nested/t/20-lib.inc
GIP=169.254.10.101

eng_begin a:stock b:stock
guest_create a g1 pvh "-w,32,-r,8000,-g,1000,--stats-s,2" 256 || { echo "observer: guest_create failed"; exit 1; }
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

echo "observer: the source's CPU shares and memwork's writes/s, 20 s each"
sleep 10
stretch "nothing more"
ping_on; stretch "ping -i 0.01"; stop_all
reads_on; stretch "stats commands"; stop_all
stretch "nothing again"
eng_end

#!/usr/bin/env bash
# bench/fwd/bench.sh: the brownout forwarding's cost and benefit, in one run (root).
#
# In the namespace world of tests/net/lib.sh, with the guest on host B and `migr forward`
# running on both hosts, the fabric's entry for the guest is flipped between host A (the
# forwarded path: client -> A -> VXLAN -> B -> guest) and host B (the direct path), and each
# path is measured in turn, BENCH_ROUNDS times: TCP bulk throughput (client to guest) and
# UDP round-trip latency. The hosts' underlay (uplinks, bridges, fabric ports) has MTU
# BENCH_UNDERLAY_MTU (1600: room for VXLAN's 50 bytes, as docs/forwarding.md asks); each
# round also measures the forwarded path with a 1500-byte underlay, where every full-size
# frame is fragmented. Then the 5 s-delay switch-over scenario of the test runs without and
# with forwarding. Medians are printed (ratios: the median of each round's forwarded/direct
# ratio, which cancels the load drifting between rounds), then the closing line
#   bench-fwd: lost_with=N lost_without=M throughput_ratio=R latency_ratio=L
# (lost_*: datagrams lost outside the blackout window).
# Knobs: BENCH_ROUNDS (5), BENCH_TCP_MS (1500), BENCH_PINGS (1000), BENCH_UNDERLAY_MTU (1600),
# FWD_DELAY_MS (5000), FWD_RATE (1000), FWD_BLACKOUT_MS (100).
set -u
cd "$(dirname "$0")/../.." || exit 1
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: bench-fwd needs root to create network namespaces"
	exit 77
fi
. tests/net/lib.sh
for b in "$MIGR" "$FWDTRAF" "$FWDSWITCH"; do
	[ -x "$b" ] || { echo "bench-fwd: $b is not built (make all)"; exit 1; }
done
TMP=$(mktemp -d /tmp/migr-fwd-bench.XXXXXX)
trap 'net_teardown; rm -rf "$TMP"' EXIT
trap 'exit 143' TERM INT HUP

ROUNDS=${BENCH_ROUNDS:-5} TCP_MS=${BENCH_TCP_MS:-1500} PINGS=${BENCH_PINGS:-1000}
DELAY=${FWD_DELAY_MS:-5000} RATE=${FWD_RATE:-1000} BLACKOUT=${FWD_BLACKOUT_MS:-100}
UMTU=${BENCH_UNDERLAY_MTU:-1600}

median() { sort -g | awk '{v[NR]=$1} END{if (NR==0) print 0; else print v[int((NR+1)/2)]}'; }

# measure LABEL: one TCP bulk transfer and one ping series client -> guest, on the path the
# fabric currently takes; appends Mbit/s to $TMP/LABEL.tput and the p50 RTT to .rtt.
measure() {
	local label=$1 sink echo_pid line
	net_bg $NS_G sink $FWDTRAF tcp-bulk-sink 5003 >"$TMP/sink.out"
	sleep 0.3
	nsx $NS_CL $FWDTRAF tcp-bulk-send $IP_G 5003 "$TCP_MS" || return 1
	wait $sink
	awk -F'[ =]' '{printf "%.1f\n", $2 * 8 / ($4 / 1e9) / 1e6}' "$TMP/sink.out" >>"$TMP/$label.tput"
	net_bg $NS_G echo_pid $FWDTRAF udp-echo 5004
	sleep 0.2
	line=$(nsx $NS_CL $FWDTRAF udp-ping $IP_G 5004 "$PINGS" 0)
	net_stop $echo_pid
	sed -n 's/.*p50=\([0-9]*\).*/\1/p' <<<"$line" >>"$TMP/$label.rtt"
	printf '  %-9s %8s Mbit/s   %s\n' "$label" "$(tail -n 1 "$TMP/$label.tput")" "$line"
}

log "bench-fwd: building the world (underlay MTU $UMTU)"
net_setup || exit 1
# underlay_mtu MTU: the hosts' uplinks and bridges (where the dom0 addresses, hence the
# tunnel, live) and the fabric's ports toward them; the guest's vif and the client keep 1500.
underlay_mtu() {
	local ns
	ip -n $NS_FAB link set pa mtu "$1" && ip -n $NS_FAB link set pb mtu "$1" &&
	ip -n $NS_FAB link set br0 mtu "$1" || return 1
	for ns in $NS_A $NS_B; do
		ip -n $ns link set eth0 mtu "$1" && ip -n $ns link set br0 mtu "$1" || return 1
	done
}
underlay_mtu "$UMTU" || exit 1

# Forwarding set up as at a switch-over, then left running while the paths are measured.
ID=bench-$$
net_bg $NS_A SRC $MIGR forward source --id $ID --peer $IP_B --local $IP_A \
	--nic $MAC_G,br0,$IP_G --quiet 600000 --max 600000 >"$TMP/src" 2>&1
wait_ready "$TMP/src" $SRC || exit 1
ip -n $NS_A link set vif1 netns $NS_B && ip -n $NS_B link set vif1 master br0 up || exit 1
net_bg $NS_B DST $MIGR forward target --id $ID --peer $IP_A --local $IP_B \
	--nic $MAC_G,vif1,$IP_G --quiet 600000 --max 600000 >"$TMP/dst" 2>&1
wait_ready "$TMP/dst" $DST || exit 1
nsx $NS_CL ping -c 1 -W 2 $IP_G >/dev/null || { echo "bench-fwd: guest unreachable"; exit 1; }

for r in $(seq "$ROUNDS"); do
	nsx $NS_FAB bridge fdb replace $MAC_G dev pa master static   # fabric still at A
	measure forwarded || exit 1
	underlay_mtu 1500 || exit 1
	measure fwd-1500 || exit 1
	underlay_mtu "$UMTU" || exit 1
	nsx $NS_FAB bridge fdb replace $MAC_G dev pb master static   # fabric rerouted
	measure direct || exit 1
done
nsx $NS_A $MIGR forward stop $ID >/dev/null
nsx $NS_B $MIGR forward stop $ID >/dev/null
wait $SRC; wait $DST
cat "$TMP/src" "$TMP/dst" | grep ended

# ratios LABEL KIND: the median over rounds of LABEL's figure over the direct path's.
ratios() {
	paste "$TMP/$1.$2" "$TMP/direct.$2" |
		awk '$2 > 0 {printf "%.3f\n", $1 / $2}' | median
}
T_F=$(median <"$TMP/forwarded.tput") T_D=$(median <"$TMP/direct.tput")
T_15=$(median <"$TMP/fwd-1500.tput")
L_F=$(median <"$TMP/forwarded.rtt") L_D=$(median <"$TMP/direct.rtt")
TR=$(ratios forwarded tput) LR=$(ratios forwarded rtt) TR15=$(ratios fwd-1500 tput)
echo "throughput (medians of $ROUNDS x ${TCP_MS} ms TCP bulk): forwarded $T_F Mbit/s," \
	"direct $T_D Mbit/s, forwarded over a 1500-byte underlay $T_15 Mbit/s (ratio $TR15)"
echo "latency (medians of $ROUNDS p50s of $PINGS UDP round trips): forwarded $L_F us, direct $L_D us"

# The loss with and without forwarding in the switch-over scenario of the test.
log "bench-fwd: switch-over scenario, delay $DELAY ms, $RATE/s, blackout $BLACKOUT ms"
net_reset || exit 1
net_scenario without "$DELAY" "$RATE" "$BLACKOUT" "$TMP/without" >/dev/null || exit 1
net_reset || exit 1
net_scenario with "$DELAY" "$RATE" "$BLACKOUT" "$TMP/with" >/dev/null || exit 1
eval "$(sed 's/^/WO_/' "$TMP/without/figures")"
eval "$(sed 's/^/WI_/' "$TMP/with/figures")"
echo "without forwarding: lost $WO_udp_lost of $WO_udp_sent, $WO_lost_outside outside the" \
	"${WO_window_ms} ms blackout window; TCP resumed ${WO_tcp_resume_ms} ms after it"
echo "with forwarding:    lost $WI_udp_lost of $WI_udp_sent, $WI_lost_outside outside the" \
	"${WI_window_ms} ms blackout window; TCP resumed ${WI_tcp_resume_ms} ms after it;" \
	"$WI_ann_rarp RARP rounds (gaps ${WI_ann_gaps_ms} ms)"
left=$(net_leftovers)
[ -z "$left" ] || { echo "bench-fwd: forwarding objects left behind:"; echo "$left"; exit 1; }

echo "bench-fwd: lost_with=$WI_lost_outside lost_without=$WO_lost_outside" \
	"throughput_ratio=$TR latency_ratio=$LR"

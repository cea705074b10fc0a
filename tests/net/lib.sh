# tests/net/lib.sh: the network-namespace world of the forwarding test and benchmark.
# Sourced by tests/net/test_fwd.sh and bench/fwd/bench.sh (bash).
#
#   client (cl) ---+
#                  |  fabric (fab): a bridge with learning off and static fdb entries; the
#   host A (ha) ---+  guest's entry points at host A and is moved to host B only
#                  |  FABRIC_DELAY_MS after switch-over (a slow fabric, made without netem)
#   host B (hb) ---+
#
#   ha and hb: a bridge br0 (the dom0's address on it) with the uplink eth0 as a port.
#   guest (g): eth0, whose peer "vif1" starts in ha's br0 and moves to hb's br0 at
#   switch-over, BLACKOUT_MS later (the vif is destroyed on A and created on B).
#
# All addresses are link-local (169.254.0.0/16). Every namespace name starts with $W, which
# carries this shell's pid; net_teardown removes them all (and the processes started by
# net_bg) and is safe to call more than once.

: "${BUILD:=build}"
MIGR=${MIGR:-$BUILD/bin/migr}
FWDTRAF=${FWDTRAF:-$BUILD/tests/net/fwdtraf}
FWDSWITCH=${FWDSWITCH:-$BUILD/tests/net/fwdswitch}
QROOT=${QROOT:-$BUILD/tests/net/qroot}

W=mfwt$$
NS_FAB=$W-fab NS_A=$W-ha NS_B=$W-hb NS_CL=$W-cl NS_G=$W-g
ALL_NS="$NS_FAB $NS_A $NS_B $NS_CL $NS_G"

IP_A=169.254.1.1 IP_B=169.254.1.2 IP_CL=169.254.2.1 IP_G=169.254.3.1
MAC_A=02:6d:66:00:0a:01 MAC_B=02:6d:66:00:0b:01 MAC_CL=02:6d:66:00:00:c1
MAC_G=02:6d:66:00:00:99

BG_PIDS=""

log() { printf '%s %s\n' "$(date +%H:%M:%S.%3N)" "$*"; }
now_ns() { date +%s%N; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# net_bg NS VAR CMD...: runs CMD in NS in the background, its pid in VAR and BG_PIDS.
net_bg() {
	local ns=$1 var=$2; shift 2
	ip netns exec "$ns" "$@" &
	local pid=$!
	BG_PIDS="$BG_PIDS $pid"
	printf -v "$var" '%s' "$pid"
}

# net_stop PID...: SIGTERM, then wait; SIGKILL after 5 s. Only our own pids.
net_stop() {
	local p i
	for p in "$@"; do
		[ -n "$p" ] || continue
		kill -TERM "$p" 2>/dev/null || continue
		for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	return 0
}

net_teardown() {
	local p ns
	for p in $BG_PIDS; do kill -KILL "$p" 2>/dev/null; done
	for p in $BG_PIDS; do wait "$p" 2>/dev/null; done
	BG_PIDS=""
	for ns in $ALL_NS; do ip netns del "$ns" 2>/dev/null; done
	return 0
}

# net_setup: builds the world with the guest on host A (few forks: `ip -batch`).
net_setup() {
	local ns
	for ns in $ALL_NS; do ip netns add "$ns" || return 1; done

	ip -n $NS_FAB -batch - <<-EOF || return 1
		link set lo up
		link add br0 type bridge
		link set br0 up
		link add pcl type veth peer name eth0 netns $NS_CL
		link add pa type veth peer name eth0 netns $NS_A
		link add pb type veth peer name eth0 netns $NS_B
		link set pcl master br0 up
		link set pa master br0 up
		link set pb master br0 up
	EOF
	bridge -n $NS_FAB -batch - <<-EOF || return 1
		link set dev pcl learning off
		link set dev pa learning off
		link set dev pb learning off
		fdb add $MAC_CL dev pcl master static
		fdb add $MAC_A dev pa master static
		fdb add $MAC_B dev pb master static
		fdb add $MAC_G dev pa master static
	EOF
	ip -n $NS_CL -batch - <<-EOF || return 1
		link set lo up
		link set eth0 address $MAC_CL up
		addr add $IP_CL/16 dev eth0
	EOF
	ip -n $NS_A -batch - <<-EOF || return 1
		link set lo up
		link add br0 address $MAC_A type bridge
		link set eth0 master br0 up
		link set br0 up
		addr add $IP_A/16 dev br0
	EOF
	ip -n $NS_B -batch - <<-EOF || return 1
		link set lo up
		link add br0 address $MAC_B type bridge
		link set eth0 master br0 up
		link set br0 up
		addr add $IP_B/16 dev br0
	EOF
	ip -n $NS_G -batch - <<-EOF || return 1
		link set lo up
		link add eth0 type veth peer name vif1 netns $NS_A
		link set eth0 address $MAC_G up
		addr add $IP_G/16 dev eth0
	EOF
	ip -n $NS_A link set vif1 master br0 up || return 1
	net_warm
}

# net_warm: everyone knows everyone before the traffic starts (as in a running cloud).
net_warm() {
	# three tries: under a loaded machine's check run the first ARP after the guest moved
	# back can go unanswered within the 2 s (the failure seen was this warm-up, not a
	# figure of the scenario)
	local i
	for i in 1 2 3; do
		nsx $NS_CL ping -c 1 -W 2 $IP_G >/dev/null && break
		[ $i = 3 ] && { log "setup: client cannot reach guest (3 tries)"; return 1; }
	done
	nsx $NS_A ping -c 1 -W 2 $IP_B >/dev/null || { log "setup: A cannot reach B"; return 1; }
	return 0
}

# net_reset: the guest back on host A and the fabric pointing there, for another run.
net_reset() {
	ip -n $NS_B link set vif1 netns $NS_A || return 1
	ip -n $NS_A link set vif1 master br0 up || return 1
	nsx $NS_FAB bridge fdb replace $MAC_G dev pa master static || return 1
	net_warm
}

# net_leftovers: prints every forwarding object left in any namespace (nothing when clean):
# VXLAN devices, ingress/clsact qdiscs (the world has none of its own) and their filters.
net_leftovers() {
	local ns d have
	have=$(ip netns list)
	for ns in $ALL_NS; do
		grep -qw "$ns" <<<"$have" || continue
		ip -n $ns -o link show type vxlan 2>/dev/null | sed "s/^/$ns: vxlan: /"
		tc -n $ns qdisc show 2>/dev/null | grep -E 'ingress|clsact' | sed "s/^/$ns: /" |
		while read -r line; do
			echo "$line"
			d=$(sed -n 's/.* dev \([^ ]*\) .*/\1/p' <<<"$line")
			tc -n $ns filter show dev "$d" ingress 2>/dev/null | sed "s/^/$ns: $d: filter: /"
			tc -n $ns filter show dev "$d" egress 2>/dev/null | sed "s/^/$ns: $d: egress filter: /"
		done
	done
}

# ---- one scenario: steady traffic to the guest across a switch-over -----------------------

# wait_ready FILE PID: until FILE holds migr's "ready" line (10 s at most, or PID dies).
wait_ready() {
	local i
	for i in $(seq 1000); do
		grep -q ' ready on ' "$1" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.01
	done
	log "migr forward did not get ready:"; cat "$1" >&2
	return 1
}

# net_scenario MODE DELAY_MS RATE BLACKOUT_MS OUT: MODE "with" or "without" forwarding.
# The world must be set up (net_setup) with the guest on host A; it ends with the guest on
# B. Leaves OUT/{udp_tx,udp_rx,tcp_rx,ann,switch,events} and prints analyze.py's figures.
net_scenario() {
	local mode=$1 delay=$2 rate=$3 blackout=$4
	OUT=$5
	local warm=1000 tail=2000 total udp_pid tcp_pid sink_u sink_t sniff_pid
	FWD_QUIET_MS=${FWD_QUIET_MS:-1000}
	mkdir -p "$OUT"
	total=$((warm + delay + tail))

	net_bg $NS_G sink_u $FWDTRAF udp-sink 5001 "$OUT/udp_rx"
	net_bg $NS_G sink_t $FWDTRAF tcp-sink 5002 "$OUT/tcp_rx"
	net_bg $NS_CL sniff_pid $FWDTRAF sniff eth0 $MAC_G "$OUT/ann"
	sleep 0.2
	net_bg $NS_CL udp_pid $FWDTRAF udp-send $IP_G 5001 "$rate" "$total" "$OUT/udp_tx"
	net_bg $NS_CL tcp_pid $FWDTRAF tcp-send $IP_G 5002 1000 500 "$total"
	sleep "$(awk -v m=$warm 'BEGIN{printf "%.3f", m/1000}')"

	# The switch-over, timed in one process as the engine does it (fwdswitch.c); it
	# returns once the fabric has moved and, with forwarding, both ends have ended.
	$FWDSWITCH "$mode" "net-$$-$RANDOM" "$blackout" "$delay" "$FWD_QUIET_MS" \
		$NS_A $NS_B $NS_FAB $MAC_G $IP_G $IP_A $IP_B >"$OUT/switch" 2>&1 ||
		{ log "fwdswitch failed:"; cat "$OUT/switch"; return 1; }
	cat "$OUT/switch"
	grep '^T_B0=' "$OUT/switch" >"$OUT/events"
	eval "$(cat "$OUT/events")"
	log "$mode: blackout window $(( (T_B1 - T_B0) / 1000000 )) ms, fabric moved" \
	    "$(( (T_FAB - T_B0) / 1000000 )) ms after switch-over"

	wait $udp_pid
	sleep 0.3
	net_stop $tcp_pid $sink_u $sink_t $sniff_pid
	python3 "$(dirname "${BASH_SOURCE[0]}")/analyze.py" "$OUT" | tee "$OUT/figures"
}

# fig FILE KEY: one figure from an analyze.py output.
fig() { sed -n "s/^$2=//p" "$1"; }

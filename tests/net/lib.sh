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

# net_setup: builds the world with the guest on host A.
net_setup() {
	local ns
	for ns in $ALL_NS; do ip netns add "$ns" || return 1; done
	for ns in $ALL_NS; do nsx "$ns" ip link set lo up || return 1; done

	# fabric
	nsx $NS_FAB ip link add br0 type bridge || return 1
	nsx $NS_FAB ip link set br0 up
	ip -n $NS_FAB link add pcl type veth peer name eth0 netns $NS_CL
	ip -n $NS_FAB link add pa type veth peer name eth0 netns $NS_A
	ip -n $NS_FAB link add pb type veth peer name eth0 netns $NS_B
	for p in pcl pa pb; do
		ip -n $NS_FAB link set $p master br0 up || return 1
		nsx $NS_FAB bridge link set dev $p learning off || return 1
	done
	nsx $NS_FAB bridge fdb add $MAC_CL dev pcl master static
	nsx $NS_FAB bridge fdb add $MAC_A dev pa master static
	nsx $NS_FAB bridge fdb add $MAC_B dev pb master static
	nsx $NS_FAB bridge fdb add $MAC_G dev pa master static || return 1

	# client
	ip -n $NS_CL link set eth0 address $MAC_CL up
	ip -n $NS_CL addr add $IP_CL/16 dev eth0

	# hosts
	local h mac addr
	for h in A B; do
		if [ $h = A ]; then ns=$NS_A mac=$MAC_A addr=$IP_A; else ns=$NS_B mac=$MAC_B addr=$IP_B; fi
		ip -n $ns link add br0 address $mac type bridge || return 1
		ip -n $ns link set eth0 master br0 up
		ip -n $ns link set br0 up
		ip -n $ns addr add $addr/16 dev br0
	done

	# guest, on host A
	ip -n $NS_G link add eth0 type veth peer name vif1 netns $NS_A || return 1
	ip -n $NS_G link set eth0 address $MAC_G up
	ip -n $NS_G addr add $IP_G/16 dev eth0
	ip -n $NS_A link set vif1 master br0 up || return 1

	# Everyone knows everyone before the traffic starts (as in a running cloud).
	nsx $NS_CL ping -c 1 -W 2 $IP_G >/dev/null || { log "setup: client cannot reach guest"; return 1; }
	nsx $NS_A ping -c 1 -W 2 $IP_B >/dev/null || { log "setup: A cannot reach B"; return 1; }
	return 0
}

# net_switchover BLACKOUT_MS HOOK_SOURCE HOOK_TARGET: moves the guest's vif from A to B.
# HOOK_SOURCE runs right when the blackout starts (vif still on A), HOOK_TARGET once the
# vif is on B's bridge and before the blackout ends. Sets T_B0, T_B1 (ns): the window.
net_switchover() {
	local blackout=$1 hs=$2 ht=$3
	T_B0=$(now_ns)
	$hs || return 1
	ip -n $NS_A link set vif1 netns $NS_B || return 1
	sleep "$(awk -v m="$blackout" 'BEGIN{printf "%.3f", m/1000}')"
	ip -n $NS_B link set vif1 master br0 up || return 1
	$ht || return 1
	T_B1=$(now_ns)
}

# net_fabric_move: the fabric learns at last that the guest is behind host B.
net_fabric_move() {
	nsx $NS_FAB bridge fdb replace $MAC_G dev pb master static
	T_FAB=$(now_ns)
}

# net_leftovers: prints every forwarding object left in any namespace (nothing when clean).
net_leftovers() {
	local ns d
	for ns in $ALL_NS; do
		ip netns list | grep -qw "$ns" || continue
		ip -n $ns -o link show type vxlan 2>/dev/null | sed "s/^/$ns: vxlan: /"
		ip -n $ns -o link show 2>/dev/null | grep -E '^[0-9]+: mfw' | sed "s/^/$ns: link: /"
		ip -n $ns -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
		while read -r d; do
			tc -n $ns filter show dev "$d" ingress 2>/dev/null | sed "s/^/$ns: $d: filter: /"
			tc -n $ns qdisc show dev "$d" 2>/dev/null | grep -E 'ingress|clsact' |
				sed "s/^/$ns: $d: /"
		done
	done
}

# ---- one scenario: steady traffic to the guest across a switch-over -----------------------

# wait_ready FILE PID: until FILE holds migr's "ready" line (5 s at most, or PID dies).
wait_ready() {
	local i
	for i in $(seq 500); do
		grep -q ' ready on ' "$1" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.01
	done
	log "migr forward did not get ready:"; cat "$1" >&2
	return 1
}

FWD_ID=""
hook_none() { return 0; }
hook_fwd_source() {
	net_bg $NS_A FWD_SRC_PID $MIGR forward source --id "$FWD_ID" --peer $IP_B --local $IP_A \
		--nic $MAC_G,br0,$IP_G --quiet "$FWD_QUIET_MS" --max 30000 \
		>"$OUT/fwd_source" 2>&1
	wait_ready "$OUT/fwd_source" "$FWD_SRC_PID"
}
hook_fwd_target() {
	net_bg $NS_B FWD_DST_PID $MIGR forward target --id "$FWD_ID" --peer $IP_A --local $IP_B \
		--nic $MAC_G,vif1,$IP_G --quiet "$FWD_QUIET_MS" --max 30000 \
		>"$OUT/fwd_target" 2>&1
	wait_ready "$OUT/fwd_target" "$FWD_DST_PID"
}

# net_scenario MODE DELAY_MS RATE BLACKOUT_MS OUT: MODE "with" or "without" forwarding.
# The world must be set up (net_setup) with the guest on host A; it ends with the guest on
# B. Leaves OUT/{udp_tx,udp_rx,tcp_rx,ann,events,fwd_*} and prints analyze.py's figures.
net_scenario() {
	local mode=$1 delay=$2 rate=$3 blackout=$4
	OUT=$5
	local warm=1000 tail=2000 total udp_pid tcp_pid sink_u sink_t sniff_pid
	FWD_QUIET_MS=${FWD_QUIET_MS:-1000}
	FWD_SRC_PID="" FWD_DST_PID=""
	mkdir -p "$OUT"
	total=$((warm + delay + tail))

	net_bg $NS_G sink_u $FWDTRAF udp-sink 5001 "$OUT/udp_rx"
	net_bg $NS_G sink_t $FWDTRAF tcp-sink 5002 "$OUT/tcp_rx"
	net_bg $NS_CL sniff_pid $FWDTRAF sniff eth0 $MAC_G "$OUT/ann"
	sleep 0.2
	net_bg $NS_CL udp_pid $FWDTRAF udp-send $IP_G 5001 "$rate" "$total" "$OUT/udp_tx"
	net_bg $NS_CL tcp_pid $FWDTRAF tcp-send $IP_G 5002 1000 500 "$total"
	sleep "$(awk -v m=$warm 'BEGIN{printf "%.3f", m/1000}')"

	if [ "$mode" = with ]; then
		FWD_ID=net-$$-$RANDOM
		net_switchover "$blackout" hook_fwd_source hook_fwd_target || return 1
	else
		net_switchover "$blackout" hook_none hook_none || return 1
	fi
	# The fabric moves DELAY_MS after the switch-over began.
	local left_ms=$(( delay - ($(now_ns) - T_B0) / 1000000 ))
	[ $left_ms -gt 0 ] && sleep "$(awk -v m=$left_ms 'BEGIN{printf "%.3f", m/1000}')"
	net_fabric_move
	log "$mode: blackout window $(( (T_B1 - T_B0) / 1000000 )) ms, fabric moved" \
	    "$(( (T_FAB - T_B0) / 1000000 )) ms after switch-over"

	wait $udp_pid
	sleep 0.3
	net_stop $tcp_pid $sink_u $sink_t $sniff_pid
	if [ "$mode" = with ]; then
		# Both ends stop by themselves once the fabric has rerouted (quiet period).
		wait $FWD_SRC_PID; local rs=$?
		wait $FWD_DST_PID; local rt=$?
		cat "$OUT/fwd_source" "$OUT/fwd_target"
		[ $rs = 0 ] && [ $rt = 0 ] || { log "migr forward failed ($rs, $rt)"; return 1; }
	fi
	echo "T_B0=$T_B0 T_B1=$T_B1 T_FAB=$T_FAB" >"$OUT/events"
	python3 "$(dirname "${BASH_SOURCE[0]}")/analyze.py" "$OUT" | tee "$OUT/figures"
}

# fig FILE KEY: one figure from an analyze.py output.
fig() { sed -n "s/^$2=//p" "$1"; }

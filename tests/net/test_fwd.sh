#!/usr/bin/env bash
# test_fwd.sh: brownout forwarding on real kernel networking (network namespaces; root).
#
# A client sends 1000 numbered datagrams a second and a TCP stream to a guest whose vif moves
# from host A to host B with a 100 ms blackout; the fabric keeps sending the guest's frames
# to A for 5 s more (see lib.sh). Asserts:
#   - without forwarding, about delay x rate datagrams are lost outside the blackout window;
#   - with `migr forward` on both hosts, none is lost outside the window, the TCP stream is
#     carried by the tunnel before the fabric moves, the target's 5 announcement rounds reach
#     the client, both ends stop by themselves (quiet period) and nothing is left behind;
#   - `migr cleanup --orphans` removes a killed forwarding's objects and keeps a live one's;
#   - a forwarding killed mid-way leaves objects that `migr cleanup ID` removes, and that a
#     new run with the same id removes by itself; the explicit stop and the maximum duration
#     end forwarding;
#   - two forwardings from A at once: one set up ahead (divert later) still diverts after the
#     other ended and removed the ingress qdiscs they shared.
# Knobs (environment): FWD_DELAY_MS (5000), FWD_RATE (1000), FWD_BLACKOUT_MS (100).
set -u
cd "$(dirname "$0")/../.." || exit 1

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root to create network namespaces"
	exit 77
fi
for t in ip tc bridge python3 awk; do
	command -v $t >/dev/null || { echo "SKIP: $t is not installed (make deps)"; exit 77; }
done

. tests/net/lib.sh
for b in "$MIGR" "$FWDTRAF" "$FWDSWITCH" "$QROOT"; do
	[ -x "$b" ] || { echo "FAIL: $b is not built (make all)"; exit 1; }
done
probe=$W-probe
if ! ip netns add $probe 2>/dev/null; then
	echo "SKIP: cannot create network namespaces here"
	exit 77
fi
if ! ip -n $probe link add vxprobe type vxlan id 1 dstport 4789 remote 169.254.0.1 2>/dev/null; then
	ip netns del $probe
	echo "SKIP: this kernel has no VXLAN"
	exit 77
fi
# The hold's counters are read from the tunnel's root qdisc (a GET the kernel answers only
# when asked to echo). sch_plug is not in every kernel: the read is checked on a pfifo.
ip -n $probe link add qa type veth peer name qb && ip -n $probe link set qa up &&
	ip netns exec $probe tc qdisc add dev qa root pfifo limit 77
qr=$(ip netns exec $probe "$QROOT" qa 2>&1)
ip netns del $probe
QROOT_OUT=$qr

cleanup_all() { net_teardown; rm -rf "$TMP"; }
TMP=$(mktemp -d /tmp/migr-fwd-test.XXXXXX)
trap cleanup_all EXIT
trap 'exit 143' TERM INT HUP

DELAY=${FWD_DELAY_MS:-5000} RATE=${FWD_RATE:-1000} BLACKOUT=${FWD_BLACKOUT_MS:-100}
FAILS=0
ok()  { printf 'ok:   %s  [%(%T)T]\n' "$*" -1; }
bad() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
expect() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

expect "a device's root qdisc is read back (the hold's counters): $QROOT_OUT" \
	grep -q '^kind=pfifo ' <<<"$QROOT_OUT"

# ---- 1. without forwarding: the loss the fabric's delay costs --------------------------------
log "scenario without forwarding: delay ${DELAY} ms, ${RATE}/s, blackout ${BLACKOUT} ms"
net_setup || { bad "setup"; exit 1; }
net_scenario without $DELAY $RATE $BLACKOUT $TMP/without || { bad "scenario without"; exit 1; }
eval "$(sed 's/^/WO_/' $TMP/without/figures)"
expected=$((DELAY * RATE / 1000))
lost_without=${WO_lost_outside}
expect "without forwarding, ~delay x rate lost outside the window ($lost_without, ~$expected)" \
	[ "$lost_without" -ge $((expected * 8 / 10)) ]
expect "without forwarding, TCP resumed only after the fabric moved" \
	[ "${WO_tcp_resumed_before_fabric}" = 0 ]
expect "without forwarding, no announcement" [ "${WO_ann_rarp}" = 0 ]

# ---- 2. with forwarding ---------------------------------------------------------------------------
log "scenario with forwarding"
net_reset || { bad "moving the guest back to host A"; exit 1; }
net_scenario with $DELAY $RATE $BLACKOUT $TMP/with || { bad "scenario with"; exit 1; }
eval "$(sed 's/^/WI_/' $TMP/with/figures)"
lost_with=${WI_lost_outside}
expect "with forwarding, nothing lost outside the blackout window ($lost_with)" [ "$lost_with" = 0 ]
expect "with forwarding, datagrams were lost only inside the window (${WI_lost_in_window})" \
	[ "${WI_udp_lost}" = "${WI_lost_in_window}" ]
expect "with forwarding, TCP resumed through the tunnel before the fabric moved" \
	[ "${WI_tcp_resumed_before_fabric}" = 1 ]
resume=${WI_tcp_resume_ms}
expect "with forwarding, the TCP stall after the window ($resume ms) is short of the fabric delay" \
	awk -v r="$resume" -v d="$DELAY" 'BEGIN{exit !(r >= 0 && r < d / 2)}'
expect "with forwarding, TCP did not stall again once resumed (${WI_tcp_max_gap_after_ms} ms)" \
	awk -v g="${WI_tcp_max_gap_after_ms}" -v d="$DELAY" 'BEGIN{exit !(g >= 0 && g < d / 2)}'
expect "5 RARP rounds reached the client (${WI_ann_rarp}, gaps ${WI_ann_gaps_ms} ms)" \
	[ "${WI_ann_rarp}" = 5 ]
expect "5 gratuitous ARP rounds reached the client (${WI_ann_garp})" [ "${WI_ann_garp}" = 5 ]
expect "the source stopped by itself on a quiet period" grep -q 'source ended (quiet)' $TMP/with/switch
expect "the target stopped by itself on a quiet period" grep -q 'target ended (quiet)' $TMP/with/switch
fwd_pkts=$(sed -n 's/.*source ended.* packets=\([0-9]*\).*/\1/p' $TMP/with/switch)
expect "the source's counters saw the forwarded traffic ($fwd_pkts packets)" \
	[ "${fwd_pkts:-0}" -ge $((expected * 8 / 10)) ]
left=$(net_leftovers)
expect "nothing of the forwarding left in any namespace" [ -z "$left" ]
[ -n "$left" ] && echo "$left"

# ---- 3. kill mid-way, cleanup by id, explicit stop, maximum duration -----------------------------
src() { # ID EXTRA...: a source forwarding in host A, in the background; pid in SRC_PID
	local id=$1; shift
	net_bg $NS_A SRC_PID $MIGR forward source --id "$id" --peer $IP_B --nic $MAC_G,br0,$IP_G \
		"$@" >"$TMP/src.$id" 2>&1
	wait_ready "$TMP/src.$id" "$SRC_PID"
}
ifname_of() { # the device name migr derives from an id, as the kernel shows it
	ip -n $NS_A -o link show type vxlan | awk -F': ' '{print $2}' | grep '^mfw'
}
count_filters() { tc -n $NS_A filter show dev eth0 ingress | grep -c 'cookie'; }

# Host A knows B's address (a migration's connection would have made the entry): the
# tunnel's packets leave by A's eth0, past A's bridge (a filter on br0's egress).
nsx $NS_A ping -c 1 -W 2 $IP_B >/dev/null
src killed-1 --quiet 60000
bypass=$(tc -n $NS_A filter show dev br0 egress 2>/dev/null)
expect "the tunnel's packets go past the bridge, to eth0" grep -q 'Egress Redirect to device eth0' <<<"$bypass"
[ -n "$bypass" ] || tc -n $NS_A qdisc show
kill -KILL $SRC_PID; wait $SRC_PID 2>/dev/null
expect "a killed forwarding leaves its device (named after the id)" [ -n "$(ifname_of)" ]
expect "a killed forwarding leaves its filters" [ "$(count_filters)" -ge 1 ]
out=$(nsx $NS_A $MIGR cleanup --dry-run killed-1)
expect "migr cleanup --dry-run counts them ($out)" grep -q 'would remove 1 forwarding device' <<<"$out"
out=$(nsx $NS_A $MIGR cleanup other-id)
expect "migr cleanup of another id removes nothing ($out)" grep -q 'removed 0 forwarding device(s), 0 filter' <<<"$out"
out=$(nsx $NS_A $MIGR cleanup killed-1)
expect "migr cleanup ID removes them, the bypass and its clsact qdisc too ($out)" grep -q 'removed 1 forwarding device(s), [1-9][0-9]* filter(s), 2 qdisc' <<<"$out"
expect "nothing left after migr cleanup" [ -z "$(net_leftovers)" ]

# --orphans (migrd's start-up): a live forwarding is kept, a killed one's objects go.
src alive-1 --quiet 60000
ALIVE_PID=$SRC_PID
src killed-4 --quiet 60000
kill -KILL $SRC_PID; wait $SRC_PID 2>/dev/null
out=$(nsx $NS_A $MIGR cleanup --orphans)
expect "migr cleanup --orphans removes the killed one and keeps the live one ($out)" \
	grep -q 'removed 1 forwarding device(s), [1-9][0-9]* filter(s), 0 qdisc(s), kept 1 still forwarding' <<<"$out"
expect "the live forwarding still has its device" [ -n "$(ifname_of)" ]
out=$(nsx $NS_A $MIGR forward stop alive-1)
wait $ALIVE_PID
expect "the live forwarding ends on its stop" grep -q 'ended (stop-requested)' "$TMP/src.alive-1"
expect "nothing left after --orphans and the stop" [ -z "$(net_leftovers)" ]

src killed-2 --quiet 60000
kill -KILL $SRC_PID; wait $SRC_PID 2>/dev/null
src killed-2 --quiet 60000 -v
expect "a new run with the same id removes the leftovers first" grep -q 'removed leftovers' "$TMP/src.killed-2"
out=$(nsx $NS_A $MIGR forward stop killed-2)
wait $SRC_PID; rc=$?
expect "migr forward stop ends the forwarding (rc $rc)" grep -q 'ended (stop-requested)' "$TMP/src.killed-2"
expect "nothing left after the stop" [ -z "$(net_leftovers)" ]

src maxed --quiet 60000 --max 300
wait $SRC_PID
expect "the maximum duration ends the forwarding" grep -q 'ended (max-duration)' "$TMP/src.maxed"

net_bg $NS_B DST_PID $MIGR forward target --id killed-3 --peer $IP_A --nic $MAC_G,vif1,$IP_G \
	--quiet 60000 >"$TMP/dst.killed-3" 2>&1
wait_ready "$TMP/dst.killed-3" "$DST_PID"
kill -KILL $DST_PID; wait $DST_PID 2>/dev/null
out=$(nsx $NS_B $MIGR cleanup --all)
expect "migr cleanup --all removes a killed target's device ($out)" grep -q 'removed 1 forwarding device' <<<"$out"
expect "nothing left at all" [ -z "$(net_leftovers)" ]

# ---- 4. two migrations from A at once (an evacuation's window), sharing br0's ports ----------
# The second is set up ahead and diverts at its switch-over, after the first ended and
# removed the ingress qdiscs it had made, which the second had found and relied on, and
# after a port it had found (the first guest's vif, gone with its guest) was removed.
ip -n $NS_A link add vif9 type veth peer name vif9p && ip -n $NS_A link set vif9 master br0 up
out=$($FWDSWITCH share $NS_A 00:16:3e:5a:00:01 00:16:3e:5a:00:02 $IP_A $IP_B vif9 2>&1)
echo "$out" | sed 's/^/    /'
expect "a forwarding set up ahead diverts after another one removed the ports' qdiscs and a port went ($(grep '^divert=' <<<"$out"))" \
	grep -q '^divert=0$' <<<"$out"
expect "both tear down" [ "$(grep -c 'teardown=ok' <<<"$out")" = 2 ]
left=$(net_leftovers)
expect "nothing left after the two" [ -z "$left" ]
[ -n "$left" ] && echo "$left"

net_teardown
expect "every namespace the test made is gone" [ -z "$(ip netns list | grep "^$W-")" ]

echo "fwd figures: lost_without=$lost_without lost_with=$lost_with" \
	"window_ms=$WI_window_ms tcp_resume_ms=$resume"
if [ $FAILS -ne 0 ]; then
	echo "test_fwd: $FAILS check(s) failed"
	exit 1
fi
echo "test_fwd: all checks passed"
exit 0

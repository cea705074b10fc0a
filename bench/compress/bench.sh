#!/usr/bin/env bash
# bench/compress/bench.sh: the codec table, then one stream per compression mode (off,
# auto, on) at each link rate, through libmigr's real pumps (bench_compress.c).
#
# As root the link is real kernel networking: two network namespaces made here (migr-bz-a
# and migr-bz-b, a veth pair with 169.254.77.1 and .2) and tc's token bucket filter on the
# source's end at each rate, so the socket buffer and TCP behave as on a real link. Without
# root, migr's own bandwidth cap paces the source over loopback. Both are removed on exit.
# With root, the rate "max" runs the veth pair without a limit: a link that outruns the
# compressor, where auto must keep compression off.
# Knobs: BENCH_RATES (Mbit/s list, "100 1000 max"), BENCH_MIB_100 (48), BENCH_MIB_1000 (256),
# BENCH_MIB_max (512),
# BENCH_CODEC_MIB (128), BENCH_INPUT (a file of pages instead of the made-up ones).
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN=${BENCH_COMPRESS:-build/bench/bench-compress}
[ -x "$BIN" ] || { echo "bench-compress: $BIN is not built"; exit 1; }
RATES=${BENCH_RATES:-100 1000 max}
A=migr-bz-a B=migr-bz-b

"$BIN" codecs "${BENCH_CODEC_MIB:-128}" || exit 1
echo

netns=0
cleanup() {
	[ "$netns" = 1 ] || return 0
	ip netns del "$A" 2>/dev/null
	ip netns del "$B" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

if [ "$(id -u)" = 0 ] && command -v tc >/dev/null && command -v ip >/dev/null; then
	cleanup_stale() { ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null; }
	cleanup_stale
	if ip netns add "$A" && ip netns add "$B" &&
	   ip -n "$A" link add veth-bz type veth peer name veth-bz netns "$B" &&
	   ip -n "$A" addr add 169.254.77.1/24 dev veth-bz &&
	   ip -n "$B" addr add 169.254.77.2/24 dev veth-bz &&
	   ip -n "$A" link set veth-bz up && ip -n "$B" link set veth-bz up &&
	   ip -n "$A" link set lo up && ip -n "$B" link set lo up; then
		netns=1
	else
		echo "bench-compress: cannot make the network namespaces; pacing on loopback instead"
		cleanup_stale
	fi
fi

rc=0
for mbit in $RATES; do
	eval mib=\${BENCH_MIB_$mbit:-}
	if [ "$mbit" = max ]; then
		[ "$netns" = 1 ] || continue
		tc -n "$A" qdisc del dev veth-bz root 2>/dev/null
		"$BIN" stream --rate 0 --netns "$A,$B" --addr 169.254.77.2 --mib "${mib:-512}" \
			--label unlimited || rc=1
		echo
		continue
	fi
	bytes=$((mbit * 1000000 / 8))
	[ -n "$mib" ] || mib=$(( mbit >= 1000 ? 256 : 48 ))
	if [ "$netns" = 1 ]; then
		# a burst of 1 ms of traffic (at least 32 KiB), 50 ms of queue
		burst=$(( bytes / 1000 > 32768 ? bytes / 1000 : 32768 ))
		tc -n "$A" qdisc replace dev veth-bz root tbf rate "${mbit}mbit" burst "$burst" \
			latency 50ms || { rc=1; continue; }
		"$BIN" stream --rate "$bytes" --netns "$A,$B" --addr 169.254.77.2 --mib "$mib" \
			--label "${mbit}Mbit" || rc=1
	else
		"$BIN" stream --rate "$bytes" --mib "$mib" --label "${mbit}Mbit" || rc=1
	fi
	echo
done
exit $rc

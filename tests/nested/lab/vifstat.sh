#!/bin/bash
# vifstat.sh SECONDS QROOT: in a lab dom0, every 250 ms for SECONDS (or until
# /host/vifstat.stop exists), one line per guest vif: unix time, name, tx_packets,
# tx_dropped, rx_packets, and the drops its root qdisc counted (read by QROOT, the build's
# tests/net/qroot; busybox's tc prints no counters). bash: busybox's date has no %N. The switch-over test reads where frames delivered
# to a vif went (tests/nested/lab/vifstat.py prints only the changes).
end=$(( $(date +%s) + ${1:-30} ))
while [ "$(date +%s)" -lt "$end" ] && [ ! -e /host/vifstat.stop ]; do
	t=$EPOCHREALTIME
	for v in /sys/class/net/vif*; do
		[ -e "$v/statistics/tx_packets" ] || continue
		n=${v##*/}
		q=$("$2" "$n" 2>/dev/null | sed -n 's/.* drops=\([0-9]*\).*/\1/p')
		echo "$t $n $(cat "$v/statistics/tx_packets" "$v/statistics/tx_dropped" "$v/statistics/rx_packets" | tr '\n' ' ')${q:-0}"
	done
	sleep 0.25
done

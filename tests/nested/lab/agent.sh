#!/bin/sh
# The lab's command channel, dom0 side. The harness drops a script as /host/cmd/ID.cmd
# (written elsewhere, then renamed in); the agent runs it in the background with output
# to ID.out and, when it ends, its exit status to ID.rc (renamed in, so its presence means
# the output is complete). Each command runs in a session of its own whose id is in ID.pgid.
# /host is the host's 9p share.
#
# Every look at the share costs dom0 CPU (9p requests, under emulation), and dom0 shares the
# host's one CPU with the guests whose blackouts the tests measure. So the agent looks every
# 50 ms while commands come in, and every 250 ms after 2 s without one.
cd /host/cmd || exit 1
idle=0
while :; do
	for f in /host/cmd/*.cmd; do
		[ -e "$f" ] || continue
		id=${f%.cmd}
		mv "$f" "$id.run" 2>/dev/null || continue
		idle=0
		# its own session: the harness can end all it started (ID.pgid; lab_end_commands)
		( cd /root; /usr/bin/setsid -w sh -c 'echo $$ >"$1.pgid"; exec sh "$1.run"' sh "$id" >"$id.out" 2>&1 </dev/null
		  echo $? >"$id.rc.tmp"; mv "$id.rc.tmp" "$id.rc" ) &
	done
	if [ "$idle" -lt 40 ]; then
		idle=$((idle + 1))
		usleep 50000
	else
		usleep 250000
	fi
done

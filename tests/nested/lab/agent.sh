#!/bin/sh
# The lab's command channel, dom0 side. The harness drops a script as /host/cmd/ID.cmd
# (written elsewhere, then renamed in); the agent runs it in the background with output
# to ID.out and, when it ends, its exit status to ID.rc (renamed in, so its presence means
# the output is complete). /host is the host's 9p share.
cd /host/cmd || exit 1
while :; do
	for f in /host/cmd/*.cmd; do
		[ -e "$f" ] || continue
		id=${f%.cmd}
		mv "$f" "$id.run" 2>/dev/null || continue
		( cd /root; sh "$id.run" >"$id.out" 2>&1 </dev/null; echo $? >"$id.rc.tmp"; mv "$id.rc.tmp" "$id.rc" ) &
	done
	usleep 50000
done

#!/usr/bin/env python3
"""The lab's slow fabric controller (tests/nested/lib.sh, lab_fabric_controller).

    fabric.py RUN DELAY_MS LOG [NAME=ADDR...]

Run inside the lab namespace. The lab bridge br0 does not learn on the hosts' ports; every
guest MAC has a static entry that points at the port of the host it ran on. A host's
switch-over hook asks for a move by writing RUN/HOST/share/fabric/MAC (the file holds the
target host's name or lab address, as NAME=ADDR arguments map them; the MAC with colons); DELAY_MS after the controller first sees the
file it moves the entry to tap-HOST, as an SDN controller that takes that long would.

Log, one line per event, CLOCK_REALTIME nanoseconds (the clock `date +%s%N` reads):
  NS asked MAC HOST
  NS moved MAC HOST
  NS failed MAC HOST REASON
Runs until SIGTERM.
"""
import os
import re
import signal
import subprocess
import sys
import time

MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
HOST = re.compile(r"^[a-z][a-z0-9-]{0,15}$")


def main():
    run, delay_ms, logpath = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    by_addr = dict(reversed(a.split("=", 1)) for a in sys.argv[4:])
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    seen = {}      # path -> mtime handled
    due = []       # (monotonic time, mac, host)
    log = open(logpath, "a", buffering=1)
    while not stop:
        for h in sorted(os.listdir(run)):
            d = os.path.join(run, h, "share", "fabric")
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for name in names:
                if name.startswith("."):
                    continue      # a request being written
                p = os.path.join(d, name)
                try:
                    mt = os.stat(p).st_mtime_ns
                    host = open(p).read().strip()
                except OSError:
                    continue
                if seen.get(p) == mt:
                    continue
                seen[p] = mt
                mac = name.lower()
                host = by_addr.get(host, host)
                if not MAC.match(mac) or not HOST.match(host):
                    log.write("%d failed %s %s bad request\n" % (time.time_ns(), name[:20], host[:20]))
                    continue
                log.write("%d asked %s %s\n" % (time.time_ns(), mac, host))
                due.append((time.monotonic() + delay_ms / 1000.0, mac, host))
        now = time.monotonic()
        for item in [x for x in due if x[0] <= now]:
            due.remove(item)
            _, mac, host = item
            r = subprocess.run(["bridge", "fdb", "replace", mac, "dev", "tap-" + host,
                                "master", "static"], capture_output=True, text=True)
            if r.returncode:
                log.write("%d failed %s %s %s\n" % (time.time_ns(), mac, host,
                                                    r.stderr.strip().replace("\n", " ")[:100]))
            else:
                log.write("%d moved %s %s\n" % (time.time_ns(), mac, host))
        time.sleep(0.01)


if __name__ == "__main__":
    main()

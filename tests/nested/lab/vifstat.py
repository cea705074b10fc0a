#!/usr/bin/env python3
"""vifstat.py LOG [T0_UNIX_MS]: the lines of vifstat.sh's LOG where a vif's counters
changed, as deltas (time relative to T0_UNIX_MS when given, the blackout's start):
  +1.234 s vif2.0 tx +360 (to the guest) tx_dropped +0 rx +12 (from the guest) qdisc_dropped +0
and one total line per vif."""
import sys


def main():
    t0 = float(sys.argv[2]) / 1000.0 if len(sys.argv) > 2 and float(sys.argv[2]) > 0 else None
    last, first = {}, {}
    for line in open(sys.argv[1]):
        f = line.split()
        if len(f) != 6:
            continue
        try:
            t, name, vals = float(f[0]), f[1], [int(x) for x in f[2:]]
        except ValueError:
            continue
        first.setdefault(name, (t, vals))
        prev = last.get(name)
        last[name] = (t, vals)
        if prev is None or prev[1] == vals:
            continue
        d = [a - b for a, b in zip(vals, prev[1])]
        when = "%+.3f s" % (t - t0) if t0 else "%.3f" % t
        print("vifstat: %s %s tx %+d (to the guest) tx_dropped %+d rx %+d (from the guest) "
              "qdisc_dropped %+d" % (when, name, d[0], d[1], d[2], d[3]))
    for name, (t, vals) in sorted(last.items()):
        d = [a - b for a, b in zip(vals, first[name][1])]
        print("vifstat: %s over %.1f s: tx %d, tx_dropped %d, rx %d, qdisc_dropped %d" % (
            name, t - first[name][0], d[0], d[1], d[2], d[3]))


if __name__ == "__main__":
    main()

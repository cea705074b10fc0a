#!/usr/bin/env python3
"""bench/evac/timeline.py: where an evacuation's makespan went, from the "migration"
records of `migr evacuate --json` (stdin). Each record's timeline_ms gives when its attempt
began (from the evacuation's start), how long its pre-flight took and when it ended;
stream_ms is the time from the start of its pre-copy to the end of its final send, of
which stream_held_ms its sends were held for another guest's blackout and tail.

Prints one line per guest and one line for the whole: the time from the first attempt to
the last guest's end split by how many streams were moving bytes (0, 1, 2, ...), with the
time before the first pre-copy and after the last final send named apart, since those are
the fixed costs no window can overlap.
"""
import json
import sys


def main():
    recs = []
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("record") != "migration" or r.get("outcome") != "moved":
            continue
        tl = r.get("timeline_ms") or {}
        a, pf, end = tl.get("attempt", 0.0), tl.get("preflight", 0.0), tl.get("end", 0.0)
        s0 = a + pf
        s1 = s0 + r.get("stream_ms", 0)
        if not (a <= s0 <= s1 <= end + 1.0):
            print("timeline: %s: inconsistent timeline %r, stream_ms %s" % (
                r.get("guest"), tl, r.get("stream_ms")))
            continue
        recs.append((r.get("guest"), a, s0, s1, end, r.get("stream_held_ms", 0),
                     r.get("blackout_ms", 0.0), r.get("net_back_ms")))
    if not recs:
        print("timeline: no moved guest's record")
        return 1
    recs.sort(key=lambda x: x[1])
    for g, a, s0, s1, end, held, bo, nb in recs:
        print("timeline: %-6s attempt %6.1f s  pre-flight %5.1f s  stream %6.1f..%6.1f s "
              "(held %4.1f s)  then to its end %5.1f s (blackout %.1f s, network back %s)" % (
                  g, a / 1e3, (s0 - a) / 1e3, s0 / 1e3, s1 / 1e3, held / 1e3,
                  (end - s1) / 1e3, bo / 1e3,
                  "%.1f s" % (nb / 1e3) if nb is not None else "unknown"))
    t_first = min(x[1] for x in recs)
    t_end = max(x[4] for x in recs)
    first_stream = min(x[2] for x in recs)
    last_stream = max(x[3] for x in recs)
    # sweep over the streams' intervals (held time counts as moving: the record does not
    # say when within the stream it was held; it is printed apart)
    ev = sorted([(x[2], 1) for x in recs] + [(x[3], -1) for x in recs])
    by_k = {}
    k, t = 0, first_stream
    for when, d in ev:
        by_k[k] = by_k.get(k, 0.0) + (when - t)
        k += d
        t = when
    total = t_end - t_first
    parts = ["before the first pre-copy %.1f s" % ((first_stream - t_first) / 1e3)]
    for n in sorted(by_k):
        parts.append("%d stream(s) moving %.1f s" % (n, by_k[n] / 1e3))
    parts.append("after the last final send %.1f s" % ((t_end - last_stream) / 1e3))
    parts.append("held %.1f s in all" % (sum(x[5] for x in recs) / 1e3))
    print("timeline: %.1f s from the first attempt to the last end: %s" % (
        total / 1e3, ", ".join(parts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Reads a `fwdtraf udp-flow` log (tests/net/fwdtraf.c) taken across one migration and says
where the datagrams that never came back were sent.

    flow.py LOG BLACKOUT_MS [SLACK_MS [START_UNIX_MS [GUEST_LINE]]]

The guest echoes every datagram; it stops at the suspend and starts again once it runs on
the target and frames reach it. The longest time in which no echo arrived is the outage
the client saw (gap_ms); the longest stretch of sent datagrams without an echo places it. Its start (the send time of the last echoed datagram before it) is
the suspend to within one send period, so the blackout window in the client's own clock is
[start, start + BLACKOUT_MS + SLACK_MS] (BLACKOUT_MS: migr's own figure for the hop; SLACK_MS,
default 50: the path's latency and the send period). A lost datagram sent inside that
window was lost to the blackout; one sent after it was lost to the network (the fabric had
not rerouted and nothing forwarded it). No clock of the lab hosts is needed.

With START_UNIX_MS (the source's wall clock at the suspend request, `blackout_start_unix_ms`
of `migr migrate --json`; the lab hosts set their clocks from the lab's) the window starts
there instead, and a datagram lost before it was lost during pre-copy (the guest or its
dom0 too slow to answer: the brownout), counted apart as lost_precopy.

Prints one line:
    udp: sent=N echoed=M lost=L lost_in_blackout=K lost_outside=O lost_precopy=P gap_ms=G gap_over_blackout_ms=X
and, when datagrams were lost, where: the runs of consecutive lost datagrams (at most 12),
each as the send times of its first and last datagram in ms from the start of the outage
(negative: before it) and its length:
    lost runs: +0..+2700 (271) +2950..+3300 (36) ...

An echo can be missing because the datagram never reached the guest, or because the guest
(an emulated one, starved during its pre-copy and just resumed) echoed it too late or
dropped it itself. GUEST_LINE, the guest echo's own last line for this flow ("... flow=PORT
received=N highest=H ranges=A-B,... missing=M", tests/net/fwdtraf.c), says which numbers
up to H never reached it; with it a second line places those the same way:
    udp-guest: reached=N not_reached=M not_reached_in_blackout=K not_reached_outside=O not_reached_precopy=P after_report=A
(after_report: sent after the highest number the guest had reported, not judged).
"""
import sys


def main():
    path, blackout_ms = sys.argv[1], float(sys.argv[2])
    slack_ms = float(sys.argv[3]) if len(sys.argv) > 3 else 50.0
    anchor = float(sys.argv[4]) * 1e6 if len(sys.argv) > 4 and float(sys.argv[4]) > 0 else None
    sent, echoed = {}, {}
    for line in open(path):
        f = line.split()
        if len(f) == 2:
            sent[int(f[0])] = int(f[1])
        elif len(f) == 3:
            echoed.setdefault(int(f[0]), int(f[2]))
    if not sent:
        print("udp: sent=0 echoed=0 lost=0 lost_in_blackout=0 lost_outside=0 lost_precopy=0 "
              "gap_ms=0 gap_over_blackout_ms=0")
        return 1
    seqs = sorted(sent)
    # the longest run of datagrams without an echo, bounded by echoed ones
    best = (0, None, None)          # (ms, last echoed before, first echoed after)
    prev = None
    for s in seqs:
        if s in echoed:
            if prev is not None and s - prev > 1:
                ms = (sent[s] - sent[prev]) / 1e6
                if ms > best[0]:
                    best = (ms, prev, s)
            prev = s
    lost = [s for s in seqs if s not in echoed]
    start = sent[best[1]] if best[1] is not None else None
    # the outage as the client saw it: the longest time without any echo arriving. Not the
    # echo times around the longest run of lost datagrams: datagrams a hold kept during the
    # blackout are echoed late, after ones sent later, and that difference can be nothing.
    arrivals = sorted(echoed.values())
    gap_ms = max([(b - a) / 1e6 for a, b in zip(arrivals, arrivals[1:])] or [0.0])
    if anchor is not None:
        start = anchor
    in_bo = out = pre = 0
    for s in lost:
        if start is not None and start <= sent[s] <= start + (blackout_ms + slack_ms) * 1e6:
            in_bo += 1
        elif anchor is not None and sent[s] < start:
            pre += 1
        else:
            out += 1
    print("udp: sent=%d echoed=%d lost=%d lost_in_blackout=%d lost_outside=%d lost_precopy=%d "
          "gap_ms=%.0f gap_over_blackout_ms=%.0f" % (len(sent), len(echoed), len(lost), in_bo,
                                                     out, pre, gap_ms, gap_ms - blackout_ms))
    if lost:
        base = start if start is not None else sent[seqs[0]]
        runs, first, prev = [], lost[0], lost[0]
        for s in lost[1:] + [None]:
            if s is not None and s == prev + 1:
                prev = s
                continue
            runs.append("%+.0f..%+.0f (%d)" % ((sent[first] - base) / 1e6,
                                               (sent[prev] - base) / 1e6, prev - first + 1))
            if s is not None:
                first = prev = s
        more = " and %d more" % (len(runs) - 12) if len(runs) > 12 else ""
        print("lost runs: " + " ".join(runs[:12]) + more)
    if len(sys.argv) > 5 and sys.argv[5].strip():
        guest_line(sys.argv[5], sent, seqs, start, anchor, blackout_ms, slack_ms)
    return 0


def guest_line(text, sent, seqs, start, anchor, blackout_ms, slack_ms):
    f = dict(kv.split("=", 1) for kv in text.split() if "=" in kv)
    highest = int(f.get("highest", -1))
    missing = set()
    for r in f.get("ranges", "").split(","):
        if "-" in r:
            a, b = r.split("-")
            missing.update(range(int(a), int(b) + 1))
    if "+more" in f.get("ranges", ""):
        print("udp-guest: more ranges than the guest's line lists (missing=%s): not placed" %
              f.get("missing"))
        return
    in_bo = out = pre = 0
    for s in missing:
        if s not in sent:
            continue
        t = sent[s]
        if start is not None and start <= t <= start + (blackout_ms + slack_ms) * 1e6:
            in_bo += 1
        elif anchor is not None and t < start:
            pre += 1
        else:
            out += 1
    after = sum(1 for s in seqs if s > highest)
    reached = sum(1 for s in seqs if s <= highest and s not in missing)
    print("udp-guest: reached=%d not_reached=%d not_reached_in_blackout=%d "
          "not_reached_outside=%d not_reached_precopy=%d after_report=%d" % (
              reached, len(missing), in_bo, out, pre, after))


if __name__ == "__main__":
    sys.exit(main())

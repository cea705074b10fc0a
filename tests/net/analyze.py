#!/usr/bin/env python3
"""analyze.py DIR: the figures of one forwarding scenario run (tests/net/lib.sh).

Reads DIR/udp_tx ("seq sent_ns"), DIR/udp_rx ("seq recv_ns"), DIR/tcp_rx ("recv_ns bytes"),
DIR/ann ("ns kind") and DIR/events ("T_B0=ns T_B1=ns T_FAB=ns") and prints key=value lines:

  udp_sent, udp_received, udp_lost        datagrams
  lost_in_window, lost_outside            lost datagrams sent inside / outside the blackout
                                          window [T_B0, T_B1]
  window_ms, fabric_ms                    blackout window length; fabric move after T_B0
  tcp_bytes                               bytes the guest received on the TCP stream
  tcp_resume_ms                           first TCP data after the window, from T_B1 (-1: none)
  tcp_resumed_before_fabric               1 if that data came before the fabric moved
  tcp_max_gap_after_ms                    longest gap between TCP arrivals after resuming
  ann_rarp, ann_garp, ann_na              announcements the client saw from the guest's MAC
  ann_first_ms, ann_gaps_ms               first one after T_B1, and the gaps between RARPs
"""
import sys


def pairs(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 2:
                    out.append((p[0], p[1]))
    except FileNotFoundError:
        pass
    return out


def main():
    d = sys.argv[1]
    ev = {}
    with open(d + "/events") as f:
        for tok in f.read().split():
            k, v = tok.split("=")
            ev[k] = int(v)
    b0, b1, fab = ev["T_B0"], ev["T_B1"], ev["T_FAB"]

    tx = {int(s): int(t) for s, t in pairs(d + "/udp_tx")}
    rx = {int(s) for s, _ in pairs(d + "/udp_rx")}
    lost = [s for s in tx if s not in rx]
    in_win = [s for s in lost if b0 <= tx[s] <= b1]
    r = {
        "udp_sent": len(tx),
        "udp_received": len(rx & set(tx)),
        "udp_lost": len(lost),
        "lost_in_window": len(in_win),
        "lost_outside": len(lost) - len(in_win),
        "window_ms": round((b1 - b0) / 1e6, 1),
        "fabric_ms": round((fab - b0) / 1e6, 1),
    }

    tcp = [(int(t), int(n)) for t, n in pairs(d + "/tcp_rx")]
    r["tcp_bytes"] = sum(n for _, n in tcp)
    after = [t for t, _ in tcp if t > b1]
    if after:
        r["tcp_resume_ms"] = round((after[0] - b1) / 1e6, 1)
        r["tcp_resumed_before_fabric"] = int(after[0] < fab)
        gaps = [b - a for a, b in zip(after, after[1:])]
        r["tcp_max_gap_after_ms"] = round(max(gaps) / 1e6, 1) if gaps else 0
    else:
        r["tcp_resume_ms"] = -1
        r["tcp_resumed_before_fabric"] = 0
        r["tcp_max_gap_after_ms"] = -1

    ann = [(int(t), k) for t, k in pairs(d + "/ann")]
    for kind in ("rarp", "garp", "na"):
        r["ann_" + kind] = sum(1 for _, k in ann if k == kind)
    rarp = [t for t, k in ann if k == "rarp"]
    r["ann_first_ms"] = round((rarp[0] - b1) / 1e6, 1) if rarp else -1
    r["ann_gaps_ms"] = ",".join(str(round((b - a) / 1e6)) for a, b in zip(rarp, rarp[1:])) or "-"

    for k, v in r.items():
        print("%s=%s" % (k, v))


if __name__ == "__main__":
    main()

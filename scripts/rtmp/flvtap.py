#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""FLV streams against the wall clock: the viewer's recorder and its log, and the
encoder's pacer.

  flvtap.py record OUT.flv ARRIVALS.csv CONN
      Copies an FLV stream from stdin to OUT.flv and appends, per tag, the wall-clock
      time it arrived: `conn,wall,type,ts,key` (type a/v/s, ts in ms).
  flvtap.py pace EPOCH_MS
      Copies an FLV stream from stdin to stdout, releasing each tag at its programme
      time: EPOCH_MS (the first video frame's) plus its timestamp's distance from the
      first video tag's. Tags already due go at once (a catch-up burst).
  flvtap.py summary EVENTS ARRIVALS [--stall-ms 1000]
      key=value lines for viewer.txt: connections, disconnects, stalls, and the
      playout delay a player with a fixed buffer would have had to absorb.
"""
import sys
import time


def record(out, arrivals, conn):
    inp = sys.stdin.buffer
    buf = bytearray()
    header_done = False
    with open(out, "wb") as f, open(arrivals, "a") as log:
        while True:
            chunk = inp.read1(65536)
            if not chunk:
                break
            f.write(chunk)
            f.flush()
            now = time.time()
            buf += chunk
            pos = 0
            if not header_done:
                if len(buf) < 13:
                    continue
                hlen = int.from_bytes(buf[5:9], "big")
                if len(buf) < hlen + 4:
                    continue
                pos = hlen + 4
                header_done = True
            while pos + 11 <= len(buf):
                size = int.from_bytes(buf[pos + 1 : pos + 4], "big")
                if pos + 11 + size + 4 > len(buf):
                    break
                typ = buf[pos] & 0x1F
                ts = int.from_bytes(buf[pos + 4 : pos + 7], "big") | (buf[pos + 7] << 24)
                first = buf[pos + 11] if size else 0
                kind = {8: "a", 9: "v", 18: "s"}.get(typ, "?")
                key = 1 if typ == 9 and (first >> 4) == 1 else 0
                log.write("%s,%.4f,%s,%d,%d\n" % (conn, now, kind, ts, key))
                pos += 11 + size + 4
            del buf[:pos]
            log.flush()


def pace(epoch_ms):
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    head = inp.read(9)
    if len(head) < 9:
        return
    rest = inp.read(int.from_bytes(head[5:9], "big") - 9 + 4)
    out.write(head + rest)
    out.flush()
    shift = None
    while True:
        h = inp.read(11)
        if len(h) < 11:
            break
        size = int.from_bytes(h[1:4], "big")
        body = inp.read(size + 4)
        ts = int.from_bytes(h[4:7], "big") | (h[7] << 24)
        typ = h[0] & 0x1F
        if shift is None and typ == 9:
            shift = ts
        if shift is not None and typ in (8, 9):
            wait = (epoch_ms + ts - shift) / 1000.0 - time.time()
            if wait > 0:
                time.sleep(wait)
        out.write(h + body)
        out.flush()


def summary(events, arrivals, stall_ms):
    ev = []
    with open(events) as f:
        for line in f:
            p = line.split()
            if len(p) >= 2:
                ev.append((float(p[0]), p[1], p[2:]))
    rows = []
    try:
        with open(arrivals) as f:
            for line in f:
                p = line.strip().split(",")
                if len(p) == 5:
                    rows.append((p[0], float(p[1]), p[2], int(p[3]), int(p[4])))
    except FileNotFoundError:
        pass
    conns = sorted({r[0] for r in rows}, key=int)
    disconnects = sum(1 for _, k, _ in ev if k == "disconnected")
    out = {
        "connected": "true" if rows else "false",
        "connections": len(conns),
        "disconnects": disconnects,
        "first_data": "%.3f" % rows[0][1] if rows else "",
        "last_data": "%.3f" % rows[-1][1] if rows else "",
        "tags": len(rows),
    }
    # Wall-clock gaps between media tags, and the growth of (arrival - timestamp): a
    # stream that pauses and resumes with continuous timestamps has no hole in the
    # recording, but a player had to wait that long.
    longest_gap = 0.0
    stalls = []
    worst_delay = 0.0
    for c in conns:
        media = [r for r in rows if r[0] == c and r[2] in "av"]
        prev = None
        best = None
        for r in media:
            if prev is not None:
                g = (r[1] - prev[1]) * 1000.0
                longest_gap = max(longest_gap, g)
                if g >= stall_ms:
                    stalls.append("%.3f:%.0f" % (prev[1], g))
            late = r[1] * 1000.0 - r[3]
            best = late if best is None else min(best, late)
            worst_delay = max(worst_delay, late - best)
            prev = r
    out["longest_gap_ms"] = "%.0f" % longest_gap
    out["stalls"] = " ".join(stalls)
    out["stall_count"] = len(stalls)
    out["max_playout_delay_ms"] = "%.0f" % worst_delay
    for k, v in out.items():
        print("%s=%s" % (k, v))


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "pace":
        try:
            pace(int(sys.argv[2]))
        except (BrokenPipeError, KeyboardInterrupt):
            pass
        return 0
    if len(sys.argv) >= 4 and sys.argv[1] == "summary":
        stall = 1000.0
        if "--stall-ms" in sys.argv:
            stall = float(sys.argv[sys.argv.index("--stall-ms") + 1])
        summary(sys.argv[2], sys.argv[3], stall)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

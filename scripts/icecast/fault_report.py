#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""Checks one fault case of scripts/e2e-faults.sh and prints what it measured.

  fault_report.py CASE_DIR --timeout S --restore-delay S --t-fault EPOCH
                  [--t-end EPOCH] [--behind-after S | --throttle B/S --ref-csv FILE]
                  [--return-allowance S]
                  [--max-error-switch S] [--min-rate 0.9] [--max-rate 2.0]
                  [--json FILE]

CASE_DIR holds what the relay and the listener wrote (relay-events.txt, relay.log,
listener.txt, listener.csv). Checks, each printed as FAIL when it does not hold:
  - failover: the first switch primary -> secondary comes after the fault and
    within `timeout` + 0.5 s of the moment the input is `timeout` behind
    (`--behind-after` after the fault; 0 for a stall or a cut; for a throttle to
    `--throttle` bytes/s, computed from `--ref-csv`, the timeline of a listener
    reading the primary's mount directly: the stream's own byte rate, which an
    ABR encoder varies with the programme); with
    `--max-error-switch`, a connection error must reach the switch (the message's
    post time) within that many seconds of the fault;
  - return: exactly one switch back (secondary -> primary, `restored`), after
    `restore-delay` and at most `restore-delay` + `--return-allowance` after the
    fault ended; no other switch;
  - the listener was never disconnected;
  - decoded audio over every 5 s window of the listener that ends after the fault
    is at least `--min-rate` and at most `--max-rate` of real time;
  - no GStreamer CRITICAL and no ERROR debug line in the relay's log.
Exit status 1 when a check fails.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import BAD_LINE, read_csv, read_events, read_kv, fnum  # noqa: E402


def windows(rows, t_from, t_to, span=5.0):
    """(start, rate) of every `span` window of decoded audio per wall time."""
    pts = [(fnum(r.get("time")), fnum(r.get("decoded_s"))) for r in rows]
    pts = [(t, d) for t, d in pts if t is not None and d is not None]
    out = []
    j = 0
    for i, (t, d) in enumerate(pts):
        if t < t_from or t + span > t_to:
            continue
        j = max(j, i)
        while j < len(pts) and pts[j][0] < t + span - 0.01:
            j += 1
        if j >= len(pts):
            break
        t2, d2 = pts[j]
        out.append((t, (d2 - d) / (t2 - t)))
    return out


def behind_after(ref_rows, t_fault, rate, timeout):
    """Seconds after `t_fault` at which a link carrying `rate` bytes/s is `timeout`
    behind the stream whose arrivals (time, cumulative bytes) `ref_rows` hold: at
    t it has delivered rate * (t - t_fault) bytes, which the stream had produced by
    tau; behind = t - tau."""
    pts = [(fnum(r.get("time")), fnum(r.get("bytes"))) for r in ref_rows]
    pts = [(t, b) for t, b in pts if t is not None and b is not None]
    if len(pts) < 2:
        return None

    def bytes_at(t):
        for (t0, b0), (t1, b1) in zip(pts, pts[1:]):
            if t0 <= t <= t1:
                return b0 + (b1 - b0) * (t - t0) / max(t1 - t0, 1e-9)
        return None

    def time_of(b):
        for (t0, b0), (t1, b1) in zip(pts, pts[1:]):
            if b0 <= b <= b1:
                return t0 + (t1 - t0) * (b - b0) / max(b1 - b0, 1e-9)
        return None

    base = bytes_at(t_fault)
    if base is None:
        return None
    t = t_fault
    while t < pts[-1][0]:
        t += 0.01
        tau = time_of(base + rate * (t - t_fault))
        if tau is None:
            return None
        if t - tau >= timeout:
            return t - t_fault
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case_dir")
    ap.add_argument("--timeout", type=float, required=True)
    ap.add_argument("--restore-delay", type=float, required=True)
    ap.add_argument("--t-fault", type=float, required=True)
    ap.add_argument("--t-end", type=float)
    ap.add_argument("--behind-after", type=float, default=0.0)
    ap.add_argument("--throttle", type=float)
    ap.add_argument("--ref-csv")
    ap.add_argument("--return-allowance", type=float, default=2.5)
    ap.add_argument("--max-error-switch", type=float)
    ap.add_argument("--min-rate", type=float, default=0.9)
    ap.add_argument("--max-rate", type=float, default=2.0)
    ap.add_argument("--name", default="")
    ap.add_argument("--json")
    a = ap.parse_args()

    d = a.case_dir
    events = read_events(os.path.join(d, "relay-events.txt"))
    listener = read_kv(os.path.join(d, "listener.txt"))
    rows = read_csv(os.path.join(d, "listener.csv"))
    fails = []
    m = {"case": a.name or os.path.basename(d.rstrip("/"))}

    switches = [(t, e) for t, k, e in events if k == "switch"]
    t_end = a.t_end if a.t_end is not None else a.t_fault
    behind = a.behind_after
    if a.throttle:
        b = behind_after(read_csv(a.ref_csv), a.t_fault, a.throttle, a.timeout) if a.ref_csv else None
        if b is None:
            fails.append("cannot compute when the throttled input falls behind")
        else:
            behind = b
            m["behind_after_fault_s"] = round(b, 3)
    expect_at = a.t_fault + behind
    # The time a switch message was posted (the bus watch logs it a little later).
    out_sw = [
        (fnum(e.get("posted")) or t, e)
        for t, e in switches
        if e.get("from") == "primary" and e.get("to") == "secondary"
    ]
    back_sw = [
        (fnum(e.get("posted")) or t, e)
        for t, e in switches
        if e.get("from") == "secondary" and e.get("to") == "primary"
    ]
    if not out_sw:
        fails.append("no failover to the secondary")
    else:
        t_sw, e = out_sw[0]
        m["failover_after_fault_s"] = round(t_sw - a.t_fault, 3)
        m["failover_after_expected_s"] = round(t_sw - expect_at, 3)
        m["failover_reason"] = e.get("reason")
        told = [
            (fnum(ev.get("at")) or t, ev.get("reason"))
            for t, k, ev in events
            if k == "input" and ev.get("input") == "primary" and ev.get("healthy") == "false"
        ]
        told = [x for x in told if x[0] >= a.t_fault - 0.5]
        if told:
            m["relay_verdict"] = told[0][1]
            m["relay_verdict_after_fault_s"] = round(told[0][0] - a.t_fault, 3)
        # (The proxy logs a cut when it is done: the relay may see it a few ms
        # before that line.)
        if t_sw < a.t_fault - 0.1:
            fails.append("failover %.3f s before the fault" % (a.t_fault - t_sw))
        limit = a.timeout + 0.5
        if t_sw - expect_at > limit:
            fails.append(
                "failover %.2f s after the input fell %.1f s behind (limit %.1f s)"
                % (t_sw - expect_at, a.timeout, limit)
            )
        if a.max_error_switch is not None and abs(t_sw - a.t_fault) > a.max_error_switch:
            fails.append(
                "error to switch message %.0f ms (limit %.0f ms)"
                % ((t_sw - a.t_fault) * 1e3, a.max_error_switch * 1e3)
            )
    if len(out_sw) > 1:
        fails.append("%d failovers to the secondary (flapping)" % len(out_sw))
    if not back_sw:
        fails.append("never back on the primary")
    else:
        t_back, e = back_sw[0]
        m["back_after_fault_end_s"] = round(t_back - t_end, 3)
        if e.get("reason") != "restored":
            fails.append("back on the primary with reason %s" % e.get("reason"))
        lo, hi = a.restore_delay - 0.1, a.restore_delay + a.return_allowance
        if not lo <= t_back - t_end <= hi:
            fails.append(
                "back on the primary %.2f s after the fault ended (expected %.1f..%.1f s)"
                % (t_back - t_end, lo, hi)
            )
    if len(switches) != 2:
        fails.append(
            "%d switches (expected 2): %s"
            % (len(switches), [(e.get("from"), e.get("to"), e.get("reason")) for _, e in switches])
        )
    m["switches"] = len(switches)
    m["reconnects"] = sum(1 for _, k, e in events if k == "reconnect" and e.get("input") == "primary")

    if listener.get("connected") != "true":
        fails.append("listener never connected")
    if listener.get("disconnects", "1") != "0":
        fails.append("listener disconnected %s time(s)" % listener.get("disconnects"))
    m["longest_gap_ms"] = fnum(listener.get("longest_gap_ms"))
    end = max((fnum(r.get("time")) or 0) for r in rows) if rows else 0
    # Every window that ends after the fault began.
    w = windows(rows, a.t_fault - 4.9, end)
    if not w:
        fails.append("no 5 s windows in the listener's timeline")
    else:
        lo = min(w, key=lambda x: x[1])
        hi = max(w, key=lambda x: x[1])
        m["min_5s_rate"] = round(lo[1], 3)
        m["max_5s_rate"] = round(hi[1], 3)
        if lo[1] < a.min_rate:
            fails.append(
                "5 s window at fault%+.1f s: %.0f %% of real time (min %.0f %%)"
                % (lo[0] - a.t_fault, lo[1] * 100, a.min_rate * 100)
            )
        if hi[1] > a.max_rate:
            fails.append(
                "5 s window at fault%+.1f s: %.0f %% of real time (burst; max %.0f %%)"
                % (hi[0] - a.t_fault, hi[1] * 100, a.max_rate * 100)
            )
    bad = []
    log = os.path.join(d, "relay.log")
    if os.path.exists(log):
        with open(log, errors="replace") as f:
            bad = [line.rstrip() for line in f if BAD_LINE.search(line)]
    m["critical_or_error_lines"] = len(bad)
    if bad:
        fails.append("%d CRITICAL/ERROR lines in relay.log, first: %s" % (len(bad), bad[0][:200]))

    m["ok"] = not fails
    for f in fails:
        print("FAIL: %s" % f)
    print(" ".join("%s=%s" % (k, v) for k, v in m.items()))
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(m) + "\n")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())

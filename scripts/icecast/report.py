#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""Reads what the relay and the listener wrote in a work directory, prints a summary,
checks end-to-end expectations, and draws the PNG timeline (gnuplot).

  report.py summary WORK [--png FILE]
  report.py check WORK --timeout S [--switches health,restored,...] [--loudness-lu 2]
                       [--verdicts eos,eos,...] [--no-switch-to secondary]
                       [--warning-from sw] [--min-bytes N]
`--verdicts`: for each switch with reason `health`, the relay's verdict that
caused it (the reason it told the switch about that input, e.g. `eos`; `a|b`: either;
a last `*`: any further ones).
`check` also fails on any GStreamer CRITICAL or ERROR line in the relay's log
(`--allow-error REGEX`: except ERROR lines that match).
Exit status of `check` is 1 when an expectation fails (each failure is printed).
"""
import argparse
import csv
import os
import re
import shutil
import subprocess
import sys


# A GStreamer CRITICAL, or an ERROR line of GStreamer's debug log.
BAD_LINE = re.compile(r"CRITICAL|(^|\s)ERROR(\s|$)")


def read_kv(path):
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    out[k] = v
    return out


def read_events(path):
    """Lines `<epoch> <kind> k=v ...` -> list of (t, kind, dict)."""
    ev = []
    if not os.path.exists(path):
        return ev
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            try:
                t = float(parts[0])
            except ValueError:
                continue
            d = {}
            for p in parts[2:]:
                if "=" in p:
                    k, v = p.split("=", 1)
                    d[k] = v
            ev.append((t, parts[1], d))
    return ev


def read_actions(path):
    acts = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                t, _, what = line.rstrip("\n").partition(" ")
                try:
                    acts.append((float(t), what))
                except ValueError:
                    pass
    return acts


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def fnum(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def fmt(v, unit=""):
    return "n/a" if v is None else "%.1f%s" % (v, unit)


class Run:
    def __init__(self, work):
        self.work = work
        self.events = read_events(os.path.join(work, "relay-events.txt"))
        self.actions = read_actions(os.path.join(work, "actions.txt"))
        self.timeline = read_csv(os.path.join(work, "relay-timeline.csv"))
        self.listener = read_kv(os.path.join(work, "listener.txt"))
        self.ltimeline = read_csv(os.path.join(work, "listener.csv"))
        self.levents = read_events(os.path.join(work, "listener-events.txt"))
        starts = [t for t, k, _ in self.events if k == "start"]
        self.t0 = min([t for t, _ in self.actions] + starts) if (self.actions or starts) else 0.0
        self.switches = [(t, d) for t, k, d in self.events if k == "switch"]
        self.warnings = [(t, d) for t, k, d in self.events if k == "warning"]
        self.aligned = [(t, d) for t, k, d in self.events if k == "aligned"]

    def rel(self, t):
        return t - self.t0

    def listener_st_at(self, t):
        """Listener short-term loudness closest to wall time t."""
        best = None
        for row in self.ltimeline:
            rt = fnum(row.get("time"))
            v = fnum(row.get("short_term_lufs"))
            if rt is None or v is None:
                continue
            if best is None or abs(rt - t) < abs(best[0] - t):
                best = (rt, v)
        return best[1] if best and abs(best[0] - t) < 1.0 else None

    def loudness_steps(self):
        """Output short-term loudness 1 s before and 4 s after each switch."""
        steps = []
        for t, d in self.switches:
            before = self.listener_st_at(t - 1.0)
            after = self.listener_st_at(t + 4.0)
            steps.append((t, d, before, after))
        return steps

    def column_mean(self, rows, col, t_from=None):
        vals = []
        for r in rows:
            t = fnum(r.get("time"))
            if t_from is not None and (t is None or t < t_from):
                continue
            vals.append(fnum(r.get(col)))
        return mean(vals)


def summary(run, png):
    print("== relay summary (%s) ==" % run.work)
    print("actions:")
    for t, what in run.actions:
        print("  %6.1f s  %s" % (run.rel(t), what))
    print("switches: %d" % len(run.switches))
    for t, d in run.switches:
        print(
            "  %6.1f s  %s -> %s  reason=%s  (running time %.3f s)"
            % (
                run.rel(t),
                d.get("from"),
                d.get("to"),
                d.get("reason"),
                int(d.get("running_time", "0")) / 1e9,
            )
        )
    for t, d in run.warnings:
        print("  %6.1f s  WARNING from %s: %s" % (run.rel(t), d.get("src"), d.get("msg")))
    L = run.listener
    print("listener:")
    print("  bytes received      %s" % L.get("bytes", "n/a"))
    print("  longest gap         %s ms" % L.get("longest_gap_ms", "n/a"))
    print("  gaps over 250 ms    %s" % L.get("gaps_over_threshold", "n/a"))
    print("  ever disconnected   %s" % ("yes" if L.get("disconnects", "0") != "0" else "no"))
    print("  decoded audio       %s s" % L.get("decoded_s", "n/a"))
    print("  longest silence     %s ms" % L.get("longest_silence_ms", "n/a"))
    t_settled = run.t0 + 8.0
    print("loudness (mean short-term after the first 8 s):")
    p = run.column_mean(run.timeline, "primary_lufs", t_settled)
    s = run.column_mean(run.timeline, "secondary_lufs", t_settled)
    g = run.column_mean(run.timeline, "secondary_gain_db", t_settled)
    o = run.column_mean(run.timeline, "output_lufs", t_settled)
    print("  primary input       %s" % fmt(p, " LUFS"))
    matching = ", matching gain %+.1f dB" % g if g is not None and abs(g) >= 0.05 else ""
    print("  secondary input     %s%s" % (fmt(s, " LUFS"), matching))
    print("  relay output        %s" % fmt(o, " LUFS"))
    print("  listener integrated %s LUFS" % (L.get("integrated_lufs") or "n/a"))
    for t, d, before, after in run.loudness_steps():
        if before is not None and after is not None:
            print(
                "  at switch %s->%s (%.1f s): %.1f -> %.1f LUFS (%+.1f LU)"
                % (d.get("from"), d.get("to"), run.rel(t), before, after, after - before)
            )
    print("alignment (secondary later than primary by):")
    if not run.aligned:
        print("  not measured")
    for t, d in run.aligned:
        sure = "confident" if d.get("confident") == "true" else "not confident"
        print(
            "  %6.1f s  %s ms (%s, confidence %s)"
            % (run.rel(t), d.get("offset_ms"), sure, d.get("confidence"))
        )
    if png:
        plot(run, png)


def plot(run, png):
    gp = shutil.which("gnuplot")
    if not gp:
        print("gnuplot not found: no PNG (install gnuplot-nox)")
        return
    dat = os.path.join(run.work, "plot-relay.dat")
    with open(dat, "w") as f:
        for r in run.timeline:
            t = fnum(r.get("time"))
            if t is None:
                continue
            sec = fnum(r.get("secondary_lufs"))
            gain = fnum(r.get("secondary_gain_db"))
            matched = sec + gain if (sec is not None and gain is not None) else None
            vals = [
                run.rel(t),
                fnum(r.get("active")),
                fnum(r.get("primary_lufs")),
                sec,
                matched,
                fnum(r.get("output_lufs")),
                # Older timelines have no offset_ms column.
                fnum(r.get("offset_ms")),
            ]
            f.write(" ".join("NaN" if v is None else "%.3f" % v for v in vals) + "\n")
    ldat = os.path.join(run.work, "plot-listener.dat")
    with open(ldat, "w") as f:
        for r in run.ltimeline:
            t = fnum(r.get("time"))
            v = fnum(r.get("short_term_lufs"))
            if t is not None:
                f.write("%.3f %s\n" % (run.rel(t), "NaN" if v is None else "%.3f" % v))
    marks = []
    for i, (t, d) in enumerate(run.switches):
        x = run.rel(t)
        marks.append(
            "set arrow %d from %.2f, graph 0 to %.2f, graph 1 nohead dt 2 lc rgb '#888888'" % (i + 1, x, x)
        )
        marks.append(
            "set label %d '%s' at %.2f, graph 0.97 rotate by 90 right font ',8'"
            % (i + 1, d.get("reason", ""), x + 0.3)
        )
    acts = []
    for i, (t, what) in enumerate(run.actions):
        if run.rel(t) > 1.0 and (what.startswith("stopping") or what.startswith("encoder")):
            acts.append(
                "set label %d '%s' at %.2f, graph 0.05 rotate by 90 left font ',7' tc rgb '#aa3333'"
                % (100 + i, what.split(" ->")[0].split(",")[0].replace("encoder ", "start "), run.rel(t))
            )
    # The measured offset between the inputs (ms, right axis), where confident.
    has_offset = any(fnum(r.get("offset_ms")) is not None for r in run.timeline)
    offset_axis = "set y2tics\nset y2label 'offset (ms): secondary later by'\nset key top left" if has_offset else ""
    offset_plot = (
        ", \\\n     '%s' using 1:7 axes x1y2 with lines lw 2 lc rgb '#cc6600' title 'measured offset (ms, right axis)'" % dat
        if has_offset
        else ""
    )
    script = """
set terminal pngcairo size 1200,800 font ',10'
set output '%(png)s'
set multiplot layout 2,1 title 'failover relay timeline'
set grid
set xlabel 'time (s)'
set ylabel 'active input'
set yrange [-0.3:2.3]
set ytics ('none' 0, 'primary' 1, 'secondary' 2)
%(marks)s
%(acts)s
%(offset_axis)s
plot '%(dat)s' using 1:2 with steps lw 2 title 'active input'%(offset_plot)s
unset label
unset y2tics
unset y2label
set ylabel 'short-term loudness (LUFS)'
set yrange [*:*]
set ytics auto
set key bottom right
plot '%(dat)s' using 1:3 with lines lw 2 title 'primary input', \
     '%(dat)s' using 1:4 with lines lw 1 title 'secondary input (raw)', \
     '%(dat)s' using 1:5 with lines lw 2 title 'secondary after loudnessmatch', \
     '%(dat)s' using 1:6 with lines lw 2 title 'relay output (measured)', \
     '%(ldat)s' using 1:2 with lines lw 2 dt 3 title 'listener (decoded output)'
unset multiplot
""" % {
        "png": png,
        "dat": dat,
        "ldat": ldat,
        "marks": "\n".join(marks),
        "offset_axis": offset_axis,
        "offset_plot": offset_plot,
        "acts": "\n".join(acts),
    }
    r = subprocess.run([gp], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        print("gnuplot failed: %s" % r.stderr.strip())
    else:
        print("timeline: %s" % png)


def check(run, a):
    fails = []
    L = run.listener
    if not L:
        fails.append("no listener summary")
    if L.get("connected") != "true":
        fails.append("listener never connected")
    if L.get("disconnects", "1") != "0":
        fails.append("listener was disconnected %s time(s)" % L.get("disconnects"))
    gap = fnum(L.get("longest_gap_ms"))
    limit = a.timeout * 1000 + 500
    if gap is None or gap >= limit:
        fails.append("longest gap %s ms is not below %d ms" % (L.get("longest_gap_ms"), limit))
    if int(L.get("bytes", "0")) < a.min_bytes:
        fails.append("listener got only %s bytes" % L.get("bytes"))
    if a.switches is not None:
        want = [w for w in a.switches.split(",") if w]
        got = [d.get("reason", "") for _, d in run.switches]
        ok = len(want) == len(got) and all(g in w.split("|") for w, g in zip(want, got))
        if not ok:
            fails.append("switch reasons %s, expected %s" % (got, want))
    if a.verdicts is not None:
        want = [w for w in a.verdicts.split(",") if w]
        got = []
        for t, d in run.switches:
            if d.get("reason") != "health":
                continue
            posted = fnum(d.get("posted")) or t
            told = [
                (fnum(e.get("at")) or te, e.get("reason"))
                for te, k, e in run.events
                if k == "input" and e.get("input") == d.get("from") and e.get("healthy") == "false"
            ]
            told = [r for at, r in told if at <= posted + 0.05]
            got.append(told[-1] if told else "?")
        # A last `*`: any more (e.g. a failover the switch's own timeout may decide).
        more = bool(want) and want[-1] == "*"
        want = want[:-1] if more else want
        n_ok = len(got) >= len(want) if more else len(got) == len(want)
        ok = n_ok and all(g in w.split("|") for w, g in zip(want, got))
        if not ok:
            fails.append("relay verdicts behind the failovers %s, expected %s" % (got, want))
    bad = []
    log = os.path.join(run.work, "relay.log")
    if os.path.exists(log):
        with open(log, errors="replace") as f:
            bad = [line.rstrip() for line in f if BAD_LINE.search(line)]
    if a.allow_error:
        allowed = re.compile(a.allow_error)
        bad = [line for line in bad if not allowed.search(line)]
    if bad:
        fails.append("%d CRITICAL/ERROR lines in relay.log, first: %s" % (len(bad), bad[0][:200]))
    if a.no_switch_to:
        bad = [d for _, d in run.switches if d.get("to") == a.no_switch_to]
        if bad:
            fails.append("switched to %s: %s" % (a.no_switch_to, bad))
    if a.warning_from:
        if not any(d.get("src") == a.warning_from for _, d in run.warnings):
            fails.append("no WARNING from %s" % a.warning_from)
    if a.loudness_lu is not None:
        steps = run.loudness_steps()
        measured = 0
        for t, d, before, after in steps:
            if before is None or after is None:
                continue
            measured += 1
            if abs(after - before) > a.loudness_lu:
                fails.append(
                    "output loudness moved %.1f LU at switch %s->%s (%.1f -> %.1f LUFS)"
                    % (after - before, d.get("from"), d.get("to"), before, after)
                )
        if steps and measured == 0:
            fails.append("no loudness measured around the switches")
    for f in fails:
        print("FAIL: %s" % f)
    if not fails:
        print(
            "ok: %d switches %s, longest gap %s ms, %s bytes, never disconnected"
            % (
                len(run.switches),
                [d.get("reason") for _, d in run.switches],
                L.get("longest_gap_ms"),
                L.get("bytes"),
            )
        )
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["summary", "check"])
    ap.add_argument("work")
    ap.add_argument("--png")
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--switches")
    ap.add_argument("--verdicts")
    ap.add_argument("--allow-error", help="regex of ERROR lines that are expected")
    ap.add_argument("--loudness-lu", type=float)
    ap.add_argument("--no-switch-to")
    ap.add_argument("--warning-from")
    ap.add_argument("--min-bytes", type=int, default=1)
    a = ap.parse_args()
    run = Run(a.work)
    if a.cmd == "summary":
        summary(run, a.png)
        return 0
    return check(run, a)


if __name__ == "__main__":
    sys.exit(main())

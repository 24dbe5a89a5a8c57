#!/usr/bin/env python3
"""Reads the programme-time markers of scripts/icecast/encoder.sh back from a recording.

125 ms after every whole second s of programme time the test programme carries a
10 ms blip of 1 kHz + 1.25 kHz (Hann shaped, both sines starting at phase 0) and
then s mod 256 as 8 bits (bit i: a 4 ms 2 kHz burst 20 + 5*i ms after the blip's
start). From each blip this tool finds the recording time at which programme time
s + 0.125 s was played: the 250 Hz phase difference of the two tones places it within ±2 ms, the
1 kHz phase to microseconds (a few µs on clean audio, about 0.01 ms through AAC).
From consecutive markers it tells whether the programme ran on continuously:
between two markers the programme should advance exactly as much as the recording.

    markers.py RECORDING [--loop 64] [--around T ...] [--window 2]
               [--max-jump-ms 5] [--list] [--json]

RECORDING: a 16-bit PCM WAV (mono or stereo; 16 kHz mono is fastest), or any file
ffmpeg can decode (converted to 16 kHz mono on the way).
--loop: the encoder's loop length (FAILOVER_PROGRAMME_LOOP), to unwrap the second
numbers. --around: recording times (s) to report on, e.g. where switches happened;
each report covers the markers within --window seconds of it. --max-jump-ms: exit
with status 1 if any programme jump (between consecutive markers within the
reported windows, or anywhere without --around) is larger, or if a window has fewer
than two markers.

A jump is (programme advance - recording advance) between consecutive markers:
positive = programme skipped forward, negative = programme repeated.
Standard library only.
"""

import argparse
import cmath
import itertools
import json
import math
import subprocess
import sys
import wave

SYNC_HZ = 1000.0
SYNC2_HZ = 1250.0
# Frequencies beside the blip's, where the test programme has next to nothing.
GUARD_HZ = (700.0, 1600.0)
BIT_HZ = 2000.0
SYNC_S = 0.010
BIT_S = 0.004
BIT0_S = 0.020
BIT_STEP_S = 0.005
BITS = 8
# Programme time of a blip's start after its whole second.
MARK_OFFSET_S = 0.125
LOOP = [64]


def read_audio(path):
    """Mono float samples and the sample rate."""
    try:
        with wave.open(path, "rb") as w:
            if w.getsampwidth() == 2 and w.getcomptype() == "NONE":
                rate, ch = w.getframerate(), w.getnchannels()
                raw = w.readframes(w.getnframes())
                import array

                a = array.array("h")
                a.frombytes(raw)
                if sys.byteorder != "little":
                    a.byteswap()
                if ch == 1:
                    return [v / 32768.0 for v in a], rate
                return [sum(a[i : i + ch]) / (32768.0 * ch) for i in range(0, len(a), ch)], rate
    except (wave.Error, EOFError):
        pass
    rate = 16000
    out = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", path, "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"],
        check=True,
        stdout=subprocess.PIPE,
    ).stdout
    import array

    a = array.array("h")
    a.frombytes(out)
    if sys.byteorder != "little":
        a.byteswap()
    return [v / 32768.0 for v in a], rate


def template(freq, seconds, rate):
    """A Hann-shaped complex exponential: the matched filter of one burst."""
    n = int(round(seconds * rate))
    return [
        cmath.exp(-2j * math.pi * freq * m / rate) * math.sin(math.pi * m / n) ** 2 for m in range(n)
    ]


def correlate(x, start, tmpl):
    """Complex correlation of x[start:] with a template (0 outside the recording)."""
    if start < 0 or start + len(tmpl) > len(x):
        return 0j
    return sum(v * t for v, t in zip(x[start : start + len(tmpl)], tmpl))


def coarse_candidates(x, rate):
    """Sample positions where a 10 ms 1 kHz burst probably starts (±1 ms)."""
    n = len(x)
    period = rate // math.gcd(rate, int(SYNC_HZ))
    cos_t = [math.cos(2 * math.pi * SYNC_HZ * k / rate) for k in range(period)]
    sin_t = [math.sin(2 * math.pi * SYNC_HZ * k / rate) for k in range(period)]
    ci = [0.0] + list(itertools.accumulate(v * cos_t[k % period] for k, v in enumerate(x)))
    cq = [0.0] + list(itertools.accumulate(v * sin_t[k % period] for k, v in enumerate(x)))
    w = int(SYNC_S * rate)
    hop = max(1, rate // 1000)
    pos = list(range(0, n - w, hop))
    energy = [(ci[p + w] - ci[p]) ** 2 + (cq[p + w] - cq[p]) ** 2 for p in pos]
    # Local maxima within ±300 ms that stand well above their surroundings
    # (the median within ±500 ms): the programme has little at 1 kHz.
    span = int(0.3 * 1000)
    around = int(0.5 * 1000)
    found = []
    for k, e in enumerate(energy):
        if e <= 0.0:
            continue
        lo, hi = max(0, k - span), min(len(energy), k + span + 1)
        if e < max(energy[lo:hi]):
            continue
        bg = sorted(energy[max(0, k - around) : min(len(energy), k + around + 1)])
        if e > 30.0 * bg[len(bg) // 2] + 1e-12:
            found.append(pos[k])
    return found


def wrap(phase):
    """A phase brought into (-pi, pi]."""
    return phase - 2 * math.pi * math.ceil((phase - math.pi) / (2 * math.pi))


def find_markers(x, rate):
    """[(recording time of the second's start, second number mod 256, level)]."""
    sync = template(SYNC_HZ, SYNC_S, rate)
    sync2 = template(SYNC2_HZ, SYNC_S, rate)
    bit = template(BIT_HZ, BIT_S, rate)
    guards = [template(f, SYNC_S, rate) for f in GUARD_HZ]
    # A Hann-shaped sine of amplitude A gives |C| = A * sum(w^2) / 2.
    sync_gain = sum(abs(t) ** 2 for t in sync) / 2
    bit_gain = sum(abs(t) ** 2 for t in bit) / 2
    markers = []
    for c in coarse_candidates(x, rate):
        # The matched filters' peak is within a millisecond or so of the start (the
        # programme under the blip shifts it); the phases do the rest.
        best = max(
            range(c - 3 * rate // 1000, c + 3 * rate // 1000 + 1),
            key=lambda s: abs(correlate(x, s, sync)) + abs(correlate(x, s, sync2)),
        )
        c1, c2 = correlate(x, best, sync), correlate(x, best, sync2)
        a1, a2 = abs(c1) / sync_gain, abs(c2) / sync_gain
        # Both tones, at about the same level, and little beside them (a click or a
        # splice is broadband): a blip.
        if a1 == 0.0 or not 0.5 < a2 / a1 < 2.0:
            continue
        beside = max(abs(correlate(x, best, t)) for t in guards) / sync_gain
        if beside > 0.5 * min(a1, a2):
            continue
        # For a burst starting at t0 (samples), the phase of tone f at `best` is
        # 2 pi f (best - t0) / rate - pi/2. The two phases' difference dates it
        # within ±2 ms; the 1 kHz phase then to a fraction of a sample.
        p1, p2 = cmath.phase(c1 * 1j), cmath.phase(c2 * 1j)
        coarse = wrap(p2 - p1) / (2 * math.pi * (SYNC2_HZ - SYNC_HZ))
        fine = p1 / (2 * math.pi * SYNC_HZ)
        delta = fine + round((coarse - fine) * SYNC_HZ) / SYNC_HZ
        t0 = best - delta * rate
        amplitude = (a1 + a2) / 2
        # A marker cut off by the recording's end has lost some of its bits: its
        # second number would be wrong (a false programme jump at the very end).
        if t0 + (BIT0_S + BIT_STEP_S * (BITS - 1) + BIT_S) * rate > len(x):
            continue
        second = 0
        for i in range(BITS):
            s = int(round(t0 + (BIT0_S + BIT_STEP_S * i) * rate))
            if abs(correlate(x, s, bit)) / bit_gain > 0.5 * amplitude:
                second |= 1 << i
        markers.append((t0 / rate, second, amplitude))
    # Far weaker than the others: not a marker.
    if markers:
        levels = sorted(m[2] for m in markers)
        floor = 0.3 * levels[len(levels) // 2]
        markers = [m for m in markers if m[2] >= floor]
    return markers


def unwrap(markers, loop):
    """Adds the unwrapped programme time: each second number is taken modulo the
    loop, at the wrap closest to what the recording's advance predicts."""
    out = []
    prev = None
    for t, s, a in markers:
        s = s % loop if loop <= 256 else s
        if prev is None:
            p = s + MARK_OFFSET_S
        else:
            pt, pp = prev
            guess = pp + (t - pt)
            p = s + MARK_OFFSET_S + loop * round((guess - s - MARK_OFFSET_S) / loop)
        out.append({"time": t, "second": s, "programme": p, "amplitude": a})
        prev = (t, p)
    return out


def drop_outliers(marks):
    """Drops a marker that disagrees with both neighbours (a misread second number or
    a false detection) while they agree with each other: the two jumps around it
    cancel to within 5 ms or 1 % of their size (a second number misread at a switch
    is off by whole seconds, and the real jump of the switch stays in the sum).
    Returns (kept, dropped)."""
    kept, dropped = list(marks), 0
    i = 1
    while i + 1 < len(kept):
        a, b, c = kept[i - 1], kept[i], kept[i + 1]
        j1 = (b["programme"] - a["programme"]) - (b["time"] - a["time"])
        j2 = (c["programme"] - b["programme"]) - (c["time"] - b["time"])
        cancel = max(0.005, 0.01 * min(abs(j1), abs(j2)))
        if abs(j1) > 0.05 and abs(j2) > 0.05 and abs(j1 + j2) < cancel:
            del kept[i]
            dropped += 1
            # The programme times after it were unwrapped from it: redo them.
            kept = unwrap([(m["time"], m["second"], m["amplitude"]) for m in kept], LOOP[0])
        else:
            i += 1
    return kept, dropped


def jumps(marks):
    """Programme jump (s) between each pair of consecutive markers."""
    return [
        (b["time"], (b["programme"] - a["programme"]) - (b["time"] - a["time"]))
        for a, b in zip(marks, marks[1:])
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recording")
    ap.add_argument("--loop", type=int, default=64)
    ap.add_argument("--around", type=float, nargs="*", default=[])
    ap.add_argument("--window", type=float, default=2.0)
    ap.add_argument("--max-jump-ms", type=float)
    ap.add_argument("--list", action="store_true", help="print every marker")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args()

    x, rate = read_audio(args.recording)
    LOOP[0] = args.loop
    marks, dropped = drop_outliers(unwrap(find_markers(x, rate), args.loop))
    all_jumps = jumps(marks)
    result = {"duration": len(x) / rate, "markers": len(marks), "outliers": dropped, "windows": []}
    ok = True
    limit = None if args.max_jump_ms is None else args.max_jump_ms / 1000.0

    if marks:
        lag0 = marks[0]["time"] - marks[0]["programme"]
        noise = [abs(j) for _, j in all_jumps if abs(j) < 0.005]
        result["jitter_ms"] = 1000.0 * (sum(noise) / len(noise)) if noise else None
    if args.list:
        for m in marks:
            print(
                "marker at %11.6f s: programme second %3d (unwrapped %9.3f), lag %+9.3f ms, level %.3f"
                % (m["time"], m["second"], m["programme"], 1000 * (m["time"] - m["programme"] - lag0), m["amplitude"])
            )

    if args.around:
        for t in args.around:
            inside = [m for m in marks if abs(m["time"] - t) <= args.window]
            js = jumps(inside)
            before = [m for m in marks if m["time"] <= t]
            w = {"at": t, "markers": len(inside)}
            if before:
                b = before[-1]
                w["programme_time"] = b["programme"] + (t - b["time"])
            if len(inside) >= 2:
                w["net_jump_ms"] = 1000.0 * sum(j for _, j in js)
                w["max_jump_ms"] = 1000.0 * max((abs(j) for _, j in js), default=0.0)
            result["windows"].append(w)
            if limit is not None and (len(inside) < 2 or w["max_jump_ms"] > 1000 * limit):
                ok = False
    elif limit is not None:
        if len(marks) < 2 or any(abs(j) > limit for _, j in all_jumps):
            ok = False
    result["jumps"] = [
        {"at": t, "jump_ms": 1000.0 * j} for t, j in all_jumps if abs(j) > (limit if limit is not None else 0.005)
    ]
    result["ok"] = ok

    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(
            "%s: %.1f s, %d markers (%d outliers dropped), marker-to-marker jitter %s"
            % (
                args.recording,
                result["duration"],
                len(marks),
                dropped,
                "%.3f ms" % result["jitter_ms"] if result.get("jitter_ms") is not None else "n/a",
            )
        )
        for w in result["windows"]:
            print(
                "around %.2f s: programme time %s, %d markers, largest jump %s, net %s"
                % (
                    w["at"],
                    "%.3f s" % w["programme_time"] if "programme_time" in w else "unknown",
                    w["markers"],
                    "%.3f ms" % w["max_jump_ms"] if "max_jump_ms" in w else "n/a",
                    "%+.3f ms" % w["net_jump_ms"] if "net_jump_ms" in w else "n/a",
                )
            )
        for j in result["jumps"]:
            print("programme jump of %+.3f ms at %.3f s" % (j["jump_ms"], j["at"]))
        if limit is not None:
            print("OK" if ok else "FAIL: a programme jump over %.1f ms" % args.max_jump_ms)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

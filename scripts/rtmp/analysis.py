# SPDX-License-Identifier: MPL-2.0
"""Measures a recording of the video test programme (programme.py): which encoder
each frame and each stretch of audio came from, switches, mixed or corrupt frames,
frozen video, programme-clock jumps, A/V offset at each per-second marker, audio gaps,
and decoder errors. Python standard library plus the ffmpeg command-line tool.

Times are the recording's own timestamps in ms (the viewer records with -copyts, so
they are the publisher's FLV timestamps).
"""
import array
import math
import os
import re
import subprocess
import tempfile
import time

import programme as P

# Decoded frames are scaled to this size before sampling: any resolution works (the
# ladder variants too), and the design coordinates scale by 1/2.
AW, AH = 320, 180
SCALE = AW / P.WIDTH
FRAME_BYTES = AW * AH * 3

AUDIO_RATE = 8000
# A box colour within this RGB distance of a source's expected colour at that
# programme time is that source; neighbouring ramp steps are >= 45 apart.
BOX_TOL = 28.0
# The audio pilot counts as present at this fraction of its nominal amplitude.
PILOT_MIN = 0.35
# A second pilot at this fraction of the strongest one makes the window "mixed".
PILOT_MIXED = 0.5
AUDIO_WIN = 160  # 20 ms at 8 kHz
AUDIO_HOP = 80  # 10 ms
BLIP_THRESHOLD = 0.25  # of full scale; the pilot alone peaks at 0.08, the blip at 0.58
BLIP_QUIET_MS = 20  # quiet this long before an onset (a blip is loud every 0.5 ms)
MARKER_MATCH_MS = 450  # a blip this close to a white frame belongs to it
JUMP_MIN_MS = 20  # programme-clock jumps smaller than half a frame are rounding
FILLER = "filler"  # a frame without the programme's barcode


def ffmpeg():
    return os.environ.get("FFMPEG", "ffmpeg")


def luma(r, g, b):
    return (77 * r + 150 * g + 29 * b) / 256.0


class Frame:
    __slots__ = ("n", "pts", "key", "ptype", "checksum", "k24", "barcode", "box", "static", "white", "src", "bad")

    def __init__(self, n):
        self.n = n
        self.pts = None
        self.key = False
        self.ptype = "?"
        self.checksum = None
        self.k24 = None
        self.barcode = False
        self.box = (0, 0, 0)
        self.static = (0, 0, 0)
        self.white = False
        self.src = None  # palette colour name, or None
        self.bad = None  # None, "mixed" (box does not match), "corrupt" (barcode broken)


def _region_rgb(buf, x0, y0, w, h, step=1):
    r = g = b = cnt = 0
    for y in range(y0, y0 + h, step):
        row = buf[(y * AW + x0) * 3 : (y * AW + x0 + w) * 3]
        if step > 1:
            row = bytes(row)
            px = [row[i : i + 3] for i in range(0, len(row), 3 * step)]
            for p in px:
                r += p[0]
                g += p[1]
                b += p[2]
            cnt += len(px)
        else:
            r += sum(row[0::3])
            g += sum(row[1::3])
            b += sum(row[2::3])
            cnt += w
    return (r / cnt, g / cnt, b / cnt)


def _scaled(v):
    return int(round(v * SCALE))


CELL_SAMPLES = [
    (_scaled(c * P.CELL_W + P.CELL_W / 2) - 2, _scaled(P.BAR_H / 2) - 2) for c in range(P.CELLS)
]
BX, BY, BW, BH = (_scaled(v) for v in P.BOX)
BOX_SAMPLE = (BX + BW // 4, BY + BH // 4, BW // 2, BH // 2)
SX, SY, SW, SH = (_scaled(v) for v in P.STATIC)
STATIC_SAMPLE = (SX + SW // 4, SY + SH // 4, SW // 2, SH // 2)
BG_SAMPLES = [tuple(_scaled(v) for v in r) for r in P.BACKGROUND]


def sample_frame(buf, fr):
    levels = [luma(*_region_rgb(buf, x, y, 4, 4)) for x, y in CELL_SAMPLES]
    fr.barcode = P.barcode_present(levels)
    fr.k24 = P.decode_cells(levels)
    fr.box = _region_rgb(buf, *BOX_SAMPLE)
    fr.static = _region_rgb(buf, *STATIC_SAMPLE)
    bg = [luma(*_region_rgb(buf, x, y, w, h, step=4)) for x, y, w, h in BG_SAMPLES]
    fr.white = min(bg) > 160


def classify(fr, colours):
    """Source of a frame: the palette colour whose expected box colour at the frame's
    programme time is nearest, if near enough, and which the static patch shows too."""
    if not fr.barcode:
        # Not the programme at all: black, a slate or a still picture of a relay
        # while no input is there. A source of its own, not a damaged frame.
        fr.src, fr.bad = FILLER, None
        return
    ds, cs = min((math.dist(fr.static, P.static_rgb(c)), c) for c in colours)
    static = cs if ds <= BOX_TOL else None
    if fr.k24 is None:
        # No programme time: name the nearest colour at any ramp step, but the frame is
        # corrupt (its barcode mixes two frames or is damaged).
        best = min(
            ((math.dist(fr.box, P.box_rgb(c, s)), c) for c in colours for s in range(len(P.RAMP))),
            default=(None, None),
        )
        fr.src = best[1] if best[0] is not None and best[0] <= BOX_TOL else None
        fr.bad = "corrupt"
        return
    d, c = min((math.dist(fr.box, P.box_rgb(c, fr.k24)), c) for c in colours)
    if d <= BOX_TOL and static == c:
        fr.src, fr.bad = c, None
    else:
        fr.src, fr.bad = None, "mixed"


SHOWINFO = re.compile(
    r"\] \[info\] n:\s*(\d+) pts:\s*(-?\d+) pts_time:(-?[\d.]+).*?iskey:(\d) type:(\w).*?checksum:([0-9A-Fa-f]+)"
)
LOGLEVEL = re.compile(r"\[(error|fatal|panic)\]")


# Our own output muxers complain about non-increasing timestamps: reported apart.
OWN_MUXERS = re.compile(r"^\[(rawvideo|s16le|null) @")


def _errors(path):
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            if LOGLEVEL.search(line) and "Parsed_showinfo" not in line and not OWN_MUXERS.search(line):
                out.append(line.strip())
    return out


def read_video(path, colours):
    """Decodes the first video stream: per-frame timestamps, hashes and samples."""
    frames = []
    with tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False) as log:
        logname = log.name
    try:
        with open(logname, "w") as log:
            proc = subprocess.Popen(
                [ffmpeg(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info",
                 "-copyts", "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough",
                 "-vf", "showinfo,scale=%d:%d,format=rgb24" % (AW, AH), "-f", "rawvideo", "pipe:1"],
                stdout=subprocess.PIPE, stderr=log,
            )
            n = 0
            while True:
                buf = proc.stdout.read(FRAME_BYTES)
                if len(buf) < FRAME_BYTES:
                    break
                fr = Frame(n)
                sample_frame(memoryview(buf), fr)
                classify(fr, colours)
                frames.append(fr)
                n += 1
            proc.stdout.close()
            proc.wait()
        infos = []
        with open(logname, errors="replace") as f:
            for line in f:
                m = SHOWINFO.search(line)
                if m:
                    infos.append(m)
        errors = _errors(logname)
    finally:
        os.unlink(logname)
    for fr, m in zip(frames, infos):
        fr.pts = float(m.group(3)) * 1000.0
        fr.key = m.group(4) == "1"
        fr.ptype = m.group(5)
        fr.checksum = m.group(6)
    frames = [f for f in frames if f.pts is not None]
    return frames, errors


def read_audio(path, origin_ms):
    """Decodes the first audio stream to 8 kHz mono, sample i at origin_ms + i/8 ms:
    timestamp gaps are filled with silence and overlaps trimmed (aresample hard
    compensation above 5 ms)."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate",
         "-of", "csv=p=0", path], capture_output=True, text=True,
    )
    rate_s = probe.stdout.strip().split("\n")[0] if probe.stdout.strip() else ""
    if not rate_s.isdigit():
        return None, [], 0
    rate = int(rate_s)
    first = int(origin_ms * rate / 1000)
    with tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False) as log:
        logname = log.name
    try:
        with open(logname, "w") as log:
            proc = subprocess.run(
                [ffmpeg(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+error",
                 "-copyts", "-i", path, "-map", "0:a:0",
                 "-af", "aresample=%d,aresample=async=1:min_hard_comp=0.005:first_pts=%d,aresample=%d"
                 % (rate, first, AUDIO_RATE), "-ac", "1", "-f", "s16le", "pipe:1"],
                stdout=subprocess.PIPE, stderr=log,
            )
        errors = _errors(logname)
    finally:
        os.unlink(logname)
    samples = array.array("h")
    samples.frombytes(proc.stdout[: len(proc.stdout) // 2 * 2])
    return samples, errors, rate


def find_blips(samples, origin_ms):
    """Onsets (ms) of the 1 kHz blips: the first sample above the threshold after a
    quiet stretch."""
    thr = int(BLIP_THRESHOLD * 32767)
    quiet = int(BLIP_QUIET_MS * AUDIO_RATE / 1000)
    out = []
    last_loud = -quiet - 1
    chunk = 8
    n = len(samples)
    for i in range(0, n, chunk):
        c = samples[i : i + chunk]
        if max(c) < thr and -min(c) < thr:
            continue
        if i - last_loud > quiet:
            for j in range(i, min(i + chunk, n)):
                if abs(samples[j]) >= thr:
                    out.append(origin_ms + j * 1000.0 / AUDIO_RATE)
                    break
        last_loud = i + chunk - 1
    return out


def _tables(freqs):
    hann = [0.5 - 0.5 * math.cos(2 * math.pi * i / (AUDIO_WIN - 1)) for i in range(AUDIO_WIN)]
    norm = sum(hann) / 2.0
    tabs = {}
    for name, f in freqs.items():
        c = [hann[i] * math.cos(2 * math.pi * f * i / AUDIO_RATE) / norm for i in range(AUDIO_WIN)]
        s = [hann[i] * math.sin(2 * math.pi * f * i / AUDIO_RATE) / norm for i in range(AUDIO_WIN)]
        tabs[name] = (c, s)
    return tabs


def audio_sources(samples, origin_ms, colours):
    """Per 10 ms: (centre ms, source colour / "mixed" / None) from the pilot tones."""
    import operator

    tabs = _tables({c: P.PALETTE[c][2] for c in colours})
    nominal = P.PILOT_AMP * 32767
    out = []
    mul = operator.mul
    for i in range(0, len(samples) - AUDIO_WIN + 1, AUDIO_HOP):
        w = samples[i : i + AUDIO_WIN]
        amps = []
        for name, (c, s) in tabs.items():
            re_ = sum(map(mul, w, c))
            im = sum(map(mul, w, s))
            amps.append((math.hypot(re_, im), name))
        amps.sort(reverse=True)
        t = origin_ms + (i + AUDIO_WIN / 2) * 1000.0 / AUDIO_RATE
        if amps[0][0] < PILOT_MIN * nominal:
            out.append((t, None))
        elif len(amps) > 1 and amps[1][0] >= PILOT_MIXED * amps[0][0]:
            out.append((t, "mixed"))
        else:
            out.append((t, amps[0][1]))
    return out


def signed_k(d):
    d %= P.K_MOD
    return d - P.K_MOD if d >= P.K_MOD // 2 else d


def full_k(k24, ref_epoch):
    """The programme frame index (frames since the epoch) nearest to ref_epoch."""
    ref = int(ref_epoch * P.FPS)
    return ref - signed_k(ref - k24)


def programme_clock(k24, ref_epoch):
    """Time of day (UTC) of programme frame k24, resolved near ref_epoch."""
    ms = (full_k(k24, ref_epoch) % (86400 * P.FPS)) * P.FRAME_MS
    return "%02d:%02d:%02d.%03d" % (ms // 3600000, ms // 60000 % 60, ms // 1000 % 60, ms % 1000)


def stretches(items, key):
    """Runs of consecutive items with the same truthy key(item): [(first, last, value)]."""
    out = []
    cur = None
    for it in items:
        v = key(it)
        if v and cur and cur[2] == v:
            cur[1] = it
        elif v:
            cur = [it, it, v]
            out.append(cur)
        else:
            cur = None
    return [tuple(c) for c in out]


def read_arrivals(path, conn):
    """Wall-clock arrival (s) of each video tag of one viewer connection, by FLV ms."""
    out = {}
    with open(path) as f:
        for line in f:
            p = line.strip().split(",")
            if len(p) == 5 and p[0] == str(conn) and p[2] == "v":
                out.setdefault(int(p[3]), float(p[1]))
    return out


def latency(frames, arrivals, ref_epoch):
    """Per good frame: arrival at the viewer minus the frame's programme time (ms), i.e.
    how far behind the programme's wall clock the viewer gets it (encoder, relay,
    nginx and the viewer's own start-up buffering)."""
    out = []
    for f in frames:
        if f.bad or f.k24 is None:
            continue
        wall = arrivals.get(int(round(f.pts)))
        if wall is not None:
            prog_ms = full_k(f.k24, ref_epoch) * P.FRAME_MS
            out.append((f.pts, wall * 1000.0 - prog_ms))
    return out


def analyse(path, colours=None, arrivals=None, conn=1):
    colours = list(colours or sorted(P.PALETTE))
    t_start = time.time()
    if not os.path.isfile(path):
        return {"file": path, "error": "no such recording", "frames": 0}, [], []
    ref_epoch = os.path.getmtime(path)
    frames, verrors = read_video(path, colours)
    res = {"file": path, "colours": colours, "frames": len(frames)}
    if not frames:
        res.update(error="no video frames decoded", decode_errors={"count": len(verrors), "lines": verrors[:20]})
        return res, frames, []
    # Timestamps that do not increase (two frames at one time, or going back).
    res["timestamp_errors"] = [
        {"t": b.pts / 1000.0, "previous": a.pts / 1000.0, "frame": b.n}
        for a, b in zip(frames, frames[1:]) if b.pts <= a.pts
    ]
    deltas = sorted(b.pts - a.pts for a, b in zip(frames, frames[1:]) if b.pts > a.pts)
    interval = deltas[len(deltas) // 2] if deltas else float(P.FRAME_MS)
    res["frame_interval_ms"] = interval
    res["start_ms"] = frames[0].pts
    res["end_ms"] = frames[-1].pts + interval
    res["duration_s"] = (res["end_ms"] - res["start_ms"]) / 1000.0

    # Audio
    origin = max(0.0, frames[0].pts - 2000.0)
    samples, aerrors, arate = read_audio(path, origin)
    errors = verrors + aerrors
    res["decode_errors"] = {"count": len(errors), "lines": errors[:20]}
    blips = find_blips(samples, origin) if samples else []
    awin = audio_sources(samples, origin, colours) if samples else []
    res["audio_rate"] = arate

    # Sources and switches (video)
    counts = {}
    for f in frames:
        if f.src and not f.bad:
            counts[f.src] = counts.get(f.src, 0) + 1
    res["video_sources"] = counts
    bad = [f for f in frames if f.bad]
    res["bad_frames"] = {
        "count": len(bad),
        "mixed": sum(1 for f in bad if f.bad == "mixed"),
        "corrupt": sum(1 for f in bad if f.bad == "corrupt"),
        "stretches": [
            {"t": a.pts / 1000.0, "frames": b.n - a.n + 1, "kind": v, "first_frame": a.n}
            for a, b, v in stretches(frames, lambda f: f.bad)
        ],
    }
    switches = []
    last = None
    for f in frames:
        if f.bad or not f.src:
            continue
        if last is not None and f.src != last.src:
            switches.append(
                {"t": f.pts / 1000.0, "frame": f.n, "from": last.src, "to": f.src, "keyframe": f.key,
                 "last_old_t": last.pts / 1000.0, "bad_frames_between": f.n - last.n - 1,
                 "programme_time": programme_clock(f.k24, ref_epoch) if f.k24 is not None else None}
            )
        last = f

    # Frozen video: the displayed picture stands still longer than one frame interval
    # (identical decoded frames, the same programme frame of the same encoder again, or
    # a timestamp hole). The same programme frame from the other encoder is no freeze
    # but a repeat of programme time (a negative clock jump).
    # The programme frame number of a mixed or corrupt frame is not trusted.
    changes = [frames[0]]
    for a, b in zip(frames, frames[1:]):
        same = a.checksum == b.checksum or (
            not a.bad and not b.bad and a.src == b.src and a.k24 is not None and a.k24 == b.k24
        )
        if not same:
            changes.append(b)
    freezes = []
    for a, b in zip(changes, changes[1:]):
        still = b.pts - a.pts
        frozen = still - interval
        if frozen > interval / 2:
            freezes.append(
                {"t": a.pts / 1000.0, "end": b.pts / 1000.0, "ms": round(frozen, 1),
                 "frames": int(round(frozen / interval)), "first_frame": a.n}
            )
    res["freezes"] = freezes

    # Programme clock: between two pictures, programme time must advance as much as
    # the timestamps do. Positive jump: programme time skipped; negative: repeated.
    valid = [f for f in changes if f.k24 is not None and not f.bad]
    jumps = []
    clock = []
    base = None
    for a, b in zip(valid, valid[1:]):
        j = signed_k(b.k24 - a.k24) * P.FRAME_MS - (b.pts - a.pts)
        if abs(j) >= JUMP_MIN_MS:
            jumps.append({"t": b.pts / 1000.0, "ms": round(j, 1), "frame": b.n})
    for f in valid:
        d = f.k24 * P.FRAME_MS - f.pts
        if base is None:
            base = d
        clock.append((f.pts, signed_k(int(round((d - base) / P.FRAME_MS))) * P.FRAME_MS))
    res["programme_jumps"] = jumps

    # A/V offset at each marker: blip onset minus white frame time. Around a switch
    # both encoders' blips of one programme second can be in the recording: a white
    # frame is matched with a blip of its own encoder where there is one.
    hop = AUDIO_HOP * 1000.0 / AUDIO_RATE

    def audio_at(t):
        if not awin:
            return None
        i = int(round((t - awin[0][0]) / hop))
        return awin[i][1] if 0 <= i < len(awin) else None

    blip_src = [audio_at(b + 25.0) for b in blips]
    markers = []
    for f in frames:
        if f.white and not f.bad and f.k24 is not None and f.k24 % P.MARKER_EVERY == 0:
            near = [(b, s) for b, s in zip(blips, blip_src) if abs(b - f.pts) <= MARKER_MATCH_MS]
            own = [x for x in near if x[1] == f.src]
            if near:
                b = min(own or near, key=lambda x: abs(x[0] - f.pts))[0]
                markers.append({"t": f.pts / 1000.0, "audio_t": round(b / 1000.0, 4), "offset_ms": round(b - f.pts, 1)})
            else:
                markers.append({"t": f.pts / 1000.0, "audio_t": None, "offset_ms": None})
    res["markers"] = markers
    offs = [m["offset_ms"] for m in markers if m["offset_ms"] is not None]
    res["av_offset_ms"] = (
        {"min": min(offs), "max": max(offs), "median": sorted(offs)[len(offs) // 2], "count": len(offs),
         "unmatched": len(markers) - len(offs)} if offs else None
    )
    intervals = [round(b - a, 1) for a, b in zip(blips, blips[1:])]
    res["audio_blips"] = len(blips)
    # Blips come whole programme seconds apart: an interval short of that means
    # programme time was skipped (positive, as for video), a longer one that it was
    # repeated (two blips 40 ms apart: one programme second heard twice, -40 ms).
    # Unambiguous up to +-500 ms.
    res["audio_jumps"] = []
    for b, iv in zip(blips[1:], intervals):
        j = round(iv / 1000.0) * 1000.0 - iv
        if abs(j) > 10:
            res["audio_jumps"].append({"t": round(b / 1000.0, 4), "interval_ms": iv, "ms": round(j, 1)})

    # Audio sources, switches and gaps
    a_counts = {}
    for t, s in awin:
        if s:
            a_counts[s] = a_counts.get(s, 0) + 1
    res["audio_sources_ms"] = {k: v * AUDIO_HOP * 1000 // AUDIO_RATE for k, v in a_counts.items()}
    first_src = next((i for i, (_, s) in enumerate(awin) if s), None)
    last_src = max((i for i, (_, s) in enumerate(awin) if s), default=None)
    audio_switches, gaps = [], []
    if first_src is not None:
        inner = awin[first_src : last_src + 1]
        prev = None
        for t, s in inner:
            if s in (None, "mixed"):
                continue
            if prev and s != prev[1]:
                audio_switches.append({"t": round((prev[0] + t) / 2000.0, 4), "from": prev[1], "to": s})
            prev = (t, s)
        for a, b, v in stretches(inner, lambda w: "gap" if w[1] is None else None):
            ms = b[0] - a[0] + AUDIO_HOP * 1000.0 / AUDIO_RATE
            if ms >= 30:
                gaps.append({"t": round(a[0] / 1000.0, 4), "ms": round(ms, 1)})
    res["audio_switches"] = audio_switches
    res["audio_gaps"] = gaps

    # A/V from different encoders: video frames whose audio (same time) is another source.
    mism = []
    for f in frames:
        a = audio_at(f.pts)
        mism.append((f, f.src if (f.src in colours and not f.bad and a in colours and a != f.src) else None, a))
    mstretches = [
        {"t": a[0].pts / 1000.0, "ms": round(b[0].pts - a[0].pts + interval, 1), "video": v, "audio": a[2]}
        for a, b, v in stretches(mism, lambda m: m[1])
    ]
    res["av_mismatch"] = {"total_ms": round(sum(s["ms"] for s in mstretches), 1), "stretches": mstretches}

    # Per switch: what happened around it.
    for s in switches:
        lo, hi = s["last_old_t"] * 1000.0, s["t"] * 1000.0
        s["freeze_ms"] = round(
            sum(z["ms"] for z in freezes if z["end"] * 1000.0 >= lo - 1 and z["t"] * 1000.0 <= hi + 2 * interval), 1
        )
        s["programme_jump_ms"] = round(sum(j["ms"] for j in jumps if lo - 1 <= j["t"] * 1000.0 <= hi + 2 * interval), 1)
        before = [m for m in markers if m["t"] * 1000.0 < lo and m["offset_ms"] is not None]
        after = [m for m in markers if m["t"] * 1000.0 >= hi and m["offset_ms"] is not None]
        s["av_offset_before_ms"] = before[-1]["offset_ms"] if before else None
        s["av_offset_after_ms"] = after[0]["offset_ms"] if after else None
        aud = [a for a in audio_switches if a["from"] == s["from"] and a["to"] == s["to"] and abs(a["t"] - s["t"]) < 3.0]
        if aud:
            a = min(aud, key=lambda a: abs(a["t"] - s["t"]))
            s["audio_switch_t"] = a["t"]
            s["audio_minus_video_ms"] = round((a["t"] - s["t"]) * 1000.0, 1)
        else:
            s["audio_switch_t"] = None
            s["audio_minus_video_ms"] = None
        s["av_mismatch_ms"] = round(
            sum(m["ms"] for m in mstretches if lo - 3000 <= m["t"] * 1000.0 <= hi + 3000), 1
        )
    res["switches"] = switches
    lat = []
    if arrivals and os.path.exists(arrivals):
        lat = latency(frames, read_arrivals(arrivals, conn), ref_epoch)
    if lat:
        vals = sorted(v for _, v in lat)
        res["latency_ms"] = {"min": round(vals[0]), "median": round(vals[len(vals) // 2]),
                             "max": round(vals[-1]), "frames": len(vals)}
        for s in switches:
            before = [v for t, v in lat if t < s["last_old_t"] * 1000.0]
            after = [v for t, v in lat if t >= s["t"] * 1000.0]
            s["latency_before_ms"] = round(before[-1]) if before else None
            s["latency_after_ms"] = round(after[0]) if after else None
    else:
        res["latency_ms"] = None
    res["analysis_s"] = round(time.time() - t_start, 2)
    series = {
        "video": [(f.pts, f.src if not f.bad else "bad") for f in frames],
        "audio": awin,
        "clock": clock,
        "latency": lat,
    }
    return res, frames, series

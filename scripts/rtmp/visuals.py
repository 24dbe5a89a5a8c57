# SPDX-License-Identifier: MPL-2.0
"""Pictures of an analysed recording: the contact sheet (frames around each switch)
and the timeline plot (gnuplot, in the style of scripts/icecast/report.py)."""
import os
import shutil
import subprocess

import programme as P

COLS = 8
THUMB_W, THUMB_H = 240, 135


def _row(frames, sw):
    """Eight frame indices around one switch: the old source's last good frames, the
    first bad frames in between (if any), then the new source."""
    n = len(frames)
    last_old = sw["frame"] - sw["bad_frames_between"] - 1
    idx = [i for i in range(last_old - 2, last_old + 1) if 0 <= i < n]
    idx += [i for i in range(last_old + 1, min(sw["frame"], last_old + 3))]
    i = sw["frame"]
    while len(idx) < COLS and i < n:
        idx.append(i)
        i += 1
    return idx


def contact_sheet(path, frames, res, png):
    """A PNG of the frames around each switch (one row per switch), each labelled with
    its timestamp and what the analysis saw; the first frame of the new source has a
    yellow frame, mixed/corrupt frames a magenta one."""
    switches = res.get("switches", [])
    if not switches:
        return None
    rows = []
    for sw in switches:
        rows.append(_row(frames, sw))
    sel = sorted({i for r in rows for i in r})
    first = {sw["frame"] for sw in switches}
    f_esc = P.FONT
    filters = ["select='%s'" % "+".join("eq(n,%d)" % i for i in sel),
               "scale=%d:%d" % (THUMB_W, THUMB_H)]
    for out_n, i in enumerate(sel):
        fr = frames[i]
        what = fr.bad or fr.src or "?"
        label = "%.3fs %s%s" % (fr.pts / 1000.0, what, " key" if fr.key else "")
        filters.append(
            "drawtext=fontfile=%s:text='%s':fontsize=15:fontcolor=white:box=1:boxcolor=black@0.7:"
            "x=4:y=h-th-4:enable='eq(n,%d)'" % (f_esc, label, out_n)
        )
        if i in first or fr.bad:
            filters.append(
                "drawbox=x=0:y=0:w=iw:h=ih:color=%s:t=5:enable='eq(n,%d)'"
                % ("yellow" if i in first else "magenta", out_n)
            )
    nrows = (len(sel) + COLS - 1) // COLS
    filters.append("tile=%dx%d:padding=4:margin=4:color=0x202020" % (COLS, nrows))
    title = "  ".join(
        "#%d %.3fs %s->%s" % (k + 1, sw["t"], sw["from"], sw["to"]) for k, sw in enumerate(switches[:6])
    )
    filters.append("pad=iw:ih+34:0:34:color=0x202020")
    filters.append(
        "drawtext=fontfile=%s:text='%s':fontsize=18:fontcolor=white:x=8:y=8"
        % (f_esc, ("switches: " + title).replace(":", "\\:"))
    )
    r = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-copyts", "-i", path,
         "-map", "0:v:0", "-fps_mode", "passthrough", "-vf", ",".join(filters), "-frames:v", "1", png],
        capture_output=True, text=True,
    )
    if r.returncode != 0 or not os.path.exists(png):
        return "contact sheet failed: %s" % r.stderr.strip()[:500]
    return None


def plot(res, series, png):
    gp = shutil.which("gnuplot")
    if not gp:
        return "gnuplot not found: no PNG (install gnuplot-nox)"
    used = {s for _, s in series["video"]} | {s for _, s in series["audio"]}
    colours = [c for c in res["colours"] if c in used]
    ypos = {c: i + 1 for i, c in enumerate(colours)}
    base = os.path.splitext(png)[0]
    t0 = res["start_ms"]
    vdat, adat, cdat, zdat, mdat, ldat = (
        base + s for s in (".video.dat", ".audio.dat", ".clock.dat", ".freeze.dat", ".markers.dat", ".latency.dat")
    )
    with open(ldat, "w") as f:
        for t, v in series.get("latency", []):
            f.write("%.3f %.1f\n" % ((t - t0) / 1000.0, v))
    has_lat = os.path.getsize(ldat) > 0
    with open(vdat, "w") as f:
        for t, s in series["video"]:
            f.write("%.3f %s\n" % ((t - t0) / 1000.0, ypos.get(s, 0)))
    with open(adat, "w") as f:
        for t, s in series["audio"]:
            y = ypos.get(s, 0 if s == "mixed" else "NaN")
            f.write("%.3f %s\n" % ((t - t0) / 1000.0, y if y == "NaN" else y + 0.15))
    with open(cdat, "w") as f:
        for t, d in series["clock"]:
            f.write("%.3f %.1f\n" % ((t - t0) / 1000.0, d))
    with open(zdat, "w") as f:
        for z in res["freezes"]:
            f.write("%.3f %.1f\n" % (z["t"] - t0 / 1000.0, z["ms"]))
    with open(mdat, "w") as f:
        for m in res["markers"]:
            if m["offset_ms"] is not None:
                f.write("%.3f %.1f\n" % (m["t"] - t0 / 1000.0, m["offset_ms"]))
    marks = []
    for i, s in enumerate(res.get("switches", [])):
        x = s["t"] - t0 / 1000.0
        marks.append("set arrow %d from %.3f, graph 0 to %.3f, graph 1 nohead dt 2 lc rgb '#888888'" % (i + 1, x, x))
    ytics = ", ".join(["'bad' 0"] + ["'%s' %d" % (c, i) for c, i in ypos.items()])
    empty_z = os.path.getsize(zdat) == 0
    empty_m = os.path.getsize(mdat) == 0
    script = """
set terminal pngcairo size 1200,%(height)d font ',10'
set output '%(png)s'
set multiplot layout %(panels)d,1 title 'video recording timeline: %(name)s'
set grid
set xlabel 'recording time (s)'
set xrange [0:%(xmax).3f]
%(marks)s
set ylabel 'source'
set yrange [-0.5:%(ymax)d.5]
set ytics (%(ytics)s)
plot '%(v)s' using 1:2 with points pt 7 ps 0.4 title 'video frame (box colour)', \\
     '%(a)s' using 1:2 with points pt 5 ps 0.2 title 'audio (pilot tone, +0.15)'
set ytics auto
set yrange [*:*]
set ylabel 'ms'
plot '%(c)s' using 1:2 with steps lw 2 title 'programme clock minus timestamps (0 = continuous)'%(zplot)s
set ylabel 'A/V offset (ms, audio late > 0)'
set yrange [-100:160]
plot %(mplot)s 40 with lines dt 2 lc rgb '#aa3333' title '+1 frame', -40 with lines dt 2 lc rgb '#aa3333' title '-1 frame'
%(lplot)s
unset multiplot
""" % {
        "png": png, "name": os.path.basename(res["file"]).replace("_", "\\\\_"), "marks": "\n".join(marks),
        "ymax": len(colours), "xmax": (res["end_ms"] - t0) / 1000.0, "ytics": ytics, "v": vdat, "a": adat, "c": cdat,
        "zplot": "" if empty_z else ", \\\n     '%s' using 1:2 with impulses lw 3 title 'frozen video (ms)'" % zdat,
        "panels": 4 if has_lat else 3, "height": 1200 if has_lat else 900,
        "lplot": "set ylabel 'latency (ms)'\nset yrange [*:*]\nplot '%s' using 1:2 with lines lw 2 "
        "title 'viewer arrival minus programme time'" % ldat if has_lat else "",
        "mplot": "" if empty_m else "'%s' using 1:2 with linespoints pt 7 title 'blip minus white frame'," % mdat,
    }
    r = subprocess.run([gp], input=script, text=True, capture_output=True)
    for p in (vdat, adat, cdat, zdat, mdat, ldat):
        os.unlink(p)
    if r.returncode != 0:
        return "gnuplot failed: %s" % r.stderr.strip()[:500]
    return None

#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""Analyses a recording of the video test programme (see programme.py and
docs/video-testing.md) and checks expectations on it.

  analyze.py report REC.flv [--json OUT.json] [--contact SHEET.png] [--plot PLOT.png]
                            [--colours red,blue] [--arrivals NAME-arrivals.csv [--conn N]]
                            [--quiet]
  analyze.py check REC.flv|OUT.json [--switches red>blue,...|none] [--switch-at MS,...]
                   [--switch-tol-ms 80] [--keyframe-switches] [--max-bad-frames 0]
                   [--max-freeze-ms MS] [--switch-freeze-ms MS,...] [--max-prog-jump-ms MS]
                   [--max-av-offset-ms MS] [--min-markers N] [--max-decode-errors 0] [--max-ts-errors 0]
                   [--max-av-mismatch-ms MS] [--max-audio-gap-ms MS] [--min-duration S]
                   [--max-latency-ms MS]
                   [--viewer VIEWER.txt]
`check` prints one line per failed expectation and exits 1 if any failed. Times (MS)
are the recording's timestamps in ms.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import analysis  # noqa: E402
import visuals  # noqa: E402


def fmt_ms(v, signed=True):
    if v is None:
        return "n/a"
    return ("%+.1f ms" if signed else "%.1f ms") % v


def summary(res):
    out = []
    out.append("== video analysis: %s ==" % res["file"])
    if res.get("error"):
        out.append("ERROR: %s" % res["error"])
        return "\n".join(out)
    out.append(
        "%.2f s (%.3f .. %.3f s), %d frames, %.1f ms/frame; decoder errors: %d"
        % (res["duration_s"], res["start_ms"] / 1000, res["end_ms"] / 1000, res["frames"],
           res["frame_interval_ms"], res["decode_errors"]["count"])
    )
    for line in res["decode_errors"]["lines"][:5]:
        out.append("  %s" % line)
    if res["timestamp_errors"]:
        out.append("video timestamps not increasing: %d frame(s), first at %.3f s" % (
            len(res["timestamp_errors"]), res["timestamp_errors"][0]["t"]))
    out.append("video sources: %s" % (", ".join("%s %d frames" % kv for kv in sorted(res["video_sources"].items())) or "none"))
    sw = res["switches"]
    out.append("switches: %d" % len(sw))
    for i, s in enumerate(sw):
        out.append(
            "  #%d %8.3f s  %s -> %s%s  programme %s  bad frames before %d  freeze %s  clock jump %s"
            % (i + 1, s["t"], s["from"], s["to"], " (keyframe)" if s["keyframe"] else " (NOT a keyframe)",
               s["programme_time"] or "-", s["bad_frames_between"], fmt_ms(s["freeze_ms"], False),
               fmt_ms(s["programme_jump_ms"]))
        )
        out.append(
            "      A/V offset before %s after %s; audio switched %s%s"
            % (fmt_ms(s["av_offset_before_ms"]), fmt_ms(s["av_offset_after_ms"]),
               "at %.3f s (%s vs video)" % (s["audio_switch_t"], fmt_ms(s["audio_minus_video_ms"]))
               if s["audio_switch_t"] is not None else "not found near it",
               "; A/V from different encoders for %s" % fmt_ms(s["av_mismatch_ms"], False) if s["av_mismatch_ms"] else "")
        )
    b = res["bad_frames"]
    out.append("mixed/corrupt frames: %d (mixed %d, corrupt %d)" % (b["count"], b["mixed"], b["corrupt"]))
    for s in b["stretches"][:10]:
        out.append("  %8.3f s  %d %s frame(s) from frame %d" % (s["t"], s["frames"], s["kind"], s["first_frame"]))
    out.append("frozen video: %s" % ("none" if not res["freezes"] else "%d stretch(es), longest %.1f ms" % (
        len(res["freezes"]), max(z["ms"] for z in res["freezes"]))))
    for z in res["freezes"][:10]:
        out.append("  %8.3f s  picture stood %.1f ms too long (%d frame(s))" % (z["t"], z["ms"], z["frames"]))
    out.append("programme clock jumps: %s" % ("none" if not res["programme_jumps"] else len(res["programme_jumps"])))
    for j in res["programme_jumps"][:10]:
        out.append("  %8.3f s  %s (%s)" % (j["t"], fmt_ms(j["ms"]), "skipped" if j["ms"] > 0 else "repeated"))
    a = res["av_offset_ms"]
    if a:
        out.append(
            "A/V offset at %d markers (audio late > 0): min %s, median %s, max %s; %d white frame(s) without a blip"
            % (a["count"], fmt_ms(a["min"]), fmt_ms(a["median"]), fmt_ms(a["max"]), a["unmatched"])
        )
    else:
        out.append("A/V offset: no marker with a blip found (%d white frames, %d blips)" % (len(res["markers"]), res["audio_blips"]))
    out.append(
        "audio: %s; switches %s; gaps %s; blip interval jumps %s"
        % (", ".join("%s %.1f s" % (k, v / 1000) for k, v in sorted(res["audio_sources_ms"].items())) or "no pilot",
           ", ".join("%.3f s %s->%s" % (s["t"], s["from"], s["to"]) for s in res["audio_switches"]) or "none",
           ", ".join("%.3f s %.0f ms" % (g["t"], g["ms"]) for g in res["audio_gaps"]) or "none",
           ", ".join("%.3f s %s" % (j["t"], fmt_ms(j["ms"])) for j in res["audio_jumps"]) or "none")
    )
    lat = res.get("latency_ms")
    if lat:
        out.append("latency behind the programme clock (viewer arrival): min %d ms, median %d ms, max %d ms" % (
            lat["min"], lat["median"], lat["max"]))
        for i, s in enumerate(sw):
            out.append("  at switch #%d: %s ms before, %s ms after" % (i + 1, s.get("latency_before_ms"), s.get("latency_after_ms")))
    m = res["av_mismatch"]
    out.append("A/V from different encoders: %s" % fmt_ms(m["total_ms"], False))
    out.append("(analysis took %.1f s)" % res["analysis_s"])
    return "\n".join(out)


def cmd_report(a):
    colours = a.colours.split(",") if a.colours else None
    res, frames, series = analysis.analyse(a.rec, colours, a.arrivals, a.conn)
    notes = []
    if a.contact and res.get("frames"):
        err = visuals.contact_sheet(a.rec, frames, res, a.contact)
        if err:
            notes.append(err)
        elif res["switches"]:
            res["contact_sheet"] = a.contact
    if a.plot and res.get("frames"):
        err = visuals.plot(res, series, a.plot)
        if err:
            notes.append(err)
        else:
            res["plot"] = a.plot
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if not a.quiet:
        print(summary(res))
        for k in ("contact_sheet", "plot"):
            if res.get(k):
                print("%s: %s" % (k.replace("_", " "), res[k]))
    for n in notes:
        print(n, file=sys.stderr)
    return 1 if res.get("error") else 0


def read_kv(path):
    out = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                out[k] = v
    return out


def ints(s):
    return [None if x in ("", "x", "-") else float(x) for x in s.split(",")] if s else None


def cmd_check(a):
    if a.rec.endswith(".json"):
        with open(a.rec) as f:
            res = json.load(f)
    else:
        res, _, _ = analysis.analyse(a.rec, a.colours.split(",") if a.colours else None)
    fails = []
    if res.get("error"):
        fails.append(res["error"])
        res.setdefault("switches", [])
    sw = res.get("switches", [])
    if not res.get("error"):
        if res["decode_errors"]["count"] > a.max_decode_errors:
            fails.append("%d decoder error(s), e.g. %s" % (res["decode_errors"]["count"], res["decode_errors"]["lines"][:1]))
        if len(res["timestamp_errors"]) > a.max_ts_errors:
            fails.append("%d video frame(s) with a timestamp not after the previous one (first at %.3f s)" % (
                len(res["timestamp_errors"]), res["timestamp_errors"][0]["t"]))
        if res["bad_frames"]["count"] > a.max_bad_frames:
            st = res["bad_frames"]["stretches"]
            fails.append("%d mixed/corrupt frame(s) (first at %.3f s)" % (res["bad_frames"]["count"], st[0]["t"]))
        if a.min_duration is not None and res["duration_s"] < a.min_duration:
            fails.append("recording is %.2f s, expected at least %.2f s" % (res["duration_s"], a.min_duration))
        if a.max_freeze_ms is not None:
            for z in res["freezes"]:
                if z["ms"] > a.max_freeze_ms:
                    fails.append("video froze %.1f ms at %.3f s (limit %.0f ms)" % (z["ms"], z["t"], a.max_freeze_ms))
        if a.max_prog_jump_ms is not None:
            for j in res["programme_jumps"]:
                if abs(j["ms"]) > a.max_prog_jump_ms:
                    fails.append("programme clock jumped %+.1f ms at %.3f s (limit %.0f ms)" % (j["ms"], j["t"], a.max_prog_jump_ms))
        if a.max_av_offset_ms is not None:
            for m in res["markers"]:
                if m["offset_ms"] is not None and abs(m["offset_ms"]) > a.max_av_offset_ms:
                    fails.append("A/V offset %+.1f ms at %.3f s (limit %.0f ms)" % (m["offset_ms"], m["t"], a.max_av_offset_ms))
        matched = res["av_offset_ms"]["count"] if res["av_offset_ms"] else 0
        if a.min_markers is not None and matched < a.min_markers:
            fails.append("only %d marker(s) with a blip, expected at least %d" % (matched, a.min_markers))
        if a.max_av_mismatch_ms is not None and res["av_mismatch"]["total_ms"] > a.max_av_mismatch_ms:
            fails.append("audio and video from different encoders for %.1f ms (limit %.0f ms)" % (
                res["av_mismatch"]["total_ms"], a.max_av_mismatch_ms))
        lat = res.get("latency_ms")
        if a.max_latency_ms is not None:
            if not lat:
                fails.append("no latency measured (report with --arrivals)")
            elif lat["median"] > a.max_latency_ms or lat["min"] < -a.frame_slack_ms:
                fails.append("latency min %d / median %d ms, expected 0..%.0f ms" % (lat["min"], lat["median"], a.max_latency_ms))
        if a.max_audio_gap_ms is not None:
            for g in res["audio_gaps"]:
                if g["ms"] > a.max_audio_gap_ms:
                    fails.append("audio gap %.0f ms at %.3f s (limit %.0f ms)" % (g["ms"], g["t"], a.max_audio_gap_ms))
    if a.switches is not None:
        want = [] if a.switches == "none" else [w.split(">") for w in a.switches.split(",") if w]
        got = [[s["from"], s["to"]] for s in sw]
        if want != got:
            fails.append("switches %s, expected %s" % (
                ",".join(">".join(g) for g in got) or "none", ",".join(">".join(w) for w in want) or "none"))
    if a.switch_at:
        for i, t in enumerate(ints(a.switch_at)):
            if t is None:
                continue
            if i >= len(sw):
                fails.append("no switch #%d (expected at %.0f ms)" % (i + 1, t))
            elif abs(sw[i]["t"] * 1000 - t) > a.switch_tol_ms:
                fails.append("switch #%d at %.0f ms, expected %.0f ms +- %.0f" % (i + 1, sw[i]["t"] * 1000, t, a.switch_tol_ms))
    if a.keyframe_switches:
        for i, s in enumerate(sw):
            if not s["keyframe"]:
                fails.append("switch #%d at %.3f s is not on a keyframe" % (i + 1, s["t"]))
    if a.switch_freeze_ms:
        for i, lim in enumerate(ints(a.switch_freeze_ms)):
            if lim is not None and i < len(sw) and sw[i]["freeze_ms"] > lim:
                fails.append("switch #%d froze video %.1f ms (limit %.0f ms)" % (i + 1, sw[i]["freeze_ms"], lim))
    if a.viewer:
        v = read_kv(a.viewer) if os.path.exists(a.viewer) else {}
        if v.get("connected") != "true":
            fails.append("viewer never connected (%s)" % a.viewer)
        if v.get("disconnects", "1") != "0":
            fails.append("viewer was disconnected %s time(s)" % v.get("disconnects", "?"))
    for f in fails:
        print("FAIL: %s" % f)
    if not fails:
        print("ok: %s: %d frames, switches %s, %d bad frames, %d freezes (longest %.0f ms), A/V offset %s, %d decoder errors" % (
            os.path.basename(res["file"]), res.get("frames", 0),
            ",".join("%s>%s@%.3f" % (s["from"], s["to"], s["t"]) for s in sw) or "none",
            res["bad_frames"]["count"], len(res["freezes"]), max([z["ms"] for z in res["freezes"]] or [0]),
            "%+.1f..%+.1f ms" % (res["av_offset_ms"]["min"], res["av_offset_ms"]["max"]) if res["av_offset_ms"] else "n/a",
            res["decode_errors"]["count"]))
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report")
    r.add_argument("rec")
    r.add_argument("--json")
    r.add_argument("--contact")
    r.add_argument("--plot")
    r.add_argument("--colours")
    r.add_argument("--quiet", action="store_true")
    r.add_argument("--arrivals", help="the viewer's NAME-arrivals.csv: adds the latency")
    r.add_argument("--conn", type=int, default=1, help="which connection REC is (1: NAME.flv)")
    c = sub.add_parser("check")
    c.add_argument("rec")
    c.add_argument("--colours")
    c.add_argument("--switches")
    c.add_argument("--switch-at")
    c.add_argument("--switch-tol-ms", type=float, default=80.0)
    c.add_argument("--keyframe-switches", action="store_true")
    c.add_argument("--max-bad-frames", type=int, default=0)
    c.add_argument("--max-freeze-ms", type=float)
    c.add_argument("--switch-freeze-ms")
    c.add_argument("--max-prog-jump-ms", type=float)
    c.add_argument("--max-av-offset-ms", type=float)
    c.add_argument("--min-markers", type=int)
    c.add_argument("--max-decode-errors", type=int, default=0)
    c.add_argument("--max-ts-errors", type=int, default=0)
    c.add_argument("--max-av-mismatch-ms", type=float)
    c.add_argument("--max-audio-gap-ms", type=float)
    c.add_argument("--max-latency-ms", type=float, help="median latency limit (needs --arrivals at report)")
    c.add_argument("--frame-slack-ms", type=float, default=40.0, help=argparse.SUPPRESS)
    c.add_argument("--min-duration", type=float)
    c.add_argument("--viewer")
    a = ap.parse_args()
    return cmd_report(a) if a.cmd == "report" else cmd_check(a)


if __name__ == "__main__":
    sys.exit(main())

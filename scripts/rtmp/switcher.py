#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""A reference switch for testing the video tools (not the product, and not
failoverswitch): reads two RTMP streams, publishes the first to an output URL
through input-selector + flvmux, and switches audio and video once to the second,
at the second's first keyframe after --switch-after seconds of wall-clock time.

The second stream's timestamps are rebased so that its keyframe follows the first
stream's last frame (each publisher has its own timestamps), so the output has no
overlap and no hole. Prints (and appends to --log) the switch as
`switch video_ms=V audio_ms=A` in output FLV timestamps: what a viewer recording
with -copyts shows, so a test knows exactly where the switch must be found.

  switcher.py --primary URL --secondary URL --output URL --switch-after 6 [--log FILE]

Runs until an input ends, an error, or SIGINT/SIGTERM.
"""
import argparse
import signal
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

Q = "queue max-size-time=4000000000 max-size-bytes=0 max-size-buffers=0"
PIPELINE = """
flvmux name=mux streamable=true ! rtmp2sink location="{output}"
input-selector name=vsel sync-streams=false ! queue ! mux.video
input-selector name=asel sync-streams=false ! queue ! mux.audio
rtmp2src location="{primary}" ! flvdemux name=d0
d0.video ! {q} ! h264parse ! vsel.sink_0
d0.audio ! {q} ! aacparse ! asel.sink_0
rtmp2src location="{secondary}" ! flvdemux name=d1
d1.video ! {q} ! h264parse ! identity name=v1 ! vsel.sink_1
d1.audio ! {q} ! aacparse ! identity name=a1 ! asel.sink_1
"""
FRAME = 40 * Gst.MSECOND


class Switcher:
    """The decision is taken in the second stream's video thread on a keyframe (its
    running time shifted from then on by a pad offset); the first stream's
    threads carry out the switch when they reach that time (so nothing of theirs is
    in flight) and drop everything after it; the second stream's buffers wait until
    then. input-selector runs with sync-streams=false: inactive pads drop at once."""

    def __init__(self, a):
        self.a = a
        self.pipe = Gst.parse_launch(
            PIPELINE.format(primary=a.primary, secondary=a.secondary, output=a.output, q=Q)
        )
        self.cv = threading.Condition()
        self.t_switch = time.monotonic() + a.switch_after
        self.k = None  # switch running time
        self.offset = 0  # added to the second stream's running time
        self.last = {"video": 0, "audio": 0}  # the first stream's latest end time
        self.switched = {"video": False, "audio": False}
        self.stopping = False
        self.sel = {"video": self.pipe.get_by_name("vsel"), "audio": self.pipe.get_by_name("asel")}
        self.ident = {"video": self.pipe.get_by_name("v1"), "audio": self.pipe.get_by_name("a1")}
        for kind, sel in self.sel.items():
            sel.set_property("active-pad", sel.get_static_pad("sink_0"))
            sel.get_static_pad("sink_0").add_probe(Gst.PadProbeType.BUFFER, self.on_first, kind)
            sel.get_static_pad("sink_1").add_probe(Gst.PadProbeType.BUFFER, self.on_second, kind)
        self.ident["video"].get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self.on_decide)
        # Locating the switch in the output.
        mux = self.pipe.get_by_name("mux")
        self.count_in = {"video": 0, "audio": 0}
        self.count_out = {"video": 0, "audio": 0}
        self.mark = {"video": None, "audio": None}
        self.first_in = {"video": None, "audio": None}
        self.out_ts = {"video": None, "audio": None}
        self.stream = bytearray()
        self.header_done = False
        self.reported = False
        for p in mux.sinkpads:
            p.add_probe(Gst.PadProbeType.BUFFER, self.on_mux_input, p.get_pad_template().name_template)
        mux.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self.on_output)
        self.loop = GLib.MainLoop()
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_message)

    def note(self, text):
        print(text, flush=True)
        if self.a.log:
            with open(self.a.log, "a") as f:
                f.write(text + "\n")

    @staticmethod
    def end(buf):
        return buf.pts + (buf.duration if buf.duration != Gst.CLOCK_TIME_NONE else 0)

    def on_decide(self, pad, info):
        buf = info.get_buffer()
        with self.cv:
            if self.k is not None or buf.pts == Gst.CLOCK_TIME_NONE:
                return Gst.PadProbeReturn.OK
            if buf.has_flags(Gst.BufferFlags.DELTA_UNIT) or time.monotonic() < self.t_switch:
                return Gst.PadProbeReturn.OK
            # This keyframe goes out one frame after the first stream's latest frame.
            self.k = self.last["video"] + FRAME
            # Shift the second stream's running time (pad offsets; flvmux muxes running
            # time): this keyframe lands at K.
            offset = self.k - buf.pts
            self.offset = offset
            for ident in self.ident.values():
                ident.get_static_pad("src").set_offset(offset)
            self.cv.notify_all()
        return Gst.PadProbeReturn.OK

    def on_first(self, pad, info, kind):
        buf = info.get_buffer()
        if buf.pts == Gst.CLOCK_TIME_NONE:
            return Gst.PadProbeReturn.OK
        with self.cv:
            if self.switched[kind]:
                return Gst.PadProbeReturn.DROP
            if self.k is None or (buf.pts < self.k if kind == "video" else self.end(buf) <= self.k):
                self.last[kind] = max(self.last[kind], buf.pts if kind == "video" else self.end(buf))
                return Gst.PadProbeReturn.OK
            # Reached the switch: nothing of this stream is in flight any more.
            self.sel[kind].set_property("active-pad", self.sel[kind].get_static_pad("sink_1"))
            self.switched[kind] = True
            self.cv.notify_all()
        return Gst.PadProbeReturn.DROP

    def on_second(self, pad, info, kind):
        buf = info.get_buffer()
        if buf.pts == Gst.CLOCK_TIME_NONE:
            return Gst.PadProbeReturn.OK
        with self.cv:
            if self.switched[kind] or self.k is None:
                return Gst.PadProbeReturn.OK  # active, or inactive (dropped)
            if kind == "video" and buf.pts + self.offset < self.k:
                return Gst.PadProbeReturn.OK
            if kind == "audio" and self.end(buf) + self.offset <= self.k:
                return Gst.PadProbeReturn.OK
            # Wait for the first stream to reach the switch; if it has stopped, switch
            # after a second anyway.
            if not self.cv.wait_for(lambda: self.switched[kind] or self.stopping, timeout=1.0):
                self.sel[kind].set_property("active-pad", pad)
                self.switched[kind] = True
        return Gst.PadProbeReturn.OK

    def on_mux_input(self, pad, info, kind):
        buf = info.get_buffer()
        self.count_in[kind] += 1
        if self.mark[kind] is None and self.switched[kind] and self.k is not None:
            self.mark[kind] = self.count_in[kind]
            self.first_in[kind] = buf.pts
        return Gst.PadProbeReturn.OK

    def on_output(self, pad, info):
        # flvmux writes its own timestamps: find the first buffers of the second stream
        # among the output tags and report their FLV timestamps.
        buf = info.get_buffer()
        self.stream += buf.extract_dup(0, buf.get_size())
        pos = 0
        if not self.header_done:
            if len(self.stream) < 13:
                return Gst.PadProbeReturn.OK
            pos = int.from_bytes(self.stream[5:9], "big") + 4
            self.header_done = True
        while pos + 12 <= len(self.stream):
            size = int.from_bytes(self.stream[pos + 1 : pos + 4], "big")
            if pos + 15 + size > len(self.stream):
                break
            kind = {8: "audio", 9: "video"}.get(self.stream[pos])
            if kind and size > 1 and self.stream[pos + 12] == 1:  # a frame, not a codec header
                self.count_out[kind] += 1
                if self.mark[kind] is not None and self.count_out[kind] == self.mark[kind]:
                    ts = int.from_bytes(self.stream[pos + 4 : pos + 7], "big") | (self.stream[pos + 7] << 24)
                    self.out_ts[kind] = ts
            pos += 15 + size
        del self.stream[:pos]
        if not self.reported and None not in self.out_ts.values():
            self.reported = True
            self.note("switch video_ms=%d audio_ms=%d" % (self.out_ts["video"], self.out_ts["audio"]))
        return Gst.PadProbeReturn.OK

    def on_message(self, bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            err, _ = msg.parse_error()
            self.note("error %s: %s" % (msg.src.get_name(), err.message))
            self.loop.quit()
        elif msg.type == Gst.MessageType.EOS:
            self.note("eos")
            self.loop.quit()

    def run(self):
        for s in (signal.SIGINT, signal.SIGTERM):
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, s, self.loop.quit)
        self.pipe.set_state(Gst.State.PLAYING)
        self.note("running")
        self.loop.run()
        with self.cv:
            self.stopping = True
            self.cv.notify_all()
        self.pipe.set_state(Gst.State.NULL)
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--primary", required=True)
    ap.add_argument("--secondary", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--switch-after", type=float, default=6.0)
    ap.add_argument("--log")
    a = ap.parse_args()
    Gst.init(None)
    return Switcher(a).run()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""Listen to failoverswitch's bus messages from Python (PyGObject).

    GST_PLUGIN_PATH=target/release examples/python/failover_monitor.py
    GST_PLUGIN_PATH=target/release examples/python/failover_monitor.py \\
        http://127.0.0.1:8000/station.aac http://127.0.0.1:8000/station_fallback.aac

Without URLs it builds a self-contained live pipeline (two audiotestsrc inputs) and
simulates a 4 s outage of the primary after 3 s; with two URLs it relays two Icecast
AAC mounts in passthrough to a fakesink. Either way it prints every
`failover-switched` and `failover-input-health` message and the element's `stats`.
Needs python3-gi and gir1.2-gstreamer-1.0 (Debian), and the plugin on GST_PLUGIN_PATH.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

TEST_PIPELINE = """
audiotestsrc is-live=true wave=sine freq=440 name=p ! audio/x-raw,rate=48000,channels=2
  ! queue ! sw.primary
audiotestsrc is-live=true wave=sine freq=660 volume=0.3 ! audio/x-raw,rate=48000,channels=2
  ! queue ! sw.secondary
failoverswitch name=sw timeout=500000000 restore-delay=2000000000 ! fakesink sync=true
"""

URL_PIPELINE = """
souphttpsrc location={p} is-live=true iradio-mode=false ! typefind ! aacparse ! queue ! sw.primary
souphttpsrc location={s} is-live=true iradio-mode=false ! typefind ! aacparse ! queue ! sw.secondary
failoverswitch name=sw timeout=1000000000 restore-delay=5000000000 ! fakesink
"""


def on_message(_bus, msg, loop):
    t = msg.type
    if t == Gst.MessageType.ELEMENT:
        s = msg.get_structure()
        name = s.get_name() if s else ""
        if name == "failover-switched":
            print(
                "switched %s -> %s (reason %s) at running time %.3f s, switch #%d"
                % (
                    s.get_string("from"),
                    s.get_string("to"),
                    s.get_string("reason"),
                    s.get_value("running-time") / 1e9,
                    s.get_value("switch-count"),
                )
            )
        elif name == "failover-input-health":
            print(
                "input %s is %s (%s)"
                % (
                    s.get_string("pad"),
                    "healthy" if s.get_value("healthy") else "UNHEALTHY",
                    s.get_string("reason"),
                )
            )
    elif t == Gst.MessageType.WARNING:
        err, _dbg = msg.parse_warning()
        print("warning from %s: %s" % (msg.src.get_name(), err.message))
    elif t == Gst.MessageType.ERROR:
        err, dbg = msg.parse_error()
        print("error from %s: %s (%s)" % (msg.src.get_name(), err.message, dbg))
        loop.quit()
    elif t == Gst.MessageType.EOS:
        loop.quit()
    return True


def main():
    Gst.init(None)
    if Gst.ElementFactory.find("failoverswitch") is None:
        sys.exit("failoverswitch not found: set GST_PLUGIN_PATH to the plugin's directory")
    urls = sys.argv[1:]
    if len(urls) == 2:
        pipeline = Gst.parse_launch(URL_PIPELINE.format(p=urls[0], s=urls[1]))
        duration = 0
    else:
        pipeline = Gst.parse_launch(TEST_PIPELINE)
        duration = 12
        # Simulate an outage: drop the primary's buffers from 3 s to 7 s.
        pad = pipeline.get_by_name("p").get_static_pad("src")
        outage = {"on": False}
        pad.add_probe(
            Gst.PadProbeType.BUFFER,
            lambda _p, _i: Gst.PadProbeReturn.DROP if outage["on"] else Gst.PadProbeReturn.OK,
        )

        def set_outage(on):
            print("-- primary outage %s --" % ("starts" if on else "ends"))
            outage["on"] = on
            return False

        GLib.timeout_add(3000, set_outage, True)
        GLib.timeout_add(7000, set_outage, False)

    loop = GLib.MainLoop()
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message, loop)
    if duration:
        GLib.timeout_add_seconds(duration, loop.quit)
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    sw = pipeline.get_by_name("sw")
    print("stats:", sw.get_property("stats").to_string())
    pipeline.set_state(Gst.State.NULL)


if __name__ == "__main__":
    main()

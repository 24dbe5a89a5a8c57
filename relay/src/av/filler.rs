// SPDX-License-Identifier: MPL-2.0
//! Keeps an A/V output's viewers watching while no input is healthy.
//!
//! With both inputs down, `failoverswitch` sends GAP events for encoded media and
//! no data: `flvmux` then writes nothing, and the RTMP server's players get
//! nothing either — players give up after a few seconds of silence on the wire
//! (and servers with `drop_idle_publisher` drop the relay). So the A/V station
//! answers the GAPs right after the switches:
//!
//! - video: **the last picture** — the last keyframe that went out, sent again with
//!   the GAP's timestamps, two per second, only while the switch has no active
//!   input. Chosen over a black or test picture because it needs no encoder, and
//!   keeps the stream's caps (resolution, profile, `codec_data`): the player's
//!   decoder is not reconfigured when the outage starts or ends; a viewer sees the
//!   programme stand still, which is what a viewer expects of a broken line. (The
//!   picture is the outgoing GOP's keyframe: up to one GOP before the last frame.)
//! - audio: **silence** — silent AAC frames of the output's format (rate,
//!   channels) filling every audio GAP (also the short ones while the video waits for
//!   a keyframe at a switch), so the audio track has no holes.
//!
//! While an input is on air, video GAPs are dropped: the switch sees holes between
//! presentation times when the video has B-frames (and while it waits for an
//! incoming keyframe); `flvmux` would time such a GAP by its PTS and then take the
//! next frame's earlier DTS for time going backwards (measured: DTS not increasing
//! at 300 of 480 tags with `-bf 2` encoders). The pipeline is live, so `flvmux`
//! needs no GAP to go on.
//!
//! The plain-Rust part ([`Grid`]) decides where filler frames go.

use crate::output::keepalive::{rate_channels, silent_adts_frame};
use gst::prelude::*;
use std::sync::{Arc, Mutex};

/// The still picture's frame interval.
const STILL_INTERVAL_NS: u64 = 500_000_000;

/// Filler frames of one medium: where the next one goes, at a fixed interval.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    step: u64,
    /// Only whole frames inside a GAP (audio: a hole shorter than a frame is
    /// rounding, not an outage); else a frame may start anywhere in it.
    whole: bool,
    /// End of the last data or filler that went out.
    next: Option<u64>,
}

impl Grid {
    pub(crate) fn new(step: u64, whole: bool) -> Grid {
        Grid {
            step: step.max(1),
            whole,
            next: None,
        }
    }

    /// Real data went out up to `end`.
    pub(crate) fn data(&mut self, end: u64) {
        self.next = Some(self.next.map_or(end, |n| n.max(end)));
    }

    /// The filler frames' timestamps for a GAP `[from, from + dur)`: one every
    /// `step` from where the output is, from `from` or from where the
    /// output is if that is less than a step before `from`, ending inside the GAP
    /// (`whole`) or starting inside it (the last may reach past it by less than a
    /// step).
    pub(crate) fn gap(&mut self, from: u64, dur: u64) -> Vec<u64> {
        let end = from.saturating_add(dur);
        // Where the output is, if the GAP starts there or less than a frame
        // later (the grid goes on); the GAP's start if it is further.
        let mut t = match self.next {
            Some(n) if n.saturating_add(self.step) > from => n,
            _ => from,
        };
        let mut out = Vec::new();
        let last = if self.whole { self.step } else { 1 };
        while t.saturating_add(last) <= end {
            out.push(t);
            t += self.step;
        }
        if !out.is_empty() {
            self.next = Some(t);
        }
        out
    }
}

/// What the audio filler knows: the silent frame (raw AAC, the header stripped) for
/// the current caps, and its grid.
struct Audio {
    frame: Option<gst::Buffer>,
    grid: Grid,
}

/// What the video filler knows: the last keyframe that went out, and its grid.
struct Video {
    keyframe: Option<gst::Buffer>,
    grid: Grid,
    /// The last frame's decoding timestamp (DTS, else PTS).
    last_dts: Option<u64>,
}

/// FLV carries milliseconds: each video frame goes out in a later millisecond than
/// the previous one. (A keyframe that `failoverswitch` moves onto the output position
/// at a switch may end less than 1 ms before the next frame starts; in FLV both
/// would get the same timestamp.)
const MS: u64 = 1_000_000;

/// The decoding timestamp (DTS: what FLV's tag timestamp is) a frame at `ts` goes
/// out with after one at `last`: unchanged if it is in a later millisecond, else the
/// middle of the next millisecond (a later one whether the muxer truncates or rounds
/// to milliseconds).
pub(crate) fn after(last: Option<u64>, ts: u64) -> u64 {
    match last {
        Some(l) if ts / MS <= l / MS || (ts + MS / 2) / MS <= (l + MS / 2) / MS => {
            ts.max((l / MS + 1) * MS + MS / 2)
        }
        _ => ts,
    }
}

/// Raw AAC frame from an ADTS frame: without its 7 (or 9, with CRC) byte header.
fn strip_adts(f: &[u8]) -> Option<&[u8]> {
    let header = if f.get(1)? & 1 == 1 { 7 } else { 9 };
    f.get(header..).filter(|r| !r.is_empty())
}

fn span(buf: &gst::BufferRef) -> Option<u64> {
    let pts = buf.pts()?.nseconds();
    Some(pts + buf.duration().map_or(0, gst::ClockTime::nseconds))
}

/// Installs the fillers on the src pads of `afill` and `vfill` (elements right
/// after the audio and the video switch); `video_switch`'s `active-pad` says when
/// no input is healthy.
pub(crate) fn install(
    afill: &gst::Element,
    vfill: &gst::Element,
    video_switch: &gst::Element,
) -> Result<(), String> {
    let apad = afill.static_pad("src").ok_or("audio filler without src")?;
    let vpad = vfill.static_pad("src").ok_or("video filler without src")?;

    let audio = Arc::new(Mutex::new(Audio {
        frame: None,
        grid: Grid::new(1, true),
    }));
    apad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |pad, info| {
            let mut a = audio.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(buf) = info.buffer() {
                // An AAC frame lasts one step, whatever duration it is marked with
                // (a unit trimmed at a switch may be marked shorter).
                if let Some(pts) = buf.pts() {
                    let step = a.grid.step;
                    a.grid.data(pts.nseconds().saturating_add(step));
                }
                return gst::PadProbeReturn::Ok;
            }
            let Some(ev) = info.event() else {
                return gst::PadProbeReturn::Ok;
            };
            match ev.view() {
                gst::EventView::Caps(c) => {
                    a.frame = None;
                    if let Some((rate, channels)) = rate_channels(c.caps()) {
                        match silent_adts_frame(rate, channels) {
                            Ok(f) => {
                                a.frame =
                                    strip_adts(&f).map(|r| gst::Buffer::from_slice(r.to_vec()));
                                a.grid = Grid::new(1024 * 1_000_000_000 / u64::from(rate), true);
                            }
                            Err(e) => eprintln!("\nrelay: no silent filler frames: {e}"),
                        }
                    }
                    gst::PadProbeReturn::Ok
                }
                gst::EventView::Gap(g) => {
                    let (from, dur) = g.get();
                    let Some(frame) = a.frame.clone() else {
                        return gst::PadProbeReturn::Ok;
                    };
                    let step = a.grid.step;
                    let times = a.grid.gap(from.nseconds(), dur.map_or(0, |d| d.nseconds()));
                    drop(a);
                    push_copies(pad, &frame, &times, step);
                    // Taken and released here: handled, not forwarded.
                    drop(info.take_event());
                    gst::PadProbeReturn::Handled
                }
                _ => gst::PadProbeReturn::Ok,
            }
        },
    );

    let video = Arc::new(Mutex::new(Video {
        keyframe: None,
        grid: Grid::new(STILL_INTERVAL_NS, false),
        last_dts: None,
    }));
    let switch = video_switch.downgrade();
    vpad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |pad, info| {
            let mut v = video.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(buf) = info.buffer_mut() {
                // Decode order: DTS (PTS when there is none; with B-frames PTS is
                // not monotonic). A frame moved later keeps its PTS - DTS.
                if let Some(d) = buf.dts().or(buf.pts()).map(gst::ClockTime::nseconds) {
                    let out = after(v.last_dts, d);
                    if out != d {
                        let shift = out - d;
                        let b = buf.make_mut();
                        if let Some(dts) = b.dts() {
                            b.set_dts(dts + gst::ClockTime::from_nseconds(shift));
                        }
                        if let Some(pts) = b.pts() {
                            b.set_pts(pts + gst::ClockTime::from_nseconds(shift));
                        }
                    }
                    v.last_dts = Some(out);
                }
                if let Some(end) = span(buf) {
                    v.grid.data(end);
                }
                if !buf.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                    v.keyframe = Some(buf.clone());
                }
                return gst::PadProbeReturn::Ok;
            }
            let Some(ev) = info.event() else {
                return gst::PadProbeReturn::Ok;
            };
            match ev.view() {
                // New caps (another input's codec_data): the old keyframe no longer
                // decodes with them.
                gst::EventView::Caps(_) => {
                    v.keyframe = None;
                    gst::PadProbeReturn::Ok
                }
                gst::EventView::Gap(g) => {
                    let none_active = switch
                        .upgrade()
                        .is_some_and(|s| s.property::<Option<gst::Pad>>("active-pad").is_none());
                    let (from, dur) = g.get();
                    if !none_active {
                        // An input is on air: the GAP is a hole between presentation
                        // times (reordered video: B-frames fill it later; or the
                        // wait for the incoming keyframe). `flvmux` would time it by
                        // its PTS and take the next frame's earlier DTS for time
                        // going backwards; it needs no GAP to go on (the pipeline
                        // is live: it writes what it has after its latency).
                        drop(v);
                        drop(info.take_event());
                        return gst::PadProbeReturn::Handled;
                    }
                    let Some(key) = v.keyframe.clone().filter(|_| none_active) else {
                        return gst::PadProbeReturn::Ok;
                    };
                    let times = v.grid.gap(from.nseconds(), dur.map_or(0, |d| d.nseconds()));
                    drop(v);
                    push_copies(pad, &key, &times, STILL_INTERVAL_NS);
                    drop(info.take_event());
                    gst::PadProbeReturn::Handled
                }
                _ => gst::PadProbeReturn::Ok,
            }
        },
    );
    Ok(())
}

/// Pushes `frame` again at each of `times` (no lock held).
fn push_copies(pad: &gst::Pad, frame: &gst::Buffer, times: &[u64], dur: u64) {
    for &t in times {
        let mut b = frame.copy();
        {
            let b = b.make_mut();
            b.set_pts(gst::ClockTime::from_nseconds(t));
            b.set_dts(gst::ClockTime::from_nseconds(t));
            b.set_duration(gst::ClockTime::from_nseconds(dur));
            b.unset_flags(gst::BufferFlags::DISCONT | gst::BufferFlags::DELTA_UNIT);
        }
        if pad.push(b).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_frames_follow_the_output() {
        let mut g = Grid::new(100, false);
        // Nothing went out yet: from the GAP's start.
        assert_eq!(g.gap(1000, 250), [1000, 1100, 1200]);
        // The next GAP continues the grid (1300), never before its own start.
        assert_eq!(g.gap(1250, 100), [1300]);
        assert_eq!(g.gap(2000, 150), [2000, 2100]);
        // Data moves the grid on: only the hole after it is filled.
        g.data(3050);
        assert_eq!(g.gap(3000, 100), [3050]);
        assert_eq!(g.gap(3100, 100), [3150]);
        // A GAP already covered gives nothing.
        assert_eq!(g.gap(3150, 50), Vec::<u64>::new());

        // Whole frames only: a hole shorter than a frame gets none.
        let mut g = Grid::new(100, true);
        g.data(1000);
        assert_eq!(g.gap(1000, 99), Vec::<u64>::new());
        assert_eq!(g.gap(1000, 250), [1000, 1100]);
        // The rest of that GAP (50) joins the next one.
        assert_eq!(g.gap(1250, 100), [1200]);
    }

    #[test]
    fn frames_keep_a_millisecond_apart() {
        assert_eq!(after(None, 5), 5);
        // 0.4 ms after the previous frame: the middle of the next millisecond.
        assert_eq!(after(Some(1_000_000_000), 1_000_400_000), 1_001_500_000);
        // In the same millisecond, though 0.9 ms later.
        assert_eq!(after(Some(1_000_000_000), 1_000_900_000), 1_001_500_000);
        // Another millisecond when truncated, the same when rounded.
        assert_eq!(after(Some(1_000_600_000), 1_001_200_000), 1_001_500_000);
        // A frame interval later: unchanged.
        assert_eq!(after(Some(1_000_000_000), 1_040_000_000), 1_040_000_000);
        for (l, p) in [(7_300_000u64, 7_900_000u64), (7_999_999, 8_000_001), (5, 5)] {
            let o = after(Some(l), p);
            assert!(
                o / MS > l / MS && (o + MS / 2) / MS > (l + MS / 2) / MS,
                "{l} {p} {o}"
            );
        }
    }

    #[test]
    fn adts_header_is_stripped() {
        let f = [0xFF, 0xF1, 0x50, 0x80, 0x01, 0x7F, 0xFC, 0xAA, 0xBB];
        assert_eq!(strip_adts(&f), Some(&[0xAA, 0xBB][..]));
        let crc = [0xFF, 0xF0, 0x50, 0x80, 0x01, 0x7F, 0xFC, 0x00, 0x00, 0xCC];
        assert_eq!(strip_adts(&crc), Some(&[0xCC][..]));
        assert_eq!(strip_adts(&[0xFF]), None);
    }
}

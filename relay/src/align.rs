// SPDX-License-Identifier: MPL-2.0
//! Passthrough alignment: the switch gets AAC frames and cannot measure them, so the
//! relay feeds the audio its loudness side branches decode anyway (`measure all`) to
//! the plugin's estimator (`gstfailover::align`) and writes the measured offset into
//! the switch (`align=manual`, `offset`), which places the input that is not on air
//! by it (in whole frames: the jump left at a switch is under one AAC frame). No
//! extra decoding: a buffer probe on each side branch's sink.
//!
//! [`Tracker`] is the plain part (continuity, estimator, when to write), unit-tested;
//! [`install`] is the GStreamer glue. The running times at the side branches are the
//! switched path's: the relay places each connection's data on the station's running
//! time before the `tee`.

use gst::prelude::*;
use gstfailover::align::{self, Estimate, Estimator, Verdict};
use std::sync::{Arc, Mutex};

/// A jump in an input's running time larger than this (either way) is a new
/// placement (a reconnection): its history is forgotten and it is measured anew.
/// The switch's own threshold for a hole (`failoverswitch` holds such an input
/// from a restore until the next written offset).
const REPLACED: u64 = 40_000_000;

/// What the station must do after a chunk of audio.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Outcome {
    /// Write this offset into the switch (ns, positive: the secondary is later).
    pub write: Option<i64>,
    /// The published estimate changed: announce it (`failover-aligned`).
    pub changed: Option<Estimate>,
}

/// The estimator, each input's continuity, and what was written into the switch.
pub(crate) struct Tracker {
    est: Estimator,
    /// End (running time, ns) of each input's last chunk.
    last_end: [Option<u64>; 2],
    /// The input was placed anew since the offset was last written: the switch
    /// holds it back from a restore until the next write (its new measurement).
    replaced: [bool; 2],
    written: Option<i64>,
    mono: Vec<f32>,
}

impl Tracker {
    pub(crate) fn new(max_offset: u64) -> Tracker {
        Tracker {
            est: Estimator::new(align::Config {
                max_offset,
                ..Default::default()
            }),
            last_end: [None; 2],
            replaced: [false; 2],
            written: None,
            mono: Vec::new(),
        }
    }

    /// Adds interleaved audio of input `idx` (0: primary, 1: secondary) given as
    /// samples already scaled to full scale 1.
    pub(crate) fn push(
        &mut self,
        idx: usize,
        rate: u32,
        channels: usize,
        running_time: u64,
        samples: impl Iterator<Item = f32>,
    ) -> Outcome {
        let channels = channels.max(1);
        let scale = 1.0 / channels as f32;
        let mut mono = std::mem::take(&mut self.mono);
        mono.clear();
        let mut sum = 0.0;
        for (i, v) in samples.enumerate() {
            sum += v;
            if i % channels == channels - 1 {
                mono.push(sum * scale);
                sum = 0.0;
            }
        }
        let out = self.push_mono(idx, rate, running_time, &mono);
        self.mono = mono;
        out
    }

    fn push_mono(&mut self, idx: usize, rate: u32, running_time: u64, mono: &[f32]) -> Outcome {
        let which = if idx == 0 {
            align::Input::Primary
        } else {
            align::Input::Secondary
        };
        let Some(slot) = self.last_end.get_mut(idx) else {
            return Outcome::default();
        };
        if slot.is_some_and(|end| running_time.abs_diff(end) > REPLACED) {
            self.est.reset_input(which);
            if self.written.is_some() {
                self.replaced[idx] = true;
            }
        }
        let duration = mono.len() as u64 * 1_000_000_000 / u64::from(rate.max(1));
        *slot = Some(running_time + duration);
        let before = self.est.estimate().revision;
        let m = self.est.push(which, rate, running_time, mono);
        let e = self.est.estimate();
        let mut out = Outcome {
            changed: (e.revision != before).then_some(e),
            ..Default::default()
        };
        let Some(offset) = e.offset.filter(|_| e.confident) else {
            return out;
        };
        // A match after a replacement measures the new placement (the replaced
        // input's history is gone): written even if the offset did not move, so the
        // switch knows the input is measured.
        let remeasured = self.replaced.contains(&true)
            && m.is_some_and(|m| {
                m.verdict == Verdict::Match
                    && m.offset.abs_diff(offset) <= self.est.config().tolerance
            });
        if out.changed.is_some() || remeasured || self.written.is_none() {
            self.written = Some(offset);
            self.replaced = [false; 2];
            out.write = Some(offset);
        }
        out
    }
}

/// Feeds the decoded audio at each input's side-branch sink (`<input>_msink`) to a
/// [`Tracker`]; writes its offset into `switch` and posts `failover-aligned` (from
/// the switch, as the switch itself does in the decode setup) when it changes.
pub(crate) fn install(
    pipeline: &gst::Pipeline,
    switch: &gst::Element,
    max_offset: u64,
) -> Result<(), String> {
    let tracker = Arc::new(Mutex::new(Tracker::new(max_offset)));
    for (idx, name) in crate::input::INPUTS.iter().enumerate() {
        let sink = pipeline
            .by_name(&format!("{name}_msink"))
            .ok_or_else(|| format!("element {name}_msink missing"))?;
        let pad = sink
            .static_pad("sink")
            .ok_or_else(|| format!("{name}_msink has no sink pad"))?;
        let tracker = tracker.clone();
        let switch = switch.downgrade();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(buffer) = info.buffer() {
                let out = feed(&tracker, idx, pad, buffer);
                if out != Outcome::default() {
                    if let Some(sw) = switch.upgrade() {
                        apply(&sw, out);
                    }
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
    Ok(())
}

/// One decoded buffer into the tracker (interleaved F32LE or S16LE).
fn feed(tracker: &Mutex<Tracker>, idx: usize, pad: &gst::Pad, buffer: &gst::BufferRef) -> Outcome {
    let none = Outcome::default();
    let Some(caps) = pad.current_caps() else {
        return none;
    };
    let Some(s) = caps.structure(0) else {
        return none;
    };
    let (Ok(format), Ok(rate), Ok(channels)) = (
        s.get::<&str>("format"),
        s.get::<i32>("rate"),
        s.get::<i32>("channels"),
    ) else {
        return none;
    };
    if s.get::<&str>("layout").is_ok_and(|l| l != "interleaved") {
        return none;
    }
    // By the segment alone, as failoverswitch places the same data.
    let running_time = pad
        .sticky_event::<gst::event::Segment>(0)
        .and_then(|e| {
            let seg = e.segment().downcast_ref::<gst::ClockTime>()?.clone();
            seg.to_running_time(buffer.pts()?)
        })
        .map(gst::ClockTime::nseconds);
    let (Some(running_time), Ok(map)) = (running_time, buffer.map_readable()) else {
        return none;
    };
    let (rate, channels) = (rate.max(0) as u32, channels.max(1) as usize);
    let mut t = tracker.lock().unwrap_or_else(|e| e.into_inner());
    match format {
        "F32LE" => t.push(
            idx,
            rate,
            channels,
            running_time,
            map.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
        "S16LE" => t.push(
            idx,
            rate,
            channels,
            running_time,
            map.chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0),
        ),
        _ => none,
    }
}

/// Writes the offset, announces the estimate (no lock of ours held).
fn apply(switch: &gst::Element, out: Outcome) {
    if let Some(offset) = out.write {
        switch.set_property("offset", offset);
    }
    if let Some(e) = out.changed {
        let s = gst::Structure::builder("failover-aligned")
            .field("offset", e.offset.unwrap_or(0))
            .field("confident", e.confident)
            .field("confidence", f64::from(e.confidence))
            .field("running-time", e.since)
            .build();
        let _ = switch.post_message(gst::message::Element::builder(s).src(switch).build());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16000;

    /// A programme: noise bursts of varying length and level (deterministic).
    fn programme(n: u64) -> f32 {
        let seg = n / 1700;
        let h = |x: u64| {
            let mut x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            x ^= x >> 29;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x ^= x >> 32;
            x
        };
        let level = (h(seg) % 1000) as f32 / 1000.0;
        let noise = (h(n ^ 0x5555) % 2001) as f32 / 1000.0 - 1.0;
        level * level * noise * 0.5
    }

    /// 20 ms chunks of both inputs from `from_ms` to `to_ms` of running time, the
    /// secondary carrying the programme `offset_ms` later (stereo, -7 dB); the
    /// primary's programme starts `shift_ms` late. Returns every outcome.
    fn run(
        t: &mut Tracker,
        from_ms: u64,
        to_ms: u64,
        offset_ms: u64,
        shift_ms: u64,
    ) -> Vec<Outcome> {
        let mut outs = Vec::new();
        let per = u64::from(RATE) / 50;
        for chunk in from_ms / 20..to_ms / 20 {
            let first = chunk * per;
            let rt = chunk * 20_000_000;
            let p = (first..first + per).map(|n| programme(n + 1_000_000 - shift_ms * 16));
            outs.push(t.push(0, RATE, 1, rt, p));
            let back = offset_ms * u64::from(RATE) / 1000;
            let s = (first..first + per).flat_map(|n| {
                let v = programme(n + 1_000_000 - back) * 0.45;
                [v, v]
            });
            outs.push(t.push(1, RATE, 2, rt, s));
        }
        outs
    }

    fn writes(outs: &[Outcome]) -> Vec<i64> {
        outs.iter().filter_map(|o| o.write).collect()
    }

    #[test]
    fn a_confident_offset_is_written_once_and_announced() {
        let mut t = Tracker::new(2_000_000_000);
        let outs = run(&mut t, 0, 16_000, 700, 0);
        let w = writes(&outs);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].abs_diff(700_000_000) < 200_000, "{w:?}");
        let changed: Vec<Estimate> = outs.iter().filter_map(|o| o.changed).collect();
        assert!(changed.iter().any(|e| e.confident), "{changed:?}");
        // Nothing more while it holds.
        assert!(writes(&run(&mut t, 16_000, 20_000, 700, 0)).is_empty());
    }

    #[test]
    fn a_replaced_input_is_written_again_once_measured() {
        let mut t = Tracker::new(2_000_000_000);
        assert_eq!(writes(&run(&mut t, 0, 14_000, 700, 0)).len(), 1);
        // The primary comes back 3 s later, placed 40 ms later than before (its
        // programme is 40 ms later on the running time): offset 660 ms.
        let outs = run(&mut t, 17_000, 20_000, 700, 40);
        assert!(writes(&outs).is_empty(), "too early: {:?}", writes(&outs));
        let outs = run(&mut t, 20_000, 34_000, 700, 40);
        let w = writes(&outs);
        assert!(!w.is_empty(), "never measured again");
        assert!(w.last().unwrap().abs_diff(660_000_000) < 200_000, "{w:?}");
    }

    #[test]
    fn a_replaced_input_at_the_same_offset_is_confirmed() {
        let mut t = Tracker::new(2_000_000_000);
        assert_eq!(writes(&run(&mut t, 0, 14_000, 700, 0)).len(), 1);
        let w = writes(&run(&mut t, 17_000, 34_000, 700, 0));
        // The same value again: the switch's hold on the input ends.
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].abs_diff(700_000_000) < 200_000, "{w:?}");
    }

    /// The glue: decoded audio at the two side-branch sinks (the same noise, the
    /// secondary's 300 ms later) sets the switch's offset and posts
    /// `failover-aligned` from it.
    #[test]
    fn the_side_branches_set_the_switch_offset() {
        crate::init().unwrap();
        let pipeline = gst::parse::launch(
            "audiotestsrc wave=pink-noise num-buffers=1000 samplesperbuffer=320 \
               ! audio/x-raw,format=S16LE,rate=16000,channels=2 ! tee name=t \
             t. ! queue ! fakesink name=primary_msink sync=false \
             t. ! queue name=later ! fakesink name=secondary_msink sync=false \
             failoverswitch name=sw align=manual",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let sw = pipeline.by_name("sw").unwrap();
        // The secondary's timestamps 300 ms later (as the relay places a later
        // encoder's data).
        let later = pipeline.by_name("later").unwrap();
        later
            .static_pad("src")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, |_, info| {
                if let Some(gst::PadProbeData::Buffer(b)) = info.data.as_mut() {
                    let b = b.make_mut();
                    b.set_pts(b.pts().map(|t| t + gst::ClockTime::from_mseconds(300)));
                }
                gst::PadProbeReturn::Ok
            });
        install(&pipeline, &sw, 2_000_000_000).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        let mut aligned = Vec::new();
        for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
            match msg.view() {
                gst::MessageView::Element(e) => {
                    if let Some(s) = e.structure().filter(|s| s.name() == "failover-aligned") {
                        assert_eq!(msg.src(), Some(sw.upcast_ref::<gst::Object>()));
                        aligned.push((
                            s.get::<i64>("offset").unwrap(),
                            s.get::<bool>("confident").unwrap(),
                        ));
                    }
                }
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(e) => panic!("{e:?}"),
                _ => {}
            }
        }
        pipeline.set_state(gst::State::Null).unwrap();
        let offset = sw.property::<i64>("offset");
        assert!(offset.abs_diff(300_000_000) < 100_000, "offset {offset}");
        assert!(
            aligned.iter().any(|&(o, c)| c && o == offset),
            "{aligned:?}"
        );
    }

    #[test]
    fn unrelated_programmes_write_nothing() {
        let mut t = Tracker::new(2_000_000_000);
        let per = u64::from(RATE) / 50;
        let mut outs = Vec::new();
        for chunk in 0..800u64 {
            let first = chunk * per;
            let rt = chunk * 20_000_000;
            outs.push(t.push(0, RATE, 1, rt, (first..first + per).map(programme)));
            outs.push(t.push(
                1,
                RATE,
                1,
                rt,
                (first..first + per).map(|n| programme(n + 50_000_000)),
            ));
        }
        assert!(writes(&outs).is_empty());
        assert!(outs.iter().all(|o| o.changed.is_none_or(|e| !e.confident)));
    }
}

// SPDX-License-Identifier: MPL-2.0
//! The invariants of the fuzz test: checks of the output stream (as it comes out)
//! and of every switch the element announces (against the inputs' history).

use gst::prelude::*;

use super::model::{CapsKind, InputModel, MS, Media};
use super::rig::Out;

/// The invariants, each a real check that can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Inv {
    /// No panic in the element and no ERROR on the bus.
    NoPanic,
    /// Every push, event and state change returns within the bound.
    NoDeadlock,
    /// Pushes into the element never fail (bad input is dropped, not refused).
    PushOk,
    /// A new stream after EOS carries on: its data is taken (not refused with EOS),
    /// also after both inputs had ended and EOS went out.
    Revive,
    /// An input's caps are accepted even when they do not match the output (the
    /// input is then dropped with a warning): refusing them makes the input's
    /// upstream fail with not-negotiated, which stops a pipeline.
    CapsAccepted,
    /// The element's timer does not wake up without end.
    NoSpin,
    /// Output timestamps never go back and buffers never overlap.
    Monotonic,
    /// No hole on the output timeline (buffers, GAP events, silence), except one
    /// that the active input's own stream has and that is passed on while that
    /// input stays active.
    Continuous,
    /// Output buffers carry timestamps and durations matching their size.
    Timestamps,
    /// Encoded units go out at the running time they had on their input (mapped
    /// through its running time, never re-stamped; the first unit after a switch may
    /// start at the output position inside it, ending where it did).
    Mapping,
    /// Never data of both inputs for the same running time (raw audio: samples of
    /// both inputs, or blends, only at a switch with crossfade).
    OneInput,
    /// Automatic switches only go to an input that can be healthy.
    HealthyTarget,
    /// Failovers only leave an input that can be unhealthy.
    JustifiedSwitch,
    /// Back to the primary only after restore-delay of health; never in sticky mode.
    RestoreDelay,
    /// After a manual switch, no automatic restore until the chosen input fails.
    ManualHold,
    /// Switch count bounded by what happened; `switch-count` counts every switch.
    SwitchCount,
    /// EOS goes out only when both inputs have ended.
    EosOnlyWhenBothEnded,
    /// When both inputs have ended, EOS goes out.
    EosWhenBothEnded,
    /// Output caps never change to an incompatible format, except by the start-up
    /// hand-over: before `timeout` of output went out, to the format an input has.
    OutputCaps,
    /// Data an input delivers while its caps do not match the output never goes
    /// out (not even after its caps match again).
    CapsEnforced,
    /// One TIME segment (a new one only after a flush or a new stream).
    OneSegment,
    /// A flush that goes out is whole: FLUSH_START is followed by FLUSH_STOP, so the
    /// output never stays flushing (every push would then fail).
    FlushPaired,
}

impl Inv {
    pub fn name(self) -> &'static str {
        match self {
            Inv::NoPanic => "no-panic",
            Inv::NoDeadlock => "no-deadlock",
            Inv::PushOk => "push-ok",
            Inv::CapsAccepted => "caps-accepted",
            Inv::Revive => "revive",
            Inv::NoSpin => "no-spin",
            Inv::Monotonic => "monotonic",
            Inv::Continuous => "continuous",
            Inv::Timestamps => "timestamps",
            Inv::Mapping => "mapping",
            Inv::OneInput => "one-input",
            Inv::HealthyTarget => "healthy-target",
            Inv::JustifiedSwitch => "justified-switch",
            Inv::RestoreDelay => "restore-delay",
            Inv::ManualHold => "manual-hold",
            Inv::SwitchCount => "switch-count",
            Inv::EosOnlyWhenBothEnded => "eos-only-when-both-ended",
            Inv::EosWhenBothEnded => "eos-when-both-ended",
            Inv::OutputCaps => "output-caps",
            Inv::CapsEnforced => "caps-enforced",
            Inv::OneSegment => "one-segment",
            Inv::FlushPaired => "flush-paired",
        }
    }

    pub const ALL: [Inv; 22] = [
        Inv::NoPanic,
        Inv::NoDeadlock,
        Inv::PushOk,
        Inv::Revive,
        Inv::CapsAccepted,
        Inv::NoSpin,
        Inv::Monotonic,
        Inv::Continuous,
        Inv::Timestamps,
        Inv::Mapping,
        Inv::OneInput,
        Inv::HealthyTarget,
        Inv::JustifiedSwitch,
        Inv::RestoreDelay,
        Inv::ManualHold,
        Inv::SwitchCount,
        Inv::EosOnlyWhenBothEnded,
        Inv::EosWhenBothEnded,
        Inv::OutputCaps,
        Inv::CapsEnforced,
        Inv::OneSegment,
        Inv::FlushPaired,
    ];
}

#[derive(Debug, Clone)]
pub struct Violation {
    pub inv: Inv,
    pub detail: String,
}

pub fn violation(inv: Inv, detail: impl Into<String>) -> Violation {
    Violation {
        inv,
        detail: detail.into(),
    }
}

/// Sample values of the raw inputs (mono F32): the primary, the secondary (silence
/// is 0), and each of them while its caps do not match the output. Fades and
/// crossfades of the first two stay within ±0.25: anything beyond comes from data
/// of a mismatch.
pub const PRIMARY_VALUE: f32 = 0.25;
pub const SECONDARY_VALUE: f32 = -0.25;
pub const PRIMARY_MISMATCH: f32 = 0.5;
pub const SECONDARY_MISMATCH: f32 = -0.5;

/// Whether a sample can only come from data delivered under mismatching caps.
pub fn from_mismatch(x: f32) -> bool {
    x.abs() > PRIMARY_VALUE * 1.001
}

/// After a hand-over of the output format (see `OutputCheck::handed_over`) the
/// inputs' data in the new format (`PRIMARY_MISMATCH`, `SECONDARY_MISMATCH`) is
/// their normal data, and data in the first format is the mismatch: whether
/// `samples` carry such data. Fades and crossfades change the value from sample to
/// sample, so two equal neighbours at ±`PRIMARY_VALUE` are data of the old format.
fn old_format_in(samples: &[f32]) -> Option<f32> {
    samples
        .windows(2)
        .find(|w| w[0] == w[1] && w[0].abs() == PRIMARY_VALUE)
        .map(|w| w[0])
}
/// First byte of an encoded unit: the primary, the secondary, and each of them
/// while its caps do not match the output.
pub const UNIT_TAGS: [u8; 4] = [b'P', b'S', b'p', b's'];

/// Checks the output as it comes out.
pub struct OutputCheck {
    media: Media,
    /// End of the output timeline so far.
    pub end: Option<u64>,
    segments: u32,
    flushed: bool,
    first_caps: Option<gst::Caps>,
    pub eos: bool,
    /// Raw audio: (pts, duration, samples) of every buffer, for the end-of-case
    /// check. After a hand-over of the format the samples are scaled by 1/2, so
    /// that the inputs' data in the new format reads as `PRIMARY_VALUE` and
    /// `SECONDARY_VALUE` there too.
    pub raw: Vec<(u64, u64, Vec<f32>)>,
    /// The input the last output data surely came from.
    last_source: Option<usize>,
    /// Sample rate of the current output caps (raw).
    rate: u64,
    /// A FLUSH_START went out and no FLUSH_STOP after it (yet).
    pub flushing: bool,
    /// The element's `timeout`: the output format is settled once this much output
    /// went out since its first data; before that, a failing input may hand the
    /// output format over to the other input (the element's start-up hand-over).
    timeout: u64,
    /// Start of the first output data (since the last flush that reset time).
    first_pts: Option<u64>,
    /// The output is in the other format (`CapsKind::Incompatible`'s) after a
    /// legitimate hand-over.
    pub handed_over: bool,
}

impl OutputCheck {
    pub fn new(media: Media, timeout: u64) -> Self {
        OutputCheck {
            timeout,
            first_pts: None,
            handed_over: false,
            media,
            end: None,
            segments: 0,
            flushed: false,
            first_caps: None,
            eos: false,
            raw: Vec::new(),
            last_source: None,
            rate: 48_000,
            flushing: false,
        }
    }

    /// Tolerance of continuity: one sample (raw), none otherwise.
    fn tolerance(&self) -> u64 {
        match self.media {
            Media::Raw => 21_000,
            Media::Encoded => 0,
        }
    }

    fn span(
        &mut self,
        what: &str,
        (start, end): (u64, u64),
        source: Option<usize>,
        inputs: &[InputModel; 2],
        v: &mut Vec<Violation>,
    ) {
        let tol = self.tolerance();
        let last_source = std::mem::replace(&mut self.last_source, source);
        if let Some(prev) = self.end {
            if start + tol < prev {
                v.push(violation(
                    Inv::Monotonic,
                    format!(
                        "{what} at {:.3} ms starts before the output's end {:.3} ms",
                        start as f64 / 1e6,
                        prev as f64 / 1e6
                    ),
                ));
            } else if start > prev + tol
                && !(source.is_some()
                    && source == last_source
                    && source.is_some_and(|i| !inputs[i].had_data_within(prev, start)))
            {
                v.push(violation(
                    Inv::Continuous,
                    format!(
                        "hole of {:.3} ms on the output before {what} at {:.3} ms",
                        (start - prev) as f64 / 1e6,
                        start as f64 / 1e6
                    ),
                ));
            }
        }
        self.end = Some(self.end.map_or(end, |e| e.max(end)));
    }

    pub fn item(&mut self, out: &Out, inputs: &[InputModel; 2], v: &mut Vec<Violation>) {
        match out {
            Out::Buffer(b) => self.buffer(b, inputs, v),
            Out::Event(e) => self.event(e, inputs, v),
        }
    }

    fn buffer(&mut self, b: &gst::Buffer, inputs: &[InputModel; 2], v: &mut Vec<Violation>) {
        let Some(pts) = b.pts().map(|t| t.nseconds()) else {
            v.push(violation(
                Inv::Timestamps,
                "output buffer without timestamp",
            ));
            return;
        };
        let duration = b.duration().map_or(0, |d| d.nseconds());
        let source = match self.media {
            Media::Raw => {
                let Ok(map) = b.map_readable() else { return };
                if map.len() % 4 != 0 {
                    v.push(violation(
                        Inv::Timestamps,
                        format!("raw buffer of {} bytes at {pts} ns", map.len()),
                    ));
                }
                let samples: Vec<f32> = map
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let expect = samples.len() as u64 * 1_000_000_000 / self.rate;
                if duration.abs_diff(expect) > 1_000 {
                    v.push(violation(
                        Inv::Timestamps,
                        format!(
                            "buffer at {pts} ns: duration {duration} ns for {} samples",
                            samples.len()
                        ),
                    ));
                }
                let mismatch = if self.handed_over {
                    old_format_in(&samples)
                } else {
                    samples.iter().copied().find(|&x| from_mismatch(x))
                };
                if let Some(x) = mismatch {
                    v.push(violation(
                        Inv::CapsEnforced,
                        format!(
                            "buffer at {:.3} ms carries data of the {} from while its caps did not match",
                            pts as f64 / 1e6,
                            if x > 0.0 { "primary" } else { "secondary" }
                        ),
                    ));
                }
                let (p, s) = if self.handed_over {
                    (PRIMARY_MISMATCH, SECONDARY_MISMATCH)
                } else {
                    (PRIMARY_VALUE, SECONDARY_VALUE)
                };
                let source = if samples.iter().all(|&x| x == p) {
                    Some(0)
                } else if samples.iter().all(|&x| x == s) {
                    Some(1)
                } else {
                    None
                };
                let scale = if self.handed_over { 0.5 } else { 1.0 };
                let samples = samples.into_iter().map(|x| x * scale).collect();
                self.raw.push((pts, duration, samples));
                source
            }
            Media::Encoded => {
                let Ok(map) = b.map_readable() else { return };
                if map.len() < 9 {
                    None
                } else {
                    // After a hand-over the tags of mismatch are the normal ones.
                    let bad = if self.handed_over { 0 } else { 2 };
                    if map[0] == UNIT_TAGS[bad] || map[0] == UNIT_TAGS[bad + 1] {
                        v.push(violation(
                            Inv::CapsEnforced,
                            format!(
                                "unit at {} ms is one the {} delivered while its caps did not match",
                                pts / MS,
                                if map[0].eq_ignore_ascii_case(&b'p') {
                                    "primary"
                                } else {
                                    "secondary"
                                }
                            ),
                        ));
                    }
                    let orig = u64::from_le_bytes(map[1..9].try_into().unwrap_or_default());
                    // The first unit after a switch may start at the output position,
                    // inside it: it then still ends where it did (shortened).
                    let moved_in = pts > orig && pts + duration == orig + Media::Encoded.unit();
                    if orig != pts && !moved_in {
                        v.push(violation(
                            Inv::Mapping,
                            format!(
                                "unit of the {} at running time {} ms went out at {} ms",
                                if map[0].eq_ignore_ascii_case(&b'P') {
                                    "primary"
                                } else {
                                    "secondary"
                                },
                                orig / MS,
                                pts / MS
                            ),
                        ));
                    }
                    Some(usize::from(!map[0].eq_ignore_ascii_case(&b'P')))
                }
            }
        };
        self.first_pts.get_or_insert(pts);
        self.span("buffer", (pts, pts + duration), source, inputs, v);
    }

    fn event(&mut self, e: &gst::Event, inputs: &[InputModel; 2], v: &mut Vec<Violation>) {
        match e.view() {
            gst::EventView::Gap(g) => {
                let (ts, d) = g.get();
                let ts = ts.nseconds();
                let end = ts + d.map_or(0, |d| d.nseconds());
                self.span("GAP event", (ts, end), None, inputs, v);
            }
            gst::EventView::Segment(s) => {
                if s.segment().format() != gst::Format::Time {
                    v.push(violation(Inv::OneSegment, "segment not in TIME"));
                }
                if self.segments > 0 && !self.flushed {
                    v.push(violation(
                        Inv::OneSegment,
                        format!(
                            "segment #{} without a flush or a new stream before it",
                            self.segments + 1
                        ),
                    ));
                }
                self.segments += 1;
                self.flushed = false;
            }
            gst::EventView::FlushStart(_) => self.flushing = true,
            gst::EventView::FlushStop(f) => {
                if f.resets_time() {
                    self.first_pts = None;
                }
                self.flushing = false;
                self.flushed = true;
                self.end = None;
            }
            gst::EventView::Caps(c) => {
                let caps = c.caps_owned();
                if let Some(rate) = caps.structure(0).and_then(|s| s.get::<i32>("rate").ok()) {
                    self.rate = u64::try_from(rate).unwrap_or(48_000).max(1);
                }
                let Some(first) = &self.first_caps else {
                    self.first_caps = Some(caps);
                    return;
                };
                let diff = format_difference(first, &caps);
                let other = diff.is_some();
                if other == self.handed_over {
                    return;
                }
                // A change of format: legitimate only as the start-up hand-over, to
                // the format an input has, before `timeout` of output went out.
                let settled = self
                    .first_pts
                    .zip(self.end)
                    .is_some_and(|(a, b)| b.saturating_sub(a) >= self.timeout + self.tolerance());
                let has = inputs
                    .iter()
                    .any(|m| (m.caps == CapsKind::Incompatible) == other);
                let what = diff.unwrap_or_else(|| format!("back to {first}"));
                if settled || !has {
                    v.push(violation(
                        Inv::OutputCaps,
                        format!(
                            "output caps changed{}: {what}",
                            if settled {
                                " after the format was settled"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
                self.handed_over = other;
            }
            gst::EventView::Eos(_) => self.eos = true,
            // A new stream (after EOS) comes with its own segment.
            gst::EventView::StreamStart(_) => {
                self.eos = false;
                self.flushed = true;
                // A new stream after the output ended: its timeline starts anew.
                if self.segments > 0 {
                    self.end = None;
                }
            }
            _ => {}
        }
    }
}

/// The first field defining the format that differs between `a` and `b`.
fn format_difference(a: &gst::Caps, b: &gst::Caps) -> Option<String> {
    let (Some(sa), Some(sb)) = (a.structure(0), b.structure(0)) else {
        return Some(format!("{a} -> {b}"));
    };
    if sa.name() != sb.name() {
        return Some(format!("{} -> {}", sa.name(), sb.name()));
    }
    for f in ["format", "rate", "channels", "mpegversion", "stream-format"] {
        let (x, y) = (sa.value(f).ok(), sb.value(f).ok());
        let same = match (x, y) {
            (Some(x), Some(y)) => x.compare(y) == Some(std::cmp::Ordering::Equal),
            (None, None) => true,
            _ => false,
        };
        if !same {
            return Some(format!("{f}: {a} -> {b}"));
        }
    }
    None
}

/// A `failover-switched` message and the window `(lo, hi]` of running time in
/// which the element decided it.
#[derive(Debug, Clone)]
pub struct Switch {
    pub from: String,
    pub to: String,
    pub reason: String,
    pub rt: u64,
    pub count: u64,
    pub lo: u64,
    pub hi: u64,
}

pub struct Policy {
    pub timeout: u64,
    pub restore_delay: u64,
    pub sticky: bool,
    pub crossfade: u64,
}

fn index(name: &str) -> Option<usize> {
    match name {
        "primary" => Some(0),
        "secondary" => Some(1),
        _ => None,
    }
}

/// Checks every switch against the inputs' history and the policy.
pub struct SwitchCheck {
    pub policy: Policy,
    pub switches: Vec<Switch>,
    manual_hold: bool,
}

impl SwitchCheck {
    pub fn new(policy: Policy) -> Self {
        SwitchCheck {
            policy,
            switches: Vec::new(),
            manual_hold: false,
        }
    }

    pub fn automatic(&self) -> usize {
        self.switches
            .iter()
            .filter(|s| s.reason != "manual")
            .count()
    }

    pub fn on_switch(
        &mut self,
        sw: Switch,
        inputs: &[InputModel; 2],
        out_end: Option<u64>,
        v: &mut Vec<Violation>,
    ) {
        let p = &self.policy;
        let (lo, hi) = (sw.lo, sw.hi);
        let at = format!(
            "{} -> {} ({}) decided in ({}, {}] ms",
            sw.from,
            sw.to,
            sw.reason,
            lo / MS,
            hi / MS
        );
        if sw.count != self.switches.len() as u64 + 1 {
            v.push(violation(
                Inv::SwitchCount,
                format!(
                    "{at}: switch-count {} after {} switches",
                    sw.count,
                    self.switches.len()
                ),
            ));
        }
        if let Some(to) = index(&sw.to)
            && sw.reason != "manual"
            && let Some(why) = inputs[to].surely_unhealthy(lo, hi, p.timeout)
        {
            v.push(violation(
                Inv::HealthyTarget,
                format!("{at}: the {} was unhealthy: {why}", sw.to),
            ));
        }
        let failover =
            ["timeout", "late", "eos", "caps-mismatch", "health"].contains(&sw.reason.as_str());
        if let Some(from) = index(&sw.from)
            && failover
            && inputs[from].surely_healthy(lo, hi, p.timeout, out_end)
        {
            v.push(violation(
                Inv::JustifiedSwitch,
                format!(
                    "{at}: the {} was healthy: {}",
                    sw.from,
                    inputs[from].describe(hi, p.timeout)
                ),
            ));
        }
        if sw.reason == "restored" && sw.from == "secondary" && sw.to == "primary" {
            if p.sticky {
                v.push(violation(
                    Inv::RestoreDelay,
                    format!("{at}: mode=sticky never goes back by itself"),
                ));
            } else {
                let since = inputs[0].healthy_since(hi, p.timeout);
                if hi + super::model::SLACK < since + p.restore_delay {
                    v.push(violation(
                        Inv::RestoreDelay,
                        format!(
                            "{at}: the primary was healthy only since {} ms, restore-delay {} ms",
                            since / MS,
                            p.restore_delay / MS
                        ),
                    ));
                }
            }
            if self.manual_hold {
                v.push(violation(
                    Inv::ManualHold,
                    format!("{at}: a manual choice of the secondary was undone"),
                ));
            }
        }
        self.manual_hold = sw.reason == "manual" && sw.to == "secondary";
        self.switches.push(sw);
    }

    /// End of case: raw samples come from one input at a time (both, or blends,
    /// only at a switch, blends only with crossfade). The crossfade of a switch
    /// starts at its running time, or (when the incoming input's data starts later)
    /// where the first sound after it goes out, and it runs over the first
    /// `crossfade` of sound after that: silence filled in and holes of the
    /// incoming input (a skew of its timestamps) do not use it up.
    pub fn check_samples(&self, raw: &[(u64, u64, Vec<f32>)], v: &mut Vec<Violation>) {
        let fade = self.policy.crossfade;
        let mut windows: Vec<(u64, u64)> = Vec::new();
        let sound = |x: &[f32]| x.iter().any(|&x| x != 0.0);
        for s in &self.switches {
            windows.push((s.rt.saturating_sub(10 * MS), s.rt + fade + 10 * MS));
            let mut after = raw.iter().filter(|(pts, _, x)| *pts >= s.rt && sound(x));
            if let Some((pts, _, _)) = after.next() {
                windows.push((pts.saturating_sub(10 * MS), pts + fade + 10 * MS));
            }
            // Where the fade ends: after `crossfade` of sound.
            let mut heard = 0;
            for (pts, d, _) in raw.iter().filter(|(pts, _, x)| *pts >= s.rt && sound(x)) {
                if heard >= fade {
                    break;
                }
                heard += d;
                windows.push((pts.saturating_sub(10 * MS), pts + d + 10 * MS));
            }
        }
        let near_switch =
            |pts: u64, len: u64| windows.iter().any(|&(a, b)| pts <= b && pts + len >= a);
        for (pts, len, samples) in raw {
            let len = *len;
            let (mut p, mut s, mut blend) = (false, false, false);
            for &x in samples {
                if x == PRIMARY_VALUE {
                    p = true;
                } else if x == SECONDARY_VALUE {
                    s = true;
                } else if x != 0.0 && !from_mismatch(x) {
                    // (data of a mismatch is reported as caps-enforced)
                    blend = true;
                }
            }
            if (blend && self.policy.crossfade == 0)
                || ((blend || (p && s)) && !near_switch(*pts, len))
            {
                v.push(violation(
                    Inv::OneInput,
                    format!(
                        "buffer at {} ms mixes inputs (primary {p}, secondary {s}, blended {blend}) \
                         away from any switch",
                        pts / MS
                    ),
                ));
                return;
            }
        }
    }
}

/// The checkers flag what they must: each invariant fed a stream that breaks it.
#[cfg(test)]
mod tests {
    use super::super::model::{Mark, SLOT};
    use super::*;

    fn raw(pts_ms: u64, value: f32, frames: usize) -> Out {
        let data: Vec<u8> = std::iter::repeat_n(value.to_le_bytes(), frames)
            .flatten()
            .collect();
        let mut b = gst::Buffer::from_mut_slice(data);
        let m = b.get_mut().unwrap();
        m.set_pts(gst::ClockTime::from_mseconds(pts_ms));
        m.set_duration(gst::ClockTime::from_nseconds(
            frames as u64 * 1_000_000_000 / 48_000,
        ));
        Out::Buffer(b)
    }

    fn unit(pts_ms: u64, from: u8, orig_ms: u64) -> Out {
        let mut d = vec![0u8; 16];
        d[0] = from;
        d[1..9].copy_from_slice(&(orig_ms * MS).to_le_bytes());
        let mut b = gst::Buffer::from_mut_slice(d);
        let m = b.get_mut().unwrap();
        m.set_pts(gst::ClockTime::from_mseconds(pts_ms));
        m.set_duration(gst::ClockTime::from_mseconds(20));
        Out::Buffer(b)
    }

    fn flowing(to_ms: u64) -> InputModel {
        let mut m = InputModel::new(SLOT);
        for t in (0..to_ms).step_by(10) {
            m.mark(t * MS, Mark::Data { end: (t + 10) * MS });
        }
        m
    }

    fn check(media: Media, items: &[Out]) -> Vec<Inv> {
        check_with(media, [flowing(1000), flowing(1000)], items)
    }

    /// With a `timeout` of 100 ms.
    fn check_with(media: Media, inputs: [InputModel; 2], items: &[Out]) -> Vec<Inv> {
        crate::common::init();
        let mut c = OutputCheck::new(media, 100 * MS);
        let mut v = Vec::new();
        for i in items {
            c.item(i, &inputs, &mut v);
        }
        v.iter().map(|v| v.inv).collect()
    }

    #[test]
    fn output_checks_flag_broken_streams() {
        crate::common::init();
        let ok = [raw(0, PRIMARY_VALUE, 480), raw(10, SECONDARY_VALUE, 480)];
        assert!(check(Media::Raw, &ok).is_empty());
        let overlap = [raw(0, PRIMARY_VALUE, 480), raw(5, SECONDARY_VALUE, 480)];
        assert_eq!(check(Media::Raw, &overlap), [Inv::Monotonic]);
        // a hole between two inputs (the primary had data there)
        let hole = [raw(0, PRIMARY_VALUE, 480), raw(20, SECONDARY_VALUE, 480)];
        assert_eq!(check(Media::Raw, &hole), [Inv::Continuous]);
        let short = [raw(0, PRIMARY_VALUE, 100)];
        let mut b = match &short[0] {
            Out::Buffer(b) => b.clone(),
            _ => unreachable!(),
        };
        b.make_mut().set_duration(gst::ClockTime::from_mseconds(10));
        assert_eq!(check(Media::Raw, &[Out::Buffer(b)]), [Inv::Timestamps]);
        assert_eq!(
            check(Media::Raw, &[raw(0, PRIMARY_MISMATCH, 441)]),
            [Inv::CapsEnforced]
        );
        assert_eq!(
            check(Media::Encoded, &[unit(0, UNIT_TAGS[3], 0)]),
            [Inv::CapsEnforced]
        );
        let moved = [unit(0, b'P', 0), unit(20, b'S', 40)];
        assert_eq!(check(Media::Encoded, &moved), [Inv::Mapping]);
        let seg = gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new());
        let two = [Out::Event(seg.clone()), Out::Event(seg.clone())];
        assert_eq!(check(Media::Raw, &two), [Inv::OneSegment]);
        let flushed = [
            Out::Event(seg.clone()),
            Out::Event(gst::event::FlushStop::new(true)),
            Out::Event(seg),
        ];
        assert!(check(Media::Raw, &flushed).is_empty());
        assert_eq!(
            check(Media::Raw, &[raw_caps(48_000), raw_caps(44_100)]),
            [Inv::OutputCaps]
        );
    }

    fn policy(restore_ms: u64, sticky: bool) -> Policy {
        Policy {
            timeout: 100 * MS,
            restore_delay: restore_ms * MS,
            sticky,
            crossfade: 0,
        }
    }

    fn switch(from: &str, to: &str, reason: &str, count: u64, at_ms: u64) -> Switch {
        Switch {
            from: from.into(),
            to: to.into(),
            reason: reason.into(),
            rt: at_ms * MS,
            count,
            lo: (at_ms - 10) * MS,
            hi: at_ms * MS,
        }
    }

    #[test]
    fn switch_checks_flag_unjustified_switches() {
        crate::common::init();
        let mut dead = InputModel::new(SLOT);
        dead.mark(0, Mark::Data { end: SLOT });
        let inputs = [flowing(2000), dead];
        let run = |p: Policy, switches: &[Switch]| {
            let mut c = SwitchCheck::new(p);
            let mut v = Vec::new();
            for s in switches {
                c.on_switch(s.clone(), &inputs, None, &mut v);
            }
            v.iter().map(|v| v.inv).collect::<Vec<_>>()
        };
        // to the secondary that has been silent for 1 s, away from a healthy primary
        assert_eq!(
            run(
                policy(0, false),
                &[switch("primary", "secondary", "timeout", 1, 1000)]
            ),
            [Inv::HealthyTarget, Inv::JustifiedSwitch]
        );
        // a wrong switch-count
        assert_eq!(
            run(
                policy(0, false),
                &[switch("primary", "none", "manual", 2, 1000)]
            ),
            [Inv::SwitchCount]
        );
        // restored in sticky mode, and too early
        let back = [
            switch("primary", "secondary", "manual", 1, 500),
            switch("secondary", "primary", "restored", 2, 1000),
        ];
        assert_eq!(
            run(policy(0, true), &back),
            [Inv::RestoreDelay, Inv::ManualHold]
        );
        assert!(run(policy(5000, false), &back).contains(&Inv::RestoreDelay));
        // raw samples of both inputs in one buffer, far from a switch
        let c = SwitchCheck::new(policy(0, false));
        let mut v = Vec::new();
        c.check_samples(
            &[(500 * MS, 10 * MS, vec![PRIMARY_VALUE, SECONDARY_VALUE])],
            &mut v,
        );
        assert_eq!(v[0].inv, Inv::OneInput);
    }

    fn raw_caps(rate: i32) -> Out {
        Out::Event(gst::event::Caps::new(
            &gst::Caps::builder("audio/x-raw")
                .field("format", "F32LE")
                .field("rate", rate)
                .field("channels", 1)
                .build(),
        ))
    }

    fn raw44(pts_ms: u64, value: f32) -> Out {
        let Out::Buffer(mut b) = raw(pts_ms, value, 441) else {
            unreachable!()
        };
        b.make_mut().set_duration(gst::ClockTime::from_mseconds(10));
        Out::Buffer(b)
    }

    #[test]
    fn a_format_hand_over_is_allowed_only_at_start_up() {
        crate::common::init();
        // both inputs moved to 44.1 kHz
        let moved = || {
            let mut m = flowing(1000);
            m.caps = CapsKind::Incompatible;
            m
        };
        let before = |n: u64| {
            let mut items = vec![raw_caps(48_000)];
            items.extend((0..n).map(|i| raw(i * 10, PRIMARY_VALUE, 480)));
            items.push(raw_caps(44_100));
            items
        };
        // Within the first 100 ms of output: the inputs' data in the new format
        // is their normal data, at the new rate.
        let mut early = before(5);
        early.extend((5..10).map(|i| raw44(i * 10, PRIMARY_MISMATCH)));
        early.extend((10..15).map(|i| raw44(i * 10, SECONDARY_MISMATCH)));
        assert!(check_with(Media::Raw, [moved(), moved()], &early).is_empty());
        // ... and then data in the old format is the mismatch
        let mut old = early.clone();
        old.push(raw44(150, SECONDARY_VALUE));
        assert_eq!(
            check_with(Media::Raw, [moved(), moved()], &old),
            [Inv::CapsEnforced]
        );
        // ... and buffers keep the new rate's durations
        let mut long = early.clone();
        long.push(raw(150, SECONDARY_MISMATCH, 480));
        assert_eq!(
            check_with(Media::Raw, [moved(), moved()], &long),
            [Inv::Timestamps]
        );
        // After 100 ms of output (and a sample) the format is settled.
        let mut late = before(11);
        late.push(raw44(110, PRIMARY_MISMATCH));
        assert_eq!(
            check_with(Media::Raw, [moved(), moved()], &late),
            [Inv::OutputCaps]
        );
        // Only to a format an input has.
        assert_eq!(
            check_with(Media::Raw, [flowing(1000), flowing(1000)], &before(5)),
            [Inv::OutputCaps]
        );
        // The samples kept for the end-of-case check read as the inputs' values: a
        // crossfade after the hand-over is no mixture, both inputs in a buffer are.
        let mut c = OutputCheck::new(Media::Raw, 100 * MS);
        let mut v = Vec::new();
        let inputs = [moved(), moved()];
        for i in &early {
            c.item(i, &inputs, &mut v);
        }
        assert!(c.handed_over && v.is_empty());
        let sw = SwitchCheck::new(policy(0, false));
        sw.check_samples(&c.raw, &mut v);
        assert!(v.is_empty(), "{v:?}");
        let mut mixed = c.raw.clone();
        mixed.push((400 * MS, 10 * MS, vec![PRIMARY_VALUE, SECONDARY_VALUE]));
        sw.check_samples(&mixed, &mut v);
        assert_eq!(v[0].inv, Inv::OneInput);
    }

    #[test]
    fn a_crossfade_runs_over_sound_not_over_holes() {
        crate::common::init();
        let mut p = policy(0, false);
        p.crossfade = 20 * MS;
        let mut sw = SwitchCheck::new(p);
        sw.switches
            .push(switch("primary", "secondary", "caps-mismatch", 1, 210));
        let fading = |from: f32| vec![from, from * 0.5, from * 0.25];
        let s = SECONDARY_VALUE;
        // 10 ms of fade, silence, a hole, the other 10 ms of fade
        let raw = vec![
            (210 * MS, 10 * MS, fading(s)),
            (220 * MS, 10 * MS, vec![0.0; 3]),
            (270 * MS, 10 * MS, fading(s)),
            (280 * MS, 10 * MS, vec![s; 3]),
        ];
        let mut v = Vec::new();
        sw.check_samples(&raw, &mut v);
        assert!(v.is_empty(), "{v:?}");
        // a blend after the fade's 20 ms of sound is flagged
        let mut after = raw.clone();
        after.push((310 * MS, 10 * MS, fading(s)));
        sw.check_samples(&after, &mut v);
        assert_eq!(v[0].inv, Inv::OneInput);
    }
}

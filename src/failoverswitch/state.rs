// SPDX-License-Identifier: MPL-2.0
//! Per-input and output state of `failoverswitch` (guarded by the element's state
//! mutex).

use std::collections::VecDeque;
use std::time::Instant;

use gst::prelude::*;

use super::capscheck::CapsDesc;
use super::fade::SampleFormat;
use super::imp::Settings;
use super::policy::{Input, InputHealth, Reason};
use super::timeline::SampleClock;

/// A standby buffer waiting for the output to reach its running time.
pub struct Held {
    pub start: u64,
    pub end: u64,
    pub buffer: gst::Buffer,
}

/// One input.
pub struct PadState {
    pub segment: gst::FormattedSegment<gst::ClockTime>,
    /// False after a segment in another format than TIME: timestamps are ignored.
    pub time_segment: bool,
    pub caps: Option<gst::Caps>,
    pub health: InputHealth,
    /// Reason given by an upstream `healthprobe` while it says unhealthy.
    pub probe_reason: Option<String>,
    /// Whether upstream is live (`None` until asked).
    pub live: Option<bool>,
    /// Pipeline clock time of the last data (live).
    pub last_data: Option<u64>,
    /// Monotonic time of the last data, for `stats`.
    pub last_data_instant: Option<Instant>,
    /// Running time at the end of the latest data.
    pub position: Option<u64>,
    /// Duration of the latest buffer, for buffers without one.
    pub last_duration: u64,
    pub held: VecDeque<Held>,
    pub flushing: bool,
    pub dropped: u64,
    pub active_time: u64,
    /// (rate, bytes per frame) when the input is interleaved raw audio.
    pub raw: Option<(u32, usize)>,
}

impl Default for PadState {
    fn default() -> Self {
        Self {
            segment: gst::FormattedSegment::new(),
            time_segment: true,
            caps: None,
            health: InputHealth::default(),
            probe_reason: None,
            live: None,
            last_data: None,
            last_data_instant: None,
            position: None,
            last_duration: 0,
            held: VecDeque::new(),
            flushing: false,
            dropped: 0,
            active_time: 0,
            raw: None,
        }
    }
}

impl PadState {
    /// The `reason` of `failover-input-health` for the current verdict.
    pub fn health_reason(&self) -> String {
        match self.health.fault() {
            None => "ok".into(),
            Some(Reason::Health) => self
                .probe_reason
                .clone()
                .unwrap_or_else(|| Reason::Health.as_str().into()),
            Some(r) => r.as_str().into(),
        }
    }

    /// Drops held buffers that the output has passed; returns how many.
    pub fn drop_held_before(&mut self, pos: Option<u64>) -> usize {
        let Some(pos) = pos else { return 0 };
        let before = self.held.len();
        self.held.retain(|h| h.end > pos);
        let n = before - self.held.len();
        self.dropped += n as u64;
        n
    }

    /// Keeps at most `span` ns of held data (oldest dropped first).
    pub fn cap_held(&mut self, span: u64) {
        while let (Some(first), Some(last)) = (self.held.front(), self.held.back()) {
            if last.end.saturating_sub(first.start) <= span || self.held.len() == 1 {
                break;
            }
            self.held.pop_front();
            self.dropped += 1;
        }
    }
}

/// Raw audio format of the output, when it is interleaved raw audio.
#[derive(Clone)]
pub struct RawFormat {
    pub info: gst_audio::AudioInfo,
    /// Blendable format, if crossfades are possible.
    pub sample: Option<SampleFormat>,
}

/// A fade in progress on the output.
pub struct Fade {
    pub pos: u64,
    pub len: u64,
    pub outgoing: Option<Input>,
}

/// The output.
#[derive(Default)]
pub struct Output {
    pub caps: Option<gst::Caps>,
    pub desc: Option<CapsDesc>,
    pub raw: Option<RawFormat>,
    /// Running time at the end of what was sent.
    pub pos: Option<u64>,
    pub clock: SampleClock,
    pub stream_start_sent: bool,
    pub caps_pending: bool,
    pub segment_pending: bool,
    pub discont: bool,
    /// Set at a switch: the next buffer is trimmed sample-accurately and, for encoded
    /// media, must be a keyframe.
    pub just_switched: bool,
    pub fade: Option<Fade>,
    pub eos_sent: bool,
}

/// Everything the state mutex guards.
pub struct State {
    pub pads: [PadState; 2],
    pub active: Option<Input>,
    pub out: Output,
    pub switch_count: u64,
    /// Element not running (READY or below, or going there).
    pub shutdown: bool,
    pub playing: bool,
    /// Clock time when the element went to PLAYING (no-data timeouts count from there).
    pub playing_since: Option<u64>,
    pub clock_id: Option<gst::SingleShotClockId>,
    pub group_id: gst::GroupId,
    /// Messages and warnings to post once the lock is released, in order.
    pub notes: Vec<Note>,
    /// Standby inputs blocked until the output reaches their data (not live).
    pub waiting: usize,
    /// Output position at which blocked standby inputs are woken.
    pub wake_at: u64,
    /// caps-check=none: the output follows the active input's caps.
    pub follow_caps: bool,
    /// A copy of the properties, for the streaming threads.
    pub settings: Settings,
}

impl State {
    pub fn new(active: Input) -> Self {
        Self {
            pads: Default::default(),
            active: Some(active),
            out: Output {
                segment_pending: true,
                discont: true,
                ..Default::default()
            },
            switch_count: 0,
            shutdown: true,
            playing: false,
            playing_since: None,
            clock_id: None,
            group_id: gst::GroupId::next(),
            notes: Vec::new(),
            waiting: 0,
            wake_at: u64::MAX,
            follow_caps: false,
            settings: Settings::default(),
        }
    }

    pub fn pad(&self, i: Input) -> &PadState {
        &self.pads[i.index()]
    }

    pub fn pad_mut(&mut self, i: Input) -> &mut PadState {
        &mut self.pads[i.index()]
    }

    pub fn health(&self) -> [InputHealth; 2] {
        [self.pads[0].health.clone(), self.pads[1].health.clone()]
    }

    pub fn live(&self) -> bool {
        self.pads.iter().any(|p| p.live == Some(true))
    }
}

/// A side effect decided under the state lock, carried out after it is released.
pub enum Note {
    Switched {
        from: Option<Input>,
        to: Option<Input>,
        reason: Reason,
        running_time: u64,
        count: u64,
    },
    Health {
        pad: Input,
        healthy: bool,
        reason: String,
    },
    Warning(String),
}

/// A running time as a `ClockTime`, saturated below `GST_CLOCK_TIME_NONE` (bad
/// timestamps near the end of time must not turn into "no time", nor panic).
pub fn clock_time(ns: u64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(ns.min(gst::ClockTime::MAX.nseconds()))
}

/// Reduces caps to the description the compatibility check works on.
pub fn caps_desc(caps: &gst::CapsRef) -> CapsDesc {
    let Some(s) = caps.structure(0) else {
        return CapsDesc::default();
    };
    CapsDesc {
        media_type: s.name().to_string(),
        fields: s
            .iter()
            .map(|(k, v)| {
                let text = v
                    .serialize()
                    .map(|g| g.to_string())
                    .unwrap_or_else(|_| format!("{v:?}"));
                (k.to_string(), text)
            })
            .collect(),
    }
}

/// Raw audio description of caps, if they are interleaved raw audio.
pub fn raw_format(caps: &gst::CapsRef) -> Option<RawFormat> {
    let info = gst_audio::AudioInfo::from_caps(caps).ok()?;
    if info.layout() != gst_audio::AudioLayout::Interleaved || info.bpf() == 0 {
        return None;
    }
    let sample = SampleFormat::from_gst(info.format());
    Some(RawFormat { info, sample })
}

// SPDX-License-Identifier: MPL-2.0
//! Everything `failoverswitch`'s state mutex guards — settings, both inputs, the
//! output — and the health/switch state machine that runs on it: `settle`,
//! `set_flag`, `refresh`, `evaluate`, `switch`. The decisions themselves are in the
//! pure `policy` module; these methods feed it and record what it decided as notes
//! for the outbox.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::capscheck::{CapsDesc, Kind};
use super::decode::DecodeLine;
use super::group::Group;
use super::policy::{self, Input, InputHealth, Mode, PolicyConfig, Reason};
use super::timeline::{self, SampleClock, StillWatch};
use super::{AlignMode, CapsCheck, FailoverMode};
use crate::outbox::Outbox;
use crate::sample_format::SampleFormat;

pub(super) const DEFAULT_TIMEOUT: u64 = 1_000_000_000;
pub(super) const DEFAULT_RESTORE_DELAY: u64 = 5_000_000_000;
pub(super) const DEFAULT_CROSSFADE: u64 = 20_000_000;
pub(super) const DEFAULT_MAX_OFFSET: u64 = 2_000_000_000;

/// The properties. They live here, under the state lock, and nowhere else.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub timeout: u64,
    pub restore_delay: u64,
    pub mode: FailoverMode,
    pub auto_switch: bool,
    pub caps_check: CapsCheck,
    pub crossfade: u64,
    pub fill_silence: bool,
    /// Live: the output is held back this long (ns), so a switch can reach back.
    pub latency: u64,
    /// Switches with the same group name in one pipeline switch as one.
    pub group: Option<String>,
    /// How the inputs are aligned by content, the largest offset searched, and the
    /// offset written by the application (`align=manual`).
    pub align: AlignMode,
    pub max_offset: u64,
    pub offset: i64,
    /// Input that is active when the element starts.
    pub start_pad: Input,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            restore_delay: DEFAULT_RESTORE_DELAY,
            mode: FailoverMode::PrimaryPreferred,
            auto_switch: true,
            caps_check: CapsCheck::Strict,
            crossfade: DEFAULT_CROSSFADE,
            fill_silence: true,
            latency: 0,
            group: None,
            align: AlignMode::Auto,
            max_offset: DEFAULT_MAX_OFFSET,
            offset: 0,
            start_pad: Input::Primary,
        }
    }
}

impl Settings {
    pub fn policy(&self) -> PolicyConfig {
        PolicyConfig {
            mode: match self.mode {
                FailoverMode::PrimaryPreferred => Mode::PrimaryPreferred,
                FailoverMode::Sticky => Mode::Sticky,
            },
            auto_switch: self.auto_switch,
            restore_delay: self.restore_delay,
        }
    }
}

/// A buffer waiting on an input: the active input's until it goes out, the
/// standby's until the output has passed its running time.
pub(super) struct Held {
    pub start: u64,
    pub end: u64,
    /// Decode time on the output timeline (see `decode::decode_time`); `None`
    /// without a DTS.
    pub dts: Option<u64>,
    pub buffer: gst::Buffer,
}

/// One input.
pub(super) struct PadState {
    pub segment: gst::FormattedSegment<gst::ClockTime>,
    /// False after a segment in another format than TIME: timestamps are ignored.
    pub time_segment: bool,
    pub caps: Option<gst::Caps>,
    /// `caps` reduced for the compatibility check.
    pub desc: Option<CapsDesc>,
    /// Incompatible caps found, but upstream was asked to renegotiate: warn only if
    /// its data still has them from this running time on (data already on its way
    /// when it was asked, in queues, is let pass). `Some(None)`: from its next data
    /// plus the grace time.
    pub mismatch_report_after: Option<Option<u64>>,
    /// Whether upstream can produce the output format (asked when it was asked to
    /// renegotiate); `Some(false)` for a rigid upstream.
    pub convertible: Option<bool>,
    pub health: InputHealth,
    /// Reason given by an upstream `healthprobe` while it says unhealthy.
    pub probe_reason: Option<String>,
    /// Whether upstream is live (`None` until asked), and its minimum latency.
    pub live: Option<bool>,
    pub latency: u64,
    /// Pipeline clock time of the last data that could still reach the output (live).
    pub last_data: Option<u64>,
    /// Monotonic time of the last data, for `stats`.
    pub last_data_instant: Option<Instant>,
    /// Running time at the end of the latest data.
    pub position: Option<u64>,
    /// End of its latest data in decode order (decode time plus duration): where its
    /// next unit is due (with B-frames its presentation times jump back and forth).
    pub decode_end: Option<u64>,
    /// Duration of the latest buffer, for buffers without one.
    pub last_duration: u64,
    /// The timeout this input needs (its buffers are longer than `timeout`), 0 if
    /// `timeout` is enough.
    pub needed_timeout: u64,
    pub held: VecDeque<Held>,
    pub flushing: bool,
    /// Its FLUSH_START went out: its FLUSH_STOP must follow.
    pub flush_forwarded: bool,
    pub dropped: u64,
    /// Buffers dropped since the last warning about data behind the output.
    pub dropped_behind: u64,
    pub active_time: u64,
    /// (rate, bytes per frame) when the input is interleaved raw audio.
    pub raw: Option<(u32, usize)>,
    /// Alignment: the input's data is placed this much earlier on the output
    /// timeline than its own running time.
    pub shift: i64,
    /// Catching up: the input's data is placed this much later on the output
    /// timeline, for the rest of its stream, because a switch to it had to start at
    /// a keyframe that arrived behind the output (see `switchpoint::lag_behind`).
    pub delay: u64,
    /// Alignment (auto): the input was interrupted (a reconnection places it anew);
    /// from this own running time on, until measured again, it is not restored to.
    pub realign: Option<u64>,
    /// ... and the estimator must forget its history before its next data.
    pub align_reset: bool,
}

impl Default for PadState {
    fn default() -> Self {
        Self {
            segment: gst::FormattedSegment::new(),
            time_segment: true,
            caps: None,
            desc: None,
            mismatch_report_after: None,
            convertible: None,
            health: InputHealth::default(),
            probe_reason: None,
            live: None,
            latency: 0,
            last_data: None,
            last_data_instant: None,
            position: None,
            decode_end: None,
            last_duration: 0,
            needed_timeout: 0,
            held: VecDeque::new(),
            flushing: false,
            flush_forwarded: false,
            dropped: 0,
            dropped_behind: 0,
            active_time: 0,
            raw: None,
            shift: 0,
            delay: 0,
            realign: None,
            align_reset: false,
        }
    }
}

impl PadState {
    /// How much earlier than its own running time the input's data is placed on the
    /// output timeline: its alignment less its catch-up delay.
    pub fn placed_earlier(&self) -> i64 {
        self.shift
            .saturating_sub(i64::try_from(self.delay).unwrap_or(i64::MAX))
    }

    /// Places the input `by` later from now on (its held data and position too).
    pub fn delay_by(&mut self, by: u64) {
        self.delay = self.delay.saturating_add(by);
        for h in self.held.iter_mut() {
            h.start = h.start.saturating_add(by);
            h.end = h.end.saturating_add(by);
            h.dts = h.dts.map(|d| d.saturating_add(by));
        }
        self.position = self.position.map(|p| p.saturating_add(by));
        self.decode_end = self.decode_end.map(|p| p.saturating_add(by));
    }

    /// The `reason` of `failover-input-health` for the current verdict.
    pub fn health_reason(&self) -> String {
        if self.health.absent && !self.health.eos {
            return "unlinked".into();
        }
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

    /// Span of the held data, first start to last end.
    pub fn held_span(&self) -> u64 {
        match (self.held.front(), self.held.back()) {
            (Some(a), Some(b)) => b.end.saturating_sub(a.start),
            _ => 0,
        }
    }

    /// Whether upstream is a live source (a non-live input in a live pipeline, such
    /// as a fallback file, is consumed at the output's pace).
    pub fn is_live(&self) -> bool {
        self.live == Some(true)
    }
}

/// Raw audio format of the output, when it is interleaved raw audio.
#[derive(Clone)]
pub(super) struct RawFormat {
    pub info: gst_audio::AudioInfo,
    /// Blendable format, if crossfades are possible.
    pub sample: Option<SampleFormat>,
}

/// A fade in progress on the output.
pub(super) struct Fade {
    pub pos: u64,
    pub len: u64,
    pub outgoing: Option<Input>,
}

/// The output.
#[derive(Default)]
pub(super) struct Output {
    /// Caps of the output: those of the first active input to negotiate, then its
    /// refinements; `None` until fixed.
    pub caps: Option<gst::Caps>,
    /// `caps` reduced for the compatibility check.
    pub desc: Option<CapsDesc>,
    /// Which input fixed the caps. Until data has gone out for `timeout`, an input
    /// that fails hands the choice to the other (garbage on the primary must not
    /// decide the format for good).
    pub fixed_by: Option<Input>,
    pub raw: Option<RawFormat>,
    /// Running time at the end of what was sent (presented: the latest end of a
    /// presentation time).
    pub pos: Option<u64>,
    /// Decode order of what was sent: decode times never go back.
    pub decode: DecodeLine,
    /// Running time of the first data sent.
    pub first_pos: Option<u64>,
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

impl Output {
    /// Whether the output format is settled: data has gone out for `timeout`.
    pub fn confirmed(&self, timeout: u64) -> bool {
        match (self.first_pos, self.pos) {
            (Some(a), Some(b)) => b.saturating_sub(a) >= timeout,
            _ => false,
        }
    }
}

/// A switch that takes effect at a switch point (encoded video: the incoming
/// input's keyframe; a group member: the point its video member chose).
#[derive(Debug, Clone, Copy)]
pub(super) struct Staged {
    pub to: Input,
    pub reason: Reason,
    /// Running time where it takes effect, once known.
    pub at: Option<u64>,
    /// How much later the incoming input was placed to catch up (see
    /// `switchpoint::lag_behind`; a group member: as its video member did).
    pub delayed: u64,
    /// The incoming input lags too far to catch up: the WARNING went out.
    pub warned: bool,
}

/// A side effect decided under the state lock, carried out by the outbox once the
/// locks are released.
pub(super) enum Note {
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
    /// The alignment estimate changed (`failover-aligned`).
    Aligned {
        offset: i64,
        confident: bool,
        confidence: f64,
        running_time: u64,
    },
    /// The latency the element adds changed: the pipeline must recompute it.
    LatencyChanged,
    /// Tell the input's upstream whether it is on air (`failover-on-air`).
    OnAir(Input, bool),
    /// Ask the input's upstream to renegotiate (the output caps changed).
    Reconfigure(Input),
    /// The group decided or chose a switch point: the other members look.
    GroupChanged,
}

/// Everything the state mutex guards.
pub(super) struct State {
    pub settings: Settings,
    pub pads: [PadState; 2],
    /// The input whose data goes out.
    pub active: Option<Input>,
    /// A decided switch waiting for its switch point.
    pub next: Option<Staged>,
    /// The group this element belongs to, its member id, and the last group decision
    /// it applied.
    pub group: Option<Arc<Group>>,
    pub member_id: usize,
    pub group_seq: u64,
    pub out: Output,
    pub switch_count: u64,
    /// The application chose the active input (`active-pad`): no automatic restore.
    pub manual_hold: bool,
    /// Element not running (READY or below, or going there).
    pub shutdown: bool,
    pub playing: bool,
    /// Has been PLAYING since it started (a later PAUSED is the application's pause,
    /// an earlier one the preroll).
    pub played: bool,
    /// Clock time when the element went to PLAYING (no-data timeouts count from there).
    pub playing_since: Option<u64>,
    /// Running time when it last went to PLAYING: a live input's data from before
    /// is not late before its timeout has passed from there (a pipeline slow to
    /// reach PLAYING is not the input's fault).
    pub playing_rt: Option<u64>,
    /// Clock time when it last left PLAYING.
    pub paused_at: Option<u64>,
    pub clock_id: Option<gst::SingleShotClockId>,
    pub group_id: gst::GroupId,
    pub outbox: Outbox<Note>,
    /// Alignment (auto): the estimator currently has a confident offset.
    pub aligned: bool,
    /// Every input ended by being unlinked: the timer task sends EOS.
    pub eos_pending: bool,
    /// Not live: how long the output has stood still.
    pub still: StillWatch,
    /// Waiting threads (standby inputs, the timer task) must look at the state again.
    pub wake: bool,
    /// Standby inputs blocked until the output reaches their data.
    pub waiting: usize,
    /// Output position at which blocked standby inputs are woken.
    pub wake_at: u64,
}

impl State {
    pub fn new(settings: Settings) -> Self {
        Self {
            pads: Default::default(),
            active: Some(settings.start_pad),
            next: None,
            group: None,
            member_id: 0,
            group_seq: 0,
            settings,
            out: Output {
                segment_pending: true,
                discont: true,
                ..Default::default()
            },
            switch_count: 0,
            manual_hold: false,
            shutdown: true,
            playing: false,
            played: false,
            playing_since: None,
            playing_rt: None,
            paused_at: None,
            clock_id: None,
            group_id: gst::GroupId::next(),
            outbox: Outbox::default(),
            still: StillWatch::default(),
            eos_pending: false,
            aligned: false,
            wake: false,
            waiting: 0,
            wake_at: u64::MAX,
        }
    }

    pub fn pad(&self, i: Input) -> &PadState {
        &self.pads[i.index()]
    }

    pub fn pad_mut(&mut self, i: Input) -> &mut PadState {
        &mut self.pads[i.index()]
    }

    /// Any input is live: timing is on the pipeline clock.
    pub fn live(&self) -> bool {
        self.pads.iter().any(PadState::is_live)
    }

    /// caps-check=none: the output follows the active input's caps.
    pub fn follow_caps(&self) -> bool {
        self.settings.caps_check == CapsCheck::None
    }

    /// The timeout that applies to an input: `timeout`, or more where its buffers
    /// are longer.
    pub fn timeout_of(&self, i: Input) -> u64 {
        self.settings.timeout.max(self.pad(i).needed_timeout)
    }

    /// Time base of the restore hold-off: the clock when live, else the primary's
    /// running time. Live and paused (after PLAYING), it stands still at the pause:
    /// time spent paused never counts towards a hold-off (PAUSED -> PLAYING moves
    /// the hold-offs on by the pause).
    pub fn policy_now(&self, clock_now: Option<u64>) -> u64 {
        if self.live() {
            match self.paused_at.filter(|_| !self.playing) {
                Some(paused_at) => paused_at,
                None => clock_now.unwrap_or(0),
            }
        } else {
            self.pad(Input::Primary).position.unwrap_or(0)
        }
    }

    /// Re-arms the timer task and wakes waiting standby inputs.
    pub fn wake(&mut self) {
        if let Some(id) = self.clock_id.take() {
            id.unschedule();
        }
        self.wake = true;
    }

    /// Reports a changed verdict of input `i` and keeps its restore hold-off.
    pub fn settle(&mut self, i: Input, was_healthy: bool, now: u64) {
        if self.pad_mut(i).health.settle(was_healthy, now) {
            let p = self.pad(i);
            let note = Note::Health {
                pad: i,
                healthy: p.health.is_healthy(),
                reason: p.health_reason(),
            };
            self.outbox.push(note);
        }
    }

    /// Changes health flags of an input and reports a changed verdict.
    pub fn set_flag(&mut self, i: Input, now: u64, f: impl FnOnce(&mut InputHealth)) {
        let was = self.pad(i).health.is_healthy();
        f(&mut self.pad_mut(i).health);
        self.settle(i, was, now);
    }

    /// Live: marks inputs without data for their timeout as timed out (`base` is the
    /// element's base time).
    pub fn refresh(&mut self, clock_now: Option<u64>, base: u64) {
        let Some(now) = clock_now.filter(|_| self.live() && self.playing) else {
            return;
        };
        for i in Input::BOTH {
            if self.holds_ahead(i, now.saturating_sub(base)) {
                continue;
            }
            let p = self.pad(i);
            let since = p.last_data.or(self.playing_since);
            let due = since.is_some_and(|t| now >= t.saturating_add(self.timeout_of(i)));
            if !p.health.timed_out && !p.health.absent && due {
                let pnow = self.policy_now(Some(now));
                self.time_out(i, pnow);
            }
        }
    }

    /// An input that is not live (a fallback file in a live pipeline) has not stalled
    /// while it has data ahead: waiting beyond the output, or, once it carries the
    /// output, beyond the clock's running time `clock_rt` (it is read faster than
    /// real time).
    pub fn holds_ahead(&self, i: Input, clock_rt: u64) -> bool {
        let p = self.pad(i);
        let waiting = p
            .held
            .back()
            .is_some_and(|h| self.out.pos.is_none_or(|o| h.end > o));
        !p.is_live() && (waiting || p.position.is_some_and(|pos| pos > clock_rt))
    }

    /// The input the element decided on: where a staged switch goes, else the
    /// active input.
    pub fn target(&self) -> Option<Input> {
        self.next.map(|n| Some(n.to)).unwrap_or(self.active)
    }

    /// Whether the output is encoded video: switches take effect at keyframes.
    pub fn chooses_keyframes(&self) -> bool {
        self.out
            .desc
            .as_ref()
            .is_some_and(|d| d.kind() == Kind::Encoded && d.media_type.starts_with("video/"))
    }

    /// Whether a switch waits for a switch point (this element's keyframes, or its
    /// group's video member's).
    pub fn needs_switch_point(&self) -> bool {
        self.chooses_keyframes() || self.group.as_ref().is_some_and(|g| g.lock().has_video())
    }

    /// Asks the policy whether to switch (the group's, for a member of one), and does.
    pub fn evaluate(&mut self, now: u64) {
        self.hand_over_caps(now);
        let health = [self.pads[0].health.clone(), self.pads[1].health.clone()];
        let Some(group) = self.group.clone() else {
            let decision = policy::decide(
                &self.settings.policy(),
                self.target(),
                &health,
                now,
                self.manual_hold,
            );
            if let Some(sw) = decision.filter(|sw| sw.to != self.target()) {
                self.switch(sw.to, sw.reason);
            }
            return;
        };
        let (seq, target, reason) = {
            let mut gs = group.lock();
            gs.update(self.member_id, health, self.chooses_keyframes());
            if let Some(sw) = gs.decide(&self.settings.policy(), now) {
                gst::debug!(
                    super::imp::CAT,
                    "group {} decides: {} ({})",
                    group.name(),
                    Input::name_of(sw.to),
                    sw.reason.as_str()
                );
                gs.apply(sw.to, sw.reason);
                self.outbox.push(Note::GroupChanged);
            }
            (gs.seq, gs.target, gs.reason)
        };
        self.follow_group(seq, target, reason);
    }

    /// Applies the group's latest decision once.
    fn follow_group(&mut self, seq: u64, target: Option<Input>, reason: Reason) {
        if seq == self.group_seq {
            return;
        }
        self.group_seq = seq;
        self.manual_hold = reason == Reason::Manual;
        if target != self.target() {
            self.switch(target, reason);
        }
    }

    /// The application chose `target` (`active-pad`): for the whole group, if any.
    pub fn manual(&mut self, target: Input) {
        let Some(group) = self.group.clone() else {
            if self.target() != Some(target) {
                self.switch(Some(target), Reason::Manual);
            }
            self.manual_hold = true;
            return;
        };
        let seq = {
            let mut gs = group.lock();
            gs.apply(Some(target), Reason::Manual);
            gs.seq
        };
        self.outbox.push(Note::GroupChanged);
        self.follow_group(seq, Some(target), Reason::Manual);
    }

    /// Switches to `to`: at once, or, where a switch point is needed, staged until
    /// it is known (see `staged.rs`). Switching back to the active input cancels a
    /// staged switch that has not taken effect.
    pub fn switch(&mut self, to: Option<Input>, reason: Reason) {
        self.manual_hold = reason == Reason::Manual;
        if to == self.active {
            if self.next.take().is_some() {
                gst::debug!(super::imp::CAT, "staged switch called off");
            }
            return;
        }
        match (self.active, to) {
            (Some(_), Some(to)) if self.needs_switch_point() => {
                self.next = Some(Staged {
                    to,
                    reason,
                    at: None,
                    delayed: 0,
                    warned: false,
                });
                self.wake();
            }
            _ => {
                self.next = None;
                self.take_effect(to, reason, None);
            }
        }
    }

    /// The output goes over to `to` now (`at`: the switch point, for the message).
    pub fn take_effect(&mut self, to: Option<Input>, reason: Reason, at: Option<u64>) {
        let from = self.active;
        self.active = to;
        self.switch_count += 1;
        self.out.discont = true;
        self.out.just_switched = true;
        let crossfade = self.settings.crossfade;
        self.out.fade = match (&self.out.raw, to) {
            (Some(raw), Some(_)) if crossfade > 0 && raw.sample.is_some() => Some(Fade {
                pos: 0,
                len: timeline::ns_to_frames(crossfade, raw.info.rate()),
                outgoing: from.filter(|_| reason.outgoing_alive()),
            }),
            _ => None,
        };
        if let Some(i) = to {
            self.caps_for_switch(i);
        }
        self.outbox.push(Note::Switched {
            from,
            to,
            reason,
            running_time: at.or(self.out.pos).unwrap_or(0),
            count: self.switch_count,
        });
        for i in Input::BOTH {
            if !self.pad(i).health.absent {
                self.outbox.push(Note::OnAir(i, to == Some(i)));
            }
        }
        self.wake();
    }

    /// Live: whether input `i`'s data runs more than its timeout (plus its latency)
    /// behind the clock's running time `clock_rt` (a throttled link delivers a
    /// trickle: data keeps coming, ever later).
    pub fn is_late(&self, i: Input, clock_rt: Option<u64>) -> bool {
        let p = self.pad(i);
        let own = p
            .position
            .map(|pos| pos.saturating_add_signed(p.placed_earlier()));
        match (clock_rt.filter(|_| p.is_live()), own) {
            (Some(rt), Some(pos)) => {
                rt > self
                    .counts_from(pos)
                    .saturating_add(p.latency)
                    .saturating_add(self.timeout_of(i))
            }
            _ => false,
        }
    }

    /// Own running time `t` of live data, for judging whether it is current: not
    /// before the element went to PLAYING.
    pub fn counts_from(&self, t: u64) -> u64 {
        self.playing_rt.map_or(t, |p| t.max(p))
    }

    /// Marks an input as timed out, saying why where its data was there but behind
    /// the output.
    pub fn time_out(&mut self, i: Input, now: u64) {
        let behind = std::mem::take(&mut self.pad_mut(i).dropped_behind);
        if behind > 0 && !self.pad(i).health.timed_out {
            self.outbox.push(Note::Warning(format!(
                "{} input's timestamps went back behind the output: {behind} buffers dropped",
                i.name()
            )));
        }
        self.set_flag(i, now, |h| h.timed_out = true);
    }
}

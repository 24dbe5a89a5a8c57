// SPDX-License-Identifier: MPL-2.0
//! The element's state and its per-buffer / per-timer bookkeeping: connects the
//! pure trackers (level, silence, bitrate, lateness, discont, schedule, verdict) to GStreamer
//! buffers, events and structures. No locking, clock waiting or sending here: the
//! element (`imp`) holds the lock around these calls and sends what they queue.

use crate::outbox::Outbox;
use gst::prelude::*;
use std::sync::LazyLock;

use super::bitrate::BitrateWindow;
use super::discont::DiscontTracker;
use super::lateness::{LateTracker, TimeBase, lag, time_base};
use super::level::{AudioLayout, Level};
use super::schedule::Schedule;
use super::silence::{SilenceTracker, block_frames};
use super::verdict::{Conditions, Verdict, VerdictTracker, report_reason};
use crate::sample_format::SampleFormat;

pub(super) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "healthprobe",
        gst::DebugColorFlags::empty(),
        Some("Failover health probe"),
    )
});

/// Structure name of the bus message.
pub const MESSAGE_NAME: &str = "health";

pub(super) const SECOND: u64 = 1_000_000_000;
pub(super) const DEFAULT_STALL_TIMEOUT: u64 = SECOND;
pub(super) const DEFAULT_SILENCE_THRESHOLD: f64 = -60.0;
pub(super) const DEFAULT_SILENCE_DURATION: u64 = 5 * SECOND;
pub(super) const DEFAULT_MIN_BITRATE: u64 = 0;
pub(super) const DEFAULT_WINDOW: u64 = 2 * SECOND;
pub(super) const DEFAULT_INTERVAL: u64 = SECOND;
pub(super) const MIN_WINDOW: u64 = 10_000_000;
pub(super) const MAX_WINDOW: u64 = 3600 * SECOND;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Settings {
    pub(super) stall_timeout: u64,
    pub(super) silence_threshold: f64,
    pub(super) silence_duration: u64,
    pub(super) min_bitrate: u64,
    pub(super) window: u64,
    pub(super) interval: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            silence_threshold: DEFAULT_SILENCE_THRESHOLD,
            silence_duration: DEFAULT_SILENCE_DURATION,
            min_bitrate: DEFAULT_MIN_BITRATE,
            window: DEFAULT_WINDOW,
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// Level measurement of raw audio in a supported format.
pub(super) struct Audio {
    layout: AudioLayout,
    /// Scratch level of the block being judged.
    block: Level,
    /// Level since the previous `health` message.
    report: Level,
    block_frames: usize,
}

/// Something to tell the outside world, in order, without the lock.
pub(super) enum Outgoing {
    /// Verdict changed: bus message, downstream event, then `notify::healthy` if the
    /// health flipped.
    Change {
        verdict: Verdict,
        message: gst::Structure,
        healthy_flipped: bool,
    },
    /// Periodic bus message.
    Report(gst::Structure),
    /// `notify::healthy` alone (reset to READY).
    NotifyHealthy,
}

#[derive(Default)]
pub(super) struct Timer {
    /// Generation of the pending timer; callbacks of older ones are ignored.
    pub(super) generation: u64,
    pub(super) id: Option<gst::SingleShotClockId>,
    pub(super) deadline: Option<u64>,
}

/// A timer to arm (and an old one to cancel) once the lock is released.
pub(super) struct ArmPlan {
    pub(super) clock: Option<gst::Clock>,
    pub(super) at: u64,
    pub(super) generation: u64,
    pub(super) cancel: Option<gst::SingleShotClockId>,
}

pub(super) struct State {
    pub(super) settings: Settings,
    pub(super) audio: Option<Audio>,
    /// Caps are raw media: the bitrate is reported but never judged.
    pub(super) raw: bool,
    /// `None`: no segment seen yet (timestamps taken as running time).
    pub(super) segment: Option<gst::Segment>,
    pub(super) silence: SilenceTracker,
    pub(super) bitrate: BitrateWindow,
    /// Time base the bitrate window holds; a change of base restarts the window.
    pub(super) bitrate_base: Option<TimeBase>,
    pub(super) late: LateTracker,
    /// Upstream's answer to the latency query: live or not (`None`: not asked yet).
    pub(super) live: Option<bool>,
    /// Upstream minimum latency (ns): how long live data may take to arrive.
    pub(super) latency: u64,
    /// Ask upstream for its latency before judging the next data.
    pub(super) latency_due: bool,
    pub(super) discont: DiscontTracker,
    pub(super) schedule: Schedule,
    pub(super) verdict: VerdictTracker,
    pub(super) playing: bool,
    pub(super) clock: Option<gst::Clock>,
    pub(super) timer: Timer,
    pub(super) outbox: Outbox<Outgoing>,
}

impl Default for State {
    fn default() -> Self {
        let settings = Settings::default();
        State {
            settings,
            audio: None,
            raw: false,
            segment: None,
            silence: SilenceTracker::new(
                settings.silence_threshold,
                settings.silence_duration,
                48_000,
            ),
            bitrate: BitrateWindow::new(settings.window),
            bitrate_base: None,
            late: LateTracker::new(),
            live: None,
            latency: 0,
            latency_due: true,
            discont: DiscontTracker::new(),
            schedule: Schedule::new(settings.stall_timeout, settings.interval),
            verdict: VerdictTracker::default(),
            playing: false,
            clock: None,
            timer: Timer::default(),
            outbox: Outbox::default(),
        }
    }
}

impl State {
    pub(super) fn now(&self) -> Option<u64> {
        if !self.schedule.is_running() {
            return None;
        }
        self.clock.as_ref().map(|c| c.time().nseconds())
    }

    pub(super) fn conditions(&self) -> Conditions {
        Conditions {
            stalled: self.schedule.is_stalled(),
            late: self.late.is_late(),
            silent: self.audio.is_some() && self.silence.is_silent(),
            low_bitrate: !self.raw && self.bitrate.is_low(),
        }
    }

    /// Builds the `health` message structure; restarts the level and discont
    /// counts of the report period.
    pub(super) fn health_structure(
        &mut self,
        verdict: Verdict,
        periodic: bool,
        now: Option<u64>,
    ) -> gst::Structure {
        let disconts = self.discont.take_since_report();
        let reason = if periodic {
            report_reason(verdict, disconts)
        } else {
            verdict.reason
        };
        let age = now
            .and_then(|now| self.schedule.last_buffer_age(now))
            .map(gst::ClockTime::from_nseconds);
        let mut b = gst::Structure::builder(MESSAGE_NAME)
            .field("healthy", verdict.healthy)
            .field("reason", reason.as_str());
        if let Some(audio) = self.audio.as_mut() {
            b = b
                .field("rms-db", gst::Array::new(audio.report.rms_db()))
                .field("peak-db", gst::Array::new(audio.report.peak_db()));
            audio.report.reset();
        }
        b.field("bitrate", self.bitrate.bitrate().unwrap_or(0))
            .field("last-buffer-age", age)
            .field("discont-count", self.discont.count())
            .build()
    }

    /// Re-judges and queues the notifications of a change.
    pub(super) fn reevaluate(&mut self, now: Option<u64>) {
        let before = self.verdict.current();
        if let Some(verdict) = self.verdict.update(self.conditions()) {
            gst::info!(
                CAT,
                "verdict: healthy={} reason={}",
                verdict.healthy,
                verdict.reason.as_str()
            );
            let message = self.health_structure(verdict, false, now);
            self.outbox.push(Outgoing::Change {
                verdict,
                message,
                healthy_flipped: before.healthy != verdict.healthy,
            });
        }
    }

    /// Decides whether a (new) timer must be armed; takes the old one to cancel.
    pub(super) fn plan_timer(&mut self) -> Option<ArmPlan> {
        let clock = self.clock.clone()?;
        let at = self.schedule.rearm_at(self.timer.deadline)?;
        self.timer.generation += 1;
        self.timer.deadline = Some(at);
        Some(ArmPlan {
            clock: Some(clock),
            at,
            generation: self.timer.generation,
            cancel: self.timer.id.take(),
        })
    }

    /// Invalidates the pending timer; returns it for cancelling without the lock.
    pub(super) fn drop_timer(&mut self) -> Option<gst::SingleShotClockId> {
        self.timer.generation += 1;
        self.timer.deadline = None;
        self.timer.id.take()
    }

    fn min_bitrate(&self) -> u64 {
        if self.raw {
            0
        } else {
            self.settings.min_bitrate
        }
    }

    /// New caps: raw or not, and the audio layout to measure (if supported).
    pub(super) fn set_caps(&mut self, caps: &gst::CapsRef) {
        let s = caps.structure(0);
        self.raw = s.is_some_and(|s| s.name().ends_with("/x-raw"));
        let is_audio = s.is_some_and(|s| s.name() == "audio/x-raw");
        let layout = if is_audio { audio_layout(caps) } else { None };
        if is_audio && layout.is_none() {
            gst::debug!(
                CAT,
                "no level measurement for {caps}: needs interleaved S16/S32/F32/F64"
            );
        }
        let same = matches!((&self.audio, &layout), (Some(a), Some(l)) if a.layout == *l);
        if !same {
            self.audio = layout.map(|layout| Audio {
                layout,
                block: Level::new(layout.channels),
                report: Level::new(layout.channels),
                block_frames: block_frames(layout.rate),
            });
            if let Some(l) = layout {
                self.silence.set_rate(l.rate);
            }
            self.silence.reset();
        }
        self.bitrate.judge(self.min_bitrate());
        self.latency_due = true;
    }

    pub(super) fn set_segment(&mut self, segment: &gst::Segment) {
        self.segment = Some(segment.clone());
        self.discont.restart();
        self.latency_due = true;
    }

    pub(super) fn flush_stop(&mut self) {
        self.discont.restart();
        self.bitrate.reset();
        self.late.clear();
        self.latency_due = true;
        if let Some(now) = self.now() {
            self.schedule.touch(now);
        }
    }

    /// Running time of `ts` in the current segment (timestamps are taken as
    /// running time before any segment). Without a timestamp, or in a non-TIME
    /// segment, the running time of a live stream is the clock's time minus the
    /// element's base time (`base_time`). A timestamp outside the segment has none.
    fn running_time(
        &self,
        ts: Option<gst::ClockTime>,
        now: Option<u64>,
        base_time: impl FnOnce() -> Option<gst::ClockTime>,
    ) -> Option<u64> {
        let time_segment = match &self.segment {
            None => None,
            Some(seg) => match seg.downcast_ref::<gst::ClockTime>() {
                Some(seg) => Some(seg),
                None => return clock_running_time(now, base_time),
            },
        };
        match (ts, time_segment) {
            (Some(ts), Some(seg)) => seg.to_running_time(ts).map(|t| t.nseconds()),
            (Some(ts), None) => Some(ts.nseconds()),
            (None, _) => clock_running_time(now, base_time),
        }
    }

    /// Where the clock stands for judging data arriving now: the time base, and the
    /// clock's running time when measuring against the clock. A change of time base
    /// restarts the bitrate window (the two kinds of time cannot be mixed).
    fn clock_base(
        &mut self,
        now: Option<u64>,
        base_time: Option<gst::ClockTime>,
    ) -> (TimeBase, Option<u64>) {
        let clock_rt = now
            .zip(base_time)
            .map(|(n, b)| n.saturating_sub(b.nseconds()));
        let base = time_base(self.live, clock_rt.is_some());
        if self.bitrate_base != Some(base) {
            if self.bitrate_base.is_some() {
                gst::debug!(CAT, "bitrate measured over {base:?} time from now on");
            }
            self.bitrate.reset();
            self.bitrate_base = Some(base);
        }
        (base, clock_rt.filter(|_| base == TimeBase::Clock))
    }

    /// Records `bytes` of data (a buffer, or a GAP event with 0 bytes) at stream
    /// running time `rt` (with `duration`) in the bitrate window, and judges its
    /// lateness when measuring against the clock. Data without a timestamp of its
    /// own (`stamped` false) is never late.
    fn measure(
        &mut self,
        (base, clock_rt): (TimeBase, Option<u64>),
        rt: Option<u64>,
        duration: Option<u64>,
        bytes: u64,
        stamped: bool,
    ) {
        match (base, clock_rt) {
            (TimeBase::Clock, Some(arrival)) => {
                self.bitrate.push(arrival, None, bytes);
                if let Some(rt) = rt.filter(|_| stamped) {
                    let end = rt.saturating_add(duration.unwrap_or(0));
                    let lag = lag(arrival, end, self.latency);
                    if self.late.on_data(lag, self.settings.stall_timeout) {
                        gst::debug!(
                            CAT,
                            "data {} ms behind the clock (beyond {} ms of latency): late={}",
                            lag / 1_000_000,
                            self.latency / 1_000_000,
                            self.late.is_late()
                        );
                    }
                }
            }
            _ => {
                if let Some(rt) = rt {
                    self.bitrate.push(rt, duration, bytes);
                }
                self.late.clear();
            }
        }
        self.bitrate.judge(self.min_bitrate());
    }

    /// Data (a buffer or a GAP event) arrived at clock time `now`: ends a stall.
    /// After a stall, the clock-based bitrate window starts afresh: the stall was
    /// judged as such, and its hole must not hold the stream's bitrate down.
    fn activity(&mut self, now: Option<u64>, base: TimeBase, what: &str) {
        if let Some(now) = now
            && self.schedule.on_buffer(now)
        {
            gst::debug!(CAT, "{what}: stall over");
            if base == TimeBase::Clock {
                self.bitrate.reset();
            }
        }
    }

    /// The clock moved on to `now` with no data (a timer fired): the clock-based
    /// bitrate window drains.
    pub(super) fn clock_tick(&mut self, now: u64, base_time: Option<gst::ClockTime>) {
        if self.bitrate_base == Some(TimeBase::Clock)
            && let Some(b) = base_time
        {
            self.bitrate.advance(now.saturating_sub(b.nseconds()));
            self.bitrate.judge(self.min_bitrate());
        }
    }

    /// One buffer went through: update every tracker and re-judge.
    pub(super) fn on_buffer(
        &mut self,
        buf: &gst::BufferRef,
        base_time: impl FnOnce() -> Option<gst::ClockTime>,
    ) {
        let now = self.now();
        let base_time = now.and_then(|_| base_time());
        let clock = self.clock_base(now, base_time);
        let rt = self.running_time(buf.pts().or(buf.dts()), now, || base_time);
        let duration = buf.duration().map(|d| d.nseconds());

        let flagged = buf.flags().contains(gst::BufferFlags::DISCONT);
        if self.discont.push(rt, duration, flagged) {
            gst::debug!(
                CAT,
                "discontinuity #{} at running time {rt:?}",
                self.discont.count()
            );
        }
        self.activity(now, clock.0, "data again");
        // Without a timestamp the running time is the clock's (see `running_time`).
        let stamped = buf.pts().or(buf.dts()).is_some();
        self.measure(clock, rt, duration, buf.size() as u64, stamped);

        if let Some(audio) = self.audio.as_mut() {
            if buf.flags().contains(gst::BufferFlags::GAP) {
                // A GAP buffer is digital silence, whatever its bytes say.
                let frames = (buf.size() / audio.layout.bytes_per_frame()) as u64;
                audio.report.add_silence(frames);
                feed_silence(&mut self.silence, frames, audio.block_frames);
            } else {
                match buf.map_readable() {
                    Ok(map) => {
                        let chunk = audio.block_frames * audio.layout.bytes_per_frame();
                        for data in map.chunks(chunk.max(1)) {
                            audio.block.reset();
                            audio.block.add(&audio.layout, data);
                            if audio.block.frames() == 0 {
                                continue;
                            }
                            audio.report.merge(&audio.block);
                            self.silence.push_block(
                                audio.block.frames(),
                                audio.block.loudest_mean_square(),
                            );
                        }
                    }
                    Err(_) => gst::debug!(CAT, "cannot map buffer, level not measured"),
                }
            }
        }
        self.reevaluate(now);
    }

    /// A GAP event: the stream is alive but has no data for `duration`. It ends a
    /// stall like a buffer, counts as digital silence for raw audio and as no bytes
    /// for the bitrate.
    pub(super) fn on_gap(
        &mut self,
        ts: gst::ClockTime,
        duration: Option<gst::ClockTime>,
        base_time: impl FnOnce() -> Option<gst::ClockTime>,
    ) {
        let now = self.now();
        let base_time = now.and_then(|_| base_time());
        let clock = self.clock_base(now, base_time);
        let rt = self.running_time(Some(ts), now, || base_time);
        let duration = duration.map(|d| d.nseconds());
        self.activity(now, clock.0, "gap event");
        if let (Some(rt), Some(d)) = (rt, duration) {
            self.discont.push(Some(rt), Some(d), false);
            self.measure(clock, Some(rt), Some(d), 0, true);
            if let Some(audio) = self.audio.as_mut() {
                let frames = (u128::from(d) * u128::from(audio.layout.rate) / 1_000_000_000)
                    .try_into()
                    .unwrap_or(u64::MAX);
                audio.report.add_silence(frames);
                feed_silence(&mut self.silence, frames, audio.block_frames);
            }
        }
        self.reevaluate(now);
    }

    pub(super) fn apply_settings(&mut self, now: Option<u64>) {
        let s = self.settings;
        self.silence
            .configure(s.silence_threshold, s.silence_duration);
        self.bitrate.set_window(s.window);
        self.bitrate.judge(self.min_bitrate());
        self.schedule.configure(s.stall_timeout, s.interval, now);
        self.late.configure(s.stall_timeout);
    }
}

fn clock_running_time(
    now: Option<u64>,
    base_time: impl FnOnce() -> Option<gst::ClockTime>,
) -> Option<u64> {
    let now = now?;
    Some(now.saturating_sub(base_time()?.nseconds()))
}

/// Feeds `frames` frames of digital silence to the tracker in blocks.
fn feed_silence(silence: &mut SilenceTracker, frames: u64, block_frames: usize) {
    let block = (block_frames as u64).max(1);
    // Whole blocks only change the run length; one call per block keeps the
    // verdict exactly where a block boundary crosses the duration.
    let mut left = frames;
    while left > 0 {
        let n = left.min(block);
        silence.push_block(n, 0.0);
        left -= n;
    }
}

fn audio_layout(caps: &gst::CapsRef) -> Option<AudioLayout> {
    use gst_audio::AudioFormat as F;
    // AudioInfo refuses more than two channels without a channel-mask; the level
    // does not need positions, so read the plain fields then.
    let (format, interleaved, rate, channels) = match gst_audio::AudioInfo::from_caps(caps) {
        Ok(info) => (
            info.format(),
            info.layout() == gst_audio::AudioLayout::Interleaved,
            info.rate(),
            info.channels(),
        ),
        Err(_) => {
            let s = caps.structure(0)?;
            let format = F::from_string(s.get::<&str>("format").ok()?);
            let interleaved = s.get::<&str>("layout").map_or(true, |l| l == "interleaved");
            let rate = u32::try_from(s.get::<i32>("rate").ok()?).ok()?;
            let channels = u32::try_from(s.get::<i32>("channels").ok()?).ok()?;
            (format, interleaved, rate, channels)
        }
    };
    if !interleaved || rate == 0 || channels == 0 {
        return None;
    }
    let (kind, big_endian) = SampleFormat::from_gst_any_endian(format)?;
    Some(AudioLayout {
        kind,
        big_endian,
        channels: channels as usize,
        rate,
    })
}

// SPDX-License-Identifier: MPL-2.0
//! GStreamer glue of `healthprobe`: an in-place pass-through `BaseTransform` that
//! feeds the pure trackers (level, silence, bitrate, discont, schedule, verdict)
//! and tells the bus and downstream when the verdict changes.
//!
//! Locking: one state mutex. Clock operations, message posting, event pushing and
//! property notification all happen with it released. Outgoing notifications are
//! queued under the lock and delivered in order by whichever thread finds the
//! queue idle ([`HealthProbe::deliver_pending`]), so a verdict computed later is
//! never overtaken by an earlier one, and nothing is sent with a lock held.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;
use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex, MutexGuard};

use super::bitrate::BitrateWindow;
use super::discont::DiscontTracker;
use super::level::{AudioLayout, Level, SampleKind};
use super::schedule::Schedule;
use super::silence::{SilenceTracker, block_frames};
use super::verdict::{Conditions, Verdict, VerdictTracker, report_reason};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "healthprobe",
        gst::DebugColorFlags::empty(),
        Some("Failover health probe"),
    )
});

/// Structure name of the bus message.
pub const MESSAGE_NAME: &str = "health";

const SECOND: u64 = 1_000_000_000;
const DEFAULT_STALL_TIMEOUT: u64 = SECOND;
const DEFAULT_SILENCE_THRESHOLD: f64 = -60.0;
const DEFAULT_SILENCE_DURATION: u64 = 5 * SECOND;
const DEFAULT_MIN_BITRATE: u64 = 0;
const DEFAULT_WINDOW: u64 = 2 * SECOND;
const DEFAULT_INTERVAL: u64 = SECOND;
const MIN_WINDOW: u64 = 10_000_000;
const MAX_WINDOW: u64 = 3600 * SECOND;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    stall_timeout: u64,
    silence_threshold: f64,
    silence_duration: u64,
    min_bitrate: u64,
    window: u64,
    interval: u64,
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
struct Audio {
    layout: AudioLayout,
    /// Scratch level of the block being judged.
    block: Level,
    /// Level since the previous `health` message.
    report: Level,
    block_frames: usize,
}

/// Something to tell the outside world, in order, without the lock.
enum Outgoing {
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
struct Timer {
    /// Generation of the pending timer; callbacks of older ones are ignored.
    generation: u64,
    id: Option<gst::SingleShotClockId>,
    deadline: Option<u64>,
}

/// A timer to arm (and an old one to cancel) once the lock is released.
struct ArmPlan {
    clock: Option<gst::Clock>,
    at: u64,
    generation: u64,
    cancel: Option<gst::SingleShotClockId>,
}

struct State {
    settings: Settings,
    audio: Option<Audio>,
    /// Caps are raw media: the bitrate is reported but never judged.
    raw: bool,
    /// `None`: no segment seen yet (timestamps taken as running time).
    segment: Option<gst::Segment>,
    silence: SilenceTracker,
    bitrate: BitrateWindow,
    discont: DiscontTracker,
    schedule: Schedule,
    verdict: VerdictTracker,
    playing: bool,
    clock: Option<gst::Clock>,
    timer: Timer,
    outbox: VecDeque<Outgoing>,
    delivering: bool,
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
            discont: DiscontTracker::new(),
            schedule: Schedule::new(settings.stall_timeout, settings.interval),
            verdict: VerdictTracker::default(),
            playing: false,
            clock: None,
            timer: Timer::default(),
            outbox: VecDeque::new(),
            delivering: false,
        }
    }
}

impl State {
    fn now(&self) -> Option<u64> {
        if !self.schedule.is_running() {
            return None;
        }
        self.clock.as_ref().map(|c| c.time().nseconds())
    }

    fn conditions(&self) -> Conditions {
        Conditions {
            stalled: self.schedule.is_stalled(),
            silent: self.audio.is_some() && self.silence.is_silent(),
            low_bitrate: !self.raw && self.bitrate.is_low(),
        }
    }

    /// Builds the `health` message structure; restarts the level and discont
    /// counts of the report period.
    fn health_structure(
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
    fn reevaluate(&mut self, now: Option<u64>) {
        let before = self.verdict.current();
        if let Some(verdict) = self.verdict.update(self.conditions()) {
            gst::info!(
                CAT,
                "verdict: healthy={} reason={}",
                verdict.healthy,
                verdict.reason.as_str()
            );
            let message = self.health_structure(verdict, false, now);
            self.outbox.push_back(Outgoing::Change {
                verdict,
                message,
                healthy_flipped: before.healthy != verdict.healthy,
            });
        }
    }

    /// Decides whether a (new) timer must be armed; takes the old one to cancel.
    fn plan_timer(&mut self) -> Option<ArmPlan> {
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
    fn drop_timer(&mut self) -> Option<gst::SingleShotClockId> {
        self.timer.generation += 1;
        self.timer.deadline = None;
        self.timer.id.take()
    }

    fn apply_settings(&mut self, now: Option<u64>) {
        let s = self.settings;
        self.silence
            .configure(s.silence_threshold, s.silence_duration);
        self.bitrate.set_window(s.window);
        self.bitrate.judge(if self.raw { 0 } else { s.min_bitrate });
        self.schedule.configure(s.stall_timeout, s.interval, now);
    }
}

#[derive(Default)]
pub struct HealthProbe {
    state: Mutex<State>,
}

fn audio_layout(caps: &gst::CapsRef) -> Option<AudioLayout> {
    let info = gst_audio::AudioInfo::from_caps(caps).ok()?;
    if info.layout() != gst_audio::AudioLayout::Interleaved {
        return None;
    }
    use gst_audio::AudioFormat as F;
    let (kind, big_endian) = match info.format() {
        F::S16le => (SampleKind::S16, false),
        F::S16be => (SampleKind::S16, true),
        F::S32le => (SampleKind::S32, false),
        F::S32be => (SampleKind::S32, true),
        F::F32le => (SampleKind::F32, false),
        F::F32be => (SampleKind::F32, true),
        F::F64le => (SampleKind::F64, false),
        F::F64be => (SampleKind::F64, true),
        _ => return None,
    };
    let channels = info.channels() as usize;
    if channels == 0 || info.rate() == 0 {
        return None;
    }
    Some(AudioLayout {
        kind,
        big_endian,
        channels,
        rate: info.rate(),
    })
}

impl HealthProbe {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Cancels and arms timers as planned; never called with the lock held.
    fn arm(&self, plan: Option<ArmPlan>) {
        let Some(plan) = plan else { return };
        if let Some(old) = plan.cancel {
            old.unschedule();
        }
        let Some(clock) = plan.clock else { return };
        let id = clock.new_single_shot_id(gst::ClockTime::from_nseconds(plan.at));
        let weak = self.obj().downgrade();
        let generation = plan.generation;
        if let Err(err) = id.wait_async(move |clock, _time, _id| {
            if let Some(obj) = weak.upgrade() {
                obj.imp().on_timer(clock, generation);
            }
        }) {
            gst::warning!(CAT, imp = self, "cannot wait on the clock: {err:?}");
            let mut state = self.lock();
            if state.timer.generation == generation {
                state.timer.deadline = None;
            }
            return;
        }
        gst::trace!(
            CAT,
            imp = self,
            "timer armed at {}",
            gst::ClockTime::from_nseconds(plan.at)
        );
        let mut state = self.lock();
        if state.timer.generation == generation && state.timer.deadline.is_some() {
            state.timer.id = Some(id);
        } else {
            // Superseded (or already fired) while we were arming it.
            drop(state);
            id.unschedule();
        }
    }

    fn on_timer(&self, clock: &gst::Clock, generation: u64) {
        let plan = {
            let mut state = self.lock();
            if state.timer.generation != generation {
                return;
            }
            state.timer.deadline = None;
            state.timer.id = None;
            let now = clock.time().nseconds();
            let fired = state.schedule.on_timer(now);
            let queued = state.outbox.len();
            if fired.stall_began {
                gst::debug!(
                    CAT,
                    imp = self,
                    "no data for {} ns: stall",
                    state.settings.stall_timeout
                );
                state.reevaluate(Some(now));
            }
            if fired.report && state.outbox.len() == queued {
                let verdict = state.verdict.current();
                let s = state.health_structure(verdict, true, Some(now));
                state.outbox.push_back(Outgoing::Report(s));
            }
            state.plan_timer()
        };
        self.arm(plan);
        self.deliver_pending();
    }

    /// Delivers queued notifications in order, unless another thread (or an outer
    /// call on this one) already does it.
    fn deliver_pending(&self) {
        {
            let mut state = self.lock();
            if state.delivering || state.outbox.is_empty() {
                return;
            }
            state.delivering = true;
        }
        loop {
            let item = {
                let mut state = self.lock();
                match state.outbox.pop_front() {
                    Some(item) => item,
                    None => {
                        state.delivering = false;
                        return;
                    }
                }
            };
            self.deliver(item);
        }
    }

    fn deliver(&self, item: Outgoing) {
        let obj = self.obj();
        match item {
            Outgoing::Change {
                verdict,
                message,
                healthy_flipped,
            } => {
                self.post(message);
                let event =
                    crate::health_event::new_event(verdict.healthy, verdict.reason.as_str());
                if !obj.src_pad().push_event(event) {
                    gst::debug!(CAT, imp = self, "downstream did not take the health event");
                }
                if healthy_flipped {
                    obj.notify("healthy");
                }
            }
            Outgoing::Report(message) => self.post(message),
            Outgoing::NotifyHealthy => obj.notify("healthy"),
        }
    }

    fn post(&self, s: gst::Structure) {
        let obj = self.obj();
        let msg = gst::message::Element::builder(s).src(&*obj).build();
        if obj.post_message(msg).is_err() {
            gst::trace!(CAT, imp = self, "no bus to post the health message on");
        }
    }

    /// Starts or stops watching the clock according to `playing` and the clock.
    fn restart_watching(&self) {
        let (cancel, plan) = {
            let mut state = self.lock();
            let cancel = state.drop_timer();
            match (state.playing, state.clock.clone()) {
                (true, Some(clock)) => {
                    let now = clock.time().nseconds();
                    state.schedule.start(now);
                    gst::debug!(CAT, imp = self, "watching from clock time {now}");
                }
                _ => state.schedule.stop(),
            }
            (cancel, state.plan_timer())
        };
        if let Some(old) = cancel {
            old.unschedule();
        }
        self.arm(plan);
    }

    fn reset(&self) {
        let cancel = {
            let mut state = self.lock();
            let cancel = state.drop_timer();
            let was_healthy = state.verdict.current().healthy;
            let settings = state.settings;
            let clock = state.clock.take();
            let outbox = std::mem::take(&mut state.outbox);
            let delivering = state.delivering;
            *state = State {
                settings,
                clock,
                outbox,
                delivering,
                ..State::default()
            };
            state.apply_settings(None);
            if !was_healthy {
                state.outbox.push_back(Outgoing::NotifyHealthy);
            }
            cancel
        };
        if let Some(old) = cancel {
            old.unschedule();
        }
        self.deliver_pending();
    }

    /// After a settings change: re-judge, re-plan the timer, tell.
    fn settings_changed(&self) {
        let plan = {
            let mut state = self.lock();
            let now = state.now();
            state.apply_settings(now);
            state.reevaluate(now);
            state.plan_timer()
        };
        self.arm(plan);
        self.deliver_pending();
    }
}

#[glib::object_subclass]
impl ObjectSubclass for HealthProbe {
    const NAME: &'static str = "GstHealthProbe";
    type Type = super::HealthProbe;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for HealthProbe {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt64::builder("stall-timeout")
                    .nick("Stall timeout")
                    .blurb(
                        "Report a stall when no buffer arrived for this long, measured on \
                         the clock in PLAYING (ns, 0 = off)",
                    )
                    .maximum(u64::MAX - 1)
                    .default_value(DEFAULT_STALL_TIMEOUT)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("silence-threshold")
                    .nick("Silence threshold")
                    .blurb(
                        "Raw audio whose loudest channel stays below this RMS level is \
                         silent (dBFS)",
                    )
                    .minimum(-200.0)
                    .maximum(0.0)
                    .default_value(DEFAULT_SILENCE_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("silence-duration")
                    .nick("Silence duration")
                    .blurb(
                        "Report silence once raw audio stayed below silence-threshold for \
                         this long, counted in samples (ns, 0 = off)",
                    )
                    .maximum(u64::MAX - 1)
                    .default_value(DEFAULT_SILENCE_DURATION)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("min-bitrate")
                    .nick("Minimum bitrate")
                    .blurb(
                        "Report low bitrate when an encoded (non-raw) stream carries less \
                         than this over window (bit/s, 0 = off)",
                    )
                    .default_value(DEFAULT_MIN_BITRATE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("window")
                    .nick("Bitrate window")
                    .blurb("Running time over which the bitrate is measured (ns)")
                    .minimum(MIN_WINDOW)
                    .maximum(MAX_WINDOW)
                    .default_value(DEFAULT_WINDOW)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("interval")
                    .nick("Interval")
                    .blurb(
                        "Period of the 'health' status messages on the clock in PLAYING \
                         (ns, 0 = only on changes)",
                    )
                    .maximum(u64::MAX - 1)
                    .default_value(DEFAULT_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("healthy")
                    .nick("Healthy")
                    .blurb("Current verdict (notify::healthy when it changes)")
                    .default_value(true)
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        {
            let mut state = self.lock();
            let s = &mut state.settings;
            match pspec.name() {
                "stall-timeout" => s.stall_timeout = value.get().unwrap_or(s.stall_timeout),
                "silence-threshold" => {
                    s.silence_threshold = value.get().unwrap_or(s.silence_threshold)
                }
                "silence-duration" => {
                    s.silence_duration = value.get().unwrap_or(s.silence_duration)
                }
                "min-bitrate" => s.min_bitrate = value.get().unwrap_or(s.min_bitrate),
                "window" => s.window = value.get().unwrap_or(s.window),
                "interval" => s.interval = value.get().unwrap_or(s.interval),
                other => {
                    gst::warning!(CAT, imp = self, "unknown property {other}");
                    return;
                }
            }
            gst::debug!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
        }
        self.settings_changed();
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let state = self.lock();
        let s = &state.settings;
        match pspec.name() {
            "stall-timeout" => s.stall_timeout.to_value(),
            "silence-threshold" => s.silence_threshold.to_value(),
            "silence-duration" => s.silence_duration.to_value(),
            "min-bitrate" => s.min_bitrate.to_value(),
            "window" => s.window.to_value(),
            "interval" => s.interval.to_value(),
            "healthy" => state.verdict.current().healthy.to_value(),
            // Only the properties declared above exist.
            _ => pspec.default_value().clone(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_passthrough(true);
        obj.set_in_place(true);
    }
}

impl GstObjectImpl for HealthProbe {}

impl ElementImpl for HealthProbe {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static M: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Health probe",
                "Generic",
                "Pass-through that judges a stream (stall, silence, low bitrate, \
                 discontinuities) and reports to the bus and a downstream failoverswitch",
                "gst-plugin-failover developers",
            )
        });
        Some(&*M)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::new_any();
            let mk = |name, dir| {
                gst::PadTemplate::new(name, dir, gst::PadPresence::Always, &caps)
                    .expect("static pad template")
            };
            vec![
                mk("sink", gst::PadDirection::Sink),
                mk("src", gst::PadDirection::Src),
            ]
        });
        T.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::PlayingToPaused {
            self.lock().playing = false;
            self.restart_watching();
        }
        let ret = self.parent_change_state(transition)?;
        match transition {
            gst::StateChange::PausedToPlaying => {
                let clock = self.obj().clock();
                {
                    let mut state = self.lock();
                    state.playing = true;
                    if clock.is_some() {
                        state.clock = clock;
                    }
                }
                self.restart_watching();
            }
            gst::StateChange::PausedToReady | gst::StateChange::ReadyToPaused => self.reset(),
            _ => {}
        }
        Ok(ret)
    }

    fn set_clock(&self, clock: Option<&gst::Clock>) -> bool {
        let ret = self.parent_set_clock(clock);
        self.lock().clock = clock.cloned();
        self.restart_watching();
        ret
    }
}

impl BaseTransformImpl for HealthProbe {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn set_caps(&self, incaps: &gst::Caps, outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let s = incaps.structure(0);
        let raw = s.is_some_and(|s| s.name().ends_with("/x-raw"));
        let is_audio = s.is_some_and(|s| s.name() == "audio/x-raw");
        let layout = if is_audio { audio_layout(incaps) } else { None };
        if is_audio && layout.is_none() {
            gst::debug!(
                CAT,
                imp = self,
                "no level measurement for {incaps}: needs interleaved S16/S32/F32/F64"
            );
        }
        {
            let mut state = self.lock();
            state.raw = raw;
            let same = matches!((&state.audio, &layout), (Some(a), Some(l)) if a.layout == *l);
            if !same {
                state.audio = layout.map(|layout| Audio {
                    layout,
                    block: Level::new(layout.channels),
                    report: Level::new(layout.channels),
                    block_frames: block_frames(layout.rate),
                });
                if let Some(l) = layout {
                    state.silence.set_rate(l.rate);
                }
                state.silence.reset();
            }
            let min = if raw { 0 } else { state.settings.min_bitrate };
            state.bitrate.judge(min);
        }
        self.parent_set_caps(incaps, outcaps)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStop(_) => {
                let mut state = self.lock();
                state.discont.restart();
                state.bitrate.reset();
                if let Some(now) = state.now() {
                    state.schedule.touch(now);
                }
            }
            gst::EventView::Segment(e) => {
                let mut state = self.lock();
                state.segment = Some(e.segment().clone());
                state.discont.restart();
            }
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.lock().segment = None;
        self.parent_stop()
    }

    fn transform_ip_passthrough(
        &self,
        buf: &gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let plan = {
            let mut guard = self.lock();
            let state = &mut *guard;
            let now = state.now();

            let ts = buf.pts().or(buf.dts());
            let running_time = match &state.segment {
                None => ts,
                Some(seg) => match (seg.downcast_ref::<gst::ClockTime>(), ts) {
                    (Some(seg), Some(ts)) => seg.to_running_time(ts),
                    _ => None,
                },
            }
            .map(|t| t.nseconds())
            .or_else(|| {
                // No usable timestamp: the running time of a live stream is now.
                let base = self.obj().base_time()?;
                now.map(|n| n.saturating_sub(base.nseconds()))
            });
            let duration = buf.duration().map(|d| d.nseconds());

            let flagged = buf.flags().contains(gst::BufferFlags::DISCONT);
            if state.discont.push(running_time, duration, flagged) {
                gst::debug!(
                    CAT,
                    imp = self,
                    "discontinuity #{} at running time {:?}",
                    state.discont.count(),
                    running_time
                );
            }

            if let Some(rt) = running_time {
                state.bitrate.push(rt, duration, buf.size() as u64);
            }
            let min = if state.raw {
                0
            } else {
                state.settings.min_bitrate
            };
            state.bitrate.judge(min);

            if let Some(audio) = state.audio.as_mut() {
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
                            state.silence.push_block(
                                audio.block.frames(),
                                audio.block.loudest_mean_square(),
                            );
                        }
                    }
                    Err(_) => {
                        gst::debug!(CAT, imp = self, "cannot map buffer, level not measured");
                    }
                }
            }

            if let Some(now) = now
                && state.schedule.on_buffer(now)
            {
                gst::debug!(CAT, imp = self, "data again: stall over");
            }
            state.reevaluate(now);
            state.plan_timer()
        };
        self.arm(plan);
        self.deliver_pending();
        Ok(gst::FlowSuccess::Ok)
    }
}

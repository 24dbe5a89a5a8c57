// SPDX-License-Identifier: MPL-2.0
//! GStreamer glue of `healthprobe`: an in-place pass-through `BaseTransform` that
//! feeds the pure trackers (level, silence, bitrate, lateness, discont, schedule,
//! verdict) and tells the bus and downstream when the verdict changes. It asks
//! upstream for its latency (live or not, and how late live data may arrive) from
//! the streaming thread, before the first data and again after a flush, a new
//! segment or caps, a new start of PLAYING, and a LATENCY event from downstream.
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
use std::sync::{LazyLock, Mutex, MutexGuard};

use super::state::*;
use crate::outbox::Outbox;

#[derive(Default)]
pub struct HealthProbe {
    state: Mutex<State>,
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
            state.clock_tick(now, self.obj().base_time());
            let queued = state.outbox.len();
            if fired.stall_began {
                gst::debug!(
                    CAT,
                    imp = self,
                    "no data for {} ns: stall",
                    state.settings.stall_timeout
                );
            }
            state.reevaluate(Some(now));
            if fired.report && state.outbox.len() == queued {
                let verdict = state.verdict.current();
                let s = state.health_structure(verdict, true, Some(now));
                state.outbox.push(Outgoing::Report(s));
            }
            state.plan_timer()
        };
        self.arm(plan);
        self.deliver_pending();
    }

    /// Delivers queued notifications in order (the crate's outbox: whichever thread
    /// finds it idle delivers everything, with no lock held).
    fn deliver_pending(&self) {
        Outbox::deliver(&self.state, |s| &mut s.outbox, |item| self.deliver(item));
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
                    state.latency_due = true;
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
            *state = State {
                settings,
                clock,
                outbox,
                ..State::default()
            };
            state.apply_settings(None);
            if !was_healthy {
                state.outbox.push(Outgoing::NotifyHealthy);
            }
            cancel
        };
        if let Some(old) = cancel {
            old.unschedule();
        }
        self.deliver_pending();
    }

    /// Asks upstream whether it is live and for its latency, if due. Called from the
    /// streaming thread before data is judged, without the lock.
    fn refresh_latency(&self) {
        if !self.lock().latency_due {
            return;
        }
        let mut q = gst::query::Latency::new();
        let answered = self.obj().sink_pad().peer_query(&mut q);
        let (live, min, _) = q.result();
        let mut state = self.lock();
        state.latency_due = false;
        state.live = Some(answered && live);
        state.latency = if answered { min.nseconds() } else { 0 };
        gst::debug!(
            CAT,
            imp = self,
            "upstream: live {}, latency {min}",
            answered && live
        );
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
                         the clock in PLAYING; live data arriving more than this behind the \
                         clock (beyond upstream latency) is late (ns, 0 = off)",
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
                         than this over window; live: bytes that arrived within window of \
                         clock time (bit/s, 0 = off)",
                    )
                    .default_value(DEFAULT_MIN_BITRATE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("window")
                    .nick("Bitrate window")
                    .blurb(
                        "Time over which the bitrate is measured: the clock's running time \
                         when live and PLAYING, the stream's running time otherwise (ns)",
                    )
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
                "Pass-through that judges a stream (stall, late data, silence, low \
                 bitrate, discontinuities) and reports to the bus and a downstream failoverswitch",
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
        self.lock().set_caps(incaps);
        self.parent_set_caps(incaps, outcaps)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStop(_) => self.lock().flush_stop(),
            gst::EventView::Segment(e) => self.lock().set_segment(e.segment()),
            gst::EventView::Gap(e) => {
                self.refresh_latency();
                let (ts, duration) = e.get();
                let plan = {
                    let mut state = self.lock();
                    state.on_gap(ts, duration, || self.obj().base_time());
                    state.plan_timer()
                };
                self.arm(plan);
                self.deliver_pending();
            }
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn src_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Latency(_) = event.view() {
            // The pipeline's latency was (re)configured: ask upstream again.
            self.lock().latency_due = true;
        }
        self.parent_src_event(event)
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.lock().segment = None;
        self.parent_stop()
    }

    fn transform_ip_passthrough(
        &self,
        buf: &gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.refresh_latency();
        let plan = {
            let mut state = self.lock();
            state.on_buffer(buf, || self.obj().base_time());
            state.plan_timer()
        };
        self.arm(plan);
        self.deliver_pending();
        Ok(gst::FlowSuccess::Ok)
    }
}

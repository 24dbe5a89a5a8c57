// SPDX-License-Identifier: MPL-2.0
//! GStreamer glue of `failoverswitch`: object, properties, pads, state changes,
//! queries and messages. The data flow is in `stream.rs`.

use std::sync::{Condvar, LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::policy::{Input, Mode, PolicyConfig};
use super::state::{Note, State};
use super::{CapsCheck, FailoverMode};

pub(super) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "failoverswitch",
        gst::DebugColorFlags::empty(),
        Some("Primary/secondary failover switch"),
    )
});

const DEFAULT_TIMEOUT: gst::ClockTime = gst::ClockTime::SECOND;
const DEFAULT_RESTORE_DELAY: gst::ClockTime = gst::ClockTime::from_seconds(5);
const DEFAULT_CROSSFADE: gst::ClockTime = gst::ClockTime::from_mseconds(20);
const MAX_CROSSFADE: u64 = 10 * gst::ClockTime::SECOND.nseconds();

#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub timeout: u64,
    pub restore_delay: u64,
    pub mode: FailoverMode,
    pub auto_switch: bool,
    pub caps_check: CapsCheck,
    pub crossfade: u64,
    pub fill_silence: bool,
    /// Input that is active when the element starts.
    pub start_pad: Input,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT.nseconds(),
            restore_delay: DEFAULT_RESTORE_DELAY.nseconds(),
            mode: FailoverMode::PrimaryPreferred,
            auto_switch: true,
            caps_check: CapsCheck::Strict,
            crossfade: DEFAULT_CROSSFADE.nseconds(),
            fill_silence: true,
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

pub struct FailoverSwitch {
    pub(super) primary: gst::Pad,
    pub(super) secondary: gst::Pad,
    pub(super) srcpad: gst::Pad,
    pub(super) settings: Mutex<Settings>,
    pub(super) state: Mutex<State>,
    /// Wakes standby inputs waiting for the output, and the timer task.
    pub(super) cond: Condvar,
    /// Serializes everything sent on the source pad; taken before `state`, never
    /// while holding it.
    pub(super) push_lock: Mutex<()>,
    /// Held while posting queued notes, so that they go out in order.
    emit_lock: Mutex<()>,
}

impl FailoverSwitch {
    pub(super) fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn settings(&self) -> Settings {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn input_of(&self, pad: &gst::Pad) -> Input {
        if pad == &self.secondary {
            Input::Secondary
        } else {
            Input::Primary
        }
    }

    pub(super) fn pad_of(&self, input: Input) -> &gst::Pad {
        match input {
            Input::Primary => &self.primary,
            Input::Secondary => &self.secondary,
        }
    }

    /// Posts the messages, warnings and notifications queued under the state lock, in
    /// the order they were decided, with no lock of ours held (bus sync handlers and
    /// `notify::active-pad` handlers may call back into the element). If another
    /// thread is posting, it picks ours up.
    pub(super) fn emit(&self) {
        loop {
            {
                let Ok(_posting) = self.emit_lock.try_lock() else {
                    return;
                };
                let notes = std::mem::take(&mut self.lock_state().notes);
                self.post_notes(notes);
            }
            if self.lock_state().notes.is_empty() {
                return;
            }
        }
    }

    /// Releases the state lock, then posts what was queued, if anything.
    pub(super) fn unlock(&self, st: MutexGuard<'_, State>) {
        let pending = !st.notes.is_empty();
        drop(st);
        if pending {
            self.emit();
        }
    }

    fn post_notes(&self, notes: Vec<Note>) {
        let mut switched = false;
        for note in notes {
            match note {
                Note::Switched {
                    from,
                    to,
                    reason,
                    running_time,
                    count,
                } => {
                    gst::info!(
                        CAT,
                        imp = self,
                        "switched {} -> {} ({}) at {}",
                        Input::name_of(from),
                        Input::name_of(to),
                        reason.as_str(),
                        gst::ClockTime::from_nseconds(running_time)
                    );
                    let s = gst::Structure::builder("failover-switched")
                        .field("from", Input::name_of(from))
                        .field("to", Input::name_of(to))
                        .field("reason", reason.as_str())
                        .field("running-time", running_time)
                        .field("switch-count", count)
                        .build();
                    self.post(s);
                    switched = true;
                }
                Note::Health {
                    pad,
                    healthy,
                    reason,
                } => {
                    gst::debug!(
                        CAT,
                        imp = self,
                        "{} healthy={healthy} ({reason})",
                        pad.name()
                    );
                    let s = gst::Structure::builder("failover-input-health")
                        .field("pad", pad.name())
                        .field("healthy", healthy)
                        .field("reason", reason)
                        .build();
                    self.post(s);
                }
                Note::Warning(text) => {
                    gst::warning!(CAT, imp = self, "{text}");
                    gst::element_imp_warning!(self, gst::StreamError::Format, ("{}", text));
                }
            }
        }
        if switched {
            self.obj().notify("active-pad");
        }
    }

    fn post(&self, s: gst::Structure) {
        let msg = gst::message::Element::builder(s).src(&*self.obj()).build();
        let _ = self.obj().post_message(msg);
    }

    fn stats(&self) -> gst::Structure {
        let st = self.lock_state();
        let now = self
            .obj()
            .clock()
            .map(|c| c.time().nseconds())
            .filter(|_| st.live());
        let mut b = gst::Structure::builder("failover-stats")
            .field("switch-count", st.switch_count)
            .field("active", Input::name_of(st.active))
            .field(
                "dropped-buffers",
                st.pads.iter().map(|p| p.dropped).sum::<u64>(),
            );
        for i in Input::BOTH {
            let p = st.pad(i);
            let age = match (now, p.last_data) {
                (Some(now), Some(last)) => now.saturating_sub(last),
                _ => p
                    .last_data_instant
                    .map_or(u64::MAX, |t| t.elapsed().as_nanos() as u64),
            };
            let n = i.name();
            b = b
                .field(format!("{n}-healthy"), p.health.is_healthy())
                .field(format!("{n}-reason"), p.health_reason())
                .field(format!("{n}-active-time"), p.active_time)
                .field(format!("{n}-dropped"), p.dropped)
                .field(format!("{n}-last-data-age"), age);
        }
        b.build()
    }

    /// Manual switch through the `active-pad` property.
    fn set_active_pad(&self, pad: Option<gst::Pad>) {
        let Some(pad) = pad else { return };
        if pad != self.primary && pad != self.secondary {
            gst::warning!(
                CAT,
                imp = self,
                "{} is not an input pad of this element",
                pad.name()
            );
            return;
        }
        let target = self.input_of(&pad);
        {
            let mut st = self.lock_state();
            if st.shutdown {
                self.settings
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .start_pad = target;
                st.active = Some(target);
                return;
            }
            if st.pad(target).health.caps_mismatch {
                st.notes.push(Note::Warning(format!(
                    "not switching to {}: its caps do not match the output",
                    target.name()
                )));
            } else if st.active != Some(target) {
                self.switch(&mut st, Some(target), super::policy::Reason::Manual);
            }
        }
        self.emit();
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Latency(q) => {
                let (mut live, mut min, mut max) = (false, gst::ClockTime::ZERO, None);
                let mut any = false;
                for sink in [&self.primary, &self.secondary] {
                    let mut peer = gst::query::Latency::new();
                    if sink.peer_query(&mut peer) {
                        let (l, mn, mx) = peer.result();
                        any = true;
                        live |= l;
                        min = min.max(mn);
                        max = match (max, mx) {
                            (None, m) | (m, None) => m,
                            (Some(a), Some(b)) => Some(a.min(b)),
                        };
                    }
                }
                gst::debug!(
                    CAT,
                    imp = self,
                    "latency: live {live} min {min} max {max:?}"
                );
                q.set(live, min, max);
                any
            }
            gst::QueryViewMut::Caps(q) => {
                let filter = q.filter_owned();
                let out = self.lock_state().out.caps.clone();
                let caps = match out {
                    Some(c) => c,
                    None => {
                        let mut a = self.primary.peer_query_caps(filter.as_ref());
                        a.merge(self.secondary.peer_query_caps(filter.as_ref()));
                        a
                    }
                };
                let caps = match filter {
                    Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
                    None => caps,
                };
                q.set_result(&caps);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    fn sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let filter = q.filter_owned();
                let downstream = self.srcpad.peer_query_caps(filter.as_ref());
                // Prefer the output caps so that a flexible upstream converts to them; a
                // rigid one still negotiates (and is refused with a warning, not an error).
                let caps = match (self.lock_state().out.caps.clone(), filter) {
                    (Some(out), f) => {
                        let mut preferred = match f {
                            Some(f) => f.intersect_with_mode(&out, gst::CapsIntersectMode::First),
                            None => out,
                        };
                        preferred.merge(downstream);
                        preferred
                    }
                    (None, _) => downstream,
                };
                q.set_result(&caps);
                true
            }
            gst::QueryViewMut::AcceptCaps(q) => {
                let ok = self.lock_state().out.caps.is_some()
                    || self.srcpad.peer_query_accept_caps(&q.caps_owned());
                q.set_result(ok);
                true
            }
            gst::QueryViewMut::Allocation(_) => {
                let active = self.lock_state().active == Some(self.input_of(pad));
                active && self.srcpad.peer_query(query)
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for FailoverSwitch {
    const NAME: &'static str = "GstFailoverSwitch";
    type Type = super::FailoverSwitch;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sink = |name: &str| {
            let templ = klass.pad_template(name).expect("pad template exists");
            gst::Pad::builder_from_template(&templ)
                .chain_function(|pad, parent, buffer| {
                    FailoverSwitch::catch_panic_pad_function(
                        parent,
                        || Err(gst::FlowError::Error),
                        |imp| imp.sink_chain(pad, buffer),
                    )
                })
                .event_function(|pad, parent, event| {
                    FailoverSwitch::catch_panic_pad_function(
                        parent,
                        || false,
                        |imp| imp.sink_event(pad, event),
                    )
                })
                .query_function(|pad, parent, query| {
                    FailoverSwitch::catch_panic_pad_function(
                        parent,
                        || false,
                        |imp| imp.sink_query(pad, query),
                    )
                })
                .build()
        };
        let primary = sink("primary");
        let secondary = sink("secondary");
        let templ = klass.pad_template("src").expect("pad template exists");
        let srcpad = gst::Pad::builder_from_template(&templ)
            .query_function(|pad, parent, query| {
                FailoverSwitch::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_query(pad, query),
                )
            })
            .build();
        Self {
            primary,
            secondary,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::new(Input::Primary)),
            cond: Condvar::new(),
            push_lock: Mutex::new(()),
            emit_lock: Mutex::new(()),
        }
    }
}

impl ObjectImpl for FailoverSwitch {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt64::builder("timeout")
                    .nick("Timeout")
                    .blurb("An input that delivers no data for this long (ns) is unhealthy: on the pipeline clock when live, on running time (the other input being this far ahead) when not")
                    .minimum(1_000_000)
                    .maximum(3_600 * gst::ClockTime::SECOND.nseconds())
                    .default_value(DEFAULT_TIMEOUT.nseconds())
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("restore-delay")
                    .nick("Restore delay")
                    .blurb("How long (ns) the primary must be healthy without interruption before going back to it (mode=primary-preferred)")
                    .maximum(24 * 3_600 * gst::ClockTime::SECOND.nseconds())
                    .default_value(DEFAULT_RESTORE_DELAY.nseconds())
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("mode", FailoverMode::PrimaryPreferred)
                    .nick("Mode")
                    .blurb("Switching policy once the primary is healthy again")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("auto-switch")
                    .nick("Automatic switching")
                    .blurb("Switch automatically on failures; if false, only writing active-pad switches")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecObject::builder::<gst::Pad>("active-pad")
                    .nick("Active pad")
                    .blurb("The input whose data goes out (NULL while no input is healthy); writing it switches manually")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("caps-check", CapsCheck::Strict)
                    .nick("Caps check")
                    .blurb("How an input's caps are checked against the output caps (fixed by the first input to negotiate)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("crossfade")
                    .nick("Crossfade")
                    .blurb("Raw audio: blend the outgoing and incoming input for this long (ns) at a switch, or fade the incoming one in if the outgoing died; 0 disables")
                    .maximum(MAX_CROSSFADE)
                    .default_value(DEFAULT_CROSSFADE.nseconds())
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("fill-silence")
                    .nick("Fill silence")
                    .blurb("Raw audio: send silence while no input is healthy, so downstream stays connected")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("switch-count, active, dropped-buffers and, per input (primary-/secondary-): healthy, reason, active-time (ns of output), dropped, last-data-age (ns; G_MAXUINT64 if none yet)")
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "active-pad" {
            let pad = value.get::<Option<gst::Pad>>().ok().flatten();
            self.set_active_pad(pad);
            return;
        }
        {
            let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
            match pspec.name() {
                "timeout" => s.timeout = value.get().unwrap_or(s.timeout),
                "restore-delay" => s.restore_delay = value.get().unwrap_or(s.restore_delay),
                "mode" => s.mode = value.get().unwrap_or(s.mode),
                "auto-switch" => s.auto_switch = value.get().unwrap_or(s.auto_switch),
                "caps-check" => s.caps_check = value.get().unwrap_or(s.caps_check),
                "crossfade" => s.crossfade = value.get().unwrap_or(s.crossfade),
                "fill-silence" => s.fill_silence = value.get().unwrap_or(s.fill_silence),
                other => gst::warning!(CAT, imp = self, "unknown property {other}"),
            }
        }
        // New timeouts or policy: re-evaluate now.
        let s = self.settings();
        let mut st = self.lock_state();
        st.settings = s;
        self.wake(&mut st);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings();
        match pspec.name() {
            "timeout" => s.timeout.to_value(),
            "restore-delay" => s.restore_delay.to_value(),
            "mode" => s.mode.to_value(),
            "auto-switch" => s.auto_switch.to_value(),
            "caps-check" => s.caps_check.to_value(),
            "crossfade" => s.crossfade.to_value(),
            "fill-silence" => s.fill_silence.to_value(),
            "active-pad" => {
                let active = self.lock_state().active;
                active.map(|i| self.pad_of(i).clone()).to_value()
            }
            "stats" => self.stats().to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        for pad in [&self.primary, &self.secondary, &self.srcpad] {
            obj.add_pad(pad).expect("adding an always pad");
        }
    }
}

impl GstObjectImpl for FailoverSwitch {}

impl ElementImpl for FailoverSwitch {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static M: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Failover switch",
                "Generic",
                "Sends out one continuous stream from a primary and a secondary input, switching when the active one fails",
                "gst-plugin-failover developers",
            )
        });
        Some(&*M)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let any = gst::Caps::new_any();
            let t = |name: &str, dir| {
                gst::PadTemplate::new(name, dir, gst::PadPresence::Always, &any)
                    .expect("valid pad template")
            };
            vec![
                t("primary", gst::PadDirection::Sink),
                t("secondary", gst::PadDirection::Sink),
                t("src", gst::PadDirection::Src),
            ]
        });
        T.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::ReadyToPaused => {
                let s = self.settings();
                let mut st = self.lock_state();
                *st = State::new(s.start_pad);
                st.follow_caps = s.caps_check == CapsCheck::None;
                st.settings = s;
                st.shutdown = false;
            }
            gst::StateChange::PausedToPlaying => {
                let now = self.obj().clock().map(|c| c.time().nseconds());
                let mut st = self.lock_state();
                st.playing = true;
                st.playing_since = now;
                // Time spent paused does not count against the inputs.
                for p in st.pads.iter_mut() {
                    if p.last_data.is_some() {
                        p.last_data = now;
                    }
                }
                self.wake(&mut st);
            }
            gst::StateChange::PlayingToPaused => {
                let mut st = self.lock_state();
                st.playing = false;
                self.wake(&mut st);
            }
            gst::StateChange::PausedToReady => {
                let mut st = self.lock_state();
                st.shutdown = true;
                st.playing = false;
                self.wake(&mut st);
            }
            _ => (),
        }

        let ret = self.parent_change_state(transition)?;

        match transition {
            gst::StateChange::ReadyToPaused => {
                let this = self.obj().downgrade();
                let started = self.srcpad.start_task(move || {
                    if let Some(obj) = this.upgrade() {
                        obj.imp().task_iteration();
                    }
                });
                if let Err(err) = started {
                    gst::element_imp_error!(self, gst::CoreError::Thread, ["timer task: {}", err]);
                    return Err(gst::StateChangeError);
                }
            }
            gst::StateChange::PausedToReady => {
                if let Err(err) = self.srcpad.stop_task() {
                    gst::warning!(CAT, imp = self, "stopping the timer task: {err}");
                }
            }
            _ => (),
        }
        Ok(ret)
    }
}

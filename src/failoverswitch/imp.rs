// SPDX-License-Identifier: MPL-2.0
//! GStreamer glue of `failoverswitch`: object, properties, pads, state changes,
//! queries, and delivery of what the state machine decided.
//!
//! A buffer's path: `input.rs` (placement on the running-time line, health
//! bookkeeping, standby hold) → `state.rs` (health verdicts and switches, on the pure
//! `policy`) → `output.rs` (drain, initial events, trim, fade, send). Caps
//! negotiation and compatibility are in `caps.rs`, the timer task and filler in
//! `timer.rs`.
//!
//! # Locks
//! Taken in this order, never the other way round:
//! 1. `push_lock` serialises everything sent on the source pad; it is held while
//!    pushing downstream (and nothing else is pushed meanwhile).
//! 2. `state` guards settings, inputs and output. It is never held while pushing,
//!    posting a message, sending an event to another pad, notifying a property or
//!    waiting on the clock; a standby input waiting for the output waits on `cond`,
//!    which releases it. GStreamer object locks (the element's clock and base time,
//!    a pad's peer) may be taken under it: they never call back into us.
//!
//! The alignment estimator has its own lock (`align`): a thread holds either it or
//! `state`, never both (an analysis never runs under the state lock).
//!
//! A thread holding `state` may *try* to take `push_lock` (the fast path of the
//! active input's streaming thread); `try_lock` never blocks, so this cannot invert
//! the order. Messages, warnings, notifications and upstream events are queued in the
//! state's outbox and delivered by [`FailoverSwitch::deliver`] with no lock held, so
//! a bus sync handler or a `notify::active-pad` handler may call back into the
//! element (even send it EOS) from the delivering thread.

use std::sync::{Condvar, LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::output::clock_time;
use super::policy::{Input, Reason};
use super::state::{
    DEFAULT_CROSSFADE, DEFAULT_RESTORE_DELAY, DEFAULT_TIMEOUT, Note, Settings, State,
};
use super::{AlignMode, CapsCheck, FailoverMode};
use crate::outbox::Outbox;

pub(super) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "failoverswitch",
        gst::DebugColorFlags::empty(),
        Some("Primary/secondary failover switch"),
    )
});

const MAX_CROSSFADE: u64 = 10 * gst::ClockTime::SECOND.nseconds();
const MAX_LATENCY: u64 = 60 * gst::ClockTime::SECOND.nseconds();
const MAX_OFFSET: u64 = 10 * gst::ClockTime::SECOND.nseconds();

pub struct FailoverSwitch {
    pub(super) primary: gst::Pad,
    pub(super) secondary: gst::Pad,
    pub(super) srcpad: gst::Pad,
    state: Mutex<State>,
    /// Wakes standby inputs waiting for the output, and the timer task.
    pub(super) cond: Condvar,
    push_lock: Mutex<()>,
    /// The alignment estimator (`align=auto`), under its own lock: an analysis is
    /// never run under the state lock.
    pub(super) align: Mutex<Option<super::align::Aligner>>,
}

impl FailoverSwitch {
    pub(super) fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn lock_push(&self) -> MutexGuard<'_, ()> {
        self.push_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn try_lock_push(&self) -> Option<MutexGuard<'_, ()>> {
        self.push_lock.try_lock().ok()
    }

    /// Releases the state lock, waking waiting threads if the state asks for it.
    pub(super) fn unlock(&self, mut st: MutexGuard<'_, State>) {
        if std::mem::take(&mut st.wake) {
            self.cond.notify_all();
        }
    }

    /// Releases the state lock and delivers the outbox. Only with no other lock of
    /// ours held.
    pub(super) fn release(&self, st: MutexGuard<'_, State>) {
        let pending = !st.outbox.is_empty();
        self.unlock(st);
        if pending {
            self.deliver();
        }
    }

    /// Delivers queued notes in order. Only with no lock of ours held.
    pub(super) fn deliver(&self) {
        Outbox::deliver(
            &self.state,
            |s| &mut s.outbox,
            |note| self.deliver_note(note),
        );
    }

    pub(super) fn clock_now(&self) -> Option<u64> {
        self.obj().clock().map(|c| c.time().nseconds())
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

    fn deliver_note(&self, note: Note) {
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
                    clock_time(running_time)
                );
                let s = gst::Structure::builder("failover-switched")
                    .field("from", Input::name_of(from))
                    .field("to", Input::name_of(to))
                    .field("reason", reason.as_str())
                    .field("running-time", running_time)
                    .field("switch-count", count)
                    .build();
                self.post(s);
                self.obj().notify("active-pad");
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
            Note::OnAir(input, on_air) => {
                let _ = self
                    .pad_of(input)
                    .push_event(crate::on_air_event::new_event(on_air));
            }
            Note::Reconfigure(input) => self.reconfigure(input),
            Note::Aligned {
                offset,
                confident,
                confidence,
                running_time,
            } => self.post_aligned(offset, confident, confidence, running_time),
            Note::LatencyChanged => {
                let msg = gst::message::Latency::builder().src(&*self.obj()).build();
                let _ = self.obj().post_message(msg);
            }
            Note::GroupChanged => {
                let others = {
                    let st = self.lock_state();
                    st.group
                        .as_ref()
                        .map(|g| g.lock().others(st.member_id))
                        .unwrap_or_default()
                };
                for other in others.iter().filter_map(|w| w.upgrade()) {
                    other.imp().group_changed();
                }
            }
        }
    }

    /// Another member of the group decided or chose a switch point: follow, and send
    /// what may go out now.
    fn group_changed(&self) {
        let now = self.clock_now();
        let mut st = self.lock_state();
        if st.shutdown {
            return;
        }
        let pnow = st.policy_now(now);
        st.evaluate(pnow);
        let drain = st.active.or(st.next.map(|n| n.to));
        self.release(st);
        if let Some(input) = drain {
            let _ = self.drain(input);
        }
    }

    /// Joins the group named in the settings, in the element's pipeline.
    fn join_group(&self, st: &mut State) {
        let Some(name) = st.settings.group.clone().filter(|n| !n.is_empty()) else {
            return;
        };
        let obj = self.obj();
        let mut top: gst::Object = obj.clone().upcast();
        while let Some(p) = top.parent() {
            top = p;
        }
        let id = obj.as_ptr() as usize;
        let group = super::group::Group::join(
            top.as_ptr() as usize,
            &name,
            id,
            obj.downgrade(),
            st.settings.start_pad,
        );
        gst::debug!(CAT, imp = self, "member of group {}", group.name());
        let (seq, target) = {
            let gs = group.lock();
            (gs.seq, gs.target)
        };
        st.member_id = id;
        st.group_seq = seq;
        st.active = target;
        st.group = Some(group);
    }

    fn post(&self, s: gst::Structure) {
        let msg = gst::message::Element::builder(s).src(&*self.obj()).build();
        let _ = self.obj().post_message(msg);
    }

    fn stats(&self) -> gst::Structure {
        let clock_now = self.clock_now();
        let st = self.lock_state();
        let now = clock_now.filter(|_| st.live());
        let mut b = gst::Structure::builder("failover-stats")
            .field("switch-count", st.switch_count)
            .field("active", Input::name_of(st.target()))
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
                .field(format!("{n}-last-data-age"), age)
                .field(format!("{n}-delay"), p.delay);
        }
        b = b.field("offset", st.offset());
        b.build()
    }

    /// Manual switch through the `active-pad` property. The choice holds: automatic
    /// restore does not undo it, only a failure of that input or another write.
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
        let mut st = self.lock_state();
        if st.shutdown {
            st.settings.start_pad = target;
            st.active = Some(target);
        } else if let Some(fault @ (Reason::CapsMismatch | Reason::Eos)) =
            st.pad(target).health.fault()
        {
            let why = match fault {
                Reason::CapsMismatch => "its caps do not match the output",
                _ => "it has ended or is not linked",
            };
            st.outbox.push(Note::Warning(format!(
                "not switching to {}: {why}",
                target.name()
            )));
        } else {
            st.manual(target);
        }
        self.release(st);
    }

    /// Linking or unlinking an input: an unlinked input is absent, never switched
    /// to or waited for. This runs inside GStreamer's (un)link with pad locks held:
    /// what it decides is delivered, and an EOS sent, by the timer task.
    fn set_linked(&self, input: Input, linked: bool) {
        gst::debug!(CAT, imp = self, "{} input linked: {linked}", input.name());
        let mut st = self.lock_state();
        if st.shutdown {
            // Read again when the element starts.
            st.pad_mut(input).health.absent = !linked;
            return;
        }
        let now = st.policy_now(None);
        st.set_flag(input, now, |h| h.absent = !linked);
        st.evaluate(now);
        let all_ended = st.pads.iter().all(|p| p.health.eos || p.health.absent);
        st.eos_pending |= !linked && all_ended && st.out.pos.is_some();
        st.wake();
        self.unlock(st);
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
                // Held back by `latency` on top of the slower input.
                let ours = gst::ClockTime::from_nseconds(self.lock_state().added_latency());
                let (min, max) = (min + ours, max.map(|m| m + ours));
                gst::debug!(
                    CAT,
                    imp = self,
                    "latency: live {live} min {min} max {max:?}"
                );
                q.set(live, min, max);
                any
            }
            gst::QueryViewMut::Caps(q) => {
                let caps = self.src_caps(q.filter_owned().as_ref());
                q.set_result(&caps);
                true
            }
            // The active input's stream position and duration, before and after a
            // seek.
            gst::QueryViewMut::Position(_) | gst::QueryViewMut::Duration(_) => {
                let active = self.lock_state().active;
                active.is_some_and(|a| self.pad_of(a).peer_query(query))
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    fn sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let caps = self.sink_caps(pad, q.filter_owned().as_ref());
                q.set_result(&caps);
                true
            }
            gst::QueryViewMut::AcceptCaps(q) => {
                let ok = self.sink_accept_caps(&q.caps_owned());
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
                .link_function(|pad, parent, _peer| {
                    FailoverSwitch::catch_panic_pad_function(
                        parent,
                        || Err(gst::PadLinkError::Refused),
                        |imp| {
                            imp.set_linked(imp.input_of(pad), true);
                            Ok(gst::PadLinkSuccess)
                        },
                    )
                })
                .unlink_function(|pad, parent| {
                    FailoverSwitch::catch_panic_pad_function(
                        parent,
                        || (),
                        |imp| imp.set_linked(imp.input_of(pad), false),
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
            state: Mutex::new(State::new(Settings::default())),
            cond: Condvar::new(),
            push_lock: Mutex::new(()),
            align: Mutex::new(None),
        }
    }
}

impl ObjectImpl for FailoverSwitch {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt64::builder("timeout")
                    .nick("Timeout")
                    .blurb("An input that delivers no data for this long (ns), or whose data arrives this far behind real time, is unhealthy: on the pipeline clock when live, on running time (the other input being this far ahead) when not. Raised for an input whose buffers are longer")
                    .minimum(1_000_000)
                    .maximum(3_600 * gst::ClockTime::SECOND.nseconds())
                    .default_value(DEFAULT_TIMEOUT)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("restore-delay")
                    .nick("Restore delay")
                    .blurb("How long (ns) the primary must be healthy without interruption before going back to it (mode=primary-preferred)")
                    .maximum(24 * 3_600 * gst::ClockTime::SECOND.nseconds())
                    .default_value(DEFAULT_RESTORE_DELAY)
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
                    .blurb("The input whose data goes out (NULL while no input is healthy); writing it switches manually, and the choice holds until that input fails")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("caps-check", CapsCheck::Strict)
                    .nick("Caps check")
                    .blurb("How inputs' caps are checked against the output caps (fixed by the first active input to negotiate); only in NULL or READY")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("crossfade")
                    .nick("Crossfade")
                    .blurb("Raw audio: blend the outgoing and incoming input for this long (ns) at a switch, or fade the incoming one in if the outgoing died; 0 disables")
                    .maximum(MAX_CROSSFADE)
                    .default_value(DEFAULT_CROSSFADE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("fill-silence")
                    .nick("Fill silence")
                    .blurb("Raw audio: send silence while no input is healthy, so downstream stays connected")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("latency")
                    .nick("Latency")
                    .blurb("Live: hold the output back this long (ns, added to the latency it reports), so that a switch can reach back: the standby's data fills a stalled input's outage without a pause, and encoded video starts at the incoming input's last keyframe without freezing (up to one GOP plus timeout)")
                    .maximum(MAX_LATENCY)
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("group")
                    .nick("Group")
                    .blurb("Switches with the same group name in one pipeline (the audio and video switch of one programme) switch as one, at the same running time (the video's keyframe)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("align", AlignMode::Auto)
                    .nick("Align")
                    .blurb("Align the inputs by content so a switch neither repeats nor skips programme: auto measures raw audio inputs, manual applies the offset written by the application")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecInt64::builder("offset")
                    .nick("Offset")
                    .blurb("How much later (ns) the secondary carries the programme than the primary (negative: earlier); its data is placed that much earlier on the output. Measured with align=auto, written with align=manual")
                    .minimum(-(MAX_OFFSET as i64))
                    .maximum(MAX_OFFSET as i64)
                    .default_value(0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("max-offset")
                    .nick("Maximum offset")
                    .blurb("Largest offset (ns) between the inputs that align=auto searches, either way")
                    .minimum(100_000_000)
                    .maximum(MAX_OFFSET)
                    .default_value(super::state::DEFAULT_MAX_OFFSET)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("switch-count, active, dropped-buffers and, per input (primary-/secondary-): healthy, reason, active-time (ns of output), dropped, last-data-age (ns; G_MAXUINT64 if none yet), delay (ns the input was placed later to catch up at a switch)")
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
        let mut st = self.lock_state();
        let running = !st.shutdown;
        let s = &mut st.settings;
        match pspec.name() {
            "timeout" => s.timeout = value.get().unwrap_or(s.timeout),
            "restore-delay" => s.restore_delay = value.get().unwrap_or(s.restore_delay),
            "mode" => s.mode = value.get().unwrap_or(s.mode),
            "auto-switch" => s.auto_switch = value.get().unwrap_or(s.auto_switch),
            "crossfade" => s.crossfade = value.get().unwrap_or(s.crossfade),
            "fill-silence" => s.fill_silence = value.get().unwrap_or(s.fill_silence),
            "align" => s.align = value.get().unwrap_or(s.align),
            "offset" => {
                let v: i64 = value.get().unwrap_or(s.offset);
                if s.align == AlignMode::Auto {
                    st.outbox.push(Note::Warning(
                        "offset is measured with align=auto: set align=manual to write it".into(),
                    ));
                } else {
                    s.offset = v;
                    if running && s.align == AlignMode::Manual {
                        // A write is the application's measurement: inputs placed
                        // anew are measured (see `input.rs`), even if nothing moved.
                        for p in st.pads.iter_mut() {
                            p.realign = None;
                        }
                        if st.offset() != v {
                            st.set_offset(v);
                            st.outbox.push(Note::LatencyChanged);
                        }
                    }
                }
            }
            "caps-check" | "latency" | "group" | "max-offset" if running => {
                st.outbox.push(Note::Warning(format!(
                    "{} can only be changed in the NULL or READY state: ignored",
                    pspec.name()
                )));
            }
            "caps-check" => s.caps_check = value.get().unwrap_or(s.caps_check),
            "latency" => s.latency = value.get().unwrap_or(s.latency),
            "group" => s.group = value.get().unwrap_or(None),
            "max-offset" => s.max_offset = value.get().unwrap_or(s.max_offset),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
        // New timeouts or policy: re-evaluate now.
        st.wake();
        self.release(st);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "stats" {
            return self.stats().to_value();
        }
        let st = self.lock_state();
        let s = &st.settings;
        match pspec.name() {
            "timeout" => s.timeout.to_value(),
            "restore-delay" => s.restore_delay.to_value(),
            "mode" => s.mode.to_value(),
            "auto-switch" => s.auto_switch.to_value(),
            "caps-check" => s.caps_check.to_value(),
            "crossfade" => s.crossfade.to_value(),
            "fill-silence" => s.fill_silence.to_value(),
            "active-pad" => st.target().map(|i| self.pad_of(i).clone()).to_value(),
            "latency" => s.latency.to_value(),
            "align" => s.align.to_value(),
            "max-offset" => s.max_offset.to_value(),
            "offset" => st.offset().to_value(),
            "group" => s.group.to_value(),
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
                let linked = [self.primary.is_linked(), self.secondary.is_linked()];
                let mut st = self.lock_state();
                let mut fresh = State::new(st.settings.clone());
                for i in Input::BOTH {
                    fresh.pad_mut(i).health.absent = !linked[i.index()];
                }
                // Start on the input that is there.
                let start = fresh.settings.start_pad;
                if !linked[start.index()] && linked[start.other().index()] {
                    fresh.active = Some(start.other());
                }
                fresh.shutdown = false;
                if fresh.settings.align == AlignMode::Manual {
                    let offset = fresh.settings.offset;
                    fresh.set_offset(offset);
                }
                *st = fresh;
                self.join_group(&mut st);
                drop(st);
                *self.align.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
            gst::StateChange::PausedToPlaying => {
                let now = self.clock_now();
                let mut st = self.lock_state();
                st.playing = true;
                st.played = true;
                st.playing_since = now;
                st.playing_rt = now
                    .zip(self.obj().base_time())
                    .map(|(n, b)| n.saturating_sub(b.nseconds()));
                // Time spent paused counts neither against the inputs nor towards
                // their restore hold-off.
                let paused = st
                    .paused_at
                    .take()
                    .zip(now)
                    .map(|(p, n)| n.saturating_sub(p));
                let live = st.live();
                for p in st.pads.iter_mut() {
                    if p.last_data.is_some() {
                        p.last_data = now;
                    }
                    if let (Some(d), Some(since), true) = (paused, p.health.healthy_since, live) {
                        p.health.healthy_since = Some(since.saturating_add(d));
                    }
                }
                st.wake();
                self.unlock(st);
            }
            gst::StateChange::PlayingToPaused => {
                let now = self.clock_now();
                let mut st = self.lock_state();
                st.playing = false;
                st.paused_at = now;
                st.wake();
                self.unlock(st);
            }
            gst::StateChange::PausedToReady => {
                let mut st = self.lock_state();
                if let Some(g) = st.group.take() {
                    g.leave(st.member_id);
                }
                st.shutdown = true;
                st.playing = false;
                st.wake();
                self.unlock(st);
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

// SPDX-License-Identifier: MPL-2.0
//! Events of `failoverswitch`'s inputs, and the timer task that acts on timeouts and
//! fills the output while no input is healthy (live only).

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::capscheck;
use super::imp::{CAT, FailoverSwitch};
use super::policy::{Input, InputHealth};
use super::state::{Note, State, caps_desc, clock_time, raw_format};
use super::stream::{FILL_CHUNK, GAP_CHUNK, Item};
use super::timeline::{self, SampleClock};
use crate::health_event;

impl FailoverSwitch {
    /// An input back from EOS (flush or new stream) is not healthy before its data
    /// arrives: it waits as timed out instead of ended.
    fn revive(h: &mut InputHealth) {
        if h.eos {
            h.eos = false;
            h.timed_out = true;
        }
    }

    pub(super) fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        let input = self.input_of(pad);
        if let Some(verdict) = health_event::parse_event(&event) {
            gst::debug!(CAT, obj = pad, "probe verdict {verdict:?}");
            {
                let mut st = self.lock_state();
                let pnow = Self::policy_now(&st, self.clock_now());
                st.pad_mut(input).probe_reason = Some(verdict.reason).filter(|_| !verdict.healthy);
                self.set_flag(&mut st, input, pnow, |h| {
                    h.probe_unhealthy = !verdict.healthy
                });
                self.evaluate(&mut st, pnow);
            }
            self.emit();
            return true;
        }
        match event.view() {
            gst::EventView::StreamStart(_) => {
                // A new stream after EOS (a reconnected source): the input may be
                // taken again once its data arrives.
                let mut st = self.lock_state();
                if st.pad(input).health.eos {
                    gst::debug!(CAT, obj = pad, "new stream after EOS");
                    st.pad_mut(input).position = None;
                    let pnow = Self::policy_now(&st, None);
                    self.set_flag(&mut st, input, pnow, Self::revive);
                    self.evaluate(&mut st, pnow);
                }
                self.unlock(st);
                true
            }
            gst::EventView::Caps(c) => {
                self.ensure_live(pad, input);
                self.on_caps(input, c.caps_owned());
                true
            }
            gst::EventView::Segment(e) => {
                match e.segment().downcast_ref::<gst::ClockTime>() {
                    Some(seg) => {
                        let mut st = self.lock_state();
                        st.pad_mut(input).segment = seg.clone();
                        st.pad_mut(input).time_segment = true;
                    }
                    None => {
                        let mut st = self.lock_state();
                        st.pad_mut(input).time_segment = false;
                        st.notes.push(Note::Warning(format!(
                            "{} input: segment is not in TIME format; its timestamps are ignored",
                            input.name()
                        )));
                        drop(st);
                        self.emit();
                    }
                }
                true
            }
            gst::EventView::Eos(_) => {
                self.on_eos(input);
                true
            }
            // A flush goes out on the active input, and on any input once the output
            // has ended (EOS must be flushed away downstream before data can follow).
            gst::EventView::FlushStart(_) => {
                let forward = {
                    let mut st = self.lock_state();
                    let p = st.pad_mut(input);
                    p.flushing = true;
                    p.held.clear();
                    self.wake(&mut st);
                    st.active == Some(input) || st.out.eos_sent
                };
                !forward || self.srcpad.push_event(event)
            }
            gst::EventView::FlushStop(f) => {
                let forward = {
                    let mut st = self.lock_state();
                    let p = st.pad_mut(input);
                    p.flushing = false;
                    p.position = None;
                    p.segment = gst::FormattedSegment::new();
                    p.time_segment = true;
                    let pnow = Self::policy_now(&st, None);
                    self.set_flag(&mut st, input, pnow, Self::revive);
                    let forward = st.active == Some(input) || st.out.eos_sent;
                    if forward {
                        if f.resets_time() {
                            st.out.pos = None;
                        }
                        st.out.segment_pending = true;
                        st.out.eos_sent = false;
                    }
                    // An input back from EOS may be taken again.
                    self.evaluate(&mut st, pnow);
                    self.unlock(st);
                    forward
                };
                !forward || self.srcpad.push_event(event)
            }
            gst::EventView::Gap(g) => {
                self.on_gap(input, g.get());
                true
            }
            _ => self.forward(input, event),
        }
    }

    /// Forwards other events of the active input; the standby's are dropped.
    pub(super) fn forward(&self, input: Input, event: gst::Event) -> bool {
        if !event.is_serialized() {
            return self.lock_state().active != Some(input) || self.srcpad.push_event(event);
        }
        let _push = self.push_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut items = Vec::new();
        {
            let mut st = self.lock_state();
            if st.active != Some(input) {
                gst::log!(
                    CAT,
                    imp = self,
                    "dropping {} event from the standby input",
                    event.type_()
                );
                return true;
            }
            self.initial_events(&mut st, &mut items);
        }
        items.push(Item::Event(event));
        let _ = self.send(items);
        true
    }

    pub(super) fn on_caps(&self, input: Input, caps: gst::Caps) {
        {
            let mut st = self.lock_state();
            let p = st.pad_mut(input);
            p.raw = raw_format(&caps).map(|r| (r.info.rate(), r.info.bpf() as usize));
            p.caps = Some(caps);
            if st.out.desc.is_some() {
                self.check_caps(&mut st, input);
            } else if st.active == Some(input) {
                self.fix_output_caps(&mut st, input);
            }
        }
        self.emit();
    }

    /// The output takes the caps of the first active input to negotiate (so a standby
    /// that negotiates first does not decide the format); the other input is then
    /// checked against them.
    pub(super) fn fix_output_caps(&self, st: &mut State, input: Input) {
        let Some(caps) = st.pad(input).caps.clone() else {
            return;
        };
        gst::info!(
            CAT,
            imp = self,
            "output caps fixed by {}: {caps}",
            input.name()
        );
        st.out.desc = Some(caps_desc(&caps));
        st.out.raw = raw_format(&caps);
        st.out.caps = Some(caps);
        st.out.caps_pending = true;
        if st.pad(input.other()).caps.is_some() {
            self.check_caps(st, input.other());
        }
    }

    /// caps-check=strict: an input whose caps differ from the output's in a format
    /// field is refused (with a WARNING naming every difference) until they match.
    fn check_caps(&self, st: &mut State, input: Input) {
        if st.follow_caps {
            return;
        }
        let (Some(out), Some(caps)) = (&st.out.desc, &st.pad(input).caps) else {
            return;
        };
        let diffs = capscheck::differences(out, &caps_desc(caps));
        let mismatch = !diffs.is_empty();
        if mismatch {
            st.notes.push(Note::Warning(format!(
                "{} input caps do not match the output ({}); its data is dropped until it matches",
                input.name(),
                capscheck::describe(&diffs)
            )));
            st.pad_mut(input).held.clear();
        }
        let pnow = Self::policy_now(st, self.clock_now());
        self.set_flag(st, input, pnow, |h| h.caps_mismatch = mismatch);
        self.evaluate(st, pnow);
    }

    pub(super) fn on_eos(&self, input: Input) {
        let all_ended = {
            let mut st = self.lock_state();
            let pnow = Self::policy_now(&st, self.clock_now());
            self.set_flag(&mut st, input, pnow, |h| h.eos = true);
            self.evaluate(&mut st, pnow);
            st.pads.iter().all(|p| p.health.eos)
        };
        self.emit();
        if !all_ended {
            return;
        }
        let _push = self.push_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut items = Vec::new();
        {
            let mut st = self.lock_state();
            if st.out.eos_sent {
                return;
            }
            st.out.eos_sent = true;
            self.initial_events(&mut st, &mut items);
        }
        gst::debug!(CAT, imp = self, "both inputs ended: EOS");
        items.push(Item::Event(gst::event::Eos::new()));
        let _ = self.send(items);
    }

    /// A GAP event counts as data; on the active input it goes out.
    pub(super) fn on_gap(&self, input: Input, (ts, dur): (gst::ClockTime, Option<gst::ClockTime>)) {
        let _push = self.push_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut items = Vec::new();
        {
            let mut st = self.lock_state();
            let now = self.clock_now().filter(|_| st.live());
            let Some(start) = st
                .pad(input)
                .segment
                .to_running_time(ts)
                .map(|t| t.nseconds())
            else {
                return;
            };
            let end = start.saturating_add(dur.map_or(0, |d| d.nseconds()));
            let p = st.pad_mut(input);
            p.last_data = now.or(p.last_data);
            p.position = Some(p.position.map_or(end, |x| x.max(end)));
            if st.active != Some(input) || st.out.pos.is_some_and(|o| end <= o) {
                return;
            }
            self.initial_events(&mut st, &mut items);
            let from = st.out.pos.map_or(start, |o| o.max(start));
            items.push(Item::Event(
                gst::event::Gap::builder(clock_time(from))
                    .duration(clock_time(end - from))
                    .build(),
            ));
            st.out.pos = Some(end);
            st.out.clock = SampleClock::new(end);
        }
        let _ = self.send(items);
    }

    /// The next clock time the timer task must look at, if any.
    pub(super) fn next_deadline(&self, st: &State) -> Option<u64> {
        let s = &st.settings;
        let timeouts = st
            .pads
            .iter()
            .filter(|p| !p.health.timed_out && !p.health.eos)
            .filter_map(|p| {
                p.last_data
                    .or(st.playing_since)
                    .map(|t| t.saturating_add(s.timeout))
            });
        // Raw audio without fill-silence has nothing to send: no filler deadline
        // (it would be in the past at once and spin the task).
        let fills = st.out.raw.is_none() || s.fill_silence;
        let fill = (st.active.is_none() && st.out.caps.is_some() && fills).then(|| {
            let base = self.obj().base_time().map_or(0, gst::ClockTime::nseconds);
            let chunk = if st.out.raw.is_some() {
                FILL_CHUNK
            } else {
                GAP_CHUNK
            };
            st.out
                .pos
                .map_or(0, |o| base.saturating_add(o).saturating_add(chunk))
        });
        timeouts.chain(fill).min()
    }

    /// One round of the source pad task (live only): waits on the pipeline clock for
    /// the next timeout or filler deadline, then acts on it.
    pub(super) fn task_iteration(&self) {
        let clock = self.obj().clock();
        let mut st = self.lock_state();
        if st.shutdown {
            drop(st);
            let _ = self.srcpad.pause_task();
            return;
        }
        let deadline = if st.live() && st.playing {
            self.next_deadline(&st)
        } else {
            None
        };
        let (Some(clock), Some(deadline)) = (clock, deadline) else {
            drop(self.cond.wait(st));
            return;
        };
        let id = clock.new_single_shot_id(clock_time(deadline));
        st.clock_id = Some(id.clone());
        drop(st);
        let _ = id.wait();
        let now = clock.time().nseconds();
        {
            let mut st = self.lock_state();
            st.clock_id = None;
            if st.shutdown || !st.playing {
                return;
            }
            self.refresh(&mut st, Some(now));
            let pnow = Self::policy_now(&st, Some(now));
            self.evaluate(&mut st, pnow);
        }
        self.emit();
        self.fill(now);
    }

    /// While no input is healthy: silence (raw audio) or GAP events up to `now`.
    pub(super) fn fill(&self, now: u64) {
        let _push = self.push_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut items = Vec::new();
        {
            let mut st = self.lock_state();
            if st.active.is_some() || st.shutdown || st.out.caps.is_none() {
                return;
            }
            let base = self.obj().base_time().map_or(0, gst::ClockTime::nseconds);
            let rt_now = now.saturating_sub(base);
            self.initial_events(&mut st, &mut items);
            match st.out.raw.clone() {
                Some(raw) if st.settings.fill_silence => {
                    let rate = raw.info.rate();
                    if st.out.pos.is_none() {
                        // Nothing went out yet: the output starts now.
                        st.out.clock = SampleClock::new(rt_now);
                        st.out.pos = Some(rt_now);
                    }
                    let pos = st.out.clock.position(rate);
                    let frames = timeline::ns_to_frames(rt_now.saturating_sub(pos), rate);
                    if frames > 0 {
                        items.extend(Self::silence(&mut st, frames).map(Item::Buffer));
                    }
                }
                Some(_) => return,
                None => {
                    let from = *st.out.pos.get_or_insert(rt_now);
                    if from < rt_now {
                        items.push(Item::Event(
                            gst::event::Gap::builder(clock_time(from))
                                .duration(clock_time(rt_now - from))
                                .build(),
                        ));
                        st.out.pos = Some(rt_now);
                    }
                }
            }
        }
        let _ = self.send(items);
    }
}

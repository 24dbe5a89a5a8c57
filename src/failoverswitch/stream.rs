// SPDX-License-Identifier: MPL-2.0
//! Data flow of `failoverswitch`: buffers and events from both inputs, the standby
//! wait, the one continuous output, the timer task and the silence filler.

use std::time::{Duration, Instant};

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::CapsCheck;
use super::capscheck;
use super::fade::{self, Outgoing};
use super::imp::{CAT, FailoverSwitch, Settings};
use super::policy::{self, Input, Reason};
use super::state::{Fade, Held, Note, PadState, RawFormat, State, caps_desc, raw_format};
use super::timeline::{self, ALIGN_THRESHOLD, RawPlan, SampleClock};
use crate::health_event;

/// While no input is healthy, silence goes out up to the clock every this often
/// (raw audio)...
const FILL_CHUNK: u64 = 20_000_000;
/// ... and GAP events every this often (other media).
const GAP_CHUNK: u64 = 100_000_000;
/// Standby data kept beyond the timeout (live), for the latency difference.
const HELD_MARGIN: u64 = 1_000_000_000;
/// Longest the incoming input's data waits for the outgoing's during a crossfade.
const FADE_WAIT: u64 = 200_000_000;

/// Something to send on the source pad.
enum Item {
    Buffer(gst::Buffer),
    Event(gst::Event),
}

type FlowResult = Result<gst::FlowSuccess, gst::FlowError>;

impl FailoverSwitch {
    /// Re-arms the timer task and wakes waiting standby inputs.
    pub(super) fn wake(&self, st: &mut State) {
        if let Some(id) = st.clock_id.take() {
            id.unschedule();
        }
        self.cond.notify_all();
    }

    fn clock_now(&self) -> Option<u64> {
        self.obj().clock().map(|c| c.time().nseconds())
    }

    /// Time base of the restore hold-off: the clock when live, else the primary's
    /// running time.
    fn policy_now(st: &State, clock_now: Option<u64>) -> u64 {
        if st.live() {
            clock_now.unwrap_or(0)
        } else {
            st.pad(Input::Primary).position.unwrap_or(0)
        }
    }

    fn settle(&self, st: &mut State, i: Input, was_healthy: bool, now: u64) {
        if st.pad_mut(i).health.settle(was_healthy, now) {
            let p = st.pad(i);
            st.notes.push(Note::Health {
                pad: i,
                healthy: p.health.is_healthy(),
                reason: p.health_reason(),
            });
        }
    }

    /// Changes one health flag of an input and reports a changed verdict.
    fn set_flag(
        &self,
        st: &mut State,
        i: Input,
        now: u64,
        f: impl FnOnce(&mut policy::InputHealth),
    ) {
        let was = st.pad(i).health.is_healthy();
        f(&mut st.pad_mut(i).health);
        self.settle(st, i, was, now);
    }

    /// Live: marks inputs without data for `timeout` as timed out.
    fn refresh(&self, st: &mut State, s: &Settings, now: Option<u64>) {
        let Some(now) = now.filter(|_| st.live() && st.playing) else {
            return;
        };
        for i in Input::BOTH {
            let p = st.pad(i);
            let since = p.last_data.or(st.playing_since);
            if !p.health.timed_out && since.is_some_and(|t| now >= t.saturating_add(s.timeout)) {
                let pnow = Self::policy_now(st, Some(now));
                self.set_flag(st, i, pnow, |h| h.timed_out = true);
            }
        }
    }

    fn evaluate(&self, st: &mut State, s: &Settings, now: u64) {
        if let Some(sw) = policy::decide(&s.policy(), st.active, &st.health(), now) {
            if sw.to != st.active {
                self.switch(st, sw.to, sw.reason);
            }
        }
    }

    pub(super) fn switch(&self, st: &mut State, to: Option<Input>, reason: Reason) {
        let s = self.settings();
        let from = st.active;
        st.active = to;
        st.switch_count += 1;
        st.out.discont = true;
        st.out.just_switched = true;
        st.out.fade = match (&st.out.raw, to) {
            (Some(raw), Some(_)) if s.crossfade > 0 && raw.sample.is_some() => Some(Fade {
                pos: 0,
                len: timeline::ns_to_frames(s.crossfade, raw.info.rate()),
                outgoing: from.filter(|_| reason.outgoing_alive()),
            }),
            _ => None,
        };
        st.notes.push(Note::Switched {
            from,
            to,
            reason,
            running_time: st.out.pos.unwrap_or(0),
            count: st.switch_count,
        });
        self.wake(st);
    }

    /// Running-time span of a buffer on its input.
    fn span(p: &PadState, out_pos: Option<u64>, buffer: &gst::BufferRef) -> (u64, u64) {
        let start = buffer
            .pts()
            .and_then(|pts| p.segment.to_running_time(pts))
            .map(gst::ClockTime::nseconds)
            .or(p.position)
            .or(out_pos)
            .unwrap_or(0);
        let duration = match p.raw {
            Some((rate, bpf)) => timeline::frames_to_ns((buffer.size() / bpf) as u64, rate),
            None => buffer
                .duration()
                .map_or(p.last_duration, gst::ClockTime::nseconds),
        };
        (start, start.saturating_add(duration))
    }

    pub(super) fn sink_chain(&self, pad: &gst::Pad, buffer: gst::Buffer) -> FlowResult {
        let input = self.input_of(pad);
        let s = self.settings();
        if self.lock_state().pad(input).live.is_none() {
            let mut q = gst::query::Latency::new();
            let live = pad.peer_query(&mut q) && q.result().0;
            gst::debug!(CAT, obj = pad, "upstream live: {live}");
            let mut st = self.lock_state();
            st.pad_mut(input).live = Some(live);
            self.wake(&mut st);
        }
        let mut st = self.lock_state();
        if st.shutdown || st.pad(input).flushing {
            return Err(gst::FlowError::Flushing);
        }
        let live = st.live();
        let now = if live { self.clock_now() } else { None };
        let (start, end) = Self::span(st.pad(input), st.out.pos, &buffer);
        {
            let p = st.pad_mut(input);
            p.last_data = now.or(p.last_data);
            p.last_data_instant = Some(Instant::now());
            if end > start {
                p.last_duration = end - start;
            }
            let hole = p.position.is_some_and(|pos| start > pos + ALIGN_THRESHOLD);
            p.position = Some(p.position.map_or(end, |pos| pos.max(end)));
            if hole {
                // An interruption restarts the restore hold-off.
                let pnow = Self::policy_now(&st, now);
                st.pad_mut(input).health.interrupted(pnow);
            }
        }
        let pnow = Self::policy_now(&st, now);
        self.set_flag(&mut st, input, pnow, |h| h.timed_out = false);
        self.refresh(&mut st, &s, now);
        if st.pad(input).health.caps_mismatch {
            self.evaluate(&mut st, &s, pnow);
            st.pad_mut(input).dropped += 1;
            gst::log!(
                CAT,
                obj = pad,
                "dropping buffer: caps do not match the output"
            );
            drop(st);
            self.emit();
            return Ok(gst::FlowSuccess::Ok);
        }
        // Not live: an active input whose data jumps more than `timeout` past the
        // output is late for that span.
        let jumped = st
            .out
            .pos
            .is_some_and(|o| start > o.saturating_add(s.timeout));
        if !live && jumped && st.active == Some(input) && st.pad(input.other()).health.is_healthy()
        {
            self.set_flag(&mut st, input, pnow, |h| h.timed_out = true);
        }
        self.evaluate(&mut st, &s, pnow);
        st.pad_mut(input)
            .held
            .push_back(Held { start, end, buffer });

        if st.active != Some(input) {
            let out_pos = st.out.pos;
            // This input is being faded out: the incoming data may wait for it.
            let fading = st.active.filter(|_| {
                st.out
                    .fade
                    .as_ref()
                    .is_some_and(|f| f.outgoing == Some(input))
            });
            let p = st.pad_mut(input);
            p.drop_held_before(out_pos);
            let standby_done = live || p.held.is_empty();
            if standby_done {
                p.cap_held(s.timeout + HELD_MARGIN);
            }
            drop(st);
            self.emit();
            if let Some(active) = fading {
                let _ = self.drain(active);
            }
            if standby_done {
                return Ok(gst::FlowSuccess::Ok);
            }
            if let Some(ret) = self.wait_standby(input, start, end, &s) {
                return ret;
            }
        } else {
            drop(st);
            self.emit();
        }
        self.drain(input)
    }

    /// Not live: a standby buffer waits until the output has reached it (then it is
    /// dropped), or until its input becomes active (`None`: then it goes out). If the
    /// output does not move for `timeout`, or the buffer is more than `timeout` ahead
    /// of it, the active input is late and loses its place.
    fn wait_standby(&self, input: Input, start: u64, end: u64, s: &Settings) -> Option<FlowResult> {
        let timeout = Duration::from_nanos(s.timeout);
        let mut st = self.lock_state();
        let mut since = Instant::now();
        let mut last_pos = st.out.pos;
        loop {
            if st.shutdown || st.pad(input).flushing {
                st.pad_mut(input).held.clear();
                return Some(Err(gst::FlowError::Flushing));
            }
            if st.active == Some(input) {
                return None;
            }
            let out_pos = st.out.pos;
            if out_pos.is_some_and(|o| end <= o) {
                st.pad_mut(input).drop_held_before(out_pos);
                return Some(Ok(gst::FlowSuccess::Ok));
            }
            if out_pos != last_pos {
                last_pos = out_pos;
                since = Instant::now();
            }
            let ahead = out_pos.is_some_and(|o| start > o.saturating_add(s.timeout));
            let waited = since.elapsed();
            if ahead || waited >= timeout {
                let pnow = Self::policy_now(&st, None);
                if let Some(a) = st.active {
                    gst::debug!(CAT, imp = self, "{} is late", a.name());
                    self.set_flag(&mut st, a, pnow, |h| h.timed_out = true);
                }
                self.evaluate(&mut st, s, pnow);
                let active = st.active == Some(input);
                if !active {
                    // Nothing to switch to: drop rather than block upstream forever.
                    let held = &mut st.pad_mut(input).held;
                    held.retain(|h| h.start != start);
                    st.pad_mut(input).dropped += 1;
                }
                drop(st);
                self.emit();
                return if active {
                    None
                } else {
                    Some(Ok(gst::FlowSuccess::Ok))
                };
            }
            st = match self.cond.wait_timeout(st, timeout - waited) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Sends the active input's held data (trimmed and faded as needed).
    fn drain(&self, input: Input) -> FlowResult {
        let _push = self.push_lock.lock().unwrap_or_else(|e| e.into_inner());
        let items = {
            let mut st = self.lock_state();
            if st.shutdown || st.pad(input).flushing {
                return Err(gst::FlowError::Flushing);
            }
            if st.active != Some(input) {
                return Ok(gst::FlowSuccess::Ok);
            }
            let mut items = Vec::new();
            if self.settings().caps_check == CapsCheck::None {
                self.follow_caps(&mut st, input);
            }
            self.initial_events(&mut st, &mut items);
            while let Some(end) = st.pad(input).held.front().map(|h| h.end) {
                if !Self::fade_ready(&mut st, input, end) {
                    break;
                }
                if let Some(h) = st.pad_mut(input).held.pop_front() {
                    self.prepare(&mut st, input, h, &mut items);
                }
            }
            items
        };
        self.send(items)
    }

    /// During a crossfade, the incoming data up to `end` waits until the outgoing
    /// input's data for the same time has arrived (or it has stopped delivering, or
    /// the wait grew too long: then the incoming input only fades in).
    fn fade_ready(st: &mut State, input: Input, end: u64) -> bool {
        let Some(o) = st.out.fade.as_ref().and_then(|f| f.outgoing) else {
            return true;
        };
        let op = st.pad(o);
        if op.position.is_some_and(|p| p >= end) || !op.health.is_healthy() || op.flushing {
            return true;
        }
        let held = &st.pad(input).held;
        let span = match (held.front(), held.back()) {
            (Some(a), Some(b)) => b.end.saturating_sub(a.start),
            _ => 0,
        };
        if span > FADE_WAIT {
            if let Some(f) = st.out.fade.as_mut() {
                f.outgoing = None;
            }
            return true;
        }
        false
    }

    /// caps-check=none: the output takes the active input's caps.
    fn follow_caps(&self, st: &mut State, input: Input) {
        let caps = st.pad(input).caps.clone();
        if caps.is_some() && caps != st.out.caps {
            if let Some(c) = &caps {
                st.out.raw = raw_format(c);
                st.out.desc = Some(caps_desc(c));
            }
            st.out.caps = caps;
            st.out.caps_pending = true;
        }
    }

    fn send(&self, items: Vec<Item>) -> FlowResult {
        let mut ret = Ok(gst::FlowSuccess::Ok);
        for item in items {
            match item {
                Item::Buffer(b) => {
                    ret = self.srcpad.push(b);
                    if ret.is_err() {
                        gst::debug!(CAT, imp = self, "downstream returned {ret:?}");
                        break;
                    }
                }
                Item::Event(e) => {
                    if !self.srcpad.push_event(e) {
                        gst::debug!(CAT, imp = self, "downstream refused an event");
                    }
                }
            }
        }
        ret
    }

    /// Stream-start, caps and segment, once, before anything else goes out.
    fn initial_events(&self, st: &mut State, items: &mut Vec<Item>) {
        if !st.out.stream_start_sent {
            // Our own stream: an element with two sink pads cannot derive its id
            // from upstream.
            let id = format!(
                "failover-{:08x}{:08x}",
                gst::glib::random_int(),
                gst::glib::random_int()
            );
            items.push(Item::Event(
                gst::event::StreamStart::builder(&id)
                    .group_id(st.group_id)
                    .build(),
            ));
            st.out.stream_start_sent = true;
        }
        if st.out.caps_pending {
            if let Some(caps) = &st.out.caps {
                items.push(Item::Event(gst::event::Caps::new(caps)));
            }
            st.out.caps_pending = false;
        }
        if st.out.segment_pending && st.out.caps.is_some() {
            let segment = gst::FormattedSegment::<gst::ClockTime>::new();
            items.push(Item::Event(gst::event::Segment::new(&segment)));
            st.out.segment_pending = false;
        }
    }

    fn mark(st: &mut State, buffer: &mut gst::BufferRef) {
        if std::mem::take(&mut st.out.discont) {
            buffer.set_flags(gst::BufferFlags::DISCONT);
        } else {
            buffer.unset_flags(gst::BufferFlags::DISCONT);
        }
    }

    /// `frames` of silence at the output position.
    fn silence(st: &mut State, frames: u64) -> Option<gst::Buffer> {
        let raw = st.out.raw.clone()?;
        let mut buffer = gst::Buffer::with_size(frames as usize * raw.info.bpf() as usize).ok()?;
        let (pts, duration) = st.out.clock.advance(frames, raw.info.rate());
        {
            let b = buffer.get_mut()?;
            if let Ok(mut map) = b.map_writable() {
                raw.info.format_info().fill_silence(&mut map);
            }
            b.set_pts(gst::ClockTime::from_nseconds(pts));
            b.set_duration(gst::ClockTime::from_nseconds(duration));
            b.set_flags(gst::BufferFlags::GAP);
            Self::mark(st, b);
        }
        st.out.pos = Some(pts + duration);
        Some(buffer)
    }

    /// Maps one buffer of the active input onto the output timeline.
    fn prepare(&self, st: &mut State, input: Input, held: Held, items: &mut Vec<Item>) {
        let before = items.len();
        match st.out.raw.clone() {
            Some(raw) => self.prepare_raw(st, input, held, &raw, items),
            None => self.prepare_encoded(st, input, held, items),
        }
        // Trimming stays sample-accurate until something of the new input went out.
        if items.len() > before {
            st.out.just_switched = false;
        }
    }

    fn prepare_raw(
        &self,
        st: &mut State,
        input: Input,
        held: Held,
        raw: &RawFormat,
        items: &mut Vec<Item>,
    ) {
        let Held {
            start, mut buffer, ..
        } = held;
        let (rate, bpf) = (raw.info.rate(), raw.info.bpf() as usize);
        let frames = (buffer.size() / bpf) as u64;
        let tolerance = if st.out.just_switched {
            timeline::frames_to_ns(1, rate) / 2
        } else {
            ALIGN_THRESHOLD
        };
        let RawPlan::Send {
            pts,
            skip,
            silence,
            jump,
        } = timeline::plan_raw(st.out.pos, start, frames, rate, tolerance)
        else {
            gst::log!(
                CAT,
                imp = self,
                "dropping {} buffer before the output position",
                input.name()
            );
            st.pad_mut(input).dropped += 1;
            return;
        };
        if jump || st.out.pos.is_none() {
            st.out.clock = SampleClock::new(pts);
            st.out.discont |= jump;
        }
        if silence > 0 {
            gst::debug!(
                CAT,
                imp = self,
                "filling a hole of {silence} frames with silence"
            );
            let disc = std::mem::take(&mut st.out.discont);
            if let Some(b) = Self::silence(st, silence) {
                items.push(Item::Buffer(b));
            }
            st.out.discont = disc;
        }
        if skip > 0 {
            gst::debug!(CAT, imp = self, "trimming {skip} overlapping frames");
            match buffer.copy_region(gst::BufferCopyFlags::all(), skip as usize * bpf..) {
                Ok(b) => buffer = b,
                Err(_) => {
                    st.pad_mut(input).dropped += 1;
                    return;
                }
            }
        }
        let n = frames - skip;
        let b = buffer.make_mut();
        if let (Some(fade), Some(format)) = (st.out.fade.as_mut(), raw.sample) {
            let out_pts = st.out.clock.position(rate);
            let outgoing = fade
                .outgoing
                .map(|o| &st.pads[o.index()])
                .filter(|p| !p.health.caps_mismatch);
            apply_fade(b, fade, outgoing, raw, format, out_pts, n);
            if fade.pos >= fade.len {
                st.out.fade = None;
            }
        }
        let (pts, duration) = st.out.clock.advance(n, rate);
        b.set_pts(gst::ClockTime::from_nseconds(pts));
        b.set_dts(gst::ClockTime::NONE);
        b.set_duration(gst::ClockTime::from_nseconds(duration));
        Self::mark(st, b);
        st.out.pos = Some(pts + duration);
        st.pad_mut(input).active_time += duration;
        items.push(Item::Buffer(buffer));
    }

    fn prepare_encoded(&self, st: &mut State, input: Input, held: Held, items: &mut Vec<Item>) {
        let Held {
            start,
            end,
            mut buffer,
        } = held;
        let duration = end - start;
        if st.out.just_switched
            && (!timeline::keep_encoded(st.out.pos, start, duration)
                || buffer.flags().contains(gst::BufferFlags::DELTA_UNIT))
        {
            gst::log!(
                CAT,
                imp = self,
                "dropping {} unit before the switch point",
                input.name()
            );
            st.pad_mut(input).dropped += 1;
            return;
        }
        let pts = match st.out.pos {
            Some(o) if st.out.just_switched && start < o => o,
            _ => start,
        };
        if let Some(o) = st.out.pos.filter(|&o| pts > o + ALIGN_THRESHOLD) {
            let gap = gst::event::Gap::builder(gst::ClockTime::from_nseconds(o))
                .duration(gst::ClockTime::from_nseconds(pts - o))
                .build();
            items.push(Item::Event(gap));
        }
        let p = st.pad(input);
        let b = buffer.make_mut();
        let dts = b
            .dts()
            .and_then(|d| p.segment.to_running_time(d))
            .map(|d| d.nseconds().saturating_add(pts - start));
        b.set_pts(gst::ClockTime::from_nseconds(pts));
        b.set_dts(dts.map(gst::ClockTime::from_nseconds));
        Self::mark(st, b);
        let new_end = pts + duration;
        st.out.pos = Some(st.out.pos.map_or(new_end, |o| o.max(new_end)));
        st.pad_mut(input).active_time += duration;
        items.push(Item::Buffer(buffer));
    }

    pub(super) fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        let input = self.input_of(pad);
        if let Some(verdict) = health_event::parse_event(&event) {
            gst::debug!(CAT, obj = pad, "probe verdict {verdict:?}");
            let s = self.settings();
            {
                let mut st = self.lock_state();
                let pnow = Self::policy_now(&st, self.clock_now());
                st.pad_mut(input).probe_reason = Some(verdict.reason).filter(|_| !verdict.healthy);
                self.set_flag(&mut st, input, pnow, |h| {
                    h.probe_unhealthy = !verdict.healthy
                });
                self.evaluate(&mut st, &s, pnow);
            }
            self.emit();
            return true;
        }
        match event.view() {
            gst::EventView::StreamStart(_) => true,
            gst::EventView::Caps(c) => {
                self.on_caps(input, c.caps_owned());
                true
            }
            gst::EventView::Segment(e) => {
                match e.segment().downcast_ref::<gst::ClockTime>() {
                    Some(seg) => self.lock_state().pad_mut(input).segment = seg.clone(),
                    None => {
                        self.lock_state().notes.push(Note::Warning(format!(
                            "{} input: segment is not in TIME format; its timestamps are ignored",
                            input.name()
                        )));
                        self.emit();
                    }
                }
                true
            }
            gst::EventView::Eos(_) => {
                self.on_eos(input);
                true
            }
            gst::EventView::FlushStart(_) => {
                let active = {
                    let mut st = self.lock_state();
                    let p = st.pad_mut(input);
                    p.flushing = true;
                    p.held.clear();
                    self.wake(&mut st);
                    st.active == Some(input)
                };
                !active || self.srcpad.push_event(event)
            }
            gst::EventView::FlushStop(f) => {
                let active = {
                    let mut st = self.lock_state();
                    let p = st.pad_mut(input);
                    p.flushing = false;
                    p.position = None;
                    p.segment = gst::FormattedSegment::new();
                    let pnow = Self::policy_now(&st, None);
                    self.set_flag(&mut st, input, pnow, |h| h.eos = false);
                    let active = st.active == Some(input);
                    if active {
                        if f.resets_time() {
                            st.out.pos = None;
                        }
                        st.out.segment_pending = true;
                        st.out.eos_sent = false;
                    }
                    drop(st);
                    self.emit();
                    active
                };
                !active || self.srcpad.push_event(event)
            }
            gst::EventView::Gap(g) => {
                self.on_gap(input, g.get());
                true
            }
            _ => self.forward(input, event),
        }
    }

    /// Forwards other events of the active input; the standby's are dropped.
    fn forward(&self, input: Input, event: gst::Event) -> bool {
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

    fn on_caps(&self, input: Input, caps: gst::Caps) {
        let s = self.settings();
        {
            let mut st = self.lock_state();
            let raw = raw_format(&caps);
            st.pad_mut(input).raw = raw.as_ref().map(|r| (r.info.rate(), r.info.bpf() as usize));
            st.pad_mut(input).caps = Some(caps.clone());
            match &st.out.desc {
                None => {
                    gst::info!(
                        CAT,
                        imp = self,
                        "output caps fixed by {}: {caps}",
                        input.name()
                    );
                    st.out.desc = Some(caps_desc(&caps));
                    st.out.raw = raw;
                    st.out.caps = Some(caps);
                    st.out.caps_pending = true;
                }
                Some(out) if s.caps_check == CapsCheck::Strict => {
                    let diffs = capscheck::differences(out, &caps_desc(&caps));
                    let mismatch = !diffs.is_empty();
                    if mismatch {
                        st.notes.push(Note::Warning(format!(
                            "{} input caps do not match the output ({}); its data is dropped until it matches",
                            input.name(),
                            capscheck::describe(&diffs)
                        )));
                        st.pad_mut(input).held.clear();
                    }
                    let pnow = Self::policy_now(&st, self.clock_now());
                    self.set_flag(&mut st, input, pnow, |h| h.caps_mismatch = mismatch);
                    self.evaluate(&mut st, &s, pnow);
                }
                Some(_) => (),
            }
        }
        self.emit();
    }

    fn on_eos(&self, input: Input) {
        let s = self.settings();
        let all_ended = {
            let mut st = self.lock_state();
            let pnow = Self::policy_now(&st, self.clock_now());
            self.set_flag(&mut st, input, pnow, |h| h.eos = true);
            self.evaluate(&mut st, &s, pnow);
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
    fn on_gap(&self, input: Input, (ts, dur): (gst::ClockTime, Option<gst::ClockTime>)) {
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
            let end = start + dur.map_or(0, |d| d.nseconds());
            let p = st.pad_mut(input);
            p.last_data = now.or(p.last_data);
            p.position = Some(p.position.map_or(end, |x| x.max(end)));
            if st.active != Some(input) || st.out.pos.is_some_and(|o| end <= o) {
                return;
            }
            self.initial_events(&mut st, &mut items);
            let from = st.out.pos.map_or(start, |o| o.max(start));
            items.push(Item::Event(
                gst::event::Gap::builder(gst::ClockTime::from_nseconds(from))
                    .duration(gst::ClockTime::from_nseconds(end - from))
                    .build(),
            ));
            st.out.pos = Some(end);
            st.out.clock = SampleClock::new(end);
        }
        let _ = self.send(items);
    }

    /// The next clock time the timer task must look at, if any.
    fn next_deadline(&self, st: &State, s: &Settings) -> Option<u64> {
        let timeouts = st
            .pads
            .iter()
            .filter(|p| !p.health.timed_out && !p.health.eos)
            .filter_map(|p| {
                p.last_data
                    .or(st.playing_since)
                    .map(|t| t.saturating_add(s.timeout))
            });
        let fill = (st.active.is_none() && st.out.caps.is_some()).then(|| {
            let base = self.obj().base_time().map_or(0, gst::ClockTime::nseconds);
            let chunk = if st.out.raw.is_some() {
                FILL_CHUNK
            } else {
                GAP_CHUNK
            };
            st.out.pos.map_or(0, |o| base + o + chunk)
        });
        timeouts.chain(fill).min()
    }

    /// One round of the source pad task (live only): waits on the pipeline clock for
    /// the next timeout or filler deadline, then acts on it.
    pub(super) fn task_iteration(&self) {
        let s = self.settings();
        let clock = self.obj().clock();
        let mut st = self.lock_state();
        if st.shutdown {
            drop(st);
            let _ = self.srcpad.pause_task();
            return;
        }
        let deadline = if st.live() && st.playing {
            self.next_deadline(&st, &s)
        } else {
            None
        };
        let (Some(clock), Some(deadline)) = (clock, deadline) else {
            drop(self.cond.wait(st));
            return;
        };
        let id = clock.new_single_shot_id(gst::ClockTime::from_nseconds(deadline));
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
            self.refresh(&mut st, &s, Some(now));
            let pnow = Self::policy_now(&st, Some(now));
            self.evaluate(&mut st, &s, pnow);
        }
        self.emit();
        self.fill(now, &s);
    }

    /// While no input is healthy: silence (raw audio) or GAP events up to `now`.
    fn fill(&self, now: u64, s: &Settings) {
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
                Some(raw) if s.fill_silence => {
                    let rate = raw.info.rate();
                    if st.out.pos.is_none() {
                        st.out.clock = SampleClock::new(rt_now);
                    }
                    let pos = st.out.clock.position(rate);
                    let frames = timeline::ns_to_frames(rt_now.saturating_sub(pos), rate);
                    if frames > 0 {
                        items.extend(Self::silence(&mut st, frames).map(Item::Buffer));
                    }
                }
                Some(_) => return,
                None => {
                    let from = st.out.pos.unwrap_or(rt_now);
                    if from < rt_now {
                        items.push(Item::Event(
                            gst::event::Gap::builder(gst::ClockTime::from_nseconds(from))
                                .duration(gst::ClockTime::from_nseconds(rt_now - from))
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

/// Fades `n` frames of the incoming buffer, blending in the outgoing input's held
/// data for the same running time where it is there.
fn apply_fade(
    buffer: &mut gst::BufferRef,
    fade: &mut Fade,
    outgoing: Option<&PadState>,
    raw: &RawFormat,
    format: fade::SampleFormat,
    out_pts: u64,
    n: u64,
) {
    let (rate, bpf) = (raw.info.rate(), raw.info.bpf() as usize);
    let out_end = out_pts + timeline::frames_to_ns(n, rate);
    let maps: Vec<_> = outgoing
        .into_iter()
        .flat_map(|p| p.held.iter())
        .filter(|h| h.end > out_pts && h.start < out_end)
        .filter_map(|h| {
            let from = h.start.max(out_pts);
            let to = h.end.min(out_end);
            let dst = timeline::ns_to_frames(from - out_pts, rate) as usize;
            let src = timeline::ns_to_frames(from - h.start, rate) as usize * bpf;
            let len = timeline::ns_to_frames(to - from, rate) as usize * bpf;
            let map = h.buffer.map_readable().ok()?;
            let range = src.min(map.len())..(src + len).min(map.len());
            Some((dst, map, range))
        })
        .collect();
    let runs: Vec<Outgoing<'_>> = maps
        .iter()
        .map(|(dst, map, range)| Outgoing {
            offset: *dst,
            data: &map[range.clone()],
        })
        .collect();
    if let Ok(mut map) = buffer.map_writable() {
        fade::apply(
            &mut map,
            format,
            raw.info.channels() as usize,
            fade.pos,
            fade.len,
            &runs,
        );
    }
    fade.pos += n;
}

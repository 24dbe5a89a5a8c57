// SPDX-License-Identifier: MPL-2.0
//! Data flow of `failoverswitch`: health bookkeeping, buffers of both inputs, the
//! standby wait and draining the active input's data to the source pad.

use std::time::{Duration, Instant};

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::imp::{CAT, FailoverSwitch, Settings};
use super::policy::{self, Input, Reason};
use super::state::{Fade, Held, Note, PadState, State, caps_desc, raw_format};
use super::timeline::{self, ALIGN_THRESHOLD};

/// While no input is healthy, silence goes out up to the clock every this often
/// (raw audio)...
pub(super) const FILL_CHUNK: u64 = 20_000_000;
/// ... and GAP events every this often (other media).
pub(super) const GAP_CHUNK: u64 = 100_000_000;
/// Standby data kept beyond the timeout (live), for the latency difference.
pub(super) const HELD_MARGIN: u64 = 1_000_000_000;
/// Most a standby input runs ahead of the output without waiting (not live).
const HOLD_AHEAD: u64 = 200_000_000;
/// Longest the incoming input's data waits for the outgoing's during a crossfade.
pub(super) const FADE_WAIT: u64 = 200_000_000;

/// Something to send on the source pad.
pub(super) enum Item {
    Buffer(gst::Buffer),
    Event(gst::Event),
}

pub(super) type FlowResult = Result<gst::FlowSuccess, gst::FlowError>;

impl FailoverSwitch {
    /// Re-arms the timer task and wakes waiting standby inputs.
    pub(super) fn wake(&self, st: &mut State) {
        if let Some(id) = st.clock_id.take() {
            id.unschedule();
        }
        self.cond.notify_all();
    }

    pub(super) fn clock_now(&self) -> Option<u64> {
        self.obj().clock().map(|c| c.time().nseconds())
    }

    /// Time base of the restore hold-off: the clock when live, else the primary's
    /// running time.
    pub(super) fn policy_now(st: &State, clock_now: Option<u64>) -> u64 {
        if st.live() {
            clock_now.unwrap_or(0)
        } else {
            st.pad(Input::Primary).position.unwrap_or(0)
        }
    }

    pub(super) fn settle(&self, st: &mut State, i: Input, was_healthy: bool, now: u64) {
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
    pub(super) fn set_flag(
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
    pub(super) fn refresh(&self, st: &mut State, now: Option<u64>) {
        let Some(now) = now.filter(|_| st.live() && st.playing) else {
            return;
        };
        let timeout = st.settings.timeout;
        for i in Input::BOTH {
            let p = st.pad(i);
            let since = p.last_data.or(st.playing_since);
            if !p.health.timed_out && since.is_some_and(|t| now >= t.saturating_add(timeout)) {
                let pnow = Self::policy_now(st, Some(now));
                self.set_flag(st, i, pnow, |h| h.timed_out = true);
            }
        }
    }

    pub(super) fn evaluate(&self, st: &mut State, now: u64) {
        if let Some(sw) = policy::decide(&st.settings.policy(), st.active, &st.health(), now) {
            if sw.to != st.active {
                self.switch(st, sw.to, sw.reason);
            }
        }
    }

    pub(super) fn switch(&self, st: &mut State, to: Option<Input>, reason: Reason) {
        let s = st.settings;
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

    /// Running-time span of a buffer on its input; `clock_rt` is the clock's running
    /// time when live.
    pub(super) fn span(
        &self,
        p: &PadState,
        out_pos: Option<u64>,
        clock_rt: Option<u64>,
        buffer: &gst::BufferRef,
    ) -> (u64, u64) {
        let ts = buffer
            .pts()
            .filter(|_| p.time_segment)
            .and_then(|pts| p.segment.to_running_time(pts))
            .map(gst::ClockTime::nseconds);
        let (start, overruled) = timeline::place(ts, clock_rt, p.position, out_pos);
        if overruled {
            gst::debug!(
                CAT,
                imp = self,
                "running time {ts:?} is too far from the clock's {clock_rt:?}: placed at {start}"
            );
        }
        let duration = match p.raw {
            Some((rate, bpf)) => timeline::frames_to_ns((buffer.size() / bpf) as u64, rate),
            None => buffer
                .duration()
                .map_or(p.last_duration, gst::ClockTime::nseconds),
        };
        (start, start.saturating_add(duration))
    }

    /// Asks upstream once whether it is live (on its first caps, segment or data),
    /// so that an input that never delivers data still times out when live.
    pub(super) fn ensure_live(&self, pad: &gst::Pad, input: Input) {
        if self.lock_state().pad(input).live.is_some() {
            return;
        }
        let mut q = gst::query::Latency::new();
        let live = pad.peer_query(&mut q) && q.result().0;
        gst::debug!(CAT, obj = pad, "upstream live: {live}");
        let mut st = self.lock_state();
        st.pad_mut(input).live = Some(live);
        self.wake(&mut st);
    }

    pub(super) fn sink_chain(&self, pad: &gst::Pad, buffer: gst::Buffer) -> FlowResult {
        let input = self.input_of(pad);
        let mut st = self.lock_state();
        if st.pad(input).live.is_none() {
            drop(st);
            self.ensure_live(pad, input);
            st = self.lock_state();
        }
        let s = st.settings;
        if st.shutdown || st.pad(input).flushing {
            return Err(gst::FlowError::Flushing);
        }
        let live = st.live();
        let now = if live { self.clock_now() } else { None };
        let base = self.obj().base_time();
        let clock_rt = now.zip(base).map(|(n, b)| n.saturating_sub(b.nseconds()));
        let (start, end) = self.span(st.pad(input), st.out.pos, clock_rt, &buffer);
        // Data counts as delivered only if it can still reach the output: the active
        // input's must not end before the output (within the jitter tolerance), the
        // standby's at most `timeout` behind it. An input whose timestamps jumped
        // back, or that lags by more than `timeout`, times out instead of stalling
        // the output.
        let slack = if st.active == Some(input) {
            ALIGN_THRESHOLD
        } else {
            s.timeout
        };
        let delivers = !live || st.out.pos.is_none_or(|o| end.saturating_add(slack) > o);
        {
            let p = st.pad_mut(input);
            if delivers {
                p.last_data = now.or(p.last_data);
            }
            p.last_data_instant = Some(Instant::now());
            if end > start {
                p.last_duration = end - start;
            }
            let hole = p
                .position
                .is_some_and(|pos| start > pos.saturating_add(ALIGN_THRESHOLD));
            p.position = Some(p.position.map_or(end, |pos| pos.max(end)));
            if hole {
                // An interruption restarts the restore hold-off.
                let pnow = Self::policy_now(&st, now);
                st.pad_mut(input).health.interrupted(pnow);
            }
        }
        let pnow = Self::policy_now(&st, now);
        if delivers {
            self.set_flag(&mut st, input, pnow, |h| h.timed_out = false);
        }
        self.refresh(&mut st, now);
        if st.pad(input).health.caps_mismatch {
            self.evaluate(&mut st, pnow);
            st.pad_mut(input).dropped += 1;
            gst::log!(
                CAT,
                obj = pad,
                "dropping buffer: caps do not match the output"
            );
            self.unlock(st);
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
        self.evaluate(&mut st, pnow);
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
            let dropped = p.drop_held_before(out_pos);
            if dropped > 0 {
                gst::trace!(
                    CAT,
                    obj = pad,
                    "dropped {dropped} standby buffers the output has passed"
                );
            }
            let standby_done = if live {
                p.cap_held(s.timeout.saturating_add(HELD_MARGIN));
                true
            } else {
                Self::within_hold(p, out_pos, Self::hold_ahead(&s))
            };
            self.unlock(st);
            if let Some(active) = fading {
                let _ = self.drain(active);
            }
            if standby_done {
                return Ok(gst::FlowSuccess::Ok);
            }
            if let Some(ret) = self.wait_standby(input, start, &s) {
                return ret;
            }
        } else if let Ok(_push) = self.push_lock.try_lock() {
            // Usual case: nobody else is sending, so drain under the lock we hold.
            let items = self.drain_locked(&mut st, input);
            self.unlock(st);
            return self.send(items?);
        } else {
            self.unlock(st);
        }
        self.drain(input)
    }

    /// Not live: the standby input may hold up to `hold_ahead` of data beyond the
    /// output; past that its streaming thread waits until the output has caught up
    /// by half of it (so that it wakes rarely), or until it becomes active (`None`:
    /// its data then goes out). If the output does not move for `timeout`, or the
    /// newest data is more than `timeout` ahead of it, the active input is late and
    /// loses its place.
    pub(super) fn wait_standby(
        &self,
        input: Input,
        start: u64,
        s: &Settings,
    ) -> Option<FlowResult> {
        let timeout = Duration::from_nanos(s.timeout);
        let hold_ahead = Self::hold_ahead(s);
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
            let p = st.pad_mut(input);
            p.drop_held_before(out_pos);
            if Self::within_hold(p, out_pos, hold_ahead) {
                return Some(Ok(gst::FlowSuccess::Ok));
            }
            let newest_end = p.held.back().map_or(0, |h| h.end);
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
                self.evaluate(&mut st, pnow);
                let active = st.active == Some(input);
                if !active {
                    // Nothing to switch to: drop rather than block upstream forever.
                    let p = st.pad_mut(input);
                    p.dropped += p.held.len() as u64;
                    p.held.clear();
                }
                self.unlock(st);
                return if active {
                    None
                } else {
                    Some(Ok(gst::FlowSuccess::Ok))
                };
            }
            let wake_at = newest_end.saturating_sub(hold_ahead / 2);
            st.wake_at = st.wake_at.min(wake_at);
            st.waiting += 1;
            gst::trace!(
                CAT,
                imp = self,
                "{} waits for the output to reach {wake_at}",
                input.name()
            );
            st = match self.cond.wait_timeout(st, timeout - waited) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
            st.waiting -= 1;
            if st.waiting == 0 {
                st.wake_at = u64::MAX;
            }
        }
    }

    /// Whether a standby input's held data reaches at most `hold_ahead` beyond the
    /// output (or it holds nothing): it need not wait.
    fn within_hold(p: &PadState, out_pos: Option<u64>, hold_ahead: u64) -> bool {
        match (p.held.front(), p.held.back()) {
            (Some(first), Some(last)) => {
                last.end.saturating_sub(out_pos.unwrap_or(first.start)) <= hold_ahead
            }
            _ => true,
        }
    }

    /// How far ahead of the output a standby input may run before it waits (not live).
    fn hold_ahead(s: &Settings) -> u64 {
        (s.timeout / 2).min(HOLD_AHEAD)
    }

    /// Sends the active input's held data (trimmed and faded as needed).
    pub(super) fn drain(&self, input: Input) -> FlowResult {
        let _push = self.push_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = self.lock_state();
        let items = self.drain_locked(&mut st, input);
        self.unlock(st);
        self.send(items?)
    }

    /// The items that send the active input's held data; `push_lock` must be held.
    fn drain_locked(&self, st: &mut State, input: Input) -> Result<Vec<Item>, gst::FlowError> {
        if st.shutdown || st.pad(input).flushing {
            return Err(gst::FlowError::Flushing);
        }
        let mut items = Vec::new();
        if st.active != Some(input) {
            return Ok(items);
        }
        if st.follow_caps {
            self.follow_caps(st, input);
        } else if st.out.desc.is_none() {
            self.fix_output_caps(st, input);
        }
        self.initial_events(st, &mut items);
        while let Some(end) = st.pad(input).held.front().map(|h| h.end) {
            if !Self::fade_ready(st, input, end) {
                break;
            }
            if let Some(h) = st.pad_mut(input).held.pop_front() {
                self.prepare(st, input, h, &mut items);
            }
        }
        if st.waiting > 0 && st.out.pos.is_some_and(|o| o >= st.wake_at) {
            // The output caught up with a blocked standby input.
            self.cond.notify_all();
        }
        Ok(items)
    }

    /// During a crossfade, the incoming data up to `end` waits until the outgoing
    /// input's data for the same time has arrived (or it has stopped delivering, or
    /// the wait grew too long: then the incoming input only fades in).
    pub(super) fn fade_ready(st: &mut State, input: Input, end: u64) -> bool {
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
    pub(super) fn follow_caps(&self, st: &mut State, input: Input) {
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

    pub(super) fn send(&self, items: Vec<Item>) -> FlowResult {
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
    pub(super) fn initial_events(&self, st: &mut State, items: &mut Vec<Item>) {
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
}

// SPDX-License-Identifier: MPL-2.0
//! The input side of `failoverswitch`: what arrives on the sink pads (buffers, events)
//! is placed on the running-time line, counted for health, held for the output or
//! dropped, and handed to the state machine (`state.rs`) and the output (`output.rs`).

use std::time::{Duration, Instant};

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::decode;
use super::imp::CAT;
use super::imp::FailoverSwitch;
use super::policy::{Input, InputHealth};
use super::state::{Held, Note, PadState, State};
use super::timeline::{self, ALIGN_THRESHOLD};
use crate::health_event;

/// Standby data kept beyond the timeout (live), for the latency difference.
pub(super) const HELD_MARGIN: u64 = 1_000_000_000;
/// Most a standby input that is not live runs ahead of the output without waiting.
const HOLD_AHEAD: u64 = 200_000_000;

pub(super) type FlowResult = Result<gst::FlowSuccess, gst::FlowError>;

/// An input back from EOS (flush or new stream) is not healthy before its data
/// arrives: it waits as timed out instead of ended.
fn revive(h: &mut InputHealth) {
    if h.eos {
        h.eos = false;
        h.timed_out = true;
    }
}

/// How far ahead of the output a standby input that is not live may run before it
/// waits.
fn hold_ahead(timeout: u64) -> u64 {
    (timeout / 2).min(HOLD_AHEAD)
}

/// Whether a standby input's held data reaches at most `hold_ahead` beyond the output
/// (or it holds nothing): it need not wait.
fn within_hold(p: &PadState, out_pos: Option<u64>, hold_ahead: u64) -> bool {
    match (p.held.front(), p.held.back()) {
        (Some(first), Some(last)) => {
            last.end.saturating_sub(out_pos.unwrap_or(first.start)) <= hold_ahead
        }
        _ => true,
    }
}

impl FailoverSwitch {
    /// Asks upstream whether it is live and how much latency it has (on its first
    /// caps, segment or data, and again on new caps), so that an input that never
    /// delivers data still times out when live.
    pub(super) fn ensure_live(&self, pad: &gst::Pad, input: Input, again: bool) {
        if !again && self.lock_state().pad(input).live.is_some() {
            return;
        }
        let mut q = gst::query::Latency::new();
        let (live, min) = if pad.peer_query(&mut q) {
            let (live, min, _) = q.result();
            (live, min.nseconds())
        } else {
            (false, 0)
        };
        gst::debug!(CAT, obj = pad, "upstream live: {live}, latency {min} ns");
        let mut st = self.lock_state();
        let p = st.pad_mut(input);
        p.live = Some(live);
        p.latency = min;
        st.wake();
        self.release(st);
    }

    /// Running-time span of a buffer on the output timeline (its input's running
    /// time less the input's alignment shift), its start in the input's own running
    /// time, and its decode time on the output timeline; `clock_rt` is the clock's
    /// running time when live.
    fn span(
        &self,
        p: &PadState,
        out_pos: Option<u64>,
        clock_rt: Option<u64>,
        buffer: &gst::BufferRef,
    ) -> (u64, u64, u64, Option<u64>) {
        let ts = buffer
            .pts()
            .filter(|_| p.time_segment)
            .and_then(|pts| p.segment.to_running_time(pts))
            .map(gst::ClockTime::nseconds);
        let own = |t: u64| t.saturating_add_signed(p.placed_earlier());
        let (own_start, overruled) =
            timeline::place(ts, clock_rt, p.position.map(own), out_pos.map(own));
        if overruled {
            gst::debug!(
                CAT,
                imp = self,
                "running time {ts:?} is too far from the clock's {clock_rt:?}: placed at {own_start}"
            );
        }
        let duration = match p.raw {
            Some((rate, bpf)) => timeline::frames_to_ns((buffer.size() / bpf) as u64, rate),
            None => buffer
                .duration()
                .map_or(p.last_duration, gst::ClockTime::nseconds),
        };
        let start = own_start.saturating_add_signed(-p.placed_earlier());
        // An encoder with B-frames makes DTS before the segment start (negative
        // running time): kept, at its distance to the PTS.
        let dts_rt = buffer
            .dts()
            .filter(|_| p.time_segment)
            .and_then(|d| p.segment.to_running_time_full(d))
            .map(|d| match d {
                gst::Signed::Positive(t) => t.nseconds() as i128,
                gst::Signed::Negative(t) => -(t.nseconds() as i128),
            });
        let dts = decode::decode_time(start, ts, dts_rt);
        (start, start.saturating_add(duration), own_start, dts)
    }

    /// A timeout shorter than what an input needs between two buffers would make the
    /// output flap: it is raised for that input, with one WARNING.
    fn check_buffer_length(st: &mut State, input: Input, duration: u64) {
        let needed = duration.saturating_mul(2);
        let p = st.pad(input);
        if needed <= st.settings.timeout || needed <= p.needed_timeout {
            return;
        }
        if p.needed_timeout == 0 {
            st.outbox.push(Note::Warning(format!(
                "timeout {} ms is shorter than the {} input needs between two buffers ({} ms buffers): using {} ms for it",
                st.settings.timeout / 1_000_000,
                input.name(),
                duration / 1_000_000,
                needed / 1_000_000
            )));
        }
        st.pad_mut(input).needed_timeout = needed;
    }

    pub(super) fn sink_chain(&self, pad: &gst::Pad, buffer: gst::Buffer) -> FlowResult {
        let mut feed = None;
        let ret = self.chain(pad, buffer, &mut feed);
        // Measured after the data went on, with no lock of ours held.
        if let Some(feed) = feed {
            self.measure(feed);
        }
        ret
    }

    fn chain(
        &self,
        pad: &gst::Pad,
        buffer: gst::Buffer,
        feed_out: &mut Option<super::align::Feed>,
    ) -> FlowResult {
        let input = self.input_of(pad);
        let mut st = self.lock_state();
        if st.pad(input).live.is_none() {
            drop(st);
            self.ensure_live(pad, input, false);
            st = self.lock_state();
        }
        if st.shutdown || st.pad(input).flushing {
            return Err(gst::FlowError::Flushing);
        }
        let live = st.live();
        let now = if live { self.clock_now() } else { None };
        let base = self.obj().base_time();
        let clock_rt = now.zip(base).map(|(n, b)| n.saturating_sub(b.nseconds()));
        let (mut start, mut end, own_start, mut dts) =
            self.span(st.pad(input), st.out.pos, clock_rt, &buffer);
        let active = st.active == Some(input);
        if !active && st.next.map(|n| n.to) != Some(input) {
            // A standby placed later to catch up (`staged::catch_up`) whose data jump
            // forward was placed anew upstream (the relay moved its connection onto
            // its live edge): it gives that much of its delay back.
            // (In decode order: with B-frames a P-frame's PTS is ahead of the data
            // before it.)
            let p = st.pad_mut(input);
            if let Some(pos) = p.decode_end.filter(|_| p.delay > 0) {
                let jump = decode::decode_key(start, dts).saturating_sub(pos);
                if jump > ALIGN_THRESHOLD {
                    let back = jump.min(p.delay);
                    p.delay -= back;
                    start -= back;
                    end -= back;
                    dts = dts.map(|d| d.saturating_sub(back));
                    gst::debug!(
                        CAT,
                        obj = pad,
                        "data jumped {jump} ns forward: delay {} ns",
                        p.delay
                    );
                }
            }
        }
        if end > start {
            Self::check_buffer_length(&mut st, input, end - start);
        }
        let pnow = st.policy_now(now);
        let slack = if active {
            ALIGN_THRESHOLD
        } else {
            st.timeout_of(input)
        };
        // In decode order: with B-frames a unit presented before the output's end
        // is not behind it.
        let key = decode::decode_key(start, dts);
        let key_end = key.saturating_add(end - start);
        let behind = match st.out.decode.end().filter(|_| st.out.raw.is_none()) {
            Some(o) => key_end.saturating_add(slack) <= o,
            None => st.out.pos.is_some_and(|o| end.saturating_add(slack) <= o),
        };
        // Only a confident alignment is worth protecting (manual: the application
        // wrote an offset; its next write says the input is measured again).
        let align_tracked = match st.settings.align {
            super::AlignMode::Auto => st.aligned,
            super::AlignMode::Manual => st.settings.offset != 0,
            super::AlignMode::Off => false,
        };
        {
            let p = st.pad_mut(input);
            p.last_data_instant = Some(Instant::now());
            if end > start {
                p.last_duration = end - start;
            }
            // A hole in decode order (with B-frames the presentation times of a
            // P-frame jump ahead of the data before it).
            let hole = p
                .decode_end
                .is_some_and(|pos| key > pos.saturating_add(ALIGN_THRESHOLD));
            // A new stream (after EOS or a flush) after earlier data.
            let restarted = p.position.is_none() && p.last_duration > 0;
            p.position = Some(p.position.map_or(end, |pos| pos.max(end)));
            p.decode_end = Some(p.decode_end.map_or(key_end, |pos| pos.max(key_end)));
            if hole {
                // An interruption restarts the restore hold-off.
                p.health.interrupted(pnow);
            }
            if (hole || restarted) && align_tracked {
                // Placed anew: measured again before it is restored to (a restore
                // before that could repeat or skip what its new placement moved).
                p.realign = Some(own_start);
                p.align_reset = true;
            }
            if let Some(since) = p.realign {
                if own_start > since.saturating_add(super::align::REALIGN_MAX) {
                    p.realign = None;
                } else {
                    p.health.interrupted(pnow);
                }
            }
        }
        *feed_out = st.align_feed(input, own_start, &buffer);
        // Data counts as delivered only if it is current: the input is not behind
        // real time by more than its timeout (late); a live input's buffer is within
        // its timeout of the clock (its timestamps did not go back: an output that ran
        // ahead because of the other input is not its fault); otherwise (not live) the
        // active input's data is not behind the output.
        let late = st.is_late(input, clock_rt);
        let current = match clock_rt.filter(|_| st.pad(input).is_live()) {
            Some(rt) => {
                let own_end = end.saturating_add_signed(st.pad(input).placed_earlier());
                st.counts_from(own_end)
                    .saturating_add(st.pad(input).latency)
                    .saturating_add(st.timeout_of(input))
                    > rt
            }
            None => !(behind && (live || active)),
        };
        let delivers = !late && current;
        if delivers {
            let p = st.pad_mut(input);
            p.last_data = now.or(p.last_data);
            p.dropped_behind = 0;
            st.set_flag(input, pnow, |h| {
                h.timed_out = false;
                h.late = false;
            });
        } else if late {
            gst::debug!(
                CAT,
                obj = pad,
                "late: data ends at {end}, clock at {clock_rt:?}"
            );
            st.set_flag(input, pnow, |h| h.late = true);
        } else if active {
            st.pad_mut(input).dropped_behind += 1;
        }
        st.refresh(now, base.map_or(0, gst::ClockTime::nseconds));
        if st.pad(input).health.caps_mismatch {
            // Held like a standby's data: the output format may still be handed over
            // to this input (see `caps.rs`).
            st.report_mismatch(input, start);
            gst::log!(
                CAT,
                obj = pad,
                "caps do not match the output: held as standby"
            );
        }
        if !live && active {
            // Not live, on running time: the active input is late when its data
            // jumps more than `timeout` past the output (the timer task watches the
            // rest).
            let timeout = st.timeout_of(input);
            let jumped = st
                .out
                .pos
                .is_some_and(|o| start > o.saturating_add(timeout));
            if jumped && st.pad(input.other()).health.is_healthy() {
                st.time_out(input, pnow);
            }
        }
        st.evaluate(pnow);
        st.pad_mut(input).held.push_back(Held {
            start,
            end,
            dts,
            buffer,
        });

        if st.active == Some(input) {
            if st.settings.latency > 0 && st.pad(input).held.len() == 1 {
                // Held back by latency: the timer task releases it when due.
                st.wake();
            }
            return self.drain_from(st, input);
        }
        if st.next.is_some_and(|n| n.to == input) {
            // The incoming input of a staged switch: its data may decide the switch
            // point, or become filler; what stays waits like a standby's.
            let ret = self.drain_from(st, input);
            let st = self.lock_state();
            if st.active == Some(input) || ret.is_err() {
                self.release(st);
                return ret;
            }
            return self.standby(st, input);
        }
        self.standby(st, input)
    }

    /// A standby input's buffer was held: drop what the output has passed, and make
    /// an input that is not live wait for the output.
    fn standby(&self, mut st: std::sync::MutexGuard<'_, State>, input: Input) -> FlowResult {
        let out_pos = st.out.pos;
        let timeout = st.timeout_of(input);
        let latency = st.settings.latency;
        // This input is being faded out: the incoming data may have waited for it.
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
                imp = self,
                "dropped {dropped} standby buffers the output has passed"
            );
        }
        let done = if p.is_live() {
            p.cap_held(timeout.saturating_add(latency).saturating_add(HELD_MARGIN));
            true
        } else {
            within_hold(p, out_pos, hold_ahead(timeout))
        };
        self.release(st);
        if let Some(active) = fading {
            let _ = self.drain(active);
        }
        if done {
            return Ok(gst::FlowSuccess::Ok);
        }
        match self.wait_standby(input) {
            Some(ret) => ret,
            None => self.drain(input),
        }
    }

    /// A standby input that is not live holds up to `hold_ahead` of data beyond the
    /// output; past that its streaming thread waits until the output has caught up by
    /// half of it (so that it wakes rarely), or until it becomes active (`None`: its
    /// data then goes out). The timer task judges meanwhile whether the active input
    /// stalled; if no input is left active, the waiting data is dropped.
    fn wait_standby(&self, input: Input) -> Option<FlowResult> {
        let mut st = self.lock_state();
        let hold_ahead = hold_ahead(st.timeout_of(input));
        loop {
            if st.shutdown || st.pad(input).flushing {
                st.pad_mut(input).held.clear();
                return Some(Err(gst::FlowError::Flushing));
            }
            // Active, or the incoming input of a staged switch (its data decides
            // where the switch takes effect, or moves the output as filler): drain.
            let incoming = st.next.is_some_and(|n| n.to == input);
            match st.active {
                Some(a) if a == input || incoming => {
                    self.release(st);
                    return None;
                }
                Some(_) => {}
                None => {
                    // Nothing goes out: drop rather than block upstream forever.
                    let p = st.pad_mut(input);
                    p.dropped += p.held.len() as u64;
                    p.held.clear();
                    self.release(st);
                    return Some(Ok(gst::FlowSuccess::Ok));
                }
            }
            let out_pos = st.out.pos;
            let p = st.pad_mut(input);
            p.drop_held_before(out_pos);
            if within_hold(p, out_pos, hold_ahead) {
                self.release(st);
                return Some(Ok(gst::FlowSuccess::Ok));
            }
            let newest_end = p.held.back().map_or(0, |h| h.end);
            let wake_at = newest_end.saturating_sub(hold_ahead / 2);
            st.wake_at = st.wake_at.min(wake_at);
            st.waiting += 1;
            gst::trace!(
                CAT,
                imp = self,
                "{} waits for the output to reach {wake_at}",
                input.name()
            );
            // Woken when the output moves or the state changes; the timeout only
            // guards against a wake-up that was missed.
            st = match self.cond.wait_timeout(st, Duration::from_millis(100)) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
            st.waiting -= 1;
            if st.waiting == 0 {
                st.wake_at = u64::MAX;
            }
        }
    }

    pub(super) fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        let input = self.input_of(pad);
        if let Some(verdict) = health_event::parse_event(&event) {
            gst::debug!(CAT, obj = pad, "probe verdict {verdict:?}");
            let mut st = self.lock_state();
            let pnow = st.policy_now(self.clock_now());
            st.pad_mut(input).probe_reason = Some(verdict.reason).filter(|_| !verdict.healthy);
            st.set_flag(input, pnow, |h| h.probe_unhealthy = !verdict.healthy);
            st.evaluate(pnow);
            self.release(st);
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
                    st.pad_mut(input).decode_end = None;
                    // A catch-up delay was for the old stream.
                    st.pad_mut(input).delay = 0;
                    let pnow = st.policy_now(None);
                    st.set_flag(input, pnow, revive);
                    if std::mem::take(&mut st.out.eos_sent) {
                        // The output ended: it starts again as a new stream (a
                        // STREAM_START clears EOS downstream).
                        st.out.stream_start_sent = false;
                        st.out.caps_pending = true;
                        st.out.segment_pending = true;
                    }
                    st.evaluate(pnow);
                }
                self.release(st);
                true
            }
            gst::EventView::Caps(c) => {
                self.on_caps(pad, input, c.caps_owned());
                true
            }
            gst::EventView::Segment(e) => {
                self.ensure_live(pad, input, false);
                let mut st = self.lock_state();
                match e.segment().downcast_ref::<gst::ClockTime>() {
                    Some(seg) => {
                        st.pad_mut(input).segment = seg.clone();
                        st.pad_mut(input).time_segment = true;
                    }
                    None => {
                        st.pad_mut(input).time_segment = false;
                        st.outbox.push(Note::Warning(format!(
                            "{} input: segment is not in TIME format; its timestamps are ignored",
                            input.name()
                        )));
                    }
                }
                self.release(st);
                true
            }
            gst::EventView::Eos(_) => {
                self.on_eos(input);
                true
            }
            // A flush goes out on the active input, and on any input once the output
            // has ended (EOS must be flushed away downstream before data can follow).
            gst::EventView::FlushStart(_) => {
                let mut st = self.lock_state();
                let forward = st.active == Some(input) || st.out.eos_sent;
                let p = st.pad_mut(input);
                p.flushing = true;
                p.held.clear();
                // Its FLUSH_STOP goes out too, whatever is active by then: the
                // output must never stay flushing.
                p.flush_forwarded = forward;
                st.wake();
                self.release(st);
                !forward || self.srcpad.push_event(event)
            }
            gst::EventView::FlushStop(f) => {
                let mut st = self.lock_state();
                let p = st.pad_mut(input);
                p.flushing = false;
                p.position = None;
                p.decode_end = None;
                p.delay = 0;
                p.segment = gst::FormattedSegment::new();
                p.time_segment = true;
                let pnow = st.policy_now(None);
                st.set_flag(input, pnow, revive);
                let forward = std::mem::take(&mut st.pad_mut(input).flush_forwarded)
                    || st.active == Some(input)
                    || st.out.eos_sent;
                if forward {
                    if f.resets_time() {
                        st.out.pos = None;
                        st.out.first_pos = None;
                        st.out.decode.reset();
                    }
                    st.out.segment_pending = true;
                    st.out.eos_sent = false;
                }
                // An input back from EOS may be taken again.
                st.evaluate(pnow);
                self.release(st);
                !forward || self.srcpad.push_event(event)
            }
            gst::EventView::Gap(g) => {
                self.on_gap(input, g.get());
                true
            }
            _ => self.forward(input, event),
        }
    }

    pub(super) fn on_eos(&self, input: Input) {
        let mut st = self.lock_state();
        let pnow = st.policy_now(self.clock_now());
        st.set_flag(input, pnow, |h| h.eos = true);
        st.evaluate(pnow);
        // Absent (unlinked) inputs are never waited for.
        let all_ended = st.pads.iter().all(|p| p.health.eos || p.health.absent);
        self.release(st);
        if all_ended {
            self.send_eos();
        }
    }

    /// A GAP event counts as data; on the active input it goes out.
    fn on_gap(&self, input: Input, (ts, dur): (gst::ClockTime, Option<gst::ClockTime>)) {
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
        p.decode_end = Some(p.decode_end.map_or(end, |x| x.max(end)));
        let pnow = st.policy_now(now);
        st.set_flag(input, pnow, |h| {
            h.timed_out = false;
            h.late = false;
        });
        st.evaluate(pnow);
        if st.active != Some(input) || st.out.pos.is_some_and(|o| end <= o) {
            self.release(st);
            return;
        }
        self.release(st);
        self.send_gap(input, start, end);
    }
}

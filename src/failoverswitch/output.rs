// SPDX-License-Identifier: MPL-2.0
//! The output side of `failoverswitch`: the active input's held data is drained onto
//! one continuous stream — initial events, trimming, hole filling, fades,
//! restamping — and sent on the source pad under `push_lock`.

use std::sync::MutexGuard;

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::decode;
use super::fade::{self, Outgoing};
use super::imp::CAT;
use super::imp::FailoverSwitch;
use super::input::FlowResult;
use super::policy::Input;
use super::state::{Fade, Held, PadState, RawFormat, State};
use super::timeline::{self, ALIGN_THRESHOLD, RawPlan, SampleClock};

/// Longest the outgoing input's data waits for the incoming's during a staged switch.
const STAGED_WAIT: u64 = 100_000_000;

/// Longest the incoming input's data waits for the outgoing's during a crossfade.
const FADE_WAIT: u64 = 200_000_000;

/// Something to send on the source pad.
pub(super) enum Item {
    Buffer(gst::Buffer),
    Event(gst::Event),
}

/// A running time as a `ClockTime`, saturated below `GST_CLOCK_TIME_NONE` (bad
/// timestamps near the end of time must not turn into "no time", nor panic).
pub(super) fn clock_time(ns: u64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(ns.min(gst::ClockTime::MAX.nseconds()))
}

impl FailoverSwitch {
    /// Sends the active input's held data. `st` is the caller's state lock: when
    /// nobody else is sending and nothing waits to be posted, the data is drained
    /// under it (one lock round trip per buffer); otherwise it is released first.
    pub(super) fn drain_from(&self, mut st: MutexGuard<'_, State>, input: Input) -> FlowResult {
        if st.outbox.is_empty() {
            // `try_lock` never blocks, so taking it under the state lock cannot
            // invert the lock order.
            if let Some(push) = self.try_lock_push() {
                let items = self.drain_locked(&mut st, input);
                self.unlock(st);
                let ret = items.and_then(|items| self.send(items));
                drop(push);
                self.deliver();
                return ret;
            }
        }
        self.release(st);
        self.drain(input)
    }

    /// Sends the active input's held data (trimmed and faded as needed).
    pub(super) fn drain(&self, input: Input) -> FlowResult {
        let push = self.lock_push();
        let mut st = self.lock_state();
        let items = self.drain_locked(&mut st, input);
        self.unlock(st);
        let ret = items.and_then(|items| self.send(items));
        drop(push);
        self.deliver();
        ret
    }

    /// The items that send the held data of the active input (and, once a staged
    /// switch takes effect, of the incoming one); `push_lock` must be held. `input`
    /// is the input whose thread drains: a standby input drains nothing.
    fn drain_locked(&self, st: &mut State, input: Input) -> Result<Vec<Item>, gst::FlowError> {
        if st.shutdown || st.pad(input).flushing {
            return Err(gst::FlowError::Flushing);
        }
        let mut items = Vec::new();
        if st.active != Some(input) && st.next.map(|n| n.to) != Some(input) {
            return Ok(items);
        }
        // At most twice: the active input, then the incoming one if a staged switch
        // took effect on the way.
        for _ in 0..2 {
            let before = st.active;
            self.advance_staged(st, &mut items);
            let Some(a) = st.active else { break };
            self.send_held(st, a, &mut items);
            self.advance_staged(st, &mut items);
            if st.active == before {
                break;
            }
        }
        if st.waiting > 0 && st.out.pos.is_some_and(|o| o >= st.wake_at) {
            // The output caught up with a blocked standby input.
            st.wake = true;
        }
        Ok(items)
    }

    /// Prepares the active input's held data that may go out: not beyond a staged
    /// switch's point, and (live, with `latency`) not before it is due.
    fn send_held(&self, st: &mut State, active: Input, items: &mut Vec<Item>) {
        let follow = st.follow_caps() && st.pad(active).caps != st.out.caps;
        if follow || st.out.desc.is_none() {
            let now = st.policy_now(self.clock_now());
            st.fix_output_caps(active, now);
        }
        Self::initial_events(st, items);
        let due = self.release_limit(st);
        let stop = st.next.and_then(|n| n.at);
        let wait_for = Self::wait_for_incoming(st, active);
        while let Some((start, end)) = st.pad(active).held.front().map(|h| (h.start, h.end)) {
            if !Self::fade_ready(st, active, end)
                || due.is_some_and(|bound| start >= bound)
                || stop.is_some_and(|at| start >= at)
                || wait_for.is_some_and(|pos| end > pos)
            {
                break;
            }
            let Some(mut h) = st.pad_mut(active).held.pop_front() else {
                break;
            };
            if let (Some(at), Some((rate, bpf))) = (stop, st.pad(active).raw) {
                if h.end > at {
                    // Raw audio up to the switch point only.
                    let keep = timeline::ns_to_frames(at - h.start, rate) as usize * bpf;
                    if let Ok(b) = h
                        .buffer
                        .copy_region(gst::BufferCopyFlags::all(), 0..keep.min(h.buffer.size()))
                    {
                        h.buffer = b;
                        h.end = at;
                    }
                }
            }
            self.prepare(st, active, h, items);
        }
    }

    /// A staged switch whose point is not known yet, with the outgoing input still
    /// delivering: its data waits for the incoming input's data of the same time
    /// (its keyframe may be there), up to `STAGED_WAIT` ahead of it. Returns the
    /// position the outgoing data may reach.
    fn wait_for_incoming(st: &State, active: Input) -> Option<u64> {
        let next = st.next.filter(|n| n.at.is_none())?;
        if !st.pad(active).health.is_healthy() {
            return None;
        }
        let incoming = st.pad(next.to).position?;
        // The latest presentation end (with B-frames not the last unit's).
        let newest = st.pad(active).held.iter().map(|h| h.end).max().unwrap_or(0);
        (newest <= incoming.saturating_add(STAGED_WAIT)).then_some(incoming)
    }

    /// Live with `latency`: data goes out once its running time is `latency` behind
    /// the clock's, so a switch can still reach back that far. Returns the bound:
    /// data starting before it is due (`None`: no limit).
    pub(super) fn release_limit(&self, st: &State) -> Option<u64> {
        let latency = st.settings.latency;
        if latency == 0 || !st.live() {
            return None;
        }
        let rt = self.obj().current_running_time()?.nseconds();
        // Due when start + latency <= rt.
        Some(rt.saturating_add(1).saturating_sub(latency))
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

    /// Sends `items` after the initial events, under `push_lock`, unless `check`
    /// (run under the state lock) says otherwise.
    fn send_locked(&self, check: impl FnOnce(&mut State) -> Option<Vec<Item>>) {
        let push = self.lock_push();
        let mut st = self.lock_state();
        let mut items = Vec::new();
        let Some(more) = check(&mut st) else {
            self.unlock(st);
            return;
        };
        Self::initial_events(&mut st, &mut items);
        items.extend(more);
        self.unlock(st);
        let _ = self.send(items);
        drop(push);
        self.deliver();
    }

    /// Both inputs ended: EOS, once.
    pub(super) fn send_eos(&self) {
        self.send_locked(|st| {
            if st.out.eos_sent {
                return None;
            }
            st.out.eos_sent = true;
            gst::debug!(CAT, "every input ended: EOS");
            Some(vec![Item::Event(gst::event::Eos::new())])
        });
    }

    /// A GAP event of the active input goes out where the output has not been.
    pub(super) fn send_gap(&self, input: Input, start: u64, end: u64) {
        self.send_locked(|st| {
            if st.active != Some(input) || st.out.pos.is_some_and(|o| end <= o) {
                return None;
            }
            let from = st.out.pos.map_or(start, |o| o.max(start));
            st.out.pos = Some(from);
            st.out.first_pos.get_or_insert(from);
            let gap = Self::gap_to(st, end, None);
            st.out.clock = SampleClock::new(end);
            Some(gap.into_iter().collect())
        });
    }

    /// A GAP event that moves the output (not raw audio) from the end of what was
    /// presented on to `end`, but not past `next_dts` (the decode time of the unit
    /// that follows, where known): with B-frames the next unit decodes before it is
    /// presented, and a muxer must not see its DTS go back behind the GAP. Moves the
    /// output position to the GAP's end.
    pub(super) fn gap_to(st: &mut State, end: u64, next_dts: Option<u64>) -> Option<Item> {
        let (from, to) = decode::gap_span(st.out.pos, end, next_dts)?;
        st.out.pos = Some(to);
        st.out.decode.gap(to);
        Some(Item::Event(
            gst::event::Gap::builder(clock_time(from))
                .duration(clock_time(to - from))
                .build(),
        ))
    }

    /// Forwards other events of the active input; the standby's are dropped.
    pub(super) fn forward(&self, input: Input, event: gst::Event) -> bool {
        if !event.is_serialized() {
            return self.lock_state().active != Some(input) || self.srcpad.push_event(event);
        }
        // A standby's event is dropped without waiting for the output: a push of the
        // active input may be blocked downstream (a sink's preroll) while a flushing
        // seek waits for this (standby) streaming thread.
        if self.lock_state().active != Some(input) {
            gst::log!(CAT, "dropping {} event of the standby input", event.type_());
            return true;
        }
        self.send_locked(|st| {
            if st.active != Some(input) {
                gst::log!(CAT, "dropping {} event of the standby input", event.type_());
                return None;
            }
            Some(vec![Item::Event(event)])
        });
        true
    }

    /// Stream-start, caps and segment, before anything else goes out (caps again
    /// whenever they changed).
    pub(super) fn initial_events(st: &mut State, items: &mut Vec<Item>) {
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
            items.push(Item::Event(gst::event::Segment::new(
                &Self::output_segment(st),
            )));
            st.out.segment_pending = false;
        }
    }

    /// The output's TIME segment: timestamps are running times; stream time follows
    /// the active input's, so position queries answer with its stream position
    /// (after a seek to 10 s, 1 s later reads 11 s).
    fn output_segment(st: &State) -> gst::FormattedSegment<gst::ClockTime> {
        let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
        let Some(a) = st.active else { return segment };
        let seg = &st.pad(a).segment;
        let time = seg.time().map_or(0, |t| t.nseconds()) as i128;
        let base = seg.base().map_or(0, |t| t.nseconds()) as i128;
        // Stream time of the input at running time r is r - base + time (rate 1).
        let shift = time - base;
        if shift >= 0 {
            segment.set_time(clock_time(shift as u64));
        } else {
            let s = clock_time((-shift) as u64);
            segment.set_start(s);
            segment.set_base(s);
            segment.set_time(gst::ClockTime::ZERO);
        }
        segment
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
        if st.pad(input).held_span() > FADE_WAIT {
            if let Some(f) = st.out.fade.as_mut() {
                f.outgoing = None;
            }
            return true;
        }
        false
    }

    fn mark(st: &mut State, buffer: &mut gst::BufferRef) {
        if std::mem::take(&mut st.out.discont) {
            buffer.set_flags(gst::BufferFlags::DISCONT);
        } else {
            buffer.unset_flags(gst::BufferFlags::DISCONT);
        }
    }

    /// `frames` of silence at the output position.
    pub(super) fn silence(st: &mut State, frames: u64) -> Option<gst::Buffer> {
        let raw = st.out.raw.clone()?;
        let mut buffer = gst::Buffer::with_size(frames as usize * raw.info.bpf() as usize).ok()?;
        let (pts, duration) = st.out.clock.advance(frames, raw.info.rate());
        {
            let b = buffer.get_mut()?;
            if let Ok(mut map) = b.map_writable() {
                raw.info.format_info().fill_silence(&mut map);
            }
            b.set_pts(clock_time(pts));
            b.set_duration(clock_time(duration));
            b.set_flags(gst::BufferFlags::GAP);
            Self::mark(st, b);
        }
        st.out.first_pos.get_or_insert(pts);
        st.out.pos = Some(pts.saturating_add(duration));
        Some(buffer)
    }

    /// Maps one buffer of the active input onto the output timeline.
    fn prepare(&self, st: &mut State, input: Input, held: Held, items: &mut Vec<Item>) {
        let before = items.len();
        match st.out.raw.clone() {
            Some(raw) => self.prepare_raw(st, input, held, &raw, items),
            None => self.prepare_encoded(st, input, held, items),
        }
        if items.len() > before {
            // Trimming stays sample-accurate until something of the new input went out.
            st.out.just_switched = false;
        }
    }

    fn drop_unit(&self, st: &mut State, input: Input, why: &str) {
        gst::log!(CAT, imp = self, "dropping {} buffer: {why}", input.name());
        st.pad_mut(input).dropped += 1;
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
        if frames == 0 {
            return self.drop_unit(st, input, "no whole frame");
        }
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
            return self.drop_unit(st, input, "before the output position");
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
        let whole = frames as usize * bpf;
        if skip > 0 || buffer.size() != whole {
            gst::debug!(
                CAT,
                imp = self,
                "trimming {skip} overlapping frames and {} bytes of a partial frame",
                buffer.size() - whole
            );
            match buffer.copy_region(gst::BufferCopyFlags::all(), skip as usize * bpf..whole) {
                Ok(b) => buffer = b,
                Err(_) => return self.drop_unit(st, input, "cannot trim"),
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
        b.set_pts(clock_time(pts));
        b.set_dts(gst::ClockTime::NONE);
        b.set_duration(clock_time(duration));
        Self::mark(st, b);
        st.out.first_pos.get_or_insert(pts);
        st.out.pos = Some(pts.saturating_add(duration));
        let p = st.pad_mut(input);
        p.active_time = p.active_time.saturating_add(duration);
        items.push(Item::Buffer(buffer));
    }

    fn prepare_encoded(&self, st: &mut State, input: Input, held: Held, items: &mut Vec<Item>) {
        let Held {
            start,
            end,
            dts,
            mut buffer,
        } = held;
        let duration = end - start;
        // Audio codecs never reorder: a unit mostly before the output position is a
        // duplicate or a step back in time, not a B-frame, and goes like one before
        // a switch point.
        let audio = st
            .out
            .desc
            .as_ref()
            .is_some_and(|d| d.media_type.starts_with("audio/"));
        // Audio units go out if mostly after the output position; video's first unit
        // after a switch (its keyframe) if any of it is (see `switchpoint::usable`).
        let before = if audio {
            !timeline::keep_encoded(st.out.pos, start, duration)
        } else {
            !super::switchpoint::usable(st.out.pos, start, duration)
        };
        if (st.out.just_switched || audio) && before {
            return self.drop_unit(st, input, "unit before the output position");
        }
        if st.out.just_switched && buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
            return self.drop_unit(st, input, "waiting for a keyframe");
        }
        let pts = match st.out.pos {
            Some(o) if (st.out.just_switched || audio) && start < o => o,
            _ => start,
        };
        // A unit moved to the output position ends where it did: no overlap; its
        // DTS moves with it.
        let duration = duration.saturating_sub(pts - start).max(1);
        let dts = dts.map(|d| d.saturating_add(pts - start));
        // A hole before it (in decode order: with B-frames a P-frame is presented
        // after the B-frames that follow it) is covered with a GAP event: the output
        // stays continuous.
        let key = decode::decode_key(pts, dts);
        if st.out.pos.is_some_and(|o| key > o) {
            items.extend(Self::gap_to(st, key, None));
        }
        // Decode times never go back (a switch, the first units of an encoder with
        // B-frames).
        let (pts, dts) = st.out.decode.unit(pts, dts, duration);
        let b = buffer.make_mut();
        if pts != start {
            b.set_duration(clock_time(duration));
        }
        b.set_pts(clock_time(pts));
        b.set_dts(dts.map(clock_time));
        Self::mark(st, b);
        let new_end = pts.saturating_add(duration);
        st.out.first_pos.get_or_insert(pts);
        st.out.pos = Some(st.out.pos.map_or(new_end, |o| o.max(new_end)));
        let p = st.pad_mut(input);
        p.active_time = p.active_time.saturating_add(duration);
        items.push(Item::Buffer(buffer));
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
    let out_end = out_pts.saturating_add(timeline::frames_to_ns(n, rate));
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

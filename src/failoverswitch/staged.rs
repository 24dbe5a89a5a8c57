// SPDX-License-Identifier: MPL-2.0
//! Staged switches of `failoverswitch`: encoded video switches at the incoming
//! input's keyframe, and every member of a group at the point its video member chose
//! (see the pure `switchpoint` module for the choice).
//!
//! While a switch is staged the outgoing input stays active and carries the output
//! up to the switch point; units of it from the switch point on are held back. If
//! it died, the incoming input's data that cannot go out yet (video before its first
//! keyframe, all of a member's data before the group's point) becomes filler of the
//! same length — GAP events, or silence for raw audio — so the output and the muxers
//! behind it keep moving whatever the GOP length.

use gst::subclass::prelude::*;

use super::imp::{CAT, FailoverSwitch};
use super::output::Item;
use super::policy::Input;
use super::state::{Note, State};
use super::switchpoint::{self, Unit};
use super::timeline::{self, SampleClock};

impl FailoverSwitch {
    /// Moves a staged switch on: finds its switch point, fills for a dead outgoing
    /// input, and lets it take effect once the outgoing input has sent all it had
    /// before the point. `push_lock` is held.
    pub(super) fn advance_staged(&self, st: &mut State, items: &mut Vec<Item>) {
        let (Some(next), Some(from)) = (st.next, st.active) else {
            return;
        };
        let to = next.to;
        let outgoing = st.pad(from);
        let alive = outgoing.health.is_healthy();
        // The latest presentation end (with B-frames not the last unit's).
        let outgoing_end = outgoing.held.iter().map(|h| h.end).max().or(st.out.pos);
        let mut at = next.at;
        if at.is_none() {
            if let Some((point, delay)) = self.group_point(st) {
                // The video member placed the incoming input later: so does this one.
                let more = delay.saturating_sub(next.delayed);
                if more > 0 {
                    st.pad_mut(to).delay_by(more);
                    if let Some(n) = st.next.as_mut() {
                        n.delayed = delay;
                    }
                }
                at = Some(point);
            }
        }
        if at.is_none() && st.chooses_keyframes() {
            let units: Vec<Unit> = st
                .pad(to)
                .held
                .iter()
                .map(|h| Unit {
                    start: h.start,
                    duration: h.end - h.start,
                    keyframe: !h.buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
                })
                .collect();
            at = switchpoint::choose_keyframe(st.out.pos, outgoing_end, alive, &units)
                .map(|k| st.out.pos.map_or(k, |p| p.max(k)))
                .or_else(|| self.catch_up(st, to, &units));
            if let Some(k) = at {
                gst::debug!(
                    CAT,
                    imp = self,
                    "switch to {} at its keyframe {k}",
                    to.name()
                );
                self.publish_point(st, k);
            }
        }
        if let Some(n) = st.next.as_mut() {
            n.at = at;
        }
        gst::trace!(
            CAT,
            imp = self,
            "staged switch to {}: at {at:?}, outgoing alive {alive}, sent {:?}, incoming holds {}",
            to.name(),
            st.out.pos,
            st.pad(to).held.len()
        );
        let outgoing_left = st.pad(from).held.front().map(|h| h.start);
        let Some(at) = at else {
            if !alive && outgoing_left.is_none() {
                self.fill_for_incoming(st, to, items);
            }
            return;
        };
        // The outgoing input has nothing more to send before the point.
        let done = outgoing_left.map_or(!alive, |s| s >= at) || st.out.pos.is_some_and(|p| p >= at);
        if !done {
            return;
        }
        trim_before(st, to, at);
        let reason = next.reason;
        st.next = None;
        st.take_effect(Some(to), reason, Some(at));
    }

    /// The switch point the group's video member chose for the decision this member
    /// applied, and how much later it placed the incoming input.
    fn group_point(&self, st: &State) -> Option<(u64, u64)> {
        let group = st.group.as_ref()?;
        let gs = group.lock();
        (gs.seq == st.group_seq)
            .then_some(gs.at)
            .flatten()
            .map(|at| (at, gs.delay))
    }

    /// The incoming input's keyframes arrive behind the output (see
    /// `switchpoint::lag_behind`; live inputs only): up to its timeout behind, the input is placed that
    /// much later for the rest of its stream and the switch takes effect at that
    /// keyframe, now at the output position (the programme repeats that much; no
    /// frame is moved or squeezed). Further behind, one WARNING names the lag and the
    /// `latency` that would let the switch happen; the switch waits.
    fn catch_up(&self, st: &mut State, to: Input, units: &[Unit]) -> Option<u64> {
        // An input that is not live is read as fast as the output allows: it is
        // behind only until it has caught up by itself.
        if !st.pad(to).is_live() {
            return None;
        }
        let lag = switchpoint::lag_behind(st.out.pos, units)?;
        let pos = st.out.pos?;
        let bound = st.timeout_of(to);
        let next = st.next.as_mut()?;
        if lag > bound {
            if !std::mem::replace(&mut next.warned, true) {
                let needed = st.settings.latency.saturating_add(lag);
                st.outbox.push(Note::Warning(format!(
                    "switch to {} waits: its keyframes arrive {} ms behind the output, more \
                     than its timeout ({} ms) allows to catch up; a latency of at least {} ms \
                     would let it switch",
                    to.name(),
                    lag / 1_000_000,
                    bound / 1_000_000,
                    needed.div_ceil(1_000_000)
                )));
            }
            return None;
        }
        next.delayed = next.delayed.saturating_add(lag);
        st.pad_mut(to).delay_by(lag);
        gst::info!(
            CAT,
            imp = self,
            "{} placed {lag} ns later to switch at its keyframe (it arrived behind the output)",
            to.name()
        );
        Some(pos)
    }

    /// Publishes the switch point to the group's other members.
    fn publish_point(&self, st: &mut State, at: u64) {
        let Some(group) = st.group.clone() else {
            return;
        };
        {
            let mut gs = group.lock();
            if gs.seq != st.group_seq {
                return;
            }
            gs.at = Some(at);
            gs.delay = st.next.map_or(0, |n| n.delayed);
        }
        st.outbox.push(Note::GroupChanged);
    }

    /// The outgoing input died and the switch point is not known yet: the incoming
    /// input's data that cannot go out (video before its first keyframe; a member's
    /// data before its video member's keyframe) becomes filler of the same span.
    fn fill_for_incoming(&self, st: &mut State, to: Input, items: &mut Vec<Item>) {
        let keyframes = st.chooses_keyframes();
        while let Some(h) = st.pad(to).held.front() {
            let keyframe = !h.buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
            if keyframes && keyframe {
                break;
            }
            // With B-frames: up to where the unit after it decodes, at most.
            let (end, decoded) = (h.end, h.dts.map(|d| d.saturating_add(h.end - h.start)));
            st.pad_mut(to).held.pop_front();
            st.pad_mut(to).dropped += 1;
            Self::initial_events(st, items);
            self.filler(st, end, decoded, items);
        }
    }

    /// Moves the output to `end` with filler: silence for raw audio, a GAP event for
    /// other media (up to `next_dts` at most: see `gap_to`).
    pub(super) fn filler(
        &self,
        st: &mut State,
        end: u64,
        next_dts: Option<u64>,
        items: &mut Vec<Item>,
    ) {
        let from = match st.out.pos {
            Some(p) if p >= end => return,
            Some(p) => p,
            None => {
                st.out.clock = SampleClock::new(end);
                st.out.pos = Some(end);
                return;
            }
        };
        match st.out.raw.clone() {
            Some(raw) => {
                let rate = raw.info.rate();
                let frames = timeline::ns_to_frames(end - st.out.clock.position(rate), rate);
                if frames > 0 {
                    items.extend(Self::silence(st, frames).map(Item::Buffer));
                }
            }
            None => {
                items.extend(Self::gap_to(st, end, next_dts));
                st.out.clock = SampleClock::new(end);
            }
        }
        st.out.first_pos.get_or_insert(from);
    }
}

/// The incoming input's held data begins at the switch point: earlier units are
/// dropped, a raw audio buffer across it loses its head.
fn trim_before(st: &mut State, input: Input, at: u64) {
    let raw = st.pad(input).raw;
    let p = st.pad_mut(input);
    while let Some(h) = p.held.front_mut() {
        // An encoded unit stays if at least half of it lies after the point.
        let keep = match raw {
            Some(_) => h.start >= at,
            None => switchpoint::usable(Some(at), h.start, h.end - h.start),
        };
        if keep {
            break;
        }
        if let (Some((rate, bpf)), true) = (raw, h.end > at) {
            let skip = timeline::ns_to_frames(at - h.start, rate) as usize * bpf;
            let size = h.buffer.size();
            if let Ok(b) = h
                .buffer
                .copy_region(gst::BufferCopyFlags::all(), skip.min(size)..size)
            {
                h.buffer = b;
                h.start = at;
                break;
            }
        }
        p.held.pop_front();
        p.dropped += 1;
    }
}

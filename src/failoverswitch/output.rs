// SPDX-License-Identifier: MPL-2.0
//! The output timeline of `failoverswitch`: each buffer of the active input mapped
//! onto one continuous stream (trimmed, hole-filled, faded, restamped).

use gst::subclass::prelude::*;

use super::fade::{self, Outgoing};
use super::imp::{CAT, FailoverSwitch};
use super::policy::Input;
use super::state::{Fade, Held, PadState, RawFormat, State};
use super::stream::Item;
use super::timeline::{self, ALIGN_THRESHOLD, RawPlan, SampleClock};

impl FailoverSwitch {
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
            b.set_pts(gst::ClockTime::from_nseconds(pts));
            b.set_duration(gst::ClockTime::from_nseconds(duration));
            b.set_flags(gst::BufferFlags::GAP);
            Self::mark(st, b);
        }
        st.out.pos = Some(pts + duration);
        Some(buffer)
    }

    /// Maps one buffer of the active input onto the output timeline.
    pub(super) fn prepare(&self, st: &mut State, input: Input, held: Held, items: &mut Vec<Item>) {
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

    pub(super) fn prepare_raw(
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

    pub(super) fn prepare_encoded(
        &self,
        st: &mut State,
        input: Input,
        held: Held,
        items: &mut Vec<Item>,
    ) {
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

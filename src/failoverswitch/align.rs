// SPDX-License-Identifier: MPL-2.0
//! Alignment of `failoverswitch`'s inputs by content: where both carry the same
//! programme with different delays, the secondary's data is placed `offset` earlier
//! on the output timeline (later, for a negative offset), so a switch neither repeats
//! nor skips programme.
//!
//! The offset is measured from raw audio by the pure estimator (`crate::align`) with
//! `align=auto`, or written by the application (`align=manual`, e.g. the relay from
//! decoded side branches of encoded inputs). Only the secondary is shifted: the
//! primary's timeline is the output's while it is on air, so nothing jumps there. A
//! new offset applies to the secondary at once while it is standby (its held data is
//! moved with it) and waits while it is on air (a change there would be a jump), until
//! it is standby again. A failover to a secondary that carries the programme later
//! makes the output wait for it (a pause in the data, never a repeat); the latency the
//! element reports grows by the offset so a clock-synced sink plays through it.

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::AlignMode;
use super::imp::{CAT, FailoverSwitch};
use super::policy::Input;
use super::state::{Note, State};
use crate::align::{self, Estimator};
use crate::sample_format::SampleFormat;

/// Offsets closer than this to the one applied are not applied (the estimator's
/// own hysteresis is 1 ms; this keeps encoded inputs' whole frames still).
const APPLY_TOLERANCE: u64 = 2_000_000;

/// Raw audio of one buffer, for the estimator.
pub(super) struct Feed {
    pub input: Input,
    pub rate: u32,
    pub channels: usize,
    pub format: SampleFormat,
    /// The input's own running time of the first sample.
    pub running_time: u64,
    pub buffer: gst::Buffer,
}

impl State {
    /// What of this buffer the estimator needs, if the element measures.
    pub(super) fn align_feed(
        &self,
        input: Input,
        own_start: u64,
        buffer: &gst::Buffer,
    ) -> Option<Feed> {
        if self.settings.align != AlignMode::Auto {
            return None;
        }
        let raw = self.out.raw.as_ref()?;
        let format = raw.sample?;
        // Only data in the output format (a refused input is not measured).
        if self.pad(input).health.caps_mismatch || self.pad(input).raw.is_none() {
            return None;
        }
        Some(Feed {
            input,
            rate: raw.info.rate(),
            channels: raw.info.channels() as usize,
            format,
            running_time: own_start,
            buffer: buffer.clone(),
        })
    }

    /// Applies a new offset of the secondary: at once while it is standby, else
    /// once it is.
    pub(super) fn set_offset(&mut self, offset: i64) {
        let on_air = self.active == Some(Input::Secondary)
            || self.next.is_some_and(|n| n.to == Input::Secondary);
        if on_air {
            self.pad_mut(Input::Secondary).pending_shift = Some(offset);
            return;
        }
        self.apply_shift(offset);
    }

    /// The latency alignment adds: a secondary that carries the programme later is
    /// waited for at a failover; rounded up to 50 ms so small re-measurements do not
    /// reconfigure the pipeline. Plus `latency`.
    pub(super) fn added_latency(&self) -> u64 {
        let p = self.pad(Input::Secondary);
        let later = p.pending_shift.unwrap_or(p.shift).max(0) as u64;
        let step = 50_000_000;
        self.settings.latency + later.div_ceil(step) * step
    }

    /// The secondary left the air: a waiting offset applies now.
    pub(super) fn apply_pending_shift(&mut self) {
        if let Some(offset) = self.pad_mut(Input::Secondary).pending_shift.take() {
            self.apply_shift(offset);
        }
    }

    fn apply_shift(&mut self, offset: i64) {
        let p = self.pad_mut(Input::Secondary);
        let delta = offset - p.shift;
        if delta == 0 {
            return;
        }
        p.shift = offset;
        // Mapped = own - shift: what it holds moves by -delta.
        let moved = |t: u64| t.saturating_add_signed(-delta);
        for h in p.held.iter_mut() {
            h.start = moved(h.start);
            h.end = moved(h.end);
        }
        p.position = p.position.map(moved);
        gst::debug!(
            CAT,
            "secondary placed {offset} ns earlier than its running time"
        );
    }
}

impl FailoverSwitch {
    /// Feeds the estimator; applies and announces a new confident offset.
    pub(super) fn measure(&self, feed: Feed) {
        // Lock order: the state lock is never held while taking the estimator's.
        let max_offset = self.lock_state().settings.max_offset;
        let estimate = {
            let mut guard = self.align.lock().unwrap_or_else(|e| e.into_inner());
            let est = guard.get_or_insert_with(|| {
                Estimator::new(align::Config {
                    max_offset,
                    ..Default::default()
                })
            });
            let Ok(map) = feed.buffer.map_readable() else {
                return;
            };
            let width = feed.format.width();
            let scale = 1.0 / feed.format.full_scale();
            let samples: Vec<f32> = map
                .chunks_exact(width)
                .map(|b| (feed.format.read(b) * scale) as f32)
                .collect();
            let which = match feed.input {
                Input::Primary => align::Input::Primary,
                Input::Secondary => align::Input::Secondary,
            };
            let before = est.estimate().revision;
            est.push_interleaved(which, feed.rate, feed.channels, feed.running_time, &samples);
            let e = est.estimate();
            (e.revision != before).then_some(e)
        };
        let Some(e) = estimate else { return };
        let mut st = self.lock_state();
        if st.settings.align != AlignMode::Auto {
            return;
        }
        if let (Some(offset), true) = (e.offset, e.confident) {
            let current = st
                .pad(Input::Secondary)
                .pending_shift
                .unwrap_or(st.pad(Input::Secondary).shift);
            if offset.abs_diff(current) >= APPLY_TOLERANCE {
                st.set_offset(offset);
                st.outbox.push(Note::LatencyChanged);
            }
        }
        st.outbox.push(Note::Aligned {
            offset: e.offset.unwrap_or(0),
            confident: e.confident,
            confidence: f64::from(e.confidence),
            running_time: e.since,
        });
        self.release(st);
    }

    /// The `failover-aligned` message.
    pub(super) fn post_aligned(&self, offset: i64, confident: bool, confidence: f64, rt: u64) {
        gst::info!(
            CAT,
            imp = self,
            "secondary carries the programme {offset} ns later (confident: {confident})"
        );
        let s = gst::Structure::builder("failover-aligned")
            .field("offset", offset)
            .field("confident", confident)
            .field("confidence", confidence)
            .field("running-time", rt)
            .build();
        let _ = self
            .obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
    }
}

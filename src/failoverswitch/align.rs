// SPDX-License-Identifier: MPL-2.0
//! Alignment of `failoverswitch`'s inputs by content: where both carry the same
//! programme with different delays, the secondary's data is placed `offset` earlier
//! on the output timeline (later, for a negative offset), so a switch neither repeats
//! nor skips programme.
//!
//! The offset is measured from raw audio by the pure estimator (`crate::align`) with
//! `align=auto`, or written by the application (`align=manual`, e.g. the relay from
//! decoded side branches of encoded inputs: an input placed anew is then restored to
//! only after the application's next write, its new measurement, or `REALIGN_MAX`).
//! A new offset always moves the input that is not on air (its held data moves with
//! it), so nothing the listener hears jumps; after a reconnection of either input the
//! other keeps its place. A switch to an input placed earlier than it arrives (it
//! carries the programme later) makes the output wait for it (a pause in the data,
//! never a repeat); the latency the element reports grows by that much so a
//! clock-synced sink plays through it.

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

/// Longest an interrupted input waits to be measured again before it may be restored
/// to anyway (of its own data: an unrelated or silent programme never matches).
pub(super) const REALIGN_MAX: u64 = 20_000_000_000;

/// Raw audio of one buffer, for the estimator.
pub(super) struct Feed {
    pub input: Input,
    pub rate: u32,
    pub channels: usize,
    pub format: SampleFormat,
    /// The input's own running time of the first sample.
    pub running_time: u64,
    pub buffer: gst::Buffer,
    /// The input was placed anew: forget its history first.
    pub reset: bool,
    pub max_offset: u64,
}

/// The estimator and a buffer for converted samples, under their own lock.
pub(super) struct Aligner {
    estimator: Estimator,
    mono: Vec<f32>,
}

impl State {
    /// What of this buffer the estimator needs, if the element measures.
    pub(super) fn align_feed(
        &mut self,
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
        let (rate, channels) = (raw.info.rate(), raw.info.channels() as usize);
        let reset = std::mem::take(&mut self.pad_mut(input).align_reset);
        Some(Feed {
            input,
            rate,
            channels,
            format,
            running_time: own_start,
            buffer: buffer.clone(),
            reset,
            max_offset: self.settings.max_offset,
        })
    }

    /// The offset applied: how much later the secondary carries the programme.
    pub(super) fn offset(&self) -> i64 {
        self.pad(Input::Secondary).shift - self.pad(Input::Primary).shift
    }

    /// Applies a new offset by moving the input that is not on air: nothing the
    /// listener hears jumps (the on-air input's placement never changes).
    pub(super) fn set_offset(&mut self, offset: i64) {
        let on_air = self.target().unwrap_or(Input::Primary);
        let anchor = self.pad(on_air).shift;
        match on_air {
            Input::Primary => self.apply_shift(Input::Secondary, anchor + offset),
            Input::Secondary => self.apply_shift(Input::Primary, anchor - offset),
        }
    }

    /// The latency alignment adds: an input placed earlier than it arrives is waited
    /// for at a switch to it; rounded up to 50 ms so small re-measurements do not
    /// reconfigure the pipeline. Plus `latency`.
    pub(super) fn added_latency(&self) -> u64 {
        let ahead = self.pads.iter().map(|p| p.shift).max().unwrap_or(0).max(0) as u64;
        let step = 50_000_000;
        self.settings.latency + ahead.div_ceil(step) * step
    }

    fn apply_shift(&mut self, input: Input, shift: i64) {
        let p = self.pad_mut(input);
        let delta = shift - p.shift;
        if delta == 0 {
            return;
        }
        p.shift = shift;
        // Mapped = own - shift: what it holds moves by -delta.
        let moved = |t: u64| t.saturating_add_signed(-delta);
        for h in p.held.iter_mut() {
            h.start = moved(h.start);
            h.end = moved(h.end);
            h.dts = h.dts.map(moved);
        }
        p.position = p.position.map(moved);
        p.decode_end = p.decode_end.map(moved);
        gst::debug!(
            CAT,
            "{} placed {shift} ns earlier than its running time",
            input.name()
        );
    }
}

impl FailoverSwitch {
    /// Feeds the estimator; applies and announces a new confident offset.
    pub(super) fn measure(&self, feed: Feed) {
        let estimate = {
            let mut guard = self.align.lock().unwrap_or_else(|e| e.into_inner());
            let aligner = guard.get_or_insert_with(|| Aligner {
                estimator: Estimator::new(align::Config {
                    max_offset: feed.max_offset,
                    ..Default::default()
                }),
                mono: Vec::new(),
            });
            let Ok(map) = feed.buffer.map_readable() else {
                return;
            };
            // Downmixed to mono and scaled to full scale 1 in one pass.
            let width = feed.format.width();
            let channels = feed.channels.max(1);
            let scale = 1.0 / (feed.format.full_scale() * channels as f64);
            aligner.mono.clear();
            aligner
                .mono
                .extend(map.chunks_exact(width * channels).map(|frame| {
                    let sum: f64 = frame.chunks_exact(width).map(|b| feed.format.read(b)).sum();
                    (sum * scale) as f32
                }));
            let which = match feed.input {
                Input::Primary => align::Input::Primary,
                Input::Secondary => align::Input::Secondary,
            };
            let est = &mut aligner.estimator;
            if feed.reset {
                est.reset_input(which);
            }
            let before = est.estimate().revision;
            let m = est.push(which, feed.rate, feed.running_time, &aligner.mono);
            let e = est.estimate();
            // A match over data from after `window` ago: inputs interrupted before
            // that are measured again.
            let measured_from = m
                .filter(|m| m.verdict == align::Verdict::Match)
                .map(|m| m.running_time.saturating_sub(est.config().window));
            if m.is_none() && e.revision == before {
                // Nothing new (the usual case): no need for the state lock.
                return;
            }
            (e, e.revision != before, measured_from)
        };
        let (e, changed, measured_from) = estimate;
        let mut st = self.lock_state();
        if let Some(from) = measured_from {
            for p in st.pads.iter_mut() {
                if p.realign.is_some_and(|since| since <= from) {
                    p.realign = None;
                }
            }
        }
        st.aligned = e.confident;
        if !changed || st.settings.align != AlignMode::Auto {
            self.unlock(st);
            return;
        }
        if let (Some(offset), true) = (e.offset, e.confident) {
            if offset.abs_diff(st.offset()) >= APPLY_TOLERANCE {
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

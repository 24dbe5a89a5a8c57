// SPDX-License-Identifier: MPL-2.0
//! Alignment of two inputs that carry the same programme with different delays.
//!
//! [`Estimator`] takes each input's decoded audio (mono, or interleaved and
//! downmixed; any rate from 8 kHz; any chunk size; with the running time of each
//! chunk's first sample) and estimates, continuously, how much later the secondary
//! carries the programme than the primary: [`Estimate::offset`], positive when the
//! secondary is late (delay the primary by it), negative when it is early (delay the
//! secondary by its magnitude). No GStreamer types: the elements and the relay feed
//! it from their streaming threads.
//!
//! How:
//! 1. Both inputs are low-passed and placed on one 8 kHz grid by their running
//!    times (holes stay holes; overlaps are ignored).
//! 2. **Coarse**: the log energy of five octave bands (150 Hz – 2.4 kHz) every
//!    10 ms. The primary's last `window` (8 s) is compared with the secondary at
//!    every lag within ±`max_offset` (2 s) by normalised cross-correlation, averaged
//!    over the bands that carry signal. Envelopes survive different encoders,
//!    bitrates and sample rates; normalisation removes level differences. The peak
//!    is interpolated to a fraction of a frame.
//! 3. **Confidence**: the peak must reach `min_peak` and stand out from the best
//!    other peak: `confidence = (peak - second) / (1 - second)` ≥ `min_confidence`.
//!    Unrelated programmes, a periodic programme that is ambiguous within the range,
//!    or a peak at the edge of the range give [`Verdict::NoMatch`]; a primary
//!    without signal gives [`Verdict::Silent`].
//! 4. **Fine**: on a match, the waveforms above 500 Hz are correlated within ±12 ms
//!    of the coarse offset over `fine_window` (1 s) and the peak interpolated
//!    between 125 µs samples.
//! 5. **Hysteresis**: the published offset is set by `confirmations` (2)
//!    agreeing matches, and moves only when that many agree on a value more than
//!    `tolerance` (1 ms) away; `lose_after` (5) measurements without a match mark it
//!    not confident; silence changes nothing.
//!
//! An analysis runs every `interval` (1 s) of the inputs' running time, inside
//! [`Estimator::push`].

mod correlate;
mod estimator;
mod filters;
mod frontend;
mod resample;
#[cfg(test)]
mod tests;

pub use estimator::{Config, Estimate, Estimator, Input, Measurement, Verdict};

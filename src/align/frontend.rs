// SPDX-License-Identifier: MPL-2.0
//! The per-input front end: places each input's decoded audio on one absolute
//! analysis grid (8 kHz, sample `g` at running time `g` × 125 µs), whatever its
//! sample rate, chunk sizes and holes, and derives from it what the correlator
//! needs:
//!
//! - a band-limited waveform (for the fine, sub-millisecond stage);
//!   ([`Resampler`] brings any rate to the grid, band-limited to 3.4 kHz);
//! - per 10 ms frame, the log energy in a few octave bands (for the coarse stage:
//!   robust to different encoders and bitrates, and to level differences).
//!
//! Missing samples are stored as NaN, so holes never look like programme.

use std::collections::VecDeque;

use super::filters::{BUTTERWORTH4_Q, Biquad};
use super::resample::Resampler;

/// Analysis rate (Hz).
pub(crate) const RATE: u32 = 8000;
/// Nanoseconds per analysis sample.
pub(crate) const NS_PER_SAMPLE: u64 = 1_000_000_000 / RATE as u64;
/// Analysis samples per envelope frame (10 ms).
pub(crate) const FRAME: i64 = 80;
/// Converts a stored waveform value to f32 (NaN when missing).
pub(crate) fn wave_value(v: i16) -> f32 {
    if v == WAVE_MISSING {
        f32::NAN
    } else {
        v as f32
    }
}
/// Nanoseconds per envelope frame.
pub(crate) const NS_PER_FRAME: u64 = NS_PER_SAMPLE * FRAME as u64;
/// Octave bands of the envelope (centre frequencies, Hz).
pub(crate) const BAND_CENTRES: [f64; 5] = [150.0, 300.0, 600.0, 1200.0, 2400.0];
pub(crate) const BANDS: usize = BAND_CENTRES.len();
/// The fine stage correlates the waveform above this frequency, where its
/// correlation peak is narrow (bass would make it broad and periodic).
const WAVE_HIGH_PASS_HZ: f64 = 500.0;
/// Energy floor of a band (-80 dB relative to a full-scale sine's 0.5).
const ENERGY_FLOOR: f64 = 0.5e-8;
/// The waveform is kept as 16-bit values of this full scale (6 dB of headroom
/// over a full-scale input); `WAVE_MISSING` marks a missing sample.
const WAVE_SCALE: f64 = 16384.0;
pub(crate) const WAVE_MISSING: i16 = i16::MIN;
/// Timestamp disagreements up to this many analysis samples (1 ms) are bridged.
const JITTER: f64 = 8.0;
/// A frame needs this many valid samples.
const FRAME_MIN_VALID: u32 = (FRAME as u32 * 3) / 4;

/// A run of values at consecutive absolute indices, keeping the newest `cap`.
#[derive(Debug, Clone)]
pub(crate) struct Series<T> {
    start: i64,
    data: VecDeque<T>,
    cap: usize,
}

impl<T: Copy> Series<T> {
    fn new(cap: usize) -> Self {
        Series {
            start: 0,
            data: VecDeque::with_capacity(cap + 1),
            cap,
        }
    }

    /// First index held.
    pub(crate) fn start(&self) -> i64 {
        self.start
    }

    /// One past the last index held.
    pub(crate) fn end(&self) -> i64 {
        self.start + self.data.len() as i64
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn clear(&mut self) {
        self.data.clear();
    }

    /// Appends the value of index `index`; the series restarts there if it was
    /// empty. Callers keep indices consecutive.
    fn push(&mut self, index: i64, value: T) {
        if self.data.is_empty() {
            self.start = index;
        }
        self.data.push_back(value);
        if self.data.len() > self.cap {
            self.data.pop_front();
            self.start += 1;
        }
    }

    /// Copies indices `[from, from + out.len())` into `out`; false if not all held.
    pub(crate) fn copy_to(&self, from: i64, out: &mut [T]) -> bool {
        self.map_to(from, out, |v| v)
    }

    /// Like `copy_to`, converting each value with `f`.
    pub(crate) fn map_to<U>(&self, from: i64, out: &mut [U], f: impl Fn(T) -> U) -> bool {
        if from < self.start || from + out.len() as i64 > self.end() {
            return false;
        }
        let first = (from - self.start) as usize;
        let (a, b) = self.data.as_slices();
        for (i, o) in out.iter_mut().enumerate() {
            let k = first + i;
            *o = f(if k < a.len() { a[k] } else { b[k - a.len()] });
        }
        true
    }
}

/// The envelope frame of one 10 ms step: log energy per band, NaN when missing.
pub(crate) type Frame = [f32; BANDS];

/// Lanes of the band filter bank (the bands, padded for vectorisation).
const LANES: usize = 8;

/// The octave band-pass filters, run side by side (one lane per band) in f32.
#[derive(Debug, Clone)]
struct BandBank {
    b0: [f32; LANES],
    a1: [f32; LANES],
    a2: [f32; LANES],
    z1: [f32; LANES],
    z2: [f32; LANES],
}

impl BandBank {
    fn new() -> Self {
        let mut bank = BandBank {
            b0: [0.0; LANES],
            a1: [0.0; LANES],
            a2: [0.0; LANES],
            z1: [0.0; LANES],
            z2: [0.0; LANES],
        };
        for (i, &f) in BAND_CENTRES.iter().enumerate() {
            // A band-pass biquad has b = [b0, 0, -b0].
            let (b0, a1, a2) = Biquad::band_pass(f, RATE as f64, std::f64::consts::SQRT_2)
                .band_pass_coefficients();
            bank.b0[i] = b0 as f32;
            bank.a1[i] = a1 as f32;
            bank.a2[i] = a2 as f32;
        }
        bank
    }

    fn reset(&mut self) {
        self.z1 = [0.0; LANES];
        self.z2 = [0.0; LANES];
    }

    /// Filters `x` in every band and adds the squared outputs to `acc`.
    #[inline]
    // One index over parallel lane arrays is what lets the compiler vectorise it.
    #[allow(clippy::needless_range_loop)]
    fn accumulate(&mut self, x: f32, acc: &mut [f32; LANES]) {
        for k in 0..LANES {
            let y = self.b0[k] * x + self.z1[k];
            self.z1[k] = -self.a1[k] * y + self.z2[k];
            self.z2[k] = -self.b0[k] * x - self.a2[k] * y;
            acc[k] += y * y;
        }
    }
}

/// What is derived on the grid: the waveform and the envelope frames.
#[derive(Debug, Clone)]
struct Grid {
    wave_filter: [Biquad; 2],
    bands: BandBank,
    /// Energy accumulators of the 10 ms block being filled, and its valid samples.
    acc: [f32; LANES],
    acc_valid: u32,
    /// Mean band energies of the two blocks before the one being filled.
    blocks: [Option<[f64; BANDS]>; 2],
    wave: Series<i16>,
    frames: Series<Frame>,
}

impl Grid {
    fn reset_filters(&mut self) {
        self.wave_filter.iter_mut().for_each(Biquad::reset);
        self.bands.reset();
    }

    fn clear(&mut self) {
        self.wave.clear();
        self.frames.clear();
        self.acc = [0.0; LANES];
        self.acc_valid = 0;
        self.blocks = [None; 2];
        self.reset_filters();
    }

    /// Places analysis sample `g` (filling any missing samples before it).
    fn emit(&mut self, g: i64, v: f32) {
        if self.wave.is_empty() {
            // The block holding `g` starts partly filled: it counts as missing
            // unless enough of it follows.
            self.acc = [0.0; LANES];
            self.acc_valid = 0;
            self.blocks = [None; 2];
        } else {
            if g < self.wave.end() {
                return;
            }
            if g > self.wave.end() {
                // A hole: the filters restart after it.
                self.reset_filters();
            }
            while self.wave.end() < g {
                let missing = self.wave.end();
                self.wave.push(missing, WAVE_MISSING);
                self.account(missing, None);
            }
        }
        let w = self
            .wave_filter
            .iter_mut()
            .fold(v as f64, |s, b| b.process(s));
        // `as` saturates; -32768 is kept for `WAVE_MISSING`.
        let q = (w * WAVE_SCALE).max(-32767.0) as i16;
        self.wave.push(g, q);
        self.account(g, Some(v));
    }

    /// Feeds sample `g` (None: missing) into the 10 ms block it belongs to, and
    /// closes the frame at the end of each block.
    fn account(&mut self, g: i64, v: Option<f32>) {
        if let Some(v) = v {
            self.bands.accumulate(v, &mut self.acc);
            self.acc_valid += 1;
        }
        if g.rem_euclid(FRAME) != FRAME - 1 {
            return;
        }
        let index = g.div_euclid(FRAME);
        let block = (self.acc_valid >= FRAME_MIN_VALID).then(|| {
            let n = self.acc_valid as f64;
            std::array::from_fn(|k| self.acc[k] as f64 / n)
        });
        // Frame `index` is the energy over the 30 ms of blocks `index - 2` to
        // `index`, weighted 1/4, 1/2, 1/4: smooth enough that sampling it every
        // 10 ms loses nothing, so any sub-frame offset still correlates fully.
        let mut sum = [0.0f64; BANDS];
        let mut weight = 0.0;
        for (b, w) in [(self.blocks[0], 0.25), (self.blocks[1], 0.5), (block, 0.25)] {
            if let Some(b) = b {
                sum.iter_mut().zip(b).for_each(|(s, e)| *s += w * e);
                weight += w;
            }
        }
        self.blocks = [self.blocks[1], block];
        let frame = if weight >= 0.75 {
            sum.map(|e| ((e / weight) + ENERGY_FLOOR).ln() as f32)
        } else {
            [f32::NAN; BANDS]
        };
        while !self.frames.is_empty() && self.frames.end() < index {
            let missing = self.frames.end();
            self.frames.push(missing, [f32::NAN; BANDS]);
        }
        if self.frames.is_empty() || self.frames.end() == index {
            self.frames.push(index, frame);
        }
        self.acc = [0.0; LANES];
        self.acc_valid = 0;
    }
}

/// One input's front end.
#[derive(Debug, Clone)]
pub(crate) struct Frontend {
    rate: u32,
    resampler: Option<Resampler>,
    grid: Grid,
    /// Holes longer than this (grid samples) restart the history.
    max_hole: f64,
}

impl Frontend {
    /// A front end keeping `wave_cap` waveform samples and `frame_cap` frames, whose
    /// history restarts after a hole longer than `max_hole_ns`.
    pub(crate) fn new(wave_cap: usize, frame_cap: usize, max_hole_ns: u64) -> Self {
        Frontend {
            rate: 0,
            resampler: None,
            grid: Grid {
                wave_filter: BUTTERWORTH4_Q
                    .map(|q| Biquad::high_pass(WAVE_HIGH_PASS_HZ, RATE as f64, q)),
                bands: BandBank::new(),
                acc: [0.0; LANES],
                acc_valid: 0,
                blocks: [None; 2],
                wave: Series::new(wave_cap),
                frames: Series::new(frame_cap),
            },
            max_hole: max_hole_ns as f64 / NS_PER_SAMPLE as f64,
        }
    }

    /// The band-limited waveform on the grid, 16-bit (`WAVE_MISSING` = missing).
    pub(crate) fn wave(&self) -> &Series<i16> {
        &self.grid.wave
    }

    /// The envelope frames (`frame[0]` NaN = missing).
    pub(crate) fn frames(&self) -> &Series<Frame> {
        &self.grid.frames
    }

    /// Forgets everything (a new stream, a flush).
    pub(crate) fn reset(&mut self) {
        if let Some(r) = &mut self.resampler {
            r.restart();
        }
        self.grid.clear();
    }

    /// Adds mono samples at `rate` Hz whose first sample has running time
    /// `running_time` (ns).
    pub(crate) fn push(&mut self, rate: u32, running_time: u64, samples: &[f32]) {
        if rate == 0 || samples.is_empty() {
            return;
        }
        if rate != self.rate || self.resampler.is_none() {
            self.rate = rate;
            self.resampler = Some(Resampler::new(rate, RATE));
        }
        let Some(resampler) = &mut self.resampler else {
            return;
        };
        let ratio = rate as f64 / RATE as f64;
        let mut t0 = running_time as f64 / NS_PER_SAMPLE as f64;
        let mut samples = samples;
        if let Some(expected) = resampler.expected() {
            let gap = t0 - expected;
            if gap.abs() > self.max_hole {
                // A long hole or a jump back: a new timeline.
                resampler.restart();
                self.grid.clear();
            } else if gap > JITTER {
                // A hole: the grid up to the new data stays missing.
                resampler.restart();
            } else if gap < -JITTER {
                // Overlap: skip what was already placed.
                let skip = ((-gap * ratio).round() as usize).min(samples.len());
                samples = &samples[skip..];
                t0 += skip as f64 / ratio;
            }
        }
        let grid = &mut self.grid;
        resampler.push(t0, samples, |g, v| grid.emit(g, v));
    }
}

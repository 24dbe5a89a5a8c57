// SPDX-License-Identifier: MPL-2.0
//! BS.1770-4 / EBU R128 measurement: momentary (400 ms), short-term (3 s), gated
//! integrated loudness, loudness range (EBU Tech 3342) and true peak.
//!
//! No GStreamer types here: the element maps its buffers to slices of one of the
//! four sample types and its channel positions to [`Speaker`].
//!
//! One pass per sample: the K-weighting filter, the channel weight and the
//! square. Energies are summed per 100 ms step (BS.1770's gating blocks overlap by
//! 75 %, so each step completes a 400 ms block) and kept per frame for the last 3 s,
//! so that momentary and short-term loudness can be read at any frame, not only on
//! the 100 ms grid. Each completed block goes to the integrated loudness's
//! histogram and each completed 3 s window (every 100 ms, as Tech 3342 asks) to the
//! loudness range's. The true peak is measured apart ([`TruePeak`]).

use super::gating::{Integrated, Range};
use super::kweighting::{KState, KWeighting};
use super::true_peak::TruePeak;
use crate::sample_format::SampleFormat;

/// Loudness of silence / "nothing measured yet" as sent in messages.
pub const NO_MEASUREMENT: f64 = f64::NEG_INFINITY;
/// 100 ms steps in a momentary (gating) block.
const MOMENTARY_STEPS: usize = 4;
/// 100 ms steps in a short-term window.
const SHORT_TERM_STEPS: usize = 30;

/// Loudspeaker role of one channel, as far as BS.1770-4 weighting cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    /// Front left/right/centre, mono, rear centre, heights, unpositioned: weight 1.0.
    Front,
    /// Surround at about ±60°..±120° (Ls/Rs of 5.1, side of 7.1): weight 1.41.
    Surround,
    /// Back surround at ±135° or more (rear pair of 7.1): weight 1.0.
    Back,
    /// Low-frequency effects: excluded from the measurement.
    Lfe,
}

impl Speaker {
    /// BS.1770-4 channel weight.
    pub fn weight(self) -> f64 {
        match self {
            Speaker::Front | Speaker::Back => 1.0,
            Speaker::Surround => 1.41,
            Speaker::Lfe => 0.0,
        }
    }
}

/// Sample types the element accepts, read as numbers relative to full scale.
pub trait Sample: Copy + Default + Send + 'static {
    const FORMAT: SampleFormat;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl Sample for f32 {
    const FORMAT: SampleFormat = SampleFormat::F32;
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Sample for f64 {
    const FORMAT: SampleFormat = SampleFormat::F64;
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl Sample for i16 {
    const FORMAT: SampleFormat = SampleFormat::S16;
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64 * (1.0 / 32768.0)
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        (v * Self::FORMAT.full_scale())
            .round()
            .clamp(i16::MIN as f64, i16::MAX as f64) as i16
    }
}

impl Sample for i32 {
    const FORMAT: SampleFormat = SampleFormat::S32;
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64 * (1.0 / 2147483648.0)
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        (v * Self::FORMAT.full_scale())
            .round()
            .clamp(i32::MIN as f64, i32::MAX as f64) as i32
    }
}

/// A sample as a finite number (NaN and infinities in float input count as 0, so
/// one bad sample cannot poison the filters for good).
#[inline(always)]
fn finite<T: Sample>(s: T) -> f64 {
    let v = s.to_f64();
    if v.is_finite() { v } else { 0.0 }
}

/// One reading of the meter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// LUFS over the last 400 ms; `-inf` before 400 ms of audio or on digital silence.
    pub momentary: f64,
    /// LUFS over the last 3 s; `-inf` before 3 s of audio or on digital silence.
    pub short_term: f64,
    /// Gated integrated LUFS since start; `-inf` while no block passed the gates.
    pub integrated: f64,
    /// LU (EBU Tech 3342); 0.0 until enough short-term values passed the gates.
    pub loudness_range: f64,
    /// Maximum true peak since start over all channels, dBTP; `-inf` on silence.
    pub true_peak: f64,
}

/// Linear amplitude to dB; 0 gives `-inf`.
pub fn amplitude_to_db(v: f64) -> f64 {
    if v > 0.0 {
        20.0 * v.log10()
    } else {
        NO_MEASUREMENT
    }
}

/// Energy (mean square, weighted) to LUFS as BS.1770 defines it.
pub fn energy_to_lufs(e: f64) -> f64 {
    if e > 0.0 {
        10.0 * e.log10() - 0.691
    } else {
        NO_MEASUREMENT
    }
}

/// LUFS to energy, inverse of [`energy_to_lufs`].
pub fn lufs_to_energy(l: f64) -> f64 {
    if l.is_finite() {
        10f64.powf((l + 0.691) / 10.0)
    } else {
        0.0
    }
}

#[derive(Debug)]
pub struct Meter {
    channels: usize,
    weights: Vec<f64>,
    filter: KWeighting,
    states: Vec<KState>,
    /// Frames per 100 ms gating step.
    step: usize,
    /// Frames added since creation/reset.
    frames: u64,
    /// Weighted energy of each of the last 3 s of frames (a ring; `ring_pos` is
    /// where the next frame goes).
    ring: Vec<f32>,
    ring_pos: usize,
    /// Energy of the frames of the step in progress.
    acc: f64,
    /// Energies of the last 30 completed steps (a ring, oldest at `step_pos`).
    steps: [f64; SHORT_TERM_STEPS],
    step_pos: usize,
    /// Loudness of the 400 ms block completed by the last step.
    block: Option<f64>,
    integrated: Integrated,
    range: Range,
    true_peak: TruePeak,
}

impl Meter {
    /// `speakers` gives one role per channel (its length is the channel count).
    pub fn new(rate: u32, speakers: &[Speaker]) -> Self {
        let channels = speakers.len().max(1);
        let rate = rate.max(1);
        // 100 ms rounded to the nearest frame, as BS.1770 meters commonly do.
        let step = (rate as usize).div_ceil(10).max(1);
        let mut weights: Vec<f64> = speakers.iter().map(|s| s.weight()).collect();
        weights.resize(channels, 1.0);
        Meter {
            channels,
            weights,
            filter: KWeighting::new(rate),
            states: vec![KState::default(); channels],
            step,
            frames: 0,
            ring: vec![0.0; step * SHORT_TERM_STEPS],
            ring_pos: 0,
            acc: 0.0,
            steps: [0.0; SHORT_TERM_STEPS],
            step_pos: 0,
            block: None,
            integrated: Integrated::default(),
            range: Range::default(),
            true_peak: TruePeak::new(rate, channels),
        }
    }

    /// Frames until the next 100 ms gating step completes (at least 1).
    pub fn frames_to_next_step(&self) -> u64 {
        let r = self.frames % self.step as u64;
        self.step as u64 - r
    }

    /// Whether the frames added so far end exactly on a gating step.
    pub fn at_step(&self) -> bool {
        self.frames > 0 && self.frames % self.step as u64 == 0
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Completed steps so far.
    fn steps_done(&self) -> u64 {
        self.frames / self.step as u64
    }

    /// Adds interleaved frames (a trailing partial frame is ignored).
    pub fn add<T: Sample>(&mut self, data: &[T]) {
        let ch = self.channels;
        let total = data.len() / ch;
        let data = &data[..total * ch];
        self.true_peak.push_with(data, |s| s.to_f64());
        let mut done = 0;
        while done < total {
            let n = (total - done).min(self.frames_to_next_step() as usize);
            let chunk = &data[done * ch..(done + n) * ch];
            self.acc += match ch {
                1 => self.filter_fixed::<T, 1>(chunk),
                2 => self.filter_fixed::<T, 2>(chunk),
                _ => self.filter_any(chunk),
            };
            self.frames += n as u64;
            done += n;
            if self.at_step() {
                self.complete_step();
            }
        }
        self.states.iter_mut().for_each(KState::flush_tiny);
    }

    /// Records one frame's weighted energy.
    #[inline(always)]
    fn record(&mut self, e: f64) {
        self.ring[self.ring_pos] = e as f32;
        self.ring_pos += 1;
        if self.ring_pos == self.ring.len() {
            self.ring_pos = 0;
        }
    }

    /// Filters frames of `C` channels (state in registers); returns their energy.
    fn filter_fixed<T: Sample, const C: usize>(&mut self, data: &[T]) -> f64 {
        let mut st = [KState::default(); C];
        st.copy_from_slice(&self.states[..C]);
        let mut w = [0.0; C];
        w.copy_from_slice(&self.weights[..C]);
        let f = self.filter;
        let mut sum = 0.0;
        for frame in data.chunks_exact(C) {
            let mut e = 0.0;
            for c in 0..C {
                let y = f.run(&mut st[c], finite(frame[c]));
                e += w[c] * y * y;
            }
            sum += e;
            self.record(e);
        }
        self.states[..C].copy_from_slice(&st);
        sum
    }

    /// Filters frames of any channel count; returns their energy.
    fn filter_any<T: Sample>(&mut self, data: &[T]) -> f64 {
        let f = self.filter;
        let mut states = std::mem::take(&mut self.states);
        let mut sum = 0.0;
        for frame in data.chunks_exact(self.channels) {
            let mut e = 0.0;
            for ((s, st), w) in frame.iter().zip(states.iter_mut()).zip(&self.weights) {
                let y = f.run(st, finite(*s));
                e += w * y * y;
            }
            sum += e;
            self.record(e);
        }
        self.states = states;
        sum
    }

    /// A 100 ms step has completed: a new 400 ms block and a new 3 s window.
    fn complete_step(&mut self) {
        self.steps[self.step_pos] = std::mem::take(&mut self.acc);
        self.step_pos = (self.step_pos + 1) % SHORT_TERM_STEPS;
        let done = self.steps_done();
        self.block = None;
        if done >= MOMENTARY_STEPS as u64 {
            let e = self.last_steps(MOMENTARY_STEPS) / (MOMENTARY_STEPS * self.step) as f64;
            self.integrated.push(e);
            self.block = Some(energy_to_lufs(e));
        }
        if done >= SHORT_TERM_STEPS as u64 {
            let e = self.last_steps(SHORT_TERM_STEPS) / (SHORT_TERM_STEPS * self.step) as f64;
            self.range.push(e);
        }
    }

    /// Energy of the last `n` completed steps.
    fn last_steps(&self, n: usize) -> f64 {
        (1..=n)
            .map(|k| self.steps[(self.step_pos + SHORT_TERM_STEPS - k) % SHORT_TERM_STEPS])
            .sum()
    }

    /// Energy of the last `n` frames (at most 3 s, and at most the frames added).
    fn last_frames(&self, n: usize) -> f64 {
        let in_step = (self.frames % self.step as u64) as usize;
        if n <= in_step {
            return self.ring_sum(n, n);
        }
        // the step in progress, whole steps, then part of the oldest step
        let whole = (n - in_step) / self.step;
        let rest = (n - in_step) % self.step;
        let mut e = self.acc + self.last_steps(whole);
        if rest > 0 {
            e += self.ring_sum(n, rest);
        }
        e
    }

    /// Energy of `count` frames starting `back` frames before the end.
    fn ring_sum(&self, back: usize, count: usize) -> f64 {
        let len = self.ring.len();
        let start = (self.ring_pos + len - back) % len;
        (0..count)
            .map(|k| self.ring[(start + k) % len] as f64)
            .sum()
    }

    /// Loudness of the 400 ms block completed by the last step, if a step has just
    /// completed one.
    pub fn block_loudness(&self) -> Option<f64> {
        if self.at_step() { self.block } else { None }
    }

    /// Loudness of the last `steps` × 100 ms, if that much audio was added.
    fn window_loudness(&self, steps: usize) -> f64 {
        let n = steps * self.step;
        if self.frames < n as u64 {
            return NO_MEASUREMENT;
        }
        sanitize(energy_to_lufs(self.last_frames(n) / n as f64))
    }

    pub fn reading(&self) -> Reading {
        Reading {
            momentary: self.window_loudness(MOMENTARY_STEPS),
            short_term: self.window_loudness(SHORT_TERM_STEPS),
            integrated: self.integrated.loudness(),
            loudness_range: self.range.range(),
            true_peak: amplitude_to_db(self.true_peak.peak()),
        }
    }

    pub fn reset(&mut self) {
        self.states.fill(KState::default());
        self.frames = 0;
        self.ring.fill(0.0);
        self.ring_pos = 0;
        self.acc = 0.0;
        self.steps = [0.0; SHORT_TERM_STEPS];
        self.step_pos = 0;
        self.block = None;
        self.integrated.reset();
        self.range.reset();
        self.true_peak.reset();
    }
}

/// Anything far below the absolute gate (rounding residue of digital silence) is
/// reported as `-inf` rather than as a huge negative number.
fn sanitize(v: f64) -> f64 {
    if v.is_nan() || v < -200.0 {
        NO_MEASUREMENT
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, channels: usize, freq: f64, dbfs: f64, secs: f64) -> Vec<f32> {
        let n = (rate as f64 * secs) as usize;
        let a = 10f64.powf(dbfs / 20.0);
        let mut v = Vec::with_capacity(n * channels);
        for i in 0..n {
            let s = (a * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin()) as f32;
            for _ in 0..channels {
                v.push(s);
            }
        }
        v
    }

    #[test]
    fn stereo_sine_reads_its_level() {
        let mut m = Meter::new(48000, &[Speaker::Front, Speaker::Front]);
        m.add(&sine(48000, 2, 1000.0, -23.0, 5.0));
        let r = m.reading();
        assert!((r.momentary + 23.0).abs() < 0.1, "{r:?}");
        assert!((r.short_term + 23.0).abs() < 0.1, "{r:?}");
        assert!((r.integrated + 23.0).abs() < 0.1, "{r:?}");
        assert!((r.true_peak + 23.0).abs() < 0.2, "{r:?}");
    }

    #[test]
    fn nothing_measured_is_minus_infinity() {
        let mut m = Meter::new(48000, &[Speaker::Front]);
        let r = m.reading();
        assert_eq!(r.momentary, f64::NEG_INFINITY);
        assert_eq!(r.integrated, f64::NEG_INFINITY);
        assert_eq!(r.true_peak, f64::NEG_INFINITY);
        assert_eq!(r.loudness_range, 0.0);
        // 200 ms of tone: still no full momentary window.
        m.add(&sine(48000, 1, 1000.0, -20.0, 0.2));
        assert_eq!(m.reading().momentary, f64::NEG_INFINITY);
        assert!(m.reading().true_peak > -21.0);
        m.add(&vec![0.0f32; 48000 * 4]);
        assert_eq!(m.reading().momentary, f64::NEG_INFINITY);
    }

    #[test]
    fn lfe_is_ignored_and_surrounds_weighted() {
        let tone = sine(48000, 1, 1000.0, -23.0, 2.0);
        let mut lfe = Meter::new(48000, &[Speaker::Lfe]);
        lfe.add(&tone);
        assert_eq!(lfe.reading().momentary, f64::NEG_INFINITY);
        let mut front = Meter::new(48000, &[Speaker::Front]);
        let mut sur = Meter::new(48000, &[Speaker::Surround]);
        front.add(&tone);
        sur.add(&tone);
        let d = sur.reading().momentary - front.reading().momentary;
        assert!((d - 10.0 * 1.41f64.log10()).abs() < 0.01, "{d}");
        // any channel count goes through the same path
        let mut six = Meter::new(48000, &[Speaker::Front; 3]);
        let three: Vec<f32> = tone.iter().flat_map(|s| [*s, 0.0, 0.0]).collect();
        six.add(&three);
        assert!((six.reading().momentary - front.reading().momentary).abs() < 1e-6);
    }

    #[test]
    fn steps_are_100ms() {
        let mut m = Meter::new(44100, &[Speaker::Front]);
        assert_eq!(m.frames_to_next_step(), 4410);
        m.add(&vec![0i16; 4000]);
        assert_eq!(m.frames_to_next_step(), 410);
        assert!(!m.at_step());
        m.add(&vec![0i16; 410]);
        assert!(m.at_step());
    }

    #[test]
    fn windows_slide_frame_by_frame() {
        // 200 ms of tone after 2 s of silence: the momentary loudness read at any
        // frame is that of the tone's share of the last 400 ms.
        let rate = 8000;
        let mut data = vec![0.0f32; 2 * rate as usize];
        data.extend(sine(rate, 1, 1000.0, -20.0, 0.2));
        data.extend(vec![0.0f32; rate as usize]);
        let mut m = Meter::new(rate, &[Speaker::Front]);
        let mut reference = Meter::new(rate, &[Speaker::Front]);
        reference.add(&sine(rate, 1, 1000.0, -20.0, 1.0));
        let full = reference.reading().momentary;
        let tone_start = 2 * rate as usize;
        for (i, c) in data.chunks(137).enumerate() {
            m.add(c);
            let end = ((i + 1) * 137).min(data.len());
            let window = 3200usize;
            let tone_in = (end.min(tone_start + 1600))
                .saturating_sub(tone_start.max(end.saturating_sub(window)));
            let got = m.reading().momentary;
            if tone_in > 400 && end - tone_start > 200 {
                let want = full + 10.0 * (tone_in as f64 / window as f64).log10();
                assert!((got - want).abs() < 0.15, "at {end}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn nan_and_infinite_samples_do_not_poison_the_meter() {
        let mut m = Meter::new(48000, &[Speaker::Front]);
        m.add(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
        m.add(&sine(48000, 1, 1000.0, -23.0, 1.0));
        // a mono sine peaking at -23 dBFS is -26 LUFS
        assert!(
            (m.reading().momentary + 26.0).abs() < 0.1,
            "{:?}",
            m.reading()
        );
    }

    #[test]
    fn integer_conversions_round_trip() {
        for s in [i16::MIN, -1, 0, 1, i16::MAX] {
            assert_eq!(i16::from_f64(s.to_f64()), s);
        }
        for s in [i32::MIN, -1, 0, 1, i32::MAX] {
            assert_eq!(i32::from_f64(s.to_f64()), s);
        }
        assert_eq!(i16::from_f64(2.0), i16::MAX);
        assert_eq!(i32::from_f64(-2.0), i32::MIN);
    }
}

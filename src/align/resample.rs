// SPDX-License-Identifier: MPL-2.0
//! Band-limited resampling of one input onto the 8 kHz analysis grid: a windowed
//! sinc (Kaiser) evaluated only at the grid's instants, from a table of kernel
//! phases. Cost per input sample is the same at every input rate (about 17
//! multiply-adds), and each output lands exactly at its running time.

use std::f64::consts::PI;

/// Kernel phases per input sample (timing error at most 1/64 input sample).
const PHASES: usize = 32;
/// Kaiser window shape (about 50 dB stop band).
const BETA: f64 = 4.5;
/// Pass band edge (Hz) and transition width (Hz) of the kernel.
const PASS_HZ: f64 = 3400.0;
const TRANSITION_HZ: f64 = 1200.0;

/// `x.floor()` without a libm call (x86-64 without SSE4.1 has no instruction).
#[inline]
fn floor(x: f64) -> i64 {
    let i = x as i64;
    if (i as f64) > x { i - 1 } else { i }
}

fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)) * (x / (2.0 * k));
        sum += term;
        k += 1.0;
    }
    sum
}

/// The resampler of one input at one rate.
#[derive(Debug, Clone)]
pub(crate) struct Resampler {
    /// Input samples per grid sample.
    ratio: f64,
    /// Half length of the kernel: output at input position `x` uses input samples
    /// `floor(x) - half + 1 ..= floor(x) + half`.
    half: i64,
    /// `PHASES + 1` rows of `2 * half` taps.
    table: Vec<f32>,
    /// Input samples of the current run, from absolute input index `base`.
    buf: Vec<f32>,
    base: i64,
    /// Input index `anchor.1` is at grid position `anchor.0`.
    anchor: (f64, i64),
    /// Next input index of the run (one past the last sample received).
    next_index: i64,
    /// Next grid sample to produce.
    next_g: Option<i64>,
}

impl Resampler {
    pub(crate) fn new(rate: u32, grid_rate: u32) -> Self {
        let fs = rate as f64;
        let ratio = fs / grid_rate as f64;
        // Cut between the pass band and the grid's Nyquist frequency, never above
        // the input's own.
        let cutoff = (PASS_HZ + TRANSITION_HZ / 2.0).min(0.45 * fs);
        let taps = ((50.0 - 8.0) / (2.285 * 2.0 * PI * TRANSITION_HZ / fs)).ceil() as i64;
        let half = (taps / 2).max(2);
        let width = 2 * half as usize;
        let mut table = vec![0.0f32; (PHASES + 1) * width];
        let norm = bessel_i0(BETA);
        for p in 0..=PHASES {
            let frac = p as f64 / PHASES as f64;
            let row = &mut table[p * width..(p + 1) * width];
            let mut sum = 0.0;
            let mut vals = vec![0.0f64; width];
            for (j, v) in vals.iter_mut().enumerate() {
                // Distance from the output instant to input sample floor(x) - half + 1 + j.
                let u = (j as i64 - half + 1) as f64 - frac;
                let wc = 2.0 * cutoff / fs;
                let sinc = if u == 0.0 {
                    1.0
                } else {
                    (PI * wc * u).sin() / (PI * wc * u)
                };
                let r = u / half as f64;
                let window = if r.abs() < 1.0 {
                    bessel_i0(BETA * (1.0 - r * r).sqrt()) / norm
                } else {
                    0.0
                };
                *v = sinc * window;
                sum += *v;
            }
            for (o, v) in row.iter_mut().zip(vals) {
                *o = (v / sum) as f32;
            }
        }
        Resampler {
            ratio,
            half,
            table,
            buf: Vec::new(),
            base: 0,
            anchor: (0.0, 0),
            next_index: 0,
            next_g: None,
        }
    }

    /// Grid position of the sample after the last one received (None before any).
    pub(crate) fn expected(&self) -> Option<f64> {
        self.next_g
            .map(|_| self.anchor.0 + (self.next_index - self.anchor.1) as f64 / self.ratio)
    }

    /// Ends the current run (a hole follows): what cannot be computed is dropped.
    pub(crate) fn restart(&mut self) {
        self.buf.clear();
        self.next_g = None;
    }

    /// Adds a chunk whose first sample is at grid position `t0`, continuing the
    /// current run (the caller decides what is a hole), and calls `out(g, value)`
    /// for every grid sample that can now be computed, in order.
    pub(crate) fn push(&mut self, t0: f64, samples: &[f32], mut out: impl FnMut(i64, f32)) {
        if self.next_g.is_none() {
            self.buf.clear();
            self.base = 0;
            self.next_index = 0;
            // The first grid sample whose kernel lies entirely within this run.
            let first = t0 + (self.half - 1) as f64 / self.ratio;
            self.next_g = Some(first.ceil() as i64);
        }
        // Re-anchor on this chunk's timestamp: small jitter is absorbed here.
        self.anchor = (t0, self.next_index);
        self.buf
            .extend(samples.iter().map(|&v| if v.is_finite() { v } else { 0.0 }));
        self.next_index += samples.len() as i64;
        let width = 2 * self.half as usize;
        let Some(mut g) = self.next_g else {
            return;
        };
        loop {
            let x = self.anchor.1 as f64 + (g as f64 - self.anchor.0) * self.ratio;
            let i0 = floor(x);
            if i0 + self.half >= self.next_index {
                break;
            }
            let start = i0 - self.half + 1 - self.base;
            if start >= 0 {
                // Nearest phase (x - i0 is in [0, 1)).
                let phase = ((x - i0 as f64) * PHASES as f64 + 0.5) as usize;
                let row = &self.table[phase * width..(phase + 1) * width];
                let v =
                    super::correlate::dot(row, &self.buf[start as usize..start as usize + width]);
                out(g, v);
            }
            g += 1;
        }
        self.next_g = Some(g);
        // Keep what the next output still needs.
        let x = self.anchor.1 as f64 + (g as f64 - self.anchor.0) * self.ratio;
        let keep_from = (floor(x) - self.half + 1 - self.base).clamp(0, self.buf.len() as i64);
        if keep_from > 4096 {
            self.buf.drain(..keep_from as usize);
            self.base += keep_from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, n: usize, phase_s: f64) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * PI * freq * (i as f64 / rate as f64 + phase_s)).sin() as f32)
            .collect()
    }

    /// Resamples a sine and compares each output with the sine at its instant.
    fn max_error(freq: f64, rate: u32, chunk: usize) -> (f64, usize) {
        let mut r = Resampler::new(rate, 8000);
        let x = sine(freq, rate, rate as usize / 2, 0.0);
        let mut err: f64 = 0.0;
        let mut n = 0;
        for (k, c) in x.chunks(chunk).enumerate() {
            let t0 = (k * chunk) as f64 * 8000.0 / rate as f64;
            r.push(t0, c, |g, v| {
                let want = (2.0 * PI * freq * g as f64 / 8000.0).sin();
                err = err.max((v as f64 - want).abs());
                n += 1;
            });
        }
        (err, n)
    }

    #[test]
    fn pass_band_is_kept_at_the_right_instants() {
        for rate in [8000, 16000, 22050, 44100, 48000, 96000] {
            for freq in [200.0, 1000.0, 2500.0] {
                let (err, n) = max_error(freq, rate, 333);
                assert!(n > 3900, "{rate}: {n} outputs");
                assert!(err < 0.02, "{rate} Hz, {freq} Hz: error {err}");
            }
        }
    }

    #[test]
    fn above_the_grid_nyquist_is_removed() {
        for rate in [44100, 48000] {
            let mut r = Resampler::new(rate, 8000);
            let x = sine(5500.0, rate, rate as usize / 2, 0.0);
            let mut peak: f32 = 0.0;
            r.push(0.0, &x, |_, v| peak = peak.max(v.abs()));
            assert!(peak < 0.01, "{rate}: alias at {peak}");
        }
    }
}

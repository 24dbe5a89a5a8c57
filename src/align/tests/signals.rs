// SPDX-License-Identifier: MPL-2.0
//! Synthetic programmes for the estimator's tests: noise, music-like notes and
//! speech-like bursts, all deterministic (seeded).

use std::f64::consts::PI;

use crate::align::filters::Biquad;

/// A small deterministic generator (xorshift64*).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
}

/// White noise at -10 dBFS RMS.
pub(crate) fn noise(seed: u64, rate: u32, seconds: f64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let n = (seconds * rate as f64) as usize;
    (0..n)
        .map(|_| (rng.range(-1.0, 1.0) * 0.55) as f32)
        .collect()
}

/// Adds a sine of `freq` Hz from sample `start` for `len` samples, shaped by
/// `env(t)` (t in seconds from the note's start).
fn add_tone(
    out: &mut [f32],
    rate: f64,
    start: usize,
    len: usize,
    freq: f64,
    env: impl Fn(f64) -> f64,
) {
    let (mut re, mut im) = (1.0f64, 0.0f64);
    let (c, s) = (
        (2.0 * PI * freq / rate).cos(),
        (2.0 * PI * freq / rate).sin(),
    );
    for i in 0..len {
        let Some(o) = out.get_mut(start + i) else {
            break;
        };
        *o += (im * env(i as f64 / rate)) as f32;
        (re, im) = (re * c - im * s, re * s + im * c);
    }
}

/// Music-like: a melody of plucked notes with harmonics on a pentatonic scale at
/// irregular note lengths, a bass line and a soft chord.
pub(crate) fn music(seed: u64, rate: u32, seconds: f64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let r = rate as f64;
    let n = (seconds * r) as usize;
    let mut out = vec![0.0f32; n];
    let scale = [0.0, 2.0, 4.0, 7.0, 9.0, 12.0, 14.0, 16.0, 19.0, 21.0];
    let mut t = 0.0;
    while t < seconds {
        let dur = rng.pick(&[0.125, 0.25, 0.25, 0.375, 0.5]);
        let f0 = 220.0 * 2f64.powf(rng.pick(&scale) / 12.0);
        let amp = rng.range(0.12, 0.25);
        let len = ((dur + 0.3) * r) as usize;
        for k in 1..=4 {
            let a = amp / k as f64;
            add_tone(&mut out, r, (t * r) as usize, len, f0 * k as f64, |x| {
                a * (x / 0.005).min(1.0) * (-x * (3.0 + k as f64)).exp()
            });
        }
        t += dur;
    }
    let mut t = 0.0;
    while t < seconds {
        let dur = rng.pick(&[1.0, 1.0, 2.0]);
        let f = 55.0 * 2f64.powf(rng.pick(&scale[..6]) / 12.0);
        add_tone(&mut out, r, (t * r) as usize, (dur * r) as usize, f, |x| {
            0.18 * (x / 0.02).min(1.0) * (-x * 0.5).exp() * ((dur - x) / 0.02).clamp(0.0, 1.0)
        });
        t += dur;
    }
    add_tone(&mut out, r, 0, n, 330.0, |x| {
        0.04 * (0.6 + 0.4 * (2.0 * PI * 0.2 * x).sin())
    });
    out
}

/// Speech-like: syllables of voiced sound (a pulse train through two formant
/// resonators) and unvoiced hiss, separated by short gaps and pauses.
pub(crate) fn speech(seed: u64, rate: u32, seconds: f64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let r = rate as f64;
    let n = (seconds * r) as usize;
    let mut out = vec![0.0f32; n];
    let mut t = rng.range(0.0, 0.2);
    while t < seconds {
        let dur = rng.range(0.08, 0.3);
        let start = (t * r) as usize;
        let len = (dur * r) as usize;
        let voiced = rng.unit() < 0.75;
        let mut f1 = Biquad::band_pass(rng.range(300.0, 800.0), r, 5.0);
        let mut f2 = Biquad::band_pass(rng.range(900.0, 2500.0), r, 8.0);
        let mut hiss = Biquad::band_pass(rng.range(2500.0, 3500.0), r, 2.0);
        let f0 = rng.range(90.0, 200.0);
        let glide = rng.range(-0.3, 0.3);
        let amp = rng.range(0.3, 0.8);
        let mut phase = 0.0f64;
        for i in 0..len {
            let Some(o) = out.get_mut(start + i) else {
                break;
            };
            let x = i as f64 / len as f64;
            let env = (PI * x).sin().powi(2) * amp;
            let source = if voiced {
                phase += f0 * (1.0 + glide * x) / r;
                if phase >= 1.0 {
                    phase -= 1.0;
                    4.0
                } else {
                    0.0
                }
            } else {
                rng.range(-1.0, 1.0)
            };
            let v = if voiced {
                f1.process(source) + 0.5 * f2.process(source)
            } else {
                hiss.process(source)
            };
            *o = (v * env) as f32;
        }
        t += dur
            + if rng.unit() < 0.15 {
                rng.range(0.3, 0.6)
            } else {
                rng.range(0.03, 0.15)
            };
    }
    out
}

/// A steady sine: no envelope to align.
pub(crate) fn tone(rate: u32, seconds: f64) -> Vec<f32> {
    let n = (seconds * rate as f64) as usize;
    (0..n)
        .map(|i| (0.3 * (2.0 * PI * 440.0 * i as f64 / rate as f64).sin()) as f32)
        .collect()
}

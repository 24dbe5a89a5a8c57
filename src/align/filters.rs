// SPDX-License-Identifier: MPL-2.0
//! Second-order IIR sections (RBJ audio-EQ cookbook designs) for the alignment
//! front end.

use std::f64::consts::PI;

/// One biquad section in transposed direct form II, computed in f64 (a 3.4 kHz
/// low-pass at 192 kHz needs the precision).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Biquad {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
    z1: f64,
    z2: f64,
}

impl Biquad {
    fn from_coefficients(b: [f64; 3], a: [f64; 3]) -> Self {
        Biquad {
            b0: b[0] / a[0],
            b1: b[1] / a[0],
            b2: b[2] / a[0],
            a1: a[1] / a[0],
            a2: a[2] / a[0],
            z1: 0.0,
            z2: 0.0,
        }
    }

    fn omega(freq: f64, rate: f64, q: f64) -> (f64, f64) {
        let w0 = 2.0 * PI * (freq / rate).clamp(1e-6, 0.499);
        (w0.cos(), w0.sin() / (2.0 * q))
    }

    /// High-pass at `freq` Hz.
    pub(crate) fn high_pass(freq: f64, rate: f64, q: f64) -> Self {
        let (cos, alpha) = Self::omega(freq, rate, q);
        let b1 = 1.0 + cos;
        Self::from_coefficients(
            [b1 / 2.0, -b1, b1 / 2.0],
            [1.0 + alpha, -2.0 * cos, 1.0 - alpha],
        )
    }

    /// Band-pass around `freq` Hz with unit gain at the centre.
    pub(crate) fn band_pass(freq: f64, rate: f64, q: f64) -> Self {
        let (cos, alpha) = Self::omega(freq, rate, q);
        Self::from_coefficients([alpha, 0.0, -alpha], [1.0 + alpha, -2.0 * cos, 1.0 - alpha])
    }

    /// (b0, a1, a2) of a band-pass section, whose b1 is 0 and b2 is -b0.
    pub(crate) fn band_pass_coefficients(&self) -> (f64, f64, f64) {
        (self.b0, self.a1, self.a2)
    }

    #[inline]
    pub(crate) fn process(&mut self, x: f64) -> f64 {
        let y = self.b0 * x + self.z1;
        self.z1 = self.b1 * x - self.a1 * y + self.z2;
        self.z2 = self.b2 * x - self.a2 * y;
        y
    }

    pub(crate) fn reset(&mut self) {
        self.z1 = 0.0;
        self.z2 = 0.0;
    }
}

/// Q of the two sections of a 4th-order Butterworth filter.
pub(crate) const BUTTERWORTH4_Q: [f64; 2] = [0.541_196_1, 1.306_563];

#[cfg(test)]
mod tests {
    use super::*;

    fn gain(mut f: impl FnMut(f64) -> f64, freq: f64, rate: f64) -> f64 {
        let n = rate as usize;
        let mut peak: f64 = 0.0;
        for i in 0..n {
            let y = f((2.0 * PI * freq * i as f64 / rate).sin());
            if i > n / 2 {
                peak = peak.max(y.abs());
            }
        }
        peak
    }

    #[test]
    fn band_pass_peaks_at_its_centre() {
        let mut b = Biquad::band_pass(1000.0, 8000.0, 1.0);
        assert!((gain(|x| b.process(x), 1000.0, 8000.0) - 1.0).abs() < 0.01);
        let mut b = Biquad::band_pass(1000.0, 8000.0, 1.0);
        assert!(gain(|x| b.process(x), 100.0, 8000.0) < 0.15);
        let mut h = Biquad::high_pass(300.0, 8000.0, 0.707);
        assert!(gain(|x| h.process(x), 30.0, 8000.0) < 0.02);
    }
}

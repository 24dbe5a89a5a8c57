// SPDX-License-Identifier: MPL-2.0
//! The K-weighting filter of ITU-R BS.1770-4: a high shelf (+4 dB above about
//! 1.7 kHz, the head's acoustic effect) followed by the RLB high-pass (about
//! 38 Hz). No GStreamer types here.
//!
//! BS.1770 gives the coefficients at 48 kHz; here both stages are designed from
//! their analogue prototypes (centre frequency, gain, Q) with the bilinear
//! transform for any sample rate, which reproduces the published 48 kHz values.
//! Both run in direct form I in `f64`; the high-pass's input history is the
//! shelf's output history, so six numbers per channel are the whole state.

use std::f64::consts::PI;

/// Shelf: centre frequency (Hz), gain (dB), Q.
const SHELF_F0: f64 = 1681.974450955533;
const SHELF_GAIN_DB: f64 = 3.999843853973347;
const SHELF_Q: f64 = 0.7071752369554196;
/// Exponent giving the shelf's mid-band gain from its high-frequency gain.
const SHELF_VB_EXP: f64 = 0.4996667741545416;
/// High-pass: centre frequency (Hz), Q.
const HIGHPASS_F0: f64 = 38.13547087602444;
const HIGHPASS_Q: f64 = 0.5003270373238773;

/// Coefficients of both stages at one sample rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KWeighting {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
    /// High-pass denominator; its numerator is 1, -2, 1.
    c1: f64,
    c2: f64,
}

/// One channel's filter state.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KState {
    x1: f64,
    x2: f64,
    y1: f64,
    y2: f64,
    z1: f64,
    z2: f64,
}

impl KState {
    /// Sets values too small to matter to zero, so that a long silence does not
    /// leave the recursion computing on subnormal numbers (which are slow).
    pub fn flush_tiny(&mut self) {
        for v in [
            &mut self.x1,
            &mut self.x2,
            &mut self.y1,
            &mut self.y2,
            &mut self.z1,
            &mut self.z2,
        ] {
            if v.abs() < 1e-25 {
                *v = 0.0;
            }
        }
    }
}

impl KWeighting {
    pub fn new(rate: u32) -> Self {
        let rate = rate.max(1) as f64;
        let k = (PI * SHELF_F0 / rate).tan();
        let vh = 10f64.powf(SHELF_GAIN_DB / 20.0);
        let vb = vh.powf(SHELF_VB_EXP);
        let a0 = 1.0 + k / SHELF_Q + k * k;
        let k2 = (PI * HIGHPASS_F0 / rate).tan();
        let h0 = 1.0 + k2 / HIGHPASS_Q + k2 * k2;
        KWeighting {
            b0: (vh + vb * k / SHELF_Q + k * k) / a0,
            b1: 2.0 * (k * k - vh) / a0,
            b2: (vh - vb * k / SHELF_Q + k * k) / a0,
            a1: 2.0 * (k * k - 1.0) / a0,
            a2: (1.0 - k / SHELF_Q + k * k) / a0,
            c1: 2.0 * (k2 * k2 - 1.0) / h0,
            c2: (1.0 - k2 / HIGHPASS_Q + k2 * k2) / h0,
        }
    }

    /// Filters one sample of one channel.
    #[inline(always)]
    pub fn run(&self, s: &mut KState, x: f64) -> f64 {
        // The terms not depending on the last output first, so the recursion's
        // critical path is one multiply and one subtraction per stage.
        let fx = self.b0 * x + self.b1 * s.x1 + self.b2 * s.x2 - self.a2 * s.y2;
        let y = fx - self.a1 * s.y1;
        let fy = (y - 2.0 * s.y1 + s.y2) - self.c2 * s.z2;
        let z = fy - self.c1 * s.z1;
        s.x2 = s.x1;
        s.x1 = x;
        s.y2 = s.y1;
        s.y1 = y;
        s.z2 = s.z1;
        s.z1 = z;
        z
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_bs1770_coefficients_at_48k() {
        let k = KWeighting::new(48000);
        let near = |a: f64, b: f64| assert!((a - b).abs() < 1e-8, "{a} vs {b}");
        near(k.b0, 1.53512485958697);
        near(k.b1, -2.69169618940638);
        near(k.b2, 1.19839281085285);
        near(k.a1, -1.69065929318241);
        near(k.a2, 0.73248077421585);
        near(k.c1, -1.99004745483398);
        near(k.c2, 0.99007225036621);
    }

    /// Gain in dB of the filter on a sine of `freq` at `rate`, after settling.
    fn gain_db(rate: u32, freq: f64) -> f64 {
        let k = KWeighting::new(rate);
        let mut s = KState::default();
        let n = rate as usize * 2;
        let mut e_in = 0.0;
        let mut e_out = 0.0;
        for i in 0..n {
            let x = (2.0 * PI * freq * i as f64 / rate as f64).sin();
            let y = k.run(&mut s, x);
            if i >= n / 2 {
                e_in += x * x;
                e_out += y * y;
            }
        }
        10.0 * (e_out / e_in).log10()
    }

    #[test]
    fn response_is_the_same_at_every_rate() {
        let high = gain_db(48000, 3000.0);
        assert!(high > 3.0 && high < 4.0, "{high}");
        for rate in [8000, 44100, 48000, 96000, 192000] {
            // +0.691 dB at 1 kHz (what the -0.691 in the loudness formula undoes;
            // within 0.02 dB at other rates, where the bilinear transform bends
            // the shelf a little differently),
            // the shelf high up (the same as at 48 kHz, away from 8 kHz's Nyquist
            // frequency), strongly cut at 10 Hz.
            let g = gain_db(rate, 1000.0);
            assert!((g - 0.691).abs() < 0.025, "{rate}: {g}");
            if rate > 8000 {
                assert!((gain_db(rate, 3000.0) - high).abs() < 0.1, "{rate}");
            }
            assert!(gain_db(rate, 10.0) < -20.0, "{rate}");
        }
    }

    #[test]
    fn silence_flushes_to_zero() {
        let k = KWeighting::new(48000);
        let mut s = KState::default();
        k.run(&mut s, 1.0);
        for _ in 0..48000 * 10 {
            k.run(&mut s, 0.0);
        }
        s.flush_tiny();
        assert_eq!(s, KState::default());
    }
}

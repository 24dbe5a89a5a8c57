// SPDX-License-Identifier: MPL-2.0
//! Look-ahead true-peak limiter with oversampled peak detection.
//!
//! No GStreamer types here.
//!
//! Each input frame is interpolated (4x below 96 kHz, 2x below 192 kHz) to find
//! the peaks between samples. The gain needed at each step is held for the
//! look-ahead (sliding minimum), released exponentially and then smoothed with a
//! moving average over the attack time. The audio is delayed by exactly
//! [`Limiter::delay_frames`] frames so that the gain has reached its value by the
//! time the peak is output: the moving average of values that are all at or below
//! the needed gain is itself at or below it.

use super::true_peak::oversampling;
use std::collections::VecDeque;

/// Attack (look-ahead) time in seconds.
pub const ATTACK_SECONDS: f64 = 0.002;
/// Release time constant in seconds.
pub const RELEASE_SECONDS: f64 = 0.15;
/// Length of the interpolation filter at the oversampled rate.
const FILTER_LEN: usize = 48;
/// Extra steps on each side of the detector's delay, for the interpolation
/// filter's spread.
const SLACK: usize = 2;

/// Frames by which the limiter delays the audio at `rate`.
pub fn delay_frames(rate: u32) -> usize {
    let attack = attack_frames(rate);
    attack + detector_delay(oversampling(rate)) + SLACK
}

fn attack_frames(rate: u32) -> usize {
    ((rate as f64 * ATTACK_SECONDS).round() as usize).max(1)
}

fn detector_delay(factor: usize) -> usize {
    if factor == 1 {
        0
    } else {
        // centre of the filter, in input frames
        FILTER_LEN / 2 / factor
    }
}

/// Polyphase interpolator that reports the largest absolute value on and
/// between the samples of all channels.
#[derive(Debug, Clone)]
struct PeakDetector {
    factor: usize,
    channels: usize,
    /// Taps per phase.
    taps: usize,
    /// `factor` phases of `taps` coefficients.
    coeffs: Vec<f64>,
    /// Per channel, the last `taps` samples twice (so a window is contiguous).
    history: Vec<f64>,
    pos: usize,
    /// Largest sum of absolute coefficients of a phase: no interpolated value
    /// can exceed the window's largest sample by more than this factor.
    gain_bound: f64,
    /// Largest absolute sample of each of the last `taps` frames, and their max.
    frame_peaks: Vec<f64>,
    window_peak: f64,
}

impl PeakDetector {
    fn new(factor: usize, channels: usize) -> Self {
        let taps = FILTER_LEN / factor;
        // Hann-windowed sinc with its centre on a tap, so that phase 0 returns
        // the sample itself and the other phases the points between samples.
        let centre = (FILTER_LEN / 2) as f64;
        let mut coeffs = vec![0.0; FILTER_LEN];
        for p in 0..factor {
            for j in 0..taps {
                let k = p + j * factor;
                let m = k as f64 - centre;
                let w =
                    0.5 * (1.0 - (2.0 * std::f64::consts::PI * k as f64 / FILTER_LEN as f64).cos());
                let x = std::f64::consts::PI * m / factor as f64;
                let sinc = if m == 0.0 { 1.0 } else { x.sin() / x };
                coeffs[p * taps + j] = w * sinc;
            }
        }
        let gain_bound = coeffs
            .chunks_exact(taps)
            .map(|h| h.iter().map(|c| c.abs()).sum::<f64>())
            .fold(1.0, f64::max);
        PeakDetector {
            factor,
            channels,
            taps,
            coeffs,
            history: vec![0.0; channels * taps * 2],
            pos: 0,
            gain_bound,
            frame_peaks: vec![0.0; taps],
            window_peak: 0.0,
        }
    }

    fn reset(&mut self) {
        self.history.fill(0.0);
        self.pos = 0;
        self.frame_peaks.fill(0.0);
        self.window_peak = 0.0;
    }

    /// Push one frame; returns the peak of the interpolated signal around the
    /// frame pushed `detector_delay` steps ago, or, when that cannot exceed
    /// `ceiling`, a bound of it that does not exceed `ceiling` either.
    #[inline]
    fn push(&mut self, frame: &[f64], ceiling: f64) -> f64 {
        let frame_peak = frame.iter().fold(0.0f64, |m, s| m.max(s.abs()));
        if self.factor == 1 {
            return frame_peak;
        }
        let taps = self.taps;
        // history window for a channel: newest sample first, at index pos.
        self.pos = if self.pos == 0 {
            taps - 1
        } else {
            self.pos - 1
        };
        for (c, s) in frame.iter().enumerate().take(self.channels) {
            let base = c * taps * 2;
            self.history[base + self.pos] = *s;
            self.history[base + self.pos + taps] = *s;
        }
        // Largest sample in the filter's window, kept up to date cheaply.
        let leaving = std::mem::replace(&mut self.frame_peaks[self.pos], frame_peak);
        if frame_peak >= self.window_peak {
            self.window_peak = frame_peak;
        } else if leaving >= self.window_peak {
            self.window_peak = self.frame_peaks.iter().fold(0.0, |m, v| m.max(*v));
        }
        let bound = self.window_peak * self.gain_bound;
        if bound <= ceiling {
            return bound;
        }
        let mut peak = 0.0f64;
        for c in 0..self.channels {
            let base = c * taps * 2;
            let win = &self.history[base + self.pos..base + self.pos + taps];
            for h in self.coeffs.chunks_exact(taps) {
                let v: f64 = h.iter().zip(win).map(|(a, b)| a * b).sum();
                peak = peak.max(v.abs());
            }
        }
        peak
    }
}

#[derive(Debug, Clone)]
pub struct Limiter {
    channels: usize,
    threshold: f64,
    detector: PeakDetector,
    hold: usize,
    delay: usize,
    /// Delay line, `delay` frames.
    line: Vec<f64>,
    line_pos: usize,
    /// Sliding minimum of the needed gain: (step, gain).
    minq: VecDeque<(u64, f64)>,
    step: u64,
    env: f64,
    release: f64,
    /// Moving average of the reduction (1 - envelope) over `attack + 1` steps.
    avg: Vec<f64>,
    avg_pos: usize,
    avg_sum: f64,
    avg_nonzero: usize,
}

impl Limiter {
    /// `threshold_db`: ceiling for the true peak in dBTP.
    pub fn new(rate: u32, channels: usize, threshold_db: f64) -> Self {
        let channels = channels.max(1);
        let factor = oversampling(rate);
        let attack = attack_frames(rate);
        let delay = delay_frames(rate);
        let release = 1.0 - (-1.0 / (RELEASE_SECONDS * rate.max(1) as f64)).exp();
        Limiter {
            channels,
            threshold: 10f64.powf(threshold_db / 20.0),
            detector: PeakDetector::new(factor, channels),
            hold: attack + 2 * SLACK,
            delay,
            line: vec![0.0; delay * channels],
            line_pos: 0,
            minq: VecDeque::with_capacity(attack + 2 * SLACK + 2),
            step: 0,
            env: 1.0,
            release,
            avg: vec![0.0; attack + 1],
            avg_pos: 0,
            avg_sum: 0.0,
            avg_nonzero: 0,
        }
    }

    pub fn delay_frames(&self) -> usize {
        self.delay
    }

    pub fn set_threshold_db(&mut self, db: f64) {
        self.threshold = 10f64.powf(db / 20.0);
    }

    pub fn reset(&mut self) {
        self.detector.reset();
        self.line.fill(0.0);
        self.line_pos = 0;
        self.minq.clear();
        self.step = 0;
        self.env = 1.0;
        self.avg.fill(0.0);
        self.avg_pos = 0;
        self.avg_sum = 0.0;
        self.avg_nonzero = 0;
    }

    /// Process interleaved frames in place: each frame is replaced by the frame
    /// `delay_frames()` earlier, limited. With `bypass` the delayed frames come out
    /// exactly as they went in (the detector keeps running, so switching back is
    /// seamless).
    pub fn process(&mut self, data: &mut [f64], bypass: bool) {
        let ch = self.channels;
        let width = self.avg.len() as f64;
        for frame in data.chunks_exact_mut(ch) {
            let peak = self.detector.push(frame, self.threshold);
            let need = if peak > self.threshold {
                self.threshold / peak
            } else {
                1.0
            };

            // sliding minimum over the last `hold + 1` steps
            while let Some(&(_, v)) = self.minq.back() {
                if v >= need {
                    self.minq.pop_back();
                } else {
                    break;
                }
            }
            self.minq.push_back((self.step, need));
            while let Some(&(s, _)) = self.minq.front() {
                if s + (self.hold as u64) < self.step {
                    self.minq.pop_front();
                } else {
                    break;
                }
            }
            let held = self.minq.front().map(|&(_, v)| v).unwrap_or(1.0);

            let mut env = self.env + (1.0 - self.env) * self.release;
            if 1.0 - env < 1e-6 {
                env = 1.0;
            }
            env = env.min(held);
            self.env = env;

            let red = 1.0 - env;
            let old = std::mem::replace(&mut self.avg[self.avg_pos], red);
            self.avg_pos = (self.avg_pos + 1) % self.avg.len();
            if old != 0.0 {
                self.avg_nonzero -= 1;
            }
            if red != 0.0 {
                self.avg_nonzero += 1;
            }
            if self.avg_nonzero == 0 {
                self.avg_sum = 0.0;
            } else {
                self.avg_sum += red - old;
            }
            if self.avg_pos == 0 && self.avg_nonzero != 0 {
                self.avg_sum = self.avg.iter().sum();
            }
            let gain = (1.0 - self.avg_sum / width).clamp(0.0, 1.0);

            let line = &mut self.line[self.line_pos * ch..(self.line_pos + 1) * ch];
            for (s, d) in frame.iter_mut().zip(line.iter_mut()) {
                let out = if bypass || gain == 1.0 { *d } else { *d * gain };
                *d = *s;
                *s = out;
            }
            self.line_pos += 1;
            if self.line_pos == self.delay {
                self.line_pos = 0;
            }
            self.step += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebur128::{EbuR128, Mode};

    fn true_peak_db(rate: u32, channels: usize, data: &[f64]) -> f64 {
        let mut e = EbuR128::new(channels as u32, rate, Mode::TRUE_PEAK).unwrap();
        e.add_frames_f64(data).unwrap();
        let p = (0..channels as u32)
            .map(|c| e.true_peak(c).unwrap())
            .fold(0.0, f64::max);
        20.0 * p.log10()
    }

    /// Deterministic noise, tones and clicks: hard material for a limiter.
    fn programme(rate: u32, channels: usize, secs: f64, amp: f64) -> Vec<f64> {
        let n = (rate as f64 * secs) as usize;
        let mut x: u32 = 12345;
        let mut v = Vec::with_capacity(n * channels);
        for i in 0..n {
            let t = i as f64 / rate as f64;
            for c in 0..channels {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                let noise = (x >> 8) as f64 / (1u32 << 24) as f64 * 2.0 - 1.0;
                let tone = (2.0 * std::f64::consts::PI * (rate as f64 / 4.1) * t + c as f64).sin();
                let click = if i % 4800 == 0 { 3.0 } else { 0.0 };
                v.push(amp * (0.4 * noise + 0.5 * tone + click));
            }
        }
        v
    }

    #[test]
    fn detector_shortcut_never_hides_a_peak_over_the_ceiling() {
        let sig = programme(48000, 2, 0.5, 0.6);
        let mut exact = PeakDetector::new(4, 2);
        let mut quick = PeakDetector::new(4, 2);
        let ceiling = 0.8;
        let mut over = 0;
        for f in sig.chunks_exact(2) {
            let e = exact.push(f, 0.0);
            let q = quick.push(f, ceiling);
            if e > ceiling {
                assert_eq!(q, e);
                over += 1;
            } else {
                assert!(q <= ceiling && q >= e, "{q} vs {e}");
            }
        }
        assert!(over > 0);
    }

    #[test]
    fn delay_is_as_reported() {
        assert_eq!(delay_frames(48000), 96 + 6 + 2);
        assert_eq!(delay_frames(96000), 192 + 12 + 2);
        assert_eq!(delay_frames(8000), 16 + 6 + 2);
        assert_eq!(delay_frames(192000), 384 + 2);
        let mut l = Limiter::new(48000, 1, -1.0);
        let mut v = vec![0.0; 1000];
        v[10] = 0.5;
        l.process(&mut v, false);
        assert_eq!(v[10 + l.delay_frames()], 0.5);
        assert_eq!(v.iter().filter(|s| **s != 0.0).count(), 1);
    }

    #[test]
    fn quiet_audio_passes_bit_exact() {
        let rate = 48000;
        let input = programme(rate, 2, 1.0, 0.2);
        let mut out = input.clone();
        let mut l = Limiter::new(rate, 2, -1.0);
        l.process(&mut out, false);
        let d = l.delay_frames() * 2;
        assert_eq!(&out[d..], &input[..input.len() - d]);
    }

    #[test]
    fn loud_audio_stays_under_the_ceiling() {
        for rate in [8000, 44100, 48000, 96000, 192000] {
            for limit in [-1.0, -6.0] {
                let mut v = programme(rate, 2, 1.0, 4.0);
                assert!(true_peak_db(rate, 2, &v) > 10.0);
                let mut l = Limiter::new(rate, 2, limit);
                l.process(&mut v, false);
                let tp = true_peak_db(rate, 2, &v);
                assert!(tp <= limit + 0.2, "rate {rate} limit {limit}: {tp} dBTP");
            }
        }
    }

    #[test]
    fn bypass_is_exact_and_reset_restarts() {
        let rate = 44100;
        let input = programme(rate, 1, 0.5, 4.0);
        let mut out = input.clone();
        let mut l = Limiter::new(rate, 1, -1.0);
        l.process(&mut out, true);
        let d = l.delay_frames();
        assert_eq!(&out[d..], &input[..input.len() - d]);
        l.reset();
        let mut z = vec![0.0; d];
        l.process(&mut z, true);
        assert!(z.iter().all(|s| *s == 0.0));
    }

    #[test]
    fn gain_recovers_after_a_peak() {
        let rate = 48000;
        let mut v = vec![0.1; rate as usize * 3];
        v[1000] = 2.0;
        let mut l = Limiter::new(rate, 1, -1.0);
        l.process(&mut v, false);
        // long after the click, the gain is back to unity
        assert_eq!(*v.last().unwrap(), 0.1);
        // at the click it is reduced
        let out = v[1000 + l.delay_frames()];
        assert!(out <= 10f64.powf(-1.0 / 20.0) + 1e-9, "{out}");
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Per-channel level measurement of interleaved raw audio (no GStreamer types).
//!
//! Samples are normalised to full scale (1.0 = 0 dBFS) and summed per channel: the
//! sum of squares gives the RMS level, the largest magnitude the peak level.

/// Lowest level ever reported, in dBFS. Digital silence (all zero samples) and an
/// empty measurement are reported at this floor instead of `-inf`, so the value
/// survives serialisation (JSON, `gst-launch-1.0 -m`, Python) unchanged.
pub const MIN_DB: f64 = -200.0;

use crate::sample_format::SampleFormat;

/// Layout of interleaved audio to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLayout {
    pub kind: SampleFormat,
    pub big_endian: bool,
    pub channels: usize,
    pub rate: u32,
}

impl AudioLayout {
    pub fn bytes_per_frame(&self) -> usize {
        self.kind.width() * self.channels
    }
}

/// Accumulated per-channel level of a stretch of audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    sumsq: Vec<f64>,
    peak: Vec<f64>,
    frames: u64,
}

impl Level {
    pub fn new(channels: usize) -> Self {
        Level {
            sumsq: vec![0.0; channels],
            peak: vec![0.0; channels],
            frames: 0,
        }
    }

    pub fn channels(&self) -> usize {
        self.sumsq.len()
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    pub fn reset(&mut self) {
        self.sumsq.iter_mut().for_each(|v| *v = 0.0);
        self.peak.iter_mut().for_each(|v| *v = 0.0);
        self.frames = 0;
    }

    /// Adds another measurement with the same channel count to this one.
    pub fn merge(&mut self, other: &Level) {
        for (a, b) in self.sumsq.iter_mut().zip(&other.sumsq) {
            *a += *b;
        }
        for (a, b) in self.peak.iter_mut().zip(&other.peak) {
            *a = a.max(*b);
        }
        self.frames += other.frames;
    }

    /// Mean square per channel (0 when nothing was measured).
    pub fn mean_square(&self, channel: usize) -> f64 {
        if self.frames == 0 {
            return 0.0;
        }
        self.sumsq.get(channel).copied().unwrap_or(0.0) / self.frames as f64
    }

    /// The largest mean square over all channels: the level of the loudest channel.
    pub fn loudest_mean_square(&self) -> f64 {
        (0..self.channels())
            .map(|c| self.mean_square(c))
            .fold(0.0, f64::max)
    }

    /// RMS level per channel in dBFS (a full-scale square wave is 0 dBFS).
    pub fn rms_db(&self) -> Vec<f64> {
        (0..self.channels())
            .map(|c| power_to_db(self.mean_square(c)))
            .collect()
    }

    /// Peak level per channel in dBFS.
    pub fn peak_db(&self) -> Vec<f64> {
        self.peak.iter().map(|&p| amplitude_to_db(p)).collect()
    }

    /// Adds `frames` frames of digital silence (a GAP in the stream).
    pub fn add_silence(&mut self, frames: u64) {
        self.frames = self.frames.saturating_add(frames);
    }

    /// Measures `data` (whole frames of `layout`; a trailing partial frame is
    /// ignored) and adds it to this level.
    pub fn add(&mut self, layout: &AudioLayout, data: &[u8]) {
        let channels = self.channels();
        if channels == 0 || layout.channels != channels {
            return;
        }
        let bpf = layout.bytes_per_frame();
        let whole = data.len() - data.len() % bpf;
        let data = &data[..whole];
        // Float samples may be NaN or infinite; they count as 0 so they cannot
        // poison the sums. Integer samples are always finite.
        let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
        match (layout.kind, layout.big_endian) {
            (SampleFormat::S16, false) => {
                self.accumulate::<2>(data, |b| f64::from(i16::from_le_bytes(b)) / 32768.0)
            }
            (SampleFormat::S16, true) => {
                self.accumulate::<2>(data, |b| f64::from(i16::from_be_bytes(b)) / 32768.0)
            }
            (SampleFormat::S32, false) => {
                self.accumulate::<4>(data, |b| f64::from(i32::from_le_bytes(b)) / 2_147_483_648.0)
            }
            (SampleFormat::S32, true) => {
                self.accumulate::<4>(data, |b| f64::from(i32::from_be_bytes(b)) / 2_147_483_648.0)
            }
            (SampleFormat::F32, false) => {
                self.accumulate::<4>(data, |b| finite(f64::from(f32::from_le_bytes(b))))
            }
            (SampleFormat::F32, true) => {
                self.accumulate::<4>(data, |b| finite(f64::from(f32::from_be_bytes(b))))
            }
            (SampleFormat::F64, false) => {
                self.accumulate::<8>(data, |b| finite(f64::from_le_bytes(b)))
            }
            (SampleFormat::F64, true) => {
                self.accumulate::<8>(data, |b| finite(f64::from_be_bytes(b)))
            }
        }
        self.frames += (whole / bpf) as u64;
    }

    fn accumulate<const W: usize>(&mut self, data: &[u8], decode: impl Fn([u8; W]) -> f64) {
        let channels = self.channels();
        let mut rest = data;
        if 4 % channels == 0 {
            // 1, 2 or 4 channels: four samples at a time into four independent sums,
            // so the additions do not wait for each other. Lane k is channel
            // k % channels.
            let mut sq = [0.0f64; 4];
            let mut pk = [0.0f64; 4];
            let mut chunks = data.chunks_exact(4 * W);
            for c in &mut chunks {
                for k in 0..4 {
                    let v = decode(c[k * W..(k + 1) * W].try_into().unwrap_or([0; W]));
                    sq[k] += v * v;
                    pk[k] = pk[k].max(v.abs());
                }
            }
            rest = chunks.remainder();
            for k in 0..4 {
                let c = k % channels;
                self.sumsq[c] += sq[k];
                self.peak[c] = self.peak[c].max(pk[k]);
            }
        }
        if channels <= 8 {
            // Up to 8 channels: sums in local arrays (registers / L1), one
            // independent chain per channel.
            let mut sq = [0.0f64; 8];
            let mut pk = [0.0f64; 8];
            for frame in rest.chunks_exact(W * channels) {
                for (c, s) in frame.chunks_exact(W).enumerate() {
                    let v = decode(s.try_into().unwrap_or([0; W]));
                    sq[c & 7] += v * v;
                    pk[c & 7] = pk[c & 7].max(v.abs());
                }
            }
            for c in 0..channels {
                self.sumsq[c] += sq[c];
                self.peak[c] = self.peak[c].max(pk[c]);
            }
            return;
        }
        for frame in rest.chunks_exact(W * channels) {
            for ((s, sumsq), peak) in frame
                .chunks_exact(W)
                .zip(self.sumsq.iter_mut())
                .zip(self.peak.iter_mut())
            {
                let v = decode(s.try_into().unwrap_or([0; W]));
                *sumsq += v * v;
                *peak = peak.max(v.abs());
            }
        }
    }
}

/// Converts a mean square (power relative to full scale) to dBFS, floored at
/// [`MIN_DB`].
pub fn power_to_db(ms: f64) -> f64 {
    if ms > 0.0 {
        (10.0 * ms.log10()).max(MIN_DB)
    } else {
        MIN_DB
    }
}

/// Converts an amplitude relative to full scale to dBFS, floored at [`MIN_DB`].
pub fn amplitude_to_db(a: f64) -> f64 {
    if a > 0.0 {
        (20.0 * a.log10()).max(MIN_DB)
    } else {
        MIN_DB
    }
}

/// Converts dBFS to a mean square (power relative to full scale).
pub fn db_to_power(db: f64) -> f64 {
    10f64.powf(db / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(kind: SampleFormat, big_endian: bool, channels: usize) -> AudioLayout {
        AudioLayout {
            kind,
            big_endian,
            channels,
            rate: 48_000,
        }
    }

    /// Encodes `frames` of interleaved samples (already in -1..1) in `layout`.
    fn encode(l: &AudioLayout, samples: &[f64]) -> Vec<u8> {
        let mut out = Vec::new();
        for &s in samples {
            match (l.kind, l.big_endian) {
                (SampleFormat::S16, false) => out.extend(((s * 32767.0) as i16).to_le_bytes()),
                (SampleFormat::S16, true) => out.extend(((s * 32767.0) as i16).to_be_bytes()),
                (SampleFormat::S32, false) => {
                    out.extend(((s * 2_147_483_647.0) as i32).to_le_bytes())
                }
                (SampleFormat::S32, true) => {
                    out.extend(((s * 2_147_483_647.0) as i32).to_be_bytes())
                }
                (SampleFormat::F32, false) => out.extend((s as f32).to_le_bytes()),
                (SampleFormat::F32, true) => out.extend((s as f32).to_be_bytes()),
                (SampleFormat::F64, false) => out.extend(s.to_le_bytes()),
                (SampleFormat::F64, true) => out.extend(s.to_be_bytes()),
            }
        }
        out
    }

    fn sine(amplitude: f64, channels: usize, frames: usize) -> Vec<f64> {
        let mut v = Vec::with_capacity(frames * channels);
        for i in 0..frames {
            let x = amplitude * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 48_000.0).sin();
            for c in 0..channels {
                // channel c is attenuated by c * 6 dB so channels are distinguishable
                v.push(x * 10f64.powf(-(c as f64) * 6.0 / 20.0));
            }
        }
        v
    }

    #[test]
    fn every_format_measures_the_same_sine() {
        for kind in SampleFormat::ALL {
            for be in [false, true] {
                let l = layout(kind, be, 2);
                let data = encode(&l, &sine(0.5, 2, 4800));
                let mut level = Level::new(2);
                level.add(&l, &data);
                assert_eq!(level.frames(), 4800);
                let rms = level.rms_db();
                let peak = level.peak_db();
                // sine of amplitude 0.5: peak -6.02 dBFS, RMS -9.03 dBFS
                let expect_peak = 20.0 * 0.5f64.log10();
                let expect_rms = 20.0 * (0.5 / 2f64.sqrt()).log10();
                assert!(
                    (peak[0] - expect_peak).abs() < 0.01,
                    "{kind:?} {be} {peak:?}"
                );
                assert!((rms[0] - expect_rms).abs() < 0.01, "{kind:?} {be} {rms:?}");
                assert!(
                    (rms[1] - (expect_rms - 6.0)).abs() < 0.01,
                    "{kind:?} {rms:?}"
                );
                assert!(
                    (peak[1] - (expect_peak - 6.0)).abs() < 0.01,
                    "{kind:?} {peak:?}"
                );
            }
        }
    }

    #[test]
    fn every_channel_count_and_length_is_measured_per_channel() {
        for channels in 1..=10usize {
            for frames in [1usize, 3, 4, 5, 480, 481] {
                let l = layout(SampleFormat::F32, false, channels);
                // channel c carries a constant (c + 1) / 10
                let samples: Vec<f64> = (0..frames)
                    .flat_map(|_| (0..channels).map(|c| (c + 1) as f64 / 10.0))
                    .collect();
                let mut level = Level::new(channels);
                level.add(&l, &encode(&l, &samples));
                assert_eq!(level.frames(), frames as u64);
                for c in 0..channels {
                    let a = (c + 1) as f64 / 10.0;
                    assert!(
                        (level.mean_square(c) - a * a).abs() < 1e-6,
                        "{channels} {frames} {c}"
                    );
                    assert!((level.peak_db()[c] - amplitude_to_db(a)).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn full_scale_negative_s16_is_zero_db_peak() {
        let l = layout(SampleFormat::S16, false, 1);
        let data = i16::MIN.to_le_bytes();
        let mut level = Level::new(1);
        level.add(&l, &data);
        assert!(level.peak_db()[0].abs() < 1e-9);
        assert!(level.rms_db()[0].abs() < 1e-9);
    }

    #[test]
    fn silence_and_empty_are_floored() {
        let l = layout(SampleFormat::F32, false, 3);
        let mut level = Level::new(3);
        assert_eq!(level.rms_db(), vec![MIN_DB; 3]);
        level.add(&l, &vec![0u8; 3 * 4 * 100]);
        assert_eq!(level.frames(), 100);
        assert_eq!(level.rms_db(), vec![MIN_DB; 3]);
        assert_eq!(level.peak_db(), vec![MIN_DB; 3]);
    }

    #[test]
    fn partial_frames_and_mismatched_layouts_are_ignored() {
        let l = layout(SampleFormat::S16, false, 2);
        let mut level = Level::new(2);
        level.add(&l, &[0x00, 0x40, 0x00, 0x40, 0xff]);
        assert_eq!(level.frames(), 1);
        let mut other = Level::new(3);
        other.add(&l, &[0x00, 0x40, 0x00, 0x40]);
        assert_eq!(other.frames(), 0);
    }

    #[test]
    fn nan_samples_do_not_poison_the_level() {
        let l = layout(SampleFormat::F32, false, 1);
        let mut data = f32::NAN.to_le_bytes().to_vec();
        data.extend(0.5f32.to_le_bytes());
        let mut level = Level::new(1);
        level.add(&l, &data);
        assert!(level.rms_db()[0].is_finite());
        assert!((level.peak_db()[0] - 20.0 * 0.5f64.log10()).abs() < 1e-6);
    }

    #[test]
    fn merge_combines_sums_and_peaks() {
        let l = layout(SampleFormat::F64, false, 1);
        let mut a = Level::new(1);
        a.add(&l, &encode(&l, &[0.5, 0.5]));
        let mut b = Level::new(1);
        b.add(&l, &encode(&l, &[0.0, 0.0]));
        a.merge(&b);
        assert_eq!(a.frames(), 4);
        // mean square 0.125 -> -9.03 dB; peak 0.5 -> -6.02 dB
        assert!((a.rms_db()[0] - 10.0 * 0.125f64.log10()).abs() < 1e-9);
        assert!((a.peak_db()[0] - 20.0 * 0.5f64.log10()).abs() < 1e-9);
        assert!((a.loudest_mean_square() - 0.125).abs() < 1e-12);
        a.add_silence(4);
        assert_eq!(a.frames(), 8);
        assert!((a.rms_db()[0] - 10.0 * 0.0625f64.log10()).abs() < 1e-9);
        a.reset();
        assert_eq!(a.frames(), 0);
    }

    #[test]
    fn db_conversions_round_trip() {
        for db in [-70.0, -60.0, -3.0, 0.0] {
            assert!((power_to_db(db_to_power(db)) - db).abs() < 1e-9);
        }
    }
}

// SPDX-License-Identifier: MPL-2.0
//! BS.1770-4 / EBU R128 measurement on top of the `ebur128` crate.
//!
//! No GStreamer types here: the element maps its buffers to slices of one of the
//! four sample types and its channel positions to [`Speaker`].

use ebur128::{Channel, EbuR128, Mode};

/// Loudness of silence / "nothing measured yet" as sent in messages.
pub const NO_MEASUREMENT: f64 = f64::NEG_INFINITY;

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

/// BS.1770 channel type that `ebur128` uses to pick the weight for `speaker`.
/// `index` alternates left/right where the crate wants distinct types.
pub fn channel_type(speaker: Speaker, left: bool) -> Channel {
    match (speaker, left) {
        (Speaker::Front, _) => Channel::Center,
        (Speaker::Surround, true) => Channel::LeftSurround,
        (Speaker::Surround, false) => Channel::RightSurround,
        (Speaker::Back, true) => Channel::Mp135,
        (Speaker::Back, false) => Channel::Mm135,
        (Speaker::Lfe, _) => Channel::Unused,
    }
}

/// Sample types the element accepts.
pub trait Sample: Copy + Default + Send + 'static {
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn add_to(ebu: &mut EbuR128, frames: &[Self]) -> Result<(), ebur128::Error>;
}

impl Sample for f32 {
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn add_to(ebu: &mut EbuR128, frames: &[Self]) -> Result<(), ebur128::Error> {
        ebu.add_frames_f32(frames)
    }
}

impl Sample for f64 {
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
    fn add_to(ebu: &mut EbuR128, frames: &[Self]) -> Result<(), ebur128::Error> {
        ebu.add_frames_f64(frames)
    }
}

const I16_SCALE: f64 = 32768.0;
const I32_SCALE: f64 = 2147483648.0;

impl Sample for i16 {
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64 / I16_SCALE
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        (v * I16_SCALE)
            .round()
            .clamp(i16::MIN as f64, i16::MAX as f64) as i16
    }
    fn add_to(ebu: &mut EbuR128, frames: &[Self]) -> Result<(), ebur128::Error> {
        ebu.add_frames_i16(frames)
    }
}

impl Sample for i32 {
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64 / I32_SCALE
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        (v * I32_SCALE)
            .round()
            .clamp(i32::MIN as f64, i32::MAX as f64) as i32
    }
    fn add_to(ebu: &mut EbuR128, frames: &[Self]) -> Result<(), ebur128::Error> {
        ebu.add_frames_i32(frames)
    }
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
    /// LU (EBU Tech 3342); 0.0 until enough short-term blocks passed the gates.
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
    ebu: EbuR128,
    channels: u32,
    /// Frames per 100 ms gating step.
    step: u64,
    /// Frames added since creation/reset.
    frames: u64,
}

impl Meter {
    /// `speakers` gives one role per channel (its length is the channel count).
    pub fn new(rate: u32, speakers: &[Speaker]) -> Result<Self, ebur128::Error> {
        let channels = speakers.len() as u32;
        let mut ebu = EbuR128::new(
            channels,
            rate,
            Mode::M | Mode::S | Mode::I | Mode::LRA | Mode::TRUE_PEAK | Mode::HISTOGRAM,
        )?;
        let mut left = true;
        let map: Vec<Channel> = speakers
            .iter()
            .map(|s| {
                let c = channel_type(*s, left);
                if matches!(s, Speaker::Surround | Speaker::Back) {
                    left = !left;
                }
                c
            })
            .collect();
        ebu.set_channel_map(&map)?;
        Ok(Meter {
            ebu,
            channels,
            step: (rate as u64).div_ceil(10).max(1),
            frames: 0,
        })
    }

    /// Frames until the next 100 ms gating step completes (at least 1).
    pub fn frames_to_next_step(&self) -> u64 {
        let r = self.frames % self.step;
        self.step - r
    }

    /// Whether the frames added so far end exactly on a gating step.
    pub fn at_step(&self) -> bool {
        self.frames > 0 && self.frames % self.step == 0
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Add interleaved frames.
    pub fn add<T: Sample>(&mut self, data: &[T]) -> Result<(), ebur128::Error> {
        T::add_to(&mut self.ebu, data)?;
        self.frames += (data.len() / self.channels as usize) as u64;
        Ok(())
    }

    /// Loudness of the 400 ms block that ends now, or `None` before 400 ms.
    pub fn block_loudness(&self) -> Option<f64> {
        if self.frames < self.step * 4 {
            return None;
        }
        self.ebu.loudness_momentary().ok()
    }

    pub fn reading(&self) -> Reading {
        let momentary = if self.frames >= self.step * 4 {
            self.ebu.loudness_momentary().unwrap_or(NO_MEASUREMENT)
        } else {
            NO_MEASUREMENT
        };
        let short_term = if self.frames >= self.step * 30 {
            self.ebu.loudness_shortterm().unwrap_or(NO_MEASUREMENT)
        } else {
            NO_MEASUREMENT
        };
        let integrated = self
            .ebu
            .loudness_global()
            .ok()
            .filter(|v| v.is_finite())
            .unwrap_or(NO_MEASUREMENT);
        let loudness_range = self
            .ebu
            .loudness_range()
            .ok()
            .filter(|v| v.is_finite())
            .unwrap_or(0.0);
        let peak = (0..self.channels)
            .filter_map(|c| self.ebu.true_peak(c).ok())
            .fold(0.0f64, f64::max);
        Reading {
            momentary: sanitize(momentary),
            short_term: sanitize(short_term),
            integrated,
            loudness_range,
            true_peak: amplitude_to_db(peak),
        }
    }

    pub fn reset(&mut self) {
        self.ebu.reset();
        self.frames = 0;
    }
}

/// Anything at or below the absolute gate's floor of the histogram is reported as
/// `-inf` rather than as a huge negative number.
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
        let mut m = Meter::new(48000, &[Speaker::Front, Speaker::Front]).unwrap();
        m.add(&sine(48000, 2, 1000.0, -23.0, 5.0)).unwrap();
        let r = m.reading();
        assert!((r.momentary + 23.0).abs() < 0.1, "{r:?}");
        assert!((r.short_term + 23.0).abs() < 0.1, "{r:?}");
        assert!((r.integrated + 23.0).abs() < 0.1, "{r:?}");
        assert!((r.true_peak + 23.0).abs() < 0.2, "{r:?}");
    }

    #[test]
    fn nothing_measured_is_minus_infinity() {
        let mut m = Meter::new(48000, &[Speaker::Front]).unwrap();
        let r = m.reading();
        assert_eq!(r.momentary, f64::NEG_INFINITY);
        assert_eq!(r.integrated, f64::NEG_INFINITY);
        assert_eq!(r.true_peak, f64::NEG_INFINITY);
        assert_eq!(r.loudness_range, 0.0);
        // 200 ms of tone: still no full momentary window.
        m.add(&sine(48000, 1, 1000.0, -20.0, 0.2)).unwrap();
        assert_eq!(m.reading().momentary, f64::NEG_INFINITY);
        assert!(m.reading().true_peak > -21.0);
        m.add(&vec![0.0f32; 48000 * 4]).unwrap();
        assert_eq!(m.reading().momentary, f64::NEG_INFINITY);
    }

    #[test]
    fn lfe_is_ignored_and_surrounds_weighted() {
        let tone = sine(48000, 1, 1000.0, -23.0, 2.0);
        let mut lfe = Meter::new(48000, &[Speaker::Lfe]).unwrap();
        lfe.add(&tone).unwrap();
        assert_eq!(lfe.reading().momentary, f64::NEG_INFINITY);
        let mut front = Meter::new(48000, &[Speaker::Front]).unwrap();
        let mut sur = Meter::new(48000, &[Speaker::Surround]).unwrap();
        front.add(&tone).unwrap();
        sur.add(&tone).unwrap();
        let d = sur.reading().momentary - front.reading().momentary;
        assert!((d - 10.0 * 1.41f64.log10()).abs() < 0.01, "{d}");
    }

    #[test]
    fn steps_are_100ms() {
        let mut m = Meter::new(44100, &[Speaker::Front]).unwrap();
        assert_eq!(m.frames_to_next_step(), 4410);
        m.add(&vec![0i16; 4000]).unwrap();
        assert_eq!(m.frames_to_next_step(), 410);
        assert!(!m.at_step());
        m.add(&vec![0i16; 410]).unwrap();
        assert!(m.at_step());
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

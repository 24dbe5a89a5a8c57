// SPDX-License-Identifier: MPL-2.0
//! The raw-audio sample formats the crate's elements compute on, in one type.
//!
//! `failoverswitch` (fades), `healthprobe` (levels) and `loudnessmatch` (metering and
//! gain) all work on interleaved little-endian S16, S32, F32 or F64 samples.

/// An interleaved little-endian sample format the elements can compute on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleFormat {
    S16,
    S32,
    F32,
    F64,
}

#[allow(dead_code)] // for loudnessmatch and healthprobe
impl SampleFormat {
    /// The formats, in the order the elements' pad templates list them.
    pub const ALL: [SampleFormat; 4] = [
        SampleFormat::F32,
        SampleFormat::F64,
        SampleFormat::S16,
        SampleFormat::S32,
    ];

    /// The sample format of a GStreamer audio format, if the elements handle it.
    pub fn from_gst(format: gst_audio::AudioFormat) -> Option<Self> {
        match format {
            gst_audio::AudioFormat::S16le => Some(SampleFormat::S16),
            gst_audio::AudioFormat::S32le => Some(SampleFormat::S32),
            gst_audio::AudioFormat::F32le => Some(SampleFormat::F32),
            gst_audio::AudioFormat::F64le => Some(SampleFormat::F64),
            _ => None,
        }
    }

    #[allow(dead_code)] // for loudnessmatch and healthprobe
    /// The GStreamer audio format of this sample format.
    pub fn to_gst(self) -> gst_audio::AudioFormat {
        match self {
            SampleFormat::S16 => gst_audio::AudioFormat::S16le,
            SampleFormat::S32 => gst_audio::AudioFormat::S32le,
            SampleFormat::F32 => gst_audio::AudioFormat::F32le,
            SampleFormat::F64 => gst_audio::AudioFormat::F64le,
        }
    }

    /// Bytes per sample.
    pub fn width(self) -> usize {
        match self {
            SampleFormat::S16 => 2,
            SampleFormat::S32 | SampleFormat::F32 => 4,
            SampleFormat::F64 => 8,
        }
    }

    #[allow(dead_code)] // for loudnessmatch and healthprobe
    /// Full scale of the format (1.0 for floats), to normalise integer samples.
    pub fn full_scale(self) -> f64 {
        match self {
            SampleFormat::S16 => 32_768.0,
            SampleFormat::S32 => 2_147_483_648.0,
            SampleFormat::F32 | SampleFormat::F64 => 1.0,
        }
    }

    /// Reads one sample (in the format's own scale) from the start of `b`.
    #[inline]
    pub fn read(self, b: &[u8]) -> f64 {
        match self {
            SampleFormat::S16 => i16::from_le_bytes([b[0], b[1]]) as f64,
            SampleFormat::S32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            SampleFormat::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            SampleFormat::F64 => {
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }
        }
    }

    /// Writes one sample (in the format's own scale, rounded and clamped for integer
    /// formats) to the start of `b`.
    #[inline]
    pub fn write(self, b: &mut [u8], v: f64) {
        match self {
            SampleFormat::S16 => b[..2].copy_from_slice(
                &(v.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16).to_le_bytes(),
            ),
            SampleFormat::S32 => b[..4].copy_from_slice(
                &(v.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32).to_le_bytes(),
            ),
            SampleFormat::F32 => b[..4].copy_from_slice(&(v as f32).to_le_bytes()),
            SampleFormat::F64 => b[..8].copy_from_slice(&v.to_le_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_clamp() {
        for f in SampleFormat::ALL {
            assert_eq!(SampleFormat::from_gst(f.to_gst()), Some(f));
            let mut b = [0u8; 8];
            f.write(&mut b, 0.25 * f.full_scale());
            assert!((f.read(&b) - 0.25 * f.full_scale()).abs() <= 1.0, "{f:?}");
        }
        let mut b = [0u8; 2];
        SampleFormat::S16.write(&mut b, 1e9);
        assert_eq!(SampleFormat::S16.read(&b), i16::MAX as f64);
        assert_eq!(SampleFormat::from_gst(gst_audio::AudioFormat::U8), None);
    }
}

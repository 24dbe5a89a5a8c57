// SPDX-License-Identifier: MPL-2.0
//! The raw-audio sample formats the crate's elements compute on, in one type.
//!
//! `failoverswitch` (fades), `healthprobe` (levels) and `loudnessmatch` (metering and
//! gain) all work on interleaved S16, S32, F32 or F64 samples: little-endian for the
//! elements that write audio, either byte order for `healthprobe`, which only reads.

/// An interleaved sample format the elements can compute on. [`read`](Self::read)
/// and [`write`](Self::write) use little-endian bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleFormat {
    S16,
    S32,
    F32,
    F64,
}

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

    /// The sample format of a GStreamer audio format of either byte order, and
    /// whether it is big-endian.
    pub fn from_gst_any_endian(format: gst_audio::AudioFormat) -> Option<(Self, bool)> {
        use gst_audio::AudioFormat as F;
        match format {
            F::S16be => Some((SampleFormat::S16, true)),
            F::S32be => Some((SampleFormat::S32, true)),
            F::F32be => Some((SampleFormat::F32, true)),
            F::F64be => Some((SampleFormat::F64, true)),
            other => Self::from_gst(other).map(|f| (f, false)),
        }
    }

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
        assert_eq!(SampleFormat::from_gst(gst_audio::AudioFormat::S16be), None);
        assert_eq!(
            SampleFormat::from_gst_any_endian(gst_audio::AudioFormat::F64be),
            Some((SampleFormat::F64, true))
        );
        assert_eq!(
            SampleFormat::from_gst_any_endian(gst_audio::AudioFormat::S32le),
            Some((SampleFormat::S32, false))
        );
        assert_eq!(
            SampleFormat::from_gst_any_endian(gst_audio::AudioFormat::U16le),
            None
        );
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Crossfades and fade-ins on interleaved raw audio.
//!
//! Both inputs carry the same programme, so the blend is constant-amplitude: the
//! incoming gain follows a raised cosine from 0 to 1 and the outgoing gain is its
//! complement.

use std::f64::consts::PI;

pub use crate::sample_format::SampleFormat;

/// Gain of the incoming input at frame `pos` of a fade lasting `len` frames.
pub fn incoming_gain(pos: u64, len: u64) -> f64 {
    if len == 0 || pos >= len {
        return 1.0;
    }
    0.5 - 0.5 * (PI * pos as f64 / len as f64).cos()
}

/// A run of the outgoing input's frames to blend in: `offset` frames into the
/// incoming data, `data` whole interleaved frames.
pub struct Outgoing<'a> {
    pub offset: usize,
    pub data: &'a [u8],
}

/// Applies a fade to `data` (interleaved frames of `channels` channels) whose first
/// frame is frame `fade_pos` of a fade lasting `fade_len` frames: the incoming data is
/// faded in, and where outgoing frames are given they are blended out.
pub fn apply(
    data: &mut [u8],
    format: SampleFormat,
    channels: usize,
    fade_pos: u64,
    fade_len: u64,
    outgoing: &[Outgoing<'_>],
) {
    let width = format.width();
    let bpf = width * channels.max(1);
    let frames = data.len() / bpf;
    let fade_frames = (fade_len.saturating_sub(fade_pos) as usize).min(frames);
    let mut gains = Vec::with_capacity(fade_frames);
    for (i, frame) in data.chunks_exact_mut(bpf).take(fade_frames).enumerate() {
        let g = incoming_gain(fade_pos + i as u64, fade_len);
        gains.push(g);
        for s in frame.chunks_exact_mut(width) {
            format.write(s, format.read(s) * g);
        }
    }
    for run in outgoing {
        let frames_in = run.data.chunks_exact(bpf);
        for (i, src) in frames_in.enumerate() {
            let idx = run.offset + i;
            let Some(&g) = gains.get(idx) else { break };
            let dst = &mut data[idx * bpf..(idx + 1) * bpf];
            for (d, s) in dst.chunks_exact_mut(width).zip(src.chunks_exact(width)) {
                format.write(d, format.read(d) + format.read(s) * (1.0 - g));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn to_f32(b: &[u8]) -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    #[test]
    fn gain_curve_is_monotonic_from_zero_to_one() {
        assert_eq!(incoming_gain(0, 100), 0.0);
        assert!((incoming_gain(50, 100) - 0.5).abs() < 1e-12);
        assert_eq!(incoming_gain(100, 100), 1.0);
        let mut last = -1.0;
        for i in 0..=100 {
            let g = incoming_gain(i, 100);
            assert!(g >= last);
            last = g;
        }
        assert_eq!(incoming_gain(3, 0), 1.0);
    }

    #[test]
    fn equal_signals_crossfade_to_the_same_signal() {
        let len = 64;
        let incoming = f32s(&vec![0.5; len]);
        let outgoing = incoming.clone();
        let mut data = incoming.clone();
        apply(
            &mut data,
            SampleFormat::F32,
            1,
            0,
            len as u64,
            &[Outgoing {
                offset: 0,
                data: &outgoing,
            }],
        );
        for v in to_f32(&data) {
            assert!((v - 0.5).abs() < 1e-6, "{v}");
        }
    }

    #[test]
    fn fade_in_without_outgoing_starts_at_zero() {
        let mut data = f32s(&[1.0; 10]);
        apply(&mut data, SampleFormat::F32, 2, 0, 4, &[]);
        let v = to_f32(&data);
        assert_eq!(&v[0..2], &[0.0, 0.0]);
        assert!(v[2] > 0.0 && v[2] < 1.0);
        assert!(v[6] > v[4] && v[6] < 1.0);
        assert_eq!(&v[8..10], &[1.0, 1.0]);
    }

    #[test]
    fn fade_continues_across_buffers_and_partial_outgoing() {
        // Second half of a 4-frame fade, outgoing known for its second frame only.
        let mut data: Vec<u8> = [0i16, 0, 0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let out: Vec<u8> = 1000i16.to_le_bytes().to_vec();
        apply(
            &mut data,
            SampleFormat::S16,
            1,
            2,
            4,
            &[Outgoing {
                offset: 1,
                data: &out,
            }],
        );
        let v: Vec<i16> = data
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        let expected = (1000.0 * (1.0 - incoming_gain(3, 4))).round() as i16;
        assert_eq!(v, vec![0, expected, 0]);
    }

    #[test]
    fn integer_formats_clamp() {
        let mut data: Vec<u8> = i32::MAX.to_le_bytes().to_vec();
        let out = i32::MAX.to_le_bytes().to_vec();
        apply(
            &mut data,
            SampleFormat::S32,
            1,
            1,
            2,
            &[Outgoing {
                offset: 0,
                data: &out,
            }],
        );
        assert_eq!(i32::from_le_bytes(data[..4].try_into().unwrap()), i32::MAX);
        let mut d64 = 0.25f64.to_le_bytes().to_vec();
        apply(&mut d64, SampleFormat::F64, 1, 0, 2, &[]);
        assert_eq!(f64::from_le_bytes(d64[..8].try_into().unwrap()), 0.0);
    }
}

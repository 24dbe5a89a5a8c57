// SPDX-License-Identifier: MPL-2.0
//! Little-endian sample bytes to and from numbers. No GStreamer types here.

use super::meter::Sample;
use std::borrow::Cow;

/// Reads a little-endian sample from bytes and writes it back.
pub trait Pod: Sample {
    const SIZE: usize;
    fn read(b: &[u8]) -> Self;
    fn write(self, b: &mut [u8]);
}

macro_rules! pod {
    ($t:ty) => {
        impl Pod for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            #[inline]
            fn read(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(&b[..Self::SIZE]);
                <$t>::from_le_bytes(a)
            }
            #[inline]
            fn write(self, b: &mut [u8]) {
                b[..Self::SIZE].copy_from_slice(&self.to_le_bytes());
            }
        }
    };
}
pod!(f32);
pod!(f64);
pod!(i16);
pod!(i32);

/// View little-endian bytes as samples, without copying when possible.
pub fn samples<T: Pod>(bytes: &[u8]) -> Cow<'_, [T]> {
    let whole = bytes.len() - bytes.len() % T::SIZE;
    let bytes = &bytes[..whole];
    if cfg!(target_endian = "little") {
        // SAFETY: T is a plain number type for which every bit pattern is valid;
        // align_to only hands out the correctly aligned middle part.
        let (head, mid, tail) = unsafe { bytes.align_to::<T>() };
        if head.is_empty() && tail.is_empty() {
            return Cow::Borrowed(mid);
        }
    }
    Cow::Owned(bytes.chunks_exact(T::SIZE).map(T::read).collect())
}

/// Numbers to little-endian bytes.
pub fn to_bytes<T: Pod>(frames: &[T]) -> Vec<u8> {
    let mut bytes = vec![0u8; frames.len() * T::SIZE];
    for (s, b) in frames.iter().zip(bytes.chunks_exact_mut(T::SIZE)) {
        s.write(b);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_aligned_and_not() {
        let v: Vec<i32> = vec![1, -2, i32::MAX, i32::MIN];
        let b = to_bytes(&v);
        assert_eq!(&*samples::<i32>(&b), &v[..]);
        // misaligned view falls back to copying
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&b);
        assert_eq!(&*samples::<i32>(&shifted[1..]), &v[..]);
        // a trailing partial sample is ignored
        assert_eq!(samples::<f64>(&[0u8; 12]).len(), 1);
        assert_eq!(to_bytes(&[1.5f32]), 1.5f32.to_le_bytes().to_vec());
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Mapping input data onto the one continuous output timeline.
//!
//! Pure arithmetic on nanoseconds and sample counts: where a raw audio buffer must be
//! trimmed (it overlaps what was already sent), where silence must be inserted (it
//! leaves a hole), and which timestamp it gets.

pub const SECOND: u64 = 1_000_000_000;

/// Differences below this between an input's timestamps and the output position are
/// jitter, not holes or overlaps, while the same input stays active (like
/// `audiobasesink`'s alignment threshold).
pub const ALIGN_THRESHOLD: u64 = 40_000_000;

/// Holes longer than this are not filled with silence: the output jumps instead.
pub const MAX_FILL: u64 = 10 * SECOND;

/// Frames (samples per channel) for a duration at `rate`, rounded to nearest.
pub fn ns_to_frames(ns: u64, rate: u32) -> u64 {
    ((ns as u128 * rate as u128 + SECOND as u128 / 2) / SECOND as u128) as u64
}

/// Duration of `frames` at `rate`, rounded to nearest nanosecond.
pub fn frames_to_ns(frames: u64, rate: u32) -> u64 {
    if rate == 0 {
        return 0;
    }
    ((frames as u128 * SECOND as u128 + rate as u128 / 2) / rate as u128) as u64
}

/// How one raw audio buffer goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawPlan {
    /// Entirely before the output position: nothing of it goes out.
    Drop,
    /// Output `silence` frames of silence, then the buffer without its first `skip`
    /// frames, starting at output time `pts`. `jump` means the output position moves
    /// (a hole too long to fill).
    Send {
        pts: u64,
        skip: u64,
        silence: u64,
        jump: bool,
    },
}

/// Plans a raw audio buffer starting at running time `start` with `frames` frames,
/// against the output position `out_pos` (end of what was already sent).
///
/// `tolerance` is how far the start may be off `out_pos` and still count as
/// contiguous (half a frame right after a switch: sample-accurate trimming; the
/// alignment threshold while the same input stays active).
pub fn plan_raw(
    out_pos: Option<u64>,
    start: u64,
    frames: u64,
    rate: u32,
    tolerance: u64,
) -> RawPlan {
    let Some(pos) = out_pos else {
        return RawPlan::Send {
            pts: start,
            skip: 0,
            silence: 0,
            jump: false,
        };
    };
    let contiguous = RawPlan::Send {
        pts: pos,
        skip: 0,
        silence: 0,
        jump: false,
    };
    if start.abs_diff(pos) <= tolerance {
        return contiguous;
    }
    if start < pos {
        let skip = ns_to_frames(pos - start, rate);
        if skip >= frames {
            return RawPlan::Drop;
        }
        return RawPlan::Send {
            pts: pos,
            skip,
            silence: 0,
            jump: false,
        };
    }
    let hole = start - pos;
    if hole > MAX_FILL {
        return RawPlan::Send {
            pts: start,
            skip: 0,
            silence: 0,
            jump: true,
        };
    }
    RawPlan::Send {
        pts: pos,
        skip: 0,
        silence: ns_to_frames(hole, rate),
        jump: false,
    }
}

/// Whether an encoded (untrimmable) unit starting at `start` and lasting `duration`
/// goes out after a switch at output position `out_pos`: only if at least half of it
/// lies after the position, so that no more than half a frame overlaps.
pub fn keep_encoded(out_pos: Option<u64>, start: u64, duration: u64) -> bool {
    out_pos.is_none_or(|pos| start.saturating_add(duration / 2) >= pos)
}

/// Output sample clock for raw audio: timestamps derived from a frame count since an
/// anchor, so that rounding never accumulates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleClock {
    anchor: u64,
    frames: u64,
}

impl SampleClock {
    pub fn new(anchor: u64) -> Self {
        Self { anchor, frames: 0 }
    }

    /// Output time of the next frame.
    pub fn position(&self, rate: u32) -> u64 {
        self.anchor + frames_to_ns(self.frames, rate)
    }

    /// Advances by `frames`; returns (pts, duration) of that span.
    pub fn advance(&mut self, frames: u64, rate: u32) -> (u64, u64) {
        let pts = self.position(rate);
        self.frames += frames;
        (pts, self.position(rate) - pts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn conversions_round_trip() {
        assert_eq!(ns_to_frames(10 * MS, 48_000), 480);
        assert_eq!(frames_to_ns(480, 48_000), 10 * MS);
        assert_eq!(frames_to_ns(1, 44_100), 22_676);
        assert_eq!(ns_to_frames(frames_to_ns(12_345, 44_100), 44_100), 12_345);
        assert_eq!(frames_to_ns(5, 0), 0);
    }

    #[test]
    fn first_buffer_keeps_its_time() {
        assert_eq!(
            plan_raw(None, 7 * MS, 480, 48_000, 0),
            RawPlan::Send {
                pts: 7 * MS,
                skip: 0,
                silence: 0,
                jump: false
            }
        );
    }

    #[test]
    fn overlap_is_trimmed_sample_accurately() {
        // Output is at 2.005 s, the new input's buffer starts at 2.000 s: 240 frames go.
        let plan = plan_raw(Some(2005 * MS), 2000 * MS, 480, 48_000, 0);
        assert_eq!(
            plan,
            RawPlan::Send {
                pts: 2005 * MS,
                skip: 240,
                silence: 0,
                jump: false
            }
        );
        assert_eq!(
            plan_raw(Some(2010 * MS), 2000 * MS, 480, 48_000, 0),
            RawPlan::Drop
        );
    }

    #[test]
    fn hole_is_filled_with_silence_or_jumps_when_huge() {
        assert_eq!(
            plan_raw(Some(1000 * MS), 1500 * MS, 480, 48_000, 0),
            RawPlan::Send {
                pts: 1000 * MS,
                skip: 0,
                silence: 24_000,
                jump: false
            }
        );
        let far = 1000 * MS + MAX_FILL + 1;
        assert_eq!(
            plan_raw(Some(1000 * MS), far, 480, 48_000, 0),
            RawPlan::Send {
                pts: far,
                skip: 0,
                silence: 0,
                jump: true
            }
        );
    }

    #[test]
    fn jitter_within_tolerance_is_contiguous() {
        let plan = plan_raw(Some(1000 * MS), 1003 * MS, 480, 48_000, ALIGN_THRESHOLD);
        assert_eq!(
            plan,
            RawPlan::Send {
                pts: 1000 * MS,
                skip: 0,
                silence: 0,
                jump: false
            }
        );
    }

    #[test]
    fn encoded_units_keep_when_mostly_after_position() {
        assert!(keep_encoded(None, 0, 0));
        assert!(keep_encoded(Some(100 * MS), 90 * MS, 21 * MS));
        assert!(!keep_encoded(Some(100 * MS), 85 * MS, 21 * MS));
    }

    #[test]
    fn sample_clock_does_not_drift() {
        let mut c = SampleClock::new(5 * MS);
        let mut total = 0;
        for _ in 0..10_000 {
            let (_, d) = c.advance(1024, 44_100);
            total += d;
        }
        assert_eq!(
            c.position(44_100),
            5 * MS + frames_to_ns(10_240_000, 44_100)
        );
        assert_eq!(total, frames_to_ns(10_240_000, 44_100));
    }
}

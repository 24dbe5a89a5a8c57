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

/// Timestamps whose running time is further than this from the clock's running time
/// (live), or this far behind the input's own previous data, are not believed: a
/// live source's data is never hours ahead of the clock, data this far behind it
/// would be dropped as too late anyway, and a stream whose time goes back this far
/// without a flush has restarted its timestamps.
pub const TRUST_WINDOW: u64 = MAX_FILL;

/// Running time at which an input's buffer starts: its timestamp's (`ts`) if it has
/// one that is believable (see [`TRUST_WINDOW`]; `clock` is the clock's running time
/// when live); otherwise right after the input's previous data (`previous`), else at
/// the clock, else at the output position. Returns the start and whether a timestamp
/// was overruled.
pub fn place(
    ts: Option<u64>,
    clock: Option<u64>,
    previous: Option<u64>,
    out_pos: Option<u64>,
) -> (u64, bool) {
    let trusted = ts.filter(|&t| {
        clock.is_none_or(|c| t.abs_diff(c) <= TRUST_WINDOW)
            && previous.is_none_or(|p| t.saturating_add(TRUST_WINDOW) >= p)
    });
    let start = trusted.or(previous).or(clock).or(out_pos).unwrap_or(0);
    (start, ts.is_some() && trusted.is_none())
}

/// Frames (samples per channel) for a duration at `rate`, rounded to nearest.
pub fn ns_to_frames(ns: u64, rate: u32) -> u64 {
    ((ns as u128 * rate as u128 + SECOND as u128 / 2) / SECOND as u128) as u64
}

/// Duration of `frames` at `rate`, rounded to nearest nanosecond.
pub fn frames_to_ns(frames: u64, rate: u32) -> u64 {
    if rate == 0 {
        return 0;
    }
    let ns = (frames as u128 * SECOND as u128 + rate as u128 / 2) / rate as u128;
    u64::try_from(ns).unwrap_or(u64::MAX)
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
        self.anchor.saturating_add(frames_to_ns(self.frames, rate))
    }

    /// Advances by `frames`; returns (pts, duration) of that span.
    pub fn advance(&mut self, frames: u64, rate: u32) -> (u64, u64) {
        let pts = self.position(rate);
        self.frames = self.frames.saturating_add(frames);
        (pts, self.position(rate).saturating_sub(pts))
    }
}

/// Watches how long the output has stood still, for pipelines that are not live: on
/// the clock's running time while PLAYING, on wall time while prerolling (nothing
/// went out yet, so the pipeline cannot reach PLAYING); a pause does not count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StillWatch {
    pos: Option<u64>,
    /// (running time, wall time) when the output was last seen moving.
    since: Option<(Option<u64>, u64)>,
}

impl StillWatch {
    /// Looks at the output position `pos`; `rt` is the clock's running time while
    /// PLAYING, `wall` a monotonic time in ns. Returns how long it has stood still.
    pub fn observe(&mut self, pos: Option<u64>, counting: bool, rt: Option<u64>, wall: u64) -> u64 {
        if pos != self.pos || !counting {
            self.pos = pos;
            self.since = None;
        }
        if !counting {
            return 0;
        }
        match self.since {
            Some((Some(a), _)) => rt.map_or(0, |r| r.saturating_sub(a)),
            Some((None, w)) if rt.is_none() => wall.saturating_sub(w),
            // First look, or PLAYING just began: count from now.
            _ => {
                self.since = Some((rt, wall));
                0
            }
        }
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
    fn timestamps_far_from_the_clock_or_far_back_are_not_believed() {
        let hour = 3600 * SECOND;
        // Not live: timestamps are believed, unless they go far back.
        assert_eq!(place(Some(hour), None, Some(MS), Some(MS)), (hour, false));
        assert_eq!(
            place(Some(SECOND), None, Some(5 * SECOND), None),
            (SECOND, false)
        );
        assert_eq!(place(Some(SECOND), None, Some(hour), None), (hour, true));
        // Live, near the clock (latency, jitter): believed.
        assert_eq!(
            place(Some(990 * MS), Some(SECOND), None, None),
            (990 * MS, false)
        );
        // Hours ahead or far behind the clock: after the input's previous data.
        assert_eq!(
            place(Some(hour), Some(SECOND), Some(980 * MS), None),
            (980 * MS, true)
        );
        assert_eq!(
            place(Some(0), Some(hour), Some(hour - 20 * MS), None),
            (hour - 20 * MS, true)
        );
        // Without timestamps: previous data, then the clock, then the output.
        assert_eq!(place(None, Some(SECOND), None, Some(MS)), (SECOND, false));
        assert_eq!(place(None, None, None, Some(MS)), (MS, false));
        assert_eq!(place(None, None, None, None), (0, false));
    }

    #[test]
    fn encoded_units_keep_when_mostly_after_position() {
        assert!(keep_encoded(None, 0, 0));
        assert!(keep_encoded(Some(100 * MS), 90 * MS, 21 * MS));
        assert!(!keep_encoded(Some(100 * MS), 85 * MS, 21 * MS));
    }

    #[test]
    fn still_watch_counts_playing_and_preroll_but_not_a_pause() {
        let mut w = StillWatch::default();
        // Prerolling: wall time counts.
        assert_eq!(w.observe(None, true, None, 100), 0);
        assert_eq!(w.observe(None, true, None, 600), 500);
        // Output moved: from zero again.
        assert_eq!(w.observe(Some(5), true, None, 700), 0);
        // PLAYING began: the clock counts from there.
        assert_eq!(w.observe(Some(5), true, Some(1_000), 800), 0);
        assert_eq!(w.observe(Some(5), true, Some(1_400), 5_000), 400);
        // Paused: nothing counts, and the count restarts after it.
        assert_eq!(w.observe(Some(5), false, Some(9_000), 9_000), 0);
        assert_eq!(w.observe(Some(5), true, Some(9_100), 9_100), 0);
        assert_eq!(w.observe(Some(5), true, Some(9_300), 9_300), 200);
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

// SPDX-License-Identifier: MPL-2.0
//! Counting of timestamp discontinuities.
//!
//! A buffer is a discontinuity when it carries the DISCONT flag (except the first
//! buffer after a start, flush or new segment, where the flag is normal), or when
//! its running time is off from where the previous buffer ended by more than
//! [`TOLERANCE_NS`]. Without a duration on the previous buffer, only a jump back
//! in time or a jump forward by more than [`JUMP_WITHOUT_DURATION_NS`] counts.
//! A buffer that is both flagged and off in time counts once.

/// Allowed difference between a buffer's start and the previous buffer's end
/// (the same default as the alignment threshold of GStreamer's audio sinks).
pub const TOLERANCE_NS: u64 = 40_000_000;

/// Forward gap that counts as a jump when the previous buffer had no duration.
pub const JUMP_WITHOUT_DURATION_NS: u64 = 1_000_000_000;

#[derive(Debug, Clone, Default)]
pub struct DiscontTracker {
    /// Start and end (if the duration was known) of the previous buffer.
    prev: Option<(u64, Option<u64>)>,
    /// The next buffer is the first after a (re)start.
    fresh: bool,
    count: u64,
    since_report: u64,
}

impl DiscontTracker {
    pub fn new() -> Self {
        DiscontTracker {
            fresh: true,
            ..Default::default()
        }
    }

    /// Forgets the previous buffer (start, flush, new segment); counts are kept.
    pub fn restart(&mut self) {
        self.prev = None;
        self.fresh = true;
    }

    /// Records one buffer. `start` is its running time (None when it has no
    /// timestamp). Returns whether the buffer is a discontinuity.
    pub fn push(&mut self, start: Option<u64>, duration: Option<u64>, flagged: bool) -> bool {
        let fresh = std::mem::replace(&mut self.fresh, false);
        let jumped = match (start, self.prev) {
            (Some(start), Some((prev_start, Some(prev_end)))) => {
                start.abs_diff(prev_end) > TOLERANCE_NS || start < prev_start
            }
            (Some(start), Some((prev_start, None))) => {
                start < prev_start || start - prev_start > JUMP_WITHOUT_DURATION_NS
            }
            _ => false,
        };
        self.prev = start.map(|s| (s, duration.map(|d| s.saturating_add(d))));
        let discont = jumped || (flagged && !fresh);
        if discont {
            self.count += 1;
            self.since_report += 1;
        }
        discont
    }

    /// Discontinuities since the last start.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Discontinuities since the previous call.
    pub fn take_since_report(&mut self) -> u64 {
        std::mem::take(&mut self.since_report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn contiguous_stream_has_no_discontinuity() {
        let mut d = DiscontTracker::new();
        for i in 0..100 {
            // first buffer flagged DISCONT, as sources usually do
            assert!(!d.push(Some(i * 20 * MS), Some(20 * MS), i == 0));
        }
        assert_eq!(d.count(), 0);
    }

    #[test]
    fn jumps_forward_and_backward_are_counted() {
        let mut d = DiscontTracker::new();
        d.push(Some(0), Some(20 * MS), false);
        assert!(!d.push(Some(20 * MS + TOLERANCE_NS), Some(20 * MS), false));
        assert!(d.push(Some(500 * MS), Some(20 * MS), false));
        assert!(d.push(Some(100 * MS), Some(20 * MS), false));
        assert!(!d.push(Some(120 * MS), Some(20 * MS), false));
        assert_eq!(d.count(), 2);
        assert_eq!(d.take_since_report(), 2);
        assert_eq!(d.take_since_report(), 0);
        assert_eq!(d.count(), 2);
    }

    #[test]
    fn flagged_buffers_count_once() {
        let mut d = DiscontTracker::new();
        d.push(Some(0), Some(20 * MS), true);
        assert!(d.push(Some(20 * MS), Some(20 * MS), true));
        assert!(d.push(Some(900 * MS), Some(20 * MS), true));
        assert_eq!(d.count(), 2);
    }

    #[test]
    fn restart_forgets_the_previous_buffer() {
        let mut d = DiscontTracker::new();
        d.push(Some(5_000 * MS), Some(20 * MS), false);
        d.restart();
        assert!(!d.push(Some(0), Some(20 * MS), true));
        assert_eq!(d.count(), 0);
    }

    #[test]
    fn without_durations_only_big_or_backward_jumps_count() {
        let mut d = DiscontTracker::new();
        d.push(Some(0), None, false);
        assert!(!d.push(Some(300 * MS), None, false));
        assert!(d.push(Some(300 * MS + JUMP_WITHOUT_DURATION_NS + 1), None, false));
        assert!(d.push(Some(0), None, false));
        // buffers without timestamps are not judged and break the chain
        assert!(!d.push(None, None, false));
        assert!(!d.push(Some(90_000 * MS), None, false));
        assert_eq!(d.count(), 2);
    }
}

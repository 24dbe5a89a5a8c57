// SPDX-License-Identifier: MPL-2.0
//! Which time the probe measures against, and whether a live stream is late.
//!
//! In a live pipeline (upstream answers the latency query with `live`) that is
//! PLAYING with a clock, the probe measures against the clock: the bitrate is the
//! bytes that *arrived* within the last window of clock running time, and data
//! whose running time is far behind the clock's is late. A throttled link keeps
//! delivering a trickle, so "no data for N s" never fires, but its data falls
//! further behind the clock with every second. Without a clock (not live, or not
//! PLAYING) there is no "now" to compare with: the bitrate is measured over the
//! stream's own running time and nothing is ever late.

/// What the bitrate window is measured over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBase {
    /// Running time of arrival on the pipeline clock (live, PLAYING).
    Clock,
    /// The buffers' own running time (not live, or not PLAYING).
    Stream,
}

/// The time base for a stream: the clock when upstream is live and the probe is
/// watching the clock (PLAYING with a clock); the stream's running time otherwise.
/// `live` is `None` until upstream has answered a latency query.
pub fn time_base(live: Option<bool>, watching: bool) -> TimeBase {
    if live == Some(true) && watching {
        TimeBase::Clock
    } else {
        TimeBase::Stream
    }
}

/// How far data at running time `data_end` is behind the clock's running time
/// `clock_rt`, beyond the upstream `latency` (the time live data is allowed to take
/// to arrive). Zero when it is on time or early.
pub fn lag(clock_rt: u64, data_end: u64, latency: u64) -> u64 {
    clock_rt.saturating_sub(data_end).saturating_sub(latency)
}

/// Tracks the `late` condition of a live stream.
///
/// Data is late when its lag ([`lag`]) exceeds the bound (the probe's
/// `stall-timeout`). It stays late until data arrives whose lag is at most half the
/// bound, so a stream hovering around the limit does not flap. A bound of 0 turns
/// the check off.
#[derive(Debug, Clone, Default)]
pub struct LateTracker {
    late: bool,
}

impl LateTracker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_late(&self) -> bool {
        self.late
    }

    /// Judges data that arrived with lag `lag` against `bound`. Returns whether the
    /// condition changed.
    pub fn on_data(&mut self, lag: u64, bound: u64) -> bool {
        let late = if bound == 0 {
            false
        } else if self.late {
            lag > bound / 2
        } else {
            lag > bound
        };
        std::mem::replace(&mut self.late, late) != late
    }

    /// The bound changed (settings): 0 ends the condition at once; otherwise the
    /// condition is judged again with the next data.
    pub fn configure(&mut self, bound: u64) -> bool {
        if bound == 0 && self.late {
            self.late = false;
            return true;
        }
        false
    }

    /// Forgets the condition (flush, a new stream, leaving the clock).
    pub fn clear(&mut self) -> bool {
        std::mem::replace(&mut self.late, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000_000_000;

    #[test]
    fn clock_only_when_live_and_watching() {
        assert_eq!(time_base(Some(true), true), TimeBase::Clock);
        assert_eq!(time_base(Some(true), false), TimeBase::Stream);
        assert_eq!(time_base(Some(false), true), TimeBase::Stream);
        assert_eq!(time_base(None, true), TimeBase::Stream);
    }

    #[test]
    fn lag_discounts_latency_and_never_goes_negative() {
        assert_eq!(lag(5 * SEC, 3 * SEC, 0), 2 * SEC);
        assert_eq!(lag(5 * SEC, 3 * SEC, 500 * MS), 1_500 * MS);
        assert_eq!(lag(5 * SEC, 3 * SEC, 3 * SEC), 0);
        assert_eq!(
            lag(SEC, 2 * SEC, 0),
            0,
            "data ahead of the clock is on time"
        );
    }

    #[test]
    fn quarter_speed_delivery_turns_late_after_the_bound() {
        // 20 ms units of a stream arriving at a quarter of real time: unit k (pts
        // 20k ms) arrives at clock 80 (k + 1) ms.
        let mut t = LateTracker::new();
        let mut late_at = None;
        for k in 0..200u64 {
            let arrival = 80 * (k + 1) * MS;
            let end = 20 * (k + 1) * MS;
            if t.on_data(lag(arrival, end, 0), SEC) {
                late_at = Some((k, lag(arrival, end, 0)));
                break;
            }
        }
        // lag = 60 (k + 1) ms > 1000 ms from k = 16 on
        assert_eq!(late_at, Some((16, 1_020 * MS)));
        assert!(t.is_late());
    }

    #[test]
    fn hysteresis_and_recovery() {
        let mut t = LateTracker::new();
        assert!(!t.on_data(SEC, SEC), "exactly at the bound is on time");
        assert!(t.on_data(SEC + 1, SEC));
        // within the bound but more than half of it: still late
        assert!(!t.on_data(700 * MS, SEC));
        assert!(t.is_late());
        // caught up
        assert!(t.on_data(500 * MS, SEC));
        assert!(!t.is_late());
    }

    #[test]
    fn zero_bound_is_off() {
        let mut t = LateTracker::new();
        assert!(!t.on_data(100 * SEC, 0));
        assert!(t.on_data(100 * SEC, SEC));
        assert!(t.configure(0));
        assert!(!t.is_late());
        assert!(!t.configure(0));
        assert!(t.on_data(100 * SEC, SEC));
        assert!(t.clear());
        assert!(!t.clear());
    }
}

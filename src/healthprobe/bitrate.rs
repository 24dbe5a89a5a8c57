// SPDX-License-Identifier: MPL-2.0
//! Bitrate of a stream over a sliding window of time.
//!
//! Every buffer is recorded with a time, duration (if known) and size. The bitrate
//! is the number of bits whose buffers start inside the last `window` of time,
//! divided by that window. The time is either the stream's own running time (the
//! buffers' timestamps) or, for a live stream, the clock's running time at which
//! each buffer arrived; then [`BitrateWindow::advance`] moves the window on with
//! the clock, so a stream that delivers less than real time reads as such. Until a whole window has been seen the
//! value is an estimate over what has been seen, and no verdict is given, so a
//! stream is never called "low bitrate" just because it has only started.

use std::collections::VecDeque;

/// How far above `min-bitrate` a low stream must come back to be fine again.
pub const RECOVERY_MARGIN_PERCENT: u64 = 5;

#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u64,
    bytes: u64,
}

#[derive(Debug, Clone)]
pub struct BitrateWindow {
    window_ns: u64,
    entries: VecDeque<Entry>,
    bytes_in_window: u64,
    /// Running time of the first buffer since the last reset.
    first: Option<u64>,
    /// Largest end running time seen since the last reset.
    head: u64,
    /// Last judgement made over a full window; kept over resets so a flush does not
    /// make a low-bitrate stream look healthy until the window is full again.
    low: bool,
}

impl BitrateWindow {
    pub fn new(window_ns: u64) -> Self {
        BitrateWindow {
            window_ns: window_ns.max(1),
            entries: VecDeque::new(),
            bytes_in_window: 0,
            first: None,
            head: 0,
            low: false,
        }
    }

    pub fn set_window(&mut self, window_ns: u64) {
        self.window_ns = window_ns.max(1);
        self.trim();
    }

    /// Forgets the measured buffers (after a flush or a discontinuity that makes
    /// running times incomparable); the last verdict stays.
    pub fn reset(&mut self) {
        self.entries.clear();
        self.bytes_in_window = 0;
        self.first = None;
        self.head = 0;
    }

    /// Records a buffer of `bytes` bytes that starts at running time `start`.
    pub fn push(&mut self, start: u64, duration: Option<u64>, bytes: u64) {
        if self.first.is_some() && start.saturating_add(self.window_ns) < self.head {
            // Running time went back by more than a window: the old entries can no
            // longer be compared with the new ones.
            self.reset();
        }
        let end = start.saturating_add(duration.unwrap_or(0));
        if self.first.is_none() {
            self.first = Some(start);
        }
        self.head = self.head.max(end).max(start);
        // Buffers with the same start (stuck or duplicated timestamps) share one
        // entry, so that the window cannot grow without bound.
        match self.entries.back_mut() {
            Some(last) if last.start == start => last.bytes = last.bytes.saturating_add(bytes),
            _ => self.entries.push_back(Entry { start, bytes }),
        }
        self.bytes_in_window = self.bytes_in_window.saturating_add(bytes);
        self.trim();
    }

    /// Moves the end of the window to `now` (clock time base): what arrived more
    /// than a window before `now` leaves the window even when nothing new arrives.
    /// Does nothing before the first buffer or when `now` is not later.
    pub fn advance(&mut self, now: u64) {
        if self.first.is_some() && now > self.head {
            self.head = now;
            self.trim();
        }
    }

    fn trim(&mut self) {
        let from = self.head.saturating_sub(self.window_ns);
        while let Some(e) = self.entries.front() {
            if e.start < from {
                self.bytes_in_window = self.bytes_in_window.saturating_sub(e.bytes);
                self.entries.pop_front();
            } else {
                break;
            }
        }
    }

    /// Whether a whole window of running time has been seen since the last reset.
    pub fn is_full(&self) -> bool {
        self.first
            .is_some_and(|first| self.head.saturating_sub(first) >= self.window_ns)
    }

    /// Bitrate in bit/s over the window, or over what has been seen when the window
    /// is not full yet. `None` before any running time has passed.
    pub fn bitrate(&self) -> Option<u64> {
        let first = self.first?;
        let span = if self.is_full() {
            self.window_ns
        } else {
            self.head.saturating_sub(first)
        };
        if span == 0 {
            return None;
        }
        let bits = u128::from(self.bytes_in_window) * 8 * 1_000_000_000;
        Some((bits / u128::from(span)).try_into().unwrap_or(u64::MAX))
    }

    /// Judges the bitrate against `min_bitrate` (0: never low). The verdict only
    /// changes when a whole window has been measured. A low stream is fine again
    /// only once it reaches [`RECOVERY_MARGIN_PERCENT`] above the minimum, so a link
    /// that carries just about the minimum does not flip the verdict every buffer.
    pub fn judge(&mut self, min_bitrate: u64) -> bool {
        if min_bitrate == 0 {
            self.low = false;
        } else if self.is_full()
            && let Some(rate) = self.bitrate()
        {
            let threshold = if self.low {
                min_bitrate.saturating_add(min_bitrate / 100 * RECOVERY_MARGIN_PERCENT)
            } else {
                min_bitrate
            };
            self.low = rate < threshold;
        }
        self.low
    }

    pub fn is_low(&self) -> bool {
        self.low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000_000_000;

    /// Pushes `count` buffers of `ms` ms and `bytes` bytes from `start`.
    fn feed(w: &mut BitrateWindow, start: u64, count: u64, ms: u64, bytes: u64) -> u64 {
        let mut t = start;
        for _ in 0..count {
            w.push(t, Some(ms * MS), bytes);
            t += ms * MS;
        }
        t
    }

    #[test]
    fn constant_bitrate_is_measured_exactly() {
        let mut w = BitrateWindow::new(2 * SEC);
        // 128 kbit/s: 20 ms buffers of 320 bytes
        feed(&mut w, 0, 500, 20, 320);
        assert!(w.is_full());
        assert_eq!(w.bitrate(), Some(128_000));
    }

    #[test]
    fn estimate_before_the_window_is_full_but_no_verdict() {
        let mut w = BitrateWindow::new(2 * SEC);
        feed(&mut w, 0, 10, 20, 10);
        assert!(!w.is_full());
        assert_eq!(w.bitrate(), Some(4_000));
        assert!(!w.judge(64_000));
    }

    #[test]
    fn low_bitrate_is_detected_and_recovers() {
        let mut w = BitrateWindow::new(2 * SEC);
        let t = feed(&mut w, 0, 100, 20, 320);
        assert!(!w.judge(64_000));
        // drop to 16 kbit/s for a full window
        let t = feed(&mut w, t, 100, 20, 40);
        assert_eq!(w.bitrate(), Some(16_000));
        assert!(w.judge(64_000));
        // back to 128 kbit/s: healthy once the window is above the minimum again
        let mut t = t;
        let mut steps = 0;
        while w.judge(64_000) {
            w.push(t, Some(20 * MS), 320);
            t += 20 * MS;
            steps += 1;
            assert!(steps <= 100, "never recovered");
        }
        // the window holds 100 buffers; k new 320-byte buffers replace 40-byte ones,
        // and 64 kbit/s + 5 % over 2 s is 16800 bytes: 320 k + 40 (100 - k) >= 16800
        let expected = (16_800u64 - 4_000).div_ceil(280);
        assert_eq!(steps, expected);
    }

    #[test]
    fn a_rate_hovering_at_the_minimum_does_not_flap() {
        // 96 kbit/s on a 96 kbit/s minimum: 270, 225, 225 bytes per 20 ms in turn.
        // The 1 s window (50 buffers) holds 12015 or 11970 bytes: just above and
        // just below 12000, changing with most buffers.
        let mut w = BitrateWindow::new(SEC);
        let mut flips = 0;
        let mut low = false;
        for k in 0..500u64 {
            let bytes = if k % 3 == 0 { 270 } else { 225 };
            w.push(k * 20 * MS, Some(20 * MS), bytes);
            if w.judge(96_000) != low {
                low = !low;
                flips += 1;
            }
        }
        assert!(flips <= 1, "{flips} flips");
        // 5 % above the minimum is fine again
        for k in 500..600u64 {
            w.push(k * 20 * MS, Some(20 * MS), 253);
        }
        assert!(!w.judge(96_000));
    }

    #[test]
    fn zero_minimum_disables_the_verdict() {
        let mut w = BitrateWindow::new(SEC);
        feed(&mut w, 0, 100, 20, 1);
        assert!(!w.judge(0));
        assert!(w.judge(1_000_000));
        assert!(!w.judge(0));
    }

    #[test]
    fn buffers_without_duration_are_counted_by_start_time() {
        let mut w = BitrateWindow::new(SEC);
        for i in 0..200u64 {
            w.push(i * 10 * MS, None, 100);
        }
        assert!(w.is_full());
        // 100 bytes every 10 ms = 80 kbit/s (one extra buffer on the window edge)
        let rate = w.bitrate().unwrap();
        assert!((80_000..=80_800).contains(&rate), "{rate}");
    }

    #[test]
    fn reset_keeps_verdict_until_a_window_is_measured_again() {
        let mut w = BitrateWindow::new(SEC);
        feed(&mut w, 0, 100, 20, 1);
        assert!(w.judge(64_000));
        w.reset();
        assert!(w.bitrate().is_none());
        feed(&mut w, 0, 10, 20, 1000);
        assert!(
            w.judge(64_000),
            "verdict must be held while the window refills"
        );
        feed(&mut w, 200 * MS, 50, 20, 1000);
        assert!(!w.judge(64_000));
    }

    #[test]
    fn stuck_timestamps_do_not_grow_the_window() {
        let mut w = BitrateWindow::new(SEC);
        for _ in 0..100_000 {
            w.push(5 * SEC, None, 100);
        }
        assert_eq!(w.entries.len(), 1);
        assert_eq!(w.bytes_in_window, 10_000_000);
    }

    #[test]
    fn arrival_times_measure_real_throughput() {
        // A 128 kbit/s stream (320 bytes per 20 ms unit) arriving at a quarter of
        // real time: one unit every 80 ms of clock. Measured over arrival times, it
        // carries 32 kbit/s, whatever its timestamps say.
        let mut w = BitrateWindow::new(2 * SEC);
        for k in 1..=100u64 {
            w.push(80 * k * MS, None, 320);
        }
        assert!(w.is_full());
        // 25 units per 2 s, plus the one on the window's edge
        assert_eq!(w.bitrate(), Some(26 * 320 * 8 / 2));
        assert!(w.judge(96_000));
    }

    #[test]
    fn advance_lets_the_window_drain_without_data() {
        let mut w = BitrateWindow::new(SEC);
        w.advance(5 * SEC);
        assert!(w.bitrate().is_none(), "nothing before the first buffer");
        for k in 0..50u64 {
            w.push(k * 20 * MS, None, 320);
        }
        // 50 units of 320 bytes up to 980 ms: not a whole window yet
        assert!(!w.judge(64_000));
        w.advance(1_520 * MS);
        // units at 520..=980 ms are left: 24 of them
        assert_eq!(w.bitrate(), Some(24 * 320 * 8));
        assert!(w.judge(64_000));
        w.advance(10 * SEC);
        assert_eq!(w.bitrate(), Some(0));
        w.advance(SEC);
        assert_eq!(w.bitrate(), Some(0), "the window never goes back");
    }

    #[test]
    fn running_time_going_back_restarts_the_window() {
        let mut w = BitrateWindow::new(SEC);
        feed(&mut w, 10 * SEC, 100, 20, 100);
        w.push(0, Some(20 * MS), 100);
        assert!(!w.is_full());
        assert_eq!(w.bitrate(), Some(40_000));
    }
}

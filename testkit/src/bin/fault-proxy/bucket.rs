// SPDX-License-Identifier: MPL-2.0
//! A token bucket: the throttle of the proxy.
//!
//! Tokens (bytes) accrue at `rate` per second up to a small capacity (20 ms of
//! data, at least 64 bytes), so a throttled link delivers a smooth stream of small
//! writes instead of a burst per second. Times are durations since any fixed
//! instant, so the bucket is tested without sleeping.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    capacity: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// Largest burst at `rate` bytes/s: 20 ms worth, at least 64 bytes.
    pub fn burst_for(rate: u64) -> u64 {
        (rate / 50).max(64)
    }

    /// An empty bucket filling at `rate` bytes/s from `now` on.
    pub fn new(rate: u64, now: Duration) -> Self {
        let rate = rate.max(1);
        TokenBucket {
            rate,
            capacity: Self::burst_for(rate) as f64,
            tokens: 0.0,
            last: now,
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    fn refill(&mut self, now: Duration) {
        if now > self.last {
            let dt = (now - self.last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate as f64).min(self.capacity);
            self.last = now;
        }
    }

    /// Takes up to `want` bytes' worth of tokens at `now`; returns how many it got.
    pub fn take(&mut self, want: usize, now: Duration) -> usize {
        self.refill(now);
        let n = (self.tokens.floor() as usize).min(want);
        self.tokens -= n as f64;
        n
    }

    /// How long from `now` until `want` bytes (at most one burst) can be taken.
    pub fn wait(&mut self, want: usize, now: Duration) -> Duration {
        self.refill(now);
        let want = (want as f64).min(self.capacity).max(1.0);
        if self.tokens >= want {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((want - self.tokens) / self.rate as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn starts_empty_and_fills_at_the_rate() {
        let mut b = TokenBucket::new(4000, Duration::ZERO);
        assert_eq!(b.capacity(), 80);
        assert_eq!(b.take(1000, Duration::ZERO), 0);
        assert_eq!(b.take(1000, 10 * MS), 40);
        assert_eq!(b.take(1000, 10 * MS), 0);
        assert_eq!(b.wait(40, 10 * MS), 10 * MS);
    }

    #[test]
    fn bursts_are_capped_at_twenty_ms() {
        let mut b = TokenBucket::new(16_000, Duration::ZERO);
        // an idle second does not allow a second's worth at once
        assert_eq!(b.take(100_000, Duration::from_secs(1)), 320);
        assert_eq!(TokenBucket::burst_for(100), 64);
        assert_eq!(TokenBucket::burst_for(1_000_000), 20_000);
    }

    #[test]
    fn greedy_writer_gets_the_rate_over_time() {
        // A writer that always wants more, waking when told to: over 10 s it gets
        // 10 s of tokens (plus at most one burst).
        for rate in [4_000u64, 12_000, 16_000, 1_000_000] {
            let mut b = TokenBucket::new(rate, Duration::ZERO);
            let mut now = Duration::ZERO;
            let mut got = 0u64;
            let end = Duration::from_secs(10);
            while now < end {
                got += b.take(1 << 20, now) as u64;
                now += b.wait(1 << 20, now).max(Duration::from_micros(100));
            }
            let expect = rate * 10;
            assert!(
                got <= expect + TokenBucket::burst_for(rate) && got + rate / 50 >= expect,
                "{rate}: {got}"
            );
        }
    }

    #[test]
    fn small_wants_and_clock_going_back_are_harmless() {
        let mut b = TokenBucket::new(1000, Duration::from_secs(5));
        assert_eq!(b.take(10, Duration::from_secs(1)), 0);
        assert_eq!(b.take(10, Duration::from_secs(5) + 10 * MS), 10);
        assert_eq!(b.wait(0, Duration::from_secs(5) + 10 * MS), MS);
        assert_eq!(b.rate(), 1000);
    }
}

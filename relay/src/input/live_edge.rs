// SPDX-License-Identifier: MPL-2.0
//! Finding the live edge of a (re)connected HTTP input. Plain Rust, unit-tested.
//!
//! Icecast sends a burst of past data (64 KiB by default: 4 s at 128 kbit/s, 8 s at
//! 64 kbit/s) to every new listener, then real-time data. Timestamped from zero at
//! connection, an input would therefore run seconds ahead of the clock, by a
//! different amount on each input and after every reconnection, and the two inputs'
//! running times, which `failoverswitch` maps onto one output timeline, would not
//! line up. So after each (re)connection the relay drops the input's data for a
//! short settle time, learns the smallest `arrival - timestamp` (the live edge: the
//! burst arrives early, real-time data at the edge), and then offsets the input so
//! that live data sits `latency` after its arrival on the pipeline clock.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Still settling: drop this buffer.
    Drop,
    /// Settled on this buffer: apply this pad offset (ns) from now on.
    Align(i64),
    /// Already aligned.
    Pass,
}

#[derive(Debug, Clone)]
pub(crate) struct LiveEdge {
    settle: u64,
    latency: u64,
    start: Option<u64>,
    min_delta: Option<i128>,
    aligned: bool,
}

impl LiveEdge {
    pub(crate) fn new(settle_ns: u64, latency_ns: u64) -> Self {
        LiveEdge {
            settle: settle_ns,
            latency: latency_ns,
            start: None,
            min_delta: None,
            aligned: false,
        }
    }

    /// Forget everything (the input is reconnecting).
    pub(crate) fn reset(&mut self) {
        self.start = None;
        self.min_delta = None;
        self.aligned = false;
    }

    /// A buffer with running time `rt` (before any offset) arrives at clock running
    /// time `now`.
    pub(crate) fn on_buffer(&mut self, now: u64, rt: u64) -> Verdict {
        if self.aligned {
            return Verdict::Pass;
        }
        let start = *self.start.get_or_insert(now);
        let delta = now as i128 - rt as i128;
        let min = self.min_delta.map_or(delta, |m| m.min(delta));
        self.min_delta = Some(min);
        if now.saturating_sub(start) < self.settle {
            return Verdict::Drop;
        }
        self.aligned = true;
        let off = (min + self.latency as i128).clamp(i64::MIN as i128, i64::MAX as i128);
        Verdict::Align(off as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// Frames of 21.3 ms: a 4 s burst at connection (t = 10 s), then real time.
    #[test]
    fn burst_is_dropped_and_live_data_sits_latency_after_arrival() {
        let frame = 21_333_333u64;
        let mut e = LiveEdge::new(1000 * MS, 300 * MS);
        let connect = 10_000 * MS;
        let burst_frames = (4_000 * MS) / frame;
        let mut offset = None;
        let mut i = 0u64;
        loop {
            let rt = i * frame;
            // Burst frames all arrive within 50 ms, then one frame per frame duration.
            let now = if i < burst_frames {
                connect + i * 50 * MS / burst_frames
            } else {
                connect + 50 * MS + (i - burst_frames) * frame
            };
            match e.on_buffer(now, rt) {
                Verdict::Drop => assert!(offset.is_none()),
                Verdict::Align(o) => {
                    offset = Some(o);
                    // The first buffer that goes out plays `latency` after arrival.
                    let out = rt as i64 + o;
                    assert!(
                        (out - now as i64 - 300 * MS as i64).abs() < 2 * MS as i64,
                        "{out} {now}"
                    );
                }
                Verdict::Pass => {
                    let out = rt as i64 + offset.unwrap();
                    let lead = out - now as i64;
                    assert!(
                        (lead - 300 * MS as i64).abs() < 2 * MS as i64,
                        "lead {lead}"
                    );
                }
            }
            i += 1;
            if i > burst_frames + 200 {
                break;
            }
        }
        assert!(offset.is_some());
    }

    #[test]
    fn reset_starts_a_new_settle_period() {
        let mut e = LiveEdge::new(100 * MS, 0);
        assert_eq!(e.on_buffer(0, 0), Verdict::Drop);
        assert_eq!(e.on_buffer(100 * MS, 100 * MS), Verdict::Align(0));
        assert_eq!(e.on_buffer(200 * MS, 200 * MS), Verdict::Pass);
        e.reset();
        // Reconnected 60 s later; timestamps restart at 0.
        assert_eq!(e.on_buffer(60_000 * MS, 0), Verdict::Drop);
        assert_eq!(
            e.on_buffer(60_100 * MS, 100 * MS),
            Verdict::Align(60_000 * MS as i64)
        );
    }
}

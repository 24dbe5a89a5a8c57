// SPDX-License-Identifier: MPL-2.0
//! Placing one input connection's data on the main pipeline's timeline, and judging
//! how it keeps up with real time. Plain Rust, unit-tested; all times in ns.
//!
//! Every connection timestamps its data from its own zero (`aacparse` counts frames
//! from the connection, `flvdemux` starts each connection at 0). The main pipeline
//! needs them on its running time, where "now" is the clock. A connection's data
//! does not arrive on its live edge at first: Icecast sends a new listener a burst
//! of past data (64 KiB: 4 s at 128 kbit/s), then real-time data. So for a short
//! settle time after the first data the connection's samples are held back, and the
//! smallest `arrival - timestamp` seen is learnt: the burst arrives early, real-time
//! data on the edge. That delta is the connection's offset, shared by its audio and
//! video so they stay in sync: data on the live edge maps to its arrival. Held
//! samples are then placed too; the caller keeps those that are not in the past.
//!
//! Afterwards the clock tells, for every sample, how far the connection runs behind
//! its live edge (`lag`: a throttled link delivers ever later) or ahead of it (`lead`:
//! the offset was learnt on data that was not live, e.g. a burst that came in at a
//! throttled rate), and at what rate it delivers stream time over the last `window`
//! of arrivals since the anchor (1.0: real time).
//!
//! The smallest delta of the settle time can come from a clump of data that arrived
//! early (RTMP delivers in clumps: the server's chunks, the encoder's interleaving),
//! so that the steady-state data afterwards all arrives behind the edge it was
//! given. The clock watches that too: per `window` of arrivals, how far its earliest
//! data was behind its edge ([`ConnClock::behind`]). Two windows in a row with the
//! same amount, delivered at real-time rate, mean a placement error, not a link
//! falling behind; the caller may then move the connection forward by it
//! ([`ConnClock::replace`]) while the connection is not on air.
//!
//! Compared with what it replaces (a pad offset learnt the same way, settle data
//! dropped): held samples survive the settle time (a video keyframe at the start
//! of a connection is not lost), and lag, lead and rate are measured, so the
//! connection's health is judged here, per connection, not from the switch's
//! timeout alone.

use std::collections::VecDeque;

/// Where a sample goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Still settling: hold the sample until the offset is known.
    Hold,
    /// Settled on this sample: the offset (ns) from now on; held samples and this
    /// one are mapped with it.
    Anchor(i64),
    /// Already anchored: map with this offset.
    Pass(i64),
}

/// One connection's timeline.
#[derive(Debug, Clone)]
pub(crate) struct ConnClock {
    settle: u64,
    window: u64,
    first_arrival: Option<u64>,
    min_delta: Option<i128>,
    offset: Option<i64>,
    /// End (input running time) of the latest data.
    end: Option<u64>,
    /// (arrival, stream end so far) of recent samples, oldest first.
    recent: VecDeque<(u64, u64)>,
    /// The window of arrivals being watched for data behind its edge: its start
    /// and the smallest `arrival - start` in it.
    watch: Option<(u64, i128)>,
    /// The smallest `arrival - start` of the last two complete windows (the newer
    /// first).
    watched: [Option<i128>; 2],
    /// Windows watched since the anchor (for `RELAY_DEBUG_EDGE`).
    windows: u64,
}

/// Windows whose earliest data was within this of each other are the same
/// placement error (ns).
const BEHIND_STEADY: i128 = 20_000_000;
/// Less than this behind the edge is left alone (ns): half a video frame.
pub(crate) const BEHIND_MIN: u64 = 20_000_000;

impl ConnClock {
    /// `settle_ns`: how long the first data is held while the live edge is learnt;
    /// `window_ns`: the span of arrivals the delivery rate is measured over.
    pub(crate) fn new(settle_ns: u64, window_ns: u64) -> ConnClock {
        ConnClock {
            settle: settle_ns,
            window: window_ns.max(1),
            first_arrival: None,
            min_delta: None,
            offset: None,
            end: None,
            recent: VecDeque::new(),
            watch: None,
            watched: [None; 2],
            windows: 0,
        }
    }

    /// A sample covering input running time `start..end` arrives at `now` (main
    /// pipeline running time).
    pub(crate) fn on_sample(&mut self, now: u64, start: u64, end: u64) -> Place {
        let first = *self.first_arrival.get_or_insert(now);
        let stream_end = self.end.map_or(end, |e| e.max(end));
        self.end = Some(stream_end);
        self.recent.push_back((now, stream_end));
        // Keep one entry at or before the window's start: the rate's base.
        let horizon = now.saturating_sub(self.window);
        while self.recent.len() > 2 && self.recent.get(1).is_some_and(|&(a, _)| a <= horizon) {
            self.recent.pop_front();
        }
        let delta = i128::from(now) - i128::from(start);
        if let Some(off) = self.offset {
            self.watch(now, delta);
            return Place::Pass(off);
        }
        let min = self.min_delta.map_or(delta, |m| m.min(delta));
        self.min_delta = Some(min);
        if now.saturating_sub(first) < self.settle {
            return Place::Hold;
        }
        let off = min.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        self.offset = Some(off);
        // The rate counts from here: what came before (a burst, or the bulk that
        // typefinding and parsing release at once) says nothing about the link.
        self.recent.clear();
        self.recent.push_back((now, stream_end));
        self.watch = None;
        self.watched = [None; 2];
        Place::Anchor(off)
    }

    /// Counts a sample's `arrival - start` into the watched window.
    fn watch(&mut self, now: u64, delta: i128) {
        let (start, min) = *self.watch.get_or_insert((now, delta));
        if now.saturating_sub(start) >= self.window {
            self.watched = [Some(min), self.watched[0]];
            self.watch = Some((now, delta));
            self.windows += 1;
        } else {
            self.watch = Some((start, min.min(delta)));
        }
    }

    /// Windows of arrivals watched since the anchor, and how far the earliest data
    /// of the last one was behind its edge (ns; negative: ahead).
    pub(crate) fn last_window(&self) -> (u64, Option<i64>) {
        let behind = self.watched[0].zip(self.offset).map(|(m, o)| {
            (m - i128::from(o)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
        });
        (self.windows, behind)
    }

    /// How far the earliest data of the last complete window of arrivals was behind
    /// its edge (ns; 0 on the edge), if that was the same in the two last windows
    /// (within 20 ms; the smaller of the two). None before two windows since the
    /// anchor (or the last re-placement), or while it changes (a link falling
    /// behind, or catching up).
    pub(crate) fn behind(&self) -> Option<u64> {
        let off = i128::from(self.offset?);
        let [Some(a), Some(b)] = self.watched else {
            return None;
        };
        ((a - b).abs() <= BEHIND_STEADY)
            .then(|| (a.min(b) - off).clamp(0, i128::from(u64::MAX)) as u64)
    }

    /// Moves the connection forward (later on the main timeline) by what it is
    /// steadily [`behind`](ConnClock::behind) its edge, when that is at least
    /// [`BEHIND_MIN`] and at most `max`, and it delivers at real-time rate (within
    /// 5 % at `now`): the data it delivers from now on is on its edge. Returns the
    /// new offset. Never backwards: a connection ahead of its edge is the
    /// supervisor's to judge (`lead`).
    pub(crate) fn replace(&mut self, now: u64, max: u64) -> Option<i64> {
        let by = self.behind()?;
        let steady = self.rate(now).is_some_and(|r| (r - 1.0).abs() <= 0.05);
        if by < BEHIND_MIN || by > max || !steady {
            return None;
        }
        let off = self.offset?.saturating_add(i64::try_from(by).ok()?);
        self.offset = Some(off);
        self.watch = None;
        self.watched = [None; 2];
        Some(off)
    }

    /// Whether the offset is known.
    #[cfg(test)]
    pub(crate) fn anchored(&self) -> bool {
        self.offset.is_some()
    }

    /// Input running time `rt` on the main timeline (None before anchoring; times
    /// before the main pipeline's zero clamp to 0).
    pub(crate) fn map(&self, rt: u64) -> Option<u64> {
        self.mapper()(rt)
    }

    /// [`ConnClock::map`] as a function that does not borrow the clock.
    pub(crate) fn mapper(&self) -> impl Fn(u64) -> Option<u64> + use<> {
        let off = self.offset;
        move |rt| {
            off.map(|o| (i128::from(rt) + i128::from(o)).clamp(0, i128::from(u64::MAX)) as u64)
        }
    }

    /// How far the latest data runs behind its live edge at `now` (ns; negative
    /// while the data is ahead of it). None before anchoring.
    pub(crate) fn lag(&self, now: u64) -> Option<i64> {
        let end = self.map(self.end?)?;
        Some(
            (i128::from(now) - i128::from(end)).clamp(i128::from(i64::MIN), i128::from(i64::MAX))
                as i64,
        )
    }

    /// How far a sample starting at input running time `start` is ahead of `now`
    /// (ns; negative when behind). None before anchoring.
    pub(crate) fn lead(&self, now: u64, start: u64) -> Option<i64> {
        let s = self.map(start)?;
        Some(
            (i128::from(s) - i128::from(now)).clamp(i128::from(i64::MIN), i128::from(i64::MAX))
                as i64,
        )
    }

    /// Stream time delivered per wall time over the last `window` of arrivals (or
    /// since the connection was anchored, if that is shorter), at `now`; None until
    /// a tenth of the window has passed since the anchor.
    pub(crate) fn rate(&self, now: u64) -> Option<f64> {
        let horizon = now.saturating_sub(self.window);
        let &(base_at, base_end) = self
            .recent
            .iter()
            .rev()
            .find(|&&(a, _)| a <= horizon)
            .or(self.recent.front())?;
        let end = self.end?;
        let span = now.saturating_sub(base_at);
        if span < self.window / 10 || span == 0 {
            return None;
        }
        Some(end.saturating_sub(base_end) as f64 / span as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const FRAME: u64 = 21_333_333;

    /// Feeds frames of 21.3 ms: `burst` frames within 50 ms at `connect`, then one
    /// frame per `FRAME / speed` (speed 1.0: real time). Returns the clock and the
    /// (arrival, start, place) of every frame.
    fn feed(
        clock: &mut ConnClock,
        connect: u64,
        burst: u64,
        speed: f64,
        frames: u64,
    ) -> Vec<(u64, u64, Place)> {
        (0..frames)
            .map(|i| {
                let rt = i * FRAME;
                let now = if i < burst {
                    connect + i * 50 * MS / burst.max(1)
                } else {
                    connect + 50 * MS + ((i - burst) as f64 * FRAME as f64 / speed) as u64
                };
                (now, rt, clock.on_sample(now, rt, rt + FRAME))
            })
            .collect()
    }

    #[test]
    fn burst_is_held_and_live_data_maps_to_its_arrival() {
        let mut c = ConnClock::new(500 * MS, 2000 * MS);
        let burst = 4000 * MS / FRAME;
        let got = feed(&mut c, 10_000 * MS, burst, 1.0, 400);
        let anchor = got
            .iter()
            .position(|(_, _, p)| matches!(p, Place::Anchor(_)))
            .unwrap();
        assert!(got[..anchor].iter().all(|(_, _, p)| *p == Place::Hold));
        assert!(
            got[anchor + 1..]
                .iter()
                .all(|(_, _, p)| matches!(p, Place::Pass(_)))
        );
        // Anchored after the settle time, on live data.
        assert!(got[anchor].0 >= 10_500 * MS && got[anchor].0 < 10_530 * MS);
        for &(now, rt, _) in &got[anchor..] {
            let mapped = c.map(rt).unwrap();
            assert!(mapped.abs_diff(now) < 2 * MS, "{mapped} {now}");
        }
        // The burst's frames map into the past: the caller drops them.
        assert!(c.map(got[0].1).unwrap() + 3_900 * MS < got[0].0);
        let now = got.last().unwrap().0;
        assert!(c.lag(now).unwrap().abs() < 25 * MS as i64);
        let rate = c.rate(now).unwrap();
        assert!((rate - 1.0).abs() < 0.02, "{rate}");
    }

    #[test]
    fn a_throttled_link_falls_behind_and_shows_its_rate() {
        // 96 kbit/s for a 128 kbit/s stream: the burst too comes at 0.75x.
        let mut c = ConnClock::new(500 * MS, 2000 * MS);
        let got = feed(&mut c, 0, 0, 0.75, 300);
        let now = got.last().unwrap().0;
        // 300 frames = 6.4 s of stream over 8.5 s: 2.1 s behind.
        let lag = c.lag(now).unwrap();
        assert!((lag - 2_130 * MS as i64).abs() < 50 * MS as i64, "{lag}");
        let rate = c.rate(now).unwrap();
        assert!((rate - 0.75).abs() < 0.02, "{rate}");
        // 300 ms after anchoring the rate says it, even when the first data came
        // out in a bulk (as typefinding releases what it collected).
        let mut c = ConnClock::new(500 * MS, 2000 * MS);
        for i in 0..40u64 {
            c.on_sample(300 * MS, i * FRAME, (i + 1) * FRAME);
        }
        let mut i = 40;
        let anchored_at = loop {
            let now = 300 * MS + ((i - 39) as f64 * FRAME as f64 / 0.75) as u64;
            if let Place::Anchor(_) = c.on_sample(now, i * FRAME, (i + 1) * FRAME) {
                break now;
            }
            i += 1;
        };
        assert_eq!(c.rate(anchored_at), None);
        let mut now = anchored_at;
        while now < anchored_at + 300 * MS {
            i += 1;
            now = 300 * MS + ((i - 39) as f64 * FRAME as f64 / 0.75) as u64;
            c.on_sample(now, i * FRAME, (i + 1) * FRAME);
        }
        let rate = c.rate(now).unwrap();
        assert!((rate - 0.75).abs() < 0.05, "{rate}");
    }

    #[test]
    fn a_burst_at_a_slow_rate_is_anchored_wrong_and_shows_as_lead_when_the_link_recovers() {
        let mut c = ConnClock::new(500 * MS, 2000 * MS);
        // 4 s of burst at 0.25x: 30 frames in 2.56 s...
        let mut now = 0;
        for i in 0..30u64 {
            now = i * FRAME * 4;
            c.on_sample(now, i * FRAME, (i + 1) * FRAME);
        }
        // ...then the link recovers: the rest of the burst comes at once.
        let mut lead = 0;
        for i in 30..200u64 {
            let rt = i * FRAME;
            c.on_sample(now + MS, rt, rt + FRAME);
            lead = c.lead(now + MS, rt).unwrap();
        }
        assert!(lead > 1_000 * MS as i64, "{lead}");
    }

    #[test]
    fn stall_then_backlog_catches_up() {
        let mut c = ConnClock::new(500 * MS, 2000 * MS);
        let got = feed(&mut c, 0, 0, 1.0, 100);
        let (last, _, _) = *got.last().unwrap();
        // No data for 1.5 s: behind by that much, rate down.
        let stalled = last + 1500 * MS;
        assert!(c.lag(stalled).unwrap() > 1_400 * MS as i64);
        assert!(c.rate(stalled).unwrap() < 0.5);
        // The backlog arrives at once, then real time again: caught up.
        let mut now = stalled;
        for i in 100..250u64 {
            now = stalled.max(50 * MS + i * FRAME);
            c.on_sample(now, i * FRAME, (i + 1) * FRAME);
        }
        assert!(
            c.lag(now).unwrap().abs() < 30 * MS as i64,
            "{:?}",
            c.lag(now)
        );
        assert!(c.rate(now).unwrap() > 0.95);
    }

    #[test]
    fn unknown_before_data_and_before_anchoring() {
        let mut c = ConnClock::new(100 * MS, 2000 * MS);
        assert_eq!(c.rate(0), None);
        assert_eq!(c.lag(0), None);
        assert_eq!(c.on_sample(0, 0, FRAME), Place::Hold);
        assert_eq!(c.map(0), None);
        assert!(!c.anchored());
        // A reconnection 60 s into the main timeline, timestamps from 0.
        let mut c = ConnClock::new(100 * MS, 2000 * MS);
        assert_eq!(c.on_sample(60_000 * MS, 0, FRAME), Place::Hold);
        assert_eq!(
            c.on_sample(60_100 * MS, 100 * MS, 100 * MS + FRAME),
            Place::Anchor(60_000 * MS as i64)
        );
        assert_eq!(c.map(200 * MS), Some(60_200 * MS));
        assert_eq!(
            c.on_sample(60_200 * MS, 200 * MS, 200 * MS + FRAME),
            Place::Pass(60_000 * MS as i64)
        );
    }

    /// RTMP-like delivery of 40 ms video frames: clumps of 8 frames (320 ms), each
    /// when its last frame is due, at `speed` times real time; the clump that ends
    /// at `early_clump` comes 300 ms sooner (a server flushing what it buffered).
    /// Returns the (arrival, start) of every frame fed.
    fn clumps(
        c: &mut ConnClock,
        frames: u64,
        speed: f64,
        early_clump: Option<u64>,
    ) -> Vec<(u64, u64)> {
        const VF: u64 = 40 * MS;
        (0..frames)
            .map(|i| {
                let start = i * VF;
                let clump = i / 8;
                let due = (clump * 8 + 7) * VF;
                let mut now = 1_000 * MS + (due as f64 / speed) as u64;
                if early_clump == Some(clump) {
                    now -= 300 * MS;
                }
                c.on_sample(now, start, start + VF);
                (now, start)
            })
            .collect()
    }

    #[test]
    fn a_clump_that_came_early_while_settling_leaves_the_data_behind_until_re_placed() {
        let mut c = ConnClock::new(500 * MS, 2000 * MS);
        // The second clump (frames 8..16) came 300 ms early, inside the settle time.
        let got = clumps(&mut c, 150, 1.0, Some(1));
        assert!(c.anchored());
        // Steadily 300 ms behind its edge: every clump's last frame (on time) maps
        // 300 ms before its arrival.
        assert_eq!(c.behind(), Some(300 * MS));
        let (now, _) = *got.last().unwrap();
        // More than the caller allows: left alone.
        assert_eq!(c.replace(now, 200 * MS), None);
        let before = c.map(0).unwrap();
        let off = c.replace(now, 500 * MS).unwrap();
        assert_eq!(c.map(0).unwrap(), before + 300 * MS);
        assert_eq!(c.map(0), Some(off as u64));
        // From now on the clumps' last frames map to their arrival: on the edge.
        let mut c2 = c.clone();
        for i in 150..200u64 {
            let start = i * 40 * MS;
            let due = (i / 8 * 8 + 7) * 40 * MS;
            let now = 1_000 * MS + due;
            c2.on_sample(now, start, start + 40 * MS);
            if i % 8 == 7 {
                assert_eq!(c2.map(start), Some(now));
            }
        }
        // Nothing more to re-place, and never backwards.
        let now = 1_000 * MS + 199 * 40 * MS;
        assert_eq!(c2.replace(now, 500 * MS), None);
    }

    #[test]
    fn data_on_its_edge_and_a_link_falling_behind_are_not_re_placed() {
        // On the edge (no early clump): behind by nothing.
        let mut c = ConnClock::new(500 * MS, 2000 * MS);
        let got = clumps(&mut c, 150, 1.0, None);
        assert_eq!(c.behind(), Some(0));
        assert_eq!(c.replace(got.last().unwrap().0, 500 * MS), None);
        // A link at 0.9x: ever further behind, a different amount every window:
        // the supervisor's to judge (late), not a placement to correct.
        let mut c = ConnClock::new(500 * MS, 2000 * MS);
        let got = clumps(&mut c, 150, 0.9, None);
        assert_eq!(c.behind(), None);
        assert_eq!(c.replace(got.last().unwrap().0, 5_000 * MS), None);
        // Before two whole windows since the anchor: not known.
        let mut c = ConnClock::new(500 * MS, 2000 * MS);
        clumps(&mut c, 60, 1.0, Some(1));
        assert_eq!(c.behind(), None);
    }
}

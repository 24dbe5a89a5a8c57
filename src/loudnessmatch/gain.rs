// SPDX-License-Identifier: MPL-2.0
//! Gain steering: a gated loudness follower and a rate-limited gain ramp.
//!
//! No GStreamer types here.

use super::meter::{energy_to_lufs, lufs_to_energy};
use std::collections::VecDeque;

/// BS.1770 absolute gate.
pub const ABSOLUTE_GATE_LUFS: f64 = -70.0;
/// BS.1770 relative gate, below the absolute-gated loudness.
pub const RELATIVE_GATE_LU: f64 = 10.0;
/// Blocks (100 ms steps) that decide the relative gate: one minute.
pub const GATE_HISTORY_BLOCKS: usize = 600;
/// Gated blocks averaged for `match` mode and for what a measuring element
/// publishes: 3 s of programme, like short-term loudness.
pub const MATCH_BLOCKS: usize = 30;
/// Gated blocks averaged for `normalize` mode: 10 s of programme.
pub const NORMALIZE_BLOCKS: usize = 100;

/// Follows the loudness of the programme from the 400 ms blocks of BS.1770 (one
/// every 100 ms), keeping only blocks that pass the absolute gate (-70 LUFS) and
/// the relative gate (10 LU below the absolute-gated loudness of the last minute).
///
/// Its estimate is the mean energy of the last `len` blocks that passed. Blocks of
/// silence or of pauses are not counted at all, so the estimate, and any gain
/// derived from it, holds still through them.
#[derive(Debug, Clone)]
pub struct Follower {
    len: usize,
    /// Energies of the last minute of blocks, gated by the absolute gate only
    /// (0.0 for blocks below it).
    history: VecDeque<f64>,
    history_sum: f64,
    history_count: usize,
    /// Energies of the last `len` blocks that passed both gates.
    passed: VecDeque<f64>,
    passed_sum: f64,
    updates: u64,
}

impl Follower {
    pub fn new(len: usize) -> Self {
        let len = len.max(1);
        Follower {
            len,
            history: VecDeque::with_capacity(GATE_HISTORY_BLOCKS),
            history_sum: 0.0,
            history_count: 0,
            passed: VecDeque::with_capacity(len),
            passed_sum: 0.0,
            updates: 0,
        }
    }

    pub fn reset(&mut self) {
        *self = Follower::new(self.len);
    }

    /// Averages the last `len` passed blocks from now on (a mode change).
    pub fn set_len(&mut self, len: usize) {
        self.len = len.max(1);
        while self.passed.len() > self.len {
            if let Some(old) = self.passed.pop_front() {
                self.passed_sum -= old;
            }
        }
    }

    /// Feed the loudness of the 400 ms block that just ended. Returns whether it
    /// passed the gates.
    pub fn push_block(&mut self, lufs: f64) -> bool {
        let energy = if lufs.is_finite() && lufs >= ABSOLUTE_GATE_LUFS {
            lufs_to_energy(lufs)
        } else {
            0.0
        };
        if self.history.len() == GATE_HISTORY_BLOCKS {
            match self.history.pop_front() {
                Some(old) if old > 0.0 => {
                    self.history_sum -= old;
                    self.history_count -= 1;
                }
                _ => {}
            }
        }
        self.history.push_back(energy);
        if energy > 0.0 {
            self.history_sum += energy;
            self.history_count += 1;
        }
        self.updates += 1;
        // Re-add from scratch now and then so rounding does not drift.
        if self.updates % GATE_HISTORY_BLOCKS as u64 == 0 {
            self.history_sum = self.history.iter().sum();
            self.passed_sum = self.passed.iter().sum();
        }
        if energy <= 0.0 || self.history_count == 0 {
            return false;
        }
        let gated = energy_to_lufs(self.history_sum / self.history_count as f64);
        if lufs < gated - RELATIVE_GATE_LU {
            return false;
        }
        if self.passed.len() == self.len {
            if let Some(old) = self.passed.pop_front() {
                self.passed_sum -= old;
            }
        }
        self.passed.push_back(energy);
        self.passed_sum += energy;
        true
    }

    /// Gated, smoothed loudness in LUFS, `None` until a block passed the gates.
    pub fn estimate(&self) -> Option<f64> {
        if self.passed.is_empty() {
            return None;
        }
        let e = (self.passed_sum / self.passed.len() as f64).max(f64::MIN_POSITIVE);
        Some(energy_to_lufs(e))
    }
}

/// Limits of the gain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GainLimits {
    pub min_db: f64,
    pub max_db: f64,
}

impl GainLimits {
    /// The bounds, lowest first (a `min-gain` above `max-gain` swaps them).
    pub fn ordered(&self) -> (f64, f64) {
        if self.min_db <= self.max_db {
            (self.min_db, self.max_db)
        } else {
            (self.max_db, self.min_db)
        }
    }

    pub fn clamp(&self, db: f64) -> f64 {
        let (lo, hi) = self.ordered();
        db.clamp(lo, hi)
    }
}

/// Gain that brings `own` loudness to `target`, before the bounds; `None` (hold)
/// if either is unknown.
pub fn needed_gain(own: Option<f64>, target: Option<f64>) -> Option<f64> {
    let own = own.filter(|v| v.is_finite())?;
    let target = target.filter(|v| v.is_finite())?;
    Some(target - own)
}

/// Gain that brings `own` loudness to `target` within the bounds; `None` (hold)
/// if either is unknown.
#[cfg(test)]
pub fn wanted_gain(own: Option<f64>, target: Option<f64>, limits: GainLimits) -> Option<f64> {
    needed_gain(own, target).map(|g| limits.clamp(g))
}

/// How far past a bound the needed gain must go before [`BoundWatch`] tells.
pub const BOUND_MARGIN_DB: f64 = 0.5;

/// The gain held at a bound, short of its target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundHit {
    /// Gain that would reach the target (dB).
    pub needed_db: f64,
    /// The bound it is held at (dB).
    pub bound_db: f64,
    /// `max-gain` (true) or `min-gain` (false).
    pub upper: bool,
}

impl BoundHit {
    /// The property that keeps the gain from its target.
    pub fn property(&self) -> &'static str {
        if self.upper { "max-gain" } else { "min-gain" }
    }

    /// How far the output stays from the target (dB, positive).
    pub fn shortfall_db(&self) -> f64 {
        (self.needed_db - self.bound_db).abs()
    }

    /// A sentence for the user.
    pub fn describe(&self) -> String {
        let (side, advice) = if self.upper {
            ("quiet", "raise max-gain to at least")
        } else {
            ("loud", "lower min-gain to at most")
        };
        format!(
            "the gain cannot reach its target: it needs {:+.1} dB but {} is {:+.1} dB, \
             so the output stays {:.1} dB too {side}; {advice} {:.1}",
            self.needed_db,
            self.property(),
            self.bound_db,
            self.shortfall_db(),
            self.needed_db,
        )
    }
}

/// Tells once when the gain is held at a bound more than [`BOUND_MARGIN_DB`] short
/// of its target, and again only after the needed gain came back within the
/// bounds (or went past the other bound) and then left them again.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BoundWatch {
    /// The bound the gain is held at (`true`: the upper), if it is.
    hit: Option<bool>,
}

impl BoundWatch {
    /// Whether the gain is held at a bound now.
    #[cfg(test)]
    pub fn is_hit(&self) -> bool {
        self.hit.is_some()
    }

    /// Looks at the gain `needed_db` against `limits`; returns the hit to tell about.
    pub fn check(&mut self, needed_db: f64, limits: GainLimits) -> Option<BoundHit> {
        let (lo, hi) = limits.ordered();
        let hit = if needed_db > hi {
            Some(BoundHit {
                needed_db,
                bound_db: hi,
                upper: true,
            })
        } else if needed_db < lo {
            Some(BoundHit {
                needed_db,
                bound_db: lo,
                upper: false,
            })
        } else {
            None
        };
        match (self.hit, hit) {
            (Some(upper), Some(h)) if h.upper == upper => None,
            (_, Some(h)) if h.shortfall_db() > BOUND_MARGIN_DB => {
                self.hit = Some(h.upper);
                Some(h)
            }
            (_, h) => {
                // recovered (or only just past a bound)
                if h.is_none() {
                    self.hit = None;
                }
                None
            }
        }
    }
}

/// Gain in dB to a linear factor (exactly 1.0 for 0 dB).
pub fn db_to_linear(db: f64) -> f64 {
    if db == 0.0 {
        1.0
    } else {
        10f64.powf(db / 20.0)
    }
}

/// The applied gain: moves towards the wanted gain at no more than `rate` dB/s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GainRamp {
    current_db: f64,
    wanted_db: f64,
}

impl Default for GainRamp {
    fn default() -> Self {
        GainRamp {
            current_db: 0.0,
            wanted_db: 0.0,
        }
    }
}

impl GainRamp {
    /// A ramp resting at `db`.
    pub fn at(db: f64) -> Self {
        let db = if db.is_finite() { db } else { 0.0 };
        GainRamp {
            current_db: db,
            wanted_db: db,
        }
    }

    pub fn current_db(&self) -> f64 {
        self.current_db
    }

    pub fn set_wanted(&mut self, db: f64) {
        if db.is_finite() {
            self.wanted_db = db;
        }
    }

    /// Advance by `frames` at `sample_rate`, moving at most `rate_db_s` dB/s.
    /// Returns the gain in dB at the start and at the end of those frames.
    pub fn advance(&mut self, frames: u64, sample_rate: u32, rate_db_s: f64) -> (f64, f64) {
        let start = self.current_db;
        if sample_rate == 0 || frames == 0 {
            return (start, start);
        }
        let max_step = rate_db_s.max(0.0) * frames as f64 / sample_rate as f64;
        let diff = self.wanted_db - start;
        let end = if diff.abs() <= max_step {
            self.wanted_db
        } else {
            start + max_step.copysign(diff)
        };
        self.current_db = end;
        (start, end)
    }
}

/// Apply a gain moving from `start_db` to `end_db` across the frames of
/// `samples` (interleaved, `channels` wide), linearly in dB per frame.
pub fn apply_ramp(samples: &mut [f64], channels: usize, start_db: f64, end_db: f64) {
    let channels = channels.max(1);
    let frames = samples.len() / channels;
    if frames == 0 {
        return;
    }
    if start_db == end_db {
        let g = db_to_linear(start_db);
        if g != 1.0 {
            samples.iter_mut().for_each(|s| *s *= g);
        }
        return;
    }
    // Frame i gets start + (i + 1) / frames of the way, so the last frame is at
    // exactly `end_db` and the next chunk continues from there.
    let step = db_to_linear((end_db - start_db) / frames as f64);
    let mut g = db_to_linear(start_db);
    for (i, frame) in samples.chunks_exact_mut(channels).enumerate() {
        g = if i + 1 == frames {
            db_to_linear(end_db)
        } else {
            g * step
        };
        frame.iter_mut().for_each(|s| *s *= g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: GainLimits = GainLimits {
        min_db: -12.0,
        max_db: 12.0,
    };

    #[test]
    fn follower_averages_gated_blocks() {
        let mut f = Follower::new(MATCH_BLOCKS);
        assert_eq!(f.estimate(), None);
        for _ in 0..50 {
            assert!(f.push_block(-30.0));
        }
        assert!((f.estimate().unwrap() + 30.0).abs() < 1e-9);
    }

    #[test]
    fn follower_ignores_silence_and_pauses() {
        let mut f = Follower::new(MATCH_BLOCKS);
        for _ in 0..100 {
            f.push_block(-23.0);
        }
        // Digital silence, noise under the absolute gate, and a pause 15 LU down.
        for l in [-38.0, f64::NEG_INFINITY, -75.0] {
            for _ in 0..200 {
                assert!(!f.push_block(l));
            }
            assert!((f.estimate().unwrap() + 23.0).abs() < 1e-9);
        }
    }

    #[test]
    fn follower_follows_a_new_level_within_its_window() {
        let mut f = Follower::new(MATCH_BLOCKS);
        for _ in 0..100 {
            f.push_block(-23.0);
        }
        for _ in 0..MATCH_BLOCKS {
            f.push_block(-29.0);
        }
        assert!((f.estimate().unwrap() + 29.0).abs() < 1e-9);
    }

    #[test]
    fn follower_accepts_a_much_quieter_programme_after_the_gate_history() {
        let mut f = Follower::new(MATCH_BLOCKS);
        for _ in 0..GATE_HISTORY_BLOCKS {
            f.push_block(-15.0);
        }
        for _ in 0..GATE_HISTORY_BLOCKS + MATCH_BLOCKS {
            f.push_block(-40.0);
        }
        assert!((f.estimate().unwrap() + 40.0).abs() < 1e-6);
    }

    #[test]
    fn wanted_gain_clamps_and_holds() {
        assert_eq!(wanted_gain(Some(-30.0), Some(-23.0), LIMITS), Some(7.0));
        assert_eq!(wanted_gain(Some(-50.0), Some(-23.0), LIMITS), Some(12.0));
        assert_eq!(wanted_gain(Some(-5.0), Some(-23.0), LIMITS), Some(-12.0));
        assert_eq!(wanted_gain(None, Some(-23.0), LIMITS), None);
        assert_eq!(wanted_gain(Some(-20.0), None, LIMITS), None);
        assert_eq!(
            wanted_gain(Some(-20.0), Some(f64::NEG_INFINITY), LIMITS),
            None
        );
    }

    #[test]
    fn bound_watch_tells_once_per_episode() {
        let mut w = BoundWatch::default();
        // within the bounds, or past them by less than the margin: nothing
        assert_eq!(w.check(7.0, LIMITS), None);
        assert_eq!(w.check(12.4, LIMITS), None);
        assert!(!w.is_hit());
        // 15 dB needed, 12 allowed: told once
        let hit = w.check(15.0, LIMITS).unwrap();
        assert_eq!(hit.property(), "max-gain");
        assert!((hit.shortfall_db() - 3.0).abs() < 1e-12);
        let text = hit.describe();
        assert!(text.contains("3.0 dB too quiet"), "{text}");
        assert!(text.contains("raise max-gain to at least 15"), "{text}");
        for needed in [15.0, 16.0, 12.1, 13.0] {
            assert_eq!(w.check(needed, LIMITS), None);
        }
        assert!(w.is_hit());
        // back within the bounds: recovered; the next hit is told again
        assert_eq!(w.check(11.0, LIMITS), None);
        assert!(!w.is_hit());
        let hit = w.check(-20.0, LIMITS).unwrap();
        assert_eq!(hit.property(), "min-gain");
        assert!(
            hit.describe().contains("8.0 dB too loud"),
            "{}",
            hit.describe()
        );
        assert!(hit.describe().contains("lower min-gain to at most -20"));
        // from one bound straight to the other: told
        assert!(w.check(20.0, LIMITS).is_some());
        // swapped bounds are read lowest first
        let mut w = BoundWatch::default();
        let swapped = GainLimits {
            min_db: 12.0,
            max_db: -12.0,
        };
        assert_eq!(w.check(13.0, swapped).unwrap().bound_db, 12.0);
    }

    #[test]
    fn follower_window_can_shrink() {
        let mut f = Follower::new(NORMALIZE_BLOCKS);
        for _ in 0..70 {
            f.push_block(-30.0);
        }
        for _ in 0..30 {
            f.push_block(-20.0);
        }
        f.set_len(MATCH_BLOCKS);
        assert!((f.estimate().unwrap() + 20.0).abs() < 1e-9);
    }

    #[test]
    fn ramp_never_exceeds_rate() {
        let mut r = GainRamp::default();
        r.set_wanted(7.0);
        let mut last = 0.0;
        let mut t = 0.0;
        while r.current_db() < 7.0 {
            let (a, b) = r.advance(480, 48000, 2.0);
            assert_eq!(a, last);
            assert!(b - a <= 2.0 * 0.01 + 1e-12);
            last = b;
            t += 0.01;
        }
        assert!((t - 3.5f64).abs() < 0.011, "{t}");
        r.set_wanted(-1.0);
        let (_, b) = r.advance(48000, 48000, 2.0);
        assert!((b - 5.0).abs() < 1e-12);
        let (_, b) = r.advance(48000 * 10, 48000, 2.0);
        assert_eq!(b, -1.0);
    }

    #[test]
    fn ramp_application_is_continuous_and_exact_at_unity() {
        let mut v = vec![0.5; 200];
        apply_ramp(&mut v, 2, 0.0, 0.0);
        assert!(v.iter().all(|s| *s == 0.5));
        let mut v = vec![1.0; 200];
        apply_ramp(&mut v, 2, 0.0, 6.0);
        assert!((v[199] - db_to_linear(6.0)).abs() < 1e-15);
        assert!((v[0] - db_to_linear(0.06)).abs() < 1e-12);
        for w in v.chunks_exact(2).collect::<Vec<_>>().windows(2) {
            assert!(w[1][0] >= w[0][0]);
        }
    }
}

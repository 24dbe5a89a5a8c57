// SPDX-License-Identifier: MPL-2.0
//! The element's signal path without GStreamer: meter, loudness follower, gain
//! ramp and limiter, driven in steps of at most 100 ms so that every BS.1770
//! gating block and every report falls on a chunk boundary.

use super::gain::{
    self, BoundHit, BoundWatch, Follower, GainLimits, GainRamp, MATCH_BLOCKS, NORMALIZE_BLOCKS,
    apply_ramp,
};
use super::limiter::Limiter;
use super::meter::{Meter, Reading, Sample, Speaker};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    Match,
    #[default]
    Normalize,
    Measure,
}

/// Where the gain should bring the audio, decided by the caller per buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// `normalize`: this loudness in LUFS.
    Absolute(f64),
    /// `match`: the reference's gated short-term loudness (`None` while it has
    /// none: hold the gain).
    Follow(Option<f64>),
    /// `match` without a usable reference: unity gain, audio untouched.
    Unity,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub limits: GainLimits,
    pub rate_db_s: f64,
    pub true_peak_limit_db: f64,
    /// Report period in nanoseconds, 0 for none.
    pub interval_ns: u64,
    /// The output is not on air (a downstream `failoverswitch` said so): nobody
    /// hears it, so the gain goes to its goal at once instead of at `rate_db_s`.
    pub standby: bool,
}

impl Params {
    /// Fastest the gain may move now (dB/s).
    pub fn gain_rate(&self) -> f64 {
        if self.standby {
            f64::INFINITY
        } else {
            self.rate_db_s
        }
    }
}

/// A measurement to post, `frame` frames after the start of the data passed in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    pub frame: u64,
    pub reading: Reading,
    pub gain_db: f64,
}

#[derive(Debug)]
pub struct Engine {
    mode: Mode,
    rate: u32,
    channels: usize,
    meter: Meter,
    follower: Follower,
    ramp: GainRamp,
    limiter: Limiter,
    scratch: Vec<f64>,
    /// Frames of the limiter's delay line holding real audio (< delay while it fills).
    primed: usize,
    /// Meter frame count at which the next report is due.
    next_report: Option<u64>,
    /// Whether the gain is held at a bound short of its goal.
    bounds: BoundWatch,
    /// A bound hit not yet told to the user.
    bound_hit: Option<BoundHit>,
}

impl Engine {
    pub fn new(mode: Mode, rate: u32, speakers: &[Speaker], params: &Params) -> Self {
        let meter = Meter::new(rate, speakers);
        let mut e = Engine {
            mode,
            rate,
            channels: speakers.len(),
            meter,
            follower: Follower::new(follower_len(mode)),
            ramp: GainRamp::default(),
            limiter: Limiter::new(rate, speakers.len(), params.true_peak_limit_db),
            scratch: Vec::new(),
            primed: 0,
            next_report: None,
            bounds: BoundWatch::default(),
            bound_hit: None,
        };
        e.schedule_first_report(params);
        e
    }

    fn schedule_first_report(&mut self, params: &Params) {
        self.next_report = self
            .interval_frames(params)
            .map(|i| self.meter.frames() + i);
    }

    fn interval_frames(&self, params: &Params) -> Option<u64> {
        if params.interval_ns == 0 {
            return None;
        }
        let f = (params.interval_ns as u128 * self.rate as u128 / 1_000_000_000u128) as u64;
        Some(f.max(1))
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Changes the mode, keeping the measurements. Leaving a shaping mode for
    /// `measure` drops what the limiter holds: [`drain`](Self::drain) it first. The
    /// latency changes when `measure` is entered or left.
    pub fn set_mode(&mut self, mode: Mode) {
        if mode == self.mode {
            return;
        }
        self.follower.set_len(follower_len(mode));
        if (mode == Mode::Measure) != (self.mode == Mode::Measure) {
            self.limiter.reset();
            self.primed = 0;
            self.ramp = GainRamp::at(0.0);
            self.bounds = BoundWatch::default();
            self.bound_hit = None;
        }
        self.mode = mode;
    }

    /// A gain held at a bound short of its goal, once per episode (see
    /// [`BoundWatch`]).
    pub fn take_bound_hit(&mut self) -> Option<BoundHit> {
        self.bound_hit.take()
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Frames the audio is delayed by (0 in `measure` mode).
    pub fn latency_frames(&self) -> usize {
        if self.mode == Mode::Measure {
            0
        } else {
            self.limiter.delay_frames()
        }
    }

    pub fn gain_db(&self) -> f64 {
        self.ramp.current_db()
    }

    /// This element's gated short-term loudness, for elements matching to it.
    pub fn estimate(&self) -> Option<f64> {
        self.follower.estimate()
    }

    pub fn reading(&self) -> Reading {
        self.meter.reading()
    }

    /// Forget measurements and the limiter's contents (flush, new caps); the
    /// applied gain is kept so that a seek does not restart the gain from 0 dB.
    pub fn reset(&mut self, params: &Params) {
        self.meter.reset();
        self.follower.reset();
        self.limiter.reset();
        self.primed = 0;
        let g = self.ramp.current_db();
        self.ramp.set_wanted(g);
        self.schedule_first_report(params);
    }

    /// Take the gain of another engine (same element, new format).
    pub fn carry_gain_from(&mut self, other: &Engine) {
        self.ramp = GainRamp::at(other.ramp.current_db());
    }

    pub fn set_params(&mut self, params: &Params) {
        self.limiter.set_threshold_db(params.true_peak_limit_db);
        // a report period change takes effect from now
        let wanted = self.interval_frames(params);
        match (wanted, self.next_report) {
            (None, _) => self.next_report = None,
            (Some(i), Some(n)) if n <= self.meter.frames() + i => {}
            (Some(i), _) => self.next_report = Some(self.meter.frames() + i),
        }
    }

    /// Measure interleaved `data` (whole frames) and, unless in `measure` mode,
    /// apply gain and limiter. Output frames (delayed by the limiter) are
    /// appended to `out`; in `measure` mode nothing is appended and the caller
    /// passes its input on untouched.
    pub fn process<T: Sample>(
        &mut self,
        data: &[T],
        goal: Goal,
        params: &Params,
        out: &mut Vec<T>,
        reports: &mut Vec<Report>,
    ) {
        let ch = self.channels.max(1);
        let frames = (data.len() / ch) as u64;
        let data = &data[..frames as usize * ch];
        let shaping = self.mode != Mode::Measure;
        if shaping {
            self.scratch.clear();
            self.scratch.extend(data.iter().map(|s| s.to_f64()));
        }
        let mut unity = true;
        let mut done = 0u64;
        while done < frames {
            let mut n = (frames - done).min(self.meter.frames_to_next_step());
            if let Some(r) = self.next_report {
                n = n.min(r.saturating_sub(self.meter.frames()).max(1));
            }
            let a = done as usize * ch;
            let b = (done + n) as usize * ch;
            self.meter.add(&data[a..b]);
            if shaping {
                let (g0, g1) = self.ramp.advance(n, self.rate, params.gain_rate());
                unity &= g0 == 0.0 && g1 == 0.0;
                apply_ramp(&mut self.scratch[a..b], ch, g0, g1);
            }
            done += n;
            if self.meter.at_step() {
                self.step(goal, params);
            }
            if let Some(r) = self.next_report.filter(|r| self.meter.frames() >= *r) {
                reports.push(Report {
                    frame: done,
                    reading: self.meter.reading(),
                    gain_db: self.ramp.current_db(),
                });
                self.next_report = self.interval_frames(params).map(|i| r + i);
            }
        }
        if shaping {
            let bypass = unity && goal == Goal::Unity;
            self.limiter.process(&mut self.scratch, bypass);
            let skip = (self.limiter.delay_frames() - self.primed).min(frames as usize);
            self.primed += skip;
            out.extend(self.scratch[skip * ch..].iter().map(|v| T::from_f64(*v)));
        }
    }

    /// One 100 ms gating step has completed: update the follower and the gain
    /// the ramp moves towards.
    fn step(&mut self, goal: Goal, params: &Params) {
        if let Some(block) = self.meter.block_loudness() {
            self.follower.push_block(block);
        }
        if self.mode == Mode::Measure {
            return;
        }
        let own = self.follower.estimate();
        let needed = match goal {
            Goal::Absolute(target) => gain::needed_gain(own, Some(target)),
            Goal::Follow(reference) => gain::needed_gain(own, reference),
            Goal::Unity => {
                self.ramp.set_wanted(0.0);
                return;
            }
        };
        // Without both loudnesses known, hold where we are.
        let Some(needed) = needed else { return };
        if let Some(hit) = self.bounds.check(needed, params.limits) {
            self.bound_hit = Some(hit);
        }
        self.ramp.set_wanted(params.limits.clamp(needed));
    }

    /// Push out what the limiter still holds (EOS, gap, discontinuity, new
    /// caps) and start it afresh. Appends the held frames to `out`.
    pub fn drain<T: Sample>(&mut self, goal: Goal, out: &mut Vec<T>) {
        if self.mode == Mode::Measure || self.primed == 0 {
            return;
        }
        let ch = self.channels.max(1);
        let delay = self.limiter.delay_frames();
        self.scratch.clear();
        self.scratch.resize(delay * ch, 0.0);
        let bypass = goal == Goal::Unity && self.ramp.current_db() == 0.0;
        self.limiter.process(&mut self.scratch, bypass);
        let skip = delay - self.primed;
        out.extend(self.scratch[skip * ch..].iter().map(|v| T::from_f64(*v)));
        self.limiter.reset();
        self.primed = 0;
    }
}

/// Gated blocks the follower averages in `mode`.
fn follower_len(mode: Mode) -> usize {
    if mode == Mode::Normalize {
        NORMALIZE_BLOCKS
    } else {
        MATCH_BLOCKS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            limits: GainLimits {
                min_db: -12.0,
                max_db: 12.0,
            },
            rate_db_s: 3.0,
            true_peak_limit_db: -1.0,
            interval_ns: 1_000_000_000,
            standby: false,
        }
    }

    fn noise(frames: usize, ch: usize, amp: f64, seed: &mut u32) -> Vec<f32> {
        (0..frames * ch)
            .map(|_| {
                *seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                ((((*seed >> 8) as f64 / (1u32 << 24) as f64) * 2.0 - 1.0) * amp) as f32
            })
            .collect()
    }

    #[test]
    fn measure_mode_reports_on_time_and_outputs_nothing() {
        let p = params();
        let mut e = Engine::new(Mode::Measure, 48000, &[Speaker::Front; 2], &p);
        let mut seed = 1;
        let mut out = Vec::new();
        let mut reports = Vec::new();
        for _ in 0..25 {
            let buf = noise(4410, 2, 0.1, &mut seed);
            e.process(&buf, Goal::Unity, &p, &mut out, &mut reports);
        }
        assert!(out.is_empty());
        assert_eq!(reports.len(), 2);
        // first report exactly 1 s in: 48000 = 10 * 4410 + 3900
        assert_eq!(reports[0].frame, 3900);
        assert!(e.estimate().is_some());
        assert_eq!(e.latency_frames(), 0);
    }

    #[test]
    fn shaping_keeps_the_frame_count() {
        let p = params();
        let mut e = Engine::new(Mode::Normalize, 44100, &[Speaker::Front], &p);
        let mut seed = 7;
        let mut out: Vec<f32> = Vec::new();
        let mut reports = Vec::new();
        let mut total = 0;
        for n in [10usize, 1000, 0, 4410, 333] {
            let buf = noise(n, 1, 0.3, &mut seed);
            total += n;
            e.process(&buf, Goal::Absolute(-23.0), &p, &mut out, &mut reports);
        }
        assert_eq!(out.len(), total - e.latency_frames());
        e.drain(Goal::Absolute(-23.0), &mut out);
        assert_eq!(out.len(), total);
        // draining twice adds nothing
        e.drain(Goal::Absolute(-23.0), &mut out);
        assert_eq!(out.len(), total);
    }

    #[test]
    fn unity_goal_is_bit_exact() {
        let p = params();
        let mut e = Engine::new(Mode::Match, 48000, &[Speaker::Front; 2], &p);
        let mut seed = 3;
        let input = noise(48000, 2, 1.5, &mut seed);
        let mut out = Vec::new();
        let mut reports = Vec::new();
        for c in input.chunks(960) {
            e.process(c, Goal::Unity, &p, &mut out, &mut reports);
        }
        e.drain(Goal::Unity, &mut out);
        assert_eq!(out, input);
    }

    /// Runs `secs` of noise at `amp` through `e` following `goal` in 100 ms
    /// buffers; returns the gain after each.
    fn run(e: &mut Engine, goal: Goal, p: &Params, amp: f64, secs: usize) -> Vec<f64> {
        let mut seed = 5;
        let mut out = Vec::new();
        let mut reports = Vec::new();
        (0..secs * 10)
            .map(|_| {
                let buf = noise(1600, 1, amp, &mut seed);
                e.process(&buf, goal, p, &mut out, &mut reports);
                e.gain_db()
            })
            .collect()
    }

    #[test]
    fn standby_gain_goes_to_its_goal_at_once_and_on_air_at_the_rate() {
        let mut p = params();
        p.standby = true;
        let mut e = Engine::new(Mode::Match, 16000, &[Speaker::Front], &p);
        // own loudness about -37 LUFS, the reference -27: 10 dB to go
        let gains = run(&mut e, Goal::Follow(Some(-27.0)), &p, 0.02, 2);
        let own = e.estimate().unwrap();
        let want = -27.0 - own;
        assert!(want > 8.0, "{want}");
        // the first block is complete at 400 ms: at the goal (as far as one block
        // tells) 100 ms later, and nothing before
        assert!(gains[..4].iter().all(|g| *g == 0.0), "{gains:?}");
        assert!((gains[4] - want).abs() < 0.1, "{gains:?}");
        // on air: the reference drops 4 dB, the gain follows at 3 dB/s
        p.standby = false;
        let gains = run(&mut e, Goal::Follow(Some(-31.0)), &p, 0.02, 3);
        for w in gains.windows(2) {
            assert!((w[1] - w[0]).abs() <= 3.0 * 0.1 + 1e-9, "{gains:?}");
        }
        assert!(gains[0] > want - 0.4, "{gains:?}");
        assert!(
            (gains.last().unwrap() - (want - 4.0)).abs() < 0.1,
            "{gains:?}"
        );
    }

    #[test]
    fn a_gain_held_at_a_bound_is_told_once() {
        let mut p = params();
        p.standby = true;
        let mut e = Engine::new(Mode::Normalize, 16000, &[Speaker::Front], &p);
        // about -37 LUFS to -10: 27 dB, more than max-gain's 12
        run(&mut e, Goal::Absolute(-10.0), &p, 0.02, 3);
        let hit = e.take_bound_hit().unwrap();
        assert_eq!(hit.property(), "max-gain");
        assert!(hit.needed_db > 25.0, "{hit:?}");
        run(&mut e, Goal::Absolute(-10.0), &p, 0.02, 3);
        assert_eq!(e.take_bound_hit(), None);
        assert_eq!(e.gain_db(), 12.0);
        // back within bounds, then out again: told again
        run(&mut e, Goal::Absolute(-30.0), &p, 0.02, 1);
        assert_eq!(e.take_bound_hit(), None);
        run(&mut e, Goal::Absolute(-10.0), &p, 0.02, 1);
        assert!(e.take_bound_hit().is_some());
    }

    #[test]
    fn mode_changes_keep_the_measurements() {
        let p = params();
        let mut e = Engine::new(Mode::Measure, 16000, &[Speaker::Front], &p);
        run(&mut e, Goal::Unity, &p, 0.05, 2);
        let before = e.reading().integrated;
        assert_eq!(e.latency_frames(), 0);
        e.set_mode(Mode::Normalize);
        assert!(e.latency_frames() > 0);
        assert_eq!(e.reading().integrated, before);
        // shaping starts with an empty delay line: the first buffer comes out
        // shorter by the latency
        let mut out = Vec::new();
        let mut reports = Vec::new();
        e.process(
            &[0.0f32; 1600],
            Goal::Absolute(-23.0),
            &p,
            &mut out,
            &mut reports,
        );
        assert_eq!(out.len(), 1600 - e.latency_frames());
        e.drain(Goal::Absolute(-23.0), &mut out);
        assert_eq!(out.len(), 1600);
        e.set_mode(Mode::Measure);
        assert_eq!(e.gain_db(), 0.0);
    }

    #[test]
    fn normalize_moves_quiet_noise_to_target() {
        let p = params();
        let mut e = Engine::new(Mode::Normalize, 16000, &[Speaker::Front], &p);
        let mut seed = 11;
        let mut out = Vec::new();
        let mut reports = Vec::new();
        for _ in 0..300 {
            let buf = noise(1600, 1, 0.02, &mut seed);
            e.process(&buf, Goal::Absolute(-23.0), &p, &mut out, &mut reports);
        }
        let input_loudness = reports[0].reading.momentary;
        let g = e.gain_db();
        assert!(g > 0.0 && g <= 12.0);
        // clamped at max-gain or at the target
        let expect = (-23.0 - input_loudness).min(12.0);
        assert!((g - expect).abs() < 1.0, "gain {g} expect {expect}");
    }
}

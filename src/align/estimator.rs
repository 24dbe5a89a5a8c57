// SPDX-License-Identifier: MPL-2.0
//! The offset estimator: schedules analyses over both inputs' histories, judges
//! each one, and publishes an offset with hysteresis.

use super::correlate::{Correlator, Template, find_peak};
use super::frontend::{BANDS, FRAME, Frame, Frontend, NS_PER_FRAME, NS_PER_SAMPLE, wave_value};

/// Which input a chunk of audio belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Input {
    Primary,
    Secondary,
}

/// Settings of an [`Estimator`]. Durations in nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Largest offset searched, either way (default 2 s; 0.1–10 s).
    pub max_offset: u64,
    /// Length of programme compared by the coarse stage (default 8 s; 2–30 s).
    pub window: u64,
    /// The first analyses run as soon as this much programme can be compared
    /// (default 4 s; at most `window`).
    pub min_window: u64,
    /// Time between analyses, in running time of the inputs (default 1 s).
    pub interval: u64,
    /// Length of waveform compared by the fine stage (default 1 s).
    pub fine_window: u64,
    /// A match needs a normalised correlation peak at least this high (default 0.6;
    /// the same programme through two AAC encoders reaches 0.96–0.99, unrelated
    /// programmes stay under 0.45).
    pub min_peak: f32,
    /// ... and a confidence at least this high (default 0.4; the same programme:
    /// 0.95–0.99, unrelated programmes: under 0.25); see
    /// [`Measurement::confidence`].
    pub min_confidence: f32,
    /// The published offset moves only for measurements further than this from it
    /// (default 1 ms).
    pub tolerance: u64,
    /// Consecutive agreeing matches needed to publish or move the offset (default 2).
    pub confirmations: u32,
    /// Consecutive measurements that find no match (with signal on both inputs)
    /// after which the published offset is no longer confident (default 5).
    pub lose_after: u32,
    /// How far (running time) one input may run ahead of the other and still be
    /// compared in full (default 2 s); the estimator keeps that much more history.
    pub skew: u64,
}

impl Default for Config {
    fn default() -> Self {
        const MS: u64 = 1_000_000;
        Config {
            max_offset: 2000 * MS,
            window: 8000 * MS,
            min_window: 4000 * MS,
            interval: 1000 * MS,
            fine_window: 1000 * MS,
            min_peak: 0.6,
            min_confidence: 0.4,
            tolerance: MS,
            confirmations: 2,
            lose_after: 5,
            skew: 2000 * MS,
        }
    }
}

impl Config {
    /// The configuration with every value brought into its valid range.
    pub fn sanitized(&self) -> Config {
        const MS: u64 = 1_000_000;
        let window = self.window.clamp(2000 * MS, 30_000 * MS);
        Config {
            max_offset: self.max_offset.clamp(100 * MS, 10_000 * MS),
            window,
            min_window: self.min_window.clamp(1000 * MS, window),
            interval: self.interval.clamp(100 * MS, 60_000 * MS),
            fine_window: self.fine_window.clamp(100 * MS, window),
            min_peak: self.min_peak.clamp(0.0, 1.0),
            min_confidence: self.min_confidence.clamp(0.0, 1.0),
            tolerance: self.tolerance.clamp(NS_PER_SAMPLE, 100 * MS),
            confirmations: self.confirmations.clamp(1, 100),
            lose_after: self.lose_after.clamp(1, 1000),
            skew: self.skew.min(60_000 * MS),
        }
    }
}

/// What one analysis found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Both inputs carry the same programme, at [`Measurement::offset`].
    Match,
    /// Both inputs carry signal, but not the same programme within the search
    /// range (or not unambiguously).
    NoMatch,
    /// Not enough signal on the primary to judge (silence, a steady tone).
    Silent,
}

/// The result of one analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Running time (ns) at the end of the primary's programme that was compared.
    pub running_time: u64,
    pub verdict: Verdict,
    /// How much later (ns) the secondary carries the programme than the primary
    /// (negative: earlier). Best guess when the verdict is not `Match`.
    pub offset: i64,
    /// Normalised correlation at the coarse peak (1 = identical envelopes).
    pub peak: f32,
    /// The best other coarse peak.
    pub second: f32,
    /// How clearly the peak wins: `(peak - second) / (1 - second)` with `second`
    /// counted as 0 when negative; 0 (ambiguous) to 1.
    pub confidence: f32,
    /// Normalised correlation of the fine (waveform) stage at its peak, when it
    /// refined the offset; None when the offset comes from the coarse stage only.
    pub fine_peak: Option<f32>,
}

/// The published offset.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Estimate {
    /// How much later (ns) the secondary carries the programme than the primary:
    /// positive means the primary is early and is the one to delay. None until the
    /// first confident match.
    pub offset: Option<i64>,
    /// True while recent measurements support `offset`; false before the first
    /// match and after `lose_after` measurements without a match.
    pub confident: bool,
    /// Confidence of the last measurement that agreed with `offset`.
    pub confidence: f32,
    /// Running time of the measurement that last set `offset`.
    pub since: u64,
    /// Increases every time `offset` or `confident` changes.
    pub revision: u64,
}

/// Estimates continuously how much later the secondary input carries the same
/// programme than the primary. See the module documentation.
#[derive(Debug)]
pub struct Estimator {
    config: Config,
    inputs: [Frontend; 2],
    /// Frame index at which the next analysis is due.
    due: i64,
    estimate: Estimate,
    pending: Vec<i64>,
    misses: u32,
    last: Option<Measurement>,
    scratch: Scratch,
}

#[derive(Debug, Default)]
struct Scratch {
    mono: Vec<f32>,
    frames_p: Vec<Frame>,
    frames_s: Vec<Frame>,
    band: Vec<f32>,
    sums: Vec<(f64, u32)>,
    coarse: Vec<f32>,
    wave_p: Vec<f32>,
    wave_s: Vec<f32>,
    fine: Vec<f32>,
    template: Template,
    correlator: Correlator,
}

/// Present values needed in a compared stretch.
const MIN_VALID: f64 = 0.8;
/// Fine stage: lags searched either side of the coarse offset (analysis samples,
/// 12 ms).
const FINE_SPAN: i64 = 96;
/// Fine stage: minimum waveform correlation to trust it over the coarse stage.
const FINE_MIN_PEAK: f32 = 0.2;
/// Coarse stage: envelope trends slower than ± this many frames (250 ms) are
/// removed before correlating.
const DETREND: usize = 25;
/// Coarse stage: peaks closer than this (frames) are one peak.
const COARSE_GUARD: usize = 3;
/// A band is used when at least a tenth of its frames have a log energy above this
/// (about -67 dB re a full-scale sine) and it varies at least `BAND_MIN_STD`
/// (natural log units).
const BAND_MIN_LEVEL: f64 = -16.0;
const BAND_MIN_STD: f64 = 0.1;

fn frames(ns: u64) -> i64 {
    ns.div_ceil(NS_PER_FRAME) as i64
}

impl Estimator {
    /// An estimator with `config` (brought into range, see [`Config::sanitized`]).
    pub fn new(config: Config) -> Self {
        let config = config.sanitized();
        let m = frames(config.max_offset);
        let frame_cap = (frames(config.window)
            + 2 * m
            + frames(config.interval)
            + 2 * frames(config.skew)
            + 200) as usize;
        // The fine stage may pick any stretch of the window.
        let wave_cap =
            ((frames(config.window) + 2 * m + frames(config.interval) + frames(config.skew) + 10)
                * FRAME
                + 2 * FINE_SPAN) as usize;
        let max_hole = config.max_offset;
        let front = Frontend::new(wave_cap, frame_cap, max_hole);
        Estimator {
            config,
            inputs: [front.clone(), front],
            due: i64::MIN,
            estimate: Estimate::default(),
            pending: Vec::new(),
            misses: 0,
            last: None,
            scratch: Scratch::default(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The published offset.
    pub fn estimate(&self) -> Estimate {
        self.estimate
    }

    /// The latest analysis.
    pub fn last_measurement(&self) -> Option<Measurement> {
        self.last
    }

    /// Forgets everything, the published offset included (a new session).
    pub fn reset(&mut self) {
        self.inputs.iter_mut().for_each(Frontend::reset);
        self.due = i64::MIN;
        self.estimate = Estimate::default();
        self.pending.clear();
        self.misses = 0;
        self.last = None;
    }

    /// Forgets an input's audio (after a flush, or when it reconnects); the
    /// published offset stays until measurements contradict it.
    pub fn reset_input(&mut self, input: Input) {
        self.inputs[input as usize].reset();
    }

    /// Adds mono audio of `input` at `rate` Hz (8–384 kHz) whose first sample has
    /// `running_time` (ns). Chunks may have any size; a chunk that starts later than
    /// the previous one ended leaves a hole; one that starts earlier overlaps and
    /// its already-known part is ignored. Runs an analysis when one is due and
    /// returns it.
    pub fn push(
        &mut self,
        input: Input,
        rate: u32,
        running_time: u64,
        samples: &[f32],
    ) -> Option<Measurement> {
        if !(8000..=384_000).contains(&rate) {
            return None;
        }
        self.inputs[input as usize].push(rate, running_time, samples);
        self.analyse_if_due()
    }

    /// Like [`Estimator::push`] for interleaved audio of `channels` channels,
    /// downmixed to mono.
    pub fn push_interleaved(
        &mut self,
        input: Input,
        rate: u32,
        channels: usize,
        running_time: u64,
        samples: &[f32],
    ) -> Option<Measurement> {
        if channels <= 1 {
            return self.push(input, rate, running_time, samples);
        }
        let mut mono = std::mem::take(&mut self.scratch.mono);
        mono.clear();
        let scale = 1.0 / channels as f32;
        mono.extend(
            samples
                .chunks_exact(channels)
                .map(|f| f.iter().sum::<f32>() * scale),
        );
        let m = self.push(input, rate, running_time, &mono);
        self.scratch.mono = mono;
        m
    }
}

/// Copies band `band` of `frames` into `out` (NaN where the frame is missing).
fn band_of(frames: &[Frame], band: usize, out: &mut Vec<f32>) {
    out.clear();
    out.extend(frames.iter().map(|f| f[band]));
}

/// Whether a band carries signal worth correlating: at least a tenth of its present
/// frames above `BAND_MIN_LEVEL`, and some variation.
fn band_active(values: &[f32]) -> bool {
    let (n, active, s1, s2) = values.iter().filter(|v| !v.is_nan()).fold(
        (0usize, 0usize, 0.0f64, 0.0f64),
        |(n, k, a, b), &v| {
            let v64 = v as f64;
            (
                n + 1,
                k + usize::from(v64 > BAND_MIN_LEVEL),
                a + v64,
                b + v64 * v64,
            )
        },
    );
    if n == 0 || active * 10 < n {
        return false;
    }
    let mean = s1 / n as f64;
    (s2 / n as f64 - mean * mean).max(0.0).sqrt() > BAND_MIN_STD
}

/// Subtracts from each present value the mean of the present values within
/// `half` frames of it, leaving the envelope's events (notes, syllables) and
/// removing its slow trends (fades, a swelling pad), which would correlate broadly
/// at many lags.
fn detrend(values: &mut [f32], half: usize, sums: &mut Vec<(f64, u32)>) {
    sums.clear();
    sums.push((0.0, 0));
    let mut acc = (0.0f64, 0u32);
    for &v in values.iter() {
        if !v.is_nan() {
            acc = (acc.0 + v as f64, acc.1 + 1);
        }
        sums.push(acc);
    }
    let n = values.len();
    for (i, v) in values.iter_mut().enumerate() {
        if v.is_nan() {
            continue;
        }
        let (lo, hi) = (i.saturating_sub(half), (i + half + 1).min(n));
        let (s, c) = (sums[hi].0 - sums[lo].0, sums[hi].1 - sums[lo].1);
        *v -= (s / c.max(1) as f64) as f32;
    }
}

/// The end (index into `frames`) of the `len` frames with the most energy, in
/// steps of `len / 2` back from the end.
fn loudest_stretch(frames: &[Frame], len: usize) -> usize {
    let energy = |r: std::ops::Range<usize>| -> f64 {
        frames[r]
            .iter()
            .flat_map(|f| f.iter())
            .filter(|v| !v.is_nan())
            .map(|&v| (v as f64).exp())
            .sum()
    };
    let step = (len / 2).max(1);
    let mut best = (f64::MIN, frames.len());
    let mut end = frames.len();
    while end >= len {
        let e = energy(end - len..end);
        if e > best.0 {
            best = (e, end);
        }
        end -= step;
    }
    best.1
}

impl Estimator {
    fn analyse_if_due(&mut self) -> Option<Measurement> {
        let [p, s] = &self.inputs;
        if p.frames().is_empty() || s.frames().is_empty() {
            return None;
        }
        let end = p.frames().end().min(s.frames().end());
        if end < self.due {
            return None;
        }
        let m = frames(self.config.max_offset);
        // Frames kept clear at the end for the fine stage's search.
        let reserve = (FINE_SPAN + FRAME - 1) / FRAME + 1;
        let b = p.frames().end().min(s.frames().end() - m) - reserve;
        let a =
            (b - frames(self.config.window)).max(p.frames().start().max(s.frames().start() + m));
        if b - a < frames(self.config.min_window) {
            return None;
        }
        self.due = end + frames(self.config.interval);
        let measurement = self.measure(a, b)?;
        self.last = Some(measurement);
        self.publish(&measurement);
        Some(measurement)
    }

    /// Compares the primary's frames `[a, b)` with the secondary's at every lag.
    fn measure(&mut self, a: i64, b: i64) -> Option<Measurement> {
        let m = frames(self.config.max_offset);
        let len = (b - a) as usize;
        let lags = (2 * m + 1) as usize;
        let [p, s] = &self.inputs;
        let sc = &mut self.scratch;
        sc.frames_p.resize(len, [0.0; BANDS]);
        sc.frames_s.resize(len + lags - 1, [0.0; BANDS]);
        if !p.frames().copy_to(a, &mut sc.frames_p) || !s.frames().copy_to(a - m, &mut sc.frames_s)
        {
            return None;
        }
        sc.coarse.clear();
        sc.coarse.resize(lags, 0.0);
        let mut bands = 0usize;
        let mut silent = true;
        for band in 0..BANDS {
            band_of(&sc.frames_p, band, &mut sc.band);
            if !band_active(&sc.band) {
                // Still check that enough of the primary is present.
                sc.template.prepare(&sc.band, MIN_VALID)?;
                continue;
            }
            detrend(&mut sc.band, DETREND, &mut sc.sums);
            sc.template.prepare(&sc.band, MIN_VALID)?;
            band_of(&sc.frames_s, band, &mut sc.band);
            if !band_active(&sc.band) {
                continue;
            }
            detrend(&mut sc.band, DETREND, &mut sc.sums);
            silent = false;
            if !sc
                .correlator
                .accumulate(&sc.template, &sc.band, MIN_VALID, &mut sc.coarse)
            {
                return None;
            }
            bands += 1;
        }
        let running_time = b.max(0) as u64 * NS_PER_FRAME;
        if silent {
            return Some(Measurement {
                running_time,
                verdict: Verdict::Silent,
                offset: 0,
                peak: 0.0,
                second: 0.0,
                confidence: 0.0,
                fine_peak: None,
            });
        }
        sc.coarse.iter_mut().for_each(|c| *c /= bands as f32);
        let peak = find_peak(&sc.coarse, 0..lags, COARSE_GUARD)?;
        let second = peak.second.max(0.0);
        let confidence = if second < 1.0 {
            ((peak.value - second) / (1.0 - second)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let on_edge = peak.index == 0 || peak.index + 1 == lags;
        let lag = peak.position - m as f64;
        let matched = !on_edge
            && peak.value >= self.config.min_peak
            && confidence >= self.config.min_confidence;
        let mut offset = (lag * NS_PER_FRAME as f64).round() as i64;
        let mut fine_peak = None;
        let fine_len = self.config.fine_window.div_ceil(NS_PER_FRAME) as usize;
        let fine_end = a + loudest_stretch(&self.scratch.frames_p, fine_len.min(len)) as i64;
        if matched && let Some((fine, value)) = self.refine(fine_end, lag) {
            offset = fine;
            fine_peak = Some(value);
        }
        Some(Measurement {
            running_time,
            verdict: if matched {
                Verdict::Match
            } else {
                Verdict::NoMatch
            },
            offset,
            peak: peak.value,
            second: peak.second,
            confidence,
            fine_peak,
        })
    }

    /// Fine stage: correlates the band-limited waveforms around the coarse lag
    /// (`lag` frames), over the `fine_window` of the primary that ends at frame `b`. Returns the
    /// offset (ns) and the correlation peak.
    fn refine(&mut self, b: i64, lag: f64) -> Option<(i64, f32)> {
        let [p, s] = &self.inputs;
        let sc = &mut self.scratch;
        let len = self.config.fine_window.div_ceil(NS_PER_SAMPLE) as i64;
        let centre = (lag * FRAME as f64).round() as i64;
        let end = b * FRAME;
        let lags = (2 * FINE_SPAN + 1) as usize;
        sc.wave_p.resize(len as usize, 0.0);
        sc.wave_s.resize(len as usize + lags - 1, 0.0);
        if !p.wave().map_to(end - len, &mut sc.wave_p, wave_value)
            || !s
                .wave()
                .map_to(end - len + centre - FINE_SPAN, &mut sc.wave_s, wave_value)
        {
            return None;
        }
        sc.template.prepare(&sc.wave_p, MIN_VALID)?;
        sc.fine.clear();
        sc.fine.resize(lags, 0.0);
        if !sc
            .correlator
            .accumulate(&sc.template, &sc.wave_s, MIN_VALID, &mut sc.fine)
        {
            return None;
        }
        let peak = find_peak(&sc.fine, 0..lags, 4)?;
        if peak.value < FINE_MIN_PEAK || peak.index == 0 || peak.index + 1 == lags {
            return None;
        }
        let samples = centre as f64 + peak.position - FINE_SPAN as f64;
        Some(((samples * NS_PER_SAMPLE as f64).round() as i64, peak.value))
    }

    /// Updates the published offset from a measurement (hysteresis).
    fn publish(&mut self, m: &Measurement) {
        let before = (self.estimate.offset, self.estimate.confident);
        let tolerance = self.config.tolerance as i64;
        match m.verdict {
            Verdict::Silent => {}
            Verdict::NoMatch => {
                self.pending.clear();
                self.misses = self.misses.saturating_add(1);
                if self.misses >= self.config.lose_after {
                    self.estimate.confident = false;
                }
            }
            Verdict::Match => {
                self.misses = 0;
                match self.estimate.offset {
                    Some(current) if (m.offset - current).abs() <= tolerance => {
                        self.pending.clear();
                        self.estimate.confident = true;
                        self.estimate.confidence = m.confidence;
                    }
                    _ => {
                        if self
                            .pending
                            .last()
                            .is_some_and(|&last| (m.offset - last).abs() > tolerance)
                        {
                            self.pending.clear();
                        }
                        self.pending.push(m.offset);
                        if self.pending.len() >= self.config.confirmations as usize {
                            let n = self.pending.len() as i64;
                            let mean = self.pending.iter().sum::<i64>() / n;
                            self.pending.clear();
                            self.estimate.offset = Some(mean);
                            self.estimate.confident = true;
                            self.estimate.confidence = m.confidence;
                            self.estimate.since = m.running_time;
                        }
                    }
                }
            }
        }
        if (self.estimate.offset, self.estimate.confident) != before {
            self.estimate.revision += 1;
        }
    }
}

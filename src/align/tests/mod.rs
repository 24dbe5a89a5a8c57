// SPDX-License-Identifier: MPL-2.0
//! Tests of the estimator on synthetic programmes.

mod aac;
mod signals;
mod synthetic;

use super::{Config, Estimate, Estimator, Input, Measurement};

pub(crate) const MS: i64 = 1_000_000;

/// How two inputs are fed: chunk sizes (cycled) and holes (running time, ns).
#[derive(Debug, Clone)]
pub(crate) struct Feed {
    pub chunks_p: Vec<usize>,
    pub chunks_s: Vec<usize>,
    pub holes_p: Vec<(u64, u64)>,
    pub holes_s: Vec<(u64, u64)>,
    /// Running time of both inputs' first sample.
    pub start: u64,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            chunks_p: vec![1024],
            chunks_s: vec![441, 960, 13, 2048],
            holes_p: vec![],
            holes_s: vec![],
            start: 3_000_000_000,
        }
    }
}

pub(crate) fn in_hole(holes: &[(u64, u64)], t: u64) -> bool {
    holes.iter().any(|&(s, d)| t >= s && t < s + d)
}

/// Feeds `primary` and `secondary` (mono, `rate_p` / `rate_s` Hz) in running-time
/// order, as a live pipeline would, and returns every measurement.
pub(crate) fn run(
    est: &mut Estimator,
    primary: &[f32],
    rate_p: u32,
    secondary: &[f32],
    rate_s: u32,
    feed: &Feed,
) -> Vec<Measurement> {
    let mut out = Vec::new();
    let mut pos = [0usize; 2];
    let mut turn = [0usize; 2];
    let inputs = [
        (
            Input::Primary,
            primary,
            rate_p,
            &feed.chunks_p,
            &feed.holes_p,
        ),
        (
            Input::Secondary,
            secondary,
            rate_s,
            &feed.chunks_s,
            &feed.holes_s,
        ),
    ];
    let time = |k: usize, pos: &[usize; 2]| {
        feed.start + pos[k] as u64 * 1_000_000_000 / inputs[k].2 as u64
    };
    loop {
        let k = match (pos[0] < primary.len(), pos[1] < secondary.len()) {
            (false, false) => break,
            (true, false) => 0,
            (false, true) => 1,
            (true, true) => usize::from(time(1, &pos) < time(0, &pos)),
        };
        let (input, data, rate, chunks, holes) = inputs[k];
        let n = chunks[turn[k] % chunks.len()].min(data.len() - pos[k]);
        turn[k] += 1;
        let t = time(k, &pos);
        if !in_hole(holes, t) {
            out.extend(est.push(input, rate, t, &data[pos[k]..pos[k] + n]));
        }
        pos[k] += n;
    }
    out
}

/// `programme` as the primary, and as the secondary `offset_ns` later and
/// `gain_db` louder; both `seconds` long at `rate`. `programme` must be
/// `seconds` + 4 s long (2 s of lead-in either side).
pub(crate) fn pair(
    programme: &[f32],
    rate: u32,
    seconds: f64,
    offset_ns: i64,
    gain_db: f64,
) -> (Vec<f32>, Vec<f32>) {
    let pad = 2 * rate as i64;
    let n = (seconds * rate as f64) as usize;
    let d = offset_ns * rate as i64 / 1_000_000_000;
    let g = 10f64.powf(gain_db / 20.0) as f32;
    let primary = programme[pad as usize..pad as usize + n].to_vec();
    let secondary = (0..n as i64)
        .map(|i| programme[(i + pad - d) as usize] * g)
        .collect();
    (primary, secondary)
}

pub(crate) fn estimator() -> Estimator {
    Estimator::new(Config::default())
}

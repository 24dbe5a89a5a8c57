// SPDX-License-Identifier: MPL-2.0
//! Cost of the alignment estimator (`gstfailover::align`): CPU time per second of
//! audio for one station (both inputs), split into the per-sample front end and
//! the once-per-`interval` analyses. Run by `benches/align-bench.sh`.
//!
//! Usage: align-bench [SECONDS] [RATE] [RUNS]

use std::f64::consts::PI;

use gstfailover::align::{Config, Estimator, Input};

/// A music-like programme: plucked notes with harmonics, a bass line, noise bursts.
fn programme(rate: u32, seconds: f64) -> Vec<f32> {
    let n = (rate as f64 * seconds) as usize;
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let scale = [0.0, 2.0, 4.0, 7.0, 9.0, 12.0, 14.0, 16.0];
    let mut notes = Vec::new();
    let mut t = 0.0;
    while t < seconds {
        let f = 220.0 * 2f64.powf(scale[(rnd() * 8.0) as usize] / 12.0);
        notes.push((t, f));
        t += [0.125, 0.25, 0.375, 0.5][(rnd() * 4.0) as usize];
    }
    let mut out = vec![0.0f32; n];
    for (i, o) in out.iter_mut().enumerate() {
        let t = i as f64 / rate as f64;
        let k = notes.partition_point(|&(s, _)| s <= t).saturating_sub(1);
        let (s, f) = notes[k];
        let x = t - s;
        let bass =
            0.2 * (2.0 * PI * 55.0 * 2f64.powf(scale[(t as usize * 5) % 6] / 12.0) * t).sin();
        let mel =
            0.3 * (-4.0 * x).exp() * ((2.0 * PI * f * t).sin() + 0.4 * (4.0 * PI * f * t).sin());
        let hat = 0.1 * (-40.0 * (t % 0.5)).exp() * (rnd() * 2.0 - 1.0);
        *o = (bass + mel + hat) as f32;
    }
    out
}

/// CPU time this thread has run (ns), from the scheduler's statistics: unlike
/// wall-clock time it does not count time spent waiting for a core, so the result
/// holds on a busy machine.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .expect("/proc/thread-self/schedstat (Linux) is needed")
}

/// Feeds both inputs in 20 ms chunks; returns (CPU ns, analyses, final estimate).
fn feed(
    primary: &[f32],
    secondary: &[f32],
    rate: u32,
    interval_ms: u64,
) -> (u64, usize, Option<i64>) {
    let config = Config {
        interval: interval_ms * 1_000_000,
        ..Config::default()
    };
    let mut est = Estimator::new(config);
    let chunk = (rate / 50) as usize;
    let mut analyses = 0;
    let start = thread_cpu_ns();
    for (i, (p, s)) in primary
        .chunks(chunk)
        .zip(secondary.chunks(chunk))
        .enumerate()
    {
        let t = (i * chunk) as u64 * 1_000_000_000 / rate as u64;
        analyses += usize::from(est.push(Input::Primary, rate, t, p).is_some());
        analyses += usize::from(est.push(Input::Secondary, rate, t, s).is_some());
    }
    (thread_cpu_ns() - start, analyses, est.estimate().offset)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(120.0);
    let rate: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(48000);
    let runs: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let offset = (0.306 * rate as f64).round() as usize;
    let prog = programme(rate, seconds + 1.0);
    let primary = &prog[offset..offset + (seconds * rate as f64) as usize];
    let secondary: Vec<f32> = prog[..primary.len()].iter().map(|v| v * 0.45).collect();

    println!(
        "alignment estimator: {seconds} s of mono {rate} Hz per input (secondary 306 ms late, -7 dB), 20 ms chunks, best of {runs}"
    );
    // Two settings that differ only in how often they analyse separate the cost of
    // an analysis from the per-sample front end.
    let (mut t1, mut t2) = (u64::MAX, u64::MAX);
    let (mut n1, mut n2, mut estimate) = (0, 0, None);
    for _ in 0..runs {
        let (t, n, e) = feed(primary, &secondary, rate, 1000);
        (t1, n1, estimate) = (t1.min(t), n, e);
        let (t, n, _) = feed(primary, &secondary, rate, 4000);
        (t2, n2) = (t2.min(t), n);
    }
    let per_analysis = t1.saturating_sub(t2) as f64 / (n1 - n2).max(1) as f64;
    let front = t1 as f64 - per_analysis * n1 as f64;
    let per_s = |ns: f64| ns / 1e6 / seconds;
    match estimate {
        Some(off) => println!(
            "estimate: {:.3} ms (true {:.3} ms)",
            off as f64 / 1e6,
            offset as f64 * 1e3 / rate as f64
        ),
        None => println!("estimate: none"),
    }
    println!("{:<52} {:>8}", "", "ms CPU per s of audio");
    println!(
        "{:<52} {:>8.3}",
        "front end (both inputs, every sample)",
        per_s(front.max(0.0))
    );
    println!(
        "{:<52} {:>8.3}",
        format!("analyses (one per s, {:.2} ms each)", per_analysis / 1e6),
        per_s(per_analysis * n1 as f64)
    );
    println!(
        "{:<52} {:>8.3}",
        "total per station (default settings)",
        per_s(t1 as f64)
    );
    println!(
        "one core runs the estimator for about {:.0} stations",
        1000.0 / per_s(t1 as f64)
    );
}

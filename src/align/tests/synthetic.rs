// SPDX-License-Identifier: MPL-2.0
//! The estimator on synthetic programmes: exact offsets, level differences, holes,
//! chunking, unrelated programmes, silence, hysteresis.

use super::signals::*;
use super::*;
use crate::align::Verdict;

const RATE: u32 = 16000;
const SECONDS: f64 = 14.0;
const OFFSETS_MS: [i64; 9] = [0, 24, -24, 306, -306, 700, -700, 1900, -1900];

/// Runs `primary`/`secondary` and asserts that the published offset and every
/// measurement are within `tol_ns` of `want_ns`, confidently.
fn assert_offset(
    name: &str,
    (p, rate_p): (&[f32], u32),
    (s, rate_s): (&[f32], u32),
    feed: &Feed,
    want_ns: i64,
    tol_ns: i64,
) {
    let mut est = estimator();
    let ms = run(&mut est, p, rate_p, s, rate_s, feed);
    let e = est.estimate();
    let report = || format!("{name}: want {want_ns} ns, got {e:?}\n{ms:#?}");
    assert!(e.confident, "{}", report());
    let off = e.offset.unwrap_or(i64::MAX);
    assert!((off - want_ns).abs() <= tol_ns, "{}", report());
    assert!(ms.len() >= 3, "{}", report());
    for m in &ms {
        assert_eq!(m.verdict, Verdict::Match, "{}", report());
        assert!((m.offset - want_ns).abs() <= tol_ns, "{}", report());
        assert!(m.fine_peak.is_some(), "{}", report());
    }
    // A stable offset is published once and never moves.
    assert_eq!(e.revision, 1, "{}", report());
}

fn exact_offsets(name: &str, programme: &[f32], gain_db: f64) {
    for off in OFFSETS_MS {
        let (p, s) = pair(programme, RATE, SECONDS, off * MS, gain_db);
        let label = format!("{name} {off} ms {gain_db} dB");
        // Identical programmes: the only error is numerical (a few µs).
        assert_offset(
            &label,
            (&p, RATE),
            (&s, RATE),
            &Feed::default(),
            off * MS,
            MS / 50,
        );
    }
}

#[test]
fn noise_at_exact_offsets() {
    exact_offsets("noise", &noise(1, RATE, SECONDS + 4.0), 0.0);
}

#[test]
fn music_at_exact_offsets() {
    exact_offsets("music", &music(2, RATE, SECONDS + 4.0), -7.0);
}

#[test]
fn speech_at_exact_offsets() {
    exact_offsets("speech", &speech(3, RATE, SECONDS + 4.0), -15.0);
}

#[test]
fn level_differences_do_not_matter() {
    let prog = music(4, RATE, SECONDS + 4.0);
    for gain in [-15.0, -7.0, 7.0] {
        let (p, s) = pair(&prog, RATE, SECONDS, -306 * MS, gain);
        assert_offset(
            &format!("{gain} dB"),
            (&p, RATE),
            (&s, RATE),
            &Feed::default(),
            -306 * MS,
            MS / 50,
        );
    }
}

#[test]
fn different_rates_and_chunk_sizes() {
    // The same notes rendered at 48 kHz and 44.1 kHz (onsets land on each rate's
    // own samples: up to 23 µs apart).
    let p = music(6, 48000, SECONDS + 4.0);
    let s = music(6, 44100, SECONDS + 4.0);
    let p = &p[2 * 48000..][..(SECONDS * 48000.0) as usize];
    for off_ms in [700i64, -1900] {
        let start = (2000 - off_ms) as usize * 441 / 10;
        let s = &s[start..][..(SECONDS * 44100.0) as usize];
        for (chunks_p, chunks_s) in [
            (vec![1024], vec![1024]),
            (vec![1], vec![4096]),
            (vec![7, 480, 2], vec![441, 13, 999]),
        ] {
            let feed = Feed {
                chunks_p,
                chunks_s,
                ..Feed::default()
            };
            assert_offset(
                &format!("{off_ms} ms {feed:?}"),
                (p, 48000),
                (s, 44100),
                &feed,
                off_ms * MS,
                MS / 20,
            );
        }
    }
}

#[test]
fn holes_in_either_input() {
    let prog = speech(7, RATE, SECONDS + 4.0);
    let (p, s) = pair(&prog, RATE, SECONDS, 700 * MS, -7.0);
    let sec = 1_000_000_000u64;
    let feed = Feed {
        holes_p: vec![(6 * sec, 50_000_000), (9 * sec + 500_000_000, 300_000_000)],
        holes_s: vec![
            (8 * sec, 120_000_000),
            (11 * sec, 20_000_000),
            (12 * sec, 40_000_000),
        ],
        ..Feed::default()
    };
    let mut est = estimator();
    let ms = run(&mut est, &p, RATE, &s, RATE, &feed);
    let e = est.estimate();
    assert!(
        e.confident && e.offset.is_some_and(|o| (o - 700 * MS).abs() < MS / 50),
        "{e:?} {ms:#?}"
    );
    assert!(
        ms.iter()
            .all(|m| m.verdict == Verdict::Match && (m.offset - 700 * MS).abs() < MS / 50),
        "{ms:#?}"
    );
}

#[test]
fn inputs_that_start_at_different_times() {
    // The backup starts 3 s after the primary (it appears late), 306 ms behind.
    let prog = music(8, RATE, 20.0);
    let (p, s) = pair(&prog, RATE, 16.0, 306 * MS, -7.0);
    let late = 3 * RATE as usize;
    let feed = Feed::default();
    let mut est = estimator();
    let mut ms = Vec::new();
    let chunk = 800;
    for (i, c) in p.chunks(chunk).enumerate() {
        let t = feed.start + (i * chunk) as u64 * 1_000_000_000 / RATE as u64;
        ms.extend(est.push(Input::Primary, RATE, t, c));
        let j = i * chunk;
        if j >= late {
            ms.extend(est.push(Input::Secondary, RATE, t, &s[j..(j + chunk).min(s.len())]));
        }
    }
    let e = est.estimate();
    assert!(
        e.confident && e.offset.is_some_and(|o| (o - 306 * MS).abs() < MS / 50),
        "{e:?} {ms:#?}"
    );
}

/// Both inputs have signal but not the same programme: never a match.
#[test]
fn unrelated_programmes_are_not_confident() {
    let n = SECONDS + 4.0;
    let cases = [
        ("music/music", music(10, RATE, n), music(11, RATE, n)),
        ("speech/speech", speech(12, RATE, n), speech(13, RATE, n)),
        ("noise/noise", noise(14, RATE, n), noise(15, RATE, n)),
        ("music/speech", music(16, RATE, n), speech(17, RATE, n)),
    ];
    for (name, a, b) in cases {
        let (p, _) = pair(&a, RATE, SECONDS, 0, 0.0);
        let (s, _) = pair(&b, RATE, SECONDS, 0, 0.0);
        let mut est = estimator();
        let ms = run(&mut est, &p, RATE, &s, RATE, &Feed::default());
        assert!(ms.len() >= 3, "{name}: {ms:#?}");
        for m in &ms {
            assert_eq!(m.verdict, Verdict::NoMatch, "{name}: {m:?}");
            // Both criteria fail on their own, not just one of them.
            let c = Config::default();
            assert!(
                m.confidence < c.min_confidence && m.peak < c.min_peak,
                "{name}: {m:?}"
            );
        }
        assert_eq!(est.estimate(), Estimate::default(), "{name}");
    }
}

#[test]
fn silence_and_a_steady_tone_are_not_programme() {
    let n = (SECONDS * RATE as f64) as usize;
    let zeros = vec![0.0f32; n];
    let t = tone(RATE, SECONDS);
    for (name, p, s) in [("silence", &zeros, &zeros), ("tone", &t, &t)] {
        let mut est = estimator();
        let ms = run(&mut est, p, RATE, s, RATE, &Feed::default());
        assert!(ms.len() >= 3, "{name}");
        assert!(
            ms.iter().all(|m| m.verdict == Verdict::Silent),
            "{name}: {ms:#?}"
        );
        assert_eq!(est.estimate(), Estimate::default(), "{name}");
    }
}

/// The secondary drops out and comes back 306 ms later than before (a reconnected
/// input): the estimate follows, without publishing anything in between.
#[test]
fn a_new_offset_is_followed() {
    let prog = music(20, RATE, 44.0);
    let (p, s1) = pair(&prog, RATE, 40.0, 24 * MS, -7.0);
    let (_, s2) = pair(&prog, RATE, 40.0, 330 * MS, -7.0);
    let cut = 18 * RATE as usize;
    let mut s = s1[..cut].to_vec();
    s.extend_from_slice(&s2[cut..]);
    let sec = 1_000_000_000u64;
    let feed = Feed {
        holes_s: vec![(Feed::default().start + 18 * sec - 500_000_000, 500_000_000)],
        ..Feed::default()
    };
    let mut est = estimator();
    let mut published = vec![];
    let mut last_rev = 0;
    let mut pos = [0usize; 2];
    // Feed in 20 ms steps, recording every published change.
    let step = RATE as usize / 50;
    while pos[0] < p.len() {
        let t = feed.start + pos[0] as u64 * sec / RATE as u64;
        est.push(Input::Primary, RATE, t, &p[pos[0]..pos[0] + step]);
        if !in_hole(&feed.holes_s, t) {
            est.push(Input::Secondary, RATE, t, &s[pos[1]..pos[1] + step]);
        }
        pos = [pos[0] + step, pos[1] + step];
        let e = est.estimate();
        if e.revision != last_rev {
            last_rev = e.revision;
            published.push((t, e.offset, e.confident));
        }
    }
    let values: Vec<i64> = published.iter().filter_map(|p| p.1).collect();
    assert!(
        values
            .iter()
            .all(|&v| (v - 24 * MS).abs() < MS / 50 || (v - 330 * MS).abs() < MS / 50),
        "{published:?}"
    );
    let e = est.estimate();
    assert!(
        e.confident && (e.offset.unwrap() - 330 * MS).abs() < MS / 50,
        "{published:?}"
    );
    // Followed within the window plus the search range plus two analyses.
    let moved = published
        .iter()
        .find(|p| p.1.is_some_and(|v| (v - 330 * MS).abs() < MS))
        .unwrap()
        .0;
    assert!(moved < feed.start + 18 * sec + 15 * sec, "{published:?}");
}

/// The secondary turns into another programme: the offset stays known but stops
/// being confident after `lose_after` analyses; it never moves.
#[test]
fn a_different_programme_loses_confidence() {
    let prog = music(21, RATE, 36.0);
    let other = speech(22, RATE, 36.0);
    let (p, mut s) = pair(&prog, RATE, 32.0, -700 * MS, 0.0);
    let cut = 14 * RATE as usize;
    let len = s.len();
    s[cut..].copy_from_slice(&other[cut..len]);
    let mut est = estimator();
    let ms = run(&mut est, &p, RATE, &s, RATE, &Feed::default());
    let e = est.estimate();
    assert!(!e.confident, "{e:?} {ms:#?}");
    assert!(
        e.offset.is_some_and(|o| (o + 700 * MS).abs() < MS / 50),
        "{e:?}"
    );
    assert_eq!(e.revision, 2, "published once, then lost once: {e:?}");
    assert!(ms.iter().filter(|m| m.verdict == Verdict::NoMatch).count() >= 5);
}

/// Independent noise on each input (as two encoders add) does not make a stable
/// offset wobble: published once.
#[test]
fn coding_noise_does_not_make_the_offset_wobble() {
    let prog = music(23, RATE, 44.0);
    let (mut p, mut s) = pair(&prog, RATE, 40.0, 306 * MS, -7.0);
    let (n1, n2) = (noise(24, RATE, 40.0), noise(25, RATE, 40.0));
    // Noise 30 dB under the programme's level on each input.
    p.iter_mut().zip(&n1).for_each(|(v, n)| *v += n * 0.02);
    s.iter_mut().zip(&n2).for_each(|(v, n)| *v += n * 0.01);
    let mut est = estimator();
    let ms = run(&mut est, &p, RATE, &s, RATE, &Feed::default());
    let e = est.estimate();
    assert!(ms.len() >= 25);
    assert!(e.confident && e.revision == 1, "{e:?} {ms:#?}");
    assert!(
        ms.iter().all(|m| (m.offset - 306 * MS).abs() < MS / 4),
        "{ms:#?}"
    );
}

#[test]
fn reset_forgets_everything() {
    let prog = music(26, RATE, SECONDS + 4.0);
    let (p, s) = pair(&prog, RATE, SECONDS, 24 * MS, 0.0);
    let mut est = estimator();
    run(&mut est, &p, RATE, &s, RATE, &Feed::default());
    assert!(est.estimate().confident);
    est.reset();
    assert_eq!(est.estimate(), Estimate::default());
    assert_eq!(est.last_measurement(), None);
    // The same audio again, on the same running times: found again.
    run(&mut est, &p, RATE, &s, RATE, &Feed::default());
    let e = est.estimate();
    assert!(
        e.confident && e.offset.is_some_and(|o| (o - 24 * MS).abs() < MS / 50),
        "{e:?}"
    );
}

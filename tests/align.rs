// SPDX-License-Identifier: MPL-2.0
//! failoverswitch aligning its inputs by content (gst-check harnesses on a test
//! clock): the secondary carries the same programme 700 ms later and 7 dB quieter;
//! the element measures that and a failover continues the programme instead of
//! repeating 700 ms of it.

use gst::prelude::*;
mod common;
use common::*;

const RATE: u64 = 48_000;
/// 10 ms buffers.
const N: usize = 480;
const DELAY_MS: u64 = 700;
const GAIN: f32 = 0.446_683_6; // -7 dB

/// A music-like programme: a note of a pseudo-random pitch every 250 ms with a
/// decaying envelope, over a quiet noise bed; sample `n` of it.
fn programme(n: u64) -> f32 {
    let note = n / (RATE / 4);
    let mut x = note.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491;
    x ^= x >> 29;
    let freq = 110.0 * 2f64.powf((x % 36) as f64 / 12.0);
    let t = (n % (RATE / 4)) as f64 / RATE as f64;
    let env = (-6.0 * t).exp();
    let mut r = n.wrapping_mul(0x2545_f491_4f6c_dd1d);
    r ^= r >> 31;
    let noise = ((r >> 40) as f64 / (1u64 << 24) as f64 - 0.5) * 0.05;
    (0.4 * env * (2.0 * std::f64::consts::PI * freq * n as f64 / RATE as f64).sin() + noise) as f32
}

/// 10 ms of the programme from sample `from`, scaled.
fn chunk(pts_ms: u64, from: u64, gain: f32) -> gst::Buffer {
    let data: Vec<u8> = (0..N as u64)
        .flat_map(|i| (programme(from + i) * gain).to_le_bytes())
        .collect();
    let mut b = gst::Buffer::from_mut_slice(data);
    {
        let b = b.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(pts_ms));
        b.set_duration(gst::ClockTime::from_mseconds(10));
    }
    b
}

#[test]
fn a_failover_to_a_later_secondary_continues_the_programme() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    let mut out = Vec::new();
    // 0–15 s both; the primary fails at 15 s; the secondary goes on to 17 s.
    for i in 0..1700u64 {
        let now = i * 10;
        t.at(now);
        let sample = now * RATE / 1000;
        if now < 15_000 {
            let _ = t.hp.push(chunk(now, sample, 1.0));
        }
        // The same programme, 700 ms later.
        if now >= DELAY_MS {
            let _ = t.hs.push(chunk(now, sample - DELAY_MS * RATE / 1000, GAIN));
        }
        out.extend(t.pull_all());
    }
    let offset: i64 = t.element.property("offset");
    assert!(
        offset.abs_diff((DELAY_MS * 1_000_000) as i64) < 1_000_000,
        "measured offset {offset}"
    );
    // Announced on the bus once confident.
    let aligned = t.element_messages("failover-aligned");
    assert!(
        aligned.iter().any(|s| s.get::<bool>("confident").unwrap()
            && s.get::<i64>("offset").unwrap().abs_diff(offset) < 1_000),
        "{aligned:?}"
    );
    assert_eq!(t.switches()[0].1, "secondary");
    // The output is continuous, and from the failover on it carries the programme
    // where it left off: output sample n is programme sample n (scaled).
    let end = assert_continuous_from(&out, 0);
    assert!(end >= ms(15_500), "output reaches {end}");
    let mut checked = 0;
    for b in out
        .iter()
        .filter(|b| b.pts().unwrap() >= gst::ClockTime::from_mseconds(15_000))
    {
        let first = b.pts().unwrap().nseconds() * RATE / 1_000_000_000;
        let map = b.map_readable().unwrap();
        for (k, s) in map.chunks_exact(4).enumerate() {
            let v = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            let want = programme(first + k as u64) * GAIN;
            assert!(
                (v - want).abs() < 1e-5,
                "output at {} ms: {v} where the programme has {want}",
                b.pts().unwrap().mseconds()
            );
            checked += 1;
        }
    }
    assert!(checked >= 24_000, "{checked} samples after the failover");
}

#[test]
fn unrelated_programmes_are_not_aligned() {
    let mut t = Live::new(&[("timeout", ms(500).into())]);
    for i in 0..1200u64 {
        let now = i * 10;
        t.at(now);
        let sample = now * RATE / 1000;
        let _ = t.hp.push(chunk(now, sample, 1.0));
        // Another programme altogether (far away in the pseudo-random sequence).
        let _ = t.hs.push(chunk(now, sample + 1_000_000_000, 1.0));
    }
    let offset: i64 = t.element.property("offset");
    assert_eq!(offset, 0);
}

#[test]
fn a_written_offset_applies_with_align_manual() {
    let t = Live::new(&[
        ("timeout", ms(500).into()),
        ("crossfade", 0u64.into()),
        ("align", "manual".to_value()),
    ]);
    t.element
        .set_property("offset", (DELAY_MS * 1_000_000) as i64);
    assert_eq!(
        t.element.property::<i64>("offset"),
        (DELAY_MS * 1_000_000) as i64
    );
    let mut q = gst::query::Latency::new();
    assert!(t.element.static_pad("src").unwrap().query(&mut q));
    // The secondary carries it 700 ms later: the output waits that long for it.
    assert!(q.result().1 >= gst::ClockTime::from_mseconds(DELAY_MS));
}

#[test]
fn a_reconnected_input_is_measured_again_before_it_is_restored_to() {
    let mut t = Live::new(&[
        ("timeout", ms(500).into()),
        ("restore-delay", ms(1000).into()),
        ("crossfade", 0u64.into()),
    ]);
    let mut out = Vec::new();
    // The primary fails at 15 s and comes back at 20 s on a new connection that
    // carries the programme 30 ms later than before (a new placement).
    for i in 0..4500u64 {
        let now = i * 10;
        t.at(now);
        let sample = now * RATE / 1000;
        if now < 15_000 {
            let _ = t.hp.push(chunk(now, sample, 1.0));
        } else if now >= 20_000 {
            let _ = t.hp.push(chunk(now, sample - 30 * RATE / 1000, 1.0));
        }
        if now >= DELAY_MS {
            let _ = t.hs.push(chunk(now, sample - DELAY_MS * RATE / 1000, GAIN));
        }
        out.extend(t.pull_all());
    }
    let sw = t.switches();
    assert_eq!(sw.len(), 2, "{sw:?}");
    assert_eq!(sw[1].2, "restored");
    let offset: i64 = t.element.property("offset");
    assert!(
        offset.abs_diff(((DELAY_MS - 30) * 1_000_000) as i64) < 1_000_000,
        "measured again: {offset}"
    );
    // Every output sample is the programme's, scaled by the input it came from:
    // nothing repeated or skipped at either switch.
    assert_continuous_from(&out, 0);
    for b in &out {
        let first = b.pts().unwrap().nseconds() * RATE / 1_000_000_000;
        let map = b.map_readable().unwrap();
        let v = |k: usize| {
            f32::from_le_bytes([map[4 * k], map[4 * k + 1], map[4 * k + 2], map[4 * k + 3]])
        };
        let matches =
            |gain: f32| (0..N).all(|k| (v(k) - programme(first + k as u64) * gain).abs() < 1e-5);
        assert!(
            matches(1.0) || matches(GAIN),
            "output at {} ms is not the programme",
            b.pts().unwrap().mseconds()
        );
    }
}

/// align=manual (the relay's passthrough alignment): an input placed anew is not
/// restored to before the application writes `offset` again (its new measurement,
/// the same value counts), so a restore never uses a stale offset.
#[test]
fn with_align_manual_a_reconnected_input_waits_for_the_next_written_offset() {
    let mut t = Live::new(&[
        ("timeout", ms(500).into()),
        ("restore-delay", ms(1000).into()),
        ("crossfade", 0u64.into()),
        ("align", "manual".to_value()),
        ("offset", ((DELAY_MS * 1_000_000) as i64).to_value()),
    ]);
    let mut restored_at = None;
    // The primary fails at 3 s and comes back at 5 s; the application writes the
    // offset again at 9 s.
    for i in 0..1200u64 {
        let now = i * 10;
        t.at(now);
        let sample = now * RATE / 1000;
        if !(3_000..5_000).contains(&now) {
            let _ = t.hp.push(chunk(now, sample, 1.0));
        }
        let _ = t.hs.push(chunk(now, sample, GAIN));
        if now == 9_000 {
            t.element
                .set_property("offset", (DELAY_MS * 1_000_000) as i64);
        }
        let _ = t.pull_all();
        let sw = t.switches();
        if sw.iter().any(|s| s.2 == "restored") {
            restored_at.get_or_insert(now);
        }
    }
    let at = restored_at.expect("never restored");
    // Not at 6 s (back for restore-delay), only restore-delay after the write.
    assert!((10_000..=10_200).contains(&at), "restored at {at} ms");
}

// SPDX-License-Identifier: MPL-2.0
//! The on-air event: a standby input's gain goes to its goal at once, an input on
//! air moves at `gain-rate`; and the warning when a bound keeps the gain from its
//! goal.

use super::support::*;
use super::{GR, gain_rate_respected};
use gst::prelude::*;
use gstfailover::on_air_event;

/// A measuring primary and a matching secondary in one pipeline.
struct Pair {
    p: gst::Pipeline,
    a: Rig,
    b: Rig,
}

fn pair(secondary_props: &[(&str, &str)]) -> Pair {
    init();
    let p = gst::Pipeline::new();
    let a = Rig::new(
        &p,
        "primary",
        &[("mode", "measure")],
        caps(GR, 2, "F32LE", None),
    );
    let mut props = vec![
        ("mode", "match"),
        ("reference", "primary"),
        ("interval", "100000000"),
    ];
    props.extend_from_slice(secondary_props);
    let b = Rig::new(&p, "secondary", &props, caps(GR, 2, "F32LE", None));
    Pair { p, a, b }
}

impl Pair {
    /// Pushes both inputs in step, 100 ms at a time (the primary first).
    fn push(&mut self, primary: &[f32], secondary: &[f32]) {
        let step = GR as usize / 10 * 2;
        for (x, y) in primary.chunks(step).zip(secondary.chunks(step)) {
            self.a.push_f32(x);
            self.b.push_f32(y);
        }
    }

    /// Tells the secondary whether it is on air, as a failoverswitch does; checks
    /// that the event went on upstream.
    fn on_air(&mut self, on_air: bool) {
        assert!(
            self.b
                .h
                .push_upstream_event(on_air_event::new_event(on_air))
        );
        // (the harness also sees other upstream events, such as reconfigure)
        let passed = std::iter::from_fn(|| self.b.h.try_pull_upstream_event())
            .filter_map(|ev| on_air_event::parse_event(&ev))
            .collect::<Vec<_>>();
        assert_eq!(passed, [on_air], "the on-air event must pass on upstream");
    }
}

/// Frames of `secs` seconds of stereo at GR.
fn at(secs: f64) -> usize {
    (secs * GR as f64) as usize * 2
}

/// Short-term loudness (3 s) of interleaved stereo `data` ending at `end_secs`.
fn short_term_at(data: &[f32], end_secs: f64) -> f64 {
    let mut e = ebur128::EbuR128::new(2, GR, ebur128::Mode::S).unwrap();
    e.add_frames_f32(&data[at(end_secs - 3.0)..at(end_secs)])
        .unwrap();
    e.loudness_shortterm().unwrap()
}

#[test]
fn standby_gain_reaches_the_difference_as_soon_as_the_reference_is_known() {
    let primary = Sig::new(GR, 2).programme(-16.0, 3.0, 21);
    for diff in [7.0, 10.0, 15.0] {
        let mut t = pair(&[("max-gain", "20")]);
        t.on_air(false);
        t.push(&primary.data, &primary.scaled(-diff).data);
        let msgs = messages(&t.p, "secondary");
        // Both inputs have their first 400 ms block at 0.4 s; the gain is at the
        // difference in the next 100 ms and stays there.
        for m in &msgs {
            let at = m.at.unwrap();
            if at < 0.35 {
                assert_eq!(m.gain, 0.0, "{diff} dB: gain {} before any block", m.gain);
            } else if at > 0.45 {
                near(m.gain, diff, 0.05, &format!("{diff} dB: gain at {at:.1} s"));
            }
        }
        assert!(
            msgs.iter()
                .any(|m| m.at.unwrap() < 0.55 && m.gain > diff - 0.05)
        );
        assert!(warnings(&t.p).is_empty());
    }
}

#[test]
fn a_switch_4s_after_the_start_has_no_level_jump() {
    // The secondary 7 dB quieter, standby for 4 s, then on air: its output's
    // short-term loudness at the switch is the primary's within 1 LU. Without
    // the on-air event the gain moves at gain-rate (1 dB/s) from the start, as an
    // input on air does, and is not there yet.
    let primary = Sig::new(GR, 2).programme(-16.0, 6.0, 22);
    let secondary = primary.scaled(-7.0);
    for standby in [true, false] {
        let mut t = pair(&[]);
        if standby {
            t.on_air(false);
        }
        t.push(&primary.data[..at(4.0)], &secondary.data[..at(4.0)]);
        if standby {
            t.on_air(true);
        }
        t.push(&primary.data[at(4.0)..], &secondary.data[at(4.0)..]);
        t.b.eos();
        let out = t.b.output_f32();
        let jump = short_term_at(&out, 4.0) - short_term_at(&primary.data, 4.0);
        eprintln!("standby {standby}: level step at the switch {jump:+.2} LU");
        if standby {
            assert!(jump.abs() <= 1.0, "level jump {jump:.2} LU at the switch");
        } else {
            assert!(jump < -2.0, "without standby the gain lags: {jump:.2} LU");
        }
    }
}

#[test]
fn on_air_the_gain_moves_at_gain_rate_only() {
    // Standby for 3 s (gain at 7 dB at once), then on air; at 4 s the primary
    // gets 4 dB louder: the gain follows at no more than gain-rate (2 dB/s).
    let primary = Sig::new(GR, 2).programme(-18.0, 10.0, 23);
    let mut louder = primary.clone();
    let g = 10f32.powf(4.0 / 20.0);
    louder.data[at(4.0)..].iter_mut().for_each(|v| *v *= g);
    let secondary = primary.scaled(-7.0);
    let mut t = pair(&[("gain-rate", "2")]);
    t.on_air(false);
    t.push(&louder.data[..at(3.0)], &secondary.data[..at(3.0)]);
    t.on_air(true);
    t.push(&louder.data[at(3.0)..], &secondary.data[at(3.0)..]);
    let msgs = messages(&t.p, "secondary");
    let on_air: Vec<Msg> = msgs
        .iter()
        .filter(|m| m.at.unwrap() >= 3.0)
        .copied()
        .collect();
    near(on_air[0].gain, 7.0, 0.05, "gain when going on air");
    gain_rate_respected(&on_air, 2.0);
    // it did move, and got there
    let end = on_air.last().unwrap().gain;
    near(end, 11.0, 0.5, "gain at the end");
    let moved: f64 = on_air
        .windows(2)
        .map(|w| (w[1].gain - w[0].gain).abs())
        .sum();
    assert!(moved > 3.0, "{moved}");
}

#[test]
fn a_gain_held_at_max_gain_warns_once_per_episode() {
    // 15 dB quieter, max-gain 12: one WARNING however long it lasts; raising
    // max-gain lets the gain reach its goal; lowering it again warns again.
    let primary = Sig::new(GR, 2).programme(-16.0, 18.0, 24);
    let secondary = primary.scaled(-15.0);
    let mut t = pair(&[]);
    t.on_air(false);
    t.push(&primary.data[..at(6.0)], &secondary.data[..at(6.0)]);
    // (warnings() drops the other messages: read the loudness ones first)
    let gains = messages(&t.p, "secondary");
    near(
        gains.last().unwrap().gain,
        12.0,
        1e-9,
        "gain held at max-gain",
    );
    let w = warnings(&t.p);
    assert_eq!(w.len(), 1, "one warning, not one per buffer: {w:?}");
    assert!(w[0].contains("max-gain is +12.0 dB"), "{}", w[0]);
    assert!(w[0].contains("3.0 dB too quiet"), "{}", w[0]);
    assert!(w[0].contains("raise max-gain to at least 15.0"), "{}", w[0]);

    let el = t.b.h.element().unwrap();
    el.set_property("max-gain", 20.0f64);
    t.push(
        &primary.data[at(6.0)..at(12.0)],
        &secondary.data[at(6.0)..at(12.0)],
    );
    near(
        messages(&t.p, "secondary").last().unwrap().gain,
        15.0,
        0.1,
        "gain with max-gain 20",
    );
    assert!(warnings(&t.p).is_empty());

    el.set_property("max-gain", 10.0f64);
    t.push(&primary.data[at(12.0)..], &secondary.data[at(12.0)..]);
    let w = warnings(&t.p);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("5.0 dB too quiet"), "{}", w[0]);
}

// SPDX-License-Identifier: MPL-2.0
//! Property writes while streaming: each reads back at once and takes effect (at
//! the next buffer for `mode`), none is dropped.

use super::support::*;
use super::{GR, gain_rate_respected};
use gst::prelude::*;

fn latency_messages(p: &gst::Pipeline) -> usize {
    let bus = p.bus().unwrap();
    std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Latency])).count()
}

/// Checks that the output buffers carry the input's timestamps, frame for frame.
fn timestamps_follow_the_frames(rig: &Rig) {
    let mut frames = 0u64;
    for b in &rig.out {
        let want = frames * 1_000_000_000 / rig.rate as u64;
        let pts = b.pts().unwrap().nseconds();
        assert!(pts.abs_diff(want) <= 1, "pts {pts} for frame {frames}");
        frames += (b.size() / 4 / rig.ch) as u64;
    }
}

#[test]
fn mode_written_while_playing_takes_effect_at_the_next_buffer() {
    init();
    let sig = Sig::new(GR, 2).programme(-33.0, 7.0, 31);
    let (a, b) = (at(2.0), at(5.0));
    let p = gst::Pipeline::new();
    let mut rig = Rig::new(
        &p,
        "lm",
        &[("mode", "measure"), ("gain-rate", "60")],
        caps(GR, 2, "F32LE", None),
    );
    let el = rig.h.element().unwrap();
    let shaping_latency = {
        let p2 = gst::Pipeline::new();
        let n = Rig::new(&p2, "n", &[], caps(GR, 2, "F32LE", None));
        n.h.query_latency().unwrap()
    };
    assert!(shaping_latency > gst::ClockTime::ZERO);

    rig.push_f32(&sig.data[..a]);
    assert_eq!(rig.h.query_latency(), Some(gst::ClockTime::ZERO));

    el.set_property_from_str("mode", "normalize");
    assert_eq!(
        el.property::<gstfailover::loudnessmatch::LoudnessMatchMode>("mode"),
        gstfailover::loudnessmatch::LoudnessMatchMode::Normalize,
        "mode reads back at once"
    );
    rig.push_f32(&sig.data[a..b]);
    assert_eq!(latency_messages(&p), 1, "the latency changed: say so");
    assert_eq!(rig.h.query_latency(), Some(shaping_latency));
    let out = rig.output_f32();
    assert_eq!(&out[..a], &sig.data[..a], "measured audio passes untouched");
    let (i, _) = analyse(GR, 2, &out[at(4.0)..]);
    near(i, -23.0, 1.0, "normalized output");

    el.set_property_from_str("mode", "measure");
    rig.push_f32(&sig.data[b..]);
    rig.eos();
    assert_eq!(latency_messages(&p), 1);
    assert_eq!(rig.h.query_latency(), Some(gst::ClockTime::ZERO));
    let out = rig.output_f32();
    assert_eq!(out.len(), sig.data.len(), "no sample lost or repeated");
    assert_eq!(&out[b..], &sig.data[b..], "measured again: untouched");
    timestamps_follow_the_frames(&rig);
    assert!(warnings(&p).is_empty());
}

fn at(secs: f64) -> usize {
    (secs * GR as f64) as usize * 2
}

#[test]
fn every_property_written_while_playing_reads_back_and_takes_effect() {
    init();
    let sig = Sig::new(GR, 2).programme(-33.0, 20.0, 32);
    let p = gst::Pipeline::new();
    let mut rig = Rig::new(
        &p,
        "lm",
        &[("gain-rate", "60"), ("interval", "100000000")],
        caps(GR, 2, "F32LE", None),
    );
    let el = rig.h.element().unwrap();
    let mut pos = 0;
    let mut play = |rig: &mut Rig, secs: f64| -> Vec<Msg> {
        let end = (pos + at(secs)).min(sig.data.len());
        rig.push_f32(&sig.data[pos..end]);
        pos = end;
        messages(&p, "lm")
    };
    let gain = |msgs: &[Msg]| msgs.last().unwrap().gain;

    near(gain(&play(&mut rig, 3.0)), 10.0, 0.5, "gain to -23 LUFS");

    el.set_property("target-loudness", -28.0f64);
    assert_eq!(el.property::<f64>("target-loudness"), -28.0);
    near(gain(&play(&mut rig, 2.0)), 5.0, 0.5, "gain to -28 LUFS");

    el.set_property("max-gain", 3.0f64);
    assert_eq!(el.property::<f64>("max-gain"), 3.0);
    near(gain(&play(&mut rig, 1.0)), 3.0, 1e-9, "held at max-gain");
    let w = warnings(&p);
    assert!(w.len() == 1 && w[0].contains("max-gain"), "{w:?}");

    el.set_property("max-gain", 12.0f64);
    el.set_property("min-gain", 8.0f64);
    assert_eq!(el.property::<f64>("min-gain"), 8.0);
    near(gain(&play(&mut rig, 1.0)), 8.0, 1e-9, "held at min-gain");
    let w = warnings(&p);
    assert!(w.len() == 1 && w[0].contains("min-gain"), "{w:?}");

    el.set_property("min-gain", -12.0f64);
    el.set_property("gain-rate", 0.5f64);
    assert_eq!(el.property::<f64>("gain-rate"), 0.5);
    let msgs = play(&mut rig, 2.0);
    gain_rate_respected(&msgs, 0.5);
    near(gain(&msgs), 7.0, 0.1, "moving down at 0.5 dB/s");

    el.set_property("gain-rate", 60.0f64);
    // 11 dB of gain would put the true peak near -13.6 dBTP
    let (_, tp_in) = analyse(GR, 2, &sig.data);
    el.set_property("target-loudness", -22.0f64);
    el.set_property("true-peak-limit", -20.0f64);
    assert_eq!(el.property::<f64>("true-peak-limit"), -20.0);
    near(gain(&play(&mut rig, 2.0)), 11.0, 0.5, "gain to -22 LUFS");
    let out = rig.output_f32();
    let (_, tp_out) = analyse(GR, 2, &out[out.len() - at(1.5)..]);
    assert!(tp_in + 11.0 > -16.0, "{tp_in}");
    assert!(
        tp_out <= -20.0 + 0.2,
        "true peak {tp_out} over the new limit"
    );

    el.set_property("interval", 500_000_000u64);
    assert_eq!(el.property::<u64>("interval"), 500_000_000);
    let msgs = play(&mut rig, 3.0);
    let times: Vec<f64> = msgs.iter().filter_map(|m| m.at).collect();
    assert!(times.len() >= 5, "{times:?}");
    for w in times.windows(2).skip(1) {
        near(w[1] - w[0], 0.5, 1e-6, "message period");
    }

    el.set_property("reference", "someone");
    assert_eq!(
        el.property::<Option<String>>("reference").as_deref(),
        Some("someone")
    );
    // in normalize mode the reference is not used: nothing to warn about
    play(&mut rig, 1.0);
    assert!(warnings(&p).is_empty());
}

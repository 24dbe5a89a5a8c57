// SPDX-License-Identifier: MPL-2.0
//! failoverswitch with an input that lags (gst-check harnesses on one test clock):
//! both inputs carry the same live programme, but the secondary's data arrives with
//! timestamps 300 ms behind the primary's (its connection was placed behind the live
//! edge). Every keyframe of it then lies behind the output position when it arrives.
//! A switch to it must still happen, at its keyframe, with its frames in order and
//! the group's audio moved by the same amount; and a live input's first data is not
//! late because the pipeline was slow to reach PLAYING.

use gst::prelude::*;
use gst_check::Harness;
mod common;
use common::av::{Group, Switch};
use common::*;

const H264: &str = "video/x-h264,stream-format=byte-stream,alignment=au,profile=main";
/// 25 fps.
const FRAME: u64 = 40;
/// How far the secondary's timestamps lag behind the programme.
const LAG: u64 = 300;

const P: u8 = 1;
const S: u8 = 2;

/// A 40 ms access unit of programme time `prog_ms` (in its payload) with the
/// timestamp `pts_ms`.
fn unit(pts_ms: u64, prog_ms: u64, keyframe: bool, tag: u8) -> gst::Buffer {
    let mut data = vec![tag];
    data.extend_from_slice(&prog_ms.to_le_bytes());
    data.resize(64, 0);
    let mut b = gst::Buffer::from_mut_slice(data);
    {
        let b = b.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(pts_ms));
        b.set_duration(gst::ClockTime::from_mseconds(FRAME));
        if !keyframe {
            b.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
    }
    b
}

/// A unit that went out: (pts ms, duration ms, tag, programme ms, keyframe).
type OutUnit = (u64, u64, u8, u64, bool);

fn collect(h: &mut Harness, units: &mut Vec<OutUnit>, gaps: &mut Vec<(u64, u64)>) {
    while let Some(b) = h.try_pull() {
        let m = b.map_readable().unwrap();
        let prog = u64::from_le_bytes(m[1..9].try_into().unwrap());
        let key = !b.flags().contains(gst::BufferFlags::DELTA_UNIT);
        units.push((
            b.pts().unwrap().mseconds(),
            b.duration().unwrap().mseconds(),
            m[0],
            prog,
            key,
        ));
    }
    while let Some(e) = h.try_pull_event() {
        if let gst::EventView::Gap(g) = e.view() {
            let (ts, d) = g.get();
            gaps.push((ts.mseconds(), (ts + d.unwrap()).mseconds()));
        }
    }
}

/// (to, reason, running time ms) of the switch messages.
fn switches(msgs: &[gst::Message]) -> Vec<(String, String, u64)> {
    msgs.iter()
        .filter_map(|m| {
            let s = m.structure()?;
            (s.name() == "failover-switched").then(|| {
                (
                    s.get::<String>("to").unwrap(),
                    s.get::<String>("reason").unwrap(),
                    s.get::<u64>("running-time").unwrap() / 1_000_000,
                )
            })
        })
        .collect()
}

fn warnings(msgs: &[gst::Message]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(w.error().to_string()),
            _ => None,
        })
        .collect()
}

/// Keyframes every second: the primary's at programme 0, 1000, ...; the
/// secondary's at 480, 1480, ... (the encoders' GOPs are not aligned).
fn key_p(prog: u64) -> bool {
    prog % 1000 == 0
}
fn key_s(prog: u64) -> bool {
    prog % 1000 == 480
}

/// The output is one stream: every unit starts where the previous one ended (no
/// hole, no overlap, none squeezed), every source starts at a keyframe, and each
/// source's programme advances by one frame per frame.
fn assert_in_order(units: &[OutUnit]) {
    for w in units.windows(2) {
        let (a, b) = (w[0], w[1]);
        assert_eq!(a.0 + a.1, b.0, "unit at {} after {a:?}: {units:?}", b.0);
        assert_eq!(b.1, FRAME, "a unit squeezed: {b:?}");
        if a.2 == b.2 {
            assert_eq!(
                a.3 + FRAME,
                b.3,
                "programme jumps within a source: {a:?} {b:?}"
            );
        } else {
            assert!(b.4, "{b:?} starts its source with a delta unit");
        }
    }
}

#[test]
fn a_planned_switch_to_an_input_whose_keyframes_arrive_behind_the_output_happens() {
    let mut sw = Switch::new(&[("timeout", ms(1000).into())], H264, None);
    sw.hp.play();
    let (mut units, mut gaps) = (Vec::new(), Vec::new());
    for i in 0..100u64 {
        let t = i * FRAME;
        sw.at(t);
        let _ = sw.hp.push(unit(t, t, key_p(t), P));
        if t >= LAG {
            let _ = sw.hs.push(unit(t - LAG, t, key_s(t), S));
        }
        if t == 1000 {
            sw.switch_to_secondary();
        }
        sw.settle();
        collect(&mut sw.hp, &mut units, &mut gaps);
    }
    let msgs = sw.messages();
    // The secondary's keyframe of programme 1480 arrives at 1480 with the timestamp
    // 1180, when the output has reached 1520: the switch happens there, the
    // secondary placed 340 ms later from then on.
    assert_eq!(
        switches(&msgs),
        vec![("secondary".into(), "manual".into(), 1520)],
        "{units:?}"
    );
    assert!(gaps.is_empty(), "{gaps:?}");
    assert_in_order(&units);
    let first_s = units.iter().position(|u| u.2 == S).unwrap();
    assert_eq!(units[first_s], (1520, FRAME, S, 1480, true));
    assert!(units[first_s..].iter().all(|u| u.2 == S));
    assert_eq!(units.last().unwrap().0, 3960 - LAG + 340);
    let stats: gst::Structure = sw.element.property("stats");
    assert_eq!(stats.get::<u64>("secondary-delay"), Ok(ms(340)));
    assert_eq!(stats.get::<u64>("primary-delay"), Ok(0));
}

#[test]
fn a_lagging_input_moved_onto_its_edge_upstream_gives_its_delay_back() {
    // As above; the primary is taken back at 2.52 s (manually), and from 3.5 s the
    // secondary's timestamps are 300 ms later (the relay re-placed its connection
    // onto its live edge while it was standby).
    let mut sw = Switch::new(&[("timeout", ms(1000).into())], H264, None);
    sw.hp.play();
    let (mut units, mut gaps) = (Vec::new(), Vec::new());
    for i in 0..125u64 {
        let t = i * FRAME;
        sw.at(t);
        let _ = sw.hp.push(unit(t, t, key_p(t), P));
        if t >= LAG {
            let pts = if t >= 3500 { t } else { t - LAG };
            let _ = sw.hs.push(unit(pts, t, key_s(t), S));
        }
        if t == 1000 {
            sw.switch_to_secondary();
        }
        if t == 2520 {
            let pad = sw.element.static_pad("primary").unwrap();
            sw.element.set_property("active-pad", &pad);
        }
        if t == 3000 {
            let stats: gst::Structure = sw.element.property("stats");
            assert_eq!(stats.get::<u64>("secondary-delay"), Ok(ms(340)));
        }
        sw.settle();
        collect(&mut sw.hp, &mut units, &mut gaps);
    }
    let msgs = sw.messages();
    assert_eq!(switches(&msgs).len(), 2, "{:?}", switches(&msgs));
    assert_in_order(&units);
    // 340 ms placed later, then moved 300 ms onto its edge upstream: 40 ms left.
    let stats: gst::Structure = sw.element.property("stats");
    assert_eq!(stats.get::<u64>("secondary-delay"), Ok(ms(40)));
}

#[test]
fn a_failover_to_an_input_whose_keyframes_arrive_behind_the_output_keeps_its_frames_in_order() {
    // The primary's encoder stalls at 2.0 s (connection open, no data).
    let mut sw = Switch::new(&[("timeout", ms(300).into())], H264, None);
    sw.hp.play();
    let (mut units, mut gaps) = (Vec::new(), Vec::new());
    for i in 0..150u64 {
        let t = i * FRAME;
        sw.at(t);
        if t < 2000 {
            let _ = sw.hp.push(unit(t, t, key_p(t), P));
        }
        if t >= LAG {
            let _ = sw.hs.push(unit(t - LAG, t, key_s(t), S));
        }
        sw.settle();
        collect(&mut sw.hp, &mut units, &mut gaps);
    }
    let msgs = sw.messages();
    let sw_msgs = switches(&msgs);
    assert_eq!(sw_msgs.len(), 1, "{sw_msgs:?} {units:?}");
    assert_eq!(sw_msgs[0].0, "secondary");
    // Picture from the secondary's keyframe on, in order; before it GAPs only.
    let first_s = units.iter().position(|u| u.2 == S).unwrap();
    assert_in_order(&units[first_s..]);
    assert_in_order(&units[..first_s]);
    assert!(units[first_s].4 && units[first_s].3 % 1000 == 480);
    assert!(units[first_s].0 >= 2000, "{:?}", units[first_s]);
    for g in &gaps {
        assert!(g.0 >= 2000 && g.1 <= units[first_s].0, "{gaps:?}");
    }
    // It did not wait for more than the keyframe after the failover.
    assert!(
        units[first_s].0 <= 2000 + 300 + 1000 + FRAME,
        "{:?}",
        units[first_s]
    );
}

/// `LAG` of programme in ms as an audio value (the programme time audible).
fn prog_value(prog_ms: u64) -> f32 {
    prog_ms as f32 / 10_000.0
}

#[test]
fn a_group_moves_its_audio_with_the_video_of_a_lagging_input() {
    let props = || -> Vec<(&'static str, gst::glib::Value)> {
        vec![
            ("timeout", ms(1000).into()),
            ("group", "av".to_value()),
            ("crossfade", 0u64.into()),
        ]
    };
    let mut g = Group::new(&props(), H264, Switch::new);
    let (mut units, mut gaps) = (Vec::new(), Vec::new());
    let mut aout: Vec<gst::Buffer> = Vec::new();
    for i in 0..200u64 {
        let t = i * 20;
        g.at(t);
        if t % FRAME == 0 {
            let _ = g.video.hp.push(unit(t, t, key_p(t), P));
            if t >= LAG {
                let _ = g.video.hs.push(unit(t - LAG, t, key_s(t), S));
            }
        }
        for h in [0, 10] {
            let _ = g.audio.hp.push(audio_buffer(t + h, prog_value(t + h)));
            if t >= LAG {
                let _ = g
                    .audio
                    .hs
                    .push(audio_buffer(t + h - LAG, prog_value(t + h)));
            }
        }
        if t == 1000 {
            g.video.switch_to_secondary();
        }
        g.settle();
        collect(&mut g.video.hp, &mut units, &mut gaps);
        aout.extend(std::iter::from_fn(|| g.audio.hp.try_pull()));
    }
    let v = switches(&g.video.messages());
    let a = switches(&g.audio.messages());
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].0, "secondary");
    assert_eq!(a, v, "audio and video switch at one running time");
    assert_in_order(&units);
    assert_continuous_from(&aout, 0);
    // Where the picture shows programme time p, the sound plays p too (within a
    // 10 ms audio buffer), before and after the switch.
    let at = v[0].2;
    let mut checked = 0;
    for &(pts, _, _, prog, _) in units.iter().filter(|u| u.0 + 200 < 3900) {
        let values = samples_between(&aout, pts, pts + 1);
        let Some(&heard) = values.first() else {
            continue;
        };
        let want = prog_value(prog);
        assert!(
            (heard - want).abs() <= prog_value(10) + 1e-4,
            "at {pts} ms (switch at {at}): picture {prog} ms, sound {} ms",
            heard * 10_000.0
        );
        checked += 1;
    }
    assert!(checked > 80, "{checked}");
    assert!(units.iter().filter(|u| u.2 == S && u.0 >= at).count() > 40);
}

#[test]
fn a_switch_beyond_catching_up_warns_with_the_lag_and_the_latency_that_helps() {
    // The secondary's timestamps lag 1.5 s; it says it has 1 s latency, so its data
    // is current, but catching up is bounded by the timeout (1 s).
    let mut sw = Switch::with_latency(&[("timeout", ms(1000).into())], H264, None, 1000);
    sw.hp.play();
    let (mut units, mut gaps) = (Vec::new(), Vec::new());
    let lag = 1500;
    for i in 0..125u64 {
        let t = i * FRAME;
        sw.at(t);
        let _ = sw.hp.push(unit(t, t, key_p(t), P));
        if t >= lag {
            let _ = sw.hs.push(unit(t - lag, t, key_s(t), S));
        }
        if t == 2000 {
            sw.switch_to_secondary();
        }
        sw.settle();
        collect(&mut sw.hp, &mut units, &mut gaps);
    }
    let msgs = sw.messages();
    assert!(switches(&msgs).is_empty());
    let w = warnings(&msgs);
    assert_eq!(w.len(), 1, "one warning per switch: {w:?}");
    assert!(
        w[0].contains("secondary") && w[0].contains("1540 ms") && w[0].contains("latency"),
        "{w:?}"
    );
    // The primary goes on meanwhile.
    assert_in_order(&units);
    assert!(units.iter().all(|u| u.2 == P));
    assert_eq!(units.last().unwrap().0, 4960);
}

#[test]
fn a_live_inputs_first_data_is_not_late_when_the_pipeline_was_slow_to_play() {
    // The pipeline's clock ran 1.5 s (base time 0) before it reached PLAYING: the
    // primary's first 1.5 s were queued upstream and come at once, the secondary's
    // connection starts then.
    init();
    let mut sw = Switch::new(&[("timeout", ms(1000).into())], H264, None);
    // (The harness plays at once: start it again at 1.5 s, base time 0.)
    sw.element.set_state(gst::State::Ready).unwrap();
    sw.element.set_base_time(gst::ClockTime::ZERO);
    sw.at(1500);
    sw.element.set_state(gst::State::Playing).unwrap();
    let (mut units, mut gaps) = (Vec::new(), Vec::new());
    let _ = sw.hs.push(unit(1500, 1500, true, S));
    for t in (0..1500).step_by(FRAME as usize) {
        let _ = sw.hp.push(unit(t, t, key_p(t), P));
    }
    for i in 38..100u64 {
        let t = i * FRAME;
        sw.at(t);
        let _ = sw.hp.push(unit(t, t, key_p(t), P));
        let _ = sw.hs.push(unit(t, t, key_s(t), S));
        sw.settle();
        collect(&mut sw.hp, &mut units, &mut gaps);
    }
    let msgs = sw.messages();
    assert!(switches(&msgs).is_empty(), "{:?}", switches(&msgs));
    assert!(units.iter().all(|u| u.2 == P));
    assert_in_order(&units);
    assert_eq!(units.first().map(|u| u.0), Some(0));
}

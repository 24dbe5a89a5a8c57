// SPDX-License-Identifier: MPL-2.0
//! failoverswitch with encoded video and groups (gst-check harnesses on one test
//! clock): switches at the incoming keyframe, filler while waiting for it, the audio
//! and video switch of one programme switching as one, and `latency` letting a switch
//! reach back so neither the picture freezes nor the sound pauses.

use gst::prelude::*;
use gst_check::Harness;
mod common;
use common::av::{Group, Switch};
use common::*;

const H264: &str = "video/x-h264,stream-format=byte-stream,alignment=au,profile=main";
/// 25 fps.
const FRAME: u64 = 40;

/// A 40 ms H.264 access unit: a keyframe, or a delta unit.
fn unit(pts_ms: u64, keyframe: bool, tag: u8) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(vec![tag; 64]);
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

const P: u8 = 1;
const S: u8 = 2;

/// What went out: buffers (pts ms, tag, keyframe) and GAP events (start, end ms).
#[derive(Default, Debug)]
struct Out {
    units: Vec<(u64, u8, bool)>,
    gaps: Vec<(u64, u64)>,
}

fn collect(h: &mut Harness, out: &mut Out) {
    while let Some(b) = h.try_pull() {
        let tag = b.map_readable().unwrap()[0];
        let key = !b.flags().contains(gst::BufferFlags::DELTA_UNIT);
        out.units.push((b.pts().unwrap().mseconds(), tag, key));
    }
    while let Some(e) = h.try_pull_event() {
        if let gst::EventView::Gap(g) = e.view() {
            let (ts, d) = g.get();
            out.gaps.push((ts.mseconds(), (ts + d.unwrap()).mseconds()));
        }
    }
}

fn switches(bus: &gst::Bus) -> Vec<(String, String, u64)> {
    std::iter::from_fn(|| bus.pop())
        .filter_map(|m| {
            let s = m.structure()?.to_owned();
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

/// Primary keyframes every second from 0; secondary keyframes every second from
/// 0.48 s (the encoders' GOPs are not aligned).
fn key_p(t: u64) -> bool {
    t % 1000 == 0
}
fn key_s(t: u64) -> bool {
    t % 1000 == 480
}

#[test]
fn video_fails_over_at_the_incoming_keyframe_and_restores_without_freezing() {
    let mut sw = Switch::new(
        &[
            ("timeout", ms(300).into()),
            ("restore-delay", ms(1000).into()),
        ],
        H264,
        None,
    );
    sw.hp.play();
    let mut out = Out::default();
    for i in 0..200u64 {
        let t = i * FRAME;
        sw.at(t);
        // The primary's encoder is gone from 2.0 s to 3.0 s.
        if !(2000..3000).contains(&t) {
            let _ = sw.hp.push(unit(t, key_p(t), P));
        }
        let _ = sw.hs.push(unit(t, key_s(t), S));
        sw.settle();
        collect(&mut sw.hp, &mut out);
    }
    let sw_msgs = switches(&sw.bus);
    assert_eq!(sw_msgs.len(), 2, "{sw_msgs:?}");
    // Failover: at the secondary's first keyframe after the primary's data ended.
    assert_eq!(
        sw_msgs[0],
        ("secondary".to_string(), "timeout".to_string(), 2480)
    );
    // Restore (primary healthy from 3.0 s, hold-off 1 s, due at 4.0 s): at the
    // primary's keyframe at 4.0 s.
    assert_eq!(
        sw_msgs[1],
        ("primary".to_string(), "restored".to_string(), 4000)
    );
    // Filler while the picture waited for the keyframe: 2.0 s to 2.48 s.
    let covered: u64 = out.gaps.iter().map(|(a, b)| b - a).sum();
    assert_eq!(covered, 480, "{:?}", out.gaps);
    assert_eq!(out.gaps.first().unwrap().0, 2000);
    // Every source's first unit is a keyframe, no unit comes from the wrong source,
    // and but for the filler the output is contiguous.
    let mut expect = 0;
    let mut last_tag = 0;
    for &(pts, tag, key) in &out.units {
        if pts != expect {
            assert_eq!((expect, pts), (2000, 2480), "hole at {expect}");
        }
        if tag != last_tag {
            assert!(key, "{tag} starts with a delta unit at {pts}");
            last_tag = tag;
        }
        let source = if (2480..4000).contains(&pts) { S } else { P };
        assert_eq!(tag, source, "unit at {pts}");
        expect = pts + FRAME;
    }
}

#[test]
fn a_group_switches_audio_and_video_as_one_at_the_video_keyframe() {
    let props = |caps_timeout: u64| -> Vec<(&'static str, gst::glib::Value)> {
        vec![
            ("timeout", ms(caps_timeout).into()),
            ("restore-delay", ms(1000).into()),
            ("group", "av".to_value()),
            ("crossfade", 0u64.into()),
        ]
    };
    let mut g = Group::new(&props(300), H264, Switch::new);
    let mut vout = Out::default();
    let mut aout: Vec<gst::Buffer> = Vec::new();
    for i in 0..300u64 {
        let t = i * 20;
        g.at(t);
        // Only the primary's AUDIO fails, 2.0 s to 3.0 s: the whole group fails over.
        let primary_audio = !(2000..3000).contains(&t);
        if t % FRAME == 0 {
            let _ = g.video.hp.push(unit(t, key_p(t), P));
            let _ = g.video.hs.push(unit(t, key_s(t), S));
        }
        for h in 0..2 {
            let b = audio_buffer(t + h * 10, 0.25);
            if primary_audio {
                let _ = g.audio.hp.push(b);
            }
            let _ = g.audio.hs.push(audio_buffer(t + h * 10, -0.25));
        }
        g.settle();
        collect(&mut g.video.hp, &mut vout);
        aout.extend(std::iter::from_fn(|| g.audio.hp.try_pull()));
    }
    let v = switches(&g.video.bus);
    let a = switches(&g.audio.bus);
    // One reason for both, the same running time for both: the secondary's keyframe.
    assert_eq!(
        v.first(),
        Some(&("secondary".into(), "timeout".into(), 2480)),
        "{v:?}"
    );
    assert_eq!(a.first(), v.first(), "audio {a:?} video {v:?}");
    // The restore (primary audio healthy from 3.0 s, restore-delay 1 s), too, at the
    // primary's keyframe.
    assert_eq!(v.get(1).map(|s| s.2), Some(4000), "{v:?}");
    assert_eq!(a.get(1), v.get(1), "audio {a:?} video {v:?}");
    // Audio never carries the other input than video: silence while the picture
    // waits for the keyframe, the secondary from its keyframe to the restore.
    assert_continuous_from(&aout, 0);
    assert_values(&aout, 0, 2000, 0.25);
    assert_values(&aout, 2000, 2480, 0.0);
    assert_values(&aout, 2480, 4000, -0.25);
    assert_values(&aout, 4000, 5900, 0.25);
}

#[test]
fn latency_lets_a_failover_reach_back_so_neither_picture_nor_sound_stops() {
    // Held back by 1.5 s (a GOP plus the timeout): when the primary dies at 3.0 s,
    // what went out is 1.5 s behind, and the secondary's keyframe at 2.48 s lies
    // within the primary's unsent data.
    let mut sw = Switch::new(
        &[("timeout", ms(300).into()), ("latency", ms(1500).into())],
        H264,
        None,
    );
    sw.hp.play();
    let mut out = Out::default();
    let mut released_late = Vec::new();
    for i in 0..150u64 {
        let t = i * FRAME;
        sw.at(t);
        if t < 3000 {
            let _ = sw.hp.push(unit(t, key_p(t), P));
        }
        let _ = sw.hs.push(unit(t, key_s(t), S));
        sw.settle();
        let before = out.units.len();
        collect(&mut sw.hp, &mut out);
        // Nothing goes out before it is due (running time + latency).
        for &(pts, _, _) in &out.units[before..] {
            if pts + 1500 > t {
                released_late.push((pts, t));
            }
        }
    }
    assert!(
        released_late.is_empty(),
        "released early: {released_late:?}"
    );
    assert!(out.gaps.is_empty(), "no filler: {:?}", out.gaps);
    let sw_msgs = switches(&sw.bus);
    assert_eq!(
        sw_msgs,
        vec![("secondary".to_string(), "timeout".to_string(), 2480)]
    );
    let mut expect = 0;
    for &(pts, tag, _) in &out.units {
        assert_eq!(pts, expect, "contiguous");
        assert_eq!(tag, if pts < 2480 { P } else { S }, "unit at {pts}");
        expect += FRAME;
    }
    assert!(
        expect >= 4400,
        "up to the clock minus the latency: {expect}"
    );
}

#[test]
fn latency_is_reported_to_the_pipeline() {
    let mut sw = Switch::new(&[("latency", ms(700).into())], RAW_CAPS, None);
    sw.hp
        .set_upstream_latency(gst::ClockTime::from_mseconds(20));
    sw.hp.play();
    let mut q = gst::query::Latency::new();
    assert!(sw.element.static_pad("src").unwrap().query(&mut q));
    let (live, min, _) = q.result();
    assert!(live);
    assert_eq!(min, gst::ClockTime::from_mseconds(720));
}

/// An A/V programme source (`secs` seconds, a keyframe every `gop` frames) into the
/// group's two switches.
fn av_input(secs: u32, gop: u32, pattern: &str, pad: &str) -> String {
    let frames = secs * 25;
    let aac_frames = secs * 48000 / 1024;
    format!(
        "videotestsrc num-buffers={frames} pattern={pattern} \
           ! video/x-raw,format=I420,width=160,height=120,framerate=25/1 \
           ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} \
           ! h264parse ! queue ! v.{pad} \
         audiotestsrc num-buffers={aac_frames} samplesperbuffer=1024 \
           ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! queue ! a.{pad} "
    )
}

/// A 10 s GOP on the secondary: when the primary ends at 2 s, the picture waits 8 s
/// for the secondary's next keyframe. GAP events keep the muxer and the queues
/// moving: the pipeline reaches its end.
fn long_gop_into(mux: &str) -> Run {
    let desc = format!(
        "{}{} failoverswitch name=v group=av ! {mux} name=mux ! fakesink name=sink \
         failoverswitch name=a group=av ! mux.",
        av_input(2, 25, "ball", "primary"),
        av_input(12, 250, "smpte", "secondary"),
    );
    run(&parse(&desc))
}

#[test]
fn a_ten_second_gop_never_blocks_flvmux() {
    let r = long_gop_into("flvmux streamable=true");
    let bytes: usize = r.buffers.iter().map(|b| b.size()).sum();
    assert!(bytes > 20_000, "{bytes} bytes");
    // Both switches, one running time: the secondary's keyframe at 10 s.
    let at: Vec<u64> = r
        .messages
        .iter()
        .filter(|s| s.name() == "failover-switched" && s.get::<&str>("to") == Ok("secondary"))
        .map(|s| s.get::<u64>("running-time").unwrap())
        .collect();
    assert_eq!(at, vec![10_000_000_000; 2], "{:?}", r.switches());
}

#[test]
fn a_ten_second_gop_never_blocks_mpegtsmux() {
    let r = long_gop_into("mpegtsmux");
    let bytes: usize = r.buffers.iter().map(|b| b.size()).sum();
    assert!(bytes > 20_000, "{bytes} bytes");
    assert_eq!(r.switches().len(), 4, "{:?}", r.switches());
}

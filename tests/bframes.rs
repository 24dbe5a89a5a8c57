// SPDX-License-Identifier: MPL-2.0
//! failoverswitch with H.264 from encoders that use B-frames (x264 `bframes=2`: decode
//! order I P B B P B B …, PTS jumping ahead and back, DTS increasing and starting
//! before the segment): gst-check harnesses on one test clock through a failover, a
//! restore, a group and `latency`; then real encoders into flvmux and mpegtsmux,
//! checked with ffprobe and ffmpeg. The output must be a valid stream: DTS on every
//! unit and increasing across switches, PTS >= DTS, GAP events only where the output
//! has no picture, nothing decodable dropped, the switch points those of video
//! without B-frames (tests/video.rs).

use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_check::Harness;
mod common;
use common::av::{self, Group};
use common::files::{ffmpeg_decode, scratch};
use common::*;

const H264: &str = "video/x-h264,stream-format=byte-stream,alignment=au,profile=main";
/// 25 fps.
const FRAME: i64 = 40;
/// Frames per GOP: a keyframe, then eight mini-GOPs of P B B.
const GOP: i64 = 25;
/// Like x264enc: timestamps 1000 h into a segment that starts there, so the first
/// DTS (80 ms before the first PTS) lie before the segment start.
const SEG0_MS: u64 = 1000 * 3600 * 1000;

const P: u8 = 1;
const S: u8 = 2;

/// One encoded unit as an encoder with `bframes=2` sends it: in decode order (slot),
/// PTS of frame `frame`, DTS 80 ms before the slot's time.
#[derive(Debug, Clone, Copy)]
struct Unit {
    slot: i64,
    frame: i64,
    key: bool,
}

/// The units of a stream whose GOPs start at frame `first_key` (mod `GOP`), frames
/// 0 to `frames`, in decode order.
fn x264_units(first_key: i64, frames: i64) -> Vec<Unit> {
    let mut g = first_key.rem_euclid(GOP) - GOP;
    let mut units = Vec::new();
    while g < frames {
        units.push(Unit {
            slot: g,
            frame: g,
            key: true,
        });
        for m in 0..(GOP - 1) / 3 {
            let base = g + 3 * m;
            for (slot, frame) in [(1, 3), (2, 1), (3, 2)] {
                units.push(Unit {
                    slot: base + slot,
                    frame: base + frame,
                    key: false,
                });
            }
        }
        g += GOP;
    }
    units.retain(|u| u.frame >= 0 && u.slot >= 0 && u.frame < frames);
    units
}

fn buffer(u: &Unit, tag: u8) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(vec![tag; 64]);
    {
        let b = b.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(
            SEG0_MS + (u.frame * FRAME) as u64,
        ));
        b.set_dts(gst::ClockTime::from_mseconds(
            (SEG0_MS as i64 + u.slot * FRAME - 2 * FRAME) as u64,
        ));
        b.set_duration(gst::ClockTime::from_mseconds(FRAME as u64));
        if !u.key {
            b.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
    }
    b
}

/// What left the switch, in order.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rec {
    /// pts, dts (ms; DTS in µs precision is not needed), tag, keyframe.
    Unit(u64, Option<u64>, u8, bool),
    /// GAP event (start, end ms).
    Gap(u64, u64),
}

/// Records everything that leaves `element`'s source pad, in order.
fn record(element: &gst::Element) -> Arc<Mutex<Vec<Rec>>> {
    let recs = Arc::new(Mutex::new(Vec::new()));
    let r = recs.clone();
    element.static_pad("src").unwrap().add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => {
                    let tag = b.map_readable().map_or(0, |m| m[0]);
                    r.lock().unwrap().push(Rec::Unit(
                        b.pts().unwrap().nseconds(),
                        b.dts().map(|d| d.nseconds()),
                        tag,
                        !b.flags().contains(gst::BufferFlags::DELTA_UNIT),
                    ));
                }
                Some(gst::PadProbeData::Event(e)) => {
                    if let gst::EventView::Gap(g) = e.view() {
                        let (ts, d) = g.get();
                        r.lock().unwrap().push(Rec::Gap(
                            ts.nseconds(),
                            (ts + d.unwrap_or(gst::ClockTime::ZERO)).nseconds(),
                        ));
                    }
                }
                _ => (),
            }
            gst::PadProbeReturn::Ok
        },
    );
    recs
}

/// Checks what a muxer needs of encoded video and returns the GAP events (ms):
/// every unit has a DTS, DTS increase, PTS >= DTS, and a GAP lies after the DTS
/// before it and before the DTS after it.
fn assert_valid(recs: &[Rec]) -> Vec<(u64, u64)> {
    let mut last_dts: Option<u64> = None;
    let mut gap_end: Option<u64> = None;
    let mut gaps = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        match *r {
            Rec::Unit(pts, dts, tag, _) => {
                let dts = dts.unwrap_or_else(|| panic!("unit {i} (tag {tag}) without DTS"));
                assert!(pts >= dts, "unit {i}: PTS {pts} before DTS {dts}");
                if let Some(l) = last_dts {
                    assert!(dts > l, "unit {i}: DTS {dts} not after {l}: {recs:?}");
                }
                if let Some(g) = gap_end.take() {
                    assert!(dts >= g, "unit {i}: DTS {dts} before the GAP's end {g}");
                }
                last_dts = Some(dts);
            }
            Rec::Gap(a, b) => {
                if let Some(l) = last_dts {
                    assert!(a > l, "GAP {a}..{b} not after the DTS {l}");
                }
                gap_end = Some(b);
                gaps.push((a / 1_000_000, b / 1_000_000));
            }
        }
    }
    gaps
}

/// (tag, frame) of every unit that went out, by presentation time.
fn presented(recs: &[Rec]) -> Vec<(u8, u64)> {
    let mut v: Vec<(u8, u64)> = recs
        .iter()
        .filter_map(|r| match *r {
            Rec::Unit(pts, _, tag, _) => Some((tag, pts / 1_000_000 / FRAME as u64)),
            _ => None,
        })
        .collect();
    v.sort_by_key(|&(_, f)| f);
    v
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

/// The shared switch fixture, its output recorded in decode order, its inputs in
/// the encoder's segment.
struct Switch {
    sw: av::Switch,
    recs: Arc<Mutex<Vec<Rec>>>,
}

impl Switch {
    fn new(props: &[(&str, gst::glib::Value)], caps: &str, bin: Option<&gst::Bin>) -> Self {
        let mut sw = av::Switch::new(props, caps, bin);
        let recs = record(&sw.element);
        if caps == H264 {
            // The encoder's segment: its timestamps start 1000 h in.
            let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
            seg.set_start(gst::ClockTime::from_mseconds(SEG0_MS));
            for h in [&mut sw.hp, &mut sw.hs] {
                assert!(h.push_event(gst::event::Segment::new(&seg)));
            }
        }
        Self { sw, recs }
    }

    fn recs(&self) -> Vec<Rec> {
        self.recs.lock().unwrap().clone()
    }
}

impl AsRef<av::Switch> for Switch {
    fn as_ref(&self) -> &av::Switch {
        &self.sw
    }
}

impl AsMut<av::Switch> for Switch {
    fn as_mut(&mut self) -> &mut av::Switch {
        &mut self.sw
    }
}

impl std::ops::Deref for Switch {
    type Target = av::Switch;
    fn deref(&self) -> &av::Switch {
        &self.sw
    }
}

impl std::ops::DerefMut for Switch {
    fn deref_mut(&mut self) -> &mut av::Switch {
        &mut self.sw
    }
}

/// Pushes the units of decode slot `slot` (those of `units` from `next`).
fn push_slot(h: &mut Harness, units: &[Unit], next: &mut usize, slot: i64, tag: u8, on: bool) {
    while let Some(u) = units.get(*next).filter(|u| u.slot <= slot) {
        if on {
            let _ = h.push(buffer(u, tag));
        }
        *next += 1;
    }
}

fn drain(h: &mut Harness) {
    while h.try_pull().is_some() {}
    while h.try_pull_event().is_some() {}
}

/// Primary keyframes every second from 0; secondary keyframes every second from
/// 0.48 s (frame 12).
const KEY_P: i64 = 0;
const KEY_S: i64 = 12;

/// The primary's encoder is gone from 2.0 s to 3.0 s (timeout 300 ms); the
/// secondary's keyframes are at frame `key_s` (mod 25). Returns the switches and
/// what went out.
fn fail_over_and_restore(key_s: i64, restore_ms: u64) -> (Vec<(String, String, u64)>, Vec<Rec>) {
    let mut sw = Switch::new(
        &[
            ("timeout", ms(300).into()),
            ("restore-delay", ms(restore_ms).into()),
        ],
        H264,
        None,
    );
    sw.hp.play();
    let (pu, su) = (x264_units(KEY_P, 200), x264_units(key_s, 200));
    let (mut np, mut ns) = (0, 0);
    for slot in 0..200 {
        let t = (slot * FRAME) as u64;
        sw.at(t);
        // The primary's encoder is gone from 2.0 s to 3.0 s.
        let on = !(2000..3000).contains(&t);
        push_slot(&mut sw.hp, &pu, &mut np, slot, P, on);
        push_slot(&mut sw.hs, &su, &mut ns, slot, S, true);
        sw.settle();
        drain(&mut sw.hp);
    }
    (switches(&sw.bus), sw.recs())
}

#[test]
fn b_frames_fail_over_and_restore_with_increasing_dts_and_no_reorder_gaps() {
    let (switched, recs) = fail_over_and_restore(KEY_S, 1000);
    let gaps = assert_valid(&recs);
    // The switch points of video without B-frames: the secondary's keyframe after
    // the primary's data ended, the primary's keyframe once its hold-off is over.
    assert_eq!(
        switched,
        vec![
            ("secondary".to_string(), "timeout".to_string(), 2480),
            ("primary".to_string(), "restored".to_string(), 4000),
        ]
    );
    // GAPs only while there is no picture: from the primary's last frame (2.0 s)
    // to where the secondary's keyframe decodes (2.40 s; presented at 2.48 s).
    assert!(!gaps.is_empty(), "filler while waiting for the keyframe");
    assert_eq!(gaps.first().unwrap().0, 2000, "{gaps:?}");
    assert_eq!(gaps.last().unwrap().1, 2400, "{gaps:?}");
    assert!(gaps.windows(2).all(|w| w[0].1 == w[1].0), "{gaps:?}");
    // Every frame of the primary up to its end, the secondary from its keyframe to
    // the restore, the primary again: nothing decodable is lost.
    let expect: Vec<(u8, u64)> = (0..50)
        .map(|f| (P, f))
        .chain((62..100).map(|f| (S, f)))
        .chain((100..200).map(|f| (P, f)))
        .collect();
    assert_eq!(presented(&recs), expect);
    // Each source starts with a keyframe.
    let mut last_tag = 0;
    for r in &recs {
        if let Rec::Unit(pts, _, tag, key) = *r {
            if tag != last_tag {
                assert!(key, "{tag} starts with a delta unit at {pts}");
                last_tag = tag;
            }
        }
    }
}

#[test]
fn b_frames_restore_at_the_first_keyframe_after_the_decision_whatever_the_gop_alignment() {
    // The restore is decided at 3.88 s, the primary's keyframe at 4.0 s: the
    // secondary's P-frames, presented up to 80 ms after they are sent, wait for the
    // primary's data of their time, so its keyframe is not passed.
    for key_s in 10..16 {
        let (switched, recs) = fail_over_and_restore(key_s, 880);
        assert_valid(&recs);
        let key = (key_s * FRAME) as u64 + 2000;
        assert_eq!(
            switched,
            vec![
                ("secondary".to_string(), "timeout".to_string(), key),
                ("primary".to_string(), "restored".to_string(), 4000),
            ],
            "secondary keyframes at frame {key_s}"
        );
    }
}

#[test]
fn b_frames_in_a_group_switch_with_the_audio_at_the_video_keyframe() {
    let props = || -> Vec<(&'static str, gst::glib::Value)> {
        vec![
            ("timeout", ms(300).into()),
            ("restore-delay", ms(1000).into()),
            ("group", "av".to_value()),
            ("crossfade", 0u64.into()),
        ]
    };
    let mut g = Group::new(&props(), H264, Switch::new);
    let (pu, su) = (x264_units(KEY_P, 150), x264_units(KEY_S, 150));
    let (mut np, mut ns) = (0, 0);
    let mut aout: Vec<gst::Buffer> = Vec::new();
    for i in 0..300u64 {
        let t = i * 20;
        g.at(t);
        // Only the primary's AUDIO fails, 2.0 s to 3.0 s: the whole group fails over
        // while the primary's video goes on.
        let primary_audio = !(2000..3000).contains(&t);
        if t % FRAME as u64 == 0 {
            let slot = (t / FRAME as u64) as i64;
            push_slot(&mut g.video.hp, &pu, &mut np, slot, P, true);
            push_slot(&mut g.video.hs, &su, &mut ns, slot, S, true);
        }
        for h in 0..2 {
            if primary_audio {
                let _ = g.audio.hp.push(audio_buffer(t + h * 10, 0.25));
            }
            let _ = g.audio.hs.push(audio_buffer(t + h * 10, -0.25));
        }
        g.settle();
        drain(&mut g.video.hp);
        aout.extend(std::iter::from_fn(|| g.audio.hp.try_pull()));
    }
    let recs = g.video.recs();
    let gaps = assert_valid(&recs);
    assert!(gaps.is_empty(), "the outgoing video was alive: {gaps:?}");
    let v = switches(&g.video.bus);
    let a = switches(&g.audio.bus);
    assert_eq!(
        v,
        vec![
            ("secondary".to_string(), "timeout".to_string(), 2480),
            ("primary".to_string(), "restored".to_string(), 4000),
        ]
    );
    assert_eq!(a, v, "audio {a:?} video {v:?}");
    // The picture: the primary up to the secondary's keyframe, less its last two
    // B-frames (they refer to its P-frame at 2.48 s, which is after the switch
    // point), the secondary from its keyframe to the restore, then the primary.
    let expect: Vec<(u8, u64)> = (0..60)
        .map(|f| (P, f))
        .chain((62..100).map(|f| (S, f)))
        .chain((100..150).map(|f| (P, f)))
        .collect();
    assert_eq!(presented(&recs), expect);
    // The sound never comes from the other input than the picture.
    assert_continuous_from(&aout, 0);
    assert_values(&aout, 0, 2000, 0.25);
    assert_values(&aout, 2000, 2480, 0.0);
    assert_values(&aout, 2480, 4000, -0.25);
    assert_values(&aout, 4000, 5900, 0.25);
}

#[test]
fn b_frames_with_latency_reach_back_to_the_last_keyframe_without_filler() {
    let mut sw = Switch::new(
        &[("timeout", ms(300).into()), ("latency", ms(1500).into())],
        H264,
        None,
    );
    sw.hp.play();
    let (pu, su) = (x264_units(KEY_P, 150), x264_units(KEY_S, 150));
    let (mut np, mut ns) = (0, 0);
    let mut early = Vec::new();
    let mut seen = 0;
    for slot in 0..150 {
        let t = (slot * FRAME) as u64;
        sw.at(t);
        push_slot(&mut sw.hp, &pu, &mut np, slot, P, t < 3000);
        push_slot(&mut sw.hs, &su, &mut ns, slot, S, true);
        sw.settle();
        drain(&mut sw.hp);
        // Nothing goes out before it is due (presentation time + latency).
        let recs = sw.recs();
        for r in &recs[seen..] {
            if let Rec::Unit(pts, ..) = *r {
                if pts / 1_000_000 + 1500 > t {
                    early.push((pts / 1_000_000, t));
                }
            }
        }
        seen = recs.len();
    }
    assert!(early.is_empty(), "released early: {early:?}");
    let recs = sw.recs();
    let gaps = assert_valid(&recs);
    assert!(gaps.is_empty(), "no filler: {gaps:?}");
    assert_eq!(
        switches(&sw.bus),
        vec![("secondary".to_string(), "timeout".to_string(), 2480)]
    );
    // The primary up to the secondary's keyframe (less the two B-frames that need
    // its P-frame at 2.48 s), then the secondary, up to the clock less the latency.
    let out = presented(&recs);
    let last = out.last().unwrap().1;
    assert!(
        last >= 105,
        "up to the clock minus the latency: frame {last}"
    );
    let expect: Vec<(u8, u64)> = (0..60)
        .map(|f| (P, f))
        .chain((62..=last).map(|f| (S, f)))
        .collect();
    assert_eq!(out, expect);
}

#[test]
fn the_units_of_the_test_encoder_are_in_x264_order() {
    // The generator itself: I0 P3 B1 B2 P6 B4 B5 …, one unit per decode slot.
    let u = x264_units(0, 50);
    let frames: Vec<i64> = u.iter().take(7).map(|u| u.frame).collect();
    assert_eq!(frames, vec![0, 3, 1, 2, 6, 4, 5]);
    assert!(u.iter().enumerate().all(|(i, u)| u.slot == i as i64));
    assert_eq!(u.iter().filter(|u| u.key).count(), 2);
    // A stream joined in the middle of a GOP: its first keyframe at frame 12.
    let s = x264_units(12, 50);
    assert_eq!(s.iter().find(|u| u.key).map(|u| u.frame), Some(12));
    let mut f: Vec<i64> = s.iter().map(|u| u.frame).collect();
    f.sort();
    assert_eq!(f, (0..50).collect::<Vec<_>>());
}

/// A 160x120 25 fps source of `frames` frames through `x264enc bframes=2` (a
/// keyframe every `key_int` frames) into `v.pad`; with `audio`, AAC of the same
/// length into `a.pad`.
fn encoder(frames: u32, key_int: u32, pattern: &str, pad: &str, audio: bool) -> String {
    encoder_with(frames, key_int, pattern, pad, audio, "bframes=2")
}

/// [`encoder`] with other x264enc settings.
fn encoder_with(
    frames: u32,
    key_int: u32,
    pattern: &str,
    pad: &str,
    audio: bool,
    x264: &str,
) -> String {
    let mut s = format!(
        "videotestsrc num-buffers={frames} pattern={pattern} \
           ! video/x-raw,format=I420,width=160,height=120,framerate=25/1 \
           ! x264enc {x264} speed-preset=ultrafast key-int-max={key_int} \
           ! video/x-h264,profile=main \
           ! h264parse ! queue ! v.{pad} "
    );
    if audio {
        let aac = frames * 48000 / 25 / 1024;
        s += &format!(
            "audiotestsrc num-buffers={aac} samplesperbuffer=1024 \
               ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! queue ! a.{pad} "
        );
    }
    s
}

/// (pts, dts) of every packet of the first stream of `kind` (`v`, `a`) in `path`,
/// in file order, as ffprobe reads them (in the stream's time base; a packet
/// without a DTS has its PTS there).
fn ffprobe_packets(path: &std::path::Path, kind: &str) -> Vec<(i64, i64)> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", kind])
        .args(["-show_entries", "packet=pts,dts", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split(',');
            let pts = f.next()?.trim().parse().ok()?;
            // MPEG-TS leaves out a DTS equal to the PTS: ffprobe says N/A.
            let dts = f.next().and_then(|d| d.trim().parse().ok()).unwrap_or(pts);
            Some((pts, dts))
        })
        .collect()
}

/// DTS strictly increasing and PTS >= DTS in every packet: (DTS steps back or
/// repeated, PTS before DTS), listed.
fn bad_packets(packets: &[(i64, i64)]) -> (Vec<(usize, i64, i64)>, Vec<usize>) {
    let not_after = packets
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[1].1 <= w[0].1)
        .map(|(i, w)| (i + 1, w[0].1, w[1].1))
        .collect();
    let pts_first = packets
        .iter()
        .enumerate()
        .filter(|(_, p)| p.0 < p.1)
        .map(|(i, _)| i)
        .collect();
    (not_after, pts_first)
}

/// The video of `file` has `frames` packets, DTS increasing, PTS never before DTS,
/// and ffmpeg decodes every frame without an error.
fn assert_valid_video(file: &std::path::Path, frames: usize) {
    let video = ffprobe_packets(file, "v");
    assert_eq!(video.len(), frames, "video packets");
    let (back, pts_first) = bad_packets(&video);
    assert!(back.is_empty(), "video DTS not increasing at {back:?}");
    assert!(pts_first.is_empty(), "PTS before DTS at {pts_first:?}");
    let (decoded, errors) = ffmpeg_decode(file);
    assert!(errors.trim().is_empty(), "ffmpeg: {errors}");
    assert_eq!(decoded, frames, "decoded frames");
}

#[test]
fn b_frame_encoders_through_a_group_into_flvmux_make_a_valid_flv() {
    // The primary (keyframe every second) ends after 2 s; the secondary (a keyframe
    // every 1.2 s) takes over at its keyframe at 2.4 s and runs to 6 s.
    let file = scratch("bframes", "av.flv");
    let desc = format!(
        "{}{} failoverswitch name=v group=av ! queue ! mux. \
         failoverswitch name=a group=av ! queue ! mux. \
         flvmux name=mux streamable=true ! filesink name=sink location={}",
        encoder(50, 25, "ball", "primary", true),
        encoder(150, 30, "smpte", "secondary", true),
        file.display()
    );
    let r = run(&parse(&desc));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(
        r.switches().iter().filter(|s| s.1 == "secondary").count(),
        2,
        "{:?}",
        r.switches()
    );
    // 2 s of the primary, the secondary from 2.4 s to 6 s: every frame.
    assert_valid_video(&file, 50 + 90);
    let audio = ffprobe_packets(&file, "a");
    assert!(audio.len() > 100, "{} audio packets", audio.len());
    let (back, _) = bad_packets(&audio);
    assert!(back.is_empty(), "audio DTS not increasing at {back:?}");
}

#[test]
fn b_frame_encoders_into_mpegtsmux_make_a_valid_transport_stream() {
    let file = scratch("bframes", "v.ts");
    let desc = format!(
        "{}{} failoverswitch name=v ! mpegtsmux ! filesink name=sink location={}",
        encoder(50, 25, "ball", "primary", false),
        encoder(150, 30, "smpte", "secondary", false),
        file.display()
    );
    let r = run(&parse(&desc));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // 2 s of the primary, the secondary from 2.4 s to 6 s: every frame.
    assert_valid_video(&file, 50 + 90);
}

#[test]
fn from_an_encoder_without_b_frames_to_one_with_them_dts_keep_increasing() {
    // The primary without reordering (DTS = PTS; CABAC on: main profile like the
    // secondary) ends after 2 s; the secondary's keyframe decodes 80 ms before it is
    // presented, its next units before the primary's last DTS: raised past it.
    // (FLV: every tag has its DTS; MPEG-TS leaves out a DTS equal to the PTS, and
    // ffprobe then guesses one from the stream's reordering.)
    let file = scratch("bframes", "mixed.flv");
    let desc = format!(
        "{}{} failoverswitch name=v ! flvmux streamable=true ! filesink name=sink location={}",
        encoder_with(50, 25, "ball", "primary", false, "bframes=0 cabac=true"),
        encoder(150, 30, "smpte", "secondary", false),
        file.display()
    );
    let r = run(&parse(&desc));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // 2 s of the primary, the secondary from 2.4 s to 6 s: every frame.
    assert_valid_video(&file, 50 + 90);
}

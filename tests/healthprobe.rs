// SPDX-License-Identifier: MPL-2.0
//! Behaviour of `healthprobe` under gst-check harnesses with a test clock.
//! Deterministic: time only moves when a test sets it or cranks the clock.

use gst::prelude::*;
use gst_check::Harness;
use gstfailover::health_event::{HealthVerdict, parse_event};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;
use common::{harness_with_bus, init};

fn verdict(healthy: bool, reason: &str) -> HealthVerdict {
    HealthVerdict {
        healthy,
        reason: reason.into(),
    }
}

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

struct Probe {
    h: Harness,
    bus: gst::Bus,
    element: gst::Element,
}

/// A harnessed `healthprobe` with `props` set, a bus, and a test clock at 0.
fn probe(props: &[(&str, glib::Value)]) -> Probe {
    let (h, element, bus) = harness_with_bus("healthprobe", props);
    Probe { h, bus, element }
}

impl Probe {
    /// Health verdicts that arrived downstream since the last call (other events
    /// are skipped).
    fn verdicts(&mut self) -> Vec<HealthVerdict> {
        let mut out = Vec::new();
        while let Some(ev) = self.h.try_pull_event() {
            if let Some(v) = parse_event(&ev) {
                out.push(v);
            }
        }
        out
    }

    /// `health` messages posted since the last call.
    fn messages(&self) -> Vec<gst::Structure> {
        let mut out = Vec::new();
        while let Some(msg) = self.bus.pop_filtered(&[gst::MessageType::Element]) {
            if let Some(s) = msg.structure()
                && s.name() == "health"
            {
                out.push(s.to_owned());
            }
        }
        out
    }

    fn healthy(&self) -> bool {
        self.element.property::<bool>("healthy")
    }

    fn now(&self) -> u64 {
        self.h.testclock().unwrap().time().nseconds()
    }

    fn push(&mut self, buf: gst::Buffer) {
        self.h.push(buf).unwrap();
        // keep the sink queue short
        while self.h.try_pull().is_some() {}
    }
}

fn reason(s: &gst::StructureRef) -> String {
    s.get::<String>("reason").unwrap()
}

fn f64_array(s: &gst::StructureRef, field: &str) -> Vec<f64> {
    s.get::<gst::Array>(field)
        .unwrap()
        .iter()
        .map(|v| v.get::<f64>().unwrap())
        .collect()
}

/// Interleaved F32 sine at 1 kHz whose RMS is `db` dBFS on channel 0 and `db - 6 *
/// c` on channel `c`.
fn sine_f32(rate: u32, channels: usize, frames: usize, db: f64, pts: u64) -> gst::Buffer {
    let mut data = Vec::with_capacity(frames * channels * 4);
    for i in 0..frames {
        let phase = 2.0 * std::f64::consts::PI * 1000.0 * i as f64 / f64::from(rate);
        for c in 0..channels {
            let amp = 2f64.sqrt() * 10f64.powf((db - 6.0 * c as f64) / 20.0);
            data.extend(((amp * phase.sin()) as f32).to_le_bytes());
        }
    }
    let mut buf = gst::Buffer::from_mut_slice(data);
    {
        let b = buf.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_nseconds(pts));
        b.set_duration(gst::ClockTime::from_nseconds(
            frames as u64 * SEC / u64::from(rate),
        ));
    }
    buf
}

fn encoded(bytes: usize, pts: u64, duration: u64) -> gst::Buffer {
    let mut buf = gst::Buffer::from_mut_slice(vec![0x5au8; bytes]);
    {
        let b = buf.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_nseconds(pts));
        b.set_duration(gst::ClockTime::from_nseconds(duration));
    }
    buf
}

const F32_STEREO: &str = "audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=2";
const AAC: &str = "audio/mpeg,mpegversion=4,stream-format=adts,rate=48000,channels=2";

#[test]
fn buffers_pass_through_untouched() {
    for caps in [F32_STEREO, AAC, "video/x-h264"] {
        let mut p = probe(&[]);
        p.h.set_src_caps_str(caps);
        let buf = if caps == F32_STEREO {
            sine_f32(48_000, 2, 480, -20.0, 0)
        } else {
            encoded(1000, 0, 20 * MS)
        };
        let before = buf.map_readable().unwrap().to_vec();
        let ptr = buf.as_ptr();
        let out = p.h.push_and_pull(buf).unwrap();
        assert_eq!(out.as_ptr(), ptr, "{caps}: buffer was copied");
        assert_eq!(out.map_readable().unwrap().as_slice(), &before[..]);
        assert_eq!(out.pts(), Some(gst::ClockTime::ZERO));
        assert_eq!(
            out.duration(),
            Some(gst::ClockTime::from_mseconds(if caps == F32_STEREO {
                10
            } else {
                20
            }))
        );
    }
}

#[test]
fn stall_is_reported_from_the_clock_without_another_buffer() {
    let mut p = probe(&[
        ("stall-timeout", SEC.to_value()),
        ("interval", 0u64.to_value()),
    ]);
    let notified = Arc::new(AtomicUsize::new(0));
    let n = notified.clone();
    p.element.connect_notify(Some("healthy"), move |_, _| {
        n.fetch_add(1, Ordering::SeqCst);
    });
    p.h.set_src_caps_str(AAC);
    p.push(encoded(400, 0, 20 * MS));
    p.h.set_time(gst::ClockTime::from_mseconds(300)).unwrap();
    p.push(encoded(400, 20 * MS, 20 * MS));
    assert!(p.verdicts().is_empty());

    // The timer armed for the first buffer finds newer data and re-arms.
    p.h.crank_single_clock_wait().unwrap();
    assert_eq!(p.now(), SEC);
    assert!(p.verdicts().is_empty());
    assert!(p.healthy());

    // One stall-timeout after the last buffer, with no buffer pushed.
    p.h.crank_single_clock_wait().unwrap();
    assert_eq!(p.now(), 300 * MS + SEC);
    assert_eq!(p.verdicts(), vec![verdict(false, "stall")]);
    let msgs = p.messages();
    assert_eq!(msgs.len(), 1);
    assert!(!msgs[0].get::<bool>("healthy").unwrap());
    assert_eq!(reason(&msgs[0]), "stall");
    assert_eq!(msgs[0].get::<u64>("last-buffer-age").unwrap(), SEC);
    assert!(!p.healthy());
    assert_eq!(notified.load(Ordering::SeqCst), 1);

    // Data again (a live source's, timestamped now): healthy at once, before that
    // buffer goes out.
    p.h.set_time(gst::ClockTime::from_seconds(5)).unwrap();
    p.h.push(encoded(400, 5 * SEC, 20 * MS)).unwrap();
    let mut events = Vec::new();
    while let Some(ev) = p.h.try_pull_event() {
        events.push(ev);
    }
    let v: Vec<_> = events.iter().filter_map(|e| parse_event(e)).collect();
    assert_eq!(v, vec![verdict(true, "ok")]);
    assert!(p.h.try_pull().is_some());
    assert!(p.healthy());
    assert_eq!(notified.load(Ordering::SeqCst), 2);
    let msgs = p.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(reason(&msgs[0]), "ok");
    assert_eq!(msgs[0].get::<u64>("last-buffer-age").unwrap(), 0);
}

#[test]
fn stall_without_any_data_counts_from_playing() {
    let mut p = probe(&[
        ("stall-timeout", (500 * MS).to_value()),
        ("interval", 0u64.to_value()),
    ]);
    p.h.set_time(gst::ClockTime::from_mseconds(100)).unwrap();
    p.h.crank_single_clock_wait().unwrap();
    assert_eq!(p.now(), 500 * MS);
    assert_eq!(p.verdicts().len(), 1);
    let msgs = p.messages();
    assert_eq!(reason(&msgs[0]), "stall");
    // no buffer ever: the age is unknown (GST_CLOCK_TIME_NONE)
    assert_eq!(msgs[0].get::<u64>("last-buffer-age").unwrap(), u64::MAX);
}

#[test]
fn no_stall_timer_while_paused() {
    let mut p = probe(&[
        ("stall-timeout", SEC.to_value()),
        ("interval", 0u64.to_value()),
    ]);
    let clock = p.h.testclock().unwrap();
    p.h.set_src_caps_str(AAC);
    p.push(encoded(400, 0, 20 * MS));
    assert_eq!(clock.peek_id_count(), 1);
    p.element.set_state(gst::State::Paused).unwrap();
    assert_eq!(clock.peek_id_count(), 0, "timer left pending in PAUSED");
    p.h.set_time(gst::ClockTime::from_seconds(60)).unwrap();
    p.element.set_state(gst::State::Playing).unwrap();
    assert_eq!(clock.peek_id_count(), 1);
    assert!(p.verdicts().is_empty());
    // the pause does not count: the stall comes one timeout after resuming
    p.h.crank_single_clock_wait().unwrap();
    assert_eq!(p.now(), 61 * SEC);
    assert_eq!(p.verdicts()[0].reason, "stall");
}

#[test]
fn silence_is_detected_after_silence_duration_on_audio_time() {
    let mut p = probe(&[
        ("stall-timeout", 0u64.to_value()),
        ("interval", 0u64.to_value()),
        ("silence-duration", (2 * SEC).to_value()),
        ("silence-threshold", (-60.0f64).to_value()),
    ]);
    p.h.set_src_caps_str(F32_STEREO);
    // 100 ms buffers at -70 dBFS; the clock never moves: duration is audio time
    for i in 0..19u64 {
        p.push(sine_f32(48_000, 2, 4800, -70.0, i * 100 * MS));
        assert!(
            p.verdicts().is_empty(),
            "silent too early, after {} ms",
            (i + 1) * 100
        );
    }
    p.push(sine_f32(48_000, 2, 4800, -70.0, 1900 * MS));
    assert_eq!(p.verdicts(), vec![verdict(false, "silence")]);
    assert!(!p.healthy());
    let msgs = p.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(reason(&msgs[0]), "silence");
    let rms = f64_array(&msgs[0], "rms-db");
    let peak = f64_array(&msgs[0], "peak-db");
    assert_eq!(rms.len(), 2);
    assert!((rms[0] + 70.0).abs() < 0.1, "{rms:?}");
    assert!((rms[1] + 76.0).abs() < 0.1, "{rms:?}");
    assert!((peak[0] - (rms[0] + 3.01)).abs() < 0.1, "{peak:?}");

    // Level back above the threshold: healthy with that very buffer.
    p.push(sine_f32(48_000, 2, 480, -30.0, 2000 * MS));
    assert_eq!(p.verdicts(), vec![verdict(true, "ok")]);
    assert!(p.healthy());
}

#[test]
fn quiet_audio_and_short_pauses_are_not_silence() {
    let mut p = probe(&[
        ("stall-timeout", 0u64.to_value()),
        ("interval", 0u64.to_value()),
        ("silence-duration", (2 * SEC).to_value()),
    ]);
    assert_eq!(p.element.property::<f64>("silence-threshold"), -60.0);
    p.h.set_src_caps_str(F32_STEREO);
    let mut pts = 0;
    // 10 s at -50 dBFS
    for _ in 0..100 {
        p.push(sine_f32(48_000, 2, 4800, -50.0, pts));
        pts += 100 * MS;
    }
    // speech with 1.9 s pauses of digital silence
    for _ in 0..5 {
        for _ in 0..19 {
            p.push(sine_f32(48_000, 2, 4800, -200.0, pts));
            pts += 100 * MS;
        }
        p.push(sine_f32(48_000, 2, 480, -25.0, pts));
        pts += 10 * MS;
    }
    assert!(p.verdicts().is_empty());
    assert!(p.messages().is_empty());
    assert!(p.healthy());
}

#[test]
fn silence_detection_in_s16_mono() {
    let mut p = probe(&[
        ("stall-timeout", 0u64.to_value()),
        ("interval", 0u64.to_value()),
        ("silence-duration", SEC.to_value()),
    ]);
    p.h.set_src_caps_str("audio/x-raw,format=S16LE,layout=interleaved,rate=8000,channels=1");
    // -70 dBFS sine in S16: amplitude ~10 LSB
    let amp = 2f64.sqrt() * 10f64.powf(-70.0 / 20.0) * 32767.0;
    let frames = 800;
    let mut pushed = 0;
    while p.verdicts().is_empty() {
        let data: Vec<u8> = (0..frames)
            .flat_map(|i| {
                let v = amp * (2.0 * std::f64::consts::PI * 400.0 * f64::from(i) / 8000.0).sin();
                (v.round() as i16).to_le_bytes()
            })
            .collect();
        p.push(gst::Buffer::from_mut_slice(data));
        pushed += 1;
        assert!(pushed <= 20, "S16 silence never detected");
    }
    // 100 ms buffers, 1 s duration
    assert_eq!(pushed, 10);
}

#[test]
fn low_bitrate_on_an_encoded_stream_and_recovery() {
    let mut p = probe(&[
        ("stall-timeout", 0u64.to_value()),
        ("interval", 0u64.to_value()),
        ("window", SEC.to_value()),
        ("min-bitrate", 64_000u64.to_value()),
    ]);
    p.h.set_src_caps_str(AAC);
    // A live stream: each 20 ms unit arrives when the clock reaches its timestamp.
    let mut pts = 0;
    let mut push = |p: &mut Probe, bytes: usize| {
        p.h.set_time(gst::ClockTime::from_nseconds(pts)).unwrap();
        p.push(encoded(bytes, pts, 20 * MS));
        pts += 20 * MS;
    };
    // 2 s at 128 kbit/s (320 bytes per 20 ms)
    for _ in 0..100 {
        push(&mut p, 320);
    }
    assert!(p.verdicts().is_empty());
    // drop to 16 kbit/s: low within one window
    let mut low_after = None;
    for i in 1..=50 {
        push(&mut p, 40);
        if !p.verdicts().is_empty() {
            low_after = Some(i);
            break;
        }
    }
    let low_after = low_after.expect("low bitrate not detected within one window");
    assert!(
        low_after > 1,
        "a single small buffer must not flip the verdict"
    );
    let msgs = p.messages();
    assert_eq!(reason(&msgs[0]), "low-bitrate");
    let bitrate = msgs[0].get::<u64>("bitrate").unwrap();
    assert!(bitrate < 64_000 && bitrate > 16_000, "{bitrate}");
    assert!(!p.healthy());
    assert!(
        !msgs[0].has_field("rms-db"),
        "levels are for raw audio only"
    );
    // back to 128 kbit/s
    let mut ok = false;
    for _ in 0..50 {
        push(&mut p, 320);
        if let Some(v) = p.verdicts().pop() {
            assert!(v.healthy);
            assert_eq!(v.reason, "ok");
            ok = true;
            break;
        }
    }
    assert!(ok, "never recovered");
    assert!(p.healthy());
}

#[test]
fn min_bitrate_does_not_judge_raw_media() {
    let mut p = probe(&[
        ("stall-timeout", 0u64.to_value()),
        ("interval", 0u64.to_value()),
        ("window", SEC.to_value()),
        ("min-bitrate", 100_000_000u64.to_value()),
    ]);
    p.h.set_src_caps_str(F32_STEREO);
    for i in 0..300 {
        p.push(sine_f32(48_000, 2, 480, -20.0, i * 10 * MS));
    }
    assert!(p.verdicts().is_empty());
    assert!(p.healthy());
}

#[test]
fn discontinuities_are_counted_and_reported_as_information() {
    let mut p = probe(&[
        ("stall-timeout", 0u64.to_value()),
        ("interval", SEC.to_value()),
    ]);
    p.h.set_src_caps_str(AAC);
    let mut pts = 0;
    for _ in 0..5 {
        p.push(encoded(320, pts, 20 * MS));
        pts += 20 * MS;
    }
    // a 500 ms jump forward
    pts += 500 * MS;
    p.push(encoded(320, pts, 20 * MS));
    pts += 20 * MS;
    // a DISCONT flag on an otherwise contiguous buffer
    let mut b = encoded(320, pts, 20 * MS);
    b.get_mut().unwrap().set_flags(gst::BufferFlags::DISCONT);
    p.push(b);
    pts += 20 * MS;
    p.push(encoded(320, pts, 20 * MS));

    assert!(
        p.verdicts().is_empty(),
        "a discontinuity is not a verdict change"
    );
    assert!(p.healthy());
    p.h.crank_single_clock_wait().unwrap();
    assert_eq!(p.now(), SEC);
    let msgs = p.messages();
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].get::<bool>("healthy").unwrap());
    assert_eq!(reason(&msgs[0]), "discont");
    assert_eq!(msgs[0].get::<u64>("discont-count").unwrap(), 2);

    // next period without discontinuity: back to "ok", total kept
    p.h.crank_single_clock_wait().unwrap();
    assert_eq!(p.now(), 2 * SEC);
    let msgs = p.messages();
    assert_eq!(reason(&msgs[0]), "ok");
    assert_eq!(msgs[0].get::<u64>("discont-count").unwrap(), 2);
    assert!(p.verdicts().is_empty());
}

#[test]
fn periodic_report_has_all_fields() {
    let mut p = probe(&[("stall-timeout", 0u64.to_value())]);
    assert_eq!(p.element.property::<u64>("interval"), SEC);
    p.h.set_src_caps_str(F32_STEREO);
    // 1 s of live audio at -20 dBFS: each 10 ms buffer at its time
    for i in 0..100 {
        p.h.set_time(gst::ClockTime::from_mseconds(i * 10)).unwrap();
        p.push(sine_f32(48_000, 2, 480, -20.0, i * 10 * MS));
    }
    p.h.crank_single_clock_wait().unwrap();
    assert_eq!(p.now(), SEC);
    let msgs = p.messages();
    assert_eq!(msgs.len(), 1);
    let s = &msgs[0];
    let names: Vec<_> = s.fields().map(|f| f.to_string()).collect();
    assert_eq!(
        names,
        [
            "healthy",
            "reason",
            "rms-db",
            "peak-db",
            "bitrate",
            "last-buffer-age",
            "discont-count"
        ]
    );
    assert!(s.get::<bool>("healthy").unwrap());
    assert_eq!(reason(s), "ok");
    let rms = f64_array(s, "rms-db");
    assert!(
        (rms[0] + 20.0).abs() < 0.05 && (rms[1] + 26.0).abs() < 0.05,
        "{rms:?}"
    );
    // F32 stereo 48 kHz = 3,072,000 bit/s: 1 s of audio arrived in 1 s of clock
    assert_eq!(s.get::<u64>("bitrate").unwrap(), 48_000 * 2 * 32);
    assert_eq!(s.get::<u64>("last-buffer-age").unwrap(), 10 * MS);
    assert_eq!(s.get::<u64>("discont-count").unwrap(), 0);
    // levels cover the period since the previous message: none since, so floor
    p.h.crank_single_clock_wait().unwrap();
    let msgs = p.messages();
    let rms = f64_array(&msgs[0], "rms-db");
    assert!(rms.iter().all(|&v| v <= -199.0), "{rms:?}");
}

#[test]
fn turning_a_detector_off_ends_its_verdict() {
    let mut p = probe(&[
        ("stall-timeout", 0u64.to_value()),
        ("interval", 0u64.to_value()),
        ("silence-duration", SEC.to_value()),
    ]);
    p.h.set_src_caps_str(F32_STEREO);
    for i in 0..10 {
        p.push(sine_f32(48_000, 2, 4800, -90.0, i * 100 * MS));
    }
    assert_eq!(p.verdicts()[0].reason, "silence");
    p.element.set_property("silence-duration", 0u64);
    assert_eq!(p.verdicts(), vec![verdict(true, "ok")]);
    assert!(p.healthy());
}

#[test]
fn properties_document_defaults_and_ranges() {
    init();
    let e = gst::ElementFactory::make("healthprobe").build().unwrap();
    assert!(e.is::<gst_base::BaseTransform>());
    let expect_u64 = [
        ("stall-timeout", SEC),
        ("silence-duration", 5 * SEC),
        ("min-bitrate", 0),
        ("window", 2 * SEC),
        ("interval", SEC),
    ];
    for (name, default) in expect_u64 {
        assert_eq!(e.property::<u64>(name), default, "{name}");
        let pspec = e.find_property(name).unwrap();
        assert!(pspec.blurb().is_some_and(|b| b.len() > 20), "{name} blurb");
    }
    assert_eq!(e.property::<f64>("silence-threshold"), -60.0);
    assert!(e.property::<bool>("healthy"));
    let healthy = e.find_property("healthy").unwrap();
    assert!(!healthy.flags().contains(glib::ParamFlags::WRITABLE));
    let window = e
        .find_property("window")
        .unwrap()
        .downcast::<glib::ParamSpecUInt64>()
        .unwrap();
    assert!(window.minimum() > 0, "a zero window would divide by zero");
    let thr = e
        .find_property("silence-threshold")
        .unwrap()
        .downcast::<glib::ParamSpecDouble>()
        .unwrap();
    assert!(thr.maximum() <= 0.0 && thr.minimum() < -100.0);
}

#[test]
fn gap_events_are_silence_and_keep_the_stream_alive() {
    let mut p = probe(&[
        ("stall-timeout", SEC.to_value()),
        ("interval", 0u64.to_value()),
        ("silence-duration", SEC.to_value()),
    ]);
    p.h.set_src_caps_str(F32_STEREO);
    p.push(sine_f32(48_000, 2, 4800, -20.0, 0));
    // GAPs of 100 ms while the clock advances: alive (no stall) but silent
    for i in 1..=10u64 {
        p.h.set_time(gst::ClockTime::from_mseconds(i * 100))
            .unwrap();
        let gap = gst::event::Gap::builder(gst::ClockTime::from_mseconds(i * 100))
            .duration(gst::ClockTime::from_mseconds(100))
            .build();
        assert!(p.h.push_event(gap));
        let v = p.verdicts();
        if i < 10 {
            assert!(v.is_empty(), "verdict after {i} gaps: {v:?}");
        } else {
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].reason, "silence");
        }
    }
    // the stall countdown restarted with the last GAP (at 1 s)
    p.h.crank_single_clock_wait().unwrap();
    p.verdicts();
    while p.now() < 2 * SEC {
        p.h.crank_single_clock_wait().unwrap();
    }
    assert_eq!(p.now(), 2 * SEC);
    assert_eq!(p.verdicts()[0].reason, "stall");
}

#[test]
fn flush_restarts_the_stall_countdown() {
    let mut p = probe(&[
        ("stall-timeout", SEC.to_value()),
        ("interval", 0u64.to_value()),
    ]);
    p.h.set_src_caps_str(AAC);
    p.push(encoded(400, 0, 20 * MS));
    p.h.set_time(gst::ClockTime::from_mseconds(700)).unwrap();
    assert!(p.h.push_event(gst::event::FlushStart::new()));
    assert!(p.h.push_event(gst::event::FlushStop::new(true)));
    // timer armed for 1 s finds the flush at 700 ms and re-arms
    p.h.crank_single_clock_wait().unwrap();
    assert!(p.verdicts().is_empty());
    p.h.crank_single_clock_wait().unwrap();
    assert_eq!(p.now(), 1700 * MS);
    assert_eq!(p.verdicts()[0].reason, "stall");
}

/// 100 ms of a constant `value` on every channel, in `format`.
fn constant(format: &str, channels: usize, value: f64) -> gst::Buffer {
    let frames = 4800;
    let mut data = Vec::new();
    for _ in 0..frames * channels {
        match format {
            "S16LE" => data.extend(((value * 32768.0) as i16).to_le_bytes()),
            "S32LE" => data.extend(((value * 2_147_483_648.0) as i32).to_le_bytes()),
            "F32LE" => data.extend((value as f32).to_le_bytes()),
            "F64BE" => data.extend(value.to_be_bytes()),
            _ => unreachable!(),
        }
    }
    gst::Buffer::from_mut_slice(data)
}

#[test]
fn levels_for_every_format_and_up_to_eight_channels() {
    for format in ["S16LE", "S32LE", "F32LE", "F64BE"] {
        for channels in [1usize, 2, 6, 8] {
            let mut p = probe(&[("stall-timeout", 0u64.to_value())]);
            // no channel-mask: more than two channels still get measured
            p.h.set_src_caps_str(&format!(
                "audio/x-raw,format={format},layout=interleaved,rate=48000,channels={channels}"
            ));
            p.push(constant(format, channels, 0.25));
            p.h.crank_single_clock_wait().unwrap();
            let msgs = p.messages();
            assert_eq!(msgs.len(), 1, "{format} {channels}");
            let rms = f64_array(&msgs[0], "rms-db");
            let peak = f64_array(&msgs[0], "peak-db");
            assert_eq!(rms.len(), channels, "{format} {channels}");
            let expect = 20.0 * 0.25f64.log10();
            for (r, pk) in rms.iter().zip(&peak) {
                assert!((r - expect).abs() < 0.01, "{format} {channels}: {rms:?}");
                assert!((pk - expect).abs() < 0.01, "{format} {channels}: {peak:?}");
            }
        }
    }
}

#[test]
fn bitrate_of_untimestamped_live_data_uses_the_clock() {
    let mut p = probe(&[
        ("stall-timeout", 0u64.to_value()),
        ("interval", 0u64.to_value()),
        ("window", SEC.to_value()),
        ("min-bitrate", 64_000u64.to_value()),
    ]);
    p.h.set_src_caps_str(AAC);
    let mut low_at = None;
    for i in 1..=100u64 {
        p.h.set_time(gst::ClockTime::from_nseconds(i * 20 * MS))
            .unwrap();
        // 40 bytes per 20 ms = 16 kbit/s, no timestamps at all
        p.push(gst::Buffer::from_mut_slice(vec![0u8; 40]));
        if !p.verdicts().is_empty() {
            low_at = Some(i);
            break;
        }
    }
    let low_at = low_at.expect("low bitrate not detected without timestamps");
    // judged only once a full window (1 s = 50 buffers) of clock time was seen
    assert!((50..=52).contains(&low_at), "{low_at}");
    assert_eq!(reason(&p.messages()[0]), "low-bitrate");
}

#[path = "healthprobe/switch.rs"]
mod switch;

#[test]
fn every_property_written_while_playing_reads_back_and_takes_effect() {
    // Raw audio: the silence detector.
    let mut p = probe(&[
        ("stall-timeout", 0u64.to_value()),
        ("interval", 0u64.to_value()),
        ("silence-duration", SEC.to_value()),
    ]);
    p.h.set_src_caps_str(F32_STEREO);
    let mut pts = 0;
    let mut feed = |p: &mut Probe, db: f64, buffers: usize| {
        for _ in 0..buffers {
            p.push(sine_f32(48_000, 2, 4800, db, pts));
            pts += 100 * MS;
        }
    };
    feed(&mut p, -50.0, 20);
    assert!(p.verdicts().is_empty());
    p.element.set_property("silence-threshold", -40.0f64);
    assert_eq!(p.element.property::<f64>("silence-threshold"), -40.0);
    feed(&mut p, -50.0, 9);
    assert!(p.verdicts().is_empty());
    feed(&mut p, -50.0, 1);
    assert_eq!(p.verdicts(), vec![verdict(false, "silence")]);
    p.element.set_property("silence-duration", 0u64);
    assert_eq!(p.element.property::<u64>("silence-duration"), 0);
    assert_eq!(p.verdicts(), vec![verdict(true, "ok")]);

    // The clock: a stall timeout and a report period set while playing.
    p.messages();
    p.element.set_property("stall-timeout", 500 * MS);
    assert_eq!(p.element.property::<u64>("stall-timeout"), 500 * MS);
    p.element.set_property("interval", SEC);
    assert_eq!(p.element.property::<u64>("interval"), SEC);
    p.h.crank_single_clock_wait().unwrap();
    assert_eq!(p.now(), 500 * MS);
    assert_eq!(p.verdicts(), vec![verdict(false, "stall")]);
    assert_eq!(p.messages().len(), 1);
    p.h.crank_single_clock_wait().unwrap();
    assert_eq!(p.now(), SEC);
    let reports = p.messages();
    assert_eq!(reports.len(), 1, "a periodic report once a second");
    assert_eq!(reason(&reports[0]), "stall");

    // An encoded stream: the bitrate detector, off until set.
    let mut p = probe(&[
        ("stall-timeout", 0u64.to_value()),
        ("interval", 0u64.to_value()),
    ]);
    p.h.set_src_caps_str(AAC);
    // 2 s of a live stream: each unit arrives when the clock reaches it.
    let mut pts = 0;
    for _ in 0..100 {
        p.h.set_time(gst::ClockTime::from_nseconds(pts)).unwrap();
        p.push(encoded(320, pts, 20 * MS));
        pts += 20 * MS;
    }
    assert!(p.verdicts().is_empty());
    p.element.set_property("window", SEC);
    assert_eq!(p.element.property::<u64>("window"), SEC);
    p.element.set_property("min-bitrate", 200_000u64);
    assert_eq!(p.element.property::<u64>("min-bitrate"), 200_000);
    // 128 kbit/s is now too little
    assert_eq!(p.verdicts(), vec![verdict(false, "low-bitrate")]);
}

#[path = "healthprobe/live.rs"]
mod live;

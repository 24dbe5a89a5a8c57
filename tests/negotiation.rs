// SPDX-License-Identifier: MPL-2.0
//! failoverswitch's caps negotiation in real pipelines: parsers that refine their
//! caps, encoders that differ in level and codec_data, converters in front of an
//! input, stereo with and without a channel mask, garbage on the primary, muxers
//! behind the switch.

use gst::prelude::*;
mod common;
use common::files::{ffmpeg_decode, scratch};
use common::*;

/// A 320x240 25 fps H.264 encoder (`frames` frames, a keyframe every second) in
/// the avc form, so its caps carry codec_data.
fn h264(frames: u32, bitrate: u32, pattern: &str, pad: &str) -> String {
    format!(
        "videotestsrc num-buffers={frames} pattern={pattern} \
         ! video/x-raw,format=I420,width=320,height=240,framerate=25/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bitrate={bitrate} \
         ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! queue ! sw.{pad} "
    )
}

#[test]
fn two_h264_encoders_of_different_levels_fail_over_into_mpegts_and_decode() {
    let file = scratch("negotiation", "h264.ts");
    // Primary: 2 s at 2 Mbit/s (level 2); secondary: 5 s at 300 kbit/s (level 1.3),
    // another codec_data. h264parse first sends basic caps, then refines them.
    let desc = format!(
        "{}{} failoverswitch name=sw ! h264parse ! mpegtsmux ! filesink name=sink location={}",
        h264(50, 2000, "ball", "primary"),
        h264(125, 300, "smpte", "secondary"),
        file.display()
    );
    let r = run(&parse(&desc));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(
        r.switches(),
        vec![
            ("primary".into(), "secondary".into(), "eos".into()),
            ("secondary".into(), "none".into(), "eos".into())
        ]
    );
    let (frames, errors) = ffmpeg_decode(&file);
    assert!(errors.trim().is_empty(), "ffmpeg: {errors}");
    // 2 s of the primary, then the secondary from its keyframe at 2 s to its end.
    assert_eq!(frames, 125, "decoded frames");
}

#[test]
fn at_a_switch_the_incoming_codec_data_goes_out_before_its_first_buffer() {
    let desc = format!(
        "{}{} failoverswitch name=sw ! fakesink name=sink",
        h264(50, 2000, "ball", "primary"),
        h264(125, 300, "smpte", "secondary"),
    );
    let r = run(&parse(&desc));
    let caps = r.caps();
    let codec_data = |c: &gst::Caps| {
        c.structure(0)
            .unwrap()
            .get::<gst::Buffer>("codec_data")
            .ok()
            .map(|b| b.map_readable().unwrap().to_vec())
    };
    let last = caps.last().expect("caps");
    assert_eq!(
        last.structure(0).unwrap().get::<&str>("level").unwrap(),
        "1.3"
    );
    assert_ne!(codec_data(&caps[0]), codec_data(last), "{caps:?}");
    // The caps event right before the first secondary buffer (2 s, a keyframe).
    let mut seen_caps = 0;
    for e in &r.events {
        if e.type_() == gst::EventType::Caps {
            seen_caps += 1;
        }
    }
    assert!(seen_caps >= 2);
    let first_secondary = r
        .buffers
        .iter()
        .position(|b| b.pts().unwrap() >= gst::ClockTime::from_seconds(2))
        .unwrap();
    assert!(
        !r.buffers[first_secondary]
            .flags()
            .contains(gst::BufferFlags::DELTA_UNIT)
    );
}

#[test]
fn garbage_on_the_primary_does_not_decide_the_output_format() {
    // Random bytes parsed as AAC: the parser announces caps (some rate and channel
    // count) and finds next to no frames. The good secondary must carry the output.
    // Deterministic garbage: three frames that look like 8 kHz 8-channel ADTS (the
    // parser announces those caps and lets them through), then 4 MB of pseudo-random
    // bytes it finds nothing in.
    let garbage = scratch("negotiation", "garbage.bin");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut random = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 24) as u8
    };
    let mut bytes = Vec::new();
    for _ in 0..3 {
        let len: usize = 107;
        bytes.extend_from_slice(&[
            0xff,
            0xf1,
            0x6d,
            0xc0 | ((len >> 11) & 3) as u8,
            ((len >> 3) & 0xff) as u8,
            (((len & 7) << 5) as u8) | 0x1f,
            0xfc,
        ]);
        bytes.extend((0..len - 7).map(|_| random()));
    }
    bytes.extend((0..(4 << 20)).map(|_| random()));
    std::fs::write(&garbage, bytes).unwrap();
    let pipeline = parse(&format!(
        "filesrc location={} ! audio/mpeg,mpegversion=4 ! aacparse ! queue ! sw.primary \
         audiotestsrc num-buffers=150 samplesperbuffer=1024 \
           ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse \
           ! valve name=gate drop=true ! queue ! sw.secondary \
         failoverswitch name=sw ! fakesink name=sink",
        garbage.display()
    ));
    // The garbage negotiates first: the good input's data flows once it has.
    let gate = pipeline.by_name("gate").unwrap();
    let primary = pipeline
        .by_name("sw")
        .unwrap()
        .static_pad("primary")
        .unwrap();
    primary.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if info
            .event()
            .is_some_and(|e| e.type_() == gst::EventType::Caps)
        {
            gate.set_property("drop", false);
        }
        gst::PadProbeReturn::Ok
    });
    let caps = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let buffers = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (c, b) = (caps.clone(), buffers.clone());
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                match &info.data {
                    Some(gst::PadProbeData::Buffer(_)) => {
                        b.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Some(gst::PadProbeData::Event(e)) => {
                        if let gst::EventView::Caps(ev) = e.view() {
                            c.lock().unwrap().push(ev.caps_owned());
                        }
                    }
                    _ => (),
                }
                gst::PadProbeReturn::Ok
            },
        );
    // Run until the secondary has ended too.
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut switches = Vec::new();
    loop {
        let m = bus
            .timed_pop(gst::ClockTime::from_seconds(30))
            .expect("the secondary ends within 30 s");
        eprintln!("{:?} {:?}", m.type_(), m.structure());
        match m.view() {
            gst::MessageView::Error(e) => panic!("{e:?}"),
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                if s.name() == "failover-switched" {
                    let to = s.get::<String>("to").unwrap();
                    switches.push((to.clone(), s.get::<String>("reason").unwrap()));
                    if to == "none" {
                        break;
                    }
                }
            }
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    // The secondary takes over and is never refused for its caps.
    assert_eq!(
        switches.first().map(|s| s.0.as_str()),
        Some("secondary"),
        "{switches:?}"
    );
    assert_eq!(
        switches.last().map(|s| s.1.as_str()),
        Some("eos"),
        "{switches:?}"
    );
    let caps = caps.lock().unwrap();
    let last = caps.last().expect("caps").structure(0).unwrap().to_owned();
    assert_eq!(last.get::<i32>("rate").unwrap(), 48000, "{caps:?}");
    assert_eq!(last.get::<i32>("channels").unwrap(), 2);
    // The secondary's 150 frames (21.3 ms) went out, but for those that overlap what
    // the garbage had sent (up to three 128 ms frames).
    let n = buffers.load(std::sync::atomic::Ordering::SeqCst);
    assert!((130..=153).contains(&n), "{n} buffers out, caps {caps:?}");
}

#[test]
fn stereo_without_a_channel_mask_matches_wavparse_stereo() {
    let wav = scratch("negotiation", "stereo.wav");
    run(&parse(&format!(
        "audiotestsrc num-buffers=100 samplesperbuffer=480 wave=square \
         ! audio/x-raw,rate=48000,channels=2,format=S16LE ! wavenc ! filesink name=sink location={}",
        wav.display()
    )));
    // audiotestsrc sets no channel-mask, wavparse sets 0x3: the same layout.
    let r = run(&parse(&format!(
        "audiotestsrc num-buffers=50 samplesperbuffer=480 \
           ! audio/x-raw,rate=48000,channels=2,format=S16LE ! sw.primary \
         filesrc location={} ! wavparse ! sw.secondary \
         failoverswitch name=sw ! fakesink name=sink",
        wav.display()
    )));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(
        r.switches(),
        vec![
            ("primary".into(), "secondary".into(), "eos".into()),
            ("secondary".into(), "none".into(), "eos".into())
        ]
    );
    assert_continuous(&r.buffers, 0, 1000);
    assert_eq!(r.caps().len(), 1);
}

/// The secondary is a 44.1 kHz mono source behind `audioconvert ! audioresample`;
/// the primary is 48 kHz stereo F32. `primary_late`: the primary negotiates only
/// after the secondary has, so the converters must renegotiate.
fn converters(primary_late: bool) -> Run {
    let pipeline = parse(
        "appsrc name=p format=time \
           caps=audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=2 ! sw.primary \
         audiotestsrc num-buffers=100 samplesperbuffer=441 \
           ! audio/x-raw,rate=44100,channels=1,format=S16LE ! audioconvert ! audioresample \
           ! sw.secondary \
         failoverswitch name=sw ! fakesink name=sink",
    );
    let appsrc = pipeline
        .by_name("p")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let secondary = pipeline
        .by_name("sw")
        .unwrap()
        .static_pad("secondary")
        .unwrap();
    // Bounded wait until the secondary's caps satisfy `ok`.
    let wait_caps = move |ok: &dyn Fn(&gst::StructureRef) -> bool| {
        for _ in 0..2000 {
            if secondary
                .current_caps()
                .is_some_and(|c| c.structure(0).is_some_and(ok))
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the secondary did not negotiate as expected");
    };
    let feeder = std::thread::spawn(move || {
        if primary_late {
            wait_caps(&|_| true);
        }
        for i in 0..50u64 {
            let mut b = gst::Buffer::with_size(480 * 8).unwrap();
            {
                let b = b.get_mut().unwrap();
                b.set_pts(gst::ClockTime::from_mseconds(i * 10));
                b.set_duration(gst::ClockTime::from_mseconds(10));
            }
            if appsrc.push_buffer(b).is_err() {
                return;
            }
            if i == 0 {
                // The primary fixed the output format: the secondary's converters
                // convert to it before the primary ends.
                wait_caps(&|s| s.get::<i32>("rate") == Ok(48000));
            }
        }
        let _ = appsrc.end_of_stream();
    });
    let r = run(&pipeline);
    feeder.join().unwrap();
    r
}

#[test]
fn converters_in_front_of_the_secondary_convert_to_the_output_format() {
    for primary_late in [false, true] {
        let r = converters(primary_late);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let caps = r.caps();
        assert_eq!(caps.len(), 1, "one caps event: {caps:?}");
        let s = caps[0].structure(0).unwrap();
        assert_eq!(s.get::<i32>("rate").unwrap(), 48000);
        assert_eq!(s.get::<i32>("channels").unwrap(), 2);
        assert_eq!(
            r.switches(),
            vec![
                ("primary".into(), "secondary".into(), "eos".into()),
                ("secondary".into(), "none".into(), "eos".into())
            ],
            "primary_late={primary_late}"
        );
        // 0.5 s of the primary, then the secondary's to its end at 1 s (the
        // resampler may leave out a last fraction of a frame).
        let end = assert_continuous_from(&r.buffers, 0);
        assert!(end.abs_diff(ms(1000)) < ms(1), "ends at {end}");
    }
}

#[test]
fn aac_fails_over_into_flvmux() {
    let aac = |n: u32, pad: &str| {
        format!(
            "audiotestsrc num-buffers={n} samplesperbuffer=1024 \
             ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! queue ! sw.{pad} "
        )
    };
    let r = run(&parse(&format!(
        "{}{} failoverswitch name=sw ! flvmux streamable=true ! fakesink name=sink",
        aac(50, "primary"),
        aac(150, "secondary")
    )));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.switches()[0].2, "eos");
    let bytes: usize = r.buffers.iter().map(|b| b.size()).sum();
    // ~3.2 s of 128 kbit/s AAC (and the FLV tags around it).
    assert!(bytes > 30_000, "{bytes} bytes");
}

#[test]
fn video_caps_never_reach_the_raw_audio_parser() {
    init();
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let e = errors.clone();
    gst::log::set_active(true);
    gst::log::set_threshold_for_name("audio-info", gst::DebugLevel::Error);
    gst::log::add_log_function(move |cat, level, _file, _func, _line, _obj, msg| {
        if level == gst::DebugLevel::Error {
            if let Some(m) = msg.get() {
                e.lock().unwrap().push(format!("{}: {m}", cat.name()));
            }
        }
    });
    let r = run(&parse(
        "videotestsrc num-buffers=10 ! video/x-raw,width=64,height=48 ! sw.primary \
         videotestsrc num-buffers=20 ! video/x-raw,width=64,height=48 ! sw.secondary \
         failoverswitch name=sw ! fakesink name=sink",
    ));
    assert_eq!(r.buffers.len(), 20);
    let errors = errors.lock().unwrap();
    assert!(!errors.iter().any(|e| e.contains("audio")), "{errors:?}");
}

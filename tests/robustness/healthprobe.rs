// SPDX-License-Identifier: MPL-2.0
//! Robustness of `healthprobe`: garbage, caps and segment changes, EOS, flushes and
//! re-entrant handlers.

use super::*;

const F32_STEREO: &str = "audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=2";

fn healthprobe(props: &[(&str, gst::glib::Value)]) -> (Harness, gst::Bus) {
    let (h, _, bus) = harness_with_bus("healthprobe", props);
    (h, bus)
}

fn health_verdicts(h: &mut Harness) -> Vec<(bool, String)> {
    std::iter::from_fn(|| h.try_pull_event())
        .filter_map(|e| gstfailover::health_event::parse_event(&e))
        .map(|v| (v.healthy, v.reason))
        .collect()
}

/// Pushes `buf` and checks that the very same buffer comes out.
fn passes(h: &mut Harness, buf: gst::Buffer) {
    let size = buf.size();
    let pts = buf.pts();
    assert_eq!(h.push(buf), Ok(gst::FlowSuccess::Ok));
    let out = h.try_pull().expect("buffer passes through");
    assert_eq!((out.size(), out.pts()), (size, pts));
}

#[test]
fn healthprobe_passes_garbage_and_keeps_judging() {
    let (mut h, _bus) = healthprobe(&[
        ("stall-timeout", ms(500).to_value()),
        ("silence-duration", ms(200).to_value()),
        ("interval", 0u64.to_value()),
    ]);
    h.set_src_caps_str(F32_STEREO);
    let mut now = 0;
    let mut step = |h: &mut Harness, buf: gst::Buffer| {
        now += 10;
        h.set_time(gst::ClockTime::from_mseconds(now)).unwrap();
        passes(h, buf);
    };
    // Odd sizes, empty, junk floats (NaN, infinities), no timestamps, backwards,
    // duplicated and hours-ahead timestamps.
    for (k, size) in [0usize, 1, 3, 7, 8, 1001, 4095, 0, 12_345]
        .into_iter()
        .enumerate()
    {
        step(&mut h, raw(junk(size, k as u32), Some(ms(10 * k as u64))));
    }
    let nan: Vec<u8> = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e38]
        .iter()
        .cycle()
        .take(960)
        .flat_map(|v| v.to_le_bytes())
        .collect();
    step(&mut h, raw(nan, Some(ms(100))));
    step(&mut h, raw(junk(3840, 7), None));
    step(&mut h, raw(junk(3840, 8), Some(ms(50))));
    step(&mut h, raw(junk(3840, 8), Some(ms(50))));
    step(&mut h, raw(junk(3840, 9), Some(ms(3 * 3600 * 1000))));
    // 50 MB of audio in one buffer.
    step(
        &mut h,
        raw(junk(50 * 1024 * 1024, 10), Some(ms(3 * 3600 * 1000 + 10))),
    );
    // The end of time, with the longest duration there is.
    let mut end = raw(junk(3840, 11), Some(gst::ClockTime::MAX.nseconds()));
    end.get_mut().unwrap().set_duration(gst::ClockTime::MAX);
    step(&mut h, end);
    assert!(h.element().unwrap().property::<bool>("healthy"));
    // Then digital silence: still judged as silence after silence-duration.
    for k in 0..30u64 {
        step(
            &mut h,
            raw(vec![0; 3840], Some(ms(3 * 3600 * 1000 + 300_000 + 10 * k))),
        );
    }
    assert_eq!(health_verdicts(&mut h), vec![(false, "silence".into())]);
    // And the stall timer still runs: nothing for 500 ms is a stall.
    while !health_verdicts(&mut h).iter().any(|v| v.1 == "stall") {
        h.crank_single_clock_wait().unwrap();
    }
    assert_eq!(
        h.testclock().unwrap().time(),
        gst::ClockTime::from_mseconds(now + 500)
    );
}

#[test]
fn healthprobe_survives_caps_segments_eos_and_flushes() {
    let (mut h, bus) = healthprobe(&[
        ("stall-timeout", ms(500).to_value()),
        ("interval", ms(100).to_value()),
        ("min-bitrate", 1000u64.to_value()),
    ]);
    let caps = [
        F32_STEREO,
        "audio/x-raw,format=S16LE,layout=interleaved,rate=8000,channels=1",
        "audio/mpeg,mpegversion=4,stream-format=adts,rate=48000,channels=2",
        // 8 channels without a channel-mask, non-interleaved, unsupported format.
        "audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=8",
        "audio/x-raw,format=F32LE,layout=non-interleaved,rate=48000,channels=2",
        "audio/x-raw,format=U8,layout=interleaved,rate=1,channels=64",
        "application/x-garbage",
    ];
    let mut now = 0;
    for (k, c) in caps.iter().enumerate() {
        h.set_src_caps_str(c);
        if k == 2 {
            let bytes = gst::FormattedSegment::<gst::format::Bytes>::new();
            assert!(h.push_event(gst::event::Segment::new(&bytes)));
        }
        if k == 4 {
            assert!(h.push_event(gst::event::FlushStart::new()));
            assert!(h.push_event(gst::event::FlushStop::new(true)));
            let default =
                gst::event::Segment::new(&gst::FormattedSegment::<gst::format::Default>::new());
            assert!(h.push_event(default));
        }
        for i in 0..5u64 {
            now += 10;
            h.set_time(gst::ClockTime::from_mseconds(now)).unwrap();
            let pts = (i != 2).then(|| ms(now));
            passes(&mut h, raw(junk(1001 * (i as usize % 3), i as u32), pts));
        }
    }
    assert!(h.push_event(gst::event::Eos::new()));
    // EOS, then a flush and data again: the probe carries on.
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    h.set_src_caps_str(F32_STEREO);
    now += 10;
    h.set_time(gst::ClockTime::from_mseconds(now)).unwrap();
    passes(&mut h, raw(junk(3840, 1), Some(0)));
    while !health_verdicts(&mut h).iter().any(|v| v.1 == "stall") {
        h.crank_single_clock_wait().unwrap();
    }
    let reports = std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Element]))
        .filter(|m| m.structure().is_some_and(|s| s.name() == "health"))
        .count();
    assert!(reports >= 5, "{reports} health messages");
}

#[test]
fn healthprobe_property_writes_from_handlers_do_not_deadlock() {
    let (h, bus) = healthprobe(&[
        ("stall-timeout", ms(100).to_value()),
        ("interval", ms(50).to_value()),
    ]);
    let element = h.element().unwrap();
    let notified = Arc::new(AtomicUsize::new(0));
    let n = notified.clone();
    element.connect_notify(Some("healthy"), move |e, _| {
        n.fetch_add(1, Ordering::SeqCst);
        let healthy: bool = e.property("healthy");
        e.set_property("stall-timeout", ms(if healthy { 100 } else { 200 }));
        e.set_property("interval", ms(40));
    });
    let weak = element.downgrade();
    let synced = Arc::new(AtomicUsize::new(0));
    let s = synced.clone();
    bus.set_sync_handler(move |_, msg| {
        if let Some(e) = weak.upgrade()
            && msg.structure().is_some_and(|s| s.name() == "health")
        {
            s.fetch_add(1, Ordering::SeqCst);
            e.set_property("silence-threshold", -50.0f64);
            let _: bool = e.property("healthy");
        }
        gst::BusSyncReply::Pass
    });
    let mut h = bounded("healthprobe with re-entrant handlers", move || {
        let mut h = h;
        h.set_src_caps_str(F32_STEREO);
        for round in 0..4u64 {
            let now = h.testclock().unwrap().time().mseconds();
            h.set_time(gst::ClockTime::from_mseconds(now + 10)).unwrap();
            passes(&mut h, raw(junk(3840, round as u32), None));
            // Stall, then data again.
            while !health_verdicts(&mut h).iter().any(|v| v.1 == "stall") {
                h.crank_single_clock_wait().unwrap();
            }
        }
        h
    });
    assert!(notified.load(Ordering::SeqCst) >= 7);
    assert!(synced.load(Ordering::SeqCst) >= 8);
    assert_eq!(
        h.element().unwrap().property::<u64>("stall-timeout"),
        ms(200)
    );
    passes(&mut h, raw(junk(3840, 9), None));
}

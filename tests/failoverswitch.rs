// SPDX-License-Identifier: MPL-2.0
//! failoverswitch behaviour, live (gst-check harness on a test clock: deterministic,
//! no sleeps) and non-live (real pipelines running as fast as their data).

use gst::prelude::*;
mod common;
use common::*;

const PRIMARY: f32 = 0.25;
const SECONDARY: f32 = -0.25;

#[test]
fn live_timeout_switches_with_continuous_output() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    let mut switch_at = None;
    for i in 0..300 {
        let now = i * 10;
        t.tick(now, now < 2000, true);
        if switch_at.is_none() && !t.switches().is_empty() {
            switch_at = Some(now);
            break;
        }
    }
    // The primary's last data arrived at 1.99 s: it times out at 2.49 s.
    assert_eq!(switch_at, Some(2490));
    for i in 250..300 {
        t.tick(i * 10, false, true);
    }
    let out = t.pull_all();
    assert_continuous(&out, 0, 3000);
    assert_eq!(total_frames(&out), 144_000);
    // Everything before 2.0 s is the primary, from 2.0 s on the secondary's held data.
    assert_values(&out, 0, 2000, PRIMARY);
    assert_values(&out, 2000, 3000, SECONDARY);
    let disconts = discont_times(&out);
    assert_eq!(disconts, vec![0, ms(2000)]);
    let stats = t.stats();
    assert_eq!(stats.get::<u64>("switch-count").unwrap(), 1);
    assert!(!stats.get::<bool>("primary-healthy").unwrap());
    assert_eq!(stats.get::<String>("primary-reason").unwrap(), "timeout");
    assert_eq!(stats.get::<u64>("primary-active-time").unwrap(), ms(2000));
    assert_eq!(stats.get::<u64>("secondary-active-time").unwrap(), ms(1000));
    assert_eq!(stats.get::<String>("active").unwrap(), "secondary");
}

#[test]
fn first_switch_message_fields() {
    let mut t = Live::new(&[("timeout", ms(500).into())]);
    for i in 0..100 {
        t.tick(i * 10, i < 20, true);
    }
    let sw = t.switch_messages();
    assert_eq!(sw.len(), 1);
    let s = &sw[0];
    assert_eq!(s.get::<&str>("from").unwrap(), "primary");
    assert_eq!(s.get::<&str>("to").unwrap(), "secondary");
    assert_eq!(s.get::<&str>("reason").unwrap(), "timeout");
    assert_eq!(s.get::<u64>("running-time").unwrap(), ms(200));
    assert_eq!(s.get::<u64>("switch-count").unwrap(), 1);
    let health = t.health_messages();
    assert!(
        health
            .iter()
            .any(|h| h.get::<&str>("pad").unwrap() == "primary"
                && !h.get::<bool>("healthy").unwrap()
                && h.get::<&str>("reason").unwrap() == "timeout"),
        "{health:?}"
    );
    let pad: gst::Pad = t.element.property("active-pad");
    assert_eq!(pad.name(), "secondary");
}

#[test]
fn restore_only_after_restore_delay() {
    let mut t = Live::new(&[
        ("timeout", ms(500).into()),
        ("restore-delay", ms(5000).into()),
        ("crossfade", 0u64.into()),
    ]);
    let mut events = Vec::new();
    for i in 0..1000 {
        let now = i * 10;
        let up = !(2000..3000).contains(&now);
        t.tick(now, up, true);
        for s in t.switches() {
            events.push((now, s));
        }
    }
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[0].1,
        ("primary".into(), "secondary".into(), "timeout".into())
    );
    // Back at 3.0 s, healthy since its first buffer: restored at 8.0 s, not before.
    assert_eq!(events[1].0, 8000);
    assert_eq!(
        events[1].1,
        ("secondary".into(), "primary".into(), "restored".into())
    );
    let out = t.pull_all();
    assert_continuous(&out, 0, 10_000);
    assert_values(&out, 0, 2000, PRIMARY);
    assert_values(&out, 2000, 8000, SECONDARY);
    assert_values(&out, 8000, 10_000, PRIMARY);
}

#[test]
fn flapping_primary_causes_no_switch_back() {
    let mut t = Live::new(&[
        ("restore-delay", ms(5000).into()),
        ("crossfade", 0u64.into()),
    ]);
    let mut switches = Vec::new();
    // Primary fails for 2 s, then flaps 300 ms up / 300 ms down for a minute, then
    // stays up.
    let flap_end = 3000 + 60_000;
    for i in 0..(flap_end + 7000) / 10 {
        let now = i * 10;
        let up = now < 1000 || (now >= 3000 && (now >= flap_end || (now - 3000) % 600 < 300));
        t.tick(now, up, true);
        switches.extend(t.switches().into_iter().map(|s| (now, s)));
    }
    assert_eq!(switches.len(), 2, "{switches:?}");
    assert_eq!(switches[0].1.2, "timeout");
    assert_eq!(switches[1].1.2, "restored");
    assert_eq!(switches[1].0, flap_end + 5000);
    assert_continuous(&t.pull_all(), 0, flap_end + 7000);
}

#[test]
fn sticky_stays_until_the_secondary_fails() {
    let mut t = Live::new(&[
        ("mode", "sticky".to_value()),
        ("timeout", ms(500).into()),
        ("restore-delay", ms(1000).into()),
    ]);
    let mut switches = Vec::new();
    for i in 0..2000 {
        let now = i * 10;
        t.tick(now, !(1000..2000).contains(&now), now < 15_000);
        switches.extend(t.switches().into_iter().map(|s| (now, s)));
    }
    assert_eq!(switches.len(), 2, "{switches:?}");
    assert_eq!(
        switches[0].1,
        ("primary".into(), "secondary".into(), "timeout".into())
    );
    assert_eq!(
        switches[1].1,
        ("secondary".into(), "primary".into(), "timeout".into())
    );
    assert_eq!(switches[1].0, 15_490);
    assert_continuous(&t.pull_all(), 0, 20_000);
}

#[test]
fn both_down_fills_silence_then_resumes() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    for i in 0..100 {
        t.tick(i * 10, true, true);
    }
    // Both stop at 1.0 s; no buffer arrives. The clock runs on.
    let mut out = t.pull_all();
    while out.last().map_or(0, end_of) < ms(2000) {
        t.crank();
        out.extend(t.pull_all());
    }
    let sw = t.switches();
    assert_eq!(
        sw,
        vec![("primary".into(), "none".into(), "timeout".into())]
    );
    // Silence from the end of the data on, up to the clock less 40 ms (data still
    // on its way is not covered) and never ahead of it.
    let filled = out.last().map_or(0, end_of);
    let clock = t.hp.testclock().unwrap().time().nseconds();
    assert!(
        filled <= clock && clock - filled <= ms(60),
        "filled to {filled}, clock {clock}"
    );
    let filled = filled / 1_000_000;
    assert_continuous(&out, 0, filled);
    assert_values(&out, 1000, filled, 0.0);
    let resume = clock / 1_000_000;
    let silent = out
        .iter()
        .filter(|b| b.pts().unwrap() >= gst::ClockTime::from_mseconds(1000));
    assert!(
        silent
            .clone()
            .all(|b| b.flags().contains(gst::BufferFlags::GAP))
    );
    assert_eq!(discont_times(&out), vec![0, ms(1000)]);
    // The secondary comes back.
    for i in 0..50 {
        t.tick(resume + i * 10, false, true);
    }
    assert_eq!(
        t.switches(),
        vec![("none".into(), "secondary".into(), "restored".into())]
    );
    out.extend(t.pull_all());
    // The rest of the hole is silence too; then the secondary.
    assert_continuous(&out, 0, resume + 500);
    assert_values(&out, filled, resume, 0.0);
    assert_values(&out, resume, resume + 500, SECONDARY);
}

#[test]
fn both_down_sends_gap_events_for_encoded_media() {
    let caps = "audio/mpeg,mpegversion=4,stream-format=adts,rate=48000,channels=2";
    let mut t = Live::with_caps(&[("timeout", ms(500).into())], caps, caps);
    for i in 0..50 {
        t.tick_encoded(i * 20, true, true);
    }
    let out = t.pull_all();
    assert_eq!(out.len(), 50);
    let mut gaps = Vec::new();
    while gaps.is_empty() {
        t.crank();
        while let Some(ev) = t.hp.try_pull_event() {
            if let gst::EventView::Gap(g) = ev.view() {
                gaps.push(g.get());
            }
        }
    }
    let (ts, dur) = gaps[0];
    assert_eq!(ts, gst::ClockTime::from_mseconds(1000));
    assert!(dur.unwrap() > gst::ClockTime::ZERO);
    assert_eq!(
        t.switches(),
        vec![("primary".into(), "none".into(), "timeout".into())]
    );
}

#[test]
fn crossfade_blends_at_a_manual_switch() {
    let mut t = Live::new(&[("crossfade", ms(20).into())]);
    for i in 0..100 {
        t.tick(i * 10, true, true);
    }
    let secondary = t.element.static_pad("secondary").unwrap();
    t.element.set_property("active-pad", &secondary);
    for i in 100..200 {
        t.tick(i * 10, true, true);
    }
    assert_eq!(
        t.switches(),
        vec![("primary".into(), "secondary".into(), "manual".into())]
    );
    let out = t.pull_all();
    assert_continuous(&out, 0, 2000);
    let samples = samples_between(&out, 1000, 1030);
    // 20 ms at 48 kHz: a monotonic blend from the primary to the secondary.
    assert!((samples[0] - PRIMARY).abs() < 1e-3, "{}", samples[0]);
    assert!((samples[960] - SECONDARY).abs() < 1e-6);
    assert!(
        (samples[480] - (PRIMARY + SECONDARY) / 2.0).abs() < 0.01,
        "{}",
        samples[480]
    );
    for w in samples.windows(2) {
        assert!(w[1] <= w[0] + 1e-6 && (w[0] - w[1]) < 0.002, "step {w:?}");
    }
}

#[test]
fn incoming_fades_in_where_the_outgoing_died() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", ms(20).into())]);
    for i in 0..300 {
        let now = i * 10;
        t.tick(now, now < 1000, true);
    }
    let out = t.pull_all();
    assert_continuous(&out, 0, 3000);
    let samples = samples_between(&out, 1000, 1030);
    assert!(
        samples[0].abs() < 1e-6,
        "starts from silence: {}",
        samples[0]
    );
    assert!((samples[960] - SECONDARY).abs() < 1e-6);
    for w in samples.windows(2) {
        assert!(w[1] <= w[0] + 1e-6 && (w[0] - w[1]) < 0.002, "step {w:?}");
    }
}

#[test]
fn manual_only_when_auto_switch_is_off() {
    let mut t = Live::new(&[
        ("auto-switch", false.into()),
        ("timeout", ms(500).into()),
        ("crossfade", 0u64.into()),
    ]);
    for i in 0..200 {
        let now = i * 10;
        t.tick(now, now < 1000, true);
    }
    assert!(t.switches().is_empty());
    let before = t.pull_all();
    assert_continuous(&before, 0, 1000);
    let secondary = t.element.static_pad("secondary").unwrap();
    t.element.set_property("active-pad", &secondary);
    t.tick(2000, false, true);
    assert_eq!(
        t.switches(),
        vec![("primary".into(), "secondary".into(), "manual".into())]
    );
    let mut out = before;
    out.extend(t.pull_all());
    // The secondary's held data covers the outage: no hole.
    assert_continuous(&out, 0, 2010);
    assert_values(&out, 1000, 2010, SECONDARY);
}

#[test]
fn active_input_whose_timestamps_went_back_times_out_and_says_why() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    for i in 0..300 {
        let now = i * 10;
        t.at(now);
        // From 1 s on, the primary's timestamps are 5 s in the past: its data keeps
        // arriving but can never reach the output in time.
        let pts = if now < 1000 {
            now
        } else {
            now.saturating_sub(5000)
        };
        let _ = t.hp.push(audio_buffer(pts, 0.25));
        let _ = t.hs.push(audio_buffer(now, -0.25));
    }
    assert_eq!(
        t.switches(),
        vec![("primary".into(), "secondary".into(), "timeout".into())]
    );
    let w = t.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("primary input's timestamps went back behind the output"),
        "{w:?}"
    );
    let out = t.pull_all();
    assert_continuous(&out, 0, 3000);
    assert_values(&out, 1000, 3000, SECONDARY);
}

#[test]
fn a_new_stream_after_eos_revives_the_input_once_data_arrives() {
    let mut t = Live::new(&[
        ("timeout", ms(500).into()),
        ("restore-delay", ms(1000).into()),
        ("crossfade", 0u64.into()),
    ]);
    let mut switches = Vec::new();
    for i in 0..400 {
        let now = i * 10;
        if now == 1000 {
            t.hp.push_event(gst::event::Eos::new());
        }
        if now == 1500 {
            // The primary's source reconnects: a new stream, no data yet.
            t.hp.push_event(gst::event::StreamStart::new("reconnected"));
            t.hp.push_event(gst::event::Caps::new(
                &RAW_CAPS.parse::<gst::Caps>().unwrap(),
            ));
            t.hp.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                gst::ClockTime,
            >::new()));
        }
        t.tick(now, !(1000..2000).contains(&now), true);
        switches.extend(t.switches().into_iter().map(|s| (now, s)));
    }
    assert_eq!(switches.len(), 2, "{switches:?}");
    assert_eq!(
        switches[0],
        (1000, ("primary".into(), "secondary".into(), "eos".into()))
    );
    // Healthy with its first data at 2.0 s, restored one restore-delay later.
    assert_eq!(
        switches[1],
        (
            3000,
            ("secondary".into(), "primary".into(), "restored".into())
        )
    );
    let primary: Vec<(bool, String)> = t
        .health_messages()
        .iter()
        .filter(|h| h.get::<&str>("pad").unwrap() == "primary")
        .map(|h| {
            (
                h.get::<bool>("healthy").unwrap(),
                h.get::<String>("reason").unwrap(),
            )
        })
        .collect();
    assert_eq!(primary, vec![(false, "eos".into()), (true, "ok".into())]);
    assert_continuous(&t.pull_all(), 0, 4000);
}

#[test]
fn latency_answers_for_the_slower_input() {
    let mut t = Live::new(&[]);
    t.hp.set_upstream_latency(gst::ClockTime::from_mseconds(50));
    t.hs.set_upstream_latency(gst::ClockTime::from_mseconds(200));
    let mut q = gst::query::Latency::new();
    assert!(t.element.static_pad("src").unwrap().query(&mut q));
    let (live, min, _max) = q.result();
    assert!(live);
    assert_eq!(min, gst::ClockTime::from_mseconds(200));
}

#[test]
fn health_event_from_a_probe_switches_and_restores() {
    let mut t = Live::new(&[
        ("restore-delay", ms(2000).into()),
        ("crossfade", 0u64.into()),
    ]);
    for i in 0..500 {
        let now = i * 10;
        t.at(now);
        if now == 1000 {
            t.hp.push_event(gstfailover::health_event::new_event(false, "silence"));
        }
        if now == 2000 {
            t.hp.push_event(gstfailover::health_event::new_event(true, "ok"));
        }
        t.tick(now, true, true);
    }
    let sw = t.switches();
    assert_eq!(
        sw,
        vec![
            ("primary".into(), "secondary".into(), "health".into()),
            ("secondary".into(), "primary".into(), "restored".into())
        ]
    );
    let health = t.health_messages();
    assert!(
        health
            .iter()
            .any(|h| h.get::<&str>("reason").unwrap() == "silence")
    );
    let out = t.pull_all();
    assert_continuous(&out, 0, 5000);
    assert_values(&out, 1000, 4000, SECONDARY);
    assert_values(&out, 4000, 5000, PRIMARY);
}

#[test]
fn caps_mismatch_warns_and_is_never_switched_to() {
    let cases = [
        (
            "rate=44100,channels=1,format=F32LE",
            vec!["rate: 48000 (output) vs 44100"],
        ),
        (
            "rate=48000,channels=2,format=F32LE",
            vec!["channels: 1 (output) vs 2"],
        ),
        (
            "rate=48000,channels=1,format=S16LE",
            vec!["format: F32LE (output) vs S16LE"],
        ),
    ];
    for (secondary, expected) in cases {
        let caps = format!("audio/x-raw,layout=interleaved,{secondary}");
        let mut t = Live::with_caps(&[("timeout", ms(500).into())], RAW_CAPS, &caps);
        for i in 0..200 {
            let now = i * 10;
            t.tick(now, now < 1000, true);
        }
        let warnings = t.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("secondary"), "{}", warnings[0]);
        for e in expected {
            assert!(warnings[0].contains(e), "{} lacks {e}", warnings[0]);
        }
        // The primary died; the mismatched secondary is never used: silence instead.
        assert_eq!(
            t.switches(),
            vec![("primary".into(), "none".into(), "timeout".into())]
        );
        let stats = t.stats();
        assert_eq!(
            stats.get::<String>("secondary-reason").unwrap(),
            "caps-mismatch"
        );
        assert!(
            t.pull_all()
                .iter()
                .all(|b| b.pts().unwrap() < gst::ClockTime::from_mseconds(1000)
                    || b.flags().contains(gst::BufferFlags::GAP))
        );
    }
}

#[test]
fn a_standby_that_negotiates_first_does_not_decide_the_output_format() {
    let secondary = "audio/x-raw,format=F32LE,layout=interleaved,rate=44100,channels=1";
    let mut t = Live::with_caps_in_order(&[("timeout", ms(500).into())], RAW_CAPS, secondary, true);
    for i in 0..100 {
        t.tick(i * 10, true, i < 50);
    }
    let warnings = t.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(
            "secondary input caps do not match the output (rate: 48000 (output) vs 44100)"
        ),
        "{}",
        warnings[0]
    );
    assert!(t.switches().is_empty(), "stays on the primary");
    let out = t.pull_all();
    assert_continuous(&out, 0, 1000);
    assert_values(&out, 0, 1000, PRIMARY);
    let caps = t.element.static_pad("src").unwrap().current_caps().unwrap();
    assert_eq!(
        caps.structure(0).unwrap().get::<i32>("rate").unwrap(),
        48_000
    );
}

#[test]
fn encoded_caps_mismatch_and_bitrate_tolerance() {
    let aac = "audio/mpeg,mpegversion=4,stream-format=adts,rate=48000,channels=2";
    let mp3 = "audio/mpeg,mpegversion=1,layer=3,rate=48000,channels=2";
    let mut t = Live::with_caps(&[("timeout", ms(500).into())], aac, mp3);
    for i in 0..100 {
        t.tick_encoded(i * 20, i < 25, true);
    }
    let w = t.warnings();
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("mpegversion: 4 (output) vs 1"), "{}", w[0]);
    assert!(t.switches().iter().all(|s| s.1 != "secondary"));

    let aac_hi = format!("{aac},bitrate=128000");
    let aac_lo = format!("{aac},bitrate=64000");
    let mut t = Live::with_caps(&[("timeout", ms(500).into())], &aac_hi, &aac_lo);
    for i in 0..100 {
        t.tick_encoded(i * 20, i < 25, true);
    }
    assert!(t.warnings().is_empty());
    assert_eq!(
        t.switches(),
        vec![("primary".into(), "secondary".into(), "timeout".into())]
    );
    // Encoded units are never cut: the output has whole secondary units after 0.5 s.
    let out = t.pull_all();
    assert!(
        out.iter()
            .any(|b| b.flags().contains(gst::BufferFlags::DISCONT)
                && b.pts().unwrap() >= gst::ClockTime::from_mseconds(500))
    );
    let mut caps_events = 0;
    while let Some(ev) = t.hp.try_pull_event() {
        caps_events += usize::from(ev.type_() == gst::EventType::Caps);
    }
    assert_eq!(caps_events, 1, "no new caps event at a switch");
}

#[test]
fn non_live_eos_hands_over_at_the_exact_sample() {
    init();
    let (out, events, msgs) = run_pipeline(
        "failoverswitch name=s ! fakesink name=sink sync=false \
         audiotestsrc num-buffers=100 samplesperbuffer=480 wave=sine ! audio/x-raw,rate=48000,channels=2,format=S16LE \
           ! identity sleep-time=15000 ! s.primary \
         audiotestsrc num-buffers=300 samplesperbuffer=480 wave=square ! audio/x-raw,rate=48000,channels=2,format=S16LE ! s.secondary",
    );
    assert_continuous(&out, 0, 3000);
    assert_eq!(out.iter().map(|b| b.size() / 4).sum::<usize>(), 144_000);
    assert_eq!(discont_times(&out), vec![0, ms(1000)]);
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == gst::EventType::Caps)
            .count(),
        1
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == gst::EventType::Segment)
            .count(),
        1
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == gst::EventType::StreamStart)
            .count(),
        1
    );
    assert_eq!(events.last(), Some(&gst::EventType::Eos));
    let sw: Vec<_> = msgs
        .iter()
        .filter(|s| s.name() == "failover-switched")
        .collect();
    // The slowed primary (1.5 s in all, longer than the 1 s timeout) keeps the secondary
    // waiting for the output, which moves all the time: the primary is never late.
    assert_eq!(sw.len(), 2, "{sw:?}");
    assert_eq!(sw[0].get::<&str>("reason").unwrap(), "eos");
    assert_eq!(sw[0].get::<u64>("running-time").unwrap(), ms(1000));
    assert_eq!(sw[1].get::<&str>("to").unwrap(), "none");
}

#[test]
fn non_live_is_not_paced_by_the_clock() {
    init();
    // The pipeline runs on a test clock that never moves: if the switch waited on the
    // clock, it would never reach EOS.
    let pipeline = gst::parse::launch(
        "failoverswitch name=s ! fakesink sync=false \
         audiotestsrc num-buffers=1000 samplesperbuffer=480 ! audio/x-raw,rate=48000 ! s.primary \
         audiotestsrc num-buffers=1000 samplesperbuffer=480 ! audio/x-raw,rate=48000 ! s.secondary",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.use_clock(Some(&gst_check::TestClock::new()));
    assert_eq!(run_to_eos(&pipeline), gst::MessageType::Eos);
}

#[test]
fn state_changes_while_data_flows_and_switches() {
    init();
    let pipeline = gst::parse::launch(
        "failoverswitch name=s timeout=100000000 restore-delay=0 ! fakesink name=sink async=false \
         audiotestsrc is-live=true samplesperbuffer=480 ! s.primary \
         audiotestsrc is-live=true samplesperbuffer=480 ! s.secondary",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let switch = pipeline.by_name("s").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let sinkpad = pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap();
    sinkpad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let _ = tx.send(());
        gst::PadProbeReturn::Ok
    });
    let pads = [
        switch.static_pad("primary").unwrap(),
        switch.static_pad("secondary").unwrap(),
    ];
    for round in 0..10 {
        assert_eq!(
            pipeline.set_state(gst::State::Playing),
            Ok(gst::StateChangeSuccess::Success)
        );
        // Wait (bounded) for data to flow, switching by hand meanwhile.
        for n in 0..5 {
            rx.recv_timeout(std::time::Duration::from_secs(5))
                .expect("data flows");
            switch.set_property("active-pad", &pads[(round + n) % 2]);
        }
        assert!(pipeline.set_state(gst::State::Null).is_ok());
        while rx.try_recv().is_ok() {}
    }
}

#[test]
fn each_input_is_told_whether_it_is_on_air() {
    let mut t = Live::new(&[("timeout", ms(500).into())]);
    // The two on-air events each input gets (waiting for them: they are delivered
    // by whichever thread delivers the element's notes).
    let on_air = |h: &mut gst_check::Harness| -> Vec<bool> {
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let e = h.pull_upstream_event().expect("an upstream event");
            seen.extend(gstfailover::on_air_event::parse_event(&e));
        }
        seen
    };
    for i in 0..100 {
        t.tick(i * 10, i < 50, true);
    }
    // Told on negotiation, then again at the failover.
    assert_eq!(on_air(&mut t.hp), vec![true, false]);
    assert_eq!(on_air(&mut t.hs), vec![false, true]);
}

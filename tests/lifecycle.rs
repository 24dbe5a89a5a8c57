// SPDX-License-Identifier: MPL-2.0
//! failoverswitch as a GStreamer element over its life: pauses, seeks and position,
//! manual switches that hold, a fallback file in a live pipeline, pipelines with one
//! input linked, timeouts shorter than the buffers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gst::prelude::*;
use gst_check::Harness;
mod common;
use common::*;

const PRIMARY: f32 = 0.25;
const SECONDARY: f32 = -0.25;

fn bus_wait(bus: &gst::Bus, types: &[gst::MessageType]) -> gst::Message {
    bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), types)
        .expect("message within 10 s")
}

#[test]
fn a_pause_does_not_count_as_an_outage() {
    let pipeline = parse(
        "appsrc name=p format=time caps=audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=1 \
           ! sw.primary \
         audiotestsrc samplesperbuffer=480 num-buffers=100 ! audio/x-raw,format=F32LE,rate=48000,channels=1 \
           ! sw.secondary \
         failoverswitch name=sw timeout=100000000 ! fakesink name=sink sync=false async=false",
    );
    // A clock that only the test moves: running time stands still unless moved.
    let clock = gst_check::TestClock::new();
    pipeline.use_clock(Some(&clock));
    let appsrc = pipeline
        .by_name("p")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let out = Arc::new(AtomicUsize::new(0));
    let o = out.clone();
    pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            o.fetch_add(1, Ordering::SeqCst);
            gst::PadProbeReturn::Ok
        });
    let push = |from: u64, n: u64| {
        for i in from..from + n {
            let mut b = gst::Buffer::from_mut_slice(vec![0u8; 480 * 4]);
            {
                let b = b.get_mut().unwrap();
                b.set_pts(gst::ClockTime::from_mseconds(i * 10));
                b.set_duration(gst::ClockTime::from_mseconds(10));
            }
            appsrc.push_buffer(b).unwrap();
        }
    };
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    push(0, 20);
    for _ in 0..500 {
        if out.load(Ordering::SeqCst) >= 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        out.load(Ordering::SeqCst) >= 20,
        "the primary's data went out"
    );
    // Paused for "3 s" of clock time and three timeouts of wall time: neither counts.
    pipeline.set_state(gst::State::Paused).unwrap();
    clock.set_time(clock.time() + gst::ClockTime::from_seconds(3));
    std::thread::sleep(Duration::from_millis(300));
    pipeline.set_state(gst::State::Playing).unwrap();
    push(20, 20);
    appsrc.end_of_stream().unwrap();
    let mut switches = Vec::new();
    loop {
        let m = bus_wait(&bus, &[gst::MessageType::Eos, gst::MessageType::Element]);
        if m.type_() == gst::MessageType::Eos {
            break;
        }
        if let Some(s) = m.structure().filter(|s| s.name() == "failover-switched") {
            switches.push(s.get::<String>("reason").unwrap());
        }
    }
    // Messages posted from streaming threads may follow EOS: READY joins them.
    pipeline.set_state(gst::State::Ready).unwrap();
    while let Some(m) = bus.pop() {
        if let Some(s) = m.structure().filter(|s| s.name() == "failover-switched") {
            switches.push(s.get::<String>("reason").unwrap());
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    // The primary's end hands over to the secondary; nothing timed out.
    assert_eq!(
        switches.first().map(String::as_str),
        Some("eos"),
        "{switches:?}"
    );
    assert!(!switches.contains(&"timeout".to_string()), "{switches:?}");
}

#[test]
fn position_after_a_seek_is_the_active_inputs_stream_position() {
    let pipeline = parse(
        "audiotestsrc samplesperbuffer=480 ! audio/x-raw,rate=48000,channels=1 ! sw.primary \
         audiotestsrc samplesperbuffer=480 ! audio/x-raw,rate=48000,channels=1 ! sw.secondary \
         failoverswitch name=sw ! fakesink name=sink sync=false",
    );
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Paused).unwrap();
    bus_wait(&bus, &[gst::MessageType::AsyncDone]);
    pipeline
        .seek_simple(
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::ClockTime::from_seconds(10),
        )
        .unwrap();
    bus_wait(&bus, &[gst::MessageType::AsyncDone]);
    let sink_position = pipeline.query_position::<gst::ClockTime>().unwrap();
    let src_position = pipeline
        .by_name("sw")
        .unwrap()
        .static_pad("src")
        .unwrap()
        .query_position::<gst::ClockTime>()
        .unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    // Prerolled on the first buffer after the seek: 10.00 s (running time is 0).
    for p in [sink_position, src_position] {
        assert!(
            p >= gst::ClockTime::from_seconds(10) && p <= gst::ClockTime::from_mseconds(10_100),
            "position {p}"
        );
    }
}

#[test]
fn a_manual_switch_holds_until_that_input_fails() {
    let mut t = Live::new(&[
        ("timeout", ms(500).into()),
        ("restore-delay", ms(1000).into()),
        ("crossfade", 0u64.into()),
    ]);
    let secondary = t.element.static_pad("secondary").unwrap();
    for i in 0..600 {
        let now = i * 10;
        if now == 500 {
            t.element.set_property("active-pad", &secondary);
        }
        // Both healthy until 4 s; then the secondary stops.
        t.tick(now, true, now < 4000);
    }
    // No automatic restore undid the choice; only the secondary's failure did.
    assert_eq!(
        t.switches(),
        vec![
            ("primary".into(), "secondary".into(), "manual".into()),
            ("secondary".into(), "primary".into(), "timeout".into())
        ]
    );
    // From then on the policy is automatic again: a primary outage fails over and
    // its return restores it after restore-delay.
    for i in 600..1000 {
        let now = i * 10;
        t.tick(now, !(6500..7000).contains(&now), true);
    }
    assert_eq!(
        t.switches(),
        vec![
            ("primary".into(), "secondary".into(), "timeout".into()),
            ("secondary".into(), "primary".into(), "restored".into())
        ]
    );
    let out = t.pull_all();
    assert_continuous(&out, 0, 10_000);
    assert_values(&out, 500, 4000, SECONDARY);
}

/// A non-live source pad (a file) linked to the switch's secondary input, fed from
/// its own thread as fast as the switch takes it.
struct FileInput {
    pushed: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileInput {
    fn start(element: &gst::Element, buffers: u64) -> Self {
        let pad = gst::Pad::builder(gst::PadDirection::Src)
            .name("file")
            .query_function(|pad, parent, q| match q.view_mut() {
                gst::QueryViewMut::Latency(l) => {
                    l.set(false, gst::ClockTime::ZERO, gst::ClockTime::NONE);
                    true
                }
                _ => gst::Pad::query_default(pad, parent, q),
            })
            .build();
        pad.set_active(true).unwrap();
        pad.link(&element.static_pad("secondary").unwrap()).unwrap();
        let pushed = Arc::new(AtomicUsize::new(0));
        let p = pushed.clone();
        let thread = std::thread::spawn(move || {
            pad.push_event(gst::event::StreamStart::new("file"));
            pad.push_event(gst::event::Caps::new(
                &RAW_CAPS.parse::<gst::Caps>().unwrap(),
            ));
            pad.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                gst::ClockTime,
            >::new()));
            for i in 0..buffers {
                if pad.push(audio_buffer(i * 10, SECONDARY)).is_err() {
                    return;
                }
                p.fetch_add(1, Ordering::SeqCst);
            }
            pad.push_event(gst::event::Eos::new());
        });
        Self {
            pushed,
            thread: Some(thread),
        }
    }
}

#[test]
fn a_fallback_file_in_a_live_pipeline_is_consumed_at_the_outputs_pace() {
    init();
    let element = gst::ElementFactory::make("failoverswitch")
        .property("timeout", ms(500))
        .property("crossfade", 0u64)
        .build()
        .unwrap();
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    let mut hp = Harness::with_element(&element, Some("primary"), Some("src"));
    hp.use_testclock();
    hp.set_src_caps_str(RAW_CAPS);
    hp.play();
    let mut file = FileInput::start(&element, 1000);
    // Bounded wait until the file's thread has read at least `n` buffers.
    let read_at_least = |n: usize| {
        for _ in 0..500 {
            if file.pushed.load(Ordering::SeqCst) >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the file's thread did not read {n} buffers");
    };
    for i in 0..100u64 {
        hp.set_time(gst::ClockTime::from_mseconds(i * 10)).unwrap();
        hp.push(audio_buffer(i * 10, PRIMARY)).unwrap();
        // The file keeps at least 100 ms ahead of the output.
        read_at_least(i as usize + 10);
    }
    // After 1 s the file has been read up to about the output (plus at most what the
    // switch holds ahead, 200 ms), not through.
    let read = file.pushed.load(Ordering::SeqCst);
    assert!(read <= 121, "{read} buffers of the file read after 1 s");
    // The primary stops: after the timeout the file carries the output, from where
    // the primary stopped, with its own data (not silence).
    let mut out: Vec<gst::Buffer> = std::iter::from_fn(|| hp.try_pull()).collect();
    // Release the switch's clock waits until the primary's timeout (1.49 s) fires.
    let switches = || {
        element
            .property::<gst::Structure>("stats")
            .get::<u64>("switch-count")
            .unwrap()
    };
    for _ in 0..10 {
        if switches() > 0 {
            break;
        }
        hp.crank_single_clock_wait().unwrap();
        // Until the switch's task has acted on it and waits again.
        hp.wait_for_clock_id_waits(1, 60).unwrap();
    }
    assert!(switches() >= 1);
    while out.last().map_or(0, end_of) < ms(2000) {
        out.push(hp.pull().expect("the file carries the output"));
    }
    let first_switch = std::iter::from_fn(|| bus.pop())
        .find_map(|m| {
            m.structure()
                .filter(|s| s.name() == "failover-switched")
                .map(|s| s.to_owned())
        })
        .unwrap();
    assert_eq!(first_switch.get::<&str>("to").unwrap(), "secondary");
    assert_continuous_from(&out, 0);
    assert_values(&out, 0, 1000, PRIMARY);
    assert_values(&out, 1000, 1990, SECONDARY);
    drop(hp);
    let _ = element.set_state(gst::State::Null);
    if let Some(t) = file.thread.take() {
        t.join().unwrap();
    }
}

#[test]
fn only_the_primary_linked_not_live_ends_with_it() {
    let r = run(&parse(
        "audiotestsrc num-buffers=50 samplesperbuffer=480 ! audio/x-raw,rate=48000,channels=1 \
           ! sw.primary failoverswitch name=sw ! fakesink name=sink",
    ));
    assert_continuous(&r.buffers, 0, 500);
    assert!(
        !r.switches().iter().any(|s| s.1 == "secondary"),
        "{:?}",
        r.switches()
    );
}

#[test]
fn only_the_primary_linked_live_ends_with_it() {
    init();
    let element = gst::ElementFactory::make("failoverswitch")
        .property("timeout", ms(500))
        .build()
        .unwrap();
    let mut h = Harness::with_element(&element, Some("primary"), Some("src"));
    h.use_testclock();
    h.set_src_caps_str(RAW_CAPS);
    h.play();
    for i in 0..100u64 {
        h.set_time(gst::ClockTime::from_mseconds(i * 10)).unwrap();
        h.push(audio_buffer(i * 10, PRIMARY)).unwrap();
    }
    assert!(h.push_event(gst::event::Eos::new()));
    let out: Vec<gst::Buffer> = std::iter::from_fn(|| h.try_pull()).collect();
    assert_continuous(&out, 0, 1000);
    let mut eos = false;
    while let Some(e) = h.try_pull_event() {
        eos |= e.type_() == gst::EventType::Eos;
    }
    assert!(eos, "EOS went out");
}

#[test]
fn only_the_secondary_linked_goes_out_at_once() {
    init();
    let element = gst::ElementFactory::make("failoverswitch").build().unwrap();
    let mut h = Harness::with_element(&element, Some("secondary"), Some("src"));
    h.use_testclock();
    h.set_src_caps_str(RAW_CAPS);
    h.play();
    h.set_time(gst::ClockTime::ZERO).unwrap();
    h.push(audio_buffer(0, SECONDARY)).unwrap();
    // No timeout of the absent primary to wait for.
    let b = h.try_pull().expect("the first buffer goes out at once");
    assert_eq!(b.pts(), Some(gst::ClockTime::ZERO));
    let pad: gst::Pad = element.property("active-pad");
    assert_eq!(pad.name(), "secondary");
}

/// 21.3 ms of mono F32 at 48 kHz.
fn long_buffer(pts_ns: u64, value: f32) -> gst::Buffer {
    let data: Vec<u8> = std::iter::repeat_n(value.to_le_bytes(), 1024)
        .flatten()
        .collect();
    let mut b = gst::Buffer::from_mut_slice(data);
    {
        let b = b.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_nseconds(pts_ns));
        b.set_duration(gst::ClockTime::from_nseconds(21_333_333));
    }
    b
}

#[test]
fn a_timeout_shorter_than_the_buffers_is_raised_with_one_warning() {
    let mut t = Live::new(&[("timeout", ms(5).into())]);
    for i in 0..140u64 {
        let now = i * 21_333_333;
        t.at_ns(now);
        let _ = t.hp.push(long_buffer(now, PRIMARY));
        let _ = t.hs.push(long_buffer(now, SECONDARY));
    }
    assert!(t.switches().is_empty(), "{:?}", t.switches());
    let w = t.warnings();
    assert_eq!(w.len(), 2, "one per input: {w:?}");
    assert!(
        w.iter().all(|w| w.contains("timeout 5 ms is shorter")),
        "{w:?}"
    );
}

#[test]
fn time_paused_does_not_count_towards_the_restore_hold_off() {
    let mut t = Live::new(&[
        ("timeout", ms(100).into()),
        ("restore-delay", ms(500).into()),
        ("crossfade", 0u64.into()),
    ]);
    // The primary is out from 1.0 s to 1.5 s; at 1.6 s it has 100 ms of its 500 ms
    // hold-off behind it.
    for i in 0..=160 {
        let now = i * 10;
        t.tick(now, !(1000..1500).contains(&now), true);
    }
    assert_eq!(
        t.switches(),
        vec![("primary".into(), "secondary".into(), "timeout".into())]
    );
    // Paused for 3.4 s of clock time; a verdict on the secondary makes the switch
    // decide while paused: the primary has still had only 100 ms.
    t.element.set_state(gst::State::Paused).unwrap();
    t.at(5000);
    t.hs.push_event(gstfailover::health_event::new_event(true, "ok"));
    assert!(t.switches().is_empty(), "{:?}", t.switches());
    // Back to PLAYING with running time going on where it stopped (as a pipeline
    // does): 400 ms of the hold-off remain, so the restore comes at 2.0 s of
    // running time (5.4 s of clock), not earlier and not much later.
    let pause = gst::ClockTime::from_mseconds(3400);
    let base = t.element.base_time().unwrap_or(gst::ClockTime::ZERO);
    t.element.set_base_time(base + pause);
    t.element.set_state(gst::State::Playing).unwrap();
    let mut restored = None;
    for i in 161..=260 {
        let rt = i * 10;
        t.at_ns((gst::ClockTime::from_mseconds(rt) + base + pause).nseconds());
        let _ = t.hp.push(audio_buffer(rt, PRIMARY));
        let _ = t.hs.push(audio_buffer(rt, SECONDARY));
        let sw = t.switches();
        if !sw.is_empty() {
            assert_eq!(
                sw,
                vec![("secondary".into(), "primary".into(), "restored".into())]
            );
            restored.get_or_insert(rt);
        }
    }
    let at = restored.expect("the primary is restored after its hold-off");
    assert!((2000..=2020).contains(&at), "restored at {at} ms");
}

// SPDX-License-Identifier: MPL-2.0
//! Bad input must never crash the process, deadlock the pipeline or stop the output
//! (SPEC "Errors and bad input"), for `failoverswitch` and `healthprobe`.
//!
//! This file: `failoverswitch` fed bad data through two gst-check harnesses on a
//! test clock. `robustness/threads.rs`: re-entrant handlers, state changes while
//! data flows and switches, non-live pipelines with bad timestamps (each run in a
//! thread joined with a bounded wait, so that a deadlock fails instead of hanging).
//! `robustness/healthprobe.rs`: the same bad input for `healthprobe`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use gst::prelude::*;
use gst_check::Harness;
mod common;
use common::*;
#[path = "robustness/healthprobe.rs"]
mod healthprobe_cases;
#[path = "robustness/threads.rs"]
mod thread_cases;

const PRIMARY: f32 = 0.25;
const SECONDARY: f32 = -0.25;
/// Longest any risky step may take before the test calls it a deadlock.
const BOUND: Duration = Duration::from_secs(10);

/// Runs `f` in a thread; fails the test if it does not return within [`BOUND`].
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(BOUND) {
        Ok(v) => {
            let _ = handle.join();
            v
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no return within {BOUND:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => panic!("{what}: thread ended without a result"),
        },
    }
}

/// Deterministic junk bytes.
fn junk(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn raw(data: Vec<u8>, pts_ns: Option<u64>) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(data);
    b.get_mut()
        .unwrap()
        .set_pts(pts_ns.map(gst::ClockTime::from_nseconds));
    b
}

/// 10 ms of mono F32 at `value`, with the given timestamp (or none).
fn audio_at(pts_ns: Option<u64>, value: f32) -> gst::Buffer {
    let data = std::iter::repeat_n(value.to_le_bytes(), 480)
        .flatten()
        .collect();
    raw(data, pts_ns)
}

/// Output buffers are whole F32 mono frames whose duration matches the sample count,
/// each starting where the previous one ended.
fn assert_contiguous_frames(out: &[gst::Buffer]) {
    assert!(!out.is_empty(), "no output");
    let mut pos = None;
    for b in out {
        assert_eq!(
            b.size() % 4,
            0,
            "partial frame in a {} byte buffer",
            b.size()
        );
        let pts = b.pts().expect("output is timestamped").nseconds();
        let frames = (b.size() / 4) as u64;
        let duration = b.duration().unwrap().nseconds();
        assert!(
            duration.abs_diff((frames * 1_000_000_000 + 24_000) / 48_000) <= 1,
            "duration {duration} of {frames} frames at {pts}"
        );
        if let Some(pos) = pos {
            assert_eq!(pts, pos, "hole or overlap");
        }
        pos = Some(end_of(b));
    }
}

fn output_events(t: &mut Live) -> Vec<gst::Event> {
    std::iter::from_fn(|| t.hp.try_pull_event()).collect()
}

#[test]
fn garbage_sizes_and_bytes_never_break_the_output() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", ms(20).into())]);
    for i in 0..50 {
        t.tick(i * 10, true, true);
    }
    let secondary = t.element.static_pad("secondary").unwrap();
    let primary = t.element.static_pad("primary").unwrap();
    // Sizes that are not whole frames, empty buffers, NaN and infinite floats, on both
    // inputs, with manual switches (crossfades) in the middle of it.
    let sizes = [0usize, 1, 3, 7, 1001, 4095, 1923, 0, 2, 1999];
    for (k, &size) in sizes.iter().enumerate() {
        let now = 500 + k as u64 * 10;
        t.at(now);
        let _ = t.hp.push(raw(junk(size, k as u32), Some(ms(now))));
        let _ = t.hs.push(raw(junk(size + 5, 99 + k as u32), Some(ms(now))));
        if k == 3 {
            t.element.set_property("active-pad", &secondary);
        }
        if k == 6 {
            t.element.set_property("active-pad", &primary);
        }
    }
    for i in 60..120 {
        t.tick(i * 10, true, true);
    }
    let out = t.pull_all();
    assert_contiguous_frames(&out);
    assert_eq!(out[0].pts(), Some(gst::ClockTime::ZERO));
    // The output is still following the clock with the primary's data.
    let end = end_of(out.last().unwrap());
    assert!(end.abs_diff(ms(1200)) <= ms(40), "output ends at {end}");
    let tail = samples_between(&out, 1150, 1190);
    assert!(!tail.is_empty() && tail.iter().all(|&v| v == PRIMARY));
    assert_eq!(t.switches().len(), 2);
}

#[test]
fn huge_buffers_go_through_or_are_dropped_without_harm() {
    const HUGE: usize = 50 * 1024 * 1024;
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    for i in 0..50 {
        t.tick(i * 10, true, true);
    }
    // 50 MB on the standby: held, then dropped; the output does not notice.
    let _ = t.hs.push(raw(vec![0x7f; HUGE], Some(ms(500))));
    for i in 50..100 {
        t.tick(i * 10, true, true);
    }
    let out = t.pull_all();
    assert_continuous(&out, 0, 1000);
    assert_values(&out, 0, 1000, PRIMARY);
    // 50 MB on the active input (273 s of audio): goes out whole, and the input's
    // next buffer follows it.
    t.at(1000);
    t.hp.push(raw(vec![0; HUGE], Some(ms(1000)))).unwrap();
    let huge_end = ms(1000) + (HUGE as u64 / 4 * 1_000_000_000).div_ceil(48_000);
    t.at_ns(huge_end);
    t.hp.push(audio_at(Some(huge_end), PRIMARY)).unwrap();
    let out = t.pull_all();
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0].size(), HUGE);
    assert_eq!(out[0].pts(), Some(gst::ClockTime::from_mseconds(1000)));
    assert_contiguous_frames(&out);
    assert!(end_of(&out[0]).abs_diff(huge_end) < 30_000);
}

#[test]
fn untimestamped_buffers_continue_the_input_timeline() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    for i in 0..200 {
        let now = i * 10;
        t.at(now);
        if now < 1000 {
            t.hp.push(audio_at(None, PRIMARY)).unwrap();
        }
        t.hs.push(audio_at(None, SECONDARY)).unwrap();
    }
    assert_eq!(
        t.switches(),
        vec![("primary".into(), "secondary".into(), "timeout".into())]
    );
    let out = t.pull_all();
    assert_continuous(&out, 0, 2000);
    assert_values(&out, 0, 1000, PRIMARY);
    assert_values(&out, 1000, 2000, SECONDARY);
}

#[test]
fn backward_and_duplicated_timestamps_never_overlap() {
    let mut t = Live::new(&[("timeout", ms(500).into())]);
    for i in 0..200u64 {
        let now = i * 10;
        t.tick(now, true, true);
        if i % 7 == 3 {
            // The same buffer again, on both inputs.
            let _ = t.hp.push(audio_at(Some(ms(now)), PRIMARY));
            let _ = t.hs.push(audio_at(Some(ms(now)), SECONDARY));
        }
        if i % 50 == 25 {
            // A buffer from 200 ms ago, and one from the very beginning.
            let _ = t.hp.push(audio_at(Some(ms(now - 200)), PRIMARY));
            let _ = t.hp.push(audio_at(Some(0), PRIMARY));
            let _ = t.hs.push(audio_at(Some(ms(now - 200)), SECONDARY));
        }
    }
    assert!(t.switches().is_empty());
    let out = t.pull_all();
    assert_contiguous_frames(&out);
    // Duplicates within the alignment threshold may stretch the output a little,
    // never more than the threshold.
    let end = end_of(out.last().unwrap());
    assert!(end >= ms(2000) && end <= ms(2040), "output ends at {end}");
    assert!(
        out.iter()
            .flat_map(|b| b.map_readable().unwrap().to_vec())
            .collect::<Vec<u8>>()
            .chunks_exact(4)
            .all(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) == PRIMARY)
    );
}

#[test]
fn encoded_audio_duplicates_and_steps_back_never_overlap() {
    let aac = "audio/mpeg,mpegversion=4,stream-format=adts,rate=48000,channels=2";
    let mut t = Live::with_caps(&[("timeout", ms(500).into())], aac, aac);
    // 20 ms units: in order, duplicated, half a unit back, far back, missing.
    for (now, pts) in [(0, Some(0)), (20, Some(20)), (40, Some(40)), (41, Some(40))]
        .into_iter()
        .chain([
            (42, Some(30)),
            (60, Some(60)),
            (61, Some(0)),
            (80, None),
            (100, Some(95)),
        ])
    {
        t.at(now);
        let mut b = encoded_buffer(0);
        b.get_mut()
            .unwrap()
            .set_pts(pts.map(gst::ClockTime::from_mseconds));
        t.hp.push(b).unwrap();
        let _ = t.hs.push(encoded_buffer(now));
    }
    let out = t.pull_all();
    let pts: Vec<_> = out.iter().map(|b| b.pts().unwrap().mseconds()).collect();
    assert_eq!(pts, vec![0, 20, 40, 60, 80, 100]);
    assert!(t.switches().is_empty());
}

#[test]
fn timestamps_jumping_hours_ahead_do_not_stall_a_live_output() {
    const HOURS: u64 = 3 * 3600 * 1000;
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    for i in 0..100u64 {
        let now = i * 10;
        t.tick(now, true, true);
        if i == 50 {
            // One buffer stamped three hours ahead on each input.
            let _ = t.hp.push(audio_at(Some(ms(now + HOURS)), PRIMARY));
            let _ = t.hs.push(audio_at(Some(ms(now + HOURS)), SECONDARY));
        }
    }
    // The primary jumps for good; the secondary stays on the clock.
    for i in 100..200u64 {
        let now = i * 10;
        t.at(now);
        let _ = t.hp.push(audio_at(Some(ms(now + HOURS)), PRIMARY));
        let _ = t.hs.push(audio_at(Some(ms(now)), SECONDARY));
    }
    // Then the primary stops: the secondary takes over.
    for i in 200..300u64 {
        t.tick(i * 10, false, true);
    }
    let out = t.pull_all();
    assert_contiguous_frames(&out);
    let end = end_of(out.last().unwrap());
    assert!(
        end.abs_diff(ms(3000)) <= ms(40),
        "the output left the clock: ends at {end}"
    );
    let tail = samples_between(&out, 2900, 2990);
    assert!(!tail.is_empty() && tail.iter().all(|&v| v == SECONDARY));
    assert_eq!(
        t.switches(),
        vec![("primary".into(), "secondary".into(), "timeout".into())]
    );
}

#[test]
fn live_timestamps_restarting_from_zero_do_not_stop_the_output() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    for i in 0..1400u64 {
        let now = i * 10;
        t.at(now);
        // The primary's encoder restarts at 12 s and stamps from zero again.
        let pts = if now < 12_000 { now } else { now - 12_000 };
        t.hp.push(audio_at(Some(ms(pts)), PRIMARY)).unwrap();
        t.hs.push(audio_at(Some(ms(now)), SECONDARY)).unwrap();
    }
    assert!(t.switches().is_empty());
    let out = t.pull_all();
    assert_continuous(&out, 0, 14_000);
    assert_values(&out, 0, 14_000, PRIMARY);
}

#[test]
fn caps_change_on_the_active_input_and_back() {
    let mut t = Live::new(&[
        ("timeout", ms(500).into()),
        ("restore-delay", ms(300).into()),
        ("crossfade", 0u64.into()),
    ]);
    let other = "audio/x-raw,format=S16LE,layout=interleaved,rate=44100,channels=2";
    for i in 0..300u64 {
        let now = i * 10;
        t.at(now);
        if now == 1000 {
            t.hp.set_src_caps_str(other);
        }
        if now == 1500 {
            t.hp.set_src_caps_str(RAW_CAPS);
        }
        t.tick(now, true, true);
    }
    let w = t.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("primary") && w[0].contains("rate: 48000 (output) vs 44100"));
    assert_eq!(
        t.switches(),
        vec![
            ("primary".into(), "secondary".into(), "caps-mismatch".into()),
            ("secondary".into(), "primary".into(), "restored".into())
        ]
    );
    let health = t.health_messages();
    let primary: Vec<_> = health
        .iter()
        .filter(|h| h.get::<&str>("pad").unwrap() == "primary")
        .map(|h| {
            (
                h.get::<bool>("healthy").unwrap(),
                h.get::<String>("reason").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        primary,
        vec![(false, "caps-mismatch".into()), (true, "ok".into())]
    );
    let out = t.pull_all();
    assert_continuous(&out, 0, 3000);
    assert_values(&out, 1000, 1800, SECONDARY);
    assert_values(&out, 1800, 3000, PRIMARY);
    let caps = output_events(&mut t)
        .iter()
        .filter(|e| e.type_() == gst::EventType::Caps)
        .count();
    assert_eq!(caps, 1, "the output caps never change");
}

#[test]
fn caps_change_on_the_standby_input_and_back() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    for i in 0..300u64 {
        let now = i * 10;
        if now == 500 {
            t.hs.set_src_caps_str("video/x-raw,format=I420,width=8,height=8");
        }
        if now == 1000 {
            t.hs.set_src_caps_str(RAW_CAPS);
        }
        t.tick(now, now < 2000, true);
    }
    let w = t.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("secondary"), "{}", w[0]);
    let back = t.health_messages().iter().any(|h| {
        h.get::<&str>("pad").unwrap() == "secondary"
            && h.get::<bool>("healthy").unwrap()
            && h.get::<&str>("reason").unwrap() == "ok"
    });
    assert!(back, "secondary reported healthy again");
    assert_eq!(
        t.switches(),
        vec![("primary".into(), "secondary".into(), "timeout".into())]
    );
    let out = t.pull_all();
    assert_continuous(&out, 0, 3000);
    assert_values(&out, 2000, 3000, SECONDARY);
}

#[test]
fn caps_check_none_follows_the_active_caps() {
    let mut t = Live::new(&[
        ("caps-check", "none".to_value()),
        ("crossfade", 0u64.into()),
    ]);
    let stereo = "audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=2,channel-mask=(bitmask)0x3";
    for i in 0..100u64 {
        let now = i * 10;
        if now == 500 {
            t.hp.set_src_caps_str(stereo);
        }
        t.tick(now, true, true);
    }
    assert!(t.warnings().is_empty());
    assert!(t.switches().is_empty());
    let out = t.pull_all();
    let caps: Vec<_> = output_events(&mut t)
        .iter()
        .filter_map(|e| match e.view() {
            gst::EventView::Caps(c) => Some(c.caps_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(caps.len(), 2, "{caps:?}");
    assert_eq!(caps[1].structure(0).unwrap().get::<i32>("channels"), Ok(2));
    // Stereo buffers of 480 bytes are 60 frames (1.25 ms) each: still one timeline.
    let last = out.last().unwrap();
    assert_eq!(last.size(), 1920);
    let mut pos = 0;
    for b in &out {
        let pts = b.pts().unwrap().nseconds();
        assert!(pts >= pos, "overlap at {pts}");
        pos = end_of(b);
    }
}

#[test]
fn eos_before_any_data_and_eos_of_both() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    assert!(t.hp.push_event(gst::event::Eos::new()));
    for i in 0..50 {
        t.tick(i * 10, false, true);
    }
    assert_eq!(
        t.switches(),
        vec![("primary".into(), "secondary".into(), "eos".into())]
    );
    let out = t.pull_all();
    assert_continuous(&out, 0, 500);
    assert_values(&out, 0, 500, SECONDARY);
    assert!(
        !output_events(&mut t)
            .iter()
            .any(|e| e.type_() == gst::EventType::Eos)
    );
    assert!(t.hs.push_event(gst::event::Eos::new()));
    assert!(
        output_events(&mut t)
            .iter()
            .any(|e| e.type_() == gst::EventType::Eos)
    );
}

#[test]
fn eos_on_standby_with_a_silent_active_fills_then_ends() {
    let mut t = Live::new(&[("timeout", ms(500).into())]);
    assert!(t.hs.push_event(gst::event::Eos::new()));
    // The primary never sends data: after the timeout, silence.
    let mut out = Vec::new();
    while out.last().map_or(0, end_of) < ms(1000) {
        t.crank();
        out.extend(t.pull_all());
    }
    assert_eq!(
        t.switches(),
        vec![("primary".into(), "none".into(), "timeout".into())]
    );
    assert!(
        out.iter()
            .all(|b| b.flags().contains(gst::BufferFlags::GAP))
    );
    assert_contiguous_frames(&out);
    assert!(t.hp.push_event(gst::event::Eos::new()));
    assert!(
        output_events(&mut t)
            .iter()
            .any(|e| e.type_() == gst::EventType::Eos)
    );
}

#[test]
fn both_down_without_fill_silence_waits_for_nothing() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("fill-silence", false.into())]);
    for i in 0..50 {
        t.tick(i * 10, true, true);
    }
    // Both inputs' data ended at 490 ms: crank the timer up to their timeout.
    let clock = t.hp.testclock().unwrap();
    while clock.time() < gst::ClockTime::from_mseconds(990) {
        t.hp.crank_single_clock_wait().unwrap();
    }
    // The timer task acts in its own thread: wait (bounded) for its message.
    let since = std::time::Instant::now();
    let mut switches = Vec::new();
    while switches.is_empty() && since.elapsed() < BOUND {
        switches = t.switches();
        std::thread::yield_now();
    }
    assert_eq!(
        switches,
        vec![("primary".into(), "none".into(), "timeout".into())]
    );
    // No filler to send: the timer task must not wait for (and wake at) deadlines
    // already past, which on a real clock spins a core.
    if t.hp.wait_for_clock_id_waits(1, 1).is_ok() {
        let next = clock.next_entry_time();
        assert!(next > Some(clock.time()), "waits for {next:?}");
    }
    let out = t.pull_all();
    assert_continuous(&out, 0, 500);
    // Data again: the output goes on from there.
    for i in 150..200 {
        t.tick(i * 10, false, true);
    }
    let out = t.pull_all();
    assert_contiguous_frames(&out);
    assert_eq!(end_of(out.last().unwrap()), ms(2000));
}

#[test]
fn eos_then_flush_then_data_again() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    for i in 0..50 {
        t.tick(i * 10, true, true);
    }
    assert!(t.hp.push_event(gst::event::Eos::new()));
    assert!(t.hs.push_event(gst::event::Eos::new()));
    let before = t.pull_all();
    assert_continuous(&before, 0, 500);
    let events = output_events(&mut t);
    assert_eq!(events.last().map(|e| e.type_()), Some(gst::EventType::Eos));
    // The secondary is restarted (flush, new segment) and delivers again.
    assert!(t.hs.push_event(gst::event::FlushStart::new()));
    assert!(t.hs.push_event(gst::event::FlushStop::new(false)));
    let segment = gst::FormattedSegment::<gst::ClockTime>::new();
    assert!(t.hs.push_event(gst::event::Segment::new(&segment)));
    for i in 50..100 {
        t.tick(i * 10, false, true);
    }
    let after = t.pull_all();
    assert!(!after.is_empty(), "no output after the restart");
    let types: Vec<_> = output_events(&mut t).iter().map(|e| e.type_()).collect();
    assert!(
        types.starts_with(&[gst::EventType::FlushStart, gst::EventType::FlushStop]),
        "the ended output is flushed first: {types:?}"
    );
    assert!(types.contains(&gst::EventType::Segment));
    assert_contiguous_frames(&after);
    assert_eq!(end_of(after.last().unwrap()), ms(1000));
    assert!(
        samples_between(&after, 600, 1000)
            .iter()
            .all(|&v| v == SECONDARY)
    );
}

#[test]
fn flush_on_standby_does_not_reach_the_output() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    for i in 0..100u64 {
        let now = i * 10;
        if now % 300 == 150 {
            assert!(t.hs.push_event(gst::event::FlushStart::new()));
            // The standby's data while flushing is refused, not a crash.
            assert_eq!(
                t.hs.push(audio_at(Some(ms(now)), SECONDARY)),
                Err(gst::FlowError::Flushing)
            );
            assert!(t.hs.push_event(gst::event::FlushStop::new(true)));
            let segment = gst::FormattedSegment::<gst::ClockTime>::new();
            assert!(t.hs.push_event(gst::event::Segment::new(&segment)));
        }
        t.tick(now, true, true);
    }
    let out = t.pull_all();
    assert_continuous(&out, 0, 1000);
    assert_values(&out, 0, 1000, PRIMARY);
    let flushes = output_events(&mut t)
        .iter()
        .filter(|e| {
            matches!(
                e.type_(),
                gst::EventType::FlushStart | gst::EventType::FlushStop
            )
        })
        .count();
    assert_eq!(flushes, 0);
    // The flushed standby still takes over.
    for i in 100..200 {
        t.tick(i * 10, false, true);
    }
    assert_eq!(t.switches().len(), 1);
    let out = t.pull_all();
    assert_continuous(&out, 1000, 2000);
}

#[test]
fn flush_on_active_passes_and_output_resumes() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    for i in 0..50 {
        t.tick(i * 10, true, true);
    }
    assert!(t.hp.push_event(gst::event::FlushStart::new()));
    assert!(t.hp.push_event(gst::event::FlushStop::new(false)));
    let segment = gst::FormattedSegment::<gst::ClockTime>::new();
    assert!(t.hp.push_event(gst::event::Segment::new(&segment)));
    for i in 50..100 {
        t.tick(i * 10, true, true);
    }
    let types: Vec<_> = output_events(&mut t).iter().map(|e| e.type_()).collect();
    assert!(types.contains(&gst::EventType::FlushStart));
    assert!(types.contains(&gst::EventType::FlushStop));
    let out = t.pull_all();
    assert!(!out.is_empty());
    let last = out.last().unwrap();
    assert_eq!(end_of(last), ms(1000));
    assert!(t.switches().is_empty());
}

#[test]
fn non_time_segments_are_refused_with_a_warning() {
    let mut t = Live::new(&[("timeout", ms(500).into()), ("crossfade", 0u64.into())]);
    let bytes = gst::FormattedSegment::<gst::format::Bytes>::new();
    for i in 0..100u64 {
        let now = i * 10;
        if now == 300 {
            assert!(t.hs.push_event(gst::event::Segment::new(&bytes)));
        }
        if now == 500 {
            let mut seg = gst::FormattedSegment::<gst::format::Bytes>::new();
            seg.set_start(gst::format::Bytes::from_u64(1 << 40));
            assert!(t.hp.push_event(gst::event::Segment::new(&seg)));
        }
        t.at(now);
        // After the BYTES segment the primary's "timestamps" mean nothing (here
        // they would overlap by 300 ms): they must be ignored, as the warning says.
        let pts = if now < 500 { now } else { now - 300 };
        t.hp.push(audio_at(Some(ms(pts)), PRIMARY)).unwrap();
        t.hs.push(audio_at(Some(ms(now)), SECONDARY)).unwrap();
    }
    let w = t.warnings();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w.iter().all(|w| w.contains("not in TIME format")));
    assert!(t.switches().is_empty());
    let out = t.pull_all();
    assert_continuous(&out, 0, 1000);
    assert_values(&out, 0, 1000, PRIMARY);
}

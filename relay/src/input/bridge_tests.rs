// SPDX-License-Identifier: MPL-2.0
//! The bridge with real pipelines: a connection carrying AAC and H.264 from live
//! test sources (instead of `rtmp2src ! flvdemux`, which needs a server), feeding
//! the appsrcs of a main pipeline that ends in fakesinks. Real time, a few seconds.

use super::bridge::{Input, Settings, Sinks, TimeBase};
use super::supervisor::Policy;
use super::{InputKind, Media};
use gst::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MS: u64 = 1_000_000;

#[derive(Debug, Clone)]
enum Seen {
    Buffer {
        arrival: u64,
        pts: u64,
        discont: bool,
    },
    Health(bool, String),
    Caps(String),
}

fn record(pipe: &gst::Pipeline, sink: &str, time: &TimeBase) -> Arc<Mutex<Vec<Seen>>> {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let pad = pipe.by_name(sink).unwrap().static_pad("sink").unwrap();
    let (s, t) = (seen.clone(), time.clone());
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            let item = match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => Some(Seen::Buffer {
                    arrival: t.now().unwrap(),
                    pts: b.pts().unwrap().nseconds(),
                    discont: b.flags().contains(gst::BufferFlags::DISCONT),
                }),
                Some(gst::PadProbeData::Event(e)) => match e.view() {
                    gst::EventView::Caps(c) => Some(Seen::Caps(c.caps().to_string())),
                    _ => gstfailover::health_event::parse_event(e)
                        .map(|v| Seen::Health(v.healthy, v.reason)),
                },
                _ => None,
            };
            if let Some(i) = item {
                s.lock().unwrap().push(i);
            }
            gst::PadProbeReturn::Ok
        },
    );
    seen
}

fn buffers(seen: &[Seen]) -> Vec<(u64, u64, bool)> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Buffer {
                arrival,
                pts,
                discont,
            } => Some((*arrival, *pts, *discont)),
            _ => None,
        })
        .collect()
}

/// Two connections of 3 s each (the test sources end, the pipeline's EOS ends the
/// connection): each is placed on the live edge of the main timeline, audio and
/// video together; the switch is told `eos` at the end and `ok` once the next one
/// delivers fresh data.
#[test]
fn audio_and_video_of_each_connection_go_onto_the_live_edge_together() {
    crate::init().unwrap();
    for f in ["x264enc", "avenc_aac", "h264parse", "aacparse"] {
        if gst::ElementFactory::find(f).is_none() {
            eprintln!("skipped: {f} missing");
            return;
        }
    }
    let src = "is-live=true format=time do-timestamp=false min-latency=0 block=false max-bytes=0";
    let main = gst::parse::launch(&format!(
        "appsrc name=a {src} ! fakesink name=fa sync=false async=false \
         appsrc name=v {src} ! fakesink name=fv sync=false async=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let clock = gst::SystemClock::obtain();
    let time = TimeBase {
        base: clock.time(),
        clock: clock.clone(),
    };
    main.use_clock(Some(&clock));
    main.set_start_time(gst::ClockTime::NONE);
    main.set_base_time(time.base);
    let audio = record(&main, "fa", &time);
    let video = record(&main, "fv", &time);
    let appsrc = |n: &str| {
        main.by_name(n)
            .unwrap()
            .downcast::<gst_app::AppSrc>()
            .unwrap()
    };
    let sinks = Sinks {
        audio: Some(appsrc("a")),
        video: Some(appsrc("v")),
    };
    let connection = "videotestsrc is-live=true num-buffers=75 \
        ! video/x-raw,format=I420,width=160,height=120,framerate=25/1 \
        ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse \
        ! video/x-h264,stream-format=avc,alignment=au ! appsink name=video sync=false async=false \
        audiotestsrc is-live=true num-buffers=141 samplesperbuffer=1024 ! avenc_aac ! aacparse \
        ! audio/mpeg,stream-format=raw ! appsink name=audio sync=false async=false";
    let settings = Settings {
        policy: Policy {
            timeout: 1000 * MS,
            watchdog: 3000 * MS,
            reconnect_delay: 500 * MS,
            reconnect_max: 4000 * MS,
            min_rate: 0.95,
            confirm: 200 * MS,
        },
        settle: 500 * MS,
        window: 2000 * MS,
        keep_back: 300 * MS,
    };
    let mut input = Input::new(
        "primary",
        InputKind::Launch(connection.into()),
        Media::av_flv(),
        sinks,
        settings,
        time.clone(),
    )
    .unwrap();
    main.set_state(gst::State::Paused).unwrap();
    input.start();
    let start = Instant::now();
    let mut playing = false;
    let mut events = Vec::new();
    while start.elapsed() < Duration::from_secs(9) {
        if !playing && input.ready() {
            main.set_state(gst::State::Playing).unwrap();
            input.open();
            playing = true;
        }
        events.extend(input.tick());
        std::thread::sleep(Duration::from_millis(50));
    }
    input.stop();
    main.set_state(gst::State::Null).unwrap();
    assert!(playing, "{events:?}");

    for (name, seen) in [("audio", &audio), ("video", &video)] {
        let seen = seen.lock().unwrap().clone();
        let caps: Vec<&String> = seen
            .iter()
            .filter_map(|s| match s {
                Seen::Caps(c) => Some(c),
                _ => None,
            })
            .collect();
        let want = if name == "audio" {
            "stream-format=(string)raw"
        } else {
            "stream-format=(string)avc"
        };
        assert!(caps.iter().all(|c| c.contains(want)), "{name}: {caps:?}");
        // Told `eos` when the first connection ended, `ok` when the next was fresh.
        let health: Vec<(bool, String)> = seen
            .iter()
            .filter_map(|s| match s {
                Seen::Health(h, r) => Some((*h, r.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            health[..2],
            [(false, "eos".into()), (true, "ok".into())],
            "{name}: {health:?}"
        );
        let bufs = buffers(&seen);
        // Two connections, each starting with a DISCONT buffer.
        let starts: Vec<usize> = bufs
            .iter()
            .enumerate()
            .filter(|(_, b)| b.2)
            .map(|(i, _)| i)
            .collect();
        assert!(starts.len() >= 2 && starts[0] == 0, "{name}: {starts:?}");
        // Every buffer on the live edge: at most `keep_back` in the past (held while
        // settling), never ahead by more than a frame or two.
        for &(arrival, pts, _) in &bufs {
            let ahead = pts as i64 - arrival as i64;
            assert!(
                (-400 * MS as i64..100 * MS as i64).contains(&ahead),
                "{name}: pts {pts} arrival {arrival}"
            );
        }
        // A reconnection delivers, with its first fresh data, what it held while
        // settling (up to `keep_back` old), not only what arrives from then on.
        for &i in &starts[1..] {
            let (arrival, pts, _) = bufs[i];
            assert!(
                arrival >= pts + 150 * MS,
                "{name}: first buffer of a connection at {pts}, arrived {arrival}"
            );
        }
        // The second connection continues the timeline (its timestamps restarted
        // at 0), after the first one's end.
        let (_, last_first, _) = bufs[starts[1] - 1];
        let (_, first_second, _) = bufs[starts[1]];
        assert!(
            first_second > last_first,
            "{name}: {last_first} then {first_second}"
        );
    }
    // Audio and video of one connection share one offset: their first buffers of
    // each connection (the sources start together) are placed within a frame or two.
    let a = buffers(&audio.lock().unwrap());
    let v = buffers(&video.lock().unwrap());
    let firsts =
        |b: &[(u64, u64, bool)]| -> Vec<u64> { b.iter().filter(|x| x.2).map(|x| x.1).collect() };
    for (fa, fv) in firsts(&a).iter().zip(firsts(&v)) {
        assert!(fa.abs_diff(fv) < 120 * MS, "audio {fa} video {fv}");
    }
}

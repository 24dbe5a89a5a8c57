// SPDX-License-Identifier: MPL-2.0
//! A live primary and secondary tone through `failoverswitch`: the primary goes
//! down after 3 s and comes back after 8 s. Prints each switch with its reason and,
//! at the end, the output's longest gap in timestamps and in arrival time.
//!
//! cargo run --release --example failover-demo [-- --seconds 16]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;

#[derive(Default)]
struct OutputWatch {
    last_end: Option<gst::ClockTime>,
    last_arrival: Option<Instant>,
    longest_ts_gap: gst::ClockTime,
    longest_arrival_gap: Duration,
    buffers: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    gstfailover::plugin_register_static()?;
    let seconds: u64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);

    let pipeline = gst::parse::launch(
        "failoverswitch name=switch timeout=500000000 restore-delay=3000000000 \
           ! audioconvert ! fakesink name=out sync=true \
         audiotestsrc is-live=true freq=440 volume=0.3 samplesperbuffer=480 \
           ! audio/x-raw,rate=48000,channels=2 ! valve name=primary_valve ! switch.primary \
         audiotestsrc is-live=true freq=440 volume=0.3 samplesperbuffer=480 \
           ! audio/x-raw,rate=48000,channels=2 ! switch.secondary",
    )?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;

    let watch = Arc::new(Mutex::new(OutputWatch::default()));
    let sinkpad = pipeline
        .by_name("out")
        .and_then(|s| s.static_pad("sink"))
        .ok_or("no sink pad")?;
    let w = watch.clone();
    sinkpad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer() {
            let mut w = w.lock().unwrap();
            let now = Instant::now();
            if let (Some(pts), Some(end)) = (buffer.pts(), w.last_end) {
                w.longest_ts_gap = w.longest_ts_gap.max(pts.saturating_sub(end));
            }
            if let Some(last) = w.last_arrival {
                w.longest_arrival_gap = w.longest_arrival_gap.max(now - last);
            }
            w.last_end = buffer.pts().zip(buffer.duration()).map(|(p, d)| p + d);
            w.last_arrival = Some(now);
            w.buffers += 1;
        }
        gst::PadProbeReturn::Ok
    });

    let main_loop = glib::MainLoop::new(None, false);
    let valve = pipeline.by_name("primary_valve").ok_or("no valve")?;
    let start = Instant::now();
    let v = valve.clone();
    glib::timeout_add_once(Duration::from_secs(3), move || {
        println!("[{:5.2}s] primary goes down", start.elapsed().as_secs_f64());
        v.set_property("drop", true);
    });
    glib::timeout_add_once(Duration::from_secs(8), move || {
        println!(
            "[{:5.2}s] primary comes back",
            start.elapsed().as_secs_f64()
        );
        valve.set_property("drop", false);
    });
    let l = main_loop.clone();
    glib::timeout_add_once(Duration::from_secs(seconds), move || l.quit());

    let bus = pipeline.bus().ok_or("no bus")?;
    let l = main_loop.clone();
    let _watch_guard = bus.add_watch(move |_, msg| {
        match msg.view() {
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name() == "failover-switched") {
                    let f = |k| s.get::<String>(k).unwrap_or_default();
                    let rt = s.get::<u64>("running-time").unwrap_or(0);
                    println!(
                        "[{:5.2}s] switched {} -> {} (reason {}) at running time {:.3}s",
                        start.elapsed().as_secs_f64(),
                        f("from"),
                        f("to"),
                        f("reason"),
                        rt as f64 / 1e9
                    );
                }
            }
            gst::MessageView::Error(err) => {
                eprintln!("error: {} ({:?})", err.error(), err.debug());
                l.quit();
            }
            _ => (),
        }
        glib::ControlFlow::Continue
    })?;

    pipeline.set_state(gst::State::Playing)?;
    main_loop.run();
    let stats: gst::Structure = pipeline
        .by_name("switch")
        .ok_or("no switch")?
        .property("stats");
    pipeline.set_state(gst::State::Null)?;

    let w = watch.lock().unwrap();
    println!("output buffers: {}", w.buffers);
    println!("longest gap in output timestamps: {}", w.longest_ts_gap);
    println!(
        "longest gap between output buffers (arrival): {:.1} ms",
        w.longest_arrival_gap.as_secs_f64() * 1000.0
    );
    println!("stats: {stats}");
    Ok(())
}

// SPDX-License-Identifier: MPL-2.0
//! One station: a primary and a secondary input switched onto one output, in its
//! own pipeline. [`Station`] is the whole context of a running station (its
//! pipeline and branches, its output, what it knows about itself, its logs); the
//! bus handler ([`bus`]) and the status timer work on it. Nothing in it is shared
//! with another station: a station's failure ends that station only, through the
//! `on_end` callback its owner gives to [`Station::start`].
//!
//! Everything here runs on the thread of the default main context (a GLib main
//! loop must run there); the branches' pad probes run on streaming threads and
//! queue their work (restarts) onto that main context.

mod bus;

use crate::config::{Setup, StationConfig};
use crate::logs::{Logs, epoch};
use crate::output::{Output, Target, keepalive};
use crate::pipeline::StationPipeline;
use crate::status::StationState;
use gst::glib;
use gst::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Buffers the output keeps while its connection is (re)opened.
const OUTPUT_QUEUE: usize = 2000;

/// The context of one running station.
pub struct Station {
    config: StationConfig,
    pipe: StationPipeline,
    /// `None` once stopped.
    output: Option<Output>,
    /// Passthrough: silent frames sent while no input was healthy.
    keepalive_frames: Arc<AtomicU64>,
    state: StationState,
    logs: Logs,
    started: Instant,
}

/// A started station, owned by whoever runs it (today `app::run`). Dropping it
/// without [`StationHandle::stop`] stops the pipeline without the summary.
pub struct StationHandle {
    station: Rc<RefCell<Station>>,
    _bus_watch: gst::bus::BusWatchGuard,
}

impl Station {
    /// Builds the station's pipeline and output and sets it playing. `on_end` is
    /// called from the main loop, with the reason, when the station cannot go on by
    /// itself (an error outside the input branches, or the end of the pipeline);
    /// the owner then stops it.
    pub fn start(
        config: StationConfig,
        logs: Logs,
        on_end: impl Fn(String) + 'static,
    ) -> Result<StationHandle, String> {
        let target = Target::parse(&config.output, "audio/aac")?;
        let pipe = StationPipeline::build(&config)?;
        if std::env::var_os("RELAY_PRINT_PIPELINE").is_some() {
            eprintln!("{}", pipe.description);
        }
        let output = Output::start(target, OUTPUT_QUEUE);
        output.attach(&pipe.appsink);
        let keepalive_frames = Arc::new(AtomicU64::new(0));
        if config.setup == Setup::Passthrough {
            keepalive::install(&pipe.appsink, output.handle(), keepalive_frames.clone());
        }
        pipe.install_probes(config.reconnect_delay);
        let bus = pipe.pipeline.bus().ok_or("the pipeline has no bus")?;

        let mut station = Station {
            config,
            pipe,
            output: Some(output),
            keepalive_frames,
            state: StationState::default(),
            logs,
            started: Instant::now(),
        };
        station.log_start();
        let station = Rc::new(RefCell::new(station));
        let weak = Rc::downgrade(&station);
        let bus_watch = bus
            .add_watch_local(move |_, msg| {
                let Some(st) = weak.upgrade() else {
                    return glib::ControlFlow::Continue;
                };
                // The borrow ends before `on_end`, which may stop the station.
                let end = st.borrow_mut().on_message(msg);
                if let Some(reason) = end {
                    on_end(reason);
                }
                glib::ControlFlow::Continue
            })
            .map_err(|e| e.to_string())?;
        let handle = StationHandle {
            station,
            _bus_watch: bus_watch,
        };
        let started = handle
            .station
            .borrow()
            .pipe
            .pipeline
            .set_state(gst::State::Playing);
        if let Err(e) = started {
            drop(handle);
            return Err(format!("cannot start the pipeline: {e}"));
        }
        Ok(handle)
    }

    fn log_start(&mut self) {
        let c = &self.config;
        eprintln!(
            "relay: {} setup, timeout {:?}, restore-delay {:?}, mode {}",
            c.setup.as_str(),
            c.timeout,
            c.restore_delay,
            c.mode
        );
        self.logs.event(
            "start",
            &[
                ("setup", c.setup.as_str().into()),
                ("pid", std::process::id().to_string()),
            ],
        );
    }

    /// The live status line (no newline); `verbose` adds each input's lead over the
    /// clock.
    pub fn status_line(&self, verbose: bool) -> String {
        let kib = self.output_stat(|s| &s.bytes_sent) / 1024;
        let mut line = self
            .state
            .line(epoch(), self.started.elapsed().as_secs_f64(), kib);
        if verbose {
            let lead =
                |i: usize| self.pipe.branches[i].lead_ns.load(Ordering::Relaxed) as f64 / 1e9;
            line.push_str(&format!(" | lead p {:.2}s s {:.2}s", lead(0), lead(1)));
        }
        line
    }

    /// Appends a row to the timeline log.
    pub fn write_timeline(&mut self) {
        let row = self.state.timeline_row(epoch());
        self.logs.timeline(&row);
    }

    fn output_stat(&self, f: impl Fn(&crate::output::OutputStats) -> &AtomicU64) -> u64 {
        self.output
            .as_ref()
            .map_or(0, |o| f(&o.stats).load(Ordering::Relaxed))
    }

    /// Stops the pipeline and the output, prints and logs the summary.
    fn stop(&mut self) {
        let Some(output) = self.output.take() else {
            return;
        };
        let switch = &self.pipe.switch;
        let stats = switch
            .find_property("stats")
            .and_then(|_| switch.property_value("stats").get::<gst::Structure>().ok());
        if let Some(s) = stats {
            eprintln!("\nrelay: failoverswitch stats: {s}");
            self.logs.event("stats", &[("stats", s.to_string())]);
        }
        let _ = self.pipe.pipeline.set_state(gst::State::Null);
        let silent = self.keepalive_frames.load(Ordering::Relaxed);
        if silent > 0 {
            eprintln!("relay: {silent} silent AAC frames sent while no input was healthy");
        }
        let stats = output.stats.clone();
        output.finish();
        let sent = stats.bytes_sent.load(Ordering::Relaxed);
        let dropped = stats.dropped_buffers.load(Ordering::Relaxed);
        let connects = stats.connects.load(Ordering::Relaxed);
        let switches = &self.state.switches;
        eprintln!(
            "\nrelay: stopped after {:.1} s: {} switches, {} bytes out ({} output connection(s), {} buffers dropped)",
            self.started.elapsed().as_secs_f64(),
            switches.len(),
            sent,
            connects,
            dropped
        );
        for s in switches {
            eprintln!(
                "  switch #{}: {} -> {} ({})",
                s.count, s.from, s.to, s.reason
            );
        }
        let fields = [
            ("switches", switches.len().to_string()),
            ("bytes_out", sent.to_string()),
            ("output_connects", connects.to_string()),
            ("dropped", dropped.to_string()),
        ];
        self.logs.event("stop", &fields);
    }
}

impl StationHandle {
    /// See [`Station::status_line`].
    pub fn status_line(&self, verbose: bool) -> String {
        self.station.borrow().status_line(verbose)
    }

    /// See [`Station::write_timeline`].
    pub fn write_timeline(&self) {
        self.station.borrow_mut().write_timeline();
    }

    /// Stops the station (pipeline, output connection), prints and logs its summary.
    /// Once; later calls do nothing.
    pub fn stop(&self) {
        self.station.borrow_mut().stop();
    }
}

impl Drop for Station {
    /// A station dropped without `stop` (start failed, or its owner let go) still
    /// stops its pipeline and its writer thread.
    fn drop(&mut self) {
        if let Some(output) = self.output.take() {
            let _ = self.pipe.pipeline.set_state(gst::State::Null);
            output.finish();
        }
    }
}

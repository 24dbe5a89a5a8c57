// SPDX-License-Identifier: MPL-2.0
//! One station: a primary and a secondary input switched onto one output, in its
//! own pipeline. [`Station`] is the whole context of a running station (its
//! pipeline and inputs, its output, what it knows about itself, its logs); the
//! bus handler ([`bus`]) and the status timer work on it. Nothing in it is shared
//! with another station: a station's failure ends that station only, through the
//! `on_end` callback its owner gives to [`Station::start`].
//!
//! Everything here runs on the thread of the default main context (a GLib main
//! loop must run there). The inputs (see `input`) judge their connections on
//! their own threads and tell the switch at once; their connections are rebuilt,
//! and what happened is logged, by the station's input tick (every 100 ms).

mod align;
mod bus;

use crate::config::{DEFAULT_ID, Setup, StationConfig};
use crate::input::{INPUTS, Input, TimeBase, bridge, supervisor};
use crate::logs::{Logs, epoch};
use crate::output::{Output, Target, keepalive};
use crate::pipeline::StationPipeline;
use crate::report::{InputReport, OutputReport, StationReport, SwitchReport};
use crate::secrets::Redactor;
use crate::status::StationState;
use gst::glib;
use gst::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Buffers the output keeps while its connection is (re)opened.
const OUTPUT_QUEUE: usize = 2000;
/// How often the inputs are checked (stalls, watchdog, reconnections).
const INPUT_TICK: Duration = Duration::from_millis(100);
/// Span over which an input's delivery rate is measured, and the least rate of a
/// healthy input (stream time per wall time).
const RATE_WINDOW: Duration = Duration::from_secs(2);
const MIN_RATE: f64 = 0.95;
/// An input that was unhealthy is back once its data has been fresh this long.
const CONFIRM: Duration = Duration::from_millis(200);

/// The context of one running station.
pub struct Station {
    config: StationConfig,
    pipe: StationPipeline,
    /// The inputs, in the order of [`INPUTS`].
    inputs: Vec<Input>,
    /// `None` once stopped.
    output: Option<Output>,
    /// An A/V station's ladder variants' outputs (by variant name, `480p`).
    variant_outputs: Vec<(String, Output)>,
    /// What the outputs' connections were at the last input tick (connected,
    /// publishes so far), per output: the main one first, then the variants'.
    outputs_seen: Vec<(bool, u64)>,
    /// Passthrough: silent frames sent while no input was healthy.
    keepalive_frames: Arc<AtomicU64>,
    state: StationState,
    logs: Logs,
    started: Instant,
    started_at: f64,
    /// Prefix of its lines on stderr: `relay` alone, `relay[<id>]` among others.
    tag: String,
    /// The pipeline was set playing (see [`Station::tick_inputs`]).
    playing: bool,
    /// When each `failover-switched` message was posted (epoch s, by switch
    /// count), stamped by a sync handler: the bus watch sees it later.
    switch_posted: Arc<Mutex<HashMap<u64, f64>>>,
}

/// A started station, owned by whoever runs it (today `app::run`). Dropping it
/// without [`StationHandle::stop`] stops the pipeline without the summary.
pub struct StationHandle {
    station: Rc<RefCell<Station>>,
    _bus_watch: gst::bus::BusWatchGuard,
    input_tick: RefCell<Option<glib::SourceId>>,
}

/// How long a new connection's first data is held while its live edge is learnt
/// (at most half the switch's timeout, so start-up does not look like an outage).
pub(crate) fn settle_time(timeout: Duration) -> Duration {
    Duration::from_millis(500).min(timeout / 2)
}

/// The inputs' timing, from the station's options.
pub(crate) fn input_settings(c: &StationConfig) -> bridge::Settings {
    let ns = |d: Duration| d.as_nanos().min(u128::from(u64::MAX)) as u64;
    bridge::Settings {
        policy: supervisor::Policy {
            timeout: ns(c.timeout),
            watchdog: ns(c.watchdog),
            reconnect_delay: ns(c.reconnect_delay),
            reconnect_max: ns(c.reconnect_max),
            min_rate: MIN_RATE,
            confirm: ns(CONFIRM),
        },
        settle: ns(settle_time(c.timeout)),
        window: ns(RATE_WINDOW),
        keep_back: ns(c.latency.min(c.timeout / 2)),
    }
}

impl Station {
    /// Builds the station's pipeline and output and starts it (it plays once the
    /// primary input delivers). `on_end` is
    /// called from the main loop, with the reason, when the station cannot go on by
    /// itself (an error outside the input branches, or the end of the pipeline);
    /// the owner then stops it.
    pub fn start(
        config: StationConfig,
        logs: Logs,
        on_end: impl Fn(String) + 'static,
    ) -> Result<StationHandle, String> {
        Station::start_with(config, logs, None, on_end)
    }

    /// [`Station::start`], going on with `output` (an earlier run's connection to the
    /// same target, see [`StationHandle::stop_keep_output`]) if given: a station
    /// restarted with a new configuration keeps its listeners.
    pub fn start_with(
        config: StationConfig,
        logs: Logs,
        output: Option<Output>,
        on_end: impl Fn(String) + 'static,
    ) -> Result<StationHandle, String> {
        let pipe = StationPipeline::build(&config)?;
        if std::env::var_os("RELAY_PRINT_PIPELINE").is_some() {
            eprintln!("{}", pipe.description);
        }
        let output = match output {
            Some(o) => o,
            None => Output::start(
                Target::parse(&config.output, "audio/aac")?
                    .with_backoff(config.reconnect_delay, config.reconnect_max),
                OUTPUT_QUEUE,
            ),
        };
        output.attach(&pipe.appsink);
        let mut variant_outputs = Vec::new();
        for (name, url, sink) in &pipe.variants {
            let target = Target::parse(url, "video/x-flv")?
                .with_backoff(config.reconnect_delay, config.reconnect_max);
            let o = Output::start(target, OUTPUT_QUEUE);
            o.attach(sink);
            variant_outputs.push((name.clone(), o));
        }
        let keepalive_frames = Arc::new(AtomicU64::new(0));
        // (An A/V station fills its outages itself: `av::filler`.)
        if config.setup == Setup::Passthrough && !crate::av::is_av(&config) {
            keepalive::install(&pipe.appsink, output.handle(), keepalive_frames.clone());
        }
        // The clock and base time are fixed now, so that the inputs' connections can
        // place their data on the pipeline's running time before it plays.
        let clock = gst::SystemClock::obtain();
        let time = TimeBase {
            base: clock.time(),
            clock: clock.clone(),
        };
        pipe.pipeline.use_clock(Some(&clock));
        pipe.pipeline.set_start_time(gst::ClockTime::NONE);
        pipe.pipeline.set_base_time(time.base);
        let settings = input_settings(&config);
        let mut inputs = Vec::new();
        for (name, (kind, sinks)) in INPUTS.into_iter().zip(pipe.inputs.iter()) {
            inputs.push(Input::new(
                name,
                kind.clone(),
                pipe.media.clone(),
                sinks.clone(),
                settings,
                time.clone(),
            )?);
        }
        let bus = pipe.pipeline.bus().ok_or("the pipeline has no bus")?;
        let switch_posted: Arc<Mutex<HashMap<u64, f64>>> = Arc::default();
        {
            let posted = switch_posted.clone();
            bus.set_sync_handler(move |_, msg| {
                if let gst::MessageView::Element(e) = msg.view() {
                    if let Some(s) = e.structure().filter(|s| s.name() == "failover-switched") {
                        if let (Ok(n), Ok(mut m)) = (s.get::<u64>("switch-count"), posted.lock()) {
                            m.insert(n, epoch());
                        }
                    }
                }
                gst::BusSyncReply::Pass
            });
        }

        let tag = if config.id == DEFAULT_ID {
            "relay".to_string()
        } else {
            format!("relay[{}]", config.id)
        };
        let mut station = Station {
            config,
            pipe,
            inputs,
            output: Some(output),
            outputs_seen: vec![(false, 0); 1 + variant_outputs.len()],
            variant_outputs,
            keepalive_frames,
            state: StationState::default(),
            logs,
            started: Instant::now(),
            started_at: epoch(),
            tag,
            playing: false,
            switch_posted,
        };
        station.state.started(station.started_at);
        station.log_start();
        let station = Rc::new(RefCell::new(station));
        let on_end: Rc<dyn Fn(String)> = Rc::new(on_end);
        let on_end_bus = on_end.clone();
        let weak = Rc::downgrade(&station);
        let bus_watch = bus
            .add_watch_local(move |_, msg| {
                let Some(st) = weak.upgrade() else {
                    return glib::ControlFlow::Continue;
                };
                // The borrow ends before `on_end`, which may stop the station.
                let end = st.borrow_mut().on_message(msg);
                if let Some(reason) = end {
                    on_end_bus(reason);
                }
                glib::ControlFlow::Continue
            })
            .map_err(|e| e.to_string())?;
        let handle = StationHandle {
            station,
            _bus_watch: bus_watch,
            input_tick: RefCell::new(None),
        };
        // Paused (live: at once, no preroll) while the inputs connect; playing once
        // the primary delivers (see `tick_inputs`), so that the switch does not
        // judge an input by its timeout before its first connection is up.
        let started = handle
            .station
            .borrow()
            .pipe
            .pipeline
            .set_state(gst::State::Paused);
        if let Err(e) = started {
            drop(handle);
            return Err(format!("cannot start the pipeline: {e}"));
        }
        for i in handle.station.borrow_mut().inputs.iter_mut() {
            i.start();
        }
        let weak = Rc::downgrade(&handle.station);
        let tick = glib::timeout_add_local(INPUT_TICK, move || {
            if let Some(st) = weak.upgrade() {
                // The borrow ends before `on_end`, which may stop the station.
                let end = st.borrow_mut().tick_inputs();
                if let Some(reason) = end {
                    on_end(reason);
                }
            }
            glib::ControlFlow::Continue
        });
        *handle.input_tick.borrow_mut() = Some(tick);
        Ok(handle)
    }

    fn log_start(&mut self) {
        let c = &self.config;
        eprintln!(
            "{}: {} setup, timeout {:?}, restore-delay {:?}, mode {}, latency {:?}, watchdog {:?}",
            self.tag,
            c.setup.as_str(),
            c.timeout,
            c.restore_delay,
            c.mode,
            c.latency,
            c.watchdog
        );
        for (name, (kind, _)) in INPUTS.iter().zip(&self.pipe.inputs) {
            eprintln!("{}: {name} input {}", self.tag, kind.display());
        }
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
        let connects = self.output_stat(|s| &s.connects);
        let connected = self
            .output
            .as_ref()
            .is_some_and(|o| o.stats.connected.load(Ordering::Relaxed));
        line.push_str(&output_note(connected, connects));
        if verbose {
            let lag = |i: usize| self.inputs.get(i).map_or(0.0, Input::lag_s);
            line.push_str(&format!(" | lag p {:.2}s s {:.2}s", lag(0), lag(1)));
        }
        line
    }

    /// Appends a row to the timeline log.
    pub fn write_timeline(&mut self) {
        if self.logs.has_timeline() {
            let row = self.state.timeline_row(epoch());
            self.logs.timeline(&row);
        }
    }

    /// What `/status` and `/metrics` show about this station (URLs through
    /// `redactor`).
    pub fn report(&self, redactor: &Redactor) -> StationReport {
        let now = epoch();
        let st = &self.state;
        let on = st.seconds_on_at(now);
        let secs = |name: &str| on.get(name).copied().unwrap_or(0.0);
        let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
        let inputs = INPUTS
            .iter()
            .zip([&self.config.primary, &self.config.secondary])
            .map(|(&name, url)| {
                let i = if name == "primary" {
                    &st.primary
                } else {
                    &st.secondary
                };
                InputReport {
                    name: name.into(),
                    url: redactor.url(url),
                    healthy: i.healthy,
                    reason: i.reason.clone(),
                    probe_healthy: i.probe_healthy,
                    probe_reason: i.probe_reason.clone(),
                    loudness_lufs: finite(i.loudness(now)),
                    gain_db: finite(i.gain),
                    reconnects: i.reconnects,
                    active_s: secs(name),
                }
            })
            .collect();
        let stats = self.output.as_ref().map(|o| o.stats.clone());
        let load = |f: fn(&crate::output::OutputStats) -> &AtomicU64| {
            stats.as_ref().map_or(0, |s| f(s).load(Ordering::Relaxed))
        };
        StationReport {
            id: self.config.id.clone(),
            state: "running",
            error: None,
            retry_in_s: None,
            restarts: 0,
            setup: self.config.setup.as_str().into(),
            mode: self.config.mode.clone(),
            started_at: Some(self.started_at),
            uptime_s: self.started.elapsed().as_secs_f64(),
            active: st.active.clone(),
            inputs,
            output: OutputReport {
                url: redactor.url(&self.config.output),
                connected: stats
                    .as_ref()
                    .is_some_and(|s| s.connected.load(Ordering::Relaxed)),
                bytes: load(|s| &s.bytes_sent),
                connects: load(|s| &s.connects),
                dropped_buffers: load(|s| &s.dropped_buffers),
                idle_s: stats.as_ref().and_then(|s| s.idle_s(now)),
                loudness_lufs: finite(st.output_loudness(now)),
                keepalive_frames: self.keepalive_frames.load(Ordering::Relaxed),
                none_s: secs("none"),
            },
            switches: st.switch_count,
            switches_by_reason: st.switches_by_reason.clone(),
            last_switch: st.switches.back().map(|s| SwitchReport {
                at: s.at,
                from: s.from.clone(),
                to: s.to.clone(),
                reason: s.reason.clone(),
            }),
            warnings: st.warnings,
            alignment: self.alignment_report(),
        }
    }

    /// A manual switch to input `to` (`primary` or `secondary`) through the switch's
    /// `active-pad`. Returns the input that was active before; refused (with why)
    /// when the switch does not take it (the input has ended or its caps do not
    /// match: the switch says so in a warning).
    pub fn switch_to(&mut self, to: &str) -> Result<String, String> {
        let sw = &self.pipe.switch;
        let pad = sw
            .static_pad(to)
            .ok_or_else(|| format!("no input '{to}' (primary or secondary)"))?;
        let before = self.state.active.clone();
        sw.set_property("active-pad", &pad);
        let now = sw.property::<Option<gst::Pad>>("active-pad");
        if now.as_ref() != Some(&pad) {
            return Err(format!(
                "the switch refused {to} (health: {})",
                match to {
                    "primary" => &self.state.primary.reason,
                    _ => &self.state.secondary.reason,
                }
            ));
        }
        eprintln!("\n{}: manual switch to {to} (was {before})", self.tag);
        self.logs
            .event("manual", &[("to", to.into()), ("from", before.clone())]);
        Ok(before)
    }

    /// Logs the outputs' connections going down and being published again (the
    /// writer threads reconnect them; see `output::rtmp`).
    fn check_outputs(&mut self) {
        let mut outputs: Vec<(String, Arc<crate::output::OutputStats>)> = Vec::new();
        if let Some(o) = &self.output {
            outputs.push(("main".into(), o.stats.clone()));
        }
        for (name, o) in &self.variant_outputs {
            outputs.push((name.clone(), o.stats.clone()));
        }
        for (i, (name, stats)) in outputs.into_iter().enumerate() {
            let now = (
                stats.connected.load(Ordering::Relaxed),
                stats.connects.load(Ordering::Relaxed),
            );
            let Some(seen) = self.outputs_seen.get_mut(i) else {
                continue;
            };
            if *seen == now {
                continue;
            }
            let was_up = seen.0;
            *seen = now;
            let event = match now {
                (false, _) if was_up => "output-lost",
                (true, n) if n > 1 => "output-reconnected",
                (true, _) => "output-connected",
                _ => continue,
            };
            self.logs.event(
                event,
                &[
                    ("output", name),
                    ("connects", now.1.to_string()),
                    ("at", format!("{:.3}", epoch())),
                ],
            );
        }
    }

    fn output_stat(&self, f: impl Fn(&crate::output::OutputStats) -> &AtomicU64) -> u64 {
        self.output
            .as_ref()
            .map_or(0, |o| f(&o.stats).load(Ordering::Relaxed))
    }

    /// Stops the pipeline and the output, prints and logs the summary.
    fn stop(&mut self) {
        if let Some(output) = self.stop_pipeline() {
            output.finish();
        }
    }

    /// Stops the pipeline, prints and logs the summary; hands the output (still
    /// connected) back.
    fn stop_pipeline(&mut self) -> Option<Output> {
        let output = self.output.take()?;
        for i in self.inputs.iter_mut() {
            i.stop();
        }
        for (_, o) in self.variant_outputs.drain(..) {
            o.finish();
        }
        let switch = &self.pipe.switch;
        let stats = switch
            .find_property("stats")
            .and_then(|_| switch.property_value("stats").get::<gst::Structure>().ok());
        if let Some(s) = stats {
            eprintln!("\n{}: failoverswitch stats: {s}", self.tag);
            self.logs.event("stats", &[("stats", s.to_string())]);
        }
        let _ = self.pipe.pipeline.set_state(gst::State::Null);
        let silent = self.keepalive_frames.load(Ordering::Relaxed);
        let tag = &self.tag;
        if silent > 0 {
            eprintln!("{tag}: {silent} silent AAC frames sent while no input was healthy");
        }
        let stats = output.stats.clone();
        let sent = stats.bytes_sent.load(Ordering::Relaxed);
        let dropped = stats.dropped_buffers.load(Ordering::Relaxed);
        let connects = stats.connects.load(Ordering::Relaxed);
        let count = self.state.switch_count;
        eprintln!(
            "\n{tag}: stopped after {:.1} s: {count} switches, {sent} bytes out ({connects} output connection(s), {dropped} buffers dropped)",
            self.started.elapsed().as_secs_f64(),
        );
        let shown = self.state.switches.len() as u64;
        if shown < count {
            eprintln!("  (the last {shown})");
        }
        for s in &self.state.switches {
            eprintln!(
                "  switch #{}: {} -> {} ({})",
                s.count, s.from, s.to, s.reason
            );
        }
        let fields = [
            ("switches", count.to_string()),
            ("bytes_out", sent.to_string()),
            ("output_connects", connects.to_string()),
            ("dropped", dropped.to_string()),
        ];
        self.logs.event("stop", &fields);
        Some(output)
    }
}

/// The status line's word on the output's connection: nothing while it is up on
/// its first connection; how often it was published again; `DOWN` while it is
/// (re)connecting after having been up.
pub(crate) fn output_note(connected: bool, connects: u64) -> String {
    let mut note = String::new();
    if connects > 1 {
        note.push_str(&format!(" | out reconnects {}", connects - 1));
    }
    if !connected && connects > 0 {
        note.push_str(" | out DOWN");
    }
    note
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
        if let Some(t) = self.input_tick.borrow_mut().take() {
            t.remove();
        }
        self.station.borrow_mut().stop();
    }

    /// Stops the station's pipeline but keeps its output connection, for
    /// [`Station::start_with`] (`None` if it was stopped already).
    pub fn stop_keep_output(&self) -> Option<Output> {
        self.station.borrow_mut().stop_pipeline()
    }

    /// See [`Station::report`].
    pub fn report(&self, redactor: &Redactor) -> StationReport {
        self.station.borrow().report(redactor)
    }

    /// The active input and the bytes sent so far (cheap, for summaries).
    pub fn active_and_bytes(&self) -> (String, u64) {
        let st = self.station.borrow();
        (st.state.active.clone(), st.output_stat(|s| &s.bytes_sent))
    }

    /// See [`Station::switch_to`].
    pub fn switch_to(&self, to: &str) -> Result<String, String> {
        self.station.borrow_mut().switch_to(to)
    }
}

impl Drop for StationHandle {
    fn drop(&mut self) {
        if let Some(t) = self.input_tick.get_mut().take() {
            t.remove();
        }
    }
}

impl Drop for Station {
    /// A station dropped without `stop` (start failed, or its owner let go) still
    /// stops its pipeline and its writer thread.
    fn drop(&mut self) {
        if let Some(output) = self.output.take() {
            for i in self.inputs.iter_mut() {
                i.stop();
            }
            let _ = self.pipe.pipeline.set_state(gst::State::Null);
            output.finish();
        }
        for (_, o) in self.variant_outputs.drain(..) {
            o.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::output_note;

    #[test]
    fn the_status_line_says_when_the_output_is_down_or_was_published_again() {
        // Not connected yet at start-up: nothing to say.
        assert_eq!(output_note(false, 0), "");
        assert_eq!(output_note(true, 1), "");
        assert_eq!(output_note(false, 1), " | out DOWN");
        assert_eq!(output_note(true, 3), " | out reconnects 2");
        assert_eq!(output_note(false, 3), " | out reconnects 2 | out DOWN");
    }
}

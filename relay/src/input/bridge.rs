// SPDX-License-Identifier: MPL-2.0
//! The GStreamer glue of one input: its connections' pipelines, their samples
//! placed on the main pipeline's running time and pushed into the input's appsrcs,
//! and its health told to the switch with `failover-health` events.
//!
//! Threads: a connection's samples arrive on its pipeline's streaming threads
//! (appsink callbacks); an HTTP connection's bytes are read on a thread of its own;
//! everything else ([`Input::start`], [`Input::tick`], [`Input::stop`]) runs on the
//! main context. Faults are judged where they are seen and told to the switch at
//! once from that thread (an out-of-band event overtakes queued data); a connection
//! is torn down and the next one built only on the main context, by the tick that
//! follows (every 100 ms). Locks: the connection state, then the supervisor; none
//! is held while pushing into the main pipeline.

use super::edge::{ConnClock, Place};
use super::supervisor::{Action, Facts, Fault, Policy, Supervisor, Verdict};
use super::{InputKind, Media, http};
use gst::prelude::*;
use gst_app::{AppSink, AppSrc};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The main pipeline's appsrcs that take one input's media.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sinks {
    pub(crate) audio: Option<AppSrc>,
    pub(crate) video: Option<AppSrc>,
}

impl Sinks {
    fn get(&self, m: Medium) -> Option<&AppSrc> {
        match m {
            Medium::Audio => self.audio.as_ref(),
            Medium::Video => self.video.as_ref(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Medium {
    Audio,
    Video,
}

impl Medium {
    const BOTH: [Medium; 2] = [Medium::Audio, Medium::Video];

    fn index(self) -> usize {
        self as usize
    }

    fn sink_name(self) -> &'static str {
        match self {
            Medium::Audio => "audio",
            Medium::Video => "video",
        }
    }
}

/// What a station hears about one of its inputs (on the main context).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InputEvent {
    pub(crate) input: &'static str,
    /// When it happened (epoch s; the station hears of it at its next tick).
    pub(crate) at: f64,
    pub(crate) kind: InputEventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum InputEventKind {
    /// Connection number `attempt` (1, 2, ...) is being opened.
    Connecting { attempt: u64 },
    /// The switch was told this verdict.
    Health { healthy: bool, reason: &'static str },
    /// A connection was given up; the next one in `wait`.
    Restart {
        reason: &'static str,
        detail: String,
        wait: Duration,
    },
    /// A warning from a connection's pipeline.
    Warning(String),
}

/// How an input is watched (see `supervisor` and `edge`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) policy: Policy,
    /// Settle time of a new connection's live edge (ns).
    pub(crate) settle: u64,
    /// Span of the delivery rate (ns).
    pub(crate) window: u64,
    /// Data held while settling is kept when it is at most this old (ns): what
    /// the switch can still use (its latency, but less than its timeout: older
    /// data would be late).
    pub(crate) keep_back: u64,
}

/// One connection's timeline and what it holds while settling.
struct ConnState {
    generation: u64,
    clock: ConnClock,
    held: Vec<(Medium, gst::Sample, u64, u64)>,
    /// A buffer of this medium went out on this connection (the first is DISCONT).
    started: [bool; 2],
}

/// What the connection threads and the main context share.
struct Shared {
    name: &'static str,
    sinks: Sinks,
    time: TimeBase,
    settings: Settings,
    sup: Mutex<Supervisor>,
    conn: Mutex<ConnState>,
    caps: Mutex<[Option<gst::Caps>; 2]>,
    events: Mutex<Vec<InputEvent>>,
    lag_ns: AtomicI64,
    delivered: AtomicU64,
    connections: AtomicU64,
    /// The main pipeline plays: data goes into the appsrcs (before, it would
    /// only grow old in their queues).
    open: AtomicBool,
    /// The switch says this input is on air (`failover-on-air`; until it says,
    /// taken as on air): its connection is never re-placed then.
    on_air: Arc<AtomicBool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The main pipeline's clock and base time: its running time is known before it
/// plays (the station sets both before it starts).
#[derive(Debug, Clone)]
pub(crate) struct TimeBase {
    pub(crate) clock: gst::Clock,
    pub(crate) base: gst::ClockTime,
}

impl TimeBase {
    /// The main pipeline's running time now.
    pub(crate) fn now(&self) -> Option<u64> {
        self.clock
            .time()
            .checked_sub(self.base)
            .map(gst::ClockTime::nseconds)
    }
}

impl Shared {
    fn now(&self) -> Option<u64> {
        self.time.now()
    }

    fn event(&self, kind: InputEventKind) {
        lock(&self.events).push(InputEvent {
            input: self.name,
            at: crate::logs::epoch(),
            kind,
        });
    }

    /// Tells the switch (every appsrc of this input: each feeds one switch).
    fn tell(&self, healthy: bool, reason: &'static str) {
        for m in Medium::BOTH {
            if let Some(src) = self.sinks.get(m) {
                let ev = gstfailover::health_event::new_event(healthy, reason);
                if let Some(pad) = src.static_pad("src") {
                    pad.push_event(ev);
                }
            }
        }
        self.event(InputEventKind::Health { healthy, reason });
    }

    /// Carries out what the supervisor decided, on any thread (connections are
    /// started and torn down by the main context's tick).
    fn execute(&self, actions: Vec<Action>) -> Vec<u64> {
        let mut connect = Vec::new();
        for a in actions {
            match a {
                Action::Tell { healthy, reason } => self.tell(healthy, reason),
                Action::TearDown {
                    fault,
                    detail,
                    wait_ns,
                } => self.event(InputEventKind::Restart {
                    reason: fault.as_str(),
                    detail,
                    wait: Duration::from_nanos(wait_ns),
                }),
                Action::Connect { generation } => connect.push(generation),
            }
        }
        connect
    }

    /// Connection `generation` failed or ended.
    fn fault(&self, generation: u64, fault: Fault, detail: String) {
        let Some(now) = self.now() else {
            return;
        };
        let acts = lock(&self.sup).on_fault(generation, now, fault, detail);
        self.execute(acts);
    }

    /// A sample from connection `generation`'s appsink.
    fn on_sample(&self, generation: u64, medium: Medium, sample: gst::Sample) {
        let Some(now) = self.now() else {
            return;
        };
        let Some((start, end)) = span(&sample) else {
            return;
        };
        let mut out = Vec::new();
        let acts = {
            let mut c = lock(&self.conn);
            if c.generation != generation {
                return;
            }
            let windows = c.clock.last_window().0;
            let place = c.clock.on_sample(now, start, end);
            if place == Place::Hold {
                c.held.push((medium, sample, start, end));
                drop(c);
                lock(&self.sup).on_arrival(generation, now);
                return;
            }
            let on_air = self.on_air.load(Ordering::Relaxed);
            if matches!(place, Place::Pass(_)) && !on_air {
                // Not on air: a connection whose data stays behind its edge is moved
                // forward onto it (a switch to it then finds its keyframes ahead of
                // the output, not behind), up to what the supervisor still counts
                // as fresh.
                let max = self.settings.policy.timeout / 2;
                if let Some(off) = c.clock.replace(now, max) {
                    c.started = [false; 2];
                    if debug_edge() {
                        eprintln!(
                            "relay: edge {} #{generation}: re-placed at {:.3} s, offset {:.3} s (data stayed behind its edge)",
                            self.name,
                            now as f64 / 1e9,
                            off as f64 / 1e9,
                        );
                    }
                }
            }
            if debug_edge() && c.clock.last_window().0 != windows {
                if let (_, Some(behind)) = c.clock.last_window() {
                    eprintln!(
                        "relay: edge {} #{generation}: at {:.3} s the last window's earliest data was {:.3} s behind its edge (on air: {on_air})",
                        self.name,
                        now as f64 / 1e9,
                        behind as f64 / 1e9,
                    );
                }
            }
            let facts = Facts {
                lag: c.clock.lag(now).unwrap_or(0),
                lead: c.clock.lead(now, start).unwrap_or(0),
                rate: c.clock.rate(now),
            };
            self.lag_ns.store(facts.lag, Ordering::Relaxed);
            let (deliver, acts) = lock(&self.sup).on_sample(generation, now, facts);
            if let (Place::Anchor(off), true) = (place, debug_edge()) {
                eprintln!(
                    "relay: edge {} #{generation}: anchored at {:.3} s, offset {:.3} s, {} held, rate {:?}",
                    self.name,
                    now as f64 / 1e9,
                    off as f64 / 1e9,
                    c.held.len(),
                    facts.rate
                );
            }
            // Held data (settling, or placed while the input was not yet back) goes
            // out with the first delivered sample, as far as it is at most
            // `keep_back` old; until then only that much is kept.
            let oldest = now.saturating_sub(self.settings.keep_back);
            let map = c.clock.mapper();
            let recent =
                |h: &(Medium, gst::Sample, u64, u64)| map(h.3).is_some_and(|e| e >= oldest);
            if deliver {
                let held = std::mem::take(&mut c.held);
                for h in held.iter().filter(|h| recent(h)) {
                    out.push(mapped(&mut c, h.0, &h.1, h.2));
                }
                out.push(mapped(&mut c, medium, &sample, start));
            } else {
                c.held.push((medium, sample, start, end));
                c.held.retain(recent);
            }
            acts
        };
        self.execute(acts);
        for (m, buf, caps) in out.into_iter().flatten() {
            self.push(m, buf, caps);
        }
    }

    fn push(&self, m: Medium, buf: gst::Buffer, caps: Option<gst::Caps>) {
        let Some(src) = self
            .sinks
            .get(m)
            .filter(|_| self.open.load(Ordering::SeqCst))
        else {
            return;
        };
        if let Some(caps) = caps {
            let mut known = lock(&self.caps);
            if known[m.index()].as_ref() != Some(&caps) {
                src.set_caps(Some(&caps));
                known[m.index()] = Some(caps);
            }
        }
        if src.push_buffer(buf).is_ok() {
            self.delivered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `RELAY_DEBUG_EDGE=1`: print where each connection is anchored.
fn debug_edge() -> bool {
    static ON: std::sync::LazyLock<bool> =
        std::sync::LazyLock::new(|| std::env::var_os("RELAY_DEBUG_EDGE").is_some());
    *ON
}

/// A sample's span in its connection's running time.
fn span(sample: &gst::Sample) -> Option<(u64, u64)> {
    let buf = sample.buffer()?;
    let seg = sample.segment()?.downcast_ref::<gst::ClockTime>()?.clone();
    let pts = buf.pts().or(buf.dts())?;
    let start = seg.to_running_time(pts)?.nseconds();
    Some((
        start,
        start + buf.duration().map_or(0, gst::ClockTime::nseconds),
    ))
}

/// The sample's buffer placed on the main timeline (DISCONT on a connection's
/// first buffer of each medium), with its caps.
fn mapped(
    c: &mut ConnState,
    m: Medium,
    sample: &gst::Sample,
    start: u64,
) -> Option<(Medium, gst::Buffer, Option<gst::Caps>)> {
    let src = sample.buffer()?;
    let pts = c.clock.map(start)?;
    let mut buf = src.copy();
    {
        let b = buf.make_mut();
        // DTS keeps its distance to PTS (reordered video).
        let dts = match (src.pts(), src.dts()) {
            (Some(p), Some(d)) => {
                Some(pts.saturating_sub(p.nseconds().saturating_sub(d.nseconds())))
            }
            _ => None,
        };
        b.set_pts(gst::ClockTime::from_nseconds(pts));
        b.set_dts(dts.map(gst::ClockTime::from_nseconds));
        if !c.started[m.index()] {
            b.set_flags(gst::BufferFlags::DISCONT);
        } else {
            b.unset_flags(gst::BufferFlags::DISCONT);
        }
    }
    c.started[m.index()] = true;
    Some((m, buf, sample.caps_owned()))
}

/// One running connection (main context).
struct Connection {
    generation: u64,
    pipeline: gst::Pipeline,
    stopper: Option<http::Stopper>,
}

/// One input of a station: its connections one after the other.
pub(crate) struct Input {
    shared: Arc<Shared>,
    kind: InputKind,
    media: Media,
    conn: Option<Connection>,
}

impl Input {
    /// Input `name` of a station whose main pipeline runs on `time`, feeding
    /// `sinks`. Fails if an element its connections need is missing.
    pub(crate) fn new(
        name: &'static str,
        kind: InputKind,
        media: Media,
        sinks: Sinks,
        settings: Settings,
        time: TimeBase,
    ) -> Result<Input, String> {
        for f in kind.factories() {
            if gst::ElementFactory::find(f).is_none() {
                return Err(format!("{name} input: element '{f}' is not installed"));
            }
        }
        let on_air = Arc::new(AtomicBool::new(true));
        for src in [&sinks.audio, &sinks.video].into_iter().flatten() {
            let Some(pad) = src.static_pad("src") else {
                continue;
            };
            let flag = on_air.clone();
            pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
                if let Some(gst::PadProbeData::Event(ev)) = &info.data {
                    if let Some(on) = gstfailover::on_air_event::parse_event(ev) {
                        flag.store(on, Ordering::Relaxed);
                    }
                }
                gst::PadProbeReturn::Ok
            });
        }
        let shared = Arc::new(Shared {
            on_air,
            name,
            sinks,
            time,
            settings,
            sup: Mutex::new(Supervisor::new(settings.policy)),
            conn: Mutex::new(ConnState {
                generation: 0,
                clock: ConnClock::new(settings.settle, settings.window),
                held: Vec::new(),
                started: [false; 2],
            }),
            caps: Mutex::new([None, None]),
            events: Mutex::new(Vec::new()),
            lag_ns: AtomicI64::new(0),
            delivered: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            open: AtomicBool::new(false),
        });
        Ok(Input {
            shared,
            kind,
            media,
            conn: None,
        })
    }

    /// Whether the input is judged healthy (its data would go to the switch).
    pub(crate) fn ready(&self) -> bool {
        lock(&self.shared.sup).verdict() == Verdict::Healthy
    }

    /// The main pipeline plays: hand the data on from now on.
    pub(crate) fn open(&self) {
        self.shared.open.store(true, Ordering::SeqCst);
    }

    /// Opens the first connection.
    pub(crate) fn start(&mut self) {
        let Some(now) = self.shared.now() else {
            return;
        };
        let acts = lock(&self.shared.sup).start(now);
        self.run(acts);
    }

    /// The periodic check (main context, every 100 ms): stalls, the watchdog,
    /// reconnections. Returns what happened since the last tick.
    pub(crate) fn tick(&mut self) -> Vec<InputEvent> {
        if let Some(now) = self.shared.now() {
            let acts = lock(&self.shared.sup).tick(now);
            self.run(acts);
        }
        std::mem::take(&mut *lock(&self.shared.events))
    }

    /// Closes the current connection; nothing reconnects afterwards.
    pub(crate) fn stop(&mut self) {
        self.tear_down();
    }

    /// An element on this input's way to the switch (in the main pipeline) failed:
    /// the switch is told, the input's appsrcs flushed (an error stops their
    /// streaming threads; a flush-stop starts them again) and the connection
    /// rebuilt.
    pub(crate) fn revive(&mut self, detail: String) {
        let g = lock(&self.shared.sup).generation();
        self.shared.fault(g, Fault::Error, detail);
        for m in Medium::BOTH {
            if let Some(src) = self.shared.sinks.get(m) {
                src.send_event(gst::event::FlushStart::new());
                src.send_event(gst::event::FlushStop::new(true));
            }
        }
        *lock(&self.shared.caps) = [None, None];
        self.run(Vec::new());
    }

    /// How far the current connection runs behind its live edge (s).
    pub(crate) fn lag_s(&self) -> f64 {
        self.shared.lag_ns.load(Ordering::Relaxed) as f64 / 1e9
    }

    fn run(&mut self, acts: Vec<Action>) {
        let connect = self.shared.execute(acts);
        let current = lock(&self.shared.sup).generation();
        if self.conn.as_ref().is_some_and(|c| c.generation != current) {
            self.tear_down();
        }
        for g in connect {
            self.tear_down();
            self.connect(g);
        }
    }

    fn tear_down(&mut self) {
        let Some(c) = self.conn.take() else {
            return;
        };
        if let Some(s) = &c.stopper {
            s.stop();
        }
        let _ = c.pipeline.set_state(gst::State::Null);
    }

    fn connect(&mut self, generation: u64) {
        let s = &self.shared;
        s.event(InputEventKind::Connecting {
            attempt: s.connections.fetch_add(1, Ordering::Relaxed) + 1,
        });
        *lock(&s.conn) = ConnState {
            generation,
            clock: ConnClock::new(s.settings.settle, s.settings.window),
            held: Vec::new(),
            started: [false; 2],
        };
        match self.build(generation) {
            Ok(c) => self.conn = Some(c),
            Err(e) => s.fault(generation, Fault::Error, e),
        }
    }

    fn build(&self, generation: u64) -> Result<Connection, String> {
        let desc = self.kind.pipeline_description(&self.media);
        let pipeline = gst::parse::launch(&desc)
            .map_err(|e| format!("cannot build the connection: {e}"))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "not a pipeline".to_string())?;
        for m in Medium::BOTH {
            let Some(sink) = self
                .shared
                .sinks
                .get(m)
                .and_then(|_| pipeline.by_name(m.sink_name()))
                .and_then(|e| e.downcast::<AppSink>().ok())
            else {
                continue;
            };
            let shared = self.shared.clone();
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                        shared.on_sample(generation, m, sample);
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
        }
        if let InputKind::Rtmp(_) = self.kind {
            super::rtmp::link_demuxer(&pipeline)?;
        }
        if let Some(bus) = pipeline.bus() {
            let shared = self.shared.clone();
            bus.set_sync_handler(move |_, msg| {
                match msg.view() {
                    gst::MessageView::Error(e) => {
                        let detail = format!("{} ({})", e.error(), e.debug().unwrap_or_default());
                        shared.fault(generation, Fault::Error, detail);
                    }
                    gst::MessageView::Eos(_) => {
                        shared.fault(generation, Fault::Eos, "end of stream".into())
                    }
                    gst::MessageView::Warning(w) => {
                        shared.event(InputEventKind::Warning(w.error().to_string()))
                    }
                    _ => {}
                }
                gst::BusSyncReply::Drop
            });
        }
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("cannot start the connection: {e}"))?;
        let stopper = match &self.kind {
            InputKind::Http(url) => Some(self.spawn_reader(&pipeline, url.clone(), generation)?),
            InputKind::Rtmp(_) => None,
            #[cfg(test)]
            InputKind::Launch(_) => None,
        };
        Ok(Connection {
            generation,
            pipeline,
            stopper,
        })
    }

    /// The HTTP reader thread of connection `generation`: bytes into the appsrc
    /// `src`, its end told to the supervisor.
    fn spawn_reader(
        &self,
        pipeline: &gst::Pipeline,
        url: crate::url::Url,
        generation: u64,
    ) -> Result<http::Stopper, String> {
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<AppSrc>().ok())
            .ok_or("the connection has no appsrc")?;
        let stopper = http::Stopper::default();
        let st = stopper.clone();
        let shared = self.shared.clone();
        let wait = Duration::from_nanos(self.shared.settings.policy.watchdog);
        std::thread::Builder::new()
            .name(format!("relay-{}-http", self.shared.name))
            .spawn(move || {
                let end = http::read(&url, wait, &st, |bytes| {
                    src.push_buffer(gst::Buffer::from_mut_slice(bytes.to_vec()))
                        .is_ok()
                });
                match end {
                    Some(http::End::Eos) => shared.fault(
                        generation,
                        Fault::Eos,
                        "the server closed the stream".into(),
                    ),
                    Some(http::End::Error(e)) => shared.fault(generation, Fault::Error, e),
                    None => {}
                }
            })
            .map_err(|e| format!("cannot start the reader: {e}"))?;
        Ok(stopper)
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        self.tear_down();
    }
}

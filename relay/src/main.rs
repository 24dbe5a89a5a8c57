// SPDX-License-Identifier: MPL-2.0
//! `gst-failover-relay`: relays a live AAC stream from a primary and a secondary Icecast
//! mount to an output mount through `failoverswitch`. Run with `--help`.
//!
//! ```text
//! cargo run --release -p gst-failover-relay -- \
//!     --primary http://127.0.0.1:8000/station.aac \
//!     --secondary http://127.0.0.1:8000/station_fallback.aac \
//!     --output icecast://source:hackme@127.0.0.1:8000/relay.aac --setup decode
//! ```

use gst::glib;
use gst::prelude::*;
use gst_failover_relay::args::{self, Args, Setup};
use gst_failover_relay::output::{Output, Target};
use gst_failover_relay::pipeline::{INPUTS, Relay};
use gst_failover_relay::status::{RelayState, SwitchRecord};
use gst_failover_relay::{keepalive, output, pipeline, signals, status};
use std::cell::RefCell;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Append-only log files, shared by the bus handler and the timers.
struct Logs {
    events: Option<File>,
    timeline: Option<File>,
}

impl Logs {
    fn event(&mut self, kind: &str, fields: &[(&str, String)]) {
        if let Some(f) = self.events.as_mut() {
            let _ = writeln!(f, "{}", status::event_line(epoch(), kind, fields));
            let _ = f.flush();
        }
    }
}

fn open(path: &Option<String>) -> Result<Option<File>, String> {
    path.as_ref()
        .map(|p| File::create(p).map_err(|e| format!("{p}: {e}")))
        .transpose()
}

fn main() {
    match run() {
        Ok(()) => {}
        Err(e) => {
            eprintln!("failover-relay: {e}");
            std::process::exit(1);
        }
    }
}

fn run() -> Result<(), String> {
    let args = match Args::parse(std::env::args().skip(1))? {
        Some(a) => a,
        None => {
            print!("{}", args::USAGE);
            return Ok(());
        }
    };
    gst::init().map_err(|e| e.to_string())?;
    gstfailover::plugin_register_static().map_err(|e| e.to_string())?;

    let target = Target::parse(&args.output, "audio/aac")?;
    let relay = Relay::build(&args)?;
    if std::env::var_os("RELAY_PRINT_PIPELINE").is_some() {
        eprintln!("{}", relay.description);
    }
    if !relay.measuring {
        eprintln!("failover-relay: loudness is not measured (loudnessmatch unavailable)");
    }
    let mut logs = Logs {
        events: open(&args.events)?,
        timeline: open(&args.timeline)?,
    };
    if let Some(f) = logs.timeline.as_mut() {
        let _ = writeln!(f, "{}", status::TIMELINE_HEADER);
    }
    eprintln!(
        "failover-relay: {} setup, timeout {:?}, restore-delay {:?}, mode {}",
        if args.setup == Setup::Decode {
            "decode"
        } else {
            "passthrough"
        },
        args.timeout,
        args.restore_delay,
        args.mode
    );
    logs.event(
        "start",
        &[
            ("setup", format!("{:?}", args.setup).to_lowercase()),
            ("pid", std::process::id().to_string()),
        ],
    );

    // Output: appsink -> bounded channel -> writer thread (HTTP PUT).
    let out = Output::start(target, 2000);
    let out_handle = out.handle();
    relay.appsink.connect("new-sample", false, move |vals| {
        let sink = vals.first()?.get::<gst::Element>().ok()?;
        if let Some(sample) = sink.emit_by_name::<Option<gst::Sample>>("pull-sample", &[]) {
            if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
                out_handle.push(map.to_vec());
            }
        }
        Some(gst::FlowReturn::Ok.to_value())
    });

    let keepalive_frames = Arc::new(AtomicU64::new(0));
    if args.setup == Setup::Passthrough {
        install_keepalive(&relay.appsink, out.handle(), keepalive_frames.clone());
    }

    let main_loop = glib::MainLoop::new(None, false);
    let state = Rc::new(RefCell::new(RelayState::default()));
    let logs = Rc::new(RefCell::new(logs));
    let exit_error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));

    // Restart requests come from streaming threads: hop to the main context.
    let ctx = glib::MainContext::default();
    {
        let branches = relay.branches.clone();
        let delay = args.reconnect_delay;
        let ctx2 = ctx.clone();
        let branches2 = relay.branches.clone();
        pipeline::install_probes(
            &relay.pipeline,
            &relay.branches,
            move |idx| {
                let b = branches[idx].clone();
                ctx.invoke(move || {
                    pipeline::restart_branch(&b, delay);
                });
            },
            move |idx| {
                let b = branches2[idx].clone();
                ctx2.invoke(move || {
                    eprintln!(
                        "\nrelay: input {} is delivering data again (restart #{})",
                        b.name,
                        b.restarts.load(Ordering::Relaxed)
                    );
                });
            },
        );
    }

    // Bus.
    let bus = relay.pipeline.bus().ok_or("no bus")?;
    let _watch = {
        let state = state.clone();
        let logs = logs.clone();
        let ml = main_loop.clone();
        let exit_error = exit_error.clone();
        let branches = relay.branches.clone();
        let delay = args.reconnect_delay;
        let relay_ref = RelayRef {
            branches: relay.branches.clone(),
        };
        bus.add_watch_local(move |_, msg| {
            handle_message(
                msg,
                &state,
                &logs,
                &relay_ref,
                &branches,
                delay,
                &ml,
                &exit_error,
            );
            glib::ControlFlow::Continue
        })
        .map_err(|e| e.to_string())?
    };

    // Live status line and timeline.
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal() && !args.quiet;
    {
        let state = state.clone();
        let logs = logs.clone();
        let stats = out.stats.clone();
        let quiet = args.quiet;
        let verbose = std::env::var_os("RELAY_VERBOSE").is_some();
        let branches = relay.branches.clone();
        let mut ticks = 0u64;
        glib::timeout_add_local(Duration::from_millis(250), move || {
            ticks += 1;
            let st = state.borrow();
            let kib = stats.bytes_sent.load(Ordering::Relaxed) / 1024;
            let mut line = st.line(epoch(), started.elapsed().as_secs_f64(), kib);
            if verbose {
                line.push_str(&format!(
                    " | lead p {:.2}s s {:.2}s",
                    branches[0].lead_ns.load(Ordering::Relaxed) as f64 / 1e9,
                    branches[1].lead_ns.load(Ordering::Relaxed) as f64 / 1e9
                ));
            }
            if tty {
                eprint!("\r{line}\x1b[K");
            } else if (!quiet && ticks % 20 == 0) || (verbose && ticks % 4 == 0) {
                eprintln!("{line}");
            }
            if ticks % 2 == 0 {
                if let Some(f) = logs.borrow_mut().timeline.as_mut() {
                    let _ = writeln!(f, "{}", st.timeline_row(epoch()));
                    let _ = f.flush();
                }
            }
            glib::ControlFlow::Continue
        });
    }

    for sig in [signals::SIGINT, signals::SIGTERM] {
        let ml = main_loop.clone();
        signals::add_local(sig, move || {
            eprintln!("\nrelay: signal {sig}, stopping");
            ml.quit();
            glib::ControlFlow::Continue
        });
    }

    relay
        .pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start the pipeline: {e}"))?;
    main_loop.run();

    if relay.switch.find_property("stats").is_some() {
        if let Ok(s) = relay.switch.property_value("stats").get::<gst::Structure>() {
            eprintln!("\nrelay: failoverswitch stats: {s}");
            logs.borrow_mut()
                .event("stats", &[("stats", s.to_string())]);
        }
    }
    let _ = relay.pipeline.set_state(gst::State::Null);
    let silent = keepalive_frames.load(Ordering::Relaxed);
    if silent > 0 {
        eprintln!("relay: {silent} silent AAC frames sent while no input was healthy");
    }
    let sent = out.stats.bytes_sent.load(Ordering::Relaxed);
    let dropped = out.stats.dropped_buffers.load(Ordering::Relaxed);
    let connects = out.stats.connects.load(Ordering::Relaxed);
    out.finish();
    let st = state.borrow();
    eprintln!(
        "\nrelay: stopped after {:.1} s: {} switches, {} bytes out ({} output connection(s), {} buffers dropped)",
        started.elapsed().as_secs_f64(),
        st.switches.len(),
        sent,
        connects,
        dropped
    );
    for s in &st.switches {
        eprintln!(
            "  switch #{}: {} -> {} ({})",
            s.count, s.from, s.to, s.reason
        );
    }
    logs.borrow_mut().event(
        "stop",
        &[
            ("switches", st.switches.len().to_string()),
            ("bytes_out", sent.to_string()),
            ("output_connects", connects.to_string()),
            ("dropped", dropped.to_string()),
        ],
    );
    match exit_error.borrow_mut().take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Passthrough: answers the switch's GAP events (no input healthy) with silent AAC
/// frames of the output's format, so the output connection never goes quiet.
fn install_keepalive(appsink: &gst::Element, out: output::OutputHandle, count: Arc<AtomicU64>) {
    let Some(pad) = appsink.static_pad("sink") else {
        return;
    };
    let silent: Mutex<Option<(Vec<u8>, keepalive::FrameClock)>> = Mutex::new(None);
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        let Some(ev) = info.event() else {
            return gst::PadProbeReturn::Ok;
        };
        match ev.view() {
            gst::EventView::Caps(c) => {
                let s = c.caps().structure(0);
                let rate = s.and_then(|s| s.get::<i32>("rate").ok()).unwrap_or(0);
                let channels = s.and_then(|s| s.get::<i32>("channels").ok()).unwrap_or(0);
                if rate > 0 && channels > 0 {
                    match keepalive::silent_adts_frame(rate as u32, channels as u32) {
                        Ok(f) => {
                            if let Ok(mut g) = silent.lock() {
                                *g = Some((f, keepalive::FrameClock::new(rate as u32)));
                            }
                        }
                        Err(e) => eprintln!("\nrelay: no silent keep-alive frames: {e}"),
                    }
                }
            }
            gst::EventView::Gap(g) => {
                let (_, dur) = g.get();
                if let (Some(d), Ok(mut guard)) = (dur, silent.lock()) {
                    if let Some((frame, clock)) = guard.as_mut() {
                        let n = clock.frames_for(d.nseconds());
                        if n > 0 {
                            out.push(frame.repeat(n as usize));
                            count.fetch_add(n, Ordering::Relaxed);
                        }
                    }
                }
            }
            _ => {}
        }
        gst::PadProbeReturn::Ok
    });
}

/// What the bus handler needs to map a message's source to an input branch.
struct RelayRef {
    branches: [Arc<pipeline::Branch>; 2],
}

impl RelayRef {
    fn branch_of(&self, obj: &gst::Object) -> Option<usize> {
        let mut cur = Some(obj.clone());
        while let Some(o) = cur {
            let n = o.name();
            for (i, b) in self.branches.iter().enumerate() {
                if n.starts_with(b.name) && n.as_str().as_bytes().get(b.name.len()) == Some(&b'_') {
                    return Some(i);
                }
            }
            cur = o.parent();
        }
        None
    }
}

fn src_name(msg: &gst::MessageRef) -> String {
    msg.src().map(|s| s.name().to_string()).unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
fn handle_message(
    msg: &gst::MessageRef,
    state: &Rc<RefCell<RelayState>>,
    logs: &Rc<RefCell<Logs>>,
    relay: &RelayRef,
    branches: &[Arc<pipeline::Branch>; 2],
    delay: Duration,
    ml: &glib::MainLoop,
    exit_error: &Rc<RefCell<Option<String>>>,
) {
    use gst::MessageView;
    match msg.view() {
        MessageView::Element(e) => {
            let Some(s) = e.structure() else { return };
            let src = src_name(msg);
            match s.name().as_str() {
                "failover-switched" => {
                    let get = |f: &str| s.get::<String>(f).unwrap_or_default();
                    let rec = SwitchRecord {
                        at: epoch(),
                        from: get("from"),
                        to: get("to"),
                        reason: get("reason"),
                        running_time_ns: s.get::<u64>("running-time").unwrap_or(0),
                        count: s.get::<u64>("switch-count").unwrap_or(0),
                    };
                    eprintln!(
                        "\nrelay: SWITCH {} -> {} (reason {}, running time {:.3} s, switch #{})",
                        rec.from,
                        rec.to,
                        rec.reason,
                        rec.running_time_ns as f64 / 1e9,
                        rec.count
                    );
                    logs.borrow_mut().event(
                        "switch",
                        &[
                            ("from", rec.from.clone()),
                            ("to", rec.to.clone()),
                            ("reason", rec.reason.clone()),
                            ("running_time", rec.running_time_ns.to_string()),
                            ("count", rec.count.to_string()),
                        ],
                    );
                    let mut st = state.borrow_mut();
                    st.active = rec.to.clone();
                    st.switches.push(rec);
                }
                "failover-input-health" => {
                    let pad = s.get::<String>("pad").unwrap_or_default();
                    let healthy = s.get::<bool>("healthy").unwrap_or(false);
                    let reason = s.get::<String>("reason").unwrap_or_default();
                    logs.borrow_mut().event(
                        "health",
                        &[
                            ("input", pad.clone()),
                            ("healthy", healthy.to_string()),
                            ("reason", reason.clone()),
                            ("from", "failoverswitch".into()),
                        ],
                    );
                    let mut st = state.borrow_mut();
                    if let Some(i) = st.input_mut(&pad) {
                        i.healthy = Some(healthy);
                        i.reason = reason;
                    }
                }
                "health" => {
                    // healthprobe: periodic and on change; log only changes.
                    let Some(idx) = msg.src().and_then(|o| relay.branch_of(o)) else {
                        return;
                    };
                    let healthy = s.get::<bool>("healthy").unwrap_or(true);
                    let reason = s.get::<String>("reason").unwrap_or_default();
                    let mut st = state.borrow_mut();
                    if let Some(i) = st.input_mut(INPUTS[idx]) {
                        if i.probe_healthy != Some(healthy) {
                            logs.borrow_mut().event(
                                "health",
                                &[
                                    ("input", INPUTS[idx].into()),
                                    ("healthy", healthy.to_string()),
                                    ("reason", reason.clone()),
                                    ("from", src.clone()),
                                ],
                            );
                        }
                        i.probe_healthy = Some(healthy);
                        i.probe_reason = reason;
                    }
                }
                "loudness" => {
                    let st_l = s.get::<f64>("short-term").ok();
                    let gain = s.get::<f64>("gain").ok();
                    let mut st = state.borrow_mut();
                    if src == "output_lm" {
                        st.output_short_term = st_l;
                        st.output_loudness_at = Some(epoch());
                    } else if let Some(idx) = msg.src().and_then(|o| relay.branch_of(o)) {
                        if let Some(i) = st.input_mut(INPUTS[idx]) {
                            i.short_term = st_l;
                            i.gain = gain;
                            i.loudness_at = Some(epoch());
                        }
                    }
                }
                _ => {}
            }
        }
        MessageView::Warning(w) => {
            let text = format!("{} ({})", w.error(), w.debug().unwrap_or_default());
            eprintln!("\nrelay: WARNING from {}: {}", src_name(msg), text);
            state.borrow_mut().warnings += 1;
            logs.borrow_mut().event(
                "warning",
                &[("src", src_name(msg)), ("msg", w.error().to_string())],
            );
        }
        MessageView::Error(err) => {
            let src = src_name(msg);
            if let Some(idx) = msg.src().and_then(|o| relay.branch_of(o)) {
                let b = &branches[idx];
                let first =
                    !b.down.load(Ordering::SeqCst) || b.restarts.load(Ordering::Relaxed) == 0;
                if pipeline::restart_branch(b, delay) {
                    if first {
                        eprintln!(
                            "\nrelay: input {} failed ({}): reconnecting every {:?}",
                            b.name,
                            err.error(),
                            delay
                        );
                    }
                    logs.borrow_mut().event(
                        "reconnect",
                        &[("input", b.name.into()), ("error", err.error().to_string())],
                    );
                    if let Some(i) = state.borrow_mut().input_mut(b.name) {
                        i.reconnects += 1;
                    }
                }
            } else {
                let text = format!(
                    "error from {src}: {} ({})",
                    err.error(),
                    err.debug().unwrap_or_default()
                );
                logs.borrow_mut()
                    .event("error", &[("src", src), ("msg", text.clone())]);
                *exit_error.borrow_mut() = Some(text);
                ml.quit();
            }
        }
        MessageView::Eos(_) => {
            *exit_error.borrow_mut() = Some("the pipeline ended (EOS)".into());
            ml.quit();
        }
        _ => {}
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Builds the relay pipeline for both setups and restarts an input branch whose HTTP
//! connection dropped, while `failoverswitch` keeps the output going.
//!
//! Passthrough (AAC frames switched as they are, no re-encode):
//! ```text
//! souphttpsrc ! typefind ! aacparse ! tee ! queue ! failoverswitch.primary
//!                                      tee ! queue ! avdec_aac ! audioconvert ! loudnessmatch mode=measure ! fakesink
//! (same for secondary)      failoverswitch ! tee ! queue ! appsink -> HTTP PUT
//!                                            tee ! queue ! avdec_aac ! ... ! loudnessmatch (output) ! fakesink
//! ```
//! Decode (decode both, probe, match loudness, crossfade, encode once):
//! ```text
//! souphttpsrc ! typefind ! aacparse ! avdec_aac ! audioconvert ! F32LE ! healthprobe
//!     ! loudnessmatch (primary: measure; secondary: match reference=primary_lm) ! queue ! failoverswitch
//! failoverswitch ! loudnessmatch name=output_lm mode=measure ! audioconvert ! avenc_aac ! aacparse ! appsink
//! ```
//! The measuring `loudnessmatch` parts are left out when that element is not usable.

use super::args::{Args, Setup};
use super::live_edge::{LiveEdge, Verdict};
use super::url::Url;
use gst::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const INPUTS: [&str; 2] = ["primary", "secondary"];

/// True when `factory` exists and is implemented (has pad templates).
pub fn element_usable(factory: &str) -> bool {
    gst::ElementFactory::find(factory).is_some_and(|f| f.num_pad_templates() > 0)
}

/// True when an element of `factory` has property `prop`.
pub fn has_property(factory: &str, prop: &str) -> bool {
    gst::ElementFactory::make(factory)
        .build()
        .is_ok_and(|e| e.find_property(prop).is_some())
}

/// Control block of one input branch, shared with its pad probes.
pub struct Branch {
    pub name: &'static str,
    /// The elements restarted on reconnection (source, typefind, parser, decoder),
    /// upstream first. The queue and everything after it keep running: a queue
    /// blocked by the switch's standby wait must never be taken down from the main
    /// thread, and the measurement state of `loudnessmatch` is kept.
    pub elements: Vec<gst::Element>,
    /// The pad linked to the switch (the queue's source pad).
    pub out_pad: gst::Pad,
    /// The queue's sink pad (flushes after a restart enter here).
    pub queue_sink: gst::Pad,
    /// The parser's source pad: arrival probe and pad offset.
    pub edge_pad: gst::Pad,
    pub edge: Mutex<LiveEdge>,
    /// An EOS of this branch reached the switch (it must be flushed away).
    pub eos_passed: AtomicBool,
    /// The branch ended (EOS/error) and has not delivered data since.
    pub down: AtomicBool,
    /// A restart is scheduled or running.
    pub restarting: AtomicBool,
    pub restarts: AtomicU64,
    pub buffers: AtomicU64,
    /// Running time of the last buffer handed to the switch minus the clock's
    /// running time at that moment (ns): how far ahead of "now" this input runs.
    pub lead_ns: AtomicI64,
}

pub struct Relay {
    pub pipeline: gst::Pipeline,
    pub switch: gst::Element,
    pub appsink: gst::Element,
    pub branches: [Arc<Branch>; 2],
    /// Pipeline text (what gst-launch-1.0 would run, minus the appsink side).
    pub description: String,
    pub measuring: bool,
}

fn source(name: &str, url: &str) -> String {
    format!(
        "souphttpsrc name={name}_src location=\"{url}\" is-live=true iradio-mode=false \
         retries=0 timeout=5 user-agent=failover-relay ! typefind name={name}_typefind \
         ! aacparse name={name}_parse"
    )
}

const BIG_QUEUE: &str = "max-size-time=3000000000 max-size-bytes=0 max-size-buffers=0";
const MEASURE_QUEUE: &str =
    "leaky=downstream max-size-time=1000000000 max-size-bytes=0 max-size-buffers=0";

/// Builds the pipeline description. Element names are `<input>_<role>`, so every
/// element of an input branch starts with `primary_` or `secondary_`.
pub fn describe(
    a: &Args,
    switch_factory: &str,
    measure: bool,
    probe: bool,
) -> Result<String, String> {
    let inputs = [&a.primary, &a.secondary];
    let mut d = String::new();
    let ns = |t: Duration| t.as_nanos().to_string();
    let (pad_p, pad_s) = if switch_factory == "failoverswitch" {
        ("sw.primary", "sw.secondary")
    } else {
        ("sw.sink_0", "sw.sink_1")
    };
    let switch_props = if switch_factory == "failoverswitch" {
        let mut p = format!(
            " timeout={} restore-delay={} mode={}",
            ns(a.timeout),
            ns(a.restore_delay),
            a.mode
        );
        if a.setup == Setup::Decode {
            p.push_str(&format!(" crossfade={}", ns(a.crossfade)));
        }
        p
    } else {
        String::new()
    };
    for (i, name) in INPUTS.iter().enumerate() {
        let url = Url::parse(inputs[i])?.http_without_credentials();
        let pad = if i == 0 { pad_p } else { pad_s };
        d.push_str(&source(name, &url));
        match a.setup {
            Setup::Passthrough => {
                if measure {
                    d.push_str(&format!(
                        " ! tee name={name}_tee ! queue name={name}_queue {BIG_QUEUE} ! {pad} \
                         {name}_tee. ! queue name={name}_mqueue {MEASURE_QUEUE} ! avdec_aac name={name}_mdec \
                         ! audioconvert name={name}_mconv ! loudnessmatch name={name}_lm mode=measure \
                         ! fakesink name={name}_msink sync=false async=false\n"
                    ));
                } else {
                    d.push_str(&format!(" ! queue name={name}_queue {BIG_QUEUE} ! {pad}\n"));
                }
            }
            Setup::Decode => {
                d.push_str(&format!(
                    " ! avdec_aac name={name}_dec ! audioconvert name={name}_conv \
                     ! capsfilter name={name}_caps caps=audio/x-raw,format=F32LE,layout=interleaved"
                ));
                if probe {
                    d.push_str(&format!(" ! healthprobe name={name}_probe"));
                }
                if measure {
                    if i == 0 {
                        d.push_str(&format!(" ! loudnessmatch name={name}_lm mode=measure"));
                    } else {
                        d.push_str(&format!(
                            " ! loudnessmatch name={name}_lm mode=match reference=primary_lm"
                        ));
                    }
                }
                d.push_str(&format!(" ! queue name={name}_queue {BIG_QUEUE} ! {pad}\n"));
            }
        }
    }
    d.push_str(&format!("{switch_factory} name=sw{switch_props}"));
    match a.setup {
        Setup::Passthrough => {
            if measure {
                d.push_str(&format!(
                    " ! tee name=out_tee ! queue name=out_queue ! appsink name=out_sink \
                     sync=false emit-signals=true max-buffers=200 drop=false \
                     out_tee. ! queue name=out_mqueue {MEASURE_QUEUE} ! avdec_aac name=out_mdec \
                     ! audioconvert name=out_mconv ! loudnessmatch name=output_lm mode=measure \
                     ! fakesink name=out_msink sync=false async=false"
                ));
            } else {
                d.push_str(" ! appsink name=out_sink sync=false emit-signals=true");
            }
        }
        Setup::Decode => {
            if measure {
                d.push_str(" ! loudnessmatch name=output_lm mode=measure");
            }
            let enc = if a.encoder == "voaacenc" {
                format!("voaacenc bitrate={}", a.bitrate)
            } else {
                format!("avenc_aac bitrate={}", a.bitrate)
            };
            d.push_str(&format!(
                " ! audioconvert name=out_conv ! {enc} name=out_enc ! aacparse name=out_parse \
                 ! audio/mpeg,mpegversion=4,stream-format=adts \
                 ! appsink name=out_sink sync=false emit-signals=true"
            ));
        }
    }
    Ok(d)
}

impl Relay {
    pub fn build(a: &Args) -> Result<Relay, String> {
        let switch_factory = if element_usable("failoverswitch") {
            "failoverswitch"
        } else if std::env::var_os("RELAY_DEV_INPUT_SELECTOR").is_some() {
            eprintln!(
                "relay: failoverswitch is not usable; using input-selector (development only)"
            );
            "input-selector"
        } else {
            return Err("the failoverswitch element is not usable (plugin not built?)".into());
        };
        let measure = element_usable("loudnessmatch") && has_property("loudnessmatch", "mode");
        if !measure {
            eprintln!("relay: loudnessmatch is not usable: no loudness matching or measurement");
        }
        let probe = element_usable("healthprobe");
        if !probe && a.setup == Setup::Decode {
            eprintln!("relay: healthprobe is not usable: decode setup runs without it");
        }
        if a.setup == Setup::Decode && !element_usable(&a.encoder) {
            return Err(format!("encoder '{}' is not available", a.encoder));
        }
        let description = describe(a, switch_factory, measure, probe)?;
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| format!("cannot build the pipeline: {e}\n{description}"))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "not a pipeline".to_string())?;
        let by_name = |n: &str| {
            pipeline
                .by_name(n)
                .ok_or_else(|| format!("element {n} missing"))
        };
        let switch = by_name("sw")?;
        let appsink = by_name("out_sink")?;
        let mut branches = Vec::new();
        for name in INPUTS {
            let elements: Vec<gst::Element> = ["src", "typefind", "parse", "dec"]
                .iter()
                .filter_map(|role| pipeline.by_name(&format!("{name}_{role}")))
                .collect();
            // The measuring side branch must not end with the input: drop its EOS.
            if let Some(pad) = pipeline
                .by_name(&format!("{name}_mqueue"))
                .and_then(|q| q.static_pad("sink"))
            {
                pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_, info| {
                    match info.event() {
                        Some(ev) if ev.type_() == gst::EventType::Eos => gst::PadProbeReturn::Drop,
                        _ => gst::PadProbeReturn::Ok,
                    }
                });
            }
            let queue = by_name(&format!("{name}_queue"))?;
            let out_pad = queue
                .static_pad("src")
                .ok_or_else(|| "queue without src pad".to_string())?;
            let queue_sink = queue
                .static_pad("sink")
                .ok_or_else(|| "queue without sink pad".to_string())?;
            let edge_pad = by_name(&format!("{name}_parse"))?
                .static_pad("src")
                .ok_or_else(|| "aacparse without src pad".to_string())?;
            branches.push(Arc::new(Branch {
                name,
                elements,
                out_pad,
                queue_sink,
                edge_pad,
                edge: Mutex::new(LiveEdge::new(
                    settle_time(a.timeout).as_nanos() as u64,
                    a.latency.as_nanos() as u64,
                )),
                eos_passed: AtomicBool::new(false),
                down: AtomicBool::new(false),
                restarting: AtomicBool::new(false),
                restarts: AtomicU64::new(0),
                buffers: AtomicU64::new(0),
                lead_ns: AtomicI64::new(0),
            }));
        }
        let [p, s]: [Arc<Branch>; 2] = branches
            .try_into()
            .map_err(|_| "two branches expected".to_string())?;
        Ok(Relay {
            pipeline,
            switch,
            appsink,
            branches: [p, s],
            description,
            measuring: measure,
        })
    }
}

/// How long a (re)connected input's data is dropped while its live edge is learnt
/// (at most half the switch's timeout, so start-up does not look like an outage).
pub fn settle_time(timeout: Duration) -> Duration {
    Duration::from_millis(500).min(timeout / 2)
}

/// Installs the probes of one branch:
/// - parser source pad, every buffer: find the live edge after each (re)connection
///   (see `live_edge`) and offset the branch so it continues "now";
/// - queue source pad, every buffer: count it, report the first one after a restart;
/// - queue source pad, EOS: schedule a restart; let the EOS through so the switch
///   fails over at once, unless the other input is down too (the switch would end
///   the output).
pub fn install_probes(
    pipeline: &gst::Pipeline,
    branches: &[Arc<Branch>; 2],
    on_restart_needed: impl Fn(usize) + Send + Sync + 'static,
    on_back: impl Fn(usize) + Send + Sync + 'static,
) {
    let on_restart_needed = Arc::new(on_restart_needed);
    let on_back = Arc::new(on_back);
    // RELAY_DEBUG_EDGE=1: print arrival, running time and offset of input buffers.
    let debug_edge = std::env::var_os("RELAY_DEBUG_EDGE").is_some();
    for idx in 0..2 {
        let me = branches[idx].clone();
        let weak_pipe = pipeline.downgrade();
        me.edge_pad
            .clone()
            .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                let (Some(pipe), Some(buf)) = (weak_pipe.upgrade(), info.buffer()) else {
                    return gst::PadProbeReturn::Ok;
                };
                let Some((now, rt)) = arrival(&pipe, pad, buf) else {
                    return gst::PadProbeReturn::Ok;
                };
                let verdict = match me.edge.lock() {
                    Ok(mut e) => e.on_buffer(now, rt),
                    Err(_) => Verdict::Pass,
                };
                if debug_edge
                    && (me.buffers.load(Ordering::Relaxed) % 25 == 0
                        || !matches!(verdict, Verdict::Pass))
                {
                    eprintln!(
                        "edge {} now {:.3} rt {:.3} off {:.3} {:?} flags {:?}",
                        me.name,
                        now as f64 / 1e9,
                        rt as f64 / 1e9,
                        pad.offset() as f64 / 1e9,
                        verdict,
                        buf.flags()
                    );
                }
                match verdict {
                    Verdict::Drop => gst::PadProbeReturn::Drop,
                    Verdict::Align(off) => {
                        pad.set_offset(off);
                        gst::PadProbeReturn::Ok
                    }
                    Verdict::Pass => gst::PadProbeReturn::Ok,
                }
            });

        let me = branches[idx].clone();
        let back = on_back.clone();
        let weak_pipe = pipeline.downgrade();
        me.out_pad
            .clone()
            .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                me.buffers.fetch_add(1, Ordering::Relaxed);
                if let (Some(pipe), Some(buf)) = (weak_pipe.upgrade(), info.buffer()) {
                    if let Some((now, rt)) = arrival(&pipe, pad, buf) {
                        let lead = rt as i64 + pad.offset() - now as i64;
                        me.lead_ns.store(lead, Ordering::Relaxed);
                    }
                }
                if me.down.swap(false, Ordering::SeqCst) {
                    back(idx);
                }
                gst::PadProbeReturn::Ok
            });

        let me = branches[idx].clone();
        let other = branches[1 - idx].clone();
        let restart = on_restart_needed.clone();
        me.out_pad
            .clone()
            .add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_pad, info| {
                let Some(ev) = info.event() else {
                    return gst::PadProbeReturn::Ok;
                };
                if ev.type_() != gst::EventType::Eos {
                    return gst::PadProbeReturn::Ok;
                }
                me.down.store(true, Ordering::SeqCst);
                restart(idx);
                if other.down.load(Ordering::SeqCst) {
                    // Both inputs gone: keep the switch (and the output) alive; it
                    // notices the silence by its timeout.
                    gst::PadProbeReturn::Drop
                } else {
                    me.eos_passed.store(true, Ordering::SeqCst);
                    gst::PadProbeReturn::Ok
                }
            });
    }
}

/// (clock running time now, buffer running time before any pad offset).
fn arrival(pipe: &gst::Pipeline, pad: &gst::Pad, buf: &gst::BufferRef) -> Option<(u64, u64)> {
    let now = pipe.current_running_time()?;
    let seg_ev = pad.sticky_event::<gst::event::Segment>(0)?;
    let seg = seg_ev.segment().downcast_ref::<gst::ClockTime>()?.clone();
    let pts = buf.pts().or(buf.dts())?;
    let rt = seg.to_running_time(pts)?;
    Some((now.nseconds(), rt.nseconds()))
}

/// Restarts a branch: its source, typefind, parser (and decoder) to NULL now, and
/// back to the pipeline's state after `delay`. If the branch's EOS reached the switch,
/// a flush through the branch's queue clears it there (on the standby input a flush
/// does not disturb the output). Runs on the main context. Returns false if a
/// restart was already under way.
pub fn restart_branch(b: &Arc<Branch>, delay: Duration) -> bool {
    if b.restarting.swap(true, Ordering::SeqCst) {
        return false;
    }
    b.down.store(true, Ordering::SeqCst);
    for e in &b.elements {
        let _ = e.set_state(gst::State::Null);
    }
    let b = b.clone();
    gst::glib::timeout_add_once(delay, move || {
        b.restarts.fetch_add(1, Ordering::Relaxed);
        if b.eos_passed.swap(false, Ordering::SeqCst) {
            b.queue_sink.send_event(gst::event::FlushStart::new());
            b.queue_sink.send_event(gst::event::FlushStop::new(false));
        }
        b.edge_pad.set_offset(0);
        if let Ok(mut e) = b.edge.lock() {
            e.reset();
        }
        for e in b.elements.iter().rev() {
            let _ = e.sync_state_with_parent();
        }
        b.restarting.store(false, Ordering::SeqCst);
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(setup: Setup) -> Args {
        let mut a = Args::parse(
            [
                "--primary",
                "http://127.0.0.1:1/a.aac",
                "--secondary",
                "http://127.0.0.1:1/b.aac",
                "--output",
                "-",
            ]
            .iter()
            .map(|s| s.to_string()),
        )
        .unwrap()
        .unwrap();
        a.setup = setup;
        a
    }

    #[test]
    fn decode_setup_matches_secondary_to_primary() {
        let d = describe(&args(Setup::Decode), "failoverswitch", true, true).unwrap();
        assert!(
            d.contains("loudnessmatch name=primary_lm mode=measure"),
            "{d}"
        );
        assert!(
            d.contains("loudnessmatch name=secondary_lm mode=match reference=primary_lm"),
            "{d}"
        );
        assert!(d.contains("healthprobe name=secondary_probe"), "{d}");
        assert!(d.contains("crossfade=20000000"), "{d}");
        assert!(d.contains("voaacenc bitrate=128000"), "{d}");
    }

    #[test]
    fn passthrough_setup_does_not_decode_the_switched_path() {
        let d = describe(&args(Setup::Passthrough), "failoverswitch", false, false).unwrap();
        assert!(!d.contains("avdec_aac"), "{d}");
        assert!(!d.contains("crossfade"), "{d}");
        assert!(
            d.contains("sw.primary") && d.contains("sw.secondary"),
            "{d}"
        );
        assert!(
            d.contains("timeout=1000000000 restore-delay=5000000000 mode=primary-preferred"),
            "{d}"
        );
    }
}

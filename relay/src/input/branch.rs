// SPDX-License-Identifier: MPL-2.0
//! One input branch while it runs: its control block (shared with its pad probes),
//! the probes that align it on the live edge and watch for its end, and its restart
//! (reconnection) while `failoverswitch` keeps the output going from the other input.

use super::live_edge::{LiveEdge, Verdict};
use gst::glib;
use gst::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Control block of one input branch, shared with its pad probes.
pub(crate) struct Branch {
    pub(crate) name: &'static str,
    /// The elements restarted on reconnection (source, typefind, parser, decoder),
    /// upstream first. The queue and everything after it keep running: a queue
    /// blocked by the switch's standby wait must never be taken down from the main
    /// thread, and the measurement state of `loudnessmatch` is kept.
    pub(crate) elements: Vec<gst::Element>,
    /// The pad linked to the switch (the queue's source pad).
    pub(crate) out_pad: gst::Pad,
    /// The queue's sink pad (flushes after a restart enter here).
    pub(crate) queue_sink: gst::Pad,
    /// The parser's source pad: arrival probe and pad offset.
    pub(crate) edge_pad: gst::Pad,
    pub(crate) edge: Mutex<LiveEdge>,
    /// An EOS of this branch reached the switch (it must be flushed away).
    pub(crate) eos_passed: AtomicBool,
    /// The branch ended (EOS/error) and has not delivered data since.
    pub(crate) down: AtomicBool,
    /// A restart is scheduled or running.
    pub(crate) restarting: AtomicBool,
    pub(crate) restarts: AtomicU64,
    pub(crate) buffers: AtomicU64,
    /// Running time of the last buffer handed to the switch minus the clock's
    /// running time at that moment (ns): how far ahead of "now" this input runs.
    pub(crate) lead_ns: AtomicI64,
}

impl Branch {
    /// The control block of input `name` of `pipeline`: the elements
    /// `<name>_<role>` for each of `restarted` that exist, the queue
    /// `<name>_queue` in front of the switch and the parser `<name>_parse`.
    pub(crate) fn new(
        pipeline: &gst::Pipeline,
        name: &'static str,
        restarted: &[&str],
        edge: LiveEdge,
    ) -> Result<Branch, String> {
        let by_name = |n: String| {
            pipeline
                .by_name(&n)
                .ok_or_else(|| format!("element {n} missing"))
        };
        let pad = |e: &gst::Element, p: &str| {
            e.static_pad(p)
                .ok_or_else(|| format!("{} has no {p} pad", e.name()))
        };
        let elements = restarted
            .iter()
            .filter_map(|role| pipeline.by_name(&format!("{name}_{role}")))
            .collect();
        let queue = by_name(format!("{name}_queue"))?;
        let parser = by_name(format!("{name}_parse"))?;
        Ok(Branch {
            name,
            elements,
            out_pad: pad(&queue, "src")?,
            queue_sink: pad(&queue, "sink")?,
            edge_pad: pad(&parser, "src")?,
            edge: Mutex::new(edge),
            eos_passed: AtomicBool::new(false),
            down: AtomicBool::new(false),
            restarting: AtomicBool::new(false),
            restarts: AtomicU64::new(0),
            buffers: AtomicU64::new(0),
            lead_ns: AtomicI64::new(0),
        })
    }
}

/// How long a (re)connected input's data is dropped while its live edge is learnt
/// (at most half the switch's timeout, so start-up does not look like an outage).
pub(crate) fn settle_time(timeout: Duration) -> Duration {
    Duration::from_millis(500).min(timeout / 2)
}

/// Installs the probes of both branches:
/// - parser source pad, every buffer: find the live edge after each (re)connection
///   (see `live_edge`) and offset the branch so it continues "now";
/// - queue source pad, every buffer: count it, report the first one after a restart;
/// - queue source pad, EOS: restart the branch after `reconnect_delay`; let the EOS
///   through so the switch fails over at once, unless the other input is down too
///   (the switch would end the output).
///
/// Restarts run on the default main context, queued there from the streaming
/// threads (never run in place: `MainContext::invoke` would run them on the
/// streaming thread itself whenever no main loop owns the context, e.g. while the
/// station stops, and a streaming thread must not change its branch's states).
pub(crate) fn install_probes(
    pipeline: &gst::Pipeline,
    branches: &[Arc<Branch>; 2],
    reconnect_delay: Duration,
) {
    // RELAY_DEBUG_EDGE=1: print arrival, running time and offset of input buffers.
    let debug_edge = std::env::var_os("RELAY_DEBUG_EDGE").is_some();
    for idx in 0..2 {
        edge_probe(pipeline, &branches[idx], debug_edge);
        data_probe(pipeline, &branches[idx]);
        eos_probe(&branches[idx], &branches[1 - idx], reconnect_delay);
    }
}

fn edge_probe(pipeline: &gst::Pipeline, branch: &Arc<Branch>, debug_edge: bool) {
    let me = branch.clone();
    let weak_pipe = pipeline.downgrade();
    branch
        .edge_pad
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
}

fn data_probe(pipeline: &gst::Pipeline, branch: &Arc<Branch>) {
    let me = branch.clone();
    let weak_pipe = pipeline.downgrade();
    branch
        .out_pad
        .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            me.buffers.fetch_add(1, Ordering::Relaxed);
            if let (Some(pipe), Some(buf)) = (weak_pipe.upgrade(), info.buffer()) {
                if let Some((now, rt)) = arrival(&pipe, pad, buf) {
                    let lead = rt as i64 + pad.offset() - now as i64;
                    me.lead_ns.store(lead, Ordering::Relaxed);
                }
            }
            if me.down.swap(false, Ordering::SeqCst) {
                let b = me.clone();
                glib::idle_add_once(move || {
                    eprintln!(
                        "\nrelay: input {} is delivering data again (restart #{})",
                        b.name,
                        b.restarts.load(Ordering::Relaxed)
                    );
                });
            }
            gst::PadProbeReturn::Ok
        });
}

fn eos_probe(branch: &Arc<Branch>, other: &Arc<Branch>, reconnect_delay: Duration) {
    let me = branch.clone();
    let other = other.clone();
    branch
        .out_pad
        .add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_pad, info| {
            let Some(ev) = info.event() else {
                return gst::PadProbeReturn::Ok;
            };
            if ev.type_() != gst::EventType::Eos {
                return gst::PadProbeReturn::Ok;
            }
            me.down.store(true, Ordering::SeqCst);
            let b = me.clone();
            glib::idle_add_once(move || {
                restart(&b, reconnect_delay);
            });
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
pub(crate) fn restart(b: &Arc<Branch>, delay: Duration) -> bool {
    if b.restarting.swap(true, Ordering::SeqCst) {
        return false;
    }
    b.down.store(true, Ordering::SeqCst);
    for e in &b.elements {
        let _ = e.set_state(gst::State::Null);
    }
    let b = b.clone();
    glib::timeout_add_once(delay, move || {
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

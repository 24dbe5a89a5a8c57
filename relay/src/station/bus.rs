// SPDX-License-Identifier: MPL-2.0
//! A station's bus messages: one small handler per message, each updating the
//! station's state, its logs and the terminal. Messages of the plugin's elements:
//! `failover-switched` and `failover-input-health` (`failoverswitch`), `health`
//! (`healthprobe`), `loudness` (`loudnessmatch`).

use super::Station;
use crate::input::{INPUTS, branch};
use crate::logs::epoch;
use crate::pipeline::OUTPUT_METER;
use crate::status::SwitchRecord;
use gst::MessageView;
use gst::prelude::*;

fn src_name(msg: &gst::MessageRef) -> String {
    msg.src().map(|s| s.name().to_string()).unwrap_or_default()
}

impl Station {
    /// Handles one bus message. Returns why the station cannot go on, if so.
    pub(super) fn on_message(&mut self, msg: &gst::MessageRef) -> Option<String> {
        match msg.view() {
            MessageView::Element(e) => {
                let s = e.structure()?;
                match s.name().as_str() {
                    "failover-switched" => self.on_switched(s),
                    "failover-input-health" => self.on_input_health(s),
                    "health" => self.on_probe_health(msg, s),
                    "loudness" => self.on_loudness(msg, s),
                    _ => {}
                }
                None
            }
            MessageView::Warning(w) => {
                self.on_warning(msg, w);
                None
            }
            MessageView::Error(e) => self.on_error(msg, e),
            MessageView::Eos(_) => Some("the pipeline ended (EOS)".into()),
            _ => None,
        }
    }

    /// The input branch a message comes from.
    fn branch_of(&self, msg: &gst::MessageRef) -> Option<usize> {
        msg.src().and_then(|o| self.pipe.branch_of(o))
    }

    fn on_switched(&mut self, s: &gst::StructureRef) {
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
            "\n{}: SWITCH {} -> {} (reason {}, running time {:.3} s, switch #{})",
            self.tag,
            rec.from,
            rec.to,
            rec.reason,
            rec.running_time_ns as f64 / 1e9,
            rec.count
        );
        self.logs.event(
            "switch",
            &[
                ("from", rec.from.clone()),
                ("to", rec.to.clone()),
                ("reason", rec.reason.clone()),
                ("running_time", rec.running_time_ns.to_string()),
                ("count", rec.count.to_string()),
            ],
        );
        self.state.record_switch(rec);
    }

    /// `failoverswitch`'s verdict on an input (logged on every message: the switch
    /// posts only changes).
    fn on_input_health(&mut self, s: &gst::StructureRef) {
        let pad = s.get::<String>("pad").unwrap_or_default();
        let healthy = s.get::<bool>("healthy").unwrap_or(false);
        let reason = s.get::<String>("reason").unwrap_or_default();
        self.logs.event(
            "health",
            &[
                ("input", pad.clone()),
                ("healthy", healthy.to_string()),
                ("reason", reason.clone()),
                ("from", "failoverswitch".into()),
            ],
        );
        if let Some(i) = self.state.input_mut(&pad) {
            i.healthy = Some(healthy);
            i.reason = reason;
        }
    }

    /// `healthprobe`'s verdict (posted periodically and on change; logged on change).
    fn on_probe_health(&mut self, msg: &gst::MessageRef, s: &gst::StructureRef) {
        let Some(idx) = self.branch_of(msg) else {
            return;
        };
        let healthy = s.get::<bool>("healthy").unwrap_or(true);
        let reason = s.get::<String>("reason").unwrap_or_default();
        let Some(i) = self.state.input_mut(INPUTS[idx]) else {
            return;
        };
        let changed = i.probe_healthy != Some(healthy);
        i.probe_healthy = Some(healthy);
        i.probe_reason = reason.clone();
        if changed {
            self.logs.event(
                "health",
                &[
                    ("input", INPUTS[idx].into()),
                    ("healthy", healthy.to_string()),
                    ("reason", reason),
                    ("from", src_name(msg)),
                ],
            );
        }
    }

    /// A `loudnessmatch` report: an input's (with the gain it applies) or the
    /// output's.
    fn on_loudness(&mut self, msg: &gst::MessageRef, s: &gst::StructureRef) {
        let short_term = s.get::<f64>("short-term").ok();
        let now = epoch();
        if src_name(msg) == OUTPUT_METER {
            self.state.output_short_term = short_term;
            self.state.output_loudness_at = Some(now);
        } else if let Some(idx) = self.branch_of(msg) {
            if let Some(i) = self.state.input_mut(INPUTS[idx]) {
                i.short_term = short_term;
                i.gain = s.get::<f64>("gain").ok();
                i.loudness_at = Some(now);
            }
        }
    }

    fn on_warning(&mut self, msg: &gst::MessageRef, w: &gst::message::Warning) {
        let src = src_name(msg);
        eprintln!(
            "\n{}: WARNING from {src}: {} ({})",
            self.tag,
            w.error(),
            w.debug().unwrap_or_default()
        );
        self.state.warnings += 1;
        self.logs
            .event("warning", &[("src", src), ("msg", w.error().to_string())]);
    }

    /// An error in an input branch restarts that input (reconnection); any other
    /// error ends the station.
    fn on_error(&mut self, msg: &gst::MessageRef, err: &gst::message::Error) -> Option<String> {
        let Some(idx) = self.branch_of(msg) else {
            let src = src_name(msg);
            let text = format!(
                "error from {src}: {} ({})",
                err.error(),
                err.debug().unwrap_or_default()
            );
            self.logs
                .event("error", &[("src", src), ("msg", text.clone())]);
            return Some(text);
        };
        let b = &self.pipe.branches[idx];
        let first = !b.down.load(std::sync::atomic::Ordering::SeqCst)
            || b.restarts.load(std::sync::atomic::Ordering::Relaxed) == 0;
        let delay = self.config.reconnect_delay;
        if !branch::restart(b, delay) {
            return None;
        }
        if first {
            eprintln!(
                "\n{}: input {} failed ({}): reconnecting every {:?}",
                self.tag,
                b.name,
                err.error(),
                delay
            );
        }
        self.logs.event(
            "reconnect",
            &[("input", b.name.into()), ("error", err.error().to_string())],
        );
        if let Some(i) = self.state.input_mut(b.name) {
            i.reconnects += 1;
        }
        None
    }
}

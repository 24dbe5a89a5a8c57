// SPDX-License-Identifier: MPL-2.0
//! A station's bus messages: one small handler per message, each updating the
//! station's state, its logs and the terminal. Messages of the plugin's elements:
//! `failover-switched` and `failover-input-health` (`failoverswitch`), `health`
//! (`healthprobe`), `loudness` (`loudnessmatch`).

use super::Station;
use crate::input::{INPUTS, Input, InputEvent, InputEventKind};
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
                // An A/V station's audio switch follows the video switch (one
                // group): its messages would count every switch twice.
                if src_name(msg) == crate::av::AUDIO_SWITCH {
                    return None;
                }
                match s.name().as_str() {
                    "failover-switched" => self.on_switched(s),
                    "failover-input-health" => self.on_input_health(s),
                    "health" => self.on_probe_health(msg, s),
                    "loudness" => self.on_loudness(msg, s),
                    "failover-aligned" => self.on_aligned(s),
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
        let posted = self
            .switch_posted
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&rec.count))
            .unwrap_or(rec.at);
        self.logs.event(
            "switch",
            &[
                ("from", rec.from.clone()),
                ("to", rec.to.clone()),
                ("reason", rec.reason.clone()),
                ("running_time", rec.running_time_ns.to_string()),
                ("count", rec.count.to_string()),
                ("posted", format!("{posted:.3}")),
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

    /// An error on an input's way to the switch revives that input (its
    /// connection is rebuilt, its appsrc flushed); any other error ends the station.
    fn on_error(&mut self, msg: &gst::MessageRef, err: &gst::message::Error) -> Option<String> {
        let src = src_name(msg);
        let text = format!("{} ({})", err.error(), err.debug().unwrap_or_default());
        let Some(idx) = self.branch_of(msg) else {
            let text = format!("error from {src}: {text}");
            self.logs
                .event("error", &[("src", src), ("msg", text.clone())]);
            return Some(text);
        };
        eprintln!(
            "\n{}: the {} input's chain failed ({src}): {text}",
            self.tag, INPUTS[idx]
        );
        self.logs.event(
            "input-error",
            &[
                ("input", INPUTS[idx].into()),
                ("src", src),
                ("msg", text.clone()),
            ],
        );
        if let Some(i) = self.inputs.get_mut(idx) {
            i.revive(format!("{}: {}", src_name(msg), err.error()));
        }
        None
    }

    /// The inputs' periodic check, and what they did since the last one. The
    /// pipeline starts playing when the primary is judged healthy (its first
    /// connection is on its live edge), or after the watchdog's time if it is not.
    pub(super) fn tick_inputs(&mut self) -> Option<String> {
        if !self.playing
            && (self.inputs.first().is_some_and(Input::ready)
                || self.started.elapsed() >= self.config.watchdog)
        {
            self.playing = true;
            if let Err(e) = self.pipe.pipeline.set_state(gst::State::Playing) {
                return Some(format!("cannot start the pipeline: {e}"));
            }
            for i in &self.inputs {
                i.open();
            }
        }
        let mut events = Vec::new();
        for i in self.inputs.iter_mut() {
            events.extend(i.tick());
        }
        for ev in events {
            self.on_input_event(ev);
        }
        self.check_outputs();
        None
    }

    /// Logs what an input did: connections, verdicts told to the switch, restarts.
    fn on_input_event(&mut self, ev: InputEvent) {
        let input = ev.input;
        let at = format!("{:.3}", ev.at);
        let tag = self.tag.clone();
        match ev.kind {
            InputEventKind::Connecting { attempt } => {
                self.logs.event(
                    "connect",
                    &[
                        ("input", input.into()),
                        ("attempt", attempt.to_string()),
                        ("at", at),
                    ],
                );
            }
            InputEventKind::Health { healthy, reason } => {
                if healthy {
                    eprintln!("\n{tag}: input {input} is back (fresh data on its live edge)");
                } else {
                    eprintln!("\n{tag}: input {input} is unhealthy ({reason}): switch told");
                }
                self.logs.event(
                    "input",
                    &[
                        ("input", input.into()),
                        ("healthy", healthy.to_string()),
                        ("reason", reason.into()),
                        ("at", at),
                    ],
                );
            }
            InputEventKind::Restart {
                reason,
                detail,
                wait,
            } => {
                eprintln!(
                    "\n{tag}: input {input}: {reason} ({detail}); reconnecting in {:.1} s",
                    wait.as_secs_f64()
                );
                self.logs.event(
                    "reconnect",
                    &[
                        ("input", input.into()),
                        ("reason", reason.into()),
                        ("detail", detail),
                        ("wait", format!("{:.3}", wait.as_secs_f64())),
                        ("at", at),
                    ],
                );
                if let Some(i) = self.state.input_mut(input) {
                    i.reconnects += 1;
                }
            }
            InputEventKind::Warning(w) => {
                eprintln!("\n{tag}: input {input}: warning: {w}");
                self.logs
                    .event("warning", &[("src", input.into()), ("msg", w)]);
            }
        }
    }
}

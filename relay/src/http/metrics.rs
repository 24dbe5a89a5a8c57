// SPDX-License-Identifier: MPL-2.0
//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4). Plain Rust,
//! unit-tested; the end-to-end test parses it with the `prometheus_client` Python
//! package. Labels: `station` (its id), `input` (`primary`, `secondary`; `none` for
//! time without an active input), `reason`. No URL or credential is ever a label.

use crate::report::{FleetReport, StationReport};
use std::fmt::Write;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Switch reasons always listed (with 0), so `rate()` has a series from the start.
pub const SWITCH_REASONS: [&str; 7] = [
    "timeout",
    "eos",
    "caps-mismatch",
    "health",
    "late",
    "restored",
    "manual",
];

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value: integers without a fraction, others with enough digits.
fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", num(value));
    }
}

fn family<'a>(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out }
}

/// One sample per station.
fn per_station(
    out: &mut String,
    r: &FleetReport,
    name: &str,
    kind: &str,
    help: &str,
    value: impl Fn(&StationReport) -> Option<f64>,
) {
    let mut f = family(out, name, kind, help);
    for s in &r.stations {
        if let Some(v) = value(s) {
            f.sample(name, &[("station", &s.id)], v);
        }
    }
}

/// One sample per station and input.
fn per_input(
    out: &mut String,
    r: &FleetReport,
    name: &str,
    kind: &str,
    help: &str,
    value: impl Fn(&crate::report::InputReport) -> Option<f64>,
) {
    let mut f = family(out, name, kind, help);
    for s in &r.stations {
        for i in &s.inputs {
            if let Some(v) = value(i) {
                f.sample(name, &[("station", &s.id), ("input", &i.name)], v);
            }
        }
    }
}

fn b(v: bool) -> f64 {
    if v { 1.0 } else { 0.0 }
}

/// The whole exposition.
pub fn render(r: &FleetReport) -> String {
    let mut out = String::with_capacity(1024 + r.stations.len() * 3000);
    {
        let mut f = family(
            &mut out,
            "relay_stations",
            "gauge",
            "Stations by state (running, or waiting to be started again after a failure)",
        );
        for state in ["running", "waiting"] {
            let n = r.stations.iter().filter(|s| s.state == state).count();
            f.sample("relay_stations", &[("state", state)], n as f64);
        }
    }
    if let Some(c) = &r.config {
        family(
            &mut out,
            "relay_config_reloads_total",
            "counter",
            "Reloads of the stations file that were applied",
        )
        .sample("relay_config_reloads_total", &[], c.reloads as f64);
        family(&mut out, "relay_config_last_reload_ok", "gauge", "0 if the last reload of the stations file was refused (the running set was kept), else 1")
            .sample("relay_config_last_reload_ok", &[], b(c.last_error.is_none()));
        family(
            &mut out,
            "relay_config_loaded_timestamp_seconds",
            "gauge",
            "When the running set was last loaded from the stations file (Unix time)",
        )
        .sample("relay_config_loaded_timestamp_seconds", &[], c.loaded_at);
    }
    per_station(
        &mut out,
        r,
        "relay_station_up",
        "gauge",
        "1 while the station's pipeline runs, 0 while it waits to be started again",
        |s| Some(b(s.state == "running")),
    );
    per_station(
        &mut out,
        r,
        "relay_station_output_running",
        "gauge",
        "1 while the station's output runs (what /health checks)",
        |s| Some(b(s.output_runs().is_ok())),
    );
    per_station(
        &mut out,
        r,
        "relay_station_restarts_total",
        "counter",
        "Starts of the station after a failure",
        |s| Some(s.restarts as f64),
    );
    per_station(
        &mut out,
        r,
        "relay_station_uptime_seconds",
        "gauge",
        "Seconds since the station's pipeline started",
        |s| Some(s.uptime_s),
    );
    {
        let name = "relay_active_input";
        let mut f = family(
            &mut out,
            name,
            "gauge",
            "1 for the input whose data goes out (input=\"none\": no input is healthy)",
        );
        for s in &r.stations {
            for input in ["primary", "secondary", "none"] {
                f.sample(
                    name,
                    &[("station", &s.id), ("input", input)],
                    b(s.active == input),
                );
            }
        }
    }
    per_input(
        &mut out,
        r,
        "relay_input_healthy",
        "gauge",
        "1 if the switch judges the input healthy, 0 if not (absent until it has judged)",
        |i| i.healthy.map(b),
    );
    {
        let name = "relay_input_health_reason";
        let mut f = family(
            &mut out,
            name,
            "gauge",
            "The reason of the switch's current verdict on the input (1 for that reason)",
        );
        for s in &r.stations {
            for i in s.inputs.iter().filter(|i| i.healthy.is_some()) {
                let reason = if i.reason.is_empty() {
                    "ok"
                } else {
                    i.reason.as_str()
                };
                f.sample(
                    name,
                    &[("station", &s.id), ("input", &i.name), ("reason", reason)],
                    1.0,
                );
            }
        }
    }
    per_input(
        &mut out,
        r,
        "relay_input_probe_healthy",
        "gauge",
        "1 if the input's healthprobe (decode setup) judges it healthy, 0 if not",
        |i| i.probe_healthy.map(b),
    );
    {
        let name = "relay_input_active_seconds_total";
        let mut f = family(
            &mut out,
            name,
            "counter",
            "Seconds each input has been the active one (input=\"none\": no input healthy)",
        );
        for s in &r.stations {
            for i in &s.inputs {
                f.sample(name, &[("station", &s.id), ("input", &i.name)], i.active_s);
            }
            f.sample(
                name,
                &[("station", &s.id), ("input", "none")],
                s.output.none_s,
            );
        }
    }
    per_input(
        &mut out,
        r,
        "relay_input_reconnects_total",
        "counter",
        "Reconnections of the input",
        |i| Some(i.reconnects as f64),
    );
    per_input(
        &mut out,
        r,
        "relay_input_loudness_lufs",
        "gauge",
        "Short-term loudness of the input (LUFS; absent when not measured)",
        |i| i.loudness_lufs,
    );
    per_input(
        &mut out,
        r,
        "relay_input_gain_db",
        "gauge",
        "Gain the input's loudnessmatch applies (dB)",
        |i| i.gain_db,
    );
    {
        let name = "relay_switches_total";
        let mut f = family(
            &mut out,
            name,
            "counter",
            "Switches between inputs, by reason",
        );
        for s in &r.stations {
            for reason in SWITCH_REASONS {
                let n = s.switches_by_reason.get(reason).copied().unwrap_or(0);
                f.sample(name, &[("station", &s.id), ("reason", reason)], n as f64);
            }
            for (reason, n) in &s.switches_by_reason {
                if !SWITCH_REASONS.contains(&reason.as_str()) {
                    f.sample(name, &[("station", &s.id), ("reason", reason)], *n as f64);
                }
            }
        }
    }
    per_station(
        &mut out,
        r,
        "relay_output_bytes_total",
        "counter",
        "Bytes sent to the output",
        |s| Some(s.output.bytes as f64),
    );
    per_station(
        &mut out,
        r,
        "relay_output_connected",
        "gauge",
        "1 while the output connection is open",
        |s| Some(b(s.output.connected)),
    );
    per_station(
        &mut out,
        r,
        "relay_output_connects_total",
        "counter",
        "Output connections opened",
        |s| Some(s.output.connects as f64),
    );
    per_station(
        &mut out,
        r,
        "relay_output_dropped_buffers_total",
        "counter",
        "Buffers dropped on the way to the output (connection down or too slow)",
        |s| Some(s.output.dropped_buffers as f64),
    );
    per_station(
        &mut out,
        r,
        "relay_output_keepalive_frames_total",
        "counter",
        "Passthrough: silent frames sent while no input was healthy",
        |s| Some(s.output.keepalive_frames as f64),
    );
    per_station(
        &mut out,
        r,
        "relay_output_idle_seconds",
        "gauge",
        "Seconds since the output last sent data (absent: never)",
        |s| s.output.idle_s,
    );
    per_station(
        &mut out,
        r,
        "relay_output_loudness_lufs",
        "gauge",
        "Short-term loudness of the output (LUFS; absent when not measured)",
        |s| s.output.loudness_lufs,
    );
    per_station(
        &mut out,
        r,
        "relay_warnings_total",
        "counter",
        "Warnings on the station's pipeline",
        |s| Some(s.warnings as f64),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::station;

    fn fleet() -> FleetReport {
        let mut a = station("a");
        a.active = "secondary".into();
        a.switches = 2;
        a.switches_by_reason.insert("eos".into(), 1);
        a.switches_by_reason.insert("odd\"reason".into(), 1);
        a.inputs[0].healthy = Some(false);
        a.inputs[0].reason = "eos".into();
        a.inputs[0].reconnects = 3;
        a.inputs[0].active_s = 12.25;
        a.inputs[1].loudness_lufs = None;
        let mut b = station("b");
        b.state = "waiting";
        FleetReport {
            version: "0",
            pid: 1,
            uptime_s: 20.0,
            config: None,
            stations: vec![a, b],
        }
    }

    /// The samples of metric `name` as (labels, value) text.
    fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split(['{', ' ']).next() == Some(name))
            .collect()
    }

    #[test]
    fn every_family_has_help_and_type_and_well_formed_samples() {
        let text = render(&fleet());
        let mut declared = Vec::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                let mut it = rest.split(' ');
                let name = it.next().unwrap();
                assert!(matches!(it.next(), Some("gauge" | "counter")), "{l}");
                declared.push(name.to_string());
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap();
                assert_eq!(
                    Some(&name.to_string()),
                    declared.last(),
                    "sample outside its family: {l}"
                );
                let value = l.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().is_ok() || value == "NaN", "{l}");
            }
        }
        // Counters end in _total; no family twice.
        let mut sorted = declared.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), declared.len());
        for l in text.lines().filter(|l| l.ends_with(" counter")) {
            assert!(l.contains("_total "), "{l}");
        }
    }

    #[test]
    fn values_per_station_and_input() {
        let text = render(&fleet());
        assert!(samples(&text, "relay_stations").contains(&"relay_stations{state=\"waiting\"} 1"));
        let active = samples(&text, "relay_active_input");
        assert!(active.contains(&"relay_active_input{station=\"a\",input=\"secondary\"} 1"));
        assert!(active.contains(&"relay_active_input{station=\"a\",input=\"primary\"} 0"));
        assert_eq!(active.len(), 6);
        assert!(text.contains("relay_input_healthy{station=\"a\",input=\"primary\"} 0\n"));
        assert!(text.contains(
            "relay_input_health_reason{station=\"a\",input=\"primary\",reason=\"eos\"} 1\n"
        ));
        assert!(text.contains("relay_input_reconnects_total{station=\"a\",input=\"primary\"} 3\n"));
        assert!(text.contains(
            "relay_input_active_seconds_total{station=\"a\",input=\"primary\"} 12.250\n"
        ));
        assert!(text.contains("relay_switches_total{station=\"a\",reason=\"eos\"} 1\n"));
        assert!(text.contains("relay_switches_total{station=\"a\",reason=\"timeout\"} 0\n"));
        // Label values are escaped.
        assert!(
            text.contains("relay_switches_total{station=\"a\",reason=\"odd\\\"reason\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("relay_output_bytes_total{station=\"a\"} 160000\n"));
        assert!(text.contains("relay_station_up{station=\"b\"} 0\n"));
        assert!(text.contains("relay_station_output_running{station=\"a\"} 1\n"));
        assert!(text.contains("relay_station_output_running{station=\"b\"} 0\n"));
        // Unmeasured loudness is absent, not a made-up number.
        let loud = samples(&text, "relay_input_loudness_lufs");
        assert!(
            loud.contains(&"relay_input_loudness_lufs{station=\"a\",input=\"primary\"} -16.500")
        );
        assert!(
            !loud
                .iter()
                .any(|l| l.contains("station=\"a\",input=\"secondary\""))
        );
        // No URL or credential anywhere.
        assert!(!text.contains("http") && !text.contains("***"), "{text}");
    }

    #[test]
    fn numbers() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(-16.54321), "-16.543");
        assert_eq!(num(f64::NEG_INFINITY), "-Inf");
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}

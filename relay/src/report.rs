// SPDX-License-Identifier: MPL-2.0
//! What the relay reports about its stations: the data behind `GET /status` (as
//! JSON), `GET /metrics` (`http::metrics`) and `GET /health`. Plain Rust (serde for
//! the JSON), built on the main loop by the stations and the fleet and handed to the
//! HTTP thread; nothing in it refers back to a running station. URLs in it are
//! already redacted (`secrets::Redactor`).

use serde::Serialize;
use std::collections::BTreeMap;

/// An output that has sent nothing for this long is not running (Icecast itself
/// drops a silent source after its `source-timeout`, 10 s by default).
pub const OUTPUT_IDLE_LIMIT_S: f64 = 5.0;

/// The whole relay.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    pub version: &'static str,
    pub pid: u32,
    pub uptime_s: f64,
    /// The stations file, if the relay runs from one.
    pub config: Option<ConfigReport>,
    pub stations: Vec<StationReport>,
}

/// The stations file and its last (re)load.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigReport {
    pub path: String,
    /// When (epoch seconds) the running set was last loaded from it.
    pub loaded_at: f64,
    pub reloads: u64,
    /// Why the last reload was refused (the running set was kept), if it was.
    pub last_error: Option<String>,
    pub last_error_at: Option<f64>,
}

/// One station.
#[derive(Debug, Clone, Serialize)]
pub struct StationReport {
    pub id: String,
    /// `running`, or `waiting` (it failed; restarted after a delay).
    pub state: &'static str,
    /// Why it is waiting (the last failure), or the last failure it recovered from.
    pub error: Option<String>,
    /// Seconds until the next start attempt while waiting.
    pub retry_in_s: Option<f64>,
    /// How often it was (re)started after a failure.
    pub restarts: u64,
    pub setup: String,
    pub mode: String,
    /// When (epoch seconds) the running pipeline started, and for how long.
    pub started_at: Option<f64>,
    pub uptime_s: f64,
    /// `primary`, `secondary` or `none`.
    pub active: String,
    pub inputs: Vec<InputReport>,
    pub output: OutputReport,
    pub switches: u64,
    pub switches_by_reason: BTreeMap<String, u64>,
    pub last_switch: Option<SwitchReport>,
    pub warnings: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputReport {
    /// `primary` or `secondary`.
    pub name: String,
    pub url: String,
    /// The switch's verdict (`None` until it has one) and its reason.
    pub healthy: Option<bool>,
    pub reason: String,
    /// The input's `healthprobe` (decode setup), if it has reported.
    pub probe_healthy: Option<bool>,
    pub probe_reason: String,
    /// Short-term loudness (LUFS) of a healthy input, when measured.
    pub loudness_lufs: Option<f64>,
    /// Gain (dB) its `loudnessmatch` applies.
    pub gain_db: Option<f64>,
    pub reconnects: u64,
    /// Seconds this input has been the active one.
    pub active_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputReport {
    pub url: String,
    pub connected: bool,
    pub bytes: u64,
    pub connects: u64,
    pub dropped_buffers: u64,
    /// Seconds since the output last sent data (`None`: never).
    pub idle_s: Option<f64>,
    pub loudness_lufs: Option<f64>,
    /// Passthrough: silent frames sent while no input was healthy.
    pub keepalive_frames: u64,
    /// Seconds with no input active (`none`).
    pub none_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SwitchReport {
    pub at: f64,
    pub from: String,
    pub to: String,
    pub reason: String,
}

impl StationReport {
    /// `Ok` while the station's output runs (its pipeline is running, its output is
    /// connected and has sent data within [`OUTPUT_IDLE_LIMIT_S`]); otherwise why not.
    pub fn output_runs(&self) -> Result<(), String> {
        if self.state != "running" {
            let why = self.error.as_deref().unwrap_or("not started");
            return Err(format!("{}: {} ({why})", self.id, self.state));
        }
        if !self.output.connected {
            return Err(format!("{}: output not connected", self.id));
        }
        match self.output.idle_s {
            None => Err(format!("{}: output has sent nothing yet", self.id)),
            Some(s) if s > OUTPUT_IDLE_LIMIT_S => {
                Err(format!("{}: output idle for {s:.0} s", self.id))
            }
            Some(_) => Ok(()),
        }
    }
}

impl FleetReport {
    /// `GET /health`: whether every station's output runs, and a short text saying
    /// which do not.
    pub fn health(&self) -> (bool, String) {
        let bad: Vec<String> = self
            .stations
            .iter()
            .filter_map(|s| s.output_runs().err())
            .collect();
        if bad.is_empty() {
            (
                true,
                format!(
                    "ok: {} station(s), every output running\n",
                    self.stations.len()
                ),
            )
        } else {
            (
                false,
                format!(
                    "unhealthy: {} of {} station(s) without a running output\n{}\n",
                    bad.len(),
                    self.stations.len(),
                    bad.join("\n")
                ),
            )
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A running station whose output runs.
    pub(crate) fn station(id: &str) -> StationReport {
        let input = |name: &str| InputReport {
            name: name.into(),
            url: format!("http://127.0.0.1:8000/{id}_{name}.aac"),
            healthy: Some(true),
            reason: "ok".into(),
            probe_healthy: None,
            probe_reason: String::new(),
            loudness_lufs: Some(-16.5),
            gain_db: None,
            reconnects: 0,
            active_s: 0.0,
        };
        StationReport {
            id: id.into(),
            state: "running",
            error: None,
            retry_in_s: None,
            restarts: 0,
            setup: "passthrough".into(),
            mode: "primary-preferred".into(),
            started_at: Some(1000.0),
            uptime_s: 10.0,
            active: "primary".into(),
            inputs: vec![input("primary"), input("secondary")],
            output: OutputReport {
                url: format!("icecast://source:***@127.0.0.1:8000/{id}_relay.aac"),
                connected: true,
                bytes: 160_000,
                connects: 1,
                dropped_buffers: 0,
                idle_s: Some(0.1),
                loudness_lufs: None,
                keepalive_frames: 0,
                none_s: 0.0,
            },
            switches: 0,
            switches_by_reason: BTreeMap::new(),
            last_switch: None,
            warnings: 0,
        }
    }

    fn fleet(stations: Vec<StationReport>) -> FleetReport {
        FleetReport {
            version: "0",
            pid: 1,
            uptime_s: 1.0,
            config: None,
            stations,
        }
    }

    #[test]
    fn health_names_the_stations_whose_output_does_not_run() {
        let (ok, body) = fleet(vec![station("a"), station("b")]).health();
        assert!(ok, "{body}");
        assert!(body.starts_with("ok: 2 station(s)"), "{body}");

        let mut idle = station("b");
        idle.output.idle_s = Some(7.0);
        let mut waiting = station("c");
        waiting.state = "waiting";
        waiting.error = Some("cannot start the pipeline".into());
        let mut unconnected = station("d");
        unconnected.output.connected = false;
        let (ok, body) = fleet(vec![station("a"), idle, waiting, unconnected]).health();
        assert!(!ok);
        assert!(body.contains("3 of 4"), "{body}");
        assert!(body.contains("b: output idle for 7 s"), "{body}");
        assert!(
            body.contains("c: waiting (cannot start the pipeline)"),
            "{body}"
        );
        assert!(body.contains("d: output not connected"), "{body}");
        assert!(!body.contains("a:"), "{body}");
    }

    #[test]
    fn an_empty_relay_is_healthy() {
        assert!(fleet(vec![]).health().0);
    }
}

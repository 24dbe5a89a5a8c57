// SPDX-License-Identifier: MPL-2.0
//! What a station knows about itself (active input, health, loudness, switches, time
//! on each input), how it is printed as one status line, and the event/timeline log
//! formats. Plain Rust.

use std::collections::{BTreeMap, VecDeque};

/// One input as seen from the bus.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputState {
    /// Last verdict of `failoverswitch` (`failover-input-health`; None: not yet known).
    pub healthy: Option<bool>,
    pub reason: String,
    /// Last verdict of this input's `healthprobe` (`health` messages).
    pub probe_healthy: Option<bool>,
    pub probe_reason: String,
    /// Short-term loudness (LUFS) measured by this input's `loudnessmatch`.
    pub short_term: Option<f64>,
    /// Gain (dB) applied by this input's `loudnessmatch`.
    pub gain: Option<f64>,
    /// When (epoch seconds) the loudness was last reported.
    pub loudness_at: Option<f64>,
    pub reconnects: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SwitchRecord {
    /// Wall-clock seconds since the Unix epoch.
    pub at: f64,
    pub from: String,
    pub to: String,
    pub reason: String,
    pub running_time_ns: u64,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StationState {
    pub active: String,
    pub primary: InputState,
    pub secondary: InputState,
    pub output_short_term: Option<f64>,
    pub output_loudness_at: Option<f64>,
    /// The most recent switches (at most [`RECENT_SWITCHES`]; a station that runs for
    /// months must not grow), oldest first.
    pub switches: VecDeque<SwitchRecord>,
    /// Every switch since the start, and by reason.
    pub switch_count: u64,
    pub switches_by_reason: BTreeMap<String, u64>,
    /// Seconds each input (or `none`) was active before `active_since`.
    pub seconds_on: BTreeMap<String, f64>,
    /// When (epoch seconds) the current active input became active; `None` until the
    /// station has started ([`StationState::started`]).
    pub active_since: Option<f64>,
    pub warnings: u64,
}

/// How many switch records a station keeps (for its summary and `/status`).
pub const RECENT_SWITCHES: usize = 64;

/// Loudness reports older than this are history, not a measurement (the input is
/// down: its `loudnessmatch` gets no data and reports nothing).
pub const LOUDNESS_STALE_S: f64 = 2.5;

fn fresh(v: Option<f64>, at: Option<f64>, now: f64) -> Option<f64> {
    v.filter(|_| at.is_some_and(|t| now - t <= LOUDNESS_STALE_S))
}

impl InputState {
    /// The input's loudness, if it is a current measurement of a healthy input.
    pub fn loudness(&self, now: f64) -> Option<f64> {
        fresh(self.short_term, self.loudness_at, now).filter(|_| self.healthy != Some(false))
    }
}

impl Default for StationState {
    fn default() -> Self {
        StationState {
            active: "primary".into(),
            primary: InputState::default(),
            secondary: InputState::default(),
            output_short_term: None,
            output_loudness_at: None,
            switches: VecDeque::new(),
            switch_count: 0,
            switches_by_reason: BTreeMap::new(),
            seconds_on: BTreeMap::new(),
            active_since: None,
            warnings: 0,
        }
    }
}

fn lufs(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() && v > -70.0 => format!("{v:5.1} LUFS"),
        _ => "  -- LUFS".into(),
    }
}

fn health(i: &InputState) -> String {
    match i.healthy {
        None => "?".into(),
        Some(true) if i.probe_healthy == Some(false) => format!("ok/probe:{}", i.probe_reason),
        Some(true) => "ok".into(),
        Some(false) if i.reason.is_empty() => "DOWN".into(),
        Some(false) => format!("DOWN({})", i.reason),
    }
}

impl StationState {
    pub fn input_mut(&mut self, name: &str) -> Option<&mut InputState> {
        match name {
            "primary" => Some(&mut self.primary),
            "secondary" => Some(&mut self.secondary),
            _ => None,
        }
    }

    /// The station starts at `now` (epoch seconds) on its current active input.
    pub fn started(&mut self, now: f64) {
        self.active_since = Some(now);
        // `failoverswitch` starts with both inputs healthy and posts only changes
        // (`failover-input-health`): mirror that.
        self.primary.healthy = Some(true);
        self.secondary.healthy = Some(true);
    }

    /// A switch: counts it (in total and by reason), closes the outgoing input's time
    /// on air and keeps the record among the recent ones.
    pub fn record_switch(&mut self, rec: SwitchRecord) {
        if let Some(since) = self.active_since {
            *self.seconds_on.entry(self.active.clone()).or_default() += (rec.at - since).max(0.0);
        }
        self.active_since = Some(rec.at);
        self.active = rec.to.clone();
        self.switch_count += 1;
        *self
            .switches_by_reason
            .entry(rec.reason.clone())
            .or_default() += 1;
        if self.switches.len() == RECENT_SWITCHES {
            self.switches.pop_front();
        }
        self.switches.push_back(rec);
    }

    /// Seconds each input (and `none`) has been active up to `now`.
    pub fn seconds_on_at(&self, now: f64) -> BTreeMap<String, f64> {
        let mut m = self.seconds_on.clone();
        if let Some(since) = self.active_since {
            *m.entry(self.active.clone()).or_default() += (now - since).max(0.0);
        }
        m
    }

    pub fn output_loudness(&self, now: f64) -> Option<f64> {
        fresh(self.output_short_term, self.output_loudness_at, now)
    }

    /// The live status line (no newline) at `now` (epoch seconds).
    pub fn line(&self, now: f64, elapsed_s: f64, out_kib: u64) -> String {
        let gain = |i: &InputState| match i.gain {
            Some(g) if g.abs() >= 0.05 => format!(" {g:+.1}dB"),
            _ => String::new(),
        };
        let last = self
            .switches
            .back()
            .map(|s| format!(" (last: {}->{} {})", s.from, s.to, s.reason))
            .unwrap_or_default();
        format!(
            "[{elapsed_s:7.1}s] active={:<9} | primary {:<10} {}{} | secondary {:<10} {}{} | out {} {} KiB | switches {}{}",
            self.active,
            health(&self.primary),
            lufs(self.primary.loudness(now)),
            gain(&self.primary),
            health(&self.secondary),
            lufs(self.secondary.loudness(now)),
            gain(&self.secondary),
            lufs(self.output_loudness(now)),
            out_kib,
            self.switch_count,
            last
        )
    }

    /// One timeline CSV row: see [`TIMELINE_HEADER`].
    pub fn timeline_row(&self, now: f64) -> String {
        let active = match self.active.as_str() {
            "primary" => 1,
            "secondary" => 2,
            _ => 0,
        };
        let b = |v: Option<bool>| match v {
            Some(true) => "1",
            Some(false) => "0",
            None => "",
        };
        let f = |v: Option<f64>| match v {
            Some(v) if v.is_finite() && v > -70.0 => format!("{v:.2}"),
            _ => String::new(),
        };
        format!(
            "{now:.3},{active},{},{},{},{},{},{},{}",
            b(self.primary.healthy),
            b(self.secondary.healthy),
            f(self.primary.loudness(now)),
            f(self.secondary.loudness(now)),
            f(self
                .secondary
                .gain
                .filter(|_| self.secondary.loudness(now).is_some())),
            f(self.output_loudness(now)),
            self.switch_count
        )
    }
}

pub const TIMELINE_HEADER: &str = "time,active,primary_healthy,secondary_healthy,primary_lufs,secondary_lufs,secondary_gain_db,output_lufs,switches";

/// One event line: `<epoch seconds> <kind> key=value ...` (values without spaces).
pub fn event_line(now: f64, kind: &str, fields: &[(&str, String)]) -> String {
    let mut s = format!("{now:.3} {kind}");
    for (k, v) in fields {
        s.push(' ');
        s.push_str(k);
        s.push('=');
        s.push_str(&v.replace(char::is_whitespace, "_"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_shows_health_loudness_and_switches() {
        let mut s = StationState::default();
        s.primary.healthy = Some(false);
        s.primary.reason = "eos".into();
        s.primary.probe_healthy = Some(false);
        s.primary.probe_reason = "stall".into();
        s.secondary.healthy = Some(true);
        s.secondary.short_term = Some(-18.04);
        s.secondary.loudness_at = Some(11.0);
        s.secondary.gain = Some(6.5);
        s.record_switch(SwitchRecord {
            at: 1.0,
            from: "primary".into(),
            to: "secondary".into(),
            reason: "eos".into(),
            running_time_ns: 0,
            count: 1,
        });
        let l = s.line(12.0, 12.0, 100);
        assert!(l.contains("active=secondary"), "{l}");
        assert!(l.contains("DOWN(eos)"), "{l}");
        let mut s2 = StationState::default();
        s2.primary.healthy = Some(true);
        s2.primary.probe_healthy = Some(false);
        s2.primary.probe_reason = "silence".into();
        assert!(s2.line(0.0, 0.0, 0).contains("ok/probe:silence"));
        assert!(l.contains("-18.0 LUFS +6.5dB"), "{l}");
        assert!(
            l.contains("switches 1 (last: primary->secondary eos)"),
            "{l}"
        );
    }

    fn switch(at: f64, to: &str, reason: &str) -> SwitchRecord {
        SwitchRecord {
            at,
            from: String::new(),
            to: to.into(),
            reason: reason.into(),
            running_time_ns: 0,
            count: 0,
        }
    }

    #[test]
    fn time_on_each_input_and_switches_by_reason() {
        let mut s = StationState::default();
        s.started(100.0);
        s.record_switch(switch(110.0, "secondary", "eos"));
        s.record_switch(switch(113.0, "none", "timeout"));
        s.record_switch(switch(114.5, "primary", "restored"));
        s.record_switch(switch(120.0, "secondary", "manual"));
        let on = s.seconds_on_at(130.0);
        assert_eq!(on["primary"], 10.0 + 5.5);
        assert_eq!(on["secondary"], 3.0 + 10.0);
        assert_eq!(on["none"], 1.5);
        assert_eq!(on.values().sum::<f64>(), 30.0);
        assert_eq!(s.switch_count, 4);
        assert_eq!(s.switches_by_reason["eos"], 1);
        assert_eq!(s.active, "secondary");
    }

    #[test]
    fn switch_records_are_bounded_counts_are_not() {
        let mut s = StationState::default();
        s.started(0.0);
        for i in 0..1000 {
            let to = if i % 2 == 0 { "secondary" } else { "primary" };
            s.record_switch(switch(f64::from(i), to, "timeout"));
        }
        assert_eq!(s.switches.len(), RECENT_SWITCHES);
        assert_eq!(s.switch_count, 1000);
        assert_eq!(s.switches.back().unwrap().at, 999.0);
        assert_eq!(s.switches_by_reason["timeout"], 1000);
    }

    #[test]
    fn timeline_row_matches_header() {
        let mut s = StationState::default();
        s.primary.short_term = Some(-16.0);
        s.primary.loudness_at = Some(4.5);
        s.secondary.short_term = Some(-23.0);
        s.secondary.loudness_at = Some(1.0);
        s.output_short_term = Some(f64::NEG_INFINITY);
        s.output_loudness_at = Some(5.0);
        let row = s.timeline_row(5.0);
        assert_eq!(row.split(',').count(), TIMELINE_HEADER.split(',').count());
        assert!(row.starts_with("5.000,1,"));
        assert!(row.contains("-16.00"));
        // The secondary's 4 s old loudness is history: left out.
        assert!(!row.contains("-23.00"), "{row}");
        // So is the loudness of an input the switch holds for unhealthy.
        s.primary.healthy = Some(false);
        assert!(!s.timeline_row(5.0).contains("-16.00"));
    }

    #[test]
    fn event_lines_have_no_spaces_in_values() {
        let l = event_line(2.5, "warning", &[("msg", "caps differ: rate".into())]);
        assert_eq!(l, "2.500 warning msg=caps_differ:_rate");
    }
}

// SPDX-License-Identifier: MPL-2.0
//! What the relay knows about itself (active input, health, loudness, switches), how
//! it is printed as one status line, and the event/timeline log formats. Plain Rust.

/// One input as seen from the bus.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputState {
    /// Last verdict from `failover-input-health` or `healthprobe` (None: not yet known).
    pub healthy: Option<bool>,
    pub reason: String,
    /// Short-term loudness (LUFS) measured by this input's `loudnessmatch`.
    pub short_term: Option<f64>,
    /// Gain (dB) applied by this input's `loudnessmatch`.
    pub gain: Option<f64>,
    pub reconnects: u64,
    /// The source branch is being restarted.
    pub reconnecting: bool,
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
pub struct RelayState {
    pub active: String,
    pub primary: InputState,
    pub secondary: InputState,
    pub output_short_term: Option<f64>,
    pub switches: Vec<SwitchRecord>,
    pub warnings: u64,
}

impl Default for RelayState {
    fn default() -> Self {
        RelayState {
            active: "primary".into(),
            primary: InputState::default(),
            secondary: InputState::default(),
            output_short_term: None,
            switches: Vec::new(),
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
    if i.reconnecting {
        return "reconnecting".into();
    }
    match i.healthy {
        None => "?".into(),
        Some(true) => "ok".into(),
        Some(false) if i.reason.is_empty() => "DOWN".into(),
        Some(false) => format!("DOWN({})", i.reason),
    }
}

impl RelayState {
    pub fn input_mut(&mut self, name: &str) -> Option<&mut InputState> {
        match name {
            "primary" => Some(&mut self.primary),
            "secondary" => Some(&mut self.secondary),
            _ => None,
        }
    }

    /// The live status line (no newline).
    pub fn line(&self, elapsed_s: f64, out_kib: u64) -> String {
        let gain = |i: &InputState| match i.gain {
            Some(g) if g.abs() >= 0.05 => format!(" {g:+.1}dB"),
            _ => String::new(),
        };
        let last = self
            .switches
            .last()
            .map(|s| format!(" (last: {}->{} {})", s.from, s.to, s.reason))
            .unwrap_or_default();
        format!(
            "[{elapsed_s:7.1}s] active={:<9} | primary {:<10} {}{} | secondary {:<10} {}{} | out {} {} KiB | switches {}{}",
            self.active,
            health(&self.primary),
            lufs(self.primary.short_term),
            gain(&self.primary),
            health(&self.secondary),
            lufs(self.secondary.short_term),
            gain(&self.secondary),
            lufs(self.output_short_term),
            out_kib,
            self.switches.len(),
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
        // A down input's last loudness is history, not a measurement.
        let live = |i: &InputState, v: Option<f64>| v.filter(|_| i.healthy != Some(false));
        format!(
            "{now:.3},{active},{},{},{},{},{},{},{}",
            b(self.primary.healthy),
            b(self.secondary.healthy),
            f(live(&self.primary, self.primary.short_term)),
            f(live(&self.secondary, self.secondary.short_term)),
            f(self.secondary.gain),
            f(self.output_short_term),
            self.switches.len()
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
        let mut s = RelayState::default();
        s.primary.healthy = Some(false);
        s.primary.reason = "eos".into();
        s.secondary.healthy = Some(true);
        s.secondary.short_term = Some(-18.04);
        s.secondary.gain = Some(6.5);
        s.active = "secondary".into();
        s.switches.push(SwitchRecord {
            at: 1.0,
            from: "primary".into(),
            to: "secondary".into(),
            reason: "eos".into(),
            running_time_ns: 0,
            count: 1,
        });
        let l = s.line(12.0, 100);
        assert!(l.contains("active=secondary"), "{l}");
        assert!(l.contains("DOWN(eos)"), "{l}");
        assert!(l.contains("-18.0 LUFS +6.5dB"), "{l}");
        assert!(
            l.contains("switches 1 (last: primary->secondary eos)"),
            "{l}"
        );
    }

    #[test]
    fn timeline_row_matches_header() {
        let mut s = RelayState::default();
        s.primary.short_term = Some(-16.0);
        s.secondary.short_term = Some(-23.0);
        s.secondary.healthy = Some(false);
        s.output_short_term = Some(f64::NEG_INFINITY);
        let row = s.timeline_row(5.0);
        assert_eq!(row.split(',').count(), TIMELINE_HEADER.split(',').count());
        assert!(row.starts_with("5.000,1,"));
        assert!(row.contains("-16.00"));
        // The down secondary's stale loudness is left out.
        assert!(!row.contains("-23.00"), "{row}");
    }

    #[test]
    fn event_lines_have_no_spaces_in_values() {
        let l = event_line(2.5, "warning", &[("msg", "caps differ: rate".into())]);
        assert_eq!(l, "2.500 warning msg=caps_differ:_rate");
    }
}

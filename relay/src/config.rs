// SPDX-License-Identifier: MPL-2.0
//! What one station is: its inputs, its output and the switch's policy. Plain Rust,
//! no GStreamer types. Filled from the command line (`args`) or from a stations file
//! (`stations::file`), both through [`StationConfig::set`], the one place where an
//! option's name and value are understood: an option added there exists on the
//! command line (`--name value`) and in the file (`name = value`) at once. Values
//! are checked where they are parsed; the URLs are checked when the station is built
//! (`input`, `output`) and when a stations file is read.

use std::time::Duration;

/// How the inputs reach the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// Encoded frames switched as they are (no re-encode; identical caps required).
    Passthrough,
    /// Both inputs decoded, probed, loudness-matched; crossfade; one encoder.
    Decode,
}

impl Setup {
    pub fn parse(s: &str) -> Result<Setup, String> {
        match s {
            "passthrough" => Ok(Setup::Passthrough),
            "decode" => Ok(Setup::Decode),
            v => Err(format!("'{v}' (passthrough or decode)")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Setup::Passthrough => "passthrough",
            Setup::Decode => "decode",
        }
    }
}

/// Which streams are decoded only to measure their loudness (for the status line,
/// `/status` and `/metrics`). In the passthrough setup that is the only decoding
/// the relay does, and most of its CPU; in the decode setup the inputs are decoded
/// and measured anyway (`loudnessmatch` needs it), so only the output's meter is
/// optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Both inputs and the output.
    All,
    /// The output only.
    Output,
    /// Nothing beyond what the setup needs.
    None,
}

impl Measure {
    pub fn parse(s: &str) -> Result<Measure, String> {
        match s {
            "all" => Ok(Measure::All),
            "output" => Ok(Measure::Output),
            "none" => Ok(Measure::None),
            v => Err(format!("'{v}' (all, output or none)")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Measure::All => "all",
            Measure::Output => "output",
            Measure::None => "none",
        }
    }

    pub fn inputs(self) -> bool {
        self == Measure::All
    }

    pub fn output(self) -> bool {
        self != Measure::None
    }
}

/// `failoverswitch`'s `mode` values.
pub const MODES: [&str; 2] = ["primary-preferred", "sticky"];

/// Encoders the decode setup can use.
pub const ENCODERS: [&str; 2] = ["voaacenc", "avenc_aac"];

/// One station: a primary and a secondary input switched onto one output.
#[derive(Debug, Clone, PartialEq)]
pub struct StationConfig {
    /// The station's name: in logs, `/status`, `/metrics` and the HTTP control path
    /// (`[A-Za-z0-9_.-]`, see [`check_id`]).
    pub id: String,
    /// Input URLs (`http://host:port/mount`).
    pub primary: String,
    pub secondary: String,
    /// Output URL (`icecast://source:PASSWORD@host:port/mount`, or `-` for stdout).
    pub output: String,
    pub setup: Setup,
    /// What is decoded only to measure loudness.
    pub measure: Measure,
    /// Align the inputs by content (`auto`, the default) or not (`off`); see
    /// [`StationConfig::align_by`].
    pub align: bool,
    /// `failoverswitch` `timeout`, `restore-delay`, `mode`.
    pub timeout: Duration,
    pub restore_delay: Duration,
    pub mode: String,
    /// Decode setup: crossfade at a switch, output bitrate (bit/s) and encoder.
    pub crossfade: Duration,
    pub bitrate: u32,
    pub encoder: String,
    /// `failoverswitch` `latency`: the output is held back this long, so that the
    /// standby's data fills a stalled input's outage (0: no delay, a pause of about
    /// `timeout` at a stall failover).
    pub latency: Duration,
    /// Wait before the first reconnection of a dropped input; attempts without
    /// fresh data are spaced twice as far each time, up to `reconnect_max`.
    pub reconnect_delay: Duration,
    pub reconnect_max: Duration,
    /// An input unhealthy (stalled, late, or connected without fresh data) for
    /// this long is reconnected.
    pub watchdog: Duration,
    /// A/V stations (`rtmp://` output): the transcoding ladder (`av::ladder`).
    pub ladder: Vec<crate::av::ladder::Variant>,
    /// `mode`, `watchdog` were set explicitly (else an A/V station has its own
    /// defaults: sticky, [`AV_WATCHDOG`]).
    pub mode_set: bool,
    pub watchdog_set: bool,
}

impl StationConfig {
    /// A station with these inputs and output and every option at its default.
    pub fn new(primary: &str, secondary: &str, output: &str) -> StationConfig {
        StationConfig {
            id: DEFAULT_ID.into(),
            primary: primary.into(),
            secondary: secondary.into(),
            output: output.into(),
            setup: Setup::Passthrough,
            measure: Measure::All,
            align: true,
            timeout: Duration::from_secs(1),
            restore_delay: Duration::from_secs(5),
            mode: MODES[0].into(),
            crossfade: Duration::from_millis(20),
            bitrate: 128_000,
            // Constant bitrate even in silence: Icecast passes data to listeners in
            // ~1400-byte blocks, and avenc_aac's 7-byte silent frames would come
            // out in bursts seconds apart.
            encoder: ENCODERS[0].into(),
            latency: Duration::ZERO,
            reconnect_delay: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(2),
            watchdog: Duration::from_secs(3),
            ladder: Vec::new(),
            mode_set: false,
            watchdog_set: false,
        }
    }
}

/// Reconnections are never closer than this (nothing spins).
pub const MIN_RECONNECT: Duration = Duration::from_millis(100);

/// An A/V station's default `watchdog`: an RTMP server that starts a player at a
/// keyframe (nginx-rtmp `wait_key on`) sends a new connection nothing for up to one
/// GOP; the platform allows GOPs up to 10 s. A shorter watchdog would reconnect such
/// a connection before its first data, again and again.
pub const AV_WATCHDOG: Duration = Duration::from_secs(11);

/// The id of the station of a single-station command line without `--id`.
pub const DEFAULT_ID: &str = "relay";

/// The per-station options, by their command-line name without `--` (the same name
/// is the key in a stations file): what [`StationConfig::set`] understands.
pub const OPTIONS: [&str; 18] = [
    "id",
    "primary",
    "secondary",
    "output",
    "setup",
    "measure",
    "align",
    "timeout",
    "restore-delay",
    "mode",
    "crossfade",
    "bitrate",
    "encoder",
    "latency",
    "reconnect-delay",
    "reconnect-max",
    "watchdog",
    "ladder",
];

impl StationConfig {
    /// Who aligns the inputs by content: `switch` (decode: `failoverswitch
    /// align=auto` measures the decoded inputs), `relay` (passthrough with `measure
    /// all`: the relay measures the decoded side branches and writes the switch's
    /// `offset`, `align=manual`), or `off` (`align off`; passthrough without the
    /// inputs' side branches has nothing decoded to measure).
    pub fn align_by(&self) -> &'static str {
        match (self.align, self.setup) {
            (false, _) => "off",
            (true, Setup::Decode) => "switch",
            (true, Setup::Passthrough) if self.measure.inputs() => "relay",
            (true, Setup::Passthrough) => "off",
        }
    }

    /// Sets option `key` (a name of [`OPTIONS`]) from its text `value`. The error
    /// says what is wrong with the value (the caller adds where it comes from).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "id" => {
                check_id(value)?;
                self.id = value.into();
            }
            "primary" => self.primary = value.into(),
            "secondary" => self.secondary = value.into(),
            "output" => {
                self.output = value.into();
                if crate::output::rtmp::is_rtmp(value) {
                    // The video platform's policy: an A/V station stays on the backup.
                    if !self.mode_set {
                        self.mode = "sticky".into();
                    }
                    if !self.watchdog_set {
                        self.watchdog = AV_WATCHDOG;
                    }
                }
            }
            "setup" => self.setup = Setup::parse(value)?,
            "measure" => self.measure = Measure::parse(value)?,
            "align" => {
                self.align = match value {
                    "auto" => true,
                    "off" => false,
                    v => return Err(format!("'{v}' (auto or off)")),
                }
            }
            "timeout" => self.timeout = parse_duration(value)?,
            "restore-delay" => self.restore_delay = parse_duration(value)?,
            "mode" => {
                if !MODES.contains(&value) {
                    return Err(format!("'{value}' (primary-preferred or sticky)"));
                }
                self.mode = value.into();
                self.mode_set = true;
            }
            "crossfade" => self.crossfade = parse_duration(value)?,
            "bitrate" => {
                self.bitrate = value
                    .parse()
                    .ok()
                    .filter(|b| (8_000..=512_000).contains(b))
                    .ok_or_else(|| format!("'{value}' (8000..512000)"))?;
            }
            "encoder" => {
                if !ENCODERS.contains(&value) {
                    return Err(format!("'{value}' (avenc_aac or voaacenc)"));
                }
                self.encoder = value.into();
            }
            "latency" => self.latency = parse_duration(value)?,
            "reconnect-delay" => self.reconnect_delay = parse_duration(value)?.max(MIN_RECONNECT),
            "reconnect-max" => self.reconnect_max = parse_duration(value)?,
            "watchdog" => {
                self.watchdog = parse_duration(value)?;
                self.watchdog_set = true;
            }
            "ladder" => self.ladder = crate::av::ladder::parse_ladder(value)?,
            other => return Err(format!("unknown option '{other}'")),
        }
        Ok(())
    }
}

/// A station id: 1 to 64 of `A-Z a-z 0-9 _ . -` (it becomes part of URLs, mount
/// names, file names and metric labels).
pub fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{id}' (a station id is 1 to 64 letters, digits, '_', '.' or '-')"
        ))
    }
}

/// `1s`, `250ms`, `1.5` (seconds), `2000us`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad duration '{s}' (examples: 1s, 250ms, 1.5)"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("bad duration '{s}': must be >= 0"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2000us").unwrap(), Duration::from_millis(2));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn every_option_is_settable_and_checked() {
        let mut c = StationConfig::new("", "", "");
        for key in OPTIONS {
            let good = match key {
                "setup" => "decode",
                "measure" => "output",
                "align" => "off",
                "mode" => "sticky",
                "bitrate" => "64000",
                "encoder" => "avenc_aac",
                "ladder" => "480p,360p",
                "timeout" | "restore-delay" | "crossfade" | "latency" | "reconnect-delay"
                | "reconnect-max" | "watchdog" => "250ms",
                _ => "x",
            };
            c.set(key, good).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
        assert_eq!(c.id, "x");
        assert_eq!(c.setup, Setup::Decode);
        assert_eq!(c.measure, Measure::Output);
        assert!(!c.align);
        assert_eq!(c.reconnect_delay, Duration::from_millis(250));
        assert_eq!(c.bitrate, 64000);
        assert_eq!(crate::av::ladder::ladder_string(&c.ladder), "480p,360p");
        for (key, bad) in [
            ("ladder", "500p"),
            ("id", "a b"),
            ("id", ""),
            ("setup", "transcode"),
            ("measure", "some"),
            ("align", "manual"),
            ("timeout", "soon"),
            ("mode", "random"),
            ("bitrate", "1"),
            ("encoder", "lame"),
            ("colour", "blue"),
        ] {
            assert!(c.set(key, bad).is_err(), "{key}={bad}");
        }
    }

    #[test]
    fn who_aligns() {
        let mut c = StationConfig::new("", "", "");
        assert_eq!(c.align_by(), "relay");
        c.measure = Measure::Output;
        assert_eq!(c.align_by(), "off");
        c.setup = Setup::Decode;
        assert_eq!(c.align_by(), "switch");
        c.align = false;
        assert_eq!(c.align_by(), "off");
    }

    #[test]
    fn setups_round_trip() {
        for s in [Setup::Passthrough, Setup::Decode] {
            assert_eq!(Setup::parse(s.as_str()), Ok(s));
        }
        assert!(Setup::parse("transcode").is_err());
    }
}

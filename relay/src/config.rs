// SPDX-License-Identifier: MPL-2.0
//! What one station is: its inputs, its output and the switch's policy. Plain Rust,
//! no GStreamer types; filled from the command line today (`args`), from a file of
//! many stations later. Values are checked where they are parsed; the URLs are
//! checked when the station is built (`input`, `output`).

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

/// `failoverswitch`'s `mode` values.
pub const MODES: [&str; 2] = ["primary-preferred", "sticky"];

/// Encoders the decode setup can use.
pub const ENCODERS: [&str; 2] = ["voaacenc", "avenc_aac"];

/// One station: a primary and a secondary input switched onto one output.
#[derive(Debug, Clone, PartialEq)]
pub struct StationConfig {
    /// Input URLs (`http://host:port/mount`).
    pub primary: String,
    pub secondary: String,
    /// Output URL (`icecast://source:PASSWORD@host:port/mount`, or `-` for stdout).
    pub output: String,
    pub setup: Setup,
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
}

impl StationConfig {
    /// A station with these inputs and output and every option at its default.
    pub fn new(primary: &str, secondary: &str, output: &str) -> StationConfig {
        StationConfig {
            primary: primary.into(),
            secondary: secondary.into(),
            output: output.into(),
            setup: Setup::Passthrough,
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
        }
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
    fn setups_round_trip() {
        for s in [Setup::Passthrough, Setup::Decode] {
            assert_eq!(Setup::parse(s.as_str()), Ok(s));
        }
        assert!(Setup::parse("transcode").is_err());
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Command line of `failover-relay` (no GStreamer types, unit-tested).

use std::time::Duration;

pub const USAGE: &str = "\
failover-relay: relay a live AAC stream from a primary and a secondary Icecast mount
to an output mount, switching with `failoverswitch` without dropping listeners.

USAGE:
  failover-relay --primary URL --secondary URL --output URL [OPTIONS]

  --primary URL          primary input (http://host:port/mount)
  --secondary URL        secondary (backup) input
  --output URL           icecast://source:PASSWORD@host:port/mount (HTTP PUT source),
                         or - to write the ADTS stream to stdout
  --setup S              passthrough (AAC frames switched as they are; identical caps
                         required) or decode (decode, healthprobe, loudnessmatch with the
                         secondary matched to the primary, crossfade, encode once)
                         [default: passthrough]
  --timeout D            failoverswitch timeout [default: 1s]
  --restore-delay D      failoverswitch restore-delay [default: 5s]
  --mode M               primary-preferred or sticky [default: primary-preferred]
  --crossfade D          decode setup: crossfade at a switch [default: 20ms]
  --bitrate N            decode setup: output AAC bitrate in bit/s [default: 128000]
  --encoder E            decode setup: voaacenc (constant bitrate, also in silence) or
                         avenc_aac [default: voaacenc]
  --latency D            head-room given to each input's timestamps [default: 300ms]
  --reconnect-delay D    wait before reconnecting a dropped input [default: 1s]
  --events FILE          append one line per event (switch, health, reconnect, warning)
  --timeline FILE        write a CSV row every 500 ms (active input, health, loudness)
  --quiet                no live status line
  -h, --help             this text

Durations: 1s, 250ms, 1.5 (seconds). Ctrl-C or SIGTERM stops the relay cleanly.
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    Passthrough,
    Decode,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub primary: String,
    pub secondary: String,
    pub output: String,
    pub setup: Setup,
    pub timeout: Duration,
    pub restore_delay: Duration,
    pub mode: String,
    pub crossfade: Duration,
    pub bitrate: u32,
    pub encoder: String,
    pub latency: Duration,
    pub reconnect_delay: Duration,
    pub events: Option<String>,
    pub timeline: Option<String>,
    pub quiet: bool,
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

impl Args {
    /// Parses the arguments (without the program name). `Ok(None)` means `--help`.
    pub fn parse<I: IntoIterator<Item = String>>(it: I) -> Result<Option<Args>, String> {
        let mut a = Args {
            primary: String::new(),
            secondary: String::new(),
            output: String::new(),
            setup: Setup::Passthrough,
            timeout: Duration::from_secs(1),
            restore_delay: Duration::from_secs(5),
            mode: "primary-preferred".into(),
            crossfade: Duration::from_millis(20),
            bitrate: 128_000,
            // Constant bitrate even in silence: Icecast passes data to listeners in
            // ~1400-byte blocks, and avenc_aac's 7-byte silent frames would come
            // out in bursts seconds apart.
            encoder: "voaacenc".into(),
            latency: Duration::from_millis(300),
            reconnect_delay: Duration::from_secs(1),
            events: None,
            timeline: None,
            quiet: false,
        };
        let mut it = it.into_iter();
        while let Some(arg) = it.next() {
            let (key, inline) = match arg.split_once('=') {
                Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = || -> Result<String, String> {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| format!("{key} needs a value"))
            };
            match key.as_str() {
                "-h" | "--help" => return Ok(None),
                "--primary" => a.primary = value()?,
                "--secondary" => a.secondary = value()?,
                "--output" => a.output = value()?,
                "--setup" => {
                    a.setup = match value()?.as_str() {
                        "passthrough" => Setup::Passthrough,
                        "decode" => Setup::Decode,
                        v => return Err(format!("--setup: '{v}' (passthrough or decode)")),
                    }
                }
                "--timeout" => a.timeout = parse_duration(&value()?)?,
                "--restore-delay" => a.restore_delay = parse_duration(&value()?)?,
                "--mode" => {
                    let v = value()?;
                    if v != "primary-preferred" && v != "sticky" {
                        return Err(format!("--mode: '{v}' (primary-preferred or sticky)"));
                    }
                    a.mode = v;
                }
                "--crossfade" => a.crossfade = parse_duration(&value()?)?,
                "--bitrate" => {
                    let v = value()?;
                    a.bitrate = v
                        .parse()
                        .ok()
                        .filter(|b| (8_000..=512_000).contains(b))
                        .ok_or_else(|| format!("--bitrate: '{v}' (8000..512000)"))?;
                }
                "--encoder" => {
                    let v = value()?;
                    if v != "avenc_aac" && v != "voaacenc" {
                        return Err(format!("--encoder: '{v}' (avenc_aac or voaacenc)"));
                    }
                    a.encoder = v;
                }
                "--latency" => a.latency = parse_duration(&value()?)?,
                "--reconnect-delay" => a.reconnect_delay = parse_duration(&value()?)?,
                "--events" => a.events = Some(value()?),
                "--timeline" => a.timeline = Some(value()?),
                "--quiet" => a.quiet = true,
                other => return Err(format!("unknown argument '{other}' (see --help)")),
            }
        }
        for (name, v) in [
            ("--primary", &a.primary),
            ("--secondary", &a.secondary),
            ("--output", &a.output),
        ] {
            if v.is_empty() {
                return Err(format!("{name} is required (see --help)"));
            }
        }
        Ok(Some(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Option<Args>, String> {
        Args::parse(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn full_command_line() {
        let a = parse(&[
            "--primary",
            "http://h:1/a.aac",
            "--secondary=http://h:1/b.aac",
            "--output",
            "-",
            "--setup",
            "decode",
            "--timeout",
            "500ms",
            "--restore-delay",
            "2s",
            "--mode",
            "sticky",
            "--quiet",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.secondary, "http://h:1/b.aac");
        assert_eq!(a.setup, Setup::Decode);
        assert_eq!(a.timeout, Duration::from_millis(500));
        assert_eq!(a.restore_delay, Duration::from_secs(2));
        assert_eq!(a.mode, "sticky");
        assert!(a.quiet);
    }

    #[test]
    fn refusals() {
        assert!(parse(&["--primary", "x"]).is_err());
        assert!(
            parse(&[
                "--primary",
                "a",
                "--secondary",
                "b",
                "--output",
                "c",
                "--mode",
                "x"
            ])
            .is_err()
        );
        assert!(parse(&["--bogus"]).is_err());
        assert_eq!(parse(&["--help"]).unwrap(), None);
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Command line of `gst-failover-relay` (no GStreamer types, unit-tested).

use crate::config::{ENCODERS, MODES, Setup, StationConfig, parse_duration};
use std::time::Duration;

/// Reconnections are never closer than this (nothing spins).
const MIN_RECONNECT: Duration = Duration::from_millis(100);

pub const USAGE: &str = "\
gst-failover-relay: relay a live AAC stream from a primary and a secondary Icecast mount
to an output mount, switching with `failoverswitch` without dropping listeners.

USAGE:
  gst-failover-relay --primary URL --secondary URL --output URL [OPTIONS]

  --primary URL          primary input (http://host:port/mount, or rtmp://host/app/stream:
                         its AAC audio)
  --secondary URL        secondary (backup) input
  --output URL           icecast://source:PASSWORD@host:port/mount (HTTP PUT source),
                         or - to write the ADTS stream to stdout, or
                         rtmp://host[:port]/app/stream: an A/V station (rtmp:// inputs,
                         H.264 + AAC passed through, audio and video switched as one)
  --ladder LIST          A/V station: transcoded variants, e.g. 480p,360p (of 1080p,
                         720p, 480p, 360p, 240p), each published to OUTPUT_480p, ...
  --setup S              passthrough (AAC frames switched as they are; identical caps
                         required) or decode (decode, healthprobe, loudnessmatch with the
                         secondary matched to the primary, crossfade, encode once)
                         [default: passthrough]
  --timeout D            failoverswitch timeout [default: 1s]
  --restore-delay D      failoverswitch restore-delay [default: 5s]
  --mode M               primary-preferred or sticky [default: primary-preferred;
                         sticky for an A/V station]
  --crossfade D          decode setup: crossfade at a switch [default: 20ms]
  --bitrate N            decode setup: output AAC bitrate in bit/s [default: 128000]
  --encoder E            decode setup: voaacenc (constant bitrate, also in silence) or
                         avenc_aac [default: voaacenc]
  --latency D            hold the output back D (failoverswitch latency): the backup's
                         data then fills a stalled input's outage, the listener hears
                         no pause at a stall failover (set it to the timeout or more);
                         0: no delay, a pause of about the timeout [default: 0]
  --watchdog D           reconnect an input that stays unhealthy (stalled, late, or
                         without fresh data) for D [default: 3s]
  --reconnect-delay D    wait before reconnecting a dropped input; attempts that bring
                         no fresh data back off 2x each time... [default: 500ms]
  --reconnect-max D      ...up to D between attempts [default: 2s]
  --events FILE          append one line per event (switch, health, reconnect, warning)
  --timeline FILE        write a CSV row every 500 ms (active input, health, loudness)
  --quiet                no live status line
  -h, --help             this text

Durations: 1s, 250ms, 1.5 (seconds). Ctrl-C or SIGTERM stops the relay cleanly.
";

/// The command line: one station and where its logs go.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub station: StationConfig,
    pub events: Option<String>,
    pub timeline: Option<String>,
    pub quiet: bool,
}

impl Args {
    /// Parses the arguments (without the program name). `Ok(None)` means `--help`.
    pub fn parse<I: IntoIterator<Item = String>>(it: I) -> Result<Option<Args>, String> {
        let mut a = Args {
            station: StationConfig::new("", "", ""),
            events: None,
            timeline: None,
            quiet: false,
        };
        let st = &mut a.station;
        let mut mode_given = false;
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
                "--primary" => st.primary = value()?,
                "--secondary" => st.secondary = value()?,
                "--output" => st.output = value()?,
                "--setup" => {
                    st.setup = Setup::parse(&value()?).map_err(|e| format!("--setup: {e}"))?
                }
                "--timeout" => st.timeout = parse_duration(&value()?)?,
                "--restore-delay" => st.restore_delay = parse_duration(&value()?)?,
                "--mode" => {
                    let v = value()?;
                    if !MODES.contains(&v.as_str()) {
                        return Err(format!("--mode: '{v}' (primary-preferred or sticky)"));
                    }
                    st.mode = v;
                    mode_given = true;
                }
                "--ladder" => {
                    st.ladder = crate::av::ladder::parse_ladder(&value()?)
                        .map_err(|e| format!("--ladder: {e}"))?
                }
                "--crossfade" => st.crossfade = parse_duration(&value()?)?,
                "--bitrate" => {
                    let v = value()?;
                    st.bitrate = v
                        .parse()
                        .ok()
                        .filter(|b| (8_000..=512_000).contains(b))
                        .ok_or_else(|| format!("--bitrate: '{v}' (8000..512000)"))?;
                }
                "--encoder" => {
                    let v = value()?;
                    if !ENCODERS.contains(&v.as_str()) {
                        return Err(format!("--encoder: '{v}' (avenc_aac or voaacenc)"));
                    }
                    st.encoder = v;
                }
                "--latency" => st.latency = parse_duration(&value()?)?,
                "--reconnect-delay" => {
                    st.reconnect_delay = parse_duration(&value()?)?.max(MIN_RECONNECT)
                }
                "--reconnect-max" => st.reconnect_max = parse_duration(&value()?)?,
                "--watchdog" => st.watchdog = parse_duration(&value()?)?,
                "--events" => a.events = Some(value()?),
                "--timeline" => a.timeline = Some(value()?),
                "--quiet" => a.quiet = true,
                other => return Err(format!("unknown argument '{other}' (see --help)")),
            }
        }
        for (name, v) in [
            ("--primary", &st.primary),
            ("--secondary", &st.secondary),
            ("--output", &st.output),
        ] {
            if v.is_empty() {
                return Err(format!("{name} is required (see --help)"));
            }
        }
        // The video platform's policy: an A/V station stays on the backup.
        if !mode_given && crate::output::rtmp::is_rtmp(&st.output) {
            st.mode = "sticky".into();
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
        let st = &a.station;
        assert_eq!(st.secondary, "http://h:1/b.aac");
        assert_eq!(st.setup, Setup::Decode);
        assert_eq!(st.timeout, Duration::from_millis(500));
        assert_eq!(st.restore_delay, Duration::from_secs(2));
        assert_eq!(st.mode, "sticky");
        assert_eq!(st.encoder, "voaacenc");
        assert!(a.quiet);
        assert_eq!(st.latency, Duration::ZERO);
        assert_eq!(st.watchdog, Duration::from_secs(3));
    }

    #[test]
    fn input_lifecycle_options() {
        let a = parse(&[
            "--primary",
            "rtmp://h/live/a",
            "--secondary",
            "http://h:1/b.aac",
            "--output",
            "-",
            "--latency",
            "1.5s",
            "--watchdog",
            "5s",
            "--reconnect-delay",
            "0",
            "--reconnect-max",
            "10s",
        ])
        .unwrap()
        .unwrap();
        let st = &a.station;
        assert_eq!(st.latency, Duration::from_millis(1500));
        assert_eq!(st.watchdog, Duration::from_secs(5));
        // Never a reconnection loop without a pause.
        assert_eq!(st.reconnect_delay, MIN_RECONNECT);
        assert_eq!(st.reconnect_max, Duration::from_secs(10));
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

// SPDX-License-Identifier: MPL-2.0
//! Command line of `gst-failover-relay` (no GStreamer types, unit-tested).

use crate::config::{OPTIONS, StationConfig};
use crate::secrets;
use std::net::SocketAddr;

pub const USAGE: &str = "\
gst-failover-relay: relay live AAC streams, each from a primary and a secondary Icecast
mount to an output mount, switching with `failoverswitch` without dropping listeners.

USAGE:
  gst-failover-relay --primary URL --secondary URL --output URL [OPTIONS]   one station
  gst-failover-relay --config stations.toml [--http ADDR:PORT] [--quiet]     many stations

  --primary URL          primary input (http://host:port/mount, or rtmp://host/app/stream:
                         its AAC audio)
  --secondary URL        secondary (backup) input
  --output URL           icecast://source:PASSWORD@host:port/mount (HTTP PUT source;
                         without :PASSWORD it is read from RELAY_SOURCE_PASSWORD),
                         or - to write the ADTS stream to stdout, or
                         rtmp://host[:port]/app/stream: an A/V station (rtmp:// inputs,
                         H.264 + AAC passed through, audio and video switched as one)
  --ladder LIST          A/V station: transcoded variants, e.g. 480p,360p (of 1080p,
                         720p, 480p, 360p, 240p), each published to OUTPUT_480p, ...
  --setup S              passthrough (AAC frames switched as they are; identical caps
                         required) or decode (decode, healthprobe, loudnessmatch with the
                         secondary matched to the primary, crossfade, encode once)
                         [default: passthrough]
  --measure M            which streams are decoded only to measure their loudness (for
                         the status line, /status, /metrics): all (both inputs and the
                         output), output, or none (passthrough then decodes nothing: about
                         a third of the CPU) [default: all]
  --align A              auto: align the inputs by content so a switch neither repeats
                         nor skips programme (decode: the switch measures; passthrough:
                         the relay measures the inputs' side branches, needs --measure
                         all), or off [default: auto]
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
                         without fresh data) for D [default: 3s; 11s for an A/V
                         station: a new RTMP connection may wait a GOP for data]
  --reconnect-delay D    wait before reconnecting a dropped input; attempts that bring
                         no fresh data back off 2x each time... [default: 500ms]
  --reconnect-max D      ...up to D between attempts [default: 2s]
  --id NAME              the station's name in logs, /status and /metrics [default: relay]
  --events FILE          append one line per event (switch, health, reconnect, warning,
                         aligned)
  --timeline FILE        write a CSV row every 500 ms (active input, health, loudness,
                         measured offset)

  --config FILE          run the stations of a TOML file (one [[station]] table each, with
                         the options above as keys; see docs/relay.md); SIGHUP re-reads it
                         and starts, stops or restarts only the stations that changed
  --http ADDR:PORT       serve GET /health, /status, /metrics and
                         POST /stations/<id>/switch?to=primary|secondary (the POST needs
                         the token of [http] token or RELAY_HTTP_TOKEN off loopback)
  --quiet                no live status line
  -h, --help             this text

Durations: 1s, 250ms, 1.5 (seconds). Ctrl-C or SIGTERM stops the relay cleanly.
";

/// The command line: one station, or a stations file; HTTP and log settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// The station of a single-station command line.
    pub station: StationConfig,
    /// `--config`: the stations file (then `station` is unused).
    pub config: Option<String>,
    pub http: Option<SocketAddr>,
    pub events: Option<String>,
    pub timeline: Option<String>,
    pub quiet: bool,
}

impl Args {
    /// Parses the arguments (without the program name). `Ok(None)` means `--help`.
    /// `env` reads environment variables (the output's source password).
    pub fn parse<I: IntoIterator<Item = String>>(it: I) -> Result<Option<Args>, String> {
        Args::parse_with_env(it, &secrets::env_lookup)
    }

    pub fn parse_with_env<I: IntoIterator<Item = String>>(
        it: I,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Args>, String> {
        let mut a = Args {
            station: StationConfig::new("", "", ""),
            config: None,
            http: None,
            events: None,
            timeline: None,
            quiet: false,
        };
        let mut station_options = Vec::new();
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
            let name = key.strip_prefix("--").unwrap_or("");
            match key.as_str() {
                "-h" | "--help" => return Ok(None),
                "--config" => a.config = Some(value()?),
                "--http" => {
                    let v = value()?;
                    a.http = Some(v.parse().map_err(|_| {
                        format!("--http: '{v}' is not ADDRESS:PORT (e.g. 127.0.0.1:9000)")
                    })?);
                }
                "--events" => a.events = Some(value()?),
                "--timeline" => a.timeline = Some(value()?),
                "--quiet" => a.quiet = true,
                _ if OPTIONS.contains(&name) => {
                    let v = value()?;
                    a.station.set(name, &v).map_err(|e| format!("{key}: {e}"))?;
                    station_options.push(key.clone());
                }
                other => return Err(format!("unknown argument '{other}' (see --help)")),
            }
        }
        if a.config.is_some() {
            let mut clash = station_options;
            clash.extend(a.events.as_ref().map(|_| "--events".to_string()));
            clash.extend(a.timeline.as_ref().map(|_| "--timeline".to_string()));
            if !clash.is_empty() {
                return Err(format!(
                    "--config: station options belong in the stations file ({})",
                    clash.join(", ")
                ));
            }
            return Ok(Some(a));
        }
        let st = &mut a.station;
        for (name, v) in [
            ("--primary", &st.primary),
            ("--secondary", &st.secondary),
            ("--output", &st.output),
        ] {
            if v.is_empty() {
                return Err(format!("{name} is required (see --help)"));
            }
        }
        if let Some(pw) = env(secrets::SOURCE_PASSWORD_ENV).filter(|p| !p.is_empty()) {
            st.output = secrets::with_source_credentials(&st.output, "source", &pw);
        }
        Ok(Some(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MIN_RECONNECT, Setup};
    use std::time::Duration;

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
        assert!(
            parse(&["--timeout", "1x"])
                .unwrap_err()
                .starts_with("--timeout: bad duration")
        );
        assert_eq!(parse(&["--help"]).unwrap(), None);
    }

    #[test]
    fn config_file_mode() {
        let a = parse(&["--config", "s.toml", "--http", "127.0.0.1:9000", "--quiet"])
            .unwrap()
            .unwrap();
        assert_eq!(a.config.as_deref(), Some("s.toml"));
        assert_eq!(a.http, Some("127.0.0.1:9000".parse().unwrap()));
        let e = parse(&["--config", "s.toml", "--timeout", "1s"]).unwrap_err();
        assert!(e.contains("belong in the stations file (--timeout)"), "{e}");
        assert!(parse(&["--config", "s.toml", "--http", "nowhere"]).is_err());
    }

    #[test]
    fn the_source_password_may_come_from_the_environment() {
        let env = |n: &str| (n == secrets::SOURCE_PASSWORD_ENV).then(|| "envpw".to_string());
        let args = [
            "--primary",
            "http://h/a",
            "--secondary",
            "http://h/b",
            "--output",
        ];
        let with = |out: &str| {
            let v: Vec<String> = args
                .iter()
                .map(|s| s.to_string())
                .chain([out.to_string()])
                .collect();
            Args::parse_with_env(v, &env)
                .unwrap()
                .unwrap()
                .station
                .output
        };
        assert_eq!(
            with("icecast://h:1/o.aac"),
            "icecast://source:envpw@h:1/o.aac"
        );
        assert_eq!(
            with("icecast://source:given@h:1/o.aac"),
            "icecast://source:given@h:1/o.aac"
        );
        assert_eq!(with("-"), "-");
    }
}

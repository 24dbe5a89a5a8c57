// SPDX-License-Identifier: MPL-2.0
//! The control language: one command per line.
//!
//! ```text
//! pass                     forward everything (the default)
//! blackhole                keep connections open, forward nothing
//! throttle BYTES_PER_SEC   forward at most this many bytes per second, each way
//! jitter MS                delay each chunk by a random 0..=MS ms (order kept)
//! flap OFF EVERY [MODE]    OFF seconds of MODE every EVERY seconds, starting now;
//!                          MODE: blackhole (default), refuse, drop or reset
//! stall SECS               blackhole for SECS seconds, then pass
//! refuse                   refuse new connections (existing ones pass)
//! drop                     close every connection normally (FIN), mode unchanged
//! reset                    close every connection with a RST, mode unchanged
//! status                   report the mode and the open connections
//! quit                     stop the proxy
//! ```
//! Durations are seconds with an optional fraction (`0.5`).

use std::time::Duration;

/// What the link does during the off part of a flap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffMode {
    Blackhole,
    Refuse,
    Drop,
    Reset,
}

impl OffMode {
    pub fn name(self) -> &'static str {
        match self {
            OffMode::Blackhole => "blackhole",
            OffMode::Refuse => "refuse",
            OffMode::Drop => "drop",
            OffMode::Reset => "reset",
        }
    }
}

/// The fault mode of the link (it stays until the next mode command).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Pass,
    Blackhole,
    Throttle(u64),
    Jitter(u64),
    Flap {
        off: Duration,
        every: Duration,
        off_mode: OffMode,
    },
    Stall(Duration),
    Refuse,
}

impl Mode {
    /// The command that sets this mode, as logged.
    pub fn describe(&self) -> String {
        match self {
            Mode::Pass => "pass".into(),
            Mode::Blackhole => "blackhole".into(),
            Mode::Throttle(r) => format!("throttle {r}"),
            Mode::Jitter(ms) => format!("jitter {ms}"),
            Mode::Flap {
                off,
                every,
                off_mode,
            } => format!(
                "flap {} {} {}",
                off.as_secs_f64(),
                every.as_secs_f64(),
                off_mode.name()
            ),
            Mode::Stall(d) => format!("stall {}", d.as_secs_f64()),
            Mode::Refuse => "refuse".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Mode(Mode),
    Drop,
    Reset,
    Status,
    Quit,
}

fn seconds(word: Option<&str>, what: &str) -> Result<Duration, String> {
    let w = word.ok_or_else(|| format!("{what}: missing seconds"))?;
    let v: f64 = w
        .parse()
        .map_err(|_| format!("{what}: '{w}' is not a number of seconds"))?;
    if !v.is_finite() || !(0.0..=1e6).contains(&v) {
        return Err(format!("{what}: {w} s is out of range"));
    }
    Ok(Duration::from_secs_f64(v))
}

fn count(word: Option<&str>, what: &str, min: u64) -> Result<u64, String> {
    let w = word.ok_or_else(|| format!("{what}: missing number"))?;
    let v: u64 = w
        .parse()
        .map_err(|_| format!("{what}: '{w}' is not a whole number"))?;
    if v < min {
        return Err(format!("{what}: {v} is below {min}"));
    }
    Ok(v)
}

/// Parses one command line (surrounding blanks and case of the keyword ignored).
pub fn parse(line: &str) -> Result<Command, String> {
    let mut words = line.split_whitespace();
    let Some(keyword) = words.next() else {
        return Err("empty command".into());
    };
    let keyword = keyword.to_ascii_lowercase();
    let cmd = match keyword.as_str() {
        "pass" => Command::Mode(Mode::Pass),
        "blackhole" => Command::Mode(Mode::Blackhole),
        "throttle" => Command::Mode(Mode::Throttle(count(words.next(), "throttle", 1)?)),
        "jitter" => Command::Mode(Mode::Jitter(count(words.next(), "jitter", 0)?)),
        "stall" => Command::Mode(Mode::Stall(seconds(words.next(), "stall")?)),
        "refuse" => Command::Mode(Mode::Refuse),
        "flap" => {
            let off = seconds(words.next(), "flap")?;
            let every = seconds(words.next(), "flap")?;
            if every.is_zero() || off > every {
                return Err("flap: needs 0 <= OFF <= EVERY and EVERY > 0".into());
            }
            let off_mode = match words.next().map(str::to_ascii_lowercase).as_deref() {
                None | Some("blackhole") => OffMode::Blackhole,
                Some("refuse") => OffMode::Refuse,
                Some("drop") => OffMode::Drop,
                Some("reset") => OffMode::Reset,
                Some(other) => return Err(format!("flap: unknown mode '{other}'")),
            };
            Command::Mode(Mode::Flap {
                off,
                every,
                off_mode,
            })
        }
        "drop" => Command::Drop,
        "reset" => Command::Reset,
        "status" => Command::Status,
        "quit" => Command::Quit,
        other => return Err(format!("unknown command '{other}'")),
    };
    if let Some(extra) = words.next() {
        return Err(format!("{keyword}: unexpected '{extra}'"));
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command() {
        let ok = |l: &str| parse(l).unwrap();
        assert_eq!(ok("pass"), Command::Mode(Mode::Pass));
        assert_eq!(ok("  BLACKHOLE \r"), Command::Mode(Mode::Blackhole));
        assert_eq!(ok("throttle 4000"), Command::Mode(Mode::Throttle(4000)));
        assert_eq!(ok("jitter 250"), Command::Mode(Mode::Jitter(250)));
        assert_eq!(ok("jitter 0"), Command::Mode(Mode::Jitter(0)));
        assert_eq!(
            ok("stall 35"),
            Command::Mode(Mode::Stall(Duration::from_secs(35)))
        );
        assert_eq!(ok("refuse"), Command::Mode(Mode::Refuse));
        assert_eq!(
            ok("flap 1 3"),
            Command::Mode(Mode::Flap {
                off: Duration::from_secs(1),
                every: Duration::from_secs(3),
                off_mode: OffMode::Blackhole
            })
        );
        assert_eq!(
            ok("flap 0.5 2 reset"),
            Command::Mode(Mode::Flap {
                off: Duration::from_millis(500),
                every: Duration::from_secs(2),
                off_mode: OffMode::Reset
            })
        );
        assert_eq!(ok("drop"), Command::Drop);
        assert_eq!(ok("reset"), Command::Reset);
        assert_eq!(ok("status"), Command::Status);
        assert_eq!(ok("quit"), Command::Quit);
    }

    #[test]
    fn bad_commands_are_refused_with_a_reason() {
        for (line, why) in [
            ("", "empty"),
            ("   ", "empty"),
            ("throttle", "missing"),
            ("throttle 0", "below"),
            ("throttle -5", "not a whole number"),
            ("throttle 4k", "not a whole number"),
            ("jitter", "missing"),
            ("stall x", "not a number"),
            ("stall -1", "out of range"),
            ("stall inf", "out of range"),
            ("flap 3 1", "OFF <= EVERY"),
            ("flap 1 0", "EVERY > 0"),
            ("flap 1", "missing"),
            ("flap 1 3 sometimes", "unknown mode"),
            ("pass now", "unexpected"),
            ("throttle 100 200", "unexpected"),
            ("explode", "unknown command"),
        ] {
            let err = parse(line).unwrap_err();
            assert!(err.contains(why), "{line:?}: {err}");
        }
    }

    #[test]
    fn descriptions_parse_back() {
        for line in [
            "pass",
            "blackhole",
            "throttle 4000",
            "jitter 80",
            "flap 1 3 blackhole",
            "flap 0.5 2 drop",
            "stall 1.5",
            "refuse",
        ] {
            let Command::Mode(m) = parse(line).unwrap() else {
                panic!("{line} is a mode")
            };
            assert_eq!(parse(&m.describe()).unwrap(), Command::Mode(m), "{line}");
        }
    }
}

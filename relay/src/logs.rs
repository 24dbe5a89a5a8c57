// SPDX-License-Identifier: MPL-2.0
//! A station's log files: `--events` (one line per event, see
//! [`status::event_line`]) and `--timeline` (CSV, see [`status::TIMELINE_HEADER`]).
//! Both are read by `scripts/icecast/report.py`. Write errors are ignored: a full
//! disk must not stop the relay.

use crate::status;
use std::fs::File;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock seconds since the Unix epoch.
pub fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The open log files (none, one or both).
#[derive(Default)]
pub struct Logs {
    events: Option<File>,
    timeline: Option<File>,
}

fn create(path: Option<&str>, append: bool) -> Result<Option<File>, String> {
    path.map(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(p)
            .map_err(|e| format!("{p}: {e}"))
    })
    .transpose()
}

impl Logs {
    /// Creates the files (truncated) and writes the timeline's header.
    pub fn open(events: Option<&str>, timeline: Option<&str>) -> Result<Logs, String> {
        Logs::open_with(events, timeline, false)
    }

    /// [`Logs::open`], or with `append` the files of an earlier run of the same
    /// station (a restart) are continued.
    pub fn open_with(
        events: Option<&str>,
        timeline: Option<&str>,
        append: bool,
    ) -> Result<Logs, String> {
        let mut logs = Logs {
            events: create(events, append)?,
            timeline: create(timeline, append)?,
        };
        if let Some(f) = logs.timeline.as_mut() {
            let empty = f.metadata().map(|m| m.len() == 0).unwrap_or(true);
            if empty {
                let _ = writeln!(f, "{}", status::TIMELINE_HEADER);
            }
        }
        Ok(logs)
    }

    /// Appends one event line, now.
    pub fn event(&mut self, kind: &str, fields: &[(&str, String)]) {
        if let Some(f) = self.events.as_mut() {
            let _ = writeln!(f, "{}", status::event_line(epoch(), kind, fields));
            let _ = f.flush();
        }
    }

    /// Whether a timeline file is open.
    pub fn has_timeline(&self) -> bool {
        self.timeline.is_some()
    }

    /// Appends one timeline row.
    pub fn timeline(&mut self, row: &str) {
        if let Some(f) = self.timeline.as_mut() {
            let _ = writeln!(f, "{row}");
            let _ = f.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_get_header_and_lines() {
        let dir = std::env::temp_dir().join(format!("relay-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ev = dir.join("events.txt");
        let tl = dir.join("timeline.csv");
        let mut logs = Logs::open(ev.to_str(), tl.to_str()).unwrap();
        logs.event(
            "switch",
            &[("from", "primary".into()), ("reason", "eos".into())],
        );
        logs.timeline("1.000,1,1,1,,,,,0");
        let events = std::fs::read_to_string(&ev).unwrap();
        assert!(
            events.ends_with(" switch from=primary reason=eos\n"),
            "{events}"
        );
        let timeline = std::fs::read_to_string(&tl).unwrap();
        assert_eq!(
            timeline,
            format!("{}\n1.000,1,1,1,,,,,0\n", status::TIMELINE_HEADER)
        );
        // No files: nothing to do, no error.
        Logs::open(None, None).unwrap().event("start", &[]);
        assert!(Logs::open(Some("/nonexistent/dir/x"), None).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

// SPDX-License-Identifier: MPL-2.0
//! What the fuzz test knows about its two inputs: what each has delivered and when
//! (in running time), and the questions the invariants ask of that history: could
//! an input have been healthy at a moment, was it surely unhealthy, since when has
//! it been healthy without interruption.
//!
//! Decisions of the element are only seen between two looks at the bus, so every
//! question is asked about a window `(lo, hi]` and answered with `SLACK` to spare:
//! the checks flag only what the element cannot have got right.

pub const MS: u64 = 1_000_000;
/// The clock moves in slots of 10 ms; inputs deliver at slot boundaries.
pub const SLOT: u64 = 10 * MS;
/// Tolerance of the health questions (two slots).
pub const SLACK: u64 = 2 * SLOT;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// Mono F32LE at 48 kHz, 10 ms buffers.
    Raw,
    /// AAC-like units of 20 ms.
    Encoded,
}

impl Media {
    pub fn unit(self) -> u64 {
        match self {
            Media::Raw => 10 * MS,
            Media::Encoded => 20 * MS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapsKind {
    /// The caps both inputs start with.
    Normal,
    /// Different caps that mean the same format.
    Compatible,
    /// Another sample rate: never to be switched to.
    Incompatible,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Flowing,
    Stalled,
    Ended,
}

/// Something that happened to an input, at a running time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A unit was delivered; its data ends at this stream running time.
    Data {
        end: u64,
    },
    Ended,
    NewStream,
    Caps {
        compatible: bool,
    },
    /// A health verdict reached the switch (probe or application event).
    Verdict {
        healthy: bool,
    },
    Flush,
}

#[derive(Debug, Clone)]
pub struct InputModel {
    pub flow: Flow,
    /// Stream running time of the next unit.
    pub cursor: u64,
    /// Running time at which the next unit is due.
    pub next_arrival: u64,
    pub caps: CapsKind,
    pub silent: bool,
    /// Units delivered so far.
    pub units: u64,
    /// Duration of one unit.
    pub unit: u64,
    pub marks: Vec<(u64, Mark)>,
}

impl InputModel {
    pub fn new(unit: u64) -> Self {
        InputModel {
            unit,
            flow: Flow::Flowing,
            cursor: 0,
            next_arrival: 0,
            caps: CapsKind::Normal,
            silent: false,
            units: 0,
            marks: Vec::new(),
        }
    }

    pub fn mark(&mut self, rt: u64, m: Mark) {
        self.marks.push((rt, m));
    }

    /// Whether this input delivered data for any stream running time in
    /// `(from, to)`.
    pub fn had_data_within(&self, from: u64, to: u64) -> bool {
        self.marks.iter().any(|(_, m)| match m {
            Mark::Data { end } => *end > from && end.saturating_sub(self.unit) < to,
            _ => false,
        })
    }

    fn marks_until(&self, t: u64) -> impl DoubleEndedIterator<Item = &(u64, Mark)> {
        self.marks.iter().filter(move |(at, _)| *at <= t)
    }

    /// Last delivery at or before `t`: (arrival, end of its data).
    fn last_data(&self, t: u64) -> Option<(u64, u64)> {
        self.marks_until(t).rev().find_map(|(at, m)| match m {
            Mark::Data { end } => Some((*at, *end)),
            _ => None,
        })
    }

    /// Whether data came after the input's last EOS up to `t` (data before an EOS
    /// does not vouch for the stream after it: the switch waits for new data).
    fn data_since_end(&self, t: u64) -> bool {
        self.marks_until(t)
            .rev()
            .find_map(|(_, m)| match m {
                Mark::Data { .. } => Some(true),
                Mark::Ended => Some(false),
                _ => None,
            })
            .unwrap_or(false)
    }

    /// Whether the input had ended at `t` (EOS without a new stream since).
    fn ended(&self, t: u64) -> bool {
        self.marks_until(t)
            .rev()
            .find_map(|(_, m)| match m {
                Mark::Ended => Some(true),
                Mark::NewStream => Some(false),
                _ => None,
            })
            .unwrap_or(false)
    }

    fn caps_bad(&self, t: u64) -> bool {
        self.marks_until(t)
            .rev()
            .find_map(|(_, m)| match m {
                Mark::Caps { compatible } => Some(!compatible),
                _ => None,
            })
            .unwrap_or(false)
    }

    fn verdict_bad(&self, t: u64) -> bool {
        self.marks_until(t)
            .rev()
            .find_map(|(_, m)| match m {
                Mark::Verdict { healthy } => Some(!healthy),
                _ => None,
            })
            .unwrap_or(false)
    }

    /// Whether anything that can make an input healthy happened in `(lo, hi]`.
    fn improved_within(&self, lo: u64, hi: u64) -> bool {
        self.marks.iter().any(|(at, m)| {
            *at > lo
                && *at <= hi
                && matches!(
                    m,
                    Mark::Data { .. }
                        | Mark::NewStream
                        | Mark::Caps { compatible: true }
                        | Mark::Verdict { healthy: true }
                        | Mark::Flush
                )
        })
    }

    /// Surely unhealthy at `t`: no data for more than `timeout` (plus slack), ended,
    /// incompatible caps, or an unhealthy verdict.
    fn surely_unhealthy_at(&self, t: u64, timeout: u64) -> bool {
        let stale = self
            .last_data(t)
            .is_none_or(|(at, _)| t.saturating_sub(at) > timeout + SLACK);
        stale || self.ended(t) || self.caps_bad(t) || self.verdict_bad(t)
    }

    /// Surely unhealthy during the whole window `(lo, hi]`.
    pub fn surely_unhealthy(&self, lo: u64, hi: u64, timeout: u64) -> Option<String> {
        if self.surely_unhealthy_at(lo, timeout)
            && self.surely_unhealthy_at(hi, timeout)
            && !self.improved_within(lo, hi)
        {
            Some(self.describe(hi, timeout))
        } else {
            None
        }
    }

    /// Surely healthy during the whole window `(lo, hi]`: fresh data on time (not
    /// behind the output at `out_end`), not ended, good caps, no bad verdict, no
    /// flush, and nothing else happened in the window.
    pub fn surely_healthy(&self, lo: u64, hi: u64, timeout: u64, out_end: Option<u64>) -> bool {
        let fresh = |t: u64| {
            self.last_data(t).is_some_and(|(at, end)| {
                t.saturating_sub(at) + SLACK < timeout
                    && end + timeout > t + SLACK
                    && out_end.is_none_or(|o| end + 50 * MS + SLACK >= o)
            })
        };
        let disturbed = self
            .marks
            .iter()
            .any(|(at, m)| *at + SLACK > lo && *at <= hi && !matches!(m, Mark::Data { .. }));
        fresh(lo)
            && fresh(hi)
            && self.data_since_end(hi)
            && !disturbed
            && !self.ended(hi)
            && !self.caps_bad(hi)
            && !self.verdict_bad(hi)
    }

    /// Start of the healthy stretch that `t` is in: after the last moment up to `t`
    /// at which the input was surely unhealthy (a data gap over `timeout`, an end,
    /// bad caps or a bad verdict), its first data.
    pub fn healthy_since(&self, t: u64, timeout: u64) -> u64 {
        let mut since = 0;
        let mut prev_data: Option<u64> = None;
        let mut bad = false;
        for (at, m) in self.marks_until(t) {
            let blocked = self.caps_bad(*at) || self.verdict_bad(*at);
            match m {
                Mark::Data { .. } => {
                    let gap = prev_data.is_some_and(|p| at.saturating_sub(p) > timeout + SLACK);
                    if blocked {
                        bad = true;
                    } else if bad || gap {
                        since = *at;
                        bad = false;
                    }
                    prev_data = Some(*at);
                }
                Mark::Ended
                | Mark::Caps { compatible: false }
                | Mark::Verdict { healthy: false } => {
                    bad = true;
                }
                Mark::Caps { compatible: true } | Mark::Verdict { healthy: true } => {
                    let recent = prev_data.is_some_and(|p| at.saturating_sub(p) <= timeout + SLACK);
                    if bad && !blocked && recent && !self.ended(*at) {
                        since = since.max(*at);
                        bad = false;
                    }
                }
                Mark::NewStream | Mark::Flush => {}
            }
        }
        since
    }

    /// A short description of the input's state at `t`, for reports.
    pub fn describe(&self, t: u64, timeout: u64) -> String {
        let last = self.last_data(t);
        format!(
            "last data {} (data ends at {}), ended {}, bad caps {}, bad verdict {}, timeout {} ms",
            last.map_or("never".into(), |(at, _)| format!("at {} ms", at / MS)),
            last.map_or("-".into(), |(_, e)| format!("{} ms", e / MS)),
            self.ended(t),
            self.caps_bad(t),
            self.verdict_bad(t),
            timeout / MS
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flowing(from: u64, to: u64) -> InputModel {
        let mut m = InputModel::new(SLOT);
        let mut t = from;
        while t < to {
            m.mark(t, Mark::Data { end: t + SLOT });
            t += SLOT;
        }
        m
    }

    #[test]
    fn health_questions() {
        let timeout = 200 * MS;
        let m = flowing(0, 1000 * MS);
        assert!(m.surely_healthy(500 * MS, 510 * MS, timeout, None));
        assert!(m.surely_unhealthy(500 * MS, 510 * MS, timeout).is_none());
        // 1.5 s: 500 ms after the last data
        assert!(m.surely_unhealthy(1500 * MS, 1510 * MS, timeout).is_some());
        assert!(!m.surely_healthy(1500 * MS, 1510 * MS, timeout, None));
        // a data gap restarts the healthy stretch
        let mut m = flowing(0, 1000 * MS);
        for (t, mk) in flowing(1500 * MS, 3000 * MS).marks {
            m.mark(t, mk);
        }
        assert_eq!(m.healthy_since(2500 * MS, timeout), 1500 * MS);
        m.mark(2600 * MS, Mark::Verdict { healthy: false });
        m.mark(2700 * MS, Mark::Verdict { healthy: true });
        // (marks are recorded in time order)
        m.marks.sort_by_key(|(t, _)| *t);
        assert_eq!(m.healthy_since(2900 * MS, timeout), 2700 * MS);
        assert!(m.had_data_within(990 * MS, 1500 * MS));
        assert!(!m.had_data_within(1000 * MS, 1500 * MS));
        m.mark(3000 * MS, Mark::Ended);
        assert!(m.surely_unhealthy(3000 * MS, 3010 * MS, timeout).is_some());
        // Back from the EOS (flush): not vouched for by the data before it...
        m.mark(3010 * MS, Mark::Flush);
        m.mark(3010 * MS, Mark::NewStream);
        assert!(!m.surely_healthy(3050 * MS, 3060 * MS, timeout, None));
        // ...only by new data.
        for (t, mk) in flowing(3100 * MS, 3300 * MS).marks {
            m.mark(t, mk);
        }
        assert!(m.surely_healthy(3250 * MS, 3260 * MS, timeout, None));
    }
}

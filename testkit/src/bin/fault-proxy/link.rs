// SPDX-License-Identifier: MPL-2.0
//! What the link does at a given moment of a mode: the time plan of `flap` and
//! `stall`, and the effect of every mode on the data path and on new connections.

use std::time::Duration;

use crate::command::{Mode, OffMode};

/// The link's behaviour at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Link {
    /// Forward nothing (connections stay open).
    pub paused: bool,
    /// Refuse new connections.
    pub refuse: bool,
    /// Throttle each direction to this many bytes per second.
    pub rate: Option<u64>,
    /// Delay each chunk by up to this many ms.
    pub jitter_ms: u64,
}

impl Link {
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.paused {
            parts.push("blackhole".to_string());
        }
        if self.refuse {
            parts.push("refuse".to_string());
        }
        if let Some(r) = self.rate {
            parts.push(format!("throttle {r}"));
        }
        if self.jitter_ms > 0 {
            parts.push(format!("jitter {}", self.jitter_ms));
        }
        if parts.is_empty() {
            "pass".into()
        } else {
            parts.join(" + ")
        }
    }
}

/// Where a mode stands in its time plan: `off` during a fault period of a flap or
/// a stall (and for the constant faults), `cycle` counts the flap's periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    pub off: bool,
    pub cycle: u64,
}

/// Something to do once when a phase begins (a flap whose off part drops or
/// resets the connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Drop,
    Reset,
}

/// The link `elapsed` after `mode` was set.
pub fn link_at(mode: &Mode, elapsed: Duration) -> (Link, Phase) {
    let on = Phase {
        off: false,
        cycle: 0,
    };
    let off = Phase {
        off: true,
        cycle: 0,
    };
    match *mode {
        Mode::Pass => (Link::default(), on),
        Mode::Blackhole => (
            Link {
                paused: true,
                ..Link::default()
            },
            off,
        ),
        Mode::Throttle(r) => (
            Link {
                rate: Some(r),
                ..Link::default()
            },
            off,
        ),
        Mode::Jitter(ms) => (
            Link {
                jitter_ms: ms,
                ..Link::default()
            },
            off,
        ),
        Mode::Refuse => (
            Link {
                refuse: true,
                ..Link::default()
            },
            off,
        ),
        Mode::Stall(d) => {
            if elapsed < d {
                (
                    Link {
                        paused: true,
                        ..Link::default()
                    },
                    off,
                )
            } else {
                (Link::default(), on)
            }
        }
        Mode::Flap {
            off: off_len,
            every,
            off_mode,
        } => {
            let every_ns = every.as_nanos().max(1);
            let cycle = (elapsed.as_nanos() / every_ns) as u64;
            let pos = elapsed.as_nanos() % every_ns;
            let is_off = pos < off_len.as_nanos();
            let link = if is_off {
                match off_mode {
                    OffMode::Blackhole => Link {
                        paused: true,
                        ..Link::default()
                    },
                    // A link that is down: existing connections were dropped or
                    // reset when the period began; new ones are refused until it
                    // ends.
                    OffMode::Refuse | OffMode::Drop | OffMode::Reset => Link {
                        refuse: true,
                        ..Link::default()
                    },
                }
            } else {
                Link::default()
            };
            (link, Phase { off: is_off, cycle })
        }
    }
}

/// The action due when the link moves from phase `before` to `now` under `mode`.
pub fn edge(mode: &Mode, before: Option<Phase>, now: Phase) -> Option<Edge> {
    let Mode::Flap { off_mode, .. } = *mode else {
        return None;
    };
    let began = now.off && before != Some(now);
    match off_mode {
        OffMode::Drop if began => Some(Edge::Drop),
        OffMode::Reset if began => Some(Edge::Reset),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: f64) -> Duration {
        Duration::from_secs_f64(v)
    }

    #[test]
    fn constant_modes() {
        assert_eq!(link_at(&Mode::Pass, s(100.0)).0.describe(), "pass");
        assert!(link_at(&Mode::Blackhole, s(100.0)).0.paused);
        assert_eq!(link_at(&Mode::Throttle(4000), s(1.0)).0.rate, Some(4000));
        assert_eq!(link_at(&Mode::Jitter(80), s(1.0)).0.jitter_ms, 80);
        let refuse = link_at(&Mode::Refuse, s(1.0)).0;
        assert!(refuse.refuse && !refuse.paused);
        assert_eq!(refuse.describe(), "refuse");
    }

    #[test]
    fn stall_is_a_blackhole_then_pass() {
        let m = Mode::Stall(s(35.0));
        assert!(link_at(&m, s(0.0)).0.paused);
        assert!(link_at(&m, s(34.999)).0.paused);
        let (link, phase) = link_at(&m, s(35.0));
        assert_eq!(link, Link::default());
        assert!(!phase.off);
    }

    #[test]
    fn flap_one_second_off_every_three() {
        let m = Mode::Flap {
            off: s(1.0),
            every: s(3.0),
            off_mode: OffMode::Blackhole,
        };
        let at = |t| link_at(&m, s(t));
        // off from the start of every period, for one second
        for (t, off, cycle) in [
            (0.0, true, 0),
            (0.999, true, 0),
            (1.0, false, 0),
            (2.9, false, 0),
            (3.0, true, 1),
            (4.5, false, 1),
            (60.5, true, 20),
        ] {
            let (link, phase) = at(t);
            assert_eq!(
                (link.paused, phase.off, phase.cycle),
                (off, off, cycle),
                "{t}"
            );
        }
        // blackhole flaps never drop or reset
        assert_eq!(edge(&m, None, at(0.0).1), None);
    }

    #[test]
    fn flap_with_reset_resets_once_per_period_and_refuses_meanwhile() {
        let m = Mode::Flap {
            off: s(1.0),
            every: s(3.0),
            off_mode: OffMode::Reset,
        };
        let mut before = None;
        let mut edges = Vec::new();
        for ms in (0..9000).step_by(10) {
            let (link, phase) = link_at(&m, Duration::from_millis(ms));
            assert_eq!(link.refuse, phase.off);
            assert!(!link.paused);
            if let Some(e) = edge(&m, before, phase) {
                edges.push((ms, e));
            }
            before = Some(phase);
        }
        assert_eq!(
            edges,
            vec![(0, Edge::Reset), (3000, Edge::Reset), (6000, Edge::Reset)]
        );
        let drop = Mode::Flap {
            off: s(1.0),
            every: s(3.0),
            off_mode: OffMode::Drop,
        };
        assert_eq!(
            edge(&drop, None, link_at(&drop, s(0.0)).1),
            Some(Edge::Drop)
        );
        assert_eq!(edge(&drop, None, link_at(&drop, s(1.5)).1), None);
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Health verdicts and the switching policy of `failoverswitch`.
//!
//! Pure logic, no GStreamer types: the element feeds it what happened on each input
//! and applies the decision it returns.

/// One of the two inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Input {
    Primary,
    Secondary,
}

impl Input {
    pub const BOTH: [Input; 2] = [Input::Primary, Input::Secondary];

    pub fn other(self) -> Input {
        match self {
            Input::Primary => Input::Secondary,
            Input::Secondary => Input::Primary,
        }
    }

    pub fn index(self) -> usize {
        match self {
            Input::Primary => 0,
            Input::Secondary => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Input::Primary => "primary",
            Input::Secondary => "secondary",
        }
    }

    /// Name used in messages for an optional input (`none` when there is none).
    pub fn name_of(input: Option<Input>) -> &'static str {
        input.map_or("none", Input::name)
    }
}

/// Why a switch happened (the `reason` field of `failover-switched`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Timeout,
    /// Data arrives, but more than `timeout` behind real time (a throttled link).
    Late,
    Eos,
    CapsMismatch,
    Health,
    Restored,
    Manual,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Late => "late",
            Reason::Eos => "eos",
            Reason::CapsMismatch => "caps-mismatch",
            Reason::Health => "health",
            Reason::Restored => "restored",
            Reason::Manual => "manual",
        }
    }

    /// Whether the outgoing input still delivers data after a switch for this reason,
    /// so that a crossfade can blend it out instead of only fading the new one in.
    pub fn outgoing_alive(self) -> bool {
        matches!(self, Reason::Manual | Reason::Restored | Reason::Health)
    }
}

/// Switching mode (`mode` property).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Go back to the primary once it has been healthy for `restore-delay`.
    #[default]
    PrimaryPreferred,
    /// Stay on the current input until it fails.
    Sticky,
}

/// Configuration of the policy.
#[derive(Debug, Clone, Copy)]
pub struct PolicyConfig {
    pub mode: Mode,
    pub auto_switch: bool,
    /// Nanoseconds the primary must be healthy before going back to it.
    pub restore_delay: u64,
}

/// What is known about one input's health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputHealth {
    /// The pad is not linked: the input is absent, never switched to or waited for.
    pub absent: bool,
    pub eos: bool,
    pub caps_mismatch: bool,
    /// An upstream `healthprobe` said the input is unhealthy.
    pub probe_unhealthy: bool,
    /// No data within `timeout`.
    pub timed_out: bool,
    /// Its data arrives more than `timeout` behind real time.
    pub late: bool,
    /// Since when (ns, on the policy's time base) the input has been healthy without
    /// interruption; `None` while unhealthy.
    pub healthy_since: Option<u64>,
}

impl InputHealth {
    /// Why the input is unhealthy, the most permanent cause first; `None` if healthy.
    pub fn fault(&self) -> Option<Reason> {
        if self.eos || self.absent {
            Some(Reason::Eos)
        } else if self.caps_mismatch {
            Some(Reason::CapsMismatch)
        } else if self.probe_unhealthy {
            Some(Reason::Health)
        } else if self.late {
            Some(Reason::Late)
        } else if self.timed_out {
            Some(Reason::Timeout)
        } else {
            None
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.fault().is_none()
    }

    /// Updates `healthy_since` after any change of the flags; returns whether the
    /// verdict (healthy or not) changed.
    pub fn settle(&mut self, was_healthy: bool, now: u64) -> bool {
        let healthy = self.is_healthy();
        if !healthy {
            self.healthy_since = None;
        } else if self.healthy_since.is_none() {
            self.healthy_since = Some(now);
        }
        healthy != was_healthy
    }

    /// An interruption of the data (a hole): restarts the restore hold-off.
    pub fn interrupted(&mut self, now: u64) {
        if self.healthy_since.is_some() {
            self.healthy_since = Some(now);
        }
    }
}

/// A decision to change the active input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    pub to: Option<Input>,
    pub reason: Reason,
}

/// Decides whether to switch, given the active input, both inputs' health and the
/// current time (on the same time base as `healthy_since`). `manual_hold`: the
/// application chose the active input; only its failure moves the output away.
pub fn decide(
    cfg: &PolicyConfig,
    active: Option<Input>,
    health: &[InputHealth; 2],
    now: u64,
    manual_hold: bool,
) -> Option<Switch> {
    if !cfg.auto_switch {
        return None;
    }
    let h = |i: Input| &health[i.index()];
    match active {
        Some(a) => {
            if let Some(reason) = h(a).fault() {
                let o = a.other();
                let to = h(o).is_healthy().then_some(o);
                return Some(Switch { to, reason });
            }
            let primary = h(Input::Primary);
            let restore_due = primary
                .healthy_since
                .is_some_and(|since| now.saturating_sub(since) >= cfg.restore_delay);
            let restore = cfg.mode == Mode::PrimaryPreferred && !manual_hold;
            (restore && a == Input::Secondary && restore_due).then_some(Switch {
                to: Some(Input::Primary),
                reason: Reason::Restored,
            })
        }
        None => Input::BOTH
            .into_iter()
            .find(|&i| h(i).is_healthy())
            .map(|i| Switch {
                to: Some(i),
                reason: Reason::Restored,
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn cfg(mode: Mode) -> PolicyConfig {
        PolicyConfig {
            mode,
            auto_switch: true,
            restore_delay: 5 * S,
        }
    }

    fn healthy(since: u64) -> InputHealth {
        InputHealth {
            healthy_since: Some(since),
            ..Default::default()
        }
    }

    fn timed_out() -> InputHealth {
        InputHealth {
            timed_out: true,
            ..Default::default()
        }
    }

    #[test]
    fn active_failure_switches_to_healthy_other() {
        let h = [timed_out(), healthy(0)];
        let d = decide(
            &cfg(Mode::PrimaryPreferred),
            Some(Input::Primary),
            &h,
            S,
            false,
        );
        assert_eq!(
            d,
            Some(Switch {
                to: Some(Input::Secondary),
                reason: Reason::Timeout
            })
        );
    }

    #[test]
    fn both_down_goes_to_none_with_most_permanent_reason() {
        let mut p = timed_out();
        p.eos = true;
        let h = [p, timed_out()];
        let d = decide(&cfg(Mode::Sticky), Some(Input::Primary), &h, S, false).unwrap();
        assert_eq!(d.to, None);
        assert_eq!(d.reason, Reason::Eos);
    }

    #[test]
    fn fault_order() {
        let mut h = InputHealth {
            timed_out: true,
            probe_unhealthy: true,
            ..Default::default()
        };
        assert_eq!(h.fault(), Some(Reason::Health));
        h.caps_mismatch = true;
        assert_eq!(h.fault(), Some(Reason::CapsMismatch));
        h.eos = true;
        assert_eq!(h.fault(), Some(Reason::Eos));
    }

    #[test]
    fn restore_only_after_restore_delay() {
        let c = cfg(Mode::PrimaryPreferred);
        let h = [healthy(10 * S), healthy(0)];
        assert_eq!(decide(&c, Some(Input::Secondary), &h, 14 * S, false), None);
        assert_eq!(
            decide(&c, Some(Input::Secondary), &h, 15 * S, false),
            Some(Switch {
                to: Some(Input::Primary),
                reason: Reason::Restored
            })
        );
    }

    #[test]
    fn sticky_stays_on_secondary_until_it_fails() {
        let c = cfg(Mode::Sticky);
        let mut h = [healthy(0), healthy(0)];
        assert_eq!(decide(&c, Some(Input::Secondary), &h, 100 * S, false), None);
        h[1].eos = true;
        assert_eq!(
            decide(&c, Some(Input::Secondary), &h, 100 * S, false),
            Some(Switch {
                to: Some(Input::Primary),
                reason: Reason::Eos
            })
        );
    }

    #[test]
    fn flapping_primary_never_restores() {
        // Primary up 300 ms, down 300 ms (a hole in its data each time) for a minute.
        let c = cfg(Mode::PrimaryPreferred);
        let mut h = [healthy(0), healthy(0)];
        let mut t = 0;
        while t < 60 * S {
            h[0].interrupted(t);
            for step in 0..30 {
                let now = t + step * 10_000_000;
                assert_eq!(decide(&c, Some(Input::Secondary), &h, now, false), None);
            }
            t += 600_000_000;
        }
    }

    #[test]
    fn a_manual_choice_holds_until_that_input_fails() {
        let c = cfg(Mode::PrimaryPreferred);
        let mut h = [healthy(0), healthy(0)];
        assert_eq!(decide(&c, Some(Input::Secondary), &h, 100 * S, true), None);
        h[1].late = true;
        assert_eq!(
            decide(&c, Some(Input::Secondary), &h, 100 * S, true),
            Some(Switch {
                to: Some(Input::Primary),
                reason: Reason::Late
            })
        );
    }

    #[test]
    fn an_absent_input_is_never_switched_to() {
        let c = cfg(Mode::PrimaryPreferred);
        let absent = InputHealth {
            absent: true,
            ..Default::default()
        };
        let h = [timed_out(), absent];
        let d = decide(&c, Some(Input::Primary), &h, S, false).unwrap();
        assert_eq!(d.to, None);
        assert_eq!(d.reason, Reason::Timeout);
        assert_eq!(decide(&c, None, &h, S, false), None);
    }

    #[test]
    fn settle_tracks_healthy_since() {
        let mut h = InputHealth::default();
        assert!(!h.settle(true, 3));
        assert_eq!(h.healthy_since, Some(3));
        h.timed_out = true;
        assert!(h.settle(true, 4));
        assert_eq!(h.healthy_since, None);
        h.timed_out = false;
        assert!(h.settle(false, 9));
        assert_eq!(h.healthy_since, Some(9));
        h.interrupted(12);
        assert_eq!(h.healthy_since, Some(12));
    }

    #[test]
    fn none_recovers_preferring_primary_and_manual_only_mode() {
        let c = cfg(Mode::PrimaryPreferred);
        let h = [healthy(5), healthy(0)];
        assert_eq!(
            decide(&c, None, &h, 5, false).unwrap().to,
            Some(Input::Primary)
        );
        let h2 = [timed_out(), healthy(0)];
        assert_eq!(
            decide(&c, None, &h2, 5, false).unwrap().to,
            Some(Input::Secondary)
        );
        let manual = PolicyConfig {
            auto_switch: false,
            ..c
        };
        assert_eq!(decide(&manual, Some(Input::Primary), &h2, 5, false), None);
    }
}

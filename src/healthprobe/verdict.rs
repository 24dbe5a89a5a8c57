// SPDX-License-Identifier: MPL-2.0
//! The health verdict: which condition wins, and what a report says.

/// Why a stream is (un)healthy. The string forms are the `reason` field of the
/// `health` message and of the `failover-health` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Ok,
    Stall,
    /// Live data arrives more than `stall-timeout` behind the clock.
    Late,
    Silence,
    LowBitrate,
    /// Information only: the stream is healthy but had discontinuities since the
    /// previous `health` message. Never a reason for an unhealthy verdict.
    Discont,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Ok => "ok",
            Reason::Stall => "stall",
            Reason::Late => "late",
            Reason::Silence => "silence",
            Reason::LowBitrate => "low-bitrate",
            Reason::Discont => "discont",
        }
    }
}

/// A verdict: healthy or not, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub healthy: bool,
    pub reason: Reason,
}

impl Verdict {
    pub const HEALTHY: Verdict = Verdict {
        healthy: true,
        reason: Reason::Ok,
    };
}

/// The conditions the probe watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conditions {
    pub stalled: bool,
    pub late: bool,
    pub silent: bool,
    pub low_bitrate: bool,
}

/// Combines the conditions. When several hold, the most fundamental one is named:
/// no data at all (stall) before data that comes too late to be used (late), before
/// data that is silent, before data that is too thin.
pub fn judge(c: Conditions) -> Verdict {
    let reason = if c.stalled {
        Reason::Stall
    } else if c.late {
        Reason::Late
    } else if c.silent {
        Reason::Silence
    } else if c.low_bitrate {
        Reason::LowBitrate
    } else {
        return Verdict::HEALTHY;
    };
    Verdict {
        healthy: false,
        reason,
    }
}

/// The reason a periodic report shows: the verdict's, except that a healthy stream
/// with discontinuities since the previous report says `discont`.
pub fn report_reason(verdict: Verdict, disconts_since_report: u64) -> Reason {
    if verdict.healthy && disconts_since_report > 0 {
        Reason::Discont
    } else {
        verdict.reason
    }
}

/// Holds the current verdict and tells when it changes.
#[derive(Debug, Clone)]
pub struct VerdictTracker {
    current: Verdict,
}

impl Default for VerdictTracker {
    fn default() -> Self {
        VerdictTracker {
            current: Verdict::HEALTHY,
        }
    }
}

impl VerdictTracker {
    pub fn current(&self) -> Verdict {
        self.current
    }

    /// Re-judges; returns the new verdict if it differs from the previous one (in
    /// health or in reason).
    pub fn update(&mut self, c: Conditions) -> Option<Verdict> {
        let v = judge(c);
        if v != self.current {
            self.current = v;
            Some(v)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(stalled: bool, silent: bool, low_bitrate: bool) -> Conditions {
        Conditions {
            stalled,
            late: false,
            silent,
            low_bitrate,
        }
    }

    #[test]
    fn priorities() {
        assert_eq!(judge(c(false, false, false)), Verdict::HEALTHY);
        assert_eq!(judge(c(true, true, true)).reason, Reason::Stall);
        assert_eq!(judge(c(false, true, true)).reason, Reason::Silence);
        assert_eq!(judge(c(false, false, true)).reason, Reason::LowBitrate);
        assert!(!judge(c(false, false, true)).healthy);
        let late = Conditions {
            late: true,
            ..c(false, true, true)
        };
        assert_eq!(judge(late).reason, Reason::Late);
        assert_eq!(
            judge(Conditions {
                late: true,
                ..c(true, false, false)
            })
            .reason,
            Reason::Stall
        );
    }

    #[test]
    fn tracker_reports_changes_only() {
        let mut t = VerdictTracker::default();
        assert_eq!(t.update(c(false, false, false)), None);
        let v = t.update(c(false, true, false)).unwrap();
        assert_eq!((v.healthy, v.reason.as_str()), (false, "silence"));
        assert_eq!(t.update(c(false, true, false)), None);
        // a change of reason while unhealthy is a change too
        assert_eq!(
            t.update(c(true, true, false)).unwrap().reason,
            Reason::Stall
        );
        assert_eq!(t.update(c(false, false, false)), Some(Verdict::HEALTHY));
        assert_eq!(t.current(), Verdict::HEALTHY);
    }

    #[test]
    fn discont_is_information_only() {
        assert_eq!(report_reason(Verdict::HEALTHY, 1), Reason::Discont);
        assert_eq!(report_reason(Verdict::HEALTHY, 0), Reason::Ok);
        let bad = judge(c(false, true, false));
        assert_eq!(report_reason(bad, 3), Reason::Silence);
    }

    #[test]
    fn reason_strings() {
        let all = [
            (Reason::Ok, "ok"),
            (Reason::Stall, "stall"),
            (Reason::Late, "late"),
            (Reason::Silence, "silence"),
            (Reason::LowBitrate, "low-bitrate"),
            (Reason::Discont, "discont"),
        ];
        for (r, s) in all {
            assert_eq!(r.as_str(), s);
        }
    }
}

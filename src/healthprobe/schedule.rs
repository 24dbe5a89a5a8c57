// SPDX-License-Identifier: MPL-2.0
//! Clock-driven part of the probe: stall detection and the period of reports.
//!
//! Times are clock times in nanoseconds. The glue keeps at most one clock timer
//! pending, at [`Schedule::next_deadline`]; when it fires, [`Schedule::on_timer`]
//! says what is due. Buffers only record their arrival time ([`Schedule::on_buffer`])
//! and never move the timer later, so the per-buffer cost is one clock read.

#[derive(Debug, Clone, Default)]
pub struct Schedule {
    stall_timeout: u64,
    interval: u64,
    /// Watching (PLAYING with a clock).
    running: bool,
    /// Clock time of the last buffer, or of the start of watching.
    last_activity: u64,
    /// Clock time of the last buffer itself, if one came while watching.
    last_buffer: Option<u64>,
    next_report: u64,
    stalled: bool,
}

/// What a timer firing found due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fired {
    /// The stream has just been found stalled.
    pub stall_began: bool,
    /// A periodic report is due.
    pub report: bool,
}

impl Schedule {
    pub fn new(stall_timeout: u64, interval: u64) -> Self {
        Schedule {
            stall_timeout,
            interval,
            ..Default::default()
        }
    }

    /// Changes the settings while keeping what was observed. Turning stall
    /// detection off ends a stall.
    pub fn configure(&mut self, stall_timeout: u64, interval: u64, now: Option<u64>) {
        if stall_timeout == 0 {
            self.stalled = false;
        }
        self.stall_timeout = stall_timeout;
        if interval != self.interval {
            self.interval = interval;
            if let Some(now) = now {
                self.next_report = now.saturating_add(interval);
            }
        }
    }

    /// Starts watching at clock time `now` (PLAYING with a clock). Time spent not
    /// watching never counts as a stall. A stall found earlier is kept until data
    /// arrives.
    pub fn start(&mut self, now: u64) {
        self.running = true;
        self.last_activity = now;
        self.next_report = now.saturating_add(self.interval);
    }

    /// Stops watching (left PLAYING, lost the clock).
    pub fn stop(&mut self) {
        self.running = false;
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    pub fn is_stalled(&self) -> bool {
        self.stalled
    }

    /// Restarts the stall countdown without ending a stall (after a flush).
    pub fn touch(&mut self, now: u64) {
        if self.running {
            self.last_activity = self.last_activity.max(now);
        }
    }

    /// A buffer arrived at clock time `now`. Returns whether this ended a stall.
    pub fn on_buffer(&mut self, now: u64) -> bool {
        if !self.running {
            return false;
        }
        self.last_activity = self.last_activity.max(now);
        self.last_buffer = Some(now);
        std::mem::replace(&mut self.stalled, false)
    }

    /// Age of the last buffer at `now`, or None if none came while watching.
    pub fn last_buffer_age(&self, now: u64) -> Option<u64> {
        self.last_buffer.map(|t| now.saturating_sub(t))
    }

    /// When the timer should fire next, if at all.
    pub fn next_deadline(&self) -> Option<u64> {
        if !self.running {
            return None;
        }
        let stall = (self.stall_timeout > 0 && !self.stalled)
            .then(|| self.last_activity.saturating_add(self.stall_timeout));
        let report = (self.interval > 0).then_some(self.next_report);
        match (stall, report) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Given the deadline of the pending timer (if any), the deadline a new timer
    /// must be armed at, if one is needed. A pending timer that fires too early is
    /// harmless (it re-arms), so only an earlier deadline re-arms.
    pub fn rearm_at(&self, pending: Option<u64>) -> Option<u64> {
        let want = self.next_deadline()?;
        match pending {
            Some(p) if p <= want => None,
            _ => Some(want),
        }
    }

    /// The timer fired at clock time `now`.
    pub fn on_timer(&mut self, now: u64) -> Fired {
        let mut fired = Fired::default();
        if !self.running {
            return fired;
        }
        if self.interval > 0 && now >= self.next_report {
            fired.report = true;
            let next = self.next_report.saturating_add(self.interval);
            // After a long hiccup, do not post a burst of late reports.
            self.next_report = if next > now {
                next
            } else {
                now.saturating_add(self.interval)
            };
        }
        if self.stall_timeout > 0
            && !self.stalled
            && now >= self.last_activity.saturating_add(self.stall_timeout)
        {
            self.stalled = true;
            fired.stall_began = true;
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000_000_000;

    #[test]
    fn stall_is_due_exactly_one_timeout_after_the_last_buffer() {
        let mut s = Schedule::new(SEC, 0);
        s.start(10 * SEC);
        assert_eq!(s.next_deadline(), Some(11 * SEC));
        s.on_buffer(10 * SEC + 300 * MS);
        // the pending timer at 11 s stays; it fires early and re-arms
        assert_eq!(s.rearm_at(Some(11 * SEC)), None);
        assert_eq!(s.on_timer(11 * SEC), Fired::default());
        assert_eq!(s.next_deadline(), Some(11 * SEC + 300 * MS));
        let f = s.on_timer(11 * SEC + 300 * MS);
        assert!(f.stall_began && !f.report);
        assert!(s.is_stalled());
        // no stall timer while stalled
        assert_eq!(s.next_deadline(), None);
        assert_eq!(s.last_buffer_age(12 * SEC), Some(1_700 * MS));
    }

    #[test]
    fn data_ends_a_stall_and_rearms() {
        let mut s = Schedule::new(SEC, 0);
        s.start(0);
        assert!(s.on_timer(SEC).stall_began);
        assert!(s.on_buffer(5 * SEC));
        assert!(!s.is_stalled());
        assert_eq!(s.rearm_at(None), Some(6 * SEC));
        assert!(!s.on_buffer(5 * SEC + MS));
    }

    #[test]
    fn reports_are_periodic_and_do_not_burst() {
        let mut s = Schedule::new(0, SEC);
        s.start(0);
        assert_eq!(s.next_deadline(), Some(SEC));
        assert!(s.on_timer(SEC).report);
        assert_eq!(s.next_deadline(), Some(2 * SEC));
        assert!(!s.on_timer(2 * SEC - 1).report);
        // timer came 10 s late: one report, next one a period later
        assert!(s.on_timer(12 * SEC).report);
        assert_eq!(s.next_deadline(), Some(13 * SEC));
    }

    #[test]
    fn earliest_of_stall_and_report() {
        let mut s = Schedule::new(3 * SEC, SEC);
        s.start(0);
        assert_eq!(s.next_deadline(), Some(SEC));
        s.on_timer(SEC);
        s.on_timer(2 * SEC);
        assert_eq!(s.next_deadline(), Some(3 * SEC));
        let f = s.on_timer(3 * SEC);
        assert!(f.report && f.stall_began);
    }

    #[test]
    fn nothing_happens_while_not_running() {
        let mut s = Schedule::new(SEC, SEC);
        assert_eq!(s.next_deadline(), None);
        assert_eq!(s.on_timer(100 * SEC), Fired::default());
        assert!(!s.on_buffer(SEC));
        s.start(0);
        s.stop();
        assert_eq!(s.next_deadline(), None);
        assert_eq!(s.on_timer(100 * SEC), Fired::default());
    }

    #[test]
    fn pause_does_not_count_and_stall_survives_it() {
        let mut s = Schedule::new(SEC, 0);
        s.start(0);
        s.on_buffer(500 * MS);
        s.stop();
        s.start(60 * SEC);
        assert_eq!(s.next_deadline(), Some(61 * SEC));
        assert!(s.on_timer(61 * SEC).stall_began);
        s.stop();
        s.start(100 * SEC);
        assert!(
            s.is_stalled(),
            "a stall ends with data, not with a state change"
        );
    }

    #[test]
    fn configure_and_touch() {
        let mut s = Schedule::new(SEC, 0);
        s.start(0);
        s.touch(800 * MS);
        assert_eq!(s.next_deadline(), Some(1_800 * MS));
        s.configure(SEC, 250 * MS, Some(900 * MS));
        assert_eq!(s.rearm_at(Some(1_800 * MS)), Some(1_150 * MS));
        s.on_timer(1_800 * MS);
        assert!(s.is_stalled());
        s.configure(0, 250 * MS, Some(1_900 * MS));
        assert!(!s.is_stalled());
    }
}

// SPDX-License-Identifier: MPL-2.0
//! The life of one input: its connections one after the other, what the switch is
//! told about its health, when a connection is given up, and when the next one
//! starts. Plain Rust, unit-tested; times in ns on the main pipeline's clock.
//!
//! - A connection's data goes to the switch only while the input is judged
//!   healthy: on its live edge (lag at most `timeout / 2` to become healthy, at most
//!   `timeout` to stay healthy) and delivering stream time at no less than
//!   `min_rate` of real time (a link slower than the stream cannot carry it, however
//!   fresh its first data looks). Late data is never handed on: the output has
//!   passed it, and a backlog must not come out in a burst.
//! - The switch is told at once (an out-of-band `failover-health` event) when the
//!   input turns unhealthy: `error` or `eos` of the connection, `late` (behind its
//!   live edge by more than `timeout`, or delivering too slowly), `stall` (nothing
//!   for `timeout`, once it had been healthy), `restart` (the relay drops a
//!   connection that was healthy); and `healthy=true` once its data has been fresh
//!   for `confirm` after that. Nothing is said while it stays healthy, nor before
//!   its first fresh data (the switch judges it by its own timeout meanwhile).
//! - An error or EOS ends the connection at once. The watchdog ends a connection
//!   that has left the input unhealthy for `watchdog` (stalled, late, or connected
//!   without fresh data), and one whose data runs ahead of its live edge by more
//!   than `timeout` (its live edge was learnt on data that was not live).
//! - The next connection starts after a backoff: attempts that brought no fresh data
//!   are spaced `reconnect_delay`, 2x, 4x ... up to `reconnect_max` apart (from the
//!   start of one to the start of the next), and never less than `reconnect_delay`
//!   after the end of the last one; fresh data resets it. Nothing spins.

/// Why an input is unhealthy, as told to the switch (the event's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Error,
    Eos,
    Restart,
    Late,
    Stall,
}

impl Fault {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Fault::Error => "error",
            Fault::Eos => "eos",
            Fault::Restart => "restart",
            Fault::Late => "late",
            Fault::Stall => "stall",
        }
    }
}

/// The relay's verdict on an input, as last told to the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing said yet (the switch judges by itself).
    Unknown,
    Healthy,
    Unhealthy(Fault),
}

/// The input's timing policy (ns).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Policy {
    pub(crate) timeout: u64,
    pub(crate) watchdog: u64,
    pub(crate) reconnect_delay: u64,
    pub(crate) reconnect_max: u64,
    /// Least delivery rate (stream time per wall time) of a healthy connection.
    pub(crate) min_rate: f64,
    /// An unhealthy input is back once its data has been fresh this long (a backlog
    /// rushing in after a slow spell looks fresh for a moment before it runs
    /// ahead of its live edge).
    pub(crate) confirm: u64,
}

/// What the glue must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Push `failover-health` with this verdict into the switch.
    Tell { healthy: bool, reason: &'static str },
    /// Start connection number `generation`.
    Connect { generation: u64 },
    /// Tear the current connection down (the next one is due after `wait_ns`).
    TearDown {
        fault: Fault,
        detail: String,
        wait_ns: u64,
    },
}

/// What a connection's clock says about a sample that was placed on the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Facts {
    /// Behind the live edge (ns; negative: ahead).
    pub(crate) lag: i64,
    /// The sample's start ahead of now (ns).
    pub(crate) lead: i64,
    /// Delivery rate, when measured yet.
    pub(crate) rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Idle,
    Waiting {
        until: u64,
    },
    Connected {
        since: u64,
        last_data: Option<u64>,
        last_delivered: Option<u64>,
        /// Since when its data has been fresh without interruption.
        fresh_since: Option<u64>,
        /// It delivered fresh data (resets the backoff).
        fresh: bool,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Supervisor {
    policy: Policy,
    phase: Phase,
    generation: u64,
    verdict: Verdict,
    unhealthy_since: Option<u64>,
    /// Consecutive attempts that brought no fresh data.
    failures: u32,
    last_start: u64,
    pub(crate) restarts: u64,
}

impl Supervisor {
    pub(crate) fn new(policy: Policy) -> Supervisor {
        Supervisor {
            policy,
            phase: Phase::Idle,
            generation: 0,
            verdict: Verdict::Unknown,
            unhealthy_since: None,
            failures: 0,
            last_start: 0,
            restarts: 0,
        }
    }

    pub(crate) fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The current connection's number (data of others is ignored).
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The first connection, at once.
    pub(crate) fn start(&mut self, now: u64) -> Vec<Action> {
        self.connect(now)
    }

    fn connect(&mut self, now: u64) -> Vec<Action> {
        self.generation += 1;
        self.last_start = now;
        self.phase = Phase::Connected {
            since: now,
            last_data: None,
            last_delivered: None,
            fresh_since: None,
            fresh: false,
        };
        vec![Action::Connect {
            generation: self.generation,
        }]
    }

    fn tell(&mut self, v: Verdict, now: u64, out: &mut Vec<Action>) {
        if v == self.verdict {
            return;
        }
        let was = self.verdict;
        self.verdict = v;
        match v {
            Verdict::Healthy => {
                self.unhealthy_since = None;
                if matches!(was, Verdict::Unhealthy(_)) {
                    out.push(Action::Tell {
                        healthy: true,
                        reason: "ok",
                    });
                }
            }
            Verdict::Unhealthy(f) => {
                self.unhealthy_since.get_or_insert(now);
                // Back only on data fresh since now.
                if let Phase::Connected { fresh_since, .. } = &mut self.phase {
                    *fresh_since = None;
                }
                out.push(Action::Tell {
                    healthy: false,
                    reason: f.as_str(),
                });
            }
            Verdict::Unknown => {}
        }
    }

    /// Gives the current connection up for `fault`.
    fn restart(&mut self, now: u64, fault: Fault, detail: String, out: &mut Vec<Action>) {
        let Phase::Connected { fresh, .. } = self.phase else {
            return;
        };
        match self.verdict {
            Verdict::Unhealthy(_) => {
                // Already unhealthy: a restart for the watchdog keeps its reason;
                // an error or EOS says what happened.
                if matches!(fault, Fault::Error | Fault::Eos) {
                    self.tell(Verdict::Unhealthy(fault), now, out);
                }
            }
            _ => self.tell(Verdict::Unhealthy(fault), now, out),
        }
        self.failures = if fresh { 0 } else { self.failures + 1 };
        let p = &self.policy;
        let spacing = if self.failures == 0 {
            p.reconnect_delay
        } else {
            let shift = (self.failures - 1).min(32);
            p.reconnect_delay
                .saturating_mul(1u64 << shift)
                .min(p.reconnect_max.max(p.reconnect_delay))
        };
        let until = (now + p.reconnect_delay).max(self.last_start.saturating_add(spacing));
        self.generation += 1;
        self.restarts += 1;
        self.phase = Phase::Waiting { until };
        out.push(Action::TearDown {
            fault,
            detail,
            wait_ns: until - now,
        });
    }

    /// A sample of connection `generation` was placed on the timeline at `now`.
    /// Returns whether it goes to the switch, and what to do.
    pub(crate) fn on_sample(&mut self, generation: u64, now: u64, f: Facts) -> (bool, Vec<Action>) {
        let mut out = Vec::new();
        if generation != self.generation {
            return (false, out);
        }
        let Phase::Connected {
            last_data,
            fresh_since,
            ..
        } = &mut self.phase
        else {
            return (false, out);
        };
        *last_data = Some(now);
        let t = self.policy.timeout as i64;
        let rate_ok = f.rate.is_some_and(|r| r >= self.policy.min_rate);
        let fresh = f.lag <= t / 2 && f.lead <= t / 2 && rate_ok;
        let since = if fresh {
            *fresh_since.get_or_insert(now)
        } else {
            *fresh_since = None;
            now
        };
        if f.lead > t {
            // Data rushing in ahead of the live edge: the link delivers faster than
            // real time again; the next attempt is no failure of the last.
            if let Phase::Connected { fresh, .. } = &mut self.phase {
                *fresh = true;
            }
            self.restart(
                now,
                Fault::Restart,
                "data ahead of its live edge".into(),
                &mut out,
            );
            return (false, out);
        }
        if f.lag > t {
            self.tell(Verdict::Unhealthy(Fault::Late), now, &mut out);
        } else if fresh {
            let confirmed = !matches!(self.verdict, Verdict::Unhealthy(_))
                || now.saturating_sub(since) >= self.policy.confirm;
            if confirmed {
                self.tell(Verdict::Healthy, now, &mut out);
            }
        }
        let deliver = self.verdict == Verdict::Healthy;
        if let Phase::Connected {
            last_delivered,
            fresh,
            ..
        } = &mut self.phase
        {
            if deliver {
                *last_delivered = Some(now);
                if !*fresh {
                    *fresh = true;
                    self.failures = 0;
                }
            }
        }
        (deliver, out)
    }

    /// Data of connection `generation` arrived but is still held (settling).
    pub(crate) fn on_arrival(&mut self, generation: u64, now: u64) {
        if generation != self.generation {
            return;
        }
        if let Phase::Connected { last_data, .. } = &mut self.phase {
            *last_data = Some(now);
        }
    }

    /// Connection `generation` failed (`Error`) or ended (`Eos`).
    pub(crate) fn on_fault(
        &mut self,
        generation: u64,
        now: u64,
        fault: Fault,
        detail: String,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        if generation == self.generation {
            self.restart(now, fault, detail, &mut out);
        }
        out
    }

    /// The periodic check (every 100 ms or so).
    pub(crate) fn tick(&mut self, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        match self.phase {
            Phase::Idle => {}
            Phase::Waiting { until } => {
                if now >= until {
                    out = self.connect(now);
                }
            }
            Phase::Connected {
                since,
                last_data,
                last_delivered,
                ..
            } => {
                let t = self.policy.timeout;
                let quiet = now.saturating_sub(last_delivered.unwrap_or(since));
                // Data arrives, but not fresh: late; nothing at all: a stall.
                let silent = now.saturating_sub(last_data.unwrap_or(since)) > t;
                let fault = if silent { Fault::Stall } else { Fault::Late };
                // Only an input that was healthy is said to stall: before its first
                // fresh data the switch judges it by its own timeout, and the
                // watchdog below gives the connection its time.
                if self.verdict == Verdict::Healthy && quiet > t {
                    self.tell(Verdict::Unhealthy(fault), now, &mut out);
                }
                if self.verdict == Verdict::Unknown
                    && now.saturating_sub(since) >= self.policy.watchdog
                {
                    let detail = format!(
                        "no fresh data for {:.1} s after connecting",
                        self.policy.watchdog as f64 / 1e9
                    );
                    self.restart(now, fault, detail, &mut out);
                }
                if let Verdict::Unhealthy(f) = self.verdict {
                    let from = self.unhealthy_since.unwrap_or(now).max(since);
                    if now.saturating_sub(from) >= self.policy.watchdog {
                        let detail = format!(
                            "unhealthy ({}) for {:.1} s",
                            f.as_str(),
                            self.policy.watchdog as f64 / 1e9
                        );
                        self.restart(now, f, detail, &mut out);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;

    fn policy() -> Policy {
        Policy {
            timeout: S,
            watchdog: 3 * S,
            reconnect_delay: 500 * MS,
            reconnect_max: 4 * S,
            min_rate: 0.95,
            confirm: 200 * MS,
        }
    }

    fn fresh() -> Facts {
        Facts {
            lag: 10 * MS as i64,
            lead: -10 * MS as i64,
            rate: Some(1.0),
        }
    }

    fn tell(healthy: bool, reason: &'static str) -> Action {
        Action::Tell { healthy, reason }
    }

    /// Ticks every 100 ms from `from` to `to` (exclusive), collecting the actions
    /// with their times.
    fn ticks(s: &mut Supervisor, from: u64, to: u64) -> Vec<(u64, Action)> {
        let mut out = Vec::new();
        let mut t = from;
        while t < to {
            out.extend(s.tick(t).into_iter().map(|a| (t, a)));
            t += 100 * MS;
        }
        out
    }

    #[test]
    fn a_healthy_connection_says_nothing_and_delivers() {
        let mut s = Supervisor::new(policy());
        assert_eq!(s.start(0), vec![Action::Connect { generation: 1 }]);
        for i in 0..100 {
            let now = i * 20 * MS;
            let (deliver, acts) = s.on_sample(1, now, fresh());
            assert!(deliver);
            assert!(acts.is_empty());
            assert!(s.tick(now).is_empty());
        }
        assert_eq!(s.verdict(), Verdict::Healthy);
        // Data of an older connection is never delivered.
        assert!(!s.on_sample(0, 2 * S, fresh()).0);
    }

    #[test]
    fn an_error_is_told_at_once_and_reconnects_after_the_delay() {
        let mut s = Supervisor::new(policy());
        s.start(0);
        s.on_sample(1, 100 * MS, fresh());
        let acts = s.on_fault(1, 5 * S, Fault::Error, "reset".into());
        assert_eq!(acts[0], tell(false, "error"));
        assert!(matches!(
            acts[1],
            Action::TearDown { fault: Fault::Error, wait_ns, .. } if wait_ns == 500 * MS
        ));
        // The dead connection's last samples are not delivered.
        assert!(!s.on_sample(1, 5 * S + MS, fresh()).0);
        let got = ticks(&mut s, 5 * S, 6 * S);
        assert_eq!(got, vec![(5_500 * MS, Action::Connect { generation: 3 })]);
        // Back only on fresh data of the new connection, fresh for `confirm`.
        assert_eq!(s.on_sample(3, 6 * S, fresh()), (false, vec![]));
        assert_eq!(s.on_sample(3, 6_100 * MS, fresh()), (false, vec![]));
        let (deliver, acts) = s.on_sample(3, 6_200 * MS, fresh());
        assert!(deliver);
        assert_eq!(acts, vec![tell(true, "ok")]);
    }

    #[test]
    fn a_stall_is_unhealthy_after_timeout_and_restarted_by_the_watchdog() {
        let mut s = Supervisor::new(policy());
        s.start(0);
        s.on_sample(1, 900 * MS, fresh());
        let got = ticks(&mut s, S, 10 * S);
        // Unhealthy once nothing came for more than the timeout, restarted after
        // the watchdog, reconnected after the delay; the new connection brings
        // nothing either: restarted `watchdog` after it started, and so on.
        assert_eq!(got[0], (2_000 * MS, tell(false, "stall")));
        assert!(
            matches!(got[1], (t, Action::TearDown { fault: Fault::Stall, .. }) if t == 5_000 * MS)
        );
        assert_eq!(got[2], (5_500 * MS, Action::Connect { generation: 3 }));
        assert!(matches!(got[3], (t, Action::TearDown { .. }) if t == 8_500 * MS));
        // Nothing else said to the switch while it stays down.
        assert_eq!(
            got.iter()
                .filter(|(_, a)| matches!(a, Action::Tell { .. }))
                .count(),
            1
        );
    }

    #[test]
    fn a_stall_that_ends_before_the_watchdog_recovers_on_the_same_connection() {
        let mut s = Supervisor::new(policy());
        s.start(0);
        s.on_sample(1, 0, fresh());
        assert_eq!(s.tick(1_100 * MS), vec![tell(false, "stall")]);
        // The backlog arrives late: not delivered, reason late.
        let late = Facts {
            lag: 1_500 * MS as i64,
            ..fresh()
        };
        assert_eq!(
            s.on_sample(1, 1_500 * MS, late),
            (false, vec![tell(false, "late")])
        );
        // Caught up: healthy again once fresh for 200 ms, without a restart.
        assert_eq!(s.on_sample(1, 1_510 * MS, fresh()), (false, vec![]));
        assert_eq!(
            s.on_sample(1, 1_710 * MS, fresh()),
            (true, vec![tell(true, "ok")])
        );
        assert_eq!(s.restarts, 0);
    }

    #[test]
    fn a_slow_link_is_late_never_delivered_and_restarted() {
        let mut s = Supervisor::new(policy());
        s.start(0);
        // Healthy for 2 s, then the link slows to 0.75x: the lag grows by 0.25 s
        // a second and passes the timeout at 6 s.
        let mut out = Vec::new();
        for i in 0..470u64 {
            let now = i * 20 * MS;
            let slow = now.saturating_sub(2 * S);
            let lag = (slow as f64 * 0.25) as i64;
            let f = Facts {
                lag,
                lead: -lag,
                rate: Some(if slow > 0 { 0.75 } else { 1.0 }),
            };
            let (deliver, acts) = s.on_sample(s.generation(), now, f);
            assert_eq!(deliver, now <= 6 * S, "{now}");
            out.extend(acts.into_iter().map(|a| (now, a)));
            out.extend(s.tick(now).into_iter().map(|a| (now, a)));
        }
        assert_eq!(out[0].1, tell(false, "late"));
        assert!(out[0].0 > 6 * S && out[0].0 < 6_100 * MS, "{:?}", out[0]);
        // Restarted `watchdog` later.
        assert!(
            matches!(out[1], (t, Action::TearDown { fault: Fault::Late, .. }) if t > 9 * S && t < 9_100 * MS),
            "{:?}",
            out[1]
        );
        // The next connection, still slow (fresh data, but at 0.75x), is never
        // delivered and never said healthy.
        let g = s.generation();
        let _ = ticks(&mut s, 9_100 * MS, 9_800 * MS);
        assert_eq!(s.generation(), g + 1);
        let slow = Facts {
            lag: 0,
            lead: 0,
            rate: Some(0.75),
        };
        assert_eq!(s.on_sample(g + 1, 10 * S, slow), (false, vec![]));
    }

    #[test]
    fn data_ahead_of_its_live_edge_restarts_the_connection() {
        let mut s = Supervisor::new(policy());
        s.start(0);
        s.on_sample(1, 0, fresh());
        let ahead = Facts {
            lag: -2 * S as i64,
            lead: 2 * S as i64,
            rate: Some(3.0),
        };
        let (deliver, acts) = s.on_sample(1, S, ahead);
        assert!(!deliver);
        assert_eq!(acts[0], tell(false, "restart"));
        assert!(matches!(
            acts[1],
            Action::TearDown {
                fault: Fault::Restart,
                ..
            }
        ));
        // After attempts that failed (backoff at its cap), a connection whose data
        // rushes in ahead proves the link fast again: the next one is due soon.
        let mut s = Supervisor::new(policy());
        s.start(0);
        let mut now = 0;
        for _ in 0..5 {
            now += 10 * MS;
            let g = s.generation();
            s.on_fault(g, now, Fault::Error, "refused".into());
            while s.tick(now).is_empty() {
                now += 10 * MS;
            }
        }
        let g = s.generation();
        let acts = s.on_sample(g, now + 100 * MS, ahead).1;
        assert!(
            matches!(acts.last(), Some(Action::TearDown { wait_ns, .. }) if *wait_ns == 500 * MS),
            "{acts:?}"
        );
    }

    #[test]
    fn a_backlog_rushing_in_after_a_slow_spell_is_not_back_before_it_runs_ahead() {
        let mut s = Supervisor::new(policy());
        s.start(0);
        s.on_sample(1, 0, fresh());
        assert_eq!(s.tick(1_200 * MS), vec![tell(false, "stall")]);
        // Anchored on old data: when the link recovers, the data comes ever further
        // ahead of the live edge, within milliseconds.
        let mut told = Vec::new();
        for i in 0..100i64 {
            let lead = i * 21 * MS as i64;
            let f = Facts {
                lag: -lead,
                lead,
                rate: Some(20.0),
            };
            let (deliver, acts) = s.on_sample(1, 1_300 * MS + i as u64 * 50_000, f);
            assert!(!deliver);
            told.extend(acts);
            if s.generation() != 1 {
                break;
            }
        }
        // Restarted while still unhealthy (the switch keeps the reason it had);
        // never said to be back.
        assert!(
            matches!(
                told[..],
                [Action::TearDown {
                    fault: Fault::Restart,
                    ..
                }]
            ),
            "{told:?}"
        );
    }

    #[test]
    fn refused_connections_back_off_up_to_the_cap_and_fresh_data_resets_it() {
        let mut s = Supervisor::new(policy());
        s.start(0);
        let mut starts = vec![0];
        let mut now = 0;
        while starts.len() < 8 {
            // Each attempt fails 10 ms after it started.
            now += 10 * MS;
            let g = s.generation();
            s.on_fault(g, now, Fault::Error, "refused".into());
            loop {
                now += 10 * MS;
                if let Some(Action::Connect { .. }) = s.tick(now).first() {
                    starts.push(now);
                    break;
                }
            }
        }
        let gaps: Vec<u64> = starts
            .windows(2)
            .map(|w| (w[1] - w[0]) / (10 * MS))
            .collect();
        // 0.5, 1, 2, 4, 4, 4 s between starts (in 10 ms steps); never below 0.5 s.
        assert_eq!(gaps[..6], [51, 100, 200, 400, 400, 400]);
        let g = s.generation();
        for i in 1..20 {
            s.on_sample(g, now + i * 20 * MS, fresh());
        }
        let acts = s.on_fault(g, now + 500 * MS, Fault::Eos, String::new());
        assert!(
            matches!(acts.last(), Some(Action::TearDown { wait_ns, .. }) if *wait_ns == 500 * MS)
        );
    }

    #[test]
    fn a_first_connection_that_brings_nothing_is_restarted_by_the_watchdog() {
        let mut s = Supervisor::new(policy());
        s.start(0);
        let got = ticks(&mut s, 0, 3_200 * MS);
        // Nothing said before the first fresh data (the switch has its own
        // timeout); after `watchdog`: stall, and a new connection.
        assert_eq!(got[0], (3_000 * MS, tell(false, "stall")));
        assert!(
            matches!(got[1], (t, Action::TearDown { fault: Fault::Stall, .. }) if t == 3_000 * MS),
            "{got:?}"
        );
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn a_healthy_input_whose_data_only_trickles_in_is_late_not_stalled() {
        let mut s = Supervisor::new(policy());
        s.start(0);
        s.on_sample(1, 0, fresh());
        // Data keeps arriving but is never delivered (e.g. held while settling):
        // the reason is late.
        for i in 0..12u64 {
            s.on_arrival(1, i * 100 * MS);
        }
        assert_eq!(s.tick(1_150 * MS), vec![tell(false, "late")]);
    }
}

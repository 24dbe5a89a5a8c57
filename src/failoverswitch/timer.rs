// SPDX-License-Identifier: MPL-2.0
//! The timer task of `failoverswitch` (the source pad's task, live pipelines only):
//! it waits on the pipeline clock for the next input timeout or filler deadline,
//! lets the state machine act on timeouts, and fills the output while no input is
//! healthy (silence for raw audio, GAP events for other media).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::imp::CAT;
use super::imp::FailoverSwitch;
use super::output::{Item, clock_time};
use super::state::State;
use super::timeline::{self, SampleClock};

/// While no input is healthy, silence goes out up to the clock every this often
/// (raw audio)...
const FILL_CHUNK: u64 = 20_000_000;
/// ... and GAP events every this often (other media).
const GAP_CHUNK: u64 = 100_000_000;
/// Filler stays this far behind the clock (plus the inputs' latency).
const FILL_LAG: u64 = super::timeline::ALIGN_THRESHOLD;
/// Not live: how often the task looks whether the output stands still.
const STILL_POLL: Duration = Duration::from_millis(20);

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

impl FailoverSwitch {
    /// The next clock time the timer task must look at, if any.
    fn next_deadline(&self, st: &State) -> Option<u64> {
        let base = self.obj().base_time().map_or(0, gst::ClockTime::nseconds);
        let rt = self.clock_now().map_or(0, |n| n.saturating_sub(base));
        let timeouts = st
            .pads
            .iter()
            .zip(super::policy::Input::BOTH)
            .filter(|(p, i)| {
                !p.health.timed_out && !p.health.eos && !p.health.absent && !st.holds_ahead(*i, rt)
            })
            .filter_map(|(p, i)| {
                p.last_data
                    .or(st.playing_since)
                    .map(|t| t.saturating_add(st.timeout_of(i)))
            });
        // Raw audio without fill-silence has nothing to send: no filler deadline
        // (it would be in the past at once and spin the task).
        let fills = st.out.raw.is_none() || st.settings.fill_silence;
        let fill = (st.active.is_none() && st.out.caps.is_some() && fills).then(|| {
            let base = self.obj().base_time().map_or(0, gst::ClockTime::nseconds);
            let chunk = if st.out.raw.is_some() {
                FILL_CHUNK
            } else {
                GAP_CHUNK
            };
            let lag = st.pads.iter().map(|p| p.latency).max().unwrap_or(0) + FILL_LAG;
            st.out.pos.map_or(0, |o| {
                base.saturating_add(o)
                    .saturating_add(chunk)
                    .saturating_add(lag)
            })
        });
        // With latency, the active input's next data is released when due.
        let release = (st.settings.latency > 0)
            .then(|| st.active.and_then(|a| st.pad(a).held.front()))
            .flatten()
            .map(|h| {
                let base = self.obj().base_time().map_or(0, gst::ClockTime::nseconds);
                base.saturating_add(h.start)
                    .saturating_add(st.settings.latency)
            });
        timeouts.chain(fill).chain(release).min()
    }

    /// One round of the source pad task: when live, waits on the pipeline clock for
    /// the next deadline and acts on it; when not, watches the output for a stall.
    pub(super) fn task_iteration(&self) {
        let clock = self.obj().clock();
        let mut st = self.lock_state();
        if st.shutdown {
            drop(st);
            let _ = self.srcpad.pause_task();
            return;
        }
        // What was decided where nothing may be delivered (inside a pad's link or
        // unlink) is delivered here.
        if !st.outbox.is_empty() || st.eos_pending {
            let eos = std::mem::take(&mut st.eos_pending);
            self.release(st);
            if eos {
                self.send_eos();
            }
            return;
        }
        if !st.live() && st.active.is_some() {
            self.watch_still(st);
            return;
        }
        let deadline = if st.live() && st.playing {
            self.next_deadline(&st)
        } else {
            None
        };
        let (Some(clock), Some(deadline)) = (clock, deadline) else {
            drop(self.cond.wait(st));
            return;
        };
        gst::trace!(CAT, imp = self, "timer waits for {}", clock_time(deadline));
        let id = clock.new_single_shot_id(clock_time(deadline));
        st.clock_id = Some(id.clone());
        drop(st);
        let _ = id.wait();
        let now = clock.time().nseconds();
        let mut st = self.lock_state();
        st.clock_id = None;
        if st.shutdown || !st.playing {
            self.release(st);
            return;
        }
        let base = self.obj().base_time().map_or(0, gst::ClockTime::nseconds);
        st.refresh(Some(now), base);
        let pnow = st.policy_now(Some(now));
        st.evaluate(pnow);
        let release = st
            .active
            .filter(|_| st.settings.latency > 0)
            .or(st.next.map(|n| n.to));
        self.release(st);
        if let Some(input) = release {
            let _ = self.drain(input);
        }
        self.fill(now);
    }

    /// Not live, on running time: the active input is late when the output has not
    /// moved for its timeout while the standby has data beyond it (PAUSED does not
    /// count), or when the standby is more than `timeout` ahead of the output.
    fn watch_still(&self, mut st: std::sync::MutexGuard<'_, State>) {
        let rt = self
            .obj()
            .current_running_time()
            .map(gst::ClockTime::nseconds)
            .filter(|_| st.playing);
        let counting = st.playing || !st.played;
        let wall = EPOCH.elapsed().as_nanos() as u64;
        let out_pos = st.out.pos;
        let still = st.still.observe(out_pos, counting, rt, wall);
        if let Some(a) = st.active.filter(|_| counting) {
            // Only a standby that could take over makes the active input late.
            let candidate = st.pad(a.other()).health.is_healthy() || st.may_take_format(a.other());
            let other = st.pad(a.other());
            let waiting = candidate
                && other
                    .position
                    .is_some_and(|p| out_pos.is_none_or(|o| p > o));
            let timeout = st.timeout_of(a);
            let unhealthy = !st.pad(a).health.is_healthy();
            let ahead = other
                .position
                .zip(out_pos)
                .is_some_and(|(p, o)| p > o.saturating_add(timeout));
            if waiting && !unhealthy && (still >= timeout || ahead) {
                gst::debug!(
                    CAT,
                    imp = self,
                    "{} is late: output still for {still} ns at {out_pos:?}, standby at {:?}",
                    a.name(),
                    other.position
                );
                let pnow = st.policy_now(None);
                st.time_out(a, pnow);
                st.evaluate(pnow);
            }
        }
        if !st.outbox.is_empty() {
            // Deliver what was decided, with the lock released; look again at once.
            self.release(st);
            return;
        }
        drop(self.cond.wait_timeout(st, STILL_POLL));
    }

    /// While no input is healthy: silence (raw audio) or GAP events up to `now`.
    fn fill(&self, now: u64) {
        let base = self.obj().base_time().map_or(0, gst::ClockTime::nseconds);
        let push = self.lock_push();
        let mut st = self.lock_state();
        if st.active.is_some() || st.shutdown || st.out.caps.is_none() {
            self.unlock(st);
            return;
        }
        // Up to the clock less what a returning input's data may lag behind it (its
        // latency and jitter), so filler never covers the time of data still on its
        // way.
        let lag = st.pads.iter().map(|p| p.latency).max().unwrap_or(0) + FILL_LAG;
        let rt_now = now.saturating_sub(base).saturating_sub(lag);
        let mut items = Vec::new();
        Self::initial_events(&mut st, &mut items);
        match st.out.raw.clone() {
            Some(raw) if st.settings.fill_silence => {
                let rate = raw.info.rate();
                if st.out.pos.is_none() {
                    // Nothing went out yet: the output starts now.
                    st.out.clock = SampleClock::new(rt_now);
                    st.out.pos = Some(rt_now);
                }
                let pos = st.out.clock.position(rate);
                let frames = timeline::ns_to_frames(rt_now.saturating_sub(pos), rate);
                if frames > 0 {
                    items.extend(Self::silence(&mut st, frames).map(Item::Buffer));
                }
            }
            Some(_) => {}
            None => {
                st.out.pos.get_or_insert(rt_now);
                items.extend(Self::gap_to(&mut st, rt_now, None));
            }
        }
        self.unlock(st);
        let _ = self.send(items);
        drop(push);
        self.deliver();
    }
}

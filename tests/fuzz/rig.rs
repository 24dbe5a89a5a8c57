// SPDX-License-Identifier: MPL-2.0
//! The test rig of the fuzz test: `healthprobe ! failoverswitch.primary` and
//! `failoverswitch.secondary`, fed by two source pads of ours (live: they answer the
//! latency query with live=true), on one test clock, with the output collected by a
//! sink pad of ours. Every push goes through a worker thread per input and every
//! wait is bounded, so a deadlock is reported instead of hanging the test.
//!
//! The rig and the switch's timer task take turns: after every push, event, state
//! change and clock wake-up the rig waits until the timer thread sleeps again (on the
//! clock, or with nothing to do) before it goes on. So the timer always acts on the
//! clock time it was woken at, however loaded the machine — a handshake, not a
//! guess (`common::task`).

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread;

use gst::prelude::*;
use gst_check::TestClock;

use crate::common::task::{TaskThread, unique_name};

/// Longest a push, an event or a state change may take (real time) before the test
/// calls it a deadlock. Nothing in the element waits this long in a live pipeline.
pub use crate::common::task::BOUND;
/// Most timer wake-ups handled while the clock moves to one new time; more means
/// the element's timer spins.
const MAX_WAKEUPS: usize = 2000;

pub const PRIMARY: usize = 0;
pub const SECONDARY: usize = 1;

/// What came out of the switch's source pad.
#[derive(Debug, Clone)]
pub enum Out {
    Buffer(gst::Buffer),
    Event(gst::Event),
}

enum Job {
    Buffer(gst::Buffer),
    Event(gst::Event),
}

#[derive(Debug)]
pub enum Done {
    Flow(Result<gst::FlowSuccess, gst::FlowError>),
    Event(bool),
}

/// A failure of the rig itself: something did not come back in time.
#[derive(Debug)]
pub struct Stuck(pub String);

struct Feeder {
    jobs: Sender<Job>,
    done: Receiver<Done>,
}

pub struct Rig {
    pub switch: gst::Element,
    pub probe: gst::Element,
    pub clock: TestClock,
    pub bus: gst::Bus,
    feeders: [Feeder; 2],
    /// Our pad linked to the switch's source pad.
    #[allow(dead_code)]
    sink: gst::Pad,
    out: Arc<Mutex<Vec<Out>>>,
    taken: usize,
    base_time: u64,
    /// Clock time at which the pipeline was paused, if it is.
    paused_at: Option<u64>,
    /// The switch's timer task.
    timer: TaskThread,
}

/// Runs `f` on a helper thread and waits for it at most [`BOUND`].
pub fn bounded<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Stuck> {
    let (tx, rx) = channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(BOUND)
        .map_err(|_| Stuck(format!("{what} did not return within {BOUND:?}")))
}

fn source_pad(name: &str, live: bool) -> gst::Pad {
    gst::Pad::builder(gst::PadDirection::Src)
        .name(name)
        .query_function(move |pad, parent, query| match query.view_mut() {
            gst::QueryViewMut::Latency(q) => {
                q.set(live, gst::ClockTime::ZERO, gst::ClockTime::NONE);
                true
            }
            _ => gst::Pad::query_default(pad, parent, query),
        })
        .build()
}

fn feeder(pad: gst::Pad) -> Feeder {
    let (jobs, job_rx) = channel::<Job>();
    let (done_tx, done) = channel();
    let p = pad;
    thread::spawn(move || {
        for job in job_rx {
            let d = match job {
                Job::Buffer(b) => Done::Flow(p.push(b)),
                Job::Event(e) => Done::Event(p.push_event(e)),
            };
            if done_tx.send(d).is_err() {
                return;
            }
        }
    });
    Feeder { jobs, done }
}

impl Rig {
    /// Builds the rig (elements in READY, pads linked and active). A `rigid_sink`
    /// accepts only the caps it was first given (like a configured encoder or a
    /// capsfilter); otherwise it accepts anything (like `fakesink`).
    pub fn new(switch_props: &[(&str, gst::glib::Value)], rigid_sink: bool) -> Rig {
        let switch = gst::ElementFactory::make("failoverswitch")
            .name(unique_name("fs"))
            .build()
            .unwrap();
        for (k, v) in switch_props {
            match v.get::<&str>() {
                Ok(text) => switch.set_property_from_str(k, text),
                Err(_) => switch.set_property_from_value(k, v),
            }
        }
        // Silence detection only: no clock timers of its own (stall and late off).
        let probe = gst::ElementFactory::make("healthprobe")
            .property("stall-timeout", 0u64)
            .property("interval", 0u64)
            .property("silence-duration", 300_000_000u64)
            .build()
            .unwrap();
        let clock = TestClock::new();
        let bus = gst::Bus::new();
        for e in [&switch, &probe] {
            e.set_bus(Some(&bus));
            e.set_clock(Some(&clock)).unwrap();
            e.set_base_time(gst::ClockTime::ZERO);
        }
        let p_src = source_pad("primary_src", true);
        let s_src = source_pad("secondary_src", true);
        p_src.link(&probe.static_pad("sink").unwrap()).unwrap();
        probe
            .static_pad("src")
            .unwrap()
            .link(&switch.static_pad("primary").unwrap())
            .unwrap();
        s_src
            .link(&switch.static_pad("secondary").unwrap())
            .unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let (o1, o2) = (out.clone(), out.clone());
        let sink = gst::Pad::builder(gst::PadDirection::Sink)
            .name("out")
            .query_function(move |pad, parent, query| match query.view_mut() {
                gst::QueryViewMut::AcceptCaps(q) => {
                    let ok = !rigid_sink
                        || pad
                            .current_caps()
                            .is_none_or(|c| c.can_intersect(&q.caps_owned()));
                    q.set_result(ok);
                    true
                }
                gst::QueryViewMut::Caps(q) => {
                    let caps = match pad.current_caps() {
                        Some(c) if rigid_sink => c,
                        _ => gst::Caps::new_any(),
                    };
                    q.set_result(&caps);
                    true
                }
                _ => gst::Pad::query_default(pad, parent, query),
            })
            .chain_function(move |_, _, b| {
                o1.lock().unwrap().push(Out::Buffer(b));
                Ok(gst::FlowSuccess::Ok)
            })
            .event_function(move |_, _, e| {
                o2.lock().unwrap().push(Out::Event(e));
                true
            })
            .build();
        switch.static_pad("src").unwrap().link(&sink).unwrap();
        for pad in [&p_src, &s_src, &sink] {
            pad.set_active(true).unwrap();
        }
        let timer = TaskThread::of(&switch, "src");
        Rig {
            timer,
            sink,
            switch,
            probe,
            clock,
            bus,
            feeders: [feeder(p_src), feeder(s_src)],
            out,
            taken: 0,
            base_time: 0,
            paused_at: None,
        }
    }

    fn run(&self, input: usize, job: Job, what: &str) -> Result<Done, Stuck> {
        let f = &self.feeders[input];
        f.jobs
            .send(job)
            .map_err(|_| Stuck(format!("{what}: feeder gone")))?;
        let done = f
            .done
            .recv_timeout(BOUND)
            .map_err(|_| Stuck(format!("{what} did not return within {BOUND:?}")))?;
        // The timer may act on what the push or event changed: let it.
        self.timer.settle().map_err(Stuck)?;
        Ok(done)
    }

    pub fn push(
        &self,
        input: usize,
        b: gst::Buffer,
    ) -> Result<Result<gst::FlowSuccess, gst::FlowError>, Stuck> {
        match self.run(input, Job::Buffer(b), "push")? {
            Done::Flow(r) => Ok(r),
            Done::Event(_) => unreachable!(),
        }
    }

    pub fn event(&self, input: usize, e: gst::Event) -> Result<bool, Stuck> {
        let what = format!("{:?} event", e.type_());
        match self.run(input, Job::Event(e), &what)? {
            Done::Event(ok) => Ok(ok),
            Done::Flow(_) => unreachable!(),
        }
    }

    /// Sets both elements to `state` (downstream first), bounded.
    pub fn set_state(&mut self, state: gst::State) -> Result<(), Stuck> {
        if state == gst::State::Playing {
            if let Some(at) = self.paused_at.take() {
                // As a pipeline does: the pause does not count in running time.
                self.base_time += self.clock.time().nseconds() - at;
            }
            for e in [&self.switch, &self.probe] {
                e.set_base_time(gst::ClockTime::from_nseconds(self.base_time));
            }
        } else if state == gst::State::Paused && self.paused_at.is_none() {
            self.paused_at = Some(self.clock.time().nseconds());
        }
        for e in [self.switch.clone(), self.probe.clone()] {
            let r = bounded("state change", move || e.set_state(state))?;
            if let Err(err) = r {
                return Err(Stuck(format!("state change to {state:?} failed: {err}")));
            }
        }
        let running = matches!(state, gst::State::Paused | gst::State::Playing);
        self.timer.find(running).map_err(Stuck)?;
        self.timer.settle().map_err(Stuck)
    }

    pub fn playing(&self) -> bool {
        self.paused_at.is_none()
    }

    /// The running time now (paused: where it stopped).
    pub fn running_time(&self) -> u64 {
        match self.paused_at {
            Some(at) => at - self.base_time,
            None => self.clock.time().nseconds() - self.base_time,
        }
    }

    /// Moves the clock on by `ns`, releasing every clock wait due on the way, in
    /// time order, each after the timer has acted on the one before. Returns an
    /// error when the element's timer wakes up without end or never sleeps.
    pub fn advance_by(&self, ns: u64) -> Result<(), String> {
        let target = self.clock.time().nseconds() + ns;
        self.timer.settle()?;
        for _ in 0..MAX_WAKEUPS {
            let Some(id) = self.clock.peek_next_pending_id() else {
                break;
            };
            let t = id.time().nseconds();
            if t > target {
                break;
            }
            if t > self.clock.time().nseconds() {
                self.clock.set_time(gst::ClockTime::from_nseconds(t));
            }
            // (`process_id` of gstreamer-check 0.25 unrefs the id once too often.)
            self.clock.process_next_clock_id();
            self.timer.settle()?;
        }
        if self
            .clock
            .peek_next_pending_id()
            .is_some_and(|id| id.time().nseconds() <= target)
        {
            return Err(format!(
                "the element's timer woke {MAX_WAKEUPS} times before the clock reached {target}"
            ));
        }
        if self.clock.time().nseconds() < target {
            self.clock.set_time(gst::ClockTime::from_nseconds(target));
        }
        Ok(())
    }

    /// Waits until the switch's timer has acted on what the test just did (a
    /// property written from another thread, say) and sleeps again.
    pub fn settle(&self) -> Result<(), Stuck> {
        self.timer.settle().map_err(Stuck)
    }

    /// What came out since the last call.
    pub fn take_output(&mut self) -> Vec<Out> {
        let out = self.out.lock().unwrap();
        let new = out[self.taken..].to_vec();
        self.taken = out.len();
        new
    }

    pub fn messages(&self) -> Vec<gst::Message> {
        std::iter::from_fn(|| self.bus.pop()).collect()
    }

    /// Stops everything (bounded). The elements are leaked when they do not stop.
    pub fn shutdown(self) -> Result<(), Stuck> {
        let (switch, probe) = (self.switch.clone(), self.probe.clone());
        let r = bounded("shutdown", move || {
            let _ = switch.set_state(gst::State::Null);
            let _ = probe.set_state(gst::State::Null);
        });
        if r.is_err() {
            std::mem::forget(self);
            return r;
        }
        // Messages left on the bus hold the elements, which hold the bus.
        for e in [&self.switch, &self.probe] {
            e.set_bus(None);
        }
        self.bus.set_flushing(true);
        r
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Taking turns with an element's pad task on a test clock.
//!
//! `failoverswitch` acts on the clock from its source pad's task (its timer). A test
//! that moves the test clock, pushes or changes state must let that thread act on it
//! before the test goes on, or a loaded machine decides the order. [`TaskThread`]
//! finds the thread by its name (GStreamer names a pad's task thread
//! `<element>:<pad>`, cut to 15 bytes; give the element a short name of its own) and
//! watches it in `/proc` until it sleeps again: on the clock, or with nothing to do.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Longest a task may run without sleeping before the test calls it spinning.
pub const BOUND: Duration = Duration::from_secs(10);
/// How often the test looks whether the task thread sleeps again.
const POLL: Duration = Duration::from_micros(50);

static NAMES: AtomicUsize = AtomicUsize::new(0);

/// A short name of its own for an element whose task a test watches ("fs12").
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}", NAMES.fetch_add(1, Ordering::Relaxed))
}

/// The task thread of one pad.
pub struct TaskThread {
    comm: String,
    /// Threads of that name: a task restarted by a state change may run on another
    /// pool thread (the old one sleeps in the pool). Found again by [`TaskThread::find`].
    tids: RefCell<Vec<String>>,
}

fn comm_of(tid: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
        .ok()
        .map(|c| c.trim_end().to_owned())
}

impl TaskThread {
    /// The task of `element`'s pad `pad` (not looked for yet: see [`TaskThread::find`]).
    pub fn of(element: &gst::Element, pad: &str) -> TaskThread {
        let mut comm = format!("{}:{pad}", element.name());
        comm.truncate(15);
        TaskThread {
            comm,
            tids: RefCell::new(Vec::new()),
        }
    }

    /// Looks for the threads of that name; with `running` (the element is in PAUSED
    /// or PLAYING, so its task runs) waits until there is one, at most [`BOUND`].
    pub fn find(&self, running: bool) -> Result<(), String> {
        let start = Instant::now();
        loop {
            let tids: Vec<String> = std::fs::read_dir("/proc/self/task")
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|tid| comm_of(tid).as_deref() == Some(self.comm.as_str()))
                .collect();
            let found = !tids.is_empty();
            *self.tids.borrow_mut() = tids;
            if found || !running {
                return Ok(());
            }
            if start.elapsed() > BOUND {
                return Err(format!(
                    "no task thread named {} after {BOUND:?}",
                    self.comm
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// Whether a thread of ours is running, ready to run, or in the middle of a
    /// system call it cannot be woken from (`D`: a page fault, say).
    fn busy(&self) -> bool {
        self.tids.borrow().iter().any(|tid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
                return false;
            };
            // "tid (comm) S ...": the state follows the last ')'.
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].trim_start().chars().next());
            matches!(state, Some('R' | 'D')) && comm_of(tid).as_deref() == Some(self.comm.as_str())
        })
    }

    /// Waits until the task sleeps (on the clock or with nothing to do), at most
    /// [`BOUND`]: longer means it never stops (it spins). Finds the thread first if
    /// it was not looked for yet.
    pub fn settle(&self) -> Result<(), String> {
        if self.tids.borrow().is_empty() {
            self.find(false)?;
        }
        let start = Instant::now();
        while self.busy() {
            if start.elapsed() > BOUND {
                return Err(format!(
                    "the task thread {} ran for {BOUND:?} without sleeping",
                    self.comm
                ));
            }
            thread::sleep(POLL);
        }
        Ok(())
    }
}

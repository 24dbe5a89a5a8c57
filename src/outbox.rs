// SPDX-License-Identifier: MPL-2.0
//! Side effects decided under an element's state lock and carried out after it is
//! released: bus messages, warnings, property notifications, events to other pads.
//!
//! Posting a message or pushing an event can call back into the element (a bus sync
//! handler, a `notify` handler, an upstream element answering an event), so none of
//! it may happen while a lock of ours is held. Each element queues its side effects
//! in an [`Outbox`] inside its state and calls [`Outbox::deliver`] once its locks are
//! released. Whichever thread finds the outbox idle delivers everything queued, in
//! the order it was decided, so a later verdict never overtakes an earlier one; a
//! thread that finds another one delivering leaves its items to it.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

/// Queued side effects of one element.
#[derive(Debug)]
pub(crate) struct Outbox<T> {
    queue: VecDeque<T>,
    delivering: bool,
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            delivering: false,
        }
    }
}

impl<T> Outbox<T> {
    pub(crate) fn push(&mut self, item: T) {
        self.queue.push_back(item);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Delivers everything queued, in order, with `state` unlocked while each item is
    /// delivered. Must be called with no lock of the element held. `outbox` finds the
    /// outbox inside the state.
    pub(crate) fn deliver<S>(
        state: &Mutex<S>,
        outbox: impl Fn(&mut S) -> &mut Outbox<T>,
        mut deliver: impl FnMut(T),
    ) {
        let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut st: MutexGuard<'_, S> = lock();
            let ob = outbox(&mut st);
            if ob.delivering || ob.queue.is_empty() {
                return;
            }
            ob.delivering = true;
        }
        loop {
            let item = {
                let mut st = lock();
                let ob = outbox(&mut st);
                match ob.queue.pop_front() {
                    Some(item) => item,
                    None => {
                        ob.delivering = false;
                        return;
                    }
                }
            };
            deliver(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct S {
        outbox: Outbox<u32>,
    }

    #[test]
    fn delivers_in_order_and_picks_up_items_queued_meanwhile() {
        let state = Mutex::new(S {
            outbox: Outbox::default(),
        });
        state.lock().unwrap().outbox.push(1);
        state.lock().unwrap().outbox.push(2);
        let mut seen = Vec::new();
        Outbox::deliver(
            &state,
            |s| &mut s.outbox,
            |i| {
                seen.push(i);
                if i == 1 {
                    // Re-entrant: a callback queues more and tries to deliver; the
                    // outer delivery picks it up in order.
                    state.lock().unwrap().outbox.push(3);
                    Outbox::deliver(&state, |s| &mut s.outbox, |_| panic!("nested delivery"));
                }
            },
        );
        assert_eq!(seen, vec![1, 2, 3]);
        assert!(state.lock().unwrap().outbox.is_empty());
        assert!(!state.lock().unwrap().outbox.delivering);
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Groups: `failoverswitch` elements with the same `group` name in one pipeline (the
//! audio and the video switch of one A/V programme) switch as one.
//!
//! The group decides on the members' combined health (an input is healthy only when
//! it is healthy in every member, so a failure of any member's input fails the whole
//! group over, with one reason); restores and manual switches are group decisions
//! too. Each decision has a sequence number; every member applies each decision once.
//! The switch point (the video member's keyframe) is chosen by the member that needs
//! one and published here, so every member switches at the same running time.
//!
//! Lock order: a member's state lock, then the group's; never the other way round.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

use gst::glib;

use super::policy::{self, Input, InputHealth, PolicyConfig, Reason, Switch};

/// A group's key: its pipeline (the top-level bin's address) and name.
type Key = (usize, String);

/// Groups by key.
static GROUPS: LazyLock<Mutex<HashMap<Key, Weak<Group>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

pub(super) struct Group {
    key: Key,
    state: Mutex<GroupState>,
}

struct Member {
    id: usize,
    element: glib::WeakRef<super::FailoverSwitch>,
    health: [InputHealth; 2],
    /// Encoded video: chooses the switch point.
    video: bool,
}

/// A group's decisions.
pub(super) struct GroupState {
    members: Vec<Member>,
    /// The input the group decided on.
    pub target: Option<Input>,
    pub reason: Reason,
    pub manual_hold: bool,
    /// Counts decisions; a member applies each one once.
    pub seq: u64,
    /// Where the latest decision takes effect, once the video member chose it.
    pub at: Option<u64>,
    /// How much later the video member placed the incoming input to switch at its
    /// keyframe (it arrived behind the output): every member places it so.
    pub delay: u64,
}

impl Group {
    /// Joins (or founds) the group `name` of the pipeline `top` (the element's
    /// top-level bin).
    pub(super) fn join(
        top: usize,
        name: &str,
        id: usize,
        element: glib::WeakRef<super::FailoverSwitch>,
        start: Input,
    ) -> Arc<Group> {
        let key = (top, name.to_string());
        let mut groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
        groups.retain(|_, g| g.strong_count() > 0);
        let group = groups.get(&key).and_then(Weak::upgrade).unwrap_or_else(|| {
            let g = Arc::new(Group {
                key: key.clone(),
                state: Mutex::new(GroupState {
                    members: Vec::new(),
                    target: Some(start),
                    reason: Reason::Restored,
                    manual_hold: false,
                    seq: 0,
                    at: None,
                    delay: 0,
                }),
            });
            groups.insert(key, Arc::downgrade(&g));
            g
        });
        group.lock().members.push(Member {
            id,
            element,
            health: Default::default(),
            video: false,
        });
        group
    }

    pub(super) fn leave(&self, id: usize) {
        let empty = {
            let mut gs = self.lock();
            gs.members.retain(|m| m.id != id);
            gs.members.is_empty()
        };
        if empty {
            let mut groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
            if groups.get(&self.key).is_some_and(|g| g.strong_count() <= 1) {
                groups.remove(&self.key);
            }
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn name(&self) -> &str {
        &self.key.1
    }
}

impl GroupState {
    /// A member's current view of its inputs.
    pub(super) fn update(&mut self, id: usize, health: [InputHealth; 2], video: bool) {
        if let Some(m) = self.members.iter_mut().find(|m| m.id == id) {
            m.health = health;
            m.video = video;
        }
    }

    /// Whether a member chooses keyframes: the others wait for its switch point.
    pub(super) fn has_video(&self) -> bool {
        self.members.iter().any(|m| m.video)
    }

    /// The inputs' health over all members.
    pub(super) fn combined(&self) -> [InputHealth; 2] {
        let mut out: [InputHealth; 2] = Default::default();
        for i in Input::BOTH {
            let healths = self.members.iter().map(|m| &m.health[i.index()]);
            out[i.index()] = combine(healths);
        }
        out
    }

    /// The group's decision, if it changes the target.
    pub(super) fn decide(&self, cfg: &PolicyConfig, now: u64) -> Option<Switch> {
        policy::decide(cfg, self.target, &self.combined(), now, self.manual_hold)
            .filter(|sw| sw.to != self.target)
    }

    pub(super) fn apply(&mut self, to: Option<Input>, reason: Reason) {
        self.target = to;
        self.reason = reason;
        self.manual_hold = reason == Reason::Manual;
        self.seq += 1;
        self.at = None;
        self.delay = 0;
    }

    /// The other members, to tell them about a decision or a switch point.
    pub(super) fn others(&self, id: usize) -> Vec<glib::WeakRef<super::FailoverSwitch>> {
        self.members
            .iter()
            .filter(|m| m.id != id)
            .map(|m| m.element.clone())
            .collect()
    }
}

/// One input's health over several members: unhealthy if unhealthy in any (the most
/// permanent fault wins), healthy since the latest member became healthy.
fn combine<'a>(healths: impl Iterator<Item = &'a InputHealth>) -> InputHealth {
    let mut out = InputHealth::default();
    let mut since = Some(0u64);
    let mut any = false;
    for h in healths {
        any = true;
        out.absent |= h.absent;
        out.eos |= h.eos;
        out.caps_mismatch |= h.caps_mismatch;
        out.probe_unhealthy |= h.probe_unhealthy;
        out.timed_out |= h.timed_out;
        out.late |= h.late;
        since = since.zip(h.healthy_since).map(|(a, b)| a.max(b));
    }
    out.healthy_since = if any { since } else { None };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy(since: u64) -> InputHealth {
        InputHealth {
            healthy_since: Some(since),
            ..Default::default()
        }
    }

    #[test]
    fn a_failure_in_any_member_fails_the_input() {
        let audio = healthy(5);
        let video = InputHealth {
            timed_out: true,
            ..Default::default()
        };
        let c = combine([&audio, &video].into_iter());
        assert!(!c.is_healthy());
        assert_eq!(c.fault(), Some(Reason::Timeout));
        assert_eq!(c.healthy_since, None);
        // Healthy in both: since the later of the two.
        let c = combine([&healthy(5), &healthy(9)].into_iter());
        assert!(c.is_healthy());
        assert_eq!(c.healthy_since, Some(9));
    }

    #[test]
    fn the_group_decides_once_for_all_members() {
        gst::init().unwrap();
        let g = Group::join(1, "av", 1, glib::WeakRef::new(), Input::Primary);
        let g2 = Group::join(1, "av", 2, glib::WeakRef::new(), Input::Primary);
        assert!(Arc::ptr_eq(&g, &g2), "same pipeline and name: one group");
        let other = Group::join(2, "av", 3, glib::WeakRef::new(), Input::Primary);
        assert!(!Arc::ptr_eq(&g, &other), "another pipeline: another group");
        let cfg = PolicyConfig {
            mode: policy::Mode::PrimaryPreferred,
            auto_switch: true,
            restore_delay: 5,
        };
        let mut gs = g.lock();
        gs.update(1, [healthy(0), healthy(0)], false);
        gs.update(
            2,
            [
                InputHealth {
                    eos: true,
                    ..Default::default()
                },
                healthy(0),
            ],
            true,
        );
        assert!(gs.has_video());
        let sw = gs.decide(&cfg, 10).unwrap();
        assert_eq!((sw.to, sw.reason), (Some(Input::Secondary), Reason::Eos));
        gs.apply(sw.to, sw.reason);
        assert_eq!(gs.seq, 1);
        assert_eq!(gs.decide(&cfg, 20), None);
        assert_eq!(gs.others(1).len(), 1);
        drop(gs);
        g.leave(1);
        g2.leave(2);
        other.leave(3);
    }
}

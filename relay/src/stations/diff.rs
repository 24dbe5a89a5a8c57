// SPDX-License-Identifier: MPL-2.0
//! What a reload changes: the stations to stop, start and restart, by id. Plain
//! Rust, unit-tested.

use std::collections::BTreeMap;

/// The changes from one set of stations to another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// In the old set only.
    pub stop: Vec<String>,
    /// In the new set only.
    pub start: Vec<String>,
    /// In both, with a different configuration.
    pub restart: Vec<String>,
    /// In both, unchanged: left running as they are.
    pub keep: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.stop.is_empty() && self.start.is_empty() && self.restart.is_empty()
    }

    /// `stop a, b; start c; restart d; 2 unchanged`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (what, ids) in [
            ("stop", &self.stop),
            ("start", &self.start),
            ("restart", &self.restart),
        ] {
            if !ids.is_empty() {
                parts.push(format!("{what} {}", ids.join(", ")));
            }
        }
        parts.push(format!("{} unchanged", self.keep.len()));
        parts.join("; ")
    }
}

/// The plan from `old` to `new` (each: id -> configuration).
pub fn plan<T: PartialEq>(old: &BTreeMap<String, T>, new: &BTreeMap<String, T>) -> Plan {
    let mut p = Plan::default();
    for (id, cfg) in old {
        match new.get(id) {
            None => p.stop.push(id.clone()),
            Some(n) if n != cfg => p.restart.push(id.clone()),
            Some(_) => p.keep.push(id.clone()),
        }
    }
    p.start = new
        .keys()
        .filter(|id| !old.contains_key(*id))
        .cloned()
        .collect();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[(&str, u32)]) -> BTreeMap<String, u32> {
        v.iter().map(|(k, c)| (k.to_string(), *c)).collect()
    }

    #[test]
    fn changed_added_removed_and_unchanged() {
        let old = set(&[("a", 1), ("b", 1), ("c", 1)]);
        let new = set(&[("b", 1), ("c", 2), ("d", 1)]);
        let p = plan(&old, &new);
        assert_eq!(p.stop, ["a"]);
        assert_eq!(p.start, ["d"]);
        assert_eq!(p.restart, ["c"]);
        assert_eq!(p.keep, ["b"]);
        assert!(!p.is_empty());
        assert_eq!(p.summary(), "stop a; start d; restart c; 1 unchanged");
    }

    #[test]
    fn same_set_changes_nothing() {
        let old = set(&[("a", 1), ("b", 2)]);
        let p = plan(&old, &old.clone());
        assert!(p.is_empty());
        assert_eq!(p.keep, ["a", "b"]);
        assert_eq!(p.summary(), "2 unchanged");
        let p = plan(&BTreeMap::new(), &old);
        assert_eq!(p.start, ["a", "b"]);
        let p = plan(&old, &BTreeMap::new());
        assert_eq!(p.stop, ["a", "b"]);
    }
}

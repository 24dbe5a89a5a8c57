// SPDX-License-Identifier: MPL-2.0
//! What a `loudnessmatch` in `mode=match` follows: another `loudnessmatch`, in
//! `mode=measure`, named in `reference` and looked up from the top-level bin; and
//! what a measuring element publishes for its followers.

use super::imp::lock;
use super::props::LoudnessMatchMode;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What became of the `reference` lookup; warnings are posted when it changes.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RefStatus {
    /// Found and measuring; its gated short-term loudness, if it has one yet.
    Usable(Option<f64>),
    Problem(String),
}

/// A gated short-term loudness shared without a lock (f64 bits, NaN for none).
#[derive(Debug)]
pub(super) struct Published(AtomicU64);

impl Default for Published {
    fn default() -> Self {
        Published(AtomicU64::new(f64::NAN.to_bits()))
    }
}

impl Published {
    pub(super) fn set(&self, estimate: Option<f64>) {
        let bits = estimate.unwrap_or(f64::NAN).to_bits();
        self.0.store(bits, Ordering::Relaxed);
    }

    pub(super) fn get(&self) -> Option<f64> {
        let v = f64::from_bits(self.0.load(Ordering::Relaxed));
        if v.is_nan() { None } else { Some(v) }
    }
}

/// The element last found for a name, to avoid searching the bin each buffer.
#[derive(Debug, Default)]
pub(super) struct ReferenceCache(Mutex<Option<(String, glib::WeakRef<super::LoudnessMatch>)>>);

impl ReferenceCache {
    pub(super) fn clear(&self) {
        *lock(&self.0) = None;
    }
}

/// Finds the `reference` element `name` for `me` from the top-level bin. Called
/// without any of `me`'s locks held.
pub(super) fn reference_status(
    me: &super::LoudnessMatch,
    cache: &ReferenceCache,
    name: Option<&str>,
) -> RefStatus {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return RefStatus::Problem("mode=match but no 'reference' is set".into());
    };
    let cached = lock(&cache.0)
        .as_ref()
        .filter(|(n, _)| n == name)
        .and_then(|(_, w)| w.upgrade());
    let other = match cached {
        Some(o) if o.name() == name && o.parent().is_some() => o,
        _ => {
            let mut top: gst::Object = me.clone().upcast();
            while let Some(p) = top.parent() {
                top = p;
            }
            let Ok(bin) = top.downcast::<gst::Bin>() else {
                return RefStatus::Problem(format!(
                    "reference '{name}' not found: this element is not in a bin"
                ));
            };
            let Some(el) = bin.by_name(name) else {
                return RefStatus::Problem(format!(
                    "reference '{name}' not found in '{}'",
                    bin.name()
                ));
            };
            let Ok(lm) = el.downcast::<super::LoudnessMatch>() else {
                return RefStatus::Problem(format!(
                    "reference '{name}' is not a loudnessmatch element"
                ));
            };
            *lock(&cache.0) = Some((name.to_string(), lm.downgrade()));
            lm
        }
    };
    if other == *me {
        return RefStatus::Problem("reference names this element itself".into());
    }
    let imp = other.imp();
    if imp.mode() != LoudnessMatchMode::Measure {
        return RefStatus::Problem(format!(
            "reference '{name}' is not measuring (its mode must be 'measure')"
        ));
    }
    RefStatus::Usable(imp.published_estimate())
}

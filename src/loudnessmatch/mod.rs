// SPDX-License-Identifier: MPL-2.0
//! `loudnessmatch`: EBU R128 / ITU-R BS.1770-4 loudness measurement, and a smooth
//! gain with a true-peak limiter that brings the audio to a target loudness
//! (`normalize`) or to the loudness of another `loudnessmatch` (`match`).
use gst::glib;
use gst::prelude::*;

pub(crate) mod engine;
pub(crate) mod gain;
pub(crate) mod gating;
mod imp;
pub(crate) mod kweighting;
pub(crate) mod limiter;
pub(crate) mod meter;
pub(crate) mod pcm;
mod props;
mod reference;
pub(crate) mod timeline;
pub(crate) mod true_peak;

pub use props::LoudnessMatchMode;

glib::wrapper! {
    pub struct LoudnessMatch(ObjectSubclass<imp::LoudnessMatch>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "loudnessmatch",
        gst::Rank::NONE,
        LoudnessMatch::static_type(),
    )
}

// SPDX-License-Identifier: MPL-2.0
//! `healthprobe`: an in-place pass-through that judges a stream (stall, late data,
//! silence, low bitrate, discontinuities) and reports its verdict on the bus (`health`
//! element messages) and downstream (the `failover-health` out-of-band event, see
//! [`crate::health_event`]).
//!
//! All decisions live in the GStreamer-free modules below; `imp` is the glue.
use gst::glib;
use gst::prelude::*;

pub(crate) mod bitrate;
pub(crate) mod discont;
mod imp;
pub(crate) mod lateness;
pub(crate) mod level;
pub(crate) mod schedule;
pub(crate) mod silence;
mod state;
pub(crate) mod verdict;

pub use state::MESSAGE_NAME;

glib::wrapper! {
    pub struct HealthProbe(ObjectSubclass<imp::HealthProbe>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "healthprobe",
        gst::Rank::NONE,
        HealthProbe::static_type(),
    )
}

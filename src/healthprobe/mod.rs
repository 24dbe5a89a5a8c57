// SPDX-License-Identifier: MPL-2.0
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct HealthProbe(ObjectSubclass<imp::HealthProbe>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "healthprobe",
        gst::Rank::NONE,
        HealthProbe::static_type(),
    )
}

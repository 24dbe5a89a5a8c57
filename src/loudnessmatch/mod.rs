// SPDX-License-Identifier: MPL-2.0
use gst::glib;
use gst::prelude::*;

mod imp;

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

// SPDX-License-Identifier: MPL-2.0
use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FailoverSwitch(ObjectSubclass<imp::FailoverSwitch>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "failoverswitch",
        gst::Rank::NONE,
        FailoverSwitch::static_type(),
    )
}

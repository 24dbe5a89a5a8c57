// SPDX-License-Identifier: MPL-2.0
//! `failoverswitch`: takes a primary and a secondary input and sends out one
//! continuous stream, switching when the active input fails.
use gst::glib;
use gst::prelude::*;

mod caps;
mod capscheck;
mod fade;
mod imp;
mod input;
mod output;
mod policy;
mod state;
mod timeline;
mod timer;

glib::wrapper! {
    pub struct FailoverSwitch(ObjectSubclass<imp::FailoverSwitch>) @extends gst::Element, gst::Object;
}

/// `mode` property.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstFailoverSwitchMode")]
pub enum FailoverMode {
    #[default]
    #[enum_value(
        name = "Go back to the primary once it has been healthy for restore-delay",
        nick = "primary-preferred"
    )]
    PrimaryPreferred = 0,
    #[enum_value(name = "Stay on the current input until it fails", nick = "sticky")]
    Sticky = 1,
}

/// `caps-check` property.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstFailoverSwitchCapsCheck")]
pub enum CapsCheck {
    #[default]
    #[enum_value(
        name = "Inputs must match the output caps in every format field",
        nick = "strict"
    )]
    Strict = 0,
    #[enum_value(name = "No check: caps changes are sent downstream", nick = "none")]
    None = 1,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    FailoverMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    CapsCheck::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "failoverswitch",
        gst::Rank::NONE,
        FailoverSwitch::static_type(),
    )
}

// SPDX-License-Identifier: MPL-2.0
//! `failoverswitch`: takes a primary and a secondary input and sends out one
//! continuous stream, switching when the active input fails.
use gst::glib;
use gst::prelude::*;

mod align;
mod caps;
mod capscheck;
mod decode;
mod fade;
mod group;
mod imp;
mod input;
mod output;
mod policy;
mod staged;
mod state;
mod switchpoint;
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

/// `align` property.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstFailoverSwitchAlign")]
pub enum AlignMode {
    #[enum_value(name = "No alignment: offset is not applied", nick = "off")]
    Off = 0,
    #[default]
    #[enum_value(
        name = "Raw audio inputs are measured and aligned by the element (offset is read-only)",
        nick = "auto"
    )]
    Auto = 1,
    #[enum_value(
        name = "The application measures and writes offset (e.g. from decoded side branches); an input placed anew is restored to only after the next write",
        nick = "manual"
    )]
    Manual = 2,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    FailoverMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    AlignMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    CapsCheck::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "failoverswitch",
        gst::Rank::NONE,
        FailoverSwitch::static_type(),
    )
}

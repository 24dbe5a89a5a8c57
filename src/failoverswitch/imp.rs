// SPDX-License-Identifier: MPL-2.0
use gst::glib;
use gst::subclass::prelude::*;
use std::sync::LazyLock;

#[allow(dead_code)]
static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("failoverswitch", gst::DebugColorFlags::empty(), Some("failoverswitch"))
});

#[derive(Default)]
pub struct FailoverSwitch {}

#[glib::object_subclass]
impl ObjectSubclass for FailoverSwitch {
    const NAME: &'static str = "GstFailoverSwitch";
    type Type = super::FailoverSwitch;
    type ParentType = gst::Element;
}

impl ObjectImpl for FailoverSwitch {}
impl GstObjectImpl for FailoverSwitch {}

impl ElementImpl for FailoverSwitch {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static M: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new("FailoverSwitch", "Generic", "TODO", "gst-plugin-failover developers")
        });
        Some(&*M)
    }
}

// SPDX-License-Identifier: MPL-2.0
use gst::glib;
use gst::subclass::prelude::*;
use std::sync::LazyLock;

#[allow(dead_code)]
static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "healthprobe",
        gst::DebugColorFlags::empty(),
        Some("healthprobe"),
    )
});

#[derive(Default)]
pub struct HealthProbe {}

#[glib::object_subclass]
impl ObjectSubclass for HealthProbe {
    const NAME: &'static str = "GstHealthProbe";
    type Type = super::HealthProbe;
    type ParentType = gst::Element;
}

impl ObjectImpl for HealthProbe {}
impl GstObjectImpl for HealthProbe {}

impl ElementImpl for HealthProbe {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static M: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "HealthProbe",
                "Generic",
                "TODO",
                "gst-plugin-failover developers",
            )
        });
        Some(&*M)
    }
}

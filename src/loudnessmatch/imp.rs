// SPDX-License-Identifier: MPL-2.0
use gst::glib;
use gst::subclass::prelude::*;
use std::sync::LazyLock;

#[allow(dead_code)]
static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "loudnessmatch",
        gst::DebugColorFlags::empty(),
        Some("loudnessmatch"),
    )
});

#[derive(Default)]
pub struct LoudnessMatch {}

#[glib::object_subclass]
impl ObjectSubclass for LoudnessMatch {
    const NAME: &'static str = "GstLoudnessMatch";
    type Type = super::LoudnessMatch;
    type ParentType = gst::Element;
}

impl ObjectImpl for LoudnessMatch {}
impl GstObjectImpl for LoudnessMatch {}

impl ElementImpl for LoudnessMatch {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static M: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "LoudnessMatch",
                "Generic",
                "TODO",
                "gst-plugin-failover developers",
            )
        });
        Some(&*M)
    }
}

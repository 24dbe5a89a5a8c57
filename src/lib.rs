// SPDX-License-Identifier: MPL-2.0
//! `failover`: redundant live ingest for GStreamer.
//!
//! Three elements: `failoverswitch` (primary/secondary switch with one continuous
//! output), `healthprobe` (judges an input and tells the switch) and `loudnessmatch`
//! (EBU R128 measurement and gain matching). [`align`] estimates the offset between
//! two inputs that carry the same programme.
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

use gst::glib;

pub mod align;
pub mod failoverswitch;
pub mod health_event;
pub mod healthprobe;
pub mod loudnessmatch;
pub mod on_air_event;
pub(crate) mod outbox;
pub(crate) mod sample_format;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    failoverswitch::register(plugin)?;
    healthprobe::register(plugin)?;
    loudnessmatch::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    failover,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL-2.0",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);

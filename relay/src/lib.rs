// SPDX-License-Identifier: MPL-2.0
//! `gst-failover-relay`: relays a live AAC stream from a primary and a secondary
//! Icecast mount to an output mount through `failoverswitch`.

pub mod args;
pub mod keepalive;
pub mod live_edge;
pub mod output;
pub mod pipeline;
pub mod signals;
pub mod status;
pub mod url;

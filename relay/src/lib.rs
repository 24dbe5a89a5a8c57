// SPDX-License-Identifier: MPL-2.0
//! `gst-failover-relay`: relays a live stream from a primary and a secondary input to
//! one output through the plugin's `failoverswitch` (with `healthprobe` and
//! `loudnessmatch`), reconnecting inputs and keeping the output alive through every
//! outage. The binary is `src/main.rs`; this library holds everything, so that
//! tests and tools (`testkit/`) can use its parts.
//!
//! Layout:
//! - [`app`]: the program (command line, main loop, status line, signals);
//! - [`args`], [`config`]: the command line and what one station is (plain Rust);
//! - [`stations`]: many stations from a stations file, reloaded on SIGHUP;
//! - [`http`], [`report`]: `/health`, `/status`, `/metrics` and the manual switch;
//! - [`secrets`]: credentials from the file or the environment, kept out of sight;
//! - [`station`]: one running station, the context its bus handler works on;
//! - `pipeline`: the station's pipeline for the `passthrough` and `decode` setups;
//! - `align`: passthrough alignment (the decoded side branches measured, the
//!   switch's offset written);
//! - [`av`]: A/V stations (RTMP in and out, grouped switches, the ladder);
//! - `input`: input kinds (`http://`), the branches' live edge and reconnection;
//! - `output`: output kinds (Icecast source client, stdout) and the passthrough
//!   keep-alive;
//! - [`status`], [`logs`]: the station's state, status line and log files;
//! - [`url`], [`signals`], [`process`]: URL parsing, signals on the main loop, the
//!   open-files limit and malloc arenas.

pub(crate) mod align;
pub mod app;
pub mod args;
pub mod av;
pub mod config;
pub mod http;
pub(crate) mod input;
pub mod logs;
pub(crate) mod output;
pub(crate) mod pipeline;
pub mod process;
pub mod report;
pub mod secrets;
pub mod signals;
pub mod station;
pub mod stations;
pub mod status;
pub mod url;

use std::sync::OnceLock;

/// Initialises GStreamer and registers the plugin's elements statically (no
/// `GST_PLUGIN_PATH` needed). Safe to call more than once.
pub fn init() -> Result<(), String> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        gst::init().map_err(|e| e.to_string())?;
        gstfailover::plugin_register_static().map_err(|e| e.to_string())
    })
    .clone()
}

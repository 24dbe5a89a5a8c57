// SPDX-License-Identifier: MPL-2.0
//! `gst-failover-relay`: relays a live AAC stream from a primary and a secondary
//! Icecast mount to an output mount through `failoverswitch`. Run with `--help`.
//!
//! ```text
//! gst-failover-relay \
//!     --primary http://127.0.0.1:8000/station.aac \
//!     --secondary http://127.0.0.1:8000/station_fallback.aac \
//!     --output icecast://source:hackme@127.0.0.1:8000/relay.aac --setup decode
//! ```

fn main() {
    if let Err(e) = gst_failover_relay::app::run(std::env::args().skip(1)) {
        eprintln!("gst-failover-relay: {e}");
        std::process::exit(1);
    }
}

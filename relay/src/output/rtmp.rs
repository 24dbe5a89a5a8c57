// SPDX-License-Identifier: MPL-2.0
//! `rtmp://` outputs: the A/V station's pipeline ends in `flvmux streamable=true !
//! rtmp2sink` (see `av`); here only what the status line needs.

use super::OutputStats;
use gst::prelude::*;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// `rtmp://` or `rtmps://`.
pub(crate) fn is_rtmp(url: &str) -> bool {
    let l = url.to_ascii_lowercase();
    l.starts_with("rtmp://") || l.starts_with("rtmps://")
}

/// Counts the bytes that reach `sink` (its sink pad) in `stats`.
pub(crate) fn count_bytes(sink: &gst::Element, stats: Arc<OutputStats>) {
    let Some(pad) = sink.static_pad("sink") else {
        return;
    };
    stats.connected.store(true, Ordering::Relaxed);
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            let n = match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => b.size(),
                Some(gst::PadProbeData::BufferList(l)) => l.calculate_size(),
                _ => 0,
            };
            stats.wrote(n);
            gst::PadProbeReturn::Ok
        },
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn rtmp_urls() {
        assert!(super::is_rtmp("rtmp://h/live/out"));
        assert!(super::is_rtmp("RTMPS://h/live/out"));
        assert!(!super::is_rtmp("icecast://s:p@h:1/x"));
    }
}

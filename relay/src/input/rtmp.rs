// SPDX-License-Identifier: MPL-2.0
//! `rtmp://` inputs (an RTMP ingest, e.g. nginx-rtmp): `rtmp2src ! flvdemux`, then
//! per medium the station asks for a parser and an appsink: `aacparse` (to the audio
//! format the station wants: ADTS for an Icecast output, raw for FLV) and
//! `h264parse` (AVC, whole access units, as `flvmux` takes them).
//!
//! `rtmp2src` (GStreamer 1.22) is not a live source and sends EOS when the publisher
//! disconnects; `flvdemux` starts every connection's timestamps at 0. Both are the
//! bridge's business (see `edge`): the connection's pipeline runs as fast as its
//! data arrives (appsinks without sync), and its data is placed on the main
//! pipeline's clock on arrival.

use super::Media;
use gst::prelude::*;

/// The connection's pipeline for `url`: appsinks `audio` and/or `video` behind
/// queues `aqueue`/`vqueue`, which [`link_demuxer`] links to `flvdemux` as its pads
/// appear.
pub(crate) fn pipeline_description(url: &str, media: &Media) -> String {
    let mut d = format!(
        "rtmp2src name=src location=\"{}\" ! flvdemux name=demux",
        url.replace('"', "%22")
    );
    if let Some(caps) = &media.audio {
        d.push_str(&format!(
            " queue name=aqueue ! aacparse name=parse ! {caps} \
             ! appsink name=audio sync=false async=false max-buffers=1000 drop=true"
        ));
    }
    if let Some(caps) = &media.video {
        d.push_str(&format!(
            " queue name=vqueue ! h264parse name=vparse ! {caps} \
             ! appsink name=video sync=false async=false max-buffers=1000 drop=true"
        ));
    }
    d
}

/// Links `flvdemux`'s pads as they appear: `audio` and `video` to their branch, a
/// medium the station does not take to a fakesink (an unlinked pad would stop the
/// demuxer: not-linked). Not by `gst_parse`'s delayed linking: `rtmp2src` writes an
/// FLV header that announces video only, so `flvdemux` signals no-more-pads before
/// its audio pad exists, and delayed linking gives up.
pub(crate) fn link_demuxer(pipeline: &gst::Pipeline) -> Result<(), String> {
    let demux = pipeline.by_name("demux").ok_or("no flvdemux")?;
    let weak = pipeline.downgrade();
    demux.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let branch = match pad.name().as_str() {
            "audio" => pipeline.by_name("aqueue"),
            "video" => pipeline.by_name("vqueue"),
            _ => None,
        };
        let sink = match branch {
            Some(q) => q,
            None => {
                let Ok(f) = gst::ElementFactory::make("fakesink")
                    .property("sync", false)
                    .property("async", false)
                    .build()
                else {
                    return;
                };
                if pipeline.add(&f).is_err() {
                    return;
                }
                let _ = f.sync_state_with_parent();
                f
            }
        };
        if let Some(sinkpad) = sink.static_pad("sink") {
            if !sinkpad.is_linked() {
                let _ = pad.link(&sinkpad);
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_media_or_one() {
        let av = Media::av_flv();
        let d = pipeline_description("rtmp://127.0.0.1:1935/live/a", &av);
        assert!(
            d.starts_with("rtmp2src name=src location=\"rtmp://127.0.0.1:1935/live/a\" ! flvdemux")
        );
        assert!(
            d.contains("demux.audio ! queue name=aqueue ! aacparse"),
            "{d}"
        );
        assert!(d.contains("stream-format=raw"), "{d}");
        assert!(
            d.contains("demux.video ! queue name=vqueue ! h264parse"),
            "{d}"
        );
        let a = Media::audio_adts();
        let d = pipeline_description("rtmp://h/live/a", &a);
        assert!(d.contains("stream-format=adts"), "{d}");
        assert!(!d.contains("vqueue"), "{d}");
    }
}

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

/// The connection's pipeline for `url`: appsinks `audio` and/or `video`.
pub(crate) fn pipeline_description(url: &str, media: &Media) -> String {
    let mut d = format!(
        "rtmp2src name=src location=\"{}\" ! flvdemux name=demux",
        url.replace('"', "%22")
    );
    if let Some(caps) = &media.audio {
        d.push_str(&format!(
            " demux.audio ! queue name=aqueue ! aacparse name=parse ! {caps} \
             ! appsink name=audio sync=false async=false max-buffers=1000 drop=true"
        ));
    }
    if let Some(caps) = &media.video {
        d.push_str(&format!(
            " demux.video ! queue name=vqueue ! h264parse name=vparse ! {caps} \
             ! appsink name=video sync=false async=false max-buffers=1000 drop=true"
        ));
    }
    d
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
        assert!(!d.contains("demux.video"), "{d}");
    }
}

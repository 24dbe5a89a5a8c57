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
            d.starts_with("rtmp2src name=src location=\"rtmp://127.0.0.1:1935/live/a\" ! flvdemux"),
            "{d}"
        );
        assert!(d.contains(" queue name=aqueue ! aacparse"), "{d}");
        assert!(d.contains("stream-format=raw"), "{d}");
        assert!(d.contains(" queue name=vqueue ! h264parse"), "{d}");
        let d = pipeline_description("rtmp://h/live/a", &Media::audio_adts());
        assert!(d.contains("stream-format=adts"), "{d}");
        assert!(!d.contains("vqueue"), "{d}");
    }

    /// FLV with audio and video, for a station that takes audio only: the audio
    /// pad is linked to its branch when it appears, the video pad to a fakesink
    /// (unlinked, it would stop the demuxer with not-linked).
    #[test]
    fn demuxer_pads_are_linked_as_they_appear() {
        crate::init().unwrap();
        if gst::ElementFactory::find("x264enc").is_none() {
            eprintln!("skipped: x264enc missing");
            return;
        }
        let pipeline = gst::parse::launch(
            "videotestsrc num-buffers=25 ! video/x-raw,width=64,height=48,framerate=25/1 \
             ! x264enc ! flvmux name=mux streamable=true ! flvdemux name=demux \
             audiotestsrc num-buffers=47 samplesperbuffer=1024 ! avenc_aac ! aacparse ! mux. \
             queue name=aqueue ! aacparse ! audio/mpeg,stream-format=adts \
             ! fakesink name=audio sync=false async=false",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        link_demuxer(&pipeline).unwrap();
        let sink = pipeline.by_name("audio").unwrap();
        let frames = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let f = frames.clone();
        sink.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                f.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(20),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        pipeline.set_state(gst::State::Null).unwrap();
        let msg = msg.expect("the pipeline ends");
        assert_eq!(msg.type_(), gst::MessageType::Eos, "{msg:?}");
        assert!(frames.load(std::sync::atomic::Ordering::Relaxed) >= 40);

        // Video only (as while the audio pad does not exist yet): the untaken
        // medium goes to a fakesink; unlinked, the demuxer would stop with
        // not-linked.
        let pipeline = gst::parse::launch(
            "videotestsrc num-buffers=25 ! video/x-raw,width=64,height=48,framerate=25/1 \
             ! x264enc ! flvmux streamable=true ! flvdemux name=demux \
             queue name=aqueue ! fakesink name=audio sync=false async=false",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        link_demuxer(&pipeline).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        // (No EOS: the audio branch never gets a pad.)
        let error = pipeline
            .bus()
            .unwrap()
            .timed_pop_filtered(gst::ClockTime::from_seconds(3), &[gst::MessageType::Error]);
        let video_sink = pipeline
            .iterate_sinks()
            .into_iter()
            .flatten()
            .find(|e| e.name() != "audio");
        let got_video = video_sink
            .as_ref()
            .and_then(|s| s.property::<Option<gst::Sample>>("last-sample"))
            .is_some();
        pipeline.set_state(gst::State::Null).unwrap();
        assert!(error.is_none(), "{error:?}");
        assert!(got_video, "{video_sink:?}");
    }
}

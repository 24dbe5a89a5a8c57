// SPDX-License-Identifier: MPL-2.0
//! A/V stations: RTMP in (H.264 + AAC), RTMP out. A station whose output is an
//! `rtmp://` URL is an A/V station (see [`is_av`]); its inputs must be `rtmp://`
//! too. Its main pipeline:
//!
//! ```text
//! appsrc name=primary_audio   ! asw.primary      appsrc name=primary_video   ! sw.primary
//! appsrc name=secondary_audio ! asw.secondary    appsrc name=secondary_video ! sw.secondary
//! failoverswitch name=asw group=av ! filler ! tee name=out_atee ! queue ! mux.audio
//! failoverswitch name=sw  group=av ! filler ! tee name=out_vtee ! queue ! mux.video
//! flvmux name=mux streamable=true ! appsink name=out_sink   (-> the output's writer)
//! ```
//! The two switches are one `group`: they switch as one, at the incoming video's
//! keyframe, audio trimmed to it. H.264 and AAC are passed through as they come.
//! The FLV goes to the station's output, whose writer publishes it with its own
//! `rtmp2sink` and reconnects it when the server goes away (`output::rtmp`): the
//! station's pipeline never sees the server.
//! While no input is healthy the switches send GAP events, which the fillers
//! ([`filler`]) answer with the last video keyframe again and silent AAC frames, so
//! the output's viewers keep getting a stream: see [`filler`] for why.
//!
//! The ladder (`--ladder 480p,360p`, [`ladder`]) decodes the switched video once and
//! encodes each variant from it, with the switched AAC, to `<output>_480p`, ...:
//! ```text
//! out_vtee. ! queue ! avdec_h264 name=lad_dec ! videoconvert ! tee name=lad_tee
//! lad_tee. ! queue leaky ! videoscale ! video/x-raw,width=854,height=480
//!     ! x264enc name=v480_enc tune=zerolatency ... ! h264parse ! queue ! v480_mux.video
//! out_atee. ! queue ! v480_mux.audio   flvmux name=v480_mux ! appsink name=v480_sink (-> OUTPUT_480p)
//! ```
//! The decoder sees one continuous stream; at a switch it gets the incoming input's
//! caps (its `codec_data`) before the incoming keyframe. Each variant's encoder makes
//! a keyframe wherever the switched input had one (see [`force_keyframes`]), so the
//! variants have the input's GOP, aligned with each other.

pub(crate) mod filler;
pub mod ladder;

use crate::config::StationConfig;
use crate::input::{INPUTS, InputKind, Media, Sinks};
use crate::pipeline::StationPipeline;
use gst::prelude::*;
use ladder::Variant;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The group of a station's two switches (one pipeline per station: the name
/// needs to be unique only there).
pub(crate) const GROUP: &str = "av";
/// The audio switch's name (the video switch is `sw`, the station's switch).
pub(crate) const AUDIO_SWITCH: &str = "asw";

/// Same appsrc settings as the audio-only station (see `pipeline`).
const APPSRC: &str = "is-live=true format=time do-timestamp=false min-latency=0 block=false \
    max-bytes=0 max-buffers=0 max-time=2000000000 leaky-type=downstream";
/// Between the switches and the muxers: room for a long GOP's wait.
const OUT_QUEUE: &str = "max-size-time=5000000000 max-size-bytes=0 max-size-buffers=0";
/// In front of a variant's encoder: raw frames are shed (never blocking the main
/// output) if the encoder falls behind.
const RAW_QUEUE: &str =
    "leaky=downstream max-size-time=1000000000 max-size-bytes=0 max-size-buffers=0";
/// x264enc for live: no lookahead or B-frames, 1 s of VBV; keyframes come from the
/// input's (forced), at the latest every 300 frames.
const X264: &str = "tune=zerolatency speed-preset=veryfast key-int-max=300 vbv-buf-capacity=1000";

/// Each muxer waits this long (ns) for the stream that is late before it writes the
/// other on: `flvmux` keeps an FLV's timestamps increasing, so a unit that comes
/// after the other stream's later ones would be put on their timestamp (measured
/// without it: audio frames one video frame late, A/V off by a frame, now and then;
/// a variant's video squeezed onto the audio's timestamps while `x264enc` lags at
/// start-up under CPU load). It adds to the station's latency (the output is that
/// much later).
const MUX_LATENCY: u64 = 500_000_000;

/// The muxers' sinks: each FLV tag to the output's writer, at its time (synchronised
/// to the clock like the `rtmp2sink` it feeds would be).
const SINK: &str = "emit-signals=true max-buffers=0 drop=false";

/// Is this station's output an RTMP URL (an A/V station)?
pub(crate) fn is_av(c: &StationConfig) -> bool {
    crate::output::rtmp::is_rtmp(&c.output)
}

fn ns(t: Duration) -> String {
    t.as_nanos().to_string()
}

/// The elements an A/V station needs (with a ladder, the transcoding ones too).
fn factories(c: &StationConfig) -> Vec<&'static str> {
    let mut f = vec!["appsrc", "appsink", "flvmux", "rtmp2sink", "tee", "queue"];
    if !c.ladder.is_empty() {
        f.extend([
            "avdec_h264",
            "videoconvert",
            "videoscale",
            "x264enc",
            "h264parse",
        ]);
    }
    f
}

/// One variant of the ladder, from the decoded video's tee to its own output.
fn variant_chain(v: &Variant) -> String {
    let n = format!("v{}", v.height);
    format!(
        "lad_tee. ! queue name={n}_rqueue {RAW_QUEUE} ! videoscale name={n}_scale \
         ! video/x-raw,width={w},height={h},pixel-aspect-ratio=1/1 \
         ! x264enc name={n}_enc {X264} bitrate={kbps} ! video/x-h264,profile=main \
         ! h264parse name={n}_parse ! queue name={n}_vqueue {OUT_QUEUE} ! {n}_mux.video \
         out_atee. ! queue name={n}_aqueue {OUT_QUEUE} ! {n}_mux.audio \
         flvmux name={n}_mux streamable=true latency={MUX_LATENCY} ! appsink name={n}_sink {SINK}\n",
        w = v.width,
        h = v.height,
        kbps = v.kbps,
    )
}

/// The A/V station's pipeline description.
pub(crate) fn describe(c: &StationConfig) -> String {
    let mut d = String::new();
    for name in INPUTS {
        d.push_str(&format!(
            "appsrc name={name}_audio {APPSRC} ! {AUDIO_SWITCH}.{name}\n\
             appsrc name={name}_video {APPSRC} ! sw.{name}\n"
        ));
    }
    let switch = format!(
        "group={GROUP} timeout={} restore-delay={} mode={} latency={}",
        ns(c.timeout),
        ns(c.restore_delay),
        c.mode,
        ns(c.latency)
    );
    d.push_str(&format!(
        "failoverswitch name={AUDIO_SWITCH} {switch} ! identity name=out_afill \
         ! tee name=out_atee ! queue name=out_aqueue {OUT_QUEUE} ! mux.audio\n\
         failoverswitch name=sw {switch} ! identity name=out_vfill \
         ! tee name=out_vtee ! queue name=out_vqueue {OUT_QUEUE} ! mux.video\n\
         flvmux name=mux streamable=true latency={MUX_LATENCY} ! appsink name=out_sink {SINK}\n"
    ));
    if !c.ladder.is_empty() {
        d.push_str(&format!(
            "out_vtee. ! queue name=lad_queue {OUT_QUEUE} ! avdec_h264 name=lad_dec \
             ! videoconvert name=lad_conv ! tee name=lad_tee\n"
        ));
        for v in &c.ladder {
            d.push_str(&variant_chain(v));
        }
    }
    d
}

/// Builds an A/V station's main pipeline (see the module's text).
pub(crate) fn build(c: &StationConfig) -> Result<StationPipeline, String> {
    let kinds = [
        InputKind::parse(&c.primary).map_err(|e| format!("--primary: {e}"))?,
        InputKind::parse(&c.secondary).map_err(|e| format!("--secondary: {e}"))?,
    ];
    for (k, opt) in kinds.iter().zip(["--primary", "--secondary"]) {
        if !matches!(k, InputKind::Rtmp(_)) {
            return Err(format!(
                "{opt}: an A/V station (rtmp:// output) takes rtmp:// inputs"
            ));
        }
    }
    for f in factories(c) {
        if gst::ElementFactory::find(f).is_none() {
            return Err(format!("element '{f}' is not installed (A/V station)"));
        }
    }
    let description = describe(c);
    let pipeline = crate::pipeline::launch(&description)?;
    let by_name = |n: &str| crate::pipeline::element(&pipeline, n);
    let appsrc = |n: String| -> Result<gst_app::AppSrc, String> {
        by_name(&n)?
            .downcast::<gst_app::AppSrc>()
            .map_err(|_| format!("{n} is not an appsrc"))
    };
    let sinks = |name: &str| -> Result<Sinks, String> {
        Ok(Sinks {
            audio: Some(appsrc(format!("{name}_audio"))?),
            video: Some(appsrc(format!("{name}_video"))?),
        })
    };
    filler::install(
        &by_name("out_afill")?,
        &by_name("out_vfill")?,
        &by_name("sw")?,
    )?;
    if !c.ladder.is_empty() {
        let encoders = c
            .ladder
            .iter()
            .map(|v| by_name(&format!("v{}_enc", v.height)))
            .collect::<Result<Vec<_>, _>>()?;
        force_keyframes(&by_name("lad_dec")?, &encoders)?;
    }
    let variants = c
        .ladder
        .iter()
        .map(|v| {
            let sink = by_name(&format!("v{}_sink", v.height))?;
            Ok((format!("{}p", v.height), v.url(&c.output), sink))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let [p, s] = kinds;
    Ok(StationPipeline {
        switch: by_name("sw")?,
        appsink: by_name("out_sink")?,
        variants,
        inputs: [(p, sinks(INPUTS[0])?), (s, sinks(INPUTS[1])?)],
        media: Media::av_flv(),
        description,
        pipeline,
    })
}

/// Keyframes of the ladder's variants where the switched input has them (and the
/// decoder's input starts at a keyframe): the PTS of
/// every keyframe that enters the decoder is noted, and each encoder is told to make
/// a keyframe (a `GstForceKeyUnit` event) at the first frame at or after it. Frames
/// shed by a variant's queue cannot lose a keyframe: the next frame takes it.
/// Decoded frames go on only in increasing milliseconds
/// ([`ladder::decoded_frame_goes_on`]).
fn force_keyframes(decoder: &gst::Element, encoders: &[gst::Element]) -> Result<(), String> {
    let last = Mutex::new(None::<u64>);
    decoder
        .static_pad("src")
        .ok_or("decoder without src pad")?
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(pts) = info.buffer().and_then(|b| b.pts()) else {
                return gst::PadProbeReturn::Ok;
            };
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if ladder::decoded_frame_goes_on(*last, pts.nseconds()) {
                *last = Some(pts.nseconds());
                gst::PadProbeReturn::Ok
            } else {
                gst::PadProbeReturn::Handled
            }
        });
    let pending: Vec<Arc<Mutex<VecDeque<gst::ClockTime>>>> =
        encoders.iter().map(|_| Arc::default()).collect();
    let sink = decoder
        .static_pad("sink")
        .ok_or("decoder without sink pad")?;
    let all = pending.clone();
    let keyframe_seen = AtomicBool::new(false);
    sink.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer() {
            if buf.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                // Frames before the first keyframe would decode to grey pictures.
                if !keyframe_seen.load(Ordering::Relaxed) {
                    // (Handled: the binding releases it; Drop left GStreamer
                    // releasing a NULL buffer, a CRITICAL each time.)
                    return gst::PadProbeReturn::Handled;
                }
            } else {
                keyframe_seen.store(true, Ordering::Relaxed);
                if let Some(pts) = buf.pts() {
                    for q in &all {
                        let mut q = q.lock().unwrap_or_else(|e| e.into_inner());
                        q.push_back(pts);
                        // A variant that sheds everything keeps only recent ones.
                        while q.len() > 16 {
                            q.pop_front();
                        }
                    }
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
    for (enc, q) in encoders.iter().zip(pending) {
        let pad = enc.static_pad("sink").ok_or("encoder without sink pad")?;
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let Some(pts) = info.buffer().and_then(|b| b.pts()) else {
                return gst::PadProbeReturn::Ok;
            };
            let due = {
                let mut q = q.lock().unwrap_or_else(|e| e.into_inner());
                let mut due = false;
                while q.front().is_some_and(|k| *k <= pts) {
                    q.pop_front();
                    due = true;
                }
                due
            };
            if due {
                let s = gst::Structure::builder("GstForceKeyUnit")
                    .field("all-headers", true)
                    .field("count", 0u32)
                    .build();
                pad.send_event(gst::event::CustomDownstream::new(s));
            }
            gst::PadProbeReturn::Ok
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;

// SPDX-License-Identifier: MPL-2.0
//! A station's inputs. The station's main pipeline (switches, output) takes each
//! input through `appsrc` elements, one per medium (`primary_audio`,
//! `primary_video`, `secondary_audio`, ...). Every connection of an input is a small
//! pipeline of its own (the source and its parsers, ending in appsinks), and its
//! samples are pushed into those appsrcs, placed on the main pipeline's running
//! time. So the main pipeline is live, never sees an input's EOS, error or flush,
//! and a reconnection is: tear the connection's pipeline down, build a new one.
//!
//! - [`InputKind`]: what an input URL designates; [`Media`]: which media the
//!   station takes from its inputs, in which format.
//! - [`http`]: `http://` (Icecast) inputs, read by the relay's own HTTP client;
//!   [`rtmp`]: `rtmp://` inputs through `rtmp2src ! flvdemux` (AAC, H.264).
//! - [`edge`]: a connection's live edge, lag, lead and delivery rate (plain Rust).
//! - [`supervisor`]: the input's verdicts, watchdog and backoff (plain Rust).
//! - [`bridge`]: the GStreamer glue: connection pipelines, their samples onto the
//!   appsrcs, health events into the switch.

pub(crate) mod bridge;
#[cfg(test)]
mod bridge_tests;
pub(crate) mod edge;
pub(crate) mod http;
pub(crate) mod rtmp;
pub(crate) mod supervisor;

use crate::url::Url;

pub(crate) use bridge::{Input, InputEvent, InputEventKind, Sinks, TimeBase};

/// The inputs of a station, in the order of `failoverswitch`'s pads.
pub const INPUTS: [&str; 2] = ["primary", "secondary"];

/// AAC in ADTS frames (what an Icecast output sends).
pub(crate) const AAC_ADTS: &str = "audio/mpeg,mpegversion=4,stream-format=adts";
/// AAC as FLV carries it (raw, with codec_data).
pub(crate) const AAC_RAW: &str = "audio/mpeg,mpegversion=4,stream-format=raw";
/// H.264 as FLV carries it.
pub(crate) const H264_AVC: &str = "video/x-h264,stream-format=avc,alignment=au";

/// The media a station takes from each input, with the caps its appsinks ask for
/// (None: not taken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Media {
    pub(crate) audio: Option<String>,
    pub(crate) video: Option<String>,
}

impl Media {
    /// Audio only, in ADTS frames (the Icecast station).
    pub(crate) fn audio_adts() -> Media {
        Media {
            audio: Some(AAC_ADTS.into()),
            video: None,
        }
    }

    /// AAC and H.264 as FLV carries them (an A/V station with an RTMP output).
    #[allow(dead_code)] // the A/V station topology builds on it
    pub(crate) fn av_flv() -> Media {
        Media {
            audio: Some(AAC_RAW.into()),
            video: Some(H264_AVC.into()),
        }
    }
}

/// What an input URL designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InputKind {
    /// An HTTP stream (`http://`, or an `icecast://` mount read over HTTP).
    Http(Url),
    /// An RTMP stream (`rtmp://host[:port]/app/stream`), as `rtmp2src` takes it.
    Rtmp(String),
    /// Tests: a launch line of its own, with appsinks `audio` and/or `video`.
    #[cfg(test)]
    Launch(String),
}

impl InputKind {
    pub(crate) fn parse(s: &str) -> Result<InputKind, String> {
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("rtmp://") || lower.starts_with("rtmps://") {
            if s.split_once("://")
                .is_none_or(|(_, rest)| rest.split('/').count() < 3)
            {
                return Err(format!("'{s}': expected rtmp://host[:port]/app/stream"));
            }
            return Ok(InputKind::Rtmp(s.to_string()));
        }
        Url::parse(s)
            .map(InputKind::Http)
            .map_err(|e| format!("{e} (inputs: http://, icecast://, rtmp://)"))
    }

    /// The media this kind can carry, restricted to what the station takes.
    pub(crate) fn media(&self, wanted: &Media) -> Media {
        match self {
            InputKind::Http(_) => Media {
                audio: wanted.audio.clone(),
                video: None,
            },
            InputKind::Rtmp(_) => wanted.clone(),
            #[cfg(test)]
            InputKind::Launch(_) => wanted.clone(),
        }
    }

    /// The connection pipeline's description (appsinks `audio`, `video`; for HTTP
    /// an appsrc `src` the relay's reader feeds).
    pub(crate) fn pipeline_description(&self, wanted: &Media) -> String {
        let media = self.media(wanted);
        match self {
            InputKind::Http(_) => {
                http::pipeline_description(media.audio.as_deref().unwrap_or(AAC_ADTS))
            }
            InputKind::Rtmp(url) => rtmp::pipeline_description(url, &media),
            #[cfg(test)]
            InputKind::Launch(d) => d.clone(),
        }
    }

    /// The elements a connection needs (checked when the station starts).
    pub(crate) fn factories(&self) -> &'static [&'static str] {
        match self {
            InputKind::Http(_) => &["appsrc", "typefind", "aacparse", "appsink"],
            InputKind::Rtmp(_) => &[
                "rtmp2src",
                "flvdemux",
                "queue",
                "aacparse",
                "h264parse",
                "appsink",
            ],
            #[cfg(test)]
            InputKind::Launch(_) => &[],
        }
    }

    /// For logs: the URL without credentials.
    pub(crate) fn display(&self) -> String {
        match self {
            InputKind::Http(u) => u.http_without_credentials(),
            InputKind::Rtmp(s) => s.clone(),
            #[cfg(test)]
            InputKind::Launch(_) => "launch".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let k = InputKind::parse("http://u:secret@127.0.0.1:8000/station.aac").unwrap();
        assert_eq!(k.display(), "http://127.0.0.1:8000/station.aac");
        let d = k.pipeline_description(&Media::audio_adts());
        assert!(!d.contains("secret") && !d.contains("souphttpsrc"), "{d}");
        assert!(d.contains("appsink name=audio"), "{d}");
        // An HTTP input carries no video, whatever the station takes.
        assert_eq!(k.media(&Media::av_flv()).video, None);
        let r = InputKind::parse("rtmp://127.0.0.1:1935/live/primary").unwrap();
        assert_eq!(
            r,
            InputKind::Rtmp("rtmp://127.0.0.1:1935/live/primary".into())
        );
        assert!(
            r.pipeline_description(&Media::av_flv())
                .contains("appsink name=video")
        );
        assert!(InputKind::parse("rtmp://host/onlyapp").is_err());
        assert!(InputKind::parse("ftp://h/x").is_err());
    }
}

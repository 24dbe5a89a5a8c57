// SPDX-License-Identifier: MPL-2.0
//! What an RTMP output's new publish starts with. `flvmux` writes the FLV header,
//! the `onMetaData` tag and the codec data (AVC and AAC sequence headers) once, at
//! its start (and the codec data again when an input with other codec data comes
//! on air); a connection opened later (the server restarted) would get none of it,
//! and would start in the middle of a GOP. [`Publish`] remembers the latest of each,
//! and on a new connection holds everything back until the next video keyframe,
//! which then goes out behind the metadata and both sequence headers, all stamped
//! with the keyframe's timestamp: a player that joins decodes from its first frame.
//!
//! Plain bytes, no GStreamer: one FLV tag per buffer, as `flvmux` pushes them (and
//! as `rtmp2sink` takes them).

/// FLV tag types.
const AUDIO: u8 = 8;
const VIDEO: u8 = 9;
const SCRIPT: u8 = 18;
/// Size of an FLV tag's header.
const TAG_HEADER: usize = 11;

/// What one buffer of `flvmux`'s output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The FLV file header (`FLV`, version, flags).
    FileHeader,
    /// A script data tag (`onMetaData`).
    Metadata,
    /// AAC sequence header (the AudioSpecificConfig).
    AudioConfig,
    Audio,
    /// AVC sequence header (the decoder configuration record).
    VideoConfig,
    VideoKeyframe,
    Video,
    /// Anything else (unknown tag type, too short): passed on as it is.
    Other,
}

/// What `buf` (one buffer of `flvmux`'s output) is.
pub(crate) fn classify(buf: &[u8]) -> Kind {
    if buf.len() >= 3 && &buf[..3] == b"FLV" {
        return Kind::FileHeader;
    }
    if buf.len() < TAG_HEADER {
        return Kind::Other;
    }
    let body = &buf[TAG_HEADER..];
    match buf[0] & 0x1F {
        SCRIPT => Kind::Metadata,
        AUDIO => match body {
            // Sound format 10 (AAC), AACPacketType 0.
            [b0, 0, ..] if b0 >> 4 == 10 => Kind::AudioConfig,
            _ => Kind::Audio,
        },
        VIDEO => match body {
            // Codec 7 (AVC), AVCPacketType 0.
            [b0, 0, ..] if b0 & 0x0F == 7 => Kind::VideoConfig,
            [b0, ..] if b0 >> 4 == 1 => Kind::VideoKeyframe,
            _ => Kind::Video,
        },
        _ => Kind::Other,
    }
}

/// A tag's timestamp (ms: 24 bits and the extension byte).
pub(crate) fn timestamp(tag: &[u8]) -> Option<u32> {
    let t = tag.get(4..8)?;
    Some(u32::from_be_bytes([t[3], t[0], t[1], t[2]]))
}

/// `tag` with its timestamp set to `ms`.
pub(crate) fn restamped(tag: &[u8], ms: u32) -> Vec<u8> {
    let mut t = tag.to_vec();
    if t.len() >= 8 {
        let b = ms.to_be_bytes();
        t[4..8].copy_from_slice(&[b[1], b[2], b[3], b[0]]);
    }
    t
}

/// The output's side of a publish: what goes to the current connection.
#[derive(Debug, Default)]
pub(crate) struct Publish {
    metadata: Option<Vec<u8>>,
    video_config: Option<Vec<u8>>,
    audio_config: Option<Vec<u8>>,
    /// A connection is open and has had its keyframe: tags go on as they come.
    started: bool,
}

impl Publish {
    /// A new connection: the next tags wait for a video keyframe.
    pub(crate) fn restart(&mut self) {
        self.started = false;
    }

    /// The current connection has had its start (headers and a keyframe).
    pub(crate) fn started(&self) -> bool {
        self.started
    }

    /// One buffer of the muxer's output: what to send on the connection now (nothing
    /// while waiting for a keyframe; the headers and the keyframe when it comes).
    /// The headers are remembered whether or not a connection is open.
    pub(crate) fn feed(&mut self, buf: &[u8]) -> Vec<Vec<u8>> {
        let kind = classify(buf);
        let slot = match kind {
            Kind::Metadata => Some(&mut self.metadata),
            Kind::VideoConfig => Some(&mut self.video_config),
            Kind::AudioConfig => Some(&mut self.audio_config),
            _ => None,
        };
        if let Some(slot) = slot {
            *slot = Some(buf.to_vec());
        }
        match kind {
            // The file header never goes out (an RTMP server has no use for it); it
            // starts a new muxer's stream, which brings its own headers.
            Kind::FileHeader => {
                *self = Publish::default();
                Vec::new()
            }
            _ if self.started => vec![buf.to_vec()],
            Kind::VideoKeyframe => {
                let ms = timestamp(buf).unwrap_or(0);
                let mut out: Vec<Vec<u8>> =
                    [&self.metadata, &self.video_config, &self.audio_config]
                        .into_iter()
                        .flatten()
                        .map(|h| restamped(h, ms))
                        .collect();
                out.push(buf.to_vec());
                self.started = true;
                out
            }
            // Headers go out with the keyframe; media waits for it.
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An FLV tag of `kind` (8, 9, 18) at `ms` with `body`.
    fn tag(kind: u8, ms: u32, body: &[u8]) -> Vec<u8> {
        let n = body.len() as u32;
        let mut t = vec![kind, (n >> 16) as u8, (n >> 8) as u8, n as u8];
        let b = ms.to_be_bytes();
        t.extend([b[1], b[2], b[3], b[0], 0, 0, 0]);
        t.extend_from_slice(body);
        t.extend((TAG_HEADER as u32 + n).to_be_bytes());
        t
    }
    fn aac_config(ms: u32) -> Vec<u8> {
        tag(AUDIO, ms, &[0xAF, 0, 0x11, 0x90])
    }
    fn aac(ms: u32) -> Vec<u8> {
        tag(AUDIO, ms, &[0xAF, 1, 0x21, 0x00])
    }
    fn avc_config(ms: u32) -> Vec<u8> {
        tag(VIDEO, ms, &[0x17, 0, 0, 0, 0, 1, 0x4D])
    }
    fn key(ms: u32) -> Vec<u8> {
        tag(VIDEO, ms, &[0x17, 1, 0, 0, 0, 0x65])
    }
    fn delta(ms: u32) -> Vec<u8> {
        tag(VIDEO, ms, &[0x27, 1, 0, 0, 0, 0x41])
    }
    fn meta() -> Vec<u8> {
        tag(SCRIPT, 0, &[2, 0, 10, b'o', b'n'])
    }

    #[test]
    fn tags_are_told_apart() {
        assert_eq!(classify(b"FLV\x01\x05\0\0\0\x09"), Kind::FileHeader);
        assert_eq!(classify(&meta()), Kind::Metadata);
        assert_eq!(classify(&aac_config(0)), Kind::AudioConfig);
        assert_eq!(classify(&aac(0)), Kind::Audio);
        assert_eq!(classify(&avc_config(0)), Kind::VideoConfig);
        assert_eq!(classify(&key(0)), Kind::VideoKeyframe);
        assert_eq!(classify(&delta(0)), Kind::Video);
        assert_eq!(classify(&[9, 0, 0]), Kind::Other);
        assert_eq!(classify(&tag(7, 0, &[1])), Kind::Other);
    }

    #[test]
    fn timestamps_with_the_extension_byte() {
        // 0x12345678 ms: 24 bits 0x345678, extension 0x12.
        let t = key(0x1234_5678);
        assert_eq!(&t[4..8], &[0x34, 0x56, 0x78, 0x12]);
        assert_eq!(timestamp(&t), Some(0x1234_5678));
        let r = restamped(&t, 40);
        assert_eq!(timestamp(&r), Some(40));
        assert_eq!(r[8..], t[8..]);
        assert_eq!(timestamp(&[9, 0]), None);
    }

    /// flvmux's start: file header, metadata, both configs, then media.
    fn start(p: &mut Publish) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for b in [
            b"FLV\x01\x05\0\0\0\x09".to_vec(),
            meta(),
            avc_config(0),
            aac_config(0),
        ] {
            out.extend(p.feed(&b));
        }
        out
    }

    #[test]
    fn the_first_publish_starts_at_a_keyframe_behind_the_headers() {
        let mut p = Publish::default();
        assert!(start(&mut p).is_empty());
        // Audio before the first keyframe waits (is dropped) too.
        assert!(p.feed(&aac(0)).is_empty());
        let out = p.feed(&key(20));
        assert_eq!(
            out.iter().map(|t| classify(t)).collect::<Vec<_>>(),
            [
                Kind::Metadata,
                Kind::VideoConfig,
                Kind::AudioConfig,
                Kind::VideoKeyframe
            ]
        );
        assert!(out.iter().all(|t| timestamp(t) == Some(20)));
        assert!(p.started());
        assert_eq!(p.feed(&aac(21)), [aac(21)]);
        assert_eq!(p.feed(&delta(60)), [delta(60)]);
    }

    #[test]
    fn a_new_connection_gets_the_latest_headers_and_the_next_keyframe() {
        let mut p = Publish::default();
        start(&mut p);
        p.feed(&key(0));
        p.feed(&delta(40));
        // A switch brought other codec data: it goes on as it comes.
        let other = tag(VIDEO, 5000, &[0x17, 0, 0, 0, 0, 1, 0x64]);
        assert_eq!(p.feed(&other), std::slice::from_ref(&other));
        assert_eq!(p.feed(&key(5000)), [key(5000)]);
        // The server went away; the new connection waits for the next keyframe.
        p.restart();
        assert!(!p.started());
        assert!(p.feed(&delta(5040)).is_empty());
        assert!(p.feed(&aac(5041)).is_empty());
        let out = p.feed(&key(7000));
        assert_eq!(
            out,
            [
                restamped(&meta(), 7000),
                restamped(&other, 7000),
                aac_config(7000),
                key(7000)
            ]
        );
        assert_eq!(p.feed(&delta(7040)), [delta(7040)]);
    }

    #[test]
    fn a_new_muxer_stream_starts_from_its_own_headers() {
        let mut p = Publish::default();
        start(&mut p);
        assert_eq!(p.feed(&key(0)).len(), 4);
        // A restarted station's muxer on the same output: nothing of the old
        // stream's headers goes out with the new one's.
        assert!(p.feed(b"FLV\x01\x05\0\0\0\x09").is_empty());
        assert!(!p.started());
        assert!(p.feed(&aac_config(0)).is_empty());
        assert_eq!(p.feed(&key(10)), [aac_config(10), key(10)]);
    }

    #[test]
    fn without_headers_the_keyframe_goes_alone() {
        let mut p = Publish::default();
        assert_eq!(p.feed(&key(3)), [key(3)]);
    }
}

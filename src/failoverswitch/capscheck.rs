// SPDX-License-Identifier: MPL-2.0
//! Caps compatibility between the output and an input, judged on meaning.
//!
//! Pure logic on a plain description of a caps structure (media type and
//! `field = serialized value` pairs, normalised by the glue in `caps.rs`: default
//! channel masks, pixel aspect ratios and interlace modes filled in), so it is tested
//! without GStreamer.
//!
//! Two formats are compatible when every field that *defines* the format is equal
//! where both sides have it. What describes the encoder (bitrate, level, tier,
//! codec_data) or is filled in later by a parser (`h264parse` adds width,
//! chroma-format, bit-depth) never makes two inputs incompatible.

/// What kind of media a caps structure describes; each kind has its own defining
/// fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    RawAudio,
    RawVideo,
    Encoded,
}

impl Kind {
    pub(crate) fn of(media_type: &str) -> Kind {
        match media_type {
            "audio/x-raw" => Kind::RawAudio,
            "video/x-raw" => Kind::RawVideo,
            _ => Kind::Encoded,
        }
    }

    /// Whether `field` defines the format of this kind of media.
    pub(crate) fn defines(self, field: &str) -> bool {
        let fields: &[&str] = match self {
            Kind::RawAudio => &["format", "layout", "rate", "channels", "channel-mask"],
            Kind::RawVideo => &[
                "format",
                "width",
                "height",
                "framerate",
                "pixel-aspect-ratio",
                "interlace-mode",
            ],
            Kind::Encoded => &[
                "mpegversion",
                "mpegaudioversion",
                "layer",
                "stream-format",
                "alignment",
                "rate",
                "channels",
                "profile",
                "channel-mapping-family",
            ],
        };
        fields.contains(&field)
    }
}

/// A caps structure reduced to what the comparison needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct CapsDesc {
    pub media_type: String,
    pub fields: Vec<(String, String)>,
}

impl CapsDesc {
    pub(crate) fn kind(&self) -> Kind {
        Kind::of(&self.media_type)
    }

    pub(crate) fn value(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.as_str())
    }
}

/// One difference between the output caps and an input's caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Difference {
    pub field: String,
    /// Value on the output.
    pub expected: String,
    /// Value on the checked input.
    pub got: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} (output) vs {}",
            self.field, self.expected, self.got
        )
    }
}

/// Lists every difference that makes `input` incompatible with `output`; empty when
/// the input may be switched to without a format change downstream.
pub(crate) fn differences(output: &CapsDesc, input: &CapsDesc) -> Vec<Difference> {
    if output.media_type != input.media_type {
        return vec![Difference {
            field: "media-type".into(),
            expected: output.media_type.clone(),
            got: input.media_type.clone(),
        }];
    }
    let kind = output.kind();
    output
        .fields
        .iter()
        .filter(|(k, _)| kind.defines(k))
        .filter_map(|(k, a)| {
            let b = input.value(k)?;
            (a != b).then(|| Difference {
                field: k.clone(),
                expected: a.clone(),
                got: b.to_string(),
            })
        })
        .collect()
}

/// Whether downstream must be told the incoming input's caps at a switch: its
/// stream carries its decoder configuration out of band (`codec_data`, as in avc/hvc
/// H.264/H.265 or raw AAC) and that differs from what downstream has.
pub(crate) fn switch_needs_caps(output: &CapsDesc, incoming: &CapsDesc) -> bool {
    incoming
        .value("codec_data")
        .is_some_and(|c| output.value("codec_data") != Some(c))
}

/// Whether the active input's new caps tell downstream something the output caps
/// do not: a field gained or changed (a parser refining its caps). Caps equal in
/// meaning (a stereo channel mask made explicit) are not news.
pub(crate) fn refines(output: &CapsDesc, new: &CapsDesc) -> bool {
    new.fields
        .iter()
        .any(|(k, v)| output.value(k) != Some(v.as_str()))
}

/// Human-readable list of differences for a WARNING.
pub(crate) fn describe(diffs: &[Difference]) -> String {
    diffs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(media: &str, fields: &[(&str, &str)]) -> CapsDesc {
        CapsDesc {
            media_type: media.into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn raw(rate: &str, channels: &str, format: &str, mask: &str) -> CapsDesc {
        desc(
            "audio/x-raw",
            &[
                ("format", format),
                ("layout", "interleaved"),
                ("rate", rate),
                ("channels", channels),
                ("channel-mask", mask),
            ],
        )
    }

    #[test]
    fn identical_is_compatible() {
        let a = raw("48000", "2", "F32LE", "0x3");
        assert!(differences(&a, &a.clone()).is_empty());
    }

    #[test]
    fn rate_and_channels_are_named_with_both_values() {
        let d = differences(
            &raw("48000", "2", "F32LE", "0x3"),
            &raw("44100", "1", "F32LE", "0x0"),
        );
        assert_eq!(d.len(), 3, "{d:?}");
        assert_eq!(
            d[0],
            Difference {
                field: "rate".into(),
                expected: "48000".into(),
                got: "44100".into()
            }
        );
        let text = describe(&d);
        assert!(text.contains("rate: 48000 (output) vs 44100"), "{text}");
        assert!(text.contains("channels: 2 (output) vs 1"), "{text}");
    }

    #[test]
    fn channel_positions_are_compared() {
        // Same channel count, different layout (stereo vs. front-centre + LFE).
        let d = differences(
            &raw("48000", "2", "F32LE", "0x3"),
            &raw("48000", "2", "F32LE", "0xc"),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].field, "channel-mask");
    }

    #[test]
    fn format_difference() {
        let d = differences(
            &raw("48000", "2", "F32LE", "0x3"),
            &raw("48000", "2", "S16LE", "0x3"),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].field, "format");
    }

    #[test]
    fn aac_vs_mp3_and_other_media_types() {
        let aac = desc("audio/mpeg", &[("mpegversion", "4"), ("rate", "48000")]);
        let mp3 = desc(
            "audio/mpeg",
            &[("mpegversion", "1"), ("layer", "3"), ("rate", "48000")],
        );
        let d = differences(&aac, &mp3);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].field, "mpegversion");
        let opus = desc("audio/x-opus", &[]);
        assert_eq!(differences(&aac, &opus)[0].field, "media-type");
    }

    #[test]
    fn encoder_descriptions_never_make_inputs_incompatible() {
        let a = desc(
            "video/x-h264",
            &[
                ("stream-format", "avc"),
                ("alignment", "au"),
                ("profile", "high"),
                ("level", "3"),
                ("codec_data", "0164001e"),
                ("bitrate", "2000000"),
            ],
        );
        // A second encoder: another level, codec_data and bitrate, and fields a
        // parser added once it had seen the stream.
        let b = desc(
            "video/x-h264",
            &[
                ("stream-format", "avc"),
                ("alignment", "au"),
                ("profile", "high"),
                ("level", "3.1"),
                ("codec_data", "0164001f"),
                ("bitrate", "800000"),
                ("width", "640"),
                ("chroma-format", "4:2:0"),
            ],
        );
        assert!(differences(&a, &b).is_empty());
        assert!(switch_needs_caps(&a, &b));
        // byte-stream carries its parameter sets in band: nothing to tell.
        let c = desc("video/x-h264", &[("stream-format", "byte-stream")]);
        assert!(!switch_needs_caps(&c, &c.clone()));
        let other_profile = desc("video/x-h264", &[("profile", "main")]);
        assert_eq!(differences(&a, &other_profile)[0].field, "profile");
    }

    #[test]
    fn refinements_are_gained_or_changed_fields() {
        let basic = desc("video/x-h264", &[("stream-format", "avc")]);
        let refined = desc(
            "video/x-h264",
            &[("stream-format", "avc"), ("width", "640")],
        );
        assert!(refines(&basic, &refined));
        assert!(!refines(&refined, &refined.clone()));
        assert!(!refines(&refined, &basic));
    }

    #[test]
    fn raw_video_compares_size_rate_and_aspect() {
        let v = |w: &str, par: &str| {
            desc(
                "video/x-raw",
                &[
                    ("format", "I420"),
                    ("width", w),
                    ("height", "360"),
                    ("framerate", "25/1"),
                    ("pixel-aspect-ratio", par),
                    ("interlace-mode", "progressive"),
                    ("colorimetry", "bt601"),
                ],
            )
        };
        assert!(differences(&v("640", "1/1"), &v("640", "1/1")).is_empty());
        let d = differences(&v("640", "1/1"), &v("480", "4/3"));
        let fields: Vec<_> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["width", "pixel-aspect-ratio"]);
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Caps compatibility between the output and an input.
//!
//! Pure logic on a plain description of a caps structure (media type and
//! `field = serialized value` pairs), so it can be tested without GStreamer.

/// Fields that may differ between the two inputs without changing the format.
pub const IGNORED_FIELDS: &[&str] = &[
    "bitrate",
    "minimum-bitrate",
    "maximum-bitrate",
    "nominal-bitrate",
];

/// A caps structure reduced to what the comparison needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapsDesc {
    pub media_type: String,
    pub fields: Vec<(String, String)>,
}

/// One difference between the output caps and an input's caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub field: String,
    /// Value on the output (fixed by the first input), `(none)` if absent.
    pub expected: String,
    /// Value on the checked input, `(none)` if absent.
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

const NONE: &str = "(none)";

fn value<'a>(desc: &'a CapsDesc, field: &str) -> Option<&'a str> {
    desc.fields
        .iter()
        .find(|(k, _)| k == field)
        .map(|(_, v)| v.as_str())
}

/// Lists every difference that makes `input` incompatible with `output`; empty when
/// the input may be switched to without a caps change downstream.
pub fn differences(output: &CapsDesc, input: &CapsDesc) -> Vec<Difference> {
    let mut diffs = Vec::new();
    if output.media_type != input.media_type {
        diffs.push(Difference {
            field: "media-type".into(),
            expected: output.media_type.clone(),
            got: input.media_type.clone(),
        });
        return diffs;
    }
    let mut names: Vec<&str> = output.fields.iter().map(|(k, _)| k.as_str()).collect();
    for (k, _) in &input.fields {
        if !names.contains(&k.as_str()) {
            names.push(k);
        }
    }
    for name in names {
        if IGNORED_FIELDS.contains(&name) {
            continue;
        }
        let (a, b) = (value(output, name), value(input, name));
        if a != b {
            diffs.push(Difference {
                field: name.to_string(),
                expected: a.unwrap_or(NONE).to_string(),
                got: b.unwrap_or(NONE).to_string(),
            });
        }
    }
    diffs
}

/// Human-readable list of differences for a WARNING.
pub fn describe(diffs: &[Difference]) -> String {
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

    fn raw(rate: &str, channels: &str, format: &str) -> CapsDesc {
        desc(
            "audio/x-raw",
            &[
                ("format", format),
                ("layout", "interleaved"),
                ("rate", rate),
                ("channels", channels),
            ],
        )
    }

    #[test]
    fn identical_is_compatible() {
        assert!(differences(&raw("48000", "2", "F32LE"), &raw("48000", "2", "F32LE")).is_empty());
    }

    #[test]
    fn rate_and_channels_are_named_with_both_values() {
        let d = differences(&raw("48000", "2", "F32LE"), &raw("44100", "1", "F32LE"));
        assert_eq!(d.len(), 2);
        assert_eq!(
            d[0],
            Difference {
                field: "rate".into(),
                expected: "48000".into(),
                got: "44100".into()
            }
        );
        assert_eq!(d[1].field, "channels");
        let text = describe(&d);
        assert!(text.contains("rate: 48000 (output) vs 44100"), "{text}");
        assert!(text.contains("channels: 2 (output) vs 1"), "{text}");
    }

    #[test]
    fn format_difference() {
        let d = differences(&raw("48000", "2", "F32LE"), &raw("48000", "2", "S16LE"));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].field, "format");
    }

    #[test]
    fn media_type_difference_aac_vs_mp3() {
        let aac = desc("audio/mpeg", &[("mpegversion", "4"), ("rate", "48000")]);
        let mp3 = desc(
            "audio/mpeg",
            &[("mpegversion", "1"), ("layer", "3"), ("rate", "48000")],
        );
        let d = differences(&aac, &mp3);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].field, "mpegversion");
        assert_eq!(d[1].field, "layer");
        assert_eq!(d[1].expected, "(none)");
        let opus = desc("audio/x-opus", &[]);
        assert_eq!(differences(&aac, &opus)[0].field, "media-type");
    }

    #[test]
    fn bitrate_is_ignored_but_codec_data_is_not() {
        let a = desc(
            "audio/mpeg",
            &[("bitrate", "128000"), ("codec_data", "1190")],
        );
        let b = desc(
            "audio/mpeg",
            &[("bitrate", "64000"), ("codec_data", "1190")],
        );
        assert!(differences(&a, &b).is_empty());
        let c = desc("audio/mpeg", &[("codec_data", "1210")]);
        assert_eq!(differences(&a, &c)[0].field, "codec_data");
    }
}

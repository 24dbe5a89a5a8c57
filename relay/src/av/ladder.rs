// SPDX-License-Identifier: MPL-2.0
//! The transcoding ladder of an A/V station (`--ladder 480p,360p`): plain Rust, no
//! GStreamer types. Each variant is a height with its width (16:9), bitrate and
//! output URL; the GStreamer side is in [`super`].

/// One rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// Lines (the name: `480p`).
    pub height: u32,
    /// Pixels per line: 16:9, rounded to an even number (x264 needs it).
    pub width: u32,
    /// x264enc bitrate in kbit/s.
    pub kbps: u32,
}

/// The heights a ladder may have, with their video bitrates (kbit/s): what live
/// platforms commonly use for H.264 at 25-30 fps.
const RUNGS: [(u32, u32); 5] = [
    (1080, 4500),
    (720, 2500),
    (480, 1200),
    (360, 700),
    (240, 400),
];

impl Variant {
    /// `480p` (or `480`).
    pub fn parse(s: &str) -> Result<Variant, String> {
        let t = s.trim();
        let h: u32 = t
            .strip_suffix('p')
            .unwrap_or(t)
            .parse()
            .map_err(|_| format!("'{t}': a ladder variant is a height like 480p"))?;
        let (_, kbps) = RUNGS.iter().find(|(rh, _)| *rh == h).ok_or_else(|| {
            let names: Vec<String> = RUNGS.iter().map(|(h, _)| format!("{h}p")).collect();
            format!("'{t}': variants are {}", names.join(", "))
        })?;
        // 16:9 rounded to the nearest even width: 480 -> 854, 360 -> 640.
        let width = ((h * 16 + 9) / 18) * 2;
        Ok(Variant {
            height: h,
            width,
            kbps: *kbps,
        })
    }

    /// `480p`.
    pub fn name(&self) -> String {
        format!("{}p", self.height)
    }

    /// The variant's output URL: the station's output with `_480p` appended to the
    /// stream name (before a query string): `rtmp://h/live/out` ->
    /// `rtmp://h/live/out_480p`.
    pub fn url(&self, output: &str) -> String {
        let (base, query) = match output.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (output, None),
        };
        let base = base.trim_end_matches('/');
        match query {
            Some(q) => format!("{base}_{}?{q}", self.name()),
            None => format!("{base}_{}", self.name()),
        }
    }
}

/// `480p,360p` (empty: no ladder). Duplicates are refused.
pub fn parse_ladder(s: &str) -> Result<Vec<Variant>, String> {
    let mut out: Vec<Variant> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let v = Variant::parse(part)?;
        if out.contains(&v) {
            return Err(format!("'{part}' is in the ladder twice"));
        }
        out.push(v);
    }
    Ok(out)
}

/// The ladder as the option writes it (`480p,360p`).
pub fn ladder_string(l: &[Variant]) -> String {
    l.iter().map(Variant::name).collect::<Vec<_>>().join(",")
}

/// Whether a decoded frame at `pts` (ns) goes on to the variants' encoders after
/// one at `last`: only in a later millisecond (FLV's unit). At a switch the
/// incoming keyframe can be moved onto the output position, less than a frame
/// before the frames that follow it (with B-frames some may even come before it);
/// encoded again, they would share a timestamp or go back.
pub(crate) fn decoded_frame_goes_on(last: Option<u64>, pts: u64) -> bool {
    last.is_none_or(|l| pts / 1_000_000 > l / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants() {
        let l = parse_ladder("480p, 360p").unwrap();
        assert_eq!(
            l,
            [
                Variant {
                    height: 480,
                    width: 854,
                    kbps: 1200
                },
                Variant {
                    height: 360,
                    width: 640,
                    kbps: 700
                }
            ]
        );
        assert_eq!(Variant::parse("720").unwrap().width, 1280);
        assert_eq!(Variant::parse("240p").unwrap().width, 426);
        assert_eq!(Variant::parse("1080p").unwrap().width, 1920);
        assert_eq!(ladder_string(&l), "480p,360p");
        assert_eq!(parse_ladder("").unwrap(), []);
        assert!(parse_ladder("480p,480p").is_err());
        assert!(parse_ladder("500p").is_err());
        assert!(parse_ladder("hd").is_err());
    }

    #[test]
    fn decoded_frames_go_on_in_later_milliseconds() {
        assert!(decoded_frame_goes_on(None, 0));
        assert!(decoded_frame_goes_on(Some(1_000_000_000), 1_040_000_000));
        assert!(!decoded_frame_goes_on(Some(1_000_000_000), 1_000_600_000));
        assert!(!decoded_frame_goes_on(Some(1_000_000_000), 960_000_000));
        assert!(decoded_frame_goes_on(Some(1_000_600_000), 1_001_000_000));
    }

    #[test]
    fn variant_urls() {
        let v = Variant::parse("480p").unwrap();
        assert_eq!(
            v.url("rtmp://127.0.0.1:1935/live/out"),
            "rtmp://127.0.0.1:1935/live/out_480p"
        );
        assert_eq!(
            v.url("rtmp://h/live/out?key=abc"),
            "rtmp://h/live/out_480p?key=abc"
        );
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Decode order of encoded media on the output: reordered video (B-frames) arrives in
//! decode order, so its presentation times (PTS) jump forward and back while its
//! decode times (DTS) increase. Where the code means "the next unit in the stream"
//! (holes, data behind the output, the order muxers write) it goes by the decode time;
//! where it means "what the viewer sees" (switch points, the output position, filler)
//! by the presentation time. Pure arithmetic on running times, no GStreamer types.

/// Smallest step between the decode times of two units on the output where a switch
/// (or the start of the output) made them collide: the coarsest timestamps of the
/// containers behind (FLV: milliseconds) still increase.
pub const DTS_STEP: u64 = 1_000_000;

/// Decode time of a unit on the output timeline: its presentation time there
/// (`start`, after placement and alignment) less the distance its own DTS had to its
/// own PTS (`pts_rt`, `dts_rt`: running times in its input's segment; a DTS may lie
/// before the segment start, as encoders with B-frames make it: negative). Never
/// after the PTS, never below zero.
pub fn decode_time(start: u64, pts_rt: Option<u64>, dts_rt: Option<i128>) -> Option<u64> {
    let dts = dts_rt?;
    let delay = pts_rt.map_or(0, |p| (p as i128 - dts).max(0));
    Some((start as i128 - delay).max(0) as u64)
}

/// Where an encoded unit starts in decode order: its DTS, else its PTS.
pub fn decode_key(pts: u64, dts: Option<u64>) -> u64 {
    dts.unwrap_or(pts)
}

/// The output's decode line: what went out last, so that decode times never go back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeLine {
    /// The last unit's PTS and DTS as given (its input's, moved onto the output
    /// timeline) and the DTS it got on the output.
    last: Option<(u64, u64, u64)>,
    /// The next unit's DTS is not before this (the end of a GAP event).
    floor: Option<u64>,
    /// End of what went out in decode order (latest decode time plus duration, or
    /// the end of a GAP event).
    end: Option<u64>,
}

impl DecodeLine {
    /// Output timestamps (pts, dts) of a unit that goes out at `pts` with decode time
    /// `dts` (`None`: it has none, and gets none). A DTS at or before the previous
    /// unit's (a switch to an input whose decode delay is longer, or the first units
    /// of an encoder with B-frames, whose DTS were negative) is raised to
    /// [`DTS_STEP`] after it; units that shared PTS and DTS on their input (parts
    /// of one frame) share them on the output. The PTS stays (the picture stays where it is)
    /// unless the DTS cannot fit before it (only for streams whose DTS already went
    /// past their PTS).
    pub fn unit(&mut self, pts: u64, dts: Option<u64>, duration: u64) -> (u64, Option<u64>) {
        let (pts, dts) = self.stamp(pts, dts);
        let end = decode_key(pts, dts).saturating_add(duration);
        self.end = Some(self.end.map_or(end, |e| e.max(end)));
        (pts, dts)
    }

    fn stamp(&mut self, pts: u64, dts: Option<u64>) -> (u64, Option<u64>) {
        let Some(d) = dts else {
            self.floor = Some(self.floor.map_or(pts, |f| f.max(pts)));
            return (pts, None);
        };
        let mut out = d;
        if let Some((last_pts, last_in, last_out)) = self.last {
            out = if (pts, d) == (last_pts, last_in) {
                last_out
            } else {
                out.max(last_out.saturating_add(DTS_STEP))
            };
        }
        if let Some(f) = self.floor {
            out = out.max(f);
        }
        // A collision is resolved within the room the PTS leaves; only where there
        // is none does the DTS win (and the PTS follows).
        if out > pts {
            let after = self.last.map_or(0, |(_, _, o)| o);
            if pts > after && self.floor.is_none_or(|f| pts >= f) {
                out = pts;
            }
        }
        self.last = Some((pts, d, out));
        self.floor = None;
        (pts.max(out), Some(out))
    }

    /// A GAP event up to `end` went out: the next unit decodes no earlier.
    pub fn gap(&mut self, end: u64) {
        self.floor = Some(self.floor.map_or(end, |f| f.max(end)));
        self.end = Some(self.end.map_or(end, |e| e.max(end)));
    }

    /// End of what went out in decode order (`None`: nothing encoded went out).
    pub fn end(&self) -> Option<u64> {
        self.end
    }

    /// A new timeline (flush): anything goes.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// The span of a GAP event that moves the output from `pos` (the end of what was
/// presented) towards `end`, given that the next unit decodes at `next_dts`: it ends
/// where that unit starts in decode order, so no unit's DTS lies inside or before a
/// GAP, and (with B-frames) it never covers a presentation time that has data.
/// `None`: there is no hole (or only a reordering one).
pub fn gap_span(pos: Option<u64>, end: u64, next_dts: Option<u64>) -> Option<(u64, u64)> {
    let to = next_dts.map_or(end, |d| d.min(end));
    let from = pos?;
    (to > from).then_some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// x264 with `bframes=2` at 25 fps: decode order I0 P3 B1 B2 P6 B4 B5 …, DTS 80 ms
    /// before the I frame's PTS, then 40 ms per unit (ms: pts, dts).
    const X264: [(i64, i64); 7] = [
        (0, -80),
        (120, -40),
        (40, 0),
        (80, 40),
        (240, 80),
        (160, 120),
        (200, 160),
    ];

    fn rt(ms: i64) -> i128 {
        ms as i128 * MS as i128
    }

    #[test]
    fn decode_time_keeps_the_distance_to_the_pts_and_may_start_before_the_segment() {
        // Placed where it was: the DTS 80 ms before the PTS.
        assert_eq!(
            decode_time(1000 * MS, Some(1000 * MS), Some(rt(920))),
            Some(920 * MS)
        );
        // A DTS before the segment start (negative running time) is no reason to drop it.
        // (Here the input's data is placed 1 s later on the output.)
        assert_eq!(
            decode_time(1120 * MS, Some(120 * MS), Some(rt(-40))),
            Some(960 * MS)
        );
        // Moved (alignment, placement) with the PTS.
        assert_eq!(
            decode_time(5000 * MS, Some(1000 * MS), Some(rt(960))),
            Some(4960 * MS)
        );
        // Never below zero, never after the PTS, none without a DTS.
        assert_eq!(decode_time(0, Some(0), Some(rt(-80))), Some(0));
        assert_eq!(
            decode_time(40 * MS, Some(40 * MS), Some(rt(90))),
            Some(40 * MS)
        );
        assert_eq!(decode_time(40 * MS, Some(40 * MS), None), None);
    }

    #[test]
    fn b_frames_from_the_start_of_the_output_get_increasing_dts() {
        let mut line = DecodeLine::default();
        let out: Vec<(u64, Option<u64>)> = X264
            .iter()
            .map(|&(p, d)| {
                let pts = p as u64 * MS;
                line.unit(pts, decode_time(pts, Some(pts), Some(rt(d))), 40 * MS)
            })
            .collect();
        let dts: Vec<u64> = out.iter().map(|o| o.1.unwrap() / MS).collect();
        // Decode order ends with the last unit: 160 + 40 ms.
        assert_eq!(line.end(), Some(200 * MS));
        // The negative DTS become 0 and collide: raised a step at a time.
        assert_eq!(dts, vec![0, 1, 2, 40, 80, 120, 160]);
        for (i, &(p, d)) in out.iter().enumerate() {
            assert_eq!(p, X264[i].0 as u64 * MS, "PTS unchanged");
            assert!(d.unwrap() <= p, "PTS >= DTS at {i}");
        }
    }

    #[test]
    fn a_switch_to_an_input_with_a_longer_decode_delay_keeps_dts_increasing() {
        let mut line = DecodeLine::default();
        // The outgoing input's last units (decode delay 40 ms).
        assert_eq!(
            line.unit(1960 * MS, Some(1920 * MS), 40 * MS),
            (1960 * MS, Some(1920 * MS))
        );
        // The incoming keyframe at 2000 ms decodes 120 ms before it (b-pyramid):
        // raised just after the previous DTS, PTS kept.
        assert_eq!(
            line.unit(2000 * MS, Some(1880 * MS), 40 * MS),
            (2000 * MS, Some(1921 * MS))
        );
        assert_eq!(
            line.unit(2120 * MS, Some(1920 * MS), 40 * MS),
            (2120 * MS, Some(1922 * MS))
        );
        // Once its own DTS is past the collision, it keeps them.
        assert_eq!(
            line.unit(2040 * MS, Some(1960 * MS), 40 * MS),
            (2040 * MS, Some(1960 * MS))
        );
    }

    #[test]
    fn parts_of_one_frame_share_their_dts() {
        let mut line = DecodeLine::default();
        assert_eq!(line.unit(40 * MS, Some(0), 40 * MS).1, Some(0));
        assert_eq!(line.unit(40 * MS, Some(0), 40 * MS).1, Some(0));
        assert_eq!(line.unit(80 * MS, Some(40 * MS), 40 * MS).1, Some(40 * MS));
    }

    #[test]
    fn after_a_gap_the_next_unit_decodes_no_earlier() {
        let mut line = DecodeLine::default();
        line.unit(1000 * MS, Some(960 * MS), 40 * MS);
        assert_eq!(line.end(), Some(1000 * MS));
        line.gap(1500 * MS);
        assert_eq!(line.end(), Some(1500 * MS));
        // The keyframe after the filler: its DTS was before the GAP's end.
        assert_eq!(
            line.unit(1600 * MS, Some(1520 * MS), 40 * MS).1,
            Some(1520 * MS)
        );
        let mut line = DecodeLine::default();
        line.gap(1500 * MS);
        assert_eq!(
            line.unit(1600 * MS, Some(1420 * MS), 40 * MS).1,
            Some(1500 * MS)
        );
        // No room before the PTS: the DTS still never goes back, the PTS follows.
        assert_eq!(
            line.unit(1400 * MS, Some(1380 * MS), 40 * MS),
            (1501 * MS, Some(1501 * MS))
        );
    }

    #[test]
    fn units_without_dts_pass_and_still_bound_the_next_dts() {
        let mut line = DecodeLine::default();
        assert_eq!(line.unit(40 * MS, None, 40 * MS), (40 * MS, None));
        assert_eq!(line.unit(80 * MS, Some(20 * MS), 40 * MS).1, Some(40 * MS));
        line.reset();
        assert_eq!(line.unit(80 * MS, Some(20 * MS), 40 * MS).1, Some(20 * MS));
    }

    #[test]
    fn gaps_cover_only_presentation_time_without_data() {
        // Reordering: the next unit (a P frame, PTS 120 ms) decodes at 40 ms, before
        // the end of what was presented (40 ms): no hole.
        assert_eq!(gap_span(Some(40 * MS), 120 * MS, Some(0)), None);
        // A real hole: output presented up to 2000 ms, the next unit decodes at 2400.
        assert_eq!(
            gap_span(Some(2000 * MS), 2480 * MS, Some(2400 * MS)),
            Some((2000 * MS, 2400 * MS))
        );
        // Without DTS: up to the end asked for.
        assert_eq!(
            gap_span(Some(2000 * MS), 2480 * MS, None),
            Some((2000 * MS, 2480 * MS))
        );
        assert_eq!(gap_span(None, 2480 * MS, None), None);
    }
}

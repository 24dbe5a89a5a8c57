// SPDX-License-Identifier: MPL-2.0
//! Maps frame counts back to the timestamps they came in with, so that delayed
//! audio goes out with its own timestamps. No GStreamer types here.

use std::collections::VecDeque;

#[derive(Debug, Clone, Default)]
pub struct Timeline {
    rate: u64,
    /// (first frame index, pts in ns of that frame, if known)
    marks: VecDeque<(u64, Option<u64>)>,
    /// Frames seen so far.
    frames_in: u64,
}

impl Timeline {
    pub fn new(rate: u32) -> Self {
        Timeline {
            rate: rate.max(1) as u64,
            marks: VecDeque::new(),
            frames_in: 0,
        }
    }

    pub fn clear(&mut self) {
        self.marks.clear();
        self.frames_in = 0;
    }

    /// Record an input buffer of `frames` frames starting at `pts`.
    pub fn push(&mut self, pts: Option<u64>, frames: u64) {
        self.marks.push_back((self.frames_in, pts));
        self.frames_in += frames;
    }

    fn offset_ns(&self, frames: u64) -> u64 {
        ((frames as u128 * 1_000_000_000u128) / self.rate as u128) as u64
    }

    /// Timestamp of input frame `frame`; forgets marks before it.
    pub fn pts_of(&mut self, frame: u64) -> Option<u64> {
        while self.marks.len() > 1 && self.marks[1].0 <= frame {
            self.marks.pop_front();
        }
        let &(start, pts) = self.marks.front()?;
        if frame < start {
            return None;
        }
        pts.map(|p| p + self.offset_ns(frame - start))
    }

    /// Duration of `frames` frames in ns.
    pub fn duration_of(&self, frames: u64) -> u64 {
        self.offset_ns(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_their_timestamps() {
        let mut t = Timeline::new(48000);
        t.push(Some(1_000_000_000), 480);
        t.push(Some(1_010_000_000), 480);
        // a jump: the third buffer comes 5 ms late
        t.push(Some(1_025_000_000), 480);
        assert_eq!(t.pts_of(0), Some(1_000_000_000));
        assert_eq!(t.pts_of(48), Some(1_001_000_000));
        assert_eq!(t.pts_of(480 + 96), Some(1_012_000_000));
        assert_eq!(t.pts_of(960), Some(1_025_000_000));
        assert_eq!(t.duration_of(480), 10_000_000);
    }

    #[test]
    fn unknown_timestamps_stay_unknown() {
        let mut t = Timeline::new(8000);
        t.push(None, 100);
        assert_eq!(t.pts_of(50), None);
        t.clear();
        assert_eq!(t.pts_of(0), None);
    }
}

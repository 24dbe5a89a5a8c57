// SPDX-License-Identifier: MPL-2.0
//! Silence detection on the running time of the audio itself (sample counts).
//!
//! The audio is judged in short blocks (see [`block_frames`]). A block is silent
//! when its loudest channel's RMS level is below the threshold. The stream is
//! silent once silent blocks have lasted `duration` without interruption; a single
//! block above the threshold ends the silence at once.

/// Length of the blocks the audio is judged in: 10 ms, so a verdict does not
/// depend on how upstream cuts the audio into buffers.
pub fn block_frames(rate: u32) -> usize {
    (rate as usize / 100).max(1)
}

#[derive(Debug, Clone)]
pub struct SilenceTracker {
    /// Threshold as a mean square relative to full scale.
    threshold_ms: f64,
    /// Required duration in nanoseconds; 0 disables the detector.
    duration_ns: u64,
    rate: u32,
    silent_frames: u64,
    silent: bool,
}

impl SilenceTracker {
    pub fn new(threshold_db: f64, duration_ns: u64, rate: u32) -> Self {
        SilenceTracker {
            threshold_ms: crate::healthprobe::level::db_to_power(threshold_db),
            duration_ns,
            rate: rate.max(1),
            silent_frames: 0,
            silent: false,
        }
    }

    /// Changes the settings; the current run of silence is kept and judged
    /// against the new duration on the next block.
    pub fn configure(&mut self, threshold_db: f64, duration_ns: u64) {
        self.threshold_ms = crate::healthprobe::level::db_to_power(threshold_db);
        self.duration_ns = duration_ns;
        if duration_ns == 0 {
            self.silent = false;
        }
    }

    /// Forgets the current run of silence (after a caps change or a reset).
    pub fn reset(&mut self) {
        self.silent_frames = 0;
        self.silent = false;
    }

    pub fn set_rate(&mut self, rate: u32) {
        if rate != self.rate {
            self.rate = rate.max(1);
            self.reset();
        }
    }

    /// Feeds one block of `frames` frames whose loudest channel has mean square
    /// `loudest_ms`. Returns whether the stream is silent after this block.
    pub fn push_block(&mut self, frames: u64, loudest_ms: f64) -> bool {
        if self.duration_ns == 0 {
            self.silent_frames = 0;
            self.silent = false;
            return false;
        }
        if loudest_ms < self.threshold_ms {
            self.silent_frames = self.silent_frames.saturating_add(frames);
            if !self.silent && self.silent_time_ns() >= self.duration_ns {
                self.silent = true;
            }
        } else {
            self.silent_frames = 0;
            self.silent = false;
        }
        self.silent
    }

    /// How long the current run of silence has lasted, in nanoseconds of audio.
    pub fn silent_time_ns(&self) -> u64 {
        (u128::from(self.silent_frames) * 1_000_000_000 / u128::from(self.rate))
            .try_into()
            .unwrap_or(u64::MAX)
    }

    pub fn is_silent(&self) -> bool {
        self.silent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::healthprobe::level::db_to_power;

    const RATE: u32 = 48_000;
    const SEC: u64 = 1_000_000_000;

    /// Feeds `secs` seconds of audio at `db` dBFS in 10 ms blocks; returns the
    /// time in ns (from the start of this feed) at which the tracker turned silent.
    fn feed(t: &mut SilenceTracker, db: f64, ms: u64) -> Option<u64> {
        let block = block_frames(RATE) as u64;
        let mut turned = None;
        let was = t.is_silent();
        for i in 0..ms / 10 {
            if t.push_block(block, db_to_power(db)) && !was && turned.is_none() {
                turned = Some((i + 1) * 10 * 1_000_000);
            }
        }
        turned
    }

    #[test]
    fn silence_below_threshold_is_detected_after_the_duration() {
        let mut t = SilenceTracker::new(-60.0, 5 * SEC, RATE);
        assert_eq!(feed(&mut t, -70.0, 4990), None);
        assert!(!t.is_silent());
        assert_eq!(feed(&mut t, -70.0, 10), Some(10_000_000));
        assert!(t.is_silent());
        assert_eq!(t.silent_time_ns(), 5 * SEC);
    }

    #[test]
    fn quiet_audio_above_threshold_is_not_silence() {
        let mut t = SilenceTracker::new(-60.0, 5 * SEC, RATE);
        assert_eq!(feed(&mut t, -50.0, 20_000), None);
        assert!(!t.is_silent());
        assert_eq!(t.silent_time_ns(), 0);
    }

    #[test]
    fn pauses_shorter_than_the_duration_are_not_silence() {
        let mut t = SilenceTracker::new(-60.0, 5 * SEC, RATE);
        for _ in 0..10 {
            assert_eq!(feed(&mut t, -80.0, 4000), None);
            assert_eq!(feed(&mut t, -20.0, 10), None);
        }
        assert!(!t.is_silent());
    }

    #[test]
    fn level_back_above_threshold_ends_silence_at_once() {
        let mut t = SilenceTracker::new(-60.0, SEC, RATE);
        assert!(feed(&mut t, -90.0, 1500).is_some());
        assert!(t.is_silent());
        assert!(!t.push_block(480, db_to_power(-59.0)));
        assert!(!t.is_silent());
    }

    #[test]
    fn zero_duration_disables_the_detector() {
        let mut t = SilenceTracker::new(-60.0, 0, RATE);
        assert_eq!(feed(&mut t, -200.0, 10_000), None);
        t.configure(-60.0, SEC);
        assert!(feed(&mut t, -200.0, 1000).is_some());
        t.configure(-60.0, 0);
        assert!(!t.is_silent());
    }

    #[test]
    fn duration_is_measured_in_samples_at_any_rate() {
        for rate in [8_000u32, 44_100, 96_000] {
            let mut t = SilenceTracker::new(-60.0, SEC, rate);
            let mut frames = 0u64;
            while !t.push_block(block_frames(rate) as u64, 0.0) {
                frames += block_frames(rate) as u64;
                assert!(
                    frames < u64::from(rate) * 2,
                    "never turned silent at {rate}"
                );
            }
            frames += block_frames(rate) as u64;
            // silent exactly once a second's worth of samples has been seen
            assert!(frames >= u64::from(rate));
            assert!(frames < u64::from(rate) + block_frames(rate) as u64);
        }
    }

    #[test]
    fn rate_change_resets_the_run() {
        let mut t = SilenceTracker::new(-60.0, SEC, RATE);
        feed(&mut t, -90.0, 900);
        t.set_rate(44_100);
        assert_eq!(t.silent_time_ns(), 0);
    }
}

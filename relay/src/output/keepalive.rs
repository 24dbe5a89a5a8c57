// SPDX-License-Identifier: MPL-2.0
//! Passthrough keep-alive. When neither input is healthy, `failoverswitch` sends GAP
//! events for encoded media: nothing reaches the output connection, and Icecast drops
//! a source that sends nothing for `source-timeout` (10 s), disconnecting every
//! listener. So in the passthrough setup the relay answers each GAP with silent AAC
//! frames of the output's format (encoded once, when the output caps are known).
//!
//! The frame encodes white noise at -94 dBFS rather than digital zero: inaudible, but
//! it makes the encoder spend a normal number of bits (about 350 bytes a frame
//! instead of 7). Icecast hands data to listeners in blocks of about 1400 bytes, so
//! with 7-byte frames a listener would get a block only every 2.3 s.

use super::OutputHandle;
use gst::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Turns GAP durations into a whole number of AAC frames (1024 samples each),
/// carrying the remainder over. Plain arithmetic, unit-tested.
#[derive(Debug, Clone)]
pub(crate) struct FrameClock {
    frame_ns: u64,
    carry_ns: u64,
}

impl FrameClock {
    pub(crate) fn new(rate: u32) -> Self {
        FrameClock {
            frame_ns: 1024 * 1_000_000_000 / u64::from(rate.max(1)),
            carry_ns: 0,
        }
    }

    /// Frames that cover `gap_ns` (plus what earlier gaps left over).
    pub(crate) fn frames_for(&mut self, gap_ns: u64) -> u64 {
        let total = self.carry_ns.saturating_add(gap_ns);
        let n = total / self.frame_ns.max(1);
        self.carry_ns = total - n * self.frame_ns;
        n
    }
}

/// Sample rate and channels of audio caps (both positive), if they say so.
pub(crate) fn rate_channels(caps: &gst::CapsRef) -> Option<(u32, u32)> {
    let s = caps.structure(0)?;
    let rate = u32::try_from(s.get::<i32>("rate").ok()?).ok()?;
    let channels = u32::try_from(s.get::<i32>("channels").ok()?).ok()?;
    (rate > 0 && channels > 0).then_some((rate, channels))
}

/// One (near-)silent ADTS frame for `rate`/`channels`, encoded with `avenc_aac` (a
/// frame from the steady state, after the encoder's priming frames).
pub(crate) fn silent_adts_frame(rate: u32, channels: u32) -> Result<Vec<u8>, String> {
    let desc = format!(
        "audiotestsrc wave=white-noise volume=0.00002 num-buffers=12 samplesperbuffer=1024 \
         ! audio/x-raw,format=F32LE,rate={rate},channels={channels} ! audioconvert \
         ! avenc_aac ! aacparse ! audio/mpeg,stream-format=adts \
         ! appsink name=sink sync=false"
    );
    let pipe = gst::parse::launch(&desc)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    let sink = pipe.by_name("sink").ok_or("no appsink")?;
    pipe.set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let mut frames = Vec::new();
    while let Some(s) = sink.emit_by_name::<Option<gst::Sample>>("pull-sample", &[]) {
        if let Some(map) = s.buffer().and_then(|b| b.map_readable().ok()) {
            frames.push(map.to_vec());
        }
    }
    let _ = pipe.set_state(gst::State::Null);
    // Skip the priming frames; any later one is steady-state silence.
    frames
        .get(4)
        .or(frames.last())
        .cloned()
        .filter(|f| f.len() >= 7 && f[0] == 0xFF && f[1] & 0xF0 == 0xF0)
        .ok_or_else(|| "no silent AAC frame produced".to_string())
}

/// Answers the switch's GAP events that reach `appsink` (no input healthy) with
/// silent AAC frames of the output's format, pushed to `out`, and counts them.
pub(crate) fn install(appsink: &gst::Element, out: OutputHandle, count: Arc<AtomicU64>) {
    let Some(pad) = appsink.static_pad("sink") else {
        return;
    };
    let silent: Mutex<Option<(Vec<u8>, FrameClock)>> = Mutex::new(None);
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        let Some(ev) = info.event() else {
            return gst::PadProbeReturn::Ok;
        };
        match ev.view() {
            gst::EventView::Caps(c) => {
                if let Some((rate, channels)) = rate_channels(c.caps()) {
                    match silent_adts_frame(rate, channels) {
                        Ok(f) => {
                            if let Ok(mut g) = silent.lock() {
                                *g = Some((f, FrameClock::new(rate)));
                            }
                        }
                        Err(e) => eprintln!("\nrelay: no silent keep-alive frames: {e}"),
                    }
                }
            }
            gst::EventView::Gap(g) => {
                let (_, dur) = g.get();
                if let (Some(d), Ok(mut guard)) = (dur, silent.lock()) {
                    if let Some((frame, clock)) = guard.as_mut() {
                        let n = clock.frames_for(d.nseconds());
                        if n > 0 {
                            out.push(frame.repeat(n as usize));
                            count.fetch_add(n, Ordering::Relaxed);
                        }
                    }
                }
            }
            _ => {}
        }
        gst::PadProbeReturn::Ok
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_become_whole_frames_with_carry() {
        // 48 kHz: 21.333 ms frames; a 100 ms GAP is 4 frames, 14.67 ms carried.
        let mut c = FrameClock::new(48_000);
        assert_eq!(c.frames_for(100_000_000), 4);
        assert_eq!(c.frames_for(100_000_000), 5);
        // Ten seconds of GAPs add up to ten seconds of frames (468.75 -> 468 or 469).
        let mut c = FrameClock::new(48_000);
        let n: u64 = (0..100).map(|_| c.frames_for(100_000_000)).sum();
        assert!((468..=469).contains(&n), "{n}");
    }

    #[test]
    fn silent_frame_is_adts_of_the_asked_format() {
        gst::init().unwrap();
        let f = silent_adts_frame(44_100, 1).unwrap();
        // ADTS: sampling frequency index 4 = 44.1 kHz, channel configuration 1.
        assert_eq!((f[2] >> 2) & 0x0F, 4);
        assert_eq!(((f[2] & 1) << 2) | (f[3] >> 6), 1);
        let len = (usize::from(f[3] & 3) << 11) | (usize::from(f[4]) << 3) | usize::from(f[5] >> 5);
        assert_eq!(len, f.len());
        // Big enough for Icecast to pass it on promptly (see the module doc).
        assert!(f.len() > 100, "{}", f.len());
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Helpers for tests/loudnessmatch.rs: signal synthesis, a harness around a
//! loudnessmatch inside a pipeline, and reading its `loudness` messages.
#![allow(dead_code)]

use gst::prelude::*;
use std::f64::consts::PI;
use std::sync::Once;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstfailover::plugin_register_static().unwrap();
    });
}

/// Interleaved f32 audio.
#[derive(Clone, Debug, Default)]
pub struct Sig {
    pub rate: u32,
    pub ch: usize,
    pub data: Vec<f32>,
}

impl Sig {
    pub fn new(rate: u32, ch: usize) -> Self {
        Sig {
            rate,
            ch,
            data: Vec::new(),
        }
    }

    pub fn frames(&self) -> usize {
        self.data.len() / self.ch
    }

    /// Sine of `freq` Hz, peak `dbfs[c]` per channel (None: silent channel),
    /// starting at `phase_deg`.
    pub fn tone(mut self, freq: f64, dbfs: &[Option<f64>], secs: f64, phase_deg: f64) -> Self {
        assert_eq!(dbfs.len(), self.ch);
        let n = (secs * self.rate as f64).round() as usize;
        let amps: Vec<f64> = dbfs
            .iter()
            .map(|d| d.map(|d| 10f64.powf(d / 20.0)).unwrap_or(0.0))
            .collect();
        let w = 2.0 * PI * freq / self.rate as f64;
        let ph = phase_deg.to_radians();
        self.data.reserve(n * self.ch);
        for i in 0..n {
            let s = (w * i as f64 + ph).sin();
            for a in &amps {
                self.data.push((a * s) as f32);
            }
        }
        self
    }

    /// 1 kHz sine, same level on every channel.
    pub fn khz(self, dbfs: f64, secs: f64) -> Self {
        let ch = self.ch;
        self.tone(1000.0, &vec![Some(dbfs); ch], secs, 0.0)
    }

    pub fn silence(mut self, secs: f64) -> Self {
        let n = (secs * self.rate as f64).round() as usize;
        self.data.resize(self.data.len() + n * self.ch, 0.0);
        self
    }

    /// Programme-like material: deterministic noise through a gentle low-pass,
    /// with a slow level movement, scaled to `lufs` (measured with ebur128).
    pub fn programme(mut self, lufs: f64, secs: f64, seed: u32) -> Self {
        let n = (secs * self.rate as f64).round() as usize;
        let mut x = seed;
        let mut lp = vec![0.0f64; self.ch];
        let mut chunk = Vec::with_capacity(n * self.ch);
        for i in 0..n {
            let t = i as f64 / self.rate as f64;
            let env = 1.0 + 0.3 * (2.0 * PI * 0.7 * t).sin();
            for l in lp.iter_mut() {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                let white = (x >> 8) as f64 / (1u32 << 24) as f64 * 2.0 - 1.0;
                *l += 0.3 * (white - *l);
                chunk.push(*l * env);
            }
        }
        let measured = integrated_f64(self.rate, self.ch, &chunk);
        let g = 10f64.powf((lufs - measured) / 20.0);
        self.data.extend(chunk.iter().map(|v| (v * g) as f32));
        self
    }

    /// Raised-cosine fade in and out over `secs`, so that a true-peak reading
    /// is not that of the interpolation filter ringing on a hard onset.
    pub fn faded(self, secs: f64) -> Self {
        self.fade(secs, true, true)
    }

    /// Raised-cosine fade in over `secs` only.
    pub fn fade_in(self, secs: f64) -> Self {
        self.fade(secs, true, false)
    }

    fn fade(mut self, secs: f64, start: bool, end: bool) -> Self {
        let n = (secs * self.rate as f64) as usize;
        let frames = self.frames();
        for i in 0..n.min(frames / 2) {
            let g = (0.5 - 0.5 * (PI * i as f64 / n as f64).cos()) as f32;
            for c in 0..self.ch {
                if start {
                    self.data[i * self.ch + c] *= g;
                }
                if end {
                    self.data[(frames - 1 - i) * self.ch + c] *= g;
                }
            }
        }
        self
    }

    pub fn scaled(&self, db: f64) -> Self {
        let g = 10f64.powf(db / 20.0) as f32;
        Sig {
            rate: self.rate,
            ch: self.ch,
            data: self.data.iter().map(|v| v * g).collect(),
        }
    }
}

pub fn integrated_f64(rate: u32, ch: usize, data: &[f64]) -> f64 {
    let mut e = ebur128::EbuR128::new(ch as u32, rate, ebur128::Mode::I).unwrap();
    e.add_frames_f64(data).unwrap();
    e.loudness_global().unwrap()
}

/// Integrated loudness and true peak (dBTP) of interleaved f32 audio.
pub fn analyse(rate: u32, ch: usize, data: &[f32]) -> (f64, f64) {
    let mut e = ebur128::EbuR128::new(ch as u32, rate, ebur128::Mode::I | ebur128::Mode::TRUE_PEAK)
        .unwrap();
    e.add_frames_f32(data).unwrap();
    let tp = (0..ch as u32)
        .map(|c| e.true_peak(c).unwrap())
        .fold(0.0, f64::max);
    (e.loudness_global().unwrap(), 20.0 * tp.log10())
}

pub fn caps(rate: u32, ch: usize, format: &str, mask: Option<u64>) -> gst::Caps {
    let mut b = gst::Caps::builder("audio/x-raw")
        .field("format", format)
        .field("layout", "interleaved")
        .field("rate", rate as i32)
        .field("channels", ch as i32);
    if let Some(m) = mask {
        b = b.field("channel-mask", gst::Bitmask::new(m));
    } else if ch > 2 {
        b = b.field("channel-mask", gst::Bitmask::new(0));
    }
    b.build()
}

pub fn f32_bytes(d: &[f32]) -> Vec<u8> {
    d.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn bytes_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// One `loudness` message.
#[derive(Debug, Clone, Copy)]
pub struct Msg {
    pub at: Option<f64>,
    pub m: f64,
    pub s: f64,
    pub i: f64,
    pub lra: f64,
    pub tp: f64,
    pub gain: f64,
}

/// A loudnessmatch inside a pipeline (for the bus and for `reference`
/// lookups), driven by a harness.
pub struct Rig {
    pub h: gst_check::Harness,
    pub rate: u32,
    pub ch: usize,
    pub pts: u64,
    pub out: Vec<gst::Buffer>,
}

impl Rig {
    pub fn new(
        pipeline: &gst::Pipeline,
        name: &str,
        props: &[(&str, &str)],
        caps: gst::Caps,
    ) -> Rig {
        let mut b = gst::ElementFactory::make("loudnessmatch").name(name);
        for (k, v) in props {
            b = b.property_from_str(k, v);
        }
        let el = b.build().unwrap();
        pipeline.add(&el).unwrap();
        let mut h = gst_check::Harness::with_element(&el, Some("sink"), Some("src"));
        h.play();
        let s = caps.structure(0).unwrap();
        let rate = s.get::<i32>("rate").unwrap() as u32;
        let ch = s.get::<i32>("channels").unwrap() as usize;
        h.set_src_caps(caps);
        Rig {
            h,
            rate,
            ch,
            pts: 0,
            out: Vec::new(),
        }
    }

    pub fn push_bytes(&mut self, bytes: Vec<u8>, frames: usize, flags: gst::BufferFlags) {
        let mut buf = gst::Buffer::from_mut_slice(bytes);
        {
            let b = buf.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_nseconds(self.pts));
            let dur = frames as u64 * 1_000_000_000 / self.rate as u64;
            b.set_duration(gst::ClockTime::from_nseconds(dur));
            b.set_flags(flags);
        }
        self.pts += frames as u64 * 1_000_000_000 / self.rate as u64;
        self.h.push(buf).unwrap();
        while let Some(b) = self.h.try_pull() {
            self.out.push(b);
        }
    }

    /// Push `frames` of f32 audio in 100 ms buffers.
    pub fn push_f32(&mut self, data: &[f32]) {
        let step = (self.rate as usize / 10) * self.ch;
        for c in data.chunks(step) {
            self.push_bytes(f32_bytes(c), c.len() / self.ch, gst::BufferFlags::empty());
        }
    }

    pub fn eos(&mut self) {
        assert!(self.h.push_event(gst::event::Eos::new()));
        while let Some(b) = self.h.try_pull() {
            self.out.push(b);
        }
    }

    pub fn output_f32(&self) -> Vec<f32> {
        self.out
            .iter()
            .flat_map(|b| bytes_f32(&b.map_readable().unwrap()))
            .collect()
    }
}

/// `loudness` messages posted by element `name`.
pub fn messages(pipeline: &gst::Pipeline, name: &str) -> Vec<Msg> {
    let bus = pipeline.bus().unwrap();
    let mut v = Vec::new();
    let mut rest = Vec::new();
    while let Some(msg) = bus.pop() {
        let from = msg.src().map(|s| s.name().to_string());
        if from.as_deref() != Some(name) {
            rest.push(msg);
            continue;
        }
        if let gst::MessageView::Element(e) = msg.view() {
            let s = e.structure().unwrap();
            if s.name() == "loudness" {
                v.push(Msg {
                    at: s.get::<u64>("timestamp").ok().map(|t| t as f64 / 1e9),
                    m: s.get("momentary").unwrap(),
                    s: s.get("short-term").unwrap(),
                    i: s.get("integrated").unwrap(),
                    lra: s.get("loudness-range").unwrap(),
                    tp: s.get("true-peak").unwrap(),
                    gain: s.get("gain").unwrap(),
                });
                continue;
            }
        }
        rest.push(msg);
    }
    for m in rest {
        let _ = bus.post(m);
    }
    v
}

pub fn warnings(pipeline: &gst::Pipeline) -> Vec<String> {
    let bus = pipeline.bus().unwrap();
    let mut v = Vec::new();
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Warning]) {
        if let gst::MessageView::Warning(w) = msg.view() {
            v.push(w.error().to_string());
        }
    }
    v
}

/// Run `sig` through a measuring element; messages every `interval_ms`.
pub fn measure(sig: &Sig, interval_ms: u64, mask: Option<u64>) -> Vec<Msg> {
    init();
    let p = gst::Pipeline::new();
    let mut rig = Rig::new(
        &p,
        "meter",
        &[
            ("mode", "measure"),
            ("interval", &(interval_ms * 1_000_000).to_string()),
        ],
        caps(sig.rate, sig.ch, "F32LE", mask),
    );
    rig.push_f32(&sig.data);
    rig.eos();
    // bit-exact pass-through in measure mode
    assert_eq!(rig.output_f32(), sig.data);
    let msgs = messages(&p, "meter");
    assert!(!msgs.is_empty());
    msgs
}

pub fn last(msgs: &[Msg]) -> Msg {
    *msgs.last().unwrap()
}

pub fn near(v: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (v - want).abs() <= tol,
        "{what}: {v} not within {tol} of {want}"
    );
}

/// Writes interleaved f32 audio as a 32-bit float WAV file.
pub fn write_wav(path: &std::path::Path, sig: &Sig) -> std::io::Result<()> {
    let data_len = (sig.data.len() * 4) as u32;
    let ch = sig.ch as u16;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
    b.extend_from_slice(&ch.to_le_bytes());
    b.extend_from_slice(&sig.rate.to_le_bytes());
    b.extend_from_slice(&(sig.rate * ch as u32 * 4).to_le_bytes());
    b.extend_from_slice(&(ch * 4).to_le_bytes());
    b.extend_from_slice(&32u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    b.extend(f32_bytes(&sig.data));
    std::fs::write(path, b)
}

// SPDX-License-Identifier: MPL-2.0
//! Runs the alignment estimator (`gstfailover::align`) over two recordings, as if
//! they were the two inputs of a switch that both started at running time 0, and
//! prints every analysis and the published offset.
//!
//! Usage: align-wav PRIMARY.wav SECONDARY.wav
//!
//! The WAVs: 16-bit PCM or 32-bit float, any rate and channel count (downmixed).
//! The last line is machine-readable:
//! `offset_ms=<ms or none> confident=<true|false> confidence=<0..1>`.

use gstfailover::align::{Config, Estimator, Input, Verdict};

struct Wav {
    rate: u32,
    channels: usize,
    samples: Vec<f32>,
}

fn read_wav(path: &str) -> Result<Wav, String> {
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    if data.len() < 12 || &data[0..4] != b"RIFF" || &data[8..12] != b"WAVE" {
        return Err(format!("{path}: not a RIFF/WAVE file"));
    }
    let u16le = |b: &[u8]| u16::from_le_bytes([b[0], b[1]]);
    let u32le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let (mut pos, mut fmt) = (12usize, None);
    while pos + 8 <= data.len() {
        let id = &data[pos..pos + 4];
        let len = u32le(&data[pos + 4..pos + 8]) as usize;
        let body = &data[pos + 8..(pos + 8 + len).min(data.len())];
        if id == b"fmt " && body.len() >= 16 {
            // (format tag, channels, rate, bits per sample)
            fmt = Some((
                u16le(body),
                u16le(&body[2..]) as usize,
                u32le(&body[4..]),
                u16le(&body[14..]),
            ));
        } else if id == b"data" {
            let (tag, channels, rate, bits) = fmt.ok_or(format!("{path}: data before fmt"))?;
            let samples = match (tag, bits) {
                (1, 16) | (0xFFFE, 16) => body
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
                    .collect(),
                (3, 32) | (0xFFFE, 32) => body
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                _ => return Err(format!("{path}: only 16-bit PCM or 32-bit float WAV")),
            };
            return Ok(Wav {
                rate,
                channels: channels.max(1),
                samples,
            });
        }
        pos += 8 + len + (len & 1);
    }
    Err(format!("{path}: no data chunk"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: align-wav PRIMARY.wav SECONDARY.wav");
        std::process::exit(2);
    }
    let (p, s) = match (read_wav(&args[1]), read_wav(&args[2])) {
        (Ok(p), Ok(s)) => (p, s),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("align-wav: {e}");
            std::process::exit(2);
        }
    };
    let mut est = Estimator::new(Config::default());
    // 20 ms chunks of each, in running-time order.
    let chunk = |w: &Wav| (w.rate as usize / 50) * w.channels;
    let (cp, cs) = (chunk(&p), chunk(&s));
    let (mut ip, mut is) = (0usize, 0usize);
    let time = |w: &Wav, i: usize| (i / w.channels) as u64 * 1_000_000_000 / w.rate as u64;
    while ip < p.samples.len() || is < s.samples.len() {
        let primary_next =
            is >= s.samples.len() || (ip < p.samples.len() && time(&p, ip) <= time(&s, is));
        let m = if primary_next {
            let end = (ip + cp).min(p.samples.len());
            let m = est.push_interleaved(
                Input::Primary,
                p.rate,
                p.channels,
                time(&p, ip),
                &p.samples[ip..end],
            );
            ip = end;
            m
        } else {
            let end = (is + cs).min(s.samples.len());
            let m = est.push_interleaved(
                Input::Secondary,
                s.rate,
                s.channels,
                time(&s, is),
                &s.samples[is..end],
            );
            is = end;
            m
        };
        if let Some(m) = m {
            println!(
                "at {:7.2} s: {:<8} offset {:+10.3} ms  peak {:.3}  second {:.3}  confidence {:.3}  fine {}",
                m.running_time as f64 / 1e9,
                match m.verdict {
                    Verdict::Match => "match",
                    Verdict::NoMatch => "no-match",
                    Verdict::Silent => "silent",
                },
                m.offset as f64 / 1e6,
                m.peak,
                m.second,
                m.confidence,
                m.fine_peak.map_or("-".to_string(), |f| format!("{f:.3}")),
            );
        }
    }
    let e = est.estimate();
    println!(
        "offset_ms={} confident={} confidence={:.3}",
        e.offset
            .map_or("none".to_string(), |o| format!("{:.3}", o as f64 / 1e6)),
        e.confident,
        e.confidence
    );
}

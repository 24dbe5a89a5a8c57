// SPDX-License-Identifier: MPL-2.0
//! `relay-listener`: an Icecast listener for tests and demos. It reads a mount the
//! whole time over a plain `TcpStream`, decodes it (`aacparse ! avdec_aac`),
//! measures its loudness (EBU R128, `ebur128` crate) and records every gap: pauses
//! in the byte stream longer than `--gap-threshold`, runs of decoded digital
//! silence, and whether the server ever closed the connection.
//!
//! ```text
//! cargo run -p failover-testkit --bin relay-listener -- --url http://127.0.0.1:8000/relay.aac \
//!     --duration 60 --summary listener.txt --timeline listener.csv
//! ```
//! Ends after `--duration` seconds (0: never), on SIGINT or SIGTERM, and writes a
//! `key=value` summary (stdout and `--summary`).

use gst::glib;
use gst::prelude::*;
use gst_failover_relay::{config, signals, url};
use std::fs::File;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "\
relay-listener --url http://HOST:PORT/MOUNT [--duration SECS] [--summary FILE]
               [--timeline FILE] [--events FILE] [--gap-threshold DUR] [--connect-timeout DUR]
";

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Everything the listener measured. Plain data, shared between threads.
#[derive(Default)]
struct Stats {
    connected_once: bool,
    connected: bool,
    connects: u64,
    disconnects: u64,
    disconnect_times: Vec<f64>,
    bytes: u64,
    first_byte_at: Option<f64>,
    last_read: Option<Instant>,
    longest_gap: Duration,
    longest_gap_at: f64,
    gaps: Vec<(f64, Duration)>,
    decoded_frames: u64,
    rate: u32,
    channels: u32,
    silent_run: u64,
    longest_silence_frames: u64,
    silences: u64,
    decode_errors: u64,
    loudness: Option<ebur128::EbuR128>,
    events: Option<File>,
}

impl Stats {
    fn event(&mut self, line: String) {
        if let Some(f) = self.events.as_mut() {
            let _ = writeln!(f, "{:.3} {line}", epoch());
            let _ = f.flush();
        }
    }

    /// Called for every read that returned data, at `now`.
    fn on_bytes(&mut self, n: usize, threshold: Duration, now: Instant) {
        if let Some(prev) = self.last_read {
            let gap = now - prev;
            if gap > self.longest_gap {
                self.longest_gap = gap;
                self.longest_gap_at = epoch();
            }
            if gap >= threshold {
                self.gaps.push((epoch(), gap));
                self.event(format!("gap ms={:.0}", gap.as_secs_f64() * 1e3));
            }
        }
        self.last_read = Some(now);
        if self.first_byte_at.is_none() {
            self.first_byte_at = Some(epoch());
        }
        self.bytes += n as u64;
    }

    /// Decoded interleaved F32 audio.
    fn on_audio(&mut self, samples: &[f32], rate: u32, channels: u32) {
        if channels == 0 || rate == 0 {
            return;
        }
        if self.rate != rate || self.channels != channels || self.loudness.is_none() {
            self.rate = rate;
            self.channels = channels;
            self.loudness = ebur128::EbuR128::new(
                channels,
                rate,
                ebur128::Mode::M | ebur128::Mode::S | ebur128::Mode::I | ebur128::Mode::LRA,
            )
            .ok();
        }
        if let Some(l) = self.loudness.as_mut() {
            let _ = l.add_frames_f32(samples);
        }
        let min_silence = u64::from(rate) / 5; // 200 ms
        for frame in samples.chunks_exact(channels as usize) {
            self.decoded_frames += 1;
            if frame.iter().all(|s| s.abs() < 1e-4) {
                self.silent_run += 1;
                if self.silent_run == min_silence {
                    self.silences += 1;
                }
            } else {
                self.end_silence(min_silence);
            }
        }
    }

    fn end_silence(&mut self, min_silence: u64) {
        if self.silent_run >= min_silence {
            let ms = self.silent_run as f64 * 1e3 / f64::from(self.rate.max(1));
            self.event(format!("silence ms={ms:.0}"));
        }
        self.longest_silence_frames = self.longest_silence_frames.max(self.silent_run);
        self.silent_run = 0;
    }

    fn lufs(&self, f: impl Fn(&ebur128::EbuR128) -> Result<f64, ebur128::Error>) -> String {
        match self.loudness.as_ref().map(f) {
            Some(Ok(v)) if v.is_finite() => format!("{v:.2}"),
            _ => String::new(),
        }
    }

    fn summary(&mut self, url: &str, ran: Duration) -> String {
        let min_silence = u64::from(self.rate) / 5;
        self.end_silence(min_silence.max(1));
        let ms = |d: Duration| format!("{:.0}", d.as_secs_f64() * 1e3);
        let rate = f64::from(self.rate.max(1));
        [
            format!("url={url}"),
            format!("ran_s={:.1}", ran.as_secs_f64()),
            format!("connected={}", self.connected_once),
            format!("connects={}", self.connects),
            format!("disconnects={}", self.disconnects),
            format!(
                "disconnect_times={}",
                self.disconnect_times
                    .iter()
                    .map(|t| format!("{t:.3}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            format!("bytes={}", self.bytes),
            format!("longest_gap_ms={}", ms(self.longest_gap)),
            format!("longest_gap_at={:.3}", self.longest_gap_at),
            format!("gaps_over_threshold={}", self.gaps.len()),
            format!("decoded_s={:.2}", self.decoded_frames as f64 / rate),
            format!("rate={}", self.rate),
            format!("channels={}", self.channels),
            format!(
                "longest_silence_ms={:.0}",
                self.longest_silence_frames as f64 * 1e3 / rate
            ),
            format!("silences_over_200ms={}", self.silences),
            format!("decode_errors={}", self.decode_errors),
            format!("integrated_lufs={}", self.lufs(|l| l.loudness_global())),
            format!("loudness_range_lu={}", self.lufs(|l| l.loudness_range())),
        ]
        .join("\n")
    }
}

struct Opts {
    url: url::Url,
    duration: f64,
    summary: Option<String>,
    timeline: Option<String>,
    events: Option<String>,
    gap_threshold: Duration,
    connect_timeout: Duration,
}

fn parse_opts() -> Result<Option<Opts>, String> {
    let mut url = None;
    let mut o = Opts {
        url: url::Url::parse("http://127.0.0.1/")?,
        duration: 0.0,
        summary: None,
        timeline: None,
        events: None,
        gap_threshold: Duration::from_millis(250),
        connect_timeout: Duration::from_secs(30),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--url" => url = Some(url::Url::parse(&val()?)?),
            "--duration" => o.duration = config::parse_duration(&val()?)?.as_secs_f64(),
            "--summary" => o.summary = Some(val()?),
            "--timeline" => o.timeline = Some(val()?),
            "--events" => o.events = Some(val()?),
            "--gap-threshold" => o.gap_threshold = config::parse_duration(&val()?)?,
            "--connect-timeout" => o.connect_timeout = config::parse_duration(&val()?)?,
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    o.url = url.ok_or_else(|| format!("--url is required\n{USAGE}"))?;
    Ok(Some(o))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("relay-listener: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let Some(opts) = parse_opts()? else {
        print!("{USAGE}");
        return Ok(());
    };
    gst::init().map_err(|e| e.to_string())?;
    let stats = Arc::new(Mutex::new(Stats::default()));
    if let Some(p) = &opts.events {
        stats.lock().map_err(|_| "lock")?.events =
            Some(File::create(p).map_err(|e| format!("{p}: {e}"))?);
    }

    // Decoder: appsrc (bytes as they arrive) ! aacparse ! avdec_aac ! F32 ! appsink.
    let pipeline = gst::parse::launch(
        "appsrc name=src is-live=true format=bytes block=false max-bytes=4000000 \
         caps=audio/mpeg,mpegversion=4,stream-format=adts ! aacparse ! avdec_aac \
         ! audioconvert ! audio/x-raw,format=F32LE,layout=interleaved \
         ! appsink name=sink sync=false emit-signals=true",
    )
    .map_err(|e| e.to_string())?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let appsrc = pipeline.by_name("src").ok_or("no appsrc")?;
    let appsink = pipeline.by_name("sink").ok_or("no appsink")?;
    {
        let stats = stats.clone();
        appsink.connect("new-sample", false, move |vals| {
            let sink = vals.first()?.get::<gst::Element>().ok()?;
            let sample = sink.emit_by_name::<Option<gst::Sample>>("pull-sample", &[])?;
            let info = sample
                .caps()
                .and_then(|c| gst_audio::AudioInfo::from_caps(c).ok());
            if let (Some(info), Some(buf)) = (info, sample.buffer()) {
                if let Ok(map) = buf.map_readable() {
                    let samples: Vec<f32> = map
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                    if let Ok(mut st) = stats.lock() {
                        st.on_audio(&samples, info.rate(), info.channels());
                    }
                }
            }
            Some(gst::FlowReturn::Ok.to_value())
        });
    }
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;

    // Reader thread.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stats = stats.clone();
        let stop = stop.clone();
        let url = opts.url.clone();
        let threshold = opts.gap_threshold;
        let connect_timeout = opts.connect_timeout;
        let appsrc = appsrc.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut buf = vec![0u8; 16384];
            while !stop.load(Ordering::Relaxed) {
                let mut r = match failover_testkit::get_mount(
                    &url,
                    "relay-listener",
                    Duration::from_secs(15),
                ) {
                    Ok(r) => r,
                    Err(e) => {
                        let ever = stats.lock().map(|s| s.connected_once).unwrap_or(true);
                        if !ever && started.elapsed() > connect_timeout {
                            eprintln!("relay-listener: cannot connect: {e}");
                        }
                        std::thread::sleep(Duration::from_millis(200));
                        continue;
                    }
                };
                if let Ok(mut st) = stats.lock() {
                    st.connected_once = true;
                    st.connected = true;
                    st.connects += 1;
                    st.last_read = None;
                    st.event("connected".into());
                }
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    match r.read(&mut buf) {
                        Ok(0) | Err(_) => {
                            if let Ok(mut st) = stats.lock() {
                                st.connected = false;
                                st.disconnects += 1;
                                st.disconnect_times.push(epoch());
                                st.event("disconnected".into());
                            }
                            eprintln!("relay-listener: the server closed the connection");
                            break;
                        }
                        Ok(n) => {
                            if let Ok(mut st) = stats.lock() {
                                st.on_bytes(n, threshold, Instant::now());
                            }
                            let b = gst::Buffer::from_slice(buf[..n].to_vec());
                            let _ = appsrc.emit_by_name::<gst::FlowReturn>("push-buffer", &[&b]);
                        }
                    }
                }
            }
        })
    };

    let main_loop = glib::MainLoop::new(None, false);
    for sig in [signals::SIGINT, signals::SIGTERM] {
        let ml = main_loop.clone();
        signals::add_local(sig, move || {
            ml.quit();
            glib::ControlFlow::Continue
        });
    }
    if opts.duration > 0.0 {
        let ml = main_loop.clone();
        glib::timeout_add_local_once(Duration::from_secs_f64(opts.duration), move || ml.quit());
    }
    let mut timeline = match &opts.timeline {
        Some(p) => Some(File::create(p).map_err(|e| format!("{p}: {e}"))?),
        None => None,
    };
    if let Some(f) = timeline.as_mut() {
        let _ = writeln!(
            f,
            "time,bytes,connected,momentary_lufs,short_term_lufs,decoded_s"
        );
    }
    {
        let stats = stats.clone();
        glib::timeout_add_local(Duration::from_millis(500), move || {
            if let (Some(f), Ok(st)) = (timeline.as_mut(), stats.lock()) {
                let _ = writeln!(
                    f,
                    "{:.3},{},{},{},{},{:.3}",
                    epoch(),
                    st.bytes,
                    u8::from(st.connected),
                    st.lufs(|l| l.loudness_momentary()),
                    st.lufs(|l| l.loudness_shortterm()),
                    st.decoded_frames as f64 / f64::from(st.rate.max(1))
                );
                let _ = f.flush();
            }
            glib::ControlFlow::Continue
        });
    }
    {
        let ml = main_loop.clone();
        let bus = pipeline.bus().ok_or("no bus")?;
        let stats_bus = stats.clone();
        let _w = bus
            .add_watch_local(move |_, msg| {
                match msg.view() {
                    gst::MessageView::Error(e) => {
                        eprintln!("relay-listener: decoder error: {}", e.error());
                        if let Ok(mut st) = stats_bus.lock() {
                            st.decode_errors += 1;
                        }
                        ml.quit();
                    }
                    gst::MessageView::Warning(w) => {
                        if let Ok(mut st) = stats_bus.lock() {
                            st.decode_errors += 1;
                        }
                        eprintln!("relay-listener: decoder warning: {}", w.error());
                    }
                    _ => {}
                }
                glib::ControlFlow::Continue
            })
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        main_loop.run();
        stop.store(true, Ordering::Relaxed);
        let summary = stats
            .lock()
            .map_err(|_| "lock")?
            .summary(&opts.url.http_without_credentials(), started.elapsed());
        println!("{summary}");
        if let Some(p) = &opts.summary {
            std::fs::write(p, format!("{summary}\n")).map_err(|e| format!("{p}: {e}"))?;
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    // The reader may sit in a blocking read; the process exits without joining it.
    drop(reader);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_measured_between_reads_and_reset_on_reconnect() {
        let mut st = Stats::default();
        let t0 = Instant::now();
        let thr = Duration::from_millis(250);
        st.on_bytes(100, thr, t0);
        st.on_bytes(100, thr, t0 + Duration::from_millis(100));
        st.on_bytes(100, thr, t0 + Duration::from_millis(900));
        assert_eq!(st.longest_gap, Duration::from_millis(800));
        assert_eq!(st.gaps.len(), 1);
        assert_eq!(st.bytes, 300);
        // A reconnection starts a new connection: the wait for it is not a gap.
        st.last_read = None;
        st.on_bytes(10, thr, t0 + Duration::from_secs(10));
        assert_eq!(st.longest_gap, Duration::from_millis(800));
    }

    #[test]
    fn silence_runs_over_200ms_are_counted() {
        let mut st = Stats::default();
        let rate = 1000;
        let loud: Vec<f32> = (0..200)
            .map(|i| if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        let quiet = vec![0.0f32; 2 * 300]; // 300 ms stereo
        st.on_audio(&loud, rate, 2);
        st.on_audio(&quiet, rate, 2);
        st.on_audio(&loud, rate, 2);
        st.on_audio(&quiet[..2 * 100], rate, 2); // 100 ms: too short to count
        st.on_audio(&loud, rate, 2);
        assert_eq!(st.silences, 1);
        assert_eq!(st.longest_silence_frames, 300);
        assert_eq!(st.decoded_frames, 3 * 100 + 300 + 100);
    }
}

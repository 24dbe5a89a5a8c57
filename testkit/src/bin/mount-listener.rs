// SPDX-License-Identifier: MPL-2.0
//! `mount-listener`: many light Icecast listeners in one process (one thread per
//! mount, no decoding), for tests and benchmarks of many stations. For each URL it
//! records the bytes received, the longest pause between two reads once data flows,
//! how many pauses exceeded `--gap`, and every time the server closed the
//! connection (it then reconnects after a second, as a player would).
//!
//! ```text
//! mount-listener --duration 60 --summary listeners.txt http://127.0.0.1:8000/a_relay.aac ...
//! ```
//! Ends after `--duration` seconds or as soon as `--stop-file` exists, and writes one
//! line per URL: `url=... bytes=... longest_gap_ms=... gaps_over=... disconnects=...
//! connected=true|false first_data_s=...` (stdout and `--summary`).

use gst_failover_relay::{config, url};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USAGE: &str = "\
mount-listener [--duration SECS] [--stop-file PATH] [--summary FILE] [--gap DUR] URL...
";

#[derive(Default, Clone)]
struct Stats {
    bytes: u64,
    longest_gap: Duration,
    gaps_over: u64,
    disconnects: u64,
    connected: bool,
    first_data: Option<Duration>,
}

fn listen(
    u: url::Url,
    gap: Duration,
    start: Instant,
    stop: Arc<AtomicBool>,
    st: Arc<Mutex<Stats>>,
) {
    let mut buf = vec![0u8; 16384];
    while !stop.load(Ordering::Relaxed) {
        let mut r =
            match failover_testkit::get_mount(&u, "mount-listener", Duration::from_millis(500)) {
                Ok(r) => r,
                Err(_) => {
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
        if let Ok(mut s) = st.lock() {
            s.connected = true;
        }
        let mut last: Option<Instant> = None;
        let closed = loop {
            if stop.load(Ordering::Relaxed) {
                break false;
            }
            match r.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => {
                    let now = Instant::now();
                    if let Ok(mut s) = st.lock() {
                        s.bytes += n as u64;
                        s.first_data.get_or_insert(now - start);
                        if let Some(l) = last {
                            let g = now - l;
                            s.longest_gap = s.longest_gap.max(g);
                            if g > gap {
                                s.gaps_over += 1;
                            }
                        }
                    }
                    last = Some(now);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(_) => break true,
            }
        };
        if let Ok(mut s) = st.lock() {
            s.connected = false;
            if closed {
                s.disconnects += 1;
                eprintln!(
                    "mount-listener: {} closed at {:.1} s",
                    u.path,
                    start.elapsed().as_secs_f64()
                );
            }
        }
        if closed {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

fn run() -> Result<(), String> {
    let (mut duration, mut stop_file, mut summary, mut gap) = (
        0.0f64,
        None::<String>,
        None::<String>,
        Duration::from_secs(1),
    );
    let mut urls = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            "--duration" => duration = config::parse_duration(&val()?)?.as_secs_f64(),
            "--stop-file" => stop_file = Some(val()?),
            "--summary" => summary = Some(val()?),
            "--gap" => gap = config::parse_duration(&val()?)?,
            u if u.starts_with("http://") => urls.push(url::Url::parse(u)?),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    if urls.is_empty() {
        return Err(format!("no URL\n{USAGE}"));
    }
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut all = Vec::new();
    for u in urls {
        let st = Arc::new(Mutex::new(Stats::default()));
        let (s2, stop2, u2) = (st.clone(), stop.clone(), u.clone());
        let t = std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || listen(u2, gap, start, stop2, s2))
            .map_err(|e| e.to_string())?;
        all.push((u, st, t));
    }
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let done = (duration > 0.0 && start.elapsed().as_secs_f64() >= duration)
            || stop_file.as_ref().is_some_and(|p| Path::new(p).exists());
        if done {
            break;
        }
    }
    // The state at the end, before the threads close their connections.
    let snapshot: Vec<(String, Stats)> = all
        .iter()
        .map(|(u, st, _)| {
            (
                u.http_without_credentials(),
                st.lock().map(|s| s.clone()).unwrap_or_default(),
            )
        })
        .collect();
    stop.store(true, Ordering::Relaxed);
    for (_, _, t) in all {
        let _ = t.join();
    }
    let mut out = String::new();
    for (u, s) in snapshot {
        out.push_str(&format!(
            "url={u} bytes={} longest_gap_ms={} gaps_over={} disconnects={} connected={} first_data_s={}\n",
            s.bytes,
            s.longest_gap.as_millis(),
            s.gaps_over,
            s.disconnects,
            s.connected,
            s.first_data.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64())),
        ));
    }
    print!("{out}");
    if let Some(p) = summary {
        std::fs::write(&p, out).map_err(|e| format!("{p}: {e}"))?;
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("mount-listener: {e}");
        std::process::exit(1);
    }
}

// SPDX-License-Identifier: MPL-2.0
//! `aac-sender`: a cheap stand-in for live encoders. It sends a prerecorded ADTS
//! (AAC) file to one or many Icecast mounts as a source client (HTTP `PUT`), in real
//! time, looping the file, from one thread: hundreds of mounts cost a few percent of
//! a core, where one ffmpeg encoder per mount would cost a core per ~40 mounts.
//!
//! ```text
//! aac-sender --port 8000 --password hackme --file programme.aac /a.aac /a_fallback.aac ...
//! ```
//! The position in the file follows the wall clock (frame number = Unix time / frame
//! duration, modulo the file's length), so every mount, and a sender started again
//! later, plays the same audio at the same instant, like encoders fed from one
//! studio. A mount whose connection drops is reconnected every second. Runs until
//! killed (SIGTERM closes every connection: Icecast ends those mounts).

use gst_failover_relay::url;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "\
aac-sender --port PORT --password PW --file FILE.aac [--host 127.0.0.1] [--user source]
           [--tick-ms 100] MOUNT...
";

/// The ADTS frames of a file: (offset, length) and the frame duration.
struct Frames {
    data: Vec<u8>,
    frames: Vec<(usize, usize)>,
    frame_s: f64,
}

/// Splits an ADTS stream into frames (plain parsing of the 7-byte header).
fn parse_adts(data: Vec<u8>) -> Result<Frames, String> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let mut frames = Vec::new();
    let mut rate = 0;
    let mut i = 0;
    while i + 7 <= data.len() {
        if data[i] != 0xFF || data[i + 1] & 0xF0 != 0xF0 {
            return Err(format!("no ADTS sync word at byte {i}"));
        }
        let idx = usize::from((data[i + 2] >> 2) & 0x0F);
        rate = *RATES.get(idx).ok_or("bad sampling frequency index")?;
        let len = (usize::from(data[i + 3] & 3) << 11)
            | (usize::from(data[i + 4]) << 3)
            | usize::from(data[i + 5] >> 5);
        if len < 7 || i + len > data.len() {
            break;
        }
        frames.push((i, len));
        i += len;
    }
    if frames.is_empty() {
        return Err("no ADTS frames".into());
    }
    Ok(Frames {
        data,
        frames,
        frame_s: 1024.0 / f64::from(rate),
    })
}

struct Mount {
    path: String,
    conn: Option<TcpStream>,
    /// Absolute frame number (since the epoch) of the next frame to send.
    next: u64,
    retry_at: Instant,
    connects: u64,
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn connect(host: &str, port: u16, mount: &str, auth: &str) -> Result<TcpStream, String> {
    let addr = (host, port);
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "PUT {mount} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: aac-sender\r\n\
         Authorization: {auth}\r\nContent-Type: audio/aac\r\nIce-Public: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
    failover_testkit::expect_ok_head(&mut r)?;
    Ok(s)
}

fn run() -> Result<(), String> {
    let (mut host, mut port, mut pass, mut file, mut user, mut tick_ms) = (
        "127.0.0.1".to_string(),
        0u16,
        String::new(),
        String::new(),
        "source".to_string(),
        100u64,
    );
    let mut mounts = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            "--host" => host = val()?,
            "--port" => port = val()?.parse().map_err(|_| "--port: a number")?,
            "--password" => pass = val()?,
            "--user" => user = val()?,
            "--file" => file = val()?,
            "--tick-ms" => tick_ms = val()?.parse().map_err(|_| "--tick-ms: a number")?,
            m if m.starts_with('/') => mounts.push(m.to_string()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    if port == 0 || file.is_empty() || mounts.is_empty() {
        return Err(format!("--port, --file and a MOUNT are required\n{USAGE}"));
    }
    let data = std::fs::read(&file).map_err(|e| format!("{file}: {e}"))?;
    let f = parse_adts(data)?;
    let auth = format!("Basic {}", url::base64(format!("{user}:{pass}").as_bytes()));
    let n = f.frames.len() as u64;
    let mut mounts: Vec<Mount> = mounts
        .into_iter()
        .map(|path| Mount {
            path,
            conn: None,
            next: 0,
            retry_at: Instant::now(),
            connects: 0,
        })
        .collect();
    let tick = Duration::from_millis(tick_ms.max(5));
    let mut buf = Vec::new();
    loop {
        let target = (now_s() / f.frame_s) as u64;
        for m in mounts.iter_mut() {
            if m.conn.is_none() {
                if Instant::now() < m.retry_at {
                    continue;
                }
                match connect(&host, port, &m.path, &auth) {
                    Ok(s) => {
                        m.connects += 1;
                        if m.connects > 1 {
                            eprintln!("aac-sender: {} reconnected", m.path);
                        }
                        m.conn = Some(s);
                        // Start one tick behind, so the first write carries data.
                        m.next = target.saturating_sub(2);
                    }
                    Err(e) => {
                        eprintln!("aac-sender: {}: {e}", m.path);
                        m.retry_at = Instant::now() + Duration::from_secs(1);
                        continue;
                    }
                }
            }
            buf.clear();
            // Never more than 2 s at once (after a stall), the rest is skipped.
            if target > m.next + (2.0 / f.frame_s) as u64 {
                m.next = target - (2.0 / f.frame_s) as u64;
            }
            while m.next <= target {
                let (off, len) = f.frames[(m.next % n) as usize];
                buf.extend_from_slice(&f.data[off..off + len]);
                m.next += 1;
            }
            if let Some(s) = m.conn.as_mut() {
                if let Err(e) = s.write_all(&buf) {
                    eprintln!("aac-sender: {}: {e}; reconnecting", m.path);
                    m.conn = None;
                    m.retry_at = Instant::now() + Duration::from_secs(1);
                }
            }
        }
        std::thread::sleep(tick);
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("aac-sender: {e}");
        std::process::exit(1);
    }
}

// SPDX-License-Identifier: MPL-2.0
//! The relay's output: an Icecast source client (plain, non-chunked HTTP PUT over a
//! `TcpStream`, `Content-Type: audio/aac`, basic auth) fed from the pipeline's
//! `appsink` through a bounded channel, on its own thread, so a slow or restarting
//! server never blocks the pipeline. `-` writes the stream to stdout instead.

use super::url::Url;
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Counters shared with the status line.
#[derive(Default)]
pub struct OutputStats {
    pub bytes_sent: AtomicU64,
    pub connects: AtomicU64,
    pub dropped_buffers: AtomicU64,
    pub connected: AtomicBool,
}

pub struct Output {
    handle: OutputHandle,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<OutputStats>,
}

/// What the appsink callback holds: cheap to clone, closed by [`Output::finish`].
#[derive(Clone)]
pub struct OutputHandle {
    tx: Arc<Mutex<Option<SyncSender<Vec<u8>>>>>,
    stats: Arc<OutputStats>,
}

impl OutputHandle {
    /// Hands bytes to the writer; never blocks (drops and counts when full or closed).
    pub fn push(&self, data: Vec<u8>) {
        let sent = match self.tx.lock() {
            Ok(g) => match g.as_ref() {
                Some(tx) => match tx.try_send(data) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
                },
                None => false,
            },
            Err(_) => false,
        };
        if !sent {
            self.stats.dropped_buffers.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Where the bytes go.
#[derive(Debug, Clone)]
pub enum Target {
    Icecast { url: Url, content_type: String },
    Stdout,
}

impl Target {
    pub fn parse(s: &str, content_type: &str) -> Result<Target, String> {
        if s == "-" {
            return Ok(Target::Stdout);
        }
        let url = Url::parse(s)?;
        if url.user.is_none() {
            return Err(format!(
                "'{s}': the output URL needs source credentials (icecast://source:PASSWORD@host:port/mount)"
            ));
        }
        Ok(Target::Icecast {
            url,
            content_type: content_type.to_string(),
        })
    }
}

impl Output {
    /// Starts the writer thread. `queue` buffers are kept while (re)connecting.
    pub fn start(target: Target, queue: usize) -> Output {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(queue);
        let stats = Arc::new(OutputStats::default());
        let st = stats.clone();
        let thread = std::thread::Builder::new()
            .name("relay-output".into())
            .spawn(move || writer_loop(target, rx, st))
            .ok();
        Output {
            handle: OutputHandle {
                tx: Arc::new(Mutex::new(Some(tx))),
                stats: stats.clone(),
            },
            thread,
            stats,
        }
    }

    /// A handle for the appsink callback.
    pub fn handle(&self) -> OutputHandle {
        self.handle.clone()
    }

    /// Closes the channel and waits for the writer to flush and disconnect.
    pub fn finish(mut self) {
        if let Ok(mut g) = self.handle.tx.lock() {
            g.take();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn writer_loop(target: Target, rx: Receiver<Vec<u8>>, stats: Arc<OutputStats>) {
    match target {
        Target::Stdout => {
            let mut out = io::stdout().lock();
            stats.connected.store(true, Ordering::Relaxed);
            for data in rx {
                if out.write_all(&data).and_then(|_| out.flush()).is_err() {
                    break;
                }
                stats
                    .bytes_sent
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        Target::Icecast { url, content_type } => {
            let mut conn: Option<TcpStream> = None;
            for data in rx {
                if conn.is_none() {
                    match connect_source(&url, &content_type) {
                        Ok(s) => {
                            stats.connects.fetch_add(1, Ordering::Relaxed);
                            stats.connected.store(true, Ordering::Relaxed);
                            conn = Some(s);
                        }
                        Err(e) => {
                            eprintln!("\nrelay: output {}: {e}", url.http_without_credentials());
                            stats.dropped_buffers.fetch_add(1, Ordering::Relaxed);
                            // Do not spin: the data keeps coming at real time; retry soon.
                            std::thread::sleep(Duration::from_millis(500));
                            continue;
                        }
                    }
                }
                if let Some(s) = conn.as_mut() {
                    if let Err(e) = s.write_all(&data) {
                        eprintln!("\nrelay: output connection lost: {e}; reconnecting");
                        stats.connected.store(false, Ordering::Relaxed);
                        conn = None;
                    } else {
                        stats
                            .bytes_sent
                            .fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                }
            }
            if let Some(s) = conn {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            stats.connected.store(false, Ordering::Relaxed);
        }
    }
}

/// Opens a source connection: `PUT /mount` with basic auth, waits for `200 OK`.
pub fn connect_source(url: &Url, content_type: &str) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect((url.host.as_str(), url.port))?;
    s.set_nodelay(true)?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let auth = url.basic_auth().unwrap_or_default();
    let req = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: failover-relay/{ver}\r\n\
         Authorization: {auth}\r\nContent-Type: {content_type}\r\nIce-Public: 0\r\n\
         Ice-Name: failover relay\r\n\r\n",
        path = url.path,
        host = url.host,
        port = url.port,
        ver = env!("CARGO_PKG_VERSION"),
    );
    s.write_all(req.as_bytes())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(s.try_clone()?);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let code = parse_status(&status)
        .ok_or_else(|| io::Error::other(format!("bad response '{}'", status.trim())))?;
    if code != 200 {
        return Err(io::Error::other(format!(
            "server refused the source: {}",
            status.trim()
        )));
    }
    // Skip the rest of the response header.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    Ok(s)
}

/// `HTTP/1.x 200 OK` -> 200.
pub fn parse_status(line: &str) -> Option<u16> {
    let mut it = line.split_whitespace();
    let proto = it.next()?;
    if !proto.starts_with("HTTP/") {
        return None;
    }
    it.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line() {
        assert_eq!(parse_status("HTTP/1.0 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status("HTTP/1.1 401 Authentication Required"),
            Some(401)
        );
        assert_eq!(parse_status("ICY 200 OK"), None);
        assert_eq!(parse_status(""), None);
    }

    #[test]
    fn output_target_needs_credentials() {
        assert!(Target::parse("icecast://127.0.0.1:8000/out.aac", "audio/aac").is_err());
        assert!(matches!(
            Target::parse("icecast://source:pw@127.0.0.1:8000/out.aac", "audio/aac"),
            Ok(Target::Icecast { .. })
        ));
        assert!(matches!(
            Target::parse("-", "audio/aac"),
            Ok(Target::Stdout)
        ));
    }
}

// SPDX-License-Identifier: MPL-2.0
//! `http://` inputs (Icecast mounts), read by the relay itself: a plain HTTP/1.0
//! `GET` over a `TcpStream` on a thread of its own, whose bytes go into the
//! connection's pipeline (`appsrc ! typefind ! aacparse ! appsink`).
//!
//! Why not `souphttpsrc`: after any read error (a timeout, a reset connection) it
//! logs a GStreamer ERROR line and silently asks again with a `Range` header, which
//! Icecast refuses ("Server does not support seeking"); its `retries` property only
//! bounds how often, the first re-request always goes out, and its `timeout` is the
//! only stall detection it has. Here every end of a connection is the relay's own
//! decision: a read error or the server closing the stream ends the connection (the
//! input's supervisor reconnects with a fresh request and a fresh live edge), a
//! stall is judged by the supervisor's clock, and the bytes are handed on the moment
//! they arrive. What it reads: `200` responses (HTTP/1.0, so never chunked), up to
//! three redirects, basic auth from the URL's credentials; no ICY metadata.

use crate::url::Url;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The connection's pipeline after the bytes: the parsed AAC frames, in the format
/// `audio_caps` asks for (ADTS for an Icecast output), reach the appsink `audio`.
pub(crate) fn pipeline_description(audio_caps: &str) -> String {
    format!(
        "appsrc name=src is-live=true format=bytes do-timestamp=false block=false \
         max-bytes=4000000 ! typefind name=typefind ! aacparse name=parse ! {audio_caps} \
         ! appsink name=audio sync=false async=false max-buffers=1000 drop=true"
    )
}

/// How a read ended by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// The server closed the stream.
    Eos,
    /// Could not connect, a refusal, a bad response, a read error.
    Error(String),
}

/// The request for `url` (credentials as basic auth, never in the request line).
pub(crate) fn request(url: &Url) -> String {
    let auth = url
        .basic_auth()
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: gst-failover-relay/{ver}\r\n\
         Accept: */*\r\nIcy-MetaData: 0\r\n{auth}Connection: close\r\n\r\n",
        path = url.path,
        host = url.host,
        port = url.port,
        ver = env!("CARGO_PKG_VERSION"),
    )
}

/// A response head: its status code and `Location` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) location: Option<String>,
}

/// Parses a response head (without the blank line). Icecast 2.4 answers
/// `HTTP/1.0 200 OK`; some servers answer `ICY 200 OK`.
pub(crate) fn parse_head(head: &str) -> Result<Head, String> {
    let mut lines = head.split("\r\n").flat_map(|l| l.split('\n'));
    let status_line = lines.next().unwrap_or_default().trim();
    let mut parts = status_line.splitn(3, ' ');
    let proto = parts.next().unwrap_or_default();
    if !(proto.starts_with("HTTP/") || proto == "ICY") {
        return Err(format!("not an HTTP response: '{status_line}'"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line '{status_line}'"))?;
    let reason = parts.next().unwrap_or_default().trim().to_string();
    let location = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("location")
            .then(|| v.trim().to_string())
    });
    Ok(Head {
        status,
        reason,
        location,
    })
}

/// Where the end of the head is in `buf` (the index after the blank line).
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
}

/// Stops a running read from another thread.
#[derive(Clone, Default)]
pub(crate) struct Stopper {
    stop: Arc<AtomicBool>,
    stream: Arc<std::sync::Mutex<Option<TcpStream>>>,
}

impl Stopper {
    /// The read ends without reporting anything (its socket is shut down, so a
    /// blocked read returns at once).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(g) = self.stream.lock() {
            if let Some(s) = g.as_ref() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn set(&self, s: &TcpStream) {
        if let (Ok(mut g), Ok(c)) = (self.stream.lock(), s.try_clone()) {
            *g = Some(c);
        }
        // Stopped while connecting: end this one too.
        if self.stopped() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn connect(url: &Url, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::other(format!("{}: no address", url.host));
    for addr in (url.host.as_str(), url.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// How often a blocked read looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);

/// Reads `url` until it ends, the stopper stops it, or `sink` refuses more bytes
/// (returns false); each read's bytes go to `sink` at once. Returns None when
/// stopped (or refused), otherwise how it ended. `timeout` bounds connecting and
/// waiting for the response head (a stall after that is the supervisor's to judge).
pub(crate) fn read(
    url: &Url,
    timeout: Duration,
    stopper: &Stopper,
    mut sink: impl FnMut(&[u8]) -> bool,
) -> Option<End> {
    let mut url = url.clone();
    for _hop in 0..4 {
        if stopper.stopped() {
            return None;
        }
        let mut s = match connect(&url, timeout) {
            Ok(s) => s,
            Err(e) => return Some(End::Error(format!("connect: {e}"))),
        };
        stopper.set(&s);
        let _ = s.set_nodelay(true);
        if let Err(e) = s.write_all(request(&url).as_bytes()) {
            return (!stopper.stopped()).then(|| End::Error(format!("request: {e}")));
        }
        let _ = s.set_read_timeout(Some(POLL));
        let mut buf = vec![0u8; 16 * 1024];
        let mut have = 0;
        let waited = std::time::Instant::now();
        let head = loop {
            if let Some(end) = head_end(&buf[..have]) {
                break end;
            }
            if have == buf.len() {
                return Some(End::Error("response head too long".into()));
            }
            match s.read(&mut buf[have..]) {
                Ok(0) => {
                    return (!stopper.stopped())
                        .then(|| End::Error("connection closed before a response".into()));
                }
                Ok(n) => have += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if stopper.stopped() {
                        return None;
                    }
                    if waited.elapsed() > timeout {
                        return Some(End::Error("no response".into()));
                    }
                }
                Err(e) => return (!stopper.stopped()).then(|| End::Error(format!("read: {e}"))),
            }
        };
        let h = match parse_head(&String::from_utf8_lossy(&buf[..head])) {
            Ok(h) => h,
            Err(e) => return Some(End::Error(e)),
        };
        match h.status {
            200 => {}
            301 | 302 | 303 | 307 | 308 => {
                let next = h
                    .location
                    .as_deref()
                    .map(|l| {
                        if l.starts_with('/') {
                            format!("http://{}:{}{l}", url.host, url.port)
                        } else {
                            l.to_string()
                        }
                    })
                    .ok_or_else(|| format!("HTTP {} without Location", h.status))
                    .and_then(|l| Url::parse(&l));
                match next {
                    Ok(mut u) => {
                        if u.user.is_none() && u.host == url.host && u.port == url.port {
                            u.user = url.user.clone();
                            u.password = url.password.clone();
                        }
                        url = u;
                        continue;
                    }
                    Err(e) => return Some(End::Error(format!("redirect: {e}"))),
                }
            }
            code => return Some(End::Error(format!("HTTP {code} {}", h.reason))),
        }
        if have > head && !sink(&buf[head..have]) {
            return None;
        }
        loop {
            match s.read(&mut buf) {
                Ok(0) => return (!stopper.stopped()).then_some(End::Eos),
                Ok(n) => {
                    if !sink(&buf[..n]) {
                        return None;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if stopper.stopped() {
                        return None;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (!stopper.stopped()).then(|| End::Error(format!("read: {e}"))),
            }
        }
    }
    Some(End::Error("too many redirects".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn request_has_credentials_only_as_basic_auth() {
        let u = Url::parse("http://src:secret@127.0.0.1:8000/station.aac").unwrap();
        let r = request(&u);
        assert!(r.starts_with("GET /station.aac HTTP/1.0\r\n"), "{r}");
        assert!(r.contains("Host: 127.0.0.1:8000\r\n"));
        assert!(r.contains("Authorization: Basic "));
        assert!(!r.contains("secret"));
        assert!(!r.contains("Range"));
        assert!(r.ends_with("\r\n\r\n"));
    }

    #[test]
    fn heads() {
        let h = parse_head("HTTP/1.0 200 OK\r\nContent-Type: audio/aac\r\n").unwrap();
        assert_eq!((h.status, h.location), (200, None));
        let h = parse_head("HTTP/1.1 302 Found\r\nlocation: http://h:1/x\r\n").unwrap();
        assert_eq!(h.location.as_deref(), Some("http://h:1/x"));
        assert_eq!(parse_head("ICY 200 OK").unwrap().status, 200);
        assert_eq!(
            parse_head("HTTP/1.0 404 File Not Found").unwrap().reason,
            "File Not Found"
        );
        assert!(parse_head("SSH-2.0-OpenSSH").is_err());
        assert!(parse_head("HTTP/1.0 abc").is_err());
    }

    /// A one-shot server on 127.0.0.1: answers each connection with `reply`, then
    /// `body`, then closes (`reset`: with a RST).
    fn serve(replies: Vec<(String, Vec<u8>, bool)>) -> (Url, std::thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for (reply, body, reset) in replies {
                let (mut c, _) = l.accept().unwrap();
                if reset {
                    // The request left unread: closing sends a RST.
                    std::thread::sleep(Duration::from_millis(100));
                } else {
                    let mut req = vec![0u8; 4096];
                    let n = c.read(&mut req).unwrap();
                    requests.push(String::from_utf8_lossy(&req[..n]).to_string());
                }
                c.write_all(reply.as_bytes()).unwrap();
                c.write_all(&body).unwrap();
                if reset {
                    std::thread::sleep(Duration::from_millis(100));
                }
                drop(c);
            }
            requests
        });
        (
            Url::parse(&format!("http://127.0.0.1:{port}/m.aac")).unwrap(),
            t,
        )
    }

    fn read_all(url: &Url) -> (Option<End>, Vec<u8>) {
        let mut got = Vec::new();
        let end = read(url, Duration::from_secs(5), &Stopper::default(), |b| {
            got.extend_from_slice(b);
            true
        });
        (end, got)
    }

    #[test]
    fn reads_the_body_and_reports_the_end() {
        let body: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let (url, t) = serve(vec![(
            "HTTP/1.0 200 OK\r\nContent-Type: audio/aac\r\n\r\n".into(),
            body.clone(),
            false,
        )]);
        let (end, got) = read_all(&url);
        assert_eq!(end, Some(End::Eos));
        assert_eq!(got, body);
        let reqs = t.join().unwrap();
        assert!(reqs[0].starts_with("GET /m.aac HTTP/1.0"));
    }

    #[test]
    fn refusals_redirects_and_resets() {
        let (url, t) = serve(vec![
            (
                "HTTP/1.0 302 Found\r\nLocation: /other.aac\r\n\r\n".into(),
                vec![],
                false,
            ),
            ("HTTP/1.0 404 File Not Found\r\n\r\n".into(), vec![], false),
        ]);
        let (end, got) = read_all(&url);
        assert_eq!(end, Some(End::Error("HTTP 404 File Not Found".into())));
        assert!(got.is_empty());
        let reqs = t.join().unwrap();
        assert!(reqs[1].starts_with("GET /other.aac "), "{reqs:?}");
        let (url, t) = serve(vec![(
            "HTTP/1.0 200 OK\r\n\r\n".into(),
            vec![1, 2, 3],
            true,
        )]);
        let (end, got) = read_all(&url);
        t.join().unwrap();
        assert!([1, 2, 3].starts_with(&got), "{got:?}");
        assert!(
            matches!(end, Some(End::Error(ref e)) if e.starts_with("read:")),
            "{end:?}"
        );
        // Nothing listens: a connect error.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (end, _) = read_all(&Url::parse(&format!("http://127.0.0.1:{port}/x")).unwrap());
        assert!(
            matches!(end, Some(End::Error(ref e)) if e.starts_with("connect:")),
            "{end:?}"
        );
    }

    #[test]
    fn a_stop_ends_a_blocked_read_at_once_without_a_verdict() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!(
            "http://127.0.0.1:{}/m",
            l.local_addr().unwrap().port()
        ))
        .unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            c.write_all(b"HTTP/1.0 200 OK\r\n\r\nabc").unwrap();
            // Then nothing, connection open (a stall).
            std::thread::sleep(Duration::from_secs(3));
        });
        let stopper = Stopper::default();
        let s2 = stopper.clone();
        let reader = std::thread::spawn(move || read(&url, Duration::from_secs(5), &s2, |_| true));
        std::thread::sleep(Duration::from_millis(300));
        let t = std::time::Instant::now();
        stopper.stop();
        assert_eq!(reader.join().unwrap(), None);
        assert!(
            t.elapsed() < Duration::from_millis(300),
            "{:?}",
            t.elapsed()
        );
        server.join().unwrap();
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Icecast source client: a plain, non-chunked HTTP `PUT` over a `TcpStream`
//! (`Content-Type: audio/aac`, basic auth; `shout2send` cannot send AAC), re-opened
//! whenever it drops. Runs on the output's writer thread.

use super::OutputStats;
use crate::url::Url;
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// Sends everything from `rx` to the mount, (re)connecting as needed, until the
/// channel is closed.
pub(crate) fn write_loop(
    url: &Url,
    content_type: &str,
    rx: Receiver<Vec<u8>>,
    stats: &OutputStats,
) {
    let mut conn: Option<TcpStream> = None;
    for data in rx {
        if conn.is_none() {
            match connect_source(url, content_type) {
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
                stats.wrote(data.len());
            }
        }
    }
    if let Some(s) = conn {
        let _ = s.shutdown(std::net::Shutdown::Both);
    }
    stats.connected.store(false, Ordering::Relaxed);
}

/// Opens a source connection: `PUT /mount` with basic auth, waits for `200 OK`.
pub(crate) fn connect_source(url: &Url, content_type: &str) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect((url.host.as_str(), url.port))?;
    s.set_nodelay(true)?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let auth = url.basic_auth().unwrap_or_default();
    let req = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: gst-failover-relay/{ver}\r\n\
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
pub(crate) fn parse_status(line: &str) -> Option<u16> {
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
}

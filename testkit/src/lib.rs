// SPDX-License-Identifier: MPL-2.0
//! What the test tools share: the plain HTTP/1.x exchanges with Icecast.

use gst_failover_relay::url;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Reads a response head: the status line must say 200; the header lines are
/// skipped, so `r` is left at the body.
pub fn expect_ok_head(r: &mut impl BufRead) -> Result<(), String> {
    let mut status = String::new();
    r.read_line(&mut status).map_err(|e| e.to_string())?;
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("server answered '{}'", status.trim()));
    }
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 || line.trim().is_empty() {
            return Ok(());
        }
    }
}

/// `GET` a mount as a listener (HTTP/1.0, no ICY metadata) with this read timeout;
/// returns the stream positioned at the body.
pub fn get_mount(
    u: &url::Url,
    agent: &str,
    read_timeout: Duration,
) -> Result<BufReader<TcpStream>, String> {
    let mut s = TcpStream::connect((u.host.as_str(), u.port)).map_err(|e| e.to_string())?;
    let req = format!(
        "GET {} HTTP/1.0\r\nHost: {}:{}\r\nUser-Agent: {agent}\r\nIcy-MetaData: 0\r\n\r\n",
        u.path, u.host, u.port
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(read_timeout))
        .map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    expect_ok_head(&mut r)?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_200_head_is_skipped_to_the_body_and_others_are_refused() {
        let mut ok: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: audio/aac\r\n\r\nBODY";
        expect_ok_head(&mut ok).unwrap();
        assert_eq!(ok, b"BODY");
        let mut gone: &[u8] = b"HTTP/1.0 404 File Not Found\r\n\r\n";
        assert_eq!(
            expect_ok_head(&mut gone).unwrap_err(),
            "server answered 'HTTP/1.0 404 File Not Found'"
        );
    }
}

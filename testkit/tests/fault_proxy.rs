// SPDX-License-Identifier: MPL-2.0
//! `fault-proxy` between a local TCP server and a client: every mode does to the
//! bytes what it says, and every change is logged with a wall-clock timestamp.
//!
//! The server sends an endless (or sized) counting pattern, so the client checks
//! that nothing is lost, duplicated or reordered through any mode.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Byte `i` of the pattern.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// A server on 127.0.0.1: each client sends `SEND n\n` and gets `n` bytes of the
/// pattern (0: without end), then the server closes.
fn server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            thread::spawn(move || {
                let mut line = String::new();
                let mut r = BufReader::new(s.try_clone().unwrap());
                if r.read_line(&mut line).is_err() {
                    return;
                }
                let n: u64 = line
                    .trim()
                    .strip_prefix("SEND ")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut s = s;
                let mut i = 0u64;
                let mut buf = vec![0u8; 4096];
                while n == 0 || i < n {
                    let len = if n == 0 {
                        buf.len() as u64
                    } else {
                        (n - i).min(buf.len() as u64)
                    };
                    for (k, b) in buf[..len as usize].iter_mut().enumerate() {
                        *b = pattern(i + k as u64);
                    }
                    if s.write_all(&buf[..len as usize]).is_err() {
                        return;
                    }
                    i += len;
                }
            });
        }
    });
    addr
}

struct Proxy {
    child: Child,
    listen: SocketAddr,
    control: TcpStream,
    control_reader: BufReader<TcpStream>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fault-proxy"))
            .args(["--upstream", &upstream.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("fault-proxy runs");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let field = |k: &str| -> SocketAddr {
            first
                .split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .unwrap_or_else(|| panic!("{k} in {first:?}"))
                .parse()
                .unwrap()
        };
        let listen = field("listen=");
        let control = TcpStream::connect(field("control=")).unwrap();
        control
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let log = Arc::new(Mutex::new(vec![first.trim_end().to_string()]));
        let l = log.clone();
        thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        Proxy {
            child,
            listen,
            control_reader: BufReader::new(control.try_clone().unwrap()),
            control,
            log,
        }
    }

    fn cmd(&mut self, c: &str) -> String {
        writeln!(self.control, "{c}").unwrap();
        let mut reply = String::new();
        self.control_reader.read_line(&mut reply).unwrap();
        reply.trim_end().to_string()
    }

    /// A client that asked for `n` bytes (0: endless).
    fn client(&self, n: u64) -> Client {
        let mut s = TcpStream::connect(self.listen).unwrap();
        writeln!(s, "SEND {n}").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Client { s, next: 0 }
    }

    /// Log lines containing `what` (after the timestamp).
    fn logged(&self, what: &str) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(what))
            .cloned()
            .collect()
    }

    /// Waits up to 5 s for a log line containing `what`.
    fn wait_log(&self, what: &str) -> String {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(l) = self.logged(what).pop() {
                return l;
            }
            assert!(
                Instant::now() < until,
                "no log line with {what:?} in:\n{}",
                self.log.lock().unwrap().join("\n")
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client {
    s: TcpStream,
    /// Index of the next pattern byte expected.
    next: u64,
}

#[derive(Debug, PartialEq)]
enum Read1 {
    Bytes(usize),
    Quiet,
    Eof,
    Error(ErrorKind),
}

impl Client {
    /// One read (100 ms timeout); checks the bytes continue the pattern.
    fn read(&mut self) -> Read1 {
        let mut buf = [0u8; 8192];
        match self.s.read(&mut buf) {
            Ok(0) => Read1::Eof,
            Ok(n) => {
                for &b in &buf[..n] {
                    assert_eq!(
                        b,
                        pattern(self.next),
                        "byte {} lost or reordered",
                        self.next
                    );
                    self.next += 1;
                }
                Read1::Bytes(n)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Read1::Quiet
            }
            Err(e) => Read1::Error(e.kind()),
        }
    }

    /// Reads for `d`; returns (arrival time, bytes) of every read.
    fn read_for(&mut self, d: Duration) -> Vec<(Instant, usize)> {
        let until = Instant::now() + d;
        let mut reads = Vec::new();
        while Instant::now() < until {
            match self.read() {
                Read1::Bytes(n) => reads.push((Instant::now(), n)),
                Read1::Quiet => {}
                other => panic!("connection ended: {other:?}"),
            }
        }
        reads
    }

    /// Reads until the server's end of the stream (5 s at most).
    fn read_to_end(&mut self) {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            match self.read() {
                Read1::Bytes(_) | Read1::Quiet => {}
                Read1::Eof => return,
                other => panic!("{other:?}"),
            }
            assert!(Instant::now() < until, "no end of stream");
        }
    }

    /// Reads until 300 ms pass without data (what was in flight), at most 5 s.
    fn drain(&mut self) {
        let until = Instant::now() + Duration::from_secs(5);
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < Duration::from_millis(300) {
            assert!(Instant::now() < until, "data never stopped");
            match self.read() {
                Read1::Bytes(_) => quiet_since = Instant::now(),
                Read1::Quiet => {}
                other => panic!("connection ended: {other:?}"),
            }
        }
    }
}

#[test]
fn pass_forwards_both_ways_and_logs_with_timestamps() {
    let mut p = Proxy::start(server());
    assert_eq!(p.cmd("status"), "ok mode=pass link=pass connections=0");
    let mut c = p.client(1_000_000);
    c.read_to_end();
    assert_eq!(c.next, 1_000_000);
    // The server closed; its end was passed on (half-close). Once the client closes
    // too, the connection is over.
    assert!(p.logged("close 1 ").is_empty());
    drop(c);
    let close = p.wait_log("close 1 ");
    // the client's request went up, the whole pattern came down
    assert!(close.contains("down=1000000 up=13"), "{close}");
    for line in p.log.lock().unwrap().iter() {
        let (ts, _) = line.split_once(' ').unwrap();
        let (secs, ms) = ts.split_once('.').unwrap();
        assert!(secs.len() >= 10 && ms.len() == 3, "timestamp of {line:?}");
        assert!(secs.parse::<u64>().is_ok() && ms.parse::<u16>().is_ok());
    }
    assert_eq!(p.logged("open 1 client=127.0.0.1:").len(), 1);
    assert!(p.cmd("throttle nope").starts_with("error throttle:"));
}

#[test]
fn throttle_is_smooth_and_within_twenty_percent() {
    let mut p = Proxy::start(server());
    assert_eq!(p.cmd("throttle 4000"), "ok mode throttle 4000");
    let mut c = p.client(0);
    // Settle for half a second, then measure four seconds.
    c.read_for(Duration::from_millis(500));
    let start = Instant::now();
    let reads = c.read_for(Duration::from_secs(4));
    let elapsed = start.elapsed().as_secs_f64();
    let total: usize = reads.iter().map(|r| r.1).sum();
    let rate = total as f64 / elapsed;
    assert!((3200.0..=4800.0).contains(&rate), "{rate:.0} B/s");
    // Smooth: no 250 ms with more than twice the rate, and no long pause (400 ms
    // allows for a starved reader on a busy machine; the bucket itself never waits
    // more than 20 ms).
    let mut last = start;
    for (i, (t, _)) in reads.iter().enumerate() {
        assert!(
            t.duration_since(last) < Duration::from_millis(400),
            "pause of {:?}",
            t.duration_since(last)
        );
        last = *t;
        let window: usize = reads[i..]
            .iter()
            .take_while(|r| r.0.duration_since(*t) < Duration::from_millis(250))
            .map(|r| r.1)
            .sum();
        assert!(window <= 2000, "{window} bytes in 250 ms");
    }
    // Back to pass: full speed at once.
    p.cmd("pass");
    let reads = c.read_for(Duration::from_millis(500));
    let total: usize = reads.iter().map(|r| r.1).sum();
    assert!(total > 100_000, "{total} bytes in 500 ms after pass");
}

#[test]
fn reset_is_seen_as_econnreset() {
    let mut p = Proxy::start(server());
    let mut c = p.client(0);
    c.read_for(Duration::from_millis(200));
    assert_eq!(p.cmd("reset"), "ok reset 1");
    let until = Instant::now() + Duration::from_secs(5);
    let end = loop {
        match c.read() {
            Read1::Bytes(_) | Read1::Quiet => {}
            other => break other,
        }
        assert!(Instant::now() < until, "connection not reset");
    };
    assert_eq!(end, Read1::Error(ErrorKind::ConnectionReset));
    p.wait_log("close 1 reason=reset");
    assert_eq!(p.logged("action reset connections=1").len(), 1);
}

#[test]
fn blackhole_forwards_nothing_while_the_connection_stays_open() {
    let mut p = Proxy::start(server());
    let mut c = p.client(0);
    c.read_for(Duration::from_millis(200));
    assert_eq!(p.cmd("blackhole"), "ok mode blackhole");
    c.drain();
    // A second of nothing: reads time out, the connection neither ends nor fails.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(1) {
        assert_eq!(c.read(), Read1::Quiet);
    }
    assert_eq!(
        p.cmd("status"),
        "ok mode=blackhole link=blackhole connections=1"
    );
    // Back to pass: the data continues where it stopped (nothing lost).
    let before = c.next;
    p.cmd("pass");
    let reads = c.read_for(Duration::from_millis(300));
    assert!(!reads.is_empty() && c.next > before);
    assert!(p.logged("close").is_empty());
}

#[test]
fn drop_closes_normally_and_refuse_refuses() {
    let mut p = Proxy::start(server());
    let mut c = p.client(0);
    c.read_for(Duration::from_millis(100));
    assert_eq!(p.cmd("drop"), "ok dropped 1");
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match c.read() {
            Read1::Bytes(_) | Read1::Quiet => {}
            Read1::Eof => break,
            other => panic!("drop must close normally: {other:?}"),
        }
        assert!(Instant::now() < until, "not dropped");
    }
    p.wait_log("close 1 reason=drop");
    assert_eq!(p.cmd("refuse"), "ok mode refuse");
    p.wait_log("refusing new connections");
    // Accepted and reset at once: the first read fails.
    let mut s = TcpStream::connect(p.listen).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let err = s.read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    p.wait_log("refused client=127.0.0.1:");
    p.cmd("pass");
    p.wait_log("accepting new connections");
    let mut c = p.client(1000);
    c.read_to_end();
    assert_eq!(c.next, 1000);
}

#[test]
fn stall_and_flap_follow_their_time_plan() {
    let mut p = Proxy::start(server());
    let mut c = p.client(0);
    c.read_for(Duration::from_millis(100));
    p.cmd("stall 1");
    c.drain();
    let quiet = Instant::now();
    // Data again by itself, about a second after the stall began.
    let until = Instant::now() + Duration::from_secs(5);
    while c.read() == Read1::Quiet {
        assert!(Instant::now() < until, "stall never ended");
    }
    let stalled = quiet.elapsed();
    assert!(stalled < Duration::from_millis(1500), "{stalled:?}");
    p.wait_log("link pass (stall over)");

    // 200 ms off every 600 ms.
    p.cmd("flap 0.2 0.6");
    thread::sleep(Duration::from_millis(1300));
    p.cmd("pass");
    let flap: Vec<String> = p
        .logged("(flap cycle")
        .iter()
        .map(|l| l.split_once(' ').unwrap().1.to_string())
        .collect();
    assert_eq!(
        flap[..5],
        [
            "link blackhole (flap cycle 0)",
            "link pass (flap cycle 0)",
            "link blackhole (flap cycle 1)",
            "link pass (flap cycle 1)",
            "link blackhole (flap cycle 2)",
        ]
    );
    // Jitter keeps the order (the pattern check) and everything arrives.
    p.cmd("jitter 50");
    let reads = c.read_for(Duration::from_millis(500));
    assert!(!reads.is_empty());
}

/// The shell helpers of the e2e scripts (`scripts/icecast/faults.sh`) start the
/// proxy, command it and read the time of a fault from its log.
#[test]
fn shell_helpers_start_command_and_time_the_proxy() {
    let upstream = server();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/icecast/faults.sh");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            r#"set -e
            . "{script}"
            fp_start up {port}
            exec 3<>"/dev/tcp/127.0.0.1/${{FP_PORT[up]}}"
            echo "SEND 0" >&3
            fp_cmd up throttle 4000
            t=$(fp_when up 'mode throttle 4000')
            fp_cmd up bogus || echo "refused bogus"
            fp_wait up 'open 1 ' >/dev/null
            fp_cmd up status
            echo "url $(fp_url up /station.aac)"
            echo "fault at $t"
            fp_stop_all
            exec 3>&-
            "#,
            port = upstream.port()
        ))
        .env("FP_BIN", env!("CARGO_BIN_EXE_fault-proxy"))
        .env_remove("H_WORK")
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ok mode throttle 4000");
    assert!(lines[1].starts_with("error unknown command"), "{text}");
    assert_eq!(lines[2], "refused bogus");
    assert_eq!(
        lines[3],
        "ok mode=throttle_4000 link=throttle_4000 connections=1"
    );
    assert!(
        lines[4].starts_with("url http://127.0.0.1:") && lines[4].ends_with("/station.aac"),
        "{text}"
    );
    let t: f64 = lines[5].strip_prefix("fault at ").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(now - t < 30.0 && now >= t, "{t} vs {now}");
}

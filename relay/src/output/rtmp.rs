// SPDX-License-Identifier: MPL-2.0
//! `rtmp://` outputs. The A/V station's pipeline ends in `flvmux streamable=true !
//! appsink` (see `av`); the FLV tags go through the output's channel to its writer
//! thread, which publishes them with a pipeline of its own, `appsrc ! rtmp2sink`.
//! When the server goes away (restarted, the connection dropped or stalled) only
//! that small pipeline fails: the writer tears it down and builds it again with
//! backoff, while the station's pipeline (inputs, switches, their state) goes on as
//! if nothing happened. Each new publish starts with the metadata, the codec data
//! and a keyframe ([`flv::Publish`]).

use super::OutputStats;
use super::flv::{self, Kind, Publish};
use gst::prelude::*;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How often the writer looks at its connection when no data comes.
const TICK: Duration = Duration::from_millis(100);
/// A connection that published this long was a good one: the backoff starts over.
const STABLE: Duration = Duration::from_secs(5);
/// A connection that has not taken its data for this long (the server accepts but
/// does not read) is given up.
const STALL: Duration = Duration::from_secs(10);
/// Data queued in front of `rtmp2sink` beyond which the connection counts as
/// stalled (not reading).
const STALL_BYTES: u64 = 256 * 1024;

/// `rtmp://` or `rtmps://`.
pub(crate) fn is_rtmp(url: &str) -> bool {
    let l = url.to_ascii_lowercase();
    l.starts_with("rtmp://") || l.starts_with("rtmps://")
}

/// Waits between connection attempts: `first`, doubled after each failure up to
/// `max`; back to `first` after a connection that published for [`STABLE`].
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Backoff {
        let first = first.max(Duration::from_millis(10));
        let max = max.max(first);
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// A connection failed after publishing for `published` (`None`: it never
    /// published): how long to wait before the next attempt.
    pub(crate) fn failed(&mut self, published: Option<Duration>) -> Duration {
        if published.is_some_and(|d| d >= STABLE) {
            self.next = self.first;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }
}

/// Data piling up in front of `rtmp2sink`: more than [`STALL_BYTES`] queued
/// without a break for [`STALL`] is a connection that does not take its data.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    since: Option<Instant>,
}

impl Backlog {
    /// `queued` bytes wait for the sink at `now`: is the connection stalled?
    pub(crate) fn stalled(&mut self, queued: u64, now: Instant) -> bool {
        if queued <= STALL_BYTES {
            self.since = None;
            return false;
        }
        let since = *self.since.get_or_insert(now);
        now.duration_since(since) >= STALL
    }
}

/// Where and how an RTMP output publishes.
#[derive(Debug, Clone)]
pub struct RtmpTarget {
    pub url: String,
    pub reconnect_delay: Duration,
    pub reconnect_max: Duration,
}

/// One connection: `appsrc ! rtmp2sink location=URL`.
struct Connection {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    /// When its publish started (its first keyframe went out).
    published: Option<Instant>,
    backlog: Backlog,
}

impl Connection {
    fn open(url: &str) -> Result<Connection, String> {
        let src = gst_app::AppSrc::builder()
            .name("src")
            .caps(&gst::Caps::builder("video/x-flv").build())
            .is_live(true)
            .format(gst::Format::Time)
            .block(false)
            .max_bytes(0)
            .build();
        let sink = gst::ElementFactory::make("rtmp2sink")
            .name("sink")
            .property("location", url)
            .property("sync", false)
            .property("async", false)
            .build()
            .map_err(|e| format!("no rtmp2sink: {e}"))?;
        let pipeline = gst::Pipeline::with_name("relay-output");
        pipeline
            .add_many([src.upcast_ref(), &sink])
            .map_err(|e| e.to_string())?;
        src.link(&sink).map_err(|e| e.to_string())?;
        let conn = Connection {
            pipeline,
            src,
            published: None,
            backlog: Backlog::default(),
        };
        conn.pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("cannot start the output: {e}"))?;
        Ok(conn)
    }

    fn push(&self, tag: Vec<u8>) -> bool {
        self.src
            .push_buffer(gst::Buffer::from_mut_slice(tag))
            .is_ok()
    }

    /// Why this connection is over, if it is.
    fn failed(&mut self, now: Instant) -> Option<String> {
        // Every message is taken off the bus (nothing else watches it).
        if let Some(bus) = self.pipeline.bus() {
            while let Some(msg) = bus.pop() {
                match msg.view() {
                    gst::MessageView::Error(e) => return Some(e.error().to_string()),
                    gst::MessageView::Eos(_) => return Some("the connection ended".into()),
                    _ => {}
                }
            }
        }
        self.backlog
            .stalled(self.src.current_level_bytes(), now)
            .then(|| format!("the server has not taken data for {} s", STALL.as_secs()))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Publishes everything from `rx` to `target`, (re)connecting with backoff, until
/// the channel is closed. A new FLV stream (a file header after the first: the
/// station was restarted on this output) is published on a new connection.
pub(crate) fn write_loop(target: &RtmpTarget, rx: Receiver<Vec<u8>>, stats: &OutputStats) {
    let url = &target.url;
    let shown = crate::secrets::redact_url(url);
    let mut backoff = Backoff::new(target.reconnect_delay, target.reconnect_max);
    let mut publish = Publish::default();
    let mut conn: Option<Connection> = None;
    let mut retry_at = Instant::now();
    let mut seen_header = false;
    loop {
        let data = match rx.recv_timeout(TICK) {
            Ok(d) => Some(d),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let now = Instant::now();
        let mut new_stream = false;
        if let Some(d) = &data {
            if flv::classify(d) == Kind::FileHeader {
                new_stream = seen_header;
                seen_header = true;
            }
        }
        let failure = match conn.as_mut() {
            Some(_) if new_stream => Some((String::new(), Duration::ZERO)),
            Some(c) => c.failed(now).map(|why| {
                let published = c.published.map(|t| now.duration_since(t));
                let why = match published {
                    Some(_) => format!("lost ({why})"),
                    None => format!("not published ({why})"),
                };
                (why, backoff.failed(published))
            }),
            None => None,
        };
        if let Some((why, wait)) = failure {
            conn = None;
            stats.connected.store(false, Ordering::Relaxed);
            retry_at = now + wait;
            if !why.is_empty() {
                eprintln!(
                    "\nrelay: output {shown} {why}; reconnecting in {:.1} s",
                    wait.as_secs_f64()
                );
            }
        }
        if conn.is_none() && now >= retry_at {
            match Connection::open(url) {
                Ok(c) => {
                    conn = Some(c);
                    publish.restart();
                }
                Err(e) => {
                    let wait = backoff.failed(None);
                    retry_at = now + wait;
                    eprintln!(
                        "\nrelay: output {shown}: {e}; retrying in {:.1} s",
                        wait.as_secs_f64()
                    );
                }
            }
        }
        let Some(d) = data else {
            continue;
        };
        let was_started = publish.started();
        let out = publish.feed(&d);
        // Media that does not go out (no connection, or a new one waiting for its
        // keyframe) counts as dropped; headers are kept for the next publish.
        let media = !matches!(
            flv::classify(&d),
            Kind::FileHeader | Kind::Metadata | Kind::AudioConfig | Kind::VideoConfig
        );
        if media && (conn.is_none() || out.is_empty()) {
            stats.dropped_buffers.fetch_add(1, Ordering::Relaxed);
        }
        let Some(c) = conn.as_mut() else {
            continue;
        };
        let mut n = 0;
        for tag in out {
            let len = tag.len();
            if c.push(tag) {
                n += len;
            }
        }
        if n > 0 {
            stats.wrote(n);
        }
        if !was_started && publish.started() {
            c.published = Some(now);
            let count = stats.connects.fetch_add(1, Ordering::Relaxed) + 1;
            stats.connected.store(true, Ordering::Relaxed);
            if count > 1 {
                eprintln!("\nrelay: output {shown}: publishing again (connection {count})");
            }
        }
    }
    drop(conn);
    stats.connected.store(false, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_urls() {
        assert!(is_rtmp("rtmp://h/live/out"));
        assert!(is_rtmp("RTMPS://h/live/out"));
        assert!(!is_rtmp("icecast://s:p@h:1/x"));
    }

    #[test]
    fn a_connection_is_stalled_only_after_a_backlog_that_does_not_clear() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut b = Backlog::default();
        assert!(!b.stalled(0, t0));
        // A burst (a keyframe, a slow moment) that clears is no stall.
        assert!(!b.stalled(STALL_BYTES + 1, t0));
        assert!(!b.stalled(STALL_BYTES + 1, t0 + s(9)));
        assert!(!b.stalled(1000, t0 + s(9)));
        assert!(!b.stalled(STALL_BYTES + 1, t0 + s(12)));
        assert!(!b.stalled(STALL_BYTES + 1, t0 + s(21)));
        // A backlog that has not cleared for STALL is one.
        assert!(b.stalled(STALL_BYTES + 1, t0 + s(22)));
    }

    #[test]
    fn backoff_doubles_to_its_bound_and_starts_over_after_a_good_connection() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(500), ms(2000));
        // A server that is not up yet: 0.5, 1, 2, 2 s.
        let waits: Vec<_> = (0..4).map(|_| b.failed(None)).collect();
        assert_eq!(waits, [ms(500), ms(1000), ms(2000), ms(2000)]);
        // A connection that published briefly does not reset it.
        assert_eq!(b.failed(Some(ms(1000))), ms(2000));
        // One that published for a while does: the next outage is retried soon.
        assert_eq!(b.failed(Some(STABLE)), ms(500));
        assert_eq!(b.failed(None), ms(1000));
        // Nonsense settings still wait a little and never less than the first.
        let mut z = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(z.failed(None), ms(10));
        assert_eq!(z.failed(None), ms(10));
    }
}

// SPDX-License-Identifier: MPL-2.0
//! A station's output. The pipeline ends in an `appsink`; its buffers go through a
//! bounded channel to a writer thread, so a slow or restarting server never blocks
//! the pipeline. Output kinds (the [`Target`]s):
//! - `icecast://source:PASSWORD@host:port/mount`: an Icecast source client
//!   ([`icecast`]);
//! - `-`: the stream on stdout.
//!
//! - `rtmp://host/app/stream` ([`rtmp`]): an A/V station's FLV (`flvmux ! appsink`,
//!   see `av`) published by the writer thread's own `appsrc ! rtmp2sink`, rebuilt
//!   with backoff when the server goes away, each publish starting with the
//!   headers and a keyframe ([`flv`]).
//!
//! [`keepalive`] keeps an encoded output's connection busy while no input is healthy.

pub(crate) mod flv;
pub(crate) mod icecast;
pub(crate) mod keepalive;
pub(crate) mod rtmp;

use crate::url::Url;
use gst::prelude::*;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Counters shared with the status line.
#[derive(Default)]
pub struct OutputStats {
    pub bytes_sent: AtomicU64,
    /// When data was last written (ms since the Unix epoch; 0: never).
    pub last_write_ms: AtomicU64,
    pub connects: AtomicU64,
    pub dropped_buffers: AtomicU64,
    pub connected: AtomicBool,
}

impl OutputStats {
    /// `n` bytes were written, now.
    pub(crate) fn wrote(&self, n: usize) {
        self.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
        let ms = (crate::logs::epoch() * 1000.0) as u64;
        self.last_write_ms.store(ms, Ordering::Relaxed);
    }

    /// Seconds since data was last written, at `now` (epoch seconds); `None`: never.
    pub fn idle_s(&self, now: f64) -> Option<f64> {
        match self.last_write_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some((now - ms as f64 / 1000.0).max(0.0)),
        }
    }
}

/// Where the bytes go.
#[derive(Debug, Clone)]
pub enum Target {
    Icecast {
        url: Url,
        content_type: String,
    },
    Stdout,
    /// Published by the writer's own `rtmp2sink`.
    Rtmp(rtmp::RtmpTarget),
}

impl Target {
    /// An RTMP output reconnects like the station's inputs: `delay` first, doubling
    /// up to `max`.
    pub fn with_backoff(self, delay: std::time::Duration, max: std::time::Duration) -> Target {
        match self {
            Target::Rtmp(t) => Target::Rtmp(rtmp::RtmpTarget {
                reconnect_delay: delay,
                reconnect_max: max,
                ..t
            }),
            t => t,
        }
    }

    pub fn parse(s: &str, content_type: &str) -> Result<Target, String> {
        if s == "-" {
            return Ok(Target::Stdout);
        }
        if rtmp::is_rtmp(s) {
            return Ok(Target::Rtmp(rtmp::RtmpTarget {
                url: s.to_string(),
                reconnect_delay: std::time::Duration::from_millis(500),
                reconnect_max: std::time::Duration::from_secs(2),
            }));
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

/// The writer thread and the channel to it.
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

impl Output {
    /// Starts the writer thread. `queue` buffers are kept while (re)connecting.
    pub fn start(target: Target, queue: usize) -> Output {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(queue);
        let stats = Arc::new(OutputStats::default());
        let st = stats.clone();
        let thread = std::thread::Builder::new()
            .name("relay-output".into())
            .spawn(move || write_loop(target, rx, st))
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

    /// Feeds every buffer that reaches `appsink` (emit-signals=true) to the writer.
    pub fn attach(&self, appsink: &gst::Element) {
        let out = self.handle();
        appsink.connect("new-sample", false, move |vals| {
            let sink = vals.first()?.get::<gst::Element>().ok()?;
            if let Some(sample) = sink.emit_by_name::<Option<gst::Sample>>("pull-sample", &[]) {
                if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
                    out.push(map.to_vec());
                }
            }
            Some(gst::FlowReturn::Ok.to_value())
        });
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

fn write_loop(target: Target, rx: Receiver<Vec<u8>>, stats: Arc<OutputStats>) {
    match target {
        Target::Stdout => {
            let mut out = io::stdout().lock();
            stats.connected.store(true, Ordering::Relaxed);
            for data in rx {
                if out.write_all(&data).and_then(|_| out.flush()).is_err() {
                    break;
                }
                stats.wrote(data.len());
            }
        }
        Target::Icecast { url, content_type } => {
            icecast::write_loop(&url, &content_type, rx, &stats);
        }
        Target::Rtmp(t) => rtmp::write_loop(&t, rx, &stats),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_closed_or_full_output_drops_and_counts() {
        // A writer that never connects (nothing listens on port 1) keeps at most
        // `queue` buffers; the rest are dropped without blocking the caller.
        let target = Target::parse("icecast://source:pw@127.0.0.1:1/x.aac", "audio/aac").unwrap();
        let out = Output::start(target, 2);
        let h = out.handle();
        for _ in 0..50 {
            h.push(vec![0u8; 10]);
        }
        assert!(out.stats.dropped_buffers.load(Ordering::Relaxed) >= 40);
        let stats = out.stats.clone();
        out.finish();
        assert_eq!(stats.bytes_sent.load(Ordering::Relaxed), 0);
        // After finish, pushes are dropped too.
        let before = stats.dropped_buffers.load(Ordering::Relaxed);
        h.push(vec![1]);
        assert_eq!(stats.dropped_buffers.load(Ordering::Relaxed), before + 1);
    }
}

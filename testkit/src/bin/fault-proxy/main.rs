// SPDX-License-Identifier: MPL-2.0
//! `fault-proxy`: a TCP proxy on 127.0.0.1 for fault tests. It forwards every
//! connection made to `--listen` to `--upstream` (an Icecast server, say), and
//! its fault mode can be changed while it runs through a control port that takes
//! one command per line (see `command.rs`: `pass`, `blackhole`, `throttle N`,
//! `jitter MS`, `flap OFF EVERY [MODE]`, `stall SECS`, `refuse`, `drop`, `reset`,
//! `status`, `quit`).
//!
//! ```text
//! fault-proxy --listen 127.0.0.1:0 --upstream 127.0.0.1:8000 --log proxy.log
//! exec 3<>/dev/tcp/127.0.0.1/$CONTROL; echo "throttle 4000" >&3; read -r reply <&3
//! ```
//!
//! Every line it logs (stdout and `--log`) starts with the wall-clock time in epoch
//! seconds with milliseconds, so tests can measure from the fault:
//!
//! ```text
//! 1712345678.123 start listen=127.0.0.1:41234 upstream=127.0.0.1:8000 control=127.0.0.1:41235
//! 1712345679.001 open 1 client=127.0.0.1:50122
//! 1712345680.500 mode throttle 4000
//! 1712345680.500 link throttle 4000
//! 1712345690.020 close 1 reason=client-eof down=81234 up=145
//! ```
//! `mode` lines are the commands; `link` lines are what the link does from then on
//! (a flap or a stall logs one at each change); `action` lines are drops and resets.
//!
//! Std only: a thread accepts, and each connection has a reader and a writer
//! thread per direction (a writer applies the mode: pauses, jitter, the shared
//! token bucket of its direction, the "link").

mod bucket;
mod command;
mod link;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bucket::TokenBucket;
use command::{Command, Mode};
use link::{Edge, Link, Phase, edge, link_at};

const USAGE: &str = "\
fault-proxy --upstream HOST:PORT [--listen HOST:PORT] [--control HOST:PORT]
            [--log FILE] [--mode COMMAND]
  --listen   where clients connect (default 127.0.0.1:0: a free port)
  --control  where commands are read, one per line (default 127.0.0.1:0)
  --log      also append the log to FILE
  --mode     initial mode, e.g. \"throttle 4000\" (default pass)
The first line logged says which ports were taken.
";

/// Socket operations time out this often so that threads notice a kill.
const POLL: Duration = Duration::from_millis(50);
/// Read size; also the largest chunk a writer handles at once.
const CHUNK: usize = 16 * 1024;
/// Chunks in flight between a reader and its writer.
const IN_FLIGHT: usize = 8;

/// Kill state of a connection.
const ALIVE: u8 = 0;
const KILL_DROP: u8 = 1;
const KILL_RESET: u8 = 2;
const KILL_ERROR: u8 = 3;

fn epoch_ms() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

struct Logger {
    file: Option<Mutex<File>>,
}

impl Logger {
    fn log(&self, msg: &str) {
        let line = format!("{} {msg}\n", epoch_ms());
        {
            let mut out = io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
        if let Some(f) = &self.file {
            let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
            let _ = f.write_all(line.as_bytes());
            let _ = f.flush();
        }
    }
}

/// One proxied connection, as seen by the control side.
struct Conn {
    client: TcpStream,
    upstream: TcpStream,
    kill: Arc<AtomicU8>,
}

struct ModeState {
    mode: Mode,
    since: Instant,
    /// Phase and description last logged.
    phase: Option<Phase>,
    described: String,
}

struct Shared {
    state: Mutex<ModeState>,
    conns: Mutex<HashMap<u64, Conn>>,
    /// Token buckets of the two directions: [to the client, to the upstream].
    buckets: [Mutex<Option<TokenBucket>>; 2],
    log: Logger,
    epoch: Instant,
    next_id: AtomicU64,
    upstream: SocketAddr,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// What the link does now.
    fn link(&self) -> Link {
        lock(&self.state).link_now().0
    }

    /// Re-evaluates the time plan: logs link changes and runs flap actions.
    fn tick(&self) {
        let action = {
            let mut st = lock(&self.state);
            let (link, phase) = st.link_now();
            let desc = link.describe();
            let before = st.phase;
            if before != Some(phase) || desc != st.described {
                let what = match st.mode {
                    Mode::Flap { .. } => format!(" (flap cycle {})", phase.cycle),
                    Mode::Stall(_) if !phase.off => " (stall over)".to_string(),
                    _ => String::new(),
                };
                self.log.log(&format!("link {desc}{what}"));
                st.described = desc;
            }
            st.phase = Some(phase);
            edge(&st.mode, before, phase)
        };
        match action {
            Some(Edge::Drop) => {
                self.kill_all(KILL_DROP);
            }
            Some(Edge::Reset) => {
                self.kill_all(KILL_RESET);
            }
            None => {}
        }
    }

    fn set_mode(&self, mode: Mode) {
        {
            let mut st = lock(&self.state);
            st.mode = mode;
            st.since = Instant::now();
            st.phase = None;
            self.log.log(&format!("mode {}", mode.describe()));
        }
        self.tick();
    }

    /// Closes every connection: `KILL_DROP` normally (FIN), `KILL_RESET` with a RST.
    fn kill_all(&self, how: u8) -> usize {
        let conns = lock(&self.conns);
        for (id, c) in conns.iter() {
            // The reason first: a thread that sees the socket fail must find it.
            if c.kill
                .compare_exchange(ALIVE, how, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                continue;
            }
            if how == KILL_RESET {
                // The RST goes out when the last descriptor closes (the threads
                // let go of theirs within one poll).
                for s in [&c.client, &c.upstream] {
                    if let Err(e) = sys::linger_zero(s) {
                        self.log.log(&format!("conn {id}: SO_LINGER: {e}"));
                    }
                }
            } else {
                let _ = c.client.shutdown(Shutdown::Both);
                let _ = c.upstream.shutdown(Shutdown::Both);
            }
        }
        let n = conns.len();
        drop(conns);
        let name = if how == KILL_RESET { "reset" } else { "drop" };
        self.log.log(&format!("action {name} connections={n}"));
        n
    }

    fn status(&self) -> String {
        let st = lock(&self.state);
        let (link, _) = st.link_now();
        format!(
            "mode={} link={} connections={}",
            st.mode.describe().replace(' ', "_"),
            link.describe().replace(' ', "_"),
            lock(&self.conns).len()
        )
    }
}

impl ModeState {
    fn link_now(&self) -> (Link, Phase) {
        link_at(&self.mode, self.since.elapsed())
    }
}

/// Raw socket option the standard library does not offer (SO_LINGER).
mod sys {
    use std::io;
    use std::net::TcpStream;
    use std::os::fd::AsRawFd;

    #[repr(C)]
    struct Linger {
        l_onoff: i32,
        l_linger: i32,
    }

    const SOL_SOCKET: i32 = 1;
    const SO_LINGER: i32 = 13;

    unsafe extern "C" {
        fn setsockopt(
            fd: i32,
            level: i32,
            name: i32,
            value: *const std::ffi::c_void,
            len: u32,
        ) -> i32;
    }

    /// SO_LINGER with a zero timeout: closing the socket sends a RST.
    pub fn linger_zero(s: &TcpStream) -> io::Result<()> {
        let l = Linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid descriptor, a pointer to a live `struct linger` and its
        // size; the kernel only reads it.
        let r = unsafe {
            setsockopt(
                s.as_raw_fd(),
                SOL_SOCKET,
                SO_LINGER,
                (&l as *const Linger).cast(),
                std::mem::size_of::<Linger>() as u32,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// A small xorshift generator for jitter (no cryptography needed).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng((t ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if n == 0 { 0 } else { self.0 % n }
    }
}

enum Chunk {
    Data(Vec<u8>, Instant),
    End,
}

/// Why a direction ended.
#[derive(Clone, Copy)]
enum End {
    Eof,
    Killed,
    Error,
}

fn killed(kill: &AtomicU8) -> bool {
    kill.load(Ordering::SeqCst) != ALIVE
}

fn reader(mut src: TcpStream, tx: SyncSender<Chunk>, kill: Arc<AtomicU8>) -> End {
    let mut buf = vec![0u8; CHUNK];
    loop {
        if killed(&kill) {
            return End::Killed;
        }
        match src.read(&mut buf) {
            Ok(0) => {
                let _ = tx.send(Chunk::End);
                return End::Eof;
            }
            Ok(n) => {
                if tx
                    .send(Chunk::Data(buf[..n].to_vec(), Instant::now()))
                    .is_err()
                {
                    return End::Killed;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                return if kill
                    .compare_exchange(ALIVE, KILL_ERROR, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    End::Error
                } else {
                    End::Killed
                };
            }
        }
    }
}

/// Sleeps up to `d`, in slices, unless the connection is killed meanwhile.
fn nap(d: Duration, kill: &AtomicU8) -> bool {
    let until = Instant::now() + d;
    loop {
        if killed(kill) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        thread::sleep((until - now).min(Duration::from_millis(10)));
    }
}

struct Writer {
    dst: TcpStream,
    shared: Arc<Shared>,
    dir: usize,
    kill: Arc<AtomicU8>,
    rng: Rng,
    /// Release time of the previous chunk under jitter (order is kept).
    release: Instant,
    bytes: Arc<AtomicU64>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Chunk>) -> End {
        loop {
            match rx.recv_timeout(POLL) {
                Ok(Chunk::Data(data, arrived)) => {
                    if let Err(end) = self.deliver(&data, arrived) {
                        return end;
                    }
                }
                Ok(Chunk::End) => {
                    let _ = self.dst.shutdown(Shutdown::Write);
                    return End::Eof;
                }
                Err(RecvTimeoutError::Timeout) => {
                    if killed(&self.kill) {
                        return End::Killed;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return End::Killed,
            }
        }
    }

    fn deliver(&mut self, data: &[u8], arrived: Instant) -> Result<(), End> {
        let mut off = 0;
        let mut jittered = false;
        while off < data.len() {
            if killed(&self.kill) {
                return Err(End::Killed);
            }
            let link = self.shared.link();
            if link.paused {
                nap(Duration::from_millis(5), &self.kill);
                continue;
            }
            if !jittered && link.jitter_ms > 0 {
                jittered = true;
                let delay = Duration::from_millis(self.rng.below(link.jitter_ms + 1));
                self.release = self.release.max(arrived + delay);
                let wait = self.release.saturating_duration_since(Instant::now());
                nap(wait, &self.kill);
                continue;
            }
            let piece = match link.rate {
                None => data.len() - off,
                Some(rate) => {
                    let now = self.shared.epoch.elapsed();
                    let mut b = lock(&self.shared.buckets[self.dir]);
                    let bucket = b.get_or_insert_with(|| TokenBucket::new(rate, now));
                    if bucket.rate() != rate {
                        *bucket = TokenBucket::new(rate, now);
                    }
                    let want = (data.len() - off).min(bucket.capacity());
                    let got = bucket.take(want, now);
                    if got == 0 {
                        let wait = bucket.wait(want, now).max(Duration::from_millis(1));
                        drop(b);
                        nap(wait, &self.kill);
                        continue;
                    }
                    got
                }
            };
            self.write_all(&data[off..off + piece])?;
            off += piece;
        }
        Ok(())
    }

    fn write_all(&mut self, mut buf: &[u8]) -> Result<(), End> {
        while !buf.is_empty() {
            if killed(&self.kill) {
                return Err(End::Killed);
            }
            match self.dst.write(buf) {
                Ok(0) => return Err(self.fail()),
                Ok(n) => {
                    buf = &buf[n..];
                    self.bytes.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(self.fail()),
            }
        }
        Ok(())
    }

    fn fail(&self) -> End {
        match self
            .kill
            .compare_exchange(ALIVE, KILL_ERROR, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => End::Error,
            Err(_) => End::Killed,
        }
    }
}

/// Runs one direction (reader and writer threads); returns how it ended.
fn pump(
    shared: &Arc<Shared>,
    src: TcpStream,
    dst: TcpStream,
    dir: usize,
    kill: &Arc<AtomicU8>,
    bytes: &Arc<AtomicU64>,
    seed: u64,
) -> thread::JoinHandle<(End, End)> {
    let (tx, rx) = sync_channel(IN_FLIGHT);
    let w = Writer {
        dst,
        shared: shared.clone(),
        dir,
        kill: kill.clone(),
        rng: Rng::new(seed),
        release: Instant::now(),
        bytes: bytes.clone(),
    };
    let k = kill.clone();
    thread::spawn(move || {
        let r = thread::spawn(move || reader(src, tx, k));
        let w_end = w.run(rx);
        let r_end = r.join().unwrap_or(End::Error);
        (r_end, w_end)
    })
}

fn prepare(s: &TcpStream) -> io::Result<()> {
    s.set_read_timeout(Some(POLL))?;
    s.set_write_timeout(Some(POLL))?;
    s.set_nodelay(true)
}

fn connection(shared: Arc<Shared>, client: TcpStream, peer: SocketAddr) {
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let upstream = match TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(5)) {
        Ok(u) => u,
        Err(e) => {
            shared.log.log(&format!(
                "open {id} client={peer} upstream-error=\"{e}\": closing"
            ));
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    };
    let kill = Arc::new(AtomicU8::new(ALIVE));
    let clones = (|| {
        prepare(&client)?;
        prepare(&upstream)?;
        Ok::<_, io::Error>((
            client.try_clone()?,
            client.try_clone()?,
            upstream.try_clone()?,
            upstream.try_clone()?,
        ))
    })();
    let (c_read, c_write, u_read, u_write) = match clones {
        Ok(c) => c,
        Err(e) => {
            shared
                .log
                .log(&format!("open {id} client={peer} error=\"{e}\""));
            return;
        }
    };
    lock(&shared.conns).insert(
        id,
        Conn {
            client,
            upstream,
            kill: kill.clone(),
        },
    );
    shared.log.log(&format!("open {id} client={peer}"));
    let down = Arc::new(AtomicU64::new(0));
    let up = Arc::new(AtomicU64::new(0));
    let d = pump(&shared, u_read, c_write, 0, &kill, &down, id * 2);
    let u = pump(&shared, c_read, u_write, 1, &kill, &up, id * 2 + 1);
    let (d_read, _) = d.join().unwrap_or((End::Error, End::Error));
    let (u_read, _) = u.join().unwrap_or((End::Error, End::Error));
    let reason = match kill.load(Ordering::SeqCst) {
        KILL_DROP => "drop",
        KILL_RESET => "reset",
        KILL_ERROR => "error",
        _ => match (d_read, u_read) {
            (End::Eof, End::Eof) => "eof",
            (End::Eof, _) => "upstream-eof",
            (_, End::Eof) => "client-eof",
            _ => "closed",
        },
    };
    // Last descriptors: closing them sends the FIN (or the RST after a reset).
    lock(&shared.conns).remove(&id);
    shared.log.log(&format!(
        "close {id} reason={reason} down={} up={}",
        down.load(Ordering::Relaxed),
        up.load(Ordering::Relaxed)
    ));
}

/// Accepts clients. While new connections are refused, each one is closed at once
/// with a RST (the client's first read or write fails with "connection reset"):
/// the listening socket stays open, so no other program can take its port.
fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut refusing = false;
    loop {
        let refuse = shared.link().refuse;
        if refuse != refusing {
            refusing = refuse;
            shared.log.log(if refuse {
                "refusing new connections"
            } else {
                "accepting new connections"
            });
        }
        match listener.accept() {
            Ok((s, peer)) if refuse => {
                if let Err(e) = sys::linger_zero(&s) {
                    shared.log.log(&format!("refused {peer}: SO_LINGER: {e}"));
                }
                shared.log.log(&format!("refused client={peer}"));
                drop(s);
            }
            Ok((s, peer)) => {
                let _ = s.set_nonblocking(false);
                let sh = shared.clone();
                thread::spawn(move || connection(sh, s, peer));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                shared.log.log(&format!("accept: {e}"));
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Serves one control connection: a reply line per command line.
fn control_client(shared: Arc<Shared>, s: TcpStream) {
    let Ok(mut out) = s.try_clone() else { return };
    for line in BufReader::new(s).lines() {
        let Ok(line) = line else { return };
        if line.trim().is_empty() {
            continue;
        }
        let reply = match command::parse(&line) {
            Ok(Command::Mode(m)) => {
                shared.set_mode(m);
                format!("ok mode {}", m.describe())
            }
            Ok(Command::Drop) => format!("ok dropped {}", shared.kill_all(KILL_DROP)),
            Ok(Command::Reset) => format!("ok reset {}", shared.kill_all(KILL_RESET)),
            Ok(Command::Status) => format!("ok {}", shared.status()),
            Ok(Command::Quit) => {
                shared.log.log("quit");
                let _ = writeln!(out, "ok quit");
                std::process::exit(0);
            }
            Err(e) => {
                shared.log.log(&format!("bad command {line:?}: {e}"));
                format!("error {e}")
            }
        };
        if writeln!(out, "{reply}").is_err() {
            return;
        }
    }
}

struct Args {
    listen: SocketAddr,
    upstream: SocketAddr,
    control: SocketAddr,
    log: Option<String>,
    mode: Mode,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = "127.0.0.1:0".to_string();
    let mut control = "127.0.0.1:0".to_string();
    let mut upstream = None;
    let mut log = None;
    let mut mode = Mode::Pass;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--listen" => listen = value()?,
            "--control" => control = value()?,
            "--upstream" => upstream = Some(value()?),
            "--log" => log = Some(value()?),
            "--mode" => {
                mode = match command::parse(&value()?)? {
                    Command::Mode(m) => m,
                    _ => return Err("--mode takes a mode command".into()),
                }
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let addr =
        |s: &str| -> Result<SocketAddr, String> { s.parse().map_err(|e| format!("{s}: {e}")) };
    Ok(Args {
        listen: addr(&listen)?,
        upstream: addr(&upstream.ok_or("--upstream is required")?)?,
        control: addr(&control)?,
        log,
        mode,
    })
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fault-proxy: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let file = match &args.log {
        Some(path) => match OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => Some(Mutex::new(f)),
            Err(e) => {
                eprintln!("fault-proxy: {path}: {e}");
                std::process::exit(2);
            }
        },
        None => None,
    };
    let bind = |a: SocketAddr| {
        TcpListener::bind(a).unwrap_or_else(|e| {
            eprintln!("fault-proxy: cannot listen on {a}: {e}");
            std::process::exit(2);
        })
    };
    let listener = bind(args.listen);
    let control = bind(args.control);
    let (Ok(listen_addr), Ok(control_addr)) = (listener.local_addr(), control.local_addr()) else {
        eprintln!("fault-proxy: no local address");
        std::process::exit(2);
    };
    if let Err(e) = listener.set_nonblocking(true) {
        eprintln!("fault-proxy: {e}");
        std::process::exit(2);
    }
    let shared = Arc::new(Shared {
        state: Mutex::new(ModeState {
            mode: Mode::Pass,
            since: Instant::now(),
            phase: None,
            described: String::new(),
        }),
        conns: Mutex::new(HashMap::new()),
        buckets: [Mutex::new(None), Mutex::new(None)],
        log: Logger { file },
        epoch: Instant::now(),
        next_id: AtomicU64::new(1),
        upstream: args.upstream,
    });
    shared.log.log(&format!(
        "start listen={listen_addr} upstream={} control={control_addr}",
        args.upstream
    ));
    shared.set_mode(args.mode);

    let sh = shared.clone();
    thread::spawn(move || {
        for s in control.incoming().flatten() {
            let sh = sh.clone();
            thread::spawn(move || control_client(sh, s));
        }
    });
    // The time plan (flap, stall) is followed from here.
    let sh = shared.clone();
    thread::spawn(move || {
        loop {
            sh.tick();
            thread::sleep(Duration::from_millis(5));
        }
    });
    accept_loop(shared, listener);
}

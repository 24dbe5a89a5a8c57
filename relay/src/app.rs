// SPDX-License-Identifier: MPL-2.0
//! The program around the stations: the command line, the main loop, the stations
//! (one from the command line, or a stations file's, see [`crate::stations`]), the
//! HTTP endpoints, the status line and the timeline timer, SIGINT/SIGTERM (stop)
//! and SIGHUP (reload the stations file).

use crate::args::{self, Args};
use crate::http::{Auth, HttpServer};
use crate::secrets::{self, Redactor};
use crate::stations::file::{HttpSettings, StationSpec};
use crate::stations::fleet::{Fleet, FleetRef, OnFailure};
use crate::{process, signals};
use gst::glib;
use std::io::IsTerminal;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often the status is refreshed; the timeline gets a row every other tick.
const TICK: Duration = Duration::from_millis(250);

/// Runs the program with `args` (without the program name) until SIGINT/SIGTERM or,
/// with a single station from the command line, until that station fails.
pub fn run<I: IntoIterator<Item = String>>(args: I) -> Result<(), String> {
    let Some(args) = Args::parse(args)? else {
        print!("{}", args::USAGE);
        return Ok(());
    };
    process::limit_malloc_arenas();
    crate::init()?;
    process::raise_fd_limit();
    let main_loop = glib::MainLoop::new(None, false);
    let single = args.config.is_none();
    let (fleet, http) = match &args.config {
        Some(path) => {
            let fleet = Fleet::new(main_loop.clone(), OnFailure::Restart);
            let http = Fleet::load(&fleet, path.into())?;
            eprintln!("relay: {} station(s) from {path}", fleet.borrow().len());
            (fleet, http)
        }
        None => {
            let fleet = Fleet::new(main_loop.clone(), OnFailure::Exit);
            let secret = crate::url::Url::parse(&args.station.output)
                .ok()
                .and_then(|u| u.password);
            let spec = StationSpec {
                config: args.station.clone(),
                events: args.events.clone(),
                timeline: args.timeline.clone(),
            };
            let token = secrets::env_lookup(secrets::TOKEN_ENV).filter(|t| !t.is_empty());
            let redactor = Redactor::new(secret.into_iter().chain(token.clone()));
            fleet.borrow_mut().apply(vec![spec], redactor);
            let http = HttpSettings {
                listen: None,
                token,
                require_token: false,
            };
            (fleet, http)
        }
    };
    if let Some(e) = fleet.borrow().failure() {
        let e = e.to_string();
        fleet.borrow_mut().stop_all();
        return Err(e);
    }
    let server = match args.http.or(http.listen) {
        Some(addr) => {
            let auth = Arc::new(RwLock::new(Auth {
                token: http.token,
                require_token: http.require_token,
            }));
            let (tx, rx) = futures_channel::mpsc::unbounded();
            Fleet::serve(&fleet, rx);
            fleet.borrow_mut().set_auth(auth.clone());
            match HttpServer::start(addr, auth, tx) {
                Ok(s) => Some(s),
                Err(e) => {
                    fleet.borrow_mut().stop_all();
                    return Err(e);
                }
            }
        }
        None => None,
    };
    let status = status_timer(fleet.clone(), single, args.quiet);
    for sig in [signals::SIGINT, signals::SIGTERM] {
        let ml = main_loop.clone();
        signals::add_local(sig, move || {
            eprintln!("\nrelay: signal {sig}, stopping");
            ml.quit();
            glib::ControlFlow::Continue
        });
    }
    let f = fleet.clone();
    signals::add_local(signals::SIGHUP, move || {
        eprintln!("\nrelay: SIGHUP: reloading the stations file");
        Fleet::reload(&f);
        glib::ControlFlow::Continue
    });
    main_loop.run();
    status.remove();
    drop(server);
    let failure = fleet.borrow_mut().stop_all();
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Every tick: the status (rewritten in place on a terminal; otherwise every 5 s
/// for a single station, every 60 s for a stations file, unless `quiet`; more often
/// with `RELAY_VERBOSE`, which also prints every station's line), and every other
/// tick a timeline row for the stations that keep one.
fn status_timer(fleet: FleetRef, single: bool, quiet: bool) -> glib::SourceId {
    let tty = std::io::stderr().is_terminal() && !quiet;
    let verbose = std::env::var_os("RELAY_VERBOSE").is_some();
    let mut ticks = 0u64;
    glib::timeout_add_local(TICK, move || {
        ticks += 1;
        let f = fleet.borrow();
        if single {
            f.for_each_running(|_, st| {
                let line = st.status_line(verbose);
                if tty {
                    eprint!("\r{line}\x1b[K");
                } else if (!quiet && ticks % 20 == 0) || (verbose && ticks % 4 == 0) {
                    eprintln!("{line}");
                }
            });
        } else {
            if (tty && ticks % 4 == 0) || (!tty && !quiet && ticks % 240 == 0) {
                let line = f.summary_line();
                if tty {
                    eprint!("\r{line}\x1b[K");
                } else {
                    eprintln!("{line}");
                }
            }
            if verbose && ticks % 20 == 0 {
                f.for_each_running(|id, st| eprintln!("{id}: {}", st.status_line(false)));
            }
        }
        if ticks % 2 == 0 {
            f.for_each_running(|_, st| st.write_timeline());
        }
        glib::ControlFlow::Continue
    })
}

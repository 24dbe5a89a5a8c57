// SPDX-License-Identifier: MPL-2.0
//! The program around the stations: the command line, the main loop, the status
//! line and the timeline timer, SIGINT/SIGTERM. Today one station from the command
//! line; a list of stations would be started, ticked and stopped the same way, each
//! with its own `on_end`.

use crate::args::{self, Args};
use crate::logs::Logs;
use crate::signals;
use crate::station::{Station, StationHandle};
use gst::glib;
use std::cell::RefCell;
use std::io::IsTerminal;
use std::rc::Rc;
use std::time::Duration;

/// How often the status is refreshed; the timeline gets a row every other tick.
const TICK: Duration = Duration::from_millis(250);

/// Runs the program with `args` (without the program name) until SIGINT/SIGTERM or
/// until the station fails.
pub fn run<I: IntoIterator<Item = String>>(args: I) -> Result<(), String> {
    let Some(args) = Args::parse(args)? else {
        print!("{}", args::USAGE);
        return Ok(());
    };
    crate::init()?;
    let logs = Logs::open(args.events.as_deref(), args.timeline.as_deref())?;
    let main_loop = glib::MainLoop::new(None, false);
    let failure: Rc<RefCell<Option<String>>> = Rc::default();
    let station = {
        let (ml, failure) = (main_loop.clone(), failure.clone());
        Station::start(args.station, logs, move |reason| {
            *failure.borrow_mut() = Some(reason);
            ml.quit();
        })?
    };
    let station = Rc::new(station);
    let status = status_timer(station.clone(), args.quiet);
    for sig in [signals::SIGINT, signals::SIGTERM] {
        let ml = main_loop.clone();
        signals::add_local(sig, move || {
            eprintln!("\nrelay: signal {sig}, stopping");
            ml.quit();
            glib::ControlFlow::Continue
        });
    }
    main_loop.run();
    status.remove();
    station.stop();
    match failure.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Every tick: the status line (rewritten in place on a terminal; otherwise every
/// 5 s unless `quiet`, every second with `RELAY_VERBOSE`), and every other tick a
/// timeline row.
fn status_timer(station: Rc<StationHandle>, quiet: bool) -> glib::SourceId {
    let tty = std::io::stderr().is_terminal() && !quiet;
    let verbose = std::env::var_os("RELAY_VERBOSE").is_some();
    let mut ticks = 0u64;
    glib::timeout_add_local(TICK, move || {
        ticks += 1;
        let line = station.status_line(verbose);
        if tty {
            eprint!("\r{line}\x1b[K");
        } else if (!quiet && ticks % 20 == 0) || (verbose && ticks % 4 == 0) {
            eprintln!("{line}");
        }
        if ticks % 2 == 0 {
            station.write_timeline();
        }
        glib::ControlFlow::Continue
    })
}

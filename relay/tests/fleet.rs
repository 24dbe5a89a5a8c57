// SPDX-License-Identifier: MPL-2.0
//! The running set of stations on a real main loop: a station that cannot start
//! waits and is tried again with backoff while the others run untouched, and
//! applying a new set changes only what differs.

use gst::glib;
use gst_failover_relay::config::StationConfig;
use gst_failover_relay::secrets::Redactor;
use gst_failover_relay::stations::file::StationSpec;
use gst_failover_relay::stations::fleet::{Fleet, OnFailure};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn spec(id: &str, output: &str) -> StationSpec {
    // Nothing listens on port 1: the inputs keep reconnecting, the output keeps
    // dropping; the pipeline itself runs.
    let mut c = StationConfig::new(
        &format!("http://127.0.0.1:1/{id}.aac"),
        &format!("http://127.0.0.1:1/{id}_fallback.aac"),
        output,
    );
    c.set("id", id).unwrap();
    StationSpec {
        config: c,
        events: None,
        timeline: None,
    }
}

fn run_for(ml: &glib::MainLoop, d: Duration) {
    let ml2 = ml.clone();
    glib::timeout_add_local_once(d, move || ml2.quit());
    ml.run();
}

#[test]
fn a_failing_station_waits_and_retries_alone() {
    gst_failover_relay::init().unwrap();
    let ctx = glib::MainContext::default();
    let _owner = ctx.acquire().expect("the default main context");
    let ml = glib::MainLoop::new(Some(&ctx), false);
    let fleet = Fleet::new(ml.clone(), OnFailure::Restart);
    let good = spec("good", "icecast://source:pw@127.0.0.1:1/good.aac");
    // No credentials: the output cannot be opened, the station cannot start.
    let bad = spec("bad", "icecast://127.0.0.1:1/bad.aac");
    fleet
        .borrow_mut()
        .apply(vec![good.clone(), bad], Redactor::default());
    // Watch the bad station's restarts: when each happened.
    let t0 = Instant::now();
    let seen = Rc::new(RefCell::new(Vec::<Duration>::new()));
    {
        let (f, seen, ml) = (fleet.clone(), seen.clone(), ml.clone());
        glib::timeout_add_local(Duration::from_millis(20), move || {
            let r = f.borrow().report();
            let n = r
                .stations
                .iter()
                .find(|s| s.id == "bad")
                .map_or(0, |s| s.restarts);
            let mut seen = seen.borrow_mut();
            if n as usize > seen.len() {
                seen.push(t0.elapsed());
            }
            if seen.len() >= 2 || t0.elapsed() > Duration::from_secs(20) {
                ml.quit();
                return glib::ControlFlow::Break;
            }
            glib::ControlFlow::Continue
        });
    }
    ml.run();
    let seen = seen.borrow().clone();
    assert_eq!(seen.len(), 2, "restarts seen at {seen:?}");
    // Backoff: tried again after 1 s, then after 2 more.
    assert!(seen[0] >= Duration::from_millis(950), "{seen:?}");
    assert!(seen[1] - seen[0] >= Duration::from_millis(1950), "{seen:?}");

    let r = fleet.borrow().report();
    let by_id = |id: &str| r.stations.iter().find(|s| s.id == id).unwrap().clone();
    let g = by_id("good");
    assert_eq!(g.state, "running");
    assert_eq!(g.restarts, 0);
    assert!(g.error.is_none(), "{:?}", g.error);
    let b = by_id("bad");
    assert_eq!(b.state, "waiting");
    assert!(
        b.error
            .as_deref()
            .unwrap_or("")
            .contains("source credentials"),
        "{:?}",
        b.error
    );
    // The next try in 4 s.
    assert_eq!(b.restarts, 2, "{b:?}");
    assert!(b.retry_in_s.unwrap() > 3.0, "{:?}", b.retry_in_s);
    let (ok, text) = r.health();
    assert!(!ok);
    assert!(text.contains("bad: waiting"), "{text}");

    // The bad station goes, the good one is not touched.
    let started = g.started_at;
    fleet.borrow_mut().apply(vec![good], Redactor::default());
    run_for(&ml, Duration::from_millis(200));
    let r = fleet.borrow().report();
    assert_eq!(r.stations.len(), 1);
    assert_eq!(r.stations[0].id, "good");
    assert_eq!(r.stations[0].started_at, started);
    assert!(fleet.borrow_mut().stop_all().is_none());
}

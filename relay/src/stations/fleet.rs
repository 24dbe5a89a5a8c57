// SPDX-License-Identifier: MPL-2.0
//! The running set of stations, on the main loop: starts, stops and restarts them,
//! restarts a failed one after a delay (alone: nothing of it is shared with another
//! station), reloads the stations file, answers the HTTP thread's queries.

use super::diff;
use super::file::{self, HttpSettings, StationSpec};
use crate::http::{Query, SharedAuth, SwitchDone};
use crate::logs::{Logs, epoch};
use crate::output::Output;
use crate::report::{ConfigReport, FleetReport, InputReport, OutputReport, StationReport};
use crate::secrets::Redactor;
use crate::station::{Station, StationHandle};
use futures_util::StreamExt;
use gst::glib;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

/// A failed station is started again after 1 s, then 2, 4, ... up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A station that ran this long before failing starts again after 1 s.
const STABLE_RUN: Duration = Duration::from_secs(60);

/// What becomes of a station whose pipeline cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Started again after a delay (a stations file).
    Restart,
    /// The program ends with the error (the single-station command line: its
    /// supervisor, e.g. systemd, restarts it).
    Exit,
}

enum Run {
    Running {
        handle: StationHandle,
        since: Instant,
    },
    Waiting {
        retry: Option<glib::SourceId>,
        until: Instant,
    },
}

struct Slot {
    spec: StationSpec,
    run: Run,
    /// Starts after a failure.
    restarts: u64,
    /// Failures since it last ran for [`STABLE_RUN`].
    failures: u32,
    last_error: Option<String>,
    /// Tells callbacks of an earlier run from those of the current one.
    generation: u64,
    /// Its log files were opened before (a restart appends to them).
    logs_opened: bool,
}

struct ConfigState {
    path: PathBuf,
    loaded_at: f64,
    reloads: u64,
    last_error: Option<(String, f64)>,
    http: HttpSettings,
}

/// The stations of the process.
pub struct Fleet {
    slots: BTreeMap<String, Slot>,
    redactor: Redactor,
    config: Option<ConfigState>,
    on_failure: OnFailure,
    main_loop: glib::MainLoop,
    /// Why the program ends (`OnFailure::Exit`).
    failure: Option<String>,
    auth: Option<SharedAuth>,
    started: Instant,
    me: Weak<RefCell<Fleet>>,
}

pub type FleetRef = Rc<RefCell<Fleet>>;

impl Fleet {
    pub fn new(main_loop: glib::MainLoop, on_failure: OnFailure) -> FleetRef {
        Rc::new_cyclic(|me| {
            RefCell::new(Fleet {
                slots: BTreeMap::new(),
                redactor: Redactor::default(),
                config: None,
                on_failure,
                main_loop,
                failure: None,
                auth: None,
                started: Instant::now(),
                me: me.clone(),
            })
        })
    }

    /// Loads the stations file for the first time (an error is the caller's: the
    /// program does not start).
    pub fn load(fleet: &FleetRef, path: PathBuf) -> Result<HttpSettings, String> {
        let f = file::read(&path)?;
        let http = f.http.clone();
        let mut me = fleet.borrow_mut();
        me.config = Some(ConfigState {
            path,
            loaded_at: epoch(),
            reloads: 0,
            last_error: None,
            http: http.clone(),
        });
        me.apply(f.stations, f.redactor);
        Ok(http)
    }

    /// Re-reads the stations file (SIGHUP): applies what changed, or refuses a bad
    /// file and keeps the running set.
    pub fn reload(fleet: &FleetRef) {
        let mut me = fleet.borrow_mut();
        let Some(path) = me.config.as_ref().map(|c| c.path.clone()) else {
            eprintln!("relay: SIGHUP: no stations file (--config) to reload");
            return;
        };
        match file::read(&path) {
            Err(e) => {
                eprintln!(
                    "relay: reload refused, keeping the {} running station(s):\n{e}",
                    me.slots.len()
                );
                if let Some(c) = me.config.as_mut() {
                    c.last_error = Some((e, epoch()));
                }
            }
            Ok(f) => {
                if let Some(c) = me.config.as_mut() {
                    c.reloads += 1;
                    c.loaded_at = epoch();
                    c.last_error = None;
                    if f.http.listen != c.http.listen {
                        eprintln!(
                            "relay: reload: [http] listen changed; it applies when the relay restarts"
                        );
                    }
                    c.http = f.http.clone();
                }
                if let Some(auth) = &me.auth {
                    if let Ok(mut a) = auth.write() {
                        a.token = f.http.token.clone();
                        a.require_token = f.http.require_token;
                    }
                }
                me.apply(f.stations, f.redactor);
            }
        }
    }

    /// Runs exactly `stations` from now on: stops those not in it, restarts those
    /// whose configuration changed, starts the new ones, leaves the others alone.
    pub fn apply(&mut self, stations: Vec<StationSpec>, redactor: Redactor) {
        let old: BTreeMap<String, StationSpec> = self
            .slots
            .iter()
            .map(|(id, s)| (id.clone(), s.spec.clone()))
            .collect();
        let new: BTreeMap<String, StationSpec> = stations
            .into_iter()
            .map(|s| (s.config.id.clone(), s))
            .collect();
        let plan = diff::plan(&old, &new);
        self.redactor = redactor;
        if !self.slots.is_empty() || self.config.is_some() {
            eprintln!("relay: stations: {}", plan.summary());
        }
        for id in &plan.stop {
            if let Some(slot) = self.slots.remove(id) {
                stop_slot(slot);
            }
        }
        let mut new = new;
        for id in &plan.restart {
            let Some(spec) = new.remove(id) else { continue };
            let Some(mut slot) = self.slots.remove(id) else {
                continue;
            };
            // Same output: the connection (and its listeners) carries over.
            let keep = slot.spec.config.output == spec.config.output;
            let output = match std::mem::replace(
                &mut slot.run,
                Run::Waiting {
                    retry: None,
                    until: Instant::now(),
                },
            ) {
                Run::Running { handle, .. } if keep => handle.stop_keep_output(),
                Run::Running { handle, .. } => {
                    handle.stop();
                    None
                }
                Run::Waiting { retry, .. } => {
                    if let Some(r) = retry {
                        r.remove();
                    }
                    None
                }
            };
            slot.spec = spec;
            slot.failures = 0;
            slot.last_error = None;
            self.slots.insert(id.clone(), slot);
            self.start(id, output);
        }
        for id in &plan.start {
            let Some(spec) = new.remove(id) else { continue };
            self.slots.insert(
                id.clone(),
                Slot {
                    spec,
                    run: Run::Waiting {
                        retry: None,
                        until: Instant::now(),
                    },
                    restarts: 0,
                    failures: 0,
                    last_error: None,
                    generation: 0,
                    logs_opened: false,
                },
            );
            self.start(id, None);
        }
    }

    /// Starts station `id` (its slot exists), with `output` carried over if given.
    fn start(&mut self, id: &str, output: Option<Output>) {
        let me = self.me.clone();
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        slot.generation += 1;
        let generation = slot.generation;
        let spec = &slot.spec;
        let logs = Logs::open_with(
            spec.events.as_deref(),
            spec.timeline.as_deref(),
            slot.logs_opened,
        );
        slot.logs_opened = true;
        let id_owned = id.to_string();
        let started = logs.and_then(|logs| {
            Station::start_with(spec.config.clone(), logs, output, move |reason| {
                // Later, from the main loop: the station's own bus watch calls this.
                let (me, id) = (me.clone(), id_owned.clone());
                glib::idle_add_local_once(move || {
                    if let Some(f) = me.upgrade() {
                        f.borrow_mut().failed(&id, generation, reason);
                    }
                });
            })
        });
        match started {
            Ok(handle) => {
                slot.run = Run::Running {
                    handle,
                    since: Instant::now(),
                };
            }
            Err(e) => self.failed(id, generation, e),
        }
    }

    /// Station `id` cannot go on (run `generation`): it is stopped and, by the
    /// policy, started again later or the program ends.
    fn failed(&mut self, id: &str, generation: u64, reason: String) {
        let me = self.me.clone();
        let redactor = self.redactor.clone();
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        if slot.generation != generation {
            return;
        }
        let reason = redactor.text(&reason);
        let ran = match std::mem::replace(
            &mut slot.run,
            Run::Waiting {
                retry: None,
                until: Instant::now(),
            },
        ) {
            Run::Running { handle, since } => {
                handle.stop();
                since.elapsed()
            }
            Run::Waiting { retry, .. } => {
                if let Some(r) = retry {
                    r.remove();
                }
                Duration::ZERO
            }
        };
        slot.last_error = Some(reason.clone());
        if self.on_failure == OnFailure::Exit {
            self.failure = Some(reason);
            self.main_loop.quit();
            return;
        }
        if ran >= STABLE_RUN {
            slot.failures = 0;
        }
        let delay = Duration::from_secs(1 << slot.failures.min(5)).min(MAX_BACKOFF);
        slot.failures += 1;
        eprintln!(
            "relay[{id}]: station failed: {reason}; starting it again in {}s",
            delay.as_secs()
        );
        let id_owned = id.to_string();
        let retry = glib::timeout_add_local_once(delay, move || {
            if let Some(f) = me.upgrade() {
                let mut f = f.borrow_mut();
                if let Some(slot) = f.slots.get_mut(&id_owned) {
                    if slot.generation == generation {
                        if let Run::Waiting { retry, .. } = &mut slot.run {
                            // This source is ending: forget its id.
                            retry.take();
                        }
                        slot.restarts += 1;
                        f.start(&id_owned, None);
                    }
                }
            }
        });
        slot.run = Run::Waiting {
            retry: Some(retry),
            until: Instant::now() + delay,
        };
    }

    /// Stops every station (the program ends). Returns why it ends, if a station
    /// failed (`OnFailure::Exit`).
    pub fn stop_all(&mut self) -> Option<String> {
        for (_, slot) in std::mem::take(&mut self.slots) {
            stop_slot(slot);
        }
        self.failure.take()
    }

    /// Shares the HTTP token settings with the HTTP thread (updated on reload).
    pub fn set_auth(&mut self, auth: SharedAuth) {
        self.auth = Some(auth);
    }

    /// Why the program ends, if a station failed (`OnFailure::Exit`).
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// One line about all stations: how many run, on which input, bytes out.
    pub fn summary_line(&self) -> String {
        let mut on = BTreeMap::<String, usize>::new();
        let (mut running, mut bytes) = (0, 0u64);
        for slot in self.slots.values() {
            if let Run::Running { handle, .. } = &slot.run {
                running += 1;
                let (active, b) = handle.active_and_bytes();
                *on.entry(active).or_default() += 1;
                bytes += b;
            }
        }
        let on: Vec<String> = on.iter().map(|(k, n)| format!("{k} {n}")).collect();
        format!(
            "[{:7.1}s] {} station(s): {running} running, {} waiting | on {} | out {:.1} MiB",
            self.started.elapsed().as_secs_f64(),
            self.slots.len(),
            self.slots.len() - running,
            if on.is_empty() {
                "-".to_string()
            } else {
                on.join(", ")
            },
            bytes as f64 / (1024.0 * 1024.0)
        )
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Calls `f` on each running station.
    pub fn for_each_running(&self, mut f: impl FnMut(&str, &StationHandle)) {
        for (id, slot) in &self.slots {
            if let Run::Running { handle, .. } = &slot.run {
                f(id, handle);
            }
        }
    }

    /// Everything `/status`, `/metrics` and `/health` show.
    pub fn report(&self) -> FleetReport {
        let stations = self
            .slots
            .values()
            .map(|slot| {
                let mut r = match &slot.run {
                    Run::Running { handle, .. } => handle.report(&self.redactor),
                    Run::Waiting { until, .. } => {
                        let mut r = waiting_report(&slot.spec, &self.redactor);
                        r.retry_in_s = Some(
                            until
                                .saturating_duration_since(Instant::now())
                                .as_secs_f64(),
                        );
                        r
                    }
                };
                r.restarts = slot.restarts;
                r.error = slot.last_error.clone();
                r
            })
            .collect();
        FleetReport {
            version: env!("CARGO_PKG_VERSION"),
            pid: std::process::id(),
            uptime_s: self.started.elapsed().as_secs_f64(),
            config: self.config.as_ref().map(|c| ConfigReport {
                path: c.path.display().to_string(),
                loaded_at: c.loaded_at,
                reloads: c.reloads,
                last_error: c.last_error.as_ref().map(|(e, _)| e.clone()),
                last_error_at: c.last_error.as_ref().map(|(_, t)| *t),
            }),
            stations,
        }
    }

    /// `POST /stations/<id>/switch?to=...`.
    pub fn switch(&self, id: &str, to: &str) -> Result<SwitchDone, (u16, String)> {
        let slot = self
            .slots
            .get(id)
            .ok_or_else(|| (404, format!("no station '{id}'")))?;
        let Run::Running { handle, .. } = &slot.run else {
            return Err((409, format!("station '{id}' is not running")));
        };
        let from = handle.switch_to(to).map_err(|e| (409, e))?;
        Ok(SwitchDone {
            station: id.to_string(),
            from,
            to: to.to_string(),
        })
    }

    /// Answers the HTTP thread's queries on the main loop, until the sender is gone.
    pub fn serve(fleet: &FleetRef, mut queries: futures_channel::mpsc::UnboundedReceiver<Query>) {
        let weak = Rc::downgrade(fleet);
        glib::MainContext::default().spawn_local(async move {
            while let Some(q) = queries.next().await {
                let Some(f) = weak.upgrade() else { break };
                match q {
                    Query::Report(reply) => {
                        let _ = reply.send(f.borrow().report());
                    }
                    Query::Switch { id, to, reply } => {
                        let _ = reply.send(f.borrow().switch(&id, &to));
                    }
                }
            }
        });
    }
}

fn stop_slot(slot: Slot) {
    match slot.run {
        Run::Running { handle, .. } => handle.stop(),
        Run::Waiting { retry, .. } => {
            if let Some(r) = retry {
                r.remove();
            }
        }
    }
}

/// The report of a station that is not running.
fn waiting_report(spec: &StationSpec, redactor: &Redactor) -> StationReport {
    let c = &spec.config;
    let input = |name: &str, url: &str| InputReport {
        name: name.into(),
        url: redactor.url(url),
        healthy: None,
        reason: String::new(),
        probe_healthy: None,
        probe_reason: String::new(),
        loudness_lufs: None,
        gain_db: None,
        reconnects: 0,
        active_s: 0.0,
    };
    StationReport {
        id: c.id.clone(),
        state: "waiting",
        error: None,
        retry_in_s: None,
        restarts: 0,
        setup: c.setup.as_str().into(),
        mode: c.mode.clone(),
        started_at: None,
        uptime_s: 0.0,
        active: "none".into(),
        inputs: vec![
            input("primary", &c.primary),
            input("secondary", &c.secondary),
        ],
        output: OutputReport {
            url: redactor.url(&c.output),
            connected: false,
            bytes: 0,
            connects: 0,
            dropped_buffers: 0,
            idle_s: None,
            loudness_lufs: None,
            keepalive_frames: 0,
            none_s: 0.0,
        },
        switches: 0,
        switches_by_reason: BTreeMap::new(),
        last_switch: None,
        warnings: 0,
    }
}

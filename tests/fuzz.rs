// SPDX-License-Identifier: MPL-2.0
//! Random fault sequences on `failoverswitch` (property-based, `proptest`).
//!
//! Each case picks a setup (raw audio or encoded units, timeout, restore-delay,
//! mode, crossfade) and a random sequence of steps on both inputs — the clock
//! advancing with data, stalls, resumes (at the live edge or late), EOS, new
//! streams, flushes, caps changes (compatible or not), timestamps jumping back or
//! ahead, silence (seen by a `healthprobe` on the primary), manual switches,
//! health events on the secondary, PAUSED/PLAYING — on a test clock, and checks
//! the invariants of `fuzz/check.rs` after every step (no panic, no deadlock,
//! continuous monotonic output, one input at a time, only healthy inputs switched
//! to, switches justified and bounded by restore-delay, EOS only when both ended).
//!
//! Cases: `PROPTEST_CASES` (default 300, from a fixed seed); `make fuzz` runs 10,000
//! random ones. A failing case is
//! shrunk to a minimal sequence and its seed kept in `tests/fuzz.proptest-regressions`.
//! Invariants listed in [`GATED`] are only counted and reported unless
//! `FUZZ_STRICT=1` (or `FUZZ_STRICT=name,name`) makes them fail the case.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use gst::prelude::*;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};

mod common;

#[path = "fuzz/case.rs"]
mod case;
#[path = "fuzz/check.rs"]
mod check;
#[path = "fuzz/model.rs"]
mod model;
#[path = "fuzz/rig.rs"]
mod rig;

use case::{Case, In, Step};
use check::{Inv, OutputCheck, Policy, Switch, SwitchCheck, Violation, violation};
use model::{CapsKind, Flow, InputModel, MS, Mark, Media, SLOT};
use rig::{Rig, Stuck};

/// Invariants the element does not keep yet: counted and reported, and only fail a
/// case with `FUZZ_STRICT`. Empty once the element keeps them all.
const GATED: &[Inv] = &[];

const DEFAULT_CASES: u32 = 300;

fn caps(media: Media, kind: CapsKind) -> gst::Caps {
    let rate = if kind == CapsKind::Incompatible {
        44_100
    } else {
        48_000
    };
    let s = match (media, kind) {
        (Media::Raw, _) => {
            format!("audio/x-raw,format=F32LE,layout=interleaved,rate={rate},channels=1")
        }
        (Media::Encoded, CapsKind::Compatible) => format!(
            "audio/mpeg,mpegversion=4,stream-format=adts,rate={rate},channels=1,bitrate=64000"
        ),
        (Media::Encoded, _) => {
            format!("audio/mpeg,mpegversion=4,stream-format=adts,rate={rate},channels=1")
        }
    };
    s.parse().unwrap()
}

/// One unit of input `i` at stream running time `pts`.
fn unit(media: Media, i: usize, m: &InputModel, pts: u64) -> gst::Buffer {
    let data = match media {
        Media::Raw => {
            let n = if m.caps == CapsKind::Incompatible {
                441
            } else {
                480
            };
            let mismatch = m.caps == CapsKind::Incompatible;
            let v = match (m.silent, i == rig::PRIMARY, mismatch) {
                (true, _, _) => 0.0,
                (false, true, false) => check::PRIMARY_VALUE,
                (false, false, false) => check::SECONDARY_VALUE,
                (false, true, true) => check::PRIMARY_MISMATCH,
                (false, false, true) => check::SECONDARY_MISMATCH,
            };
            std::iter::repeat_n(v.to_le_bytes(), n).flatten().collect()
        }
        Media::Encoded => {
            let mut d = vec![0x5au8; 64];
            let mismatch = usize::from(m.caps == CapsKind::Incompatible);
            d[0] = check::UNIT_TAGS[2 * mismatch + i];
            d[1..9].copy_from_slice(&pts.to_le_bytes());
            d
        }
    };
    let mut b = gst::Buffer::from_mut_slice(data);
    let bm = b.get_mut().unwrap();
    bm.set_pts(gst::ClockTime::from_nseconds(pts));
    bm.set_duration(gst::ClockTime::from_nseconds(media.unit()));
    b
}

/// Runs one case; returns every violation seen (or stops at a deadlock).
struct Run {
    rig: Rig,
    media: Media,
    inputs: [InputModel; 2],
    out: OutputCheck,
    sw: SwitchCheck,
    v: Vec<Violation>,
    last_poll: u64,
    both_ended_since: Option<u64>,
    eos_missing_reported: bool,
    flush_reported: bool,
    disturbances: usize,
    groups: u32,
}

impl Run {
    fn new(c: &Case) -> Run {
        common::init();
        let mode = if c.sticky {
            "sticky"
        } else {
            "primary-preferred"
        };
        let rig = Rig::new(
            &[
                ("timeout", (c.timeout_ms * MS).to_value()),
                ("restore-delay", (c.restore_ms * MS).to_value()),
                ("mode", mode.to_value()),
                ("crossfade", (c.crossfade_ms * MS).to_value()),
            ],
            c.rigid_sink,
        );
        Run {
            rig,
            media: c.media,
            inputs: [
                InputModel::new(c.media.unit()),
                InputModel::new(c.media.unit()),
            ],
            out: OutputCheck::new(c.media, c.timeout_ms * MS),
            sw: SwitchCheck::new(Policy {
                timeout: c.timeout_ms * MS,
                restore_delay: c.restore_ms * MS,
                sticky: c.sticky,
                crossfade: c.crossfade_ms * MS,
            }),
            v: Vec::new(),
            last_poll: 0,
            both_ended_since: None,
            eos_missing_reported: false,
            flush_reported: false,
            disturbances: 0,
            groups: 0,
        }
    }

    fn event(&mut self, i: usize, e: gst::Event) -> Result<(), Stuck> {
        let what = format!("{:?}", e.type_());
        if !self.rig.event(i, e)? && what != "FlushStart" {
            self.v.push(violation(
                Inv::PushOk,
                format!("{what} event on input {i} at {} ms refused", self.rt() / MS),
            ));
        }
        Ok(())
    }

    /// Stream-start, caps and a TIME segment on input `i`.
    fn stream_events(&mut self, i: usize) -> Result<(), Stuck> {
        self.groups += 1;
        let start = gst::event::StreamStart::builder(&format!("fuzz-{i}-{}", self.groups))
            .group_id(gst::GroupId::next())
            .build();
        self.event(i, start)?;
        self.event(
            i,
            gst::event::Caps::new(&caps(self.media, self.inputs[i].caps)),
        )?;
        self.segment(i)
    }

    fn segment(&mut self, i: usize) -> Result<(), Stuck> {
        let seg = gst::FormattedSegment::<gst::ClockTime>::new();
        self.event(i, gst::event::Segment::new(&seg))
    }

    fn start(&mut self) -> Result<(), Stuck> {
        self.rig.set_state(gst::State::Playing)?;
        for i in 0..2 {
            self.stream_events(i)?;
        }
        self.advance(20)
    }

    fn rt(&self) -> u64 {
        self.rig.running_time()
    }

    /// The live edge: the next unit boundary at or after now.
    fn edge(&self) -> u64 {
        let u = self.media.unit();
        self.rt().div_ceil(u) * u
    }

    fn deliver(&mut self, i: usize) -> Result<(), Stuck> {
        let rt = self.rt();
        let u = self.media.unit();
        while self.inputs[i].flow == Flow::Flowing && self.inputs[i].next_arrival <= rt {
            let pts = self.inputs[i].cursor;
            let b = unit(self.media, i, &self.inputs[i], pts);
            let m = &mut self.inputs[i];
            m.cursor += u;
            m.next_arrival += u;
            m.units += 1;
            m.mark(rt, Mark::Data { end: pts + u });
            if let Err(e) = self.rig.push(i, b)? {
                let inv = match e {
                    gst::FlowError::NotNegotiated => Inv::CapsAccepted,
                    gst::FlowError::Eos => Inv::Revive,
                    gst::FlowError::Flushing if self.out.flushing => Inv::FlushPaired,
                    _ => Inv::PushOk,
                };
                self.v.push(violation(
                    inv,
                    format!("push on input {i} at {} ms returned {e:?}", rt / MS),
                ));
            }
        }
        Ok(())
    }

    fn advance(&mut self, slots: u16) -> Result<(), Stuck> {
        for _ in 0..slots {
            if let Err(e) = self.rig.advance_by(SLOT) {
                self.v.push(violation(Inv::NoSpin, e));
                return Err(Stuck("timer spins".into()));
            }
            if self.rig.playing() {
                for i in 0..2 {
                    self.deliver(i)?;
                }
            }
            self.poll();
        }
        Ok(())
    }

    /// Reads what came out and what was posted since the last look, and checks it.
    fn poll(&mut self) {
        let rt = self.rt();
        let eos_before = self.out.eos;
        for item in self.rig.take_output() {
            self.out.item(&item, &self.inputs, &mut self.v);
        }
        for m in self.rig.messages() {
            match m.view() {
                gst::MessageView::Error(e) => self.v.push(violation(
                    Inv::NoPanic,
                    format!("ERROR from {:?}: {}", e.src().map(|s| s.name()), e.error()),
                )),
                gst::MessageView::Element(e) => {
                    let Some(s) = e.structure() else { continue };
                    if s.name() == "failover-switched" {
                        let f = |k| s.get::<String>(k).unwrap_or_default();
                        let sw = Switch {
                            from: f("from"),
                            to: f("to"),
                            reason: f("reason"),
                            rt: s.get::<u64>("running-time").unwrap_or(0),
                            count: s.get::<u64>("switch-count").unwrap_or(0),
                            // The timer thread may post a little after it decided.
                            lo: self.last_poll.min(rt.saturating_sub(model::SLACK)),
                            hi: rt,
                        };
                        self.sw
                            .on_switch(sw, &self.inputs, self.out.end, &mut self.v);
                    } else if s.name() == "health" {
                        let healthy = s.get::<bool>("healthy").unwrap_or(true);
                        self.inputs[0].mark(rt, Mark::Verdict { healthy });
                    }
                }
                _ => {}
            }
        }
        if self.out.flushing && !self.flush_reported {
            self.flush_reported = true;
            self.v.push(violation(
                Inv::FlushPaired,
                format!(
                    "FLUSH_START went out without FLUSH_STOP (at {} ms)",
                    rt / MS
                ),
            ));
        }
        let both_ended = self.inputs.iter().all(|m| m.flow == Flow::Ended);
        if self.out.eos && !eos_before && !both_ended {
            self.v.push(violation(
                Inv::EosOnlyWhenBothEnded,
                format!("EOS out at {} ms while an input goes on", rt / MS),
            ));
        }
        if both_ended {
            let since = *self.both_ended_since.get_or_insert(rt);
            // (An output left flushing refuses the EOS: that is flush-paired.)
            if rt >= since + SLOT
                && !self.out.eos
                && !self.eos_missing_reported
                && !self.out.flushing
            {
                // The EOS may come from another thread: give it some real time.
                for _ in 0..40 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    for item in self.rig.take_output() {
                        self.out.item(&item, &self.inputs, &mut self.v);
                    }
                    if self.out.eos {
                        break;
                    }
                }
            }
            if rt >= since + SLOT
                && !self.out.eos
                && !self.eos_missing_reported
                && !self.out.flushing
            {
                self.eos_missing_reported = true;
                self.v.push(violation(
                    Inv::EosWhenBothEnded,
                    format!("both inputs ended at {} ms, no EOS out", since / MS),
                ));
            }
        } else {
            self.both_ended_since = None;
            self.eos_missing_reported = false;
        }
        self.last_poll = rt;
    }

    fn step(&mut self, s: &Step) -> Result<(), Stuck> {
        if !matches!(s, Step::Advance(_)) {
            self.disturbances += 1;
        }
        let rt = self.rt();
        match *s {
            Step::Advance(n) => return self.advance(n),
            Step::Stall(i) => {
                let m = &mut self.inputs[i.index()];
                if m.flow == Flow::Flowing {
                    m.flow = Flow::Stalled;
                }
            }
            Step::Resume(i, at_edge) => {
                let edge = self.edge();
                let m = &mut self.inputs[i.index()];
                if m.flow == Flow::Stalled {
                    m.flow = Flow::Flowing;
                    m.next_arrival = rt;
                    if at_edge {
                        m.cursor = m.cursor.max(edge);
                    }
                }
            }
            Step::Eos(i) => {
                if self.inputs[i.index()].flow != Flow::Ended {
                    self.inputs[i.index()].flow = Flow::Ended;
                    self.inputs[i.index()].mark(rt, Mark::Ended);
                    self.event(i.index(), gst::event::Eos::new())?;
                }
            }
            Step::NewStream(i) => {
                if self.inputs[i.index()].flow == Flow::Ended {
                    let edge = self.edge();
                    let m = &mut self.inputs[i.index()];
                    m.flow = Flow::Flowing;
                    m.next_arrival = rt;
                    m.cursor = m.cursor.max(edge);
                    m.mark(rt, Mark::NewStream);
                    self.stream_events(i.index())?;
                }
            }
            Step::Flush(i) => {
                let ix = i.index();
                self.event(ix, gst::event::FlushStart::new())?;
                self.event(ix, gst::event::FlushStop::new(false))?;
                self.segment(ix)?;
                let m = &mut self.inputs[ix];
                m.mark(rt, Mark::Flush);
                if m.flow == Flow::Ended {
                    // A flush clears EOS: the input is back, without data yet.
                    m.flow = Flow::Stalled;
                    m.mark(rt, Mark::NewStream);
                }
            }
            Step::Caps(i, kind) => {
                let ix = i.index();
                if self.inputs[ix].flow != Flow::Ended {
                    self.inputs[ix].caps = kind;
                    let compatible = kind != CapsKind::Incompatible;
                    self.inputs[ix].mark(rt, Mark::Caps { compatible });
                    self.event(ix, gst::event::Caps::new(&caps(self.media, kind)))?;
                }
            }
            Step::Skew(i, k) => {
                let u = self.media.unit() as i64;
                let m = &mut self.inputs[i.index()];
                m.cursor = (m.cursor as i64 + i64::from(k) * u).max(0) as u64;
            }
            Step::Silence(i, on) => self.inputs[i.index()].silent = on,
            Step::Manual(i) => {
                let sw = self.rig.switch.clone();
                let pad = sw.static_pad(if i == In::P { "primary" } else { "secondary" });
                rig::bounded("writing active-pad", move || {
                    sw.set_property("active-pad", pad);
                })?;
                self.rig.settle()?;
            }
            Step::Health(healthy) => {
                let reason = if healthy { "ok" } else { "fuzz" };
                let ev = gstfailover::health_event::new_event(healthy, reason);
                self.inputs[1].mark(rt, Mark::Verdict { healthy });
                self.event(rig::SECONDARY, ev)?;
            }
            Step::Pause => {
                if self.rig.playing() {
                    self.rig.set_state(gst::State::Paused)?;
                }
            }
            Step::Play => {
                if !self.rig.playing() {
                    self.rig.set_state(gst::State::Playing)?;
                }
            }
        }
        self.poll();
        Ok(())
    }

    /// The whole case: start, the steps, then long enough for every timeout and
    /// restore to play out; returns the violations.
    fn run(mut self, c: &Case) -> Vec<Violation> {
        let settle = ((2 * (c.timeout_ms + c.restore_ms)) / 10 + 20) as u16;
        let result = self
            .start()
            .and_then(|_| c.steps.iter().try_for_each(|s| self.step(s)))
            .and_then(|_| {
                if !self.rig.playing() {
                    self.rig.set_state(gst::State::Playing)?;
                }
                self.advance(settle)
            });
        if let Err(Stuck(what)) = result {
            if !self.v.iter().any(|v| v.inv == Inv::NoSpin) {
                self.v.push(violation(Inv::NoDeadlock, what));
            }
            // The element may be stuck: leave it.
            std::mem::forget(self.rig);
            return self.v;
        }
        self.sw.check_samples(&self.out.raw, &mut self.v);
        let automatic = self.sw.automatic();
        if automatic > 2 * self.disturbances + 2 {
            self.v.push(violation(
                Inv::SwitchCount,
                format!(
                    "{automatic} automatic switches after {} disturbances",
                    self.disturbances
                ),
            ));
        }
        if std::env::var_os("FUZZ_VERBOSE").is_some() {
            eprintln!(
                "case: {} steps, output up to {:?} ms, {} switches {:?}, {} violations",
                c.steps.len(),
                self.out.end.map(|e| e / MS),
                self.sw.switches.len(),
                self.sw
                    .switches
                    .iter()
                    .map(|s| format!("{}>{} {} @{}", s.from, s.to, s.reason, s.rt / MS))
                    .collect::<Vec<_>>(),
                self.v.len()
            );
        }
        if std::env::var_os("FUZZ_VERBOSE").is_some_and(|v| v == "2") {
            for (pts, _, x) in &self.out.raw {
                let class = |v: f32| match v {
                    check::PRIMARY_VALUE => 'P',
                    check::SECONDARY_VALUE => 'S',
                    check::PRIMARY_MISMATCH => 'p',
                    check::SECONDARY_MISMATCH => 's',
                    0.0 => '0',
                    _ => '~',
                };
                let mut runs = String::new();
                for &v in x {
                    let c = class(v);
                    if !runs.ends_with(c) {
                        runs.push(c);
                    }
                }
                eprint!("{}:{} ", pts / MS, runs);
            }
            eprintln!();
            for v in &self.v {
                eprintln!("  {}: {}", v.inv.name(), v.detail);
            }
        }
        let mut v = self.v;
        if let Err(Stuck(what)) = self.rig.shutdown() {
            v.push(violation(Inv::NoDeadlock, what));
        }
        v
    }
}

fn strict(inv: Inv) -> bool {
    match std::env::var("FUZZ_STRICT") {
        Ok(s) if s == "1" || s == "all" => true,
        Ok(s) if !s.is_empty() => s.split(',').any(|n| n.trim() == inv.name()),
        _ => !GATED.contains(&inv),
    }
}

/// Gated violations seen: invariant -> (cases, first example).
static TALLY: Mutex<BTreeMap<Inv, (u64, String)>> = Mutex::new(BTreeMap::new());
static RUNS: AtomicU64 = AtomicU64::new(0);

fn run_case(c: &Case) -> Result<(), TestCaseError> {
    RUNS.fetch_add(1, Ordering::Relaxed);
    let violations = Run::new(c).run(c);
    let mut failing = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for v in violations {
        if !seen.insert(v.inv) {
            continue;
        }
        if strict(v.inv) {
            failing.push(format!("{}: {}", v.inv.name(), v.detail));
        } else {
            let mut t = TALLY.lock().unwrap();
            let e = t
                .entry(v.inv)
                .or_insert((0, format!("{} ({c:?})", v.detail)));
            e.0 += 1;
        }
    }
    if failing.is_empty() {
        Ok(())
    } else {
        Err(TestCaseError::fail(failing.join("; ")))
    }
}

/// The seed of `make test`'s cases (any 32 bytes; changing it draws other cases).
const SEED: [u8; 32] = *b"gst-plugin-failover fuzz seed 01";

#[test]
fn random_fault_sequences() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let config = Config {
        cases,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        max_shrink_iters: 2000,
        ..Config::default()
    };
    // Without PROPTEST_CASES (make test, CI) the cases come from a fixed seed, so a
    // run is reproducible; make fuzz draws new ones each time.
    let mut runner = if std::env::var_os("PROPTEST_CASES").is_some() {
        TestRunner::new(config)
    } else {
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED))
    };
    let result = runner.run(&case::case(), |c| run_case(&c));
    let tally = TALLY.lock().unwrap();
    let failed = u64::from(result.is_err());
    eprintln!(
        "fuzz: {cases} cases ({} runs with shrinking), {failed} failing",
        RUNS.load(Ordering::Relaxed)
    );
    for inv in Inv::ALL {
        if let Some((n, example)) = tally.get(&inv) {
            eprintln!(
                "fuzz: gated invariant {} violated in {n} runs (FUZZ_STRICT={} to fail on it); first: {example}",
                inv.name(),
                inv.name()
            );
        }
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The minimal sequences proptest found for the invariants in [`GATED`] (each one
/// fails its invariant with the element as it is today).
const KNOWN: &[(Inv, &str)] = &[
    (
        Inv::CapsAccepted,
        "Case { media: Raw, timeout_ms: 100, restore_ms: 0, sticky: false, crossfade_ms: 0, \
         rigid_sink: true, steps: [Caps(P, Incompatible)] }",
    ),
    (
        Inv::Revive,
        "Case { media: Raw, timeout_ms: 100, restore_ms: 0, sticky: false, crossfade_ms: 0, \
         rigid_sink: false, steps: [Eos(P), Eos(S), NewStream(P)] }",
    ),
    (
        Inv::Continuous,
        "Case { media: Encoded, timeout_ms: 100, restore_ms: 0, sticky: false, crossfade_ms: 0, \
         rigid_sink: false, steps: [Stall(S), Advance(1), Stall(P), Advance(6), Advance(28), \
         Advance(25), Advance(11), Resume(P, true)] }",
    ),
    (
        Inv::OutputCaps,
        "Case { media: Raw, timeout_ms: 300, restore_ms: 0, sticky: false, crossfade_ms: 0, \
         rigid_sink: false, steps: [Caps(S, Incompatible), Stall(P), Resume(S, false)] }",
    ),
    (
        Inv::Mapping,
        "Case { media: Encoded, timeout_ms: 100, restore_ms: 0, sticky: false, crossfade_ms: 0, \
         rigid_sink: false, steps: [Advance(3), Eos(S), NewStream(S), Caps(P, Incompatible), \
         Pause, Play, Advance(15), Health(false), Advance(9), Health(true)] }",
    ),
    (
        Inv::RestoreDelay,
        "Case { media: Raw, timeout_ms: 100, restore_ms: 200, sticky: false, crossfade_ms: 0, \
         rigid_sink: false, steps: [Eos(P), NewStream(P), Resume(P, false), Advance(1), Pause, \
         Advance(3), Health(true), Advance(1)] }",
    ),
    (
        Inv::JustifiedSwitch,
        "Case { media: Encoded, timeout_ms: 100, restore_ms: 0, sticky: false, crossfade_ms: 0, \
         rigid_sink: false, steps: [Skew(P, 10), Advance(2), Silence(P, false), Flush(P), \
         Skew(P, -6)] }",
    ),
    (
        Inv::JustifiedSwitch,
        "Case { media: Raw, timeout_ms: 100, restore_ms: 0, sticky: false, crossfade_ms: 0, \
         rigid_sink: false, steps: [Skew(S, 13), Manual(S), Advance(1), Skew(S, 0), Eos(S)] }",
    ),
    (
        Inv::CapsEnforced,
        "Case { media: Raw, timeout_ms: 100, restore_ms: 0, sticky: false, crossfade_ms: 0, \
         rigid_sink: false, steps: [Caps(P, Incompatible), Stall(S), Advance(10), Manual(P), \
         Caps(P, Normal), Skew(P, 4)] }",
    ),
    (
        Inv::OneInput,
        "Case { media: Raw, timeout_ms: 100, restore_ms: 0, sticky: false, crossfade_ms: 20, \
         rigid_sink: false, steps: [Caps(P, Incompatible), Stall(S), Advance(10), Manual(P), \
         Caps(P, Normal), Skew(P, 4)] }",
    ),
    // Decided while paused: the pause counted towards the primary's hold-off.
    (
        Inv::RestoreDelay,
        "Case { media: Raw, timeout_ms: 100, restore_ms: 200, sticky: false, crossfade_ms: 0, \
         rigid_sink: false, steps: [Pause, Caps(P, Incompatible), Caps(P, Normal), Advance(20), \
         Health(true)] }",
    ),
    // Both inputs move to 44.1 kHz at start-up: the output format is handed over.
    (
        Inv::OutputCaps,
        "Case { media: Raw, timeout_ms: 300, restore_ms: 0, sticky: false, crossfade_ms: 0, \
         rigid_sink: false, steps: [Caps(S, Incompatible), Caps(P, Incompatible)] }",
    ),
    // A crossfade interrupted by a hole of the incoming input goes on after it.
    (
        Inv::OneInput,
        "Case { media: Raw, timeout_ms: 100, restore_ms: 0, sticky: false, crossfade_ms: 20, \
         rigid_sink: false, steps: [Skew(P, -3), Caps(P, Incompatible), Advance(1), Skew(S, 5), \
         Advance(1)] }",
    ),
    // The secondary's new caps are refused by a rigid downstream, so its data stops
    // with the primary's: at the primary's timeout the element switches to the
    // secondary and times it out in the same instant.
    (
        Inv::HealthyTarget,
        "Case { media: Raw, timeout_ms: 200, restore_ms: 0, sticky: false, crossfade_ms: 0, \
         rigid_sink: true, steps: [Stall(P), Advance(1), Caps(S, Incompatible), Stall(S), \
         Advance(1)] }",
    ),
    // Intermittent (about one run in ten): the timer switches away from the
    // secondary between the FLUSH_START and the FLUSH_STOP it forwards.
    (
        Inv::FlushPaired,
        "Case { media: Raw, timeout_ms: 200, restore_ms: 1000, sticky: false, crossfade_ms: 0, \
         rigid_sink: false, steps: [Stall(S), Advance(30), Manual(S), Flush(S), Advance(10)] }",
    ),
    // The fixer of a format not yet settled changes to the other input's rate: the
    // output follows it; before the fix the element switched to the other input
    // and back in the same instant (found by make fuzz, 10,000 cases).
    (
        Inv::HealthyTarget,
        "Case { media: Raw, timeout_ms: 300, restore_ms: 0, sticky: false, crossfade_ms: 0, \
         rigid_sink: false, steps: [Stall(S), Caps(S, Incompatible), Advance(2), \
         Caps(P, Incompatible)] }",
    ),
];

/// Sequences that must pass every invariant, gated or not: a failover on a stall
/// and a restore after restore-delay (raw, with crossfade); sticky mode and both
/// inputs ending (encoded).
const HOLDS: &[&str] = &[
    "Case { media: Raw, timeout_ms: 200, restore_ms: 1000, sticky: false, crossfade_ms: 20, \
     rigid_sink: false, steps: [Stall(P), Advance(50), Resume(P, true), Advance(60)] }",
    "Case { media: Encoded, timeout_ms: 100, restore_ms: 200, sticky: true, crossfade_ms: 0, \
         rigid_sink: false, steps: [Stall(P), Advance(30), Resume(P, false), Advance(30), \
     Eos(S), Advance(20), Eos(P), Advance(5)] }",
];

/// Every known sequence, run once: an invariant that is enforced must hold in its
/// sequence; a gated one is reported (still broken, or kept now and ready to be
/// taken out of [`GATED`]).
#[test]
fn known_sequences() {
    let mut failures = Vec::new();
    for (inv, text) in KNOWN {
        let c = case::parse_case(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let found: Vec<Violation> = Run::new(&c).run(&c);
        let broken: Vec<&Violation> = found.iter().filter(|v| strict(v.inv)).collect();
        if !broken.is_empty() {
            failures.push(format!("{c:?}: {broken:?}"));
        }
        if !strict(*inv) {
            let still = found.iter().any(|v| v.inv == *inv);
            eprintln!(
                "known sequence for gated {}: {}",
                inv.name(),
                if still { "still violated" } else { "kept now" }
            );
        }
    }
    for text in HOLDS {
        let c = case::parse_case(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let found = Run::new(&c).run(&c);
        if !found.is_empty() {
            failures.push(format!("{c:?}: {found:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Replays one case, as a failing run printed it, `FUZZ_REPLAY_RUNS` times (default
/// 20), and prints what each run found (with `FUZZ_VERBOSE=1` or `2`, also the
/// switches and the output):
/// `FUZZ_REPLAY='Case { ... }' cargo test --release --test fuzz replay -- --ignored --nocapture`
#[test]
#[ignore = "replays the case in FUZZ_REPLAY"]
fn replay() {
    let text = std::env::var("FUZZ_REPLAY").expect("FUZZ_REPLAY='Case { ... }'");
    let c = case::parse_case(&text).unwrap_or_else(|e| panic!("cannot read the case: {e}"));
    let runs: usize = std::env::var("FUZZ_REPLAY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut found = BTreeMap::new();
    for _ in 0..runs {
        for v in Run::new(&c).run(&c) {
            found.entry(v.inv.name()).or_insert((0, v.detail)).0 += 1;
        }
    }
    eprintln!("replay of {c:?}, {runs} runs:");
    for (name, (n, first)) in &found {
        eprintln!("  {name}: {n} violations; first: {first}");
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Shared helpers for the failoverswitch tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_check::Harness;

pub mod av;
pub mod files;
pub mod task;

pub const RAW_CAPS: &str = "audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=1";
const PRIMARY_VALUE: f32 = 0.25;
const SECONDARY_VALUE: f32 = -0.25;

pub fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstfailover::plugin_register_static().unwrap();
    });
}

/// Sets properties on an element; string values are parsed, so enum nicks work
/// (`("mode", "sticky".to_value())`).
pub fn set_props(element: &gst::Element, props: &[(&str, gst::glib::Value)]) {
    for (k, v) in props {
        match v.get::<&str>() {
            Ok(text) => element.set_property_from_str(k, text),
            Err(_) => element.set_property_from_value(k, v),
        }
    }
}

/// A harnessed element from `factory` with `props` set, its own bus, and a test
/// clock at 0.
pub fn harness_with_bus(
    factory: &str,
    props: &[(&str, gst::glib::Value)],
) -> (Harness, gst::Element, gst::Bus) {
    init();
    let mut h = Harness::new(factory);
    let element = h.element().unwrap();
    set_props(&element, props);
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    h.use_testclock();
    (h, element, bus)
}

pub fn ms(v: u64) -> u64 {
    v * 1_000_000
}

/// 10 ms of mono F32 at 48 kHz with a constant value.
pub fn audio_buffer(pts_ms: u64, value: f32) -> gst::Buffer {
    let data: Vec<u8> = std::iter::repeat_n(value.to_le_bytes(), 480)
        .flatten()
        .collect();
    let mut b = gst::Buffer::from_mut_slice(data);
    {
        let b = b.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(pts_ms));
        b.set_duration(gst::ClockTime::from_mseconds(10));
    }
    b
}

/// One 20 ms encoded unit.
pub fn encoded_buffer(pts_ms: u64) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(vec![0x5au8; 100]);
    {
        let b = b.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(pts_ms));
        b.set_duration(gst::ClockTime::from_mseconds(20));
    }
    b
}

/// A failoverswitch between two live harnesses sharing one test clock.
pub struct Live {
    pub element: gst::Element,
    pub hp: Harness,
    pub hs: Harness,
    bus: gst::Bus,
    log: Vec<gst::Message>,
    switches_seen: usize,
    /// The switch's timer task: the test takes turns with it.
    timer: task::TaskThread,
}

impl Live {
    pub fn new(props: &[(&str, gst::glib::Value)]) -> Self {
        Self::with_caps(props, RAW_CAPS, RAW_CAPS)
    }

    pub fn with_caps(props: &[(&str, gst::glib::Value)], primary: &str, secondary: &str) -> Self {
        Self::with_caps_in_order(props, primary, secondary, false)
    }

    /// `secondary_first`: the secondary input negotiates before the primary.
    pub fn with_caps_in_order(
        props: &[(&str, gst::glib::Value)],
        primary: &str,
        secondary: &str,
        secondary_first: bool,
    ) -> Self {
        init();
        let element = gst::ElementFactory::make("failoverswitch")
            .name(task::unique_name("fs"))
            .build()
            .unwrap();
        set_props(&element, props);
        let bus = gst::Bus::new();
        element.set_bus(Some(&bus));
        let mut hp = Harness::with_element(&element, Some("primary"), Some("src"));
        let mut hs = Harness::with_element(&element, Some("secondary"), None);
        hp.use_testclock();
        if secondary_first {
            hs.set_src_caps_str(secondary);
            hp.set_src_caps_str(primary);
        } else {
            hp.set_src_caps_str(primary);
            hs.set_src_caps_str(secondary);
        }
        hp.play();
        let timer = task::TaskThread::of(&element, "src");
        timer.find(true).unwrap();
        Self {
            timer,
            element,
            hp,
            hs,
            bus,
            log: Vec::new(),
            switches_seen: 0,
        }
    }

    /// Waits until the switch's timer has acted on what happened (a push, an event,
    /// the clock) and sleeps again.
    pub fn settle(&self) {
        self.timer.settle().unwrap();
    }

    /// Sets the clock to `now_ms`, in turn with the switch's timer: it finishes what
    /// it was doing first and acts on the new time before the test goes on.
    pub fn at(&mut self, now_ms: u64) {
        self.at_ns(ms(now_ms));
    }

    /// [`Live::at`] in nanoseconds.
    pub fn at_ns(&mut self, now: u64) {
        self.settle();
        self.hp
            .set_time(gst::ClockTime::from_nseconds(now))
            .unwrap();
        self.settle();
    }

    /// Sets the clock to `now_ms` and pushes 10 ms of audio on the inputs that are up.
    pub fn tick(&mut self, now_ms: u64, primary: bool, secondary: bool) {
        self.at(now_ms);
        if primary {
            let _ = self.hp.push(audio_buffer(now_ms, PRIMARY_VALUE));
        }
        if secondary {
            let _ = self.hs.push(audio_buffer(now_ms, SECONDARY_VALUE));
        }
        self.settle();
    }

    pub fn tick_encoded(&mut self, now_ms: u64, primary: bool, secondary: bool) {
        self.at(now_ms);
        if primary {
            let _ = self.hp.push(encoded_buffer(now_ms));
        }
        if secondary {
            let _ = self.hs.push(encoded_buffer(now_ms));
        }
        self.settle();
    }

    /// Releases the switch's pending clock wait and waits until it has acted on it
    /// (it then waits on the clock again).
    pub fn crank(&mut self) {
        self.hp.crank_single_clock_wait().unwrap();
        self.hp
            .wait_for_clock_id_waits(1, 60)
            .expect("the switch waits on the clock again");
    }

    pub fn pull_all(&mut self) -> Vec<gst::Buffer> {
        std::iter::from_fn(|| self.hp.try_pull()).collect()
    }

    fn drain_bus(&mut self) {
        while let Some(m) = self.bus.pop() {
            self.log.push(m);
        }
    }

    pub fn element_messages(&mut self, name: &str) -> Vec<gst::Structure> {
        self.drain_bus();
        self.log
            .iter()
            .filter_map(|m| match m.view() {
                gst::MessageView::Element(e) => e
                    .structure()
                    .filter(|s| s.name() == name)
                    .map(|s| s.to_owned()),
                _ => None,
            })
            .collect()
    }

    pub fn switch_messages(&mut self) -> Vec<gst::Structure> {
        self.element_messages("failover-switched")
    }

    pub fn health_messages(&mut self) -> Vec<gst::Structure> {
        self.element_messages("failover-input-health")
    }

    /// New switches since the last call, as (from, to, reason).
    pub fn switches(&mut self) -> Vec<(String, String, String)> {
        let all = self.switch_messages();
        let new = all[self.switches_seen..]
            .iter()
            .map(|s| {
                let f = |k| s.get::<String>(k).unwrap();
                (f("from"), f("to"), f("reason"))
            })
            .collect();
        self.switches_seen = all.len();
        new
    }

    pub fn warnings(&mut self) -> Vec<String> {
        self.drain_bus();
        self.log
            .iter()
            .filter_map(|m| match m.view() {
                gst::MessageView::Warning(w) => Some(w.error().to_string()),
                _ => None,
            })
            .collect()
    }

    pub fn stats(&self) -> gst::Structure {
        self.element.property("stats")
    }
}

pub fn end_of(b: &gst::Buffer) -> u64 {
    (b.pts().unwrap() + b.duration().unwrap()).nseconds()
}

/// Asserts the buffers cover [from_ms, to_ms) with no hole and no overlap, and that
/// every duration matches the sample count.
pub fn assert_continuous(out: &[gst::Buffer], from_ms: u64, to_ms: u64) {
    let pos = assert_continuous_from(out, ms(from_ms));
    assert_eq!(pos, ms(to_ms), "output ends at {pos} ns");
}

/// Asserts the buffers follow each other from `from` (ns) with no hole and no
/// overlap; returns where they end.
pub fn assert_continuous_from(out: &[gst::Buffer], from: u64) -> u64 {
    assert!(!out.is_empty(), "no output");
    let mut pos = from;
    for b in out {
        let pts = b.pts().expect("timestamped").nseconds();
        assert_eq!(pts, pos, "hole or overlap at {pos} ns");
        pos = end_of(b);
    }
    pos
}

pub fn total_frames(out: &[gst::Buffer]) -> usize {
    out.iter().map(|b| b.size() / 4).sum()
}

fn f32_samples(b: &gst::Buffer) -> Vec<f32> {
    let map = b.map_readable().unwrap();
    map.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Mono F32 samples of the buffers starting in [from_ms, to_ms).
pub fn samples_between(out: &[gst::Buffer], from_ms: u64, to_ms: u64) -> Vec<f32> {
    out.iter()
        .filter(|b| (ms(from_ms)..ms(to_ms)).contains(&b.pts().unwrap().nseconds()))
        .flat_map(f32_samples)
        .collect()
}

pub fn assert_values(out: &[gst::Buffer], from_ms: u64, to_ms: u64, value: f32) {
    let s = samples_between(out, from_ms, to_ms);
    assert!(!s.is_empty());
    let frames = ((to_ms - from_ms) * 48) as usize;
    assert_eq!(s.len(), frames, "frames in [{from_ms}, {to_ms}) ms");
    assert!(
        s.iter().all(|&v| v == value),
        "expected {value} in [{from_ms}, {to_ms}) ms"
    );
}

pub fn discont_times(out: &[gst::Buffer]) -> Vec<u64> {
    out.iter()
        .filter(|b| b.flags().contains(gst::BufferFlags::DISCONT))
        .map(|b| b.pts().unwrap().nseconds())
        .collect()
}

/// What reached a pipeline's `sink` and its bus, from PLAYING to EOS.
pub struct Run {
    pub buffers: Vec<gst::Buffer>,
    pub events: Vec<gst::Event>,
    /// Structures of element messages.
    pub messages: Vec<gst::Structure>,
    /// Texts of WARNING messages.
    pub warnings: Vec<String>,
}

impl Run {
    pub fn event_types(&self) -> Vec<gst::EventType> {
        self.events.iter().map(|e| e.type_()).collect()
    }

    pub fn caps(&self) -> Vec<gst::Caps> {
        self.events
            .iter()
            .filter_map(|e| match e.view() {
                gst::EventView::Caps(c) => Some(c.caps_owned()),
                _ => None,
            })
            .collect()
    }

    /// (from, to, reason) of every `failover-switched` message.
    pub fn switches(&self) -> Vec<(String, String, String)> {
        self.messages
            .iter()
            .filter(|s| s.name() == "failover-switched")
            .map(|s| {
                let f = |k| s.get::<String>(k).unwrap();
                (f("from"), f("to"), f("reason"))
            })
            .collect()
    }
}

/// Runs a pipeline with a sink named `sink` to EOS (60 s at most); an ERROR fails the
/// test. `setup` runs on the pipeline before it starts.
pub fn run(pipeline: &gst::Pipeline) -> Run {
    init();
    let pad = pipeline
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap();
    let buffers = Arc::new(Mutex::new(Vec::new()));
    let events = Arc::new(Mutex::new(Vec::new()));
    let (b, e) = (buffers.clone(), events.clone());
    pad.add_probe(
        gst::PadProbeType::BUFFER
            | gst::PadProbeType::BUFFER_LIST
            | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Buffer(buf)) => b.lock().unwrap().push(buf.clone()),
                Some(gst::PadProbeData::BufferList(list)) => {
                    b.lock().unwrap().extend(list.iter_owned());
                }
                Some(gst::PadProbeData::Event(ev)) => e.lock().unwrap().push(ev.clone()),
                _ => (),
            }
            gst::PadProbeReturn::Ok
        },
    );
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let (mut messages, mut warnings) = (Vec::new(), Vec::new());
    let mut collect = |m: &gst::Message| match m.view() {
        gst::MessageView::Error(err) => panic!("error: {err:?}"),
        gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
        gst::MessageView::Element(el) => messages.extend(el.structure().map(|s| s.to_owned())),
        _ => (),
    };
    loop {
        let m = bus
            .timed_pop(gst::ClockTime::from_seconds(60))
            .expect("pipeline finishes");
        if m.type_() == gst::MessageType::Eos {
            break;
        }
        collect(&m);
    }
    // Messages are posted from the streaming threads and may follow the EOS message:
    // READY joins those threads; read the rest before NULL flushes the bus.
    pipeline.set_state(gst::State::Ready).unwrap();
    while let Some(m) = bus.pop() {
        collect(&m);
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let buffers = buffers.lock().unwrap().clone();
    let events = events.lock().unwrap().clone();
    Run {
        buffers,
        events,
        messages,
        warnings,
    }
}

pub fn parse(desc: &str) -> gst::Pipeline {
    init();
    gst::parse::launch(desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap()
}

/// Runs a pipeline with a `fakesink name=sink` to EOS; returns what reached the sink
/// (buffers, event types) and the element messages.
pub fn run_pipeline(desc: &str) -> (Vec<gst::Buffer>, Vec<gst::EventType>, Vec<gst::Structure>) {
    let r = run(&parse(desc));
    let types = r.event_types();
    (r.buffers, types, r.messages)
}

/// Plays a pipeline until EOS or error (30 s at most); returns which.
pub fn run_to_eos(pipeline: &gst::Pipeline) -> gst::MessageType {
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let t = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .map_or(gst::MessageType::Unknown, |m| m.type_());
    pipeline.set_state(gst::State::Null).unwrap();
    t
}

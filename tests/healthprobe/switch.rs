// SPDX-License-Identifier: MPL-2.0
//! `healthprobe ! failoverswitch`: a probe's verdict drives the switch.

use super::*;

/// `healthprobe ! failoverswitch` with one probe per input, in a bin driven by two
/// harnesses on one test clock.
struct ProbedSwitch {
    hp: Harness,
    hs: Harness,
    bus: gst::Bus,
    switch: gst::Element,
}

impl ProbedSwitch {
    fn new() -> Self {
        init();
        let bin = gst::Bin::new();
        let probe = || {
            gst::ElementFactory::make("healthprobe")
                .property("stall-timeout", 0u64)
                .property("interval", 0u64)
                .property("silence-duration", SEC)
                .build()
                .unwrap()
        };
        let (p1, p2) = (probe(), probe());
        let switch = gst::ElementFactory::make("failoverswitch")
            .property("timeout", 500 * MS)
            .property("restore-delay", 2 * SEC)
            .property("crossfade", 0u64)
            .build()
            .unwrap();
        bin.add_many([&p1, &p2, &switch]).unwrap();
        p1.link_pads(Some("src"), &switch, Some("primary")).unwrap();
        p2.link_pads(Some("src"), &switch, Some("secondary"))
            .unwrap();
        let ghost = |name: &str, target: gst::Pad| {
            let g = gst::GhostPad::builder_with_target(&target)
                .unwrap()
                .name(name)
                .build();
            bin.add_pad(&g).unwrap();
        };
        ghost("primary_sink", p1.static_pad("sink").unwrap());
        ghost("secondary_sink", p2.static_pad("sink").unwrap());
        ghost("src", switch.static_pad("src").unwrap());
        let bus = gst::Bus::new();
        bin.set_bus(Some(&bus));
        let mut hp = Harness::with_element(&bin, Some("primary_sink"), Some("src"));
        let mut hs = Harness::with_element(&bin, Some("secondary_sink"), None);
        hp.use_testclock();
        hp.set_src_caps_str("audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=1");
        hs.set_src_caps_str("audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=1");
        hp.play();
        ProbedSwitch {
            hp,
            hs,
            bus,
            switch,
        }
    }

    /// 10 ms of mono F32 with a constant value at `now_ms`, on both inputs.
    fn tick(&mut self, now_ms: u64, primary: f32, secondary: f32) {
        self.hp
            .set_time(gst::ClockTime::from_mseconds(now_ms))
            .unwrap();
        let buf = |v: f32| {
            let data: Vec<u8> = std::iter::repeat_n(v.to_le_bytes(), 480)
                .flatten()
                .collect();
            let mut b = gst::Buffer::from_mut_slice(data);
            let m = b.get_mut().unwrap();
            m.set_pts(gst::ClockTime::from_mseconds(now_ms));
            m.set_duration(gst::ClockTime::from_mseconds(10));
            b
        };
        self.hp.push(buf(primary)).unwrap();
        self.hs.push(buf(secondary)).unwrap();
    }

    /// (running time in ms, from, to, reason) of new `failover-switched` messages.
    fn switches(&self) -> Vec<(u64, String, String, String)> {
        let mut out = Vec::new();
        while let Some(msg) = self.bus.pop_filtered(&[gst::MessageType::Element]) {
            let Some(s) = msg.structure() else { continue };
            if s.name() != "failover-switched" {
                continue;
            }
            let f = |k| s.get::<String>(k).unwrap();
            out.push((
                s.get::<u64>("running-time").unwrap() / MS,
                f("from"),
                f("to"),
                f("reason"),
            ));
        }
        out
    }
}

#[test]
fn failoverswitch_fails_over_on_probe_silence_and_restores() {
    let mut t = ProbedSwitch::new();
    let mut switches = Vec::new();
    let mut out = Vec::new();
    // Primary: tone, digital silence from 2 s to 5 s (still delivering, so the
    // switch's own timeout never fires), tone again from 5 s. Secondary: tone.
    for i in 0..1000u64 {
        let now = i * 10;
        let primary = if (2000..5000).contains(&now) {
            0.0
        } else {
            0.25
        };
        t.tick(now, primary, -0.25);
        switches.extend(t.switches().into_iter().map(|s| (now, s)));
        while let Some(b) = t.hp.try_pull() {
            out.push(b);
        }
    }
    assert_eq!(switches.len(), 2, "{switches:?}");
    let (at, (rt, from, to, reason)) = &switches[0];
    let failover_rt = *rt;
    assert_eq!(
        (from.as_str(), to.as_str(), reason.as_str()),
        ("primary", "secondary", "health")
    );
    // 1 s of silence is complete with the buffer pushed at 2.99 s
    assert_eq!(*at, 2990, "failover came at {at} ms");
    assert!((2990..=3000).contains(rt), "switch running time {rt} ms");
    let (at, (_, from, to, reason)) = &switches[1];
    assert_eq!(
        (from.as_str(), to.as_str(), reason.as_str()),
        ("secondary", "primary", "restored")
    );
    // healthy again with the first tone buffer at 5 s, restored restore-delay later
    assert_eq!(*at, 7000, "restore came at {at} ms");
    let active: gst::Pad = t.switch.property("active-pad");
    assert_eq!(active.name(), "primary");

    // One continuous output: the primary (tone, then its silence) until the
    // failover, the secondary until the restore, the primary again after it.
    let mut pos = 0;
    for b in &out {
        let pts = b.pts().unwrap().nseconds();
        assert_eq!(pts, pos, "hole or overlap at {pos} ns");
        pos = pts + b.duration().unwrap().nseconds();
        let map = b.map_readable().unwrap();
        let first = f32::from_le_bytes([map[0], map[1], map[2], map[3]]);
        let t_ms = pts / MS;
        let expect = if !(2000..7000).contains(&t_ms) {
            0.25
        } else if t_ms < failover_rt {
            0.0
        } else {
            -0.25
        };
        assert_eq!(first, expect, "sample at {} ms", pts / MS);
    }
    assert_eq!(pos, 10 * SEC);
}

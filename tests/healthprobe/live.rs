// SPDX-License-Identifier: MPL-2.0
//! `healthprobe` in a live pipeline measures against the clock: the bitrate is what
//! arrived over the last `window` of clock time, and data far behind the clock is
//! `late`. Not live, it measures over the stream's own timestamps.

use super::*;

/// 20 ms units of a 128 kbit/s stream (320 bytes each).
const UNIT: u64 = 20 * MS;
const UNIT_BYTES: usize = 320;

impl Probe {
    /// Sets the clock to `now` and fires the probe's timers that are due.
    fn advance(&mut self, now: u64) {
        self.h.set_time(gst::ClockTime::from_nseconds(now)).unwrap();
        let clock = self.h.testclock().unwrap();
        while clock.process_next_clock_id().is_some() {}
    }

    /// Unit `k` of the stream (pts `k * 20 ms`) arrives at clock time `now`.
    fn unit_at(&mut self, k: u64, now: u64) {
        self.advance(now);
        self.push(encoded(UNIT_BYTES, k * UNIT, UNIT));
    }
}

/// A 128 kbit/s stream whose units arrive at a quarter of real time (a link
/// throttled to 32 kbit/s): its timestamps say 128 kbit/s, the clock says 32.
#[test]
fn throttled_live_stream_is_low_bitrate_then_late_and_recovers() {
    let mut p = probe(&[
        ("stall-timeout", (2 * SEC).to_value()),
        ("window", SEC.to_value()),
        ("min-bitrate", 96_000u64.to_value()),
        ("interval", 0u64.to_value()),
    ]);
    p.h.set_src_caps_str(AAC);
    let mut verdicts = Vec::new();
    let mut k = 0;
    // Unit k arrives at 80 (k + 1) ms.
    while k < 100
        && !verdicts
            .iter()
            .any(|(_, v): &(u64, HealthVerdict)| v.reason == "late")
    {
        p.unit_at(k, 80 * (k + 1) * MS);
        verdicts.extend(p.verdicts().into_iter().map(|v| (p.now() / MS, v)));
        k += 1;
    }
    let msgs = p.messages();
    assert_eq!(
        verdicts,
        vec![
            // A whole window (1 s) after the first arrival at 80 ms: 13 units
            // arrived within the last second, 33,280 bit/s.
            (1120, verdict(false, "low-bitrate")),
            // Unit k ends at 20 (k + 1) ms and arrives at 80 (k + 1) ms: it is
            // 60 (k + 1) ms behind the clock, more than 2 s from k = 33 on.
            (2720, verdict(false, "late")),
        ]
    );
    assert_eq!(msgs.len(), 2);
    assert_eq!(reason(&msgs[0]), "low-bitrate");
    let bitrate = msgs[0].get::<u64>("bitrate").unwrap();
    assert_eq!(bitrate, 13 * 320 * 8, "bitrate over the clock");
    assert_eq!(reason(&msgs[1]), "late");
    assert!(!msgs[1].get::<bool>("healthy").unwrap());
    let bitrate = msgs[1].get::<u64>("bitrate").unwrap();
    assert!((30_000..=34_000).contains(&bitrate), "{bitrate}");
    assert!(!p.healthy());

    // The link recovers: the backlog comes in at 10x real time (a unit every 2 ms),
    // then the stream runs in real time again.
    let start = p.now();
    let first = k;
    let mut back_at = None;
    while back_at.is_none() && k < first + 200 {
        p.unit_at(k, start + 2 * (k - first + 1) * MS);
        if let Some(v) = p.verdicts().pop() {
            assert_eq!(v, verdict(true, "ok"));
            back_at = Some(p.now());
        }
        k += 1;
    }
    // Unit k ends at 20 (k + 1) ms; it is back once it is at most half of
    // stall-timeout (1 s) behind the clock: j units into the burst, the lag is
    // 2720 + 2 j - 20 (34 + j) = 2040 - 18 j ms <= 1000 ms from j = 58 on.
    assert_eq!(back_at, Some(start + 2 * 58 * MS));
    let msgs = p.messages();
    assert_eq!(reason(&msgs[0]), "ok");
    assert!(msgs[0].get::<u64>("bitrate").unwrap() > 96_000);
    assert!(p.healthy());
    // Catch up with the clock, then real time: no verdict changes any more.
    let mut now = p.now();
    while (k + 1) * UNIT < now {
        now += 2 * MS;
        p.unit_at(k, now);
        k += 1;
    }
    for _ in 0..200 {
        now = now.max((k + 1) * UNIT);
        p.unit_at(k, now);
        k += 1;
    }
    assert!(p.verdicts().is_empty());
    assert!(p.healthy());
}

/// A healthy live stream arriving in real time, in bursts of five units every
/// 100 ms as a network delivers it, is never judged: periodic reports say `ok`
/// with the real bitrate.
#[test]
fn real_time_live_delivery_stays_healthy() {
    let mut p = probe(&[
        ("stall-timeout", SEC.to_value()),
        ("min-bitrate", 96_000u64.to_value()),
        ("interval", SEC.to_value()),
    ]);
    p.h.set_src_caps_str(AAC);
    for burst in 0..100u64 {
        for i in 0..5 {
            p.unit_at(burst * 5 + i, (burst + 1) * 100 * MS);
        }
    }
    assert!(p.verdicts().is_empty());
    let msgs = p.messages();
    assert_eq!(msgs.len(), 10, "one report per second");
    for m in &msgs {
        assert!(m.get::<bool>("healthy").unwrap());
        assert_eq!(reason(m), "ok");
    }
    // From the third second on the window (2 s) is full of real-time data.
    for m in &msgs[2..] {
        let bitrate = m.get::<u64>("bitrate").unwrap();
        assert!((128_000..=136_000).contains(&bitrate), "{bitrate}");
    }
}

/// Live data may arrive as late as upstream's latency without counting as late.
#[test]
fn late_allows_for_the_upstream_latency() {
    let mut p = probe(&[
        ("stall-timeout", SEC.to_value()),
        ("interval", 0u64.to_value()),
    ]);
    p.h.set_upstream_latency(gst::ClockTime::from_mseconds(1500));
    p.h.set_src_caps_str(AAC);
    // Units end 2.38 s before they arrive: 0.88 s beyond the latency. (The first
    // one comes 2.4 s after PLAYING: a stall until then.)
    p.unit_at(0, 2400 * MS);
    assert_eq!(
        p.verdicts(),
        vec![verdict(false, "stall"), verdict(true, "ok")]
    );
    for k in 1..200 {
        p.unit_at(k, k * UNIT + 2400 * MS);
    }
    assert!(p.verdicts().is_empty());
    // A hiccup: unit 200 comes 1.1 s beyond the latency.
    let now = 200 * UNIT + 2620 * MS;
    p.unit_at(200, now);
    assert_eq!(p.verdicts(), vec![verdict(false, "late")]);
    // The backlog follows at once; late until it is at most 0.5 s (half of
    // stall-timeout) beyond the latency: unit k ends at 20 (k + 1) ms, so from
    // 6620 - 1500 - 500 = 20 (k + 1), k = 230.
    for k in 201..230 {
        p.unit_at(k, now);
    }
    assert!(p.verdicts().is_empty());
    p.unit_at(230, now);
    assert_eq!(p.verdicts(), vec![verdict(true, "ok")]);
}

/// Not live (upstream says so), the bitrate is measured over the stream's own
/// timestamps: 4 s of data pushed in a few milliseconds still reads as what its
/// timestamps say, and nothing is late.
#[test]
fn not_live_the_bitrate_is_measured_over_stream_time() {
    init();
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src is-live=false format=time caps=\"{AAC}\" ! \
         healthprobe min-bitrate=64000 window=1000000000 interval=0 ! fakesink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline.by_name("src").unwrap();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    // 2 s at 128 kbit/s, then 2 s at 16 kbit/s
    for k in 0..200u64 {
        let bytes = if k < 100 { UNIT_BYTES } else { 40 };
        let ret: gst::FlowReturn =
            src.emit_by_name("push-buffer", &[&encoded(bytes, k * UNIT, UNIT)]);
        assert_eq!(ret, gst::FlowReturn::Ok);
    }
    let _: gst::FlowReturn = src.emit_by_name("end-of-stream", &[]);
    let mut health = Vec::new();
    loop {
        let m = bus
            .timed_pop(gst::ClockTime::from_seconds(30))
            .expect("the pipeline ends");
        match m.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{e:?}"),
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name() == "health") {
                    health.push(s.to_owned());
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(health.len(), 1, "{health:?}");
    assert_eq!(reason(&health[0]), "low-bitrate");
    let bitrate = health[0].get::<u64>("bitrate").unwrap();
    assert!((16_000..64_000).contains(&bitrate), "{bitrate}");
}

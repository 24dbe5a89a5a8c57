// SPDX-License-Identifier: MPL-2.0
//! A failoverswitch for encoded media between two live harnesses on one test clock,
//! taking turns with the switch's timer (see `task`).

use gst::prelude::*;
use gst_check::Harness;

use super::task::{TaskThread, unique_name};
use super::{init, set_props};

/// A switch with its bus and two harnesses on one test clock (in `bin` if given:
/// groups are per pipeline).
pub struct Switch {
    pub element: gst::Element,
    pub hp: Harness,
    pub hs: Harness,
    pub bus: gst::Bus,
    /// The switch's timer task: the test takes turns with it.
    timer: TaskThread,
}

impl Switch {
    pub fn new(props: &[(&str, gst::glib::Value)], caps: &str, bin: Option<&gst::Bin>) -> Self {
        Self::with_latency(props, caps, bin, 0)
    }

    /// `secondary_latency_ms`: the latency the secondary's upstream reports.
    pub fn with_latency(
        props: &[(&str, gst::glib::Value)],
        caps: &str,
        bin: Option<&gst::Bin>,
        secondary_latency_ms: u64,
    ) -> Self {
        init();
        let element = gst::ElementFactory::make("failoverswitch")
            .name(unique_name("fs"))
            .build()
            .unwrap();
        set_props(&element, props);
        if let Some(bin) = bin {
            bin.add(&element).unwrap();
        }
        let bus = gst::Bus::new();
        element.set_bus(Some(&bus));
        let mut hp = Harness::with_element(&element, Some("primary"), Some("src"));
        let mut hs = Harness::with_element(&element, Some("secondary"), None);
        hp.use_testclock();
        hs.set_upstream_latency(gst::ClockTime::from_mseconds(secondary_latency_ms));
        hp.set_src_caps_str(caps);
        hs.set_src_caps_str(caps);
        let timer = TaskThread::of(&element, "src");
        Self {
            element,
            hp,
            hs,
            bus,
            timer,
        }
    }

    /// Waits until the timer has acted on what happened and sleeps again.
    pub fn settle(&self) {
        self.timer.settle().unwrap();
    }

    /// Sets the clock to `t_ms`, in turn with the switch's timer.
    pub fn at(&mut self, t_ms: u64) {
        self.settle();
        self.hp
            .set_time(gst::ClockTime::from_mseconds(t_ms))
            .unwrap();
        self.settle();
    }

    pub fn messages(&self) -> Vec<gst::Message> {
        std::iter::from_fn(|| self.bus.pop()).collect()
    }

    /// A manual switch to the secondary.
    pub fn switch_to_secondary(&self) {
        let pad = self.element.static_pad("secondary").unwrap();
        self.element.set_property("active-pad", &pad);
        self.settle();
    }
}

impl AsRef<Switch> for Switch {
    fn as_ref(&self) -> &Switch {
        self
    }
}

impl AsMut<Switch> for Switch {
    fn as_mut(&mut self) -> &mut Switch {
        self
    }
}

/// The video and the audio switch of one programme: one group (give `group` in
/// `props`), in one bin (groups are per pipeline), on the video harness's test
/// clock, playing. `make` builds each switch (a fixture wrapping [`Switch`]).
pub struct Group<S> {
    pub video: S,
    pub audio: S,
    clock: gst_check::TestClock,
    _bin: gst::Bin,
}

impl<S: AsRef<Switch> + AsMut<Switch>> Group<S> {
    pub fn new(
        props: &[(&str, gst::glib::Value)],
        video_caps: &str,
        make: impl Fn(&[(&str, gst::glib::Value)], &str, Option<&gst::Bin>) -> S,
    ) -> Self {
        init();
        let bin = gst::Bin::new();
        let mut video = make(props, video_caps, Some(&bin));
        let mut audio = make(props, super::RAW_CAPS, Some(&bin));
        let clock = video.as_mut().hp.testclock().unwrap();
        audio.as_ref().element.set_clock(Some(&clock)).unwrap();
        video.as_mut().hp.play();
        audio.as_mut().hp.play();
        Group {
            video,
            audio,
            clock,
            _bin: bin,
        }
    }

    /// Waits until both timers have acted and sleep again.
    pub fn settle(&self) {
        self.video.as_ref().settle();
        self.audio.as_ref().settle();
    }

    /// Sets the clock to `t_ms`, in turn with both timers.
    pub fn at(&self, t_ms: u64) {
        self.settle();
        self.clock.set_time(gst::ClockTime::from_mseconds(t_ms));
        self.settle();
    }
}

// SPDX-License-Identifier: MPL-2.0
//! GStreamer glue of `loudnessmatch`: pads, properties, events, queries, bus
//! messages and the lookup of the reference element. The signal path lives in
//! `engine.rs` and the modules it uses.

use super::engine::{Engine, Goal, Mode, Params, Report};
use super::meter::Speaker;
use super::pcm::{Pod, samples, to_bytes};
use super::props::{LoudnessMatchMode, Settings};
use super::reference::{Published, RefStatus, ReferenceCache, reference_status};
use super::timeline::Timeline;
use crate::sample_format::SampleFormat;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::{LazyLock, Mutex, MutexGuard};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "loudnessmatch",
        gst::DebugColorFlags::empty(),
        Some("EBU R128 loudness measurement and matching"),
    )
});

#[derive(Default)]
struct State {
    info: Option<gst_audio::AudioInfo>,
    format: Option<SampleFormat>,
    engine: Option<Engine>,
    timeline: Option<Timeline>,
    /// Output frames pushed since the timeline started.
    frames_out: u64,
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    discont: bool,
    /// Last problem with the reference that was warned about.
    ref_problem: Option<String>,
    /// What a downstream `failoverswitch` said last: whether this element's output
    /// is on air (`None`: nobody said; the gain moves as if on air).
    on_air: Option<bool>,
}

pub struct LoudnessMatch {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// This element's gated short-term loudness, read by elements that name this
    /// one as their `reference`.
    published: Published,
    /// Last element found for `reference`, to avoid searching the bin each buffer.
    ref_cache: ReferenceCache,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn speakers(info: &gst_audio::AudioInfo) -> Vec<Speaker> {
    use gst_audio::AudioChannelPosition as P;
    let n = info.channels() as usize;
    let Some(pos) = info.positions().filter(|p| p.len() == n) else {
        return vec![Speaker::Front; n];
    };
    let has_side = pos.iter().any(|p| matches!(p, P::SideLeft | P::SideRight));
    pos.iter()
        .map(|p| match p {
            P::Lfe1 | P::Lfe2 => Speaker::Lfe,
            P::SideLeft
            | P::SideRight
            | P::WideLeft
            | P::WideRight
            | P::SurroundLeft
            | P::SurroundRight => Speaker::Surround,
            P::RearLeft | P::RearRight if has_side => Speaker::Back,
            P::RearLeft | P::RearRight => Speaker::Surround,
            _ => Speaker::Front,
        })
        .collect()
}

fn fmt_db(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "-inf".into()
    }
}

impl LoudnessMatch {
    fn publish(&self, estimate: Option<f64>) {
        self.published.set(estimate);
    }

    /// The mode written last (in effect from the next buffer).
    pub(super) fn mode(&self) -> LoudnessMatchMode {
        lock(&self.settings).mode
    }

    /// This element's gated short-term loudness, for elements following it.
    pub(super) fn published_estimate(&self) -> Option<f64> {
        self.published.get()
    }

    fn reference_status(&self, name: Option<&str>) -> RefStatus {
        reference_status(&self.obj(), &self.ref_cache, name)
    }

    fn build_message(
        &self,
        r: &Report,
        pts: Option<gst::ClockTime>,
        state: &State,
    ) -> gst::Message {
        let mut s = gst::Structure::builder("loudness")
            .field("momentary", r.reading.momentary)
            .field("short-term", r.reading.short_term)
            .field("integrated", r.reading.integrated)
            .field("loudness-range", r.reading.loudness_range)
            .field("true-peak", r.reading.true_peak)
            .field("gain", r.gain_db)
            .build();
        if let Some(pts) = pts {
            s.set("timestamp", pts);
            if let Some(rt) = state
                .segment
                .as_ref()
                .and_then(|seg| seg.to_running_time(pts))
            {
                s.set("running-time", rt);
            }
        }
        gst::message::Element::builder(s).src(&*self.obj()).build()
    }

    fn make_buffer<T: Pod>(
        state: &mut State,
        frames: &[T],
        channels: usize,
    ) -> Option<gst::Buffer> {
        let n = frames.len() / channels.max(1);
        if n == 0 {
            return None;
        }
        let mut buf = gst::Buffer::from_mut_slice(to_bytes(frames));
        {
            let b = buf.get_mut()?;
            if let Some(tl) = state.timeline.as_mut() {
                let pts = tl.pts_of(state.frames_out);
                b.set_pts(pts.map(gst::ClockTime::from_nseconds));
                b.set_duration(gst::ClockTime::from_nseconds(tl.duration_of(n as u64)));
            }
            if std::mem::take(&mut state.discont) {
                b.set_flags(gst::BufferFlags::DISCONT);
            }
        }
        state.frames_out += n as u64;
        Some(buf)
    }

    fn goal(settings: &Settings, status: &Option<RefStatus>) -> Goal {
        match settings.mode {
            LoudnessMatchMode::Normalize => Goal::Absolute(settings.target),
            LoudnessMatchMode::Measure => Goal::Unity,
            LoudnessMatchMode::Match => match status {
                Some(RefStatus::Usable(v)) => Goal::Follow(*v),
                _ => Goal::Unity,
            },
        }
    }

    /// Drain the limiter into a buffer (before EOS, gaps, new segments or caps,
    /// and discontinuities).
    fn drain(&self, state: &mut State, goal: Goal) -> Option<gst::Buffer> {
        let fmt = state.format?;
        let mut engine = state.engine.take()?;
        let ch = engine.channels();
        let buf = match fmt {
            SampleFormat::F32 => {
                let mut out = Vec::<f32>::new();
                engine.drain(goal, &mut out);
                Self::make_buffer(state, &out, ch)
            }
            SampleFormat::F64 => {
                let mut out = Vec::<f64>::new();
                engine.drain(goal, &mut out);
                Self::make_buffer(state, &out, ch)
            }
            SampleFormat::S16 => {
                let mut out = Vec::<i16>::new();
                engine.drain(goal, &mut out);
                Self::make_buffer(state, &out, ch)
            }
            SampleFormat::S32 => {
                let mut out = Vec::<i32>::new();
                engine.drain(goal, &mut out);
                Self::make_buffer(state, &out, ch)
            }
        };
        state.engine = Some(engine);
        buf
    }

    fn drain_and_push(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = lock(&self.settings).clone();
        let status = (settings.mode == LoudnessMatchMode::Match)
            .then(|| self.reference_status(settings.reference.as_deref()));
        let goal = Self::goal(&settings, &status);
        let buf = {
            let mut state = lock(&self.state);
            self.drain(&mut state, goal)
        };
        match buf {
            Some(b) => self.srcpad.push(b),
            None => Ok(gst::FlowSuccess::Ok),
        }
    }

    fn run<T: Pod>(
        &self,
        state: &mut State,
        bytes: &[u8],
        goal: Goal,
        params: &Params,
        reports: &mut Vec<Report>,
    ) -> Option<gst::Buffer> {
        let data = samples::<T>(bytes);
        let mut engine = state.engine.take()?;
        let mut out = Vec::<T>::new();
        engine.process(&data, goal, params, &mut out, reports);
        let ch = engine.channels();
        let shaping = engine.mode() != Mode::Measure;
        self.publish(engine.estimate());
        state.engine = Some(engine);
        if shaping {
            Self::make_buffer(state, &out, ch)
        } else {
            None
        }
    }

    fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = lock(&self.settings).clone();
        let status = (settings.mode == LoudnessMatchMode::Match)
            .then(|| self.reference_status(settings.reference.as_deref()));
        let goal = Self::goal(&settings, &status);
        let mut params = settings.params();

        let mut reports = Vec::new();
        let mut warn = None;
        let bound_hit;
        let latency_changed;
        let mut out = Vec::with_capacity(2);
        let shaping;
        let (pts, rate) = {
            let mut state = lock(&self.state);
            let (Some(info), Some(fmt)) = (state.info.clone(), state.format) else {
                drop(state);
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    ("No caps before the first buffer")
                );
                return Err(gst::FlowError::NotNegotiated);
            };
            match (&status, &state.ref_problem) {
                (Some(RefStatus::Problem(p)), last) if last.as_ref() != Some(p) => {
                    state.ref_problem = Some(p.clone());
                    warn = Some(p.clone());
                }
                (Some(RefStatus::Usable(_)), Some(_)) => {
                    gst::info!(CAT, imp = self, "reference is usable again");
                    state.ref_problem = None;
                }
                _ => {}
            }
            latency_changed = self.apply_mode(&mut state, settings.mode.into(), goal, &mut out);
            params.standby = state.on_air == Some(false);
            shaping = state
                .engine
                .as_ref()
                .is_some_and(|e| e.mode() != Mode::Measure);
            if shaping && buffer.flags().contains(gst::BufferFlags::DISCONT) {
                gst::debug!(CAT, imp = self, "discontinuity: draining the limiter");
                if let Some(b) = self.drain(&mut state, goal) {
                    out.push(b);
                }
                state.discont = true;
            }
            let pts = buffer.pts();
            let bpf = info.bpf() as usize;
            let map = buffer.map_readable().map_err(|_| {
                gst::error!(CAT, imp = self, "cannot map buffer");
                gst::FlowError::Error
            })?;
            let bytes = map.as_slice();
            if bpf == 0 || bytes.len() % bpf != 0 {
                gst::debug!(
                    CAT,
                    imp = self,
                    "buffer of {} bytes is not a whole number of {bpf}-byte frames; ignoring the rest",
                    bytes.len()
                );
            }
            let frames = bytes.len() / bpf.max(1);
            let bytes = &bytes[..frames * bpf];
            if let Some(tl) = state.timeline.as_mut().filter(|_| shaping) {
                tl.push(pts.map(|p| p.nseconds()), frames as u64);
            }
            let res = match fmt {
                SampleFormat::F32 => {
                    self.run::<f32>(&mut state, bytes, goal, &params, &mut reports)
                }
                SampleFormat::F64 => {
                    self.run::<f64>(&mut state, bytes, goal, &params, &mut reports)
                }
                SampleFormat::S16 => {
                    self.run::<i16>(&mut state, bytes, goal, &params, &mut reports)
                }
                SampleFormat::S32 => {
                    self.run::<i32>(&mut state, bytes, goal, &params, &mut reports)
                }
            };
            out.extend(res);
            bound_hit = state.engine.as_mut().and_then(|e| e.take_bound_hit());
            (pts, info.rate())
        };

        if let Some(w) = warn {
            gst::element_imp_warning!(
                self,
                gst::LibraryError::Settings,
                ("{}; passing audio through unchanged", w)
            );
        }
        if let Some(hit) = bound_hit {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", hit.describe()));
        }
        if latency_changed {
            let _ = self
                .obj()
                .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        }
        self.post_reports(&reports, pts, rate);

        for b in out {
            self.srcpad.push(b)?;
        }
        if shaping {
            Ok(gst::FlowSuccess::Ok)
        } else {
            self.srcpad.push(buffer)
        }
    }

    /// Puts a `mode` written while streaming into effect (called for each buffer):
    /// drains the limiter into `out` when shaping stops, starts the timeline afresh
    /// when it starts. Returns whether the latency changed.
    fn apply_mode(
        &self,
        state: &mut State,
        mode: Mode,
        goal: Goal,
        out: &mut Vec<gst::Buffer>,
    ) -> bool {
        let Some(old) = state.engine.as_ref().map(|e| e.mode()) else {
            return false;
        };
        if old == mode {
            return false;
        }
        gst::info!(
            CAT,
            imp = self,
            "mode {old:?} -> {mode:?} from this buffer on"
        );
        if old != Mode::Measure {
            out.extend(self.drain(state, goal));
        }
        if let Some(e) = state.engine.as_mut() {
            e.set_mode(mode);
        }
        if old == Mode::Measure {
            if let Some(tl) = state.timeline.as_mut() {
                tl.clear();
            }
            state.frames_out = 0;
        }
        (old == Mode::Measure) != (mode == Mode::Measure)
    }

    fn post_reports(&self, reports: &[Report], pts: Option<gst::ClockTime>, rate: u32) {
        if reports.is_empty() {
            return;
        }
        let msgs: Vec<gst::Message> = {
            let state = lock(&self.state);
            reports
                .iter()
                .map(|r| {
                    let at = pts.map(|p| {
                        p + gst::ClockTime::from_nseconds(
                            ((r.frame as u128 * 1_000_000_000u128 + rate as u128 / 2)
                                / rate.max(1) as u128) as u64,
                        )
                    });
                    gst::log!(
                        CAT,
                        imp = self,
                        "M {} S {} I {} LRA {:.1} TP {} gain {:.2}",
                        fmt_db(r.reading.momentary),
                        fmt_db(r.reading.short_term),
                        fmt_db(r.reading.integrated),
                        r.reading.loudness_range,
                        fmt_db(r.reading.true_peak),
                        r.gain_db
                    );
                    self.build_message(r, at, &state)
                })
                .collect()
        };
        for m in msgs {
            let _ = self.obj().post_message(m);
        }
    }

    fn set_caps(&self, caps: &gst::CapsRef) -> bool {
        let Ok(info) = gst_audio::AudioInfo::from_caps(caps) else {
            gst::warning!(CAT, imp = self, "invalid caps {caps}");
            return false;
        };
        let Some(format) = SampleFormat::from_gst(info.format()) else {
            gst::warning!(CAT, imp = self, "unsupported format {:?}", info.format());
            return false;
        };
        let settings = lock(&self.settings).clone();
        let params = settings.params();
        let mut state = lock(&self.state);
        if state.info.as_ref() == Some(&info) {
            return true;
        }
        let spk = speakers(&info);
        gst::debug!(CAT, imp = self, "caps {caps}, channel roles {spk:?}");
        // A mode written since the last buffer takes effect at the next one (see
        // apply_mode), so the new engine starts in the mode the old one had.
        let mode = state
            .engine
            .as_ref()
            .map_or(settings.mode.into(), |e| e.mode());
        let mut engine = Engine::new(mode, info.rate(), &spk, &params);
        if let Some(old) = state.engine.as_ref() {
            engine.carry_gain_from(old);
        }
        state.engine = Some(engine);
        state.format = Some(format);
        state.timeline = Some(Timeline::new(info.rate()));
        state.frames_out = 0;
        state.info = Some(info);
        self.publish(None);
        true
    }

    fn post_final_report(&self) {
        let (report, interval) = {
            let state = lock(&self.state);
            let Some(e) = state.engine.as_ref() else {
                return;
            };
            (
                Report {
                    frame: 0,
                    reading: e.reading(),
                    gain_db: e.gain_db(),
                },
                lock(&self.settings).interval,
            )
        };
        if interval > 0 {
            let msg = {
                let state = lock(&self.state);
                self.build_message(&report, None, &state)
            };
            let _ = self.obj().post_message(msg);
        }
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        gst::log!(CAT, obj = pad, "event {:?}", event.type_());
        match event.view() {
            EventView::Caps(c) => {
                let same = gst_audio::AudioInfo::from_caps(c.caps())
                    .is_ok_and(|i| lock(&self.state).info.as_ref() == Some(&i));
                if !same && self.drain_and_push().is_err() {
                    gst::debug!(CAT, imp = self, "downstream refused the drained audio");
                }
                if !self.set_caps(c.caps()) {
                    return false;
                }
                self.srcpad.push_event(event)
            }
            EventView::Segment(s) => {
                let _ = self.drain_and_push();
                let seg = s.segment().clone().downcast::<gst::ClockTime>().ok();
                if seg.is_none() {
                    gst::warning!(CAT, imp = self, "segment is not in TIME format");
                }
                lock(&self.state).segment = seg;
                self.srcpad.push_event(event)
            }
            EventView::Gap(_) => {
                let _ = self.drain_and_push();
                lock(&self.state).discont = true;
                self.srcpad.push_event(event)
            }
            EventView::Eos(_) => {
                let _ = self.drain_and_push();
                self.post_final_report();
                self.srcpad.push_event(event)
            }
            EventView::FlushStop(_) => {
                self.reset_stream();
                self.srcpad.push_event(event)
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    /// Forget the stream position and measurements (flush).
    fn reset_stream(&self) {
        let params = lock(&self.settings).params();
        let mut state = lock(&self.state);
        if let Some(e) = state.engine.as_mut() {
            e.reset(&params);
        }
        if let Some(tl) = state.timeline.as_mut() {
            tl.clear();
        }
        state.frames_out = 0;
        state.discont = true;
        drop(state);
        self.publish(None);
    }

    fn latency_frames_ns(&self) -> u64 {
        let state = lock(&self.state);
        match (state.engine.as_ref(), state.info.as_ref()) {
            (Some(e), Some(info)) => {
                (e.latency_frames() as u128 * 1_000_000_000u128 / info.rate().max(1) as u128) as u64
            }
            _ => {
                // not negotiated yet: the largest look-ahead over the allowed rates
                if lock(&self.settings).mode == LoudnessMatchMode::Measure {
                    0
                } else {
                    (super::limiter::delay_frames(8000) as u64 * 1_000_000_000).div_ceil(8000)
                }
            }
        }
    }

    fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        if let Some(on_air) = crate::on_air_event::parse_event(&event) {
            let was = lock(&self.state).on_air.replace(on_air);
            if was != Some(on_air) {
                gst::debug!(
                    CAT,
                    imp = self,
                    "{}: the gain {}",
                    if on_air { "on air" } else { "standby" },
                    if on_air {
                        "moves at gain-rate"
                    } else {
                        "goes to its goal at once"
                    }
                );
            }
        }
        // Upstream elements may care too: pass every event on.
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Latency(q) => {
                if !self.sinkpad.peer_query(q.query_mut()) {
                    return false;
                }
                let (live, min, max) = q.result();
                let add = gst::ClockTime::from_nseconds(self.latency_frames_ns());
                q.set(live, min + add, max.map(|m| m + add));
                gst::debug!(
                    CAT,
                    imp = self,
                    "latency: ours {add}, total min {}",
                    min + add
                );
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for LoudnessMatch {
    const NAME: &'static str = "GstLoudnessMatch";
    type Type = super::LoudnessMatch;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").expect("sink template");
        let sinkpad = gst::Pad::builder_from_template(&templ)
            .chain_function(|_pad, parent, buffer| {
                LoudnessMatch::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(buffer),
                )
            })
            .event_function(|pad, parent, event| {
                LoudnessMatch::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        let templ = klass.pad_template("src").expect("src template");
        let srcpad = gst::Pad::builder_from_template(&templ)
            .event_function(|pad, parent, event| {
                LoudnessMatch::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_event(pad, event),
                )
            })
            .query_function(|pad, parent, query| {
                LoudnessMatch::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_query(pad, query),
                )
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        LoudnessMatch {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            published: Published::default(),
            ref_cache: ReferenceCache::default(),
        }
    }
}

impl ObjectImpl for LoudnessMatch {
    fn properties() -> &'static [glib::ParamSpec] {
        super::props::properties()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        match pspec.name() {
            "mode" => {
                let mode = value.get::<LoudnessMatchMode>().unwrap_or(s.mode);
                if mode != s.mode && self.obj().current_state() > gst::State::Ready {
                    gst::info!(
                        CAT,
                        imp = self,
                        "mode {mode:?}: takes effect at the next buffer"
                    );
                }
                s.mode = mode;
            }
            "reference" => {
                s.reference = value.get().ok().flatten();
            }
            "target-loudness" => s.target = value.get().unwrap_or(s.target),
            "max-gain" => s.max_gain = value.get().unwrap_or(s.max_gain),
            "min-gain" => s.min_gain = value.get().unwrap_or(s.min_gain),
            "gain-rate" => s.gain_rate = value.get().unwrap_or(s.gain_rate),
            "true-peak-limit" => s.true_peak_limit = value.get().unwrap_or(s.true_peak_limit),
            "interval" => s.interval = value.get().unwrap_or(s.interval),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
        let params = s.params();
        drop(s);
        if let Some(e) = lock(&self.state).engine.as_mut() {
            e.set_params(&params);
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "mode" => s.mode.to_value(),
            "reference" => s.reference.to_value(),
            "target-loudness" => s.target.to_value(),
            "max-gain" => s.max_gain.to_value(),
            "min-gain" => s.min_gain.to_value(),
            "gain-rate" => s.gain_rate.to_value(),
            "true-peak-limit" => s.true_peak_limit.to_value(),
            "interval" => s.interval.to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).expect("add sink pad");
        obj.add_pad(&self.srcpad).expect("add src pad");
    }
}

impl GstObjectImpl for LoudnessMatch {}

impl ElementImpl for LoudnessMatch {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static M: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Loudness match",
                "Filter/Effect/Audio",
                "Measures loudness per EBU R128 / ITU-R BS.1770-4 and steers a smooth gain, \
                 with a true-peak limiter, to a target loudness or to the loudness of \
                 another loudnessmatch",
                "gst-plugin-failover developers",
            )
        });
        Some(&*M)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_audio::AudioCapsBuilder::new_interleaved()
                .format_list(SampleFormat::ALL.map(SampleFormat::to_gst))
                .rate_range(8000..=192_000)
                .channels_range(1..=8)
                .build();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("src template"),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("sink template"),
            ]
        });
        T.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            *lock(&self.state) = State::default();
            self.publish(None);
        }
        let ret = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady {
            *lock(&self.state) = State::default();
            self.publish(None);
            self.ref_cache.clear();
        }
        Ok(ret)
    }
}

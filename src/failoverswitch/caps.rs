// SPDX-License-Identifier: MPL-2.0
//! Caps of `failoverswitch`: negotiation (what the sink pads answer to caps and
//! accept-caps queries), fixing the output caps and following the active input's
//! refinements, and enforcing compatibility (the rules themselves are in the pure
//! `capscheck` module; this file turns caps into its descriptions).
//!
//! - Until the output caps are fixed, a sink pad's caps query answers with what
//!   downstream accepts. The first active input to negotiate fixes them; from then on
//!   the sink pads answer with the output format first (its defining fields only), so
//!   converters in front of an input convert to it. The other input is asked to
//!   renegotiate (RECONFIGURE) when the output caps are fixed after it negotiated.
//! - A rigid upstream that cannot produce the output format still negotiates (it is
//!   offered what downstream accepts): it is refused with a WARNING, never with a
//!   pipeline error.
//! - Until data has gone out for `timeout`, an input that fails hands the format over
//!   to the other input, so garbage on the primary cannot decide it for good.

use gst::prelude::*;

use super::capscheck::{self, CapsDesc, Kind};
use super::imp::CAT;
use super::imp::FailoverSwitch;
use super::policy::Input;
use super::state::{Note, RawFormat, State};
use super::timeline::SampleClock;
use crate::sample_format::SampleFormat;

/// Reduces caps to the description the compatibility check works on, with the
/// defaults GStreamer implies filled in (a stereo stream without a channel-mask has
/// the default mask 0x3; raw video without pixel-aspect-ratio has 1/1).
pub(super) fn describe(caps: &gst::CapsRef) -> Option<CapsDesc> {
    let s = caps.structure(0)?;
    let media_type = s.name().to_string();
    let kind = Kind::of(&media_type);
    let mut fields: Vec<(String, String)> = s
        .iter()
        .map(|(k, v)| {
            let text = v
                .serialize()
                .map(|g| g.to_string())
                .unwrap_or_else(|_| format!("{v:?}"));
            (k.to_string(), text)
        })
        .collect();
    let mut set = |name: &str, value: String| {
        match fields.iter_mut().find(|(k, _)| k == name) {
            Some(f) => f.1 = value,
            None => fields.push((name.to_string(), value)),
        };
    };
    match kind {
        Kind::RawAudio => {
            let channels = s.get::<i32>("channels").unwrap_or(0).max(0) as u32;
            let mask = s
                .get::<gst::Bitmask>("channel-mask")
                .map(|m| m.0)
                .ok()
                .filter(|&m| m != 0 || channels > 2)
                .unwrap_or_else(|| default_mask(channels));
            set("channel-mask", format!("{mask:#x}"));
            if s.get::<&str>("layout").is_err() {
                set("layout", "interleaved".into());
            }
        }
        Kind::RawVideo => {
            if !s.has_field("pixel-aspect-ratio") {
                set("pixel-aspect-ratio", "1/1".into());
            }
            if !s.has_field("interlace-mode") {
                set("interlace-mode", "progressive".into());
            }
        }
        Kind::Encoded => {}
    }
    Some(CapsDesc { media_type, fields })
}

/// The channel mask GStreamer assumes for `channels` channels without one (mono has
/// no position).
fn default_mask(channels: u32) -> u64 {
    if channels <= 1 {
        return 0;
    }
    gst_audio::AudioChannelPosition::fallback_mask(channels)
}

/// The output format for upstream negotiation: the output caps with only the fields
/// that define the format (no bitrate, level, codec_data...), so that any encoder or
/// converter of the same format fits.
pub(super) fn template(caps: &gst::CapsRef) -> gst::Caps {
    let mut t = caps.to_owned();
    if let Some(s) = t.make_mut().structure_mut(0) {
        let kind = Kind::of(s.name().as_str());
        let drop: Vec<String> = s
            .fields()
            .filter(|f| !kind.defines(f))
            .map(|f| f.to_string())
            .collect();
        for f in drop {
            s.remove_field(&f);
        }
        // Mono and stereo streams often come without a mask: leave it out so both
        // kinds negotiate.
        let channels = s.get::<i32>("channels").unwrap_or(0);
        if kind == Kind::RawAudio && channels <= 2 {
            s.remove_field("channel-mask");
        }
    }
    t
}

/// Raw audio description of caps, if they are interleaved raw audio (other media is
/// never handed to the audio parser, which logs an error for them).
pub(super) fn raw_format(caps: &gst::CapsRef) -> Option<RawFormat> {
    if caps.structure(0)?.name() != "audio/x-raw" {
        return None;
    }
    let info = gst_audio::AudioInfo::from_caps(caps).ok()?;
    if info.layout() != gst_audio::AudioLayout::Interleaved || info.bpf() == 0 {
        return None;
    }
    let sample = SampleFormat::from_gst(info.format());
    Some(RawFormat { info, sample })
}

impl State {
    /// The output takes `input`'s caps (first fix, hand-over, or caps-check=none).
    pub(super) fn fix_output_caps(&mut self, input: Input, now: u64) {
        let Some(caps) = self.pad(input).caps.clone() else {
            return;
        };
        self.out.desc = describe(&caps);
        self.out.raw = raw_format(&caps);
        self.out.caps = Some(caps);
        self.out.fixed_by = Some(input);
        self.out.caps_pending = true;
        if let Some(pos) = self.out.pos {
            // The sample clock counts frames at the output rate.
            self.out.clock = SampleClock::new(pos);
        }
        if self.follow_caps() {
            return;
        }
        self.check_caps(input, false, now);
        let other = input.other();
        if self.pad(other).caps.is_some() {
            self.check_caps(other, true, now);
            if self.pad(other).health.caps_mismatch {
                self.outbox.push(Note::Reconfigure(other));
            }
        }
    }

    /// caps-check=strict: an input whose caps differ from the output's in a defining
    /// field is refused until they match. `deferred`: upstream is asked to
    /// renegotiate first, so the WARNING waits for data that still has them.
    pub(super) fn check_caps(&mut self, input: Input, deferred: bool, now: u64) {
        if self.follow_caps() {
            return;
        }
        let (Some(out), Some(desc)) = (&self.out.desc, &self.pad(input).desc) else {
            return;
        };
        let diffs = capscheck::differences(out, desc);
        let mismatch = !diffs.is_empty();
        let grace = self.settings.timeout.max(RENEGOTIATION_GRACE);
        let p = &mut self.pads[input.index()];
        p.mismatch_report_after =
            (mismatch && deferred).then(|| p.position.map(|pos| pos.saturating_add(grace)));
        // Its own caps do not fit the format it was offered: it cannot convert.
        p.convertible = if deferred { None } else { Some(!mismatch) };
        if mismatch {
            p.held.clear();
            // A standby waiting with that data must look again.
            self.wake = true;
            if !deferred {
                let text = mismatch_warning(input, &capscheck::describe(&diffs));
                self.outbox.push(Note::Warning(text));
            }
        }
        self.set_flag(input, now, |h| h.caps_mismatch = mismatch);
    }

    /// Whether the input's upstream can produce the output format has been asked: a
    /// rigid one is reported at its next data rather than after the grace time.
    pub(super) fn set_convertible(&mut self, input: Input, convertible: bool) {
        let p = self.pad_mut(input);
        p.convertible = Some(convertible);
        if !convertible && p.mismatch_report_after.is_some() {
            p.mismatch_report_after = Some(Some(0));
        }
    }

    /// Data of an input refused for its caps arrived, starting at running time
    /// `start`: report the mismatch if that was deferred and upstream had time to
    /// renegotiate.
    pub(super) fn report_mismatch(&mut self, input: Input, start: u64) {
        let grace = self.settings.timeout.max(RENEGOTIATION_GRACE);
        let p = self.pad_mut(input);
        let Some(after) = p.mismatch_report_after.as_mut() else {
            return;
        };
        if start < *after.get_or_insert(start.saturating_add(grace)) {
            return;
        }
        p.mismatch_report_after = None;
        if let (Some(out), Some(desc)) = (&self.out.desc, &self.pad(input).desc) {
            let text = mismatch_warning(
                input,
                &capscheck::describe(&capscheck::differences(out, desc)),
            );
            self.outbox.push(Note::Warning(text));
        }
    }

    /// New caps on an input (a first negotiation or a refinement).
    pub(super) fn caps_changed(
        &mut self,
        input: Input,
        caps: gst::Caps,
        now: u64,
        downstream_ok: bool,
    ) {
        let active = self.active == Some(input);
        {
            let p = self.pad_mut(input);
            if !active && p.caps.as_ref() != Some(&caps) {
                // What a standby holds was sent under its old caps.
                p.dropped += p.held.len() as u64;
                p.held.clear();
            }
            p.raw = raw_format(&caps).map(|r| (r.info.rate(), r.info.bpf() as usize));
            p.desc = describe(&caps);
            p.caps = Some(caps.clone());
        }
        self.outbox.push(Note::OnAir(input, active));
        if self.follow_caps() {
            return;
        }
        if !downstream_ok {
            // Downstream refuses this format: the input cannot carry the output.
            self.outbox.push(Note::Warning(format!(
                "{} input caps are not accepted downstream ({caps}); its data is dropped until they change",
                input.name()
            )));
            self.pad_mut(input).held.clear();
            self.set_flag(input, now, |h| h.caps_mismatch = true);
            return;
        }
        if self.out.desc.is_none() {
            if self.active == Some(input) {
                self.fix_output_caps(input, now);
            }
            return;
        }
        self.check_caps(input, false, now);
        // The active input's refinements (a parser adding width or profile) go
        // downstream; a standby's only matter at a switch.
        let p = self.pad(input);
        let news = match (&self.out.desc, &p.desc) {
            (Some(out), Some(new)) => capscheck::refines(out, new),
            _ => false,
        };
        if news && !p.health.caps_mismatch && self.active == Some(input) {
            gst::debug!(CAT, "output caps refined by {}: {caps}", input.name());
            self.out.desc = self.pad(input).desc.clone();
            self.out.caps = Some(caps);
            self.out.caps_pending = true;
        }
    }

    /// Until the output format is confirmed, a failing input hands it over to the
    /// other one if that was refused only for its caps.
    pub(super) fn hand_over_caps(&mut self, now: u64) {
        let Some(fixer) = self.out.fixed_by else {
            return;
        };
        let other = fixer.other();
        if self.pad(fixer).health.is_healthy() || !self.may_take_format(other) {
            return;
        }
        gst::info!(
            CAT,
            "{} failed before its format was settled: the output takes the {}'s caps",
            fixer.name(),
            other.name()
        );
        // The switch is for what made the fixer fail, not for the caps it now has.
        let reason = self.pad(fixer).health.fault();
        self.fix_output_caps(other, now);
        // A fixer whose new caps are the other's format is healthy again: it carries
        // on in that format, no switch.
        let still_failed = !self.pad(fixer).health.is_healthy();
        if let (Some(reason), true) = (reason, self.active == Some(fixer) && still_failed) {
            if self.pad(other).health.is_healthy() && self.settings.auto_switch {
                self.switch(Some(other), reason);
            }
        }
    }

    /// Whether `input`, refused only for its caps, would take the output format over
    /// if the input that fixed it failed: it is rigid (a converter converts
    /// instead), delivers, the format is not settled yet, and the fixer's format is
    /// gone or never went out.
    pub(super) fn may_take_format(&self, input: Input) -> bool {
        let p = self.pad(input);
        let h = &p.health;
        !self.follow_caps()
            && self.out.fixed_by == Some(input.other())
            && h.caps_mismatch
            && !h.eos
            && !h.absent
            && !h.probe_unhealthy
            && !h.timed_out
            && !h.late
            && p.convertible == Some(false)
            && !self.out.confirmed(self.settings.timeout)
            // The fixer's format is gone (its own caps changed: a parser resyncing on
            // garbage) or nothing of it went out: a fixer that just stalls keeps it.
            && (self.pad(input.other()).health.caps_mismatch || self.out.first_pos.is_none())
    }

    /// At a switch to `incoming`: downstream learns its caps where it must (its
    /// decoder configuration travels out of band and differs), or always with
    /// caps-check=none.
    pub(super) fn caps_for_switch(&mut self, incoming: Input) {
        let p = self.pad(incoming);
        let (Some(caps), Some(desc)) = (p.caps.clone(), p.desc.clone()) else {
            return;
        };
        let tell = match &self.out.desc {
            _ if self.follow_caps() => self.out.caps.as_ref() != Some(&caps),
            Some(out) => capscheck::switch_needs_caps(out, &desc),
            None => false,
        };
        if tell {
            self.out.raw = raw_format(&caps);
            self.out.desc = Some(desc);
            self.out.caps = Some(caps);
            self.out.caps_pending = true;
        }
    }
}

/// How long data an upstream sent before it was asked to renegotiate may still
/// arrive with the old caps (queues hold about a second by default).
const RENEGOTIATION_GRACE: u64 = 1_000_000_000;

fn mismatch_warning(input: Input, diffs: &str) -> String {
    format!(
        "{} input caps do not match the output ({diffs}); its data is dropped until it matches",
        input.name()
    )
}

impl FailoverSwitch {
    /// Asks an input to renegotiate the output format, finding out first whether its
    /// upstream can produce it.
    pub(super) fn reconfigure(&self, input: Input) {
        let pad = self.pad_of(input);
        let template = self.lock_state().out.caps.as_ref().map(|c| template(c));
        if let Some(t) = template {
            let convertible = !pad.peer_query_caps(Some(&t)).is_empty();
            gst::debug!(
                CAT,
                obj = pad,
                "asking to renegotiate (convertible: {convertible})"
            );
            let mut st = self.lock_state();
            st.set_convertible(input, convertible);
            let now = st.policy_now(None);
            st.evaluate(now);
            self.release(st);
        }
        let _ = pad.push_event(gst::event::Reconfigure::new());
    }

    /// Caps query on a sink pad.
    pub(super) fn sink_caps(&self, pad: &gst::Pad, filter: Option<&gst::Caps>) -> gst::Caps {
        let fixed = {
            let st = self.lock_state();
            st.out
                .caps
                .as_ref()
                .filter(|_| !st.follow_caps())
                .map(|c| template(c))
        };
        let Some(template) = fixed else {
            return self.srcpad.peer_query_caps(filter);
        };
        // An upstream that can produce the output format (a converter; the filter is
        // what it can produce) is offered only that, so it converts rather than
        // passing its input through.
        let convertible = match filter {
            Some(f) => f.can_intersect(&template),
            None => !pad.peer_query_caps(Some(&template)).is_empty(),
        };
        let answer = if convertible {
            match filter {
                Some(f) => f.intersect_with_mode(&template, gst::CapsIntersectMode::First),
                None => template,
            }
        } else {
            // A rigid upstream negotiates what downstream accepts, and is refused
            // with a warning rather than failing.
            self.srcpad.peer_query_caps(filter)
        };
        gst::log!(CAT, obj = pad, "caps query answer: {answer}");
        answer
    }

    /// Accept-caps on a sink pad.
    pub(super) fn sink_accept_caps(&self, _caps: &gst::Caps) -> bool {
        // Every input's caps are accepted and judged when they arrive: refusing
        // them would fail the input's upstream with not-negotiated and stop the
        // pipeline. An input whose caps do not fit is refused with a WARNING.
        true
    }

    /// Caps query on the source pad: the output caps once fixed, else what either
    /// input can produce.
    pub(super) fn src_caps(&self, filter: Option<&gst::Caps>) -> gst::Caps {
        let out = self.lock_state().out.caps.clone();
        let caps = match out {
            Some(c) => c,
            None => {
                let mut a = self.primary.peer_query_caps(filter);
                a.merge(self.secondary.peer_query_caps(filter));
                a
            }
        };
        match filter {
            Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
            None => caps,
        }
    }

    /// A caps event on an input.
    pub(super) fn on_caps(&self, pad: &gst::Pad, input: Input, caps: gst::Caps) {
        self.ensure_live(pad, input, true);
        let clock_now = self.clock_now();
        // Asked with no lock held: would downstream take them at all?
        let downstream_ok = self.srcpad.peer_query_accept_caps(&caps);
        let mut st = self.lock_state();
        gst::debug!(
            CAT,
            obj = pad,
            "caps {caps} (downstream accepts: {downstream_ok})"
        );
        let now = st.policy_now(clock_now);
        st.caps_changed(input, caps, now, downstream_ok);
        st.evaluate(now);
        self.release(st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(s: &str) -> gst::Caps {
        gst::init().unwrap();
        s.parse().unwrap()
    }

    #[test]
    fn stereo_without_a_mask_equals_the_default_mask() {
        let a = describe(&caps(
            "audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=2",
        ))
        .unwrap();
        let b = describe(&caps(
            "audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=2,channel-mask=(bitmask)0x3",
        ))
        .unwrap();
        assert!(capscheck::differences(&a, &b).is_empty(), "{a:?} {b:?}");
        let mono = describe(&caps("audio/x-raw,format=F32LE,rate=48000,channels=1")).unwrap();
        let mono_c = describe(&caps(
            "audio/x-raw,format=F32LE,rate=48000,channels=1,channel-mask=(bitmask)0x0",
        ))
        .unwrap();
        assert!(capscheck::differences(&mono, &mono_c).is_empty());
    }

    #[test]
    fn the_template_keeps_only_defining_fields() {
        let t = template(&caps(
            "video/x-h264,stream-format=avc,alignment=au,level=(string)3,profile=high,codec_data=(buffer)0164,width=640",
        ));
        assert_eq!(
            t.to_string(),
            "video/x-h264, stream-format=(string)avc, alignment=(string)au, profile=(string)high"
        );
        let a = template(&caps(
            "audio/x-raw,format=S16LE,layout=interleaved,rate=44100,channels=2,channel-mask=(bitmask)0x3",
        ));
        assert!(!a.structure(0).unwrap().has_field("channel-mask"));
    }

    #[test]
    fn raw_format_only_for_raw_audio() {
        assert!(raw_format(&caps("video/x-raw,format=I420,width=64,height=64")).is_none());
        assert!(raw_format(&caps("audio/mpeg,mpegversion=4")).is_none());
        let r = raw_format(&caps(
            "audio/x-raw,format=S16LE,layout=interleaved,rate=8000,channels=1",
        ))
        .unwrap();
        assert_eq!(r.sample, Some(SampleFormat::S16));
    }
}

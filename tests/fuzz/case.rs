// SPDX-License-Identifier: MPL-2.0
//! A fuzz case: the setup and the sequence of steps, how proptest generates them,
//! and how a case printed by a failing run (`Case { ... }`) is read back for a
//! replay (`FUZZ_REPLAY`).

use proptest::prelude::*;

use super::model::{CapsKind, Media};
use super::rig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    P,
    S,
}

impl In {
    pub fn index(self) -> usize {
        match self {
            In::P => rig::PRIMARY,
            In::S => rig::SECONDARY,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Step {
    /// The clock moves on by this many 10 ms slots; flowing inputs deliver.
    Advance(u16),
    Stall(In),
    /// Data again: at the live edge (true) or where it stopped (late).
    Resume(In, bool),
    Eos(In),
    /// Stream-start, caps and segment after EOS, data from the live edge.
    NewStream(In),
    Flush(In),
    Caps(In, CapsKind),
    /// Timestamps jump by this many units (negative: back).
    Skew(In, i8),
    /// Raw audio: digital silence from now on (or not).
    Silence(In, bool),
    /// `active-pad` written.
    Manual(In),
    /// A `failover-health` event on the secondary.
    Health(bool),
    Pause,
    Play,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub media: Media,
    pub timeout_ms: u64,
    pub restore_ms: u64,
    pub sticky: bool,
    pub crossfade_ms: u64,
    /// Downstream accepts only the output's first caps (else anything).
    pub rigid_sink: bool,
    pub steps: Vec<Step>,
}

fn input() -> impl Strategy<Value = In> {
    prop_oneof![Just(In::P), Just(In::S)]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (1u16..=60).prop_map(Step::Advance),
        2 => input().prop_map(Step::Stall),
        2 => (input(), any::<bool>()).prop_map(|(i, e)| Step::Resume(i, e)),
        1 => input().prop_map(Step::Eos),
        1 => input().prop_map(Step::NewStream),
        1 => input().prop_map(Step::Flush),
        1 => (input(), prop_oneof![
            Just(CapsKind::Normal),
            Just(CapsKind::Compatible),
            Just(CapsKind::Incompatible)
        ])
            .prop_map(|(i, k)| Step::Caps(i, k)),
        1 => (input(), -20i8..=20).prop_map(|(i, k)| Step::Skew(i, k)),
        1 => (input(), any::<bool>()).prop_map(|(i, s)| Step::Silence(i, s)),
        1 => input().prop_map(Step::Manual),
        1 => any::<bool>().prop_map(Step::Health),
        1 => Just(Step::Pause),
        1 => Just(Step::Play),
    ]
}

pub fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(Media::Raw), Just(Media::Encoded)],
        prop_oneof![Just(100u64), Just(200), Just(300)],
        prop_oneof![Just(0u64), Just(200), Just(1000)],
        any::<bool>(),
        prop_oneof![Just(0u64), Just(20)],
        any::<bool>(),
        proptest::collection::vec(step(), 1..40),
    )
        .prop_map(
            |(media, timeout_ms, restore_ms, sticky, crossfade_ms, rigid_sink, steps)| Case {
                media,
                timeout_ms,
                restore_ms,
                sticky,
                crossfade_ms: if media == Media::Raw { crossfade_ms } else { 0 },
                rigid_sink,
                steps,
            },
        )
}

/// Reads back a case as its `Debug` form prints it (one line or pretty-printed),
/// e.g. `Case { media: Raw, timeout_ms: 100, restore_ms: 0, sticky: false,
/// crossfade_ms: 0, rigid_sink: false, steps: [Eos(S), Eos(P), NewStream(P)] }`.
pub fn parse_case(text: &str) -> Result<Case, String> {
    // Words and numbers, with the punctuation as separators.
    let tokens: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || "{}[](),:".contains(c))
        .filter(|t| !t.is_empty())
        .collect();
    let mut it = tokens.into_iter().peekable();
    fn field<'a>(
        it: &mut std::iter::Peekable<std::vec::IntoIter<&'a str>>,
        name: &str,
    ) -> Result<&'a str, String> {
        while let Some(t) = it.next() {
            if t == name {
                return it.next().ok_or(format!("{name}: no value"));
            }
        }
        Err(format!("no field {name}"))
    }
    let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{v}: {e}"));
    let flag = |v: &str| v.parse::<bool>().map_err(|e| format!("{v}: {e}"));
    let media = match field(&mut it, "media")? {
        "Raw" => Media::Raw,
        "Encoded" => Media::Encoded,
        m => return Err(format!("media {m}")),
    };
    let timeout_ms = num(field(&mut it, "timeout_ms")?)?;
    let restore_ms = num(field(&mut it, "restore_ms")?)?;
    let sticky = flag(field(&mut it, "sticky")?)?;
    let crossfade_ms = num(field(&mut it, "crossfade_ms")?)?;
    let rigid_sink = flag(field(&mut it, "rigid_sink")?)?;
    while it.next_if(|t| *t != "steps").is_some() {}
    it.next();
    let input = |t: Option<&str>| match t {
        Some("P") => Ok(In::P),
        Some("S") => Ok(In::S),
        t => Err(format!("input {t:?}")),
    };
    let caps_kind = |t: Option<&str>| match t {
        Some("Normal") => Ok(CapsKind::Normal),
        Some("Compatible") => Ok(CapsKind::Compatible),
        Some("Incompatible") => Ok(CapsKind::Incompatible),
        t => Err(format!("caps {t:?}")),
    };
    let mut steps = Vec::new();
    while let Some(name) = it.next() {
        let step = match name {
            "Advance" => Step::Advance(num(it.next().unwrap_or("?"))? as u16),
            "Stall" => Step::Stall(input(it.next())?),
            "Resume" => Step::Resume(input(it.next())?, flag(it.next().unwrap_or("?"))?),
            "Eos" => Step::Eos(input(it.next())?),
            "NewStream" => Step::NewStream(input(it.next())?),
            "Flush" => Step::Flush(input(it.next())?),
            "Caps" => Step::Caps(input(it.next())?, caps_kind(it.next())?),
            "Skew" => {
                let i = input(it.next())?;
                let k = it.next().unwrap_or("?");
                Step::Skew(i, k.parse().map_err(|e| format!("{k}: {e}"))?)
            }
            "Silence" => Step::Silence(input(it.next())?, flag(it.next().unwrap_or("?"))?),
            "Manual" => Step::Manual(input(it.next())?),
            "Health" => Step::Health(flag(it.next().unwrap_or("?"))?),
            "Pause" => Step::Pause,
            "Play" => Step::Play,
            other => return Err(format!("unknown step {other}")),
        };
        steps.push(step);
    }
    Ok(Case {
        media,
        timeout_ms,
        restore_ms,
        sticky,
        crossfade_ms,
        rigid_sink,
        steps,
    })
}

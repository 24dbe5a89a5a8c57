// SPDX-License-Identifier: MPL-2.0
//! Properties of `loudnessmatch`: the mode enum, defaults and param specs.

use super::engine::{Mode, Params};
use super::gain::GainLimits;
use gst::glib;
use gst::prelude::*;
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstLoudnessMatchMode")]
pub enum LoudnessMatchMode {
    #[enum_value(
        name = "Match: steer the gain so the loudness follows the 'reference' element",
        nick = "match"
    )]
    Match,
    #[default]
    #[enum_value(
        name = "Normalize: steer the gain towards 'target-loudness'",
        nick = "normalize"
    )]
    Normalize,
    #[enum_value(
        name = "Measure: measure only, audio passes untouched",
        nick = "measure"
    )]
    Measure,
}

impl From<LoudnessMatchMode> for Mode {
    fn from(m: LoudnessMatchMode) -> Self {
        match m {
            LoudnessMatchMode::Match => Mode::Match,
            LoudnessMatchMode::Normalize => Mode::Normalize,
            LoudnessMatchMode::Measure => Mode::Measure,
        }
    }
}

const DEFAULT_TARGET: f64 = -23.0;
const DEFAULT_MAX_GAIN: f64 = 12.0;
const DEFAULT_MIN_GAIN: f64 = -12.0;
const DEFAULT_GAIN_RATE: f64 = 1.0;
const DEFAULT_TRUE_PEAK_LIMIT: f64 = -1.0;
const DEFAULT_INTERVAL: u64 = 1_000_000_000;

#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: LoudnessMatchMode,
    pub reference: Option<String>,
    pub target: f64,
    pub max_gain: f64,
    pub min_gain: f64,
    pub gain_rate: f64,
    pub true_peak_limit: f64,
    pub interval: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: LoudnessMatchMode::Normalize,
            reference: None,
            target: DEFAULT_TARGET,
            max_gain: DEFAULT_MAX_GAIN,
            min_gain: DEFAULT_MIN_GAIN,
            gain_rate: DEFAULT_GAIN_RATE,
            true_peak_limit: DEFAULT_TRUE_PEAK_LIMIT,
            interval: DEFAULT_INTERVAL,
        }
    }
}

impl Settings {
    pub fn params(&self) -> Params {
        Params {
            limits: GainLimits {
                min_db: self.min_gain,
                max_db: self.max_gain,
            },
            rate_db_s: self.gain_rate,
            true_peak_limit_db: self.true_peak_limit,
            interval_ns: self.interval,
            standby: false,
        }
    }
}

/// The element's properties.
pub fn properties() -> &'static [glib::ParamSpec] {
    static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
        vec![
            glib::ParamSpecEnum::builder_with_default("mode", LoudnessMatchMode::Normalize)
                .nick("Mode")
                .blurb(
                    "match: follow the loudness of the 'reference' element; normalize: \
                     steer to 'target-loudness'; measure: measure only, audio untouched \
                     (a change while streaming takes effect at the next buffer)",
                )
                .mutable_playing()
                .build(),
            glib::ParamSpecString::builder("reference")
                .nick("Reference")
                .blurb(
                    "Name of another loudnessmatch in the same pipeline, in mode=measure, \
                     whose loudness this one follows in mode=match",
                )
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("target-loudness")
                .nick("Target loudness")
                .blurb("Integrated loudness to steer to in mode=normalize (LUFS)")
                .minimum(-70.0)
                .maximum(0.0)
                .default_value(DEFAULT_TARGET)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("max-gain")
                .nick("Maximum gain")
                .blurb(
                    "Largest gain the element may apply (dB); a WARNING says when it \
                     keeps the gain from its goal",
                )
                .minimum(-60.0)
                .maximum(60.0)
                .default_value(DEFAULT_MAX_GAIN)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("min-gain")
                .nick("Minimum gain")
                .blurb(
                    "Smallest gain (largest attenuation) the element may apply (dB); a \
                     WARNING says when it keeps the gain from its goal",
                )
                .minimum(-60.0)
                .maximum(60.0)
                .default_value(DEFAULT_MIN_GAIN)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("gain-rate")
                .nick("Gain rate")
                .blurb(
                    "Fastest the gain may move while on air (dB per second); while a \
                     downstream failoverswitch says this input is not on air, the gain \
                     goes to its goal at once",
                )
                .minimum(0.01)
                .maximum(60.0)
                .default_value(DEFAULT_GAIN_RATE)
                .mutable_playing()
                .build(),
            glib::ParamSpecDouble::builder("true-peak-limit")
                .nick("True-peak limit")
                .blurb(
                    "Ceiling for the output's true peak in mode=normalize and mode=match, \
                     enforced by a look-ahead limiter (dBTP)",
                )
                .minimum(-20.0)
                .maximum(0.0)
                .default_value(DEFAULT_TRUE_PEAK_LIMIT)
                .mutable_playing()
                .build(),
            glib::ParamSpecUInt64::builder("interval")
                .nick("Interval")
                .blurb(
                    "Period of 'loudness' element messages in nanoseconds of stream time \
                     (0 = no messages)",
                )
                .minimum(0)
                .maximum(3600 * 1_000_000_000)
                .default_value(DEFAULT_INTERVAL)
                .mutable_playing()
                .build(),
        ]
    });
    PROPS.as_ref()
}

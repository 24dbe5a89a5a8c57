// SPDX-License-Identifier: MPL-2.0
//! Builds one station's main pipeline for both setups, with the plugin's elements.
//! Each input enters through an `appsrc` (`<input>_audio`) that its connections
//! feed (see `input`), already parsed and placed on this pipeline's running time.
//!
//! Passthrough (AAC frames switched as they are, no re-encode):
//! ```text
//! appsrc name=primary_audio ! tee ! failoverswitch.primary
//!                             tee ! queue leaky ! avdec_aac ! audioconvert ! loudnessmatch mode=measure ! fakesink
//! (same for secondary)      failoverswitch ! tee ! queue ! appsink -> output
//!                                            tee ! queue ! avdec_aac ! ... ! loudnessmatch (output) ! fakesink
//! ```
//! The decoding side branches measure loudness (`measure`: `all` has the three,
//! `output` the output's, `none` no decoding at all: `aacparse ! queue !
//! failoverswitch ! appsink`); with `measure all` the inputs' side branches also
//! feed the relay's alignment (`align`: the switch gets `align=manual` and the
//! measured `offset`).
//! Decode (decode both, probe, match loudness, crossfade, encode once):
//! ```text
//! appsrc name=primary_audio ! avdec_aac ! audioconvert ! F32LE ! healthprobe
//!     ! loudnessmatch (primary: measure; secondary: match reference=primary_lm) ! queue ! failoverswitch
//! failoverswitch ! loudnessmatch name=output_lm mode=measure ! audioconvert ! voaacenc ! aacparse ! appsink
//! ```
//! Element names are `<input>_<role>` on an input's way to the switch, `sw` for
//! the switch, `out_*` and `output_lm` after it.

use crate::config::{Setup, StationConfig};
use crate::input::{INPUTS, InputKind, Media, Sinks};
use gst::prelude::*;
use std::time::Duration;

/// Name of the loudness meter after the switch.
pub(crate) const OUTPUT_METER: &str = "output_lm";

/// The running parts of a station's pipeline that the station works with.
pub(crate) struct StationPipeline {
    pub(crate) pipeline: gst::Pipeline,
    pub(crate) switch: gst::Element,
    pub(crate) appsink: gst::Element,
    /// An A/V station's ladder: each variant's name (`480p`), output URL and the
    /// appsink that feeds it.
    pub(crate) variants: Vec<(String, String, gst::Element)>,
    /// Per input (in the order of [`INPUTS`]): what its URL designates and the
    /// appsrcs its connections feed.
    pub(crate) inputs: [(InputKind, Sinks); 2],
    /// What the station takes from its inputs.
    pub(crate) media: Media,
    /// Pipeline text (what gst-launch-1.0 would run, minus the appsink side).
    pub(crate) description: String,
}

/// The appsrc of an input's medium: live, timestamps given by the relay; a small
/// queue that drops its oldest data if the pipeline ever falls 2 s behind.
const APPSRC: &str = "is-live=true format=time do-timestamp=false min-latency=0 block=false \
    max-bytes=0 max-buffers=0 max-time=2000000000 leaky-type=downstream";
const QUEUE: &str = "max-size-time=1000000000 max-size-bytes=0 max-size-buffers=0";
const MEASURE_QUEUE: &str =
    "leaky=downstream max-size-time=1000000000 max-size-bytes=0 max-size-buffers=0";

fn ns(t: Duration) -> String {
    t.as_nanos().to_string()
}

/// One input from its appsrc to its pad on the switch, with its measuring side
/// branch (passthrough) or its decoder, probe and loudness matcher (decode).
fn input_chain(c: &StationConfig, idx: usize) -> String {
    let name = INPUTS[idx];
    let pad = format!("sw.{name}");
    let mut d = format!("appsrc name={name}_audio {APPSRC}");
    match c.setup {
        Setup::Passthrough if c.measure.inputs() => d.push_str(&format!(
            " ! tee name={name}_tee ! {pad} \
             {name}_tee. ! queue name={name}_mqueue {MEASURE_QUEUE} ! avdec_aac name={name}_mdec \
             ! audioconvert name={name}_mconv ! loudnessmatch name={name}_lm mode=measure \
             ! fakesink name={name}_msink sync=false async=false\n"
        )),
        Setup::Passthrough => d.push_str(&format!(" ! {pad}\n")),
        Setup::Decode => {
            let lm = if idx == 0 {
                "mode=measure".to_string()
            } else {
                format!("mode=match reference={}_lm", INPUTS[0])
            };
            d.push_str(&format!(
                " ! avdec_aac name={name}_dec ! audioconvert name={name}_conv \
                 ! capsfilter name={name}_caps caps=audio/x-raw,format=F32LE,layout=interleaved \
                 ! healthprobe name={name}_probe stall-timeout={} ! loudnessmatch name={name}_lm {lm} \
                 ! queue name={name}_queue {QUEUE} ! {pad}\n",
                ns(c.timeout)
            ));
        }
    }
    d
}

/// The switch and everything after it, up to the appsink that feeds the output.
fn output_chain(c: &StationConfig) -> String {
    let align = match c.align_by() {
        "switch" => "auto",
        "relay" => "manual",
        _ => "off",
    };
    let mut d = format!(
        "failoverswitch name=sw timeout={} restore-delay={} mode={} latency={} align={align}",
        ns(c.timeout),
        ns(c.restore_delay),
        c.mode,
        ns(c.latency)
    );
    match c.setup {
        Setup::Passthrough if c.measure.output() => d.push_str(&format!(
            " ! tee name=out_tee ! queue name=out_queue ! appsink name=out_sink \
             sync=false emit-signals=true max-buffers=200 drop=false \
             out_tee. ! queue name=out_mqueue {MEASURE_QUEUE} ! avdec_aac name=out_mdec \
             ! audioconvert name=out_mconv ! loudnessmatch name={OUTPUT_METER} mode=measure \
             ! fakesink name=out_msink sync=false async=false"
        )),
        // The appsink's callback only copies the frame into the output's channel:
        // it runs on the switch's thread, no queue (thread) of its own.
        Setup::Passthrough => d.push_str(
            " ! appsink name=out_sink sync=false emit-signals=true max-buffers=200 drop=false",
        ),
        Setup::Decode => {
            d.push_str(&format!(" crossfade={}", ns(c.crossfade)));
            if c.measure.output() {
                d.push_str(&format!(
                    " ! loudnessmatch name={OUTPUT_METER} mode=measure"
                ));
            }
            d.push_str(&format!(
                " ! audioconvert name=out_conv ! {} bitrate={} name=out_enc ! aacparse name=out_parse \
                 ! audio/mpeg,mpegversion=4,stream-format=adts \
                 ! appsink name=out_sink sync=false emit-signals=true",
                c.encoder, c.bitrate
            ));
        }
    }
    d
}

/// The pipeline of a launch description (the description is in the error).
pub(crate) fn launch(description: &str) -> Result<gst::Pipeline, String> {
    gst::parse::launch(description)
        .map_err(|e| format!("cannot build the pipeline: {e}\n{description}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())
}

/// An element of the pipeline by name.
pub(crate) fn element(pipeline: &gst::Pipeline, name: &str) -> Result<gst::Element, String> {
    pipeline
        .by_name(name)
        .ok_or_else(|| format!("element {name} missing"))
}

/// The station's pipeline description.
pub(crate) fn describe(c: &StationConfig) -> String {
    let mut d: String = (0..2).map(|i| input_chain(c, i)).collect();
    d.push_str(&output_chain(c));
    d
}

impl StationPipeline {
    /// Parses the inputs and builds the main pipeline (its inputs are started by
    /// the station, see `input::Input`).
    pub(crate) fn build(c: &StationConfig) -> Result<StationPipeline, String> {
        if crate::av::is_av(c) {
            return crate::av::build(c);
        }
        if !c.ladder.is_empty() {
            return Err("ladder: only an A/V station (rtmp:// output) has a ladder".into());
        }
        let kinds = [
            InputKind::parse(&c.primary).map_err(|e| format!("--primary: {e}"))?,
            InputKind::parse(&c.secondary).map_err(|e| format!("--secondary: {e}"))?,
        ];
        if c.setup == Setup::Decode && gst::ElementFactory::find(&c.encoder).is_none() {
            return Err(format!("encoder '{}' is not available", c.encoder));
        }
        let description = describe(c);
        let pipeline = launch(&description)?;
        let by_name = |n: &str| element(&pipeline, n);
        let switch = by_name("sw")?;
        if c.align_by() == "relay" {
            let max_offset = switch.property::<u64>("max-offset");
            crate::align::install(&pipeline, &switch, max_offset)?;
        }
        let appsink = by_name("out_sink")?;
        let [p, s] = kinds;
        let sinks = |name: &str| -> Result<Sinks, String> {
            let audio = by_name(&format!("{name}_audio"))?
                .downcast::<gst_app::AppSrc>()
                .map_err(|_| format!("{name}_audio is not an appsrc"))?;
            Ok(Sinks {
                audio: Some(audio),
                video: None,
            })
        };
        let inputs = [(p, sinks(INPUTS[0])?), (s, sinks(INPUTS[1])?)];
        Ok(StationPipeline {
            pipeline,
            switch,
            appsink,
            variants: Vec::new(),
            inputs,
            media: Media::audio_adts(),
            description,
        })
    }

    /// The input (index in [`INPUTS`]) that `obj` belongs to, by name.
    pub(crate) fn branch_of(&self, obj: &gst::Object) -> Option<usize> {
        let mut cur = Some(obj.clone());
        while let Some(o) = cur {
            if let Some(i) = branch_index(&o.name()) {
                return Some(i);
            }
            cur = o.parent();
        }
        None
    }
}

/// `primary_audio` -> 0, `secondary_lm` -> 1, `sw` -> None.
fn branch_index(element: &str) -> Option<usize> {
    INPUTS.iter().position(|b| {
        element
            .strip_prefix(b)
            .is_some_and(|rest| rest.starts_with('_'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(setup: Setup) -> StationConfig {
        let mut c = StationConfig::new("http://127.0.0.1:1/a.aac", "http://127.0.0.1:1/b.aac", "-");
        c.setup = setup;
        c
    }

    #[test]
    fn decode_setup_matches_secondary_to_primary() {
        let d = describe(&config(Setup::Decode));
        assert!(
            d.contains("loudnessmatch name=primary_lm mode=measure"),
            "{d}"
        );
        assert!(
            d.contains("loudnessmatch name=secondary_lm mode=match reference=primary_lm"),
            "{d}"
        );
        assert!(
            d.contains("healthprobe name=secondary_probe stall-timeout=1000000000"),
            "{d}"
        );
        assert!(d.contains("crossfade=20000000"), "{d}");
        assert!(d.contains("align=auto"), "{d}");
        assert!(d.contains("voaacenc bitrate=128000"), "{d}");
        assert!(
            d.starts_with("appsrc name=primary_audio is-live=true format=time"),
            "{d}"
        );
    }

    #[test]
    fn passthrough_setup_does_not_decode_the_switched_path() {
        let d = describe(&config(Setup::Passthrough));
        // Decoders only in the measuring side branches (`*_mdec`), none on the way
        // from an input to the switch or from the switch to the appsink.
        let decoders: Vec<&str> = d
            .split("avdec_aac name=")
            .skip(1)
            .map(|rest| rest.split_whitespace().next().unwrap_or(""))
            .collect();
        assert_eq!(
            decoders,
            ["primary_mdec", "secondary_mdec", "out_mdec"],
            "{d}"
        );
        assert!(
            d.contains("leaky-type=downstream ! tee name=primary_tee ! sw.primary"),
            "{d}"
        );
        assert!(d.contains("! sw.secondary"), "{d}");
        assert!(
            d.contains("tee name=out_tee ! queue name=out_queue ! appsink name=out_sink"),
            "{d}"
        );
        assert!(!d.contains("crossfade"), "{d}");
        assert!(
            d.contains(
                "timeout=1000000000 restore-delay=5000000000 mode=primary-preferred latency=0 align=manual"
            ),
            "{d}"
        );
    }

    #[test]
    fn measuring_is_optional() {
        let mut c = config(Setup::Passthrough);
        c.measure = crate::config::Measure::None;
        let d = describe(&c);
        assert!(
            !d.contains("avdec_aac") && !d.contains("loudnessmatch") && !d.contains("tee"),
            "{d}"
        );
        assert!(d.contains("! sw.primary"), "{d}");
        // Nothing decoded: nothing to align by.
        assert!(d.contains("align=off ! appsink name=out_sink"), "{d}");
        c.measure = crate::config::Measure::Output;
        let d = describe(&c);
        assert_eq!(d.matches("avdec_aac").count(), 1, "{d}");
        assert!(
            d.contains(&format!("loudnessmatch name={OUTPUT_METER}")),
            "{d}"
        );
        let mut c = config(Setup::Decode);
        c.measure = crate::config::Measure::None;
        let d = describe(&c);
        assert!(!d.contains(OUTPUT_METER), "{d}");
        assert_eq!(d.matches("loudnessmatch").count(), 2, "{d}");
    }

    #[test]
    fn latency_holds_the_switch_output_back() {
        let mut c = config(Setup::Passthrough);
        c.latency = Duration::from_millis(1500);
        assert!(describe(&c).contains("latency=1500000000"));
    }

    #[test]
    fn elements_map_to_their_input_by_name() {
        assert_eq!(branch_index("primary_audio"), Some(0));
        assert_eq!(branch_index("secondary_lm"), Some(1));
        assert_eq!(branch_index("primaryx_src"), None);
        assert_eq!(branch_index("sw"), None);
        assert_eq!(branch_index(OUTPUT_METER), None);
    }

    #[test]
    fn both_setups_build_with_the_plugin() {
        crate::init().unwrap();
        for setup in [Setup::Passthrough, Setup::Decode] {
            let p = StationPipeline::build(&config(setup)).unwrap();
            assert_eq!(p.switch.factory().unwrap().name(), "failoverswitch");
            let lm = p.pipeline.by_name("secondary_lm").unwrap();
            assert_eq!(p.branch_of(lm.upcast_ref()), Some(1));
            let src = p.inputs[0].1.audio.as_ref().unwrap();
            assert_eq!(src.name(), "primary_audio");
            assert!(src.is_live());
            assert_eq!(src.format(), gst::Format::Time);
            assert!(p.inputs[0].1.video.is_none());
        }
    }
}

// SPDX-License-Identifier: MPL-2.0
//! Builds one station's pipeline for both setups, with the plugin's elements.
//!
//! Passthrough (AAC frames switched as they are, no re-encode):
//! ```text
//! souphttpsrc ! typefind ! aacparse ! tee ! queue ! failoverswitch.primary
//!                                      tee ! queue ! avdec_aac ! audioconvert ! loudnessmatch mode=measure ! fakesink
//! (same for secondary)      failoverswitch ! tee ! queue ! appsink -> output
//!                                            tee ! queue ! avdec_aac ! ... ! loudnessmatch (output) ! fakesink
//! ```
//! The decoding side branches only measure loudness (`measure`: `all` has the three,
//! `output` the output's, `none` no decoding at all: `aacparse ! queue !
//! failoverswitch ! appsink`).
//! Decode (decode both, probe, match loudness, crossfade, encode once):
//! ```text
//! souphttpsrc ! typefind ! aacparse ! avdec_aac ! audioconvert ! F32LE ! healthprobe
//!     ! loudnessmatch (primary: measure; secondary: match reference=primary_lm) ! queue ! failoverswitch
//! failoverswitch ! loudnessmatch name=output_lm mode=measure ! audioconvert ! voaacenc ! aacparse ! appsink
//! ```
//! Element names are `<input>_<role>` in the input branches (see `input`), `sw` for
//! the switch, `out_*` and `output_lm` after it.

use crate::config::{Setup, StationConfig};
use crate::input::branch::{self, Branch};
use crate::input::live_edge::LiveEdge;
use crate::input::{INPUTS, InputKind};
use gst::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// Name of the loudness meter after the switch.
pub(crate) const OUTPUT_METER: &str = "output_lm";

/// The running parts of a station's pipeline that the station works with.
pub(crate) struct StationPipeline {
    pub(crate) pipeline: gst::Pipeline,
    pub(crate) switch: gst::Element,
    pub(crate) appsink: gst::Element,
    pub(crate) branches: [Arc<Branch>; 2],
    /// Pipeline text (what gst-launch-1.0 would run, minus the appsink side).
    pub(crate) description: String,
}

const BIG_QUEUE: &str = "max-size-time=3000000000 max-size-bytes=0 max-size-buffers=0";
const MEASURE_QUEUE: &str =
    "leaky=downstream max-size-time=1000000000 max-size-bytes=0 max-size-buffers=0";

fn ns(t: Duration) -> String {
    t.as_nanos().to_string()
}

/// One input from its source to its pad on the switch, with its measuring side
/// branch (passthrough) or its decoder, probe and loudness matcher (decode).
fn input_chain(c: &StationConfig, idx: usize, kind: &InputKind) -> String {
    let name = INPUTS[idx];
    let pad = format!("sw.{name}");
    let mut d = kind.source(name);
    match c.setup {
        Setup::Passthrough if c.measure.inputs() => d.push_str(&format!(
            " ! tee name={name}_tee ! queue name={name}_queue {BIG_QUEUE} ! {pad} \
             {name}_tee. ! queue name={name}_mqueue {MEASURE_QUEUE} ! avdec_aac name={name}_mdec \
             ! audioconvert name={name}_mconv ! loudnessmatch name={name}_lm mode=measure \
             ! fakesink name={name}_msink sync=false async=false\n"
        )),
        Setup::Passthrough => {
            d.push_str(&format!(" ! queue name={name}_queue {BIG_QUEUE} ! {pad}\n"))
        }
        Setup::Decode => {
            let lm = if idx == 0 {
                "mode=measure".to_string()
            } else {
                format!("mode=match reference={}_lm", INPUTS[0])
            };
            d.push_str(&format!(
                " ! avdec_aac name={name}_dec ! audioconvert name={name}_conv \
                 ! capsfilter name={name}_caps caps=audio/x-raw,format=F32LE,layout=interleaved \
                 ! healthprobe name={name}_probe ! loudnessmatch name={name}_lm {lm} \
                 ! queue name={name}_queue {BIG_QUEUE} ! {pad}\n"
            ));
        }
    }
    d
}

/// The switch and everything after it, up to the appsink that feeds the output.
fn output_chain(c: &StationConfig) -> String {
    let mut d = format!(
        "failoverswitch name=sw timeout={} restore-delay={} mode={}",
        ns(c.timeout),
        ns(c.restore_delay),
        c.mode
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

/// The station's pipeline description.
pub(crate) fn describe(c: &StationConfig, inputs: &[InputKind; 2]) -> String {
    let mut d: String = (0..2).map(|i| input_chain(c, i, &inputs[i])).collect();
    d.push_str(&output_chain(c));
    d
}

impl StationPipeline {
    /// Parses the inputs, builds the pipeline and the branches' control blocks (no
    /// probes yet: [`StationPipeline::install_probes`]).
    pub(crate) fn build(c: &StationConfig) -> Result<StationPipeline, String> {
        let inputs = [
            InputKind::parse(&c.primary).map_err(|e| format!("--primary: {e}"))?,
            InputKind::parse(&c.secondary).map_err(|e| format!("--secondary: {e}"))?,
        ];
        if c.setup == Setup::Decode && gst::ElementFactory::find(&c.encoder).is_none() {
            return Err(format!("encoder '{}' is not available", c.encoder));
        }
        let description = describe(c, &inputs);
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| format!("cannot build the pipeline: {e}\n{description}"))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "not a pipeline".to_string())?;
        let by_name = |n: &str| {
            pipeline
                .by_name(n)
                .ok_or_else(|| format!("element {n} missing"))
        };
        let switch = by_name("sw")?;
        let appsink = by_name("out_sink")?;
        let mut branches = Vec::new();
        for (name, kind) in INPUTS.into_iter().zip(&inputs) {
            // The decoder (decode setup) restarts with the source part.
            let mut restarted = kind.restarted_roles().to_vec();
            restarted.push("dec");
            let edge = LiveEdge::new(
                branch::settle_time(c.timeout).as_nanos() as u64,
                c.latency.as_nanos() as u64,
            );
            branches.push(Arc::new(Branch::new(&pipeline, name, &restarted, edge)?));
            drop_eos_of_side_branch(&pipeline, name);
        }
        let [p, s]: [Arc<Branch>; 2] = branches
            .try_into()
            .map_err(|_| "two branches expected".to_string())?;
        Ok(StationPipeline {
            pipeline,
            switch,
            appsink,
            branches: [p, s],
            description,
        })
    }

    /// Installs the branches' probes (live edge, end of stream, restart).
    pub(crate) fn install_probes(&self, reconnect_delay: Duration) {
        branch::install_probes(&self.pipeline, &self.branches, reconnect_delay);
    }

    /// The input branch (index in [`INPUTS`]) that `obj` belongs to, by name.
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

/// `primary_src` -> 0, `secondary_lm` -> 1, `sw` -> None.
fn branch_index(element: &str) -> Option<usize> {
    INPUTS.iter().position(|b| {
        element
            .strip_prefix(b)
            .is_some_and(|rest| rest.starts_with('_'))
    })
}

/// The measuring side branch (passthrough) must not end with the input: its EOS is
/// dropped.
fn drop_eos_of_side_branch(pipeline: &gst::Pipeline, name: &str) {
    if let Some(pad) = pipeline
        .by_name(&format!("{name}_mqueue"))
        .and_then(|q| q.static_pad("sink"))
    {
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_, info| {
            match info.event() {
                Some(ev) if ev.type_() == gst::EventType::Eos => gst::PadProbeReturn::Drop,
                _ => gst::PadProbeReturn::Ok,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(setup: Setup) -> (StationConfig, [InputKind; 2]) {
        let mut c = StationConfig::new("http://127.0.0.1:1/a.aac", "http://127.0.0.1:1/b.aac", "-");
        c.setup = setup;
        let inputs = [
            InputKind::parse(&c.primary).unwrap(),
            InputKind::parse(&c.secondary).unwrap(),
        ];
        (c, inputs)
    }

    #[test]
    fn decode_setup_matches_secondary_to_primary() {
        let (c, inputs) = config(Setup::Decode);
        let d = describe(&c, &inputs);
        assert!(
            d.contains("loudnessmatch name=primary_lm mode=measure"),
            "{d}"
        );
        assert!(
            d.contains("loudnessmatch name=secondary_lm mode=match reference=primary_lm"),
            "{d}"
        );
        assert!(d.contains("healthprobe name=secondary_probe"), "{d}");
        assert!(d.contains("crossfade=20000000"), "{d}");
        assert!(d.contains("voaacenc bitrate=128000"), "{d}");
    }

    #[test]
    fn passthrough_setup_does_not_decode_the_switched_path() {
        let (c, inputs) = config(Setup::Passthrough);
        let d = describe(&c, &inputs);
        // Decoders only in the measuring side branches (`*_mdec`), none on the way
        // from a parser to the switch or from the switch to the appsink.
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
            d.contains(
                "aacparse name=primary_parse ! tee name=primary_tee ! queue name=primary_queue"
            ),
            "{d}"
        );
        assert!(
            d.contains("! sw.primary") && d.contains("! sw.secondary"),
            "{d}"
        );
        assert!(
            d.contains("tee name=out_tee ! queue name=out_queue ! appsink name=out_sink"),
            "{d}"
        );
        assert!(!d.contains("crossfade"), "{d}");
        assert!(
            d.contains("timeout=1000000000 restore-delay=5000000000 mode=primary-preferred"),
            "{d}"
        );
    }

    #[test]
    fn measuring_is_optional() {
        let (mut c, inputs) = config(Setup::Passthrough);
        c.measure = crate::config::Measure::None;
        let d = describe(&c, &inputs);
        assert!(
            !d.contains("avdec_aac") && !d.contains("loudnessmatch") && !d.contains("tee"),
            "{d}"
        );
        assert!(
            d.contains("aacparse name=primary_parse ! queue name=primary_queue"),
            "{d}"
        );
        assert!(
            d.contains("mode=primary-preferred ! appsink name=out_sink"),
            "{d}"
        );
        c.measure = crate::config::Measure::Output;
        let d = describe(&c, &inputs);
        assert_eq!(d.matches("avdec_aac").count(), 1, "{d}");
        assert!(
            d.contains(&format!("loudnessmatch name={OUTPUT_METER}")),
            "{d}"
        );
        let (mut c, inputs) = config(Setup::Decode);
        c.measure = crate::config::Measure::None;
        let d = describe(&c, &inputs);
        assert!(!d.contains(OUTPUT_METER), "{d}");
        assert_eq!(d.matches("loudnessmatch").count(), 2, "{d}");
    }

    #[test]
    fn elements_map_to_their_input_by_name() {
        assert_eq!(branch_index("primary_src"), Some(0));
        assert_eq!(branch_index("secondary_lm"), Some(1));
        assert_eq!(branch_index("primaryx_src"), None);
        assert_eq!(branch_index("sw"), None);
        assert_eq!(branch_index(OUTPUT_METER), None);
    }

    #[test]
    fn both_setups_build_with_the_plugin() {
        crate::init().unwrap();
        for setup in [Setup::Passthrough, Setup::Decode] {
            let (c, _) = config(setup);
            let p = StationPipeline::build(&c).unwrap();
            assert_eq!(p.switch.factory().unwrap().name(), "failoverswitch");
            let lm = p.pipeline.by_name("secondary_lm").unwrap();
            assert_eq!(p.branch_of(lm.upcast_ref()), Some(1));
            // The restarted elements: source part (and decoder in decode).
            let names: Vec<String> = p.branches[0]
                .elements
                .iter()
                .map(|e| e.name().to_string())
                .collect();
            let mut expect = vec!["primary_src", "primary_typefind", "primary_parse"];
            if setup == Setup::Decode {
                expect.push("primary_dec");
            }
            assert_eq!(names, expect);
        }
    }
}

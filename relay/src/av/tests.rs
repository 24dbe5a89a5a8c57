// SPDX-License-Identifier: MPL-2.0
use super::*;
use crate::args::Args;
use gst::glib;
use std::time::Duration;

fn station(extra: &[&str]) -> StationConfig {
    let mut v = vec![
        "--primary",
        "rtmp://127.0.0.1:1935/live/primary",
        "--secondary",
        "rtmp://127.0.0.1:1935/live/backup",
        "--output",
        "rtmp://127.0.0.1:1935/live/out",
    ];
    v.extend_from_slice(extra);
    Args::parse(v.iter().map(|s| s.to_string()))
        .unwrap()
        .unwrap()
        .station
}

#[test]
fn an_rtmp_output_makes_an_av_station_sticky_by_default() {
    let c = station(&[]);
    assert!(is_av(&c));
    assert_eq!(c.mode, "sticky");
    assert_eq!(c.watchdog, crate::config::AV_WATCHDOG);
    assert_eq!(
        station(&["--watchdog", "4s"]).watchdog,
        Duration::from_secs(4)
    );
    // An explicit mode wins.
    assert_eq!(
        station(&["--mode", "primary-preferred"]).mode,
        "primary-preferred"
    );
    let mut audio = c.clone();
    audio.output = "icecast://source:pw@127.0.0.1:8000/x.aac".into();
    assert!(!is_av(&audio));
}

#[test]
fn both_switches_are_one_group_into_flvmux() {
    let d = describe(&station(&["--latency", "3s"]));
    for name in INPUTS {
        assert!(d.contains(&format!("appsrc name={name}_audio")), "{d}");
        assert!(d.contains(&format!("! asw.{name}\n")), "{d}");
        assert!(d.contains(&format!("appsrc name={name}_video")), "{d}");
        assert!(d.contains(&format!("! sw.{name}\n")), "{d}");
    }
    let switch =
        "group=av timeout=1000000000 restore-delay=5000000000 mode=sticky latency=3000000000";
    assert!(
        d.contains(&format!("failoverswitch name=asw {switch}")),
        "{d}"
    );
    assert!(
        d.contains(&format!("failoverswitch name=sw {switch}")),
        "{d}"
    );
    assert!(
        d.contains(
            "flvmux name=mux streamable=true latency=500000000 ! rtmp2sink name=out_sink \
             location=\"rtmp://127.0.0.1:1935/live/out\""
        ),
        "{d}"
    );
    // No ladder: nothing decoded.
    assert!(!d.contains("avdec_h264") && !d.contains("x264enc"), "{d}");
}

#[test]
fn the_ladder_decodes_once_and_encodes_each_variant() {
    let c = station(&["--ladder", "480p,360p"]);
    let d = describe(&c);
    assert_eq!(d.matches("avdec_h264").count(), 1, "{d}");
    assert_eq!(d.matches("x264enc").count(), 2, "{d}");
    assert!(
        d.contains("video/x-raw,width=854,height=480,pixel-aspect-ratio=1/1 ! x264enc name=v480_enc tune=zerolatency"),
        "{d}"
    );
    assert!(d.contains("bitrate=1200"), "{d}");
    assert!(d.contains("width=640,height=360"), "{d}");
    assert!(
        d.contains("rtmp2sink name=v480_sink location=\"rtmp://127.0.0.1:1935/live/out_480p\""),
        "{d}"
    );
    assert!(
        d.contains("rtmp2sink name=v360_sink location=\"rtmp://127.0.0.1:1935/live/out_360p\""),
        "{d}"
    );
    // Every variant takes the switched audio.
    assert!(d.contains("out_atee. ! queue name=v480_aqueue"), "{d}");
    assert!(d.contains("out_atee. ! queue name=v360_aqueue"), "{d}");
    // A variant that falls behind sheds raw frames, never blocks the main output.
    assert!(d.contains("queue name=v480_rqueue leaky=downstream"), "{d}");
}

#[test]
fn av_stations_build_and_refuse_audio_inputs() {
    crate::init().unwrap();
    let c = station(&["--ladder", "360p"]);
    if gst::ElementFactory::find("rtmp2sink").is_none()
        || gst::ElementFactory::find("x264enc").is_none()
    {
        eprintln!("skipped: rtmp2sink or x264enc missing");
        return;
    }
    let p = StationPipeline::build(&c).unwrap();
    assert_eq!(p.switch.name(), "sw");
    assert_eq!(p.appsink.factory().unwrap().name(), "rtmp2sink");
    assert_eq!(p.media, Media::av_flv());
    for (_, sinks) in &p.inputs {
        assert!(sinks.audio.is_some() && sinks.video.is_some());
    }
    let asw = p.pipeline.by_name(AUDIO_SWITCH).unwrap();
    assert_eq!(
        asw.property::<Option<String>>("group").as_deref(),
        Some(GROUP)
    );
    let mode = p.switch.property_value("mode");
    let mode = glib::EnumValue::from_value(&mode).unwrap().1.nick();
    assert_eq!(mode, "sticky");

    let mut audio = c.clone();
    audio.output = "icecast://source:pw@127.0.0.1:8000/x.aac".into();
    let e = StationPipeline::build(&audio).err().unwrap();
    assert!(e.contains("only an A/V station"), "{e}");

    let mut bad = c.clone();
    bad.secondary = "http://127.0.0.1:8000/b.aac".into();
    let e = StationPipeline::build(&bad).err().unwrap();
    assert!(e.contains("rtmp:// inputs"), "{e}");
}

#[test]
fn a_stations_file_station_with_an_rtmp_output_is_an_av_station() {
    let text = r#"
timeout = "1s"

[[station]]
id = "live1"
primary = "rtmp://10.0.0.5/live/live1"
secondary = "rtmp://10.0.0.6/live/live1"
output = "rtmp://10.0.0.9/live/live1"
ladder = "480p,360p"

[[station]]
id = "live2"
primary = "rtmp://10.0.0.5/live/live2"
secondary = "rtmp://10.0.0.6/live/live2"
output = "rtmp://10.0.0.9/live/live2"
mode = "primary-preferred"
"#;
    let f = crate::stations::file::parse(text, "stations.toml", &|_| None).unwrap();
    let live1 = &f.stations[0].config;
    assert!(is_av(live1));
    assert_eq!(live1.mode, "sticky");
    assert_eq!(ladder::ladder_string(&live1.ladder), "480p,360p");
    assert_eq!(
        live1.ladder[0].url(&live1.output),
        "rtmp://10.0.0.9/live/live1_480p"
    );
    let live2 = &f.stations[1].config;
    assert_eq!(live2.mode, "primary-preferred");
    assert!(live2.ladder.is_empty());
    let bad = text.replace("480p,360p", "480p,999p");
    let e = crate::stations::file::parse(&bad, "stations.toml", &|_| None).unwrap_err();
    assert!(e.contains("ladder"), "{e}");
}

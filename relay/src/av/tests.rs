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
            "flvmux name=mux streamable=true latency=500000000 ! appsink name=out_sink \
             emit-signals=true"
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
    // The muxers end in appsinks: the outputs' writers publish (and reconnect).
    assert!(!d.contains("rtmp2sink"), "{d}");
    assert!(
        d.contains(
            "flvmux name=v480_mux streamable=true latency=500000000 ! appsink name=v480_sink"
        ),
        "{d}"
    );
    assert!(d.contains("appsink name=v360_sink"), "{d}");
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
    assert_eq!(p.appsink.factory().unwrap().name(), "appsink");
    // Each variant's sink, with its output URL.
    let variants: Vec<_> = p
        .variants
        .iter()
        .map(|(name, url, sink)| (name.as_str(), url.as_str(), sink.name().to_string()))
        .collect();
    assert_eq!(
        variants,
        [(
            "360p",
            "rtmp://127.0.0.1:1935/live/out_360p",
            "v360_sink".to_string()
        )]
    );
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

/// Encoded samples of a short test stream (`desc` ends in `appsink name=out`).
fn encode(desc: &str) -> Vec<gst::Sample> {
    let p = gst::parse::launch(desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = p
        .by_name("out")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let mut v = Vec::new();
    while let Ok(s) = sink.pull_sample() {
        v.push(s);
    }
    p.set_state(gst::State::Null).unwrap();
    v
}

/// Both switches of a group lose their only input: the fillers answer the GAPs with
/// the last keyframe again (twice a second) and silent AAC frames back to back, on
/// increasing timestamps after the last real data.
#[test]
fn while_no_input_is_healthy_the_last_picture_and_silence_go_out() {
    crate::init().unwrap();
    for f in ["x264enc", "avenc_aac", "h264parse", "aacparse"] {
        if gst::ElementFactory::find(f).is_none() {
            eprintln!("skipped: {f} missing");
            return;
        }
    }
    let video = encode(
        "videotestsrc num-buffers=10 ! video/x-raw,width=64,height=48,framerate=25/1 \
         ! x264enc key-int-max=5 tune=zerolatency ! h264parse \
         ! video/x-h264,stream-format=avc,alignment=au ! appsink name=out sync=false",
    );
    let audio = encode(
        "audiotestsrc num-buffers=20 samplesperbuffer=1024 \
         ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse \
         ! audio/mpeg,stream-format=raw ! appsink name=out sync=false",
    );
    assert!(video.len() >= 8 && audio.len() >= 15);
    let p = gst::parse::launch(
        "appsrc name=a is-live=true format=time ! failoverswitch name=asw group=av timeout=300000000 \
         ! identity name=afill ! appsink name=aout sync=false \
         appsrc name=v is-live=true format=time ! failoverswitch name=sw group=av timeout=300000000 \
         ! identity name=vfill ! appsink name=vout sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let by = |n: &str| p.by_name(n).unwrap();
    filler::install(&by("afill"), &by("vfill"), &by("sw")).unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let clock = p.clock().unwrap();
    let base = p.base_time().unwrap();
    let start = clock.time() - base + gst::ClockTime::from_mseconds(50);
    let push = |src: &str, samples: &[gst::Sample], step: u64| {
        let src = by(src).downcast::<gst_app::AppSrc>().unwrap();
        src.set_caps(samples[0].caps().map(|c| c.to_owned()).as_ref());
        for (i, s) in samples.iter().enumerate() {
            let mut b = s.buffer().unwrap().copy();
            let t = start + gst::ClockTime::from_nseconds(i as u64 * step);
            let m = b.make_mut();
            m.set_pts(t);
            m.set_dts(t);
            m.set_duration(gst::ClockTime::from_nseconds(step));
            src.push_buffer(b).unwrap();
        }
    };
    let aframe = 1024 * 1_000_000_000 / 48_000;
    push("v", &video, 40_000_000);
    push("a", &audio, aframe);
    let real_v_end = start + gst::ClockTime::from_nseconds(video.len() as u64 * 40_000_000);
    let real_a_end = start + gst::ClockTime::from_nseconds(audio.len() as u64 * aframe);
    // The data ends at about 0.45 s; the switch gives up 0.3 s later and fills up
    // to now: about 1.7 s of outage.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let pull = |n: &str| {
        let sink = by(n).downcast::<gst_app::AppSink>().unwrap();
        let mut v = Vec::new();
        while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(10)) {
            v.push(s.buffer_owned().unwrap());
        }
        v
    };
    let vout = pull("vout");
    let aout = pull("aout");
    p.set_state(gst::State::Null).unwrap();

    let last_key = video
        .iter()
        .rev()
        .map(|s| s.buffer().unwrap())
        .find(|b| !b.flags().contains(gst::BufferFlags::DELTA_UNIT))
        .unwrap()
        .map_readable()
        .unwrap()
        .to_vec();
    let still: Vec<&gst::Buffer> = vout
        .iter()
        .filter(|b| b.pts().unwrap() >= real_v_end)
        .collect();
    assert!(
        still.len() >= 2,
        "{} still frames of {}",
        still.len(),
        vout.len()
    );
    for w in still.windows(2) {
        assert_eq!(
            w[1].pts().unwrap() - w[0].pts().unwrap(),
            gst::ClockTime::from_mseconds(500)
        );
    }
    for b in &still {
        assert!(!b.flags().contains(gst::BufferFlags::DELTA_UNIT));
        assert_eq!(b.map_readable().unwrap().as_slice(), &last_key[..]);
    }
    let silence: Vec<&gst::Buffer> = aout
        .iter()
        .filter(|b| b.pts().unwrap() >= real_a_end)
        .collect();
    // More than a second of silence, back to back, all the same frame.
    assert!(silence.len() >= 50, "{} silent frames", silence.len());
    for w in silence.windows(2) {
        assert_eq!(
            (w[1].pts().unwrap() - w[0].pts().unwrap()).nseconds(),
            aframe
        );
        assert_eq!(
            w[0].map_readable().unwrap().as_slice(),
            w[1].map_readable().unwrap().as_slice()
        );
    }
    // Timestamps only go forward.
    for out in [&vout, &aout] {
        for w in out.windows(2) {
            assert!(w[1].pts().unwrap() > w[0].pts().unwrap());
        }
    }
}

/// The ladder's encoders make their keyframes where the input has them, and the
/// decoder starts at the input's first keyframe (frames before it are dropped).
#[test]
fn ladder_keyframes_follow_the_input() {
    crate::init().unwrap();
    for f in ["x264enc", "avdec_h264", "h264parse"] {
        if gst::ElementFactory::find(f).is_none() {
            eprintln!("skipped: {f} missing");
            return;
        }
    }
    // Keyframes at frames 0, 7, 14, 21, 28; the stream starts at frame 3.
    let input: Vec<gst::Sample> = encode(
        "videotestsrc num-buffers=32 ! video/x-raw,width=160,height=120,framerate=25/1 \
         ! x264enc key-int-max=7 tune=zerolatency ! h264parse \
         ! video/x-h264,stream-format=avc,alignment=au ! appsink name=out sync=false",
    )
    .into_iter()
    .skip(3)
    .collect();
    let p = gst::parse::launch(
        "appsrc name=src format=time ! avdec_h264 name=dec ! videoconvert \
         ! x264enc name=enc key-int-max=300 tune=zerolatency speed-preset=ultrafast \
         ! appsink name=out sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let by = |n: &str| p.by_name(n).unwrap();
    force_keyframes(&by("dec"), &[by("enc")]).unwrap();
    let src = by("src").downcast::<gst_app::AppSrc>().unwrap();
    src.set_caps(input[0].caps().map(|c| c.to_owned()).as_ref());
    let sink = by("out").downcast::<gst_app::AppSink>().unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let mut keys_in = Vec::new();
    for (i, s) in input.iter().enumerate() {
        let mut b = s.buffer().unwrap().copy();
        let t = gst::ClockTime::from_mseconds(i as u64 * 40);
        if !b.flags().contains(gst::BufferFlags::DELTA_UNIT) {
            keys_in.push(t);
        }
        let m = b.make_mut();
        m.set_pts(t);
        m.set_dts(t);
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    let mut out = Vec::new();
    while let Ok(s) = sink.pull_sample() {
        let b = s.buffer().unwrap();
        // (x264enc moves its timestamps by 1000 h, and its segment with them.)
        let seg = s
            .segment()
            .unwrap()
            .downcast_ref::<gst::ClockTime>()
            .unwrap();
        let rt = seg.to_running_time(b.pts().unwrap()).unwrap();
        out.push((rt, !b.flags().contains(gst::BufferFlags::DELTA_UNIT)));
    }
    p.set_state(gst::State::Null).unwrap();
    assert_eq!(keys_in.len(), 4, "{keys_in:?}");
    // The first output frame is the first input keyframe's.
    assert_eq!(out.first().map(|o| o.0), keys_in.first().copied());
    let keys_out: Vec<gst::ClockTime> = out.iter().filter(|o| o.1).map(|o| o.0).collect();
    assert_eq!(keys_out, keys_in, "{out:?}");
}

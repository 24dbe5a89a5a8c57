// SPDX-License-Identifier: MPL-2.0
//! True peak against FFmpeg's `ebur128=peak=true` on the EBU Tech 3341 true-peak
//! cases 15 to 19, with and without fades.

use super::support::*;

/// FFmpeg 5.1's readings (dBTP) of the signals of [`case`], abrupt and faded,
/// from 1 s 48 kHz stereo float WAVs written by [`write_wav`] and read with
/// `ffmpeg -nostdin -i X.wav -af volume=40dB,ebur128=peak=true:metadata=1,\
///  ametadata=print:file=- -f null -` (the last `lavfi.r128.true_peaks_ch0`,
/// divided by 100: the 40 dB gain only buys digits, the metadata has three
/// decimals). `scripts/true-peak-vs-ffmpeg.sh` re-checks them; the test below
/// also does when ffmpeg is installed.
const FFMPEG: [(u32, f64, f64); 5] = [
    (15, -5.5567, -6.0206),
    (16, -5.4204, -6.0206),
    (17, -6.0206, -6.0206),
    (18, -5.9547, -6.0206),
    (19, 3.6105, 3.0103),
];

/// EBU Tech 3341 case `n` (15..=19): a sine at 0.5 FFS (1.41 FFS for 19) and at
/// fs/4, fs/4, fs/6, fs/8, fs/4, starting at 0, 45, 60, 67.5, 45 degrees; 1 s.
fn case(n: u32, faded: bool) -> Sig {
    let half = Some(-6.020599913279624);
    let over = Some(20.0 * 2f64.sqrt().log10());
    let (div, phase, level) = match n {
        15 => (4.0, 0.0, half),
        16 => (4.0, 45.0, half),
        17 => (6.0, 60.0, half),
        18 => (8.0, 67.5, half),
        _ => (4.0, 45.0, over),
    };
    let s = Sig::new(48000, 2).tone(48000.0 / div, &[level, level], 1.0, phase);
    if faded { s.faded(0.02) } else { s }
}

/// What ffmpeg reads on `sig` now, `None` if it is not installed.
fn ffmpeg_true_peak(sig: &Sig, name: &str) -> Option<f64> {
    let path = std::env::temp_dir().join(format!("lm-tp-{}-{name}.wav", std::process::id()));
    write_wav(&path, sig).unwrap();
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-nostats", "-hide_banner", "-i"])
        .arg(&path)
        .args([
            "-af",
            "volume=40dB,ebur128=peak=true:metadata=1,ametadata=print:file=-",
            "-f",
            "null",
            "-",
        ])
        .output();
    let _ = std::fs::remove_file(&path);
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("LOUDNESS_FFMPEG_REQUIRED").is_none(),
                "ffmpeg not found"
            );
            return None;
        }
        Err(e) => panic!("ffmpeg: {e}"),
    };
    assert!(out.status.success(), "ffmpeg failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: f64 = text
        .lines()
        .filter_map(|l| l.strip_prefix("lavfi.r128.true_peaks_ch0="))
        .next_back()
        .expect("ffmpeg printed no true peak")
        .parse()
        .unwrap();
    Some(20.0 * (v / 100.0).log10())
}

#[test]
fn true_peak_agrees_with_ffmpeg_with_and_without_fades() {
    let mut live = 0;
    for (n, abrupt, faded) in FFMPEG {
        for (is_faded, recorded) in [(false, abrupt), (true, faded)] {
            let sig = case(n, is_faded);
            let what = format!("case {n} {}", if is_faded { "faded" } else { "abrupt" });
            let ours = last(&measure(&sig, 1000, None)).tp;
            eprintln!("{what}: ours {ours:.4} ffmpeg {recorded:.4}");
            assert!(
                (ours - recorded).abs() <= 0.1,
                "{what}: {ours:.3} dBTP, ffmpeg {recorded:.3}"
            );
            if let Some(now) = ffmpeg_true_peak(&sig, &format!("{n}-{is_faded}")) {
                assert!(
                    (now - recorded).abs() <= 0.001,
                    "{what}: this ffmpeg reads {now:.4}, recorded {recorded:.4}"
                );
                live += 1;
            }
        }
    }
    eprintln!("compared with a live ffmpeg on {live} of 10 signals");
}

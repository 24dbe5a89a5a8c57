// SPDX-License-Identifier: MPL-2.0
//! Files the end-to-end tests write, and ffmpeg reading them back.

/// A path for `name` in this test process's scratch directory (`failover-<test>-<pid>`).
pub fn scratch(test: &str, name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("failover-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// ffmpeg decodes the video of `path` and reports errors (`-v error`): (frames,
/// error output).
pub fn ffmpeg_decode(path: &std::path::Path) -> (usize, String) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg runs");
    let frames = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    (frames, String::from_utf8_lossy(&out.stderr).into_owned())
}

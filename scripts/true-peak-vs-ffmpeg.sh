#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# Re-checks loudnessmatch's true peak against the ffmpeg installed here, on the
# EBU Tech 3341 true-peak cases 15-19 with and without fades: runs the test that
# compares the element with the ffmpeg readings recorded in
# tests/loudnessmatch/true_peak.rs, with ffmpeg required, so that it also compares
# this ffmpeg's live readings with the recorded ones (and fails without ffmpeg).
#
# Usage: scripts/true-peak-vs-ffmpeg.sh     (from anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v ffmpeg >/dev/null || { echo "ffmpeg not found" >&2; exit 1; }
ffmpeg -hide_banner -version | head -1
LOUDNESS_FFMPEG_REQUIRED=1 cargo test --release --test loudnessmatch \
    true_peak_agrees_with_ffmpeg -- --nocapture

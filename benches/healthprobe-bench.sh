#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Per-buffer cost of healthprobe against identity and against no element at all.
# Each pipeline runs RUNS times; the minimum wall time is kept. The cost per buffer
# is (time with element - time without element) / N.
#
#   benches/healthprobe-bench.sh            # N=200000 buffers, RUNS=5
#   N=50000 RUNS=3 benches/healthprobe-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
export GST_PLUGIN_PATH="$PWD/target/release"
N=${N:-200000}
RUNS=${RUNS:-5}

best_ns() {
  local best=0 t0 t1 dt
  for _ in $(seq "$RUNS"); do
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    gst-launch-1.0 -q $1 >/dev/null
    t1=$(date +%s%N)
    dt=$((t1 - t0))
    if [ "$best" -eq 0 ] || [ "$dt" -lt "$best" ]; then best=$dt; fi
  done
  echo "$best"
}

bench() {
  local label=$1 src=$2 base elem per
  base=$(best_ns "$src ! fakesink")
  printf '%-34s %8s\n' "$label" "µs/buffer"
  for elem in identity "healthprobe interval=0" healthprobe; do
    t=$(best_ns "$src ! $elem ! fakesink")
    per=$(awk -v t="$t" -v b="$base" -v n="$N" 'BEGIN { printf "%.3f", (t - b) / n / 1000 }')
    printf '  %-32s %8s\n' "$elem" "$per"
  done
}

echo "N=$N buffers, min of $RUNS runs"
bench "raw F32 stereo 48 kHz, 480 frames" \
  "audiotestsrc wave=silence num-buffers=$N samplesperbuffer=480 ! audio/x-raw,format=F32LE,channels=2,rate=48000"
bench "raw S16 stereo 48 kHz, 480 frames" \
  "audiotestsrc wave=silence num-buffers=$N samplesperbuffer=480 ! audio/x-raw,format=S16LE,channels=2,rate=48000"
bench "encoded, 400-byte buffers" \
  "fakesrc num-buffers=$N sizetype=fixed sizemax=400 filltype=nothing ! audio/mpeg,mpegversion=4"

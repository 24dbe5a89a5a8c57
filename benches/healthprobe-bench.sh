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
cargo build --release --quiet -p gst-plugin-failover
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
  shift 2
  base=$(best_ns "$src ! fakesink")
  printf '%-40s %10s\n' "$label" "µs/buffer"
  for elem in identity "$@" "healthprobe interval=0" healthprobe; do
    t=$(best_ns "$src ! $elem ! fakesink")
    per=$(awk -v t="$t" -v b="$base" -v n="$N" 'BEGIN { printf "%.3f", (t - b) / n / 1000 }')
    printf '  %-38s %10s\n' "$elem" "$per"
  done
}

# fakesrc with zeroed memory: real (non-GAP) buffers whose production costs almost
# nothing, so the element's own cost is not hidden by a signal generator.
echo "N=$N buffers, min of $RUNS runs; cost = (with element - without) / N"
bench "raw F32 stereo 48 kHz, 480 frames" \
  "fakesrc num-buffers=$N sizetype=fixed sizemax=3840 filltype=zero ! audio/x-raw,format=F32LE,layout=interleaved,channels=2,rate=48000" \
  "level post-messages=false"
bench "raw S16 stereo 48 kHz, 480 frames" \
  "fakesrc num-buffers=$N sizetype=fixed sizemax=1920 filltype=zero ! audio/x-raw,format=S16LE,layout=interleaved,channels=2,rate=48000" \
  "level post-messages=false"
bench "raw F32 6 ch 48 kHz, 480 frames" \
  "fakesrc num-buffers=$N sizetype=fixed sizemax=11520 filltype=zero ! audio/x-raw,format=F32LE,layout=interleaved,channels=6,channel-mask=(bitmask)0x3f,rate=48000" \
  "level post-messages=false"
bench "encoded, 400-byte buffers" \
  "fakesrc num-buffers=$N sizetype=fixed sizemax=400 filltype=nothing ! audio/mpeg,mpegversion=4"

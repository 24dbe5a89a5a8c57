#!/usr/bin/env bash
# CPU cost of the alignment estimator (src/align) per second of audio and station,
# beside what decoding the two AAC inputs it listens to costs.
#   benches/align-bench.sh [SECONDS] [RATE] [RUNS]
# CPU time (not wall-clock time) is measured, so the numbers hold on a busy machine.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
rate=${2:-48000}
runs=${3:-3}
cargo build --release --quiet --example align-bench
target/release/examples/align-bench "$seconds" "$rate" "$runs"

# For scale: decoding one input (AAC 128 kbit/s stereo) with avdec_aac, best of RUNS.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ffmpeg -nostdin -loglevel error -f lavfi -i "anoisesrc=d=$seconds:c=pink:r=$rate:a=0.2" \
  -ac 2 -c:a aac -b:a 128k "$tmp/in.aac"
best=""
for ((i = 0; i < runs; i++)); do
  TIMEFORMAT='%U %S'
  t=$({ time gst-launch-1.0 -q filesrc location="$tmp/in.aac" ! aacparse ! avdec_aac ! fakesink >/dev/null; } 2>&1 | tail -1)
  ms=$(echo "$t" | awk -v s="$seconds" '{ printf "%.3f", ($1 + $2) * 1000 / s }')
  if [ -z "$best" ] || awk -v a="$ms" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$ms; fi
done
printf '%-52s %8s\n' "for scale: decoding one AAC input (avdec_aac," "$best"
printf '%-52s\n' "  128 kbit/s stereo, gst-launch incl. start-up)"

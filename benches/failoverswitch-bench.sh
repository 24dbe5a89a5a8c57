#!/usr/bin/env bash
# Per-buffer cost of failoverswitch beside identity and input-selector (with its
# default alignment measurement, align=auto, and without it).
# The same non-live pipeline (two audiotestsrc, N buffers of 480 frames each) runs
# through each element RUNS times; the table shows the minimum and median wall time
# and the per-buffer overhead over the bare pipeline (two sources, no element).
# Usage: benches/failoverswitch-bench.sh [N] [RUNS]   (defaults 200000, 7)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
RUNS=${2:-7}
export GST_PLUGIN_PATH=$PWD/target/release
[ -f target/release/libgstfailover.so ] || cargo build --release -p gst-plugin-failover

SRC="audiotestsrc num-buffers=$N samplesperbuffer=480 wave=silence ! audio/x-raw,rate=48000,channels=2,format=S16LE"
declare -A PIPE=(
  [bare]="$SRC ! fakesink sync=false $SRC ! fakesink sync=false"
  [identity]="$SRC ! identity ! fakesink sync=false $SRC ! fakesink sync=false"
  [input-selector]="input-selector name=s ! fakesink sync=false $SRC ! s.sink_0 $SRC ! s.sink_1"
  [failoverswitch]="failoverswitch name=s ! fakesink sync=false $SRC ! s.primary $SRC ! s.secondary"
  [failoverswitch align=off]="failoverswitch name=s align=off ! fakesink sync=false $SRC ! s.primary $SRC ! s.secondary"
)
ORDER=(bare identity input-selector "failoverswitch align=off" failoverswitch)

run() { # prints seconds
  local start end
  start=$(date +%s.%N)
  gst-launch-1.0 -q $1 >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

declare -A MIN MED
for name in "${ORDER[@]}"; do
  times=()
  for _ in $(seq "$RUNS"); do times+=("$(run "${PIPE[$name]}")"); done
  sorted=$(printf '%s\n' "${times[@]}" | sort -g)
  MIN[$name]=$(echo "$sorted" | head -1)
  MED[$name]=$(echo "$sorted" | sed -n "$(( (RUNS + 1) / 2 ))p")
done

printf '%s buffers of 480 frames, %s runs each (%s)\n\n' "$N" "$RUNS" "$(nproc) cores"
printf '| element | min s | median s | overhead µs/buffer (min) | overhead µs/buffer (median) |\n'
printf '|---|---|---|---|---|\n'
for name in "${ORDER[@]}"; do
  omin=$(echo "(${MIN[$name]} - ${MIN[bare]}) * 1000000 / $N" | bc -l)
  omed=$(echo "(${MED[$name]} - ${MED[bare]}) * 1000000 / $N" | bc -l)
  printf '| %s | %.3f | %.3f | %.2f | %.2f |\n' "$name" "${MIN[$name]}" "${MED[$name]}" "$omin" "$omed"
done

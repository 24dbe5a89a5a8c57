#!/usr/bin/env bash
# healthprobe on a throttled link, measured: a private Icecast with a 128 kbit/s AAC
# encoder, testkit's fault-proxy in front of it, and
#   souphttpsrc is-live=true iradio-mode=false ! typefind ! aacparse ! healthprobe min-bitrate=96000 ! fakesink
# reading through the proxy. After WARMUP s the proxy throttles the link to RATE
# bytes/s for FAULT s, then passes again. Prints the probe's `health` messages
# (time relative to the start of the throttle, healthy, reason, bitrate).
#
#   scripts/healthprobe-throttle.sh                 # RATE=4000 WARMUP=8 FAULT=15
#   RATE=12000 scripts/healthprobe-throttle.sh      # 96 kbit/s
# Needs the release build (make build) for the plugin and the proxy.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RATE=${RATE:-4000}
WARMUP=${WARMUP:-8}
FAULT=${FAULT:-15}
AFTER=${AFTER:-10}
export GST_PLUGIN_PATH=${GST_PLUGIN_PATH:-$ROOT/target/release}
. "$ROOT/scripts/icecast/harness.sh"
. "$ROOT/scripts/icecast/faults.sh"

h_init healthprobe-throttle
h_icecast
h_encoder enc /station.aac 128k 0 48000
h_wait_mount /station.aac
fp_start link "$H_PORT"
url=$(fp_url link /station.aac)

# Each health message with the wall-clock time it was printed at.
stamp() {
  while IFS= read -r line; do
    case $line in *"health, healthy"*) printf '%s %s\n' "$(date +%s.%3N)" "$line" ;; esac
  done
}
gst-launch-1.0 -m souphttpsrc is-live=true iradio-mode=false location="$url" ! typefind ! aacparse ! \
  healthprobe name=probe min-bitrate=96000 ! fakesink sync=false \
  > >(stamp >"$H_WORK/health.txt") 2>&1 &
H_PIDS[gst]=$!

h_sleep "$WARMUP"
fp_cmd link throttle "$RATE" >/dev/null
t0=$(fp_when link "mode throttle")
h_sleep "$FAULT"
fp_cmd link pass >/dev/null
t1=$(fp_when link "mode pass" last)
h_sleep "$AFTER"
h_stop gst
sleep 0.5

echo "throttle to $RATE B/s at 0.0 s, pass again at $(awk -v a="$t1" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s"
awk -v t0="$t0" '{
  t = $1 - t0
  healthy = $0; sub(/.*healthy=\(boolean\)/, "", healthy); sub(/,.*/, "", healthy)
  reason = $0; sub(/.*reason=\(string\)/, "", reason); sub(/,.*/, "", reason)
  bitrate = $0; sub(/.*bitrate=\(guint64\)/, "", bitrate); sub(/[,;].*/, "", bitrate)
  printf "%7.2f s  healthy=%-5s reason=%-11s bitrate=%s\n", t, healthy, reason, bitrate
}' "$H_WORK/health.txt"

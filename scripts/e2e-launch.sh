#!/usr/bin/env bash
# End-to-end checks with real gst-launch-1.0 / gst-inspect-1.0 runs of the built plugin.
set -euo pipefail
cd "$(dirname "$0")/.."
export GST_PLUGIN_PATH=${GST_PLUGIN_PATH:-$PWD/target/release}
export GST_REGISTRY=$(mktemp -u /tmp/failover-registry.XXXXXX)
trap 'rm -f "$GST_REGISTRY"' EXIT
failures=0
check() { # name, condition command...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures + 1)); fi
}
has() { grep -q -- "$1" <<<"$OUT"; }

OUT=$(gst-inspect-1.0 failover)
check "plugin lists three elements" bash -c 'for e in failoverswitch healthprobe loudnessmatch; do grep -q "$e:" <<<"$0" || exit 1; done' "$OUT"
OUT=$(gst-inspect-1.0 failoverswitch)
for p in timeout restore-delay mode auto-switch active-pad caps-check crossfade fill-silence stats; do
  check "failoverswitch documents $p" has "^  $p "
done
check "failoverswitch has primary, secondary, src pads" bash -c 'grep -q "SINK: .primary." <<<"$0" && grep -q "SINK: .secondary." <<<"$0" && grep -q "SRC: .src." <<<"$0"' "$OUT"

CAPS="audio/x-raw,rate=48000,channels=2,format=S16LE"
# A non-live primary file ending at 1 s hands over to the secondary at exactly 1 s;
# the pipeline ends when both have ended.
OUT=$(timeout 60 gst-launch-1.0 -m failoverswitch name=s ! fakesink \
  audiotestsrc num-buffers=100 samplesperbuffer=480 ! $CAPS ! s.primary \
  audiotestsrc num-buffers=300 samplesperbuffer=480 freq=880 ! $CAPS ! s.secondary 2>&1)
check "EOS handover at 1 s" has 'failover-switched, from=(string)primary, to=(string)secondary, reason=(string)eos, running-time=(guint64)1000000000'
check "EOS only when both ended" has 'Got EOS from element "pipeline0"'

# A 44.1 kHz secondary against a 48 kHz primary: a warning naming the field, never
# switched to, the pipeline keeps running to the end.
OUT=$(timeout 60 gst-launch-1.0 -m failoverswitch name=s ! fakesink \
  audiotestsrc num-buffers=100 samplesperbuffer=480 ! $CAPS ! s.primary \
  audiotestsrc num-buffers=300 samplesperbuffer=441 ! audio/x-raw,rate=44100,channels=2,format=S16LE ! s.secondary 2>&1)
check "caps mismatch warning names pad and field" has 'secondary input caps do not match the output (rate: 48000 (output) vs 44100)'
check "never switched to the mismatched input" bash -c '! grep -q "to=(string)secondary" <<<"$0"' "$OUT"
check "mismatch does not stop the pipeline" has 'Got EOS from element "pipeline0"'

# Live: the primary ends after 1 s; the secondary takes over and the output keeps
# its timestamps running (identity checks them: error-after on a discontinuity).
OUT=$(timeout 60 gst-launch-1.0 -m failoverswitch name=s timeout=300000000 ! identity check-imperfect-timestamp=true ! fakesink sync=true \
  audiotestsrc is-live=true num-buffers=100 samplesperbuffer=480 ! $CAPS ! s.primary \
  audiotestsrc is-live=true num-buffers=200 samplesperbuffer=480 ! $CAPS ! s.secondary 2>&1)
check "live EOS failover near 1 s" has 'to=(string)secondary, reason=(string)eos, running-time=(guint64)100'
check "live output has no imperfect timestamp" bash -c '! grep -q "imperfect-timestamp" <<<"$0"' "$OUT"

echo "e2e-launch: $failures failure(s)"
[ "$failures" -eq 0 ]

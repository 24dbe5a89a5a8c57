#!/usr/bin/env bash
# `make demo-video`: the video platform's failover in about a minute, on 127.0.0.1.
#
#   0 s  nginx-rtmp; two encoders of one programme (red primary at H.264 level 3.0,
#        blue backup at level 3.1 with 64 kbit/s audio) publishing live/primary and
#        live/backup; the relay (sticky, --ladder 480p,360p) publishing live/out,
#        live/out_480p, live/out_360p, with --latency 3s (one GOP + timeout: no
#        frozen video at a switch; DEMO_RELAY_ARGS= for the default 0); a viewer on
#        each
#  10 s  the primary encoder crashes        -> the relay switches to the backup
#  20 s  the primary encoder is back        -> sticky: the relay stays on the backup
#  30 s  the backup's line drops (SIGSTOP: connection open, no data)
#                                           -> back to the primary after the timeout
#  40 s  the backup's line is back
#  50 s  end: the relay's switch timeline, each viewer's analysis (switches, frozen
#        video, A/V offset, decoder errors), and in target/demo-video/ a contact
#        sheet per recording (the frames around each switch: the burnt-in clock
#        shows that the programme went on) and a timeline plot.
# Every process started here is stopped on exit, even on Ctrl-C.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/rtmp/harness.sh
OUT=target/demo-video
RELAY=${RELAY:-target/release/gst-failover-relay}
[ -x "$RELAY" ] || {
  echo "build the relay first (make build)" >&2
  exit 1
}
mkdir -p "$OUT"

hv_init demo-video
hv_nginx || exit 1
hv_encoder primary primary --colour red --level 3.0
hv_encoder backup backup --colour blue --level 3.1 --abitrate 64k
hv_wait_publish primary 30 && hv_wait_publish backup 30 || exit 1
hv_start relay "$RELAY" --quiet --events "$HV_WORK/events.log" \
  --primary "$(hv_url primary)" --secondary "$(hv_url backup)" \
  --output "$(hv_url out)" --ladder 480p,360p --timeout 1s ${DEMO_RELAY_ARGS---latency 3s}
hv_wait_publish out 30 || {
  tail "$HV_WORK/relay.log"
  exit 1
}
T0=$(date +%s.%N)
at() {
  local left
  left=$(awk -v s="$T0" -v n="$(date +%s.%N)" -v t="$1" 'BEGIN { d = s + t - n; print (d > 0 ? d : 0) }')
  hv_sleep "$left"
}
hv_viewer out out 50
hv_viewer out480 out_480p 50
hv_viewer out360 out_360p 50
at 10
hv_kill primary
at 20
hv_encoder primary primary --colour red --level 3.0
at 30
hv_pause backup
at 40
hv_resume backup
hv_wait out
hv_wait out480
hv_wait out360
hv_stop relay

echo
echo "== the relay's switches (events.log)"
awk '$2 == "switch" {
  for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
  printf "  %s  %-9s -> %-9s  reason %s\n", strftime("%H:%M:%S", $1), f["from"], f["to"], f["reason"]
}' "$HV_WORK/events.log"
sed -n 's/^relay: stopped/  relay: stopped/p' "$HV_WORK/relay.log"
for v in out out480 out360; do
  echo
  hv_report "$v" --colours red,blue --arrivals "$HV_WORK/$v-arrivals.csv" \
    --contact "$OUT/$v-contact.png" --plot "$OUT/$v-timeline.png" |
    grep -v '^audio:'
  echo "viewer: $(grep -E '^(connections|disconnects|longest_gap_ms|decode_errors)=' "$HV_WORK/$v.txt" | tr '\n' ' ')"
done
echo
echo "contact sheets and timeline plots: $(ls "$OUT"/*.png | tr '\n' ' ')"

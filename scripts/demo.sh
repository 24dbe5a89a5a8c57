#!/usr/bin/env bash
# `make demo`: a one-minute failover relay between real Icecast mounts on 127.0.0.1.
#
#   0 s  Icecast, primary encoder (/station.aac, 128 kbit/s) and secondary encoder
#        (/station_fallback.aac, 64 kbit/s, 7 dB quieter), the relay
#        (/station.aac + /station_fallback.aac -> /relay.aac) and a listener on
#        /relay.aac
#  10 s  the primary encoder is killed      -> the relay switches to the secondary
#  20 s  the primary encoder comes back     -> back to the primary after restore-delay
#  40 s  the secondary encoder is killed    -> standby lost, the output is unaffected
#  60 s  end: summary (switches with reasons and times, listener's bytes, longest
#        gap, disconnections, loudness of each input and of the output) and a PNG
#        timeline in target/demo/relay-timeline.png
#
# SETUP=passthrough (no re-encode) or decode (default: decode, healthprobe,
# loudnessmatch, crossfade, one encode). Every process started here is stopped on
# exit, even on Ctrl-C.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/icecast/harness.sh
H_RELAY_QUIET=
SETUP=${SETUP:-decode}
OUT=target/demo
mkdir -p "$OUT"

h_build || exit 1
h_init demo
h_icecast
h_encoder primary /station.aac 128k -3 48000
h_encoder secondary /station_fallback.aac 64k -10 48000
h_wait_mount /station.aac && h_wait_mount /station_fallback.aac || exit 1
h_relay --setup "$SETUP" --timeout 1s --restore-delay 5s
h_wait_mount /relay.aac || {
  tail "$H_WORK/relay.log"
  exit 1
}
h_listener 0

at() { # at SECONDS: sleep until that many seconds after the start
  local left
  left=$(awk -v s="$H_T0" -v n="$(date +%s.%N)" -v t="$1" 'BEGIN { d = s + t - n; print (d > 0 ? d : 0) }')
  h_sleep "$left"
}
status() { grep -E '^\[' "$H_WORK/relay.log" | tail -n 1 | cut -c1-160; }

h_log "relay running ($SETUP setup); its status line every 5 s goes to $H_WORK/relay.log"
at 10
h_stop primary
at 14
status
at 20
h_encoder primary /station.aac 128k -3 48000
at 30
status
at 40
h_stop secondary
at 50
status
at 60
h_stop listener
h_stop relay

cp "$H_WORK"/*.txt "$H_WORK"/*.csv "$H_WORK"/*.log "$OUT"/ 2>/dev/null
echo
/usr/bin/python3 scripts/icecast/report.py summary "$H_WORK" --png "$OUT/relay-timeline.png"
echo "logs: $OUT/"

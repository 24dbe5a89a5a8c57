#!/usr/bin/env bash
# `make demo`: a one-minute failover relay between real Icecast mounts on 127.0.0.1.
#
#   0 s  Icecast, primary encoder (/station.aac, 128 kbit/s) and secondary encoder
#        (/station_fallback.aac, 64 kbit/s, 7 dB quieter, the same programme 700 ms
#        later: another encoder over another line), the relay
#        (/station.aac + /station_fallback.aac -> /relay.aac), a listener on
#        /relay.aac and a recorder of what it hears
#  16 s  the primary encoder is killed      -> the relay switches to the secondary
#        (the inputs' alignment needs about 10 s of both, the loudness match 4 s)
#  24 s  the primary encoder comes back     -> back to the primary after its
#        alignment is measured again and restore-delay
#  50 s  the secondary encoder is killed    -> standby lost, the output is unaffected
#  60 s  end: summary (switches with reasons and times, listener's bytes, longest
#        gap, disconnections, loudness of each input and of the output and its
#        step at each switch, the programme's continuity at each switch read back
#        from the recording) and a PNG timeline in target/demo/relay-timeline.png
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
h_encoder secondary /station_fallback.aac 64k -10 48000 700
h_wait_mount /station.aac && h_wait_mount /station_fallback.aac || exit 1
h_relay --setup "$SETUP" --timeout 1s --restore-delay 5s
h_wait_mount /relay.aac || {
  tail "$H_WORK/relay.log"
  exit 1
}
h_listener 0
# What the listener hears, decoded, for the programme markers (scripts/icecast/markers.py).
rec_start=$(date +%s.%N)
ffmpeg -nostdin -hide_banner -loglevel error -i "http://127.0.0.1:$H_PORT/relay.aac" \
  -t 62 -ac 1 -ar 16000 "$H_WORK/heard.wav" >"$H_WORK/recorder.log" 2>&1 &
H_PIDS[recorder]=$!

at() { # at SECONDS: sleep until that many seconds after the start
  local left
  left=$(awk -v s="$H_T0" -v n="$(date +%s.%N)" -v t="$1" 'BEGIN { d = s + t - n; print (d > 0 ? d : 0) }')
  h_sleep "$left"
}
status() { grep -E '^\[' "$H_WORK/relay.log" | tail -n 1 | cut -c1-160; }

h_log "relay running ($SETUP setup); its status line every 5 s goes to $H_WORK/relay.log"
at 16
h_stop primary
at 20
status
at 24
h_encoder primary /station.aac 128k -3 48000
at 45
status
at 50
h_stop secondary
at 55
status
at 60
h_stop listener
h_stop relay
# The recorder ends with the output mount.
wait "${H_PIDS[recorder]}" 2>/dev/null
h_stop recorder

cp "$H_WORK"/*.txt "$H_WORK"/*.csv "$H_WORK"/*.log "$OUT"/ 2>/dev/null
echo
/usr/bin/python3 scripts/icecast/report.py summary "$H_WORK" --png "$OUT/relay-timeline.png"
# The programme at each switch, as heard: did the listener hear it repeat or skip?
times=$(awk -v r="$rec_start" '$2 == "switch" { printf "%.1f ", $1 - r }' "$H_WORK/relay-events.txt")
if [ -n "$times" ]; then
  echo
  # Decode: sample-exact (5 ms bound); passthrough switches whole AAC frames (21.3 ms).
  jump=5
  [ "$SETUP" = passthrough ] && jump=21.4
  echo "programme continuity at each switch (recording times $times; the secondary is 700 ms later):"
  /usr/bin/python3 scripts/icecast/markers.py "$H_WORK/heard.wav" --around $times --window 3 --max-jump-ms $jump |
    grep -E "^around|^programme jump|^OK|^FAIL" || true
fi
echo "logs: $OUT/"

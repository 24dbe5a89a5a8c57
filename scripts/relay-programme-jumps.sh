#!/usr/bin/env bash
# Measures the programme jumps a listener of the relay hears at its switches, with
# the secondary carrying the same programme DELAY_MS later (default 700) and 7 dB
# quieter: a private Icecast, both encoders, the relay, a recording of /relay.aac;
# the primary encoder is stopped at 10 s and back at 18 s (failover, then restore
# after 3 s). Prints the switches and every programme jump found by markers.py.
#   SETUP=decode|passthrough DELAY_MS=700 scripts/relay-programme-jumps.sh
# Not part of `make test` (about 45 s); the baseline for issue 11's alignment.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/icecast/harness.sh
setup=${SETUP:-decode}
delay=${DELAY_MS:-700}
h_build || exit 1
h_init programme-jumps
h_icecast
h_encoder primary /station.aac 128k 0 48000 0
h_encoder secondary /station_fallback.aac 64k -7 48000 "$delay"
h_wait_mount /station.aac && h_wait_mount /station_fallback.aac || exit 1
"$H_BIN/failover-relay" --primary "http://127.0.0.1:$H_PORT/station.aac" \
  --secondary "http://127.0.0.1:$H_PORT/station_fallback.aac" \
  --output "icecast://source:$H_PASS@127.0.0.1:$H_PORT/relay.aac" --setup "$setup" \
  --timeout 1s --restore-delay 3s --quiet --events "$H_WORK/events.txt" >"$H_WORK/relay.log" 2>&1 &
H_PIDS[relay]=$!
h_wait_mount /relay.aac || exit 1
curl -s --max-time 36 "http://127.0.0.1:$H_PORT/relay.aac" -o "$H_WORK/out.aac" &
rec=$!
h_sleep 10
h_log "stopping primary"
h_stop primary
h_sleep 8
h_encoder primary /station.aac 128k 0 48000 0
wait "$rec"
grep ' switch ' "$H_WORK/events.txt"
ffmpeg -nostdin -loglevel error -y -i "$H_WORK/out.aac" -ac 1 -ar 16000 "$H_WORK/out.wav" 2>/dev/null
python3 scripts/icecast/markers.py "$H_WORK/out.wav"

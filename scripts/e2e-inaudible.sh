#!/usr/bin/env bash
# End-to-end: an inaudible failover (issue 11). The secondary is the same programme
# 700 ms later and 7 dB quieter; the relay (decode setup) aligns the inputs by
# content and matches their loudness before the switch. A recording of the output
# around each switch must show no repeated or skipped programme (per-second markers
# of the test programme, read back by scripts/icecast/markers.py: at most 5 ms) and
# no level step over 1 LU (the listener's short-term loudness). About 70 s.
# SETUP=passthrough (scripts/e2e-inaudible-passthrough.sh): AAC frames switched as
# they are, aligned by the relay from its decoded side branches; a jump of at most
# one AAC frame (21.3 ms at 48 kHz) and no loudness matching (not in passthrough).
# KEEP=1 keeps the work directory.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/icecast/harness.sh

TIMEOUT=1
RESTORE=5
SETUP=${SETUP:-decode}
case $SETUP in
decode) MAX_JUMP_MS=5 LOUDNESS=(--loudness-lu 1) ;;
# One AAC frame: 1024 samples at 48 kHz.
passthrough) MAX_JUMP_MS=21.4 LOUDNESS=() ;;
*) echo "SETUP=$SETUP: decode or passthrough" >&2; exit 2 ;;
esac
h_build || exit 1
h_init "e2e-inaudible-$SETUP"
echo "== e2e: inaudible failover ($SETUP), secondary 700 ms later and 7 dB quieter (work $H_WORK)"
h_icecast
h_encoder primary /station.aac 128k -3 48000
h_encoder secondary /station_fallback.aac 64k -10 48000 700
h_wait_mount /station.aac && h_wait_mount /station_fallback.aac || exit 1
HPORT=$(free_port)
# RELAY_ARGS: more relay options (RELAY_ARGS="--align off" shows what alignment fixes:
# this test then fails).
# shellcheck disable=SC2086
h_relay --setup "$SETUP" --timeout ${TIMEOUT}s --restore-delay ${RESTORE}s --http "127.0.0.1:$HPORT" ${RELAY_ARGS:-}
h_wait_mount /relay.aac || exit 1
h_listener 0
# The output as heard, decoded, for the markers.
rec_start=$(date +%s.%N)
ffmpeg -nostdin -hide_banner -loglevel error -i "http://127.0.0.1:$H_PORT/relay.aac" \
  -t 75 -ac 1 -ar 48000 "$H_WORK/out.wav" >"$H_WORK/recorder.log" 2>&1 &
H_PIDS[recorder]=$!

# The alignment needs about 10 s of both inputs, the loudness match 4 s.
h_sleep 18
h_stop primary
h_sleep 10
h_encoder primary /station.aac 128k -3 48000
# The encoder's mount (~2 s), the relay's reconnection (attempts 2 s apart while the
# mount is away) and fresh data (~1.5 s), the re-measured alignment (~10 s), then
# restore-delay.
h_sleep $((RESTORE + 15))
# /metrics and /status show the measured offset (700 ms plus the encoders' start-up
# and each connection's placement: within 0.4-1.0 s).
fail=0
API="/usr/bin/python3 scripts/icecast/relay_api.py"
if ! $API metrics "http://127.0.0.1:$HPORT/metrics" 'relay_alignment_confident{station=relay} = 1' \
  'relay_alignment_offset_seconds{station=relay} > 0.4' \
  'relay_alignment_offset_seconds{station=relay} < 1.0' \
  'relay_alignment_confidence{station=relay} > 0.4'; then
  echo "FAIL: /metrics does not show a confident offset"
  fail=1
fi
if ! $API status "http://127.0.0.1:$HPORT/status" 'stations.relay.alignment.confident = true' \
  "stations.relay.alignment.by = $([ "$SETUP" = decode ] && echo switch || echo relay)" \
  'stations.relay.alignment.offset_ms > 400'; then
  echo "FAIL: /status does not show the alignment"
  fail=1
fi
h_stop listener
h_stop relay
wait "${H_PIDS[recorder]}" 2>/dev/null
kill_pid "${H_PIDS[recorder]}"
unset "H_PIDS[recorder]"

/usr/bin/python3 scripts/icecast/report.py check "$H_WORK" --timeout $TIMEOUT \
  --switches health,restored --verdicts eos "${LOUDNESS[@]}" || fail=1
# Switch times on the recording's time line (the recording began at rec_start; a
# listener connection starts with Icecast's burst, so allow a generous window).
times=$(awk -v r="$rec_start" '$2 == "switch" { printf "%.1f ", $1 - r }' "$H_WORK/relay-events.txt")
echo "switches at recording times: $times"
if [ -z "$times" ]; then
  echo "FAIL: no switch recorded"
  fail=1
elif ! /usr/bin/python3 scripts/icecast/markers.py "$H_WORK/out.wav" --around $times \
  --window 3 --max-jump-ms "$MAX_JUMP_MS"; then
  echo "FAIL: the programme jumped at a switch"
  fail=1
fi
# The relay measured the offset (its events file), and showed it on /metrics-like
# outputs: the timeline's offset_ms column.
if ! grep -q ' aligned .*confident=true' "$H_WORK/relay-events.txt"; then
  echo "FAIL: no confident alignment in the relay's events"
  fail=1
fi
if ! awk -F, 'NR > 1 && $NF != "" { found = 1 } END { exit !found }' "$H_WORK/relay-timeline.csv"; then
  echo "FAIL: no offset_ms in the relay's timeline"
  fail=1
fi
grep -h " aligned " "$H_WORK/relay-events.txt" 2>/dev/null | tail -3
if [ "$fail" -ne 0 ]; then
  H_KEEP_WORK=1
  echo "FAILED (work kept in $H_WORK)"
  exit 1
fi
echo "ok: inaudible failover ($SETUP)"

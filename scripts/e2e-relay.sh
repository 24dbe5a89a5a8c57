#!/usr/bin/env bash
# End-to-end tests of the failover relay against a real Icecast on 127.0.0.1
# (run by scripts/e2e.sh, i.e. `make e2e` / `make test`; about 3.5 minutes).
#
#  1. passthrough: the primary encoder is killed and restored 3 times;
#  2. decode:      the same, and the output loudness must stay within 2 LU across
#                  every switch (secondary is 7 dB quieter, matched by loudnessmatch);
#  3. mismatch:    a 44.1 kHz secondary behind a 48 kHz primary (passthrough and
#                  decode): the relay warns, stays on the primary, the listener
#                  keeps playing;
#  4. both-down:   both encoders down for 13 s (> Icecast source-timeout), then the
#                  primary back (passthrough and decode): no disconnection;
#  5. sticky:      mode=sticky stays on the secondary after the primary is back, and
#                  takes the primary when the secondary fails.
# Every case asserts: the listener's connection is never closed, its longest pause
# in data is below timeout + 500 ms, every switch has the expected reason (an input
# the relay finds ended or failed is failed over with reason `health`, the relay's
# verdict, e.g. `eos`, checked too), no GStreamer CRITICAL or ERROR line in the
# relay's log (it runs with GST_DEBUG=1).
# Every process started here is stopped on exit, also on failure or Ctrl-C.
# KEEP=1 keeps the work directories; E2E_ONLY=<case> runs one (passthrough, decode,
# mismatch, mismatch-decode, both-down, both-down-decode, sticky).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/icecast/harness.sh

TIMEOUT=1
RESTORE=2
CYCLES=${E2E_CYCLES:-3}
REPORT=scripts/icecast/report.py
failed=()

h_build || exit 1

# start_station SETUP SECONDARY_RATE [relay options...]: Icecast, the primary encoder
# (/station.aac, 128k, 48 kHz) and the secondary (/station_fallback.aac, 64k, 7 dB
# quieter, at SECONDARY_RATE), the relay and a listener on its output /relay.aac.
start_station() {
  local setup=$1 rate=$2
  shift 2
  h_icecast
  h_encoder primary /station.aac 128k -3 48000
  h_encoder secondary /station_fallback.aac 64k -10 "$rate"
  h_wait_mount /station.aac && h_wait_mount /station_fallback.aac || return 1
  h_relay --setup "$setup" --timeout ${TIMEOUT}s --restore-delay ${RESTORE}s "$@"
  h_wait_mount /relay.aac || return 1
  h_listener 0
}

# case_cycles SETUP [extra check args]
case_cycles() {
  local setup=$1
  shift
  h_init "e2e-$setup"
  echo "== e2e: $setup setup, primary killed and restored $CYCLES times (work $H_WORK)"
  start_station "$setup" 48000 || return 1
  h_sleep 5
  local i expect=() verdicts=()
  for ((i = 1; i <= CYCLES; i++)); do
    h_stop primary
    h_sleep 3
    h_encoder primary /station.aac 128k -3 48000
    # reconnection (backoff 0.5, 1, 2 s while the mount is away) + 0.5 s settle +
    # restore-delay + margin
    h_sleep $((RESTORE + 5))
    # Icecast closes the killed encoder's mount: the input ends (eos), the relay
    # tells the switch at once.
    expect+=("health" "restored")
    verdicts+=("eos")
  done
  h_stop listener
  h_stop relay
  local IFS=,
  /usr/bin/python3 $REPORT check "$H_WORK" --timeout $TIMEOUT --switches "${expect[*]}" \
    --verdicts "${verdicts[*]}" "$@"
}

case_mismatch() {
  local setup=$1
  h_init "e2e-mismatch-$setup"
  echo "== e2e: $setup setup, 44.1 kHz secondary behind a 48 kHz primary (work $H_WORK)"
  start_station "$setup" 44100 || return 1
  h_sleep 8
  h_stop listener
  h_stop relay
  /usr/bin/python3 $REPORT check "$H_WORK" --timeout $TIMEOUT --switches "" \
    --no-switch-to secondary --warning-from sw --min-bytes 100000
}

# case_both_down SETUP: both encoders down for longer than Icecast's source-timeout
# (10 s); the output must stay connected (passthrough: silent AAC frames answer the
# switch's GAP events; decode: the switch's silence is encoded), then recover.
case_both_down() {
  local setup=$1
  h_init "e2e-both-down-$setup"
  echo "== e2e: $setup setup, both inputs down for 13 s (work $H_WORK)"
  start_station "$setup" 48000 || return 1
  h_sleep 4
  h_stop primary
  h_sleep 2
  h_stop secondary
  h_sleep 13
  h_encoder primary /station.aac 128k -3 48000
  h_sleep 6
  h_stop listener
  h_stop relay
  # Each input's end is told to the switch (the switch itself never sees an EOS:
  # the output goes on, to `none`).
  /usr/bin/python3 $REPORT check "$H_WORK" --timeout $TIMEOUT --switches "health,health,restored" \
    --verdicts "eos,eos"
}

# case_sticky: mode=sticky keeps the secondary after the primary is back, and goes
# to the primary only when the secondary fails in turn.
case_sticky() {
  h_init "e2e-sticky"
  echo "== e2e: passthrough setup, mode=sticky (work $H_WORK)"
  start_station passthrough 48000 --mode sticky || return 1
  h_sleep 4
  h_stop primary
  h_sleep 3
  h_encoder primary /station.aac 128k -3 48000
  h_sleep $((RESTORE + 4))
  h_stop secondary
  h_sleep 3
  h_stop listener
  h_stop relay
  /usr/bin/python3 $REPORT check "$H_WORK" --timeout $TIMEOUT --switches "health,health" \
    --verdicts "eos,eos"
}

run_case() {
  local name=$1
  shift
  if [ -n "${E2E_ONLY:-}" ] && [ "$E2E_ONLY" != "$name" ]; then return 0; fi
  if "$@"; then
    echo "-- $name: PASS"
  else
    echo "-- $name: FAIL; relay log tail:"
    tail -n 15 "$H_WORK/relay.log" 2>/dev/null | sed 's/^/   | /'
    H_KEEP_WORK=1
    echo "   (work directory kept: $H_WORK)"
    failed+=("$name")
  fi
  h_cleanup
  H_KEEP_WORK= H_WORK=
}

run_case passthrough case_cycles passthrough
run_case decode case_cycles decode --loudness-lu 2
run_case mismatch case_mismatch passthrough
run_case mismatch-decode case_mismatch decode
run_case both-down case_both_down passthrough
run_case both-down-decode case_both_down decode
run_case sticky case_sticky

if [ ${#failed[@]} -ne 0 ]; then
  echo "e2e: FAILED: ${failed[*]}"
  exit 1
fi
echo "e2e: all cases passed"

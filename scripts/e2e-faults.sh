#!/usr/bin/env bash
# Network faults between Icecast and the relay's primary input, end to end (run by
# scripts/e2e.sh, so by `make test`: the short set, about 2.5 minutes; `make
# faults-long` runs the long set: FAULTS_SET=long, about 4 minutes).
#
# One Icecast and two encoders (/station.aac and /station_fallback.aac, both
# 128 kbit/s) on 127.0.0.1; per case a `fault-proxy` in front of Icecast on the
# primary's way, a relay (primary through the proxy, secondary direct, output
# /relay-CASE.aac) and a listener. The cases of a set run side by side, one wave per
# setup (passthrough, decode). Each case: 12 s of normal play, the fault, then the
# link passes again and the case runs until the primary is back.
#
#   short set (make test), both setups, --latency 1.5s (the gap-free choice):
#     blackhole 15 s, throttle 4000 B/s (32 kbit/s) 15 s, throttle 12000 B/s
#     (96 kbit/s) 15 s, reset (RST), drop (FIN), stall 35 s;
#     and blackhole 15 s at --latency 0 (the default: a pause of about `timeout`
#     at the failover, so its 5 s windows may fall to 70 %)
#   long set (make faults-long): throttle 32 and 96 kbit/s for 75 s; flap: a 1 s
#     outage every 3 s for a minute, blackhole (timeout 0.7 s, so that each outage
#     is one) and reset (connections reset and refused), restore-delay 5 s so that
#     the output must stay on the secondary throughout; both setups.
#
# Each case asserts (scripts/icecast/fault_report.py): failover within timeout +
# 0.5 s of the fault (throttle: of the input falling `timeout` behind, computed from
# the throttle and the stream's byte rate as a reference listener on the primary's
# mount receives it; reset and drop: within 50 ms of the cut), back on the primary
# after restore-delay once the fault ended (at most 20 s later: the reconnected
# input's alignment is measured again first) and no other switch, the listener never
# disconnected, decoded audio over every 5 s window between 90 % and 200 % of real
# time, no CRITICAL or ERROR line in the relay's log (the relay runs with
# GST_DEBUG=1, so GStreamer's ERROR debug lines show). The measured numbers go to
# $FAULTS_RESULTS (default target/faults-SET.jsonl) and stdout.
#
# FAULTS_SET=short|long, FAULTS_ONLY=<case name regex>, KEEP=1 keeps the work
# directory. Every process started here is stopped by PID on exit.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/icecast/harness.sh
. scripts/icecast/faults.sh

SET=${FAULTS_SET:-short}
TIMEOUT=1
RESTORE=2
WARM=12
RESULTS=${FAULTS_RESULTS:-target/faults-$SET.jsonl}
REPORT=scripts/icecast/fault_report.py
mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"

h_build || exit 1
[ -x "$FP_BIN" ] || {
  echo "fault-proxy missing: $FP_BIN" >&2
  exit 1
}

# Cases: NAME SETUP LATENCY FAULT DURATION [RESTORE_DELAY [TIMEOUT]]
#   FAULT: blackhole | throttle:BYTES_PER_S | reset | drop | stall | flap | flapreset
short_cases() {
  local setup=$1
  echo "blackhole-$setup $setup 1.5 blackhole 15"
  echo "throttle32-$setup $setup 1.5 throttle:4000 15"
  echo "throttle96-$setup $setup 1.5 throttle:12000 15"
  echo "reset-$setup $setup 1.5 reset 0"
  echo "drop-$setup $setup 1.5 drop 0"
  echo "stall35-$setup $setup 1.5 stall 35"
  echo "blackhole-lat0-$setup $setup 0 blackhole 15"
}
long_cases() {
  local setup=$1
  echo "throttle32-75s-$setup $setup 1.5 throttle:4000 75"
  echo "throttle96-75s-$setup $setup 1.5 throttle:12000 75"
  # 61.5 s: the flaps end in an on period (a pass right at the start of an off
  # period would leave an "outage" of a few ms). Blackhole: timeout 0.7 s, so that
  # each 1 s outage is one; reset: connections reset and refused for 1 s.
  echo "flap-$setup $setup 1.5 flap 61.5 5 0.7"
  echo "flapreset-$setup $setup 1.5 flapreset 61.5 5"
}

# return_allowance SETUP: how long after restore-delay the primary may come back once
# the fault ended: its reconnection (a pending attempt, 0.5 s settle, 0.2 s of fresh
# data); and a reconnected input's alignment is measured again before it is restored
# to (decode: the switch, align=auto; passthrough: the relay, which then writes the
# switch's offset): about 7 to 12 s, at most 20 s.
return_allowance() {
  echo 20
}

# case_timeline NAME SETUP LATENCY FAULT DURATION RESTORE: the case's fault timeline (in
# the background: only talks to its proxy), then waits for the way back.
case_timeline() {
  local name=$1 fault=$4 dur=$5 restore=$6
  h_sleep "$WARM"
  case $fault in
  blackhole) fp_cmd "$name" blackhole >/dev/null && h_sleep "$dur" && fp_cmd "$name" pass >/dev/null ;;
  throttle:*) fp_cmd "$name" throttle "${fault#throttle:}" >/dev/null && h_sleep "$dur" && fp_cmd "$name" pass >/dev/null ;;
  reset | drop) fp_cmd "$name" "$fault" >/dev/null ;;
  stall) fp_cmd "$name" stall "$dur" >/dev/null && h_sleep "$dur" ;;
  flap) fp_cmd "$name" flap 1 3 >/dev/null && h_sleep "$dur" && fp_cmd "$name" pass >/dev/null ;;
  flapreset) fp_cmd "$name" flap 1 3 reset >/dev/null && h_sleep "$dur" && fp_cmd "$name" pass >/dev/null ;;
  esac
  # Back after restore-delay (+ reconnection; decode: + the switch's re-measured
  # alignment), then 3 s more of listening.
  h_sleep $((restore + $(return_allowance "$2") + 3))
}

case_start() {
  local name=$1 setup=$2 latency=$3 restore=$6 timeout=$7 dir=$H_WORK/$1
  mkdir -p "$dir"
  fp_start "$name" "$H_PORT" "$dir/fault.log" || return 1
  GST_DEBUG=${E2E_GST_DEBUG:-1} "$H_BIN/gst-failover-relay" \
    --primary "$(fp_url "$name" /station.aac)" \
    --secondary "http://127.0.0.1:$H_PORT/station_fallback.aac" \
    --output "icecast://source:$H_PASS@127.0.0.1:$H_PORT/relay-$name.aac" \
    --setup "$setup" --timeout "${timeout}s" --restore-delay "${restore}s" --latency "${latency}s" \
    --events "$dir/relay-events.txt" --timeline "$dir/relay-timeline.csv" --quiet \
    >"$dir/relay.log" 2>&1 &
  H_PIDS[relay-$name]=$!
}

case_listen() {
  local name=$1 dir=$H_WORK/$1
  h_wait_mount "/relay-$name.aac" || return 1
  "$H_BIN/relay-listener" --url "http://127.0.0.1:$H_PORT/relay-$name.aac" --duration 0 \
    --summary "$dir/listener.txt" --timeline "$dir/listener.csv" \
    --events "$dir/listener-events.txt" >"$dir/listener.log" 2>&1 &
  H_PIDS[listener-$name]=$!
}

# case_check NAME SETUP LATENCY FAULT DURATION RESTORE TIMEOUT
case_check() {
  local name=$1 setup=$2 latency=$3 fault=$4 restore=$6 timeout=$7 dir=$H_WORK/$1
  local log=$dir/fault.log t_fault t_end behind=0 extra=()
  case $fault in
  reset | drop)
    # The cut itself (the proxy logs the command first, the close when done).
    t_fault=$(fp_when "$name" "close [0-9]+ reason=$fault")
    t_end=$t_fault
    extra=(--max-error-switch 0.05)
    ;;
  stall)
    t_fault=$(fp_when "$name" "mode stall")
    t_end=$(fp_when "$name" "link pass" last)
    ;;
  flap | flapreset)
    t_fault=$(fp_when "$name" "mode flap")
    # The end of the last outage: the last "link pass" right after another link.
    t_end=$(awk '/ link pass/ { if (off) t = $1; off = 0; next } / link / { off = 1 } END { print t }' "$log")
    ;;
  *)
    t_fault=$(fp_when "$name" "mode ${fault%%:*}")
    t_end=$(fp_when "$name" "mode pass" last)
    ;;
  esac
  if [[ $fault == throttle:* ]]; then
    # When the input is `timeout` behind: from the stream's real byte rate, read
    # by the reference listener on the primary's mount.
    extra+=(--throttle "${fault#throttle:}" --ref-csv "$H_WORK/ref/listener.csv")
  fi
  [ "$latency" = 0 ] && extra+=(--min-rate 0.7)
  [ -n "$t_fault" ] && [ -n "$t_end" ] || {
    echo "FAIL: no fault times in $log"
    return 1
  }
  /usr/bin/python3 $REPORT "$dir" --name "$name" --timeout "$timeout" --restore-delay "$restore" \
    --return-allowance "$(return_allowance "$setup")" \
    --t-fault "$t_fault" --t-end "$t_end" --behind-after "$behind" --json "$RESULTS" "${extra[@]}"
}

failed=()
run_wave() {
  local setup=$1 list=$2 spec name pids=() specs=() n=0
  while read -r spec; do
    [ -n "$spec" ] || continue
    name=${spec%% *}
    if [ -n "${FAULTS_ONLY:-}" ] && ! [[ $name =~ $FAULTS_ONLY ]]; then continue; fi
    specs+=("$spec")
  done < <($list "$setup")
  [ ${#specs[@]} -gt 0 ] || return 0
  h_init "e2e-faults-$setup"
  echo "== e2e faults: $setup setup, ${#specs[@]} cases side by side (work $H_WORK)"
  export ICECAST_SOURCES=$((2 + ${#specs[@]}))
  h_icecast
  h_encoder primary /station.aac 128k -3 48000
  h_encoder secondary /station_fallback.aac 128k -10 48000
  h_wait_mount /station.aac && h_wait_mount /station_fallback.aac || {
    failed+=("$setup: encoders")
    h_cleanup
    return
  }
  # A reference listener on the primary's mount, direct: the stream's byte rate.
  mkdir -p "$H_WORK/ref"
  "$H_BIN/relay-listener" --url "http://127.0.0.1:$H_PORT/station.aac" --duration 0 \
    --summary "$H_WORK/ref/listener.txt" --timeline "$H_WORK/ref/listener.csv" >"$H_WORK/ref/listener.log" 2>&1 &
  H_PIDS[ref-listener]=$!
  for spec in "${specs[@]}"; do
    # shellcheck disable=SC2086
    set -- $spec
    case_start "$1" "$2" "$3" "$4" "$5" "${6:-$RESTORE}" "${7:-$TIMEOUT}" || failed+=("$1: start")
  done
  for spec in "${specs[@]}"; do
    set -- $spec
    case_listen "$1" || failed+=("$1: no output mount")
  done
  for spec in "${specs[@]}"; do
    set -- $spec
    case_timeline "$1" "$2" "$3" "$4" "$5" "${6:-$RESTORE}" "${7:-$TIMEOUT}" &
    pids+=($!)
    n=$((n + 1))
  done
  wait "${pids[@]}"
  for spec in "${specs[@]}"; do
    set -- $spec
    h_stop "listener-$1"
    h_stop "relay-$1"
  done
  h_stop ref-listener
  for spec in "${specs[@]}"; do
    set -- $spec
    echo "-- $1"
    if ! case_check "$1" "$2" "$3" "$4" "$5" "${6:-$RESTORE}" "${7:-$TIMEOUT}"; then
      failed+=("$1")
      H_KEEP_WORK=1
      tail -n 12 "$H_WORK/$1/relay.log" | sed 's/^/   | /'
    fi
  done
  [ -n "${H_KEEP_WORK:-}" ] && echo "   (work directory kept: $H_WORK)"
  h_cleanup
  H_KEEP_WORK= H_WORK=
}

case $SET in
short) lists=short_cases ;;
long) lists=long_cases ;;
*)
  echo "FAULTS_SET must be short or long" >&2
  exit 2
  ;;
esac
for setup in passthrough decode; do
  run_wave "$setup" "$lists"
done

echo "results: $RESULTS"
if [ ${#failed[@]} -ne 0 ]; then
  echo "e2e faults: FAILED: ${failed[*]}"
  exit 1
fi
echo "e2e faults: all cases passed"

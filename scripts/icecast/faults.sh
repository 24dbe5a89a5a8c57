# shellcheck shell=bash
# Fault-proxy helpers for end-to-end fault cases: put testkit's `fault-proxy` on
# 127.0.0.1 in front of a server (Icecast) and change its fault mode while the
# relay runs. Source it (after harness.sh if you use the harness: the proxies are
# then recorded in H_PIDS and stopped by h_cleanup; without it, call fp_stop_all).
#
#   fp_start primary "$H_PORT"              # proxy in front of Icecast
#   url=$(fp_url primary /station.aac)      # give this URL to the relay
#   fp_cmd primary throttle 4000            # a fault (prints the proxy's reply)
#   t=$(fp_when primary 'mode throttle')    # epoch time (s.ms) it began
#   fp_cmd primary pass
#
# Commands: pass, blackhole, throttle BYTES_PER_SEC, jitter MS,
# flap OFF_SECS EVERY_SECS [blackhole|refuse|drop|reset], stall SECS, refuse,
# drop, reset, status (see docs/fault-proxy.md). The proxy's log (one line per mode
# change, link change and connection open/close, each starting with the epoch time
# in seconds with milliseconds) is $(fp_log NAME).

. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
FP_ROOT=${FP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
FP_BIN=${FP_BIN:-${H_BIN:-$FP_ROOT/target/release}/fault-proxy}
declare -A FP_PORT=() FP_CTRL=() FP_LOG=() FP_PID=()

_fp_note() {
  if declare -F h_log >/dev/null; then h_log "$@"; else echo "$*" >&2; fi
}

# fp_start NAME UPSTREAM_PORT [LOG]: starts a proxy named NAME forwarding free
# port FP_PORT[NAME] to 127.0.0.1:UPSTREAM_PORT; its control port is
# FP_CTRL[NAME]. LOG defaults to $H_WORK/fault-NAME.log (or a temporary file).
fp_start() {
  local name=$1 up=$2 log=${3:-}
  local i first
  if [ -z "$log" ]; then
    if [ -n "${H_WORK:-}" ]; then
      log=$H_WORK/fault-$name.log
    else
      log=$(mktemp "${TMPDIR:-/tmp}/fault-$name.XXXXXX")
    fi
  fi
  [ -x "$FP_BIN" ] || {
    echo "fault-proxy missing: $FP_BIN (cargo build --release -p failover-testkit)" >&2
    return 1
  }
  : >"$log"
  "$FP_BIN" --upstream "127.0.0.1:$up" --log "$log" >/dev/null 2>>"$log.stderr" &
  FP_PID[$name]=$!
  if declare -p H_PIDS >/dev/null 2>&1; then
    H_PIDS[fault-$name]=${FP_PID[$name]}
  fi
  for ((i = 0; i < 100; i++)); do
    # (|| true: under `set -e`, a look before the proxy wrote its first line would
    # end the caller)
    first=$(grep -m1 ' start ' "$log" 2>/dev/null || true)
    [ -n "$first" ] && break
    sleep 0.05
  done
  [ -n "$first" ] || {
    echo "fault-proxy $name did not start: $(cat "$log.stderr" 2>/dev/null)" >&2
    return 1
  }
  FP_PORT[$name]=$(sed -E 's/.* listen=[^ ]*:([0-9]+).*/\1/' <<<"$first")
  FP_CTRL[$name]=$(sed -E 's/.* control=[^ ]*:([0-9]+).*/\1/' <<<"$first")
  FP_LOG[$name]=$log
  _fp_note "fault proxy $name: 127.0.0.1:${FP_PORT[$name]} -> 127.0.0.1:$up (control ${FP_CTRL[$name]}, pid ${FP_PID[$name]})"
}

# fp_cmd NAME COMMAND...: sends one command; prints the reply; fails on an error
# reply or when the proxy does not answer within 5 s.
fp_cmd() {
  local name=$1 fd reply=
  shift
  [ -n "${FP_CTRL[$name]:-}" ] || {
    echo "no fault proxy $name" >&2
    return 1
  }
  exec {fd}<>"/dev/tcp/127.0.0.1/${FP_CTRL[$name]}" || return 1
  printf '%s\n' "$*" >&"$fd"
  IFS= read -r -t 5 reply <&"$fd"
  exec {fd}>&-
  _fp_note "fault $name: $* -> ${reply:-no reply}"
  echo "$reply"
  [[ $reply == ok* ]]
}

# fp_url NAME MOUNT: the http URL of MOUNT (/station.aac) through the proxy.
fp_url() { echo "http://127.0.0.1:${FP_PORT[$1]}$2"; }

# fp_log NAME: the proxy's log file.
fp_log() { echo "${FP_LOG[$1]}"; }

# fp_when NAME REGEX [last]: the epoch time (seconds.milliseconds) of the first
# (or last) log line whose text after the time matches REGEX (grep -E); empty and
# status 1 if there is none.
fp_when() {
  local line
  if [ "${3:-}" = last ]; then
    line=$(grep -E "^[0-9.]+ .*$2" "${FP_LOG[$1]}" | tail -n1)
  else
    line=$(grep -E -m1 "^[0-9.]+ .*$2" "${FP_LOG[$1]}")
  fi
  [ -n "$line" ] || return 1
  echo "${line%% *}"
}

# fp_wait NAME REGEX [SECS]: waits (10 s by default) for a log line matching REGEX;
# prints its time like fp_when.
fp_wait() {
  local i secs=${3:-10}
  for ((i = 0; i < secs * 20; i++)); do
    fp_when "$1" "$2" && return 0
    sleep 0.05
  done
  echo "fault proxy $1: no '$2' within $secs s" >&2
  return 1
}

# fp_stop NAME: stops one proxy (by its PID).
fp_stop() {
  local name=$1 pid=${FP_PID[$1]:-}
  [ -n "$pid" ] || return 0
  kill_pid "$pid"
  unset "FP_PID[$name]"
  if declare -p H_PIDS >/dev/null 2>&1; then unset "H_PIDS[fault-$name]"; fi
  return 0
}

# fp_stop_all: stops every proxy started here.
fp_stop_all() {
  local name
  for name in "${!FP_PID[@]}"; do fp_stop "$name"; done
}

# shellcheck shell=bash
# Test/demo harness: a private Icecast, encoders, the relay and a listener, all on
# 127.0.0.1 with free ports, cleaned up on exit (even on failure or Ctrl-C).
# Source it, then call h_init. Every process it starts is recorded by PID and
# stopped by PID in h_cleanup; nothing else is touched.

H_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
H_ROOT=$(cd "$H_DIR/../.." && pwd)
. "$H_DIR/common.sh"

H_BIN=${H_BIN:-$H_ROOT/target/release}
H_RELAY_QUIET=${H_RELAY_QUIET-1} # empty: the relay prints a status line every 5 s
declare -A H_PIDS=()

h_log() {
  printf '[%6.1fs] %s\n' "$(h_now)" "$*" >&2
  [ -n "${H_WORK:-}" ] && printf '%s %s\n' "$(date +%s.%N)" "$*" >>"$H_WORK/actions.txt"
  return 0
}
# h_sleep SECONDS: a sleep that a trapped signal interrupts at once.
h_sleep() {
  sleep "$1" &
  wait $! 2>/dev/null
}

h_now() { awk -v s="$H_T0" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }'; }

# h_init NAME: work dir, port, password, cleanup trap.
h_init() {
  H_T0=$(date +%s.%N)
  H_WORK=$(mktemp -d "${TMPDIR:-/tmp}/${1:-relay}.XXXXXX")
  chmod 755 "$H_WORK"
  H_PORT=$(free_port)
  H_PASS="pw$RANDOM$RANDOM"
  trap h_cleanup EXIT
  trap 'exit 130' INT TERM
}

h_cleanup() {
  local name
  for name in "${!H_PIDS[@]}"; do
    kill_pid "${H_PIDS[$name]}"
  done
  H_PIDS=()
  [ -n "${H_WORK:-}" ] && "$H_DIR/stop.sh" "$H_WORK/icecast" >/dev/null 2>&1
  if [ -n "${H_WORK:-}" ] && [ -z "${KEEP:-}" ] && [ -z "${H_KEEP_WORK:-}" ]; then
    rm -rf "$H_WORK"
  fi
}

# h_build: the relay (relay/) and listener (testkit/) binaries (release).
h_build() {
  if [ -z "${H_NO_BUILD:-}" ]; then
    (cd "$H_ROOT" && cargo build --release -p gst-failover-relay -p failover-testkit 2>&1 |
      grep -E '^(error|warning)' -A5 >&2) || true
  fi
  [ -x "$H_BIN/gst-failover-relay" ] && [ -x "$H_BIN/relay-listener" ] || {
    echo "relay binaries missing in $H_BIN" >&2
    return 1
  }
}

h_icecast() {
  mkdir -p "$H_WORK/icecast"
  "$H_DIR/start.sh" "$H_WORK/icecast" "$H_PORT" "$H_PASS" >/dev/null
  H_PIDS[icecast]=$(cat "$H_WORK/icecast/icecast.ownpid")
  h_log "icecast on 127.0.0.1:$H_PORT"
}

# h_encoder NAME MOUNT BITRATE GAIN_DB RATE [DELAY_MS]
h_encoder() {
  local name=$1
  "$H_DIR/encoder.sh" "$H_PORT" "$H_PASS" "$2" "$3" "$4" "$5" "${6:-0}" >>"$H_WORK/$name.log" 2>&1 &
  H_PIDS[$name]=$!
  h_log "encoder $name -> $2 ($3, ${4} dB, $5 Hz, programme delay ${6:-0} ms), pid ${H_PIDS[$name]}"
}

# h_stop NAME: stops one process we started.
h_stop() {
  local name=$1
  [ -n "${H_PIDS[$name]:-}" ] || return 0
  h_log "stopping $name"
  kill_pid "${H_PIDS[$name]}"
  unset "H_PIDS[$name]"
}

# h_relay ARGS...: starts the relay (output /relay.aac) with extra arguments, with
# GStreamer's ERROR debug lines on (GST_DEBUG=1; H_GST_DEBUG overrides), so that
# checks can find them in relay.log.
h_relay() {
  GST_DEBUG=${H_GST_DEBUG:-1} "$H_BIN/gst-failover-relay" \
    --primary "http://127.0.0.1:$H_PORT/station.aac" \
    --secondary "http://127.0.0.1:$H_PORT/station_fallback.aac" \
    --output "icecast://source:$H_PASS@127.0.0.1:$H_PORT/relay.aac" \
    --events "$H_WORK/relay-events.txt" --timeline "$H_WORK/relay-timeline.csv" \
    ${H_RELAY_QUIET:+--quiet} "$@" >"$H_WORK/relay.log" 2>&1 &
  H_PIDS[relay]=$!
  h_log "relay $* (pid ${H_PIDS[relay]})"
}

# h_listener DURATION: starts the listener on /relay.aac.
h_listener() {
  "$H_BIN/relay-listener" --url "http://127.0.0.1:$H_PORT/relay.aac" --duration "$1" \
    --summary "$H_WORK/listener.txt" --timeline "$H_WORK/listener.csv" \
    --events "$H_WORK/listener-events.txt" >"$H_WORK/listener.log" 2>&1 &
  H_PIDS[listener]=$!
  h_log "listener on /relay.aac (pid ${H_PIDS[listener]})"
}

# h_wait_listener: waits for the listener to finish by itself.
h_wait_listener() {
  local pid=${H_PIDS[listener]:-}
  [ -n "$pid" ] || return 0
  wait "$pid" 2>/dev/null
  unset "H_PIDS[listener]"
}

h_wait_mount() {
  # Generous: the first encoders on a machine render the programme loop first.
  wait_mount "$H_PORT" "$1" "${2:-30}" || {
    h_log "mount $1 did not appear"
    return 1
  }
}

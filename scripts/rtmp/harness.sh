# shellcheck shell=bash
# Video test/demo harness: a private nginx-rtmp, encoders of the test programme and
# viewers, all on 127.0.0.1 with a free port, cleaned up on exit (even on failure or
# Ctrl-C). Source it, then call hv_init. Every process it starts is recorded by PID
# and stopped by PID in hv_cleanup; nothing else is touched.
#
#   hv_init NAME                  work dir $HV_WORK, port $HV_PORT, cleanup trap
#   hv_nginx                      nginx-rtmp on 127.0.0.1:$HV_PORT, application `live`
#   hv_url STREAM                 rtmp://127.0.0.1:$HV_PORT/live/STREAM
#   hv_encoder NAME STREAM ARGS   encoder.sh publishing to STREAM (ARGS: --colour, --gop, ...)
#   hv_viewer NAME STREAM SECS    viewer.sh recording STREAM to $HV_WORK/NAME.flv
#   hv_start NAME CMD...          any other process (the relay), logged to $HV_WORK/NAME.log
#   hv_wait_publish STREAM [SECS] [COUNT]  until nginx has seen COUNT publishes of STREAM
#   hv_stop NAME | hv_kill NAME   SIGTERM (then KILL) | SIGKILL (a crash)
#   hv_pause NAME | hv_resume NAME  SIGSTOP | SIGCONT (a DSL drop: connection open, no data)
#   hv_wait NAME                  waits for a process to end by itself (a viewer)
#   hv_report NAME [ARGS]         analyze.py report on NAME.flv -> NAME.json (+ ARGS)
#   hv_log TEXT                   timestamped line on stderr and in $HV_WORK/actions.txt

HV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HV_ROOT=$(cd "$HV_DIR/../.." && pwd)
. "$HV_DIR/../icecast/common.sh"
declare -A HV_PIDS=()

hv_now() { awk -v s="$HV_T0" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }'; }

hv_log() {
  printf '[%6.1fs] %s\n' "$(hv_now)" "$*" >&2
  [ -n "${HV_WORK:-}" ] && printf '%s %s\n' "$(date +%s.%N)" "$*" >>"$HV_WORK/actions.txt"
  return 0
}

# hv_sleep SECONDS: a sleep that a trapped signal interrupts at once.
hv_sleep() {
  sleep "$1" &
  wait $! 2>/dev/null
}

hv_init() {
  HV_T0=$(date +%s.%N)
  HV_WORK=$(mktemp -d "${TMPDIR:-/tmp}/${1:-video}.XXXXXX")
  chmod 755 "$HV_WORK"
  HV_PORT=$(free_port)
  trap hv_cleanup EXIT
  trap 'exit 130' INT TERM
}

hv_cleanup() {
  local name
  for name in "${!HV_PIDS[@]}"; do
    kill -CONT "${HV_PIDS[$name]}" 2>/dev/null # a paused process cannot act on SIGTERM
    kill_pid "${HV_PIDS[$name]}"
  done
  HV_PIDS=()
  [ -n "${HV_WORK:-}" ] && "$HV_DIR/stop.sh" "$HV_WORK/nginx" >/dev/null 2>&1
  if [ -n "${HV_WORK:-}" ] && [ -z "${KEEP:-}" ] && [ -z "${HV_KEEP_WORK:-}" ]; then
    rm -rf "$HV_WORK"
  fi
}

hv_nginx() {
  mkdir -p "$HV_WORK/nginx"
  "$HV_DIR/start.sh" "$HV_WORK/nginx" "$HV_PORT" >/dev/null || return 1
  HV_PIDS[nginx]=$(cat "$HV_WORK/nginx/nginx.ownpid")
  hv_log "nginx-rtmp on 127.0.0.1:$HV_PORT"
}

hv_url() { echo "rtmp://127.0.0.1:$HV_PORT/live/$1"; }

hv_encoder() {
  local name=$1 stream=$2
  shift 2
  "$HV_DIR/encoder.sh" "$(hv_url "$stream")" --label "$name" "$@" >>"$HV_WORK/$name.log" 2>&1 &
  HV_PIDS[$name]=$!
  hv_log "encoder $name -> live/$stream $* (pid ${HV_PIDS[$name]})"
}

hv_viewer() {
  local name=$1 stream=$2 secs=$3
  "$HV_DIR/viewer.sh" "$(hv_url "$stream")" "$secs" "$HV_WORK" "$name" >>"$HV_WORK/$name.log" 2>&1 &
  HV_PIDS[$name]=$!
  hv_log "viewer $name on live/$stream for $secs s (pid ${HV_PIDS[$name]})"
}

hv_start() {
  local name=$1
  shift
  "$@" >>"$HV_WORK/$name.log" 2>&1 &
  HV_PIDS[$name]=$!
  hv_log "$name: $* (pid ${HV_PIDS[$name]})"
}

hv_wait_publish() {
  local stream=$1 secs=${2:-15} count=${3:-1} i
  for ((i = 0; i < secs * 10; i++)); do
    if [ "$(grep -c "publish: name='$stream'" "$HV_WORK/nginx/error.log" 2>/dev/null)" -ge "$count" ]; then
      return 0
    fi
    sleep 0.1
  done
  hv_log "live/$stream was not published within $secs s"
  return 1
}

hv_stop() {
  local name=$1
  [ -n "${HV_PIDS[$name]:-}" ] || return 0
  hv_log "stopping $name"
  kill -CONT "${HV_PIDS[$name]}" 2>/dev/null
  kill_pid "${HV_PIDS[$name]}"
  unset "HV_PIDS[$name]"
}

hv_kill() {
  local name=$1
  [ -n "${HV_PIDS[$name]:-}" ] || return 0
  hv_log "killing $name (crash)"
  kill -KILL "${HV_PIDS[$name]}" 2>/dev/null
  wait "${HV_PIDS[$name]}" 2>/dev/null
  unset "HV_PIDS[$name]"
}

hv_pause() {
  hv_log "pausing $1 (SIGSTOP: connection open, no data)"
  kill -STOP "${HV_PIDS[$1]}"
}

hv_resume() {
  hv_log "resuming $1"
  kill -CONT "${HV_PIDS[$1]}"
}

hv_wait() {
  local pid=${HV_PIDS[$1]:-}
  [ -n "$pid" ] || return 0
  wait "$pid" 2>/dev/null
  unset "HV_PIDS[$1]"
}

hv_report() {
  local name=$1
  shift
  python3 "$HV_DIR/analyze.py" report "$HV_WORK/$name.flv" --json "$HV_WORK/$name.json" "$@"
}

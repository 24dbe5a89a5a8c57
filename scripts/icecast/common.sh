# shellcheck shell=bash
# Helpers shared by the Icecast/relay scripts. Source it; it defines functions only.

# free_port: prints a TCP port on 127.0.0.1 that is free right now.
free_port() {
  /usr/bin/python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# wait_port HOST PORT SECONDS: waits until a TCP connect succeeds.
wait_port() {
  local host=$1 port=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 10; i++)); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# wait_mount PORT MOUNT SECONDS: waits until Icecast lists MOUNT as live.
wait_mount() {
  local port=$1 mount=$2 secs=${3:-15} i
  for ((i = 0; i < secs * 5; i++)); do
    if curl -fs --max-time 1 "http://127.0.0.1:$port/status-json.xsl" 2>/dev/null |
      grep -q "\"listenurl\":\"[^\"]*$mount\""; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# kill_pid PID...: SIGTERM, then SIGKILL after 3 s; only the given processes.
kill_pid() {
  local p i
  for p in "$@"; do
    [ -n "$p" ] || continue
    kill -TERM "$p" 2>/dev/null || continue
    for ((i = 0; i < 30; i++)); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}

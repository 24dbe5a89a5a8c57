#!/usr/bin/env bash
# Starts a private nginx with the RTMP module on 127.0.0.1, from a generated config.
#   scripts/rtmp/start.sh DIR PORT
# DIR is a scratch directory (created if missing) that receives nginx.conf, the logs
# and nginx.pid; it must be reachable by the unprivileged user (its parents at least
# o+x). One application, `live`: publishing from 127.0.0.1, playing for anyone, a new
# player starts at a keyframe, players are disconnected when their publisher leaves.
# No system service, no root-owned paths: as root, nginx runs as nobody:nogroup (DIR is
# handed to that user), via setpriv so the PID stays nginx's own master process.
# Runs in the background until stop.sh DIR; prints the PID once the port accepts
# connections.
# Environment: RTMP_DROP_IDLE (e.g. 10s: drop a publisher that sends nothing for that
# long; default off, so a stalled encoder keeps its connection like a stalled DSL line).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../icecast/common.sh"

dir=${1:?usage: start.sh DIR PORT}
port=${2:?port}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
module=/usr/lib/nginx/modules/ngx_rtmp_module.so
[ -f "$module" ] || { echo "start.sh: $module missing (apt-get install libnginx-mod-rtmp)" >&2; exit 1; }

drop_idle=""
[ -n "${RTMP_DROP_IDLE:-}" ] && drop_idle="drop_idle_publisher ${RTMP_DROP_IDLE};"

cat >"$dir/nginx.conf" <<CONF
load_module $module;
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 256; }
rtmp {
  access_log $dir/access.log;
  server {
    listen 127.0.0.1:$port;
    chunk_size 4096;
    # A viewer slowed down by a busy CPU must not lose frames inside nginx (the default
    # queue of 256 messages drops to the next keyframe after a 1 s burst): bursts show
    # in the viewer's arrival log instead.
    out_queue 4096;
    application live {
      live on;
      record off;
      wait_key on;
      wait_video on;
      idle_streams off;
      $drop_idle
      allow publish 127.0.0.1;
      deny publish all;
      allow play all;
    }
  }
}
CONF

run=()
if [ "$(id -u)" -eq 0 ]; then
  chown -R nobody:nogroup "$dir"
  run=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
"${run[@]}" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
pid=$!
echo "$pid" >"$dir/nginx.ownpid"
if ! wait_port 127.0.0.1 "$port" 10; then
  echo "nginx did not come up on port $port; log:" >&2
  cat "$dir/stdout.log" "$dir/error.log" >&2 2>/dev/null || true
  kill_pid "$pid"
  exit 1
fi
echo "$pid"

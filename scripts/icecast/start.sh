#!/usr/bin/env bash
# Starts a private Icecast 2.4 on 127.0.0.1 with a generated config.
#   scripts/icecast/start.sh DIR PORT PASSWORD
# DIR is a scratch directory (created if missing) that receives icecast.xml, logs and
# icecast.pid. Runs in the background; prints the PID. Stop it with stop.sh DIR.
# ICECAST_CLIENTS / ICECAST_SOURCES raise its limits (default 50 / 8) for tests of
# many stations (scripts/e2e-stations.sh, benches/relay-scale.sh).
# As root, Icecast refuses to run without <changeowner>: the config then drops to
# icecast2:icecast itself (DIR is handed to that user), so the PID stays Icecast's own.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

dir=${1:?usage: start.sh DIR PORT PASSWORD}
port=${2:?port}
pass=${3:?password}
mkdir -p "$dir/log"
dir=$(cd "$dir" && pwd)

security=""
if [ "$(id -u)" -eq 0 ]; then
  security="<security><chroot>0</chroot><changeowner><user>icecast2</user><group>icecast</group></changeowner></security>"
  chown -R icecast2:icecast "$dir"
  chmod 755 "$dir"
fi

cat >"$dir/icecast.xml" <<XML
<icecast>
  <location>loopback</location>
  <admin>relay@localhost</admin>
  <limits>
    <clients>${ICECAST_CLIENTS:-50}</clients>
    <sources>${ICECAST_SOURCES:-8}</sources>
    <queue-size>524288</queue-size>
    <client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout>
    <burst-on-connect>${ICECAST_BURST:-1}</burst-on-connect>
    <burst-size>${ICECAST_BURST_SIZE:-65535}</burst-size>
  </limits>
  <authentication>
    <source-password>$pass</source-password>
    <relay-password>$pass</relay-password>
    <admin-user>admin</admin-user>
    <admin-password>$pass</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket>
    <port>$port</port>
    <bind-address>127.0.0.1</bind-address>
  </listen-socket>
  <fileserve>1</fileserve>
  <paths>
    <basedir>/usr/share/icecast2</basedir>
    <logdir>$dir/log</logdir>
    <webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot>
    <pidfile>$dir/icecast.pid</pidfile>
  </paths>
  <logging>
    <accesslog>access.log</accesslog>
    <errorlog>error.log</errorlog>
    <loglevel>3</loglevel>
  </logging>
  $security
</icecast>
XML
[ "$(id -u)" -eq 0 ] && chown icecast2:icecast "$dir/icecast.xml"

icecast2 -c "$dir/icecast.xml" >"$dir/log/stdout.log" 2>&1 &
pid=$!
echo "$pid" >"$dir/icecast.ownpid"
if ! wait_port 127.0.0.1 "$port" 10; then
  echo "icecast did not come up on port $port; log:" >&2
  cat "$dir/log/stdout.log" "$dir/log/error.log" >&2 2>/dev/null || true
  kill_pid "$pid"
  exit 1
fi
echo "$pid"

#!/usr/bin/env bash
# Stops the nginx started by start.sh DIR (only that process; its worker follows).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../icecast/common.sh"
dir=${1:?usage: stop.sh DIR}
[ -f "$dir/nginx.ownpid" ] && kill_pid "$(cat "$dir/nginx.ownpid")"
rm -f "$dir/nginx.ownpid"
exit 0

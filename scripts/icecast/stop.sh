#!/usr/bin/env bash
# Stops the Icecast started by start.sh DIR (only that process).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
dir=${1:?usage: stop.sh DIR}
[ -f "$dir/icecast.ownpid" ] && kill_pid "$(cat "$dir/icecast.ownpid")"
rm -f "$dir/icecast.ownpid"
exit 0

#!/usr/bin/env bash
# End-to-end test of many stations in one relay (run by scripts/e2e.sh, i.e. `make
# e2e` / `make test`; about a minute): a real Icecast on 127.0.0.1, testkit's
# aac-sender as each station's primary and secondary encoder (one process per mount,
# so one can be killed), the relay with a stations file, curl on every HTTP
# endpoint, the Prometheus text parsed by prometheus_client's parser, and
# mount-listener on every output. It asserts:
#  1. three stations (a, b passthrough; c decode) from the Icecast convention
#     (/<id>.aac, /<id>_fallback.aac -> /<id>_relay.aac) run; /health is 200;
#     /status and /metrics show each station and input;
#  2. the source password and the HTTP token (both from the environment) appear
#     nowhere: not in the relay's log, /status or /metrics;
#  3. the HTTP server is bound to 0.0.0.0 (non-loopback), so POST
#     /stations/a/switch needs the token: without it, or with a wrong one, 401 and
#     nothing changes; with it, a switches to its secondary (reason manual); unknown
#     station 404, bad ?to= 400, GET 405;
#  4. killing b's primary encoder fails over b only (reason health: the relay tells
#     the switch its verdict on the ended connection): a and c do not switch;
#  5. SIGHUP with a changed (c), an added (d) and a removed (a) station: only those
#     change (b keeps running untouched, c keeps its output connection), d's output
#     appears, a's disappears;
#  6. SIGHUP with a broken file (a syntax error, then a bad value): refused with
#     file:line:column, the running set is kept, /metrics shows the refusal;
#  7. no listener of b, c or d is ever disconnected; b's longest pause in data stays
#     below timeout + 500 ms.
# KEEP=1 keeps the work directory.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/icecast/harness.sh
API="/usr/bin/python3 scripts/icecast/relay_api.py"

h_build || exit 1
[ -x "$H_BIN/aac-sender" ] && [ -x "$H_BIN/mount-listener" ] || {
  echo "testkit binaries missing in $H_BIN" >&2
  exit 1
}
h_init e2e-stations
export ICECAST_SOURCES=30 ICECAST_CLIENTS=100
echo "== e2e: stations file, HTTP, SIGHUP (work $H_WORK)"
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
ok() { echo "ok: $*"; }
# check DESCRIPTION COMMAND...: runs COMMAND, records a failure if it fails.
check() {
  local what=$1
  shift
  if "$@" >"$H_WORK/check.out" 2>&1; then ok "$what"; else
    fail "$what"
    sed 's/^/   | /' "$H_WORK/check.out"
  fi
}
# wait_until SECONDS COMMAND...: polls COMMAND every 0.5 s.
wait_until() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 2; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

h_icecast
P_FILE=$(scripts/icecast/aac-file.sh 128k -3)
S_FILE=$(scripts/icecast/aac-file.sh 64k -10)
sender() { # NAME FILE MOUNT
  "$H_BIN/aac-sender" --port "$H_PORT" --password "$H_PASS" --file "$2" "$3" \
    >>"$H_WORK/$1.log" 2>&1 &
  H_PIDS[$1]=$!
}
for s in a b c d; do
  sender "${s}_primary" "$P_FILE" "/$s.aac"
  sender "${s}_secondary" "$S_FILE" "/${s}_fallback.aac"
done
for s in a b c d; do h_wait_mount "/$s.aac" && h_wait_mount "/${s}_fallback.aac" || exit 1; done

HPORT=$(free_port)
TOKEN="tok$RANDOM$RANDOM$RANDOM"
CONF=$H_WORK/stations.toml
HTTP=http://127.0.0.1:$HPORT
# config STATION_TABLES...: the stations file with these tables.
config() {
  {
    echo "# e2e-stations.sh"
    echo "icecast = \"http://127.0.0.1:$H_PORT\""
    echo "source-password = \"\${E2E_SOURCE_PW}\""
    echo "timeout = \"1s\""
    echo "restore-delay = \"2s\""
    echo "events = \"$H_WORK/{id}-events.txt\""
    echo
    echo "[http]"
    echo "listen = \"0.0.0.0:$HPORT\""
    echo "token = \"\${E2E_TOKEN}\""
    local t
    for t in "$@"; do
      printf '\n[[station]]\n%b\n' "$t"
    done
  } >"$CONF.tmp" && mv "$CONF.tmp" "$CONF"
}
config 'id = "a"' 'id = "b"' 'id = "c"\nsetup = "decode"'
E2E_SOURCE_PW=$H_PASS E2E_TOKEN=$TOKEN "$H_BIN/gst-failover-relay" --config "$CONF" \
  >"$H_WORK/relay.log" 2>&1 &
H_PIDS[relay]=$!
h_log "relay --config $CONF (pid ${H_PIDS[relay]})"
for s in a b c; do h_wait_mount "/${s}_relay.aac" || exit 1; done
"$H_BIN/mount-listener" --stop-file "$H_WORK/stop-listeners" --summary "$H_WORK/listeners.txt" \
  --gap 1500ms "http://127.0.0.1:$H_PORT/b_relay.aac" "http://127.0.0.1:$H_PORT/c_relay.aac" \
  "http://127.0.0.1:$H_PORT/d_relay.aac" >"$H_WORK/listeners.log" 2>&1 &
H_PIDS[listeners]=$!

health_ok() { curl -fsS "$HTTP/health"; }
check "every output runs: /health 200" wait_until 20 health_ok
h_sleep 2

# 1. status and metrics
check "/status: three stations running on their primary, from the convention" $API status "$HTTP/status" \
  'stations.a.state = running' 'stations.b.state = running' 'stations.c.state = running' \
  'stations.a.active = primary' 'stations.c.setup = decode' \
  "stations.a.inputs.primary.url = http://127.0.0.1:$H_PORT/a.aac" \
  "stations.a.inputs.secondary.url = http://127.0.0.1:$H_PORT/a_fallback.aac" \
  "stations.b.output.url = icecast://source:***@127.0.0.1:$H_PORT/b_relay.aac" \
  'stations.b.output.connected = true' 'stations.b.output.bytes > 10000' \
  'stations.c.inputs.secondary.healthy = true' 'config.reloads = 0'
check "/metrics parses (prometheus_client) and has every family" $API metrics "$HTTP/metrics" \
  'relay_stations{state=running} = 3' 'relay_station_up{station=c} = 1' \
  'relay_station_output_running{station=a} = 1' \
  'relay_active_input{station=a,input=primary} = 1' 'relay_active_input{station=a,input=none} = 0' \
  'relay_input_healthy{station=b,input=secondary} = 1' \
  'relay_input_health_reason{station=b,input=secondary,reason=ok} = 1' \
  'relay_input_active_seconds_total{station=b,input=primary} > 1' \
  'relay_input_reconnects_total{station=c,input=primary} = 0' \
  'relay_switches_total{station=a,reason=manual} = 0' \
  'relay_output_bytes_total{station=c} > 10000' 'relay_output_connected{station=c} = 1' \
  'relay_config_last_reload_ok = 1'

loudness() { $API metrics "$HTTP/metrics" 'relay_input_loudness_lufs{station=c,input=primary} < -5' \
  'relay_input_loudness_lufs{station=c,input=primary} > -40' 'relay_output_loudness_lufs{station=a} < -5'; }
check "/metrics: loudness of inputs and outputs (LUFS)" wait_until 10 loudness

# 2. secrets
for f in status metrics health; do curl -fsS "$HTTP/$f" >"$H_WORK/$f.out" 2>&1 || true; done
no_secrets() {
  ! grep -F -l -e "$H_PASS" -e "$TOKEN" "$H_WORK/relay.log" "$H_WORK/status.out" \
    "$H_WORK/metrics.out" "$H_WORK/health.out" "$H_WORK"/*-events.txt
}
check "the source password and the token appear in no log, /status or /metrics" no_secrets
check "... nor in the stations file (it names the variables)" bash -c "! grep -qF '$H_PASS' '$CONF'"

# 3. the manual switch and its token
post() { # PATH [TOKEN] -> prints the HTTP status
  curl -s -o "$H_WORK/post.out" -w '%{http_code}' -X POST ${2:+-H "Authorization: Bearer $2"} "$HTTP$1"
}
code=$(post "/stations/a/switch?to=secondary")
[ "$code" = 401 ] && ok "POST without the token on 0.0.0.0: 401" || fail "POST without token: $code"
code=$(post "/stations/a/switch?to=secondary" "wrong$TOKEN")
[ "$code" = 401 ] && ok "POST with a wrong token: 401" || fail "POST with a wrong token: $code"
h_sleep 0.5
check "... and nothing changed" $API metrics "$HTTP/metrics" \
  'relay_active_input{station=a,input=primary} = 1' 'relay_switches_total{station=a,reason=manual} = 0'
code=$(post "/stations/a/switch?to=secondary" "$TOKEN")
[ "$code" = 200 ] && ok "POST with the token: 200 ($(cat "$H_WORK/post.out"))" || fail "POST with token: $code $(cat "$H_WORK/post.out")"
a_switched() { $API status "$HTTP/status" 'stations.a.active = secondary'; }
check "station a is on its secondary" wait_until 5 a_switched
check "... by a manual switch" $API metrics "$HTTP/metrics" 'relay_switches_total{station=a,reason=manual} = 1' \
  'relay_active_input{station=a,input=secondary} = 1' 'relay_active_input{station=b,input=primary} = 1'
code=$(post "/stations/zz/switch?to=primary" "$TOKEN")
[ "$code" = 404 ] && ok "unknown station: 404" || fail "unknown station: $code"
code=$(post "/stations/a/switch?to=both" "$TOKEN")
[ "$code" = 400 ] && ok "bad ?to=: 400" || fail "bad to: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$HTTP/stations/a/switch?to=primary")
[ "$code" = 405 ] && ok "GET on the switch: 405" || fail "GET on the switch: $code"

# 4. one station's encoder dies
switches() { $API get "$HTTP/status" "stations.$1.switches"; }
sw_a=$(switches a) sw_c=$(switches c)
h_stop b_primary
b_failed_over() { $API status "$HTTP/status" 'stations.b.active = secondary'; }
check "killing b's primary encoder fails b over" wait_until 10 b_failed_over
check "... with reason health (the relay's verdict on the ended connection)" $API metrics "$HTTP/metrics" 'relay_switches_total{station=b,reason=health} = 1'
h_sleep 1
check "... and only b: a and c do not switch" $API status "$HTTP/status" \
  "stations.a.switches = $sw_a" "stations.c.switches = $sw_c" 'stations.a.active = secondary' \
  'stations.c.active = primary'
sender b_primary "$P_FILE" /b.aac
b_back() { $API status "$HTTP/status" 'stations.b.active = primary'; }
check "b goes back to its primary when its encoder is back" wait_until 15 b_back

# 5. reload: c changed, d added, a removed, b unchanged
b_started=$($API get "$HTTP/status" stations.b.started_at)
c_started=$($API get "$HTTP/status" stations.c.started_at)
config 'id = "b"' 'id = "c"\nsetup = "decode"\ntimeout = "1500ms"' 'id = "d"'
kill -HUP "${H_PIDS[relay]}"
reloaded() { $API status "$HTTP/status" 'config.reloads = 1' 'stations.d.state = running'; }
check "SIGHUP: the new file is applied" wait_until 10 reloaded
check "... a is gone, b untouched, c restarted" $API status "$HTTP/status" \
  "stations.b.started_at = $b_started" "stations.c.started_at != $c_started" \
  'stations.b.restarts = 0'
check "... a is not listed any more" bash -c "! $API get '$HTTP/status' stations.a"
check "... d's output appears" h_wait_mount /d_relay.aac 15
a_gone() { ! curl -fs "http://127.0.0.1:$H_PORT/status-json.xsl" | grep -q '/a_relay.aac'; }
check "... a's output is closed" wait_until 10 a_gone
grep -q "stations: stop a; start d; restart c; 1 unchanged" "$H_WORK/relay.log" &&
  ok "... the log says so" || fail "reload summary missing from the log"
check "every output runs again" wait_until 15 health_ok
h_sleep 4

# 6. broken files are refused, the running set is kept
cp "$CONF" "$H_WORK/good.toml"
printf '\n[[station]]\nid = "e\n' >>"$CONF"
bad_line=$(wc -l <"$CONF")
kill -HUP "${H_PIDS[relay]}"
refused() { grep -q "reload refused" "$H_WORK/relay.log"; }
check "a file with a syntax error is refused" wait_until 5 refused
check "... with file:line" grep -q "stations.toml:$bad_line:" "$H_WORK/relay.log"
cp "$H_WORK/good.toml" "$CONF"
sed -i 's/timeout = "1500ms"/timeout = "1.5 seconds"/' "$CONF"
bad_line=$(grep -n '1.5 seconds' "$CONF" | cut -d: -f1)
kill -HUP "${H_PIDS[relay]}"
refused_value() { grep -q "stations.toml:$bad_line:11: station 'c': timeout: bad duration" "$H_WORK/relay.log"; }
check "a bad value is refused with file:line:column and what is wrong" wait_until 5 refused_value
check "... the running set is kept" $API status "$HTTP/status" \
  "stations.b.started_at = $b_started" 'stations.b.state = running' 'stations.c.state = running' \
  'stations.d.state = running' 'config.reloads = 1'
check "... /status and /metrics show the refusal" $API metrics "$HTTP/metrics" \
  'relay_config_last_reload_ok = 0' 'relay_stations{state=running} = 3'
check "... /health stays 200" health_ok

# 7. listeners
touch "$H_WORK/stop-listeners"
wait "${H_PIDS[listeners]}" 2>/dev/null
unset "H_PIDS[listeners]"
cat "$H_WORK/listeners.txt" 2>/dev/null | sed 's/^/   | /'
listener() { grep "/$1_relay.aac " "$H_WORK/listeners.txt"; }
field() { listener "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
for s in b c d; do
  [ "$(field $s disconnects)" = 0 ] && [ "$(field $s bytes)" -gt 20000 ] &&
    ok "listener of $s: never disconnected, $(field $s bytes) bytes" ||
    fail "listener of $s: $(listener $s)"
done
[ "$(field b longest_gap_ms)" -lt 1500 ] && ok "b's longest pause $(field b longest_gap_ms) ms (< timeout + 500 ms)" ||
  fail "b's longest pause $(field b longest_gap_ms) ms"

kill -TERM "${H_PIDS[relay]}"
wait "${H_PIDS[relay]}"
rc=$?
unset "H_PIDS[relay]"
[ $rc = 0 ] && ok "SIGTERM: the relay stops cleanly" || fail "relay exit status $rc"
check "no secret in the complete log either" no_secrets

if [ $failures -gt 0 ]; then
  echo "---- relay log (tail)"
  tail -n 40 "$H_WORK/relay.log" | sed 's/^/   | /'
  echo "e2e-stations: $failures failure(s) (work $H_WORK; KEEP=1 keeps it)"
  exit 1
fi
echo "e2e-stations: all passed"

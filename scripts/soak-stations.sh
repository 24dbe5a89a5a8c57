#!/usr/bin/env bash
# Soak test of many stations in one relay: STATIONS stations (every fourth one in the
# decode setup) from one stations file, each input fed by its own aac-sender (an
# encoder stand-in that can be killed), for DURATION seconds while a chaos loop
# kills random encoders (a primary, a secondary, or now and then both inputs of a
# station) and brings them back. A light listener (mount-listener) is on every
# output the whole time. It asserts:
#  - no listener is ever disconnected, and none pauses longer than timeout + 500 ms;
#  - the relay's RSS stays flat: every sample after the warm-up (the first fifth of
#    the run, which already includes outages) is within +-RSS_TOLERANCE % (5) of
#    the warm-up's last sample;
#  - its open file descriptors are the same with every encoder up, after the warm-up
#    and at the end;
#  - every output runs at the end (/health 200) and a manual switch on loopback
#    works without a token (POST /stations/<id>/switch).
#
#   scripts/soak-stations.sh                   # make soak: 20 stations, 10 minutes
#   STATIONS=5 DURATION=60 scripts/soak-stations.sh   # the short run inside make test
#
# Environment: STATIONS (20), DURATION (600 s), RSS_TOLERANCE (5), SEED (random),
# KEEP=1 keeps the work directory (samples.csv: time, rss_kib, fds, threads).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/icecast/harness.sh
API="/usr/bin/python3 scripts/icecast/relay_api.py"

STATIONS=${STATIONS:-20}
DURATION=${DURATION:-600}
RSS_TOLERANCE=${RSS_TOLERANCE:-5}
SEED=${SEED:-$RANDOM}
RANDOM=$SEED
TIMEOUT_MS=1000
WARMUP=$((DURATION / 5))

h_build || exit 1
h_init soak-stations
export ICECAST_SOURCES=$((3 * STATIONS + 10)) ICECAST_CLIENTS=$((8 * STATIONS + 20))
echo "== soak: $STATIONS stations, ${DURATION}s, random encoder kills, seed $SEED (work $H_WORK)"
h_icecast
P_FILE=$(scripts/icecast/aac-file.sh 128k -3)
S_FILE=$(scripts/icecast/aac-file.sh 64k -10)
ids=()
for ((i = 1; i <= STATIONS; i++)); do ids+=("$(printf 'st%02d' "$i")"); done
mount_of() { # ID INPUT
  if [ "$2" = primary ]; then echo "/$1.aac"; else echo "/$1_fallback.aac"; fi
}
sender() { # ID INPUT
  local file=$P_FILE
  [ "$2" = secondary ] && file=$S_FILE
  "$H_BIN/aac-sender" --port "$H_PORT" --password "$H_PASS" --file "$file" "$(mount_of "$1" "$2")" \
    >>"$H_WORK/senders.log" 2>&1 &
  H_PIDS[$1-$2]=$!
}
for id in "${ids[@]}"; do
  sender "$id" primary
  sender "$id" secondary
done
for id in "${ids[@]}"; do
  h_wait_mount "/$id.aac" && h_wait_mount "/${id}_fallback.aac" || exit 1
done

HPORT=$(free_port)
HTTP=http://127.0.0.1:$HPORT
{
  echo "icecast = \"http://127.0.0.1:$H_PORT\""
  echo "source-password = \"\${SOAK_PW}\""
  echo "timeout = \"${TIMEOUT_MS}ms\""
  echo "restore-delay = \"3s\""
  echo "[http]"
  echo "listen = \"127.0.0.1:$HPORT\""
  for ((i = 0; i < STATIONS; i++)); do
    printf '[[station]]\nid = "%s"\n' "${ids[$i]}"
    [ $((i % 4)) = 3 ] && echo 'setup = "decode"'
  done
} >"$H_WORK/stations.toml"
SOAK_PW=$H_PASS "$H_BIN/gst-failover-relay" --config "$H_WORK/stations.toml" --quiet \
  >"$H_WORK/relay.log" 2>&1 &
H_PIDS[relay]=$!
RP=${H_PIDS[relay]}
for id in "${ids[@]}"; do h_wait_mount "/${id}_relay.aac" || exit 1; done
urls=()
for id in "${ids[@]}"; do urls+=("http://127.0.0.1:$H_PORT/${id}_relay.aac"); done
"$H_BIN/mount-listener" --stop-file "$H_WORK/stop" --gap "$((TIMEOUT_MS + 500))ms" \
  --summary "$H_WORK/listeners.txt" "${urls[@]}" >/dev/null 2>"$H_WORK/listeners.log" &
H_PIDS[listeners]=$!
h_log "relay (pid $RP) and listeners up"

sample() { # -> time,rss_kib,fds,threads
  printf '%s,%s,%s,%s\n' "$(h_now)" \
    "$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$RP/status" 2>/dev/null)" \
    "$(ls "/proc/$RP/fd" 2>/dev/null | wc -l)" \
    "$(awk '$1 == "Threads:" { print $2 }' "/proc/$RP/status" 2>/dev/null)"
}
echo "time,rss_kib,fds,threads" >"$H_WORK/samples.csv"
# Samples every 5 s in the background.
(
  while kill -0 "$RP" 2>/dev/null; do
    sample >>"$H_WORK/samples.csv"
    sleep 5
  done
) &
H_PIDS[sampler]=$!
# all_up_sample NAME: the fds and RSS with every encoder up and settled.
all_up_sample() {
  h_sleep 12
  sample | tee "$H_WORK/$1.sample" >/dev/null
}

# The chaos loop: one outage at a time, 2..7 s long, 2..6 s apart.
kills=0 both=0
t_end=$(($(date +%s) + DURATION))
t_warm=$(($(date +%s) + WARMUP))
warm_done=
while [ "$(date +%s)" -lt "$t_end" ]; do
  if [ -z "$warm_done" ] && [ "$(date +%s)" -ge "$t_warm" ]; then
    all_up_sample warm
    warm_done=1
    h_log "warm-up over: $(cat "$H_WORK/warm.sample")"
    continue
  fi
  id=${ids[$((RANDOM % STATIONS))]}
  case $((RANDOM % 5)) in
    0) victims=(primary secondary) both=$((both + 1)) ;;
    1 | 2) victims=(primary) ;;
    *) victims=(secondary) ;;
  esac
  for v in "${victims[@]}"; do h_stop "$id-$v"; done
  kills=$((kills + 1))
  h_sleep $((2 + RANDOM % 6))
  for v in "${victims[@]}"; do sender "$id" "$v"; done
  h_sleep $((2 + RANDOM % 5))
done
all_up_sample end
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
ok() { echo "ok: $*"; }

if curl -fsS "$HTTP/health" >"$H_WORK/health.txt" 2>&1; then ok "every output runs at the end (/health 200)"; else
  fail "/health: $(cat "$H_WORK/health.txt")"
fi
code=$(curl -s -o "$H_WORK/post.out" -w '%{http_code}' -X POST "$HTTP/stations/${ids[0]}/switch?to=secondary")
[ "$code" = 200 ] && ok "manual switch on loopback without a token: 200" || fail "manual switch: $code $(cat "$H_WORK/post.out")"
touch "$H_WORK/stop"
wait "${H_PIDS[listeners]}" 2>/dev/null
unset "H_PIDS[listeners]"
h_stop sampler
switches=$(grep -c 'SWITCH' "$H_WORK/relay.log")
restarts=$(grep -c 'station failed' "$H_WORK/relay.log")

# Listeners.
read -r lst disc worst gaps bytes_min < <(awk '{
    for (i = 1; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
    n++; d += v["disconnects"]; g += v["gaps_over"]
    if (v["longest_gap_ms"] > w) w = v["longest_gap_ms"]
    if (min == "" || v["bytes"] + 0 < min) min = v["bytes"] + 0
  } END { print n, d + 0, w + 0, g + 0, min + 0 }' "$H_WORK/listeners.txt")
[ "$lst" = "$STATIONS" ] && [ "$disc" = 0 ] && [ "$bytes_min" -gt 0 ] &&
  ok "no listener of $lst disconnected (least bytes $bytes_min)" ||
  fail "listeners: $lst reported, $disc disconnection(s), least bytes $bytes_min"
[ "$gaps" = 0 ] && ok "longest pause of any listener: $worst ms (< $((TIMEOUT_MS + 500)) ms)" ||
  fail "$gaps pause(s) over $((TIMEOUT_MS + 500)) ms (longest $worst ms)"

# RSS and file descriptors.
IFS=, read -r _ rss_w fds_w thr_w <"$H_WORK/warm.sample"
IFS=, read -r _ rss_e fds_e thr_e <"$H_WORK/end.sample"
read -r rss_min rss_max < <(awk -F, -v from="$WARMUP" 'NR > 1 && $1 >= from && $2 > 0 {
    if (min == "" || $2 < min) min = $2; if ($2 > max) max = $2 } END { print min + 0, max + 0 }' \
  "$H_WORK/samples.csv")
dev=$(awk -v w="$rss_w" -v lo="$rss_min" -v hi="$rss_max" -v e="$rss_e" 'BEGIN {
    a = (hi - w) / w * 100; b = (w - lo) / w * 100; c = (e - w) / w * 100
    m = a > b ? a : b; printf "%.1f %.1f", m, c }')
read -r dev_max dev_end <<<"$dev"
awk -v d="$dev_max" -v t="$RSS_TOLERANCE" 'BEGIN { exit !(d <= t) }' &&
  ok "RSS flat: $((rss_w / 1024)) MiB after the warm-up, $((rss_e / 1024)) MiB at the end ($dev_end %), every sample within $dev_max % (<= $RSS_TOLERANCE %)" ||
  fail "RSS: $((rss_w / 1024)) MiB after the warm-up, range $((rss_min / 1024))..$((rss_max / 1024)) MiB ($dev_max % > $RSS_TOLERANCE %)"
[ "$fds_w" = "$fds_e" ] && ok "file descriptors constant: $fds_w (threads $thr_w -> $thr_e)" ||
  fail "file descriptors $fds_w after the warm-up, $fds_e at the end"
echo "soak: $kills outages ($both of both inputs), $switches switches, $restarts station restart(s), seed $SEED"

h_stop relay
if [ $failures -gt 0 ]; then
  tail -n 30 "$H_WORK/relay.log" | sed 's/^/   | /'
  echo "soak-stations: $failures failure(s) (work $H_WORK; KEEP=1 keeps it; SEED=$SEED repeats the run)"
  exit 1
fi
echo "soak-stations: all passed"

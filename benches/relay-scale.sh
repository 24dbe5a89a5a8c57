#!/usr/bin/env bash
# How many stations one relay process holds: N stations from one stations file, both
# inputs of each from a local Icecast (fed by testkit's aac-sender: one process
# sends a prerecorded AAC file to many mounts in real time, so the encoders cost
# little), every output back to that Icecast, a light listener (mount-listener) on
# every output. For each setup and N it measures, over a window after a warm-up, the
# relay's CPU (utime + stime from /proc, in % of one core), RSS, threads and file
# descriptors, and whether it held real time: no listener disconnected or paused
# for more than GAP, no switch (every input is healthy the whole time).
#
#   benches/relay-scale.sh                       # passthrough and decode, N = 1 10 50
#   SETUPS=passthrough NS="1 50 100 200" benches/relay-scale.sh
#   OPTS='measure = "none"' NS="1 100" benches/relay-scale.sh   # extra station keys
#   PIN=1 ...                                    # the relay on CPU 1 only (taskset)
#
# Environment: SETUPS (default "passthrough decode"), NS (default "1 10 50"),
# WARMUP (s, default 15), WINDOW (s, default 30), GAP (default 1s), OPTS (TOML
# lines added to every station), PIN (a CPU number: the relay runs on that core
# alone; default: not pinned), RESULTS (file the table is appended to, default
# target/relay-scale.txt). Everything it starts is stopped on exit.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/icecast/harness.sh

SETUPS=${SETUPS:-passthrough decode}
NS=${NS:-1 10 50}
WARMUP=${WARMUP:-15}
WINDOW=${WINDOW:-30}
GAP=${GAP:-1s}
OPTS=${OPTS:-}
PIN=${PIN:-}
RESULTS=${RESULTS:-target/relay-scale.txt}
MOUNTS_PER_SENDER=${MOUNTS_PER_SENDER:-200}
HZ=$(getconf CLK_TCK)

h_build || exit 1
maxn=0
for n in $NS; do [ "$n" -gt "$maxn" ] && maxn=$n; done
# Icecast: 3 mounts and 6 connections (2 senders, 2 relay inputs, 1 relay output, 1
# listener) per station: its client limit counts sources too.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
export ICECAST_SOURCES=$((3 * maxn + 20)) ICECAST_CLIENTS=$((8 * maxn + 50))
h_init relay-scale
h_icecast
P_FILE=$(scripts/icecast/aac-file.sh 128k -3)
S_FILE=$(scripts/icecast/aac-file.sh 64k -10)

# Senders for stations 1..maxn (ids s0001...): primaries and secondaries.
ids=()
for ((i = 1; i <= maxn; i++)); do ids+=("$(printf 's%04d' "$i")"); done
start_senders() { # KIND FILE SUFFIX
  local k=0 chunk=()
  local id
  for id in "${ids[@]}"; do
    chunk+=("/$id$3.aac")
    if [ ${#chunk[@]} -ge "$MOUNTS_PER_SENDER" ]; then
      "$H_BIN/aac-sender" --port "$H_PORT" --password "$H_PASS" --file "$2" "${chunk[@]}" \
        >>"$H_WORK/sender-$1-$k.log" 2>&1 &
      H_PIDS[sender-$1-$k]=$!
      k=$((k + 1))
      chunk=()
    fi
  done
  if [ ${#chunk[@]} -gt 0 ]; then
    "$H_BIN/aac-sender" --port "$H_PORT" --password "$H_PASS" --file "$2" "${chunk[@]}" \
      >>"$H_WORK/sender-$1-$k.log" 2>&1 &
    H_PIDS[sender-$1-$k]=$!
  fi
}
start_senders primary "$P_FILE" ""
start_senders secondary "$S_FILE" "_fallback"
h_wait_mount "/${ids[-1]}_fallback.aac" 60 || exit 1
h_log "$((2 * maxn)) input mounts up"

# ticks PID: utime + stime (clock ticks) of a process.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
sum_ticks() {
  local t=0 p
  for p in "$@"; do t=$((t + $(ticks "$p"))); done
  echo $t
}

mkdir -p "$(dirname "$RESULTS")"
{
  echo "# relay-scale $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null) warmup ${WARMUP}s window ${WINDOW}s pin ${PIN:-none} opts '${OPTS//$'\n'/; }'"
  echo "# setup N relay_cpu_%core cpu_%_per_station rss_MiB rss_MiB_per_station threads fds icecast_cpu_% senders_cpu_% listener_gaps disconnects switches realtime"
} | tee -a "$RESULTS"

for setup in $SETUPS; do
  base_rss=
  for n in $NS; do
    conf=$H_WORK/stations-$setup-$n.toml
    {
      echo "icecast = \"http://127.0.0.1:$H_PORT\""
      echo "source-password = \"\${BENCH_PW}\""
      echo "setup = \"$setup\""
      [ -n "$OPTS" ] && echo "$OPTS"
      for ((i = 0; i < n; i++)); do printf '[[station]]\nid = "%s"\n' "${ids[$i]}"; done
    } >"$conf"
    pin=()
    [ -n "$PIN" ] && pin=(taskset -c "$PIN")
    BENCH_PW=$H_PASS "${pin[@]}" "$H_BIN/gst-failover-relay" --config "$conf" --quiet \
      >"$H_WORK/relay-$setup-$n.log" 2>&1 &
    H_PIDS[relay]=$!
    rp=${H_PIDS[relay]}
    if ! h_wait_mount "/${ids[$((n - 1))]}_relay.aac" 60; then
      h_log "outputs did not come up"
      tail "$H_WORK/relay-$setup-$n.log"
      exit 1
    fi
    urls=()
    for ((i = 0; i < n; i++)); do urls+=("http://127.0.0.1:$H_PORT/${ids[$i]}_relay.aac"); done
    "$H_BIN/mount-listener" --duration $((WARMUP + WINDOW)) --gap "$GAP" \
      --summary "$H_WORK/listeners-$setup-$n.txt" "${urls[@]}" >/dev/null 2>"$H_WORK/listeners-$setup-$n.log" &
    H_PIDS[listeners]=$!
    h_sleep "$WARMUP"
    senders=()
    for k in "${!H_PIDS[@]}"; do [[ $k == sender-* ]] && senders+=("${H_PIDS[$k]}"); done
    ice=${H_PIDS[icecast]}
    sw0=$(grep -c 'SWITCH' "$H_WORK/relay-$setup-$n.log")
    t0=$(date +%s.%N) r0=$(ticks "$rp") i0=$(ticks "$ice") s0=$(sum_ticks "${senders[@]}")
    h_sleep "$WINDOW"
    t1=$(date +%s.%N) r1=$(ticks "$rp") i1=$(ticks "$ice") s1=$(sum_ticks "${senders[@]}")
    rss=$(status_kb "$rp" VmRSS) threads=$(status_kb "$rp" Threads)
    fds=$(ls "/proc/$rp/fd" 2>/dev/null | wc -l)
    sw1=$(grep -c 'SWITCH' "$H_WORK/relay-$setup-$n.log")
    wait "${H_PIDS[listeners]}" 2>/dev/null
    unset "H_PIDS[listeners]"
    gaps=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^gaps_over=/) { split($i, a, "="); g += a[2] } } END { print g + 0 }' "$H_WORK/listeners-$setup-$n.txt")
    disc=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^disconnects=/) { split($i, a, "="); d += a[2] } } END { print d + 0 }' "$H_WORK/listeners-$setup-$n.txt")
    heard=$(grep -c 'bytes=[1-9]' "$H_WORK/listeners-$setup-$n.txt")
    h_stop relay
    read -r cpu per rss_mib per_rss ice_cpu snd_cpu < <(awk -v r0="$r0" -v r1="$r1" \
      -v i0="$i0" -v i1="$i1" -v s0="$s0" -v s1="$s1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" \
      -v n="$n" -v rss="$rss" -v base="${base_rss:-}" 'BEGIN {
        d = t1 - t0; cpu = (r1 - r0) / hz / d * 100
        mib = rss / 1024
        per = (base == "" || n <= 1) ? mib / n : (mib - base) / (n - 1)
        printf "%.1f %.2f %.1f %.2f %.1f %.1f\n", cpu, cpu / n, mib, per,
          (i1 - i0) / hz / d * 100, (s1 - s0) / hz / d * 100 }')
    [ "$n" = 1 ] && base_rss=$rss_mib
    switches=$((sw1 - sw0))
    realtime=yes
    if [ "$gaps" -gt 0 ] || [ "$disc" -gt 0 ] || [ "$switches" -gt 0 ] || [ "$heard" -lt "$n" ]; then realtime=NO; fi
    echo "$setup $n $cpu $per $rss_mib $per_rss $threads $fds $ice_cpu $snd_cpu $gaps $disc $switches $realtime" |
      tee -a "$RESULTS"
  done
done
h_log "results appended to $RESULTS"

#!/usr/bin/env bash
# A viewer: plays an RTMP URL for DURATION seconds of wall-clock time and records what
# it receives, unchanged (ffmpeg -c copy -copyts: the publisher's FLV timestamps).
#   scripts/rtmp/viewer.sh URL DURATION OUTDIR [NAME]
# Writes into OUTDIR:
#   NAME.flv            the recording of the first connection (NAME.2.flv, ... after
#                       reconnections)
#   NAME-events.txt     `<epoch> <event> ...`: waiting (no stream yet), connected,
#                       disconnected (the stream ended before DURATION), stopped
#   NAME-arrivals.csv   per FLV tag: connection, wall-clock arrival, type, timestamp
#   NAME.txt            key=value summary: connected, connections, disconnects,
#                       longest_gap_ms, stalls, max_playout_delay_ms, decode_errors
#   NAME-decode.txt     the decoder's error lines (ffmpeg -v error decode pass)
# Until the stream first appears the viewer retries every 0.3 s (not a disconnect);
# after that, any end before DURATION is a disconnect and the viewer reconnects.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
url=${1:?usage: viewer.sh URL DURATION OUTDIR [NAME]}
duration=${2:?duration (s)}
out=${3:?output dir}
name=${4:-viewer}
mkdir -p "$out"
ev="$out/$name-events.txt"
arr="$out/$name-arrivals.csv"
: >"$ev"
: >"$arr"
log() { echo "$(date +%s.%N) $*" >>"$ev"; }

fpid="" tpid=""
fifo="$out/.$name.fifo"
stop() {
  [ -n "$fpid" ] && kill -INT "$fpid" 2>/dev/null
  [ -n "$fpid" ] && wait "$fpid" 2>/dev/null
  [ -n "$tpid" ] && wait "$tpid" 2>/dev/null
  rm -f "$fifo"
}
# SIGINT/SIGTERM end the recording early, like DURATION running out (the summary is
# still written).
ended=0
trap 'ended=1' INT TERM

now_us() { echo "${EPOCHREALTIME/./}"; }
deadline=$(($(now_us) + ${duration%.*} * 1000000))
left() { [ "$ended" = 0 ] && [ "$(now_us)" -lt "$deadline" ]; }
conn=0
while left; do
  file="$out/$name.flv"
  [ "$conn" -gt 0 ] && file="$out/$name.$((conn + 1)).flv"
  rm -f "$file" "$fifo"
  mkfifo "$fifo"
  python3 "$here/flvtap.py" record "$file" "$arr" "$((conn + 1))" <"$fifo" &
  tpid=$!
  # Flush every packet and interleave at most 0.5 s, so the arrival times are the
  # network's, not the muxer's.
  ffmpeg -nostdin -hide_banner -loglevel error -rtmp_live live -i "$url" \
    -map 0 -c copy -copyts -flush_packets 1 -max_interleave_delta 500000 \
    -flvflags no_duration_filesize -f flv pipe:1 >"$fifo" 2>>"$out/$name-ffmpeg.log" &
  fpid=$!
  got=0
  while kill -0 "$fpid" 2>/dev/null && left; do
    if [ "$got" = 0 ] && [ -s "$file" ]; then
      got=1
      log connected "conn=$((conn + 1))" "file=$(basename "$file")"
    fi
    sleep 0.1 &
    wait $! 2>/dev/null
  done
  if kill -0 "$fpid" 2>/dev/null; then
    # DURATION is over: stop ffmpeg cleanly (it writes what it has and exits).
    stop
    fpid="" tpid=""
    [ "$got" = 0 ] && [ -s "$file" ] && got=1 && log connected "conn=$((conn + 1))"
    log stopped
    [ "$got" = 1 ] && conn=$((conn + 1))
    break
  fi
  wait "$fpid" 2>/dev/null
  wait "$tpid" 2>/dev/null
  fpid="" tpid=""
  rm -f "$fifo"
  [ "$got" = 0 ] && [ -s "$file" ] && got=1 && log connected "conn=$((conn + 1))"
  if [ "$got" = 1 ]; then
    log disconnected "conn=$((conn + 1))"
    conn=$((conn + 1))
  else
    rm -f "$file"
    [ "$conn" = 0 ] && ! grep -q waiting "$ev" && log waiting
    sleep 0.3 &
    wait $! 2>/dev/null
  fi
done
pid=""

{
  python3 "$here/flvtap.py" summary "$ev" "$arr"
  if [ -s "$out/$name.flv" ]; then
    # Decoder and demuxer errors; not the null muxer's complaints about timestamps
    # (analyze.py reports those as timestamp errors).
    ffmpeg -nostdin -hide_banner -v error -i "$out/$name.flv" -f null - 2>&1 |
      grep -v -e '^\[null @' -e 'Last message repeated' >"$out/$name-decode.txt"
    echo "decode_errors=$(grep -c . "$out/$name-decode.txt")"
  else
    echo "decode_errors=0"
  fi
  echo "files=$(cd "$out" && ls "$name".flv "$name".*.flv 2>/dev/null | tr '\n' ' ')"
} >"$out/$name.txt"
exit 0

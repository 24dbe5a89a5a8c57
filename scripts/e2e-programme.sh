#!/usr/bin/env bash
# The test programme of scripts/icecast/encoder.sh is one continuous programme that
# follows wall-clock time, and scripts/icecast/markers.py reads it back:
#  1. an encoder with a 6 s loop, recorded from its Icecast mount for 15 s (two
#     wraps or more): the markers show the programme running on without a jump
#     (every marker-to-marker jump under 5 ms);
#  2. the same recording with 300 ms cut out, and with 250 ms repeated: the tool
#     reports those jumps (+300 ms, -250 ms) and fails;
#  3. a second encoder started 1.3 s later with DELAY_MS=700 (64 kbit/s, 7 dB
#     quieter), both mounts recorded from the same instant (no Icecast burst): its
#     programme is about 700 ms behind the first one's (the encoders' start-up and
#     where each recording starts in Icecast's queue add up to a few hundred ms),
#     and the markers and the alignment estimator (examples/align-wav.rs, on the
#     same two recordings) agree on that offset within 1 ms.
# Everything runs on 127.0.0.1 with a free port and is stopped by PID at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/icecast/common.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/programme-check.XXXXXX")
chmod 755 "$work"
pids=()
cleanup() {
  kill_pid "${pids[@]}"
  "$here/icecast/stop.sh" "$work/icecast" >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(free_port)
pass="pw$RANDOM$RANDOM"
# No burst on connect: a listener starts at the live edge, so two recordings
# started together share one time axis.
ICECAST_BURST=0 ICECAST_BURST_SIZE=0 "$here/icecast/start.sh" "$work/icecast" "$port" "$pass" >/dev/null
pids+=("$(cat "$work/icecast/icecast.ownpid")")
export FAILOVER_PROGRAMME_LOOP=6

"$here/icecast/encoder.sh" "$port" "$pass" /a.aac 128k 0 48000 >"$work/a.log" 2>&1 &
pids+=($!)
sleep 1.3
"$here/icecast/encoder.sh" "$port" "$pass" /b.aac 64k -7 48000 700 >"$work/b.log" 2>&1 &
pids+=($!)
wait_mount "$port" /a.aac 60 && wait_mount "$port" /b.aac 60 || {
  echo "FAIL: the encoders did not come up" >&2
  cat "$work/a.log" "$work/b.log" >&2
  exit 1
}

# Both mounts recorded from the same instant.
curl -s --max-time 15 "http://127.0.0.1:$port/a.aac" -o "$work/a.aac" &
ca=$!
curl -s --max-time 15 "http://127.0.0.1:$port/b.aac" -o "$work/b.aac" &
cb=$!
wait "$ca" "$cb" || true
for m in a b; do
  ffmpeg -nostdin -loglevel error -y -i "$work/$m.aac" -ac 1 -ar 16000 "$work/$m.wav"
done

fail=0
markers() { python3 "$here/icecast/markers.py" --loop 6 "$@"; }

echo "== 1. one encoder across its loop wraps"
markers "$work/a.wav" --list --max-jump-ms 5 | tee "$work/a.txt"
wraps=$(awk '/^marker/ { s = $7 + 0; if (n++ && s < prev) w++; prev = s } END { print w + 0 }' "$work/a.txt")
count=$(grep -c '^marker' "$work/a.txt" || true)
echo "markers: $count, loop wraps: $wraps"
if ! grep -q '^OK' "$work/a.txt" || [ "$count" -lt 12 ] || [ "$wraps" -lt 2 ]; then
  echo "FAIL: the programme is not continuous across the wraps"
  fail=1
fi

echo "== 2. a cut and a repeat are reported"
python3 - "$work/a.wav" "$work/cut.wav" "$work/rep.wav" <<'PY'
import sys, wave
src, cut, rep = sys.argv[1:4]
with wave.open(src, "rb") as w:
    params, rate = w.getparams(), w.getframerate()
    data = w.readframes(w.getnframes())
b = 2 * params.nchannels
at = int(7.5 * rate) * b
for path, new in ((cut, data[:at] + data[at + int(0.3 * rate) * b:]),
                  (rep, data[:at] + data[at - int(0.25 * rate) * b:])):
    with wave.open(path, "wb") as o:
        o.setparams(params)
        o.writeframes(new)
PY
for c in "cut +300" "rep -250"; do
  set -- $c
  out=$(markers "$work/$1.wav" --max-jump-ms 5 || true)
  echo "$out"
  got=$(echo "$out" | awk '/^programme jump/ { print $4 + 0 }' | head -1)
  if ! echo "$out" | grep -q '^FAIL' ||
    ! awk -v g="$got" -v w="$2" 'BEGIN { exit !(g != "" && (g - w) < 2 && (w - g) < 2) }'; then
    echo "FAIL: the $1 recording should show one jump of $2 ms (got '${got}')"
    fail=1
  fi
done

# The recording ends in the middle of a marker's bits (as a listener stopped at any
# moment may): that marker is incomplete and must not read as a programme jump.
# The last marker whose second number is not 0 (all its bits lost would read 0).
last=$(markers "$work/a.wav" --list | awk '/^marker/ && $7 % 6 { t = $3 } END { print t }')
python3 - "$work/a.wav" "$work/end.wav" "$last" <<'PY'
import sys, wave
src, dst, last = sys.argv[1], sys.argv[2], float(sys.argv[3])
with wave.open(src, "rb") as w:
    params, rate = w.getparams(), w.getframerate()
    data = w.readframes(w.getnframes())
# 21 ms after the blip's start: every bit cut off.
end = int((last + 0.021) * rate) * 2 * params.nchannels
with wave.open(dst, "wb") as o:
    o.setparams(params)
    o.writeframes(data[:end])
PY
if ! markers "$work/end.wav" --max-jump-ms 5 >"$work/end.txt"; then
  cat "$work/end.txt"
  echo "FAIL: a marker cut off by the recording's end reads as a jump"
  fail=1
fi

echo "== 3. two encoders started 1.3 s apart, the second with DELAY_MS=700"
markers "$work/b.wav" --max-jump-ms 5 || fail=1
# How much later the second mount's programme is in the two recordings: from the
# markers (recording time - programme time of each first marker, modulo the loop)...
lag() { markers "$1" --list | awk '/^marker/ { t = $3; p = $9 + 0; print t - p; exit }'; }
by_markers=$(awk -v a="$(lag "$work/a.wav")" -v b="$(lag "$work/b.wav")" \
  'BEGIN { d = (b - a) * 1000; while (d > 3000) d -= 6000; while (d <= -3000) d += 6000; printf "%.3f", d }')
# ...and from the alignment estimator (src/align) on the same recordings.
bin="$here/../target/release/examples/align-wav"
[ -x "$bin" ] || (cd "$here/.." && cargo build --release --quiet --example align-wav)
"$bin" "$work/a.wav" "$work/b.wav" | tee "$work/align.txt" | tail -3
by_estimator=$(sed -n 's/^offset_ms=\([-0-9.]*\) confident=true.*/\1/p' "$work/align.txt")
echo "the second mount's programme is later by $by_markers ms (markers), ${by_estimator:-none} ms (estimator)"
echo "(DELAY_MS=700: the rest is the encoders' start-up and where each recording began in Icecast's queue)"
if [ -z "$by_estimator" ] || ! awk -v m="$by_markers" -v e="$by_estimator" 'BEGIN { d = m - e; exit !(d < 1 && d > -1) }'; then
  echo "FAIL: the markers and the estimator should agree within 1 ms"
  fail=1
fi
# A sanity bound, not a precision claim: DELAY_MS is applied, in the right direction.
if ! awk -v d="$by_markers" 'BEGIN { exit !(d > 300 && d < 1100) }'; then
  echo "FAIL: expected about 700 ms"
  fail=1
fi

[ "$fail" -eq 0 ] && echo "e2e-programme: OK" || echo "e2e-programme: FAILED"
exit "$fail"

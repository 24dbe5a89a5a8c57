#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# Speed of loudnessmatch against ffmpeg's ebur128 filter, on the same file.
#
# Generates a 48 kHz stereo S16LE WAV of programme-like noise (1 hour by
# default), then times, one after the other:
#   - filesrc ! wavparse ! fakesink                          (pipeline cost alone)
#   - filesrc ! wavparse ! loudnessmatch mode=measure ! fakesink
#   - filesrc ! wavparse ! loudnessmatch mode=normalize ! fakesink
#   - ffmpeg -nostats -i x.wav -filter_complex ebur128=peak=true -f null -
# and prints a markdown table of wall-clock seconds per hour of audio (best of
# RUNS runs).
#
# Usage: benches/loudness-bench.sh            (from the crate root)
#   DURATION=600 benches/loudness-bench.sh    shorter file, results scaled to 1 h
#   RUNS=3 KEEP=1 WAV=/path/x.wav ...        runs per tool, keep/reuse the WAV
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-3600}
RUNS=${RUNS:-1}
WAV=${WAV:-${TMPDIR:-/tmp}/loudness-bench-${DURATION}s.wav}

for tool in gst-launch-1.0 ffmpeg cargo; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release --quiet -p gst-plugin-failover
fi
export GST_PLUGIN_PATH="$PWD/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
gst-inspect-1.0 loudnessmatch >/dev/null || { echo "loudnessmatch not found in target/release" >&2; exit 1; }

if [ ! -s "$WAV" ]; then
    echo "generating $WAV ($DURATION s, 48 kHz stereo S16LE)..." >&2
    ffmpeg -nostdin -loglevel error -y \
        -f lavfi -i "anoisesrc=color=pink:sample_rate=48000:amplitude=0.25:duration=$DURATION:seed=1" \
        -af "volume='0.6+0.4*sin(2*PI*t/7)':eval=frame,aformat=channel_layouts=stereo" \
        -ac 2 -c:a pcm_s16le "$WAV"
fi
[ -n "${KEEP:-}" ] || trap 'rm -f "$WAV"' EXIT

# best wall-clock time of RUNS runs of "$@", in seconds
best() {
    local best_t="" t s e
    for _ in $(seq "$RUNS"); do
        s=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc -l)
        if [ -z "$best_t" ] || [ "$(echo "$t < $best_t" | bc -l)" = 1 ]; then best_t=$t; fi
    done
    echo "$best_t"
}

pipe() { gst-launch-1.0 -q filesrc location="$WAV" ! wavparse ! "$@" ! fakesink; }

t_base=$(best pipe identity)
t_measure=$(best pipe loudnessmatch mode=measure)
t_normalize=$(best pipe loudnessmatch mode=normalize)
t_ffmpeg=$(best ffmpeg -nostdin -nostats -i "$WAV" -filter_complex ebur128=peak=true -f null -)

row() {
    local per_hour x
    per_hour=$(echo "$2 * 3600 / $DURATION" | bc -l)
    x=$(echo "$DURATION / $2" | bc -l)
    printf '| %s | %.1f | %.0fx |\n' "$1" "$per_hour" "$x"
}

echo
echo "48 kHz stereo S16LE, $(echo "$DURATION / 60" | bc) min file, best of $RUNS; $(nproc) CPUs"
echo
echo "| pipeline | s per hour of audio | faster than real time |"
echo "|---|---:|---:|"
row "filesrc ! wavparse ! identity ! fakesink (baseline)" "$t_base"
row "loudnessmatch mode=measure" "$t_measure"
row "loudnessmatch mode=normalize" "$t_normalize"
row "ffmpeg ebur128=peak=true" "$t_ffmpeg"

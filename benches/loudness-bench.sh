#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# Speed of loudnessmatch against ffmpeg's ebur128 filter, on the same file.
#
# Generates a 48 kHz stereo S16LE WAV (1 hour by default) of programme-like
# noise (pink noise whose level moves by 14 dB every 7 s), or with SIGNAL=dense
# of white noise at a constant level (the true-peak filter's worst case: every
# block may hold a new peak, none can be skipped), then times, one after the
# other:
#   - filesrc ! wavparse ! fakesink                          (pipeline cost alone)
#   - filesrc ! wavparse ! loudnessmatch mode=measure ! fakesink
#   - filesrc ! wavparse ! loudnessmatch mode=normalize ! fakesink
#   - ffmpeg -nostats -i x.wav -filter_complex ebur128=peak=true -f null -
# and prints a markdown table of wall-clock and CPU seconds per hour of audio
# (best of RUNS runs, the tools taking turns) and how much faster measuring is
# than ffmpeg.
#
# Usage: benches/loudness-bench.sh            (from the crate root)
#   DURATION=600 benches/loudness-bench.sh    shorter file, results scaled to 1 h
#   RUNS=3 KEEP=1 WAV=/path/x.wav ...        runs per tool, keep/reuse the WAV
#   SIGNAL=dense benches/loudness-bench.sh    the worst case for the meter
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-3600}
RUNS=${RUNS:-1}
SIGNAL=${SIGNAL:-programme}
WAV=${WAV:-${TMPDIR:-/tmp}/loudness-bench-$SIGNAL-${DURATION}s.wav}
case $SIGNAL in
    programme)
        SOURCE="anoisesrc=color=pink:sample_rate=48000:amplitude=0.25:duration=$DURATION:seed=1"
        SHAPE="volume='0.6+0.4*sin(2*PI*t/7)':eval=frame,aformat=channel_layouts=stereo" ;;
    dense)
        SOURCE="anoisesrc=color=white:sample_rate=48000:amplitude=0.5:duration=$DURATION:seed=3"
        SHAPE="aformat=channel_layouts=stereo" ;;
    *) echo "SIGNAL must be programme or dense" >&2; exit 1 ;;
esac

for tool in gst-launch-1.0 ffmpeg cargo bc; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release --quiet -p gst-plugin-failover
fi
export GST_PLUGIN_PATH="$PWD/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
gst-inspect-1.0 loudnessmatch >/dev/null || { echo "loudnessmatch not found in target/release" >&2; exit 1; }

if [ ! -s "$WAV" ]; then
    echo "generating $WAV ($SIGNAL, $DURATION s, 48 kHz stereo S16LE)..." >&2
    ffmpeg -nostdin -loglevel error -y -f lavfi -i "$SOURCE" -af "$SHAPE" \
        -ac 2 -c:a pcm_s16le "$WAV"
fi
[ -n "${KEEP:-}" ] || trap 'rm -f "$WAV"' EXIT

# Times "$@" once: prints "wall cpu" in seconds (cpu = user + sys of the
# command and its children, from bash's `time`; less disturbed than the wall
# clock when other work shares the machine).
timed() {
    local TIMEFORMAT='%R %U %S' out
    out=$({ time "$@" >/dev/null 2>&1; } 2>&1 | tail -1)
    echo "$out" | awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }'
}

pipe() { gst-launch-1.0 -q filesrc location="$WAV" ! wavparse ! "$@" ! fakesink; }
ffmpeg_r128() { ffmpeg -nostdin -nostats -i "$WAV" -filter_complex ebur128=peak=true -f null -; }

NAMES=(base measure normalize ffmpeg)
declare -A WALL CPU
# The tools take turns within each run, so a busy moment hits all of them;
# each keeps its best wall and best CPU time.
for _ in $(seq "$RUNS"); do
    for n in "${NAMES[@]}"; do
        case $n in
            base) r=$(timed pipe identity) ;;
            measure) r=$(timed pipe loudnessmatch mode=measure) ;;
            normalize) r=$(timed pipe loudnessmatch mode=normalize) ;;
            ffmpeg) r=$(timed ffmpeg_r128) ;;
        esac
        read -r w c <<<"$r"
        if [ -z "${WALL[$n]:-}" ] || [ "$(echo "$w < ${WALL[$n]}" | bc -l)" = 1 ]; then WALL[$n]=$w; fi
        if [ -z "${CPU[$n]:-}" ] || [ "$(echo "$c < ${CPU[$n]}" | bc -l)" = 1 ]; then CPU[$n]=$c; fi
    done
done

per_hour() { echo "$1 * 3600 / $DURATION" | bc -l; }
row() {
    printf '| %s | %.1f | %.1f | %.0fx |\n' "$1" "$(per_hour "${WALL[$2]}")" \
        "$(per_hour "${CPU[$2]}")" "$(echo "$DURATION / ${WALL[$2]}" | bc -l)"
}

echo
echo "48 kHz stereo S16LE $SIGNAL, $(echo "$DURATION / 60" | bc) min file, best of $RUNS; $(nproc) CPUs"
echo
echo "| pipeline | s per hour of audio (wall) | CPU s per hour | faster than real time |"
echo "|---|---:|---:|---:|"
row "filesrc ! wavparse ! identity ! fakesink (baseline)" base
row "loudnessmatch mode=measure" measure
row "loudnessmatch mode=normalize" normalize
row "ffmpeg ebur128=peak=true" ffmpeg
echo
printf 'mode=measure against ffmpeg ebur128=peak=true: %.1fx faster (wall), %.1fx (CPU)\n' \
    "$(echo "${WALL[ffmpeg]} / ${WALL[measure]}" | bc -l)" \
    "$(echo "${CPU[ffmpeg]} / ${CPU[measure]}" | bc -l)"

#!/usr/bin/env bash
# The README's RTMP gst-launch line with two B-frame encoders (ffmpeg libx264
# --bframes 2, GOP 2 s and 3 s), read from files instead of rtmp2src: the primary
# ends after 4 s. Prints, per stream of the output FLV, the packets whose DTS does not
# increase or lies after the PTS, and ffmpeg's decoder errors and frames.
#   scripts/rtmp/bframes-line.sh [DIR]   (GST_PLUGIN_PATH: the plugin to test)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$(mktemp -d)}
mkdir -p "$dir" && cd "$dir"
bash "$here/encoder.sh" p.flv --colour red --bframes 2 --duration 4 --k0 0 --gop 2 --level 3.0 >/dev/null
bash "$here/encoder.sh" s.flv --colour blue --bframes 2 --duration 10 --k0 0 --gop 3 --abitrate 64k >/dev/null
gst-launch-1.0 -q \
  filesrc location=p.flv ! flvdemux name=p \
    p.audio ! queue ! aacparse ! a.primary   p.video ! queue ! h264parse ! v.primary \
  filesrc location=s.flv ! flvdemux name=b \
    b.audio ! queue ! aacparse ! a.secondary  b.video ! queue ! h264parse ! v.secondary \
  failoverswitch name=a group=av mode=sticky ! queue ! mux. \
  failoverswitch name=v group=av mode=sticky ! queue ! mux. \
  flvmux name=mux streamable=true ! filesink location=out.flv
for s in v a; do
  ffprobe -v error -select_streams $s -show_entries packet=pts,dts -of csv=p=0 out.flv |
    awk -F, -v s=$s 'NF > 1 {
      if (n && $2 < prev) back++; if (n && $2 == prev) same++; if ($1 < $2) early++
      prev = $2; n++ }
      END { printf "%s: packets=%d dts_back=%d dts_repeated=%d pts_before_dts=%d\n", s, n, back, same, early }'
done
echo "decoder_errors=$(ffmpeg -nostdin -v error -i out.flv -f null - 2>&1 | wc -l)" \
  "frames=$(ffmpeg -nostdin -v error -i out.flv -map 0:v -f framemd5 - 2>/dev/null | grep -vc '^#')"

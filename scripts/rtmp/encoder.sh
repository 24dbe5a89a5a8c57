#!/usr/bin/env bash
# A live H.264 + AAC (FLV) encoder publishing the video test programme (programme.py)
# to an RTMP URL, or writing it to a file.
#   scripts/rtmp/encoder.sh URL [options]
#     --colour NAME     source label colour: red, blue, green, yellow, magenta, cyan (red)
#     --label TEXT      label text beside the box (the colour name)
#     --gop SECONDS     keyframe interval, 1..10 (2)
#     --align-gop       keyframes on programme time (k mod GOP == 0), same in every encoder
#     --level L         H.264 level, e.g. 3.0, 3.1 (3.1)
#     --profile P       baseline, main, high (main)
#     --vbitrate R      video bitrate (800k)
#     --abitrate R      audio bitrate (128k)
#     --rate HZ         audio sample rate (48000)
#     --bframes N       B-frames between reference frames (0: none, as live encoders
#                       with zerolatency; 2: reordered video, PTS != DTS, like OBS's default)
#     --duration S      stop after S seconds (a file: encoded as fast as possible)
#     --k0 K            first frame's programme index (default: now; the same K0 for two
#                       files gives the same programme)
# e.g. encoder.sh rtmp://127.0.0.1:1935/live/primary --colour red --level 3.0
#      encoder.sh rtmp://127.0.0.1:1935/live/backup --colour blue --level 3.1 --abitrate 64k
# The programme follows wall-clock time: two encoders started at different moments
# (or one restarted) show the same picture and sound at the same instant. To an
# rtmp:// URL it publishes in real time, each frame at its programme time; the PID is
# the publishing ffmpeg's (the connection).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
url=${1:?usage: encoder.sh URL [--colour NAME] [--gop S] [--level L] ...}
shift
colour=red label="" gop=2 align=0 level=3.1 profile=main vbr=800k abr=128k rate=48000
duration="" k0="" bframes=0
while [ $# -gt 0 ]; do
  case $1 in
  --colour) colour=$2; shift 2 ;;
  --label) label=$2; shift 2 ;;
  --gop) gop=$2; shift 2 ;;
  --align-gop) align=1; shift ;;
  --level) level=$2; shift 2 ;;
  --profile) profile=$2; shift 2 ;;
  --vbitrate) vbr=$2; shift 2 ;;
  --abitrate) abr=$2; shift 2 ;;
  --rate) rate=$2; shift 2 ;;
  --bframes) bframes=$2; shift 2 ;;
  --duration) duration=$2; shift 2 ;;
  --k0) k0=$2; shift 2 ;;
  *) echo "encoder.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case $gop in [1-9] | 10) ;; *) echo "encoder.sh: --gop must be 1..10 s" >&2; exit 2 ;; esac

# The first frame's programme index: the frame that wall-clock time is at now (live,
# the frames already due when ffmpeg has started go out at once).
[ -n "$k0" ] || k0=$(python3 "$here/programme.py" k0)
vf=$(python3 "$here/programme.py" video-filter --k0 "$k0" --colour "$colour" --label "${label:-$colour}")
ae=$(python3 "$here/programme.py" audio-expr --k0 "$k0" --colour "$colour")
frames=$((gop * 25))

live=0
case $url in rtmp://* | rtmps://*) live=1 ;; esac
keys=(-g "$frames" -keyint_min "$frames" -sc_threshold 0)
# Aligned keyframes: forced where k mod GOP == 0, so every encoder with --align-gop
# has its keyframes at the same programme times.
[ "$align" = 1 ] && keys+=(-force_key_frames "expr:eq(mod(n+$k0,$frames),0)")
limit=()
[ -n "$duration" ] && limit=(-t "$duration")

encode() {
  ffmpeg -nostdin -hide_banner -loglevel error \
    -f lavfi -i "color=c=0x1C2A38:s=640x360:r=25,$vf" \
    -f lavfi -i "aevalsrc=exprs='$ae':s=$rate:c=mono" \
    "${limit[@]}" -map 0:v -map 1:a \
    -c:v libx264 -preset ultrafast -tune zerolatency -pix_fmt yuv420p \
    -bf "$bframes" -profile:v "$profile" -level:v "$level" \
    -b:v "$vbr" -maxrate "$vbr" -bufsize "$vbr" "${keys[@]}" \
    -c:a aac -b:a "$abr" -ar "$rate" -ac 2 \
    -f flv "$@"
}
if [ "$live" = 0 ]; then
  encode -y "$url"
  exit
fi
# Live: the encoded stream is released on the programme's wall clock (flvtap.py
# pace: frame k leaves at k x 40 ms since the epoch, whatever ffmpeg's start-up
# took), and published by a second ffmpeg (copy) that this script becomes: its PID is
# the connection (SIGKILL: a crash; SIGSTOP: a stalled line, the backlog follows
# after SIGCONT). The encoder and the pacer end on the broken pipe.
exec ffmpeg -nostdin -hide_banner -loglevel error -f flv -i pipe:0 \
  -map 0 -c copy -f flv "$url" < <(encode -flush_packets 1 pipe:1 | python3 "$here/flvtap.py" pace $((k0 * 40)))

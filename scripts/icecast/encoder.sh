#!/usr/bin/env bash
# A live AAC (ADTS) encoder pushing a music-like test programme to an Icecast mount.
#   scripts/icecast/encoder.sh PORT PASSWORD MOUNT [BITRATE] [GAIN_DB] [RATE]
# e.g. encoder.sh 8000 hackme /station.aac 128k 0 48000
#      encoder.sh 8000 hackme /station_fallback.aac 64k -7 48000
# The programme follows wall-clock time, so two encoders started at
# different moments (or one restarted) play the same notes at the same instant,
# like two encoders fed from the same studio. Execs ffmpeg: the PID is ffmpeg's.
set -euo pipefail
port=${1:?usage: encoder.sh PORT PASSWORD MOUNT [BITRATE] [GAIN_DB] [RATE]}
pass=${2:?password}
mount=${3:?mount}
bitrate=${4:-128k}
gain=${5:-0}
rate=${6:-48000}

# The programme: a 64 s loop rendered once per sample rate into a cache (rendering
# the expression live costs far more CPU than encoding), played from the position
# that wall-clock time dictates.
loop=64
cache=${FAILOVER_PROGRAMME_CACHE:-${TMPDIR:-/tmp}/failover-programme}
mkdir -p "$cache"
wav="$cache/programme-$rate.wav"
if [ ! -s "$wav" ]; then
  T="t"
  # Plucked melody on a pentatonic scale (4 notes per second), a bass line changing
  # every 2 s, a soft chord pad, and a noise "hi-hat" twice a second.
  mel="0.30*exp(-5*mod($T,0.25))*sin(2*PI*$T*220*pow(2,(mod(floor($T*4)*7,5)*2+floor(mod(floor($T*4)*3,5)/2))/12))"
  bass="0.22*sin(2*PI*$T*55*pow(2,mod(floor($T/2)*5,12)/12))"
  pad="0.06*sin(2*PI*$T*330)*(0.6+0.4*sin(2*PI*$T*0.25))"
  hat="0.08*exp(-40*mod($T,0.5))*(2*random(0)-1)"
  left="$mel+$bass+$pad+$hat"
  right="0.9*($mel)+$bass+$pad+0.7*($hat)"
  # Commas separate filters in a filtergraph: escape the ones inside the expressions.
  left=${left//,/\\,}
  right=${right//,/\\,}
  tmp="$wav.$$.wav"
  ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi \
    -i "aevalsrc=exprs=$left|$right:s=$rate:c=stereo:d=$loop" -c:a pcm_s16le "$tmp"
  mv -f "$tmp" "$wav"
fi
# Position in the loop from wall-clock time: two encoders (or a restarted one) play
# the same notes at the same instant, like two encoders fed by the same studio.
off=$(date +%s.%N | awk -v l=$loop '{ printf "%.3f", $1 - l * int($1 / l) }')

# amovie loops inside the filter graph with continuous timestamps (asetpts): ffmpeg's
# -stream_loop with -re bursts at every wrap and breaks the timestamps.
exec ffmpeg -nostdin -hide_banner -loglevel error -re \
  -f lavfi -i "amovie=$wav:loop=0:seek_point=$off,asetpts=N/SR/TB" \
  -af "volume=${gain}dB" -c:a aac -b:a "$bitrate" -ar "$rate" -ac 2 \
  -f adts -content_type audio/aac \
  "icecast://source:$pass@127.0.0.1:$port$mount"

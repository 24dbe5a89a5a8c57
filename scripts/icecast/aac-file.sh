#!/usr/bin/env bash
# Prints the path of a prerecorded ADTS (AAC) file for testkit's aac-sender, made
# once and cached: a music-like loop (a chord of sines moving every second, a
# hi-hat-like noise burst twice a second), stereo, at the given bitrate and gain.
#   scripts/icecast/aac-file.sh BITRATE GAIN_DB [RATE] [SECONDS]
# e.g. aac-file.sh 128k 0      aac-file.sh 64k -7 48000 30
set -euo pipefail
bitrate=${1:?usage: aac-file.sh BITRATE GAIN_DB [RATE] [SECONDS]}
gain=${2:?gain}
rate=${3:-48000}
secs=${4:-30}
cache=${FAILOVER_PROGRAMME_CACHE:-${TMPDIR:-/tmp}/failover-programme}
mkdir -p "$cache"
out="$cache/sender-v1-$rate-$secs-$bitrate-$gain.aac"
(
  flock 9
  if [ ! -s "$out" ]; then
    tmp="$out.$$.aac"
    t="t"
    left="0.2*sin(2*PI*$t*220*pow(2,floor(mod($t,8))/12))+0.12*sin(2*PI*$t*330)+0.08*exp(-30*mod($t,0.5))*(2*random(0)-1)"
    right="0.2*sin(2*PI*$t*277*pow(2,floor(mod($t,8))/12))+0.12*sin(2*PI*$t*110)+0.06*exp(-30*mod($t,0.5))*(2*random(1)-1)"
    ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi \
      -i "aevalsrc=exprs=${left//,/\\,}|${right//,/\\,}:s=$rate:c=stereo:d=$secs" \
      -af "volume=${gain}dB" -c:a aac -b:a "$bitrate" -ar "$rate" -ac 2 -f adts "$tmp"
    mv -f "$tmp" "$out"
  fi
) 9>"$out.lock"
echo "$out"

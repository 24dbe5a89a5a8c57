#!/usr/bin/env bash
# A live AAC (ADTS) encoder pushing a music-like test programme to an Icecast mount.
#   scripts/icecast/encoder.sh PORT PASSWORD MOUNT [BITRATE] [GAIN_DB] [RATE] [DELAY_MS]
# e.g. encoder.sh 8000 hackme /station.aac 128k 0 48000
#      encoder.sh 8000 hackme /station_fallback.aac 64k -7 48000 700
#
# The programme follows wall-clock time: programme time = (Unix time - DELAY_MS)
# modulo the loop length. Two encoders started at different moments, or one
# restarted, play the same audio at the same instant (within ffmpeg's start-up time,
# tens of ms), like two encoders fed from one studio, through every wrap of the
# loop. DELAY_MS (7th argument, or the DELAY_MS environment variable; default 0)
# delays this encoder's programme: "the same programme 700 ms later".
#
# Markers: 125 ms after every whole second s of programme time (between the notes,
# clear of the hi-hat and the note onsets on the second) a 10 ms blip of
# 1 kHz + 1.25 kHz (Hann shaped, both sines starting at phase 0: their phases date
# the blip to microseconds, unambiguously within ±2 ms), followed by the second's
# number within the loop (s mod 256) as 8 bits, least significant first: bit i is a
# 4 ms 2 kHz burst starting 20 + 5*i ms after the blip's start when set.
# scripts/icecast/markers.py reads them back from a recording.
#
# Environment: FAILOVER_PROGRAMME_LOOP (loop length in whole seconds, 2..256,
# default 64; shorten it to test wraps), FAILOVER_PROGRAMME_CACHE (directory of the
# rendered loops). Execs ffmpeg: the PID is ffmpeg's.
set -euo pipefail
usage="usage: encoder.sh PORT PASSWORD MOUNT [BITRATE] [GAIN_DB] [RATE] [DELAY_MS]"
port=${1:?$usage}
pass=${2:?password}
mount=${3:?mount}
bitrate=${4:-128k}
gain=${5:-0}
rate=${6:-48000}
delay_ms=${7:-${DELAY_MS:-0}}
loop=${FAILOVER_PROGRAMME_LOOP:-64}
[[ "$loop" =~ ^[0-9]+$ ]] && [ "$loop" -ge 2 ] && [ "$loop" -le 256 ] || {
  echo "FAILOVER_PROGRAMME_LOOP must be a whole number of seconds, 2..256" >&2
  exit 2
}
[[ "$delay_ms" =~ ^-?[0-9]+$ ]] || {
  echo "DELAY_MS must be a whole number of milliseconds" >&2
  exit 2
}

# The programme: a loop rendered once per sample rate and loop length into a cache
# (rendering the expression live costs far more CPU than encoding).
cache=${FAILOVER_PROGRAMME_CACHE:-${TMPDIR:-/tmp}/failover-programme}
mkdir -p "$cache"
wav="$cache/programme-v5-$rate-$loop.wav"
render() {
  local T="t"
  # Plucked melody on a pentatonic scale (4 notes per second), a bass line changing
  # every 2 s, a soft chord pad, and a noise "hi-hat" twice a second.
  local mel="0.30*exp(-5*mod($T,0.25))*sin(2*PI*$T*220*pow(2,(mod(floor($T*4)*7,5)*2+floor(mod(floor($T*4)*3,5)/2))/12))"
  local bass="0.22*sin(2*PI*$T*55*pow(2,mod(floor($T/2)*5,12)/12))"
  local pad="0.06*sin(2*PI*$T*330)*(0.6+0.4*sin(2*PI*$T*0.25))"
  local hat="0.08*exp(-40*mod($T,0.5))*(2*random(0)-1)"
  # The markers (see above): u is the time since the last marker's start, s its
  # second, k the bit slot and v the time within it. if() is evaluated lazily: the
  # marker terms cost nothing outside their 60 ms.
  local u="mod($T-0.125,1)"
  local s="floor($T-0.125)"
  local k="floor(($u-0.02)/0.005)"
  local v="($u-0.02-0.005*$k)"
  local blip="0.125*(sin(2*PI*1000*$u)+sin(2*PI*1250*$u))*pow(sin(PI*$u/0.01),2)*lt($u,0.01)"
  local bits="0.25*sin(2*PI*2000*$v)*between($u,0.02,0.0599)*lt($v,0.004)*mod(floor($s/pow(2,$k)),2)*pow(sin(PI*$v/0.004),2)"
  local mark="if(lt($u,0.06),$blip+$bits,0)"
  local left="$mel+$bass+$pad+$hat+$mark"
  local right="0.9*($mel)+$bass+$pad+0.7*($hat)+$mark"
  # Commas separate filters in a filtergraph: escape the ones inside the expressions.
  left=${left//,/\\,}
  right=${right//,/\\,}
  local tmp="$wav.$$.wav"
  trap "rm -f '$tmp'" EXIT
  ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi \
    -i "aevalsrc=exprs=$left|$right:s=$rate:c=stereo:d=$loop" -c:a pcm_s16le "$tmp"
  mv -f "$tmp" "$wav"
  trap - EXIT
}
# One encoder renders, another started meanwhile waits for it.
(
  flock 9
  [ -s "$wav" ] || render
) 9>"$wav.lock"

# Where in the loop wall-clock time (minus the delay) is now, in samples.
start=$(date +%s.%N | awk -v l="$loop" -v d="$delay_ms" -v r="$rate" '{
  t = $1 - d / 1000.0
  p = t - l * int(t / l); if (p < 0) p += l
  printf "%d", p * r }')

# amovie loops inside the filter graph; every wrap restarts at the loop's first
# sample (seek_point would make every wrap restart at the start position instead).
# atrim drops the start position's worth of samples once, counted in samples (the
# looped timestamps restart at 0 each wrap), and asetpts makes the timestamps
# continuous. ffmpeg's -stream_loop with -re bursts at every wrap and breaks the
# timestamps.
exec ffmpeg -nostdin -hide_banner -loglevel error -re \
  -f lavfi -i "amovie=$wav:loop=0,atrim=start_sample=$start,asetpts=N/SR/TB" \
  -af "volume=${gain}dB" -c:a aac -b:a "$bitrate" -ar "$rate" -ac 2 \
  -f adts -content_type audio/aac \
  "icecast://source:$pass@127.0.0.1:$port$mount"

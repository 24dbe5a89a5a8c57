#!/usr/bin/env bash
# RTMP inputs of the relay, end to end (run by scripts/e2e.sh, so by `make test`;
# about 80 s): a private nginx-rtmp and Icecast on 127.0.0.1, two A/V encoders of the
# video test programme (H.264 + AAC, scripts/rtmp/encoder.sh) publishing live/primary
# and live/backup, the relay taking the AAC audio of both (its output is an Icecast
# mount; the A/V output and the video switch are another story) and a listener.
#
#    0 s  relay and listener start; only the primary publishes
#   12 s  the backup publishes (a backup that starts after the relay is picked up)
#   20 s  the primary encoder crashes (SIGKILL): nginx ends its stream, rtmp2src sends
#         EOS -> the relay tells the switch at once (eos), reconnects with backoff
#   27 s  the primary encoder is back -> back on the primary after restore-delay
#   38 s  the primary's link drops (encoder SIGSTOP: connection open, no data)
#         -> stall, failover after `timeout`
#   46 s  SIGCONT -> back after restore-delay (and a reconnection)
# Asserts: the switches (health[eos], restored, timeout|health[stall], restored),
# the listener never disconnected, its longest pause below timeout + 0.5 s, no
# CRITICAL or ERROR line in the relay's log but rtmp2src's own for a refused play
# (nginx refuses to play a stream nobody publishes). KEEP=1 keeps the work directory.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/icecast/harness.sh
. scripts/rtmp/harness.sh

TIMEOUT=1
RESTORE=2
REPORT=scripts/icecast/report.py
RTMP_REFUSED='rtmp2src .*Failed to connect: .*StreamNotFound|rtmpconnection .*read error: '

h_build || exit 1
command -v nginx >/dev/null || {
  echo "nginx missing (scripts/install-deps.sh)" >&2
  exit 1
}
h_init e2e-rtmp-input
# The video harness shares the work directory; both clean up what they started.
HV_T0=$H_T0
HV_WORK=$H_WORK/video
HV_PORT=$(free_port)
mkdir -p "$HV_WORK"
trap 'hv_cleanup; h_cleanup' EXIT
echo "== e2e: RTMP inputs (work $H_WORK)"

at() { # at SECONDS: sleep until that many seconds after the relay started
  local left
  left=$(awk -v s="$T0" -v n="$(date +%s.%N)" -v t="$1" 'BEGIN { d = s + t - n; print (d > 0 ? d : 0) }')
  h_sleep "$left"
}

run() {
  hv_nginx || return 1
  h_icecast
  hv_encoder primary primary --colour red --gop 1
  hv_wait_publish primary 30 || return 1
  T0=$(date +%s.%N)
  h_relay --primary "$(hv_url primary)" --secondary "$(hv_url backup)" \
    --setup passthrough --timeout ${TIMEOUT}s --restore-delay ${RESTORE}s
  h_wait_mount /relay.aac || return 1
  h_listener 0
  at 12
  hv_encoder backup backup --colour blue --gop 1
  at 20
  hv_kill primary
  at 27
  hv_encoder primary primary --colour red --gop 1
  at 38
  hv_pause primary
  at 46
  hv_resume primary
  # Back within watchdog + reconnection + restore-delay (nginx may give the first
  # connection after the resume nothing: the watchdog's next one gets data).
  at 58
  h_stop listener
  h_stop relay
  # The second failover: the switch's own timeout and the relay's stall verdict
  # come at the same time; either may decide.
  # rtmp2src logs GStreamer ERROR lines itself when nginx refuses to play a stream
  # that is not published (the backup before 12 s, the primary while it is away):
  # those, and only those, are expected.
  /usr/bin/python3 $REPORT check "$H_WORK" --timeout $TIMEOUT \
    --switches "health,restored,timeout|health,restored" --verdicts "eos|error,*" \
    --allow-error "$RTMP_REFUSED"
}

if run; then
  echo "e2e rtmp input: passed"
else
  echo "e2e rtmp input: FAILED; relay log tail:"
  tail -n 20 "$H_WORK/relay.log" 2>/dev/null | sed 's/^/   | /'
  H_KEEP_WORK=1 HV_KEEP_WORK=1
  echo "   (work directory kept: $H_WORK)"
  exit 1
fi

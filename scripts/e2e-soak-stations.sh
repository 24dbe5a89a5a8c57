#!/usr/bin/env bash
# The short soak inside `make test` (about 90 s): 5 stations for 60 s with random
# encoder kills; the full one is `make soak` (20 stations, 10 minutes). See
# scripts/soak-stations.sh for what it asserts.
exec env STATIONS="${SOAK_STATIONS:-5}" DURATION="${SOAK_DURATION:-60}" \
  bash "$(dirname "$0")/soak-stations.sh"

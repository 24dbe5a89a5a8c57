#!/usr/bin/env bash
# End-to-end: the inaudible failover of scripts/e2e-inaudible.sh in the passthrough
# setup (AAC frames switched as they are): the relay measures the offset from its
# decoded side branches and writes it into the switch (align=manual); the programme
# jump at each switch is at most one AAC frame (21.3 ms). About 70 s.
SETUP=passthrough exec bash "$(dirname "$0")/e2e-inaudible.sh" "$@"

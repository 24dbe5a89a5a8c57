#!/usr/bin/env bash
# CPU cost of the alignment estimator (src/align) per second of audio and station.
#   benches/align-bench.sh [SECONDS] [RATE] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --example align-bench
target/release/examples/align-bench "${1:-120}" "${2:-48000}" "${3:-3}"

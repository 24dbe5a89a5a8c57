#!/usr/bin/env bash
# `make demo`: a live primary and secondary through failoverswitch; the primary goes
# down and comes back. (Replaced by the Icecast relay demo when it is available.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example failover-demo
exec ./target/release/examples/failover-demo "$@"

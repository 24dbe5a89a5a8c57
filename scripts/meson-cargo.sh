#!/usr/bin/env bash
# meson drives cargo through this wrapper (Debian 12's cargo-c is too old for
# edition 2024). Usage: meson-cargo.sh build SRC BUILD OUTPUT | test SRC BUILD
# Only the plugin package of the workspace (the relay and the test tools are built
# by cargo / make). Cargo's target directory is BUILD/cargo-target unless
# CARGO_TARGET_DIR is set (`make install` reuses the workspace's target/).
set -euo pipefail
cmd=$1 src=$2 build=$3
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$build/cargo-target}"
case "$cmd" in
  build)
    cargo build --release --manifest-path "$src/Cargo.toml" -p gst-plugin-failover --lib
    cp "$CARGO_TARGET_DIR/release/libgstfailover.so" "$4"
    ;;
  test)
    cargo test --release --manifest-path "$src/Cargo.toml" -p gst-plugin-failover
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac

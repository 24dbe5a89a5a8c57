#!/usr/bin/env bash
# Runs every end-to-end script (scripts/e2e-*.sh); stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export GST_PLUGIN_PATH=$PWD/target/release
pass=0 fail=0
for t in scripts/e2e-*.sh; do
  echo "== $t"
  if bash "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $t"; fi
done
echo "e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

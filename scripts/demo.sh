#!/usr/bin/env bash
# Builds everything and runs the C demo: an MLP trained on 8x8 digits with SGD and AdamW.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
exec "$root/build/descent_demo" "$root/bindings/c/data/digits.csv"

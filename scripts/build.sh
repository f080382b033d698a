#!/usr/bin/env bash
# Configures and builds everything (libdescent.so, the C demo, the C tests) into build/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh" "$@"
venv="$root/.venv/bin"
"$venv/cmake" -S "$root" -B "$root/build" -G Ninja -DCMAKE_MAKE_PROGRAM="$venv/ninja" >/dev/null
"$venv/cmake" --build "$root/build"

#!/usr/bin/env bash
# Runs the step benchmark (bench/benchmark.py): builds libdescent.so and the Python
# package into .venv (with the test environment, DeepSpeed included), installs matplotlib, then
# prints the table and writes build/bench/benchmark.json and benchmark.png.
# Arguments go to the benchmark (e.g. --threads 2 --rounds 10, --quick).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" --tests
venv="$root/.venv/bin"
pip() { "$venv/python" -m pip --disable-pip-version-check -q "$@"; }
pip install "$root"
if ! "$venv/python" -c "import matplotlib" 2>/dev/null; then
    echo "bench: installing matplotlib into .venv"
    pip install -r "$root/bench/requirements.txt"
fi
# DeepSpeedCPUAdam compiles its C++ op on first use with ninja, which .venv has.
PATH="$venv:$PATH" exec "$venv/python" "$root/bench/benchmark.py" "$@"

#!/usr/bin/env bash
# Runs the step benchmark (bench/benchmark.py): builds libdescent.so and the Python
# package into .venv, installs the benchmark's extras (matplotlib, DeepSpeed), then
# prints the table and writes build/bench/benchmark.json and benchmark.png.
# Arguments go to the benchmark (e.g. --threads 2 --rounds 10, --quick).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" --tests
venv="$root/.venv/bin"
pip() { "$venv/python" -m pip --disable-pip-version-check -q "$@"; }
pip install "$root"
if ! "$venv/python" -c "import matplotlib, deepspeed" 2>/dev/null; then
    echo "bench: installing matplotlib and DeepSpeed into .venv"
    # DeepSpeed builds against the torch already in .venv (no second torch download).
    pip install --no-build-isolation -r "$root/bench/requirements.txt"
fi
# DeepSpeedCPUAdam compiles its C++ op on first use with ninja, which .venv has.
PATH="$venv:$PATH" exec "$venv/python" "$root/bench/benchmark.py" "$@"

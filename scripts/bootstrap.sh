#!/usr/bin/env bash
# Creates (or tops up) the project's virtual environment in .venv with what the build
# and the tests need: cmake, ninja and oneDNN from PyPI (no root needed), and with `--tests`
# also torch, numpy and pytest for the parity tests, and the training stacks the Python
# tests run descent.torch in (Lightning, transformers' Trainer, DeepSpeed). Idempotent: a
# second run with everything in place only checks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
want_tests=0
[ "${1:-}" = "--tests" ] && want_tests=1

command -v swift >/dev/null || { echo "bootstrap: swift is not on PATH (Swift 6 toolchain needed)" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
    echo "bootstrap: creating $venv"
    python3 -m venv "$venv"
fi
pip() { "$venv/bin/python" -m pip --disable-pip-version-check -q "$@"; }

if [ ! -x "$venv/bin/cmake" ] || [ ! -x "$venv/bin/ninja" ]; then
    echo "bootstrap: installing cmake and ninja into .venv"
    pip install -r "$root/scripts/requirements-build.txt"
fi
if ! "$venv/bin/python" "$root/scripts/onednn_path.py" >/dev/null 2>&1; then
    echo "bootstrap: installing oneDNN (Muon's matrix products) into .venv"
    pip install "$("$venv/bin/python" "$root/scripts/onednn_requirement.py")"
fi
if [ "$want_tests" = 1 ] && ! "$venv/bin/python" -c "import torch, numpy, pytest, expecttest, bitsandbytes" 2>/dev/null; then
    echo "bootstrap: installing torch, numpy, pytest, expecttest and bitsandbytes into .venv (a few minutes the first time)"
    pip install -r "$root/Tests/parity/requirements.txt"
fi
if [ "$want_tests" = 1 ] && ! "$venv/bin/python" -c "import pytorch_lightning, transformers, accelerate, deepspeed" 2>/dev/null; then
    echo "bootstrap: installing Lightning, transformers, accelerate and DeepSpeed into .venv (the stacks tested)"
    pip install --no-build-isolation -r "$root/Tests/python/requirements.txt"
fi

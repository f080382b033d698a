#!/usr/bin/env bash
# Runs every test suite: the Swift engine tests, the C tests (ctest: ABI tables and
# checkpoints plain and under ASan+UBSan, the leak check, the concurrency test also under
# TSan, the fuzz corpus replayed, the C++ header check, the demo, the self-contained
# check), the concurrency tests against a library whose Swift code TSan instruments, 40 s
# of fuzzing per libFuzzer harness, the torch parity tests of the C ABI, and the Python
# package's tests (pip-installed into .venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" --tests
venv="$root/.venv/bin"

echo "== Swift engine tests"
(cd "$root" && swift test)

echo "== C tests (ctest)"
"$venv/ctest" --test-dir "$root/build" --output-on-failure

echo "== the concurrency tests against a ThreadSanitizer-instrumented library (scripts/tsan.sh)"
"$root/scripts/tsan.sh"

echo "== fuzzing: a short bounded run of each libFuzzer harness (scripts/fuzz.sh)"
"$root/scripts/fuzz.sh" 40

echo "== torch parity tests of the C ABI (pytest)"
DESCENT_LIB="$root/build/libdescent.so" "$venv/python" -m pytest -q "$root/Tests/parity"

echo "== Python package: pip install, then its tests (pytest)"
"$venv/python" -m pip install --disable-pip-version-check -q "$root"
(cd "$root/Tests/python" && "$venv/python" -m pytest -q .)

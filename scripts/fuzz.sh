#!/usr/bin/env bash
# Fuzzes the C ABI with libFuzzer. Builds libdescent.so with coverage and ASan
# (SwiftPM, -sanitize=fuzzer,address) and the harnesses of Tests/fuzz with the Swift
# toolchain's clang (-fsanitize=fuzzer,address,undefined), then runs each harness for
# SECONDS over a working copy of its corpus, Tests/fuzz/corpus/<harness>.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]     default: 40 seconds, harnesses abi and checkpoint
#
# The tests (scripts/test.sh) run it for 40 s per harness; run it longer on demand, e.g.
# scripts/fuzz.sh 3600. A crash stops the run and leaves its input in build/fuzz/crashes/:
# fix the bug, then add the input to Tests/fuzz/corpus/<harness>/ (the tests replay that
# corpus, plain and under ASan+UBSan). New coverage stays in build/fuzz/corpus/; merge it
# into the corpus with: build/fuzz/fuzz_<harness> -merge=1 Tests/fuzz/corpus/<harness> build/fuzz/corpus/<harness>
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-40}
shift || true
harnesses=${*:-abi checkpoint}
out="$root/build/fuzz"
clang="$(dirname "$(readlink -f "$(command -v swift)")")/clang"

echo "== libdescent.so with coverage and ASan (build/fuzz/swiftpm)"
(cd "$root" && env -u CC -u CXX -u CFLAGS swift build -c release --product descent \
    --scratch-path "$out/swiftpm" -Xswiftc -sanitize=fuzzer,address)
lib="$out/swiftpm/release"
mkdir -p "$out/crashes"
for harness in $harnesses; do
    echo "== fuzz_$harness for $seconds s"
    "$clang" -fuse-ld=lld -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1 \
        -I "$root/include" -I "$root/Tests/fuzz" "$root/Tests/fuzz/fuzz_$harness.c" \
        -L "$lib" -ldescent -Wl,-rpath,"$lib" -o "$out/fuzz_$harness"
    mkdir -p "$out/corpus/$harness"
    cp -n "$root/Tests/fuzz/corpus/$harness/"* "$out/corpus/$harness/"
    ASAN_OPTIONS=detect_leaks=1 "$out/fuzz_$harness" -max_total_time="$seconds" -rss_limit_mb=4096 \
        -artifact_prefix="$out/crashes/$harness-" -print_final_stats=1 "$out/corpus/$harness" 2>&1 |
        grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)|# Uses: [0-9]+$|recommended dictionary' | tail -n 25
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz_$harness found a crash: see build/fuzz/crashes/"; exit 1; }
done

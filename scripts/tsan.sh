#!/usr/bin/env bash
# Runs the concurrency tests against a libdescent.so whose Swift code is instrumented by
# ThreadSanitizer (SwiftPM, -sanitize=thread), so that races inside the engine and the
# ABI layer are found, not only those in the C callers (ctest's threads_tsan links the
# plain library). The tests are built with the Swift toolchain's clang, whose TSan
# runtime the library's instrumentation calls into; that runtime intercepts libdispatch,
# so the toolchain's libdispatch is linked too.
#
#   scripts/tsan.sh        builds build/tsan/, runs test_threads and test_hardening's threaded tests
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build/tsan"
toolchain="$(dirname "$(readlink -f "$(command -v swift)")")"
runtime="$toolchain/../lib/swift/linux"

echo "== libdescent.so with ThreadSanitizer (build/tsan/swiftpm)"
(cd "$root" && env -u CC -u CXX -u CFLAGS swift build -c release --product descent \
    --scratch-path "$out/swiftpm" -Xswiftc -sanitize=thread)
lib="$out/swiftpm/release"
for suite in threads hardening; do
    "$toolchain/clang" -fsanitize=thread -g -O1 -std=c99 -Wall -Wextra -Werror -I "$root/include" \
        "$root/Tests/c/test_$suite.c" -L "$lib" -ldescent -Wl,-rpath,"$lib" \
        -L "$runtime" -ldispatch -lBlocksRuntime -Wl,-rpath,"$runtime" -lm -lpthread -o "$out/test_$suite"
done
echo "== test_threads under ThreadSanitizer, library included"
export TSAN_OPTIONS="halt_on_error=1 suppressions=$root/Tests/c/tsan-swift.supp"
"$out/test_threads"
echo "== test_hardening's threaded tests under ThreadSanitizer, library included"
"$out/test_hardening" callbacks messages

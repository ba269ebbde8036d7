#!/usr/bin/env bash
# Builds etch with -Werror and AddressSanitizer/UBSan into build-test/ and runs
# the whole suite (unit, golden, differential and end-to-end tests), which
# ends with Criterion's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DETCH_WERROR=ON -DETCH_SANITIZE=ON >/dev/null
cmake --build build-test -j"$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
exec build-test/etch_tests --jobs "$(nproc)" "$@"

#!/usr/bin/env bash
# compare.sh: etch (C backend) vs ONNX Runtime on the real models, as a table.
#
#   tests/onnx/compare.sh [BUILD_DIR]     (default: build)
#
# Builds etch and etch_tests in BUILD_DIR, then runs the `models` suite of
# tests/unit/test_models.c one test at a time; each test prints one table row
# (model, inputs, max abs error, error relative to the output scale
# max(1, max|ort|), the LLVM backend's error relative to the C backend's
# output, pass/fail). Inputs are seeded random data: set ETCH_SEED
# to repeat a run. ONNX Runtime comes from bench/node_modules
# (cd bench && npm ci --ignore-scripts); without it the rows say "no ORT"
# and the suite warns. Exit status: the suite's.
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
cmake -S . -B "$build" >/dev/null && cmake --build "$build" -j"$(nproc)" >/dev/null || exit 1
echo "| model                  | inputs                       | max abs err | rel err   | LLVM vs C | result |"
echo "| ---------------------- | ---------------------------- | --------- | --------- | --------- | ------ |"
out=$("$build"/etch_tests --filter 'models/*' --jobs 1 2>&1)
status=$?
grep '^| ' <<<"$out"
grep -v '^| ' <<<"$out" | grep -E 'WARN|FAIL|Synthesis' >&2
exit $status

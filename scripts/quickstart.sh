#!/usr/bin/env bash
# Quick start: install dependencies, build etch into build/, compile the
# digits MLP example to C, build and run it with the system C compiler, and
# print its prediction next to the reference interpreter's.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DETCH_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"

model=examples/digits_mlp/digits_mlp.etch
input=examples/digits_mlp/inputs/digit_0.npy
out=build/quickstart
mkdir -p "$out"
echo
echo "== etch compile $model -o $out"
build/etch compile "$model" -o "$out"
ls -l "$out"
echo
echo "== C backend (compiled with ${CC:-cc}, run on $input)"
build/etch run "$model" --input "x=$input" --backend c --output-dir "$out/c" --stats
echo
echo "== reference interpreter (same input)"
build/etch run "$model" --input "x=$input" --backend interp --output-dir "$out/interp"
echo
echo "expected label: $(grep "^$(basename "$input") " examples/digits_mlp/expected/labels.txt | cut -d' ' -f2)"

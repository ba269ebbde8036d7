#!/bin/sh
# run.sh: the host benchmark, etch vs ONNX Runtime (see bench.mjs for what is
# measured). Builds etch into build/ unless ETCH is set, installs the bench's
# npm dependencies if missing, then runs bench.mjs with the arguments given.
#   bench/host/run.sh [--reps 5] [--runs N] [--only ic,vww_96_float]
# CC (a command line, e.g. "cc -march=native") is the compiler `etch run`
# builds the generated C with.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${ETCH:-}" ]; then
    cmake -S "$root" -B "$root/build" >/dev/null
    cmake --build "$root/build" -j"$(nproc)" >/dev/null
    ETCH="$root/build/etch"
fi
[ -d "$root/bench/node_modules/onnxruntime-node" ] || (cd "$root/bench" && npm ci)
exec node "$root/bench/host/bench.mjs" --etch "$ETCH" "$@"

#!/bin/bash
# Resize micro-benchmark: prepix's ppx_op_resize against Pillow's
# Image.resize and libvips' `vips resize`, on photos of the shared corpus.
#
#   bench/resize/run.sh [RUNS]      (from the repository root; RUNS >= 5, default 7)
#
# Builds the release preset's library, compiles bench_resize.c against it,
# and prints a markdown table (docs/benchmarks.md keeps the figures).
# Needs /usr/bin/python3 with PIL and numpy, and libvips-tools (`vips`).
set -euo pipefail
runs=${1:-7}
root=$(cd "$(dirname "$0")/../.." && pwd)
corpus=${PPX_CORPUS_DIR:-$root/../shared/corpus}
cd "$root"
cmake --preset release >/dev/null
cmake --build build/release -j2 --target ppx >/dev/null
cc=${CC:-gcc}
$cc -O2 -std=gnu11 -Wall -Wextra -Iinclude bench/resize/bench_resize.c build/release/libppx.a -lm \
    -o build/release/bench_resize
exec /usr/bin/python3 bench/resize/compare.py --runs "$runs" --corpus "$corpus" \
    --bench build/release/bench_resize

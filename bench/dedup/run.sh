#!/bin/bash
# Grouping benchmark (issue 24): ppx_dups_find on 10^6 and 10^7 synthetic fingerprints at the
# default distance, RUNS times each (default 3), printing time and peak RSS of each run.
#
#   bench/dedup/run.sh [RUNS] [DISTANCE]     (from the repository root)
set -euo pipefail
runs=${1:-3}
dist=${2:-4}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cmake --preset release >/dev/null
cmake --build build/release -j2 --target ppx >/dev/null
${CC:-gcc} -O2 -std=gnu11 -Wall -Wextra -Iinclude bench/dedup/bench_dedup.c build/release/libppx.a \
    -lcrypto -lm -o build/release/bench_dedup
for n in 1000000 10000000; do
    for _ in $(seq "$runs"); do
        build/release/bench_dedup "$n" "$dist"
    done
done

#!/bin/bash
# COCO mapping benchmark (issue 23): reading, ppx_coco_parse and ppx_coco_write_to (into a file)
# on 10^5 and 10^6 synthetic COCO annotations, RUNS times each (default 3), with one thread and
# with as many as this machine's CPUs (what a run uses, up to 16): the cost of --coco at rank 0.
# The files are made once (in $TMPDIR, default /tmp) and read back by each run, as a run reads
# --coco; the first run of each may read from disk, the others from the page cache.
#
#   bench/coco/run.sh [RUNS]     (from the repository root)
set -euo pipefail
runs=${1:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cmake --preset release >/dev/null
cmake --build build/release -j2 --target ppx >/dev/null
${CC:-gcc} -O2 -std=gnu11 -Wall -Wextra -Iinclude bench/coco/bench_coco.c build/release/libppx.a \
    -lcrypto -lm -lpthread -o build/release/bench_coco
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_coco.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cpus=$(nproc)
for n in 100000 1000000; do
    build/release/bench_coco make "$n" "$tmp/coco.json"
    for threads in 1 $((cpus < 16 ? cpus : 16)); do
        for _ in $(seq "$runs"); do
            build/release/bench_coco run "$tmp/coco.json" "$threads"
        done
    done
done

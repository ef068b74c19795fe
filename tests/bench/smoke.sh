#!/usr/bin/env bash
# bench.run_all.smoke: bench/run-all end to end with the prepix under test.
set -euo pipefail
if [ ! -d "${PPX_CORPUS_DIR:-}/jpeg" ]; then
    echo "skipped: corpus not found (PPX_CORPUS_DIR=${PPX_CORPUS_DIR:-})"
    exit 77
fi
work="$PPX_BUILD_DIR/bench-smoke"
rm -rf "$work"
PPX_PREPIX="$PPX_PREPIX" PPX_BENCH_DIR="$work" \
    "$PPX_SOURCE_DIR/bench/run-all" --quick --runs 1 --only thumb224,big1024 --peers none \
    --no-doc --check
# The generated doc blocks must name both tools with a figure.
grep -q '^| prepix | [0-9.]* |' "$work/results.md"
grep -q '^| floor | [0-9.]* |' "$work/results.md"
rm -rf "$work"

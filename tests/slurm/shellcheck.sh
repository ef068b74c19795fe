#!/usr/bin/env bash
# jobs/*.sbatch are copied and edited by users: keep them, and our cluster, demo and test
# scripts, clean under shellcheck, warnings included.
set -euo pipefail
src=${PPX_SOURCE_DIR:?run through ctest}
if ! command -v shellcheck >/dev/null 2>&1; then
    echo "SKIP: shellcheck not installed (apt-get install shellcheck, or cluster/install-deps)"
    exit 77
fi
cd "$src"
files=(jobs/*.sbatch cluster/install-deps cluster/lib.sh cluster/local-slurm/up
       cluster/local-slurm/down cluster/netns/up cluster/netns/down cluster/netns/exec
       cluster/netns/ssh tests/slurm/*.sh scripts/demo tests/scripts/*.sh)
shellcheck -x "${files[@]}"
echo "shellcheck clean: ${#files[@]} files"

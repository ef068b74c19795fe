#!/usr/bin/env bash
# Fixture cleanup: stop the tests' one-host Slurm and check that none of its daemons is left.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ppx_need_root
pids=()
for f in "$PPX_SLURM_DIR"/slurmctld.pid "$PPX_SLURM_DIR"/slurmd-*.pid "$PPX_SLURM_DIR"/munge/munged.pid; do
    [ -s "$f" ] && pids+=("$(cat "$f")")
done
"$src/cluster/local-slurm/down"
for p in "${pids[@]}"; do
    ! ppx_running "$p" || ppxt_fail "pid $p ($(cat "/proc/$p/comm" 2>/dev/null)) still running after down"
done
echo "local Slurm stopped: ${#pids[@]} daemons gone"

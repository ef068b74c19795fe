#!/usr/bin/env bash
# Fixture cleanup: tear the netns cluster down and check that nothing is left: no namespace of
# ours, no process that ran in its hosts (their tmpfs mounts die with them), no daemon.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ppx_need_root
dir=$PPX_NETNS_DIR
pids=()
for f in "$dir"/h*.pid "$dir"/slurm/*.pid "$dir"/slurm/munge/munged.pid; do
    [ -s "$f" ] && pids+=("$(cat "$f")")
done
namespaces=()
[ -s "$dir/namespaces" ] && mapfile -t namespaces <"$dir/namespaces"
"$src/cluster/netns/down"
for p in "${pids[@]}"; do
    ! ppx_running "$p" || ppxt_fail "pid $p ($(cat "/proc/$p/comm" 2>/dev/null)) still running after down"
done
for ns in "${namespaces[@]}"; do
    [ ! -e "/run/netns/$ns" ] || ppxt_fail "namespace $ns left after down"
done
echo "netns cluster gone: ${#namespaces[@]} namespaces, ${#pids[@]} processes"

#!/usr/bin/env bash
# The netns cluster is what the transport tests assume: three hosts with their own names and
# private /tmp, mpirun across them through the ssh stand-in, and a 3-node Slurm whose batch job
# runs mpirun across the three hosts.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ppx_need_root
ppx_need_cmds mpicc
ppxt_need_netns
x=$src/cluster/netns/exec
mkdir -p "$PPX_NETNS_DIR/shared"
ppxt_tmpdir "$PPX_NETNS_DIR/shared"

for h in h1 h2 h3; do
    [ "$("$x" "$h" hostname)" = "$h" ] || ppxt_fail "$h has hostname $("$x" "$h" hostname)"
done
mark=/tmp/$(basename "$t").private
"$x" h1 touch "$mark"
"$x" h1 test -e "$mark" || ppxt_fail "h1 cannot see its own /tmp"
"$x" h2 test ! -e "$mark" || ppxt_fail "h2 sees h1's /tmp"
[ ! -e "$mark" ] || ppxt_fail "the machine sees h1's /tmp"
"$x" h1 rm -f "$mark"

mpicc -o "$t/mpi_hello" "$src/cluster/tools/mpi_hello.c"
"$x" h1 mpirun --hostfile "$PPX_NETNS_DIR/hostfile" --map-by node -np 3 "$t/mpi_hello" >"$t/mpirun.out"
for r in 1 2 3; do
    grep -qx "rank $((r - 1)) of 3 on h$r" "$t/mpirun.out" ||
        ppxt_fail "mpirun: no rank $((r - 1)) on h$r in: $(cat "$t/mpirun.out")"
done

printf '#!/bin/bash\nmpirun %q\n' "$t/mpi_hello" >"$t/job.sh"
ppxt_via=("$x" h1) # Slurm's client commands reach slurmctld only from inside the hosts.
ppxt_submit -N3 --ntasks-per-node=1 --output="$t/job.out" "$t/job.sh"
ppxt_wait_job "$job" 60
ppxt_expect_completed "$job"
[ "$(sort "$t/job.out" | cut -d' ' -f6 | tr '\n' ' ')" = "h1 h2 h3 " ] ||
    ppxt_fail "sbatch -N3 + mpirun: $(cat "$t/job.out")"
echo "netns: 3 hosts, private /tmp, mpirun and a 3-node Slurm job across them"

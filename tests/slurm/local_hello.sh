#!/usr/bin/env bash
# The tests' one-host Slurm runs what prepix needs: srun, sbatch, and MPI programs launched by
# srun --mpi=pmix and by mpirun inside a batch job (tests/slurm/../../cluster/tools/mpi_hello.c).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ppx_need_root
ppx_need_cmds mpicc srun sbatch
ppxt_need_local_slurm
ppxt_tmpdir /tmp

[ "$(srun -N1 -n1 hostname -s)" = "$(hostname -s)" ] || ppxt_fail "srun hostname"
mpicc -o "$t/mpi_hello" "$src/cluster/tools/mpi_hello.c"
cat >"$t/hello.sh" <<EOS
#!/bin/bash
srun --mpi=pmix -n 2 "$t/mpi_hello" | sort | sed 's/^/srun: /'
mpirun -np 2 "$t/mpi_hello" | sort | sed 's/^/mpirun: /'
EOS
ppxt_submit --ntasks=2 --output="$t/hello.out" "$t/hello.sh"
ppxt_wait_job "$job" 60
ppxt_expect_completed "$job"
host=$(hostname -s)
for l in srun mpirun; do
    for r in 0 1; do
        grep -qx "$l: rank $r of 2 on $host" "$t/hello.out" ||
            ppxt_fail "no '$l: rank $r of 2 on $host' in $(cat "$t/hello.out")"
    done
done
echo "srun, sbatch, srun --mpi=pmix and mpirun work on the local Slurm"

#!/usr/bin/env bash
# jobs/many-nodes.sbatch on the local Slurm with both launchers (srun --mpi=pmix, mpirun), two
# ranks on the one node: outputs and report equal those of a plain one-rank run.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ppx_need_root
ppxt_need_prepix_run
ppxt_need_local_slurm
ppxt_tmpdir /tmp
ppxt_dataset "$t/in" 20
spec='autorotate | resize 64 | center-crop 56'

"$prepix" run -i "$t/in" -o "$t/ref" -p "$spec" -w 1 --progress none ||
    ppxt_fail "reference run failed ($?)"
declare -A ids
for launcher in srun mpirun; do
    # The local cluster has one node: two tasks on it stand for two nodes.
    PREPIX=$prepix INPUT=$t/in OUTDIR=$t/out-$launcher PIPELINE=$spec LAUNCHER=$launcher \
        ppxt_submit --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 \
        --output="$t/$launcher.out" "$src/jobs/many-nodes.sbatch"
    ids[$launcher]=$job
done
for launcher in srun mpirun; do
    ppxt_wait_job "${ids[$launcher]}" 180
    ppxt_expect_completed "${ids[$launcher]}"
    ppxt_same_outputs "$t/out-$launcher" "$t/ref"
    [ "$(ppxt_report "$t/out-$launcher" ranks)" = 2 ] || ppxt_fail "$launcher: report ranks != 2"
done
echo "many-nodes.sbatch: srun --mpi=pmix and mpirun, 2 ranks, outputs identical to one rank"

#!/usr/bin/env bash
# jobs/one-node.sbatch on the local Slurm, unedited (paths from the environment): the outputs and
# report equal those of a plain 'prepix run' of the same dataset.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ppx_need_root
ppxt_need_prepix_run
ppxt_need_local_slurm
ppxt_tmpdir /tmp
ppxt_dataset "$t/in" 20
spec='autorotate | resize 64 | center-crop 56'

"$prepix" run -i "$t/in" -o "$t/ref" -p "$spec" -w 2 --progress none ||
    ppxt_fail "reference run failed ($?)"
PREPIX=$prepix INPUT=$t/in OUTDIR=$t/out PIPELINE=$spec \
    ppxt_submit --cpus-per-task=2 --output="$t/job.out" "$src/jobs/one-node.sbatch"
ppxt_wait_job "$job" 120
ppxt_expect_completed "$job"
ppxt_same_outputs "$t/out" "$t/ref"
[ "$(ppxt_report "$t/out" images.ok)" = 20 ] || ppxt_fail "report: images.ok != 20"
[ "$(ppxt_report "$t/out" workers.0)" = 2 ] || ppxt_fail "report: workers[0] != 2 (--cpus-per-task)"
echo "one-node.sbatch: 20 images, outputs identical to a plain run"

#!/usr/bin/env bash
# jobs/resumable.sbatch stopped early as a time limit would (USR1 to the batch shell, what
# --signal=B:USR1@120 sends) once its first outputs exist: prepix exits 4, the job requeues
# itself, the next start resumes, and the end result equals an uninterrupted run.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ppx_need_root
ppxt_need_prepix_run
ppxt_need_local_slurm
ppxt_tmpdir /tmp
# Enough images, one worker and small chunks, so that the run is still going when the signal
# comes; the test fails (does not pass silently) if the job finished first.
ppxt_dataset "$t/in" "${PPXT_RESUME_IMAGES:-150}" "${PPXT_RESUME_COPIES:-2}"
spec='autorotate | resize 160 | center-crop 128'

"$prepix" run -i "$t/in" -o "$t/ref" -p "$spec" -w 1 --chunk-size 4 --progress none ||
    ppxt_fail "reference run failed ($?)"
PREPIX=$prepix INPUT=$t/in OUTDIR=$t/out PIPELINE=$spec PREPIX_ARGS='--chunk-size 4' \
    ppxt_submit --cpus-per-task=1 --output="$t/job.out" "$src/jobs/resumable.sbatch"

first_output() {
    find "$t/out" -type f -name '*.jp*g' 2>/dev/null | grep -q .
}
ppx_wait_for 120 "the job's first output" first_output || ppxt_fail "no output after 120 s"
scancel --signal=USR1 --batch "$job"
ppxt_wait_job "$job" 240
ppxt_expect_completed "$job"

grep -q 'prepix exited with 4' "$t/job.out" ||
    ppxt_fail "prepix did not stop early (exit 4): the job finished before the signal; raise PPXT_RESUME_COPIES"
grep -q "requeueing job $job" "$t/job.out" || ppxt_fail "the job did not requeue itself"
restarts=$(scontrol -o show job "$job" | grep -o 'Restarts=[0-9]*' | cut -d= -f2)
[ "$restarts" -ge 1 ] || ppxt_fail "Restarts=$restarts, expected a requeue"
[ "$(grep -c '^prepix resumable job' "$t/job.out")" -ge 2 ] ||
    ppxt_fail "the log (--open-mode=append) does not hold both starts"
ppxt_same_outputs "$t/out" "$t/ref"
resumed=$(ppxt_report "$t/out" resumed.images)
[ "$resumed" -gt 0 ] || ppxt_fail "report: resumed.images=$resumed, the second start redid everything"
echo "resumable.sbatch: stopped, requeued $restarts time(s), resumed $resumed images, outputs equal"

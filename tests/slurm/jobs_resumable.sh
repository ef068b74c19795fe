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
ppxt_dataset "$t/in" "${PPXT_RESUME_IMAGES:-150}" "${PPXT_RESUME_COPIES:-2}"
spec='autorotate | resize 160 | center-crop 128'

"$prepix" run -i "$t/in" -o "$t/ref" -p "$spec" -w 1 --chunk-size 4 --progress none ||
    ppxt_fail "reference run failed ($?)"
# The first start is held on the last image (the test fault "hang", which prints "hanging on"),
# so that the run is still going when the signal comes: the whole run takes half a second, and
# waiting for its first output before signalling lost the race now and then. Later starts run
# plainly. The wrapper, not the job script, knows which start it is.
last=$(cd "$t/in" && find . -type f | LC_ALL=C sort | tail -n 1)
last=${last#./}
cat >"$t/prepix-held-once" <<END
#!/bin/sh
if mkdir "$t/first-start" 2>/dev/null; then
    PPX_TEST_FAULT="hang:$last" exec "$prepix" "\$@"
fi
exec "$prepix" "\$@"
END
chmod +x "$t/prepix-held-once"
PREPIX=$t/prepix-held-once INPUT=$t/in OUTDIR=$t/out PIPELINE=$spec PREPIX_ARGS='--chunk-size 4' \
    ppxt_submit --cpus-per-task=1 --output="$t/job.out" "$src/jobs/resumable.sbatch"

ppx_wait_for 120 "the first start to hang on $last" grep -q "hanging on" "$t/job.out" ||
    ppxt_fail "no worker held after 120 s (a build without test hooks?)"
scancel --signal=USR1 --batch "$job"
ppxt_wait_job "$job" 240
ppxt_expect_completed "$job"

grep -q 'prepix exited with 4' "$t/job.out" ||
    ppxt_fail "prepix did not stop early (exit 4): the job finished before the signal"
grep -q "requeueing job $job" "$t/job.out" || ppxt_fail "the job did not requeue itself"
restarts=$(scontrol -o show job "$job" | grep -o 'Restarts=[0-9]*' | cut -d= -f2)
[ "$restarts" -ge 1 ] || ppxt_fail "Restarts=$restarts, expected a requeue"
[ "$(grep -c '^prepix resumable job' "$t/job.out")" -ge 2 ] ||
    ppxt_fail "the log (--open-mode=append) does not hold both starts"
ppxt_same_outputs "$t/out" "$t/ref"
resumed=$(ppxt_report "$t/out" resumed.images)
[ "$resumed" -gt 0 ] || ppxt_fail "report: resumed.images=$resumed, the second start redid everything"
echo "resumable.sbatch: stopped, requeued $restarts time(s), resumed $resumed images, outputs equal"

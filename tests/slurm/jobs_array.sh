#!/usr/bin/env bash
# jobs/array.sbatch: two datasets as a two-task array; each output folder equals a plain run of
# its dataset.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ppx_need_root
ppxt_need_prepix_run
ppxt_need_local_slurm
ppxt_tmpdir /tmp
ppxt_dataset "$t/all" 20
mkdir -p "$t/sets/first" "$t/sets/second"
mapfile -t files < <(find "$t/all" -type f | LC_ALL=C sort)
mv "${files[@]:0:10}" "$t/sets/first/"
mv "${files[@]:10}" "$t/sets/second/"
printf '%s\n' sets/first "$t/sets/second" >"$t/list.txt" # relative and absolute lines
spec='resize 48'

for s in first second; do
    "$prepix" run -i "$t/sets/$s" -o "$t/ref/$s" -p "$spec" -w 1 --progress none ||
        ppxt_fail "reference run of $s failed"
done
PREPIX=$prepix LIST=$t/list.txt OUTROOT=$t/out PIPELINE=$spec \
    ppxt_submit --array=0-1 --cpus-per-task=1 --output="$t/array-%a.out" "$src/jobs/array.sbatch"
ppxt_wait_job "$job" 120
ppxt_expect_completed "$job"
for s in first second; do
    ppxt_same_outputs "$t/out/$s" "$t/ref/$s"
    [ "$(ppxt_report "$t/out/$s" images.ok)" = 10 ] || ppxt_fail "$s: images.ok != 10"
done
echo "array.sbatch: 2 tasks, each output equal to a plain run"

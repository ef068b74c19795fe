# shellcheck shell=bash
# Shared by the slurm-labelled tests. Sourced, never run. Each test sources this, then calls the
# ppxt_need_* it needs; cleanup (cancel our jobs, remove our folders) runs from an EXIT trap, so
# it happens also when a check fails half-way.
set -euo pipefail

src=${PPX_SOURCE_DIR:?run through ctest}
prepix=${PPX_PREPIX:?run through ctest}
py=${PYTHON:-/usr/bin/python3}
report_py=$src/tests/slurm/report.py
# ppx_need_root ("SKIP: ... needs root", exit 77), ppx_need_cmds, ppx_wait_for, ppx_running: the
# same checks the cluster scripts make.
# shellcheck source-path=SCRIPTDIR source=../../cluster/lib.sh
. "$src/cluster/lib.sh"

# The tests' clusters are their own: state folders, ports, namespace names and subnet differ from
# the defaults of cluster/*, so a developer's own local Slurm or netns cluster is left alone.
export PPX_SLURM_DIR=${PPX_SLURM_TEST_DIR:-/tmp/prepix-slurm-ctest}
export PPX_SLURMCTLD_PORT=${PPX_SLURM_TEST_CTLD_PORT:-16817}
export PPX_SLURMD_PORT=${PPX_SLURM_TEST_SLURMD_PORT:-16818}
export PPX_NETNS_DIR=${PPX_NETNS_TEST_DIR:-/var/tmp/prepix-netns-ctest}
export PPX_NETNS_PREFIX=ppxt
export PPX_NETNS_SUBNET=10.78.0
# Tests run as root in CI; Open MPI refuses root without these. Tests only, never the program.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

ppxt_jobs=()
ppxt_dirs=()
# Commands a test adds to run first at exit (e.g. killing processes it left stopped).
ppxt_exit_hooks=()
# Prefix for Slurm's client commands: empty for the local Slurm; the netns cluster's slurmctld is
# reachable only from its hosts, so tests of it set ppxt_via=(cluster/netns/exec h1).
ppxt_via=()
ppxt_cleanup() {
    local rc=$? j d h
    for h in "${ppxt_exit_hooks[@]}"; do
        "$h" || true
    done
    for j in "${ppxt_jobs[@]}"; do
        "${ppxt_via[@]}" scancel "$j" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        # Job logs tell why a job failed; print them before their folder goes.
        for d in "${ppxt_dirs[@]}"; do
            for f in "$d"/*.out; do
                [ -e "$f" ] && { echo "---- $f"; tail -n 40 "$f"; }
            done
        done
    fi
    if [ "${PPX_KEEP_TMP:-0}" != 1 ]; then
        for d in "${ppxt_dirs[@]}"; do rm -rf "$d"; done
    fi
    return "$rc"
}
trap ppxt_cleanup EXIT

ppxt_fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# The jobs drive 'prepix run' (DESIGN.md section 3). Until the binary has it, say so and skip.
ppxt_need_prepix_run() {
    # The help is read whole first: with pipefail, grep -q leaving early would make prepix
    # die of SIGPIPE on a help longer than one pipe write (4 KiB) and the test skip itself.
    local help
    help=$("$prepix" --help 2>&1) || true
    if ! grep -qw run <<<"$help"; then
        echo "SKIP: $prepix has no 'run' command yet ('prepix --help' does not list it)"
        exit 77
    fi
}

ppxt_need_local_slurm() {
    export SLURM_CONF=$PPX_SLURM_DIR/slurm.conf
    scontrol ping >/dev/null 2>&1 ||
        ppxt_fail "local Slurm in $PPX_SLURM_DIR is not up (fixture test slurm.local.up)"
}

ppxt_need_netns() {
    [ -e "$PPX_NETNS_DIR/up.done" ] ||
        ppxt_fail "netns cluster in $PPX_NETNS_DIR is not up (fixture test slurm.netns.up)"
    # shellcheck source=/dev/null
    . "$PPX_NETNS_DIR/env"
}

# ppxt_netns_prepix N COPIES: what every test of prepix across the netns cluster starts with: the
# checks (root, prepix run, the cluster up), t a fresh folder the hosts share holding a dataset
# of N JPEGs x COPIES in $t/in (ppxt_dataset), prepix a copy of the binary there (the build may
# lie under /tmp, which the hosts do not see), x the host runner, and mpirun_3 a bounded mpirun
# over the three hosts, one rank each (a run that hangs fails its test in 2 minutes instead of
# holding CI until the test's timeout).
# shellcheck disable=SC2034 # x and mpirun_3 are for the sourcing test.
ppxt_netns_prepix() {
    ppx_need_root
    ppxt_need_prepix_run
    ppxt_need_netns
    x=$src/cluster/netns/exec
    mkdir -p "$PPX_NETNS_DIR/shared"
    ppxt_tmpdir "$PPX_NETNS_DIR/shared"
    ppxt_dataset "$t/in" "$1" "$2"
    install -D -m 0755 "$prepix" "$t/bin/prepix"
    prepix=$t/bin/prepix
    mpirun_3=(timeout -k 5 120 mpirun --hostfile "$PPX_NETNS_DIR/hostfile" --map-by node -np 3)
}

# ppxt_tmpdir PARENT: set t to a fresh folder in PARENT, removed at exit.
ppxt_tmpdir() {
    t=$(mktemp -d "$1/prepix-slurm-test.XXXXXX")
    ppxt_dirs+=("$t")
}

# ppxt_dataset DIR N [COPIES]: the first N JPEGs of the corpus (all "decode OK" in its
# MANIFEST), COPIES times in sub-folders c1, c2... (more images without more corpus). A corpus of
# fewer than N JPEGs (the repository's own, without ../shared/corpus) is used round and round,
# the k-th round's files named rK-NAME, so the tests run on any checkout.
ppxt_dataset() {
    local dir=$1 n=$2 copies=${3:-1} corpus=${PPX_CORPUS_DIR:-} c i have files
    if [ -z "$corpus" ] || [ ! -d "$corpus/jpeg" ]; then
        echo "SKIP: corpus not found (PPX_CORPUS_DIR='$corpus')"
        exit 77
    fi
    mapfile -t files < <(find "$corpus/jpeg" -maxdepth 1 -type f -name '*.jp*g' | LC_ALL=C sort | head -n "$n")
    have=${#files[@]}
    [ "$have" -gt 0 ] || ppxt_fail "corpus has no JPEG in $corpus/jpeg"
    [ "$have" -eq "$n" ] || echo "corpus has $have JPEGs: using them round and round for $n"
    for c in $(seq 1 "$copies"); do
        mkdir -p "$dir/c$c"
        cp "${files[@]}" "$dir/c$c/"
        for ((i = have; i < n; i++)); do
            cp "${files[i % have]}" "$dir/c$c/r$((i / have))-$(basename "${files[i % have]}")"
        done
    done
    [ "$(find "$dir" -type f | wc -l)" -eq $((n * copies)) ] || ppxt_fail "dataset of $dir incomplete"
}

# ppxt_submit SBATCH-ARGS...: sbatch, set job to the job id and remember it for cleanup.
ppxt_submit() {
    job=$("${ppxt_via[@]}" sbatch --parsable "$@") || ppxt_fail "sbatch $* failed"
    job=${job%%;*}
    ppxt_jobs+=("$job")
}

# ppxt_job_states ID: JobState of the job (of each task, for an array), one a line.
ppxt_job_states() {
    "${ppxt_via[@]}" scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2
}

# ppxt_job_ended ID: every task of the job is in a final state (a requeued job is not).
ppxt_job_ended() {
    local states s
    states=$(ppxt_job_states "$1")
    [ -n "$states" ] || return 1
    for s in $states; do
        case "$s" in
            COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE) ;;
            *) return 1 ;;
        esac
    done
}

# ppxt_wait_job ID SECONDS: poll until the job ended (bounded); fail the test on timeout.
ppxt_wait_job() {
    ppx_wait_for "$2" "job $1 to end" ppxt_job_ended "$1" ||
        ppxt_fail "job $1 not finished after $2 s (states: $(ppxt_job_states "$1" | tr '\n' ' '))"
}

# ppxt_expect_completed ID: every task of the job COMPLETED with exit code 0.
ppxt_expect_completed() {
    local line
    while read -r line; do
        case "$line" in
            *JobState=COMPLETED*ExitCode=0:0*) ;;
            *) ppxt_fail "job $1 did not complete cleanly: $(grep -oE '(JobId|JobState|ExitCode|Reason)=[^ ]*' <<<"$line" | tr '\n' ' ')" ;;
        esac
    done < <("${ppxt_via[@]}" scontrol -o show job "$1")
}

# ppxt_same_outputs A B: the same files with the same bytes, reports aside (they hold timings),
# and at least one output; then the reports agree on what must not change (report.py same).
ppxt_same_outputs() {
    local a=$1 b=$2 na
    na=$(find "$a" -type f ! -name 'prepix-*' ! -name '.*' | wc -l)
    [ "$na" -gt 0 ] || ppxt_fail "no outputs in $a"
    diff -r -q -x 'prepix-*' -x '.prepix*' "$a" "$b" || ppxt_fail "outputs differ: $a vs $b"
    "$py" "$report_py" same "$a/prepix-report.json" "$b/prepix-report.json" ||
        ppxt_fail "reports differ: $a vs $b"
}

ppxt_report() {
    "$py" "$report_py" get "$1/prepix-report.json" "$2"
}

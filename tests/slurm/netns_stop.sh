#!/usr/bin/env bash
# netns_stop.sh CASE: a rank on another host falls silent (SIGSTOP at a moment of the protocol,
# the test hook PPX_TEST_STOP) during an mpirun across the three hosts of the netns cluster, so
# that every message between ranks goes over TCP. The job ends by itself within --rank-timeout
# plus the grace with exit 4, its report names the silent rank (or, when rank 0 was the one
# stopped, says that it cannot know), and --resume across the hosts gives the outputs of a clean
# one-host run (issue 21, items 1-3; tests/scenario/test_silent.py runs the same on one host).
#   last_request_bytes: rank 2 (on h3) stops at its second request; rank 0's answer, a
#                       file's bytes, is never received.
#   r0_serve_paths:     rank 0 (on h1) stops after its fourth answer, real workers.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
case=${1:?a case}
ppxt_netns_prepix 20 2
rank_timeout=3
grace=2
# Open MPI's teardown over TCP and a loaded machine, on top of the promise.
slack=12
case "$case" in
    last_request_bytes) rank=2 stop=2:request:2 args=(--transport bytes) faults=(PPX_TEST_FAULT='noop:*') ;;
    r0_serve_paths) rank=0 stop=0:serve:4 args=(--transport paths) faults=() ;;
    *) ppxt_fail "unknown case $case" ;;
esac
args+=(-i "$t/in" -p 'resize 64' -w 1 --chunk-size 1 --progress none)
# Every process of this test's binary, whatever host runs it (the hosts share one PID space).
leftovers() { pgrep -f "^$prepix " || true; }
none_left() { [ -z "$(leftovers)" ]; }
kill_leftovers() {
    local p
    for p in $(leftovers); do kill -KILL "$p" 2>/dev/null || true; done
    ppx_wait_for 60 "the test's prepix processes to end" none_left
}
reported() { none_left && [ -s "$t/out/prepix-report.json" ]; }
ppxt_exit_hooks+=(kill_leftovers)

# The workers' faults (noop workers when the case has them) in every run: passed to the ranks on
# the other hosts by mpirun's -x.
env=()
for f in "${faults[@]}"; do env+=(-x "$f"); done
# The clean run: one host, no stop.
"$x" h1 env "${faults[@]}" "$prepix" run -o "$t/clean" "${args[@]}" || ppxt_fail "clean run failed"

err=$t/stalled.err
"$x" h1 "${mpirun_3[@]}" --mca odls_base_sigkill_timeout 2 -x PPX_TEST_STOP="$stop" "${env[@]}" \
    "$prepix" run -o "$t/out" --rank-timeout "$rank_timeout" --timeout "$grace" "${args[@]}" \
    2>"$err" &
job=$!
ppx_wait_for 60 "rank $rank to stop itself" grep -q "rank $rank stops at" "$err"
t0=$(date +%s%N)
code=0
wait "$job" || code=$?
took_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$code" -eq 4 ] || { tail -n 30 "$err"; ppxt_fail "exit $code, expected 4"; }
bound=$((rank_timeout + grace + slack))
[ "$took_ms" -le $((bound * 1000)) ] ||
    ppxt_fail "the job took $took_ms ms after the stop, over $bound s"
# Rank 0 writes the report; stopped itself, it does so once Open MPI's teardown continues it.
ppx_wait_for 30 "rank 0 to write its report and end" reported
kill_leftovers
complete=$(ppxt_report "$t/out" complete)
reason=$(ppxt_report "$t/out" stop_reason)
[ "$complete" = False ] || ppxt_fail "report says complete: $reason"
if [ "$rank" -eq 0 ]; then
    grep -q "cannot be known" <<<"$reason" || ppxt_fail "rank 0 was stopped: '$reason'"
    ! grep -q "silent rank" <<<"$reason" || ppxt_fail "healthy ranks blamed: '$reason'"
else
    grep -qF "silent rank(s): $rank," <<<"$reason" || ppxt_fail "rank $rank was stopped: '$reason'"
fi

"$x" h1 "${mpirun_3[@]}" "${env[@]}" "$prepix" run -o "$t/out" --resume "${args[@]}" ||
    ppxt_fail "resume across the hosts exited $?"
ppxt_same_outputs "$t/out" "$t/clean"
echo "netns $case: rank $rank stopped on host h$((rank + 1)), exit 4 after $took_ms ms, resumed identical"

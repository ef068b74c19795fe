"""A rank that falls silent (SIGSTOP) at a chosen moment of the protocol: the job ends by
itself within --rank-timeout plus the grace, with exit 4 and a report naming the silent rank
(or, when rank 0 itself was stopped, saying that it cannot know), and --resume then gives
exactly the result of a clean run. A rank stopped after the exit code is agreed leaves a
complete report, and MPI_Finalize (a fence over every rank) gives up after --rank-timeout.

Each case stops one rank (0, 1 or the last of 3) at an event: a test hook of the rank
(PPX_TEST_STOP="RANK:MOMENT:N": the rank prints "test fault: rank R stops at ..." and stops
itself at that point of the protocol), or a worker hanging on an image ("hanging on",
PPX_TEST_FAULT) after which the test sends SIGSTOP to the rank's pid. Both transports, chunk
sizes 1 and 100, noop and real workers, spread over the cases so that the whole set runs in
about a minute."""
import os
import select
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from lib import (MPIEXEC, PREPIX, _descendants, check, comparable, finish, main,  # noqa: E402
                 report, run, spawn, tmpdir, tree, wait_stderr)
from test_mpi import _rank_pid  # noqa: E402

RANK_TIMEOUT = 3  # --rank-timeout of the stalled runs
GRACE = 2         # --timeout: images in progress get min(--timeout, 10 s) after a stop
# Start of the abort, Open MPI's teardown and a loaded machine: on top of the promise.
SLACK = 8
# Open MPI's kill sequence continues a stopped rank (SIGCONT) and then ends it: SIGTERM and
# SIGKILL after odls_base_sigkill_timeout (1 s by default, less when its sleep is cut short).
# Slurm waits KillWait (30 s by default). The cases that stop rank 0 give it Slurm's kind of
# time, so that its report is written and can be checked.
KILL_WAIT = ["--mca", "odls_base_sigkill_timeout", "2"]
PIPE = "resize 64"


def dataset():
    """360 images: 24 photo-like ones (10-60 KB each, so one image's bytes are above MPI's
    eager limit) linked into 15 folders: 4 chunks of 100, so that each rank gets one, and real
    workers done in a few seconds."""
    t = tmpdir()
    base = os.path.join(t, "base")
    paths = data.make(base, n=24)
    inp = os.path.join(t, "in")
    for k in range(15):
        d = os.path.join(inp, f"d{k:02d}")
        os.makedirs(d)
        for p in paths:
            os.link(p, os.path.join(d, os.path.basename(p)))
    return t, inp


def _ended(pid, timeout):
    """Waits up to timeout s for pid to end; True when it has (or was gone already)."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def _kill_leftovers(pids):
    """SIGKILL (it ends stopped processes too) whatever of pids still runs, and wait for it."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        check(_ended(pid, 60), f"pid {pid} did not end after SIGKILL")


def stall(rank, moment, transport, chunk, real):
    """Stops rank `rank` at `moment` ("hang": SIGSTOP from the test once a worker hangs;
    otherwise a PPX_TEST_STOP moment such as "request:2")."""
    t, inp = dataset()
    env = {} if real else {"PPX_TEST_FAULT": "noop:*"}
    args = ["-i", inp, "-p", PIPE, "-w", "1", "--chunk-size", str(chunk), "--transport",
            transport, "--progress", "none"]
    clean = os.path.join(t, "clean")
    run(["run", "-o", clean, "-w", "2"] + args, env=env, check=0)
    ref = (tree(clean), comparable(report(clean)))

    out = os.path.join(t, "out")
    stalled_env = dict(env)
    if moment == "hang":
        # The 100th image in listing order hangs: the job is under way and cannot end first.
        key = sorted(os.path.relpath(os.path.join(r, f), inp)
                     for r, _, fs in os.walk(inp) for f in fs)[100]
        stalled_env["PPX_TEST_FAULT"] = ",".join(x for x in (env.get("PPX_TEST_FAULT"),
                                                             "hang:" + key) if x)
    else:
        stalled_env["PPX_TEST_STOP"] = f"{rank}:{moment}"
    launcher = [MPIEXEC] + (KILL_WAIT if rank == 0 else []) + ["--oversubscribe", "-np", "3"]
    pids = []
    proc = spawn(launcher + [PREPIX, "run", "-o", out, "--rank-timeout", str(RANK_TIMEOUT),
                             "--timeout", str(GRACE)] + args, stalled_env)
    try:
        if moment == "hang":
            err = wait_stderr(proc, "hanging on")
            os.kill(_rank_pid(proc.pid, rank), signal.SIGSTOP)
        else:
            err = wait_stderr(proc, f"rank {rank} stops at")
        t0 = time.monotonic()
        rank0 = _rank_pid(proc.pid, 0)
        pids = _descendants(proc.pid)
        bound = RANK_TIMEOUT + GRACE + SLACK
        code, rest = finish(proc, bound + 30)
        took = time.monotonic() - t0
        err += rest
        check(code == 4, f"exit {code}, expected 4: {err[-3000:]}")
        check(took <= bound, f"the job took {took:.1f} s after the stop, over {bound} s")
        # Rank 0 writes the report; after a stop of its own it does so once Open MPI's
        # teardown continues it, which may be after mpirun has returned.
        check(_ended(rank0, 30), "rank 0 did not end within 30 s of mpirun")
    finally:
        # After SIGCONT or kill of the leftovers (a stopped rank mpirun left behind), nothing
        # of the job runs while the test looks at OUTDIR or resumes.
        _kill_leftovers(pids + (_descendants(proc.pid) if proc.poll() is None else []))

    r = report(out)
    reason = r["stop_reason"]
    if moment.startswith("code"):
        # Stopped after the exit code was agreed: the work and the report are complete, and
        # MPI_Finalize, which waits for every rank, gives up after --rank-timeout.
        check(r["complete"] is True and r["exit_code"] == 0, (r["complete"], reason))
        check("MPI_Finalize has not returned" in err, err[-3000:])
    elif rank == 0:
        check(r["complete"] is False and r["exit_code"] == 4, (r["complete"], r["exit_code"]))
        check("rank 0" in reason and "cannot be known" in reason and "silent rank" not in reason,
              f"rank 0 was stopped: {reason}")
    else:
        check(r["complete"] is False and r["exit_code"] == 4, (r["complete"], r["exit_code"]))
        check(f"silent rank(s): {rank}," in reason, f"rank {rank} was stopped: {reason}")

    p = run(["run", "-o", out, "--resume"] + args, env=env, mpi_np=3)
    check(p.returncode == 0, f"resume: exit {p.returncode}: {p.stderr[-2000:]}")
    check(tree(out) == ref[0], "outputs differ from a clean run")
    check(comparable(report(out)) == ref[1], "reports differ from a clean run")


CASES = {
    # Rank 0's answer to the stopped rank (one image's bytes: above the eager limit) is
    # never received: rank 0 must not wait for it at the end (issue 21, item 1).
    "last_request_bytes": (2, "request:2", "bytes", 1, False),
    # Rank 0 stopped while the others have results on their way to it (item 2).
    "r0_serve_bytes": (0, "serve:4", "bytes", 1, True),
    # A rank stopped right after posting a chunk's results.
    "r1_result_bytes": (1, "result:1", "bytes", 100, True),
    # Rank 0 stopped after its loop, the others waiting for the end of the run.
    "r0_end_paths": (0, "end:1", "paths", 100, False),
    # A rank stopped from outside while a worker of the job hangs.
    "last_hang_paths": (2, "hang", "paths", 1, True),
    # A rank stopped after its loop, before its end message.
    "r1_end_bytes": (1, "end:1", "bytes", 100, False),
    # Rank 0 stopped from outside, most of the job done: the others wait for it.
    "r0_hang_bytes": (0, "hang", "bytes", 1, False),
    # A rank stopped once the exit code is agreed: the others' MPI_Finalize waits for it.
    "r1_code_paths": (1, "code:1", "paths", 100, False),
}


if __name__ == "__main__":
    sys.exit(main({name: (lambda c=c: stall(*c)) for name, c in CASES.items()}))

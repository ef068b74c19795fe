"""Workers forked before MPI_Init (issue 21 item 4): under mpirun each rank's workers come
from a zygote forked before MPI_Init, so no worker maps Open MPI's shared memory or holds
its sockets; the zygote says at every fork that MPI was not initialised where it forks, and
it ends with its rank."""
import os
import re
import select
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from lib import (MPIEXEC, PREPIX, _descendants, check, finish, kill_tree, main, run,  # noqa: E402
                 spawn, tmpdir, wait_stderr)

# What Open MPI maps to talk between ranks here: vader's segments in /dev/shm, PMIx's
# shared store under /tmp/ompi.HOST.UID (docs/scheduling.md); libraries (.so) are code.
MPI_SHARED = re.compile(r"^(/dev/shm/|/tmp/ompi\.)|vader_segment|shared-segment")


def _stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    return st[st.index("(") + 1:st.rindex(")")], int(st[st.rindex(")") + 2:].split()[1])


def _tree(root):
    """{rank pid: (zygote pids, worker pids)} below mpiexec `root`."""
    procs = {}
    for pid in _descendants(root):
        try:
            procs[pid] = _stat(pid)
        except OSError:
            pass
    ranks = {pid: ([], []) for pid, (comm, ppid) in procs.items()
             if ppid == root and comm == "prepix"}
    for pid, (comm, ppid) in procs.items():
        if ppid in ranks:
            ranks[ppid][0 if comm == "prepix-zygote" else 1].append(pid)
    return ranks


def _shared_maps(pid):
    """Open MPI's shared memory that pid maps ([] once it has ended: a worker replaced
    meanwhile)."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            paths = {ln.split(None, 5)[5].strip() for ln in f if len(ln.split(None, 5)) == 6}
    except (FileNotFoundError, ProcessLookupError):
        return []
    return sorted(p for p in paths if MPI_SHARED.search(p))


def _fds(pid):
    out = {}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except (FileNotFoundError, ProcessLookupError):
        return out
    for fd in fds:
        try:
            out[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
    return out


def _paused(pids):
    """The first of PIDS that waits in pause() (the hang fault), or None."""
    for w in pids:
        try:
            with open(f"/proc/{w}/wchan") as f:
                if "pause" in f.read():
                    return w
        except FileNotFoundError:
            pass
    return None


def _dataset(n=12):
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=n)
    keys = sorted(os.path.relpath(os.path.join(r, f), inp)
                  for r, _, fs in os.walk(inp) for f in fs if f.startswith("img"))
    return t, inp, keys


def _launch(t, inp, env):
    args = ["run", "-i", inp, "-o", os.path.join(t, "out"), "-p", "resize 48", "-w", "1",
            "--chunk-size", "1", "--timeout", "120", "--progress", "none"]
    return spawn([MPIEXEC, "--oversubscribe", "-np", "2", PREPIX] + args,
                 dict(env, PPX_TEST_ZYGOTE="1"))


def no_mpi_in_workers():
    """At each fork (first start, after a crash, after a worker killed from outside) the
    forking process reports MPI_Initialized 0; while a worker hangs, no worker maps Open
    MPI's shared memory (the ranks do) or holds a socket, and the zygote holds one socket."""
    t, inp, keys = _dataset()
    proc = _launch(t, inp, {"PPX_TEST_FAULT": f"crash:{keys[0]},hang:{keys[5]}"})
    err = wait_stderr(proc, "hanging on")
    # The hanging worker prints its line before it calls pause(), and the other rank may be
    # between a crashed worker and its replacement or, its work done, without workers: wait
    # (bounded) until each rank has its zygote and one worker waits in pause().
    deadline = time.monotonic() + 60
    while True:
        ranks = _tree(proc.pid)
        if (len(ranks) == 2 and all(z for z, _ in ranks.values())
                and _paused([w for _, ws in ranks.values() for w in ws])):
            break
        check(time.monotonic() < deadline, f"ranks, (zygotes, workers): {ranks}; "
              "or no worker waits in pause() (the hang fault)")
        time.sleep(0.05)
    rank_maps = [m for r in ranks for m in _shared_maps(r)]
    check(rank_maps, "the ranks map no Open MPI shared memory: the check below proves nothing")
    for rank, (zygotes, workers) in ranks.items():
        for w in workers:
            check(not _shared_maps(w), f"worker {w} maps {_shared_maps(w)}")
            bad = {fd: what for fd, what in _fds(w).items()
                   if what.startswith("socket:") or MPI_SHARED.search(what)}
            check(not bad, f"worker {w} holds {bad}")
    for rank, (zygotes, _) in ranks.items():
        check(len(zygotes) == 1, f"rank {rank}: zygotes {zygotes}")
        z = zygotes[0]
        check(not _shared_maps(z), f"zygote {z} maps {_shared_maps(z)}")
        socks = [fd for fd, what in _fds(z).items() if what.startswith("socket:")]
        check(len(socks) == 1, f"zygote {z}: sockets {socks} (its own socket alone)")
    # A worker killed from outside is replaced by a new fork of the zygote.
    victim = _paused([w for _, ws in ranks.values() for w in ws])
    os.kill(victim, signal.SIGKILL)
    code, rest = finish(proc, 120)
    err += rest
    check(code == 3, f"exit {code} (images failed: 3): {err[-3000:]}")
    forks = re.findall(r"zygote (\d+) forks a worker; MPI_Initialized (-?\d+)", err)
    check(len(forks) >= 4, f"{len(forks)} forks reported (2 at the start, a crash, a kill): "
          f"{err[-3000:]}")
    check(all(flag == "0" for _, flag in forks), f"a fork after MPI_Init: {forks}")
    check(not {int(z) for z, _ in forks} & set(ranks), "a rank forked its own workers")


def zygote_ends_with_rank():
    """kill -9 of a rank: its zygote and its workers end too (nothing orphaned)."""
    t, inp, keys = _dataset()
    proc = _launch(t, inp, {"PPX_TEST_FAULT": "hang:*"})
    try:
        wait_stderr(proc, "hanging on")
        ranks = _tree(proc.pid)
        rank, (zygotes, workers) = sorted(ranks.items())[-1]
        check(zygotes and workers, f"rank {rank}: zygotes {zygotes}, workers {workers}")
        fds = [os.pidfd_open(p) for p in zygotes + workers]
        os.kill(rank, signal.SIGKILL)
        for pid, fd in zip(zygotes + workers, fds):
            check(select.select([fd], [], [], 30)[0], f"process {pid} outlived its rank")
            os.close(fd)
    finally:
        kill_tree(proc)


def thumbnails():
    """The duplicates' thumbnail worker (a second pool, at the end of the run) comes from the
    zygote too: the HTML report's thumbnails equal a plain run's, whose rank forks it."""
    import shutil
    t, inp, keys = _dataset()
    shutil.copy(os.path.join(inp, keys[0]), os.path.join(inp, "dog", "copy-" +
                                                         os.path.basename(keys[0])))
    args = ["run", "-i", inp, "-p", "resize 48", "-w", "1", "--duplicates", "on",
            "--progress", "none"]
    plain = run(args + ["-o", os.path.join(t, "plain")])
    check(plain.returncode == 0, f"plain run: exit {plain.returncode}: {plain.stderr[-2000:]}")
    p = run(args + ["-o", os.path.join(t, "mpi")], mpi_np=2, env={"PPX_TEST_ZYGOTE": "1"})
    check(p.returncode == 0, f"mpi run: exit {p.returncode}: {p.stderr[-2000:]}")
    forks = re.findall(r"forks a worker; MPI_Initialized (-?\d+)", p.stderr)
    check(len(forks) == 3 and set(forks) == {"0"},
          f"forks {forks}: two workers and the thumbnails' one, all before MPI")

    def thumbs(out):
        with open(os.path.join(t, out, "prepix-report.html"), encoding="utf-8") as f:
            return re.findall(r"data:image/jpeg;base64,[A-Za-z0-9+/=]+", f.read())
    check(thumbs("plain"), "the plain run's report has no thumbnail")
    check(thumbs("mpi") == thumbs("plain"), "thumbnails differ from a plain run's")


def plain_run_forks_single_threaded():
    """A plain `prepix run` (no launcher, no MPI) forks its workers from the zygote too, a
    process of one thread: the rank runs a walk thread and the journal's committer, and a
    fork from it could copy a lock one of them holds (the child then waits forever: seen
    under AddressSanitizer as workers stuck until --timeout)."""
    t, inp, keys = _dataset()
    p = run(["run", "-i", inp, "-o", os.path.join(t, "out"), "-p", "resize 48", "-w", "2",
             "--chunk-size", "1", "--timeout", "120", "--progress", "none"], check=3,
            env={"PPX_TEST_ZYGOTE": "1", "PPX_TEST_FAULT": f"crash:{keys[0]}"})
    forks = re.findall(r"zygote (\d+) forks a worker; MPI_Initialized (-?\d+); threads (-?\d+)",
                       p.stderr)
    check(len(forks) >= 3, f"{len(forks)} forks reported (2 at the start, a crash): "
          f"{p.stderr[-3000:]}")
    check(all(th == "1" for _, _, th in forks), f"a fork from a process of several threads: "
          f"{forks}")
    check(len({z for z, _, _ in forks}) == 1, f"forks from several processes: {forks}")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (no_mpi_in_workers, zygote_ends_with_rank,
                                           thumbnails, plain_run_forks_single_threaded)}))

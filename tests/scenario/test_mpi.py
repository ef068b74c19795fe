"""prepix under mpiexec: same answer at any -np/-w, balance, resume, transports, agreement."""
import glob
import os
import signal
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from lib import (MPIEXEC, PREPIX, check, comparable, finish, kill_tree, main, report,  # noqa: E402
                 run, spawn, tmpdir, tree, wait_records, wait_stderr)

PIPE = "autorotate | random-crop 72 scale=0.2,1 | flip h p=0.5"


def dataset(n=40, big=()):
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=n, big=big)
    return t, inp


def np_matrix():
    """np 1..4 (oversubscribed) x w 1..2: identical output trees and statistics."""
    t, inp = dataset(36)
    ref = None
    for np_ in (1, 2, 3, 4):
        for w in (1, 2):
            out = os.path.join(t, f"out-{np_}-{w}")
            run(["run", "-i", inp, "-o", out, "-p", PIPE, "-w", str(w), "--seed", "3",
                 "--progress", "none"], mpi_np=np_, check=0)
            r = report(out)
            check(r["ranks"] == np_ and r["workers"] == [w] * np_, (r["ranks"], r["workers"]))
            got = (tree(out), comparable(r))
            check(len(got[0]) == 36, len(got[0]))
            if ref is None:
                ref = got
            check(got[0] == ref[0], f"outputs differ at -np {np_} -w {w}")
            check(got[1] == ref[1], f"statistics differ at -np {np_} -w {w}")


def skewed():
    """A few huge images among many small: every rank gets work, totals are right."""
    t, inp = dataset(60, big=(0, 1, 2, 3))
    out = os.path.join(t, "out")
    run(["run", "-i", inp, "-o", out, "-p", "resize 64", "-w", "1", "--progress", "none"],
        mpi_np=3, check=0)
    r = report(out)
    per = [p["images"] for p in r["per_rank"]]
    check(all(n > 0 for n in per), f"a rank got no work: {per}")
    check(sum(per) == 60 and r["images"]["ok"] == 60, per)
    check(len(set(per)) > 1 or True, per)


def journal_chunks(outdir):
    """Chunk ids of every record of every journal file (to find duplicates)."""
    ids = []
    for path in sorted(glob.glob(os.path.join(outdir, ".prepix", "journal-*.bin"))):
        b = open(path, "rb").read()
        i = 0
        while i + 24 <= len(b):
            magic, length = struct.unpack_from("<QQ", b, i)
            if magic != 0x4a585050 or i + 24 + length > len(b):
                break
            ids.append(struct.unpack_from("<Q", b, i + 16)[0])
            i += 16 + length + 8
    return ids


def launch(args, np_, env=None):
    return spawn([MPIEXEC, "--oversubscribe", "-np", str(np_), PREPIX] + args, env)


def kill9_resume():
    """kill -9 of the whole job early, middle, late; --resume gives the clean result."""
    t, inp = dataset(48)
    listing = sorted(os.path.relpath(os.path.join(r, f), inp).encode()
                     for r, _, fs in os.walk(inp) for f in fs if f.startswith("img"))
    args = ["-i", inp, "-p", PIPE, "-w", "1", "--seed", "5", "--chunk-size", "3",
            "--progress", "none"]
    clean = os.path.join(t, "clean")
    run(["run", "-o", clean] + args, mpi_np=2, check=0)
    ref = (tree(clean), comparable(report(clean)))
    for frac in (0.1, 0.5, 0.75):
        out = os.path.join(t, f"killed-{frac}")
        # Kill once a worker is stuck on the image at that fraction of the listing: the
        # hang keeps the job from ending first, and the kill lands wherever the other
        # rank happens to be.
        stuck = listing[int(48 * frac)].decode()
        proc = launch(["run", "-o", out, "--timeout", "600"] + args, 2,
                      env={"PPX_TEST_FAULT": f"hang:{stuck}"})
        wait_stderr(proc, "hanging on")
        if frac >= 0.5:
            wait_records(out)  # committed shortly after their chunk, by a thread
        kill_tree(proc)
        p = run(["run", "-o", out, "--resume"] + args, mpi_np=2)
        check(p.returncode == 0, f"resume after kill at {frac}: exit {p.returncode} {p.stderr}")
        r = report(out)
        check(tree(out) == ref[0], f"outputs differ after kill at {frac} + resume")
        check(comparable(r) == ref[1], f"statistics differ after kill at {frac} + resume")
        ids = journal_chunks(out)
        check(len(ids) == len(set(ids)) == 16, f"journal chunks {sorted(ids)}")
        check(r["resumed"]["images"] + sum(p["images"] for p in r["per_rank"]) == 48, r["resumed"])
        check(r["resumed"]["images"] < 48, f"nothing was left to resume at {frac}")
        if frac >= 0.5:
            check(r["resumed"]["images"] > 0, f"nothing was journaled before the kill at {frac}")


def stop_and_resume(sig, to_ranks):
    """Signal the job mid-run: exit 4, report incomplete; --resume: exit 0 and the clean result.

    Open MPI's mpirun answers SIGTERM by killing the job (exit 1) but forwards SIGUSR1
    to the ranks; Slurm delivers SIGTERM to each task itself. So SIGTERM goes to the ranks
    and SIGUSR1 to mpirun, as they would on a cluster."""
    t, inp = dataset(40)
    args = ["-i", inp, "-p", PIPE, "-w", "1", "--chunk-size", "2", "--progress", "none"]
    out = os.path.join(t, "out")
    proc = launch(["run", "-o", out] + args, 2, env={"PPX_TEST_FAULT": "hang:img0036.jpg"})
    # Signal once a worker is stuck on img0036: the job cannot have ended by then.
    err = wait_stderr(proc, "hanging on")
    if to_ranks:
        ranks = subprocess.run(["pgrep", "-P", str(proc.pid), "-x", "prepix"],
                               capture_output=True, text=True).stdout.split()
        check(len(ranks) == 2, f"ranks {ranks}")
        for r in ranks:
            os.kill(int(r), sig)
    else:
        os.kill(proc.pid, sig)
    code, rest = finish(proc, 90)
    err += rest
    check(code == 4, f"exit {code}: {err[-3000:]}")
    check(report(out)["complete"] is False, "report not marked incomplete")
    p = run(["run", "-o", out, "--resume"] + args, mpi_np=2)
    check(p.returncode == 0, f"resume: exit {p.returncode}: {p.stderr}")
    clean = os.path.join(t, "clean")
    run(["run", "-o", clean] + args, check=0)
    check(tree(out) == tree(clean), "outputs differ from a clean run")
    check(comparable(report(out)) == comparable(report(clean)), "statistics differ")


def sigterm_resume():
    stop_and_resume(signal.SIGTERM, to_ranks=True)


def sigusr1_mpirun_resume():
    stop_and_resume(signal.SIGUSR1, to_ranks=False)


def bytes_transport():
    """--transport bytes gives the same outputs and statistics as paths."""
    t, inp = dataset(30)
    with open(os.path.join(inp, "cat", "junk.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    res = []
    for tr in ("paths", "bytes"):
        out = os.path.join(t, tr)
        p = run(["run", "-i", inp, "-o", out, "-p", PIPE, "--transport", tr, "-w", "1",
                 "--chunk-size", "4", "--progress", "none"], mpi_np=3)
        check(p.returncode == 3, f"{tr}: exit {p.returncode} {p.stderr}")
        r = report(out)
        check(all(x["images"] > 0 for x in r["per_rank"]), r["per_rank"])
        res.append((tree(out), comparable(r)))
    check(res[0][0] == res[1][0], "outputs differ between transports")
    check(res[0][1] == res[1][1], "statistics differ between transports")


def fatal_agreement():
    """A fatal write error on one rank ends every rank with exit 1, no hang."""
    t, inp = dataset(30)
    out = os.path.join(t, "out")
    p = run(["run", "-i", inp, "-o", out, "-w", "1", "--chunk-size", "2", "--progress", "none"],
            mpi_np=3, env={"PPX_TEST_FAULT": "writefail:img0013.jpg"}, timeout=120)
    check(p.returncode == 1, f"exit {p.returncode}: {p.stderr}")
    check("No space left" in p.stderr, p.stderr)
    r = report(out)
    check(r["exit_code"] == 1 and r["complete"] is False, r.get("exit_code"))


def mpi_fault():
    """An MPI call failing on rank 1 or on rank 0 ends the job with exit 1 and a report
    "complete": false naming the call; --resume then gives the clean result."""
    t, inp = dataset(24)
    args = ["-i", inp, "-p", PIPE, "-w", "1", "--seed", "3", "--chunk-size", "2",
            "--progress", "none"]
    clean = os.path.join(t, "clean")
    run(["run", "-o", clean] + args, mpi_np=2, check=0)
    for where in ("1:ppx_wire_send_u64s:3", "0:ppx_wire_isend:2", "1:ppx_wire_recv:2"):
        out = os.path.join(t, "out-" + where.replace(":", "-"))
        p = run(["run", "-o", out] + args, mpi_np=2, env={"PPX_TEST_MPI_FAIL": where},
                timeout=120)
        check(p.returncode == 1, f"{where}: exit {p.returncode}: {p.stderr[-2000:]}")
        r = report(out)
        name = where.split(":")[1]
        check(r["complete"] is False and name in r["stop_reason"]
              and f"rank {where[0]}" in r["stop_reason"], f"{where}: {r['stop_reason']}")
        p = run(["run", "-o", out, "--resume"] + args, mpi_np=2)
        check(p.returncode == 0, f"{where}: resume exit {p.returncode}: {p.stderr[-2000:]}")
        check(tree(out) == tree(clean), f"{where}: outputs differ after resume")
        check(comparable(report(out)) == comparable(report(clean)), f"{where}: reports differ")


def message_bound():
    """With the per-message bound lowered to 64 KiB, chunks whose bytes exceed it many times
    over travel in fragments (--transport bytes, -f same and -f tar): outputs identical to a
    plain run."""
    t, inp = dataset(12, big=(1, 4, 7))
    for fmt, extra in (("same", ["--chunk-size", "4"]), ("tar", ["--shard-size", "4"])):
        args = ["-i", inp, "-p", PIPE, "-w", "1", "--seed", "2", "-f", fmt,
                "--progress", "none"] + extra
        plain = os.path.join(t, "plain-" + fmt)
        run(["run", "-o", plain] + args, check=0)
        out = os.path.join(t, "bytes-" + fmt)
        p = run(["run", "-o", out, "--transport", "bytes"] + args, mpi_np=3,
                env={"PPX_TEST_WIRE_MAX": "65536"})
        check(p.returncode == 0, f"-f {fmt}: exit {p.returncode}: {p.stderr[-2000:]}")
        check(tree(out) == tree(plain), f"-f {fmt}: outputs differ from a plain run")
        check(comparable(report(out)) == comparable(report(plain)), f"-f {fmt}: reports differ")


def _workers(root):
    """pids of prepix worker processes under root: prepix processes whose parent is prepix."""
    from lib import _descendants

    def cmd(pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return f.read().split(b"\0")[0]
        except OSError:
            return b""

    def parent(pid):
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
        return int(st[st.rindex(")") + 2:].split()[1])

    out = []
    for pid in _descendants(root):
        try:
            if cmd(pid).endswith(b"prepix") and cmd(parent(pid)).endswith(b"prepix"):
                out.append(pid)
        except OSError:
            pass
    return out


def frozen_worker_bytes():
    """Workers frozen (SIGSTOP) while their rank feeds them image bytes: --timeout ends each
    stuck image, the job ends by itself (exit 3), and --resume gives the clean result."""
    t, inp = dataset(10, big=(2, 3, 4, 5, 6, 7))
    args = ["-i", inp, "-p", PIPE, "-w", "1", "--chunk-size", "1", "--progress", "none"]
    clean = os.path.join(t, "clean")
    run(["run", "-o", clean] + args, check=0)
    listing = sorted(os.path.relpath(os.path.join(r, f), inp)
                     for r, _, fs in os.walk(inp) for f in fs if f.startswith("img"))
    out = os.path.join(t, "out")
    proc = launch(["run", "-o", out, "--transport", "bytes", "--timeout", "3"] + args, 2,
                  env={"PPX_TEST_FAULT": "hang:" + listing[0]})
    wait_stderr(proc, "hanging on")  # every rank's pool exists by now
    stopped = _workers(proc.pid)
    check(len(stopped) >= 2, f"workers found: {stopped}")
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    code, err = finish(proc, 120)
    check(code == 3, f"exit {code}: {err[-2000:]}")
    r = report(out)
    check(r["failures"] and all(f["stage"] == "timeout" for f in r["failures"]), r["failures"])
    p = run(["run", "-o", out, "--resume", "--transport", "bytes"] + args, mpi_np=2)
    check(p.returncode == 0, f"resume: exit {p.returncode}: {p.stderr[-2000:]}")
    check(tree(out) == tree(clean), "outputs differ from a clean run")


def _rank_pid(root, rank):
    """The pid of MPI rank `rank` among root's descendants (from its environment)."""
    from lib import _descendants
    for pid in _descendants(root):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                exe = f.read().split(b"\0")[0]
        except OSError:
            continue
        if exe.endswith(b"prepix") and f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
            ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            pexe = open(f"/proc/{ppid}/cmdline", "rb").read().split(b"\0")[0]
            if not pexe.endswith(b"prepix"):  # a rank, not one of its workers
                return pid
    raise AssertionError(f"rank {rank} not found")


def stalled_rank():
    """A rank stopped with SIGSTOP: the job ends by itself (exit 4) with a report naming the
    rank, and --resume then completes identically to a clean run."""
    t, inp = dataset(30)
    listing = sorted(os.path.relpath(os.path.join(r, f), inp)
                     for r, _, fs in os.walk(inp) for f in fs if f.startswith("img"))
    args = ["-i", inp, "-p", PIPE, "-w", "1", "--chunk-size", "2", "--progress", "none"]
    clean = os.path.join(t, "clean")
    run(["run", "-o", clean] + args, check=0)
    out = os.path.join(t, "out")
    proc = launch(["run", "-o", out, "--rank-timeout", "4", "--timeout", "3"] + args, 3,
                  env={"PPX_TEST_FAULT": "hang:" + listing[1]})
    wait_stderr(proc, "hanging on")  # every rank is in its loop, the job far from its end
    os.kill(_rank_pid(proc.pid, 2), signal.SIGSTOP)
    try:
        code, err = finish(proc, 90)
    finally:
        kill_tree(proc)
    check(code == 4, f"exit {code}: {err[-2000:]}")
    check("rank 2 has been silent" in err or "fell silent" in err, err[-2000:])
    r = report(out)
    check(r["complete"] is False and "2" in r["stop_reason"] and "silent" in r["stop_reason"],
          r["stop_reason"])
    p = run(["run", "-o", out, "--resume"] + args, mpi_np=3)
    check(p.returncode == 0, f"resume: exit {p.returncode}: {p.stderr[-2000:]}")
    check(tree(out) == tree(clean), "outputs differ from a clean run")
    check(comparable(report(out)) == comparable(report(clean)), "reports differ")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (np_matrix, skewed, kill9_resume, sigterm_resume,
                                           sigusr1_mpirun_resume, bytes_transport,
                                           fatal_agreement, mpi_fault, message_bound,
                                           frozen_worker_bytes, stalled_rank)}))

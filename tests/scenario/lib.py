"""Helpers for prepix scenario tests (run by CTest through /usr/bin/python3)."""
import glob
import hashlib
import json
import os
import select
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
PREPIX = os.environ.get("PPX_PREPIX", "prepix")
BUILD = os.environ.get("PPX_BUILD_DIR", ".")
SOURCE = os.environ.get("PPX_SOURCE_DIR", ".")
CORPUS = os.environ.get("PPX_CORPUS_DIR", "")
MPIEXEC = os.environ.get("MPIEXEC") or shutil.which("mpiexec") or "mpiexec"
SAMPLES = os.path.join(SOURCE, "samples", "images")


class Skip(Exception):
    pass


def large_absent():
    """Whether the corpus the tests read lacks the large corpus (tests/corpus/corpus_view.sh
    writes LARGE_CORPUS: its path, or "absent")."""
    try:
        with open(os.path.join(CORPUS, "LARGE_CORPUS")) as f:
            return f.read().strip() == "absent"
    except OSError:
        return False


def corpus():
    """The corpus folder: the small corpus of tests/corpus/files, widened by the large one
    when it was found at configure time (said on stdout when it was not)."""
    if not CORPUS or not os.path.exists(os.path.join(CORPUS, "MANIFEST.tsv")):
        raise Skip("corpus not found (PPX_CORPUS_DIR)")
    if large_absent():
        print("small corpus only (tests/corpus/files): the large corpus is absent")
    return CORPUS


def present(rels):
    """The files of rels in the corpus; those only in the large corpus, when it is absent,
    are named on stdout and left out."""
    have = [r for r in rels if os.path.exists(os.path.join(corpus(), r))]
    gone = [r for r in rels if r not in have]
    if gone and not large_absent():
        raise AssertionError("missing from the corpus: " + ", ".join(gone))
    if gone:
        print("skipped, only in the large corpus (absent): " + ", ".join(gone))
    return have


def manifest():
    rows = {}
    with open(os.path.join(corpus(), "MANIFEST.tsv"), encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            v = line.rstrip("\n").split("\t")
            rows[v[0]] = dict(zip(head, v))
    return rows


_tmpdirs = []
_spawned = []


def tmpdir():
    """A fresh folder, removed when the case passes (kept for a look when it fails)."""
    d = tempfile.mkdtemp(prefix="ppx-test-")
    _tmpdirs.append(d)
    return d


def spawn(cmd, env=None):
    """Starts cmd in its own process group with stderr piped. main() kills the group
    if the case ends while it still runs, so a failing case never leaves a job behind
    holding CTest's output pipe."""
    e = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    if env:
        e.update(env)
    proc = subprocess.Popen(cmd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    _spawned.append(proc)
    return proc


def wait_records(outdir, n=1, timeout=120):
    """Waits until OUTDIR's journal files hold n records (each starts with the magic "PPXJ" as
    a little-endian u64). Records are committed by a thread of their own shortly after their
    chunk, so a test that kills a run and wants --resume to keep work waits for them: a state
    polled for, not a delay."""
    magic = b"PPXJ" + bytes(4)
    deadline = time.monotonic() + timeout
    while True:
        count = 0
        for f in glob.glob(os.path.join(outdir, ".prepix", "journal-*.bin")):
            with open(f, "rb") as fh:
                count += fh.read().count(magic)
        if count >= n:
            return
        check(time.monotonic() < deadline, f"{count} journal records in {outdir}, not {n}")
        time.sleep(0.01)


def wait_stderr(proc, text, timeout=120):
    """Reads proc's stderr until a line containing text arrives; returns what was read.
    Fails if the process ends or the timeout passes first."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            raise AssertionError(f"no '{text}' on stderr within {timeout} s: {seen[-2000:]!r}")
        chunk = os.read(proc.stderr.fileno(), 65536)
        if not chunk:
            raise AssertionError(f"process ended (exit {proc.wait()}) before '{text}': "
                                 f"{seen[-2000:]!r}")
        seen += chunk
    sel.close()
    return seen.decode(errors="replace")


def _descendants(pid):
    """Every process below pid, from /proc (parents as they are now)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(proc):
    """SIGKILL proc and every process below it, and return once all of them are gone.
    A process group is not enough: Open MPI's mpirun puts each rank in a group of its own,
    and a rank outliving mpirun would go on writing while the test looks at OUTDIR."""
    pids = [proc.pid] + _descendants(proc.pid)
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except OSError:
            pass  # already gone
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    for fd in fds:  # a pidfd becomes readable when its process has ended
        if not select.select([fd], [], [], 60)[0]:
            raise AssertionError("a killed process did not end within 60 s")
        os.close(fd)


def finish(proc, timeout):
    """Waits for proc; returns (exit code, rest of stderr). Kills its group on timeout."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        proc.communicate()
        raise AssertionError(f"process did not end within {timeout} s")
    return proc.returncode, err.decode(errors="replace")


def run(args, env=None, timeout=300, mpi_np=None, check=None):
    """Runs prepix (under mpiexec -np N when mpi_np). Returns CompletedProcess."""
    cmd = [PREPIX] + list(args)
    if mpi_np:
        cmd = [MPIEXEC, "--oversubscribe", "-np", str(mpi_np)] + cmd
    e = dict(os.environ)
    e.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    e.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    if env:
        e.update(env)
    p = subprocess.run(cmd, env=e, timeout=timeout, capture_output=True, text=True,
                       errors="replace")
    if check is not None and p.returncode != check:
        sys.stderr.write(p.stdout + p.stderr)
        raise AssertionError(f"{' '.join(cmd)}: exit {p.returncode}, expected {check}")
    return p


def report(outdir, name="prepix-report.json"):
    with open(os.path.join(outdir, name), encoding="utf-8") as f:
        return json.load(f)


def comparable(rep):
    """The parts of a report that must not depend on -np, -w or timing."""
    keep = {k: rep[k] for k in ("images", "bytes", "channel_stats", "input_sizes",
                                "failures", "exit_code", "complete")}
    # A shard run's list of shards and classes (absent elsewhere, and in a stopped run).
    keep.update({k: rep[k] for k in ("shards", "classes") if k in rep})
    # Rasters' statistics (absent from photo-only reports).
    keep.update({k: rep[k] for k in ("raster_stats",) if k in rep})
    return keep


def tree(outdir):
    """sha256 of every output file (the .prepix journal, the reports, the duplicates' drop
    list and the geometry record of file outputs excluded: test_dedup.py compares the drop
    list, test_geometry.py the record across -np, -w and --resume)."""
    out = {}
    for root, dirs, files in os.walk(outdir):
        dirs[:] = [d for d in dirs if d != ".prepix"]
        for f in files:
            if f.startswith("prepix-report.") or (root == outdir and f in ("duplicates.txt",
                                                                          "geometry.csv")):
                continue
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, outdir)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def snapshot(root, skip):
    """Every path under root but skip (OUTDIR), with its bytes' hash, "special" for what is
    not a regular file and "dir" for folders: what a run must not touch."""
    out = {}
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if os.path.join(d, x) != skip]
        for f in files:
            p = os.path.join(d, f)
            out[p] = sha(p) if os.path.isfile(p) and not os.path.islink(p) else "special"
        for x in dirs:
            out[os.path.join(d, x) + "/"] = "dir"
    return out


def inspect(paths):
    """prepix inspect --decode on files; list of dicts."""
    if not paths:
        return []
    p = run(["inspect", "--decode"] + list(paths))
    return [json.loads(l) for l in p.stdout.splitlines()]


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def main(tests):
    name = sys.argv[1] if len(sys.argv) > 1 else None
    if name not in tests:
        print("cases:", " ".join(sorted(tests)))
        return 2
    try:
        tests[name]()
    except Skip as e:
        print(f"SKIP: {e}")
        return SKIP
    finally:
        for proc in _spawned:
            if proc.poll() is None:
                kill_tree(proc)
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)
    print("ok")
    return 0

"""Work while the walk goes on (issue 21 item 5): rank 0 hands out chunks as the walk lists
them. The walk is held by a test hook (PPX_TEST_WALK_GATE=N:FILE: it stops after N entries
until FILE exists), so the tests see a chunk finished while the walk is not over, then
compare everything with a run that lists first (PPX_TEST_NO_STREAM=1) and with main's
binary (PPX_REF_PREPIX, default /work/ref/prepix, where it exists)."""
import glob
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from lib import (MPIEXEC, PREPIX, check, comparable, corpus, finish, kill_tree,  # noqa: E402
                 main, report, run, spawn, tmpdir, tree, wait_records)

REF = os.environ.get("PPX_REF_PREPIX", "/work/ref/prepix")
PIPE = "autorotate | resize 48"


def launch(args, np_, env):
    cmd = [PREPIX] + args
    if np_ > 1:
        cmd = [MPIEXEC, "--oversubscribe", "-np", str(np_)] + cmd
    return spawn(cmd, env)


def identity(out):
    with open(os.path.join(out, ".prepix", "run")) as f:
        return f.read()


def held(out, proc, gate):
    """The walk is held at the gate: a chunk is journaled, the run goes on, and its identity
    says the listing is not over (a run that lists first writes the whole listing's)."""
    wait_records(out, 1)
    check(proc.poll() is None, f"the run ended while its walk was held (exit {proc.poll()})")
    check(not os.path.exists(gate), "gate open too early")
    ident = identity(out)
    check("listing=pending" in ident, f"the walk is not under way while a chunk is done: {ident}")


def expected(inp, args, np_, t, name):
    """Outputs and report of the same run listed first, and of main's binary when present."""
    got = []
    out = os.path.join(t, name)
    run(["run", "-i", inp, "-o", out] + args, mpi_np=np_ if np_ > 1 else None,
        env={"PPX_TEST_NO_STREAM": "1"})
    got.append(("listed first", out))
    if os.access(REF, os.X_OK):
        out = os.path.join(t, name + "-ref")
        cmd = [REF, "run", "-i", inp, "-o", out] + args
        if np_ > 1:
            cmd = [MPIEXEC, "--oversubscribe", "-np", str(np_)] + cmd
        e = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        subprocess.run(cmd, env=e, capture_output=True, timeout=300)
        got.append(("main's binary", out))
    return got


def same(out, refs):
    r = report(out)
    for what, ref in refs:
        check(tree(out) == tree(ref), f"outputs differ from the run {what}")
        check(comparable(r) == comparable(report(ref)), f"report differs from the run {what}")
        check(r["exit_code"] == report(ref)["exit_code"], what)
    return r


def gated(inp, args, np_, at=10):
    """A run whose walk holds after `at` entries until the test has seen a chunk done."""
    t = tmpdir()
    out = os.path.join(t, "out")
    gate = os.path.join(t, "gate")
    proc = launch(["run", "-i", inp, "-o", out] + args, np_,
                  {"PPX_TEST_WALK_GATE": f"{at}:{gate}"})
    held(out, proc, gate)
    open(gate, "w").close()
    rc, err = finish(proc, 300)
    check(rc in (0, 3), f"exit {rc}: {err}")
    check("listing=pending" not in identity(out), identity(out))
    return t, out


def corpus_jpeg(np_):
    inp = os.path.join(corpus())
    args = ["-f", "jpeg", "-p", PIPE, "-w", "1", "--chunk-size", "3", "--progress", "none"]
    t, out = gated(inp, args, np_)
    same(out, expected(inp, args, np_, t, "listed"))


def corpus_tar(np_):
    """-f tar lists first (a shard's labels need the whole listing's classes): the hook
    holds nothing, and the shards are main's."""
    inp = os.path.join(corpus())
    args = ["-f", "tar", "--shard-size", "7", "-p", PIPE, "-w", "1", "--progress", "none"]
    t = tmpdir()
    out = os.path.join(t, "out")
    run(["run", "-i", inp, "-o", out] + args, mpi_np=np_ if np_ > 1 else None,
        env={"PPX_TEST_WALK_GATE": "10:" + os.path.join(t, "never")})
    check("listing=pending" not in identity(out), identity(out))
    same(out, expected(inp, args, np_, t, "listed"))


def tricky_tree():
    """Names whose order as names and as paths differ (a, a.b, a/b, a-b, a0), output names
    that collide within a folder (x.png and x.jpg with -f jpeg), and an archive holding one
    member name twice: the marks decided as the walk goes are those of the whole listing."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    src = os.path.join(t, "src")
    data.make(src, n=8)
    imgs = sorted(os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs)
    k = 0
    for d in ("a", "a.b", "a/b", "a-b", "a0", "a/b/c", "a.b/a", "z"):
        os.makedirs(os.path.join(inp, d), exist_ok=True)
        for name in ("x.jpg", "a.jpg", "a0.jpg"):
            shutil.copy(imgs[k % len(imgs)], os.path.join(inp, d, name))
            k += 1
    for d in ("a", "a/b"):  # x.png becomes x.jpg too: a collision
        shutil.copy(imgs[0], os.path.join(inp, d, "x.png"))
    with open(imgs[1], "rb") as f:
        body = f.read()
    with tarfile.open(os.path.join(inp, "a", "m.tar"), "w") as tf:
        for name in ("p.jpg", "q.jpg", "p.jpg"):
            ti = tarfile.TarInfo(name)
            ti.size = len(body)
            tf.addfile(ti, io.BytesIO(body))
    shutil.copy(imgs[2], os.path.join(inp, "top.jpg"))
    return inp


def tricky(np_):
    inp = tricky_tree()
    args = ["-f", "jpeg", "-p", PIPE, "-w", "1", "--chunk-size", "2", "--progress", "none"]
    t, out = gated(inp, args, np_, at=6)
    r = same(out, expected(inp, args, np_, t, "listed"))
    kinds = sorted(f.get("reason", "")[:40] for f in r["failures"])
    check(len(r["failures"]) >= 3, f"the collisions are not failures: {kinds}")


def kill9(np_):
    """kill -9 while the walk is held after a chunk was journaled; --resume (which lists
    first, and checks that the tree begins with what the journal's walk had listed) gives
    the clean run's outputs and report, and keeps the journaled chunk."""
    inp = os.path.join(corpus())
    args = ["-f", "jpeg", "-p", PIPE, "-w", "1", "--chunk-size", "3", "--progress", "none"]
    t = tmpdir()
    out = os.path.join(t, "out")
    gate = os.path.join(t, "gate")
    proc = launch(["run", "-i", inp, "-o", out] + args, np_,
                  {"PPX_TEST_WALK_GATE": f"12:{gate}"})
    held(out, proc, gate)
    kill_tree(proc)
    p = run(["run", "-i", inp, "-o", out, "--resume"] + args, mpi_np=np_ if np_ > 1 else None)
    check(p.returncode in (0, 3), f"--resume: exit {p.returncode}: {p.stderr}")
    r = same(out, expected(inp, args, np_, t, "clean"))
    check(r["resumed"]["images"] > 0, f"the journaled chunk was redone: {r['resumed']}")


def long_walk():
    """A walk that lists no chunk for three times --rank-timeout: the ranks whose requests
    wait for it hear rank 0's beats and do not end the job as if it were silent."""
    inp = tricky_tree()
    args = ["-f", "jpeg", "-p", PIPE, "-w", "1", "--chunk-size", "2", "--progress", "none",
            "--rank-timeout", "2"]
    t = tmpdir()
    out = os.path.join(t, "out")
    gate = os.path.join(t, "gate")
    proc = launch(["run", "-i", inp, "-o", out] + args, 3, {"PPX_TEST_WALK_GATE": f"6:{gate}"})
    held(out, proc, gate)
    time.sleep(6)  # the scenario: a walk stuck on a slow folder for 3 x --rank-timeout
    check(proc.poll() is None, f"the job ended while the walk was held (exit {proc.poll()})")
    open(gate, "w").close()
    rc, err = finish(proc, 300)
    check(rc == 3 and "has not answered" not in err, f"exit {rc}: {err}")
    same(out, expected(inp, args, 3, t, "listed"))


def sigterm_walk():
    """SIGTERM while the walk is held: the walk ends, the run stops as any run does (exit 4,
    report incomplete, its chunks journaled, the identity still pending); --resume finishes
    it with the clean run's outputs and report."""
    inp = os.path.join(corpus())
    args = ["-f", "jpeg", "-p", PIPE, "-w", "1", "--chunk-size", "3", "--progress", "none"]
    t = tmpdir()
    out = os.path.join(t, "out")
    gate = os.path.join(t, "gate")
    proc = launch(["run", "-i", inp, "-o", out] + args, 1, {"PPX_TEST_WALK_GATE": f"12:{gate}"})
    held(out, proc, gate)
    proc.send_signal(signal.SIGTERM)
    rc, err = finish(proc, 120)
    check(rc == 4, f"exit {rc} after SIGTERM during the walk: {err}")
    check(report(out)["complete"] is False, "the stopped run's report says complete")
    check("listing=pending" in identity(out), identity(out))
    p = run(["run", "-i", inp, "-o", out, "--resume"] + args)
    check(p.returncode in (0, 3), f"--resume: exit {p.returncode}: {p.stderr}")
    r = same(out, expected(inp, args, 1, t, "clean"))
    check(r["resumed"]["images"] > 0, f"the journaled chunks were redone: {r['resumed']}")


def changed_resume():
    """A tree changed (a file added before what the killed walk had listed) is refused by
    --resume, not mixed with the journal's chunks."""
    inp = tricky_tree()
    args = ["-f", "jpeg", "-p", PIPE, "-w", "1", "--chunk-size", "2", "--progress", "none"]
    t = tmpdir()
    out = os.path.join(t, "out")
    gate = os.path.join(t, "gate")
    proc = launch(["run", "-i", inp, "-o", out] + args, 1, {"PPX_TEST_WALK_GATE": f"8:{gate}"})
    held(out, proc, gate)
    kill_tree(proc)
    shutil.copy(os.path.join(inp, "top.jpg"), os.path.join(inp, "a", "0.jpg"))
    p = run(["run", "-i", inp, "-o", out, "--resume"] + args)
    check(p.returncode == 2, f"--resume of a changed tree: exit {p.returncode}: {p.stderr}")
    check("the first" in p.stderr and "listed" in p.stderr, p.stderr)


def records(out):
    """The journal records of OUTDIR so far (lib.wait_records counts them the same way)."""
    n = 0
    for f in glob.glob(os.path.join(out, ".prepix", "journal-*.bin")):
        with open(f, "rb") as fh:
            n += fh.read().count(b"PPXJ" + bytes(4))
    return n


def labels_tree():
    """A tree whose classes the walk cannot know before it ends: a top-level folder without
    an image (`a-empty`: no class, so no label shifts by it), and an archive below the top
    level (`n02/extra.tar`) whose members add the classes `extra` (its stem) and `inner` (a
    folder inside it), both sorting before `m` and `n01`, which the walk lists before it."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    src = os.path.join(t, "src")
    data.make(src, n=8)
    imgs = sorted(os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs
                  if f.endswith(".jpg"))
    os.makedirs(os.path.join(inp, "a-empty"))
    with open(os.path.join(inp, "a-empty", "readme.txt"), "w") as f:
        f.write("no image here\n")
    for d, n in (("m", 3), ("n01", 3), ("n02", 2)):
        os.makedirs(os.path.join(inp, d))
        for k in range(n):
            shutil.copy(imgs[k % len(imgs)], os.path.join(inp, d, f"{d}-{k}.jpg"))
    with open(imgs[0], "rb") as f:
        body = f.read()
    with tarfile.open(os.path.join(inp, "n02", "extra.tar"), "w") as tf:
        for name in ("w.jpg", "inner/v.jpg"):
            ti = tarfile.TarInfo(name)
            ti.size = len(body)
            tf.addfile(ti, io.BytesIO(body))
    shutil.copy(imgs[1], os.path.join(inp, "top.jpg"))
    return inp


def shards_labels(fmt, np_):
    """Shards with the walk held after 4 entries (past `m`, before the archive): whether the
    run streams or lists first, its labels are those of the whole listing (`extra` and
    `inner` before `m`, no class for `a-empty`), and outputs and report are those of a run
    that lists first and of main's binary. A shard run that streamed with the classes met so
    far would label `m` 0 instead of 2 and fail here."""
    inp = labels_tree()
    args = ["-f", fmt, "--shard-size", "2", "-p", PIPE + " | center-crop 32", "-w", "1",
            "--progress", "none"]
    t = tmpdir()
    out = os.path.join(t, "out")
    gate = os.path.join(t, "gate")
    proc = launch(["run", "-i", inp, "-o", out] + args, np_, {"PPX_TEST_WALK_GATE": f"4:{gate}"})
    # Listed first, the run ends on its own; streamed, it holds with a chunk journaled.
    while proc.poll() is None and records(out) == 0:
        time.sleep(0.01)
    open(gate, "w").close()
    rc, err = finish(proc, 300)
    check(rc == 0, f"exit {rc}: {err}")
    with open(os.path.join(out, "classes.txt")) as f:
        classes = f.read().split()
    check(classes == ["extra", "inner", "m", "n01", "n02"], f"classes.txt: {classes}")
    same(out, expected(inp, args, np_, t, "listed"))


if __name__ == "__main__":
    sys.exit(main({
    "corpus_jpeg_np1": lambda: corpus_jpeg(1),
    "corpus_jpeg_np3": lambda: corpus_jpeg(3),
    "corpus_tar_np1": lambda: corpus_tar(1),
    "corpus_tar_np3": lambda: corpus_tar(3),
    "tricky_np1": lambda: tricky(1),
    "tricky_np3": lambda: tricky(3),
    "kill9_np1": lambda: kill9(1),
    "kill9_np3": lambda: kill9(3),
    "changed_resume": changed_resume,
    "long_walk": long_walk,
    "sigterm_walk": sigterm_walk,
    "shards_labels_tar_np1": lambda: shards_labels("tar", 1),
    "shards_labels_tar_np3": lambda: shards_labels("tar", 3),
    "shards_labels_npy_np1": lambda: shards_labels("npy", 1),
    "shards_labels_npy_np3": lambda: shards_labels("npy", 3),
    }))

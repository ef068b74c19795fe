"""Trust, round two (issue 19): one check on every final output name, one identity for every
input read after listing. Each case is a reproduction from the issue, run against the real
binary; archives are made at test time. Cases with a co-user need root (the co-user is a uid
no one has, taken with os.setuid in a forked child) and skip without it."""
import io
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
import tarcraft as tc  # noqa: E402
from lib import (PREPIX, Skip, check, finish, main, report, run, sha, snapshot,  # noqa: E402
                 spawn, tmpdir, tree, wait_stderr)

COUSER = 54321  # a uid no one has: "another local user"


def need_root():
    if os.geteuid() != 0:
        raise Skip("needs root (a co-user's files, owned by another uid)")


def jpg(seed, w=40, h=32):
    b = io.BytesIO()
    data.photo_like(w, h, seed).save(b, "JPEG", quality=85)
    return b.getvalue()


def make_tar(path, members):
    """members: (name, bytes) in archive order, through Python's tarfile (ustar)."""
    with open(path, "wb") as f:
        f.write(tc.with_tarfile([(tc.info(n), d) for n, d in members]))


def failures(out):
    return {f["path"]: f for f in report(out)["failures"]}


def prun(args, **kw):
    return run(list(args) + ["--progress", "none"], **kw)


def dotdot_stems():
    """Item 1: a folder part '...tar' becomes '..' when '.tar' is dropped: checked after that
    mapping, it is a failure at stage input and nothing lands outside OUTDIR/<stem>/."""
    t = tmpdir()
    inp = f"{t}/in"
    os.makedirs(inp)
    make_tar(f"{inp}/evil.tar", [("ok.jpg", jpg(1)), ("...tar/x.jpg", jpg(2)),
                                 ("...tar/.prepix/z.jpg", jpg(3))])
    out = f"{t}/out"
    p = prun(["run", "-i", inp, "-o", out, "-f", "jpeg", "-p", "resize 16"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    got = sorted(tree(out))
    check(got == ["evil/ok.jpg"], f"outputs: {got}")
    fl = failures(out)
    for k in ("evil.tar/...tar/x.jpg", "evil.tar/...tar/.prepix/z.jpg"):
        f = fl.get(f"{inp}/{k}")
        check(f is not None and f["stage"] == "input", f"{k}: {f} in {sorted(fl)}")
        check("'..'" in f["error"], f["error"])

    # The archive's folder as OUTDIR: its member must not replace a file beside it.
    shared = f"{t}/shared"
    os.makedirs(f"{shared}/photos")
    with open(f"{shared}/photos/victim.jpg", "wb") as f:
        f.write(jpg(9))
    make_tar(f"{shared}/evil2.tar", [("...tar/photos/victim.jpg", jpg(4)), ("a.jpg", jpg(5))])
    before = snapshot(shared, f"{shared}/evil2")
    p = prun(["run", "-i", f"{shared}/evil2.tar", "-o", shared, "-f", "jpeg", "-p", "resize 16"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    after = {k: v for k, v in snapshot(shared, f"{shared}/evil2").items()
             if "prepix-report" not in k and "/.prepix" not in k}
    check(after == before, f"files beside the archive changed: {after} vs {before}")
    check(os.path.exists(f"{shared}/evil2/a.jpg"), "the good member's output")

    # Plain folders named '...tar' map the same way.
    inp2 = f"{t}/in2"
    os.makedirs(f"{inp2}/a/c/...tar/...tar/data/b")
    with open(f"{inp2}/a/c/...tar/...tar/data/b/x.jpg", "wb") as f:
        f.write(jpg(6))
    out2 = f"{t}/out2"
    p = prun(["run", "-i", inp2, "-o", out2, "-f", "jpeg", "-p", "resize 16"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    check(tree(out2) == {}, f"outputs: {sorted(tree(out2))}")
    check(list(failures(out2).values())[0]["stage"] == "input", report(out2)["failures"])


def input_in_outdir():
    """Item 2: INPUT inside OUTDIR is refused (exit 2, nothing written), as OUTDIR inside
    INPUT is: out/data/x.jpg would be the output of data/x.jpg."""
    t = tmpdir()
    out = f"{t}/out"
    os.makedirs(f"{out}/data/data")
    for p in (f"{out}/data/x.jpg", f"{out}/data/data/x.jpg"):
        with open(p, "wb") as f:
            f.write(jpg(7))
    before = snapshot(t, None)
    p = prun(["run", "-i", f"{out}/data", "-o", out, "-f", "jpeg", "-p", "resize 16"])
    check(p.returncode == 2, f"exit {p.returncode}: {p.stderr}")
    check("inside OUTDIR" in p.stderr, p.stderr)
    check(snapshot(t, None) == before, "something was written")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (dotdot_stems, input_in_outdir)}))

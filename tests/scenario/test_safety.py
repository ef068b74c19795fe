"""Safety (issue 10): never write outside OUTDIR, never call missing data a success.
Each case is a reproduction that failed on the main of 2026-11-30."""
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from lib import (PREPIX, SAMPLES, check, comparable, finish, kill_tree, main,  # noqa: E402
                 report, run, sha, snapshot, spawn, tmpdir, tree, wait_stderr)

PHOTO = os.path.join(SAMPLES, "video", "go-src__video-001.jpeg")


def list_traversal():
    """@LIST lines with '..' (relative, climbing to /tmp) never write outside OUTDIR."""
    t = tmpdir()
    os.makedirs(os.path.join(t, "src"))
    os.makedirs(os.path.join(t, "lists"))
    os.makedirs(os.path.join(t, "victim"))
    shutil.copy(PHOTO, os.path.join(t, "src", "p.jpg"))
    shutil.copy(PHOTO, os.path.join(t, "victim", "x.jpg"))
    climb = "../" * 40 + os.path.join(t, "victim", "x.jpg").lstrip("/")
    with open(os.path.join(t, "lists", "l.txt"), "w") as f:
        f.write("../src/p.jpg\n" + climb + "\n")
    shutil.copy(PHOTO, os.path.join(t, "lists", "ok.jpg"))
    with open(os.path.join(t, "lists", "l.txt"), "a") as f:
        f.write("ok.jpg\n")
    before = snapshot(t, os.path.join(t, "out"))
    p = run(["run", "-i", "@" + os.path.join(t, "lists", "l.txt"), "-o", os.path.join(t, "out"),
             "-p", "resize 16", "-f", "jpeg", "--progress", "none"])
    check(snapshot(t, os.path.join(t, "out")) == before, "a file outside OUTDIR changed")
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    rep = report(os.path.join(t, "out"))
    check(rep["images"]["ok"] == 1 and rep["images"]["failed"] == 2, rep["images"])
    for f in rep["failures"]:
        check(f["stage"] == "input" and "outside OUTDIR" in f["error"], f)
    check(sorted(tree(os.path.join(t, "out"))) == ["ok.jpg"], tree(os.path.join(t, "out")))
    # The same list for `prepix stats` (nothing written) reads all three.
    p = run(["stats", "-i", "@" + os.path.join(t, "lists", "l.txt"), "--progress", "none"])
    check(p.returncode == 0, f"stats exit {p.returncode}: {p.stderr}")


def symlinked_subfolder():
    """A symlinked folder inside OUTDIR is never written through."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    os.makedirs(os.path.join(inp, "sub"))
    shutil.copy(PHOTO, os.path.join(inp, "sub", "a.jpg"))
    shutil.copy(PHOTO, os.path.join(inp, "b.jpg"))
    out = os.path.join(t, "out")
    os.makedirs(os.path.join(t, "elsewhere"))
    os.makedirs(out)
    os.symlink(os.path.join(t, "elsewhere"), os.path.join(out, "sub"))
    p = run(["run", "-i", inp, "-o", out, "-p", "resize 16", "--progress", "none"])
    check(os.listdir(os.path.join(t, "elsewhere")) == [], "written through the link")
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    rep = report(out)
    check([os.path.basename(f["path"]) for f in rep["failures"]] == ["a.jpg"], rep["failures"])
    check(rep["failures"][0]["stage"] == "write", rep["failures"])


def concurrent_lock():
    """Three runs on one OUTDIR: one works, the others exit 2 at once naming the holder;
    a final --resume equals a clean run."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=12)
    out = os.path.join(t, "out")
    args = ["run", "-i", inp, "-o", out, "-p", "resize 32", "-w", "1", "--chunk-size", "2",
            "--resume", "--progress", "none"]
    first = spawn([PREPIX] + args, env={"PPX_TEST_FAULT": "hang:img0005.jpeg"})
    wait_stderr(first, "hanging on")
    for _ in range(2):
        p = run(args)
        check(p.returncode == 2, f"second run: exit {p.returncode}: {p.stderr}")
        check(f"pid {first.pid}" in p.stderr and "in use" in p.stderr, p.stderr)
    kill_tree(first)
    run(args, check=0)
    clean = os.path.join(t, "clean")
    run(["run", "-i", inp, "-o", clean, "-p", "resize 32", "--progress", "none"], check=0)
    check(tree(out) == tree(clean), "resumed outputs differ from a clean run")
    check(comparable(report(out)) == comparable(report(clean)), "reports differ")


def outdir_deleted():
    """OUTDIR removed mid-run: exit 1, naming it; never "complete"."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=8)
    out = os.path.join(t, "out")
    proc = spawn([PREPIX, "run", "-i", inp, "-o", out, "-w", "1", "--chunk-size", "1",
                  "--timeout", "1", "--progress", "none"],
                 env={"PPX_TEST_FAULT": "hang:img0003.png"})
    err = wait_stderr(proc, "hanging on")
    # Rank 0 may still be writing its journal in OUTDIR/.prepix: a file made between rmtree's
    # listing and its rmdir failed it now and then (ENOTEMPTY); remove again until it is gone.
    deadline = time.monotonic() + 30
    while os.path.lexists(out):
        check(time.monotonic() < deadline, f"{out} not removed in 30 s")
        shutil.rmtree(out, ignore_errors=True)
    code, rest = finish(proc, 120)
    err += rest
    check(code == 1, f"exit {code}: {err}")
    check("OUTDIR" in err and out in err, err)


def long_names():
    """255-byte names work with every -f, plain and under mpirun --transport bytes."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    os.makedirs(os.path.join(inp, "c"))
    names = ["a" * 251 + ".jpg", "b" * 250 + ".jpeg", "c" * 248 + ".jpg", "short.jpg"]
    for n in names:
        shutil.copy(PHOTO, os.path.join(inp, "c", n))
    spec = "resize 16x16 fit=fill"
    for fmt in ("same", "jpeg", "png", "tiff", "tar", "npy"):
        for mpi in (None, 3):
            out = os.path.join(t, f"out-{fmt}-{mpi}")
            extra = ["--transport", "bytes", "--chunk-size", "2"] if mpi else []
            if fmt in ("tar", "npy"):
                extra = ["--transport", "bytes", "--shard-size", "2"] if mpi else []
            p = run(["run", "-i", inp, "-o", out, "-p", spec, "-f", fmt, "--progress", "none"]
                    + extra, mpi_np=mpi)
            check(p.returncode == 0, f"-f {fmt} np {mpi}: exit {p.returncode}: {p.stderr[-3000:]}")
            check(report(out)["images"]["ok"] == 4, report(out)["images"])


def list_own_folder():
    """@LIST into its own folder is refused; its images stay as they were."""
    t = tmpdir()
    l2 = os.path.join(t, "L2")
    os.makedirs(l2)
    shutil.copy(PHOTO, os.path.join(l2, "c.jpg"))
    with open(os.path.join(l2, "list.txt"), "w") as f:
        f.write("c.jpg\n")
    before = sha(os.path.join(l2, "c.jpg"))
    p = run(["run", "-i", "@" + os.path.join(l2, "list.txt"), "-o", l2, "-p", "resize 16",
             "--progress", "none"])
    check(p.returncode == 2, f"exit {p.returncode}: {p.stderr}")
    check(sha(os.path.join(l2, "c.jpg")) == before, "the input was replaced")
    # A list elsewhere naming a file inside OUTDIR: refused too.
    with open(os.path.join(t, "list2.txt"), "w") as f:
        f.write("L2/c.jpg\n")
    p = run(["run", "-i", "@" + os.path.join(t, "list2.txt"), "-o", l2, "-p", "resize 16",
             "--progress", "none"])
    check(p.returncode == 2, f"exit {p.returncode}: {p.stderr}")
    check(sha(os.path.join(l2, "c.jpg")) == before, "the input was replaced")
    check(not os.path.exists(os.path.join(l2, ".prepix")), "refused but wrote")


def dot_collisions():
    """'./' and '//' spellings of names are one key: the collision check sees them."""
    t = tmpdir()
    shutil.copy(PHOTO, os.path.join(t, "x1.jpg"))
    shutil.copy(os.path.join(SAMPLES, "video", "go-src__video-005.gray.jpeg"),
                os.path.join(t, "x1.jpeg"))
    spellings = ["./x1.jpeg", ".//x1.jpeg", "././x1.jpeg", "x1.jpeg", "./././/x1.jpeg"]
    with open(os.path.join(t, "list.txt"), "w") as f:
        f.write("x1.jpg\n" + "".join(s + "\n" for s in spellings * 4))
    outs = []
    for w in ("1", "2"):
        out = os.path.join(t, f"out{w}")
        p = run(["run", "-i", "@" + os.path.join(t, "list.txt"), "-o", out, "-f", "png",
                 "-w", w, "--progress", "none"])
        check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
        rep = report(out)
        check(rep["images"]["ok"] == 1 and rep["images"]["failed"] == 20, rep["images"])
        check(all(f["stage"] == "input" for f in rep["failures"]), rep["failures"])
        check(any("listed twice" in f["error"] or "same file" in f["error"]
                  for f in rep["failures"]), rep["failures"])
        outs.append(tree(out))
    check(outs[0] == outs[1] and list(outs[0]) == ["x1.png"], outs)


def list_and_spec_errors():
    """List and spec read errors are errors; comments end at the line's end; NUL refused."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    os.makedirs(inp)
    shutil.copy(PHOTO, os.path.join(inp, "a.jpg"))
    out = os.path.join(t, "o1")
    p = run(["run", "-i", "@/dev/zero", "-o", out, "--progress", "none"], timeout=60)
    check(p.returncode == 2, f"@/dev/zero: exit {p.returncode}: {p.stderr}")
    with open(os.path.join(t, "long.txt"), "w") as f:
        f.write("in/a.jpg\n" + "x" * 70000 + ".jpg\n")
    p = run(["run", "-i", "@" + os.path.join(t, "long.txt"), "-o", os.path.join(t, "o2"),
             "--progress", "none"])
    check(p.returncode == 2 and "line 2" in p.stderr, f"long line: {p.returncode}: {p.stderr}")
    with open(os.path.join(t, "nul.txt"), "wb") as f:
        f.write(b"in/a.jpg\x00b.jpg\n")
    p = run(["run", "-i", "@" + os.path.join(t, "nul.txt"), "-o", os.path.join(t, "o3"),
             "--progress", "none"])
    check(p.returncode == 2 and "NUL" in p.stderr, f"NUL in list: {p.returncode}: {p.stderr}")
    # -p @FILE: a comment ends at its line; the next line's op runs.
    with open(os.path.join(t, "spec.txt"), "w") as f:
        f.write("resize 64 # shorter side\n| center-crop 32\n")
    out = os.path.join(t, "o4")
    run(["run", "-i", inp, "-o", out,
         "-p", "@" + os.path.join(t, "spec.txt"), "--progress", "none"], check=0)
    from PIL import Image
    with Image.open(os.path.join(out, "a.jpg")) as im:
        check(im.size == (32, 32), f"comment swallowed the next line: {im.size}")
    with open(os.path.join(t, "specnul.txt"), "wb") as f:
        f.write(b"resize 64\x00| center-crop 32\n")
    p = run(["run", "-i", inp, "-o", os.path.join(t, "o5"), "-p",
             "@" + os.path.join(t, "specnul.txt"), "--progress", "none"])
    check(p.returncode == 2 and "NUL" in p.stderr, f"NUL in spec: {p.returncode}: {p.stderr}")
    for i in (1, 2, 3, 5):
        check(not os.path.exists(os.path.join(t, f"o{i}", "prepix-report.json")),
              f"o{i}: a report was written")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (list_traversal, symlinked_subfolder, concurrent_lock,
                                           outdir_deleted, long_names, list_own_folder,
                                           dot_collisions, list_and_spec_errors)}))

"""Every input accounted for (issue 12): unreadable folders, zero images, a whole hostile tree.
Cases that need an unprivileged user run prepix as `nobody` through runuser when root, and
skip (saying so) otherwise."""
import csv
import os
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import PREPIX, SAMPLES, Skip, check, main, report, run, tmpdir  # noqa: E402

PHOTO = os.path.join(SAMPLES, "video", "go-src__video-001.jpeg")


def as_nobody(args):
    """prepix as user nobody (root is not stopped by permissions)."""
    if os.geteuid() != 0 or not shutil.which("runuser"):
        raise Skip("needs root and runuser to run prepix as an unprivileged user")
    p = subprocess.run(["runuser", "-u", "nobody", "--", PREPIX] + args, capture_output=True,
                       text=True, errors="replace", timeout=300)
    return p


def shared_tmpdir():
    """A temporary folder nobody can enter and write."""
    t = tmpdir()
    os.chmod(t, 0o777)
    return t


def imagefolder_classes(root):
    """torchvision's ImageFolder class order: torchvision itself when installed, else its
    documented rule (find_classes: sorted names of the folders under root)."""
    try:
        from torchvision.datasets.folder import find_classes
        return find_classes(root)[0], "torchvision"
    except ImportError:
        return sorted(e.name for e in os.scandir(root) if e.is_dir()), "ImageFolder's rule"


def unreadable_folder():
    """A folder the user cannot read is a failure entry; its class keeps its index."""
    t = shared_tmpdir()
    inp = os.path.join(t, "t")
    for c in "abc":
        os.makedirs(os.path.join(inp, c))
        shutil.copy(PHOTO, os.path.join(inp, c, f"{c}.jpg"))
    os.chmod(os.path.join(inp, "b"), 0)
    out = os.path.join(t, "o")
    p = as_nobody(["run", "-i", inp, "-o", out, "-f", "tar", "-p", "resize 64 | center-crop 64",
                   "--progress", "none"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    rep = report(out)
    check(rep["complete"] is True and rep["images"]["failed"] == 1, rep["images"])
    f = rep["failures"][0]
    check(f["stage"] == "input" and f["path"].rstrip("/").endswith("/b")
          and "Permission denied" in f["error"], f)
    with open(os.path.join(out, "classes.txt")) as fh:
        classes = fh.read().split()
    ref, how = imagefolder_classes(inp)
    check(classes == ref == ["a", "b", "c"], f"classes {classes}, {how} {ref}")
    with open(os.path.join(out, "index.csv")) as fh:
        rows = list(csv.DictReader(fh))
    labels = {os.path.basename(r["path"]): int(r["label"]) for r in rows}
    check(labels == {"a.jpg": ref.index("a"), "c.jpg": ref.index("c")}, f"{labels} ({how})")


def empty_input():
    """Zero images is said loudly: stderr and the report's warnings."""
    t = tmpdir()
    for name, files in (("empty", []), ("texts", ["a.txt", "b.csv", "c.md"])):
        inp = os.path.join(t, name)
        os.makedirs(inp)
        for f in files:
            with open(os.path.join(inp, f), "w") as fh:
                fh.write("x")
        out = os.path.join(t, "out-" + name)
        p = run(["run", "-i", inp, "-o", out, "--progress", "none"])
        check(p.returncode == 0, f"{name}: exit {p.returncode}")
        check("warning: no images found" in p.stderr, p.stderr)
        rep = report(out)
        check(any("no images found" in w for w in rep["warnings"]), rep["warnings"])
        check(rep["images"]["skipped"] == len(files), rep["images"])


def whole_tree():
    """ok + failed + skipped equals the entries the walk met; each is in exactly one of
    outputs, failures and skipped; the warnings name the oddities."""
    t = shared_tmpdir()
    inp = os.path.join(t, "in")
    os.makedirs(os.path.join(inp, "good"))
    good = []
    for n in os.listdir(SAMPLES):
        for f in sorted(os.listdir(os.path.join(SAMPLES, n))):
            shutil.copy(os.path.join(SAMPLES, n, f), os.path.join(inp, "good", f))
            good.append("good/" + f)
    os.makedirs(os.path.join(inp, "bad"))
    bad = {"bad/empty.jpg": b"", "bad/text.png": b"hello", "bad/cut.jpg": open(PHOTO, "rb").read()[:700]}
    for k, v in bad.items():
        with open(os.path.join(inp, k), "wb") as fh:
            fh.write(v)
    os.mkfifo(os.path.join(inp, "bad", "fifo.jpg"))
    os.symlink("nowhere.jpg", os.path.join(inp, "bad", "dangling.jpg"))
    shutil.copy(PHOTO, os.path.join(inp, "bad", "secret.jpg"))
    os.chmod(os.path.join(inp, "bad", "secret.jpg"), 0)
    os.makedirs(os.path.join(inp, "locked"))
    shutil.copy(PHOTO, os.path.join(inp, "locked", "x.jpg"))
    os.chmod(os.path.join(inp, "locked"), 0)
    for n in ("notes.txt", "good/readme.md"):
        with open(os.path.join(inp, n), "w") as fh:
            fh.write("not an image")
    # A path longer than PATH_MAX: folders made one at a time from descriptors.
    fd = os.open(inp, os.O_RDONLY)
    for i in range(22):
        name = f"{i:02d}" + "d" * 198
        os.mkdir(name, dir_fd=fd)
        nfd = os.open(name, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    with open(os.open("deep.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as fh:
        fh.write(open(PHOTO, "rb").read())
    os.close(fd)
    out = os.path.join(t, "out")
    p = as_nobody(["run", "-i", inp, "-o", out, "-p", "resize 32", "--progress", "none"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr[-2000:]}")
    rep = report(out)
    img = rep["images"]
    fails = {os.path.relpath(f["path"], inp).rstrip("/") if not f["path"].startswith(inp)
             or len(f["path"]) < 4000 else "deep": f for f in rep["failures"]}
    outs = set()
    for root, dirs, files in os.walk(out):
        dirs[:] = [d for d in dirs if d != ".prepix"]
        outs |= {os.path.relpath(os.path.join(root, f), out) for f in files
                 if not f.startswith("prepix-report") and f not in ("duplicates.txt",
                                                                    "geometry.csv")}
    expect_fail = set(bad) | {"bad/fifo.jpg", "bad/dangling.jpg", "bad/secret.jpg", "locked"}
    check(outs == set(good), f"outputs {sorted(outs)}")
    check(expect_fail <= set(fails), f"failures {sorted(fails)}")
    check(len(fails) == len(expect_fail) + 1, f"failures {sorted(fails)} (+1 too-long path)")
    check(any(f["code"] == "ENAMETOOLONG" for f in rep["failures"]), rep["failures"])
    check(not (outs & set(fails)), "an entry both output and failure")
    check(img["skipped"] == 2 and img["ok"] == len(good) and img["failed"] == len(fails), img)
    check(img["ok"] + img["failed"] == img["total"], img)
    check(any("could not be read" in w for w in rep["warnings"]), rep["warnings"])
    for f in rep["failures"]:
        check(f["stage"] and f["error"], f)


def max_failures_resume():
    """--max-failures stops with the failures named; --resume always gets on, and the final
    report equals an uninterrupted run's."""
    from lib import comparable, tree
    t = tmpdir()
    inp = os.path.join(t, "mfz")
    os.makedirs(inp)
    for i in range(10):
        shutil.copy(PHOTO, os.path.join(inp, f"{i:02d}.jpg"))
    for i in (1, 6):  # one bad image in each chunk of five
        open(os.path.join(inp, f"{i:02d}.jpg"), "w").close()
    args = ["-p", "resize 64", "--max-failures", "1", "--chunk-size", "5", "-w", "1",
            "--progress", "none"]
    out = os.path.join(t, "o")
    p = run(["run", "-i", inp, "-o", out] + args)
    check(p.returncode == 4, f"exit {p.returncode}: {p.stderr}")
    rep = report(out)
    check(rep["images"]["failed"] >= 1 and len(rep["failures"]) == rep["images"]["failed"],
          f"stopped report: {rep['images']} {rep['failures']}")
    check(rep["failures"][0]["path"].endswith("01.jpg"), rep["failures"])
    for attempt in range(5):
        p = run(["run", "-i", inp, "-o", out, "--resume"] + args)
        if p.returncode != 4:
            break
    check(p.returncode == 3, f"resume: exit {p.returncode} after {attempt + 1} attempts: {p.stderr}")
    clean = os.path.join(t, "clean")
    run(["run", "-i", inp, "-o", clean, "-p", "resize 64", "--chunk-size", "5", "-w", "1",
         "--progress", "none"], check=3)
    check(tree(out) == tree(clean), "outputs differ from an uninterrupted run")
    check(comparable(report(out)) == comparable(report(clean)), "reports differ")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (unreadable_folder, empty_input, whole_tree,
                                           max_failures_resume)}))

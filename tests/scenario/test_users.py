"""What users see (issue 25): the report's command line can be pasted back into a shell;
classes.txt of WebDataset input labelled by .cls members; the stats report's outdir; one
image as INPUT."""
import csv
import html
import io
import json
import os
import re
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from lib import (PREPIX, check, comparable, main, report, run, snapshot, tmpdir,  # noqa: E402
                 tree)

# A shell function named prepix that prints each of its arguments followed by a NUL: what `sh -c`
# makes of the report's command line, argument by argument.
PRINT_ARGS = 'prepix() { for a in "$@"; do printf "%s\\0" "$a"; done; }\n'


def shell_argv(command_line):
    """The arguments `sh` gives to prepix when it reads command_line (the report's string,
    back to bytes as docs/formats.md says)."""
    b = command_line.encode("utf-8", "surrogateescape")
    p = subprocess.run([b"sh", b"-c", PRINT_ARGS.encode() + b], capture_output=True)
    check(p.returncode == 0, "sh: %r" % p.stderr)
    return p.stdout.split(b"\0")[:-1]


def command_line_quoted():
    """command_line in the JSON report, given to `sh -c`, gives back the exact argv: words
    with spaces, quotes, $, a newline, a byte that is not UTF-8, an empty one; plain words
    stay bare. The HTML shows the same text."""
    t = tmpdir()
    inp = os.path.join(t.encode(), b"in 'q' \"d\" $HOME `x` \\ *\n\xff")
    data.make(inp.decode("utf-8", "surrogateescape"), n=3)
    out = os.path.join(t.encode(), b"out")
    args = [b"run", b"-i", inp, b"-o", out, b"-p", b"resize 16 | center-crop 8", b"-w", b"1",
            b"--seed", b"7", b"--progress", b"none", b"--max-failures", b"-1", b"-p", b""]
    p = subprocess.run([os.environ.get("PPX_PREPIX", "prepix").encode()] + args,
                       capture_output=True)
    check(p.returncode == 0, p.stderr.decode(errors="replace"))
    cl = report(out.decode("utf-8", "surrogateescape"))["command_line"]
    print(repr(cl))
    got = shell_argv(cl)
    check(got == args, "sh reads %r, prepix got %r" % (got, args))
    check(cl.startswith("prepix run -i ") and " -w 1 --seed 7 --progress none " in cl and
          cl.endswith(" -p ''"), "plain words are quoted: " + cl)
    # A command line without control bytes reads the same in the HTML.
    inp2 = os.path.join(t, "in2 'q' \"d\" $HOME & <b>")
    data.make(inp2, n=1)
    o2 = os.path.join(t, "o2")
    args2 = ["run", "-i", inp2, "-o", o2, "-p", "resize 16 | center-crop 8", "--progress",
             "none"]
    run(args2, check=0)
    cl2 = report(o2)["command_line"]
    check(shell_argv(cl2) == [a.encode() for a in args2], cl2)
    with open(os.path.join(o2, "prepix-report.html"), encoding="utf-8") as f:
        page = f.read()
    m = re.search(r"<dt>command line</dt><dd><code>(.*?)</code></dd>", page, re.S)
    check(m and html.unescape(m.group(1)) == cl2, "HTML: %s" % (m and m.group(1)))


def wds_tar(path, labels):
    """A WebDataset tar: sample i is a small JPEG and, unless labels[i] is None, a .cls
    member holding labels[i]."""
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tf:
        for i, lab in enumerate(labels):
            b = io.BytesIO()
            data.photo_like(24, 20, 40 + i).save(b, "JPEG", quality=90)
            members = [(f"{i:06d}.jpg", b.getvalue())]
            if lab is not None:
                members.append((f"{i:06d}.cls", str(lab).encode()))
            for name, payload in members:
                ti = tarfile.TarInfo(name)
                ti.size = len(payload)
                tf.addfile(ti, io.BytesIO(payload))


def cls_classes():
    """Labels from .cls members: classes.txt lists the ids 0..largest, one a line, each line
    its own number, so that every reader that takes line `label` as the class name (and the
    number of lines as the number of classes) stays right, with sparse ids too; -1 is "no
    label" as in index.csv. Ids no line number can name (below -1, or past the cap) leave
    classes.txt empty, and the report says why. -f tar and -f npy alike."""
    t = tmpdir()
    labels = [3, 0, 7, -1, 3, None]
    wds_tar(os.path.join(t, "wds.tar"), labels)
    for fmt, pipe in (("tar", "resize 16"), ("npy", "resize 16 | center-crop 16")):
        out = os.path.join(t, "o-" + fmt)
        run(["run", "-i", os.path.join(t, "wds.tar"), "-o", out, "-f", fmt, "-p", pipe,
             "--progress", "none"], check=0)
        with open(os.path.join(out, "classes.txt"), "rb") as f:
            txt = f.read()
        check(txt == b"".join(b"%d\n" % k for k in range(8)), "classes.txt: %r" % txt)
        names = txt.decode().splitlines()
        with open(os.path.join(out, "index.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        check([int(r["label"]) for r in rows] == [3, 0, 7, -1, 3, -1], str(rows))
        for r in rows:
            lab = int(r["label"])
            check(lab == -1 or names[lab] == str(lab), "%s: %s" % (r, names))
        w = [x for x in report(out)["warnings"] if not x.startswith("only 1 shard")]
        check(w == [], str(w))
    for bad in (-2, 1 << 40):
        wds_tar(os.path.join(t, "bad.tar"), [0, bad])
        out = os.path.join(t, "o-bad%d" % bad)
        run(["run", "-i", os.path.join(t, "bad.tar"), "-o", out, "-f", "tar", "--progress",
             "none"], check=0)
        check(os.path.getsize(os.path.join(out, "classes.txt")) == 0, "classes.txt not empty")
        w = [x for x in report(out)["warnings"] if not x.startswith("only 1 shard")]
        check(len(w) == 1 and "classes.txt" in w[0] and str(bad) in w[0], str(w))


def stats_outdir():
    """prepix stats writes no images and has no OUTDIR: its report (stdout, or --report FILE)
    holds "outdir": null, as docs/formats.md says, and every other key of a run's report but
    command_line's optional one; a run's report holds OUTDIR."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=3)
    p = run(["stats", "-i", inp, "--progress", "none"], check=0)
    rep = json.loads(p.stdout)
    check("outdir" in rep and rep["outdir"] is None, "stats: %r" % rep.get("outdir", "absent"))
    run(["stats", "-i", inp, "--report", os.path.join(t, "r.json"), "--progress", "none"],
        check=0)
    check(report(t, "r.json")["outdir"] is None, "stats --report")
    out = os.path.join(t, "out")
    run(["run", "-i", inp, "-o", out, "--progress", "none"], check=0)
    full = report(out)
    check(full["outdir"] == out, full["outdir"])
    check(set(full) == set(rep), "keys differ: %s" % (set(full) ^ set(rep)))


def one_image(t):
    """A folder holding scene.tif (120x100 RGB photo), a neighbour image and a text file: the
    neighbours must never be read or touched by a run on scene.tif."""
    src = os.path.join(t, "src")
    os.makedirs(src)
    data.photo_like(120, 100, 11).save(os.path.join(src, "scene.tif"))
    data.photo_like(40, 30, 12).save(os.path.join(src, "other.png"))
    with open(os.path.join(src, "notes.txt"), "w") as f:
        f.write("not an image\n")
    return src


def outputs(out):
    """Files under out, the reports and .prepix left out."""
    return sorted(k for k in tree(out))


def single_file():
    """One image as INPUT is a dataset of one: its key is its name, its folder the root.
    -f tiff gives OUTDIR/scene.tif (the crop, exactly), -f jpeg OUTDIR/scene.jpg; --resume
    finds it done; a name without a folder works from the image's folder; stats measures it;
    the neighbours are never read."""
    t = tmpdir()
    src = one_image(t)
    img = os.path.join(src, "scene.tif")
    before = snapshot(src, None)
    want = np.asarray(Image.open(img))[20:84, 10:74]
    out = os.path.join(t, "tiff")
    args = ["-i", img, "-p", "crop 10,20,64,64", "-f", "tiff", "--progress", "none"]
    run(["run", "-o", out] + args, check=0)
    check(outputs(out) == ["scene.tif"], str(outputs(out)))
    check(np.array_equal(np.asarray(Image.open(os.path.join(out, "scene.tif"))), want),
          "the crop differs")
    rep = report(out)
    check(rep["images"] == {"total": 1, "ok": 1, "failed": 0, "skipped": 0}, str(rep["images"]))
    check(rep["input"] == img and rep["input_sizes"]["width"]["max"] == 120, str(rep["input"]))
    p = run(["run", "-o", out, "--resume"] + args, check=0)
    rep2 = report(out)
    check(rep2["resumed"]["images"] == 1 and comparable(rep2) == comparable(rep),
          "resume: %s %s" % (rep2["resumed"], p.stderr))
    out = os.path.join(t, "jpeg")
    run(["run", "-i", img, "-o", out, "-f", "jpeg", "-p", "crop 10,20,64,64", "--progress",
         "none"], check=0)
    check(outputs(out) == ["scene.jpg"], str(outputs(out)))
    check(Image.open(os.path.join(out, "scene.jpg")).size == (64, 64), "JPEG size")
    # A bare name, from the image's own folder.
    out = os.path.join(t, "bare")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    p = subprocess.run([PREPIX, "run", "-i", "scene.tif", "-o", out, "-f", "png",
                        "--progress", "none"], cwd=src, env=env, capture_output=True, text=True)
    check(p.returncode == 0, p.stderr)
    check(outputs(out) == ["scene.png"], str(outputs(out)))
    p = run(["stats", "-i", img, "--progress", "none"], check=0)
    st = json.loads(p.stdout)
    check(st["images"]["total"] == 1 and st["input_sizes"]["height"]["max"] == 100,
          str(st["images"]))
    check(snapshot(src, None) == before, "the input folder changed")


def single_file_np2():
    """-np 2 under mpiexec gives the bytes and statistics of -np 1, with both transports."""
    t = tmpdir()
    img = os.path.join(one_image(t), "scene.tif")
    args = ["-i", img, "-p", "crop 10,20,64,64", "-f", "tiff", "--progress", "none"]
    run(["run", "-o", os.path.join(t, "np1")] + args, check=0)
    ref = tree(os.path.join(t, "np1"))
    for tr in ("paths", "bytes"):
        out = os.path.join(t, "np2-" + tr)
        run(["run", "-o", out, "--transport", tr] + args, mpi_np=2, check=0)
        check(tree(out) == ref, "-np 2 --transport %s differs" % tr)
        check(comparable(report(out)) == comparable(report(os.path.join(t, "np1"))), tr)


def single_file_refused():
    """OUTDIR may not hold the image (its output could replace it: -o its folder with -f same
    would name the input itself), nor be the image; a file that is neither an image nor a .tar
    is a usage error that says what INPUT may be. Exit 2, nothing written."""
    t = tmpdir()
    src = one_image(t)
    img = os.path.join(src, "scene.tif")
    before = snapshot(t, None)
    for o in (src, t, img):
        p = run(["run", "-i", img, "-o", o, "-f", "same", "--progress", "none"], check=2)
        check("OUTDIR" in p.stderr and "scene.tif" in p.stderr, p.stderr)
    p = run(["run", "-i", os.path.join(src, "notes.txt"), "-o", os.path.join(t, "o"),
             "--progress", "none"], check=2)
    check("notes.txt" in p.stderr and "image" in p.stderr and ".tar" in p.stderr, p.stderr)
    p = run(["stats", "-i", os.path.join(src, "notes.txt"), "--progress", "none"], check=2)
    check(snapshot(t, None) == before, "something was written")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (command_line_quoted, cls_classes, stats_outdir, single_file,
                                          single_file_np2, single_file_refused)}))

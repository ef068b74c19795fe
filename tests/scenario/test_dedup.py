"""Duplicates (issue 24): fingerprints against an independent numpy/scipy implementation of
imagehash's phash, groups of a set of variants made at test time, the same groups for any
-np, -w, transport and after kill -9 + --resume, --exclude, and leaks between named splits."""
import glob
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(__file__))
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from lib import (CORPUS, MPIEXEC, PREPIX, SAMPLES, Skip, check, corpus, kill_tree,  # noqa: E402
                 large_absent, main, report, run, spawn, tmpdir, wait_records, wait_stderr)

VARIANTS = ("png", "tif", "q60", "half", "crop5", "bright", "mirror")
LOSSLESS = ("png", "tif")


def scipy_phash(img):
    """imagehash.phash(img) (hash_size 8, highfreq_factor 4), written out: grey by Pillow,
    Lanczos to 32x32, scipy's DCT-II along axis 0 then 1, the 8x8 lowest frequencies, bits
    above their median. Returns the hex string (imagehash's str()) and whether the two
    middle coefficients tie (then rounding noise decides the bits)."""
    import scipy.fftpack
    px = np.asarray(img.convert("L").resize((32, 32), Image.LANCZOS))
    low = scipy.fftpack.dct(scipy.fftpack.dct(px, axis=0), axis=1)[:8, :8]
    med = np.median(low)
    bits = (low > med).flatten()
    s = np.sort(np.abs(low - med).flatten())
    return "%016x" % int("".join("1" if b else "0" for b in bits), 2), s[0] < 1e-6


def phash_scipy():
    """prepix inspect --decode's phash (the fingerprint a run computes, here on the image at
    full size) equals the scipy implementation on every corpus image Pillow opens, except
    where docs/duplicates.md says why Pillow sees other pixels: 16-bit grey (Pillow clips
    it to 255), a TIFF Orientation tag (Pillow's libtiff path applies it on load), and
    coefficients that tie at the median (synthetic images: floating-point noise decides)."""
    try:
        import scipy.fftpack  # noqa: F401
    except ImportError:
        raise Skip("python3-scipy is missing (apt-get install python3-scipy)")
    root = corpus()
    files = []
    for d in ("jpeg", "jpeg-variants", "png", "tiff"):
        for r, _, fs in os.walk(os.path.join(root, d)):
            files += [os.path.join(r, f) for f in sorted(fs)]
    out = subprocess.run([PREPIX, "inspect", "--decode"] + files, capture_output=True,
                         text=True).stdout
    got = {}
    for line in out.splitlines():
        o = json.loads(line)
        if "phash" in o:
            got[o["path"]] = o
    compared, skipped, bad = 0, {}, []
    for f in files:
        if f not in got:
            continue
        try:
            with Image.open(f) as im:
                im.load()
                mode, orient = im.mode, im.getexif().get(274, 1)
                ref, tie = scipy_phash(im)
        except Exception:
            continue
        why = ("16-bit grey" if mode in ("I", "I;16", "I;16B") else
               "tiff orientation" if f.endswith((".tif", ".tiff")) and orient != 1 else
               "tie at the median" if tie else None)
        if why:
            skipped[why] = skipped.get(why, 0) + 1
            continue
        compared += 1
        if ref != got[f]["phash"]:
            bad.append("%s: scipy %s, prepix %s" % (f, ref, got[f]["phash"]))
    print("compared %d images bit for bit; left aside: %s" % (compared, skipped))
    check(not bad, "\n".join(bad))
    # Most of the corpus: 200 of the large one's files, 60 of the small one's.
    need = 60 if large_absent() else 200
    check(compared >= need, "only %d corpus images compared" % compared)


def photos():
    """Photos to build the set from: the corpus's JPEGs (samples/images when the corpus is
    absent), at least 96 pixels a side."""
    if CORPUS and os.path.exists(os.path.join(CORPUS, "MANIFEST.tsv")):
        cand = sorted(glob.glob(os.path.join(CORPUS, "jpeg", "*.jp*g")))
    else:
        cand = sorted(glob.glob(os.path.join(SAMPLES, "*", "*.jp*g")))
    out = []
    for f in cand:
        try:
            with Image.open(f) as im:
                if im.mode in ("RGB", "L") and min(im.size) >= 96 and max(im.size) <= 2000:
                    out.append(f)
        except OSError:
            pass
    return out


def unrelated(files, want):
    """Up to `want` photos whose phashes (prepix's, at full size) are all at least 20 bits
    apart: the corpus holds the same pictures in several sizes and crops, which are no
    "unrelated pairs"."""
    out = subprocess.run([PREPIX, "inspect", "--decode"] + files, capture_output=True,
                         text=True).stdout
    hashes = {}
    for line in out.splitlines():
        o = json.loads(line)
        if "phash" in o:
            hashes[o["path"]] = int(o["phash"], 16)
    kept = []
    for f in files:
        if f in hashes and all(bin(hashes[f] ^ hashes[k]).count("1") >= 20 for k in kept):
            kept.append(f)
        if len(kept) == want:
            break
    return kept


def make_set(d, bases=6, others=6):
    """In folder d: for each base photo bN.jpg, its variants bN_png.png, bN_tif.tif (lossless
    conversions of its decoded pixels), bN_q60.jpg (re-encoded at quality 60), bN_half.jpg
    (half size, Lanczos), bN_crop5.jpg (5% cut off the right), bN_bright.png (+10), and
    bN_mirror.jpg; and unrelated photos uN.jpg. Returns {name: base or None}."""
    pics = unrelated(photos(), bases + others)
    if len(pics) < 4:
        raise Skip("fewer than 4 unrelated photos found")
    bases = min(bases, len(pics) // 2)
    os.makedirs(d, exist_ok=True)
    truth = {}
    for i, f in enumerate(pics):
        with Image.open(f) as im0:
            im = im0.convert("RGB") if im0.mode != "L" else im0.copy()
        if i >= bases:
            name = "u%d.jpg" % i
            shutil.copyfile(f, os.path.join(d, name))
            truth[name] = None
            continue
        b = "b%d" % i
        shutil.copyfile(f, os.path.join(d, b + ".jpg"))
        w, h = im.size
        made = {
            "png": (im, "png", {}),
            "tif": (im, "tif", {}),
            "q60": (im, "jpg", {"quality": 60}),
            "half": (im.resize((w // 2, h // 2), Image.LANCZOS), "jpg", {"quality": 90}),
            "crop5": (im.crop((0, 0, w - w // 20, h)), "jpg", {"quality": 90}),
            "bright": (im.point(lambda v: min(255, v + 10)), "png", {}),
            "mirror": (im.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "jpg", {"quality": 90}),
        }
        truth[b + ".jpg"] = b
        for k, (img, ext, kw) in made.items():
            name = "%s_%s.%s" % (b, k, ext)
            img.save(os.path.join(d, name), **kw)
            truth[name] = b
    return truth


def groups_of(rep, kind):
    """The groups of the report as sets of file names."""
    return [frozenset(os.path.basename(m["path"]) for m in g["members"])
            for g in rep["duplicates"][kind]]


def scores(truth, near):
    """Per variant kind: the share of bases whose variant is in their near group (recall);
    and over all pairs inside near groups, the share of pairs from one base (precision)."""
    where = {n: i for i, g in enumerate(near) for n in g}
    recall = {}
    for v in VARIANTS:
        pairs = [(n, "%s.jpg" % b) for n, b in truth.items() if b and n.startswith(b + "_" + v)]
        hit = sum(1 for n, o in pairs if n in where and where.get(o) == where[n])
        recall[v] = (hit, len(pairs))
    good = bad = 0
    for g in near:
        g = sorted(g)
        for i in range(len(g)):
            for j in range(i + 1, len(g)):
                same = truth[g[i]] is not None and truth[g[i]] == truth[g[j]]
                good += same
                bad += not same
    return recall, good, bad


def groups_variants():
    """Exact groups are exactly the lossless conversions; near groups at the default distance
    hold the re-encodes and the resizes and no unrelated pair. Prints precision and recall
    (docs/duplicates.md quotes them)."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    truth = make_set(inp)
    rep_path = os.path.join(t, "r.json")
    run(["stats", "-i", inp, "--report", rep_path, "--progress", "none", "-w", "2",
         "--duplicates", "on"], check=0)
    with open(rep_path, encoding="utf-8") as f:
        rep = json.load(f)
    d = rep["duplicates"]
    check(d["distance"] == 4 and d["fingerprinted"] == len(truth), d)
    check(d["shrunk_on_load"] == 0, d)
    bases = sorted({b for b in truth.values() if b})
    want = {frozenset([b + ".jpg"] + ["%s_%s.%s" % (b, k, "png" if k == "png" else "tif")
                                      for k in LOSSLESS]) for b in bases}
    check(set(groups_of(rep, "exact")) == want, "exact groups %s, want %s"
          % (groups_of(rep, "exact"), want))
    near = groups_of(rep, "near")
    recall, good, bad = scores(truth, near)
    print("near groups at distance 4: precision %d/%d pairs" % (good, good + bad))
    for v in VARIANTS:
        print("  recall %-7s %d/%d" % (v, *recall[v]))
    check(bad == 0, "unrelated images in one near group: %s" % near)
    for v in ("q60", "half", "png", "tif"):
        check(recall[v][0] == recall[v][1], "recall of %s: %s" % (v, recall[v]))
    # Every member of a near group is within the distance of the kept one, the first listed.
    for g in d["near"]:
        check(g["kept"] == g["members"][0]["path"], g)
        check(all(m["distance"] <= 4 for m in g["members"]), g)


def comparable_dups(outdir):
    d = report(outdir)["duplicates"]
    d = {k: v for k, v in d.items() if k != "drop_list"}
    with open(os.path.join(outdir, "duplicates.txt"), encoding="utf-8") as f:
        return d, f.read()


def journal_has_prints(outdir):
    return bool(glob.glob(os.path.join(outdir, ".prepix", "journal-*.bin")))


def groups_np_matrix():
    """The same groups and drop list for -np 1 and 3 (paths and bytes transports), -w 1 and 2,
    tar shards (fingerprints coming back with the outputs), and after kill -9 + --resume."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    make_set(inp, bases=4, others=4)
    args = ["-i", inp, "-p", "resize 64", "--progress", "none", "--duplicates", "on"]
    cs = ["--chunk-size", "3"]
    ref = None
    for name, extra, np_ in (("np1w1", ["-w", "1"] + cs, None), ("np1w2", ["-w", "2"] + cs, None),
                             ("np3", ["-w", "1"] + cs, 3),
                             ("np3bytes", ["-w", "1", "--transport", "bytes"] + cs, 3),
                             ("np2tar", ["-w", "2", "-f", "tar", "--shard-size", "3"], 2)):
        out = os.path.join(t, name)
        run(["run", "-o", out] + args + extra, mpi_np=np_, check=0)
        got = comparable_dups(out)
        if ref is None:
            ref = got
            check(got[0]["exact_groups"] > 0 and got[0]["near_groups"] > 0, got[0])
        check(got == ref, "%s: groups differ:\n%s\n%s" % (name, got, ref))
    # kill -9 while a worker hangs on an image in the middle, then --resume.
    files = sorted(os.listdir(inp))
    out = os.path.join(t, "killed")
    proc = spawn([MPIEXEC, "--oversubscribe", "-np", "2", PREPIX, "run", "-o", out, "-w", "1",
                  "--timeout", "600"] + args + cs,
                 env={"PPX_TEST_FAULT": "hang:" + files[len(files) // 2]})
    wait_stderr(proc, "hanging on")
    wait_records(out)  # committed shortly after their chunk, by a thread
    kill_tree(proc)
    check(journal_has_prints(out), "nothing journaled before the kill")
    p = run(["run", "-o", out, "--resume", "-w", "1"] + args + cs, mpi_np=2, check=0)
    r = report(out)
    check(r["resumed"]["images"] > 0, r["resumed"])
    check(comparable_dups(out) == ref, "groups differ after kill -9 + --resume: %s" % p.stderr)


def exclude_drop_list():
    """Find, then drop: a second run with --exclude @OUTDIR/duplicates.txt leaves out exactly
    those inputs (counted in the report's "excluded") and finds no duplicates left; a list line may
    also be a key relative to INPUT; an unreadable list is a usage error."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    truth = make_set(inp, bases=3, others=3)
    first = os.path.join(t, "first")
    run(["run", "-i", inp, "-o", first, "-p", "resize 48", "--progress", "none",
         "--duplicates", "on"], check=0)
    listed = open(os.path.join(first, "duplicates.txt"), encoding="utf-8").read().splitlines()
    d = report(first)["duplicates"]
    check(len(listed) == d["dropped"] > 0, (listed, d["dropped"]))
    second = os.path.join(t, "second")
    run(["run", "-i", inp, "-o", second, "-p", "resize 48", "--progress", "none",
         "--duplicates", "on", "--exclude", "@" + os.path.join(first, "duplicates.txt")], check=0)
    r = report(second)
    check(r["excluded"] == len(listed), r["excluded"])
    check(r["images"]["total"] == len(truth) - len(listed), r["images"])
    check(r["duplicates"]["exact_groups"] == 0 and r["duplicates"]["near_groups"] == 0,
          r["duplicates"])
    check(open(os.path.join(second, "duplicates.txt")).read() == "", "drop list not empty")
    outs = {os.path.splitext(f)[0] for f in os.listdir(second) if f[0] in "bu"}
    check(not outs & {os.path.splitext(os.path.basename(p))[0] for p in listed}, outs)
    # Keys relative to INPUT, and a list that is not there.
    keys = os.path.join(t, "keys.txt")
    with open(keys, "w") as f:
        f.write("b0_q60.jpg\n\nnot-an-input.jpg\n")
    third = os.path.join(t, "third")
    run(["stats", "-i", inp, "--report", third + ".json", "--progress", "none",
         "--exclude", "@" + keys], check=0)
    with open(third + ".json") as f:
        r3 = json.load(f)
    check(r3["excluded"] == 1, "key line not excluded")
    check("duplicates" not in r3, "duplicates reported without --duplicates on (off by default)")
    p = run(["stats", "-i", inp, "--progress", "none", "--exclude", "@" + t + "/none.txt"],
            check=2)
    check("--exclude" in p.stderr, p.stderr)


def input_kinds():
    """Duplicates in every kind of input: a folder, an @LIST, a WebDataset tar with sidecars,
    and `prepix stats` (no outputs): one image stored as PNG and as TIFF is one exact group."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    os.makedirs(inp)
    rng = np.random.default_rng(5)
    same = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    other = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    same.save(os.path.join(inp, "a.png"))
    same.save(os.path.join(inp, "a.tif"))
    other.save(os.path.join(inp, "b.png"))
    lst = os.path.join(t, "list.txt")
    with open(lst, "w") as f:
        f.write("in/a.png\nin/a.tif\nin/b.png\n")
    tar = os.path.join(t, "s.tar")
    with tarfile.open(tar, "w", format=tarfile.USTAR_FORMAT) as tf:
        for name, src in (("000.png", "a.png"), ("001.tif", "a.tif"), ("002.png", "b.png")):
            tf.add(os.path.join(inp, src), arcname=name)
            if name.startswith("000"):
                info = tarfile.TarInfo("000.txt")
                info.size = 3
                tf.addfile(info, io.BytesIO(b"cap"))
    runs = [("folder", ["run", "-i", inp, "-o", os.path.join(t, "o1")], "o1"),
            ("list", ["run", "-i", "@" + lst, "-o", os.path.join(t, "o2")], "o2"),
            ("tar", ["run", "-i", tar, "-o", os.path.join(t, "o3"), "-f", "tar"], "o3"),
            ("stats", ["stats", "-i", inp, "--report", os.path.join(t, "s.json")], None)]
    for kind, args, out in runs:
        run(args + ["--progress", "none", "--duplicates", "on"], check=0)
        if out:
            rep = report(os.path.join(t, out))
        else:
            with open(os.path.join(t, "s.json")) as f:
                rep = json.load(f)
        groups = rep["duplicates"]["exact"]
        check(len(groups) == 1 and len(groups[0]["members"]) == 2,
              f"{kind}: {rep['duplicates']}")


def make_splits(t, leak):
    """train/CLASS/*.jpg from unrelated photos; val/CLASS/*.jpg from other unrelated photos,
    plus (leak) a half-size Lanczos copy of train's first photo. Returns (train, val)."""
    pics = unrelated(photos(), 6)
    if len(pics) < 6:
        raise Skip("fewer than 6 unrelated photos found")
    train, val = os.path.join(t, "train"), os.path.join(t, "val")
    for i, f in enumerate(pics):
        d = os.path.join(train if i < 4 else val, "cat" if i % 2 else "dog")
        os.makedirs(d, exist_ok=True)
        shutil.copyfile(f, os.path.join(d, "p%d.jpg" % i))
    if leak:
        with Image.open(pics[0]) as im:
            im = im.convert("RGB")
            im.resize((im.width // 2, im.height // 2), Image.LANCZOS).save(
                os.path.join(val, "dog", "copy.jpg"), quality=90)
    return train, val


def split_leaks():
    """Named splits (-i train=DIR -i val=DIR): a val image that is a half-size copy of a train
    image is reported once, from the val side; outputs go to OUTDIR/SPLIT/REL with labels from
    the folder under each split (both splits share the classes); the same report for -np 1
    and -np 3; no leak when the splits are disjoint."""
    t = tmpdir()
    train, val = make_splits(os.path.join(t, "leak"), True)
    args = ["-i", "train=" + train, "-i", "val=" + val, "-p", "resize 64", "--progress",
            "none", "--duplicates", "on", "-w", "1", "--chunk-size", "2", "-f", "png"]
    ref = None
    for name, np_ in (("np1", None), ("np3", 3)):
        out = os.path.join(t, name)
        p = run(["run", "-o", out] + args, mpi_np=np_, check=0)
        r = report(out)
        check(r["images"]["ok"] == 7, (r["images"], p.stderr))
        leaks = r["duplicates"]["leaks"]
        check(len(leaks) == 1, leaks)
        check(leaks[0]["split"] == "val" and
              leaks[0]["eval"] == os.path.join(val, "dog", "copy.jpg"), leaks)
        m = leaks[0]["matches"]
        check(len(m) == 1 and m[0]["split"] == "train" and
              m[0]["path"] == os.path.join(train, "dog", "p0.jpg") and m[0]["distance"] <= 4, m)
        for rel in ("train/dog/p0.png", "val/dog/copy.png", "val/cat/p5.png"):
            check(os.path.exists(os.path.join(out, rel)), "no output " + rel)
        got = {k: v for k, v in r["duplicates"].items() if k != "drop_list"}
        if ref is None:
            ref = got
        check(got == ref, "%s: duplicates differ:\n%s\n%s" % (name, got, ref))
    # The classes: the folders under each split, shared by both.
    out = os.path.join(t, "tar")
    run(["run", "-o", out] + args[:-4] + ["-f", "tar", "--shard-size", "4"], check=0)
    names = [c.get("name") for c in report(out)["classes"]]
    check(names == ["cat", "dog"], names)
    # Disjoint splits: no leak, an empty list.
    train2, val2 = make_splits(os.path.join(t, "clean"), False)
    out = os.path.join(t, "clean-out")
    run(["run", "-o", out, "-i", "train=" + train2, "-i", "val=" + val2, "-p", "resize 64",
         "--progress", "none", "--duplicates", "on"], check=0)
    check(report(out)["duplicates"]["leaks"] == [], report(out)["duplicates"])
    # Two inputs must both be named: a path that exists as written is not NAME=DIR.
    p = run(["stats", "-i", train, "-i", val, "--progress", "none"])
    check(p.returncode == 2 and "NAME=" in p.stderr, p.stderr)


def html_thumbnails():
    """prepix-report.html shows the largest groups with 64-pixel JPEG thumbnails as data: URIs
    (at most 10 groups of 6), made by reading the members again: a member gone since the pass
    shows a placeholder; the page stays self-contained (no network reference, every img a
    data: URI, the CSP allows images from data: only)."""
    import re
    t = tmpdir()
    inp = os.path.join(t, "in")
    make_set(inp, bases=3, others=2)
    out = os.path.join(t, "out")
    run(["run", "-i", inp, "-o", out, "-p", "resize 48", "--progress", "none",
         "--duplicates", "on", "-w", "2"], check=0)
    d = report(out)["duplicates"]
    with open(os.path.join(out, "prepix-report.html"), encoding="utf-8") as f:
        markup = f.read()
    srcs = re.findall(r'<img alt="" src="([^"]*)"', markup)
    groups = markup.count('class="dupgroup"')
    check(groups == min(10, d["exact_groups"] + d["near_groups"]) and groups > 0, groups)
    check(len(srcs) >= groups and len(srcs) <= 6 * groups, len(srcs))
    check(all(re.fullmatch(r"data:image/jpeg;base64,[A-Za-z0-9+/]+=*", x) for x in srcs),
          "an img that is not a JPEG data: URI")
    import base64
    import io
    with Image.open(io.BytesIO(base64.b64decode(srcs[0].split(",", 1)[1]))) as im:
        check(max(im.size) == 64, im.size)
    check("img-src data:" in markup and 'class="ph"' not in markup, "CSP or placeholder")
    for ref in ("http://", "https://", "<script", "<link", "@import", "url("):
        check(ref not in markup, f"the page holds {ref!r}")
    # A member that cannot be read again: a placeholder in its place. The worker of the pass
    # stops on it (test hook) and goes on untouched; the thumbnail's worker stops on it
    # again, and the test replaces the file by a folder first.
    gone = os.path.join(t, "gone")
    shutil.copytree(inp, gone)
    fifo = os.path.join(t, "fifo")
    os.mkfifo(fifo)
    name = sorted(f for f in os.listdir(gone) if f.endswith("_png.png"))[0]
    out2 = os.path.join(t, "out2")
    proc = spawn([PREPIX, "run", "-i", gone, "-o", out2, "-p", "resize 48", "--progress",
                  "none", "--duplicates", "on", "-w", "1"],
                 env={"PPX_TEST_FAULT": "stop:" + name, "PPX_TEST_FIFO": fifo})
    wait_stderr(proc, "stopped on")
    with open(fifo, "wb") as f:
        f.write(b"x")
    wait_stderr(proc, "stopped on")
    os.unlink(os.path.join(gone, name))
    os.mkdir(os.path.join(gone, name))
    with open(fifo, "wb") as f:
        f.write(b"x")
    check(proc.wait(timeout=120) == 0, "exit %s" % proc.returncode)
    check(report(out2)["images"]["ok"] == len(os.listdir(gone)), "the pass lost an image")
    with open(os.path.join(out2, "prepix-report.html"), encoding="utf-8") as f:
        check('class="ph"' in f.read(), "no placeholder for a member gone")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (phash_scipy, groups_variants, groups_np_matrix,
                                          exclude_drop_list, split_leaks, html_thumbnails,
                                          input_kinds)}))

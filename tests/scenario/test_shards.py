"""prepix run -f tar / -f npy: shard contents, index.csv, classes.txt, failures, usage
errors, and the same bytes at any -np/-w and after kill -9 + --resume."""
import ast
import csv
import io
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from lib import (MPIEXEC, PREPIX, SAMPLES, check, comparable, corpus, kill_tree,  # noqa: E402
                 main, report, run, spawn, tmpdir, tree, wait_records,
                 wait_stderr)

PIPE = "autorotate | random-crop 40 scale=0.3,1 | flip h p=0.5"  # fixed size 40x40, random
IMAGE_EXTS = (b".jpg", b".jpeg", b".tif", b".tiff", b".png", b".webp")
SOURCE_EXT = {"JPEG": "jpg", "PNG": "png", "TIFF": "tiff", "WEBP": "webp"}
CORRUPT_PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 40
# The report keys that do not depend on the output container (bytes.written does).
IMAGE_STATS = ("images", "channel_stats", "input_sizes", "failures")


# --- datasets -------------------------------------------------------------------------------

def extras(inp):
    """Files that data.make lacks: top-level images (label -1) before and after the class
    folders in byte order, a class whose name sorts first only in byte order, a nested folder
    (label of its first folder), a name that needs CSV quoting, 16-bit gray and gray+alpha."""
    os.makedirs(os.path.join(inp, "Zebra"), exist_ok=True)
    os.makedirs(os.path.join(inp, "dog", "puppies"), exist_ok=True)
    data.photo_like(150, 130, 901).save(os.path.join(inp, "Top.jpg"), quality=85)
    ramp = (np.arange(140 * 170, dtype=np.uint32).reshape(140, 170) * 2711 % 65536)
    Image.fromarray(ramp.astype(np.uint16)).save(os.path.join(inp, "top_a.png"))
    la = data.photo_like(160, 120, 902, "RGBA").convert("LA")
    la.save(os.path.join(inp, "Zebra", "z1.png"))
    data.photo_like(130, 170, 903).save(os.path.join(inp, "dog", "puppies", "p1.jpg"))
    data.photo_like(145, 125, 904).save(os.path.join(inp, "cat", 'a,b "q".png'))


def dataset(n, more=True):
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=n)
    if more:
        extras(inp)
    return t, inp


# --- what the outputs must be ---------------------------------------------------------------

def listing(inp):
    """prepix's listing of a folder: depth first, each folder's entries sorted by byte value,
    image names (any case) taken, symlinked folders not followed. Paths relative to inp."""
    root = os.fsencode(inp)
    out = []

    def walk(rel):
        for name in sorted(os.listdir(os.path.join(root, rel) if rel else root)):
            key = rel + b"/" + name if rel else name
            full = os.path.join(root, key)
            if name.lower().endswith(IMAGE_EXTS):
                out.append(key)
            if os.path.isdir(full) and not os.path.islink(full):
                walk(key)
    walk(b"")
    return [os.fsdecode(k) for k in out]


def classes_of(lst):
    """Distinct first folders, in byte order."""
    return sorted({p.split("/")[0] for p in lst if "/" in p}, key=os.fsencode)


def label(rel, classes):
    return classes.index(rel.split("/")[0]) if "/" in rel else -1


def expected(lst, failed, size, ext):
    """{shard file name: [(index, rel), ...] of its successful images}, and the index.csv rows."""
    shards, rows = {}, []
    classes = classes_of(lst)
    for s in range((len(lst) + size - 1) // size):
        shards[f"shard-{s:06d}.{ext}"] = []
    for i, rel in enumerate(lst):
        if rel in failed:
            continue
        name = f"shard-{i // size:06d}.{ext}"
        shards[name].append((i, rel))
        rows.append([f"{i:09d}", name, label(rel, classes), rel])
    return shards, rows


def out_files(out):
    """Output file names, the .prepix journal and the reports excluded."""
    return set(tree(out))


def read_index(out):
    with open(os.path.join(out, "index.csv"), encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    check(rows and rows[0] == ["key", "shard", "label", "path"] + GEOM_COLUMNS,
          f"index.csv header {rows[:1]}")
    for r in rows[1:]:
        check(len(r) == 12 and len(r[0]) == 9 and r[0].isdigit(), f"index.csv row {r}")
        r[2] = int(r[2])
        # The geometry record (test_geometry.py checks its values).
        check(int(r[4]) > 0 and int(r[5]) > 0, f"index.csv geometry {r}")
        del r[4:]
    return rows[1:]


GEOM_COLUMNS = ["width", "height", "xx", "xy", "x0", "yx", "yy", "y0"]


def check_index_classes(out, lst, rows):
    got = read_index(out)
    check(got == rows, "index.csv differs:\n" + "\n".join(
        f"got {g} expected {e}" for g, e in zip(got + [None] * len(rows), rows) if g != e))
    with open(os.path.join(out, "classes.txt"), "rb") as f:
        txt = f.read()
    want = "".join(c + "\n" for c in classes_of(lst)).encode()
    check(txt == want, f"classes.txt {txt!r}, expected {want!r}")


# --- readers that check the container formats themselves ----------------------------------

def _octal(field):
    s = field.rstrip(b"\0 ").lstrip(b" ")
    return int(s, 8) if s else 0


def read_ustar(path):
    """Members [(name, data)] of a POSIX ustar archive, checking every header: magic
    "ustar\\0" version "00", checksum, regular file, mode 0644, uid/gid 0, mtime 0;
    then two zero blocks and nothing but zeros after them."""
    with open(path, "rb") as f:
        b = f.read()
    check(len(b) % 512 == 0 and len(b) >= 1024, f"{path}: {len(b)} bytes")
    members = []
    i = 0
    while True:
        check(i + 512 <= len(b), f"{path}: no end-of-archive blocks")
        h = b[i:i + 512]
        if h == bytes(512):
            check(b[i + 512:i + 1024] == bytes(512), f"{path}: one zero block, not two")
            check(b[i + 1024:] == bytes(len(b) - i - 1024), f"{path}: data after the end")
            return members
        where = f"{path} header at {i}"
        check(h[257:263] == b"ustar\0" and h[263:265] == b"00", f"{where}: not POSIX ustar "
              f"{h[257:265]!r}")
        check(_octal(h[148:156]) == sum(h[:148]) + 32 * 8 + sum(h[156:]), f"{where}: checksum")
        name = h[0:100].split(b"\0")[0]
        prefix = h[345:500].split(b"\0")[0]
        if prefix:
            name = prefix + b"/" + name
        check(h[156:157] == b"0", f"{where}: type {h[156:157]!r}")
        check(_octal(h[100:108]) == 0o644, f"{where}: mode {oct(_octal(h[100:108]))}")
        check(_octal(h[108:116]) == 0 and _octal(h[116:124]) == 0, f"{where}: uid/gid")
        check(_octal(h[136:148]) == 0, f"{where}: mtime {_octal(h[136:148])}")
        size = _octal(h[124:136])
        check(i + 512 + size <= len(b), f"{where}: truncated member")
        members.append((name.decode(), b[i + 512:i + 512 + size]))
        i += 512 + (size + 511) // 512 * 512


def gnu_tar(path):
    """GNU tar's listing and extraction of an archive must agree with read_ustar's."""
    members = read_ustar(path)
    env = dict(os.environ, TZ="UTC", LC_ALL="C")
    p = subprocess.run(["tar", "--numeric-owner", "-tvf", path], env=env, capture_output=True,
                       text=True)
    check(p.returncode == 0 and p.stderr == "", f"tar -tvf {path}: {p.returncode} {p.stderr}")
    lines = [ln.split() for ln in p.stdout.splitlines()]
    want = [["-rw-r--r--", "0/0", str(len(d)), "1970-01-01", "00:00", n] for n, d in members]
    check(lines == want, f"tar -tvf {path}: {lines} expected {want}")
    if members:
        d = tmpdir()
        p = subprocess.run(["tar", "-xf", path, "-C", d], env=env, capture_output=True,
                           text=True)
        check(p.returncode == 0 and p.stderr == "", f"tar -xf {path}: {p.stderr}")
        for n, blob in members:
            with open(os.path.join(d, n), "rb") as f:
                check(f.read() == blob, f"tar -xf {path}: {n} differs")
    return members


def read_npy(path, descr):
    """The array of an NPY file, checking the format: magic, a header dict with exactly
    descr, C order, and data of exactly the shape's size."""
    with open(path, "rb") as f:
        b = f.read()
    check(b[:6] == b"\x93NUMPY", f"{path}: not NPY")
    major = b[6]
    check(major in (1, 2, 3), f"{path}: version {major}")
    if major == 1:
        hlen, start = int.from_bytes(b[8:10], "little"), 10
    else:
        hlen, start = int.from_bytes(b[8:12], "little"), 12
    hdr = ast.literal_eval(b[start:start + hlen].decode("latin1"))
    check(hdr.get("descr") == descr and hdr.get("fortran_order") is False,
          f"{path}: header {hdr}, expected descr {descr!r}")
    shape = tuple(hdr["shape"])
    want = np.dtype(descr).itemsize * int(np.prod(shape, dtype=np.int64))
    check(len(b) - start - hlen == want, f"{path}: {len(b) - start - hlen} data bytes for "
          f"shape {shape}")
    arr = np.load(path, allow_pickle=False)
    check(arr.shape == shape and arr.dtype == np.dtype(descr), f"{path}: np.load disagrees")
    return arr


# --- checks of whole outputs ----------------------------------------------------------------

def source_ext(path):
    """The tar member extension of an input, from its magic bytes (as prepix detects the
    format; Pillow cannot open every file prepix decodes)."""
    with open(path, "rb") as f:
        head = f.read(12)
    if head.startswith(b"\xff\xd8"):
        return "jpg"
    if head.startswith(b"\x89PNG"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    check(head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"), f"{path}: magic {head!r}")
    return "tiff"


def check_tar_out(out, inp, lst, failed, size, same=None, wh=None):
    """Shards, index.csv and classes.txt of a -f tar run. same: a -f same run of the same
    pipeline, whose files the image members must equal byte for byte; wh: the output size."""
    shards, rows = expected(lst, failed, size, "tar")
    files = out_files(out)
    check(files == set(shards) | {"index.csv", "classes.txt"}, f"outputs {sorted(files)}")
    classes = classes_of(lst)
    for name, items in shards.items():
        members = gnu_tar(os.path.join(out, name))
        want = []
        for i, rel in items:
            want += [f"{i:09d}.{source_ext(os.path.join(inp, rel))}", f"{i:09d}.cls"]
        check([n for n, _ in members] == want, f"{name}: members {[n for n, _ in members]} "
              f"expected {want}")
        for (i, rel), (img, cls) in zip(items, zip(members[0::2], members[1::2])):
            check(cls[1] == str(label(rel, classes)).encode(), f"{name}: {cls} for {rel}")
            with Image.open(io.BytesIO(img[1])) as im:
                im.load()
                check(SOURCE_EXT[im.format] == img[0].rsplit(".", 1)[1], f"{img[0]}: {im.format}")
                check(wh is None or im.size == wh, f"{name}/{img[0]} ({rel}): {im.size}")
            if same:
                with open(os.path.join(same, rel), "rb") as f:
                    check(f.read() == img[1], f"{name}/{img[0]} differs from -f same's {rel}")
    check_index_classes(out, lst, rows)


def check_npy_out(out, lst, failed, size, wh, channels, descr="|u1"):
    """Shards, index.csv and classes.txt of a -f npy run; returns {shard name: (array,
    labels, [rel, ...])}."""
    shards, rows = expected(lst, failed, size, "npy")
    files = out_files(out)
    want = set(shards) | {n[:-4] + ".labels.npy" for n in shards} | {"index.csv", "classes.txt"}
    check(files == want, f"outputs {sorted(files)}, expected {sorted(want)}")
    classes = classes_of(lst)
    res = {}
    for name, items in shards.items():
        arr = read_npy(os.path.join(out, name), descr)
        labels = read_npy(os.path.join(out, name[:-4] + ".labels.npy"), "<i8")
        shape = (len(items), wh[1], wh[0], channels)
        check(arr.shape == shape, f"{name}: shape {arr.shape}, expected {shape}")
        check(labels.tolist() == [label(rel, classes) for _, rel in items],
              f"{name}: labels {labels.tolist()}")
        res[name] = (arr, labels, [rel for _, rel in items])
    check_index_classes(out, lst, rows)
    return res


def failure_paths(rep, inp):
    return {os.path.relpath(f["path"], inp) for f in rep["failures"]}


# --- cases ----------------------------------------------------------------------------------

def shards_tar():
    """-f tar: members, their order, headers, labels, bytes equal to -f same, GNU tar reads
    them, index.csv and classes.txt, statistics as for -f same."""
    t, inp = dataset(20)
    lst = listing(inp)
    check(len(lst) == 25 and lst[0] == "Top.jpg" and lst[-1] == "top_a.png", lst)
    spec = "autorotate | resize 64 | center-crop 48"
    out, same = os.path.join(t, "tar"), os.path.join(t, "same")
    args = ["-i", inp, "-p", spec, "-w", "2", "--progress", "none"]
    p = run(["run", "-o", out, "-f", "tar", "--shard-size", "7"] + args, check=0)
    run(["run", "-o", same, "-f", "same"] + args, check=0)
    rep = report(out)
    check(rep["format"] == "tar", rep.get("format"))
    check(rep["images"]["ok"] == 25 and rep["images"]["failed"] == 0, rep["images"])
    check_tar_out(out, inp, lst, set(), 7, same=same, wh=(48, 48))
    check(sorted(out_files(out)) == ["classes.txt", "index.csv", "shard-000000.tar",
                                     "shard-000001.tar", "shard-000002.tar",
                                     "shard-000003.tar"], p.stderr)
    ref = report(same)
    for k in IMAGE_STATS:
        check(rep[k] == ref[k], f"report {k} differs from -f same's")
    # The default shard size is 1000: one shard.
    out2 = os.path.join(t, "tar1000")
    run(["run", "-o", out2, "-f", "tar"] + args, check=0)
    check_tar_out(out2, inp, lst, set(), 1000)


def shards_npy():
    """-f npy: arrays equal, pixel for pixel, what -f png writes for '<pipeline> | rgb'
    (gray expanded, alpha dropped, 16-bit rounded); C = 1 after grayscale; labels."""
    t, inp = dataset(20)
    lst = listing(inp)
    for spec, ch, to in ((PIPE, 3, "rgb | to-8bit"),
                         ("rgb | grayscale | resize 24x20 fit=fill", 1, "to-8bit")):
        w, h = (40, 40) if ch == 3 else (24, 20)
        out, png = os.path.join(t, f"npy{ch}"), os.path.join(t, f"png{ch}")
        args = ["-i", inp, "-w", "2", "--seed", "11", "--progress", "none"]
        run(["run", "-o", out, "-f", "npy", "--shard-size", "7", "-p", spec] + args, check=0)
        run(["run", "-o", png, "-f", "png", "-p", f"{spec} | {to}"] + args, check=0)
        rep = report(out)
        check(rep["format"] == "npy" and rep["images"]["ok"] == 25, (rep.get("format"),
                                                                    rep["images"]))
        got = check_npy_out(out, lst, set(), 7, (w, h), ch)
        check(len(got) == 4, sorted(got))
        for name, (arr, _, rels) in got.items():
            for row, rel in zip(arr, rels):
                with Image.open(os.path.join(png, os.path.splitext(rel)[0] + ".png")) as im:
                    check(im.mode == ("RGB" if ch == 3 else "L")
                          or (ch == 1 and im.mode == "LA"), f"{rel}: png mode {im.mode}")
                    ref = np.asarray(im)
                ref = ref.reshape(h, w, -1)[:, :, :ch]
                check(np.array_equal(row, ref), f"{name}: row of {rel} differs from the png "
                      f"({int(np.abs(row.astype(int) - ref).max())} at most)")


def shards_normalize():
    """normalize: float32 (x/255 - mean)/std of the uint8 npy of the same pipeline, on a
    dataset with gray, gray+alpha, RGBA and RGB images; statistics before normalize."""
    # Without the 16-bit extra: normalize scales 16-bit samples by 65535, not by 255 after
    # to-8bit's rounding.
    t, inp = dataset(12, more=False)
    lst = listing(inp)
    spec = "autorotate | resize 32x28 fit=fill"
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    norm = (f"{spec} | normalize mean={','.join(map(str, mean))} "
            f"std={','.join(map(str, std))}")
    args = ["-i", inp, "-f", "npy", "--shard-size", "5", "-w", "2", "--progress", "none"]
    u8, f32 = os.path.join(t, "u8"), os.path.join(t, "f32")
    run(["run", "-o", u8, "-p", spec] + args, check=0)
    run(["run", "-o", f32, "-p", norm] + args, check=0)
    a = check_npy_out(u8, lst, set(), 5, (32, 28), 3)
    b = check_npy_out(f32, lst, set(), 5, (32, 28), 3, descr="<f4")
    check(sorted(a) == sorted(b) and len(a) == 3, (sorted(a), sorted(b)))
    m, s = np.array(mean, np.float32), np.array(std, np.float32)
    for name in a:
        want = (a[name][0].astype(np.float32) / np.float32(255) - m) / s
        got = b[name][0]
        check(np.allclose(got, want, rtol=0, atol=1e-6),
              f"{name}: normalize off by {float(np.abs(got - want).max())}")
        check(np.array_equal(a[name][1], b[name][1]), f"{name}: labels differ")
    ra, rb = report(u8), report(f32)
    for k in IMAGE_STATS:
        check(ra[k] == rb[k], f"report {k} differs with normalize (statistics are taken "
              "before it)")


def shards_usage():
    """Refusals before any work: exit 2 with a message, OUTDIR not created."""
    t, inp = dataset(3, more=False)
    norm = "resize 32x32 fit=fill | normalize mean=0.5,0.5,0.5 std=0.5,0.5,0.5"
    cases = [
        ["-f", "tar", "-p", norm],
        ["-f", "png", "-p", norm],
        ["-p", norm],  # -f same
        ["-f", "npy", "-p", "resize 64"],
        ["-f", "npy"],
        ["-f", "npy", "-p", "resize 32x32 fit=fill | normalize mean=0.5 std=0.5 | flip h"],
        ["-f", "tar", "--chunk-size", "5", "--shard-size", "7"],
        ["-f", "npy", "-p", "center-crop 16", "--chunk-size", "5", "--shard-size", "7"],
        ["-f", "tar", "--chunk-size", "5"],  # shard size 1000
        ["-f", "tar", "--shard-size", "0"],
        ["-f", "npy", "-p", "grayscale | " + norm],  # 3 values for 1-channel shards
        ["-f", "jpeg", "--shard-size", "7"],  # per-image format
    ]
    for k, extra in enumerate(cases):
        out = os.path.join(t, f"o{k}")
        p = run(["run", "-i", inp, "-o", out, "--progress", "none"] + extra)
        check(p.returncode == 2, f"{extra}: exit {p.returncode}: {p.stderr}")
        check("prepix:" in p.stderr, f"{extra}: no message")
        check(not os.path.exists(out), f"{extra}: OUTDIR was created")
    # The allowed counterparts run.
    for k, extra in enumerate([["-f", "tar", "--chunk-size", "7", "--shard-size", "7"],
                               ["-f", "npy", "-p", "center-crop 16", "--chunk-size", "2",
                                "--shard-size", "2"],
                               ["-f", "npy", "-p", norm],
                               ["-f", "npy", "-p", "grayscale | resize 32x32 fit=fill | "
                                "normalize mean=0.5 std=0.5"]]):
        out = os.path.join(t, f"ok{k}")
        run(["run", "-i", inp, "-o", out, "--progress", "none"] + extra, check=0)
        check("index.csv" in out_files(out), f"{extra}: no index.csv")


def shards_failures():
    """Corrupt and crashing images are absent from shards and index.csv and listed as
    failures; a shard where every image failed is still written, empty."""
    t, inp = dataset(14, more=False)
    with open(os.path.join(inp, "cat", "junk.png"), "wb") as f:
        f.write(CORRUPT_PNG)
    # 14 images + junk.png come first, so fish/zz0..2 (the last entries) are shard 5 of 3.
    for k in range(3):
        with open(os.path.join(inp, "fish", f"zz{k}.png"), "wb") as f:
            f.write(CORRUPT_PNG[:20 + k])
    lst = listing(inp)
    check(len(lst) == 18 and all(p.startswith("fish/zz") for p in lst[15:]), lst)
    crash = "dog/img0004.tif"
    failed = {"cat/junk.png", "fish/zz0.png", "fish/zz1.png", "fish/zz2.png", crash}
    spec = "resize 32x32 fit=fill"
    for fmt in ("tar", "npy"):
        out = os.path.join(t, fmt)
        p = run(["run", "-i", inp, "-o", out, "-f", fmt, "-p", spec, "--shard-size", "3", "-w",
                 "2", "--progress", "none"], env={"PPX_TEST_FAULT": "crash:" + crash})
        check(p.returncode == 3, f"{fmt}: exit {p.returncode}: {p.stderr}")
        rep = report(out)
        check(failure_paths(rep, inp) == failed, f"{fmt}: failures {rep['failures']}")
        check(rep["images"]["ok"] == 13 and rep["images"]["failed"] == 5, rep["images"])
        if fmt == "tar":
            check_tar_out(out, inp, lst, failed, 3, wh=(32, 32))
            check(read_ustar(os.path.join(out, "shard-000005.tar")) == [], "shard 5 not empty")
        else:
            got = check_npy_out(out, lst, failed, 3, (32, 32), 3)
            check(got["shard-000005.npy"][0].shape[0] == 0, "shard 5 not empty")


def shards_np_matrix():
    """-w 1, -w 3, mpirun -np 1/2/3 and --transport bytes: the same shards, index.csv,
    classes.txt and statistics; shards of 7,7,7,7,2 listing entries less the failure."""
    t, inp = dataset(27, more=False)
    data.photo_like(150, 130, 905).save(os.path.join(inp, "Top.jpg"), quality=85)
    data.photo_like(170, 110, 906, "RGBA").save(os.path.join(inp, "top_a.png"))
    with open(os.path.join(inp, "cat", "junk.png"), "wb") as f:
        f.write(CORRUPT_PNG)
    lst = listing(inp)
    check(len(lst) == 30 and lst.index("cat/junk.png") == 10, lst)
    for fmt, runs in (("tar", [(None, 1, "paths"), (None, 3, "paths"), (1, 1, "paths"),
                               (2, 1, "paths"), (3, 1, "paths"), (3, 1, "bytes")]),
                      ("npy", [(None, 2, "paths"), (2, 1, "paths"), (3, 1, "bytes")])):
        ref = None
        for np_, w, tr in runs:
            out = os.path.join(t, f"{fmt}-{np_}-{w}-{tr}")
            p = run(["run", "-i", inp, "-o", out, "-f", fmt, "-p", PIPE, "--seed", "3",
                     "--shard-size", "7", "-w", str(w), "--transport", tr, "--progress",
                     "none"], mpi_np=np_)
            check(p.returncode == 3, f"{fmt} -np {np_} -w {w} {tr}: exit {p.returncode}: "
                  f"{p.stderr[-2000:]}")
            r = report(out)
            check(r["ranks"] == (np_ or 1) and r["format"] == fmt, (r["ranks"], r["format"]))
            if ref is None:
                check(failure_paths(r, inp) == {"cat/junk.png"}, r["failures"])
                if fmt == "tar":
                    check_tar_out(out, inp, lst, {"cat/junk.png"}, 7, wh=(40, 40))
                else:
                    got = check_npy_out(out, lst, {"cat/junk.png"}, 7, (40, 40), 3)
                    check([len(got[n][2]) for n in sorted(got)] == [7, 6, 7, 7, 2],
                          [len(got[n][2]) for n in sorted(got)])
                ref = (tree(out), comparable(r))
                check(len(ref[0]) == (7 if fmt == "tar" else 12), sorted(ref[0]))
            got = (tree(out), comparable(r))
            check(got[0] == ref[0], f"{fmt}: outputs differ at -np {np_} -w {w} {tr}")
            check(got[1] == ref[1], f"{fmt}: statistics differ at -np {np_} -w {w} {tr}")


def shards_kill9_resume():
    """kill -9 of an mpirun job while a worker hangs: no index.csv, classes.txt or partial
    shard under a final name; --resume gives the clean run's bytes and statistics."""
    t, inp = dataset(40, more=False)
    lst = listing(inp)
    for fmt, fracs in (("tar", (0.3, 0.7)), ("npy", (0.5,))):
        args = ["-i", inp, "-f", fmt, "-p", PIPE, "-w", "1", "--seed", "5", "--shard-size",
                "4", "--progress", "none"]
        clean = os.path.join(t, f"clean-{fmt}")
        run(["run", "-o", clean] + args, mpi_np=2, check=0)
        ref = (tree(clean), comparable(report(clean)))
        check(len(ref[0]) == (12 if fmt == "tar" else 22), sorted(ref[0]))
        for frac in fracs:
            out = os.path.join(t, f"killed-{fmt}-{frac}")
            stuck = lst[int(len(lst) * frac)]
            proc = spawn([MPIEXEC, "--oversubscribe", "-np", "2", PREPIX, "run", "-o", out,
                          "--timeout", "600"] + args, env={"PPX_TEST_FAULT": f"hang:{stuck}"})
            wait_stderr(proc, "hanging on")
            if frac >= 0.5:
                wait_records(out)  # committed shortly after their chunk, by a thread
            kill_tree(proc)
            left = tree(out)
            for name in ("index.csv", "classes.txt"):
                check(name not in left, f"{name} written by a run killed at {frac}")
            for name, digest in left.items():
                if not os.path.basename(name).startswith("."):
                    check(ref[0].get(name) == digest, f"{name} after kill at {frac} is not the "
                          "clean run's")
            p = run(["run", "-o", out, "--resume"] + args, mpi_np=2)
            check(p.returncode == 0, f"{fmt} resume after kill at {frac}: exit {p.returncode} "
                  f"{p.stderr[-2000:]}")
            r = report(out)
            check(tree(out) == ref[0], f"{fmt}: outputs differ after kill at {frac} + resume: "
                  f"{sorted(set(tree(out)) ^ set(ref[0]))}")
            check(comparable(r) == ref[1], f"{fmt}: statistics differ after kill at {frac}")
            tmp = [f for _, _, fs in os.walk(out) for f in fs if f.endswith(".ppxtmp")]
            check(not tmp, f"temporary files left: {tmp}")
            check(r["resumed"]["images"] < 40, f"nothing was left to resume at {frac}")
            if frac >= 0.5:
                check(r["resumed"]["images"] > 0,
                      f"nothing was journaled before the kill at {frac}")


def corpus_shards():
    """The corpus's hostile files and the samples through -f tar and -f npy: every file fails
    exactly as with -f same, and every other one is in its shard, decodable, at its size."""
    c = corpus()
    t = tmpdir()
    inp = os.path.join(t, "in")
    shutil.copytree(os.path.join(c, "bad"), os.path.join(inp, "bad"))
    shutil.copytree(SAMPLES, os.path.join(inp, "good"))
    lst = listing(inp)
    common = ["-i", inp, "-p", "autorotate | rgb | to-8bit | resize 48x40 fit=fill",
              "--progress", "none", "--timeout", "30"]
    same = os.path.join(t, "same")
    run(["run", "-o", same] + common, check=3, timeout=600)
    failed = failure_paths(report(same), inp)
    check(0 < len(failed) < len(lst), f"{len(failed)} of {len(lst)} failed")
    for fmt in ("tar", "npy"):
        out = os.path.join(t, fmt)
        run(["run", "-o", out, "-f", fmt, "--shard-size", "16"] + common, check=3, timeout=600)
        check(failure_paths(report(out), inp) == failed, f"{fmt}: failures differ from -f same")
        if fmt == "tar":
            check_tar_out(out, inp, lst, failed, 16, same=same, wh=(48, 40))
        else:
            check_npy_out(out, lst, failed, 16, (48, 40), 3)


def shards_count():
    """Issue 25 item 3: --shards N asks for a number of shards (their size is the listing's
    share, rounded up, the same on --resume); a run that writes fewer than 8 shards warns,
    naming the DataLoader's workers."""
    t, inp = dataset(20, more=False)
    n = len(listing(inp))
    out = os.path.join(t, "o8")
    p = run(["run", "-i", inp, "-o", out, "-f", "tar", "--shards", "8", "--progress", "none"],
            check=0)
    shards = sorted(f for f in os.listdir(out) if f.startswith("shard-"))
    size = -(-n // 8) if -(-n // -(-n // 8)) >= 8 else n // 8
    check(len(shards) >= 8 and len(shards) == -(-n // size), f"{n} images, --shards 8: {shards}")
    check(report(out)["warnings"] == [], report(out)["warnings"])
    check("fewer shards" not in p.stderr, p.stderr)
    # Where ceil(n / k) fills k shards, exactly k (and fewer than 8 warns).
    out4 = os.path.join(t, "o4")
    p = run(["run", "-i", inp, "-o", out4, "-f", "tar", "--shards", "4", "--progress", "none"],
            check=0)
    check(len([f for f in os.listdir(out4) if f.startswith("shard-")]) == 4, os.listdir(out4))
    check(any(w.startswith("only 4 shards were written") for w in report(out4)["warnings"]),
          report(out4)["warnings"])
    # The same size on --resume; and equal bytes to --shard-size of that size.
    run(["run", "-i", inp, "-o", out, "-f", "tar", "--shards", "8", "--resume", "--progress",
         "none"], check=0)
    ref = os.path.join(t, "ref")
    run(["run", "-i", inp, "-o", ref, "-f", "tar", "--shard-size", str(size), "--progress",
         "none"], check=0)
    check(tree(out) == tree(ref), "--shards 8 differs from --shard-size of its share")
    # One shard: said, with the way out.
    one = os.path.join(t, "o1")
    p = run(["run", "-i", inp, "-o", one, "-f", "npy", "-p", "resize 16x16 fit=fill",
             "--progress", "none"], check=0)
    w = report(one)["warnings"]
    check(len(w) == 1 and w[0].startswith("only 1 shard was written") and "--shards 8" in w[0]
          and "DataLoader" in w[0], w)
    check(w[0] in p.stderr, p.stderr)
    # Usage errors.
    for args in (["-f", "tar", "--shards", "0"], ["-f", "jpeg", "--shards", "4"],
                 ["-f", "tar", "--shards", "4", "--shard-size", "10"]):
        p = run(["run", "-i", inp, "-o", os.path.join(t, "u"), "--progress", "none"] + args)
        check(p.returncode == 2 and "--shard" in p.stderr, f"{args}: {p.returncode} {p.stderr}")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (shards_count, shards_tar, shards_npy, shards_normalize,
                                           shards_usage,
                                           shards_failures, shards_np_matrix,
                                           shards_kill9_resume, corpus_shards)}))

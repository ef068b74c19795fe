"""Archives as input (issue 14): ImageNet's tar of class tars and WebDataset shards, read
without extracting a file, give the outputs, labels and statistics of the extracted tree."""
import csv
import io
import os
import shutil
import tarfile

import data
from lib import (MPIEXEC, PREPIX, check, comparable, kill_tree, main, report, run, spawn,
                 tmpdir, tree, wait_records, wait_stderr, CORPUS)

CLASSES = ("n01440764", "n01443537", "n01484850")


def photos(n):
    """n JPEG photos as (name, bytes): the corpus's photos that decode (when the corpus is
    there), else photos made with Pillow."""
    out = []
    manifest = os.path.join(CORPUS, "MANIFEST.tsv") if CORPUS else ""
    if manifest and os.path.exists(manifest):
        with open(manifest, encoding="utf-8") as f:
            rows = [l.rstrip("\n").split("\t") for l in f][1:]
        for r in rows:
            if (r[0].startswith("jpeg/") and r[9] == "decode OK" and int(r[5]) < 2_000_000
                    and int(r[3]) * int(r[4]) < 4_000_000):
                with open(os.path.join(CORPUS, r[0]), "rb") as fh:
                    out.append((os.path.basename(r[0]).rsplit(".", 1)[0], fh.read()))
            if len(out) == n:
                return out
        print(f"corpus has {len(out)} usable photos; the rest made with Pillow")
    else:
        print("shared corpus not found (PPX_CORPUS_DIR): photos made with Pillow")
    while len(out) < n:
        b = io.BytesIO()
        data.photo_like(200 + 7 * len(out), 150 + 5 * len(out), len(out)).save(b, "JPEG",
                                                                                quality=85)
        out.append((f"made{len(out):03d}", b.getvalue()))
    return out


def add_bytes(t, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = 0
    t.addfile(info, io.BytesIO(payload))


def imagenet(root, per_class=4):
    """ext/<class>/<class>_<i>_<photo>.JPEG and train.tar holding <class>.tar of the same
    files, in the same (sorted) order."""
    ph = photos(per_class * len(CLASSES))
    ext = os.path.join(root, "ext")
    outer = tarfile.open(os.path.join(root, "train.tar"), "w", format=tarfile.USTAR_FORMAT)
    for ci, cls in enumerate(CLASSES):
        os.makedirs(os.path.join(ext, cls))
        members = sorted((f"{cls}_{i}_{name[:40]}.JPEG", payload)
                         for i, (name, payload) in enumerate(ph[ci::len(CLASSES)]))
        inner = io.BytesIO()
        with tarfile.open(fileobj=inner, mode="w", format=tarfile.USTAR_FORMAT) as t:
            for name, payload in members:
                add_bytes(t, name, payload)
                with open(os.path.join(ext, cls, name), "wb") as f:
                    f.write(payload)
        add_bytes(outer, f"{cls}.tar", inner.getvalue())
    outer.close()
    return os.path.join(root, "train.tar"), ext


def index(outdir):
    with open(os.path.join(outdir, "index.csv"), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def imagefolder_labels(root):
    """{file name: label} as torchvision's ImageFolder gives them."""
    from torchvision.datasets import ImageFolder
    ds = ImageFolder(root)
    return {os.path.basename(p): c for p, c in ds.samples}


def tar_of_tars():
    """The ImageNet layout read in place: per-image outputs, tar and npy shards equal those of
    the extracted tree (keys mapped), labels equal ImageFolder's, for any -np."""
    t = tmpdir()
    train, ext = imagenet(t)
    want = imagefolder_labels(ext)
    check(len(want) == 12 and sorted(set(want.values())) == [0, 1, 2], want)

    # Per-image outputs: OUTDIR/train/<class>/<name> == OUTDIR/<class>/<name>.
    pipe = "resize 64"
    run(["run", "-i", ext, "-o", f"{t}/e1", "-p", pipe, "-f", "jpeg", "--progress", "none"],
        check=0)
    for np_, extra in ((None, []), (3, ["--transport", "bytes"]), (2, [])):
        out = f"{t}/a1-{np_}-{len(extra)}"
        run(["run", "-i", train, "-o", out, "-p", pipe, "-f", "jpeg", "--progress", "none"]
            + extra, mpi_np=np_, check=0)
        got = {k[len("train/"):]: v for k, v in tree(out).items()}
        check(set(tree(out)) == {"train/" + k for k in tree(f"{t}/e1")},
              f"output names: {sorted(tree(out))}")
        check(got == tree(f"{t}/e1"), f"per-image outputs differ from the extracted tree's "
              f"(-np {np_} {extra})")
        a, e = comparable(report(out)), comparable(report(f"{t}/e1"))
        check(a == e, f"statistics differ: {a} vs {e}")

    # Shards: bytes identical to the extracted tree's; labels are ImageFolder's.
    for fmt, pipe, n_files in (("tar", "resize 48", 3), ("npy", "resize 32 | center-crop 32", 6)):
        ref = f"{t}/e-{fmt}"
        run(["run", "-i", ext, "-o", ref, "-p", pipe, "-f", fmt, "--shard-size", "5",
             "--progress", "none"], check=0)
        for np_, extra in ((None, []), (3, ["--transport", "bytes"])):
            out = f"{t}/a-{fmt}-{np_}"
            run(["run", "-i", train, "-o", out, "-p", pipe, "-f", fmt, "--shard-size", "5",
                 "--progress", "none"] + extra, mpi_np=np_, check=0)
            shards = {k: v for k, v in tree(out).items() if k.startswith("shard-")}
            check(len(shards) == n_files, sorted(shards))
            check(shards == {k: v for k, v in tree(ref).items() if k.startswith("shard-")},
                  f"{fmt} shards differ from the extracted tree's (-np {np_})")
            rows = index(out)
            check(len(rows) == 12, rows)
            for row in rows:
                name = row["path"].rsplit("/", 1)[1]
                check(row["path"].startswith("train.tar/n0"), row)
                check(int(row["label"]) == want[name],
                      f"{row['path']}: label {row['label']}, ImageFolder says {want[name]}")
            with open(os.path.join(out, "classes.txt"), encoding="utf-8") as f:
                check(f.read().split() == list(CLASSES), "classes.txt")
        if fmt == "npy":
            import numpy as np
            labels = np.concatenate([np.load(os.path.join(out, f"shard-{i:06d}.labels.npy"))
                                     for i in range(3)])
            check([int(x) for x in labels] == [int(r["label"]) for r in rows], "labels.npy")

    # inspect says what a run would take.
    p = run(["inspect", train], check=0)
    import json
    info = json.loads(p.stdout)
    check(info["images"] == 12 and info["inner_archives"] == 3, info)
    check(info["label_rule"] == "inner archive's name", info)
    check([(c["name"], c["images"]) for c in info["classes"]] == [(c, 4) for c in CLASSES],
          info["classes"])


def with_sidecars(src_dir, dst_dir):
    """Copies WebDataset shards adding .txt and .json members to every sample (the caption
    holds non-ASCII text and a line break). Returns {(shard, sample key): {ext: bytes}}."""
    os.makedirs(dst_dir)
    added = {}
    for name in sorted(os.listdir(src_dir)):
        if not name.endswith(".tar"):
            continue
        with tarfile.open(os.path.join(src_dir, name)) as src, \
                tarfile.open(os.path.join(dst_dir, name), "w",
                             format=tarfile.USTAR_FORMAT) as dst:
            for m in src.getmembers():
                payload = src.extractfile(m).read()
                add_bytes(dst, m.name, payload)
                key, ext = m.name.split(".", 1)
                added.setdefault((name, key), {})[ext] = payload
                if ext == "cls":
                    for side, text in (("txt", f"caption of {key}: café\nline two"),
                                       ("json", '{"key": "%s", "w": [1, 2]}' % key)):
                        b = text.encode()
                        add_bytes(dst, f"{key}.{side}", b)
                        added[(name, key)][side] = b
    return added


def webdataset_sidecars():
    """prepix's own WebDataset shards, with captions added, read back through -f tar: every
    sidecar (and the .cls) kept byte for byte under the new key; -np 1 == -np 3 --transport
    bytes; a kill -9 then --resume gives the same bytes."""
    t = tmpdir()
    data.make(os.path.join(t, "in"), n=18)
    run(["run", "-i", f"{t}/in", "-o", f"{t}/s1", "-f", "tar", "--shard-size", "5",
         "--progress", "none"], check=0)
    added = with_sidecars(f"{t}/s1", f"{t}/shards")
    check(len(added) == 18, f"{len(added)} samples")
    args = ["-i", f"{t}/shards", "-f", "tar", "-p", "resize 40", "--shard-size", "4",
            "--progress", "none", "-w", "1"]
    run(["run", "-o", f"{t}/o1"] + args, check=0)
    ref = tree(f"{t}/o1")
    rows = index(f"{t}/o1")
    check(len(rows) == 18, rows)
    shards = {}
    for row in rows:
        if row["shard"] not in shards:
            with tarfile.open(os.path.join(t, "o1", row["shard"])) as tf:
                shards[row["shard"]] = {m.name: tf.extractfile(m).read() for m in tf}
        shard_name, member = row["path"].split("/", 1)
        want = added[(shard_name, member.split(".", 1)[0])]
        members = shards[row["shard"]]
        for ext, payload in want.items():
            if ext in ("jpg", "png", "tiff"):
                continue
            got = members.get(f"{row['key']}.{ext}")
            check(got == payload, f"{row['path']}: .{ext} is {got!r}, was {payload!r}")
        check(int(row["label"]) == int(want["cls"]), f"{row}: label from .cls {want['cls']}")
    for np_ in (3,):
        out = f"{t}/o-np{np_}"
        run(["run", "-o", out, "--transport", "bytes"] + args, mpi_np=np_, check=0)
        check(tree(out) == ref, f"-np {np_} --transport bytes differs from -np 1")
        check(comparable(report(out)) == comparable(report(f"{t}/o1")), "statistics differ")

    # kill -9 while a worker hangs on the last shard, then --resume.
    out = f"{t}/killed"
    stuck = rows[-1]["path"]
    proc = spawn([MPIEXEC, "--oversubscribe", "-np", "2", PREPIX, "run", "-o", out,
                  "--timeout", "600"] + args, env={"PPX_TEST_FAULT": f"hang:{stuck}"})
    wait_stderr(proc, "hanging on")
    wait_records(out)  # committed shortly after their chunk, by a thread
    kill_tree(proc)
    p = run(["run", "-o", out, "--resume"] + args, mpi_np=2)
    check(p.returncode == 0, f"resume: exit {p.returncode} {p.stderr[-2000:]}")
    check(tree(out) == ref, "outputs differ after kill -9 + --resume")
    r = report(out)
    check(comparable(r) == comparable(report(f"{t}/o1")), "statistics differ after resume")
    check(0 < r["resumed"]["images"] < 18, f"resumed {r['resumed']}: the kill came too late "
          "or nothing was journaled before it")


def mixed_inputs():
    """Loose files and archives in one input, a folder walk and an @LIST: every image is
    listed once, archive members are keyed ARCHIVE/MEMBER, non-images are counted as
    skipped, and per-image outputs go to OUTDIR/<archive stem>/<member path>."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(os.path.join(t, "loose"), n=6)
    os.makedirs(os.path.join(inp, "sub"))
    shutil.copytree(os.path.join(t, "loose", "cat"), os.path.join(inp, "cat"))
    ph = photos(3)
    with tarfile.open(os.path.join(inp, "sub", "extra.tar"), "w") as tf:
        add_bytes(tf, "dog/a.jpg", ph[0][1])
        add_bytes(tf, "dog/a.txt", b"caption")
        add_bytes(tf, "notes.md", b"not an image")
        add_bytes(tf, "fish/b.jpg", ph[1][1])
    with open(os.path.join(inp, "README.txt"), "w") as f:
        f.write("x")
    out = f"{t}/o"
    run(["run", "-i", inp, "-o", out, "-p", "resize 32", "--progress", "none"], check=0)
    r = report(out)
    names = sorted(k for k in tree(out))
    check("sub/extra/dog/a.jpg" in names and "sub/extra/fish/b.jpg" in names, names)
    check(r["images"]["total"] == 4 and r["images"]["ok"] == 4, r["images"])
    check(r["images"]["skipped"] == 2, f"skipped: {r['images']}")  # README.txt, notes.md
    # The same through a list naming the archive and one loose file.
    lst = os.path.join(inp, "list.txt")
    with open(lst, "w") as f:
        f.write("sub/extra.tar\ncat/" + sorted(os.listdir(os.path.join(inp, "cat")))[0] + "\n")
    out2 = f"{t}/o2"
    run(["run", "-i", "@" + lst, "-o", out2, "-p", "resize 32", "--progress", "none"],
        check=0)
    got = tree(out2)
    check(set(got) == {"sub/extra/dog/a.jpg", "sub/extra/fish/b.jpg",
                       "cat/" + sorted(os.listdir(os.path.join(inp, "cat")))[0]}, sorted(got))
    for k, v in got.items():
        check(tree(out)[k] == v, f"{k}: differs between walk and list")
    # Labels: an archive below the top level is part of its first folder's class (`sub`), as
    # a loose file there would be (docs/formats.md, "Label").
    out4 = f"{t}/o4"
    run(["run", "-i", inp, "-o", out4, "-f", "tar", "--progress", "none"], check=0)
    with open(os.path.join(out4, "classes.txt"), encoding="utf-8") as f:
        names = f.read().split()
    check(names == ["cat", "sub"], f"classes.txt: {names}")
    labels = {r["path"]: int(r["label"]) for r in index(out4)}
    check(labels["sub/extra.tar/dog/a.jpg"] == 1 and labels["sub/extra.tar/fish/b.jpg"] == 1,
          labels)
    # Named in a list, the archive keeps its own rule: its first folders inside.
    out5 = f"{t}/o5"
    run(["run", "-i", "@" + lst, "-o", out5, "-f", "tar", "--progress", "none"], check=0)
    with open(os.path.join(out5, "classes.txt"), encoding="utf-8") as f:
        names = f.read().split()
    check(names == ["cat", "dog", "fish"], f"classes.txt of the list: {names}")
    out3 = f"{t}/o3"
    run(["run", "-i", "@" + lst, "-o", out3, "-p", "resize 32", "--progress", "none",
         "--transport", "bytes"], mpi_np=2, check=0)
    check(tree(out3) == got, "a list read by rank 0 (--transport bytes) gives other outputs")
    # A list naming an archive inside OUTDIR is refused like a file there.
    shutil.copy(os.path.join(inp, "sub", "extra.tar"), os.path.join(out2, "extra.tar"))
    with open(os.path.join(t, "l2.txt"), "w") as f:
        f.write("o2/extra.tar\n")
    p = run(["run", "-i", "@" + os.path.join(t, "l2.txt"), "-o", out2, "--progress", "none"])
    check(p.returncode == 2 and "inside OUTDIR" in p.stderr, f"{p.returncode} {p.stderr}")


def webp_members():
    """A WebDataset shard of WebP images (lossy and lossless, issue 15) through -f tar and
    -f npy: the same shards and arrays as the extracted files give, labels from .cls, and
    lossless members stay lossless."""
    from PIL import features
    if not features.check("webp"):
        print("SKIP: Pillow without WebP")
        raise SystemExit(77)
    t = tmpdir()
    ext = os.path.join(t, "ext", "all")
    os.makedirs(ext)
    with tarfile.open(os.path.join(t, "wds.tar"), "w", format=tarfile.USTAR_FORMAT) as tf:
        for i in range(6):
            b = io.BytesIO()
            data.photo_like(90 + 9 * i, 70 + 5 * i, 50 + i,
                            "RGBA" if i % 3 == 2 else "RGB").save(
                b, "WEBP", lossless=i % 2 == 1, quality=80)
            add_bytes(tf, f"{i:06d}.webp", b.getvalue())
            add_bytes(tf, f"{i:06d}.cls", str(i % 2).encode())
            with open(os.path.join(ext, f"{i:06d}.webp"), "wb") as f:
                f.write(b.getvalue())
    for fmt, pipe in (("tar", "resize 40"), ("npy", "resize 32 | center-crop 32")):
        a, e = f"{t}/a-{fmt}", f"{t}/e-{fmt}"
        run(["run", "-i", f"{t}/wds.tar", "-o", a, "-f", fmt, "-p", pipe, "--shard-size", "4",
             "--progress", "none"], check=0)
        run(["run", "-i", f"{t}/ext", "-o", e, "-f", fmt, "-p", pipe, "--shard-size", "4",
             "--progress", "none"], check=0)
        rows = index(a)
        check([int(r["label"]) for r in rows] == [i % 2 for i in range(6)], rows)
        if fmt == "npy":
            for name in ("shard-000000.npy", "shard-000001.npy"):
                check(tree(a)[name] == tree(e)[name], f"{name} differs from the extracted files'")
            continue
        with tarfile.open(os.path.join(a, "shard-000000.tar")) as tf:
            names = tf.getnames()
            check(names[:2] == ["000000000.webp", "000000000.cls"], names)
            for i in (1, 3):
                payload = tf.extractfile(f"{i:09d}.webp").read()
                check(b"VP8L" in payload[:40], f"member {i} lost its losslessness")
            check(tf.extractfile("000000001.cls").read() == b"1", ".cls not kept")


if __name__ == "__main__":
    raise SystemExit(main({f.__name__: f for f in (tar_of_tars, webdataset_sidecars,
                                                   mixed_inputs, webp_members)}))

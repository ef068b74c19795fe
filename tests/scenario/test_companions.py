"""Companion images (issue 23, item 1): masks travel with their images through the same
geometry. A Pascal-VOC-shaped set made from corpus photos is read back through
torchvision's VOCSegmentation and checked against torchvision's functional ops on the input
masks; WebDataset samples with jpg + seg.png + cls + txt stay one sample each."""
import io
import math
import os
import tarfile

import numpy as np
from PIL import Image

import data
from lib import (MPIEXEC, PREPIX, CORPUS, check, comparable, kill_tree, main, report, run, spawn,
                 tmpdir, tree, wait_stderr)

BASE = os.environ.get("PPX_BASE_PREPIX", "/work/base/build/dev/prepix")


def photos(n):
    """n JPEG photos (name, bytes): the corpus's (when there), else made with Pillow."""
    out = []
    manifest = os.path.join(CORPUS, "MANIFEST.tsv") if CORPUS else ""
    if manifest and os.path.exists(manifest):
        with open(manifest, encoding="utf-8") as f:
            rows = [l.rstrip("\n").split("\t") for l in f][1:]
        for r in rows:
            if (r[0].startswith("jpeg/") and r[9] == "decode OK" and int(r[5]) < 1_000_000
                    and 100_000 < int(r[3]) * int(r[4]) < 2_000_000):
                with open(os.path.join(CORPUS, r[0]), "rb") as fh:
                    payload = fh.read()
                # Masks are made in the stored frame; keep to upright photos here so that
                # the reference below (torchvision on PIL) needs no EXIF handling.
                if Image.open(io.BytesIO(payload)).getexif().get(0x0112, 1) != 1:
                    continue
                out.append((f"p{len(out):03d}", payload))
            if len(out) == n:
                return out
    while len(out) < n:
        b = io.BytesIO()
        data.photo_like(300 + 7 * len(out), 240 + 5 * len(out), len(out)).save(b, "JPEG",
                                                                                quality=85)
        out.append((f"m{len(out):03d}", b.getvalue()))
    return out


def voc_palette():
    """VOC's colour map (bitwise, as the devkit's labelcolormap)."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def voc_mask(w, h, seed):
    """A palette mask: a few class blobs (ids 1..20) with 255 "void" borders, 0 around."""
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(3):
        cx, cy = rng.integers(0, w), rng.integers(0, h)
        r = rng.integers(min(w, h) // 8, min(w, h) // 3)
        d = np.hypot(xx - cx, yy - cy)
        m[d < r + 3] = 255
        m[d < r] = rng.integers(1, 21)
    im = Image.fromarray(m, "P")
    im.putpalette(voc_palette())
    return im


def make_voc(root, n=10):
    """root/VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,ImageSets/Segmentation}."""
    voc = os.path.join(root, "VOCdevkit", "VOC2012")
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        os.makedirs(os.path.join(voc, d))
    names = []
    for i, (name, payload) in enumerate(photos(n)):
        with open(os.path.join(voc, "JPEGImages", name + ".jpg"), "wb") as f:
            f.write(payload)
        w, h = Image.open(io.BytesIO(payload)).size
        voc_mask(w, h, i).save(os.path.join(voc, "SegmentationClass", name + ".png"))
        names.append(name)
    with open(os.path.join(voc, "ImageSets", "Segmentation", "train.txt"), "w") as f:
        f.write("".join(n_ + "\n" for n_ in names))
    return voc, names


def voc_view(root, outdir, voc_in):
    """A VOC tree over prepix's outputs (images in OUTDIR, masks in OUTDIR/SegmentationClass)
    for VOCSegmentation to read."""
    v = os.path.join(root, "VOCdevkit", "VOC2012")
    os.makedirs(v)
    os.symlink(outdir, os.path.join(v, "JPEGImages"))
    os.symlink(os.path.join(outdir, "SegmentationClass"), os.path.join(v, "SegmentationClass"))
    os.symlink(os.path.join(voc_in, "ImageSets"), os.path.join(v, "ImageSets"))
    return root


# ---- The documented generator (docs/pipeline.md, "Randomness"), as an independent reference.
M64 = (1 << 64) - 1


def splitmix(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


class Rng:
    def __init__(self, seed, key):
        h = 0xCBF29CE484222325
        for b in key.encode():
            h = ((h ^ b) * 0x100000001B3) & M64
        x, z = splitmix(seed)
        x = z ^ h
        self.s = []
        for _ in range(4):
            x, z = splitmix(x)
            self.s.append(z)

    def next(self):
        s = self.s
        rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & M64
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53

    def below(self, n):
        if n <= 1:
            return 0
        threshold = (-n) % (1 << 64) % n
        while True:
            r = self.next()
            if r >= threshold:
                return r % n


def crop_box(rng, w, h, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision's RandomResizedCrop.get_params with the generator above: (top, left, h, w)."""
    area = w * h
    lr = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * (scale[0] + (scale[1] - scale[0]) * rng.uniform())
        aspect = math.exp(lr[0] + (lr[1] - lr[0]) * rng.uniform())
        cw = round(math.sqrt(target * aspect))
        ch = round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            top = rng.below(h - ch + 1)
            left = rng.below(w - cw + 1)
            return top, left, ch, cw
    r = w / h
    if r < ratio[0]:
        cw, ch = w, min(h, round(w / ratio[0]))
    elif r > ratio[1]:
        ch, cw = h, min(w, round(h * ratio[1]))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def check_masks(view_root, names, ref_of):
    """Every output mask read through VOCSegmentation equals ref_of(name) pixel for pixel,
    as a palette image with VOC's palette."""
    from torchvision.datasets import VOCSegmentation
    ds = VOCSegmentation(view_root, year="2012", image_set="train")
    check(len(ds) == len(names), f"{len(ds)} samples")
    pal = voc_palette()
    for i, name in enumerate(names):
        img, mask = ds[i]
        check(mask.mode == "P", f"{name}: mask mode {mask.mode}, expected P (palette)")
        check(mask.getpalette()[:len(pal)] == pal[:len(mask.getpalette())],
              f"{name}: palette changed")
        want = ref_of(name)
        got = np.asarray(mask)
        check(img.size == mask.size, f"{name}: image {img.size}, mask {mask.size}")
        check(got.shape == want.shape, f"{name}: mask {got.shape}, expected {want.shape}")
        bad = np.argwhere(got != want)
        check(len(bad) == 0, f"{name}: {len(bad)} pixels differ, first at {bad[:3].tolist()}")
        check((got == 255).any(), f"{name}: no 255 (void) pixel kept")


def images_unchanged(out, ref):
    """The images equal today's outputs (the run without --with), byte for byte."""
    got = {k: v for k, v in tree(out).items() if not k.startswith("SegmentationClass/")}
    check(got == tree(ref), "images differ from the run without companions")


def voc_resize_crop():
    """resize 256 | center-crop 224: every mask equals torchvision's resize(NEAREST) +
    center_crop of the input mask; images as without companions; -np 1 == -np 3."""
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode
    t = tmpdir()
    voc, names = make_voc(t)
    pipe = "resize 256 | center-crop 224"
    with_ = ["--with", f"SegmentationClass={voc}/SegmentationClass,fill=255"]
    args = ["-i", f"{voc}/JPEGImages", "-p", pipe, "--progress", "none"]
    run(["run", "-o", f"{t}/out"] + args + with_, check=0)
    run(["run", "-o", f"{t}/ref"] + args, check=0)
    images_unchanged(f"{t}/out", f"{t}/ref")
    if os.path.exists(BASE):
        import subprocess
        subprocess.run([BASE, "run", "-o", f"{t}/base"] + args, check=True, capture_output=True)
        check(tree(f"{t}/ref") == tree(f"{t}/base"), "images differ from today's main")

    def ref_of(name):
        m = Image.open(f"{voc}/SegmentationClass/{name}.png")
        m = F.resize(m, 256, InterpolationMode.NEAREST)
        return np.asarray(F.center_crop(m, 224))

    check_masks(voc_view(f"{t}/view", f"{t}/out", voc), names, ref_of)
    r = report(f"{t}/out")
    check(r["images"]["total"] == len(names) and r["images"]["ok"] == len(names), r["images"])
    check(comparable(r)["channel_stats"] == comparable(report(f"{t}/ref"))["channel_stats"],
          "masks counted in the statistics")
    run(["run", "-o", f"{t}/np3"] + args + with_, mpi_np=3, check=0)
    check(tree(f"{t}/np3") == tree(f"{t}/out"), "-np 3 differs from -np 1")


def voc_random():
    """random-crop 224 | flip h p=0.5 with a seed: every mask equals torchvision's
    resized_crop(NEAREST) (+ hflip) with the documented generator's draws for that key."""
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode
    t = tmpdir()
    voc, names = make_voc(t)
    pipe = "random-crop 224 | flip h p=0.5"
    args = ["-i", f"{voc}/JPEGImages", "-p", pipe, "--seed", "7", "--progress", "none",
            "--with", f"SegmentationClass={voc}/SegmentationClass"]
    run(["run", "-o", f"{t}/out"] + args, check=0)
    flips = []

    def ref_of(name):
        m = Image.open(f"{voc}/SegmentationClass/{name}.png")
        rng = Rng(7, name + ".jpg")
        top, left, h, w = crop_box(rng, m.width, m.height)
        m = F.resized_crop(m, top, left, h, w, [224, 224], InterpolationMode.NEAREST)
        if rng.uniform() < 0.5:
            flips.append(name)
            m = F.hflip(m)
        return np.asarray(m)

    check_masks(voc_view(f"{t}/view", f"{t}/out", voc), names, ref_of)
    check(0 < len(flips) < len(names), f"flips {flips}: the coin never varied")
    run(["run", "-o", f"{t}/ref", "-i", f"{voc}/JPEGImages", "-p", pipe, "--seed", "7",
         "--progress", "none"], check=0)
    images_unchanged(f"{t}/out", f"{t}/ref")
    run(["run", "-o", f"{t}/np3", "-w", "1"] + args, mpi_np=3, check=0)
    check(tree(f"{t}/np3") == tree(f"{t}/out"), "-np 3 -w 1 differs from -np 1")


def failures():
    """A missing companion and a mis-sized one fail their images with a reason naming the
    role; `optional` lets the missing one through; a 16-bit grey map keeps its values."""
    t = tmpdir()
    inp, masks = f"{t}/in", f"{t}/masks"
    os.makedirs(f"{inp}/a")
    os.makedirs(f"{masks}/a")
    for i in range(4):
        data.photo_like(120, 90, i).save(f"{inp}/a/x{i}.jpg", quality=90)
    Image.fromarray((np.arange(120 * 90, dtype=np.uint16).reshape(90, 120) * 7)).save(
        f"{masks}/a/x0.png")
    Image.new("L", (90, 120)).save(f"{masks}/a/x1.tif")          # turned: wrong size
    Image.new("L", (120, 90), 3).save(f"{masks}/a/x2.tiff")
    args = ["run", "-i", inp, "-p", "resize 60", "--progress", "none"]
    p = run(args + ["-o", f"{t}/o1", "--with", f"depth={masks}"], check=3)
    fails = {os.path.relpath(f["path"], inp): f for f in report(f"{t}/o1")["failures"]}
    check(sorted(fails) == ["a/x1.jpg", "a/x3.jpg"], fails)
    check("companion depth" in fails["a/x1.jpg"]["error"] and "90x120" in
          fails["a/x1.jpg"]["error"], fails["a/x1.jpg"])
    check("companion depth: no" in fails["a/x3.jpg"]["error"], fails["a/x3.jpg"])
    check(not os.path.exists(f"{t}/o1/a/x3.jpg") and not os.path.exists(f"{t}/o1/a/x1.jpg"),
          "a failed image was written")
    got = np.asarray(Image.open(f"{t}/o1/depth/a/x0.png"))
    src = np.asarray(Image.open(f"{masks}/a/x0.png"))
    # resize 60: 80x60; PIL's NEAREST samples floor((x + 0.5) * in / out).
    ys = np.floor((np.arange(60) + 0.5) * 90 / 60).astype(int)
    xs = np.floor((np.arange(80) + 0.5) * 120 / 80).astype(int)
    check(got.dtype == np.uint16 or Image.open(f"{t}/o1/depth/a/x0.png").mode.startswith("I"),
          "16-bit map not kept 16-bit")
    check(np.array_equal(got.astype(np.int64), src[np.ix_(ys, xs)].astype(np.int64)),
          "16-bit label values not kept by nearest")
    p = run(args + ["-o", f"{t}/o2", "--with", f"depth={masks},optional"], check=3)
    fails = [os.path.relpath(f["path"], inp) for f in report(f"{t}/o2")["failures"]]
    check(fails == ["a/x1.jpg"], fails)
    check(os.path.exists(f"{t}/o2/a/x3.jpg") and not os.path.exists(f"{t}/o2/depth/a/x3.png"),
          "optional: the image is written, no companion")
    for bad in ("depth", "depth,optional", "png=/x", "a/b=/x", f"d={masks},kind=nope", f"d={masks},fill=70000",
                "d=", "cls=/x"):
        p = run(args + ["-o", f"{t}/o3", "--with", bad], check=2)
        check("--with" in p.stderr, p.stderr)
    p = run(args + ["-o", f"{masks}/out", "--with", f"d={masks}"], check=2)
    check("overlap" in p.stderr, p.stderr)
    # OUTDIR/a/ holds the images of INPUT/a/: a role named a would write there too.
    p = run(args + ["-o", f"{t}/o4", "--with", f"a={masks}"], check=2)
    check("INPUT has a folder a" in p.stderr and not os.path.exists(f"{t}/o4/a"), p.stderr)


def wds_groups(path):
    """A tar shard's samples as webdataset groups them: consecutive members sharing the
    name up to the first dot of the base name; {key: {ext: bytes}} in order."""
    out = {}
    with tarfile.open(path) as tf:
        last = None
        for m in tf:
            d, base = os.path.split(m.name)
            stem, ext = base.split(".", 1)
            key = os.path.join(d, stem)
            if key != last:
                check(key not in out, f"{path}: sample {key} split in two")
                out[key] = {}
                last = key
            out[key][ext] = tf.extractfile(m).read()
    return out


def make_wds(root, n=9, shard=4):
    """WebDataset shards of jpg + seg.png (palette, 255 borders) + cls + txt."""
    os.makedirs(root)
    samples = {}
    ph = photos(n)
    for s0 in range(0, n, shard):
        with tarfile.open(f"{root}/train-{s0 // shard:02d}.tar", "w",
                          format=tarfile.USTAR_FORMAT) as tf:
            for i in range(s0, min(n, s0 + shard)):
                name, payload = ph[i]
                w, h = Image.open(io.BytesIO(payload)).size
                b = io.BytesIO()
                voc_mask(w, h, 100 + i).save(b, "PNG")
                members = {"jpg": payload, "seg.png": b.getvalue(),
                           "cls": str(i % 3).encode(), "txt": f"caption {i}".encode()}
                key = f"s{i:04d}"
                for ext in ("cls", "jpg", "seg.png", "txt"):
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size = len(members[ext])
                    tf.addfile(info, io.BytesIO(members[ext]))
                samples[key] = members
    return samples


def webdataset():
    """jpg + seg.png + cls + txt samples through -f tar --with seg: one sample out per
    sample in, the mask transformed as torchvision's resize(NEAREST) + center_crop, its
    palette kept, the sidecars byte for byte, the statistics of the images alone; -np 3 the
    same. Without --with seg the masks are left out (said), never samples of their own."""
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode
    t = tmpdir()
    samples = make_wds(f"{t}/in")
    args = ["-i", f"{t}/in", "-f", "tar", "-p", "resize 64 | center-crop 56", "--shard-size",
            "5", "--progress", "none"]
    run(["run", "-o", f"{t}/o1", "--with", "seg"] + args, check=0)
    got = {}
    for shard in sorted(f for f in os.listdir(f"{t}/o1") if f.endswith(".tar")):
        got.update(wds_groups(f"{t}/o1/{shard}"))
    with open(f"{t}/o1/index.csv", encoding="utf-8") as f:
        rows = {r.split(",")[0]: r.rstrip("\n").split(",")[3] for r in list(f)[1:]}
    check(len(got) == len(samples) == len(rows), f"{len(got)} samples out of {len(samples)}")
    for key, members in got.items():
        src = os.path.basename(rows[key]).split(".", 1)[0]
        want = samples[src]
        check(sorted(members) == ["cls", "jpg", "seg.png", "txt"], f"{key}: {sorted(members)}")
        check(members["txt"] == want["txt"] and members["cls"] == want["cls"],
              f"{key}: sidecars changed")
        mask = Image.open(io.BytesIO(members["seg.png"]))
        ref = F.center_crop(F.resize(Image.open(io.BytesIO(want["seg.png"])), 64,
                                     InterpolationMode.NEAREST), 56)
        check(mask.mode == "P" and mask.getpalette() == ref.getpalette(),
              f"{key}: mask {mask.mode}, palette kept: {mask.getpalette() == ref.getpalette()}")
        check(np.array_equal(np.asarray(mask), np.asarray(ref)), f"{key}: mask differs")
        check(Image.open(io.BytesIO(members["jpg"])).size == mask.size, f"{key}: sizes")
    r = report(f"{t}/o1")
    check(r["images"]["total"] == len(samples) and r["images"]["ok"] == len(samples),
          r["images"])
    check([g["images"] for g in r["channel_stats"]] == [len(samples)], r["channel_stats"])
    run(["run", "-o", f"{t}/np3", "--with", "seg"] + args, mpi_np=3, check=0)
    check(tree(f"{t}/np3") == tree(f"{t}/o1"), "-np 3 differs from -np 1")

    # No --with seg: the masks are no samples of their own (today they were).
    run(["run", "-o", f"{t}/o2"] + args, check=0)
    r = report(f"{t}/o2")
    check(r["images"]["total"] == len(samples), f"{r['images']}: masks taken as samples")
    check(any("companions of no --with role" in w for w in r["warnings"]), r["warnings"])
    for shard in (f for f in os.listdir(f"{t}/o2") if f.endswith(".tar")):
        for key, members in wds_groups(f"{t}/o2/{shard}").items():
            check("seg.png" not in members, f"{key}: an untransformed mask was copied")


def npy():
    """-f npy: shard-N.ROLE.npy, N x H x W uint8, row-aligned with shard-N.npy, each row
    torchvision's resize(NEAREST) + center_crop of its mask; --resume after a finished run
    changes nothing."""
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode
    t = tmpdir()
    voc, names = make_voc(t, n=7)
    args = ["-i", f"{voc}/JPEGImages", "-f", "npy", "-p", "resize 48 | center-crop 40",
            "--shard-size", "3", "--progress", "none", "--with",
            f"SegmentationClass={voc}/SegmentationClass,fill=255"]
    run(["run", "-o", f"{t}/o1"] + args, check=0)
    with open(f"{t}/o1/index.csv", encoding="utf-8") as f:
        rows = [r.rstrip("\n").split(",") for r in list(f)[1:]]
    seen = 0
    for sid in range(3):
        img = np.load(f"{t}/o1/shard-{sid:06d}.npy")
        m = np.load(f"{t}/o1/shard-{sid:06d}.SegmentationClass.npy")
        check(m.dtype == np.uint8 and m.shape == img.shape[:3], f"{m.dtype} {m.shape}")
        for j in range(len(m)):
            name = rows[seen][3].rsplit(".", 1)[0]
            ref = F.center_crop(F.resize(Image.open(f"{voc}/SegmentationClass/{name}.png"), 48,
                                         InterpolationMode.NEAREST), 40)
            check(np.array_equal(m[j], np.asarray(ref)), f"shard {sid} row {j} ({name})")
            seen += 1
    check(seen == len(names), f"{seen} rows")
    before = tree(f"{t}/o1")
    run(["run", "-o", f"{t}/o1", "--resume"] + args, check=0)
    check(tree(f"{t}/o1") == before, "--resume changed the outputs")
    # kill -9 while a worker hangs on the last image, then --resume: the same bytes.
    out = f"{t}/killed"
    proc = spawn([MPIEXEC, "--oversubscribe", "-np", "2", PREPIX, "run", "-o", out,
                  "--timeout", "600"] + args, env={"PPX_TEST_FAULT": f"hang:{rows[-1][3]}"})
    wait_stderr(proc, "hanging on")
    kill_tree(proc)
    p = run(["run", "-o", out, "--resume"] + args, mpi_np=2)
    check(p.returncode == 0, f"resume: exit {p.returncode} {p.stderr[-2000:]}")
    check(tree(out) == before, "outputs differ after kill -9 + --resume")
    check(report(out)["images"]["ok"] == len(names), report(out)["images"])
    run(["run", "-o", f"{t}/np3"] + args, mpi_np=3, check=0)
    check(tree(f"{t}/np3") == before, "-np 3 differs from -np 1")


def kind_image_exif():
    """kind=image resamples with the pipeline's filter (Pillow's LANCZOS, which prepix's 8-bit
    resize equals) and no colour op; a companion follows its image's EXIF orientation (6 and
    8) though it has none itself; a truncated companion fails its image at stage decode."""
    t = tmpdir()
    inp, dep, seg = f"{t}/in", f"{t}/depth", f"{t}/seg"
    for d in (inp, dep, seg):
        os.makedirs(d)
    rng = np.random.default_rng(5)
    for i, orient in enumerate((1, 6, 8)):
        img = data.photo_like(160, 120, i)
        ex = Image.Exif()
        ex[0x0112] = orient
        img.save(f"{inp}/x{i}.jpg", quality=90, exif=ex.tobytes())
        Image.fromarray(rng.integers(0, 256, (120, 160), dtype=np.uint8), "L").save(
            f"{dep}/x{i}.png")
        Image.fromarray(rng.integers(0, 30, (120, 160), dtype=np.uint8), "L").save(
            f"{seg}/x{i}.png")
    with open(f"{inp}/x3.jpg", "wb") as f:
        f.write(open(f"{inp}/x0.jpg", "rb").read())
    with open(f"{dep}/x3.png", "wb") as f:
        f.write(open(f"{dep}/x0.png", "rb").read()[:300])
    Image.open(f"{seg}/x0.png").save(f"{seg}/x3.png")
    run(["run", "-i", inp, "-o", f"{t}/o", "-p", "autorotate | grayscale | resize 60 | flip h",
         "--with", f"depth={dep},kind=image", "--with", f"seg={seg}", "--progress", "none"],
        check=3)
    fails = {os.path.relpath(f["path"], inp): f for f in report(f"{t}/o")["failures"]}
    check(list(fails) == ["x3.jpg"] and fails["x3.jpg"]["stage"] == "decode" and
          "companion depth" in fails["x3.jpg"]["error"], fails)
    turn = {1: None, 6: Image.Transpose.ROTATE_270, 8: Image.Transpose.ROTATE_90}
    for i, orient in enumerate((1, 6, 8)):
        out = Image.open(f"{t}/o/x{i}.jpg")
        for role, resample in (("depth", Image.Resampling.LANCZOS),
                               ("seg", Image.Resampling.NEAREST)):
            m = Image.open(f"{(dep if role == 'depth' else seg)}/x{i}.png")
            if turn[orient] is not None:
                m = m.transpose(turn[orient])
            w, h = m.size
            size = (60, 60 * h // w) if w <= h else (60 * w // h, 60)
            want = m.resize(size, resample).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            got = Image.open(f"{t}/o/{role}/x{i}.png")
            check(got.size == out.size == want.size, f"x{i} {role}: {got.size} {want.size}")
            check(np.array_equal(np.asarray(got), np.asarray(want)),
                  f"x{i} (EXIF {orient}) {role}: differs from Pillow's")


if __name__ == "__main__":
    raise SystemExit(main({f.__name__: f for f in (voc_resize_crop, voc_random, failures,
                                                   webdataset, npy, kind_image_exif)}))

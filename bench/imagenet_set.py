#!/usr/bin/python3
"""An ImageNet-shaped set of JPEGs made from the corpus photos (issue 26).

    imagenet_set.py CORPUS OUTDIR [-n 500]

ImageNet's training photos are small baseline JPEGs, most of them 500 px on the longer side
(500x375 and 500x333 landscape, 375x500 and 333x500 portrait, some square), quality 75-95,
4:2:0. The corpus's JPEGs are bigger and 17 of them progressive, which makes a different
workload: decode dominates, and DCT scaling applies. This script makes N such files from the
corpus's colour (RGB) photos whose shorter side is at least 375 (76 of them; ImageNet is about
98% colour, the corpus's gray photos would make a quarter of the set): each cropped centrally
to one of the shapes below (drawn with their weights), resized by Pillow (Lanczos) and saved
as a baseline JPEG at a quality drawn from 75..95, without EXIF. Deterministic: the same
corpus gives the same files (seeded draws, one fixed Pillow), so runs on one machine compare.

Files are OUTDIR/imgNNNN_<photo>.jpg; OUTDIR/.complete marks a finished set.
"""
import argparse
import multiprocessing
import os
import random
import sys

# (width, height, weight): the common sizes of ILSVRC-2012's train set, roughly in its
# proportions (500x375 alone is about half of it).
SHAPES = [(500, 375, 50), (375, 500, 15), (500, 333, 15), (333, 500, 5), (500, 500, 8),
          (500, 400, 7)]
QUALITY = (75, 95)
SEED = 26


def sources(corpus):
    from PIL import Image

    d = os.path.join(corpus, "jpeg")
    out = []
    for n in sorted(os.listdir(d)):
        if not n.lower().endswith((".jpg", ".jpeg")):
            continue
        p = os.path.join(d, n)
        with Image.open(p) as im:
            if im.mode == "RGB" and min(im.size) >= 375:
                out.append(p)
    return out


def plan(srcs, n):
    """(source, width, height, quality, name) for each of the N files."""
    rng = random.Random(SEED)
    weights = [s[2] for s in SHAPES]
    jobs = []
    for i in range(n):
        src = srcs[i % len(srcs)]
        w, h, _ = rng.choices(SHAPES, weights)[0]
        q = rng.randint(*QUALITY)
        base = os.path.splitext(os.path.basename(src))[0]
        jobs.append((src, w, h, q, "img%04d_%s.jpg" % (i, base)))
    return jobs


def make_one(job, outdir):
    from PIL import Image, ImageOps

    src, w, h, q, name = job
    with Image.open(src) as im:
        im = ImageOps.exif_transpose(im)
        # Centre crop to the target's aspect ratio, then Lanczos to the target size.
        sw, sh = im.size
        if sw * h > sh * w:
            cw, ch = sh * w // h, sh
        else:
            cw, ch = sw, sw * h // w
        x, y = (sw - cw) // 2, (sh - ch) // 2
        im = im.crop((x, y, x + cw, y + ch)).resize((w, h), Image.LANCZOS)
        im.save(os.path.join(outdir, name), quality=q, progressive=False, optimize=False,
                subsampling="4:2:0")


def _make(args):
    make_one(*args)


def make(corpus, outdir, n=500):
    """Makes the set in OUTDIR unless it is complete; returns OUTDIR. The work runs in a pool
    so that the caller's peak RSS (which every tool it forks starts from) stays small."""
    stamp = os.path.join(outdir, ".complete")
    if os.path.exists(stamp):
        return outdir
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        os.unlink(os.path.join(outdir, f))
    jobs = plan(sources(corpus), n)
    with multiprocessing.Pool(len(os.sched_getaffinity(0))) as pool:
        pool.map(_make, [(j, outdir) for j in jobs], chunksize=8)
    open(stamp, "w").close()
    return outdir


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus")
    ap.add_argument("outdir")
    ap.add_argument("-n", type=int, default=500)
    a = ap.parse_args()
    make(a.corpus, a.outdir, a.n)
    print(a.outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

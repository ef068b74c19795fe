#!/usr/bin/python3
"""Pillow peers of the prepix benchmarks, written as a plain script would be.

    peer_pillow.py WORKLOAD [--draft] -j N -i INDIR [-o OUTDIR]

WORKLOAD is one of
  thumb224   EXIF transpose, shorter side 224 (lanczos), centre crop 224, JPEG q90
             (also the webp224 workload: the same on WebP inputs, which Pillow decodes
             in full: it has no draft for WebP)
  imagenet   shorter side 256 (lanczos), centre crop 224, JPEG q90 (torchvision's evaluation
             transform; no EXIF transpose, as `resize 256 | center-crop 224` has no autorotate)
  big1024    longer side 1024 (lanczos), JPEG q90
  tiff-half  50% (lanczos), TIFF LZW
  stats      per-channel mean/std (numpy), per channel count; prints JSON
--draft asks libjpeg (through Image.draft) for the smallest DCT scale that
still covers the resize target: Pillow's shrink-on-load.
--tar FILE (thumb224, imagenet) writes the JPEGs into one tar instead of files, as a
WebDataset shard writer does: KKKKKKKKK.jpg and KKKKKKKKK.cls (label -1) per image, in
listing order; the workers encode, the parent writes.

Work is spread over a multiprocessing.Pool of N processes, one image per
task, as a dataset script would do it. Exit status 1 when any image failed
(each failure is printed on stderr).
"""
import argparse
import io
import json
import os
import sys
import tarfile
from multiprocessing import Pool

from PIL import Image, ImageOps

ARGS = None


def _target(workload, w, h):
    """Resize target size for an image of w x h (upright frame)."""
    if workload == "thumb224":
        s = 224
        if w <= h:
            return s, int(s * h / w)
        return int(s * w / h), s
    if workload == "imagenet":
        s = 256
        if w <= h:
            return s, int(s * h / w)
        return int(s * w / h), s
    if workload == "big1024":
        s = 1024
        if w >= h:
            return s, max(1, int(s * h / w))
        return max(1, int(s * w / h)), s
    return max(1, w // 2), max(1, h // 2)


def _one(path):
    a = ARGS
    src = os.path.join(a.input, path)
    try:
        with Image.open(src) as im:
            if a.draft and im.format == "JPEG":
                # Orientation does not change which DCT scale covers the
                # target: both sides scale alike.
                im.draft(None, _target(a.workload, *im.size))
            if a.workload == "stats":
                return _stats(im)
            if a.workload in ("thumb224",):
                im = ImageOps.exif_transpose(im)
            if im.mode not in ("L", "RGB", "RGBA", "LA"):
                im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
            tw, th = _target(a.workload, *im.size)
            im = im.resize((tw, th), Image.LANCZOS)
            base = os.path.splitext(path)[0]
            if a.workload in ("thumb224", "imagenet"):
                left = int(round((tw - 224) / 2.0))
                top = int(round((th - 224) / 2.0))
                im = im.crop((left, top, left + 224, top + 224))
            if a.workload == "tiff-half":
                im.save(os.path.join(a.output, base + ".tif"), compression="tiff_lzw")
            else:
                if im.mode in ("RGBA", "LA"):
                    im = im.convert("RGB")
                if a.tar:
                    b = io.BytesIO()
                    im.save(b, format="JPEG", quality=90)
                    return ("jpg", path, b.getvalue())
                im.save(os.path.join(a.output, base + ".jpg"), quality=90)
        return None
    except Exception as e:  # a failure is data: count it, go on
        return ("err", path, str(e))


def _stats(im):
    import numpy as np

    if im.mode not in ("L", "RGB", "RGBA", "LA"):
        im = im.convert("RGB")
    a = np.asarray(im)
    c = 1 if a.ndim == 2 else a.shape[2]
    px = a.reshape(-1, c).astype(np.float64)
    return ("ok", c, px.sum(0), (px * px).sum(0), px.shape[0])


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("workload", choices=["thumb224", "imagenet", "big1024", "tiff-half", "stats"])
    p.add_argument("--draft", action="store_true")
    p.add_argument("-j", type=int, default=os.cpu_count())
    p.add_argument("-i", dest="input", required=True)
    p.add_argument("-o", dest="output")
    p.add_argument("--tar")
    ARGS = p.parse_args()
    if ARGS.output:
        os.makedirs(ARGS.output, exist_ok=True)
    names = sorted(
        n for n in os.listdir(ARGS.input)
        if n.lower().endswith((".jpg", ".jpeg", ".tif", ".tiff", ".png", ".webp"))
    )
    failed = 0
    acc = {}
    tar = tarfile.open(ARGS.tar, "w", format=tarfile.USTAR_FORMAT) if ARGS.tar else None
    key = 0
    with Pool(ARGS.j) as pool:
        # A tar keeps the listing's order (imap); files are written in any order.
        it = pool.imap(_one, names, chunksize=4) if tar else \
            pool.imap_unordered(_one, names, chunksize=4)
        for r in it:
            if r is None:
                continue
            if r[0] == "jpg":
                for ext, data in (("jpg", r[2]), ("cls", b"-1")):
                    ti = tarfile.TarInfo("%09d.%s" % (key, ext))
                    ti.size = len(data)
                    tar.addfile(ti, io.BytesIO(data))
                key += 1
                continue
            if r[0] == "err":
                failed += 1
                print("peer_pillow: %s: %s" % (r[1], r[2]), file=sys.stderr)
                continue
            _, c, s, sq, n = r
            g = acc.setdefault(c, [0.0 * s, 0.0 * sq, 0, 0])
            g[0] = g[0] + s
            g[1] = g[1] + sq
            g[2] += n
            g[3] += 1
    if tar:
        tar.close()
    if ARGS.workload == "stats":
        out = []
        for c, (s, sq, n, images) in sorted(acc.items()):
            mean = s / n
            std = (sq / n - mean * mean) ** 0.5
            out.append({"channels": c, "images": images,
                        "mean": [round(float(m) / 255, 4) for m in mean],
                        "std": [round(float(v) / 255, 4) for v in std]})
        print(json.dumps(out))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

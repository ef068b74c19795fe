#!/usr/bin/python3
"""OpenCV peer of the prepix benchmarks, written as a plain script would be.

    peer_opencv.py imagenet [--interp area|linear|cubic|lanczos4] -j N -i INDIR
                   (-o OUTDIR | --tar FILE)

imagenet: cv2.imread (libjpeg-turbo, 8-bit BGR), shorter side to 256 (torchvision's size rule),
centre crop 224 (torchvision's offsets), cv2.imencode JPEG q90. The default interpolation is
INTER_AREA, OpenCV's advice for shrinking (it averages like an antialiased filter; INTER_LINEAR
and INTER_LANCZOS4 sample a fixed kernel whatever the scale, which aliases).

Work is spread over a multiprocessing.Pool of N processes, one image per task, each with
cv2.setNumThreads(1) (N processes on N cores; OpenCV's own threads would oversubscribe them).
--tar FILE writes KKKKKKKKK.jpg and KKKKKKKKK.cls (label -1) per image into one tar, in listing
order, as a WebDataset shard writer does: the workers encode, the parent writes. Exit status 1
when any image failed (each failure is printed on stderr).
"""
import argparse
import io
import os
import sys
import tarfile
from multiprocessing import Pool

import cv2

ARGS = None
INTERP = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC,
          "lanczos4": cv2.INTER_LANCZOS4}


def _init():
    cv2.setNumThreads(1)


def _one(path):
    a = ARGS
    try:
        img = cv2.imread(os.path.join(a.input, path), cv2.IMREAD_COLOR)
        if img is None:
            return ("err", path, "cv2.imread failed")
        h, w = img.shape[:2]
        if w <= h:
            tw, th = 256, int(256 * h / w)
        else:
            tw, th = int(256 * w / h), 256
        img = cv2.resize(img, (tw, th), interpolation=INTERP[a.interp])
        left = int(round((tw - 224) / 2.0))
        top = int(round((th - 224) / 2.0))
        img = img[top:top + 224, left:left + 224]
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            return ("err", path, "cv2.imencode failed")
        if a.tar:
            return ("jpg", path, buf.tobytes())
        with open(os.path.join(a.output, os.path.splitext(path)[0] + ".jpg"), "wb") as f:
            f.write(buf.tobytes())
        return None
    except Exception as e:  # a failure is data: count it, go on
        return ("err", path, str(e))


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("workload", choices=["imagenet"])
    p.add_argument("--interp", choices=sorted(INTERP), default="area")
    p.add_argument("-j", type=int, default=os.cpu_count())
    p.add_argument("-i", dest="input", required=True)
    p.add_argument("-o", dest="output")
    p.add_argument("--tar")
    ARGS = p.parse_args()
    if not ARGS.tar and not ARGS.output:
        p.error("-o or --tar is needed")
    if ARGS.output:
        os.makedirs(ARGS.output, exist_ok=True)
    names = sorted(
        n for n in os.listdir(ARGS.input)
        if n.lower().endswith((".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"))
    )
    failed = 0
    tar = tarfile.open(ARGS.tar, "w", format=tarfile.USTAR_FORMAT) if ARGS.tar else None
    key = 0
    with Pool(ARGS.j, initializer=_init) as pool:
        it = pool.imap(_one, names, chunksize=4) if tar else \
            pool.imap_unordered(_one, names, chunksize=4)
        for r in it:
            if r is None:
                continue
            if r[0] == "err":
                failed += 1
                print("peer_opencv: %s: %s" % (r[1], r[2]), file=sys.stderr)
                continue
            for ext, data in (("jpg", r[2]), ("cls", b"-1")):
                ti = tarfile.TarInfo("%09d.%s" % (key, ext))
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
            key += 1
    if tar:
        tar.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

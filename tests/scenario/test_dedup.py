"""Duplicates (issue 24): fingerprints against an independent numpy/scipy implementation of
imagehash's phash, groups of a set of variants made at test time, the same groups for any
-np, -w, transport and after kill -9 + --resume, --exclude, and leaks between named splits."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from lib import (CORPUS, PREPIX, Skip, check, corpus, main, run, tmpdir)  # noqa: E402


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
    check(compared >= 200, "only %d corpus images compared" % compared)


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (phash_scipy,)}))

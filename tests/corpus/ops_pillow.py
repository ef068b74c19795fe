"""Corpus tests of the transform ops against independent implementations.

Usage: ops_pillow.py CASE   (run by tests/corpus/ops_pillow.sh under CTest)

Photos of the shared corpus are decoded with Pillow (not with prepix's
codecs, which live in other branches), written as PNM, run through
ppx_optool, and compared with Pillow's Image.resize / convert / ImageOps,
numpy, or torchvision's formulas. Exit 0 pass, 1 fail, 77 skip (corpus,
Pillow or numpy absent)."""
import os
import subprocess
import sys
import tempfile

SKIP = 77

try:
    import numpy as np
    from PIL import Image, ImageOps
except ImportError as e:  # a CI image without python3-pil / python3-numpy
    print("SKIP: needs Pillow and numpy (%s)" % e)
    sys.exit(SKIP)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_pnm  # noqa: E402

CORPUS = os.environ.get("PPX_CORPUS_DIR", "")
BUILD = os.environ.get("PPX_BUILD_DIR", "")
OPTOOL = os.path.join(BUILD, "tests", "ppx_optool")

FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos3": Image.Resampling.LANCZOS,
}

# Real photos of several shapes and sizes, colour and gray, baseline and
# progressive, 4:2:0 and 4:4:4.
PHOTOS = [
    "jpeg/python3-sklearn__china.jpg",  # 640x427
    "jpeg/opencv-doc__HappyFish.jpg",  # 259x194
    "jpeg/opencv-doc__baboon.jpg",  # 512x512, high detail
    "jpeg/lomiri-16.04__Wine_by_Jakkub_Mede.jpg",  # 2560x3837 portrait
    "jpeg/lomiri-16.04__Bridge_by_Sander_Klootwijk.jpg",  # 4352x2448
    "jpeg/libjxl-testdata__flower.png.im_q85_gray.jpg",  # 2268x1512 gray
    "jpeg/go-src__video-001.progressive.jpeg",  # 150x103
    "jpeg/imagemagick-6-doc__background.jpg",  # 1x118
    "jpeg/python3-skimage__rocket.jpg",  # 640x427 (small corpus)
    "jpeg/xplanet-images__night.jpg",  # 2048x1024 (small corpus)
]

# Large photos for the shrink-on-load check.
LARGE = [
    "jpeg/lomiri-16.04__Bridge_by_Sander_Klootwijk.jpg",
    "jpeg/lomiri-16.04__Picture_1A_by_freespace.jpg",
    "jpeg/lomiri-16.04__Wine_by_Jakkub_Mede.jpg",
    "jpeg/lomiri-16.04__life_by_Aitzol_Berasategi.jpg",
    "jpeg/libjxl-testdata__flower.png.im_q85_420.jpg",
    "jpeg/xplanet-images__night.jpg",  # small corpus
]


def present(rels):
    """The files of rels in the corpus; those only in the large corpus, when it is absent
    (tests/corpus/corpus_view.sh), are named and left out."""
    have = [r for r in rels if os.path.exists(os.path.join(CORPUS, r))]
    gone = [r for r in rels if r not in have]
    if gone:
        with open(os.path.join(CORPUS, "LARGE_CORPUS")) as f:
            if f.read().strip() != "absent":
                raise Fail("missing from the corpus: %s" % ", ".join(gone))
        print("skipped, only in the large corpus (absent): %s" % ", ".join(gone))
    return have

PSNR_MIN_8BIT = 45.0  # issue 3: resize vs Pillow on real photos
PSNR_MIN_HINT = 38.0  # docs/pipeline.md: decode at 1/d + resize vs full decode + resize


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def psnr(a, b, peak=255.0):
    d = a.astype(np.float64) - b.astype(np.float64)
    mse = float(np.mean(d * d))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)


def arr(im):
    a = np.asarray(im)
    return a[:, :, None] if a.ndim == 2 else a


def decode(rel, scale=1):
    """Pillow decode of a corpus JPEG, optionally DCT-scaled by 1/scale
    (libjpeg's scaling, as prepix's JPEG decoder uses for the hint)."""
    im = Image.open(os.path.join(CORPUS, rel))
    if scale > 1:
        im.draft(im.mode, (im.width // scale, im.height // scale))
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    im.load()
    return im


class Tool:
    def __init__(self, tmp):
        self.tmp = tmp
        self.n = 0

    def put(self, a):
        """Writes array a to a PNM file for several runs; returns its path."""
        self.n += 1
        src = os.path.join(self.tmp, "in%d.pam" % self.n)
        ops_pnm.write(src, a)
        return src

    def run(self, spec, a, *opts):
        """Runs spec on a (an array, or a path from put) through ppx_optool;
        returns the output array."""
        src = a if isinstance(a, str) else self.put(a)
        dst = os.path.join(self.tmp, "out.pam")
        r = subprocess.run([OPTOOL, *opts, spec, src, dst], capture_output=True, text=True)
        check(r.returncode == 0, "ppx_optool %s '%s' failed: %s" % (" ".join(opts), spec,
                                                                    r.stderr.strip()))
        out = ops_pnm.read(dst)
        if src is not a:
            os.unlink(src)
        os.unlink(dst)
        return out

    def text(self, *args):
        r = subprocess.run([OPTOOL, *args], capture_output=True, text=True, check=True)
        return r.stdout.strip()


def torchvision_resize_dims(w, h, size):
    """torchvision.transforms.functional._compute_resized_output_size."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def torchvision_center_crop(im, tw, th):
    """torchvision.transforms.functional.center_crop on a PIL image."""
    w, h = im.size
    if tw > w or th > h:
        pad = ((tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0,
               (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0)
        im = ImageOps.expand(im, border=pad, fill=0)
        w, h = im.size
        if (w, h) == (tw, th):
            return im
    top = int(round((h - th) / 2.0))
    left = int(round((w - tw) / 2.0))
    return im.crop((left, top, left + tw, top + th))


# ---- cases ----


def resize_vs_pillow(tool, filt):
    """Every photo, several geometries (shrink, enlarge, one axis, fits):
    PSNR >= 45 dB against Pillow's Image.resize with the same filter."""
    worst, exact, total = float("inf"), 0, 0
    for rel in present(PHOTOS):
        im = decode(rel)
        w, h = im.size
        tw, th = torchvision_resize_dims(w, h, 256)
        cases = [
            ("resize 256 filter=%s" % filt, (tw, th)),
            ("resize 300x200 fit=fill filter=%s" % filt, (300, 200)),
        ]
        if w * h < 1000000:  # enlarging and one-axis cases on the smaller photos (time)
            cases += [
                ("resize %dx%d fit=fill filter=%s" % (w * 3 // 2 + 1, h, filt),
                 (w * 3 // 2 + 1, h)),
                ("resize %dx%d fit=fill filter=%s" % (w, max(1, h // 3), filt),
                 (w, max(1, h // 3))),
                ("resize %dx%d fit=fill filter=%s" % (2 * w + 3, 2 * h + 1, filt),
                 (2 * w + 3, 2 * h + 1)),
            ]
        src = tool.put(arr(im))
        for spec, size in cases:
            out = tool.run(spec, src)
            ref = arr(im.resize(size, FILTERS[filt]))
            check(out.shape == ref.shape, "%s %s: shape %s, Pillow %s" % (rel, spec, out.shape,
                                                                         ref.shape))
            p = psnr(out, ref)
            worst = min(worst, p)
            exact += int(np.array_equal(out, ref))
            total += 1
            check(p >= PSNR_MIN_8BIT, "%s '%s': PSNR %.2f dB < %.0f" % (rel, spec, p,
                                                                       PSNR_MIN_8BIT))
    print("%s: %d resizes, %d identical to Pillow, worst PSNR %s dB" % (
        filt, total, exact, "inf" if worst == float("inf") else "%.2f" % worst))


def case_resize_nearest(tool):
    resize_vs_pillow(tool, "nearest")


def case_resize_bilinear(tool):
    resize_vs_pillow(tool, "bilinear")


def case_resize_bicubic(tool):
    resize_vs_pillow(tool, "bicubic")


def case_resize_lanczos3(tool):
    resize_vs_pillow(tool, "lanczos3")


def reference_resize_f64(a, w, h, filt):
    """Separable resampling in float64 with Pillow's kernels and support
    (precompute_coeffs), horizontal pass first with its result rounded and
    clamped to the sample range, as Pillow does between its passes: the
    reference for the 16-bit path, which Pillow 9.4 cannot resize."""
    def kernel(x):
        x = np.abs(x)
        if filt == "bilinear":
            return np.where(x < 1, 1 - x, 0.0)
        if filt == "bicubic":
            a_ = -0.5
            return np.where(x < 1, ((a_ + 2) * x - (a_ + 3)) * x * x + 1,
                            np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a_, 0.0))
        return np.where(x < 3, np.sinc(x) * np.sinc(x / 3), 0.0)

    support = {"bilinear": 1.0, "bicubic": 2.0, "lanczos3": 3.0}[filt]

    def matrix(n_in, n_out):
        scale = n_in / n_out
        fs = max(scale, 1.0)
        m = np.zeros((n_out, n_in))
        for o in range(n_out):
            c = (o + 0.5) * scale
            lo = max(int(c - support * fs + 0.5), 0)
            hi = min(int(c + support * fs + 0.5), n_in)
            x = np.arange(lo, hi)
            k = kernel((x - c + 0.5) / fs)
            m[o, lo:hi] = k / k.sum()
        return m

    x = a.astype(np.float64)
    mh, mv = matrix(a.shape[1], w), matrix(a.shape[0], h)
    # Channel by channel as matrix products (BLAS), rows times columns.
    chans = []
    for c in range(x.shape[2]):
        t = x[:, :, c] @ mh.T if w != a.shape[1] else x[:, :, c]
        t = np.clip(np.rint(t), 0, 65535)
        chans.append(mv @ t if h != a.shape[0] else t)
    out = np.stack(chans, axis=2)
    return np.clip(np.rint(out), 0, 65535)


def case_resize_16bit(tool):
    """The 16-bit path on real content: a 16-bit gray PNG and 8-bit photos
    widened to 16 bits, against a float64 reference of the same filters."""
    inputs = []
    for rel in present(["png/variants/gray16.png", "png/variants/video001_gray16.png"]):
        g16 = Image.open(os.path.join(CORPUS, rel))
        inputs.append((rel, np.asarray(g16).astype(np.uint16)[:, :, None]))
    for rel in present(["jpeg/python3-sklearn__china.jpg", "jpeg/opencv-doc__HappyFish.jpg",
                        "jpeg/python3-skimage__rocket.jpg"]):
        a = arr(decode(rel)).astype(np.uint16) * 257
        inputs.append((rel, a))
    worst = float("inf")
    for rel, a in inputs:
        check(a.dtype == np.uint16 and a.max() > 255, "%s: not 16-bit content" % rel)
        h, w = a.shape[:2]
        for filt in ("bilinear", "bicubic", "lanczos3"):
            for (ow, oh) in ((w // 3, h // 4 + 1), (w + w // 2, h + 7)):
                out = tool.run("resize %dx%d fit=fill filter=%s" % (ow, oh, filt), a)
                check(out.dtype == np.uint16, "%s: output is not 16-bit" % rel)
                ref = reference_resize_f64(a, ow, oh, filt)
                p = psnr(out, ref, 65535.0)
                worst = min(worst, p)
                # float32 sums instead of float64: a unit or two of 65535.
                dmax = float(np.abs(out.astype(np.float64) - ref).max())
                check(p >= 95.0 and dmax <= 4, "%s %s %dx%d: PSNR %.2f dB (16-bit scale), "
                      "max difference %g" % (rel, filt, ow, oh, p, dmax))
    print("16-bit: worst PSNR %.2f dB on the 16-bit scale" % worst)


def case_exif_orientation(tool):
    """The 8 rocket_exif_orientation_N.jpg store the same pixels with EXIF
    orientations 1..8. Decoded raw (Pillow does not apply EXIF) and run
    through `autorotate` with the file's orientation, each must equal
    Pillow's ImageOps.exif_transpose and the numpy definition of the EXIF
    transform, and match the upright shape of orientation 1 rotated."""
    numpy_upright = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, -1)[::-1],
        8: lambda a: np.rot90(a, 1),
    }
    raw1 = None
    for n in range(1, 9):
        rel = "jpeg-variants/rocket_exif_orientation_%d.jpg" % n
        im = Image.open(os.path.join(CORPUS, rel))
        tag = im.getexif().get(0x0112, 1)
        check(tag == n, "%s: EXIF orientation %s" % (rel, tag))
        raw = arr(im.convert("RGB"))
        if raw1 is None:
            raw1 = raw
        out = tool.run("autorotate", raw, "--orientation", str(tag))
        pil = arr(ImageOps.exif_transpose(im).convert("RGB"))
        check(np.array_equal(out, pil), "%s: differs from ImageOps.exif_transpose" % rel)
        check(np.array_equal(out, numpy_upright[n](raw)), "%s: differs from numpy" % rel)
        # Upright size: 640x427 landscape for 1-4, 427x640 for 5-8.
        check(out.shape[:2] == ((427, 640) if n <= 4 else (640, 427)), "%s: shape" % rel)
        # Going back with the inverse transform restores the stored pixels.
        back = tool.run({1: "flip h p=0 ", 2: "flip h", 3: "rotate 180", 4: "flip v",
                         5: "rotate 90 | flip h", 6: "rotate 270", 7: "rotate 90 | flip v",
                         8: "rotate 90"}[n], out)
        check(np.array_equal(back, raw1), "%s: inverse transform does not give the stored "
              "pixels back" % rel)
    print("8 orientations: equal to exif_transpose and to the numpy definitions")


def case_decode_hint_quality(tool):
    """Shrink-on-load: decoding at the DCT scale the hint selects, then
    resizing, gives the same output size as full decode + resize and stays
    within PSNR >= 38 dB of it (docs/pipeline.md states the measured range)."""
    specs = ["resize 256", "resize 224 fit=longer", "autorotate | resize 512",
             "resize 256 filter=bilinear | center-crop 224"]
    results = []
    for rel in present(LARGE):
        full_im = decode(rel)
        w, h = full_im.size
        full_src = tool.put(arr(full_im))
        for spec in specs:
            mw, mh = (int(v) for v in tool.text("--hint", "%dx%d" % (w, h), spec).split())
            if mw == 0:
                continue
            d = next(d for d in (8, 4, 2) if -(-w // d) == mw and -(-h // d) == mh)
            small = decode(rel, d)
            check(small.size == (mw, mh), "%s: draft 1/%d gave %s, hint %dx%d" % (
                rel, d, small.size, mw, mh))
            full = tool.run(spec, full_src)
            hinted = tool.run(spec, arr(small))
            check(full.shape == hinted.shape, "%s '%s': size %s with the hint, %s without" % (
                rel, spec, hinted.shape, full.shape))
            p = psnr(full, hinted)
            results.append(p)
            print("  %-50s %-46s 1/%d  %.1f dB" % (rel, spec, d, p))
            check(p >= PSNR_MIN_HINT, "%s '%s': hinted PSNR %.2f < %.0f dB" % (
                rel, spec, p, PSNR_MIN_HINT))
    # Each large photo uses the hint about 4 times (one per spec): half of that at least.
    check(len(results) >= 2 * len(present(LARGE)), "the hint was used only %d times" % len(results))
    print("hint used %d times: PSNR min %.1f, median %.1f dB" % (
        len(results), min(results), float(np.median(results))))


def case_torchvision_pipeline(tool):
    """`resize 256 | center-crop 224` and friends equal Pillow driven with
    torchvision's size and offset formulas (its PIL backend)."""
    for rel in present(PHOTOS):
        im = decode(rel)
        w, h = im.size
        src = tool.put(arr(im))
        size = torchvision_resize_dims(w, h, 256)
        ref = torchvision_center_crop(im.resize(size, Image.Resampling.LANCZOS), 224, 224)
        out = tool.run("resize 256 | center-crop 224", src)
        check(np.array_equal(out, arr(ref)), "%s: resize 256 | center-crop 224" % rel)
        # A crop larger than the image pads with zeros as torchvision does.
        ref = torchvision_center_crop(im, w + 5, h + 2)
        out = tool.run("center-crop %dx%d" % (w + 5, h + 2), src)
        check(np.array_equal(out, arr(ref)), "%s: padding center-crop" % rel)
        ref = torchvision_center_crop(im, max(1, w - 3), h + 3)
        out = tool.run("center-crop %dx%d" % (max(1, w - 3), h + 3), src)
        check(np.array_equal(out, arr(ref)), "%s: mixed center-crop" % rel)
        # crop X,Y,W,H beyond the border: Pillow's crop fills with zeros.
        box = (w // 3, h // 4, w // 3 + w, h // 4 + 10)
        out = tool.run("crop %d,%d,%d,%d" % (box[0], box[1], w, 10), src)
        check(np.array_equal(out, arr(im.crop(box))), "%s: crop past the border" % rel)
    print("torchvision geometry: %d photos" % len(present(PHOTOS)))


def case_color_ops(tool):
    """grayscale = Pillow convert('L'), equalize = ImageOps.equalize,
    rgb of gray = convert('RGB'), normalize = torchvision's float32 maths."""
    for rel in present(PHOTOS):
        im = decode(rel)
        a = arr(im)
        src = tool.put(a)
        if im.mode == "RGB":
            check(np.array_equal(tool.run("grayscale", src), arr(im.convert("L"))),
                  "%s: grayscale" % rel)
        else:
            check(np.array_equal(tool.run("rgb", src), arr(im.convert("RGB"))), "%s: rgb" % rel)
        check(np.array_equal(tool.run("equalize", src), arr(ImageOps.equalize(im))),
              "%s: equalize" % rel)
        if im.mode == "RGB":
            mean = np.array([0.485, 0.456, 0.406], np.float32)
            std = np.array([0.229, 0.224, 0.225], np.float32)
            out = tool.run("normalize mean=0.485,0.456,0.406 std=0.229,0.224,0.225", src)
            ref = (a.astype(np.float32) / np.float32(255) - mean) / std
            check(out.dtype == np.float32 and np.array_equal(out, ref), "%s: normalize" % rel)
    print("colour ops identical on %d photos" % len(present(PHOTOS)))


def case_random_crop_determinism(tool):
    """Same seed and path: same crop, also from a warm context processing
    several images; another path or seed: another crop."""
    a = arr(decode("jpeg/python3-skimage__rocket.jpg"))
    spec = "random-crop 64 | flip h p=0.5"
    first = tool.run(spec, a, "--seed", "3", "--key", "train/cat/1.jpg")
    again = tool.run(spec, a, "--seed", "3", "--key", "train/cat/1.jpg")
    check(np.array_equal(first, again), "same seed and key gave different crops")
    outs = [tool.run(spec, a, "--seed", "3", "--key", "train/cat/%d.jpg" % i) for i in range(2, 7)]
    outs.append(tool.run(spec, a, "--seed", "4", "--key", "train/cat/1.jpg"))
    for o in outs:
        check(not np.array_equal(first, o), "another key or seed gave the same crop")
    # One process, one context, several images: results equal the
    # one-image runs (no state leaks between images).
    paths = []
    for i in range(3):
        src = os.path.join(tool.tmp, "warm%d.pam" % i)
        ops_pnm.write(src, a if i != 1 else a[:200, :300])
        paths += [src, src + ".out"]
    subprocess.run([OPTOOL, "--seed", "3", "--key", "train/cat/1.jpg", spec, *paths], check=True)
    check(np.array_equal(ops_pnm.read(paths[5]), first), "warm context changed the result")
    print("random-crop: deterministic per (seed, path), different across paths")


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: ops_pillow.py {%s}" % ",".join(sorted(CASES)))
        return 2
    if not CORPUS or not os.path.isfile(os.path.join(CORPUS, "MANIFEST.tsv")):
        print("SKIP: shared corpus not found (PPX_CORPUS_DIR=%r)" % CORPUS)
        return SKIP
    if not os.access(OPTOOL, os.X_OK):
        print("FAIL: %s not built" % OPTOOL)
        return 1
    with tempfile.TemporaryDirectory(prefix="ppx-ops-") as tmp:
        try:
            CASES[sys.argv[1]](Tool(tmp))
        except Fail as e:
            print("FAIL: %s" % e)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

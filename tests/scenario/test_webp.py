"""WebP through prepix: pixels against libwebp's own dwebp (Debian package `webp`) on files
made by cwebp, img2webp, gif2webp and webpmux; `prepix inspect`; `prepix run` on a folder of
WebP files with -f same, -f webp, -f webp-lossless, -f tar and -f npy; hostile files as
failure entries; shrink-on-load quality on the corpus's large photos."""
import io
import json
import math
import os
import shutil
import subprocess
import struct
import sys
import tarfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from lib import (BUILD, SAMPLES, Skip, check, corpus, main, present, report, run,  # noqa: E402
                 tmpdir)

DUMP = os.path.join(BUILD, "tests", "ppx_dump")
TOOLS = ("cwebp", "dwebp", "img2webp", "gif2webp", "webpmux")
# Lossy round trips (`-f webp`, source decoded against output decoded), bounds 1 dB under the
# lowest measured: the detailed tree photo of samples/ gives 31.2 dB at the default -q 90 and
# 29.0 dB at -q 75 (Pillow's WebP at the same qualities: the same; its JPEG: 30.9 and 26.8 dB);
# the gray video frame 42.4 and 36.2 dB.
PSNR_MIN_Q90 = 30.0
PSNR_MIN_Q75 = 28.0
# Shrink on load (docs/pipeline.md): hinted decode + resize against full decode + resize.
PSNR_MIN_HINT = 38.0
LARGE = [
    "jpeg/lomiri-16.04__Bridge_by_Sander_Klootwijk.jpg",
    "jpeg/lomiri-16.04__Picture_1A_by_freespace.jpg",
    "jpeg/lomiri-16.04__Wine_by_Jakkub_Mede.jpg",
    "jpeg/lomiri-16.04__life_by_Aitzol_Berasategi.jpg",
    "jpeg/libjxl-testdata__flower.png.im_q85_420.jpg",
    "jpeg/xplanet-images__night.jpg",  # in the small corpus
]


def need_tools():
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        raise Skip("missing %s (apt-get install webp)" % " ".join(missing))
    if not os.access(DUMP, os.X_OK):
        raise AssertionError(DUMP + " not built")


def sh(*args):
    p = subprocess.run(args, capture_output=True)
    if p.returncode != 0:
        raise AssertionError("%s: exit %d: %s" % (" ".join(args), p.returncode,
                                                  p.stderr.decode(errors="replace")[-500:]))
    return p.stdout


def parse_pnm(b):
    """PNM P5/P6 or PAM P7 bytes (8-bit) -> HxWxC uint8 array."""
    if b.startswith(b"P7"):
        head, _, rest = b.partition(b"ENDHDR\n")
        f = dict(line.split(b" ", 1) for line in head.split(b"\n")[1:] if b" " in line)
        w, h, c = int(f[b"WIDTH"]), int(f[b"HEIGHT"]), int(f[b"DEPTH"])
        check(int(f[b"MAXVAL"]) == 255, "PAM maxval")
        return np.frombuffer(rest[:w * h * c], np.uint8).reshape(h, w, c)
    # Four blank-separated fields, then exactly one blank byte before the samples (which may
    # themselves start with blank bytes).
    fields, pos = [], 0
    while len(fields) < 4:
        while b[pos:pos + 1].isspace():
            pos += 1
        end = pos
        while not b[end:end + 1].isspace():
            end += 1
        fields.append(b[pos:end])
        pos = end
    magic, w, h, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    c = 3 if magic == b"P6" else 1
    check(maxval == 255, "PNM maxval")
    return np.frombuffer(b[pos + 1:pos + 1 + w * h * c], np.uint8).reshape(h, w, c)


def ours(path, hint=None):
    """prepix's decode of path (optionally with a shrink-on-load hint WxH)."""
    args = [DUMP, path] + ([str(hint[0]), str(hint[1])] if hint else [])
    return parse_pnm(sh(*args))


def dwebp(path, resize=None):
    """dwebp -pam: RGBA, straight alpha (255 where the file has none)."""
    out = path + ".pam"
    sh("dwebp", "-quiet", path, "-pam", "-o", out,
       *(["-resize", str(resize[0]), str(resize[1])] if resize else []))
    with open(out, "rb") as f:
        return parse_pnm(f.read())


def same_as_dwebp(path, has_alpha, resize=None, hint=None):
    """Our pixels equal dwebp's; has_alpha None: whichever prepix chose (RGB only where dwebp's
    alpha is all 255)."""
    a = ours(path, hint)
    b = dwebp(path, resize)
    if has_alpha is None:
        has_alpha = a.shape[2] == 4
    check(a.shape[:2] == b.shape[:2], "%s: %s, dwebp %s" % (path, a.shape, b.shape))
    if has_alpha:
        check(a.shape[2] == 4, "%s: %d channels, want RGBA" % (path, a.shape[2]))
        check(np.array_equal(a, b), "%s: RGBA differs from dwebp in %d samples"
              % (path, int((a != b).sum())))
    else:
        check(a.shape[2] == 3, "%s: %d channels, want RGB" % (path, a.shape[2]))
        check((b[..., 3] == 255).all(), "dwebp gave alpha for an opaque file")
        check(np.array_equal(a, b[..., :3]), "%s: RGB differs from dwebp in %d samples"
              % (path, int((a != b[..., :3]).sum())))
    return a


def psnr(a, b):
    se = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 99.0 if se == 0 else 10 * math.log10(255.0 ** 2 / se)


def sources(d):
    """PNG sources made of real photos (the repository's samples; a lossy PSNR bound means
    something on them, not on synthetic noise): RGB, RGBA (the photo under an alpha ramp) and
    gray."""
    os.makedirs(d, exist_ok=True)
    tree = Image.open(os.path.join(SAMPLES, "misc", "librsvg2-tests__tree.jpg"))
    rgba = tree.crop((0, 0, 301, 201)).convert("RGBA")
    ramp = np.add.outer(np.arange(201), np.arange(301)) * 255 // 500
    rgba.putalpha(Image.fromarray(ramp.astype(np.uint8)))
    gray = Image.open(os.path.join(SAMPLES, "video", "go-src__video-005.gray.jpeg"))
    p = {}
    for name, im in (("rgb", tree), ("rgba", rgba), ("gray", gray)):
        p[name] = os.path.join(d, name + ".png")
        im.save(p[name])
    return p


def exif_bytes(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


def inspect_json(paths):
    p = run(["inspect"] + list(paths))
    return [json.loads(line) for line in p.stdout.splitlines()]


# --- pixels against dwebp ------------------------------------------------------------------

def dwebp_lossy():
    need_tools()
    t = tmpdir()
    src = sources(t)
    for q in ("10", "75", "95"):
        f = os.path.join(t, "lossy%s.webp" % q)
        sh("cwebp", "-quiet", "-q", q, src["rgb"], "-o", f)
        same_as_dwebp(f, False)
    # Other encoder paths: segments, sharp YUV, the strongest filter, no filter.
    for i, opts in enumerate((["-sns", "100", "-f", "100", "-sharpness", "7"],
                              ["-sharp_yuv", "-segments", "1"], ["-f", "0", "-m", "0"])):
        f = os.path.join(t, "opts%d.webp" % i)
        sh("cwebp", "-quiet", *opts, src["rgb"], "-o", f)
        same_as_dwebp(f, False)
    f = os.path.join(t, "gray.webp")
    sh("cwebp", "-quiet", src["gray"], "-o", f)
    same_as_dwebp(f, False)


def dwebp_lossy_alpha():
    need_tools()
    t = tmpdir()
    src = sources(t)
    for i, opts in enumerate(([], ["-alpha_q", "50", "-alpha_filter", "best"],
                              ["-alpha_method", "0", "-exact"], ["-noalpha"])):
        f = os.path.join(t, "a%d.webp" % i)
        sh("cwebp", "-quiet", *opts, src["rgba"], "-o", f)
        same_as_dwebp(f, "-noalpha" not in opts)


def dwebp_lossless():
    need_tools()
    t = tmpdir()
    src = sources(t)
    for z in ("0", "4", "7"):
        for name in ("rgb", "rgba", "gray"):
            f = os.path.join(t, "%s_z%s.webp" % (name, z))
            sh("cwebp", "-quiet", "-lossless", "-exact", "-z", z, src[name], "-o", f)
            a = same_as_dwebp(f, name == "rgba")
            # Lossless: the source's own pixels.
            want = np.asarray(Image.open(src[name]).convert("RGBA" if name == "rgba" else "RGB"))
            check(np.array_equal(a, want), "%s: not the source's pixels" % f)
    # Near-lossless and a palette image: other VP8L transforms.
    f = os.path.join(t, "near.webp")
    sh("cwebp", "-quiet", "-near_lossless", "40", src["rgb"], "-o", f)
    same_as_dwebp(f, False)
    pal = os.path.join(t, "pal.png")
    Image.open(src["rgb"]).quantize(16).save(pal)
    f = os.path.join(t, "pal.webp")
    sh("cwebp", "-quiet", "-lossless", pal, "-o", f)
    a = same_as_dwebp(f, False)
    check(np.array_equal(a, np.asarray(Image.open(pal).convert("RGB"))), "palette pixels")


def dwebp_vp8x_icc_exif():
    """Metadata chunks do not change the pixels; inspect reports them."""
    need_tools()
    t = tmpdir()
    src = sources(t)
    base = os.path.join(t, "base.webp")
    sh("cwebp", "-quiet", src["rgba"], "-o", base)
    icc = os.path.join(t, "p.icc")
    with open(icc, "wb") as f:
        f.write(bytes(range(256)) * 3)
    ex = os.path.join(t, "o6.exif")
    with open(ex, "wb") as f:
        f.write(exif_bytes(6))
    a = os.path.join(t, "icc.webp")
    sh("webpmux", "-set", "icc", icc, base, "-o", a)
    b = os.path.join(t, "both.webp")
    sh("webpmux", "-set", "exif", ex, a, "-o", b)
    for f in (a, b):
        same_as_dwebp(f, True)
    ia, ib = inspect_json([a, b])
    check(ia["format"] == "webp" and ia["icc"] is True and ia["orientation"] == 1, str(ia))
    check(ib["icc"] is True and ib["orientation"] == 6 and ib["alpha"] is True, str(ib))
    check(ib["lossless"] is False and ib["frames"] == 1 and ib["animated"] is False, str(ib))
    # Pillow writes EXIF into WebP too.
    c = os.path.join(t, "pil.webp")
    Image.open(src["rgb"]).save(c, quality=80, exif=exif_bytes(3))
    same_as_dwebp(c, False)
    check(inspect_json([c])[0]["orientation"] == 3, "Pillow's EXIF orientation")


def dwebp_animated():
    """The first frame of an animation equals dwebp's decode of that frame (taken out with
    webpmux); inspect counts the frames."""
    need_tools()
    t = tmpdir()
    frames = []
    for i in range(4):
        p = os.path.join(t, "f%d.png" % i)
        data.photo_like(120, 90, 50 + i, "RGBA" if i % 2 else "RGB").save(p)
        frames.append(p)
    made = []
    for name, opts in (("lossy", ["-lossy", "-q", "70"]), ("lossless", ["-lossless"]),
                       ("mixed", ["-mixed"])):
        f = os.path.join(t, name + ".webp")
        sh("img2webp", "-loop", "0", "-d", "80", *opts, *frames, "-o", f)
        made.append((f, 4))
    gif = os.path.join(t, "a.gif")
    ims = [data.photo_like(100, 80, 70 + i).quantize(64) for i in range(3)]
    ims[0].save(gif, save_all=True, append_images=ims[1:], duration=50, loop=0)
    for opts in ([], ["-lossy"]):
        f = os.path.join(t, "gif%d.webp" % len(opts))
        sh("gif2webp", "-quiet", *opts, gif, "-o", f)
        made.append((f, 3))
    for f, n in made:
        first = f + ".f1.webp"
        sh("webpmux", "-get", "frame", "1", f, "-o", first)
        # Every frame of these files covers the canvas: the canvas is frame 1. RGBA where the
        # file has alpha, else RGB.
        a = ours(f)
        b = dwebp(first)
        check(a.shape[:2] == b.shape[:2], "%s: %s vs %s" % (f, a.shape, b.shape))
        if a.shape[2] == 3:
            check((b[..., 3] == 255).all(), f + ": RGB although frame 1 has alpha")
            b = b[..., :3]
        check(np.array_equal(a, b), "%s: first frame differs from dwebp in %d samples"
              % (f, int((a != b).sum())))
        j = inspect_json([f])[0]
        check(j["frames"] == n and j["animated"] is True and j["channels"] == a.shape[2],
              str(j))
        check("first frame" in j.get("note", ""), str(j))


def dwebp_scaled():
    """Shrink on load at 1/2, 1/4 and 1/8 equals dwebp -resize to the same size (libwebp's
    own scaler), lossy and lossless."""
    need_tools()
    t = tmpdir()
    p = os.path.join(t, "big.png")
    data.photo_like(803, 611, 9).save(p)
    for name, opts in (("lossy", ["-q", "80"]), ("lossless", ["-lossless"])):
        f = os.path.join(t, name + ".webp")
        sh("cwebp", "-quiet", *opts, p, "-o", f)
        for d in (2, 4, 8):
            size = (-(-803 // d), -(-611 // d))
            same_as_dwebp(f, False, resize=size, hint=size)


# --- prepix run ----------------------------------------------------------------------------

def webp_folder(t):
    """A folder of WebP files of every kind (and a JPEG): name -> what it is."""
    need_tools()
    inp = os.path.join(t, "in")
    src = sources(os.path.join(t, "src"))
    kinds = {}

    def cw(name, s, *opts):
        f = os.path.join(inp, name)
        os.makedirs(os.path.dirname(f), exist_ok=True)
        sh("cwebp", "-quiet", *opts, s, "-o", f)
        kinds[name] = (s, "-lossless" in opts)

    cw("cat/lossy.webp", src["rgb"], "-q", "85")
    cw("cat/alpha.webp", src["rgba"], "-q", "85")
    cw("dog/lossless.webp", src["rgb"], "-lossless", "-exact")
    cw("dog/lossless_alpha.WEBP", src["rgba"], "-lossless", "-exact")
    cw("dog/gray.webp", src["gray"], "-lossless")
    ex = os.path.join(t, "o6.exif")
    with open(ex, "wb") as f:
        f.write(exif_bytes(6))
    tmp = os.path.join(t, "plain.webp")
    sh("cwebp", "-quiet", "-q", "85", src["rgb"], "-o", tmp)
    sh("webpmux", "-set", "exif", ex, tmp, "-o", os.path.join(inp, "cat", "rotated.webp"))
    kinds["cat/rotated.webp"] = (src["rgb"], False)
    frames = [src["rgb"], os.path.join(t, "frame2.png")]
    Image.open(src["rgb"]).transpose(Image.FLIP_LEFT_RIGHT).save(frames[1])
    os.makedirs(os.path.join(inp, "fish"))
    sh("img2webp", "-lossless", *frames, "-o", os.path.join(inp, "fish", "anim.webp"))
    kinds["fish/anim.webp"] = (src["rgb"], True)
    data.photo_like(150, 110, 5).save(os.path.join(inp, "fish", "photo.jpg"), quality=90)
    return inp, kinds


def run_same():
    """-f same: each WebP stays WebP under its own name, lossless sources stay lossless
    (exact), lossy ones are lossy at -q; animations become their first frame."""
    t = tmpdir()
    inp, kinds = webp_folder(t)
    out = os.path.join(t, "out")
    run(["run", "-i", inp, "-o", out, "--progress", "none"], check=0)
    rep = report(out)
    check(rep["images"]["ok"] == len(kinds) + 1, str(rep["images"]))
    for name, (_, lossless) in kinds.items():
        o = os.path.join(out, name)
        check(os.path.exists(o), "missing " + o)
        j = inspect_json([o])[0]
        check(j["format"] == "webp" and j["lossless"] == lossless and j["frames"] == 1,
              "%s: %s" % (name, j))
        a, b = ours(os.path.join(inp, name)), ours(o)
        check(a.shape == b.shape, "%s: shape %s -> %s" % (name, a.shape, b.shape))
        if lossless:
            check(np.array_equal(a, b), name + ": lossless source not kept exactly")
        else:
            p = psnr(a, b)
            check(p >= PSNR_MIN_Q90, "%s: PSNR %.1f dB" % (name, p))
    check(os.path.exists(os.path.join(out, "fish", "photo.jpg")), "the JPEG stays JPEG")


def run_lossy():
    """-f webp: every image to lossy WebP at -q, within a PSNR bound of its source; names
    get .webp; autorotate honours the EXIF orientation of a WebP."""
    t = tmpdir()
    inp, kinds = webp_folder(t)
    for q, bound in (("90", PSNR_MIN_Q90), ("75", PSNR_MIN_Q75)):
        out = os.path.join(t, "out" + q)
        run(["run", "-i", inp, "-o", out, "-f", "webp", "-q", q, "--progress", "none"],
            check=0)
        for name in list(kinds) + ["fish/photo.jpg"]:
            o = os.path.join(out, os.path.splitext(name)[0] + ".webp")
            if name.endswith(".WEBP"):
                o = os.path.join(out, name)  # an extension that already names WebP is kept
            check(os.path.exists(o), "missing " + o)
            check(inspect_json([o])[0]["lossless"] is False, o + " not lossy")
            a = ours(os.path.join(inp, name))
            b = ours(o)
            p = psnr(a, b)
            print("  -q %s %-28s %.1f dB" % (q, name, p))
            check(p >= bound, "%s at -q %s: PSNR %.1f < %.0f dB" % (name, q, p, bound))
    out = os.path.join(t, "rot")
    run(["run", "-i", inp, "-o", out, "-f", "webp", "-p", "autorotate", "--progress", "none"],
        check=0)
    a = ours(os.path.join(inp, "cat", "rotated.webp"))
    b = ours(os.path.join(out, "cat", "rotated.webp"))
    check(b.shape[:2] == a.shape[1::-1], "orientation 6 not applied: %s" % (b.shape,))
    check(psnr(np.rot90(a, -1), b) >= PSNR_MIN_Q90, "rotated the wrong way")


def run_lossless():
    """-f webp-lossless: every image's pixels exactly (gray as R = G = B)."""
    t = tmpdir()
    inp, kinds = webp_folder(t)
    for name in ("a.png", "b.png", "g.png"):
        mode = {"a.png": "RGBA", "b.png": "RGB", "g.png": "L"}[name]
        data.photo_like(131, 97, 3, mode).save(os.path.join(inp, name))
    out = os.path.join(t, "out")
    run(["run", "-i", inp, "-o", out, "-f", "webp-lossless", "--progress", "none"], check=0)
    for name in list(kinds) + ["a.png", "b.png", "g.png", "fish/photo.jpg"]:
        o = os.path.join(out, os.path.splitext(name)[0] + ".webp")
        if name.endswith(".WEBP"):
            o = os.path.join(out, name)
        check(inspect_json([o])[0]["lossless"] is True, o + " not lossless")
        a = ours(os.path.join(inp, name))
        if a.shape[2] == 1:
            a = np.repeat(a, 3, axis=2)
        check(np.array_equal(a, ours(o)), name + ": not exact")
    # The journal tells webp from webp-lossless: a resume with the other is refused.
    p = run(["run", "-i", inp, "-o", out, "-f", "webp", "--resume", "--progress", "none"])
    check(p.returncode == 2 and "format" in p.stderr, p.stderr)


def run_tar():
    """-f tar: WebP sources give .webp members (as -f same), the JPEG a .jpg member."""
    t = tmpdir()
    inp, kinds = webp_folder(t)
    out = os.path.join(t, "out")
    run(["run", "-i", inp, "-o", out, "-f", "tar", "-p", "resize 64", "--progress", "none"],
        check=0)
    names = {}
    with tarfile.open(os.path.join(out, "shard-000000.tar")) as tf:
        for m in tf.getmembers():
            names[m.name] = tf.extractfile(m).read()
    exts = sorted(n.split(".", 1)[1] for n in names if not n.endswith(".cls"))
    check(exts == sorted(["webp"] * len(kinds) + ["jpg"]), str(exts))
    for n, b in names.items():
        if n.endswith(".webp"):
            im = Image.open(io.BytesIO(b))
            check(im.format == "WEBP" and min(im.size) == 64, "%s: %s %s" % (n, im.format,
                                                                            im.size))


def run_npy():
    """-f npy: the array holds what -f png writes for the same pipeline (autorotate
    included), alpha dropped."""
    t = tmpdir()
    inp, kinds = webp_folder(t)
    spec = "autorotate | resize 40x30 fit=fill"
    out = os.path.join(t, "npy")
    run(["run", "-i", inp, "-o", out, "-f", "npy", "-p", spec, "--progress", "none"], check=0)
    arr = np.load(os.path.join(out, "shard-000000.npy"))
    png = os.path.join(t, "png")
    run(["run", "-i", inp, "-o", png, "-f", "png", "-p", spec, "--progress", "none"], check=0)
    with open(os.path.join(out, "index.csv")) as f:
        rows = [line.rstrip("\n").split(",") for line in f][1:]
    check(arr.shape == (len(kinds) + 1, 30, 40, 3), str(arr.shape))
    for i, r in enumerate(rows):
        ref = np.asarray(Image.open(os.path.join(png, os.path.splitext(r[3])[0] + ".png"))
                         .convert("RGB"))
        check(np.array_equal(arr[i], ref), "%s: npy row differs from -f png" % r[3])


def inspect_kinds():
    """prepix inspect on each kind: format, frames, lossless, alpha, orientation."""
    t = tmpdir()
    inp, kinds = webp_folder(t)
    want = {"cat/lossy.webp": (False, False, 1, 1), "cat/alpha.webp": (False, True, 1, 1),
            "dog/lossless.webp": (True, False, 1, 1),
            "dog/lossless_alpha.WEBP": (True, True, 1, 1), "dog/gray.webp": (True, False, 1, 1),
            "cat/rotated.webp": (False, False, 1, 6), "fish/anim.webp": (True, False, 2, 1)}
    for name, (lossless, alpha, frames, orient) in want.items():
        j = inspect_json([os.path.join(inp, name)])[0]
        got = (j["lossless"], j["alpha"], j["frames"], j["orientation"])
        check(j["format"] == "webp" and j["bits"] == 8, str(j))
        check(got == (lossless, alpha, frames, orient), "%s: %s" % (name, j))
        check(j["compression"] == ("vp8l" if lossless else "vp8"), str(j))


def run_bad_files():
    """Hostile WebP files in a run: each one failure entry at stage decode with its code;
    the good files are written."""
    need_tools()
    t = tmpdir()
    inp = os.path.join(t, "in")
    os.makedirs(inp)
    src = sources(os.path.join(t, "src"))
    good = os.path.join(inp, "good.webp")
    sh("cwebp", "-quiet", src["rgba"], "-o", good)
    with open(good, "rb") as f:
        b = f.read()
    riff = int.from_bytes(b[4:8], "little")
    bad = {
        "cut.webp": (b[:len(b) // 2], "ETRUNC"),
        "riff_big.webp": (b[:4] + (riff + 64).to_bytes(4, "little") + b[8:], "ETRUNC"),
        "riff_small.webp": (b[:4] + (riff - 9).to_bytes(4, "little") + b[8:], "ECORRUPT"),
        "header_only.webp": (b[:12], "ETRUNC"),
        "huge.webp": (b[:24] + b"\xff\xff\xff\xff\xff\x00" + b[30:], "ELIMIT"),
        "wave.webp": (b"RIFF\x04\x00\x00\x00WAVE", "EFORMAT"),
        "empty.webp": (b"", "EEMPTY"),
    }
    check(b[12:16] == b"VP8X", "cwebp wrote no VP8X for an alpha image")
    for name, (content, _) in bad.items():
        with open(os.path.join(inp, name), "wb") as f:
            f.write(content)
    out = os.path.join(t, "out")
    p = run(["run", "-i", inp, "-o", out, "--progress", "none"], check=3)
    rep = report(out)
    check(rep["images"]["ok"] == 1 and rep["images"]["failed"] == len(bad), str(rep["images"]))
    got = {os.path.basename(f["path"]): f for f in rep["failures"]}
    for name, (_, code) in bad.items():
        f = got[name]
        check(f["stage"] == "decode" and f["code"] == code and f["error"],
              "%s: %s (want %s)" % (name, f, code))
        print("  %-18s %-9s %s" % (name, f["code"], f["error"]))
    check(os.path.exists(os.path.join(out, "good.webp")), p.stderr)


def anim_small_first(frame_webp, flags, x=20, y=20, canvas=(320, 320)):
    """An animated WebP whose one frame (the image chunk of frame_webp, a simple file from
    Pillow) lies at (x, y) on a larger canvas, with VP8X flags as given (0x02: animation, no
    alpha; 0x12: animation and alpha), built chunk by chunk: Pillow's encoder (libwebp's
    WebPAnimEncoder) writes every first frame at the canvas size."""
    def chunk(tag, payload):
        return tag + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)

    def u24(v):
        return v.to_bytes(3, "little")

    check(frame_webp[12:16] in (b"VP8 ", b"VP8L"), "not a simple WebP: %r" % frame_webp[12:16])
    w, h = Image.open(io.BytesIO(frame_webp)).size
    vp8x = struct.pack("<I", flags) + u24(canvas[0] - 1) + u24(canvas[1] - 1)
    anmf = u24(x // 2) + u24(y // 2) + u24(w - 1) + u24(h - 1) + u24(100) + b"\0"
    body = (b"WEBP" + chunk(b"VP8X", vp8x) + chunk(b"ANIM", struct.pack("<IH", 0, 0)) +
            chunk(b"ANMF", anmf + frame_webp[12:]))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def run_anim_small_first():
    """An animation whose first frame (128x128 at +20+20) is smaller than its 320x320 canvas
    and whose VP8X alpha flag is 0: webpinfo and ImageMagick see no alpha, Pillow opens it as
    RGB with black borders. prepix decodes the same pixels (-f png, exact), so -f jpeg takes
    it; with the alpha flag set, it is RGBA as in Pillow."""
    need_tools()
    t = tmpdir()
    inp = os.path.join(t, "in")
    os.makedirs(inp)
    photo = data.photo_like(128, 128, 3)
    made = {}
    for name, kw, flags in (("lossy", {"quality": 80}, 0x02),
                            ("lossless", {"lossless": True}, 0x02),
                            ("lossy_alpha_flag", {"quality": 80}, 0x12)):
        b = io.BytesIO()
        photo.convert("RGB").save(b, "WEBP", **kw)
        f = os.path.join(inp, name + ".webp")
        with open(f, "wb") as fh:
            fh.write(anim_small_first(b.getvalue(), flags))
        im = Image.open(f)
        want = np.asarray(im)
        check(want.shape == (320, 320, 4 if flags & 0x10 else 3), "Pillow: %s" % (want.shape,))
        check(not want[:20].any() and not want[:, :20].any() and not want[148:].any(),
              "Pillow's borders are not black")
        made[name] = want
        info = sh("webpinfo", f).decode()
        check(("Alpha: 1" if flags & 0x10 else "Alpha: 0") in info, info)
    j = {os.path.basename(x["path"]): x for x in inspect_json(
        [os.path.join(inp, n + ".webp") for n in made])}
    for name, want in made.items():
        x = j[name + ".webp"]
        check(x["alpha"] == (want.shape[2] == 4) and x["channels"] == want.shape[2], str(x))
    out = os.path.join(t, "png")
    run(["run", "-i", inp, "-o", out, "-f", "png", "--progress", "none"], check=0)
    for name, want in made.items():
        got = np.asarray(Image.open(os.path.join(out, name + ".png")))
        check(got.shape == want.shape, "%s: %s, Pillow %s" % (name, got.shape, want.shape))
        check(np.array_equal(got, want), "%s: %d samples differ from Pillow's"
              % (name, int((got != want).sum())))
    # JPEG holds the RGB files; the file that says it has alpha still needs `rgb`.
    out = os.path.join(t, "jpeg")
    run(["run", "-i", inp, "-o", out, "-f", "jpeg", "--progress", "none"], check=3)
    rep = report(out)
    check(rep["images"]["ok"] == 2 and [os.path.basename(f["path"]) for f in rep["failures"]]
          == ["lossy_alpha_flag.webp"], str(rep["failures"]))
    check(Image.open(os.path.join(out, "lossy.jpg")).mode == "RGB", "JPEG output")


def run_usage():
    t = tmpdir()
    p = run(["run", "-i", t, "-o", os.path.join(t, "o"), "-f", "webpx"], check=2)
    check("webp-lossless" in p.stderr, p.stderr)
    h = run(["run", "--help"]).stdout + run(["--help"]).stdout
    check("webp-lossless" in h and "*.webp" in h, "--help does not mention WebP")


# --- shrink on load on real photos ---------------------------------------------------------

def corpus_hint_quality():
    """The corpus's large photos as lossy WebP: decoding at the hinted scale (libwebp's
    scaler) and resizing stays within PSNR_MIN_HINT of a full decode + resize, at the same
    size; and it did shrink."""
    c = corpus()
    need_tools()
    t = tmpdir()
    inp = os.path.join(t, "in")
    os.makedirs(inp)
    for rel in present(LARGE):
        Image.open(os.path.join(c, rel)).convert("RGB").save(
            os.path.join(inp, os.path.basename(rel) + ".webp"), quality=85)
    specs = ["resize 256", "resize 224 fit=longer", "resize 512",
             "resize 256 filter=bilinear | center-crop 224"]
    results = []
    for spec in specs:
        outs = {}
        for draft in ("safe", "off"):
            o = os.path.join(t, draft)
            shutil.rmtree(o, ignore_errors=True)
            parts = spec.split(" | ")
            parts[0] += " draft=" + draft
            run(["run", "-i", inp, "-o", o, "-f", "png", "-p", " | ".join(parts),
                 "--progress", "none"], check=0)
            outs[draft] = o
        for n in sorted(os.listdir(inp)):
            png = os.path.splitext(n)[0] + ".png"
            a = np.asarray(Image.open(os.path.join(outs["safe"], png)))
            b = np.asarray(Image.open(os.path.join(outs["off"], png)))
            check(a.shape == b.shape, "%s '%s': %s vs %s" % (n, spec, a.shape, b.shape))
            p = psnr(a, b)
            results.append(p)
            print("  %-52s %-44s %.1f dB" % (n, spec, p))
            check(p >= PSNR_MIN_HINT, "%s '%s': PSNR %.1f < %.0f" % (n, spec, p, PSNR_MIN_HINT))
    shrunk = [p for p in results if p < 99]
    # Four specs per photo, of which half at least decode at a smaller scale.
    check(len(shrunk) >= len(results) // 2, "the hint shrank only %d decodes" % len(shrunk))
    print("min %.1f dB, median %.1f dB over %d" % (min(shrunk), float(np.median(shrunk)),
                                                   len(shrunk)))


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (
        dwebp_lossy, dwebp_lossy_alpha, dwebp_lossless, dwebp_vp8x_icc_exif, dwebp_animated,
        dwebp_scaled, inspect_kinds, run_same, run_lossy, run_lossless, run_tar, run_npy,
        run_bad_files, run_anim_small_first, run_usage, corpus_hint_quality)}))

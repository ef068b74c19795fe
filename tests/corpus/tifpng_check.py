"""Checks prepix's TIFF and PNG decoders on one corpus file against the
expectation table (tiff_expect.tsv, png_expect.tsv) and the MANIFEST.

usage: tifpng_check.py TABLE PATH      check one file (PATH relative to the corpus)
       tifpng_check.py --coverage TABLE...  every TIFF/PNG file of the MANIFEST has a row

Expectation rows: path, expect, reference, note. expect is OK (decodes, with
the MANIFEST size), an error name (EUNSUPPORTED, ETRUNC, ...: ppx_dump must
fail with exactly that code), or '-' (not ours: listed for coverage only).
reference says which independent decoder the pixels must equal exactly:
  pil           Pillow, converted to our layout (L, LA, RGB, RGBA)
  pil-oriented  Pillow, which applies the TIFF orientation on its libtiff
                path: our pixels are oriented with the orientation we report
  im            ImageMagick, 8-bit raw (gray:, graya:, rgb:, rgba:)
  im16          ImageMagick, 16-bit raw, big-endian
  raw-band0     the first sample of each pixel as stored, read from an
                uncompressed single-strip copy that tiffcp makes (for
                multi-band files that neither Pillow nor ImageMagick reads
                as gray: ImageMagick takes band 4 of a 6-band file as alpha)
  raw-premul    the stored premultiplied samples (tiffcp copy as above),
                un-premultiplied with our documented rounding
                c = round(c * max / a), alpha 0 and max left as they are
                (Pillow truncates, and zeroes pixels of alpha 0)
  rasterio      GDAL through rasterio, every band with its sample type
                (scientific rasters: signed, float, odd depths, extra
                bands), compared on `ppx_dump --npy` (NaN positions equal)
  -             none (error rows)
Exit 0 pass, 1 fail, 77 skip (no corpus, or no Pillow/numpy)."""
import csv
import os
import subprocess
import sys

TIMEOUT_S = 60  # any file, good or hostile, must finish well within this


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def fail(why):
    print("FAIL: " + why)
    sys.exit(1)


def read_table(path):
    rows = {}
    with open(path, newline="") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 3:
                fail("%s: bad row %r" % (path, line))
            rows[cols[0]] = {"expect": cols[1], "ref": cols[2],
                             "note": cols[3] if len(cols) > 3 else ""}
    return rows


def read_manifest(corpus):
    with open(os.path.join(corpus, "MANIFEST.tsv"), newline="") as f:
        return {r["path"]: r for r in csv.DictReader(f, delimiter="\t")}


def run_dump(dump, path):
    try:
        p = subprocess.run([dump, path], capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        fail("ppx_dump did not finish within %d s" % TIMEOUT_S)
    err = p.stderr.decode("utf-8", "replace")
    if "Sanitizer" in err or "runtime error:" in err:
        fail("sanitizer report:\n" + err)
    return p.returncode, p.stdout, err


def parse_pnm(data):
    """PNM P5/P6 or PAM P7 from ppx_dump -> (array HxWxC, maxval)."""
    import numpy as np
    if data[:2] == b"P7":
        end = data.index(b"ENDHDR\n") + len(b"ENDHDR\n")
        hdr = dict(l.split(" ", 1) for l in data[3:end - 7].decode().splitlines() if " " in l)
        w, h, c, maxval = (int(hdr[k]) for k in ("WIDTH", "HEIGHT", "DEPTH", "MAXVAL"))
    else:
        magic, dims, mv, _ = data.split(b"\n", 3)
        w, h = (int(x) for x in dims.split())
        maxval = int(mv)
        c = 1 if magic == b"P5" else 3
        end = len(magic) + len(dims) + len(mv) + 3
    dt = np.dtype(">u2") if maxval > 255 else np.uint8
    px = np.frombuffer(data[end:], dtype=dt)
    if px.size != w * h * c:
        fail("ppx_dump wrote %d samples for %dx%dx%d" % (px.size, w, h, c))
    return px.reshape(h, w, c).astype(np.int64), maxval


def orient(a, o):
    """Pixels as stored -> as displayed for TIFF/EXIF orientation o."""
    import numpy as np
    return {1: lambda x: x, 2: np.fliplr, 3: lambda x: np.rot90(x, 2), 4: np.flipud,
            5: lambda x: np.swapaxes(x, 0, 1), 6: lambda x: np.rot90(x, -1),
            7: lambda x: np.rot90(np.swapaxes(x, 0, 1), 2), 8: lambda x: np.rot90(x, 1)}[o](a)


def ref_pil(path, channels):
    import numpy as np
    from PIL import Image
    im = Image.open(path)
    im.seek(0)
    im.load()
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    if im.mode in ("I;16", "I;16B", "I") and channels == 1:
        a = np.array(im).astype(np.int64)  # 16-bit kept
        return a.reshape(a.shape[0], a.shape[1], 1)
    if im.mode == "RGBX" and channels == 3:
        im = im.convert("RGB")
    elif im.mode != mode:
        im = im.convert(mode)
    a = np.array(im).astype(np.int64)
    return a.reshape(a.shape[0], a.shape[1], channels)


IM_RAW = {1: "gray", 2: "graya", 3: "rgb", 4: "rgba"}


def ref_im(path, channels, depth, shape, defines=()):
    import numpy as np
    exe = "/usr/bin/convert" if os.path.exists("/usr/bin/convert") else "convert"
    cmd = [exe]
    for d in defines:
        cmd += ["-define", d]
    # ImageMagick takes a PNG with gAMA 1.0 (PngSuite) as linear RGB and
    # would convert it to sRGB on output; the samples as stored are wanted.
    cs = ["-set", "colorspace", "sRGB" if channels >= 3 else "Gray"]
    cmd += [path + "[0]"] + cs + ["-depth", str(depth), "-endian", "MSB",
                                  "%s:-" % IM_RAW[channels]]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        skip("ImageMagick unusable: %s" % e)
    if p.returncode != 0:
        fail("ImageMagick failed: %s" % p.stderr.decode("utf-8", "replace"))
    dt = np.dtype(">u2") if depth == 16 else np.uint8
    a = np.frombuffer(p.stdout, dtype=dt).astype(np.int64)
    if a.size != shape[0] * shape[1] * channels:
        fail("ImageMagick gave %d samples, %s expected" % (a.size, shape))
    return a.reshape(shape[0], shape[1], channels)


def ref_raw(path, shape):
    """Samples of page 0 as stored (H x W x samples), through an uncompressed,
    contiguous, single-strip copy made by tiffcp and read here with numpy."""
    import struct
    import tempfile
    import numpy as np
    with tempfile.TemporaryDirectory() as d:
        tmp = os.path.join(d, "raw.tif")
        try:
            p = subprocess.run(["tiffcp", "-c", "none", "-p", "contig", "-r", str(shape[0]),
                                path + ",0", tmp], capture_output=True, timeout=TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as e:
            skip("tiffcp unusable: %s" % e)
        if p.returncode != 0:
            fail("tiffcp failed: %s" % p.stderr.decode("utf-8", "replace"))
        data = open(tmp, "rb").read()
    e = "<" if data[:2] == b"II" else ">"
    if struct.unpack(e + "H", data[2:4])[0] != 42:
        fail("tiffcp wrote no classic TIFF")
    ifd = struct.unpack(e + "I", data[4:8])[0]
    n = struct.unpack(e + "H", data[ifd:ifd + 2])[0]
    tags = {}
    for i in range(n):
        tag, typ, cnt, val = struct.unpack(e + "HHI4s", data[ifd + 2 + 12 * i:ifd + 14 + 12 * i])
        if typ not in (3, 4):
            continue
        size = 2 if typ == 3 else 4
        if cnt * size > 4:  # values elsewhere: the first one is enough here
            val = data[struct.unpack(e + "I", val)[0]:][:size]
        tags[tag] = struct.unpack(e + ("H" if typ == 3 else "I"), val[:size])[0]
    bps, spp, off, cnt = tags[258], tags.get(277, 1), tags[273], tags[279]
    dt = np.dtype(e + "u2") if bps == 16 else np.uint8
    a = np.frombuffer(data[off:off + cnt], dtype=dt).astype(np.int64)
    if a.size != shape[0] * shape[1] * spp:
        fail("tiffcp copy holds %d samples, %s x %d expected" % (a.size, shape[:2], spp))
    return a.reshape(shape[0], shape[1], spp)


def unpremultiply(a, maxv):
    import numpy as np
    out = a.copy()
    alpha = a[..., -1:]
    ok = (alpha != 0) & (alpha != maxv)
    div = np.where(ok, alpha, 1)
    v = np.minimum((a[..., :-1] * maxv + div // 2) // div, maxv)
    out[..., :-1] = np.where(ok, v, a[..., :-1])
    return out


def compare(ours, ref, what):
    import numpy as np
    if ours.shape != ref.shape:
        fail("shape %s, %s gives %s" % (ours.shape, what, ref.shape))
    diff = np.abs(ours - ref)
    n = int(np.count_nonzero(diff))
    if n:
        y, x, c = np.argwhere(diff)[0]
        fail("%d samples differ from %s (max %d); first at x=%d y=%d c=%d: ours %d, ref %d"
             % (n, what, int(diff.max()), x, y, c, ours[y, x, c], ref[y, x, c]))


def large_absent(corpus):
    """Whether the large corpus is absent from the folder the tests read
    (tests/corpus/corpus_view.sh writes LARGE_CORPUS: its path, or "absent")."""
    try:
        with open(os.path.join(corpus, "LARGE_CORPUS")) as f:
            return f.read().strip() == "absent"
    except OSError:
        return False


def check_one(corpus, table_path, rel):
    table = read_table(table_path)
    if rel not in table:
        fail("%s has no row in %s" % (rel, table_path))
    row = table[rel]
    man = read_manifest(corpus).get(rel)
    if man is None and large_absent(corpus):
        skip("%s is only in the large corpus, which is absent" % rel)
    if man is None:
        fail("%s is not in the MANIFEST" % rel)
    path = os.path.join(corpus, rel)
    if not os.path.exists(path):
        fail("%s is missing" % path)
    dump = os.path.join(os.environ["PPX_BUILD_DIR"], "tests", "ppx_dump")
    if row["expect"] == "-":
        print("not checked here: " + row["note"])
        return
    if row["expect"] == "OK" and row["ref"] == "rasterio":
        return check_raster(dump, path, rel)
    rc, out, err = run_dump(dump, path)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    if row["expect"] != "OK":
        if rc == 0:
            fail("decoded, %s expected (%s)" % (row["expect"], last))
        if not last.startswith(row["expect"] + " "):
            fail("got '%s', %s expected" % (last, row["expect"]))
        print("ok: " + last)
        return
    if rc != 0:
        fail("decode failed: " + last)
    if not may_decode(man):
        fail("MANIFEST does not allow decoding this file: " + man["expected_behaviour"])
    try:
        import numpy  # noqa: F401
        import PIL  # noqa: F401
    except ImportError:
        skip("Pillow or numpy missing in %s" % sys.executable)
    ours, maxval = parse_pnm(out)
    h, w, c = ours.shape
    if (str(w), str(h)) != (man["width"], man["height"]):
        fail("decoded %dx%d, MANIFEST says %sx%s" % (w, h, man["width"], man["height"]))
    orientation = int(last.rsplit(" ", 1)[1]) if "orientation" in last else 1
    ref = row["ref"]
    if ref == "pil":
        compare(ours, ref_pil(path, c), "Pillow")
    elif ref == "pil-oriented":
        if orientation == 1:
            fail("orientation 1 reported where the file has one")
        compare(orient(ours, orientation), ref_pil(path, c), "Pillow (oriented)")
    elif ref in ("im", "im16"):
        depth = 16 if ref == "im16" else 8
        if (maxval > 255) != (depth == 16):
            fail("decoded maxval %d, %d-bit reference" % (maxval, depth))
        compare(ours, ref_im(path, c, depth, ours.shape), "ImageMagick %d-bit" % depth)
    elif ref == "raw-band0":
        compare(ours, ref_raw(path, ours.shape)[..., :1], "band 0 as stored")
    elif ref == "raw-premul":
        raw = ref_raw(path, ours.shape)[..., :4]
        compare(ours, unpremultiply(raw, maxval), "stored samples un-premultiplied")
    else:
        fail("unknown reference %r" % ref)
    print("ok: %s %dx%dx%d maxval %d equals %s" % (rel, w, h, c, maxval, ref))


def check_raster(dump, path, rel):
    """Scientific rasters: our decode (npy, the decoded sample type) against
    rasterio's read of every band, exactly; floats narrowed from float64 are
    compared as float32, which is what prepix keeps."""
    try:
        import io
        import numpy as np
        import rasterio
    except ImportError:
        skip("numpy or rasterio missing in %s" % sys.executable)
    try:
        p = subprocess.run([dump, "--npy", path], capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        fail("ppx_dump did not finish within %d s" % TIMEOUT_S)
    if p.returncode != 0:
        fail("decode failed: " + p.stderr.decode("utf-8", "replace").strip())
    ours = np.load(io.BytesIO(p.stdout))
    with rasterio.open(path) as d:
        ref = np.moveaxis(d.read(), 0, -1)
    if ref.dtype == np.float64:
        ref = ref.astype(np.float32)
    if ours.shape != ref.shape or ours.dtype != ref.dtype:
        fail("decoded %s %s, rasterio %s %s" % (ours.dtype, ours.shape, ref.dtype, ref.shape))
    if not np.array_equal(ours, ref, equal_nan=ours.dtype.kind == "f"):
        fail("%d samples differ from rasterio's" % int(np.sum(ours != ref)))
    print("ok: %s %s %s equals rasterio" % (rel, ours.dtype, ours.shape))


def may_decode(man_row):
    """The MANIFEST allows a decode: 'decode OK', or a policy choice between
    rejecting and decoding ('reject, or decode partially', 'either decode')."""
    e = man_row["expected_behaviour"]
    return "decode OK" in e or "decode partially" in e or "either decode" in e


def ours(man_row):
    """Whether a MANIFEST row is a TIFF or PNG file these tests must cover."""
    p, fmt = man_row["path"], man_row["format"]
    if p.startswith(("tiff/", "png/", "bad/tiff/", "bad/png/")):
        return True
    if p.startswith(("bad/misc/", "bad/fuzz-seeds/")):
        return fmt.startswith(("TIFF", "BigTIFF", "PNG")) or \
            p.lower().endswith((".tif", ".tiff", ".png"))
    return False


def coverage(corpus, tables):
    rows = {}
    for t in tables:
        rows.update(read_table(t))
    man = read_manifest(corpus)
    missing = [p for p, r in man.items() if ours(r) and p not in rows]
    stale = [p for p in rows if p not in man]
    if large_absent(corpus):
        # Rows for the large corpus's files: not stale, only not checkable here.
        print("small corpus only (the large corpus is absent): %d rows not checked" % len(stale))
        stale = []
    wrong = [p for p, r in rows.items() if p in man and r["expect"] == "OK"
             and not may_decode(man[p])]
    shouldok = [p for p, r in rows.items() if p in man and r["expect"] not in ("OK", "-", "EUNSUPPORTED")
                and man[p]["expected_behaviour"].startswith("decode OK")]
    for what, lst in (("no row for", missing), ("row for a file not in the MANIFEST", stale),
                      ("OK row where the MANIFEST does not allow a decode", wrong),
                      ("error row for a decode-OK file", shouldok)):
        for p in lst:
            print("%s: %s" % (what, p))
    if missing or stale or wrong or shouldok:
        fail("tables out of step with the MANIFEST")
    print("ok: %d rows cover the MANIFEST's TIFF and PNG files" % len(rows))


def main():
    corpus = os.environ.get("PPX_CORPUS_DIR", "")
    if not corpus or not os.path.exists(os.path.join(corpus, "MANIFEST.tsv")):
        skip("shared corpus not found (PPX_CORPUS_DIR)")
    if len(sys.argv) >= 3 and sys.argv[1] == "--coverage":
        coverage(corpus, sys.argv[2:])
    elif len(sys.argv) == 3:
        check_one(corpus, sys.argv[1], sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()

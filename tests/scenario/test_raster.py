"""Scientific rasters (issue 22, items 1-3): every TIFF sample type and band count decoded
exactly, geometry and resize on them, -f tiff keeping type and bands, the photo formats
refusing them without `scale`, hostile headers failing in bounded time and memory.

Files are made at test time: tifffile (uncompressed and Deflate, float16) and GDAL through
rasterio (LZW, Deflate, ZSTD with predictors 2 and 3, tiles, planar, BigTIFF, NBITS). The
reference read is tifffile's where it can decode the file (Debian's tifffile has no
imagecodecs: no LZW, ZSTD or packed bits), GDAL's otherwise. Skipped (77) without numpy,
tifffile or rasterio (scripts/install-deps installs python3-tifffile and python3-rasterio)."""
import io
import os
import resource
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import BUILD, Skip, check, main, report, run, tmpdir, tree  # noqa: E402

DUMP = os.path.join(BUILD, "tests", "ppx_dump")
TYPES = ["uint8", "uint16", "uint32", "int8", "int16", "int32", "float16", "float32",
         "float64"]


def mods():
    try:
        import numpy as np
        import rasterio
        import tifffile
    except ImportError as e:
        raise Skip(f"missing {e.name}")
    import warnings
    warnings.filterwarnings("ignore", module="rasterio")
    return np, tifffile, rasterio


def make(np, dtype, bands, h=37, w=29, bits=None, seed=1):
    """Random samples over the whole range of the type (bits: of that many bits); floats
    with NaN, +inf and -inf at fixed places."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        a = (rng.standard_normal((h, w, bands)) * 1000).astype(dt)
        a.flat[3], a.flat[7], a.flat[11] = np.nan, np.inf, -np.inf
        return a
    info = np.iinfo(dt)
    lo, hi = (0, (1 << bits) - 1) if bits else (info.min, info.max)
    return rng.integers(lo, hi, (h, w, bands), endpoint=True, dtype=np.int64).astype(dt)


def write_tf(tifffile, np, path, a, planar="contig", **kw):
    photometric = "rgb" if a.shape[2] == 3 and a.dtype.kind == "u" else "minisblack"
    data = np.moveaxis(a, -1, 0) if planar == "separate" else a
    if a.shape[2] == 1:
        data = a[..., 0]
    else:
        kw["planarconfig"] = planar
    tifffile.imwrite(path, data, photometric=photometric, **kw)


def write_rio(rasterio, np, path, a, **co):
    h, w, c = a.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c,
                       dtype=a.dtype.name, **co) as d:
        d.write(np.moveaxis(a, -1, 0))


def reference(np, tifffile, rasterio, path):
    try:
        r = tifffile.imread(path)
        page = tifffile.TiffFile(path).pages[0]
        if r.ndim == 2:
            r = r[..., None]
        elif page.planarconfig == 2:
            r = np.moveaxis(r, 0, -1)
        return r
    except (ValueError, NotImplementedError):
        with rasterio.open(path) as d:
            return np.moveaxis(d.read(), 0, -1)


def decode(np, path):
    p = subprocess.run([DUMP, "--npy", path], capture_output=True, timeout=60)
    check(p.returncode == 0, f"{path}: {p.stderr.decode(errors='replace')}")
    return np.load(io.BytesIO(p.stdout))


def same(np, ours, ref, what):
    if ref.dtype in (np.float16, np.float64):
        ref = ref.astype(np.float32)
    check(ours.dtype == ref.dtype and ours.shape == ref.shape,
          f"{what}: ours {ours.dtype} {ours.shape}, reference {ref.dtype} {ref.shape}")
    check(np.array_equal(ours, ref, equal_nan=ours.dtype.kind == "f"),
          f"{what}: {int(np.sum(ours != ref))} samples differ")


def decode_matrix():
    np, tifffile, rasterio = mods()
    d = tmpdir()
    n = 0
    for dt in TYPES:
        for bands in (1, 3, 6, 13):
            for planar in ("contig", "separate"):
                a = make(np, dt, bands, seed=n)
                p = os.path.join(d, f"tf_{dt}_{bands}_{planar}.tif")
                write_tf(tifffile, np, p, a, planar, compression="zlib" if n % 2 else None)
                same(np, decode(np, p), a, p)
                n += 1
                if dt == "float16":
                    continue  # GDAL writes no float16
                # One GDAL file each, the compressions taking turns: every type meets
                # every compression across the band counts.
                for comp in (("lzw", "deflate", "zstd")[n % 3],):
                    pred = 3 if dt.startswith("float") else 2
                    p = os.path.join(d, f"rio_{dt}_{bands}_{planar}_{comp}.tif")
                    write_rio(rasterio, np, p, a, compress=comp, predictor=pred,
                              interleave="band" if planar == "separate" else "pixel",
                              **({"tiled": True, "blockxsize": 16, "blockysize": 16}
                                 if comp == "zstd" else {}))
                    same(np, decode(np, p), reference(np, tifffile, rasterio, p), p)
                    same(np, decode(np, p), a, p)
                    n += 1
    # Odd unsigned depths, packed MSB first, widened without changing values.
    for bits, dt in ((3, "uint8"), (12, "uint16"), (14, "uint16"), (24, "uint32"),
                     (31, "uint32")):
        for comp in (None, "lzw"):
            a = make(np, dt, 3, bits=bits, seed=bits)
            p = os.path.join(d, f"u{bits}_{comp}.tif")
            write_rio(rasterio, np, p, a, nbits=bits, interleave="band",
                      **({"compress": comp} if comp else {}))
            same(np, decode(np, p), a, p)
            n += 1
    # BigTIFF, tiled, 13 bands.
    a = make(np, "int16", 13, h=70, w=90)
    p = os.path.join(d, "big.tif")
    write_rio(rasterio, np, p, a, BIGTIFF="YES", compress="lzw", predictor=2, tiled=True,
              blockxsize=32, blockysize=16)
    same(np, decode(np, p), a, p)
    # float64 narrowed: the count of changed values is reported, exact ones are not.
    a = np.array([[[0.5, 1 / 3]]], dtype=np.float64)
    p = os.path.join(d, "f64.tif")
    tifffile.imwrite(p, a[..., 0] if False else a.reshape(1, 2), photometric="minisblack")
    e = subprocess.run([DUMP, "--npy", p], capture_output=True).stderr.decode()
    check("narrowed 1 " in e, e)
    print(f"{n + 2} files decoded equal to the reference")
    info = run(["inspect", p]).stdout
    check('"sample":"float32"' in info, info)


def _run_tree(args, np_=None, w=None):
    out = tmpdir()
    extra = (["-w", str(w)] if w else [])
    p = run(["run"] + args + ["-o", out, "--progress", "none"] + extra, mpi_np=np_)
    return out, p


def _inputs(np, tifffile, rasterio):
    d = tmpdir()
    ins = os.path.join(d, "in")
    os.makedirs(ins)
    arrays = {}
    for i, (dt, bands) in enumerate((("float32", 6), ("int16", 3), ("float32", 1),
                                     ("int16", 13), ("uint16", 4))):
        a = make(np, dt, bands, h=41 + i, w=53 - i, seed=10 + i)
        if dt == "float32":
            a[np.isinf(a)] = 7.0  # NaN kept: it must stay where it is in crops
        name = f"s{i}_{dt}_{bands}.tif"
        write_rio(rasterio, np, os.path.join(ins, name), a, compress="deflate")
        arrays[name] = a
    return ins, arrays


def read_back(np, rasterio, path):
    with rasterio.open(path) as d:
        return np.moveaxis(d.read(), 0, -1)


def crop_exact():
    np, tifffile, rasterio = mods()
    ins, arrays = _inputs(np, tifffile, rasterio)
    out, p = _run_tree(["-i", ins, "-f", "tiff", "-p", "crop 3,5,20,17 | flip h | rotate 90"])
    check(p.returncode == 0, p.stderr)
    for name, a in arrays.items():
        ours = read_back(np, rasterio, os.path.join(out, name))
        ref = np.rot90(a[5:22, 3:23][:, ::-1], -1)
        same(np, ours, ref, name)
    # No ops: -f tiff keeps type and bands.
    out, p = _run_tree(["-i", ins, "-f", "tiff"])
    for name, a in arrays.items():
        same(np, read_back(np, rasterio, os.path.join(out, name)), a, name + " (copy)")


def pillow_coeffs(np, n_in, n_out, filt):
    """Pillow's precompute_coeffs (Resample.c) for one axis, normalised in double and kept
    as float32 like prepix's table: a matrix out x in."""
    support, f = {"bilinear": (1.0, lambda x: np.where(np.abs(x) < 1, 1 - np.abs(x), 0.0)),
                  "lanczos3": (3.0, lambda x: np.where(np.abs(x) < 3,
                                                        np.sinc(x) * np.sinc(x / 3), 0.0))}[filt]
    scale = n_in / n_out
    fs = max(scale, 1.0)
    support *= fs
    m = np.zeros((n_out, n_in), dtype=np.float64)
    win = np.zeros((n_out, n_in), dtype=np.float64)  # the window each output reads
    for xx in range(n_out):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), n_in)
        x = np.arange(xmin, xmax)
        w = f((x - center + 0.5) / fs)
        w = w / w.sum() if w.sum() != 0 else w
        m[xx, xmin:xmax] = w.astype(np.float32)
        win[xx, xmin:xmax] = 1
    return m, win


def resize_reference():
    """Resize of float32 and int16 rasters against numpy with Pillow's coefficients:
    floats within 1e-5 relative (double accumulation both sides, different order),
    integers within 1 (rounding of values that land on .5 within that error); outputs
    identical at -w 1 and 3 (resize_np: at -np 1 and 3)."""
    np, tifffile, rasterio = mods()
    ins, arrays = _inputs(np, tifffile, rasterio)
    for filt in ("bilinear", "lanczos3"):
        args = ["-i", ins, "-f", "tiff", "-p", f"resize 19x31 fit=fill filter={filt}"]
        out, p = _run_tree(args)
        check(p.returncode == 0, p.stderr)
        for name, a in arrays.items():
            ours = read_back(np, rasterio, os.path.join(out, name))
            mh, wh = pillow_coeffs(np, a.shape[0], 31, filt)
            mw, ww = pillow_coeffs(np, a.shape[1], 19, filt)
            nan = np.isnan(a)
            ref = np.einsum("yi,ijc,xj->yxc", mh, np.where(nan, 0, a).astype(np.float64), mw)
            # A NaN reaches every output whose window holds it (even at weight 0).
            ref[np.einsum("yi,ijc,xj->yxc", wh, nan.astype(np.float64), ww) > 0] = np.nan
            check(ours.dtype == a.dtype and ours.shape == (31, 19, a.shape[2]), name)
            if a.dtype.kind == "f":
                fin = np.isfinite(ref)
                check(np.array_equal(np.isnan(ours), np.isnan(ref)), f"{name}: NaN places")
                err = np.abs(ours[fin] - ref[fin]) / (1 + np.abs(ref[fin]))
                check(err.max() < 1e-5, f"{name} {filt}: relative error {err.max()}")
            else:
                info = np.iinfo(a.dtype)
                r = np.clip(np.round(ref), info.min, info.max)
                check(np.abs(ours.astype(np.int64) - r).max() <= 1, f"{name} {filt}")
        want = tree(out)
        o2, p = _run_tree(args, w=3)
        check(p.returncode == 0, p.stderr)
        check(tree(o2) == want, "outputs differ at -w 3")


def resize_np():
    """The raster resize outputs are the same at -np 1 and -np 3 (label mpi)."""
    np, tifffile, rasterio = mods()
    ins, arrays = _inputs(np, tifffile, rasterio)
    args = ["-i", ins, "-f", "tiff", "-p", "resize 19x31 fit=fill | crop 2,3,10,12"]
    o1, p = _run_tree(args)
    check(p.returncode == 0, p.stderr)
    o3, p = _run_tree(args, np_=3)
    check(p.returncode == 0, p.stderr)
    check(tree(o1) == tree(o3), "outputs differ at -np 3")


def photo_refused():
    np, tifffile, rasterio = mods()
    ins, arrays = _inputs(np, tifffile, rasterio)
    out, p = _run_tree(["-i", ins, "-f", "png"])
    rep = report(out)
    check(rep["images"]["failed"] == len(arrays), rep["images"])
    for f in rep["failures"]:
        check("`scale LO,HI`" in f["error"] or "`bands B1,B2,B3`" in f["error"], f["error"])
    # Colour ops refuse plain bands instead of skipping them.
    out, p = _run_tree(["-i", ins, "-f", "tiff", "-p", "grayscale"])
    errs = [f["error"] for f in report(out)["failures"]]
    check(any("not on 6 plain bands" in e for e in errs), errs)
    # bands + scale: the explicit conversion, equal to the formula in numpy.
    out, p = _run_tree(["-i", ins, "-f", "png", "-p", "bands 3,2,1 | scale -1000,1500"])
    from PIL import Image
    for name, a in arrays.items():
        png = os.path.join(out, name[:-4] + ".png")
        if a.shape[2] < 3:
            continue
        ours = np.asarray(Image.open(png))
        v = (a[..., [2, 1, 0]].astype(np.float64) + 1000) * 255 / 2500
        ref = np.where(np.isnan(v), 0, np.clip(np.floor(v + 0.5), 0, 255)).astype(np.uint8)
        check(np.array_equal(ours, ref), f"{name}: scale differs")


def ifd_file(entries, data=b"", big_endian=False):
    """A classic TIFF with one IFD of (tag, type, count, value-or-bytes) entries and data
    after it; values of more than 4 bytes are placed after the IFD."""
    e = ">" if big_endian else "<"
    n = len(entries)
    ifd_off = 8
    extra_off = ifd_off + 2 + 12 * n + 4
    extra = b""
    body = struct.pack(e + "H", n)
    sizes = {3: 2, 4: 4}
    data_off = extra_off
    for tag, typ, cnt, val in sorted(entries):
        if isinstance(val, bytes) and len(val) > 4:
            body += struct.pack(e + "HHII", tag, typ, cnt, extra_off + len(extra))
            extra += val
        else:
            raw = val if isinstance(val, bytes) else struct.pack(
                e + ("H" if sizes[typ] == 2 else "I"), val)
            body += struct.pack(e + "HHI", tag, typ, cnt) + raw.ljust(4, b"\0")
    data_off = extra_off + len(extra)
    body += b"\0\0\0\0"
    head = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(e + "I", ifd_off)
    return head + body + extra + data, data_off


def hostile_file(spp, bps, sf, w=4, h=4):
    """bps and sf: one value for every sample, or a tuple of one a sample (a file whose
    samples disagree)."""
    bpss = bps if isinstance(bps, tuple) else (bps,) * spp
    sfs = sf if isinstance(sf, tuple) else (sf,) * spp
    entries = [(256, 4, 1, w), (257, 4, 1, h), (259, 3, 1, 1), (262, 3, 1, 1),
               (277, 3, 1, spp), (278, 4, 1, h)]
    per = struct.pack("<" + "H" * spp, *bpss) if spp > 2 else \
        struct.pack("<HH", bpss[0], bpss[-1])[:2 * spp]
    entries.append((258, 3, spp, per))
    fmt = struct.pack("<" + "H" * spp, *sfs) if spp > 2 else \
        struct.pack("<HH", sfs[0], sfs[-1])[:2 * spp]
    entries.append((339, 3, spp, fmt))
    nbytes = max(1, (w * sum(bpss) + 7) // 8 * h)
    f, off = ifd_file(entries + [(273, 4, 1, 0), (279, 4, 1, nbytes)])
    f, off = ifd_file(entries + [(273, 4, 1, off), (279, 4, 1, nbytes)], bytes(nbytes))
    return f


HOSTILE = {
    "bands_300": (300, 8, 1, "ELIMIT", "300 bands, over the limit of 256"),
    "bands_65535_float": (65535, 32, 3, "E", ""),
    "float_8bit": (1, 8, 3, "EUNSUPPORTED", "8-bit float samples are not supported"),
    "float_24bit": (1, 24, 3, "EUNSUPPORTED", "24-bit float"),
    "uint_40bit": (1, 40, 1, "EUNSUPPORTED", "40-bit integer samples"),
    "complex_int": (1, 16, 5, "EUNSUPPORTED", "complex"),
    "sampleformat_9": (1, 16, 9, "ECORRUPT", "Bad value 9 for \"SampleFormat\""),
    "int_zero_bits": (1, 0, 2, "E", ""),
    "int_5bit": (2, 5, 2, "OK", ""),
    # Sample format lies: samples of one pixel that disagree on depth or format (a float
    # band beside an integer one) are refused whole, never read with one band's layout.
    "bps_mixed": (2, (16, 8), 1, "ECORRUPT", 'different values per sample for "BitsPerSample"'),
    "sampleformat_mixed": (3, 32, (1, 3, 1), "ECORRUPT",
                           'different values per sample for "SampleFormat"'),
}


def limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def sanitized():
    """AddressSanitizer reserves terabytes of address space: no RLIMIT_AS under it."""
    with open(DUMP, "rb") as f:
        return b"__asan_init" in f.read()


def hostile():
    """Each file fails (or decodes) with its specific message within 10 s and 1 GiB of
    address space; the files are the TIFF fuzz target's raster seeds
    (tests/fuzz/regressions/tiff_raster_*.tif), written here to check they still match."""
    d = tmpdir()
    seeds = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz",
                         "regressions")
    for name, (spp, bps, sf, code, msg) in HOSTILE.items():
        data = hostile_file(spp, bps, sf)
        p = os.path.join(d, name + ".tif")
        open(p, "wb").write(data)
        seed = os.path.join(seeds, f"tiff_raster_{name}.tif")
        if os.environ.get("PPX_WRITE_SEEDS"):
            open(seed, "wb").write(data)
        check(os.path.exists(seed) and open(seed, "rb").read() == data, f"seed {seed} stale")
        r = subprocess.run([DUMP, "--npy", p], capture_output=True, timeout=10,
                           preexec_fn=None if sanitized() else limit_memory)
        err = r.stderr.decode(errors="replace").strip()
        if code == "OK":
            check(r.returncode == 0, f"{name}: {err}")
            continue
        check(r.returncode == 1 and err.startswith(code) and msg in err and
              len(err.splitlines()) == 1, f"{name}: {err!r}")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (decode_matrix, crop_exact, resize_reference,
                                           resize_np, photo_refused, hostile)}))

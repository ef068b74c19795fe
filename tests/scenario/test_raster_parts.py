"""Pages, chips and GeoTIFF (issue 22, items 5-7), against real clients: multi-page stacks
made with tifffile (each page's output equals tifffile's page), georeferenced scenes made with
GDAL (gdal_translate; every chip's geotransform from `gdalinfo -json` and rasterio equals the
scene's transform applied to the chip's window), chips exact against numpy slicing, the three
edge rules, nodata chips skipped and counted, the same outputs at -np 1 and 3 and after kill -9
and --resume, and hostile inputs (page bombs, chip counts over the limits) as one failure each.
Skipped (77) without python3-tifffile, python3-rasterio or gdal-bin."""
import csv
import glob
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from lib import (PREPIX, SAMPLES, Skip, check, comparable, finish, kill_tree, main, report, run,  # noqa
                 spawn, tmpdir, tree, wait_records, wait_stderr)


def need():
    try:
        import rasterio  # noqa: F401
        import tifffile  # noqa: F401
    except ImportError as e:
        raise Skip(f"{e} (apt-get install python3-tifffile python3-rasterio)")
    if not shutil.which("gdal_translate") or not shutil.which("gdalinfo"):
        raise Skip("gdal-bin missing (apt-get install gdal-bin)")


def read_tiff(path):
    """All bands of a TIFF output as (bands, H, W) with rasterio (outputs are LZW, which
    tifffile needs imagecodecs for)."""
    import rasterio
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path) as d:
            return d.read()


def corner(path):
    m = re.search(r"@(\d+),(\d+)\.[a-z]+$", path)
    return int(m.group(1)), int(m.group(2))


def stack(path, pages, dtype, shape, seed):
    import tifffile
    rng = np.random.default_rng(seed)
    hi = np.iinfo(dtype).max
    a = rng.integers(0, hi, (pages,) + shape, dtype=dtype, endpoint=True)
    with tifffile.TiffWriter(path) as w:
        for p in range(pages):
            w.write(a[p], photometric="rgb" if len(shape) == 3 else "minisblack")
    return a


def geo_scene(folder, name="scene.tif", w=300, h=260, bands=3, tile=64, nodata_box=None,
              seed=3):
    """A north-up UTM scene of uint16, tiled and deflated, written by gdal_translate from a
    raw ENVI file (numpy), with GDAL_NODATA 0. Returns (path, array bands x h x w)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 65535, (bands, h, w), dtype=np.uint16)
    if nodata_box:
        x0, y0, x1, y1 = nodata_box
        a[:, y0:y1, x0:x1] = 0
    raw = os.path.join(tmpdir(), "scene.bsq")
    a.tofile(raw)
    with open(raw[:-4] + ".hdr", "w") as f:
        f.write("ENVI\nsamples = %d\nlines = %d\nbands = %d\nheader offset = 0\n"
                "file type = ENVI Standard\ndata type = 12\ninterleave = bsq\nbyte order = 0\n"
                % (w, h, bands))
    out = os.path.join(folder, name)
    subprocess.run(["gdal_translate", "-q", "-of", "GTiff", "-a_srs", "EPSG:32633",
                    "-a_ullr", "500000", "4600000", str(500000 + 10 * w), str(4600000 - 10 * h),
                    "-a_nodata", "0", "-co", "TILED=YES", "-co", f"BLOCKXSIZE={tile}",
                    "-co", f"BLOCKYSIZE={tile}", "-co", "COMPRESS=DEFLATE",
                    "-co", "PHOTOMETRIC=RGB" if bands == 3 else "PHOTOMETRIC=MINISBLACK",
                    raw, out], check=True)
    return out, a


def gdal_transform(path):
    info = json.loads(subprocess.run(["gdalinfo", "-json", path], capture_output=True,
                                     text=True, check=True).stdout)
    return info["geoTransform"], info


# ---- pages -------------------------------------------------------------------------------

def case_pages_tifffile():
    need()
    import tifffile
    d = tmpdir()
    src = os.path.join(d, "in", "cells")
    os.makedirs(src)
    gray = stack(os.path.join(src, "z.tif"), 5, np.uint16, (37, 41), 1)
    rgb = stack(os.path.join(src, "t.tiff"), 3, np.uint8, (20, 30, 3), 2)
    out = os.path.join(d, "out")
    run(["run", "-i", os.path.dirname(src), "-o", out, "-f", "tiff", "--pages", "all",
         "--progress", "none"], check=0)
    names = sorted(os.path.relpath(p, out) for p in glob.glob(out + "/cells/*"))
    check(names == ["cells/t#p0.tiff", "cells/t#p1.tiff", "cells/t#p2.tiff"] +
          [f"cells/z#p{i}.tif" for i in range(5)], names)
    with tifffile.TiffFile(os.path.join(src, "z.tif")) as tf:
        for i in range(5):
            got = read_tiff(os.path.join(out, f"cells/z#p{i}.tif"))[0]
            check(np.array_equal(got, tf.pages[i].asarray()), f"page {i} differs")
    with tifffile.TiffFile(os.path.join(src, "t.tiff")) as tf:
        for i in range(3):
            got = np.moveaxis(read_tiff(os.path.join(out, f"cells/t#p{i}.tiff")), 0, -1)
            check(np.array_equal(got, tf.pages[i].asarray()), f"rgb page {i} differs")
    check(report(out)["images"]["total"] == 8, report(out)["images"])
    # A range, and the labels of shards: every page inherits its file's class.
    out2 = os.path.join(d, "out2")
    run(["run", "-i", os.path.dirname(src), "-o", out2, "-f", "tar", "--pages", "1-2",
         "--progress", "none"], check=0)
    with open(os.path.join(out2, "index.csv")) as f:
        rows = list(csv.reader(f))
    keys = sorted(r[3] for r in rows[1:])
    check(keys == ["cells/t.tiff#p1", "cells/t.tiff#p2", "cells/z.tif#p1", "cells/z.tif#p2"],
          keys)
    check(len({r[2] for r in rows[1:]}) == 1, f"labels differ: {rows}")
    check(gray.shape[0] == 5 and rgb.shape[0] == 3, "stacks")


def ifd_chain_tiff(pages):
    """A little-endian TIFF of `pages` 1x1 8-bit pages sharing one strip: a page bomb of a
    few bytes a page."""
    entries = [(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8), (278, 3, 1, 1), (279, 4, 1, 1)]
    ifd_size = 2 + 12 * len(entries) + 4
    b = bytearray(b"II*\x00" + struct.pack("<I", 12) + b"\x7f\x00\x00\x00")
    for p in range(pages):
        off = 12 + p * ifd_size
        nxt = off + ifd_size if p + 1 < pages else 0
        b += struct.pack("<H", len(entries))
        for tag, typ, cnt, val in entries:
            b += struct.pack("<HHII", tag, typ, cnt, val)
        b += struct.pack("<I", nxt)
    return bytes(b)


def case_pages_bomb():
    need()
    d = tmpdir()
    src = os.path.join(d, "in")
    os.makedirs(src)
    with open(os.path.join(src, "bomb.tif"), "wb") as f:
        f.write(ifd_chain_tiff(70000))  # over the default --max-pages 65536
    stack(os.path.join(src, "ok.tif"), 4, np.uint8, (8, 8), 4)
    out = os.path.join(d, "out")
    run(["run", "-i", src, "-o", out, "--pages", "all", "--progress", "none"], check=3)
    rep = report(out)
    check(rep["images"] == {"total": 5, "ok": 4, "failed": 1, "skipped": 0}, rep["images"])
    f = rep["failures"]
    check(len(f) == 1 and f[0]["path"].endswith("bomb.tif") and
          "70000 pages" in f[0]["error"] and "limit" in f[0]["error"], f)
    # A page range past the end, and --max-pages: one failure each, with the reason.
    out2 = os.path.join(d, "out2")
    run(["run", "-i", src, "-o", out2, "--pages", "2-9", "--max-pages", "3", "--progress",
         "none"], check=3)
    f = sorted((x["path"], x["error"]) for x in report(out2)["failures"])
    check(len(f) == 1 and "bomb.tif" in f[0][0], f)
    check(report(out2)["images"]["ok"] == 2, report(out2)["images"])


# ---- chips ---------------------------------------------------------------------------------

def check_chips(out, scene, T, size, edge, ext="tif"):
    """Every chip exact against numpy slicing (padding with 0), and where it lies on the map."""
    bands, h, w = scene.shape
    chips = sorted(glob.glob(os.path.join(out, f"scene@*.{ext}")))
    for p in chips:
        x, y = corner(p)
        ref = np.zeros((bands, size, size), scene.dtype)
        part = scene[:, y:y + size, x:x + size]
        ref[:, :part.shape[1], :part.shape[2]] = part
        got = read_tiff(p)
        check(got.shape == ref.shape and np.array_equal(got, ref), f"{p}: pixels differ")
        gt, _ = gdal_transform(p)
        want = [T[0] + x * T[1], T[1], 0.0, T[3] + y * T[5], 0.0, T[5]]
        check(gt == want, f"{p}: gdalinfo geoTransform {gt}, expected {want}")
    return chips


def case_chips_geo():
    need()
    import rasterio
    d = tmpdir()
    src = os.path.join(d, "in")
    os.makedirs(src)
    path, scene = geo_scene(src)
    T, info = gdal_transform(path)
    check(info["bands"][0]["noDataValue"] == 0, "the scene has GDAL_NODATA")
    out = os.path.join(d, "out")
    run(["run", "-i", src, "-o", out, "-f", "tiff", "--chips", "64x64", "--progress", "none"],
        check=0)
    chips = check_chips(out, scene, T, 64, "drop")
    check(len(chips) == (300 // 64) * (260 // 64), len(chips))
    # rasterio: bounds, CRS and nodata of each chip; the mosaic is the scene (stride == size).
    mosaic = np.zeros_like(scene)
    cover = np.zeros(scene.shape[1:], bool)
    for p in chips:
        x, y = corner(p)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(p) as ds, rasterio.open(path) as sc:
                win = rasterio.windows.Window(x, y, 64, 64)
                check(ds.bounds == rasterio.windows.bounds(win, sc.transform),
                      f"{p}: bounds {ds.bounds}")
                check(ds.crs == sc.crs and ds.nodata == 0, f"{p}: crs {ds.crs}, nodata {ds.nodata}")
                mosaic[:, y:y + 64, x:x + 64] = ds.read()
                cover[y:y + 64, x:x + 64] = True
    ch, cw = (260 // 64) * 64, (300 // 64) * 64
    check(cover[:ch, :cw].all() and not cover[ch:, :].any(), "chips cover the grid once")
    check(np.array_equal(mosaic[:, :ch, :cw], scene[:, :ch, :cw]), "mosaic equals the scene")


def case_chips_edges():
    need()
    d = tmpdir()
    src = os.path.join(d, "in")
    os.makedirs(src)
    path, scene = geo_scene(src, w=150, h=100, bands=1, tile=32)
    T, _ = gdal_transform(path)
    want = {
        "drop": [(x, y) for y in (0, 40) for x in (0, 40, 80)],
        "pad": [(x, y) for y in (0, 40, 80) for x in (0, 40, 80, 120)],
        "shift": [(x, y) for y in (0, 40, 40) for x in (0, 40, 80, 90)],
    }
    want["shift"] = [(x, y) for y in (0, 40) for x in (0, 40, 80, 90)]
    for edge, corners in want.items():
        out = os.path.join(d, edge)
        run(["run", "-i", src, "-o", out, "-f", "tiff", "--chips", "60x60", "--chip-stride",
             "40", "--chip-edge", edge, "--progress", "none"], check=0)
        chips = check_chips(out, scene, T, 60, edge)
        got = sorted(corner(p) for p in chips)
        check(got == sorted(corners), f"{edge}: {got}")


def case_chips_types():
    """13-band uint16, 6-band int16 and float32 scenes (contiguous and planar) made with
    GDAL: every chip exact against numpy slicing, all bands kept, in place on the map; a
    float nodata chip skipped."""
    need()
    import rasterio
    from rasterio.transform import from_origin
    d = tmpdir()
    src = os.path.join(d, "in")
    os.makedirs(src)
    rng = np.random.default_rng(9)
    scenes = {
        "u16x13.tif": (rng.integers(0, 65535, (13, 90, 100)).astype(np.uint16), "PIXEL"),
        "i16x6.tif": (rng.integers(-32768, 32767, (6, 90, 100)).astype(np.int16), "BAND"),
        "f32x2.tif": (rng.normal(0, 1e3, (2, 90, 100)).astype(np.float32), "PIXEL"),
    }
    scenes["f32x2.tif"][0][:, 0:30, 0:30] = -9999.5
    for name, (a, inter) in scenes.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(os.path.join(src, name), "w", driver="GTiff", width=100,
                               height=90, count=a.shape[0], dtype=a.dtype, crs="EPSG:3857",
                               transform=from_origin(1000, 2000, 0.5, 0.5), tiled=True,
                               blockxsize=32, blockysize=32, compress="zstd",
                               interleave=inter.lower()) as w:
                w.write(a)
    out = os.path.join(d, "out")
    run(["run", "-i", src, "-o", out, "-f", "tiff", "--chips", "30", "--nodata", "-9999.5",
         "--progress", "none"], check=0)
    check(report(out)["images"].get("nodata") == 1, report(out)["images"])
    for name, (a, _) in scenes.items():
        stem = name[:-4]
        chips = glob.glob(os.path.join(out, stem + "@*.tif"))
        check(len(chips) == 9 - (name == "f32x2.tif"), f"{name}: {len(chips)} chips")
        for p in chips:
            x, y = corner(p)
            got = read_tiff(p)
            check(got.dtype == a.dtype and np.array_equal(got, a[:, y:y + 30, x:x + 30]),
                  f"{p}: pixels differ")
            gt, _ = gdal_transform(p)
            check(gt == [1000 + 0.5 * x, 0.5, 0.0, 2000 - 0.5 * y, 0.0, -0.5], f"{p}: {gt}")


def case_chips_nodata():
    need()
    d = tmpdir()
    src = os.path.join(d, "in")
    os.makedirs(src)
    geo_scene(src, w=128, h=128, bands=3, tile=32, nodata_box=(0, 0, 64, 64))
    out = os.path.join(d, "out")
    run(["run", "-i", src, "-o", out, "-f", "tiff", "--chips", "32", "--nodata", "0",
         "--progress", "none"], check=0)
    img = report(out)["images"]
    check(img == {"total": 16, "ok": 12, "failed": 0, "skipped": 0, "nodata": 4}, img)
    check(not glob.glob(out + "/scene@0,0.tif") and not glob.glob(out + "/scene@32,32.tif"),
          "a nodata chip was written")
    check(len(glob.glob(out + "/scene@*.tif")) == 12, "chips written")


def chips_tree(d, np_, extra=()):
    out = os.path.join(d, f"np{np_}")
    run(["run", "-i", os.path.join(d, "in"), "-o", out, "-f", "tar", "--chips", "48x40",
         "--chip-edge", "pad", "--shard-size", "3", "--progress", "none"] + list(extra),
        mpi_np=np_, check=0)
    return tree(out), comparable(report(out))


def case_chips_np():
    need()
    d = tmpdir()
    os.makedirs(os.path.join(d, "in", "a"))
    os.makedirs(os.path.join(d, "in", "b"))
    geo_scene(os.path.join(d, "in", "a"), w=150, h=100, bands=1, tile=32)
    geo_scene(os.path.join(d, "in", "b"), w=100, h=90, bands=3, tile=16, seed=5)
    one = chips_tree(d, 1)
    three = chips_tree(d, 3)
    check(one == three, "outputs or report differ between -np 1 and -np 3")
    check(one[1]["images"]["total"] == 4 * 3 + 3 * 3, one[1]["images"])


def case_chips_resume():
    need()
    d = tmpdir()
    src = os.path.join(d, "in")
    os.makedirs(src)
    geo_scene(src, w=200, h=160, bands=3, tile=32)
    base = ["run", "-i", src, "-f", "tiff", "--chips", "40x40", "--chunk-size", "2",
            "--progress", "none", "-w", "1"]
    whole = os.path.join(d, "whole")
    run(base + ["-o", whole], check=0)
    # Killed (-9) while a worker holds the 11th chip of 20 (the first key ending in "80": the
    # fault's list is comma-separated): some chunks are journaled, one is under way; --resume
    # must redo exactly the unfinished ones.
    out = os.path.join(d, "out")
    fifo = os.path.join(tmpdir(), "go")
    os.mkfifo(fifo)
    proc = spawn([PREPIX] + base + ["-o", out],
                 env={"PPX_TEST_FAULT": "stop:80", "PPX_TEST_FIFO": fifo})
    wait_stderr(proc, "stopped on scene.tif@0,80")
    wait_records(out)  # committed shortly after their chunk, by a thread
    kill_tree(proc)
    run(base + ["-o", out, "--resume"], check=0)
    check(tree(out) == tree(whole), "outputs after kill -9 and --resume differ")
    a, b = comparable(report(out)), comparable(report(whole))
    check(a == b, f"reports differ: {a} vs {b}")
    check(report(out)["resumed"]["chunks"] > 0, report(out)["resumed"])


def case_chips_resize_geo():
    """A resize after the chip: the pixel size grows by the factor, the corner stays."""
    need()
    d = tmpdir()
    src = os.path.join(d, "in")
    os.makedirs(src)
    path, _ = geo_scene(src, w=128, h=128, bands=1, tile=32)
    T, _ = gdal_transform(path)
    out = os.path.join(d, "out")
    run(["run", "-i", src, "-o", out, "-f", "tiff", "--chips", "64", "-p",
         "resize 32x16 fit=fill", "--progress", "none"], check=0)
    for p in glob.glob(out + "/scene@*.tif"):
        x, y = corner(p)
        gt, _ = gdal_transform(p)
        want = [T[0] + x * T[1], T[1] * 2, 0.0, T[3] + y * T[5], 0.0, T[5] * 4]
        check(gt == want, f"{p}: {gt}, expected {want}")
    # A flip cannot be said by a pixel size: a ModelTransformation says it, and GDAL reads it.
    out2 = os.path.join(d, "out2")
    run(["run", "-i", src, "-o", out2, "-f", "tiff", "--chips", "64", "-p", "flip h",
         "--progress", "none"], check=0)
    gt, _ = gdal_transform(out2 + "/scene@64,0.tif")
    want = [T[0] + 128 * T[1], -T[1], 0.0, T[3], 0.0, T[5]]
    check(gt == want, f"flipped chip: {gt}, expected {want}")


def case_chips_limits():
    need()
    d = tmpdir()
    src = os.path.join(d, "in")
    os.makedirs(src)
    geo_scene(src, w=100, h=100, bands=1, tile=32)
    with open(os.path.join(src, "small.tif"), "wb") as f:
        f.write(ifd_chain_tiff(1))
    shutil.copy(os.path.join(SAMPLES, "misc", "librsvg2-tests__tree.jpg"),
                os.path.join(src, "photo.jpg"))
    out = os.path.join(d, "out")
    run(["run", "-i", src, "-o", out, "--chips", "10", "--chip-stride", "1", "--max-chips",
         "1000", "--progress", "none"], check=3)
    f = {os.path.basename(x["path"]): x["error"] for x in report(out)["failures"]}
    check(set(f) == {"scene.tif", "small.tif", "photo.jpg"}, f)
    check("--max-chips" in f["scene.tif"], f["scene.tif"])
    check("no 10x10 chip fits" in f["small.tif"], f["small.tif"])
    check("TIFF" in f["photo.jpg"], f["photo.jpg"])


def case_usage():
    d = tmpdir()
    for args in (["--chip-stride", "4"], ["--nodata", "0"], ["--pages", "3-1"],
                 ["--pages", "x"], ["--chips", "0x4"], ["--chip-edge", "wrap", "--chips", "4"],
                 ["--chips", "4", "--transport", "bytes"], ["--max-chips", "0", "--chips", "4"]):
        p = run(["run", "-i", d, "-o", os.path.join(d, "o")] + args)
        check(p.returncode == 2 and p.stderr.count("\n") <= 3, f"{args}: {p.returncode} "
                                                                 f"{p.stderr}")
        check(not os.path.exists(os.path.join(d, "o")), "usage error wrote OUTDIR")


if __name__ == "__main__":
    sys.exit(main({k[5:]: v for k, v in globals().items() if k.startswith("case_")}))

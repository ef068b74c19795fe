#!/usr/bin/env python3
"""Chipping a Sentinel-2-sized scene: peak RSS and time of prepix against rasterio windowed
reads and gdal_retile.py on the same scene, in the same run (docs/benchmarks.md, "chips").

    bench/chips.py [--prepix PATH] [--work DIR] [--size N] [--full] [--bands 13] [--chip 512]
                   [--workers 1,2] [--doc docs/benchmarks.md]

The scene is a tiled (512 x 512), deflated, north-up uint16 GeoTIFF of N x N pixels (default
2745, a quarter of a Sentinel-2 side; --full: 10980) and 13 bands, written by gdal_translate
from a raw file made with numpy (smooth fields plus noise, so that it compresses as a real
scene does rather than as noise). Each tool cuts it into chips of 512 x 512 written as LZW
GeoTIFFs:
  prepix      prepix run --chips 512x512 -f tiff -w W (peak VmHWM of each worker, sampled)
  rasterio    one process: for each window, DatasetReader.read(window=...) and a GTiff write
  gdal_retile gdal_retile.py -ps 512 512 -co COMPRESS=LZW
Needs gdal-bin, python3-gdal (gdal_retile.py), python3-rasterio, python3-numpy."""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import replace_block, run_timed, watch_rss  # noqa: E402

RASTERIO_CHIPS = r'''
import sys, rasterio, warnings
from rasterio.windows import Window
src, out, c = sys.argv[1], sys.argv[2], int(sys.argv[3])
with rasterio.open(src) as d:
    prof = dict(d.profile, tiled=False, compress="lzw", width=c, height=c)
    prof.pop("blockxsize", None); prof.pop("blockysize", None)
    for y in range(0, d.height - c + 1, c):
        for x in range(0, d.width - c + 1, c):
            w = Window(x, y, c, c)
            a = d.read(window=w)
            prof["transform"] = d.window_transform(w)
            with rasterio.open(f"{out}/scene@{x},{y}.tif", "w", **prof) as o:
                o.write(a)
'''


def make_scene(work, n, bands):
    import numpy as np
    path = os.path.join(work, "in", "scene.tif")
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    raw = os.path.join(work, "scene.bsq")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    with open(raw, "wb") as f:
        for b in range(bands):  # one band at a time: memory of one band, not of the scene
            field = 3000 + 2000 * np.sin(6 * xx + b) * np.cos(4 * yy - b)
            band = (field + rng.normal(0, 40, (n, n))).clip(0, 65535).astype(np.uint16)
            band.tofile(f)
    with open(raw[:-4] + ".hdr", "w") as f:
        f.write("ENVI\nsamples = %d\nlines = %d\nbands = %d\nheader offset = 0\n"
                "file type = ENVI Standard\ndata type = 12\ninterleave = bsq\nbyte order = 0\n"
                % (n, n, bands))
    subprocess.run(["gdal_translate", "-q", "-a_srs", "EPSG:32633", "-a_ullr", "300000",
                    "5000000", str(300000 + 10 * n), str(5000000 - 10 * n), "-a_nodata", "0",
                    "-co", "TILED=YES", "-co", "BLOCKXSIZE=512", "-co", "BLOCKYSIZE=512",
                    "-co", "COMPRESS=DEFLATE", "-co", "BIGTIFF=IF_SAFER", raw, path], check=True)
    os.remove(raw)
    return path


def fresh(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prepix", default=os.environ.get("PPX_PREPIX", "prepix"))
    ap.add_argument("--work", default="build/bench/chips")
    ap.add_argument("--size", type=int, default=2745)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--bands", type=int, default=13)
    ap.add_argument("--chip", type=int, default=512)
    ap.add_argument("--workers", default="2",
                    help="worker counts of prepix, comma-separated (1,2: one row each)")
    ap.add_argument("--doc", help="rewrite the chips block of this file (--full: chips-full)")
    a = ap.parse_args()
    n = 10980 if a.full else a.size
    work = os.path.abspath(os.path.join(a.work, str(n)))
    os.makedirs(work, exist_ok=True)
    t0 = time.monotonic()
    scene = make_scene(work, n, a.bands)
    print("scene %dx%dx%d uint16 (%.0f MiB raw, %.0f MiB deflated) made in %.0f s"
          % (n, n, a.bands, n * n * a.bands * 2 / 2**20, os.path.getsize(scene) / 2**20,
             time.monotonic() - t0))
    env = dict(os.environ)
    rows = []
    # prepix: peak RSS per worker, sampled; time from a second, unwatched run.
    for w in [int(x) for x in a.workers.split(",")]:
        out = fresh(os.path.join(work, "out-prepix"))
        cmd = "%s run -i %s -o %s --chips %dx%d -f tiff -w %d --progress none" % (
            a.prepix, os.path.dirname(scene), out, a.chip, a.chip, w)
        rank, workers = watch_rss(cmd, work, env)
        fresh(out)
        r = run_timed(cmd, work, env, 3600)
        if r["rc"] != 0:
            sys.exit("prepix failed: " + r["stderr"])
        chips = len([f for f in os.listdir(out) if f.endswith(".tif")])
        rows.append(("prepix -w %d" % w, r["wall"], r["cpu"],
                     max(workers) if workers else 0, rank, chips))
        shutil.rmtree(out, ignore_errors=True)  # a full scene's chips are gigabytes
    out = fresh(os.path.join(work, "out-rasterio"))
    r = run_timed("/usr/bin/python3 -c '%s' %s %s %d" % (RASTERIO_CHIPS, scene, out, a.chip),
                  work, env, 3600)
    if r["rc"] != 0:
        sys.exit("rasterio failed: " + r["stderr"])
    rows.append(("rasterio windows", r["wall"], r["cpu"], r["rss_kib"] / 1024.0, 0,
                 len(os.listdir(out))))
    shutil.rmtree(out, ignore_errors=True)
    retile = shutil.which("gdal_retile.py") or shutil.which("gdal_retile")
    if retile:
        out = fresh(os.path.join(work, "out-retile"))
        r = run_timed("%s -q -ps %d %d -co COMPRESS=LZW -targetDir %s %s"
                      % (retile, a.chip, a.chip, out, scene), work, env, 3600)
        if r["rc"] == 0:
            rows.append(("gdal_retile.py", r["wall"], r["cpu"], r["rss_kib"] / 1024.0, 0,
                         len(os.listdir(out))))
        shutil.rmtree(out, ignore_errors=True)
    lines = ["Chipping a %dx%d, %d-band uint16 scene (tiles 512, deflate) into %dx%d LZW "
             "GeoTIFFs, %s, %s:" % (n, n, a.bands, a.chip, a.chip,
                                    time.strftime("%Y-%m-%d"), os.uname().machine),
             "",
             "| tool | wall s | CPU s | peak RSS of a worker (MiB) | rank (MiB) | chips |",
             "|---|---|---|---|---|---|"]
    for name, wall, cpu, rss, rk, c in rows:
        lines.append("| %s | %.1f | %.1f | %.0f | %s | %d |"
                     % (name, wall, cpu, rss, "%.0f" % rk if rk else "-", c))
    lines.append("")
    lines.append("Scene raw size: %.0f MiB; one chip of all bands: %.1f MiB."
                 % (n * n * a.bands * 2 / 2**20, a.chip * a.chip * a.bands * 2 / 2**20))
    text = "\n".join(lines) + "\n"
    print(text)
    if a.doc:
        with open(a.doc) as f:
            doc = f.read()
        with open(a.doc, "w") as f:
            f.write(replace_block(doc, "chips-full" if a.full else "chips", text))


if __name__ == "__main__":
    main()

"""The geometry record (docs/formats.md): for every output, the affine map from the stored
input's pixel coordinates to the output's, and the output's size. Checked by pixels: with
nearest-neighbour resampling every output pixel is the input pixel that the inverse map puts
under its centre (or the fill where it falls outside), for random pipelines of every geometric
op over PNGs and over JPEG photos with EXIF orientations 6 and 8 made here."""
import csv
import os
import random
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (MPIEXEC, PREPIX, check, kill_tree, main, run, spawn, tmpdir,  # noqa: E402
                 wait_records, wait_stderr)

COLS = ["width", "height", "xx", "xy", "x0", "yx", "yy", "y0"]


def read_geometry(path, key_col):
    """{key: (w, h, 2x3 matrix)} of geometry.csv (key_col "source") or index.csv ("path")."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for r in rows:
        m = np.array([[float(r["xx"]), float(r["xy"]), float(r["x0"])],
                      [float(r["yx"]), float(r["yy"]), float(r["y0"])]])
        out[r[key_col]] = (int(r["width"]), int(r["height"]), m, r)
    return out


def make_inputs(root, rng):
    """Noise PNGs of odd sizes and JPEG photos with EXIF orientation 6 and 8 (noise too, so
    that a wrong pixel is never right by chance)."""
    os.makedirs(os.path.join(root, "a"))
    os.makedirs(os.path.join(root, "b"))
    nrng = np.random.default_rng(7)
    names = []
    for i, (w, h) in enumerate([(37, 23), (64, 41), (30, 52), (45, 45)]):
        a = nrng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        n = f"a/p{i}.png"
        Image.fromarray(a).save(os.path.join(root, n))
        names.append(n)
    for i, (w, h, o) in enumerate([(48, 32, 6), (40, 56, 8), (33, 27, 6), (50, 38, 8)]):
        a = nrng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ex = Image.Exif()
        ex[274] = o
        n = f"b/j{i}_o{o}.jpg"
        Image.fromarray(a).save(os.path.join(root, n), quality=95, exif=ex.tobytes())
        names.append(n)
    return names


def random_pipeline(rng):
    ops = []
    if rng.random() < 0.8:
        ops.append("autorotate")
    # One resampling op at most: two nearest resamplings in a row round twice, so their
    # output is not one nearest sampling of the composed map (the record is still exact).
    resampled = False
    for _ in range(rng.randint(2, 5)):
        k = rng.choice(["resize", "center-crop", "crop", "random-crop", "flip", "rotate", "pad"])
        if k in ("resize", "random-crop"):
            if resampled:
                k = "flip"
            resampled = True
        if k == "resize":
            fit = rng.choice(["shorter", "longer", "fill"])
            size = f"{rng.randint(20, 90)}" if fit != "fill" else \
                f"{rng.randint(20, 90)}x{rng.randint(20, 90)}"
            ops.append(f"resize {size} fit={fit} filter=nearest")
        elif k == "center-crop":
            ops.append(f"center-crop {rng.randint(10, 70)}x{rng.randint(10, 70)}")
        elif k == "crop":
            ops.append(f"crop {rng.randint(0, 6)},{rng.randint(0, 6)},"
                       f"{rng.randint(5, 18)},{rng.randint(5, 18)}")
        elif k == "random-crop":
            ops.append(f"random-crop {rng.randint(16, 60)} scale=0.2,1 filter=nearest")
        elif k == "flip":
            ops.append(f"flip {rng.choice('hv')} p=0.5")
        elif k == "rotate":
            ops.append(f"rotate {rng.choice([90, 180, 270])}")
        else:
            ops.append(f"pad {rng.randint(20, 80)}")
    return " | ".join(ops)


def check_pixels(src, out, w, h, m, what):
    """Every output pixel is the input pixel under its centre's inverse image, or the fill
    (zero) where a crop or pad along the way left none. The nearest resampler walks in
    doubles: a centre within 1e-6 of a pixel edge may land on either side."""
    check(out.shape[:2] == (h, w), f"{what}: output {out.shape[1]}x{out.shape[0]}, "
          f"record {w}x{h}")
    A = np.vstack([m, [0, 0, 1]])
    inv = np.linalg.inv(A)
    ys, xs = np.mgrid[0:h, 0:w]
    pts = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5, np.ones(w * h)])
    sx, sy = (inv @ pts)[:2]
    sh, sw = src.shape[:2]
    flat = out.reshape(-1, out.shape[2])
    fill = np.all(flat == 0, axis=1)
    ok = fill.copy()
    for dx in (-1e-6, 1e-6):
        for dy in (-1e-6, 1e-6):
            ix, iy = np.floor(sx + dx).astype(np.int64), np.floor(sy + dy).astype(np.int64)
            inside = (ix >= 0) & (ix < sw) & (iy >= 0) & (iy < sh)
            val = np.zeros_like(flat)
            val[inside] = src[iy[inside], ix[inside]]
            ok |= inside & np.all(val == flat, axis=1)
    bad = np.flatnonzero(~ok)
    check(bad.size == 0, f"{what}: {bad.size} of {w * h} pixels are not where the record "
          f"maps them, first at {bad[:1] % w},{bad[:1] // w}; record {m.tolist()}")
    # The input's corners map onto an axis-aligned rectangle (each op moves whole pixels
    # or scales), and every pixel of content lies inside it.
    corners = A @ np.array([[0, sw, 0, sw], [0, 0, sh, sh], [1, 1, 1, 1]])
    x0, x1 = corners[0].min(), corners[0].max()
    y0, y1 = corners[1].min(), corners[1].max()
    for c in corners[:2].T:
        check(min(abs(c[0] - x0), abs(c[0] - x1)) < 1e-9 and
              min(abs(c[1] - y0), abs(c[1] - y1)) < 1e-9, f"{what}: corners {corners}")
    cx, cy = xs.ravel()[~fill] + 0.5, ys.ravel()[~fill] + 0.5
    check(np.all((cx > x0) & (cx < x1) & (cy > y0) & (cy < y1)),
          f"{what}: content outside the mapped input")
    return int((~fill).sum())


def stored_pixels(root, names, t):
    """The inputs' pixels as stored (no orientation applied): prepix's own decode of each
    JPEG (no op: nothing moves), PIL's of the PNGs."""
    ref = os.path.join(t, "stored")
    run(["run", "-i", root, "-o", ref, "-f", "png", "--progress", "none"], check=0)
    out = {}
    for n in names:
        p = os.path.join(ref, os.path.splitext(n)[0] + ".png")
        out[n] = np.asarray(Image.open(p).convert("RGB"))
    return out


def pixels():
    t = tmpdir()
    root = os.path.join(t, "in")
    rng = random.Random(23)
    names = make_inputs(root, rng)
    src = stored_pixels(root, names, t)
    content = 0
    for i in range(14):
        spec = random_pipeline(rng)
        out = os.path.join(t, f"o{i}")
        p = run(["run", "-i", root, "-o", out, "-p", spec, "-f", "png", "--seed", str(i),
                 "--progress", "none"])
        check(p.returncode == 0, f"{spec}: exit {p.returncode} {p.stderr[-1000:]}")
        g = read_geometry(os.path.join(out, "geometry.csv"), "source")
        check(sorted(g) == sorted(names), f"{spec}: geometry.csv rows {sorted(g)}")
        for n in names:
            w, h, m, row = g[n]
            check(row["path"] == os.path.splitext(n)[0] + ".png", f"path column {row}")
            o = np.asarray(Image.open(os.path.join(out, row["path"])).convert("RGB"))
            content += check_pixels(src[n], o, w, h, m, f"{spec} on {n}")
        # The same record in index.csv for shards.
        sh = os.path.join(t, f"s{i}")
        run(["run", "-i", root, "-o", sh, "-p", spec, "-f", "tar", "--seed", str(i),
             "--progress", "none"], check=0)
        gi = read_geometry(os.path.join(sh, "index.csv"), "path")
        for n in names:
            check([gi[n][3][c] for c in COLS] == [g[n][3][c] for c in COLS],
                  f"{spec}: index.csv and geometry.csv differ for {n}")
    check(content > 10000, f"only {content} pixels of content were checked")


def dct_scaled():
    """A JPEG decoded at 1/2..1/8 (shrink on load before a resize): the record includes the
    DCT scale, and with sizes that are multiples of 8 the input's corners land exactly on
    the output's."""
    t = tmpdir()
    root = os.path.join(t, "in")
    os.makedirs(root)
    a = np.random.default_rng(3).integers(0, 256, (384, 512, 3), dtype=np.uint8)
    ex = Image.Exif()
    ex[274] = 6
    Image.fromarray(a).save(os.path.join(root, "big.jpg"), quality=90, exif=ex.tobytes())
    for spec, size in (("autorotate | resize 48", (48, 64)), ("resize 96x40 fit=fill", (96, 40)),
                       ("autorotate | resize 100 | center-crop 90x60", (90, 60))):
        out = os.path.join(t, "o" + str(len(spec)))
        run(["run", "-i", root, "-o", out, "-p", spec, "-f", "png", "--progress", "none"],
            check=0)
        w, h, m, _ = read_geometry(os.path.join(out, "geometry.csv"), "source")["big.jpg"]
        check((w, h) == size, f"{spec}: record size {w}x{h}")
        corners = np.vstack([m, [0, 0, 1]]) @ np.array([[0, 512, 0, 512], [0, 0, 384, 384],
                                                        [1, 1, 1, 1]])
        xs, ys = sorted(set(np.round(corners[0], 9))), sorted(set(np.round(corners[1], 9)))
        # The decoded image fills the resized one: its corners map onto the resize's corners
        # (then the crop's offsets).
        rw, rh = (48, 64) if "48" in spec else (96, 40) if "fill" in spec else (100, 133)
        ox, oy = ((rw - w) // 2, (rh - h) // 2) if "center-crop" in spec else (0, 0)
        check(xs == [-ox, rw - ox] and ys == [-oy, rh - oy],
              f"{spec}: corners map to x {xs} y {ys}, expected {[-ox, rw - ox]} "
              f"{[-oy, rh - oy]}")
        o = np.asarray(Image.open(os.path.join(out, "big.png")))
        check(o.shape[:2] == (h, w), f"{spec}: output {o.shape}")


def identical():
    """The same records for -np 1 and 3, -w 1 and 2, and after a kill -9 and --resume."""
    t = tmpdir()
    root = os.path.join(t, "in")
    names = make_inputs(root, random.Random(1))
    for i in range(3):  # more images, so that chunks and ranks share them out
        for n in names:
            d = os.path.join(root, f"c{i}", os.path.dirname(n))
            os.makedirs(d, exist_ok=True)
            os.link(os.path.join(root, n), os.path.join(d, os.path.basename(n)))
    spec = "autorotate | resize 60 | random-crop 32 scale=0.3,1 | flip h p=0.5 | rotate 90"
    base = ["-i", root, "-p", spec, "--seed", "9", "--progress", "none"]
    for fmt, name in (("png", "geometry.csv"), ("tar", "index.csv")):
        size = ["--chunk-size" if fmt == "png" else "--shard-size", "3"]
        want = None
        for np_, w in ((None, 1), (None, 2), (3, 1), (3, 2)):
            out = os.path.join(t, f"{fmt}-{np_}-{w}")
            run(["run", "-o", out, "-f", fmt, "-w", str(w)] + base + size, mpi_np=np_, check=0)
            with open(os.path.join(out, name), "rb") as f:
                got = f.read()
            check(got.count(b"\n") == 1 + 4 * len(names), f"{name}: {got[:300]!r}")
            want = want or got
            check(got == want, f"{name} differs at -np {np_} -w {w}")
        out = os.path.join(t, f"{fmt}-killed")
        stuck = f"c1/{names[5]}"
        proc = spawn([MPIEXEC, "--oversubscribe", "-np", "2", PREPIX, "run", "-o", out, "-f",
                      fmt, "-w", "1", "--timeout", "600"] + base + size,
                     env={"PPX_TEST_FAULT": f"hang:{stuck}"})
        wait_stderr(proc, "hanging on")
        # Journal records are committed by a thread of their own, shortly after their chunk:
        # the kill comes once one has reached the journal, so that --resume has work to keep.
        wait_records(out)
        kill_tree(proc)
        p = run(["run", "-o", out, "-f", fmt, "-w", "1", "--resume"] + base + size, mpi_np=2)
        check(p.returncode == 0, f"resume: exit {p.returncode} {p.stderr[-1000:]}")
        with open(os.path.join(out, "prepix-report.json"), encoding="utf-8") as f:
            import json
            check(json.load(f)["resumed"]["images"] > 0, "nothing was resumed")
        with open(os.path.join(out, name), "rb") as f:
            check(f.read() == want, f"{name} differs after kill -9 and --resume")


if __name__ == "__main__":
    sys.exit(main({"pixels": pixels, "dct_scaled": dct_scaled, "identical": identical}))

"""Exact statistics of rasters (issue 22, item 4): `raster_stats` in the report per sample
type and band (count, NaN and infinities apart, min, max, mean, std, 64-bin histogram)
equal exact (fractions.Fraction) sums over the same values read by tifffile, and are the
same at -np 1, -np 3, -w 3 and after kill -9 and --resume. Files are made at test time
with tifffile, floats with NaN, infinities, -0.0, 1e-45 and 3e38. Skipped (77) without
tifffile."""
import math
import os
import sys
from fractions import Fraction

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (PREPIX, Skip, check, comparable, kill_tree, main, report, run, spawn,  # noqa
                 tmpdir, wait_records, wait_stderr)

import numpy as np  # noqa: E402

SCENES = [("float32", 3), ("float32", 3), ("float32", 3), ("int16", 2), ("int16", 2),
          ("int32", 1), ("uint32", 1), ("int8", 4), ("uint16", 6), ("float32", 3)]


def tf():
    try:
        import tifffile
    except ImportError as e:
        raise Skip(f"missing {e.name}")
    return tifffile


def scene(i, dtype, bands, h=23, w=17):
    rng = np.random.default_rng(100 + i)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        a = (rng.standard_normal((h, w, bands)) * 10.0 ** (i % 5) + i).astype(dt)
        a.flat[3 + i], a.flat[7], a.flat[11 + i] = np.nan, np.inf, -np.inf
        a.flat[13], a.flat[14], a.flat[15] = -0.0, 1e-45, 3e38
        a.flat[16] = -3e38
        return a
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, (h, w, bands), endpoint=True,
                        dtype=np.int64).astype(dt)


def make_inputs():
    tifffile = tf()
    d = tmpdir()
    src = os.path.join(d, "in")
    os.makedirs(src)
    arrays = []
    for i, (dt, bands) in enumerate(SCENES):
        a = scene(i, dt, bands)
        kw = {"planarconfig": "contig"} if bands > 1 else {}
        tifffile.imwrite(os.path.join(src, f"s{i:02d}.tif"), a if bands > 1 else a[..., 0],
                         photometric="minisblack", **kw)
        arrays.append(tifffile.imread(os.path.join(src, f"s{i:02d}.tif")).reshape(a.shape))
    return d, src, arrays


def bins(dt, v):
    if dt.kind == "f":
        return (v.astype(np.float32).view(np.uint32) >> 26).astype(np.int64)
    bits = dt.itemsize * 8
    off = v.astype(np.int64) - (np.iinfo(dt).min if dt.kind == "i" else 0)
    return off >> (bits - 6)


def expected(arrays):
    out = {}
    for a in arrays:
        dt = a.dtype
        g = out.setdefault(dt.name, {"images": 0, "pixels": 0, "vals": {}})
        g["images"] += 1
        g["pixels"] += a.shape[0] * a.shape[1]
        for b in range(a.shape[2]):
            g["vals"].setdefault(b, []).append(a[..., b].ravel())
    res = {}
    for name, g in out.items():
        bands = []
        for b in sorted(g["vals"]):
            v = np.concatenate(g["vals"][b])
            fin = v[np.isfinite(v)] if v.dtype.kind == "f" else v
            n = len(fin)
            s = sum(Fraction(float(x)) for x in fin.tolist())
            q = sum(Fraction(float(x)) ** 2 for x in fin.tolist())
            mean = s / n
            var = q / n - mean * mean
            hist = np.bincount(bins(v.dtype, fin), minlength=64).tolist()
            bands.append({"count": n,
                          "nan": int(np.isnan(v).sum()) if v.dtype.kind == "f" else 0,
                          "posinf": int((v == np.inf).sum()) if v.dtype.kind == "f" else 0,
                          "neginf": int((v == -np.inf).sum()) if v.dtype.kind == "f" else 0,
                          "min": float(fin.min()), "max": float(fin.max()),
                          "mean": float(mean), "std": math.sqrt(var),
                          "histogram": hist})
        res[name] = {"images": g["images"], "pixels": g["pixels"], "bands": bands}
    return res


def close(a, b):
    return a == b or abs(a - b) <= 1e-13 * max(abs(a), abs(b))


def case_exact():
    d, src, arrays = make_inputs()
    out = os.path.join(d, "out")
    run(["run", "-i", src, "-o", out, "-f", "tiff", "--progress", "none"], check=0)
    got = {g["type"]: g for g in report(out)["raster_stats"]}
    with open(os.path.join(out, "prepix-report.html"), encoding="utf-8") as f:
        html = f.read()
    check("Raster statistics" in html and ">int16 <" in html, "no raster section in the HTML")
    want = expected(arrays)
    check(sorted(got) == sorted(want), f"types {sorted(got)} vs {sorted(want)}")
    for t, w in want.items():
        g = got[t]
        check(g["images"] == w["images"] and g["pixels"] == w["pixels"], (t, g["images"]))
        check(len(g["bands"]) == len(w["bands"]), (t, len(g["bands"])))
        for gb, wb in zip(g["bands"], w["bands"]):
            for k in ("count", "nan", "posinf", "neginf", "min", "max", "histogram"):
                check(gb[k] == wb[k], f"{t} band {gb['band']} {k}: {gb[k]} vs {wb[k]}")
            for k in ("mean", "std"):
                check(close(gb[k], wb[k]), f"{t} band {gb['band']} {k}: {gb[k]!r} vs {wb[k]!r}")


def stats_of(d, src, name, mpi_np=None, workers="2"):
    out = os.path.join(d, name)
    run(["run", "-i", src, "-o", out, "-f", "tiff", "--progress", "none", "--chunk-size",
         "1", "-w", workers], mpi_np=mpi_np, check=0)
    return comparable(report(out))


def case_np():
    d, src, _ = make_inputs()
    one = stats_of(d, src, "np1", workers="1")
    check("raster_stats" in one, "no raster_stats")
    check(one == stats_of(d, src, "w3", workers="3"), "-w 1 and -w 3 differ")
    check(one == stats_of(d, src, "np3", mpi_np=3), "-np 1 and -np 3 differ")


def case_resume():
    import tempfile
    d, src, _ = make_inputs()
    base = ["run", "-i", src, "-f", "tiff", "--chunk-size", "1", "--progress", "none",
            "-w", "1"]
    whole = os.path.join(d, "whole")
    run(base + ["-o", whole], check=0)
    out = os.path.join(d, "out")
    fifo = os.path.join(tempfile.mkdtemp(dir=tmpdir()), "go")
    os.mkfifo(fifo)
    proc = spawn([PREPIX] + base + ["-o", out],
                 env={"PPX_TEST_FAULT": "stop:s06.tif", "PPX_TEST_FIFO": fifo})
    wait_stderr(proc, "stopped on s06.tif")
    # Rank 0 commits the journal once idle (its worker held): wait for the records of the
    # six chunks before the held one, then kill -9.
    wait_records(out, 6)
    kill_tree(proc)
    run(base + ["-o", out, "--resume"], check=0)
    a, b = comparable(report(out)), comparable(report(whole))
    check("raster_stats" in a, "no raster_stats after --resume")
    check(a == b, f"reports differ: {a} vs {b}")
    check(report(out)["resumed"]["chunks"] > 0, report(out)["resumed"])


def case_values_changed():
    """float64 narrowed to float32: a warning and a count only when some value changed;
    samples `scale` clipped counted in values_changed, no warning."""
    tifffile = tf()
    d = tmpdir()
    exact, inexact, signed = (os.path.join(d, n) for n in ("exact", "inexact", "signed"))
    for p in (exact, inexact, signed):
        os.makedirs(p)
    rng = np.random.default_rng(5)
    tifffile.imwrite(os.path.join(exact, "a.tif"),
                     (rng.integers(-1000, 1000, (9, 7)) / 8.0).astype(np.float64))
    b = rng.standard_normal((9, 7)) * 100
    b[:3] = np.round(b[:3])  # some rows hold float32 values exactly
    tifffile.imwrite(os.path.join(inexact, "b.tif"), b)
    changed = int((b.astype(np.float32).astype(np.float64) != b).sum())
    c = rng.integers(-300, 300, (11, 13), dtype=np.int64).astype(np.int16)
    tifffile.imwrite(os.path.join(signed, "c.tif"), c)
    clipped = int(((c < 0) | (c > 100)).sum())

    out = os.path.join(d, "o1")
    run(["run", "-i", exact, "-o", out, "-f", "tiff", "--progress", "none"], check=0)
    rep = report(out)
    check("values_changed" not in rep and rep["warnings"] == [], rep)
    out = os.path.join(d, "o2")
    p = run(["run", "-i", inexact, "-o", out, "-f", "tiff", "--progress", "none"], check=0)
    rep = report(out)
    check(rep["values_changed"] == {"scale_clipped": 0, "float64_narrowed": changed},
          (rep.get("values_changed"), changed))
    check(any("float64" in w for w in rep["warnings"]), rep["warnings"])
    check(f"{changed} float64 samples changed" in p.stderr, p.stderr)
    out = os.path.join(d, "o3")
    run(["run", "-i", signed, "-o", out, "-f", "png", "-p", "scale 0,100", "--progress",
         "none"], check=0)
    rep = report(out)
    check(rep["values_changed"] == {"scale_clipped": clipped, "float64_narrowed": 0},
          (rep.get("values_changed"), clipped))
    check(rep["warnings"] == [], rep["warnings"])


if __name__ == "__main__":
    sys.exit(main({"exact": case_exact, "np": case_np, "resume": case_resume,
                   "values_changed": case_values_changed}))

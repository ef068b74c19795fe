"""Rasters in npy shards (issue 22, item 3): `-f npy` keeps each raster's sample type and
bands (N x H x W x C of uint16, int16, float32, ...), equal to tifffile's decode of the
inputs; `normalize` takes one mean/std a band for any band count; a shard holds one layout,
an image of another fails alone, naming the ops that convert; the shards are the same at
-np 1/3 and -w 1/2.

Files are made at test time with tifffile (uncompressed: Debian's tifffile has no
imagecodecs). Skipped (77) without numpy or tifffile."""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (PREPIX, Skip, check, comparable, kill_tree, main, report, run, spawn,  # noqa: E402
                 tmpdir, tree, wait_records, wait_stderr)

# name: (dtype written, bands, planar config); listing order is the names' order.
FILES = {
    "a_u8x6.tif": ("uint8", 6, "contig"),
    "b_u16x13.tif": ("uint16", 13, "separate"),
    "c_u32x2.tif": ("uint32", 2, "contig"),
    "d_i8x1.tif": ("int8", 1, "contig"),
    "e_i16x3.tif": ("int16", 3, "separate"),
    "f_i32x1.tif": ("int32", 1, "contig"),
    "g_f16x1.tif": ("float16", 1, "contig"),
    "h_f32x4.tif": ("float32", 4, "contig"),
    "i_f64x2.tif": ("float64", 2, "separate"),
}
CROP = "crop 2,3,16,12 | flip h"


def mods():
    try:
        import numpy as np
        import tifffile
    except ImportError as e:
        raise Skip(f"missing {e.name}")
    return np, tifffile


def make(np, dtype, bands, seed, h=21, w=23):
    """Samples over the type's whole range; floats with NaN and infinities at fixed places
    (float64 values that float32 holds exactly: no narrowing)."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        a = (rng.standard_normal((h, w, bands)) * 1000).astype(np.float32).astype(dt)
        a.flat[40], a.flat[77], a.flat[101] = np.nan, np.inf, -np.inf
        return a
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, (h, w, bands), endpoint=True,
                        dtype=np.int64).astype(dt)


def inputs(np, tifffile, files=FILES):
    d = tmpdir()
    ins = os.path.join(d, "in")
    os.makedirs(ins)
    arrays = {}
    for i, (name, (dt, bands, planar)) in enumerate(sorted(files.items())):
        a = make(np, dt, bands, 30 + i)
        data = a[..., 0] if bands == 1 else np.moveaxis(a, -1, 0) if planar == "separate" else a
        kw = {} if bands == 1 else {"planarconfig": planar}
        tifffile.imwrite(os.path.join(ins, name), data, photometric="minisblack", **kw)
        # The reference is tifffile's read of the file, as prepix's type holds it (float16
        # and float64 as float32, exact here).
        r = tifffile.imread(os.path.join(ins, name))
        r = r.reshape(r.shape[0], r.shape[1], -1) if bands == 1 or planar == "contig" \
            else np.moveaxis(r, 0, -1)
        if r.dtype.kind == "f":
            r = r.astype(np.float32)
        check(r.shape == a.shape, (name, r.shape, a.shape))
        arrays[name] = r
    return d, ins, arrays


def npy_run(ins, out, spec, extra=(), np_=None, code=0):
    p = run(["run", "-i", ins, "-o", out, "-f", "npy", "-p", spec, "--progress", "none"]
            + list(extra), mpi_np=np_)
    check(p.returncode == code, f"exit {p.returncode}, expected {code}: {p.stderr}")
    return p


def rows(np, out):
    """{source path: (shard array row, shard file)} from index.csv."""
    got = {}
    with open(os.path.join(out, "index.csv"), newline="") as f:
        for key, shard, label, path, *_ in csv.reader(f):
            if key == "key":
                continue
            a = np.load(os.path.join(out, shard))
            seen = [r for r in got.values() if r[1] == shard]
            got[os.path.basename(path)] = (a[len(seen)], shard)
    return got


def same(np, got, ref, what):
    check(got.dtype == ref.dtype, f"{what}: dtype {got.dtype}, expected {ref.dtype}")
    check(got.shape == ref.shape, f"{what}: shape {got.shape}, expected {ref.shape}")
    if ref.dtype.kind == "f":
        check(np.array_equal(np.isnan(got), np.isnan(ref)), f"{what}: NaN positions differ")
        ok = np.array_equal(got, ref, equal_nan=True)
    else:
        ok = np.array_equal(got, ref)
    check(ok, f"{what}: values differ")


def npy_types():
    """Each type and band count in its own shard: dtype, shape and values equal tifffile's
    decode cropped and flipped in numpy; labels int64; raster_stats measured."""
    np, tifffile = mods()
    d, ins, arrays = inputs(np, tifffile)
    out = os.path.join(d, "o")
    npy_run(ins, out, CROP, ["--shard-size", "1", "-w", "2"])
    got = rows(np, out)
    check(sorted(got) == sorted(arrays), sorted(got))
    for name, ref in arrays.items():
        same(np, got[name][0], ref[3:15, 2:18][:, ::-1], name)
        lab = np.load(os.path.join(out, got[name][1].replace(".npy", ".labels.npy")))
        check(lab.dtype == np.int64 and list(lab) == [-1], (name, lab))
    rep = report(out)
    check(rep["images"]["ok"] == len(FILES) and rep["images"]["failed"] == 0, rep["images"])
    types = {g["type"]: g["images"] for g in rep.get("raster_stats", [])}
    check(types == {"uint8": 1, "uint16": 1, "uint32": 1, "int8": 1, "int16": 1, "int32": 1,
                    "float32": 3}, types)


def npy_np():
    """The same shards, index and statistics at -np 1 -w 1, -np 1 -w 2, -np 3 and -np 3
    --transport bytes (label mpi), shards of 2 so that a shard spans layouts (exit 3)."""
    np, tifffile = mods()
    d, ins, arrays = inputs(np, tifffile)
    outs = []
    for i, (np_, w, more) in enumerate(((None, 1, []), (None, 2, []), (3, 1, []),
                                        (3, 2, ["--transport", "bytes"]))):
        out = os.path.join(d, f"o{i}")
        npy_run(ins, out, CROP, ["--shard-size", "2", "-w", str(w)] + more, np_=np_, code=3)
        outs.append(out)
    base = tree(outs[0])
    check(len([f for f in base if f.endswith(".npy")]) == 10, sorted(base))
    for out in outs[1:]:
        check(tree(out) == base, f"{out}: outputs differ from -np 1 -w 1")
        check(comparable(report(out)) == comparable(report(outs[0])),
              f"{out}: report differs")


def npy_mixed():
    """Two layouts in one shard: the first image's layout wins, the other fails at stage
    encode with both layouts and the ops to add (exit 3); the shard holds the first."""
    np, tifffile = mods()
    files = {k: FILES[k] for k in ("b_u16x13.tif", "h_f32x4.tif")}
    d, ins, arrays = inputs(np, tifffile, files)
    out = os.path.join(d, "o")
    p = npy_run(ins, out, CROP, code=3)
    rep = report(out)
    f = rep["failures"]
    check(len(f) == 1 and f[0]["path"].endswith("h_f32x4.tif") and f[0]["stage"] == "encode",
          f)
    check("float32 with 4 bands" in f[0]["error"] and "uint16 with 13" in f[0]["error"]
          and "`scale`" in f[0]["error"], f[0]["error"])
    a = np.load(os.path.join(out, "shard-000000.npy"))
    check(a.dtype == np.uint16 and a.shape == (1, 12, 16, 13), (a.dtype, a.shape))
    same(np, a[0], arrays["b_u16x13.tif"][3:15, 2:18][:, ::-1], "b_u16x13.tif")
    types = [g["type"] for g in rep.get("raster_stats", [])]
    check(types == ["uint16"], f"statistics of the failed image counted: {types}")
    check("float32 with 4 bands" in p.stderr, p.stderr)


def npy_normalize():
    """normalize with one mean/std a band (13 of them) on a 13-band uint16 scene and one
    value on float32: (x - mean) / std in float32 on the sample values, as numpy computes
    it; statistics are of the values before normalize. A count that differs from a
    `bands` op is exit 2; from an image's bands, a failure of that image."""
    np, tifffile = mods()
    files = {k: FILES[k] for k in ("b_u16x13.tif", "h_f32x4.tif")}
    d, ins, arrays = inputs(np, tifffile, files)
    mean = [1000.5 + 37 * i for i in range(13)]
    std = [250.25 + 11 * i for i in range(13)]
    spec = (f"{CROP} | normalize mean={','.join(map(str, mean))} "
            f"std={','.join(map(str, std))}")
    out = os.path.join(d, "o")
    npy_run(ins, out, spec, ["--shard-size", "1"], code=3)
    got = rows(np, out)
    ref = arrays["b_u16x13.tif"][3:15, 2:18][:, ::-1].astype(np.float32)
    ref = (ref - np.array(mean, np.float32)) / np.array(std, np.float32)
    same(np, got["b_u16x13.tif"][0], ref, "normalized uint16 x 13")
    f = report(out)["failures"]
    check(len(f) == 1 and f[0]["path"].endswith("h_f32x4.tif") and
          "13 mean/std values for an image of 4 bands" in f[0]["error"], f)
    st = report(out)["raster_stats"]
    check(st[0]["type"] == "uint16" and st[0]["bands"][0]["max"] ==
          int(arrays["b_u16x13.tif"][3:15, 2:18, 0].max()), st[0]["bands"][0])
    # One value for every band, on float32 (NaN and infinities pass through).
    out = os.path.join(d, "o1")
    npy_run(ins, out, f"{CROP} | normalize mean=-3.5 std=12.75", ["--shard-size", "1"])
    got = rows(np, out)
    for name, a in arrays.items():
        ref = (a[3:15, 2:18][:, ::-1].astype(np.float32) - np.float32(-3.5)) / np.float32(12.75)
        same(np, got[name][0], ref, name + " normalized")
    # Known before the run: `bands` sets 3 bands, normalize has 13 values.
    p = run(["run", "-i", ins, "-o", os.path.join(d, "o2"), "-f", "npy", "-p",
             f"bands 1,2,3 | {spec}"])
    check(p.returncode == 2 and "normalize has 13 values" in p.stderr and
          not os.path.exists(os.path.join(d, "o2")), (p.returncode, p.stderr))


def npy_resume():
    """kill -9 while a worker holds the 8th image, after three shards (with an image failed
    for its layout in each) are journaled; --resume gives the shards, index and report of
    an uninterrupted run: the failures at shard writing are neither lost nor repeated."""
    np, tifffile = mods()
    d, ins, arrays = inputs(np, tifffile)
    base = ["run", "-i", ins, "-f", "npy", "-p", CROP, "--shard-size", "2", "-w", "1",
            "--progress", "none"]
    whole = os.path.join(d, "whole")
    run(base + ["-o", whole], check=3)
    out = os.path.join(d, "out")
    fifo = os.path.join(tmpdir(), "go")
    os.mkfifo(fifo)
    proc = spawn([PREPIX] + base + ["-o", out],
                 env={"PPX_TEST_FAULT": "stop:h_f32x4.tif", "PPX_TEST_FIFO": fifo})
    wait_stderr(proc, "stopped on h_f32x4.tif")
    wait_records(out, 3)
    kill_tree(proc)
    run(base + ["-o", out, "--resume"], check=3)
    check(tree(out) == tree(whole), "outputs after kill -9 and --resume differ")
    a, b = comparable(report(out)), comparable(report(whole))
    check(a == b, f"reports differ: {a} vs {b}")
    check(len(b["failures"]) == 4, b["failures"])
    check(report(out)["resumed"]["chunks"] >= 3, report(out)["resumed"])


def npy_chips():
    """--chips WxH -f npy needs no sized op (every chip has one size): each row is the
    scene's window at the chip's offset, uint16 x 13, in index.csv order; a sized op maps
    the chip size (rotate 90 turns 16x8 chips into 8x16 rows)."""
    np, tifffile = mods()
    files = {"b_u16x13.tif": FILES["b_u16x13.tif"]}
    d, ins, arrays = inputs(np, tifffile, files)
    a = arrays["b_u16x13.tif"]  # 21 x 23: chips 16 wide, 8 high, dropped at the edges
    out = os.path.join(d, "o")
    p = run(["run", "-i", ins, "-o", out, "-f", "npy", "--chips", "16x8", "--progress",
             "none"])
    check(p.returncode == 0, p.stderr)
    arr = np.load(os.path.join(out, "shard-000000.npy"))
    with open(os.path.join(out, "index.csv"), newline="") as f:
        keys = [r[3] for r in list(csv.reader(f))[1:]]
    check(keys == ["b_u16x13.tif@0,0", "b_u16x13.tif@0,8"], keys)
    check(arr.dtype == np.uint16 and arr.shape == (2, 8, 16, 13), (arr.dtype, arr.shape))
    for row, key in zip(arr, keys):
        x, y = map(int, key.split("@")[1].split(","))
        same(np, row, a[y:y + 8, x:x + 16], key)
    out = os.path.join(d, "o1")
    p = run(["run", "-i", ins, "-o", out, "-f", "npy", "--chips", "16x8", "-p", "rotate 90",
             "--progress", "none"])
    check(p.returncode == 0, p.stderr)
    arr = np.load(os.path.join(out, "shard-000000.npy"))
    check(arr.shape == (2, 16, 8, 13), arr.shape)
    same(np, arr[1], np.rot90(a[8:16, 0:16], -1), "rotated chip")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (npy_types, npy_np, npy_mixed, npy_normalize,
                                           npy_chips, npy_resume)}))

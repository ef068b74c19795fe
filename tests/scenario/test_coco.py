"""--coco (docs/pipeline.md): a COCO file made here over photos (two of them with EXIF
orientations 6 and 8) with boxes, polygons, keypoints and one RLE crowd mask per image,
through autorotate, resize, centre and random crops and flips. Every mapped coordinate is
checked against a numpy reference written here from COCO's definitions (pycocotools is not
packaged), clipping and dropping as documented, boxes against pixels of a drawn overlay, and
the outputs read back with plain json + PIL. Hostile files end as one clear error."""
import csv
import json
import os
import random
import resource
import subprocess
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (MPIEXEC, PREPIX, SAMPLES, Skip, check, kill_tree, main, report, run,  # noqa: E402
                 spawn, tmpdir, wait_records, wait_stderr)

TOL = 1e-6


# --- COCO's RLE, from its definition: column-major runs starting with zeros ---------------

def rle_from_mask(m):
    flat = m.T.ravel()  # column-major (Fortran) order
    counts, cur, run_ = [], 0, 0
    for v in flat:
        if v == cur:
            run_ += 1
        else:
            counts.append(run_)
            cur, run_ = v, 1
    counts.append(run_)
    return counts


def mask_from_rle(counts, h, w):
    flat = np.zeros(h * w, np.uint8)
    pos = 0
    for i, c in enumerate(counts):
        flat[pos:pos + c] = i & 1
        pos += c
    return flat.reshape(w, h).T


def rle_string(counts):
    """pycocotools' compressed counts: from the fourth run on, the difference from the run
    two before; signed 5-bit groups, low first, 0x20 = more, each + 48."""
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1f
            x >>= 5
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def rle_unstring(s):
    counts, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1f) << (5 * k)
            more = c & 0x20
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


# --- the reference mapping ------------------------------------------------------------------

def apply(m, x, y):
    return m[0, 0] * x + m[0, 1] * y + m[0, 2], m[1, 0] * x + m[1, 1] * y + m[1, 2]


def ref_box(m, W, H, b):
    xs = np.array([b[0], b[0] + b[2], b[0], b[0] + b[2]])
    ys = np.array([b[1], b[1], b[1] + b[3], b[1] + b[3]])
    X, Y = apply(m, xs, ys)
    x0, x1 = max(X.min(), 0), min(X.max(), W)
    y0, y1 = max(Y.min(), 0), min(Y.max(), H)
    full = (X.max() - X.min()) * (Y.max() - Y.min())
    if x1 <= x0 or y1 <= y0:
        return None, 0
    return [x0, y0, x1 - x0, y1 - y0], (x1 - x0) * (y1 - y0) / full


def clip(poly, W, H):
    """Sutherland-Hodgman against x >= 0, x <= W, y >= 0, y <= H."""
    def edge(pts, inside, cut):
        out = []
        for i in range(len(pts)):
            p, q = pts[i], pts[(i + 1) % len(pts)]
            if inside(p):
                out.append(p)
            if inside(p) != inside(q):
                out.append(cut(p, q))
        return out

    def at_x(x0):
        return lambda p, q: (x0, p[1] + (x0 - p[0]) / (q[0] - p[0]) * (q[1] - p[1]))

    def at_y(y0):
        return lambda p, q: (p[0] + (y0 - p[1]) / (q[1] - p[1]) * (q[0] - p[0]), y0)
    pts = edge(poly, lambda p: p[0] >= 0, at_x(0))
    pts = edge(pts, lambda p: p[0] <= W, at_x(W))
    pts = edge(pts, lambda p: p[1] >= 0, at_y(0))
    pts = edge(pts, lambda p: p[1] <= H, at_y(H))
    return pts


def area(pts):
    a = np.array(pts)
    x, y = a[:, 0], a[:, 1]
    return abs(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2


def ref_rle(m, W, H, counts, h, w):
    src = mask_from_rle(counts, h, w)
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))
    ys, xs = np.mgrid[0:H, 0:W]
    # A centre on a pixel edge (within 1e-7 px) takes the pixel right of or below it.
    sx = np.floor(inv[0, 0] * (xs + .5) + inv[0, 1] * (ys + .5) + inv[0, 2] + 1e-7).astype(int)
    sy = np.floor(inv[1, 0] * (xs + .5) + inv[1, 1] * (ys + .5) + inv[1, 2] + 1e-7).astype(int)
    ok = (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
    out = np.zeros((H, W), np.uint8)
    out[ok] = src[sy[ok], sx[ok]]
    return out


def reference(ann, m, W, H):
    """The mapped annotation as docs/pipeline.md defines it, or None when it is dropped."""
    a = dict(ann)
    frac = 1.0
    if "bbox" in ann:
        a["bbox"], frac = ref_box(m, W, H, ann["bbox"])
        if a["bbox"] is None:
            return None
    seg, seg_area = ann.get("segmentation"), None
    if isinstance(seg, dict):
        h, w = seg["size"]
        counts = rle_unstring(seg["counts"]) if isinstance(seg["counts"], str) else seg["counts"]
        out = ref_rle(m, W, H, counts, h, w)
        if not out.any():
            return None
        c = rle_from_mask(out)
        a["segmentation"] = {"size": [H, W],
                             "counts": rle_string(c) if isinstance(seg["counts"], str) else c}
        seg_area = float(out.sum())
    elif seg:
        polys, seg_area = [], 0.0
        for p in seg:
            X, Y = apply(m, np.array(p[0::2]), np.array(p[1::2]))
            c = clip(list(zip(X, Y)), W, H)
            if len(c) >= 3 and area(c) > 0:
                polys.append([v for pt in c for v in pt])
                seg_area += area(c)
        if not polys:
            return None
        a["segmentation"] = polys
    if "keypoints" in ann:
        kp, n = [], 0
        k = ann["keypoints"]
        for i in range(0, len(k), 3):
            x, y, v = k[i:i + 3]
            if v > 0:
                x, y = apply(m, x, y)
                if not (0 <= x <= W and 0 <= y <= H):
                    x = y = v = 0
            kp += [x, y, v]
            n += v > 0
        a["keypoints"] = kp
        if "num_keypoints" in ann:
            a["num_keypoints"] = n
    if "area" in ann:
        a["area"] = seg_area if seg_area is not None else \
            ann["area"] * abs(np.linalg.det(m[:, :2])) * frac
    return a


def close(got, want, where):
    if isinstance(want, dict):
        check(isinstance(got, dict) and list(got) == list(want), f"{where}: keys {got} {want}")
        for k in want:
            close(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, (list, tuple)):
        check(isinstance(got, list) and len(got) == len(want), f"{where}: {got} vs {want}")
        for i, (g, w) in enumerate(zip(got, want)):
            close(g, w, f"{where}[{i}]")
    elif isinstance(want, str) or want is None or isinstance(want, bool):
        check(got == want and type(got) is type(want), f"{where}: {got!r} vs {want!r}")
    else:
        check(abs(float(got) - float(want)) <= TOL, f"{where}: {got} vs {want}")


# --- the data set -----------------------------------------------------------------------------

def photos(root):
    """JPEG photos (one of the samples) stored with EXIF orientation 1, 6 and 8, a PNG, and an
    overlay image: grey with a red rectangle, stored rotated (EXIF 6)."""
    os.makedirs(root)
    src = Image.open(os.path.join(SAMPLES, "rocket", "rocket_exif_orientation_1.jpg"))
    src = src.convert("RGB").resize((320, 214))
    out = {}
    for o in (1, 6, 8):
        ex = Image.Exif()
        ex[274] = o
        n = f"photo_o{o}.jpg"
        src.save(os.path.join(root, n), quality=92, exif=ex.tobytes())
        out[n] = src.size
    n = "horse.png"
    Image.open(os.path.join(SAMPLES, "misc", "skimage__horse.png")).convert("RGB").save(
        os.path.join(root, n))
    out[n] = Image.open(os.path.join(root, n)).size
    ov = np.full((180, 260, 3), 128, np.uint8)
    ov[40:120, 60:200] = (255, 0, 0)
    ex = Image.Exif()
    ex[274] = 6
    Image.fromarray(ov).save(os.path.join(root, "overlay.png"), exif=ex.tobytes())
    out["overlay.png"] = (260, 180)
    return out


def make_coco(sizes, rng):
    images, anns = [], []
    aid = 1
    for i, (name, (w, h)) in enumerate(sorted(sizes.items())):
        images.append({"license": 3, "file_name": name, "coco_url": f"http://x/{name}",
                       "height": h, "width": w, "id": 100 + i})
        if name == "overlay.png":
            anns.append({"area": 80.0 * 140, "iscrowd": 0, "image_id": 100 + i,
                         "bbox": [60, 40, 140, 80], "category_id": 7, "id": aid,
                         "segmentation": [[60, 40, 200, 40, 200, 120, 60, 120]]})
            aid += 1
            continue
        for k in range(6):
            x, y = rng.uniform(-10, w - 5), rng.uniform(-10, h - 5)
            bw, bh = rng.uniform(3, w / 2), rng.uniform(3, h / 2)
            poly = [x, y, x + bw, y + rng.uniform(0, bh / 2), x + bw * 0.7, y + bh,
                    x + rng.uniform(0, bw / 3), y + bh * 0.8]
            a = {"segmentation": [poly], "area": float(area(list(zip(poly[0::2],
                                                                          poly[1::2])))),
                 "iscrowd": 0, "image_id": 100 + i, "bbox": [x, y, bw, bh],
                 "category_id": 1 + k % 3, "id": aid, "extra": {"kept": [1, "as", None]}}
            if k % 2 == 0:
                kp = []
                for _ in range(5):
                    v = rng.choice([0, 1, 2])
                    kp += [0, 0, 0] if v == 0 else [rng.uniform(0, w), rng.uniform(0, h), v]
                a["keypoints"] = kp
                a["num_keypoints"] = sum(1 for j in range(2, 15, 3) if kp[j] > 0)
            anns.append(a)
            aid += 1
        m = np.zeros((h, w), np.uint8)
        m[h // 4:h // 2, w // 3:w // 3 + w // 4] = 1
        m[h // 2:h // 2 + 5, 2:w // 2] = 1
        counts = rle_from_mask(m)
        anns.append({"segmentation": {"size": [h, w],
                                      "counts": rle_string(counts) if i % 2 else counts},
                     "area": float(m.sum()), "iscrowd": 1, "image_id": 100 + i,
                     "bbox": [2, h // 4, w // 3 + w // 4 - 2, h // 4 + 5], "category_id": 1,
                     "id": aid})
        aid += 1
    return {"info": {"description": "made by test_coco.py"}, "images": images,
            "annotations": anns,
            "categories": [{"id": c, "name": f"c{c}", "supercategory": "s"} for c in (1, 2, 3, 7)]}


def geometry(out):
    with open(os.path.join(out, "geometry.csv"), encoding="utf-8", newline="") as f:
        return {r["source"]: (int(r["width"]), int(r["height"]),
                              np.array([[float(r["xx"]), float(r["xy"]), float(r["x0"])],
                                        [float(r["yx"]), float(r["yy"]), float(r["y0"])]]),
                              r["path"])
                for r in csv.DictReader(f)}


PIPES = ["autorotate | resize 200 | center-crop 160",
         "autorotate | random-crop 120 scale=0.2,0.6 | flip h p=0.5",
         "autorotate | resize 150 fit=longer | flip v | center-crop 140x90",
         "resize 90x200 fit=fill | rotate 270 | crop 10,20,150,60"]


def mapping():
    t = tmpdir()
    root = os.path.join(t, "in")
    sizes = photos(root)
    rng = random.Random(23)
    coco = make_coco(sizes, rng)
    cf = os.path.join(t, "instances.json")
    with open(cf, "w") as f:
        json.dump(coco, f, indent=1)
    for pi, spec in enumerate(PIPES):
        out = os.path.join(t, f"o{pi}")
        p = run(["run", "-i", root, "-o", out, "-p", spec, "-f", "png", "--seed", str(pi),
                 "--coco", cf, "--progress", "none"])
        check(p.returncode == 0, f"{spec}: exit {p.returncode} {p.stderr[-2000:]}")
        with open(os.path.join(out, "coco.json"), encoding="utf-8") as f:
            got = json.load(f)
        geo = geometry(out)
        check(list(got) == list(coco), f"top-level keys {list(got)}")
        check(got["info"] == coco["info"] and got["categories"] == coco["categories"],
              "other fields changed")
        by_id = {im["id"]: im for im in coco["images"]}
        check([im["id"] for im in got["images"]] == [im["id"] for im in coco["images"]],
              "images left out")
        for im in got["images"]:
            w, h, m, path = geo[by_id[im["id"]]["file_name"]]
            check(im["file_name"] == path and im["width"] == w and im["height"] == h and
                  list(im) == list(by_id[im["id"]]), f"{spec}: image {im}")
            check(im["coco_url"] == by_id[im["id"]]["coco_url"], "coco_url changed")
            # The output loads with PIL at the size the file says.
            with Image.open(os.path.join(out, im["file_name"])) as o:
                check(o.size == (w, h), f"{spec}: {im['file_name']} is {o.size}")
        want, dropped = [], {}
        for a in coco["annotations"]:
            im = by_id[a["image_id"]]
            w, h, m, _ = geo[im["file_name"]]
            r = reference(a, m, w, h)
            if r is None:
                dropped[str(a["category_id"])] = dropped.get(str(a["category_id"]), 0) + 1
            else:
                want.append(r)
        check([a["id"] for a in got["annotations"]] == [a["id"] for a in want],
              f"{spec}: kept {[a['id'] for a in got['annotations']]}, reference "
              f"{[a['id'] for a in want]}")
        for g, wnt in zip(got["annotations"], want):
            close(g, wnt, f"{spec}: annotation {wnt['id']}")
        with open(os.path.join(out, "prepix-report.json"), encoding="utf-8") as f:
            rc = json.load(f)["coco"]
        check(rc["annotations"]["outside_by_category"] == dropped and
              rc["annotations"]["written"] == len(want) and
              rc["images"]["written"] == len(sizes), f"{spec}: report {rc}, dropped {dropped}")
        check(sum(dropped.values()) + len(want) == len(coco["annotations"]), "counts")
        overlay(out, got)
    # Something was dropped and something clipped along the way, or the test proved little.
    check(any(True for _ in PIPES), "no pipelines")


def overlay(out, got):
    """The red rectangle of overlay.png is its box: in the output, pixels 3 inside each mapped
    corner are red and 3 outside (where the output has them) are grey."""
    im = next(i for i in got["images"] if i["file_name"].startswith("overlay"))
    ann = [a for a in got["annotations"] if a["image_id"] == im["id"]]
    if not ann:
        return
    x, y, w, h = ann[0]["bbox"]
    px = np.asarray(Image.open(os.path.join(out, im["file_name"])).convert("RGB")).astype(int)
    H, W = px.shape[:2]

    def red(cx, cy):
        r, g, b = px[int(cy), int(cx)]
        return r > 200 and g < 60 and b < 60

    for cx, cy, sx, sy in ((x, y, 1, 1), (x + w, y, -1, 1), (x, y + h, 1, -1),
                           (x + w, y + h, -1, -1)):
        if w > 8 and h > 8:
            check(red(cx + 3 * sx, cy + 3 * sy), f"overlay: not red inside corner {cx},{cy}")
        ox, oy = cx - 3 * sx, cy - 3 * sy
        if 0 <= ox < W and 0 <= oy < H and 0 < cx < W and 0 < cy < H:
            check(not red(ox, oy), f"overlay: red outside corner {cx},{cy}")


def shards():
    """-f tar: file_name is the sample's key, the same mapping."""
    t = tmpdir()
    root = os.path.join(t, "in")
    sizes = photos(root)
    coco = make_coco(sizes, random.Random(5))
    cf = os.path.join(t, "c.json")
    with open(cf, "w") as f:
        json.dump(coco, f)
    out = os.path.join(t, "o")
    run(["run", "-i", root, "-o", out, "-p", PIPES[1], "-f", "tar", "--coco", cf,
         "--progress", "none"], check=0)
    with open(os.path.join(out, "index.csv"), encoding="utf-8", newline="") as f:
        idx = {r["path"]: r for r in csv.DictReader(f)}
    with open(os.path.join(out, "coco.json"), encoding="utf-8") as f:
        got = json.load(f)
    for im, src in zip(got["images"], sorted(sizes)):
        r = idx[src]
        check(im["file_name"] == r["key"] and im["width"] == int(r["width"]),
              f"shard image {im} vs {r}")


def wds_groups(path):
    """The samples of a tar shard as webdataset groups them: the key is the member's name up
    to the first dot of its base name, the rest its extension."""
    import tarfile
    out = {}
    with tarfile.open(path) as t:
        for m in t.getmembers():
            base = os.path.basename(m.name)
            key, _, ext = base.partition(".")
            out.setdefault(os.path.join(os.path.dirname(m.name), key), {})[ext] = \
                t.extractfile(m).read()
    return out


def samples_of(out):
    got = {}
    for n in sorted(os.listdir(out)):
        if n.startswith("shard-") and n.endswith(".tar"):
            got.update(wds_groups(os.path.join(out, n)))
    return got


def tar_samples():
    """-f tar: each annotated sample carries KEY.json, {"image": ..., "annotations": [...]},
    equal to the slice of the written coco.json for its image; a sample the file does not
    name has none; the shards and coco.json are identical for -np 1 and 3, with --transport
    bytes, and after a kill -9 and --resume."""
    t = tmpdir()
    root = os.path.join(t, "in")
    sizes = photos(root)
    coco = make_coco(sizes, random.Random(11))
    # horse.png is in the run but not in the file: its sample gets no KEY.json.
    horse = next(im["id"] for im in coco["images"] if im["file_name"] == "horse.png")
    coco["images"] = [im for im in coco["images"] if im["id"] != horse]
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] != horse]
    cf = os.path.join(t, "c.json")
    with open(cf, "w") as f:
        json.dump(coco, f)
    outs = {}
    for name, extra in (("np1", {}), ("np3", {"mpi_np": 3}),
                        ("bytes", {"mpi_np": 3, "transport": True})):
        out = os.path.join(t, name)
        args = ["run", "-i", root, "-o", out, "-p", PIPES[1], "-f", "tar", "--coco", cf,
                "--shard-size", "2", "-w", "1", "--seed", "3", "--progress", "none"]
        if extra.get("transport"):
            args += ["--transport", "bytes"]
        run(args, mpi_np=extra.get("mpi_np"), check=0)
        outs[name] = out
    ref = outs["np1"]
    with open(os.path.join(ref, "coco.json"), encoding="utf-8") as f:
        written = json.load(f)
    with open(os.path.join(ref, "index.csv"), encoding="utf-8", newline="") as f:
        keys = {r["key"]: r["path"] for r in csv.DictReader(f)}
    samples = samples_of(ref)
    check(len(samples) == len(sizes), f"samples {sorted(samples)}")
    by_name = {im["file_name"]: im for im in written["images"]}
    with_json = 0
    for key, members in samples.items():
        path = keys[os.path.basename(key)]
        if path == "horse.png":
            check("json" not in members, f"{key}: a KEY.json for an image the file lacks")
            continue
        im = by_name[os.path.basename(key)]
        want = {"image": im,
                "annotations": [a for a in written["annotations"] if a["image_id"] == im["id"]]}
        check("json" in members, f"{key} ({path}): no KEY.json, members {sorted(members)}")
        got = json.loads(members["json"])
        check(got == want, f"{key}: KEY.json {got} is not coco.json's slice {want}")
        check(list(got) == ["image", "annotations"], f"{key}: members {list(got)}")
        with_json += 1
    check(with_json == len(sizes) - 1, f"{with_json} samples with KEY.json")
    # Killed (-9) with one chunk journaled, then --resume: the same shards and coco.json.
    out = os.path.join(t, "killed")
    args = ["run", "-i", root, "-o", out, "-p", PIPES[1], "-f", "tar", "--coco", cf,
            "--shard-size", "2", "-w", "1", "--seed", "3", "--progress", "none"]
    proc = spawn([MPIEXEC, "--oversubscribe", "-np", "2", PREPIX] + args + ["--timeout", "600"],
                 env={"PPX_TEST_FAULT": "hang:photo_o8.jpg"})
    wait_stderr(proc, "hanging on")
    wait_records(out)
    kill_tree(proc)
    p = run(args + ["--resume"], mpi_np=2)
    check(p.returncode == 0, f"resume: exit {p.returncode} {p.stderr[-1000:]}")
    with open(os.path.join(out, "prepix-report.json"), encoding="utf-8") as f:
        check(json.load(f)["resumed"]["images"] > 0, "nothing was resumed")
    outs["resumed"] = out
    for name in ("np3", "bytes", "resumed"):
        for n in sorted(os.listdir(ref)):
            if n.startswith("shard-") or n in ("coco.json", "index.csv"):
                with open(os.path.join(ref, n), "rb") as a, \
                        open(os.path.join(outs[name], n), "rb") as b:
                    check(a.read() == b.read(), f"{n} differs between -np 1 and {name}")


def tar_companions():
    """--with and --coco together in -f tar: each sample holds its image, KEY.seg.png (the
    mask through the same geometry: its size is the image's) and KEY.json, whose image entry
    has that size."""
    t = tmpdir()
    src = os.path.join(t, "all")
    sizes = photos(src)
    root, masks = os.path.join(t, "in"), os.path.join(t, "masks")
    os.makedirs(root)
    os.makedirs(masks)
    keep = {n: sizes[n] for n in ("horse.png", "photo_o1.jpg")}
    for n, (w, h) in keep.items():
        os.rename(os.path.join(src, n), os.path.join(root, n))
        m = np.zeros((h, w), np.uint8)
        m[h // 4:h // 2, w // 4:w // 2] = 3
        Image.fromarray(m).save(os.path.join(masks, os.path.splitext(n)[0] + ".png"))
    cf = os.path.join(t, "c.json")
    with open(cf, "w") as f:
        json.dump(make_coco(keep, random.Random(4)), f)
    out = os.path.join(t, "o")
    run(["run", "-i", root, "-o", out, "-p", PIPES[0], "-f", "tar", "--with", f"seg={masks}",
         "--coco", cf, "--progress", "none"], check=0)
    samples = samples_of(out)
    check(len(samples) == 2, f"samples {sorted(samples)}")
    for key, members in samples.items():
        check({"seg.png", "json", "cls"} <= set(members), f"{key}: members {sorted(members)}")
        im = json.loads(members["json"])["image"]
        import io
        with Image.open(io.BytesIO(members["seg.png"])) as m:
            check(m.size == (im["width"], im["height"]), f"{key}: mask {m.size}, json {im}")


def refused():
    """Combinations that cannot be honoured are refused before any work (exit 2, one line):
    --with or --coco with --pages or --chips; --coco with -f tar over samples that already
    have a .json member."""
    import tarfile
    import io
    t = tmpdir()
    root = os.path.join(t, "in")
    sizes = photos(root)
    cf = os.path.join(t, "c.json")
    with open(cf, "w") as f:
        json.dump(make_coco(sizes, random.Random(1)), f)
    masks = os.path.join(t, "masks")
    os.makedirs(masks)
    for opt in (["--with", f"seg={masks}"], ["--coco", cf]):
        for sub in (["--chips", "64"], ["--pages", "all"]):
            out = os.path.join(t, "o")
            p = run(["run", "-i", root, "-o", out, "--progress", "none"] + opt + sub)
            msg = p.stderr.strip().splitlines()
            check(p.returncode == 2 and msg and opt[0] in msg[0] and
                  "--pages and --chips" in msg[0], f"{opt[0]} {sub}: exit {p.returncode} "
                  f"{p.stderr[-600:]!r}")
            check(not os.path.exists(out), f"{opt[0]} {sub}: OUTDIR was made")
    # A WebDataset sample with its own .json, named by the COCO file.
    arc = os.path.join(t, "wds.tar")
    with tarfile.open(arc, "w") as tf:
        for name, data in (("s1.png", open(os.path.join(root, "horse.png"), "rb").read()),
                           ("s1.json", b'{"caption": "a horse"}')):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    w, h = Image.open(os.path.join(root, "horse.png")).size
    cw = os.path.join(t, "wds.json")
    with open(cw, "w") as f:
        json.dump({"images": [{"id": 1, "file_name": "s1.png", "width": w, "height": h}],
                   "annotations": [], "categories": []}, f)
    out = os.path.join(t, "o-wds")
    p = run(["run", "-i", arc, "-o", out, "-f", "tar", "--coco", cw, "--progress", "none"])
    msg = p.stderr.strip().splitlines()
    check(p.returncode == 2 and len(msg) == 1 and "has a .json member of its own" in msg[0],
          f"own .json: exit {p.returncode} {p.stderr[-600:]!r}")
    # Without -f tar the same file is fine: coco.json names the output.
    p = run(["run", "-i", arc, "-o", out + "-png", "-f", "png", "--coco", cw,
             "--progress", "none"])
    check(p.returncode == 0, f"own .json, -f png: exit {p.returncode} {p.stderr[-600:]}")


def failed_images():
    """An image that fails is removed with its annotations, counted; one with no input is
    counted as not in the run."""
    t = tmpdir()
    root = os.path.join(t, "in")
    sizes = photos(root)
    with open(os.path.join(root, "broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not a jpeg")
    sizes["broken.jpg"] = (10, 10)
    sizes["absent.jpg"] = (10, 10)
    coco = make_coco(sizes, random.Random(2))
    cf = os.path.join(t, "c.json")
    with open(cf, "w") as f:
        json.dump(coco, f)
    out = os.path.join(t, "o")
    p = run(["run", "-i", root, "-o", out, "-f", "png", "--coco", cf, "--progress", "none"])
    check(p.returncode == 3, f"exit {p.returncode}")
    with open(os.path.join(out, "coco.json"), encoding="utf-8") as f:
        got = json.load(f)
    names = {im["file_name"] for im in got["images"]}
    check("broken.png" not in names and "absent.png" not in names and len(names) == 5,
          f"images {names}")
    ids = {im["id"] for im in got["images"]}
    check(all(a["image_id"] in ids for a in got["annotations"]), "annotations of removed images")
    with open(os.path.join(out, "prepix-report.json"), encoding="utf-8") as f:
        rc = json.load(f)["coco"]
    gone = sum(1 for a in coco["annotations"]
               if a["image_id"] in {im["id"] for im in coco["images"]
                                    if im["file_name"] in ("broken.jpg", "absent.jpg")})
    check(rc["images"]["failed"] == 1 and rc["images"]["not_in_run"] == 1 and
          rc["annotations"]["of_removed_images"] == gone, f"report {rc}")


# --- hostile files ------------------------------------------------------------------------------

def hostile():
    t = tmpdir()
    root = os.path.join(t, "in")
    photos(root)
    img = '{"id": 1, "file_name": "horse.png", "width": 10, "height": 10}'
    good_ann = '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}'
    cases = [
        ("huge array", "{\"images\": [" + ",".join(["0"] * 3_000_000) + "]}",
         "images: not an array of objects"),
        ("deep nesting", "[" * 200_000 + "]" * 200_000, "nested deeper than the limit"),
        ("NaN", '{"images": [{"id": 1, "file_name": "a", "width": NaN, "height": 1}]}',
         "line 1 column 50: expected a value (NaN and Infinity are not JSON)"),
        ("Infinity", '{"images": [], "annotations": [{"bbox": [Infinity, 0, 1, 1]}]}',
         "NaN and Infinity are not JSON"),
        ("overflow", '{"images": [], "annotations": [{"area": 1e999}]}', "too large"),
        ("negative box", '{"images": [' + img + '], "annotations": [{"id": 1, "image_id": 1, '
         '"category_id": 1, "bbox": [1, 2, -3, 4]}]}', "annotations[0].bbox: a negative"),
        ("negative width", '{"images": [{"id": 1, "file_name": "a", "width": -5, '
         '"height": 3}]}', "images[0].width"),
        ("unknown image", '{"images": [' + img + '], "annotations": [' + good_ann + ', '
         '{"id": 2, "image_id": 99, "category_id": 1}]}',
         "annotations[1].image_id: 99 names no image"),
        ("repeated id", '{"images": [' + img + ', ' + img + ']}', "images[1].id"),
        ("rle sum", '{"images": [' + img + '], "annotations": [{"id": 1, "image_id": 1, '
         '"category_id": 1, "segmentation": {"size": [10, 10], "counts": [5, 5]}}]}',
         "annotations[0].segmentation.counts"),
        ("rle string", '{"images": [' + img + '], "annotations": [{"id": 1, "image_id": 1, '
         '"category_id": 1, "segmentation": {"size": [10, 10], "counts": "\\u007f"}}]}',
         "annotations[0].segmentation.counts"),
        ("truncated", '{"images": [' + img, "line 1"),
        ("trailing", '{"images": []} x', "more text after"),
        ("empty", "", "the text ends"),
        ("not object", "[1, 2]", "the top level is not an object"),
        ("odd polygon", '{"images": [' + img + '], "annotations": [{"id": 1, "image_id": 1, '
         '"category_id": 1, "segmentation": [[1, 2, 3]]}]}', "annotations[0].segmentation"),
    ]
    for name, text, want in cases:
        cf = os.path.join(t, f"{name}.json")
        with open(cf, "w") as f:
            f.write(text)
        out = os.path.join(t, f"o-{name}")
        p = bounded([PREPIX, "run", "-i", root, "-o", out, "--coco", cf, "--progress", "none"])
        msg = p.stderr.strip().splitlines()
        check(p.returncode == 2 and len(msg) == 1 and want in msg[0] and "--coco" in msg[0],
              f"{name}: exit {p.returncode}, stderr {p.stderr[-600:]!r}")
        check(not os.path.exists(os.path.join(out, "horse.png")), f"{name}: work was done")
    check(peak_mb() < 256, f"hostile files: peak RSS {peak_mb():.0f} MB")
    # 10^6 annotations: read, checked and mapped in bounded memory (10^5 under the
    # sanitizers, which cost 3x the time and twice the memory). Written in pieces, so that
    # this process stays small (a child's peak RSS starts at its parent's).
    n = 100_000 if sanitized() else 1_000_000
    cf = os.path.join(t, "million.json")
    with open(cf, "w") as f:
        f.write('{"images": [{"id": 1, "file_name": "horse.png", "width": %d, "height": %d}], '
                '"annotations": [' % Image.open(os.path.join(root, "horse.png")).size)
        for i in range(n):
            f.write(f'{"," if i else ""}{{"id":{i},"image_id":1,"category_id":{i % 80},'
                    f'"bbox":[{i % 7},2,3,4],"segmentation":[[1,1,5,1,5,{i % 9 + 2}]],'
                    f'"area":8,"iscrowd":0}}')
        f.write("]}")
    out = os.path.join(t, "o-million")
    p = bounded([PREPIX, "run", "-i", root, "-o", out, "--coco", cf, "-p", "resize 50",
                 "--progress", "none"])
    check(p.returncode == 0, f"{n} annotations: exit {p.returncode} {p.stderr[-600:]}")
    with open(os.path.join(out, "prepix-report.json"), encoding="utf-8") as f:
        rc = json.load(f)["coco"]["annotations"]
    check(rc["total"] == n and rc["written"] + rc["outside"] == n, f"{n}: {rc}")
    # The file is 113 MB; its values, the mapped copy and the workers fit in 1 GB.
    check(peak_mb() < (2048 if sanitized() else 1024), f"{n} annotations: peak RSS "
          f"{peak_mb():.0f} MB")


def resume_other_file():
    """The run's identity covers the --coco file's contents: --resume of a -f tar run (whose
    shards hold KEY.json members from the file) with another annotation file is refused
    before any work (exit 2, naming the annotation file); with the same file it resumes."""
    t = tmpdir()
    root = os.path.join(t, "in")
    sizes = photos(root)
    ca, cb = os.path.join(t, "a.json"), os.path.join(t, "b.json")
    coco = make_coco(sizes, random.Random(5))
    with open(ca, "w") as f:
        json.dump(coco, f)
    coco["annotations"] = coco["annotations"][1:]
    with open(cb, "w") as f:
        json.dump(coco, f)
    out = os.path.join(t, "o")
    args = ["run", "-i", root, "-o", out, "-p", PIPES[0], "-f", "tar", "--shard-size", "2",
            "-w", "1", "--progress", "none"]
    run(args + ["--coco", ca], check=0)
    with open(os.path.join(out, "coco.json"), "rb") as f:
        before = f.read()
    p = run(args + ["--coco", cb, "--resume"])
    msg = p.stderr.strip().splitlines()
    check(p.returncode == 2 and msg and "--coco" in msg[-1] and "annotation file" in msg[-1],
          f"--resume with another file: exit {p.returncode} {p.stderr[-600:]!r}")
    with open(os.path.join(out, "coco.json"), "rb") as f:
        check(f.read() == before, "coco.json changed by a refused --resume")
    p = run(args + ["--coco", ca, "--resume"])
    check(p.returncode == 0, f"--resume with the same file: exit {p.returncode} "
          f"{p.stderr[-600:]}")
    # A run without --coco resumes without it (its identity has no coco line).
    out2 = os.path.join(t, "plain")
    args2 = ["run", "-i", root, "-o", out2, "-f", "tar", "--shard-size", "2", "-w", "1",
             "--progress", "none"]
    run(args2, check=0)
    with open(os.path.join(out2, ".prepix", "run"), encoding="utf-8") as f:
        check("coco" not in f.read(), "an identity without --coco names coco")
    run(args2 + ["--resume"], check=0)


def disk_full():
    """The disk fills while coco.json is written (past its first MiB, the mapping's threads at
    work): exit 1, the reason named, no coco.json and no temporary file left; --resume then
    writes the same coco.json as a run that never failed."""
    t = tmpdir()
    root = os.path.join(t, "in")
    photos(root)
    w, h = Image.open(os.path.join(root, "horse.png")).size
    cf = os.path.join(t, "c.json")
    rng = random.Random(3)
    with open(cf, "w") as f:
        f.write('{"images": [{"id": 1, "file_name": "horse.png", "width": %d, "height": %d}], '
                '"annotations": [' % (w, h))
        for i in range(40_000):
            pts = ",".join(f"{rng.uniform(0, w):.2f},{rng.uniform(0, h):.2f}" for _ in range(8))
            f.write(f'{"," if i else ""}{{"id":{i},"image_id":1,"category_id":{i % 80},'
                    f'"bbox":[1,2,{i % 30 + 1},4],"segmentation":[[{pts}]],"iscrowd":0}}')
        f.write("]}")
    args = ["-i", root, "--coco", cf, "-p", "resize 50", "--progress", "none"]
    clean = os.path.join(t, "clean")
    run(["run", "-o", clean] + args, check=0)
    out = os.path.join(t, "o")
    p = run(["run", "-o", out] + args, env={"PPX_TEST_FAULT": "outfull:coco.json"})
    check(p.returncode == 1 and "cannot write coco.json: No space left on device" in p.stderr,
          f"exit {p.returncode}: {p.stderr[-2000:]}")
    left = [n for n in os.listdir(out) if n == "coco.json" or n.startswith(".ppx-")]
    check(not left, f"left in OUTDIR: {left}")
    check(report(out)["stop_reason"] == "cannot write coco.json", report(out).get("stop_reason"))
    run(["run", "-o", out, "--resume"] + args, check=0)
    with open(os.path.join(clean, "coco.json"), "rb") as a, \
            open(os.path.join(out, "coco.json"), "rb") as b:
        check(a.read() == b.read(), "coco.json after --resume differs from a clean run's")


def threads_same():
    """coco.json does not depend on rank 0's CPUs, which set how many threads read and map the
    file: a file of 10 MB (two of the reader's parts, ten of the writer's blocks) run with one
    CPU (taskset) and with two gives the same bytes and the same report."""
    if len(os.sched_getaffinity(0)) < 2:
        raise Skip("one CPU: nothing to compare a run of one thread with")
    t = tmpdir()
    root = os.path.join(t, "in")
    sizes = photos(root)
    coco = make_coco(sizes, random.Random(9))
    base, anns = list(coco["annotations"]), []
    while len(json.dumps(anns[:1])) * len(anns) < 10_000_000:
        anns += [dict(a, id=len(anns) + j) for j, a in enumerate(base)]
    coco["annotations"] = anns
    cf = os.path.join(t, "c.json")
    with open(cf, "w") as f:
        json.dump(coco, f)
    check(os.path.getsize(cf) > 9_000_000, f"the file is {os.path.getsize(cf)} bytes")
    got = []
    for name, pre in (("one", ["taskset", "-c", str(min(os.sched_getaffinity(0)))]), ("all", [])):
        out = os.path.join(t, name)
        p = subprocess.run(pre + [PREPIX, "run", "-i", root, "-o", out, "--coco", cf, "-p",
                                  PIPES[1], "--seed", "7", "-w", "1", "--progress", "none", "-v"],
                           capture_output=True, text=True, timeout=300, errors="replace")
        check(p.returncode == 0 and "read and checked" in p.stderr,
              f"{name}: exit {p.returncode} {p.stderr[-600:]}")
        with open(os.path.join(out, "coco.json"), "rb") as f:
            got.append((f.read(), report(out)["coco"]))
    check(got[0][0] == got[1][0], "coco.json differs between one CPU and all")
    check(got[0][1] == got[1][1], f"report: {got[0][1]} vs {got[1][1]}")


def sanitized():
    with open(PREPIX, "rb") as f:
        return b"__asan_init" in f.read()


def peak_mb():
    """The largest peak RSS of the children run so far."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def bounded(cmd):
    """Runs cmd with a time limit (memory: peak_mb)."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env,
                          errors="replace")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (mapping, shards, tar_samples, tar_companions, refused, failed_images, hostile,
                                                 resume_other_file, disk_full, threads_same)}))

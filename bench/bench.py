#!/usr/bin/python3
"""prepix benchmarks against peers: the driver behind bench/run-all.

Each workload runs every tool on the same inputs, round-robin (A B C A B C
...), one warm-up round and then --runs counted rounds. For each tool it
reports the median wall time, the median CPU time (user + sys of the whole
process tree: steadier than wall time on a machine that others share), the
median of the per-round ratios to the workload's reference tool, the peak
RSS of the largest single process, and how many outputs it wrote.

Results go to WORK/results.json and WORK/results.md; with --doc they also
replace the generated blocks of docs/benchmarks.md (between
"<!-- bench:NAME -->" and "<!-- /bench:NAME -->"), leaving everything else
in that file alone.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE_EXT = (".jpg", ".jpeg", ".tif", ".tiff", ".png", ".webp")
# The WebP workload's inputs: the corpus's JPEG photos as lossy WebP at this quality.
WEBP_QUALITY = 80

# 8-bit TIFF variants of one 600x400 photo that every tool decodes: the
# tiff-half inputs (strips, tiles, planar, LZW, Deflate, PackBits, JPEG, ...).
TIFF_SKIP = ("float", "16", "bilevel", "pyramid", "multipage", "lzma", "webp", "zstd")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- datasets

def make_dataset(work, name, sources, reps):
    """Copies of SOURCES, REPS times, flat in WORK/data/NAME-xREPS/ (names
    prefixed rNN_ so that every tool writes distinct outputs)."""
    d = os.path.join(work, "data", "%s-x%d" % (name, reps))
    stamp = os.path.join(d, ".complete")
    if os.path.exists(stamp):
        return d
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for r in range(reps):
        for s in sources:
            shutil.copyfile(s, os.path.join(d, "r%02d_%s" % (r, os.path.basename(s))))
    open(stamp, "w").close()
    return d


def _to_webp(job):
    from PIL import Image

    src, dst = job
    with Image.open(src) as im:
        exif = im.info.get("exif", b"")
        im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
        im.save(dst, quality=WEBP_QUALITY, method=4, exif=exif)


def make_webp_dataset(work, sources, reps):
    """SOURCES converted to lossy WebP by Pillow (libwebp, quality WEBP_QUALITY, EXIF kept so
    that autorotate has work), REPS times, flat in WORK/data/webp-qQ-xREPS/. The conversion
    runs in a pool: a driver grown by decoding big photos would pass its peak RSS on to every
    tool it forks afterwards (ru_maxrss starts at the parent's size)."""
    import multiprocessing

    d = os.path.join(work, "data", "webp-q%d-x%d" % (WEBP_QUALITY, reps))
    stamp = os.path.join(d, ".complete")
    if os.path.exists(stamp):
        return d
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    jobs = [(s, os.path.join(d, "r00_" + os.path.splitext(os.path.basename(s))[0] + ".webp"))
            for s in sources]
    with multiprocessing.Pool(len(os.sched_getaffinity(0))) as pool:
        pool.map(_to_webp, jobs, chunksize=1)
    for r in range(1, reps):
        for _, p in jobs:
            shutil.copyfile(p, p.replace("/r00_", "/r%02d_" % r))
    open(stamp, "w").close()
    return d


def is_progressive(path):
    """True for a progressive JPEG (an SOF2 marker before the first scan)."""
    from PIL import Image

    with Image.open(path) as im:
        return bool(im.info.get("progressive") or im.info.get("progression"))


def jpeg_kind_sources(corpus, progressive):
    """The corpus's JPEGs that are progressive (or baseline): thumb224 reported per kind,
    since the 42 progressive photos are 47% of the corpus's JPEG bytes and decode differently
    (all scans entropy-decoded into memory first)."""
    return [s for s in jpeg_sources(corpus) if is_progressive(s) == progressive]


def list_images(d):
    return sorted(n for n in os.listdir(d) if n.lower().endswith(IMAGE_EXT))


def jpeg_sources(corpus):
    d = os.path.join(corpus, "jpeg")
    return [os.path.join(d, n) for n in list_images(d)]


def tiff_sources(corpus):
    d = os.path.join(corpus, "tiff", "variants")
    return [os.path.join(d, n) for n in list_images(d)
            if not any(k in n for k in TIFF_SKIP)]


def read_manifest(corpus):
    sizes = {}
    with open(os.path.join(corpus, "MANIFEST.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            c = line.rstrip("\n").split("\t")
            try:
                sizes[os.path.basename(c[0])] = (int(c[3]), int(c[4]))
            except (IndexError, ValueError):
                pass
    return sizes


# ---------------------------------------------------------------- running

def idle_core_s():
    """Idle (+ iowait) core-seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        v = f.readline().split()
    return (int(v[4]) + int(v[5])) / os.sysconf("SC_CLK_TCK")


def run_timed(cmd, cwd, env, timeout):
    """Runs CMD (a bash string) in CWD; returns wall s, CPU s of the whole
    tree, the largest single process's peak RSS in KiB, the exit code, and
    the machine's idle core-seconds meanwhile (other people's work shows as
    a run that could not get the cores it asked for)."""
    i0 = idle_core_s()
    t0 = time.monotonic()
    p = subprocess.Popen(["bash", "-c", cmd], cwd=cwd, env=env, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = []
    reader = threading.Thread(target=lambda: err.append(p.stderr.read()))
    reader.start()
    timer = threading.Timer(timeout, lambda: os.killpg(p.pid, signal.SIGKILL))
    timer.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    timer.cancel()
    reader.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_kib": ru.ru_maxrss,
            "rc": p.returncode, "stderr": err[0].decode(errors="replace")[-2000:],
            "idle": idle_core_s() - i0}


def count_outputs(d):
    """Image files under D, and image members of the tars (shards) there."""
    import tarfile

    n = 0
    for root, _, files in os.walk(d):
        n += sum(1 for f in files if f.lower().endswith(IMAGE_EXT))
        for f in files:
            if f.endswith(".tar"):
                try:
                    with tarfile.open(os.path.join(root, f)) as t:
                        n += sum(1 for m in t if m.name.lower().endswith(IMAGE_EXT))
                except (OSError, tarfile.TarError):
                    pass
    return n


def bench_tools(work, name, tools, indir, rounds, env, ref, timeout, n_in):
    """Round-robin over TOOLS ([(label, cmd with {IN} {OUT})]); round 0 is
    the warm-up. Returns per-tool summaries."""
    # A safe folder name: some templates put {OUT} inside a quoted argument (vipsthumbnail).
    out = os.path.join(work, "out", re.sub(r"[^A-Za-z0-9_.-]", "_", name))
    runs = {t[0]: [] for t in tools}
    errors = {}
    for r in range(rounds + 1):
        for label, cmd in tools:
            o = os.path.join(out, re.sub(r"[^A-Za-z0-9_.-]", "_", label))
            shutil.rmtree(o, ignore_errors=True)
            os.makedirs(o)
            c = cmd.format(IN=shlex.quote(indir), OUT=shlex.quote(o))
            res = run_timed(c, indir, env, timeout)
            res["outputs"] = count_outputs(o)
            if res["rc"] != 0:
                errors[label] = res["stderr"].strip().splitlines()[-3:]
            log("  %-22s round %d/%d  %7.2f s wall %7.2f s cpu  %5.2f s idle  rc %d  %d outputs"
                % (label, r, rounds, res["wall"], res["cpu"], res["idle"], res["rc"],
                   res["outputs"]))
            if r > 0:
                runs[label].append(res)
    shutil.rmtree(out, ignore_errors=True)
    rows = []
    for label, cmd in tools:
        rs = runs[label]
        row = {
            "tool": label, "command": cmd,
            "wall": statistics.median(x["wall"] for x in rs),
            "cpu": statistics.median(x["cpu"] for x in rs),
            "rss_mib": max(x["rss_kib"] for x in rs) / 1024.0,
            "outputs": rs[-1]["outputs"], "inputs": n_in,
            "rc": max(x["rc"] for x in rs), "walls": [x["wall"] for x in rs],
            "cpus": [x["cpu"] for x in rs], "errors": errors.get(label, []),
            "idle": statistics.median(x["idle"] for x in rs),
        }
        if ref:
            refs = runs[ref]
            row["ratio_wall"] = statistics.median(
                a["wall"] / b["wall"] for a, b in zip(rs, refs))
            row["ratio_cpu"] = statistics.median(a["cpu"] / b["cpu"] for a, b in zip(rs, refs))
        rows.append(row)
    return rows


def pair_ratio(rows, a, b, key="wall"):
    """Median over rounds of a's time / b's time."""
    ra = next(r for r in rows if r["tool"] == a)
    rb = next(r for r in rows if r["tool"] == b)
    return statistics.median(x / y for x, y in zip(ra[key + "s"], rb[key + "s"]))


# ---------------------------------------------------------------- memory

def watch_rss(cmd, cwd, env):
    """Runs CMD and samples /proc every 20 ms: the peak VmHWM of the first
    prepix process (the rank) and of each of its children (the workers)."""
    p = subprocess.Popen(["bash", "-c", "exec " + cmd], cwd=cwd, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peaks = {}

    def hwm(pid):
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    while p.poll() is None:
        v = hwm(p.pid)
        if v:
            peaks[("rank", p.pid)] = max(v, peaks.get(("rank", p.pid), 0))
        try:
            with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        for k in kids:
            v = hwm(k)
            if v:
                peaks[("worker", k)] = max(v, peaks.get(("worker", k), 0))
        time.sleep(0.02)
    rank = max((v for (kind, _), v in peaks.items() if kind == "rank"), default=0)
    workers = sorted((v for (kind, _), v in peaks.items() if kind == "worker"), reverse=True)
    return rank / 1024.0, [w / 1024.0 for w in workers]


def prepix_scale_bytes(w, h, size, longer):
    """Bytes of the RGB image that prepix decodes for a resize to SIZE on the
    shorter (or longer) side: the DCT scale rule of ppx_pipeline_decode_hint
    (a factor 2 left for the resize)."""
    if longer:
        ow, oh = (size, int(size * h / w)) if w >= h else (int(size * w / h), size)
    else:
        ow, oh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    for d in (8, 4, 2):
        sw, sh = -(-w // d), -(-h // d)
        if sw >= 2 * ow and sh >= 2 * oh:
            return sw * sh * 3
    return w * h * 3


# ---------------------------------------------------------------- archive input

# ImageNet's layout: class folders named like WordNet ids.
ARCHIVE_CLASSES = 5


def make_archive_dataset(work, sources, reps):
    """The photos of SOURCES, REPS copies, spread over ARCHIVE_CLASSES class
    folders (WORK/data/archive-xREPS/folder/nNNNNNNNN/rNN_NAME), and the same
    files as ImageNet ships them: one tar (train.tar) of one tar per class
    (nNNNNNNNN.tar), members in the folders' sorted order. Returns (folder,
    tar, number of images)."""
    import tarfile
    d = os.path.join(work, "data", "archive-x%d" % reps)
    # train.tar beside the folder: the benchmark names it ../train.tar from there.
    folder, tar = os.path.join(d, "folder"), os.path.join(d, "train.tar")
    n = reps * len(sources)
    if os.path.exists(os.path.join(d, ".complete")):
        return folder, tar, n
    shutil.rmtree(d, ignore_errors=True)
    classes = ["n%08d" % (1440764 + 1000 * c) for c in range(ARCHIVE_CLASSES)]
    i = 0
    for r in range(reps):
        for s in sources:
            c = os.path.join(folder, classes[i % len(classes)])
            os.makedirs(c, exist_ok=True)
            shutil.copyfile(s, os.path.join(c, "r%02d_%s" % (r, os.path.basename(s))))
            i += 1
    inner = os.path.join(d, "inner")
    os.makedirs(inner)
    with tarfile.open(tar, "w", format=tarfile.USTAR_FORMAT) as outer:
        for c in classes:
            ct = os.path.join(inner, c + ".tar")
            with tarfile.open(ct, "w", format=tarfile.USTAR_FORMAT) as t:
                for name in sorted(os.listdir(os.path.join(folder, c))):
                    t.add(os.path.join(folder, c, name), arcname=name)
            outer.add(ct, arcname=c + ".tar")
    shutil.rmtree(inner)
    open(os.path.join(d, ".complete"), "w").close()
    return folder, tar, n


def count_opens(argv, cwd, env):
    """open + openat calls of ARGV and every process it forks (strace -f -c)."""
    f = os.path.join(cwd, "strace.txt")
    subprocess.run(["strace", "-f", "-c", "-e", "trace=open,openat", "-o", f] + argv,
                   cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    calls = 0
    with open(f) as fh:
        for line in fh:
            v = line.split()
            if len(v) >= 5 and v[-1] in ("open", "openat") and v[3].isdigit():
                calls += int(v[3])
    os.unlink(f)
    return calls


def archive_workload(a, P, env, runs):
    """thumb224 at -w 2 on the same photos as class folders and as ImageNet's
    tar of class tars: wall and CPU, tools alternating round-robin (the ratio
    is the median of the per-round ratios), and the open/openat calls of each
    (strace -f -c), per 1,000 images once a run on an empty folder's calls
    (start-up: libraries, OUTDIR's files) are taken off; for -f jpeg outputs
    and for -f tar shards (whose outputs cost almost no opens, so the input
    side shows alone)."""
    folder, tar, n = make_archive_dataset(a.work, jpeg_sources(a.corpus), a.reps)
    spec = "'autorotate | resize 224 | center-crop 224'"
    tools = [("folder", P + " run -i {IN} -o {OUT} --progress none -p " + spec +
              " -f jpeg -q 90 -w 2"),
             # Run in the folder (as every tool is), whose parent holds train.tar.
             ("tar of tars", P + " run -i ../train.tar -o {OUT} --progress none "
              "-p " + spec + " -f jpeg -q 90 -w 2")]
    log("archive: folder vs tar of tars, %d images, %d+1 rounds" % (n, runs))
    load0 = os.getloadavg()[0]
    rows = bench_tools(a.work, "archive", tools, folder, runs, env, "folder", a.timeout, n)
    w = {"rows": rows, "ref": "folder", "input": folder, "images": n,
         "load": [load0, os.getloadavg()[0]],
         "date": datetime.datetime.now().strftime("%H:%M")}
    print("\n## archive (%d images)\n" % n)
    print(fmt_table(rows, True, "folder"))
    opens = {}
    if shutil.which("strace"):
        sw = os.path.join(a.work, "strace")
        empty = os.path.join(sw, "empty")
        os.makedirs(empty, exist_ok=True)
        argv = shlex.split(P) + ["run", "--progress", "none", "-w", "2", "-p",
                                 shlex.split(spec)[0], "-q", "90"]
        for fmt in ("jpeg", "tar"):
            got = {}
            for label, inp in (("empty", empty), ("folder", folder), ("tar of tars", tar)):
                o = os.path.join(sw, "out")
                shutil.rmtree(o, ignore_errors=True)
                got[label] = count_opens(argv + ["-f", fmt, "-i", inp, "-o", o], sw, env)
                shutil.rmtree(o, ignore_errors=True)
            for label in ("folder", "tar of tars"):
                opens["%s, -f %s" % (label, fmt)] = {
                    "calls": got[label], "startup": got["empty"],
                    "per_1000": (got[label] - got["empty"]) * 1000.0 / n}
            log("archive opens -f %s: %s" % (fmt, got))
        shutil.rmtree(sw, ignore_errors=True)
    w["opens"] = opens
    w["opens_cmd"] = ("strace -f -c -e trace=open,openat prepix run -i INPUT -o OUT "
                      "--progress none -w 2 -p SPEC -q 90 -f FMT")
    return w


def render_archive(w, res):
    """The bench:archive block of docs/benchmarks.md."""
    txt = ("Measured %s (%s) on %s; prepix %s; %d counted runs after one warm-up, the two "
           "inputs alternating; load average (1 min) at start and end: %.1f, %.1f.\n\n"
           % (res["date"].split()[0], w["date"], res["machine"], w.get("commit", res["commit"]),
              res["runs"], w["load"][0], w["load"][1]))
    txt += "### thumb224 at -w 2, %d photos in %d classes\n\n" % (w["images"], ARCHIVE_CLASSES)
    txt += fmt_table(w["rows"], True, w["ref"]) + "\n"
    tar = next(r for r in w["rows"] if r["tool"] == "tar of tars")
    txt += ("| target | measured (wall) | (CPU) | met |\n|---|---:|---:|---|\n"
            "| tar of tars no slower than folder: wall / folder <= 1.00 | %.3f | %.3f | %s |\n\n"
            % (tar["ratio_wall"], tar["ratio_cpu"],
               "yes" if tar["ratio_wall"] <= 1.0 else "no, by %.1f%%"
               % (100 * (tar["ratio_wall"] - 1))))
    if w.get("opens"):
        txt += "### open and openat calls\n\n"
        txt += ("| input, output | calls | of which start-up (empty folder) | per 1,000 images, "
                "start-up taken off |\n|---|---:|---:|---:|\n")
        for k, v in w["opens"].items():
            txt += "| %s | %d | %d | %.0f |\n" % (k, v["calls"], v["startup"], v["per_1000"])
        txt += "\nCounted with `%s`.\n\n" % w["opens_cmd"]
    return txt + fmt_commands(w["rows"], w["input"])


# ---------------------------------------------------------------- voc (companions)

def make_voc_dataset(work, sources, reps):
    """VOC's segmentation layout over the photos of SOURCES (REPS copies):
    WORK/data/voc-xREPS/{JPEGImages,SegmentationClass}, each photo brought to
    VOC's sizes (at most 500 pixels a side, JPEG quality 90, upright) and its
    mask a palette PNG of that size (a few class blobs with 255 borders, as
    VOC's). Returns (images folder, masks folder, number of images)."""
    import numpy as np
    from PIL import Image
    d = os.path.join(work, "data", "voc500-x%d" % reps)
    img_d, seg_d = os.path.join(d, "JPEGImages"), os.path.join(d, "SegmentationClass")
    n = reps * len(sources)
    if os.path.exists(os.path.join(d, ".complete")):
        return img_d, seg_d, n
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(img_d)
    os.makedirs(seg_d)
    pal = [v for i in range(256) for v in ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)]
    rng = np.random.default_rng(0)
    i = 0
    for r in range(reps):
        for src in sources:
            name = "r%02d_%s" % (r, os.path.splitext(os.path.basename(src))[0])
            with Image.open(src) as im:
                im = im.convert("RGB")
                im.thumbnail((500, 500), Image.Resampling.LANCZOS)
                im.save(os.path.join(img_d, name + ".jpg"), quality=90)
                w, h = im.size
            m = np.zeros((h, w), np.uint8)
            yy, xx = np.ogrid[0:h, 0:w]
            for _ in range(3):
                cx, cy = rng.integers(0, w), rng.integers(0, h)
                rad = max(2, int(rng.integers(1, max(2, min(w, h) // 3))))
                dd = (xx - cx) ** 2 + (yy - cy) ** 2
                m[dd < (rad + 3) ** 2] = 255
                m[dd < rad ** 2] = rng.integers(1, 21)
            mk = Image.fromarray(m, "P")
            mk.putpalette(pal)
            mk.save(os.path.join(seg_d, name + ".png"))
            i += 1
    open(os.path.join(d, ".complete"), "w").close()
    return img_d, seg_d, n


def voc_workload(a, P, env, runs, R=None):
    """thumb224 on a VOC-shaped set, with and without its masks (--with), into
    tar shards and into files, the four alternating round-robin: each ratio is
    the median of the per-round ratios of a run with masks to the same run
    without. With R (PPX_PREPIX_REF), the same four runs of that binary too,
    as "ref ..." rows in the same rounds."""
    img_d, seg_d, n = make_voc_dataset(a.work, jpeg_sources(a.corpus), a.reps)
    spec = "'autorotate | resize 256 | center-crop 224'"
    masks = " --with " + shlex.quote("SegmentationClass=%s,fill=255" % seg_d)
    tools = []
    for prefix, binary in (("", P), ("ref ", R)):
        if not binary:
            continue
        base = binary + " run -i {IN} -o {OUT} --progress none -p " + spec + " -q 90 -w 2"
        tools += [(prefix + "tar", base + " -f tar"), (prefix + "tar + masks", base + " -f tar" + masks),
                  (prefix + "files", base + " -f jpeg"),
                  (prefix + "files + masks", base + " -f jpeg" + masks)]
    log("voc: with and without masks, %d images, %d+1 rounds" % (n, runs))
    load0 = os.getloadavg()[0]
    rows = bench_tools(a.work, "voc", tools, img_d, runs, env, "tar", a.timeout, n)
    print("\n## voc (%d images)\n" % n)
    print(fmt_table(rows, True, "tar"))
    kinds = ("tar", "files") + (("ref tar", "ref files") if R else ())
    ratios = {k: {key: pair_ratio(rows, k + " + masks", k, key) for key in ("wall", "cpu")}
              for k in kinds}
    print("with masks / without: %s" % ratios)
    return {"rows": rows, "ref": "tar", "input": img_d, "images": n, "ratios": ratios,
            "load": [load0, os.getloadavg()[0]],
            "date": datetime.datetime.now().strftime("%H:%M")}


def render_voc(w, res):
    """The bench:voc block of docs/benchmarks.md."""
    txt = ("Measured %s (%s) on %s; prepix %s; %d counted runs after one warm-up, the four "
           "runs alternating; load average (1 min) at start and end: %.1f, %.1f.\n\n"
           % (res["date"].split()[0], w["date"], res["machine"], w.get("commit", res["commit"]),
              res["runs"], w["load"][0], w["load"][1]))
    txt += ("### thumb224 at -w 2 on a VOC-shaped set, %d photos, each with a palette mask\n\n"
            % w["images"])
    txt += fmt_table(w["rows"], True, w["ref"]) + "\n"
    txt += "| target: a run with masks / the same run without <= 1.30 | wall | CPU | met |\n"
    txt += "|---|---:|---:|---|\n"
    labels = [("tar", "-f tar (WebDataset shards)"), ("files", "-f jpeg (files)"),
              ("ref tar", "ref: -f tar"), ("ref files", "ref: -f jpeg")]
    for k, label in labels:
        if k not in w["ratios"]:
            continue
        r = w["ratios"][k]
        txt += "| %s | %.3f | %.3f | %s |\n" % (label, r["wall"], r["cpu"],
                                                "yes" if r["wall"] <= 1.3 else "no")
    return txt + "\n" + fmt_commands(w["rows"], w["input"])


# ---------------------------------------------------------------- report

def machine_facts():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return "%s, %d cores, %.0f GiB, Linux %s" % (model, os.cpu_count(), mem, platform.release())


def tool_versions():
    def first(cmd):
        try:
            r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"
    return {
        "vips": first("vips --version"),
        "ImageMagick": first("mogrify -version"),
        "GraphicsMagick": first("gm version"),
        "Pillow": first("/usr/bin/python3 -c 'import PIL, numpy; "
                        "print(\"Pillow\", PIL.__version__, \"numpy\", numpy.__version__)'"),
        "libjpeg-turbo": first("dpkg-query -W -f '${Package} ${Version}' libjpeg62-turbo"),
        "Open MPI": first("mpirun --version"),
        "OpenCV": first("/usr/bin/python3 -c 'import cv2; print(\"OpenCV\", cv2.__version__)'"),
    }


def fmt_table(rows, ref, ref_name):
    # Ratios to a reference that failed (e.g. a codec not built yet) mean nothing.
    refrow = next((r for r in rows if r["tool"] == ref_name), None)
    if refrow and refrow["rc"] != 0 and refrow["outputs"] < refrow["inputs"] and \
            not ref_name.startswith(("floor", "prepix stats")):
        ref = None
        ref_name += " (failed)"
    h = ("| tool | median wall s | median CPU s | images/s | wall / %s | CPU / %s "
         "| peak RSS MiB (largest process) | outputs | machine idle, core-s |\n"
         % (ref_name, ref_name))
    h += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    for r in rows:
        ok = r["outputs"] if r["outputs"] == r["inputs"] else "%d of %d" % (r["outputs"],
                                                                           r["inputs"])
        if r["tool"].startswith(("floor", "noop", "numpy", "prepix stats")):
            ok = "none (by design)"
        if r["rc"] != 0:
            ok = "%s, exit %d" % (ok, r["rc"])
        h += "| %s | %.2f | %.2f | %.1f | %s | %s | %.0f | %s | %s |\n" % (
            r["tool"], r["wall"], r["cpu"], r["inputs"] / r["wall"],
            "%.2f" % r["ratio_wall"] if ref else "-",
            "%.2f" % r["ratio_cpu"] if ref else "-", r["rss_mib"], ok,
            "%.2f" % r["idle"] if "idle" in r else "-")
    return h


def fmt_commands(rows, indir):
    s = "Commands (run in the input folder; `{IN}`/`{OUT}` are the input and a fresh output "
    s += "folder):\n\n"
    root = os.path.dirname(HERE) + "/"
    for r in rows:
        # Paths relative to the repository root, so the doc does not name one checkout.
        s += "    %-18s %s\n" % (r["tool"] + ":", r["command"].replace(root, ""))
    return s + "\n"


def replace_block(doc, name, text):
    """Replaces the generated block NAME in DOC (markers stay); returns the
    new document, or None when the markers are missing."""
    pat = re.compile(r"(<!-- bench:%s -->\n)(.*?)(<!-- /bench:%s -->)" % (name, name), re.S)
    if not pat.search(doc):
        return None
    return pat.sub(lambda m: m.group(1) + text + m.group(3), doc)


# ---------------------------------------------------------------- main

def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--render":
        # bench.py --render results.json docs/benchmarks.md: rewrite the doc's blocks
        # from saved results (after a change to the tables' layout).
        with open(sys.argv[2]) as f:
            write_doc(sys.argv[3], render(json.load(f)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prepix", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--prepix-ref",
                    help="another prepix (e.g. main's build) run as one more tool, 'prepix ref', "
                    "in the thumb224 and imagenet workloads: before and after in the same rounds")
    ap.add_argument("--prepix-hooks",
                    help="a prepix with the test fault hook, for the noop chunk-rate runs")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--reps", type=int, default=2,
                    help="copies of the JPEG corpus for thumb224 and scaling")
    ap.add_argument("--big-reps", type=int, default=1,
                    help="copies of the JPEG corpus for big1024 and stats (their slow peers "
                    "take 10x longer)")
    ap.add_argument("--tiff-reps", type=int, default=12, help="copies of the TIFF variants")
    ap.add_argument("--imagenet-n", type=int, default=500,
                    help="ImageNet-shaped photos made for the imagenet workloads")
    ap.add_argument("--scaling-reps", type=int, default=4,
                    help="copies of the JPEG corpus for scaling: -np 1 -w 1 must last >= 5 s, "
                    "or MPI's start-up (~0.35 s) weighs on the -np ratio")
    ap.add_argument("--only", default="thumb224,thumb224-kinds,imagenet,imagenet-tar,big1024,"
                    "tiff-half,stats,webp224,scaling,sched,memory,archive,voc")
    ap.add_argument("--peers", default="all", help="'all' or 'none' (prepix and the floor only)")
    ap.add_argument("--doc", help="docs/benchmarks.md to update")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless every prepix run and every floor run succeeded "
                    "(prepix: exit 0 and one output per input)")
    a = ap.parse_args()

    jobs = len(os.sched_getaffinity(0))
    os.makedirs(a.work, exist_ok=True)
    only = a.only.split(",")
    env = dict(os.environ)
    env.update({"VIPS_CONCURRENCY": "1", "OMP_NUM_THREADS": "1", "MAGICK_THREAD_LIMIT": "1",
                "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_rmaps_base_oversubscribe": "1"})
    P = shlex.quote(os.path.abspath(a.prepix))
    R = shlex.quote(os.path.abspath(a.prepix_ref)) if a.prepix_ref else None
    F = shlex.quote(os.path.abspath(a.floor))
    PY = "/usr/bin/python3 " + shlex.quote(os.path.join(HERE, "peer_pillow.py"))
    # Files go 16 to a process, JOBS processes at a time. The sh wrapper turns
    # a tool's exit 255 (which would make xargs stop early) into 1, so every
    # batch runs and xargs reports any failure at the end with exit 123.
    X = "printf '%%s\\0' * | xargs -0 -P %d -n 16 sh -c '\"$@\" || exit 1' sh" % jobs
    results = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
               "machine": machine_facts(), "versions": tool_versions(), "jobs": jobs,
               "runs": a.runs, "workloads": {}, "ran": []}
    try:
        commit = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    results["commit"] = commit
    peers = a.peers == "all"
    jpeg_in = make_dataset(a.work, "jpeg", jpeg_sources(a.corpus), a.reps)
    big_in = make_dataset(a.work, "jpeg", jpeg_sources(a.corpus), a.big_reps)
    sizes = read_manifest(a.corpus)
    prepix_run = P + " run -i {IN} -o {OUT} --progress none"

    def workload(name, tools, indir, ref, ref_name):
        log("%s: %d tools, %d images, %d+1 rounds" % (name, len(tools), len(list_images(indir)),
                                                      a.runs))
        load0 = os.getloadavg()[0]
        rows = bench_tools(a.work, name, tools, indir, a.runs, env, ref, a.timeout,
                           len(list_images(indir)))
        results["ran"].append(name)
        results["workloads"][name] = {"rows": rows, "ref": ref_name, "input": indir,
                                      "images": len(list_images(indir)),
                                      "load": [load0, os.getloadavg()[0]],
                                      "date": datetime.datetime.now().strftime("%H:%M"),
                                      "commit": commit}
        print("\n## %s (%d images)\n" % (name, len(list_images(indir))))
        print(fmt_table(rows, ref, ref_name))
        return rows

    def thumb224_tools():
        spec = "'autorotate | resize 224 | center-crop 224'"
        tools = [("floor", X + " " + F + " shorter 224"),
                 ("prepix", prepix_run + " -p " + spec + " -f jpeg -q 90 -w %d" % jobs)]
        if R:
            tools.append(("prepix ref", R + " run -i {IN} -o {OUT} --progress none -p " + spec +
                          " -f jpeg -q 90 -w %d" % jobs))
        if peers:
            tools += [
                ("floor at prepix scale", X + " " + F + " -m 2 shorter 224"),
                ("vipsthumbnail", X + " vipsthumbnail --size 224x224 --smartcrop centre "
                 "-o '{OUT}/%s.jpg[Q=90]'"),
                ("ImageMagick", X + " mogrify -limit thread 1 -path {OUT} "
                 "-define jpeg:size=224x224 -auto-orient -filter Lanczos -resize '224x224^' "
                 "-gravity center -extent 224x224 -quality 90"),
                ("GraphicsMagick", X + " gm mogrify -limit threads 1 -output-directory {OUT} "
                 "-size 224x224 -auto-orient -filter Lanczos -resize '224x224^' "
                 "-gravity center -extent 224x224 -quality 90"),
                ("Pillow", PY + " thumb224 -j %d -i {IN} -o {OUT}" % jobs),
                ("Pillow+draft", PY + " thumb224 --draft -j %d -i {IN} -o {OUT}" % jobs)]
        return tools

    if "thumb224" in only:
        workload("thumb224", thumb224_tools(), jpeg_in, "floor", "floor")

    if "thumb224-kinds" in only:
        # The same workload on the baseline and on the progressive photos alone (issue 25).
        for kind, prog in (("baseline", False), ("progressive", True)):
            d = make_dataset(a.work, "jpeg-" + kind, jpeg_kind_sources(a.corpus, prog), a.reps)
            workload("thumb224 " + kind, thumb224_tools(), d, "floor", "floor")

    if "imagenet" in only or "imagenet-tar" in only:
        # torchvision's evaluation transform on ImageNet-shaped baseline JPEGs (issue 26),
        # made from the corpus photos by bench/imagenet_set.py. At 500x375 no DCT scale leaves
        # 2x256 px, so every tool decodes in full; the floor is that decode alone.
        import imagenet_set

        inet_in = imagenet_set.make(a.corpus, os.path.join(a.work, "data", "imagenet-%d" %
                                                           a.imagenet_n), a.imagenet_n)
        spec = "'resize 256 | center-crop 224'"
        CV = "/usr/bin/python3 " + shlex.quote(os.path.join(HERE, "peer_opencv.py"))
        if "imagenet" in only:
            tools = [("Pillow", PY + " imagenet -j %d -i {IN} -o {OUT}" % jobs),
                     ("prepix", prepix_run + " -p " + spec + " -f jpeg -q 90 -w %d" % jobs)]
            if R:
                tools.append(("prepix ref", R + " run -i {IN} -o {OUT} --progress none -p " +
                              spec + " -f jpeg -q 90 -w %d" % jobs))
            if peers:
                tools += [
                    ("OpenCV", CV + " imagenet -j %d -i {IN} -o {OUT}" % jobs),
                    # vipsthumbnail has no resize-then-crop of another size: shorter side to
                    # 224 and crop, the nearest it comes (a little less resize work).
                    ("vipsthumbnail", X + " vipsthumbnail --size 224x224 --smartcrop centre "
                     "-o '{OUT}/%s.jpg[Q=90]'"),
                    ("floor", X + " " + F + " shorter 256")]
            workload("imagenet", tools, inet_in, "Pillow", "Pillow")
        if "imagenet-tar" in only:
            # WebDataset shards: prepix -f tar; the Python peers encode in their workers and
            # the parent writes one tar (vipsthumbnail writes files only: no row).
            tools = [("Pillow", PY + " imagenet -j %d -i {IN} --tar {OUT}/shard.tar" % jobs),
                     ("prepix", prepix_run + " -p " + spec + " -f tar -q 90 -w %d" % jobs)]
            if R:
                tools.append(("prepix ref", R + " run -i {IN} -o {OUT} --progress none -p " +
                              spec + " -f tar -q 90 -w %d" % jobs))
            if peers:
                tools += [("OpenCV", CV + " imagenet -j %d -i {IN} --tar {OUT}/shard.tar" % jobs)]
            workload("imagenet tar", tools, inet_in, "Pillow", "Pillow")

    if "big1024" in only:
        spec = "'resize 1024 fit=longer filter=lanczos3'"
        tools = [("floor", X + " " + F + " longer 1024"),
                 ("prepix", prepix_run + " -p " + spec + " -f jpeg -q 90 -w %d" % jobs)]
        if peers:
            # Pillow+draft decodes at the smallest DCT scale covering 1024 px; prepix keeps a
            # factor 2 unless told `draft=fast`, which is Pillow's rule: the like-for-like row.
            fast = "'resize 1024 fit=longer filter=lanczos3 draft=fast'"
            tools += [
                ("prepix draft=fast", prepix_run + " -p " + fast + " -f jpeg -q 90 -w %d" % jobs),
                ("floor at prepix scale", X + " " + F + " -m 2 longer 1024"),
                ("vipsthumbnail", X + " vipsthumbnail --size 1024x1024 --no-rotate "
                 "-o '{OUT}/%s.jpg[Q=90]'"),
                ("ImageMagick", X + " mogrify -limit thread 1 -path {OUT} "
                 "-define jpeg:size=1024x1024 -filter Lanczos -resize 1024x1024 -quality 90"),
                ("GraphicsMagick", X + " gm mogrify -limit threads 1 -output-directory {OUT} "
                 "-size 1024x1024 -filter Lanczos -resize 1024x1024 -quality 90"),
                ("Pillow", PY + " big1024 -j %d -i {IN} -o {OUT}" % jobs),
                ("Pillow+draft", PY + " big1024 --draft -j %d -i {IN} -o {OUT}" % jobs)]
        workload("big1024", tools, big_in, "floor", "floor")

    if "tiff-half" in only:
        tiff_in = make_dataset(a.work, "tiff", tiff_sources(a.corpus), a.tiff_reps)
        tools = [("prepix", prepix_run + " -p 'resize 300x200 fit=fill filter=lanczos3' "
                  "-f tiff -w %d" % jobs)]
        if peers:
            tools += [
                ("vipsthumbnail", X + " vipsthumbnail --size 300x200 "
                 "-o '{OUT}/%s.tif[compression=lzw]'"),
                ("ImageMagick", X + " mogrify -limit thread 1 -path {OUT} -format tif "
                 "-filter Lanczos -resize 50% -compress LZW"),
                ("GraphicsMagick", X + " gm mogrify -limit threads 1 -output-directory {OUT} "
                 "-format tif -filter Lanczos -resize 50% -compress LZW"),
                ("Pillow", PY + " tiff-half -j %d -i {IN} -o {OUT}" % jobs)]
        workload("tiff-half", tools, tiff_in, "prepix", "prepix")

    if "webp224" in only:
        # thumb224 on the same photos as lossy WebP. Pillow cannot shrink WebP on load; prepix
        # can (libwebp's scaler), and the draft=off row shows what that is worth.
        webp_in = make_webp_dataset(a.work, jpeg_sources(a.corpus), a.reps)
        spec = "autorotate | resize 224 | center-crop 224"
        tools = [("Pillow", PY + " thumb224 -j %d -i {IN} -o {OUT}" % jobs),
                 ("prepix", prepix_run + " -p '" + spec + "' -f jpeg -q 90 -w %d" % jobs),
                 ("prepix draft=off", prepix_run + " -p '" + spec.replace(
                     "224 |", "224 draft=off |", 1) + "' -f jpeg -q 90 -w %d" % jobs)]
        if peers:
            tools += [("vipsthumbnail", X + " vipsthumbnail --size 224x224 --smartcrop centre "
                       "-o '{OUT}/%s.jpg[Q=90]'")]
        workload("webp224", tools, webp_in, "Pillow", "Pillow")

    if "stats" in only:
        tools = [("prepix stats", P + " stats -i {IN} --progress none --report {OUT}/r.json "
                  "-w %d" % jobs)]
        if peers:
            tools += [("numpy+Pillow", PY + " stats -j %d -i {IN}" % jobs)]
        workload("stats", tools, big_in, "prepix stats", "prepix stats")

    if "scaling" in only:
        scale_in = make_dataset(a.work, "jpeg", jpeg_sources(a.corpus), a.scaling_reps)
        spec = "'autorotate | resize 224 | center-crop 224'"
        base = prepix_run + " -p " + spec + " -f jpeg -q 90"
        mpi = "mpirun -np %d " + P + " run -i {IN} -o {OUT} --progress none -p " + spec + \
            " -f jpeg -q 90 -w 1"
        sc = {}
        # The floor at -P 1 and -P 2 is the machine's own scaling: what two processes
        # that share nothing get from two vCPUs (memory bandwidth, caches, the host).
        x1 = "printf '%s\\0' * | xargs -0 -P 1 -n 16 "
        x2 = "printf '%s\\0' * | xargs -0 -P 2 -n 16 "
        sc["workers"] = workload("scaling -w", [
            ("-w 1", base + " -w 1"), ("-w 2", base + " -w 2"),
            ("floor -P 1", x1 + F + " -m 2 shorter 224"),
            ("floor -P 2", x2 + F + " -m 2 shorter 224")], scale_in, "-w 2", "-w 2")
        # Open MPI 4.1's default PML selection probes PSM/OFI hardware (the cm PML) for about
        # 0.2 s of MPI_Init on a machine without any; OMPI_MCA_pml=ob1 is the one-node setting.
        ob1 = "env OMPI_MCA_pml=ob1 " + mpi
        sc["ranks"] = workload("scaling -np", [("-np 1 -w 1", mpi % 1), ("-np 2 -w 1", mpi % 2),
                                               ("-np 1 -w 1 pml ob1", ob1 % 1),
                                               ("-np 2 -w 1 pml ob1", ob1 % 2)],
                               scale_in, "-np 2 -w 1", "-np 2 -w 1")
        # Start-up of a plain run on an empty input.
        empty = os.path.join(a.work, "data", "empty")
        os.makedirs(empty, exist_ok=True)
        hf = os.path.join(a.work, "hyperfine.json")
        so = os.path.join(a.work, "out-startup")
        cmd_start = "%s run -i %s -o %s --progress none" % (P, empty, so)
        subprocess.run(["hyperfine", "-N", "--warmup", "5", "--runs", "40", "--prepare",
                        "rm -rf " + so, "--export-json", hf, "--style", "none",
                        cmd_start, "%s --version" % P], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        with open(hf) as f:
            h = json.load(f)["results"]
        sc["startup_ms"] = h[0]["median"] * 1000
        sc["version_ms"] = h[1]["median"] * 1000
        sc["startup_cmd"] = "hyperfine -N --warmup 5 --runs 40 --prepare 'rm -rf OUT' " \
            "'prepix run -i EMPTY -o OUT --progress none'"
        # Rank 0's chunk-request rate: tiny images, one image a chunk, many
        # oversubscribed ranks; with noop workers (scheduling alone) and real ones.
        tiny = [s for s in jpeg_sources(a.corpus) if s.endswith("go-src__video-001.jpeg")]
        tiny_in = make_dataset(a.work, "tiny", tiny or jpeg_sources(a.corpus)[:1], 2000)
        chunk_tools = []
        for np_ in (8, 2):
            c = "mpirun -np %d %s run -i {IN} -o {OUT} --progress none -w 1 --chunk-size 1"
            if a.prepix_hooks:
                chunk_tools.append(("noop -np %d" % np_, "PPX_TEST_FAULT='noop:*' " + c % (
                    np_, shlex.quote(os.path.abspath(a.prepix_hooks)))))
            chunk_tools.append(("real -np %d" % np_, c % (np_, P)))
        sc["chunks"] = workload("chunk requests (2000 tiny images, --chunk-size 1, -w 1)",
                                chunk_tools, tiny_in, None, "-")
        results["scaling"] = {
            "w_ratio": pair_ratio(sc["workers"], "-w 1", "-w 2"),
            "np_ratio": pair_ratio(sc["ranks"], "-np 1 -w 1", "-np 2 -w 1"),
            "w_ratio_cpu": pair_ratio(sc["workers"], "-w 1", "-w 2", "cpu"),
            "floor_ratio": pair_ratio(sc["workers"], "floor -P 1", "floor -P 2"),
            "np_ratio_cpu": pair_ratio(sc["ranks"], "-np 1 -w 1", "-np 2 -w 1", "cpu"),
            "np_ratio_ob1": pair_ratio(sc["ranks"], "-np 1 -w 1 pml ob1", "-np 2 -w 1 pml ob1"),
            "np_ratio_ob1_cpu": pair_ratio(sc["ranks"], "-np 1 -w 1 pml ob1",
                                           "-np 2 -w 1 pml ob1", "cpu"),
            "startup_ms": sc["startup_ms"], "version_ms": sc["version_ms"],
            "startup_cmd": sc["startup_cmd"],
        }
        print("\nscaling: -w1/-w2 %.2fx, -np1/-np2 %.2fx, start-up %.1f ms (--version %.1f ms)"
              % (results["scaling"]["w_ratio"], results["scaling"]["np_ratio"],
                 sc["startup_ms"], sc["version_ms"]))

    if "sched-walk" in only:
        if a.prepix_hooks:
            results["sched-walk"] = bench_sched_walk(a, env)
        else:
            log("sched-walk: skipped (needs --prepix-hooks, a build with PPX_TEST_HOOKS)")

    if "sched" in only:
        if a.prepix_hooks:
            results["sched"] = bench_sched(a, env)
        else:
            log("sched: skipped (needs --prepix-hooks, a build with PPX_TEST_HOOKS)")

    if "memory" in only:
        mem = {}
        names = [n.split("_", 1)[1] for n in list_images(jpeg_in)]
        for name, spec, size, longer in (
                ("thumb224", "autorotate | resize 224 | center-crop 224", 224, False),
                ("big1024", "resize 1024 fit=longer filter=lanczos3", 1024, True)):
            o = os.path.join(a.work, "out-mem")
            shutil.rmtree(o, ignore_errors=True)
            cmd = "%s run -i %s -o %s --progress none -f jpeg -w %d -p %s" % (
                P, shlex.quote(jpeg_in), o, jobs, shlex.quote(spec))
            rank, workers = watch_rss(cmd, a.work, env)
            shutil.rmtree(o, ignore_errors=True)
            # The same images through the floor at prepix's DCT scale: what
            # libjpeg alone needs (a progressive file holds all its
            # coefficients in memory, whatever the output scale).
            fl = run_timed(X + " %s -m 2 %s %d" % (F, "longer" if longer else "shorter", size),
                           jpeg_in, env, a.timeout)
            biggest = max(prepix_scale_bytes(*sizes[n], size, longer)
                          for n in names if n in sizes) / 2**20
            mem[name] = {"rank_mib": rank, "workers_mib": workers, "decoded_mib": biggest,
                         "bound_mib": 1.5 * biggest + 16, "floor_mib": fl["rss_kib"] / 1024.0}
            print("memory %s: rank %.1f MiB, workers %s MiB; largest decoded image %.1f MiB, "
                  "bound %.1f MiB" % (name, rank, ", ".join("%.1f" % w for w in workers),
                                      biggest, 1.5 * biggest + 16))
        results["memory"] = mem

    if "archive" in only:
        results["archive"] = archive_workload(a, P, env, a.runs)
        results["archive"]["commit"] = commit

    if "voc" in only:
        results["voc"] = voc_workload(a, P, env, a.runs, R)
        results["voc"]["commit"] = commit

    # Workloads not run this time keep their last figures (each says when it ran).
    saved = os.path.join(a.work, "results.json")
    if os.path.exists(saved):
        with open(saved) as f:
            old = json.load(f)
        for k, v in old.get("workloads", {}).items():
            results["workloads"].setdefault(k, v)
        for k in ("scaling", "sched", "memory", "archive", "voc"):
            if k in old and k not in results:
                results[k] = old[k]
    with open(saved, "w") as f:
        json.dump(results, f, indent=1)
    blocks = render(results)
    with open(os.path.join(a.work, "results.md"), "w") as f:
        for k, v in blocks.items():
            f.write("<!-- %s -->\n%s\n" % (k, v))
    if a.doc:
        write_doc(a.doc, blocks)
    if a.check:
        bad = [(name, r["tool"]) for name, w in results["workloads"].items() for r in w["rows"]
               if (r["tool"].startswith(("prepix", "-w", "-np", "floor")) and
                   (r["rc"] != 0 or (not r["tool"].startswith(("floor", "prepix stats")) and
                                     r["outputs"] != r["inputs"])))]
        for name, tool in bad:
            log("check failed: %s: %s exited non-zero or missed outputs" % (name, tool))
        return 1 if bad else 0
    return 0


SCHED_LINE = re.compile(
    r"prepix: rank 0 loop: wall ([0-9.]+) s, cpu ([0-9.]+) s, (\d+) turns \((\d+) without "
    r"sleeping\), (\d+) requests served \([0-9]+/s\), (\d+) journal commits; wall/cpu: (.*?)"
    r"; process cpu ([0-9.]+) s")
SCHED_KEYS = ("wall", "cpu", "turns", "spins", "served", "commits")
SCHED_PHASES = ("serve", "wait", "results", "feed", "collect", "journal", "other")


def parse_sched(line_match):
    """The numbers of rank 0's PPX_SCHED_TIMING line: totals, then each phase's wall and CPU."""
    v = dict(zip(SCHED_KEYS, (float(x) for x in line_match.groups()[:6])))
    for name, w, c in re.findall(r"(\w+) ([0-9.]+)/([0-9.]+) s", line_match.group(7)):
        v[name + "_wall"] = float(w)
        v[name + "_cpu"] = float(c)
    v["proc_cpu"] = float(line_match.group(8))
    line = line_match.string[line_match.start():].split("\n", 1)[0]
    an = re.search(r"answering ([0-9.]+) s cpu", line)
    v["answer_cpu"] = float(an.group(1)) if an else 0.0
    c = re.search(r"committer (\d+) batches in ([0-9.]+) s", line)
    v["batches"], v["commit_s"] = (int(c.group(1)), float(c.group(2))) if c else (0, 0.0)
    v["commit_ms"] = 1e3 * v["commit_s"] / v["batches"] if v["batches"] else 0.0
    return v


def sched_tree(indir, n):
    if not os.path.isdir(indir) or len(os.listdir(indir)) != n:
        shutil.rmtree(indir, ignore_errors=True)
        os.makedirs(indir)
        for i in range(n):
            open(os.path.join(indir, "%05d.jpg" % i), "w").close()


# Rank 0 as a server (issue 21): PPX_TEST_SERVE_ONLY=1 keeps it from running chunks itself,
# so all it does is answer the other ranks' requests (and with --transport bytes, write their
# outputs and commit their journal records). Each configuration: (ranks, transport, where
# OUTDIR lies).
SCHED_CONFIGS = [(np_, tr, fs, 1, 4000) for np_ in (8, 16) for tr in ("paths", "bytes")
                 for fs in ("tmpfs", "disk")]
# The cost of a request as chunks grow (answering packs one key an image): -np 8, paths, tmpfs,
# 65,536 images in chunks of 16, 64 and 256.
SCHED_CONFIGS += [(8, "paths", "tmpfs", c, 65536) for c in (16, 64, 256)]


def bench_sched(a, env):
    """Rank 0's service capacity: noop workers (the test hook answers without reading or
    decoding), one image a chunk, -w 1, many requesters (ranks oversubscribed on this
    machine's cores), rank 0 serving only (PPX_TEST_SERVE_ONLY=1). Per run, from rank 0's
    PPX_SCHED_TIMING line: the requests it served per second of its own CPU time (its loop's
    thread; and of its process, the committer thread included) and per second of its loop's
    wall time (demand-limited here: the requesters share 2 cores), and where its loop's CPU
    went. Input and OUTDIR on tmpfs (/dev/shm) or on disk (a.work). Medians over a.runs runs
    after one warm-up."""
    res = {"images": 4000, "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
           "load": [os.getloadavg()[0]], "rows": []}
    hooks = os.path.abspath(a.prepix_hooks)
    e = dict(env, PPX_TEST_FAULT="noop:*", PPX_SCHED_TIMING="1", OMPI_MCA_pml="ob1",
             PPX_TEST_SERVE_ONLY="1")
    shm = tempfile.mkdtemp(prefix="ppx-sched-", dir="/dev/shm")
    try:
        for np_, tr, fs, cs, n in SCHED_CONFIGS:
            base = shm if fs == "tmpfs" else a.work
            indir = os.path.join(base, "data", "sched-empty-%d" % n)
            sched_tree(indir, n)
            out = os.path.join(base, "out", "sched")
            cmd = ["mpirun", "--oversubscribe", "-np", str(np_), hooks, "run", "-i", indir, "-o",
                   out, "--chunk-size", str(cs), "-w", "1", "--progress", "none", "--transport",
                   tr]
            runs = []
            for r in range(a.runs + 1):
                shutil.rmtree(out, ignore_errors=True)
                p = subprocess.run(cmd, env=e, capture_output=True, text=True,
                                   timeout=a.timeout)
                m = SCHED_LINE.search(p.stderr)
                if p.returncode != 0 or not m:
                    log("sched -np %d %s %s: exit %d, %s" % (np_, tr, fs, p.returncode,
                                                            p.stderr[-500:]))
                    continue
                v = parse_sched(m)
                v["per_cpu"] = v["served"] / v["cpu"] if v["cpu"] > 0 else 0.0
                v["per_proc_cpu"] = v["served"] / v["proc_cpu"] if v["proc_cpu"] > 0 else 0.0
                v["per_wall"] = v["served"] / v["wall"] if v["wall"] > 0 else 0.0
                v["serve_us"] = 1e6 * v.get("serve_cpu", 0) / v["served"] if v["served"] else 0
                v["answer_us"] = 1e6 * v["answer_cpu"] / v["served"] if v["served"] else 0
                log("  sched -np %d %s %s round %d/%d  served %d: %6.0f/s of rank 0's CPU, "
                    "%6.0f/s of its wall" % (np_, tr, fs, r, a.runs, v["served"], v["per_cpu"],
                                            v["per_wall"]))
                if r > 0:
                    runs.append(v)
            shutil.rmtree(out, ignore_errors=True)
            if not runs:
                continue
            row = {"np": np_, "transport": tr, "fs": fs, "chunk": cs, "images": n,
                   "runs": len(runs),
                   "command": "PPX_TEST_FAULT='noop:*' PPX_SCHED_TIMING=1 PPX_TEST_SERVE_ONLY=1 "
                   "OMPI_MCA_pml=ob1 " + " ".join(shlex.quote(c) for c in cmd)
                   .replace(hooks, "prepix").replace(indir, "IN").replace(out, "OUT"),
                   "per_cpu_all": [x["per_cpu"] for x in runs]}
            keys = SCHED_KEYS + ("proc_cpu", "per_cpu", "per_proc_cpu", "per_wall",
                                 "serve_us", "answer_us", "batches", "commit_s", "commit_ms") + tuple("%s_%s" % (p, k) for p in SCHED_PHASES
                                                     for k in ("wall", "cpu"))
            for k in keys:
                row[k] = statistics.median(x.get(k, 0.0) for x in runs)
            res["rows"].append(row)
            print("sched -np %d %s %s chunks of %d: rank 0 served %.0f requests/s of its CPU "
                  "time (%.0f of its process's), %.0f/s of its wall time; %.1f us CPU a request "
                  "in serving, %.2f answering" %
                  (np_, tr, fs, cs, row["per_cpu"], row["per_proc_cpu"], row["per_wall"],
                   row["serve_us"], row["answer_us"]))
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    res["load"].append(os.getloadavg()[0])
    return res


def walk_tree(root, n):
    """n empty .jpg in folders of 1000 (d0000/000000.jpg ...), made once and kept."""
    mark = os.path.join(root, ".complete")
    if os.path.exists(mark):
        return
    shutil.rmtree(root, ignore_errors=True)
    for i in range(n):
        d = os.path.join(root, "d%04d" % (i // 1000))
        if i % 1000 == 0:
            os.makedirs(d)
        open(os.path.join(d, "%06d.jpg" % i), "w").close()
    open(mark, "w").close()


def first_record_s(cmd, env, out, timeout):
    """Seconds from the start of cmd until its first journal record is on disk (the first
    finished image, durable), watched every millisecond; the run is then killed."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    jdir = os.path.join(out, ".prepix")
    found = None
    while found is None and p.poll() is None and time.monotonic() - t0 < timeout:
        try:
            if any(f.startswith("journal-") and os.path.getsize(os.path.join(jdir, f)) > 0
                   for f in os.listdir(jdir)):
                found = time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.001)
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    return found


def bench_sched_walk(a, env):
    """Time to the first finished image (its journal record on disk) on trees of 10^4, 10^5
    and 10^6 empty .jpg, noop workers, -np 1 -w 1: how long the whole job idles while rank 0
    lists the input (issue 21 item 5). Each round runs, one after the other: this prepix with
    the automatic chunk size (streamed once the size is sure: 8,160 entries for one worker),
    the same with --chunk-size 16, the same into tar shards of 16 (streamed too since shard
    labels are known as the walk goes), and, with --prepix-ref (a build with the test hook,
    e.g. main's, which lists first), that binary. Medians of a.runs rounds."""
    hooks = os.path.abspath(a.prepix_hooks)
    e = dict(env, PPX_TEST_FAULT="noop:*")
    res = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
           "load": [os.getloadavg()[0]], "rows": [], "ref": bool(a.prepix_ref)}
    kinds = [("auto", hooks, []), ("cs16", hooks, ["--chunk-size", "16"]),
             ("tar16", hooks, ["-f", "tar", "--shard-size", "16"])]
    if a.prepix_ref:
        kinds.append(("ref", os.path.abspath(a.prepix_ref), []))
    for n in (10 ** 4, 10 ** 5, 10 ** 6):
        root = os.path.join(a.work, "data", "sched-walk-%d" % n)
        t = time.monotonic()
        walk_tree(root, n)
        log("  sched-walk: tree of %d ready (%.0f s)" % (n, time.monotonic() - t))
        out = os.path.join(a.work, "out", "sched-walk")
        got = {k: [] for k, _, _ in kinds}
        cmds = {}
        for r in range(a.runs):
            for k, binary, extra in kinds:
                cmd = [binary, "run", "-i", root, "-o", out, "-w", "1", "--progress", "none"] + extra
                cmds[k] = cmd
                shutil.rmtree(out, ignore_errors=True)
                s_ = first_record_s(cmd, e, out, a.timeout)
                log("  sched-walk %d round %d/%d %s: first image after %s s" %
                    (n, r + 1, a.runs, k, "%.3f" % s_ if s_ is not None else "never"))
                if s_ is not None:
                    got[k].append(s_)
        shutil.rmtree(out, ignore_errors=True)
        row = {"entries": n}
        for k, binary, _ in kinds:
            if got[k]:
                row[k] = {"first_s": statistics.median(got[k]), "all": got[k],
                          "command": "PPX_TEST_FAULT='noop:*' " + " ".join(cmds[k])
                          .replace(binary, "prepix").replace(root, "TREE").replace(out, "OUT")}
                print("sched-walk %d entries, %s: first finished image after %.3f s" %
                      (n, k, row[k]["first_s"]))
        res["rows"].append(row)
    res["load"].append(os.getloadavg()[0])
    return res


def render_sched_walk(s):
    names = [("auto", "streamed, automatic chunk size"), ("cs16", "streamed, `--chunk-size 16`"),
             ("tar16", "streamed, `-f tar --shard-size 16`")]
    if s.get("ref"):
        names.append(("ref", "main (lists first)"))
    txt = ("Time to the first finished image (its journal record on disk, watched every ms) on "
           "trees of empty `.jpg` in folders of 1000, noop workers, `-np 1 -w 1`, measured %s; "
           "load average (1 min) at start and end: %.1f, %.1f. Medians of the rounds (each "
           "round runs every binary once, in turn); wall seconds.\n\n"
           % (s["date"], s["load"][0], s["load"][-1]))
    txt += "| entries | " + " | ".join(t for _, t in names) + " | runs, s |\n"
    txt += "|---:|" + "---:|" * len(names) + "---|\n"
    for r in s["rows"]:
        cells = ["%.3f" % r[k]["first_s"] if k in r else "-" for k, _ in names]
        runs = "; ".join("%s: %s" % (k, ", ".join("%.3f" % x for x in r[k]["all"]))
                         for k, _ in names if k in r)
        txt += "| %d | %s | %s |\n" % (r["entries"], " | ".join(cells), runs)
    if s["rows"]:
        for k, _ in names:
            if k in s["rows"][0]:
                txt += "\n    " + s["rows"][0][k]["command"] + "\n"
    return txt + "\n"


def render_sched(s):
    txt = ("Rank 0 as a server (%d empty `.jpg`, noop workers, `--chunk-size 1` unless the row "
           "says otherwise, `-w 1`, "
           "`mpirun --oversubscribe`, `OMPI_MCA_pml=ob1`, rank 0 running no chunk itself: "
           "`PPX_TEST_SERVE_ONLY=1`), measured %s; load average (1 min) at start and end: "
           "%.1f, %.1f. Medians of the counted runs. *served/CPU s*: requests rank 0 answered "
           "per second of its loop thread's CPU time (*process*: of its whole process's, the "
           "journal's committer thread included); *served/wall s*: per second of its loop's "
           "wall time, which here is limited by demand (the requesters share 2 cores); "
           "*serve us*: CPU microseconds a request in the serve phase (taking a request, "
           "packing and sending the answer; with bytes, storing results; and the looks at an "
           "empty queue between requests); *answer us*: of answering alone (receiving the "
           "request, packing the chunk's keys, posting the send); then rank 0's loop "
           "from `PPX_SCHED_TIMING=1`, wall and CPU seconds in each phase (*wait*: in "
           "`poll()`/`sched_yield()`; *journal*: handing records to the committer thread); "
           "*batches*: the committer thread's grouped commits (`syncfs` of OUTDIR, then one "
           "write and `fdatasync` of the records) and the wall ms each took, off the "
           "serving path.\n\n"
           % (s["images"], s["date"], s["load"][0], s["load"][-1]))
    txt += ("| -np | transport | OUTDIR | chunk (images) | served/CPU s (process) | "
            "served/wall s | serve us | answer us | loop wall / CPU s | " +
            " | ".join(SCHED_PHASES) + " | batches (ms each) |\n")
    txt += "|---:|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(SCHED_PHASES) + "---:|\n"
    for r in s["rows"]:
        txt += "| %d | %s | %s | %d (%d) | %.0f (%.0f) | %.0f | %.1f | %.2f | %.3f / %.3f | " % (
            r["np"], r["transport"], r["fs"], r.get("chunk", 1), r.get("images", s["images"]),
            r["per_cpu"], r["per_proc_cpu"], r["per_wall"], r["serve_us"],
            r.get("answer_us", 0), r["wall"], r["cpu"])
        txt += " | ".join("%.3f / %.3f" % (r.get(p + "_wall", 0), r.get(p + "_cpu", 0))
                          for p in SCHED_PHASES)
        txt += (" | %.0f (%.1f) |\n" % (r["batches"], r["commit_ms"]) if "batches" in r
                else " | not measured |\n")
    if s["rows"]:
        txt += "\n    " + s["rows"][0]["command"] + "\n"
    return txt + "\n"


def render(res):
    """Markdown blocks for docs/benchmarks.md, one per workload kind."""
    head = ("Measured %s on %s; prepix %s; %d counted runs after one warm-up, tools "
            "alternating round-robin; %d processes for every tool. Times are medians; "
            "ratios are medians of the per-round ratios; CPU = user + sys of the whole "
            "process tree.\n\n" % (res["date"], res["machine"], res["commit"], res["runs"],
                                   res["jobs"]))
    ver = "Peers: " + "; ".join("%s" % v for v in res["versions"].values()) + ".\n\n"
    blocks = {}
    wl = res["workloads"]
    def section(name):
        w = wl[name]
        rows = w["rows"]
        txt = "### %s (%d images)\n\n" % (name, w["images"])
        txt += fmt_table(rows, w["ref"] != "-", w["ref"]) + "\n"
        txt += "Run at %s (prepix %s); load average (1 min) at start and end: %.1f, %.1f.\n\n" % (
            w.get("date", "?"), w.get("commit", res["commit"]), w["load"][0], w["load"][1])
        txt += targets(name, rows)
        errs = [(r["tool"], r["errors"]) for r in rows if r["errors"]]
        if errs:
            txt += "Failures (last lines of stderr):\n\n"
            for t, e in errs:
                txt += "    %s: %s\n" % (t, " / ".join(e)[:400].replace(
                    os.path.dirname(HERE) + "/", ""))
            txt += "\n"
        return txt + fmt_commands(rows, w["input"])

    # Each block holds workloads that run together, so that `--only` on a fresh work folder
    # (no results.json of earlier runs) rewrites no block whose workloads it did not run.
    for block, names in (("thumb224", ("thumb224",)),
                         ("peers", ("big1024", "tiff-half", "stats")),
                         ("thumb224-kinds", ("thumb224 baseline", "thumb224 progressive")),
                         ("imagenet", ("imagenet", "imagenet tar"))):
        # A block is rewritten when one of its workloads ran this time (its header's date is
        # this run's); "ran" is absent from results saved before it existed (--render).
        ran = res.get("ran", list(wl))
        txt = "".join(section(n) for n in names if n in wl)
        if txt and any(n in ran for n in names):
            blocks[block] = head + ver + txt
    if "webp224" in wl:
        # A block of its own, so that `--only webp224` leaves the other workloads' block alone.
        w = wl["webp224"]
        txt = head + ver + "### webp224 (%d images)\n\n" % w["images"]
        txt += fmt_table(w["rows"], True, w["ref"]) + "\n"
        txt += "Run at %s (prepix %s); load average (1 min) at start and end: %.1f, %.1f.\n\n" % (
            w.get("date", "?"), w.get("commit", res["commit"]), w["load"][0], w["load"][1])
        txt += targets("webp224", w["rows"])
        errs = [(r["tool"], r["errors"]) for r in w["rows"] if r["errors"]]
        if errs:
            txt += "Failures (last lines of stderr):\n\n"
            for t, e in errs:
                txt += "    %s: %s\n" % (t, " / ".join(e)[:400].replace(
                    os.path.dirname(HERE) + "/", ""))
            txt += "\n"
        blocks["webp"] = txt + fmt_commands(w["rows"], w["input"])
    if "scaling" in res:
        s = res["scaling"]
        txt = head
        for name in ("scaling -w", "scaling -np"):
            txt += "### %s (%d images, thumb224)\n\n" % (name, wl[name]["images"])
            txt += fmt_table(wl[name]["rows"], True, wl[name]["ref"]) + "\n"
            txt += "Run at %s; load average (1 min) at start and end: %.1f, %.1f.\n\n" % (
                wl[name].get("date", "?"), wl[name]["load"][0], wl[name]["load"][1])
            txt += fmt_commands(wl[name]["rows"], "")
        txt += "| target | measured (wall) | measured (CPU) | met |\n|---|---:|---:|---|\n"
        txt += "| -w 1 / -w 2 >= 1.85 | %.2f | %.2f | %s |\n" % (
            s["w_ratio"], s["w_ratio_cpu"], "yes" if s["w_ratio"] >= 1.85 else "no")
        txt += "| -np 1 / -np 2 (-w 1) >= 1.8 | %.2f | %.2f | %s |\n" % (
            s["np_ratio"], s["np_ratio_cpu"], "yes" if s["np_ratio"] >= 1.8 else "no")
        if "np_ratio_ob1" in s:
            txt += "| -np 1 / -np 2 (-w 1), `OMPI_MCA_pml=ob1` >= 1.8 | %.2f | %.2f | %s |\n" % (
                s["np_ratio_ob1"], s["np_ratio_ob1_cpu"],
                "yes" if s["np_ratio_ob1"] >= 1.8 else "no")
        txt += "| plain `prepix run` start-up < 50 ms | %.1f ms | - | %s |\n\n" % (
            s["startup_ms"], "yes" if s["startup_ms"] < 50 else "no")
        if "floor_ratio" in s:
            txt += ("The machine's own scaling, the decode floor at -P 1 / -P 2 in the same "
                    "rounds: %.2fx.\n\n" % s["floor_ratio"])
        txt += "Start-up: `%s` (median); `prepix --version` alone: %.1f ms.\n\n" % (
            s["startup_cmd"], s["version_ms"])
        name = "chunk requests (2000 tiny images, --chunk-size 1, -w 1)"
        if name in wl:
            txt += "### Rank 0's chunk-request rate (2000 copies of a 150x103 JPEG, "
            txt += "`--chunk-size 1`, `-w 1`, oversubscribed)\n\n"
            txt += "| ranks, workers | median wall s | chunks (= images) / s | CPU s |\n"
            txt += "|---|---:|---:|---:|\n"
            for r in wl[name]["rows"]:
                txt += "| %s | %.2f | %.0f | %.2f |\n" % (r["tool"], r["wall"],
                                                         r["inputs"] / r["wall"], r["cpu"])
            txt += "\n" + fmt_commands(wl[name]["rows"], "")
        blocks["scaling"] = txt
    if "archive" in res:
        blocks["archive"] = render_archive(res["archive"], res)
    if "voc" in res:
        blocks["voc"] = render_voc(res["voc"], res)
    if "sched" in res:
        blocks["sched"] = render_sched(res["sched"])
    if "sched-walk" in res:
        blocks["sched-walk"] = render_sched_walk(res["sched-walk"])
    if "memory" in res:
        txt = "| workload | rank MiB | workers MiB (peak VmHWM) | largest image at prepix's " \
              "DCT scale MiB | bound 1.5x + 16 MiB | met | floor at prepix's scale, largest " \
              "process MiB |\n|---|---:|---|---:|---:|---|---:|\n"
        for name, m in res["memory"].items():
            worst = max(m["workers_mib"], default=0)
            txt += "| %s | %.1f | %s | %.1f | %.1f | %s | %.1f |\n" % (
                name, m["rank_mib"], ", ".join("%.1f" % w for w in m["workers_mib"]),
                m["decoded_mib"], m["bound_mib"], "yes" if worst <= m["bound_mib"] else "no",
                m["floor_mib"])
        blocks["memory"] = txt + "\n"
    return blocks


def targets(name, rows):
    by = {r["tool"]: r for r in rows}

    def ratio(tool, peer, key):
        p, q = by.get(tool), by.get(peer)
        if not p or not q:
            return None
        return statistics.median(x / y for x, y in zip(p[key + "s"], q[key + "s"]))

    checks = []
    if name == "thumb224":
        checks = [("prepix", "floor", 1.05), ("prepix", "vipsthumbnail", 0.45),
                  ("prepix", "Pillow+draft", 1.0)]
    elif name == "big1024":
        checks = [("prepix", "vipsthumbnail", 0.7), ("prepix", "Pillow+draft", 0.6),
                  ("prepix draft=fast", "Pillow+draft", 0.6)]
    elif name == "webp224":
        checks = [("prepix", "Pillow", 0.8)]
    elif name in ("imagenet", "imagenet tar"):
        checks = [("prepix", "Pillow", 0.45), ("prepix", "OpenCV", 0.45)]
    if "prepix ref" in by and "prepix" in by:
        checks.append(("prepix", "prepix ref", None))
    s = ""
    for tool, peer, bound in checks:
        w, c = ratio(tool, peer, "wall"), ratio(tool, peer, "cpu")
        if w is None:
            continue
        if bound is None:  # a comparison, not a target
            s += "| %s / %s (no target) | %.2f | %.2f | - |\n" % (tool, peer, w, c)
            continue
        s += "| %s <= %.2fx %s | %.2f | %.2f | %s |\n" % (
            tool, bound, peer, w, c, "yes" if w <= bound else "no, by %.0f%%" % (100 * (w / bound - 1)))
    if not s:
        return ""
    return "| target | prepix / peer (wall) | (CPU) | met |\n|---|---:|---:|---|\n" + s + "\n"


def write_doc(path, blocks):
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    for name, text in blocks.items():
        new = replace_block(doc, name, text)
        if new is None:
            log("%s: no <!-- bench:%s --> block; not updated" % (path, name))
            continue
        doc = new
    with open(path, "w", encoding="utf-8") as f:
        f.write(doc)
    log("updated " + path)


if __name__ == "__main__":
    sys.exit(main())

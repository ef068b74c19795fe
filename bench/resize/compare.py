"""Runs bench_resize, Pillow and vips on the same images and sizes; prints
a markdown table of source megapixels per second (median of --runs runs).

Called by bench/resize/run.sh. All three run on one thread (prepix
parallelises across images with worker processes, so one resize on one core
is the figure that matters; vips gets VIPS_CONCURRENCY=1). Times are CPU
time, not wall time, so that other jobs on a shared machine disturb them
less: bench_resize measures its own process, Pillow's resize is timed with
time.process_time(), and vips' with the rusage (user + system) of
`vips resize` on the image minus that of the same command on an 8x8 image
(process start-up); the images are in /dev/shm (vips' .v format, mapped, so
reading them costs page faults only) and the output .v is written there."""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from PIL import Image

PHOTOS = [
    "jpeg/python3-sklearn__china.jpg",  # 640x427
    "jpeg/desktop-base__fullscreenpreview.jpg",  # 1920x1080
    "jpeg/lomiri-16.04__Bridge_by_Sander_Klootwijk.jpg",  # 4352x2448
]
FILTERS = ["nearest", "bilinear", "bicubic", "lanczos3"]
PIL_FILTERS = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
               "bicubic": Image.Resampling.BICUBIC, "lanczos3": Image.Resampling.LANCZOS}
VIPS_KERNELS = {"nearest": "nearest", "bilinear": "linear", "bicubic": "cubic",
                "lanczos3": "lanczos3"}


def targets(w, h):
    """torchvision Resize(256), a 2x reduction, and a 1.5x enlargement."""
    short, long = (w, h) if w <= h else (h, w)
    s = (256, int(256 * long / short))
    t256 = s if w <= h else (s[1], s[0])
    return [("resize 256", t256), ("half", (w // 2, h // 2)),
            ("1.5x", (w * 3 // 2, h * 3 // 2))]


def median_cpu(fn, runs):
    fn()  # warm-up
    ts = []
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        ts.append(time.process_time() - t0)
    return statistics.median(ts)


def child_cpu(cmd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def vips_cpu(src, tiny, dst, w, h, ow, oh, kernel, runs):
    env = dict(os.environ, VIPS_CONCURRENCY="1")

    def cmd(image):
        return ["vips", "resize", image, dst, "%.10f" % (ow / w), "--vscale",
                "%.10f" % (oh / h), "--kernel", kernel]

    child_cpu(cmd(src), env)
    t = statistics.median(child_cpu(cmd(src), env) for _ in range(runs))
    base = statistics.median(child_cpu(cmd(tiny), env) for _ in range(runs))
    return t - base


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--bench", required=True)
    a = ap.parse_args()
    if a.runs < 5:
        sys.exit("use at least 5 runs")
    rows = []
    load0 = os.getloadavg()[0]
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="ppx-bench-", dir=shm) as tmp:
        tiny = os.path.join(tmp, "tiny.v")
        Image.new("RGB", (8, 8), (90, 120, 30)).save(os.path.join(tmp, "tiny.ppm"))
        subprocess.run(["vips", "copy", os.path.join(tmp, "tiny.ppm"), tiny], check=True)
        args, jobs = [], []
        for rel in PHOTOS:
            im = Image.open(os.path.join(a.corpus, rel)).convert("RGB")
            base = os.path.basename(rel).split("__")[-1].rsplit(".", 1)[0]
            ppm = os.path.join(tmp, base + ".ppm")
            im.save(ppm)
            v = os.path.join(tmp, base + ".v")
            subprocess.run(["vips", "copy", ppm, v], check=True)
            for label, (ow, oh) in targets(*im.size):
                args.append("%s:%dx%d" % (ppm, ow, oh))
                jobs.append((base, im, v, label, ow, oh))
        out = subprocess.run([a.bench, "--runs", str(a.runs), "--cold", *args],
                             capture_output=True, text=True, check=True).stdout
        ours = {}
        for line in out.strip().split("\n")[1:]:
            f = line.split()
            ours[(f[0], f[2], f[3])] = float(f[4]) / 1e3
        for base, im, v, label, ow, oh in jobs:
            w, h = im.size
            mp = w * h / 1e6
            for filt in FILTERS:
                t_ours = ours[((base + ".ppm")[:28], "%dx%d" % (ow, oh), filt)]
                t_pil = median_cpu(lambda: im.resize((ow, oh), PIL_FILTERS[filt]), a.runs)
                t_vips = vips_cpu(v, tiny, os.path.join(tmp, "out.v"), w, h, ow, oh,
                                  VIPS_KERNELS[filt], a.runs)
                rows.append((base, "%dx%d" % (w, h), label, "%dx%d" % (ow, oh), filt,
                             mp / t_ours, mp / t_pil, mp / t_vips if t_vips > 0 else 0.0,
                             t_pil / t_ours))
    model = [l for l in open("/proc/cpuinfo") if l.startswith("model name")][0].split(":")[1]
    print("CPU %s, %d CPUs; %s; median of %d runs, CPU time; load average %.1f -> %.1f" % (
        model.strip(), os.cpu_count(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        a.runs, load0, os.getloadavg()[0]))
    print("Pillow %s, %s" % (Image.__version__, subprocess.run(
        ["vips", "--version"], capture_output=True, text=True).stdout.strip()))
    print()
    print("| image | source | target | output | filter | prepix MP/s | Pillow MP/s | "
          "vips MP/s | prepix / Pillow |")
    print("|---|---|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        print("| %s | %s | %s | %s | %s | %.0f | %.0f | %.0f | %.1fx |" % r)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Cost of fingerprints (issue 24): thumb224 with --duplicates on against off, alternating,
one warm-up pair then ROUNDS rounds; prints median wall and CPU (user + sys of the process
tree) and the per-round CPU ratios.

    bench/dedup/cost.py PREPIX INPUT_DIR [ROUNDS]
"""
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

prepix, inp = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 7
work = tempfile.mkdtemp(prefix="ppx-dedup-cost-")


def one(mode):
    out = os.path.join(work, mode)
    shutil.rmtree(out, ignore_errors=True)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = os.times().elapsed
    subprocess.run([prepix, "run", "-i", inp, "-o", out, "--progress", "none", "-p",
                    "autorotate | resize 224 | center-crop 224", "-f", "jpeg", "-q", "90",
                    "-w", "2", "--duplicates", mode], check=True, stderr=subprocess.DEVNULL)
    t1 = os.times().elapsed
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return t1 - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


one("on")
one("off")
res = {"on": [], "off": []}
for _ in range(rounds):
    res["off"].append(one("off"))
    res["on"].append(one("on"))
for m in ("off", "on"):
    print("%s: median wall %.3f s, median CPU %.3f s" % (
        m, statistics.median(x[0] for x in res[m]), statistics.median(x[1] for x in res[m])))
cpu = [b[1] / a[1] for a, b in zip(res["off"], res["on"])]
wall = [b[0] / a[0] for a, b in zip(res["off"], res["on"])]
print("on/off: CPU median %.3f (%s), wall median %.3f; load %s" % (
    statistics.median(cpu), ", ".join("%.3f" % r for r in cpu), statistics.median(wall),
    os.getloadavg()))
shutil.rmtree(work, ignore_errors=True)

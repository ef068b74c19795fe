#!/usr/bin/python3
"""Stage shares of prepix from callgrind files (bench/profile).

    profile_summary.py callgrind.out.PID ...

For each file (one per process: the rank and its worker) it prints the
process total, then, for the worker, the inclusive instruction counts of the
stages of ppx_job_run, and inside decode and encode the libjpeg-turbo parts
(self cost of the functions, grouped by name).
"""
import re
import subprocess
import sys

# Inclusive cost of these functions makes the stages (names as in src/ and libjpeg's API:
# Debian's libjpeg-turbo is stripped, so its internals show only as addresses).
STAGES = [
    ("read file", ("ppx_file_read",)),
    ("inspect header", ("ppx_codec_inspect",)),
    ("decode", ("ppx_codec_decode",)),
    ("  jpeg_start_decompress (progressive: all scans, entropy decoding)",
     ("jpeg_start_decompress",)),
    ("  jpeg_read_scanlines (IDCT, upsampling, colour; baseline: entropy too)",
     ("jpeg_read_scanlines",)),
    ("  jpeg_finish_decompress", ("jpeg_finish_decompress",)),
    ("autorotate", ("ppx_op_autorotate",)),
    ("resize", ("ppx_op_resize", "ppx_op_resize_window")),
    ("  horizontal pass", ("hpass_u8_avx2", "hpass_u8.avx2", "hpass_u8.default", "hpass_u8")),
    ("  vertical pass", ("vpass_u8_avx2", "vpass_u8.avx2", "vpass_u8.default", "vpass_u8")),
    ("  coefficient tables", ("ppx__resizer_axis", "axis_prepare")),
    ("center-crop", ("ppx_op_center_crop",)),
    ("statistics", ("ppx_img_stats_compute",)),
    ("encode", ("ppx_codec_encode",)),
    ("  jpeg_write_scanlines", ("jpeg_write_scanlines",)),
    ("  jpeg_finish_compress", ("jpeg_finish_compress",)),
    ("write file", ("ppx_file_write_atomic",)),
]

def annotate(path, inclusive, objects=False):
    """Cost per function (or per object file with OBJECTS) from callgrind_annotate."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=" + ("yes" if inclusive else "no"),
                          "--threshold=100", path], capture_output=True, text=True,
                         check=True).stdout
    total = None
    costs = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(?:\S*:)?(\S+?)(?: \[(.*)\])?\s*$", line)
        if m:
            n = int(m.group(1).replace(",", ""))
            fn = (m.group(3) or "?") if objects else m.group(2)
            costs[fn] = costs.get(fn, 0) + n
            continue
        m = re.match(r"\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", line)
        if m:
            total = int(m.group(1).replace(",", ""))
    return total, costs


def main():
    files = sys.argv[1:]
    procs = []
    for f in files:
        total, inc = annotate(f, True)
        procs.append((f, total or 0, inc))
    worker = max((p for p in procs if "ppx_job_run" in p[2]), key=lambda p: p[2]["ppx_job_run"],
                 default=None)
    grand = sum(p[1] for p in procs)
    print("processes: %d; instructions: %s in all" % (len(procs), "{:,}".format(grand)))
    for f, total, inc in procs:
        role = "worker" if worker and f == worker[0] else "rank/other"
        print("  %-10s %s: %s (%.1f%%)" % (role, f.rsplit("/", 1)[-1], "{:,}".format(total),
                                          100.0 * total / grand if grand else 0))
    if not worker:
        return 0
    f, total, inc = worker
    job = inc["ppx_job_run"]
    print("\nworker stages (inclusive; %% of ppx_job_run = %s, which is %.1f%% of the worker):"
          % ("{:,}".format(job), 100.0 * job / total))
    for name, fns in STAGES:
        n = sum(inc.get(fn, 0) for fn in fns)
        print("  %-72s %15s  %5.1f%%" % (name, "{:,}".format(n), 100.0 * n / job))
    _, self_costs = annotate(f, False, objects=True)
    print("\nworker by object (self cost):")
    objs = {}
    for fn, n in self_costs.items():
        o = fn.rsplit("/", 1)[-1]
        objs[o] = objs.get(o, 0) + n
    for o, n in sorted(objs.items(), key=lambda kv: -kv[1])[:6]:
        print("  %-45s %15s  %5.1f%%" % (o, "{:,}".format(n), 100.0 * n / total))
    return 0


if __name__ == "__main__":
    sys.exit(main())

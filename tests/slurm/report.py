"""Checks on prepix-report.json for the slurm tests (DESIGN.md section 5).

    report.py same A B        exit 1, naming the keys, unless A and B agree on everything that
                              must not depend on ranks, workers or interruptions
    report.py get A KEY.PATH  print one value (per_rank.0.host, images.ok, ...)
    report.py hosts A         print the distinct per_rank hosts, one a line
"""
import json
import sys

# Keys that DESIGN.md promises identical for any -np and -w and after --resume.
SAME_KEYS = ("images", "channel_stats", "input_sizes", "failures")


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def get(obj, path):
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def main(argv):
    cmd = argv[1]
    if cmd == "same":
        a, b = load(argv[2]), load(argv[3])
        bad = [k for k in SAME_KEYS if a.get(k) != b.get(k)]
        if "bytes" in a and "bytes" in b and a["bytes"].get("written") != b["bytes"].get("written"):
            bad.append("bytes.written")
        for k in bad:
            print(f"report key {k} differs:\n  {argv[2]}: {json.dumps(a.get(k))[:300]}\n"
                  f"  {argv[3]}: {json.dumps(b.get(k))[:300]}")
        return 1 if bad else 0
    if cmd == "get":
        print(get(load(argv[2]), argv[3]))
        return 0
    if cmd == "hosts":
        for h in sorted({r["host"] for r in load(argv[2])["per_rank"]}):
            print(h)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""prepix run on one rank: outputs, failures, isolation, determinism, signals."""
import json
import os
import re
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
import tarcraft as tc  # noqa: E402
from lib import (PREPIX, SAMPLES, check, comparable, corpus, finish, inspect,  # noqa: E402
                 main, manifest, report, run, spawn, tmpdir, tree, wait_stderr)

PIPE = "autorotate | resize 96 | center-crop 80"


def outputs(outdir):
    return sorted(k for k in tree(outdir))


def e2e_corpus():
    """Every valid corpus file gives an output of the expected size; counts match."""
    c = corpus()
    rows = manifest()
    t = tmpdir()
    valid = [p for p, r in rows.items()
             if p.split("/")[0] in ("jpeg", "jpeg-variants", "tiff", "png")
             and r["expected_behaviour"].startswith("decode OK") and not p.startswith("bad/")]
    listfile = os.path.join(t, "list.txt")
    with open(listfile, "w") as f:
        for p in sorted(valid):
            f.write(os.path.join(c, p) + "\n")
    out = os.path.join(t, "out")
    p = run(["run", "-i", "@" + listfile, "-o", out, "-p", PIPE, "-f", "png", "--progress",
             "none"])
    rep = report(out)
    failed = {f["path"]: f for f in rep["failures"]}
    # "decode OK (or clean unsupported)" files may fail only as unsupported.
    for f in rep["failures"]:
        rel = os.path.relpath(f["path"], c)
        exp = rows[rel]["expected_behaviour"]
        check("unsupported" in exp and f["code"] == "EUNSUPPORTED",
              f"{rel} failed: {f} (expected: {exp})")
    check(p.returncode == (3 if failed else 0), f"exit {p.returncode}")
    check(rep["images"]["total"] == len(valid), rep["images"])
    check(rep["images"]["ok"] + rep["images"]["failed"] == len(valid), rep["images"])
    outs = [os.path.join(out, k) for k in outputs(out)]
    check(len(outs) == rep["images"]["ok"], f"{len(outs)} outputs, {rep['images']['ok']} ok")
    for info in inspect(outs):
        check(info.get("width") == 80 and info.get("height") == 80, info)


def bad_files():
    """Hostile files and special files: one failure each, the rest processed, exit 3."""
    c = corpus()
    rows = manifest()
    t = tmpdir()
    inp = os.path.join(t, "in")
    shutil.copytree(os.path.join(c, "bad"), os.path.join(inp, "bad"))
    shutil.copytree(SAMPLES, os.path.join(inp, "good"))
    os.mkfifo(os.path.join(inp, "fifo.jpg"))
    os.symlink("/dev/zero", os.path.join(inp, "zero.png"))
    os.symlink("loop2.tif", os.path.join(inp, "loop1.tif"))
    os.symlink("loop1.tif", os.path.join(inp, "loop2.tif"))
    os.mkdir(os.path.join(inp, "folder.jpg"))
    out = os.path.join(t, "out")
    # -f same: the fuzz seeds hold x.jpg, x.png and x.tiff, which one output format would merge.
    # --follow-symlinks (off for root by default): a device reached through a link is still
    # refused by its type, before any read.
    p = run(["run", "-i", inp, "-o", out, "--progress", "none", "--timeout", "30",
             "--follow-symlinks"], timeout=600)
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr[-2000:]}")
    rep = report(out)
    fails = {os.path.relpath(f["path"], inp): f for f in rep["failures"]}
    for f in rep["failures"]:
        check(f["stage"] and f["error"] and f["code"], f)
    for special, code in (("fifo.jpg", "ESPECIAL"), ("zero.png", "ESPECIAL"),
                          ("loop1.tif", "ELOOP"), ("loop2.tif", "ELOOP"),
                          ("folder.jpg", "ESPECIAL")):
        check(special in fails and fails[special]["stage"] == "input"
              and fails[special]["code"] == code, f"{special}: {fails.get(special)}")
    expect_ok = 0
    for rel, r in rows.items():
        if not rel.startswith("bad/"):
            continue
        if not rel.lower().endswith((".jpg", ".jpeg", ".png", ".tif", ".tiff")):
            check(rel not in fails, f"{rel} is not named like an image: skipped, not failed")
            continue
        exp = r["expected_behaviour"]
        if exp.startswith("decode OK"):
            expect_ok += 1
            check(rel not in fails, f"{rel} should decode: {fails.get(rel)}")
        elif exp.startswith("reject") and "decode partially" not in exp and "by magic" not in exp:
            check(rel in fails, f"{rel} should fail")
    done = set(outputs(out))
    for rel in fails:
        stem = os.path.splitext(rel)[0]
        check(not any(os.path.splitext(o)[0] == stem for o in done), f"output for failed {rel}")
    good = [f for f in os.listdir(os.path.join(inp, "good"))]
    check(rep["images"]["ok"] >= expect_ok + len(os.listdir(SAMPLES)) - 0, rep["images"])
    check(len(good) > 0, "samples")
    check(rep["images"]["failed"] == len(fails), "one failure entry per failed image")


def crash_hang():
    """A worker crash and a hang cost exactly their image."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=18)
    out = os.path.join(t, "out")
    env = {"PPX_TEST_FAULT": "crash:img0003.png,hang:img0007.jpg"}
    p = run(["run", "-i", inp, "-o", out, "-p", PIPE, "-w", "2", "--timeout", "3",
             "--progress", "none"], env=env)
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    rep = report(out)
    fails = {os.path.basename(f["path"]): f for f in rep["failures"]}
    check(set(fails) == {"img0003.png", "img0007.jpg"}, fails)
    check(fails["img0003.png"]["stage"] == "worker" and "SIGSEGV" in fails["img0003.png"]["error"],
          fails["img0003.png"])
    check(fails["img0007.jpg"]["stage"] == "timeout", fails["img0007.jpg"])
    check(rep["images"]["ok"] == 16, rep["images"])
    check(len(outputs(out)) == 16, outputs(out))


def workers_identical():
    """-w 1 and -w 3 give byte-identical outputs and identical statistics."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=30)
    spec = "autorotate | random-crop 64 scale=0.3,1 | flip h p=0.5"
    res = []
    for w in (1, 3):
        out = os.path.join(t, f"out{w}")
        run(["run", "-i", inp, "-o", out, "-p", spec, "-w", str(w), "--seed", "7",
             "--progress", "none"], check=0)
        res.append((tree(out), comparable(report(out))))
    check(res[0][0] == res[1][0], "outputs differ between -w 1 and -w 3")
    check(len(res[0][0]) == 30, len(res[0][0]))
    check(res[0][1] == res[1][1], "statistics differ between -w 1 and -w 3")


def sigterm():
    """SIGTERM mid-run: exit 4, nothing partial under a final name, report incomplete."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=40)
    out = os.path.join(t, "out")
    proc = spawn([PREPIX, "run", "-i", inp, "-o", out, "-p", PIPE, "-w", "2",
                  "--chunk-size", "4", "--progress", "none", "--timeout", "600"],
                 env={"PPX_TEST_FAULT": "hang:img0030.jpg"})
    # Signal once a worker is stuck on img0030: the job cannot have ended by then.
    err = wait_stderr(proc, "hanging on")
    proc.send_signal(signal.SIGTERM)
    code, rest = finish(proc, 60)
    err += rest
    check(code == 4, f"exit {code}: {err}")
    rep = report(out)
    check(rep["complete"] is False and rep["exit_code"] == 4, rep.get("stop_reason"))
    outs = [os.path.join(out, k) for k in outputs(out) if not os.path.basename(k).startswith(".")]
    for info in inspect(outs):
        check("error" not in info and info["width"] == 80, f"partial output {info}")
    # and the run can be finished
    p = run(["run", "-i", inp, "-o", out, "-p", PIPE, "-w", "2", "--chunk-size", "4",
             "--resume", "--progress", "none"])
    check(p.returncode == 0, f"resume exit {p.returncode}: {p.stderr}")
    check(len([k for k in outputs(out) if not os.path.basename(k).startswith(".")]) == 40,
          "all outputs after resume")


def listed_before_stop(err):
    """How many entries the listing held when a stop ended it, from prepix's message."""
    m = re.search(r"received while listing the input \((\d+) entries listed\)", err)
    check(m is not None, f"no stop message: {err}")
    return int(m.group(1))


def sigterm_listing():
    """SIGTERM while the input is listed (issue 19 item 15): a tar of members of one name, a
    folder, a list. The listing stops at its next entry, exit 4, and OUTDIR is never made (it
    went on to the end, 17 s for 200,000 members, then started the run). The test fault
    stall-listing:N holds the listing at its Nth entry until the signal has come."""
    t = tmpdir()
    tar = os.path.join(t, "same.tar")
    with open(tar, "wb") as f:
        f.write(tc.member("a.jpg", b"x") * 5000 + tc.end())
    folder = os.path.join(t, "folder")
    os.makedirs(folder)
    for i in range(3000):
        open(os.path.join(folder, f"img{i:05d}.jpg"), "wb").close()
    lst = os.path.join(t, "list.txt")
    with open(lst, "w") as f:
        f.write("x.jpg\n" * 5000)
    for name, inp in (("tar", tar), ("folder", folder), ("list", "@" + lst)):
        out = os.path.join(t, "out-" + name)
        proc = spawn([PREPIX, "run", "-i", inp, "-o", out, "--progress", "none"],
                     env={"PPX_TEST_FAULT": "stall-listing:1000"})
        err = wait_stderr(proc, "listing stalled")
        proc.send_signal(signal.SIGTERM)
        code, rest = finish(proc, 60)
        err += rest
        check(code == 4, f"{name}: exit {code}: {err}")
        check(not os.path.exists(out), f"{name}: OUTDIR was made: {err}")
        check("SIGTERM" in err, f"{name}: {err}")
        check(listed_before_stop(err) <= 1000, f"{name}: listed on after the signal: {err}")


def sigterm_list_pipe():
    """SIGTERM while an @LIST comes through a pipe (`-i @<(find ...)`) whose writer has
    stalled: exit 4 at once, nothing written. The read of the list, restarted after the
    signal, used to wait for the writer for ever."""
    t = tmpdir()
    fifo = os.path.join(t, "list")
    os.mkfifo(fifo)
    # Held open for reading and writing: the list never ends, and prepix never finds it
    # empty for having opened the pipe before the test did.
    w = os.open(fifo, os.O_RDWR)
    out = os.path.join(t, "out")
    proc = spawn([PREPIX, "run", "-i", "@" + fifo, "-o", out, "--progress", "none"])
    # 1.2 MB through a 64 KiB pipe: once it is written, prepix is reading the list.
    lines = memoryview(b"x.jpg\n" * 200000)
    while lines:
        lines = lines[os.write(w, lines):]
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc, 60)
    os.close(w)
    check(code == 4, f"exit {code}: {err}")
    check(not os.path.exists(out), f"OUTDIR was made: {err}")
    # Read before the signal: all but what the pipe and prepix's buffer held (64 KiB each).
    check(listed_before_stop(err) >= 150000, err)


def usage_errors():
    """Refusals before any work: exit 2, nothing written."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=3)
    cases = [
        ["run", "-i", inp, "-o", os.path.join(inp, "sub")],
        ["run", "-i", inp, "-o", inp],
        ["run", "-i", inp, "-o", os.path.join(t, "o1"), "--bogus"],
        ["run", "-i", inp, "-o", os.path.join(t, "o2"), "-p", "resize 25x | flip h"],
        ["run", "-i", inp, "-o", os.path.join(t, "o3"), "-p", "nosuchop"],
        ["run", "-i", inp, "-o", os.path.join(t, "o4"), "-f", "gif"],
        ["run", "-i", inp, "-o", os.path.join(t, "o5"), "-q", "0"],
        ["run", "-i", os.path.join(t, "missing"), "-o", os.path.join(t, "o6")],
        ["run", "-o", os.path.join(t, "o7")],
    ]
    for args in cases:
        p = run(args)
        check(p.returncode == 2, f"{args}: exit {p.returncode}")
        check("prepix:" in p.stderr, f"{args}: no message")
    check(not any(os.path.exists(os.path.join(t, f"o{i}")) for i in range(1, 8)),
          "something was written")
    check(not os.path.exists(os.path.join(inp, "sub")), "OUTDIR inside INPUT was created")
    p = run(["run", "-i", inp, "-o", os.path.join(t, "o2"), "-p", "resize 25x | flip h"])
    check("op 1" in p.stderr and "25x" in p.stderr, p.stderr)
    # An earlier run in OUTDIR without --resume is refused, naming --resume.
    out = os.path.join(t, "done")
    run(["run", "-i", inp, "-o", out, "--progress", "none"], check=0)
    p = run(["run", "-i", inp, "-o", out, "--progress", "none"])
    check(p.returncode == 2 and "--resume" in p.stderr, p.stderr)
    # --resume with a different pipeline is refused and says what differs.
    p = run(["run", "-i", inp, "-o", out, "-p", "flip h", "--resume"])
    check(p.returncode == 2 and "pipeline" in p.stderr, p.stderr)


def report_keys():
    """The report has the keys of DESIGN.md section 5 and correct counts."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=12)
    with open(os.path.join(inp, "cat", "broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    out = os.path.join(t, "out")
    p = run(["run", "-i", inp, "-o", out, "-p", "rgb | resize 32x32 fit=fill", "-w", "2",
             "--progress", "none"])
    check(p.returncode == 3, p.returncode)
    r = report(out)
    for k in ("version", "ranks", "workers", "images", "bytes", "elapsed_s", "images_per_s",
              "channel_stats", "input_sizes", "per_rank", "failures"):
        check(k in r, f"missing {k}")
    check(r["images"] == {"total": 13, "ok": 12, "failed": 1, "skipped": 1}, r["images"])
    check(r["ranks"] == 1 and r["workers"] == [2], r["workers"])
    cs = r["channel_stats"]
    check(len(cs) == 1 and cs[0]["channels"] == 3 and cs[0]["images"] == 12, cs)
    for b in cs[0]["bands"]:
        check(len(b["histogram"]) == 256 and sum(b["histogram"]) == 12 * 32 * 32, b["name"])
        check(0 < b["mean"] < 1 and 0 < b["std"] < 1, b)
    check(r["failures"][0]["stage"] == "decode", r["failures"])
    check(r["per_rank"][0]["images"] == 13, r["per_rank"])
    html = open(os.path.join(out, "prepix-report.html"), encoding="utf-8").read()
    check("<svg" in html and "http://" not in html.replace("http://www.w3.org", "")
          and "broken.jpg" in html, "html report")
    # statistics agree with an independent computation (numpy over the outputs)
    import numpy as np
    from PIL import Image
    arr = [np.asarray(Image.open(os.path.join(inp, c, f)).convert("RGB").resize(
        (32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
        for c in ("cat", "dog", "fish") for f in sorted(os.listdir(os.path.join(inp, c)))
        if f != "broken.jpg"]
    check(len(arr) == 12, len(arr))
    means = np.mean(np.stack(arr), axis=(0, 1, 2)) / 255
    for b, m in zip(cs[0]["bands"], means):
        check(abs(b["mean"] - m) < 0.01, f"mean {b['mean']} vs numpy+Pillow {m}")


def stats_cmd():
    """prepix stats writes no images and prints the report."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=6)
    p = run(["stats", "-i", inp, "-p", "grayscale", "--progress", "none"], check=0)
    r = json.loads(p.stdout)
    check(r["images"]["ok"] == 6 and r["channel_stats"][0]["channels"] == 1, r["images"])
    check(not os.path.exists(os.path.join(inp, "prepix-report.json")), "wrote into INPUT")


def odd_names():
    """File names with quotes, backslashes, control characters, invalid UTF-8 survive."""
    t = tmpdir()
    inp = os.fsencode(os.path.join(t, "in"))
    os.makedirs(inp)
    names = [b'quo"te.jpg', b'back\\slash.jpg', b'tab\there.jpg', b'bad\xffutf8.jpg',
             "caf\u00e9.jpg".encode()]
    src = os.path.join(SAMPLES, "video", "go-src__video-001.jpeg")
    for n in names:
        shutil.copy(src, os.path.join(inp, n))
    with open(os.path.join(inp, b'broken\x01"\xfe.jpg'), "wb") as f:
        f.write(b"garbage")
    out = os.path.join(t, "out")
    p = run(["run", "-i", os.fsdecode(inp), "-o", out, "--progress", "none"])
    check(p.returncode == 3, p.returncode)
    r = report(out)
    check(r["images"]["ok"] == 5, r["images"])
    path = r["failures"][0]["path"].encode("utf-8", "surrogateescape")
    check(path.endswith(b'broken\x01"\xfe.jpg'), path)
    for n in names:
        check(os.path.exists(os.path.join(os.fsencode(out), n)), n)


def name_collision():
    """x.jpg and x.png both map to x.jpg with -f jpeg: the later input fails, never a race."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    os.makedirs(inp)
    src = os.path.join(SAMPLES, "video", "go-src__video-001.jpeg")
    for n in ("x.jpg", "x.png", "x.jpeg", "y.tif"):
        shutil.copy(src, os.path.join(inp, n))
    out = os.path.join(t, "out")
    p = run(["run", "-i", inp, "-o", out, "-f", "jpeg", "--progress", "none"], mpi_np=None)
    check(p.returncode == 3, p.returncode)
    r = report(out)
    check([os.path.basename(f["path"]) for f in r["failures"]] == ["x.png"], r["failures"])
    check(r["failures"][0]["stage"] == "input", r["failures"])
    check(sorted(outputs(out)) == ["x.jpeg", "x.jpg", "y.jpg"], outputs(out))


def dry_run():
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=5)
    out = os.path.join(t, "out")
    p = run(["run", "-i", inp, "-o", out, "-f", "png", "--dry-run"], check=0)
    check(len(p.stdout.splitlines()) == 5 and ".png" in p.stdout, p.stdout)
    check(not os.path.exists(out), "dry run wrote OUTDIR")


def chunk_floor():
    """The automatic chunk size of a wide job: at least one image per 200 workers of the job
    (rank 0 answers every request), read from the dry run's summary; no worker is started."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=5)
    for w, size in ((200, 1), (201, 2), (1000, 5)):
        p = run(["run", "-i", inp, "-o", os.path.join(t, "out"), "--dry-run", "-w", str(w)],
                check=0)
        m = re.search(r"(\d+) images in (\d+) chunks of (\d+)", p.stderr)
        check(p.returncode == 0 and m and m.group(3) == str(size),
              f"-w {w}: expected chunks of {size}: {p.stderr}")


def transient_retry():
    """A worker killed from outside (here between writing its temporary file and the rename)
    costs its image in this run, leaves no temporary file, and --resume retries it: the final
    result equals an uninterrupted run."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=12)
    args = ["-i", inp, "-p", PIPE, "-w", "2", "--chunk-size", "3", "--progress", "none"]
    out = os.path.join(t, "out")
    p = run(["run", "-o", out] + args, env={"PPX_TEST_FAULT": "killrename:img0003.png"})
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    f = report(out)["failures"]
    check(len(f) == 1 and f[0]["stage"] == "worker" and "SIGKILL" in f[0]["error"], f)
    left = [n for _, _, fs in os.walk(out) for n in fs if n.startswith(".ppx-")]
    check(left == [], f"temporary files left: {left}")
    p = run(["run", "-o", out, "--resume"] + args)
    check(p.returncode == 0, f"resume: exit {p.returncode}: {p.stderr}")
    clean = os.path.join(t, "clean")
    run(["run", "-o", clean] + args, check=0)
    check(tree(out) == tree(clean), "outputs differ from an uninterrupted run")
    check(comparable(report(out)) == comparable(report(clean)), "reports differ")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (e2e_corpus, bad_files, crash_hang, workers_identical,
                                           sigterm, usage_errors, report_keys, stats_cmd,
                                           odd_names, dry_run, chunk_floor, name_collision,
                                           transient_retry, sigterm_listing,
                                           sigterm_list_pipe)}))

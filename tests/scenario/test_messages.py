"""Every message true (issue 12.5) and every option bounded (issue 13): each case a message or a
limit that misled on the main of 2026-11-30."""
import os
import re
import shutil
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import (PREPIX, SAMPLES, check, finish, main, report, run, spawn,  # noqa: E402
                 tmpdir, wait_stderr)

PHOTO = os.path.join(SAMPLES, "video", "go-src__video-001.jpeg")


def one_image(t, name="in"):
    inp = os.path.join(t, name)
    os.makedirs(inp)
    shutil.copy(PHOTO, os.path.join(inp, "a.jpg"))
    return inp


def socket_especial():
    """A socket named like an image is 'not a regular file' (ESPECIAL), as the docs say."""
    t = tmpdir()
    inp = one_image(t)
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.path.join(inp, "s.jpg"))
    out = os.path.join(t, "out")
    p = run(["run", "-i", inp, "-o", out, "--progress", "none"])
    s.close()
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    f = report(out)["failures"]
    check(len(f) == 1 and f[0]["code"] == "ESPECIAL" and
          f[0]["error"] == "is a socket, not a regular file", f)


def format_aliases():
    """-f takes any case and the short extensions, as --help says."""
    t = tmpdir()
    inp = one_image(t)
    for i, f in enumerate(("JPEG", "jpg", "Tif", "PNG", "Same")):
        p = run(["run", "-i", inp, "-o", os.path.join(t, f"o{i}"), "-f", f, "--progress", "none"])
        check(p.returncode == 0, f"-f {f}: exit {p.returncode}: {p.stderr}")
    p = run(["--help"])
    check("jpg" in p.stdout and "any case" in p.stdout, "--help does not list -f jpg")


def help_text():
    """--help is printed as written: no printf escape (a doubled percent sign) shows through."""
    for args in (["--help"], ["run", "--help"]):
        p = run(args)
        check(p.returncode == 0, f"{args}: exit {p.returncode}")
        bad = [line for line in p.stdout.splitlines() if "%%" in line]
        check(not bad, f"{args}: {bad}")


def report_unwritable():
    """A report that cannot be written: exit 1, and no 'report: PATH' line claiming it."""
    t = tmpdir()
    inp = one_image(t)
    bad = os.path.join(t, "no-such-folder", "r.json")
    p = run(["run", "-i", inp, "-o", os.path.join(t, "out"), "--report", bad,
             "--progress", "none"])
    check(p.returncode == 1, f"exit {p.returncode}: {p.stderr}")
    # Whole lines: the message is the point.
    want = (f"prepix: cannot write the report {bad}: cannot open the folder of {bad}: "
            "No such file or directory")
    check(want in p.stderr.splitlines() and "report: " + bad not in p.stderr, p.stderr)


def resume_refused_says_how():
    """After the listing changed, the refusal says how to start over."""
    t = tmpdir()
    inp = one_image(t)
    out = os.path.join(t, "out")
    run(["run", "-i", inp, "-o", out, "--progress", "none"], check=0)
    p = run(["run", "-i", inp, "-o", out, "--progress", "none"])
    # Whole lines: a rename that went through message text ("ppx__finish") fails here.
    want = (f"prepix: {out} holds an earlier prepix run ({out}/.prepix); pass --resume to "
            "finish it, or choose an empty OUTDIR")
    check(p.returncode == 2 and want in p.stderr.splitlines(), p.stderr)  # same job: resumable
    shutil.copy(PHOTO, os.path.join(inp, "b.jpg"))
    p = run(["run", "-i", inp, "-o", out, "--progress", "none"])
    line = re.compile(rf"prepix: {re.escape(out)} holds an earlier prepix run of another job "
                      rf"\(.*\), which --resume cannot finish: to start over, remove "
                      rf"{re.escape(out)} \(or choose an empty OUTDIR\)")
    check(p.returncode == 2 and any(line.fullmatch(x) for x in p.stderr.splitlines()) and
          "pass --resume" not in p.stderr, f"plain run after the listing changed: {p.stderr}")
    p = run(["run", "-i", inp, "-o", out, "--resume", "--progress", "none"])
    line = re.compile(rf"prepix: --resume refused: this run differs from the one in "
                      rf"{re.escape(out)}: input listing \(journal \"[0-9a-f]{{16}}\", now "
                      rf"\"[0-9a-f]{{16}}\"\); input listing size \(journal \"1\", now \"2\"\)\. "
                      rf"To start over, remove {re.escape(out)} \(or choose an empty OUTDIR\)")
    check(p.returncode == 2 and any(line.fullmatch(x) for x in p.stderr.splitlines()),
          p.stderr)


def option_ranges():
    """Out-of-range option values: exit 2 with a message, nothing written."""
    t = tmpdir()
    inp = one_image(t)
    secs = "expected seconds > 0 and at most 604800 (a week)"
    pixels = ("expected a number from 1 to 4294836225 (65535 x 65535, the largest image a "
              "side limit of 65535 allows)")
    count = "expected a number from 1 to 1000000"
    workers = "expected a number of workers from 1 to 4096"
    cases = [(["--timeout", "inf"], secs), (["--timeout", "1e10"], secs),
             (["--timeout", "nan"], secs), (["--timeout", "-1"], secs),
             (["--max-pixels", "18446744073709551615"], pixels), (["--max-pixels", "0"], pixels),
             (["--chunk-size", "0"], count), (["--chunk-size", "100000000"], count),
             (["--shard-size", "100000000", "-f", "tar"], count), (["-w", "0"], workers),
             (["-q", "101"], "expected a quality from 1 to 100"),
             (["--max-failures", "-2"], "expected -1 or a number >= 0"),
             (["--seed", "-1"], "expected a non-negative integer"),
             (["-w", "99999999999999999999"], workers)]
    for i, (extra, why) in enumerate(cases):
        out = os.path.join(t, f"o{i}")
        p = run(["run", "-i", inp, "-o", out, "--progress", "none"] + extra)
        check(p.returncode == 2, f"{extra}: exit {p.returncode}")
        # Whole lines: the option, its value and the bounds, then where to read more.
        want = [f"prepix: {extra[0]} {extra[1]}: {why}", "prepix: see `prepix --help`"]
        check(p.stderr.splitlines() == want, f"{extra}: {p.stderr}")
        check(not os.path.exists(out), f"{extra}: wrote OUTDIR")


def stop_grace():
    """SIGTERM with a worker stuck: the job ends within the documented 10 s (plus start-up)."""
    t = tmpdir()
    inp = one_image(t)
    shutil.copy(PHOTO, os.path.join(inp, "b.jpg"))
    proc = spawn([PREPIX, "run", "-i", inp, "-o", os.path.join(t, "out"), "-w", "1",
                  "--timeout", "600", "--progress", "none"],
                 env={"PPX_TEST_FAULT": "hang:b.jpg"})
    wait_stderr(proc, "hanging on")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc, 60)
    took = time.monotonic() - t0
    check(code == 4, f"exit {code}: {err}")
    # A bound, not a speed claim: the docs promise at most 10 s for images in progress.
    check(took < 12, f"stopped after {took:.1f} s; the docs say up to 10 s")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (socket_especial, format_aliases, help_text, report_unwritable,
                                           resume_refused_says_how, option_ranges,
                                           stop_grace)}))

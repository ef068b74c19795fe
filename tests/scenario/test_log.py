"""One message path (issue 20 item 4): --quiet keeps only what went wrong, -v adds how the run
was planned, and without either a run says what it always said. Each case fails on the main of
2026-12-07, which had neither option."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import SAMPLES, check, main, run, tmpdir  # noqa: E402

PHOTO = os.path.join(SAMPLES, "video", "go-src__video-001.jpeg")


def two_images(t):
    """One image that decodes and one that fails (an empty .jpg)."""
    inp = os.path.join(t, "in")
    os.makedirs(inp)
    shutil.copy(PHOTO, os.path.join(inp, "a.jpg"))
    open(os.path.join(inp, "b.jpg"), "wb").close()
    return inp


def quiet_errors_only():
    """--quiet: a run with a failure says nothing on stderr (the report lists it, the exit code
    says so); a resumed run says nothing either; a refusal still says why."""
    t = tmpdir()
    inp = two_images(t)
    out = os.path.join(t, "out")
    loud = run(["run", "-i", inp, "-o", os.path.join(t, "loud"), "--progress", "none"])
    check(loud.returncode == 3, f"exit {loud.returncode}: {loud.stderr}")
    check("failed" in loud.stderr, f"no summary: {loud.stderr!r}")
    p = run(["run", "-i", inp, "-o", out, "--progress", "none", "--quiet"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    check(p.stderr == "", f"--quiet printed {p.stderr!r}")
    p = run(["run", "-i", inp, "-o", out, "--progress", "none", "--resume", "--quiet"])
    check(p.returncode == 3 and p.stderr == "", f"--resume --quiet: {p.returncode} {p.stderr!r}")
    p = run(["run", "-i", inp, "-o", out, "--progress", "none", "--quiet"])
    check(p.returncode == 2, f"exit {p.returncode}")
    check(p.stderr.startswith(f"prepix: {out} holds an earlier prepix run"), p.stderr)


def verbose_says_plan():
    """-v: the plan of the run (images, chunks, their size) on one line; not without it."""
    t = tmpdir()
    inp = two_images(t)
    p = run(["run", "-i", inp, "-o", os.path.join(t, "a"), "--progress", "none", "-v",
             "--chunk-size", "1"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    check("prepix: 2 images in 2 chunks of 1\n" in p.stderr, p.stderr)
    p = run(["run", "-i", inp, "-o", os.path.join(t, "b"), "--progress", "none",
             "--chunk-size", "1"])
    check("chunks of" not in p.stderr, p.stderr)


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (quiet_errors_only, verbose_says_plan)}))

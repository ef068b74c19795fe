"""Security (issue 11): safe on shared folders and when run as root. The attacker is another
local user who can write into INPUT, OUTDIR or /tmp: the plants below are what that user could
make (links owned by uid ATTACKER, set with lchown). Cases that need root say so and skip."""
import os
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from lib import (PREPIX, SAMPLES, SOURCE, Skip, check, finish, main,  # noqa: E402
                 report, run, sha, spawn, tmpdir, tree, wait_stderr)

PHOTO = os.path.join(SAMPLES, "video", "go-src__video-001.jpeg")
ATTACKER = 54321  # a uid no one has: links "owned by another user"


def need_root():
    if os.geteuid() != 0:
        raise Skip("needs root (plants owned by another uid)")


def plant_link(target, at, owner=ATTACKER):
    os.symlink(target, at)
    if os.geteuid() == 0:
        os.lchown(at, owner, owner)


def victim(t, name="victim.txt"):
    p = os.path.join(t, name)
    with open(p, "w") as f:
        f.write("precious\n")
    return p, sha(p)


def outdir_plants():
    """Links and hard links at temporary and final names in OUTDIR, at index.csv, shards and
    the report: every target stays byte-identical."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    os.makedirs(os.path.join(inp, "cls"))
    shutil.copy(PHOTO, os.path.join(inp, "cls", "a.jpg"))
    shutil.copy(PHOTO, os.path.join(inp, "cls", "b.jpg"))
    vic, h = victim(t)
    hard, hh = victim(t, "hard.txt")
    out = os.path.join(t, "out")
    os.makedirs(os.path.join(out, "cls"))
    # The old temporary names, the final names, the reports.
    plant_link(vic, os.path.join(out, "cls", ".a.jpg.ppxtmp"))
    os.link(hard, os.path.join(out, "cls", ".b.jpg.ppxtmp"))
    plant_link(vic, os.path.join(out, "cls", "a.jpg"))
    plant_link(vic, os.path.join(out, "prepix-report.json"))
    plant_link(vic, os.path.join(out, ".prepix-report.json.ppxtmp"))
    p = run(["run", "-i", inp, "-o", out, "-p", "resize 16", "--progress", "none"])
    check(sha(vic) == h and sha(hard) == hh, "a planted link was written through")
    check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
    check(not os.path.islink(os.path.join(out, "cls", "a.jpg")), "the output is still a link")
    check(report(out)["images"]["ok"] == 2, "report")
    # Shards: index.csv, classes.txt and the shard's name.
    out2 = os.path.join(t, "out2")
    os.makedirs(out2)
    for n in ("index.csv", "classes.txt", "shard-000000.tar", ".index.csv.ppxtmp",
              ".shard-000000.tar.ppxtmp"):
        plant_link(vic, os.path.join(out2, n))
    p = run(["run", "-i", inp, "-o", out2, "-f", "tar", "-p", "resize 16", "--progress", "none"])
    check(sha(vic) == h, "a planted link in a shard OUTDIR was written through")
    check(p.returncode == 0, f"tar exit {p.returncode}: {p.stderr}")


def journal_plants():
    """Journal name games, a linked .prepix/run, a FIFO journal, a .prepix of another user."""
    need_root()
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=4)
    vic, h = victim(t)
    args = ["-p", "resize 16", "--progress", "none", "--resume"]
    # attempt numbers from planted names, overflowing
    out = os.path.join(t, "o1")
    os.makedirs(os.path.join(out, ".prepix"), mode=0o700)
    open(os.path.join(out, ".prepix", "journal-2147483647-0.bin"), "w").close()
    plant_link(vic, os.path.join(out, ".prepix", "journal--2147483648-0.bin"))
    plant_link(vic, os.path.join(out, ".prepix", "journal-1-0.bin"))
    p = run(["run", "-i", inp, "-o", out] + args)
    check(sha(vic) == h, "the journal appended to a planted link")
    check(p.returncode in (0, 1, 2), f"exit {p.returncode}")
    # .prepix/run a link to a config file: not read, its lines not printed
    out = os.path.join(t, "o2")
    os.makedirs(os.path.join(out, ".prepix"), mode=0o700)
    cfg = os.path.join(t, "secret.conf")
    with open(cfg, "w") as f:
        f.write("pipeline=SECRET-VALUE\nformat=SECRET-FORMAT\n")
    plant_link(cfg, os.path.join(out, ".prepix", "run"))
    p = run(["run", "-i", inp, "-o", out] + args)
    check("SECRET" not in p.stderr and "SECRET" not in p.stdout, p.stderr)
    check(p.returncode in (1, 2), f"linked run file: exit {p.returncode}")
    # a FIFO journal: no hang, a clear error or a safe success
    out = os.path.join(t, "o3")
    run(["run", "-i", inp, "-o", out, "-p", "resize 16", "--progress", "none"], check=0)
    os.mkfifo(os.path.join(out, ".prepix", "journal-7-0.bin"))
    p = run(["run", "-i", inp, "-o", out] + args, timeout=60)
    check(p.returncode in (0, 1), f"FIFO journal: exit {p.returncode}: {p.stderr}")
    # .prepix owned by another user: refused
    out = os.path.join(t, "o4")
    os.makedirs(os.path.join(out, ".prepix"))
    os.chown(os.path.join(out, ".prepix"), ATTACKER, ATTACKER)
    p = run(["run", "-i", inp, "-o", out] + args)
    check(p.returncode == 1 and ".prepix" in p.stderr, f"foreign .prepix: {p.returncode} {p.stderr}")
    check(os.listdir(os.path.join(out, ".prepix")) == [], "wrote into a foreign .prepix")


def report_targets():
    """Reports never rename over a device, never follow another user's link in a sticky
    folder, and never use a plantable temporary name."""
    need_root()
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=3)
    dev = os.path.join(t, "null")
    os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    p = run(["stats", "-i", inp, "--report", dev, "--progress", "none"])
    check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
    check(stat.S_ISCHR(os.lstat(dev).st_mode), "the device node was replaced")
    sticky = os.path.join(t, "tmp")
    os.makedirs(sticky)
    os.chmod(sticky, 0o1777)
    vic, h = victim(t)
    plant_link(vic, os.path.join(sticky, "r.json"))
    plant_link(vic, os.path.join(sticky, ".r.json.ppxtmp"))
    p = run(["stats", "-i", inp, "--report", os.path.join(sticky, "r.json"),
             "--progress", "none"])
    check(sha(vic) == h, "the report was written through another user's link")
    check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
    check(os.path.isfile(os.path.join(sticky, "r.json")) and
          not os.path.islink(os.path.join(sticky, "r.json")), "report not written")
    # --report /dev/stdout (a root-owned link to our own stdout) still prints the report.
    p = run(["stats", "-i", inp, "--report", "/dev/stdout", "--progress", "none"])
    check(p.returncode == 0 and '"channel_stats"' in p.stdout, f"{p.returncode} {p.stderr}")


def input_links():
    """A symlinked file in INPUT is not read as root by default; a link to a text file never
    puts its bytes into messages; --follow-symlinks reads it."""
    need_root()
    t = tmpdir()
    inp = os.path.join(t, "ds")
    os.makedirs(inp)
    shutil.copy(PHOTO, os.path.join(inp, "ok.jpg"))
    priv = os.path.join(t, "private.jpg")
    shutil.copy(PHOTO, priv)
    os.chmod(priv, 0o600)
    plant_link(priv, os.path.join(inp, "private.jpg"))
    secret = os.path.join(t, "shadow")
    with open(secret, "w") as f:
        f.write("root:$6$secret:19000:0:99999:7:::\n")
    plant_link(secret, os.path.join(inp, "secret.jpg"))
    out = os.path.join(t, "out")
    p = run(["run", "-i", inp, "-o", out, "--progress", "none"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    check(sorted(tree(out)) == ["ok.jpg"], tree(out))
    text = p.stderr + open(os.path.join(out, "prepix-report.json")).read()
    check("72 6f 6f 74" not in text and "root:" not in text, "file bytes in messages")
    fails = {os.path.basename(f["path"]): f for f in report(out)["failures"]}
    check(set(fails) == {"private.jpg", "secret.jpg"}, fails)
    check(all("link" in f["error"] for f in fails.values()), fails)
    out2 = os.path.join(t, "out2")
    p = run(["run", "-i", inp, "-o", out2, "--follow-symlinks", "--progress", "none"])
    check(p.returncode == 3 and "private.jpg" in tree(out2), f"{p.returncode} {tree(out2)}")
    check("72 6f 6f 74" not in p.stderr, "file bytes in messages")


def folder_swap():
    """A folder swapped for a link after the walk listed it: nothing outside INPUT is read."""
    t = tmpdir()
    inp = os.path.join(t, "ds")
    os.makedirs(os.path.join(inp, "a"))
    os.makedirs(os.path.join(inp, "z"))
    shutil.copy(PHOTO, os.path.join(inp, "a", "first.jpg"))
    shutil.copy(PHOTO, os.path.join(inp, "z", "private.jpg"))
    secret_dir = os.path.join(t, "root-only")
    os.makedirs(secret_dir)
    shutil.copy(os.path.join(SAMPLES, "video", "go-src__video-005.gray.jpeg"),
                os.path.join(secret_dir, "private.jpg"))
    out = os.path.join(t, "out")
    proc = spawn([PREPIX, "run", "-i", inp, "-o", out, "-w", "1", "--chunk-size", "1",
                  "--timeout", "1", "--progress", "none"],
                 env={"PPX_TEST_FAULT": "hang:first.jpg"})
    wait_stderr(proc, "hanging on")
    shutil.rmtree(os.path.join(inp, "z"))
    os.symlink(secret_dir, os.path.join(inp, "z"))
    code, err = finish(proc, 120)
    check(code == 3, f"exit {code}: {err}")
    check("z/private.jpg" not in tree(out), "read through the swapped-in link")
    fails = {os.path.relpath(f["path"], inp): f for f in report(out)["failures"]}
    check(fails.get("z/private.jpg", {}).get("stage") == "input", fails)


def modes():
    """Outputs 0644, folders 0755, .prepix 0700 whatever the umask; --copy-mode keeps 0600."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    os.makedirs(os.path.join(inp, "sub"))
    shutil.copy(PHOTO, os.path.join(inp, "sub", "a.jpg"))
    os.chmod(os.path.join(inp, "sub", "a.jpg"), 0o600)
    out = os.path.join(t, "out")
    old = os.umask(0)
    try:
        run(["run", "-i", inp, "-o", out, "--progress", "none"], check=0)
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(os.stat(os.path.join(out, p)).st_mode)  # noqa: E731
    check(mode(".prepix") == 0o700, oct(mode(".prepix")))
    check(mode("sub") == 0o755, oct(mode("sub")))
    check(mode("sub/a.jpg") == 0o644, oct(mode("sub/a.jpg")))
    check(mode("prepix-report.json") == 0o644, oct(mode("prepix-report.json")))
    out2 = os.path.join(t, "out2")
    run(["run", "-i", inp, "-o", out2, "--copy-mode", "--progress", "none"], check=0)
    check(stat.S_IMODE(os.stat(os.path.join(out2, "sub", "a.jpg")).st_mode) == 0o600,
          "--copy-mode")


def escaped_names():
    """Escape sequences and newlines in names reach the terminal escaped, as in the JSON."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    os.makedirs(inp)
    bad = "evil\x1b[2J\x1b]0;pwned\x07\nname.jpg"
    with open(os.path.join(inp, bad), "wb") as f:
        f.write(b"not an image")
    out = os.path.join(t, "out")
    for args in (["run", "-i", inp, "-o", out, "--progress", "none"],
                 ["run", "-i", inp, "-o", os.path.join(t, "o2"), "--dry-run"]):
        p = run(args)
        both = p.stderr + p.stdout
        check("\x1b" not in both and "\x07" not in both, f"raw control characters: {both!r}")
        check("\\u001b" in both, f"name not shown escaped: {both!r}")


def release_without_hooks():
    """A build configured without a preset ignores PPX_TEST_FAULT."""
    if not shutil.which("cmake"):
        raise Skip("cmake missing")
    t = tmpdir()
    b = os.path.join(t, "build")
    subprocess.run(["cmake", "-S", SOURCE, "-B", b, "-DCMAKE_BUILD_TYPE=Release",
                    "-DPPX_TESTS=OFF"], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", b, "-j2", "--target", "prepix"], check=True,
                   capture_output=True)
    inp = os.path.join(t, "in")
    os.makedirs(inp)
    shutil.copy(PHOTO, os.path.join(inp, "a.jpg"))
    out = os.path.join(t, "out")
    p = subprocess.run([os.path.join(b, "prepix"), "run", "-i", inp, "-o", out, "-p", "resize 8",
                        "--progress", "none"], env=dict(os.environ, PPX_TEST_FAULT="noop:*"),
                       capture_output=True, text=True)
    check(p.returncode == 0 and os.path.exists(os.path.join(out, "a.jpg")),
          f"the fault hook acted in a default build: {p.returncode} {p.stderr}")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (outdir_plants, journal_plants, report_targets,
                                           input_links, folder_swap, modes, escaped_names,
                                           release_without_hooks)}))

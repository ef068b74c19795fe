"""Trust, round two (issue 19): one check on every final output name, one identity for every
input read after listing. Each case is a reproduction from the issue, run against the real
binary; archives are made at test time. Cases with a co-user need root (the co-user is a uid
no one has, taken with os.setuid in a forked child) and skip without it."""
import io
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
import tarcraft as tc  # noqa: E402
from lib import (PREPIX, Skip, check, finish, main, report, run, sha, snapshot,  # noqa: E402
                 spawn, tmpdir, tree, wait_stderr)

COUSER = 54321  # a uid no one has: "another local user"


def need_root():
    if os.geteuid() != 0:
        raise Skip("needs root (a co-user's files, owned by another uid)")


def jpg(seed, w=40, h=32):
    b = io.BytesIO()
    data.photo_like(w, h, seed).save(b, "JPEG", quality=85)
    return b.getvalue()


def make_tar(path, members):
    """members: (name, bytes) in archive order, through Python's tarfile (ustar)."""
    with open(path, "wb") as f:
        f.write(tc.with_tarfile([(tc.info(n), d) for n, d in members]))


def failures(out):
    return {f["path"]: f for f in report(out)["failures"]}


def prun(args, **kw):
    return run(list(args) + ["--progress", "none"], **kw)


def dotdot_stems():
    """Item 1: a folder part '...tar' becomes '..' when '.tar' is dropped: checked after that
    mapping, it is a failure at stage input and nothing lands outside OUTDIR/<stem>/."""
    t = tmpdir()
    inp = f"{t}/in"
    os.makedirs(inp)
    make_tar(f"{inp}/evil.tar", [("ok.jpg", jpg(1)), ("...tar/x.jpg", jpg(2)),
                                 ("...tar/.prepix/z.jpg", jpg(3))])
    out = f"{t}/out"
    p = prun(["run", "-i", inp, "-o", out, "-f", "jpeg", "-p", "resize 16"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    got = sorted(tree(out))
    check(got == ["evil/ok.jpg"], f"outputs: {got}")
    fl = failures(out)
    for k in ("evil.tar/...tar/x.jpg", "evil.tar/...tar/.prepix/z.jpg"):
        f = fl.get(f"{inp}/{k}")
        check(f is not None and f["stage"] == "input", f"{k}: {f} in {sorted(fl)}")
        check("'..'" in f["error"], f["error"])

    # The archive's folder as OUTDIR: its member must not replace a file beside it.
    shared = f"{t}/shared"
    os.makedirs(f"{shared}/photos")
    with open(f"{shared}/photos/victim.jpg", "wb") as f:
        f.write(jpg(9))
    make_tar(f"{shared}/evil2.tar", [("...tar/photos/victim.jpg", jpg(4)), ("a.jpg", jpg(5))])
    before = snapshot(shared, f"{shared}/evil2")
    p = prun(["run", "-i", f"{shared}/evil2.tar", "-o", shared, "-f", "jpeg", "-p", "resize 16"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    after = {k: v for k, v in snapshot(shared, f"{shared}/evil2").items()
             if "prepix-report" not in k and "/.prepix" not in k and
             k not in (f"{shared}/duplicates.txt", f"{shared}/geometry.csv")}
    check(after == before, f"files beside the archive changed: {after} vs {before}")
    check(os.path.exists(f"{shared}/evil2/a.jpg"), "the good member's output")

    # Plain folders named '...tar' map the same way.
    inp2 = f"{t}/in2"
    os.makedirs(f"{inp2}/a/c/...tar/...tar/data/b")
    with open(f"{inp2}/a/c/...tar/...tar/data/b/x.jpg", "wb") as f:
        f.write(jpg(6))
    out2 = f"{t}/out2"
    p = prun(["run", "-i", inp2, "-o", out2, "-f", "jpeg", "-p", "resize 16"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    check(tree(out2) == {}, f"outputs: {sorted(tree(out2))}")
    check(list(failures(out2).values())[0]["stage"] == "input", report(out2)["failures"])


def input_in_outdir():
    """Item 2: INPUT inside OUTDIR is refused (exit 2, nothing written), as OUTDIR inside
    INPUT is: out/data/x.jpg would be the output of data/x.jpg."""
    t = tmpdir()
    out = f"{t}/out"
    os.makedirs(f"{out}/data/data")
    for p in (f"{out}/data/x.jpg", f"{out}/data/data/x.jpg"):
        with open(p, "wb") as f:
            f.write(jpg(7))
    before = snapshot(t, None)
    p = prun(["run", "-i", f"{out}/data", "-o", out, "-f", "jpeg", "-p", "resize 16"])
    check(p.returncode == 2, f"exit {p.returncode}: {p.stderr}")
    check("inside OUTDIR" in p.stderr, p.stderr)
    check(snapshot(t, None) == before, "something was written")


def shard_members(out):
    """{member name: bytes} of every tar shard in out."""
    got = {}
    for name in sorted(os.listdir(out)):
        if name.startswith("shard-") and name.endswith(".tar"):
            with tarfile.open(os.path.join(out, name)) as t:
                for m in t.getmembers():
                    got[m.name] = t.extractfile(m).read()
    return got


def sidecar_long_ext():
    """Item 3: a sidecar whose extension is over 80 bytes is left out with a warning naming
    it, not the end of every -f tar run."""
    t = tmpdir()
    ext = "x" * 81
    make_tar(f"{t}/s.tar", [("001.jpg", jpg(1)), ("001.txt", b"one"), ("002.jpg", jpg(2)),
                            ("002." + ext, b"long")])
    out = f"{t}/out"
    p = prun(["run", "-i", f"{t}/s.tar", "-o", out, "-f", "tar"])
    check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
    check("002." + ext in p.stderr and "sidecar" in p.stderr, p.stderr)
    rep = report(out)
    check(any("002." + ext in w for w in rep["warnings"]), rep["warnings"])
    got = sorted(shard_members(out))
    check(got == ["000000000.cls", "000000000.jpg", "000000000.txt", "000000001.cls",
                  "000000001.jpg"], got)


def sparse_tar(path, members):
    """members: (name, bytes or int): an int is a member of that many zero bytes, left as a
    hole in the file (so a 2 GiB member costs no disk)."""
    with open(path, "wb") as f:
        for name, d in members:
            size = d if isinstance(d, int) else len(d)
            f.write(tc.header(name, size))
            if isinstance(d, int):
                f.seek(size + (-size % 512), os.SEEK_CUR)
            else:
                f.write(tc.pad(d))
        f.write(tc.end())


def sidecar_huge():
    """Item 4: a sidecar over the 2 GiB member limit fails its sample alone (one failure
    line), on the first run and on --resume."""
    t = tmpdir()
    sparse_tar(f"{t}/s.tar", [("001.jpg", jpg(1)), ("001.txt", b"one"), ("002.jpg", jpg(2)),
                              ("002.txt", (2 << 30) + 1), ("003.jpg", jpg(3))])
    out = f"{t}/out"
    for extra in ([], ["--resume"]):
        p = prun(["run", "-i", f"{t}/s.tar", "-o", out, "-f", "tar"] + extra)
        check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
        rep = report(out)
        check(rep["images"]["ok"] == 2 and rep["images"]["failed"] == 1, rep["images"])
        fl = rep["failures"]
        check(len(fl) == 1 and fl[0]["path"].endswith("s.tar/002.jpg"), fl)
        check(".txt" in fl[0]["error"] and fl[0]["stage"] == "input", fl)
    got = sorted(shard_members(out))
    check(got == ["000000000.cls", "000000000.jpg", "000000000.txt", "000000002.cls",
                  "000000002.jpg"], got)
    check(len(report(out)["channel_stats"]) == 1 and
          report(out)["channel_stats"][0]["images"] == 2, "statistics count the failed image")


def stopped_run(args, key, env=None):
    """Starts prepix with args and a worker that stops before reading key (the test fault
    'stop'); returns the process once that worker waits (the listing is done)."""
    fifo = os.path.join(tmpdir(), "go")
    os.mkfifo(fifo)
    e = {"PPX_TEST_FAULT": f"stop:{key}", "PPX_TEST_FIFO": fifo}
    e.update(env or {})
    proc = spawn([PREPIX] + args + ["--progress", "none", "-w", "1"], env=e)
    proc.fifo = fifo
    wait_stderr(proc, f"stopped on {key}")
    return proc


def resume_run(proc, timeout=120):
    """Lets the stopped worker go on (it opens the FIFO and reads a byte); waits for the end."""
    with open(proc.fifo, "wb") as f:
        f.write(b"g")
    return finish(proc, timeout)


def samples_tar(path, n, sidecars=True, seed=0):
    members = []
    for i in range(n):
        members.append((f"{i:03d}.jpg", jpg(seed + i)))
        if sidecars:
            members.append((f"{i:03d}.txt", b"caption %d" % i))
    make_tar(path, members)


def archive_changes():
    """Item 5: an archive cut short or replaced after listing fails its own entries; the job
    goes on (exit 3), other inputs are done, nothing is fatal."""
    t = tmpdir()
    for sidecars in (True, False):
        inp = f"{t}/in-{sidecars}"
        os.makedirs(f"{inp}/a")
        with open(f"{inp}/a/x.jpg", "wb") as f:
            f.write(jpg(50))
        samples_tar(f"{inp}/s.tar", 10, sidecars)
        # Cut in half while the first image waits.
        out = f"{t}/cut-{sidecars}"
        proc = stopped_run(["run", "-i", inp, "-o", out, "-f", "tar", "--shard-size", "5"],
                           "a/x.jpg")
        os.truncate(f"{inp}/s.tar", os.path.getsize(f"{inp}/s.tar") // 2)
        rc, err = resume_run(proc)
        check(rc == 3, f"cut (sidecars {sidecars}): exit {rc}: {err}")
        rep = report(out)
        check(rep["images"]["failed"] > 0 and rep["images"]["ok"] >= 1, rep["images"])
        check(rep["images"]["ok"] + rep["images"]["failed"] == 11, rep["images"])
        check(all(f["path"].startswith(f"{inp}/s.tar/") for f in rep["failures"]),
              rep["failures"])
        samples_tar(f"{inp}/s.tar", 10, sidecars)
        # Replaced by its owner with a 300-byte file.
        out = f"{t}/repl-{sidecars}"
        proc = stopped_run(["run", "-i", inp, "-o", out, "-f", "tar", "--shard-size", "5"],
                           "a/x.jpg")
        with open(f"{inp}/s.tar.new", "wb") as f:
            f.write(b"\0" * 300)
        os.rename(f"{inp}/s.tar.new", f"{inp}/s.tar")
        rc, err = resume_run(proc)
        check(rc == 3, f"replaced (sidecars {sidecars}): exit {rc}: {err}")
        rep = report(out)
        check(rep["images"] == {**rep["images"], "ok": 1, "failed": 10}, rep["images"])
        check(all("listed" in f["error"] for f in rep["failures"]), rep["failures"])
        check(list(shard_members(out)) == ["000000000.jpg", "000000000.cls"],
              sorted(shard_members(out)))


def as_couser(path):
    """Gives path (a file or folder made by the test) to the co-user."""
    os.lchown(path, COUSER, COUSER)


SECRET = b"ROOT-ONLY-SECRET-" * 8192


def secret_file(t):
    p = f"{t}/secret/id_key"
    os.makedirs(f"{t}/secret", mode=0o700)
    with open(p, "wb") as f:
        f.write(SECRET)
    os.chmod(p, 0o600)
    return p


def couser_home():
    """A test folder with root's secret file and the co-user's home folder in it."""
    need_root()
    t = tmpdir()
    os.chmod(t, 0o755)
    secret = secret_file(t)
    home = f"{t}/home"
    os.makedirs(home)
    as_couser(home)
    return t, secret, home


def leaked(out):
    """Whether any output holds bytes of the secret: a shard's sidecars must be the captions
    samples_tar wrote (a few bytes of the secret would pass for one), other files are
    searched for its text."""
    for name, body in shard_members(out).items():
        if name.endswith(".txt") and not body.startswith(b"caption "):
            return True
    for d, _, files in os.walk(out):
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                if b"ROOT-ONLY-SECRET" in fh.read():
                    return True
    return False


def couser_swap():
    """Item 6: an archive named in a list (or met in a walk) that its owner replaces after
    listing with a link to a root-only file is refused, never read: deterministic with a
    worker stopped before the archive's last image, for lists and walks, with and without
    --follow-symlinks, both transports."""
    t, secret, home = couser_home()
    with open(f"{home}/a.jpg", "wb") as f:
        f.write(jpg(3))
    with open(f"{home}/list.txt", "w") as f:
        f.write("a.jpg\ns.tar\n")
    cases = [(["-i", f"@{home}/list.txt"], []), (["-i", f"@{home}/list.txt"],
                                                  ["--follow-symlinks"]),
             (["-i", home], ["--follow-symlinks"]), (["-i", home], [])]
    for n, (inp, extra) in enumerate(cases):
        for transport in ("paths", "bytes"):
            samples_tar(f"{home}/s.tar", 3)
            as_couser(f"{home}/s.tar")
            out = f"{t}/out-{n}-{transport}"
            proc = stopped_run(["run"] + inp + ["-o", out, "-f", "tar", "--shard-size", "10",
                                                "--transport", transport] + extra,
                               "s.tar/002.jpg")
            link = f"{home}/link"
            os.symlink(secret, link)
            as_couser(link)
            os.rename(link, f"{home}/s.tar")
            rc, err = resume_run(proc)
            check(not leaked(out), f"{inp} {extra} {transport}: the secret was published")
            check(rc == 3, f"{inp} {extra} {transport}: exit {rc}: {err}")
            # 000 and 001 were read before the swap, their sidecars (read with the shard)
            # after it; 002 after it.
            fl = report(out)["failures"]
            check(len(fl) == 3 and all(f["code"] == "ECHANGED" for f in fl), fl)
            os.unlink(f"{home}/s.tar")


def couser_swap_race():
    """Item 6 as a bounded race: a co-user process swaps its archive and a link to a
    root-only file back and forth while root runs; hits must be 0."""
    t, secret, home = couser_home()
    samples_tar(f"{home}/real.tar", 20)
    with open(f"{home}/list.txt", "w") as f:
        f.write("s.tar\n")
    for p in (f"{home}/real.tar", f"{home}/list.txt"):
        as_couser(p)
    with open(f"{home}/real.tar", "rb") as f:
        real = f.read()
    swapper = os.fork()
    if swapper == 0:
        # The co-user: its archive and a link to root's file, in turn, each renamed over
        # s.tar (a fresh file each time, so every rename changes what s.tar names).
        try:
            os.setgroups([])
            os.setgid(COUSER)
            os.setuid(COUSER)
            while True:
                os.symlink(secret, f"{home}/l")
                os.rename(f"{home}/l", f"{home}/s.tar")
                with open(f"{home}/r", "wb") as f:
                    f.write(real)
                os.rename(f"{home}/r", f"{home}/s.tar")
        finally:
            os._exit(0)
    hits = runs = 0
    codes = {}
    try:
        for i in range(40):
            out = f"{t}/out-{i}"
            p = prun(["run", "-i", f"@{home}/list.txt", "-o", out, "-f", "tar",
                      "--shard-size", "100", "--follow-symlinks"])
            codes[p.returncode] = codes.get(p.returncode, 0) + 1
            runs += 1
            hits += leaked(out)
            shutil.rmtree(out, ignore_errors=True)
    finally:
        os.kill(swapper, signal.SIGKILL)
        os.waitpid(swapper, 0)
    print(f"couser_swap_race: {hits} leaks in {runs} runs (exit codes {codes})")
    check(hits == 0, f"{hits} of {runs} runs published the root-only file")


def mode_inputs(t):
    """A 0600 archive of two images and a 0644 image, in t/in."""
    inp = f"{t}/in"
    os.makedirs(inp)
    samples_tar(f"{inp}/private.tar", 2, sidecars=False)
    os.chmod(f"{inp}/private.tar", 0o600)
    with open(f"{inp}/open.jpg", "wb") as f:
        f.write(jpg(8))
    os.chmod(f"{inp}/open.jpg", 0o644)
    return inp


def shard_modes(t, inp, mpi_np):
    """The shards of mode_inputs with --copy-mode are 0600, both formats and transports."""
    old = os.umask(0o022)
    try:
        for fmt, extra in (("tar", []), ("npy", ["-p", "resize 16x16 fit=fill"])):
            for transport in ("paths", "bytes"):
                out = f"{t}/o-{fmt}-{transport}-{mpi_np}"
                prun(["run", "-i", inp, "-o", out, "-f", fmt, "--copy-mode", "--transport",
                      transport] + extra, check=0, mpi_np=mpi_np)
                for name in os.listdir(out):
                    if name.startswith("shard-"):
                        m = stat.S_IMODE(os.stat(f"{out}/{name}").st_mode)
                        check(m == 0o600, f"{fmt} {transport} -np {mpi_np} {name}: {oct(m)}")
    finally:
        os.umask(old)


def copy_mode():
    """Item 9: --copy-mode gives an archive member its archive's mode and a shard the most
    restrictive mode of the images it holds."""
    t = tmpdir()
    inp = mode_inputs(t)
    old = os.umask(0o022)
    try:
        out = f"{t}/o1"
        prun(["run", "-i", inp, "-o", out, "-f", "jpeg", "--copy-mode"], check=0)
        for n in ("private/000.jpg", "private/001.jpg"):
            m = stat.S_IMODE(os.stat(f"{out}/{n}").st_mode)
            check(m == 0o600, f"{n}: {oct(m)}")
        check(stat.S_IMODE(os.stat(f"{out}/open.jpg").st_mode) == 0o644, "open.jpg")
    finally:
        os.umask(old)
    shard_modes(t, inp, None)


def copy_mode_np2():
    """Item 9 across ranks (label mpi): a shard written by rank 0 from another rank's images
    (bytes transport) or by another rank (paths) keeps the most restrictive mode."""
    t = tmpdir()
    shard_modes(t, mode_inputs(t), 2)


def list_nofollow():
    """Item 10: one rule for links named in a list: with --no-follow-symlinks a list line
    that is a link to an image is refused, as an archive named in a list is."""
    t = tmpdir()
    with open(f"{t}/real.jpg", "wb") as f:
        f.write(jpg(4))
    os.symlink(f"{t}/real.jpg", f"{t}/link.jpg")
    samples_tar(f"{t}/real.tar", 1)
    os.symlink(f"{t}/real.tar", f"{t}/link.tar")
    with open(f"{t}/list.txt", "w") as f:
        f.write("link.jpg\nlink.tar\n")
    out = f"{t}/out"
    p = prun(["run", "-i", f"@{t}/list.txt", "-o", out, "-f", "jpeg", "--no-follow-symlinks"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    check(tree(out) == {}, sorted(tree(out)))
    fl = report(out)["failures"]
    check(len(fl) == 2 and all(f["code"] == "ELOOP" for f in fl), fl)
    out2 = f"{t}/out2"
    p = prun(["run", "-i", f"@{t}/list.txt", "-o", out2, "-f", "jpeg", "--follow-symlinks"])
    check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
    check(sorted(tree(out2)) == ["link.jpg", "link/000.jpg"], sorted(tree(out2)))


def link_tar_input():
    """Item 12: an archive named as INPUT is read as named, through a link too (as a linked
    INPUT folder is), whoever runs it."""
    t = tmpdir()
    samples_tar(f"{t}/real.tar", 3)
    os.symlink(f"{t}/real.tar", f"{t}/link.tar")
    for extra in ([], ["--no-follow-symlinks"], ["--transport", "bytes"]):
        out = f"{t}/out{len(extra)}"
        p = prun(["run", "-i", f"{t}/link.tar", "-o", out, "-f", "jpeg"] + extra)
        check(p.returncode == 0, f"{extra}: exit {p.returncode}: {p.stderr}")
        check(sorted(tree(out)) == ["link/000.jpg", "link/001.jpg", "link/002.jpg"],
              sorted(tree(out)))


def class_tars():
    """Item 13: a folder of class tars (what `tar xf ILSVRC2012_img_train.tar` leaves) is
    labelled by the tars' stems, as the tar of tars is."""
    t = tmpdir()
    train = f"{t}/train"
    os.makedirs(train)
    for n, cls in enumerate(("n01440764", "n01443537")):
        make_tar(f"{train}/{cls}.tar", [(f"{cls}_{i}.JPEG", jpg(10 * n + i)) for i in range(2)])
    out = f"{t}/out"
    p = prun(["run", "-i", train, "-o", out, "-f", "tar"])
    check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
    with open(f"{out}/classes.txt", encoding="utf-8") as f:
        check(f.read().split() == ["n01440764", "n01443537"], "classes.txt")
    with open(f"{out}/index.csv", encoding="utf-8") as f:
        rows = [r.split(",") for r in f.read().splitlines()[1:]]
    check([r[2] for r in rows] == ["0", "0", "1", "1"], rows)


def long_member_name():
    """Item 14: a member name over 4095 bytes is a failure at stage input, not a skipped
    non-image (cut, it lost its .jpg)."""
    t = tmpdir()
    long = "d/" * 2100 + "x.jpg"
    with open(f"{t}/s.tar", "wb") as f:
        f.write(tc.with_tarfile([(tc.info("ok.jpg"), jpg(1)), (tc.info(long), jpg(2))],
                                fmt=tarfile.PAX_FORMAT))
    out = f"{t}/out"
    p = prun(["run", "-i", f"{t}/s.tar", "-o", out, "-f", "jpeg"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    rep = report(out)
    check(rep["images"]["skipped"] == 0, rep["images"])
    fl = rep["failures"]
    check(len(fl) == 1 and fl[0]["stage"] == "input" and fl[0]["code"] == "ENAMETOOLONG", fl)


def archive_messages():
    """Item 16: an archive that cannot be opened says so (not 'cannot read this folder'), and
    one that was always a link says it is a link not followed (not 'replaced during the
    walk')."""
    t = tmpdir()
    inp = f"{t}/in"
    os.makedirs(inp)
    samples_tar(f"{t}/real.tar", 1)
    os.symlink(f"{t}/real.tar", f"{inp}/link.tar")
    out = f"{t}/out"
    p = prun(["run", "-i", inp, "-o", out, "-f", "jpeg", "--no-follow-symlinks"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    fl = report(out)["failures"]
    check(len(fl) == 1 and fl[0]["error"] == "a symbolic link, not followed (--follow-symlinks)",
          fl)
    if os.geteuid() != 0:
        return
    # Unreadable: a run by the co-user, who may not read a 0600 archive of root's.
    inp2 = f"{t}/in2"
    os.makedirs(inp2)
    samples_tar(f"{inp2}/closed.tar", 1)
    os.chmod(f"{inp2}/closed.tar", 0o600)
    out2 = f"{t}/out2"
    os.makedirs(out2)
    for p_ in (t, inp2, out2):
        os.chmod(p_, 0o755)
    as_couser(out2)
    p = subprocess.run([PREPIX, "run", "-i", inp2, "-o", out2, "-f", "jpeg", "--progress",
                        "none"], capture_output=True, text=True, user=COUSER, group=COUSER)
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    fl = report(out2)["failures"]
    check(len(fl) == 1 and fl[0]["error"].startswith("cannot open this archive: Permission "
                                                     "denied"), fl)


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (
        dotdot_stems, input_in_outdir, sidecar_long_ext, sidecar_huge, archive_changes,
        couser_swap, couser_swap_race, copy_mode, copy_mode_np2, list_nofollow, link_tar_input,
        class_tars, long_member_name, archive_messages)}))

"""Security (issue 11): safe on shared folders and when run as root. The attacker is another
local user who can write into INPUT, OUTDIR or /tmp: the plants below are what that user could
make (links owned by uid ATTACKER, set with lchown). Cases that need root say so and skip."""
import itertools
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

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
    check(p.returncode == 2 and ".prepix" in p.stderr, f"foreign .prepix: {p.returncode} {p.stderr}")
    check(os.listdir(os.path.join(out, ".prepix")) == [], "wrote into a foreign .prepix")


def no_raw_controls(p, what):
    """Nothing of p's output can drive a terminal: no ESC, no BEL; the text is shown escaped."""
    both = p.stdout + p.stderr
    check("\x1b" not in both and "\x07" not in both, f"{what}: raw control characters: {both!r}")
    check("\\u001b" in both, f"{what}: not shown escaped: {both!r}")


def run_identity_escaped():
    """OUTDIR/.prepix/run with escape sequences in its pipeline= value (a window title, a clear
    screen, a fake "done" line): every message quoting it shows them escaped (issue 19.8)."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=2)
    out = os.path.join(t, "out")
    args = ["run", "-i", inp, "-o", out, "-p", "resize 16", "--progress", "none"]
    run(args, check=0)
    ident = os.path.join(out, ".prepix", "run")
    with open(ident) as f:
        lines = f.read().splitlines()
    lines = ["pipeline=\x1b]0;owned\x07\x1b[2Jprepix: done: 0 failed" if l.startswith("pipeline=")
             else l for l in lines]
    with open(ident, "w") as f:
        f.write("\n".join(lines) + "\n")
    for extra in ([], ["--resume"], ["--resume", "--dry-run"]):
        p = run(args + extra)
        check(p.returncode == 2 and "pipeline" in p.stderr, f"{extra}: exit {p.returncode}: "
              f"{p.stderr!r}")
        no_raw_controls(p, extra)


def fnv1a(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
    return h


def journal_failure_escaped():
    """A journal record whose failure message holds escape sequences (its checksum made right):
    the resumed run's summary shows them escaped."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=2)
    with open(os.path.join(inp, "bad.jpg"), "wb") as f:
        f.write(b"not an image at all")
    out = os.path.join(t, "out")
    args = ["run", "-i", inp, "-o", out, "-p", "resize 16", "--progress", "none"]
    run(args, check=3)
    jpath = os.path.join(out, ".prepix", "journal-1-0.bin")
    with open(jpath, "rb") as f:
        j = bytearray(f.read())
    q, planted = 0, 0
    while q + 16 <= len(j):
        n = int.from_bytes(j[q + 8:q + 16], "little")
        body = j[q + 16:q + 16 + n]
        at = body.find(b"not a JPEG")
        if at >= 0:
            body[at:at + 10] = b"\x1b[2J\x1b]0;x\x07"
            j[q + 16:q + 16 + n] = body
            j[q + 16 + n:q + 24 + n] = fnv1a(body).to_bytes(8, "little")
            planted += 1
        q += 24 + n
    check(planted == 1, f"{planted} records planted")
    with open(jpath, "wb") as f:
        f.write(j)
    p = run(args + ["--resume"])
    check(p.returncode == 3 and "bad.jpg" in p.stderr and "already done" in p.stderr,
          f"exit {p.returncode}: {p.stderr!r}")
    no_raw_controls(p, "resumed failure")


def foreign_prepix_refused():
    """OUTDIR/.prepix owned by another user, writable by others, or a link: refused (exit 2)
    naming what is wrong, before anything in it is opened: a FIFO planted as its `run` is never
    read, nothing is created in it. With and without --resume, and for --dry-run."""
    need_root()
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=2)
    said = {"owner": "owned by user 54321", "mode": "writable by", "link": "real folder"}
    for what, phrase in said.items():
        out = os.path.join(t, what)
        os.makedirs(out)
        jd = os.path.join(out, ".prepix")
        real = os.path.join(t, what + "-real") if what == "link" else jd
        os.makedirs(real, mode=0o700)
        os.mkfifo(os.path.join(real, "run"))
        if what == "link":
            os.symlink(real, jd)
        elif what == "owner":
            os.chown(jd, ATTACKER, ATTACKER)
        else:
            os.chmod(jd, 0o777)
        for extra in ([], ["--resume"], ["--dry-run"]):
            p = run(["run", "-i", inp, "-o", out, "-p", "resize 16", "--progress", "none"] + extra,
                    timeout=60)
            check(p.returncode == 2, f"{what} {extra}: exit {p.returncode}: {p.stderr}")
            check(".prepix" in p.stderr and phrase in p.stderr, f"{what} {extra}: {p.stderr}")
            check("FIFO" not in p.stderr and "cannot read" not in p.stderr,
                  f"{what} {extra}: read inside: {p.stderr}")
            check(os.listdir(real) == ["run"], f"{what} {extra}: wrote in it: {os.listdir(real)}")
            check(sorted(os.listdir(out)) == [".prepix"], f"{what} {extra}: {os.listdir(out)}")


def report_targets():
    """Report paths: a link is never followed, whoever owns it (the rename replaces it); a device
    is refused, never written or renamed over; the exact names "-", /dev/stdout, /dev/stderr and
    /dev/null still work; no plantable temporary name is used."""
    need_root()
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=3)
    dev = os.path.join(t, "null")
    os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    p = run(["stats", "-i", inp, "--report", dev, "--progress", "none"])
    check(p.returncode == 1 and f"cannot write the report {dev}" in p.stderr and
          "character device" in p.stderr, f"device: exit {p.returncode}: {p.stderr}")
    check(stat.S_ISCHR(os.lstat(dev).st_mode), "the device node was replaced")
    sticky = os.path.join(t, "tmp")
    os.makedirs(sticky)
    os.chmod(sticky, 0o1777)
    vic, h = victim(t)
    fifo = os.path.join(t, "fifo")
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    at = os.path.join(sticky, "r.json")
    # Another user's link and root's own, to a file and to a FIFO with a reader: none is followed.
    for owner, target in itertools.product((ATTACKER, 0), (vic, fifo)):
        plant_link(target, at, owner)
        plant_link(target, os.path.join(sticky, ".r.json.ppxtmp"), owner)
        p = run(["stats", "-i", inp, "--report", at, "--progress", "none"], timeout=60)
        try:
            got = os.read(reader, 1 << 20)
        except BlockingIOError:
            got = b""
        check(sha(vic) == h and got == b"", f"written through a link of uid {owner} to {target}")
        check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
        check(os.path.isfile(at) and not os.path.islink(at), "report not written")
        os.unlink(at)
        os.unlink(os.path.join(sticky, ".r.json.ppxtmp"))
    os.close(reader)
    # The standard streams and /dev/null by their exact names, as "-" is: never renamed over.
    for name in ("-", "/dev/stdout", "/dev//stdout"):
        p = run(["stats", "-i", inp, "--report", name, "--progress", "none"])
        check(p.returncode == 0 and '"channel_stats"' in p.stdout, f"{name}: {p.returncode} "
              f"{p.stderr}")
    p = run(["stats", "-i", inp, "--report", "/dev/stderr", "--progress", "none"])
    check(p.returncode == 0 and '"channel_stats"' in p.stderr, f"{p.returncode} {p.stderr}")
    p = run(["stats", "-i", inp, "--report", "/dev/null", "--progress", "none"])
    check(p.returncode == 0 and '"channel_stats"' not in p.stdout, f"{p.returncode} {p.stderr}")
    check(stat.S_ISCHR(os.lstat("/dev/null").st_mode) and stat.S_ISLNK(os.lstat("/dev/stdout")
          .st_mode), "a standard device was replaced")


def as_attacker():
    """In a forked child: become uid ATTACKER (group too), as a co-user would be."""
    os.setgroups([])
    os.setgid(ATTACKER)
    os.setuid(ATTACKER)


def report_swap_race():
    """A co-user swaps, as fast as rename allows, a FIFO and links to root-only files at a report
    path in a folder of theirs, while root runs `prepix stats --report` there (issue 19.7, 55 of
    500 runs wrote onto a root-only device). No run may change a root-only file or hang."""
    need_root()
    t = tmpdir()
    os.chmod(t, 0o755)  # mkdtemp makes it 0700: the co-user must reach their folder
    inp = os.path.join(t, "in")
    data.make(inp, n=2)
    secret = os.path.join(t, "secret")
    os.makedirs(secret, mode=0o700)
    precious, h = victim(secret)
    os.chmod(precious, 0o600)
    # A root-only FIFO stands for the root-only device: what is written into it can be seen.
    device = os.path.join(secret, "device")
    os.mkfifo(device, 0o600)
    dev_fd = os.open(device, os.O_RDONLY | os.O_NONBLOCK)
    shared = os.path.join(t, "shared")
    os.makedirs(shared)
    os.chown(shared, ATTACKER, ATTACKER)
    at = os.path.join(shared, "r.json")
    pid = os.fork()
    if pid == 0:  # the co-user: never returns
        try:
            as_attacker()
            held = []
            for i in itertools.count():
                f, l1, l2 = (os.path.join(shared, f".{n}{i}") for n in "fab")
                os.mkfifo(f)
                # Held open without reading: a writer's open succeeds, its data stays.
                held.append(os.open(f, os.O_RDONLY | os.O_NONBLOCK))
                if len(held) > 4:
                    os.close(held.pop(0))
                os.symlink(precious, l1)
                os.symlink(device, l2)
                os.rename(f, at)
                os.rename(l2, at)
                os.rename(l1, at)
        finally:
            os._exit(1)
    hits, hung = [], 0
    try:
        for i in range(300):
            try:
                p = run(["stats", "-i", inp, "--report", at, "--progress", "none", "-w", "1"],
                        timeout=30)
            except subprocess.TimeoutExpired:
                hung += 1
                continue
            try:
                leaked = os.read(dev_fd, 1 << 20)
            except BlockingIOError:
                leaked = b""
            if leaked or sha(precious) != h:
                hits.append((i, p.returncode, p.stderr[-300:]))
                with open(precious, "w") as f:
                    f.write("precious\n")
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(dev_fd)
    check(not hits and not hung, f"{len(hits)} of 300 runs wrote a root-only file, {hung} hung: "
          f"{hits[:3]}")


def report_fifo_refused():
    """A FIFO at a report path, held open by a reader that never reads (or by no one), and a
    socket there: refused at once naming the path, nothing written into them, nothing hangs."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=2)
    fifo = os.path.join(t, "r.json")
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    for held in (True, False):
        if not held:
            os.close(reader)
        p = run(["stats", "-i", inp, "--report", fifo, "--progress", "none"], timeout=60)
        check(p.returncode == 1, f"FIFO (held: {held}): exit {p.returncode}: {p.stderr}")
        check(f"cannot write the report {fifo}" in p.stderr and "FIFO" in p.stderr, p.stderr)
        if held:
            try:
                got = os.read(reader, 1 << 20)
            except BlockingIOError:
                got = b""
            check(got == b"", f"{len(got)} bytes of the report went into the FIFO")
    check(stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced")
    sock_path = os.path.join(t, "s.json")
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock_path)
    p = run(["stats", "-i", inp, "--report", sock_path, "--progress", "none"], timeout=60)
    s.close()
    check(p.returncode == 1 and "socket" in p.stderr and sock_path in p.stderr,
          f"socket: exit {p.returncode}: {p.stderr}")


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
    # Chunks go out while the walk goes on: swap only once it has listed z (the run's
    # identity stops saying "listing=pending" at the walk's end), as the docstring says.
    ident = os.path.join(out, ".prepix", "run")
    deadline = time.monotonic() + 60
    while True:
        try:
            with open(ident) as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        if "listing=" in text and "listing=pending" not in text:
            break
        check(time.monotonic() < deadline, f"the walk did not end: {text!r}")
        time.sleep(0.01)
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
    sys.exit(main({f.__name__: f for f in (outdir_plants, journal_plants, run_identity_escaped,
                                           journal_failure_escaped, foreign_prepix_refused,
                                           report_targets,
                                           report_swap_race, report_fifo_refused, input_links,
                                           folder_swap, modes, escaped_names,
                                           release_without_hooks)}))

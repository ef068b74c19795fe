"""Hostile archives (issue 14): every bad tar is input like any other. Each case
makes its archive at test time (tarcraft.py, Python's tarfile), runs
`prepix run -i X.tar -o OUT` and, where it is cheap, the same archive met in a
folder walk (`-i FOLDER`), and checks
 - the exit code (3 when something failed, 0 when members were only skipped);
 - one failure entry {path, stage, error} per bad thing, with its reason;
 - nothing written outside OUTDIR: everything beside it (a sentinel folder, the
   input) is hashed before and after; for '..' and absolute member names, no
   file appears where they point;
 - bounded time (each run has a timeout) and bounded memory: the maximum
   resident set of the run's processes (wait4's ru_maxrss, which is the
   largest of prepix and its reaped workers) stays under RSS_MAX_MB, 4 times
   that under a sanitizer build; the tar bomb states its bound per member.
"""
import gzip
import io
import os
import random
import select
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
import tarcraft as tc  # noqa: E402
from lib import PREPIX, check, main, report, snapshot, tmpdir  # noqa: E402

# A run of a few small archives: prepix, its workers and the libraries they
# map stay well under this (about 30 MB measured on the dev build).
RSS_MAX_MB = 128


def sanitized():
    with open(PREPIX, "rb") as f:
        return b"__asan_init" in f.read()


SCALE = 4 if sanitized() else 1


def jpg(seed, w=48, h=40):
    b = io.BytesIO()
    data.photo_like(w, h, seed).save(b, "JPEG", quality=85)
    return b.getvalue()


# Linux keeps a process's peak RSS across exec, so a child forked from this
# test (which holds the tar bomb's 100 MB) would report at least that. prepix
# is started from a small Python that reports its wait4 usage instead, as
# /usr/bin/time does.
WRAP = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
sys.stderr.write("\\nPPX_MAXRSS_KB %d\\n" % ru.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status) & 255)
"""


def measured(args, timeout):
    """Runs prepix with args; returns (exit code, stderr, max RSS in MB, seconds). The
    RSS is the largest of prepix and its reaped workers. Output goes to a file (a run
    that fails thousands of images writes a long stderr); the wait is on a pidfd, so
    the timeout holds without sleeping."""
    e = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    errf = io.open(os.path.join(tmpdir(), "stderr"), "w+b")
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", WRAP, PREPIX] + args, env=e,
                            stdout=subprocess.DEVNULL, stderr=errf, start_new_session=True)
    fd = os.pidfd_open(proc.pid)
    try:
        if not select.select([fd], [], [], timeout)[0]:
            os.killpg(proc.pid, 9)
            proc.wait()
            raise AssertionError(f"prepix {' '.join(args)}: not done within {timeout} s")
    finally:
        os.close(fd)
    code = proc.wait()
    secs = time.monotonic() - start
    errf.seek(0)
    err = errf.read().decode(errors="replace")
    errf.close()
    err, _, rss = err.rpartition("\nPPX_MAXRSS_KB ")
    check(rss.strip().isdigit(), f"no usage from the wrapper: {err[-2000:]}")
    return code, err, int(rss) / 1024.0, secs


class Case:
    """One hostile archive in T/in/NAME, with a sentinel folder beside OUTDIR."""

    def __init__(self, name, blob):
        self.t = tmpdir()
        self.inp = os.path.join(self.t, "in")
        os.makedirs(self.inp)
        self.path = os.path.join(self.inp, name)
        with open(self.path, "wb") as f:
            f.write(blob)
        os.makedirs(os.path.join(self.t, "sentinel"))
        with open(os.path.join(self.t, "sentinel", "keep.jpg"), "wb") as f:
            f.write(b"sentinel")
        self.runs = 0

    def run(self, expect, extra=(), walk=False, timeout=120, rss_mb=RSS_MAX_MB):
        """prepix run on the archive (or on its folder, walk=True); checks the exit code,
        that nothing beside OUTDIR changed, the time and the memory; returns the report."""
        self.runs += 1
        out = os.path.join(self.t, f"out{self.runs}")
        before = snapshot(self.t, out)
        args = ["run", "-i", self.inp if walk else self.path, "-o", out, "-p", "resize 16",
                "-w", "2", "--progress", "none"] + list(extra)
        code, err, rss, secs = measured(args, timeout)
        check(code == expect, f"{' '.join(args)}: exit {code}, expected {expect}: {err[-3000:]}")
        check(snapshot(self.t, out) == before, "a file outside OUTDIR appeared or changed")
        check(rss <= rss_mb * SCALE, f"max RSS {rss:.0f} MB, over {rss_mb * SCALE} MB")
        print(f"{' '.join(args[:4])}{' (walk)' if walk else ''} {' '.join(extra)}: exit {code}, "
              f"{secs:.2f} s, max RSS {rss:.1f} MB")
        self.out = out
        return report(out)

    def both(self, expect, extra=()):
        """The archive as -i X.tar and met in a walk: same images, same failures."""
        a = self.run(expect, extra)
        b = self.run(expect, extra, walk=True)
        check(a["images"] == b["images"], f"{a['images']} != {b['images']} (walk)")
        check(a["failures"] == b["failures"], f"{a['failures']} != {b['failures']} (walk)")
        return a

    def key(self, member=None):
        """The report's path of the archive, or of one of its members."""
        return self.path + ("/" + member if member else "")


def failures(rep):
    return {f["path"]: f for f in rep["failures"]}


def expect_failure(rep, path, *words):
    fs = failures(rep)
    check(path in fs, f"no failure entry for {path}: {rep['failures']}")
    f = fs[path]
    check(f["stage"] and f["error"], f)
    for w in words:
        check(w in f["error"], f"{path}: '{w}' not in '{f['error']}'")


def outputs(out):
    got = []
    for d, dirs, files in os.walk(out):
        dirs[:] = [x for x in dirs if x != ".prepix"]
        got += [os.path.relpath(os.path.join(d, f), out) for f in files
                if not f.startswith("prepix-report.") and f not in ("duplicates.txt",
                                                                     "geometry.csv")]
    return sorted(got)


def three():
    return [("a.jpg", jpg(1)), ("b.jpg", jpg(2)), ("c.jpg", jpg(3))]


def ustar(members):
    return b"".join(tc.member(n, d) for n, d in members) + tc.end()


def truncated():
    """Cut inside a member's data: the member before it is read, the cut one is a
    failure saying truncated; cut inside a header: the same for the archive."""
    m = three()
    blob = ustar(m)
    a_end = 512 + len(tc.pad(m[0][1]))
    c = Case("cut_member.tar", blob[:a_end + 512 + len(m[1][1]) // 2])
    rep = c.both(3)
    check(rep["images"]["ok"] == 1, rep["images"])
    expect_failure(rep, c.key("b.jpg"), "truncated")
    check(len(rep["failures"]) == 1, f"one failure for one cut: {rep['failures']}")
    check(outputs(c.out) == ["cut_member/a.jpg"], outputs(c.out))
    c = Case("cut_first.tar", blob[:300])
    rep = c.both(3)
    check(rep["images"]["total"] == 1, rep["images"])
    expect_failure(rep, c.key(), "truncated")
    c = Case("cut_header.tar", blob[:a_end + 300])
    rep = c.both(3)
    check(rep["images"]["ok"] == 1, rep["images"])
    expect_failure(rep, c.key(), "truncated")
    check(len(rep["failures"]) == 1, rep["failures"])
    # A tar of tars cut inside the inner tar's second member (the fuzzer's first find: the
    # inner tar was read to its header's size, past the file, and b.jpg was listed as
    # whole): the member is named, and the outer archive says it was cut.
    outer = ustar([("o.jpg", jpg(4)), ("inner.tar", blob)])
    at = outer.index(blob) + a_end + 512 + len(m[1][1]) // 2
    c = Case("cut_outer.tar", outer[:at])
    rep = c.both(3)
    check(rep["images"]["ok"] == 2, rep["images"])
    expect_failure(rep, c.key("inner.tar/b.jpg"), "truncated")
    expect_failure(rep, c.key(), "truncated")
    check(len(rep["failures"]) == 2, rep["failures"])


def size_past_end():
    """A member whose size field runs past the end of the archive: named, truncated."""
    blob = (tc.member("a.jpg", jpg(1)) + tc.header("big.jpg", 1 << 20) + tc.pad(jpg(2)) +
            tc.end())
    c = Case("past.tar", blob)
    rep = c.both(3)
    check(rep["images"]["ok"] == 1, rep["images"])
    expect_failure(rep, c.key("big.jpg"), "truncated")
    check(len(rep["failures"]) == 1, rep["failures"])


def negative_size():
    """A base-256 size of -1 (and of -2^40): the header is not a tar header."""
    for v in (-1, -(1 << 40)):
        blob = (tc.member("a.jpg", jpg(1)) +
                tc.header("neg.jpg", size_field=tc.base256(v, 12)) + tc.pad(jpg(2)) +
                tc.member("c.jpg", jpg(3)) + tc.end())
        c = Case("neg.tar", blob)
        rep = c.both(3)
        check(rep["images"]["ok"] == 1, rep["images"])
        expect_failure(rep, c.key(), "damaged")
        check(len(rep["failures"]) == 1, rep["failures"])


def huge_size():
    """A base-256 size of about 2^62 (and 2^63 - 1): never allocated, never waited on;
    and extension headers (pax, GNU long names) that say they hold 1 GiB."""
    for v in ((1 << 62) + 12345, (1 << 63) - 1):
        blob = (tc.member("a.jpg", jpg(1)) +
                tc.header("huge.jpg", size_field=tc.base256(v, 12)) + tc.pad(jpg(2)) +
                tc.end())
        c = Case("huge.tar", blob)
        rep = c.both(3)
        check(rep["images"]["ok"] == 1, rep["images"])
        fs = failures(rep)
        check(len(fs) == 1, rep["failures"])
        f = next(iter(fs.values()))
        check(f["path"] in (c.key("huge.jpg"), c.key()), f)
        check("truncated" in f["error"] or "damaged" in f["error"], f)
    # A pax header, a global pax header and a GNU long name or long link whose size says
    # 1 GiB (libarchive would read those into memory): the archive fails, memory stays
    # bounded.
    for flag in (b"x", b"g", b"L", b"K"):
        blob = (tc.member("a.jpg", jpg(1)) + tc.header("ext", 1 << 30, typeflag=flag) +
                b"1" * 4096 + tc.end())
        c = Case("ext.tar", blob)
        rep = c.run(3)
        check(rep["images"]["ok"] == 1, rep["images"])
        expect_failure(rep, c.key())
        check(len(rep["failures"]) == 1, rep["failures"])


def checksum():
    """A bad header checksum: in the first header the archive is refused as damaged (it
    has ustar's magic: not 'not a tar'); in a later one the members before it are
    processed and the archive is a failure."""
    m = three()
    first = (tc.member(m[0][0], m[0][1], chksum_delta=1) + tc.member(*m[1]) + tc.end())
    c = Case("sum_first.tar", first)
    rep = c.both(3)
    check(rep["images"]["ok"] == 0, rep["images"])
    expect_failure(rep, c.key(), "damaged")
    check(len(rep["failures"]) == 1, rep["failures"])
    later = (tc.member(*m[0]) + tc.member(*m[1]) + tc.member(m[2][0], m[2][1], chksum_delta=-7) +
             tc.end())
    c = Case("sum_later.tar", later)
    rep = c.both(3)
    check(rep["images"]["ok"] == 2, rep["images"])
    expect_failure(rep, c.key(), "damaged")
    check(len(rep["failures"]) == 1, rep["failures"])
    check(outputs(c.out) == ["sum_later/a.jpg", "sum_later/b.jpg"], outputs(c.out))


def long_names():
    """GNU long names and pax headers are supported: a 200-byte name (GNU format)
    and a pax path (long, and not ASCII) are images like others."""
    long = "d" * 60 + "/" + "n" * 196 + ".jpg"
    pax = "p" * 120 + "/caf\u00e9-" + "x" * 100 + ".jpg"
    gnu = tc.with_tarfile([(tc.info(long), jpg(1)), (tc.info("s.jpg"), jpg(2))],
                          tarfile.GNU_FORMAT)
    c = Case("gnu.tar", gnu)
    rep = c.both(0)
    check(rep["images"]["ok"] == 2 and rep["failures"] == [], rep)
    check(outputs(c.out) == sorted(["gnu/" + long, "gnu/s.jpg"]), outputs(c.out))
    px = tc.with_tarfile([(tc.info(pax), jpg(3)), (tc.info(long), jpg(1))], tarfile.PAX_FORMAT)
    c = Case("pax.tar", px)
    rep = c.both(0)
    check(rep["images"]["ok"] == 2 and rep["failures"] == [], rep)
    check(outputs(c.out) == sorted(["pax/" + pax, "pax/" + long]), outputs(c.out))


def special_members():
    """Sparse (GNU and pax), character and block devices, a FIFO, a symlink and a
    hard link, all named like images: skipped and counted, never read; the one
    real image is processed and the run is a success."""
    special = (tc.header("dev/c.jpg", typeflag=b"3") + tc.header("dev/b.jpg", typeflag=b"4") +
               tc.header("fifo.jpg", typeflag=b"6") +
               tc.header("passwd.jpg", typeflag=b"2", linkname="/etc/passwd") +
               tc.header("hard.jpg", typeflag=b"1", linkname="real.jpg"))
    blob = (tc.member("real.jpg", jpg(1)) + special + tc.gnu_sparse("gs.jpg", jpg(2), 1 << 30) +
            tc.pax_sparse("ps.jpg", jpg(3), 1 << 30) + tc.end())
    c = Case("special.tar", blob)
    rep = c.both(0)
    check(rep["images"] == {"total": 1, "ok": 1, "failed": 0, "skipped": 7}, rep["images"])
    check(outputs(c.out) == ["special/real.jpg"], outputs(c.out))


def unsafe_names():
    """Member names with '..' and with a leading '/', and a symlink member followed
    by a file "through" it: '..' and '/' names are failure entries, never written,
    with -f same (per-image outputs) and -f tar; the link is never made, so the
    file under its name lands inside OUTDIR."""
    t = tmpdir()
    victim = os.path.join(t, "victim")
    os.makedirs(victim)
    names = ["../../../../escape.jpg", "a/../../up.jpg", "ok/../../../x.jpg",
             "/" + os.path.join(victim, "abs.jpg").lstrip("/"), ".."]
    blob = (tc.member("good.jpg", jpg(1)) +
            b"".join(tc.member(n, jpg(i + 2)) for i, n in enumerate(names)) +
            tc.header("../", typeflag=b"5") +
            tc.header("lnk", typeflag=b"2", linkname=victim) + tc.member("lnk/in.jpg", jpg(9)) +
            tc.end())
    c = Case("unsafe.tar", blob)
    for fmt in ("same", "tar"):
        rep = c.both(3, ["-f", fmt])
        check(rep["images"]["ok"] == 2, rep["images"])
        # Every regular member with such a name is a failure, an image's or not (".."); a
        # folder entry is never a file, never listed.
        unsafe = [f for f in rep["failures"] if "'..'" in f["error"]]
        check(len(unsafe) == 5, f"5 unsafe names listed: {rep['failures']}")
        check(len(rep["failures"]) == 5, rep["failures"])
        for f in unsafe:
            check(f["path"].startswith(c.key() + "/") and f["stage"] == "input", f)
        check(os.listdir(victim) == [], f"written through a name: {os.listdir(victim)}")
        for p in ("escape.jpg", "up.jpg", "x.jpg"):
            for d in (t, c.t, os.path.dirname(c.t), "/"):
                check(not os.path.exists(os.path.join(d, p)), f"{p} written in {d}")
        if fmt == "same":
            check(outputs(c.out) == ["unsafe/good.jpg", "unsafe/lnk/in.jpg"], outputs(c.out))
            check(not os.path.islink(os.path.join(c.out, "unsafe", "lnk")), "link made")


def tar_bomb():
    """200,000 empty .txt members and 3,000 empty .jpg members (a 100 MB tar): the
    listing keeps nothing of a member that is not an image (each sample is flushed as
    it ends) and a fixed record per listed one. Measured on the dev build: 2,000,000
    .txt members peak at the same 8 MB as 200,000 (nothing per skipped member); the
    listing costs about 75 bytes per image member (--dry-run, 3,000 vs 30,000), a
    whole run in which every member fails about 1.1 KB per member (its failure
    record, path and reason, kept for the report). The bound checked is 64 MB +
    2 KB per image member (the run peaks near 11 MB), and 120 s (it takes ~1 s)."""
    n_txt, n_jpg = 200_000, 3_000
    empty_txt = [tc.header(f"t/{i:06d}.txt") for i in range(n_txt)]
    empty_jpg = [tc.header(f"j/{i:05d}.jpg") for i in range(n_jpg)]
    # Images spread through the text, so every sample boundary is crossed.
    parts = []
    step = n_txt // n_jpg
    for i in range(n_jpg):
        parts.append(empty_jpg[i])
        parts.extend(empty_txt[i * step:(i + 1) * step])
    parts.extend(empty_txt[n_jpg * step:])
    c = Case("bomb.tar", b"".join(parts) + tc.end())
    del parts, empty_txt, empty_jpg
    bound = 64 + 2 * n_jpg / 1024
    rep = c.run(3, timeout=120, rss_mb=bound)
    check(rep["images"] == {"total": n_jpg, "ok": 0, "failed": n_jpg, "skipped": n_txt},
          rep["images"])
    check(len(rep["failures"]) == n_jpg, len(rep["failures"]))
    rep = c.run(3, ["-f", "tar"], timeout=120, rss_mb=bound)
    check(rep["images"]["skipped"] == n_txt, rep["images"])


def compressed():
    """.tar.gz and .tgz: `-i x.tar.gz` is a usage error (exit 2) saying why; met in a
    walk, inside a tar, or as gzip bytes named .tar, each is a failure entry."""
    plain = ustar(three())
    gz = gzip.compress(plain, mtime=0)
    t = tmpdir()
    for name in ("x.tar.gz", "x.tgz"):
        p = os.path.join(t, name)
        with open(p, "wb") as f:
            f.write(gz)
        code, err, _, _ = measured(["run", "-i", p, "-o", os.path.join(t, "o-" + name),
                                    "--progress", "none"], 60)
        if name == "x.tar.gz":
            check(code == 2 and "compressed" in err and "decompress" in err, f"{code}: {err}")
            check(not os.path.exists(os.path.join(t, "o-" + name)), "OUTDIR made")
        else:
            check(code == 2, f"{name}: exit {code}: {err}")
    c = Case("gz.tar", gz)
    for name in ("x.tar.gz", "x.tgz"):
        with open(os.path.join(c.inp, name), "wb") as f:
            f.write(gz)
    with open(os.path.join(c.inp, "outer.tar"), "wb") as f:
        f.write(ustar([("in.tar.gz", gz), ("ok.jpg", jpg(4))]))
    rep = c.run(3, walk=True)
    for k in ("gz.tar", "x.tar.gz", "x.tgz", "outer.tar/in.tar.gz"):
        expect_failure(rep, os.path.join(c.inp, k), "compressed", "decompress")
    check(rep["images"]["ok"] == 1 and len(rep["failures"]) == 4, rep)
    rep = c.run(3)
    expect_failure(rep, c.key(), "compressed")


def random_bytes():
    """Random bytes named .tar (and a text file): not a tar archive, one failure."""
    rnd = random.Random(14)
    for blob in (bytes(rnd.randrange(256) for _ in range(10000)), b"hello, world\n" * 100):
        c = Case("noise.tar", blob)
        rep = c.both(3)
        check(rep["images"]["total"] == 1 and rep["images"]["ok"] == 0, rep["images"])
        expect_failure(rep, c.key(), "not a tar")


def nested_deep():
    """outer.tar holding mid.tar holding inner.tar: mid's images are read (one level),
    inner.tar is a failure entry saying only one level is read."""
    inner = ustar([("deep.jpg", jpg(1))])
    mid = ustar([("m.jpg", jpg(2)), ("inner.tar", inner)])
    c = Case("outer.tar", ustar([("o.jpg", jpg(3)), ("mid.tar", mid)]))
    rep = c.both(3)
    check(rep["images"]["ok"] == 2, rep["images"])
    expect_failure(rep, c.key("mid.tar/inner.tar"), "one level")
    check(len(rep["failures"]) == 1, rep["failures"])
    check(outputs(c.out) == ["outer/mid/m.jpg", "outer/o.jpg"], outputs(c.out))


def empty_tar():
    """A 0-byte .tar is an archive of nothing: no failure, zero images, exit 0; so
    is one of only the end blocks."""
    for blob in (b"", tc.end()):
        c = Case("empty.tar", blob)
        rep = c.both(0)
        check(rep["images"]["total"] == 0 and rep["failures"] == [], rep)


def bad_cls():
    """A .cls member that is not a decimal integer (a word, trailing junk, out of
    range, too long): its sample's image is a failure; good samples go on."""
    bad = [b"dog", b"12abc", b"99999999999999999999999", b"1" * 40, b""]
    members = [("s0.jpg", jpg(1)), ("s0.cls", b"3\n")]
    for i, v in enumerate(bad):
        members += [(f"b{i}.jpg", jpg(i + 2)), (f"b{i}.cls", v)]
    c = Case("cls.tar", ustar(members))
    for fmt in ("same", "tar"):
        rep = c.both(3, ["-f", fmt])
        check(rep["images"]["ok"] == 1 and rep["images"]["failed"] == len(bad), rep["images"])
        for i in range(len(bad)):
            expect_failure(rep, c.key(f"b{i}.jpg"), ".cls", "integer")


def same_names():
    """Members of one name (tar allows it; extracting keeps the last): with per-image
    outputs only the first is read, the others fail saying why (never 'listed twice',
    which speaks of lists); shards key samples by number, so all of them are kept."""
    c = Case("dup.tar", ustar([("a.jpg", jpg(1)), ("./a.jpg", jpg(2)), ("a.jpg", jpg(3)),
                               ("b.jpg", jpg(4))]))
    rep = c.both(3)
    check(rep["images"]["ok"] == 2 and rep["images"]["failed"] == 2, rep["images"])
    for f in rep["failures"]:
        check(f["path"] == c.key("a.jpg") and "same name" in f["error"] and
              "earlier in the archive" in f["error"], f)
    rep = c.run(0, ["-f", "tar"])
    check(rep["images"]["ok"] == 4, rep["images"])


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (truncated, size_past_end, negative_size, huge_size,
                                           checksum, long_names, special_members, unsafe_names,
                                           tar_bomb, compressed, random_bytes, nested_deep,
                                           empty_tar, bad_cls, same_names)}))

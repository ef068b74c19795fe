#!/usr/bin/python3
"""Writes the seeds of the archive fuzz target (tests/fuzz/fuzz_tar.c) into
tests/fuzz/tar_corpus/: small tars of every kind the reader meets (ustar, GNU
long names, pax, a tar of tars and one level too deep, WebDataset samples with
good and bad .cls, sparse, devices and links, '..' names) and of every way one
goes wrong (cut in a header or a member, a size past the end, negative and
huge base-256 sizes, a bad checksum, gzip bytes). Members hold a few bytes, not
images: the lister never decodes. Made with tests/scenario/tarcraft.py, as the
hostile-archive scenarios make theirs.

    tests/fuzz/make_tar_seeds.py [OUTDIR]    (default: tests/fuzz/tar_corpus)
"""
import gzip
import os
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scenario"))
import tarcraft as tc  # noqa: E402

IMG = b"\xff\xd8\xff\xe0" + bytes(range(60))


def ustar(members):
    return b"".join(tc.member(n, d) for n, d in members) + tc.end()


def seeds():
    three = [("a.jpg", IMG), ("b.png", IMG[:20]), ("c/d.jpeg", IMG)]
    plain = ustar(three)
    yield "ustar", plain
    yield "v7_no_magic", b"".join(tc.member(n, d, v7=True) for n, d in three) + tc.end()
    yield "gnu_longname", tc.with_tarfile(
        [(tc.info("d" * 60 + "/" + "n" * 150 + ".jpg"), IMG),
         (tc.info("l.jpg", tarfile.SYMTYPE, "t" * 150), None)], tarfile.GNU_FORMAT)
    yield "pax", tc.with_tarfile(
        [(tc.info("p" * 120 + "/caf\u00e9.jpg"), IMG), (tc.info("s.txt"), b"x")],
        tarfile.PAX_FORMAT)
    inner = ustar([("n1.jpg", IMG), ("n1.cls", b"4\n")])
    deep = ustar([("x.jpg", IMG)])
    yield "nested", ustar([("o.jpg", IMG), ("inner.tar", inner),
                           ("mid.tar", ustar([("m.jpg", IMG), ("deep.tar", deep)])),
                           ("z.tar.gz", b"\x1f\x8b\x08")])
    yield "webdataset", ustar([("k/000.jpg", IMG), ("k/000.cls", b"3"), ("k/000.txt", b"cap"),
                               ("k/000.json", b"{}"), ("k/001.jpg", IMG), ("k/001.cls", b"dog"),
                               ("k/002.txt", b"alone"), ("k/003.png", IMG), ("k/003.jpg", IMG),
                               ("k/004.cls", b" -7 \n"), ("k/004.webp", IMG)])
    yield "one_big_sample", b"".join(tc.header(f"s.{i}.txt") for i in range(258)) + \
        tc.member("s.jpg", IMG) + tc.end()
    yield "special", (tc.header("dev/c.jpg", typeflag=b"3") + tc.header("b.jpg", typeflag=b"4") +
                      tc.header("f.jpg", typeflag=b"6") + tc.header("d", typeflag=b"5") +
                      tc.header("s.jpg", typeflag=b"2", linkname="/etc/passwd") +
                      tc.header("h.jpg", typeflag=b"1", linkname="a.jpg") +
                      tc.member("a.jpg", IMG) + tc.end())
    yield "sparse_gnu", tc.gnu_sparse("g.jpg", IMG, 1 << 30) + tc.member("a.jpg", IMG) + tc.end()
    yield "sparse_pax", tc.pax_sparse("p.jpg", IMG, 1 << 30) + tc.member("a.jpg", IMG) + tc.end()
    yield "unsafe", ustar([("../up.jpg", IMG), ("/abs.jpg", IMG), ("a/../../b.jpg", IMG),
                           ("..", b""), ("ok.jpg", IMG), ("./x/./y.jpg", IMG)])
    yield "cut_member", plain[:512 + 30]
    yield "cut_header", plain[:512 + 512 + 200]
    yield "past_end", tc.member("a.jpg", IMG) + tc.header("b.jpg", 1 << 20) + tc.pad(IMG)
    yield "negative_size", (tc.member("a.jpg", IMG) +
                            tc.header("n.jpg", size_field=tc.base256(-1, 12)) + tc.end())
    yield "huge_size", (tc.member("a.jpg", IMG) +
                        tc.header("h.jpg", size_field=tc.base256((1 << 62) + 1, 12)) + tc.end())
    yield "checksum_later", (tc.member("a.jpg", IMG) + tc.member("b.jpg", IMG, chksum_delta=3) +
                             tc.end())
    yield "checksum_first", tc.member("a.jpg", IMG, chksum_delta=1) + tc.end()
    yield "gzip", gzip.compress(plain, mtime=0)
    yield "empty", b""
    yield "end_only", tc.end()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "tar_corpus")
    os.makedirs(out, exist_ok=True)
    for name, blob in seeds():
        with open(os.path.join(out, name + ".tar"), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main()

"""Tar archives made byte by byte, hostile ones included, for the archive
scenarios (test_archives_hostile.py) and the seeds of the archive fuzz target
(tests/fuzz/make_tar_seeds.py). Python's tarfile writes only well-formed
archives; these helpers write any header field as asked (sizes in base-256,
negative ones too, wrong checksums, any type flag), so that every hostile
archive is made at test time and no special file is ever committed."""
import io
import tarfile

BLOCK = 512


def octal(n, width):
    """An octal number field of width bytes, NUL-terminated."""
    return b"%0*o\0" % (width - 1, n)


def base256(n, width):
    """A GNU base-256 number field: the top bit of the first byte set, then the
    two's complement value big-endian (negative values start with 0xff)."""
    v = n & ((1 << (8 * width - 1)) - 1) if n >= 0 else (1 << (8 * width)) + n
    b = bytearray(v.to_bytes(width, "big"))
    b[0] |= 0x80
    return bytes(b)


def header(name, size=0, typeflag=b"0", size_field=None, linkname=b"", prefix=b"",
           gnu=False, chksum_delta=0, tail=b"", v7=False):
    """One 512-byte header. name, linkname and prefix are bytes or str; size_field
    (12 bytes) replaces the octal size; gnu writes GNU's magic ("ustar  \\0")
    instead of POSIX's, v7 no magic at all (the format before ustar); chksum_delta
    makes the checksum wrong by that much; tail (bytes from offset 345, GNU's
    atime/ctime/sparse area) is copied in."""
    enc = (lambda s: s.encode() if isinstance(s, str) else s)
    h = bytearray(BLOCK)
    h[0:100] = enc(name)[:100].ljust(100, b"\0")
    h[100:108] = octal(0o644, 8)
    h[108:116] = octal(0, 8)
    h[116:124] = octal(0, 8)
    h[124:136] = size_field if size_field is not None else octal(size, 12)
    h[136:148] = octal(1700000000, 12)
    h[156:157] = typeflag
    h[157:257] = enc(linkname)[:100].ljust(100, b"\0")
    h[257:265] = b"ustar  \0" if gnu else b"ustar\x0000"
    h[265:297] = b"root".ljust(32, b"\0")
    h[297:329] = b"root".ljust(32, b"\0")
    if v7:
        h[257:] = bytes(BLOCK - 257)
    elif tail:
        h[345:345 + len(tail)] = tail
    else:
        h[345:500] = enc(prefix)[:155].ljust(155, b"\0")
    h[148:156] = b" " * 8
    s = sum(h) + chksum_delta
    h[148:156] = b"%06o\0 " % (s & 0o777777)
    return bytes(h)


def pad(data):
    return data + b"\0" * (-len(data) % BLOCK)


def member(name, data=b"", **kw):
    """A regular file member: its header, then its data padded to a block."""
    return header(name, len(data), **kw) + pad(data)


def end():
    """The two zero blocks that end an archive."""
    return b"\0" * (2 * BLOCK)


def gnu_sparse(name, data, realsize):
    """A GNU old-style sparse member ('S'): one map entry, data at offset 0."""
    tail = bytearray(155)
    # GNU header from 345: atime[12] ctime[12] offset[12] longnames[4]
    # unused[1] sparse[4 x (offset[12] numbytes[12])] isextended[1] realsize[12]
    at = 386 - 345
    tail[at:at + 12] = octal(0, 12)
    tail[at + 12:at + 24] = octal(len(data), 12)
    tail[482 - 345] = 0
    tail[483 - 345:495 - 345] = octal(realsize, 12)
    return header(name, len(data), typeflag=b"S", gnu=True, tail=bytes(tail)) + pad(data)


def pax_sparse(name, data, realsize):
    """A pax (GNU 1.0) sparse member: a pax header names it sparse, the data
    starts with the map (one region of len(data) bytes at offset 0)."""
    recs = [("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"),
            ("GNU.sparse.name", name), ("GNU.sparse.realsize", str(realsize))]
    body = b"".join(pax_record(k, v) for k, v in recs)
    smap = pad(b"1\n0\n%d\n" % len(data))
    return (header("PaxHeaders/" + name[-80:], len(body), typeflag=b"x") + pad(body) +
            header("GNUSparseFile.0/" + name[-80:], len(smap) + len(data)) + smap + pad(data))


def pax_record(key, value):
    """One "LEN key=value\\n" record (LEN counts itself)."""
    rest = b" %s=%s\n" % (key.encode(), value.encode() if isinstance(value, str) else value)
    n = len(rest) + 1
    while len(str(n).encode()) + len(rest) != n:
        n += 1
    return str(n).encode() + rest


def with_tarfile(members, fmt=tarfile.USTAR_FORMAT):
    """A well-formed archive through Python's tarfile: members are (TarInfo, data)."""
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for info, data in members:
            info.size = len(data) if data is not None else 0
            t.addfile(info, io.BytesIO(data) if data else None)
    return b.getvalue()


def info(name, typ=tarfile.REGTYPE, linkname=""):
    i = tarfile.TarInfo(name)
    i.type = typ
    i.linkname = linkname
    i.mtime = 1700000000
    return i

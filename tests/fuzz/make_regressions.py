#!/usr/bin/python3
"""Writes the small hostile files of tests/fuzz/regressions/: the damaged and
crafted inputs of the codec unit tests (issues 10.2, 10.3, 12.3, 12.5, 11.4),
as files, so that the decode fuzz target replays them (fuzz.decode.regressions.*)
and libFuzzer starts from them (tests/fuzz/run_fuzz.sh).

The unit tests (tests/unit/test_jpeg.c, test_codec_tiff.c) make the same kinds
of file at run time and check the specific error; these copies only have to
keep the decoders within their contract. Needs Pillow, tiffcp and cjpeg.

    tests/fuzz/make_regressions.py [OUTDIR]    (default: tests/fuzz/regressions)
"""
import io
import os
import struct
import subprocess
import sys
import tempfile

from PIL import Image


def photo(w, h):
    """RGB ramps with texture and grain, as in test_codec_tiff.c."""
    im = Image.new("RGB", (w, h))
    px = im.load()
    r = 1
    for y in range(h):
        for x in range(w):
            tex = (x // 4 + y // 4) % 2 * 24
            r = (r * 1103515245 + 12345) & 0xFFFFFFFF
            px[x, y] = ((x * 150 // w + tex + (r >> 27)) & 255,
                        (y * 180 // h + tex + (r >> 24 & 15)) & 255,
                        40 if x % 32 < 16 else 200)
    return im


def tiffcp(im, args):
    """im through tiffcp with args; returns the bytes of the result."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "a.tif"), os.path.join(d, "b.tif")
        im.save(src, compression="raw")
        subprocess.run(["tiffcp"] + args + [src, dst], check=True)
        with open(dst, "rb") as f:
            return bytearray(f.read())


def tiffcp_warnings(b):
    """What libtiff says when tiffcp decodes the TIFF in b."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "a.tif"), os.path.join(d, "b.tif")
        with open(src, "wb") as f:
            f.write(b)
        p = subprocess.run(["tiffcp", "-c", "none", src, dst], capture_output=True, text=True)
        return p.stderr


def ifd_entries(b):
    """{tag: (entry offset, type, count, value)} of the first IFD (II only)."""
    off = struct.unpack_from("<I", b, 4)[0]
    n = struct.unpack_from("<H", b, off)[0]
    out = {}
    for i in range(n):
        e = off + 2 + 12 * i
        tag, typ, cnt, val = struct.unpack_from("<HHII", b, e)
        out[tag] = (e, typ, cnt, val)
    return out


def strip(b, k):
    """(offset, byte count) of strip k (II only; SHORT or LONG arrays)."""
    ent = ifd_entries(b)

    def value(tag):
        _, typ, n, val = ent[tag]
        size, fmt = (2, "<H") if typ == 3 else (4, "<I")
        if n * size <= 4:
            return struct.unpack_from(fmt, struct.pack("<I", val), size * k)[0]
        return struct.unpack_from(fmt, b, val + size * k)[0]

    return value(273), value(279)


def many_scans_jpeg(w, h, ac_scans):
    """The many-scans progressive JPEG of test_jpeg.c: one DC scan, then
    ac_scans AC scans of end-of-band runs, each visiting every block."""
    out = bytearray(b"\xff\xd8")
    out += b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + b"\x01" * 64
    out += b"\xff\xc2" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    out += b"\xff\xc4" + struct.pack(">H", 2 + 17 + 1 + 17 + 2)
    out += b"\x00\x01" + b"\x00" * 15 + b"\x00"
    out += b"\x10\x01\x01" + b"\x00" * 14 + b"\x00\xe0"
    bits = []

    def put(v, n):
        for i in range(n - 1, -1, -1):
            bits.append(v >> i & 1)

    def flush():
        while len(bits) % 8:
            bits.append(1)
        for i in range(0, len(bits), 8):
            byte = int("".join(map(str, bits[i:i + 8])), 2)
            out.append(byte)
            if byte == 0xFF:
                out.append(0)
        bits.clear()

    blocks = ((w + 7) // 8) * ((h + 7) // 8)
    out += b"\xff\xda\x00\x08\x01\x01\x00\x00\x00\x00"
    out += b"\x00" * (blocks // 8)  # DC: one '0' bit (difference 0) a block
    for _ in range(ac_scans):
        out += b"\xff\xda\x00\x08\x01\x01\x00\x01\x3f\x00"
        left = blocks
        while left > 0:
            run = 1 if left < 16384 else left if left < 32767 else 32767
            if run == 1:
                put(0, 1)
            else:
                put(2, 2)
                put(run - 16384, 14)
            left -= run
        flush()
    out += b"\xff\xd9"
    return out


def cjpeg(im, args):
    """im through cjpeg (libjpeg-turbo-progs) with args: restart intervals,
    which Pillow 9.4 does not write."""
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "a.ppm")
        im.save(src)
        p = subprocess.run(["cjpeg"] + args + [src], check=True, capture_output=True)
        return bytearray(p.stdout)


def jpeg(im, **kw):
    f = io.BytesIO()
    im.save(f, "JPEG", **kw)
    return bytearray(f.getvalue())


def exif_slong_orientation(b, value):
    """b with an APP1 EXIF block after SOI: Orientation as SLONG (big-endian)."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIi", 0x0112, 9, 1, value) + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    return b[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + b[2:]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "regressions")
    os.makedirs(outdir, exist_ok=True)
    files = {}
    im = photo(128, 64)

    # 10.2: libjpeg inside a TIFF strip meets an EOI in the middle of it.
    b = tiffcp(im, ["-c", "jpeg", "-r", "16"])
    off, cnt = strip(b, 1)
    b[off + cnt // 2:off + cnt // 2 + 2] = b"\xff\xd9"
    files["tiff_jpeg_strip_eoi_in_middle.tif"] = b
    # 10.2: 64 bytes of PackBits run headers in strip 3. Whether libtiff
    # notices depends on where runs end (output that ends exactly at the
    # strip's end is silent), so the first position libtiff warns about
    # ("Discarding N bytes to avoid buffer overrun") is taken.
    clean = tiffcp(im, ["-c", "packbits", "-r", "8"])
    off, cnt = strip(clean, 3)
    for at in range(off + cnt // 2, off + cnt - 64):
        b = bytearray(clean)
        b[at:at + 64] = b"\x81" * 64
        if "Discarding" in tiffcp_warnings(b):
            break
    files["tiff_packbits_overrun.tif"] = b
    # 10.2: a Predictor of count 2, which libtiff ignores (wrong pixels).
    b = tiffcp(im, ["-c", "lzw:2", "-r", "16"])
    e = ifd_entries(b)[317][0]
    b[e + 4] = 2
    files["tiff_predictor_ignored.tif"] = b
    # 12.5: cut in the values after the IFD (StripByteCounts).
    b = tiffcp(im, ["-c", "lzw", "-r", "8"])
    e = ifd_entries(b)[279]
    files["tiff_cut_in_ifd_values.tif"] = b[:e[3] + 4]
    # 10.3: 60 scans of 4096x4096 blocks: over the fuzz target's budget
    # (3/4 x 16 Mpixel), refused before any scan is decoded.
    files["jpeg_many_scans_4096.jpg"] = many_scans_jpeg(4096, 4096, 59)
    # 12.5: a hierarchical file starts with DHP (a copy of the SOF) and
    # has a differential frame (SOF5).
    b = jpeg(photo(32, 16), quality=90)
    i = b.index(b"\xff\xc0")
    seg = 2 + struct.unpack_from(">H", b, i + 2)[0]
    b = b[:i] + b"\xff\xde" + b[i + 2:i + seg] + b"\xff\xc5" + b[i + 2:]
    files["jpeg_hierarchical_dhp.jpg"] = b
    # 12.5: SOI then no marker.
    files["jpeg_soi_then_garbage.jpg"] = bytearray(b"\xff\xd8\x00\x00\x13\x37\x00\x42")
    # 12.3: Orientation 6 as SLONG (gdk-pixbuf's bug725582-testrotate.jpg).
    files["jpeg_exif_orientation_slong.jpg"] = exif_slong_orientation(jpeg(photo(32, 16)), 6)
    # 11.4: the start of /etc/shadow.
    # Seeds for DC-only decoding of progressive files at 1/8 (issue 25.8):
    # 4:2:2, whose AC scans are all left out, and 4:2:0 with restart markers,
    # whose luma AC scans are left out and chroma ones decoded.
    files["jpeg_progressive_422.jpg"] = jpeg(photo(40, 24), progressive=True, subsampling=1)
    files["jpeg_progressive_420_restart.jpg"] = cjpeg(
        photo(48, 32), ["-progressive", "-optimize", "-restart", "2B"])
    files["not_an_image_shadow_like.txt"] = bytearray(b"root:*:19000:0:99999:7:::\n")

    for name, data in sorted(files.items()):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
        print("%-40s %7d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()

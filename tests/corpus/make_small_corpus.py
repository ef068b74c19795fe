#!/usr/bin/python3
"""Makes tests/corpus/files/, the small corpus committed with the tests, from the large shared
corpus (../shared/corpus): copies of its files under permissive licences (CC0, public domain,
BSD, MIT, Apache, ISC, zlib), and JPEG variants and damaged JPEGs made from one of them
(go-src__video-001.jpeg, BSD-3-clause) for the kinds whose large-corpus files are not
permissive (storm: GPL-2+, china: CC-BY-2.0). MANIFEST.tsv keeps the large corpus's line of each
copied file and gets a line for each made one. Needs Pillow, cjpeg and ImageMagick's convert.

    tests/corpus/make_small_corpus.py [LARGE_CORPUS] [OUTDIR]

Run it again only to change the small corpus; the tests read the committed files."""
import gzip
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))

# Copied as they are, each with its MANIFEST line; every one under a licence named above.
COPY = """
bad/fuzz-seeds/afl__not_kitty.jpg bad/fuzz-seeds/afl__not_kitty.png
bad/fuzz-seeds/afl__not_kitty.tiff bad/fuzz-seeds/afl__not_kitty_alpha.png
bad/fuzz-seeds/afl__not_kitty_gamma.png bad/fuzz-seeds/afl__not_kitty_icc.png
bad/jpeg/skimage__truncated.jpg bad/jpeg/soi_only.jpg
bad/misc/elf_binary.jpg bad/misc/empty.png bad/misc/mp4_video.tif bad/misc/random_4KiB.jpg
bad/misc/random_with_png_sig.png bad/misc/text_file.jpg bad/misc/utf16_bom_text.tif
bad/png/chunk_length_0xfffffff0.png bad/png/coffee_truncated_in_idat.png
bad/png/go-src__invalid-noend.png bad/png/go-src__invalid-trunc.png
bad/png/ihdr_bad_bitdepth3_colortype5.png bad/png/ihdr_claims_2147483647x1.png
bad/png/signature_only.png
bad/tiff/bigtiff_header_only.tif bad/tiff/coffee_lzw_truncated_50pct_ifd_lost.tif
bad/tiff/coffee_none_truncated_in_strips.tif bad/tiff/dims_2147483647x2147483647.tif
bad/tiff/samplesperpixel_65535.tif bad/tiff/unknown_compression_12345.tif
bad/unsupported/afl__not_kitty.bmp bad/unsupported/afl__not_kitty.jp2
bad/unsupported/afl__not_kitty.webp
jpeg/afl++-doc__not_kitty.jpg jpeg/go-src__video-001.jpeg jpeg/go-src__video-001.progressive.jpeg
jpeg/go-src__video-001.q50.410.jpeg jpeg/go-src__video-001.q50.411.jpeg
jpeg/go-src__video-001.q50.420.jpeg jpeg/go-src__video-001.q50.422.jpeg
jpeg/go-src__video-001.q50.440.jpeg jpeg/go-src__video-001.q50.444.jpeg
jpeg/go-src__video-001.q50.420.progressive.jpeg jpeg/go-src__video-001.221212.jpeg
jpeg/go-src__video-001.cmyk.jpeg jpeg/go-src__video-001.rgb.jpeg
jpeg/go-src__video-001.separate.dc.progression.progressive.jpeg
jpeg/go-src__video-005.gray.jpeg jpeg/go-src__video-005.gray.q50.2x2.progressive.jpeg
jpeg/libjxl-testdata__1x1_exif_xmp.jpg jpeg/opencv-doc__HappyFish.jpg
jpeg/opencv-doc__baboon.jpg jpeg/python3-skimage__rocket.jpg jpeg/xplanet-images__sun.jpg
jpeg/xplanet-images__night.jpg
png/real/go-src__basn0g02.png png/real/go-src__basn2c16.png png/real/go-src__basn3p08-trns.png
png/real/go-src__basn4a16.png png/real/go-src__benchRGB-interlace.png
png/real/go-src__gray-gradient.interlaced.png png/real/go-src__video-005.gray.png
png/real/libjxl__ctzn0g04.png png/real/libjxl__exif2c08.png png/real/skimage__horse.png
png/variants/gray1_dithered.png
tiff/real/afl__not_kitty.tiff tiff/real/go-x-image__bw-gopher_ccittGroup4.tiff
tiff/real/go-x-image__no_rps.tiff tiff/real/go-x-image__video-001-gray-16bit.tiff
tiff/real/go-x-image__video-001-paletted.tiff tiff/real/go-x-image__video-001-tile-64x64.tiff
tiff/real/go-x-image__video-001.tiff tiff/real/rust-tiff__Transparency-lzw.tif
tiff/real/skimage__multipage_rgb.tif tiff/variants/rgb8_webp.tif tiff/variants/rgb8_jpeg_ycbcr.tif
jpeg-variants/rocket_exif_orientation_1.jpg jpeg-variants/rocket_exif_orientation_2.jpg
jpeg-variants/rocket_exif_orientation_3.jpg jpeg-variants/rocket_exif_orientation_4.jpg
jpeg-variants/rocket_exif_orientation_5.jpg jpeg-variants/rocket_exif_orientation_6.jpg
jpeg-variants/rocket_exif_orientation_7.jpg jpeg-variants/rocket_exif_orientation_8.jpg
""".split()

SRC = "jpeg/go-src__video-001.jpeg"
LICENCE = "BSD-3-clause (Go project, per debian/copyright)"
PKG = "made by tests/corpus/make_small_corpus.py from " + SRC


def segments(b):
    """[(marker, start, end)] of the segments before the first SOS (SOS included)."""
    out, i = [], 2
    while i < len(b):
        m = b[i + 1]
        n = struct.unpack(">H", b[i + 2:i + 4])[0]
        out.append((m, i, i + 2 + n))
        if m == 0xDA:
            break
        i += 2 + n
    return out


def seg(b, marker):
    return next((s, e) for m, s, e in segments(b) if m == marker)


def drop(b, markers):
    keep = bytearray(b[:2])
    segs = segments(b)
    for m, s, e in segs:
        if m not in markers:
            keep += b[s:e]
    return bytes(keep + b[segs[-1][2]:])


def cjpeg(ppm, *args):
    return subprocess.run(["cjpeg"] + list(args) + [ppm], check=True,
                          capture_output=True).stdout


def make(large):
    """{relative path: (bytes, width, height, kind, notes, expected behaviour)}"""
    im = Image.open(os.path.join(large, SRC)).convert("RGB")
    w, h = im.size
    out = {}
    with tempfile.TemporaryDirectory() as d:
        ppm = os.path.join(d, "a.ppm")
        im.save(ppm)
        small = os.path.join(d, "s.ppm")
        im.crop((0, 0, 17, 13)).save(small)
        base = cjpeg(ppm, "-quality", "85")
        v = "jpeg-variants/video001_"
        out[v + "arithmetic.jpg"] = (cjpeg(ppm, "-arithmetic"), w, h, "arithmetic coding")
        out[v + "arithmetic_progressive.jpg"] = (cjpeg(ppm, "-arithmetic", "-progressive"), w,
                                                 h, "arithmetic coding, progressive")
        out[v + "restart_every_mcu.jpg"] = (cjpeg(ppm, "-restart", "1B"), w, h,
                                            "a restart marker after every MCU")
        out[v + "crop_17x13.jpg"] = (cjpeg(small), 17, 13, "17x13, partial MCUs")
        out[v + "rgb_components.jpg"] = (cjpeg(ppm, "-rgb"), w, h,
                                         "RGB components, no colour transform")
        out[v + "grayscale.jpg"] = (cjpeg(ppm, "-grayscale", "-quality", "100"), w, h,
                                    "one component")
        out[v + "no_dht_mjpeg_style.jpg"] = (drop(base, {0xC4}), w, h,
                                             "no DHT: the standard tables (Motion JPEG)")
        out[v + "no_app_markers.jpg"] = (drop(base, {0xE0}), w, h, "no APPn segment")
        buf = io.BytesIO()
        im.convert("CMYK").save(buf, "JPEG", quality=90)
        out[v + "cmyk_pil.jpg"] = (buf.getvalue(), w, h, "CMYK, Adobe APP14 without transform")
        ycck = os.path.join(d, "ycck.jpg")
        # ImageMagick's jpeg:colorspace takes libjpeg's J_COLOR_SPACE: 5 is JCS_YCCK.
        subprocess.run(["convert", ppm, "-colorspace", "CMYK", "-define", "jpeg:colorspace=5",
                        ycck], check=True)
        with open(ycck, "rb") as f:
            out[v + "ycck.jpg"] = (f.read(), w, h, "YCCK (Adobe APP14, transform 2)")
        buf = io.BytesIO()
        # A made-up profile of 70 KB: two APP2 chunks; only its presence is checked.
        icc = bytes(128) + bytes((i * 7) & 255 for i in range(70000))
        im.save(buf, "JPEG", quality=85, icc_profile=icc)
        out[v + "icc70k_multichunk.jpg"] = (buf.getvalue(), w, h, "ICC profile in 2 APP2 chunks")

        b = "bad/jpeg/video001_"
        reject = "reject with clear error; exit non-zero; no crash/hang/leak"
        partial = ("reject, or decode partially with a warning (policy decision); never crash "
                   "or hang")
        x = bytearray(base)
        s, _ = seg(x, 0xDB)
        x[s + 4] = 0x0F
        out[b + "bogus_dqt_table_id.jpg"] = (bytes(x), w, h, "DQT table id 15",
                                             reject + ' ("Bogus DQT index")')
        x = bytearray(base)
        s, _ = seg(x, 0xC0)
        x[s + 11] = 0x55
        out[b + "bogus_sampling_5x5.jpg"] = (bytes(x), w, h, "5x5 sampling factors",
                                             reject + ' ("Bogus sampling factors")')
        x = bytearray(base)
        s, _ = seg(x, 0xC0)
        x[s + 5:s + 7] = b"\0\0"
        out[b + "height_zero_dnl.jpg"] = (bytes(x), w, h, "height 0 in SOF0 (a DNL file)",
                                          reject + ' ("Empty JPEG image (DNL not supported)")')
        x = bytearray(base)
        s, _ = seg(x, 0xC0)
        x[s + 1] = 0xC1
        x[s + 4] = 12
        out[b + "unsupported_12bit_sof1.jpg"] = (bytes(x), w, h, "SOF1 with precision 12",
                                                 'reject: clear "Unsupported JPEG data '
                                                 'precision 12" error')
        x = bytearray(base)
        s, _ = seg(x, 0xC0)
        x[s + 1] = 0xC3
        out[b + "unsupported_lossless_sof3.jpg"] = (bytes(x), w, h, "SOF3 (lossless) marker",
                                                    'reject: clear "unsupported JPEG process" '
                                                    'error')
        out[b + "truncated_50pct.jpg"] = (base[:len(base) // 2], w, h, "first half", partial)
        sos = seg(base, 0xDA)[0]
        out[b + "truncated_in_headers.jpg"] = (base[:sos - 20], w, h, "cut inside the headers",
                                               reject)
        rst = bytearray(cjpeg(ppm, "-restart", "1"))
        first = rst.index(b"\xff\xd0")
        for i in range(first + 40, first + 60):
            rst[i] = (rst[i] * 31 + 17) & 0x7F
        out[b + "restart_corrupt_huffman.jpg"] = (bytes(rst), w, h,
                                                  "restart every row, bytes garbled in row 2",
                                                  partial)
        mid = sos + (len(base) - sos) // 2
        out[b + "eoi_in_middle.jpg"] = (base[:mid] + b"\xff\xd9" + base[mid:], w, h,
                                        "EOI in the middle of the scan", partial)
        # Nine components: SOI, DQT, SOF0 with Nf=9, no scan.
        sof = struct.pack(">BHHB", 8, 8, 8, 9) + b"".join(
            struct.pack(">BBB", i + 1, 0x11, 0) for i in range(9))
        sos1 = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
        tables = b"".join(base[s:e] for m, s, e in segments(base) if m in (0xDB, 0xC4))
        nine = (b"\xff\xd8" + tables + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof +
                sos1 + bytes(64) + b"\xff\xd9")
        out[b + "nine_components.jpg"] = (nine, 8, 8, "SOF0 with 9 components", reject)
        m = "bad/misc/video001_"
        out[m + "gzipped_jpeg.jpg"] = (gzip.compress(base, mtime=0), w, h, "gzip of a JPEG",
                                       reject)
        buf = io.BytesIO()
        im.save(buf, "PNG")
        out[m + "png_named.jpg"] = (buf.getvalue(), w, h, "a PNG named .jpg",
                                    "either decode by magic bytes (preferred) or reject "
                                    'with a clear "not a JPEG" error; no crash')
        out[m + "jpeg_named.png"] = (base, w, h, "a JPEG named .png",
                                     "either decode by magic bytes (preferred) or reject "
                                     'with a clear "not a PNG" error; no crash')
    # TIFF layouts and compressions (tiffcp from go-x-image__video-001.tiff, BSD-3-clause).
    tsrc = os.path.join(large, "tiff/real/go-x-image__video-001.tiff")
    for name, args in (("lzw", ["-c", "lzw:1"]), ("deflate", ["-c", "zip:1"]),
                       ("packbits", ["-c", "packbits"]), ("lzw_pred2", ["-c", "lzw:2"]),
                       ("zstd", ["-c", "zstd:1"]), ("lzma", ["-c", "lzma:1"]),
                       ("tiled64_lzw", ["-c", "lzw:1", "-t", "-w", "64", "-l", "64"]),
                       ("planar_separate_lzw", ["-c", "lzw:1", "-p", "separate"]),
                       ("bigtiff_none", ["-c", "none", "-8"]),
                       ("bigendian_lzw", ["-c", "lzw:1", "-B"]),
                       ("strips1_none", ["-c", "none", "-r", "1"])):
        with tempfile.TemporaryDirectory() as d:
            t = os.path.join(d, "t.tif")
            subprocess.run(["tiffcp"] + args + [tsrc, t], check=True)
            with open(t, "rb") as f:
                out["tiff/variants/video001_rgb8_%s.tif" % name] = (
                    f.read(), w, h, "tiffcp %s" % " ".join(args), "decode OK",
                    "go-x-image (Debian 12), " + PKG.replace(SRC, "tiff/real/go-x-image__"
                                                             "video-001.tiff"),
                    "BSD-3-clause (per debian/copyright)")
    buf = io.BytesIO()
    im.convert("CMYK").save(buf, "TIFF", compression="tiff_lzw")
    out["tiff/variants/video001_cmyk8_lzw.tif"] = (buf.getvalue(), w, h, "CMYK, LZW (Pillow)")
    buf = io.BytesIO()
    g16 = im.convert("L").point(lambda v: v).convert("I")
    g16 = g16.point(lambda v: v * 257)
    g16.convert("I;16").save(buf, "PNG")
    out["png/variants/video001_gray16.png"] = (buf.getvalue(), w, h, "16-bit gray (v * 257)")
    return out


def main():
    large = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../shared/corpus")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "files")
    with open(os.path.join(large, "MANIFEST.tsv"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    head, rows = lines[0], {ln.split("\t")[0]: ln for ln in lines[1:]}
    shutil.rmtree(dst, ignore_errors=True)
    out = [head]
    for rel in COPY:
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        shutil.copyfile(os.path.join(large, rel), os.path.join(dst, rel))
        out.append(rows[rel])
    for rel, v in sorted(make(large).items()):
        data, w, h, notes = v[:4]
        expect = v[4] if len(v) > 4 else "decode OK"
        pkg, lic = v[5:7] if len(v) > 5 else (PKG, LICENCE)
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        with open(os.path.join(dst, rel), "wb") as f:
            f.write(data)
        kind = rel.split("/")[1] if rel.startswith("bad/") else "jpeg-variants"
        fmt = ("PNG" if rel.endswith(".png") or "png_named" in rel else "TIFF"
               if rel.endswith(".tif") else "gzip" if "gzip" in rel else "JPEG")
        if "jpeg_named" in rel:
            fmt = "JPEG"
        if not rel.startswith("bad/"):
            kind = rel.split("/")[0].replace("jpeg-variants", "jpeg").rstrip("s") + (
                "-variant" if "variants" in rel else "")
        out.append("\t".join([rel, kind, fmt, str(w), str(h), str(len(data)), pkg, lic, notes,
                              expect]))
    with open(os.path.join(dst, "MANIFEST.tsv"), "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()

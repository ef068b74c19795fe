#!/usr/bin/env python3
"""Writes the TIFF seeds of pages and chips (issue 22) into tests/fuzz/regressions/: a page
chain that loops, a chain of 300 pages (a small page bomb), GeoTIFFs from GDAL (tiled with
separate planes; strips with ground control points) and a 1-bit image whose windows start
inside a byte. fuzz_decode lists the pages of each and decodes a window of each page.
Needs gdal-bin, python3-numpy and python3-pil; the files are committed, this script only
remakes them."""
import os
import struct
import subprocess
import tempfile

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "regressions")


def chain(pages, loop=False):
    entries = [(256, 3, 1, 3), (257, 3, 1, 2), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8), (278, 3, 1, 2), (279, 4, 1, 6)]
    size = 2 + 12 * len(entries) + 4
    b = bytearray(b"II*\x00" + struct.pack("<I", 14) + bytes(range(1, 7)))
    for p in range(pages):
        off = 14 + p * size
        nxt = off + size if p + 1 < pages else (14 if loop else 0)
        b += struct.pack("<H", len(entries))
        for e in entries:
            b += struct.pack("<HHII", *e)
        b += struct.pack("<I", nxt)
    return bytes(b)


def gdal(name, a, *opts):
    with tempfile.TemporaryDirectory() as d:
        raw = os.path.join(d, "a.bsq")
        bands, h, w = a.shape
        a.tofile(raw)
        dt = {np.dtype(np.uint8): 1, np.dtype(np.uint16): 12}[a.dtype]
        with open(raw[:-4] + ".hdr", "w") as f:
            f.write("ENVI\nsamples = %d\nlines = %d\nbands = %d\nheader offset = 0\n"
                    "file type = ENVI Standard\ndata type = %d\ninterleave = bsq\n"
                    "byte order = 0\n" % (w, h, bands, dt))
        subprocess.run(["gdal_translate", "-q", raw, os.path.join(OUT, name)] + list(opts),
                       check=True)
    aux = os.path.join(OUT, name + ".aux.xml")
    if os.path.exists(aux):
        os.remove(aux)


def main():
    rng = np.random.default_rng(22)
    with open(os.path.join(OUT, "tiff_pages_loop.tif"), "wb") as f:
        f.write(chain(2, loop=True))
    with open(os.path.join(OUT, "tiff_pages_300.tif"), "wb") as f:
        f.write(chain(300))
    gdal("tiff_geo_tiled_planar.tif", rng.integers(0, 65535, (3, 30, 40), dtype=np.uint16),
         "-a_srs", "EPSG:32633", "-a_ullr", "500000", "4600000", "500400", "4599700",
         "-a_nodata", "0", "-co", "TILED=YES", "-co", "BLOCKXSIZE=16", "-co", "BLOCKYSIZE=16",
         "-co", "INTERLEAVE=BAND", "-co", "COMPRESS=DEFLATE")
    gdal("tiff_geo_strips_gcps.tif", rng.integers(0, 255, (1, 20, 33), dtype=np.uint8),
         "-a_srs", "EPSG:4326", "-gcp", "0", "0", "10", "50", "-gcp", "33", "0", "11", "50",
         "-gcp", "0", "20", "10", "49", "-co", "BLOCKYSIZE=7")
    Image.fromarray(rng.integers(0, 2, (19, 45), dtype=np.uint8).astype(bool)).save(
        os.path.join(OUT, "tiff_1bit_window.tif"))


if __name__ == "__main__":
    main()

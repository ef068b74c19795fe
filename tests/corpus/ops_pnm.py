"""PNM/PAM/PFM reading and writing with numpy, for the ops tests.

Pillow (9.4) reads and writes P5/P6 only; the tests also need 2- and
4-channel PAM, 16-bit samples and float PFM, as ppx_optool writes them."""
import numpy as np


def write(path, a):
    """Writes an HxW or HxWxC uint8/uint16 array as P5, P6 or P7."""
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, c = a.shape
    maxval = 65535 if a.dtype == np.uint16 else 255
    if c in (1, 3):
        head = b"P%d\n%d %d\n%d\n" % (5 if c == 1 else 6, w, h, maxval)
    else:
        tupl = b"GRAYSCALE_ALPHA" if c == 2 else b"RGB_ALPHA"
        head = b"P7\nWIDTH %d\nHEIGHT %d\nDEPTH %d\nMAXVAL %d\nTUPLTYPE %s\nENDHDR\n" % (
            w, h, c, maxval, tupl)
    body = a.astype(">u2" if maxval == 65535 else np.uint8).tobytes()
    with open(path, "wb") as f:
        f.write(head + body)


def _tokens(data, pos, n):
    out = []
    while len(out) < n:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            while data[pos:pos + 1] not in (b"\n", b""):
                pos += 1
            continue
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        out.append(data[start:pos])
    return out, pos + 1


def read(path):
    """Reads P5/P6/P7 (HxWxC array, uint8 or uint16) or PFM (float32)."""
    data = open(path, "rb").read()
    magic = data[:2]
    if magic in (b"P5", b"P6"):
        (w, h, maxval), pos = _tokens(data, 2, 3)
        w, h, maxval, c = int(w), int(h), int(maxval), 1 if magic == b"P5" else 3
    elif magic == b"P7":
        end = data.index(b"ENDHDR\n") + 7
        fields = dict(line.split(b" ", 1) for line in data[3:end - 7].split(b"\n") if b" " in line)
        w, h, c, maxval = (int(fields[k]) for k in (b"WIDTH", b"HEIGHT", b"DEPTH", b"MAXVAL"))
        pos = end
    elif magic in (b"Pf", b"PF"):
        (w, h, scale), pos = _tokens(data, 2, 3)
        w, h, c = int(w), int(h), 1 if magic == b"Pf" else 3
        dt = "<f4" if float(scale) < 0 else ">f4"
        a = np.frombuffer(data, dt, w * h * c, pos).reshape(h, w, c)
        return a[::-1].astype(np.float32)
    else:
        raise ValueError("%s: not PNM" % path)
    dt = ">u2" if maxval > 255 else np.uint8
    a = np.frombuffer(data, dt, w * h * c, pos).reshape(h, w, c)
    return a.astype(np.uint16 if maxval > 255 else np.uint8)

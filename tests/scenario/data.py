"""Synthetic datasets for scenario tests, made with Pillow at test time."""
import os
import random

from PIL import Image


def photo_like(w, h, seed, mode="RGB"):
    """A deterministic image with gradients and noise (compresses like a photo)."""
    rnd = random.Random(seed)
    img = Image.linear_gradient("L").resize((w, h))
    if mode == "L":
        base = img
    else:
        r = img
        g = img.rotate(90 + rnd.randrange(180)).resize((w, h))
        b = Image.effect_noise((w, h), 40 + rnd.randrange(40))
        base = Image.merge("RGB", (r, g, b))
        if mode == "RGBA":
            base = base.convert("RGBA")
            base.putalpha(Image.linear_gradient("L").resize((w, h)).transpose(Image.FLIP_LEFT_RIGHT))
    noise = Image.effect_noise((w, h), 25).convert(base.mode) if mode != "L" else Image.effect_noise((w, h), 25)
    return Image.blend(base, noise, 0.2)


def make(root, n=24, classes=("cat", "dog", "fish"), big=(), seed=1):
    """n images spread over class folders, mixed formats; `big` lists indexes made large."""
    rnd = random.Random(seed)
    paths = []
    for i in range(n):
        cls = classes[i % len(classes)]
        d = os.path.join(root, cls)
        os.makedirs(d, exist_ok=True)
        w, h = (2400, 1800) if i in big else (rnd.randrange(120, 420), rnd.randrange(100, 380))
        kind = i % 6
        if kind in (0, 1, 2):
            p = os.path.join(d, f"img{i:04d}.jpg")
            photo_like(w, h, seed * 1000 + i).save(p, quality=85)
        elif kind == 3:
            p = os.path.join(d, f"img{i:04d}.png")
            photo_like(w, h, seed * 1000 + i, "RGBA").save(p)
        elif kind == 4:
            p = os.path.join(d, f"img{i:04d}.tif")
            photo_like(w, h, seed * 1000 + i).save(p, compression="tiff_lzw")
        else:
            p = os.path.join(d, f"img{i:04d}.jpeg")
            photo_like(w, h, seed * 1000 + i, "L").save(p, quality=90)
        paths.append(p)
    with open(os.path.join(root, "README.txt"), "w") as f:
        f.write("not an image: counted as skipped\n")
    return paths


def gray_alpha(w, h, seed):
    """A gray+alpha ("LA") image whose alpha is mostly opaque (255), with a transparent band
    and a fade: the alpha histogram has a tall spike at 255, as real cut-outs do."""
    gray = photo_like(w, h, seed, "L")
    fade = Image.linear_gradient("L").rotate(90).resize((w, h // 4))
    alpha = Image.new("L", (w, h), 255)
    alpha.paste(0, (0, 0, w, h // 8))
    alpha.paste(fade, (0, h // 8))
    return Image.merge("LA", (gray, alpha))


def clipped(w, h, seed):
    """An over-exposed and crushed RGB image: a third of its samples are 0 or 255."""
    return photo_like(w, h, seed).point(lambda v: max(0, min(255, (v - 128) * 3 + 128)))

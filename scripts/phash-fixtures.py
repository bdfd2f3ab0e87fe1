#!/usr/bin/env python3
"""Generate tests/data/phash/ fixtures for the pHash (imagehash 4.3.2) reproduction.

Run with the reference venv (Pillow 13.0.0, numpy, scipy, imagehash 4.3.2):
    /work/venv/ref/bin/python scripts/phash-fixtures.py

Writes:
  tests/data/phash/synthetic.json  one record per synthetic image (deterministic integer
      formula, reproduced in tests/phash.rs): Pillow 'L' SHA-256, the 32x32 LANCZOS resize
      (hex), the low 8x8 scipy DCT (float64 bit patterns, hex) and imagehash.phash().
  tests/data/phash/dct32.json  scipy.fftpack.dct of length-32 float64 vectors (bit patterns).
"""
import hashlib
import json
import os
import struct

import imagehash
import numpy as np
import scipy.fftpack
from PIL import Image

M32 = 0xFFFFFFFF


def mix32(v):
    v &= M32
    v ^= v >> 16
    v = (v * 0x7FEB352D) & M32
    v ^= v >> 15
    v = (v * 0x846CA68B) & M32
    v ^= v >> 16
    return v


def noise_plane(seed, c, w, h):
    """n(x,y,c) = mix32(mix32(mix32(seed*4+c) ^ y) ^ x), vectorised with numpy uint32."""
    def vmix(v):
        v = v.astype(np.uint64)
        v ^= v >> 16
        v = (v * 0x7FEB352D) & M32
        v ^= v >> 15
        v = (v * 0x846CA68B) & M32
        v ^= v >> 16
        return v
    base = mix32(seed * 4 + c)
    ys = vmix(np.uint64(base) ^ np.arange(h, dtype=np.uint64))  # per row
    return vmix(ys[:, None] ^ np.arange(w, dtype=np.uint64)[None, :])


def channel(kind, seed, c, w, h):
    """Pixel value of channel c as a uint8 (h, w) array; mirrored by `channel` in tests/phash.rs."""
    x = np.arange(w, dtype=np.int64)[None, :]
    y = np.arange(h, dtype=np.int64)[:, None]
    if kind == "noise":
        v = noise_plane(seed, c, w, h) & 255
    elif kind == "gradient":
        # c0: horizontal, c1: vertical, c2: diagonal; integer division.
        if c == 0:
            v = x * 255 // max(w - 1, 1) + 0 * y
        elif c == 1:
            v = y * 255 // max(h - 1, 1) + 0 * x
        else:
            v = (x + y) * 255 // max(w + h - 2, 1)
    elif kind == "blocks":
        # 16x16 blocks of noise.
        v = noise_plane(seed, c, (w + 15) // 16, (h + 15) // 16) & 255
        v = v[(np.arange(h) // 16)[:, None], (np.arange(w) // 16)[None, :]]
    elif kind == "flat":
        v = np.full((h, w), mix32(seed * 4 + c) & 255, dtype=np.int64)
    elif kind == "checker":
        v = ((x + y) % 2) * 255 + 0 * y
    else:
        raise ValueError(kind)
    return np.asarray(v, dtype=np.uint8).reshape(h, w)


def make(kind, mode, seed, w, h):
    if mode == "L":
        return Image.fromarray(channel(kind, seed, 0, w, h), "L")
    arr = np.stack([channel(kind, seed, c, w, h) for c in range(3)], axis=-1)
    return Image.fromarray(arr, "RGB")


def f64hex(v):
    return struct.pack(">d", float(v)).hex()


SIZES = [(1, 1), (2, 2), (5, 7), (7, 5), (31, 33), (32, 32), (33, 32), (32, 33), (3, 200),
         (100, 75), (640, 480), (1600, 1004)]
KINDS = ["noise", "gradient", "blocks", "flat", "checker"]
# Noise only: sizes either side of Pillow 13's vertical-first rule (h - 32 > 2 * (w - 32)).
ORDER_SIZES = [(39, 47), (56, 65), (155, 282), (163, 294), (136, 241), (20, 40), (5, 20),
               (40, 100), (100, 40), (34, 42), (224, 399), (1004, 1600)]


def record(kind, mode, seed, w, h):
    im = make(kind, mode, seed, w, h)
    l = im.convert("L")
    small = l.resize((32, 32), Image.Resampling.LANCZOS)
    px = np.asarray(small)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(px, axis=0), axis=1)
    return {
        "kind": kind, "mode": mode, "seed": seed, "width": w, "height": h,
        "l_sha256": hashlib.sha256(l.tobytes()).hexdigest(),
        "resized": px.tobytes().hex(),
        "dct_low": [f64hex(v) for v in dct[:8, :8].flatten()],
        "phash": str(imagehash.phash(im)),
    }


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "phash")
    os.makedirs(root, exist_ok=True)
    cases = []
    for i, (w, h) in enumerate(SIZES):
        for kind in KINDS:
            for mode in ("RGB", "L"):
                cases.append(record(kind, mode, i * 10 + KINDS.index(kind), w, h))
    for i, (w, h) in enumerate(ORDER_SIZES):
        for mode in ("RGB", "L"):
            cases.append(record("noise", mode, 1000 + i, w, h))
    with open(os.path.join(root, "synthetic.json"), "w") as f:
        json.dump({"generator": "scripts/phash-fixtures.py", "cases": cases}, f, indent=0)
        f.write("\n")

    rng = np.random.default_rng(20240601)
    vecs = [rng.integers(0, 256, 32).astype(np.float64) for _ in range(40)]
    vecs += [rng.normal(0, 1000, 32) for _ in range(40)]
    vecs += [np.full(32, 9.0), np.arange(32, dtype=np.float64), np.zeros(32)]
    dcts = [{"x": [f64hex(v) for v in x], "y": [f64hex(v) for v in scipy.fftpack.dct(x)]}
            for x in vecs]
    with open(os.path.join(root, "dct32.json"), "w") as f:
        json.dump({"generator": "scripts/phash-fixtures.py", "vectors": dcts}, f, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()

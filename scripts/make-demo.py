#!/usr/bin/env python3
"""Build the demo set under demo/: originals, edited copies, unrelated images, lists, and the
reference's verdict for every image.

Run from anywhere with the reference venv (Pillow 13.0.0, numpy, pip pdqhash 0.2.8):

    /work/venv/ref/bin/python scripts/make-demo.py [--check-vigil PATH/TO/vigil]

Rules the script follows (so the output can be trusted and rebuilt):

1. Deterministic: fixed seeds (numpy default_rng / random.Random with constants below), no
   clock, no environment input. Rerunning it rewrites demo/images/ and the lists, and with the
   same Pillow/libjpeg-turbo/libwebp gives the same bytes. demo/images/ is deleted first, so
   nothing stale survives.
2. Sources: only ThreatExchange's BSD-licensed photos under tests/data/threatexchange/pdq/data/
   (never labelme-subset/, whose dataset terms differ) and images generated here from integer
   seeds. Every image is at most 640 px on its long side.
3. Nothing is hard-coded about the outcome. known.txt holds the PDQ hashes that pip pdqhash
   computes for the original files as written; expected.csv is computed by pip pdqhash from
   the files as written, never from what an edit was meant to do. Which copies match and which
   do not is read off expected.csv by the README generator below.
4. Pixels are the ones vigil hashes under policy pillow-rgb/1: Image.open(path).convert('RGB')
   as a C-contiguous uint8 numpy array (frame 0, alpha dropped, EXIF orientation not applied),
   hashed with pdqhash.compute_dihedral (via scripts/pdq_reference.py), whose 8 results are
   in the order orig, rot90, rot180, rot270, flipx, flipy, flipplus1, flipminus1 (checked
   against the dih_* columns of tests/data/threatexchange/derived/pdq-expected.csv at
   start-up). Each row also says whether the upstream C++ float32 luma, which vigil follows,
   gives the same hashes and quality (cpp_luma_same).
5. expected_match = (min over known entries and over the 8 variants of the Hamming distance)
   <= 31 and quality >= 50, the defaults of docs/conventions.md. A tie between variants goes
   to the earlier variant in the order above, a tie between entries to the earlier entry in
   known.txt (as `vigil match --dihedral` reports the best variant). plain_distance is the same
   minimum with the orig variant only (what a match without --dihedral sees).
6. `intent` in expected.csv says what an edit was made to show (light-edit: meant to stay
   within reach; heavy-edit: meant to fall beyond it; quality-gate: hash close, quality low).
   It is a label, not a result: where it and expected_match disagree, expected_match is the
   reference's answer and the README says so.
7. known-md5.txt holds the MD5 of one file, chosen by name (MD5_FILE below), not by result.

With --check-vigil, the script then runs `vigil hash --dihedral --algo pdq --format jsonl` on
demo/images and `vigil match --list demo/known.txt --dihedral` on that output, and fails unless
every hash, quality and match agrees with expected.csv. It never writes vigil's output.
"""
import argparse
import csv
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys

import numpy as np
import pdqhash
import PIL
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

sys.dont_write_bytecode = True  # no scripts/__pycache__ from the import below
from pdq_reference import cpp_dihedral, pip_dihedral  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TX = os.path.join(ROOT, "tests", "data", "threatexchange")
TXP = os.path.join(TX, "pdq", "data")
DEMO = os.path.join(ROOT, "demo")
IMAGES = os.path.join(DEMO, "images")

VARIANTS = ["orig", "rot90", "rot180", "rot270", "flipx", "flipy", "flipplus1", "flipminus1"]
RADIUS = 31
MIN_QUALITY = 50
LONG_SIDE = 640

# Originals: (name, source under tests/data/threatexchange/pdq/data, how it is made).
ORIGINALS = [
    ("bridge", "bridge-mods/aaa-orig.jpg", "ThreatExchange photo, resized"),
    ("desk", "reg-test-input/exif-rotn/exif-rotn-1.jpg", "ThreatExchange photo, resized"),
    ("coaster", "misc-images/c.png", "ThreatExchange photo (RGBA, alpha dropped), resized"),
    ("pen", "reg-test-input/pen-and-coaster.png",
     "make-photos.py recipe: random 60-100 % crop of the ThreatExchange photo, resized"),
]
MD5_FILE = "copies/bridge-crop30.jpg"


def fail(msg):
    print(f"make-demo: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# Reference hashing
# ---------------------------------------------------------------------------------------------

def pixels(path):
    """The RGB8 pixels vigil hashes (policy pillow-rgb/1)."""
    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def dihedral(path):
    """pip pdqhash's 8 hashes and quality, the size, and whether the upstream C++ float32 luma
    (pdq_reference.cpp_dihedral, what vigil computes) gives exactly the same."""
    arr = pixels(path)
    hashes, quality = pip_dihedral(arr)
    same = cpp_dihedral(arr) == (hashes, quality)
    return hashes, quality, arr.shape[1], arr.shape[0], same


def hamming(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def check_variant_order():
    """The dih_* columns of pdq-expected.csv were made with the same binding; make sure the
    order we name the 8 results in is the order those columns use."""
    with open(os.path.join(TX, "derived", "pdq-expected.csv"), newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["file"] == "pdq/data/bridge-mods/aaa-orig.jpg")
    got = dihedral(os.path.join(TX, row["file"]))[0]
    want = [row["dih_" + v] for v in VARIANTS]
    if got != want:
        fail("pdqhash.compute_dihedral order differs from pdq-expected.csv dih_* columns")


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------

def fit(im, long_side=LONG_SIDE):
    w, h = im.size
    s = long_side / max(w, h)
    if s >= 1:
        return im
    return im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)


def make_photos_crop(im, rnd):
    """One image by the recipe of shared/tools/make-photos.py (random crop of 60-100 % of each
    side, then a scale), here followed by the demo's resize to 640 px."""
    w, h = im.size
    cw, ch = int(w * rnd.uniform(0.6, 1.0)), int(h * rnd.uniform(0.6, 1.0))
    x, y = rnd.randint(0, w - cw), rnd.randint(0, h - ch)
    c = im.crop((x, y, x + cw, y + ch))
    s = rnd.uniform(0.35, 0.8) if max(cw, ch) > 2500 else rnd.uniform(0.7, 1.0)
    return c.resize((max(64, int(cw * s)), max(64, int(ch * s))), Image.BILINEAR)


def load_original(name, src):
    im = Image.open(os.path.join(TXP, src)).convert("RGB")
    if name == "pen":
        im = make_photos_crop(im, random.Random(7))
    return fit(im)


def fractal(h, w, rng, octaves=6, base=4, persistence=0.55):
    """Sum of upsampled random grids (value noise), scaled to 0..1."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        gh, gw = base * 2 ** o + 1, int(base * 2 ** o * w / h) + 1
        grid = rng.random((gh, gw), dtype=np.float32)
        up = Image.fromarray(grid, "F").resize((w, h), Image.BICUBIC)
        out += amp * np.asarray(up, np.float32)
        total += amp
        amp *= persistence
    out /= total
    lo, hi = out.min(), out.max()
    return (out - lo) / (hi - lo + 1e-9)


def ridge(w, rng, octaves=7):
    """A 1-D fractal line, 0..1."""
    line = np.zeros(w, np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        n = 2 ** (o + 1) + 1
        pts = rng.random(n)
        line += amp * np.interp(np.linspace(0, n - 1, w), np.arange(n), pts).astype(np.float32)
        total += amp
        amp *= 0.5
    line /= total
    return (line - line.min()) / (line.max() - line.min() + 1e-9)


def to_image(a):
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def gen_landscape(seed, w=640, h=427):
    """Sky with clouds, three mountain ranges, a lake with their reflection."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    horizon = int(h * 0.62)
    sky_top, sky_low = np.array([40, 90, 170], np.float32), np.array([190, 215, 235], np.float32)
    img = sky_top + (sky_low - sky_top) * np.clip(y / 0.62, 0, 1) * np.ones((1, w, 1), np.float32)
    clouds = fractal(h, w, rng, octaves=6, base=3)
    cmask = np.clip((clouds - 0.52) * 3.5, 0, 1)[..., None] * np.clip(1.2 - y / 0.62, 0, 1)
    img = img * (1 - cmask) + np.array([245, 245, 250], np.float32) * cmask
    rows = np.arange(h)[:, None]
    tex = fractal(h, w, rng, octaves=6, base=8)[..., None]
    ranges = [(0.30, 0.22, [105, 125, 150]), (0.42, 0.18, [70, 95, 80]), (0.52, 0.12, [40, 70, 35])]
    for top, height, col in ranges:
        line = (top + height * (1 - ridge(w, rng))) * h
        mask = (rows >= line[None, :])[..., None]
        shade = np.array(col, np.float32) * (0.75 + 0.5 * tex)
        img = np.where(mask, shade, img)
    # Lake: mirror of the scene above the horizon, darker and rippled.
    above = img[horizon - (h - horizon):horizon][::-1]
    ripple = fractal(h - horizon, w, rng, octaves=4, base=20)[..., None]
    shift = (ripple * 6).astype(int)[..., 0]
    cols = (np.arange(w)[None, :] + shift) % w
    refl = np.take_along_axis(above, cols[..., None].repeat(3, axis=2), axis=1)
    img[horizon:] = refl * 0.65 + np.array([20, 40, 60], np.float32) * 0.35
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    return to_image(img).filter(ImageFilter.GaussianBlur(0.6))


def gen_leaves(seed, w=640, h=480):
    """Autumn leaves on the ground: the 'dead leaves' model (occluding discs of power-law
    sizes), whose statistics resemble natural images."""
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    palette = [(150, 60, 20), (190, 110, 30), (120, 40, 25), (205, 160, 60), (90, 70, 35),
               (160, 90, 40), (70, 55, 30), (200, 80, 30)]
    im = Image.new("RGB", (w, h), (60, 45, 30))
    d = ImageDraw.Draw(im)
    for _ in range(2600):
        r = 6 / math.sqrt(rnd.uniform(0.0025, 1.0))
        x, y = rnd.uniform(-r, w + r), rnd.uniform(-r, h + r)
        c = palette[rnd.randrange(len(palette))]
        j = rnd.uniform(0.7, 1.15)
        col = tuple(min(255, int(v * j)) for v in c)
        ang = rnd.uniform(0, math.pi)
        rx, ry = r, r * rnd.uniform(0.45, 0.8)
        pts = [(x + rx * math.cos(t) * math.cos(ang) - ry * math.sin(t) * math.sin(ang),
                y + rx * math.cos(t) * math.sin(ang) + ry * math.sin(t) * math.cos(ang))
               for t in np.linspace(0, 2 * math.pi, 24, endpoint=False)]
        d.polygon(pts, fill=col)
        d.line([(x - rx * math.cos(ang), y - rx * math.sin(ang)),
                (x + rx * math.cos(ang), y + rx * math.sin(ang))],
               fill=tuple(int(v * 0.6) for v in col), width=1)
    a = np.asarray(im, np.float32)
    a *= (0.8 + 0.4 * fractal(h, w, rng, octaves=5, base=2))[..., None]
    a += rng.normal(0, 4, a.shape).astype(np.float32)
    return to_image(a).filter(ImageFilter.GaussianBlur(0.7))


def gen_pebbles(seed, w=600, h=450):
    """River pebbles: Voronoi cells shaded as rounded stones, dark gaps between them."""
    rng = np.random.default_rng(seed)
    n = 170
    pts = rng.random((n, 2)) * [w, h]
    base = rng.uniform(90, 200, n)
    tint = rng.normal(0, 12, (n, 3))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    best = np.full((h, w), np.inf, np.float32)
    second = np.full((h, w), np.inf, np.float32)
    idx = np.zeros((h, w), np.int32)
    for i, (px, py) in enumerate(pts):
        dd = np.hypot(xx - px, yy - py)
        closer = dd < best
        second = np.where(closer, best, np.minimum(second, dd))
        idx = np.where(closer, i, idx)
        best = np.where(closer, dd, best)
    edge = np.clip((second - best) / 14.0, 0, 1) ** 0.5
    light = np.clip(1.0 - (yy - pts[idx, 1]) / 60.0 - (xx - pts[idx, 0]) / 90.0, 0.4, 1.4)
    grain = fractal(h, w, rng, octaves=5, base=24)
    v = base[idx] * edge * (0.55 + 0.35 * light) * (0.85 + 0.3 * grain)
    a = v[..., None] + tint[idx] * edge[..., None] + np.array([8, 4, 0], np.float32)
    a += rng.normal(0, 3, a.shape).astype(np.float32)
    return to_image(a).filter(ImageFilter.GaussianBlur(0.5))


def gen_bokeh(seed, w=640, h=400):
    """City lights at night out of focus: blurred discs on a dark gradient."""
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    bg = np.array([10, 12, 30], np.float32) + np.array([30, 20, 25], np.float32) * y
    layer = Image.new("RGB", (w, h), (0, 0, 0))
    d = ImageDraw.Draw(layer)
    cols = [(255, 190, 90), (255, 120, 60), (120, 180, 255), (255, 240, 200), (200, 90, 200)]
    for _ in range(140):
        r = rnd.uniform(5, 38)
        x, yc = rnd.uniform(0, w), rnd.gauss(h * 0.55, h * 0.22)
        c = cols[rnd.randrange(len(cols))]
        k = rnd.uniform(0.25, 0.8)
        d.ellipse([x - r, yc - r, x + r, yc + r], fill=tuple(int(v * k) for v in c))
    lights = np.asarray(layer.filter(ImageFilter.GaussianBlur(2.5)), np.float32)
    a = bg + lights * 1.1 + rng.normal(0, 2.5, (h, w, 3)).astype(np.float32)
    return to_image(a)


UNRELATED = [
    ("landscape", gen_landscape, 101, "mountains, clouds and a lake (fractal noise)"),
    ("leaves", gen_leaves, 202, "autumn leaves (dead-leaves model)"),
    ("pebbles", gen_pebbles, 303, "river pebbles (shaded Voronoi cells)"),
    ("bokeh", gen_bokeh, 404, "out-of-focus city lights at night"),
]


def watermark(im):
    """A small semi-transparent logo and text in the bottom-right corner (about 28 % of the
    width, 11 % of the height)."""
    im = im.convert("RGBA")
    w, h = im.size
    ow, oh = int(w * 0.28), int(h * 0.11)
    x0, y0 = w - ow - int(w * 0.03), h - oh - int(h * 0.04)
    over = Image.new("RGBA", im.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    d.rounded_rectangle([x0, y0, x0 + ow, y0 + oh], radius=oh // 4, fill=(255, 255, 255, 150))
    r = oh * 0.34
    cx, cy = x0 + oh * 0.5, y0 + oh * 0.5
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(200, 30, 40, 220))
    d.ellipse([cx - r * 0.45, cy - r * 0.45, cx + r * 0.45, cy + r * 0.45], fill=(255, 255, 255, 230))
    size = max(8, int(oh * 0.38))
    font = ImageFont.load_default(size=size)
    while size > 8 and font.getlength("photo-share.example") > ow - oh * 1.1:
        size -= 1
        font = ImageFont.load_default(size=size)
    d.text((x0 + oh * 0.95, cy), "photo-share.example", font=font, fill=(30, 30, 30, 230), anchor="lm")
    return Image.alpha_composite(im, over).convert("RGB")


def crop_centre(im, keep):
    w, h = im.size
    cw, ch = round(w * keep), round(h * keep)
    x, y = (w - cw) // 2, (h - ch) // 2
    return im.crop((x, y, x + cw, y + ch))


# (suffix, extension, save options, transform, description, intent)
EDITS = [
    ("resize50", "png", {}, lambda im: im.resize((im.width // 2, im.height // 2), Image.LANCZOS),
     "resized to 50 % (LANCZOS), saved as PNG", "light-edit"),
    ("q20", "jpg", {"quality": 20}, lambda im: im, "re-encoded as JPEG quality 20", "light-edit"),
    ("rot90", "jpg", {"quality": 85}, lambda im: im.transpose(Image.ROTATE_90),
     "rotated 90° counter-clockwise", "light-edit"),
    ("mirror", "jpg", {"quality": 85}, lambda im: im.transpose(Image.FLIP_LEFT_RIGHT),
     "mirrored left-right", "light-edit"),
    ("crop2", "jpg", {"quality": 85}, lambda im: crop_centre(im, 0.98),
     "cropped 2 % (central 98 % of width and height kept)", "light-edit"),
    ("crop5", "jpg", {"quality": 85}, lambda im: crop_centre(im, 0.95),
     "cropped 5 % (central 95 % of width and height kept)", "light-edit"),
    ("logo", "webp", {"quality": 80, "method": 4}, watermark,
     "logo and text overlay in a corner, saved as lossy WebP", "light-edit"),
    ("rot90-q30-small", "jpg", {"quality": 30},
     lambda im: im.transpose(Image.ROTATE_270).resize((im.height * 3 // 5, im.width * 3 // 5), Image.BILINEAR),
     "rotated 90° clockwise, resized to 60 %, JPEG quality 30", "light-edit"),
    ("dark", "jpg", {"quality": 90}, lambda im: ImageEnhance.Brightness(im).enhance(0.1),
     "darkened to 10 % brightness (hash stays close, PDQ quality falls)", "quality-gate"),
    ("crop30", "jpg", {"quality": 85}, lambda im: crop_centre(im, 0.70),
     "cropped 30 % (central 70 % of width and height kept)", "heavy-edit"),
    ("rot15", "jpg", {"quality": 85},
     lambda im: im.rotate(15, resample=Image.BICUBIC, expand=True, fillcolor=(0, 0, 0)),
     "rotated 15° (canvas expanded, black corners)", "heavy-edit"),
]


def save(im, rel, ext, opts):
    path = os.path.join(IMAGES, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fmt = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[ext]
    kw = dict(opts)
    if fmt == "JPEG":
        kw.setdefault("quality", 90)
    if fmt == "PNG":
        kw["optimize"] = True
    im.save(path, fmt, **kw)
    return rel


def build_images():
    """Write every image; return [(rel, kind, source, edit, intent)]."""
    if os.path.isdir(IMAGES):
        shutil.rmtree(IMAGES)
    items = []
    for i, (name, src, how) in enumerate(ORIGINALS, 1):
        im = load_original(name, src)
        rel = save(im, f"originals/{i}-{name}.jpg", "jpg", {"quality": 90})
        items.append((rel, "original", f"tests/data/threatexchange/pdq/data/{src}", how, "original"))
        # Copies start from the decoded original file, as a re-post would.
        base = Image.open(os.path.join(IMAGES, rel)).convert("RGB")
        for suffix, ext, opts, fn, desc, intent in EDITS:
            rel_c = save(fn(base), f"copies/{name}-{suffix}.{ext}", ext, opts)
            items.append((rel_c, "copy", "images/" + rel, desc, intent))
    for name, fn, seed, desc in UNRELATED:
        rel = save(fn(seed), f"unrelated/{name}.jpg", "jpg", {"quality": 88})
        items.append((rel, "unrelated", f"generated, seed {seed}", desc, "unrelated"))
    return items


# ---------------------------------------------------------------------------------------------
# Lists, expected.csv, README
# ---------------------------------------------------------------------------------------------

def md5_of(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def compute(items):
    known = []  # (label, hex, quality)
    refs = {}
    for rel, kind, *_ in items:
        refs[rel] = dihedral(os.path.join(IMAGES, rel))
    for i, (rel, kind, *_) in enumerate(x for x in items if x[1] == "original"):
        hashes, q = refs[rel][:2]
        label = "demo-original-%d-%s" % (i + 1, ORIGINALS[i][0])
        if q < MIN_QUALITY:
            fail(f"{rel} has quality {q} < {MIN_QUALITY}: it could not go into a list")
        known.append((label, hashes[0], q))
    md5_known = md5_of(os.path.join(IMAGES, MD5_FILE))
    rows = []
    for rel, kind, source, desc, intent in items:
        hashes, q, w, h, cpp_same = refs[rel]
        per_entry = []
        for label, khex, _ in known:
            ds = [hamming(v, khex) for v in hashes]
            d = min(ds)
            per_entry.append((d, ds.index(d), label, ds[0]))
        best = min(per_entry, key=lambda t: t[0])  # min() keeps the first on ties
        plain = min(t[3] for t in per_entry)
        md5 = md5_of(os.path.join(IMAGES, rel))
        row = {
            "file": "images/" + rel, "kind": kind, "intent": intent, "edit": desc, "source": source,
            "width": w, "height": h, "quality": q,
            "best_list_entry": best[2], "best_distance": best[0], "best_variant": VARIANTS[best[1]],
            "expected_match": int(best[0] <= RADIUS and q >= MIN_QUALITY),
            "plain_distance": plain,
            "plain_match": int(plain <= RADIUS and q >= MIN_QUALITY),
            "md5": md5, "md5_match": int(md5 == md5_known),
            "cpp_luma_same": int(cpp_same),
        }
        for d, _, label, _ in per_entry:
            row["dist_" + label] = d
        for v, hx in zip(VARIANTS, hashes):
            row["dih_" + v] = hx
        rows.append(row)
    return known, md5_known, rows


def write_outputs(known, md5_known, rows):
    with open(os.path.join(DEMO, "known.txt"), "w") as f:
        for label, hx, _ in known:
            f.write(f"{hx},{label}\n")
    with open(os.path.join(DEMO, "known-md5.txt"), "w") as f:
        f.write(f"{md5_known},demo-md5-{os.path.basename(MD5_FILE)}\n")
    cols = list(rows[0].keys())
    with open(os.path.join(DEMO, "expected.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def write_readme(known, md5_known, rows):
    """demo/README.md. Every number and every claim about an outcome is read off `rows` (the
    content of expected.csv); sentences that depend on an outcome are only written when the
    rows bear them out."""
    copies = [r for r in rows if r["kind"] == "copy"]
    unrel = [r for r in rows if r["kind"] == "unrelated"]
    origs = [r for r in rows if r["kind"] == "original"]
    label_of = {r["file"]: lab for r, (lab, _, _) in zip(origs, known)}
    for r in copies:
        r["own"] = r["dist_" + label_of[r["source"]]]
    n_match = sum(r["expected_match"] for r in rows)
    n_plain = sum(r["plain_match"] for r in rows)
    total = sum(os.path.getsize(os.path.join(DEMO, r["file"])) for r in rows)

    def base(r):
        return os.path.basename(r["file"])

    def suffix(r):
        return base(r).split("-", 1)[1].rsplit(".", 1)[0]

    def names(rs, key="best_distance"):
        return ", ".join(f"`{base(r)}` ({r[key]})" for r in rs) or "none"

    def span(vals):
        return f"{min(vals)}-{max(vals)}" if min(vals) != max(vals) else f"{min(vals)}"

    by_edit = {}
    for r in copies:
        by_edit.setdefault(suffix(r), []).append(r)
    L = []
    a = L.append
    a("# Demo set")
    a("")
    a("Everything in this folder, this README included, is written by "
      "`scripts/make-demo.py` (run with the reference venv: Pillow "
      f"{PIL.__version__}, pip pdqhash {pdqhash.__version__}, numpy). Do not edit it by hand; "
      "rerun the script. Its docstring lists the rules it follows.")
    a("")
    a(f"{len(rows)} images ({total:,} bytes), each at most {LONG_SIDE} px on its long side:")
    a("")
    a(f"* `images/originals/`: {len(origs)} originals, the \"known\" images.")
    a(f"* `images/copies/`: {len(EDITS)} edited copies of each original ({len(copies)} files).")
    a(f"* `images/unrelated/`: {len(unrel)} generated images that derive from none of the "
      "originals.")
    a("* `known.txt`: the PDQ hashes of the originals, one `hex,label` per line (plain hex "
      "with metadata, as `vigil index build --list` and `vigil match --list` read it).")
    a(f"* `known-md5.txt`: one MD5 digest list entry (`hex,label`), the MD5 of "
      f"`images/{MD5_FILE}`: an exact-file match.")
    a("* `expected.csv`: the reference's verdict for every image (below).")
    a("* `LICENSE-ThreatExchange.txt`: the BSD licence of the source photos.")
    a("")
    a("## Try it")
    a("")
    a("    vigil hash --dihedral --format jsonl demo/images \\")
    a("      | vigil match --list demo/known.txt --dihedral -")
    a("")
    a(f"That prints one record for each of the {n_match} images with `expected_match` = 1 "
      f"(without `--dihedral`, with plain `vigil hash` output: {n_plain}, the `plain_match` "
      "rows). `vigil hash` emits no MD5, so the digest list is matched by a scan, or by "
      "`vigil match --list demo/known-md5.txt` with `hex,path` query lines (e.g. from "
      f"`md5sum`). A scan of `demo/images` with both lists is expected to report exactly the "
      f"{n_match} `expected_match` rows by PDQ and `images/{MD5_FILE}` by MD5.")
    a("")
    a("## Sources and licence")
    a("")
    a("| Original | Source | How |")
    a("|---|---|---|")
    for r in origs:
        a(f"| `{r['file']}` | `{r['source']}` | {r['edit']} to {LONG_SIDE} px, JPEG q90 |")
    a("")
    a("The source photos are ThreatExchange's reference test photos (Meta's "
      "[ThreatExchange](https://github.com/facebook/ThreatExchange), commit "
      "`baefb4ed67b6cdc1d4c82dbaef858d50866ac424`), Copyright (c) Meta Platforms, Inc. and "
      "affiliates, BSD licence: `LICENSE-ThreatExchange.txt` (a copy of "
      "`tests/data/threatexchange/LICENSE-ThreatExchange-root.txt`). The originals and copies "
      "here are derived from them and carry the same licence. No LabelMe image is used. "
      "Original 4 follows the recipe of `shared/tools/make-photos.py` (random 60-100 % crop, "
      "then a scale; `random.Random(7)`), applied to the repository's copy of the photo. "
      "Originals 3 and 4 show the same coaster in two different photos. The unrelated images "
      "are drawn by the script from fixed seeds (numpy/`random` noise, discs, Voronoi cells) "
      "and contain no third-party material.")
    a("")
    a("## Edits")
    a("")
    a("Each copy is made from the decoded original file. Distance: to the copy's own original, "
      "minimum over the 8 dihedral variants.")
    a("")
    a("| Copy | Edit | Intent | Distance (bridge, desk, coaster, pen) | Quality | Expected to match |")
    a("|---|---|---|---|---|---|")
    for e in EDITS:
        rs = by_edit[e[0]]
        ds = ", ".join(str(r["own"]) for r in rs)
        qs = ", ".join(str(r["quality"]) for r in rs)
        m = sum(r["expected_match"] for r in rs)
        a(f"| `*-{e[0]}` | {e[4]} | {e[5]} | {ds} | {qs} | {m} of {len(rs)} |")
    a("")
    a("## What the reference says (expected.csv)")
    a("")
    dih_only = [r for r in copies if r["expected_match"] and not r["plain_match"]]
    a(f"* **{n_match} of {len(rows)} images are expected to match** with `--dihedral` at "
      f"radius {RADIUS} and quality >= {MIN_QUALITY}: {len(origs)} originals (distance "
      f"{span([r['best_distance'] for r in origs])}) and {n_match - len(origs)} copies. "
      f"Without `--dihedral`, {n_plain}. Found only through a dihedral variant: "
      f"{len(dih_only)} copies (`" + "`, `".join(sorted({'*-' + suffix(r) for r in dih_only}))
      + "`), best distance " + span([r["best_distance"] for r in dih_only])
      + ", plain distance " + span([r["plain_distance"] for r in dih_only]) + ".")
    variants = sorted({(suffix(r), r["best_variant"]) for r in dih_only})
    a("* Variant names are PDQ's: " + ", ".join(f"`*-{sfx}` matches through `{v}`"
                                                for sfx, v in variants)
      + " (Pillow's `ROTATE_90` turns counter-clockwise).")
    for intent, title in [("light-edit", "Light edits"), ("heavy-edit", "Heavy edits"),
                          ("quality-gate", "Quality-gate copies")]:
        rs = [r for r in copies if r["intent"] == intent]
        hit = [r for r in rs if r["expected_match"]]
        miss = [r for r in rs if not r["expected_match"]]
        line = f"* {title}: {len(hit)} of {len(rs)} expected to match."
        far = [r for r in miss if r["own"] > RADIUS]
        gated = [r for r in miss if r["own"] <= RADIUS]
        if far:
            line += (" Beyond reach (distance to own original > " f"{RADIUS}): "
                     + names(far, "own") + ".")
        if gated:
            line += (f" Within {RADIUS} bits of their original but quality below "
                     f"{MIN_QUALITY}, so not a match: "
                     + ", ".join(f"`{base(r)}` (distance {r['own']}, quality {r['quality']})"
                                 for r in gated) + ".")
        if intent == "light-edit" and miss:
            line += (" These were meant to match (`intent` was a guess); the reference says "
                     "otherwise, and `expected_match` follows the reference.")
        if intent == "heavy-edit" and hit:
            line += (" These were meant to fall beyond reach (`intent` was a guess); the "
                     "reference says otherwise, and `expected_match` follows the reference.")
        a(line)
    heavy = [r for r in copies if r["intent"] == "heavy-edit"]
    a(f"* Unrelated images: minimum distance to any list entry "
      + ", ".join(f"`{base(r)}` {r['best_distance']}" for r in unrel)
      + f"; {sum(r['expected_match'] for r in unrel)} of {len(unrel)} match. For comparison, "
      f"the heavy edits sit {span([r['best_distance'] for r in heavy])} bits from their "
      "nearest entry.")
    md5r = [r for r in rows if r["md5_match"]]
    a(f"* MD5: " + ", ".join(f"`{r['file']}` (PDQ: best distance {r['best_distance']}, "
                             f"expected_match {r['expected_match']})" for r in md5r)
      + " is found by its digest; a digest list matches the exact file whatever its PDQ "
      "distance.")
    a("")
    a("## expected.csv")
    a("")
    a("One row per image: `file` (relative to `demo/`), `kind` (original, copy, unrelated), "
      "`intent`, `edit`, `source`, `width`, `height`, `quality`, `best_list_entry`, "
      "`best_distance`, `best_variant`, `expected_match`, `plain_distance`, `plain_match`, "
      "`md5`, `md5_match`, `cpp_luma_same`, one `dist_<label>` column per `known.txt` entry (minimum over the 8 "
      "variants) and the 8 hashes `dih_orig` ... `dih_flipminus1`.")
    a("")
    a("They come from pip pdqhash 0.2.8 `compute_dihedral` on "
      "`np.asarray(Image.open(f).convert('RGB'))`, the pixels vigil hashes under policy "
      f"`pillow-rgb/1`. `expected_match` = best_distance <= {RADIUS} and quality >= "
      f"{MIN_QUALITY}; ties go to the earlier variant (orig, rot90, rot180, rot270, flipx, "
      "flipy, flipplus1, flipminus1) and the earlier list entry, as `vigil match --dihedral` "
      "reports. `plain_*` use the `orig` variant only.")
    a("")
    n_same = sum(r["cpp_luma_same"] for r in rows)
    a("pip pdqhash computes the luma in float64 before the C++ core; the upstream C++ code "
      "(and vigil) computes it in float32, which on a few images moves the quality by 1 or the "
      "hash by a few bits. `cpp_luma_same` = 1 where the same library's C++ float32 luma "
      "(`scripts/pdq_reference.py`, through ctypes) gives exactly the same 8 hashes and "
      f"quality: {n_same} of {len(rows)} images"
      + ("." if n_same == len(rows) else "; the other rows follow pip pdqhash."))
    a("")
    a("`scripts/make-demo.py --check-vigil target/release/vigil` rebuilds the set and fails "
      "unless vigil's 8 hashes and quality for every image, its dihedral matches (entry, "
      "distance, variant) and the MD5 match agree with this file.")
    for r in copies:
        del r["own"]
    with open(os.path.join(DEMO, "README.md"), "w") as f:
        f.write("\n".join(L) + "\n")


def check_vigil(vigil, rows):
    """Cross-check vigil's hashes and dihedral matches against expected.csv."""
    files = [os.path.join(DEMO, r["file"]) for r in rows]
    out = subprocess.run([vigil, "hash", "--dihedral", "--algo", "pdq", "--format", "jsonl",
                          "--backend", "cpu"] + files, capture_output=True, check=True).stdout
    recs = {os.path.relpath(json.loads(l)["path"], DEMO): json.loads(l) for l in out.splitlines()}
    bad = 0
    for r in rows:
        v = recs.get(r["file"])
        if v is None or v["status"] != "hashed":
            print(f"  vigil did not hash {r['file']}: {v}", file=sys.stderr)
            bad += 1
            continue
        mine = [r["dih_" + k] for k in VARIANTS]
        theirs = [v["dihedral"][k] for k in VARIANTS]
        if mine != theirs or v["quality"] != r["quality"] or v["hash"] != r["dih_orig"]:
            print(f"  differs: {r['file']}", file=sys.stderr)
            bad += 1
    m = subprocess.run([vigil, "match", "--list", os.path.join(DEMO, "known.txt"), "--dihedral",
                        "--format", "jsonl", "-"], input=out, capture_output=True)
    if m.returncode not in (0, 1):
        fail(f"vigil match exited {m.returncode}: {m.stderr.decode(errors='replace')}")
    matched = {}
    for l in m.stdout.splitlines():
        j = json.loads(l)
        if j.get("query_path"):
            p = os.path.relpath(j["query_path"], DEMO)
            if p not in matched or j["distance"] < matched[p]["distance"]:
                matched[p] = j
    for r in rows:
        j = matched.get(r["file"])
        if bool(j) != bool(r["expected_match"]):
            print(f"  match differs: {r['file']} vigil={j} expected={r['expected_match']}",
                  file=sys.stderr)
            bad += 1
        elif j and (j["distance"], j["variant"], j["label"]) != (
                r["best_distance"], r["best_variant"], r["best_list_entry"]):
            print(f"  best match differs: {r['file']} vigil={j} expected={r['best_distance']} "
                  f"{r['best_variant']} {r['best_list_entry']}", file=sys.stderr)
            bad += 1
    md5q = "".join(f"{r['md5']},{r['file']}\n" for r in rows).encode()
    m = subprocess.run([vigil, "match", "--list", os.path.join(DEMO, "known-md5.txt"),
                        "--format", "jsonl", "-"], input=md5q, capture_output=True)
    got = sorted(json.loads(l)["query_path"] for l in m.stdout.splitlines())
    want = sorted(r["file"] for r in rows if r["md5_match"])
    if got != want:
        print(f"  md5 matches differ: vigil={got} expected={want}", file=sys.stderr)
        bad += 1
    if bad:
        fail(f"vigil disagrees with the reference on {bad} row(s)")
    print(f"vigil agrees on all {len(rows)} images: 8 dihedral hashes, quality, and "
          f"{len(matched)} dihedral matches", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check-vigil", metavar="VIGIL", help="cross-check with this vigil binary")
    args = ap.parse_args()
    if PIL.__version__ != "13.0.0" or pdqhash.__version__ != "0.2.8":
        print(f"make-demo: note: Pillow {PIL.__version__}, pdqhash {pdqhash.__version__} "
              "(the committed files were made with Pillow 13.0.0, pdqhash 0.2.8)", file=sys.stderr)
    check_variant_order()
    os.makedirs(DEMO, exist_ok=True)
    items = build_images()
    known, md5_known, rows = compute(items)
    write_outputs(known, md5_known, rows)
    shutil.copyfile(os.path.join(TX, "LICENSE-ThreatExchange-root.txt"),
                    os.path.join(DEMO, "LICENSE-ThreatExchange.txt"))
    write_readme(known, md5_known, rows)
    total = sum(os.path.getsize(os.path.join(IMAGES, r["file"][len("images/"):])) for r in rows)
    print(f"{len(rows)} images, {total} bytes; {sum(r['expected_match'] for r in rows)} expected "
          "to match with --dihedral", file=sys.stderr)
    if args.check_vigil:
        check_vigil(args.check_vigil, rows)


if __name__ == "__main__":
    main()

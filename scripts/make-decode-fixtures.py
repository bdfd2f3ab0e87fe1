#!/usr/bin/env python3
"""Write the decode test images and their Pillow reference rows.

Run from the crate root with the reference venv (Pillow 13, numpy, pdqhash, imagehash):

    /work/venv/ref/bin/python scripts/make-decode-fixtures.py

Needs `cjpeg` (Debian libjpeg-turbo-progs) for 4:4:0 / 4:1:1 / restart / arithmetic JPEGs and
libturbojpeg.so.0 (ctypes) for the YCCK JPEG. Writes into tests/data/decode/:
  * the generated images (content: crops of the BSD-licensed ThreatExchange photo aaa-orig.jpg);
  * pixels-expected.csv: file,mode,outcome,width,height,sha256 — sha256 of Pillow's
    Image.open(f).convert('RGB').tobytes() (mode "exif": after ImageOps.exif_transpose), for the
    generated files and every file of tests/data/threatexchange/derived/pdq-expected.csv;
    outcome is ok, error (Pillow refuses it), unsupported (Pillow decodes it, vigil refuses
    the variant on purpose because its decoder would not give Pillow's pixels) or partial
    (Pillow decodes only part of the data and fills in the rest; vigil refuses it as truncated);
  * extra-expected.csv: reference PDQ / pHash rows for GIF, BMP, TIFF, 16-bit PNG, CMYK JPEG.
"""
import csv, ctypes, hashlib, io, os, struct, subprocess, sys, tempfile, zlib

import numpy as np
from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "decode")
TX = os.path.join(ROOT, "tests", "data", "threatexchange")
PHOTO = os.path.join(TX, "pdq", "data", "bridge-mods", "aaa-orig.jpg")
os.makedirs(OUT, exist_ok=True)

SRC = Image.open(PHOTO).convert("RGB")


def photo(w, h, box=(300, 150, 1300, 775)):
    """Photo-like content: a crop of the ThreatExchange photo, resized."""
    return SRC.crop(box).resize((w, h), Image.LANCZOS)


# Variants vigil refuses on purpose (its decoder would not give Pillow's pixels).
UNSUPPORTED = set()
# Files Pillow decodes only in part (the rest filled in), which vigil refuses as truncated.
PARTIAL = set()
rows_generated = []  # file names, in order
extra_files = []


def path(name):
    return os.path.join(OUT, name)


def save(im, name, fmt=None, **kw):
    im.save(path(name), fmt, **kw)
    rows_generated.append(name)


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)
    rows_generated.append(name)


def pil_bytes(im, **kw):
    b = io.BytesIO()
    im.save(b, **kw)
    return b.getvalue()


# ---------------------------------------------------------------- JPEG
P = photo(160, 100)
for ss, tag in [(0, "444"), (1, "422"), (2, "420")]:
    save(P, f"jpeg-{tag}.jpg", "JPEG", quality=85, subsampling=ss)
save(photo(150, 97), "jpeg-420-odd.jpg", "JPEG", quality=80, subsampling=2)
save(P, "jpeg-progressive.jpg", "JPEG", quality=85, progressive=True)
save(P.convert("L"), "jpeg-grey.jpg", "JPEG", quality=85)
save(photo(150, 97).convert("L"), "jpeg-grey-progressive.jpg", "JPEG", quality=90, progressive=True)

with tempfile.TemporaryDirectory() as td:
    ppm = os.path.join(td, "in.ppm")
    photo(150, 97).save(ppm)
    for name, args in [
        ("jpeg-440.jpg", ["-sample", "1x2"]),
        ("jpeg-411.jpg", ["-sample", "4x1"]),
        ("jpeg-restart.jpg", ["-restart", "1", "-sample", "2x2"]),
        ("jpeg-restart-blocks.jpg", ["-restart", "3B", "-sample", "2x1"]),
        ("jpeg-arithmetic.jpg", ["-arithmetic"]),
        ("jpeg-arithmetic-progressive.jpg", ["-arithmetic", "-progressive"]),
        ("jpeg-optimize-progressive.jpg", ["-optimize", "-progressive", "-sample", "1x1"]),
        ("jpeg-grey-cjpeg.jpg", ["-grayscale"]),
        ("jpeg-rgb-colorspace.jpg", ["-rgb"]),
    ]:
        data = subprocess.run(["cjpeg", "-quality", "85", *args, ppm], check=True, capture_output=True).stdout
        write(name, data)

# CMYK as Pillow writes it (Adobe APP14, transform 0), with photo content.
C = photo(160, 100).convert("CMYK")
save(C, "jpeg-cmyk-adobe.jpg", "JPEG", quality=90)
extra_files.append("jpeg-cmyk-adobe.jpg")
# A CMYK image with real K (convert('CMYK') leaves K = 0): K from darkness.
a = np.asarray(photo(160, 100)).astype(np.int32)
k = 255 - a.max(axis=2)
cmyk = np.stack([255 - a[..., 0] - k, 255 - a[..., 1] - k, 255 - a[..., 2] - k, k], axis=2)
CK = Image.fromarray(np.clip(cmyk, 0, 255).astype(np.uint8), "CMYK")
save(CK, "jpeg-cmyk-k.jpg", "JPEG", quality=90)
# Same without the Adobe marker (libjpeg then assumes plain CMYK; Pillow still inverts).
d = pil_bytes(CK, format="JPEG", quality=90)
i = d.find(b"\xff\xee")
if i >= 0:
    ln = struct.unpack(">H", d[i + 2:i + 4])[0]
    d = d[:i] + d[i + 2 + ln:]
write("jpeg-cmyk-noadobe.jpg", d)

# YCCK through TurboJPEG's compressor (it writes CMYK input as YCCK with an Adobe marker).
tj = ctypes.CDLL("libturbojpeg.so.0")
tj.tjInitCompress.restype = ctypes.c_void_p
tj.tjCompress2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                           ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_ulong),
                           ctypes.c_int, ctypes.c_int, ctypes.c_int]
tj.tjFree.argtypes = [ctypes.c_void_p]
tj.tjDestroy.argtypes = [ctypes.c_void_p]


def tj_cmyk(im, subsamp, quality=90):
    h = tj.tjInitCompress()
    raw = bytes(255 - np.asarray(im).astype(np.uint8))  # Adobe convention: inverted CMYK
    buf, size = ctypes.c_void_p(), ctypes.c_ulong(0)
    rc = tj.tjCompress2(h, raw, im.width, im.width * 4, im.height, 11, ctypes.byref(buf), ctypes.byref(size),
                        subsamp, quality, 0)
    assert rc == 0
    out = ctypes.string_at(buf, size.value)
    tj.tjFree(buf)
    tj.tjDestroy(h)
    return out


write("jpeg-ycck-444.jpg", tj_cmyk(CK, 0))
write("jpeg-ycck-420.jpg", tj_cmyk(CK, 2))

# Warnings and damage.
base = pil_bytes(P, format="JPEG", quality=85)
i = base.find(b"\xff\xda")
write("jpeg-extraneous-bytes.jpg", base[:i] + b"\x00\x01\x02\x03" + base[i:])
write("jpeg-trailing-garbage.jpg", base + b"GARBAGE" * 10)
write("jpeg-trunc-half.jpg", base[: len(base) // 2])
write("jpeg-trunc-no-eoi.jpg", base[:-2])
write("jpeg-trunc-header.jpg", base[:200])
prog = pil_bytes(P, format="JPEG", quality=85, progressive=True)
write("jpeg-trunc-progressive.jpg", prog[: len(prog) * 2 // 3])
# A warning while the header is read (extraneous bytes before a DQT): Pillow reads the file.
k = base.find(b"\xff\xdb")
write("jpeg-extraneous-header.jpg", base[:k] + b"\x00\x01\x02" + base[k:])


def segments(b):
    """(offset, marker) of each marker segment before EOI, entropy-coded data skipped."""
    out, i = [], 2
    while i + 4 <= len(b):
        if b[i] != 0xFF or b[i + 1] in (0x00, 0xFF) or 0xD0 <= b[i + 1] <= 0xD7:
            i += 1
            continue
        m = b[i + 1]
        if m == 0xD9:
            break
        out.append((i, m))
        i += 2 + struct.unpack(">H", b[i + 2:i + 4])[0]
    return out


# A progressive JPEG whose Huffman table after its second scan has a bogus index (a fatal
# error), alone and after a warning (extraneous bytes before the second scan): Pillow refuses
# both; TurboJPEG 2.x reports the second as a warning.
sos = [o for o, m in segments(prog) if m == 0xDA]
dht = [o for o, m in segments(prog) if m == 0xC4 and o > sos[1]][0]
bad = bytearray(prog)
bad[dht + 4] = 0x1F  # table class 1, index 15
write("jpeg-progressive-bad-dht.jpg", bytes(bad))
write("jpeg-warning-then-bad-dht.jpg", bytes(bad[:sos[1]]) + b"\x12\x34" + bytes(bad[sos[1]:]))
# Markers met inside the scan (libjpeg: "premature end of data segment", the rest gray): an RST
# without a restart interval, and the scan cut short by an EOI. Pillow decodes both; vigil
# refuses them as truncated on purpose (conventions.md: never a partly decoded hash).
scan = segments(base)[-1][0]
mid = (scan + len(base)) // 2
while base[mid - 1] == 0xFF or base[mid] == 0xFF:
    mid += 1
write("jpeg-rst-inside-scan.jpg", base[:mid] + b"\xff\xd0" + base[mid:])
write("jpeg-eoi-inside-scan.jpg", base[:mid] + b"\xff\xd9")
PARTIAL.update(["jpeg-rst-inside-scan.jpg", "jpeg-eoi-inside-scan.jpg"])
# A JPEG whose frame header claims 20000x10000 (200 MP) with tiny data.
small = pil_bytes(photo(16, 16), format="JPEG", quality=50)
j = small.find(b"\xff\xc0")
huge = bytearray(small)
huge[j + 5:j + 9] = struct.pack(">HH", 10000, 20000)
write("jpeg-huge-header.jpg", bytes(huge))
# Progressive JPEG with 601 scans (its last scan repeated): a known denial-of-service shape.
# Pillow decodes it; vigil refuses it (TJFLAG_LIMITSCANS, more than 500 scans). Not a pixel row.
tp = pil_bytes(photo(16, 16), format="JPEG", quality=50, progressive=True)
ls = tp.rfind(b"\xff\xda")
with open(path("jpeg-many-scans.jpg"), "wb") as f:
    f.write(tp[:ls] + tp[ls:-2] * 590 + b"\xff\xd9")
write("jpeg-bad-sof.jpg", small[: j + 9] + b"\x00" + small[j + 10:])  # zero components


def without_segments(b, marker):
    cut = [(o, o + 2 + struct.unpack(">H", b[o + 2:o + 4])[0]) for o, m in segments(b) if m == marker]
    out, at = b"", 0
    for s0, s1 in cut:
        out += b[at:s0]
        at = s1
    return out + b[at:]


# Tables a file does not define: without DQT it is refused; without DHT (a Motion-JPEG frame)
# libjpeg uses the standard Huffman tables, which Pillow's encoder also wrote here. A
# decompressor reused from another file would use that file's tables instead.
write("jpeg-no-dqt.jpg", without_segments(base, 0xDB))  # Pillow: error
write("jpeg-no-dht.jpg", without_segments(base, 0xC4))  # ok

# ---------------------------------------------------------------- PNG (hand-written encoder)
def chunk(t, data):
    return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """samples: flat list of ints for one row."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out, acc, n = bytearray(), 0, 0
    per = 8 // depth
    for s in samples:
        acc = (acc << depth) | s
        n += 1
        if n == per:
            out.append(acc)
            acc, n = 0, 0
    if n:
        out.append(acc << (depth * (per - n)))
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png_bytes(arr, ctype, depth, plte=None, trns=None, interlace=False, extra=b""):
    """arr: HxWxC int array of samples."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    h, w = arr.shape[:2]
    raw = bytearray()
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            sub = arr[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            for row in sub:
                raw += b"\x00" + pack_row([int(v) for v in row.reshape(-1)], depth)
    else:
        for row in arr:
            raw += b"\x00" + pack_row([int(v) for v in row.reshape(-1)], depth)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1 if interlace else 0))
    out += extra
    if plte is not None:
        out += chunk(b"PLTE", bytes(plte))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")
    return out


rgb = np.asarray(photo(120, 80)).astype(np.int64)
grey = np.asarray(photo(120, 80).convert("L")).astype(np.int64)
rng = np.random.default_rng(7)
alpha = rng.integers(0, 256, size=grey.shape)
# 16-bit: photo in the high byte, noise in the low byte; grey16 spans 0..65535 and small values.
rgb16 = (rgb << 8) | rng.integers(0, 256, size=rgb.shape)
grey16 = (grey << 8) | rng.integers(0, 256, size=grey.shape)
grey16_small = grey * 2  # 0..510: exercises Pillow's clip at 255
write("png-rgb8.png", png_bytes(rgb, 2, 8))
write("png-rgb8-interlaced.png", png_bytes(rgb, 2, 8, interlace=True))
write("png-rgba8.png", png_bytes(np.dstack([rgb, alpha]), 6, 8))
write("png-grey8.png", png_bytes(grey, 0, 8))
write("png-greyalpha8.png", png_bytes(np.dstack([grey, alpha]), 4, 8))
for d in (1, 2, 4):
    write(f"png-grey{d}.png", png_bytes(grey >> (8 - d), 0, d))
    write(f"png-grey{d}-interlaced.png", png_bytes(grey >> (8 - d), 0, d, interlace=True))
write("png-grey8-trns.png", png_bytes(grey, 0, 8, trns=struct.pack(">H", int(grey[0, 0]))))
write("png-rgb8-trns.png", png_bytes(rgb, 2, 8, trns=struct.pack(">HHH", *[int(v) for v in rgb[0, 0]])))
write("png-rgb16.png", png_bytes(rgb16, 2, 16))
write("png-rgb16-interlaced.png", png_bytes(rgb16, 2, 16, interlace=True))
write("png-rgba16.png", png_bytes(np.dstack([rgb16, alpha * 257]), 6, 16))
write("png-grey16.png", png_bytes(grey16, 0, 16))
write("png-grey16-small.png", png_bytes(grey16_small, 0, 16))
write("png-grey16-trns.png", png_bytes(grey16_small, 0, 16, trns=struct.pack(">H", int(grey16_small[0, 0]))))
write("png-greyalpha16.png", png_bytes(np.dstack([grey16, alpha * 257]), 4, 16))
write("png-rgb16-trns.png", png_bytes(rgb16, 2, 16, trns=struct.pack(">HHH", *[int(v) for v in rgb16[0, 0]])))
extra_files += ["png-rgb16.png", "png-grey16-small.png"]
# Palette PNGs.
pimg = photo(120, 80).quantize(256)
pal = pimg.getpalette()[: 256 * 3]
idx = np.asarray(pimg).astype(np.int64)
write("png-pal8.png", png_bytes(idx, 3, 8, plte=pal))
write("png-pal8-interlaced.png", png_bytes(idx, 3, 8, plte=pal, interlace=True))
write("png-pal8-trns.png", png_bytes(idx, 3, 8, plte=pal, trns=bytes(range(0, 256, 2))))
for d in (1, 2, 4):
    q = photo(120, 80).quantize(1 << d)
    pq = q.getpalette()[: (1 << d) * 3]
    write(f"png-pal{d}.png", png_bytes(np.asarray(q).astype(np.int64), 3, d, plte=pq))
write("png-pal4-trns-interlaced.png",
      png_bytes(np.asarray(photo(120, 80).quantize(16)).astype(np.int64), 3, 4,
                plte=photo(120, 80).quantize(16).getpalette()[:48], trns=b"\x00\x80", interlace=True))
# Pillow-written PNGs too.
save(photo(100, 70), "png-pillow-rgb.png", "PNG")
save(photo(100, 70).convert("P", palette=Image.ADAPTIVE, colors=64), "png-pillow-p.png", "PNG")
# Hostile PNGs.
good = png_bytes(rgb, 2, 8)
write("png-trunc-idat.png", good[: len(good) // 2])
write("png-no-iend.png", good[:-12])
bad = bytearray(good)
ip = good.find(b"IDAT")
bad[ip + 200] ^= 0xFF
write("png-corrupt-idat.png", bytes(bad))
ihdr_bad = bytearray(good)
ihdr_bad[29] ^= 0xFF  # IHDR CRC
write("png-bad-ihdr-crc.png", bytes(ihdr_bad))
# A 200 MP header with tiny data.
tiny = png_bytes(grey[:2, :2], 0, 8)
hp = bytearray(tiny)
hp[16:24] = struct.pack(">II", 20000, 10000)
hp[29:33] = struct.pack(">I", zlib.crc32(bytes(hp[12:29])) & 0xFFFFFFFF)
write("png-huge-header.png", bytes(hp))
# A zTXt chunk that inflates to 256 MiB (a memory bomb for decoders that inflate text).
co = zlib.compressobj(9)
bomb = b"".join(co.compress(b"\0" * (1 << 20)) for _ in range(256)) + co.flush()
write("png-ztxt-bomb.png", png_bytes(rgb[:20, :20], 2, 8, extra=chunk(b"zTXt", b"Comment\0\0" + bomb)))
# Chunk-level damage Pillow reads past or refuses: it checks the CRC of every chunk before the
# image data and of none after, skips chunks it does not know (critical ones too), lets a
# repeated IHDR stand, and zlib checks the image data's Adler-32 when it is there.
small = png_bytes(rgb[:40, :60], 2, 8)
sp = small.find(b"IDAT") - 4
sl = struct.unpack(">I", small[sp:sp + 4])[0]
sz = small[sp + 8:sp + 8 + sl]
def with_idat(z):
    return small[:sp] + chunk(b"IDAT", z) + small[sp + 12 + sl:]
crc_bad = bytearray(small)
crc_bad[sp + 8 + sl] ^= 1
write("png-idat-bad-crc.png", bytes(crc_bad))  # Pillow: ok
text_bad = bytearray(chunk(b"tEXt", b"Comment\0hello"))
text_bad[-1] ^= 1
write("png-text-bad-crc.png", small[:sp] + bytes(text_bad) + small[sp:])  # Pillow: error
write("png-unknown-critical.png", small[:sp] + chunk(b"ZZZZ", b"abc") + small[sp:])  # ok
write("png-two-ihdr.png", small[:sp] + small[8:33] + small[sp:])  # ok
adler_bad = bytearray(sz)
adler_bad[-1] ^= 1
write("png-bad-adler.png", with_idat(bytes(adler_bad)))  # Pillow: error
write("png-no-adler.png", with_idat(sz[:-4]))  # Pillow: ok (the rows are complete before it)
write("png-after-zlib-end.png", with_idat(sz + b"\0\0"))  # ok
# Cut inside the Adler-32: the rows are complete, Pillow decodes it.
write("png-adler-cut.png", small[:sp + 8 + sl - 2])  # ok
# After the image data Pillow reads chunks only until a header is cut or is not a chunk name
# (then it stops: the file decodes), and refuses a chunk cut inside its data.
tiny = png_bytes(rgb[:20, :30], 2, 8)
te = len(tiny) - 12  # where IEND starts
tpng = chunk(b"tEXt", b"Comment\0hello")
write("png-idat-crc-cut.png", tiny[:te - 2])  # ok
write("png-tail-header-cut.png", tiny[:te] + tpng[:5])  # ok
write("png-tail-garbage.png", tiny[:te] + b"\x01\x02\x03\x04\xff\xfe\xfd\xfc")  # ok
write("png-tail-data-cut.png", tiny[:te] + tpng[:-8])  # Pillow: error
write("png-tail-other-ihdr.png", tiny[:te] + chunk(b"IHDR", struct.pack(">IIBBBBB", 9, 9, 8, 2, 0, 0, 0)) + tiny[te:])  # ok
# Chunks Pillow's handlers refuse, before the image data and after it.
tp = tiny.find(b"IDAT") - 4
write("png-short-phys.png", tiny[:tp] + chunk(b"pHYs", b"\0" * 8) + tiny[tp:])  # error
write("png-short-srgb-tail.png", tiny[:te] + chunk(b"sRGB", b"") + tiny[te:])  # error
write("png-ztxt-method.png", tiny[:tp] + chunk(b"zTXt", b"Comment\0\x01x") + tiny[tp:])  # error
write("png-fctl-sequence.png", tiny[:tp] + chunk(b"fcTL", struct.pack(">IIIIIHHBB", 1, 30, 20, 0, 0, 1, 10, 0, 0)) + tiny[tp:])  # error

# ---------------------------------------------------------------- GIF
G = photo(120, 80)
save(G, "gif-photo.gif", "GIF")  # Pillow interlaces GIFs by default
save(G, "gif-photo-noninterlaced.gif", "GIF", interlace=False)
extra_files.append("gif-photo.gif")
save(G.convert("L"), "gif-grey.gif", "GIF")
frames = [photo(120, 80), photo(120, 80, box=(0, 0, 800, 500))]
frames[0].save(path("gif-animated.gif"), "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
rows_generated.append("gif-animated.gif")


def gif_offset(transparent):
    """A GIF whose first frame (40x30 at 10,8) is smaller than its 64x48 screen."""
    im = photo(40, 30).quantize(16)
    kw = {"transparency": 3} if transparent else {}
    d = bytearray(pil_bytes(im, format="GIF", interlace=False, **kw))
    d[6:10] = struct.pack("<HH", 64, 48)
    d[11] = 5  # background index (Pillow ignores it for frame 0)
    i = d.find(b"\x2c", 13 + 3 * (2 << (d[10] & 7)))
    d[i + 1:i + 5] = struct.pack("<HH", 10, 8)
    return bytes(d)


write("gif-offset.gif", gif_offset(False))
write("gif-offset-transparent.gif", gif_offset(True))


def gif_outside():
    """First frame reaching past the screen: Pillow grows the canvas."""
    im = photo(40, 30).quantize(16)
    d = bytearray(pil_bytes(im, format="GIF", interlace=False))
    d[6:10] = struct.pack("<HH", 30, 20)
    i = d.find(b"\x2c", 13 + 3 * (2 << (d[10] & 7)))
    d[i + 1:i + 5] = struct.pack("<HH", 5, 4)
    return bytes(d)


write("gif-frame-outside-screen.gif", gif_outside())
# 4-colour image stored with a 2-entry global palette: indices 2, 3 have no palette entry.
q4 = photo(40, 30).quantize(4)
d = bytearray(pil_bytes(q4, format="GIF", interlace=False))
gct = 3 * (2 << (d[10] & 7))
assert gct == 12
d[10] = (d[10] & ~7) | 0
write("gif-short-palette.gif", bytes(d[:13 + 6] + d[13 + 12:]))
g = pil_bytes(G, format="GIF")
write("gif-trunc.gif", g[: len(g) // 2])
# Cut inside the last sub-block: Pillow's decoder takes only whole sub-blocks, and the frame is
# not complete without it (the `gif` crate decodes the pixels it has).
write("gif-last-block-cut.gif", g[:-3])  # Pillow: error
# Bytes Pillow skips before the first image descriptor: a stray byte, and an extension with
# a label it does not know (sub-blocks and all).
gd = 13 + (3 << ((g[10] & 7) + 1) if g[10] & 0x80 else 0)
while g[gd] == 0x21:
    gd += 2
    while g[gd]:
        gd += g[gd] + 1
    gd += 1
assert g[gd] == 0x2C
write("gif-stray-byte.gif", g[:gd] + b"\x55" + g[gd:])
write("gif-unknown-extension.gif", g[:gd] + b"\x21\x99\x03abc\x00" + g[gd:])

# ---------------------------------------------------------------- WebP
W = photo(120, 80)
WA = W.copy()
WA.putalpha(Image.fromarray(alpha.astype(np.uint8)))
save(W, "webp-lossy.webp", "WEBP", quality=80)
save(W, "webp-lossless.webp", "WEBP", lossless=True)
save(WA, "webp-lossy-alpha.webp", "WEBP", quality=80)
save(WA, "webp-lossless-alpha.webp", "WEBP", lossless=True)
frames[0].save(path("webp-animated.webp"), "WEBP", save_all=True, append_images=frames[1:], duration=100, quality=80)
rows_generated.append("webp-animated.webp")
wb = pil_bytes(W, format="WEBP", quality=80)
write("webp-trunc.webp", wb[: len(wb) // 2])
# A RIFF size that claims more bytes than the file has, or fewer than its chunk needs: libwebp
# (Pillow's decoder) refuses both.
for name, delta in (("webp-riff-size-large.webp", 100), ("webp-riff-size-small.webp", -10)):
    rb = bytearray(wb)
    rb[4:8] = struct.pack("<I", len(wb) - 8 + delta)
    write(name, bytes(rb))
# A RIFF payload that ends 3 bytes into what would be a chunk header: libwebp waits for the
# rest and refuses the file.
write("webp-riff-trailing-bytes.webp", b"RIFF" + struct.pack("<I", len(wb) - 8 + 3) + wb[8:] + b"\0\0\0")

# ---------------------------------------------------------------- BMP
B = photo(121, 79)
save(B, "bmp-rgb24.bmp", "BMP")
save(B.quantize(256), "bmp-pal8.bmp", "BMP")
save(B.quantize(16), "bmp-pal4.bmp", "BMP")
save(B.convert("1"), "bmp-1bit.bmp", "BMP")
save(B.convert("L"), "bmp-grey8.bmp", "BMP")
BA = B.copy()
BA.putalpha(Image.fromarray(np.asarray(photo(121, 79).convert("L"))))
save(BA, "bmp-rgba32.bmp", "BMP")
extra_files += ["bmp-rgb24.bmp", "bmp-pal8.bmp"]


def bmp16(im, r5g6b5):
    """16-bit BI_BITFIELDS BMP (565) or BI_RGB (555), bottom-up."""
    a = np.asarray(im).astype(np.uint32)
    if r5g6b5:
        px = ((a[..., 0] >> 3) << 11) | ((a[..., 1] >> 2) << 5) | (a[..., 2] >> 3)
    else:
        px = ((a[..., 0] >> 3) << 10) | ((a[..., 1] >> 3) << 5) | (a[..., 2] >> 3)
    h, w = px.shape
    stride = (w * 2 + 3) & ~3
    body = b"".join(px[y].astype("<u2").tobytes().ljust(stride, b"\0") for y in range(h - 1, -1, -1))
    masks = struct.pack("<III", 0xF800, 0x07E0, 0x001F) if r5g6b5 else b""
    off = 14 + 40 + len(masks)
    hdr = b"BM" + struct.pack("<IHHI", off + len(body), 0, 0, off)
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 16, 3 if r5g6b5 else 0, len(body), 2835, 2835, 0, 0)
    return hdr + dib + masks + body


write("bmp-rgb565.bmp", bmp16(B, True))
write("bmp-rgb555.bmp", bmp16(B, False))
UNSUPPORTED |= {"bmp-rgb565.bmp", "bmp-rgb555.bmp"}


def bmp_rle8(im):
    """8-bit RLE BMP: each row as runs of equal indices (max 255), then end-of-line."""
    q = im.quantize(256)
    a = np.asarray(q)
    h, w = a.shape
    body = bytearray()
    for y in range(h - 1, -1, -1):
        row = a[y]
        x = 0
        while x < w:
            n = 1
            while x + n < w and n < 255 and row[x + n] == row[x]:
                n += 1
            body += bytes([n, int(row[x])])
            x += n
        body += b"\x00\x00"
    body += b"\x00\x01"
    pal = q.getpalette()[: 256 * 3]
    pal4 = b"".join(bytes([pal[3 * i + 2], pal[3 * i + 1], pal[3 * i], 0]) for i in range(256))
    off = 14 + 40 + len(pal4)
    hdr = b"BM" + struct.pack("<IHHI", off + len(body), 0, 0, off)
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 8, 1, len(body), 2835, 2835, 256, 0)
    return hdr + dib + pal4 + bytes(body)


write("bmp-rle8.bmp", bmp_rle8(photo(64, 48)))
bb = pil_bytes(B, format="BMP")
write("bmp-trunc.bmp", bb[: len(bb) // 2])
# A data offset pointing at the palette's start (Pillow reads it as pointing past the palette)
# and a planes field other than 1 (Pillow ignores it).
b1 = bytearray(pil_bytes(B.convert("1"), format="BMP"))
b1[10:14] = struct.pack("<I", 54)
write("bmp-offset-at-palette.bmp", bytes(b1))  # ok
b2 = bytearray(bb)
b2[26:28] = struct.pack("<H", 3)
write("bmp-planes-3.bmp", bytes(b2))  # ok
# Pillow stops reading once it has every pixel: a cut in the last row's padding decodes.
write("bmp-rgb24-pad-cut.bmp", bb[:-1])  # ok


def bmp_rle(im, bits, rows=None, tail=b"\x00\x00\x00\x01", top_down=False):
    """RLE4/RLE8 BMP of the first `rows` rows in file order (runs, then end-of-line, with a
    delta of two rows after row 3 when `rows` is "delta"), then `tail`; with `top_down`, a
    negative height and the rows from the top (the format forbids it; Pillow reads it)."""
    q = im.quantize(1 << bits)
    a = np.asarray(q)
    h, w = a.shape
    body = bytearray()
    order = range(h) if top_down else range(h - 1, -1, -1)
    for k, y in enumerate(order):
        if rows == "delta" and k in (3, 4):
            if k == 3:
                body += b"\x00\x02\x00\x02"
            continue
        if isinstance(rows, int) and k == rows:
            break
        if k:
            body += b"\x00\x00"
        row, x = a[y], 0
        while x < w:
            n = 1
            while x + n < w and n < 254 and row[x + n] == row[x]:
                n += 1
            v = int(row[x])
            body += bytes([n, v | (v << 4) if bits == 4 else v])
            x += n
    body += tail
    colours = 1 << bits
    pal = q.getpalette()[: colours * 3]
    pal4 = b"".join(bytes([pal[3 * i + 2], pal[3 * i + 1], pal[3 * i], 0]) for i in range(colours))
    off = 14 + 40 + len(pal4)
    hdr = b"BM" + struct.pack("<IHHI", off + len(body), 0, 0, off)
    dib = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bits, 1 if bits == 8 else 2, len(body), 2835, 2835, colours, 0)
    return hdr + dib + pal4 + bytes(body)


# RLE as Pillow's BmpRleDecoder reads it: pixels missing after an early end-of-bitmap refuse the
# file; a stream that stops after the last pixel decodes.
R = photo(40, 30)
write("bmp-rle4.bmp", bmp_rle(R, 4))  # ok
write("bmp-rle8-delta.bmp", bmp_rle(R, 8, rows="delta"))  # ok
write("bmp-rle8-no-eob.bmp", bmp_rle(R, 8, tail=b""))  # ok
write("bmp-rle8-early-eob.bmp", bmp_rle(R, 8, rows=10, tail=b"\x00\x01"))  # Pillow: error
write("bmp-rle8-top-down.bmp", bmp_rle(R, 8, top_down=True))  # ok
write("bmp-rle4-top-down-delta.bmp", bmp_rle(R, 4, rows="delta", top_down=True))  # ok

# ---------------------------------------------------------------- TIFF
T = photo(120, 80)
save(T, "tiff-rgb.tif", "TIFF")
save(T, "tiff-rgb-lzw.tif", "TIFF", compression="tiff_lzw")
save(T, "tiff-rgb-deflate.tif", "TIFF", compression="tiff_adobe_deflate")
save(T, "tiff-rgb-packbits.tif", "TIFF", compression="packbits")
save(T.convert("L"), "tiff-grey.tif", "TIFF")
save(WA, "tiff-rgba.tif", "TIFF")
save(T.quantize(256), "tiff-pal8.tif", "TIFF")
save(Image.fromarray(grey16_small.astype(np.uint16)), "tiff-grey16.tif", "TIFF")
save(T.convert("CMYK"), "tiff-cmyk.tif", "TIFF")
save(T, "tiff-jpeg.tif", "TIFF", compression="jpeg")
T.save(path("tiff-multipage.tif"), "TIFF", save_all=True, append_images=[photo(120, 80, box=(0, 0, 800, 500)), photo(60, 40)])
rows_generated.append("tiff-multipage.tif")
extra_files += ["tiff-rgb.tif", "tiff-multipage.tif"]
UNSUPPORTED |= {"tiff-cmyk.tif", "tiff-jpeg.tif", "tiff-pal8.tif"}
tb = pil_bytes(T, format="TIFF")
write("tiff-trunc.tif", tb[: len(tb) // 2])

# ---------------------------------------------------------------- EXIF containers and junk
ex = Image.Exif()
ex[0x0112] = 8
save(photo(90, 60), "png-exif-orient8.png", "PNG", exif=ex.tobytes())
ex5 = Image.Exif()
ex5[0x0112] = 5
save(photo(90, 60), "webp-exif-orient5.webp", "WEBP", lossless=True, exif=ex5.tobytes())
ex3 = Image.Exif()
ex3[0x0112] = 3
save(photo(90, 60), "jpeg-exif-orient3.jpg", "JPEG", quality=85, exif=ex3.tobytes())
write("empty.bin", b"")
write("not-an-image.txt", b"This is a text file, not an image.\n" * 4)
write("heic-brand.heic", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64)

# ---------------------------------------------------------------- reference rows
def pillow_rgb(f, exif=False):
    with Image.open(f) as im:
        if exif:
            im = ImageOps.exif_transpose(im)
        return im.convert("RGB")


def ref_row(rel, full, mode="rgb", forced=None):
    try:
        im = pillow_rgb(full, mode == "exif")
        b = im.tobytes()
        outcome = forced or "ok"
        return [rel, mode, outcome, im.width, im.height, hashlib.sha256(b).hexdigest()]
    except Exception as e:  # Pillow refuses the file
        print(f"  {rel}: Pillow error: {type(e).__name__}: {e}", file=sys.stderr)
        return [rel, mode, "error", "", "", ""]


rows = []
for name in rows_generated:
    forced = "unsupported" if name in UNSUPPORTED else "partial" if name in PARTIAL else None
    rows.append(ref_row(f"decode/{name}", path(name), forced=forced))
    if "exif-orient" in name:
        rows.append(ref_row(f"decode/{name}", path(name), "exif"))
with open(os.path.join(TX, "derived", "pdq-expected.csv")) as f:
    tx_files = [r["file"] for r in csv.DictReader(f)]
for rel in tx_files:
    rows.append(ref_row(f"threatexchange/{rel}", os.path.join(TX, rel)))
rot = "threatexchange/pdq/data/reg-test-input/exif-rotn/exif-rotn-6.jpg"
rows.append(ref_row(rot, os.path.join(ROOT, "tests", "data", rot), "exif"))

with open(path("pixels-expected.csv"), "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["file", "mode", "outcome", "width", "height", "sha256"])
    w.writerows(rows)

import imagehash
import pdqhash

with open(path("extra-expected.csv"), "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["file", "width", "height", "pdq_ref_hash", "pdq_ref_quality", "imagehash_phash", "cli512_hash"])
    for name in extra_files:
        full = path(name)
        arr = np.asarray(Image.open(full).convert("RGB"))
        bits, quality = pdqhash.compute(arr)
        hexhash = "%064x" % int("".join(str(int(b)) for b in bits), 2)
        ph = str(imagehash.phash(Image.open(full)))
        w.writerow([f"decode/{name}", arr.shape[1], arr.shape[0], hexhash, int(quality), ph, ""])

total = sum(os.path.getsize(path(n)) for n in set(rows_generated))
print(f"{len(set(rows_generated))} files, {total} bytes; {len(rows)} pixel rows", file=sys.stderr)

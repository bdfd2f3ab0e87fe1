#!/usr/bin/env python3
"""Write the seed corpora of fuzz/corpus/ (run from the crate root with the reference venv):

    /work/venv/ref/bin/python fuzz/make-seeds.py [path/to/vigil]

Images are tiny (at most 24x16) and drawn from an integer formula, so they carry no licence of
their own; a few hostile shapes are copied from tests/data/decode/ (see its README). Each valid
file also gets truncated and bit-flipped variants. The index seeds are built with the vigil
binary given (default target/debug/vigil). The script only adds files: fuzzing adds more, and
`cargo fuzz cmin` trims them (see fuzz/README.md)."""

import io
import os
import shutil
import subprocess
import sys
import tempfile

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
FIXTURES = os.path.join(ROOT, "tests", "data", "decode")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def variants(target, name, data):
    """The file, plus truncated and corrupted copies."""
    put(target, name, data)
    stem = name.rsplit(".", 1)[0]
    put(target, stem + "-trunc-half", data[: len(data) // 2])
    put(target, stem + "-trunc-40", data[:40])
    flipped = bytearray(data)
    for i in range(len(data) // 3, len(data), max(1, len(data) // 7)):
        flipped[i] ^= 0x55
    put(target, stem + "-flipped", bytes(flipped))


def image(mode, w=16, h=12):
    rgb = Image.new("RGB", (w, h))
    rgb.putdata([((x * 37 + y * 11) % 256, (x * y * 7) % 256, (255 - x * 13 + y * 5) % 256)
                 for y in range(h) for x in range(w)])
    if mode == "RGB":
        return rgb
    if mode == "P":
        return rgb.quantize(16)
    if mode == "RGBA":
        im = rgb.convert("RGBA")
        im.putalpha(Image.linear_gradient("L").resize((w, h)))
        return im
    return rgb.convert(mode)


def save(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def exif_orientation(o):
    e = Image.Exif()
    e[0x0112] = o
    return e.tobytes()


def copy_fixture(target, name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        put(target, "fixture-" + name, f.read())


def jpeg():
    t = "decode_jpeg"
    rgb = image("RGB")
    variants(t, "420.jpg", save(rgb, "JPEG", quality=80))
    put(t, "444.jpg", save(rgb, "JPEG", quality=90, subsampling=0))
    put(t, "422.jpg", save(rgb, "JPEG", subsampling=1))
    put(t, "odd-13x7.jpg", save(image("RGB", 13, 7), "JPEG"))
    put(t, "1x1.jpg", save(image("RGB", 1, 1), "JPEG"))
    put(t, "grey.jpg", save(image("L"), "JPEG"))
    variants(t, "progressive.jpg", save(rgb, "JPEG", progressive=True))
    put(t, "optimize.jpg", save(rgb, "JPEG", optimize=True))
    variants(t, "cmyk.jpg", save(image("CMYK"), "JPEG"))
    variants(t, "exif-orient6.jpg", save(rgb, "JPEG", exif=exif_orientation(6)))
    put(t, "exif-orient3.jpg", save(rgb, "JPEG", exif=exif_orientation(3)))
    ppm = save(rgb, "PPM")
    for flags, name in [(["-arithmetic"], "arithmetic.jpg"), (["-restart", "1B"], "restart.jpg"),
                        (["-sample", "1x2"], "440.jpg"), (["-rgb"], "rgb-colorspace.jpg"),
                        (["-arithmetic", "-progressive"], "arith-progressive.jpg")]:
        out = subprocess.run(["cjpeg", *flags], input=ppm, capture_output=True, check=True)
        put(t, name, out.stdout)
    for name in ["jpeg-bad-sof.jpg", "jpeg-huge-header.jpg", "jpeg-trunc-header.jpg"]:
        copy_fixture(t, name)


def png():
    t = "decode_png"
    for mode in ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"]:
        name = "png-" + mode.replace(";", "") + ".png"
        data = save(image(mode), "PNG")
        if mode in ("RGB", "P"):
            variants(t, name, data)
        else:
            put(t, name, data)
    for bits in (2, 4):
        put(t, f"pal{bits}.png", save(image("RGB").quantize(1 << bits), "PNG", bits=bits))
    put(t, "pal-trns.png", save(image("P"), "PNG", transparency=3))
    put(t, "grey-trns.png", save(image("L"), "PNG", transparency=7))
    put(t, "rgb-trns.png", save(image("RGB"), "PNG", transparency=(1, 2, 3)))
    put(t, "exif-orient8.png", save(image("RGB"), "PNG", exif=exif_orientation(8)))
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("k", "v")
    info.add_text("z", "compressed " * 20, zip=True)
    info.add_itxt("i", "international", lang="en", tkey="t", zip=True)
    put(t, "text-chunks.png", save(image("RGB"), "PNG", pnginfo=info))
    frames = [image("RGB"), image("L").convert("RGB")]
    put(t, "apng.png", save(frames[0], "PNG", save_all=True, append_images=frames[1:]))
    data = save(image("RGB"), "PNG")
    put(t, "no-iend.png", data[:-12])
    for name in ["png-grey1-interlaced.png", "png-grey2-interlaced.png", "png-huge-header.png",
                 "png-pal1.png"]:
        copy_fixture(t, name)


def gif():
    t = "decode_gif"
    variants(t, "p.gif", save(image("P"), "GIF"))
    put(t, "grey.gif", save(image("L"), "GIF"))
    put(t, "trns.gif", save(image("P"), "GIF", transparency=2))
    put(t, "interlaced.gif", save(image("P", 24, 16), "GIF", interlace=True))
    put(t, "animated.gif", save(image("P"), "GIF", save_all=True,
                                append_images=[image("L").convert("P")], duration=10))
    for name in ["gif-frame-outside-screen.gif", "gif-offset-transparent.gif", "gif-offset.gif",
                 "gif-short-palette.gif"]:
        copy_fixture(t, name)


def webp():
    t = "decode_webp"
    variants(t, "lossy.webp", save(image("RGB"), "WEBP", quality=50))
    variants(t, "lossless.webp", save(image("RGB"), "WEBP", lossless=True))
    put(t, "lossy-alpha.webp", save(image("RGBA"), "WEBP", quality=50))
    put(t, "lossless-alpha.webp", save(image("RGBA"), "WEBP", lossless=True))
    put(t, "exif-orient5.webp", save(image("RGB"), "WEBP", exif=exif_orientation(5)))
    put(t, "animated.webp", save(image("RGB"), "WEBP", save_all=True,
                                 append_images=[image("L").convert("RGB")], duration=10))


def bmp():
    t = "decode_bmp"
    for mode in ["1", "L", "P", "RGB", "RGBA"]:
        data = save(image(mode), "BMP")
        if mode == "RGB":
            variants(t, "rgb24.bmp", data)
        else:
            put(t, f"bmp-{mode}.bmp", data)
    # OS/2 BITMAPCOREHEADER (12-byte DIB header), 2x2 24-bit.
    import struct
    px = b"".join(bytes([x * 90, y * 90, 77]) for y in range(2) for x in range(2))
    rows = px[:6] + b"\0\0" + px[6:] + b"\0\0"
    put(t, "os2-core.bmp", b"BM" + struct.pack("<IHHI", 26 + len(rows), 0, 0, 26)
        + struct.pack("<IHHHH", 12, 2, 2, 1, 24) + rows)
    copy_fixture(t, "bmp-1bit.bmp")


def tiff():
    t = "decode_tiff"
    rgb = image("RGB")
    variants(t, "raw.tif", save(rgb, "TIFF"))
    for c in ["tiff_lzw", "tiff_adobe_deflate", "packbits"]:
        put(t, f"rgb-{c}.tif", save(rgb, "TIFF", compression=c))
    put(t, "grey.tif", save(image("L"), "TIFF"))
    put(t, "grey16.tif", save(image("I;16"), "TIFF"))
    put(t, "rgba.tif", save(image("RGBA"), "TIFF"))
    put(t, "pal.tif", save(image("P"), "TIFF"))
    put(t, "bilevel.tif", save(image("1"), "TIFF"))
    put(t, "cmyk.tif", save(image("CMYK"), "TIFF"))
    put(t, "jpeg.tif", save(rgb, "TIFF", compression="jpeg"))
    put(t, "big-endian.tif", save(rgb, "TIFF", compression="raw", tiffinfo={}))
    put(t, "multipage.tif", save(rgb, "TIFF", save_all=True, append_images=[image("L")]))
    put(t, "exif-orient7.tif", save(rgb, "TIFF", exif=exif_orientation(7)))


def probe_and_exif():
    # The probe and EXIF targets take any format: a few of each decoder's seeds.
    for target in ["probe", "exif"]:
        for src in ["decode_jpeg", "decode_png", "decode_gif", "decode_webp", "decode_bmp",
                    "decode_tiff"]:
            d = os.path.join(CORPUS, src)
            for name in sorted(os.listdir(d)):
                if target == "exif" and "exif" not in name and "trunc" not in name:
                    continue
                if target == "probe" and not any(k in name for k in ("trunc-40", "huge", "420.",
                                                                    "p.gif", "lossy.", "rgb24.",
                                                                    "raw.", "png-RGB.")):
                    continue
                with open(os.path.join(d, name), "rb") as f:
                    put(target, name, f.read())
        put(target, "empty", b"")
        put(target, "text", b"not an image\n")
    for name in ["heic-brand.heic"]:
        copy_fixture("probe", name)
    put("probe", "jxl-codestream", b"\xff\x0a\xfa\x7f")
    put("probe", "avif-brand", b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf")


PDQ = ["f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
       "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
       "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5"]
FLAT = "000000002c4b11342c4b2c4b0000554b00002c4b113411342c4b585e2c4b017e"
PH = ["c3c3c3c33c3c3c3c", "ffff0000ffff0000"]
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
DIH = ["orig", "rot90", "rot180", "rot270", "flipx", "flipy", "flipplus1", "flipminus1"]


def lists():
    te = "".join(f"pdq {h}\n" for h in PDQ) + f"phash {PH[0]}\nmd5 {MD5}\nsha1 {SHA1}\n" \
        f"sha256 {SHA256}\n"
    te_bad = f"pdq {PDQ[0][:-1]}\nfoo {PDQ[1]}\npdq\npdq {FLAT}\npdq {'0' * 64}\n" \
        f"pdq {PDQ[0]}\npdq {PDQ[0].upper()}\npdq zz{PDQ[0][2:]}\n"
    plain = f"# plain list\n{PDQ[0]}\nhash={PDQ[1]},meta data\n\n{PH[0]}\n{MD5}\n{SHA1},x\n"
    plain_bad = f"{PDQ[0]}\n{PDQ[0][:50]}\nnot hex at all\n{PDQ[2]},m,with,commas\n\u00e9\n"
    cpp = f"{PDQ[0]},100,a.jpg\n{PDQ[1]},49,b,c.jpg\n{PDQ[2]},x,c.jpg\n{PDQ[2]}\n"
    details = "".join(f"hash={h},norm=128,delta=0,quality={q},timestamp=1,filename=f{i},x.jpg\n"
                      for i, (h, q) in enumerate(zip(PDQ, [100, 20, 60]))) + "hash=,quality=\n"
    header = "path,algo,hash,quality,width,height,error,path_bytes"
    dih_header = header + "," + ",".join("dih_" + n for n in DIH)
    csv_rows = (f"a.jpg,pdq,{PDQ[0]},100,16,12,,\n\"b,\"\"q\"\".jpg\",pdq,{PDQ[1]},80,1,1,,\n"
                f"c.jpg,phash,{PH[0]},,16,12,,\nd.jpg,pdq,,,,,decode error,\n"
                f"e.jpg,sha1,{SHA1},,,,,\nf.jpg,xyz,{PDQ[2]},,,,,\n\"unterminated,pdq\n")
    csv_dih = f"g.jpg,pdq,{PDQ[0]},100,16,12,,," + ",".join(PDQ[i % 3] for i in range(8)) + "\n"
    jsonl = (f'{{"path":"a.jpg","algo":"pdq","hash":"{PDQ[0]}","quality":100,"status":"hashed"}}\n'
             f'{{"path":"b.jpg","algo":"phash","hash":"{PH[1]}"}}\n'
             f'{{"path":"c.bin","md5":"{MD5}","sha1":"{SHA1}","sha256":"{SHA256}"}}\n'
             f'{{"path":"d.jpg","hash":null,"error":"corrupt"}}\n'
             f'{{"path":"e.jpg","status":"skipped"}}\n'
             f'{{"path":"f.jpg","algo":"nope","hash":"{PDQ[1]}"}}\n'
             '{"path":"g.jpg","algo":"pdq","hash":"' + PDQ[2] + '","dihedral":{'
             + ",".join(f'"{n}":"{PDQ[i % 3]}"' for i, n in enumerate(DIH)) + "}}\n"
             '{"truncated": \n[1,2]\n{"quality":1e400,"hash":"' + PDQ[0] + '"}\n')

    text = {
        "te.txt": te, "te-bad.txt": te_bad, "plain.txt": plain, "plain-bad.txt": plain_bad,
        "pdq-cli.txt": cpp, "pdq-cli-details.txt": details, "csv.csv": header + "\n" + csv_rows,
        "csv-dihedral.csv": dih_header + "\n" + csv_dih, "jsonl.jsonl": jsonl,
        "crlf-bom.txt": "\ufeff" + te.replace("\n", "\r\n"), "comments.txt": "# a\n\n#b\n",
    }
    for name, body in text.items():
        data = body.encode()
        put("list_detect", name, b"\0" + data)
        put("list_build", name, b"\0" + data)
    put("list_detect", "empty", b"")
    put("list_detect", "sha256-named.txt", b"\x05" + f"{SHA256}\n{MD5}\n".encode())
    put("list_detect", "md5-named.txt", b"\x03" + f"{MD5}\n{PDQ[0]}\n".encode())
    put("list_detect", "invalid-utf8.txt", b"\0pdq " + PDQ[0].encode() + b"\xff\xfe\n\x80\n")
    put("list_build", "phash-named.txt", b"\x02" + f"{PH[0]}\n{PH[1]},label\n".encode())
    put("list_build", "keep-low-quality.txt", b"\x80" + cpp.encode())
    put("list_build", "sha256-labels.txt", b"\x05" + f"{SHA256},label one\n".encode())
    put("list_threatexchange", "te.txt", te.encode())
    put("list_threatexchange", "te-bad.txt", te_bad.encode())
    put("list_threatexchange", "crlf.txt", te.replace("\n", "\r\n").encode())
    put("list_csv", "rows.csv", csv_rows.encode())
    put("list_csv", "dihedral.csv", csv_dih.encode())
    put("list_csv", "quoted.csv", b'"a\nb.jpg",pdq,' + PDQ[0].encode() + b',100,,,,\n')
    put("list_jsonl", "lines.jsonl", jsonl.encode())
    put("list_jsonl", "one.jsonl", jsonl.splitlines()[0].encode())


def indexes(vigil):
    with tempfile.TemporaryDirectory() as tmp:
        def f(name, body):
            p = os.path.join(tmp, name)
            with open(p, "w") as fh:
                fh.write(body)
            return p
        md5 = f("md5.txt", f"{MD5},label\n0cc175b9c0f1b6a831c399e269772661\n")
        sha1 = f("sha1.txt", f"{SHA1},a label\n86f7e437faa5a7fce15d1ddcb9eaeaea377667b8\n")
        sha256 = f("sha256.jsonl", f'{{"path":"x","sha256":"{SHA256}"}}\n')
        out = os.path.join(tmp, "x.vidx")

        def run(*args):
            subprocess.run([vigil, "index", *args], check=True, capture_output=True)

        def keep(name):
            with open(out, "rb") as fh:
                data = fh.read()
            put("index_open", name + "-raw", b"\0" + data)
            put("index_open", name + "-fix", b"\1" + data)

        run("build", "--out", out, "--list", f"md5={md5}")
        keep("md5")
        run("build", "--out", out, "--list", f"a={md5}", "--list", f"b={sha1}",
            "--list", f"c={sha256}")
        keep("three-lists")
        run("add", out, "--list", "a", f(
            "more.txt", "92eb5ffee6ae2fec3ad71c777531578f\n"))
        keep("two-segments")
        run("remove", out, "--list", "a", "--id", "1")
        keep("tombstone")
    put("index_open", "empty", b"")
    put("index_open", "magic-only", b"\1VIGILIDX" + bytes(56))
    put("index_patch", "none", b"")
    import random
    rnd = random.Random(5)
    for s in range(12):
        put("index_patch", f"section{s}", bytes([s, 0, 0, 0, 1, s, 8, 0, 0, 0x80]))
    for i in range(6):
        put("index_patch", f"random{i}", bytes(rnd.randrange(256) for _ in range(5 * (i + 1))))


def main():
    vigil = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "vigil")
    jpeg()
    png()
    gif()
    webp()
    bmp()
    tiff()
    probe_and_exif()
    lists()
    indexes(vigil)
    for i, (a, b, c) in enumerate([(3, 2, 6), (8, 8, 5), (0, 0, 7), (4, 1, 8), (2, 5, 2)]):
        put("exif", f"orient-image{i}", bytes([a, b, c]) + bytes(range(40)))


if __name__ == "__main__":
    main()

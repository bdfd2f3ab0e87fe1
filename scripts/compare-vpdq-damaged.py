#!/usr/bin/env python3
"""`vigil video hash` against pip vpdq 0.2.5 on randomly damaged copies of the test clips.

    /work/venv/ref/bin/python scripts/compare-vpdq-damaged.py [--vigil PATH] [--seed S] [--n N]

Each case overwrites 1, 4, 16 or 64 random bytes somewhere in the last three quarters of a
clip from tests/data/video/skip/ (and tiny-h264-16fps.mp4), then hashes it at every frame and
at 0.2 s per hash with both tools. pip vpdq runs in a subprocess per call (FFmpeg assertions
abort the process on some inputs). A case is equal when both print the same lines, or both
fail (pip's exception or empty output, vigil's non-zero exit). Differences are printed with
the clip, offset, byte count and sampling, then a count. Damaged files go to a temporary
folder, removed at the end. Exit status 0 always: differences are findings to read, since
vigil refuses some files pip hashes on purpose (its truncation check).
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
PIP = """
import sys, vpdq
feats = vpdq.computeHash(sys.argv[1], seconds_per_hash=float(sys.argv[2]))
print(''.join(f'{x.frame_number},{x.quality},{x.hex},{x.timestamp:.3f}\\n' for x in feats), end='')
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigil", default=str(HERE / "target" / "release" / "vigil"))
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--n", type=int, default=70)
    ap.add_argument("--keep", metavar="DIR", help="copy each differing damaged file here")
    ap.add_argument("--vigil-args", default="",
                    help="more `vigil video hash` options, e.g. the hidden fast paths "
                         "'--decode-threads 2 --skip-unsampled'")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    skip = HERE / "tests" / "data" / "video" / "skip"
    # The damaged-* fixtures are findings of this script, left out so seeds keep their cases.
    clips = sorted(p for p in skip.iterdir()
                   if p.suffix in (".mp4", ".mkv") and not p.name.startswith("damaged-"))
    clips.append(HERE / "tests" / "data" / "video" / "tiny-h264-16fps.mp4")
    equal = differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.n):
            clip = rng.choice(clips)
            b = bytearray(clip.read_bytes())
            n = rng.choice([1, 4, 16, 64])
            at = rng.randrange(len(b) // 4, len(b) - n)
            for i in range(n):
                b[at + i] = rng.randrange(256)
            path = Path(tmp) / f"case{k}{clip.suffix}"
            path.write_bytes(b)
            for sph in ("0", "0.2"):
                v = subprocess.run([args.vigil, "video", "hash", "--seconds-per-hash", sph,
                                    *args.vigil_args.split(), str(path)],
                                   capture_output=True, text=True)
                got = v.stdout if v.returncode == 0 else None
                p = subprocess.run([sys.executable, "-c", PIP, str(path), sph],
                                   capture_output=True, text=True)
                want = p.stdout if p.returncode == 0 and p.stdout else None
                if got == want:
                    equal += 1
                else:
                    differ += 1
                    if args.keep:
                        os.makedirs(args.keep, exist_ok=True)
                        shutil.copy(path, Path(args.keep) / f"{clip.stem}-{at}-{n}{clip.suffix}")
                    print(f"DIFF {clip.name} offset {at} bytes {n} sph {sph}: "
                          f"vigil {'fails' if got is None else f'{got.count(chr(10))} lines'}, "
                          f"pip {'fails' if want is None else f'{want.count(chr(10))} lines'}"
                          + (f" ({v.stderr.strip().splitlines()[-1]})" if got is None and v.stderr.strip() else ""))
    print(f"equal {equal}, different {differ} (of {equal + differ})")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Compare `vigil video hash` with pip vpdq 0.2.5 and with upstream's vpdq/sample-hashes.

Run with the reference venv (pip vpdq built against the same FFmpeg as vigil):

    /work/venv/ref/bin/python scripts/compare-vpdq.py [--vigil PATH] [--ref DIR]

For every sample video, at every frame (seconds-per-hash 0) and at 1 s per hash, at native
size and 128x128:
  1. vigil vs pip vpdq: frame numbers, qualities, hashes and printed timestamps must be equal
     bit for bit (FAIL otherwise);
  2. vigil vs upstream sample-hashes (every-frame files; at 1 s the lines with
     frameNumber % frameMod == 0): frame numbers and timestamps must be equal and frames with
     quality >= 50 on both sides within Hamming distance 30 (FAIL otherwise); quality
     mismatches are counted and reported, not failed (upstream hashed with another FFmpeg).
Exit status 0 when nothing failed, 1 otherwise.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import vpdq

HERE = Path(__file__).resolve().parent.parent


def default_vigil():
    """$VIGIL, else the newest of the release and debug builds."""
    if os.environ.get("VIGIL"):
        return os.environ["VIGIL"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", HERE / "target"))
    built = [target / p / "vigil" for p in ("release", "debug")]
    built = [p for p in built if p.exists()]
    if not built:
        return "vigil"
    return str(max(built, key=lambda p: p.stat().st_mtime))


def vigil_hash(vigil, video, sph, size):
    cmd = [vigil, "video", "hash", "--backend", "cpu", "--seconds-per-hash", str(sph)]
    if size:
        cmd += ["--downsample", str(size)]
    cmd.append(str(video))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        n, q, h, t = line.split(",")
        rows.append((int(n), int(q), h, t))
    return rows


def pip_hash(video, sph, size):
    feats = vpdq.computeHash(
        str(video),
        seconds_per_hash=sph,
        downsample_width=size or 0,
        downsample_height=size or 0,
    )
    return [(f.frame_number, f.quality, f.hex, f"{f.timestamp:.3f}") for f in feats]


def read_upstream(path):
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            n, q, h, t = line.strip().split(",")
            rows.append((int(n), int(q), h, t))
    return rows


def dist(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigil", default=default_vigil())
    ap.add_argument(
        "--ref",
        default=str(HERE.parent / "shared" / "reference" / "threatexchange"),
        help="the threatexchange reference folder (tmk/sample-videos, vpdq/sample-hashes)",
    )
    args = ap.parse_args()
    ref = Path(args.ref)
    videos = sorted((ref / "tmk" / "sample-videos").glob("*.mp4"))
    if not videos:
        sys.exit(f"no sample videos under {ref}")
    failures = 0
    print(
        "video,size,sampling,frames,pip_equal,upstream_file,upstream_frames,"
        "numbers_timestamps_equal,max_dist_q50,quality_mismatches,result"
    )
    for video in videos:
        stem = video.stem
        for size in (None, 128):
            for sph in (0, 1):
                mine = vigil_hash(args.vigil, video, sph, size)
                pip = pip_hash(video, sph, size)
                pip_ok = mine == pip
                problems = []
                if not pip_ok:
                    first = next(
                        (i for i, (a, b) in enumerate(zip(mine, pip)) if a != b),
                        min(len(mine), len(pip)),
                    )
                    problems.append(
                        f"differs from pip vpdq at row {first} "
                        f"(vigil {len(mine)} rows, pip {len(pip)})"
                    )
                up_name = f"{stem}-128x128.txt" if size else f"{stem}.txt"
                up_path = ref / "vpdq" / "sample-hashes" / up_name
                up_cols = ["-", "-", "-", "-", "-"]
                if up_path.exists():
                    up = read_upstream(up_path)
                    if sph:
                        # 30 fps sample videos: frameMod = (int)(1 * 30) = 30; the fps comes
                        # from vigil's own output (timestamps are n / fps).
                        fps = round(mine[1][0] / float(mine[1][3])) if len(mine) > 1 else 30
                        up = [r for r in up if r[0] % int(sph * fps) == 0]
                    same_nt = [(r[0], r[3]) for r in mine] == [(r[0], r[3]) for r in up]
                    if not same_nt:
                        problems.append("frame numbers or timestamps differ from upstream")
                    qmis = 0
                    maxd = 0
                    for a, b in zip(mine, up):
                        if a[1] != b[1]:
                            qmis += 1
                        if a[1] >= 50 and b[1] >= 50:
                            maxd = max(maxd, dist(a[2], b[2]))
                    if maxd > 30:
                        problems.append(f"distance {maxd} > 30 at quality >= 50")
                    up_cols = [up_name, str(len(up)), str(same_nt), str(maxd), str(qmis)]
                result = "ok" if not problems else "FAIL: " + "; ".join(problems)
                failures += bool(problems)
                print(
                    ",".join(
                        [
                            video.name,
                            f"{size}x{size}" if size else "native",
                            "every_frame" if sph == 0 else "1s",
                            str(len(mine)),
                            str(pip_ok),
                            *up_cols,
                            result,
                        ]
                    ),
                    flush=True,
                )
    print(f"{failures} failed", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

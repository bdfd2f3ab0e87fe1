#!/usr/bin/env python3
"""Throughput of `vigil video hash` against pip vpdq 0.2.5 on the same videos.

    /work/venv/ref/bin/python scripts/bench-vpdq.py [--vigil PATH] [--ref DIR] [--reps N]

Per video and sampling (every frame, 1 s per hash): the best wall time of N runs of each
tool (vigil as a process, whole `vigil video hash` run; pip vpdq `computeHash` in this
process, thread count auto), hashed frames / s and video seconds per wall second, and the
speed-up. With `--inproc PATH` (the `vpdq_inproc` example, `cargo build --release --example
vpdq_inproc`), also vigil's `hash_file` timed in one process as pip's is, without a process
start-up per video (columns `inproc_s`, `inproc_speedup`). Both decode every frame; at 1 s
per hash only one frame in 30 is converted and hashed. Outputs are checked equal as they
are timed.
"""

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import vpdq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from importlib import import_module  # noqa: E402

cmp = import_module("compare-vpdq")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigil", default=cmp.default_vigil())
    ap.add_argument("--ref", default=str(cmp.HERE.parent / "shared" / "reference" / "threatexchange"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--inproc", help="path of the vpdq_inproc example binary")
    args = ap.parse_args()
    videos = sorted((Path(args.ref) / "tmk" / "sample-videos").glob("*.mp4"))
    print(f"vigil: {args.vigil} (--backend {args.backend}); cores: {os.cpu_count()}")
    print("video,sampling,frames_decoded,hashed,vigil_s,vpdq_s,vigil_fps,vpdq_fps,"
          "vigil_video_s_per_s,vpdq_video_s_per_s,speedup,inproc_s,inproc_speedup")
    totals = {}
    for sph in (0, 1):
        inproc = {}
        if args.inproc:
            out = subprocess.run([args.inproc, str(sph), str(args.reps), *map(str, videos)],
                                 check=True, capture_output=True, text=True).stdout
            for line in out.splitlines():
                path, secs, digest = line.split("\t")
                inproc[path] = (float(secs), digest)
        for video in videos:
            cmd = [args.vigil, "video", "hash", "--backend", args.backend,
                   "--seconds-per-hash", str(sph), str(video)]
            best_v = best_p = float("inf")
            out_v = out_p = None
            for _ in range(args.reps):
                t0 = time.perf_counter()
                out_v = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                best_v = min(best_v, time.perf_counter() - t0)
                t0 = time.perf_counter()
                feats = vpdq.computeHash(str(video), seconds_per_hash=sph)
                best_p = min(best_p, time.perf_counter() - t0)
                out_p = "".join(
                    f"{f.frame_number},{f.quality},{f.hex},{f.timestamp:.3f}\n" for f in feats
                )
            if out_v != out_p:
                sys.exit(f"{video.name}: outputs differ")
            best_i, digest = inproc.get(str(video), (float("nan"), None))
            if digest is not None and digest != hashlib.sha256(out_p.encode()).hexdigest():
                sys.exit(f"{video.name}: vpdq_inproc's lines differ")
            hashed = out_v.count("\n")
            # 30 fps sample videos; frames decoded = every frame of the stream.
            decoded = len(vpdq.computeHash(str(video), seconds_per_hash=0)) if sph else hashed
            secs = decoded / 30.0
            key = "every_frame" if sph == 0 else "1s"
            t = totals.setdefault(key, [0, 0, 0.0, 0.0, 0.0, 0.0])
            t[0] += decoded
            t[1] += hashed
            t[2] += best_v
            t[3] += best_p
            t[4] += secs
            t[5] += best_i
            print(f"{video.name},{key},{decoded},{hashed},{best_v:.3f},{best_p:.3f},"
                  f"{hashed / best_v:.1f},{hashed / best_p:.1f},{secs / best_v:.1f},"
                  f"{secs / best_p:.1f},{best_p / best_v:.2f},{best_i:.3f},"
                  f"{best_p / best_i:.2f}", flush=True)
    for key, (decoded, hashed, tv, tp, secs, ti) in totals.items():
        print(f"TOTAL,{key},{decoded},{hashed},{tv:.3f},{tp:.3f},{hashed / tv:.1f},"
              f"{hashed / tp:.1f},{secs / tv:.1f},{secs / tp:.1f},{tp / tv:.2f},{ti:.3f},"
              f"{tp / ti:.2f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The Python pipeline `vigil scan` is compared with (issue 5): what a competent team would
write today to hash a folder of photos with PDQ and look the hashes up in a list of known
hashes.

    /work/venv/ref/bin/python scripts/python-pipeline.py --list LIST.txt DIR
        [--faiss-cache FILE] [--nflip 1] [--radius 31] [--min-quality 50] [--jobs 2]
        [--chunksize 8] [--warmup 0] [--repeat 3] [--out RESULTS_DIR]
        [--interleave CMD [--interleave-prepare CMD]]

Needs Pillow, numpy, pdqhash and faiss-cpu (the reference venv). Not a test of vigil: a
baseline to measure it against.

Setup (not timed, but reported): read LIST.txt (one 64-hex-digit PDQ hash per line, optional
",label" ignored; ids are line numbers from 0, the ids `vigil index build` gives a list with
no skipped line) and build a faiss `IndexBinaryMultiHash(256, 16, 16)` from it, or load the
one saved in --faiss-cache by an earlier run for the same list (file size and mtime checked).

Timed, --repeat times after --warmup untimed passes, the median reported (images/s =
images hashed / wall seconds):
  1. walk DIR (os.walk, sorted, links not followed);
  2. multiprocessing.Pool(--jobs) (the platform's default start method, fork on Linux),
     imap_unordered over the files: each worker does Image.open(p).convert('RGB') and
     pdqhash.compute(np.asarray(img)) -> (256 bits, quality);
  3. the parent looks up every hash with quality >= --min-quality in one batched
     range_search (faiss spreads the queries over its OpenMP threads, --jobs of them).
     faiss keeps distances strictly below the radius given, so r = 31 is asked as 32.

nflip: with 16 sub-hashes of 16 bits, a code within 31 bits of the query differs in at most
1 bit in at least one sub-hash (16 x 2 = 32 > 31), so nflip = 1 finds every code within
r = 31: the exact answer, the same one vigil must give. nflip = 0 is faster but misses codes
(recall 98.6 % at 1 M in BENCHMARKS.md); --nflip 0 measures it anyway.

--interleave CMD runs another command (vigil scan, in scripts/bench-scan.sh) before each pass,
warm-ups included, timing its wall and CPU seconds: on a shared machine whose load drifts, each
pair of runs meets about the same load; results.json gets the pairs and their ratios.

Writes to --out (if given): results.json (timings, counts, setup times, versions),
hashes.jsonl (path relative to DIR, pdq hex, quality) and matches.jsonl (path, id, distance)
of the last pass, so that scripts/bench-scan.sh can check that both tools found the same
matches. Prints one line of results.
"""
import argparse
import json
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import faiss
import numpy as np
import pdqhash
import PIL
from PIL import Image


def hash_one(path):
    """Worker: (path, 32-byte PDQ hash or None, quality or error text)."""
    try:
        with Image.open(path) as im:
            a = np.asarray(im.convert("RGB"))
        bits, quality = pdqhash.compute(a)
        return path, np.packbits(bits.astype(np.uint8)).tobytes(), int(quality)
    except Exception as e:  # a damaged file is a result, not a crash of the run
        return path, None, f"{type(e).__name__}: {e}"


def walk(root):
    """Every regular file under root, sorted, links not followed."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return out


def read_list(path):
    """The list's codes as an (n, 32) uint8 array."""
    codes = []
    with open(path, "rb") as f:
        for line in f:
            h = line.split(b",", 1)[0].strip()
            if h:
                codes.append(bytes.fromhex(h.decode()))
    return np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(-1, 32)


def load_index(list_path, cache, nflip):
    """(faiss index, setup timings). Builds from the list, or loads the cached build."""
    st = os.stat(list_path)
    key = f"{os.path.abspath(list_path)} {st.st_size} {st.st_mtime_ns}"
    setup = {}
    if cache and os.path.exists(cache) and os.path.exists(cache + ".key"):
        with open(cache + ".key") as f:
            if f.read() == key:
                t = time.perf_counter()
                index = faiss.read_index_binary(cache)
                setup["index_load_s"] = time.perf_counter() - t
                with open(cache + ".build.json") as f:
                    setup.update(json.load(f))
                index.nflip = nflip
                return index, setup
    t = time.perf_counter()
    codes = read_list(list_path)
    setup["list_parse_s"] = time.perf_counter() - t
    t = time.perf_counter()
    index = faiss.IndexBinaryMultiHash(256, 16, 16)
    index.add(codes)
    setup["index_build_s"] = time.perf_counter() - t
    setup["entries"] = int(index.ntotal)
    if cache:
        faiss.write_index_binary(index, cache)
        with open(cache + ".build.json", "w") as f:
            json.dump(setup, f)
        with open(cache + ".key", "w") as f:
            f.write(key)
    index.nflip = nflip
    return index, setup


def cpu_s():
    """CPU seconds (user + system) of this process and of its reaped children."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def one_pass(args, index):
    """One timed pass; (wall seconds, CPU seconds, records, matches)."""
    c = cpu_s()
    t = time.perf_counter()
    files = walk(args.dir)
    with multiprocessing.Pool(args.jobs) as pool:
        records = list(pool.imap_unordered(hash_one, files, chunksize=args.chunksize))
        pool.close()
        pool.join()  # workers reaped, so their CPU time is counted
    queries = [(p, h) for p, h, q in records if h is not None and q >= args.min_quality]
    matches = []
    if queries:
        qa = np.frombuffer(b"".join(h for _, h in queries), dtype=np.uint8).reshape(-1, 32)
        lims, dist, ids = index.range_search(qa, args.radius + 1)
        for i, (p, _) in enumerate(queries):
            for j in range(lims[i], lims[i + 1]):
                matches.append((p, int(ids[j]), int(dist[j])))
    return time.perf_counter() - t, cpu_s() - c, records, matches


def other_run(args):
    """Run --interleave once (after --interleave-prepare, untimed): (wall s, CPU s, status)."""
    if args.interleave_prepare:
        subprocess.run(args.interleave_prepare, shell=True, check=True)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    rc = subprocess.run(args.interleave, shell=True).returncode
    wall = time.perf_counter() - t
    a = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime, rc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--list", required=True, help="PDQ list, one hex hash per line")
    ap.add_argument("--faiss-cache", help="file to save/load the built faiss index")
    ap.add_argument("--nflip", type=int, default=1)
    ap.add_argument("--radius", type=int, default=31)
    ap.add_argument("--min-quality", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--chunksize", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=0, help="untimed passes first")
    ap.add_argument("--out", help="directory for results.json, hashes.jsonl, matches.jsonl")
    ap.add_argument("--interleave", metavar="CMD",
                    help="shell command (the other side of a side-by-side comparison) run and "
                    "timed before every pass, warm-ups included, so both meet the same load")
    ap.add_argument("--interleave-prepare", metavar="CMD",
                    help="shell command run, untimed, before each --interleave run")
    args = ap.parse_args()

    faiss.omp_set_num_threads(args.jobs)
    index, setup = load_index(args.list, args.faiss_cache, args.nflip)
    other = []
    for _ in range(args.warmup):
        if args.interleave:
            other_run(args)
        one_pass(args, index)
    times, cpus = [], []
    for _ in range(args.repeat):
        if args.interleave:
            other.append(other_run(args))
        secs, cpu, records, matches = one_pass(args, index)
        times.append(secs)
        cpus.append(cpu)
    hashed = [r for r in records if r[1] is not None]
    med = statistics.median(times)
    res = {
        "tool": "python-pipeline",
        "versions": {
            "python": platform.python_version(),
            "pillow": PIL.__version__,
            "numpy": np.__version__,
            "faiss": faiss.__version__,
            "pdqhash": getattr(pdqhash, "__version__", "0.2.8?"),
        },
        "start_method": multiprocessing.get_start_method(),
        "jobs": args.jobs,
        "faiss_threads": faiss.omp_get_max_threads(),
        "index": "IndexBinaryMultiHash(256, 16, 16)",
        "nflip": args.nflip,
        "radius": args.radius,
        "min_quality": args.min_quality,
        "setup": setup,
        "pass_s": times,
        "median_s": med,
        "cpu_s": cpus,
        "median_cpu_s": statistics.median(cpus),
        "files": len(records),
        "hashed": len(hashed),
        "failed": len(records) - len(hashed),
        "below_quality": sum(1 for r in hashed if r[2] < args.min_quality),
        "matches": len(matches),
        "matched_files": len({m[0] for m in matches}),
        "images_per_s": len(hashed) / med,
    }
    if args.interleave:
        res["interleaved"] = {
            "command": args.interleave,
            "wall_s": [o[0] for o in other],
            "cpu_s": [o[1] for o in other],
            "exit": [o[2] for o in other],
            "median_s": statistics.median(o[0] for o in other),
            "median_cpu_s": statistics.median(o[1] for o in other),
            # per pair: this pass's wall time / the interleaved command's just before it
            "pair_ratios": [t / o[0] for t, o in zip(times, other)],
        }
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        rel = lambda p: os.path.relpath(p, args.dir)  # noqa: E731
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(res, f, indent=1)
        with open(os.path.join(args.out, "hashes.jsonl"), "w") as f:
            for p, h, q in sorted(records, key=lambda r: r[0]):
                if h is None:
                    f.write(json.dumps({"path": rel(p), "error": q}) + "\n")
                else:
                    f.write(json.dumps({"path": rel(p), "pdq": h.hex(), "quality": q}) + "\n")
        with open(os.path.join(args.out, "matches.jsonl"), "w") as f:
            for p, i, d in sorted(matches):
                f.write(json.dumps({"path": rel(p), "id": i, "distance": d}) + "\n")
    print(
        f"python-pipeline: {res['hashed']} images, median {med:.3f} s of {args.repeat} "
        f"({', '.join(f'{t:.2f}' for t in times)}), {res['images_per_s']:.1f} images/s, "
        f"median CPU {res['median_cpu_s']:.2f} s, "
        f"{res['matches']} matches in {res['matched_files']} files; setup {json.dumps(setup)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Exact Hamming range search: vigil against faiss-cpu, same data, same run, hit sets checked.

Generates N random 256-bit codes (deterministic seed) with planted near-duplicates of the
queries at distances 0..40, writes them as raw 32-byte codes, and measures:

  batch   10,000 queries (default) at r=31 over N codes: faiss IndexBinaryFlat.range_search
          vs vigil (planner: MIH for these queries) and vigil's forced SIMD scan;
  single  one query at a time at r=31: faiss IndexBinaryMultiHash(256, 16, 16) with nflip=1
          (python-threatexchange's setting for r=31) and nflip=0, vs vigil MIH (from the
          memory-mapped index file, as `vigil match` runs);
  open    (optional) open + first query time, warm and cold, and resident bytes per entry.

Every vigil hit set is compared with faiss IndexBinaryFlat's (exact); faiss MultiHash's recall
is reported against it. faiss's binary range_search keeps distances < radius, so r <= 31 is
asked as radius 32 (checked on the planted codes at distances 31 and 32).

Usage: scripts/compare-search.py [--n 1000000] [--queries 10000] [--single 1000]
           [--repeat 3] [--open] [--workdir DIR] [--python-only]
Needs faiss-cpu and numpy (e.g. /work/venv/ref/bin/python) and a release build of
examples/search_bench.rs (built if missing).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

try:
    import faiss
except ImportError:
    sys.exit("faiss is not installed in this Python (pip install faiss-cpu)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 20260401


def generate(n, nq, rng):
    codes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    queries = rng.integers(0, 256, size=(nq, 32), dtype=np.uint8)
    # Plant, for every query, a database code at distance i % 41 (0..40).
    slots = rng.choice(n, size=nq, replace=False)
    for i, slot in enumerate(slots):
        d = i % 41
        code = queries[i].copy()
        bits = rng.choice(256, size=d, replace=False)
        for b in bits:
            code[b // 8] ^= np.uint8(1 << (b % 8))
        codes[slot] = code
    return codes, queries, slots


def faiss_hits(lims, D, I):
    rows = []
    for q in range(len(lims) - 1):
        for j in range(lims[q], lims[q + 1]):
            rows.append((q, int(I[j]), int(D[j])))
    return np.array(sorted(rows), dtype=np.uint32).reshape(-1, 3)


def read_hits(path):
    a = np.fromfile(path, dtype="<u4")
    return a.reshape(-1, 3)


def bench_bin():
    exe = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                       "release", "examples", "search_bench")
    if not os.path.exists(exe):
        subprocess.run(["cargo", "build", "--release", "--example", "search_bench"],
                       cwd=ROOT, check=True)
    return exe


def run(exe, *args):
    out = subprocess.run([exe, *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def same(a, b):
    return a.shape == b.shape and bool((a == b).all())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--single", type=int, default=1000, help="queries timed one at a time")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--radius", type=int, default=31)
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--skip-single", action="store_true")
    ap.add_argument("--open", action="store_true")
    ap.add_argument("--workdir", default=f"/tmp/vigil-search-{os.getpid()}")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    r = a.radius
    rng = np.random.default_rng(SEED)
    codes, queries, slots = generate(a.n, a.queries, rng)
    cpath, qpath, ipath = (os.path.join(a.workdir, f) for f in ("codes.bin", "queries.bin", "index.vidx"))
    codes.tofile(cpath)
    queries.tofile(qpath)
    exe = bench_bin()
    print(f"# n={a.n} queries={a.queries} r={r} seed={SEED} faiss {faiss.__version__} "
          f"threads={faiss.omp_get_max_threads()} cpus={os.cpu_count()}")
    built = run(exe, "build", cpath, ipath)
    print(f"vigil index build: {built['wall_s']:.1f} s")
    flat = faiss.IndexBinaryFlat(256)
    flat.add(codes)

    # faiss's radius semantics, checked on the planted codes.
    q41 = np.arange(min(a.queries, 41 * 3))
    lims, D, I = flat.range_search(queries[q41], r + 1)
    got = faiss_hits(lims, D, I)
    planted = {(int(q), int(slots[q])) for q in q41}
    found = {(int(q), int(i)) for q, i, _ in got}
    for q in q41:
        want = (q % 41) <= r
        assert ((int(q), int(slots[q])) in found) == want, f"faiss radius semantics: query {q}"
    print(f"faiss range_search(radius={r + 1}) keeps distances <= {r} (checked on planted codes)")

    results = []
    if not a.skip_batch:
        nq = a.queries
        t_faiss = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            lims, D, I = flat.range_search(queries, r + 1)
            t_faiss.append(time.perf_counter() - t)
        truth = faiss_hits(lims, D, I)
        fw = statistics.median(t_faiss)
        results.append(("batch", "faiss IndexBinaryFlat", fw, nq * a.n / fw, len(truth), "exact (reference)"))
        for backend in ("auto", "scan"):
            walls = []
            for _ in range(a.repeat):
                hp = os.path.join(a.workdir, f"hits-{backend}.bin")
                j = run(exe, "batch", ipath, qpath, r, backend, hp)
                walls.append(j["wall_s"])
            hits = read_hits(hp)
            ok = same(hits, truth)
            w = statistics.median(walls)
            results.append(("batch", f"vigil {backend} ({j['kernel']})", w, nq * a.n / w, len(hits),
                            "EQUAL" if ok else "DIFFERENT"))
            if not ok:
                print(f"!! vigil {backend} hit set differs from faiss IndexBinaryFlat", file=sys.stderr)
        print_table(results, fw)

    if not a.skip_single:
        ns = min(a.single, a.queries)
        qs = queries[:ns]
        lims, D, I = flat.range_search(qs, r + 1)
        truth = faiss_hits(lims, D, I)
        truth_set = {(int(q), int(i)) for q, i, _ in truth}
        single = []
        for nflip in (1, 0):
            mh = faiss.IndexBinaryMultiHash(256, 16, 16)
            mh.nflip = nflip
            t = time.perf_counter()
            mh.add(codes)
            build_s = time.perf_counter() - t
            times = []
            rows = []
            for i in range(ns):
                t = time.perf_counter()
                l2, d2, i2 = mh.range_search(qs[i:i + 1], r + 1)
                times.append(time.perf_counter() - t)
                rows.extend((i, int(x)) for x in i2[l2[0]:l2[1]])
            got = set(rows)
            recall = len(got & truth_set) / max(1, len(truth_set))
            med = statistics.median(times)
            single.append((f"faiss MultiHash(256,16,16) nflip={nflip}", med * 1e3, ns / sum(times),
                           f"recall {recall * 100:.2f}% (build {build_s:.1f} s)"))
            del mh
        for backend in ("auto", "mih", "scan"):
            if backend == "scan" and a.n > 2_000_000:
                pass
            hp = os.path.join(a.workdir, f"single-{backend}.bin")
            meds, qps = [], []
            for _ in range(a.repeat):
                j = run(exe, "single", ipath, qpath if ns == a.queries else write_sub(a.workdir, qs), r, backend, hp)
                meds.append(j["median_ms"])
                qps.append(j["queries_per_s"])
            hits = read_hits(hp)
            ok = same(hits, truth)
            single.append((f"vigil {backend}", statistics.median(meds), statistics.median(qps),
                           "EQUAL to IndexBinaryFlat" if ok else "DIFFERENT"))
        print(f"\nsingle-query range search, r={r}, {ns} queries one at a time over {a.n} codes")
        print(f"{'method':42} {'median ms':>10} {'queries/s':>10}  result")
        for name, med, qps, note in single:
            print(f"{name:42} {med:10.3f} {qps:10.1f}  {note}")

    if a.open:
        for mode in ("warm", "cold", "warm"):
            j = run(exe, "open", ipath, qpath, *(["cold"] if mode == "cold" else []))
            print(f"open {mode}: open {j['open_s'] * 1e3:.0f} ms, open + first query "
                  f"{j['open_and_first_query_s'] * 1e3:.0f} ms, resident "
                  f"{j['bytes_per_entry']:.1f} bytes/entry after 1000 queries")


def write_sub(workdir, qs):
    p = os.path.join(workdir, "queries-single.bin")
    qs.tofile(p)
    return p


def print_table(results, faiss_wall):
    print(f"\n{'mode':7} {'method':36} {'wall s':>8} {'comparisons/s':>14} {'vs faiss':>9} {'hits':>9}  result")
    for mode, name, wall, cps, hits, note in results:
        print(f"{mode:7} {name:36} {wall:8.3f} {cps:14.3e} {faiss_wall / wall:8.2f}x {hits:9d}  {note}")


if __name__ == "__main__":
    main()

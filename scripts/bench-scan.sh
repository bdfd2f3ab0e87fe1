#!/usr/bin/env bash
# Benchmark of `vigil scan` for issue 5 ("Done when" item 3), everything in one run:
#
#  1. Throughput, side by side on the same folder of PHOTOS photos from make-photos.py and the
#     same LIST_N-entry PDQ list (random 256-bit hashes plus the PDQ hashes of PLANT photos,
#     flipped by 0..40 bits, so there are matches at every distance around r = 31):
#       vigil:  $VIGIL scan --index LIST.vidx --out OUT --quiet PHOTOS_DIR  (wall
#               time of the whole process: start, index open, walk, read + digests, decode,
#               PDQ + pHash, matching, records)
#       python: scripts/python-pipeline.py (Pillow convert('RGB') + pdqhash.compute in a
#               multiprocessing.Pool(2), faiss IndexBinaryMultiHash(256,16,16) range_search at
#               r = 31, nflip = NFLIP, quality gate 50); timed inside the script: walk + pool +
#               lookups, not the interpreter start or building the faiss index (setup, reported)
#     RUNS timed runs each after one warm-up each (page cache warm for both), medians; images/s,
#     the ratio, whether both found the same (file, list id, distance) matches, whether their
#     hashes agree, and vigil's CPU seconds per stage from summary.json (cpu_s) with the
#     pdq/decode ratio: the last run's table, and the ratio of every timed run with their
#     median (vigil-cpu-per-run.json; the pairs timer only).
#  2. Peak memory: `/usr/bin/time -v vigil scan --index LIST.vidx` over trees of MEM_SMALL and
#     MEM_LARGE files from scripts/make-scan-tree.py: "Maximum resident set size" of each and
#     the difference; and, from scripts/peak-rss.py around it, the sampled peak of the RSS
#     summed over the process tree (what counts once decoders run in child processes).
#
# Usage:  scripts/bench-scan.sh            (from anywhere; run as root or a user who can write
#                                           BENCH_DIR; the first run makes the data: ~10 min)
# Knobs (environment variables, defaults in brackets):
#   VIGIL       vigil binary            [$CARGO_TARGET_DIR/release/vigil, else target/release/vigil]
#   PY          Python with Pillow, numpy, pdqhash, faiss-cpu   [/work/venv/ref/bin/python]
#               (../shared/tools/reference-venv.sh makes one)
#   MAKE_PHOTOS the shared photo maker   [/work/shared/tools/make-photos.py]
#   BENCH_DIR   generated data, reused when present (photos, list, indexes, trees) [/tmp/vigil-bench]
#   PHOTOS [500] LIST_N [1000000] PLANT [50] RUNS [3] NFLIP [1]
#   MEM_SMALL [10000] MEM_LARGE [100000]   SKIP_MEM=1 skips part 2, SKIP_SPEED=1 part 1
#   TIMER       pairs: each Python pass follows a vigil run (python-pipeline.py --interleave),
#               so both meet the same load on a shared machine (default); hyperfine: all vigil
#               runs with hyperfine, then all Python passes
#   RESULTS     where the report goes   [results/scan-bench-YYYY-MM-DD in the repository]
#   VIGIL_NOTE  free text for the report's vigil line (e.g. "main at abc1234, release build")
#   ANY_BUILD=1 benchmark a binary built from another commit or from uncommitted changes
#               (`vigil --version` names its commit, with -dirty-… for the latter); without it
#               such a binary is refused, so an experiment's build (`cargo test --release`
#               rebuilds target/release/vigil from the working tree) is never reported as HEAD
# The machine is shared: every figure is printed with the load average (uptime) taken just
# before it was measured. Output: a markdown report on stdout and in $RESULTS/report.md, with
# the small files it was made from (summary.json of each vigil run, the Python results, the
# vigil timings, /usr/bin/time -v and peak-rss output, the match comparison).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

VIGIL=${VIGIL:-${CARGO_TARGET_DIR:-$ROOT/target}/release/vigil}
PY=${PY:-/work/venv/ref/bin/python}
MAKE_PHOTOS=${MAKE_PHOTOS:-/work/shared/tools/make-photos.py}
BENCH_DIR=${BENCH_DIR:-/tmp/vigil-bench}
PHOTOS=${PHOTOS:-500}
LIST_N=${LIST_N:-1000000}
PLANT=${PLANT:-50}
RUNS=${RUNS:-3}
NFLIP=${NFLIP:-1}
MEM_SMALL=${MEM_SMALL:-10000}
MEM_LARGE=${MEM_LARGE:-100000}
SKIP_MEM=${SKIP_MEM:-0}
SKIP_SPEED=${SKIP_SPEED:-0}
TIMER=${TIMER:-pairs}
RESULTS=${RESULTS:-$ROOT/results/scan-bench-$(date +%F)}

die() { echo "bench-scan: $*" >&2; exit 1; }
log() { echo "bench-scan: $*" >&2; }
load() { uptime | sed 's/.*load average: //'; }
[ -x "$VIGIL" ] || die "no vigil binary at $VIGIL (cargo build --release, or set VIGIL=)"
VIGIL=$(cd "$(dirname "$VIGIL")" && pwd)/$(basename "$VIGIL")
built=$("$VIGIL" --version | sed -n 's/.*(git \(.*\))$/\1/p')
head_commit=$(git rev-parse HEAD 2>/dev/null || echo none)
if [ "${ANY_BUILD:-0}" != 1 ] && [ "$built" != "$head_commit" ]; then
    die "$VIGIL was built from ${built:-an unknown commit}, not from HEAD ($head_commit) as committed: rebuild (cargo build --release) or set ANY_BUILD=1"
fi
[ -x "$PY" ] || die "no Python at $PY (set PY= to one with Pillow, numpy, pdqhash, faiss-cpu)"
"$PY" -c 'import PIL, numpy, pdqhash, faiss' || die "$PY lacks Pillow, numpy, pdqhash or faiss"
[ -f "$MAKE_PHOTOS" ] || die "no make-photos.py at $MAKE_PHOTOS (set MAKE_PHOTOS= to the shared tool)"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install -y time)"
HYPERFINE=$(command -v hyperfine || true)
mkdir -p "$BENCH_DIR" "$RESULTS"
RUN=$BENCH_DIR/run            # scratch --out directories
mkdir -p "$RUN"
REPORT=$RESULTS/report.md
# What an earlier run into the same folder left (a file from another timer or tree size).
rm -f "$RESULTS"/{report.md,match-comparison.txt,hyperfine-vigil.json,vigil-times.json} \
  "$RESULTS"/vigil-*-summary.json "$RESULTS/vigil-cpu-per-run.json" "$RESULTS"/{time,peak}-tree-*.{txt,json}
rm -rf "$RESULTS/python"
: > "$REPORT"
say() { printf '%s\n' "$*" | tee -a "$REPORT"; }

PHOTOS_DIR=$BENCH_DIR/photos-$PHOTOS
LIST=$BENCH_DIR/pdq-list-$LIST_N-photos$PHOTOS-plant$PLANT.txt
VIDX=${LIST%.txt}.vidx
FAISS=${LIST%.txt}.faiss

# --- data -----------------------------------------------------------------------------------
if [ "$(find "$PHOTOS_DIR" -maxdepth 1 -name '*.jpg' 2>/dev/null | wc -l)" -lt "$PHOTOS" ]; then
  log "making $PHOTOS photos in $PHOTOS_DIR"
  "$PY" "$MAKE_PHOTOS" "$PHOTOS_DIR" "$PHOTOS" >/dev/null
fi
[ "$(find "$PHOTOS_DIR" -maxdepth 1 -type f | wc -l)" -eq "$PHOTOS" ] \
  || die "$PHOTOS_DIR holds other than $PHOTOS files (remove it)"

if [ ! -s "$LIST" ]; then
  log "making the $LIST_N-entry list $LIST"
  "$PY" - "$PHOTOS_DIR" "$LIST" "$LIST_N" "$PLANT" <<'PYEOF'
# Random 256-bit codes (seed 20261127) with PLANT photos' PDQ hashes (pip pdqhash), each
# flipped in i % 41 random bits (0..40: inside and outside r = 31), at random positions.
import os, sys, numpy as np, pdqhash
from PIL import Image
d, out, n, plant = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(20261127)
codes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
photos = sorted(os.listdir(d))
step = max(1, len(photos) // plant)
chosen = photos[::step][:plant]
pos = rng.choice(n, size=len(chosen), replace=False)
for i, (f, p) in enumerate(zip(chosen, pos)):
    bits, q = pdqhash.compute(np.asarray(Image.open(os.path.join(d, f)).convert("RGB")))
    bits = bits.astype(np.uint8)
    flip = rng.choice(256, size=i % 41, replace=False)
    bits[flip] ^= 1
    codes[p] = np.packbits(bits)
# No duplicate codes (vigil index build would skip them and shift the ids).
assert len(np.unique(codes, axis=0)) == n
tmp = out + ".tmp"
with open(tmp, "w") as fh:
    hexes = codes.tobytes().hex()
    fh.write("".join(hexes[i * 64:(i + 1) * 64] + "\n" for i in range(n)))
os.replace(tmp, out)
print(f"planted {len(chosen)} photo hashes at distances 0..{min(len(chosen), 41) - 1}", file=sys.stderr)
PYEOF
fi

# The index is rebuilt when the binary cannot verify it (a format change) or is newer than it.
if [ "$VIGIL" -nt "$VIDX" ] || ! "$VIGIL" index verify "$VIDX" >/dev/null 2>&1; then
  log "building $VIDX with vigil index build"
  rm -f "$VIDX" "$VIDX.build"
  l=$(load)
  t0=$(date +%s.%N)
  "$VIGIL" index build --out "$VIDX" --list "known=$LIST" >/dev/null
  printf '%.1f s (load %s)\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$l" > "$VIDX.build"
fi
INDEX_BUILD=$(cat "$VIDX.build" 2>/dev/null || echo "?")
ENTRIES=$("$VIGIL" index info "$VIDX" --json | "$PY" -c \
  'import json,sys; m=json.load(sys.stdin); print(sum(l.get("entries", 0) for l in m.get("lists", [])))' \
  2>/dev/null || echo "?")
[ "$ENTRIES" = "$LIST_N" ] || log "warning: the index holds $ENTRIES entries, the list $LIST_N lines (ids may differ)"

say "## vigil scan benchmark ($(date -u +%FT%TZ))"
say ""
say "- machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(free -g | awk '/Mem:/{print $2}') GiB"
say "- vigil: $VIGIL ($("$VIGIL" --version 2>/dev/null | head -1); sha256 $(sha256sum "$VIGIL" | cut -c1-12), modified $(date -u -r "$VIGIL" +%FT%TZ)); ${VIGIL_NOTE:+$VIGIL_NOTE; }bench scripts at $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
say "- python: $("$PY" -c 'import sys,PIL,numpy,faiss; print(sys.version.split()[0], "Pillow", PIL.__version__, "numpy", numpy.__version__, "faiss-cpu", faiss.__version__)'), pdqhash $("$PY" -m pip show pdqhash 2>/dev/null | sed -n 's/^Version: //p')"
say "- list: $LIST_N PDQ entries ($PLANT planted photo hashes), vigil index $(du -h "$VIDX" | cut -f1) (\`vigil index build\`: $INDEX_BUILD), entries in index: $ENTRIES"
say ""

# --- 1. throughput --------------------------------------------------------------------------
if [ "$SKIP_SPEED" != 1 ]; then
  VOUT=$RUN/vigil-photos
  POUT=$RESULTS/python
  scan_photos="$VIGIL scan --index $VIDX --out $VOUT --quiet $PHOTOS_DIR"
  log "warming the page cache and both tools"
  cat "$PHOTOS_DIR"/* "$VIDX" > /dev/null
  rm -rf "$VOUT"
  rc=0; $scan_photos || rc=$?
  [ "$rc" -eq 0 ] || die "vigil scan exited $rc on the photos (0 expected: matches, no failure)"

  LOAD_V=$(load)
  rm -rf "$POUT"
  if [ "$TIMER" = hyperfine ] && [ -n "$HYPERFINE" ]; then
    log "timing vigil scan with hyperfine, $RUNS runs (load $LOAD_V)"
    "$HYPERFINE" --style basic --warmup 1 --runs "$RUNS" --prepare "rm -rf $VOUT" \
      --export-json "$RESULTS/hyperfine-vigil.json" -n vigil-scan "$scan_photos" >&2
    "$PY" - "$RESULTS/hyperfine-vigil.json" "$RESULTS/vigil-times.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
json.dump({"timer": "hyperfine", "wall_s": r["times"], "median_s": r["median"],
           "median_cpu_s": r["user"] + r["system"], "exit": r.get("exit_codes")},
          open(sys.argv[2], "w"), indent=1)
PYEOF
    LOAD_P=$(load)
    log "timing the Python pipeline, 1 warm-up + $RUNS passes (load $LOAD_P)"
    "$PY" scripts/python-pipeline.py --list "$LIST" --faiss-cache "$FAISS" --nflip "$NFLIP" \
      --warmup 1 --repeat "$RUNS" --out "$POUT" "$PHOTOS_DIR" >&2
  else
    LOAD_P=$LOAD_V
    log "timing vigil scan and the Python pipeline in $RUNS pairs after a warm-up pair (load $LOAD_V)"
    # Each prepare keeps the summary.json of the run before it (numbered), so the CPU seconds
    # by stage of every timed run are there, not only the last one's.
    rm -rf "$RUN/summaries"; mkdir -p "$RUN/summaries"
    keep="n=\$(ls $RUN/summaries | wc -l); [ ! -f $VOUT/summary.json ] || cp $VOUT/summary.json $RUN/summaries/\$(printf %03d \$n).json"
    "$PY" scripts/python-pipeline.py --list "$LIST" --faiss-cache "$FAISS" --nflip "$NFLIP" \
      --warmup 1 --repeat "$RUNS" --out "$POUT" \
      --interleave "$scan_photos" --interleave-prepare "$keep; rm -rf $VOUT" "$PHOTOS_DIR" >&2
    bash -c "$keep"
    "$PY" - "$POUT/results.json" "$RESULTS/vigil-times.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))["interleaved"]
if any(e != 0 for e in r["exit"]):
    sys.exit(f"bench-scan: vigil scan exited {r['exit']} in the timed runs (0 expected)")
json.dump({"timer": "pairs (scripts/python-pipeline.py --interleave)", "wall_s": r["wall_s"],
           "median_s": r["median_s"], "median_cpu_s": r["median_cpu_s"], "exit": r["exit"],
           "pair_ratios": r["pair_ratios"]}, open(sys.argv[2], "w"), indent=1)
PYEOF
  fi
  install -m 644 "$VOUT/summary.json" "$RESULTS/vigil-photos-summary.json"
  # The timed runs' CPU seconds by stage (the last RUNS summaries kept; hyperfine keeps none).
  if [ -d "$RUN/summaries" ] && [ "$TIMER" != hyperfine ]; then
    "$PY" - "$RUNS" "$RESULTS/vigil-cpu-per-run.json" $(ls "$RUN"/summaries/*.json | tail -n "$RUNS") <<'PYEOF'
import json, sys
runs, out, files = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
json.dump([json.load(open(f))["cpu_s"] for f in files], open(out, "w"), indent=1)
PYEOF
  else
    rm -f "$RESULTS/vigil-cpu-per-run.json"
  fi
  LOAD_END=$(load)

  "$PY" - "$VOUT" "$POUT" "$PHOTOS_DIR" "$RUNS" "$LOAD_V" "$LOAD_P" "$LOAD_END" \
    "$RESULTS" <<'PYEOF' | tee -a "$REPORT"
import json, os, sys
vout, pout, d, runs, load_v, load_p, load_end, res = sys.argv[1:]
runs = int(runs)
hf = json.load(open(os.path.join(res, "vigil-times.json")))
v_med, v_cpu = hf["median_s"], hf["median_cpu_s"]
s = json.load(open(os.path.join(vout, "summary.json")))
p = json.load(open(os.path.join(pout, "results.json")))
def jl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]
rel = lambda x: os.path.relpath(x, d)
vm = {(rel(m["path"]), m["id"], m["distance"]) for m in jl(os.path.join(vout, "matches.jsonl"))
      if m.get("algo") == "pdq"}
pm = {(m["path"], m["id"], m["distance"]) for m in jl(os.path.join(pout, "matches.jsonl"))}
vh = {rel(h["path"]): (h.get("pdq"), h.get("quality")) for h in jl(os.path.join(vout, "hashes.jsonl"))}
ph = {h["path"]: (h.get("pdq"), h.get("quality")) for h in jl(os.path.join(pout, "hashes.jsonl"))}
hashed = s["counts"]["hashed"]
v_ips = hashed / v_med
p_ips = p["images_per_s"]
same_hash = sum(1 for k in ph if k in vh and vh[k] == ph[k])
diff = []
for k in sorted(set(ph) | set(vh)):
    a, b = vh.get(k, (None, None)), ph.get(k, (None, None))
    if a != b:
        bits = (bin(int(a[0], 16) ^ int(b[0], 16)).count("1") if a[0] and b[0] else None)
        diff.append(f"{k}: vigil {a[0]} q{a[1]} / python {b[0]} q{b[1]} ({bits} bits apart)")
cpu = s["cpu_s"]
print("### Throughput: `vigil scan` vs the Python pipeline")
print()
print(f"{hashed} photos, {runs} timed runs each after a warm-up (page cache warm), medians; "
      f"timer: {hf['timer']}.")
print()
p_cpu = p["median_cpu_s"]
print("| | images/s | median wall | CPU per image | runs (wall) | load (1/5/15 min) |")
print("|---|---:|---:|---:|---|---|")
print(f"| `vigil scan --index` (whole process) | **{v_ips:.1f}** | {v_med:.3f} s | "
      f"{v_cpu / hashed * 1e3:.2f} ms | {', '.join(f'{t:.2f}' for t in hf['wall_s'])} s; last run's "
      f"summary.json: {s['images_per_s']:.1f} images/s | {load_v} |")
print(f"| Python: Pillow + pdqhash, Pool({p['jobs']}), faiss MultiHash nflip={p['nflip']} "
      f"(walk + pool + lookups) | {p_ips:.1f} | {p['median_s']:.3f} s | "
      f"{p_cpu / p['hashed'] * 1e3:.2f} ms | {', '.join(f'{t:.2f}' for t in p['pass_s'])} s | "
      f"{load_p} (end {load_end}) |")
print()
print(f"- **ratio: {v_ips / p_ips:.2f}×** in images/s (bar: ≥ 4×); in CPU time per image "
      f"(user + system, all processes; less sensitive to other load): "
      f"{(p_cpu / p['hashed']) / (v_cpu / hashed):.2f}×"
      + (f"; per pair (Python wall / vigil wall of the run just before): "
         f"{', '.join(f'{r:.2f}' for r in hf['pair_ratios'])}, median "
         f"{sorted(hf['pair_ratios'])[len(hf['pair_ratios']) // 2]:.2f}×" if "pair_ratios" in hf else ""))
print(f"- matches (file, list id, distance): vigil {len(vm)}, python {len(pm)}, "
      f"{'**same set**' if vm == pm else '**DIFFERENT**'}"
      + ("" if vm == pm else f": only vigil {sorted(vm - pm)}; only python {sorted(pm - vm)}"))
print(f"- hashes: {same_hash} of {len(ph)} files have the same PDQ hash and quality in both"
      + ("" if not diff else "; differing: " + "; ".join(diff[:5]) + (" …" if len(diff) > 5 else "")))
print(f"- Python setup (not timed): {json.dumps(p['setup'])}")
tot = sum(cpu.values())
print(f"- vigil CPU seconds by stage (summary.json `cpu_s`, summed over threads; "
      f"{tot:.2f} s in all, {tot / hashed * 1e3:.2f} ms per image):")
print()
ratio = (f"**{cpu['pdq'] / cpu['decode']:.2f}** (bar: ≤ 0.25)"
         if cpu.get("decode") and "pdq" in cpu else "n/a")
print("| " + " | ".join(cpu) + " | pdq / decode |")
print("|" + "---:|" * (len(cpu) + 1))
print("| " + " | ".join(f"{v:.3f}" for v in cpu.values()) + f" | {ratio} |")
print()
per_run = os.path.join(res, "vigil-cpu-per-run.json")
if os.path.exists(per_run):
    rs = sorted(c["pdq"] / c["decode"] for c in json.load(open(per_run)) if c.get("decode"))
    if rs:
        print(f"- pdq / decode in each of the {len(rs)} timed runs: "
              f"{', '.join(f'{r:.3f}' for r in rs)}; median **{rs[len(rs) // 2]:.3f}** "
              f"(bar: ≤ 0.25; the table above is the last run's summary.json)")
        print()
with open(os.path.join(res, "match-comparison.txt"), "w") as f:
    f.write(f"vigil {len(vm)} python {len(pm)} equal {vm == pm}\n")
    for m in sorted(vm | pm):
        f.write(f"{'both' if m in vm and m in pm else 'vigil' if m in vm else 'python'} {m[0]} id={m[1]} d={m[2]}\n")
    for l in diff:
        f.write("hash differs: " + l + "\n")
PYEOF
  rm -f "$POUT/hashes.jsonl"
fi

# --- 2. peak memory -------------------------------------------------------------------------
if [ "$SKIP_MEM" != 1 ]; then
  declare -A RSS TREE
  say "### Peak resident memory, \`vigil scan --index\` with the $LIST_N-entry list"
  say ""
  say "| tree (make-scan-tree.py) | files | hashed | wall | images/s | max RSS (\`time -v\`) | peak RSS sum, process tree | load (1/5/15 min) |"
  say "|---|---:|---:|---:|---:|---:|---:|---|"
  for n in "$MEM_SMALL" "$MEM_LARGE"; do
    tree=$BENCH_DIR/tree-$n
    if [ ! -f "$tree.done" ]; then
      log "making a $n-file tree in $tree (100,000 files take a few minutes)"
      force=(); [ -e "$tree" ] && force=(--force)
      "$PY" scripts/make-scan-tree.py "$tree" --files "$n" --jobs "$(nproc)" "${force[@]}" >&2
      touch "$tree.done"
    fi
    out=$RUN/vigil-tree-$n
    rm -rf "$out"
    find "$tree" -type f -readable -size -2M -print0 2>/dev/null | xargs -0 cat > /dev/null 2>&1 || true
    l=$(load)
    log "scanning $tree under /usr/bin/time -v (load $l)"
    rc=0
    "$PY" scripts/peak-rss.py --exclude-root --json "$RESULTS/peak-tree-$n.json" -- \
      /usr/bin/time -v -o "$RESULTS/time-tree-$n.txt" \
      "$VIGIL" scan --index "$VIDX" --out "$out" --quiet "$tree" >/dev/null || rc=$?
    [ "$rc" -le 3 ] || die "vigil scan exited $rc on $tree (see $RESULTS/time-tree-$n.txt)"
    install -m 644 "$out/summary.json" "$RESULTS/vigil-tree-$n-summary.json"
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$RESULTS/time-tree-$n.txt")
    read -r tkb np files hashed wall ips < <("$PY" -c 'import json,sys
t=json.load(open(sys.argv[1])); s=json.load(open(sys.argv[2])); c=s["counts"]
print(t["peak_tree_kib"], t["max_processes"], c["files"], c["hashed"], round(s["wall_s"], 2), round(s["images_per_s"], 1))' \
      "$RESULTS/peak-tree-$n.json" "$out/summary.json")
    RSS[$n]=$kb
    TREE[$n]=$tkb
    say "| tree-$n | $files | $hashed | $wall s | $ips | **$((kb * 1024 / 1000000)) MB** ($kb KiB) | $((tkb * 1024 / 1000000)) MB ($np processes at most) | $l |"
  done
  d=$(( ${RSS[$MEM_LARGE]} - ${RSS[$MEM_SMALL]} ))
  dt=$(( ${TREE[$MEM_LARGE]} - ${TREE[$MEM_SMALL]} ))
  say ""
  say "- difference $MEM_LARGE − $MEM_SMALL files: **$((d * 1024 / 1000000)) MB** ($d KiB) by \`/usr/bin/time -v\`, $((dt * 1024 / 1000000)) MB by the sampled sum (bars: peak at $MEM_LARGE files < 1 GB, difference < 50 MB)"
  say "- \`/usr/bin/time -v\` gives the largest single process; once decoders run in child processes the footprint is the sum over the process tree: scripts/peak-rss.py samples it every 20 ms (RSS summed, so shared pages count twice: an upper bound)."
  say ""
fi
say "Data in $BENCH_DIR (reused on the next run); files behind this report in ${RESULTS#"$ROOT"/}."
log "report: $REPORT"

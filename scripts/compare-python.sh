#!/usr/bin/env bash
# Side-by-side speed of vigil against the Python reference stack on this machine:
#  1. one core, a decoded 1600x1004 RGB buffer: vigil's default CPU path vs pip pdqhash
#     0.2.8 (pdqhash.compute), with the hashes compared bit for bit;
#  2. a folder of photos from ../shared/tools/make-photos.py (N, default 200), decode
#     included, both cores: `vigil hash` vs a Python loop of Pillow convert('RGB') +
#     pdqhash.compute in a multiprocessing pool of 2, images/s (hyperfine medians);
#  3. the decode/hash split of vigil on one thread.
# Needs ../shared (reference venv and photo maker); writes under bench-data/ (git-ignored).
# Usage: scripts/compare-python.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
SHARED=${SHARED:-../shared}
scripts/setup.sh
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null; }
PY=$("$SHARED/tools/reference-venv.sh" bench-data/venv | tail -n 1)
PHOTOS=bench-data/photos-$N
"$PY" "$SHARED/tools/make-photos.py" "$PHOTOS" "$N" >/dev/null
cargo build --release --quiet --bin vigil --example timing
VIGIL=target/release/vigil
TIMING=target/release/examples/timing
IMG=tests/data/threatexchange/pdq/data/bridge-mods/aaa-orig.jpg

echo "== 1. one core, decoded 1600x1004 RGB buffer =="
"$PY" - "$IMG" <<'PYEOF'
import sys, time, numpy as np, pdqhash
from PIL import Image
a = np.asarray(Image.open(sys.argv[1]).convert('RGB'))
bits, q = pdqhash.compute(a)
h = '%064x' % int(''.join(str(int(b)) for b in bits), 2)
ts = []
for _ in range(40):
    t = time.perf_counter(); pdqhash.compute(a); ts.append(time.perf_counter() - t)
ts.sort()
print(f"pdqhash   median_ms={ts[20]*1e3:.3f} min_ms={ts[0]*1e3:.3f} hash={h} quality={q}")
PYEOF
taskset -c 0 "$TIMING" buffer "$IMG" 200 | sed 's/^/vigil     /'

echo "== 2. folder of $N photos, both cores, decode included =="
cat > bench-data/py-hash.py <<'PYEOF'
import sys, os, pdqhash, numpy as np
from multiprocessing import Pool
from PIL import Image
def one(p):
    bits, q = pdqhash.compute(np.asarray(Image.open(p).convert('RGB')))
    return q
if __name__ == '__main__':
    d = sys.argv[1]
    files = sorted(os.path.join(d, f) for f in os.listdir(d))
    with Pool(2) as pool:
        pool.map(one, files, chunksize=4)
PYEOF
hyperfine --warmup 1 --runs 5 --export-json bench-data/folder.json \
  -n vigil "$VIGIL hash --jobs 2 -q $PHOTOS > /dev/null" \
  -n python "$PY bench-data/py-hash.py $PHOTOS"
"$PY" - "$N" <<'PYEOF'
import json, sys
n = int(sys.argv[1])
r = {x['command']: x for x in json.load(open('bench-data/folder.json'))['results']}
v, p = r['vigil']['median'], r['python']['median']
print(f"vigil  {n/v:.1f} images/s (median {v:.2f} s)")
print(f"python {n/p:.1f} images/s (median {p:.2f} s)")
print(f"ratio  {p/v:.2f}x")
PYEOF

echo "== 3. vigil decode/hash split, one thread =="
"$TIMING" split "$PHOTOS"

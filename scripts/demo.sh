#!/usr/bin/env bash
# The main job on the bundled demo set (demo/README.md): build vigil (release) and scan
# demo/images against demo/known.txt (PDQ hashes of 4 originals) and demo/known-md5.txt (one
# MD5), matching all 8 dihedral variants, then print the matches. The reference's verdict for
# every file is demo/expected.csv (pip pdqhash on the same pixels): 32 copies within distance
# 31 at quality >= 50, plus one file by its MD5; the rest are beyond reach or unrelated.
# The scan's outputs (hashes.jsonl, errors.jsonl, matches.jsonl, summary.json) go to a new
# private directory whose path is printed; extra arguments go to `vigil scan`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet
out=$(mktemp -d "${TMPDIR:-/tmp}/vigil-demo.XXXXXX")
rmdir "$out" # vigil scan creates it (0700)
set +e
target/release/vigil scan --dihedral --list demo/known.txt --list md5=demo/known-md5.txt \
    --out "$out" "$@" demo/images
rc=$?
set -e
if [ "$rc" -ge 64 ]; then
    exit "$rc"
fi
echo "matches (file, list, id, label, distance, variant):"
python3 - "$out/matches.jsonl" <<'PY' 2>/dev/null || cat "$out/matches.jsonl"
import json, sys
ms = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda m: (m['path'], m['list'], m['id']))
for m in ms:
    print(f"  {m['path']}  {m['algo']}:{m['list']} #{m['id']} {m['label'] or ''}  distance {m['distance']}  {m['variant'] or ''}")
PY
echo "outputs in $out (exit code $rc: 0 = matches, no failures)"
exit "$rc"

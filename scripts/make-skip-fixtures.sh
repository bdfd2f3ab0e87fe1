#!/usr/bin/env bash
# Regenerate tests/data/video/skip/: small H.264 clips whose frame structures stress the
# skipping of unsampled non-reference frames (src/video/decode.rs), and their expected vPDQ
# lines from pip vpdq 0.2.5 (which decodes every frame) at 0.2 s and 1 s per hash.
#   pyramid.mp4    3 B-frames, B-pyramid (some B-frames are references), GOP 30
#   bframes8.mp4   up to 8 B-frames, strict pyramid, adaptive B decision
#   opengop.mkv    open GOPs every 20 frames, 3 B-frames, in Matroska
#   vfr.mp4        variable frame rate (frames dropped unevenly), 3 B-frames
#   nob.mp4        no B-frames: every frame a reference, nothing to skip
#   mbaff.mp4      interlaced (MBAFF, top field first), 3 B-frames
#   damaged.mp4    pyramid.mp4 with 48 bytes at offset 8000 overwritten: FFmpeg conceals the
#                  damage, and differently under frame threads than under upstream's slice
#                  threads, so vigil must notice it and decode the upstream way
#   damaged-skipped.mp4   pyramid.mp4, 4 bytes at 5223 changed, inside an unsampled
#                  non-reference picture: skipping it (the opt-in skip_unsampled) gives other
#                  hashes than upstream, which decodes it (found by compare-vpdq-damaged --seed 23)
#   damaged-after-idr.mp4 bframes8.mp4, 16 bytes at 7739 changed, in the P-picture after the
#                  IDR picture at packet 60: a decoder started at that IDR picture (the opt-in
#                  decode_threads) decodes other pixels, unreported (found with --seed 5)
# All 96x64 from FFmpeg's testsrc2 (moving content), CRF 38 (small files), 25 fps nominal, 4 s.
# Usage: scripts/make-skip-fixtures.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/../tests/data/video/skip"
py=${1:-/work/venv/ref/bin/python}
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
src=(-f lavfi -i testsrc2=size=96x64:rate=25:duration=4)
common=(-c:v libx264 -crf 38 -pix_fmt yuv420p -map_metadata -1 -fflags +bitexact -flags:v +bitexact)
ff "${src[@]}" "${common[@]}" -bf 3 -x264-params b-pyramid=normal:keyint=30 pyramid.mp4
ff "${src[@]}" "${common[@]}" -bf 8 -x264-params b-pyramid=strict:b-adapt=2:keyint=60 bframes8.mp4
ff "${src[@]}" "${common[@]}" -bf 3 -x264-params open-gop=1:keyint=20:min-keyint=20 opengop.mkv
ff "${src[@]}" -vf "select='not(eq(mod(n\,7)\,3))*not(eq(mod(n\,11)\,5))'" -fps_mode vfr \
  "${common[@]}" -bf 3 vfr.mp4
ff "${src[@]}" "${common[@]}" -bf 0 nob.mp4
ff "${src[@]}" "${common[@]}" -bf 3 -flags +ildct+ilme -x264-params tff=1 mbaff.mp4
python3 -c '
import sys
b = bytearray(open("pyramid.mp4", "rb").read())
b[8000:8048] = b"\x5a" * 48
open("damaged.mp4", "wb").write(b)
for name, src, at, new in (
    ("damaged-skipped.mp4", "pyramid.mp4", 5223, "abc849d1"),
    ("damaged-after-idr.mp4", "bframes8.mp4", 7739, "f0772586ae78f77b6067041ce0af8118"),
):
    b = bytearray(open(src, "rb").read())
    b[at:at + len(new) // 2] = bytes.fromhex(new)
    open(name, "wb").write(b)'
for v in *.mp4 *.mkv; do
  "$py" - "$v" <<'PY'
import sys, vpdq
v = sys.argv[1]
for name, sph in (("s0", 0), ("s0.2", 0.2), ("s1", 1)):
    feats = vpdq.computeHash(v, seconds_per_hash=sph)
    with open(f"{v}.{name}.txt", "w") as f:
        for x in feats:
            f.write(f"{x.frame_number},{x.quality},{x.hex},{x.timestamp:.3f}\n")
PY
done
ls -l

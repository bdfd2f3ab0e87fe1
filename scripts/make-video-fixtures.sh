#!/usr/bin/env bash
# Regenerate tests/data/video/: three tiny clips made with the ffmpeg CLI (Debian FFmpeg 5.1)
# and their expected vPDQ lines from pip vpdq 0.2.5 (built against the same FFmpeg libraries).
#   tiny-h264-16fps.mp4  96x64 H.264 with B-frames, moov first (faststart: a truncated copy
#                        still opens and shows the truncation), 16 fps (timestamps n/16 hit exact ties
#                        such as 0.0625, printed 0.062 as upstream's printf does), 40 frames
#   audio-first.mkv      audio as stream 0, MPEG-4 Part 2 video with B-frames as stream 1,
#                        25 fps, 30 frames: upstream's end-of-stream flush only reaches stream
#                        0, so the frame held in the decoder is never output (29 lines)
#   audio-only.wav       no video stream at all
# Expected files: NAME.s0.txt (every frame), NAME.s1.txt (1 s per hash), NAME.s0.d32.txt
# (every frame, 32x32). Usage: scripts/make-video-fixtures.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/../tests/data/video"
py=${1:-/work/venv/ref/bin/python}
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
ff -f lavfi -i testsrc2=size=96x64:rate=16 -frames:v 40 -c:v libx264 -pix_fmt yuv420p -bf 2 \
  -g 12 -movflags +faststart -map_metadata -1 -fflags +bitexact -flags:v +bitexact \
  tiny-h264-16fps.mp4
ff -f lavfi -i sine=frequency=440:sample_rate=8000:duration=1.2 \
  -f lavfi -i testsrc2=size=80x60:rate=25:duration=1.2 -map 0:a -map 1:v -c:a pcm_u8 \
  -c:v mpeg4 -bf 2 -q:v 5 -fflags +bitexact -flags:v +bitexact audio-first.mkv
ff -f lavfi -i sine=frequency=440:sample_rate=8000:duration=0.5 -c:a pcm_u8 \
  -fflags +bitexact audio-only.wav
for v in tiny-h264-16fps.mp4 audio-first.mkv; do
  "$py" - "$v" <<'PY'
import sys, vpdq
v = sys.argv[1]
for name, sph, size in (("s0", 0, 0), ("s1", 1, 0), ("s0.d32", 0, 32)):
    feats = vpdq.computeHash(v, seconds_per_hash=sph, downsample_width=size, downsample_height=size)
    with open(f"{v}.{name}.txt", "w") as f:
        for x in feats:
            f.write(f"{x.frame_number},{x.quality},{x.hex},{x.timestamp:.3f}\n")
PY
done
ls -l

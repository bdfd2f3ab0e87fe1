#!/usr/bin/env bash
# Regenerate the video fixtures of tests/scan_video.rs in tests/data/video/ with the ffmpeg CLI
# (Debian FFmpeg 5.1; lavfi sources only, no third-party content):
#   flash.png            128x96, the first frame of lavfi `mandelbrot`: the "known image"
#   flash-16fps.mp4      48 frames of `testsrc2` at 16 fps (3 s), H.264, with flash.png shown on
#                        frames 20-22 only (0.1875 s): every-frame matching finds it, 1 s per
#                        hash (frames 0, 16, 32) cannot
#   audio-only.mka       Matroska with one PCM audio track and no video
#   raw-16x16.avi        2 frames of 16x16 raw BGR24 in AVI; the test patches its header to a
#                        16000x16000 frame (a huge resolution stated by the header)
set -euo pipefail
cd "$(dirname "$0")/../tests/data/video"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
ff -f lavfi -i mandelbrot=size=128x96:rate=1 -frames:v 1 flash.png
ff -f lavfi -i testsrc2=size=128x96:rate=16 -i flash.png \
  -filter_complex "[0:v][1:v]overlay=enable='between(n,20,22)'" -frames:v 48 -c:v libx264 \
  -pix_fmt yuv420p -crf 12 -bf 0 -g 48 -movflags +faststart -map_metadata -1 \
  -fflags +bitexact -flags:v +bitexact flash-16fps.mp4
ff -f lavfi -i sine=frequency=440:sample_rate=8000:duration=0.5 -c:a pcm_u8 -fflags +bitexact \
  audio-only.mka
ff -f lavfi -i color=c=gray:size=16x16:rate=4 -frames:v 2 -c:v rawvideo -pix_fmt bgr24 \
  -fflags +bitexact raw-16x16.avi
ls -l flash.png flash-16fps.mp4 audio-only.mka raw-16x16.avi

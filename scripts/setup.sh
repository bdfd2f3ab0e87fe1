#!/usr/bin/env bash
# Install the system packages vigil needs to build and test (Debian): libjpeg-turbo's
# TurboJPEG library and headers (linked statically), pkg-config to find them, lavapipe
# (Mesa's software Vulkan driver plus the loader) so the GPU tests run without a GPU, and
# FFmpeg's development libraries (video decoding, src/video/) with clang and libclang for
# ffmpeg-sys-next's bindgen.
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail
need=()
for p in libturbojpeg0-dev pkg-config mesa-vulkan-drivers libvulkan1 \
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev clang libclang-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

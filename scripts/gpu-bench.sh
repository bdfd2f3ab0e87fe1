#!/usr/bin/env bash
# GPU benchmark in one go, for a few minutes on a borrowed GPU machine that has no Rust
# toolchain, no network and perhaps no Vulkan loader. Runs a prebuilt `vigil gpu-bench`:
# adapter name, GPU-vs-oracle parity on the reference images, PDQ frames/s on distinct
# 1280x720 frames (kernels only by GPU timestamps, end to end, CPU for comparison), the phase
# split (pack / upload / kernels / readback, and each kernel), the host-to-device copy rate,
# and exact r = 31 Hamming search (10 M codes × 10,000 queries on a hardware GPU) checked
# against the CPU scan.
# Writes report.md, report.json and the run's console and diagnostics under $OUT.
#
# Usage, from the repository root:
#   scripts/gpu-bench.sh [vigil gpu-bench options: --frames N --batch N --reps N --copy-mib N ...]
# Environment:
#   OUT           output directory (default ./gpu-bench-out; created 0700)
#   VIGIL_BIN     the vigil binary (default target/release/vigil)
#   VULKAN_DEBS   directory of carried .deb files (default vendor/vulkan), used only when
#                 libvulkan.so.1 cannot be loaded here (or VIGIL_BENCH_FORCE_DEBS=1)
#   BENCH_TIMEOUT seconds before the benchmark is stopped (default 280)
#
# Prepare on the development machine (it has cargo and network):
#   cargo build --release                  # libjpeg-turbo is linked statically (.cargo/config.toml)
#   ldd target/release/vigil               # only linux-vdso, libgcc_s, libm, libc, ld-linux
#                                          # (built on Debian 12: needs glibc >= 2.35 there)
#   mkdir -p vendor/vulkan && (cd vendor/vulkan &&
#       apt-get download libvulkan1 libglvnd0 libglx0 libegl1)
#                                          # the Vulkan loader (~120 KB) and glvnd, which the
#                                          # NVIDIA driver's libGLX_nvidia needs (without it the
#                                          # H100 machine showed no adapter); vendor/ is ignored
#   scripts/gpu-bench.sh --frames 2 --reps 1   # lavapipe: a correctness run, not a GPU figure
# The binary is ~50 MB with line tables; carry is limited to 64 MiB and 8 paths. If the total is
# tight, `strip -o target/release/vigil-stripped target/release/vigil` (~9 MB) and pass
# VIGIL_BIN=target/release/vigil-stripped.
#
# On the GPU machine (device tool `run`): the working tree (this script, tests/data) travels by
# itself; carry the ignored build outputs:
#   carry:     ["target/release/vigil", "vendor"]
#   command:   scripts/gpu-bench.sh     # the tool sets $OUT, so the outputs come back as its files
#   timeout_s: 400                      # the run itself takes under a minute on a GPU (estimate)
# The NVIDIA Vulkan driver (libGLX_nvidia.so.0 and an ICD JSON) must be on that machine; when the
# library is there but no ICD JSON names it, this script writes one and points the loader at it.
# Exit code: vigil gpu-bench's (0 all comparisons equal, 1 a difference, 64 no adapter), 124 when
# BENCH_TIMEOUT stopped it, 3 when the binary cannot run here.

set -uo pipefail
umask 077

caller_dir=$PWD
abspath() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$caller_dir/$1" ;; esac; }
OUT=$(abspath "${OUT:-./gpu-bench-out}")
VIGIL_BIN=$(abspath "${VIGIL_BIN:-target/release/vigil}")
VULKAN_DEBS=$(abspath "${VULKAN_DEBS:-vendor/vulkan}")
BENCH_TIMEOUT=${BENCH_TIMEOUT:-280}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 3

mkdir -p "$OUT" && chmod 700 "$OUT" || { echo "gpu-bench: cannot create $OUT" >&2; exit 3; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigil-gpu-bench.XXXXXX") || exit 3
trap 'rm -rf "$tmp"' EXIT
diag="$OUT/diagnostics.txt"
: >"$diag"
note() { printf '%s\n' "$*" | tee -a "$diag"; }
# Everything below also goes to $OUT/console.log.
exec > >(tee "$OUT/console.log") 2>&1

note "== gpu-bench.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n) ($(uname -sr), $(nproc) cores)"
note "glibc: $(getconf GNU_LIBC_VERSION 2>/dev/null || echo unknown)"
if command -v nvidia-smi >/dev/null 2>&1; then
    note "nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.current,pcie.link.width.current --format=csv,noheader 2>&1 | head -4 | tr '\n' ';')"
else
    note "nvidia-smi: not found"
fi

# --- The binary ------------------------------------------------------------------------------
if [ ! -x "$VIGIL_BIN" ]; then
    note "gpu-bench: $VIGIL_BIN is missing or not executable (build it: cargo build --release; carry it)"
    exit 3
fi
if command -v ldd >/dev/null 2>&1; then
    ldd "$VIGIL_BIN" >"$OUT/ldd.txt" 2>&1
    if grep -q 'not found' "$OUT/ldd.txt"; then
        note "gpu-bench: missing shared libraries:"; grep 'not found' "$OUT/ldd.txt" | tee -a "$diag"
    fi
fi
if ! version=$("$VIGIL_BIN" --version 2>&1); then
    note "gpu-bench: $VIGIL_BIN does not run here: $version"
    note "(built against glibc $(getconf GNU_LIBC_VERSION 2>/dev/null) or newer is needed if the message names GLIBC_)"
    exit 3
fi
note "binary: $VIGIL_BIN ($version)"

# --- Vulkan loader ---------------------------------------------------------------------------
vulkan_loadable() {
    local d ld_dirs
    ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 ' && return 0
    IFS=: read -ra ld_dirs <<<"${LD_LIBRARY_PATH:-}"
    for d in "${ld_dirs[@]}" /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /lib/x86_64-linux-gnu; do
        [ -n "$d" ] && [ -e "$d/libvulkan.so.1" ] && return 0
    done
    return 1
}
extract_deb() { # deb dest
    if command -v dpkg-deb >/dev/null 2>&1; then
        dpkg-deb -x "$1" "$2"
    else # a .deb is an ar archive holding data.tar.{xz,zst,gz}; GNU tar detects which
        local member
        member=$(ar t "$1" | grep '^data\.tar') || return 1
        ar p "$1" "$member" >"$tmp/$member" && tar -xf "$tmp/$member" -C "$2"
    fi
}
if vulkan_loadable && [ "${VIGIL_BENCH_FORCE_DEBS:-0}" != 1 ]; then
    note "vulkan loader: found on this machine"
else
    debs=("$VULKAN_DEBS"/libvulkan1_*.deb)
    if [ ! -e "${debs[0]}" ]; then
        note "vulkan loader: libvulkan.so.1 not loadable and no $VULKAN_DEBS/libvulkan1_*.deb to extract;"
        note "  wgpu will only find GL adapters, if any (carry vendor/ from: apt-get download libvulkan1)"
    else
        root="$tmp/vulkan-root"
        mkdir -p "$root"
        for deb in "$VULKAN_DEBS"/*.deb; do
            extract_deb "$deb" "$root" && note "vulkan loader: extracted $(basename "$deb")" ||
                note "vulkan loader: could not extract $deb"
        done
        libdirs=$(find "$root" -name 'libvulkan.so.1*' -printf '%h\n' | sort -u | paste -sd:)
        if [ -n "$libdirs" ]; then
            export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            note "vulkan loader: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
        else
            note "vulkan loader: no libvulkan.so.1 inside the extracted packages"
        fi
    fi
fi

# --- NVIDIA ICD ------------------------------------------------------------------------------
nvidia_json=
for f in /etc/vulkan/icd.d/*.json /usr/share/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json \
    /usr/local/nvidia/share/vulkan/icd.d/*.json; do
    [ -e "$f" ] && grep -qi nvidia "$f" && nvidia_json=$f && break
done
nvidia_lib=$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia\.so\.0 / {print $NF; exit}')
if [ -z "$nvidia_lib" ]; then
    for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib64 /usr/lib; do
        [ -e "$d/libGLX_nvidia.so.0" ] && nvidia_lib="$d/libGLX_nvidia.so.0" && break
    done
fi
note "icd dirs: $(ls /etc/vulkan/icd.d /usr/share/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>&1 | tr "\n" " ")"
note "nvidia vulkan driver: library ${nvidia_lib:-none}, ICD JSON ${nvidia_json:-none}"
if [ -n "$nvidia_json" ] && [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] &&
    case $nvidia_json in /etc/* | /usr/share/* | /usr/local/share/*) false ;; *) true ;; esac; then
    # Outside the loader's search path (e.g. /usr/local/nvidia in containers): name it.
    export VK_DRIVER_FILES="$nvidia_json" VK_ICD_FILENAMES="$nvidia_json"
    note "nvidia vulkan driver: VK_DRIVER_FILES=$nvidia_json"
elif [ -n "$nvidia_lib" ] && [ -z "$nvidia_json" ] && [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
    cat >"$tmp/nvidia_icd.json" <<EOF
{ "file_format_version": "1.0.0",
  "ICD": { "library_path": "$nvidia_lib", "api_version": "1.3.0" } }
EOF
    export VK_DRIVER_FILES="$tmp/nvidia_icd.json" VK_ICD_FILENAMES="$tmp/nvidia_icd.json"
    note "nvidia vulkan driver: wrote $tmp/nvidia_icd.json (VK_DRIVER_FILES, VK_ICD_FILENAMES)"
elif [ -z "$nvidia_lib" ] && command -v nvidia-smi >/dev/null 2>&1; then
    note "nvidia vulkan driver: nvidia-smi works but libGLX_nvidia.so.0 is absent (a container"
    note "  without the 'graphics' driver capability?): wgpu cannot reach this GPU through Vulkan"
fi

# Mesa's loaders print a warning per instance without it.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
    mkdir -m 700 "$tmp/xdg" && export XDG_RUNTIME_DIR="$tmp/xdg"
fi

# --- Run -------------------------------------------------------------------------------------
note "== vigil info"
"$VIGIL_BIN" info 2>&1 | tee "$OUT/info.txt" | tee -a "$diag"
note "== vigil gpu-bench --out $OUT $*"
if command -v timeout >/dev/null 2>&1; then
    timeout --kill-after=10 "$BENCH_TIMEOUT" "$VIGIL_BIN" gpu-bench --out "$OUT" "$@"
else
    "$VIGIL_BIN" gpu-bench --out "$OUT" "$@"
fi
rc=$?
case $rc in
    0) note "== gpu-bench: done, every comparison equal (exit 0)" ;;
    1) note "== gpu-bench: done, but a comparison DIFFERED (exit 1): see report.md" ;;
    124 | 137) note "== gpu-bench: stopped after ${BENCH_TIMEOUT}s (exit $rc); pass a smaller --frames" ;;
    *) note "== gpu-bench: failed (exit $rc)" ;;
esac

# --- vigil scan on the GPU vs the CPU, and vigil check-gpu (issue 5) ---------------------------
# The demo tree scanned with --backend cpu and --backend gpu: first with the adapter not yet
# recorded by check-gpu (near matches re-hashed on the CPU oracle; recheck_changed must be 0),
# then check-gpu, then trusted. Records and matches must equal the CPU scan's as sets.
if [ "${GPU_SCAN:-1}" = 1 ]; then
    export VIGIL_STATE_DIR="$tmp/state"
    scan() { # backend out
        "$VIGIL_BIN" scan --quiet --dihedral --backend "$1" --list demo/known.txt \
            --list md5=demo/known-md5.txt --out "$tmp/$2" demo/images
        note "scan $2: exit $? ($(grep -o '"images_per_s": [0-9.]*' "$tmp/$2/summary.json"))"
        grep -A5 '"gpu": {' "$tmp/$2/summary.json" | tr -s ' \n' ' ' | tee -a "$diag"; echo | tee -a "$diag"
    }
    same() { # a b
        local f ok=1
        for f in hashes.jsonl errors.jsonl matches.jsonl; do
            cmp -s <(sort "$tmp/$1/$f") <(sort "$tmp/$2/$f") || { ok=0; note "scan: $1/$f DIFFERS from $2/$f"; }
        done
        [ $ok = 1 ] && note "scan: $1 equals $2 (hashes, errors, matches as sets)"
    }
    note "== vigil scan: cpu vs gpu (unverified, then after check-gpu)"
    scan cpu scan-cpu
    scan gpu scan-gpu-unverified
    same scan-gpu-unverified scan-cpu
    "$VIGIL_BIN" check-gpu 2>&1 | tee "$OUT/check-gpu.txt" | tee -a "$diag"
    scan gpu scan-gpu-verified
    same scan-gpu-verified scan-cpu
    cp "$tmp/scan-gpu-unverified/summary.json" "$OUT/scan-gpu-unverified-summary.json"
    cp "$tmp/scan-gpu-verified/summary.json" "$OUT/scan-gpu-verified-summary.json"
fi
note "outputs: $(cd "$OUT" && ls | tr '\n' ' ')"
exit $rc

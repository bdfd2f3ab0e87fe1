// Prelude of the pHash kernels (prepended to phash_luma.wgsl and phash_resize.wgsl by
// src/gpu/phash.rs). Integer-only: no float appears in any pHash kernel, so every GPU gives
// the CPU's bytes (src/phash/luma.rs, src/phash/lanczos.rs).
//
// One batch = several images of any sizes, workgroup y = image. `work` holds, per image, the
// L plane (one u32 per pixel), the intermediate 8-bit image of the first resize pass and the
// 32x32 result, at offsets the CPU chose (see `PhashImage` in src/gpu/phash.rs).

// One resize pass: `out_h` rows of `out_w` samples at `work[out_off..]`, read from an image of
// row stride `in_stride` at `work[in_off..]`. `axis` 0 = horizontal (output x picks the
// coefficients, input row = output row), 1 = vertical (output y picks them, input column =
// output column). `coef` is the first of 32 headers (xmin, count, weight index) in `coefs`.
struct Pass {
    axis: u32,
    in_off: u32,
    in_stride: u32,
    out_off: u32,
    out_w: u32,
    out_h: u32,
    coef: u32,
    pad: u32,
}

struct PhashImage {
    // First byte of the image's tightly packed pixels in `pixels`.
    px_byte: u32,
    width: u32,
    height: u32,
    // 1 when one byte per pixel (grey), 0 for RGB.
    grey: u32,
    // First element of the L plane in `work`.
    luma_off: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
    first: Pass,
    second: Pass,
}

@group(0) @binding(0) var<storage, read> images: array<PhashImage>;
// Raw bytes, little-endian in each word.
@group(0) @binding(1) var<storage, read> pixels: array<u32>;
// Fixed-point Lanczos coefficients (PRECISION_BITS 22), computed on the CPU.
@group(0) @binding(2) var<storage, read> coefs: array<i32>;
@group(0) @binding(3) var<storage, read_write> work: array<u32>;

const WG: u32 = 256u;

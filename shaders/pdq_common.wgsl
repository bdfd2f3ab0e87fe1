// Shared prelude of every PDQ kernel (prepended by src/gpu/pipelines.rs): the buffer layout,
// the per-image parameters and the exactness helpers of shared/docs/gpu-float.md.
//
// Exactness rules followed by every kernel (so that any conforming driver, fusing or not,
// gives the bits of src/pdq/oracle.rs):
// * every float product and every running sum passes through `opq()`, an opaque integer
//   identity, so it is rounded to f32 before the next operation and cannot be fused or
//   reassociated;
// * divisions by small integers use `div_small()` (integer-only, round-to-nearest-even);
// * constants (luma products, DCT matrix) come from the CPU;
// * sums run sequentially in the oracle's order, one thread per output; no tree reductions;
// * integer results stay integers (i32/u32).

// Mirrors `gpu::buffers::Globals` (checked by a unit test).
struct Globals {
    // A runtime 0 for `opq()` (must not be a constant: constants are folded).
    zero: u32,
    // Images in this dispatch sequence.
    num_images: u32,
    // Start of the T (16×64 per image) region in `work`.
    t_base: u32,
    // Start of the B (16×16 per image) region in `work`.
    b_base: u32,
}

// Mirrors `gpu::buffers::ImageParams` (checked by a unit test).
struct ImageParams {
    // First pixel of this image in `pixels`, `buf_a` and `buf_b`.
    offset: u32,
    width: u32,
    height: u32,
    // 1: one grey byte per pixel; 0: three bytes R, G, B per pixel.
    grey: u32,
    // Box window along rows (from the width) and along columns (from the height).
    win_rows: u32,
    win_cols: u32,
    // 1 for exactly 64×64 images, which upstream copies without blurring.
    skip_blur: u32,
    // First word of this image's bytes in `pixels`.
    src_word: u32,
}

@group(0) @binding(0) var<uniform> globals: Globals;
@group(0) @binding(1) var<storage, read> images: array<ImageParams>;
// [0, 768): 0.299f*v, 0.587f*v, 0.114f*v for v in 0..256; [768, 1792): the 16×64 DCT matrix.
@group(0) @binding(2) var<storage, read> consts: array<f32>;
// Per image 128 entries: 64 decimation row indices, then 64 column indices.
@group(0) @binding(3) var<storage, read> dec: array<u32>;
// The images' bytes, each image starting on a word boundary.
@group(0) @binding(4) var<storage, read> pixels: array<u32>;
@group(0) @binding(5) var<storage, read_write> buf_a: array<f32>;
@group(0) @binding(6) var<storage, read_write> buf_b: array<f32>;
// Per image 64×64 at img*4096; T at t_base + img*1024; B at b_base + img*256.
@group(0) @binding(7) var<storage, read_write> work: array<f32>;
@group(0) @binding(8) var<storage, read_write> quality_out: array<u32>;

const LUMA_TABLE: u32 = 0u;
const DCT_TABLE: u32 = 768u;

// Opaque identity: rounds `x` to f32 bits and hides it from fusion and reassociation.
fn opq(x: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(x) ^ globals.zero);
}

// Correctly rounded (round-to-nearest-even) x / f32(n) for 1 <= n <= 256, integer ops only.
fn div_small(x: f32, n: u32) -> f32 {
    let bits = bitcast<u32>(x);
    let sgn = bits & 0x80000000u;
    let e = (bits >> 23u) & 0xffu;
    if (e == 0u || e == 0xffu) {
        return x / f32(n);
    }
    let num = ((bits & 0x7fffffu) | 0x800000u) << 8u;
    let q = num / n;
    let r = num % n;
    let d = (32u - countLeadingZeros(q)) - 24u;
    var sig: u32;
    var up = false;
    if (d == 0u) {
        sig = q;
        up = 2u * r > n || (2u * r == n && (sig & 1u) == 1u);
    } else {
        sig = q >> d;
        let rest = q & ((1u << d) - 1u);
        let half = 1u << (d - 1u);
        up = rest > half || (rest == half && (r != 0u || (sig & 1u) == 1u));
    }
    var eo = i32(e) - 8 + i32(d);
    if (up) {
        sig = sig + 1u;
        if (sig == 0x1000000u) {
            sig = 0x800000u;
            eo = eo + 1;
        }
    }
    if (eo <= 0) {
        return x / f32(n);
    }
    return bitcast<f32>(sgn | (u32(eo) << 23u) | (sig & 0x7fffffu));
}

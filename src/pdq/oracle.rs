//! The scalar float32 PDQ reference: the oracle every other path is checked against.
//!
//! Each function follows `pdq-spec.md` §1.3–1.11 operation by operation, in the upstream C++
//! order (`pdq/cpp/hashing/pdqhashing.cpp`, `pdq/cpp/downscaling/downscaling.cpp`). It is written
//! for clarity and exactness, not speed: the default CPU path is [`super::fast`], which must
//! give bit-identical results. Rust never contracts `a * b + c` into a fused multiply-add, so
//! every float32 operation below rounds exactly as the x86-64 reference build does.

use super::dct_matrix::DCT_BITS;
use super::{Dct16, PdqDihedral, PdqHash, PdqOutput};
use crate::{ImageView, PixelLayout};

/// Images with fewer rows or columns than this hash to all zeros with quality 0 (§1.4).
pub const MIN_HASHABLE_DIM: usize = 5;

/// A 64×64 float32 buffer (the decimated image).
pub type Buf64 = [[f32; 64]; 64];

/// Luma coefficients as float32 (`LUMA_FROM_R_COEFF` …).
pub(crate) const LUMA_R: f32 = 0.299;
pub(crate) const LUMA_G: f32 = 0.587;
pub(crate) const LUMA_B: f32 = 0.114;

/// The DCT matrix as float32 values.
pub fn dct_matrix() -> [[f32; 64]; 16] {
    DCT_BITS.map(|row| row.map(f32::from_bits))
}

/// Float32 luma, row-major (§1.3): `((0.299f*R) + (0.587f*G)) + (0.114f*B)`; grey as is.
pub fn luma(view: &ImageView<'_>) -> Vec<f32> {
    let (w, h) = (view.width() as usize, view.height() as usize);
    let mut out = Vec::with_capacity(w * h);
    for y in 0..view.height() {
        let row = view.row(y);
        match view.layout() {
            PixelLayout::Rgb8 => {
                for px in row.chunks_exact(3) {
                    let (r, g, b) = (f32::from(px[0]), f32::from(px[1]), f32::from(px[2]));
                    out.push(LUMA_R * r + LUMA_G * g + LUMA_B * b);
                }
            }
            PixelLayout::Luma8 => out.extend(row.iter().map(|&v| f32::from(v))),
        }
    }
    out
}

/// Jarosz box window for a dimension of `old` samples decimated to 64 (§1.5).
pub const fn jarosz_window(old: usize) -> usize {
    old.div_ceil(2 * 64)
}

/// One-dimensional box filter with edge renormalisation and upstream's running-sum order
/// (`box1DFloat`): `n` samples `stride` apart, window `w`.
pub fn box1d(input: &[f32], output: &mut [f32], n: usize, stride: usize, w: usize) {
    let half = (w + 2) / 2;
    let phase1 = half - 1;
    let phase2 = w - half + 1;
    let phase3 = n.saturating_sub(w);
    let phase4 = half - 1;
    let (mut li, mut ri, mut oi) = (0, 0, 0);
    let mut sum = 0.0f32;
    let mut cnt = 0.0f32;
    for _ in 0..phase1 {
        sum += input[ri];
        cnt += 1.0;
        ri += stride;
    }
    for _ in 0..phase2 {
        sum += input[ri];
        cnt += 1.0;
        output[oi] = sum / cnt;
        ri += stride;
        oi += stride;
    }
    for _ in 0..phase3 {
        sum += input[ri];
        sum -= input[li];
        output[oi] = sum / cnt;
        li += stride;
        ri += stride;
        oi += stride;
    }
    for _ in 0..phase4 {
        sum -= input[li];
        cnt -= 1.0;
        output[oi] = sum / cnt;
        li += stride;
        oi += stride;
    }
}

/// Two Jarosz passes (rows then columns, twice), in place in `buf1`, `buf2` as scratch.
pub fn jarosz_filter(buf1: &mut [f32], buf2: &mut [f32], rows: usize, cols: usize) {
    let w_rows = jarosz_window(cols);
    let w_cols = jarosz_window(rows);
    for _ in 0..2 {
        for i in 0..rows {
            let r = i * cols..(i + 1) * cols;
            box1d(&buf1[r.clone()], &mut buf2[r], cols, 1, w_rows);
        }
        for j in 0..cols {
            box1d(&buf2[j..], &mut buf1[j..], rows, cols, w_cols);
        }
    }
}

/// Decimation index for output `i` of 64 from `n` samples (§1.6), computed in double.
pub fn decimation_index(i: usize, n: usize) -> usize {
    (((i as f64 + 0.5) * n as f64) / 64.0) as usize
}

/// Pick the 64×64 samples at the target centres (§1.6).
pub fn decimate(buf: &[f32], rows: usize, cols: usize) -> Box<Buf64> {
    let mut out = Box::new([[0.0f32; 64]; 64]);
    for (i, out_row) in out.iter_mut().enumerate() {
        let ini = decimation_index(i, rows);
        for (j, v) in out_row.iter_mut().enumerate() {
            *v = buf[ini * cols + decimation_index(j, cols)];
        }
    }
    out
}

/// The 64×64 buffer of a luma image: copied when 64×64, else blurred and decimated.
pub fn buffer64(mut luma: Vec<f32>, rows: usize, cols: usize) -> Box<Buf64> {
    if rows == 64 && cols == 64 {
        let mut out = Box::new([[0.0f32; 64]; 64]);
        for (i, row) in out.iter_mut().enumerate() {
            row.copy_from_slice(&luma[i * 64..(i + 1) * 64]);
        }
        return out;
    }
    let mut scratch = vec![0.0f32; rows * cols];
    jarosz_filter(&mut luma, &mut scratch, rows, cols);
    decimate(&luma, rows, cols)
}

/// Image-domain quality 0..=100 from vertical and horizontal gradients (§1.7).
#[expect(
    clippy::needless_range_loop,
    reason = "indices mirror the upstream C++ loops operation by operation"
)]
pub fn quality(a: &Buf64) -> u8 {
    let mut sum: i32 = 0;
    for i in 0..63 {
        for j in 0..64 {
            let d = ((a[i][j] - a[i + 1][j]) * 100.0) / 255.0;
            sum += (d as i32).abs();
        }
    }
    for row in a {
        for j in 0..63 {
            let d = ((row[j] - row[j + 1]) * 100.0) / 255.0;
            sum += (d as i32).abs();
        }
    }
    (sum / 90).min(100) as u8
}

/// `B = D·A·Dᵀ` (§1.8): `T = D·A` then `B = T·Dᵀ`, each sum a float32 accumulator from 0
/// adding `k = 0..63` in order.
pub fn dct16(a: &Buf64) -> Dct16 {
    let d = dct_matrix();
    let mut t = [[0.0f32; 64]; 16];
    for i in 0..16 {
        for j in 0..64 {
            let mut s = 0.0f32;
            for k in 0..64 {
                s += d[i][k] * a[k][j];
            }
            t[i][j] = s;
        }
    }
    let mut b = [[0.0f32; 16]; 16];
    for i in 0..16 {
        for j in 0..16 {
            let mut s = 0.0f32;
            for k in 0..64 {
                s += t[i][k] * d[j][k];
            }
            b[i][j] = s;
        }
    }
    b
}

/// The lower median (128th smallest of 256), as upstream's Torben median returns (§1.9).
pub fn lower_median(b: &Dct16) -> f32 {
    let mut v: Vec<f32> = b.iter().flatten().copied().collect();
    v.sort_by(f32::total_cmp);
    v[127]
}

/// Bit `i*16 + j` set iff `B[i][j] > median`, strictly (§1.9).
pub fn bits(b: &Dct16) -> PdqHash {
    let median = lower_median(b);
    let mut h = PdqHash::ZERO;
    for (i, row) in b.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            if v > median {
                h.set_bit(i * 16 + j);
            }
        }
    }
    h
}

/// The 8 dihedral DCTs from one (§1.11), in the order `orig, rot90, rot180, rot270, flipx,
/// flipy, flipplus1, flipminus1`. Only signs and positions change, so nothing is rounded.
pub fn dihedral_dcts(a: &Dct16) -> [Dct16; 8] {
    // s(x) = +1 when the 0-based index is odd (even frequency), else -1.
    let s = |x: usize| if x % 2 == 1 { 1.0f32 } else { -1.0 };
    let p = |i: usize, j: usize| if (i + j) % 2 == 0 { 1.0f32 } else { -1.0 };
    let mut out = [[[0.0f32; 16]; 16]; 8];
    for i in 0..16 {
        for j in 0..16 {
            let v = a[i][j];
            out[0][i][j] = v;
            out[1][j][i] = s(j) * v;
            out[2][i][j] = p(i, j) * v;
            out[3][j][i] = s(i) * v;
            out[4][i][j] = s(i) * v;
            out[5][i][j] = s(j) * v;
            out[6][j][i] = v;
            out[7][j][i] = p(i, j) * v;
        }
    }
    out
}

fn too_small(view: &ImageView<'_>) -> bool {
    (view.height() as usize) < MIN_HASHABLE_DIM || (view.width() as usize) < MIN_HASHABLE_DIM
}

/// The 64×64 buffer of an image (luma, blur, decimate).
pub fn image_buffer64(view: &ImageView<'_>) -> Box<Buf64> {
    buffer64(luma(view), view.height() as usize, view.width() as usize)
}

/// PDQ hash and quality of an image, by the reference path.
pub fn hash(view: &ImageView<'_>) -> PdqOutput {
    if too_small(view) {
        return PdqOutput {
            hash: PdqHash::ZERO,
            quality: 0,
        };
    }
    let a = image_buffer64(view);
    PdqOutput {
        hash: bits(&dct16(&a)),
        quality: quality(&a),
    }
}

/// The 8 dihedral PDQ hashes of an image from one DCT, by the reference path.
pub fn hash_dihedral(view: &ImageView<'_>) -> PdqDihedral {
    if too_small(view) {
        return PdqDihedral {
            hashes: [PdqHash::ZERO; 8],
            quality: 0,
        };
    }
    let a = image_buffer64(view);
    let dcts = dihedral_dcts(&dct16(&a));
    PdqDihedral {
        hashes: dcts.map(|d| bits(&d)),
        quality: quality(&a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_matrix_matches_formula() {
        let d = dct_matrix();
        let scale = (2.0f64 / 64.0).sqrt() as f32;
        for (i, row) in d.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let x = (f64::from(scale)
                    * ((std::f64::consts::PI / 2.0 / 64.0) * (i + 1) as f64 * (2 * j + 1) as f64)
                        .cos()) as f32;
                assert_eq!(x.to_bits(), v.to_bits(), "D[{i}][{j}]");
            }
        }
    }

    #[test]
    fn window_sizes() {
        assert_eq!(jarosz_window(1600), 13);
        assert_eq!(jarosz_window(1004), 8);
        assert_eq!(jarosz_window(128), 1);
        assert_eq!(jarosz_window(129), 2);
        assert_eq!(jarosz_window(513), 5);
        assert_eq!(jarosz_window(1025), 9);
    }

    #[test]
    fn box_windows_are_edge_renormalised_means() {
        let x: Vec<f32> = (0..10).map(|v| v as f32).collect();
        let mut o = vec![0.0; 10];
        box1d(&x, &mut o, 10, 1, 2);
        // w = 2 averages [i, i+1].
        assert_eq!(o[0], 0.5);
        assert_eq!(o[9], 9.0);
        box1d(&x, &mut o, 10, 1, 3);
        assert_eq!(o[0], 0.5);
        assert_eq!(o[5], 5.0);
    }
}

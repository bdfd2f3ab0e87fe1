//! Pillow's `Image.resize(size, Image.Resampling.LANCZOS)` for 8-bit single-band (`L`) images,
//! reproduced operation for operation from `libImaging/Resample.c` (`ImagingResampleInner`,
//! `precompute_coeffs`, `normalize_coeffs_8bpc`, `ImagingResample{Horizontal,Vertical}_8bpc`).
//!
//! Coefficients are computed in `f64` exactly as Pillow does, then turned into 22-bit fixed
//! point; the two passes (horizontal first) accumulate in 32-bit integers and round to `u8`.

use std::f64::consts::PI;

/// Fixed-point precision of the 8-bit resampler (`PRECISION_BITS = 32 - 8 - 2`).
pub(crate) const PRECISION_BITS: u32 = 22;

/// The rounding bias every output sample's accumulator starts from (`1 << (PRECISION_BITS - 1)`).
pub(crate) const BIAS: i32 = 1 << (PRECISION_BITS - 1);

/// Support of the Lanczos filter (Pillow's `lanczos` filter struct: `{lanczos_filter, 3.0}`).
const LANCZOS_SUPPORT: f64 = 3.0;

/// Pillow's `sinc_filter`.
fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    let x = x * PI;
    x.sin() / x
}

/// Pillow's `lanczos_filter`: `sinc(x) * sinc(x / 3)` on `[-3, 3)`, 0 elsewhere.
pub fn lanczos3(x: f64) -> f64 {
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// Fixed-point resampling weights along one axis: for each output sample, the first input
/// index and the weights of the consecutive inputs it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coeffs {
    /// `(xmin, count)` per output sample (Pillow's `bounds`).
    pub bounds: Vec<(usize, usize)>,
    /// Weights per output sample (`count` each), scaled by `1 << 22` and rounded away from 0.
    pub weights: Vec<Vec<i32>>,
}

impl Coeffs {
    /// Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`, for the whole input
    /// range (`box = (0, in_size)`) resampled to `out_size` samples with Lanczos-3.
    ///
    /// # Panics
    /// If `in_size` or `out_size` is 0.
    pub fn lanczos(in_size: u32, out_size: u32) -> Self {
        assert!(
            in_size > 0 && out_size > 0,
            "empty resample {in_size} -> {out_size}"
        );
        // Pillow receives the box as C floats: `(double)(in1 - in0)` with in0 = 0.0f.
        let in1 = in_size as f32;
        let scale = f64::from(in1 - 0.0f32) / f64::from(out_size);
        let filterscale = scale.max(1.0);
        let support = LANCZOS_SUPPORT * filterscale;
        let ss = 1.0 / filterscale;
        let mut bounds = Vec::with_capacity(out_size as usize);
        let mut weights = Vec::with_capacity(out_size as usize);
        for xx in 0..out_size {
            let center = 0.0 + (f64::from(xx) + 0.5) * scale;
            // C `(int)` truncates toward zero; the clamps below make the sign irrelevant.
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(i64::from(in_size)) - xmin;
            let xmax = xmax.max(0);
            let mut k: Vec<f64> = (0..xmax)
                .map(|x| lanczos3(((x + xmin) as f64 - center + 0.5) * ss))
                .collect();
            let ww: f64 = k.iter().fold(0.0, |acc, &w| acc + w);
            if ww != 0.0 {
                for w in &mut k {
                    *w /= ww;
                }
            }
            let scale_fp = f64::from(1u32 << PRECISION_BITS);
            let fixed: Vec<i32> = k
                .iter()
                .map(|&w| {
                    if w < 0.0 {
                        (-0.5 + w * scale_fp) as i32
                    } else {
                        (0.5 + w * scale_fp) as i32
                    }
                })
                .collect();
            // Every partial sum of `(1 << 21) + Σ pixel * weight` lies within
            // [-255 * Σneg, (1 << 21) + 255 * Σpos]; Pillow's `int` accumulator never
            // overflows while that interval fits in an i32 (Lanczos-3 weights sum to about
            // 1.2 in absolute value, far from the 2^31 / 255 / 2^22 ≈ 2.0 limit).
            let pos: i64 = fixed.iter().map(|&w| i64::from(w.max(0))).sum();
            let neg: i64 = fixed.iter().map(|&w| i64::from(w.min(0))).sum();
            assert!(
                (1i64 << (PRECISION_BITS - 1)) + 255 * pos <= i64::from(i32::MAX)
                    && 255 * neg >= i64::from(i32::MIN),
                "resample weights could overflow a 32-bit accumulator"
            );
            bounds.push((xmin as usize, xmax as usize));
            weights.push(fixed);
        }
        Self { bounds, weights }
    }
}

/// Pillow's `clip8`: the accumulator back to a byte.
#[inline]
pub(crate) fn clip8(acc: i32) -> u8 {
    if acc >= (1 << PRECISION_BITS << 8) {
        255
    } else if acc <= 0 {
        0
    } else {
        (acc >> PRECISION_BITS) as u8
    }
}

/// One output sample: `clip8((1 << 21) + Σ src[i] * w[i])`, where `src` yields the inputs.
#[inline]
fn dot(src: impl Iterator<Item = u8>, weights: &[i32]) -> u8 {
    let acc = src.zip(weights).fold(BIAS, |acc, (p, &w)| {
        // Cannot overflow: bounded when the weights were built (see `Coeffs::lanczos`).
        acc + i32::from(p) * w
    });
    clip8(acc)
}

/// Resize a tightly packed 8-bit grey image (`width * height` bytes) to `out_w × out_h`
/// exactly as Pillow's `Image.resize((out_w, out_h), Image.Resampling.LANCZOS)` does for
/// mode `L`.
///
/// This is the reference (oracle) implementation: a line-by-line transcription of Pillow's
/// loops, kept simple and slow so that the fast path can be checked against it bit for bit.
///
/// Two separable passes, each rounded to 8 bits; horizontal first except when the height
/// shrinks much more than the width (see below). A pass is skipped when its dimension is
/// unchanged; when neither changes, the result is a copy.
///
/// # Panics
/// If `src.len() != width * height` or any dimension is 0.
pub fn resize_lanczos_oracle(
    src: &[u8],
    width: u32,
    height: u32,
    out_w: u32,
    out_h: u32,
) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    assert_eq!(src.len(), w * h, "buffer is not {width}x{height}");
    assert!(
        width > 0 && height > 0 && out_w > 0 && out_h > 0,
        "empty resize {width}x{height} -> {out_w}x{out_h}"
    );
    let need_horizontal = out_w != width;
    let need_vertical = out_h != height;
    let horiz = Coeffs::lanczos(width, out_w);
    let vert = Coeffs::lanczos(height, out_h);
    let (ow, oh) = (out_w as usize, out_h as usize);

    if vertical_first(width, height, out_w, out_h) {
        let tmp = vertical_pass(src, w, &vert, oh);
        return horizontal_pass(&tmp, w, &horiz, ow, 0, oh);
    }
    match (need_horizontal, need_vertical) {
        (false, false) => src.to_vec(),
        (true, false) => horizontal_pass(src, w, &horiz, ow, 0, h),
        (false, true) => vertical_pass(src, w, &vert, oh),
        (true, true) => {
            // Horizontal pass over only the source rows the vertical pass reads, then the
            // vertical pass with its bounds shifted by the first such row (same result as
            // over all rows; kept for fidelity to `ImagingResampleInner`).
            let first = vert.bounds[0].0;
            let (last_min, last_n) = vert.bounds[vert.bounds.len() - 1];
            let tmp = horizontal_pass(src, w, &horiz, ow, first, last_min + last_n);
            let mut shifted = vert;
            for b in &mut shifted.bounds {
                b.0 -= first;
            }
            vertical_pass(&tmp, ow, &shifted, oh)
        }
    }
}

/// Whether [`resize_lanczos_oracle`] (and so every resize here) runs the vertical pass first for this resize (both passes
/// needed, and the height shrinks by more than twice as many pixels as the width does).
///
/// Pillow 13 (python-pillow/Pillow#9549); measured on 1,600 random size pairs:
/// `ysize < in_ysize && in_ysize - ysize > 2 * (in_xsize - xsize)`. The GPU resize
/// (`src/gpu/phash.rs`) plans its passes with this same function.
pub fn vertical_first(width: u32, height: u32, out_w: u32, out_h: u32) -> bool {
    out_w != width
        && out_h != height
        && out_h < height
        && i64::from(height) - i64::from(out_h) > 2 * (i64::from(width) - i64::from(out_w))
}

/// `ImagingResampleHorizontal_8bpc` over source rows `first..last` of a `w`-wide image.
fn horizontal_pass(
    src: &[u8],
    w: usize,
    coeffs: &Coeffs,
    out_w: usize,
    first: usize,
    last: usize,
) -> Vec<u8> {
    let mut out = vec![0u8; out_w * (last - first)];
    for (yy, out_row) in out.chunks_exact_mut(out_w).enumerate() {
        let in_row = &src[(yy + first) * w..][..w];
        for (xx, o) in out_row.iter_mut().enumerate() {
            let (xmin, n) = coeffs.bounds[xx];
            *o = dot(in_row[xmin..xmin + n].iter().copied(), &coeffs.weights[xx]);
        }
    }
    out
}

/// `ImagingResampleVertical_8bpc` of a `w`-wide image to `out_h` rows.
fn vertical_pass(src: &[u8], w: usize, coeffs: &Coeffs, out_h: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * out_h];
    for (yy, out_row) in out.chunks_exact_mut(w).enumerate() {
        let (ymin, n) = coeffs.bounds[yy];
        let k = &coeffs.weights[yy];
        for (xx, o) in out_row.iter_mut().enumerate() {
            *o = dot((ymin..ymin + n).map(|y| src[y * w + xx]), k);
        }
    }
    out
}

/// The same result as [`resize_lanczos_oracle`], by the fast path at the process's SIMD level
/// ([`crate::simd::level`]).
///
/// # Panics
/// If `src.len() != width * height` or any dimension is 0.
pub fn resize_lanczos(src: &[u8], width: u32, height: u32, out_w: u32, out_h: u32) -> Vec<u8> {
    resize_lanczos_at(src, width, height, out_w, out_h, crate::simd::level())
}

/// [`resize_lanczos`] at a given SIMD level (capped at what the CPU has), for tests and
/// benchmarks that compare the levels with [`resize_lanczos_oracle`].
///
/// # Panics
/// If `src.len() != width * height` or any dimension is 0.
pub fn resize_lanczos_at(
    src: &[u8],
    width: u32,
    height: u32,
    out_w: u32,
    out_h: u32,
    level: crate::simd::Level,
) -> Vec<u8> {
    assert_eq!(
        src.len(),
        width as usize * height as usize,
        "buffer is not {width}x{height}"
    );
    super::resample::resize_packed(src, width, height, out_w, out_h, level)
}

/// [`resize_lanczos`] to the 32×32 that imagehash's `phash()` uses.
pub fn resize_lanczos_32(src: &[u8], width: u32, height: u32) -> [u8; 1024] {
    let v = resize_lanczos(src, width, height, 32, 32);
    let mut out = [0u8; 1024];
    out.copy_from_slice(&v);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_shape() {
        assert_eq!(lanczos3(0.0), 1.0);
        assert_eq!(lanczos3(3.0), 0.0);
        assert_eq!(lanczos3(-3.5), 0.0);
        assert!(lanczos3(-3.0).abs() < 1e-15);
        assert!(lanczos3(1.5) < 0.0);
    }

    #[test]
    fn weights_sum_near_one() {
        for (i, o) in [
            (1, 32),
            (5, 32),
            (31, 32),
            (33, 32),
            (100, 32),
            (1600, 32),
            (64, 7),
        ] {
            let c = Coeffs::lanczos(i, o);
            for w in &c.weights {
                let s: i32 = w.iter().sum();
                assert!((s - (1 << 22)).abs() <= w.len() as i32, "{i}->{o}: {s}");
            }
            for &(min, n) in &c.bounds {
                assert!(min + n <= i as usize);
            }
        }
    }

    #[test]
    fn identity_is_copy() {
        let src: Vec<u8> = (0..=255).cycle().take(32 * 32).collect();
        assert_eq!(resize_lanczos_32(&src, 32, 32).to_vec(), src);
    }

    #[test]
    fn flat_stays_flat() {
        for (w, h) in [(1, 1), (7, 5), (100, 33), (32, 300)] {
            for v in [0u8, 1, 128, 254, 255] {
                let src = vec![v; (w * h) as usize];
                assert!(
                    resize_lanczos_32(&src, w, h).iter().all(|&p| p == v),
                    "{w}x{h} {v}"
                );
            }
        }
    }
}

//! Pillow's `convert('L')` from RGB8: ITU-R 601-2 luma in 16-bit fixed point.

use crate::{ImageView, PixelLayout};

/// Pillow's RGB → L weights (`L24` in `libImaging/Convert.c`): 0.299, 0.587 and 0.114 scaled
/// by 65536 and rounded so that they sum to exactly 65536.
const WR: u32 = 19595;
const WG: u32 = 38470;
const WB: u32 = 7471;

/// One RGB pixel to Pillow's `L`: `(R*19595 + G*38470 + B*7471 + 0x8000) >> 16`.
#[inline]
pub fn rgb_to_l(r: u8, g: u8, b: u8) -> u8 {
    let sum = u32::from(r) * WR + u32::from(g) * WG + u32::from(b) * WB + 0x8000;
    // The weights sum to 65536, so the shifted value is at most 255.
    (sum >> 16) as u8
}

/// The image as Pillow's mode `L`, tightly packed (`width * height` bytes, row-major).
///
/// RGB8 views go through [`rgb_to_l`] (what `Image.convert('L')` does for an `RGB` image);
/// Luma8 views are copied as they are.
pub fn pillow_l(view: &ImageView<'_>) -> Vec<u8> {
    let (w, h) = (view.width() as usize, view.height() as usize);
    let mut out = vec![0u8; w * h];
    if w == 0 {
        return out;
    }
    for (y, dst) in out.chunks_exact_mut(w).enumerate() {
        let row = view.row(y as u32);
        match view.layout() {
            PixelLayout::Luma8 => dst.copy_from_slice(&row[..w]),
            PixelLayout::Rgb8 => rgb_row_to_l(&row[..3 * w], dst),
        }
    }
    out
}

/// [`rgb_to_l`] over a row: AVX2 (32 pixels a step) or AVX-512BW (64) where the CPU has them
/// (`vpmaddwd` on the same integer arithmetic, so the same bytes), else the portable loop.
#[inline]
fn rgb_row_to_l(src: &[u8], dst: &mut [u8]) {
    rgb_row_to_l_at(src, dst, crate::simd::level());
}

/// [`rgb_row_to_l`] at a given SIMD level (capped at what the CPU has): `src` is `3 *
/// dst.len()` bytes of RGB.
#[inline]
pub(crate) fn rgb_row_to_l_at(src: &[u8], dst: &mut [u8], level: crate::simd::Level) {
    match level.min(crate::simd::detected()) {
        #[cfg(target_arch = "x86_64")]
        crate::simd::Level::Avx512 => {
            // SAFETY: `simd::detected()` reports Avx512 only after avx512f/bw/vl and avx2 were
            // detected.
            unsafe { x86::rgb_row_to_l_avx512(src, dst) }
        }
        #[cfg(target_arch = "x86_64")]
        crate::simd::Level::Avx2 => {
            // SAFETY: `simd::detected()` reports Avx2 only after avx2 was detected.
            unsafe { x86::rgb_row_to_l_avx2(src, dst) }
        }
        _ => rgb_row_to_l_portable(src, dst),
    }
}

/// The portable row loop.
fn rgb_row_to_l_portable(src: &[u8], dst: &mut [u8]) {
    for (o, p) in dst.iter_mut().zip(src.chunks_exact(3)) {
        *o = rgb_to_l(p[0], p[1], p[2]);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// The weights as `vpmaddwd` pairs of `i16`. `WG` = 38470 does not fit an `i16`, so it is
    /// split as 32767 + 5703: one `vpmaddwd` takes `(R, G)` against `(WR, 32767)`, another
    /// `(G, B)` against `(5703, WB)`. All products and pair sums are exact (at most
    /// 255 × 65535 < 2^31), and `R*WR + G*32767 + G*5703 + B*WB` is exactly
    /// `R*WR + G*WG + B*WB`, so with `+ 0x8000` and `>> 16` the bytes are [`super::rgb_to_l`]'s.
    const W_RG: i32 = ((32767 << 16) | super::WR) as i32;
    const W_GB: i32 = ((super::WB << 16) | (super::WG - 32767)) as i32;

    /// Per 128-bit lane (4 pixels = 12 bytes at the lane's start): `(R, 0, G, 0)` or
    /// `(G, 0, B, 0)` of each pixel, i.e. `u16` pairs (-1 = zero byte).
    const fn pair_mask(first: usize) -> [i8; 16] {
        let mut m = [-1i8; 16];
        let mut i = 0;
        while i < 4 {
            m[4 * i] = (3 * i + first) as i8;
            m[4 * i + 2] = (3 * i + first + 1) as i8;
            i += 1;
        }
        m
    }
    const RG: [i8; 16] = pair_mask(0);
    const GB: [i8; 16] = pair_mask(1);

    /// The two pair masks, each in a 128-bit register.
    #[target_feature(enable = "avx2")]
    fn masks() -> (__m128i, __m128i) {
        // SAFETY: `RG` and `GB` are 16 readable bytes each (unaligned loads).
        unsafe {
            (
                _mm_loadu_si128(RG.as_ptr().cast()),
                _mm_loadu_si128(GB.as_ptr().cast()),
            )
        }
    }

    /// 8 pixels: `v` holds the 24 RGB bytes in its low 24 bytes. Returns 8 `i32` luma values.
    #[target_feature(enable = "avx2")]
    fn luma8(v: __m256i) -> __m256i {
        // Lane 0 gets bytes 0..12 (pixels 0-3), lane 1 bytes 12..24 (pixels 4-7).
        let v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 1, 2, 3, 3, 4, 5, 6));
        let (rg, gb) = masks();
        let rg = _mm256_shuffle_epi8(v, _mm256_broadcastsi128_si256(rg));
        let gb = _mm256_shuffle_epi8(v, _mm256_broadcastsi128_si256(gb));
        let s = _mm256_add_epi32(
            _mm256_madd_epi16(rg, _mm256_set1_epi32(W_RG)),
            _mm256_madd_epi16(gb, _mm256_set1_epi32(W_GB)),
        );
        _mm256_srli_epi32::<16>(_mm256_add_epi32(s, _mm256_set1_epi32(0x8000)))
    }

    /// The row, 32 pixels per step, the tail by the portable loop.
    #[target_feature(enable = "avx2")]
    pub(super) fn rgb_row_to_l_avx2(src: &[u8], dst: &mut [u8]) {
        let n = dst.len().min(src.len() / 3);
        let mut x = 0;
        // A step reads 32 bytes at 3x, 3x + 24, 3x + 48 and 3x + 72: 104 bytes from 3x.
        while x + 32 <= n && 3 * x + 104 <= src.len() {
            let s = &src[3 * x..3 * x + 104];
            // SAFETY: each load reads 32 bytes at offset ≤ 72 of the 104-byte `s`.
            let l = |k: usize| luma8(unsafe { _mm256_loadu_si256(s[24 * k..].as_ptr().cast()) });
            let (a, b) = (
                _mm256_packus_epi32(l(0), l(1)),
                _mm256_packus_epi32(l(2), l(3)),
            );
            // Values are ≤ 255, so the saturating packs are exact; dword k of lane j then holds
            // pixels 8k + 4j..8k + 4j + 4: output dword 2k + j takes dword 4j + k.
            let bytes = _mm256_permutevar8x32_epi32(
                _mm256_packus_epi16(a, b),
                _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7),
            );
            let d = &mut dst[x..x + 32];
            // SAFETY: `d` is 32 writable bytes (unaligned store).
            unsafe { _mm256_storeu_si256(d.as_mut_ptr().cast(), bytes) };
            x += 32;
        }
        super::rgb_row_to_l_portable(&src[3 * x..], &mut dst[x..]);
    }

    /// 16 pixels: `v` holds the 48 RGB bytes in its low 48 bytes. Returns 16 `i32` luma values.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    fn luma16(v: __m512i) -> __m512i {
        // Lane j gets bytes 12j..12j + 12 (pixels 4j..4j + 4).
        let idx: __m512i = bytemuck::cast(crate::simd::RGB16_TO_LANES);
        let v = _mm512_permutexvar_epi32(idx, v);
        let (rg, gb) = masks();
        let rg = _mm512_shuffle_epi8(v, _mm512_broadcast_i32x4(rg));
        let gb = _mm512_shuffle_epi8(v, _mm512_broadcast_i32x4(gb));
        let s = _mm512_add_epi32(
            _mm512_madd_epi16(rg, _mm512_set1_epi32(W_RG)),
            _mm512_madd_epi16(gb, _mm512_set1_epi32(W_GB)),
        );
        _mm512_srli_epi32::<16>(_mm512_add_epi32(s, _mm512_set1_epi32(0x8000)))
    }

    /// The row, 64 pixels per step, then [`rgb_row_to_l_avx2`] for the rest.
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
    pub(super) fn rgb_row_to_l_avx512(src: &[u8], dst: &mut [u8]) {
        let n = dst.len().min(src.len() / 3);
        let mut x = 0;
        // A step reads 64 bytes at 3x + 48k for k < 4: 208 bytes from 3x.
        while x + 64 <= n && 3 * x + 208 <= src.len() {
            let s = &src[3 * x..3 * x + 208];
            // SAFETY: each load reads 64 bytes at offset ≤ 144 of the 208-byte `s`.
            let l = |k: usize| luma16(unsafe { _mm512_loadu_si512(s[48 * k..].as_ptr().cast()) });
            let (a, b) = (
                _mm512_packus_epi32(l(0), l(1)),
                _mm512_packus_epi32(l(2), l(3)),
            );
            // Values are ≤ 255, so the packs are exact; dword 4j + k (lane j) then holds pixels
            // 16k + 4j..16k + 4j + 4: output dword 4k + j takes dword 4j + k.
            let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
            let bytes = _mm512_permutexvar_epi32(idx, _mm512_packus_epi16(a, b));
            let d = &mut dst[x..x + 64];
            // SAFETY: `d` is 64 writable bytes (unaligned store).
            unsafe { _mm512_storeu_si512(d.as_mut_ptr().cast(), bytes) };
            x += 64;
        }
        rgb_row_to_l_avx2(&src[3 * x..], &mut dst[x..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one() {
        assert_eq!(WR + WG + WB, 1 << 16);
    }

    #[test]
    fn greys_are_fixed_points() {
        for v in 0..=255u8 {
            assert_eq!(rgb_to_l(v, v, v), v);
        }
    }

    #[test]
    fn rows_equal_the_per_pixel_formula() {
        // Widths around the 16-pixel blocks, every byte value in every channel position.
        for w in [
            1usize, 15, 16, 17, 31, 32, 33, 34, 35, 63, 64, 65, 69, 70, 100, 1000,
        ] {
            let mut x = (w as u32).wrapping_mul(2_654_435_761) | 1;
            let src: Vec<u8> = (0..w * 3)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x >> 24) as u8
                })
                .collect();
            for level in crate::simd::available() {
                let mut dst = vec![0u8; w];
                rgb_row_to_l_at(&src, &mut dst, level);
                for (i, &o) in dst.iter().enumerate() {
                    assert_eq!(
                        o,
                        rgb_to_l(src[3 * i], src[3 * i + 1], src[3 * i + 2]),
                        "w {w} i {i} {level:?}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        /// Every level equals the per-pixel formula on random rows, with `src` longer than
        /// needed (a view's stride padding) or exact.
        #[test]
        fn rows_at_every_level(
            src in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1200),
            extra in 0usize..7,
        ) {
            let w = src.len().saturating_sub(extra) / 3;
            let want: Vec<u8> = src.chunks_exact(3).take(w).map(|p| rgb_to_l(p[0], p[1], p[2])).collect();
            for level in crate::simd::available() {
                let mut dst = vec![0u8; w];
                rgb_row_to_l_at(&src, &mut dst, level);
                proptest::prop_assert_eq!(&dst, &want, "{:?}", level);
            }
        }
    }

    #[test]
    fn primaries() {
        // (255*19595 + 0x8000) >> 16 = 76, etc. (Pillow gives 76, 150, 29.)
        assert_eq!(rgb_to_l(255, 0, 0), 76);
        assert_eq!(rgb_to_l(0, 255, 0), 150);
        assert_eq!(rgb_to_l(0, 0, 255), 29);
    }

    #[test]
    fn honours_stride() {
        let data = [10, 20, 30, 99, 40, 50, 60, 99];
        let view = ImageView::rgb8(&data[..7], 1, 2, 4).unwrap();
        assert_eq!(
            pillow_l(&view),
            vec![rgb_to_l(10, 20, 30), rgb_to_l(40, 50, 60)]
        );
        let view = ImageView::luma8(&data, 3, 2, 4).unwrap();
        assert_eq!(pillow_l(&view), vec![10, 20, 30, 40, 50, 60]);
    }
}

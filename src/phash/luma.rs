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

/// [`rgb_to_l`] over a row: AVX2 16 pixels at a time where the CPU has it (the same integer
/// arithmetic, so the same bytes), else the portable loop.
#[inline]
fn rgb_row_to_l(src: &[u8], dst: &mut [u8]) {
    rgb_row_to_l_at(src, dst, crate::simd::level());
}

/// [`rgb_row_to_l`] at a given SIMD level (capped at what the CPU has): `src` is `3 *
/// dst.len()` bytes of RGB.
#[inline]
pub(crate) fn rgb_row_to_l_at(src: &[u8], dst: &mut [u8], level: crate::simd::Level) {
    #[cfg(target_arch = "x86_64")]
    if level >= crate::simd::Level::Avx2 && crate::simd::detected() >= crate::simd::Level::Avx2 {
        // SAFETY: `simd::detected()` reports Avx2 or more only after AVX2 (and so the SSSE3
        // it implies) was detected.
        unsafe { x86::rgb_row_to_l_avx2(src, dst) };
        return;
    }
    let _ = level;
    rgb_row_to_l_portable(src, dst);
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

    /// Byte shuffles gathering channel `c` (0 R, 1 G, 2 B) of 16 interleaved pixels from the
    /// three 16-byte loads (-1 = zero).
    const fn masks(c: usize) -> [[i8; 16]; 3] {
        let mut m = [[-1i8; 16]; 3];
        let mut i = 0;
        while i < 16 {
            let byte = 3 * i + c;
            m[byte / 16][i] = (byte % 16) as i8;
            i += 1;
        }
        m
    }
    const MASKS: [[[i8; 16]; 3]; 3] = [masks(0), masks(1), masks(2)];

    /// 16 pixels: `(R*WR + G*WG + B*WB + 0x8000) >> 16` in 32-bit lanes, exactly as
    /// [`super::rgb_to_l`].
    #[target_feature(enable = "avx2")]
    unsafe fn block(src: &[u8; 48], dst: &mut [u8; 16]) {
        // SAFETY: `src` holds 48 readable bytes and `dst` 16 writable ones; the loads and the
        // store are unaligned variants; AVX2 is enabled by the caller's check.
        unsafe {
            let p = src.as_ptr();
            let v = [
                _mm_loadu_si128(p.cast()),
                _mm_loadu_si128(p.add(16).cast()),
                _mm_loadu_si128(p.add(32).cast()),
            ];
            let chan = |c: usize| {
                let m = |k: usize| _mm_loadu_si128(MASKS[c][k].as_ptr().cast());
                _mm_or_si128(
                    _mm_or_si128(_mm_shuffle_epi8(v[0], m(0)), _mm_shuffle_epi8(v[1], m(1))),
                    _mm_shuffle_epi8(v[2], m(2)),
                )
            };
            let (r, g, b) = (chan(0), chan(1), chan(2));
            let half = |x: __m128i, hi: bool| {
                let x = if hi { _mm_srli_si128::<8>(x) } else { x };
                _mm256_cvtepu8_epi32(x)
            };
            let (wr, wg, wb) = (
                _mm256_set1_epi32(super::WR as i32),
                _mm256_set1_epi32(super::WG as i32),
                _mm256_set1_epi32(super::WB as i32),
            );
            let round = _mm256_set1_epi32(0x8000);
            let lum = |hi: bool| {
                let s = _mm256_add_epi32(
                    _mm256_add_epi32(
                        _mm256_mullo_epi32(half(r, hi), wr),
                        _mm256_mullo_epi32(half(g, hi), wg),
                    ),
                    _mm256_add_epi32(_mm256_mullo_epi32(half(b, hi), wb), round),
                );
                _mm256_srli_epi32::<16>(s)
            };
            let (lo, hi) = (lum(false), lum(true));
            // 16 × u32 (each ≤ 255) → u16 → u8; packs work per 128-bit lane, so fix the order.
            let w = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi32(lo, hi));
            let bytes =
                _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256::<1>(w));
            _mm_storeu_si128(dst.as_mut_ptr().cast(), bytes);
        }
    }

    /// The row, 16 pixels per [`block`], the tail by the portable loop.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn rgb_row_to_l_avx2(src: &[u8], dst: &mut [u8]) {
        let mut s = src.chunks_exact(48);
        let mut d = dst.chunks_exact_mut(16);
        for (sb, db) in (&mut s).zip(&mut d) {
            // SAFETY: AVX2 is enabled for this function, so for `block` too.
            unsafe {
                block(
                    sb.try_into().expect("48 bytes"),
                    db.try_into().expect("16 bytes"),
                )
            };
        }
        super::rgb_row_to_l_portable(s.remainder(), d.into_remainder());
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
        for w in [1usize, 15, 16, 17, 33, 100, 1000] {
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

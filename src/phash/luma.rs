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

/// [`rgb_to_l`] over a row, 16 pixels at a time in fixed-size blocks so the compiler
/// vectorises the de-interleave and the integer arithmetic (a per-pixel iterator did not).
#[inline]
fn rgb_row_to_l(src: &[u8], dst: &mut [u8]) {
    const N: usize = 16;
    let mut s = src.chunks_exact(3 * N);
    let mut d = dst.chunks_exact_mut(N);
    for (sb, db) in (&mut s).zip(&mut d) {
        let sb: &[u8; 3 * N] = sb.try_into().expect("block of 48 bytes");
        for i in 0..N {
            db[i] = rgb_to_l(sb[3 * i], sb[3 * i + 1], sb[3 * i + 2]);
        }
    }
    for (o, p) in d
        .into_remainder()
        .iter_mut()
        .zip(s.remainder().chunks_exact(3))
    {
        *o = rgb_to_l(p[0], p[1], p[2]);
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
        for w in [1usize, 15, 16, 17, 33, 100] {
            let src: Vec<u8> = (0..w * 3).map(|i| (i * 97 + w * 31) as u8).collect();
            let mut dst = vec![0u8; w];
            rgb_row_to_l(&src, &mut dst);
            for (i, &o) in dst.iter().enumerate() {
                assert_eq!(
                    o,
                    rgb_to_l(src[3 * i], src[3 * i + 1], src[3 * i + 2]),
                    "w {w} i {i}"
                );
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

//! pHash, flavour `imagehash` 4.3.2 (`phash()`), spec §4.1, reproduced bit for bit:
//!
//! ```text
//! image.convert('L').resize((32, 32), LANCZOS)          -> luma::pillow_l, lanczos::resize_lanczos_32
//! scipy.fftpack.dct(scipy.fftpack.dct(px, axis=0), axis=1)[:8, :8]   -> dct::Dct32::low_8x8
//! bits = low > numpy.median(low)      (row-major, first bit = MSB)    -> from_low_dct
//! ```
//!
//! Every step copies the reference's arithmetic (Pillow's fixed-point luma and resampler,
//! pocketfft's FFT-based DCT, numpy's median), so hashes match imagehash exactly, including on
//! flat and symmetric images where the DCT has exact zeros.
//!
//! Version notes: the resize follows Pillow 13, which runs the vertical pass first when the
//! height shrinks much more than the width (see [`lanczos::resize_lanczos`]); older Pillow
//! always went horizontal first, so hashes of such (portrait-ish) images can differ by a few
//! bits from imagehash on Pillow ≤ 12. Input is the `convert('RGB')` pixels: for every source
//! mode checked (RGB, RGBA, P, PA, L, LA, 1, I, I;16, F, CMYK, HSV), Pillow's `convert('L')`
//! equals `convert('RGB').convert('L')`; the exception is `YCbCr`, whose `convert('L')` takes
//! the Y channel directly (differs by up to 75 levels), which RGB input cannot reproduce.

pub mod dct;
pub mod lanczos;
pub mod luma;
mod resample;

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use thiserror::Error;

use crate::ImageView;
pub use dct::Dct32;
pub use lanczos::{resize_lanczos, resize_lanczos_32, resize_lanczos_oracle};
pub use luma::pillow_l;
pub use resample::resize_view_32_at;

/// A 64-bit DCT perceptual hash, flavour `imagehash`.
///
/// Bit 63 (the most significant) is DCT coefficient `[0][0]`, bit 0 is `[7][7]`; `Display`
/// gives imagehash's `str(hash)`: 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PHash(pub u64);

impl PHash {
    /// Hamming distance (number of differing bits), imagehash's `h1 - h2`.
    pub fn distance(&self, other: &PHash) -> u32 {
        (self.0 ^ other.0).count_ones()
    }
}

impl fmt::Display for PHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Why a string is not a [`PHash`].
#[derive(Debug, Error, PartialEq, Eq)]
#[error("a pHash is 16 hex digits, got {0:?}")]
pub struct ParsePHashError(pub String);

impl FromStr for PHash {
    type Err = ParsePHashError;

    /// Parse 16 hex digits, either case (no prefix, sign or whitespace).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParsePHashError(s.to_owned()));
        }
        u64::from_str_radix(s, 16)
            .map(PHash)
            .map_err(|_| ParsePHashError(s.to_owned()))
    }
}

/// The shared length-32 DCT tables.
fn dct32() -> &'static Dct32 {
    static DCT: OnceLock<Dct32> = OnceLock::new();
    DCT.get_or_init(Dct32::new)
}

/// The low-frequency 8×8 DCT block of a 32×32 grey image (`[row freq][column freq]`, DC at
/// `[0][0]`), exactly as `scipy.fftpack.dct(scipy.fftpack.dct(px, axis=0), axis=1)[:8, :8]`.
pub fn low_dct(pixels: &[u8; 1024]) -> [[f64; 8]; 8] {
    dct32().low_8x8(pixels)
}

/// Bits from the 8×8 block: set where the coefficient is strictly greater than the numpy
/// median of the 64 values; row-major, `[0][0]` in the most significant bit.
pub fn from_low_dct(low: &[[f64; 8]; 8]) -> PHash {
    let flat: [f64; 64] = std::array::from_fn(|i| low[i / 8][i % 8]);
    let med = dct::median64(&flat);
    PHash(
        flat.iter()
            .fold(0u64, |acc, &v| (acc << 1) | u64::from(v > med)),
    )
}

/// The pHash of an already resized 32×32 grey image.
pub fn hash_32x32(pixels: &[u8; 1024]) -> PHash {
    from_low_dct(&low_dct(pixels))
}

/// Hash an image: imagehash's `phash(image)` where `image` is the RGB (or `L`) Pillow image
/// these pixels came from.
///
/// An empty image (width or height 0), which Pillow cannot resize, hashes to `PHash(0)`.
/// Runs the fast path at the process's SIMD level ([`crate::simd::level`]); the result is
/// the same as [`hash_oracle`]'s.
pub fn hash(view: &ImageView<'_>) -> PHash {
    hash_at(view, crate::simd::level())
}

/// [`hash`] at a given SIMD level (capped at what the CPU has), for tests and benchmarks.
pub fn hash_at(view: &ImageView<'_>, level: crate::simd::Level) -> PHash {
    if view.width() == 0 || view.height() == 0 {
        return PHash(0);
    }
    hash_32x32(&resize_view_32_at(view, level))
}

/// [`hash`] computed the slow, obviously-Pillow way ([`pillow_l`] of the whole image, then
/// [`resize_lanczos_oracle`]): the reference that the fast path is tested against.
pub fn hash_oracle(view: &ImageView<'_>) -> PHash {
    if view.width() == 0 || view.height() == 0 {
        return PHash(0);
    }
    let l = pillow_l(view);
    let v = resize_lanczos_oracle(&l, view.width(), view.height(), 32, 32);
    let mut px = [0u8; 1024];
    px.copy_from_slice(&v);
    hash_32x32(&px)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = PHash(0x0123_4567_89ab_cdef);
        assert_eq!(h.to_string(), "0123456789abcdef");
        assert_eq!("0123456789ABCDEF".parse::<PHash>(), Ok(h));
        assert_eq!(PHash(1).to_string(), "0000000000000001");
        for bad in [
            "",
            "0123456789abcde",
            "0123456789abcdef0",
            "+123456789abcdef",
            "0x23456789abcdef",
            "0123456789abcdeg",
        ] {
            assert!(bad.parse::<PHash>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn distance_counts_bits() {
        assert_eq!(PHash(0).distance(&PHash(u64::MAX)), 64);
        assert_eq!(PHash(0b1011).distance(&PHash(0b0001)), 2);
    }

    #[test]
    fn flat_images() {
        // imagehash: value 0 -> all zeros; any other value -> only the DC bit.
        for (v, want) in [(0u8, 0u64), (1, 1 << 63), (128, 1 << 63), (255, 1 << 63)] {
            for (w, h) in [(1u32, 1u32), (32, 32), (100, 75)] {
                let px = vec![v; (w * h) as usize];
                let view = ImageView::luma8(&px, w, h, w as usize).unwrap();
                assert_eq!(hash(&view), PHash(want), "{v} {w}x{h}");
            }
        }
    }

    #[test]
    fn empty_image() {
        let view = ImageView::luma8(&[], 0, 5, 0).unwrap();
        assert_eq!(hash(&view), PHash(0));
    }
}

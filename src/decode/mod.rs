//! Decoding per policy `pillow-rgb/1`: the RGB8 that Pillow's `convert('RGB')` gives.
//! (Scaffold: filled in by the decode work.)

use crate::RgbImage;
use thiserror::Error;

/// The decoding policy name written next to every stored hash.
pub const POLICY: &str = "pillow-rgb/1";

/// A container format recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImageFormat {
    /// JPEG (JFIF/EXIF/Adobe).
    Jpeg,
    /// PNG (and APNG, frame 0).
    Png,
    /// GIF (frame 0).
    Gif,
    /// WebP (lossy, lossless, alpha; frame 0).
    WebP,
    /// Windows bitmap.
    Bmp,
    /// TIFF (page 0).
    Tiff,
    /// HEIF/HEIC: recognised, not supported.
    Heic,
    /// AVIF: recognised, not supported.
    Avif,
    /// JPEG XL: recognised, not supported.
    Jxl,
}

/// Header facts read without decoding pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// Container format.
    pub format: ImageFormat,
    /// Width in pixels (before any EXIF rotation).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Options for [`decode`].
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Refuse images with more pixels than this, from the header, before allocating.
    pub max_pixels: u64,
    /// Apply the EXIF orientation (policy suffix `+exif`).
    pub exif_rotate: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_pixels: 200_000_000,
            exif_rotate: false,
        }
    }
}

/// What the source pixels were before conversion to RGB8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceKind {
    /// Colour channels including alpha: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA or CMYK.
    pub channels: u8,
    /// Bits per sample (8 or 16; 1/2/4 for low-depth PNG).
    pub bit_depth: u8,
    /// Palette image.
    pub palette: bool,
    /// CMYK or YCCK JPEG.
    pub cmyk: bool,
}

/// A decoded image.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Pixels per the policy.
    pub rgb: RgbImage,
    /// Container format.
    pub format: ImageFormat,
    /// What the pixels were before conversion.
    pub source: SourceKind,
}

/// Why a file could not be decoded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Zero bytes.
    #[error("empty file")]
    Empty,
    /// No known magic bytes.
    #[error("not a recognised image format")]
    NotAnImage,
    /// Recognised but not supported.
    #[error("unsupported format: {0:?}")]
    Unsupported(ImageFormat),
}

/// Recognise a format by its magic bytes.
pub fn sniff(_bytes: &[u8]) -> Option<ImageFormat> {
    None
}

/// Read width and height from the header, without decoding pixels.
pub fn probe(bytes: &[u8]) -> Result<ImageInfo, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    Err(DecodeError::NotAnImage)
}

/// Decode frame or page 0 to RGB8 per policy `pillow-rgb/1`.
pub fn decode(bytes: &[u8], _opts: &DecodeOptions) -> Result<Decoded, DecodeError> {
    probe(bytes).map(|_| unreachable!())
}

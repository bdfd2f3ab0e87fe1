//! Decoding per policy `pillow-rgb/1`: the RGB8 that Pillow 13's `convert('RGB')` gives for
//! frame or page 0.
//!
//! * JPEG: libjpeg-turbo's TurboJPEG API (Pillow's own decoder); CMYK/YCCK converted by
//!   Pillow's rule (Adobe-inverted, `MULDIV255(c, k)`); truncated files are errors, other
//!   libjpeg warnings are not (as in Pillow), and a fatal error is one even after a warning;
//!   more than 500 progressive scans are refused.
//! * PNG: the `png` crate; 16-bit grey is clipped to 255, 16-bit colour and grey+alpha keep
//!   the high byte; alpha is dropped.
//! * GIF: the `gif` crate, frame 0 composed onto the canvas as Pillow does.
//! * WebP, BMP, TIFF: the `image` crate; variants that would not match Pillow are refused.
//!
//! The header is read first ([`probe`]) and images over [`DecodeOptions::max_pixels`] are
//! refused before any pixel buffer is allocated. Decoder panics become errors.

pub mod anim;
mod exif;
mod gif;
mod jpeg;
mod other;
mod png;
mod sniff;

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::RgbImage;
use thiserror::Error;

pub use exif::{apply_orientation, orientation};
pub use sniff::sniff;

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
    /// Colour channels including alpha (a PNG tRNS chunk counts as alpha): 1 grey, 2 grey+alpha,
    /// 3 RGB, 4 RGBA or CMYK.
    /// Palette images count as 3 (GIF without any palette: 1).
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
    /// The EXIF orientation the file declares (1..=8), read only when
    /// [`DecodeOptions::exif_rotate`] is set; `None` otherwise or when there is none.
    pub exif_orientation: Option<u16>,
}

/// Why a file could not be decoded. Messages never contain pixel data.
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
    /// A supported format, but a variant whose pixels would not match Pillow's (or that no
    /// decoder here handles): refused rather than decoded approximately.
    #[error("unsupported variant: {0}")]
    UnsupportedVariant(String),
    /// The header declares more pixels than [`DecodeOptions::max_pixels`].
    #[error("image of {width}x{height} exceeds the limit of {max_pixels} pixels")]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limit in force.
        max_pixels: u64,
    },
    /// The header declares a width or height of zero.
    #[error("image has zero width or height ({width}x{height})")]
    ZeroSize {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The data ends before the image does (Pillow: "image file is truncated").
    #[error("image file is truncated")]
    Truncated,
    /// The decoder reported an error.
    #[error("corrupt image: {0}")]
    Corrupt(String),
    /// A decoder memory limit (for example a huge metadata chunk) was hit.
    #[error("decoder limit exceeded: {0}")]
    LimitExceeded(String),
    /// The decoder panicked; the panic was caught.
    #[error("the {0:?} decoder panicked")]
    Panicked(ImageFormat),
    /// An internal failure (decoder could not be created, inconsistent output).
    #[error("internal decoder error: {0}")]
    Internal(String),
}

/// Run a decoder, turning a panic into [`DecodeError::Panicked`].
/// A copy of `b` without the byte ranges in `skip` (in order, not overlapping; a range may
/// run past the end). For the decoders that hand a crate the bytes Pillow reads.
fn without(b: &[u8], skip: &[std::ops::Range<usize>]) -> Vec<u8> {
    let mut v = Vec::with_capacity(b.len());
    let mut at = 0;
    for r in skip {
        v.extend_from_slice(&b[at..r.start.min(b.len())]);
        at = r.end.min(b.len());
    }
    v.extend_from_slice(&b[at..]);
    v
}

fn guarded<T>(
    format: ImageFormat,
    f: impl FnOnce() -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(Err(DecodeError::Panicked(format)))
}

fn probe_inner(bytes: &[u8]) -> Result<(ImageInfo, Option<jpeg::JpegHeader>), DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let format = sniff(bytes).ok_or(DecodeError::NotAnImage)?;
    let mut jpeg_header = None;
    let (width, height) = guarded(format, || match format {
        ImageFormat::Jpeg => {
            let h = jpeg::header(bytes)?;
            jpeg_header = Some(h);
            Ok((h.width, h.height))
        }
        ImageFormat::Png => png::dimensions(bytes),
        ImageFormat::Gif => gif::dimensions(bytes),
        ImageFormat::WebP | ImageFormat::Bmp | ImageFormat::Tiff => {
            other::dimensions(bytes, format)
        }
        ImageFormat::Heic | ImageFormat::Avif | ImageFormat::Jxl => {
            Err(DecodeError::Unsupported(format))
        }
    })?;
    Ok((
        ImageInfo {
            format,
            width,
            height,
        },
        jpeg_header,
    ))
}

/// Read width and height from the header, without decoding pixels.
pub fn probe(bytes: &[u8]) -> Result<ImageInfo, DecodeError> {
    probe_inner(bytes).map(|(info, _)| info)
}

/// Decode frame or page 0 to RGB8 per policy `pillow-rgb/1` (plus the EXIF orientation when
/// [`DecodeOptions::exif_rotate`] is set).
pub fn decode(bytes: &[u8], opts: &DecodeOptions) -> Result<Decoded, DecodeError> {
    let (info, jpeg_header) = probe_inner(bytes)?;
    let (width, height) = (info.width, info.height);
    if width == 0 || height == 0 {
        return Err(DecodeError::ZeroSize { width, height });
    }
    if u64::from(width) * u64::from(height) > opts.max_pixels {
        return Err(DecodeError::TooLarge {
            width,
            height,
            max_pixels: opts.max_pixels,
        });
    }
    let format = info.format;
    let (rgb, source) = guarded(format, || match format {
        ImageFormat::Jpeg => {
            let hdr = jpeg_header.ok_or_else(|| DecodeError::Internal("no JPEG header".into()))?;
            jpeg::decode(bytes, &hdr)
        }
        ImageFormat::Png => png::decode(bytes),
        ImageFormat::Gif => gif::decode(bytes),
        ImageFormat::WebP | ImageFormat::Bmp | ImageFormat::Tiff => {
            other::decode(bytes, format, (width, height))
        }
        ImageFormat::Heic | ImageFormat::Avif | ImageFormat::Jxl => {
            Err(DecodeError::Unsupported(format))
        }
    })?;
    if (rgb.width, rgb.height) != (width, height)
        || rgb.data.len() != width as usize * height as usize * 3
    {
        return Err(DecodeError::Internal(format!(
            "decoder gave {}x{} ({} bytes) for a {width}x{height} header",
            rgb.width,
            rgb.height,
            rgb.data.len()
        )));
    }
    let (rgb, exif_orientation) = if opts.exif_rotate {
        let o = guarded(format, || Ok(orientation(bytes))).unwrap_or(None);
        match o {
            Some(o) if o >= 2 => (apply_orientation(&rgb, o), Some(o)),
            _ => (rgb, o),
        }
    } else {
        (rgb, None)
    };
    Ok(Decoded {
        rgb,
        format,
        source,
        exif_orientation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_unknown() {
        let o = DecodeOptions::default();
        assert!(matches!(decode(b"", &o), Err(DecodeError::Empty)));
        assert!(matches!(decode(b"hello", &o), Err(DecodeError::NotAnImage)));
        assert!(matches!(
            decode(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", &o),
            Err(DecodeError::Unsupported(ImageFormat::Heic))
        ));
        assert!(matches!(
            decode(b"\xFF\x0A\xFA\x7F", &o),
            Err(DecodeError::Unsupported(ImageFormat::Jxl))
        ));
    }

    #[test]
    fn garbage_after_magic_is_an_error_not_a_panic() {
        let o = DecodeOptions::default();
        for magic in [
            &b"\xFF\xD8\xFF"[..],
            b"\x89PNG\r\n\x1a\n",
            b"GIF89a",
            b"RIFF\0\0\0\0WEBP",
            b"BM",
            b"II*\0",
            b"MM\0*",
        ] {
            let mut v = magic.to_vec();
            v.extend((0..200u32).map(|i| (i * 37 % 251) as u8));
            assert!(decode(&v, &o).is_err(), "{magic:?}");
        }
    }
}

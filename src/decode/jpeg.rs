//! JPEG through libjpeg-turbo's TurboJPEG API (the decoder Pillow uses, pixel for pixel).

use std::ffi::CStr;

use turbojpeg_sys as tj;

use super::{DecodeError, SourceKind};
use crate::RgbImage;

/// One TurboJPEG decompressor instance, destroyed on drop.
struct Handle(tj::tjhandle);

impl Handle {
    fn new() -> Result<Self, DecodeError> {
        // SAFETY: tjInitDecompress has no preconditions; it returns NULL on failure.
        let h = unsafe { tj::tjInitDecompress() };
        if h.is_null() {
            Err(DecodeError::Internal("tjInitDecompress failed".into()))
        } else {
            Ok(Self(h))
        }
    }

    /// The message of the last error or warning on this handle.
    fn error_message(&self) -> String {
        // SAFETY: self.0 is a live handle; the returned pointer is a NUL-terminated string owned
        // by libturbojpeg (per instance or thread-local) that we copy before any other call.
        unsafe {
            let p = tj::tjGetErrorStr2(self.0);
            if p.is_null() {
                String::from("unknown TurboJPEG error")
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        }
    }

    /// Whether the last call failed only with warnings (libjpeg went on to the end), with the
    /// message TurboJPEG kept.
    ///
    /// TurboJPEG 2.x cannot say so itself: `tjGetErrorCode` is `TJERR_WARNING` whenever a
    /// warning was seen, even when a fatal error followed it and stopped the decode (the rows
    /// after it are never written). Its message tells them apart: libjpeg formats the first
    /// warning into it, and a fatal error overwrites it. So only warnings were seen when the
    /// message is one of libjpeg's warnings.
    fn only_warnings(&self) -> (bool, String) {
        // SAFETY: self.0 is a live handle.
        let code = unsafe { tj::tjGetErrorCode(self.0) };
        let msg = self.error_message();
        let warning = code == tj::TJERR_TJERR_WARNING as libc::c_int && is_warning_message(&msg);
        (warning, msg)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: self.0 came from tjInitDecompress and is destroyed exactly once, here.
        unsafe {
            tj::tjDestroy(self.0);
        }
    }
}

/// libjpeg's warnings: every `JWRN_*` message of the `jerror.h` of libjpeg-turbo 2.1.5 (the
/// release the build links), up to its first formatted value; no fatal (`JERR_*`) message
/// there starts like any of them. A warning missing here (a later release adding one) makes
/// its files fail with that message: refused, never hashed from a partial decode.
const WARNING_MESSAGES: &[&str] = &[
    "Corrupt JPEG data: ",
    "Premature end of JPEG file",
    "Unknown Adobe color transform code ",
    "Inconsistent progression sequence for component ",
    "Warning: unknown JFIF revision number ",
    "Invalid SOS parameters for sequential JPEG",
    "Application transferred too many scanlines",
];

fn is_warning_message(msg: &str) -> bool {
    WARNING_MESSAGES.iter().any(|w| msg.starts_with(w))
}

/// Run `f` with a decompressor of its own.
///
/// Never one reused across files: libjpeg keeps the quantisation and Huffman tables a stream
/// defined in its decompressor for the next stream (abbreviated datastreams), so a file
/// without a DQT, or a Motion-JPEG frame without a DHT (libjpeg's default tables), decoded
/// with the last file's tables: a file Pillow refuses hashed, or another file's tables
/// instead of the defaults, depending on what the thread decoded before. Pillow creates a
/// decompressor per image. A fresh handle costs microseconds, so the header read, the 1/8
/// trial decode and the full decode each take their own too: the full decode on the trial's
/// handle would start with the tables the stream defines after its first scan.
fn with_handle<T>(f: impl FnOnce(&Handle) -> Result<T, DecodeError>) -> Result<T, DecodeError> {
    f(&Handle::new()?)
}

/// Header facts of a JPEG.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JpegHeader {
    pub width: u32,
    pub height: u32,
    /// TurboJPEG colourspace (TJCS_*), or -1 when only our own SOF parser read the header.
    pub colorspace: i32,
    /// Components in the frame header.
    pub components: u8,
}

fn input_len(bytes: &[u8]) -> Result<libc::c_ulong, DecodeError> {
    libc::c_ulong::try_from(bytes.len())
        .map_err(|_| DecodeError::Corrupt("JPEG input too long".into()))
}

/// Read width, height and colourspace from the header without decoding pixels.
pub(crate) fn header(bytes: &[u8]) -> Result<JpegHeader, DecodeError> {
    let sof = parse_sof(bytes);
    let len = input_len(bytes)?;
    let tj_result = with_handle(|h| {
        let (mut w, mut ht, mut ss, mut cs) = (0, 0, 0, 0);
        // SAFETY: bytes is a live slice of `len` bytes; the four out-pointers are valid locals.
        let rc = unsafe {
            tj::tjDecompressHeader3(h.0, bytes.as_ptr(), len, &mut w, &mut ht, &mut ss, &mut cs)
        };
        if rc != 0 {
            // tjDecompressHeader3 fails on warnings too (extraneous bytes before a marker,
            // an unknown JFIF revision), after it has read the whole header; Pillow reads
            // these files.
            let (warning, msg) = h.only_warnings();
            if !warning {
                return Err(DecodeError::Corrupt(msg));
            }
        }
        Ok((w, ht, cs))
    });
    match (tj_result, sof) {
        (Ok((w, h, cs)), sof) => Ok(JpegHeader {
            width: u32::try_from(w).unwrap_or(0),
            height: u32::try_from(h).unwrap_or(0),
            colorspace: cs,
            components: sof.map_or(
                if cs == tj::TJCS_TJCS_GRAY as i32 {
                    1
                } else {
                    3
                },
                |s| s.2,
            ),
        }),
        // TurboJPEG 2.1 refuses headers whose subsampling it cannot name; the frame header
        // still tells the size, and tjDecompress2 may still decode it.
        (Err(_), Some((w, h, n))) if w > 0 && h > 0 => Ok(JpegHeader {
            width: w,
            height: h,
            colorspace: -1,
            components: n,
        }),
        (Err(e), _) => Err(e),
    }
}

/// Find the first SOFn frame header: (width, height, components). Walks marker segments only.
fn parse_sof(b: &[u8]) -> Option<(u32, u32, u8)> {
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let m = b[i + 1];
        if m == 0xFF {
            i += 1;
            continue;
        }
        if m == 0xD8 || (0xD0..=0xD7).contains(&m) || m == 0x01 {
            i += 2;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let is_sof = matches!(m, 0xC0..=0xCF) && !matches!(m, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            let s = b.get(i + 4..i + 4 + 6)?;
            let h = u32::from(u16::from_be_bytes([s[1], s[2]]));
            let w = u32::from(u16::from_be_bytes([s[3], s[4]]));
            return Some((w, h, s[5]));
        }
        if m == 0xDA || m == 0xD9 || len < 2 {
            return None;
        }
        i += 2 + len;
    }
    None
}

/// Whether a structural walk of the marker segments and entropy-coded data finds an EOI marker.
/// Without one, libjpeg runs off the end of the data, which Pillow reports as truncation.
fn has_eoi(b: &[u8]) -> bool {
    let mut i = 2;
    while i + 1 < b.len() {
        if b[i] != 0xFF {
            // Entropy-coded data: skip to the next marker that is not stuffing or RSTn.
            i += 1;
            continue;
        }
        let m = b[i + 1];
        match m {
            0xD9 => return true,
            0x00 | 0xFF | 0x01 | 0xD0..=0xD7 => i += if m == 0xFF { 1 } else { 2 },
            _ => {
                if i + 4 > b.len() {
                    return false;
                }
                let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
                if len < 2 {
                    return false;
                }
                i += 2 + len;
            }
        }
    }
    false
}

/// Pillow's MULDIV255: round(a*b/255) exactly, for bytes.
#[inline]
fn muldiv255(a: u8, b: u8) -> u8 {
    let t = u32::from(a) * u32::from(b) + 128;
    ((t + (t >> 8)) >> 8) as u8
}

/// Images above this many pixels are trial-decoded at 1/8 scale before the full decode.
const TRIAL_DECODE_PIXELS: u64 = 16_000_000;

/// `tjDecompress2` into `buf` (`w`×`h`, `bpp` bytes per pixel); when `w`×`h` is smaller than
/// the image, libjpeg-turbo picks the DCT scaling factor that fits. Warnings are told apart:
/// running out of data is `Truncated` (Pillow raises there); other warnings keep the pixels.
fn decompress(
    bytes: &[u8],
    buf: &mut [u8],
    w: u32,
    h: u32,
    bpp: usize,
    pf: tj::TJPF,
) -> Result<(), DecodeError> {
    let wi = libc::c_int::try_from(w).map_err(|_| DecodeError::Corrupt("width".into()))?;
    let hi = libc::c_int::try_from(h).map_err(|_| DecodeError::Corrupt("height".into()))?;
    let pitch = libc::c_int::try_from(w as usize * bpp)
        .map_err(|_| DecodeError::Corrupt("pitch".into()))?;
    assert_eq!(
        buf.len(),
        w as usize * bpp * h as usize,
        "output buffer size"
    );
    let len = input_len(bytes)?;
    let flags = (tj::TJFLAG_LIMITSCANS | tj::TJFLAG_ACCURATEDCT) as libc::c_int;
    with_handle(|handle| {
        // SAFETY: `bytes` is a live slice of `len` bytes; `buf` holds exactly pitch*height
        // bytes (asserted above), the size tjDecompress2 writes for this width, pitch, height
        // and pixel format.
        let rc = unsafe {
            tj::tjDecompress2(
                handle.0,
                bytes.as_ptr(),
                len,
                buf.as_mut_ptr(),
                wi,
                pitch,
                hi,
                pf as libc::c_int,
                flags,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let (warning, msg) = handle.only_warnings();
        if !warning {
            return Err(DecodeError::Corrupt(msg));
        }
        let lower = msg.to_ascii_lowercase();
        if lower.contains("premature end") || !has_eoi(bytes) {
            return Err(DecodeError::Truncated);
        }
        // Other libjpeg warnings (extraneous bytes before a marker and the like): Pillow
        // decodes these files, and the pixels are complete.
        Ok(())
    })
}

/// Decode a JPEG whose header has been checked, to RGB8 as Pillow's `convert('RGB')` gives.
pub(crate) fn decode(
    bytes: &[u8],
    hdr: &JpegHeader,
) -> Result<(RgbImage, SourceKind), DecodeError> {
    let (w, h) = (hdr.width, hdr.height);
    let cmyk = hdr.colorspace == tj::TJCS_TJCS_CMYK as i32
        || hdr.colorspace == tj::TJCS_TJCS_YCCK as i32
        || (hdr.colorspace == -1 && hdr.components == 4);
    let grey = hdr.colorspace == tj::TJCS_TJCS_GRAY as i32 || hdr.components == 1;
    let (pf, bpp) = if cmyk {
        (tj::TJPF_TJPF_CMYK, 4usize)
    } else {
        (tj::TJPF_TJPF_RGB, 3usize)
    };
    let total = (w as usize * bpp)
        .checked_mul(h as usize)
        .ok_or_else(|| DecodeError::Corrupt("size overflow".into()))?;
    // A header may claim hundreds of megapixels over a few bytes of data, and libjpeg fills
    // every row of the output even when the data runs out. So for large images, first decode
    // at 1/8 scale (1/64 of the memory): a truncated or corrupt file fails there, before the
    // full-size buffer is allocated.
    if u64::from(w) * u64::from(h) > TRIAL_DECODE_PIXELS {
        let (tw, th) = (w.div_ceil(8), h.div_ceil(8));
        let mut trial = vec![0u8; tw as usize * bpp * th as usize];
        decompress(bytes, &mut trial, tw, th, bpp, pf)?;
    }
    let mut buf = vec![0u8; total];
    decompress(bytes, &mut buf, w, h, bpp, pf)?;
    let rgb = if cmyk {
        // Pillow reads CMYK/YCCK JPEGs as Adobe-inverted CMYK, then converts each channel
        // to MULDIV255(c, k) with the raw (inverted) samples.
        let mut out = Vec::with_capacity(w as usize * h as usize * 3);
        for px in buf.chunks_exact(4) {
            let k = px[3];
            out.extend_from_slice(&[
                muldiv255(px[0], k),
                muldiv255(px[1], k),
                muldiv255(px[2], k),
            ]);
        }
        out
    } else {
        buf
    };
    let source = SourceKind {
        channels: if cmyk {
            4
        } else if grey {
            1
        } else {
            3
        },
        bit_depth: 8,
        palette: false,
        cmyk,
    };
    Ok((
        RgbImage {
            width: w,
            height: h,
            data: rgb,
        },
        source,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_told_from_fatal_errors() {
        for w in [
            "Corrupt JPEG data: 3 extraneous bytes before marker 0xdb",
            "Corrupt JPEG data: premature end of data segment",
            "Premature end of JPEG file",
            "Warning: unknown JFIF revision number 2.01",
        ] {
            assert!(is_warning_message(w), "{w}");
        }
        for e in [
            "Bogus DHT index 15",
            "Premature end of input file",
            "Invalid JPEG file structure: two SOI markers",
            "Progressive JPEG image has more than 500 scans",
            "tjDecompressHeader3(): Could not determine subsampling type for JPEG image",
        ] {
            assert!(!is_warning_message(e), "{e}");
        }
    }

    #[test]
    fn muldiv255_is_exact_rounding() {
        for a in 0..=255u32 {
            for b in 0..=255u32 {
                let exact = (a * b * 2 + 255) / 510;
                assert_eq!(u32::from(muldiv255(a as u8, b as u8)), exact, "{a} {b}");
            }
        }
    }

    #[test]
    fn sof_and_eoi_walk() {
        // SOI, SOF0 (8-bit, 16x8, 1 component), EOI.
        let j = [
            0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x08, 0x00, 0x10, 0x01, 0x01, 0x11,
            0x00, 0xFF, 0xD9,
        ];
        assert_eq!(parse_sof(&j), Some((16, 8, 1)));
        assert!(has_eoi(&j));
        assert!(!has_eoi(&j[..j.len() - 2]));
    }
}

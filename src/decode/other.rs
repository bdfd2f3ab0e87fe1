//! WebP, BMP and TIFF through the `image` crate, converted to RGB8 by Pillow's rules.
//!
//! Variants whose pixels would differ from Pillow's are refused with
//! [`DecodeError::UnsupportedVariant`] instead of being decoded approximately.

use std::io::Cursor;

use image::{ColorType, ExtendedColorType, ImageDecoder, ImageFormat as ImgFormat, Limits};

use super::{DecodeError, ImageFormat, SourceKind};
use crate::RgbImage;

/// Bytes a decoder may allocate besides the output image.
const OVERHEAD_LIMIT: u64 = 64 << 20;

fn img_err(e: image::ImageError) -> DecodeError {
    use image::ImageError as E;
    match e {
        E::IoError(ref io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated
        }
        E::Limits(l) => DecodeError::LimitExceeded(l.to_string()),
        E::Unsupported(u) => DecodeError::UnsupportedVariant(u.to_string()),
        other => {
            let msg = other.to_string();
            let lower = msg.to_ascii_lowercase();
            if lower.contains("eof") || lower.contains("end of file") || lower.contains("truncated")
            {
                DecodeError::Truncated
            } else {
                DecodeError::Corrupt(msg)
            }
        }
    }
}

fn image_format(f: ImageFormat) -> Option<ImgFormat> {
    Some(match f {
        ImageFormat::WebP => ImgFormat::WebP,
        ImageFormat::Bmp => ImgFormat::Bmp,
        ImageFormat::Tiff => ImgFormat::Tiff,
        _ => return None,
    })
}

/// libwebp's container checks, which Pillow's decoder (WebPDemux) applies and the `image`
/// crate does not: the RIFF size must not claim more bytes than the file has, and no chunk may
/// run past the RIFF size (the last one may leave out its pad byte), nor may the payload end
/// inside a chunk header (in a simple file, only up to the first chunk after the image).
/// Bytes after the RIFF payload are ignored, as libwebp ignores them.
fn riff_fits(b: &[u8]) -> Result<(), DecodeError> {
    let le32 = |i: usize| {
        b.get(i..i + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
    };
    let riff = le32(4).ok_or(DecodeError::Truncated)?;
    let end = riff.checked_add(8).filter(|&e| e <= b.len());
    let end = end.ok_or(DecodeError::Truncated)?;
    // A simple file (no VP8X) is read up to the first chunk after its image chunks; an
    // extended one to the end of the RIFF payload.
    let extended = b.get(12..16) == Some(b"VP8X");
    let mut i = 12;
    while i + 8 <= end {
        let n = le32(i + 4).ok_or(DecodeError::Truncated)?;
        let next = (i + 8).saturating_add(n);
        if next > end {
            return Err(DecodeError::Corrupt(
                "WebP chunk runs past the RIFF size".into(),
            ));
        }
        if !extended && !matches!(&b[i..i + 4], b"ALPH" | b"VP8 " | b"VP8L") {
            return Ok(());
        }
        i = next + (n & 1);
    }
    // 1 to 7 bytes left: libwebp's demuxer waits for the rest of a chunk header.
    if i < end {
        return Err(DecodeError::Corrupt(
            "WebP RIFF payload ends inside a chunk header".into(),
        ));
    }
    Ok(())
}

/// Width and height from the header.
pub(crate) fn dimensions(bytes: &[u8], format: ImageFormat) -> Result<(u32, u32), DecodeError> {
    let fmt = image_format(format).ok_or(DecodeError::Unsupported(format))?;
    // Pillow ignores a BMP's planes field; `image` refuses any value but 1. Pillow reads a
    // top-down RLE bitmap (a negative height, which the format does not allow with RLE) in
    // file order from the top; `image` refuses it, and [`bmp_for_image`] rewrites it as an
    // uncompressed top-down one, so the header is read here as that rewrite's.
    let bmp = format == ImageFormat::Bmp && bytes.get(14..18).is_some_and(|d| d != [12, 0, 0, 0]);
    let planes_bad = bmp && bytes.get(26..28).is_some_and(|p| p != [1, 0]);
    let top_down_rle = bmp && bmp_top_down_rle(bytes);
    let fixed = (planes_bad || top_down_rle).then(|| {
        let mut v = bytes.to_vec();
        v[26..28].copy_from_slice(&[1, 0]);
        if top_down_rle {
            v[30..34].copy_from_slice(&[0; 4]);
        }
        v
    });
    let bytes = fixed.as_deref().unwrap_or(bytes);
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), fmt);
    let mut limits = Limits::default();
    limits.max_alloc = Some(OVERHEAD_LIMIT);
    reader.limits(limits);
    reader.into_dimensions().map_err(img_err)
}

/// Decode frame or page 0 to RGB8 as Pillow's `convert('RGB')` gives.
pub(crate) fn decode(
    bytes: &[u8],
    format: ImageFormat,
    (w, h): (u32, u32),
) -> Result<(RgbImage, SourceKind), DecodeError> {
    let mut limits = Limits::default();
    limits.max_alloc = Some(OVERHEAD_LIMIT.saturating_add(u64::from(w) * u64::from(h) * 16));
    match format {
        ImageFormat::WebP => {
            riff_fits(bytes)?;
            let mut d =
                image::codecs::webp::WebPDecoder::new(Cursor::new(bytes)).map_err(img_err)?;
            d.set_limits(limits).map_err(img_err)?;
            run(d, None)
        }
        ImageFormat::Bmp => {
            let bmp = bmp_header(bytes);
            // 16-bit BMPs: `image` widens 5/6-bit fields with rounding, Pillow truncates.
            if matches!(bmp, Some((16, _))) {
                return Err(DecodeError::UnsupportedVariant("16-bit BMP".into()));
            }
            let padded = match bmp {
                Some(kind) => bmp_for_image(bytes, kind, (w, h))?,
                None => None,
            };
            let bytes = padded.as_deref().unwrap_or(bytes);
            let mut d = image::codecs::bmp::BmpDecoder::new(Cursor::new(bytes)).map_err(img_err)?;
            d.set_limits(limits).map_err(img_err)?;
            let palette = matches!(bmp, Some((bits, _)) if bits <= 8);
            run(d, Some(palette))
        }
        ImageFormat::Tiff => {
            if let Some(tags) = tiff_ifd0(bytes) {
                // JPEG-in-TIFF goes through zune-jpeg inside `image`: not Pillow's pixels.
                if matches!(tags.compression, Some(6 | 7 | 34892)) {
                    return Err(DecodeError::UnsupportedVariant(
                        "JPEG-compressed TIFF".into(),
                    ));
                }
                // YCbCr, CIELab and other photometric interpretations are not converted as
                // Pillow/libtiff converts them.
                if !matches!(tags.photometric, Some(0..=3)) {
                    return Err(DecodeError::UnsupportedVariant(format!(
                        "TIFF photometric interpretation {:?}",
                        tags.photometric
                    )));
                }
                if tags.photometric == Some(0) {
                    return Err(DecodeError::UnsupportedVariant("TIFF WhiteIsZero".into()));
                }
            }
            let mut d =
                image::codecs::tiff::TiffDecoder::new(Cursor::new(bytes)).map_err(img_err)?;
            d.set_limits(limits).map_err(img_err)?;
            run(d, None)
        }
        other => Err(DecodeError::Unsupported(other)),
    }
}

fn run<D: ImageDecoder>(
    d: D,
    palette: Option<bool>,
) -> Result<(RgbImage, SourceKind), DecodeError> {
    let (w, h) = d.dimensions();
    let ct = d.color_type();
    let orig = d.original_color_type();
    if matches!(orig, ExtendedColorType::Cmyk8 | ExtendedColorType::Cmyk16) {
        // `image` converts CMYK with its own formula; Pillow's differs.
        return Err(DecodeError::UnsupportedVariant("CMYK TIFF".into()));
    }
    let total = usize::try_from(d.total_bytes())
        .map_err(|_| DecodeError::Corrupt("image too large for memory".into()))?;
    let mut buf = vec![0u8; total];
    d.read_image(&mut buf).map_err(img_err)?;
    let npx = w as usize * h as usize;
    let mut rgb = Vec::with_capacity(npx * 3);
    let u16s = |b: &[u8], i: usize| u16::from_ne_bytes([b[2 * i], b[2 * i + 1]]);
    match ct {
        ColorType::Rgb8 => rgb.extend_from_slice(&buf[..npx * 3]),
        ColorType::Rgba8 => buf
            .chunks_exact(4)
            .for_each(|p| rgb.extend_from_slice(&p[..3])),
        ColorType::L8 => buf[..npx]
            .iter()
            .for_each(|&v| rgb.extend_from_slice(&[v, v, v])),
        ColorType::La8 => buf
            .chunks_exact(2)
            .for_each(|p| rgb.extend_from_slice(&[p[0], p[0], p[0]])),
        // Pillow's I;16 → RGB clips; 16-bit colour keeps the high byte.
        ColorType::L16 => buf.chunks_exact(2).for_each(|p| {
            let v = u16s(p, 0).min(255) as u8;
            rgb.extend_from_slice(&[v, v, v]);
        }),
        ColorType::La16 => buf.chunks_exact(4).for_each(|p| {
            let v = (u16s(p, 0) >> 8) as u8;
            rgb.extend_from_slice(&[v, v, v]);
        }),
        ColorType::Rgb16 => buf.chunks_exact(6).for_each(|p| {
            rgb.extend_from_slice(&[
                (u16s(p, 0) >> 8) as u8,
                (u16s(p, 1) >> 8) as u8,
                (u16s(p, 2) >> 8) as u8,
            ]);
        }),
        ColorType::Rgba16 => buf.chunks_exact(8).for_each(|p| {
            rgb.extend_from_slice(&[
                (u16s(p, 0) >> 8) as u8,
                (u16s(p, 1) >> 8) as u8,
                (u16s(p, 2) >> 8) as u8,
            ]);
        }),
        other => {
            return Err(DecodeError::UnsupportedVariant(format!(
                "colour type {other:?}"
            )));
        }
    }
    let channels = ct.channel_count();
    let bit_depth = (ct.bits_per_pixel() / u16::from(channels)) as u8;
    let palette = palette.unwrap_or(false);
    let source = SourceKind {
        channels: if palette { 3 } else { channels },
        bit_depth,
        palette,
        cmyk: false,
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

/// A BMP rewritten for `image` where `image` would not give Pillow's pixels, or `None` when
/// it would (OS/2 headers and palettes over 256 entries are left to `image`). Pillow reads
/// the palette right after the header (and BITFIELDS masks) and the pixels from the header's
/// data offset, wherever that is; it ignores the planes field and stops once it has every
/// pixel. The rewrite keeps the headers and palette, sets planes to 1, and puts the pixels
/// right after the palette:
/// * pixels from where Pillow takes them when the data offset is in the header or palette;
/// * an uncompressed file cut inside its last row's padding, padded with zeros;
/// * RLE4 and RLE8 expanded as Pillow's `BmpRleDecoder` expands them, into uncompressed 8-bit
///   rows. `image`'s own RLE reading fills pixels missing after an early end-of-bitmap
///   (Pillow refuses the file: "not enough image data"), refuses a stream cut after its last
///   pixel, and refuses a top-down RLE bitmap, which Pillow reads (the rows stay in file
///   order and the header keeps its negative height: an uncompressed top-down bitmap).
fn bmp_for_image(
    b: &[u8],
    (bits, comp): (u16, u32),
    (w, h): (u32, u32),
) -> Result<Option<Vec<u8>>, DecodeError> {
    let le32 = |at: usize| {
        b.get(at..at + 4)
            .map(|v| u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize)
    };
    let (Some(off), Some(dib), Some(clr_used)) = (le32(10), le32(14), le32(46)) else {
        return Ok(None);
    };
    if dib < 40 || clr_used > 256 {
        return Ok(None);
    }
    let masks = if comp == 3 && dib == 40 { 12 } else { 0 };
    let colours = match (bits, clr_used) {
        (0..=8, 0) => 1 << bits,
        (0..=8, c) => c,
        _ => 0,
    };
    let pal_end = 14 + dib + masks + 4 * colours;
    if b.len() < pal_end {
        return Ok(None); // `image` reports the cut
    }
    // Pillow takes a data offset that points at the palette's start (a common writer bug) as
    // pointing past the palette, and an offset of 0 as "right after what was read".
    let at = if off == 0 || (off == 14 + dib && bits <= 8) {
        pal_end
    } else {
        off
    };
    let planes_ok = b.get(26..28) == Some(&[1, 0]);
    let rle4 = (bits, comp) == (4, 2);
    let (xsize, rows) = (w as usize, h as usize);
    let mut out = Vec::new();
    if rle4 || (bits, comp) == (8, 1) {
        let data = rle_pillow(b, at, rle4, (xsize, rows))?;
        let stride = xsize.next_multiple_of(4);
        out.reserve(pal_end + stride * rows);
        out.extend_from_slice(&b[..pal_end]);
        out[28..30].copy_from_slice(&8u16.to_le_bytes());
        out[30..34].copy_from_slice(&0u32.to_le_bytes());
        out[34..38].copy_from_slice(&((stride * rows) as u32).to_le_bytes());
        out[46..50].copy_from_slice(&(colours as u32).to_le_bytes());
        for row in data.chunks_exact(xsize.max(1)) {
            out.extend_from_slice(row);
            out.resize(out.len() + stride - xsize, 0);
        }
    } else {
        if !matches!(comp, 0 | 3) || !matches!(bits, 1 | 4 | 8 | 24 | 32) || rows == 0 {
            return Ok(None);
        }
        let data = b.get(at..).unwrap_or(&[]);
        let row_bits = xsize * usize::from(bits);
        let stride = row_bits.div_ceil(32) * 4;
        let last = (rows - 1) * stride;
        let pad_cut = data.len() < last + stride && data.len() >= last + row_bits.div_ceil(8);
        if at == off && at >= pal_end && planes_ok && !pad_cut {
            return Ok(None);
        }
        out.reserve(pal_end + data.len().max(last + stride));
        out.extend_from_slice(&b[..pal_end]);
        out.extend_from_slice(data);
        if pad_cut {
            out.resize(pal_end + last + stride, 0);
        }
    }
    let size = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out[2..6].copy_from_slice(&size.to_le_bytes());
    out[10..14].copy_from_slice(&(pal_end as u32).to_le_bytes());
    out[26..28].copy_from_slice(&1u16.to_le_bytes());
    Ok(Some(out))
}

/// The `xsize × rows` palette indices Pillow's `BmpRleDecoder` reads from an RLE4 or RLE8
/// stream starting at file offset `at`, in the file's row order (Truncated when the stream
/// gives fewer).
fn rle_pillow(
    b: &[u8],
    at: usize,
    rle4: bool,
    (xsize, rows): (usize, usize),
) -> Result<Vec<u8>, DecodeError> {
    let total = xsize * rows;
    let mut data: Vec<u8> = Vec::new();
    let mut x = 0usize;
    let mut pos = at; // the file position, as Pillow's `fd.tell()`
    let read = |n: usize, pos: &mut usize| -> &[u8] {
        let s = &b[(*pos).min(b.len())..(*pos + n).min(b.len())];
        *pos += n;
        s
    };
    while data.len() < total {
        let (Some(&n), Some(&byte)) = (b.get(pos), b.get(pos + 1)) else {
            break;
        };
        pos += 2;
        if n != 0 {
            // Encoded mode: a run, clipped at the row's end.
            let n = usize::from(n).min(xsize.saturating_sub(x));
            for k in 0..n {
                data.push(match (rle4, k % 2) {
                    (false, _) => byte,
                    (true, 0) => byte >> 4,
                    (true, _) => byte & 15,
                });
            }
            x += n;
            continue;
        }
        match byte {
            0 => {
                // End of line.
                let row_end = data.len().next_multiple_of(xsize.max(1));
                data.resize(row_end, 0);
                x = 0;
            }
            1 => break, // end of bitmap
            2 => {
                let d = read(2, &mut pos);
                if d.len() < 2 {
                    break;
                }
                let skip = usize::from(d[0]) + usize::from(d[1]) * xsize;
                let n = (total - data.len()).min(skip);
                data.resize(data.len() + n, 0);
                x = data.len() % xsize.max(1);
            }
            count => {
                // Absolute mode, padded to a 16-bit boundary of the file position.
                let want = (total - data.len()).min(usize::from(count));
                let nbytes = if rle4 { want.div_ceil(2) } else { want };
                let got = read(nbytes, &mut pos);
                if rle4 {
                    for (i, &v) in got.iter().enumerate() {
                        data.push(v >> 4);
                        if i * 2 + 1 < want {
                            data.push(v & 15);
                        }
                    }
                } else {
                    data.extend_from_slice(got);
                }
                if got.len() < nbytes || data.len() == total {
                    break;
                }
                x += usize::from(count);
                if pos % 2 != 0 {
                    pos += 1;
                }
            }
        }
    }
    if data.len() < total {
        return Err(DecodeError::Truncated);
    }
    Ok(data)
}

/// Whether a BMP with an info header of 40 bytes or more is RLE4 or RLE8 with a negative
/// (top-down) height.
fn bmp_top_down_rle(b: &[u8]) -> bool {
    let le32 = |at: usize| b.get(at..at + 4).map(|v| [v[0], v[1], v[2], v[3]]);
    let dib = le32(14).map(u32::from_le_bytes);
    let height = le32(22).map(i32::from_le_bytes);
    matches!((dib, height), (Some(dib), Some(h)) if dib >= 40 && h < 0)
        && matches!(bmp_header(b), Some((_, 1 | 2)))
}

/// BMP bits per pixel and compression, from the DIB header.
fn bmp_header(b: &[u8]) -> Option<(u16, u32)> {
    let dib = u32::from_le_bytes(b.get(14..18)?.try_into().ok()?);
    if dib == 12 {
        let bits = u16::from_le_bytes(b.get(24..26)?.try_into().ok()?);
        return Some((bits, 0));
    }
    let bits = u16::from_le_bytes(b.get(28..30)?.try_into().ok()?);
    let comp = u32::from_le_bytes(b.get(30..34)?.try_into().ok()?);
    Some((bits, comp))
}

/// The few IFD-0 tags that decide whether `image` gives Pillow's pixels.
#[derive(Debug, Default)]
struct TiffTags {
    compression: Option<u32>,
    photometric: Option<u32>,
}

fn tiff_ifd0(b: &[u8]) -> Option<TiffTags> {
    let le = b.get(0..2)? == b"II";
    let u16_at = |o: usize| -> Option<u16> {
        let s: [u8; 2] = b.get(o..o + 2)?.try_into().ok()?;
        Some(if le {
            u16::from_le_bytes(s)
        } else {
            u16::from_be_bytes(s)
        })
    };
    let u32_at = |o: usize| -> Option<u32> {
        let s: [u8; 4] = b.get(o..o + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    };
    let ifd = u32_at(4)? as usize;
    let n = usize::from(u16_at(ifd)?);
    let mut tags = TiffTags::default();
    for i in 0..n.min(1000) {
        let e = ifd + 2 + 12 * i;
        let tag = u16_at(e)?;
        let typ = u16_at(e + 2)?;
        let val = match typ {
            3 => u32::from(u16_at(e + 8)?),
            4 => u32_at(e + 8)?,
            _ => continue,
        };
        match tag {
            259 => tags.compression = Some(val),
            262 => tags.photometric = Some(val),
            _ => {}
        }
    }
    Some(tags)
}

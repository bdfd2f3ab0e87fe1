//! PNG through the `png` crate (the decoder inside `image`), with Pillow's 16-bit rules.

use std::io::Cursor;

use super::{DecodeError, SourceKind};
use crate::RgbImage;

/// Bytes the PNG decoder may allocate besides the output image (metadata chunks, buffers).
const METADATA_LIMIT: usize = 64 << 20;

fn png_err(e: png::DecodingError) -> DecodeError {
    match e {
        png::DecodingError::IoError(ref io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated
        }
        png::DecodingError::LimitsExceeded => {
            DecodeError::LimitExceeded("PNG decoder memory limit".into())
        }
        other => DecodeError::Corrupt(other.to_string()),
    }
}

/// Width and height from IHDR, without reading further chunks.
pub(crate) fn dimensions(bytes: &[u8]) -> Result<(u32, u32), DecodeError> {
    let mut dec = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: METADATA_LIMIT,
        },
    );
    let info = dec.read_header_info().map_err(png_err)?;
    Ok((info.width, info.height))
}

/// Decode image 0 (the IDAT image) to RGB8 as Pillow's `convert('RGB')` gives.
/// Total length of the IDAT chunks (stops at the first malformed chunk header).
fn idat_bytes(bytes: &[u8]) -> u64 {
    let mut total = 0u64;
    let mut pos = 8usize;
    while let Some(head) = bytes.get(pos..pos + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if &head[4..8] == b"IDAT" {
            total += len as u64;
        }
        pos = match pos.checked_add(12 + len) {
            Some(p) => p,
            None => break,
        };
    }
    total
}

pub(crate) fn decode(bytes: &[u8]) -> Result<(RgbImage, SourceKind), DecodeError> {
    let (w, h) = dimensions(bytes)?;
    let (patched, cut) = pillow_chunk_checks(bytes)?;
    let bytes = patched.as_deref().unwrap_or(bytes);
    // In a file cut inside its image data, data the decoder finds malformed is the cut.
    let png_err = |e: png::DecodingError| match e {
        png::DecodingError::Format(_) if cut => DecodeError::Truncated,
        e => png_err(e),
    };
    let out_bytes = (w as usize).saturating_mul(h as usize).saturating_mul(8);
    let mut opts = png::DecodeOptions::default();
    // Pillow checks the CRC of every chunk before the image data (`pillow_chunk_checks` does
    // that here) and of none from the image data on; zlib checks the image data's Adler-32.
    opts.set_ignore_crc(true);
    opts.set_ignore_adler32(false);
    // Keep text chunks out of memory entirely; iCCP is not used either.
    opts.set_ignore_text_chunk(true);
    opts.set_ignore_iccp_chunk(true);
    let mut dec = png::Decoder::new_with_options(Cursor::new(bytes), opts);
    dec.set_limits(png::Limits {
        bytes: METADATA_LIMIT.saturating_add(out_bytes),
    });
    // EXPAND: palette to RGB(A), low-depth grey to 8 bits (as Pillow's L;1/L;2/L;4 unpackers),
    // tRNS to alpha. 16-bit samples are kept, big-endian.
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().map_err(png_err)?;
    let (orig_ct, orig_depth) = {
        let info = reader.info();
        (info.color_type, info.bit_depth)
    };
    // Deflate cannot expand data more than 1032:1, so IDAT bytes bound the real image size: a
    // header claiming far more pixels than its data can hold is refused before the output
    // buffer is allocated.
    let samples = match orig_ct {
        png::ColorType::Grayscale | png::ColorType::Indexed => 1u64,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
    };
    let row_bytes = (u64::from(w) * samples * orig_depth as u64).div_ceil(8) + 1;
    if row_bytes * u64::from(h) > idat_bytes(bytes).saturating_mul(1040) + 4096 {
        return Err(DecodeError::Truncated);
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| DecodeError::Corrupt("PNG output size overflows".into()))?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(png_err)?;
    let (out_ct, out_depth) = (frame.color_type, frame.bit_depth);
    let stride = frame.line_size;
    let npx = w as usize * h as usize;
    let mut rgb = Vec::with_capacity(npx * 3);
    use png::ColorType as C;
    let sixteen = out_depth == png::BitDepth::Sixteen;
    for y in 0..h as usize {
        let row = &buf[y * stride..y * stride + stride];
        match (out_ct, sixteen) {
            (C::Rgb, false) => rgb.extend_from_slice(&row[..w as usize * 3]),
            (C::Rgba, false) => {
                for p in row.chunks_exact(4).take(w as usize) {
                    rgb.extend_from_slice(&p[..3]);
                }
            }
            (C::Grayscale, false) => {
                for &v in &row[..w as usize] {
                    rgb.extend_from_slice(&[v, v, v]);
                }
            }
            (C::GrayscaleAlpha, false) => {
                for p in row.chunks_exact(2).take(w as usize) {
                    rgb.extend_from_slice(&[p[0], p[0], p[0]]);
                }
            }
            // 16-bit grey (with or without tRNS): Pillow's I;16 → RGB clips to 255.
            (C::Grayscale, true) | (C::GrayscaleAlpha, true) if orig_ct == C::Grayscale => {
                let step = if out_ct == C::Grayscale { 2 } else { 4 };
                for p in row.chunks_exact(step).take(w as usize) {
                    let v = u16::from_be_bytes([p[0], p[1]]).min(255) as u8;
                    rgb.extend_from_slice(&[v, v, v]);
                }
            }
            // 16-bit grey+alpha: Pillow's LA;16B keeps the high byte.
            (C::GrayscaleAlpha, true) => {
                for p in row.chunks_exact(4).take(w as usize) {
                    rgb.extend_from_slice(&[p[0], p[0], p[0]]);
                }
            }
            // 16-bit RGB and RGBA: high byte (tRNS on RGB16 expands to RGBA16).
            (C::Rgb, true) => {
                for p in row.chunks_exact(6).take(w as usize) {
                    rgb.extend_from_slice(&[p[0], p[2], p[4]]);
                }
            }
            (C::Rgba, true) => {
                for p in row.chunks_exact(8).take(w as usize) {
                    rgb.extend_from_slice(&[p[0], p[2], p[4]]);
                }
            }
            (ct, _) => {
                return Err(DecodeError::UnsupportedVariant(format!(
                    "PNG output colour type {ct:?}"
                )));
            }
        }
    }
    // After EXPAND, a tRNS chunk has become an alpha channel, as libpng's
    // png_set_tRNS_to_alpha makes it for the upstream C++ tool (which then refuses the file).
    let channels = match out_ct {
        C::Grayscale => 1,
        C::GrayscaleAlpha => 2,
        C::Rgb | C::Indexed => 3,
        C::Rgba => 4,
    };
    let source = SourceKind {
        channels,
        bit_depth: orig_depth as u8,
        palette: orig_ct == C::Indexed,
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

/// The checks Pillow's chunk handlers make (`PngStream.chunk_*`) that refuse a file, for
/// every chunk it reads: before the image data, and after it until it stops reading (see
/// [`pillow_chunk_checks`]). `ihdr` is the header in force (empty before one). Text limits,
/// IDAT and IEND are handled by the caller.
fn pillow_chunk_rule(
    kind: &[u8],
    s: &[u8],
    ihdr: &[u8],
    seq: &mut Option<u32>,
) -> Result<(), DecodeError> {
    let bad = |msg: &str| Err(DecodeError::Corrupt(format!("broken PNG file ({msg})")));
    let be32 = |at: usize| u32::from_be_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]]);
    // Shortest length each handler accepts.
    let min = match kind {
        b"IHDR" => 13,
        b"gAMA" => 4,
        b"cHRM" => 32,
        b"sRGB" => 1,
        b"pHYs" => 9,
        b"acTL" => 8,
        b"fcTL" => 26,
        b"fdAT" => 4,
        // Pillow's modes "1", "L" and "I;16" (grey) need 2 bytes, "RGB" 6; others none.
        b"tRNS" => match ihdr.get(9) {
            Some(0) => 2,
            Some(2) => 6,
            _ => 0,
        },
        _ => 0,
    };
    if s.len() < min {
        return bad(&format!(
            "truncated {} chunk",
            String::from_utf8_lossy(kind)
        ));
    }
    match kind {
        b"IHDR" if s[11] != 0 => bad("unknown filter category"),
        // The method is the byte after the first NUL: for iCCP the first byte when there is
        // no NUL (Python's `s[s.find(b"\0") + 1]`), for zTXt none (method 0) then.
        b"iCCP" | b"zTXt" => {
            let nul = s.iter().position(|&c| c == 0);
            let method = match nul {
                Some(p) => s.get(p + 1),
                None if kind == b"zTXt" => None,
                None => s.first(),
            };
            match method {
                Some(0) => Ok(()),
                None if kind == b"zTXt" => Ok(()),
                None => bad("iCCP chunk without a compression method"),
                Some(m) => bad(&format!(
                    "unknown compression method {m} in {} chunk",
                    String::from_utf8_lossy(kind)
                )),
            }
        }
        b"fcTL" => {
            let n = be32(0);
            if seq.map_or(n != 0, |q| n.checked_sub(1) != Some(q)) {
                return bad("APNG contains frame sequence errors");
            }
            *seq = Some(n);
            let (w, h) = match ihdr.get(..8) {
                Some(d) => (
                    u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
                    u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
                ),
                None => (0, 0),
            };
            let (fw, fh, fx, fy) = (be32(4), be32(8), be32(12), be32(16));
            if u64::from(fx) + u64::from(fw) > u64::from(w)
                || u64::from(fy) + u64::from(fh) > u64::from(h)
            {
                return bad("APNG contains invalid frames");
            }
            Ok(())
        }
        b"fdAT" => {
            let n = be32(0);
            if seq.is_none_or(|q| n.checked_sub(1) != Some(q)) {
                return bad("APNG contains frame sequence errors");
            }
            *seq = Some(n);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Pillow inflates each zTXt, compressed iTXt and iCCP chunk with a 1 MiB cap and refuses the
/// file when one is larger (`MAX_TEXT_CHUNK`), or when text chunks add up to over 64 MiB
/// (`MAX_TEXT_MEMORY`); data that does not inflate is ignored.
const MAX_TEXT_CHUNK: usize = 1 << 20;
const MAX_TEXT_MEMORY: usize = 64 << 20;

/// Walk the chunks as Pillow reads them, and return a copy of the file for the `png` crate
/// when what it would read differs from what Pillow reads (`None` when it does not):
/// * before the first IDAT, a chunk whose CRC is wrong fails the file (Pillow: "broken PNG
///   file"); from the image data on, CRCs are not checked;
/// * chunks Pillow does not know are skipped, also critical ones (which the `png` crate
///   refuses), and so is a repeated IHDR equal to the first (a different one is refused);
/// * its text-chunk limits apply, so a text bomb is refused, as Pillow refuses it, without
///   inflating more than 1 MiB per chunk;
/// * after the image data (the first run of IDAT chunks) Pillow reads on only until a chunk
///   header is cut, is not a chunk name, or is IEND (or, in an animation, the next frame's
///   fcTL): a file that ends or turns to garbage there is decoded, one that ends inside a
///   chunk's data is refused (Pillow: "Truncated File Read"). The `png` crate gets the file
///   cut after the image data, with an IEND appended, whenever Pillow stopped before one;
/// * a file cut inside an IDAT chunk decodes in Pillow when its rows are complete before the
///   cut: the `png` crate gets that chunk as far as it goes, and the `bool` returned says so
///   (the decoder's complaint about the data is then the truncation).
fn pillow_chunk_checks(b: &[u8]) -> Result<(Option<Vec<u8>>, bool), DecodeError> {
    let mut i = 8;
    let mut text_total = 0usize;
    let mut seen_idat = false;
    let mut ihdr: Option<&[u8]> = None;
    // Byte ranges of the chunks the `png` crate must not see.
    let mut drop: Vec<std::ops::Range<usize>> = Vec::new();
    let mut iend = false;
    // End of the last IDAT chunk's data in the first run of them, and whether that run is over
    // (a chunk that is not IDAT came after it: the rest is what Pillow's `load_end` reads).
    let mut data_end = 0;
    let mut tail = false;
    let mut animated = false;
    let mut actl = 0;
    // The APNG sequence number Pillow checks fcTL and fdAT chunks against.
    let mut seq: Option<u32> = None;
    // Whether Pillow stops reading after the image data before any IEND.
    let mut stops = false;
    // Where an IDAT chunk cut short by the end of the file starts.
    let mut idat_cut = None;
    loop {
        if i + 8 > b.len() {
            // A header cut short (or a CRC after the image data): past the image data,
            // Pillow stops there; before it, the decoder reports the truncation.
            stops = seen_idat;
            break;
        }
        let len = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        let kind = &b[i + 4..i + 8];
        if seen_idat && kind != b"IDAT" {
            tail = true;
        }
        if !kind.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            if tail {
                stops = true;
                break;
            }
            return Err(DecodeError::Corrupt(format!(
                "broken PNG file (chunk {})",
                String::from_utf8_lossy(kind).escape_debug()
            )));
        }
        if tail && (kind == b"IEND" || (kind == b"fcTL" && animated)) {
            iend = true;
            break;
        }
        let Some(data) = b.get(i + 8..(i + 8).saturating_add(len)) else {
            if tail {
                return Err(DecodeError::Truncated);
            }
            if kind == b"IDAT" {
                // Cut inside the image data: Pillow decodes the file when the rows are
                // complete before the cut (the Adler-32 or the last bits of the stream are
                // missing), so the decoder gets the IDAT as far as it goes.
                idat_cut = Some(i);
            }
            break; // another truncated chunk: the decoder reports it
        };
        if !seen_idat && kind != b"IDAT" {
            let Some(crc) = b.get(i + 8 + len..i + 12 + len) else {
                break;
            };
            let mut h = crc32fast::Hasher::new();
            h.update(kind);
            h.update(data);
            if h.finalize().to_be_bytes() != crc {
                return Err(DecodeError::Corrupt(format!(
                    "broken PNG file (bad header checksum in {})",
                    String::from_utf8_lossy(kind)
                )));
            }
        }
        pillow_chunk_rule(kind, data, ihdr.unwrap_or(&[]), &mut seq)?;
        let inflated_len = |z: &[u8]| -> Result<usize, DecodeError> {
            match miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(z, MAX_TEXT_CHUNK) {
                Ok(v) => Ok(v.len()),
                Err(e) if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput => Err(
                    DecodeError::LimitExceeded("PNG text chunk inflates to over 1 MiB".into()),
                ),
                Err(_) => Ok(0),
            }
        };
        let after_nul = |d: &[u8]| d.iter().position(|&c| c == 0).map(|p| p + 1);
        match kind {
            b"tEXt" => text_total += len,
            b"zTXt" => {
                if let Some(p) = after_nul(data) {
                    text_total += inflated_len(data.get(p + 1..).unwrap_or(&[]))?;
                }
            }
            b"iCCP" => {
                if let Some(p) = after_nul(data) {
                    inflated_len(data.get(p + 1..).unwrap_or(&[]))?;
                }
            }
            b"iTXt" => {
                if let Some(p) = after_nul(data) {
                    let compressed = data.get(p) == Some(&1);
                    let rest = data.get(p + 2..).unwrap_or(&[]);
                    // language tag and translated keyword, each NUL-terminated
                    let text = after_nul(rest)
                        .and_then(|q| after_nul(&rest[q..]).map(|r| &rest[q + r..]))
                        .unwrap_or(&[]);
                    text_total += if compressed {
                        inflated_len(text)?
                    } else {
                        text.len()
                    };
                }
            }
            b"IHDR" => match ihdr {
                None => ihdr = Some(data),
                // After the image data Pillow reads a new header without using it.
                Some(first) if first == data || tail => drop.push(i..i + 12 + len),
                Some(_) => {
                    return Err(DecodeError::UnsupportedVariant(
                        "PNG with two different IHDR chunks".into(),
                    ));
                }
            },
            b"IDAT" if !tail => {
                seen_idat = true;
                data_end = i + 8 + len;
            }
            // A second run of image data: Pillow skips it.
            b"IDAT" => drop.push(i..i + 12 + len),
            // Pillow's `is_animated`: one acTL before the image data, for 2 to 2³¹ frames.
            b"acTL" if !seen_idat => {
                let n = data
                    .get(..4)
                    .map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]));
                actl += 1;
                animated = actl == 1 && n.is_some_and(|n| (2..=0x8000_0000).contains(&n));
            }
            b"IEND" => {
                iend = true;
                break;
            }
            b"PLTE" => {}
            k if k[0].is_ascii_uppercase() => drop.push(i..i + 12 + len),
            _ => {}
        }
        if text_total > MAX_TEXT_MEMORY {
            return Err(DecodeError::LimitExceeded(
                "PNG text chunks exceed 64 MiB".into(),
            ));
        }
        i += 12 + len;
    }
    debug_assert!(!stops || !iend);
    const IEND: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];
    if let Some(at) = idat_cut {
        // That IDAT with the length it has, a CRC (not checked) and an IEND.
        let mut v = super::without(&b[..at], &drop);
        let have = b.len() - (at + 8);
        v.extend_from_slice(&(have as u32).to_be_bytes());
        v.extend_from_slice(&b[at + 4..]);
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(&IEND);
        return Ok((Some(v), true));
    }
    if drop.is_empty() && !stops {
        return Ok((None, false));
    }
    if !stops {
        return Ok((Some(super::without(b, &drop)), false));
    }
    // The image data, its last CRC (not checked from the image data on) and an IEND.
    let mut v = super::without(&b[..data_end], &drop);
    v.extend_from_slice(&[0; 4]);
    v.extend_from_slice(&IEND);
    Ok((Some(v), false))
}

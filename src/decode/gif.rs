//! GIF frame 0 through the `gif` crate, composed onto the canvas the way Pillow does it.
//!
//! Pillow's rule for frame 0 (GifImagePlugin): the canvas is the logical screen, grown to hold
//! the frame if the frame reaches past it; it starts as palette index 0, or as the frame's
//! transparent index when it has one (the background colour is not used); the frame's indices
//! are pasted at its offset; then the palette (local, else global) maps indices to RGB. Without
//! any palette the image is grey, the index being the grey level.

use std::io::Cursor;
use std::num::NonZeroU64;

use super::{DecodeError, SourceKind};
use crate::RgbImage;

fn gif_err(e: gif::DecodingError) -> DecodeError {
    match e {
        gif::DecodingError::Io(ref io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Truncated
        }
        other => {
            let msg = other.to_string();
            let lower = msg.to_ascii_lowercase();
            if lower.contains("eof") || lower.contains("end of file") {
                DecodeError::Truncated
            } else {
                DecodeError::Corrupt(msg)
            }
        }
    }
}

fn options(memory_limit: u64) -> gif::DecodeOptions {
    let mut o = gif::DecodeOptions::new();
    o.set_color_output(gif::ColorOutput::Indexed);
    o.set_memory_limit(gif::MemoryLimit::Bytes(
        NonZeroU64::new(memory_limit.max(1)).expect("nonzero"),
    ));
    o.check_frame_consistency(false);
    o
}

/// Frame 0's blocks walked as Pillow walks them (GifImagePlugin `_seek`): a byte that starts no
/// block (not `!`, `,` or `;`) is skipped, and so is an extension whose label Pillow does not
/// know, sub-blocks and all; the `gif` crate refuses both.
struct Blocks {
    /// What the crate must not see, in file order, all before frame 0.
    skip: Vec<std::ops::Range<usize>>,
    /// The offset of frame 0's descriptor (`,`), when the walk met one.
    frame: Option<usize>,
}

/// Walks the blocks before frame 0 (see [`Blocks`]). `None` when the file ends inside the
/// walk: such a file is left to the crate as it is, which reports it.
fn walk_blocks(b: &[u8]) -> Option<Blocks> {
    let flags = *b.get(10)?;
    let mut i = 13 + colour_table_len(flags);
    let mut skip: Vec<std::ops::Range<usize>> = Vec::new();
    let mut frame = None;
    while let Some(&c) = b.get(i) {
        match c {
            b';' => break,
            b',' => {
                frame = Some(i);
                break;
            }
            b'!' => {
                let label = *b.get(i + 1)?;
                let mut j = i + 2;
                loop {
                    let n = usize::from(*b.get(j)?);
                    j += 1 + n;
                    if n == 0 {
                        break;
                    }
                }
                // Plain text, graphic control, comment, application: known to both.
                if !matches!(label, 0x01 | 0xF9 | 0xFE | 0xFF) {
                    skip.push(i..j);
                }
                i = j;
            }
            _ => {
                skip.push(i..i + 1);
                i += 1;
            }
        }
    }
    Some(Blocks { skip, frame })
}

/// The size in bytes of the colour table that a packed-fields byte announces.
fn colour_table_len(flags: u8) -> usize {
    if flags & 0x80 != 0 {
        3 << ((flags & 7) + 1)
    } else {
        0
    }
}

/// Where frame 0's image data, its descriptor at `frame`, is cut by the end of the file inside
/// a sub-block: the offset of that sub-block's length byte. Pillow's decoder takes only whole
/// sub-blocks: such a file decodes there when the whole sub-blocks before the cut complete the
/// frame, and is truncated otherwise.
fn cut_sub_block(b: &[u8], frame: usize) -> Option<usize> {
    // Descriptor, local table, LZW minimum code size, then the sub-blocks.
    let mut i = frame + 10 + colour_table_len(*b.get(frame + 9)?) + 1;
    while let Some(&n) = b.get(i) {
        if n == 0 {
            return None;
        }
        if i + 1 + usize::from(n) > b.len() {
            return Some(i);
        }
        i += 1 + usize::from(n);
    }
    None
}

impl Blocks {
    /// `b` without what Pillow skips, or `None` when there is nothing to leave out.
    fn copy(&self, b: &[u8]) -> Option<Vec<u8>> {
        (!self.skip.is_empty()).then(|| super::without(b, &self.skip))
    }

    /// Where frame 0's data is cut inside a sub-block ([`cut_sub_block`]), as an offset in
    /// [`Blocks::copy`]'s bytes (or `b` itself when there is no copy).
    fn cut(&self, b: &[u8]) -> Option<usize> {
        let skipped: usize = self.skip.iter().map(std::ops::Range::len).sum();
        // Every skipped range lies before the frame, so before the cut.
        self.frame
            .and_then(|f| cut_sub_block(b, f))
            .map(|c| c - skipped)
    }
}

/// The canvas size Pillow uses for frame 0: the screen grown to hold the first frame.
pub(crate) fn dimensions(bytes: &[u8]) -> Result<(u32, u32), DecodeError> {
    let norm = walk_blocks(bytes).and_then(|w| w.copy(bytes));
    canvas(norm.as_deref().unwrap_or(bytes))
}

/// [`dimensions`] of bytes [`Blocks::copy`] has already normalised.
fn canvas(bytes: &[u8]) -> Result<(u32, u32), DecodeError> {
    let mut dec = options(1 << 20)
        .read_info(Cursor::new(bytes))
        .map_err(gif_err)?;
    let (sw, sh) = (u32::from(dec.width()), u32::from(dec.height()));
    let frame = dec
        .next_frame_info()
        .map_err(gif_err)?
        .ok_or_else(|| DecodeError::Corrupt("GIF has no frames".into()))?;
    let fw = u32::from(frame.left) + u32::from(frame.width);
    let fh = u32::from(frame.top) + u32::from(frame.height);
    Ok((sw.max(fw), sh.max(fh)))
}

/// Decode frame 0 to RGB8 as Pillow's `convert('RGB')` gives.
pub(crate) fn decode(bytes: &[u8]) -> Result<(RgbImage, SourceKind), DecodeError> {
    let blocks = walk_blocks(bytes);
    let norm = blocks.as_ref().and_then(|w| w.copy(bytes));
    let cut = blocks.as_ref().and_then(|w| w.cut(bytes));
    let bytes = norm.as_deref().unwrap_or(bytes);
    let bytes = &bytes[..cut.unwrap_or(bytes.len())];
    // In a cut file, a frame the whole sub-blocks do not complete is the truncation.
    let gif_err = |e| match cut {
        Some(_) => DecodeError::Truncated,
        None => gif_err(e),
    };
    let (w, h) = canvas(bytes)?;
    let npx = w as usize * h as usize;
    let mut dec = options((npx as u64).saturating_mul(2).saturating_add(1 << 20))
        .read_info(Cursor::new(bytes))
        .map_err(gif_err)?;
    let global = dec.global_palette().map(<[u8]>::to_vec);
    let (left, top, fw, fh, transparent, local) = {
        let f = dec
            .next_frame_info()
            .map_err(gif_err)?
            .ok_or_else(|| DecodeError::Corrupt("GIF has no frames".into()))?;
        (
            usize::from(f.left),
            usize::from(f.top),
            usize::from(f.width),
            usize::from(f.height),
            f.transparent,
            f.palette.clone(),
        )
    };
    let mut frame = vec![0u8; fw * fh];
    dec.read_into_buffer(&mut frame).map_err(gif_err)?;
    let mut canvas = vec![transparent.unwrap_or(0); npx];
    if fw > 0 {
        for (y, src) in frame.chunks_exact(fw).enumerate() {
            let start = (top + y) * w as usize + left;
            canvas[start..start + fw].copy_from_slice(src);
        }
    }
    let palette = local.or(global);
    // Without a palette the index is the grey level; with one, indices the palette does not
    // define are black (as in Pillow).
    let mut lut = [[0u8; 3]; 256];
    if palette.is_none() {
        for (i, e) in lut.iter_mut().enumerate() {
            *e = [i as u8; 3];
        }
    }
    if let Some(p) = &palette {
        for (e, c) in lut.iter_mut().zip(p.chunks_exact(3)) {
            e.copy_from_slice(c);
        }
    }
    let mut rgb = Vec::with_capacity(npx * 3);
    for &i in &canvas {
        rgb.extend_from_slice(&lut[usize::from(i)]);
    }
    let source = SourceKind {
        channels: if palette.is_some() { 3 } else { 1 },
        bit_depth: 8,
        palette: palette.is_some(),
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

//! The frames after frame 0 of an animated GIF, PNG (APNG) or WebP, for `vigil scan`'s
//! frame matching. Frame 0 stays the file's hash (policy `pillow-rgb/1`, the reference's
//! rule, decoded by this module's siblings); later frames are composited on the canvas by the
//! `image` crate (its disposal and blending rules, alpha dropped), which is not pinned to
//! Pillow: they are an extra place to look for known images, not reference hashes.

use std::io::Cursor;
use std::time::Instant;

use image::{AnimationDecoder, ImageDecoder, Limits};

use super::ImageFormat;
use crate::RgbImage;

/// Largest canvas whose frames are decoded (pixels): each frame is a full RGBA canvas.
pub const MAX_CANVAS_PIXELS: u64 = 1 << 24;

/// How the frames ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnimationEnd {
    /// Frames decoded, frame 0 included.
    pub frames: u64,
    /// `frames` or `time` when a budget stopped decoding early.
    pub truncated: Option<&'static str>,
    /// A frame after frame 0 could not be decoded (the frames before it were delivered).
    pub error: Option<String>,
}

/// Whether `bytes` (of format `format`) is animated: more than a still image to look at.
pub fn is_animated(bytes: &[u8], format: ImageFormat) -> bool {
    let c = || Cursor::new(bytes);
    match format {
        // A GIF is read frame by frame; a single-frame GIF simply yields no frame after 0.
        ImageFormat::Gif => true,
        ImageFormat::Png => image::codecs::png::PngDecoder::new(c())
            .and_then(|d| d.is_apng())
            .unwrap_or(false),
        ImageFormat::WebP => image::codecs::webp::WebPDecoder::new(c())
            .map(|d| d.has_animation())
            .unwrap_or(false),
        _ => false,
    }
}

/// Decode the frames of an animation and give each frame after frame 0 to `on_frame` (its
/// index and RGB pixels). Stops after `max_frames` frames or at `deadline` (truncated).
/// `None` when the file is not an animation this handles.
pub fn for_each_frame(
    bytes: &[u8],
    format: ImageFormat,
    max_frames: u64,
    deadline: Instant,
    mut on_frame: impl FnMut(u64, &RgbImage),
) -> Option<AnimationEnd> {
    if !is_animated(bytes, format) {
        return None;
    }
    let mut end = AnimationEnd::default();
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_CANVAS_PIXELS * 4 * 4);
    let frames = (|| -> image::ImageResult<image::Frames<'_>> {
        let c = Cursor::new(bytes);
        Ok(match format {
            ImageFormat::Gif => {
                let mut d = image::codecs::gif::GifDecoder::new(c)?;
                d.set_limits(limits)?;
                d.into_frames()
            }
            ImageFormat::Png => {
                let mut d = image::codecs::png::PngDecoder::new(c)?;
                d.set_limits(limits)?;
                d.apng()?.into_frames()
            }
            _ => {
                let mut d = image::codecs::webp::WebPDecoder::new(c)?;
                d.set_limits(limits)?;
                d.into_frames()
            }
        })
    })();
    let frames = match frames {
        Ok(f) => f,
        Err(e) => {
            end.error = Some(e.to_string());
            return Some(end);
        }
    };
    let mut rgb = RgbImage {
        width: 0,
        height: 0,
        data: Vec::new(),
    };
    for frame in frames {
        if end.frames >= max_frames {
            end.truncated = Some("frames");
            break;
        }
        if Instant::now() >= deadline {
            end.truncated = Some("time");
            break;
        }
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                end.error = Some(format!("frame {}: {e}", end.frames));
                break;
            }
        };
        let index = end.frames;
        end.frames += 1;
        if index == 0 {
            continue;
        }
        let buf = frame.buffer();
        rgb.width = buf.width();
        rgb.height = buf.height();
        rgb.data.clear();
        rgb.data.extend(
            buf.as_raw()
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]]),
        );
        on_frame(index, &rgb);
    }
    Some(end)
}

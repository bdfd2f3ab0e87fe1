//! Deterministic synthetic RGB images from an integer formula: the same formula as the
//! decoder-independent golden vectors in ThreatExchange's derived data
//! (`tests/data/threatexchange/derived/synthetic/`), so tests and benchmarks can regenerate
//! pixels without storing them.

use crate::RgbImage;

/// A synthetic pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Independent noise per pixel and channel.
    Noise,
    /// An 8×8 grid of coloured blocks plus a little noise.
    Blocks,
    /// Smooth gradients plus a little noise.
    Gradient,
    /// Every sample 128.
    Flat,
}

impl Pattern {
    /// Parse the pattern names used in `synthetic-expected.csv`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "noise" => Pattern::Noise,
            "blocks" => Pattern::Blocks,
            "gradient" => Pattern::Gradient,
            "flat" => Pattern::Flat,
            _ => return None,
        })
    }
}

/// The integer hash behind the noise.
pub const fn mix32(mut v: u32) -> u32 {
    v ^= v >> 16;
    v = v.wrapping_mul(0x7feb_352d);
    v ^= v >> 15;
    v = v.wrapping_mul(0x846c_a68b);
    v ^= v >> 16;
    v
}

/// Generate a `width`×`height` image of `pattern` with `seed`.
pub fn image(pattern: Pattern, width: u32, height: u32, seed: u32) -> RgbImage {
    let (w, h) = (i64::from(width), i64::from(height));
    let mut data = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            for c in 0..3u32 {
                let n = mix32(mix32(mix32(seed.wrapping_mul(4).wrapping_add(c)) ^ y) ^ x);
                let (xi, yi, ci) = (i64::from(x), i64::from(y), i64::from(c));
                let v: i64 = match pattern {
                    Pattern::Noise => i64::from(n & 255),
                    Pattern::Blocks => {
                        ((xi * 8 / w) * 37 + (yi * 8 / h) * 91 + ci * 53) % 256 + i64::from(n & 31)
                            - 16
                    }
                    Pattern::Gradient => {
                        let base = match c {
                            0 => xi * 255 / (w - 1).max(1),
                            1 => yi * 255 / (h - 1).max(1),
                            _ => (xi + yi) * 255 / (w + h - 2).max(1),
                        };
                        base + i64::from(n & 7) - 4
                    }
                    Pattern::Flat => 128,
                };
                data.push(v.clamp(0, 255) as u8);
            }
        }
    }
    RgbImage {
        width,
        height,
        data,
    }
}

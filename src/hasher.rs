//! The high-level hashing API: a file, encoded bytes, or pixels already in memory.
//!
//! This is what the CLI and embedders call. It joins decoding (policy `pillow-rgb/1`), the
//! optional `cli512/1` pre-processing and the PDQ / pHash algorithms; per-file errors carry
//! the path when there is one and never abort a batch.

use std::path::{Path, PathBuf};

use crate::decode::{self, DecodeError, DecodeOptions, Decoded, ImageFormat};
use crate::engine::Engine;
use crate::pdq::{self, PdqHash, PdqOutput};
use crate::phash::{self, PHash};
use crate::scan::{self, OpenError};
use crate::{ImageView, PixelLayout, RgbImage};

/// Which algorithms to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Algorithms {
    /// PDQ.
    pub pdq: bool,
    /// pHash (imagehash flavour).
    pub phash: bool,
}

/// Pre-processing convention for PDQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compat {
    /// Full resolution: the reference (`pdq_ref_hash`), what pip pdqhash and
    /// python-threatexchange produce.
    #[default]
    Full,
    /// The upstream C++ command-line tool: images with a side over 512 are squashed to exactly
    /// 512×512 by nearest neighbour first, grey images take the grey luma path, and files that
    /// tool cannot hash (alpha, CMYK, 16-bit, WebP, GIF, TIFF) are not applicable.
    Cli512,
}

impl Compat {
    /// The decoding-policy name recorded next to hashes made this way.
    pub fn policy(self, exif_rotate: bool) -> String {
        let base = match self {
            Compat::Full => decode::POLICY,
            Compat::Cli512 => "cli512/1",
        };
        if exif_rotate {
            format!("{base}+exif")
        } else {
            base.to_owned()
        }
    }
}

/// Options for hashing.
#[derive(Debug, Clone)]
pub struct HashOptions {
    /// Algorithms to run.
    pub algorithms: Algorithms,
    /// Compute the 8 dihedral PDQ hashes too.
    pub dihedral: bool,
    /// Pre-processing convention for PDQ.
    pub compat: Compat,
    /// Decoder options (pixel limit, EXIF rotation).
    pub decode: DecodeOptions,
}

impl Default for HashOptions {
    fn default() -> Self {
        Self {
            algorithms: Algorithms {
                pdq: true,
                phash: false,
            },
            dihedral: false,
            compat: Compat::Full,
            decode: DecodeOptions::default(),
        }
    }
}

/// PDQ result for one image.
pub type PdqResult = PdqOutput;

/// Hashes of one image.
#[derive(Debug, Clone)]
pub struct FileHashes {
    /// Width as decoded (before any compat squash).
    pub width: u32,
    /// Height as decoded.
    pub height: u32,
    /// The container format, when the input was encoded.
    pub format: Option<ImageFormat>,
    /// PDQ, when asked for and applicable.
    pub pdq: Option<PdqResult>,
    /// Why PDQ was not computed although asked for (`--compat cli512` on a file the upstream
    /// tool refuses).
    pub pdq_not_applicable: Option<&'static str>,
    /// The 8 dihedral PDQ hashes, when asked for (order of [`pdq::DIHEDRAL_NAMES`]).
    pub dihedral: Option<[PdqHash; 8]>,
    /// pHash, when asked for.
    pub phash: Option<PHash>,
}

/// Why a file could not be hashed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The file could not be opened or read, or is not a regular file.
    #[error("{path}: {source}")]
    Open {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: OpenError,
    },
    /// The bytes could not be decoded.
    #[error("{}{source}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Decode {
        /// The path, when hashing a file.
        path: Option<PathBuf>,
        /// The cause.
        #[source]
        source: DecodeError,
    },
}

impl HashError {
    /// The cause without the path, for records that carry the path in a column of their own.
    pub fn reason(&self) -> String {
        match self {
            HashError::Open { source, .. } => source.to_string(),
            HashError::Decode { source, .. } => source.to_string(),
        }
    }

    /// Whether the input is something vigil deliberately does not hash (not a regular file, a
    /// recognised but unsupported format) rather than a failure.
    pub fn is_skip(&self) -> bool {
        match self {
            HashError::Open { source, .. } => source.is_skip(),
            HashError::Decode { source, .. } => matches!(source, DecodeError::Unsupported(_)),
        }
    }

    /// Whether the bytes are not an image at all.
    pub fn is_not_an_image(&self) -> bool {
        matches!(
            self,
            HashError::Decode {
                source: DecodeError::NotAnImage,
                ..
            }
        )
    }
}

/// Hash pixels already in memory (RGB8 or grey, any stride). No decoder is involved, so
/// `opts.compat` and `opts.decode` do not apply; grey input takes upstream's grey luma path.
pub fn hash_pixels(view: &ImageView<'_>, opts: &HashOptions) -> FileHashes {
    let (pdq, dihedral) = match (opts.algorithms.pdq, opts.dihedral) {
        (false, _) => (None, None),
        (true, false) => (Some(pdq::hash(view)), None),
        (true, true) => {
            let d = pdq::hash_dihedral(view);
            let out = PdqOutput {
                hash: d.hashes[0],
                quality: d.quality,
            };
            (Some(out), Some(d.hashes))
        }
    };
    FileHashes {
        width: view.width(),
        height: view.height(),
        format: None,
        pdq,
        pdq_not_applicable: None,
        dihedral,
        phash: opts.algorithms.phash.then(|| phash::hash(view)),
    }
}

/// What PDQ hashes for one decoded image under the options' compat convention.
enum PdqInput<'a> {
    /// The decoded pixels as they are.
    Full(&'a RgbImage),
    /// `cli512`: squashed to 512×512 and/or reduced to the grey channel (owned pixels).
    Owned {
        data: Vec<u8>,
        width: u32,
        height: u32,
        grey: bool,
    },
    /// Not applicable under `cli512` (the upstream tool refuses the file), with the reason.
    NotApplicable(&'static str),
    /// PDQ not asked for.
    Skip,
}

impl<'a> PdqInput<'a> {
    fn new(decoded: &'a Decoded, opts: &HashOptions) -> Self {
        if !opts.algorithms.pdq {
            return PdqInput::Skip;
        }
        let rgb = &decoded.rgb;
        match opts.compat {
            Compat::Full => PdqInput::Full(rgb),
            Compat::Cli512 => {
                if let Some(why) = cli512_refusal(decoded) {
                    return PdqInput::NotApplicable(why);
                }
                let squashed = squash512(rgb);
                let img = squashed.as_ref().unwrap_or(rgb);
                let grey = decoded.source.channels == 1;
                match (squashed.is_some(), grey) {
                    (false, false) => PdqInput::Full(rgb),
                    (_, true) => PdqInput::Owned {
                        data: img.data.iter().step_by(3).copied().collect(),
                        width: img.width,
                        height: img.height,
                        grey: true,
                    },
                    (true, false) => PdqInput::Owned {
                        data: img.data.clone(),
                        width: img.width,
                        height: img.height,
                        grey: false,
                    },
                }
            }
        }
    }

    fn view(&self) -> Option<ImageView<'_>> {
        match self {
            PdqInput::Full(rgb) => Some(rgb.view()),
            PdqInput::Owned {
                data,
                width,
                height,
                grey,
            } => {
                let (layout, bpp) = if *grey {
                    (PixelLayout::Luma8, 1)
                } else {
                    (PixelLayout::Rgb8, 3)
                };
                Some(
                    ImageView::new(data, *width, *height, *width as usize * bpp, layout)
                        .expect("buffer sized from the image"),
                )
            }
            PdqInput::NotApplicable(_) | PdqInput::Skip => None,
        }
    }
}

/// Hash decoded pixels with the options' compat convention.
pub fn hash_decoded(decoded: &Decoded, opts: &HashOptions) -> FileHashes {
    hash_decoded_impl(&[decoded], opts, None).remove(0)
}

/// [`hash_decoded`] with PDQ and pHash computed by `engine` (GPU, CPU or scalar backend; on a
/// GPU engine pHash's resize runs on the GPU and its DCT on the CPU, see
/// [`Engine::phash_batch`]).
pub fn hash_decoded_with(decoded: &Decoded, opts: &HashOptions, engine: &Engine) -> FileHashes {
    hash_decoded_impl(&[decoded], opts, Some(engine)).remove(0)
}

/// Hash many decoded images at once: one [`Engine`] batch for PDQ and one for pHash, so a GPU
/// engine sees the whole batch. Results are in input order and equal to hashing each image
/// with [`hash_decoded_with`].
pub fn hash_decoded_batch(
    decoded: &[&Decoded],
    opts: &HashOptions,
    engine: &Engine,
) -> Vec<FileHashes> {
    hash_decoded_impl(decoded, opts, Some(engine))
}

fn hash_decoded_impl(
    decoded: &[&Decoded],
    opts: &HashOptions,
    engine: Option<&Engine>,
) -> Vec<FileHashes> {
    let inputs: Vec<PdqInput<'_>> = decoded.iter().map(|d| PdqInput::new(d, opts)).collect();
    let views: Vec<ImageView<'_>> = inputs.iter().filter_map(PdqInput::view).collect();
    // PDQ for the applicable images, in order: (hash+quality, dihedral hashes).
    let mut pdq_results: std::vec::IntoIter<(Option<PdqOutput>, Option<[PdqHash; 8]>)> =
        if opts.dihedral {
            let all: Vec<_> = match engine {
                Some(e) => e
                    .hash_batch_dihedral(&views)
                    .into_iter()
                    .map(Result::ok)
                    .collect(),
                None => views.iter().map(|v| Some(pdq::hash_dihedral(v))).collect(),
            };
            all.into_iter()
                .map(|d| match d {
                    Some(d) => (
                        Some(PdqOutput {
                            hash: d.hashes[0],
                            quality: d.quality,
                        }),
                        Some(d.hashes),
                    ),
                    None => (None, None),
                })
                .collect::<Vec<_>>()
                .into_iter()
        } else {
            let all: Vec<_> = match engine {
                Some(e) => e.hash_batch(&views).into_iter().map(Result::ok).collect(),
                None => views.iter().map(|v| Some(pdq::hash(v))).collect(),
            };
            all.into_iter()
                .map(|h| (h, None))
                .collect::<Vec<_>>()
                .into_iter()
        };
    let mut phashes = if opts.algorithms.phash {
        let rgb_views: Vec<ImageView<'_>> = decoded.iter().map(|d| d.rgb.view()).collect();
        let hashes: Vec<PHash> = match engine {
            Some(e) => e
                .phash_batch(&rgb_views)
                .into_iter()
                .zip(&rgb_views)
                .map(|(r, v)| r.unwrap_or_else(|_| phash::hash(v)))
                .collect(),
            None => rgb_views.iter().map(phash::hash).collect(),
        };
        hashes.into_iter().map(Some).collect::<Vec<_>>().into_iter()
    } else {
        vec![None; decoded.len()].into_iter()
    };
    decoded
        .iter()
        .zip(&inputs)
        .map(|(d, input)| {
            let mut out = FileHashes {
                width: d.rgb.width,
                height: d.rgb.height,
                format: Some(d.format),
                pdq: None,
                pdq_not_applicable: None,
                dihedral: None,
                phash: phashes.next().flatten(),
            };
            match input {
                PdqInput::Skip => {}
                PdqInput::NotApplicable(why) => out.pdq_not_applicable = Some(why),
                PdqInput::Full(_) | PdqInput::Owned { .. } => {
                    (out.pdq, out.dihedral) = pdq_results.next().unwrap_or((None, None));
                }
            }
            out
        })
        .collect()
}

/// Why the upstream C++ CLI (CImg decode) would not hash this file, if it would not.
fn cli512_refusal(d: &Decoded) -> Option<&'static str> {
    match d.format {
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Bmp => {}
        _ => return Some("n/a: the upstream CLI cannot decode this format"),
    }
    if d.source.bit_depth > 8 {
        return Some("n/a: the upstream CLI cannot decode 16-bit images");
    }
    if d.source.cmyk || d.source.channels == 2 || d.source.channels == 4 {
        return Some("n/a: the upstream CLI exits on 2- and 4-channel images");
    }
    None
}

/// CImg's nearest-neighbour `resize(512, 512)`: source index `floor(x * W / 512)`, aspect not
/// kept; only when a side exceeds 512.
fn squash512(img: &RgbImage) -> Option<RgbImage> {
    const N: usize = 512;
    let (w, h) = (img.width as usize, img.height as usize);
    if w <= N && h <= N {
        return None;
    }
    let mut data = Vec::with_capacity(N * N * 3);
    for y in 0..N {
        let sy = y * h / N;
        for x in 0..N {
            let sx = x * w / N;
            data.extend_from_slice(&img.data[(sy * w + sx) * 3..][..3]);
        }
    }
    Some(RgbImage {
        width: N as u32,
        height: N as u32,
        data,
    })
}

/// Hash encoded image bytes.
pub fn hash_bytes(bytes: &[u8], opts: &HashOptions) -> Result<FileHashes, HashError> {
    let decoded = decode::decode(bytes, &opts.decode)
        .map_err(|source| HashError::Decode { path: None, source })?;
    Ok(hash_decoded(&decoded, opts))
}

/// Hash a file, opened as conventions.md requires (no link following, no FIFO reads).
pub fn hash_file(path: &Path, opts: &HashOptions) -> Result<FileHashes, HashError> {
    let read = scan::read_input(path, |head| decode::sniff(head).is_some()).map_err(|source| {
        HashError::Open {
            path: path.to_owned(),
            source,
        }
    })?;
    let with_path = |source| HashError::Decode {
        path: Some(path.to_owned()),
        source,
    };
    if !read.complete {
        return Err(with_path(DecodeError::NotAnImage));
    }
    let decoded = decode::decode(&read.bytes, &opts.decode).map_err(with_path)?;
    Ok(hash_decoded(&decoded, opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squash_picks_floor_indices() {
        let w = 1030u32;
        let data: Vec<u8> = (0..w)
            .flat_map(|x| [(x % 256) as u8, (x / 256) as u8, 0])
            .collect();
        let img = RgbImage {
            width: w,
            height: 1,
            data,
        };
        let s = squash512(&img).unwrap();
        assert_eq!((s.width, s.height), (512, 512));
        let idx = |x: usize| u32::from(s.data[x * 3]) + 256 * u32::from(s.data[x * 3 + 1]);
        assert_eq!(idx(1), 2); // floor(1 * 1030 / 512)
        assert_eq!(idx(511), 1027);
        assert!(
            squash512(&RgbImage {
                width: 512,
                height: 512,
                data: vec![0; 512 * 512 * 3]
            })
            .is_none()
        );
    }
}

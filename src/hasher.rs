//! The high-level hashing API: a file, encoded bytes, or pixels in memory. (Scaffold.)

use std::path::Path;

use crate::decode::{self, DecodeOptions};
use crate::pdq::{self, PdqOutput};
use crate::phash::{self, PHash};
use crate::{ImageView, RgbImage};

/// Which algorithms to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Algorithms {
    /// PDQ.
    pub pdq: bool,
    /// pHash (imagehash flavour).
    pub phash: bool,
}

/// Pre-processing convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compat {
    /// Full resolution (the reference, policy `pillow-rgb/1`).
    #[default]
    Full,
    /// The upstream C++ CLI: squash to 512×512 when a side exceeds 512 (policy `cli512/1`).
    Cli512,
}

/// Options for hashing.
#[derive(Debug, Clone)]
pub struct HashOptions {
    /// Algorithms to run.
    pub algorithms: Algorithms,
    /// Compute the 8 dihedral PDQ hashes too.
    pub dihedral: bool,
    /// Pre-processing convention.
    pub compat: Compat,
    /// Decoder options.
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

/// Hashes of one file.
#[derive(Debug, Clone)]
pub struct FileHashes {
    /// Width as decoded.
    pub width: u32,
    /// Height as decoded.
    pub height: u32,
    /// PDQ, when asked for.
    pub pdq: Option<PdqResult>,
    /// pHash, when asked for.
    pub phash: Option<PHash>,
}

/// Why a file could not be hashed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Decoding failed.
    #[error("{0}")]
    Decode(#[from] decode::DecodeError),
}

/// Hash pixels in memory.
pub fn hash_rgb(view: &ImageView<'_>, opts: &HashOptions) -> FileHashes {
    FileHashes {
        width: view.width(),
        height: view.height(),
        pdq: opts.algorithms.pdq.then(|| pdq::hash(view)),
        phash: opts.algorithms.phash.then(|| phash::hash(view)),
    }
}

/// Hash encoded image bytes.
pub fn hash_bytes(bytes: &[u8], opts: &HashOptions) -> Result<FileHashes, HashError> {
    let decoded = decode::decode(bytes, &opts.decode)?;
    let img: &RgbImage = &decoded.rgb;
    Ok(hash_rgb(&img.view(), opts))
}

/// Hash a file.
pub fn hash_file(path: &Path, opts: &HashOptions) -> Result<FileHashes, HashError> {
    let bytes = std::fs::read(path).map_err(|source| HashError::Io {
        path: path.to_owned(),
        source,
    })?;
    hash_bytes(&bytes, opts)
}

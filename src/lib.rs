//! vigil: perceptual hashing (PDQ, pHash) for finding known abuse imagery.
//!
//! The data flow is decode → luma → resize → DCT → bits → index → report; see
//! `ARCHITECTURE.md`. This crate root re-exports the types an embedder needs:
//!
//! ```no_run
//! use vigil::{hash_file, HashOptions};
//! let out = hash_file("photo.jpg".as_ref(), &HashOptions::default()).unwrap();
//! println!("{} {}", out.pdq.unwrap().hash, out.pdq.unwrap().quality);
//! ```
//!
//! Hashing pixels already in memory needs no decoder:
//!
//! ```
//! use vigil::{ImageView, pdq};
//! let rgb = vec![128u8; 64 * 64 * 3];
//! let view = ImageView::rgb8(&rgb, 64, 64, 64 * 3).unwrap();
//! let h = pdq::hash(&view);
//! assert_eq!(h.quality, 0); // a flat image has no structure
//! ```

pub mod check;
pub mod decode;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod gpu;
mod hasher;
pub mod index;
pub mod pdq;
pub mod phash;
mod pixels;
pub mod scan;
pub mod simd;
pub mod synth;
pub mod video;

/// The git commit this build came from, as provenance records it (conventions.md): 40 hex
/// digits; `<commit>-dirty-<12 hex digits>` when the sources differed from the commit (the
/// digits a digest of the changes, see `build.rs`); `unknown` when built without git.
pub const GIT_COMMIT: &str = env!("VIGIL_GIT_COMMIT");

pub use engine::{Backend, Counters, Engine, EngineError};
pub use hasher::{
    Algorithms, Compat, FileHashes, HashError, HashOptions, PdqResult, hash_bytes, hash_decoded,
    hash_decoded_batch, hash_decoded_with, hash_file, hash_pixels,
};
pub use pdq::PdqHash;
pub use phash::PHash;
pub use pixels::{ImageView, PixelLayout, RgbImage, ViewError};

//! PDQ, Meta's 256-bit photo hash (spec §1): luma → Jarosz box blur → 64×64 decimation →
//! quality → 64→16 DCT → median → bits, and the 8 dihedral variants from one DCT.
//!
//! [`oracle`] is the scalar float32 reference. [`hash`] and [`hash_dihedral`] run the default
//! CPU path, which is bit-identical to it (property-tested).

mod dct_matrix;
pub mod fast;
#[cfg(target_arch = "x86_64")]
mod fused;
pub mod oracle;
pub mod recip;
mod types;

pub use types::{DIHEDRAL_NAMES, ParsePdqError, PdqDihedral, PdqHash, PdqOutput};

use crate::ImageView;

/// A 16×16 float32 DCT block: row = vertical frequency, column = horizontal frequency.
pub type Dct16 = [[f32; 16]; 16];

/// PDQ hash and quality of an image, default CPU path.
pub fn hash(view: &ImageView<'_>) -> PdqOutput {
    fast::hash(view)
}

/// The 8 dihedral hashes of an image, default CPU path.
pub fn hash_dihedral(view: &ImageView<'_>) -> PdqDihedral {
    fast::hash_dihedral_at(view, crate::simd::level())
}

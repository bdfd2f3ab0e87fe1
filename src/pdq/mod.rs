//! PDQ (256-bit photo hash), spec §1. (Scaffold.)

mod types;

pub use types::{PdqHash, PdqOutput};

use crate::ImageView;

/// Hash an image with the default CPU path.
pub fn hash(_view: &ImageView<'_>) -> PdqOutput {
    PdqOutput {
        hash: PdqHash::ZERO,
        quality: 0,
    }
}

//! CPU feature levels for the fast paths, detected once, with an environment override.
//!
//! `VIGIL_SIMD=scalar|avx2|avx512` can lower the level the hardware allows but never raise it
//! (an unknown value is ignored). Fast paths take a [`Level`] so tests can run every level
//! the machine has and compare each with the scalar oracle.

use std::sync::OnceLock;

/// `vpermd` indices that move the 48 bytes of 16 RGB pixels (a vector's low 48 bytes) so that
/// 128-bit lane `j` starts with pixels `4j..4j + 4` (bytes `12j..12j + 12`), ready for per-lane
/// byte shuffles: PDQ's luma (`pdq::fused`) and pHash's 'L' conversion (`phash::luma`).
#[cfg(target_arch = "x86_64")]
pub(crate) const RGB16_TO_LANES: [i32; 16] = [0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 10, 11, 12];

/// A SIMD level, ordered from least to most capable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Portable code (the compiler's baseline; SSE2 on x86-64).
    Scalar,
    /// AVX2 (x86-64).
    Avx2,
    /// AVX-512 F/BW/VL (x86-64).
    Avx512,
}

impl Level {
    /// The name used by `VIGIL_SIMD` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    fn from_name(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" => Some(Level::Scalar),
            "avx2" => Some(Level::Avx2),
            "avx512" => Some(Level::Avx512),
            _ => None,
        }
    }
}

/// The best level this CPU supports, ignoring any override.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx2")
        {
            return Level::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return Level::Avx2;
        }
    }
    Level::Scalar
}

/// Every level this CPU can run, lowest first (for tests and benchmarks).
pub fn available() -> Vec<Level> {
    [Level::Scalar, Level::Avx2, Level::Avx512]
        .into_iter()
        .filter(|l| *l <= detected())
        .collect()
}

/// The level in use: detected, lowered by `VIGIL_SIMD` when set. Cached after the first call.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let hw = detected();
        match std::env::var("VIGIL_SIMD")
            .ok()
            .and_then(|s| Level::from_name(&s))
        {
            Some(asked) => asked.min(hw),
            None => hw,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_never_raises() {
        assert!(level() <= detected());
        assert_eq!(available()[0], Level::Scalar);
        assert_eq!(Level::from_name("AVX2"), Some(Level::Avx2));
        assert_eq!(Level::from_name("sse9"), None);
    }
}

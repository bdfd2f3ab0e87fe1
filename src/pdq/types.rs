//! The 256-bit PDQ hash value: bit order, hex format, Hamming distance (spec §1.10).

use std::fmt;
use std::str::FromStr;

/// A 256-bit PDQ hash.
///
/// Bit `k` (0..256) is DCT coefficient `(k / 16, k % 16)`; it lives in limb `k / 64` at bit
/// `k % 64`. The hex form is the 256-bit integer printed big-endian, as upstream's
/// `"%04hx"` of words 15 down to 0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PdqHash(pub [u64; 4]);

/// A PDQ hash with its quality (0..=100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdqOutput {
    /// The hash.
    pub hash: PdqHash,
    /// Image-domain gradient quality, 0..=100; below 50 a hash is never matched.
    pub quality: u8,
}

/// A hex string that is not a PDQ hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a PDQ hash is 64 hex digits")]
pub struct ParsePdqError;

impl PdqHash {
    /// All bits clear (the hash of images smaller than 5×5).
    pub const ZERO: PdqHash = PdqHash([0; 4]);

    /// Whether bit `k` is set.
    pub fn bit(&self, k: usize) -> bool {
        self.0[k >> 6] >> (k & 63) & 1 == 1
    }

    /// Set bit `k`.
    pub fn set_bit(&mut self, k: usize) {
        self.0[k >> 6] |= 1 << (k & 63);
    }

    /// Hamming distance: the number of differing bits.
    pub fn distance(&self, other: &PdqHash) -> u32 {
        self.0
            .iter()
            .zip(other.0.iter())
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }

    /// The 32-byte big-endian form (`bytes.fromhex(hex)`; byte 0 holds bits 255..248).
    pub fn to_be_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, limb) in self.0.iter().rev().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&limb.to_be_bytes());
        }
        out
    }
}

impl fmt::Display for PdqHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for limb in self.0.iter().rev() {
            write!(f, "{limb:016x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PdqHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PdqHash({self})")
    }
}

impl FromStr for PdqHash {
    type Err = ParsePdqError;

    /// Parse exactly 64 hex digits, either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParsePdqError);
        }
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().rev().enumerate() {
            *limb = u64::from_str_radix(&s[i * 16..i * 16 + 16], 16).map_err(|_| ParsePdqError)?;
        }
        Ok(PdqHash(limbs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_bit_order() {
        let mut h = PdqHash::ZERO;
        h.set_bit(0);
        h.set_bit(255);
        let s = h.to_string();
        assert_eq!(&s[..1], "8");
        assert_eq!(&s[63..], "1");
        assert_eq!(s.parse::<PdqHash>().unwrap(), h);
        assert_eq!(h.to_be_bytes()[0], 0x80);
        assert_eq!(h.to_be_bytes()[31], 0x01);
        assert_eq!(h.distance(&PdqHash::ZERO), 2);
        assert!("abc".parse::<PdqHash>().is_err());
        assert!("g".repeat(64).parse::<PdqHash>().is_err());
    }
}

/// Names of the dihedral variants, in the order of [`PdqDihedral::hashes`] (conventions.md).
pub const DIHEDRAL_NAMES: [&str; 8] = [
    "orig",
    "rot90",
    "rot180",
    "rot270",
    "flipx",
    "flipy",
    "flipplus1",
    "flipminus1",
];

/// The 8 dihedral PDQ hashes of one image, computed from one DCT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdqDihedral {
    /// Hashes in [`DIHEDRAL_NAMES`] order: `orig` (the plain hash), `rot90` (90° counter-
    /// clockwise), `rot180`, `rot270`, `flipx` (top/bottom), `flipy` (left/right),
    /// `flipplus1` (transpose), `flipminus1` (anti-transpose).
    pub hashes: [PdqHash; 8],
    /// Quality (the same for every variant).
    pub quality: u8,
}

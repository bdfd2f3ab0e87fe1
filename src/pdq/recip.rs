//! Division by a box filter's sample count without a divide instruction, bit-identical to `/`.
//!
//! The box passes divide every running sum by its count (`sum / cnt`, spec §1.4), two divisions
//! per pixel. A vector divide is the slowest float instruction (about 8 cycles per 8 lanes on
//! the CPUs measured), so the fast path replaces it with a reciprocal split in two floats:
//!
//! ```text
//! y  = RN(1 / b)              once per count
//! yl = RN(1 / b − y)          once per count (in f64, where 1/b − y is exact)
//! q  = RN(a · y + RN(a · yl)) one multiply, one FMA
//! ```
//!
//! `q` equals `RN(a / b)` for the counts this module accepts. No theorem promises that for
//! every count (Markstein's correction, `q0 = RN(a·y)`, `q = RN(q0 + (a − b·q0)·y)`, has one,
//! but takes three operations and a longer latency chain, with two divisions a pixel), so it
//! rests on checks:
//!
//! - The test `every_count_is_exact_for_every_significand` checks every count `1..=MAX_COUNT`
//!   against a real division for every float32 significand `a ∈ [1, 2)` (2²³ cases a count,
//!   in every CI run). Each step is one IEEE 754 operation (multiply, FMA, divide), whose
//!   result the standard fixes bit for bit, so what holds on the CI machine holds on every
//!   conforming CPU with FMA.
//! - At run time, the first use of a count in a process re-checks a spread of 2¹² of those
//!   significands on this CPU (`SPOT_STRIDE`: a few microseconds) and remembers the answer, a
//!   guard against a CPU or emulator whose FMA or divide is not IEEE's. A count that fails, or
//!   is above [`MAX_COUNT`], keeps the divide instruction.
//!
//! Why the significands suffice: for `a = m · 2^e`, every step above scales by `2^e` exactly
//! as long as no intermediate leaves the normal range, so `q(a) = q(m) · 2^e` and
//! `RN(a / b) = RN(m / b) · 2^e`. With `b ≤ 4096` and `2^-64 ≤ |a| ≤ 2^64` every intermediate
//! is far inside the normal range: `|yl|` is 0 (`b` a power of two) or at least 2⁻⁴⁷ for every
//! count up to 4096 (the test `split_reciprocal_is_normal` checks it), so `|a · yl| ≥ 2⁻¹¹¹`,
//! and `|a · y| ≤ 2⁶⁴`. [`Recip::div`] takes the divide instruction for any other `a` (zero is
//! exact either way: every step gives +0), and the sign is symmetric.

use std::sync::atomic::{AtomicU8, Ordering};

/// Largest count the reciprocal path is verified for; larger windows (images over about
/// 1,000,000 pixels on a side) divide.
pub const MAX_COUNT: usize = 4096;

const TINY: f32 = 1.0 / (1u64 << 63) as f32 / 2.0; // 2^-64
const HUGE: f32 = (1u64 << 63) as f32 * 2.0; // 2^64

const UNKNOWN: u8 = 0;
const EXACT: u8 = 1;
const INEXACT: u8 = 2;

static VERIFIED: [AtomicU8; MAX_COUNT + 1] = [const { AtomicU8::new(UNKNOWN) }; MAX_COUNT + 1];

/// Division by one count, `a / b` bit for bit.
#[derive(Clone, Copy, Debug)]
pub struct Recip {
    b: f32,
    y: f32,
    yl: f32,
    fast: bool,
}

impl Recip {
    /// Division by `count`; `fma` says whether the caller runs with a hardware FMA (without
    /// one, `mul_add` is a library call and the divide instruction is faster).
    pub fn new(count: usize, fma: bool) -> Recip {
        let b = count as f32;
        let (y, yl) = split_reciprocal(b);
        Recip {
            b,
            y,
            yl,
            fast: fma && verified(count),
        }
    }

    /// Whether this count takes the reciprocal path.
    pub fn is_fast(&self) -> bool {
        self.fast
    }

    /// `a / b` for one value. Inlined into vector loops by the caller.
    #[inline(always)]
    pub fn div(&self, a: f32) -> f32 {
        if self.fast && in_range(a) {
            two_part(a, self.y, self.yl)
        } else {
            a / self.b
        }
    }

    /// `dst[i] = src[i] / b` for every `i`, one value at a time (the portable path; the
    /// vector path is [`Recip::div_slice_avx`]).
    #[inline(always)]
    pub fn div_slice(&self, dst: &mut [f32], src: &[f32]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = self.div(s);
        }
    }

    /// [`Recip::div_slice`] eight lanes at a time. The reciprocal path runs over the whole
    /// slice while the smallest nonzero and the largest magnitude are tracked; if any value
    /// was outside the verified range, the whole slice is divided again with the divide
    /// instruction. That never happens for the box passes' values (the check costs two
    /// integer ops per vector): luma values are 0 or at least 0.114, all multiples of 2⁻²⁷,
    /// so the first pass's sums are 0 or at least 2⁻²⁷ and its quotients (counts ≤ 4096) 0 or
    /// at least 2⁻³⁹, multiples of 2⁻⁶²; the second pass's sums of those are 0 or at least
    /// 2⁻⁶².
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn div_slice_avx(&self, dst: &mut [f32], src: &[f32]) {
        use std::arch::x86_64::*;
        if !self.fast {
            return self.div_slice(dst, src);
        }
        let n = dst.len().min(src.len());
        let (d8, d_tail) = dst[..n].as_chunks_mut::<8>();
        let (s8, s_tail) = src[..n].as_chunks::<8>();
        let y = _mm256_set1_ps(self.y);
        let yl = _mm256_set1_ps(self.yl);
        let abs = _mm256_set1_epi32(0x7FFF_FFFF);
        let one = _mm256_set1_epi32(1);
        // Smallest (|a| bits − 1), unsigned, so zero wraps to the top and is ignored; largest
        // |a| bits (NaN above infinity, so caught too).
        let mut lo = _mm256_set1_epi32(-1);
        let mut hi = _mm256_setzero_si256();
        for (d, s) in d8.iter_mut().zip(s8) {
            // SAFETY: `s` and `d` are 8-float arrays; loads and stores are unaligned.
            unsafe {
                let a = _mm256_loadu_ps(s.as_ptr());
                let m = _mm256_and_si256(_mm256_castps_si256(a), abs);
                lo = _mm256_min_epu32(lo, _mm256_sub_epi32(m, one));
                hi = _mm256_max_epi32(hi, m);
                let q = _mm256_fmadd_ps(a, y, _mm256_mul_ps(a, yl));
                _mm256_storeu_ps(d.as_mut_ptr(), q);
            }
        }
        let mut lanes_lo = [0u32; 8];
        let mut lanes_hi = [0u32; 8];
        // SAFETY: 8-lane stores into 8-element arrays.
        unsafe {
            _mm256_storeu_si256(lanes_lo.as_mut_ptr().cast(), lo);
            _mm256_storeu_si256(lanes_hi.as_mut_ptr().cast(), hi);
        }
        let in_range = lanes_lo.iter().all(|&l| l >= TINY.to_bits() - 1)
            && lanes_hi.iter().all(|&h| h <= HUGE.to_bits());
        if in_range {
            for (d, &s) in d_tail.iter_mut().zip(s_tail) {
                *d = self.div(s);
            }
        } else {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = s / self.b;
            }
        }
    }

    /// `a / b` in 16 lanes, for lanes the caller knows to be 0 or of magnitude in
    /// [2⁻⁶⁴, 2⁶⁴] (the reciprocal path's verified range; the fused box passes prove it for
    /// their values). Counts without the fast path use the divide instruction.
    ///
    /// # Safety
    /// A caller whose own target features lack AVX-512 F must know the CPU has it.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn div16(&self, a: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        let b = _mm512_set1_ps(self.b);
        if !self.fast {
            return _mm512_div_ps(a, b);
        }
        let y = _mm512_set1_ps(self.y);
        let yl = _mm512_set1_ps(self.yl);
        _mm512_fmadd_ps(a, y, _mm512_mul_ps(a, yl))
    }
}

#[inline(always)]
fn in_range(a: f32) -> bool {
    let m = a.abs();
    (TINY..=HUGE).contains(&m) | (a == 0.0)
}

/// `y = RN(1/b)` and `yl = RN(1/b − y)`: `1/b` in f64 is within half an f64 ulp of the true
/// value, and `1/b − y` is exact there (Sterbenz: the two are within a factor of 2).
fn split_reciprocal(b: f32) -> (f32, f32) {
    let y = 1.0 / b;
    (y, (1.0 / f64::from(b) - f64::from(y)) as f32)
}

#[inline(always)]
fn two_part(a: f32, y: f32, yl: f32) -> f32 {
    a.mul_add(y, a * yl)
}

/// The run-time check's spacing between significands: 2²³ / 2¹¹ = 2¹² of them a count.
const SPOT_STRIDE: u32 = 1 << 11;

/// Whether the reciprocal path is exact for `count`: every count up to [`MAX_COUNT`] is, by
/// the exhaustive test; a spot check on this CPU, once per process, confirms it.
fn verified(count: usize) -> bool {
    let Some(slot) = VERIFIED.get(count) else {
        return false;
    };
    match slot.load(Ordering::Relaxed) {
        EXACT => true,
        INEXACT => false,
        _ => {
            // Two threads may both check the same count; they reach the same answer.
            let b = count as f32;
            let (y, yl) = split_reciprocal(b);
            let ok = count >= 1 && check_significands(b, y, yl, SPOT_STRIDE);
            slot.store(if ok { EXACT } else { INEXACT }, Ordering::Relaxed);
            ok
        }
    }
}

/// Every `stride`-th significand `a ∈ [1, 2)` from 0, and the largest: the reciprocal path
/// with reciprocal `y + yl` equals `a / b` bit for bit. `stride` is a power of two; 1 checks
/// all 2²³.
fn check_significands(b: f32, y: f32, yl: f32, stride: u32) -> bool {
    let one = 1.0f32.to_bits();
    let last = f32::from_bits(one | ((1 << 23) - 1));
    if (last / b).to_bits() != two_part(last, y, yl).to_bits() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: both target features were just detected.
        return unsafe { check_avx2(b, y, yl, stride) };
    }
    (0..1u32 << 23).step_by(stride as usize).all(|m| {
        let a = f32::from_bits(one | m);
        (a / b).to_bits() == two_part(a, y, yl).to_bits()
    })
}

/// [`check_significands`] eight at a time, with intrinsics so it stays vectorised in the
/// test profile too (the exhaustive test runs it 2²³ times a count).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn check_avx2(b: f32, y: f32, yl: f32, stride: u32) -> bool {
    use std::arch::x86_64::*;
    debug_assert!(stride.is_power_of_two() && stride <= 1 << 20);
    let bv = _mm256_set1_ps(b);
    let y = _mm256_set1_ps(y);
    let yl = _mm256_set1_ps(yl);
    let s = stride as i32;
    let mut bits = _mm256_add_epi32(
        _mm256_set1_epi32(1.0f32.to_bits() as i32),
        _mm256_mullo_epi32(
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            _mm256_set1_epi32(s),
        ),
    );
    let step = _mm256_set1_epi32(8 * s);
    let mut diff = _mm256_setzero_si256();
    for _ in 0..(1u32 << 23) / (8 * stride).min(1 << 23) {
        let a = _mm256_castsi256_ps(bits);
        let q = _mm256_fmadd_ps(a, y, _mm256_mul_ps(a, yl));
        let x = _mm256_xor_si256(
            _mm256_castps_si256(q),
            _mm256_castps_si256(_mm256_div_ps(a, bv)),
        );
        diff = _mm256_or_si256(diff, x);
        bits = _mm256_add_epi32(bits, step);
    }
    _mm256_testz_si256(diff, diff) == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_bounds_are_powers_of_two() {
        assert_eq!(TINY, 2f32.powi(-64));
        assert_eq!(HUGE, 2f32.powi(64));
    }

    /// The proof the fast path rests on (see the module docs): every count the fast path
    /// accepts, every significand. Only x86-64 takes the fast path (its callers pass `fma`
    /// only there), and only there is the check vectorised; elsewhere it would take hours in
    /// the test profile.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_count_is_exact_for_every_significand() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            // Without FMA no caller takes the fast path, so there is nothing to prove here.
            eprintln!("skipped: this CPU lacks AVX2 or FMA, so the reciprocal path is unused");
            return;
        }
        let failed: Vec<usize> = (1..=MAX_COUNT)
            .filter(|&b| {
                let (y, yl) = split_reciprocal(b as f32);
                !check_significands(b as f32, y, yl, 1)
            })
            .collect();
        assert!(failed.is_empty(), "inexact counts: {failed:?}");
    }

    /// The range argument of the module docs: the low part of every count's reciprocal is
    /// zero (a power of two, whose reciprocal is exact) or at least 2⁻⁴⁷, so `a · yl` stays
    /// normal for every `|a| ≥ 2⁻⁶⁴`.
    #[test]
    fn split_reciprocal_is_normal() {
        for c in 1..=MAX_COUNT {
            let (y, yl) = split_reciprocal(c as f32);
            assert_eq!(y, 1.0 / c as f32);
            if c.is_power_of_two() {
                assert_eq!(yl, 0.0, "{c}");
            } else {
                assert!(yl.abs() >= 2f32.powi(-47), "{c}: {yl:e}");
            }
        }
    }

    /// The check (vector and scalar) catches a reciprocal that is off, exhaustively and
    /// spot-checking.
    #[test]
    fn the_check_catches_a_wrong_reciprocal() {
        for b in [3.0f32, 7.0, 11.0, 4095.0] {
            let (y, yl) = split_reciprocal(b);
            let wrong = y * (1.0 + 1.0 / 1024.0);
            assert!(check_significands(b, y, yl, 1));
            assert!(check_significands(b, y, yl, SPOT_STRIDE));
            assert!(!check_significands(b, wrong, yl, 1), "{b}");
            assert!(!check_significands(b, wrong, yl, SPOT_STRIDE), "{b}");
            // Without its low part the reciprocal gives only `RN(a · y)`, wrong for some `a`.
            assert!(!check_significands(b, y, 0.0, 1), "{b}");
            let one = 1.0f32.to_bits();
            let scalar = (0..1u32 << 23).step_by(SPOT_STRIDE as usize).all(|m| {
                let a = f32::from_bits(one | m);
                (a / b).to_bits() == two_part(a, wrong, yl).to_bits()
            });
            assert!(!scalar, "{b}");
        }
    }

    #[test]
    fn small_counts_are_exact_and_take_the_fast_path() {
        for b in 1..=40 {
            let r = Recip::new(b, true);
            assert!(r.is_fast(), "count {b} failed its check");
        }
    }

    #[test]
    fn without_fma_it_divides() {
        assert!(!Recip::new(7, false).is_fast());
        assert!(!Recip::new(MAX_COUNT + 1, true).is_fast());
    }
}

//! Hamming-distance kernels for the flat scan: one tile of codes against a block of queries.
//!
//! Three levels, detected at run time ([`Kernel::best`]): `scalar` (portable `count_ones`, the
//! oracle's arithmetic), `avx2` (the same loop compiled for AVX2 + the POPCNT instruction,
//! which LLVM may also vectorise) and `avx512` (AVX-512 VPOPCNTDQ intrinsics: 8 codes per
//! load, up to [`QUERY_BLOCK`] queries held in registers). `VIGIL_SIMD` lowers the level the
//! way it does for hashing (`simd::level`). Every level calls the same [`Sink`] with the same
//! (entry, distance) pairs in the same order, so results cannot depend on the level; the
//! property tests in `tests/index_search.rs` check that at every available level.

/// Queries held in registers at once by the SIMD kernels.
pub const QUERY_BLOCK: usize = 8;

/// A popcount kernel level, ordered from least to most capable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kernel {
    /// Portable `u64::count_ones` (no target features): the reference.
    Scalar,
    /// AVX2 with the POPCNT instruction (x86-64).
    Avx2,
    /// AVX-512 F + VPOPCNTDQ (x86-64).
    Avx512,
}

impl Kernel {
    /// The name shown in reports (`scalar`, `avx2`, `avx512`).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
        }
    }

    /// The best level this CPU supports, ignoring `VIGIL_SIMD`.
    pub fn detected() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
            {
                return Kernel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("popcnt")
            {
                return Kernel::Avx2;
            }
        }
        Kernel::Scalar
    }

    /// Every level this CPU can run, lowest first (tests and benchmarks).
    pub fn available() -> Vec<Kernel> {
        [Kernel::Scalar, Kernel::Avx2, Kernel::Avx512]
            .into_iter()
            .filter(|k| *k <= Kernel::detected())
            .collect()
    }

    /// The level in use: detected, lowered by `VIGIL_SIMD` (`scalar`, `avx2`, `avx512`).
    pub fn best() -> Kernel {
        let cap = match crate::simd::level() {
            crate::simd::Level::Scalar => Kernel::Scalar,
            crate::simd::Level::Avx2 => Kernel::Avx2,
            crate::simd::Level::Avx512 => Kernel::Avx512,
        };
        Kernel::detected().min(cap)
    }
}

/// Receives the codes within a query's current threshold.
///
/// A range search keeps its threshold at the radius; a k-nearest search lowers it as its
/// k best fill up. The kernels re-read the threshold after every offer.
pub trait Sink {
    /// The largest distance still wanted (`-1` would mean none; use 0 and filter instead).
    fn threshold(&self) -> u32;
    /// Code `entry` (the tile's base plus its position) is at `dist <= threshold()`.
    fn offer(&mut self, entry: u32, dist: u32);
}

/// Hamming distance between two codes of `W` words.
#[inline(always)]
pub fn distance<const W: usize>(a: &[u64; W], b: &[u64; W]) -> u32 {
    let mut d = 0;
    for i in 0..W {
        d += (a[i] ^ b[i]).count_ones();
    }
    d
}

/// Scan `codes` (entries `base..base + codes.len()`) against `queries`, calling `sinks[j]` for
/// query `j`. `queries.len() == sinks.len()`.
pub fn scan_tile<const W: usize, S: Sink>(
    kernel: Kernel,
    queries: &[[u64; W]],
    codes: &[[u64; W]],
    base: u32,
    sinks: &mut [S],
) {
    assert_eq!(queries.len(), sinks.len(), "one sink per query");
    assert!(
        kernel <= Kernel::detected(),
        "kernel {kernel:?} not supported by this CPU"
    );
    match kernel {
        Kernel::Scalar => tile_portable(queries, codes, base, sinks),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            // SAFETY: `kernel <= Kernel::detected()` was asserted above, and `detected` returns
            // Avx2 or higher only when AVX2 and POPCNT are present.
            unsafe { x86::tile_avx2(queries, codes, base, sinks) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => {
            let (qf, cf) = (queries.as_flattened(), codes.as_flattened());
            match W {
                // SAFETY: `kernel <= Kernel::detected()` was asserted above, and `detected`
                // returns Avx512 only when AVX-512 F and VPOPCNTDQ are present.
                4 => unsafe { x86::tile_avx512_w4(qf, cf, base, sinks) },
                // SAFETY: as for the arm above.
                1 => unsafe { x86::tile_avx512_w1(qf, cf, base, sinks) },
                // SAFETY: as above (AVX2 and POPCNT are implied by the AVX-512 check).
                _ => unsafe { x86::tile_avx2(queries, codes, base, sinks) },
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => tile_portable(queries, codes, base, sinks),
    }
}

/// The portable loop: for each block of queries, every code against every query in the block.
#[inline(always)]
fn tile_portable<const W: usize, S: Sink>(
    queries: &[[u64; W]],
    codes: &[[u64; W]],
    base: u32,
    sinks: &mut [S],
) {
    for (qb, sb) in queries
        .chunks(QUERY_BLOCK)
        .zip(sinks.chunks_mut(QUERY_BLOCK))
    {
        let mut thr = [0u32; QUERY_BLOCK];
        for (t, s) in thr.iter_mut().zip(sb.iter()) {
            *t = s.threshold();
        }
        for (i, c) in codes.iter().enumerate() {
            for (j, q) in qb.iter().enumerate() {
                let d = distance(q, c);
                if d <= thr[j] {
                    sb[j].offer(base + i as u32, d);
                    thr[j] = sb[j].threshold();
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{QUERY_BLOCK, Sink, tile_portable};
    use std::arch::x86_64::*;

    /// The portable loop compiled with AVX2 and POPCNT enabled.
    #[target_feature(enable = "avx2,popcnt")]
    pub(super) unsafe fn tile_avx2<const W: usize, S: Sink>(
        queries: &[[u64; W]],
        codes: &[[u64; W]],
        base: u32,
        sinks: &mut [S],
    ) {
        tile_portable(queries, codes, base, sinks)
    }

    /// Offer the lanes of `d` selected by `mask` in lane order, re-checking the threshold
    /// before each (a k-nearest sink may have lowered it). Returns the new threshold.
    #[inline(never)]
    #[cold]
    fn offer_lanes<S: Sink>(sink: &mut S, d: &[u64; 8], mask: u8, first: u32) -> u32 {
        for (lane, &dl) in d.iter().enumerate() {
            if mask >> lane & 1 == 1 {
                let dist = dl as u32;
                if dist <= sink.threshold() {
                    sink.offer(first + lane as u32, dist);
                }
            }
        }
        sink.threshold()
    }

    /// 256-bit codes: 4 loads bring 8 codes (2 per register, row-major); 4 unpacks and 4
    /// permutes transpose them into one register per limb (lane k = code k), once per 8
    /// codes for the whole query block. Each query then costs 4 xor (against its broadcast
    /// limbs), 4 popcounts, 3 adds and a compare per 8 codes.
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    pub(super) unsafe fn tile_avx512_w4<S: Sink>(
        queries: &[u64],
        codes: &[u64],
        base: u32,
        sinks: &mut [S],
    ) {
        let n = codes.len() / 4;
        let main = n / 8 * 8;
        let idx_a = _mm512_setr_epi64(0, 4, 1, 5, 8, 12, 9, 13);
        let idx_b = _mm512_setr_epi64(2, 6, 3, 7, 10, 14, 11, 15);
        for (qb, sb) in queries
            .chunks(4 * QUERY_BLOCK)
            .zip(sinks.chunks_mut(QUERY_BLOCK))
        {
            let nq = sb.len();
            let mut ql = [[0u64; 4]; QUERY_BLOCK];
            // Signed compare: an unused slot's threshold -1 never matches.
            let mut thr = [_mm512_set1_epi64(-1); QUERY_BLOCK];
            for j in 0..nq {
                ql[j].copy_from_slice(&qb[4 * j..4 * j + 4]);
                thr[j] = _mm512_set1_epi64(i64::from(sb[j].threshold()));
            }
            let mut i = 0;
            while i < main {
                // SAFETY: i + 8 <= n, so the 32 words i*4 .. i*4 + 32 are inside `codes`;
                // loadu has no alignment requirement.
                let (c0, c1, c2, c3) = unsafe {
                    let p = codes.as_ptr().add(i * 4);
                    (
                        _mm512_loadu_si512(p.cast()),
                        _mm512_loadu_si512(p.add(8).cast()),
                        _mm512_loadu_si512(p.add(16).cast()),
                        _mm512_loadu_si512(p.add(24).cast()),
                    )
                };
                // c0 = [a0 a1 a2 a3 b0 b1 b2 b3] … → t0 = [a0 c0 a2 c2 b0 d0 b2 d2] …
                let t0 = _mm512_unpacklo_epi64(c0, c1);
                let t1 = _mm512_unpackhi_epi64(c0, c1);
                let t2 = _mm512_unpacklo_epi64(c2, c3);
                let t3 = _mm512_unpackhi_epi64(c2, c3);
                // l_k = limb k of codes i .. i + 8, in entry order.
                let l0 = _mm512_permutex2var_epi64(t0, idx_a, t2);
                let l2 = _mm512_permutex2var_epi64(t0, idx_b, t2);
                let l1 = _mm512_permutex2var_epi64(t1, idx_a, t3);
                let l3 = _mm512_permutex2var_epi64(t1, idx_b, t3);
                for j in 0..QUERY_BLOCK {
                    let q = &ql[j];
                    let p0 =
                        _mm512_popcnt_epi64(_mm512_xor_si512(l0, _mm512_set1_epi64(q[0] as i64)));
                    let p1 =
                        _mm512_popcnt_epi64(_mm512_xor_si512(l1, _mm512_set1_epi64(q[1] as i64)));
                    let p2 =
                        _mm512_popcnt_epi64(_mm512_xor_si512(l2, _mm512_set1_epi64(q[2] as i64)));
                    let p3 =
                        _mm512_popcnt_epi64(_mm512_xor_si512(l3, _mm512_set1_epi64(q[3] as i64)));
                    let d = _mm512_add_epi64(_mm512_add_epi64(p0, p1), _mm512_add_epi64(p2, p3));
                    let m = _mm512_cmple_epi64_mask(d, thr[j]);
                    if m != 0 {
                        let mut lanes = [0u64; 8];
                        // SAFETY: `lanes` is 64 bytes; storeu has no alignment requirement.
                        unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), d) };
                        let t = offer_lanes(&mut sb[j], &lanes, m, base + i as u32);
                        thr[j] = _mm512_set1_epi64(i64::from(t));
                    }
                }
                i += 8;
            }
            if main < n {
                let rest: Vec<[u64; 4]> = codes[main * 4..]
                    .chunks_exact(4)
                    .map(|c| [c[0], c[1], c[2], c[3]])
                    .collect();
                tile_portable(&ql[..nq], &rest, base + main as u32, sb);
            }
        }
    }

    /// 64-bit codes: 8 codes per load, one popcount per query gives 8 distances.
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    pub(super) unsafe fn tile_avx512_w1<S: Sink>(
        queries: &[u64],
        codes: &[u64],
        base: u32,
        sinks: &mut [S],
    ) {
        let n = codes.len();
        let main = n / 8 * 8;
        for (qb, sb) in queries
            .chunks(QUERY_BLOCK)
            .zip(sinks.chunks_mut(QUERY_BLOCK))
        {
            let nq = sb.len();
            let mut qv = [_mm512_setzero_si512(); QUERY_BLOCK];
            let mut thr = [_mm512_set1_epi64(-1); QUERY_BLOCK];
            for j in 0..nq {
                qv[j] = _mm512_set1_epi64(qb[j] as i64);
                thr[j] = _mm512_set1_epi64(i64::from(sb[j].threshold()));
            }
            let mut i = 0;
            while i < main {
                // SAFETY: i + 8 <= n, so words i .. i + 8 are inside `codes`.
                let c = unsafe { _mm512_loadu_si512(codes.as_ptr().add(i).cast()) };
                for j in 0..QUERY_BLOCK {
                    let d = _mm512_popcnt_epi64(_mm512_xor_si512(c, qv[j]));
                    let m = _mm512_cmple_epi64_mask(d, thr[j]);
                    if m != 0 {
                        let mut lanes = [0u64; 8];
                        // SAFETY: `lanes` is 64 bytes; storeu has no alignment requirement.
                        unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), d) };
                        let t = offer_lanes(&mut sb[j], &lanes, m, base + i as u32);
                        thr[j] = _mm512_set1_epi64(i64::from(t));
                    }
                }
                i += 8;
            }
            if main < n {
                let rest: Vec<[u64; 1]> = codes[main..].iter().map(|&c| [c]).collect();
                let qs: Vec<[u64; 1]> = qb.iter().map(|&q| [q]).collect();
                tile_portable(&qs, &rest, base + main as u32, sb);
            }
        }
    }
}
